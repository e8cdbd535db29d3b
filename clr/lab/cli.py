"""The ``tinynet-clr`` command (also ``python -m clr.lab``).

    tinynet-clr demo                        # the whole pipeline on MNIST-1D, under a minute on 2 cores
    tinynet-clr demo --quick --out /tmp/d   # a few seconds
    tinynet-clr demo --help                 # every option

Subcommands are listed in ``SUBCOMMANDS``: each has a function that adds its options to a parser
and a function that runs it with the parsed arguments. They import their modules (and so NumPy)
inside those functions, so that ``--help`` answers at once.
"""
from __future__ import annotations

import argparse
import math
import sys
from pathlib import Path

EPILOG = "Outputs and how to read them: docs/demo.md."


def _number(kind, accept, expected: str):
    """An argparse type: ``kind(text)`` (int or float) that ``accept``s, else a message 'expected <expected>'."""
    def parse(text: str):
        try:
            value = kind(text)
        except ValueError:
            raise argparse.ArgumentTypeError(f"expected {expected}, got {text!r}") from None
        if not accept(value):
            raise argparse.ArgumentTypeError(f"expected {expected}, got {text!r}")
        return value
    parse.__name__ = expected  # argparse names the type in some messages
    return parse


_positive_int = _number(int, lambda v: v >= 1, "a positive integer")
_seed = _number(int, lambda v: v >= 0, "a non-negative integer")
# at least 100: a probe, a linear test and a stability check need that many steps
_range_iterations = _number(int, lambda v: v >= 100, "at least 100 (steps for find_bounds)")
_positive_float = _number(float, lambda v: math.isfinite(v) and v > 0, "a positive number")
_fraction = _number(float, lambda v: 0 <= v < 1, "a number in [0, 1)")
_nonnegative_float = _number(float, lambda v: math.isfinite(v) and v >= 0, "a number >= 0")


def _fixed_lr(text: str) -> str:
    from . import demo

    if text in demo.FIXED_CHOICES:
        return text
    _positive_float(text)  # raises with a clear message if it is neither
    return text


def _policies(text: str) -> tuple[str, ...]:
    from . import demo

    names = tuple(p.strip() for p in text.split(",") if p.strip())
    unknown = [p for p in names if p not in demo.POLICIES]
    if unknown or not names:
        raise argparse.ArgumentTypeError(f"unknown policy {', '.join(unknown) or '(none given)'}; "
                                         f"give a comma-separated subset of {','.join(demo.POLICIES)}")
    return names


