"""tinynet's argument checks, in one place.

Call them where the user hands over a value (a constructor, the entry of a functional op,
``load_state_dict``), not on every step: a layer checks its arguments once and its forward
trusts them. Only ``tensor`` and ``same_kind`` run on every call of an op, because they catch
real mistakes (a NumPy array, float64 data into a float32 layer, host and GPU mixed) and read
only host-side metadata, never a value on the GPU.

Each returns the value normalised (a float, an int, a tuple, a dtype, a Generator) or raises a
TypeError (the wrong kind of value) or a ValueError (the right kind, out of range). Messages
read ``"<where>: <name> must be <rule>, got <value>"``; ``where`` names the caller, e.g.
``"Linear"`` or ``"SGD.step(): param_groups[1]"``.
"""
from __future__ import annotations

import math
import numbers
import reprlib

import numpy as np

from . import tensor as _tensor  # a module reference: tensor.py may import this module in turn


def _fail(error, where, name, rule, value):
    raise error(f"{where}: {name} must be {rule}, got {value!r}")


# ---------------------------------------------------------------------------- numbers
def real(where, name, value) -> float:
    """``value`` as a Python float. A Python float also keeps float32 parameters float32,
    where a NumPy float64 scalar (as a scheduler might produce) would promote every temporary."""
    if isinstance(value, bool) or not isinstance(value, numbers.Real):
        _fail(TypeError, where, name, f"a real number (not a {type(value).__name__})", value)
    return float(value)


def nonnegative(where, name, value) -> float:
    """A finite number >= 0 (lr, weight_decay)."""
    x = real(where, name, value)
    if not (math.isfinite(x) and x >= 0):
        _fail(ValueError, where, name, "a finite number >= 0", value)
    return x


def positive(where, name, value) -> float:
    """A finite number > 0 (eps)."""
    x = real(where, name, value)
    if not (math.isfinite(x) and x > 0):
        _fail(ValueError, where, name, "a finite number > 0", value)
    return x


def fraction(where, name, value) -> float:
    """A decay rate in [0, 1) (momentum, betas, alpha, rho): 1 would never forget."""
    x = real(where, name, value)
    if not 0 <= x < 1:
        _fail(ValueError, where, name, "in [0, 1)", value)
    return x


def probability(where, name, value) -> float:
    """A probability in [0, 1] (dropout's p)."""
    x = real(where, name, value)
    if not 0 <= x <= 1:
        _fail(ValueError, where, name, "a probability in [0, 1]", value)
    return x


def int_arg(where, name, value, minimum=1) -> int:
    """An int >= ``minimum`` (bools and floats are refused, NumPy integers accepted)."""
    if isinstance(value, bool) or not isinstance(value, (int, np.integer)):
        _fail(TypeError, where, name, f"an int >= {minimum}", value)
    if value < minimum:
        _fail(ValueError, where, name, f"an int >= {minimum}", value)
    return int(value)


def int_tuple(where, name, value, n, minimum=1) -> tuple:
    """An int or a sequence of ``n`` ints, each >= ``minimum``, as an n-tuple
    (kernel_size, stride, padding: ``3`` means ``(3, 3)`` for n = 2)."""
    items = tuple(value) if isinstance(value, (tuple, list)) else (value,) * n
    if len(items) != n or any(isinstance(v, bool) or not isinstance(v, (int, np.integer)) for v in items):
        _fail(TypeError, where, name, f"an int or a sequence of {n} ints", value)
    if any(v < minimum for v in items):
        _fail(ValueError, where, name, f"ints >= {minimum}", value)
    return tuple(int(v) for v in items)


def one_of(where, name, value, choices):
    """``value`` itself when it is one of ``choices`` (a reduction, a mode)."""
    if not isinstance(value, str) or value not in choices:
        _fail(ValueError, where, name, f"one of {tuple(choices)}", value)
    return value


