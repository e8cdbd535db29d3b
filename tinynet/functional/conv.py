"""conv1d and conv2d: cross-correlation (as in PyTorch) by column matrices and matrix products.

Dimension names used throughout: N batch, C input channels, O output channels, H x W input,
KH x KW kernel, SH x SW stride, PH x PW padding, OH x OW output, Hp x Wp padded input.

    y[n, o, oh, ow] = b[o] + sum_{c, i, j} w[o, c, i, j] * xpad[n, c, oh*SH + i, ow*SW + j]
    OH = (H + 2*PH - KH) // SH + 1          (same for W)

The readable version of this is ``conv2d_reference`` in ``reference.py``: a loop over the
KH*KW kernel offsets. This module is the fast kernel; the tests check one against the other.

How the fast kernel works, and why it is laid out as it is
-----------------------------------------------------------
Textbook im2col copies every (C, KH, KW) input patch into one row of an
(N*OH*OW, C*KH*KW) matrix and does one GEMM. That matrix is KH*KW times the size of
the input (82 MB for the 32-channel 16x16 layer of Caffe's cifar10_full at batch 100),
and writing it costs more than the GEMM itself. So we copy only along W:

1. The padded input is stored in "HNWC" memory order, shape (Hp, N, Wp, C).
2. ``cols[h, n, ow, j, c] = xpad[h, n, ow*SW + j, c]``: one strided view and one copy,
   KW (not KH*KW) times the input size. Each (j, c) row piece is KW*C contiguous numbers.
3. For kernel row i, the patches of all outputs are the rows h = oh*SH + i of ``cols``; with
   SH == 1 that is the contiguous block ``cols[i:i+OH]``, a plain (OH*N*OW, KW*C) matrix,
   so ``y += block_i @ w_i`` is one BLAS call per kernel row (KH calls in all).
4. The result comes out as (OH, N, OW, O) in memory, and is returned as a *view* with the
   usual shape (N, O, OH, OW). No transpose copy: the next conv or pooling reads strides,
   not a fixed order, and elementwise ops (ReLU) keep the layout. Call
   ``np.ascontiguousarray`` on ``.data`` if you ever need C order.

With few input channels (KW*C small, the RGB input layer) the per-row GEMMs get too thin
to run fast, so we fold the kernel rows in as well (classic im2col, one GEMM).

The columns are built a chunk of output rows at a time (``_CHUNK`` numbers at most) and are
not kept for backward: backward rebuilds them from the saved padded input. The copy is
cheap next to the GEMMs, and it saves memory (30 MB per step for cifar10_full's first
layer) and the page faults that come with big short-lived allocations; measured, the
step gets faster, not slower.

Backward:
- grad w: ``block_i.T @ grad_y`` for each kernel row, accumulated over the chunks.
- grad b: the sum of grad_y over N, OH, OW (as a matrix-vector product: BLAS sums faster).
- grad x: the gradient of a convolution with respect to its input is itself a convolution:
  the output gradient, dilated by the stride (SH-1 zeros between rows) and padded by
  KH-1-PH, correlated with the kernel flipped in both spatial axes and with C and O
  swapped. We run it through the same kernel as the forward pass, which costs a
  small copy instead of scattering a KH*KW-times-larger column gradient back (col2im).
  It is skipped when the input needs no gradient (the images fed to the first layer).
"""
from __future__ import annotations

import numpy as np

from ..autograd import Function
from ..backend import as_strided, get_array_module
from ..tensor import Tensor

# Below this many numbers per kernel row (KW*C), fold all kernel rows into one GEMM:
# a (M, 15) @ (15, O) product for RGB input runs far below BLAS speed.
_MIN_ROW_WIDTH = 64
# Column-matrix numbers built at a time (32 MB in float32), see _correlate.
_CHUNK = 1 << 23


# ---------------------------------------------------------------------------- the kernel
def _pad_hnwc(x, ph, pw):
    """x presented as (N, C, H, W) (any strides) -> zero-padded copy (H+2PH, N, W+2PW, C), C order."""
    xp = get_array_module(x)
    n, c, h, w = x.shape
    out = xp.empty((h + 2 * ph, n, w + 2 * pw, c), dtype=x.dtype)
    if ph:  # zero only the border: the interior is overwritten next
        out[:ph] = 0
        out[ph + h:] = 0
    if pw:
        out[:, :, :pw] = 0
        out[:, :, pw + w:] = 0
    out[ph:ph + h, :, pw:pw + w] = x.transpose(2, 0, 3, 1)
    return out


