"""Experiment (a): an analogue of Table 1 of the CLR paper, on Fashion-MNIST.

The paper (Smith, WACV 2017, Table 1) trains Caffe's ``cifar10_full`` on CIFAR-10 with six learning
rate policies and finds that ``triangular2`` reaches in 25,000 iterations the accuracy that the
``fixed`` policy reaches in 70,000 (81.4 %): 36 % of the iterations. Here the same network, adapted to
1x28x28 inputs (`clr.lab.models.cifar10_full(in_channels=1, size=28)`), with Caffe's solver
(SGD, momentum 0.9 in Caffe's form, weight decay 0.004 with ip1's decay_mult 250 and bias decay 0,
batch 100, mean-image subtraction on 0..255 pixels) learns Fashion-MNIST (60,000 training images,
600 iterations per epoch) under the same six policies:

==============  ==========================================================================
fixed           base_lr throughout (the paper's fixed runs use the lower bound)
triangular      base_lr .. max_lr, step size s
triangular2     the same triangle, amplitude halved every cycle
exp_range       the triangle with its amplitude times gamma**it
exp             max_lr * gamma**it  (Caffe's exp policy, started at the upper bound)
decay           max_lr down to base_lr linearly over s iterations, then base_lr
==============  ==========================================================================

The bounds come from ``clr.find_bounds``, untouched: an exponential probe, the paper's linear test
(section 3.3) read on a held-out tenth of the training set, a safety margin and a stability check;
base_lr = max_lr / 4 (its default, the paper's "1/3 or 1/4 of max_lr"). ``--base-lr``/``--max-lr``
skip it.

**The budget is scaled down** (CPU only): every policy trains for ``--iterations`` (default 1,800 = 3
epochs, against the paper's 140 epochs), and the step size is ``iterations / 8`` (4 cycles, the paper's
"at least 3, better 4"), which is 0.5 epoch rather than the paper's 2-10 epochs. ``gamma`` is chosen
as the paper's relative to the budget: the paper's CIFAR-10 gamma 0.99994 shrinks the lr by
0.99994**70000 = 0.015 over the fixed run's 70,000 iterations; we use the same total shrink over our
budget, ``gamma = 0.99994 ** (70000 / iterations)``.

Headline: for each policy, the first evaluated iteration at which its test accuracy reaches the fixed
policy's final accuracy (same seed), as a fraction of the fixed policy's budget.

The (policy, seed) runs train side by side, one process per core (``--workers``; the numbers are
those of one run after another). Each is saved as it finishes in ``<out>/runs/`` and reused when the
script is run again with the same settings, so an interrupted run resumes where it stopped.

    python experiments/exp_table1.py                      # full version (about 1.5 hours of CPU)
    python experiments/exp_table1.py --quick --out /tmp/t1
"""
from __future__ import annotations

import argparse
import json
import math
import time
from pathlib import Path

import numpy as np


import tinynet as tn
from clr import policies as P
from clr.lab import models
from clr.lab.grid import print_progress, run_grid
from clr.lab.records import (aggregate, curve_mean_std, describe_machine,
                                run_metadata, save_figure, to_jsonable, write_csv, write_json)
from clr.lab.train import evaluate, final_accuracy, iterations_to_reach, train
from tinynet import optim
from tinynet.data import ArrayDataset, DataLoader, load_fashion_mnist

REPO_ROOT = Path(__file__).resolve().parent.parent  # results go under docs/ of this checkout

NAME = "table1"
POLICIES = ("fixed", "triangular", "triangular2", "exp_range", "exp", "decay")
PAPER_GAMMA, PAPER_FIXED_ITERS = 0.99994, 70000  # CLR paper, CIFAR-10 (Table 1)
# The paper's Table 1, CIFAR-10 rows: policy -> (iterations, test accuracy %)
PAPER_TABLE1 = {"fixed": (70000, 81.4), "triangular2": (25000, 81.4), "decay": (25000, 78.5),
                "exp": (70000, 79.1), "exp_range": (42000, 82.2)}


