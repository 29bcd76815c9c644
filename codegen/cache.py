"""The on-disk cache of generated modules: keys, locations, atomic writes, integrity checks.

A module is stored as ``<dir>/graphc_<key>.py`` whose first line carries the SHA-256 of the
rest; Numba keeps its own cache of the compiled code beside it (``__pycache__``), keyed by
that file. The key hashes the generated source and its constants' values, and the graphc, Numba
and NumPy versions and the runtime helpers' source, so a change to any of them gives a new file
rather than stale machine code; shapes that generate the same source share one file.

Numba's cache index is a pickle, so loading it runs whatever code it names: the folders are
created private, and :func:`untrusted_reason` refuses folders that someone else could write.
"""
from __future__ import annotations

import functools
import hashlib
import os
import stat
import sys
import tempfile

import numpy as np

from graphc.graph import Graph

#: Bumped whenever the shape of generated code changes.
CODEGEN_VERSION = 3
_CHECK_PREFIX = "# graphc-sha256: "


def cache_dir() -> str:
    """``$GRAPHC_CACHE_DIR``, else ``$XDG_CACHE_HOME/graphc``, else ``~/.cache/graphc``."""
    explicit = os.environ.get("GRAPHC_CACHE_DIR")
    if explicit:
        return explicit
    base = os.environ.get("XDG_CACHE_HOME") or os.path.join(os.path.expanduser("~"), ".cache")
    return os.path.join(base, "graphc")


def untrusted_reason(directory: str) -> str | None:
    """Why compiled code must not be loaded from ``directory``, or None when it may be.

    The folder and the ``__pycache__`` in it where Numba keeps its files must be owned by this user
    and writable by no one else. This reads the owner and mode bits, not ``os.access``: root may
    write anywhere, yet loading what another user could have written is the risk. A folder that
    does not exist yet is fine (graphc creates it private); any other error of ``os.stat`` is raised.
    POSIX only: on Windows (no ``os.geteuid``) folders are not checked.

    As uid 1000 (as root, the reason is that ``/tmp`` is writable by others):

    >>> untrusted_reason("/tmp")  # doctest: +SKIP
    "'/tmp' is owned by uid 0, not by this user (uid 1000)"
    """
    if not hasattr(os, "geteuid"):
        return None
    uid = os.geteuid()
    for folder in (directory, os.path.join(directory, "__pycache__")):
        try:
            info = os.stat(folder)
        except FileNotFoundError:
            continue
        if info.st_uid != uid:
            return f"{folder!r} is owned by uid {info.st_uid}, not by this user (uid {uid})"
        if info.st_mode & stat.S_IWOTH:
            return f"{folder!r} is writable by others"
        if info.st_mode & stat.S_IWGRP:
            return f"{folder!r} is writable by its group"
    return None


def make_private_dirs(directory: str) -> None:
    """Create ``directory`` and its ``__pycache__`` with mode 0o700 where missing (existing ones are
    left as they are), before Numba would create ``__pycache__`` with the umask's looser mode."""
    os.makedirs(directory, mode=0o700, exist_ok=True)
    try:
        os.mkdir(os.path.join(directory, "__pycache__"), mode=0o700)
    except FileExistsError:
        pass


@functools.lru_cache(maxsize=None)
def runtime_digest() -> str:
    """A digest of the Numba helpers generated code calls. Numba's cache of a kernel does not notice
    when a function it calls changes, so the helpers' source is part of every key."""
    folder = os.path.dirname(os.path.abspath(__file__))
    h = hashlib.sha256()
    for name in sorted(os.listdir(folder)):
        if name == "runtime.py" or (name.startswith("rt_") and name.endswith(".py")):
            with open(os.path.join(folder, name), "rb") as f:
                h.update(name.encode() + f.read())
    return h.hexdigest()


def source_key(source: str, constants: dict) -> str:
    """SHA-256 over everything that decides a kernel's machine code: its generated source, its
    constants' values, and the versions of what compiles and runs it.

    Shapes enter only where the source names them: a kernel that reads its sizes from its arguments
    (graphc.dims) has one key for every shape that generates the same source.
    """
    import numba  # here, not at the top: the NumPy tier reads cache_dir() without loading Numba

    from graphc import __version__
    from graphc.ops.linalg import numba_has_blas

    h = hashlib.sha256()
    h.update(f"graphc={__version__};codegen={CODEGEN_VERSION};numba={numba.__version__};"
             f"numpy={np.__version__};python={sys.version_info[:2]};blas={numba_has_blas()};"
             f"runtime={runtime_digest()}\n".encode())
    h.update(source.encode())
    for name in sorted(constants):
        value = np.asarray(constants[name])
        h.update(f"\n{name}={value.dtype.str}{value.shape}\n".encode())
        h.update(np.ascontiguousarray(value).tobytes())
    return h.hexdigest()


def graph_key(graph: Graph) -> str:
    """The key of ``graph``'s kernel (:func:`source_key` of its generated source)."""
    from graphc.codegen.compile import generated

    return generated(graph)[3]


def _checksum(body: str) -> str:
    return hashlib.sha256(body.encode()).hexdigest()


def read_valid(path: str) -> str | None:
    """The cached module's source if the file is whole and unchanged, else None."""
    try:
        with open(path, encoding="utf-8") as f:
            first = f.readline()
            body = f.read()
    except (OSError, UnicodeDecodeError):
        return None
    if not first.startswith(_CHECK_PREFIX) or first[len(_CHECK_PREFIX):].strip() != _checksum(body):
        return None
    return body


def write_atomic(path: str, body: str) -> None:
    """Write the module with its checksum line: temp file in the same folder, then rename."""
    directory = os.path.dirname(path)
    os.makedirs(directory, mode=0o700, exist_ok=True)
    fd, tmp = tempfile.mkstemp(dir=directory, prefix=".tmp-", suffix=".py")
    try:
        with os.fdopen(fd, "w", encoding="utf-8") as f:
            f.write(f"{_CHECK_PREFIX}{_checksum(body)}\n{body}")
        os.replace(tmp, path)  # atomic: readers see the old file or the whole new one
    except BaseException:
        try:
            os.unlink(tmp)
        except OSError:
            pass
        raise
