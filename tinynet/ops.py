"""Primitive differentiable ops on tensors: arithmetic, reductions, shapes, elementwise math.

Each op is one ``Function``: ``forward`` on arrays, then ``backward`` right under it.
Shapes use N-D broadcasting; binary ops reduce gradients back with ``sum_to``.
Neural-network ops (conv, pooling, losses, ...) live in ``tinynet.functional``.
"""
from __future__ import annotations

import numpy as np

from . import backend
from .autograd import Function, sum_to
from .tensor import Tensor


def _broadcast_check(name, a, b):
    try:
        return np.broadcast_shapes(a.shape, b.shape)
    except ValueError:
        raise ValueError(f"{name}: shapes {a.shape} and {b.shape} do not broadcast together; "
                         "trailing dimensions must be equal or 1") from None


# ---------------------------------------------------------------------------- arithmetic
class Add(Function):
    def forward(self, a, b):
        if a.shape != b.shape:
            _broadcast_check("add", a, b)
        self.shapes = a.shape, b.shape
        return a + b

    def backward(self, gy):
        sa, sb = self.shapes
        return (sum_to(gy, sa) if self.needs_grad[0] else None,
                sum_to(gy, sb) if self.needs_grad[1] else None)


class Sub(Function):
    def forward(self, a, b):
        if a.shape != b.shape:
            _broadcast_check("subtract", a, b)
        self.shapes = a.shape, b.shape
        return a - b

    def backward(self, gy):
        sa, sb = self.shapes
        return (sum_to(gy, sa) if self.needs_grad[0] else None,
                sum_to(-gy, sb) if self.needs_grad[1] else None)


class Mul(Function):
    def forward(self, a, b):
        if a.shape != b.shape:
            _broadcast_check("multiply", a, b)
        self.a, self.b = a, b
        return a * b

    def backward(self, gy):
        a, b = self.a, self.b
        ga = sum_to(gy * b, a.shape) if self.needs_grad[0] else None
        gb = sum_to(gy * a, b.shape) if self.needs_grad[1] else None
        return ga, gb


class Div(Function):
    def forward(self, a, b):
        if a.shape != b.shape:
            _broadcast_check("divide", a, b)
        self.a, self.b = a, b
        return a / b

    def backward(self, gy):
        a, b = self.a, self.b
        ga = sum_to(gy / b, a.shape) if self.needs_grad[0] else None
        gb = sum_to(-gy * a / (b * b), b.shape) if self.needs_grad[1] else None
        return ga, gb


class Neg(Function):
    def forward(self, x):
        return -x

    def backward(self, gy):
        return (-gy,)


class PowScalar(Function):
    """x ** c for a constant exponent c."""

    def __init__(self, c):
        self.c = c

    def forward(self, x):
        self.x = x
        return x ** self.c

    def backward(self, gy):
        c = self.c
        return (gy * c * self.x ** (c - 1),)


class Pow(Function):
    """a ** b with both sides tensors: d/da = b a^(b-1), d/db = a^b log a."""

    def forward(self, a, b):
        if a.shape != b.shape:
            _broadcast_check("power", a, b)
        self.a, self.b = a, b
        self.y = a ** b
        return self.y

    def backward(self, gy):
        a, b = self.a, self.b
        xp = backend.get_array_module(a)
        ga = sum_to(gy * b * a ** (b - 1), a.shape) if self.needs_grad[0] else None
        gb = None
        if self.needs_grad[1]:
            with np.errstate(divide="ignore", invalid="ignore"):
                log_a = xp.where(a > 0, xp.log(xp.where(a > 0, a, 1)), 0)  # 0^b: no gradient w.r.t. b
            gb = sum_to(gy * self.y * log_a, b.shape)
        return ga, gb


