"""Activations: relu, leaky_relu, sigmoid, tanh, softmax, log_softmax (elementwise or along one axis)."""
from __future__ import annotations

import numpy as np

from ..autograd import Function
from ..backend import get_array_module
from ..checks import real, tensor


class ReLUFn(Function):
    """y = max(x, 0); dy/dx = 1 where x > 0."""

    def forward(self, x):
        xp = get_array_module(x)
        self.y = xp.maximum(x, 0)
        return self.y

    def backward(self, gy):
        return (gy * (self.y > 0),)


class LeakyReLUFn(Function):
    """y = x if x > 0 else slope * x."""

    def __init__(self, negative_slope):
        self.slope = negative_slope

    def forward(self, x):
        # one multiply by a per-element slope (1 or slope) is much faster than np.where on random masks
        self.scale = (x > 0).astype(x.dtype)
        self.scale *= 1 - self.slope
        self.scale += self.slope
        return x * self.scale

    def backward(self, gy):
        return (gy * self.scale,)


class SigmoidFn(Function):
    """y = 1 / (1 + exp(-x)), computed as (1 + tanh(x/2)) / 2 so no exp overflows; dy/dx = y (1 - y)."""

    def forward(self, x):
        xp = get_array_module(x)
        self.y = 0.5 * (1 + xp.tanh(0.5 * x))
        return self.y

    def backward(self, gy):
        return (gy * self.y * (1 - self.y),)


class TanhFn(Function):
    """y = tanh(x); dy/dx = 1 - y^2."""

    def forward(self, x):
        xp = get_array_module(x)
        self.y = xp.tanh(x)
        return self.y

    def backward(self, gy):
        return (gy * (1 - self.y * self.y),)


def _log_softmax(x, axis):
    """Stable log-softmax on arrays: shift by the max so exp never overflows.

    A spread of logits wider than the dtype's range (e.g. -3e38 and 3e38 in float32)
    would overflow the shift to -inf; those entries saturate at the lowest finite
    value instead, so the result is finite for any finite input.
    """
    xp = get_array_module(x)
    with np.errstate(over="ignore"):
        shifted = x - x.max(axis=axis, keepdims=True)
    xp.maximum(shifted, xp.finfo(x.dtype).min, out=shifted)
    return shifted - xp.log(xp.exp(shifted).sum(axis=axis, keepdims=True))


class LogSoftmaxFn(Function):
    """y = x - logsumexp(x); dy/dx . g = g - softmax(x) * sum(g)."""

    def __init__(self, axis):
        self.axis = axis

    def forward(self, x):
        self.y = _log_softmax(x, self.axis)
        return self.y

    def backward(self, gy):
        xp = get_array_module(gy)
        return (gy - xp.exp(self.y) * gy.sum(axis=self.axis, keepdims=True),)


class SoftmaxFn(Function):
    """y = exp(x - logsumexp(x)); dy/dx . g = y * (g - sum(g * y))."""

    def __init__(self, axis):
        self.axis = axis

    def forward(self, x):
        xp = get_array_module(x)
        self.y = xp.exp(_log_softmax(x, self.axis))
        return self.y

    def backward(self, gy):
        y = self.y
        return (y * (gy - (gy * y).sum(axis=self.axis, keepdims=True)),)


def relu(x):
    return ReLUFn()(x)


def leaky_relu(x, negative_slope=0.01):
    slope = real("leaky_relu", "negative_slope", negative_slope)
    return LeakyReLUFn(slope)(tensor("leaky_relu", "input", x, floating=True))


def sigmoid(x):
    return SigmoidFn()(x)


def tanh(x):
    return TanhFn()(x)


def softmax(x, dim=-1):
    return SoftmaxFn(dim)(tensor("softmax", "input", x, floating=True))


def log_softmax(x, dim=-1):
    return LogSoftmaxFn(dim)(tensor("log_softmax", "input", x, floating=True))