def _columns(xpad, kh, kw, sh, sw, oh, ow, whole):
    """Column matrix of a padded (Hp, N, Wp, C) input.

    whole=False: (rows, N*OW, KW*C) with rows = (OH-1)*SH + KH; kernel row i uses rows i, i+SH, ...
    whole=True:  (OH, N*OW, KH*KW*C), classic im2col with all kernel rows folded in.
    """
    hp, n, wp, c = xpad.shape
    s_h, s_n, s_w, s_c = xpad.strides
    if whole:
        view = as_strided(xpad, (oh, n, ow, kh, kw, c), (s_h * sh, s_n, s_w * sw, s_h, s_w, s_c))
        return view.reshape(oh, n * ow, kh * kw * c)
    rows = (oh - 1) * sh + kh
    view = as_strided(xpad, (rows, n, ow, kw, c), (s_h, s_n, s_w * sw, s_w, s_c))
    return view.reshape(rows, n * ow, kw * c)


def _block(cols, i, sh, oh, whole):
    """The patches that kernel row i sees: (OH*N*OW, K) when rows are contiguous, else (OH, N*OW, K)."""
    if whole:
        return cols.reshape(-1, cols.shape[2])
    if sh == 1:
        return cols[i:i + oh].reshape(-1, cols.shape[2])  # contiguous rows: a view, not a copy
    return cols[i:i + (oh - 1) * sh + 1:sh]


def _row_weights(w, whole):
    """(O, C, KH, KW) -> (KH, KW*C, O) per kernel row, or (1, KH*KW*C, O) when whole; matches ``_columns``."""
    o, c, kh, kw = w.shape
    wr = w.transpose(2, 3, 1, 0)
    return wr.reshape(1, kh * kw * c, o) if whole else wr.reshape(kh, kw * c, o)


def _correlate(xpad, wr, kh, kw, sh, sw, oh, ow, whole):
    """Valid cross-correlation of an (Hp, N, Wp, C) input -> y of shape (OH, N, OW, O).

    Works through the output rows in chunks of at most ``_CHUNK`` column numbers, building
    each chunk's columns just before its KH products (see the module docstring).
    """
    xp = get_array_module(xpad)
    n, o = xpad.shape[1], wr.shape[2]
    y = xp.empty((oh, n * ow, o), dtype=xpad.dtype)
    tmp = None
    for r0, r1 in _row_chunks(oh, n * ow * wr.shape[0] * wr.shape[1]):
        cols = _columns(xpad[r0 * sh:(r1 - 1) * sh + kh], kh, kw, sh, sw, r1 - r0, ow, whole)
        for i in range(len(wr)):
            blk = _block(cols, i, sh, r1 - r0, whole)
            dst = y[r0:r1].reshape(blk.shape[:-1] + (o,))  # a view: the rows are contiguous
            if i == 0:
                xp.matmul(blk, wr[0], out=dst)
            else:
                if tmp is None or tmp.shape != dst.shape:
                    tmp = xp.empty_like(dst)
                xp.matmul(blk, wr[i], out=tmp)
                dst += tmp
    return y.reshape(oh, n, ow, o)