class MatMul(Function):
    """a @ b with NumPy's rules: 1-D operands are promoted, leading dims broadcast."""

    def forward(self, a, b):
        if a.ndim == 0 or b.ndim == 0:
            raise ValueError(f"matmul needs at least 1-D operands, got shapes {a.shape} and {b.shape}; use * for scalars")
        k_b = b.shape[-2] if b.ndim > 1 else b.shape[0]
        if a.shape[-1] != k_b:
            raise ValueError(f"matmul: shapes {a.shape} and {b.shape} are not aligned: "
                             f"a.shape[-1]={a.shape[-1]} must equal b.shape[-2]={k_b}")
        self.a, self.b = a, b
        return a @ b

    def backward(self, gy):
        a, b = self.a, self.b
        a2 = a[None] if a.ndim == 1 else a
        b2 = b[:, None] if b.ndim == 1 else b
        if b.ndim == 1:
            gy = gy[..., None]
        if a.ndim == 1:
            gy = gy[..., None, :]
        ga = gb = None
        if self.needs_grad[0]:
            ga = sum_to(gy @ b2.swapaxes(-1, -2), a2.shape).reshape(a.shape)
        if self.needs_grad[1]:
            gb = sum_to(a2.swapaxes(-1, -2) @ gy, b2.shape).reshape(b.shape)
        return ga, gb


# ---------------------------------------------------------------------------- reductions
def _norm_axis(axis, ndim):
    if axis is None:
        return tuple(range(ndim))
    axes = (axis,) if isinstance(axis, (int, np.integer)) else tuple(axis)
    out = []
    for ax in axes:
        if not -ndim <= ax < max(ndim, 1):
            raise ValueError(f"axis {ax} is out of range for a tensor with {ndim} dimensions")
        out.append(ax % max(ndim, 1))
    return tuple(sorted(set(out)))


def _expand_reduced(gy, shape, axes, keepdims):
    """Reshape a reduced gradient so it broadcasts against the input's ``shape``."""
    if keepdims:
        return gy
    kept = tuple(1 if i in axes else s for i, s in enumerate(shape))
    return gy.reshape(kept)


# Sum and Mean hand back ``broadcast_to`` views of the upstream gradient: every element of the
# input gets the same number, so a view costs no memory and no device pass. Such a view shares
# one number across all its elements (read-only on NumPy; on CuPy writable, and a write would
# change every element), so autograd copies it before a leaf adopts it as ``.grad``
# (autograd._accumulate_leaf_grad).
class Sum(Function):
    def __init__(self, axis=None, keepdims=False):
        self.axis, self.keepdims = axis, keepdims

    def forward(self, x):
        self.axes = _norm_axis(self.axis, x.ndim)
        self.shape = x.shape
        return x.sum(axis=self.axes, keepdims=self.keepdims)

    def backward(self, gy):
        xp = backend.get_array_module(gy)
        g = _expand_reduced(gy, self.shape, self.axes, self.keepdims)
        return (xp.broadcast_to(g, self.shape),)


class Mean(Function):
    def __init__(self, axis=None, keepdims=False):
        self.axis, self.keepdims = axis, keepdims

    def forward(self, x):
        self.axes = _norm_axis(self.axis, x.ndim)
        self.shape = x.shape
        return x.mean(axis=self.axes, keepdims=self.keepdims)

    def backward(self, gy):
        xp = backend.get_array_module(gy)
        count = 1
        for ax in self.axes:
            count *= self.shape[ax]
        g = _expand_reduced(gy, self.shape, self.axes, self.keepdims)
        return (xp.broadcast_to(g / count, self.shape),)


class Max(Function):
    """max or min over axes; the gradient is shared equally between tied extremes."""

    def __init__(self, axis=None, keepdims=False, kind="max"):
        self.axis, self.keepdims, self.kind = axis, keepdims, kind

    def forward(self, x):
        if x.size == 0:
            raise ValueError(f"{self.kind}() of an empty tensor (shape {x.shape}) is undefined")
        self.axes = _norm_axis(self.axis, x.ndim)
        self.x = x
        reduce = x.max if self.kind == "max" else x.min
        self.y = reduce(axis=self.axes, keepdims=True)
        return self.y if self.keepdims else self.y.reshape(
            tuple(s for i, s in enumerate(x.shape) if i not in self.axes))

    def backward(self, gy):
        mask = self.x == self.y
        share = mask / mask.sum(axis=self.axes, keepdims=True)
        g = _expand_reduced(gy, self.x.shape, self.axes, self.keepdims)
        return (g * share.astype(gy.dtype),)


# ---------------------------------------------------------------------------- shapes
class Reshape(Function):
    def __init__(self, shape):
        self.shape = tuple(int(s) for s in shape)

    def forward(self, x):
        self.in_shape = x.shape
        try:
            return x.reshape(self.shape)
        except ValueError:
            raise ValueError(f"cannot reshape a tensor of shape {x.shape} ({x.size} elements) "
                             f"into shape {self.shape}") from None

    def backward(self, gy):
        return (gy.reshape(self.in_shape),)


