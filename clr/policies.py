"""Learning-rate policies: pure functions of the iteration.

A policy answers one question: what is the learning rate at iteration ``it``
(``it`` = number of mini-batches already trained, counted from 0)?  Nothing
here has state, touches an optimizer or needs an array library; everything is
plain Python floats and ``math``.

Two ways to use a policy:

* plain functions, for reading and for students::

      triangular(it, base_lr=0.001, max_lr=0.006, step_size=2000)

* small frozen, callable policy objects, for schedulers and checkpoints::

      p = Triangular(base_lr=0.001, max_lr=0.006, step_size=2000)
      p(2000)                        # 0.006
      Policy.from_dict(p.to_dict())  # == p, JSON-safe

Each formula is written once, in the policy class; the plain function of the
same name builds the (validated) object and calls it.

Policies of the paper (Smith, "Cyclical Learning Rates for Training Neural
Networks", WACV 2017) and of its baselines (Caffe's ``lr_policy``):

=====================  =================================================
``Triangular``         CLR triangle, the paper's Torch lines
``Triangular2``        triangle whose amplitude halves every cycle (Caffe code, App. A)
``ExpRange``           triangle whose amplitude decays as gamma**it (Keras CLR code)
``Cyclic``             PyTorch ``CyclicLR`` form: asymmetric up/down, custom scale_fn
``Fixed``              constant
``Step``               base * gamma**floor(it / step_size)
``MultiStep``          base * gamma**(number of milestones <= it)
``Exp``                base * gamma**it
``Inv``                base * (1 + gamma*it)**(-power)
``Poly``               base * (1 - it/max_iter)**power
``Decay``              max -> base linearly over step_size, then base
``OneCycle``           1cycle (PyTorch ``OneCycleLR`` two- or three-phase form)
``OneCycleMomentum``   the momentum that goes with ``OneCycle``
``SGDR``               cosine annealing with warm restarts
``Stages``             policies one after another, each on its own clock
``Inverse``            momentum cycled inversely to a bounded lr policy
=====================  =================================================
"""

from __future__ import annotations

import math
import numbers
import warnings
from bisect import bisect_right
from collections.abc import Callable, Mapping, Sequence
from dataclasses import MISSING, dataclass, field, fields
from types import MappingProxyType
from typing import Any, ClassVar

__all__ = [
    # policy objects
    "Policy", "BoundedPolicy",
    "Fixed", "Step", "MultiStep", "Exp", "Inv", "Poly", "Decay",
    "Triangular", "Triangular2", "ExpRange", "Cyclic",
    "OneCycle", "OneCycleMomentum", "SGDR", "Stages", "Inverse",
    # plain functions
    "fixed", "step", "multistep", "exp", "inv", "poly", "decay",
    "triangular", "triangular2", "exp_range", "cyclic",
    "one_cycle", "one_cycle_momentum", "sgdr",
    # helpers
    "chain", "inverse", "policy_from_dict", "paper_cifar10_triangular2",
    "step_size_from_epochs", "cycle_length", "iterations_for_cycles", "round_to_cycles",
    "CYCLIC_MODES", "ANNEAL_STRATEGIES",
]

CYCLIC_MODES = ("triangular", "triangular2", "exp_range")
SCALE_MODES = ("cycle", "iterations")
ANNEAL_STRATEGIES = ("cos", "linear")


# --------------------------------------------------------------------------
# argument checks (run once, when a policy is built; never per iteration)
# --------------------------------------------------------------------------

def _real(name: str, value: Any) -> float:
    """``value`` as a finite float, or ValueError/TypeError naming ``name``."""
    if isinstance(value, bool) or not isinstance(value, numbers.Real):
        raise TypeError(f"{name} must be a real number, got {value!r} of type {type(value).__name__}")
    value = float(value)
    if not math.isfinite(value):
        raise ValueError(f"{name} must be finite, got {value!r}; pass a finite number")
    return value


def _integer(name: str, value: Any, minimum: int) -> int:
    if isinstance(value, bool) or not isinstance(value, numbers.Integral):
        raise TypeError(f"{name} must be an integer >= {minimum}, got {value!r} of type {type(value).__name__}")
    if value < minimum:
        raise ValueError(f"{name} must be an integer >= {minimum}, got {value!r}")
    return int(value)


def _positive(name: str, value: Any, advice: str = "") -> float | int:
    """A finite number > 0; integers stay integers (so JSON keeps them exact)."""
    number = _real(name, value)
    if number <= 0:
        raise ValueError(f"{name} must be > 0, got {value!r}{'; ' + advice if advice else ''}")
    return int(value) if isinstance(value, numbers.Integral) else number


def _nonnegative(name: str, value: Any) -> float:
    number = _real(name, value)
    if number < 0:
        raise ValueError(f"{name} must be >= 0, got {value!r}; a learning rate or momentum cannot be negative")
    return number


def _bounds(low_name: str, low: Any, high_name: str, high: Any) -> tuple[float, float]:
    low_f, high_f = _nonnegative(low_name, low), _nonnegative(high_name, high)
    if low_f > high_f:
        raise ValueError(
            f"{low_name}={low!r} is larger than {high_name}={high!r}; "
            f"{low_name} is the lower bound, so swap the two values"
        )
    return low_f, high_f


def _momentum_bounds(base_momentum: Any, max_momentum: Any) -> tuple[float, float]:
    base, top = _bounds("base_momentum", base_momentum, "max_momentum", max_momentum)
    if top > 1:
        raise ValueError(f"max_momentum must be <= 1, got {max_momentum!r}; momentum and Adam's beta1 lie in [0, 1]")
    return base, top


def _gamma(name: str, value: Any) -> float:
    number = _real(name, value)
    if not 0 < number <= 1:
        raise ValueError(
            f"{name} must be in (0, 1], got {value!r}; it is a decay factor "
            "(e.g. 0.1 for step, 0.99994 for exp/exp_range)"
        )
    return number


def _choice(name: str, value: Any, allowed: Sequence[str]) -> str:
    if value not in allowed:
        raise ValueError(f"{name} must be one of {', '.join(map(repr, allowed))}; got {value!r}")
    return value


def _check_iteration(it: Any) -> None:
    """Cheap per-call check: ``it`` must be a finite number >= 0 (rejects NaN)."""
    if not 0 <= it < math.inf:
        raise ValueError(
            f"iteration must be a finite number >= 0, got {it!r}; "
            "iterations count mini-batches from 0"
        )


