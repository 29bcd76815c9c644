"""The disk cache: a second process reuses compiled code; damaged entries are rebuilt; fallbacks warn."""
import json
import os
import subprocess
import sys
import textwrap
import warnings
import zlib

import numpy as np
import pytest

import graphc
from graphc.codegen import cache
from graphc.codegen.compile import STATS, GraphcCacheWarning

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
    assert second["stats"] == {"compiled": 0, "disk_hits": 1, "in_memory": 0, "reused": 0}
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


# ---- trust: Numba's cache index is a pickle, so a folder others can write is not loaded from ----------

def _fresh_function(tmp_path):
    """A jitted function whose kernel no earlier test loaded in this process (its constant is new), so
    compiling it goes through the cache folder; and the answer it must give for 2.0."""
    constant = 1.0 + zlib.crc32(str(tmp_path).encode()) / 2**32
    return graphc.jit(lambda x: x * constant + 0.5), 2.0 * constant + 0.5


def _mode(path):
    return os.stat(path).st_mode & 0o777


def test_world_writable_cache_folder_warns_once_and_compiles_in_memory(tmp_path, monkeypatch):
    folder = tmp_path / "cache"
    folder.mkdir()
    folder.chmod(0o777)
    monkeypatch.setenv("GRAPHC_CACHE_DIR", str(folder))
    before = STATS["in_memory"]
    with pytest.warns(GraphcCacheWarning) as caught:
        for sub in ("a", "b"):  # two kernels, one warning for the folder
            f, expected = _fresh_function(tmp_path / sub)
            assert f(2.0) == expected
    assert len(caught) == 1
    message = str(caught[0].message)
    assert f"{str(folder)!r} is writable by others" in message
    assert "chmod go-w" in message and "GRAPHC_CACHE_DIR" in message
    assert STATS["in_memory"] - before == 2
    assert list(folder.iterdir()) == []  # nothing written into a folder others can write


def test_group_writable_pycache_in_private_folder_warns(tmp_path, monkeypatch):
    folder = tmp_path / "cache"
    (folder / "__pycache__").mkdir(parents=True)
    folder.chmod(0o700)
    (folder / "__pycache__").chmod(0o770)
    monkeypatch.setenv("GRAPHC_CACHE_DIR", str(folder))
    before = STATS["in_memory"]
    f, expected = _fresh_function(tmp_path)
    with pytest.warns(GraphcCacheWarning, match="writable by its group") as caught:
        assert f(2.0) == expected
    assert f"{str(folder / '__pycache__')!r} is writable by its group" in str(caught[0].message)
    assert STATS["in_memory"] - before == 1


def test_folder_owned_by_another_user_warns(tmp_path, monkeypatch):
    folder = tmp_path / "cache"
    folder.mkdir(mode=0o700)
    owner = os.stat(folder).st_uid
    monkeypatch.setattr(os, "geteuid", lambda: owner + 1234)  # as if another user ran this process
    monkeypatch.setenv("GRAPHC_CACHE_DIR", str(folder))
    before = STATS["in_memory"]
    f, expected = _fresh_function(tmp_path)
    with pytest.warns(GraphcCacheWarning) as caught:
        assert f(2.0) == expected
    assert f"{str(folder)!r} is owned by uid {owner}, not by this user (uid {owner + 1234})" in str(caught[0].message)
    assert STATS["in_memory"] - before == 1


def test_private_folder_does_not_warn_and_is_used(tmp_path, monkeypatch):
    folder = tmp_path / "cache"
    folder.mkdir(mode=0o700)
    monkeypatch.setenv("GRAPHC_CACHE_DIR", str(folder))
    before = STATS["in_memory"]
    f, expected = _fresh_function(tmp_path)
    with warnings.catch_warnings():
        warnings.simplefilter("error", GraphcCacheWarning)
        assert f(2.0) == expected
    assert STATS["in_memory"] == before
    assert len(module_files(folder)) == 1


def test_fresh_cache_folders_are_created_private_despite_a_loose_umask(tmp_path, monkeypatch):
    folder = tmp_path / "new" / "cache"
    monkeypatch.setenv("GRAPHC_CACHE_DIR", str(folder))
    f, expected = _fresh_function(tmp_path)
    old = os.umask(0o002)  # a common default: Numba alone would make __pycache__ group-writable
    try:
        with warnings.catch_warnings():
            warnings.simplefilter("error", GraphcCacheWarning)
            assert f(2.0) == expected
    finally:
        os.umask(old)
    assert _mode(folder) == 0o700 and _mode(folder / "__pycache__") == 0o700
    assert list((folder / "__pycache__").glob("*.nbi"))  # Numba's files went into the private folder
    assert cache.untrusted_reason(str(folder)) is None


def test_untrusted_reason_edge_cases(tmp_path, monkeypatch):
    assert cache.untrusted_reason(str(tmp_path / "missing")) is None  # graphc will create it
    blocker = tmp_path / "file"
    blocker.write_text("")
    with pytest.raises(NotADirectoryError):  # _load turns this into the cannot-use warning
        cache.untrusted_reason(str(blocker / "cache"))
    tmp_path.chmod(0o777)
    assert cache.untrusted_reason(str(tmp_path)) is not None
    monkeypatch.delattr(os, "geteuid")  # Windows: no owners or mode bits to check
    assert cache.untrusted_reason(str(tmp_path)) is None