class Transpose(Function):
    def __init__(self, axes=None):
        self.axes = None if axes is None else tuple(axes)

    def forward(self, x):
        if self.axes is not None and sorted(a % max(x.ndim, 1) for a in self.axes) != list(range(x.ndim)):
            raise ValueError(f"transpose axes {self.axes} are not a permutation of the {x.ndim} axes of shape {x.shape}")
        return x.transpose(self.axes)

    def backward(self, gy):
        if self.axes is None:
            return (gy.transpose(),)
        return (gy.transpose(np.argsort([a % gy.ndim for a in self.axes])),)


def _is_basic_index(index) -> bool:
    """True for indices made of ints, slices, None and Ellipsis only (no repeated elements)."""
    items = index if isinstance(index, tuple) else (index,)
    return all(isinstance(i, (int, np.integer, slice)) or i is None or i is Ellipsis for i in items)


def _device_index(index, shape):
    """``index`` for a CuPy array of ``shape``: integer arrays checked against their axis and moved
    to the device. CuPy wraps out-of-range integer indices around where NumPy raises, so we check:
    on the host for host arrays (free), with one device sync for index arrays already there."""
    items = list(index) if isinstance(index, tuple) else [index]
    used = sum(0 if i is None or i is Ellipsis else getattr(i, "ndim", 1) if getattr(i, "dtype", None) == bool
               else 1 for i in items)
    axis, out = 0, []
    for i in items:
        if i is Ellipsis:
            axis += len(shape) - used
        elif i is not None and backend.is_array(i):
            if i.dtype == bool:
                axis += i.ndim
            elif axis < len(shape) and i.size:
                n = shape[axis]
                bad = (i < -n) | (i >= n)
                if bool(bad.any()):  # host arrays: free; device arrays: one sync
                    raise IndexError(f"index {backend.to_numpy(i[bad])[0]} is out of bounds for axis "
                                     f"{axis} with size {n}")
                axis += 1
            else:
                axis += 1
            i = backend.to_device(i, "cuda")
        elif i is not None:
            axis += 1
        out.append(i)
    return tuple(out) if isinstance(index, tuple) else out[0]


class GetItem(Function):
    """x[index] with basic slices or integer arrays; repeated indices accumulate gradient."""

    def __init__(self, index):
        if isinstance(index, Tensor):
            index = index.data
        elif isinstance(index, tuple):
            index = tuple(i.data if isinstance(i, Tensor) else i for i in index)
        elif isinstance(index, list):
            index = np.asarray(index)
        self.index = index

    def forward(self, x):
        self.shape, self.dtype = x.shape, x.dtype
        if backend.get_array_module(x) is not np:
            self.index = _device_index(self.index, x.shape)
        try:
            return x[self.index]
        except IndexError as e:
            raise IndexError(f"index {self.index!r} is invalid for a tensor of shape {x.shape}: {e}") from None

    def backward(self, gy):
        xp = backend.get_array_module(gy)
        gx = xp.zeros(self.shape, dtype=gy.dtype)
        if _is_basic_index(self.index):
            gx[self.index] = gy
        else:
            backend.scatter_add(gx, self.index, gy)
        return (gx,)


class Concatenate(Function):
    def __init__(self, axis=0):
        self.axis = axis

    def forward(self, *xs):
        xp = backend.get_array_module(xs[0])
        self.sizes = [x.shape[self.axis] for x in xs]
        try:
            return xp.concatenate(xs, axis=self.axis)
        except ValueError as e:
            raise ValueError(f"concatenate along axis {self.axis}: shapes {[x.shape for x in xs]} differ "
                             f"off that axis ({e})") from None

    def backward(self, gy):
        xp = backend.get_array_module(gy)
        cuts = np.cumsum(self.sizes)[:-1].tolist()
        return tuple(xp.split(gy, cuts, axis=self.axis))


class Stack(Function):
    def __init__(self, axis=0):
        self.axis = axis

    def forward(self, *xs):
        xp = backend.get_array_module(xs[0])
        if len({x.shape for x in xs}) != 1:
            raise ValueError(f"stack needs tensors of one shape, got {[x.shape for x in xs]}")
        return xp.stack(xs, axis=self.axis)

    def backward(self, gy):
        xp = backend.get_array_module(gy)
        return tuple(xp.moveaxis(gy, self.axis, 0))


