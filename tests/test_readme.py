"""The README stays true: its operations table is the registry's, its two set-up commands are there."""
import pathlib
import re

from graphc.ops import operations_table

README = pathlib.Path(__file__).resolve().parents[1] / "README.md"


def test_operations_table_matches_the_registry():
    text = README.read_text()
    table = re.search(r"<!-- operations-table:start -->\n(.*)\n<!-- operations-table:end -->", text, re.S)
    assert table is not None
    assert table.group(1).strip() == operations_table().strip(), "regenerate the README table"


def test_readme_has_exactly_the_two_setup_commands():
    blocks = re.findall(r"```\n(pip install[^\n]*)\n```", README.read_text())
    assert blocks == ['pip install -e . && graphc demo', 'pip install -e ".[test]" && python -m pytest -q -n auto']
