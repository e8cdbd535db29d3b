"""The LR range test: train briefly while the learning rate grows, and watch the loss and accuracy.

Smith (2017, section 3.3) raises the lr *linearly* for a few epochs and reads bounds for cyclical
learning rates off the accuracy curve; fastai and torch-lr-finder sweep *exponentially* over many
decades and read one lr off the smoothed loss. Both are here:

    lr_i = start + i / (n - 1) * (end - start)          step_mode='linear'
    lr_i = start * (end / start) ** (i / (n - 1))       step_mode='exp'         i = 0 .. n - 1

so the first step uses exactly ``start_lr`` and the last exactly ``end_lr``. At each step i the
trainer takes one optimizer step at lr_i on the next batch (the loader restarts when it runs out),
and the test records the loss *before* that update, its smoothed value and the batch accuracy:

    avg_i      = beta * avg_{i-1} + (1 - beta) * loss_i,   avg_{-1} = 0
    smoothed_i = avg_i / (1 - beta ** (i + 1))             (bias-corrected EMA, fastai's, beta = 0.98)

It stops early when the loss is not finite, or when it diverges:
``smoothed_i > diverge_th * min(smoothed_0..i)`` with ``diverge_th = 4`` (fastai's rule; the ratio
test is skipped while the best loss is <= 0). Afterwards the model and optimizer are put back exactly
as they were (also after an exception), unless ``restore=False``.

The core never imports a framework. It drives a *trainer*: any object with

    set_lr(lr)                       set the learning rate of every parameter group
    train_step(batch) -> (loss, n_correct or None, n)   one optimizer step; loss before the update
    snapshot() -> state,  restore(state)               for putting everything back afterwards
    evaluate(batches) -> (loss, acc or None)           optional, for val_loader
    set_hyperparam(name, value)                        optional, for multi_range_test

:class:`ModelTrainer` adapts a tinynet or PyTorch model + optimizer (the framework is imported
lazily, inside it; ``batch_fn`` reads odd batches), and :class:`FunctionTrainer` wraps a plain
``step_fn(batch, lr)``. ``lr_range_test(model, optimizer, loader)`` builds the adapter for you.
"""
from __future__ import annotations

import copy
import csv
import io
import json
import math
import contextlib
import os
import sys
from dataclasses import dataclass, field
from typing import Callable, Iterable

import numpy as np

from . import suggest as _suggest
from .param_groups import momentum_key, set_hyperparams

STEP_MODES = ("linear", "exp")
DEFAULT_START_LR = 1e-7
DEFAULT_END_LR = 10.0
DEFAULT_NUM_ITER = 100
DEFAULT_SMOOTH_BETA = 0.98
DEFAULT_DIVERGE_TH = 4.0

STOP_COMPLETED = "completed"
STOP_DIVERGED = "diverged"
STOP_NONFINITE = "non-finite loss"

JSON_FORMAT = "clr.RangeTestResult"
JSON_VERSION = 1


# ----------------------------------------------------------------------------- schedule and smoothing

def _is_number(v) -> bool:
    return isinstance(v, (int, float, np.integer, np.floating)) and not isinstance(v, bool)


def lr_schedule(start_lr, end_lr, num_iter, step_mode="exp") -> np.ndarray:
    """The ``num_iter`` learning rates of a sweep, from exactly ``start_lr`` to exactly ``end_lr``.

        linear: lr_i = start + i / (n - 1) * (end - start)
        exp:    lr_i = start * (end / start) ** (i / (n - 1))
    """
    if step_mode not in STEP_MODES:
        raise ValueError(f"step_mode must be 'linear' (Smith's test) or 'exp' (fastai's); got {step_mode!r}")
    if isinstance(num_iter, bool) or not isinstance(num_iter, (int, np.integer)) or num_iter < 2:
        raise ValueError(f"num_iter must be an integer >= 2 (a sweep needs two ends); got {num_iter!r}")
    for name, v in (("start_lr", start_lr), ("end_lr", end_lr)):
        if not _is_number(v) or not math.isfinite(v):
            raise ValueError(f"{name} must be a finite number; got {v!r}")
    if start_lr >= end_lr:
        raise ValueError(f"start_lr must be smaller than end_lr; got start_lr={start_lr!r}, end_lr={end_lr!r}")
    if step_mode == "exp" and start_lr <= 0:
        raise ValueError(f"start_lr must be > 0 for step_mode='exp' (lr is multiplied up from it); got "
                         f"start_lr={start_lr!r}. Use e.g. 1e-7, or step_mode='linear' to start at 0")
    if step_mode == "linear" and start_lr < 0:
        raise ValueError(f"start_lr must be >= 0; got start_lr={start_lr!r}")
    frac = np.arange(num_iter) / (num_iter - 1)
    start, end = float(start_lr), float(end_lr)
    if step_mode == "linear":
        lrs = start + frac * (end - start)
    else:
        lrs = start * (end / start) ** frac
    lrs[-1] = end  # exactly end_lr, whatever the rounding of the formula
    return lrs


class DebiasedEMA:
    """Exponential moving average with bias correction (Adam's, fastai's AvgSmoothLoss).

    update(x) returns avg / (1 - beta ** count), so a constant input comes out unchanged from the
    first step on; beta = 0 means no smoothing.
    """

    def __init__(self, beta=DEFAULT_SMOOTH_BETA):
        _check_beta(beta)
        self.beta = float(beta)
        self.avg = 0.0
        self.count = 0

    def update(self, value: float) -> float:
        self.count += 1
        self.avg = self.beta * self.avg + (1.0 - self.beta) * value
        return self.avg / (1.0 - self.beta ** self.count)