# --------------------------------------------------------------------------
# base classes
# --------------------------------------------------------------------------

class Policy:
    """Base of all policies: ``policy(it) -> lr``, JSON via ``to_dict``/``from_dict``.

    Subclasses are frozen dataclasses; their constructor validates the
    arguments once, so ``__call__`` stays a few arithmetic operations.
    """

    __slots__ = ()
    name: ClassVar[str] = ""

    def __call__(self, it: float) -> float:  # pragma: no cover - abstract
        raise NotImplementedError

    def to_dict(self) -> dict[str, Any]:
        """JSON-safe description: ``{"type": name, <constructor arguments>}``."""
        data: dict[str, Any] = {"type": self.name}
        for f in fields(self):  # type: ignore[arg-type]
            if f.init:
                data[f.name] = getattr(self, f.name)
        return data

    @classmethod
    def from_dict(cls, data: Mapping[str, Any], *, scale_fn: Callable[[float], float] | None = None) -> Policy:
        """Rebuild a policy from :meth:`to_dict` output (after ``json.loads``).

        ``Policy.from_dict`` picks the class from ``data["type"]``; a subclass
        (``Triangular.from_dict``) also checks that the type is its own.
        ``scale_fn`` must be given again when the dict records a custom
        ``Cyclic`` scale function (functions cannot be stored in JSON).
        """
        if not isinstance(data, Mapping) or "type" not in data:
            raise ValueError(f"data must be a dict with a 'type' key, as made by Policy.to_dict(); got {data!r}")
        kind = data["type"]
        target = _REGISTRY.get(kind)
        if target is None:
            raise ValueError(f"data['type']={kind!r} is not a known policy; known: {', '.join(sorted(_REGISTRY))}")
        if cls is not Policy and target is not cls:
            raise ValueError(f"data['type']={kind!r} describes {target.__name__}, not {cls.__name__}")
        values = {key: value for key, value in data.items() if key != "type"}
        return target._from_values(values, scale_fn)

    @classmethod
    def _from_values(cls, values: dict[str, Any], scale_fn: Callable | None) -> Policy:
        init_fields = [f for f in fields(cls) if f.init]  # type: ignore[arg-type]
        known = {f.name for f in init_fields}
        required = {f.name for f in init_fields if f.default is MISSING}
        unknown, missing = set(values) - known, required - set(values)
        if unknown or missing:
            raise ValueError(
                f"cannot build {cls.__name__} from {values!r}: "
                f"unknown keys {sorted(unknown)}, missing keys {sorted(missing)}"
            )
        return cls(**values)


class BoundedPolicy(Policy):
    """A policy that moves between a lower and an upper value.

    ``between(it, low, high)`` evaluates the same shape with other end
    values; ``Inverse`` uses it to cycle momentum opposite to the lr by
    swapping them (momentum is ``max_momentum`` where the lr is lowest).
    """

    __slots__ = ()

    def between(self, it: float, low: float, high: float) -> float:  # pragma: no cover - abstract
        raise NotImplementedError


# --------------------------------------------------------------------------
# the paper's baselines (Caffe lr_policy names)
# --------------------------------------------------------------------------

@dataclass(frozen=True, slots=True)
class Fixed(Policy):
    """Constant ``lr``. Caffe ``fixed``; the paper's main baseline."""

    name: ClassVar[str] = "fixed"
    lr: float

    def __post_init__(self) -> None:
        object.__setattr__(self, "lr", _nonnegative("lr", self.lr))

    def __call__(self, it: float) -> float:
        _check_iteration(it)
        return self.lr


@dataclass(frozen=True, slots=True)
class Step(Policy):
    """Caffe ``step``: ``base_lr * gamma ** floor(it / step_size)``."""

    name: ClassVar[str] = "step"
    base_lr: float
    gamma: float
    step_size: float

    def __post_init__(self) -> None:
        object.__setattr__(self, "base_lr", _nonnegative("base_lr", self.base_lr))
        object.__setattr__(self, "gamma", _gamma("gamma", self.gamma))
        object.__setattr__(self, "step_size", _positive(
            "step_size", self.step_size, "it is the number of iterations between drops"))

    def __call__(self, it: float) -> float:
        _check_iteration(it)
        return self.base_lr * self.gamma ** math.floor(it / self.step_size)


@dataclass(frozen=True, slots=True)
class MultiStep(Policy):
    """Caffe ``multistep``: ``base_lr * gamma ** k``, k = number of milestones <= it.

    Example (super-convergence baseline): ``MultiStep(0.35, 0.1, (50000, 70000))``.
    """

    name: ClassVar[str] = "multistep"
    base_lr: float
    gamma: float
    milestones: tuple[int, ...]

    def __post_init__(self) -> None:
        object.__setattr__(self, "base_lr", _nonnegative("base_lr", self.base_lr))
        object.__setattr__(self, "gamma", _gamma("gamma", self.gamma))
        if isinstance(self.milestones, (str, bytes)) or not isinstance(self.milestones, Sequence):
            raise TypeError(f"milestones must be a list of iterations, got {self.milestones!r}")
        stones = tuple(_integer(f"milestones[{i}]", m, 0) for i, m in enumerate(self.milestones))
        if any(a >= b for a, b in zip(stones, stones[1:])):
            raise ValueError(
                f"milestones must be strictly increasing, got {list(self.milestones)!r}; sort them and drop repeats")
        object.__setattr__(self, "milestones", stones)

    def __call__(self, it: float) -> float:
        _check_iteration(it)
        return self.base_lr * self.gamma ** bisect_right(self.milestones, it)

    def to_dict(self) -> dict[str, Any]:
        return {"type": self.name, "base_lr": self.base_lr, "gamma": self.gamma, "milestones": list(self.milestones)}


@dataclass(frozen=True, slots=True)
class Exp(Policy):
    """Caffe ``exp``: ``base_lr * gamma ** it`` (paper: gamma 0.99994 on CIFAR-10)."""

    name: ClassVar[str] = "exp"
    base_lr: float
    gamma: float

    def __post_init__(self) -> None:
        object.__setattr__(self, "base_lr", _nonnegative("base_lr", self.base_lr))
        object.__setattr__(self, "gamma", _gamma("gamma", self.gamma))

    def __call__(self, it: float) -> float:
        _check_iteration(it)
        return self.base_lr * self.gamma ** it


