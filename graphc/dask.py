"""Data-parallel value-and-gradient and row-wise maps over Dask arrays (the optional ``dask`` extra).

The batch arguments are Dask arrays chunked along axis 0 only, all with the same row chunks. The
client traces and compiles the graphc function once per distinct block shape (an uneven last block
is one more), pickles it (what travels is the optimized graphs, see ``CompiledFunction``) and
``dask.array.blockwise`` runs it on every aligned block where the block lives. Each block hands back
one row ``[w*value, w*gradient...]``; ``dask.array``'s own tree reduction (``sum(split_every=...)``)
adds the rows up, so no process ever holds more than a few blocks.

>>> import numpy as np, dask.array as da, graphc, graphc.dask
>>> def loss(w, X, y):
...     return np.mean((X @ w - y) ** 2)
>>> X, y = np.arange(12.0).reshape(6, 2), np.ones(6)
>>> vg = graphc.dask.value_and_grad(loss, reduction="mean")
>>> value, g = vg(np.zeros(2), da.from_array(X, chunks=(4, 2)), da.from_array(y, chunks=4))
>>> bool(np.allclose(g, graphc.grad(loss)(np.zeros(2), X, y)))
True

``import graphc`` never imports Dask; ``import graphc.dask`` does.
"""
from __future__ import annotations

import hashlib
import pickle
import threading

import dask
import dask.array as da
import numpy as np

import graphc
from graphc.errors import GraphcError
from graphc.evaluate import evaluate
from graphc.tree import tree_flatten, tree_unflatten

__all__ = ["value_and_grad", "map_blocks", "BlockAlignmentError", "ReductionError"]

_REDUCTIONS = ("mean", "sum")
_SAMPLE_ROWS = 7  # rows taken from the data to check the reduction identity: A = 3 rows, B = 4


class BlockAlignmentError(GraphcError):
    """Batch arguments whose blocks do not line up: other row chunks, or chunks along other axes.

    Fix: ``x.rechunk({0: reference.chunks[0], 1: -1, ...})`` so every batch argument has the same
    row chunks and one chunk along every other axis.
    """


class ReductionError(GraphcError):
    """A loss that is not a sum or a mean over the rows of its batch arguments (or not the one declared).

    Rule: for two disjoint row sets A and B taken from the data, ``reduction="sum"`` needs
    ``L(A+B) = L(A) + L(B)`` and ``reduction="mean"`` needs ``L(A+B) = (|A| L(A) + |B| L(B)) / |A+B|``,
    for the value and the gradient. Losses such as ``np.mean(r) ** 2`` or ``np.max(r)`` break it.
    """


# ---- on the workers: each process unpickles a function once, keyed by its payload's digest -------
_LOADED: dict = {}
_LOADED_LOCK = threading.Lock()
_LOADED_MAX = 32


def _function(digest: str, payload: bytes):
    fn = _LOADED.get(digest)
    if fn is None:
        with _LOADED_LOCK:  # threads of one worker build the kernels once
            fn = _LOADED.get(digest)
            if fn is None:
                fn = pickle.loads(payload)  # machine code from the disk cache, else compiled here
                if len(_LOADED) >= _LOADED_MAX:
                    _LOADED.pop(next(iter(_LOADED)))
                _LOADED[digest] = fn
    return fn


def _assemble(params: tuple, blocks: tuple, batch: tuple) -> list:
    """The call's arguments in order: parameters where they were, blocks at the batch positions."""
    args, p, b = [], iter(params), iter(blocks)
    for i in range(len(params) + len(blocks)):
        args.append(next(b) if i in batch else next(p))
    return args


def _block_vg(digest, payload, params, batch, reduction, width, dtype, *blocks):
    """One block's ``[w*value, w*grad leaves...]`` as a (1, width) row; w = rows for a mean, else 1."""
    value, grads = _function(digest, payload)(*_assemble(pickle.loads(params), blocks, batch))
    weight = blocks[0].shape[0] if reduction == "mean" else 1
    row = np.empty((1, width), dtype)
    row[0, 0] = value
    row[0, 1:] = np.concatenate([np.ravel(g) for g in tree_flatten(grads)[0]] or [np.empty(0)])
    return row * weight if weight != 1 else row


