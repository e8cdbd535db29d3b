"""AdaDelta (Zeiler, 2012), as in torch.optim.Adadelta."""
from __future__ import annotations

from ..backend import get_array_module
from .optimizer import Optimizer, check_fraction, check_positive, weight_decayed


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
        return {"rho": check_fraction(group["rho"], "rho", where),
                "eps": check_positive(group["eps"], "eps", where)}

    def _init_state(self, p, h):
        xp = get_array_module(p)
        return {"square_avg": xp.zeros_like(p), "acc_delta": xp.zeros_like(p)}

    def _update(self, p, g, state, h):
        xp = get_array_module(p)
        rho, eps = h["rho"], h["eps"]
        d = weight_decayed(g, p, h["weight_decay"])
        s, a = state["square_avg"], state["acc_delta"]
        tmp = d * d
        tmp *= 1 - rho
        s *= rho
        s += tmp
        std = xp.sqrt(xp.add(s, eps, out=tmp), out=tmp)  # reuse tmp: sqrt(s + eps)
        u = a + eps
        xp.sqrt(u, out=u)
        u /= std
        u *= d
        sq = xp.multiply(u, u, out=tmp)  # std is used up; reuse tmp again
        sq *= 1 - rho
        a *= rho
        a += sq
        u *= h["lr"]
        p -= u
