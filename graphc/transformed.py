"""What :func:`graphc.jit`, :func:`graphc.grad` and friends return, and how it runs a call.

On the first call for an argument signature (pytree structure, shapes, dtypes and static values) a
:class:`Transformed` traces the function, differentiates it if asked and optimizes the graph. Then,
by default, two tiers take turns (``graphc.tiers``): the first calls run the graph as plain Python over
NumPy (:mod:`graphc.numpy_tier`), built in about a microsecond a node, while the Numba kernel compiles in
the background; once it is ready, calls run the kernel. Called on tracers (inside another transformation)
it inlines its graph instead, which is how ``grad(grad(f))`` works.
"""
from __future__ import annotations

import dataclasses
import functools
import threading
import time
from typing import Callable

import numpy as np

from graphc.errors import (
    ArgumentShapeError, GradientTypeError, GraphcError, NoKernelError, SignatureError, user_frame,
)
from graphc.graph import Graph
from graphc.tracer import (
    Static, Tracer, aval_of, current_graph, flatten_call, inline, split_static, trace_function,
)
from graphc.tree import LEAF, TreeDef, tree_flatten, tree_unflatten
from graphc.passes import GRAPH_PASSES, LOOP_PASSES, PassStats, run_pipeline
from graphc.passes.autodiff import differentiate
from graphc.numpy_tier import build_numpy_runner
from graphc.runner import array_key, make_router, make_runner
from graphc.tiers import Signature, collector_paused, numba_refusal, tier_mode
from graphc.arguments import (as_tuple, differentiated_inputs, example_argument, kernel_args, parameter_names,
                              signature_key, zero_d_positions)


@dataclasses.dataclass
class Lowered:
    """What runs for one argument signature.

    Attributes:
        graph: the graph that was compiled (forward, plus adjoint nodes for gradients).
        source: the generated Numba source.
        stats: a :class:`PassStats` per stage: tracing, each optimization pass, code generation.
        dispatcher: a compiled ``numba`` dispatcher for this signature. Call it with the flattened
            argument leaves in order (``graphc.tree_flatten(args)[0]``), 0-d values as scalars, each
            with the shape and dtype it was lowered for (another shape raises ``ArgumentShapeError``,
            another dtype ``TypeError``). When the results are arrays, scalars and (nested) tuples it
            returns them in that structure, e.g. ``(value, (gx, gy))`` for ``value_and_grad(f, argnums=(0, 1))``;
            with lists or dicts among the results it returns the flat tuple of result leaves. It can
            be called from the user's own ``@numba.njit`` functions. Made on first use: the kernel
            underneath (``kernel.dispatcher``) serves every shape that generates the same source and
            takes the sizes first; this one fixes them to the lowered ones.
        kernel: the compiled kernel (``graphc.codegen.compile.Kernel``).
        path: the generated module's file in the disk cache, or None when compiled in memory.
        traced: the graph before optimization.
        tiers: what ran this signature's calls so far, one line per tier, e.g.
            ``["numpy: the first calls, built in 1.2 ms", "numba: since its background compile (process, 4.1 s)"]``.
    """

    graph: Graph
    source: str
    stats: list
    kernel: object
    path: str | None = None
    traced: Graph | None = None
    tiers: list = dataclasses.field(default_factory=list)
    arguments: list = dataclasses.field(default_factory=list, repr=False)

    @functools.cached_property
    def dispatcher(self):
        from graphc.codegen.compile import exact_dispatcher, size_table

        return exact_dispatcher(self.kernel, size_table(self.kernel, self.graph), self.arguments)

    def stats_table(self) -> str:
        """The stages as a table: name, nodes before -> after, milliseconds."""
        return "\n".join([str(s) for s in self.stats] + [f"tier {line}" for line in self.tiers])


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


