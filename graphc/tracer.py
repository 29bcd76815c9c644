"""Tracing: run a Python + NumPy function on Tracers and record every primitive it applies.

A :class:`Tracer` stands for one node of a graph being built. Python operators, NumPy ufuncs
(``__array_ufunc__``) and NumPy functions (``__array_function__``) on it all end in
:func:`graphc.ops.apply`, which calls :meth:`Tracer._bind` to append a node. Anything that
would need the concrete value (``if x > 0:``, ``float(x)``, ``np.asarray(x)``) raises an error
that names the user's ``file:line``.
"""
from __future__ import annotations

import contextlib
import inspect
import math
import threading
import weakref

import numpy as np

from graphc.dims import Dim, argument_shape, new_scope, substitute
from graphc.errors import (
    EscapedTracerError, SignatureError, TracerBoolConversionError, TracerConversionError, TracingError,
    UnsizedTracerError,
    user_frame,
)
from graphc.graph import Graph, type_name
from graphc.ops import NUMPY_API, REGISTRY, Aval, Results, apply, unsupported
from graphc.ops.shape import normalize_index
from graphc.tree import TreeDef, tree_flatten, tree_unflatten


class _BuildState:
    """What nodes appended now are marked with (the primal of an adjoint rule)."""

    def __init__(self):
        self.adjoint_of: int | None = None


# Graphs currently being built; a Tracer of any other graph has escaped its trace.
_open: "weakref.WeakKeyDictionary[Graph, _BuildState]" = weakref.WeakKeyDictionary()
# Per thread, the graphs being built, innermost last: new nodes go to the innermost one.
_local = threading.local()


def _stack() -> list:
    stack = getattr(_local, "stack", None)
    if stack is None:
        stack = _local.stack = []
    return stack


def current_graph() -> Graph | None:
    """The innermost graph being built on this thread (where traced ops append nodes), or None."""
    stack = _stack()
    return stack[-1] if stack else None


@contextlib.contextmanager
def building(graph: Graph):
    """Allow Tracers of ``graph`` to append nodes inside the block; ``graph`` is the innermost one."""
    _open[graph] = state = _BuildState()
    stack = _stack()
    stack.append(graph)
    try:
        yield state
    finally:
        stack.pop()
        del _open[graph]


def _scalar_constant_dtype(value, tracer_dtypes) -> np.dtype:
    # Python scalars are "weak" (NEP 50): float32 array * 2.0 stays float32.
    return np.result_type(*tracer_dtypes, value) if tracer_dtypes else np.asarray(value).dtype


def add_constant(graph: Graph, value, adjoint_of: int | None = None) -> int:
    """Append a constant node holding a private, read-only copy of ``value``."""
    value = np.array(value)  # a copy: later changes to the user's array do not reach the graph
    value.flags.writeable = False
    return graph.add_node("constant", shape=value.shape, dtype=value.dtype, value=value, adjoint_of=adjoint_of)


