"""Schedulers: apply a policy from :mod:`clr.policies` to an optimizer, every batch.

A scheduler only touches ``optimizer.param_groups``, a list of dicts with an
``'lr'`` key and, for momentum cycling, a ``'momentum'`` key (SGD) or a
``'betas'`` tuple whose first entry is Adam's beta1. That is all tinynet's and
PyTorch's optimizers have in common, so the same scheduler drives both; this
module imports neither.

Usage, as in PyTorch::

    sched = CyclicLR(opt, base_lr=0.001, max_lr=0.006, step_size_up=2000)
    for batch in data:
        loss = ...; loss.backward(); opt.step()
        sched.step()                      # after the optimizer step

Conventions shared with ``torch.optim.lr_scheduler``:

* the constructor takes the first step: ``last_epoch`` becomes 0 and the
  groups hold the values of iteration 0;
* ``step()`` advances ``last_epoch`` by one and writes the values of that
  iteration; ``get_last_lr()`` returns them;
* ``last_epoch=k`` resumes as if ``k`` steps had been taken (the constructor
  then moves to ``k + 1``, like PyTorch).

``CyclicLR`` and ``OneCycleLR`` take PyTorch's arguments and defaults and give
the same lr and momentum floats, with three deliberate differences: bad input
(``base_lr > max_lr``, non-positive step sizes, ``gamma`` outside (0, 1], ...)
raises ValueError; ``OneCycleLR`` never lets the lr rise again past the end
(see its docstring); and ``state_dict()`` is plain JSON.
"""

from __future__ import annotations

from collections.abc import Callable, Mapping, Sequence
from typing import Any

from .param_groups import momentum_key, set_hyperparams
from .policies import (
    Cyclic,
    Inverse,
    OneCycle,
    OneCycleMomentum,
    Policy,
    _find_scale_fn,
    _integer,
)

__all__ = ["PolicyScheduler", "CyclicLR", "OneCycleLR", "PAST_END_MODES"]

PAST_END_MODES = ("raise", "hold")
_STATE_VERSION = 1


def _param_groups(optimizer: Any) -> list[dict]:
    """The optimizer's ``param_groups``, checked once (duck typing)."""
    groups = getattr(optimizer, "param_groups", None)
    if not isinstance(groups, list) or not all(isinstance(g, dict) and "lr" in g for g in groups):
        raise TypeError(
            f"optimizer must have param_groups, a list of dicts with an 'lr' key "
            f"(as tinynet.optim and torch.optim optimizers do); got {type(optimizer).__name__}"
        )
    if not groups:
        raise ValueError("optimizer.param_groups is empty; give the optimizer some parameters first")
    return groups


def _per_group(name: str, value: Any, n_groups: int) -> list:
    """One value for every param group: a list of ``n_groups`` or a single value repeated."""
    if isinstance(value, (list, tuple)):
        if len(value) != n_groups:
            raise ValueError(
                f"{name} has {len(value)} values but the optimizer has {n_groups} param groups; "
                "give one value, or one per param group"
            )
        return list(value)
    return [value] * n_groups


def _momentum_keys(groups: list[dict]) -> list[str]:
    """Per group, the key that holds momentum: 'betas' (Adam: beta1) or 'momentum' (SGD)."""
    keys = []
    for i, group in enumerate(groups):
        key = momentum_key(group)
        if key is not None:
            keys.append(key)
        else:
            raise ValueError(
                "optimizer must support momentum or beta1 with cycle_momentum enabled: "
                f"param group {i} has neither 'momentum' nor 'betas' (keys: {sorted(group)}); "
                "pass cycle_momentum=False (or momentum_policy=None)"
            )
    return keys


def _policies(name: str, value: Any, n_groups: int) -> list[Policy]:
    policies = _per_group(name, value, n_groups)
    for i, policy in enumerate(policies):
        if not isinstance(policy, Policy):
            raise TypeError(
                f"{name} must be a clr.policies.Policy (e.g. Triangular(0.001, 0.006, 2000)) "
                f"or a list with one per param group; got {policy!r}"
                + (f" for param group {i}" if n_groups > 1 else "")
            )
    return policies


