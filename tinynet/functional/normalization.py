"""Normalisation ops: batch_norm and local_response_norm.

Shapes: N batch, C channels, then any spatial dims (L, or H, W).
Per-channel statistics of batch norm reduce over every axis except C.
"""
from __future__ import annotations

import numpy as np

from ..autograd import Function
from .. import backend
from ..backend import get_array_module
from ..tensor import Tensor

LRN_MODES = ("across_channels", "within_channel")


def _array(x):
    return x.data if isinstance(x, Tensor) else x


def _channel_shape(x):
    """(1, C, 1, ...): per-channel vectors broadcast against x of shape (N, C, ...)."""
    return (1, x.shape[1]) + (1,) * (x.ndim - 2)


# ---------------------------------------------------------------------------- batch norm
class BatchNormFn(Function):
    """y = (x - mean) / sqrt(var + eps) * w + b.   x: (N, C, *), w, b: (C,) -> y: x's shape.

    Training: mean and (biased) var are the batch statistics over (N, *), and the
    running statistics are updated in place with the unbiased variance:
        running_mean <- (1 - momentum) running_mean + momentum mean
        running_var  <- (1 - momentum) running_var  + momentum var * n / (n - 1)
    Evaluation: mean and var are the running statistics, which are constants.

    Backward in training (x_hat the normalised input, n = N * prod(*), sums over (N, *)):
        dx = w / sqrt(var + eps) * (g - sum(g) / n - x_hat * sum(g x_hat) / n)
        dw = sum(g x_hat),   db = sum(g)
    """

    def __init__(self, running_mean, running_var, training, momentum, eps, has_weight, has_bias):
        self.running_mean, self.running_var = running_mean, running_var
        self.training, self.momentum, self.eps = training, momentum, eps
        self.has_weight, self.has_bias = has_weight, has_bias

    def forward(self, x, *params):
        xp = get_array_module(x)
        cshape = _channel_shape(x)
        w = params[0].reshape(cshape) if self.has_weight else None
        b = params[-1].reshape(cshape) if self.has_bias else None
        axes = (0,) + tuple(range(2, x.ndim))
        if self.training:
            n = x.size // x.shape[1]
            mean = x.mean(axis=axes, keepdims=True)
            xc = x - mean
            var = (xc * xc).mean(axis=axes, keepdims=True)
            invstd = 1.0 / xp.sqrt(var + self.eps)
            if self.running_mean is not None:
                m = self.momentum
                rm, rv = self.running_mean, self.running_var
                rm *= 1 - m
                rm += m * mean.reshape(-1)
                rv *= 1 - m
                rv += (m * n / (n - 1)) * var.reshape(-1)
            xhat = xc
            xhat *= invstd  # reuse xc's buffer: x - mean is not needed any more
        else:
            invstd = 1.0 / xp.sqrt(self.running_var.reshape(cshape) + self.eps)
            xhat = (x - self.running_mean.reshape(cshape)) * invstd
        self.xhat, self.invstd, self.w = xhat, invstd, w
        if w is not None:
            y = xhat * w
            if b is not None:
                y += b
            return y
        return xhat + b if b is not None else xhat.copy()  # never hand out the saved xhat itself

    def backward(self, gy):
        xhat, invstd, w = self.xhat, self.invstd, self.w
        axes = (0,) + tuple(range(2, gy.ndim))
        need_x = self.needs_grad[0]
        need_w = self.has_weight and self.needs_grad[1]
        need_b = self.has_bias and self.needs_grad[-1]
        sum_g = gy.sum(axis=axes, keepdims=True) if (need_b or (need_x and self.training)) else None
        sum_gx = (gy * xhat).sum(axis=axes, keepdims=True) if (need_w or (need_x and self.training)) else None
        gx = None
        if need_x:
            scale = invstd if w is None else w * invstd
            if self.training:
                n = gy.size // gy.shape[1]
                gx = (gy - sum_g / n - xhat * (sum_gx / n)) * scale
            else:
                gx = gy * scale
        grads = [gx]
        if self.has_weight:
            grads.append(sum_gx.reshape(-1) if need_w else None)
        if self.has_bias:
            grads.append(sum_g.reshape(-1) if need_b else None)
        return tuple(grads)


