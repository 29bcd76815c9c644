"""The public transformations: jit, grad, value_and_grad, hessian, and trace.

Each returns a :class:`CompiledFunction`. On the first call for an argument signature
(pytree structure, shapes and dtypes) it traces the function, differentiates it if asked,
optimizes and compiles the graph, and keeps the result; later calls with the same signature
reuse it. Called on tracers (inside another transformation) it inlines its graph instead,
which is how ``grad(grad(f))`` works.
"""
from __future__ import annotations

import dataclasses
import functools
import threading
import time
from typing import Callable

import numpy as np

from graphc.errors import ArgumentShapeError, DifferentiationError, GraphcError, SignatureError
from graphc.graph import Graph, type_name
from graphc.tracer import Static, Tracer, aval_of, flatten_call, inline, is_static, split_static, trace_function
from graphc.tree import LEAF, TreeDef, tree_flatten, tree_unflatten
from graphc.passes import DEFAULT_PIPELINE, PassStats, run_pipeline
from graphc.passes.autodiff import differentiate
from graphc.codegen.compile import add_specialization, build_kernel, specialize
from graphc.runner import array_key, make_router, make_runner

def _normalize_argnums(argnums, nargs: int, name: str) -> tuple[int, ...]:
    many = isinstance(argnums, (tuple, list))
    nums = tuple(argnums) if many else (argnums,)
    if not nums or not all(isinstance(i, int) and not isinstance(i, bool) for i in nums):
        raise GraphcError(f"{name}: argnums must be an int or a non-empty tuple of ints, got {argnums!r}")
    out = []
    for i in nums:
        if not -nargs <= i < nargs:
            raise GraphcError(f"{name}: argnums {argnums!r} is out of range for a call with {nargs} "
                              f"positional argument{'s' if nargs != 1 else ''}")
        out.append(i % nargs)
    return tuple(out)


def signature_key(leaves: list, tree: TreeDef) -> tuple:
    """What a compiled function is specialised on: structure, shapes and dtypes, not values."""
    return (tree, tuple((np.shape(leaf), np.result_type(leaf) if not isinstance(leaf, Tracer) else leaf.dtype)
                        for leaf in leaves))


@dataclasses.dataclass
class Lowered:
    """What runs for one argument signature.

    Attributes:
        graph: the graph that was compiled (forward, plus adjoint nodes for gradients).
        source: the generated Numba source.
        stats: a :class:`PassStats` per stage: tracing, each optimization pass, code generation.
        dispatcher: the compiled ``numba`` dispatcher. Call it with the flattened argument leaves in
            order (``graphc.tree_flatten(args)[0]``), 0-d values as scalars, each with the shape and
            dtype it was lowered for (another shape raises ``ArgumentShapeError``, another dtype
            ``TypeError``). When the results are arrays, scalars and (nested) tuples it returns them in
            that structure, e.g. ``(value, (gx, gy))`` for ``value_and_grad(f, argnums=(0, 1))``;
            with lists or dicts among the results it returns the flat tuple of result leaves. It can
            be called from the user's own ``@numba.njit`` functions.
        path: the generated module's file in the disk cache, or None when compiled in memory.
        traced: the graph before optimization.
    """

    graph: Graph
    source: str
    stats: list
    dispatcher: object
    path: str | None = None
    traced: Graph | None = None

    def stats_table(self) -> str:
        """The stages as a table: name, nodes before -> after, milliseconds."""
        return "\n".join(str(s) for s in self.stats)


def _kernel_args(leaves: list) -> list:
    """Call arguments for a kernel: 0-d arrays become scalars (Numba's scalar types)."""
    return [leaf[()] if type(leaf) is np.ndarray and leaf.ndim == 0 else leaf for leaf in leaves]


# What a kernel raises for a call it was not compiled for: another shape, another dtype.
_REFUSED = (ArgumentShapeError, TypeError)

# Leaf types whose type alone fixes shape and dtype: a call made only of these is keyed by types.
_SCALAR_TYPES = frozenset({float, int, bool, np.float64, np.float32, np.float16, np.int64, np.int32,
                           np.int16, np.int8, np.uint8, np.bool_})