def _block_map(digest, payload, params, batch, *blocks):
    return _function(digest, payload)(*_assemble(pickle.loads(params), blocks, batch))


# ---- on the client ---------------------------------------------------------------------------------
def _check_blocks(args: tuple, batch: tuple, name: str) -> tuple:
    """The common row chunks of the batch arguments, or a clear error."""
    for i, a in enumerate(args):
        if i in batch and not isinstance(a, da.Array):
            raise GraphcError(f"{name}: batch argument {i} is a {type(a).__name__}, not a dask array; pass "
                              f"dask.array.from_array(x, chunks=(rows, ...)) chunked along axis 0")
        if i not in batch and dask.is_dask_collection(a):
            raise GraphcError(f"{name}: argument {i} is a Dask collection but not a batch argument; parameters "
                              f"are NumPy values sent whole to every block (or list {i} in batch_argnums)")
    first = batch[0]
    rows = args[first].chunks[0] if args[first].ndim else ()
    for i in batch:
        a = args[i]
        if a.ndim == 0:
            raise BlockAlignmentError(f"{name}: batch argument {i} is 0-d; batch arguments have rows (axis 0)")
        if any(np.isnan(c) for c in a.chunks[0]):
            raise BlockAlignmentError(f"{name}: batch argument {i} has unknown chunk sizes; call "
                                      f".compute_chunk_sizes() on it first")
        if a.chunks[0] != rows:
            raise BlockAlignmentError(
                f"{name}: batch arguments {first} and {i} are not aligned: rows chunked as {_short(rows)} and "
                f"{_short(a.chunks[0])}; rechunk with x.rechunk({{0: args[{first}].chunks[0]}})")
        split = [d for d in range(1, a.ndim) if len(a.chunks[d]) > 1]
        if split:
            raise BlockAlignmentError(
                f"{name}: batch argument {i} is chunked along axis {split[0]} {a.chunks[split[0]]}; blocks must "
                f"hold whole rows: rechunk with x.rechunk({{{split[0]}: -1}})")
    if sum(rows) == 0:
        raise GraphcError(f"{name}: the batch arguments have no rows")
    return rows


def _short(chunks: tuple) -> str:
    return str(chunks) if len(chunks) <= 6 else f"({', '.join(map(str, chunks[:3]))}, ..., {chunks[-1]}) in {len(chunks)}"


def _indices(args: tuple, batch: tuple) -> list:
    """blockwise arguments: each batch array with its indices, rows shared as 'row'."""
    out = []
    for i in batch:
        out += [args[i], ("row",) + tuple(f"a{i}d{d}" for d in range(1, args[i].ndim))]
    return out


def _signature(args: tuple, batch: tuple) -> tuple:
    """What compiled code depends on besides the row count: parameter types/shapes, per-row shapes."""
    params = [a for i, a in enumerate(args) if i not in batch]
    leaves, tree = tree_flatten(params)
    return (tree, tuple((type(x), np.shape(x), np.result_type(x)) for x in leaves),
            tuple((args[i].shape[1:], args[i].dtype) for i in batch))


def _zeros_call(args: tuple, batch: tuple, rows: int) -> list:
    return [np.zeros((rows,) + a.shape[1:], a.dtype) if i in batch else a for i, a in enumerate(args)]


def _sample(args: tuple, batch: tuple, k: int) -> list:
    """The first ``k`` rows of every batch argument (from the first block), as NumPy."""
    heads = dask.compute(*[args[i][:k] for i in batch])
    return [heads[batch.index(i)] if i in batch else a for i, a in enumerate(args)]


def _rows(args: list, batch: tuple, sl: slice) -> list:
    return [a[sl] if i in batch else a for i, a in enumerate(args)]


