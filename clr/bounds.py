"""find_bounds: one call from a model to CLR bounds that train, with no hand tuning.

    bounds = clr.find_bounds(model, optimizer, train_loader, val_loader=val_loader)
    print(bounds.report())                       # what was measured, and why these values
    scheduler = clr.CyclicLR(optimizer, *bounds, step_size_up=...)

Three short stages, each starting from the model and optimizer as the user handed them over
(they are put back exactly afterwards, also after an error):

1. **Scale: an exponential probe** (fastai's sweep) from ``start_lr`` to ``end_lr`` over
   ``num_iter / 4`` steps. It gives ``lr_low``, the lr at the lowest smoothed training loss, and
   ``lr_stop``, the first lr after it where training breaks down: the smoothed loss has given back
   half of its descent, or diverged (> 4 x its best, or non-finite). A probe whose loss does not
   fall out of its noise is repeated twice as long, at most twice.
   If the loss never falls by more than its noise, if it diverges at once, or if it is still
   falling at ``end_lr``, find_bounds raises ValueError saying what it saw and what to try.
2. **Smith's linear test** (CLR paper, section 3.3) from 0 to ``lr_low`` over ``num_iter / 2``
   steps. With a ``val_loader`` it evaluates 40 times; the reading is the paper's accuracy rule on
   the held-out accuracy (the lr where it stops rising), or, for losses without an accuracy
   (regression) or an accuracy that shows no rise, the lr of the lowest held-out loss. Without a
   val_loader the smoothed training loss stands in. A reading at the end of the test (above 0.9 x
   ``lr_low``) means the model was still improving when the sweep ended: the probe's short run
   understated the scale (seen with Adagrad and RMSprop on the MNIST-1D CNN, whose loss starts to
   fall late). Then the probe and the linear test are repeated twice as long, at most twice. The
   candidate is

        max_lr = min(reading / 2, lr_stop / 4)

   The factors are a safety margin, the same for every model and optimizer: the sweep spends a
   few steps at each lr, while a cycle spends hundreds of iterations near its top, and an lr that
   a sweep survives can break a long run. On the tasks we measured (docs/range_test.md), the
   reading sat within 1.2-1.5x of the lr at which a fixed-lr run collapses.
3. **Stability check**: ``num_iter / 4`` steps that ramp the lr linearly from 0 to max_lr in the
   first half and hold it in the second (the first half-cycle of a CLR or one-cycle run). It
   fails when the loss becomes non-finite, when the smoothed loss climbs above 2 x its best, or
   when the mean loss of its last tenth is not 2 standard errors below that of its first; then
   max_lr is halved and the check repeated (at most ``max_halvings`` times, after which
   find_bounds raises ValueError).

``base_lr = max_lr / base_ratio`` (4: the paper's "1/3 or 1/4 of the maximum", the cautious end).
The cost is ``num_iter`` training steps (400 by default: 100 + 200 + 100) plus 40 passes over
``val_loader``; a repeated probe adds 2x or 6x its length, a reading at the end of the linear test
repeats probe and test at 2x (then 4x) their lengths, a failed check adds ``num_iter / 4`` each.
``bounds.details['iterations']`` holds the number taken.
"""
from __future__ import annotations

import math

import numpy as np

from . import _checks
from . import range_test as _rt
from . import suggest as _suggest

DEFAULT_NUM_ITER = 400            # probe 1/4, linear test 1/2, check 1/4
DEFAULT_START_LR = 1e-7
DEFAULT_END_LR = 10.0
DEFAULT_BASE_RATIO = 4.0
READING_MARGIN = 2.0              # max_lr <= reading / READING_MARGIN
STOP_MARGIN = 4.0                 # max_lr <= lr_stop / STOP_MARGIN
CHECK_DIVERGE = 2.0               # the check fails when the smoothed loss > CHECK_DIVERGE x its best
DEFAULT_MAX_HALVINGS = 3
CHECK_Z = 2.0                     # ...and when its last tenth is not 2 standard errors below its first
PROBE_RETRIES = 2                 # a probe without signal is repeated at 2x and 4x its length
VAL_POINTS = 40                   # evaluations in the linear test
SWEEP_END = 0.9                   # a reading above 0.9 x the linear test's end is 'at the end'
SCALE_RETRIES = 2                 # ...and then probe and test are repeated at 2x and 4x their length