class Where(Function):
    """cond ? a : b elementwise (cond is a constant boolean array)."""

    def __init__(self, cond):
        self.cond = cond

    def forward(self, a, b):
        xp = backend.get_array_module(a)
        try:
            shape = np.broadcast_shapes(self.cond.shape, a.shape, b.shape)
        except ValueError:
            raise ValueError(f"where: condition {self.cond.shape}, x {a.shape} and y {b.shape} do not broadcast") from None
        self.shapes = a.shape, b.shape, shape
        return xp.where(self.cond, a, b)

    def backward(self, gy):
        xp = backend.get_array_module(gy)
        sa, sb, _ = self.shapes
        zero = xp.zeros((), dtype=gy.dtype)
        ga = sum_to(xp.where(self.cond, gy, zero), sa) if self.needs_grad[0] else None
        gb = sum_to(xp.where(self.cond, zero, gy), sb) if self.needs_grad[1] else None
        return ga, gb


class ToDevice(Function):
    def __init__(self, device):
        self.device = device

    def forward(self, x):
        self.src = backend.device_of(x)
        return backend.to_device(x, self.device)

    def backward(self, gy):
        return (backend.to_device(gy, self.src),)


class Cast(Function):
    def __init__(self, dtype):
        self.dtype = dtype

    def forward(self, x):
        self.src = x.dtype
        return x.astype(self.dtype)

    def backward(self, gy):
        return (gy.astype(self.src),)


# ---------------------------------------------------------------------------- elementwise math
class Exp(Function):
    def forward(self, x):
        xp = backend.get_array_module(x)
        self.y = xp.exp(x)
        return self.y

    def backward(self, gy):
        return (gy * self.y,)


class Log(Function):
    def forward(self, x):
        xp = backend.get_array_module(x)
        self.x = x
        return xp.log(x)

    def backward(self, gy):
        return (gy / self.x,)


class Sqrt(Function):
    def forward(self, x):
        xp = backend.get_array_module(x)
        self.y = xp.sqrt(x)
        return self.y

    def backward(self, gy):
        return (gy / (2 * self.y),)


class Abs(Function):
    def forward(self, x):
        xp = backend.get_array_module(x)
        self.x = x
        return xp.abs(x)

    def backward(self, gy):
        xp = backend.get_array_module(gy)
        return (gy * xp.sign(self.x),)


class Clip(Function):
    """Clamp to [lo, hi]; gradient passes where lo <= x <= hi (PyTorch's convention)."""

    def __init__(self, lo=None, hi=None):
        if lo is None and hi is None:
            raise ValueError("clip needs at least one of min or max")
        if lo is not None and hi is not None and lo > hi:
            raise ValueError(f"clip: min={lo} is greater than max={hi}")
        self.lo, self.hi = lo, hi

    def forward(self, x):
        xp = backend.get_array_module(x)
        self.x = x
        return xp.clip(x, self.lo, self.hi)

    def backward(self, gy):
        keep = True
        if self.lo is not None:
            keep = self.x >= self.lo
        if self.hi is not None:
            keep = keep & (self.x <= self.hi)
        return (gy * keep,)


# ---------------------------------------------------------------------------- free functions
def _tensors(xs, name):
    if not isinstance(xs, (list, tuple)) or not xs:
        raise ValueError(f"{name} needs a non-empty list of tensors, got {xs!r}")
    return [x if isinstance(x, Tensor) else Tensor(x) for x in xs]


def concatenate(tensors, axis=0) -> Tensor:
    """Join tensors along an existing axis."""
    return Concatenate(axis)(*_tensors(tensors, "concatenate"))


def stack(tensors, axis=0) -> Tensor:
    """Join same-shaped tensors along a new axis."""
    return Stack(axis)(*_tensors(tensors, "stack"))


def where(condition, x, y) -> Tensor:
    """Elementwise ``x if condition else y``; no gradient flows to ``condition``."""
    cond = condition.data if isinstance(condition, Tensor) else condition
    like = x if isinstance(x, Tensor) else y if isinstance(y, Tensor) else Tensor(x)
    from .tensor import _operand

    return Where(backend.get_array_module(like.data).asarray(cond, dtype=bool))(_operand(x, like), _operand(y, like))
