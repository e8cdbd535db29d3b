"""A plain training loop for classification, and the paper's headline metric.

    history = train(model, optimizer, scheduler, loader, iterations=2000, eval_every=50,
                    test_data=(x_test, y_test), seed=0)
    iterations_to_reach(history, 0.80)    # first evaluated iteration with test accuracy >= 80 %

One *iteration* is one mini-batch and one optimizer step, as in the CLR paper (Smith counts
iterations, not epochs). The loop, for it = 0 .. iterations - 1:

    lr_it = schedule(it)            (when the schedule is a policy; a scheduler has set it already)
    loss  = cross_entropy(model(x_it), y_it)
    backward, optimizer.step()
    scheduler.step()                (when the schedule is a scheduler: it sets lr_{it+1})

and after every ``eval_every`` steps (and before the first) the model is evaluated on the whole test
set in eval mode, without gradients. The history holds one row per evaluation.
"""
from __future__ import annotations

import math
import sys
import time
from typing import Any, Callable, Iterable, Mapping, Sequence

import numpy as np

import tinynet as tn
import tinynet.functional as F
from clr.param_groups import get_momentum, set_hyperparams

HISTORY_KEYS = ("iteration", "lr", "momentum", "train_loss", "test_loss", "test_acc", "time_s")


# ----------------------------------------------------------------------------- small helpers

def _positive_int(name: str, value, minimum: int = 1) -> int:
    if isinstance(value, bool) or not isinstance(value, (int, np.integer)) or value < minimum:
        raise ValueError(f"{name} must be an integer >= {minimum}; got {value!r}")
    return int(value)


def current_lr(optimizer) -> float:
    """The learning rate of the first parameter group (schedules set every group alike)."""
    return float(optimizer.param_groups[0]["lr"])


def current_momentum(optimizer) -> float:
    """Momentum of the first group: 'momentum' for SGD, betas[0] for Adam-like optimizers, else NaN."""
    m = get_momentum(optimizer.param_groups[0])
    return math.nan if m is None else m


class _Schedule:
    """One interface over the three things ``train`` accepts as a schedule.

    * None: the optimizer keeps the lr it was built with (a fixed policy);
    * a policy, any callable ``policy(it) -> lr`` (``clr.policies``): set before step ``it``;
    * a scheduler, any object with ``step()`` (``clr.schedulers``, PyTorch style): it set the lr of
      step 0 when it was built, and ``step()`` after each optimizer step sets the next one.
    """

    def __init__(self, schedule, momentum_schedule, optimizer):
        if schedule is not None and not callable(getattr(schedule, "step", None)) and not callable(schedule):
            raise TypeError(f"schedule must be None, a policy (a callable it -> lr) or a scheduler (with step()); "
                            f"got {type(schedule).__name__}")
        if momentum_schedule is not None and not callable(momentum_schedule):
            raise TypeError(f"momentum_schedule must be a callable it -> momentum; got "
                            f"{type(momentum_schedule).__name__}")
        self.optimizer = optimizer
        self.is_scheduler = schedule is not None and callable(getattr(schedule, "step", None))
        self.schedule, self.momentum_schedule = schedule, momentum_schedule

    def before_step(self, it: int) -> None:
        lr = float(self.schedule(it)) if self.schedule is not None and not self.is_scheduler else None
        momentum = float(self.momentum_schedule(it)) if self.momentum_schedule is not None else None
        for group in self.optimizer.param_groups:
            set_hyperparams(group, lr=lr, momentum=momentum)

    def after_step(self) -> None:
        if self.is_scheduler:
            self.schedule.step()


def _batches(loader, seed) -> Iterable:
    """Batches across epochs. With a seed, a tinynet DataLoader is re-seeded and rewound first,
    so that every run with the same seed sees the same batches in the same order."""
    if seed is not None:
        if not (hasattr(loader, "seed") and hasattr(loader, "epoch")):
            raise TypeError(f"seed={seed!r} needs a tinynet.data.DataLoader (with .seed and .epoch) to set "
                            f"the data order; got {type(loader).__name__}. Pass seed=None to use it as it is")
        loader.seed, loader.epoch = _positive_int("seed", seed, minimum=0), 0
    endless = getattr(loader, "endless", None)
    if callable(endless):
        return endless()

    def cycle():
        while True:
            empty = True
            for batch in loader:
                empty = False
                yield batch
            if empty:
                raise ValueError("train_loader yielded no batches")
    return cycle()


def _as_tensor(x, device):
    return x if isinstance(x, tn.Tensor) else tn.Tensor(x, device=device)


