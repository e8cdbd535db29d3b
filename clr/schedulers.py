"""Schedulers: apply a policy from :mod:`clr.policies` to an optimizer, every batch.

A scheduler only touches ``optimizer.param_groups``, a list of dicts with an ``'lr'`` key and,
for momentum cycling, a ``'momentum'`` key (SGD) or a ``'betas'`` tuple whose first entry is
Adam's beta1. That is all tinynet's and PyTorch's optimizers have in common, so the same
scheduler drives both; this module imports neither. (:mod:`clr.torch` offers the same
schedulers as ``torch.optim.lr_scheduler.LRScheduler`` subclasses.)

Usage, as in PyTorch::

    sched = CyclicLR(opt, base_lr=0.001, max_lr=0.006, step_size_up=2000)
    for batch in data:
        loss = ...; loss.backward(); opt.step()
        sched.step()                      # after the optimizer step

Conventions shared with ``torch.optim.lr_scheduler``:

* the constructor takes the first step: ``last_epoch`` becomes 0 and the groups hold the
  values of iteration 0;
* ``step()`` advances ``last_epoch`` by one and writes the values of that iteration;
  ``step(k)`` jumps to iteration ``k``; ``get_last_lr()`` returns what was written;
* ``last_epoch=k`` resumes as if ``k`` steps had been taken (the constructor then moves to
  ``k + 1``, like PyTorch).

Every argument is checked once, in the constructor (or ``load_state_dict``); ``step()`` then
calls one policy per param group and writes through :func:`clr.param_groups.set_hyperparams`.
"""

from __future__ import annotations

from collections.abc import Callable, Mapping, Sequence
from typing import Any

from . import _checks as check
from .param_groups import momentum_key, set_hyperparams
from .policies import Cyclic, Inverse, OneCycle, OneCycleMomentum, Policy, custom_scale_fn

__all__ = ["PolicyScheduler", "CyclicLR", "OneCycleLR", "PAST_END_MODES"]

PAST_END_MODES = ("raise", "hold")
_STATE_VERSION = 1
_STATE_KEYS = ("scheduler", "version", "last_epoch", "step_limit", "lr_policies", "momentum_policies")


# --------------------------------------------------------------------------
# checks of what the user hands over (constructor, load_state_dict)
# --------------------------------------------------------------------------

def _param_groups(optimizer: Any) -> list[dict]:
    """The optimizer's ``param_groups`` (duck typing: a list of dicts with 'lr')."""
    groups = getattr(optimizer, "param_groups", None)
    if not isinstance(groups, list) or not all(isinstance(g, dict) and "lr" in g for g in groups):
        raise TypeError(f"optimizer must have param_groups, a list of dicts with an 'lr' key "
                        f"(as tinynet.optim and torch.optim optimizers do); got {type(optimizer).__name__}")
    if not groups:
        raise ValueError("optimizer.param_groups is empty; give the optimizer some parameters first")
    return groups


def _per_group(name: str, value: Any, n_groups: int) -> list:
    """One value for every param group: a list of ``n_groups`` or a single value repeated."""
    if isinstance(value, (list, tuple)):
        if len(value) != n_groups:
            raise ValueError(f"{name} has {len(value)} values but the optimizer has {n_groups} param groups; "
                             "give one value, or one per param group")
        return list(value)
    return [value] * n_groups


def _check_momentum(groups: list[dict]) -> None:
    """Every group holds a momentum: 'momentum' (SGD) or 'betas' (Adam's beta1)."""
    for i, group in enumerate(groups):
        if momentum_key(group) is None:
            raise ValueError("optimizer must support momentum or beta1 with cycle_momentum enabled: "
                             f"param group {i} has neither 'momentum' nor 'betas' (keys: {sorted(group)}); "
                             "pass cycle_momentum=False (or momentum_policy=None)")


