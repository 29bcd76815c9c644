"""``graphc inspect FILE.py:FUNCTION``: one of the user's functions at every stage, as text or a picture.

    graphc inspect model.py:loss --shapes "W=f64[64,10] X=f64[256,64]" --grad 0 --stage optimized
    graphc inspect model.py:f --args "3.0, -4.0" --stage grad --svg f.svg

Stages: ``traced`` (``graphc.trace(f, *args)``), ``grad`` (``graphc.trace(graphc.grad(f, argnums), *args)``),
``optimized`` (``lower(*args).graph`` and the per-pass table) and ``source`` (``lower(*args).source``);
``lower`` is ``graphc.grad(f, argnums)``'s with ``--grad``, ``graphc.jit(f)``'s without.
Bad input (a missing file or function, arguments that do not parse, a function that does not trace)
prints one line on stderr and exits with status 2.
"""
from __future__ import annotations

import ast
import importlib.util
import inspect
import os
import re
import shutil
import subprocess
import sys
import traceback

import numpy as np

import graphc
from graphc.errors import GraphcError

STAGES = ("traced", "grad", "optimized", "source")

# The dtypes --shapes accepts, by the short names listings print.
DTYPES = {"f64": np.float64, "f32": np.float32, "i64": np.int64, "i32": np.int32, "bool": np.bool_}

NO_DOT = ("--svg needs Graphviz's `dot` program, which is not on PATH: install Graphviz with "
          "`apt-get install graphviz` (Debian/Ubuntu), `brew install graphviz` (macOS) or "
          "`conda install -c conda-forge graphviz` (`pip install graphviz` gives only Python bindings, "
          "not the program), or write DOT text with --dot OUT.dot")


class InspectError(GraphcError):
    """Input ``graphc inspect`` cannot use: a file, function, argument list or shape it cannot read."""


def add_parser(commands) -> None:
    """Add ``inspect`` to the ``graphc`` command's subparsers."""
    parser = commands.add_parser(
        "inspect", help="show one of your functions traced, differentiated, optimized or compiled",
        description="Show FUNCTION from FILE.py at one stage of graphc's pipeline, as a listing, DOT or SVG.")
    parser.add_argument("target", metavar="FILE.py:FUNCTION", help="the file and the function's name in it")
    values = parser.add_mutually_exclusive_group()
    values.add_argument("--args", metavar="VALUES",
                        help='example arguments as Python literals, as in a call: "3.0, -4.0" or "[1.0, 2.0], 0.5"')
    values.add_argument("--shapes", metavar="SPEC",
                        help='random (seeded) arrays by parameter: "x=f64[256,64] y=f32[10] s=f64[]"; '
                             f"dtypes {', '.join(DTYPES)}")
    parser.add_argument("--seed", type=int, default=0, help="seed of the random arrays of --shapes (default 0)")
    parser.add_argument("--grad", metavar="ARGNUMS",
                        help='differentiate with respect to these arguments: "0" or "0,1"')
    parser.add_argument("--stage", choices=STAGES,
                        help="what to show (default: grad with --grad, else traced)")
    parser.add_argument("--dot", metavar="OUT.dot", help="also write the graph as Graphviz DOT ('-': stdout only)")
    parser.add_argument("--svg", metavar="OUT.svg", help="also render the graph to SVG with Graphviz's dot")


def run(args) -> int:
    """``graphc inspect``; returns the exit status (2 for bad input, with one line on stderr)."""
    try:
        return _inspect(args)
    except GraphcError as error:
        print(f"graphc inspect: error: {_one_line(str(error))}", file=sys.stderr)
        return 2


def _one_line(text: str) -> str:
    return "; ".join(line.strip() for line in text.strip().splitlines() if line.strip())


def _inspect(args) -> int:
    if args.svg and shutil.which("dot") is None:
        raise InspectError(NO_DOT)  # before any work: the user learns at once what to install
    fun, path = load_function(args.target)
    argnums = parse_argnums(args.grad) if args.grad is not None else None
    stage = args.stage or ("grad" if argnums is not None else "traced")
    if args.args is not None:
        values = parse_args(args.args)
    elif args.shapes is not None:
        values = random_arguments(fun, parse_shapes(args.shapes), args.seed)
    else:
        values = _no_arguments(fun)
    graph, text = _stage(fun, path, values, stage, argnums)
    name = getattr(fun, "__name__", "graphc")
    if args.dot == "-":
        print(graph.to_dot(name))
    else:
        print(text)
    if args.dot and args.dot != "-":
        _write(args.dot, graph.to_dot(name))
    if args.svg:
        _render_svg(graph.to_dot(name), args.svg)
    return 0