def _reference(fn, args: list):
    """``fn(*args)`` through trace and graphc's NumPy reference evaluator: no compile needed."""
    graph = graphc.trace(fn, *args)
    return graph, tree_flatten(tree_unflatten(graph.out_tree, evaluate(graph, *tree_flatten(args)[0])))[0]


def _close(a, b, tol: float) -> bool:
    a, b = np.asarray(a, np.float64), np.asarray(b, np.float64)
    scale = max(float(np.max(np.abs(a), initial=0.0)), float(np.max(np.abs(b), initial=0.0)), 1e-300)
    return a.shape == b.shape and bool(np.all(np.abs(a - b) <= tol * scale))


class _Distributed:
    """The callable :func:`value_and_grad` returns; keeps compiled signatures and checked losses."""

    def __init__(self, loss, argnums, batch_argnums, reduction, split_every):
        if reduction not in _REDUCTIONS:
            raise GraphcError(f"graphc.dask.value_and_grad: reduction must be 'mean' or 'sum', got {reduction!r}")
        many = isinstance(batch_argnums, (tuple, list))
        self.batch_argnums = tuple(batch_argnums) if many else (batch_argnums,)
        if not self.batch_argnums or not all(isinstance(i, int) for i in self.batch_argnums):
            raise GraphcError(f"graphc.dask.value_and_grad: batch_argnums must be an int or a tuple of ints, "
                              f"got {batch_argnums!r}")
        nums = argnums if isinstance(argnums, (tuple, list)) else (argnums,)
        if set(nums) & set(self.batch_argnums):
            raise GraphcError(f"graphc.dask.value_and_grad: argnums {argnums!r} and batch_argnums "
                              f"{batch_argnums!r} overlap; gradients are taken for parameters only")
        self.loss, self.argnums, self.reduction, self.split_every = loss, argnums, reduction, split_every
        # Compiled here, before shipping (tiered=False): workers on this machine load it from the disk cache.
        self.vg = graphc.value_and_grad(loss, argnums, tiered=False)
        self._checked: set = set()
        self._compiled: dict = {}  # signature -> {rows: (grad tree, leaf shapes, leaf dtypes)}
        self._payload = None  # (digest, pickled function) for what is compiled so far

    def __repr__(self):
        return f"<graphc.dask.value_and_grad of {getattr(self.loss, '__qualname__', self.loss)!r}>"

    def __call__(self, *args):
        name = "graphc.dask.value_and_grad"
        batch = tuple(sorted(i % len(args) for i in self.batch_argnums))
        rows = _check_blocks(args, batch, name)
        signature = _signature(args, batch)
        if signature not in self._checked:
            self.check_reduction(*args)
            self._checked.add(signature)
        layouts = self._compile(args, batch, signature, rows)
        tree, shapes, dtypes = layouts[rows[0]]
        dtype = np.result_type(*dtypes)
        width = 1 + sum(int(np.prod(s)) for s in shapes[1:])
        params = pickle.dumps(tuple(a for i, a in enumerate(args) if i not in batch))
        digest, payload = self._payload
        parts = da.blockwise(_block_vg, ("row", "out"), digest, None, payload, None, params, None, batch, None,
                             self.reduction, None, width, None, dtype, None, *_indices(args, batch),
                             new_axes={"out": width}, adjust_chunks={"row": 1}, align_arrays=False,
                             concatenate=True, dtype=dtype, meta=np.empty((0, 0), dtype))
        total = np.asarray(parts.sum(axis=0, split_every=self.split_every).compute())
        if self.reduction == "mean":
            total = total / sum(rows)
        leaves, offset = [], 1
        for shape, dt in zip(shapes[1:], dtypes[1:]):
            size = int(np.prod(shape))
            block = total[offset:offset + size].reshape(shape).astype(dt)
            leaves.append(block if shape else dt.type(block[()]))
            offset += size
        return dtypes[0].type(total[0]), tree_unflatten(tree, leaves)

    def _compile(self, args: tuple, batch: tuple, signature: tuple, rows: tuple) -> dict:
        """Compile, on this process, the value-and-gradient for every block shape not seen yet."""
        layouts = self._compiled.setdefault(signature, {})
        missing = sorted(set(rows) - set(layouts))
        for n in missing:
            with np.errstate(all="ignore"):  # zeros may hit log(0): only the compile matters
                out = self.vg(*_zeros_call(args, batch, n))
            leaves, tree = tree_flatten(out[1])
            layouts[n] = (tree, [()] + [np.shape(x) for x in leaves],
                          [np.result_type(out[0])] + [np.result_type(x) for x in leaves])
        if missing or self._payload is None:
            payload = pickle.dumps(self.vg)
            self._payload = (hashlib.sha256(payload).hexdigest(), payload)
        return layouts

    def check_reduction(self, *args) -> None:
        """Raise :class:`ReductionError` unless the loss is a ``reduction`` over the batch rows.

        The rule, on the graph: the traced loss has one scalar output, and on two disjoint row sets
        A and B taken from the start of the data, the graph evaluated (with graphc's reference
        evaluator, no compile) on A, B and A+B satisfies the reduction's identity for the value and
        every gradient (see :class:`ReductionError`). A loss that passes is a sum or mean of per-row
        terms plus, for a mean, terms that do not depend on the rows. Data with fewer than two rows
        has nothing to split and is not checked (one block gives the exact result anyway).
        """
        name = "graphc.dask.value_and_grad"
        batch = tuple(sorted(i % len(args) for i in self.batch_argnums))
        n = min(_SAMPLE_ROWS, sum(_check_blocks(args, batch, name)))
        sample = _sample(args, batch, n)
        graph = graphc.trace(self.loss, *sample)
        out = graph[graph.outputs[0]] if len(graph.outputs) == 1 else None
        if out is None or out["shape"] != ():
            raise ReductionError(f"{name}: the loss must return one scalar (a {self.reduction} over the rows), "
                                 f"it returned {graph.out_tree!r} with shape {out and out['shape']}")
        if n < 2:
            return
        a = n // 2
        part = [_reference(self.vg, _rows(sample, batch, sl))[1] for sl in (slice(0, a), slice(a, n))]
        _, whole = _reference(self.vg, sample)
        tol = 1e-4 if any(np.result_type(x) == np.float32 for x in whole) else 1e-9
        sums = [p + q for p, q in zip(*part)]
        means = [(a * p + (n - a) * q) / n for p, q in zip(*part)]
        holds = {r: all(_close(x, y, tol) for x, y in zip(combined, whole))
                 for r, combined in (("sum", sums), ("mean", means))}
        if not holds[self.reduction]:
            other = [r for r in _REDUCTIONS if r != self.reduction and holds[r]]
            hint = (f"it behaves as a {other[0]}: pass reduction={other[0]!r}" if other else
                    "write it as np.sum or np.mean over axis 0 of per-row terms")
            raise ReductionError(
                f"{name}: the loss is not a {self.reduction} over the rows of batch arguments {batch}: on rows "
                f"[0:{a}], [{a}:{n}] and [0:{n}] of the data, L(all) = {float(whole[0])!r} but the "
                f"{self.reduction} of the parts gives {float((sums if self.reduction == 'sum' else means)[0])!r} "
                f"(value or gradient differ); {hint}")


