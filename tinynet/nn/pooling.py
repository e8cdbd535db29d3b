"""Pooling layers: MaxPool1d/2d and AvgPool1d/2d (arguments as in PyTorch; stride defaults to kernel_size)."""
from __future__ import annotations

from .. import functional as F
from ..checks import int_tuple
from .module import Module


class _PoolNd(Module):
    _nd = 0

    def __init__(self, kernel_size, stride=None, padding=0, ceil_mode=False):
        super().__init__()
        name, nd = type(self).__name__, self._nd
        int_tuple(name, "kernel_size", kernel_size, nd)  # validate, but keep what the user wrote
        if stride is not None:
            int_tuple(name, "stride", stride, nd)
        int_tuple(name, "padding", padding, nd, minimum=0)
        self.kernel_size, self.padding, self.ceil_mode = kernel_size, padding, bool(ceil_mode)
        self.stride = kernel_size if stride is None else stride

    def extra_repr(self):
        return (f"kernel_size={self.kernel_size}, stride={self.stride}, padding={self.padding}, "
                f"ceil_mode={self.ceil_mode}")


class MaxPool1d(_PoolNd):
    """Max over windows along L.   x: (N, C, L) -> (N, C, L_out)."""

    _nd = 1

    def forward(self, x):
        return F.max_pool1d(x, self.kernel_size, self.stride, self.padding, self.ceil_mode)


class MaxPool2d(_PoolNd):
    """Max over (KH, KW) windows.   x: (N, C, H, W) -> (N, C, OH, OW)."""

    _nd = 2

    def forward(self, x):
        return F.max_pool2d(x, self.kernel_size, self.stride, self.padding, self.ceil_mode)


class _AvgPoolNd(_PoolNd):
    def __init__(self, kernel_size, stride=None, padding=0, ceil_mode=False, count_include_pad=True):
        super().__init__(kernel_size, stride, padding, ceil_mode)
        self.count_include_pad = bool(count_include_pad)

    def extra_repr(self):
        return super().extra_repr() + f", count_include_pad={self.count_include_pad}"


class AvgPool1d(_AvgPoolNd):
    """Mean over windows along L.   x: (N, C, L) -> (N, C, L_out)."""

    _nd = 1

    def forward(self, x):
        return F.avg_pool1d(x, self.kernel_size, self.stride, self.padding, self.ceil_mode,
                            self.count_include_pad)


class AvgPool2d(_AvgPoolNd):
    """Mean over (KH, KW) windows.   x: (N, C, H, W) -> (N, C, OH, OW)."""

    _nd = 2

    def forward(self, x):
        return F.avg_pool2d(x, self.kernel_size, self.stride, self.padding, self.ceil_mode,
                            self.count_include_pad)