def _split_budget(num_iter: int) -> tuple[int, int, int]:
    probe = max(20, num_iter // 4)
    check = max(20, num_iter // 4)
    sweep = max(40, num_iter - probe - check)
    return probe, sweep, check


def _probe_beta(n: int) -> float:
    """EMA factor for a sweep of n steps: a memory of about n / 10 steps (0.9 for 100)."""
    return float(min(0.98, max(0.5, 1.0 - 10.0 / n)))


def _check_signal(result, what: str, advice: str) -> tuple[int, int]:
    """Indices (first kept, lowest smoothed loss) of a sweep whose loss really falls; else ValueError.

    The drop from the head of the raw loss (its first tenth) to the raw loss around the minimum
    of the smoothed loss must be at least 4 standard errors and 0.1 % of the starting loss: a
    flat curve, a rounding slope or pure noise does not pass (clr.suggest.significant_descent).
    """
    return _suggest.significant_descent(result.lrs, result.losses, result.smoothed_losses,
                                        what=what, advice=advice)


def find_bounds(model, optimizer=None, train_loader=None, *, val_loader=None, loss_fn=None, batch_fn=None,
                device=None, num_iter=DEFAULT_NUM_ITER, start_lr=DEFAULT_START_LR, end_lr=DEFAULT_END_LR,
                base_ratio=DEFAULT_BASE_RATIO, max_halvings=DEFAULT_MAX_HALVINGS) -> _suggest.Bounds:
    """CLR bounds for ``model`` + ``optimizer`` on ``train_loader``: probe, linear test, stability check.

    See the module docstring for the three stages and their cost. Args:
        model: a tinynet or PyTorch module (or any trainer object: then pass optimizer=None).
        optimizer: its optimizer (anything with ``param_groups``).
        train_loader: re-iterable of batches; cycled as needed.
        val_loader: optional held-out batches; the linear test reads their accuracy (or loss).
        loss_fn: ``loss_fn(outputs, targets)``; cross-entropy by default. Use e.g. an MSE for regression.
        batch_fn: ``batch_fn(batch) -> (inputs, targets)`` for batches that are not ``(x, y)`` pairs.
        device: for torch models, where batches are moved.
        num_iter: total training steps of the three stages (default 400: 100 + 200 + 100).
        start_lr, end_lr: the range of the exponential probe (default 1e-7 to 10).
        base_ratio: base_lr = max_lr / base_ratio (default 4).
        max_halvings: how often the stability check may halve max_lr before giving up.
    Returns:
        Bounds(base_lr, max_lr, method='find_bounds', details) with the three stages' results,
        the readings and the reasons; ``bounds.report()`` prints them in a few lines.
    Raises:
        ValueError when a stage shows no usable signal (flat, noisy, diverging at once), with what
        was seen and what to try.
    """
    num_iter = _checks.integer("num_iter", num_iter, 100)
    ratio = _suggest._check_ratio(base_ratio)
    max_halvings = _checks.integer("max_halvings", max_halvings, 0)
    _rt.lr_schedule(start_lr, end_lr, 2, "exp")  # validates the probe's range
    trainer = _rt.as_trainer(model, optimizer, loss_fn, batch_fn=batch_fn, device=device)
    if train_loader is None:
        raise TypeError("train_loader is required: find_bounds(model, optimizer, train_loader, ...)")
    if not getattr(trainer, "can_restore", True) or not callable(getattr(trainer, "snapshot", None)):
        raise TypeError(f"find_bounds needs a trainer that can snapshot() and restore(state), so that every stage "
                        f"starts from the same model; {type(trainer).__name__} cannot. Pass "
                        "FunctionTrainer(step_fn, snapshot=..., restore=...)")
    if val_loader is not None and not _rt.can_evaluate(trainer):
        raise TypeError(f"val_loader needs a trainer with evaluate(batches); {type(trainer).__name__} has none")
    probe_iter, sweep_iter, check_iter = _split_budget(num_iter)
    why: list[str] = []
    taken = 0

    with _rt.restored(trainer, train_loader) as reset:
        # 1-2. scale and reading; repeated with both twice as long when the reading sits at the end of
        # the linear test (the accuracy still rising there: the short probe understated the scale)
        for scale in range(SCALE_RETRIES + 1):
            # 1. scale; a probe whose loss does not fall out of its noise is repeated twice as long (twice)
            for attempt in range(PROBE_RETRIES + 1):
                n_probe = probe_iter * 2 ** (attempt + scale)
                probe = _rt.run_range_test(trainer, train_loader, start_lr=start_lr, end_lr=end_lr, num_iter=n_probe,
                                           step_mode="exp", smooth_beta=_probe_beta(n_probe), restore=False)
                taken += len(probe)
                reset()
                try:
                    _, low = _check_signal(probe, f"the exponential probe ({n_probe} steps)",
                                           "check that the model can learn from these batches, or raise num_iter")
                    break
                except ValueError as e:
                    if attempt == PROBE_RETRIES:
                        raise
                    why.append(f"Exponential probe in {n_probe} steps: no usable signal ({e}); repeated twice as long.")
            lr_low = float(probe.lrs[low])
            if not probe.diverged and low >= len(probe) - max(3, len(probe) // 20):
                raise ValueError(f"the training loss is still falling at end_lr={end_lr:g} (lowest at lr {lr_low:.3g}, "
                                 "the end of the probe), so the scale is unknown; raise end_lr")
            lr_stop = _instability_lr(probe, low)
            why.append(f"Exponential probe {start_lr:g} -> {end_lr:g} in {n_probe} steps: smoothed training loss "
                       f"lowest at lr {lr_low:.3g}" + (f"; it had given back half its descent by lr {lr_stop:.3g}."
                                                         if lr_stop else "; no breakdown up to end_lr."))

            # 2. the paper's linear test 0 -> lr_low
            n_sweep = sweep_iter * 2 ** scale
            val_every = max(1, n_sweep // VAL_POINTS) if val_loader is not None else None
            sweep = _rt.run_range_test(trainer, train_loader, start_lr=0.0, end_lr=lr_low, num_iter=n_sweep,
                                       step_mode="linear", smooth_beta=_probe_beta(n_sweep),
                                       val_loader=val_loader, val_every=val_every, restore=False)
            taken += len(sweep)
            reset()
            reading, how = _read_sweep(sweep)
            why.append(f"Linear test 0 -> {lr_low:.3g} in {n_sweep} steps ({sweep.stop_reason}): {how}.")
            if reading < SWEEP_END * lr_low or scale == SCALE_RETRIES:
                break
            why.append(f"The reading is at the end of the linear test ({reading:.3g} of {lr_low:.3g}): the model was "
                       "still improving when the sweep ended, so the short probe understated the scale; probe "
                       "and linear test repeated twice as long.")
        max_lr = reading / READING_MARGIN
        margin = f"Safety margin: max_lr = reading / {READING_MARGIN:g} = {max_lr:.3g}"
        if lr_stop is not None and lr_stop / STOP_MARGIN < max_lr:
            max_lr = lr_stop / STOP_MARGIN
            margin += f", capped at lr_stop / {STOP_MARGIN:g} = {max_lr:.3g}"
        why.append(margin + ".")

        # 3. stability check: ramp to max_lr, hold it
        checks = []
        for attempt in range(max_halvings + 1):
            ok, losses, reason = _stability_check(trainer, train_loader, max_lr, check_iter)
            taken += len(losses)
            reset()
            checks.append({"max_lr": max_lr, "passed": ok, "reason": reason, "losses": losses})
            if ok:
                why.append(f"Stability check at {max_lr:.3g} ({check_iter} steps, ramp then hold): passed ({reason}).")
                break
            why.append(f"Stability check at {max_lr:.3g}: failed ({reason}); halving max_lr.")
            max_lr /= 2
        else:
            raise ValueError(f"find_bounds: training was not stable even at lr {max_lr * 2:.3g} after {max_halvings} "
                             f"halvings ({checks[-1]['reason']}); check the model and data, or lower start_lr")

    base_lr = max_lr / ratio
    why.append(f"base_lr = max_lr / {ratio:g} = {base_lr:.3g}. Cost: {taken} training steps.")
    details = {"probe": probe, "sweep": sweep, "checks": checks, "lr_low": lr_low, "lr_stop": lr_stop,
               "reading": reading, "base_ratio": ratio, "iterations": taken, "why": tuple(why)}
    return _suggest.Bounds(base_lr, max_lr, "find_bounds", details)


def _instability_lr(probe, low: int) -> float | None:
    """The first lr after the loss minimum where training visibly breaks down, or None.

    That is where the smoothed loss has given back half of its descent,
    ``smoothed > best + (head - best) / 2`` with head = the mean raw loss of the first tenth, or
    where the probe stopped (diverged, non-finite), whichever comes first. The first catches a
    network that dies instead of diverging (its loss saturates near chance level, never 4 x its best).
    """
    n = len(probe)
    head = float(np.mean(probe.losses[:max(3, n // 10)]))
    best = float(probe.smoothed_losses[low])
    above = np.flatnonzero(~(probe.smoothed_losses[low:] <= best + (head - best) / 2))
    if above.size:
        return float(probe.lrs[low + int(above[0])])
    return probe.diverged_lr


def _read_sweep(sweep) -> tuple[float, str]:
    """max_lr reading of the linear test: held-out accuracy rule, else lowest held-out / smoothed loss."""
    has_val = len(sweep.val_lrs) > 0
    fallback = ""
    if has_val and sweep.val_acc is not None:
        try:
            b = _suggest.suggest_accuracy(sweep.val_lrs, sweep.val_acc)
            return b.max_lr, f"held-out accuracy {b.details['stop']} at lr {b.max_lr:.3g} (the paper's accuracy rule)"
        except ValueError as e:  # e.g. the accuracy rose within one evaluation: read the loss instead
            fallback = f"the accuracy rule found no bounds ({e}), so "
    if has_val:
        lrs, values, name = sweep.val_lrs, sweep.val_losses, "held-out loss"
        values = _suggest.moving_average(values[:_suggest._first_nonfinite(values)], 5)
    else:
        lrs, values, name = sweep.lrs, sweep.smoothed_losses, "smoothed training loss"
        values = values[:_suggest._first_nonfinite(values)]
    if len(values) < _suggest.MIN_POINTS:
        raise ValueError(f"the linear test has only {len(values)} finite {name} values; try a longer test")
    i = int(np.argmin(values))
    if i == 0 or lrs[i] <= 0:
        raise ValueError(f"the {name} of the linear test is lowest at its start (lr {lrs[i]:.3g}); "
                         "the probe's scale looks wrong: try a longer test (num_iter)")
    return float(lrs[i]), f"{fallback}{name} lowest at lr {lrs[i]:.3g}"


@np.errstate(over="ignore", invalid="ignore", divide="ignore")  # a failing check may overflow: it is reported
def _stability_check(trainer, loader, max_lr: float, n: int):
    """Ramp 0 -> max_lr over n // 2 steps, hold max_lr for the rest; (passed, losses, reason)."""
    ramp = n // 2
    lrs = np.concatenate([np.linspace(0.0, max_lr, ramp + 1)[1:], np.full(n - ramp, max_lr)])
    ema = _rt.DebiasedEMA(_probe_beta(n))
    losses, smoothed, best = [], [], math.inf
    batches = _rt.cycle_batches(loader)
    try:
        for lr in lrs:
            trainer.set_lr(float(lr))
            loss = _rt.check_step(trainer.train_step(next(batches)))[0]
            losses.append(loss)
            if not math.isfinite(loss):
                return False, losses, f"non-finite loss at step {len(losses) - 1}"
            s = ema.update(loss)
            smoothed.append(s)
            best = min(best, s)
            if best > 0 and s > CHECK_DIVERGE * best:
                return False, losses, f"smoothed loss {s:.3g} > {CHECK_DIVERGE:g} x its best {best:.3g}"
    finally:
        batches.close()
    k = max(3, n // 10)
    head, tail = np.asarray(losses[:k]), np.asarray(losses[-k:])
    se = math.sqrt((float(np.var(head, ddof=1)) + float(np.var(tail, ddof=1))) / k)
    head, tail = float(np.mean(head)), float(np.mean(tail))
    if not head - tail > CHECK_Z * se:
        return False, losses, (f"the loss did not fall: mean of the first {k} steps {head:.3g}, of the last {k} "
                               f"{tail:.3g} (noise standard error {se:.2g})")
    return True, losses, f"loss {head:.3g} -> {tail:.3g}"