def smooth(values, beta=DEFAULT_SMOOTH_BETA) -> np.ndarray:
    """The bias-corrected EMA of a whole sequence (what the range test records as smoothed loss)."""
    ema = DebiasedEMA(beta)
    return np.array([ema.update(float(v)) for v in values], dtype=np.float64)


def _check_beta(beta):
    if not _is_number(beta) or not 0 <= beta < 1:
        raise ValueError(f"smooth_beta must be in [0, 1) (0 = no smoothing, fastai uses 0.98); got {beta!r}")


# ----------------------------------------------------------------------------- trainers

def _split_batch(batch):
    """The default batch_fn: ``(x, y)``, or ``(x, y, extra...)`` whose extras are ignored."""
    if isinstance(batch, (tuple, list)) and len(batch) >= 2:
        return batch[0], batch[1]
    raise TypeError(f"a batch must be a pair (inputs, targets) or a tuple (inputs, targets, ...); got "
                    f"{type(batch).__name__}. Pass batch_fn=lambda batch: (inputs, targets) to say how to split it")


def _batch_size(y) -> int:
    shape = getattr(y, "shape", None)
    return int(shape[0]) if shape else len(y)


def _group_hyperparams(optimizer):
    """Copies of every param group's settings (all keys but 'params')."""
    return [{k: copy.deepcopy(v) for k, v in g.items() if k != "params"} for g in optimizer.param_groups]


def _set_group_hyperparam(optimizer, name: str, value):
    """Set ``name`` in every param group; 'momentum' falls back to betas[0] for Adam-like optimizers."""
    for i, g in enumerate(optimizer.param_groups):
        if name in ("lr", "momentum") and (name == "lr" or momentum_key(g) is not None):
            set_hyperparams(g, **{name: value})
        elif name in g:
            g[name] = value
        else:
            keys = sorted(k for k in g if k != "params")
            raise ValueError(f"param group {i} of {type(optimizer).__name__} has no {name!r} to set "
                             f"(it has {keys}); choose one of those for hyperparam")


class _Tinynet:
    """What is tinynet-specific: array -> Tensor on the model's device, no_grad, the default loss, RNGs."""

    def __init__(self, model, device):
        import tinynet

        self.tn = tinynet
        if device is not None:
            raise ValueError(f"device={device!r} is for torch models; a tinynet model keeps its parameters' "
                             "device (move it with model.to(device))")
        first = next(iter(model.parameters()), None)
        self.device = None if first is None else first.device
        self.default_loss = tinynet.functional.cross_entropy
        self.no_grad = tinynet.no_grad

    def inputs(self, x):
        return x if isinstance(x, self.tn.Tensor) else self.tn.Tensor(x, device=self.device)

    def targets(self, y):
        return y

    def n_correct(self, out, y):
        """Rows whose argmax is the integer target, computed where the data lives (one scalar to the host)."""
        logits = out.data
        labels = y.data if isinstance(y, self.tn.Tensor) else y
        xp = self.tn.backend.get_array_module(logits)
        if xp is not self.tn.backend.get_array_module(labels):
            labels = self.tn.backend.to_device(labels, self.tn.backend.device_of(logits))
        if logits.ndim != 2 or labels.shape != (logits.shape[0],) or labels.dtype.kind not in "iu":
            return None
        return int((xp.argmax(logits, axis=1) == labels).sum())

    @staticmethod
    def rng_state(model):
        """The state of every numpy Generator a module owns (Dropout's ``rng``)."""
        return [(m, name, copy.deepcopy(g.bit_generator.state)) for m in model.modules()
                for name, g in vars(m).items() if isinstance(g, np.random.Generator)]

    @staticmethod
    def set_rng_state(model, states):
        for m, name, state in states:
            getattr(m, name).bit_generator.state = copy.deepcopy(state)


class _Torch:
    """What is torch-specific: tensors moved to ``device`` (made from arrays only when needed), no_grad, RNGs."""

    def __init__(self, model, device):
        import torch

        self.torch = torch
        self.device = device
        self.default_loss = torch.nn.functional.cross_entropy
        self.no_grad = torch.no_grad

    def _to(self, v):
        """A tensor as it is (moved to ``device`` when one was given); an array as a tensor; lists, tuples
        and dicts of those keep their structure (a model with several inputs)."""
        if isinstance(v, dict):
            return {k: self._to(x) for k, x in v.items()}
        if isinstance(v, (list, tuple)):
            return type(v)(self._to(x) for x in v)
        if not isinstance(v, self.torch.Tensor):
            v = self.torch.as_tensor(v)
        return v if self.device is None else v.to(self.device)

    inputs = targets = _to

    def n_correct(self, out, y):
        if not isinstance(out, self.torch.Tensor) or not isinstance(y, self.torch.Tensor):
            return None
        if out.ndim != 2 or tuple(y.shape) != (out.shape[0],) or y.dtype.is_floating_point or y.dtype.is_complex:
            return None
        return int((out.argmax(dim=1) == y).sum().item())

    def rng_state(self, model):
        cuda = self.torch.cuda.get_rng_state_all() if self.torch.cuda.is_initialized() else None
        return self.torch.get_rng_state(), cuda

    def set_rng_state(self, model, state):
        cpu, cuda = state
        self.torch.set_rng_state(cpu)
        if cuda is not None:
            self.torch.cuda.set_rng_state_all(cuda)