class Tracer:
    """A symbolic array: one node of the graph being traced. Supports the NumPy surface of API.md."""

    __slots__ = ("graph", "node")
    __array_priority__ = 1000

    def __init__(self, graph: Graph, node: int):
        self.graph = graph
        self.node = node

    # ---- what is known without data ------------------------------------------------------------
    @property
    def shape(self) -> tuple:
        return self.graph[self.node]["shape"]

    @property
    def dtype(self) -> np.dtype:
        return self.graph[self.node]["dtype"]

    @property
    def ndim(self) -> int:
        return len(self.shape)

    @property
    def size(self) -> int:
        return math.prod(self.shape)  # a Dim when the sizes are (graphc.dims)

    def __repr__(self):
        return f"Tracer<%{self.node} {self.graph[self.node]['op']} : {type_name(self.shape, self.dtype)}>"

    # ---- recording -----------------------------------------------------------------------------
    def _bind(self, name: str, operands, attrs):
        graph = current_graph()
        state = _open.get(graph) if graph is not None else None
        if state is None or self.graph not in _open:
            raise EscapedTracerError(
                f"a traced value (%{self.node}) was used in '{name}' after its function finished tracing; "
                "return it from the function instead of keeping it", user_frame())
        dtypes = [o.dtype for o in operands if isinstance(o, (Tracer, np.ndarray, np.generic))]
        ids = []
        for operand in operands:
            if isinstance(operand, Tracer):
                if operand.graph not in _open:
                    raise EscapedTracerError(
                        f"a traced value (%{operand.node}) was used in '{name}' after its function finished "
                        "tracing; return it from the function instead of keeping it", user_frame())
                if operand.graph is graph:
                    ids.append(operand.node)
                elif graph.encloses(operand.graph):  # a loop body reading a value of the enclosing function
                    ids.append(graph.capture(operand.graph, operand.node))
                else:
                    raise TracingError(
                        f"'{name}' mixes values from two different traces; a value traced by an outer "
                        "transformation was captured by an inner one — pass it as an argument", user_frame())
            elif isinstance(operand, Dim):  # a size of an argument (np.mean's count): read at run time
                dtype = _scalar_constant_dtype(int(operand), dtypes)
                ids.append(graph.add_node("dim", shape=(), dtype=dtype, attrs={"size": operand, "dtype": dtype.str},
                                          adjoint_of=state.adjoint_of))
            elif isinstance(operand, (bool, int, float)) and not isinstance(operand, np.generic):
                value = np.asarray(operand, _scalar_constant_dtype(operand, dtypes))
                ids.append(add_constant(graph, value, state.adjoint_of))
            else:
                ids.append(add_constant(graph, _as_constant_array(operand, name), state.adjoint_of))
        opdef = REGISTRY[name]
        aval = opdef.shape(*(graph.aval(i) for i in ids), **attrs)
        loc = user_frame()
        if isinstance(aval, Results):  # several results: one unpack node reads each
            node = graph.add_node(name, ids, shape=Results.SHAPE, dtype=Results.DTYPE, attrs=attrs,
                                  results=aval, adjoint_of=state.adjoint_of, loc=loc)
            return tuple(Tracer(graph, graph.add_node("unpack", [node], shape=r.shape, dtype=r.dtype,
                                                      attrs={"index": i}, adjoint_of=state.adjoint_of, loc=loc))
                         for i, r in enumerate(aval))
        node = graph.add_node(name, ids, shape=aval.shape, dtype=aval.dtype, attrs=attrs,
                              adjoint_of=state.adjoint_of, loc=loc)
        return Tracer(graph, node)

    # ---- Python operators ----------------------------------------------------------------------
    def __add__(self, other): return apply("add", self, other)
    def __radd__(self, other): return apply("add", other, self)
    def __sub__(self, other): return apply("subtract", self, other)
    def __rsub__(self, other): return apply("subtract", other, self)
    def __mul__(self, other): return apply("multiply", self, other)
    def __rmul__(self, other): return apply("multiply", other, self)
    def __truediv__(self, other): return apply("divide", self, other)
    def __rtruediv__(self, other): return apply("divide", other, self)
    def __pow__(self, other): return apply("power", self, other)
    def __rpow__(self, other): return apply("power", other, self)
    def __mod__(self, other): return np.remainder(self, other)
    def __rmod__(self, other): return np.remainder(other, self)
    def __matmul__(self, other): return np.matmul(self, other)
    def __rmatmul__(self, other): return np.matmul(other, self)
    def __neg__(self): return apply("negative", self)
    def __pos__(self): return self
    def __abs__(self): return apply("absolute", self)
    def __lt__(self, other): return apply("less", self, other)
    def __le__(self, other): return apply("less_equal", self, other)
    def __gt__(self, other): return apply("greater", self, other)
    def __ge__(self, other): return apply("greater_equal", self, other)
    def __eq__(self, other): return apply("equal", self, other)  # noqa: E704 -- elementwise, as NumPy
    def __ne__(self, other): return apply("not_equal", self, other)
    __hash__ = None  # like ndarray: == is elementwise, so a tracer is no dict key

    def __floordiv__(self, other): return np.floor_divide(self, other)
    def __rfloordiv__(self, other): return np.floor_divide(other, self)
    def __divmod__(self, other): return np.divmod(self, other)
    def __rdivmod__(self, other): return np.divmod(other, self)

    # On booleans (masks): the logical ops (graphc.ops.elementwise); integers are refused there.
    def __and__(self, other): return np.bitwise_and(self, other)
    def __rand__(self, other): return np.bitwise_and(other, self)
    def __or__(self, other): return np.bitwise_or(self, other)
    def __ror__(self, other): return np.bitwise_or(other, self)
    def __xor__(self, other): return np.bitwise_xor(self, other)
    def __rxor__(self, other): return np.bitwise_xor(other, self)
    def __invert__(self): return np.invert(self)

    # ---- NumPy protocols -----------------------------------------------------------------------
    def __array_ufunc__(self, ufunc, method, *inputs, **kwargs):
        if method == "reduce" and ufunc in _REDUCERS:
            return NUMPY_API[_REDUCERS[ufunc]](*inputs, **kwargs)
        if method != "__call__":
            raise unsupported(f"np.{ufunc.__name__}.{method}")
        if kwargs.get("out") is not None or any(k not in ("out", "dtype") for k in kwargs):
            raise unsupported(f"np.{ufunc.__name__} with keyword arguments {sorted(kwargs)}")
        handler = NUMPY_API.get(ufunc)
        if handler is None:
            from graphc.ops.special import scipy_ufunc_handler  # registered once SciPy is in use

            handler = scipy_ufunc_handler(ufunc)
        if handler is None:
            owner = "NumPy ufunc np" if getattr(np, ufunc.__name__, None) is ufunc else "ufunc scipy.special"
            raise unsupported(f"the {owner}.{ufunc.__name__}", "see the README's table of supported operations")
        result = handler(*inputs)
        if kwargs.get("dtype") is not None:
            result = apply("astype", result, dtype=np.dtype(kwargs["dtype"]).str)
        return result

    def __array_function__(self, func, types, args, kwargs):
        handler = NUMPY_API.get(func)
        if handler is None:
            module = getattr(func, "__module__", None) or "numpy"
            # np.linalg.inv, np.fft.fft: name the function as users spell it.
            prefix = "np" + module[len("numpy"):] if module.startswith("numpy") else module
            raise unsupported(f"the NumPy function {prefix}.{func.__name__}",
                              "see the README's table of supported operations")
        return handler(*args, **kwargs)

    def __array__(self, dtype=None, copy=None):
        raise TracerConversionError(
            f"a traced value ({type_name(self.shape, self.dtype)}) cannot become a concrete NumPy array "
            "(np.array, np.asarray); " + (_scipy_hint() or "to build an array from traced values use np.stack, "
                                          "np.concatenate or graphc.numpy.array([...])"),
            user_frame())

    # ---- conversions that need data ------------------------------------------------------------
    def __bool__(self):
        raise TracerBoolConversionError(
            f"Python control flow (`if`, `while`, `and`/`or`, bool()) on a traced value "
            f"({type_name(self.shape, self.dtype)}) cannot be traced; use np.where(cond, a, b)", user_frame())

    def _conversion(kind):
        def method(self):
            raise TracerConversionError(
                f"{kind}() of a traced value ({type_name(self.shape, self.dtype)}) needs its concrete value, "
                "which does not exist while tracing; keep it an array (use np.where for choices)", user_frame())
        return method

    __float__ = _conversion("float")
    __int__ = _conversion("int")
    __complex__ = _conversion("complex")
    __index__ = _conversion("operator.index")
    item = _conversion("x.item")
    tolist = _conversion("x.tolist")
    del _conversion

    def __len__(self):
        if not self.shape:
            raise UnsizedTracerError("len() of a 0-d traced value", user_frame())
        return self.shape[0]

    def __iter__(self):
        return (self[i] for i in range(len(self)))

    def __getitem__(self, index):
        if any(isinstance(e, (Tracer, list, np.ndarray)) for e in (index if isinstance(index, tuple) else (index,))):
            from graphc.ops.gather import advanced_index  # integer arrays, constant masks, traced indices
            return advanced_index(self, index)
        return apply("getitem", self, index=normalize_index(index, self.shape))

    def __setitem__(self, index, value):
        raise unsupported("assignment into a traced array (x[i] = v)",
                          "build the result with np.where, np.concatenate or np.stack")

    # ---- array methods -------------------------------------------------------------------------
    T = property(lambda self: np.transpose(self))

    def sum(self, axis=None, dtype=None, keepdims=False): return np.sum(self, axis=axis, dtype=dtype, keepdims=keepdims)
    def mean(self, axis=None, dtype=None, keepdims=False): return np.mean(self, axis=axis, dtype=dtype, keepdims=keepdims)
    def max(self, axis=None, keepdims=False): return np.max(self, axis=axis, keepdims=keepdims)
    def min(self, axis=None, keepdims=False): return np.min(self, axis=axis, keepdims=keepdims)
    def dot(self, other): return np.dot(self, other)
    def squeeze(self, axis=None): return np.squeeze(self, axis)

    def reshape(self, *shape, order="C"):
        return np.reshape(self, shape[0] if len(shape) == 1 else shape, order=order)

    def transpose(self, *axes):
        return np.transpose(self, axes[0] if len(axes) == 1 else (axes or None))

    def astype(self, dtype):
        return apply("astype", self, dtype=np.dtype(dtype).str)

    # Methods that are NumPy functions under another spelling (registered by the op families).
    def prod(self, axis=None, keepdims=False): return np.prod(self, axis=axis, keepdims=keepdims)
    def var(self, axis=None, ddof=0, keepdims=False): return np.var(self, axis=axis, ddof=ddof, keepdims=keepdims)
    def std(self, axis=None, ddof=0, keepdims=False): return np.std(self, axis=axis, ddof=ddof, keepdims=keepdims)
    def cumsum(self, axis=None): return np.cumsum(self, axis=axis)
    def cumprod(self, axis=None): return np.cumprod(self, axis=axis)
    def argmax(self, axis=None): return np.argmax(self, axis=axis)
    def argmin(self, axis=None): return np.argmin(self, axis=axis)
    def clip(self, min=None, max=None): return np.clip(self, min, max)
    def ravel(self): return np.ravel(self)
    def flatten(self): return np.ravel(self)
    def repeat(self, repeats, axis=None): return np.repeat(self, repeats, axis=axis)
    def swapaxes(self, axis1, axis2): return np.swapaxes(self, axis1, axis2)
    def trace(self, offset=0, axis1=0, axis2=1): return np.trace(self, offset, axis1, axis2)
    def diagonal(self, offset=0, axis1=0, axis2=1): return np.diagonal(self, offset, axis1, axis2)
    def take(self, indices, axis=None): return np.take(self, indices, axis=axis)
    def conj(self): return np.conj(self)
    conjugate = conj
    def round(self, decimals=0): return np.round(self, decimals)
    def any(self, axis=None, keepdims=False): return np.any(self, axis=axis, keepdims=keepdims)
    def all(self, axis=None, keepdims=False): return np.all(self, axis=axis, keepdims=keepdims)

    def copy(self, order="C"):
        return self  # traced values are immutable: a copy is the value itself
    real = property(lambda self: np.real(self))
    imag = property(lambda self: np.imag(self))


