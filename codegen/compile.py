"""Generated source -> a Numba dispatcher, through a real module file so Numba can cache it.

The module is written to the cache folder (:mod:`graphc.codegen.cache`) and imported under a
unique name registered in ``sys.modules`` before it runs: Numba's disk cache needs both to find
the compiled code again in a later process. Constants become module globals before the module
executes. If the cache folder cannot be written, or others could write it (Numba's cache index
is a pickle: loading it runs what it names), the source is compiled in memory instead, with one
warning per folder.
"""
from __future__ import annotations

import contextlib
import dataclasses
import glob
import importlib.util
import linecache
import os
import re
import sys
import threading
import time
import warnings

import numba
import numpy as np

from graphc.errors import GraphcInternalError
from graphc.graph import Graph
from graphc.codegen.cache import (cache_dir, make_private_dirs, read_valid, source_key, untrusted_reason,
                                  write_atomic)
from graphc.codegen.emit import KERNEL, generate

#: Counts for tests and ``graphc inspect``: compiles, disk-cache hits, in-memory fallbacks, and
#: signatures served by a kernel already compiled for another shape.
STATS = {"compiled": 0, "disk_hits": 0, "in_memory": 0, "reused": 0}
_lock = threading.Lock()
_warned_dirs: set[str] = set()

#: A compile running longer than this many seconds shows a progress line on stderr (GRAPHC_PROGRESS=0: never).
PROGRESS_AFTER = 2.0
#: How often a terminal's progress line is redrawn, in seconds.
PROGRESS_EVERY = 0.5


class GraphcCacheWarning(UserWarning):
    """The disk cache could not be used, or was not trusted; code is compiled in memory for this process."""


@dataclasses.dataclass
class Kernel:
    """A compiled graph: the Numba dispatcher, its source, where the source lives, and its size
    (graph nodes, and the functions Numba compiles: emit.py splits long kernels into parts).

    ``sizes``: the kernel's size slots (``(input position, axis)``, see :func:`emit.generate`); when
    there are any, the dispatcher takes the ints of :func:`size_table` as its first arguments. One
    kernel, loaded once per process, serves every graph whose generated source is the same.
    """

    dispatcher: object
    source: str
    path: str | None
    key: str
    nodes: int = 0
    parts: int = 1
    sizes: tuple = ()


def size_table(kernel: Kernel, graph: Graph) -> tuple:
    """The size arguments for calls with ``graph``'s argument shapes (empty if the kernel takes none)."""
    return tuple(int(graph[graph.inputs[position]]["shape"][axis]) for position, axis in kernel.sizes)


_last_generated = None


def generated(graph: Graph) -> tuple[str, dict, tuple, str]:
    """``(source, constants, size slots, key)`` of ``graph``'s kernel module (the last graph's are
    remembered: a background compile asks whether it is on disk, then builds it)."""
    global _last_generated
    last = _last_generated
    if last is not None and last[0] is graph:
        return last[1]
    source, constants, sizes = generate(graph)
    key = source_key(source, constants)
    first, rest = source.split("\n", 1)
    result = (f"{first} key {key[:16]}\n{rest}", constants, sizes, key)
    _last_generated = (graph, result)
    return result


def build_kernel(graph: Graph) -> Kernel:
    """Generate, load and return the kernel for ``graph`` (not yet specialised to a signature).
    A kernel of the same source already loaded in this process is returned as it is."""
    source, constants, sizes, key = generated(graph)
    name = _module_name(key)
    with _lock:
        module = sys.modules.get(name)
        if module is None:
            module = _load(name, source, constants)
    parts = max(1, len(re.findall(r"^def part\d+\(", source, re.MULTILINE)))  # emit._split's functions
    return Kernel(getattr(module, KERNEL), source, getattr(module, "__file__", None), key, len(graph), parts,
                  sizes)


def loaded(graph: Graph, examples: list) -> bool:
    """Whether this process has ``graph``'s kernel loaded and compiled for arguments typed like
    ``examples`` (another shape's kernel, when the generated source is the same)."""
    _, _, sizes, key = generated(graph)
    module = sys.modules.get(_module_name(key))
    return module is not None and _numba_signature(sizes, examples) in getattr(module, KERNEL).overloads


def _numba_signature(sizes: tuple, args: list) -> tuple:
    """The Numba types of a call with ``args``, after the ints of a kernel's size slots ``sizes``."""
    return tuple(numba.typeof(a) for a in [0] * len(sizes) + list(args))


def _load(name: str, source: str, constants: dict):
    directory = cache_dir()
    try:
        # Numba unpickles its cache index: from a folder another user can write, that runs their code.
        reason = untrusted_reason(directory)
        if reason is None:
            return _load_from_disk(name, os.path.join(directory, name + ".py"), source, constants)
        problem = f"graphc will not load compiled code from its cache folder: {reason}"
        fix = ("Anyone who can write there can make this process run their code: make it private "
               "(chmod go-w; chown if it is not yours) or set GRAPHC_CACHE_DIR to a private folder.")
    except OSError as error:
        problem = f"graphc cannot use its cache folder {directory!r} ({error.strerror or error})"
        fix = "Set GRAPHC_CACHE_DIR to a writable folder."
    if directory not in _warned_dirs:  # once per folder, not once per function
        _warned_dirs.add(directory)
        warnings.warn(f"{problem}; compiling in memory, so this process will not reuse code from earlier "
                      f"runs. {fix}", GraphcCacheWarning, stacklevel=5)
    STATS["in_memory"] += 1
    return _load_in_memory(name, source, constants)


