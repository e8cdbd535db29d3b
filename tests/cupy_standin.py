"""A strict, host-only stand-in for CuPy, so CI exercises tinynet's 'cuda' path without a GPU.

Its arrays hold NumPy arrays inside, and refuse implicit conversion to NumPy exactly where CuPy
does (CuPy's "Differences between CuPy and NumPy" and "Interoperability" pages):

* ``np.asarray(x)`` / ``np.array(x)`` / anything that calls ``x.__array__()`` raises TypeError
  ("Implicit conversion to a NumPy array is not allowed"), as CuPy does;
* ufuncs and operators take stand-in arrays and scalars only: a ``numpy.ndarray`` or a list among
  the operands raises TypeError ("Unsupported type"); NumPy ufuncs and NumPy functions called on
  stand-in arrays dispatch to the stand-in (``__array_ufunc__``/``__array_function__``), as they
  dispatch to CuPy, and return stand-in arrays;
* reductions return 0-d arrays, not scalars; there is no ``flags.writeable``;
* integer-array indices wrap around instead of raising (CuPy's documented difference);
* ``a[basic] = numpy_array`` with more than one element raises, as CuPy's ``fill`` does;
  advanced-index assignment and indexing with host index arrays upload them, as CuPy does.

What CuPy allows, the stand-in allows and counts: explicit transfers (``asarray`` of host data,
``get``, ``asnumpy``) and the conversions that synchronise with the device (``float(x)``,
``int(x)``, ``bool(x)``, ``x.item()``, ``x.tolist()``, ``repr``, boolean-mask indexing).

:data:`COUNTS` tallies what a real GPU would do: ``kernels`` (elementwise passes, reductions,
copies, GEMMs: one per call that writes device memory; views are free), ``uploads`` (host to
device copies), ``syncs`` (the host waits for the device to hand back a value).

What the stand-in cannot see: kernel speed and launch latency, memory use and fragmentation,
asynchrony (a real GPU queues kernels and only a sync waits; here everything runs at once), CUDA
numerics (fused multiply-add, different reduction order), and whether a CUDA kernel's source even
compiles: ``ElementwiseKernel`` runs the NumPy reference that tinynet.backend keeps beside each
kernel (tests/test_gpu_kernels.py checks the CUDA sources against those references separately).
"""
from __future__ import annotations

import collections
import types

import numpy as np

# ----------------------------------------------------------------------------- counting


class Counts:
    """Device work seen so far: kernels, uploads, syncs, and kernels by name (for reports)."""

    def __init__(self):
        self.reset()

    def reset(self):
        self.kernels = self.uploads = self.syncs = 0
        self.by_name = collections.Counter()
        self.sync_sites = collections.Counter()

    def kernel(self, name):
        self.kernels += 1
        self.by_name[name] += 1

    def sync(self, name):
        self.syncs += 1
        self.sync_sites[name] += 1

    def snapshot(self):
        return {"kernels": self.kernels, "uploads": self.uploads, "syncs": self.syncs}


COUNTS = Counts()

_IMPLICIT = ("Implicit conversion to a NumPy array is not allowed. "
             "Please use `.get()` to construct a NumPy array explicitly.")


def _is_scalar(x):
    return isinstance(x, (bool, int, float, complex, np.generic))


def _unwrap(x, where):
    """The NumPy array inside a stand-in array; scalars pass; host arrays and lists are refused."""
    if isinstance(x, ndarray):
        return x._a
    if _is_scalar(x) or x is None:
        return x
    raise TypeError(f"Unsupported type {type(x)} (cupy {where} takes cupy arrays and scalars only)")


def _unwrap_tree(x, where):
    """Like _unwrap, through the lists/tuples a routine takes (concatenate's list, shape tuples)."""
    if isinstance(x, (list, tuple)):
        return type(x)(_unwrap_tree(v, where) for v in x)
    if isinstance(x, (slice, str, np.dtype, type)) or x is Ellipsis:
        return x
    return _unwrap(x, where)


def _wrap(r, parents=()):
    """Stand-in arrays for NumPy results; a view keeps its root array as ``base``, like CuPy."""
    if isinstance(r, np.generic):
        r = np.asarray(r)
    if isinstance(r, np.ndarray):
        if r.dtype == object:
            raise TypeError("cupy arrays cannot hold Python objects (dtype object)")
        out = ndarray._from(r)
        if r.base is not None:
            for p in parents:
                if isinstance(p, ndarray) and np.may_share_memory(r, p._a):
                    out._base = p._base if p._base is not None else p
                    break
        return out
    if isinstance(r, (list, tuple)):
        return type(r)(_wrap(v, parents) for v in r)
    return r


