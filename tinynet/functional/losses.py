"""Losses: cross_entropy (fused with log-softmax) and mse_loss."""
from __future__ import annotations

import numpy as np

from .. import backend
from ..autograd import Function
from ..backend import get_array_module
from ..checks import one_of, tensor
from ..tensor import Tensor
from .activations import _log_softmax

REDUCTIONS = ("mean", "sum", "none")


class CrossEntropyFn(Function):
    """loss_i = -log softmax(z_i)[t_i].   z: (N, C) logits, t: (N,) class indices.

    Fused: forward keeps the log-probabilities, and the gradient is simply
    (softmax(z) - onehot(t)) scaled by the reduction, which is both fast and
    exact for logits of any size (no exp of a large number is ever taken).
    ``checked=False`` (targets that were already on the GPU, never looked at on the host):
    a class index outside 0..C-1 gives that sample a NaN loss and NaN gradient row, where
    CuPy's indexing would silently wrap it round to another class.
    """

    def __init__(self, targets, reduction, checked):
        self.t, self.reduction, self.checked = targets, reduction, checked

    def forward(self, z):
        xp = get_array_module(z)
        n, c = z.shape
        self.logp = _log_softmax(z, axis=1)
        picked = -self.logp[xp.arange(n), self.t]
        if not self.checked:
            self.bad = xp.where((self.t < 0) | (self.t >= c), xp.nan, 0).astype(z.dtype)
            picked += self.bad
        if self.reduction == "mean":  # divide first: a mean of huge losses must not overflow the sum
            return (picked / n).sum()
        if self.reduction == "sum":
            return picked.sum()
        return picked

    def backward(self, gy):
        xp = get_array_module(gy)
        n = self.logp.shape[0]
        g = xp.exp(self.logp)
        g[xp.arange(n), self.t] -= 1
        if not self.checked:
            g += self.bad[:, None]
        if self.reduction == "mean":
            g *= gy / n
        elif self.reduction == "sum":
            g *= gy
        else:
            g *= gy[:, None]
        return (g,)


def cross_entropy(input, target, reduction="mean"):
    """Cross-entropy between float logits ``input`` (N, C) and integer class ``target`` (N,).

    Targets given on the host (a NumPy array, a list, a CPU Tensor) are checked there: integer
    dtype, shape (N,), each in 0..C-1. Targets already on the GPU are only checked for dtype and
    shape: reading their values would make every step wait for the GPU, so an out-of-range index
    there makes that sample's loss NaN instead (see ``CrossEntropyFn``). ``reduction='mean'``
    over an empty batch is undefined and raises; 'sum' gives 0 and 'none' an empty array.
    """
    one_of("cross_entropy", "reduction", reduction, REDUCTIONS)
    tensor("cross_entropy", "input", input, ndim=2, layout="(N, C) logits", floating=True)
    n, c = input.shape
    if c == 0:
        raise ValueError(f"cross_entropy: logits of shape {input.shape} have no classes; C must be >= 1")
    if n == 0 and reduction == "mean":
        raise ValueError(f"cross_entropy: logits of shape {input.shape} hold no samples, and the mean loss of an "
                         "empty batch is undefined; skip empty batches or use reduction='sum'")
    t = target.data if isinstance(target, Tensor) else target
    on_host = backend.device_of(t) == "cpu"
    t = np.asarray(t) if on_host else t
    if t.dtype.kind not in "iu":
        raise TypeError(f"cross_entropy: targets must be integer class indices, got dtype {t.dtype}; "
                        "convert with .astype(np.int64)")
    if t.shape != (n,):
        raise ValueError(f"cross_entropy: target shape {t.shape} does not match logits shape {input.shape}; "
                         f"expected ({n},)")
    if on_host and n:
        lo, hi = int(t.min()), int(t.max())
        if lo < 0 or hi >= c:
            raise ValueError(f"cross_entropy: class index {lo if lo < 0 else hi} is out of range for {c} classes "
                             f"(valid: 0..{c - 1})")
    return CrossEntropyFn(backend.to_device(t, input.device), reduction, checked=on_host)(input)


def mse_loss(input, target, reduction="mean"):
    """Mean squared error: mean((input - target)^2); shapes must match."""
    one_of("mse_loss", "reduction", reduction, REDUCTIONS)
    tensor("mse_loss", "input", input)
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