@dataclass(frozen=True, slots=True)
class Inv(Policy):
    """Caffe ``inv``: ``base_lr * (1 + gamma * it) ** (-power)`` (LeNet: gamma 1e-4, power 0.75)."""

    name: ClassVar[str] = "inv"
    base_lr: float
    gamma: float
    power: float

    def __post_init__(self) -> None:
        object.__setattr__(self, "base_lr", _nonnegative("base_lr", self.base_lr))
        object.__setattr__(self, "gamma", float(_positive("gamma", self.gamma, "Caffe's LeNet uses gamma=1e-4")))
        object.__setattr__(self, "power", float(_positive("power", self.power, "use Fixed for a constant lr")))

    def __call__(self, it: float) -> float:
        _check_iteration(it)
        return self.base_lr * (1.0 + self.gamma * it) ** (-self.power)


@dataclass(frozen=True, slots=True)
class Poly(Policy):
    """Caffe ``poly``: ``base_lr * (1 - it / max_iter) ** power``.

    Past ``max_iter`` the lr stays 0 (Caffe would raise a negative number to
    a fractional power and produce NaN).
    """

    name: ClassVar[str] = "poly"
    base_lr: float
    max_iter: int
    power: float

    def __post_init__(self) -> None:
        object.__setattr__(self, "base_lr", _nonnegative("base_lr", self.base_lr))
        object.__setattr__(self, "max_iter", _integer("max_iter", self.max_iter, 1))
        object.__setattr__(self, "power", float(_positive("power", self.power, "use Fixed for a constant lr")))

    def __call__(self, it: float) -> float:
        _check_iteration(it)
        return self.base_lr * (1.0 - min(it, self.max_iter) / self.max_iter) ** self.power


@dataclass(frozen=True, slots=True)
class Decay(BoundedPolicy):
    """The paper's ``decay`` comparison (§4.1.1): from ``max_lr`` down to
    ``base_lr`` linearly over ``step_size`` iterations, then hold ``base_lr``::

        lr = max_lr - (max_lr - base_lr) * min(1, it / step_size)

    Paper settings: ``Decay(base_lr=0.001, max_lr=0.007, step_size=4000)``.
    """

    name: ClassVar[str] = "decay"
    base_lr: float
    max_lr: float
    step_size: float

    def __post_init__(self) -> None:
        base, top = _bounds("base_lr", self.base_lr, "max_lr", self.max_lr)
        object.__setattr__(self, "base_lr", base)
        object.__setattr__(self, "max_lr", top)
        object.__setattr__(self, "step_size", _positive(
            "step_size", self.step_size, "it is the length of the linear decrease in iterations"))

    def between(self, it: float, low: float, high: float) -> float:
        return high - (high - low) * min(1.0, it / self.step_size)

    def __call__(self, it: float) -> float:
        _check_iteration(it)
        return self.between(it, self.base_lr, self.max_lr)


# --------------------------------------------------------------------------
# cyclical learning rates (the paper's three policies and PyTorch's general form)
# --------------------------------------------------------------------------

def _triangle_wave(it: float, step_size: float) -> float:
    """The paper's triangle in [0, 1]: 0 at it = 0, 2s, 4s, ...; 1 at it = s, 3s, ...

    These are the Torch 7 lines of [CLR] §3.1::

        cycle = floor(1 + it / (2 * step_size))
        x     = |it / step_size - 2 * cycle + 1|
        wave  = max(0, 1 - x)
    """
    cycle = math.floor(1 + it / (2 * step_size))
    x = abs(it / step_size - 2 * cycle + 1)
    return max(0.0, 1.0 - x)


@dataclass(frozen=True, slots=True)
class Triangular(BoundedPolicy):
    """CLR ``triangular``: linear from ``base_lr`` up to ``max_lr`` over
    ``step_size`` iterations, then back down; a cycle is ``2 * step_size``::

        lr = base_lr + (max_lr - base_lr) * max(0, 1 - |it/step_size - 2*cycle + 1|)
        cycle = floor(1 + it / (2 * step_size))

    Paper, CIFAR-10 (Fig. 1): ``Triangular(0.001, 0.006, 2000)``.
    """

    name: ClassVar[str] = "triangular"
    base_lr: float
    max_lr: float
    step_size: float

    def __post_init__(self) -> None:
        _init_cyclic_bounds(self)

    def between(self, it: float, low: float, high: float) -> float:
        return low + (high - low) * _triangle_wave(it, self.step_size)

    def __call__(self, it: float) -> float:
        _check_iteration(it)
        return self.between(it, self.base_lr, self.max_lr)


@dataclass(frozen=True, slots=True)
class Triangular2(BoundedPolicy):
    """CLR ``triangular2``: the triangle with its amplitude halved after each
    cycle, exactly the Caffe code of [CLR] App. A (``cycle`` counts from 0)::

        cycle = floor(it / (2 * step_size))
        x     = (it - (2 * cycle + 1) * step_size) / step_size
        lr    = base_lr + (max_lr - base_lr) * min(1, max(0, (1 - |x|) / 2**cycle))
    """

    name: ClassVar[str] = "triangular2"
    base_lr: float
    max_lr: float
    step_size: float

    def __post_init__(self) -> None:
        _init_cyclic_bounds(self)

    def between(self, it: float, low: float, high: float) -> float:
        cycle = math.floor(it / (2 * self.step_size))
        x = (it - (2 * cycle + 1) * self.step_size) / self.step_size
        # 0.5**cycle rather than 1/2**cycle: the same power of two, but it
        # underflows to 0 instead of overflowing after ~1000 cycles.
        return low + (high - low) * min(1.0, max(0.0, (1.0 - abs(x)) * 0.5 ** cycle))

    def __call__(self, it: float) -> float:
        _check_iteration(it)
        return self.between(it, self.base_lr, self.max_lr)