def _is_view(r, parents):
    return isinstance(r, np.ndarray) and any(
        isinstance(p, ndarray) and np.may_share_memory(r, p._a) for p in parents)


# ----------------------------------------------------------------------------- indices


def _index(shape, index, counts_as):
    """A NumPy index equivalent to what CuPy does with ``index`` on an array of ``shape``.

    Host index arrays and lists are uploaded; integer arrays wrap around modulo their axis (CuPy);
    a boolean mask costs a sync (CuPy counts its True elements on the host).
    Returns (index, advanced).
    """
    items = list(index) if isinstance(index, tuple) else [index]
    out, advanced = [], False
    for it in items:
        if isinstance(it, (list, np.ndarray)) or (isinstance(it, tuple)):
            COUNTS.uploads += 1
            it = np.asarray(it)
            if it.dtype.kind not in "biu":
                if it.size == 0:
                    it = it.astype(np.int64)
                else:
                    raise IndexError("arrays used as indices must be of integer or boolean type")
            out.append(it)
        elif isinstance(it, ndarray):
            out.append(it._a)
        else:
            out.append(it)
    # which axis does each item index?
    n_consumed = sum(it.ndim if isinstance(it, np.ndarray) and it.dtype == bool else
                     0 if it is None or it is Ellipsis else 1 for it in out)
    axis, fixed = 0, []
    for it in out:
        if it is Ellipsis:
            axis += len(shape) - n_consumed
            fixed.append(it)
        elif it is None:
            fixed.append(it)
        elif isinstance(it, np.ndarray) and it.dtype == bool:
            COUNTS.sync(f"{counts_as}[mask]")
            advanced = True
            fixed.append(it)
            axis += it.ndim
        elif isinstance(it, np.ndarray):
            advanced = True
            if axis < len(shape) and shape[axis] > 0:
                it = it % shape[axis]  # CuPy wraps out-of-range integer indices around
            fixed.append(it)
            axis += 1
        else:
            fixed.append(it)
            axis += 1
    return (tuple(fixed) if isinstance(index, tuple) or len(fixed) != 1 else fixed[0]), advanced


# ----------------------------------------------------------------------------- the array


class _Flags:
    """CuPy's flags: contiguity and ownership, and no ``writeable`` (device memory has no such flag)."""

    def __init__(self, a):
        self.c_contiguous = a.flags.c_contiguous
        self.f_contiguous = a.flags.f_contiguous
        self.owndata = a.flags.owndata

    def __getitem__(self, key):
        return {"C_CONTIGUOUS": self.c_contiguous, "F_CONTIGUOUS": self.f_contiguous,
                "OWNDATA": self.owndata}[key]


_REDUCTIONS = {"sum", "mean", "max", "min", "prod", "var", "std", "argmax", "argmin", "any", "all",
               "cumsum", "cumprod"}
_COPIES = {"copy", "flatten", "clip", "round", "dot", "repeat", "conj", "argsort"}
_VIEWS = {"reshape", "ravel", "transpose", "swapaxes", "squeeze", "view", "diagonal"}


