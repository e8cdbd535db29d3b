"""clr's schedulers as genuine ``torch.optim.lr_scheduler.LRScheduler`` subclasses.

``import clr`` never imports torch; this module does, so import it only where torch is::

    from clr.torch import CyclicLR, OneCycleLR, PolicyScheduler

They take the same arguments as :mod:`clr.schedulers` and keep its guarantees: the same floats
as torch's ``CyclicLR``/``OneCycleLR``, a JSON ``state_dict`` (it also survives
``torch.save(..., weights_only=True)``), and no rise of the lr past the end of a one-cycle. Being
``LRScheduler`` instances, they also work where torch or a trainer expects one:

* inside ``SequentialLR`` and ``ChainedScheduler``;
* in a Lightning-style loop (``isinstance(s, LRScheduler)``, ``s.optimizer``, ``state_dict()``,
  ``load_state_dict()``, ``step()``);
* with torch's attributes: ``last_epoch``, ``base_lrs``, ``get_last_lr()`` (of the same type as
  ``group['lr']``: a 0-d tensor lr stays the same tensor, filled in place), ``step(epoch)``
  (jump to iteration ``epoch``, with torch's deprecation warning), and for ``CyclicLR``
  ``max_lrs``, ``mode``, ``gamma``, ``scale_mode``, ``scale_fn(x)``, ``cycle_momentum``,
  ``base_momentums``, ``max_momentums``; for ``OneCycleLR`` ``total_steps``.

How: each class holds the clr scheduler (``self.schedule``) and lets torch's ``LRScheduler`` do
its bookkeeping (``initial_lr``, ``base_lrs``, the optimizer-step check, the warnings).
``last_epoch`` is the clr scheduler's, so ``SequentialLR`` can rewind it, and every write still
goes through :func:`clr.param_groups.set_hyperparams`.
"""
from __future__ import annotations

from collections.abc import Callable, Mapping, Sequence
from typing import Any

try:
    import torch
    from torch.optim.lr_scheduler import LRScheduler
except ImportError as error:  # pragma: no cover - the tests check the message in a subprocess
    raise ImportError("clr.torch needs PyTorch (pip install torch); without it, use clr.schedulers, "
                      "which drive any optimizer with param_groups") from error

from . import schedulers
from .policies import Policy

__all__ = ["PolicyScheduler", "CyclicLR", "OneCycleLR"]

if not hasattr(LRScheduler, "_update_lr"):  # pragma: no cover - older torch
    raise ImportError(f"clr.torch needs a torch whose LRScheduler has _update_lr (2.9 or later, pytorch#149392); "
                      f"this is torch {torch.__version__}. clr.schedulers works with any version")


def _group_lrs(optimizer: Any) -> list:
    """``group['lr']`` of every group, tensors copied (what torch's ``get_last_lr`` returns)."""
    return [g["lr"].clone() if isinstance(g["lr"], torch.Tensor) else g["lr"] for g in optimizer.param_groups]


def _torch_optimizer(optimizer: Any) -> Any:
    # Checked before the clr scheduler writes anything into the groups.
    if not isinstance(optimizer, torch.optim.Optimizer):
        raise TypeError(f"optimizer must be a torch.optim.Optimizer, got {type(optimizer).__name__}; "
                        "clr.schedulers drive any object with param_groups")
    return optimizer


class _ClrLRScheduler(LRScheduler):
    """An ``LRScheduler`` whose values come from a clr scheduler."""

    def __init__(self, schedule: schedulers.PolicyScheduler, last_epoch: int) -> None:
        self.schedule = schedule  # already checked; it took its first step
        super().__init__(schedule.optimizer, last_epoch)  # torch's bookkeeping, then step()

    @property
    def last_epoch(self) -> int:
        return self.schedule.last_epoch

    @last_epoch.setter
    def last_epoch(self, value: int) -> None:  # LRScheduler.__init__ and SequentialLR set it
        self.schedule.last_epoch = value

    def _update_lr(self, epoch: int | None = None) -> None:
        """Called by ``step()`` (and by ``SequentialLR`` with ``epoch=0`` at a milestone)."""
        self.schedule.step(epoch)
        self._last_lr = _group_lrs(self.optimizer)

    def get_lr(self) -> list[float]:
        """The lrs of the current iteration, one per param group."""
        return [policy.value(self.last_epoch) for policy in self.schedule.lr_policies]

    def get_last_momentum(self) -> list[float] | None:
        return self.schedule.get_last_momentum()

    def state_dict(self) -> dict[str, Any]:
        """The clr scheduler's JSON state (plain dicts, lists, numbers and strings)."""
        return self.schedule.state_dict()

    def load_state_dict(self, state: Mapping[str, Any], *,
                        scale_fn: Callable[[float], float] | None = None) -> None:
        """Restore a :meth:`state_dict`; see :meth:`clr.schedulers.PolicyScheduler.load_state_dict`."""
        self.schedule.load_state_dict(state, scale_fn=scale_fn)
        self._last_lr = _group_lrs(self.optimizer)