# ---- loading ---------------------------------------------------------------------------------------
def load_function(target: str):
    """``FILE.py:FUNCTION`` -> (the function, the file's absolute path); the file is imported as a module."""
    path, sep, name = target.rpartition(":")
    if not sep or not path or not name:
        raise InspectError(f"expected FILE.py:FUNCTION, got {target!r}")
    if not os.path.isfile(path):
        raise InspectError(f"no such file: {path}")
    path = os.path.abspath(path)
    module_name = "graphc_inspect_" + re.sub(r"\W", "_", os.path.splitext(os.path.basename(path))[0])
    spec = importlib.util.spec_from_file_location(module_name, path)
    if spec is None or spec.loader is None:
        raise InspectError(f"cannot import {path}: not a Python file")
    module = importlib.util.module_from_spec(spec)
    sys.modules[module_name] = module  # dataclasses and pickling look their module up there
    sys.path.insert(0, os.path.dirname(path))  # as `python FILE.py` would: sibling modules import
    try:
        spec.loader.exec_module(module)
    except SyntaxError as error:
        raise InspectError(f"{path}:{error.lineno}: syntax error: {error.msg}") from None
    except (Exception, SystemExit) as error:
        raise InspectError(f"importing {path} raised {_describe(error, path)}") from None
    fun = module
    for part in name.split("."):
        if not hasattr(fun, part):
            defined = sorted(k for k, v in vars(module).items()
                             if inspect.isfunction(v) and v.__module__ == module_name)
            raise InspectError(f"{path} has no function {name!r}; it defines: {', '.join(defined) or 'none'}")
        fun = getattr(fun, part)
    if not callable(fun):
        raise InspectError(f"{name} in {path} is not a function (it is {type(fun).__name__})")
    return fun, path


def _describe(error: BaseException, path: str) -> str:
    """``ValueError: message (model.py:12)``, the location being the last frame in the user's file."""
    where = ""
    for frame in traceback.extract_tb(error.__traceback__):
        if os.path.abspath(frame.filename) == path:
            where = f" ({os.path.basename(path)}:{frame.lineno})"
    return f"{type(error).__name__}: {_one_line(str(error)) or '(no message)'}{where}"


# ---- arguments -------------------------------------------------------------------------------------
def parse_args(text: str) -> tuple:
    """``"3.0, -4.0"`` -> ``(3.0, -4.0)``: an argument list as in a call, Python literals only.

    Parsed with ``ast`` and ``ast.literal_eval``, never evaluated: lists, tuples and dicts are pytrees,
    as graphc treats them (use --shapes for arrays).
    """
    try:
        call = ast.parse(f"f({text})", mode="eval").body
    except SyntaxError:
        call = None
    if not isinstance(call, ast.Call) or call.keywords or any(isinstance(a, ast.Starred) for a in call.args):
        raise InspectError(f"--args {text!r} is not an argument list; write positional Python literals "
                           'separated by commas, like "3.0, -4.0"')
    values = []
    for node in call.args:
        try:
            values.append(ast.literal_eval(node))
        except ValueError:
            raise InspectError(f"--args: {ast.unparse(node)!r} is not a Python literal; use numbers, lists, "
                               "tuples and dicts of them (or --shapes for random arrays)") from None
    return tuple(values)


_SHAPE = re.compile(r"\s*(?:(\w+)\s*=\s*)?(\w+)\[([\d\s,]*)\]\s*,?\s*")


def parse_shapes(text: str) -> list[tuple[str | None, np.dtype, tuple]]:
    """``"x=f64[256,64] y=f32[10]"`` -> ``[("x", float64, (256, 64)), ("y", float32, (10,))]``."""
    specs, pos = [], 0
    while pos < len(text):
        match = _SHAPE.match(text, pos)
        if match is None or match.end() == pos:
            raise InspectError(f"--shapes: cannot read {text[pos:].strip()!r}; write NAME=DTYPE[DIMS] "
                               'separated by spaces, like "x=f64[256,64] s=f64[]"')
        name, dtype_name, dims = match.groups()
        if dtype_name not in DTYPES:
            raise InspectError(f"--shapes: unknown dtype {dtype_name!r}; use one of {', '.join(DTYPES)}")
        shape = tuple(int(d) for d in dims.replace(" ", "").split(",") if d)
        specs.append((name, np.dtype(DTYPES[dtype_name]), shape))
        pos = match.end()
    if not specs:
        raise InspectError("--shapes is empty; write NAME=DTYPE[DIMS] for each parameter")
    if len({name is None for name, _, _ in specs}) > 1:
        raise InspectError("--shapes: name every array (x=f64[3]) or none of them (f64[3]), not some")
    return specs


