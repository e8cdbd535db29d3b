"""The whole CLR pipeline in one run: range test -> bounds -> five schedules -> comparison.

    tinynet-clr demo                      # MNIST-1D, the 1-D CNN, well under a minute on 2 CPU cores
    tinynet-clr demo --quick --out /tmp/d # a few seconds, for tests

Step by step (docs/demo.md explains how to read each output):

1. Data. The embedded MNIST-1D (no network). A seeded tenth of the training set (at most 1,000
   samples) is held out as a validation set for the range test only, so the bounds are chosen
   without looking at the test set.
2. Bounds: ``clr.find_bounds`` with the held-out split as its val_loader, untouched: an
   exponential probe finds the scale, Smith's linear test (2017, section 3.3) reads max_lr off the
   held-out accuracy, capped a factor 10 below where the probe broke down, and a short ramp-and-hold
   check confirms that training survives it (halving max_lr if not); base_lr = max_lr / 4. Its cost
   is a quarter of one policy's training. A curve without signal stops the demo with a message.
3. Training. The same network (same initial weights, same batches) is trained with each policy for
   the same number of iterations, a whole number of CLR cycles:
     fixed        lr = (base_lr + max_lr) / 2, the mean lr of a triangular cycle
     triangular   base_lr .. max_lr, step size = 4 epochs (paper: 2-10)
     triangular2  the same, amplitude halved every cycle
     exp_range    amplitude * gamma**it, gamma = 0.1 ** (1 / iterations): 10 % of it left at the end
     one_cycle    Smith's three-phase 1cycle: max_lr / 10 -> max_lr -> max_lr / 10 over 90 % of the run,
                  then down to max_lr / 1000; momentum 0.95 -> 0.85 -> 0.95 (the others keep 0.9)
4. Results. Final test accuracy, and the paper's measure: how many iterations each policy needed
   to reach the accuracy that the fixed policy ends with.
"""
from __future__ import annotations

import importlib.util
import math
import sys
import time
from dataclasses import asdict, dataclass, field
from pathlib import Path
from typing import Callable, Sequence

import numpy as np

import tinynet.data as tdata
from clr import policies as P
from clr.bounds import find_bounds as clr_find_bounds
from clr.range_test import RangeTestResult
from clr.suggest import Bounds
from clr.schedulers import PolicyScheduler
from tinynet import backend
from tinynet import threads as tthreads
from tinynet.optim import SGD

from . import models, records
from .grid import run_grid
from .outdir import OutputFolderError, RunFolder
from .train import HISTORY_KEYS, ProgressLine, final_accuracy, iterations_to_reach, train

POLICIES = ("fixed", "triangular", "triangular2", "exp_range", "one_cycle")


class DemoError(Exception):
    """A problem the user can fix (the message says how); the command prints it without a traceback."""

FIXED_CHOICES = ("base", "mid", "max")

#: dataset -> (default model, models that suit it)
DATASETS = {
    "mnist1d": ("cnn", ("cnn", "mlp", "logistic")),
    "fashion-mnist": ("cifar10_full", ("cifar10_full", "mlp", "logistic")),
    "mnist": ("cifar10_full", ("cifar10_full", "mlp", "logistic")),
    "cifar10": ("cifar10_full", ("cifar10_full", "mlp", "logistic")),
}

#: every file a demo run writes into --out (a folder holding anything else is not replaced)
OUTPUT_FILES = ("results.csv", "results.json", "report.md", "range_test.png", "schedules.png", "accuracy.png")

RESULT_COLUMNS = ("policy", "final_test_acc", "tail_test_acc_mean", "tail_test_acc_std", "best_test_acc",
                  "final_test_loss", "target_acc",
                  "iterations_to_target", "speedup_vs_fixed", "iterations", "diverged_at",
                  "lr_min", "lr_max", "momentum", "time_s")


# ----------------------------------------------------------------------------- settings

