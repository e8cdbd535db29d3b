"""AdaGrad (Duchi et al., 2011), as in torch.optim.Adagrad with lr_decay=0 and initial_accumulator_value=0."""
from __future__ import annotations

from .. import backend, checks
from .optimizer import Optimizer


class Adagrad(Optimizer):
    """AdaGrad: each coordinate's step shrinks with the sum of its squared gradients so far.

    With ``d = g + weight_decay * p`` and ``s`` starting at 0::

        s = s + d**2
        p = p - lr * d / (sqrt(s) + eps)

    Args:
        params: Tensors or param-group dicts (see ``Optimizer``).
        lr: learning rate (>= 0).
        eps: > 0.
        weight_decay: L2 coefficient (>= 0).
    """

    _buffers = ("sum",)

    def __init__(self, params, lr=1e-2, eps=1e-10, weight_decay=0.0):
        super().__init__(params, dict(lr=lr, eps=eps, weight_decay=weight_decay))

    def _check_options(self, group, where):
        return {"eps": checks.positive(where, "eps", group["eps"])}

    def _init_state(self, p, h):
        return {"sum": backend.get_array_module(p).zeros_like(p)}

    def _update(self, p, g, state, h):
        backend.launch("tinynet_adagrad", g, h["lr"], h["eps"], h["weight_decay"], p, state["sum"])
