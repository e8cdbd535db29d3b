"""Experiment (b): an analogue of Table 3 of the CLR paper - CLR with adaptive optimizers.

The paper (Table 3) trains CIFAR-10 with Caffe's Nesterov, ADAM, RMSprop, AdaGrad and AdaDelta
solvers, each with a fixed lr for 70,000 iterations and with the triangular policy for 25,000 (and
for some, 70,000); bounds come from each solver's own range test and the fixed runs use the lower
bound. Its finding: CLR matches or nearly matches the fixed lr in about a third of the iterations
for most solvers (AdaGrad gains, RMSprop and ADAM lose a little at 25k).

**A cheaper setting** (CPU budget): the MNIST-1D CNN (5,210 parameters; clr.lab.models) on the
default MNIST-1D set (4,000 training signals, 40 iterations per epoch, batch 100, sequential batches
as in the MNIST-1D reference code), instead of cifar10_full on CIFAR-10. Per optimizer:

1. bounds from ``clr.find_bounds`` with this optimizer, untouched (``exp_mnist1d.bounds_from_find_bounds``:
   the same defaults for every optimizer, a held-out tenth of the training set for its linear test,
   base_lr = max_lr / 4). An optimizer for which find_bounds refuses (no usable signal) is reported
   as refused and not trained;
2. ``fixed`` at base_lr for the whole budget N (default 5,600 iterations = 140 epochs);
3. ``triangular`` between the bounds, step size 200 (5 epochs), for the same N. Its accuracy at
   iteration 2,000 (the end of its 5th cycle, 36 % of N) stands for the paper's 25k column
   (25k / 70k = 36 %), and at N for the 70k column.

Optimizers: SGD with Nesterov momentum 0.9 (Caffe's NesterovSolver form), Adam, RMSprop, Adagrad,
Adadelta (PyTorch defaults otherwise). Weight decay 0.

    python experiments/exp_optimizers.py               # full version, 3 seeds
    python experiments/exp_optimizers.py --quick --out /tmp/opt
"""
from __future__ import annotations

import argparse
import math
from pathlib import Path


from clr import policies as P
from clr.lab.grid import print_progress, run_grid
from clr.lab.records import aggregate, write_csv, write_json
from exp_mnist1d import (bounds_from_find_bounds, check_common, common_args, load_data,
                                     metadata, plot_accuracy, plot_range_tests, run_training)
from clr.lab.train import iterations_to_reach

NAME = "optimizers"
OPTIMIZER_NAMES = ("nesterov", "adam", "rmsprop", "adagrad", "adadelta")
# The paper's Table 3 (CIFAR-10): optimizer -> (bounds, fixed 70k, triangular 25k, triangular 70k)
PAPER_TABLE3 = {"nesterov": ("0.001-0.006", 82.1, 81.3, None), "adam": ("0.0005-0.002", 81.4, 79.8, 81.1),
                "rmsprop": ("0.0001-0.0003", 75.2, 72.8, 75.1), "adagrad": ("0.003-0.035", 74.6, 76.0, None),
                "adadelta": ("0.01-0.1", 67.3, 67.3, None)}


def parse_args(argv=None) -> argparse.Namespace:
    p = argparse.ArgumentParser(
        description="CLR paper Table 3 analogue on the MNIST-1D CNN: fixed lr (range-test lower bound) vs "
                    "triangular CLR for SGD-Nesterov, Adam, RMSprop, Adagrad and Adadelta.")
    common_args(p, NAME, 5600)
    p.add_argument("--step-size", type=int, default=200, help="triangular half-cycle (default 200 = 5 epochs)")
    p.add_argument("--early", type=int, default=2000,
                   help="the 'short budget' point read off the triangular runs (default 2000 = 5 cycles, "
                        "36 %% of 5600 like the paper's 25k of 70k)")
    p.add_argument("--optimizers", nargs="+", default=list(OPTIMIZER_NAMES), choices=OPTIMIZER_NAMES)
    p.set_defaults(eval_every=200)
    args = p.parse_args(argv)
    if args.quick:
        args.seeds, args.iterations, args.eval_every, args.range_iters = args.seeds[:1], 40, 10, 100
        args.step_size, args.early = 10, 20
    check_common(p, args)
    if args.step_size < 1 or not 0 < args.early <= args.iterations:
        p.error(f"need --step-size >= 1 and 0 < --early <= --iterations; got {args.step_size}, {args.early}")
    if args.early % args.eval_every or args.iterations % args.eval_every:
        p.error(f"--early ({args.early}) and --iterations ({args.iterations}) must be multiples of --eval-every "
                f"({args.eval_every}) so that the accuracy is measured there")
    return args


def accuracy_at(history: dict, iteration: int) -> float:
    its = history["iteration"]
    if iteration not in its:
        raise ValueError(f"no evaluation at iteration {iteration}; evaluations at {its[:3]}...{its[-2:]}")
    return float(history["test_acc"][its.index(iteration)])


