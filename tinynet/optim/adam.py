"""Adam (Kingma & Ba, 2015), as in torch.optim.Adam with amsgrad=False."""
from __future__ import annotations

import math

from .. import backend, checks
from .optimizer import Optimizer


class Adam(Optimizer):
    """Adam: steps scaled by running averages of the gradient and of its square.

    With ``d = g + weight_decay * p`` (L2 decay, not AdamW) and t the 1-based step count::

        m = b1 * m + (1 - b1) * d
        v = b2 * v + (1 - b2) * d**2
        p = p - lr / (1 - b1**t) * m / (sqrt(v) / sqrt(1 - b2**t) + eps)

    The bias corrections use the current betas, so a scheduler may cycle ``betas[0]``
    (the momentum term, which ``clr`` schedulers cycle). ``m`` and ``v`` start at 0.

    Args:
        params: Tensors or param-group dicts (see ``Optimizer``).
        lr: learning rate (>= 0).
        betas: (b1, b2), each in [0, 1).
        eps: > 0, added to the denominator.
        weight_decay: L2 coefficient (>= 0).
    """

    _buffers = ("exp_avg", "exp_avg_sq")
    _momentum_entry = "betas"

    def __init__(self, params, lr=1e-3, betas=(0.9, 0.999), eps=1e-8, weight_decay=0.0):
        super().__init__(params, dict(lr=lr, betas=betas, eps=eps, weight_decay=weight_decay))

    def _check_options(self, group, where):
        betas = group["betas"]
        if not isinstance(betas, (tuple, list)) or len(betas) != 2:
            raise TypeError(f"{where}: betas must be a pair (b1, b2), got {betas!r}")
        b1 = checks.fraction(where, "betas[0]", betas[0])
        b2 = checks.fraction(where, "betas[1]", betas[1])
        return {"betas": (b1, b2), "eps": checks.positive(where, "eps", group["eps"])}

    def _init_state(self, p, h):
        xp = backend.get_array_module(p)
        return {"exp_avg": xp.zeros_like(p), "exp_avg_sq": xp.zeros_like(p)}

    def _update(self, p, g, state, h):
        (b1, b2), t = h["betas"], state["step"]
        backend.launch("tinynet_adam", g, b1, 1.0 - b1, b2, 1.0 - b2, h["eps"], h["weight_decay"],
                       math.sqrt(1.0 - b2 ** t), h["lr"] / (1.0 - b1 ** t), p, state["exp_avg"], state["exp_avg_sq"])