@dataclass(frozen=True, slots=True)
class ExpRange(BoundedPolicy):
    """CLR ``exp_range``: the triangle with its amplitude scaled by
    ``gamma ** it``; ``base_lr`` stays fixed (as in the Keras code the paper
    links, App. B)::

        lr = base_lr + (max_lr - base_lr) * max(0, 1 - x) * gamma**it

    Paper gammas: 0.99994 (CIFAR-10), 0.999995 (AlexNet), 0.99998 (GoogLeNet).
    """

    name: ClassVar[str] = "exp_range"
    base_lr: float
    max_lr: float
    step_size: float
    gamma: float

    def __post_init__(self) -> None:
        _init_cyclic_bounds(self)
        object.__setattr__(self, "gamma", _gamma("gamma", self.gamma))

    def between(self, it: float, low: float, high: float) -> float:
        return low + (high - low) * _triangle_wave(it, self.step_size) * self.gamma ** it

    def __call__(self, it: float) -> float:
        _check_iteration(it)
        return self.between(it, self.base_lr, self.max_lr)


def _init_cyclic_bounds(policy: Any) -> None:
    base, top = _bounds("base_lr", policy.base_lr, "max_lr", policy.max_lr)
    object.__setattr__(policy, "base_lr", base)
    object.__setattr__(policy, "max_lr", top)
    object.__setattr__(policy, "step_size", _positive(
        "step_size", policy.step_size, "it is half a cycle in iterations; the paper uses 2-10 epochs"))


# Built-in scale functions of Cyclic, by mode name. Module-level functions
# (not lambdas) so that a policy that uses them is saved by name.
def _scale_one(x: float) -> float:
    return 1.0


def _scale_halving(x: float) -> float:
    # PyTorch writes 1 / 2.0**(x - 1); 0.5**(x - 1) is the same power of two
    # but does not overflow after 1024 cycles.
    return 0.5 ** (x - 1)


@dataclass(frozen=True, slots=True)
class Cyclic(BoundedPolicy):
    """The general cyclical policy of PyTorch's ``CyclicLR`` (same arguments,
    same arithmetic, so the same floats)::

        total = step_size_up + step_size_down        # one cycle
        cycle = floor(1 + it / total)                # counts from 1
        x     = 1 + it / total - cycle               # position in the cycle, [0, 1)
        f     = x / r            if x <= r  else  (x - 1) / (r - 1),   r = step_size_up / total
        lr    = base_lr + (max_lr - base_lr) * f * scale_fn(cycle or it)

    ``mode`` picks a built-in ``scale_fn``: 'triangular' (1), 'triangular2'
    (``1 / 2**(cycle - 1)``), 'exp_range' (``gamma**it``). The built-in modes
    fix the scale mode ('cycle', 'cycle', 'iterations'); ``scale_mode``
    counts only with a custom ``scale_fn``, which must return values in
    [0, 1]. 'iterations' passes the global iteration ``it``, as PyTorch's code
    does (its docs say "since start of cycle").

    With ``step_size_down=None`` (= ``step_size_up``) this equals
    ``Triangular``, ``Triangular2`` and ``ExpRange`` up to float rounding.

    A custom ``scale_fn`` cannot be written to JSON: ``to_dict`` records its
    name as ``{"custom": "<qualname>"}`` and ``from_dict`` requires the
    function again (``Policy.from_dict(d, scale_fn=f)``).
    """

    name: ClassVar[str] = "cyclic"
    base_lr: float
    max_lr: float
    step_size_up: float = 2000
    step_size_down: float | None = None
    mode: str = "triangular"
    gamma: float = 1.0
    scale_fn: Callable[[float], float] | None = None
    scale_mode: str = "cycle"
    _total: float = field(init=False, repr=False, compare=False)
    _ratio: float = field(init=False, repr=False, compare=False)
    _scale: Callable[[float], float] = field(init=False, repr=False, compare=False)
    _by_cycle: bool = field(init=False, repr=False, compare=False)

    def __post_init__(self) -> None:
        base, top = _bounds("base_lr", self.base_lr, "max_lr", self.max_lr)
        object.__setattr__(self, "base_lr", base)
        object.__setattr__(self, "max_lr", top)
        up = _positive("step_size_up", self.step_size_up, "it is the number of iterations of the rising half-cycle")
        down = up if self.step_size_down is None else _positive(
            "step_size_down", self.step_size_down, "it is the number of iterations of the falling half-cycle")
        object.__setattr__(self, "step_size_up", up)
        if self.step_size_down is not None:
            object.__setattr__(self, "step_size_down", down)
        _choice("mode", self.mode, CYCLIC_MODES)
        _choice("scale_mode", self.scale_mode, SCALE_MODES)
        gamma = _gamma("gamma", self.gamma)
        object.__setattr__(self, "gamma", gamma)
        if self.scale_fn is not None:
            if not callable(self.scale_fn):
                raise TypeError(
                    f"scale_fn must be a function of one number returning a value in [0, 1], got {self.scale_fn!r}")
            scale, by_cycle = self.scale_fn, self.scale_mode == "cycle"
        elif self.mode == "triangular":
            scale, by_cycle = _scale_one, True
        elif self.mode == "triangular2":
            scale, by_cycle = _scale_halving, True
        else:  # exp_range
            scale, by_cycle = (lambda x: gamma ** x), False
        total = float(up) + float(down)  # floats, as PyTorch, for the same rounding
        object.__setattr__(self, "_total", total)
        object.__setattr__(self, "_ratio", float(up) / total)
        object.__setattr__(self, "_scale", scale)
        object.__setattr__(self, "_by_cycle", by_cycle)

    def between(self, it: float, low: float, high: float) -> float:
        cycle = math.floor(1 + it / self._total)
        x = 1.0 + it / self._total - cycle
        if x <= self._ratio:
            f = x / self._ratio
        else:
            f = (x - 1) / (self._ratio - 1)
        s = self._scale(cycle if self._by_cycle else it)
        if self.scale_fn is not None and not 0.0 <= s <= 1.0:
            raise ValueError(
                f"scale_fn returned {s!r} at {'cycle' if self._by_cycle else 'iteration'} "
                f"{cycle if self._by_cycle else it}; it must return values in [0, 1]"
            )
        return low + (high - low) * f * s

    def __call__(self, it: float) -> float:
        _check_iteration(it)
        return self.between(it, self.base_lr, self.max_lr)

    def to_dict(self) -> dict[str, Any]:
        data = {"type": self.name}
        for name in ("base_lr", "max_lr", "step_size_up", "step_size_down", "mode", "gamma", "scale_mode"):
            data[name] = getattr(self, name)
        data["scale_fn"] = None if self.scale_fn is None else {"custom": _qualname(self.scale_fn)}
        return data

    @classmethod
    def _from_values(cls, values: dict[str, Any], scale_fn: Callable | None) -> Policy:
        saved = values.get("scale_fn")
        if saved is not None:
            if scale_fn is None:
                name = saved.get("custom", "?") if isinstance(saved, Mapping) else saved
                raise ValueError(
                    f"this Cyclic policy used a custom scale_fn {name!r}, which cannot be stored in JSON; "
                    "pass it again: Policy.from_dict(data, scale_fn=...) or, for a scheduler, "
                    "construct it with scale_fn=... before load_state_dict"
                )
            values = {**values, "scale_fn": scale_fn}
        return super(Cyclic, cls)._from_values(values, None)