@dataclass
class DemoConfig:
    """What the user chose (the command-line options); everything else is derived from it."""
    dataset: str = "mnist1d"
    model: str | None = None            # None: the dataset's default
    iterations: int | None = None       # None: cycles * 2 * step size
    cycles: int = 8                     # CLR cycles in the training budget (paper: at least 3, 4+ better)
    step_epochs: float = 4.0            # CLR half-cycle in epochs (paper: 2-10; its CIFAR-10 runs use 4)
    range_iterations: int | None = None # None: a quarter of the training budget of one policy (>= 100)
    range_end: float | None = None      # None: find_bounds' default top of the probe (10)
    fixed_lr: str = "mid"               # 'base', 'mid', 'max' or a number
    policies: Sequence[str] = POLICIES
    batch_size: int = 100
    momentum: float = 0.9
    weight_decay: float = 0.0
    device: str = "cpu"
    seed: int = 0
    threads: int | None = None          # cores to use; None: $TINYNET_THREADS or all (tinynet.threads)
    out: Path = Path("demo-out")
    quick: bool = False
    download: bool = False
    plots: bool = True


@dataclass
class Data:
    x_train: np.ndarray
    y_train: np.ndarray
    x_test: np.ndarray
    y_test: np.ndarray
    name: str
    preprocessing: str

    @property
    def input_shape(self) -> tuple[int, ...]:
        return tuple(self.x_train.shape[1:])

    @property
    def classes(self) -> int:
        return int(max(self.y_train.max(), self.y_test.max())) + 1


@dataclass
class BoundsChoice:
    """The bounds used for training, the range tests they come from, and why (for the report)."""
    bounds: Bounds
    why: list[str]
    sweep: RangeTestResult               # the linear range test
    probe: RangeTestResult | None = None  # the exponential probe (None with --range-end)

    base_lr = property(lambda self: self.bounds.base_lr)
    max_lr = property(lambda self: self.bounds.max_lr)
    method = property(lambda self: self.bounds.method)


@dataclass
class Budget:
    """How long everything runs, fixed before the range test: it depends on the data size only."""
    iters_per_epoch: int
    step_size: int           # CLR half-cycle, iterations
    cycles: int
    iterations: int          # training iterations per policy = cycles * 2 * step_size
    eval_every: int
    range_iterations: int    # training steps find_bounds may take (its num_iter)
    notes: list[str] = field(default_factory=list)


@dataclass
class LrSettings:
    """The lr settings read off the bounds: the fixed lr, exp_range's gamma, the one-cycle shape."""
    fixed_lr: float
    fixed_rule: str
    gamma: float
    one_cycle_pct: float = 0.45          # 2 x 45 % cycle, then 10 % annihilation
    one_cycle_div: float = 10.0          # start and end of the cycle: max_lr / 10 (Smith's recipe)
    one_cycle_final_div: float = 100.0   # annihilation down to max_lr / 1000


# ----------------------------------------------------------------------------- data

def load_data(cfg: DemoConfig, model_name: str) -> Data:
    """The dataset as float32 arrays, preprocessed for the model.

    MNIST-1D comes standardised. Images: for Caffe's cifar10_full, Caffe's own preprocessing
    (subtract the per-pixel mean of the training set, 0-255 scale); for the MLP and logistic
    regression, scale to [0, 1] and standardise with the training set's mean and std.
    """
    if cfg.dataset == "mnist1d":
        split = tdata.load_mnist1d()
        data = Data(split.x_train, split.y_train, split.x_test, split.y_test, "MNIST-1D",
                    "none (MNIST-1D is standardised when generated)")
    else:
        loader = {"fashion-mnist": tdata.load_fashion_mnist, "mnist": tdata.load_mnist,
                  "cifar10": tdata.load_cifar10}[cfg.dataset]
        try:
            split = loader(download=cfg.download)
        except FileNotFoundError as e:
            raise DemoError(f"{e}\n(tinynet-clr demo: add --download to fetch it)") from None
        except ValueError as e:  # a file that fails its checksum or does not decode
            raise DemoError(str(e)) from None
        except OSError as e:  # --download without a network, a refused connection, a full disk
            raise DemoError(f"--download: could not get {cfg.dataset} ({e}); check the network connection, or "
                            "put the files where the loader looks (docs/data.md)") from None
        x_train, x_test = split.x_train.astype(np.float32), split.x_test.astype(np.float32)
        if model_name == "cifar10_full":
            mean = x_train.mean(axis=0, dtype=np.float64).astype(np.float32)
            x_train -= mean
            x_test -= mean
            how = "per-pixel mean of the training set subtracted, 0-255 scale (Caffe's)"
        else:
            x_train /= 255
            x_test /= 255
            mean, std = float(x_train.mean()), float(x_train.std())
            x_train = (x_train - mean) / std
            x_test = (x_test - mean) / std
            how = f"scaled to [0, 1], then standardised (mean {mean:.3f}, std {std:.3f} of the training set)"
        data = Data(x_train, split.y_train, x_test, split.y_test, split.name, how)
    if cfg.quick:  # a small slice: the quick run checks the plumbing, not the science
        data = Data(data.x_train[:1000], data.y_train[:1000], data.x_test[:500], data.y_test[:500],
                    data.name + " (quick subset)", data.preprocessing)
    return data


