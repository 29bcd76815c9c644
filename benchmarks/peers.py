"""The same workloads through peer libraries, each optional: value and gradient per call, NumPy in and out."""
from __future__ import annotations

import importlib

import numpy as np

import workloads


class Unavailable(Exception):
    """The peer is not installed here."""


def _need(module: str):
    try:
        return importlib.import_module(module)
    except ImportError as error:
        raise Unavailable(f"not installed: {error}") from None


def _fn(name: str, xp, sigmoid):
    return {"W1": lambda: workloads.w1(xp, sigmoid), "W2": lambda: workloads.w2(xp),
            "W3": lambda: workloads.w3(xp), "W4": lambda: workloads.w4(xp)}[name]()


def make(peer: str, name: str, args, argnums):
    """A no-argument callable that computes the workload's value and gradient with ``peer``."""
    return {"jax": _jax, "autograd": _autograd, "torch": _torch, "pytensor": _pytensor}[peer](name, args, argnums)


def _jax(name, args, argnums):
    jax = _need("jax")
    jax.config.update("jax_enable_x64", True)
    jnp = jax.numpy
    vg = jax.jit(jax.value_and_grad(_fn(name, jnp, jax.nn.sigmoid), argnums=argnums))
    vg(*args)

    def call():
        value, grads = vg(*args)
        return np.asarray(value), jax.tree_util.tree_map(np.asarray, grads)  # NumPy out, as users need it

    return call


def _autograd(name, args, argnums):
    autograd = _need("autograd")
    anp = importlib.import_module("autograd.numpy")
    vg = autograd.value_and_grad(_fn(name, anp, lambda z: 1.0 / (1.0 + anp.exp(-z))), argnum=argnums)
    return lambda: vg(*args)


def _torch(name, args, argnums):
    torch = _need("torch")
    fn = _fn(name, torch, torch.sigmoid)
    many = isinstance(argnums, tuple)
    nums = argnums if many else (argnums,)

    def call():
        tensors = [torch.tensor(a, dtype=torch.float64, requires_grad=i in nums) for i, a in enumerate(args)]
        value = fn(*tensors)
        grads = torch.autograd.grad(value, [tensors[i] for i in nums])
        grads = tuple(g.numpy() for g in grads)
        return value.item(), grads if many else grads[0]

    return call


def _pytensor(name, args, argnums):
    pytensor = _need("pytensor")
    pt = importlib.import_module("pytensor.tensor")
    many = isinstance(argnums, tuple)
    nums = argnums if many else (argnums,)
    variables = [pt.tensor(f"a{i}", dtype="float64", shape=np.shape(a)) for i, a in enumerate(args)]
    value = _fn(name, pt, pt.sigmoid)(*variables)
    grads = pytensor.grad(value, [variables[i] for i in nums])
    compiled = pytensor.function(variables, [value] + list(grads))
    return lambda: compiled(*args)