def _policies(name: str, value: Any, n_groups: int) -> list[Policy]:
    policies = _per_group(name, value, n_groups)
    for i, policy in enumerate(policies):
        if not isinstance(policy, Policy):
            raise TypeError(f"{name} must be a clr.policies.Policy (e.g. Triangular(0.001, 0.006, 2000)) "
                            f"or a list with one per param group; got {policy!r}"
                            + (f" for param group {i}" if n_groups > 1 else ""))
    return policies


# --------------------------------------------------------------------------
# the scheduler
# --------------------------------------------------------------------------

class PolicyScheduler:
    """Set each param group's lr (and optionally momentum) from policies.

    Args:
        optimizer: anything with ``param_groups`` (list of dicts with 'lr').
        lr_policy: a :class:`~clr.policies.Policy`, or a list with one per group.
        momentum_policy: None (momentum untouched), a policy or a list; it writes
            ``group['momentum']``, or ``group['betas'][0]`` when the group has 'betas'.
            ``lr_policy.momentum(0.85, 0.95)`` gives the usual inverse cycling.
        last_epoch: index of the last batch already done; -1 starts fresh.
        record_history: keep ``history``, a list of ``(iteration, lrs, momenta_or_None)``
            per step (not saved in ``state_dict``).

    Per step the cost is one policy call per group (a few microseconds in all).
    """

    # step() refuses to go past this iteration (OneCycleLR sets it); None: no limit.
    _step_limit: int | None = None

    def __init__(self, optimizer: Any, lr_policy: Policy | Sequence[Policy],
                 momentum_policy: Policy | Sequence[Policy] | None = None, *,
                 last_epoch: int = -1, record_history: bool = False) -> None:
        groups = _param_groups(optimizer)
        self.optimizer = optimizer
        self._lr_policies = _policies("lr_policy", lr_policy, len(groups))
        self._momentum_policies = None
        if momentum_policy is not None:
            self._momentum_policies = _policies("momentum_policy", momentum_policy, len(groups))
            _check_momentum(groups)
        self.last_epoch = check.integer("last_epoch", last_epoch, -1)
        self._last_lr: list[float] = []
        self._last_momentum: list[float] | None = None
        self.history: list[tuple[int, list[float], list[float] | None]] | None = [] if record_history else None
        self.step()

    def step(self, epoch: int | None = None) -> None:
        """Move to the next iteration, or to iteration ``epoch`` when given (what PyTorch's
        deprecated ``step(epoch)`` does), and write its lr (and momentum) into the param groups."""
        it = self.last_epoch + 1 if epoch is None else check.integer("epoch", epoch, 0)
        if self._step_limit is not None and it > self._step_limit:
            raise ValueError(self._past_end_message(it))
        groups = self.optimizer.param_groups
        if len(groups) != len(self._lr_policies):
            raise ValueError(f"the optimizer now has {len(groups)} param groups but the scheduler was built "
                             f"for {len(self._lr_policies)}; build a new scheduler after add_param_group")
        lrs = [policy.value(it) for policy in self._lr_policies]
        momenta = None if self._momentum_policies is None else [p.value(it) for p in self._momentum_policies]
        for i, group in enumerate(groups):
            set_hyperparams(group, lr=lrs[i], momentum=None if momenta is None else momenta[i])
        self.last_epoch, self._last_lr, self._last_momentum = it, lrs, momenta
        if self.history is not None:
            self.history.append((it, lrs, momenta))

    def _past_end_message(self, it: int) -> str:
        return f"Tried to step {it} times; the schedule has {self._step_limit} steps"

    # -- inspection -------------------------------------------------------
    def get_last_lr(self) -> list[float]:
        """The lrs written by the last step, one per param group."""
        return list(self._last_lr)

    def get_last_momentum(self) -> list[float] | None:
        """The momenta (or beta1s) written by the last step, or None when not cycled."""
        return None if self._last_momentum is None else list(self._last_momentum)

    @property
    def lr_policies(self) -> tuple[Policy, ...]:
        return tuple(self._lr_policies)

    @property
    def momentum_policies(self) -> tuple[Policy, ...] | None:
        return None if self._momentum_policies is None else tuple(self._momentum_policies)

    def __repr__(self) -> str:
        return (f"{type(self).__name__}(last_epoch={self.last_epoch}, lr={self._last_lr}, "
                f"lr_policies={self._lr_policies}, momentum_policies={self._momentum_policies})")

    # -- checkpoints --------------------------------------------------------
    def state_dict(self) -> dict[str, Any]:
        """JSON-safe state: the iteration and every policy (built-ins by name).

        A custom ``Cyclic`` scale_fn is recorded by name only (``{"custom": "module.name"}``);
        ``load_state_dict`` then needs the function again (see there). The optimizer is not
        included: save it separately, as with PyTorch.
        """
        return {
            "scheduler": type(self).__name__,
            "version": _STATE_VERSION,
            "last_epoch": self.last_epoch,
            "step_limit": self._step_limit,
            "lr_policies": [p.to_dict() for p in self._lr_policies],
            "momentum_policies": (None if self._momentum_policies is None
                                  else [p.to_dict() for p in self._momentum_policies]),
        }

    def load_state_dict(self, state: Mapping[str, Any], *,
                        scale_fn: Callable[[float], float] | None = None) -> None:
        """Restore a :meth:`state_dict` (also after ``json.loads``) and write that iteration's
        lr/momentum into the optimizer's param groups, so a new optimizer + new scheduler +
        ``load_state_dict`` continues the same sequence.

        Everything is checked before anything changes: a state that is not this scheduler's,
        lacks a key or contradicts itself raises ValueError. A custom scale function is never
        saved: pass it as ``scale_fn``, or build this scheduler with it
        (``CyclicLR(..., scale_fn=f)``) and it is reused; if neither is there, ValueError.
        """
        try:
            lr_policies, momentum_policies, last_epoch, limit = self._read_state(state, scale_fn)
        except TypeError as error:  # a value of the wrong kind in a damaged or hand-edited state
            raise ValueError(f"state is damaged: {error}") from error
        if momentum_policies is not None:
            _check_momentum(self.optimizer.param_groups)
        # Everything checked: now change the scheduler, then the optimizer.
        self._lr_policies, self._momentum_policies = lr_policies, momentum_policies
        self._last_momentum = None
        self._step_limit = limit
        self._load_extra(state)
        self.step(last_epoch)

    def _read_state(self, state: Any, scale_fn: Callable | None) -> tuple:
        """The policies, last_epoch and step limit of ``state``, all checked; nothing changes here."""
        name = type(self).__name__
        if not isinstance(state, Mapping) or state.get("scheduler") != name:
            found = state.get("scheduler") if isinstance(state, Mapping) else type(state).__name__
            raise ValueError(f"state is not a {name} state_dict (scheduler={found!r})")
        missing = [key for key in self._state_keys() if key not in state]
        if missing:
            raise ValueError(f"state lacks the keys {missing}; pass the whole dict that {name}.state_dict() "
                             f"returned (this one has {sorted(state)})")
        if state["version"] != _STATE_VERSION:
            raise ValueError(f"state version {state['version']!r} is not supported (expected {_STATE_VERSION})")
        n_groups = len(self.optimizer.param_groups)
        if scale_fn is None:  # reuse the custom scale function this scheduler was built with, if any
            scale_fn = next(filter(None, map(custom_scale_fn, self._lr_policies)), None)

        def rebuild(key: str) -> list[Policy]:
            saved = state[key]
            if not isinstance(saved, list) or len(saved) != n_groups:
                count = f"{len(saved)} param groups" if isinstance(saved, list) else f"{saved!r}"
                raise ValueError(f"state['{key}'] must list one policy per param group; it has {count} "
                                 f"but the optimizer has {n_groups}")
            return [Policy.from_dict(data, scale_fn=scale_fn) for data in saved]

        lr_policies = rebuild("lr_policies")
        momentum_policies = None if state["momentum_policies"] is None else rebuild("momentum_policies")
        last_epoch = check.integer("state['last_epoch']", state["last_epoch"], 0)
        limit = None if state["step_limit"] is None else check.integer("state['step_limit']", state["step_limit"], 1)
        if limit is not None and last_epoch > limit:
            raise ValueError(f"state['last_epoch']={last_epoch} is past state['step_limit']={limit}")
        self._check_loaded(state, lr_policies, momentum_policies, limit)
        return lr_policies, momentum_policies, last_epoch, limit

    def _state_keys(self) -> tuple[str, ...]:
        return _STATE_KEYS

    def _check_loaded(self, state: Mapping[str, Any], lr_policies: list[Policy],
                      momentum_policies: list[Policy] | None, limit: int | None) -> None:
        """A subclass refuses a state that contradicts itself here, before anything changes."""

    def _load_extra(self, state: Mapping[str, Any]) -> None:
        """A subclass takes its own (already checked) entries of the state here."""


