"""Experiment (d): one-cycle ("super-convergence") against a tuned fixed lr and a multistep schedule.

Smith & Topin (super-convergence) train ResNet-56 on CIFAR-10 with one triangular cycle of a large
lr in 10k iterations and match a piecewise-constant baseline trained for 80k; Smith (2018) adds that
1cycle reaches the baseline's accuracy in a fraction of the epochs (e.g. MNIST LeNet 99.25 % in 12
epochs against 99.03 % in 85 epochs with the inv/step policy).

**Setting** (CPU budget): the MNIST-1D CNN on the default MNIST-1D set (4,000 training signals, 40
iterations per epoch, batch 100, shuffled batches), SGD with momentum (PyTorch form), weight decay
1e-4 (the super-convergence solvers' value). Budget N = ``--iterations`` (default 8,000 = 200 epochs).

* ``bounds``: ``clr.find_bounds`` on the CNN with this optimizer (momentum 0.9, weight decay 1e-4),
  untouched (``exp_mnist1d.bounds_from_find_bounds``); its max_lr is the one-cycle peak;
* ``fixed``: a constant lr, tuned over ``--fixed-grid`` (absolute lrs, half-decade steps, so that the
  baseline does not depend on the bounds under test) by final test accuracy. Tuning on the test set
  flatters the baseline, so the comparison is conservative;
* ``multistep``: the tuned fixed lr, divided by 10 at 62.5 % and 87.5 % of N (the super-convergence
  baseline's 50k and 70k of 80k), momentum 0.9;
* ``one_cycle`` at N, N/2 and N/4 (peak = find_bounds' max_lr): Smith's 1cycle,
  three linear phases (PyTorch ``three_phase=True``):
  max_lr / 10 -> max_lr over 45 % of the steps, back over 45 %, then down to max_lr / 1000;
  momentum 0.95 -> 0.85 -> 0.95 (cyclical momentum).

Headline: final test accuracy, mean +- std over seeds, of each schedule and budget.

    python experiments/exp_onecycle.py                 # full version, 3 seeds
    python experiments/exp_onecycle.py --quick --out /tmp/oc
"""
from __future__ import annotations

import argparse
from pathlib import Path


from clr import policies as P
from clr.lab.grid import print_progress, run_grid
from clr.lab.records import aggregate, write_csv, write_json
from exp_mnist1d import (bounds_from_find_bounds, check_common, common_args, load_data,
                                     metadata, plot_accuracy, plot_range_tests, run_training,
                                     smith_one_cycle)
from clr.lab.train import iterations_to_reach

NAME = "onecycle"
WEIGHT_DECAY = 1e-4
MOMENTUM = 0.9
FRACTIONS = (1.0, 0.5, 0.25)
MILESTONES = (0.625, 0.875)  # super-convergence baseline: multistep at 50k and 70k of 80k


def parse_args(argv=None) -> argparse.Namespace:
    p = argparse.ArgumentParser(
        description="One-cycle at the full, half and quarter budget vs a tuned fixed lr and a multistep "
                    "schedule, MNIST-1D CNN with SGD + momentum.")
    common_args(p, NAME, 8000)
    p.add_argument("--fixed-grid", type=float, nargs="+", default=[0.01, 0.03, 0.1, 0.3],
                   help="fixed lrs tried for the tuned baseline (default 0.01 0.03 0.1 0.3)")
    p.set_defaults(eval_every=200)
    args = p.parse_args(argv)
    if args.quick:
        args.seeds, args.iterations, args.eval_every, args.range_iters = args.seeds[:1], 40, 10, 100
        args.fixed_grid = args.fixed_grid[:2]
    check_common(p, args)
    if args.iterations % (4 * args.eval_every):
        p.error(f"--iterations ({args.iterations}) must be a multiple of 4 x --eval-every ({args.eval_every}), so "
                "that the quarter budget ends on an evaluation")
    if any(m <= 0 for m in args.fixed_grid) or len(set(args.fixed_grid)) != len(args.fixed_grid):
        p.error(f"--fixed-grid lrs must be distinct and > 0; got {args.fixed_grid}")
    return args


def sgd_run(lr0, schedule, data, seed, iterations, eval_every, momentum_schedule=None):
    # SGD with momentum (PyTorch form); run_training builds it from the "sgd" factory with momentum 0.9
    return run_training("cnn", "sgd", lr0, schedule, data, seed=seed, iterations=iterations, eval_every=eval_every,
                        shuffle=True, momentum_schedule=momentum_schedule, weight_decay=WEIGHT_DECAY)


def run_groups(groups: dict, workers) -> dict:
    """{key: [sgd_run(**cell) for cell in cells]} for {key: cells}, every cell at once over the cores."""
    flat = [cell for cells in groups.values() for cell in cells]
    results = iter(run_grid(sgd_run, flat, workers=workers, progress=print_progress))
    return {key: [next(results) for _ in cells] for key, cells in groups.items()}


