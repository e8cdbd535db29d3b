"""Learning-rate policies: the learning rate (or momentum) at iteration ``it``, as pure maths.

``it`` counts the mini-batches already trained, from 0. A policy is a small immutable object:
its constructor checks its arguments once, and calling it is a few float operations::

    p = Triangular(base_lr=0.001, max_lr=0.006, step_size=2000)
    p(2000)                             # 0.006
    Policy.from_dict(p.to_dict())       # == p; the dict is JSON-safe

Nothing here touches an optimizer or needs an array library: plain floats and ``math``.
The schedulers in :mod:`clr.schedulers` apply a policy to an optimizer.

Policies of the paper (Smith, "Cyclical Learning Rates for Training Neural Networks",
WACV 2017) and of its baselines (Caffe's ``lr_policy``):

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

``lr_policy.momentum(base_momentum, max_momentum)`` gives the momentum that goes with an lr
policy: an ``Inverse`` for the bounded ones, a ``OneCycleMomentum`` for ``OneCycle``, and the
momentum of each stage for ``Stages``.
"""

from __future__ import annotations

import inspect
import math
import warnings
from bisect import bisect_right
from collections.abc import Callable, Mapping, Sequence
from types import MappingProxyType
from typing import Any, ClassVar

from . import _checks as check

__all__ = [
    "Policy", "BoundedPolicy",
    "Fixed", "Step", "MultiStep", "Exp", "Inv", "Poly", "Decay",
    "Triangular", "Triangular2", "ExpRange", "Cyclic",
    "OneCycle", "OneCycleMomentum", "SGDR", "Stages", "Inverse",
    "paper_cifar10_triangular2", "step_size_from_epochs", "cycle_length", "iterations_for_cycles",
    "round_to_cycles", "CYCLIC_MODES", "SCALE_MODES", "ANNEAL_STRATEGIES",
]

CYCLIC_MODES = ("triangular", "triangular2", "exp_range")
SCALE_MODES = ("cycle", "iterations")
ANNEAL_STRATEGIES = ("cos", "linear")

_STEP_SIZE = "it is half a cycle in iterations; the paper uses 2-10 epochs"


# --------------------------------------------------------------------------
# the base classes: everything but the formulas
# --------------------------------------------------------------------------