# ----------------------------------------------------------------------------- run bookkeeping
# (also used by exp_cifar10_caffe.py)

def history_to_json(history: dict) -> dict:
    """The parts of a `train` history worth keeping: the evaluations and the per-step lr and loss."""
    keep = {k: history[k] for k in ("iteration", "lr", "momentum", "train_loss", "test_loss", "test_acc",
                                    "time_s")}
    keep["steps"] = {"lr": history["steps"]["lr"], "loss": history["steps"]["loss"]}
    keep["diverged_at"] = history["diverged_at"]
    return keep


def cached_run(path: Path, settings: dict, compute, force: bool = False) -> dict:
    """``compute()`` -> dict, saved to ``path`` with ``settings``; reused when the file holds the same settings.

    A file written with other settings (another budget, other bounds) is recomputed and replaced,
    so a stale result is never mixed into a summary.
    """
    settings = to_jsonable(settings)
    if path.is_file() and not force:
        try:
            saved = json.loads(path.read_text(encoding="utf-8"))
            if saved.get("settings") == settings:
                return saved
        except (OSError, ValueError):
            pass  # unreadable: recompute
    result = {"settings": settings, **compute()}
    write_json(path, result)
    return json.loads(json.dumps(to_jsonable(result)))  # the same as what a later reuse reads


def seed_list(text_or_list) -> list[int]:
    seeds = list(text_or_list)
    if not seeds or any(s < 0 for s in seeds) or len(set(seeds)) != len(seeds):
        raise ValueError(f"--seeds must be distinct integers >= 0; got {seeds}")
    return seeds


# ----------------------------------------------------------------------------- data, model, solver (Caffe)

def caffe_preprocess(x_train: np.ndarray, x_test: np.ndarray) -> tuple[np.ndarray, np.ndarray, np.ndarray]:
    """Caffe's cifar10 data layer: subtract the training set's mean image, pixels kept in 0..255.

    Returns float32 ``(x_train - mean, x_test - mean, mean)``; mean has the shape of one image.
    Caffe does not scale to [0, 1]: the paper's learning rates (0.001 ...) and the 1e-4 init of conv1
    belong to this scale.
    """
    mean = x_train.mean(axis=0, dtype=np.float64).astype(np.float32)
    return (x_train.astype(np.float32) - mean), (x_test.astype(np.float32) - mean), mean


def caffe_sgd(model, lr: float, momentum: float = 0.9, weight_decay: float = 0.004):
    """Caffe's SGD solver for cifar10_full: momentum in Caffe's form (lr inside the velocity) and
    per-layer weight decay from the model's param groups (ip1 weights x250, ip1 bias 0)."""
    return optim.SGD(model.param_groups(weight_decay), lr=lr, momentum=momentum, form="caffe")


def subset(x, y, n: int, seed: int):
    """A fixed random subset of n samples (all of them when n >= len(x))."""
    if n >= len(x):
        return x, y
    idx = np.sort(np.random.default_rng(seed).choice(len(x), n, replace=False))
    return x[idx], y[idx]


def make_policy(name: str, base_lr: float, max_lr: float, step_size: int, gamma: float):
    """One of the six Table 1 policies (see the module docstring)."""
    if name == "fixed":
        return P.Fixed(base_lr)
    if name == "triangular":
        return P.Triangular(base_lr, max_lr, step_size)
    if name == "triangular2":
        return P.Triangular2(base_lr, max_lr, step_size)
    if name == "exp_range":
        return P.ExpRange(base_lr, max_lr, step_size, gamma)
    if name == "exp":
        return P.Exp(max_lr, gamma)
    if name == "decay":
        return P.Decay(base_lr, max_lr, step_size)
    raise ValueError(f"unknown policy {name!r}; choose from {', '.join(POLICIES)}")


# ----------------------------------------------------------------------------- command line