def _qualname(fn: Callable) -> str:
    module = getattr(fn, "__module__", None) or ""
    name = getattr(fn, "__qualname__", None) or type(fn).__qualname__
    return f"{module}.{name}" if module else name


# --------------------------------------------------------------------------
# one-cycle (Smith & Topin) in PyTorch's OneCycleLR form
# --------------------------------------------------------------------------

def _anneal_cos(start: float, end: float, pct: float) -> float:
    """Cosine from ``start`` (pct 0) to ``end`` (pct 1); PyTorch's arithmetic."""
    return end + (start - end) / 2.0 * (math.cos(math.pi * pct) + 1)


def _anneal_linear(start: float, end: float, pct: float) -> float:
    """Straight line from ``start`` (pct 0) to ``end`` (pct 1); PyTorch's arithmetic."""
    return (end - start) * pct + start


_ANNEAL = MappingProxyType({"cos": _anneal_cos, "linear": _anneal_linear})


def _one_cycle_phase_ends(total_steps: Any, pct_start: Any, three_phase: Any) -> tuple[float, ...]:
    """Validated phase end steps, exactly PyTorch's:
    two-phase ``(pct*T - 1, T - 1)``; three-phase ``(pct*T - 1, 2*pct*T - 2, T - 1)``."""
    total = _integer("total_steps", total_steps, 1)
    pct = _real("pct_start", pct_start)
    if not 0 < pct < 1:
        raise ValueError(
            f"pct_start must be in (0, 1), got {pct_start!r}; it is the fraction of total_steps "
            "spent raising the lr (PyTorch default 0.3)"
        )
    if not isinstance(three_phase, bool):
        raise TypeError(f"three_phase must be True or False, got {three_phase!r}")
    first = float(pct * total) - 1
    if not three_phase:
        return (first, total - 1)
    second = float(2 * pct * total) - 2
    if second >= total - 1:
        raise ValueError(
            f"pct_start={pct_start!r} is too large for three_phase=True with total_steps={total}: "
            f"the two symmetric phases end at step {second:g}, leaving no room for the final "
            "annihilation phase; use pct_start < 0.5"
        )
    return (first, second, total - 1)


def _one_cycle_value(it: float, ends: tuple[float, ...], levels: tuple[float, ...], anneal: Callable) -> float:
    """Interpolate ``levels[i] -> levels[i+1]`` inside phase ``i`` (PyTorch's
    phase search). ``it`` is clamped to the last step ``ends[-1]``, so the
    value holds there instead of rising again (PyTorch issue #91765)."""
    if it > ends[-1]:
        it = ends[-1]
    start = 0.0
    last = len(ends) - 1
    for i, end in enumerate(ends):
        if it <= end or i == last:
            # A phase of zero length (pct_start * total_steps == 1) is at its end value.
            pct = (it - start) / (end - start) if end != start else 1.0
            return anneal(levels[i], levels[i + 1], pct)
        start = end
    raise AssertionError("unreachable")  # pragma: no cover


@dataclass(frozen=True, slots=True)
class OneCycle(Policy):
    """1cycle lr, PyTorch ``OneCycleLR`` phases (step ``t`` counts from 0)::

        initial = max_lr / div_factor,  min = initial / final_div_factor
        two-phase (fastai, default):  initial -> max   for t in [0, pct_start*T - 1]
                                      max -> min       up to t = T - 1
        three_phase=True (Smith):     initial -> max   for t in [0, pct_start*T - 1]
                                      max -> initial   up to t = 2*pct_start*T - 2
                                      initial -> min   up to t = T - 1 (annihilation)
        inside a phase: pct = (t - start) / (end - start), then
          cos:    end + (start - end)/2 * (cos(pi * pct) + 1)
          linear: start + (end - start) * pct

    Past the end (``t > T - 1``) the lr stays at ``min`` and never rises
    again (PyTorch's scheduler rises at ``t = T``, issue #91765).
    ``momentum(base, max)`` gives the matching cyclical momentum.
    """

    name: ClassVar[str] = "one_cycle"
    max_lr: float
    total_steps: int
    pct_start: float = 0.3
    anneal_strategy: str = "cos"
    div_factor: float = 25.0
    final_div_factor: float = 1e4
    three_phase: bool = False
    _ends: tuple[float, ...] = field(init=False, repr=False, compare=False)
    _levels: tuple[float, ...] = field(init=False, repr=False, compare=False)
    _anneal: Callable = field(init=False, repr=False, compare=False)

    def __post_init__(self) -> None:
        max_lr = float(_positive("max_lr", self.max_lr, "it is the peak learning rate of the cycle"))
        div = _real("div_factor", self.div_factor)
        final_div = _real("final_div_factor", self.final_div_factor)
        if div < 1:
            raise ValueError(f"div_factor must be >= 1, got {self.div_factor!r}; "
                             "the cycle starts at max_lr / div_factor (PyTorch default 25)")
        if final_div < 1:
            raise ValueError(f"final_div_factor must be >= 1, got {self.final_div_factor!r}; "
                             "the cycle ends at max_lr / div_factor / final_div_factor (PyTorch default 1e4)")
        ends = _one_cycle_phase_ends(self.total_steps, self.pct_start, self.three_phase)
        anneal = _choice("anneal_strategy", self.anneal_strategy, ANNEAL_STRATEGIES)
        object.__setattr__(self, "max_lr", max_lr)
        object.__setattr__(self, "total_steps", int(self.total_steps))
        object.__setattr__(self, "pct_start", float(self.pct_start))
        object.__setattr__(self, "div_factor", div)
        object.__setattr__(self, "final_div_factor", final_div)
        initial = max_lr / div
        low = initial / final_div
        levels = (initial, max_lr, initial, low) if self.three_phase else (initial, max_lr, low)
        object.__setattr__(self, "_ends", ends)
        object.__setattr__(self, "_levels", levels)
        object.__setattr__(self, "_anneal", _ANNEAL[anneal])

    @property
    def initial_lr(self) -> float:
        return self._levels[0]

    @property
    def min_lr(self) -> float:
        return self._levels[-1]

    def __call__(self, it: float) -> float:
        _check_iteration(it)
        return _one_cycle_value(it, self._ends, self._levels, self._anneal)

    def momentum(self, base_momentum: float = 0.85, max_momentum: float = 0.95) -> OneCycleMomentum:
        """The cyclical momentum of this cycle: high where the lr is low."""
        return OneCycleMomentum(self.total_steps, self.pct_start, self.anneal_strategy,
                                base_momentum, max_momentum, self.three_phase)