class CompiledFunction(functools.partial):
    """What :func:`jit`, :func:`grad` and :func:`value_and_grad` return: call it like the function.

    ``lower(*args)`` shows the graph, source and statistics for those arguments. It pickles as the
    optimized graphs of the signatures it has compiled (not the Python function), so it can be sent
    to other processes, which load the machine code from their disk cache or compile it once.
    (A ``functools.partial`` underneath: called from C, it adds less than a Python ``__call__``.)
    """

    def __reduce__(self):
        return _unpickle_transformed, (self.__graphc_transform__.__getstate__(),)

    def __repr__(self):
        return repr(self.__graphc_transform__)


def _unpickle_transformed(state) -> CompiledFunction:
    transformed = Transformed.__new__(Transformed)
    transformed.__setstate__(state)
    return transformed.function()


def _example_argument(data: dict):
    """A value of a graph input's type, for compiling ahead of the first call."""
    if data["shape"] == ():
        return data["dtype"].type(0)
    return np.zeros(data["shape"], data["dtype"])


class Transformed:
    """A function made by :func:`jit`, :func:`grad` or :func:`value_and_grad`.

    Call it like the original function. ``lower(*args)`` shows what runs for those arguments.
    """

    def __init__(self, fun: Callable | None, mode: str, argnums=0, name: str | None = None,
                 static_argnums=(), static_argnames=()):
        if fun is not None and not callable(fun):
            raise GraphcError(f"{mode} needs a callable, got {type(fun).__name__}")
        self.fun = fun
        self.name = name
        self.mode = mode
        self.argnums = argnums
        self.static_argnums = _as_tuple(static_argnums, int, "static_argnums", mode)
        self.static_argnames = _as_tuple(static_argnames, str, "static_argnames", mode)
        self.pipeline = DEFAULT_PIPELINE
        # Calls with flat arguments (arrays and scalars) are found by their types, then by the arrays'
        # shapes and dtypes: type tuple -> router (or the runner itself when there are no arrays).
        self._by_type: dict = {}
        self._routes: dict = {}   # type tuple -> (router or None, table of array_key -> runner)
        self._by_tree: dict = {}  # pytree arguments: structure and every leaf's shape and dtype
        self._dispatcher_of: dict = {}  # runner -> the Numba dispatcher it calls
        self._compiled: list = []  # (where it is filed, optimized graph, 0-d array positions) per signature
        self._lock = threading.Lock()

    def __repr__(self):
        return f"<graphc.{self.mode} of {getattr(self.fun, '__qualname__', None) or self.name!r}>"

    # ---- graphs --------------------------------------------------------------------------------
    def traced_graph(self, *args, **kwargs) -> Graph:
        """The unoptimized graph this transformation runs for ``args``: forward, plus adjoints for grad."""
        if self.fun is None:
            raise SignatureError(
                f"{self!r} was unpickled without its Python function, so it runs only the signatures it was "
                "compiled for before pickling; these arguments need another one")
        args, kwargs = self.mark_static(args, kwargs)
        forward = trace_function(self.fun, args, kwargs)
        if self.mode == "jit":
            return forward
        return self._gradient_graph(forward, args)

    def mark_static(self, args: tuple, kwargs: dict) -> tuple[tuple, dict]:
        """The call with the arguments named by ``static_argnums``/``static_argnames`` wrapped as
        :class:`Static` (so they are part of the signature, not inputs)."""
        if not (self.static_argnums or self.static_argnames):
            return tuple(args), dict(kwargs)
        nums, names = set(self.static_argnums), set(self.static_argnames)
        params = _parameter_names(self.fun)
        for i in list(nums):  # a name for each static position, a position for each static name
            if -len(args) <= i < len(args):
                nums.add(i % len(args))
            if 0 <= i < len(params):
                names.add(params[i])
        nums |= {i for i, p in enumerate(params) if p in names and i < len(args)}
        wrap = lambda v: v if isinstance(v, Static) else Static(v)  # noqa: E731
        args = tuple(wrap(a) if i in nums else a for i, a in enumerate(args))
        kwargs = {k: wrap(v) if k in names else v for k, v in kwargs.items()}
        return args, kwargs

    def _gradient_graph(self, forward: Graph, args: tuple) -> Graph:
        name = self.mode
        nums = _normalize_argnums(self.argnums, len(args), name)
        for i in nums:
            if isinstance(args[i], Static):
                raise DifferentiationError(f"{name}: argnums {self.argnums!r} includes argument {i}, which is static; "
                                           "a static argument is a constant of the compiled code and has no gradient")
        if len(forward.outputs) != 1:
            raise DifferentiationError(f"{name} needs a function with one scalar output; it returned a pytree "
                                       f"{forward.out_tree!r} of {len(forward.outputs)} values")
        sizes = [sum(not is_static(leaf) for leaf in tree_flatten(a)[0]) for a in args]
        starts = np.cumsum([0] + sizes).tolist()
        wrt = []
        for i in nums:
            for node in forward.inputs[starts[i]:starts[i + 1]]:
                data = forward[node]
                if data["dtype"].kind != "f":
                    raise DifferentiationError(
                        f"{name} of argument {i} ({data.get('name')}: {type_name(data['shape'], data['dtype'])}) "
                        "needs floating-point input; pass it as a float (3.0, not 3) or cast with .astype(float)")
                wrt.append(node)
        value = forward.outputs[0]
        graph, grads = differentiate(forward, value, wrt)
        arg_trees = [tree_flatten(args[i])[1] for i in nums]
        grad_tree = arg_trees[0] if not isinstance(self.argnums, (tuple, list)) else TreeDef(
            "tuple", (), tuple(arg_trees))
        if self.mode == "value_and_grad":
            graph.outputs = [value] + grads
            graph.out_tree = TreeDef("tuple", (), (LEAF, grad_tree))
        else:
            graph.out_tree = grad_tree
        return graph

    # ---- calling -------------------------------------------------------------------------------
    def function(self) -> "CompiledFunction":
        """The public callable, with ``lower`` and the wrapped function's name and docstring."""
        by_type, slow = self._by_type, self._call

        def call(*args, **kwargs):
            # The hot path: the argument types (found at C speed) lead to the kernel, which checks
            # the shapes itself; Numba refuses other dtypes. Either refusal takes the slow path.
            if kwargs:
                return slow(args, kwargs)
            run = by_type.get(tuple(map(type, args)))
            if run is not None:
                try:
                    return run(*args)
                except _REFUSED:
                    pass
            return slow(args)

        public = CompiledFunction(call)
        if self.fun is not None:
            functools.update_wrapper(public, self.fun, updated=())
        public.lower = self.lower
        public.__graphc_transform__ = self
        return public

    def _route_table(self, types: tuple) -> dict:
        """The table of runners for flat calls with argument ``types``, made on first use."""
        entry = self._routes.get(types)
        if entry is None:
            entry = make_router(types, self._call) if np.ndarray in types else (None, {})
            self._routes[types] = entry
        return entry[1]

    def _call(self, args: tuple, kwargs: dict | None = None):
        types = tuple(map(type, args))
        statics = self.static_argnums or self.static_argnames
        if not kwargs and not statics and all(t is np.ndarray or t in _SCALAR_TYPES for t in types):
            table = self._route_table(types)
            key = array_key(args)
            run = table.get(key) or self._compile(args, {}, list(args), ("flat", types, key))
            self._publish(types)
            return self._run(run, args)
        args, kwargs = self.mark_static(args, kwargs or {})
        leaves, tree = flatten_call(args, kwargs)
        dynamic, static = split_static(leaves)
        if any(isinstance(leaf, Tracer) for leaf in dynamic):
            return self._inline(args, kwargs, dynamic)
        for i, leaf in enumerate(dynamic):
            aval_of(leaf, f"{i}")  # a clear error for objects and other non-arrays
        key = signature_key(dynamic, tree) + (static,)
        run = self._by_tree.get(key) or self._compile(args, kwargs, dynamic, ("tree", None, key))
        return self._run(run, dynamic)

    def _publish(self, types: tuple) -> None:
        # One signature for these types: straight to its (self-checking) runner; several: the router.
        router, table = self._routes[types]
        if table:
            self._by_type[types] = next(iter(table.values())) if router is None or len(table) == 1 else router

    def _run(self, run: Callable, leaves) -> object:
        try:
            return run(*leaves)
        except TypeError:
            # Numba found no compiled version for these arrays' memory layout (a transposed or
            # strided view): compile that one too, then call again.
            add_specialization(self._dispatcher_of[run], _kernel_args(list(leaves)))
            return run(*leaves)

    def _compile(self, args: tuple, kwargs: dict, leaves: list, where: tuple) -> Callable:
        with self._lock:  # two threads on a new signature compile once
            run = self._lookup(where)
            if run is None:
                lowered = self.lower(*args, **kwargs)
                zero_d = tuple(i for i, leaf in enumerate(leaves) if type(leaf) is np.ndarray and leaf.ndim == 0)
                run = self._install(where, lowered.graph, lowered.dispatcher, zero_d)
        return run

    def _lookup(self, where: tuple):
        kind, types, key = where
        return (self._route_table(types) if kind == "flat" else self._by_tree).get(key)

    def _install(self, where: tuple, graph: Graph, dispatcher, zero_d: tuple) -> Callable:
        """Make the runner for a compiled signature and file it where calls will find it."""
        kind, types, key = where
        run = make_runner(graph, dispatcher, zero_d)
        self._dispatcher_of[run] = dispatcher
        (self._route_table(types) if kind == "flat" else self._by_tree)[key] = run
        self._compiled.append((where, graph, zero_d))
        return run

    # ---- pickling: what travels is each compiled signature's optimized graph ---------------------
    def __getstate__(self):
        if not self._compiled:
            raise GraphcError(f"{self!r} has not been compiled for any arguments yet, so there is nothing to "
                              "send; call it (or .lower()) once with arguments of the shapes it will get")
        from graphc import __version__

        return {"version": __version__, "mode": self.mode, "argnums": self.argnums,
                "static_argnums": self.static_argnums, "static_argnames": self.static_argnames,
                "name": getattr(self.fun, "__qualname__", None) or self.name,
                "compiled": [(where, graph, zero_d) for where, graph, zero_d in self._compiled]}

    def __setstate__(self, state):
        from graphc import __version__

        if state.get("version") != __version__:
            raise GraphcError(f"this graphc function was pickled by graphc {state.get('version')} and cannot be "
                              f"loaded by graphc {__version__}; install the same version on both sides")
        self.__init__(None, state["mode"], state["argnums"], name=state["name"],
                      static_argnums=state["static_argnums"], static_argnames=state["static_argnames"])
        for where, graph, zero_d in state["compiled"]:
            kernel = build_kernel(graph)  # from the disk cache when this machine has it, else compiled
            specialize(kernel, [_example_argument(graph[n]) for n in graph.inputs])
            self._install(where, graph, kernel.dispatcher, zero_d)
            if where[0] == "flat":
                self._publish(where[1])

    def lower(self, *args, **kwargs) -> "Lowered":
        """Trace, differentiate and compile for ``args``; return what runs, for inspection."""
        started = time.perf_counter()
        traced = self.traced_graph(*args, **kwargs)
        stages = [PassStats("trace" if self.mode == "jit" else "trace + differentiate", 0, len(traced),
                            time.perf_counter() - started)]
        graph, pass_stats = run_pipeline(traced, self.pipeline)
        stages += pass_stats
        started = time.perf_counter()
        kernel = build_kernel(graph)
        leaves = split_static(flatten_call(*self.mark_static(args, kwargs))[0])[0]
        specialize(kernel, _kernel_args(leaves))
        stages.append(PassStats("codegen + numba", len(graph), len(graph), time.perf_counter() - started))
        return Lowered(graph=graph, source=kernel.source, stats=stages, dispatcher=kernel.dispatcher,
                       path=kernel.path, traced=traced)

    def _inline(self, args: tuple, kwargs: dict, leaves: list):
        graph = self.traced_graph(*args, **kwargs)
        return tree_unflatten(graph.out_tree, inline(graph, leaves))


