"""Compiling a kernel away from the caller, while the NumPy tier answers its calls.

Numba's compiler is Python code that holds the GIL, so a compile in a thread of the caller's process
takes turns with the caller's own work. By default the compile runs in a worker process instead
(:mod:`graphc.codegen.worker`): the job's thread runs the loop passes (fusion) and, unless the disk cache
already holds the kernel, hands the fused graph to a worker that generates the module and compiles it
into a private staging folder beside the disk cache, then moves the files into the cache with atomic
renames (Numba's index last). The caller's process then loads the kernel from the disk cache, which
takes milliseconds. A process that exits while a worker runs kills it and removes
its staging folder, so the cache never holds a half-written file.

``GRAPHC_BACKGROUND=thread`` compiles in a thread instead (used when the cache folder cannot be
written, since a worker's result could not be shared then). benchmarks/first_result.py measures both.
"""
from __future__ import annotations

import atexit
import os
import pickle
import shutil
import subprocess
import sys
import tempfile
import threading
import time
import warnings
from typing import Callable

import numpy as np

from graphc.errors import GraphcInternalError
from graphc.graph import Graph

#: Where the running jobs are, for the exit handler and for tests.
_running: set = set()
_running_lock = threading.Lock()
#: How many background compiles run at once: one core is left to the caller (each worker is a Python
#: process with Numba loaded, a few hundred MiB); the others wait their turn.
MAX_CONCURRENT = max(1, (os.cpu_count() or 2) - 1)
_compile_slots = threading.BoundedSemaphore(MAX_CONCURRENT)


class GraphcBackgroundWarning(UserWarning):
    """A background compile failed; the function keeps running on the NumPy tier."""


def describe_arguments(args: list) -> list:
    """What Numba types a kernel's arguments by, without Numba: kind, shape, dtype, memory layout."""
    described = []
    for a in args:
        if isinstance(a, np.ndarray):
            layout = "C" if a.flags.c_contiguous else "F" if a.flags.f_contiguous else "A"
            described.append(("array", a.shape, a.dtype.str, layout, bool(a.flags.writeable)))
        else:
            described.append(("scalar", np.result_type(a).str, type(a) is bool))
    return described


def example_arguments(described: list) -> list:
    """Values with the Numba types of :func:`describe_arguments`' descriptions (zeros)."""
    examples = []
    for d in described:
        if d[0] == "scalar":
            examples.append(False if d[2] else np.dtype(d[1]).type(0))
            continue
        _, shape, dtype, layout, writeable = d
        if layout == "A":  # a strided view: every other element of a doubled last axis
            value = np.zeros(tuple(shape[:-1]) + (2 * shape[-1],), dtype)[..., ::2]
        else:
            value = np.zeros(shape, dtype, order=layout)
        value.flags.writeable = writeable
        examples.append(value)
    return examples


def compile_graph(graph: Graph, examples: list, loop_passes: bool = True, progress: bool = True):
    """Run the loop passes on ``graph`` (unless it has had them), and compile its kernel for arguments
    typed like ``examples``, here and now (with a progress line past 2 s unless ``progress=False``).
    Returns ``(the kernel's graph, Kernel)``."""
    from graphc.passes import LOOP_PASSES, run_pipeline
    from graphc.codegen.compile import build_kernel, specialize

    if loop_passes:
        graph, _ = run_pipeline(graph, LOOP_PASSES)
    kernel = build_kernel(graph)
    specialize(kernel, examples, progress)
    return graph, kernel


