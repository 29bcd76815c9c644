"""The compile worker: ``python -m graphc.codegen.worker CACHE_DIR``, run by :mod:`graphc.codegen.background`.

It reads a pickled ``(fused graph, argument descriptions)`` from stdin, generates the kernel's module and
compiles it with Numba into ``$GRAPHC_CACHE_DIR`` (a staging folder the parent made inside CACHE_DIR),
and moves the files into CACHE_DIR.

The moves are atomic renames on one file system, in an order that keeps the cache consistent at every
instant: Numba's data files first, then the module, then Numba's index, which names both (it records the
module's size and modification time, which a rename keeps). A worker killed at any point leaves the
cache without the new kernel or with all of it, never with part of a file.
"""
from __future__ import annotations

import glob
import os
import pickle
import sys


def publish(staging: str, cache: str, module_name: str) -> None:
    """Move one module and Numba's files for it from ``staging`` into ``cache``."""
    from graphc.codegen.cache import make_private_dirs

    make_private_dirs(cache)  # and its __pycache__
    pycache = os.path.join(cache, "__pycache__")
    pattern = os.path.join(glob.escape(os.path.join(staging, "__pycache__")), glob.escape(module_name) + ".*")
    files = glob.glob(pattern)
    for path in sorted(f for f in files if f.endswith(".nbc")):
        os.replace(path, os.path.join(pycache, os.path.basename(path)))
    os.replace(os.path.join(staging, module_name + ".py"), os.path.join(cache, module_name + ".py"))
    for path in sorted(f for f in files if f.endswith(".nbi")):
        os.replace(path, os.path.join(pycache, os.path.basename(path)))


def main() -> int:
    cache = sys.argv[1]
    graph, described = pickle.load(sys.stdin.buffer)  # noqa: S301 -- from the parent process
    from graphc.codegen.background import compile_graph, example_arguments

    _, kernel = compile_graph(graph, example_arguments(described), loop_passes=False, progress=False)
    if kernel.path is not None:  # None: the staging folder was refused and the code compiled in memory
        publish(os.path.dirname(kernel.path), cache, os.path.splitext(os.path.basename(kernel.path))[0])
    return 0


if __name__ == "__main__":
    sys.exit(main())