def parse_args(argv=None) -> argparse.Namespace:
    p = argparse.ArgumentParser(
        description="CLR paper Table 1 analogue: six lr policies on Fashion-MNIST with Caffe's cifar10_full "
                    "adapted to 1x28x28 and Caffe's solver. Bounds from clr.find_bounds.")
    p.add_argument("--quick", action="store_true",
                   help="a smoke run of a few seconds: tiny subsets, batch 20, a handful of iterations")
    p.add_argument("--seeds", type=int, nargs="+", default=[0, 1, 2], help="seeds (default 0 1 2)")
    p.add_argument("--out", type=Path, default=REPO_ROOT / "docs" / "results" / NAME,
                   help="output folder (default docs/results/table1/)")
    p.add_argument("--iterations", type=int, default=1800,
                   help="training iterations of every policy (default 1800 = 3 epochs)")
    p.add_argument("--cycles", type=int, default=4,
                   help="triangular cycles in the budget: step size = iterations / (2 cycles) (default 4)")
    p.add_argument("--eval-every", type=int, default=150, help="evaluate every this many iterations (default 150)")
    p.add_argument("--eval-samples", type=int, default=3000,
                   help="test images used by the evaluations during training (a fixed random subset; default "
                        "3000); the final accuracy is also measured on the whole test set")
    p.add_argument("--batch-size", type=int, default=100, help="mini-batch size (default 100, the paper's)")
    p.add_argument("--range-iters", type=int, default=400,
                   help="training steps clr.find_bounds may take (its num_iter, >= 100; default 400)")
    p.add_argument("--base-lr", type=float, default=None, help="skip find_bounds: use this lower bound (needs --max-lr)")
    p.add_argument("--max-lr", type=float, default=None, help="skip find_bounds: use this upper bound")
    p.add_argument("--policies", nargs="+", default=list(POLICIES), choices=POLICIES, help="policies to run")
    p.add_argument("--data-root", type=Path, default=None,
                   help="folder with the Fashion-MNIST IDX files (default: tinynet.data's search path)")
    p.add_argument("--no-verify", action="store_true", help="skip the md5 checks of the data files")
    p.add_argument("--train-samples", type=int, default=None, help="train on a random subset of this size")
    p.add_argument("--test-samples", type=int, default=None,
                   help="measure the final accuracy on a random subset of this size (default: all 10,000)")
    p.add_argument("--device", default="cpu", help="'cpu' or 'cuda' (default cpu)")
    p.add_argument("--force", action="store_true", help="recompute runs already saved in <out>/runs/")
    p.add_argument("--workers", type=int, default=None,
                   help="trainings run side by side, one process each (default: one per core; 1: one after "
                        "another in this process); the results are the same")
    args = p.parse_args(argv)
    if args.workers is not None and args.workers < 1:
        p.error(f"--workers must be at least 1; got {args.workers}")
    if args.quick:
        args.seeds = args.seeds[:1]
        args.iterations, args.cycles, args.eval_every = 8, 1, 4
        args.eval_samples, args.batch_size, args.range_iters = 100, 20, 100
        args.train_samples = args.train_samples or 400
        args.test_samples = args.test_samples or 200
    for name in ("iterations", "cycles", "eval_every", "eval_samples", "batch_size", "range_iters"):
        if getattr(args, name) < 1:
            p.error(f"--{name.replace('_', '-')} must be >= 1; got {getattr(args, name)}")
    if args.range_iters < 100:
        p.error(f"--range-iters must be >= 100 (find_bounds' minimum); got {args.range_iters}")
    if (args.base_lr is None) != (args.max_lr is None):
        p.error("give both --base-lr and --max-lr, or neither (then clr.find_bounds picks them)")
    if args.base_lr is not None and not 0 < args.base_lr < args.max_lr:
        p.error(f"need 0 < --base-lr < --max-lr; got {args.base_lr} and {args.max_lr}")
    if 2 * args.cycles > args.iterations:
        p.error(f"--cycles {args.cycles} needs at least {2 * args.cycles} iterations")
    try:
        args.seeds = seed_list(args.seeds)
    except ValueError as e:
        p.error(str(e))
    return args


# ----------------------------------------------------------------------------- the experiment

