"""Tests for clr.find_bounds: bounds that train as well as a small fixed-lr grid on tiny tasks (a
classifier and a regression), a clear refusal of curves without signal, exact restoring, the cost."""
import math
import subprocess
import sys

import numpy as np
import pytest

import clr
from clr.range_test import FunctionTrainer

tn = pytest.importorskip("tinynet")
from tinynet import nn  # noqa: E402
from tinynet.data import ArrayDataset, DataLoader  # noqa: E402
from tinynet.optim import SGD, Adam  # noqa: E402

F = tn.functional


# ----------------------------------------------------------------------------- tiny tasks

def _blobs(seed=0, n=900, d=20, classes=3):
    """Three overlapping Gaussian classes in 20-D: train 600 / val 150 / test 150."""
    rng = np.random.default_rng(seed)
    means = rng.standard_normal((classes, d)) * 0.6
    y = rng.integers(0, classes, n)
    x = (means[y] + rng.standard_normal((n, d))).astype(np.float32)
    return (x[:600], y[:600]), (x[600:750], y[600:750]), (x[750:], y[750:])


def _regression(seed=0, n=900, d=8):
    """y = sin(x . w) + 0.1 noise, standardised."""
    rng = np.random.default_rng(seed)
    w = rng.standard_normal((d, 1)) / math.sqrt(d)
    x = rng.standard_normal((n, d)).astype(np.float32)
    y = (np.sin(2 * x @ w) + 0.1 * rng.standard_normal((n, 1))).astype(np.float32)
    y = (y - y.mean()) / y.std()
    return (x[:600], y[:600]), (x[600:750], y[600:750]), (x[750:], y[750:])


TASKS = {
    "mlp_sgd": (_blobs, lambda r: nn.Sequential(nn.Linear(20, 32, rng=r), nn.ReLU(), nn.Linear(32, 3, rng=r)),
                lambda p: SGD(p, lr=0.0, momentum=0.9), None),
    "mlp_adam": (_blobs, lambda r: nn.Sequential(nn.Linear(20, 32, rng=r), nn.ReLU(), nn.Linear(32, 3, rng=r)),
                 lambda p: Adam(p, lr=0.0), None),
    "regression_sgd": (_regression, lambda r: nn.Sequential(nn.Linear(8, 32, rng=r), nn.Tanh(), nn.Linear(32, 1, rng=r)),
                       lambda p: SGD(p, lr=0.0, momentum=0.9), F.mse_loss),
}
ITERATIONS = 300


def _setup(name, seed=0):
    data, make_model, make_opt, loss_fn = TASKS[name]
    train, val, test = data()
    model = make_model(np.random.default_rng(seed))
    loader = DataLoader(ArrayDataset(*train), 32, shuffle=True, seed=seed)
    return model, make_opt(model.parameters()), loader, val, test, loss_fn


def _train(name, lr_of_step, seed=0):
    """Final test score (accuracy, or minus the MSE) after ITERATIONS steps at lr_of_step(i); -inf if it diverges."""
    model, opt, loader, _, (x_test, y_test), loss_fn = _setup(name, seed)
    loss_fn = loss_fn or F.cross_entropy
    with np.errstate(over="ignore", invalid="ignore"):  # the grid's largest lrs diverge, as they should
        for i, (x, y) in enumerate(loader.take(ITERATIONS)):
            for g in opt.param_groups:
                g["lr"] = lr_of_step(i)
            loss = loss_fn(model(tn.Tensor(x)), y)
            if not math.isfinite(loss.item()):
                return -math.inf
            opt.zero_grad()
            loss.backward()
            opt.step()
    model.eval()
    with tn.no_grad():
        out = model(tn.Tensor(x_test))
    if loss_fn is F.mse_loss:
        return -float(F.mse_loss(out, y_test).item())
    return float(np.mean(out.numpy().argmax(1) == y_test))


def _triangular(base, top, cycles=3):
    step = ITERATIONS // (2 * cycles)
    return lambda i: base + (top - base) * (1 - abs((i % (2 * step)) / step - 1))


@pytest.mark.parametrize("name, tolerance", [("mlp_sgd", 0.03), ("mlp_adam", 0.03), ("regression_sgd", 0.1)])
def test_bounds_train_as_well_as_a_fixed_lr_grid(name, tolerance):
    model, opt, loader, val, _, loss_fn = _setup(name)
    bounds = clr.find_bounds(model, opt, loader, val_loader=[val], loss_fn=loss_fn, num_iter=200)
    assert bounds.method == "find_bounds" and bounds.base_lr == pytest.approx(bounds.max_lr / 4)
    grid = {lr: _train(name, lambda i, lr=lr: lr) for lr in 10.0 ** np.arange(-4.0, 1.0)}
    best = max(grid.values())
    clr_score = _train(name, _triangular(*bounds))
    assert clr_score >= best - tolerance * abs(best), (bounds, grid, clr_score)