class PolicyScheduler:
    """Set each param group's lr (and optionally momentum) from policies.

    Args:
        optimizer: anything with ``param_groups`` (list of dicts with 'lr').
        lr_policy: a :class:`~clr.policies.Policy`, or a list with one per group.
        momentum_policy: None (momentum untouched), a policy or a list; it
            writes ``group['momentum']``, or ``group['betas'][0]`` when the
            group has 'betas'. ``clr.policies.inverse(lr_policy, 0.85, 0.95)``
            gives the usual inverse cycling.
        last_epoch: index of the last batch already done; -1 starts fresh.
        record_history: keep ``history``, a list of ``(iteration, lrs,
            momenta_or_None)`` per step (not saved in ``state_dict``).

    Per step the cost is one policy call per group (a few microseconds in all).
    """

    # step() raises once last_epoch would pass this (OneCycleLR sets it
    # before calling __init__); None: no limit.
    _step_limit: int | None = None

    def __init__(self, optimizer: Any, lr_policy: Policy | Sequence[Policy],
                 momentum_policy: Policy | Sequence[Policy] | None = None, *,
                 last_epoch: int = -1, record_history: bool = False) -> None:
        groups = _param_groups(optimizer)
        self.optimizer = optimizer
        self._lr_policies = _policies("lr_policy", lr_policy, len(groups))
        self._momentum_policies: list[Policy] | None = None
        self._momentum_keys: list[str] | None = None
        if momentum_policy is not None:
            self._momentum_policies = _policies("momentum_policy", momentum_policy, len(groups))
            self._momentum_keys = _momentum_keys(groups)
        self.last_epoch = _integer("last_epoch", last_epoch, -1)
        self._last_lr: list[float] = []
        self._last_momentum: list[float] | None = None
        self.history: list[tuple[int, list[float], list[float] | None]] | None = [] if record_history else None
        self.step()

    # -- the per-batch path: keep it short -------------------------------
    def step(self) -> None:
        """Advance one iteration and write its lr (and momentum) into the param groups."""
        it = self.last_epoch + 1
        if self._step_limit is not None and it > self._step_limit:
            raise ValueError(self._past_end_message(it))
        self.last_epoch = it
        self._apply(it)

    def _apply(self, it: int) -> None:
        groups = self.optimizer.param_groups
        if len(groups) != len(self._lr_policies):
            raise ValueError(
                f"the optimizer now has {len(groups)} param groups but the scheduler was built "
                f"for {len(self._lr_policies)}; build a new scheduler after add_param_group"
            )
        lrs = [policy(it) for policy in self._lr_policies]
        momenta = None
        if self._momentum_policies is not None:
            momenta = [policy(it) for policy in self._momentum_policies]
            self._last_momentum = momenta
        for i, group in enumerate(groups):
            set_hyperparams(group, lr=lrs[i], momentum=None if momenta is None else momenta[i])
        self._last_lr = lrs
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

        A custom ``Cyclic`` scale_fn is recorded by name only
        (``{"custom": "module.name"}``); ``load_state_dict`` then needs the
        function again (see there). The optimizer is not included: save it
        separately, as with PyTorch.
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

    def _check_header(self, state: Any) -> None:
        if not isinstance(state, Mapping) or state.get("scheduler") != type(self).__name__:
            found = state.get("scheduler") if isinstance(state, Mapping) else type(state).__name__
            raise ValueError(f"state is not a {type(self).__name__} state_dict (scheduler={found!r})")
        if state.get("version") != _STATE_VERSION:
            raise ValueError(f"state version {state.get('version')!r} is not supported (expected {_STATE_VERSION})")

    def load_state_dict(self, state: Mapping[str, Any], *,
                        scale_fn: Callable[[float], float] | None = None) -> None:
        """Restore a :meth:`state_dict` (also after ``json.loads``) and write
        that iteration's lr/momentum into the optimizer's param groups, so a new
        optimizer + new scheduler + ``load_state_dict`` continues the same sequence.

        A custom scale function is never saved: pass it as ``scale_fn``, or
        build this scheduler with it (``CyclicLR(..., scale_fn=f)``) and it is
        reused; if neither is there, ValueError.
        """
        self._check_header(state)
        groups = self.optimizer.param_groups
        saved_lr = state["lr_policies"]
        if len(saved_lr) != len(groups):
            raise ValueError(
                f"state has policies for {len(saved_lr)} param groups but the optimizer has {len(groups)}"
            )

        def rebuild(data: Mapping[str, Any], i: int) -> Policy:
            fn = scale_fn if scale_fn is not None else _find_scale_fn(self._lr_policies[i])
            return Policy.from_dict(data, scale_fn=fn)

        lr_policies = [rebuild(d, i) for i, d in enumerate(saved_lr)]
        saved_m = state.get("momentum_policies")
        momentum_policies = momentum_keys = None
        if saved_m is not None:
            if len(saved_m) != len(groups):
                raise ValueError(
                    f"state has momentum policies for {len(saved_m)} param groups but the optimizer has {len(groups)}"
                )
            momentum_policies = [rebuild(d, i) for i, d in enumerate(saved_m)]
            momentum_keys = _momentum_keys(groups)
        last_epoch = _integer("state['last_epoch']", state["last_epoch"], 0)
        limit = state.get("step_limit")
        # Everything checked: now change the scheduler, then the optimizer.
        self._lr_policies, self._momentum_policies = lr_policies, momentum_policies
        self._momentum_keys = momentum_keys
        self._last_momentum = None
        self._step_limit = None if limit is None else _integer("state['step_limit']", limit, 1)
        self.last_epoch = last_epoch
        self._apply(last_epoch)