class ndarray:
    """A 'device' array: a NumPy array that will not be handed to NumPy implicitly."""

    __slots__ = ("_a", "_base", "__weakref__")
    __array_priority__ = 100

    def __init__(self, shape, dtype=float):
        self._a = np.empty(shape, dtype)
        self._base = None

    @classmethod
    def _from(cls, a):
        self = object.__new__(cls)
        self._a, self._base = a, None
        return self

    # --- what CuPy refuses
    def __array__(self, *args, **kwargs):
        raise TypeError(_IMPLICIT)

    def __array_ufunc__(self, ufunc, method, *inputs, **kwargs):
        out = kwargs.get("out")
        if out is not None:
            kwargs["out"] = tuple(_unwrap(o, ufunc.__name__) for o in out)
        args = [_unwrap(x, ufunc.__name__) for x in inputs]
        r = getattr(ufunc, method)(*args, **kwargs)
        COUNTS.kernel(f"{ufunc.__name__}.{method}" if method != "__call__" else ufunc.__name__)
        if out is not None:
            return out[0] if len(out) == 1 else out
        return _wrap(r)

    def __array_function__(self, func, types_, args, kwargs):
        mine = globals().get(func.__name__) or _routine(func.__name__)
        if mine is None:
            return NotImplemented
        return mine(*args, **kwargs)

    # --- what CuPy allows and what it costs
    def get(self, stream=None, order="C", out=None):
        COUNTS.sync("get")
        return self._a.copy()

    def set(self, arr, stream=None):
        COUNTS.uploads += 1
        self._a[...] = np.asarray(arr)

    def item(self, *args):
        COUNTS.sync("item")
        return self._a.item(*args)

    def tolist(self):
        COUNTS.sync("tolist")
        return self._a.tolist()

    def __float__(self):
        COUNTS.sync("float")
        return float(self._a)

    def __int__(self):
        COUNTS.sync("int")
        return int(self._a)

    def __complex__(self):
        COUNTS.sync("complex")
        return complex(self._a)

    def __bool__(self):
        COUNTS.sync("bool")
        return bool(self._a)

    def __repr__(self):
        COUNTS.sync("repr")
        return repr(self._a).replace("array(", "standin_array(")

    def __str__(self):
        COUNTS.sync("str")
        return str(self._a)

    def __format__(self, spec):
        COUNTS.sync("format")
        return format(self._a.item() if self._a.ndim == 0 else self._a, spec)

    def __len__(self):
        return len(self._a)

    def __iter__(self):
        if self._a.ndim == 0:
            raise TypeError("iteration over a 0-d array")
        return (self[i] for i in range(len(self._a)))

    # --- attributes
    shape = property(lambda self: self._a.shape)
    ndim = property(lambda self: self._a.ndim)
    size = property(lambda self: self._a.size)
    dtype = property(lambda self: self._a.dtype)
    strides = property(lambda self: self._a.strides)
    itemsize = property(lambda self: self._a.itemsize)
    nbytes = property(lambda self: self._a.nbytes)
    flags = property(lambda self: _Flags(self._a))
    base = property(lambda self: self._base)
    T = property(lambda self: self.transpose())
    device = property(lambda self: cuda.Device(0))

    @shape.setter
    def shape(self, value):
        self._a.shape = value

    def astype(self, dtype, order="K", casting=None, subok=None, copy=True):
        if not copy and np.dtype(dtype) == self._a.dtype:
            return self
        COUNTS.kernel("astype")
        return _wrap(self._a.astype(dtype))

    def fill(self, value):
        if isinstance(value, np.ndarray) and value.shape != ():
            raise ValueError("non-scalar numpy.ndarray cannot be used for fill")
        COUNTS.kernel("fill")
        self._a.fill(_unwrap(value, "fill"))

    def take(self, indices, axis=None, out=None):
        idx = _unwrap(indices, "take") if isinstance(indices, ndarray) else np.asarray(indices)
        if not isinstance(indices, ndarray) and not _is_scalar(indices):
            COUNTS.uploads += 1
        n = self._a.size if axis is None else self._a.shape[axis]
        COUNTS.kernel("take")
        return _wrap(np.take(self._a, idx, axis=axis, mode="wrap" if n else "raise"))

    def nonzero(self):
        COUNTS.sync("nonzero")
        COUNTS.kernel("nonzero")
        return _wrap(self._a.nonzero())

    def __getattr__(self, name):
        if name in _REDUCTIONS or name in _COPIES or name in _VIEWS:
            method = getattr(self._a, name)

            def call(*args, **kwargs):
                args = _unwrap_tree(args, name)
                kwargs = {k: _unwrap_tree(v, name) for k, v in kwargs.items()}
                r = method(*args, **kwargs)
                if name not in _VIEWS or not _is_view(r, (self,)):
                    COUNTS.kernel(name)
                return _wrap(r, (self,))
            return call
        raise AttributeError(f"'ndarray' object (cupy stand-in) has no attribute {name!r}")

    # --- indexing
    def __getitem__(self, index):
        idx, advanced = _index(self._a.shape, index, "getitem")
        r = self._a[idx]
        if advanced:
            COUNTS.kernel("getitem")
        return _wrap(r, (self,))

    def __setitem__(self, index, value):
        idx, advanced = _index(self._a.shape, index, "setitem")
        if isinstance(value, np.ndarray) and value.shape != ():
            if not advanced:
                raise ValueError("non-scalar numpy.ndarray cannot be used for fill")
            COUNTS.uploads += 1
        elif isinstance(value, (list, tuple)):
            raise ValueError("cupy cannot assign a list into an array; use cupy.asarray(...) first")
        else:
            value = _unwrap(value, "setitem")
        COUNTS.kernel("setitem")
        self._a[idx] = value


def _binary(name, fn, reflected=False, inplace=False):
    def op(self, other):
        if isinstance(other, ndarray):
            b = other._a
        elif _is_scalar(other):
            b = other
        elif not isinstance(other, np.ndarray) and getattr(other, "__array_priority__", 0) > 100:
            return NotImplemented  # e.g. a tinynet Tensor: its reflected operator runs
        else:
            raise TypeError(f"Unsupported type {type(other)}")
        COUNTS.kernel(name)
        if inplace:
            fn(self._a, b, out=self._a)
            return self
        return _wrap(fn(b, self._a) if reflected else fn(self._a, b))
    return op


