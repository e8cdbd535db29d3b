"""Neural-network functions with PyTorch's names and argument conventions.

Each module holds a few related ops; every op is a ``Function`` with its array-level
forward and backward side by side.
"""
from .activations import leaky_relu, log_softmax, relu, sigmoid, softmax, tanh
from .linear import flatten, linear
from .losses import cross_entropy, mse_loss
from .normalization import batch_norm, local_response_norm
from .dropout import dropout
from .conv import conv1d, conv2d
from .pooling import avg_pool1d, avg_pool2d, max_pool1d, max_pool2d

__all__ = [
    "relu", "leaky_relu", "sigmoid", "tanh", "softmax", "log_softmax",
    "linear", "flatten", "cross_entropy", "mse_loss",
    "batch_norm", "local_response_norm", "dropout",
    "conv1d", "conv2d", "max_pool1d", "max_pool2d", "avg_pool1d", "avg_pool2d",
]
