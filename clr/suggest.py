"""Read CLR bounds (base_lr, max_lr) off an LR range test.

Every rule here is a pure function of arrays: the learning rates of the sweep (increasing) and the
curve measured at each of them (smoothed loss or accuracy). Each returns a :class:`Bounds`, which
unpacks as ``(base_lr, max_lr)`` so that ``CyclicLR(optimizer, *bounds)`` works.

==============  =====================================================================  ==================
method          max_lr                                                                 base_lr
==============  =====================================================================  ==================
``accuracy``    where the smoothed accuracy stops rising (Smith 2017, section 3.3)     where it starts rising
``minimum``     lr at the minimum loss / 10 (fastai ``minimum``)                        max / base_ratio
``steep``       left end of the steepest step of loss vs log(lr) (fastai ``steep``)     max / base_ratio
``valley``      about half-way down the longest decreasing run (fastai ``valley``)     max / base_ratio
``slide``       fastai's interval slide rule on the loss gradient (fastai ``slide``)   max / base_ratio
``steepest``    argmin of np.gradient(loss) over the index (torch-lr-finder)           max / base_ratio
==============  =====================================================================  ==================

Each rule named after a peer computes exactly what that peer's source computes on the same curve;
where it differs, it raises instead of answering: every rule refuses a curve without signal (flat,
a rounding slope, pure noise, a loss that only rises) and, given the raw losses
(``RangeTestResult.suggest`` passes them), a reading that lies in the flat, noisy start of the sweep.
:func:`clr.find_bounds` is the library's answer that needs no rule at all.

``base_ratio`` defaults to 4: the CLR paper sets base_lr to "1/3 or 1/4 of the maximum" and we take
the more cautious of the two. (For a one-cycle schedule Smith uses 10 to 20 instead: pass it.)

The loss rules first trim the curve like fastai: keep ``[skip_start : n - skip_end]`` (default
``n // 10`` and 5: the loss barely moves at the start and its smoothing is still warming up; at the
end it is already blowing up), then cut at the first non-finite value. torch-lr-finder's
``steepest`` skips 10 and 5, as its ``plot()`` does, and ``RangeTestResult.suggest('steepest')``
reads it off torch-lr-finder's own smoothing of the raw losses (:func:`torch_lr_finder_losses`).
That is exact wherever clr's test ran at least as far as torch-lr-finder's would have (clr stops
at 4x its best smoothed loss by default, torch-lr-finder at 5x: pass ``diverge_th=5`` to the range
test for a curve that is always long enough).
"""
from __future__ import annotations

import math
import numbers
from dataclasses import dataclass, field
from typing import Any, Mapping

import numpy as np

METHODS = ("accuracy", "minimum", "steep", "valley", "slide", "steepest")
DEFAULT_BASE_RATIO = 4.0
DEFAULT_SKIP_END = 5
MIN_POINTS = 5  # fewer points than this after trimming cannot show a shape worth reading


@dataclass(frozen=True)
class Bounds:
    """A suggested pair of CLR bounds; iterates as ``(base_lr, max_lr)``.

    ``method`` names the rule and ``details`` holds what it measured (indices into the arrays it was
    given, the lr at the loss minimum, thresholds...), for plots and reports.

        base_lr, max_lr = bounds
        scheduler = CyclicLR(optimizer, *bounds)
    """

    base_lr: float
    max_lr: float
    method: str
    details: Mapping[str, Any] = field(default_factory=dict, compare=False)

    def __post_init__(self):
        if not (math.isfinite(self.base_lr) and math.isfinite(self.max_lr) and 0 < self.base_lr < self.max_lr):
            raise ValueError(f"Bounds need 0 < base_lr < max_lr, both finite; got base_lr={self.base_lr!r}, "
                             f"max_lr={self.max_lr!r} (method={self.method!r})")

    def __iter__(self):
        return iter((self.base_lr, self.max_lr))

    def __repr__(self):
        return f"Bounds(base_lr={self.base_lr:.4g}, max_lr={self.max_lr:.4g}, method={self.method!r})"

    def report(self) -> str:
        """A few lines for a report: the bounds, then why (``details['why']`` when the rule gives reasons)."""
        lines = [f"base_lr = {self.base_lr:.4g}, max_lr = {self.max_lr:.4g} ({self.method})"]
        lines += [f"- {line}" for line in self.details.get("why", ())]
        return "\n".join(lines)


