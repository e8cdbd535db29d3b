"""Experiment (f): the CLR paper's exact CIFAR-10 setup (Table 1, first two rows), ready to run.

Everything as in the paper and Caffe's ``examples/cifar10`` (BVLC/caffe @9b89154):

* data: CIFAR-10, 50,000 training / 10,000 test images, the training set's mean image subtracted,
  pixels kept in 0..255, no mirror or crop; batch 100 (500 iterations per epoch);
* model: ``cifar10_full`` with LRN (clr.lab.models.cifar10_full), Caffe's Gaussian initialisation;
* solver: SGD, momentum 0.9 in Caffe's form, weight decay 0.004 with ip1's weights at decay_mult
  250 and its bias at 0 (param groups); test on the whole test set every 1,000 iterations;
* ``fixed``: ``train_full.sh``: lr 0.001 to iteration 60,000, 0.0001 to 65,000, 0.00001 to 70,000;
* ``triangular2``: the paper's 3-stage schedule of 25,000 iterations (clr.policies.paper_cifar10_triangular2):
  0.001-0.005 step 2,000 to 16k, 0.0001-0.0005 step 1,000 to 22k, 0.00001-0.00005 step 500 to 25k.

Paper (Table 1): fixed 81.4 % at 70,000 iterations; triangular2 81.4 % at 25,000.

CIFAR-10 is not on the development machine, so this script has not produced results there; it runs
wherever ``cifar-10-python.tar.gz`` (or its extracted ``cifar-10-batches-py/``) is found by
tinynet.data (``--data-root``, $TINYNET_DATA/cifar-10, /usr/share/datasets/cifar-10, ~/.cache/tinynet),
or with ``--download``. On a GPU: ``--device cuda`` (needs CuPy). ``--scale`` shrinks every iteration
count of both schedules by the same factor (a cheaper rehearsal of the same shape); ``--quick`` is a
smoke test (scale 0.001, small batches and test subset) used by the tests on a synthetic archive.

    python experiments/exp_cifar10_caffe.py --device cuda                 # the paper's runs (1 seed)
    python experiments/exp_cifar10_caffe.py --quick --data-root DIR --no-verify --out /tmp/c10
"""
from __future__ import annotations

import argparse
import math
import time
from pathlib import Path



import tinynet as tn
from clr import policies as P
from clr.lab import models
from clr.lab.grid import print_progress, run_grid
from clr.lab.records import (aggregate, curve_mean_std, describe_machine,
                                run_metadata, save_figure, write_csv, write_json)
from exp_table1 import caffe_preprocess, caffe_sgd, cached_run, history_to_json, subset
from clr.lab.train import final_accuracy, iterations_to_reach, train
from tinynet.data import ArrayDataset, DataLoader, load_cifar10

REPO_ROOT = Path(__file__).resolve().parent.parent  # results go under docs/ of this checkout

NAME = "cifar10_caffe"
SCHEDULES = ("fixed", "triangular2")
PAPER = {"fixed": (70000, 81.4), "triangular2": (25000, 81.4)}  # CLR paper Table 1 (iterations, test %)
# (base_lr, max_lr, step_size, stage length) of the paper's triangular2 stages (Table 2 of our notes)
TRIANGULAR2_STAGES = ((0.001, 0.005, 2000, 16000), (0.0001, 0.0005, 1000, 6000), (0.00001, 0.00005, 500, 3000))


def fixed_schedule(scale: float = 1.0):
    """train_full.sh: 0.001, then x0.1 at 60k and 65k, ending at 70k (all counts x scale)."""
    total = max(3, round(70000 * scale))
    milestones = (max(1, round(60000 * scale)), max(2, round(65000 * scale)))
    return P.MultiStep(0.001, 0.1, milestones), total


def triangular2_schedule(scale: float = 1.0):
    """The paper's 3-stage triangular2 (25k iterations), every count x scale; scale 1 is exactly
    clr.policies.paper_cifar10_triangular2()."""
    if scale == 1.0:
        policy = P.paper_cifar10_triangular2()
        return policy, policy.total_iters
    stages = tuple((P.Triangular2(base, top, max(1, round(step * scale))), max(2, round(length * scale)))
                   for base, top, step, length in TRIANGULAR2_STAGES)
    policy = P.Stages(stages)
    return policy, policy.total_iters


