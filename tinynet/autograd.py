"""Reverse-mode automatic differentiation: the Function base class and the backward sweep.

How it works, in four steps:

1. Every differentiable op is a ``Function`` subclass with an array-level ``forward``
   and ``backward`` written next to each other. Calling it on tensors runs
   ``forward`` and, when some input needs a gradient, records the op as the new
   tensor's ``_ctx`` (its creator) together with its inputs. That is the graph.
2. ``Tensor.backward()`` orders the graph topologically with an explicit stack
   (no recursion, so a chain of 10,000 ops is fine).
3. It walks that order from the output back to the leaves, asking each creator
   for the gradients of its inputs (``Function.backward``) and summing the
   gradients that reach the same tensor from several uses.
4. Leaves (tensors made by the user with ``requires_grad=True``) accumulate into
   ``.grad``; intermediate gradients are dropped as soon as they are used, and the
   graph is freed unless ``retain_graph=True``. A freed op leaves ``FREED`` behind,
   so a second backward through it raises instead of silently stopping there.
"""
from __future__ import annotations

import contextlib
import contextvars

import numpy as np

from .backend import get_array_module, is_broadcast_view

# Context-local (thread- and task-safe), not a module-level mutable global.
_grad_enabled = contextvars.ContextVar("tinynet_grad_enabled", default=True)


def is_grad_enabled() -> bool:
    return _grad_enabled.get()


@contextlib.contextmanager
def no_grad():
    """Context manager: ops inside record no graph (evaluation, optimizer updates)."""
    token = _grad_enabled.set(False)
    try:
        yield
    finally:
        _grad_enabled.reset(token)


@contextlib.contextmanager
def enable_grad():
    token = _grad_enabled.set(True)
    try:
        yield
    finally:
        _grad_enabled.reset(token)


def sum_to(grad, shape):
    """Undo broadcasting: sum ``grad`` down to ``shape``.

    Broadcasting prepends axes and stretches axes of length 1, so the gradient of
    a broadcast input is the sum over those axes. Raises ValueError when ``shape``
    cannot broadcast to ``grad.shape``.
    """
    shape = tuple(shape)
    if grad.shape == shape:
        return grad
    lead = grad.ndim - len(shape)
    if lead < 0 or any(s != 1 and s != g for s, g in zip(shape, grad.shape[lead:])):
        raise ValueError(f"cannot reduce a gradient of shape {grad.shape} to shape {shape}: "
                         f"{shape} does not broadcast to {grad.shape}")
    axes = tuple(range(lead)) + tuple(lead + i for i, s in enumerate(shape)
                                      if s == 1 and grad.shape[lead + i] != 1)
    out = grad.sum(axis=axes, keepdims=True) if axes else grad
    return out.reshape(shape)


class Function:
    """One differentiable op.

    Subclasses implement ``forward(*arrays) -> array`` and
    ``backward(grad_out) -> tuple`` with one gradient (or None) per input, shaped
    like that input. ``self.needs_grad[i]`` tells backward which inputs need one,
    so it can skip the others (the images fed to a first conv, say). Whatever
    backward needs is saved on ``self`` during forward, and nothing more.
    """

    inputs: tuple = ()
    needs_grad: tuple = ()

    def forward(self, *xs):
        raise NotImplementedError

    def backward(self, gy):
        raise NotImplementedError

    def __call__(self, *inputs):
        from .tensor import Tensor

        try:
            needs = tuple(t.requires_grad for t in inputs)
        except AttributeError:  # not all Tensors: found only when it fails, so the hot path pays nothing
            _refuse_mixed_inputs(type(self).__name__, inputs)
        kind = type(inputs[0].data)
        for t in inputs[1:]:
            if type(t.data) is not kind:
                _refuse_mixed_inputs(type(self).__name__, inputs)
        record = any(needs) and _grad_enabled.get()
        if record:
            self.needs_grad = needs
        y = self.forward(*[t.data for t in inputs])
        if isinstance(y, np.generic):  # NumPy reductions return scalars; keep every tensor an array
            y = np.asarray(y)
        out = Tensor._wrap(y, record)
        if record:
            self.inputs = inputs
            out._ctx = self
        return out


