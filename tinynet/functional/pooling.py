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
order that conv2d produces flows through untouched). Samples are independent, so the batch
is cut into bands (``conv.row_pieces``) that ``tinynet.threads`` spreads over threads; on a
GPU the batch is one band.

Integer input is refused (padding is -inf for max pooling, and an average is a fraction);
an empty batch gives an empty output.

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
from ..checks import int_tuple, tensor
from .conv import _placed, row_pieces, run_pieces


def pool_output_size(size, k, s, p, ceil_mode):
    """Pooled length along one axis (PyTorch's and Caffe's rule); the one place it is computed."""
    span = size + 2 * p - k
    out = (-(-span // s) if ceil_mode else span // s) + 1
    if ceil_mode and (out - 1) * s >= size + p:  # the last window must start inside input or left pad
        out -= 1
    return out


def _memory_order(a):
    """a's axes from the largest stride to the smallest: the order its elements sit in memory."""
    return tuple(int(i) for i in np.argsort([-abs(st) for st in a.strides], kind="stable"))


def _alloc(xp, shape, order, dtype):
    """An uninitialised ``shape`` array whose memory follows ``order`` (see ``_memory_order``)."""
    buf = xp.empty(tuple(shape[a] for a in order), dtype=dtype)
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


def _reduce_axis(x, out, idx, axis, k, s, p, kind):
    """1-D pooling of x along ``axis`` into ``out``: running max (offset of the first maximum into
    ``idx``) or sum."""
    xp = get_array_module(x)
    slices = _axis_slices(axis, k, s, p, x.shape[axis], out.shape[axis])
    if idx is not None:
        idx[...] = 0
    j0, xi0, yi0 = slices[0]
    if out[yi0].shape == out.shape:  # the first offset reaches every output: start from a copy
        out[...] = x[xi0]
        slices = slices[1:]
    else:
        out[...] = -np.inf if kind == "max" else 0  # what padding counts as
    for j, xi, yi in slices:
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


def _spread_axis(g, gx, idx, axis, k, s, p):
    """Backward of ``_reduce_axis``: send g back into ``gx`` (to the recorded maxima when idx is given)."""
    gx[...] = 0
    for j, xi, yi in _axis_slices(axis, k, s, p, gx.shape[axis], g.shape[axis]):
        # windows overlap when the stride is smaller than the kernel: accumulate. Into a view:
        # ``gx[xi] += ...`` would also copy the view back onto itself (one more pass, one more kernel)
        dst = gx[xi]
        dst += g[yi] if idx is None else g[yi] * (idx[yi] == j)


class Pool2dFn(Function):
    """Max or average pooling.   x: (N, C, H, W) -> (N, C, OH, OW); ``spatial`` = 1 for (N, C, L).

    Both are separable: the max (or sum) over a KH x KW window is the max over KW columns of
    the max over KH rows. So we pool along H (axis 2), then along W (axis 3): KH + KW passes
    instead of KH*KW. H goes first because in conv2d's (H, N, W, C) memory order whole rows
    are contiguous (long, fast passes) and the second pass then runs on the smaller array;
    measured, this is about 20% faster than W first. The price is the tie rule (module
    docstring). Samples are independent, so the batch is cut into pieces (``row_pieces``)
    that threads share, each running both passes on its samples.
    """

    def __init__(self, kind, kernel, stride, padding, ceil_mode, count_include_pad=True, spatial=2):
        self.kind, self.kernel, self.stride, self.padding = kind, kernel, stride, padding
        self.ceil_mode, self.count_include_pad, self.spatial = ceil_mode, count_include_pad, spatial

    def _steps(self, h, w, oh, ow):
        """(axis, kernel, stride, padding, input length, output length) for the H pass, then the W pass."""
        (kh, kw), (sh, sw), (ph, pw) = self.kernel, self.stride, self.padding
        steps = [(2, kh, sh, ph, h, oh), (3, kw, sw, pw, w, ow)]
        return [st for st in steps if not (st[1] == 1 and st[2] == 1 and st[3] == 0)]  # skip identity passes

    def _pieces(self, shape, xp):
        return row_pieces(shape[0], int(np.prod(shape[1:])), xp)  # bands of samples

    def forward(self, x):
        if self.spatial == 1:
            x = x[:, :, None, :]
        xp = get_array_module(x)
        n, c, h, w = x.shape
        (kh, kw), (sh, sw), (ph, pw) = self.kernel, self.stride, self.padding
        oh = pool_output_size(h, kh, sh, ph, self.ceil_mode)
        ow = pool_output_size(w, kw, sw, pw, self.ceil_mode)
        self.in_shape, self.order = x.shape, _memory_order(x)
        self.steps = self._steps(h, w, oh, ow)
        # one output per pass (its memory in the input's order), and the argmax offsets for max
        outs, self.idx, shape = [], [], x.shape
        for axis, k, s, p, n_in, n_out in self.steps:
            shape = shape[:axis] + (n_out,) + shape[axis + 1:]
            outs.append(_alloc(xp, shape, self.order, x.dtype))
            self.idx.append(_alloc(xp, shape, self.order, np.uint8 if k <= 256 else np.int32)
                            if self.kind == "max" else None)
        if not outs:  # a 1x1 window with stride 1 pools nothing: still return a new array
            outs.append(_alloc(xp, x.shape, self.order, x.dtype))
        out = outs[-1]
        self.scale = self._inverse_counts(h, w, oh, ow, xp, x.dtype) if self.kind == "avg" else None

        def piece(rows):
            b = slice(*rows)
            src = x[b]
            for (axis, k, s, p, _, _), dst, idx in zip(self.steps, outs, self.idx):
                _reduce_axis(src, dst[b], None if idx is None else idx[b], axis, k, s, p, self.kind)
                src = dst[b]
            if not self.steps:
                out[b] = src
            if self.scale is not None:
                dst = out[b]
                dst *= self.scale

        run_pieces(piece, self._pieces(x.shape, xp), xp)
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
        xp = get_array_module(gy)
        # one gradient per pass, backwards: the input of each pass, in the input's memory order
        grads, shape = [], self.in_shape
        for axis, k, s, p, n_in, n_out in self.steps:
            grads.append(_alloc(xp, shape, self.order, gy.dtype))
            shape = shape[:axis] + (n_out,) + shape[axis + 1:]
        gx = grads[0] if grads else _alloc(xp, self.in_shape, self.order, gy.dtype)

        def piece(rows):
            b = slice(*rows)
            g = gy[b] * self.scale if self.scale is not None else gy[b]
            for (axis, k, s, p, _, _), dst, idx in reversed(list(zip(self.steps, grads, self.idx))):
                _spread_axis(g, dst[b], None if idx is None else idx[b], axis, k, s, p)
                g = dst[b]
            if not self.steps:  # a 1x1 kernel with stride 1: the identity
                gx[b] = g

        run_pieces(piece, self._pieces(self.in_shape, xp), xp)
        self.idx = None
        return (gx[:, :, 0, :] if self.spatial == 1 else gx,)


# ---------------------------------------------------------------------------- the user's entry points
def pool_args(where, spatial, kernel_size, stride, padding):
    """kernel_size, stride (default: the kernel) and padding as checked ``spatial``-tuples: what a layer
    does once. Padding may be at most half the kernel (else a window could hold only padding)."""
    kernel = int_tuple(where, "kernel_size", kernel_size, spatial)
    stride = kernel if stride is None else int_tuple(where, "stride", stride, spatial)
    padding = int_tuple(where, "padding", padding, spatial, minimum=0)
    if any(2 * p > k for p, k in zip(padding, kernel)):
        raise ValueError(f"{where}: padding={padding} must be at most half of kernel_size={kernel} "
                         "(otherwise a window could hold nothing but padding); reduce the padding")
    return kernel, stride, padding


def pool_nd(kind, input, kernel, stride, padding, ceil_mode=False, count_include_pad=True, where="pool"):
    """Max (``kind`` 'max') or average ('avg') pooling, 1-D or 2-D by ``len(kernel)``, with the
    arguments already checked by ``pool_args``: what layers call every step (the input is checked)."""
    spatial = len(kernel)
    tensor(where, "input", input, spatial + 2, "(N, C, L)" if spatial == 1 else "(N, C, H, W)")
    if not np.issubdtype(input.dtype, np.floating):
        raise TypeError(f"{where}: input has dtype {input.dtype}; pooling needs floating-point input "
                        "(padding is -inf for max, and an average is a fraction): convert with .astype(np.float32)")
    size = input.shape[2:]
    if any(s + 2 * p < k for s, k, p in zip(size, kernel, padding)):
        raise ValueError(f"{where}: kernel_size={tuple(kernel)} is larger than the padded input ({size} plus "
                         f"padding {tuple(padding)} on each side); use a smaller kernel or more padding")
    if spatial == 1:
        kernel, stride, padding = (1,) + tuple(kernel), (1,) + tuple(stride), (0,) + tuple(padding)
    return Pool2dFn(kind, kernel, stride, padding, bool(ceil_mode), bool(count_include_pad), spatial)(input)


def max_pool2d(input, kernel_size, stride=None, padding=0, ceil_mode=False):
    """Max over (KH, KW) windows.   input (N, C, H, W) -> (N, C, OH, OW); stride defaults to kernel_size."""
    return pool_nd("max", input, *pool_args("max_pool2d", 2, kernel_size, stride, padding), ceil_mode,
                   where="max_pool2d")


def max_pool1d(input, kernel_size, stride=None, padding=0, ceil_mode=False):
    """Max over windows along L.   input (N, C, L) -> (N, C, L_out)."""
    return pool_nd("max", input, *pool_args("max_pool1d", 1, kernel_size, stride, padding), ceil_mode,
                   where="max_pool1d")


def avg_pool2d(input, kernel_size, stride=None, padding=0, ceil_mode=False, count_include_pad=True):
    """Mean over (KH, KW) windows.   input (N, C, H, W) -> (N, C, OH, OW); stride defaults to kernel_size."""
    return pool_nd("avg", input, *pool_args("avg_pool2d", 2, kernel_size, stride, padding), ceil_mode,
                   count_include_pad, where="avg_pool2d")


def avg_pool1d(input, kernel_size, stride=None, padding=0, ceil_mode=False, count_include_pad=True):
    """Mean over windows along L.   input (N, C, L) -> (N, C, L_out)."""
    return pool_nd("avg", input, *pool_args("avg_pool1d", 1, kernel_size, stride, padding), ceil_mode,
                   count_include_pad, where="avg_pool1d")