class CyclicLR(PolicyScheduler):
    """Cyclical learning rate (Smith 2017) with PyTorch ``CyclicLR``'s signature.

    Per param group (a float or a list per group for the lr/momentum bounds), the lr follows
    :class:`clr.policies.Cyclic` and, with ``cycle_momentum``, the momentum (or Adam's beta1)
    follows its ``Inverse``: ``max_momentum`` at ``base_lr``, ``base_momentum`` at ``max_lr``.

    Same floats as ``torch.optim.lr_scheduler.CyclicLR`` for the same arguments and number of
    ``step()`` calls. Differences: ``base_lr > max_lr``, non-positive step sizes, ``gamma``
    outside (0, 1], an unknown ``mode`` and a momentum bound above 1 raise ValueError;
    ``state_dict`` is JSON; a custom ``scale_fn`` is saved by name and must be passed again to
    the constructor of the scheduler that loads the state (PyTorch silently drops lambdas).
    """

    def __init__(self, optimizer: Any, base_lr: float | Sequence[float], max_lr: float | Sequence[float],
                 step_size_up: float = 2000, step_size_down: float | None = None,
                 mode: str = "triangular", gamma: float = 1.0,
                 scale_fn: Callable[[float], float] | None = None, scale_mode: str = "cycle",
                 cycle_momentum: bool = True, base_momentum: float | Sequence[float] = 0.8,
                 max_momentum: float | Sequence[float] = 0.9, last_epoch: int = -1, *,
                 record_history: bool = False) -> None:
        n = len(_param_groups(optimizer))
        lr_policies = [Cyclic(base, top, step_size_up, step_size_down, mode, gamma, scale_fn, scale_mode)
                       for base, top in zip(_per_group("base_lr", base_lr, n), _per_group("max_lr", max_lr, n))]
        momentum_policies = None
        if cycle_momentum:
            momentum_policies = [policy.momentum(base_m, max_m) for policy, base_m, max_m in zip(
                lr_policies, _per_group("base_momentum", base_momentum, n), _per_group("max_momentum", max_momentum, n))]
        super().__init__(optimizer, lr_policies, momentum_policies,
                         last_epoch=last_epoch, record_history=record_history)

    @property
    def base_lrs(self) -> list[float]:
        return [p.base_lr for p in self._lr_policies]  # type: ignore[attr-defined]

    @property
    def max_lrs(self) -> list[float]:
        return [p.max_lr for p in self._lr_policies]  # type: ignore[attr-defined]

    def _check_loaded(self, state, lr_policies, momentum_policies, limit) -> None:
        if not all(isinstance(p, Cyclic) for p in lr_policies) or not all(
                isinstance(p, Inverse) for p in momentum_policies or ()):
            raise ValueError("a CyclicLR state must hold Cyclic lr policies and Inverse momentum policies; "
                             "load other policies into a PolicyScheduler")