_FRAMEWORKS = {"tinynet": _Tinynet, "torch": _Torch}


def _framework_of(model) -> str | None:
    """'torch' or 'tinynet' when ``model`` is an instance of that library's Module, else None.

    Only libraries that are already imported are asked (a torch model cannot exist without torch
    being imported), so this never imports anything.
    """
    torch = sys.modules.get("torch")
    if torch is not None and isinstance(model, torch.nn.Module):
        return "torch"
    tn_nn = sys.modules.get("tinynet.nn")
    if tn_nn is not None and isinstance(model, tn_nn.Module):
        return "tinynet"
    return None


class ModelTrainer:
    """The range test's adapter for a model + optimizer: tinynet, PyTorch, or anything shaped like them.

    ``model(inputs)`` gives outputs, ``loss_fn(outputs, targets)`` (default: cross-entropy) a scalar
    with ``.item()`` and ``.backward()``; the optimizer has ``param_groups``, ``zero_grad``, ``step``
    and state dicts. ``batch_fn(batch) -> (inputs, targets)`` says how to read a batch (default:
    ``(x, y)`` or ``(x, y, extra...)``). NumPy inputs become the framework's tensors; tensors are
    passed as they are (moved to ``device`` for torch). ``framework`` ('tinynet' or 'torch') is found
    from the model's class when not given.

    ``snapshot()``/``restore(state)`` cover the weights and buffers (state_dict), the optimizer's
    state and param-group settings, train/eval mode, every parameter's ``.grad`` and the random
    generators the model draws from (a tinynet Dropout's ``rng``; torch's global CPU/CUDA generators).
    A step whose loss is not finite is reported without touching the weights.
    """

    def __init__(self, model, optimizer, loss_fn=None, *, batch_fn=None, device=None, framework=None):
        groups = getattr(optimizer, "param_groups", None)
        if not groups or not all(isinstance(g, dict) and "lr" in g for g in groups):
            raise TypeError(f"optimizer must have param_groups, a list of dicts with an 'lr' entry; got "
                            f"{type(optimizer).__name__}")
        if not callable(model) or not callable(getattr(model, "parameters", None)):
            raise TypeError(f"model must be a module (callable, with parameters()); got {type(model).__name__}")
        for name, fn in (("loss_fn", loss_fn), ("batch_fn", batch_fn)):
            if fn is not None and not callable(fn):
                raise TypeError(f"{name} must be callable; got {type(fn).__name__}")
        framework = framework or _framework_of(model)
        if framework not in _FRAMEWORKS:
            raise TypeError(f"cannot tell whether {type(model).__name__} is a tinynet or a torch module; pass "
                            "framework='tinynet' or 'torch', or build a trainer yourself for run_range_test")
        self.fw = _FRAMEWORKS[framework](model, device)
        self.model, self.optimizer = model, optimizer
        self.loss_fn = loss_fn or self.fw.default_loss
        self.batch_fn = batch_fn or _split_batch

    def set_lr(self, lr: float) -> None:
        for g in self.optimizer.param_groups:
            set_hyperparams(g, lr=lr)

    def set_hyperparam(self, name: str, value) -> None:
        _set_group_hyperparam(self.optimizer, name, value)

    def _forward(self, batch):
        x, y = self.batch_fn(batch)
        y = self.fw.targets(y)
        out = self.model(self.fw.inputs(x))
        return out, y, self.loss_fn(out, y)

    def train_step(self, batch):
        self.model.train()
        out, y, loss = self._forward(batch)
        value = float(loss.item())
        if math.isfinite(value):  # a non-finite step is reported without touching the weights
            self.optimizer.zero_grad()
            loss.backward()
            self.optimizer.step()
        return value, self.fw.n_correct(out, y), _batch_size(y)

    def evaluate(self, batches):
        """Mean loss (weighted by batch size) and accuracy over ``batches``, in eval mode, without gradients."""
        training = getattr(self.model, "training", True)
        self.model.eval()
        total_loss, total_correct, total_n, have_acc = 0.0, 0, 0, True
        try:
            with self.fw.no_grad():
                for batch in batches:
                    out, y, loss = self._forward(batch)
                    n = _batch_size(y)
                    total_loss += float(loss.item()) * n
                    correct = self.fw.n_correct(out, y)
                    have_acc = have_acc and correct is not None
                    total_correct += correct or 0
                    total_n += n
        finally:
            self.model.train(training)
        if total_n == 0:
            raise ValueError("val_loader yielded no batches")
        return total_loss / total_n, (total_correct / total_n if have_acc else None)

    def snapshot(self):
        return {"model": copy.deepcopy(self.model.state_dict()),
                "optimizer": copy.deepcopy(self.optimizer.state_dict()),
                "groups": _group_hyperparams(self.optimizer),
                "training": getattr(self.model, "training", True),
                "grads": [copy.deepcopy(p.grad) for p in self.model.parameters()],
                "rng": self.fw.rng_state(self.model)}

    def restore(self, state):
        # load copies, so that the snapshot survives being restored several times
        self.model.load_state_dict(copy.deepcopy(state["model"]))
        self.optimizer.load_state_dict(copy.deepcopy(state["optimizer"]))
        for g, saved in zip(self.optimizer.param_groups, state["groups"]):
            g.update(copy.deepcopy(saved))
        for p, grad in zip(self.model.parameters(), state["grads"]):
            p.grad = copy.deepcopy(grad)
        self.fw.set_rng_state(self.model, state["rng"])
        self.model.train(state["training"])


