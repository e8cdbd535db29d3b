"""Experiment (c): the MNIST-1D benchmark, then the same models with CLR and one-cycle.

MNIST-1D (Greydanus & Kobak, ICML 2024; the embedded default set: 4,000 training and 1,000 test
signals of length 40, 10 classes) with the paper's three small models:

=========  ===================================================  ==========================
model      architecture (clr.lab.models)                    paper, test acc (Table 1)
=========  ===================================================  ==========================
logistic   Linear 40 -> 10                                      32 +- 1 %
mlp        residual MLP 40 -> 100 -> 100 -> 10                  68 +- 2 %
cnn        3 x Conv1d(25 channels, stride 2) + Linear           94 +- 2 %
=========  ===================================================  ==========================

Schedules, all with Adam (batch 100, weight decay 0):

* ``reference``: the reference recipe, Adam lr 1e-2 fixed, 6,000 steps, sequential batches
  (``notebooks/train.py``: batch i is samples 100 i mod 4000), evaluated every 250 steps;
* ``triangular``: the CLR triangle between the bounds of ``clr.find_bounds`` (untouched: its exp probe,
  linear test on a held-out tenth of the training set, safety margin and stability check; base_lr =
  max_lr / 4 is its default), step size = steps / 16 (8 cycles; 375 steps = 9.4 epochs, inside the
  paper's 2-10 epochs);
* ``one_cycle``: Smith's 1cycle, three phases with linear ramps (PyTorch's ``three_phase=True``):
  max_lr from the same find_bounds call, start at max_lr / 10 (Smith: "max/10-20 when one cycle is used"),
  45 % of the steps up, 45 % down, then 10 % annihilating to max_lr / 1000; Adam's beta1 cycled
  0.95 -> 0.85 -> 0.95 inversely to the lr (cyclical momentum).

The paper reports accuracies with early stopping; we report the final test accuracy and the best one
seen at an evaluation (which is what early stopping on the test set would give: an optimistic number).

    python experiments/exp_mnist1d.py                    # full version, 3 seeds (a few minutes)
    python experiments/exp_mnist1d.py --quick --out /tmp/m1d

This module also holds the MNIST-1D helpers of exp_optimizers.py and exp_onecycle.py.
"""
from __future__ import annotations

import argparse
import math
import time
from pathlib import Path
from typing import Callable

import numpy as np


from clr import policies as P
from clr.lab import models
from clr.lab.grid import print_progress, run_grid
from clr.lab.records import (aggregate, curve_mean_std, describe_machine,
                                run_metadata, save_figure, write_csv, write_json)
from clr.lab.train import evaluate, final_accuracy, train
from tinynet import optim
from tinynet.data import ArrayDataset, DataLoader, load_mnist1d

REPO_ROOT = Path(__file__).resolve().parent.parent  # results go under docs/ of this checkout

NAME = "mnist1d"
MODELS = {"logistic": models.mnist1d_logistic, "mlp": models.mnist1d_mlp, "cnn": models.mnist1d_cnn}
SCHEDULES = ("reference", "triangular", "one_cycle")
# [M1D] Table 1 (test %, mean +- std over 3 runs) and the reference notebook's single-seed finals
PAPER = {"logistic": (32, 1), "mlp": (68, 2), "cnn": (94, 2)}
NOTEBOOK = {"logistic": 31.5, "mlp": 65.1, "cnn": 92.3}


# ----------------------------------------------------------------------------- shared MNIST-1D helpers

def load_data(quick: bool = False):
    """The embedded default MNIST-1D split; ``quick`` keeps 600 train and 200 test samples."""
    split = load_mnist1d()
    x_train, y_train, x_test, y_test = split.x_train, split.y_train, split.x_test, split.y_test
    if quick:
        x_train, y_train, x_test, y_test = x_train[:600], y_train[:600], x_test[:200], y_test[:200]
    return x_train, y_train, x_test, y_test


def make_loader(x, y, batch_size: int, seed: int, shuffle: bool) -> DataLoader:
    """shuffle=False gives the reference code's sequential batches."""
    return DataLoader(ArrayDataset(x, y), batch_size, shuffle=shuffle, seed=seed)