for _name, _fn in {"add": np.add, "sub": np.subtract, "mul": np.multiply, "truediv": np.true_divide,
                   "floordiv": np.floor_divide, "mod": np.remainder, "pow": np.power,
                   "matmul": np.matmul, "and": np.bitwise_and, "or": np.bitwise_or,
                   "xor": np.bitwise_xor, "lshift": np.left_shift, "rshift": np.right_shift}.items():
    setattr(ndarray, f"__{_name}__", _binary(_name, _fn))
    setattr(ndarray, f"__r{_name}__", _binary(_name, _fn, reflected=True))
    setattr(ndarray, f"__i{_name}__", _binary(_name, _fn, inplace=True))
for _name, _fn in {"lt": np.less, "le": np.less_equal, "gt": np.greater, "ge": np.greater_equal,
                   "eq": np.equal, "ne": np.not_equal}.items():
    setattr(ndarray, f"__{_name}__", _binary(_name, _fn))
for _name, _fn in {"neg": np.negative, "pos": np.positive, "abs": np.absolute, "invert": np.invert}.items():
    setattr(ndarray, f"__{_name}__", (lambda n, f: lambda self: (COUNTS.kernel(n), _wrap(f(self._a)))[1])(_name, _fn))
ndarray.__hash__ = None


# ----------------------------------------------------------------------------- module functions


class _Ufunc:
    """cupy.<ufunc>: stand-in arrays and scalars only."""

    def __init__(self, uf):
        self._uf, self.__name__ = uf, uf.__name__
        self.nin, self.nout = uf.nin, uf.nout

    def __call__(self, *args, out=None, **kwargs):
        a = [_unwrap(x, self.__name__) for x in args]
        if out is not None:
            kwargs["out"] = _unwrap(out, self.__name__)
        COUNTS.kernel(self.__name__)
        r = self._uf(*a, **kwargs)
        return out if out is not None else _wrap(r)

    def at(self, a, indices, values=None):
        idx, _ = _index(a.shape, indices, f"{self.__name__}.at")
        args = (_unwrap(a, "at"), idx) + (() if values is None else (_unwrap(values, "at"),))
        COUNTS.kernel(f"{self.__name__}.at")
        self._uf.at(*args)

    def reduce(self, a, *args, **kwargs):
        COUNTS.kernel(f"{self.__name__}.reduce")
        return _wrap(self._uf.reduce(_unwrap(a, "reduce"), *args, **kwargs))


def asarray(a, dtype=None, order=None, *, blocking=False):
    """Host data is uploaded (counted); a stand-in array is returned as it is, or cast."""
    if isinstance(a, ndarray):
        return a if dtype is None or np.dtype(dtype) == a.dtype else a.astype(dtype)
    arr = np.array(a, dtype=dtype, copy=True)
    if arr.dtype == object:
        raise ValueError("Unsupported dtype object")
    COUNTS.uploads += 1
    return _wrap(arr)


def array(a, dtype=None, copy=True, order="K", ndmin=0, **kwargs):
    if isinstance(a, ndarray):
        COUNTS.kernel("array")
        return _wrap(np.array(a._a, dtype=dtype, copy=True, ndmin=ndmin))
    return asarray(np.array(a, dtype=dtype, ndmin=ndmin))


def ascontiguousarray(a, dtype=None):
    """A C-contiguous array: the same one when it already is (and has the dtype), else a copy."""
    if isinstance(a, ndarray):
        if a._a.flags.c_contiguous and (dtype is None or np.dtype(dtype) == a.dtype):
            return a
        COUNTS.kernel("ascontiguousarray")
        return _wrap(np.ascontiguousarray(a._a, dtype=dtype))
    return asarray(np.ascontiguousarray(a, dtype=dtype))


def asnumpy(a, stream=None, order="C", out=None, blocking=True):
    if isinstance(a, ndarray):
        return a.get()
    return np.asarray(a)


def get_array_module(*args):
    import sys

    return sys.modules[__name__] if any(isinstance(a, ndarray) for a in args) else np


def _creation(name):
    fn = getattr(np, name)

    def create(*args, **kwargs):
        r = fn(*_unwrap_tree(args, name), **{k: _unwrap_tree(v, name) for k, v in kwargs.items()})
        if name not in ("empty", "empty_like"):
            COUNTS.kernel(name)
        return _wrap(r)
    create.__name__ = name
    return create