def value_and_grad(loss, argnums=0, batch_argnums=(1, 2), reduction="mean", split_every=8):
    """``graphc.value_and_grad(loss, argnums)`` over Dask arrays, block by block on the workers.

    Args:
        loss: ``loss(*args)`` returning a scalar that is a ``reduction`` ("mean" or "sum") over axis 0
            of its batch arguments, e.g. ``np.mean(log_loss(X @ w, y))``.
        argnums: the parameters to differentiate (NumPy values, never batch arguments).
        batch_argnums: positions of the Dask arrays, chunked along axis 0 only, with equal row chunks.
        reduction: how block results combine: "sum" adds them, "mean" weights each by its rows.
        split_every: fan-in of the tree reduction (``dask.array.sum(split_every=...)``).

    The returned function gives ``(value, grad)`` equal to the single-process result on the whole
    data, to rounding. It raises :class:`BlockAlignmentError` for unaligned blocks and
    :class:`ReductionError` (checked once per argument signature, see ``check_reduction``) for a loss
    that is not the declared reduction over the rows. It computes with Dask's current scheduler (a
    ``distributed.Client`` if one is active).

    >>> import numpy as np, dask.array as da, graphc.dask
    >>> vg = graphc.dask.value_and_grad(lambda w, X: np.sum(X @ w), batch_argnums=1, reduction="sum")
    >>> vg(np.ones(2), da.ones((5, 2), chunks=(2, 2)))
    (np.float64(10.0), array([5., 5.]))
    """
    return _Distributed(loss, argnums, batch_argnums, reduction, split_every)


