"""Pooling layers: MaxPool1d/2d and AvgPool1d/2d (arguments as in PyTorch; stride defaults to kernel_size)."""
from __future__ import annotations

from ..functional.pooling import pool_args, pool_nd
from .module import Module


class _PoolNd(Module):
    """Shared constructor. The arguments are checked here, once, and kept as the user wrote them
    (for the repr); forward hands their checked tuples to the kernel without checking them again."""

    _nd = 0
    _kind = ""

    def __init__(self, kernel_size, stride=None, padding=0, ceil_mode=False, count_include_pad=True):
        super().__init__()
        self._geometry = pool_args(type(self).__name__, self._nd, kernel_size, stride, padding)
        self.kernel_size, self.padding, self.ceil_mode = kernel_size, padding, bool(ceil_mode)
        self.stride = kernel_size if stride is None else stride
        self.count_include_pad = bool(count_include_pad)

    def forward(self, x):
        return pool_nd(self._kind, x, *self._geometry, self.ceil_mode, self.count_include_pad,
                       where=type(self).__name__)

    def extra_repr(self):
        return (f"kernel_size={self.kernel_size}, stride={self.stride}, padding={self.padding}, "
                f"ceil_mode={self.ceil_mode}")


class MaxPool1d(_PoolNd):
    """Max over windows along L.   x: (N, C, L) -> (N, C, L_out)."""

    _nd, _kind = 1, "max"

    def __init__(self, kernel_size, stride=None, padding=0, ceil_mode=False):
        super().__init__(kernel_size, stride, padding, ceil_mode)


class MaxPool2d(_PoolNd):
    """Max over (KH, KW) windows.   x: (N, C, H, W) -> (N, C, OH, OW)."""

    _nd, _kind = 2, "max"

    def __init__(self, kernel_size, stride=None, padding=0, ceil_mode=False):
        super().__init__(kernel_size, stride, padding, ceil_mode)


class _AvgPoolNd(_PoolNd):
    _kind = "avg"

    def extra_repr(self):
        return super().extra_repr() + f", count_include_pad={self.count_include_pad}"


class AvgPool1d(_AvgPoolNd):
    """Mean over windows along L.   x: (N, C, L) -> (N, C, L_out)."""

    _nd = 1


class AvgPool2d(_AvgPoolNd):
    """Mean over (KH, KW) windows.   x: (N, C, H, W) -> (N, C, OH, OW)."""

    _nd = 2
