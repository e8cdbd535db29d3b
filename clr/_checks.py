"""clr's argument checks, in one place.

Call them where the user hands over a value (a policy's or a scheduler's constructor,
``load_state_dict``), never on every step. Each returns the value normalised (a Python float
or int) or raises TypeError (the wrong kind of value) or ValueError (the right kind, out of
range), with a message that names the argument, its value and what to do.

A 0-d NumPy array or torch tensor counts as the number it holds (``torch.tensor(0.1)`` as a
bound), so no check here imports an array library.
"""
from __future__ import annotations

import math
import numbers
from collections.abc import Sequence
from typing import Any


def _scalar(value: Any) -> Any:
    """The number inside a 0-d array or tensor (``.ndim == 0`` and ``.item()``); else ``value``."""
    if getattr(value, "ndim", None) == 0 and callable(getattr(value, "item", None)):
        return value.item()
    return value


def real(name: str, value: Any) -> float:
    """A finite real number, as a float."""
    value = _scalar(value)
    if isinstance(value, bool) or not isinstance(value, numbers.Real):
        raise TypeError(f"{name} must be a real number, got {value!r} of type {type(value).__name__}")
    number = float(value)
    if not math.isfinite(number):
        raise ValueError(f"{name} must be finite, got {value!r}; pass a finite number")
    return number


def integer(name: str, value: Any, minimum: int) -> int:
    """An int >= ``minimum``; bools and floats (even 3.0) are refused."""
    value = _scalar(value)
    if isinstance(value, bool) or not isinstance(value, numbers.Integral):
        raise TypeError(f"{name} must be an integer >= {minimum}, got {value!r} of type {type(value).__name__}")
    if value < minimum:
        raise ValueError(f"{name} must be an integer >= {minimum}, got {value!r}")
    return int(value)


def positive(name: str, value: Any, advice: str = "") -> float | int:
    """A finite number > 0. An integer stays an int, so a step size of 2000 is saved as 2000."""
    number = real(name, value)
    if number <= 0:
        raise ValueError(f"{name} must be > 0, got {value!r}{'; ' + advice if advice else ''}")
    value = _scalar(value)
    return int(value) if isinstance(value, numbers.Integral) else number


def nonnegative(name: str, value: Any) -> float:
    """A finite number >= 0 (a learning rate, a momentum)."""
    number = real(name, value)
    if number < 0:
        raise ValueError(f"{name} must be >= 0, got {value!r}; a learning rate or momentum cannot be negative")
    return number


def bounds(low_name: str, low: Any, high_name: str, high: Any) -> tuple[float, float]:
    """Two numbers >= 0 with ``low <= high`` (equal is fine: a flat schedule)."""
    low_f, high_f = nonnegative(low_name, low), nonnegative(high_name, high)
    if low_f > high_f:
        raise ValueError(f"{low_name}={low!r} is larger than {high_name}={high!r}; "
                         f"{low_name} is the lower bound, so swap the two values")
    return low_f, high_f


def momentum_bounds(base_momentum: Any, max_momentum: Any) -> tuple[float, float]:
    """``0 <= base_momentum <= max_momentum <= 1``. PyTorch accepts a bound above 1; here it is
    refused, because SGD's velocity then grows without limit and Adam refuses such a beta1."""
    base, top = bounds("base_momentum", base_momentum, "max_momentum", max_momentum)
    if top > 1:
        raise ValueError(f"max_momentum must be <= 1, got {max_momentum!r}; momentum and Adam's beta1 lie in [0, 1]")
    return base, top


def decay_factor(name: str, value: Any) -> float:
    """A factor in (0, 1] that something is multiplied by per step or per cycle."""
    number = real(name, value)
    if not 0 < number <= 1:
        raise ValueError(f"{name} must be in (0, 1], got {value!r}; it is a decay factor "
                         "(e.g. 0.1 for step, 0.99994 for exp/exp_range)")
    return number


def choice(name: str, value: Any, allowed: Sequence[str]) -> str:
    """One of the strings in ``allowed``."""
    if not isinstance(value, str) or value not in allowed:
        raise ValueError(f"{name} must be one of {', '.join(map(repr, allowed))}; got {value!r}")
    return value


def iteration(it: Any) -> None:
    """The cheap check a policy makes when called directly: a finite number >= 0 (NaN fails too)."""
    if not 0 <= it < math.inf:
        raise ValueError(f"iteration must be a finite number >= 0, got {it!r}; iterations count mini-batches from 0")
