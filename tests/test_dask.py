"""graphc.dask on a real LocalCluster: two worker processes, real scheduler, real pickling.

Client and workers share a fresh disk cache folder (GRAPHC_CACHE_DIR, for the workers through the
cluster's env), as processes on one machine do: the workers load what the client compiled. One test
points the client elsewhere, so the workers must compile from the pickled graph themselves.
"""
from __future__ import annotations

import glob
import os
import sys

import dask.array as da
import numpy as np
import pytest
from distributed import Client, LocalCluster

import graphc
import graphc.dask

EXAMPLES = os.path.join(os.path.dirname(os.path.dirname(os.path.abspath(__file__))), "examples")


@pytest.fixture(scope="module")
def worker_cache(tmp_path_factory):
    return str(tmp_path_factory.mktemp("worker-cache"))


@pytest.fixture(scope="module")
def client(worker_cache):
    before = os.environ.get("GRAPHC_CACHE_DIR")
    os.environ["GRAPHC_CACHE_DIR"] = worker_cache
    cluster = LocalCluster(n_workers=2, processes=True, threads_per_worker=1, dashboard_address=None,
                           env={"GRAPHC_CACHE_DIR": worker_cache, "GRAPHC_VERIFY": "1"})
    with cluster, Client(cluster, set_as_default=True) as c:
        yield c
    if before is None:
        del os.environ["GRAPHC_CACHE_DIR"]
    else:
        os.environ["GRAPHC_CACHE_DIR"] = before


def logistic(w, X, y):
    z = X @ w
    return np.mean(np.logaddexp(0.0, z) - y * z)


def squares(w, b, X, y):
    return np.sum((X @ w + b - y) ** 2)


def _data(rows: int, features: int = 4, seed: int = 0):
    rng = np.random.default_rng(seed)
    X = rng.normal(size=(rows, features)) + 0.5  # a mean away from 0: no cancellation in the gradient
    y = (rng.random(rows) < 0.3).astype(np.float64)
    return rng.normal(size=features), X, y


def _blocks(X, y, rows_per_block):
    return da.from_array(X, chunks=(rows_per_block, -1)), da.from_array(y, chunks=rows_per_block)


@pytest.mark.parametrize("rows, per_block", [(400, 100), (403, 100), (100, 100), (2000, 100)],
                         ids=["even", "uneven-last-block", "one-block", "many-blocks"])
def test_mean_gradient_equals_single_process(client, rows, per_block):
    w, X, y = _data(rows)
    value, grad = graphc.dask.value_and_grad(logistic)(w, *_blocks(X, y, per_block))
    expected_value, expected_grad = graphc.value_and_grad(logistic)(w, X, y)
    np.testing.assert_allclose(value, expected_value, rtol=1e-12)
    np.testing.assert_allclose(grad, expected_grad, rtol=1e-12)
    assert grad.dtype == np.float64 and grad.shape == w.shape


def test_sum_gradient_with_two_parameters_and_an_uneven_block_equals_single_process(client):
    w, X, y = _data(250)
    per_block = 100
    vg = graphc.dask.value_and_grad(squares, argnums=(0, 1), batch_argnums=(2, 3), reduction="sum")
    value, (gw, gb) = vg(w, 0.25, *_blocks(X, y, per_block))
    expected_value, (ew, eb) = graphc.value_and_grad(squares, argnums=(0, 1))(w, 0.25, X, y)
    np.testing.assert_allclose(value, expected_value, rtol=1e-12)
    np.testing.assert_allclose(gw, ew, rtol=1e-12)
    np.testing.assert_allclose(gb, eb, rtol=1e-12)


def test_block_work_runs_on_the_workers_that_had_never_seen_the_function(client, worker_cache, tmp_path,
                                                                         monkeypatch):
    monkeypatch.setenv("GRAPHC_CACHE_DIR", str(tmp_path))  # the client's code stays off the workers' disk
    def fresh(w, X, y):  # defined here: no worker can have it from an earlier test
        return np.mean((X @ w - y) ** 2) + 0.5
    digests = client.run(lambda: sorted(graphc.dask._LOADED))
    w, X, y = _data(200, seed=3)
    vg = graphc.dask.value_and_grad(fresh)
    value, grad = vg(w, *_blocks(X, y, 50))
    expected = graphc.value_and_grad(fresh)(w, X, y)
    np.testing.assert_allclose(grad, expected[1], rtol=1e-12)
    np.testing.assert_allclose(value, expected[0], rtol=1e-12)
    digest = vg._payload[0]
    assert all(digest not in before for before in digests.values())
    after = client.run(lambda: sorted(graphc.dask._LOADED))
    assert any(digest in loaded for loaded in after.values())  # the worker unpickled and ran it
    name = os.path.basename(vg.vg.lower(w, X[:50], y[:50]).path)
    assert os.path.exists(os.path.join(worker_cache, name))  # generated and compiled there, from the graph
    assert os.getpid() not in client.run(os.getpid).values()


def _forget():
    """Drop what a worker holds in memory: unpickled functions and generated modules (and their kernels)."""
    graphc.dask._LOADED.clear()
    for name in [m for m in sys.modules if m.startswith("graphc_")]:
        del sys.modules[name]
    return len(graphc.dask._LOADED)