def load_data(args):
    split = load_fashion_mnist(root=args.data_root, verify=not args.no_verify)
    x_train, y_train = split.x_train, split.y_train
    if args.train_samples is not None:
        x_train, y_train = subset(x_train, y_train, args.train_samples, seed=12345)
    x_test, y_test = split.x_test, split.y_test
    if args.test_samples is not None:
        x_test, y_test = subset(x_test, y_test, args.test_samples, seed=6789)
    x_train, x_test, _ = caffe_preprocess(x_train, x_test)
    x_eval, y_eval = subset(x_test, y_test, args.eval_samples, seed=54321)
    return x_train, y_train, x_test, y_test, x_eval, y_eval


def build_model(seed: int, device: str):
    return models.cifar10_full(rng=seed, in_channels=1, size=28).to(device)


def bounds_from_find_bounds(args, data, out: Path) -> dict:
    """``clr.find_bounds`` on seed 0 of the model with Caffe's solver, untouched; saved and reused.

    find_bounds trains on the training set less a seeded held-out part (``exp_mnist1d.holdout_split``:
    a tenth, at most 1,000 images) and reads that part's accuracy in its linear test; its defaults
    decide the rest (exp probe 1e-7 -> 10, safety margin, stability check, base_lr = max_lr / 4).
    A curve without signal stops the script with find_bounds' message (give --base-lr/--max-lr to
    train anyway). Writes ``find_bounds.json`` (both sweeps) and ``find_bounds.png``.
    """
    import clr
    from clr.range_test import RangeTestResult
    from clr.suggest import Bounds
    from exp_mnist1d import holdout_split, plot_range_tests
    x_train, y_train = data[0], data[1]

    def compute():
        (x_fit, y_fit), (x_val, y_val) = holdout_split(x_train, y_train, 0)
        model = build_model(0, args.device)
        loader = DataLoader(ArrayDataset(x_fit, y_fit), args.batch_size, shuffle=True, seed=0)
        val_loader = [(x_val[i:i + args.batch_size], y_val[i:i + args.batch_size])
                      for i in range(0, len(x_val), args.batch_size)]
        opt = caffe_sgd(model, lr=0.0)
        start = time.perf_counter()
        try:
            b = clr.find_bounds(model, opt, loader, val_loader=val_loader, num_iter=args.range_iters)
        except ValueError as e:
            raise SystemExit(f"find_bounds found no bounds: {e}. Give --base-lr and --max-lr to train anyway.")
        d = b.details
        return {"bounds": {"base_lr": b.base_lr, "max_lr": b.max_lr, "method": "find_bounds",
                           "iterations": int(d["iterations"]), "num_iter": args.range_iters, "held_out": len(x_val),
                           "lr_low": d["lr_low"], "lr_stop": d["lr_stop"], "reading": d["reading"],
                           "why": list(d["why"])},
                "probe": d["probe"].to_dict(), "sweep": d["sweep"].to_dict(), "seconds": time.perf_counter() - start}

    settings = {"find_bounds_num_iter": args.range_iters, "batch_size": args.batch_size,
                "train_samples": args.train_samples, "holdout": "exp_mnist1d.holdout_split seed 0"}
    saved = cached_run(out / "find_bounds.json", settings, compute, args.force)
    bounds = {**saved["bounds"], "seconds": saved["seconds"]}
    details = {**bounds, "probe": RangeTestResult.from_dict(saved["probe"]),
               "sweep": RangeTestResult.from_dict(saved["sweep"])}
    plot_range_tests({"cifar10_full, Caffe SGD": Bounds(bounds["base_lr"], bounds["max_lr"], "find_bounds", details)},
                     out / "find_bounds.png", "clr.find_bounds, cifar10_full on Fashion-MNIST")
    return bounds


