"""AdaGrad (Duchi et al., 2011), as in torch.optim.Adagrad with lr_decay=0 and initial_accumulator_value=0."""
from __future__ import annotations

from ..backend import get_array_module
from .optimizer import Optimizer, check_positive, weight_decayed


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
        return {"eps": check_positive(group["eps"], "eps", where)}

    def _init_state(self, p, h):
        return {"sum": get_array_module(p).zeros_like(p)}

    def _update(self, p, g, state, h):
        xp = get_array_module(p)
        d = weight_decayed(g, p, h["weight_decay"])
        s = state["sum"]
        tmp = d * d
        s += tmp
        std = xp.sqrt(s, out=tmp)  # reuse tmp
        std += h["eps"]
        step = xp.divide(d, std, out=std)
        step *= h["lr"]
        p -= step