def test_details_say_what_was_measured_and_the_cost():
    model, opt, loader, val, _, _ = _setup("mlp_sgd")
    steps = []
    trainer = clr.make_trainer(model, opt)
    step = trainer.train_step
    trainer.train_step = lambda batch: steps.append(1) or step(batch)
    bounds = clr.find_bounds(trainer, None, loader, val_loader=[val], num_iter=200)
    d = bounds.details
    assert d["iterations"] == len(steps) <= 200 + 50 * len(d["checks"]) + 50 * 6  # retries are counted too
    assert isinstance(d["probe"], clr.RangeTestResult) and d["sweep"].settings["step_mode"] == "linear"
    assert d["checks"][-1]["passed"] and d["checks"][-1]["max_lr"] == bounds.max_lr
    assert bounds.max_lr <= d["reading"] / 2 and (d["lr_stop"] is None or bounds.max_lr <= d["lr_stop"] / 4)
    lines = bounds.report().splitlines()
    assert lines[0].startswith("base_lr = ") and any("Linear test" in line for line in lines)
    assert any(f"Cost: {d['iterations']} training steps" in line for line in lines)


def test_model_optimizer_and_loader_are_left_exactly_as_they_were():
    model, opt, loader, val, _, _ = _setup("mlp_sgd")
    for x, y in loader.take(3):  # momentum buffers, .grad and the loader's epoch are in use
        loss = F.cross_entropy(model(tn.Tensor(x)), y)
        opt.zero_grad()
        loss.backward()
        opt.step()
    weights = {k: v.copy() for k, v in model.state_dict().items()}
    grads = [p.grad.copy() for p in model.parameters()]
    state, lr, epoch = opt.state_dict(), opt.param_groups[0]["lr"], loader.epoch
    clr.find_bounds(model, opt, loader, val_loader=[val], num_iter=100)
    for k, v in model.state_dict().items():
        np.testing.assert_array_equal(v, weights[k], err_msg=k)
    for p, g in zip(model.parameters(), grads):
        np.testing.assert_array_equal(p.grad, g)
    np.testing.assert_equal(opt.state_dict(), state)
    assert opt.param_groups[0]["lr"] == lr and loader.epoch == epoch and model.training


# ----------------------------------------------------------------------------- no signal: refuse

def _trainer(loss_of_lr_and_step):
    """A restorable trainer whose loss is a given function of (lr, step)."""
    state = {"step": 0}

    def step(batch, lr):
        state["step"] += 1
        return loss_of_lr_and_step(lr, state["step"])

    return FunctionTrainer(step, snapshot=lambda: dict(state), restore=lambda s: state.update(s))


def _noise(seed):
    rng = np.random.default_rng(seed)
    return lambda lr, step: 2.3 + 0.1 * rng.standard_normal()


@pytest.mark.parametrize("loss, match", [
    (lambda lr, step: 2.3, "flat"),
    (lambda lr, step: 2.3 - 3e-14 * step, "flat"),
    (_noise(0), "no more than noise|never falls below"),
    (_noise(1), "no more than noise|never falls below"),
    (lambda lr, step: 2.3 * 1.3 ** step, "diverged almost at once|never falls below"),
])
def test_curves_without_signal_are_refused_with_what_was_seen_and_what_to_try(loss, match):
    with pytest.raises(ValueError, match=match) as info:
        clr.find_bounds(_trainer(loss), None, [None], num_iter=100)
    assert "num_iter" in str(info.value) or "start_lr" in str(info.value)


class NoisyQuadratic:
    """loss = w^2 / 2 with a noisy gradient w + 0.1 z (z ~ N(0, 1)): SGD w <- w - lr (w + 0.1 z) settles at a
    loss of about lr / (2 - lr) / 200, and diverges for lr > 2."""

    def __init__(self):
        self.w, self.rng, self.lr = 1.0, np.random.default_rng(0), 0.0

    def set_lr(self, lr):
        self.lr = lr

    def train_step(self, batch):
        loss = 0.5 * self.w ** 2
        self.w -= self.lr * (self.w + 0.1 * self.rng.standard_normal())
        return loss, None, 1

    def snapshot(self):
        return self.w, self.rng.bit_generator.state

    def restore(self, state):
        self.w, self.rng.bit_generator.state = state


def test_a_quadratic_gets_a_max_lr_well_inside_its_stability_limit():
    q = NoisyQuadratic()
    bounds = clr.find_bounds(q, None, [None], num_iter=200)
    assert 0.05 < bounds.max_lr < 1.0 and q.w == 1.0


class FlatAccuracyQuadratic(NoisyQuadratic):
    """The quadratic with a held-out evaluation whose accuracy never moves (0.5): no rise to read."""

    def evaluate(self, batches):
        return 0.5 * self.w ** 2, 0.5


def test_without_a_readable_accuracy_the_linear_test_reads_the_held_out_loss():
    bounds = clr.find_bounds(FlatAccuracyQuadratic(), None, [None], val_loader=[None], num_iter=200)
    why = " ".join(bounds.details["why"])
    assert "the accuracy rule found no bounds" in why and "held-out loss lowest at lr" in why
    assert 0.05 < bounds.max_lr < 1.0