def schedule(name: str, scale: float):
    """(policy, iterations) of one of SCHEDULES."""
    return {"fixed": fixed_schedule, "triangular2": triangular2_schedule}[name](scale)


def parse_args(argv=None) -> argparse.Namespace:
    p = argparse.ArgumentParser(
        description="The CLR paper's CIFAR-10 runs: Caffe's cifar10_full, fixed (70k, train_full.sh) vs the 3-stage "
                    "triangular2 (25k). Needs CIFAR-10; use --device cuda on a GPU.")
    p.add_argument("--quick", action="store_true",
                   help="a smoke run: --scale 0.001, batch 10, 100 test images (for tests on a synthetic archive)")
    p.add_argument("--seeds", type=int, nargs="+", default=[0], help="seeds (default 0; the paper ran one)")
    p.add_argument("--out", type=Path, default=REPO_ROOT / "docs" / "results" / NAME,
                   help="output folder (default docs/results/cifar10_caffe/)")
    p.add_argument("--scale", type=float, default=1.0,
                   help="multiply every iteration count of both schedules by this (default 1: 70k and 25k)")
    p.add_argument("--eval-every", type=int, default=1000, help="test every this many iterations (Caffe: 1000)")
    p.add_argument("--batch-size", type=int, default=100, help="mini-batch size (default 100, Caffe's)")
    p.add_argument("--test-samples", type=int, default=None, help="test on a random subset (default: all 10,000)")
    p.add_argument("--schedules", nargs="+", default=list(SCHEDULES), choices=SCHEDULES)
    p.add_argument("--data-root", type=Path, default=None, help="folder holding cifar-10-python.tar.gz")
    p.add_argument("--no-verify", action="store_true", help="skip the md5 checks (your own files in CIFAR format)")
    p.add_argument("--download", action="store_true", help="download CIFAR-10 (163 MiB) if it is not found")
    p.add_argument("--device", default="cpu", help="'cpu' or 'cuda' (default cpu)")
    p.add_argument("--force", action="store_true", help="recompute runs already saved in <out>/runs/")
    p.add_argument("--workers", type=int, default=None,
                   help="runs side by side, one process each (default: one per core; 1: one after another in "
                        "this process, the choice for one GPU); the results are the same")
    args = p.parse_args(argv)
    if args.workers is not None and args.workers < 1:
        p.error(f"--workers must be at least 1; got {args.workers}")
    if args.quick:
        args.seeds, args.scale, args.eval_every, args.batch_size = args.seeds[:1], 0.001, 10, 10
        args.test_samples = args.test_samples or 100
    if not (math.isfinite(args.scale) and 0 < args.scale <= 1):
        p.error(f"--scale must be in (0, 1]; got {args.scale}")
    for name in ("eval_every", "batch_size"):
        if getattr(args, name) < 1:
            p.error(f"--{name.replace('_', '-')} must be >= 1; got {getattr(args, name)}")
    if any(s < 0 for s in args.seeds) or len(set(args.seeds)) != len(args.seeds):
        p.error(f"--seeds must be distinct integers >= 0; got {args.seeds}")
    return args


def load_data(args):
    """(x_train, y_train, x_test, y_test), preprocessed as Caffe does."""
    split = load_cifar10(root=args.data_root, download=args.download, verify=not args.no_verify)
    x_test, y_test = split.x_test, split.y_test
    if args.test_samples is not None:
        x_test, y_test = subset(x_test, y_test, args.test_samples, seed=6789)
    x_train, x_test, _ = caffe_preprocess(split.x_train, x_test)
    return x_train, split.y_train, x_test, y_test


def run_schedule(args, data, name: str, seed: int, device: str, out: Path, train_samples: int) -> dict:
    """One (schedule, seed) run, saved under runs/ and reused when its settings match.

    A cell of ``clr.lab.grid.run_grid``; ``data`` None loads the data here (in a worker process)
    only when the run is not saved already.
    """
    policy, iterations = schedule(name, args.scale)

    def compute():
        x_train, y_train, x_test, y_test = data if data is not None else load_data(args)
        model = models.cifar10_full(rng=seed, in_channels=3, size=32, lrn=True).to(device)
        loader = DataLoader(ArrayDataset(x_train, y_train), args.batch_size, shuffle=True, seed=seed)
        opt = caffe_sgd(model, lr=policy(0))
        history = train(model, opt, policy, loader, iterations, args.eval_every, (x_test, y_test),
                        device=device, seed=seed)
        return {"history": history_to_json(history)}

    settings = {"policy": policy.to_dict(), "iterations": iterations, "seed": seed, "device": device,
                "batch_size": args.batch_size, "eval_every": args.eval_every,
                "test_samples": args.test_samples, "train_samples": train_samples}
    start = time.perf_counter()
    saved = cached_run(out / "runs" / f"{name}_seed{seed}.json", settings, compute, args.force)
    h = saved["history"]
    print(f"{name:>11} seed {seed}: {iterations} iterations, final test acc {100 * h['test_acc'][-1]:.2f} % "
          f"({time.perf_counter() - start:.0f} s)", flush=True)
    return saved