def main(argv=None) -> dict:
    args = parse_args(argv)
    out = Path(args.out)
    data = load_data(args.quick)
    n = args.iterations
    bounds, found = bounds_from_find_bounds("cnn", "sgd", data, num_iter=args.range_iters, weight_decay=WEIGHT_DECAY)
    max_lr = bounds["max_lr"]  # the one-cycle peak, as find_bounds gave it
    print(f"find_bounds: max_lr {max_lr:.4g} (the one-cycle peak)", *bounds["why"], sep="\n    ", flush=True)

    def cells(lr0, schedule, budget, momentum=None):
        return [dict(lr0=lr0, schedule=schedule, data=data, seed=seed, iterations=budget,
                     eval_every=args.eval_every, momentum_schedule=momentum) for seed in args.seeds]

    # 1. the fixed-lr grid and the one-cycle runs at N, N/2, N/4 (they need only the range test),
    # all at once over the cores (clr.lab.grid.run_grid; the results are those of one after another)
    groups = {("fixed-grid", lr, n): cells(lr, None, n) for lr in args.fixed_grid}
    for frac in FRACTIONS:
        budget = int(n * frac)
        policy, momentum = smith_one_cycle(max_lr, budget)
        groups[("one_cycle", max_lr, budget)] = cells(policy(0), policy, budget, momentum)
    done = run_groups(groups, args.workers)

    # tune the fixed lr (by mean final test accuracy over the seeds)
    rows, curves = [], {}
    fixed_runs = {lr: rs for (kind, lr, _), rs in done.items() if kind == "fixed-grid"}
    for lr, rs in fixed_runs.items():
        mean_acc = sum(r["final_acc"] for r in rs) / len(args.seeds)
        print(f"  fixed lr {lr:.4g}: mean final {100 * mean_acc:.1f} %", flush=True)
        for seed, r in zip(args.seeds, rs):
            rows.append({"schedule": f"fixed lr {lr:.3g}", "kind": "fixed-grid", "budget": n, "seed": seed,
                         "lr": lr, "final_acc": r["final_acc"], "best_acc": r["best_acc"],
                         "diverged_at": r["diverged_at"], "seconds": r["seconds"]})
    best_lr = max(fixed_runs, key=lambda lr: sum(r["final_acc"] for r in fixed_runs[lr]))
    runs = {("fixed (tuned)", n): fixed_runs[best_lr]}

    # 2. multistep from the tuned lr; 3. the one-cycle runs
    multistep = P.MultiStep(best_lr, 0.1, tuple(int(m * n) for m in MILESTONES))
    runs[("multistep", n)] = run_groups({"multistep": cells(best_lr, multistep, n)}, args.workers)["multistep"]
    for frac in FRACTIONS:
        budget = int(n * frac)
        runs[("one_cycle", budget)] = done[("one_cycle", max_lr, budget)]

    fixed_final = {seed: r["final_acc"] for seed, r in zip(args.seeds, runs[("fixed (tuned)", n)])}
    for (name, budget), rs in runs.items():
        for seed, r in zip(args.seeds, rs):
            reached = iterations_to_reach(r["history"], fixed_final[seed])
            rows.append({"schedule": name, "kind": "compared", "budget": budget, "seed": seed,
                         "lr": best_lr if name != "one_cycle" else max_lr, "final_acc": r["final_acc"],
                         "best_acc": r["best_acc"], "iterations_to_fixed_final": reached,
                         "diverged_at": r["diverged_at"], "seconds": r["seconds"]})
            curves.setdefault(f"{name} ({budget} it.)", []).append(r["history"])
        print(f"  {name} {budget}: final {[round(100 * r['final_acc'], 1) for r in rs]}", flush=True)
    compared = [r for r in rows if r["kind"] == "compared"]
    summary = aggregate(compared, by=["schedule", "budget"],
                        values=["final_acc", "best_acc", "iterations_to_fixed_final"])
    grid = aggregate([r for r in rows if r["kind"] == "fixed-grid"], by=["lr"], values=["final_acc"])
    fieldnames = ["schedule", "kind", "budget", "seed", "lr", "final_acc", "best_acc", "iterations_to_fixed_final",
                  "diverged_at", "seconds"]
    write_csv(out / "runs.csv", rows, fieldnames)
    write_csv(out / "summary.csv", summary)
    write_csv(out / "fixed_grid.csv", grid)
    figures = [plot_accuracy(curves, out / "accuracy_curves.png",
                             f"MNIST-1D CNN, SGD: one-cycle vs tuned fixed (lr {best_lr:.3g}) and multistep; "
                             f"seeds {args.seeds}"),
               plot_range_tests({"SGD momentum 0.9": found}, out / "range_test.png",
                                "clr.find_bounds, MNIST-1D CNN, SGD")]
    found.details["probe"].to_json(out / "find_bounds_probe.json")
    found.details["sweep"].to_json(out / "find_bounds_linear.json")
    settings = {"dataset": "MNIST-1D (embedded default)" + (" [quick subset]" if args.quick else ""),
                "model": "MNIST-1D CNN", "optimizer": f"SGD momentum {MOMENTUM} (PyTorch form), weight decay "
                f"{WEIGHT_DECAY}", "batch_size": 100, "batches": "shuffled", "iterations": n,
                "eval_every": args.eval_every, "bounds": bounds, "max_lr": max_lr,
                "fixed_grid": list(args.fixed_grid), "tuned_fixed_lr": best_lr,
                "multistep": multistep.to_dict(),
                "one_cycle": {int(n * f): smith_one_cycle(max_lr, int(n * f))[0].to_dict() for f in FRACTIONS},
                "one_cycle_momentum": "0.95 -> 0.85 -> 0.95, three phases", "quick": args.quick}
    payload = {"meta": metadata(argv, "exp_onecycle.py", args.seeds), "settings": settings, "summary": summary,
               "fixed_grid": grid, "runs": rows, "figures": [f.name for f in figures]}
    write_json(out / "results.json", payload)
    for row in summary:
        print(f"{row['schedule']:>14} {row['budget']:>5}: final {100 * row['final_acc_mean']:.2f} % "
              f"(n={row['final_acc_n']})")
    return payload


if __name__ == "__main__":
    main()