def _as_tuple(value, kind: type, what: str, mode: str) -> tuple:
    values = (value,) if isinstance(value, kind) else tuple(value)
    if not all(isinstance(v, kind) and not isinstance(v, bool) for v in values):
        raise GraphcError(f"{mode}: {what} must be {'an int' if kind is int else 'a str'} or a tuple of them, "
                          f"got {value!r}")
    return values


def _parameter_names(fun) -> list[str]:
    import inspect

    try:
        return [p.name for p in inspect.signature(fun).parameters.values()
                if p.kind in (p.POSITIONAL_ONLY, p.POSITIONAL_OR_KEYWORD)]
    except (TypeError, ValueError):
        return []


def jit(fun: Callable, static_argnums=(), static_argnames=()) -> Callable:
    """Compile ``fun`` for each argument signature it is called with.

    ``static_argnums``/``static_argnames`` name arguments that are constants of the compiled code
    (``range(n)``, an axis, a flag): their values are part of the signature, so a new value compiles
    again. Strings and callables are static wherever they appear; keyword arguments are traced
    like positional ones unless named static.

    >>> import numpy as np, graphc
    >>> f = graphc.jit(lambda x: np.sum(np.exp(x)))
    >>> float(f(np.zeros(3)))
    3.0
    >>> power = graphc.jit(lambda x, n: x ** n, static_argnums=1)
    >>> float(power(2.0, 3)), float(power(2.0, 4))
    (8.0, 16.0)
    """
    return Transformed(fun, "jit", static_argnums=static_argnums, static_argnames=static_argnames).function()