class Policy:
    """Base of all policies: ``policy(it) -> value``.

    A subclass writes two things: ``__init__``, which checks each argument and stores it under
    its own name, and ``value(it)``, the formula. Equality, hashing, ``repr`` and the JSON form
    (``to_dict``/``from_dict``) come from the constructor's arguments, read off its signature.

    Policies are immutable: an attribute is set once, in ``__init__``; build a new policy to
    change one (a changed attribute would skip the constructor's checks).
    """

    name: ClassVar[str] = ""            # the "type" in the JSON form
    _args: ClassVar[tuple[str, ...]] = ()

    def __init_subclass__(cls, **kwargs: Any) -> None:
        super().__init_subclass__(**kwargs)
        cls._args = tuple(inspect.signature(cls.__init__).parameters)[1:]

    def __setattr__(self, key: str, value: Any) -> None:
        if hasattr(self, key):
            raise AttributeError(f"{type(self).__name__} is immutable: cannot set {key!r} again; build a new policy")
        super().__setattr__(key, value)

    def __delattr__(self, key: str) -> None:
        raise AttributeError(f"{type(self).__name__} is immutable: cannot delete {key!r}")

    def __call__(self, it: float) -> float:
        """The value at iteration ``it`` (checked: a finite number >= 0)."""
        check.iteration(it)
        return self.value(it)

    def value(self, it: float) -> float:  # pragma: no cover - every policy defines it
        """The formula, for an ``it`` already known to be valid (the schedulers call this)."""
        raise NotImplementedError

    def momentum(self, base_momentum: float, max_momentum: float) -> Policy:
        """The momentum policy that goes with this lr policy (high where the lr is low)."""
        raise TypeError(f"{type(self).__name__} has no lower and upper lr to cycle momentum against; "
                        "use a bounded policy (Triangular, Cyclic, SGDR, ...), OneCycle or Stages")

    # -- identity and JSON, from the constructor's arguments ---------------------
    def _values(self) -> tuple:
        return tuple(getattr(self, arg) for arg in self._args)

    def __eq__(self, other: object) -> bool:
        return type(self) is type(other) and self._values() == other._values()  # type: ignore[attr-defined]

    def __hash__(self) -> int:
        return hash((type(self), self._values()))

    def __repr__(self) -> str:
        args = ", ".join(f"{arg}={getattr(self, arg)!r}" for arg in self._args)
        return f"{type(self).__name__}({args})"

    def to_dict(self) -> dict[str, Any]:
        """JSON-safe description: ``{"type": name, <constructor arguments>}``.

        Nested policies become dicts. A function (a custom ``Cyclic.scale_fn``) cannot be stored
        in JSON, so only its name is: ``{"custom": "module.qualname"}``.
        """
        return {"type": self.name, **{arg: _to_json(getattr(self, arg)) for arg in self._args}}

    @classmethod
    def from_dict(cls, data: Mapping[str, Any], *, scale_fn: Callable[[float], float] | None = None) -> Policy:
        """Rebuild a policy from :meth:`to_dict` output (also after ``json.loads``).

        ``Policy.from_dict`` picks the class from ``data["type"]``; a subclass
        (``Triangular.from_dict``) also checks that the type is its own. ``scale_fn`` must be
        given again when the dict records a custom ``Cyclic`` scale function.
        """
        if not isinstance(data, Mapping) or "type" not in data:
            raise ValueError(f"data must be a dict with a 'type' key, as made by Policy.to_dict(); got {data!r}")
        target = _REGISTRY.get(data["type"]) if isinstance(data["type"], str) else None
        if target is None:
            raise ValueError(f"data['type']={data['type']!r} is not a known policy; known: {', '.join(sorted(_REGISTRY))}")
        if cls is not Policy and target is not cls:
            raise ValueError(f"data['type']={data['type']!r} describes {target.__name__}, not {cls.__name__}")
        values = {key: _from_json(value, scale_fn) for key, value in data.items() if key != "type"}
        params = inspect.signature(target.__init__).parameters
        required = {arg for arg in target._args if params[arg].default is inspect.Parameter.empty}
        unknown, missing = set(values) - set(target._args), required - set(values)
        if unknown or missing:
            raise ValueError(f"cannot build {target.__name__} from {dict(data)!r}: "
                             f"unknown keys {sorted(unknown)}, missing keys {sorted(missing)}")
        return target(**values)


def _to_json(value: Any) -> Any:
    if isinstance(value, Policy):
        return value.to_dict()
    if isinstance(value, (tuple, list)):
        return [_to_json(v) for v in value]
    if callable(value):
        module = getattr(value, "__module__", None) or ""
        name = getattr(value, "__qualname__", None) or type(value).__qualname__
        return {"custom": f"{module}.{name}" if module else name}
    return value


def _from_json(value: Any, scale_fn: Callable | None) -> Any:
    if isinstance(value, Mapping) and "type" in value:
        return Policy.from_dict(value, scale_fn=scale_fn)
    if isinstance(value, Mapping) and "custom" in value:
        if scale_fn is None:
            raise ValueError(
                f"this Cyclic policy used a custom scale_fn {value['custom']!r}, which cannot be stored in JSON; "
                "pass it again: Policy.from_dict(data, scale_fn=...) or, for a scheduler, "
                "construct it with scale_fn=... before load_state_dict")
        return scale_fn
    if isinstance(value, list):
        return [_from_json(v, scale_fn) for v in value]
    return value


class BoundedPolicy(Policy):
    """A policy that moves between ``base_lr`` and ``max_lr``.

    Its formula is ``between(it, low, high)``: the same shape between other end values.
    ``Inverse`` runs it from ``max_momentum`` down to ``base_momentum``, so momentum is high
    where the lr is low and follows the lr's shape exactly.
    """

    def between(self, it: float, low: float, high: float) -> float:  # pragma: no cover - abstract
        raise NotImplementedError

    def value(self, it: float) -> float:
        return self.between(it, self.base_lr, self.max_lr)  # type: ignore[attr-defined]

    def momentum(self, base_momentum: float = 0.8, max_momentum: float = 0.9) -> Inverse:
        return Inverse(self, base_momentum, max_momentum)