_REDUCERS = {np.add: np.sum, np.maximum: np.max, np.minimum: np.min}


def _scipy_hint() -> str | None:
    """Where SciPy's own code made the conversion (its functions call np.asarray on their input), the
    traceable function of graphc.scipy to call instead, or where to look for one."""
    frame, outermost = inspect.currentframe(), None
    while frame is not None:
        module = frame.f_globals.get("__name__", "")
        if module == "scipy" or module.startswith("scipy."):
            outermost = frame  # the SciPy function the user called is the outermost SciPy frame
        frame = frame.f_back
    if outermost is None:
        return None
    package = ".".join(outermost.f_globals["__name__"].split(".")[:2])  # scipy.special._logsumexp -> scipy.special
    name = outermost.f_code.co_name
    owner = outermost.f_locals.get("self")
    if owner is not None:  # a method: scipy.stats.norm.logpdf is norm_gen.logpdf of the instance norm
        name = f"{type(owner).__name__.removesuffix('_gen')}.{name}"
    import importlib

    try:
        found = importlib.import_module("graphc." + package)
        for part in name.split("."):
            found = getattr(found, part)
    except (ImportError, AttributeError):
        found = None
    if callable(found):
        return f"{package}.{name} converts its input with NumPy; graphc.{package}.{name} traces it"
    return f"SciPy's {package}.{name} converts its input with NumPy; graphc.scipy has the SciPy functions graphc traces"


