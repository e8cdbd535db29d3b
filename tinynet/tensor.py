"""The Tensor: a NumPy/CuPy array plus what reverse-mode autodiff needs.

A tensor holds ``data`` (a backend array), ``grad`` (an array of the same shape,
or None), ``requires_grad``, and ``_ctx``: the Function that produced it, which
is how the graph is remembered. Operators and methods only build ops from
``tinynet.ops``; the arithmetic lives there, forward next to backward.
"""
from __future__ import annotations

import decimal
import numbers
import reprlib

import numpy as np

from . import backend
from .checks import numeric_dtype
from .autograd import backward as _run_backward

DEFAULT_FLOAT = np.float32


def _is_float(dtype) -> bool:
    return np.issubdtype(dtype, np.floating)


class Tensor:
    """An n-dimensional array that can record the ops applied to it.

    Args:
        data: a number, a nested list/tuple of numbers, a NumPy/CuPy array, or a Tensor.
            Python floats (and lists holding one) become float32, Python ints int64; arrays
            keep their dtype unless ``dtype`` is given. None, strings, complex numbers and
            ragged lists are refused with a TypeError/ValueError instead of becoming NaN,
            a string tensor or a real part.
        requires_grad: track operations on this tensor so ``backward`` can fill ``.grad``.
            Only floating-point tensors can require gradients.
        dtype: NumPy dtype to convert to (e.g. ``np.float64`` for gradient checks).
        device: 'cpu' or 'cuda'; default: where ``data`` already is (a CuPy array is on 'cuda'), else 'cpu'.
    """

    __slots__ = ("data", "grad", "requires_grad", "_ctx", "__weakref__")
    __array_priority__ = 1000  # ndarray (op) Tensor defers to Tensor's reflected operator

    def __init__(self, data, requires_grad=False, dtype=None, device=None):
        if isinstance(data, Tensor):
            data = data.data
        if device is None:
            device = backend.device_of(data) if _is_array(data) else "cpu"
        device = backend.check_device(device)
        xp = backend.xp_for_device(device)
        if dtype is not None:
            dtype = numeric_dtype("Tensor", "dtype", dtype, dtype)
        given = data
        if not _is_array(data) or data.dtype == object:
            data = _host_numbers(data)
            if dtype is None and data.dtype.kind == "f":
                dtype = DEFAULT_FLOAT  # Python floats are float64; tinynet defaults to float32 like torch
        numeric_dtype("Tensor", "data", data.dtype, given)
        self.data = xp.asarray(backend.to_device(data, device), dtype=dtype)
        self.grad = None
        self._ctx = None
        self.requires_grad = False
        if requires_grad:
            self.requires_grad_(True)

    @classmethod
    def _wrap(cls, array, requires_grad=False):
        """Fast constructor for op outputs: no conversion, no checks."""
        t = object.__new__(cls)
        t.data = array
        t.grad = None
        t._ctx = None
        t.requires_grad = requires_grad
        return t

    def requires_grad_(self, flag=True):
        if flag and not _is_float(self.data.dtype):
            raise TypeError(f"only floating-point tensors can require gradients, but this tensor has dtype "
                            f"{self.data.dtype}; convert it first, e.g. Tensor(x, dtype=np.float32, requires_grad=True)")
        self.requires_grad = bool(flag)
        return self

    # ----------------------------------------------------------------- properties
    @property
    def shape(self):
        return self.data.shape

    @property
    def ndim(self):
        return self.data.ndim

    @property
    def size(self):
        return self.data.size

    @property
    def dtype(self):
        return self.data.dtype

    @property
    def device(self):
        return backend.device_of(self.data)

    @property
    def is_leaf(self):
        return self._ctx is None

    def __len__(self):
        if self.data.ndim == 0:
            raise TypeError("len() of a 0-d tensor: it has no first dimension; use .item() for its value "
                            "or .size for its number of elements")
        return len(self.data)

    def __repr__(self):
        body = np.array2string(self.numpy(), precision=4, separator=", ", prefix="Tensor(")
        extra = f", dtype={self.dtype}"
        if self.device != "cpu":
            extra += f", device='{self.device}'"
        if self.requires_grad:
            extra += ", requires_grad=True"
        return f"Tensor({body}{extra})"

    # ----------------------------------------------------------------- conversion
    def numpy(self) -> np.ndarray:
        """The data as a NumPy array (copied to the host when on the GPU)."""
        return backend.to_numpy(self.data)

    def item(self):
        if self.data.size != 1:
            raise ValueError(f"item() needs a tensor with one element, this one has shape {self.shape}")
        return self.data.reshape(()).item()

    def tolist(self):
        return self.numpy().tolist()

    def detach(self) -> "Tensor":
        """Same data, cut from the graph (shares memory)."""
        return Tensor._wrap(self.data, False)

    def to(self, device) -> "Tensor":
        """A copy on ``device`` ('cpu'/'cuda'); differentiable (the gradient goes back to this
        tensor's device). Returns self when already there."""
        device = backend.check_device(device)
        if device == self.device:
            return self
        return ops.ToDevice(device)(self)

    def astype(self, dtype) -> "Tensor":
        return ops.Cast(np.dtype(dtype))(self)

    def float(self):
        return self.astype(np.float32)

    def double(self):
        return self.astype(np.float64)

    def backward(self, grad=None, retain_graph=False):
        """Fill ``.grad`` of every leaf this tensor depends on with d(self)/d(leaf), accumulating."""
        _run_backward(self, grad, retain_graph)

    def zero_grad(self):
        self.grad = None

    # ----------------------------------------------------------------- arithmetic
    def __add__(self, other):
        return ops.Add()(self, _operand(other, self))

    def __radd__(self, other):
        return ops.Add()(_operand(other, self), self)

    def __sub__(self, other):
        return ops.Sub()(self, _operand(other, self))

    def __rsub__(self, other):
        return ops.Sub()(_operand(other, self), self)

    def __mul__(self, other):
        return ops.Mul()(self, _operand(other, self))

    def __rmul__(self, other):
        return ops.Mul()(_operand(other, self), self)

    def __truediv__(self, other):
        return ops.Div()(self, _operand(other, self))

    def __rtruediv__(self, other):
        return ops.Div()(_operand(other, self), self)

    def __pow__(self, other):
        if isinstance(other, (int, float)) and not isinstance(other, bool):
            return ops.PowScalar(other)(self)
        return ops.Pow()(self, _operand(other, self))

    def __rpow__(self, other):
        return ops.Pow()(_operand(other, self), self)

    def __matmul__(self, other):
        return ops.MatMul()(self, _operand(other, self))

    def __rmatmul__(self, other):
        return ops.MatMul()(_operand(other, self), self)

    def __neg__(self):
        return ops.Neg()(self)

    def __pos__(self):
        return self

    # comparisons carry no gradient
    def _compare(self, other, fn):
        other = other.data if isinstance(other, Tensor) else other
        return Tensor._wrap(fn(self.data, other), False)

    def __lt__(self, other):
        return self._compare(other, lambda a, b: a < b)

    def __le__(self, other):
        return self._compare(other, lambda a, b: a <= b)

    def __gt__(self, other):
        return self._compare(other, lambda a, b: a > b)

    def __ge__(self, other):
        return self._compare(other, lambda a, b: a >= b)

    def eq(self, other):
        return self._compare(other, lambda a, b: a == b)

    def ne(self, other):
        return self._compare(other, lambda a, b: a != b)

    __hash__ = object.__hash__  # tensors are used as dict keys by identity; == is elementwise via eq()

    def __bool__(self):
        if self.data.size != 1:
            raise ValueError(f"the truth value of a tensor with shape {self.shape} is ambiguous; use .any() or .all()")
        return bool(self.data.reshape(()))

    def any(self):
        return bool(self.data.any())

    def all(self):
        return bool(self.data.all())

    # ----------------------------------------------------------------- reductions
    def sum(self, axis=None, keepdims=False):
        return ops.Sum(axis, keepdims)(self)

    def mean(self, axis=None, keepdims=False):
        return ops.Mean(axis, keepdims)(self)

    def max(self, axis=None, keepdims=False):
        return ops.Max(axis, keepdims, "max")(self)

    def min(self, axis=None, keepdims=False):
        return ops.Max(axis, keepdims, "min")(self)

    def argmax(self, axis=None):
        return Tensor._wrap(self.data.argmax(axis=axis), False)

    def argmin(self, axis=None):
        return Tensor._wrap(self.data.argmin(axis=axis), False)

    # ----------------------------------------------------------------- shapes
    def reshape(self, *shape):
        shape = shape[0] if len(shape) == 1 and isinstance(shape[0], (tuple, list)) else shape
        return ops.Reshape(shape)(self)

    def flatten(self, start_dim=0):
        return self.reshape(self.shape[:start_dim] + (-1,))

    def transpose(self, *axes):
        axes = axes[0] if len(axes) == 1 and isinstance(axes[0], (tuple, list)) else axes
        return ops.Transpose(axes or None)(self)

    @property
    def T(self):
        return ops.Transpose(None)(self)

    def __getitem__(self, index):
        return ops.GetItem(index)(self)

    # ----------------------------------------------------------------- elementwise math
    def exp(self):
        return ops.Exp()(self)

    def log(self):
        return ops.Log()(self)

    def sqrt(self):
        return ops.Sqrt()(self)

    def abs(self):
        return ops.Abs()(self)

    def clip(self, min=None, max=None):
        return ops.Clip(min, max)(self)