# --------------------------------------------------------------------------
# the paper's three cyclical policies (CLR §3.1, App. A and B)
# --------------------------------------------------------------------------

class Triangular(BoundedPolicy):
    """CLR ``triangular``: linear from ``base_lr`` up to ``max_lr`` over ``step_size``
    iterations, then back down; a cycle is ``2 * step_size``. The paper's Torch lines::

        cycle = floor(1 + it / (2 * step_size))
        x     = |it / step_size - 2 * cycle + 1|
        lr    = base_lr + (max_lr - base_lr) * max(0, 1 - x)

    Paper, CIFAR-10 (Fig. 1): ``Triangular(0.001, 0.006, 2000)``.
    """

    name = "triangular"

    def __init__(self, base_lr: float, max_lr: float, step_size: float) -> None:
        self.base_lr, self.max_lr = check.bounds("base_lr", base_lr, "max_lr", max_lr)
        self.step_size = check.positive("step_size", step_size, _STEP_SIZE)

    def between(self, it: float, low: float, high: float) -> float:
        cycle = math.floor(1 + it / (2 * self.step_size))
        x = abs(it / self.step_size - 2 * cycle + 1)
        return low + (high - low) * max(0.0, 1.0 - x)


class Triangular2(BoundedPolicy):
    """CLR ``triangular2``: the triangle with its amplitude halved after each cycle, exactly
    the Caffe code of [CLR] App. A (``cycle`` counts from 0)::

        cycle = floor(it / (2 * step_size))
        x     = (it - (2 * cycle + 1) * step_size) / step_size
        lr    = base_lr + (max_lr - base_lr) * min(1, max(0, (1 - |x|) / 2**cycle))
    """

    name = "triangular2"

    def __init__(self, base_lr: float, max_lr: float, step_size: float) -> None:
        self.base_lr, self.max_lr = check.bounds("base_lr", base_lr, "max_lr", max_lr)
        self.step_size = check.positive("step_size", step_size, _STEP_SIZE)

    def between(self, it: float, low: float, high: float) -> float:
        cycle = math.floor(it / (2 * self.step_size))
        x = (it - (2 * cycle + 1) * self.step_size) / self.step_size
        # 0.5**cycle rather than 1/2**cycle: the same power of two, but it
        # underflows to 0 instead of overflowing after ~1000 cycles.
        return low + (high - low) * min(1.0, max(0.0, (1.0 - abs(x)) * 0.5 ** cycle))


class ExpRange(Triangular):
    """CLR ``exp_range``: the triangle with its amplitude scaled by ``gamma ** it``;
    ``base_lr`` stays fixed (the Keras code the paper links, App. B)::

        lr = base_lr + (max_lr - base_lr) * max(0, 1 - x) * gamma**it      # x as in Triangular

    Paper gammas: 0.99994 (CIFAR-10), 0.999995 (AlexNet), 0.99998 (GoogLeNet).
    """

    name = "exp_range"

    def __init__(self, base_lr: float, max_lr: float, step_size: float, gamma: float) -> None:
        super().__init__(base_lr, max_lr, step_size)
        self.gamma = check.decay_factor("gamma", gamma)

    def between(self, it: float, low: float, high: float) -> float:
        triangle = super().between(it, 0.0, 1.0)  # max(0, 1 - x), exactly
        return low + (high - low) * triangle * self.gamma ** it


# Built-in scale functions of Cyclic, by mode name. Module-level functions (not lambdas), so
# that a policy using them is saved by its mode.
def _scale_one(x: float) -> float:
    return 1.0


def _scale_halving(x: float) -> float:
    # PyTorch writes 1 / 2.0**(x - 1); 0.5**(x - 1) is the same power of two
    # but does not overflow after 1024 cycles.
    return 0.5 ** (x - 1)