def _as_constant_array(value, where: str) -> np.ndarray:
    try:
        array = np.asarray(value)
    except TracerConversionError:
        raise
    except Exception:  # noqa: BLE001 -- anything NumPy cannot convert is the user's to fix
        array = None
    if array is None or array.dtype == object or array.dtype.kind not in "biuf":
        raise TracingError(f"'{where}' got {type(value).__name__} {value!r:.60}, which is not a number or array",
                           user_frame())
    return array


# ---- tracing a function ------------------------------------------------------------------------
def aval_of(value, label: str) -> Aval:
    """The abstract value of a call argument; a clear error for anything that is not numeric."""
    if isinstance(value, Tracer):
        return Aval(value.shape, value.dtype)
    if isinstance(value, (bool, int, float, np.generic, np.ndarray)):
        array = np.asarray(value)
        if array.dtype.kind in "biuf":
            return Aval(array.shape, array.dtype)
    raise SignatureError(f"argument {label} is {type(value).__name__} {value!r:.60}; graphc traces "
                         "arrays and numbers (in tuples, lists and dicts)")


class Static:
    """A call argument that is part of the compile signature instead of an input: the traced function
    sees the value itself (``range(n)``, an einsum subscript, a flag). Made for ``static_argnums`` /
    ``static_argnames``; strings and callables are static without asking."""

    __slots__ = ("value",)

    def __init__(self, value):
        self.value = value

    def __eq__(self, other):
        return type(other) is Static and type(other.value) is type(self.value) and other.value == self.value

    def __hash__(self):
        return hash((type(self.value), self.value))

    def __repr__(self):
        return f"Static({self.value!r})"