#: optimizer name -> factory(params, lr). The Table 3 set: Caffe's Nesterov solver and the adaptive ones.
OPTIMIZERS: dict[str, Callable] = {
    "nesterov": lambda params, lr: optim.SGD(params, lr=lr, momentum=0.9, nesterov=True, form="caffe"),
    "sgd": lambda params, lr: optim.SGD(params, lr=lr, momentum=0.9),
    "adam": lambda params, lr: optim.Adam(params, lr=lr),
    "rmsprop": lambda params, lr: optim.RMSprop(params, lr=lr),
    "adagrad": lambda params, lr: optim.Adagrad(params, lr=lr),
    "adadelta": lambda params, lr: optim.Adadelta(params, lr=lr),
}


def holdout_split(x, y, seed: int):
    """(fit, validation) split of a training set for find_bounds: a seeded tenth (at most 1,000) held out.

    The same rule as the demo's (clr.lab.demo.holdout), so that find_bounds reads a held-out accuracy
    and never sees the test set.
    """
    n = len(x)
    n_val = min(1000, n // 10)
    order = np.random.default_rng([seed, 1]).permutation(n)
    val, fit = order[:n_val], order[n_val:]
    return (x[fit], y[fit]), (x[val], y[val])


def bounds_from_find_bounds(model_name: str, optimizer: str, data, *, num_iter: int, batch_size: int = 100,
                            seed: int = 0, weight_decay: float | None = None):
    """``clr.find_bounds`` on a fresh model + optimizer, untouched; returns ``(bounds dict, clr Bounds)``.

    find_bounds trains on nine tenths of the training set (shuffled batches) and reads the held-out
    tenth (``holdout_split``) in its linear test; the optimizer is the one the experiment trains with
    (same weight decay). Its defaults decide everything else: the exponential probe 1e-7 -> 10, the
    safety margin, the stability check and base_lr = max_lr / 4. No range end, factor or fix-up is
    chosen here. A curve without signal raises find_bounds' ValueError, naming the model and optimizer.
    """
    import clr
    x_train, y_train = data[0], data[1]
    (x_fit, y_fit), (x_val, y_val) = holdout_split(x_train, y_train, seed)
    model = MODELS[model_name](seed)
    params = model.parameters() if weight_decay is None else [{"params": list(model.parameters()),
                                                                "weight_decay": weight_decay}]
    opt = OPTIMIZERS[optimizer](params, 0.0)
    loader = make_loader(x_fit, y_fit, batch_size, seed, shuffle=True)
    start = time.perf_counter()
    try:
        b = clr.find_bounds(model, opt, loader, val_loader=[(x_val, y_val)], num_iter=num_iter)
    except ValueError as e:
        raise ValueError(f"find_bounds found no bounds for {model_name} + {optimizer}: {e}") from None
    return {"base_lr": b.base_lr, "max_lr": b.max_lr, "method": "find_bounds",
            "iterations": int(b.details["iterations"]), "num_iter": num_iter, "seed": seed,
            "held_out": len(x_val), "lr_low": b.details["lr_low"], "lr_stop": b.details["lr_stop"],
            "reading": b.details["reading"], "why": list(b.details["why"]),
            "seconds": time.perf_counter() - start}, b


def run_training(model_name: str, optimizer: str, lr0: float, schedule, data, *, seed: int,
                 iterations: int, eval_every: int, batch_size: int = 100, shuffle: bool = False,
                 momentum_schedule=None, weight_decay: float = 0.0, label: str = "") -> dict:
    """Train one MNIST-1D model; returns the `train` history plus final train/test accuracy.

    One cell of the experiments' grids (``clr.lab.grid.run_grid``): ``label`` only names the cell.
    """
    x_train, y_train, x_test, y_test = data
    model = MODELS[model_name](seed)
    params = [{"params": list(model.parameters()), "weight_decay": weight_decay}]
    opt = OPTIMIZERS[optimizer](params, lr0)
    loader = make_loader(x_train, y_train, batch_size, seed, shuffle)
    start = time.perf_counter()
    history = train(model, opt, schedule, loader, iterations, eval_every, (x_test, y_test), seed=seed,
                    momentum_schedule=momentum_schedule)
    _, train_acc = evaluate(model, (x_train, y_train))
    return {"history": history, "final_acc": final_accuracy(history), "best_acc": max(history["test_acc"]),
            "train_acc": train_acc, "diverged_at": history["diverged_at"], "seconds": time.perf_counter() - start}


def smith_one_cycle(max_lr: float, total_steps: int):
    """Smith's 1cycle (three phases, linear; start max/10, end max/1000) and its cyclical momentum."""
    policy = P.OneCycle(max_lr, total_steps, pct_start=0.45, anneal_strategy="linear", div_factor=10.0,
                        final_div_factor=100.0, three_phase=True)
    return policy, policy.momentum(0.85, 0.95)


def plot_accuracy(curves: dict, path: Path, title: str, ylabel: str = "test accuracy, %"):
    """curves: {label: [history, ...]} -> mean +- std test accuracy against iteration."""
    import matplotlib
    matplotlib.use("Agg")
    import matplotlib.pyplot as plt
    fig, ax = plt.subplots(figsize=(8, 4.5), dpi=100)
    for k, (label, hs) in enumerate(curves.items()):
        x, mean, std = curve_mean_std(hs, "test_acc")
        ax.plot(x, 100 * mean, color=f"C{k % 10}", label=label, linewidth=1.5)
        if len(hs) > 1:
            ax.fill_between(x, np.clip(100 * (mean - std), 0, 100), np.clip(100 * (mean + std), 0, 100),
                            color=f"C{k % 10}", alpha=0.15)
    ax.set_xlabel("iteration")
    ax.set_ylabel(ylabel)
    ax.set_title(title, fontsize="medium")
    ax.grid(True, alpha=0.3)
    ax.legend(fontsize="small", ncol=2)
    saved = save_figure(fig, path)
    plt.close(fig)
    return saved


def plot_range_tests(results: dict, path: Path, title: str):
    """results: {label: clr Bounds from find_bounds} -> per label, its exponential probe and its linear test.

    Left: the probe's smoothed training loss against lr (log axis), with lr_low and lr_stop. Right: the
    linear test's held-out accuracy (training loss if there is none) and the bounds, with the reading.
    """
    import matplotlib
    matplotlib.use("Agg")
    import matplotlib.pyplot as plt
    n = len(results)
    fig, axes = plt.subplots(n, 2, figsize=(10, 2.5 * n), dpi=100, squeeze=False)
    for (ax_p, ax_s), (label, b) in zip(axes, results.items()):
        d = b.details
        probe, sweep = d["probe"], d["sweep"]
        ax_p.semilogx(probe.lrs, probe.losses, color="C0", alpha=0.25, linewidth=0.8)
        ax_p.semilogx(probe.lrs, probe.smoothed_losses, color="C0", linewidth=1.5)
        ax_p.axvline(d["lr_low"], color="C1", linestyle="--", label=f"lowest loss {d['lr_low']:.3g}")
        if d["lr_stop"]:
            ax_p.axvline(d["lr_stop"], color="C3", linestyle=":", label=f"breakdown {d['lr_stop']:.3g}")
        ax_p.axvspan(b.base_lr, b.max_lr, color="C4", alpha=0.2)
        head = float(np.nanmax(probe.smoothed_losses[: max(3, len(probe) // 10)]))
        ax_p.set_ylim(0.9 * float(np.nanmin(probe.smoothed_losses)), 1.3 * head)
        ax_p.set_ylabel("train loss")
        ax_p.set_title(f"{label}: exponential probe", fontsize="small")
        ax_p.legend(fontsize="x-small")
        ax_p.grid(True, alpha=0.3)
        if sweep.val_acc is not None and len(sweep.val_lrs):
            ax_s.plot(sweep.val_lrs, 100 * np.asarray(sweep.val_acc), "o-", color="C2", markersize=2.5)
            ax_s.set_ylabel("held-out acc. %")
        else:
            ax_s.plot(sweep.lrs, sweep.smoothed_losses, color="C0")
            ax_s.set_ylabel("train loss")
        ax_s.axvline(d["reading"], color="C1", linestyle="--", label=f"reading {d['reading']:.3g}")
        ax_s.axvspan(b.base_lr, b.max_lr, color="C4", alpha=0.2)
        ax_s.axvline(b.max_lr, color="C4", label=f"bounds {b.base_lr:.3g} - {b.max_lr:.3g}")
        ax_s.set_title(f"{label}: linear test (find_bounds, {d['iterations']} steps in all)", fontsize="small")
        ax_s.legend(fontsize="x-small")
        ax_s.grid(True, alpha=0.3)
    axes[-1, 0].set_xlabel("learning rate (exponential probe)")
    axes[-1, 1].set_xlabel("learning rate (linear test)")
    fig.suptitle(title, fontsize="medium")
    fig.tight_layout()
    saved = save_figure(fig, path)
    plt.close(fig)
    return saved


def common_args(p: argparse.ArgumentParser, name: str, iterations: int, seeds=(0, 1, 2)) -> None:
    p.add_argument("--quick", action="store_true", help="a smoke run of a few seconds (tiny data, few steps)")
    p.add_argument("--seeds", type=int, nargs="+", default=list(seeds),
                   help=f"seeds: model init and batch order (default {' '.join(map(str, seeds))})")
    p.add_argument("--out", type=Path, default=REPO_ROOT / "docs" / "results" / name,
                   help=f"output folder (default docs/results/{name}/)")
    p.add_argument("--iterations", type=int, default=iterations, help=f"training steps (default {iterations})")
    p.add_argument("--eval-every", type=int, default=250, help="evaluate every this many steps (default 250)")
    p.add_argument("--range-iters", type=int, default=400,
                   help="training steps clr.find_bounds may take (its num_iter; default 400 = 10 epochs)")
    p.add_argument("--workers", type=int, default=None,
                   help="trainings run side by side, one process each (default: one per core; 1: one after "
                        "another in this process); the results are the same")


def check_common(p: argparse.ArgumentParser, args) -> None:
    for name in ("iterations", "eval_every", "range_iters"):
        if getattr(args, name) < (100 if name == "range_iters" else 1):  # find_bounds needs >= 100
            p.error(f"--{name.replace('_', '-')} is too small: {getattr(args, name)}")
    if any(s < 0 for s in args.seeds) or len(set(args.seeds)) != len(args.seeds):
        p.error(f"--seeds must be distinct integers >= 0; got {args.seeds}")
    if args.workers is not None and args.workers < 1:
        p.error(f"--workers must be at least 1; got {args.workers}")


def metadata(argv, script: str, seeds) -> dict:
    return run_metadata(seed=None, argv=argv and [script, *argv], seeds=list(seeds),
                        machine_line=describe_machine())


# ----------------------------------------------------------------------------- experiment (c)

def parse_args(argv=None) -> argparse.Namespace:
    p = argparse.ArgumentParser(
        description="MNIST-1D benchmark (logistic, residual MLP, CNN) with the reference recipe (Adam 1e-2), "
                    "then with CLR (triangular Adam, bounds from clr.find_bounds) and one-cycle.")
    common_args(p, NAME, 6000)
    p.add_argument("--models", nargs="+", default=list(MODELS), choices=list(MODELS), help="models to run")
    p.add_argument("--cycles", type=int, default=8, help="triangular cycles in the budget (default 8)")
    args = p.parse_args(argv)
    if args.quick:
        args.seeds, args.iterations, args.eval_every, args.range_iters = args.seeds[:1], 40, 20, 100
        args.cycles = 2
    check_common(p, args)
    if 2 * args.cycles > args.iterations:
        p.error(f"--cycles {args.cycles} needs at least {2 * args.cycles} iterations")
    return args


def main(argv=None) -> dict:
    args = parse_args(argv)
    out = Path(args.out)
    data = load_data(args.quick)
    step_size = args.iterations // (2 * args.cycles)
    rows, curves, range_tests, bounds_by_model = [], {}, {}, {}
    cells = []
    for model_name in args.models:
        bounds, found = bounds_from_find_bounds(model_name, "adam", data, num_iter=args.range_iters)
        bounds_by_model[model_name] = bounds
        range_tests[model_name] = found
        print(f"{model_name}: Adam bounds {bounds['base_lr']:.4g} .. {bounds['max_lr']:.4g} ({bounds['method']})",
              *bounds["why"], sep="\n    ", flush=True)
        for schedule_name in SCHEDULES:
            momentum = None
            if schedule_name == "reference":
                schedule, lr0 = None, 1e-2
            elif schedule_name == "triangular":
                schedule = P.Triangular(bounds["base_lr"], bounds["max_lr"], step_size)
                lr0 = schedule(0)
            else:
                schedule, momentum = smith_one_cycle(bounds["max_lr"], args.iterations)
                lr0 = schedule(0)
            cells += [dict(model_name=model_name, optimizer="adam", lr0=lr0, schedule=schedule, data=data, seed=seed,
                           iterations=args.iterations, eval_every=args.eval_every, momentum_schedule=momentum,
                           label=schedule_name) for seed in args.seeds]
    # every (model, schedule, seed) training at once, over the cores; results in the order above
    for cell, r in zip(cells, run_grid(run_training, cells, workers=args.workers, progress=print_progress)):
        model_name, schedule_name, seed, schedule = cell["model_name"], cell["label"], cell["seed"], cell["schedule"]
        curves.setdefault(f"{model_name} {schedule_name}", []).append(r["history"])
        rows.append({"model": model_name, "schedule": schedule_name, "seed": seed,
                     "final_acc": r["final_acc"], "best_acc": r["best_acc"], "train_acc": r["train_acc"],
                     "diverged_at": r["diverged_at"], "seconds": r["seconds"],
                     "schedule_spec": "adam lr 0.01" if schedule is None else schedule.to_dict()})
        print(f"{model_name:>8} {schedule_name:>10} seed {seed}: final {100 * r['final_acc']:.1f} %, best "
              f"{100 * r['best_acc']:.1f} %, train {100 * r['train_acc']:.1f} % ({r['seconds']:.0f} s)", flush=True)
    summary = aggregate(rows, by=["model", "schedule"], values=["final_acc", "best_acc", "train_acc"])
    for row in summary:
        row["paper_acc"], row["paper_std"] = PAPER[row["model"]]
        row["notebook_acc"] = NOTEBOOK[row["model"]]
    csv_rows = [{k: v for k, v in r.items() if k != "schedule_spec"} for r in rows]
    write_csv(out / "runs.csv", csv_rows)
    write_csv(out / "summary.csv", summary)
    figures = [plot_accuracy(curves, out / "accuracy_curves.png",
                             f"MNIST-1D, Adam: reference (lr 1e-2) vs triangular vs one-cycle, mean over seeds "
                             f"{args.seeds}"),
               plot_range_tests(range_tests, out / "range_tests.png", "clr.find_bounds, Adam")]
    for model_name, found in range_tests.items():
        found.details["probe"].to_json(out / f"find_bounds_{model_name}_probe.json")
        found.details["sweep"].to_json(out / f"find_bounds_{model_name}_linear.json")
    settings = {"dataset": "MNIST-1D (embedded default: 4000 train / 1000 test)" + (" [quick subset]" if args.quick else ""),
                "optimizer": "Adam (betas 0.9, 0.999), weight decay 0", "batch_size": 100,
                "batches": "sequential (reference code)", "iterations": args.iterations, "eval_every": args.eval_every,
                "step_size": step_size, "cycles": args.cycles, "bounds": bounds_by_model,
                "find_bounds": {"num_iter": args.range_iters, "val_loader": "a seeded tenth of the training set",
                                "options": "defaults, untouched"},
                "one_cycle": "three-phase linear, pct_start 0.45, div 10, final div 100, beta1 0.95-0.85",
                "quick": args.quick}
    payload = {"meta": metadata(argv, "exp_mnist1d.py", args.seeds), "settings": settings,
               "paper": {"table1": PAPER, "notebook_single_seed": NOTEBOOK}, "summary": summary, "runs": rows,
               "figures": [f.name for f in figures]}
    write_json(out / "results.json", payload)
    for row in summary:
        print(f"{row['model']:>8} {row['schedule']:>10}: final {100 * row['final_acc_mean']:.1f} ± "
              f"{100 * (row['final_acc_std'] if math.isfinite(row['final_acc_std']) else 0):.1f} %, "
              f"best {100 * row['best_acc_mean']:.1f} % (paper {row['paper_acc']} %)")
    return payload


if __name__ == "__main__":
    main()