class PolicyScheduler(_ClrLRScheduler):
    """Any clr policy (or one per param group) as a torch ``LRScheduler``; see
    :class:`clr.schedulers.PolicyScheduler`. ``base_lrs`` are the policies' values at iteration 0."""

    def __init__(self, optimizer: Any, lr_policy: Policy | Sequence[Policy],
                 momentum_policy: Policy | Sequence[Policy] | None = None, last_epoch: int = -1) -> None:
        schedule = schedulers.PolicyScheduler(_torch_optimizer(optimizer), lr_policy, momentum_policy,
                                              last_epoch=last_epoch)
        super().__init__(schedule, last_epoch)
        self.base_lrs = [policy.value(0) for policy in schedule.lr_policies]


class CyclicLR(_ClrLRScheduler):
    """:class:`clr.schedulers.CyclicLR` (PyTorch ``CyclicLR``'s arguments and floats) as a
    torch ``LRScheduler``, with torch's attributes."""

    def __init__(self, optimizer: Any, base_lr: float | Sequence[float], max_lr: float | Sequence[float],
                 step_size_up: float = 2000, step_size_down: float | None = None,
                 mode: str = "triangular", gamma: float = 1.0,
                 scale_fn: Callable[[float], float] | None = None, scale_mode: str = "cycle",
                 cycle_momentum: bool = True, base_momentum: float | Sequence[float] = 0.8,
                 max_momentum: float | Sequence[float] = 0.9, last_epoch: int = -1) -> None:
        schedule = schedulers.CyclicLR(_torch_optimizer(optimizer), base_lr, max_lr, step_size_up, step_size_down,
                                       mode, gamma, scale_fn, scale_mode, cycle_momentum, base_momentum,
                                       max_momentum, last_epoch)
        super().__init__(schedule, last_epoch)
        self.base_lrs = schedule.base_lrs

    # torch's CyclicLR attributes, read off the policies (the same in every group but the bounds)
    max_lrs = property(lambda self: self.schedule.max_lrs)
    mode = property(lambda self: self.schedule.lr_policies[0].mode)
    gamma = property(lambda self: self.schedule.lr_policies[0].gamma)
    cycle_momentum = property(lambda self: self.schedule.momentum_policies is not None)
    base_momentums = property(lambda self: [p.base_momentum for p in self.schedule.momentum_policies or ()])
    max_momentums = property(lambda self: [p.max_momentum for p in self.schedule.momentum_policies or ()])

    @property
    def scale_mode(self) -> str:
        """'cycle' or 'iterations': what ``scale_fn`` is given (the built-in modes fix it, as in torch)."""
        return "cycle" if self.schedule.lr_policies[0]._by_cycle else "iterations"

    def scale_fn(self, x: float) -> float:
        """The amplitude factor at cycle (or iteration) ``x``: torch's ``CyclicLR.scale_fn``."""
        return self.schedule.lr_policies[0]._scale(x)


class OneCycleLR(_ClrLRScheduler):
    """:class:`clr.schedulers.OneCycleLR` (PyTorch ``OneCycleLR``'s arguments and floats, no rise
    past the end) as a torch ``LRScheduler``. Like torch, a fresh one sets each group's
    ``initial_lr`` to ``max_lr / div_factor``, which ``SequentialLR`` restarts from."""

    def __init__(self, optimizer: Any, max_lr: float | Sequence[float], total_steps: int | None = None,
                 epochs: int | None = None, steps_per_epoch: int | None = None,
                 pct_start: float = 0.3, anneal_strategy: str = "cos", cycle_momentum: bool = True,
                 base_momentum: float | Sequence[float] = 0.85, max_momentum: float | Sequence[float] = 0.95,
                 div_factor: float = 25.0, final_div_factor: float = 1e4, three_phase: bool = False,
                 last_epoch: int = -1, *, past_end: str = "raise") -> None:
        schedule = schedulers.OneCycleLR(_torch_optimizer(optimizer), max_lr, total_steps, epochs, steps_per_epoch,
                                         pct_start, anneal_strategy, cycle_momentum, base_momentum, max_momentum,
                                         div_factor, final_div_factor, three_phase, last_epoch, past_end=past_end)
        if last_epoch == -1:
            for group, policy in zip(optimizer.param_groups, schedule.lr_policies):
                group["initial_lr"] = policy.initial_lr
        super().__init__(schedule, last_epoch)

    total_steps = property(lambda self: self.schedule.total_steps)
    past_end = property(lambda self: self.schedule.past_end)
    cycle_momentum = property(lambda self: self.schedule.momentum_policies is not None)
