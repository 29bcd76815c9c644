"""Generated source -> a Numba dispatcher, through a real module file so Numba can cache it.

The module is written to the cache folder (:mod:`graphc.codegen.cache`) and imported under a
unique name registered in ``sys.modules`` before it runs: Numba's disk cache needs both to find
the compiled code again in a later process. Constants become module globals before the module
executes. If the cache folder cannot be written, the source is compiled in memory instead,
with one warning.
"""
from __future__ import annotations

import dataclasses
import glob
import importlib.util
import linecache
import os
import sys
import threading
import warnings

import numba
import numpy as np

from graphc.errors import GraphcInternalError
from graphc.graph import Graph
from graphc.codegen.cache import cache_dir, graph_key, read_valid, write_atomic
from graphc.codegen.emit import KERNEL, generate

#: Counts for tests and ``graphc inspect``: compiles, disk-cache hits, in-memory fallbacks.
STATS = {"compiled": 0, "disk_hits": 0, "in_memory": 0}
_lock = threading.Lock()
_warned_dirs: set[str] = set()


class GraphcCacheWarning(UserWarning):
    """The disk cache could not be used; code is compiled in memory for this process."""


@dataclasses.dataclass
class Kernel:
    """A compiled graph: the Numba dispatcher, its source, and where the source lives."""

    dispatcher: object
    source: str
    path: str | None
    key: str


def build_kernel(graph: Graph) -> Kernel:
    """Generate, load and return the kernel for ``graph`` (not yet specialised to a signature)."""
    key = graph_key(graph)
    source, constants = generate(graph, header=f"key {key[:16]}")
    name = f"graphc_{key[:40]}"
    with _lock:
        module = sys.modules.get(name)
        if module is None:
            module = _load(name, source, constants)
    return Kernel(getattr(module, KERNEL), source, getattr(module, "__file__", None), key)


def _load(name: str, source: str, constants: dict):
    directory = cache_dir()
    path = os.path.join(directory, name + ".py")
    try:
        if read_valid(path) != source:  # new, truncated or tampered with: (re)write it whole
            write_atomic(path, source)
        spec = importlib.util.spec_from_file_location(name, path)
        module = importlib.util.module_from_spec(spec)
        module.__dict__.update(constants, CACHE=True)
        sys.modules[name] = module
        try:
            spec.loader.exec_module(module)
        except BaseException:
            del sys.modules[name]
            raise
        return module
    except OSError as error:
        if directory not in _warned_dirs:
            _warned_dirs.add(directory)
            warnings.warn(f"graphc cannot use its cache folder {directory!r} ({error.strerror or error}); "
                          "compiling in memory, so this process will not reuse code from earlier runs. "
                          "Set GRAPHC_CACHE_DIR to a writable folder.", GraphcCacheWarning, stacklevel=5)
        STATS["in_memory"] += 1
        return _load_in_memory(name, source, constants)


def _load_in_memory(name: str, source: str, constants: dict):
    filename = f"<graphc {name}>"
    linecache.cache[filename] = (len(source), None, source.splitlines(True), filename)  # for tracebacks
    module = type(sys)(name)
    module.__dict__.update(constants, CACHE=False, __file__=None)
    sys.modules[name] = module
    exec(compile(source, filename, "exec"), module.__dict__)  # noqa: S102 -- source made by emit.py
    return module


def _drop_numba_cache(module_path: str | None) -> bool:
    """Remove Numba's cache files of one generated module; True if there were any."""
    if module_path is None:
        return False
    stem = os.path.splitext(os.path.basename(module_path))[0]
    pycache = os.path.join(os.path.dirname(module_path), "__pycache__")
    removed = False
    for entry in glob.glob(os.path.join(glob.escape(pycache), glob.escape(stem) + ".*.nb[ic]")):
        try:
            os.unlink(entry)
            removed = True
        except OSError:
            pass
    return removed


def specialize(kernel: Kernel, args: list) -> None:
    """Compile (or load from disk) the kernel for the Numba types of ``args``, now, not at first call.

    A failure here is graphc's bug: the graph type-checked, so the generated code must too.
    """
    signature = tuple(numba.typeof(a) for a in args)
    dispatcher = kernel.dispatcher
    try:
        try:
            _compile(dispatcher, signature)
        except Exception:
            # Numba does not survive a damaged cache index (it unpickles it as is): drop its files
            # for this module and compile afresh; a second failure is a real one. (Another process
            # may have dropped them first, so the retry does not depend on finding any.)
            if kernel.path is None:
                raise
            _drop_numba_cache(kernel.path)
            _compile(dispatcher, signature)
    except Exception as error:  # noqa: BLE001 -- any Numba failure on generated code is ours
        raise GraphcInternalError(f"Numba could not compile graphc's generated code (graphc bug; please "
                                  f"report with lower().source):\n{type(error).__name__}: {error}\n\n"
                                  f"{kernel.source}") from error
    hits = sum(dispatcher.stats.cache_hits.values())
    STATS["disk_hits" if hits else "compiled"] += 1


def _compile(dispatcher, signature) -> None:
    # Between explicit compiles, a call with other argument types is refused (TypeError) instead of
    # silently compiling code for dtypes the graph was not traced with.
    dispatcher.disable_compile(False)
    try:
        dispatcher.compile(signature)
    finally:
        if dispatcher.signatures:  # Numba refuses to lock a dispatcher that has nothing compiled
            dispatcher.disable_compile()


def add_specialization(dispatcher, args: list) -> None:
    """Compile one more signature of a kernel: the same dtypes and shapes in another memory layout
    (a transposed or strided view instead of a contiguous array)."""
    _compile(dispatcher, tuple(numba.typeof(a) for a in args))
