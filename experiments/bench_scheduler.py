"""Microseconds per scheduler step (the cost CLR adds to a training step).

Usage: python experiments/bench_scheduler.py [--steps N] [--repeats R] [--groups G]

Prints, for ``CyclicLR.step()``, ``OneCycleLR.step()`` and
``PolicyScheduler.step()``, the median over ``repeats`` runs of the time per
step of ``steps`` consecutive calls, measured with ``time.perf_counter``. The
optimizer is a stand-in with plain ``param_groups`` (an SGD-like group with
'momentum'), so only the scheduler is timed; put the number next to a tinynet
training step to see the relative cost.
"""

from __future__ import annotations

import argparse
import statistics
import time

from clr.policies import inverse, paper_cifar10_triangular2
from clr.schedulers import CyclicLR, OneCycleLR, PolicyScheduler


class _FakeOptimizer:
    """Just the param_groups a scheduler sees."""

    def __init__(self, n_groups: int) -> None:
        self.param_groups = [{"params": [], "lr": 0.1, "momentum": 0.9} for _ in range(n_groups)]


def _schedulers(n_groups: int, steps: int) -> dict:
    lr_policy = paper_cifar10_triangular2()
    return {
        "CyclicLR.step()": lambda: CyclicLR(_FakeOptimizer(n_groups), 0.001, 0.006, step_size_up=2000),
        # past_end='hold': the run may exceed total_steps without raising
        "OneCycleLR.step()": lambda: OneCycleLR(_FakeOptimizer(n_groups), 0.1, total_steps=steps, past_end="hold"),
        "PolicyScheduler.step() (3-stage triangular2 + momentum)": lambda: PolicyScheduler(
            _FakeOptimizer(n_groups), lr_policy, inverse(lr_policy, 0.85, 0.95)),
    }


def time_per_step(make, steps: int, repeats: int) -> float:
    """Median over ``repeats`` of (seconds for ``steps`` calls of step()) / steps, in microseconds."""
    samples = []
    for _ in range(repeats):
        scheduler = make()
        step = scheduler.step
        start = time.perf_counter()
        for _ in range(steps):
            step()
        samples.append((time.perf_counter() - start) / steps * 1e6)
    return statistics.median(samples)


def main(argv: list[str] | None = None) -> None:
    parser = argparse.ArgumentParser(description=__doc__.splitlines()[0])
    parser.add_argument("--steps", type=int, default=2000, help="step() calls per timing run")
    parser.add_argument("--repeats", type=int, default=25, help="timing runs; the median is printed")
    parser.add_argument("--groups", type=int, default=1, help="param groups in the fake optimizer")
    args = parser.parse_args(argv)
    print(f"param groups: {args.groups}, {args.steps} steps x {args.repeats} repeats (median)")
    for label, make in _schedulers(args.groups, args.steps).items():
        print(f"{label:<58s} {time_per_step(make, args.steps, args.repeats):7.2f} us/step")


if __name__ == "__main__":
    main()
