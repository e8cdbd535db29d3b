"""Draw the schedule figures in docs/img/ from clr.policies (the plots on docs/policies.md).

Usage: python experiments/make_docs_plots.py [--out docs/img]

Writes:
- schedules.png: the CLR paper's three policies, the 'decay' and 'exp' baselines, over four
  cycles of the paper's CIFAR-10 settings (0.001-0.006, step size 2,000).
- one_cycle.png: PyTorch's two-phase cosine one-cycle and Smith's three-phase linear one, with
  their cyclical momentum on a second panel, and SGDR for comparison.
- paper_cifar10_triangular2.png: the 3-stage triangular2 schedule of the paper's Table 2 (25k).
"""
from __future__ import annotations

import argparse
from pathlib import Path

import clr
from clr import policies as P


def main(argv=None):
    parser = argparse.ArgumentParser(description=__doc__.splitlines()[0])
    parser.add_argument("--out", type=Path, default=Path("docs/img"), help="folder for the PNGs")
    args = parser.parse_args(argv)
    args.out.mkdir(parents=True, exist_ok=True)

    base, top, step = 0.001, 0.006, 2000  # CLR paper, CIFAR-10 (Fig. 1)
    clr.plot_schedule({
        "triangular": P.Triangular(base, top, step),
        "triangular2": P.Triangular2(base, top, step),
        "exp_range (gamma 0.99994)": P.ExpRange(base, top, step, 0.99994),
        "decay (baseline)": P.Decay(base, top, step),
        "exp (baseline, gamma 0.99994)": P.Exp(top, 0.99994),
    }, num_iter=4 * 2 * step, path=args.out / "schedules.png",
        title="CLR policies, CIFAR-10 settings of the paper (base 0.001, max 0.006, step size 2,000)")

    total = 10_000
    two = P.OneCycle(0.1, total)
    three = P.OneCycle(0.1, total, pct_start=0.45, anneal_strategy="linear", div_factor=10, three_phase=True)
    clr.plot_schedule(
        {"one-cycle, two-phase cosine (PyTorch/fastai)": two,
         "one-cycle, three-phase linear (Smith)": three,
         "SGDR (T_0 2,000, T_mult 2)": P.SGDR(0.1, 2000, T_mult=2, eta_min=0.001)},
        num_iter=total, path=args.out / "one_cycle.png",
        momentum={"two-phase": two.momentum(0.85, 0.95), "three-phase": three.momentum(0.85, 0.95)},
        title="One-cycle (max_lr 0.1) with cyclical momentum, and SGDR")

    clr.plot_schedule({"3-stage triangular2 (paper, Table 2)": P.paper_cifar10_triangular2()},
                      num_iter=25_000, path=args.out / "paper_cifar10_triangular2.png",
                      title="The paper's CIFAR-10 triangular2 run: three stages, 25,000 iterations")
    for name in ("schedules.png", "one_cycle.png", "paper_cifar10_triangular2.png"):
        print(args.out / name)


if __name__ == "__main__":
    main()