@dataclass(frozen=True, slots=True)
class OneCycleMomentum(Policy):
    """Momentum of the 1cycle policy (PyTorch ``cycle_momentum``), same phases
    as ``OneCycle``: ``max -> base`` while the lr rises, ``base -> max`` while it
    falls, and (three-phase) ``max`` during the annihilation. Holds ``max``
    past the end."""

    name: ClassVar[str] = "one_cycle_momentum"
    total_steps: int
    pct_start: float = 0.3
    anneal_strategy: str = "cos"
    base_momentum: float = 0.85
    max_momentum: float = 0.95
    three_phase: bool = False
    _ends: tuple[float, ...] = field(init=False, repr=False, compare=False)
    _levels: tuple[float, ...] = field(init=False, repr=False, compare=False)
    _anneal: Callable = field(init=False, repr=False, compare=False)

    def __post_init__(self) -> None:
        ends = _one_cycle_phase_ends(self.total_steps, self.pct_start, self.three_phase)
        anneal = _choice("anneal_strategy", self.anneal_strategy, ANNEAL_STRATEGIES)
        base, top = _momentum_bounds(self.base_momentum, self.max_momentum)
        object.__setattr__(self, "total_steps", int(self.total_steps))
        object.__setattr__(self, "pct_start", float(self.pct_start))
        object.__setattr__(self, "base_momentum", base)
        object.__setattr__(self, "max_momentum", top)
        levels = (top, base, top, top) if self.three_phase else (top, base, top)
        object.__setattr__(self, "_ends", ends)
        object.__setattr__(self, "_levels", levels)
        object.__setattr__(self, "_anneal", _ANNEAL[anneal])

    def __call__(self, it: float) -> float:
        _check_iteration(it)
        return _one_cycle_value(it, self._ends, self._levels, self._anneal)


# --------------------------------------------------------------------------
# SGDR: cosine annealing with warm restarts (Loshchilov & Hutter)
# --------------------------------------------------------------------------