def _is_array(x) -> bool:
    return backend.is_array(x)


def _host_numbers(data) -> np.ndarray:
    """A NumPy array from a number or a nested list/tuple of numbers (object arrays of numbers too).

    NumPy alone would turn None into NaN, a dict into float()'s message, and ['1', 'a'] into a
    string array; each becomes an error that names the culprit here.
    """
    try:
        arr = np.asarray(data)
    except ValueError:  # ragged rows, or Tensors inside a list
        arr = None
    if arr is None or arr.dtype == object:
        for x in (_leaves(data) if arr is None else arr.flat):
            if isinstance(x, Tensor):
                raise TypeError("Tensor: data is a list holding Tensors; use tinynet.stack(tensors) "
                                "(which keeps the graph) or Tensor([t.item() for t in tensors])")
            if not isinstance(x, (numbers.Real, decimal.Decimal)):
                hint = ("use float('nan') for a missing value" if x is None else
                        "convert it to a number or an array first")
                raise TypeError(f"Tensor: data holds {reprlib.repr(x)} of type {type(x).__name__}, not a number; {hint}")
        if arr is None:
            raise ValueError(f"Tensor: data {reprlib.repr(data)} is ragged: nested lists need rows of one length")
        arr = arr.astype(np.float64)
    return arr


