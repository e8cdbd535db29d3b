"""The models the experiments train, each built by a function that takes its random generator.

=====================  ===========================================================  ===============
function               architecture                                                 parameters
=====================  ===========================================================  ===============
mnist1d_logistic       Linear(40 -> 10)                                             410
mnist1d_mlp            40 -> 100 -> 100 -> 10, residual h + relu(W2 h)              15,210
mnist1d_cnn            Conv1d(1->25,k5,s2,p1), Conv1d(25->25,k3,s2,p1) x2, ReLU,    5,210
                       flatten 125 -> Linear 10
mlp(in, hidden, out)   Linear + ReLU stack                                          e.g. 79,510 for
                                                                                    (784, 100, 10)
cifar10_full           Caffe's cifar10_full (3x32x32); also 1x28x28                 89,578 / 83,498
=====================  ===========================================================  ===============

The MNIST-1D models are those of Greydanus & Kobak (``notebooks/models.py`` of greydanus/mnist1d),
initialised like PyTorch's layers. ``cifar10_full`` is the Caffe network of the CLR paper's CIFAR-10
experiments, with Caffe's Gaussian initialisation (``examples/cifar10/cifar10_full_train_test.prototxt``).

Every builder takes ``rng`` (a numpy Generator or an int seed) and draws all initial weights from it,
in a fixed order, so the same seed gives the same network on CPU and GPU.
"""
from __future__ import annotations

import math
from typing import Callable, Sequence

import numpy as np

import tinynet.functional as F
from tinynet.functional.conv import conv_output_size
from tinynet.functional.pooling import pool_output_size
from tinynet import nn
from tinynet.nn import init


def num_parameters(model) -> int:
    """Total number of trainable numbers in ``model``."""
    return sum(int(p.size) for p in model.parameters())


# ----------------------------------------------------------------------------- MNIST-1D (40 -> 10)

class Logistic(nn.Module):
    """Multinomial logistic regression: logits = x W^T + b.   x: (N, in) -> (N, out)."""

    def __init__(self, in_features: int, out_features: int, rng):
        super().__init__()
        self.linear = nn.Linear(in_features, out_features, rng=rng)

    def forward(self, x):
        return self.linear(F.flatten(x))


class ResidualMLP(nn.Module):
    """h1 = relu(W1 x + b1);  h2 = h1 + relu(W2 h1 + b2);  logits = W3 h2 + b3.   (N, in) -> (N, out).

    The skip connection is MNIST-1D's reference MLP (``MLPBase``): with it the two hidden layers
    train as easily as one.
    """

    def __init__(self, in_features: int, hidden: int, out_features: int, rng):
        super().__init__()
        self.linear1 = nn.Linear(in_features, hidden, rng=rng)
        self.linear2 = nn.Linear(hidden, hidden, rng=rng)
        self.linear3 = nn.Linear(hidden, out_features, rng=rng)

    def forward(self, x):
        h = F.relu(self.linear1(F.flatten(x)))
        h = h + F.relu(self.linear2(h))
        return self.linear3(h)


class ConvNet1d(nn.Module):
    """MNIST-1D's reference CNN (``ConvBase``).   x: (N, 40) or (N, 1, 40) -> logits (N, 10).

    lengths: 40 -conv k5 s2 p1-> 19 -conv k3 s2 p1-> 10 -conv k3 s2 p1-> 5;  25 channels x 5 = 125.
    """

    def __init__(self, channels: int, out_features: int, length: int, rng):
        super().__init__()
        self.conv1 = nn.Conv1d(1, channels, 5, stride=2, padding=1, rng=rng)
        self.conv2 = nn.Conv1d(channels, channels, 3, stride=2, padding=1, rng=rng)
        self.conv3 = nn.Conv1d(channels, channels, 3, stride=2, padding=1, rng=rng)
        for k, s, p in ((5, 2, 1), (3, 2, 1), (3, 2, 1)):
            length = conv_output_size(length, k, s, p)
        self.linear = nn.Linear(channels * length, out_features, rng=rng)

    def forward(self, x):
        if x.ndim == 2:  # (N, L) signals get their single channel
            x = x.reshape(x.shape[0], 1, x.shape[1])
        h = F.relu(self.conv1(x))
        h = F.relu(self.conv2(h))
        h = F.relu(self.conv3(h))
        return self.linear(F.flatten(h))