def random_arguments(fun, specs: list, seed: int) -> tuple:
    """Seeded random arrays for ``specs``, in the order of ``fun``'s parameters."""
    rng = np.random.default_rng(seed)
    if specs[0][0] is not None:
        specs = _order_by_parameters(fun, specs)
    arrays = []
    for _, dtype, shape in specs:
        if dtype.kind == "f":
            arrays.append(rng.standard_normal(shape).astype(dtype))
        elif dtype.kind == "b":
            arrays.append(rng.random(shape) < 0.5)
        else:
            arrays.append(rng.integers(-5, 6, shape).astype(dtype))
    return tuple(np.asarray(a) for a in arrays)


def _positional(fun) -> list:
    try:
        return [p for p in inspect.signature(fun).parameters.values()
                if p.kind in (p.POSITIONAL_ONLY, p.POSITIONAL_OR_KEYWORD)]
    except (TypeError, ValueError):
        return []


def _order_by_parameters(fun, specs: list) -> list:
    by_name = {name: (name, dtype, shape) for name, dtype, shape in specs}
    ordered = []
    for param in _positional(fun):
        if param.name in by_name:
            ordered.append(by_name.pop(param.name))
        elif param.default is inspect.Parameter.empty:
            raise InspectError(f"--shapes gives no array for parameter {param.name!r} of {fun.__name__}")
        else:
            break  # the rest keep their defaults
    if by_name:
        names = ", ".join(p.name for p in _positional(fun)) or "none"
        raise InspectError(f"--shapes names {', '.join(map(repr, by_name))}, which {fun.__name__} does not take "
                           f"before a defaulted parameter (its parameters: {names})")
    return ordered


def _no_arguments(fun) -> tuple:
    required = [p.name for p in _positional(fun) if p.default is inspect.Parameter.empty]
    if required:
        raise InspectError(f"{fun.__name__} takes {', '.join(required)}; give example values with "
                           f'--args "..." or random arrays with --shapes "{required[0]}=f64[3] ..."')
    return ()


def parse_argnums(text: str):
    """``"0"`` -> ``0``; ``"0,1"`` -> ``(0, 1)`` (a tuple of gradients, as ``graphc.grad`` gives)."""
    parts = [p.strip() for p in text.strip().strip("()").split(",")]
    if not all(re.fullmatch(r"-?\d+", p) for p in parts):
        raise InspectError(f"--grad {text!r}: write argument positions, like 0 or 0,1")
    nums = tuple(int(p) for p in parts)
    return nums[0] if len(nums) == 1 and "," not in text else nums


# ---- stages ----------------------------------------------------------------------------------------
def _stage(fun, path: str, values: tuple, stage: str, argnums):
    """(the graph to draw, the text to print) for ``stage``; the user's own exceptions become one line.

    ``argnums`` is None without --grad: the grad stage then differentiates argument 0, and the optimized
    and source stages compile the function itself (``graphc.jit``).
    """
    try:
        if stage == "traced":
            graph = graphc.trace(fun, *values)
            return graph, str(graph)
        if stage == "grad":
            graph = graphc.trace(graphc.grad(fun, 0 if argnums is None else argnums), *values)
            return graph, str(graph)
        lowered = (graphc.jit(fun) if argnums is None else graphc.grad(fun, argnums)).lower(*values)
        text = f"{lowered.stats_table()}\n{lowered.graph}" if stage == "optimized" else lowered.source
        return lowered.graph, text
    except GraphcError:
        raise
    except Exception as error:
        # An exception from the user's code (not graphc's): say what and where, in one line.
        frames = traceback.extract_tb(error.__traceback__)
        if not any(os.path.abspath(f.filename) == path for f in frames):
            raise
        raise InspectError(f"{getattr(fun, '__name__', 'the function')} raised {_describe(error, path)} "
                           "while tracing") from None


def _write(path: str, text: str) -> None:
    try:
        with open(path, "w") as out:
            out.write(text + "\n")
    except OSError as error:
        raise InspectError(f"cannot write {path}: {error.strerror}") from None
    print(f"wrote {path}", file=sys.stderr)


def _render_svg(dot_text: str, path: str) -> None:
    try:
        done = subprocess.run(["dot", "-Tsvg", "-o", path], input=dot_text, text=True, capture_output=True)
    except OSError as error:
        raise InspectError(f"cannot run Graphviz's dot: {error}") from None
    if done.returncode != 0:
        raise InspectError(f"Graphviz's dot failed writing {path}: {_one_line(done.stderr) or done.returncode}")
    print(f"wrote {path}", file=sys.stderr)