class Cyclic(BoundedPolicy):
    """The general cyclical policy of PyTorch's ``CyclicLR`` (same arguments, same
    arithmetic, so the same floats)::

        total = step_size_up + step_size_down        # one cycle
        cycle = floor(1 + it / total)                # counts from 1
        x     = 1 + it / total - cycle               # position in the cycle, [0, 1)
        f     = x / r            if x <= r  else  (x - 1) / (r - 1),   r = step_size_up / total
        lr    = base_lr + (max_lr - base_lr) * f * scale_fn(cycle or it)

    ``mode`` picks a built-in ``scale_fn``: 'triangular' (1), 'triangular2'
    (``1 / 2**(cycle - 1)``), 'exp_range' (``gamma**it``). The built-in modes fix the scale
    mode ('cycle', 'cycle', 'iterations'); ``scale_mode`` counts only with a custom
    ``scale_fn``, which must return values in [0, 1]. 'iterations' passes the global
    iteration ``it``, as PyTorch's code does (its docs say "since start of cycle").

    With ``step_size_down=None`` (= ``step_size_up``) this equals ``Triangular``,
    ``Triangular2`` and ``ExpRange`` up to float rounding.

    A custom ``scale_fn`` is saved by name only; ``Policy.from_dict(d, scale_fn=f)`` needs it again.
    """

    name = "cyclic"

    def __init__(self, base_lr: float, max_lr: float, step_size_up: float = 2000,
                 step_size_down: float | None = None, mode: str = "triangular", gamma: float = 1.0,
                 scale_fn: Callable[[float], float] | None = None, scale_mode: str = "cycle") -> None:
        self.base_lr, self.max_lr = check.bounds("base_lr", base_lr, "max_lr", max_lr)
        self.step_size_up = check.positive("step_size_up", step_size_up,
                                           "it is the number of iterations of the rising half-cycle")
        self.step_size_down = None if step_size_down is None else check.positive(
            "step_size_down", step_size_down, "it is the number of iterations of the falling half-cycle")
        self.mode = check.choice("mode", mode, CYCLIC_MODES)
        self.gamma = check.decay_factor("gamma", gamma)
        self.scale_mode = check.choice("scale_mode", scale_mode, SCALE_MODES)
        if scale_fn is not None and not callable(scale_fn):
            raise TypeError(f"scale_fn must be a function of one number returning a value in [0, 1], got {scale_fn!r}")
        self.scale_fn = scale_fn
        if scale_fn is not None:
            self._scale, self._by_cycle = scale_fn, scale_mode == "cycle"
        elif mode == "triangular":
            self._scale, self._by_cycle = _scale_one, True
        elif mode == "triangular2":
            self._scale, self._by_cycle = _scale_halving, True
        else:  # exp_range
            self._scale, self._by_cycle = (lambda x: self.gamma ** x), False
        down = self.step_size_up if step_size_down is None else self.step_size_down
        self._total = float(self.step_size_up) + float(down)  # floats, as PyTorch, for the same rounding
        self._ratio = float(self.step_size_up) / self._total

    def between(self, it: float, low: float, high: float) -> float:
        cycle = math.floor(1 + it / self._total)
        x = 1.0 + it / self._total - cycle
        f = x / self._ratio if x <= self._ratio else (x - 1) / (self._ratio - 1)
        s = self._scale(cycle if self._by_cycle else it)
        if self.scale_fn is not None and not 0.0 <= s <= 1.0:
            raise ValueError(f"scale_fn returned {s!r} at {'cycle' if self._by_cycle else 'iteration'} "
                             f"{cycle if self._by_cycle else it}; it must return values in [0, 1]")
        return low + (high - low) * f * s


# --------------------------------------------------------------------------
# the paper's baselines (Caffe lr_policy names)
# --------------------------------------------------------------------------

class Fixed(Policy):
    """Constant ``lr``. Caffe ``fixed``; the paper's main baseline."""

    name = "fixed"

    def __init__(self, lr: float) -> None:
        self.lr = check.nonnegative("lr", lr)

    def value(self, it: float) -> float:
        return self.lr


class Step(Policy):
    """Caffe ``step``: ``base_lr * gamma ** floor(it / step_size)``."""

    name = "step"

    def __init__(self, base_lr: float, gamma: float, step_size: float) -> None:
        self.base_lr = check.nonnegative("base_lr", base_lr)
        self.gamma = check.decay_factor("gamma", gamma)
        self.step_size = check.positive("step_size", step_size, "it is the number of iterations between drops")

    def value(self, it: float) -> float:
        return self.base_lr * self.gamma ** math.floor(it / self.step_size)