@dataclass(frozen=True, slots=True)
class SGDR(BoundedPolicy):
    """Cosine annealing with warm restarts, the sequence of PyTorch's
    ``CosineAnnealingWarmRestarts`` stepped once per iteration::

        periods T_0, T_0*T_mult, T_0*T_mult**2, ...; restarts at their sums
        T_cur = it - (start of the current period),  T_i = its length
        lr = eta_min + (eta_max - eta_min) * (1 + cos(pi * T_cur / T_i)) / 2
    """

    name: ClassVar[str] = "sgdr"
    eta_max: float
    T_0: int
    T_mult: int = 1
    eta_min: float = 0.0

    def __post_init__(self) -> None:
        low, high = _bounds("eta_min", self.eta_min, "eta_max", self.eta_max)
        object.__setattr__(self, "eta_min", low)
        object.__setattr__(self, "eta_max", high)
        object.__setattr__(self, "T_0", _integer("T_0", self.T_0, 1))
        object.__setattr__(self, "T_mult", _integer("T_mult", self.T_mult, 1))

    def between(self, it: float, low: float, high: float) -> float:
        if self.T_mult == 1:
            t_cur, t_i = it - (it // self.T_0) * self.T_0, self.T_0
        else:  # periods grow geometrically, so this loop runs O(log it) times
            start, t_i = 0, self.T_0
            while it >= start + t_i:
                start += t_i
                t_i *= self.T_mult
            t_cur = it - start
        return low + (high - low) * (1 + math.cos(math.pi * t_cur / t_i)) / 2

    def __call__(self, it: float) -> float:
        _check_iteration(it)
        return self.between(it, self.eta_min, self.eta_max)


# --------------------------------------------------------------------------
# combinators: stages one after another, momentum inverse to the lr
# --------------------------------------------------------------------------

@dataclass(frozen=True, slots=True)
class Stages(Policy):
    """Policies run one after another, each on its own clock.

    ``stages`` is a sequence of ``(policy, n_iters)``; stage ``k`` covers
    iterations ``[start_k, start_k + n_k)`` and is called with the local
    iteration ``it - start_k``. The last ``n_iters`` may be ``None``
    (open-ended); past the end of the last stage it keeps running on its own
    clock (e.g. a triangular2 stage keeps cycling).
    """

    name: ClassVar[str] = "stages"
    stages: tuple[tuple[Policy, int | None], ...]
    _starts: tuple[int, ...] = field(init=False, repr=False, compare=False)

    def __post_init__(self) -> None:
        if isinstance(self.stages, (str, bytes)) or not isinstance(self.stages, Sequence) or not self.stages:
            raise ValueError(f"stages must be a non-empty list of (policy, n_iters) pairs, got {self.stages!r}")
        cleaned, starts, start = [], [], 0
        last = len(self.stages) - 1
        for k, pair in enumerate(self.stages):
            if not isinstance(pair, Sequence) or len(pair) != 2:
                raise ValueError(f"stages[{k}] must be a (policy, n_iters) pair, got {pair!r}")
            policy, n_iters = pair
            if not isinstance(policy, Policy):
                raise TypeError(f"stages[{k}][0] must be a Policy (e.g. Triangular2(...)), got {policy!r}")
            if n_iters is None and k != last:
                raise ValueError(f"stages[{k}] has n_iters=None; only the last stage may be open-ended")
            if n_iters is not None:
                n_iters = _integer(f"stages[{k}] n_iters", n_iters, 1)
            cleaned.append((policy, n_iters))
            starts.append(start)
            start += n_iters or 0
        object.__setattr__(self, "stages", tuple(cleaned))
        object.__setattr__(self, "_starts", tuple(starts))

    @property
    def total_iters(self) -> int | None:
        """Sum of the stage lengths, or None when the last stage is open-ended."""
        if self.stages[-1][1] is None:
            return None
        return sum(n for _, n in self.stages)

    @property
    def boundaries(self) -> tuple[int, ...]:
        """First iteration of each stage."""
        return self._starts

    def __call__(self, it: float) -> float:
        _check_iteration(it)
        k = bisect_right(self._starts, it) - 1
        return self.stages[k][0](it - self._starts[k])

    def to_dict(self) -> dict[str, Any]:
        return {"type": self.name, "stages": [[p.to_dict(), n] for p, n in self.stages]}

    @classmethod
    def _from_values(cls, values: dict[str, Any], scale_fn: Callable | None) -> Policy:
        raw = values.get("stages")
        if not isinstance(raw, Sequence) or set(values) != {"stages"}:
            raise ValueError(
                f"a 'stages' dict needs exactly one key 'stages' with [policy_dict, n_iters] pairs, got {values!r}")
        return cls(tuple((Policy.from_dict(p, scale_fn=scale_fn), n) for p, n in raw))


@dataclass(frozen=True, slots=True)
class Inverse(Policy):
    """Momentum cycled inversely to a bounded lr policy (``cycle_momentum``)::

        momentum(it) = policy.between(it, low=max_momentum, high=base_momentum)

    i.e. ``max_momentum`` where the lr is at its lower bound, ``base_momentum``
    at its upper bound, and the same shape in between. For ``Cyclic`` this is
    PyTorch's ``max_m - (max_m - base_m) * f * scale`` to the last bit.
    """

    name: ClassVar[str] = "inverse"
    policy: BoundedPolicy
    base_momentum: float = 0.8
    max_momentum: float = 0.9

    def __post_init__(self) -> None:
        if not isinstance(self.policy, BoundedPolicy):
            raise TypeError(
                f"policy must be a bounded policy (Triangular, Triangular2, ExpRange, Cyclic, Decay, SGDR), "
                f"got {self.policy!r}; use inverse() for OneCycle and Stages"
            )
        base, top = _momentum_bounds(self.base_momentum, self.max_momentum)
        object.__setattr__(self, "base_momentum", base)
        object.__setattr__(self, "max_momentum", top)

    def __call__(self, it: float) -> float:
        _check_iteration(it)
        return self.policy.between(it, self.max_momentum, self.base_momentum)

    def to_dict(self) -> dict[str, Any]:
        return {"type": self.name, "policy": self.policy.to_dict(),
                "base_momentum": self.base_momentum, "max_momentum": self.max_momentum}

    @classmethod
    def _from_values(cls, values: dict[str, Any], scale_fn: Callable | None) -> Policy:
        if not isinstance(values.get("policy"), Mapping):
            raise ValueError(f"an 'inverse' dict needs a 'policy' dict, got {values!r}")
        values = {**values, "policy": Policy.from_dict(values["policy"], scale_fn=scale_fn)}
        return super(Inverse, cls)._from_values(values, None)


def chain(*stages: tuple[Policy, int | None]) -> Stages:
    """``chain((p1, n1), (p2, n2), ...)``: the same as ``Stages([(p1, n1), ...])``."""
    return Stages(tuple(stages))


def inverse(policy: Policy, base_momentum: float, max_momentum: float) -> Policy:
    """The momentum policy that goes with an lr policy, cycled inversely.

    * bounded policies (Triangular, Cyclic, SGDR, ...): ``Inverse``;
    * ``OneCycle``: ``OneCycleMomentum`` (its momentum is not a linear function
      of the lr, since the lr ends below its start while momentum ends at max);
    * ``Stages``: the inverse of each stage, same lengths.
    """
    if isinstance(policy, OneCycle):
        return policy.momentum(base_momentum, max_momentum)
    if isinstance(policy, Stages):
        return Stages(tuple((inverse(p, base_momentum, max_momentum), n) for p, n in policy.stages))
    return Inverse(policy, base_momentum, max_momentum)


def policy_from_dict(data: Mapping[str, Any], *, scale_fn: Callable[[float], float] | None = None) -> Policy:
    """Rebuild any policy from ``to_dict`` output; see :meth:`Policy.from_dict`."""
    return Policy.from_dict(data, scale_fn=scale_fn)


def _find_scale_fn(policy: Policy) -> Callable | None:
    """The custom ``Cyclic.scale_fn`` used anywhere inside ``policy``, or None."""
    if isinstance(policy, Cyclic):
        return policy.scale_fn
    if isinstance(policy, Inverse):
        return _find_scale_fn(policy.policy)
    if isinstance(policy, Stages):
        for p, _ in policy.stages:
            found = _find_scale_fn(p)
            if found is not None:
                return found
    return None


_REGISTRY: Mapping[str, type[Policy]] = MappingProxyType({
    cls.name: cls for cls in (
        Fixed, Step, MultiStep, Exp, Inv, Poly, Decay,
        Triangular, Triangular2, ExpRange, Cyclic,
        OneCycle, OneCycleMomentum, SGDR, Stages, Inverse,
    )
})


# --------------------------------------------------------------------------
# plain functions: lr = f(it, ...), one line each over the classes above
# --------------------------------------------------------------------------

def fixed(it: float, lr: float) -> float:
    """Constant ``lr``; see :class:`Fixed`."""
    return Fixed(lr)(it)


def step(it: float, base_lr: float, gamma: float, step_size: float) -> float:
    """``base_lr * gamma ** floor(it / step_size)``; see :class:`Step`."""
    return Step(base_lr, gamma, step_size)(it)


def multistep(it: float, base_lr: float, gamma: float, milestones: Sequence[int]) -> float:
    """``base_lr * gamma ** (number of milestones <= it)``; see :class:`MultiStep`."""
    return MultiStep(base_lr, gamma, milestones)(it)


def exp(it: float, base_lr: float, gamma: float) -> float:
    """``base_lr * gamma ** it``; see :class:`Exp`."""
    return Exp(base_lr, gamma)(it)


def inv(it: float, base_lr: float, gamma: float, power: float) -> float:
    """``base_lr * (1 + gamma * it) ** (-power)``; see :class:`Inv`."""
    return Inv(base_lr, gamma, power)(it)


def poly(it: float, base_lr: float, max_iter: int, power: float) -> float:
    """``base_lr * (1 - it / max_iter) ** power``, 0 past max_iter; see :class:`Poly`."""
    return Poly(base_lr, max_iter, power)(it)


def decay(it: float, base_lr: float, max_lr: float, step_size: float) -> float:
    """Linear from max_lr to base_lr over step_size, then base_lr; see :class:`Decay`."""
    return Decay(base_lr, max_lr, step_size)(it)


def triangular(it: float, base_lr: float, max_lr: float, step_size: float) -> float:
    """The CLR triangle (the paper's Torch lines); see :class:`Triangular`."""
    return Triangular(base_lr, max_lr, step_size)(it)


def triangular2(it: float, base_lr: float, max_lr: float, step_size: float) -> float:
    """The triangle, amplitude halved each cycle (Caffe code); see :class:`Triangular2`."""
    return Triangular2(base_lr, max_lr, step_size)(it)


def exp_range(it: float, base_lr: float, max_lr: float, step_size: float, gamma: float) -> float:
    """The triangle, amplitude times ``gamma ** it``; see :class:`ExpRange`."""
    return ExpRange(base_lr, max_lr, step_size, gamma)(it)


def cyclic(it: float, base_lr: float, max_lr: float, step_size_up: float = 2000,
           step_size_down: float | None = None, mode: str = "triangular", gamma: float = 1.0,
           scale_fn: Callable[[float], float] | None = None, scale_mode: str = "cycle") -> float:
    """PyTorch ``CyclicLR``'s formula; see :class:`Cyclic`."""
    return Cyclic(base_lr, max_lr, step_size_up, step_size_down, mode, gamma, scale_fn, scale_mode)(it)


def one_cycle(it: float, max_lr: float, total_steps: int, pct_start: float = 0.3,
              anneal_strategy: str = "cos", div_factor: float = 25.0,
              final_div_factor: float = 1e4, three_phase: bool = False) -> float:
    """1cycle learning rate; see :class:`OneCycle`."""
    return OneCycle(max_lr, total_steps, pct_start, anneal_strategy, div_factor, final_div_factor, three_phase)(it)


def one_cycle_momentum(it: float, total_steps: int, pct_start: float = 0.3,
                       anneal_strategy: str = "cos", base_momentum: float = 0.85,
                       max_momentum: float = 0.95, three_phase: bool = False) -> float:
    """1cycle momentum; see :class:`OneCycleMomentum`."""
    return OneCycleMomentum(total_steps, pct_start, anneal_strategy, base_momentum, max_momentum, three_phase)(it)


def sgdr(it: float, eta_max: float, T_0: int, T_mult: int = 1, eta_min: float = 0.0) -> float:
    """Cosine annealing with warm restarts; see :class:`SGDR`."""
    return SGDR(eta_max, T_0, T_mult, eta_min)(it)


# --------------------------------------------------------------------------
# the paper's settings and budget helpers
# --------------------------------------------------------------------------

def paper_cifar10_triangular2() -> Stages:
    """The 3-stage triangular2 schedule of the paper's CIFAR-10 run (Table 2), 25k iterations::

        iterations      base_lr   max_lr   step_size
        0 - 16,000      0.001     0.005    2000
        16,000 - 22,000 0.0001    0.0005   1000
        22,000 - 25,000 0.00001   0.00005  500
    """
    return chain(
        (Triangular2(0.001, 0.005, 2000), 16000),
        (Triangular2(0.0001, 0.0005, 1000), 6000),
        (Triangular2(0.00001, 0.00005, 500), 3000),
    )


def step_size_from_epochs(iters_per_epoch: int, epochs: float = 4) -> int:
    """Step size (half a cycle) in iterations: ``round(epochs * iters_per_epoch)``.

    The paper (§3.2) finds 2-10 epochs per half-cycle good; its CIFAR-10 runs
    use 4 (stepsize 2000 at 500 iterations per epoch), the default here.
    Warns outside [2, 10] epochs; raises for non-positive values.
    """
    per_epoch = _integer("iters_per_epoch", iters_per_epoch, 1)
    n_epochs = float(_positive("epochs", epochs, "the paper suggests 2-10 epochs per half-cycle"))
    if not 2 <= n_epochs <= 10:
        warnings.warn(
            f"epochs={epochs!r} is outside the paper's 2-10 epochs per half-cycle (CLR §3.2); "
            "fine for a range test, unusual for training",
            UserWarning, stacklevel=2,
        )
    return max(1, round(n_epochs * per_epoch))


def cycle_length(step_size_up: float, step_size_down: float | None = None) -> float:
    """Iterations in one cycle: ``step_size_up + step_size_down`` (down defaults to up)."""
    up = _positive("step_size_up", step_size_up)
    down = up if step_size_down is None else _positive("step_size_down", step_size_down)
    return up + down


def iterations_for_cycles(step_size: float, n_cycles: int, step_size_down: float | None = None) -> float:
    """Iterations in ``n_cycles`` whole cycles (the paper: at least 3, better 4+)."""
    return _integer("n_cycles", n_cycles, 1) * cycle_length(step_size, step_size_down)


def round_to_cycles(n_iters: int, step_size: float, step_size_down: float | None = None,
                    direction: str = "down") -> int:
    """Round an iteration budget to whole cycles, so training stops at the end
    of a cycle, where the lr is at its lowest (paper §3.2).

    ``direction='down'`` never exceeds the budget and raises if not even one
    cycle fits; ``'up'`` gives the smallest whole number of cycles >= the budget.
    Returns an int when the cycle length is an integer.
    """
    budget = _integer("n_iters", n_iters, 1)
    length = cycle_length(step_size, step_size_down)
    _choice("direction", direction, ("down", "up"))
    n_cycles = budget // length if direction == "down" else math.ceil(budget / length)
    if n_cycles < 1:
        raise ValueError(
            f"n_iters={n_iters!r} is shorter than one cycle ({length:g} iterations); "
            "use a smaller step_size or direction='up'"
        )
    total = n_cycles * length
    return int(total) if float(total).is_integer() else total