def mnist1d_logistic(rng=0, in_features: int = 40, classes: int = 10) -> Logistic:
    """Logistic regression on MNIST-1D: 40 * 10 + 10 = 410 parameters."""
    return Logistic(in_features, classes, init.as_generator(rng))


def mnist1d_mlp(rng=0, in_features: int = 40, hidden: int = 100, classes: int = 10) -> ResidualMLP:
    """MNIST-1D's residual MLP 40 -> 100 -> 100 -> 10: 4,100 + 10,100 + 1,010 = 15,210 parameters."""
    return ResidualMLP(in_features, hidden, classes, init.as_generator(rng))


def mnist1d_cnn(rng=0, channels: int = 25, classes: int = 10, length: int = 40) -> ConvNet1d:
    """MNIST-1D's CNN: 150 + 1,900 + 1,900 + 1,260 = 5,210 parameters."""
    return ConvNet1d(channels, classes, length, init.as_generator(rng))


# ----------------------------------------------------------------------------- a plain MLP

class MLP(nn.Module):
    """Linear -> ReLU -> ... -> Linear.   x: (N, ...) is flattened to (N, in_features)."""

    def __init__(self, sizes: Sequence[int], rng):
        super().__init__()
        layers = []
        for i, (a, b) in enumerate(zip(sizes[:-1], sizes[1:])):
            layers.append(nn.Linear(a, b, rng=rng))
            if i < len(sizes) - 2:
                layers.append(nn.ReLU())
        self.layers = nn.Sequential(*layers)

    def forward(self, x):
        return self.layers(F.flatten(x))


def mlp(in_features: int, hidden: int | Sequence[int], out_features: int, rng=0) -> MLP:
    """An MLP with one hidden layer of ``hidden`` units, or several for a sequence of widths.

    Parameters: sum over layers of (fan_in + 1) * fan_out; mlp(784, 100, 10) has 79,510.
    """
    widths = [hidden] if isinstance(hidden, (int, np.integer)) else list(hidden)
    sizes = [in_features, *widths, out_features]
    for s in sizes:
        if isinstance(s, bool) or not isinstance(s, (int, np.integer)) or s < 1:
            raise ValueError(f"mlp: layer sizes must be positive integers; got in_features={in_features!r}, "
                             f"hidden={hidden!r}, out_features={out_features!r}")
    return MLP([int(s) for s in sizes], init.as_generator(rng))


# ----------------------------------------------------------------------------- Caffe cifar10_full

def _pool_out(size: int, kernel: int = 3, stride: int = 2) -> int:
    """Caffe pooling output size, which rounds up: ceil((size - kernel) / stride) + 1 (ceil_mode)."""
    return pool_output_size(size, kernel, stride, 0, ceil_mode=True)


