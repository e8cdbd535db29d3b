"""Inverted dropout."""
from __future__ import annotations

import numpy as np

from .. import backend
from ..autograd import Function
from ..checks import probability


class DropoutFn(Function):
    """y = x * m / (1 - p), m_i ~ Bernoulli(1 - p).   x: any shape -> y: x's shape.

    "Inverted": survivors are scaled up during training so that E[y] = x and
    evaluation is the identity. The gradient is the same mask: dx = g * m / (1 - p).

    The mask is made where x lives, in one pass (``backend.dropout_mask``): element i is kept
    when a hash of (seed, i) lands at or above p. One seed per call comes from ``rng`` on the
    host, so nothing random is uploaded, and one seed gives the same mask on CPU and GPU.
    """

    def __init__(self, p, rng):
        self.p, self.rng = p, rng

    def forward(self, x):
        seed = int(self.rng.integers(0, 2 ** 63))
        scale = 0.0 if self.p == 1 else 1.0 / (1.0 - self.p)
        self.mask = backend.get_array_module(x).empty(x.shape, dtype=x.dtype)
        backend.launch("tinynet_dropout_mask", seed, self.p, scale, self.mask)
        return x * self.mask

    def backward(self, gy):
        return (gy * self.mask,)


def dropout(input, p=0.5, training=True, rng=None):
    """Zero each element with probability ``p`` and scale the rest by 1 / (1 - p) when training.

    Args:
        input: Tensor of any shape.
        p: drop probability in [0, 1].
        training: when False (or p == 0) the input is returned unchanged.
        rng: numpy Generator the mask is drawn from; required when training with p > 0, so every
            run is reproducible from its seed (make one with ``numpy.random.default_rng(seed)``).
    """
    p = probability("dropout", "p", p)
    if not training or p == 0:
        return input
    if not isinstance(rng, np.random.Generator):
        raise TypeError(f"dropout: rng must be a numpy Generator when training with p > 0, got "
                        f"{type(rng).__name__}; pass rng=numpy.random.default_rng(seed) (one Generator "
                        "for the whole run, so successive calls draw different masks)")
    return DropoutFn(p, rng)(input)
