"""Weight initialisers, PyTorch's ``torch.nn.init`` with an explicit random generator.

Each function fills a Tensor in place and returns it. Random ones take ``rng``: a numpy
Generator, or an int seed. Values are drawn on the host in float64 and then cast and
moved to the tensor's dtype and device, so a seed gives the same weights on CPU and GPU.

Fans of a weight of shape (out, in, *kernel): fan_in = in * prod(kernel), fan_out = out * prod(kernel).
"""
from __future__ import annotations

import math

import numpy as np

from .. import backend
from ..checks import as_generator, nonnegative, one_of, real

_GAINS = {"linear": 1.0, "identity": 1.0, "sigmoid": 1.0, "tanh": 5.0 / 3, "relu": math.sqrt(2.0),
          "conv1d": 1.0, "conv2d": 1.0, "conv3d": 1.0, "selu": 0.75}


def calculate_gain(nonlinearity, param=None) -> float:
    """The recommended std gain for a nonlinearity (PyTorch's table): relu sqrt(2), tanh 5/3,
    leaky_relu sqrt(2 / (1 + slope^2)) with slope ``param`` (default 0.01), linear/sigmoid/conv 1."""
    if nonlinearity == "leaky_relu":
        slope = 0.01 if param is None else real("calculate_gain", "param (the negative slope)", param)
        return math.sqrt(2.0 / (1 + slope ** 2))
    return _GAINS[one_of("calculate_gain", "nonlinearity", nonlinearity, sorted(_GAINS) + ["leaky_relu"])]


def calculate_fans(shape) -> tuple[int, int]:
    """(fan_in, fan_out) of a weight shaped (out, in, *kernel); needs at least 2 dims."""
    if len(shape) < 2:
        raise ValueError(f"fan in and fan out need a weight with at least 2 dims, got shape {tuple(shape)}")
    receptive = math.prod(shape[2:])
    return shape[1] * receptive, shape[0] * receptive


def _fan(shape, mode):
    one_of("init", "mode", mode, ("fan_in", "fan_out"))
    fan_in, fan_out = calculate_fans(shape)
    return fan_in if mode == "fan_in" else fan_out


def _fill(tensor, values):
    """Write host ``values`` into ``tensor`` in place, in its dtype and on its device."""
    tensor.data[...] = backend.to_device(np.asarray(values, dtype=tensor.dtype), tensor.device)
    return tensor


def uniform_(tensor, a=0.0, b=1.0, rng=None):
    """Fill with U(a, b)."""
    if not real("uniform_", "a", a) <= real("uniform_", "b", b):
        raise ValueError(f"uniform_: need a <= b, got a={a!r}, b={b!r}")
    return _fill(tensor, as_generator(rng).uniform(a, b, size=tensor.shape))


def normal_(tensor, mean=0.0, std=1.0, rng=None):
    """Fill with N(mean, std^2)."""
    std = nonnegative("normal_", "std", std)
    return _fill(tensor, as_generator(rng).normal(real("normal_", "mean", mean), std, size=tensor.shape))


def constant_(tensor, val):
    """Fill with ``val``."""
    tensor.data[...] = val
    return tensor


def zeros_(tensor):
    return constant_(tensor, 0)


def ones_(tensor):
    return constant_(tensor, 1)


def xavier_uniform_(tensor, gain=1.0, rng=None):
    """Glorot: U(-bound, bound), bound = gain * sqrt(6 / (fan_in + fan_out))."""
    fan_in, fan_out = calculate_fans(tensor.shape)
    bound = gain * math.sqrt(6.0 / (fan_in + fan_out))
    return uniform_(tensor, -bound, bound, rng=rng)


def xavier_normal_(tensor, gain=1.0, rng=None):
    """Glorot: N(0, std^2), std = gain * sqrt(2 / (fan_in + fan_out))."""
    fan_in, fan_out = calculate_fans(tensor.shape)
    return normal_(tensor, 0.0, gain * math.sqrt(2.0 / (fan_in + fan_out)), rng=rng)


def kaiming_uniform_(tensor, a=0.0, mode="fan_in", nonlinearity="leaky_relu", rng=None):
    """He: U(-bound, bound), bound = gain * sqrt(3 / fan), gain = calculate_gain(nonlinearity, a).

    With a = sqrt(5) (PyTorch's Linear/Conv default) the bound is 1 / sqrt(fan_in).
    """
    std = calculate_gain(nonlinearity, a) / math.sqrt(_fan(tensor.shape, mode))
    bound = math.sqrt(3.0) * std
    return uniform_(tensor, -bound, bound, rng=rng)


def kaiming_normal_(tensor, a=0.0, mode="fan_in", nonlinearity="leaky_relu", rng=None):
    """He: N(0, std^2), std = gain / sqrt(fan)."""
    std = calculate_gain(nonlinearity, a) / math.sqrt(_fan(tensor.shape, mode))
    return normal_(tensor, 0.0, std, rng=rng)
