"""max_pool1d/2d and avg_pool1d/2d with PyTorch's arguments (and Caffe's ceil-mode sizes).

Dimension names: N batch, C channels, H x W input, KH x KW kernel, SH x SW stride (default:
the kernel size), PH x PW padding, OH x OW output.

    OH = floor_or_ceil((H + 2*PH - KH) / SH) + 1
    (ceil_mode: a last window that would start in the right-hand padding is dropped)

Padding counts as -inf for max pooling and as 0 for average pooling. The average divides
by the window size including padding (``count_include_pad=True``, PyTorch's default and
Caffe's rule) or by the number of real input elements in it; the part of a ceil-mode window
hanging past the padding is never counted.

The readable versions are in ``reference.py``. The fast kernel pools one axis at a time
(the window max or sum is separable: first along H, over the KH rows of each window
column, then along W over its KW columns), looping over the kernel
offsets along that axis: for offset j one strided view holds that element of every window,
and one vectorised operation folds it into the output (a running max, or a sum). The parts
of a view that would fall into the padding are clipped instead of read from a padded copy.
Backward scatters over the same views with ``+=``, so overlapping windows (kernel 3,
stride 2) accumulate. Output and gradient keep the input's memory order (the (OH, N, OW, C)
order that conv2d produces flows through untouched).

Max-pool ties: the gradient goes to one maximum, the first in column-major order (the
top-most one in the left-most column holding the maximum). PyTorch takes the first in
row-major order; the two differ only when equal maxima sit in different rows *and*
columns, e.g. [[0, 5], [5, 0]]. After a ReLU most ties are zeros, whose gradient the ReLU
drops anyway. NaN propagates to the output.
"""
from __future__ import annotations

import numpy as np

from ..autograd import Function
from ..backend import get_array_module
from ..tensor import Tensor
from .conv import _int_tuple, _placed


