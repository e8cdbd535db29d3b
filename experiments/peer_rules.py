"""Comparators for the bounds benchmark: fastai's and torch-lr-finder's suggestion rules, as published.

Written from the published definitions (fastai ``fastai/callback/schedule.py``: ``lr_find``,
``valley``, ``slide``, ``minimum``, ``steep``; torch-lr-finder ``torch_lr_finder/lr_finder.py``:
``range_test`` and ``plot(suggest_lr=True)``), including their quirks, so that the benchmark measures
what a user of those libraries gets. Each rule returns ONE learning rate, the one the library suggests;
fastai and torch-lr-finder both mean it as the peak (``fit_one_cycle(lr_max=...)``), so the benchmark
uses it as max_lr.

Inputs are one exponential sweep: ``lrs`` (increasing) and the per-step training loss.

fastai (``lr_find(start_lr=1e-7, end_lr=10, num_it=100)``): the recorder holds the *smoothed* loss
(bias-corrected EMA, beta = 0.98: what ``clr``'s range test records as ``smoothed_losses``, with the
same stop when it exceeds 4 x its best). ``lr_find`` keeps ``[num_it // 10 : -5]`` of the record, cuts
at the first NaN, then calls the rule:

    valley   L[i] = length of the longest strictly decreasing subsequence ending at i;
             end = first index of max L, start = end - L[end]  (fastai's shortcut, not the true start),
             idx = start + int((end - start) / 3) + int((end - start) / 6)       -> lrs[idx]
             (a curve that never falls gives start = -1 and idx = -1: the LAST lr)
    slide    g = np.gradient(loss) over the index; from the right end, slide a pair (r, l = r - 15)
             leftwards while |g[r] - g[l]| > 0.005; the answer is lrs[l] of the last pair that moved
    minimum  lrs[argmin loss] / 10
    steep    forward slope (loss[k+1] - loss[k]) / (log lr[k+1] - log lr[k]); lrs[argmin slope]

torch-lr-finder (``range_test(end_lr=10, num_iter=100, smooth_f=0.05, diverge_th=5)`` then
``plot(skip_start=10, skip_end=5)``): its own smoothing ``s_i = 0.05 loss_i + 0.95 s_{i-1}``
(s_0 = loss_0, no bias correction), its own stop (after the first ``s_i > 5 x best``), then

    steepest lrs[argmin np.gradient(s[10:-5])]     (the gradient over the index, not over log lr)

All functions raise ValueError when the library itself would fail (too few points), never return NaN.
"""
from __future__ import annotations

import math

import numpy as np

FASTAI_RULES = ("valley", "slide", "minimum", "steep")


def _arrays(lrs, losses):
    lrs = np.asarray(lrs, dtype=np.float64)
    losses = np.asarray(losses, dtype=np.float64)
    if lrs.ndim != 1 or lrs.shape != losses.shape:
        raise ValueError(f"lrs and losses must be 1-D arrays of one length; got shapes {lrs.shape} and {losses.shape}")
    return lrs, losses


# ----------------------------------------------------------------------------- fastai