def _load_from_disk(name: str, path: str, source: str, constants: dict):
    make_private_dirs(os.path.dirname(path))  # before Numba makes __pycache__ with the umask's mode
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


def _load_in_memory(name: str, source: str, constants: dict):
    filename = f"<graphc {name}>"
    linecache.cache[filename] = (len(source), None, source.splitlines(True), filename)  # for tracebacks
    module = type(sys)(name)
    module.__dict__.update(constants, CACHE=False, __file__=None)
    sys.modules[name] = module
    exec(compile(source, filename, "exec"), module.__dict__)  # noqa: S102 -- source made by emit.py
    return module


def _module_name(key: str) -> str:
    return f"graphc_{key[:40]}"


def _numba_files(module_path: str, suffix: str = "nb[ic]") -> list[str]:
    """Numba's cache files (index ``nbi``, data ``nbc``) of one generated module."""
    stem = os.path.splitext(os.path.basename(module_path))[0]
    pycache = os.path.join(os.path.dirname(module_path), "__pycache__")
    return glob.glob(os.path.join(glob.escape(pycache), glob.escape(stem) + f".*.{suffix}"))


def on_disk(graph: Graph) -> bool:
    """Whether the disk cache holds ``graph``'s module with Numba's machine code beside it (for some
    signature): then loading it takes milliseconds, and a background compile needs no worker."""
    path = os.path.join(cache_dir(), _module_name(generated(graph)[3]) + ".py")
    return os.path.exists(path) and bool(_numba_files(path, "nbi"))


def _drop_numba_cache(module_path: str | None) -> bool:
    """Remove Numba's cache files of one generated module; True if there were any."""
    if module_path is None:
        return False
    removed = False
    for entry in _numba_files(module_path):
        try:
            os.unlink(entry)
            removed = True
        except OSError:
            pass
    return removed


def specialize(kernel: Kernel, args: list, progress: bool = True) -> None:
    """Compile (or load from disk) the kernel for the Numba types of ``args``, now, not at first call.
    ``progress=False`` keeps a background compile quiet (only a compile the caller waits for shows one).

    A failure here is graphc's bug: the graph type-checked, so the generated code must too.
    """
    signature = _numba_signature(kernel.sizes, args)
    dispatcher = kernel.dispatcher
    if signature in dispatcher.overloads:  # another shape with the same source compiled it
        STATS["reused"] += 1
        return
    try:
        with _progress(kernel, progress):
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


@contextlib.contextmanager
def _progress(kernel: Kernel, wanted: bool = True):
    """Show a compile that runs past PROGRESS_AFTER seconds on stderr, unless GRAPHC_PROGRESS=0.

    On a terminal one line is redrawn in place every PROGRESS_EVERY seconds
    (``graphc: compiling 3006 nodes in 8 parts with Numba... 4.2 s``); elsewhere (a CI log) only
    that first line is printed, as a line of its own. Either way it ends with
    ``graphc: compiled 3006 nodes in 8 parts with Numba in 12.3 s`` (``... failed after 12.3 s``)
    and a newline. A daemon thread draws it: Numba's compile holds the GIL but lets it go every
    few milliseconds.
    """
    if not wanted or os.environ.get("GRAPHC_PROGRESS", "") == "0" or sys.stderr is None:
        yield
        return
    what = (f"{kernel.nodes} node{'s' * (kernel.nodes != 1)} in {kernel.parts} part{'s' * (kernel.parts != 1)}"
            " with Numba")
    terminal = sys.stderr.isatty()
    started = time.perf_counter()
    done = threading.Event()
    width = 0  # of the line last drawn; 0 while nothing is shown

    def draw():
        nonlocal width
        if done.wait(PROGRESS_AFTER):
            return
        while not width or terminal:
            line = f"graphc: compiling {what}... {time.perf_counter() - started:.1f} s"
            sys.stderr.write(f"\r{line}" if terminal else f"{line}\n")
            sys.stderr.flush()
            width = len(line)
            if done.wait(PROGRESS_EVERY):
                return

    thread = threading.Thread(target=draw, name="graphc-progress", daemon=True)
    thread.start()
    ok = False
    try:
        yield
        ok = True
    finally:
        done.set()
        thread.join()
        if width:
            seconds = f"{time.perf_counter() - started:.1f} s"
            line = f"graphc: compiled {what} in {seconds}" if ok else f"graphc: compiling {what} failed after {seconds}"
            sys.stderr.write(f"\r{line.ljust(width)}\n" if terminal else f"{line}\n")
            sys.stderr.flush()


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
    (a transposed or strided view instead of a contiguous array). ``args`` begin with the sizes."""
    _compile(dispatcher, tuple(numba.typeof(a) for a in args))


def exact_dispatcher(kernel: Kernel, sizes: tuple, args: list):
    """A Numba function for the one signature of ``args`` (shapes and types), as ``Lowered.dispatcher``
    promises: a generic kernel with these sizes fixed in, compiled now; other shapes raise
    ``ArgumentShapeError`` and other dtypes ``TypeError``. Without a size table, the kernel itself."""
    if not sizes:
        return kernel.dispatcher
    params = ", ".join(f"a{i}" for i in range(len(args)))
    fixed = ", ".join(f"S[{k}]" for k in range(len(sizes)))  # Numba freezes the global tuple S in
    namespace = {"kernel": kernel.dispatcher, "S": sizes}
    exec(f"def exact({params}):\n    return kernel({fixed}, {params})\n", namespace)  # noqa: S102 -- positions only
    exact = numba.njit(namespace["exact"])
    _compile(exact, tuple(numba.typeof(a) for a in args))
    return exact
