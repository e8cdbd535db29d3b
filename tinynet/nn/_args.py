"""Argument checks shared by the layer constructors (errors name the layer, the argument and its value)."""
from __future__ import annotations

import numpy as np


def int_arg(owner, name, value, minimum=1):
    """``value`` as an int >= ``minimum``; a ValueError naming ``owner`` and ``name`` otherwise."""
    if isinstance(value, bool) or not isinstance(value, (int, np.integer)) or value < minimum:
        raise ValueError(f"{owner}: {name}={value!r} must be an int >= {minimum}")
    return int(value)


def tuple_arg(owner, name, value, n, minimum=1):
    """An int or a length-``n`` sequence of ints, each >= ``minimum``, as an n-tuple."""
    items = tuple(value) if isinstance(value, (tuple, list)) else (value,) * n
    if len(items) != n:
        raise ValueError(f"{owner}: {name}={value!r} must be an int or a sequence of {n} ints")
    return tuple(int_arg(owner, name, v, minimum) for v in items)


def float_dtype(owner, dtype):
    """A NumPy floating dtype (float32 or float64), or a TypeError."""
    dt = np.dtype(dtype)
    if dt not in (np.float32, np.float64):
        raise TypeError(f"{owner}: dtype={dtype!r} must be np.float32 or np.float64")
    return dt
