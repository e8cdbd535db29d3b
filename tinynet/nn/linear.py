"""Linear (fully connected) layer and Flatten."""
from __future__ import annotations

import math

import numpy as np

from .. import functional as F
from . import init
from ..checks import float_dtype, int_arg
from .module import Module, Parameter


def default_init_(weight, bias, rng):
    """PyTorch's default for Linear and Conv: weight and bias ~ U(-1/sqrt(fan_in), 1/sqrt(fan_in)).

    (kaiming_uniform_ with a = sqrt(5) gives exactly that bound for the weight.) The weight is
    drawn first, then the bias, from the same generator.
    """
    init.kaiming_uniform_(weight, a=math.sqrt(5), rng=rng)
    if bias is not None:
        fan_in, _ = init.calculate_fans(weight.shape)
        bound = 1.0 / math.sqrt(fan_in) if fan_in > 0 else 0.0
        init.uniform_(bias, -bound, bound, rng=rng)


class Linear(Module):
    """y = x W^T + b.   x: (*, in_features) -> y: (*, out_features).

    Parameters: weight (out_features, in_features), bias (out_features,) unless ``bias=False``.
    ``rng`` (numpy Generator or int seed) draws the initial weights (see ``default_init_``);
    without it they come from a fresh unseeded generator, so pass one for reproducible runs.
    """

    def __init__(self, in_features, out_features, bias=True, rng=None, dtype=np.float32):
        super().__init__()
        self.in_features = int_arg("Linear", "in_features", in_features)
        self.out_features = int_arg("Linear", "out_features", out_features)
        dtype = float_dtype("Linear", dtype)
        self.weight = Parameter(np.empty((self.out_features, self.in_features), dtype=dtype))
        if bias:
            self.bias = Parameter(np.empty(self.out_features, dtype=dtype))
        else:
            self.register_parameter("bias", None)
        default_init_(self.weight, self.bias, init.as_generator(rng, allow_none=True))

    def forward(self, x):
        return F.linear(x, self.weight, self.bias)

    def extra_repr(self):
        return f"in_features={self.in_features}, out_features={self.out_features}, bias={self.bias is not None}"


class Flatten(Module):
    """Collapse the dims from ``start_dim`` on: (N, C, H, W) -> (N, C*H*W) by default."""

    def __init__(self, start_dim=1):
        super().__init__()
        self.start_dim = int_arg("Flatten", "start_dim", start_dim, minimum=0)

    def forward(self, x):
        return F.flatten(x, self.start_dim)

    def extra_repr(self):
        return f"start_dim={self.start_dim}"
