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

Pieces and threads. The output rows are cut into pieces (``row_pieces``: at most ``_CHUNK``
column numbers each, and up to ``_MAX_PIECES`` pieces when there is enough work), and each
piece builds its own columns just before its KH products. The pieces run on
``tinynet.threads.current()`` threads (NumPy releases the GIL in copies and BLAS calls), with
BLAS held to one thread inside each; the padding copy and the input gradient's placement are
cut the same way. The cut depends on the shapes only, so 1 or 16 threads give the same bits.
conv1d has a single output row (its inputs are height-1 images), so it is one piece, on one
thread: small 1-D nets (MNIST-1D's) gain nothing from threads anyway.
On a GPU the whole layer is one piece and always one im2col product: every kernel launch
costs there, and the copy does not.

The columns are not kept for backward: backward rebuilds them from the saved padded input.
The copy is cheap next to the GEMMs, and it saves memory (30 MB per step for cifar10_full's
first layer) and the page faults that come with big short-lived allocations; measured, the
step gets faster, not slower.

Backward:
- grad w: ``block_i.T @ grad_y`` for each kernel row; each piece returns its partial sum and
  the partial sums are added in piece order.
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

from .. import threads
from ..autograd import Function
from ..backend import as_strided, get_array_module
from ..checks import int_tuple, same_kind, tensor

# Below this many numbers per kernel row (KW*C), fold all kernel rows into one GEMM:
# a (M, 15) @ (15, O) product for RGB input runs far below BLAS speed.
_MIN_ROW_WIDTH = 64
# Column-matrix numbers built at a time on the CPU (32 MB in float32): see _correlate.
_CHUNK = 1 << 23
# On a GPU, memory is plentiful and every kernel launch costs: one piece, up to 256 MB in float32.
_GPU_CHUNK = 1 << 26
# Splitting pays when a piece holds at least this many numbers (about 0.1 ms of work: handing a
# piece to another thread costs some 30-60 us), and at most _MAX_PIECES pieces are cut.
_MIN_PIECE = 1 << 17
_MAX_PIECES = 8


# ---------------------------------------------------------------------------- pieces of work
def row_pieces(rows, per_row, xp=np):
    """Cut ``rows`` rows of ``per_row`` numbers each into (start, stop) pieces of work.

    The cut depends on the sizes alone, never on the thread count, so every thread count adds
    the same partial sums in the same order: the results are identical on 1, 2 or 64 cores.
    On the CPU a piece holds at most ``_CHUNK`` numbers, and work is split into up to
    ``_MAX_PIECES`` pieces of at least ``_MIN_PIECE`` numbers, for threads to share. On a GPU
    (``xp`` not NumPy) the whole is one piece up to ``_GPU_CHUNK``: fewer, larger kernels.
    """
    total = rows * per_row
    if total == 0:
        return []
    if xp is np:
        count = max(-(-total // _CHUNK), min(_MAX_PIECES, total // _MIN_PIECE))
    else:
        count = -(-total // _GPU_CHUNK)
    if count <= 1:
        return [(0, rows)]
    step = -(-rows // min(rows, count))  # ceil(rows / pieces), in integers
    return [(r0, min(rows, r0 + step)) for r0 in range(0, rows, step)]


def run_pieces(work, pieces, xp=np):
    """``[work(p) for p in pieces]``, on ``tinynet.threads.current()`` threads on the CPU, in order.

    Each piece writes only its own part of the output. On a GPU the pieces run one after another
    on this thread (the device runs each kernel in parallel already).
    """
    return threads.parallel_map(work, pieces, threads=None if xp is np else 1)


# ---------------------------------------------------------------------------- the kernel
def _pad_hnwc(x, ph, pw):
    """x presented as (N, C, H, W) (any strides) -> zero-padded copy (H+2PH, N, W+2PW, C), C order."""
    xp = get_array_module(x)
    n, c, h, w = x.shape
    if xp is not np:  # on a GPU, one zero-fill kernel beats four border writes
        out = xp.zeros((h + 2 * ph, n, w + 2 * pw, c), dtype=x.dtype)
    else:  # on the CPU, zero only the border: the interior is overwritten next
        out = xp.empty((h + 2 * ph, n, w + 2 * pw, c), dtype=x.dtype)
        if ph:
            out[:ph] = 0
            out[ph + h:] = 0
        if pw:
            out[:, :, :pw] = 0
            out[:, :, pw + w:] = 0
    src = x.transpose(2, 0, 3, 1)

    def copy_rows(rows):  # the transposing copy, a band of input rows per piece
        out[ph + rows[0]:ph + rows[1], :, pw:pw + w] = src[rows[0]:rows[1]]

    run_pieces(copy_rows, row_pieces(h, n * w * c, xp), xp)
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


def _pieces_for(xpad, wr, oh, ow):
    """Output-row pieces of a correlation: a row's work is its N*OW patches of KH*KW*C numbers."""
    return row_pieces(oh, xpad.shape[1] * ow * wr.shape[0] * wr.shape[1], get_array_module(xpad))


def _correlate(xpad, wr, kh, kw, sh, sw, oh, ow, whole, bias=None):
    """Valid cross-correlation of an (Hp, N, Wp, C) input (+ bias) -> y of shape (OH, N, OW, O).

    Works through the output rows in pieces (``row_pieces``), building each piece's columns
    just before its KH products (see the module docstring); pieces may run on several threads.
    """
    xp = get_array_module(xpad)
    n, o = xpad.shape[1], wr.shape[2]
    y = xp.empty((oh, n * ow, o), dtype=xpad.dtype)

    def piece(rows):
        r0, r1 = rows
        cols = _columns(xpad[r0 * sh:(r1 - 1) * sh + kh], kh, kw, sh, sw, r1 - r0, ow, whole)
        out, tmp = y[r0:r1], None
        for i in range(len(wr)):
            blk = _block(cols, i, sh, r1 - r0, whole)
            dst = out.reshape(blk.shape[:-1] + (o,))  # a view: the rows are contiguous
            if i == 0:
                xp.matmul(blk, wr[0], out=dst)
            else:
                tmp = xp.matmul(blk, wr[i], out=tmp)
                dst += tmp
        if bias is not None:
            out += bias

    run_pieces(piece, _pieces_for(xpad, wr, oh, ow), xp)
    return y.reshape(oh, n, ow, o)


def _use_whole(kw, c, xp=np):
    # on a GPU always: one product instead of KH (each kernel launch costs more than the copy)
    return xp is not np or kw * c < _MIN_ROW_WIDTH


def conv_output_size(size, k, s, p):
    """Output length along one axis: (size + 2p - k) // s + 1."""
    return (size + 2 * p - k) // s + 1


class Conv2dFn(Function):
    """y = conv2d(x, w) + b.   x: (N, C, H, W), w: (O, C, KH, KW), b: (O,) -> y: (N, O, OH, OW).

    ``spatial`` = 1 makes it conv1d: x (N, C, L) and w (O, C, K) are viewed as height-1 images.
    """

    def __init__(self, stride, padding, spatial=2):
        self.stride, self.padding, self.spatial = stride, padding, spatial

    def forward(self, x, w, b=None):
        if self.spatial == 1:  # (N, C, L) -> (N, C, 1, L): a view
            x, w = x[:, :, None, :], w[:, :, None, :]
        xp = get_array_module(x)
        n, c, h, wid = x.shape
        o, _, kh, kw = w.shape
        (sh, sw), (ph, pw) = self.stride, self.padding
        oh, ow = conv_output_size(h, kh, sh, ph), conv_output_size(wid, kw, sw, pw)
        whole = _use_whole(kw, c, xp)
        xpad = _pad_hnwc(x, ph, pw)
        y = _correlate(xpad, _row_weights(w, whole), kh, kw, sh, sw, oh, ow, whole, b)
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
        g = xp.ascontiguousarray(gy.transpose(2, 0, 3, 1))  # (OH, N, OW, O); free if gy came from our layout
        gx = gw = gb = None

        if self.needs_grad[0]:
            gx = self._grad_input(g, w, (n, c, h, wid))
            if self.spatial == 1:
                gx = gx[:, :, 0, :]
        if self.needs_grad[1]:
            gw = self._grad_weight(g, xpad, w.shape, whole)
            if self.spatial == 1:
                gw = gw[:, :, 0, :]
        if len(self.needs_grad) > 2 and self.needs_grad[2]:
            g2 = g.reshape(-1, o)
            gb = threads.matmul(xp.ones(g2.shape[0], dtype=g.dtype), g2)  # BLAS sums faster than g2.sum(axis=0)
        self.xpad = self.w = None
        return gx, gw, gb

    def _grad_weight(self, g, xpad, w_shape, whole):
        """grad w_i = sum over output rows of columns_i^T @ grad_y, the columns rebuilt piece by piece.

        Each piece returns its partial sum; they are added in piece order (thread-count independent).
        """
        xp = get_array_module(g)
        o, c, kh, kw = w_shape
        (sh, sw), _ = self.stride, self.padding
        oh, n, ow = g.shape[0], g.shape[1], g.shape[2]
        groups, k = (1, kh * kw * c) if whole else (kh, kw * c)
        g3 = g.reshape(oh, n * ow, o)

        def piece(rows):
            r0, r1 = rows
            cols = _columns(xpad[r0 * sh:(r1 - 1) * sh + kh], kh, kw, sh, sw, r1 - r0, ow, whole)
            part = xp.empty((groups, k, o), dtype=g.dtype)
            for i in range(groups):
                blk = _block(cols, i, sh, r1 - r0, whole)
                if blk.ndim == 2:
                    xp.matmul(blk.T, g3[r0:r1].reshape(-1, o), out=part[i])
                else:  # strided rows: one product per output row
                    part[i] = xp.matmul(blk.transpose(0, 2, 1), g3[r0:r1]).sum(axis=0)
            return part

        parts = run_pieces(piece, row_pieces(oh, n * ow * groups * k, xp), xp)
        gwr = parts[0] if parts else xp.zeros((groups, k, o), dtype=g.dtype)  # an empty batch: zero gradient
        for part in parts[1:]:
            gwr += part
        return xp.ascontiguousarray(gwr.reshape(kh, kw, c, o).transpose(3, 2, 0, 1))

    def _grad_input(self, g, w, in_shape):
        """grad x = correlate(dilate_pad(grad y), flipped w with C and O swapped); see the module docstring."""
        xp = get_array_module(g)
        n, c, h, wid = in_shape
        o, _, kh, kw = w.shape
        (sh, sw), (ph, pw) = self.stride, self.padding
        oh, ow = g.shape[0], g.shape[2]
        # gz[t] holds grad y row oh at t = (KH-1-PH) + oh*SH; rows falling outside [0, H+KH-1)
        # only ever touched padding, so they are cropped. Built a band of rows per piece.
        gz = xp.empty((h + kh - 1, n, wid + kw - 1, o), dtype=g.dtype)
        rw = _placed(kw - 1 - pw, sw, ow, wid + kw - 1)

        def place_rows(rows):
            t0, t1 = rows
            band = gz[t0:t1]
            band[...] = 0
            first, stop, k_lo, k_hi = _placed(kh - 1 - ph - t0, sh, oh, t1 - t0)
            if k_hi > k_lo:
                band[first:stop:sh, :, rw[0]:rw[1]:sw] = g[k_lo:k_hi, :, rw[2]:rw[3]]

        run_pieces(place_rows, row_pieces(h + kh - 1, n * (wid + kw - 1) * o, xp), xp)
        wt = w[:, :, ::-1, ::-1].transpose(1, 0, 2, 3)  # (C, O, KH, KW), flipped
        whole = _use_whole(kw, o, xp)
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


# ---------------------------------------------------------------------------- the user's entry points
def conv_args(where, spatial, stride, padding):
    """stride and padding as ``spatial``-tuples of ints (>= 1 and >= 0), checked: what a layer does once."""
    return int_tuple(where, "stride", stride, spatial), int_tuple(where, "padding", padding, spatial, minimum=0)


def conv_nd(input, weight, bias, stride, padding, where="conv"):
    """conv1d or conv2d (by ``len(stride)``) with ``stride``/``padding`` already checked by ``conv_args``.

    What layers call on every step: only the tensors are checked, cheaply (dimensions, channels,
    dtype and device, kernel against input size).
    """
    spatial = len(stride)
    dims, wdims = ("(N, C, L)", "(O, C, K)") if spatial == 1 else ("(N, C, H, W)", "(O, C, KH, KW)")
    tensor(where, "input", input, spatial + 2, dims)
    tensor(where, "weight", weight, spatial + 2, wdims)
    if input.shape[1] != weight.shape[1]:
        raise ValueError(f"{where}: input has {input.shape[1]} channels (input shape {dims} = {input.shape}) but "
                         f"weight expects {weight.shape[1]} (weight shape {wdims} = {weight.shape}); "
                         "the weight's second dimension must equal the input's channel count")
    same_kind(where, "input", input, "weight", weight)
    if bias is not None:
        tensor(where, "bias", bias)
        if bias.shape != (weight.shape[0],):
            raise ValueError(f"{where}: bias shape {bias.shape} must be ({weight.shape[0]},), one per output channel")
        same_kind(where, "bias", bias, "weight", weight)
    if 0 in weight.shape:
        raise ValueError(f"{where}: weight shape {weight.shape} has a zero-sized dimension")
    size, kernel = input.shape[2:], weight.shape[2:]
    if any(s + 2 * p < k for s, k, p in zip(size, kernel, padding)):
        raise ValueError(f"{where}: kernel size {kernel} is larger than the padded input "
                         f"({size} plus padding {padding} on each side); use more padding or a smaller kernel")
    if spatial == 1:  # the kernel works on height-1 images
        stride, padding = (1,) + tuple(stride), (0,) + tuple(padding)
    fn = Conv2dFn(stride, padding, spatial)
    return fn(input, weight) if bias is None else fn(input, weight, bias)


def conv2d(input, weight, bias=None, stride=1, padding=0):
    """2-D cross-correlation.   input (N, C, H, W), weight (O, C, KH, KW), bias (O,) -> (N, O, OH, OW).

    stride and padding: an int or an (h, w) pair; padding adds zeros on both sides.
    OH = (H + 2*padding_h - KH) // stride_h + 1, and the same for OW. An empty batch (N = 0)
    gives an empty output and zero weight and bias gradients, as in PyTorch.
    The result's memory is ordered (OH, N, OW, O) (see the module docstring); its shape is as usual.
    """
    return conv_nd(input, weight, bias, *conv_args("conv2d", 2, stride, padding), where="conv2d")


def conv1d(input, weight, bias=None, stride=1, padding=0):
    """1-D cross-correlation.   input (N, C, L), weight (O, C, K), bias (O,) -> (N, O, (L + 2*padding - K) // stride + 1)."""
    return conv_nd(input, weight, bias, *conv_args("conv1d", 1, stride, padding), where="conv1d")
