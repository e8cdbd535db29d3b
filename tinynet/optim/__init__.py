"""Optimizers: update parameters in place from their ``.grad``.

    opt = tinynet.optim.SGD(model.parameters(), lr=0.01, momentum=0.9)
    loss.backward(); opt.step(); opt.zero_grad()

Each follows ``torch.optim``'s update rule for the same arguments, so runs can be compared
step by step. ``opt.param_groups[i]['lr']`` (and ``'momentum'`` or ``'betas'``) are plain
entries that a scheduler may set before any step. ``SGD(..., form='caffe')`` gives Caffe's
momentum form, the one the CLR paper used (docs/momentum.md).
"""
from .adadelta import Adadelta
from .adagrad import Adagrad
from .adam import Adam
from .optimizer import Optimizer
from .rmsprop import RMSprop
from .sgd import SGD

__all__ = ["Optimizer", "SGD", "Adam", "RMSprop", "Adagrad", "Adadelta"]