class CyclicLR(PolicyScheduler):
    """Cyclical learning rate (Smith 2017) with PyTorch ``CyclicLR``'s signature.

    Per param group (a float or a list per group for the lr/momentum bounds),
    the lr follows :class:`clr.policies.Cyclic` and, with ``cycle_momentum``,
    the momentum (or Adam's beta1) follows ``Inverse``: ``max_momentum`` at
    ``base_lr``, ``base_momentum`` at ``max_lr``.

    Same floats as ``torch.optim.lr_scheduler.CyclicLR`` for the same
    arguments and number of ``step()`` calls. Differences: ``base_lr >
    max_lr``, non-positive step sizes, ``gamma`` outside (0, 1] and an unknown
    ``mode`` raise ValueError; ``state_dict`` is JSON; a custom ``scale_fn`` is
    saved by name and must be passed again to the constructor of the
    scheduler that loads the state (PyTorch silently drops lambdas).
    """

    def __init__(self, optimizer: Any, base_lr: float | Sequence[float], max_lr: float | Sequence[float],
                 step_size_up: float = 2000, step_size_down: float | None = None,
                 mode: str = "triangular", gamma: float = 1.0,
                 scale_fn: Callable[[float], float] | None = None, scale_mode: str = "cycle",
                 cycle_momentum: bool = True, base_momentum: float | Sequence[float] = 0.8,
                 max_momentum: float | Sequence[float] = 0.9, last_epoch: int = -1, *,
                 record_history: bool = False) -> None:
        groups = _param_groups(optimizer)
        n = len(groups)
        lr_policies = [
            Cyclic(base, top, step_size_up, step_size_down, mode, gamma, scale_fn, scale_mode)
            for base, top in zip(_per_group("base_lr", base_lr, n), _per_group("max_lr", max_lr, n))
        ]
        momentum_policies = None
        if cycle_momentum:
            _momentum_keys(groups)  # fail early, before any policy work
            momentum_policies = [
                Inverse(policy, base_m, max_m) for policy, base_m, max_m in zip(
                    lr_policies, _per_group("base_momentum", base_momentum, n),
                    _per_group("max_momentum", max_momentum, n))
            ]
        super().__init__(optimizer, lr_policies, momentum_policies,
                         last_epoch=last_epoch, record_history=record_history)

    @property
    def base_lrs(self) -> list[float]:
        return [p.base_lr for p in self._lr_policies]  # type: ignore[attr-defined]

    @property
    def max_lrs(self) -> list[float]:
        return [p.max_lr for p in self._lr_policies]  # type: ignore[attr-defined]