def map_blocks(jit_fn, *args):
    """A row-wise forward function over Dask arrays: ``jit_fn`` on each aligned block, lazily.

    ``args`` that are Dask arrays are batch arguments (chunked along axis 0 only, equal row chunks);
    others are sent whole to every block. ``jit_fn`` (a ``graphc.jit`` function, or a plain one,
    which is jitted) must return one array whose rows are the input rows' results: checked on rows of
    the data as ``f(A+B) == concatenate(f(A), f(B))`` with the reference evaluator, else
    :class:`ReductionError`. Returns a Dask array with the inputs' row chunks.

    >>> import numpy as np, dask.array as da, graphc, graphc.dask
    >>> out = graphc.dask.map_blocks(graphc.jit(lambda w, X: X @ w), np.ones(2), da.ones((5, 2), chunks=2))
    >>> out.chunks, out.compute().tolist()
    (((2, 2, 1),), [2.0, 2.0, 2.0, 2.0, 2.0])
    """
    name = "graphc.dask.map_blocks"
    transform = getattr(jit_fn, "__graphc_transform__", None)
    if transform is None:
        jit_fn = graphc.jit(jit_fn)
    elif transform.mode != "jit":
        raise GraphcError(f"{name} needs a graphc.jit function (a forward map), got a graphc.{transform.mode}")
    batch = tuple(i for i, a in enumerate(args) if isinstance(a, da.Array))
    if not batch:
        raise GraphcError(f"{name}: none of the arguments is a dask array; nothing to map over")
    rows = _check_blocks(args, batch, name)
    n = min(_SAMPLE_ROWS, sum(rows))
    sample = _sample(args, batch, n)
    graph, (whole, *rest) = _reference(jit_fn, sample)
    if rest or np.ndim(whole) == 0 or np.shape(whole)[0] != n:
        raise ReductionError(f"{name}: the function must return one array with a row per input row; on {n} rows "
                             f"it returned {graph.out_tree!r} of shape {np.shape(whole)}")
    parts = [_reference(jit_fn, _rows(sample, batch, sl))[1][0] for sl in (slice(0, n // 2), slice(n // 2, n))]
    if not _close(np.concatenate(parts), whole, 1e-9):
        raise ReductionError(f"{name}: the function is not row-wise: its result on rows [0:{n}] differs from its "
                             f"results on [0:{n // 2}] and [{n // 2}:{n}] joined; rows must not see each other")
    for k in sorted(set(rows)):  # compile each block shape here, before shipping
        with np.errstate(all="ignore"):
            jit_fn.lower(*_zeros_call(args, batch, k))  # the kernel itself, not the NumPy tier
            out = jit_fn(*_zeros_call(args, batch, k))
    payload = pickle.dumps(jit_fn)
    digest = hashlib.sha256(payload).hexdigest()
    params = pickle.dumps(tuple(a for i, a in enumerate(args) if i not in batch))
    trailing = tuple(f"o{d}" for d in range(1, np.ndim(out)))
    return da.blockwise(_block_map, ("row",) + trailing, digest, None, payload, None, params, None, batch, None,
                        *_indices(args, batch), new_axes=dict(zip(trailing, np.shape(out)[1:])),
                        align_arrays=False, concatenate=True, dtype=np.result_type(out),
                        meta=np.empty((0,) * np.ndim(out), np.result_type(out)))