def grad(fun: Callable, argnums=0, static_argnums=(), static_argnames=()) -> Callable:
    """The gradient of scalar-valued ``fun`` with respect to argument(s) ``argnums``.

    ``static_argnums``/``static_argnames`` as for :func:`jit`.

    >>> import graphc
    >>> graphc.grad(lambda x, y, z: (x + y) * z, argnums=(0, 1, 2))(1.0, 3.0, -3.0)
    (np.float64(-3.0), np.float64(-3.0), np.float64(4.0))
    """
    return Transformed(fun, "grad", argnums, static_argnums=static_argnums,
                       static_argnames=static_argnames).function()


def value_and_grad(fun: Callable, argnums=0, static_argnums=(), static_argnames=()) -> Callable:
    """``(fun(*args), grad(fun, argnums)(*args))`` from one evaluation."""
    return Transformed(fun, "value_and_grad", argnums, static_argnums=static_argnums,
                       static_argnames=static_argnames).function()


def hessian(fun: Callable, argnums=0, static_argnums=(), static_argnames=()) -> Callable:
    """Second derivatives of scalar-valued ``fun``: the gradient graph differentiated again.

    For one argument of shape ``s`` the result has shape ``s + s``; for a tuple of argnums it is a
    nested tuple of blocks, ``H[i][j] = d2 f / d arg_i d arg_j``. Each row is one more reverse sweep
    over the gradient graph, so the graph grows with the argument's size: meant for small arguments.
    """
    names = _as_tuple(static_argnames, str, "static_argnames", "hessian")
    positions = _as_tuple(static_argnums, int, "static_argnums", "hessian") + tuple(
        i for i, p in enumerate(_parameter_names(fun)) if p in names)
    statics = dict(static_argnums=positions, static_argnames=names)
    return jit(_jacobian(grad(fun, argnums, **statics), argnums, statics), **statics)