def fastai_trim(lrs, smoothed_losses, num_it: int = 100):
    """What ``lr_find`` hands to a rule: the record's ``[num_it // 10 : -5]``, cut at the first NaN."""
    lrs, losses = _arrays(lrs, smoothed_losses)
    lrs, losses = lrs[num_it // 10:-5], losses[num_it // 10:-5]
    nan = np.flatnonzero(np.isnan(losses))
    if nan.size:
        lrs, losses = lrs[:nan[0]], losses[:nan[0]]
    if len(lrs) < 2:
        raise ValueError(f"fastai: only {len(lrs)} points left after trimming [num_it//10:-5] and the NaN cut; "
                         "fastai's rules fail on so short a record")
    return lrs, losses


def decreasing_run_lengths(losses) -> np.ndarray:
    """L[i] = length of the longest strictly decreasing subsequence of ``losses`` that ends at i."""
    losses = np.asarray(losses, dtype=np.float64)
    lengths = np.ones(len(losses), dtype=np.int64)
    for i in range(1, len(losses)):
        higher = losses[:i] > losses[i]
        if higher.any():
            lengths[i] = 1 + lengths[:i][higher].max()
    return lengths


def fastai_valley(lrs, losses) -> float:
    """fastai ``valley`` on an already trimmed curve (see the module docstring)."""
    lrs, losses = _arrays(lrs, losses)
    lengths = decreasing_run_lengths(losses)
    end = int(np.argmax(lengths))          # the first index where the longest run ends
    start = end - int(lengths[end])        # fastai's estimate of where it starts (one before, or -1)
    third = (end - start) / 3
    return float(lrs[start + int(third) + int(third / 2)])


def fastai_slide(lrs, losses, lr_diff: int = 15, thresh: float = 0.005, adjust_value: float = 1.0) -> float:
    """fastai ``slide`` on an already trimmed curve (see the module docstring)."""
    lrs, losses = _arrays(lrs, losses)
    n = len(losses)
    if n < lr_diff + 1:
        raise ValueError(f"fastai slide: needs more than lr_diff={lr_diff} points, got {n} (fastai raises "
                         "an IndexError here)")
    grad = np.gradient(losses)
    right, left = n - 1, n - 1 - lr_diff
    suggestion = lrs[left]
    while left >= 0 and abs(grad[right] - grad[left]) > thresh:
        suggestion = lrs[left]
        right, left = right - 1, left - 1
    return float(suggestion) * adjust_value


def fastai_minimum(lrs, losses) -> float:
    """fastai ``minimum``: a tenth of the lr at the lowest (smoothed) loss."""
    lrs, losses = _arrays(lrs, losses)
    return float(lrs[int(np.argmin(losses))]) / 10


def fastai_steep(lrs, losses) -> float:
    """fastai ``steep``: the left end of the steepest forward slope against log(lr)."""
    lrs, losses = _arrays(lrs, losses)
    slopes = np.diff(losses) / np.diff(np.log(lrs))
    return float(lrs[int(np.argmin(slopes))])


def fastai_suggest(rule: str, lrs, smoothed_losses, num_it: int = 100) -> float:
    """``lr_find(suggest_funcs=(rule,))`` on a record of ``num_it`` planned steps."""
    funcs = {"valley": fastai_valley, "slide": fastai_slide, "minimum": fastai_minimum, "steep": fastai_steep}
    if rule not in funcs:
        raise ValueError(f"unknown fastai rule {rule!r}; choose one of {', '.join(FASTAI_RULES)}")
    x, y = fastai_trim(lrs, smoothed_losses, num_it)
    return funcs[rule](x, y)


# ----------------------------------------------------------------------------- torch-lr-finder

def tlf_history(losses, smooth_f: float = 0.05, diverge_th: float = 5.0) -> np.ndarray:
    """torch-lr-finder's recorded losses: its EMA of the raw losses, up to and including its stop."""
    history, best = [], math.inf
    for i, loss in enumerate(np.asarray(losses, dtype=np.float64)):
        if i == 0:
            best = loss
        else:
            loss = smooth_f * loss + (1 - smooth_f) * history[-1]
            if loss < best:
                best = loss
        history.append(loss)
        if loss > diverge_th * best:
            break
    return np.array(history)


def tlf_steepest(lrs, losses, skip_start: int = 10, skip_end: int = 5) -> float:
    """torch-lr-finder's suggestion from RAW per-step losses: smooth and stop its way, trim, steepest index slope."""
    lrs, losses = _arrays(lrs, losses)
    history = tlf_history(losses)
    x = lrs[:len(history)]
    x, y = (x[skip_start:], history[skip_start:]) if skip_end == 0 else \
        (x[skip_start:-skip_end], history[skip_start:-skip_end])
    if len(y) < 2:
        raise ValueError(f"torch-lr-finder: only {len(y)} points after skip_start={skip_start}, skip_end={skip_end}; "
                         "it prints 'Failed to compute the gradients' and suggests nothing")
    return float(x[int(np.argmin(np.gradient(y)))])
