"""Normalisation layers: BatchNorm1d, BatchNorm2d and LocalResponseNorm."""
from __future__ import annotations

import numpy as np

from ..functional.normalization import _batch_norm, _local_response_norm, check_lrn_args
from ..tensor import Tensor
from ..checks import float_dtype, int_arg
from .module import Module, Parameter


class _BatchNorm(Module):
    """Batch normalisation over (N, *) per channel; the formulas are in ``functional.normalization``.

    Parameters (``affine``): weight (C,) = 1, bias (C,) = 0.
    Buffers (``track_running_stats``): running_mean (C,) = 0, running_var (C,) = 1,
    num_batches_tracked () int64 = 0.
    Training mode normalises with batch statistics and updates the running ones with
    ``momentum`` (or, when momentum is None, with a cumulative average 1 / num_batches_tracked);
    eval mode normalises with the running statistics, or with batch statistics when none are tracked.
    """

    _dims = ()

    def __init__(self, num_features, eps=1e-5, momentum=0.1, affine=True, track_running_stats=True,
                 dtype=np.float32):
        super().__init__()
        name = type(self).__name__
        self.num_features = c = int_arg(name, "num_features", num_features)
        if not eps > 0:
            raise ValueError(f"{name}: eps={eps!r} must be positive")
        if momentum is not None and not 0 <= momentum <= 1:
            raise ValueError(f"{name}: momentum={momentum!r} must be in [0, 1] or None (cumulative average)")
        self.eps, self.momentum = float(eps), momentum
        self.affine, self.track_running_stats = bool(affine), bool(track_running_stats)
        dtype = float_dtype(name, dtype)
        if affine:
            self.weight = Parameter(np.ones(c, dtype=dtype))
            self.bias = Parameter(np.zeros(c, dtype=dtype))
        else:
            self.register_parameter("weight", None)
            self.register_parameter("bias", None)
        if track_running_stats:
            self.register_buffer("running_mean", Tensor(np.zeros(c, dtype=dtype)))
            self.register_buffer("running_var", Tensor(np.ones(c, dtype=dtype)))
            self.register_buffer("num_batches_tracked", Tensor(np.array(0, dtype=np.int64)))
        else:
            for buf in ("running_mean", "running_var", "num_batches_tracked"):
                self.register_buffer(buf, None)

    def forward(self, x):
        if x.ndim not in self._dims:
            raise ValueError(f"{type(self).__name__} expects input with {' or '.join(map(str, self._dims))} "
                             f"dims (N, C, ...), got shape {x.shape}")
        factor = 0.0 if self.momentum is None else self.momentum
        if self.training and self.track_running_stats:
            self.num_batches_tracked.data += 1
            if self.momentum is None:
                factor = 1.0 / float(self.num_batches_tracked.data)
        use_batch_stats = self.training or self.running_mean is None
        return _batch_norm(x, self.running_mean, self.running_var, self.weight, self.bias,  # eps checked once
                           use_batch_stats, factor, self.eps)

    def extra_repr(self):
        return (f"{self.num_features}, eps={self.eps}, momentum={self.momentum}, affine={self.affine}, "
                f"track_running_stats={self.track_running_stats}")


class BatchNorm1d(_BatchNorm):
    """x: (N, C) or (N, C, L) -> same shape."""

    _dims = (2, 3)


class BatchNorm2d(_BatchNorm):
    """x: (N, C, H, W) -> same shape."""

    _dims = (4,)


class LocalResponseNorm(Module):
    """Local response normalisation; see ``functional.local_response_norm`` for both modes.
    x: (N, C, *) -> same shape. mode 'within_channel' is Caffe's (cifar10_full uses size 3, alpha 5e-5)."""

    def __init__(self, size, alpha=1e-4, beta=0.75, k=1.0, mode="across_channels"):
        super().__init__()
        self.size = check_lrn_args("LocalResponseNorm", size, mode)
        self.alpha, self.beta, self.k, self.mode = float(alpha), float(beta), float(k), mode

    def forward(self, x):
        return _local_response_norm(x, self.size, self.alpha, self.beta, self.k, self.mode)  # args checked once

    def extra_repr(self):
        return f"{self.size}, alpha={self.alpha}, beta={self.beta}, k={self.k}, mode={self.mode!r}"