class KernelJob:
    """One background compile, begun by :meth:`start`. ``on_ready(fused_graph, kernel, seconds)`` runs in
    the job's thread when the kernel is loaded; :meth:`wait` blocks until then and returns
    ``(fused_graph, kernel)``.

    ``how`` is where the kernel came from: "process" (a worker compiled it), "thread", "memory" (this
    process had compiled it for another shape whose generated source is the same), or "disk" (the
    disk cache already held it, so no worker was needed).
    """

    def __init__(self, graph: Graph, described: list, on_ready: Callable, how: str | None = None):
        self.graph, self.described, self.on_ready = graph, described, on_ready
        self.how = how or _default_mode()
        self.result = None
        self.error: BaseException | None = None
        self.seconds = None
        self.process: subprocess.Popen | None = None
        self.staging: str | None = None
        self._done = threading.Event()
        self._started = None
        self._start_lock = threading.Lock()

    def start(self) -> None:
        """Start the compile (once; later calls do nothing)."""
        with self._start_lock:
            if self._started is not None:
                return
            self._started = time.perf_counter()
        with _running_lock:
            _running.add(self)
        threading.Thread(target=self._run, name="graphc-compile", daemon=True).start()

    def wait(self, timeout: float | None = None):
        """The job's ``(fused graph, kernel)`` once ready (starting it if need be); its error if it failed."""
        self.start()
        self._done.wait(timeout)
        if self.error is not None:
            raise self.error
        return self.result

    @property
    def done(self) -> bool:
        return self._done.is_set()

    def _run(self) -> None:
        try:
            from graphc.passes import LOOP_PASSES, run_pipeline
            from graphc.codegen.compile import loaded, on_disk

            with _compile_slots:  # a few at a time: forty new shapes must not start forty compilers
                fused, _ = run_pipeline(self.graph, LOOP_PASSES)
                examples = example_arguments(self.described)
                if loaded(fused, examples):  # another shape's kernel, the same source
                    self.how = "memory"
                elif self.how == "process":
                    if on_disk(fused):
                        self.how = "disk"
                    else:
                        self._compile_in_worker(fused)  # fills the disk cache, from which the next line loads
                self.result = compile_graph(fused, examples, loop_passes=False,
                                            progress=False)
            self.seconds = time.perf_counter() - self._started
            self.on_ready(*self.result, self.seconds)
        except BaseException as error:  # noqa: BLE001 -- reported to whoever waits, and warned once
            if _exiting:  # killed by the exit handler: nothing to report
                return
            self.error = error if isinstance(error, GraphcInternalError) else GraphcInternalError(
                f"the background compile failed (graphc bug; please report with lower().graph): "
                f"{type(error).__name__}: {error}")
            warnings.warn(f"{self.error}; this function keeps running on the NumPy tier",
                          GraphcBackgroundWarning, stacklevel=1)
        finally:
            with _running_lock:
                _running.discard(self)
            self._done.set()

    def _compile_in_worker(self, fused: Graph) -> None:
        from graphc.codegen.cache import cache_dir, make_private_dirs

        directory = cache_dir()
        make_private_dirs(directory)
        # In the cache folder, so that the worker's renames into the cache are atomic (one file system).
        self.staging = tempfile.mkdtemp(prefix=".staging-", dir=directory)
        env = dict(os.environ, GRAPHC_CACHE_DIR=self.staging, GRAPHC_PROGRESS="0")  # quiet: not waited for
        with _running_lock:
            if _exiting:
                raise GraphcInternalError("Python is exiting")
            self.process = subprocess.Popen([sys.executable, "-m", "graphc.codegen.worker", directory],
                                            stdin=subprocess.PIPE, stdout=subprocess.DEVNULL,
                                            stderr=subprocess.PIPE, env=env)
        try:
            _, err = self.process.communicate(pickle.dumps((fused, self.described)))
        finally:
            shutil.rmtree(self.staging, ignore_errors=True)
        if self.process.returncode != 0:
            message = err.decode(errors="replace").strip().splitlines()
            raise GraphcInternalError("the compile worker failed (graphc bug; please report with lower().graph):\n"
                                      + "\n".join(message[-20:]))


def _default_mode() -> str:
    mode = os.environ.get("GRAPHC_BACKGROUND", "process")
    if mode not in ("process", "thread"):
        raise GraphcInternalError(f"GRAPHC_BACKGROUND must be 'process' or 'thread', not {mode!r}")
    if mode == "process":
        from graphc.codegen.cache import cache_dir, make_private_dirs

        directory = cache_dir()
        try:
            make_private_dirs(directory)
        except OSError:
            return "thread"
        if not os.access(directory, os.W_OK):
            return "thread"  # a worker's result could not be shared through the disk cache
    return mode


def running_jobs() -> list:
    """The background compiles still running in this process."""
    with _running_lock:
        return list(_running)


_exiting = False


def _forget_parents_jobs() -> None:
    # A forked child inherits the list but not the jobs' threads; its exit must not kill the parent's workers.
    _running.clear()


if hasattr(os, "register_at_fork"):
    os.register_at_fork(after_in_child=_forget_parents_jobs)


@atexit.register
def _stop_workers() -> None:
    """Kill the worker processes still compiling (their files are in staging folders, never half in
    the cache), and remove their staging folders. Threads are daemons: they stop with Python."""
    global _exiting
    with _running_lock:
        _exiting = True
        jobs = list(_running)
    for job in jobs:
        if job.process is not None and job.process.poll() is None:
            job.process.kill()
            job.process.wait()
        if job.staging is not None:
            shutil.rmtree(job.staging, ignore_errors=True)