def _row_chunks(oh, per_row):
    """(start, stop) ranges of output rows, each about _CHUNK column-matrix numbers."""
    step = max(1, _CHUNK // per_row)
    return [(r0, min(oh, r0 + step)) for r0 in range(0, oh, step)]


def _use_whole(kw, c):
    return kw * c < _MIN_ROW_WIDTH


class Conv2dFn(Function):
    """y = conv2d(x, w) + b.   x: (N, C, H, W), w: (O, C, KH, KW), b: (O,) -> y: (N, O, OH, OW).

    ``spatial`` = 1 makes it conv1d: x (N, C, L) and w (O, C, K) are viewed as height-1 images.
    """

    def __init__(self, stride, padding, spatial=2):
        self.stride, self.padding, self.spatial = stride, padding, spatial

    def forward(self, x, w, b=None):
        if self.spatial == 1:  # (N, C, L) -> (N, C, 1, L): a view
            x, w = x[:, :, None, :], w[:, :, None, :]
        n, c, h, wid = x.shape
        o, _, kh, kw = w.shape
        (sh, sw), (ph, pw) = self.stride, self.padding
        oh, ow = (h + 2 * ph - kh) // sh + 1, (wid + 2 * pw - kw) // sw + 1
        whole = _use_whole(kw, c)
        xpad = _pad_hnwc(x, ph, pw)
        y = _correlate(xpad, _row_weights(w, whole), kh, kw, sh, sw, oh, ow, whole)
        if b is not None:
            y += b
        self.xpad, self.w, self.whole, self.in_shape = xpad, w, whole, x.shape
        y = y.transpose(1, 3, 0, 2)  # (OH, N, OW, O) memory presented as (N, O, OH, OW)
        return y[:, :, 0, :] if self.spatial == 1 else y

    def backward(self, gy):
        xp = get_array_module(gy)
        if self.spatial == 1:
            gy = gy[:, :, None, :]
        w, xpad, whole = self.w, self.xpad, self.whole
        n, c, h, wid = self.in_shape
        o, _, kh, kw = w.shape
        (sh, sw), (ph, pw) = self.stride, self.padding
        oh, ow = gy.shape[2], gy.shape[3]
        g = xp.ascontiguousarray(gy.transpose(2, 0, 3, 1))  # (OH, N, OW, O); free if gy came from our layout
        gx = gw = gb = None

        if self.needs_grad[0]:
            gx = self._grad_input(g, w, (n, c, h, wid))
            if self.spatial == 1:
                gx = gx[:, :, 0, :]
        if self.needs_grad[1]:
            # grad w_i = sum over output rows of columns_i^T @ grad_y, rebuilding the columns chunk by chunk
            groups, k = (1, kh * kw * c) if whole else (kh, kw * c)
            gwr = xp.zeros((groups, k, o), dtype=g.dtype)
            tmp = xp.empty((k, o), dtype=g.dtype)
            g3 = g.reshape(oh, n * ow, o)
            for r0, r1 in _row_chunks(oh, n * ow * groups * k):
                cols = _columns(xpad[r0 * sh:(r1 - 1) * sh + kh], kh, kw, sh, sw, r1 - r0, ow, whole)
                for i in range(groups):
                    blk = _block(cols, i, sh, r1 - r0, whole)
                    if blk.ndim == 2:
                        xp.matmul(blk.T, g3[r0:r1].reshape(-1, o), out=tmp)
                        gwr[i] += tmp
                    else:  # strided rows: one product per output row
                        gwr[i] += xp.matmul(blk.transpose(0, 2, 1), g3[r0:r1]).sum(axis=0)
            gw = xp.ascontiguousarray(gwr.reshape(kh, kw, c, o).transpose(3, 2, 0, 1))
            if self.spatial == 1:
                gw = gw[:, :, 0, :]
        if len(self.needs_grad) > 2 and self.needs_grad[2]:
            g2 = g.reshape(-1, o)
            gb = xp.ones(g2.shape[0], dtype=g.dtype) @ g2  # a BLAS product: much faster than g2.sum(axis=0)
        self.xpad = self.w = None
        return gx, gw, gb

    def _grad_input(self, g, w, in_shape):
        """grad x = correlate(dilate_pad(grad y), flipped w with C and O swapped); see the module docstring."""
        xp = get_array_module(g)
        n, c, h, wid = in_shape
        o, _, kh, kw = w.shape
        (sh, sw), (ph, pw) = self.stride, self.padding
        oh, ow = g.shape[0], g.shape[2]
        # gz[t] holds grad y row oh at t = (KH-1-PH) + oh*SH; rows falling outside [0, H+KH-1)
        # only ever touched padding, so they are cropped.
        gz = xp.zeros((h + kh - 1, n, wid + kw - 1, o), dtype=g.dtype)
        rh = _placed(kh - 1 - ph, sh, oh, h + kh - 1)
        rw = _placed(kw - 1 - pw, sw, ow, wid + kw - 1)
        gz[rh[0]:rh[1]:sh, :, rw[0]:rw[1]:sw] = g[rh[2]:rh[3], :, rw[2]:rw[3]]
        wt = w[:, :, ::-1, ::-1].transpose(1, 0, 2, 3)  # (C, O, KH, KW), flipped
        whole = _use_whole(kw, o)
        gx = _correlate(gz, _row_weights(wt, whole), kh, kw, 1, 1, h, wid, whole)
        return gx.transpose(1, 3, 0, 2)


def _placed(offset, stride, count, size):
    """Items k = 0..count-1 go to positions offset + k*stride; keep those inside [0, size).

    Returns (first, stop, k_lo, k_hi) for ``dest[first:stop:stride] = src[k_lo:k_hi]``.
    """
    k_lo = 0 if offset >= 0 else (-offset + stride - 1) // stride
    k_hi = max(k_lo, min(count, (size - 1 - offset) // stride + 1))
    first = offset + k_lo * stride
    stop = first + (k_hi - k_lo - 1) * stride + 1 if k_hi > k_lo else first
    return first, stop, k_lo, k_hi


# ---------------------------------------------------------------------------- argument checks
def _int_tuple(fname, name, value, n, minimum):
    """An int or a sequence of ``n`` ints, each >= ``minimum``, as an n-tuple (else TypeError/ValueError)."""
    items = tuple(value) if isinstance(value, (tuple, list)) else (value,)
    if len(items) == 1:
        items = items * n
    if len(items) != n or any(isinstance(v, bool) or not isinstance(v, (int, np.integer)) for v in items):
        raise TypeError(f"{fname}: {name}={value!r} must be an int or a sequence of {n} ints")
    if any(v < minimum for v in items):
        what = "positive" if minimum == 1 else "non-negative"
        raise ValueError(f"{fname}: {name}={value!r} must be {what} (each value >= {minimum})")
    return tuple(int(v) for v in items)


def _check_tensor(fname, name, t, ndim, layout):
    if not isinstance(t, Tensor):
        raise TypeError(f"{fname}: {name} must be a tinynet Tensor, got {type(t).__name__}; wrap it with Tensor(...)")
    if t.ndim != ndim:
        raise ValueError(f"{fname}: {name} must be {ndim}-D {layout}, got shape {t.shape}")


def _conv(fname, spatial, input, weight, bias, stride, padding):
    dims = "(N, C, L)" if spatial == 1 else "(N, C, H, W)"
    wdims = "(O, C, K)" if spatial == 1 else "(O, C, KH, KW)"
    _check_tensor(fname, "input", input, spatial + 2, dims)
    _check_tensor(fname, "weight", weight, spatial + 2, wdims)
    if input.shape[1] != weight.shape[1]:
        raise ValueError(f"{fname}: input has {input.shape[1]} channels (input shape {dims} = {input.shape}) but "
                         f"weight expects {weight.shape[1]} (weight shape {wdims} = {weight.shape}); "
                         "the weight's second dimension must equal the input's channel count")
    if input.dtype != weight.dtype:
        raise TypeError(f"{fname}: input dtype {input.dtype} differs from weight dtype {weight.dtype}; "
                        "convert one with .astype(...)")
    if bias is not None:
        if not isinstance(bias, Tensor):
            raise TypeError(f"{fname}: bias must be a Tensor or None, got {type(bias).__name__}")
        if bias.shape != (weight.shape[0],):
            raise ValueError(f"{fname}: bias shape {bias.shape} must be ({weight.shape[0]},), one per output channel")
        if bias.dtype != weight.dtype:
            raise TypeError(f"{fname}: bias dtype {bias.dtype} differs from weight dtype {weight.dtype}")
    if 0 in weight.shape:
        raise ValueError(f"{fname}: weight shape {weight.shape} has a zero-sized dimension")
    stride = _int_tuple(fname, "stride", stride, spatial, 1)
    padding = _int_tuple(fname, "padding", padding, spatial, 0)
    size, kernel = input.shape[2:], weight.shape[2:]
    for s, k, p in zip(size, kernel, padding):
        if s + 2 * p < k:
            raise ValueError(f"{fname}: kernel size {kernel} is larger than the padded input "
                             f"({size} plus padding {padding} on each side); use more padding or a smaller kernel")
    if spatial == 1:  # the kernel works on height-1 images
        stride, padding = (1,) + stride, (0,) + padding
    fn = Conv2dFn(stride, padding, spatial)
    return fn(input, weight) if bias is None else fn(input, weight, bias)


def conv2d(input, weight, bias=None, stride=1, padding=0):
    """2-D cross-correlation.   input (N, C, H, W), weight (O, C, KH, KW), bias (O,) -> (N, O, OH, OW).

    stride and padding: an int or an (h, w) pair; padding adds zeros on both sides.
    OH = (H + 2*padding_h - KH) // stride_h + 1, and the same for OW.
    The result's memory is ordered (OH, N, OW, O) (see the module docstring); its shape is as usual.
    """
    return _conv("conv2d", 2, input, weight, bias, stride, padding)


def conv1d(input, weight, bias=None, stride=1, padding=0):
    """1-D cross-correlation.   input (N, C, L), weight (O, C, K), bias (O,) -> (N, O, (L + 2*padding - K) // stride + 1)."""
    return _conv("conv1d", 1, input, weight, bias, stride, padding)
