"""A 2-D loss surface with two broad plateaus before a sharp minimum, for the CLR picture.

Smith's argument for cyclical learning rates (CLR paper, §3; seed article 000): "saddle points have
small gradients that slow the learning process", and a larger learning rate crosses such plateaus
quickly. This toy makes that visible. Walking from the start at the left towards the minimum:

    plateau 1  ->  cliff at s1  ->  plateau 2  ->  cliff at s2  ->  cone with its tip at (m, 0)

On a plateau the gradient is small (`slope`, against about h / (4 w) on a cliff); near the edge of a
cliff the surface bends down along x and up along y (the Hessian is indefinite): broad, flat,
saddle-shaped regions. The minimum is the rounded tip of a cone, sharply curved (curvature
slope / tip along x, slope / tip + k across), so gradient descent settles there only for
lr < 2 / (slope / tip + k), 1/3 with the defaults. Hence:
a small constant lr creeps across the plateaus, a large one crosses them fast but rattles around the
tip, and a cyclical lr does both: it crosses in its high phases and settles in its low ones.

    f(x, y) = h * (sigma((s1 - x) / w) + sigma((s2 - x) / w))     two cliffs of height h, width w
            + slope * (sqrt((x - m)^2 + y^2 + tip^2) - tip)        a cone: gradient `slope` far out
            + k / 2 * y^2                                          the valley walls

with sigma(z) = 1 / (1 + exp(-z)). Pure NumPy; `loss` and `grad` broadcast over arrays of points.
"""
from __future__ import annotations

from dataclasses import dataclass
from typing import Callable

import numpy as np


def _sigmoid(z):
    return 0.5 * (1.0 + np.tanh(0.5 * z))  # = 1 / (1 + exp(-z)), without overflow for large |z|


@dataclass(frozen=True)
class SaddleToy:
    """The surface above; the defaults are the ones pictured in docs/data.md."""
    h: float = 1.0          # height of each cliff
    w: float = 0.15         # width of the cliffs
    s1: float = -2.5        # x of the first cliff
    s2: float = 0.0         # x of the second cliff
    slope: float = 0.1      # gradient of the cone away from its tip: the plateaus' slope
    tip: float = 0.02       # radius of the cone's rounded tip: curvature there = slope / tip = 5
    m: float = 2.5          # x of the minimum (y = 0)
    k: float = 1.0          # curvature of the valley across (in y)
    start: tuple[float, float] = (-5.0, 1.5)

    def loss(self, x, y):
        """f(x, y); x and y broadcast."""
        x, y = np.asarray(x, dtype=np.float64), np.asarray(y, dtype=np.float64)
        cliffs = self.h * (_sigmoid((self.s1 - x) / self.w) + _sigmoid((self.s2 - x) / self.w))
        cone = self.slope * (np.sqrt((x - self.m) ** 2 + y ** 2 + self.tip ** 2) - self.tip)
        return cliffs + cone + 0.5 * self.k * y ** 2

    def grad(self, x, y):
        """(df/dx, df/dy) at (x, y), analytically; x and y broadcast."""
        x, y = np.asarray(x, dtype=np.float64), np.asarray(y, dtype=np.float64)
        s_1 = _sigmoid((self.s1 - x) / self.w)
        s_2 = _sigmoid((self.s2 - x) / self.w)
        d_cliffs = -self.h / self.w * (s_1 * (1 - s_1) + s_2 * (1 - s_2))  # sigma' = sigma (1 - sigma)
        radius = np.sqrt((x - self.m) ** 2 + y ** 2 + self.tip ** 2)
        return d_cliffs + self.slope * (x - self.m) / radius, (self.slope / radius + self.k) * y

    def minimum(self) -> tuple[float, float]:
        """The global minimum: y = 0 and df/dx = 0 near m (the cliffs' tails push it a hair right)."""
        # df/dx < 0 at m (the cliffs only ever push right); find a point right of m where df/dx > 0
        lo, hi = self.m, self.m + self.tip
        while self.grad(hi, 0.0)[0] <= 0:
            hi = self.m + 2 * (hi - self.m)
            if hi - self.m > 1e6:
                raise ValueError(f"SaddleToy.minimum: no minimum near m={self.m}; the cliffs are too "
                                 "close to it or `slope` is too small")
        for _ in range(100):  # bisection to machine precision
            mid = 0.5 * (lo + hi)
            if self.grad(mid, 0.0)[0] < 0:
                lo = mid
            else:
                hi = mid
        return 0.5 * (lo + hi), 0.0


def descend(toy: SaddleToy, lr: Callable[[int], float] | float, steps: int, *,
            start: tuple[float, float] | None = None, noise: float = 0.0,
            rng: np.random.Generator | None = None) -> np.ndarray:
    """Gradient descent on `toy`: p <- p - lr(t) * (grad f(p) + noise * N(0, I)), t = 0..steps-1.

    `lr` is a schedule, called with the step number t, or a constant. Gaussian noise of std `noise`
    on the gradient mimics the noise of mini-batch SGD; it is drawn from `rng` (required when
    noise > 0). Returns the trajectory, shape (steps + 1, 2), starting at `start` (default
    ``toy.start``). Raises FloatingPointError if the iterate stops being finite (lr far too large).
    """
    if isinstance(steps, bool) or not isinstance(steps, (int, np.integer)) or steps < 0:
        raise ValueError(f"descend: steps must be an int >= 0, got {steps!r}")
    if noise < 0:
        raise ValueError(f"descend: noise must be >= 0, got {noise!r}")
    if noise > 0 and not isinstance(rng, np.random.Generator):
        raise TypeError("descend: noise > 0 needs rng, a numpy Generator "
                        "(numpy.random.default_rng(seed))")
    schedule = lr if callable(lr) else (lambda t, value=float(lr): value)
    path = np.empty((steps + 1, 2))
    path[0] = toy.start if start is None else start
    for t in range(steps):
        rate = float(schedule(t))
        if not np.isfinite(rate) or rate < 0:
            raise ValueError(f"descend: the learning rate at step {t} is {rate}; "
                             "it must be finite and >= 0")
        with np.errstate(over="ignore", invalid="ignore"):  # divergence is reported below instead
            g = np.array(toy.grad(*path[t]))
            if noise > 0:
                g = g + noise * rng.standard_normal(2)
            path[t + 1] = path[t] - rate * g
        if not np.all(np.isfinite(path[t + 1])):
            raise FloatingPointError(f"descend: diverged at step {t} (lr {rate}); use a smaller lr")
    return path