@pytest.mark.parametrize("kwargs, error, match", [
    ({"num_iter": 50}, ValueError, "num_iter must be an integer >= 100"),
    ({"base_ratio": 1}, ValueError, "base_ratio"),
    ({"start_lr": 1.0, "end_lr": 0.1}, ValueError, "start_lr must be smaller"),
    ({"max_halvings": -1}, ValueError, "max_halvings"),
    ({"val_loader": [None]}, TypeError, "evaluate"),
    ({"loss_fn": F.mse_loss}, TypeError, "loss_fn, batch_fn and device are for a model"),
])
def test_bad_arguments(kwargs, error, match):
    with pytest.raises(error, match=match):
        clr.find_bounds(_trainer(lambda lr, step: 1.0), None, [None], **kwargs)


def test_a_trainer_that_cannot_restore_is_refused_before_any_work():
    with pytest.raises(TypeError, match="snapshot.*restore"):
        clr.find_bounds(FunctionTrainer(lambda batch, lr: 1.0), None, [None])


def test_train_loader_is_required():
    model, opt, *_ = _setup("mlp_sgd")
    with pytest.raises(TypeError, match="train_loader is required"):
        clr.find_bounds(model, opt)


# ----------------------------------------------------------------------------- torch

def test_torch_model_and_dict_batches():
    torch = pytest.importorskip("torch")
    torch.manual_seed(0)
    (x, y), val, _ = _blobs()
    model = torch.nn.Sequential(torch.nn.Linear(20, 32), torch.nn.ReLU(), torch.nn.Linear(32, 3))
    opt = torch.optim.SGD(model.parameters(), lr=0.0, momentum=0.9, nesterov=True)
    batches = [{"x": torch.tensor(x[i:i + 32]), "y": torch.tensor(y[i:i + 32])} for i in range(0, 600, 32)]
    before = [p.detach().clone() for p in model.parameters()]
    bounds = clr.find_bounds(model, opt, batches, val_loader=[{"x": torch.tensor(val[0]), "y": torch.tensor(val[1])}],
                             batch_fn=lambda b: (b["x"], b["y"]), num_iter=200)
    assert 1e-3 < bounds.max_lr < 10
    assert all(torch.equal(a, b) for a, b in zip(before, model.parameters()))


def test_clr_imports_and_finds_bounds_without_tinynet_or_torch():
    code = ("import sys\n"
            "for name in ('tinynet', 'torch', 'matplotlib'):\n"
            "    sys.modules[name] = None  # importing them now fails\n"
            "import numpy as np, clr\n"
            "state = {'w': 1.0, 'rng': np.random.default_rng(0)}\n"
            "def step(batch, lr):\n"
            "    loss = 0.5 * state['w'] ** 2\n"
            "    state['w'] -= lr * (state['w'] + 0.1 * state['rng'].standard_normal())\n"
            "    return loss\n"
            "trainer = clr.FunctionTrainer(step, snapshot=lambda: state['w'], restore=lambda w: state.update(w=w))\n"
            "print(clr.find_bounds(trainer, None, [None]).method)\n")
    out = subprocess.run([sys.executable, "-c", code], capture_output=True, text=True, timeout=300)
    assert out.returncode == 0, out.stderr
    assert out.stdout.strip() == "find_bounds"


def test_the_sweep_plots_with_the_bounds_marked(tmp_path):
    pytest.importorskip("matplotlib")
    model, opt, loader, val, _, _ = _setup("mlp_sgd")
    bounds = clr.find_bounds(model, opt, loader, val_loader=[val], num_iter=100)
    fig = clr.plot_range_test(bounds.details["sweep"], tmp_path / "sweep.png", suggestions=[bounds])
    labels = [t.get_text() for t in fig.axes[0].get_legend().get_texts()]
    assert any(label.startswith("find_bounds: base") for label in labels) and (tmp_path / "sweep.png").exists()


def test_a_reading_at_the_end_of_the_linear_test_repeats_probe_and_test_twice_as_long(monkeypatch):
    """A reading at the end of the linear test means the model was still improving when the sweep ended
    (the probe's short run understated the scale): probe and test run again, twice as long."""
    from clr import bounds as B

    real, calls = B._read_sweep, []

    def at_the_end_first(sweep):
        calls.append(sweep.settings["num_iter"])
        reading, how = real(sweep)
        return (0.95 * sweep.settings["end_lr"], "at the end") if len(calls) == 1 else (reading, how)

    monkeypatch.setattr(B, "_read_sweep", at_the_end_first)
    bounds = clr.find_bounds(NoisyQuadratic(), None, [None], num_iter=200)
    why = " ".join(bounds.details["why"])
    assert "at the end of the linear test" in why and "repeated twice as long" in why
    assert calls == [100, 200] and bounds.details["probe"].settings["num_iter"] == 100   # both twice as long
    monkeypatch.setattr(B, "_read_sweep", real)
    inside = clr.find_bounds(NoisyQuadratic(), None, [None], num_iter=200)  # a reading inside: no repeat
    assert "at the end of the linear test" not in " ".join(inside.details["why"])
