"""The two SGD momentum forms side by side for 4 steps with a changing lr (table for docs/momentum.md).

One parameter p, starting at 1.0, with a constant gradient g = 1 (the loss f(p) = p), momentum 0.9,
and a rising lr 0.1, 0.2, 0.3, 0.4 as in the first steps of a CLR cycle. A constant gradient makes the
velocities easy to check by hand. Run:

    python experiments/momentum_forms_example.py
"""
import numpy as np

from clr.param_groups import set_hyperparams
from tinynet import Tensor
from tinynet.optim import SGD

MOMENTUM = 0.9
GRAD = 1.0


def run(form, lrs):
    """Parameter and velocity after each step of SGD(form=form) with lr set to lrs[t] before step t."""
    p = Tensor([1.0], dtype=np.float64, requires_grad=True)
    opt = SGD([p], lr=lrs[0], momentum=MOMENTUM, form=form)
    rows = []
    for lr in lrs:
        set_hyperparams(opt.param_groups[0], lr=lr)  # what a scheduler does before each step
        p.grad = np.array([GRAD])
        opt.step()
        rows.append((p.item(), opt.state[0]["momentum_buffer"].item()))
    return rows


def main():
    lrs = [0.1, 0.2, 0.3, 0.4]
    torch_rows, caffe_rows = run("pytorch", lrs), run("caffe", lrs)
    print(f"momentum {MOMENTUM}, gradient {GRAD} at every step, p0 = 1.0\n")
    print("| step | lr  | v (pytorch) | p (pytorch) | v (caffe) | p (caffe) |")
    print("|------|-----|-------------|-------------|-----------|-----------|")
    for t, (lr, (pt, vt), (pc, vc)) in enumerate(zip(lrs, torch_rows, caffe_rows), start=1):
        print(f"| {t}    | {lr:.1f} | {vt:11.4f} | {pt:11.4f} | {vc:9.4f} | {pc:9.4f} |")

    constant = [0.3] * 4
    gap = max(abs(a[0] - b[0]) for a, b in zip(run("pytorch", constant), run("caffe", constant)))
    print(f"\nwith a constant lr of 0.3 the largest difference in p over 4 steps is {gap:.1e} (rounding)")


if __name__ == "__main__":
    main()
