"""Tests for clr.plots: every plot writes a PNG of the requested size, marks what it should, and
rejects bad input with a clear error."""
import math
import os
import struct

import numpy as np
import pytest

pytest.importorskip("matplotlib")

from clr import plots  # noqa: E402
from clr.range_test import RangeTestResult, multi_range_test, run_range_test  # noqa: E402
from clr.suggest import Bounds  # noqa: E402


def png_size(path):
    """(width, height) from the PNG header's IHDR chunk."""
    with open(path, "rb") as f:
        head = f.read(24)
    assert head[:8] == b"\x89PNG\r\n\x1a\n", "not a PNG file"
    return struct.unpack(">II", head[16:24])


class Quadratic:
    """loss = w^2 / 2 (+ wd); SGD. Accuracy rises with lr up to 1.5, then falls (made up, but smooth)."""

    def __init__(self, weight_decay=0.0):
        self.w, self.weight_decay, self.lr = 1.0, weight_decay, 0.0

    def set_lr(self, lr):
        self.lr = lr

    def set_hyperparam(self, name, value):
        self.weight_decay = value

    def train_step(self, batch):
        loss = 0.5 * self.w ** 2
        self.w -= self.lr * (1 + self.weight_decay) * self.w
        acc = 0.1 + 0.8 * min(self.lr / 1.5, 1.0) - 0.5 * max(self.lr - 2.0, 0.0)
        return loss, round(100 * max(acc, 0.0)), 100

    def snapshot(self):
        return (self.w, self.weight_decay)

    def restore(self, state):
        self.w, self.weight_decay = state


def linear_result(**kw):
    options = dict(start_lr=0.01, end_lr=4.01, num_iter=81, step_mode="linear", smooth_beta=0.5)
    return run_range_test(Quadratic(), [None], **{**options, **kw})


def exp_result():
    return run_range_test(Quadratic(), [None], start_lr=1e-4, end_lr=10.0, num_iter=60, smooth_beta=0.5)


SMALL = dict(figsize=(6, 4), dpi=50)  # 300 x 200 pixels, fast


def _vertical_lines_at(ax, x):
    return [ln for ln in ax.get_lines() if len(ln.get_xdata()) == 2 and np.allclose(ln.get_xdata(), [x, x])]


# ----------------------------------------------------------------------------- each plot saves a PNG

@pytest.mark.parametrize("make", [
    lambda p: plots.plot_schedule({"triangular": lambda it: 0.001 + 0.005 * (1 - abs(it / 50 - 1)),
                                   "fixed": np.full(200, 0.003)}, 200, p, momentum=lambda it: 0.9, **SMALL),
    lambda p: plots.plot_range_test(linear_result(), p, **SMALL),
    lambda p: plots.plot_range_test(exp_result(), p, suggestions=["valley", "steepest", "minimum"], **SMALL),
    lambda p: plots.plot_multi_range_test(multi_range_test(Quadratic(), [0.0, 1.0], [None], start_lr=0.01,
                                                           end_lr=4.01, num_iter=81, step_mode="linear"),
                                          p, show=("loss", "acc"), **SMALL),
    lambda p: plots.plot_training_curves({"clr": {"iterations": [0, 1, 2], "train_loss": [2, 1, 0.5],
                                                  "test_iterations": [0, 2], "test_acc": [0.1, 0.8]},
                                          "fixed": {"iterations": [0, 1, 2], "train_loss": [2, 1.5, 1],
                                                    "lr": [0.1, 0.1, 0.1]}}, p, **SMALL),
], ids=["schedule", "range_test_linear", "range_test_exp", "multi", "training"])
def test_each_plot_writes_a_png_of_the_requested_size(tmp_path, make):
    path = tmp_path / "plot.png"
    fig = make(path)
    assert png_size(path) == (300, 200)
    assert path.stat().st_size > 1000
    assert os.listdir(tmp_path) == ["plot.png"]  # no temp file left behind
    assert fig.axes and fig.axes[0].get_title()  # a titled Figure comes back


def test_plot_without_path_writes_nothing(tmp_path, monkeypatch):
    monkeypatch.chdir(tmp_path)
    fig = plots.plot_schedule(np.linspace(0, 1, 10))
    assert os.listdir(tmp_path) == [] and len(fig.axes) == 1