class OneCycleLR(PolicyScheduler):
    """The 1cycle policy with PyTorch ``OneCycleLR``'s signature and floats.

    The lr follows :class:`clr.policies.OneCycle` (two-phase cos/linear, or
    ``three_phase=True`` for Smith's form with the final annihilation), the momentum (or
    beta1) :class:`clr.policies.OneCycleMomentum`. ``total_steps`` wins over
    ``epochs * steps_per_epoch``.

    Past the end. The constructor is step 0, so the schedule's last value (``min_lr``) is
    reached after ``total_steps - 1`` calls of ``step()``. PyTorch accepts one more call and
    there lets the lr rise again (issue #91765); here that call holds ``min_lr``. A call after
    that (``last_epoch > total_steps``) raises ValueError as PyTorch does when
    ``past_end='raise'`` (default), or keeps holding the final values with ``past_end='hold'``.
    """

    def __init__(self, optimizer: Any, max_lr: float | Sequence[float], total_steps: int | None = None,
                 epochs: int | None = None, steps_per_epoch: int | None = None,
                 pct_start: float = 0.3, anneal_strategy: str = "cos", cycle_momentum: bool = True,
                 base_momentum: float | Sequence[float] = 0.85, max_momentum: float | Sequence[float] = 0.95,
                 div_factor: float = 25.0, final_div_factor: float = 1e4, three_phase: bool = False,
                 last_epoch: int = -1, *, past_end: str = "raise", record_history: bool = False) -> None:
        n = len(_param_groups(optimizer))
        if total_steps is not None:
            total = check.integer("total_steps", total_steps, 1)
        elif epochs is not None and steps_per_epoch is not None:
            total = check.integer("epochs", epochs, 1) * check.integer("steps_per_epoch", steps_per_epoch, 1)
        else:
            raise ValueError("You must define either total_steps OR (epochs AND steps_per_epoch); "
                             f"got total_steps={total_steps!r}, epochs={epochs!r}, steps_per_epoch={steps_per_epoch!r}")
        self.past_end = check.choice("past_end", past_end, PAST_END_MODES)
        self.total_steps = total
        lr_policies = [OneCycle(top, total, pct_start, anneal_strategy, div_factor, final_div_factor, three_phase)
                       for top in _per_group("max_lr", max_lr, n)]
        momentum_policies = None
        if cycle_momentum:
            momentum_policies = [policy.momentum(base_m, max_m) for policy, base_m, max_m in zip(
                lr_policies, _per_group("base_momentum", base_momentum, n), _per_group("max_momentum", max_momentum, n))]
        self._step_limit = total if past_end == "raise" else None
        super().__init__(optimizer, lr_policies, momentum_policies,
                         last_epoch=last_epoch, record_history=record_history)

    def _past_end_message(self, it: int) -> str:
        return (f"Tried to step {it} times. The specified number of total steps is {self.total_steps}; "
                "raise total_steps, or pass past_end='hold' to keep the final lr")

    def state_dict(self) -> dict[str, Any]:
        return {**super().state_dict(), "total_steps": self.total_steps, "past_end": self.past_end}

    def _state_keys(self) -> tuple[str, ...]:
        return (*_STATE_KEYS, "total_steps", "past_end")

    def _check_loaded(self, state, lr_policies, momentum_policies, limit) -> None:
        past_end = check.choice("state['past_end']", state["past_end"], PAST_END_MODES)
        total = check.integer("state['total_steps']", state["total_steps"], 1)
        for kind, policies, cls in (("lr", lr_policies, OneCycle),
                                    ("momentum", momentum_policies or (), OneCycleMomentum)):
            for i, p in enumerate(policies):
                if not isinstance(p, cls) or p.total_steps != total:
                    raise ValueError(f"state['total_steps']={total} but the {kind} policy of param group {i} "
                                     f"is {p!r}; the state contradicts itself, so it is refused")
        if limit != (total if past_end == "raise" else None):
            raise ValueError(f"state['step_limit']={limit!r} does not match past_end={past_end!r} "
                             f"and total_steps={total}; the state contradicts itself, so it is refused")

    def _load_extra(self, state: Mapping[str, Any]) -> None:
        self.total_steps, self.past_end = state["total_steps"], state["past_end"]