def make_trainer(model, optimizer, loss_fn=None, *, batch_fn=None, device=None, framework=None) -> ModelTrainer:
    """The adapter for ``model`` + ``optimizer`` (see :class:`ModelTrainer`)."""
    return ModelTrainer(model, optimizer, loss_fn, batch_fn=batch_fn, device=device, framework=framework)


class FunctionTrainer:
    """Wrap ``step_fn(batch, lr) -> loss`` or ``-> (loss, accuracy)`` as a trainer.

    ``step_fn`` takes one optimizer step at ``lr`` and returns the loss before it (and, optionally, the
    batch accuracy as a fraction). Pass ``snapshot() -> state`` and ``restore(state)`` to let the test
    put your model back afterwards; without them, run with ``restore=False``. ``evaluate(batches)``
    (optional) returns the validation loss or ``(loss, accuracy)``.
    """

    def __init__(self, step_fn: Callable, snapshot: Callable | None = None, restore: Callable | None = None,
                 evaluate: Callable | None = None):
        for name, fn in (("step_fn", step_fn), ("snapshot", snapshot), ("restore", restore),
                         ("evaluate", evaluate)):
            if fn is not None and not callable(fn):
                raise TypeError(f"{name} must be callable; got {type(fn).__name__}")
        if (snapshot is None) != (restore is None):
            raise TypeError("pass both snapshot and restore, or neither")
        self.step_fn = step_fn
        self._snapshot, self._restore, self._evaluate = snapshot, restore, evaluate
        self.lr = None

    @property
    def can_restore(self) -> bool:
        return self._snapshot is not None

    @property
    def can_evaluate(self) -> bool:
        return self._evaluate is not None

    def set_lr(self, lr: float) -> None:
        self.lr = lr

    @staticmethod
    def _loss_acc(out, what):
        if isinstance(out, tuple):
            if len(out) != 2:
                raise TypeError(f"{what} must return loss or (loss, accuracy); got a tuple of {len(out)}")
            loss, acc = out
            return float(loss), (None if acc is None else float(acc))
        return float(out), None

    def train_step(self, batch):
        loss, acc = self._loss_acc(self.step_fn(batch, self.lr), "step_fn")
        return loss, acc, 1  # accuracy as a fraction of one "sample"

    def evaluate(self, batches):
        if self._evaluate is None:
            raise TypeError("val_loader was given but this FunctionTrainer has no evaluate function; "
                            "pass FunctionTrainer(step_fn, evaluate=...)")
        return self._loss_acc(self._evaluate(batches), "evaluate")

    def snapshot(self):
        if self._snapshot is None:
            raise TypeError("this FunctionTrainer cannot snapshot; pass snapshot= and restore=, or restore=False")
        return self._snapshot()

    def restore(self, state):
        self._restore(state)

def can_evaluate(trainer) -> bool:
    """Whether ``trainer`` can evaluate a val_loader (a FunctionTrainer only when given ``evaluate``)."""
    return callable(getattr(trainer, "evaluate", None)) and getattr(trainer, "can_evaluate", True)


def _as_trainer(trainer):
    """A trainer object as it is, a step function wrapped in FunctionTrainer; a model gets a clear error."""
    if all(callable(getattr(trainer, m, None)) for m in ("set_lr", "train_step")):
        return trainer
    if callable(getattr(trainer, "parameters", None)):
        raise TypeError(f"got a {type(trainer).__name__} model where a trainer was expected; use "
                        "lr_range_test(model, optimizer, loader) or wrap it with make_trainer(model, optimizer)")
    if callable(trainer):
        return FunctionTrainer(trainer)
    raise TypeError(f"trainer must have set_lr(lr) and train_step(batch), or be a step function "
                    f"step_fn(batch, lr); got {type(trainer).__name__}")


def as_trainer(model, optimizer=None, loss_fn=None, **options):
    """make_trainer(model, optimizer, ...) for a model; a trainer object (optimizer=None) as it is."""
    if optimizer is None:
        if options.get("batch_fn") is not None or options.get("device") is not None or loss_fn is not None:
            raise TypeError("loss_fn, batch_fn and device are for a model + optimizer; a trainer object brings "
                            "its own")
        return _as_trainer(model)
    return make_trainer(model, optimizer, loss_fn, **options)


# ----------------------------------------------------------------------------- the result

def write_atomically(path, data) -> None:
    """Write str (UTF-8) or bytes to ``path``: temp file in the same folder, then os.replace.

    The writer is tinynet's (``tinynet/atomic.py``, one for the whole project), imported here and not
    at module level so that clr's policies, schedulers and range test import without tinynet.
    """
    from tinynet.atomic import atomic_write

    payload = data.encode("utf-8") if isinstance(data, str) else data
    atomic_write(path, lambda f: f.write(payload), "wb")


def _encode_floats(a):
    """JSON has no NaN/inf: write them as the strings 'nan', 'inf', '-inf' (float() reads them back)."""
    if a is None:
        return None
    return [float(v) if math.isfinite(v) else repr(float(v)) for v in np.asarray(a, dtype=np.float64)]