def holdout(data: Data, seed: int) -> tuple[tuple[np.ndarray, np.ndarray], tuple[np.ndarray, np.ndarray]]:
    """Split the training set into (fit, validation) for the range test: a seeded tenth (<= 1,000)."""
    n = len(data.x_train)
    n_val = min(1000, n // 10)
    order = np.random.default_rng([seed, 1]).permutation(n)
    val, fit = order[:n_val], order[n_val:]
    return (data.x_train[fit], data.y_train[fit]), (data.x_train[val], data.y_train[val])


def make_loader(x, y, batch_size: int, seed: int):
    return tdata.DataLoader(tdata.ArrayDataset(x, y), batch_size, shuffle=True, seed=seed)


# ----------------------------------------------------------------------------- the budget

def make_budget(cfg: DemoConfig, n_train: int) -> Budget:
    """Step size (``--step-epochs``), a whole number of cycles, the evaluation interval and the
    range-test length (half the training budget unless ``--range-iterations`` is given)."""
    iters_per_epoch = math.ceil(n_train / cfg.batch_size)
    notes = []
    if cfg.quick:
        step, cycles = 10, 2
    else:
        step, cycles = P.step_size_from_epochs(iters_per_epoch, cfg.step_epochs), cfg.cycles
    if cfg.iterations is not None:
        # keep the step size and fit as many whole cycles as the budget holds
        if cfg.iterations < 2 * step:
            step = max(1, cfg.iterations // 2)
        cycles = max(1, cfg.iterations // (2 * step))
        if cycles * 2 * step != cfg.iterations:
            notes.append(f"--iterations {cfg.iterations} rounded to {cycles * 2 * step}, a whole number of "
                         f"cycles ({cycles} x {2 * step}), so that training ends where the cyclical lr is lowest")
    iterations = cycles * 2 * step
    eval_every = 10 if cfg.quick else max(1, min(iters_per_epoch // 2, iterations // 20))
    if cfg.range_iterations is not None:
        range_iterations = cfg.range_iterations
    else:
        # a quarter of one policy's training: small next to the five trainings it serves
        range_iterations = 200 if cfg.quick else max(200, iterations // 4)
    return Budget(iters_per_epoch, step, cycles, iterations, eval_every, range_iterations, notes)


# ----------------------------------------------------------------------------- the range test

def find_bounds(cfg: DemoConfig, data: Data, budget: Budget, new_model: Callable, log: Callable) -> BoundsChoice:
    """``clr.find_bounds`` on the model, with a held-out tenth of the training set as its val_loader.

    Nothing here is specific to the demo: the same call, untouched, is what the README shows and
    what the experiments use. A curve without signal is a DemoError that says what was seen.
    """
    (x_fit, y_fit), (x_val, y_val) = holdout(data, cfg.seed)
    loader = make_loader(x_fit, y_fit, cfg.batch_size, cfg.seed)
    model = new_model()
    optimizer = SGD(model.parameters(), lr=0.0, momentum=cfg.momentum, weight_decay=cfg.weight_decay)
    options = {"num_iter": budget.range_iterations}
    if cfg.range_end is not None:
        options["end_lr"] = cfg.range_end
    try:
        bounds = clr_find_bounds(model, optimizer, loader, val_loader=[(x_val, y_val)], **options)
    except ValueError as e:
        raise DemoError(f"no CLR bounds could be read from the range test: {e}. Options that change the test: "
                        "--range-iterations (its length), --range-end (the top of its exponential probe)") from None
    why = [f"Held out for the range test: {len(x_val):,} of the {len(data.x_train):,} training samples; it "
           f"trains on the other {len(x_fit):,}."] + list(bounds.details["why"])
    return BoundsChoice(bounds, why, bounds.details["sweep"], bounds.details["probe"])


# ----------------------------------------------------------------------------- the schedules

def lr_settings(cfg: DemoConfig, budget: Budget, bounds: BoundsChoice) -> LrSettings:
    """The fixed policy's lr (``--fixed-lr``) and exp_range's gamma, from the bounds and the budget."""
    base, top = bounds.base_lr, bounds.max_lr
    if cfg.fixed_lr == "base":
        fixed, rule = base, "base_lr, the lower bound (the paper's choice for its fixed baselines)"
    elif cfg.fixed_lr == "max":
        fixed, rule = top, "max_lr, the upper bound"
    elif cfg.fixed_lr == "mid":
        fixed, rule = (base + top) / 2, ("the midpoint (base_lr + max_lr) / 2: the mean lr of a triangular "
                                         "cycle, so fixed and triangular take the same average step")
    else:
        fixed, rule = float(cfg.fixed_lr), "given with --fixed-lr"
    # exp_range: amplitude * gamma**it; a tenth is left after the whole budget. The paper's CIFAR-10
    # gamma 0.99994 leaves 8 % after its 42,000 iterations, about the same decay.
    gamma = 0.1 ** (1.0 / budget.iterations)
    return LrSettings(fixed, rule, gamma)


def make_policies(budget: Budget, bounds: BoundsChoice, lrs: LrSettings, names: Sequence[str]) -> dict:
    """{policy name: (lr policy, momentum policy or None)}, from clr.policies."""
    base, top, step = bounds.base_lr, bounds.max_lr, budget.step_size
    one_cycle = P.OneCycle(top, budget.iterations, pct_start=lrs.one_cycle_pct, anneal_strategy="linear",
                           div_factor=lrs.one_cycle_div, final_div_factor=lrs.one_cycle_final_div,
                           three_phase=True)
    table = {
        "fixed": (P.Fixed(lrs.fixed_lr), None),
        "triangular": (P.Triangular(base, top, step), None),
        "triangular2": (P.Triangular2(base, top, step), None),
        "exp_range": (P.ExpRange(base, top, step, lrs.gamma), None),
        "one_cycle": (one_cycle, one_cycle.momentum(0.85, 0.95)),
    }
    return {name: table[name] for name in names}


# ----------------------------------------------------------------------------- the run

def resolve(cfg: DemoConfig) -> DemoConfig:
    """Fill in defaults and check the combination (argparse has checked each value already)."""
    if cfg.dataset not in DATASETS:
        raise DemoError(f"unknown dataset {cfg.dataset!r}; choose one of {', '.join(DATASETS)}")
    default_model, suitable = DATASETS[cfg.dataset]
    model = cfg.model or default_model
    if model not in suitable:
        raise DemoError(f"model {model!r} does not suit dataset {cfg.dataset!r}; choose one of {', '.join(suitable)}")
    unknown = [p for p in cfg.policies if p not in POLICIES]
    if unknown or not cfg.policies:
        raise DemoError(f"unknown policies {unknown}; choose from {', '.join(POLICIES)}")
    policies = tuple(p for p in POLICIES if p in cfg.policies)  # fixed first: it sets the target
    try:
        device = backend.check_device(cfg.device, name="--device")
    except ValueError as e:  # e.g. cuda without CuPy or without a GPU
        raise DemoError(str(e)) from None
    return DemoConfig(**{**asdict(cfg), "model": model, "policies": policies, "device": device,
                         "out": Path(cfg.out)})


def matplotlib_available() -> bool:
    return importlib.util.find_spec("matplotlib") is not None


def run_demo(cfg: DemoConfig, log: Callable[[str], None] | None = None) -> dict:
    """Run the demo and write its outputs to ``cfg.out``; returns the results dict (as results.json)."""
    log = log or (lambda msg: print(msg, file=sys.stderr, flush=True))
    cfg = resolve(cfg)
    try:  # before any work: a bad --out must not cost the whole run
        folder = RunFolder(cfg.out, OUTPUT_FILES)
    except OutputFolderError as e:
        raise DemoError(str(e)) from None
    with folder as staging:
        return _run(cfg, staging, log)


def _run(cfg: DemoConfig, staging: Path, log: Callable[[str], None]) -> dict:
    """The run itself; outputs go to ``staging``, which becomes ``cfg.out`` once everything is written."""
    t_start = time.perf_counter()
    meta = records.run_metadata(seed=cfg.seed)
    plots = cfg.plots and matplotlib_available()
    if cfg.plots and not plots:
        log("matplotlib is not installed: skipping the plots (pip install matplotlib to get them)")

    data = load_data(cfg, cfg.model)

    def new_model():
        # the same seed every time: every policy starts from the same weights
        return models.build(cfg.model, cfg.seed, data.input_shape, data.classes).to(cfg.device)

    n_params = models.num_parameters(new_model())
    budget = make_budget(cfg, len(data.x_train))
    for note in budget.notes:
        log(f"note: {note}")
    log(f"[1/3] LR range test: {data.name}, model {cfg.model} ({n_params:,} parameters), seed {cfg.seed}, "
        f"{budget.range_iterations} iterations")
    t = time.perf_counter()
    with tthreads.limit(cfg.threads or tthreads.default_threads()):
        bounds = find_bounds(cfg, data, budget, new_model, log)
    seconds = time.perf_counter() - t
    log(f"      bounds ({bounds.method} rule): base_lr {bounds.base_lr:.4g}, max_lr {bounds.max_lr:.4g}  "
        f"({seconds:.1f} s)")

    lrs = lr_settings(cfg, budget, bounds)
    schedules = make_policies(budget, bounds, lrs, cfg.policies)
    # the range tests ran at about the speed of training, evaluations included: a fair estimate
    steps_done = len(bounds.sweep) + (len(bounds.probe) if bounds.probe is not None else 0)
    at_once = min(cfg.threads or tthreads.default_threads(), len(schedules))  # see train_policies
    estimate = seconds / steps_done * budget.iterations * math.ceil(len(schedules) / at_once)
    log(f"[2/3] training {len(schedules)} policies for {budget.iterations} iterations each "
        f"({budget.cycles} cycles of {2 * budget.step_size}; {budget.iterations / budget.iters_per_epoch:.0f} "
        f"epochs); estimated time {_duration(estimate)}")
    histories = train_policies(cfg, schedules, budget, log)

    runs = summarize(histories)
    results = {
        "meta": meta,
        "config": {**asdict(cfg), "out": str(cfg.out), "policies": list(cfg.policies)},
        "data": {"name": data.name, "train": len(data.x_train), "test": len(data.x_test),
                 "input_shape": list(data.input_shape), "preprocessing": data.preprocessing},
        "model": {"name": cfg.model, "parameters": n_params},
        "budget": asdict(budget),
        "bounds": {"base_lr": bounds.base_lr, "max_lr": bounds.max_lr, "method": bounds.method,
                   "explanation": bounds.why,
                   "details": _plain_details(bounds.bounds.details)},
        "lr_settings": asdict(lrs),
        "schedules": {name: {"lr": lr.to_dict(), "momentum": m.to_dict() if m is not None else cfg.momentum}
                      for name, (lr, m) in schedules.items()},
        "runs": runs,
        "histories": {name: {**{k: h[k] for k in HISTORY_KEYS}, "diverged_at": h["diverged_at"]}
                      for name, h in histories.items()},
        "range_test": bounds.sweep.to_dict(),
        "range_probe": bounds.probe.to_dict() if bounds.probe is not None else None,
    }

    log("[3/3] writing results" + (" and plots" if plots else "") + f" to {cfg.out}/")
    if plots:
        write_plots(staging, bounds, schedules, budget, histories, runs, cfg)
    results["total_time_s"] = time.perf_counter() - t_start
    records.write_csv(staging / "results.csv", runs, RESULT_COLUMNS)
    records.write_json(staging / "results.json", results)
    records.write_text(staging / "report.md", report(results, plots))
    print(summary_table(runs), flush=True)
    log(f"done in {results['total_time_s']:.0f} s")
    return results


def train_policy(cfg: DemoConfig, name: str, lr_policy, momentum_policy, budget: Budget,
                 live: bool = False) -> dict:
    """Train one policy: the same initial weights and batch order as every other policy.

    One cell of the demo's grid: module-level, and given only plain values (it loads the data
    itself), so a worker process can run it. ``live`` shows a progress line while it trains.
    """
    data = load_data(cfg, cfg.model)
    model = models.build(cfg.model, cfg.seed, data.input_shape, data.classes).to(cfg.device)
    optimizer = SGD(model.parameters(), lr=lr_policy(0), momentum=cfg.momentum, weight_decay=cfg.weight_decay)
    scheduler = PolicyScheduler(optimizer, lr_policy, momentum_policy)
    loader = make_loader(data.x_train, data.y_train, cfg.batch_size, cfg.seed)
    progress = ProgressLine(f"      {name:<11}") if live else None
    h = train(model, optimizer, scheduler, loader, budget.iterations, budget.eval_every,
              (data.x_test, data.y_test), device=cfg.device, seed=cfg.seed, progress=progress)
    if progress is not None:
        progress.close(f"diverged at iteration {h['diverged_at']}" if h["diverged_at"] is not None else "")
    return h


def train_policies(cfg: DemoConfig, schedules: dict, budget: Budget, log: Callable[[str], None]) -> dict:
    """{policy: history}: the policies trained side by side, one process per core (``cfg.threads``
    cores in all; with one core, one after another in this process). Each training is seeded, so the
    histories are those of a sequential run, in the same order."""
    cores = cfg.threads or tthreads.default_threads()
    workers = min(cores, len(schedules))
    cells = [{"cfg": cfg, "name": name, "lr_policy": lr, "momentum_policy": m, "budget": budget,
              "live": workers == 1} for name, (lr, m) in schedules.items()]

    def finished(event):  # a line per policy as it finishes (in one process, the live line says it)
        h = event.result
        status = event.error or (f"acc {100 * final_accuracy(h):.1f}%" + (
            f", diverged at iteration {h['diverged_at']}" if h["diverged_at"] is not None else ""))
        log(f"      {event.done}/{event.total} {event.cell['name']:<11} {status}  ({event.seconds:.1f} s)")

    if workers > 1:
        log(f"      {workers} trainings at a time, {max(1, cores // workers)} thread(s) each")
    results = run_grid(train_policy, cells, workers=workers, threads=max(1, cores // workers),
                       progress=finished if workers > 1 else None)
    return dict(zip(schedules, results))


def _plain_details(details: dict) -> dict:
    """find_bounds' details without the range tests themselves (saved whole under their own keys)."""
    plain = {k: v for k, v in details.items() if k not in ("probe", "sweep", "checks")}
    plain["checks"] = [{k: v for k, v in c.items() if k != "losses"} for c in details.get("checks", ())]
    return plain


def _duration(seconds: float) -> str:
    return f"{seconds:.0f} s" if seconds < 120 else f"{seconds / 60:.0f} min" if seconds < 7200 else \
        f"{seconds / 3600:.1f} h"


def summarize(histories: dict) -> list[dict]:
    """One row per policy: final and best accuracy, and the iterations it took to reach the target
    (the fixed policy's final accuracy), as in the paper's comparisons."""
    target = final_accuracy(histories["fixed"]) if "fixed" in histories else None
    fixed_reach = iterations_to_reach(histories["fixed"], target) if target is not None else None
    runs = []
    for name, h in histories.items():
        lrs, moms = h["steps"]["lr"], h["steps"]["momentum"]
        reach = iterations_to_reach(h, target) if target is not None else None
        # the last tenth of the evaluations: how steady the end is (one evaluation can be lucky)
        tail_mean, tail_std, _ = records.mean_std(h["test_acc"][-max(2, len(h["test_acc"]) // 10):])
        runs.append({
            "policy": name,
            "final_test_acc": final_accuracy(h),
            "tail_test_acc_mean": tail_mean,
            "tail_test_acc_std": tail_std,
            "best_test_acc": float(np.nanmax(h["test_acc"])),
            "final_test_loss": float(h["test_loss"][-1]),
            "target_acc": target,
            "iterations_to_target": reach,
            # fixed may itself reach its final accuracy before the end (the curve is noisy)
            "speedup_vs_fixed": fixed_reach / reach if reach and fixed_reach else None,
            "iterations": h["iterations"],
            "diverged_at": h["diverged_at"],
            "lr_min": min(lrs) if lrs else None,
            "lr_max": max(lrs) if lrs else None,
            "momentum": (f"{min(moms):g}-{max(moms):g}" if moms and min(moms) != max(moms)
                         else f"{moms[0]:g}" if moms else ""),
            "time_s": float(h["time_s"][-1]),
        })
    return runs


# ----------------------------------------------------------------------------- outputs

def _target(runs: list[dict]) -> float | None:
    return runs[0]["target_acc"] if runs else None


def write_plots(out: Path, bounds: BoundsChoice, schedules: dict, budget: Budget, histories: dict,
                runs: list[dict], cfg: DemoConfig) -> None:
    """range_test.png, schedules.png and accuracy.png (drawn by clr.plots, saved atomically)."""
    from clr import plots

    plots.plot_range_test(bounds.sweep, out / "range_test.png", suggestions=[bounds.bounds],
                          title=f"LR range test (linear sweep): {bounds.method} rule -> "
                                f"base_lr {bounds.base_lr:.3g}, max_lr {bounds.max_lr:.3g}")
    lr = {name: lr_policy for name, (lr_policy, _) in schedules.items()}
    momentum = {name: m if m is not None else P.Fixed(cfg.momentum) for name, (_, m) in schedules.items()}
    plots.plot_schedule(lr, budget.iterations, out / "schedules.png", momentum=momentum,
                        title=f"The schedules: step size {budget.step_size}, {budget.cycles} cycles")

    curves = {name: {"iterations": h["iteration"], "test_acc": h["test_acc"]} for name, h in histories.items()}
    fig = plots.plot_training_curves(curves, title="Test accuracy during training")
    ax = fig.axes[0]
    target = _target(runs)
    if target is not None:
        ax.axhline(target, color="gray", linestyle=":", linewidth=1.2,
                   label=f"target: fixed policy's final accuracy ({100 * target:.1f} %)")
        for k, r in enumerate(runs):  # a dot where each policy first reaches the target
            if r["iterations_to_target"] is not None:
                ax.plot([r["iterations_to_target"]], [target], "o", color=f"C{k % 10}", markersize=7)
        ax.legend(loc="lower right", fontsize="small")
    later = [a for h in histories.values() for a in h["test_acc"][len(h["test_acc"]) // 10:]]
    if later:  # zoom on the part worth reading: past the first tenth, where all are near chance
        ax.set_ylim(max(0.0, min(later) - 0.05), min(1.0, max(later) + 0.02))
    records.save_figure(fig, out / "accuracy.png", dpi=100)


def _fmt_it(it) -> str:
    return "not reached" if it is None else f"{it:,}"


def summary_table(runs: list[dict]) -> str:
    """The results as a Markdown table (printed at the end and put in the report)."""
    target = _target(runs)
    head = f"iterations to reach {100 * target:.1f} %" if target is not None else "iterations to reach (no fixed run)"
    lines = [f"| policy | final test acc | last 10 % of evaluations | best | {head} | speed-up vs fixed |",
             "|---|---|---|---|---|---|"]
    for r in runs:
        speed = f"{r['speedup_vs_fixed']:.2f}x" if r["speedup_vs_fixed"] else "-"
        final = f"{100 * r['final_test_acc']:.1f} %" + (" (diverged)" if r["diverged_at"] is not None else "")
        tail = records.format_mean_std(r["tail_test_acc_mean"], r["tail_test_acc_std"], 1, 100) + " %"
        lines.append(f"| {r['policy']} | {final} | {tail} | {100 * r['best_test_acc']:.1f} % | "
                     f"{_fmt_it(r['iterations_to_target'])} | {speed} |")
    return "\n".join(lines)


def report(results: dict, plots: bool) -> str:
    """report.md: the table, the bounds and why, the settings, and where the run came from."""
    meta, cfg, budget, b = results["meta"], results["config"], results["budget"], results["bounds"]
    lrs, runs, d, m = results["lr_settings"], results["runs"], results["data"], results["model"]
    lines = [
        f"# CLR demo: {d['name']}, {m['name']} ({m['parameters']:,} parameters)",
        "",
        "Every policy trained the same network (same initial weights, same batches) for "
        f"{budget['iterations']:,} iterations. The target is the fixed policy's final test accuracy; "
        "\"iterations to reach\" is the first evaluation (every "
        f"{budget['eval_every']} iterations) at which a policy's test accuracy reached it, the paper's "
        "measure of speed.",
        "",
        summary_table(runs),
        "",
        f"One seed, and test accuracy on {d['test']:,} samples (one sample = {100 / d['test']:.2g} points): "
        "differences of a point or so between policies are within run-to-run noise.",
        "",
    ]
    if plots:
        lines += ["![LR range test](range_test.png)", "", "![Schedules](schedules.png)", "",
                  "![Test accuracy](accuracy.png)", ""]
    lines += ["## Bounds from the LR range test", ""]
    lines += [f"- {w}" for w in b["explanation"]]
    lines += ["", f"**base_lr = {b['base_lr']:.4g}, max_lr = {b['max_lr']:.4g}** ({b['method']} rule).", ""]
    one = results["schedules"].get("one_cycle")
    lines += [
        "## Settings", "",
        f"- Data: {d['name']}, {d['train']:,} training / {d['test']:,} test samples, inputs "
        f"{tuple(d['input_shape'])}; preprocessing: {d['preprocessing']}.",
        f"- Optimizer: SGD, momentum {cfg['momentum']} (PyTorch form: v = m v + g, p -= lr v), weight decay "
        f"{cfg['weight_decay']}, batch {cfg['batch_size']} ({budget['iters_per_epoch']} iterations per epoch).",
        f"- Budget: {budget['iterations']:,} iterations per policy = {budget['cycles']} cycles x "
        f"{2 * budget['step_size']} (step size {budget['step_size']} = "
        f"{budget['step_size'] / budget['iters_per_epoch']:g} epochs; the paper: 2-10 epochs, stop at the end "
        "of a cycle).",
        f"- fixed: lr {lrs['fixed_lr']:.4g}, {lrs['fixed_rule']}.",
        f"- triangular, triangular2: {b['base_lr']:.4g} .. {b['max_lr']:.4g}, step size {budget['step_size']}.",
        f"- exp_range: the same bounds, amplitude x gamma^iteration with gamma = {lrs['gamma']:.6g} "
        "= 0.1^(1/iterations): a tenth of the amplitude is left at the end (the paper's CIFAR-10 gamma "
        "0.99994 leaves 8 % after its 42,000 iterations).",
    ]
    if one is not None:
        lr = one["lr"]
        low = lr["max_lr"] / lr["div_factor"]
        lines.append(
            f"- one_cycle: Smith's three-phase 1cycle with linear ramps, {low:.4g} -> {lr['max_lr']:.4g} -> "
            f"{low:.4g} over {2 * lr['pct_start']:.0%} of the run, then down to {low / lr['final_div_factor']:.3g}; "
            "max_lr from the range test, the low end max_lr / 10 (Smith's recipe); momentum 0.95 -> 0.85 -> 0.95. "
            f"The other policies keep momentum {cfg['momentum']}.")
    lines += [f"- Note: {n}" for n in budget["notes"]]
    lines += [
        "", "## Run", "",
        f"- Command: `{meta['command']}`",
        f"- Seed {meta['seed']}; date (UTC) {meta['date_utc']}; total time {results['total_time_s']:.0f} s.",
        f"- Machine: {records.describe_machine(meta['machine'])}; device {cfg['device']}.",
        f"- Code: tinynet {meta['tinynet_version']}, git commit {meta['git_commit'] or 'unknown'}.",
        "",
        "Files: `results.csv` (the table, with lr ranges and times), `results.json` (everything: settings, "
        "both range tests, evaluation histories, metadata)"
        + (", `range_test.png`, `schedules.png`, `accuracy.png`." if plots else "."),
        "",
    ]
    return "\n".join(lines)
