"""Experiment (e): why cyclical learning rates help, on a 2-D surface with saddle plateaus.

Smith's intuition for CLR (CLR paper, section 3) is that "saddle points have small gradients that
slow the learning process", and that raising the learning rate "allows more rapid traversal of
saddle point plateaus". `tinynet.data.toy.SaddleToy` is a surface built to show this: two broad
plateaus with a cliff after each, then a sharply curved minimum. We run noisy gradient descent
(gradient + Gaussian noise, a stand-in for mini-batch noise) from several starts with

* ``fixed-low``:  a small constant lr   - stable at the minimum, but creeps across the plateaus;
* ``fixed-high``: a large constant lr   - crosses the plateaus fast, but rattles around the minimum;
* ``triangular``: the CLR triangle between the two - crosses in its high phases, settles in its low
  ones, and ends on its lower bound because the budget is a whole number of cycles.

Outputs (in ``--out``, default docs/results/saddle/):
    runs.csv      one row per (policy, start, seed): final loss gap, iterations to reach the gap
                  ``--target`` (f - f_min), mean gap over the last cycle
    summary.csv   the same, mean and std over starts x seeds, one row per policy
    results.json  settings, metadata (command, seeds, date, machine), runs and summary
    saddle_paths.png  contour plot of the surface with every path, one panel per policy
    saddle_loss.png   f - f_min against iteration (log scale), mean over runs, per policy

    python experiments/exp_saddle.py                 # the full version (a few seconds)
    python experiments/exp_saddle.py --quick --out /tmp/saddle
"""
from __future__ import annotations

import argparse
import math
from pathlib import Path

import numpy as np


from clr.policies import Fixed, Triangular, round_to_cycles
from clr.lab.grid import print_progress, run_grid
from clr.lab.records import (aggregate, run_metadata, save_figure,
                                write_csv, write_json)
from tinynet.data import SaddleToy, descend

REPO_ROOT = Path(__file__).resolve().parent.parent  # results go under docs/ of this checkout

NAME = "saddle"
DEFAULT_STARTS = ((-5.0, 1.5), (-5.0, -1.5), (-4.5, 0.5), (-5.5, -0.5))


def parse_args(argv=None) -> argparse.Namespace:
    p = argparse.ArgumentParser(
        description="Fixed vs triangular learning rate on the 2-D saddle toy (tinynet.data.toy): "
                    "paths on a contour plot and loss against iteration.")
    p.add_argument("--quick", action="store_true", help="a smoke run: 2 starts, 1 seed, 100 iterations")
    p.add_argument("--seeds", type=int, nargs="+", default=[0, 1, 2],
                   help="noise seeds; every start is run with every seed (default 0 1 2)")
    p.add_argument("--out", type=Path, default=REPO_ROOT / "docs" / "results" / NAME,
                   help="output folder (default docs/results/saddle/)")
    p.add_argument("--iterations", type=int, default=600,
                   help="gradient steps per run, rounded down to whole triangular cycles (default 600)")
    p.add_argument("--base-lr", type=float, default=0.1, help="small lr: fixed-low and the triangle's bottom")
    p.add_argument("--max-lr", type=float, default=1.0, help="large lr: fixed-high and the triangle's top")
    p.add_argument("--step-size", type=int, default=50, help="triangular half-cycle in iterations (default 50)")
    p.add_argument("--noise", type=float, default=0.05, help="std of the Gaussian gradient noise (default 0.05)")
    p.add_argument("--target", type=float, default=0.01,
                   help="a run has 'arrived' when f - f_min < target (default 0.01)")
    p.add_argument("--workers", type=int, default=None,
                   help="descents run side by side, one process each (default: one per core; 1: one after "
                        "another in this process); the results are the same")
    args = p.parse_args(argv)
    if args.quick:
        args.seeds, args.iterations = args.seeds[:1], min(args.iterations, 100)
    if args.workers is not None and args.workers < 1:
        p.error(f"--workers must be at least 1; got {args.workers}")
    for name in ("iterations", "step_size"):
        if getattr(args, name) < 1:
            p.error(f"--{name.replace('_', '-')} must be >= 1, got {getattr(args, name)}")
    if not 0 < args.base_lr < args.max_lr:
        p.error(f"need 0 < --base-lr < --max-lr; got {args.base_lr} and {args.max_lr}")
    if args.noise < 0 or args.target <= 0:
        p.error(f"--noise must be >= 0 and --target > 0; got {args.noise} and {args.target}")
    return args