class MultiStep(Policy):
    """Caffe ``multistep``: ``base_lr * gamma ** k``, k = number of milestones <= it.

    Example (super-convergence baseline): ``MultiStep(0.35, 0.1, (50000, 70000))``.
    """

    name = "multistep"

    def __init__(self, base_lr: float, gamma: float, milestones: Sequence[int]) -> None:
        self.base_lr = check.nonnegative("base_lr", base_lr)
        self.gamma = check.decay_factor("gamma", gamma)
        if isinstance(milestones, (str, bytes)) or not isinstance(milestones, Sequence):
            raise TypeError(f"milestones must be a list of iterations, got {milestones!r}")
        stones = tuple(check.integer(f"milestones[{i}]", m, 0) for i, m in enumerate(milestones))
        if any(a >= b for a, b in zip(stones, stones[1:])):
            raise ValueError(f"milestones must be strictly increasing, got {list(milestones)!r}; "
                             "sort them and drop repeats")
        self.milestones = stones

    def value(self, it: float) -> float:
        return self.base_lr * self.gamma ** bisect_right(self.milestones, it)


class Exp(Policy):
    """Caffe ``exp``: ``base_lr * gamma ** it`` (paper: gamma 0.99994 on CIFAR-10)."""

    name = "exp"

    def __init__(self, base_lr: float, gamma: float) -> None:
        self.base_lr = check.nonnegative("base_lr", base_lr)
        self.gamma = check.decay_factor("gamma", gamma)

    def value(self, it: float) -> float:
        return self.base_lr * self.gamma ** it


class Inv(Policy):
    """Caffe ``inv``: ``base_lr * (1 + gamma * it) ** (-power)`` (LeNet: gamma 1e-4, power 0.75)."""

    name = "inv"

    def __init__(self, base_lr: float, gamma: float, power: float) -> None:
        self.base_lr = check.nonnegative("base_lr", base_lr)
        self.gamma = float(check.positive("gamma", gamma, "Caffe's LeNet uses gamma=1e-4"))
        self.power = float(check.positive("power", power, "use Fixed for a constant lr"))

    def value(self, it: float) -> float:
        return self.base_lr * (1.0 + self.gamma * it) ** (-self.power)


class Poly(Policy):
    """Caffe ``poly``: ``base_lr * (1 - it / max_iter) ** power``.

    Past ``max_iter`` the lr stays 0 (Caffe would raise a negative number to a fractional
    power and produce NaN).
    """

    name = "poly"

    def __init__(self, base_lr: float, max_iter: int, power: float) -> None:
        self.base_lr = check.nonnegative("base_lr", base_lr)
        self.max_iter = check.integer("max_iter", max_iter, 1)
        self.power = float(check.positive("power", power, "use Fixed for a constant lr"))

    def value(self, it: float) -> float:
        return self.base_lr * (1.0 - min(it, self.max_iter) / self.max_iter) ** self.power


class Decay(BoundedPolicy):
    """The paper's ``decay`` comparison (§4.1.1): from ``max_lr`` down to ``base_lr``
    linearly over ``step_size`` iterations, then hold ``base_lr``::

        lr = max_lr - (max_lr - base_lr) * min(1, it / step_size)

    Paper settings: ``Decay(base_lr=0.001, max_lr=0.007, step_size=4000)``.
    """

    name = "decay"

    def __init__(self, base_lr: float, max_lr: float, step_size: float) -> None:
        self.base_lr, self.max_lr = check.bounds("base_lr", base_lr, "max_lr", max_lr)
        self.step_size = check.positive("step_size", step_size, "it is the length of the linear decrease in iterations")

    def between(self, it: float, low: float, high: float) -> float:
        return high - (high - low) * min(1.0, it / self.step_size)


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