def test_pdf_by_suffix_and_bad_suffix(tmp_path):
    plots.plot_schedule(np.linspace(0, 1, 10), path=tmp_path / "s.pdf", **SMALL)
    assert (tmp_path / "s.pdf").read_bytes()[:4] == b"%PDF"
    with pytest.raises(ValueError, match=r"\.png.*s\.jpeg"):
        plots.plot_schedule(np.linspace(0, 1, 10), path=tmp_path / "s.jpeg")


def test_saving_into_a_missing_folder_fails_cleanly(tmp_path):
    with pytest.raises(FileNotFoundError, match="does not exist"):
        plots.plot_schedule(np.linspace(0, 1, 10), path=tmp_path / "no" / "s.png")


# ----------------------------------------------------------------------------- schedules

def test_schedule_draws_the_policy_values():
    fig = plots.plot_schedule({"a": lambda it: 0.1 * it, "b": [1.0, 2.0, 3.0]}, 3, momentum={"m": [0.9, 0.8, 0.9]})
    lr_ax, mom_ax = fig.axes
    ys = {ln.get_label(): list(ln.get_ydata()) for ln in lr_ax.get_lines()}
    assert ys == {"a": pytest.approx([0.0, 0.1, 0.2]), "b": [1.0, 2.0, 3.0]}
    assert mom_ax.get_ylabel() == "momentum" and mom_ax.get_xlabel() == "iteration"


@pytest.mark.parametrize("policies, num_iter, match", [
    ({}, 10, "empty"),
    (lambda it: 1.0, None, "num_iter is required"),
    (lambda it: 1.0, 0, "num_iter.*0"),
    ({"nan": lambda it: math.nan if it == 3 else 1.0}, 5, "'nan' is not finite at iteration 3"),
    ({"short": [1.0, 2.0]}, 5, "'short'.*num_iter=5"),
    (42, 5, "callable"),
])
def test_schedule_bad_input(policies, num_iter, match):
    with pytest.raises((ValueError, TypeError), match=match):
        plots.plot_schedule(policies, num_iter)


# ----------------------------------------------------------------------------- range tests

def test_range_test_axes_follow_the_sweep():
    assert plots.plot_range_test(exp_result()).axes[0].get_xscale() == "log"
    assert plots.plot_range_test(linear_result()).axes[0].get_xscale() == "linear"
    assert plots.plot_range_test(linear_result(), log_x=True).axes[0].get_xscale() == "log"


@pytest.mark.parametrize("step_mode, start, end", [("linear", 0.01, 40.01), ("exp", 1e-4, 1e3)])
def test_range_test_zooms_to_the_swept_range_when_the_test_stopped_early(step_mode, start, end):
    result = run_range_test(Quadratic(), [None], start_lr=start, end_lr=end, num_iter=81, step_mode=step_mode,
                            smooth_beta=0.5)
    assert result.diverged and result.diverged_lr < end / 5
    lo, hi = plots.plot_range_test(result, suggestions=None).axes[0].get_xlim()
    assert lo == pytest.approx(start) and result.lrs[-1] < hi < 1.5 * result.lrs[-1]
    done = run_range_test(Quadratic(), [None], start_lr=start, end_lr=1.0, num_iter=41, step_mode=step_mode)
    assert not done.diverged
    assert plots.plot_range_test(done, suggestions=None).axes[0].get_xlim() == pytest.approx((start, 1.0))


def test_range_test_marks_suggestions_and_the_stop():
    result = linear_result()
    assert result.diverged
    bounds = Bounds(0.2, 1.1, "mine")
    fig = plots.plot_range_test(result, suggestions=[bounds, "accuracy"])
    loss_ax, acc_ax = fig.axes
    for ax in (loss_ax, acc_ax):
        assert _vertical_lines_at(ax, 0.2) and _vertical_lines_at(ax, 1.1)
        assert _vertical_lines_at(ax, result.diverged_lr)
    labels = [t.get_text() for t in loss_ax.get_legend().get_texts()]
    assert "mine: base 0.2, max 1.1" in labels
    assert any(t.startswith("accuracy: base") for t in labels)
    assert any("stopped (diverged) at lr" in t for t in labels)