class OneCycleLR(PolicyScheduler):
    """The 1cycle policy with PyTorch ``OneCycleLR``'s signature and floats.

    The lr follows :class:`clr.policies.OneCycle` (two-phase cos/linear, or
    ``three_phase=True`` for Smith's form with the final annihilation), the
    momentum (or beta1) :class:`clr.policies.OneCycleMomentum`.
    ``total_steps`` wins over ``epochs * steps_per_epoch``.

    Past the end. The constructor is step 0, so the schedule's last value
    (``min_lr``) is reached after ``total_steps - 1`` calls of ``step()``.
    PyTorch accepts one more call and there lets the lr rise again (issue
    #91765); here that call holds ``min_lr``. A call after that
    (``last_epoch > total_steps``) raises ValueError as PyTorch does when
    ``past_end='raise'`` (default), or keeps holding the final values with
    ``past_end='hold'``.
    """

    def __init__(self, optimizer: Any, max_lr: float | Sequence[float], total_steps: int | None = None,
                 epochs: int | None = None, steps_per_epoch: int | None = None,
                 pct_start: float = 0.3, anneal_strategy: str = "cos", cycle_momentum: bool = True,
                 base_momentum: float | Sequence[float] = 0.85, max_momentum: float | Sequence[float] = 0.95,
                 div_factor: float = 25.0, final_div_factor: float = 1e4, three_phase: bool = False,
                 last_epoch: int = -1, *, past_end: str = "raise", record_history: bool = False) -> None:
        groups = _param_groups(optimizer)
        n = len(groups)
        if total_steps is not None:
            total = _integer("total_steps", total_steps, 1)
        elif epochs is not None and steps_per_epoch is not None:
            total = _integer("epochs", epochs, 1) * _integer("steps_per_epoch", steps_per_epoch, 1)
        else:
            raise ValueError(
                "You must define either total_steps OR (epochs AND steps_per_epoch); "
                f"got total_steps={total_steps!r}, epochs={epochs!r}, steps_per_epoch={steps_per_epoch!r}"
            )
        if past_end not in PAST_END_MODES:
            raise ValueError(f"past_end must be 'raise' or 'hold', got {past_end!r}")
        lr_policies = [
            OneCycle(top, total, pct_start, anneal_strategy, div_factor, final_div_factor, three_phase)
            for top in _per_group("max_lr", max_lr, n)
        ]
        momentum_policies = None
        if cycle_momentum:
            _momentum_keys(groups)
            momentum_policies = [
                OneCycleMomentum(total, pct_start, anneal_strategy, base_m, max_m, three_phase)
                for base_m, max_m in zip(_per_group("base_momentum", base_momentum, n),
                                         _per_group("max_momentum", max_momentum, n))
            ]
        self.total_steps = total
        self.past_end = past_end
        self._step_limit = total if past_end == "raise" else None
        super().__init__(optimizer, lr_policies, momentum_policies,
                         last_epoch=last_epoch, record_history=record_history)

    def _past_end_message(self, it: int) -> str:
        return (
            f"Tried to step {it} times. The specified number of total steps is {self.total_steps}; "
            "raise total_steps, or pass past_end='hold' to keep the final lr"
        )

    def state_dict(self) -> dict[str, Any]:
        state = super().state_dict()
        state["total_steps"] = self.total_steps
        state["past_end"] = self.past_end
        return state

    def load_state_dict(self, state: Mapping[str, Any], *,
                        scale_fn: Callable[[float], float] | None = None) -> None:
        self._check_header(state)
        if state.get("past_end") not in PAST_END_MODES:
            raise ValueError(f"state['past_end'] must be 'raise' or 'hold', got {state.get('past_end')!r}")
        total = _integer("state['total_steps']", state.get("total_steps"), 1)
        super().load_state_dict(state, scale_fn=scale_fn)
        self.total_steps = total
        self.past_end = state["past_end"]