def policies(args) -> dict:
    return {
        "fixed-low": Fixed(args.base_lr),
        "fixed-high": Fixed(args.max_lr),
        "triangular": Triangular(args.base_lr, args.max_lr, args.step_size),
    }


def descend_cell(name, policy, iterations, start, k, seed, noise, target, last):
    """One (policy, start, seed) descent: its table row, its path and its gap to the minimum.

    A cell of ``clr.lab.grid.run_grid``: module-level, seeded by (seed, start index) alone.
    """
    toy = SaddleToy()
    f_min = float(toy.loss(*toy.minimum()))
    rng = np.random.default_rng([seed, k])  # one noise stream per (seed, start)
    try:
        path = descend(toy, policy, iterations, start=start, noise=noise, rng=rng)
        gap = toy.loss(path[:, 0], path[:, 1]) - f_min
    except FloatingPointError:  # the lr was too large for this surface: report, don't crash
        path, gap = None, None
    hit = None if gap is None else np.flatnonzero(gap < target)
    row = {
        "policy": name, "start_x": start[0], "start_y": start[1], "seed": seed,
        "diverged": gap is None,
        "final_gap": math.nan if gap is None else float(gap[-1]),
        "last_cycle_gap": math.nan if gap is None else float(gap[-last:].mean()),
        "iterations_to_target": (None if hit is None or hit.size == 0 else int(hit[0])),
    }
    return row, path, gap


def run(args) -> dict:
    toy = SaddleToy()
    x_min, y_min = toy.minimum()
    f_min = float(toy.loss(x_min, y_min))
    # Stop at the end of a cycle, where the triangle is back at its lower bound (CLR paper §3.2).
    iterations = round_to_cycles(args.iterations, args.step_size) if args.iterations >= 2 * args.step_size \
        else args.iterations
    starts = DEFAULT_STARTS[:2] if args.quick else DEFAULT_STARTS
    last = min(2 * args.step_size, iterations)  # "settled" gap: mean over the last cycle

    cells = [dict(name=name, policy=policy, iterations=iterations, start=start, k=k, seed=seed, noise=args.noise,
                  target=args.target, last=last)
             for name, policy in policies(args).items() for k, start in enumerate(starts) for seed in args.seeds]
    rows, paths = [], {}
    for cell, (row, path, gap) in zip(cells, run_grid(descend_cell, cells, workers=args.workers,
                                                      progress=print_progress)):
        rows.append(row)
        paths[(cell["name"], cell["k"], cell["seed"])] = (path, gap)
    summary = aggregate(rows, by=["policy"], values=["final_gap", "last_cycle_gap", "iterations_to_target"])
    return {"toy": toy, "f_min": f_min, "minimum": (x_min, y_min), "iterations": iterations,
            "starts": starts, "rows": rows, "summary": summary, "paths": paths}