def _refuse_mixed_inputs(op, inputs):
    """The error for inputs that are not all Tensors on one device."""
    from .tensor import Tensor

    for t in inputs:
        if not isinstance(t, Tensor):
            raise TypeError(f"{op}: inputs must be tinynet Tensors, got a {type(t).__name__}; "
                            "wrap it with tinynet.Tensor(...)")
    devices = sorted({t.device for t in inputs})
    raise ValueError(f"{op}: inputs live on different devices ({' and '.join(devices)}); "
                     "move them with .to(device)")


class _Freed:
    """Stands in a tensor's ``_ctx`` once backward has freed the op that made it: the tensor is
    still not a leaf, and a second backward through it fails loudly instead of stopping there."""

    inputs: tuple = ()
    needs_grad: tuple = ()

    def __repr__(self):
        return "<freed by backward()>"


FREED = _Freed()


def _topological_order(root):
    """Tensors that need a gradient, each after all of its inputs (iterative DFS)."""
    order, visited = [], set()
    stack = [(root, False)]
    while stack:
        node, expanded = stack.pop()
        if expanded:
            order.append(node)
            continue
        if id(node) in visited:
            continue
        visited.add(id(node))
        stack.append((node, True))
        ctx = node._ctx
        if ctx is not None:
            for inp, need in zip(ctx.inputs, ctx.needs_grad):
                if need and id(inp) not in visited:
                    stack.append((inp, False))
    return order


def backward(root, grad=None, retain_graph=False):
    """Accumulate d(root)/d(leaf) into ``leaf.grad`` for every leaf that requires grad."""
    if not root.requires_grad:
        raise ValueError("backward() was called on a tensor that does not require grad: "
                         "create the inputs with requires_grad=True (or use nn.Parameter) "
                         "and do not compute the loss under no_grad()")
    xp = get_array_module(root.data)
    if grad is None:
        if root.data.size != 1:
            raise ValueError(f"backward() without a gradient needs a scalar output, but the output has "
                             f"shape {root.shape}; reduce it first (e.g. loss.sum() or loss.mean()) "
                             "or pass grad= with the output's shape")
        grad = xp.ones_like(root.data)
    else:
        grad = getattr(grad, "data", grad)
        grad = xp.asarray(grad, dtype=root.dtype)
        if grad.shape != root.shape:
            raise ValueError(f"backward(grad=...) got shape {grad.shape}, but the output has shape {root.shape}")

    grads = {id(root): grad}
    handed_out = set()  # ids of the arrays some leaf's .grad already owns
    for node in reversed(_topological_order(root)):
        g = grads.pop(id(node), None)
        if g is None:
            continue
        ctx = node._ctx
        if ctx is None:
            _accumulate_leaf_grad(node, g, handed_out)
            continue
        if ctx is FREED:
            raise RuntimeError(
                "backward() reached a tensor whose graph an earlier backward() already freed (a second "
                "backward through the same graph, or through an intermediate result reused after a "
                "backward); pass retain_graph=True to the earlier backward() to keep the graph")
        in_grads = ctx.backward(g)
        for inp, gin, need in zip(ctx.inputs, in_grads, ctx.needs_grad):
            if not need or gin is None:
                continue
            key = id(inp)
            prev = grads.get(key)
            grads[key] = gin if prev is None else prev + gin
        if not retain_graph:  # free the graph behind us: saved arrays go with it
            node._ctx = FREED
            ctx.inputs = ()


def _accumulate_leaf_grad(leaf, g, handed_out):
    """``leaf.grad += g``, with ``leaf.grad`` never sharing memory with another leaf's gradient.

    Backward hands the same array to several inputs (Add passes its gradient to both sides) and
    Sum/Mean return broadcast views whose elements all share one number. Adopting such an array
    as ``.grad`` would let ``p.grad[0] = 0`` or ``p.grad *= c`` change other gradients, or every
    element at once. So a leaf adopts ``g`` only when no other leaf owns its memory and it is not
    a broadcast view; otherwise it gets a copy.
    """
    if leaf.grad is not None:
        leaf.grad = leaf.grad + g
        return
    base = g if g.base is None else g.base
    if id(base) in handed_out or is_broadcast_view(g):
        leaf.grad = g.copy()
    else:
        leaf.grad = g
        handed_out.add(id(base))
