"""Tests for clr.range_test (the LR range test) and clr.suggest (reading bounds off it).

The core is tested with pure-NumPy trainers whose every number can be computed by hand:
a quadratic loss h/2 w^2 trained by SGD (w <- (1 - lr h) w, unstable for lr > 2/h) and a logistic
regression with momentum. tinynet and torch integration tests run when those packages are present.
"""
import json
import math
import os
import warnings

import numpy as np
import pytest

from clr import range_test as rt
from clr import suggest as sg
from clr.range_test import (FunctionTrainer, RangeTestResult, lr_schedule, multi_range_test, run_range_test,
                            smooth)


# ----------------------------------------------------------------------------- fake trainers

class Quadratic:
    """loss = h/2 * w^2 with weight decay wd: w <- w - lr (h + wd) w, unstable for lr > 2 / (h + wd)."""

    def __init__(self, h=1.0, w0=1.0, weight_decay=0.0):
        self.h, self.w, self.weight_decay, self.lr = h, np.array([w0]), weight_decay, None
        self.steps = 0

    def set_lr(self, lr):
        self.lr = lr

    def set_hyperparam(self, name, value):
        if name != "weight_decay":
            raise ValueError(f"no {name}")
        self.weight_decay = value

    def train_step(self, batch):
        with np.errstate(over="ignore", invalid="ignore"):  # overflowing to inf/nan is the point
            loss = float(0.5 * self.h * self.w[0] ** 2)
            self.w = self.w - self.lr * (self.h + self.weight_decay) * self.w
        self.steps += 1
        return loss, None, 1

    def snapshot(self):
        return {"w": self.w.copy(), "weight_decay": self.weight_decay}

    def restore(self, state):
        self.w, self.weight_decay = state["w"].copy(), state["weight_decay"]


class LogReg:
    """Logistic regression with heavy-ball momentum on synthetic data; reports batch accuracy."""

    def __init__(self, d=5):
        self.w, self.v, self.lr = np.zeros(d), np.zeros(d), None
        self.evaluations = 0

    def set_lr(self, lr):
        self.lr = lr

    def _loss(self, x, t):
        z = x @ self.w
        return float(np.mean(np.logaddexp(0, z) - t * z)), int(np.sum((z > 0) == t)), z

    def train_step(self, batch):
        x, t = batch
        loss, correct, z = self._loss(x, t)
        grad = x.T @ (0.5 + 0.5 * np.tanh(z / 2) - t) / len(t)  # sigmoid without overflow
        self.v = 0.9 * self.v + grad
        self.w = self.w - self.lr * self.v
        return loss, correct, len(t)

    def evaluate(self, batches):
        self.evaluations += 1
        results = [self._loss(x, t) for x, t in batches]
        n = sum(len(t) for _, t in batches)
        return float(np.mean([r[0] for r in results])), sum(r[1] for r in results) / n

    def snapshot(self):
        return (self.w.copy(), self.v.copy())

    def restore(self, state):
        self.w, self.v = state[0].copy(), state[1].copy()


def make_batches(n=400, d=5, batch=40, seed=0):
    rng = np.random.default_rng(seed)
    x = rng.normal(size=(n, d))
    t = (x @ rng.normal(size=d) + 0.3 * rng.normal(size=n) > 0).astype(np.int64)
    return [(x[i:i + batch], t[i:i + batch]) for i in range(0, n, batch)]


BATCHES = make_batches()


# ----------------------------------------------------------------------------- schedule and smoothing

@pytest.mark.parametrize("start, end, n, mode, expected", [
    (0.0, 1.0, 5, "linear", [0.0, 0.25, 0.5, 0.75, 1.0]),
    (0.1, 0.3, 3, "linear", [0.1, 0.2, 0.3]),
    (1e-3, 1e-1, 3, "exp", [1e-3, 1e-2, 1e-1]),
    (1.0, 16.0, 5, "exp", [1.0, 2.0, 4.0, 8.0, 16.0]),
])
def test_lr_schedule_hand_values(start, end, n, mode, expected):
    lrs = lr_schedule(start, end, n, mode)
    np.testing.assert_allclose(lrs, expected, rtol=1e-12, atol=0)
    assert lrs[0] == start and lrs[-1] == end  # the ends are exact


def test_smooth_is_bias_corrected_ema():
    # avg = 0.5, 1.25, 2.125; divided by 1 - 0.5^k = 0.5, 0.75, 0.875
    np.testing.assert_allclose(smooth([1.0, 2.0, 3.0], beta=0.5), [1.0, 5 / 3, 17 / 7], rtol=1e-12)
    np.testing.assert_allclose(smooth([3.0] * 20, beta=0.98), 3.0, rtol=1e-12)  # no warm-up bias
    np.testing.assert_array_equal(smooth([4.0, 1.0, 7.0], beta=0.0), [4.0, 1.0, 7.0])


# ----------------------------------------------------------------------------- what is recorded

def test_records_the_loss_before_each_update():
    h, lrs = 2.0, lr_schedule(0.1, 0.5, 5, "linear")
    expected, w = [], 1.0
    for lr in lrs:
        expected.append(0.5 * h * w * w)
        w *= 1 - lr * h
    result = run_range_test(Quadratic(h=h), [None], start_lr=0.1, end_lr=0.5, num_iter=5, step_mode="linear",
                            smooth_beta=0.5, diverge_th=None)
    np.testing.assert_allclose(result.losses, expected, rtol=1e-12)
    np.testing.assert_allclose(result.smoothed_losses, smooth(expected, 0.5), rtol=1e-12)
    np.testing.assert_array_equal(result.lrs, lrs)
    assert result.train_acc is None and result.stop_reason == "completed" and result.diverged_at is None