# ----------------------------------------------------------------------------- input checks

def _curve(lrs, values, name: str):
    """lrs and values as float64 1-D arrays of one length; lrs finite and strictly increasing."""
    lrs = np.asarray(lrs, dtype=np.float64)
    values = np.asarray(values, dtype=np.float64)
    if lrs.ndim != 1 or values.ndim != 1 or lrs.shape != values.shape:
        raise ValueError(f"lrs and {name} must be 1-D arrays of the same length; got shapes "
                         f"{lrs.shape} and {values.shape}")
    if not np.all(np.isfinite(lrs)):
        raise ValueError(f"lrs must be finite; got {lrs[~np.isfinite(lrs)][:3]} among them")
    if lrs.size > 1 and not np.all(np.diff(lrs) > 0):
        raise ValueError("lrs must be strictly increasing (one range-test sweep); sort them or pass one sweep")
    return lrs, values


def _is_real(v) -> bool:
    """A real number (NumPy scalars included), but not a bool."""
    return isinstance(v, numbers.Real) and not isinstance(v, bool)


def _check_ratio(base_ratio):
    if not (_is_real(base_ratio) and math.isfinite(base_ratio) and base_ratio > 1):
        raise ValueError(f"base_ratio must be a finite number > 1 (base_lr = max_lr / base_ratio); "
                         f"got {base_ratio!r}")
    return float(base_ratio)


def _first_nonfinite(values) -> int:
    """Index of the first NaN/inf in values, or len(values) if there is none."""
    bad = np.flatnonzero(~np.isfinite(values))
    return int(bad[0]) if bad.size else len(values)


def trim_curve(lrs, values, skip_start=None, skip_end=DEFAULT_SKIP_END, name="losses"):
    """fastai's trimming: keep ``values[skip_start : n - skip_end]``, then cut at its first non-finite value.

    Returns ``(lrs, values, offset)``, where ``offset`` is the index in the input of the first kept
    point. ``skip_start=None`` means ``n // 10`` with n = the number of points given
    (``RangeTestResult.suggest`` passes fastai's ``num_iter // 10`` of the planned steps).
    Raises ValueError when fewer than 5 points are left.
    """
    lrs, values = _curve(lrs, values, name)
    n = len(values)
    if skip_start is None:
        skip_start = n // 10
    for arg, v in (("skip_start", skip_start), ("skip_end", skip_end)):
        if isinstance(v, bool) or not isinstance(v, (int, np.integer)) or v < 0:
            raise ValueError(f"{arg} must be an integer >= 0; got {v!r}")
    stop = skip_start + _first_nonfinite(values[skip_start:n - skip_end]) if skip_start < n - skip_end else skip_start
    kept = stop - skip_start
    if kept < MIN_POINTS:
        cut = _first_nonfinite(values)
        where = f"the first non-finite value is at index {cut}" if cut < n else "all values are finite"
        raise ValueError(f"need at least {MIN_POINTS} points to suggest bounds, but only {max(kept, 0)} of "
                         f"{n} are left after trimming (skip_start={skip_start}, skip_end={skip_end}; {where}). "
                         "Run the range test for more iterations (num_iter), or lower skip_start/skip_end.")
    return lrs[skip_start:stop], values[skip_start:stop], int(skip_start)


SIGNAL_Z = 4.0        # the loss must fall by this many standard errors of its noise...
SIGNAL_REL = 1e-3     # ...and by this fraction of its starting value