class _Phases(Policy):
    """What OneCycle and OneCycleMomentum share: PyTorch's phases, and the interpolation
    ``levels[i] -> levels[i+1]`` inside phase ``i`` with the chosen anneal."""

    def _set_phases(self, total_steps: Any, pct_start: Any, anneal_strategy: Any, three_phase: Any) -> None:
        """Check and store the phase arguments; set ``_ends``, PyTorch's phase end steps:
        two-phase ``(pct*T - 1, T - 1)``; three-phase ``(pct*T - 1, 2*pct*T - 2, T - 1)``."""
        self.total_steps = check.integer("total_steps", total_steps, 1)
        self.pct_start = check.real("pct_start", pct_start)
        if not 0 < self.pct_start < 1:
            raise ValueError(f"pct_start must be in (0, 1), got {pct_start!r}; it is the fraction of total_steps "
                             "spent raising the lr (PyTorch default 0.3)")
        self.anneal_strategy = check.choice("anneal_strategy", anneal_strategy, ANNEAL_STRATEGIES)
        self._anneal = _ANNEAL[anneal_strategy]
        if not isinstance(three_phase, bool):
            raise TypeError(f"three_phase must be True or False, got {three_phase!r}")
        self.three_phase = three_phase
        total, pct = self.total_steps, self.pct_start
        first = float(pct * total) - 1
        if not three_phase:
            self._ends = (first, total - 1)
            return
        second = float(2 * pct * total) - 2
        if second >= total - 1:
            raise ValueError(f"pct_start={pct_start!r} is too large for three_phase=True with total_steps={total}: "
                             f"the two symmetric phases end at step {second:g}, leaving no room for the final "
                             "annihilation phase; use pct_start < 0.5")
        self._ends = (first, second, total - 1)

    def value(self, it: float) -> float:
        # Past the last step the value holds there instead of rising again (PyTorch issue #91765).
        ends = self._ends
        if it > ends[-1]:
            it = ends[-1]
        start, last = 0.0, len(ends) - 1
        for i, end in enumerate(ends):
            if it <= end or i == last:
                # A phase of zero length (pct_start * total_steps == 1) is at its end value.
                pct = (it - start) / (end - start) if end != start else 1.0
                return self._anneal(self._levels[i], self._levels[i + 1], pct)
            start = end
        raise AssertionError("unreachable")  # pragma: no cover