def is_static(leaf) -> bool:
    """Whether a pytree leaf of a call is static: marked so, a string, or a callable (a function, a
    dtype such as ``np.float32``); such leaves cannot be traced anyway."""
    return isinstance(leaf, (Static, str)) or (callable(leaf) and not isinstance(leaf, (Tracer, np.ndarray)))


def static_value(leaf):
    return leaf.value if isinstance(leaf, Static) else leaf


def flatten_call(args: tuple, kwargs: dict | None = None) -> tuple[list, TreeDef]:
    """The leaves and structure of a call: the positional arguments, then the keywords (if any)."""
    return tree_flatten((tuple(args), dict(kwargs)) if kwargs else tuple(args))


def split_static(leaves: list) -> tuple[list, tuple]:
    """The dynamic leaves of a call, and its static ones as ``((position, value), ...)`` (hashable)."""
    dynamic, static = [], []
    for i, leaf in enumerate(leaves):
        if is_static(leaf):
            value = static_value(leaf)
            try:
                hash(value)
            except TypeError:
                raise SignatureError(f"static argument {value!r:.60} is not hashable; a static value is part of the "
                                     "compile signature, so pass a tuple instead of a list, or make it traced") from None
            static.append((i, type(value), value))
        else:
            dynamic.append(leaf)
    return dynamic, tuple(static)


def argument_labels(fun, leaves_per_arg: list[list[str]], keywords: dict | None = None) -> list[str]:
    """Names for the inputs: the parameter names, with pytree paths for nested arguments; keyword
    arguments by their keyword."""
    try:
        params = [p.name for p in inspect.signature(fun).parameters.values()
                  if p.kind in (p.POSITIONAL_ONLY, p.POSITIONAL_OR_KEYWORD)]
    except (TypeError, ValueError):
        params = []
    labels = []
    for i, paths in enumerate(leaves_per_arg):
        base = params[i] if i < len(params) else f"arg{i}"
        labels += [base + p for p in paths]
    for name in sorted(keywords or {}):
        labels += [name + p for p in _leaf_paths(keywords[name])]
    return labels


def _leaf_paths(tree) -> list[str]:
    if isinstance(tree, (tuple, list)):
        return [f"[{i}]{p}" for i, t in enumerate(tree) for p in _leaf_paths(t)]
    if isinstance(tree, dict):
        return [f"[{k!r}]{p}" for k in sorted(tree) for p in _leaf_paths(tree[k])]
    return [] if tree is None else [""]


