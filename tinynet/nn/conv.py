"""Convolution layers: Conv1d and Conv2d (cross-correlation, as in PyTorch)."""
from __future__ import annotations

import numpy as np

from ..functional.conv import conv_args, conv_nd
from . import init
from ..checks import float_dtype, int_arg, int_tuple
from .linear import default_init_
from .module import Module, Parameter


class _ConvNd(Module):
    """Shared constructor: weight (out_channels, in_channels, *kernel_size), bias (out_channels,).

    Initialised like PyTorch (``default_init_``: U(+-1/sqrt(fan_in)), fan_in = in_channels *
    prod(kernel_size)) from ``rng`` (numpy Generator or int seed); without it from a fresh
    unseeded generator, so pass one for reproducible runs.
    """

    _nd = 0

    def __init__(self, in_channels, out_channels, kernel_size, stride=1, padding=0, bias=True,
                 rng=None, dtype=np.float32):
        super().__init__()
        name, nd = type(self).__name__, self._nd
        self.in_channels = int_arg(name, "in_channels", in_channels)
        self.out_channels = int_arg(name, "out_channels", out_channels)
        self.kernel_size = int_tuple(name, "kernel_size", kernel_size, nd)
        # checked here, once: forward hands them to the kernel as they are
        self.stride, self.padding = conv_args(name, nd, stride, padding)
        dtype = float_dtype(name, dtype)
        shape = (self.out_channels, self.in_channels) + self.kernel_size
        self.weight = Parameter(np.empty(shape, dtype=dtype))
        if bias:
            self.bias = Parameter(np.empty(self.out_channels, dtype=dtype))
        else:
            self.register_parameter("bias", None)
        default_init_(self.weight, self.bias, init.as_generator(rng, allow_none=True))

    def extra_repr(self):
        return (f"{self.in_channels}, {self.out_channels}, kernel_size={self.kernel_size}, "
                f"stride={self.stride}, padding={self.padding}, bias={self.bias is not None}")


class Conv1d(_ConvNd):
    """x: (N, in_channels, L) -> y: (N, out_channels, L_out), L_out = (L + 2P - K) // S + 1."""

    _nd = 1

    def forward(self, x):
        return conv_nd(x, self.weight, self.bias, self.stride, self.padding, where="Conv1d")


class Conv2d(_ConvNd):
    """x: (N, in_channels, H, W) -> y: (N, out_channels, OH, OW), OH = (H + 2PH - KH) // SH + 1 (same for W)."""

    _nd = 2

    def forward(self, x):
        return conv_nd(x, self.weight, self.bias, self.stride, self.padding, where="Conv2d")