def add_demo_arguments(parser: argparse.ArgumentParser) -> None:
    from . import demo

    models = sorted({m for _, ms in demo.DATASETS.values() for m in ms})
    defaults = demo.DemoConfig()
    parser.add_argument("--dataset", choices=list(demo.DATASETS), default=defaults.dataset,
                        help="data to train on (default: %(default)s, embedded, no network needed; "
                             "fashion-mnist is read from /usr/share/datasets/fashion-mnist; mnist and "
                             "cifar10 need --download once)")
    parser.add_argument("--model", choices=models, default=None,
                        help="network: cnn (MNIST-1D's 1-D CNN, 5,210 parameters), mlp (residual MLP, 100 hidden "
                             "units), logistic, cifar10_full (Caffe's CIFAR-10 net of the CLR paper). Default: "
                             + ", ".join(f"{d} -> {m}" for d, (m, _) in demo.DATASETS.items()))
    parser.add_argument("--iterations", type=_positive_int, default=None,
                        help="training iterations per policy, rounded down to whole CLR cycles "
                             f"(default: --cycles x 2 x step size, {defaults.cycles} x 2 x {defaults.step_epochs:g} "
                             "epochs)")
    parser.add_argument("--cycles", type=_positive_int, default=defaults.cycles,
                        help="CLR cycles in the default budget (default: %(default)s; the paper: 3 or more)")
    parser.add_argument("--step-epochs", type=_positive_float, default=defaults.step_epochs,
                        help="CLR step size (half a cycle) in epochs (default: %(default)s; the paper: 2-10)")
    parser.add_argument("--range-iterations", type=_range_iterations, default=None,
                        help="training steps clr.find_bounds may take for its probe, linear test and stability "
                             "check (at least 100; default: a quarter of one policy's training budget)")
    parser.add_argument("--range-end", type=_positive_float, default=None,
                        help="top lr of find_bounds' exponential probe (default: 10)")
    parser.add_argument("--fixed-lr", type=_fixed_lr, default=defaults.fixed_lr,
                        help="lr of the fixed policy: base, mid (the midpoint of the bounds, the mean lr of a "
                             "triangular cycle), max, or a number (default: %(default)s)")
    parser.add_argument("--policies", type=_policies, default=demo.POLICIES,
                        help="comma-separated subset of " + ",".join(demo.POLICIES) + " (default: all); "
                             "without fixed there is no target accuracy to compare against")
    parser.add_argument("--batch-size", type=_positive_int, default=defaults.batch_size,
                        help="mini-batch size (default: %(default)s)")
    parser.add_argument("--momentum", type=_fraction, default=defaults.momentum,
                        help="SGD momentum of every policy but one_cycle, which cycles 0.95-0.85 "
                             "(default: %(default)s)")
    parser.add_argument("--weight-decay", type=_nonnegative_float, default=defaults.weight_decay,
                        help="L2 weight decay (default: %(default)s)")
    parser.add_argument("--device", choices=["cpu", "cuda"], default=defaults.device,
                        help="cpu (NumPy) or cuda (CuPy; needs a GPU) (default: %(default)s)")
    parser.add_argument("--seed", type=_seed, default=defaults.seed,
                        help="seed of the initial weights, the data order and the held-out split "
                             "(default: %(default)s)")
    parser.add_argument("--threads", type=_positive_int, default=None,
                        help="CPU cores to use (default: $TINYNET_THREADS, else all): the range test runs on "
                             "them, then the policies train side by side, one process per core, with the "
                             "same results as one after another; 1 trains them one after another")
    parser.add_argument("--out", type=Path, default=defaults.out,
                        help="folder for the outputs, created if needed (default: ./%(default)s)")
    parser.add_argument("--quick", action="store_true",
                        help="a tiny budget on a data subset, a few seconds: checks that everything runs, "
                             "says nothing about the policies")
    parser.add_argument("--download", action="store_true",
                        help="allow downloading mnist or cifar10 from their official sources (checksummed)")
    parser.add_argument("--no-plots", dest="plots", action="store_false",
                        help="do not draw the PNG plots")


def run_demo_command(args: argparse.Namespace) -> int:
    from . import demo

    cfg = demo.DemoConfig(
        dataset=args.dataset, model=args.model, iterations=args.iterations, cycles=args.cycles,
        step_epochs=args.step_epochs, range_iterations=args.range_iterations, range_end=args.range_end,
        fixed_lr=args.fixed_lr, policies=args.policies, batch_size=args.batch_size, momentum=args.momentum,
        weight_decay=args.weight_decay, device=args.device, seed=args.seed, threads=args.threads, out=args.out,
        quick=args.quick, download=args.download, plots=args.plots)
    if args.threads is None:
        from tinynet import threads

        try:  # a bad $TINYNET_THREADS: one line naming it, before any work
            threads.default_threads()
        except ValueError as e:
            raise demo.DemoError(str(e)) from None
    demo.run_demo(cfg)
    return 0


SUBCOMMANDS = {
    "demo": ("range test -> CLR bounds -> fixed, triangular, triangular2, exp_range and one-cycle "
             "training compared, on data that needs no network", add_demo_arguments, run_demo_command),
}


def build_parser() -> argparse.ArgumentParser:
    parser = argparse.ArgumentParser(
        prog="tinynet-clr",
        description="Cyclical learning rates (Smith 2017) with tinynet, a from-scratch NumPy autograd.",
        epilog=EPILOG)
    sub = parser.add_subparsers(dest="command", metavar="COMMAND", required=True)
    for name, (help_text, add_arguments, _) in SUBCOMMANDS.items():
        p = sub.add_parser(name, help=help_text, description=help_text[0].upper() + help_text[1:] + ".",
                           epilog=EPILOG)
        add_arguments(p)
    return parser


def main(argv: list[str] | None = None) -> int:
    from .demo import DemoError

    parser = build_parser()
    args = parser.parse_args(argv)
    _, _, run = SUBCOMMANDS[args.command]
    try:
        return run(args)
    except DemoError as e:
        # a problem the user can fix (options that do not fit together, missing data, no bounds
        # found): its message, without a traceback. Anything else is a bug and keeps its traceback.
        parser.exit(2, f"tinynet-clr {args.command}: error: {e}\n")
    except KeyboardInterrupt:
        parser.exit(130, "interrupted\n")


if __name__ == "__main__":
    sys.exit(main())
