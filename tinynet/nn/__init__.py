"""Layers and models: ``Module`` keeps parameters, buffers and submodules in definition order.

    import tinynet as tn
    model = tn.nn.Sequential(tn.nn.Linear(2, 64, rng=0), tn.nn.ReLU(), tn.nn.Linear(64, 3, rng=1))
    logits = model(tn.Tensor(x))

Layers with random initial weights take ``rng`` (numpy Generator or int seed); pass it for
reproducible runs. Weight initialisers are in ``tinynet.nn.init``.
"""
from . import init
from .activation import LeakyReLU, ReLU, Sigmoid, Tanh
from .container import Sequential
from .conv import Conv1d, Conv2d
from .dropout import Dropout
from .linear import Flatten, Linear
from .module import Module, Parameter
from .normalization import BatchNorm1d, BatchNorm2d, LocalResponseNorm
from .pooling import AvgPool1d, AvgPool2d, MaxPool1d, MaxPool2d

__all__ = [
    "Module", "Parameter", "Sequential", "Linear", "Flatten", "Conv1d", "Conv2d",
    "MaxPool1d", "MaxPool2d", "AvgPool1d", "AvgPool2d", "BatchNorm1d", "BatchNorm2d",
    "LocalResponseNorm", "Dropout", "ReLU", "LeakyReLU", "Tanh", "Sigmoid", "init",
]