def check_arity(fun, args: tuple, kwargs: dict | None = None) -> None:
    """A clear error, before tracing, when ``fun`` cannot take ``len(args)`` positional arguments."""
    try:
        signature = inspect.signature(fun)
    except (TypeError, ValueError):
        return  # builtins and the like: Python will say it
    try:
        signature.bind(*args, **(kwargs or {}))
    except TypeError as error:
        name = getattr(fun, "__qualname__", getattr(fun, "__name__", "the function"))
        given = f"{len(args)} positional argument{'s' if len(args) != 1 else ''}"
        if kwargs:
            given += f" and keywords {sorted(kwargs)}"
        raise SignatureError(f"{name}{signature} cannot be called with {given}: {error}") from None


def argument_inputs(graph: Graph, leaves: list, labels: list) -> list:
    """An input node of ``graph`` for each dynamic leaf of a call, named by its label, its sizes read
    from the argument at run time (:func:`graphc.dims.argument_shape`). Returns the leaves as tracers of
    those inputs, static ones as their values."""
    values = []
    for leaf, label in zip(leaves, labels):
        if is_static(leaf):
            values.append(static_value(leaf))
            continue
        aval = aval_of(leaf, repr(label))
        node = graph.add_node("input", shape=aval.shape, dtype=aval.dtype, name=label)
        graph[node]["shape"] = argument_shape(aval.shape, graph.dim_scope, node)
        graph.inputs.append(node)
        values.append(Tracer(graph, node))
    return values


def trace_function(fun, args: tuple, kwargs: dict | None = None, parent: Graph | None = None) -> Graph:
    """Trace ``fun(*args, **kwargs)`` into a new Graph whose inputs are the dynamic leaves of the
    call (static ones, see :func:`is_static`, reach ``fun`` as their values). With ``parent`` (a graph
    being built), values of it that ``fun`` reads become inputs too, listed in ``graph.captures``."""
    kwargs = kwargs or {}
    check_arity(fun, args, kwargs)
    leaves, in_tree = flatten_call(args, kwargs)
    labels = argument_labels(fun, [_leaf_paths(a) for a in args], kwargs)
    graph = Graph()
    graph.parent = parent
    graph.in_tree = in_tree
    graph.dim_scope = new_scope()
    with building(graph):
        rebuilt = tree_unflatten(in_tree, argument_inputs(graph, leaves, labels))
        call_args, call_kwargs = (rebuilt[0], rebuilt[1]) if kwargs else (rebuilt, {})
        result = fun(*call_args, **call_kwargs)
        out_leaves, graph.out_tree = tree_flatten(result)
        if result is None or not out_leaves:
            raise TracingError(f"{getattr(fun, '__name__', 'the function')} returned {result!r}; "
                               "a traced function must return an array, a number or a pytree of them")
        for leaf in out_leaves:
            if isinstance(leaf, Tracer):
                if leaf.graph is not graph and not (parent is not None and graph.encloses(leaf.graph)):
                    raise EscapedTracerError("the function returned a value traced by another transformation")
                graph.outputs.append(leaf.node if leaf.graph is graph else graph.capture(leaf.graph, leaf.node))
            else:
                graph.outputs.append(add_constant(graph, _as_constant_array(leaf, "return")))
    return graph


def inline(graph: Graph, args: list) -> list:
    """Replay ``graph`` on ``args`` (tracers of the graph being built); returns its outputs there.

    Sizes in the replayed nodes' attributes (a slice's bound, a scatter's shape) that ``graph`` read from
    its own arguments are read from ``args``' instead, so the kernel stays shape-generic (graphc.dims)."""
    values: dict[int, object] = dict(zip(graph.inputs, args))
    sizes = {inner.form: outer for node, arg in zip(graph.inputs, args)
             for inner, outer in zip(graph[node]["shape"], arg.shape if isinstance(arg, Tracer) else np.shape(arg))
             if isinstance(inner, Dim) and inner.form[0] == "arg"}
    for node in graph.topo_order():
        data = graph[node]
        if data["op"] == "constant":
            values[node] = data["value"]
        elif data["op"] == "unpack":  # the replayed node of several results gave all of them at once
            values[node] = values[graph.operands(node)[0]][data["attrs"]["index"]]
        elif data["op"] != "input":
            attrs = substitute(data["attrs"], sizes) if sizes else data["attrs"]
            values[node] = apply(data["op"], *(values[u] for u in graph.operands(node)), **attrs)
    return [values[n] for n in graph.outputs]