# ---------------------------------------------------------------------------- dtypes, generators, tensors
def float_dtype(where, dtype) -> np.dtype:
    """np.float32 or np.float64 as a NumPy dtype (what layer parameters may hold)."""
    try:
        dt = np.dtype(dtype)
    except TypeError:
        dt = None
    if dt not in (np.float32, np.float64):
        _fail(TypeError, where, "dtype", "np.float32 or np.float64", dtype)
    return dt


def numeric_dtype(where, name, dtype, value) -> np.dtype:
    """``dtype`` as a NumPy dtype when it is bool, an integer or a float (what a tensor may hold).
    ``value`` is what the dtype came from, for the message: tinynet has no complex, text or date
    tensors, and says so instead of dropping an imaginary part or storing strings."""
    try:
        dt = np.dtype(dtype)
    except TypeError:
        dt = None
    if dt is not None and dt.kind in "biuf":
        return dt
    what = f"{name}={reprlib.repr(value)}" if name == "dtype" else f"{name} {reprlib.repr(value)}"
    if dt is not None and dt.kind == "c":
        raise TypeError(f"{where}: {what} is complex; tinynet tensors hold real numbers, "
                        "so pass x.real, x.imag or abs(x)")
    raise TypeError(f"{where}: {what} is not numeric{f' (dtype {dt})' if dt is not None else ''}; "
                    "pass numbers, or a dtype such as np.float32, np.float64, np.int64 or bool")


def as_generator(rng, name="rng", allow_none=False) -> np.random.Generator:
    """A numpy Generator from a Generator or a non-negative int seed.

    ``None`` gives a fresh, unseeded Generator when ``allow_none`` (layers), and an error otherwise.
    """
    if isinstance(rng, np.random.Generator):
        return rng
    if rng is None and allow_none:
        return np.random.default_rng()
    if isinstance(rng, (int, np.integer)) and not isinstance(rng, bool) and rng >= 0:
        return np.random.default_rng(int(rng))
    raise TypeError(f"{name} must be a numpy Generator or a non-negative int seed, got {rng!r}; "
                    "pass e.g. rng=numpy.random.default_rng(0) or rng=0")


def tensor(where, name, value, ndim=None, layout="", floating=False):
    """``value`` when it is a tinynet Tensor (with ``ndim`` dims, shaped like ``layout``, and a
    float dtype when ``floating``, if given).

    NumPy arrays are refused rather than wrapped: an op cannot tell which dtype and device the
    caller meant, and wrapping would silently cut the array off from any graph.
    """
    if not isinstance(value, _tensor.Tensor):
        raise TypeError(f"{where}: {name} must be a tinynet Tensor, got {type(value).__name__}; "
                        "wrap it with tinynet.Tensor(...)")
    if ndim is not None and value.ndim not in (ndim if isinstance(ndim, tuple) else (ndim,)):
        want = " or ".join(map(str, ndim)) if isinstance(ndim, tuple) else str(ndim)
        shape = f"{want}-D {layout}" if layout else f"{want}-D"
        raise ValueError(f"{where}: {name} must be {shape}, got shape {value.shape}")
    if floating and value.dtype.kind != "f":  # else NumPy fails inside: np.finfo's or a casting message
        raise TypeError(f"{where}: {name} must be floating point, got dtype {value.dtype}; "
                        "convert with .astype(np.float32)")
    return value


def same_kind(where, name, value, ref_name, ref):
    """Tensors ``value`` and ``ref`` on one device with one dtype: an op never mixes float32 with
    float64 (a silent upcast that fails later, at the optimizer) nor host with GPU arrays."""
    if value.device != ref.device:
        raise ValueError(f"{where}: {name} is on {value.device} but {ref_name} is on {ref.device}; "
                         f"move one with .to({ref.device!r})")
    if value.dtype != ref.dtype:
        raise TypeError(f"{where}: {name} has dtype {value.dtype} but {ref_name} has dtype {ref.dtype}; "
                        f"convert with .astype(np.{ref.dtype})")
    return value