def test_a_damaged_disk_cache_on_the_workers_is_rebuilt(client, worker_cache):
    def damaged(w, X, y):  # its own graph, so its own cache files
        return np.mean(np.abs(X @ w - y)) * 3.0
    w, X, y = _data(200, seed=4)
    vg = graphc.dask.value_and_grad(damaged)
    expected = graphc.value_and_grad(damaged)(w, X, y)
    vg(w, *_blocks(X, y, 50))
    key = vg.vg.lower(w, X[:50], y[:50]).path  # the same file name on the workers: same graph, same key
    module = os.path.join(worker_cache, os.path.basename(key))
    numba_files = glob.glob(os.path.join(worker_cache, "__pycache__", os.path.basename(key)[:-3] + "*"))
    assert os.path.exists(module) and numba_files
    for path in [module] + numba_files:
        with open(path, "r+b") as f:
            f.seek(max(os.path.getsize(path) // 2, 0))
            f.write(b"\x00garbage\xff" * 8)
    client.run(_forget)  # as in a new worker process: nothing in memory, only the damaged files on disk
    # One block, so one worker meets the damage. (Two at once can race in codegen/compile.py: the one
    # that finds the damaged Numba index already dropped by the other re-raises; reported, not fixed here.)
    value, grad = vg(w, *_blocks(X[:50], y[:50], 50))
    expected = graphc.value_and_grad(damaged)(w, X[:50], y[:50])
    np.testing.assert_allclose(grad, expected[1], rtol=1e-12)
    np.testing.assert_allclose(value, expected[0], rtol=1e-12)
    from graphc.codegen.cache import read_valid
    assert read_valid(module) is not None  # rewritten whole


def test_loss_that_is_not_a_mean_over_rows_is_refused(client):
    w, X, y = _data(100)
    with pytest.raises(graphc.dask.ReductionError, match="not a mean over the rows"):
        graphc.dask.value_and_grad(lambda w, X, y: np.mean(X @ w - y) ** 2)(w, *_blocks(X, y, 50))
    with pytest.raises(graphc.dask.ReductionError, match="not a sum over the rows"):
        graphc.dask.value_and_grad(lambda w, X, y: np.max(X @ w - y), reduction="sum")(w, *_blocks(X, y, 50))


def test_declared_reduction_that_does_not_match_names_the_right_one(client):
    w, X, y = _data(100)
    with pytest.raises(graphc.dask.ReductionError, match="pass reduction='sum'"):
        graphc.dask.value_and_grad(lambda w, X, y: np.sum(X @ w * y))(w, *_blocks(X, y, 50))
    with pytest.raises(graphc.dask.ReductionError, match="pass reduction='mean'"):
        graphc.dask.value_and_grad(logistic, reduction="sum")(w, *_blocks(X, y, 50))


def test_loss_with_a_non_scalar_output_is_refused(client):
    w, X, y = _data(100)
    with pytest.raises(graphc.dask.ReductionError, match="one scalar"):
        graphc.dask.value_and_grad(lambda w, X, y: X @ w - y)(w, *_blocks(X, y, 50))


def test_unaligned_blocks_are_refused(client):
    w, X, y = _data(100)
    vg = graphc.dask.value_and_grad(logistic)
    with pytest.raises(graphc.dask.BlockAlignmentError, match="not aligned"):
        vg(w, da.from_array(X, chunks=(50, -1)), da.from_array(y, chunks=40))
    with pytest.raises(graphc.dask.BlockAlignmentError, match=r"chunked along axis 1.*rechunk"):
        vg(w, da.from_array(X, chunks=(50, 2)), da.from_array(y, chunks=50))
    with pytest.raises(graphc.GraphcError, match="not a dask array"):
        vg(w, X, da.from_array(y, chunks=50))
    with pytest.raises(graphc.GraphcError, match="not a batch argument"):
        vg(da.from_array(w), *_blocks(X, y, 50))


def test_bad_options_are_refused():
    with pytest.raises(graphc.GraphcError, match="reduction must be"):
        graphc.dask.value_and_grad(logistic, reduction="max")
    with pytest.raises(graphc.GraphcError, match="overlap"):
        graphc.dask.value_and_grad(logistic, argnums=1)


def test_map_blocks_matches_the_single_process_function(client):
    w, X, _ = _data(403)
    predict = graphc.jit(lambda w, X: graphc.sigmoid(X @ w))
    out = graphc.dask.map_blocks(predict, w, da.from_array(X, chunks=(100, -1)))
    assert out.chunks == ((100, 100, 100, 100, 3),)
    np.testing.assert_allclose(out.compute(), predict(w, X), rtol=1e-12)
    two_d = graphc.dask.map_blocks(lambda X, Z: X * 2.0 + Z, da.from_array(X, chunks=(50, -1)),
                                   da.from_array(X[:, ::-1].copy(), chunks=(50, -1)))
    np.testing.assert_allclose(two_d.compute(), X * 2.0 + X[:, ::-1], rtol=1e-12)


def test_map_blocks_refuses_functions_that_mix_rows(client):
    _, X, _ = _data(100)
    with pytest.raises(graphc.dask.ReductionError, match="not row-wise"):
        graphc.dask.map_blocks(lambda X: X - np.mean(X, axis=0), da.from_array(X, chunks=(50, -1)))
    with pytest.raises(graphc.GraphcError, match="needs a graphc.jit"):
        graphc.dask.map_blocks(graphc.grad(lambda X: np.sum(X)), da.from_array(X, chunks=(50, -1)))


def test_import_graphc_does_not_import_dask():
    import subprocess

    code = "import sys, graphc; print('dask' in sys.modules)"
    done = subprocess.run([sys.executable, "-c", code], capture_output=True, text=True, timeout=120)
    assert done.stdout.strip() == "False", done.stderr


def test_example_quick_fits_on_the_cluster(client, capsys):
    sys.path.insert(0, EXAMPLES)
    try:
        import dask_logistic
    finally:
        sys.path.remove(EXAMPLES)
    result = dask_logistic.main(["--rows", "200000", "--chunk", "50000", "--address", client.scheduler.address])
    assert result.success
    assert result.weight_error < 0.1  # close to the weights the data was drawn from
    assert "evaluations" in capsys.readouterr().err  # the tqdm progress display