for _name in ("zeros", "ones", "empty", "full", "zeros_like", "ones_like", "empty_like", "full_like",
              "arange", "linspace", "eye", "identity"):
    globals()[_name] = _creation(_name)


def _routine(name):
    """cupy.<routine> for any NumPy routine: device arrays in, device arrays out, views free."""
    fn = getattr(np, name, None)
    if fn is None or not callable(fn) or isinstance(fn, type):
        return None
    if isinstance(fn, np.ufunc):
        return _Ufunc(fn)

    def routine(*args, **kwargs):
        a = _unwrap_tree(args, name)
        k = {key: _unwrap_tree(v, name) for key, v in kwargs.items()}
        r = fn(*a, **k)
        flat = [x for x in args if isinstance(x, ndarray)] + [
            y for x in args if isinstance(x, (list, tuple)) for y in x if isinstance(y, ndarray)]
        arrays = [r] if isinstance(r, (np.ndarray, np.generic)) else [
            x for x in r if isinstance(x, np.ndarray)] if isinstance(r, (list, tuple)) else []
        if any(not _is_view(x, flat) for x in arrays):  # np.shape(x) and views launch nothing
            COUNTS.kernel(name)
        return _wrap(r, flat)
    routine.__name__ = name
    return routine


def __getattr__(name):  # PEP 562: cupy.exp, cupy.concatenate, cupy.float32, ...
    if name.startswith("__"):
        raise AttributeError(name)
    value = getattr(np, name, None)
    if value is None:
        raise AttributeError(f"module 'cupy' (stand-in) has no attribute {name!r}")
    if isinstance(value, type) or not callable(value):  # dtypes, constants (pi, newaxis)
        return value
    return _routine(name)


class ElementwiseKernel:
    """cupy.ElementwiseKernel: runs the NumPy reference that tinynet.backend keeps for ``name``.

    Like CuPy it takes device arrays and scalars only; every output is passed in (tinynet always
    passes them) and written in place. One call is one kernel.
    """

    def __init__(self, in_params, out_params, operation, name="kernel", **kwargs):
        self.n_in = len([p for p in in_params.split(",") if p.strip()])
        self.n_out = len([p for p in out_params.split(",") if p.strip()])
        self.name = name
        from tinynet import backend

        self.reference = backend.KERNELS[name].reference

    def __call__(self, *args, size=None):
        if len(args) != self.n_in + self.n_out:
            raise TypeError(f"{self.name}: tinynet passes {self.n_in} inputs and {self.n_out} outputs, "
                            f"got {len(args)} arguments")
        for a in args[self.n_in:]:
            if not isinstance(a, ndarray):
                raise TypeError(f"{self.name}: outputs must be cupy arrays, got {type(a)}")
        COUNTS.kernel(self.name)
        self.reference(*[_unwrap(a, self.name) for a in args])
        outs = args[self.n_in:]
        return outs[0] if len(outs) == 1 else outs


# ----------------------------------------------------------------------------- submodules


class _Device:
    def __init__(self, id=0):
        self.id = id

    def synchronize(self):
        COUNTS.sync("synchronize")

    def __enter__(self):
        return self

    def __exit__(self, *exc):
        return False


cuda = types.SimpleNamespace(
    runtime=types.SimpleNamespace(getDeviceCount=lambda: 1, runtimeGetVersion=lambda: 13000),
    Device=_Device,
    is_available=lambda: True,
)


def broadcast_to(x, shape):
    """A writable view whose repeated elements share memory, as CuPy's is (NumPy's is read-only)."""
    a = _unwrap(x, "broadcast_to")
    shape = tuple(shape) if isinstance(shape, (tuple, list)) else (shape,)
    np.broadcast_shapes(a.shape, shape)  # raises on impossible shapes, as CuPy does
    lead = len(shape) - a.ndim
    strides = (0,) * lead + tuple(0 if n == 1 and m != 1 else st
                                  for n, m, st in zip(a.shape, shape[lead:], a.strides))
    return _wrap(np.lib.stride_tricks.as_strided(a, shape=shape, strides=strides), (x,))


def _as_strided(x, shape=None, strides=None):
    r = np.lib.stride_tricks.as_strided(_unwrap(x, "as_strided"), shape=shape, strides=strides)
    return _wrap(r, (x,))


lib = types.SimpleNamespace(stride_tricks=types.SimpleNamespace(as_strided=_as_strided))


def _scatter_add(a, slices, value):
    _Ufunc(np.add).at(a, slices, value)


cupyx = types.SimpleNamespace(scatter_add=_scatter_add)