def run_one(args, data, policy_name: str, seed: int, bounds: dict, step_size: int, gamma: float, out: Path) -> dict:
    """One (policy, seed) training, saved under runs/ (and reused when its settings match).

    A cell of ``clr.lab.grid.run_grid``; ``data`` None loads the data here (in a worker process)
    only when the run is not saved already.
    """
    policy = make_policy(policy_name, bounds["base_lr"], bounds["max_lr"], step_size, gamma)

    def compute():
        x_train, y_train, x_test, y_test, x_eval, y_eval = data if data is not None else load_data(args)
        model = build_model(seed, args.device)
        loader = DataLoader(ArrayDataset(x_train, y_train), args.batch_size, shuffle=True, seed=seed)
        opt = caffe_sgd(model, lr=policy(0))
        history = train(model, opt, policy, loader, args.iterations, args.eval_every, (x_eval, y_eval),
                        device=args.device, seed=seed)
        test_loss, test_acc = evaluate(model, (x_test, y_test), args.device)
        return {"history": history_to_json(history), "final_test_acc_full": test_acc,
                "final_test_loss_full": test_loss}

    settings = {"policy": policy.to_dict(), "seed": seed, "iterations": args.iterations,
                "eval_every": args.eval_every, "eval_samples": args.eval_samples, "batch_size": args.batch_size,
                "train_samples": args.train_samples, "test_samples": args.test_samples}
    start = time.perf_counter()
    saved = cached_run(out / "runs" / f"{policy_name}_seed{seed}.json", settings, compute, args.force)
    h = saved["history"]
    print(f"{policy_name:>11} seed {seed}: final acc {100 * h['test_acc'][-1]:.2f} % "
          f"(full test set {100 * saved['final_test_acc_full']:.2f} %), {time.perf_counter() - start:.0f} s",
          flush=True)
    return saved


def summarise(runs: dict, args) -> tuple[list[dict], list[dict]]:
    """Per-run rows and the per-policy summary (mean and std over seeds)."""
    rows = []
    for (policy, seed), saved in runs.items():
        h = saved["history"]
        fixed = runs.get(("fixed", seed))
        target = final_accuracy(fixed["history"]) if fixed else math.nan
        reached = iterations_to_reach(h, target) if fixed else None
        rows.append({
            "policy": policy, "seed": seed, "iterations": args.iterations,
            "final_acc": final_accuracy(h), "best_acc": max(h["test_acc"]),
            "final_acc_full_test": saved["final_test_acc_full"],
            "fixed_final_acc": target,
            "iterations_to_fixed_final": reached,
            "fraction_of_fixed_budget": (reached / args.iterations) if reached is not None else None,
            "diverged_at": h["diverged_at"],
        })
    summary = aggregate(rows, by=["policy"], values=["final_acc", "final_acc_full_test", "best_acc",
                                                     "iterations_to_fixed_final", "fraction_of_fixed_budget"])
    for row in summary:
        row["reached_fixed_in"] = f"{row['iterations_to_fixed_final_n']}/{len(args.seeds)} seeds"
        paper = PAPER_TABLE1.get(row["policy"])
        row["paper_iterations"], row["paper_acc"] = paper if paper else (None, None)
    return rows, summary


def plot_curves(runs: dict, args, bounds, step_size, gamma, out: Path) -> list[Path]:
    import matplotlib
    matplotlib.use("Agg")
    import matplotlib.pyplot as plt
    from clr.plots import plot_schedule

    fig, ax = plt.subplots(figsize=(8, 4.5), dpi=100)
    for k, policy in enumerate(args.policies):
        hs = [runs[(policy, s)]["history"] for s in args.seeds if (policy, s) in runs]
        if not hs:
            continue
        x, mean, std = curve_mean_std(hs, "test_acc")
        ax.plot(x, 100 * mean, color=f"C{k}", label=policy, linewidth=1.6)
        if len(hs) > 1:
            ax.fill_between(x, 100 * (mean - std), 100 * (mean + std), color=f"C{k}", alpha=0.15)
    ax.set_xlabel("iteration")
    ax.set_ylabel(f"test accuracy, % ({args.eval_samples} images)")
    ax.set_title(f"Fashion-MNIST, cifar10_full (1x28x28), Caffe SGD: mean over seeds {args.seeds}")
    accs = [100 * a for (p, s), r in runs.items() for a in r["history"]["test_acc"][1:]]
    if accs:
        ax.set_ylim(max(0.0, np.percentile(accs, 5) - 5), min(100.0, max(accs) + 1))
    ax.grid(True, alpha=0.3)
    ax.legend(fontsize="small")
    curves = save_figure(fig, out / "accuracy_curves.png")
    plt.close(fig)

    pols = {name: make_policy(name, bounds["base_lr"], bounds["max_lr"], step_size, gamma) for name in args.policies}
    fig = plot_schedule(pols, args.iterations, title="Table 1 policies (bounds from clr.find_bounds)")
    schedules = save_figure(fig, out / "schedules.png")
    plt.close(fig)
    return [curves, schedules]