def _leaves(data):
    """The non-sequence items of a nested list/tuple, depth first, without recursion."""
    stack = [data]
    while stack:
        x = stack.pop()
        if isinstance(x, (list, tuple)):
            stack.extend(reversed(x))
        else:
            yield x


def _operand(x, like: Tensor) -> Tensor:
    """Turn the other operand of a binary op into a tensor beside ``like``.

    Python and NumPy scalars take ``like``'s dtype (2 * float32 stays float32);
    integer tensors are promoted to a float partner's dtype; two different float
    dtypes are an error rather than a silent (and slow) upcast.
    """
    if isinstance(x, Tensor):
        a, b = x.dtype, like.dtype
        if a != b:
            fa, fb = _is_float(a), _is_float(b)
            if fa and fb:
                raise TypeError(f"cannot combine tensors of dtypes {b} and {a}; convert one with "
                                f".astype(...) so both have the same float dtype")
            if fb and not fa:
                return Tensor._wrap(x.data.astype(b), False)
        return x
    xp = backend.get_array_module(like.data)
    if isinstance(x, (bool, int, float)) or (isinstance(x, np.generic) and x.ndim == 0):
        dtype = like.dtype if _is_float(like.dtype) or not isinstance(x, float) else DEFAULT_FLOAT
        return Tensor._wrap(xp.asarray(x, dtype=dtype), False)
    arr = xp.asarray(x)
    if _is_float(arr.dtype) and _is_float(like.dtype) and arr.dtype != like.dtype:
        arr = arr.astype(like.dtype)  # plain arrays act like constants in the tensor's precision
    return Tensor._wrap(arr, False)


from . import ops  # noqa: E402  (ops builds on Tensor; imported last to close the cycle)