class Cifar10Full(nn.Module):
    """Caffe's ``cifar10_full``, the network of the CLR paper's CIFAR-10 experiments.

        conv1 32@5x5 pad 2 -> max-pool 3/2 -> ReLU -> LRN
        conv2 32@5x5 pad 2 -> ReLU -> avg-pool 3/2 -> LRN
        conv3 64@5x5 pad 2 -> ReLU -> avg-pool 3/2 -> ip1 (linear to 10)

    Pools round up (Caffe; ``ceil_mode=True``): 32 -> 16 -> 8 -> 4, or 28 -> 14 -> 7 -> 4.
    LRN is Caffe's WITHIN_CHANNEL mode: local_size 3, alpha 5e-5, beta 0.75, i.e. each value is
    divided by (1 + alpha / 9 * sum of squares over its 3x3 neighbourhood) ** 0.75.
    x: (N, C, H, W), or (N, H, W) for one channel -> logits (N, 10).
    """

    LRN = {"size": 3, "alpha": 5e-5, "beta": 0.75, "k": 1.0}

    def __init__(self, in_channels: int, size: int, classes: int, lrn: bool, rng):
        super().__init__()
        self.in_channels, self.use_lrn = in_channels, lrn
        self.conv1 = nn.Conv2d(in_channels, 32, 5, padding=2, rng=rng)
        self.pool1 = nn.MaxPool2d(3, stride=2, ceil_mode=True)
        self.conv2 = nn.Conv2d(32, 32, 5, padding=2, rng=rng)
        self.pool2 = nn.AvgPool2d(3, stride=2, ceil_mode=True)
        self.conv3 = nn.Conv2d(32, 64, 5, padding=2, rng=rng)
        self.pool3 = nn.AvgPool2d(3, stride=2, ceil_mode=True)
        side = _pool_out(_pool_out(_pool_out(size)))
        self.ip1 = nn.Linear(64 * side * side, classes, rng=rng)
        # Caffe's fillers: gaussian weights, constant-0 biases
        for layer, std in ((self.conv1, 1e-4), (self.conv2, 0.01), (self.conv3, 0.01), (self.ip1, 0.01)):
            init.normal_(layer.weight, 0.0, std, rng=rng)
            init.zeros_(layer.bias)

    def _lrn(self, h):
        if not self.use_lrn:
            return h
        return F.local_response_norm(h, mode="within_channel", **self.LRN)

    def forward(self, x):
        if x.ndim == 3 and self.in_channels == 1:
            x = x.reshape(x.shape[0], 1, x.shape[1], x.shape[2])
        h = self._lrn(F.relu(self.pool1(self.conv1(x))))
        h = self._lrn(self.pool2(F.relu(self.conv2(h))))
        h = self.pool3(F.relu(self.conv3(h)))
        return self.ip1(F.flatten(h))

    def param_groups(self, weight_decay: float = 0.004) -> list[dict]:
        """Optimizer param groups with Caffe's per-layer weight decay (``decay_mult``).

        Caffe's solver uses weight_decay 0.004; ip1's weights have decay_mult 250 (decay 1.0) and its
        bias decay_mult 0; every other parameter decays at the base rate.
        """
        ip1 = {id(self.ip1.weight), id(self.ip1.bias)}
        rest = [p for p in self.parameters() if id(p) not in ip1]
        return [{"params": rest, "weight_decay": weight_decay},
                {"params": [self.ip1.weight], "weight_decay": 250 * weight_decay},
                {"params": [self.ip1.bias], "weight_decay": 0.0}]


def cifar10_full(rng=0, in_channels: int = 3, size: int = 32, lrn: bool = True, classes: int = 10) -> Cifar10Full:
    """Caffe's cifar10_full: 89,578 parameters for 3x32x32 input, 83,498 for 1x28x28 (Fashion-MNIST)."""
    for name, v, low in (("in_channels", in_channels, 1), ("size", size, 5), ("classes", classes, 2)):
        if isinstance(v, bool) or not isinstance(v, (int, np.integer)) or v < low:
            raise ValueError(f"cifar10_full: {name} must be an integer >= {low}; got {v!r}")
    return Cifar10Full(int(in_channels), int(size), int(classes), bool(lrn), init.as_generator(rng))


# ----------------------------------------------------------------------------- by name

#: name -> builder(rng, input_shape, classes); input_shape excludes the batch axis.
MODELS: dict[str, Callable] = {
    "logistic": lambda rng, shape, classes: mnist1d_logistic(rng, math.prod(shape), classes),
    "mlp": lambda rng, shape, classes: mnist1d_mlp(rng, math.prod(shape), 100, classes),
    "cnn": lambda rng, shape, classes: mnist1d_cnn(rng, 25, classes, shape[-1]),
    "cifar10_full": lambda rng, shape, classes: cifar10_full(rng, shape[0], shape[-1], True, classes),
}


def build(name: str, rng, input_shape: Sequence[int], classes: int = 10):
    """Build model ``name`` ('logistic', 'mlp', 'cnn', 'cifar10_full') for inputs of ``input_shape``.

    'mlp' is the residual MLP with 100 hidden units (MNIST-1D's) on the flattened input; 'cnn' is the
    MNIST-1D CNN and needs 1-D signals (shape (L,)); 'cifar10_full' needs images (C, H, W) with H == W.
    """
    if name not in MODELS:
        raise ValueError(f"unknown model {name!r}; choose one of {', '.join(MODELS)}")
    shape = tuple(int(s) for s in input_shape)
    if name == "cnn" and len(shape) != 1:
        raise ValueError(f"model 'cnn' is the MNIST-1D CNN for 1-D signals, but the inputs have shape {shape}; "
                         "use 'cifar10_full' or 'mlp' for images")
    if name == "cifar10_full" and (len(shape) != 3 or shape[1] != shape[2]):
        raise ValueError(f"model 'cifar10_full' needs square images (C, H, H), but the inputs have shape {shape}")
    return MODELS[name](rng, shape, classes)