def main(argv=None) -> dict:
    args = parse_args(argv)
    out = Path(args.out)
    tn.backend.check_device(args.device)
    data = load_data(args)
    if args.base_lr is not None:
        bounds = {"base_lr": args.base_lr, "max_lr": args.max_lr, "method": "given", "seconds": 0.0}
    else:
        bounds = bounds_from_find_bounds(args, data, out)
    step_size = max(1, args.iterations // (2 * args.cycles))
    gamma = PAPER_GAMMA ** (PAPER_FIXED_ITERS / args.iterations)
    print(f"bounds {bounds['base_lr']:.4g} .. {bounds['max_lr']:.4g} ({bounds['method']}), step size {step_size}, "
          f"gamma {gamma:.6f}", flush=True)

    # every (seed, policy) training at once over the cores; worker processes load the data themselves
    cells = [dict(args=args, data=data if args.workers == 1 else None, policy_name=policy, seed=seed,
                  bounds=bounds, step_size=step_size, gamma=gamma, out=out)
             for seed in args.seeds for policy in args.policies]
    results = run_grid(run_one, cells, workers=args.workers, progress=print_progress)
    runs = {(c["policy_name"], c["seed"]): r for c, r in zip(cells, results)}
    rows, summary = summarise(runs, args)
    write_csv(out / "runs.csv", rows)
    write_csv(out / "summary.csv", summary)
    figures = plot_curves(runs, args, bounds, step_size, gamma, out)
    settings = {"dataset": "Fashion-MNIST", "model": "cifar10_full (1x28x28, LRN)",
                "solver": "SGD, Caffe momentum form 0.9, weight decay 0.004 (ip1 x250, ip1 bias 0)",
                "preprocessing": "training mean image subtracted, pixels 0..255",
                "iterations": args.iterations, "iterations_per_epoch": math.ceil(len(data[0]) / args.batch_size),
                "batch_size": args.batch_size, "step_size": step_size, "cycles": args.cycles, "gamma": gamma,
                "eval_every": args.eval_every, "eval_samples": args.eval_samples, "bounds": bounds,
                "find_bounds": {"num_iter": args.range_iters, "val_loader": "a seeded tenth of the training set "
                                "(at most 1,000 images)", "options": "defaults, untouched"},
                "train_samples": args.train_samples or len(data[0]), "quick": args.quick,
                "policies": {p: make_policy(p, bounds["base_lr"], bounds["max_lr"], step_size, gamma).to_dict()
                             for p in args.policies}}
    payload = {"meta": run_metadata(seed=None, argv=argv and ["exp_table1.py", *argv], seeds=args.seeds,
                                    machine_line=describe_machine()),
               "settings": settings, "paper": {k: list(v) for k, v in PAPER_TABLE1.items()},
               "summary": summary, "runs": rows, "figures": [f.name for f in figures]}
    write_json(out / "results.json", payload)
    for row in summary:
        frac = row["fraction_of_fixed_budget_mean"]
        print(f"{row['policy']:>11}: final acc {100 * row['final_acc_mean']:.2f} %, reached fixed's final acc at "
              f"{'n/a' if not math.isfinite(frac) else f'{100 * frac:.0f} %'} of the budget "
              f"({row['reached_fixed_in']})")
    return payload


if __name__ == "__main__":
    main()