def test_diverges_past_the_stability_limit():
    # w is multiplied by |1 - lr| per step: the loss grows once lr > 2 (= 2/h); the grid 0.05, 0.15, ...
    # misses lr = 1, which would zero w
    result = run_range_test(Quadratic(h=1.0), [None], start_lr=0.05, end_lr=4.05, num_iter=41, step_mode="linear",
                            smooth_beta=0.0, diverge_th=4.0)
    i = result.diverged_at
    assert result.stop_reason == "diverged" and result.diverged
    assert len(result) == i + 1  # the step that stopped the test is recorded
    assert result.diverged_lr == result.lrs[i] > 2.0
    best = result.smoothed_losses[:i + 1].min()
    assert result.smoothed_losses[i] > 4 * best >= result.smoothed_losses[i - 1]


def test_stops_on_non_finite_loss_and_keeps_the_record():
    losses = [1.0, 0.9, 0.8, float("nan"), 0.5]
    seen = []
    trainer = FunctionTrainer(lambda batch, lr: (seen.append(lr), losses[len(seen) - 1])[1])
    result = run_range_test(trainer, [None], num_iter=5, diverge_th=None, restore=False)
    assert result.stop_reason == "non-finite loss" and result.diverged_at == 3 and len(seen) == 4
    np.testing.assert_array_equal(result.losses[:3], losses[:3])
    assert math.isnan(result.losses[3])


def test_overflow_to_inf_stops_the_test():
    result = run_range_test(Quadratic(), [None], start_lr=1e-3, end_lr=1e30, num_iter=80, diverge_th=None)
    assert result.stop_reason == "non-finite loss"
    assert not math.isfinite(result.losses[-1]) and np.isfinite(result.losses[:-1]).all()


def test_train_accuracy_is_n_correct_over_n():
    outs = iter([(1.0, 3, 4), (0.9, 1, 4), (0.8, None, 4)])
    trainer = FunctionTrainer(lambda b, lr: None)
    trainer.train_step = lambda batch: next(outs)
    result = run_range_test(trainer, [None], num_iter=3, restore=False)
    np.testing.assert_array_equal(result.train_acc[:2], [0.75, 0.25])
    assert math.isnan(result.train_acc[2])


def test_step_function_may_return_loss_and_accuracy():
    result = run_range_test(lambda batch, lr: (lr, 0.5), [None], num_iter=4, start_lr=1e-3, end_lr=1e-1,
                            diverge_th=None, restore=False)
    np.testing.assert_allclose(result.losses, result.lrs)  # the step function saw the scheduled lr
    np.testing.assert_array_equal(result.train_acc, 0.5)


def test_validation_every_k_steps():
    trainer = LogReg()
    result = run_range_test(trainer, BATCHES, start_lr=1e-3, end_lr=1.0, num_iter=10, val_loader=BATCHES[:2],
                            val_every=3)
    np.testing.assert_array_equal(result.val_iterations, [2, 5, 8])
    np.testing.assert_array_equal(result.val_lrs, result.lrs[[2, 5, 8]])
    assert trainer.evaluations == 3 and result.val_acc.shape == (3,) and result.val_losses.shape == (3,)
    assert result.settings["val_every"] == 3


# ----------------------------------------------------------------------------- the loader

def test_cycles_through_the_loader():
    seen = []
    run_range_test(lambda batch, lr: seen.append(batch) or 1.0, [0, 1, 2], num_iter=7, restore=False)
    assert seen == [0, 1, 2, 0, 1, 2, 0]


@pytest.mark.parametrize("loader, match", [
    ([], "loader is empty"),
    (iter([1, 2]), "one-shot iterator"),
])
def test_loader_that_cannot_supply_batches(loader, match):
    with pytest.raises(ValueError, match=match):
        run_range_test(lambda batch, lr: 1.0, loader, num_iter=5, restore=False)


def test_loader_must_be_iterable():
    with pytest.raises(TypeError, match="loader must be an iterable"):
        run_range_test(lambda batch, lr: 1.0, 42, num_iter=5, restore=False)


# ----------------------------------------------------------------------------- bad input

@pytest.mark.parametrize("kwargs, match", [
    ({"num_iter": 1}, "num_iter.*1"),
    ({"num_iter": 2.5}, "num_iter.*2.5"),
    ({"num_iter": True}, "num_iter"),
    ({"start_lr": 1.0, "end_lr": 1.0}, "start_lr.*end_lr"),
    ({"start_lr": 2.0, "end_lr": 1.0}, "start_lr"),
    ({"start_lr": 0.0, "step_mode": "exp"}, "start_lr.*exp.*0.0"),
    ({"start_lr": -1.0, "step_mode": "linear"}, "start_lr.*-1.0"),
    ({"end_lr": math.inf}, "end_lr.*inf"),
    ({"start_lr": math.nan}, "start_lr.*nan"),
    ({"start_lr": "1e-3"}, "start_lr"),
    ({"step_mode": "cos"}, "step_mode.*'cos'"),
    ({"smooth_beta": 1.0}, "smooth_beta.*1.0"),
    ({"smooth_beta": -0.1}, "smooth_beta"),
    ({"diverge_th": 1.0}, "diverge_th.*1.0"),
    ({"diverge_th": math.nan}, "diverge_th"),
    ({"val_every": 2}, "val_every.*val_loader"),
    ({"val_loader": BATCHES[:1], "val_every": 0}, "val_every.*0"),
])
def test_bad_arguments_name_themselves(kwargs, match):
    with pytest.raises(ValueError, match=match):
        run_range_test(LogReg(), BATCHES, **kwargs)


def test_plain_step_function_cannot_be_restored():
    with pytest.raises(TypeError, match="restore=False"):
        run_range_test(lambda batch, lr: 1.0, [None], num_iter=3)