class Transformed:
    """A function made by :func:`jit`, :func:`grad`, :func:`value_and_grad`, :func:`vmap`, :func:`jacfwd`,
    :func:`jacrev` (and, for one function each, :func:`jvp` and :func:`vjp`).

    Call it like the original function. ``lower(*args)`` shows what runs for those arguments.
    """

    def __init__(self, fun: Callable | None, mode: str, argnums=0, name: str | None = None,
                 static_argnums=(), static_argnames=(), tiered=None, axes=(0, 0), has_aux=False):
        if fun is not None and not callable(fun):
            raise GraphcError(f"{mode} needs a callable, got {type(fun).__name__}")
        self.fun = fun
        self.name = name
        self.mode = mode
        self.argnums = argnums
        self.axes = axes  # vmap's (in_axes, out_axes)
        self.has_aux = bool(has_aux)  # grad's: fun returns (value, aux); aux rides along undifferentiated
        self.static_argnums = as_tuple(static_argnums, int, "static_argnums", mode)
        self.static_argnames = as_tuple(static_argnames, str, "static_argnames", mode)
        tier_mode(tiered)  # a bad value fails here, not at the first call
        self.tiered = tiered
        # Calls with flat arguments (arrays and scalars) are found by their types, then by the arrays'
        # shapes and dtypes: type tuple -> router (or the runner itself when there are no arrays).
        self._by_type: dict = {}
        self._routes: dict = {}   # type tuple -> (router or None, table of array_key -> runner)
        self._by_tree: dict = {}  # pytree arguments: structure and every leaf's shape and dtype
        self._dispatcher_of: dict = {}  # runner -> the Numba dispatcher it calls
        self._signatures: dict = {}  # where a signature is filed -> its Signature
        self._lock = threading.RLock()  # the background compile's hand-over takes it too

    def __repr__(self):
        return f"<graphc.{self.mode} of {getattr(self.fun, '__qualname__', None) or self.name!r}>"

    # ---- graphs --------------------------------------------------------------------------------
    def traced_graph(self, *args, **kwargs) -> Graph:
        """The unoptimized graph this transformation runs for ``args``: forward, plus adjoints for grad."""
        return self._traced(args, kwargs)

    def _traced(self, args: tuple, kwargs: dict, parent: Graph | None = None) -> Graph:
        """:meth:`traced_graph`; with ``parent`` (the graph being built around the call), what the
        function reads of it becomes inputs listed in the graph's ``captures``."""
        if self.fun is None:
            raise SignatureError(
                f"{self!r} was unpickled without its Python function, so it runs only the signatures it was "
                "compiled for before pickling; these arguments need another one")
        args, kwargs = self.mark_static(args, kwargs)
        if self.mode == "vmap":
            from graphc.mapping import mapped_graph

            return mapped_graph(self.fun, args, kwargs, *self.axes)
        if self.mode in ("jvp", "vjp", "jacfwd", "jacrev"):
            from graphc.jacobians import jacobian_traced, jvp_traced, vjp_traced

            if self.mode == "jvp":
                return jvp_traced(self.fun, args, parent)
            if self.mode == "vjp":
                return vjp_traced(self.fun, args, parent)
            return jacobian_traced(self.fun, args, kwargs, self.argnums, self.mode == "jacfwd", self.mode, parent)
        forward = trace_function(self.fun, args, kwargs, parent=parent)
        if self.mode == "jit":
            return forward
        return self._gradient_graph(forward, args)

    def mark_static(self, args: tuple, kwargs: dict) -> tuple[tuple, dict]:
        """The call with the arguments named by ``static_argnums``/``static_argnames`` wrapped as
        :class:`Static` (so they are part of the signature, not inputs)."""
        if not (self.static_argnums or self.static_argnames):
            return tuple(args), dict(kwargs)
        nums, names = set(self.static_argnums), set(self.static_argnames)
        params = parameter_names(self.fun)
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
        nums, positions = differentiated_inputs(forward, args, self.argnums, name)
        wrt = [forward.inputs[p] for p in positions]
        aux, aux_tree = [], None
        if self.has_aux:
            tree = forward.out_tree
            if tree.kind not in ("tuple", "list") or len(tree.children) != 2 or tree.children[0].kind != "leaf":
                where = user_frame()
                raise GradientTypeError(f"{name} with has_aux=True needs the function to return a pair "
                                           f"(value, aux); it returned a pytree {tree!r}"
                                           + (f" at {where}" if where else ""))
            aux, aux_tree = forward.outputs[1:], tree.children[1]
            forward.outputs = forward.outputs[:1]
        if len(forward.outputs) != 1:
            raise GradientTypeError(f"{name} needs a function with one scalar output; it returned a pytree "
                                       f"{forward.out_tree!r} of {len(forward.outputs)} values")
        value = forward.outputs[0]
        graph, grads = differentiate(forward, value, wrt)
        arg_trees = [tree_flatten(args[i])[1] for i in nums]
        grad_tree = arg_trees[0] if not isinstance(self.argnums, (tuple, list)) else TreeDef(
            "tuple", (), tuple(arg_trees))
        value_tree = TreeDef("tuple", (), (LEAF, aux_tree)) if self.has_aux else LEAF
        if self.mode == "value_and_grad":  # ((value, aux), grads) with has_aux, as JAX
            graph.outputs = [value] + aux + grads
            graph.out_tree = TreeDef("tuple", (), (value_tree, grad_tree))
        elif self.has_aux:  # (grads, aux)
            graph.outputs = grads + aux
            graph.out_tree = TreeDef("tuple", (), (grad_tree, aux_tree))
        else:
            graph.out_tree = grad_tree
        return graph

    # ---- calling -------------------------------------------------------------------------------
    def function(self) -> "CompiledFunction":
        """The public callable, with ``lower`` and the wrapped function's name and docstring."""
        by_type, slow = self._by_type, self._call

        def call(*args, **kwargs):
            # The hot path: the argument types (found at C speed) lead to the runner, which checks
            # the shapes itself; Numba refuses other dtypes. Either refusal takes the slow path.
            if kwargs:
                return slow(args, kwargs)
            # One or two arguments build their key directly: tuple(map(...)) costs about 130 ns more,
            # a fifth of a whole call of a small kernel (W4).
            count = len(args)
            run = by_type.get((type(args[0]),) if count == 1 else (type(args[0]), type(args[1])) if count == 2
                              else tuple(map(type, args)))
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

    def _where(self, args: tuple, kwargs: dict | None) -> tuple:
        """``(where the call's signature is filed, args, kwargs, dynamic leaves)``, with static arguments
        marked; ``where`` is None for a call on tracers (inside another transformation)."""
        types = tuple(map(type, args))
        statics = self.static_argnums or self.static_argnames
        if not kwargs and not statics and all(t is np.ndarray or t in _SCALAR_TYPES for t in types) \
                and current_graph() is None:
            return ("flat", types, array_key(args)), args, {}, list(args)
        args, kwargs = self.mark_static(args, kwargs or {})
        leaves, tree = flatten_call(args, kwargs)
        dynamic, static = split_static(leaves)
        # Inside another trace the call is traced too, as in JAX: a function mapped there may read the
        # caller's traced values even when its own arguments are plain arrays.
        if any(isinstance(leaf, Tracer) for leaf in dynamic) or current_graph() is not None:
            return None, args, kwargs, dynamic
        for i, leaf in enumerate(dynamic):
            aval_of(leaf, f"{i}")  # a clear error for objects and other non-arrays
        return ("tree", None, signature_key(dynamic, tree) + (static,)), args, kwargs, dynamic

    def _call(self, args: tuple, kwargs: dict | None = None):
        where, args, kwargs, leaves = self._where(args, kwargs)
        if where is None:
            return self._inline(args, kwargs, leaves)
        run = self._lookup(where) or self._compile(args, kwargs, leaves, where)  # _file published it
        try:
            return self._run(run, leaves)
        finally:
            # Background compiles start once the call that made them has its result: their first step
            # (fusion, in a thread of this process) would otherwise take turns with it for the GIL.
            signature = self._signatures.get(where)
            if signature is not None and signature.job is not None:
                signature.job.start()

    def _publish(self, types: tuple) -> None:
        # One signature for these types: straight to its (self-checking) runner; several: the router.
        router, table = self._routes[types]
        if table:
            self._by_type[types] = next(iter(table.values())) if router is None or len(table) == 1 else router

    def _run(self, run: Callable, leaves) -> object:
        try:
            return run(*leaves)
        except TypeError:
            found = self._dispatcher_of.get(run)
            if found is None:  # not a kernel's refusal: a real error
                raise
            # Numba found no compiled version for these arrays' memory layout (a transposed or
            # strided view): compile that one too, then call again.
            from graphc.codegen.compile import add_specialization

            dispatcher, sizes = found
            add_specialization(dispatcher, list(sizes) + kernel_args(list(leaves)))
            return run(*leaves)

    def _lookup(self, where: tuple):
        kind, types, key = where
        return (self._route_table(types) if kind == "flat" else self._by_tree).get(key)

    def _file(self, where: tuple, run: Callable) -> None:
        """File ``run`` where calls with this signature will find it (replacing the NumPy tier's runner)."""
        kind, types, key = where
        (self._route_table(types) if kind == "flat" else self._by_tree)[key] = run
        if kind == "flat":
            self._publish(types)

    # ---- tiers ---------------------------------------------------------------------------------
    def _compile(self, args: tuple, kwargs: dict, leaves: list, where: tuple) -> Callable:
        """The runner for a new signature: the NumPy tier's (starting the kernel's background compile),
        or, untiered, the kernel's."""
        with self._lock:  # two threads on a new signature compile once
            run = self._lookup(where)
            if run is not None:
                return run
            mode = tier_mode(self.tiered)
            if mode is False:
                try:
                    self.lower(*args, **kwargs)  # files the kernel's runner
                    return self._lookup(where)
                except NoKernelError:  # the NumPy tier it is, then
                    mode = True
            started = time.perf_counter()
            with collector_paused():
                graph, _ = run_pipeline(self.traced_graph(*args, **kwargs), GRAPH_PASSES)
                run = build_numpy_runner(graph)
            signature = Signature(where, zero_d_positions(leaves), graph)
            self._signatures[where] = signature
            self._file(where, run)
            count = graph.notes.get("split_scans")
            split = f", {count} scan(s) split into a loop and batched steps" if count else ""
            signature.history.append(f"numpy: the first calls ({len(graph)} nodes{split}, ready "
                                     f"{(time.perf_counter() - started) * 1e3:.1f} ms after the call)")
            refusal = numba_refusal(graph)
            if refusal and mode is True:
                signature.history.append(f"numpy: every call ({refusal}; compute in float32 for a kernel)")
            elif mode is True:
                from graphc.codegen.background import KernelJob, describe_arguments

                signature.job = KernelJob(graph, describe_arguments(kernel_args(leaves)),
                                          functools.partial(self._kernel_ready, signature))
        return run

    def _kernel_ready(self, signature: Signature, fused: Graph, kernel, seconds: float) -> None:
        with self._lock:
            if not signature.ready:  # else lower() installed it first
                how = {"process": "compiled by a worker process", "thread": "compiled in a thread",
                       "disk": "loaded from the disk cache",
                       "memory": "the kernel already compiled for another shape"}[signature.job.how]
                signature.history.append(f"numba: every call since it was ready ({how}, {seconds:.2f} s)")
                self._install(signature, fused, kernel)

    def _install(self, signature: Signature, fused: Graph, kernel) -> Callable:
        """Switch a signature to its kernel."""
        from graphc.codegen.compile import size_table

        sizes = size_table(kernel, fused)
        run = make_runner(fused, kernel.dispatcher, signature.zero_d, sizes)
        self._dispatcher_of[run] = (kernel.dispatcher, sizes)
        signature.fused = fused
        self._file(signature.where, run)
        return run

    # ---- pickling: what travels is each signature's optimized graph ----------------------------
    def __getstate__(self):
        if not self._signatures:
            raise GraphcError(f"{self!r} has not been compiled for any arguments yet, so there is nothing to "
                              "send; call it (or .lower()) once with arguments of the shapes it will get")
        from graphc import __version__

        return {"version": __version__, "mode": self.mode, "argnums": self.argnums, "axes": self.axes,
                "has_aux": self.has_aux,
                "static_argnums": self.static_argnums, "static_argnames": self.static_argnames,
                "name": getattr(self.fun, "__qualname__", None) or self.name,
                # A signature still on the NumPy tier travels before its loop passes; the other side fuses.
                "compiled": [(s.where, s.fused or s.graph, s.zero_d, s.ready) for s in self._signatures.values()]}

    def __setstate__(self, state):
        from graphc import __version__
        from graphc.codegen.background import compile_graph

        if state.get("version") != __version__:
            raise GraphcError(f"this graphc function was pickled by graphc {state.get('version')} and cannot be "
                              f"loaded by graphc {__version__}; install the same version on both sides")
        self.__init__(None, state["mode"], state["argnums"], name=state["name"], axes=state["axes"],
                      has_aux=state["has_aux"],
                      static_argnums=state["static_argnums"], static_argnames=state["static_argnames"])
        for where, graph, zero_d, fused in state["compiled"]:
            # From the disk cache when this machine has it, else compiled here.
            examples = [example_argument(graph[n]) for n in graph.inputs]
            graph, kernel = compile_graph(graph, examples, loop_passes=not fused)
            signature = self._signatures[where] = Signature(where, zero_d, graph)
            signature.history.append("numba: every call (compiled when unpickled)")
            self._install(signature, graph, kernel)

    # ---- inspection ----------------------------------------------------------------------------
    def lower(self, *args, **kwargs) -> "Lowered":
        """Trace, differentiate, optimize and compile for ``args``; return what runs, for inspection.

        Returns once the Numba kernel for this signature is compiled (waiting for a background compile
        under way), and from then on calls with this signature run it.
        """
        where, _, _, leaves = self._where(args, kwargs)
        if where is None:
            raise GraphcError(f"{self!r}.lower() needs concrete arguments (arrays and scalars), not traced values")
        signature = self._signatures.get(where)
        if signature is not None and signature.job is not None:
            try:
                signature.job.wait()
            except GraphcError:
                pass  # compiled again below, where the error is raised to the caller
        started = time.perf_counter()
        traced = self.traced_graph(*args, **kwargs)
        stages = [PassStats("trace" if self.mode == "jit" else "trace + differentiate", 0, len(traced),
                            time.perf_counter() - started)]
        graph, pass_stats = run_pipeline(traced, GRAPH_PASSES)
        refusal = numba_refusal(graph)
        if refusal:
            raise NoKernelError(f"lower(): {refusal}, so this signature has no kernel (its calls run on the NumPy "
                            "tier); compute in float32 to compile it")
        fused, loop_stats = run_pipeline(graph, LOOP_PASSES)
        stages += pass_stats + loop_stats
        started = time.perf_counter()
        from graphc.codegen.compile import build_kernel, specialize

        kernel = build_kernel(fused)
        specialize(kernel, kernel_args(leaves))
        seconds = time.perf_counter() - started
        stages.append(PassStats("codegen + numba", len(fused), len(fused), seconds))
        with self._lock:
            signature = self._signatures.get(where)
            if signature is None:
                signature = self._signatures[where] = Signature(where, zero_d_positions(leaves), graph)
            if not signature.ready:
                signature.history.append("numba: every call (compiled before the first)" if not signature.history
                                         else f"numba: every call since lower() compiled it ({seconds:.2f} s)")
                self._install(signature, fused, kernel)
        return Lowered(graph=fused, source=kernel.source, stats=stages, kernel=kernel, path=kernel.path,
                       traced=traced, tiers=list(signature.history), arguments=kernel_args(leaves))

    def _inline(self, args: tuple, kwargs: dict, leaves: list):
        if self.mode == "vmap":  # built in place, so that the mapped function can read the caller's values
            from graphc.mapping import mapped_call

            return mapped_call(self.fun, *self.mark_static(args, kwargs), *self.axes)
        # Traced inside the caller's graph: values of it that the function reads (a closure over an outer
        # grad's variable) are inputs too, fed the caller's tracers, so the outer derivative sees them.
        parent = current_graph()
        graph = self._traced(args, kwargs, parent)
        captured = list(graph.captures.items())
        graph.inputs = list(graph.inputs) + [node for _, node in captured]
        values = list(leaves) + [Tracer(parent, outer) for outer, _ in captured]
        return tree_unflatten(graph.out_tree, inline(graph, values))