def main(argv=None) -> dict:
    args = parse_args(argv)
    out = Path(args.out)
    device = tn.backend.check_device(args.device)
    data = load_data(args)
    print(f"CIFAR-10: {len(data[0])} train, {len(data[2])} test images; device {device}", flush=True)

    # every (seed, schedule) run at once over the cores; worker processes load the data themselves
    cells = [dict(args=args, data=data if args.workers == 1 else None, name=name, seed=seed, device=device,
                  out=out, train_samples=len(data[0])) for seed in args.seeds for name in args.schedules]
    results = run_grid(run_schedule, cells, workers=args.workers, progress=print_progress)
    runs = {(c["name"], c["seed"]): r for c, r in zip(cells, results)}
    schedules = {name: schedule(name, args.scale) for name in SCHEDULES}

    rows = []
    for (name, seed), saved in runs.items():
        h = saved["history"]
        fixed = runs.get(("fixed", seed))
        target = final_accuracy(fixed["history"]) if fixed else None
        reached = iterations_to_reach(h, target) if target is not None else None
        rows.append({"schedule": name, "seed": seed, "iterations": saved["settings"]["iterations"],
                     "final_acc": final_accuracy(h), "best_acc": max(h["test_acc"]),
                     "iterations_to_fixed_final": reached, "diverged_at": h["diverged_at"],
                     "paper_iterations": PAPER[name][0], "paper_acc": PAPER[name][1]})
    summary = aggregate(rows, by=["schedule", "iterations"], values=["final_acc", "best_acc", "iterations_to_fixed_final"])
    write_csv(out / "runs.csv", rows)
    write_csv(out / "summary.csv", summary)

    import matplotlib
    matplotlib.use("Agg")
    import matplotlib.pyplot as plt
    fig, ax = plt.subplots(figsize=(8, 4.5), dpi=100)
    for k, name in enumerate(args.schedules):
        hs = [runs[(name, s)]["history"] for s in args.seeds]
        x, mean, _ = curve_mean_std(hs, "test_acc")
        ax.plot(x, 100 * mean, color=f"C{k}", label=f"{name} ({schedules[name][1]} iterations)")
    for name, (its, acc) in PAPER.items():
        ax.plot([its * args.scale], [acc], "*", markersize=10, color="gray")
    ax.set_xlabel("iteration")
    ax.set_ylabel("test accuracy, %")
    ax.set_title("CIFAR-10, cifar10_full, Caffe solver (stars: the paper's final accuracies)", fontsize="medium")
    ax.grid(True, alpha=0.3)
    ax.legend(fontsize="small")
    figure = save_figure(fig, out / "accuracy_curves.png")
    plt.close(fig)

    settings = {"dataset": "CIFAR-10" + (f" (test subset {args.test_samples})" if args.test_samples else ""),
                "model": "cifar10_full with LRN", "preprocessing": "training mean image subtracted, pixels 0..255",
                "solver": "SGD, Caffe momentum form 0.9, weight decay 0.004 (ip1 weights x250, ip1 bias 0)",
                "batch_size": args.batch_size, "eval_every": args.eval_every, "scale": args.scale, "device": device,
                "schedules": {k: {"policy": v[0].to_dict(), "iterations": v[1]} for k, v in schedules.items()},
                "quick": args.quick}
    payload = {"meta": run_metadata(seed=None, argv=argv and ["exp_cifar10_caffe.py", *argv], seeds=args.seeds,
                                    machine_line=describe_machine()),
               "settings": settings, "paper": {k: list(v) for k, v in PAPER.items()}, "summary": summary,
               "runs": rows, "figures": [figure.name]}
    write_json(out / "results.json", payload)
    return payload


if __name__ == "__main__":
    main()