def batch_norm(input, running_mean, running_var, weight=None, bias=None, training=False,
               momentum=0.1, eps=1e-5):
    """Batch normalisation with PyTorch's semantics.

    Args:
        input: Tensor of shape (N, C), (N, C, L) or (N, C, H, W).
        running_mean, running_var: (C,) Tensors or arrays, updated in place when ``training``;
            may both be None in training (batch statistics only, nothing tracked).
        weight, bias: optional (C,) Tensors (gamma and beta).
        training: use batch statistics (and update the running ones) instead of the running ones.
        momentum: weight of the new batch in the running averages (see ``BatchNormFn``).
        eps: added to the variance before the square root.
    Returns a Tensor shaped like ``input``. The formulas are in ``BatchNormFn``'s docstring.
    """
    if not 0.0 <= momentum <= 1.0:
        raise ValueError(f"batch_norm: momentum={momentum!r} must be in [0, 1]")
    if eps <= 0:
        raise ValueError(f"batch_norm: eps={eps!r} must be positive")
    return _batch_norm(input, running_mean, running_var, weight, bias, training, momentum, eps)


def _batch_norm(input, running_mean, running_var, weight, bias, training, momentum, eps):
    """batch_norm with momentum and eps already checked (by the caller, or once by nn.BatchNorm*).

    What is checked here changes with every call and is cheap: shapes, dtypes, devices."""
    if input.ndim < 2:
        raise ValueError(f"batch_norm expects input of shape (N, C, *), got shape {input.shape}")
    c = input.shape[1]
    rm, rv = _array(running_mean), _array(running_var)
    if (rm is None) != (rv is None):
        raise ValueError("batch_norm: pass both running_mean and running_var, or neither")
    if rm is None and not training:
        raise ValueError("batch_norm: running_mean and running_var are required when training=False "
                         "(evaluation normalises with the running statistics)")
    for name, v in (("running_mean", rm), ("running_var", rv), ("weight", weight), ("bias", bias)):
        v = _array(v)
        if v is None:
            continue
        if v.shape != (c,):
            raise ValueError(f"batch_norm: {name} has shape {v.shape}, but the input (shape {input.shape}) "
                             f"has {c} channels, so it must have shape ({c},)")
        if v.dtype != input.dtype:
            raise TypeError(f"batch_norm: {name} has dtype {v.dtype} but the input has dtype {input.dtype}; "
                            "convert one so both have the same float dtype")
        if type(v) is not type(input.data):
            raise ValueError(f"batch_norm: {name} and the input live on different devices; "
                             "move them with .to(device)")
    if training and input.size // max(c, 1) <= 1:
        raise ValueError(f"batch_norm: training needs more than one value per channel to estimate a "
                         f"variance, got input of shape {input.shape}")
    params = [p for p in (weight, bias) if p is not None]
    op = BatchNormFn(rm, rv, training, momentum, eps, weight is not None, bias is not None)
    return op(input, *params)


# ---------------------------------------------------------------------------- local response norm
def _window_sum(x, axis, before, after):
    """s[i] = sum_{o=-before..after} x[i + o] along ``axis``, with zeros outside the array.

    One pass (``backend.window_sum``; its NumPy form loops over the window's few offsets,
    never over elements).
    """
    xp = get_array_module(x)
    x = xp.ascontiguousarray(x)  # the kernel steps through x by flat C-order offsets
    out = xp.empty(x.shape, dtype=x.dtype)
    inner = int(np.prod(x.shape[axis + 1:], dtype=np.int64))
    backend.launch("tinynet_window_sum", x, x.shape[axis], inner, before, after, out)
    return out


