"""tinynet: a small reverse-mode autograd and layer library on NumPy (or CuPy on a GPU).

    import numpy as np, tinynet as tn
    x = tn.Tensor(np.ones((2, 3)), requires_grad=True)
    (x * x).sum().backward()      # x.grad == 2 * x
"""
from . import backend, threads
from .autograd import enable_grad, is_grad_enabled, no_grad
from .gradcheck import GradcheckError, gradcheck
from .ops import concatenate, stack, where
from .tensor import Tensor
from . import functional  # noqa: E402
from . import nn  # noqa: E402
from .serialization import load, save  # noqa: E402
from . import optim  # noqa: E402
from . import data  # noqa: E402

__version__ = "0.1.0"

__all__ = [
    "Tensor", "no_grad", "enable_grad", "is_grad_enabled", "gradcheck", "GradcheckError",
    "concatenate", "stack", "where", "functional", "backend", "threads",
    "nn", "optim", "save", "load", "data",
]
