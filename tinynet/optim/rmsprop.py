"""RMSprop (Hinton's lecture 6e), as in torch.optim.RMSprop with centered=False."""
from __future__ import annotations

from .. import backend, checks
from .optimizer import Optimizer


class RMSprop(Optimizer):
    """RMSprop: the gradient divided by a running root-mean-square of recent gradients.

    With ``d = g + weight_decay * p`` (``s`` and ``b`` start at 0)::

        s = alpha * s + (1 - alpha) * d**2
        u = d / (sqrt(s) + eps)             eps outside the square root, as in PyTorch
        p = p - lr * u                      (momentum 0)
        b = momentum * b + u;  p = p - lr * b   (momentum > 0)

    Args:
        params: Tensors or param-group dicts (see ``Optimizer``).
        lr: learning rate (>= 0).
        alpha: decay of the squared-gradient average, in [0, 1).
        eps: > 0.
        weight_decay: L2 coefficient (>= 0).
        momentum: in [0, 1).
    """

    _buffers = ("square_avg",)
    _optional_buffers = ("momentum_buffer",)
    _momentum_entry = "momentum"

    def __init__(self, params, lr=1e-2, alpha=0.99, eps=1e-8, weight_decay=0.0, momentum=0.0):
        super().__init__(params, dict(lr=lr, alpha=alpha, eps=eps, weight_decay=weight_decay,
                                      momentum=momentum))

    def _check_options(self, group, where):
        return {"alpha": checks.fraction(where, "alpha", group["alpha"]),
                "eps": checks.positive(where, "eps", group["eps"]),
                "momentum": checks.fraction(where, "momentum", group["momentum"])}

    def _init_state(self, p, h):
        return {"square_avg": backend.get_array_module(p).zeros_like(p)}

    def _update(self, p, g, state, h):
        alpha, m = h["alpha"], h["momentum"]
        args = (g, h["lr"], alpha, 1.0 - alpha, h["eps"], h["weight_decay"])
        if m > 0:
            b = state.get("momentum_buffer")
            if b is None:  # created when momentum is first non-zero; starts at 0 as in torch
                b = state["momentum_buffer"] = backend.get_array_module(p).zeros_like(p)
            backend.launch("tinynet_rmsprop_momentum", *args, m, p, state["square_avg"], b)
        else:
            backend.launch("tinynet_rmsprop", *args, p, state["square_avg"])
