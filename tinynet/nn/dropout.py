"""Dropout layer."""
from __future__ import annotations

from ..checks import as_generator, probability
from ..functional.dropout import DropoutFn
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
        self.p = probability("Dropout", "p", p)
        self.rng = as_generator(rng, allow_none=True)

    def forward(self, x):  # p and rng were checked once, above
        return DropoutFn(self.p, self.rng)(x) if self.training and self.p > 0 else x

    def extra_repr(self):
        return f"p={self.p}"