def pool_output_size(size, k, s, p, ceil_mode):
    """Pooled length along one axis (PyTorch's and Caffe's rule)."""
    span = size + 2 * p - k
    out = (-(-span // s) if ceil_mode else span // s) + 1
    if ceil_mode and (out - 1) * s >= size + p:  # the last window must start inside input or left pad
        out -= 1
    return out


def _memory_order(a):
    """a's axes from the largest stride to the smallest: the order its elements sit in memory."""
    return tuple(int(i) for i in np.argsort([-abs(st) for st in a.strides], kind="stable"))


def _alloc(xp, shape, order, dtype, fill):
    """A ``shape`` array filled with ``fill`` whose memory follows ``order`` (see ``_memory_order``)."""
    buf = xp.full(tuple(shape[a] for a in order), fill, dtype=dtype)
    return buf.transpose(tuple(int(i) for i in np.argsort(order)))


def _axis_slices(axis, k, s, p, n_in, n_out):
    """For each kernel offset j along ``axis``: (j, input index, output index), padding clipped away.

    Output position o reads input o*s + j - p; positions falling into the padding (or past it,
    in ceil mode) are left out, so ``x[input_index]`` and ``y[output_index]`` have equal shapes.
    """
    pairs = []
    for j in range(k):
        first, stop, lo, hi = _placed(j - p, s, n_out, n_in)
        if hi > lo:
            lead = (slice(None),) * axis
            pairs.append((j, lead + (slice(first, stop, s),), lead + (slice(lo, hi),)))
    return pairs


def _reduce_axis(x, axis, k, s, p, n_out, kind, order):
    """1-D pooling of x along ``axis``: running max (with the offset of the first maximum) or sum."""
    xp = get_array_module(x)
    shape = x.shape[:axis] + (n_out,) + x.shape[axis + 1:]
    out = _alloc(xp, shape, order, x.dtype, -np.inf if kind == "max" else 0)  # padding: -inf or 0
    idx = xp.zeros_like(out, dtype=np.uint8 if k <= 256 else np.int32) if kind == "max" else None
    for j, xi, yi in _axis_slices(axis, k, s, p, x.shape[axis], n_out):
        v, o = x[xi], out[yi]
        if kind == "max":
            better = v > o  # strict, so the first maximum keeps the gradient
            xp.maximum(o, v, out=o)  # maximum, not a masked copy, so NaN propagates
            # idx = j where better: j exceeds every offset stored so far, so a maximum does it
            # without a masked write (masked writes are branchy and several times slower)
            d = idx[yi]
            xp.maximum(d, better * d.dtype.type(j), out=d)
        else:
            o += v
    return out, idx


def _spread_axis(g, axis, k, s, p, n_in, idx, order):
    """Backward of ``_reduce_axis``: send g back to the inputs (to the recorded maxima when idx is given)."""
    xp = get_array_module(g)
    gx = _alloc(xp, g.shape[:axis] + (n_in,) + g.shape[axis + 1:], order, g.dtype, 0)
    for j, xi, yi in _axis_slices(axis, k, s, p, n_in, g.shape[axis]):
        # windows overlap when the stride is smaller than the kernel: accumulate
        gx[xi] += g[yi] if idx is None else g[yi] * (idx[yi] == j)
    return gx


class Pool2dFn(Function):
    """Max or average pooling.   x: (N, C, H, W) -> (N, C, OH, OW); ``spatial`` = 1 for (N, C, L).

    Both are separable: the max (or sum) over a KH x KW window is the max over KW columns of
    the max over KH rows. So we pool along H (axis 2), then along W (axis 3): KH + KW passes
    instead of KH*KW. H goes first because in conv2d's (H, N, W, C) memory order whole rows
    are contiguous (long, fast passes) and the second pass then runs on the smaller array;
    measured, this is about 20% faster than W first. The price is the tie rule (module
    docstring).
    """

    def __init__(self, kind, kernel, stride, padding, ceil_mode, count_include_pad=True, spatial=2):
        self.kind, self.kernel, self.stride, self.padding = kind, kernel, stride, padding
        self.ceil_mode, self.count_include_pad, self.spatial = ceil_mode, count_include_pad, spatial

    def _steps(self, h, w, oh, ow):
        """(axis, kernel, stride, padding, input length, output length) for the H pass, then the W pass."""
        (kh, kw), (sh, sw), (ph, pw) = self.kernel, self.stride, self.padding
        steps = [(2, kh, sh, ph, h, oh), (3, kw, sw, pw, w, ow)]
        return [st for st in steps if not (st[1] == 1 and st[2] == 1 and st[3] == 0)]  # skip identity passes

    def forward(self, x):
        if self.spatial == 1:
            x = x[:, :, None, :]
        xp = get_array_module(x)
        n, c, h, w = x.shape
        (kh, kw), (sh, sw), (ph, pw) = self.kernel, self.stride, self.padding
        oh = pool_output_size(h, kh, sh, ph, self.ceil_mode)
        ow = pool_output_size(w, kw, sw, pw, self.ceil_mode)
        self.in_shape, self.order = x.shape, _memory_order(x)
        self.idx = []
        out = x
        for axis, k, s, p, _, n_out in self._steps(h, w, oh, ow):
            out, idx = _reduce_axis(out, axis, k, s, p, n_out, self.kind, self.order)
            self.idx.append(idx)
        if out is x:  # a 1x1 window with stride 1 pools nothing: still return a new array
            out = x.copy()
        if self.kind == "avg":
            self.scale = self._inverse_counts(h, w, oh, ow, xp, x.dtype)
            out *= self.scale
        return out[:, :, 0, :] if self.spatial == 1 else out

    def _inverse_counts(self, h, w, oh, ow, xp, dtype):
        """1 / window size: a Python float when every window has KH*KW counted elements, else (OH, OW)."""
        (kh, kw), (sh, sw), (ph, pw) = self.kernel, self.stride, self.padding
        lo_h, hi_h, lo_w, hi_w = (-ph, h + ph, -pw, w + pw) if self.count_include_pad else (0, h, 0, w)
        start_h = np.arange(oh) * sh - ph
        start_w = np.arange(ow) * sw - pw
        rows = np.minimum(start_h + kh, hi_h) - np.maximum(start_h, lo_h)
        cols = np.minimum(start_w + kw, hi_w) - np.maximum(start_w, lo_w)
        if (rows == kh).all() and (cols == kw).all():
            return 1.0 / (kh * kw)
        return xp.asarray(1.0 / np.outer(rows, cols), dtype=dtype)

    def backward(self, gy):
        if self.spatial == 1:
            gy = gy[:, :, None, :]
        n, c, h, w = self.in_shape
        g = gy * self.scale if self.kind == "avg" else gy
        steps = self._steps(h, w, gy.shape[2], gy.shape[3])
        for (axis, k, s, p, n_in, _), idx in reversed(list(zip(steps, self.idx))):
            g = _spread_axis(g, axis, k, s, p, n_in, idx, self.order)
        if g is gy:  # a 1x1 kernel with stride 1: the identity
            g = gy.copy()
        self.idx = None
        return (g[:, :, 0, :] if self.spatial == 1 else g,)


# ---------------------------------------------------------------------------- argument checks
def _pool(fname, kind, spatial, input, kernel_size, stride, padding, ceil_mode, count_include_pad=True):
    dims = "(N, C, L)" if spatial == 1 else "(N, C, H, W)"
    if not isinstance(input, Tensor):
        raise TypeError(f"{fname}: input must be a tinynet Tensor, got {type(input).__name__}")
    if input.ndim != spatial + 2:
        raise ValueError(f"{fname}: input must be {spatial + 2}-D {dims}, got shape {input.shape}")
    kernel = _int_tuple(fname, "kernel_size", kernel_size, spatial, 1)
    stride = kernel if stride is None else _int_tuple(fname, "stride", stride, spatial, 1)
    padding = _int_tuple(fname, "padding", padding, spatial, 0)
    if any(2 * p > k for p, k in zip(padding, kernel)):
        raise ValueError(f"{fname}: padding={padding} must be at most half of kernel_size={kernel} "
                         "(otherwise a window could hold nothing but padding); reduce the padding")
    size = input.shape[2:]
    if any(s + 2 * p < k for s, k, p in zip(size, kernel, padding)):
        raise ValueError(f"{fname}: kernel_size={kernel} is larger than the padded input ({size} plus "
                         f"padding {padding} on each side); use a smaller kernel or more padding")
    if spatial == 1:
        kernel, stride, padding = (1,) + kernel, (1,) + stride, (0,) + padding
    return Pool2dFn(kind, kernel, stride, padding, bool(ceil_mode), bool(count_include_pad), spatial)(input)


def max_pool2d(input, kernel_size, stride=None, padding=0, ceil_mode=False):
    """Max over (KH, KW) windows.   input (N, C, H, W) -> (N, C, OH, OW); stride defaults to kernel_size."""
    return _pool("max_pool2d", "max", 2, input, kernel_size, stride, padding, ceil_mode)


def max_pool1d(input, kernel_size, stride=None, padding=0, ceil_mode=False):
    """Max over windows along L.   input (N, C, L) -> (N, C, L_out)."""
    return _pool("max_pool1d", "max", 1, input, kernel_size, stride, padding, ceil_mode)


def avg_pool2d(input, kernel_size, stride=None, padding=0, ceil_mode=False, count_include_pad=True):
    """Mean over (KH, KW) windows.   input (N, C, H, W) -> (N, C, OH, OW); stride defaults to kernel_size."""
    return _pool("avg_pool2d", "avg", 2, input, kernel_size, stride, padding, ceil_mode, count_include_pad)


def avg_pool1d(input, kernel_size, stride=None, padding=0, ceil_mode=False, count_include_pad=True):
    """Mean over windows along L.   input (N, C, L) -> (N, C, L_out)."""
    return _pool("avg_pool1d", "avg", 1, input, kernel_size, stride, padding, ceil_mode, count_include_pad)