def _labels(y):
    """Class labels as an array where they already are: host labels stay on the host (the loss
    checks them there and uploads them), labels on the GPU stay there (no host round trip)."""
    y = y.data if isinstance(y, tn.Tensor) else y
    return y if tn.backend.is_array(y) else np.asarray(y)


# ----------------------------------------------------------------------------- evaluation

def evaluate(model, data, device="cpu", batch_size: int = 1000) -> tuple[float, float]:
    """Mean cross-entropy and accuracy (a fraction) of ``model`` on ``data``.

    ``data`` is ``(x, y)`` arrays or an iterable of ``(x, y)`` batches (a DataLoader).
    Runs in eval mode (dropout off, batch norm on running statistics) under ``no_grad``, in batches
    of ``batch_size`` to bound memory; the model's train/eval mode is put back afterwards.
    """
    if isinstance(data, tuple) and len(data) == 2 and not isinstance(data[0], tuple):
        x, y = data
        if len(x) != len(y):
            raise ValueError(f"test data: x has {len(x)} samples but y has {len(y)}")
        batches = ((x[i:i + batch_size], y[i:i + batch_size]) for i in range(0, len(x), batch_size))
    else:
        batches = data
    was_training = getattr(model, "training", True)
    model.eval()
    total_loss, correct, n = 0.0, 0, 0  # sums stay on the model's device: one host sync at the end
    try:
        with tn.no_grad():
            for xb, yb in batches:
                yb = _labels(yb)
                logits = model(_as_tensor(xb, device))
                total_loss = total_loss + F.cross_entropy(logits, yb, reduction="sum").data.astype(np.float64)
                labels = tn.backend.to_device(yb, logits.device)
                correct = correct + (logits.data.argmax(axis=1) == labels).sum()
                n += len(yb)
    finally:
        model.train(was_training)
    if n == 0:
        raise ValueError("test data is empty")
    return float(total_loss) / n, int(correct) / n


# ----------------------------------------------------------------------------- progress

class ProgressLine:
    """A one-line progress indicator on stderr: ``label  1200/3000  acc 85.2%  12.3 s``.

    On a terminal the line is rewritten in place; elsewhere (logs, CI) it stays silent until
    ``close()`` prints the final line, so logs get one line per run.
    """

    def __init__(self, label: str, stream=None):
        self.label, self.stream = label, stream if stream is not None else sys.stderr
        self.live = bool(getattr(self.stream, "isatty", lambda: False)())
        self.start = time.perf_counter()
        self.last = ""

    def __call__(self, iteration: int, total: int, history: Mapping[str, Sequence[float]]) -> None:
        acc = history["test_acc"][-1]
        self.last = (f"{self.label}  {iteration:>{len(str(total))}}/{total}  acc {100 * acc:5.1f}%  "
                     f"{time.perf_counter() - self.start:6.1f} s")
        if self.live:
            self.stream.write("\r" + self.last)
            self.stream.flush()

    def close(self, note: str = "") -> None:
        line = self.last + (f"  {note}" if note else "")
        self.stream.write(("\r" if self.live else "") + line + "\n")
        self.stream.flush()


# ----------------------------------------------------------------------------- the loop

