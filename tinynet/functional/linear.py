"""linear and flatten."""
from __future__ import annotations

import numpy as np

from ..autograd import Function
from ..checks import same_kind, tensor
from ..threads import matmul


class LinearFn(Function):
    """y = x @ W.T + b.   x: (..., in), W: (out, in), b: (out,) -> y: (..., out).

    One fused op instead of matmul + transpose + add: fewer temporaries and
    fewer graph nodes on the hottest path of every MLP.
    """

    def forward(self, x, w, b=None):
        self.x, self.w = x, w
        y = matmul(x, w.T)  # tinynet.threads: rows shared by threads, BLAS one thread each
        if b is not None:
            y += b
        return y

    def backward(self, gy):
        x, w = self.x, self.w
        gx = matmul(gy, w) if self.needs_grad[0] else None
        gw = gb = None
        if self.needs_grad[1]:
            gy2 = gy.reshape(-1, gy.shape[-1])
            gw = matmul(gy2.T, x.reshape(-1, x.shape[-1]))
        if len(self.needs_grad) > 2 and self.needs_grad[2]:
            gb = gy.reshape(-1, gy.shape[-1]).sum(axis=0)
        return gx, gw, gb


def linear(input, weight, bias=None):
    """Affine map with PyTorch's weight layout.   input (..., in), weight (out, in), bias (out,) -> (..., out).

    Checked on every call, because each is cheap and catches a real mistake: Tensors only, the
    feature counts, and one dtype and device for all three (float64 data into a float32 layer
    would otherwise run in float64 and fail only at ``optimizer.step()``, as PyTorch refuses too).
    """
    tensor("linear", "input", input)
    tensor("linear", "weight", weight, ndim=2, layout="(out_features, in_features)")
    if input.ndim == 0 or input.shape[-1] != weight.shape[1]:
        raise ValueError(f"linear: input shape {input.shape} must end in the weight's in_features={weight.shape[1]} "
                         f"(weight shape {weight.shape} is (out_features, in_features))")
    same_kind("linear", "input", input, "weight", weight)
    if bias is None:
        return LinearFn()(input, weight)
    tensor("linear", "bias", bias)
    if bias.shape != (weight.shape[0],):
        raise ValueError(f"linear: bias shape {bias.shape} must be ({weight.shape[0]},), one per output feature")
    same_kind("linear", "bias", bias, "weight", weight)
    return LinearFn()(input, weight, bias)


def flatten(input, start_dim=1):
    """Collapse dims from ``start_dim`` on (negative counts from the end): (N, C, H, W) -> (N, C*H*W).

    ``start_dim`` must name a dim of ``input``: past the end, a reshape would silently add one.
    """
    tensor("flatten", "input", input)
    nd = max(input.ndim, 1)  # a 0-d input flattens to shape (1,)
    if isinstance(start_dim, bool) or not isinstance(start_dim, (int, np.integer)) or not -nd <= start_dim < nd:
        raise ValueError(f"flatten: start_dim must be an int in {-nd}..{nd - 1} for input of shape {input.shape}, "
                         f"got {start_dim!r}")
    return input.reshape(input.shape[:start_dim] + (-1,))