def test_not_a_trainer():
    with pytest.raises(TypeError, match="set_lr"):
        run_range_test(object(), [None])


def test_trainer_returning_the_wrong_shape():
    trainer = FunctionTrainer(lambda b, lr: 1.0)
    trainer.train_step = lambda batch: 1.0
    with pytest.raises(TypeError, match=r"\(loss, n_correct or None, n\)"):
        run_range_test(trainer, [None], restore=False)


def test_val_loader_needs_evaluate():
    with pytest.raises(TypeError, match="evaluate"):
        run_range_test(lambda b, lr: 1.0, [None], val_loader=[None], restore=False)


# ----------------------------------------------------------------------------- restoring the state

class Exploding(LogReg):
    """Raises on its ``fail_at``-th step, after taking the steps before it."""

    def __init__(self, fail_at):
        super().__init__()
        self.fail_at, self.calls, self.w_seen = fail_at, 0, None

    def train_step(self, batch):
        self.calls += 1
        if self.calls == self.fail_at:
            self.w_seen = self.w.copy()
            raise RuntimeError("boom")
        return super().train_step(batch)


def _state(trainer):
    return trainer.w.copy(), trainer.v.copy()


def _warm(trainer):
    """Give the trainer non-trivial weights and momentum first."""
    trainer.set_lr(0.1)
    for b in BATCHES[:3]:
        trainer.train_step(b)
    return trainer


@pytest.mark.parametrize("end_lr, reason", [(1.0, "completed"), (1e6, "diverged")])
def test_weights_are_bit_identical_after_the_test(end_lr, reason):
    trainer = _warm(LogReg())
    w, v = _state(trainer)
    result = run_range_test(trainer, BATCHES, start_lr=1e-3, end_lr=end_lr, num_iter=60)
    assert result.stop_reason == reason
    np.testing.assert_array_equal(trainer.w, w)
    np.testing.assert_array_equal(trainer.v, v)


def test_weights_are_restored_after_an_exception():
    trainer = _warm(Exploding(fail_at=10))
    trainer.calls = 0
    w, v = _state(trainer)
    with pytest.raises(RuntimeError, match="boom"):
        run_range_test(trainer, BATCHES, start_lr=1e-2, end_lr=1.0, num_iter=20)
    assert not np.array_equal(trainer.w_seen, w)  # the test had really moved the weights
    np.testing.assert_array_equal(trainer.w, w)
    np.testing.assert_array_equal(trainer.v, v)


def test_weights_are_restored_after_nan():
    trainer = Quadratic(w0=0.7)
    result = run_range_test(trainer, [None], start_lr=1e-3, end_lr=1e30, num_iter=80, diverge_th=None)
    assert result.stop_reason == "non-finite loss" and trainer.steps == len(result)
    np.testing.assert_array_equal(trainer.w, [0.7])


def test_restore_false_keeps_the_trained_weights():
    trainer = LogReg()
    run_range_test(trainer, BATCHES, start_lr=1e-2, end_lr=1.0, num_iter=10, restore=False)
    assert not np.array_equal(trainer.w, np.zeros(5))


def test_function_trainer_with_snapshot_and_restore():
    state = {"w": 1.0}

    def step(batch, lr):
        loss = state["w"] ** 2
        state["w"] -= lr * 2 * state["w"]
        return loss

    trainer = FunctionTrainer(step, snapshot=lambda: dict(state), restore=lambda s: state.update(s))
    result = run_range_test(trainer, [None], start_lr=0.01, end_lr=0.4, num_iter=10, step_mode="linear")
    assert state == {"w": 1.0} and result.losses[1] < result.losses[0]
    with pytest.raises(TypeError, match="both snapshot and restore"):
        FunctionTrainer(step, snapshot=lambda: None)


# ----------------------------------------------------------------------------- saving results

def _sample_result():
    return RangeTestResult(
        lrs=np.array([0.1, 0.2, 0.3]), losses=np.array([1.0, 0.5, np.nan]),
        smoothed_losses=np.array([1.0, 0.75, np.inf]), train_acc=np.array([0.25, 0.5, np.nan]),
        val_iterations=np.array([1]), val_lrs=np.array([0.2]), val_losses=np.array([0.6]), val_acc=np.array([0.4]),
        stop_reason="non-finite loss", diverged_at=2,
        settings={"start_lr": 0.1, "end_lr": 0.3, "num_iter": 3, "step_mode": "linear"})


def _assert_same(a: RangeTestResult, b: RangeTestResult):
    for name in rt._ARRAYS + ("val_iterations",):
        x, y = getattr(a, name), getattr(b, name)
        if x is None:
            assert y is None, name
        else:
            np.testing.assert_array_equal(x, y, err_msg=name)
    assert (a.stop_reason, a.diverged_at, a.settings) == (b.stop_reason, b.diverged_at, b.settings)


def test_json_round_trip_keeps_nan_and_inf(tmp_path):
    path = tmp_path / "rt.json"
    result = _sample_result()
    result.to_json(path)
    text = path.read_text()
    json.loads(text)  # strict JSON (no bare NaN)
    assert "NaN" not in text and '"nan"' in text and '"inf"' in text
    _assert_same(RangeTestResult.from_json(path), result)
    assert os.listdir(tmp_path) == ["rt.json"]  # no temp file left behind


def test_json_round_trip_of_a_real_run(tmp_path):
    result = run_range_test(LogReg(), BATCHES, start_lr=1e-3, end_lr=10.0, num_iter=30)
    result.to_json(tmp_path / "r.json")
    _assert_same(RangeTestResult.from_json(tmp_path / "r.json"), result)
    no_acc = run_range_test(Quadratic(), [None], num_iter=5)
    no_acc.to_json(tmp_path / "q.json")
    _assert_same(RangeTestResult.from_json(tmp_path / "q.json"), no_acc)


