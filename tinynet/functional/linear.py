"""linear and flatten."""
from __future__ import annotations

from ..autograd import Function


class LinearFn(Function):
    """y = x @ W.T + b.   x: (..., in), W: (out, in), b: (out,) -> y: (..., out).

    One fused op instead of matmul + transpose + add: fewer temporaries and
    fewer graph nodes on the hottest path of every MLP.
    """

    def forward(self, x, w, b=None):
        if x.shape[-1] != w.shape[1]:
            raise ValueError(f"linear: input has {x.shape[-1]} features (shape {x.shape}) but the weight "
                             f"expects {w.shape[1]} (weight shape {w.shape} is (out_features, in_features))")
        self.x, self.w = x, w
        y = x @ w.T
        if b is not None:
            y += b
        return y

    def backward(self, gy):
        x, w = self.x, self.w
        gx = gy @ w if self.needs_grad[0] else None
        gw = gb = None
        if self.needs_grad[1]:
            gy2 = gy.reshape(-1, gy.shape[-1])
            gw = gy2.T @ x.reshape(-1, x.shape[-1])
        if len(self.needs_grad) > 2 and self.needs_grad[2]:
            gb = gy.reshape(-1, gy.shape[-1]).sum(axis=0)
        return gx, gw, gb


def linear(input, weight, bias=None):
    """Affine map with PyTorch's weight layout (out_features, in_features)."""
    if bias is None:
        return LinearFn()(input, weight)
    return LinearFn()(input, weight, bias)


def flatten(input, start_dim=1):
    """Collapse dims from ``start_dim`` on: (N, C, H, W) -> (N, C*H*W)."""
    return input.reshape(input.shape[:start_dim] + (-1,))