def main(argv=None) -> dict:
    args = parse_args(argv)
    out = Path(args.out)
    data = load_data(args.quick)
    rows, curves, range_tests, bounds_by_opt, refused = [], {}, {}, {}, {}
    cells = []
    for opt_name in args.optimizers:
        try:
            bounds, found = bounds_from_find_bounds("cnn", opt_name, data, num_iter=args.range_iters)
        except ValueError as e:  # find_bounds saw no usable signal: reported, not trained, not patched
            refused[opt_name] = str(e)
            print(f"{opt_name}: {e}", flush=True)
            continue
        bounds_by_opt[opt_name], range_tests[opt_name] = bounds, found
        print(f"{opt_name}: bounds {bounds['base_lr']:.4g} .. {bounds['max_lr']:.4g} ({bounds['method']})",
              *bounds["why"], sep="\n    ", flush=True)
        triangular = P.Triangular(bounds["base_lr"], bounds["max_lr"], args.step_size)
        for seed in args.seeds:
            for policy_name, schedule in (("fixed", None), ("triangular", triangular)):
                # both start at the lower bound
                cells.append(dict(model_name="cnn", optimizer=opt_name, lr0=bounds["base_lr"], schedule=schedule,
                                  data=data, seed=seed, iterations=args.iterations, eval_every=args.eval_every,
                                  label=policy_name))
    # every (optimizer, seed, policy) training at once, over the cores; results in the order above
    results = run_grid(run_training, cells, workers=args.workers, progress=print_progress)
    runs = {(c["optimizer"], c["seed"], c["label"]): r for c, r in zip(cells, results)}
    for opt_name in bounds_by_opt:
        bounds = bounds_by_opt[opt_name]
        for seed in args.seeds:
            target = runs[(opt_name, seed, "fixed")]["final_acc"]
            for policy_name in ("fixed", "triangular"):
                r = runs[(opt_name, seed, policy_name)]
                curves.setdefault(f"{opt_name} {policy_name}", []).append(r["history"])
                reached = iterations_to_reach(r["history"], target)
                rows.append({"optimizer": opt_name, "policy": policy_name, "seed": seed,
                             "base_lr": bounds["base_lr"], "max_lr": bounds["max_lr"],
                             "acc_at_early": accuracy_at(r["history"], args.early), "final_acc": r["final_acc"],
                             "best_acc": r["best_acc"], "iterations_to_fixed_final": reached,
                             "diverged_at": r["diverged_at"], "seconds": r["seconds"]})
                print(f"{opt_name:>9} {policy_name:>10} seed {seed}: at {args.early} "
                      f"{100 * rows[-1]['acc_at_early']:.1f} %, final {100 * r['final_acc']:.1f} %, "
                      f"reaches fixed's final at {reached}", flush=True)
    summary = aggregate(rows, by=["optimizer", "policy"],
                        values=["acc_at_early", "final_acc", "best_acc", "iterations_to_fixed_final"])
    for row in summary:
        bounds_text, fixed70, tri25, tri70 = PAPER_TABLE3[row["optimizer"]]
        row["paper_bounds"] = bounds_text
        row["paper_fixed_70k"], row["paper_triangular_25k"], row["paper_triangular_70k"] = fixed70, tri25, tri70
    write_csv(out / "runs.csv", rows)
    write_csv(out / "summary.csv", summary)
    figures = [plot_accuracy(curves, out / "accuracy_curves.png",
                             f"MNIST-1D CNN: fixed (lower bound) vs triangular, per optimizer; seeds {args.seeds}"),
               plot_range_tests(range_tests, out / "range_tests.png", "clr.find_bounds, MNIST-1D CNN, per optimizer")]
    for opt_name, found in range_tests.items():
        found.details["probe"].to_json(out / f"find_bounds_{opt_name}_probe.json")
        found.details["sweep"].to_json(out / f"find_bounds_{opt_name}_linear.json")
    settings = {"dataset": "MNIST-1D (embedded default)" + (" [quick subset]" if args.quick else ""),
                "model": "MNIST-1D CNN (5,210 parameters)", "batch_size": 100, "batches": "sequential",
                "iterations": args.iterations, "iterations_per_epoch": 40, "early_point": args.early,
                "step_size": args.step_size, "eval_every": args.eval_every, "bounds": bounds_by_opt,
                "find_bounds_refused": refused,
                "find_bounds": {"num_iter": args.range_iters, "val_loader": "a seeded tenth of the training set",
                                "options": "defaults, untouched, the same for every optimizer"},
                "optimizers": {"nesterov": "SGD momentum 0.9, Nesterov, Caffe form", "adam": "betas (0.9, 0.999)",
                               "rmsprop": "alpha 0.99", "adagrad": "eps 1e-10", "adadelta": "rho 0.9"},
                "quick": args.quick}
    payload = {"meta": metadata(argv, "exp_optimizers.py", args.seeds), "settings": settings,
               "paper": {k: list(v) for k, v in PAPER_TABLE3.items()}, "summary": summary, "runs": rows,
               "figures": [f.name for f in figures]}
    write_json(out / "results.json", payload)
    for row in summary:
        it = row["iterations_to_fixed_final_mean"]
        print(f"{row['optimizer']:>9} {row['policy']:>10}: at {args.early} {100 * row['acc_at_early_mean']:.1f} %, "
              f"final {100 * row['final_acc_mean']:.1f} %, reaches fixed's final at "
              f"{'n/a' if not math.isfinite(it) else f'{it:.0f}'} ({row['iterations_to_fixed_final_n']} seeds)")
    return payload


if __name__ == "__main__":
    main()
