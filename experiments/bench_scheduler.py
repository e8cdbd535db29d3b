"""Microseconds per scheduler step (the cost CLR adds to a training step).

Usage: python experiments/bench_scheduler.py [--steps N] [--repeats R] [--groups G]

Prints, for ``CyclicLR.step()``, ``OneCycleLR.step()`` and
``PolicyScheduler.step()``, the median over ``repeats`` runs of the time per
step of ``steps`` consecutive calls, measured with ``time.perf_counter``. The
optimizer is a stand-in with plain ``param_groups`` (an SGD-like group with
'momentum'), so only the scheduler is timed. Then it times a real tinynet
training step (forward, backward, SGD with momentum) of the demo's model, the
MNIST-1D CNN at batch 100, and prints each scheduler's cost as a percentage of it.
"""

from __future__ import annotations

import argparse
import statistics
import time

from clr.policies import paper_cifar10_triangular2
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
            _FakeOptimizer(n_groups), lr_policy, lr_policy.momentum(0.85, 0.95)),
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


def tinynet_step_us(repeats: int) -> float:
    """Median microseconds of one training step of the demo's model (MNIST-1D CNN, batch 100)."""
    import numpy as np

    import tinynet as tn
    import tinynet.functional as F
    from clr.lab.models import mnist1d_cnn
    from tinynet.data import load_mnist1d

    data = load_mnist1d()
    model = mnist1d_cnn(rng=np.random.default_rng(0))
    opt = tn.optim.SGD(model.parameters(), lr=0.01, momentum=0.9)
    x, y = tn.Tensor(data.x_train[:100]), data.y_train[:100]

    def step():
        loss = F.cross_entropy(model(x), y)
        opt.zero_grad()
        loss.backward()
        opt.step()

    for _ in range(10):  # warm-up
        step()
    samples = []
    for _ in range(repeats):
        start = time.perf_counter()
        for _ in range(10):
            step()
        samples.append((time.perf_counter() - start) / 10 * 1e6)
    return statistics.median(samples)


def main(argv: list[str] | None = None) -> None:
    parser = argparse.ArgumentParser(description=__doc__.splitlines()[0])
    parser.add_argument("--steps", type=int, default=2000, help="step() calls per timing run")
    parser.add_argument("--repeats", type=int, default=25, help="timing runs; the median is printed")
    parser.add_argument("--groups", type=int, default=1, help="param groups in the fake optimizer")
    args = parser.parse_args(argv)
    print(f"param groups: {args.groups}, {args.steps} steps x {args.repeats} repeats (median)")
    costs = {label: time_per_step(make, args.steps, args.repeats)
             for label, make in _schedulers(args.groups, args.steps).items()}
    train_us = tinynet_step_us(args.repeats)
    print(f"{'tinynet training step (MNIST-1D CNN, batch 100)':<58s} {train_us:9.1f} us/step")
    for label, us in costs.items():
        print(f"{label:<58s} {us:9.2f} us/step  = {100 * us / train_us:.3f} % of a training step")


if __name__ == "__main__":
    main()