_NONFINITE = {"nan": math.nan, "inf": math.inf, "-inf": -math.inf}


def _decode_floats(a, name: str):
    """A list of numbers (or 'nan', 'inf', '-inf') as a float64 array; None stays None."""
    if a is None:
        return None
    if not isinstance(a, list):
        raise ValueError(f"{name!r} must be a list of numbers, got {type(a).__name__}")
    out = np.empty(len(a), dtype=np.float64)
    for i, v in enumerate(a):
        if isinstance(v, (int, float)) and not isinstance(v, bool):
            out[i] = v
        elif isinstance(v, str) and v in _NONFINITE:
            out[i] = _NONFINITE[v]
        else:
            raise ValueError(f"{name}[{i}] must be a number or one of 'nan', 'inf', '-inf'; got {v!r:.40}")
    return out


_ARRAYS = ("lrs", "losses", "smoothed_losses", "train_acc", "val_lrs", "val_losses", "val_acc")


@dataclass
class RangeTestResult:
    """What a range test recorded: one entry per step taken, plus the validation points.

    lrs, losses, smoothed_losses: (n,) float arrays, n = steps taken (<= num_iter).
    train_acc: (n,) batch accuracy in [0, 1], or None when the trainer reports none.
    val_iterations (m,) int, val_lrs, val_losses (m,), val_acc (m,) or None: validation points.
    stop_reason: 'completed', 'diverged' or 'non-finite loss'; diverged_at: index of the step that
    stopped the test (None when completed). settings: the arguments of the test.
    """

    lrs: np.ndarray
    losses: np.ndarray
    smoothed_losses: np.ndarray
    train_acc: np.ndarray | None = None
    val_iterations: np.ndarray = field(default_factory=lambda: np.zeros(0, dtype=np.int64))
    val_lrs: np.ndarray = field(default_factory=lambda: np.zeros(0))
    val_losses: np.ndarray = field(default_factory=lambda: np.zeros(0))
    val_acc: np.ndarray | None = None
    stop_reason: str = STOP_COMPLETED
    diverged_at: int | None = None
    settings: dict = field(default_factory=dict)

    def __len__(self):
        return len(self.lrs)

    @property
    def iterations(self) -> np.ndarray:
        return np.arange(len(self.lrs))

    @property
    def diverged(self) -> bool:
        return self.diverged_at is not None

    @property
    def diverged_lr(self) -> float | None:
        """The lr of the step that stopped the test, or None."""
        return None if self.diverged_at is None else float(self.lrs[self.diverged_at])

    def __repr__(self):
        s = self.settings
        head = (f"RangeTestResult({len(self)} of {s.get('num_iter', '?')} steps, {s.get('step_mode', '?')} "
                f"{s.get('start_lr', float('nan')):.3g} -> {s.get('end_lr', float('nan')):.3g}")
        if self.diverged:
            return f"{head}, stopped: {self.stop_reason} at lr {self.diverged_lr:.4g} (step {self.diverged_at}))"
        return f"{head}, {self.stop_reason})"

    # ------------------------------------------------------------------ suggestions
    def suggest(self, method="auto", source="auto", **options) -> _suggest.Bounds:
        """Bounds from one rule of :mod:`clr.suggest` ('accuracy', 'minimum', 'steep', 'valley', 'slide', 'steepest').

        method='auto': 'accuracy' for a linear sweep that recorded accuracy (Smith's reading), else
        'minimum' (fastai's lr at the lowest loss / 10, the most cautious of the loss rules). source:
        'train' reads the per-step curves (smoothed loss, batch accuracy), 'val' the validation
        points; 'auto' takes validation accuracy when there is any (far less noisy than batch
        accuracy) and the training loss otherwise. The loss rules get the raw losses too, so they
        refuse a curve without signal, and fastai's rules skip ``num_iter // 10`` of the planned steps
        as fastai does. ``options`` go to the rule.
        """
        if source not in ("auto", "train", "val"):
            raise ValueError(f"source must be 'auto', 'train' or 'val'; got {source!r}")
        has_val = len(self.val_lrs) > 0
        has_acc = self.train_acc is not None or (self.val_acc is not None and has_val)
        if method == "auto":
            method = "accuracy" if self.settings.get("step_mode") == "linear" and has_acc else "minimum"
        if source == "val" and not has_val:
            raise ValueError("source='val' but the test has no validation points; pass val_loader to the test")
        if method == "accuracy":
            use_val = source == "val" or (source == "auto" and has_val and self.val_acc is not None)
            if use_val:
                return _suggest.suggest_bounds(method, self.val_lrs, accuracy=self.val_acc, **options)
            return _suggest.suggest_bounds(method, self.lrs, accuracy=self.train_acc, **options)
        if source == "val":
            return _suggest.suggest_bounds(method, self.val_lrs, losses=self.val_losses, **options)
        if method == "steepest":  # torch-lr-finder's rule reads torch-lr-finder's curve
            history = _suggest.torch_lr_finder_losses(self.losses)
            n = len(history)
            options.setdefault("raw_losses", self.losses[:n])
            return _suggest.suggest_bounds(method, self.lrs[:n], losses=history, **options)
        if method in ("minimum", "steep", "valley", "slide") and "num_iter" in self.settings:
            options.setdefault("skip_start", min(int(self.settings["num_iter"]) // 10, len(self)))
        options.setdefault("raw_losses", self.losses)
        return _suggest.suggest_bounds(method, self.lrs, losses=self.smoothed_losses, **options)

    # ------------------------------------------------------------------ saving
    def to_dict(self) -> dict:
        """A JSON-ready dict (non-finite floats as the strings 'nan', 'inf', '-inf')."""
        d = {"format": JSON_FORMAT, "version": JSON_VERSION, "stop_reason": self.stop_reason,
             "diverged_at": self.diverged_at, "settings": dict(self.settings),
             "val_iterations": [int(i) for i in self.val_iterations]}
        for name in _ARRAYS:
            d[name] = _encode_floats(getattr(self, name))
        return d

    @classmethod
    def from_dict(cls, d: dict) -> "RangeTestResult":
        """The inverse of to_dict; every field is checked (types, lengths, ranges) before building."""
        if not isinstance(d, dict) or d.get("format") != JSON_FORMAT:
            raise ValueError(f"not a saved RangeTestResult (expected format {JSON_FORMAT!r})")
        if d.get("version") != JSON_VERSION:
            raise ValueError(f"unsupported RangeTestResult version {d.get('version')!r}; this clr reads "
                             f"version {JSON_VERSION}")
        arrays = {name: _decode_floats(d.get(name), name) for name in _ARRAYS}
        for name in ("lrs", "losses", "smoothed_losses"):
            if arrays[name] is None:
                raise ValueError(f"{name!r} is missing")
        for name in ("val_lrs", "val_losses"):
            if arrays[name] is None:
                arrays[name] = np.zeros(0)
        n, m = len(arrays["lrs"]), len(arrays["val_lrs"])
        for name, size in (("losses", n), ("smoothed_losses", n), ("train_acc", n), ("val_losses", m),
                           ("val_acc", m)):
            if arrays[name] is not None and len(arrays[name]) != size:
                raise ValueError(f"{name!r} has {len(arrays[name])} values; expected {size}")
        its = d.get("val_iterations", [])
        if not (isinstance(its, list) and len(its) == m
                and all(isinstance(i, int) and not isinstance(i, bool) and 0 <= i < n for i in its)):
            raise ValueError(f"'val_iterations' must be {m} step indices in [0, {n}); got {its!r:.80}")
        stop, at = d.get("stop_reason"), d.get("diverged_at")
        if stop not in (STOP_COMPLETED, STOP_DIVERGED, STOP_NONFINITE):
            raise ValueError(f"'stop_reason' must be one of {STOP_COMPLETED!r}, {STOP_DIVERGED!r}, "
                             f"{STOP_NONFINITE!r}; got {stop!r:.40}")
        if (at is None) != (stop == STOP_COMPLETED) or not (
                at is None or (isinstance(at, int) and not isinstance(at, bool) and 0 <= at < n)):
            raise ValueError(f"'diverged_at' must be None for a completed test, else a step index in [0, {n}); "
                             f"got {at!r:.40} with stop_reason {stop!r}")
        settings = d.get("settings", {})
        if not isinstance(settings, dict):
            raise ValueError(f"'settings' must be an object, got {type(settings).__name__}")
        return cls(**arrays, val_iterations=np.asarray(its, dtype=np.int64), stop_reason=stop, diverged_at=at,
                   settings=settings)

    def to_json(self, path) -> None:
        """Save everything (atomically: temp file, then os.replace). Read back with from_json."""
        write_atomically(path, json.dumps(self.to_dict(), indent=1, allow_nan=False) + "\n")

    @classmethod
    def from_json(cls, path) -> "RangeTestResult":
        """Read a file written by to_json; a damaged or foreign file raises ValueError naming it."""
        with open(path, encoding="utf-8") as f:
            try:
                data = json.load(f)
            except (json.JSONDecodeError, UnicodeDecodeError, RecursionError) as e:
                raise ValueError(f"{os.fspath(path)!r} is not a readable RangeTestResult JSON file: {e}") from None
        try:
            return cls.from_dict(data)
        except ValueError as e:
            raise ValueError(f"{os.fspath(path)!r}: {e}") from None

    def to_csv(self, path) -> None:
        """One row per step: iteration, lr, loss, smoothed_loss[, train_acc][, val_loss, val_acc].

        Validation columns are empty except at the steps where validation ran. Written atomically.
        """
        header = ["iteration", "lr", "loss", "smoothed_loss"]
        if self.train_acc is not None:
            header.append("train_acc")
        has_val = len(self.val_iterations) > 0
        if has_val:
            header.append("val_loss")
            if self.val_acc is not None:
                header.append("val_acc")
        val_at = {int(it): k for k, it in enumerate(self.val_iterations)}
        buf = io.StringIO()
        writer = csv.writer(buf, lineterminator="\n")
        writer.writerow(header)
        for i in range(len(self)):
            row = [i, repr(float(self.lrs[i])), repr(float(self.losses[i])), repr(float(self.smoothed_losses[i]))]
            if self.train_acc is not None:
                row.append(repr(float(self.train_acc[i])))
            if has_val:
                k = val_at.get(i)
                row.append("" if k is None else repr(float(self.val_losses[k])))
                if self.val_acc is not None:
                    row.append("" if k is None else repr(float(self.val_acc[k])))
            writer.writerow(row)
        write_atomically(path, buf.getvalue())


# ----------------------------------------------------------------------------- running the test

def cycle_batches(loader) -> Iterable:
    """Yield batches forever, restarting ``iter(loader)`` whenever it runs out."""
    try:
        it = iter(loader)
    except TypeError:
        raise TypeError(f"loader must be an iterable of batches (a list, a DataLoader...); got "
                        f"{type(loader).__name__}") from None
    passes, in_this_pass = 0, 0
    while True:
        try:
            batch = next(it)
        except StopIteration:
            if in_this_pass == 0:
                if passes == 0:
                    raise ValueError("loader is empty: it yielded no batches") from None
                raise ValueError("loader yielded no batches when restarted: it looks like a one-shot iterator "
                                 "(a generator?); pass a list or a re-iterable loader so the test can cycle "
                                 "through it") from None
            it, passes, in_this_pass = iter(loader), passes + 1, 0
            continue
        in_this_pass += 1
        yield batch


def check_step(out):
    if not (isinstance(out, tuple) and len(out) == 3):
        raise TypeError(f"train_step must return (loss, n_correct or None, n); got {out!r:.80}")
    loss, correct, n = out
    return float(loss), (None if correct is None else float(correct)), float(n)


@contextlib.contextmanager
def restored(trainer, loader=None):
    """Snapshot ``trainer`` (and ``loader.epoch``, a tinynet DataLoader's epoch counter) and put both
    back on exit, also after an exception. Yields ``reset()``, which puts them back on demand, so that
    several tests can each start from the same state."""
    state = trainer.snapshot()
    epoch = getattr(loader, "epoch", None)
    epoch = epoch if isinstance(epoch, (int, np.integer)) and not isinstance(epoch, bool) else None

    def reset():
        trainer.restore(state)
        if epoch is not None:
            loader.epoch = epoch

    try:
        yield reset
    finally:
        reset()


def run_range_test(trainer, loader, *, start_lr=DEFAULT_START_LR, end_lr=DEFAULT_END_LR,
                   num_iter=DEFAULT_NUM_ITER, step_mode="exp", smooth_beta=DEFAULT_SMOOTH_BETA,
                   diverge_th=DEFAULT_DIVERGE_TH, val_loader=None, val_every=None,
                   restore=True) -> RangeTestResult:
    """Run an LR range test with ``trainer`` on batches from ``loader``; see the module docstring.

    Args:
        trainer: a trainer object (set_lr, train_step, snapshot, restore[, evaluate]) or a step
            function ``step_fn(batch, lr) -> loss or (loss, acc)`` (then pass restore=False).
        loader: re-iterable of batches; cycled when num_iter exceeds its length.
        start_lr, end_lr, num_iter, step_mode: the sweep (defaults 1e-7 -> 10 in 100 exp steps, fastai's).
            For Smith's test use step_mode='linear' over a narrower range, e.g. 0 -> a few times the
            lr an exp sweep suggests, over a few epochs.
        smooth_beta: EMA factor for the smoothed loss, in [0, 1).
        diverge_th: stop when smoothed loss > diverge_th * best smoothed loss; > 1, or None to only
            stop on non-finite losses.
        val_loader, val_every: evaluate on val_loader after every val_every-th step (steps
            val_every - 1, 2 * val_every - 1, ...; default every step).
        restore: put model and optimizer back afterwards, even after an exception (default True).
    Returns:
        RangeTestResult with what was recorded up to the stop.
    """
    trainer = _as_trainer(trainer)
    lrs = lr_schedule(start_lr, end_lr, num_iter, step_mode)
    _check_beta(smooth_beta)
    if diverge_th is not None and (not _is_number(diverge_th) or not math.isfinite(diverge_th) or diverge_th <= 1):
        raise ValueError(f"diverge_th must be a finite number > 1 (stop when the smoothed loss exceeds "
                         f"diverge_th x its best), or None; got {diverge_th!r}")
    if val_every is not None and val_loader is None:
        raise ValueError(f"val_every={val_every!r} was given without a val_loader")
    if val_loader is not None:
        val_every = 1 if val_every is None else val_every
        if isinstance(val_every, bool) or not isinstance(val_every, (int, np.integer)) or val_every < 1:
            raise ValueError(f"val_every must be an integer >= 1; got {val_every!r}")
        if not can_evaluate(trainer):
            raise TypeError(f"val_loader needs a trainer with evaluate(batches); {type(trainer).__name__} has none"
                            + (" (pass FunctionTrainer(step_fn, evaluate=...))" if isinstance(trainer, FunctionTrainer)
                               else ""))
    if restore:
        if not (callable(getattr(trainer, "snapshot", None)) and callable(getattr(trainer, "restore", None))) \
                or not getattr(trainer, "can_restore", True):
            raise TypeError(f"restore=True needs a trainer with snapshot() and restore(state); "
                            f"{type(trainer).__name__} cannot put the model back. Pass restore=False, or give "
                            "FunctionTrainer(step_fn, snapshot=..., restore=...)")
    settings = {"start_lr": float(start_lr), "end_lr": float(end_lr), "num_iter": int(num_iter),
                "step_mode": step_mode, "smooth_beta": float(smooth_beta),
                "diverge_th": None if diverge_th is None else float(diverge_th),
                "val_every": None if val_loader is None else int(val_every), "restore": bool(restore)}

    losses, smoothed, correct, counts = [], [], [], []
    val_its, val_losses, val_accs = [], [], []
    stop_reason, stopped_at = STOP_COMPLETED, None
    ema = DebiasedEMA(smooth_beta)
    best = math.inf
    batches = cycle_batches(loader)
    # Overflow at the top of the sweep is the expected end of a range test: it is detected below
    # (non-finite or diverging loss) and reported in the result, so NumPy's warnings are only noise.
    with np.errstate(over="ignore", invalid="ignore", divide="ignore"), \
            (restored(trainer, loader) if restore else contextlib.nullcontext()):
        try:
            for i, lr in enumerate(lrs):
                batch = next(batches)
                trainer.set_lr(float(lr))
                loss, n_correct, n = check_step(trainer.train_step(batch))
                s = ema.update(loss)
                losses.append(loss)
                smoothed.append(s)
                correct.append(n_correct)
                counts.append(n)
                if not (math.isfinite(loss) and math.isfinite(s)):
                    stop_reason, stopped_at = STOP_NONFINITE, i
                    break
                best = min(best, s)
                # the ratio test only makes sense for a positive best loss
                if diverge_th is not None and best > 0 and s > diverge_th * best:
                    stop_reason, stopped_at = STOP_DIVERGED, i
                    break
                if val_loader is not None and (i + 1) % val_every == 0:
                    v_loss, v_acc = trainer.evaluate(val_loader)
                    val_its.append(i)
                    val_losses.append(float(v_loss))
                    val_accs.append(None if v_acc is None else float(v_acc))
        finally:
            batches.close()

    n_steps = len(losses)
    train_acc = None
    if any(c is not None for c in correct):
        train_acc = np.array([np.nan if c is None else c / n for c, n in zip(correct, counts)])
    val_acc = None
    if any(a is not None for a in val_accs):
        val_acc = np.array([np.nan if a is None else a for a in val_accs])
    return RangeTestResult(
        lrs=lrs[:n_steps].copy(), losses=np.array(losses, dtype=np.float64),
        smoothed_losses=np.array(smoothed, dtype=np.float64), train_acc=train_acc,
        val_iterations=np.array(val_its, dtype=np.int64), val_lrs=lrs[np.array(val_its, dtype=np.int64)],
        val_losses=np.array(val_losses, dtype=np.float64), val_acc=val_acc,
        stop_reason=stop_reason, diverged_at=stopped_at, settings=settings)


def lr_range_test(model, optimizer, loader, loss_fn=None, *, batch_fn=None, device=None, framework=None,
                  **options) -> RangeTestResult:
    """One-line range test for a tinynet or torch model: make_trainer, then run_range_test.

        result = clr.lr_range_test(model, optimizer, train_batches, num_iter=200)
        base_lr, max_lr = result.suggest()

    ``loss_fn(outputs, targets)`` defaults to cross-entropy; ``batch_fn(batch) -> (inputs, targets)``
    reads odd batches (dicts, extra fields); ``options`` are run_range_test's.
    """
    trainer = make_trainer(model, optimizer, loss_fn, batch_fn=batch_fn, device=device, framework=framework)
    return run_range_test(trainer, loader, **options)


def multi_range_test(trainer_or_factory, values, loader, *, hyperparam="weight_decay",
                     **options) -> dict[float, RangeTestResult]:
    """One range test per value of a hyper-parameter (Smith 2018: weight decay, momentum).

    ``trainer_or_factory`` is either a trainer with ``set_hyperparam(name, value)`` (the adapters
    have it; 'momentum' sets betas[0] on Adam-like optimizers), which is set to each value in turn
    and put back after each test, or a factory ``factory(value) -> trainer`` that builds a fresh
    trainer for each value (seed it so every curve starts from the same weights).
    Returns ``{value: RangeTestResult}`` in the order given; each result's settings record
    ``hyperparam`` and ``hyperparam_value``. ``options`` go to run_range_test.
    """
    if not isinstance(hyperparam, str) or not hyperparam:
        raise ValueError(f"hyperparam must be a non-empty string such as 'weight_decay'; got {hyperparam!r}")
    try:
        values = [float(v) for v in values]
    except (TypeError, ValueError):
        raise ValueError(f"values must be a sequence of numbers; got {values!r}") from None
    if not values:
        raise ValueError("values is empty; give the hyper-parameter values to compare, e.g. [1e-3, 1e-4, 0]")
    if not all(math.isfinite(v) for v in values) or len(set(values)) != len(values):
        raise ValueError(f"values must be finite and distinct; got {values}")
    restore = options.get("restore", True)
    is_trainer = callable(getattr(trainer_or_factory, "train_step", None))
    if is_trainer and not callable(getattr(trainer_or_factory, "set_hyperparam", None)):
        raise TypeError(f"{type(trainer_or_factory).__name__} has no set_hyperparam(name, value); pass a "
                        "factory(value) -> trainer instead")
    if not is_trainer and not callable(trainer_or_factory):
        raise TypeError(f"trainer_or_factory must be a trainer or a callable factory(value) -> trainer; got "
                        f"{type(trainer_or_factory).__name__}")

    results = {}
    for value in values:
        if is_trainer:
            trainer = trainer_or_factory
            # snapshot before changing the hyper-parameter, so the value itself is put back too
            with restored(trainer, loader) if restore else contextlib.nullcontext():
                trainer.set_hyperparam(hyperparam, value)
                result = run_range_test(trainer, loader, **{**options, "restore": False})
        else:
            result = run_range_test(trainer_or_factory(value), loader, **options)
        result.settings.update(hyperparam=hyperparam, hyperparam_value=value, restore=bool(restore))
        results[value] = result
    return results