def significant_descent(lrs, losses, smoothed, *, what="the range test", advice="run a longer test",
                        z=SIGNAL_Z, rel=SIGNAL_REL) -> tuple[int, int]:
    """Check that a sweep's loss really falls; returns (n_finite, index of the lowest smoothed loss).

    ``losses`` are the raw per-step losses, ``smoothed`` their moving average. With h = max(3, n // 10)
    (n = steps before the first non-finite value) and ``low`` = argmin of the smoothed loss:

        head = losses[:h],   dip = losses[low - h + 1 : low + 1]     (the steps the average at low saw)
        drop = mean(head) - mean(dip),   se = sqrt(var(head) / h + var(dip) / h)
        signal  <=>  low >= h  and  drop > z * se  and  drop > rel * |mean(head)|

    A flat curve (drop 0), a rounding slope (drop ~1e-14) and pure noise (drop of a standard error
    or two, from picking the lowest point) all fail; so does a loss that is lowest in its first
    tenth (it diverged at once). Raises ValueError saying which, what was seen and ``advice``.
    """
    lrs, losses = _curve(lrs, losses, "losses")
    smoothed = np.asarray(smoothed, dtype=np.float64)
    n = min(_first_nonfinite(losses), _first_nonfinite(smoothed))
    if n < 2 * MIN_POINTS:
        raise ValueError(f"{what} has only {n} finite loss values (up to lr {lrs[max(n - 1, 0)]:.3g}), too few to "
                         f"show a descent: it diverged almost at once; lower start_lr, or {advice}")
    h = max(3, n // 10)
    low = int(np.argmin(smoothed[:n]))
    head = losses[:h]
    dip = losses[max(0, low - h + 1):low + 1]
    start = float(np.mean(head))
    if low < h:
        raise ValueError(f"{what}: the loss never falls below where it started (lowest in the first tenth of the "
                         f"sweep, at lr {lrs[low]:.3g}, then rising up to lr {lrs[n - 1]:.3g}); start_lr is already "
                         f"too large or the model does not learn: lower start_lr, or {advice}")
    drop = start - float(np.mean(dip))
    se = math.sqrt(float(np.var(head, ddof=1)) / len(head) + float(np.var(dip, ddof=1)) / len(dip))
    if not (drop > z * se and drop > rel * abs(start)):
        kind = "flat" if drop <= rel * abs(start) else "no more than noise"
        raise ValueError(f"{what} shows no usable signal: the loss is {kind} (from {start:.4g} it falls by only "
                         f"{drop:.3g}, noise standard error {se:.3g}, between lr {lrs[0]:.3g} and {lrs[n - 1]:.3g}); "
                         f"no bounds are read off noise. Try a larger end_lr, {advice}")
    return n, low


ACC_SIGNAL = 6.0  # an accuracy rise must exceed this many point-to-point noise levels


def noise_level(values) -> float:
    """The standard deviation of a curve's point-to-point noise, robust to its trend and to outliers:

        sigma = 1.4826 * median(|d - median(d)|) / sqrt(2),   d = np.diff(values)

    (1.4826 * MAD estimates a normal standard deviation; a difference of two points has twice the
    variance.) On pure noise, the accuracy rule's rise exceeds 6 sigma in fewer than 1 in 1,000
    curves of 20 points or more (simulated); a real linear test's held-out accuracy rises by 10-40 sigma.
    """
    d = np.diff(np.asarray(values, dtype=np.float64))
    if d.size == 0:
        return 0.0
    return float(1.4826 * np.median(np.abs(d - np.median(d))) / math.sqrt(2))


def moving_average(values, window: int):
    """Centred moving average: mean of values[i - h : i + h + 1], h = min(window // 2, i, n - 1 - i).

    Centred (unlike an exponential average) so the curve is not shifted to the right in lr; the
    window shrinks symmetrically near the ends (values[0] is kept as is) so that a rise right at the
    start of the sweep is not averaged away.
    """
    values = np.asarray(values, dtype=np.float64)
    if isinstance(window, bool) or not isinstance(window, (int, np.integer)) or window < 1 or window % 2 == 0:
        raise ValueError(f"window must be an odd integer >= 1; got {window!r}")
    n = len(values)
    csum = np.concatenate([[0.0], np.cumsum(values)])
    i = np.arange(n)
    half = np.minimum(np.minimum(int(window) // 2, i), n - 1 - i)
    return (csum[i + half + 1] - csum[i - half]) / (2 * half + 1)


def default_window(n: int) -> int:
    """2 * max(1, round(n / 20)) + 1: about a tenth of the curve, at least 3 points."""
    return 2 * max(1, round(n / 20)) + 1


# ----------------------------------------------------------------------------- the rules

def _loss_curve(lrs, losses, skip_start, skip_end, raw_losses, name):
    """Trim like fastai, refuse a curve without signal; returns (x, y, offset) of the kept part.

    With ``raw_losses`` (the per-step losses ``losses`` is the moving average of; a
    RangeTestResult passes them) the whole curve must pass :func:`significant_descent`. Without,
    only what the smoothed curve shows is checked: it must fall by more than SIGNAL_REL of its
    first value over the kept part (a flat curve or a -3e-14 rounding slope does not).
    """
    if raw_losses is not None:
        significant_descent(lrs, raw_losses, losses, what=f"the range test ({name})",
                            advice="run a longer test (num_iter)")
    x, y, offset = trim_curve(lrs, losses, skip_start, skip_end)
    drop = float(y[0] - np.min(y))
    if not drop > SIGNAL_REL * abs(float(y[0])):
        raise ValueError(f"{name}: the smoothed loss never decreases over the trimmed sweep (from {y[0]:.4g} it "
                         f"falls by {drop:.3g}, between lr {x[0]:.3g} and {x[-1]:.3g}): no signal to read. Start the "
                         "sweep at a smaller lr, end it at a larger one, or run it longer")
    return x, y, offset


def _check_not_in_head(name, lrs, losses, raw_losses, index, z=SIGNAL_Z):
    """Refuse a reading taken where the loss has not yet fallen out of the noise of the sweep's start.

    With raw losses: head = the first tenth of the raw losses (at least 3); the smoothed loss at
    ``index`` must be below mean(head) by more than z * std(head) / sqrt(len(head)) and by SIGNAL_REL.
    """
    if raw_losses is None:
        return
    raw = np.asarray(raw_losses, dtype=np.float64)
    head = raw[:max(3, min(_first_nonfinite(raw), len(raw)) // 10)]
    level, se = float(np.mean(head)), float(np.std(head, ddof=1)) / math.sqrt(len(head))
    gap = level - float(losses[index])
    if not (gap > z * se and gap > SIGNAL_REL * abs(level)):
        raise ValueError(f"{name} reads lr {lrs[index]:.3g}, where the loss ({losses[index]:.4g}) has not yet left "
                         f"the noise of the sweep's flat start ({level:.4g} +- {se:.2g}): that reading is noise. Use "
                         "clr.find_bounds, or another rule")


def suggest_steep(lrs, losses, *, base_ratio=DEFAULT_BASE_RATIO, skip_start=None, skip_end=DEFAULT_SKIP_END,
                  raw_losses=None) -> Bounds:
    """fastai's ``steep``: max_lr = the lr where the smoothed loss falls fastest against log(lr).

        g_i = (loss_{i+1} - loss_i) / (log lr_{i+1} - log lr_i)     (forward differences, i = 0 .. n-2)
        i*  = argmin_i g_i,   max_lr = lr_{i*}  (the left end of the steepest step),   base_lr = max_lr / base_ratio

    exactly as fastai computes it (``fastai/callback/schedule.py``). Needs lrs > 0 after trimming.
    ValueError if the loss never decreases, or (with ``raw_losses``) if the curve has no signal or
    the steepest step lies in the flat, noisy start.
    """
    ratio = _check_ratio(base_ratio)
    x, y, offset = _loss_curve(lrs, losses, skip_start, skip_end, raw_losses, "steep")
    if x[0] <= 0:
        raise ValueError(f"steep needs lrs > 0 (it differentiates against log(lr)), but the first kept lr is "
                         f"{x[0]!r}; raise skip_start or start the sweep above 0")
    grad = np.diff(y) / np.diff(np.log(x))
    i = int(np.argmin(grad))
    _check_not_in_head("steep", lrs, losses, raw_losses, offset + i + 1)
    max_lr = float(x[i])
    return Bounds(max_lr / ratio, max_lr, "steep", {"index": offset + i, "slope": float(grad[i]), "base_ratio": ratio})


def torch_lr_finder_losses(raw_losses, smooth_f=0.05, diverge_th=5.0) -> np.ndarray:
    """The loss history torch-lr-finder's ``range_test`` records from the same per-step losses.

        s_0 = loss_0,   s_i = smooth_f * loss_i + (1 - smooth_f) * s_{i-1}     (no bias correction)

    kept up to and including its stop, the first ``s_i > diverge_th * min(s_0..s_i)``. This is the
    curve its ``plot(suggest_lr=True)`` reads, and differs from fastai's bias-corrected EMA
    (beta 0.98, stop at 4x) that clr records as ``smoothed_losses``: read ``steepest`` off this one.
    """
    history, best = [], math.inf
    for i, loss in enumerate(np.asarray(raw_losses, dtype=np.float64)):
        if i == 0:
            best = loss
        else:
            loss = smooth_f * loss + (1 - smooth_f) * history[-1]
            best = min(best, loss)
        history.append(loss)
        if loss > diverge_th * best:
            break
    return np.array(history)


def suggest_steepest(lrs, losses, *, base_ratio=DEFAULT_BASE_RATIO, skip_start=10, skip_end=DEFAULT_SKIP_END,
                     raw_losses=None) -> Bounds:
    """torch-lr-finder's "steepest gradient": the lr where the loss falls fastest per *step*.

        x, y = lrs[skip_start : n - skip_end], losses[...]           (torch-lr-finder: 10 and 5)
        g = np.gradient(y)      (over the index: central differences, one-sided at the ends)
        max_lr = x[argmin g],   base_lr = max_lr / base_ratio

    exactly as ``LRFinder.plot`` computes it. On an exp sweep the index is evenly spaced in log(lr)
    (like fastai's ``steep``, but with central differences); on a linear sweep it is not. ValueError
    if the loss never decreases, or (with ``raw_losses``) if the curve has no signal or the steepest
    point lies in the flat, noisy start.
    """
    ratio = _check_ratio(base_ratio)
    x, y, offset = _loss_curve(lrs, losses, skip_start, skip_end, raw_losses, "steepest")
    grad = np.gradient(y)
    i = int(np.argmin(grad))
    _check_not_in_head("steepest", lrs, losses, raw_losses, offset + i)
    max_lr = float(x[i])
    if max_lr <= 0:
        raise ValueError("steepest landed on lr = 0; start the sweep above 0 or raise skip_start")
    return Bounds(max_lr / ratio, max_lr, "steepest",
                  {"index": offset + i, "slope_per_step": float(grad[i]), "base_ratio": ratio})


def suggest_minimum(lrs, losses, *, divisor=10.0, base_ratio=DEFAULT_BASE_RATIO, skip_start=None,
                    skip_end=DEFAULT_SKIP_END, raw_losses=None) -> Bounds:
    """fastai's ``minimum``: max_lr = (lr at the minimum smoothed loss) / divisor; base_lr = max_lr / base_ratio.

    At the minimum the loss has stopped falling, so that lr is already too large to train with;
    fastai steps back by a factor of 10. ``details['lr_at_min']`` keeps the lr itself. ValueError
    if the loss never decreases, or (with ``raw_losses``) if the curve has no signal.
    """
    ratio = _check_ratio(base_ratio)
    if not (_is_real(divisor) and math.isfinite(divisor) and divisor >= 1):
        raise ValueError(f"divisor must be a finite number >= 1; got {divisor!r}")
    x, y, offset = _loss_curve(lrs, losses, skip_start, skip_end, raw_losses, "minimum")
    i = int(np.argmin(y))
    _check_not_in_head("minimum", lrs, losses, raw_losses, offset + i)
    lr_at_min = float(x[i])
    if lr_at_min <= 0:
        raise ValueError("the loss is lowest at lr = 0, so lr_at_min / divisor is 0; start the sweep above 0")
    max_lr = lr_at_min / divisor
    return Bounds(max_lr / ratio, max_lr, "minimum",
                  {"index": offset + i, "lr_at_min": lr_at_min, "loss_min": float(y[i]),
                   "divisor": float(divisor), "base_ratio": ratio})


def longest_decreasing_run(values):
    """fastai's longest valley: the longest strictly decreasing subsequence, as fastai locates it.

        L[i] = 1 + max(L[j] for j < i with values[j] > values[i])   (1 when there is no such j)
        end  = the first index where L reaches its maximum,   length = L[end],   start = end - length

    ``start`` is fastai's estimate, not the subsequence's first point: it is one index *before* a
    contiguous run, and *after* the true first point when the subsequence skips points (a run of
    length 5 ending at 9 that started at 2 gives start 4). Returns ``(start, end, length)``; start
    is -1 when a contiguous run begins at index 0. O(n^2) comparisons, vectorised over j.
    """
    v = np.asarray(values, dtype=np.float64)
    n = len(v)
    lengths = np.ones(n, dtype=np.int64)
    for i in range(1, n):
        higher = v[:i] > v[i]
        if higher.any():
            lengths[i] = 1 + lengths[:i][higher].max()
    end = int(np.argmax(lengths))  # argmax returns the first maximum, like fastai's strict '<' update
    length = int(lengths[end])
    return end - length, end, length


MIN_VALLEY = 3  # a "valley" of fewer points is no descent


def suggest_valley(lrs, losses, *, base_ratio=DEFAULT_BASE_RATIO, skip_start=None, skip_end=DEFAULT_SKIP_END,
                   raw_losses=None) -> Bounds:
    """fastai's ``valley`` (its default): about half-way down its estimate of the longest descent.

        (start, end, L) = longest_decreasing_run(losses)          (start = end - L, fastai's estimate)
        i* = start + int(L / 3) + int(L / 3 / 2),   max_lr = lr_{i*},   base_lr = max_lr / base_ratio

    exactly as fastai computes it. ValueError when the longest decreasing subsequence has fewer than
    3 points (fastai would then return the *last* lr, index -1), or (with ``raw_losses``) when the
    curve has no signal or i* lies in the flat, noisy start of the sweep, where the subsequence
    often begins on an exp sweep from 1e-7: then the reading is noise, not a valley.
    """
    ratio = _check_ratio(base_ratio)
    x, y, offset = _loss_curve(lrs, losses, skip_start, skip_end, raw_losses, "valley")
    start, end, length = longest_decreasing_run(y)
    if length < MIN_VALLEY:
        raise ValueError(f"the smoothed loss has no valley: its longest decreasing stretch has {length} point(s) "
                         f"(fewer than {MIN_VALLEY}); start the sweep at a smaller lr")
    i = start + int(length / 3) + int(length / 3 / 2)
    _check_not_in_head("valley", lrs, losses, raw_losses, offset + i)
    max_lr = float(x[i])
    if max_lr <= 0:
        raise ValueError("the valley rule landed on lr = 0; start the sweep above 0 or raise skip_start")
    return Bounds(max_lr / ratio, max_lr, "valley",
                  {"index": offset + i, "start": offset + start, "end": offset + end,
                   "run_length": length, "base_ratio": ratio})


def suggest_slide(lrs, losses, *, lr_diff=15, thresh=0.005, adjust_value=1.0, base_ratio=DEFAULT_BASE_RATIO,
                  skip_start=None, skip_end=DEFAULT_SKIP_END, raw_losses=None) -> Bounds:
    """fastai's ``slide``: slide a window of ``lr_diff`` points leftwards from the end of the curve
    until the loss gradients at its two ends agree to within ``thresh``.

        g = np.gradient(losses)                    (over the index)
        r = n - 1,  l = r - lr_diff,  lr = lrs[l]
        while l >= 0 and |g[r] - g[l]| > thresh:   lr = lrs[l];  r -= 1;  l -= 1
        max_lr = lr * adjust_value,   base_lr = max_lr / base_ratio

    exactly as fastai computes it (``thresh`` is in loss units per step, so the rule depends on the
    loss's scale). ValueError with fewer than lr_diff + 1 points, when the loss never decreases, or
    (with ``raw_losses``) when the curve has no signal.
    """
    ratio = _check_ratio(base_ratio)
    if isinstance(lr_diff, bool) or not isinstance(lr_diff, (int, np.integer)) or lr_diff < 1:
        raise ValueError(f"lr_diff must be an integer >= 1; got {lr_diff!r}")
    for arg, v in (("thresh", thresh), ("adjust_value", adjust_value)):
        if not (_is_real(v) and math.isfinite(v) and v > 0):
            raise ValueError(f"{arg} must be a finite number > 0; got {v!r}")
    x, y, offset = _loss_curve(lrs, losses, skip_start, skip_end, raw_losses, "slide")
    n = len(y)
    if n <= lr_diff:
        raise ValueError(f"slide needs more than lr_diff={lr_diff} points after trimming, got {n}; run the range "
                         "test longer (num_iter) or lower lr_diff")
    grad = np.gradient(y)
    r, left = n - 1, n - 1 - lr_diff
    lr = x[left]
    while left >= 0 and abs(grad[r] - grad[left]) > thresh:
        lr = x[left]
        r, left = r - 1, left - 1
    i = int(np.searchsorted(x, lr))
    _check_not_in_head("slide", lrs, losses, raw_losses, offset + i)
    max_lr = float(lr) * float(adjust_value)
    if max_lr <= 0:
        raise ValueError("slide landed on lr = 0; start the sweep above 0 or raise skip_start")
    return Bounds(max_lr / ratio, max_lr, "slide",
                  {"index": offset + i, "lr_diff": int(lr_diff), "thresh": float(thresh), "base_ratio": ratio})


def suggest_accuracy(lrs, accuracy, *, window=None, start_frac=0.1, plateau_frac=0.9, drop_frac=0.1,
                     min_rise=0.02, base_ratio=None) -> Bounds:
    """The CLR paper's rule: base_lr where accuracy starts to rise, max_lr where it stops rising.

    Smith (2017, section 3.3) reads a plot of accuracy against lr from a *linear* sweep: base_lr is
    where the accuracy "starts to increase", max_lr where it "slows, becomes ragged, or starts to fall".
    Made precise on a = the centred moving average of the accuracy (``window`` points, default
    2 * max(1, round(n / 20)) + 1):

        peak = argmax a,   low = argmin a[:peak + 1],   rise R = a[peak] - a[low]   (needs R >= min_rise)
        knee:   first i >= low  with a[i] >= a[low] + plateau_frac * R
        base:   the start of the sustained rise into the knee: one past the last i in [low, knee)
                with a[i] < a[low] + start_frac * R                               ("starts to increase";
                an early bump at chance level that falls back below that level is not the rise)
        slows:  the knee                                                          (90 % of the way up)
        falls:  first i >= base where a[i] < max(a[base:i+1]) - drop_frac * R     (a dip: ragged or falling);
                the stop is then the last maximum before the dip
        max_lr = lr at min(slows, the stop before a dip)

    Defaults 0.1 / 0.9 / 0.1 read "10 % of the way up", "90 % of the way up" and "a dip of a tenth of
    the rise". A rise of no more than ``6 x noise_level(accuracy)`` is noise, and refused. Accuracy
    is a fraction in [0, 1]. With ``base_ratio`` given, base_lr = max_lr / base_ratio instead (the
    paper's alternative). Points from the first non-finite value on are dropped.
    """
    x, acc = _curve(lrs, accuracy, "accuracy")
    cut = _first_nonfinite(acc)
    x, acc = x[:cut], acc[:cut]
    if len(acc) < MIN_POINTS:
        raise ValueError(f"need at least {MIN_POINTS} finite accuracy points to suggest bounds, got {len(acc)}; "
                         "run the range test longer, or evaluate more often (val_every)")
    if acc.min() < 0 or acc.max() > 1:
        raise ValueError(f"accuracy must be a fraction in [0, 1]; got values from {acc.min():g} to {acc.max():g} "
                         "(percent? divide by 100)")
    for arg, v in (("start_frac", start_frac), ("plateau_frac", plateau_frac), ("drop_frac", drop_frac)):
        if not (_is_real(v) and 0 < v < 1):
            raise ValueError(f"{arg} must be a number in (0, 1); got {v!r}")
    if start_frac >= plateau_frac:
        raise ValueError(f"start_frac ({start_frac}) must be smaller than plateau_frac ({plateau_frac})")
    if not (_is_real(min_rise) and 0 < min_rise < 1):
        raise ValueError(f"min_rise must be a number in (0, 1); got {min_rise!r}")
    if window is None:
        window = default_window(len(acc))
    a = moving_average(acc, window)

    peak = int(np.argmax(a))
    low = int(np.argmin(a[:peak + 1]))
    rise = float(a[peak] - a[low])
    if rise < min_rise:
        raise ValueError(f"the smoothed accuracy rises by only {rise:.3g} (< min_rise={min_rise}) before its peak; "
                         "there is no rise to read bounds from. Sweep a wider lr range or train longer per lr.")
    noise = noise_level(acc)
    if rise <= ACC_SIGNAL * noise:
        raise ValueError(f"the accuracy's rise ({rise:.3g}) is no more than noise: the accuracy jumps by "
                         f"{noise:.3g} (one standard deviation) from one point to the next, and a rise needs more "
                         f"than {ACC_SIGNAL:g} of those. Evaluate on a val_loader (far less noisy than the accuracy "
                         "of one batch), use larger batches, or run the test longer.")
    stop = low + int(np.argmax(a[low:] >= a[low] + plateau_frac * rise))  # the knee
    below = np.flatnonzero(a[low:stop] < a[low] + start_frac * rise)
    base = low + int(below[-1]) + 1 if below.size else low
    reason = "slows"
    running_max = np.maximum.accumulate(a[base:])
    dips = np.flatnonzero(a[base:] < running_max - drop_frac * rise)
    if dips.size:
        dip = base + int(dips[0])
        before_dip = base + int(np.argmax(a[base:dip]))
        if before_dip < stop:
            stop, reason = before_dip, "falls"
    if stop <= base:
        raise ValueError(f"the accuracy rises within one step (between lr {x[base - 1] if base else x[0]:.4g} and "
                         f"{x[base]:.4g}); sweep a narrower lr range or use more iterations")
    max_lr = float(x[stop])
    details = {"base_index": base, "max_index": stop, "stop": reason, "window": int(window),
               "low": float(a[low]), "peak": float(a[peak]), "peak_index": peak,
               "smoothed_accuracy": a}
    if base_ratio is None:
        base_lr = float(x[base])
        if base_lr <= 0:
            raise ValueError("the accuracy starts rising at lr = 0; pass base_ratio to set base_lr = max_lr / ratio")
    else:
        details["base_ratio"] = _check_ratio(base_ratio)
        base_lr = max_lr / details["base_ratio"]
    return Bounds(base_lr, max_lr, "accuracy", details)


_LOSS_RULES = {"minimum": suggest_minimum, "steep": suggest_steep, "valley": suggest_valley,
               "slide": suggest_slide, "steepest": suggest_steepest}


def suggest_bounds(method, lrs, *, losses=None, accuracy=None, **options) -> Bounds:
    """Dispatch to ``suggest_<method>``; 'accuracy' reads ``accuracy``, the others ``losses`` (smoothed)."""
    if method == "accuracy":
        if accuracy is None:
            raise ValueError("method='accuracy' needs an accuracy curve (the trainer reported no accuracy); "
                             "use a loss rule: 'minimum', 'valley', 'steep', 'slide' or 'steepest'")
        return suggest_accuracy(lrs, accuracy, **options)
    if method in _LOSS_RULES:
        if losses is None:
            raise ValueError(f"method={method!r} needs the smoothed losses")
        return _LOSS_RULES[method](lrs, losses, **options)
    raise ValueError(f"unknown method {method!r}; choose one of {', '.join(map(repr, METHODS))}")
