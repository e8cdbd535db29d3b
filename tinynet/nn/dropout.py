"""Dropout layer."""
from __future__ import annotations

from .. import functional as F
from . import init
from .module import Module


class Dropout(Module):
    """Inverted dropout in training mode (zero with probability p, scale survivors by 1/(1-p));
    the identity in eval mode.   x: any shape -> y: x's shape.

    The masks come from ``rng`` (numpy Generator or int seed), owned by the layer and advanced
    by every training-mode call. Without it a fresh unseeded generator is used, so pass one for
    reproducible runs. The generator's position is not part of ``state_dict``.
    """

    def __init__(self, p=0.5, rng=None):
        super().__init__()
        if isinstance(p, bool) or not isinstance(p, (int, float)) or not 0 <= p <= 1:
            raise ValueError(f"Dropout: p={p!r} must be a probability in [0, 1]")
        self.p = float(p)
        self.rng = init.as_generator(rng, allow_none=True)

    def forward(self, x):
        return F.dropout(x, self.p, self.training, self.rng)

    def extra_repr(self):
        return f"p={self.p}"
