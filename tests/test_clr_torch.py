"""clr.torch: clr's schedulers as torch LRSchedulers (skipped without torch), and that
``import clr`` never imports torch (runs everywhere)."""
import io
import json
import subprocess
import sys
import warnings

import pytest

import clr
from helpers import FakeOptimizer


def _python(code):
    return subprocess.run([sys.executable, "-c", code], capture_output=True, text=True, timeout=120)


def test_import_clr_does_not_import_torch():
    done = _python("import sys, clr, clr.schedulers, clr.policies; print('torch' in sys.modules)")
    assert done.returncode == 0, done.stderr
    assert done.stdout.strip() == "False"


def test_clr_torch_without_torch_says_what_to_install():
    done = _python("import sys; sys.modules['torch'] = None\nimport clr.torch")
    assert "ImportError: clr.torch needs PyTorch (pip install torch)" in done.stderr


try:
    import torch
    from torch.optim import lr_scheduler

    from clr.torch import CyclicLR, OneCycleLR, PolicyScheduler
except ImportError:
    torch = None


def needs_torch(test):
    """Skip ``test`` without torch. Torch warns when scheduler.step() runs before optimizer.step(),
    which several tests do on purpose: that warning is ignored."""
    test = pytest.mark.filterwarnings("ignore:Detected call of `lr_scheduler.step\\(\\)` before")(test)
    return pytest.mark.skipif(torch is None, reason="needs torch")(test)


def make_optimizer(kind="sgd", n_groups=2, lr=0.1):
    groups = [{"params": [torch.nn.Parameter(torch.ones(2))]} for _ in range(n_groups)]
    if kind == "sgd":
        return torch.optim.SGD(groups, lr=lr, momentum=0.9)
    return torch.optim.Adam(groups, lr=lr)


def train_step(opt):
    for group in opt.param_groups:
        for p in group["params"]:
            p.grad = torch.ones_like(p)
    opt.step()


def seen(opt):
    """(lrs, momenta) of every group, as plain floats."""
    return ([float(g["lr"]) for g in opt.param_groups],
            [float(g["betas"][0] if "betas" in g else g["momentum"]) for g in opt.param_groups])


def run_side_by_side(theirs, ours, steps):
    """Both optimizers' values after construction and after each of ``steps`` training steps."""
    a, b = theirs.optimizer, ours.optimizer
    out = [(seen(a), seen(b))]
    for _ in range(steps):
        train_step(a), train_step(b)
        theirs.step(), ours.step()
        out.append((seen(a), seen(b)))
    return out


CYCLIC = dict(base_lr=[0.01, 0.02], max_lr=[0.1, 0.3], step_size_up=3, step_size_down=5, mode="triangular2")
ONE_CYCLE = dict(max_lr=[0.5, 1.0], total_steps=30, pct_start=0.25, three_phase=True)
MAKERS = {
    "cyclic": (lambda opt: lr_scheduler.CyclicLR(opt, **CYCLIC), lambda opt: CyclicLR(opt, **CYCLIC)),
    "one_cycle": (lambda opt: lr_scheduler.OneCycleLR(opt, **ONE_CYCLE), lambda opt: OneCycleLR(opt, **ONE_CYCLE)),
}


@needs_torch
@pytest.mark.parametrize("kind", ["sgd", "adam"])
@pytest.mark.parametrize("name", list(MAKERS))
def test_is_an_lr_scheduler_with_torch_floats(name, kind):
    theirs_make, ours_make = MAKERS[name]
    theirs, ours = theirs_make(make_optimizer(kind)), ours_make(make_optimizer(kind))
    assert isinstance(ours, lr_scheduler.LRScheduler)
    steps = 29 if name == "one_cycle" else 40           # one-cycle: until its last step
    for their_values, our_values in run_side_by_side(theirs, ours, steps):
        assert our_values == their_values
    assert ours.get_last_lr() == theirs.get_last_lr()
    assert ours.last_epoch == theirs.last_epoch == steps
    assert ours.base_lrs == theirs.base_lrs