def test_saved_files_get_the_usual_permissions(tmp_path):
    (tmp_path / "reference").write_text("x")  # what open() gives under the current umask
    _sample_result().to_csv(tmp_path / "rt.csv")
    assert (tmp_path / "rt.csv").stat().st_mode == (tmp_path / "reference").stat().st_mode


def test_from_json_rejects_other_files(tmp_path):
    (tmp_path / "x.json").write_text('{"lrs": [1, 2]}')
    with pytest.raises(ValueError, match="x.json.*not a saved RangeTestResult"):
        RangeTestResult.from_json(tmp_path / "x.json")


def _damage(d, key, value):
    return {**d, key: value}


@pytest.mark.parametrize("damage, match", [
    (lambda text, d: text[: len(text) // 2], "not a readable RangeTestResult JSON"),
    (lambda text, d: b"\xff\xfe" + text.encode(), "not a readable"),
    (lambda text, d: json.dumps(_damage(d, "losses", [1.0, "x", 2.0])), r"losses\[1\] must be a number"),
    (lambda text, d: json.dumps(_damage(d, "lrs", "0.1")), "'lrs' must be a list"),
    (lambda text, d: json.dumps(_damage(d, "smoothed_losses", [1.0])), "'smoothed_losses' has 1 values; expected 3"),
    (lambda text, d: json.dumps(_damage(d, "val_iterations", [7])), "'val_iterations' must be"),
    (lambda text, d: json.dumps(_damage(d, "stop_reason", "bored")), "'stop_reason' must be"),
    (lambda text, d: json.dumps(_damage(d, "diverged_at", 99)), "'diverged_at' must be"),
    (lambda text, d: json.dumps({k: v for k, v in d.items() if k != "losses"}), "'losses' is missing"),
])
def test_from_json_on_a_damaged_file_raises_a_value_error_naming_it(tmp_path, damage, match):
    path = tmp_path / "rt.json"
    _sample_result().to_json(path)
    text = path.read_text()
    damaged = damage(text, json.loads(text))
    (path.write_bytes if isinstance(damaged, bytes) else path.write_text)(damaged)
    with pytest.raises(ValueError, match=match) as info:
        RangeTestResult.from_json(path)
    assert "rt.json" in str(info.value)


def test_csv_rows(tmp_path):
    _sample_result().to_csv(tmp_path / "rt.csv")
    lines = (tmp_path / "rt.csv").read_text().splitlines()
    assert lines == ["iteration,lr,loss,smoothed_loss,train_acc,val_loss,val_acc",
                     "0,0.1,1.0,1.0,0.25,,",
                     "1,0.2,0.5,0.75,0.5,0.6,0.4",
                     "2,0.3,nan,inf,nan,,"]


def test_writing_into_a_missing_folder_fails_cleanly(tmp_path):
    with pytest.raises(FileNotFoundError, match="does not exist"):
        _sample_result().to_json(tmp_path / "nope" / "rt.json")


def test_repr_mentions_the_stop():
    text = repr(run_range_test(Quadratic(), [None], start_lr=0.05, end_lr=4.05, num_iter=41, step_mode="linear",
                               smooth_beta=0.0))
    assert "diverged at lr" in text and "of 41 steps" in text


# ----------------------------------------------------------------------------- the accuracy rule
# (the loss rules, trimming and Bounds are tested in test_clr_suggest.py)

def _piecewise_accuracy(lrs, dip=False):
    """0.1 up to lr 0.2, +2.5 per unit lr to 0.9 at lr 0.52, flat to 0.8, down to 0.1 at lr 1."""
    acc = np.interp(lrs, [0, 0.2, 0.52, 0.8, 1.0], [0.1, 0.1, 0.9, 0.9, 0.1])
    if dip:
        acc[41:44] -= 0.2  # a ragged patch just after lr 0.4
    return acc


def test_accuracy_rule_on_a_hand_made_curve():
    lrs = np.linspace(0, 1, 101)
    b = sg.suggest_accuracy(lrs, _piecewise_accuracy(lrs), window=1)
    # rise R = 0.8 from 0.1: 10 % -> 0.18 at lr 0.232 (first grid lr 0.24); 90 % -> 0.82 at 0.488 (0.49)
    assert (b.base_lr, b.max_lr) == pytest.approx((0.24, 0.49))
    assert b.details["stop"] == "slows"


def test_accuracy_rule_stops_before_a_dip():
    lrs = np.linspace(0, 1, 101)
    b = sg.suggest_accuracy(lrs, _piecewise_accuracy(lrs, dip=True), window=1)
    assert b.max_lr == pytest.approx(0.40) and b.details["stop"] == "falls"


def test_accuracy_rule_with_noise_and_default_smoothing():
    lrs = np.linspace(0, 1, 201)
    noisy = _piecewise_accuracy(lrs) + np.random.default_rng(1).normal(0, 0.03, lrs.size)
    b = sg.suggest_accuracy(lrs, np.clip(noisy, 0, 1))
    assert abs(b.base_lr - 0.24) < 0.03 and abs(b.max_lr - 0.49) < 0.04


def test_accuracy_rule_ignores_an_early_bump_that_falls_back():
    # a chance-level bump to 0.2 around lr 0.05 (above the 10 % level, 0.18) that falls back to 0.1
    # is not where accuracy "starts to increase": base stays at the sustained rise (0.24)
    lrs = np.linspace(0, 1, 101)
    acc = _piecewise_accuracy(lrs)
    acc[4:7] = 0.2
    b = sg.suggest_accuracy(lrs, acc, window=1)
    assert (b.base_lr, b.max_lr) == pytest.approx((0.24, 0.49))


def test_accuracy_rule_base_ratio():
    lrs = np.linspace(0, 1, 101)
    b = sg.suggest_accuracy(lrs, _piecewise_accuracy(lrs), window=1, base_ratio=3)
    assert b.base_lr == pytest.approx(0.49 / 3)


@pytest.mark.parametrize("acc, match", [
    (np.full(50, 0.5), "rises by only"),
    (np.linspace(10, 90, 50), "fraction.*percent"),
])
def test_accuracy_rule_rejects(acc, match):
    with pytest.raises(ValueError, match=match):
        sg.suggest_accuracy(np.linspace(0.01, 1, 50), acc)


def test_moving_average_shrinks_symmetrically_at_the_ends():
    np.testing.assert_allclose(sg.moving_average([0, 3, 6, 9, 12], 5), [0, 3, 6, 9, 12])  # exact on a line
    np.testing.assert_allclose(sg.moving_average([1, 0, 0, 0, 1], 3), [1, 1 / 3, 0, 1 / 3, 1])
    with pytest.raises(ValueError, match="window.*4"):
        sg.moving_average([1, 2, 3], 4)


def test_bounds_feed_cyclic_lr():
    schedulers = pytest.importorskip("clr.schedulers")
    opt = _Opt(momentum=0.9)
    bounds = run_range_test(Quadratic(), [None], start_lr=1e-3, end_lr=10.0, num_iter=60).suggest()
    sched = schedulers.CyclicLR(opt, *bounds, step_size_up=10)
    assert opt.param_groups[0]["lr"] == pytest.approx(bounds.base_lr)
    for _ in range(10):
        sched.step()
    assert opt.param_groups[0]["lr"] == pytest.approx(bounds.max_lr)


def _scripted(train_acc_of_lr, val_acc_of_lr=None):
    """A trainer whose accuracy is a known function of the lr it last trained at."""
    state = {"lr": 0.0}

    def step(batch, lr):
        state["lr"] = lr
        return 2.0 - train_acc_of_lr(lr), train_acc_of_lr(lr)

    def evaluate(batches):
        return 1.0, val_acc_of_lr(state["lr"])

    return FunctionTrainer(step, evaluate=evaluate if val_acc_of_lr else None)


def _one(f):
    return lambda lr: float(f(np.array([lr]))[0])


def test_result_suggest_auto_picks_the_rule_by_sweep():
    # a noise-free quadratic: the loss falls from the first step and diverges past lr 2
    exp = run_range_test(Quadratic(), [None], start_lr=1e-3, end_lr=10.0, num_iter=60)
    auto = exp.suggest()
    assert auto.method == "minimum" and auto.max_lr == auto.details["lr_at_min"] / 10
    assert auto.details["index"] >= 6  # fastai skips num_iter // 10 of the planned steps
    assert exp.suggest("steepest").method == "steepest"
    lin = run_range_test(_scripted(_one(_piecewise_accuracy)), [None], start_lr=0.0, end_lr=1.0, num_iter=101,
                         step_mode="linear", restore=False)
    b = lin.suggest(window=1)
    assert b.method == "accuracy" and (b.base_lr, b.max_lr) == pytest.approx((0.24, 0.49))
    with pytest.raises(ValueError, match="source='val'.*val_loader"):
        lin.suggest(source="val")
    with pytest.raises(ValueError, match="needs an accuracy"):
        run_range_test(Quadratic(), [None], num_iter=20).suggest("accuracy")


def test_result_suggest_reads_validation_accuracy_when_there_is_some():
    val_acc = _one(lambda lr: _piecewise_accuracy(lr * 1.25))  # rises earlier than the training accuracy
    result = run_range_test(_scripted(_one(_piecewise_accuracy), val_acc), [None], start_lr=0.0, end_lr=1.0,
                            num_iter=101, step_mode="linear", val_loader=[None], val_every=2, restore=False)
    auto, train = result.suggest("accuracy"), result.suggest("accuracy", source="train")
    direct = sg.suggest_accuracy(result.val_lrs, result.val_acc)
    assert (auto.base_lr, auto.max_lr) == (direct.base_lr, direct.max_lr)
    assert auto.max_lr < train.max_lr


# ----------------------------------------------------------------------------- several values

def test_multi_range_test_with_a_trainer():
    trainer = Quadratic(h=1.0, weight_decay=0.5)
    results = multi_range_test(trainer, [0.0, 1.0, 3.0], [None], hyperparam="weight_decay", start_lr=0.01,
                               end_lr=4.01, num_iter=81, step_mode="linear", smooth_beta=0.0)
    assert list(results) == [0.0, 1.0, 3.0]
    # unstable for lr > 2 / (1 + wd): 2, 1, 0.5
    for wd, r in results.items():
        assert r.stop_reason == "diverged" and r.diverged_lr > 2 / (1 + wd)
        assert r.settings["hyperparam"] == "weight_decay" and r.settings["hyperparam_value"] == wd
        assert r.settings["restore"] is True
    assert results[0.0].diverged_lr > results[1.0].diverged_lr > results[3.0].diverged_lr
    assert trainer.weight_decay == 0.5 and trainer.w[0] == 1.0  # both put back


def test_multi_range_test_with_a_factory_gives_the_same_curves():
    options = dict(start_lr=0.01, end_lr=4.01, num_iter=81, step_mode="linear", smooth_beta=0.0)
    a = multi_range_test(Quadratic(), [0.0, 1.0], [None], **options)
    b = multi_range_test(lambda wd: Quadratic(weight_decay=wd), [0.0, 1.0], [None], **options)
    for v in (0.0, 1.0):
        np.testing.assert_array_equal(a[v].losses, b[v].losses)


@pytest.mark.parametrize("values, match", [([], "empty"), ([1e-4, 1e-4], "distinct"), ([math.nan], "finite"),
                                           (["a"], "numbers")])
def test_multi_range_test_bad_values(values, match):
    with pytest.raises(ValueError, match=match):
        multi_range_test(Quadratic(), values, [None])


def test_multi_range_test_needs_set_hyperparam():
    with pytest.raises(TypeError, match="set_hyperparam"):
        multi_range_test(LogReg(), [0.1], BATCHES)


class _Opt:
    def __init__(self, **group):
        self.param_groups = [dict(params=[], lr=0.1, **group), dict(params=[], lr=0.2, **group)]


def test_set_group_hyperparam_falls_back_to_betas_for_momentum():
    opt = _Opt(betas=(0.9, 0.999), weight_decay=0.0)
    rt._set_group_hyperparam(opt, "momentum", 0.85)
    assert [g["betas"] for g in opt.param_groups] == [(0.85, 0.999)] * 2
    rt._set_group_hyperparam(opt, "weight_decay", 1e-4)
    assert [g["weight_decay"] for g in opt.param_groups] == [1e-4] * 2
    with pytest.raises(ValueError, match="no 'dampening'.*betas"):
        rt._set_group_hyperparam(opt, "dampening", 0.1)


# ----------------------------------------------------------------------------- picking an adapter

def test_adapter_is_chosen_by_the_model_class_or_by_the_user():
    tn, nn, optim = _tinynet_parts()
    model, opt = _tinynet_model(nn, optim)
    assert rt._framework_of(model) == "tinynet" and rt._framework_of(LogReg()) is None
    assert isinstance(rt.make_trainer(model, opt).fw, rt._Tinynet)
    with pytest.raises(TypeError, match="framework='tinynet' or 'torch'"):
        rt.make_trainer(_CallableModel(), _Opt())
    assert isinstance(rt.make_trainer(_CallableModel(), _Opt(), framework="tinynet").fw, rt._Tinynet)
    with pytest.raises(TypeError, match="lr_range_test"):
        run_range_test(model, [None])
    with pytest.raises(ValueError, match="device='cuda' is for torch"):
        rt.make_trainer(model, opt, device="cuda")


class _CallableModel:
    def __call__(self, x):
        return x

    def parameters(self):
        return iter(())


# ----------------------------------------------------------------------------- tinynet integration

def _tinynet_parts():
    tn = pytest.importorskip("tinynet")
    nn = pytest.importorskip("tinynet.nn")
    optim = pytest.importorskip("tinynet.optim")
    return tn, nn, optim


def _tinynet_model(nn, optim, seed=0):
    rng = np.random.default_rng(seed)
    model = nn.Sequential(nn.Linear(5, 8, rng=rng), nn.ReLU(), nn.Linear(8, 2, rng=rng))
    return model, optim.SGD(model.parameters(), lr=0.1, momentum=0.9)


def test_tinynet_range_test_restores_weights_and_optimizer(device):
    tn, nn, optim = _tinynet_parts()
    model, opt = _tinynet_model(nn, optim)
    model.to(device)
    batches = [(x.astype(np.float32), t) for x, t in BATCHES]
    rt.make_trainer(model, opt).train_step(batches[0])  # fill the momentum buffers
    before = model.state_dict()
    opt_before = opt.state_dict()
    result = rt.lr_range_test(model, opt, batches, start_lr=1e-4, end_lr=1e3, num_iter=40)
    assert result.train_acc is not None and len(result) > 10
    for k, v in model.state_dict().items():
        np.testing.assert_array_equal(v, before[k], err_msg=k)
    assert opt.param_groups[0]["lr"] == 0.1 and opt.param_groups[0]["momentum"] == 0.9
    np.testing.assert_equal(opt.state_dict(), opt_before)


def _tinynet_dropout_setup(nn, optim, data_module, device):
    rng = np.random.default_rng(3)
    model = nn.Sequential(nn.Linear(5, 16, rng=rng), nn.ReLU(), nn.Dropout(0.3, rng=7), nn.Linear(16, 2, rng=rng))
    model.to(device)
    opt = optim.SGD(model.parameters(), lr=0.05, momentum=0.9)
    x = np.concatenate([b[0] for b in BATCHES]).astype(np.float32)
    y = np.concatenate([b[1] for b in BATCHES])
    loader = data_module.DataLoader(data_module.ArrayDataset(x, y), 16, shuffle=True, seed=5)
    return model, opt, loader


def _train_steps(tn, model, opt, loader, n):
    for x, y in loader.take(n):
        loss = tn.functional.cross_entropy(model(tn.Tensor(x, device=model[0].weight.device)), y)
        opt.zero_grad()
        loss.backward()
        opt.step()


def test_training_after_a_range_test_is_bit_identical_to_training_without_one(device):
    """Weights, buffers, optimizer state, .grad, Dropout's generator and the DataLoader's epoch are all
    put back, so the range test leaves no trace on the run that follows it."""
    tn, nn, optim = _tinynet_parts()
    data = pytest.importorskip("tinynet.data")
    runs = []
    for with_test in (False, True):
        model, opt, loader = _tinynet_dropout_setup(nn, optim, data, device)
        _train_steps(tn, model, opt, loader, 3)  # leave .grad, momentum and a used generator behind
        grads = [p.grad.copy() for p in model.parameters()]
        if with_test:
            result = rt.lr_range_test(model, opt, loader, start_lr=1e-3, end_lr=10.0, num_iter=30)
            assert len(result) > 5 and loader.epoch == 1
            for p, g in zip(model.parameters(), grads):
                np.testing.assert_array_equal(tn.backend.to_numpy(p.grad), tn.backend.to_numpy(g))
        _train_steps(tn, model, opt, loader, 5)
        runs.append({k: tn.backend.to_numpy(v) for k, v in model.state_dict().items()})
    for k in runs[0]:
        np.testing.assert_array_equal(runs[0][k], runs[1][k], err_msg=k)


def test_labels_kept_on_the_device_work(device):
    tn, nn, optim = _tinynet_parts()
    model, opt = _tinynet_model(nn, optim)
    model.to(device)
    batches = [(tn.Tensor(x.astype(np.float32), device=device), tn.backend.to_device(t, device)) for x, t in BATCHES]
    result = rt.lr_range_test(model, opt, batches, start_lr=1e-3, end_lr=1.0, num_iter=12,
                              val_loader=batches[:2], val_every=4)
    assert np.all(np.isfinite(result.train_acc)) and np.all(np.isfinite(result.val_acc))
    reference = rt.lr_range_test(*_tinynet_model(nn, optim), [(x.astype(np.float32), t) for x, t in BATCHES],
                                 start_lr=1e-3, end_lr=1.0, num_iter=12)
    np.testing.assert_allclose(result.train_acc, reference.train_acc)


@pytest.mark.parametrize("batches, batch_fn", [
    (lambda bs: [(x, t, "extra") for x, t in bs], None),
    (lambda bs: [[x, t] for x, t in bs], None),
    (lambda bs: [{"features": x, "label": t} for x, t in bs], lambda b: (b["features"], b["label"])),
])
def test_odd_batches_with_batch_fn(batches, batch_fn):
    tn, nn, optim = _tinynet_parts()
    plain = [(x.astype(np.float32), t) for x, t in BATCHES]
    expected = rt.lr_range_test(*_tinynet_model(nn, optim), plain, start_lr=1e-3, end_lr=1.0, num_iter=8)
    got = rt.lr_range_test(*_tinynet_model(nn, optim), batches(plain), batch_fn=batch_fn, start_lr=1e-3,
                           end_lr=1.0, num_iter=8)
    np.testing.assert_array_equal(got.losses, expected.losses)


def test_a_dict_batch_without_batch_fn_says_what_to_do():
    tn, nn, optim = _tinynet_parts()
    with pytest.raises(TypeError, match="batch_fn=lambda batch"):
        rt.lr_range_test(*_tinynet_model(nn, optim), [{"x": 1, "y": 2}], num_iter=4)


def test_tinynet_trainer_step_matches_a_manual_step():
    tn, nn, optim = _tinynet_parts()
    x, t = BATCHES[0]
    x = x.astype(np.float32)
    model, opt = _tinynet_model(nn, optim)
    trainer = rt.make_trainer(model, opt)
    trainer.set_lr(0.05)
    loss, correct, n = trainer.train_step((x, t))
    twin, twin_opt = _tinynet_model(nn, optim)
    out = twin(tn.Tensor(x))
    expected = tn.functional.cross_entropy(out, t)
    assert loss == pytest.approx(expected.item(), rel=1e-6) and n == len(t)
    assert correct == int(np.sum(out.numpy().argmax(1) == t))
    for g in twin_opt.param_groups:
        g["lr"] = 0.05
    twin_opt.zero_grad()
    expected.backward()
    twin_opt.step()
    for (k, a), b in zip(model.state_dict().items(), twin.state_dict().values()):
        np.testing.assert_allclose(a, b, rtol=1e-6, err_msg=k)


def test_tinynet_restores_after_an_exception_and_skips_non_finite_updates():
    tn, nn, optim = _tinynet_parts()
    model, opt = _tinynet_model(nn, optim)
    batches = [(x.astype(np.float32), t) for x, t in BATCHES]
    before = model.state_dict()
    calls = []

    def failing_loss(out, y):
        calls.append(1)
        if len(calls) == 6:
            raise RuntimeError("boom")
        return tn.functional.cross_entropy(out, y)

    with pytest.raises(RuntimeError, match="boom"):
        rt.lr_range_test(model, opt, batches, failing_loss, start_lr=0.1, end_lr=1.0, num_iter=10)
    for k, v in model.state_dict().items():
        np.testing.assert_array_equal(v, before[k], err_msg=k)
    # a NaN loss is reported without stepping, so even restore=False leaves the weights alone
    result = rt.lr_range_test(model, opt, batches, lambda out, y: tn.functional.cross_entropy(out, y) * np.nan,
                              num_iter=10, restore=False)
    assert result.stop_reason == "non-finite loss" and result.diverged_at == 0
    for k, v in model.state_dict().items():
        np.testing.assert_array_equal(v, before[k], err_msg=k)


def test_tinynet_adam_momentum_sweep_with_validation():
    tn, nn, optim = _tinynet_parts()
    model, _ = _tinynet_model(nn, optim)
    opt = optim.Adam(model.parameters(), lr=1e-3, betas=(0.9, 0.999))
    batches = [(x.astype(np.float32), t) for x, t in BATCHES]
    trainer = rt.make_trainer(model, opt)
    results = multi_range_test(trainer, [0.85, 0.95], batches, hyperparam="momentum", start_lr=1e-4,
                               end_lr=1.0, num_iter=12, val_loader=batches[:2], val_every=4)
    assert tuple(opt.param_groups[0]["betas"]) == (0.9, 0.999) and opt.param_groups[0]["lr"] == 1e-3
    for r in results.values():
        np.testing.assert_array_equal(r.val_iterations, [3, 7, 11])
        assert r.val_acc is not None and np.all((0 <= r.val_acc) & (r.val_acc <= 1))
    assert not np.array_equal(results[0.85].losses, results[0.95].losses)
    assert model.training


# ----------------------------------------------------------------------------- torch integration

def _torch_parts(seed=0):
    torch = pytest.importorskip("torch")
    torch.manual_seed(seed)
    model = torch.nn.Sequential(torch.nn.Linear(5, 8), torch.nn.ReLU(), torch.nn.Linear(8, 2))
    return torch, model, torch.optim.SGD(model.parameters(), lr=0.1, momentum=0.9, weight_decay=1e-4)


def _torch_batches(torch):
    return [(torch.tensor(x, dtype=torch.float32), torch.tensor(t)) for x, t in BATCHES]


def test_torch_range_test_restores_weights_and_optimizer():
    torch, model, opt = _torch_parts()
    batches = _torch_batches(torch)
    rt.make_trainer(model, opt).train_step(batches[0])  # fill the momentum buffers
    before = {k: v.clone() for k, v in model.state_dict().items()}
    buffers = [opt.state[p]["momentum_buffer"].clone() for p in model.parameters()]
    result = rt.lr_range_test(model, opt, batches, start_lr=1e-4, end_lr=1e4, num_iter=60)
    assert result.diverged and result.train_acc is not None
    for k, v in model.state_dict().items():
        assert torch.equal(v, before[k]), k
    for p, buf in zip(model.parameters(), buffers):
        assert torch.equal(opt.state[p]["momentum_buffer"], buf)
    assert opt.param_groups[0]["lr"] == 0.1 and model.training


def test_torch_trainer_records_what_torch_computes():
    torch, model, opt = _torch_parts()
    batches = _torch_batches(torch)
    _, twin, twin_opt = _torch_parts()
    result = rt.lr_range_test(model, opt, batches, start_lr=0.01, end_lr=0.1, num_iter=3, step_mode="linear",
                              restore=False)
    for i, lr in enumerate([0.01, 0.055, 0.1]):
        x, t = batches[i]
        for g in twin_opt.param_groups:
            g["lr"] = lr
        out = twin(x)
        loss = torch.nn.functional.cross_entropy(out, t)
        assert result.losses[i] == pytest.approx(loss.item(), rel=1e-6)
        assert result.train_acc[i] == pytest.approx(float((out.argmax(1) == t).float().mean()))
        twin_opt.zero_grad()
        loss.backward()
        twin_opt.step()
    for a, b in zip(model.parameters(), twin.parameters()):
        assert torch.allclose(a, b)


def test_torch_inputs_are_passed_as_they_are_and_batch_fn_reads_dicts():
    torch, model, opt = _torch_parts()
    seen = []
    model.register_forward_pre_hook(lambda module, args: seen.append(args[0]))
    batches = [{"x": x, "y": t} for x, t in _torch_batches(torch)]
    rt.lr_range_test(model, opt, batches, batch_fn=lambda b: (b["x"], b["y"]), num_iter=4)
    assert all(a is b["x"] for a, b in zip(seen, batches))  # no torch.as_tensor copy per step


def test_torch_model_with_a_list_of_inputs():
    torch, model, opt = _torch_parts()

    class TwoInputs(torch.nn.Module):
        def __init__(self):
            super().__init__()
            self.net = model

        def forward(self, parts):
            return self.net(parts[0] + parts[1])

    two = TwoInputs()
    batches = [([x, np.zeros(x.shape, dtype=np.float32)], t) for x, t in _torch_batches(torch)]
    result = rt.lr_range_test(two, opt, batches, start_lr=0.01, end_lr=0.1, num_iter=3, step_mode="linear")
    expected = rt.lr_range_test(model, opt, _torch_batches(torch), start_lr=0.01, end_lr=0.1, num_iter=3,
                                step_mode="linear")
    np.testing.assert_allclose(result.losses, expected.losses, rtol=1e-6)


def test_torch_training_after_a_range_test_is_unchanged():
    """Weights, optimizer, .grad and torch's generator (Dropout draws from it) are all put back."""
    torch = pytest.importorskip("torch")
    runs = []
    for with_test in (False, True):
        torch.manual_seed(0)
        model = torch.nn.Sequential(torch.nn.Linear(5, 16), torch.nn.ReLU(), torch.nn.Dropout(0.3),
                                    torch.nn.Linear(16, 2))
        opt = torch.optim.Adam(model.parameters(), lr=1e-2)
        batches = _torch_batches(torch)
        for x, t in batches[:2]:
            opt.zero_grad()
            torch.nn.functional.cross_entropy(model(x), t).backward()
            opt.step()
        if with_test:
            rt.lr_range_test(model, opt, batches, start_lr=1e-4, end_lr=1.0, num_iter=20)
        for x, t in batches[2:6]:
            opt.zero_grad()
            torch.nn.functional.cross_entropy(model(x), t).backward()
            opt.step()
        runs.append([p.detach().clone() for p in model.parameters()])
    for a, b in zip(*runs):
        assert torch.equal(a, b)


def test_torch_multi_range_test_momentum():
    torch, model, opt = _torch_parts()
    trainer = rt.make_trainer(model, opt)
    results = multi_range_test(trainer, [0.85, 0.95], _torch_batches(torch), hyperparam="momentum",
                               start_lr=1e-3, end_lr=1.0, num_iter=20)
    assert list(results) == [0.85, 0.95] and opt.param_groups[0]["momentum"] == 0.9
    assert not np.array_equal(results[0.85].losses, results[0.95].losses)


def test_overflow_at_the_top_of_the_sweep_is_reported_not_warned():
    # exp(1000 * lr) overflows to inf near lr 0.71: the test must stop there and say so,
    # without NumPy's overflow RuntimeWarning (divergence is the expected end of a range test)
    def step(batch, lr):
        return float(np.exp(np.float64(lr) * 1000.0))

    with warnings.catch_warnings():
        warnings.simplefilter("error")
        result = run_range_test(step, [None], start_lr=0.01, end_lr=1.0, num_iter=100, step_mode="linear",
                                diverge_th=None, restore=False)
    assert result.stop_reason == "non-finite loss"
    assert 0.70 < result.lrs[-1] < 0.73