def plot(result, args, out: Path) -> list[Path]:
    import matplotlib
    matplotlib.use("Agg")
    import matplotlib.pyplot as plt

    toy, names = result["toy"], list(policies(args))
    xs, ys = np.linspace(-6.5, 3.5, 300), np.linspace(-2.5, 2.5, 200)
    grid_x, grid_y = np.meshgrid(xs, ys)
    surface = toy.loss(grid_x, grid_y)

    fig, axes = plt.subplots(len(names), 1, figsize=(8, 2.6 * len(names)), sharex=True, dpi=100)
    for ax, name in zip(axes, names):
        ax.contourf(grid_x, grid_y, surface, levels=30, cmap="viridis")
        ax.contour(grid_x, grid_y, surface, levels=15, colors="white", linewidths=0.3, alpha=0.5)
        for (policy, k, seed), (path, _) in result["paths"].items():
            if policy == name and path is not None:
                ax.plot(path[:, 0], path[:, 1], color=f"C{k + 1}", linewidth=0.7, alpha=0.8)
                ax.plot(*path[0], "o", color=f"C{k + 1}", markersize=4)
        ax.plot(*result["minimum"], "*", color="red", markersize=12)
        ax.set_xlim(xs[0], xs[-1])
        ax.set_ylim(ys[0], ys[-1])
        ax.set_ylabel("y")
        ax.set_title(f"{name}: {describe(policies(args)[name])}", fontsize="medium")
    axes[-1].set_xlabel("x")
    paths_png = save_figure(fig, out / "saddle_paths.png")
    plt.close(fig)

    fig, axes = plt.subplots(2, 1, figsize=(8, 6), sharex=True, dpi=100, gridspec_kw={"height_ratios": [3, 1]})
    its = np.arange(result["iterations"] + 1)
    for i, name in enumerate(names):
        gaps = [gap for (policy, _, _), (_, gap) in result["paths"].items() if policy == name and gap is not None]
        if not gaps:
            continue
        gaps = np.maximum(np.array(gaps), 1e-12)
        # the geometric mean over runs: the gaps span many decades
        axes[0].plot(its, np.exp(np.log(gaps).mean(axis=0)), color=f"C{i}", label=name, linewidth=1.5)
        axes[0].fill_between(its, gaps.min(axis=0), gaps.max(axis=0), color=f"C{i}", alpha=0.15)
        lr = [policies(args)[name](t) for t in its[:-1]]
        axes[1].plot(its[:-1], lr, color=f"C{i}", linewidth=1.2)
    axes[0].axhline(args.target, color="gray", linestyle=":", label=f"target gap {args.target:g}")
    axes[0].set_yscale("log")
    axes[0].set_ylabel("f - f_min (geometric mean, min-max band)")
    axes[0].legend(fontsize="small")
    axes[0].grid(True, alpha=0.3)
    axes[0].set_title(f"Noisy gradient descent on the saddle toy: {len(result['starts'])} starts x "
                      f"{len(args.seeds)} seeds, noise {args.noise:g}")
    axes[1].set_ylabel("learning rate")
    axes[1].set_xlabel("iteration")
    axes[1].grid(True, alpha=0.3)
    loss_png = save_figure(fig, out / "saddle_loss.png")
    plt.close(fig)
    return [paths_png, loss_png]


def describe(policy) -> str:
    if isinstance(policy, Fixed):
        return f"fixed lr {policy.lr:g}"
    return f"triangular {policy.base_lr:g}-{policy.max_lr:g}, step size {policy.step_size:g}"


def main(argv=None) -> dict:
    args = parse_args(argv)
    out = Path(args.out)
    result = run(args)
    settings = {"iterations": result["iterations"], "base_lr": args.base_lr, "max_lr": args.max_lr,
                "step_size": args.step_size, "noise": args.noise, "target_gap": args.target,
                "starts": [list(s) for s in result["starts"]], "f_min": result["f_min"],
                "minimum": list(result["minimum"]), "toy": vars(result["toy"]), "quick": args.quick,
                "policies": {k: p.to_dict() for k, p in policies(args).items()}}
    write_csv(out / "runs.csv", result["rows"])
    write_csv(out / "summary.csv", result["summary"])
    figures = plot(result, args, out)
    payload = {"meta": run_metadata(seed=None, argv=argv and ["exp_saddle.py", *argv], seeds=args.seeds),
               "settings": settings, "summary": result["summary"], "runs": result["rows"],
               "figures": [f.name for f in figures]}
    write_json(out / "results.json", payload)
    for row in result["summary"]:
        print(f"{row['policy']:>11}: final gap {row['final_gap_mean']:.2e}, last-cycle gap "
              f"{row['last_cycle_gap_mean']:.2e}, iterations to gap < {args.target:g}: "
              f"{row['iterations_to_target_mean']:.0f} (n={row['iterations_to_target_n']})")
    return payload


if __name__ == "__main__":
    main()