def _jacobian(fun: Callable, argnums, statics: dict) -> Callable:
    """Reverse-mode Jacobian of ``fun``, one gradient per output element, for pytrees of arrays.

    The result has ``fun``'s output structure with each leaf replaced by the differentiated
    arguments' structure, whose leaves are blocks of shape ``output leaf shape + argument leaf shape``.
    """

    def jacobian(*args, **kwargs):
        nums = _normalize_argnums(argnums, len(args), "hessian")
        selected = tuple(args[n] for n in nums) if isinstance(argnums, (tuple, list)) else args[nums[0]]
        in_leaves, in_tree = tree_flatten(selected)
        out_leaves, out_tree = tree_flatten(fun(*args, **kwargs))
        rows_per_output = []
        for i, out in enumerate(out_leaves):
            def element(*a, i=i, k=0, **kw):
                return np.reshape(tree_flatten(fun(*a, **kw))[0][i], (-1,))[k]

            rows = [tree_flatten(grad(functools.partial(element, i=i, k=k), argnums=argnums, **statics)(*args, **kwargs))[0]
                    for k in range(int(np.size(out)))]
            blocks = []
            for j, x in enumerate(in_leaves):
                stacked = np.stack([r[j] for r in rows]) if rows else np.zeros((0,) + np.shape(x))
                blocks.append(np.reshape(stacked, np.shape(out) + np.shape(x)))
            rows_per_output.append(tree_unflatten(in_tree, blocks))
        return tree_unflatten(out_tree, rows_per_output)

    return jacobian


def trace(fun: Callable, *args, **kwargs) -> Graph:
    """The graph of ``fun`` at ``args``, unoptimized. For ``trace(grad(f), x)`` the gradient graph.

    >>> import graphc
    >>> g = graphc.trace(lambda x, y: (x + y) * x, 1.0, 2.0)
    >>> len(g), g.outputs
    (4, [3])
    """
    transformed = getattr(fun, "__graphc_transform__", None)
    if isinstance(transformed, Transformed):
        return transformed.traced_graph(*args, **kwargs)
    return trace_function(fun, args, kwargs)