def test_range_test_auto_suggestion_failure_is_noted_not_raised():
    flat = run_range_test(lambda b, lr: (1.0, 0.5), [None], start_lr=0.1, end_lr=1.0, num_iter=20,
                          step_mode="linear", restore=False)
    fig = plots.plot_range_test(flat)
    assert any("no suggestion" in t.get_text() for t in fig.axes[0].texts)
    with pytest.raises(ValueError, match="rises by only"):
        plots.plot_range_test(flat, suggestions="accuracy")  # asked for explicitly: raise


def test_loss_axis_is_not_squashed_by_a_raw_spike():
    losses = np.r_[np.linspace(2, 1, 30), 1e6]
    result = RangeTestResult(lrs=np.linspace(0.1, 3.1, 31), losses=losses, smoothed_losses=np.r_[losses[:-1], 5.0],
                             settings={"step_mode": "linear", "num_iter": 31})
    bottom, top = plots.plot_range_test(result, suggestions=None).axes[0].get_ylim()
    assert 5.0 < top < 5.5 and 0.7 < bottom < 1.0  # 5 % padding of the 1..5 span


@pytest.mark.parametrize("kwargs, match", [
    ({"show": ("acc",)}, "no accuracy"),
    ({"show": ("loss", "grad")}, "show"),
    ({"log_x": "yes"}, "log_x"),
    ({"suggestions": 3}, "suggestions"),
    ({"suggestions": ["lowest"]}, "unknown method 'lowest'"),
])
def test_range_test_bad_input(kwargs, match):
    result = run_range_test(lambda b, lr: 1.0 / (1 + lr), [None], num_iter=30, restore=False)
    with pytest.raises((ValueError, TypeError), match=match):
        plots.plot_range_test(result, **kwargs)


def test_range_test_needs_a_result():
    with pytest.raises(TypeError, match="RangeTestResult"):
        plots.plot_range_test({"lrs": [1, 2]})
    empty = RangeTestResult(lrs=np.zeros(0), losses=np.zeros(0), smoothed_losses=np.zeros(0))
    with pytest.raises(ValueError, match="no recorded steps"):
        plots.plot_range_test(empty)


def test_multi_range_test_labels_each_value():
    results = multi_range_test(Quadratic(), [0.0, 3.0], [None], start_lr=0.01, end_lr=4.01, num_iter=81,
                               step_mode="linear")
    fig = plots.plot_multi_range_test(results)
    labels = [t.get_text() for t in fig.axes[0].get_legend().get_texts()]
    assert labels == ["weight_decay = 0", "weight_decay = 3"]
    with pytest.raises(ValueError, match="non-empty dict"):
        plots.plot_multi_range_test({})
    with pytest.raises(TypeError, match=r"results\['a'\]"):
        plots.plot_multi_range_test({"a": 1})


# ----------------------------------------------------------------------------- training curves

def test_training_curves_panels_and_styles():
    runs = {"clr": {"iterations": [0, 1, 2], "train_loss": [2, 1, 0.5], "train_acc": [0.1, 0.5, 0.7],
                    "test_iterations": [0, 2], "test_acc": [0.1, 0.8]}}
    acc_ax, loss_ax = plots.plot_training_curves(runs).axes
    widths = {ln.get_label(): ln.get_linewidth() for ln in acc_ax.get_lines()}
    assert widths["clr (train)"] < widths["clr (test)"]
    assert list(acc_ax.get_lines()[1].get_xdata()) == [0, 2]
    assert loss_ax.get_ylabel() == "loss"


@pytest.mark.parametrize("runs, match", [
    ({}, "non-empty dict"),
    ({"a": [1, 2]}, r"runs\['a'\] must be a dict"),
    ({"a": {"iterations": [0, 1]}}, "no metric"),
    ({"a": {"train_loss": [1, 2]}}, "no 'iterations'"),
    ({"a": {"iterations": [0, 1, 2], "test_acc": [0.1, 0.2]}}, r"'test_acc'.*\(2,\).*\(3,\)"),
])
def test_training_curves_bad_input(runs, match):
    with pytest.raises((ValueError, TypeError), match=match):
        plots.plot_training_curves(runs)