class OneCycle(_Phases):
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

    Past the end (``t > T - 1``) the lr stays at ``min`` and never rises again (PyTorch's
    scheduler rises at ``t = T``, issue #91765). ``momentum(base, max)`` gives the matching
    cyclical momentum.
    """

    name = "one_cycle"

    def __init__(self, max_lr: float, total_steps: int, pct_start: float = 0.3, anneal_strategy: str = "cos",
                 div_factor: float = 25.0, final_div_factor: float = 1e4, three_phase: bool = False) -> None:
        self.max_lr = float(check.positive("max_lr", max_lr, "it is the peak learning rate of the cycle"))
        self._set_phases(total_steps, pct_start, anneal_strategy, three_phase)
        self.div_factor = check.real("div_factor", div_factor)
        if self.div_factor < 1:
            raise ValueError(f"div_factor must be >= 1, got {div_factor!r}; "
                             "the cycle starts at max_lr / div_factor (PyTorch default 25)")
        self.final_div_factor = check.real("final_div_factor", final_div_factor)
        if self.final_div_factor < 1:
            raise ValueError(f"final_div_factor must be >= 1, got {final_div_factor!r}; "
                             "the cycle ends at max_lr / div_factor / final_div_factor (PyTorch default 1e4)")
        self.initial_lr = self.max_lr / self.div_factor
        self.min_lr = self.initial_lr / self.final_div_factor
        self._levels = ((self.initial_lr, self.max_lr, self.initial_lr, self.min_lr) if three_phase
                        else (self.initial_lr, self.max_lr, self.min_lr))

    def momentum(self, base_momentum: float = 0.85, max_momentum: float = 0.95) -> OneCycleMomentum:
        """The cyclical momentum of this cycle: high where the lr is low."""
        return OneCycleMomentum(self.total_steps, self.pct_start, self.anneal_strategy,
                                base_momentum, max_momentum, self.three_phase)


class OneCycleMomentum(_Phases):
    """Momentum of the 1cycle policy (PyTorch ``cycle_momentum``), same phases as
    ``OneCycle``: ``max -> base`` while the lr rises, ``base -> max`` while it falls, and
    (three-phase) ``max`` during the annihilation. Holds ``max`` past the end."""

    name = "one_cycle_momentum"

    def __init__(self, total_steps: int, pct_start: float = 0.3, anneal_strategy: str = "cos",
                 base_momentum: float = 0.85, max_momentum: float = 0.95, three_phase: bool = False) -> None:
        self._set_phases(total_steps, pct_start, anneal_strategy, three_phase)
        self.base_momentum, self.max_momentum = check.momentum_bounds(base_momentum, max_momentum)
        top, base = self.max_momentum, self.base_momentum
        self._levels = (top, base, top, top) if three_phase else (top, base, top)


# --------------------------------------------------------------------------
# SGDR: cosine annealing with warm restarts (Loshchilov & Hutter)
# --------------------------------------------------------------------------

class SGDR(BoundedPolicy):
    """Cosine annealing with warm restarts, the sequence of PyTorch's
    ``CosineAnnealingWarmRestarts`` stepped once per iteration::

        periods T_0, T_0*T_mult, T_0*T_mult**2, ...; restarts at their sums
        T_cur = it - (start of the current period),  T_i = its length
        lr = eta_min + (eta_max - eta_min) * (1 + cos(pi * T_cur / T_i)) / 2
    """

    name = "sgdr"

    def __init__(self, eta_max: float, T_0: int, T_mult: int = 1, eta_min: float = 0.0) -> None:
        self.eta_min, self.eta_max = check.bounds("eta_min", eta_min, "eta_max", eta_max)
        self.T_0 = check.integer("T_0", T_0, 1)
        self.T_mult = check.integer("T_mult", T_mult, 1)

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

    def value(self, it: float) -> float:
        return self.between(it, self.eta_min, self.eta_max)


# --------------------------------------------------------------------------
# combinators: stages one after another, momentum inverse to the lr
# --------------------------------------------------------------------------

class Stages(Policy):
    """Policies run one after another, each on its own clock.

    ``stages`` is a sequence of ``(policy, n_iters)``; stage ``k`` covers iterations
    ``[start_k, start_k + n_k)`` and is called with the local iteration ``it - start_k``.
    The last ``n_iters`` may be ``None`` (open-ended); past the end of the last stage it keeps
    running on its own clock (e.g. a triangular2 stage keeps cycling).
    """

    name = "stages"

    def __init__(self, stages: Sequence[tuple[Policy, int | None]]) -> None:
        if isinstance(stages, (str, bytes)) or not isinstance(stages, Sequence) or not stages:
            raise ValueError(f"stages must be a non-empty list of (policy, n_iters) pairs, got {stages!r}")
        cleaned, starts, start = [], [], 0
        for k, pair in enumerate(stages):
            if not isinstance(pair, Sequence) or len(pair) != 2:
                raise ValueError(f"stages[{k}] must be a (policy, n_iters) pair, got {pair!r}")
            policy, n_iters = pair
            if not isinstance(policy, Policy):
                raise TypeError(f"stages[{k}][0] must be a Policy (e.g. Triangular2(...)), got {policy!r}")
            if n_iters is None and k != len(stages) - 1:
                raise ValueError(f"stages[{k}] has n_iters=None; only the last stage may be open-ended")
            if n_iters is not None:
                n_iters = check.integer(f"stages[{k}] n_iters", n_iters, 1)
            cleaned.append((policy, n_iters))
            starts.append(start)
            start += n_iters or 0
        self.stages = tuple(cleaned)
        self.boundaries = tuple(starts)   # first iteration of each stage
        # Sum of the stage lengths, or None when the last stage is open-ended.
        self.total_iters = None if self.stages[-1][1] is None else start

    def value(self, it: float) -> float:
        k = bisect_right(self.boundaries, it) - 1
        return self.stages[k][0].value(it - self.boundaries[k])

    def momentum(self, base_momentum: float, max_momentum: float) -> Stages:
        """The momentum of each stage, on the same clock."""
        return Stages(tuple((p.momentum(base_momentum, max_momentum), n) for p, n in self.stages))


class Inverse(Policy):
    """Momentum cycled inversely to a bounded lr policy (``cycle_momentum``)::

        momentum(it) = policy.between(it, low=max_momentum, high=base_momentum)

    i.e. ``max_momentum`` where the lr is at its lower bound, ``base_momentum`` at its upper
    bound, and the same shape in between. For ``Cyclic`` this is PyTorch's
    ``max_m - (max_m - base_m) * f * scale`` to the last bit. ``lr_policy.momentum(base, max)``
    builds it.
    """

    name = "inverse"

    def __init__(self, policy: BoundedPolicy, base_momentum: float = 0.8, max_momentum: float = 0.9) -> None:
        if not isinstance(policy, BoundedPolicy):
            raise TypeError(f"policy must be a bounded policy (Triangular, Triangular2, ExpRange, Cyclic, Decay, SGDR), "
                            f"got {policy!r}; for OneCycle and Stages use their .momentum(base, max)")
        self.policy = policy
        self.base_momentum, self.max_momentum = check.momentum_bounds(base_momentum, max_momentum)

    def value(self, it: float) -> float:
        return self.policy.between(it, self.max_momentum, self.base_momentum)


def custom_scale_fn(policy: Policy) -> Callable | None:
    """The custom ``Cyclic.scale_fn`` used anywhere inside ``policy``, or None (a scheduler
    reuses it when it loads a state, since JSON holds only its name)."""
    if isinstance(policy, Cyclic):
        return policy.scale_fn
    inner = ([policy.policy] if isinstance(policy, Inverse)
             else [p for p, _ in policy.stages] if isinstance(policy, Stages) else [])
    return next((fn for fn in map(custom_scale_fn, inner) if fn is not None), None)


_REGISTRY: Mapping[str, type[Policy]] = MappingProxyType({
    cls.name: cls for cls in (
        Fixed, Step, MultiStep, Exp, Inv, Poly, Decay,
        Triangular, Triangular2, ExpRange, Cyclic,
        OneCycle, OneCycleMomentum, SGDR, Stages, Inverse,
    )
})


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
    return Stages([
        (Triangular2(0.001, 0.005, 2000), 16000),
        (Triangular2(0.0001, 0.0005, 1000), 6000),
        (Triangular2(0.00001, 0.00005, 500), 3000),
    ])


def step_size_from_epochs(iters_per_epoch: int, epochs: float = 4) -> int:
    """Step size (half a cycle) in iterations: ``round(epochs * iters_per_epoch)``.

    The paper (§3.2) finds 2-10 epochs per half-cycle good; its CIFAR-10 runs use 4 (stepsize
    2000 at 500 iterations per epoch), the default here. Warns outside [2, 10] epochs; raises
    for non-positive values.
    """
    per_epoch = check.integer("iters_per_epoch", iters_per_epoch, 1)
    n_epochs = float(check.positive("epochs", epochs, "the paper suggests 2-10 epochs per half-cycle"))
    if not 2 <= n_epochs <= 10:
        warnings.warn(f"epochs={epochs!r} is outside the paper's 2-10 epochs per half-cycle (CLR §3.2); "
                      "fine for a range test, unusual for training", UserWarning, stacklevel=2)
    return max(1, round(n_epochs * per_epoch))


def cycle_length(step_size_up: float, step_size_down: float | None = None) -> float:
    """Iterations in one cycle: ``step_size_up + step_size_down`` (down defaults to up)."""
    up = check.positive("step_size_up", step_size_up)
    down = up if step_size_down is None else check.positive("step_size_down", step_size_down)
    return up + down


def iterations_for_cycles(step_size: float, n_cycles: int, step_size_down: float | None = None) -> float:
    """Iterations in ``n_cycles`` whole cycles (the paper: at least 3, better 4+)."""
    return check.integer("n_cycles", n_cycles, 1) * cycle_length(step_size, step_size_down)


def round_to_cycles(n_iters: int, step_size: float, step_size_down: float | None = None,
                    direction: str = "down") -> int:
    """Round an iteration budget to whole cycles, so training stops at the end of a cycle,
    where the lr is at its lowest (paper §3.2).

    ``direction='down'`` never exceeds the budget and raises if not even one cycle fits;
    ``'up'`` gives the smallest whole number of cycles >= the budget. Returns an int when the
    cycle length is an integer.
    """
    budget = check.integer("n_iters", n_iters, 1)
    length = cycle_length(step_size, step_size_down)
    check.choice("direction", direction, ("down", "up"))
    n_cycles = budget // length if direction == "down" else math.ceil(budget / length)
    if n_cycles < 1:
        raise ValueError(f"n_iters={n_iters!r} is shorter than one cycle ({length:g} iterations); "
                         "use a smaller step_size or direction='up'")
    total = n_cycles * length
    return int(total) if float(total).is_integer() else total
