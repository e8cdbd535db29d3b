"""Readable reference versions of convolution and pooling, for teaching and for testing.

The fast kernels in ``conv.py`` and ``pooling.py`` are tuned for speed; these say the same
thing plainly. Each one is a short loop over the KH*KW kernel offsets, built only from
primitive tensor ops (slicing, matmul, sum, max), so autograd derives the backward pass on
its own: the tests compare both the outputs and the gradients of the fast kernels
against these. They are slow (one graph node per offset) and use no padding tricks.

Dimension names: N batch, C channels in, O channels out, H x W input, KH x KW kernel,
SH x SW stride, PH x PW padding, OH x OW output.
"""
from __future__ import annotations

import numpy as np

from ..ops import concatenate, stack
from ..tensor import Tensor
from .pooling import pool_output_size  # the size rule (floor/ceil) is shared


def _pair(v):
    return tuple(v) if isinstance(v, (tuple, list)) else (v, v)


def _pad(x, top, bottom, left, right, value):
    """Surround the last two axes of x (N, C, H, W) with ``value``: a differentiable pad by concatenation."""
    n, c, h, w = x.shape

    def block(rows, cols):
        return Tensor(np.full((n, c, rows, cols), value, dtype=x.dtype), device=x.device)

    if left or right:
        x = concatenate([block(h, left), x, block(h, right)], axis=3)
    if top or bottom:
        x = concatenate([block(top, x.shape[3]), x, block(bottom, x.shape[3])], axis=2)
    return x


def _window(x, i, j, sh, sw, oh, ow):
    """The input values at kernel offset (i, j) for every output position: x[..., oh*SH + i, ow*SW + j]."""
    return x[:, :, i:i + (oh - 1) * sh + 1:sh, j:j + (ow - 1) * sw + 1:sw]


def conv2d_reference(x, w, b=None, stride=1, padding=0):
    """y[n, o] = b[o] + sum over offsets (i, j) of w[:, :, i, j] @ (the input shifted by (i, j)).

    x (N, C, H, W), w (O, C, KH, KW), b (O,) -> (N, O, OH, OW), OH = (H + 2PH - KH) // SH + 1.
    """
    (sh, sw), (ph, pw) = _pair(stride), _pair(padding)
    o, c, kh, kw = w.shape
    xpad = _pad(x, ph, ph, pw, pw, 0.0)
    oh = (xpad.shape[2] - kh) // sh + 1
    ow = (xpad.shape[3] - kw) // sw + 1
    y = None
    for i in range(kh):
        for j in range(kw):
            patch = _window(xpad, i, j, sh, sw, oh, ow).transpose(0, 2, 3, 1)  # (N, OH, OW, C)
            term = patch @ w[:, :, i, j].T                                     # (N, OH, OW, O)
            y = term if y is None else y + term
    y = y.transpose(0, 3, 1, 2)
    return y if b is None else y + b.reshape(1, o, 1, 1)


def conv1d_reference(x, w, b=None, stride=1, padding=0):
    """conv2d_reference on height-1 images: x (N, C, L), w (O, C, K) -> (N, O, L_out)."""
    y = conv2d_reference(x.reshape(x.shape[0], x.shape[1], 1, x.shape[2]),
                         w.reshape(w.shape[0], w.shape[1], 1, w.shape[2]), b, (1, stride), (0, padding))
    return y.reshape(y.shape[0], y.shape[1], y.shape[3])


def _pool_windows(x, kernel_size, stride, padding, ceil_mode, fill):
    """The KH*KW shifted views of x padded with ``fill`` (enough on the bottom/right for ceil mode)."""
    (kh, kw), (ph, pw) = _pair(kernel_size), _pair(padding)
    sh, sw = _pair(kernel_size if stride is None else stride)
    n, c, h, w = x.shape
    oh = pool_output_size(h, kh, sh, ph, ceil_mode)
    ow = pool_output_size(w, kw, sw, pw, ceil_mode)
    extra_h = max(0, (oh - 1) * sh + kh - (h + 2 * ph))  # ceil mode: windows hanging off the end
    extra_w = max(0, (ow - 1) * sw + kw - (w + 2 * pw))
    xpad = _pad(x, ph, ph + extra_h, pw, pw + extra_w, fill)
    return [_window(xpad, i, j, sh, sw, oh, ow) for i in range(kh) for j in range(kw)], (oh, ow)


def max_pool2d_reference(x, kernel_size, stride=None, padding=0, ceil_mode=False):
    """y[n, c, oh, ow] = max of the window; padding counts as -inf. x (N, C, H, W) -> (N, C, OH, OW)."""
    windows, _ = _pool_windows(x, kernel_size, stride, padding, ceil_mode, -np.inf)
    return stack(windows, axis=-1).max(axis=-1)


def avg_pool2d_reference(x, kernel_size, stride=None, padding=0, ceil_mode=False, count_include_pad=True):
    """y = sum of the window / its size. x (N, C, H, W) -> (N, C, OH, OW).

    The size counts padding when ``count_include_pad`` (as PyTorch and Caffe do), but never
    the part of a ceil-mode window that hangs past the padding.
    """
    windows, (oh, ow) = _pool_windows(x, kernel_size, stride, padding, ceil_mode, 0.0)
    (kh, kw), (ph, pw) = _pair(kernel_size), _pair(padding)
    sh, sw = _pair(kernel_size if stride is None else stride)
    h, w = x.shape[2:]
    lo_h, hi_h, lo_w, hi_w = (-ph, h + ph, -pw, w + pw) if count_include_pad else (0, h, 0, w)
    divisor = np.empty((oh, ow), dtype=x.dtype)
    for r in range(oh):  # a plain loop: this is the readable version
        for q in range(ow):
            rows = min(r * sh - ph + kh, hi_h) - max(r * sh - ph, lo_h)
            cols = min(q * sw - pw + kw, hi_w) - max(q * sw - pw, lo_w)
            divisor[r, q] = rows * cols
    total = windows[0]
    for win in windows[1:]:
        total = total + win
    return total / Tensor(divisor, device=x.device)


def max_pool1d_reference(x, kernel_size, stride=None, padding=0, ceil_mode=False):
    """max_pool2d_reference on height-1 images: x (N, C, L) -> (N, C, L_out)."""
    y = max_pool2d_reference(x.reshape(x.shape[0], x.shape[1], 1, x.shape[2]), (1, kernel_size),
                             (1, kernel_size if stride is None else stride), (0, padding), ceil_mode)
    return y.reshape(y.shape[0], y.shape[1], y.shape[3])


def avg_pool1d_reference(x, kernel_size, stride=None, padding=0, ceil_mode=False, count_include_pad=True):
    """avg_pool2d_reference on height-1 images: x (N, C, L) -> (N, C, L_out)."""
    y = avg_pool2d_reference(x.reshape(x.shape[0], x.shape[1], 1, x.shape[2]), (1, kernel_size),
                             (1, kernel_size if stride is None else stride), (0, padding), ceil_mode,
                             count_include_pad)
    return y.reshape(y.shape[0], y.shape[1], y.shape[3])
