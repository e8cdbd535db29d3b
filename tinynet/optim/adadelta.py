"""AdaDelta (Zeiler, 2012), as in torch.optim.Adadelta."""
from __future__ import annotations

from .. import backend, checks
from .optimizer import Optimizer


class Adadelta(Optimizer):
    """AdaDelta: steps scaled by the ratio of running RMS of past updates to RMS of gradients.

    With ``d = g + weight_decay * p``, ``s`` and ``a`` starting at 0::

        s = rho * s + (1 - rho) * d**2
        u = sqrt(a + eps) / sqrt(s + eps) * d
        a = rho * a + (1 - rho) * u**2
        p = p - lr * u

    The paper has no learning rate (lr = 1); like PyTorch (and Caffe) we keep it as a
    multiplier, which is what a learning-rate schedule scales.

    Args:
        params: Tensors or param-group dicts (see ``Optimizer``).
        lr: multiplier of the update (>= 0).
        rho: decay of both running averages, in [0, 1).
        eps: > 0, inside both square roots.
        weight_decay: L2 coefficient (>= 0).
    """

    _buffers = ("square_avg", "acc_delta")

    def __init__(self, params, lr=1.0, rho=0.9, eps=1e-6, weight_decay=0.0):
        super().__init__(params, dict(lr=lr, rho=rho, eps=eps, weight_decay=weight_decay))

    def _check_options(self, group, where):
        return {"rho": checks.fraction(where, "rho", group["rho"]),
                "eps": checks.positive(where, "eps", group["eps"])}

    def _init_state(self, p, h):
        xp = backend.get_array_module(p)
        return {"square_avg": xp.zeros_like(p), "acc_delta": xp.zeros_like(p)}

    def _update(self, p, g, state, h):
        rho = h["rho"]
        backend.launch("tinynet_adadelta", g, h["lr"], rho, 1.0 - rho, h["eps"], h["weight_decay"],
                       p, state["square_avg"], state["acc_delta"])
