"""Losses: cross_entropy (fused with log-softmax) and mse_loss."""
from __future__ import annotations

import numpy as np

from ..autograd import Function
from ..backend import get_array_module
from ..tensor import Tensor
from .activations import _log_softmax

REDUCTIONS = ("mean", "sum", "none")


def _check_reduction(reduction):
    if reduction not in REDUCTIONS:
        raise ValueError(f"reduction={reduction!r} is not one of {REDUCTIONS}")


class CrossEntropyFn(Function):
    """loss_i = -log softmax(z_i)[t_i].   z: (N, C) logits, t: (N,) class indices.

    Fused: forward keeps the log-probabilities, and the gradient is simply
    (softmax(z) - onehot(t)) scaled by the reduction, which is both fast and
    exact for logits of any size (no exp of a large number is ever taken).
    """

    def __init__(self, targets, reduction):
        self.t, self.reduction = targets, reduction

    def forward(self, z):
        xp = get_array_module(z)
        self.logp = _log_softmax(z, axis=1)
        picked = -self.logp[xp.arange(z.shape[0]), self.t]
        if self.reduction == "mean":  # divide first: a mean of huge losses must not overflow the sum
            return (picked / z.shape[0]).sum()
        if self.reduction == "sum":
            return picked.sum()
        return picked

    def backward(self, gy):
        xp = get_array_module(gy)
        n = self.logp.shape[0]
        g = xp.exp(self.logp)
        g[xp.arange(n), self.t] -= 1
        if self.reduction == "mean":
            g *= gy / n
        elif self.reduction == "sum":
            g *= gy
        else:
            g *= gy[:, None]
        return (g,)


def cross_entropy(input, target, reduction="mean"):
    """Cross-entropy between logits ``input`` (N, C) and integer class ``target`` (N,)."""
    _check_reduction(reduction)
    if input.ndim != 2:
        raise ValueError(f"cross_entropy expects logits of shape (N, C), got {input.shape}")
    t = target.data if isinstance(target, Tensor) else target
    xp = get_array_module(input.data)
    t = xp.asarray(t)
    if t.dtype.kind not in "iu":
        raise TypeError(f"cross_entropy targets must be integer class indices, got dtype {t.dtype}; "
                        "convert with .astype(np.int64)")
    if t.shape != (input.shape[0],):
        raise ValueError(f"cross_entropy: target shape {t.shape} does not match logits shape {input.shape}; "
                         f"expected ({input.shape[0]},)")
    if t.size:
        lo, hi = int(t.min()), int(t.max())
        if lo < 0 or hi >= input.shape[1]:
            bad = lo if lo < 0 else hi
            raise ValueError(f"cross_entropy: class index {bad} is out of range for {input.shape[1]} classes "
                             f"(valid: 0..{input.shape[1] - 1})")
    return CrossEntropyFn(t, reduction)(input)


def mse_loss(input, target, reduction="mean"):
    """Mean squared error: mean((input - target)^2); shapes must match."""
    _check_reduction(reduction)
    tshape = target.shape if isinstance(target, Tensor) else np.shape(target)
    if tuple(input.shape) != tuple(tshape):
        raise ValueError(f"mse_loss: input shape {input.shape} and target shape {tuple(tshape)} differ")
    d = input - target
    sq = d * d
    if reduction == "mean":
        return sq.mean()
    if reduction == "sum":
        return sq.sum()
    return sq