def train(model, optimizer, schedule, train_loader, iterations: int, eval_every: int, test_data,
          device: str = "cpu", seed: int | None = None, *, momentum_schedule: Callable | None = None,
          progress: Callable | bool | None = None, eval_batch_size: int = 1000,
          loss_fn: Callable | None = None) -> dict[str, Any]:
    """Train ``model`` for ``iterations`` mini-batches and evaluate every ``eval_every`` of them.

    Args:
        model: a tinynet module on ``device``, mapping a batch x to logits (N, classes).
        optimizer: a tinynet optimizer over the model's parameters.
        schedule: None (the optimizer's own lr, fixed), a policy ``it -> lr`` or a scheduler with
            ``step()`` (see :class:`_Schedule`).
        train_loader: a DataLoader of ``(x, y)`` NumPy batches; it is cycled across epochs.
        iterations: optimizer steps to take (>= 1).
        eval_every: evaluate after every this many steps (>= 1), and always after the last one.
        test_data: ``(x, y)`` arrays or an iterable of batches, evaluated with :func:`evaluate`.
        device: where batches go ('cpu' or 'cuda').
        seed: re-seed and rewind the DataLoader (``loader.seed = seed``, ``loader.epoch = 0``) so runs
            with the same seed see the same batches. None uses the loader as it stands.
        momentum_schedule: optional ``it -> momentum`` set before each step (with a policy schedule).
        progress: None/False (silent), True (a :class:`ProgressLine` on stderr), or a callable
            ``progress(iteration, iterations, history)`` called at every evaluation.
        loss_fn: ``loss_fn(logits, y)``, default cross-entropy.

    Returns:
        A history dict of lists, one entry per evaluation (the first at iteration 0, before training):
        ``iteration`` (steps taken), ``lr`` and ``momentum`` (of the last step taken; at 0 those of
        the first step), ``train_loss`` (mean training loss over the steps since the previous
        evaluation; NaN at 0), ``test_loss``, ``test_acc`` (a fraction), ``time_s`` (seconds since
        the start, evaluation included). Also ``steps``: per-step ``lr``, ``momentum`` and ``loss``
        lists; ``diverged_at`` (the step whose loss was not finite, after which training stopped, or
        None); ``seed`` and ``iterations``.
    """
    iterations = _positive_int("iterations", iterations)
    eval_every = _positive_int("eval_every", eval_every)
    groups = getattr(optimizer, "param_groups", None)
    if not groups or "lr" not in groups[0]:
        raise TypeError(f"optimizer must have param_groups with an 'lr' entry; got {type(optimizer).__name__}")
    loss_fn = F.cross_entropy if loss_fn is None else loss_fn
    sched = _Schedule(schedule, momentum_schedule, optimizer)
    own_progress = progress is True
    if own_progress:
        progress = ProgressLine("train")
    batches = _batches(train_loader, seed)

    history: dict[str, Any] = {k: [] for k in HISTORY_KEYS}
    steps = {"lr": [], "momentum": [], "loss": []}
    history.update(steps=steps, diverged_at=None, seed=seed, iterations=iterations)
    start = time.perf_counter()

    def record(it: int, lr: float, momentum: float, interval_losses: list[float]) -> None:
        test_loss, test_acc = evaluate(model, test_data, device, eval_batch_size)
        history["iteration"].append(it)
        history["lr"].append(lr)
        history["momentum"].append(momentum)
        history["train_loss"].append(float(np.mean(interval_losses)) if interval_losses else math.nan)
        history["test_loss"].append(test_loss)
        history["test_acc"].append(test_acc)
        history["time_s"].append(time.perf_counter() - start)
        if progress:
            progress(it, iterations, history)

    sched.before_step(0)
    record(0, current_lr(optimizer), current_momentum(optimizer), [])
    model.train()
    interval: list[float] = []
    for it in range(iterations):
        sched.before_step(it)
        lr, momentum = current_lr(optimizer), current_momentum(optimizer)
        x, y = next(batches)
        loss = loss_fn(model(_as_tensor(x, device)), _labels(y))
        value = float(loss.item())
        if not math.isfinite(value):
            # Stop rather than fill the history with NaN: the weights are already ruined.
            history["diverged_at"] = it
            break
        optimizer.zero_grad()
        loss.backward()
        optimizer.step()
        sched.after_step()
        steps["lr"].append(lr)
        steps["momentum"].append(momentum)
        steps["loss"].append(value)
        interval.append(value)
        done = it + 1
        if done % eval_every == 0 or done == iterations:
            record(done, lr, momentum, interval)
            interval = []
    if own_progress:
        progress.close(f"diverged at iteration {history['diverged_at']}" if history["diverged_at"] is not None
                       else "")
    return history


# ----------------------------------------------------------------------------- reading a history

def iterations_to_reach(history: Mapping[str, Sequence[float]], target_acc: float) -> int | None:
    """The first evaluated iteration at which test accuracy reaches ``target_acc``, or None.

    This is how the CLR paper compares policies: "the same accuracy in fewer iterations". The
    resolution is the evaluation interval. Accuracies are fractions; a tolerance of 1e-9 keeps a
    target read off another history (e.g. 0.812) reachable despite floating-point rounding.
    """
    if not (isinstance(target_acc, (int, float, np.floating)) and math.isfinite(target_acc)):
        raise ValueError(f"target_acc must be a finite number (a fraction in [0, 1]); got {target_acc!r}")
    if not 0 <= target_acc <= 1:
        raise ValueError(f"target_acc must be a fraction in [0, 1]; got {target_acc!r} (percent? divide by 100)")
    its, accs = history["iteration"], history["test_acc"]
    if len(its) != len(accs):
        raise ValueError(f"history has {len(its)} iterations but {len(accs)} test_acc values")
    for it, acc in zip(its, accs):
        if acc is not None and math.isfinite(acc) and acc >= target_acc - 1e-9:
            return int(it)
    return None


def final_accuracy(history: Mapping[str, Sequence[float]]) -> float:
    """Test accuracy at the last evaluation (the end of training, or where a run diverged)."""
    if not history["test_acc"]:
        raise ValueError("history has no evaluations")
    return float(history["test_acc"][-1])