@needs_torch
def test_cyclic_has_torchs_attributes():
    theirs = lr_scheduler.CyclicLR(make_optimizer(), mode="exp_range", gamma=0.99, **{
        k: v for k, v in CYCLIC.items() if k != "mode"})
    ours = CyclicLR(make_optimizer(), mode="exp_range", gamma=0.99, **{k: v for k, v in CYCLIC.items() if k != "mode"})
    for name in ("base_lrs", "max_lrs", "mode", "gamma", "scale_mode", "cycle_momentum", "base_momentums",
                 "max_momentums", "last_epoch"):
        assert getattr(ours, name) == getattr(theirs, name), name
    assert [ours.scale_fn(x) for x in range(5)] == [theirs.scale_fn(x) for x in range(5)]
    assert OneCycleLR(make_optimizer(), 0.1, total_steps=7).total_steps == 7


@needs_torch
def test_one_cycle_never_rises_past_the_end():
    theirs, ours = lr_scheduler.OneCycleLR(make_optimizer(), **ONE_CYCLE), OneCycleLR(make_optimizer(), **ONE_CYCLE)
    values = run_side_by_side(theirs, ours, 30)
    (their_lrs, _), (our_lrs, _) = values[-1]
    assert our_lrs == values[-2][1][0]                   # holds min_lr at step T
    assert their_lrs != our_lrs                          # torch rises there (#91765)
    with pytest.raises(ValueError, match="Tried to step 31 times"):
        ours.step()


@needs_torch
def test_inside_sequential_lr_as_torchs_own():
    def make(cyclic, one_cycle):
        opt = make_optimizer()
        warmup = lr_scheduler.LinearLR(opt, start_factor=0.1, total_iters=4)
        return lr_scheduler.SequentialLR(opt, [warmup, cyclic(opt, **CYCLIC), one_cycle(opt, **ONE_CYCLE)],
                                         milestones=[5, 20])
    theirs = make(lr_scheduler.CyclicLR, lr_scheduler.OneCycleLR)
    ours = make(CyclicLR, OneCycleLR)
    for their_values, our_values in run_side_by_side(theirs, ours, 45):
        assert our_values == their_values


@needs_torch
def test_inside_chained_scheduler_as_torchs_own():
    def make(cyclic):
        opt = make_optimizer()
        return lr_scheduler.ChainedScheduler([cyclic(opt, **CYCLIC), lr_scheduler.ExponentialLR(opt, gamma=0.9)])
    for their_values, our_values in run_side_by_side(make(lr_scheduler.CyclicLR), make(CyclicLR), 20):
        assert our_values == their_values


@needs_torch
def test_a_lightning_style_loop_checkpoints_and_resumes_exactly():
    """What Lightning checks and calls: an LRScheduler bound to the optimizer, step() per batch,
    state_dict() into a checkpoint saved with weights_only, load_state_dict() on resume."""
    def configure():
        opt = make_optimizer("adam")
        return opt, OneCycleLR(opt, **ONE_CYCLE)

    opt, sched = configure()
    assert isinstance(sched, lr_scheduler.LRScheduler) and sched.optimizer is opt
    for _ in range(11):
        train_step(opt)
        sched.step()
    buffer = io.BytesIO()
    torch.save({"optimizer": opt.state_dict(), "lr_schedulers": [sched.state_dict()]}, buffer)
    buffer.seek(0)
    checkpoint = torch.load(buffer, weights_only=True)
    json.dumps(checkpoint["lr_schedulers"][0])           # plain JSON, too

    resumed_opt, resumed = configure()
    resumed_opt.load_state_dict(checkpoint["optimizer"])
    resumed.load_state_dict(checkpoint["lr_schedulers"][0])
    assert resumed.last_epoch == sched.last_epoch == 11
    assert seen(resumed_opt) == seen(opt)
    for _ in range(15):
        train_step(opt), train_step(resumed_opt)
        sched.step(), resumed.step()
        assert seen(resumed_opt) == seen(opt)
        assert resumed.get_last_lr() == sched.get_last_lr()


