"""The disk cache: a second process reuses compiled code; damaged entries are rebuilt; fallbacks warn."""
import json
import os
import subprocess
import sys
import textwrap

import numpy as np
import pytest

import graphc
from graphc.codegen import cache
from graphc.codegen.compile import GraphcCacheWarning

SCRIPT = textwrap.dedent("""
    import json, sys, warnings
    import numpy as np
    import graphc
    from graphc.codegen.compile import STATS
    f = lambda x, y: (x + graphc.sigmoid(y)) / (graphc.sigmoid(x) + (x + y) ** 2)
    with warnings.catch_warnings(record=True) as caught:
        warnings.simplefilter("always")
        value, (dx, dy) = graphc.value_and_grad(f, argnums=(0, 1))(3.0, -4.0)
    print(json.dumps({"stats": STATS, "value": value, "dx": dx, "warnings": [str(w.message) for w in caught]}))
""")


def run_process(cache_dir):
    env = dict(os.environ, GRAPHC_CACHE_DIR=str(cache_dir))
    done = subprocess.run([sys.executable, "-c", SCRIPT], env=env, capture_output=True, text=True, timeout=300)
    assert done.returncode == 0, done.stderr
    return json.loads(done.stdout.strip().splitlines()[-1])


def module_files(cache_dir):
    return sorted(p for p in cache_dir.glob("graphc_*.py"))


def test_second_process_loads_compiled_code_from_disk(tmp_path):
    first = run_process(tmp_path)
    assert first["stats"]["compiled"] == 1 and first["stats"]["disk_hits"] == 0
    second = run_process(tmp_path)
    assert second["stats"] == {"compiled": 0, "disk_hits": 1, "in_memory": 0}
    assert second["value"] == first["value"] and second["dx"] == first["dx"]


@pytest.mark.parametrize("damage", ["truncate", "garbage", "numba_index"])
def test_damaged_entry_is_rebuilt(tmp_path, damage):
    first = run_process(tmp_path)
    (module,) = module_files(tmp_path)
    if damage == "truncate":
        module.write_text(module.read_text()[:200])
    elif damage == "garbage":
        module.write_bytes(os.urandom(300))
    else:
        for index in tmp_path.glob("__pycache__/*.nbi"):
            index.write_bytes(b"not a pickle")
    again = run_process(tmp_path)
    assert again["value"] == first["value"] and again["dx"] == first["dx"]
    assert cache.read_valid(str(module)) is not None  # the module file is whole again


def test_unwritable_cache_folder_falls_back_to_memory_with_one_warning(tmp_path):
    blocker = tmp_path / "file"
    blocker.write_text("a file where the cache folder should be")
    result = run_process(blocker / "cache")
    assert result["stats"]["in_memory"] == 1
    assert len(result["warnings"]) == 1 and "GRAPHC_CACHE_DIR" in result["warnings"][0]
    assert result["value"] == pytest.approx(1.5456448841066441, rel=1e-15)


def test_cache_key_changes_with_graph_constants_and_signature():
    g1 = graphc.trace(lambda x: x * 2.0, 1.0)
    g2 = graphc.trace(lambda x: x * 3.0, 1.0)
    g3 = graphc.trace(lambda x: x * 2.0, np.float32(1.0))
    keys = {cache.graph_key(g) for g in (g1, g2, g3)}
    assert len(keys) == 3
    assert cache.graph_key(graphc.trace(lambda x: x * 2.0, 5.0)) == cache.graph_key(g1)


def test_atomic_write_leaves_no_temp_files(tmp_path):
    path = tmp_path / "graphc_x.py"
    cache.write_atomic(str(path), "x = 1\n")
    cache.write_atomic(str(path), "x = 2\n")
    assert [p.name for p in tmp_path.iterdir()] == ["graphc_x.py"]
    assert cache.read_valid(str(path)) == "x = 2\n"


def test_in_process_warning_category(tmp_path, monkeypatch):
    blocker = tmp_path / "f"
    blocker.write_text("")
    monkeypatch.setenv("GRAPHC_CACHE_DIR", str(blocker / "sub"))
    with pytest.warns(GraphcCacheWarning):
        assert graphc.jit(lambda x: x * 41.5)(2.0) == 83.0