class LocalResponseNormFn(Function):
    """y = x / s^beta, s = k + alpha / count * W(x^2), W a zero-padded window sum.   x: (N, C, *).

    across_channels (PyTorch's F.local_response_norm): W sums channels
        c - size//2 ... c + (size-1)//2 at the same position; count = size
        (Caffe's ACROSS_CHANNELS is the same for its odd sizes).
    within_channel (Caffe's WITHIN_CHANNEL): W sums a size x size spatial window centred
        on the position in the same channel (zero padding (size-1)/2); count = size^d,
        d the number of spatial dims (size^2 for images).

    Backward: with W^T the transposed window (offsets mirrored),
        dx = g s^-beta - (2 alpha beta / count) x W^T(g y / s).
    """

    def __init__(self, size, alpha, beta, k, mode):
        self.size, self.alpha, self.beta, self.k, self.mode = size, alpha, beta, k, mode

    def _windows(self, ndim, transpose):
        """(axis, before, after) for each window axis; the transpose mirrors the offsets."""
        size = self.size
        if self.mode == "across_channels":
            before, after = size // 2, (size - 1) // 2
            return [(1, after, before) if transpose else (1, before, after)]
        half = (size - 1) // 2  # size is odd here, so the window is symmetric
        return [(axis, half, half) for axis in range(2, ndim)]

    def _count(self, ndim):
        return self.size if self.mode == "across_channels" else self.size ** (ndim - 2)

    def forward(self, x):
        xp = get_array_module(x)
        window = x * x
        for axis, before, after in self._windows(x.ndim, transpose=False):
            window = _window_sum(window, axis, before, after)
        s, inv, y = xp.empty_like(window), xp.empty_like(window), xp.empty_like(window)
        backend.launch("tinynet_lrn_forward", x, window, self.alpha / self._count(x.ndim), self.k, self.beta,
                       s, inv, y)
        self.x, self.s, self.inv = x, s, inv
        return y

    def backward(self, gy):
        xp = get_array_module(gy)
        x, s, inv = self.x, self.s, self.inv
        t = xp.empty_like(s)
        backend.launch("tinynet_lrn_backward_in", gy, x, inv, s, t)  # g * y / s
        for axis, before, after in self._windows(x.ndim, transpose=True):
            t = _window_sum(t, axis, before, after)
        gx = xp.empty_like(t)
        backend.launch("tinynet_lrn_backward_out", gy, inv, x, t, 2 * self.alpha * self.beta / self._count(x.ndim),
                       gx)
        return (gx,)


def local_response_norm(input, size, alpha=1e-4, beta=0.75, k=1.0, mode="across_channels"):
    """Local response normalisation, b = a / (k + alpha / count * sum_window a^2) ^ beta.

    Args:
        input: Tensor (N, C, *), at least 3-D.
        size: window length: neighbouring channels ('across_channels', as torch's ``size``)
            or the side of the square spatial window ('within_channel', Caffe's ``local_size``; odd).
        alpha, beta, k: as in the formula (Caffe's WITHIN_CHANNEL fixes k = 1, our default).
        mode: 'across_channels' (PyTorch / AlexNet) or 'within_channel' (Caffe, used by cifar10_full).

    across_channels, for channel c (a_j = 0 outside 0..C-1):
        b_c = a_c / (k + alpha/size * sum_{j = c - size//2}^{c + (size-1)//2} a_j^2) ^ beta
    within_channel, for pixel (h, w) of each channel, r = (size-1)/2, zero padding r:
        b_hw = a_hw / (k + alpha/size^2 * sum_{|i-h| <= r, |j-w| <= r} a_ij^2) ^ beta
    """
    size = check_lrn_args("local_response_norm", size, mode)
    return _local_response_norm(input, size, alpha, beta, k, mode)


def check_lrn_args(where, size, mode) -> int:
    """LRN's window arguments, checked once where the user gives them; returns size as an int."""
    if mode not in LRN_MODES:
        raise ValueError(f"{where}: mode={mode!r} must be one of {LRN_MODES}")
    if isinstance(size, bool) or not isinstance(size, (int, np.integer)) or size < 1:
        raise ValueError(f"{where}: size={size!r} must be a positive int")
    if mode == "within_channel" and size % 2 == 0:
        raise ValueError(f"{where}: size={size} must be odd for mode='within_channel' "
                         "(the window is centred on each pixel, as in Caffe)")
    return int(size)


def _local_response_norm(input, size, alpha, beta, k, mode):
    """local_response_norm with its arguments already checked; only the input's shape is."""
    if input.ndim < 3:
        raise ValueError(f"local_response_norm expects input of shape (N, C, *) with at least 3 dims, "
                         f"got shape {input.shape}")
    return LocalResponseNormFn(size, alpha, beta, k, mode)(input)