@needs_torch
def test_state_is_clrs_and_loads_into_clr_schedulers():
    ours = CyclicLR(make_optimizer(), **CYCLIC)
    for _ in range(7):
        ours.step()
    plain = clr.CyclicLR(make_optimizer(), **CYCLIC)
    plain.load_state_dict(json.loads(json.dumps(ours.state_dict())))
    assert plain.get_last_lr() == ours.get_last_lr() and plain.last_epoch == 7
    with pytest.raises(ValueError, match="state lacks the keys"):
        ours.load_state_dict({"scheduler": "CyclicLR"})


@needs_torch
def test_step_with_an_epoch_does_what_torch_does():
    theirs, ours = lr_scheduler.CyclicLR(make_optimizer(), **CYCLIC), CyclicLR(make_optimizer(), **CYCLIC)
    with pytest.warns(UserWarning, match="epoch parameter"):
        theirs.step(11)
    with pytest.warns(UserWarning, match="epoch parameter"):
        ours.step(11)
    assert seen(ours.optimizer) == seen(theirs.optimizer)
    assert ours.last_epoch == theirs.last_epoch == 11


@needs_torch
def test_a_tensor_lr_stays_the_same_tensor():
    param = torch.nn.Parameter(torch.ones(2))
    lr = torch.tensor(0.5)
    opt = torch.optim.SGD([param], lr=lr, momentum=0.9)
    sched = CyclicLR(opt, base_lr=torch.tensor(0.01), max_lr=torch.tensor(0.1), step_size_up=2)
    sched.step()
    assert opt.param_groups[0]["lr"] is lr and float(lr) == pytest.approx(0.055)
    last = sched.get_last_lr()[0]
    assert isinstance(last, torch.Tensor) and last is not lr   # a copy, as torch's get_last_lr


@needs_torch
def test_0d_tensor_bounds_give_the_float_schedule():
    f64 = dict(dtype=torch.float64)
    tensors = CyclicLR(make_optimizer(), base_lr=torch.tensor(0.01, **f64), max_lr=torch.tensor(0.1, **f64),
                       base_momentum=torch.tensor(0.8, **f64), step_size_up=torch.tensor(3))
    floats = CyclicLR(make_optimizer(), base_lr=0.01, max_lr=0.1, base_momentum=0.8, step_size_up=3)
    assert tensors.schedule.lr_policies == floats.schedule.lr_policies
    json.dumps(tensors.state_dict())


@needs_torch
def test_momentum_above_one_is_a_deliberate_difference():
    with warnings.catch_warnings():
        warnings.simplefilter("ignore")
        lr_scheduler.CyclicLR(make_optimizer(), 0.01, 0.1, max_momentum=1.2)    # torch accepts it
    with pytest.raises(ValueError, match="max_momentum must be <= 1"):
        CyclicLR(make_optimizer(), 0.01, 0.1, max_momentum=1.2)


@needs_torch
def test_policy_scheduler_and_bad_optimizer():
    opt = make_optimizer(n_groups=1)
    policy = clr.SGDR(0.1, 3, 2, 0.001)
    sched = PolicyScheduler(opt, policy, clr.Triangular(0.01, 0.1, 3).momentum(0.8, 0.9))
    assert sched.base_lrs == [0.1] and sched.get_lr() == [0.1]
    sched.step()
    assert sched.get_last_lr() == [policy(1)] and sched.get_last_momentum() == [pytest.approx(0.8 + 0.1 * 2 / 3)]
    with pytest.raises(TypeError, match="torch.optim.Optimizer.*clr.schedulers"):
        CyclicLR(FakeOptimizer(), 0.01, 0.1)


@needs_torch
def test_our_plain_scheduler_drives_a_torch_optimizer():
    param = torch.nn.Parameter(torch.ones(1))
    opt = torch.optim.SGD([param], lr=1.0, momentum=0.9)
    sched = clr.CyclicLR(opt, 0.1, 0.5, step_size_up=2)
    param.grad = torch.ones(1)
    opt.step()                                          # uses lr 0.1
    sched.step()
    assert opt.param_groups[0]["lr"] == pytest.approx(0.3)
    assert opt.param_groups[0]["momentum"] == pytest.approx(0.85)
    assert param.item() == pytest.approx(0.9, rel=1e-6)   # float32: 1 - 0.1 * 1
