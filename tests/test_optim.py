"""Tests for tinynet.optim: hand-computed steps, PyTorch side by side, groups, checkpoints, errors."""
import json
import math

import numpy as np
import pytest

from tinynet import Tensor, backend
from tinynet.optim import SGD, Adadelta, Adagrad, Adam, RMSprop

from torch_reference import torch_reference

# one configuration per update rule and option that changes the rule
CONFIGS = [
    ("SGD", dict(lr=0.1)),
    ("SGD", dict(lr=0.1, momentum=0.9)),
    ("SGD", dict(lr=0.1, momentum=0.9, dampening=0.3)),
    ("SGD", dict(lr=0.1, momentum=0.9, nesterov=True)),
    ("Adam", dict(lr=0.05)),
    ("Adam", dict(lr=0.05, betas=(0.8, 0.99), eps=1e-6)),
    ("RMSprop", dict(lr=0.01)),
    ("RMSprop", dict(lr=0.01, alpha=0.9, momentum=0.5)),
    ("Adagrad", dict(lr=0.1)),
    ("Adadelta", dict(lr=1.0, rho=0.8)),
]
CLASSES = {"SGD": SGD, "Adam": Adam, "RMSprop": RMSprop, "Adagrad": Adagrad, "Adadelta": Adadelta}
CONFIG_IDS = [f"{n}-{'-'.join(map(str, kw.values()))}" for n, kw in CONFIGS]


def momentum_of(group):
    return group["betas"][0] if "betas" in group else group.get("momentum", 0.0)


def set_momentum(group, m):
    if "betas" in group:
        group["betas"] = (m, group["betas"][1])
    else:
        group["momentum"] = m


# ---------------------------------------------------------------- a small least-squares problem
RNG = np.random.default_rng(0)
X = RNG.standard_normal((8, 3))
Y = RNG.standard_normal((8, 2))


def lsq_grads(W, b):
    """Gradients of 0.5 * mean_rows ||X W + b - Y||^2 with respect to W (3, 2) and b (2,)."""
    R = X @ W + b - Y
    return X.T @ R / len(X), R.sum(0) / len(X)


def lsq_params(dtype=np.float64, device="cpu"):
    W0 = np.arange(6.0).reshape(3, 2) / 10 - 0.2
    b0 = np.array([0.3, -0.1])
    return [Tensor(W0, dtype=dtype, device=device, requires_grad=True),
            Tensor(b0, dtype=dtype, device=device, requires_grad=True)]


def groups_for(params, kwargs):
    """Caffe-style groups: weight decay for the weights, none (and half the lr) for the biases."""
    return [{"params": [params[0]], "weight_decay": 0.01},
            {"params": [params[1]], "weight_decay": 0.0, "lr": kwargs["lr"] * 0.5}]


def schedule(t):
    """A multiplier for lr and momentum that changes every step, as a cyclical scheduler does."""
    return 1.0 + 0.5 * math.sin(0.7 * t)


def run_lsq(opt, params, steps, skip_bias_at=()):
    base_lr = [g["lr"] for g in opt.param_groups]
    base_m = [momentum_of(g) for g in opt.param_groups]
    for t in range(steps):
        for g, lr, m in zip(opt.param_groups, base_lr, base_m):
            g["lr"] = lr * schedule(t)
            if m:
                set_momentum(g, m * (1 - 0.1 * schedule(t)))
        gW, gb = lsq_grads(params[0].numpy(), params[1].numpy())
        params[0].grad = backend.to_device(gW.astype(params[0].dtype), params[0].device)
        params[1].grad = None if t in skip_bias_at else backend.to_device(gb.astype(params[1].dtype),
                                                                           params[1].device)
        opt.step()


# ---------------------------------------------------------------- side by side with PyTorch
def varied_steps(opt, params, as_grad, steps=25):
    """``steps`` optimizer steps on the least-squares problem with lr (and momentum / betas[0])
    changed before every step and no bias gradient at steps 6 and 7; the parameters after each.
    The same code drives tinynet's and torch's optimizers (``as_grad`` makes a gradient)."""
    base_lr = [g["lr"] for g in opt.param_groups]
    base_m = [momentum_of(g) for g in opt.param_groups]
    trajectory = []
    for t in range(steps):
        for g, lr, m in zip(opt.param_groups, base_lr, base_m):
            g["lr"] = lr * schedule(t)
            if m:
                set_momentum(g, m * (1 - 0.1 * schedule(t)))
        gW, gb = lsq_grads(*(p.detach().numpy() for p in params))
        params[0].grad, params[1].grad = as_grad(gW), None if t in (6, 7) else as_grad(gb)
        opt.step()
        trajectory.append([p.detach().numpy().copy() for p in params])
    return trajectory


@pytest.mark.parametrize("name, kwargs", CONFIGS, ids=CONFIG_IDS)
def test_matches_torch_step_by_step(name, kwargs):
    """25 steps in float64 with lr (and momentum / betas[0]) changed before every step, per-group
    lr and weight decay, and a step where one param has no grad: parameters and buffers agree."""
    def torch_run(torch):  # parameters after each step, then the state (live, else from the fixture)
        tparams = [torch.tensor(p.numpy(), requires_grad=True) for p in lsq_params()]
        topt = getattr(torch.optim, name)(groups_for(tparams, kwargs), **kwargs)
        trajectory = varied_steps(topt, tparams, torch.from_numpy)
        return {"trajectory": trajectory, "state": [dict(topt.state[tp]) for tp in tparams]}
    theirs = torch_reference("optim", f"{name} {kwargs}", torch_run, X, Y, *(p.numpy() for p in lsq_params()))
    params = lsq_params()
    opt = CLASSES[name](groups_for(params, kwargs), **kwargs)
    for t, (ours, expected) in enumerate(zip(varied_steps(opt, params, lambda g: g), theirs["trajectory"])):
        for p, tp in zip(ours, expected):
            np.testing.assert_allclose(p, tp, rtol=1e-7, atol=1e-9, err_msg=f"step {t}")
    ours = opt.state_dict()["state"]
    for pos, their_state in enumerate(theirs["state"]):
        for key, value in their_state.items():
            if key != "step" and value is not None:
                np.testing.assert_allclose(ours[pos][key], value, rtol=1e-7, atol=1e-9, err_msg=key)
            elif key == "step":
                assert ours[pos]["step"] == int(value) == (25 if pos == 0 else 23)


# ---------------------------------------------------------------- hand-computed steps (no torch)
def _adadelta_expected(grads, rho=0.5, eps=1e-6, lr=1.0):
    """Zeiler's rule unrolled by hand for scalar grads; written from the paper, not the code."""
    s = a = 0.0
    p, out = 1.0, []
    for g in grads:
        s = rho * s + (1 - rho) * g * g
        u = math.sqrt(a + eps) / math.sqrt(s + eps) * g
        a = rho * a + (1 - rho) * u * u
        p -= lr * u
        out.append(p)
    return out


_S05 = math.sqrt(0.5)
# p starts at 1.0 and the grads are 1, 2, -1 (set by hand, not from a loss)
HAND = [
    # plain SGD with weight decay 0.5: d = g + 0.5 p; p -= 0.1 d
    (SGD, dict(lr=0.1, weight_decay=0.5), None, [0.85, 0.6075, 0.677125]),
    # PyTorch momentum: v = 1, 2.9, 1.61; p -= 0.1 v
    (SGD, dict(lr=0.1, momentum=0.9), None, [0.9, 0.61, 0.449]),
    # Caffe form, constant lr: v = 0.1, 0.29, 0.161; p -= v (same trajectory as above)
    (SGD, dict(lr=0.1, momentum=0.9, form="caffe"), None, [0.9, 0.61, 0.449]),
    # lr 0.1, 0.2, 0.3. PyTorch: v = 1, 2.9, 1.61; p -= lr v
    (SGD, dict(lr=0.1, momentum=0.9), [0.1, 0.2, 0.3], [0.9, 0.32, -0.163]),
    # Caffe: v = 0.1, 0.09 + 0.4 = 0.49, 0.441 - 0.3 = 0.141; p -= v
    (SGD, dict(lr=0.1, momentum=0.9, form="caffe"), [0.1, 0.2, 0.3], [0.9, 0.41, 0.269]),
    # dampening 0.5: v = 1 (first step undamped), 0.9 + 1 = 1.9, 1.71 - 0.5 = 1.21
    (SGD, dict(lr=0.1, momentum=0.9, dampening=0.5), None, [0.9, 0.71, 0.589]),
    # Nesterov (PyTorch): v = 1, 2.9, 1.61; p -= 0.1 (g + 0.9 v) = 0.19, 0.461, 0.0449
    (SGD, dict(lr=0.1, momentum=0.9, nesterov=True), None, [0.81, 0.349, 0.3041]),
    # Nesterov (Caffe), lr 0.1, 0.2, 0.3: v = 0.1, 0.49, 0.141;
    # p -= 1.9 v - 0.9 v_old = 0.19, 0.931 - 0.09 = 0.841, 0.2679 - 0.441 = -0.1731
    (SGD, dict(lr=0.1, momentum=0.9, nesterov=True, form="caffe"), [0.1, 0.2, 0.3],
     [0.81, -0.031, 0.1421]),
    # Adam, betas (0.5, 0.75): m = 0.5, 1.25, 0.125 (still > 0); v = 0.25, 1.1875, 1.140625;
    # 1 - b1^t = 0.5, 0.75, 0.875; 1 - b2^t = 0.25, 0.4375, 0.578125
    (Adam, dict(lr=0.1, betas=(0.5, 0.75), eps=1e-8), None,
     [1 - 0.1 * (0.5 / 0.5) / (0.5 / 0.5 + 1e-8),
      1 - 0.1 / (1 + 1e-8) - 0.1 * (1.25 / 0.75) / (math.sqrt(1.1875 / 0.4375) + 1e-8),
      1 - 0.1 / (1 + 1e-8) - 0.1 * (1.25 / 0.75) / (math.sqrt(1.1875 / 0.4375) + 1e-8)
      - 0.1 * (0.125 / 0.875) / (math.sqrt(1.140625 / 0.578125) + 1e-8)]),  # m3 > 0: p keeps falling
    # RMSprop, alpha 0.5: s = 0.5, 2.25, 1.625; p -= 0.1 g / (sqrt(s) + eps)
    (RMSprop, dict(lr=0.1, alpha=0.5, eps=1e-8), None,
     [1 - 0.1 / (_S05 + 1e-8),
      1 - 0.1 / (_S05 + 1e-8) - 0.2 / (1.5 + 1e-8),
      1 - 0.1 / (_S05 + 1e-8) - 0.2 / (1.5 + 1e-8) + 0.1 / (math.sqrt(1.625) + 1e-8)]),
    # RMSprop with momentum 0.5: u = g / (sqrt(s) + eps); b = u1, 0.5 b1 + u2, 0.5 b2 + u3; p -= 0.1 b
    (RMSprop, dict(lr=0.1, alpha=0.5, eps=1e-8, momentum=0.5), None,
     [1 - 0.1 / (_S05 + 1e-8),
      1 - 0.1 / (_S05 + 1e-8) - 0.1 * (0.5 / (_S05 + 1e-8) + 2 / (1.5 + 1e-8)),
      1 - 0.1 / (_S05 + 1e-8) - 0.1 * (0.5 / (_S05 + 1e-8) + 2 / (1.5 + 1e-8))
      - 0.1 * (0.25 / (_S05 + 1e-8) + 1 / (1.5 + 1e-8) - 1 / (math.sqrt(1.625) + 1e-8))]),
    # AdaGrad: s = 1, 5, 6; p -= 0.1 g / (sqrt(s) + eps)
    (Adagrad, dict(lr=0.1, eps=1e-10), None,
     [1 - 0.1 / (1 + 1e-10),
      1 - 0.1 / (1 + 1e-10) - 0.2 / (math.sqrt(5) + 1e-10),
      1 - 0.1 / (1 + 1e-10) - 0.2 / (math.sqrt(5) + 1e-10) + 0.1 / (math.sqrt(6) + 1e-10)]),
    (Adadelta, dict(lr=1.0, rho=0.5, eps=1e-6), None, _adadelta_expected([1.0, 2.0, -1.0])),
    (Adadelta, dict(lr=0.5, rho=0.5, eps=1e-6), None, _adadelta_expected([1.0, 2.0, -1.0], lr=0.5)),
]


@pytest.mark.parametrize("cls, kwargs, lrs, expected", HAND,
                         ids=[f"{c.__name__}-{i}" for i, (c, *_rest) in enumerate(HAND)])
def test_hand_computed_steps(cls, kwargs, lrs, expected):
    p = Tensor([1.0], dtype=np.float64, requires_grad=True)
    opt = cls([p], **kwargs)
    for t, g in enumerate([1.0, 2.0, -1.0]):
        if lrs is not None:
            opt.param_groups[0]["lr"] = lrs[t]
        p.grad = np.array([g])
        opt.step()
        assert p.numpy()[0] == pytest.approx(expected[t], rel=1e-12, abs=1e-12), f"step {t + 1}"


# ---------------------------------------------------------------- the two SGD momentum forms
@pytest.mark.parametrize("nesterov", [False, True])
def test_caffe_and_pytorch_forms_agree_for_constant_lr_only(nesterov):
    def trajectory(form, vary):
        params = lsq_params()
        opt = SGD(params, lr=0.2, momentum=0.9, weight_decay=1e-3, nesterov=nesterov, form=form)
        out = []
        for t in range(20):
            opt.param_groups[0]["lr"] = 0.2 * schedule(t) if vary else 0.2
            params[0].grad, params[1].grad = lsq_grads(params[0].numpy(), params[1].numpy())
            opt.step()
            out.append(params[0].numpy().copy())
        return np.array(out)

    np.testing.assert_allclose(trajectory("caffe", False), trajectory("pytorch", False), rtol=1e-10, atol=1e-12)
    assert np.abs(trajectory("caffe", True) - trajectory("pytorch", True)).max() > 1e-3


def test_caffe_velocity_is_lr_times_pytorch_velocity():
    p1, p2 = lsq_params(), lsq_params()
    o1 = SGD(p1, lr=0.05, momentum=0.8, form="pytorch")
    o2 = SGD(p2, lr=0.05, momentum=0.8, form="caffe")
    for _ in range(5):
        for ps in (p1, p2):
            ps[0].grad, ps[1].grad = lsq_grads(ps[0].numpy(), ps[1].numpy())
        o1.step()
        o2.step()
    np.testing.assert_allclose(o2.state[0]["momentum_buffer"], 0.05 * o1.state[0]["momentum_buffer"], rtol=1e-12)


# ---------------------------------------------------------------- groups, scheduler access, grads
def test_groups_get_defaults_and_per_group_weight_decay():
    w = Tensor(np.full(3, 2.0), requires_grad=True)
    b = Tensor(np.full(2, 2.0), requires_grad=True)
    opt = SGD([{"params": [w], "weight_decay": 0.5}, {"params": [b], "name": "biases"}], lr=0.1)
    assert opt.param_groups[1]["weight_decay"] == 0 and opt.param_groups[1]["lr"] == 0.1
    assert opt.param_groups[1]["name"] == "biases"
    w.grad, b.grad = np.zeros(3), np.zeros(2)
    opt.step()
    np.testing.assert_allclose(w.numpy(), 2.0 - 0.1 * 0.5 * 2.0)  # decayed
    np.testing.assert_array_equal(b.numpy(), 2.0)  # decay_mult 0: untouched


def test_lr_set_before_the_first_step_is_used_and_add_param_group():
    a = Tensor([1.0], dtype=np.float64, requires_grad=True)
    c = Tensor([1.0], dtype=np.float64, requires_grad=True)
    opt = Adam([a], lr=123.0)
    opt.param_groups[0]["lr"] = 0.1  # as a scheduler does at construction
    opt.add_param_group({"params": [c], "lr": 0.2})
    assert opt.param_groups[1]["betas"] == (0.9, 0.999)
    a.grad, c.grad = np.array([3.0]), np.array([3.0])
    opt.step()  # Adam's first step moves by lr (up to eps) whatever the grad's size
    assert a.numpy()[0] == pytest.approx(0.9) and c.numpy()[0] == pytest.approx(0.8)
    assert sorted(opt.state) == [0, 1]  # positions over all groups, in order


def test_zero_grad_and_none_grads_are_skipped():
    a, c = lsq_params()
    opt = Adam([a, c], lr=0.1)
    a.grad, c.grad = np.ones_like(a.data), np.ones_like(c.data)
    opt.zero_grad()
    assert a.grad is None and c.grad is None
    before = c.numpy().copy()
    a.grad = np.ones_like(a.data)
    opt.step()
    np.testing.assert_array_equal(c.numpy(), before)
    assert list(opt.state) == [0]  # no state for a param that never had a grad


@pytest.mark.parametrize("name, kwargs", CONFIGS, ids=CONFIG_IDS)
def test_shared_grad_is_never_written_and_data_updated_in_place(name, kwargs):
    """Two params share one grad array (backward may hand out views): the update must read it only."""
    a = Tensor(np.linspace(-1, 1, 6), requires_grad=True)
    c = Tensor(np.linspace(-1, 1, 6), requires_grad=True)
    ref = Tensor(np.linspace(-1, 1, 6), requires_grad=True)
    opt = CLASSES[name]([a, c], **dict(kwargs, weight_decay=0.1))
    ref_opt = CLASSES[name]([ref], **dict(kwargs, weight_decay=0.1))
    arrays = (a.data, c.data)
    for t in range(3):
        shared = np.cos(np.arange(6.0) + t)
        a.grad = c.grad = shared
        ref.grad = shared.copy()
        opt.step()
        ref_opt.step()
        np.testing.assert_array_equal(shared, np.cos(np.arange(6.0) + t))
    assert a.data is arrays[0] and c.data is arrays[1]
    np.testing.assert_array_equal(a.numpy(), ref.numpy())
    np.testing.assert_array_equal(c.numpy(), ref.numpy())


@pytest.mark.parametrize("name, kwargs", CONFIGS, ids=CONFIG_IDS)
def test_float32_stays_float32(name, kwargs):
    p32, p64 = lsq_params(np.float32), lsq_params(np.float64)
    o32 = CLASSES[name](groups_for(p32, kwargs), **kwargs)
    o64 = CLASSES[name](groups_for(p64, kwargs), **kwargs)
    for opt in (o32, o64):
        for g in opt.param_groups:
            g["lr"] = np.float64(g["lr"])  # a NumPy float64 scalar must not promote the update
    run_lsq(o32, p32, 5)
    run_lsq(o64, p64, 5)
    for p, q in zip(p32, p64):
        assert p.dtype == np.float32
        np.testing.assert_allclose(p.numpy(), q.numpy(), rtol=1e-4, atol=1e-5)
    for entry in o32.state.values():
        assert all(v.dtype == np.float32 for k, v in entry.items() if k != "step")


@pytest.mark.parametrize("name, kwargs", CONFIGS, ids=CONFIG_IDS)
def test_zero_dim_param_matches_a_one_element_param(name, kwargs):
    """NumPy turns 0-d results into scalars; a 0-d parameter must still be updated in place."""
    s = Tensor(np.array(0.7), requires_grad=True)
    v = Tensor(np.array([0.7]), requires_grad=True)
    o_s = CLASSES[name]([s], **dict(kwargs, weight_decay=0.1))
    o_v = CLASSES[name]([v], **dict(kwargs, weight_decay=0.1))
    data = s.data
    for t in range(4):
        s.grad, v.grad = np.array(np.cos(t)), np.array([np.cos(t)])
        o_s.step()
        o_v.step()
        assert s.numpy().shape == () and s.numpy() == v.numpy()[0]
    assert s.data is data
    assert all(np.shape(b) == () for k, b in o_s.state[0].items() if k != "step")


def test_trains_an_nn_model_with_caffe_style_groups():
    """End to end with tinynet autograd: per-group weight decay, a changing lr, loss goes down."""
    import tinynet as tn
    import tinynet.functional as F

    rng = np.random.default_rng(1)
    x = tn.Tensor(rng.standard_normal((64, 5)).astype(np.float32))
    y = tn.Tensor((x.numpy() @ rng.standard_normal((5, 3))).argmax(1))
    model = tn.nn.Linear(5, 3, rng=0)
    named = dict(model.named_parameters())
    opt = SGD([{"params": [named["weight"]], "weight_decay": 1e-3},
               {"params": [named["bias"]], "weight_decay": 0.0}], lr=0.1, momentum=0.9, form="caffe")
    losses = []
    for t in range(30):
        opt.param_groups[0]["lr"] = opt.param_groups[1]["lr"] = 0.05 * schedule(t)
        opt.zero_grad()
        loss = F.cross_entropy(model(x), y)
        loss.backward()
        opt.step()
        losses.append(loss.item())
    assert named["weight"].dtype == np.float32
    assert losses[-1] < 0.5 * losses[0]


# ---------------------------------------------------------------- checkpoints
def _to_json(sd):
    def plain(v):
        return v.tolist() if isinstance(v, np.ndarray) else v
    return json.dumps({"state": {k: {n: plain(v) for n, v in e.items()} for k, e in sd["state"].items()},
                       "param_groups": sd["param_groups"]})


@pytest.mark.parametrize("via_json", [False, True])
@pytest.mark.parametrize("name, kwargs", CONFIGS, ids=CONFIG_IDS)
def test_resumed_run_is_bit_identical(name, kwargs, via_json):
    params = lsq_params(np.float32)
    opt = CLASSES[name](groups_for(params, kwargs), **kwargs)
    run_lsq(opt, params, 6, skip_bias_at=(0,))  # the bias state lags one step behind
    sd = opt.state_dict()
    snapshot = [p.numpy().copy() for p in params]
    saved = json.loads(_to_json(sd)) if via_json else sd
    run_lsq(opt, params, 6)

    fresh = lsq_params(np.float32)
    for p, s in zip(fresh, snapshot):
        p.data[...] = s
    other = dict(kwargs, lr=kwargs["lr"] * 7)  # hyper-parameters must come from the checkpoint
    opt2 = CLASSES[name](groups_for(fresh, other), **other)
    group_dicts = list(opt2.param_groups)
    opt2.load_state_dict(saved)
    assert all(a is b for a, b in zip(opt2.param_groups, group_dicts))  # a scheduler's references stay valid
    assert opt2.param_groups[1]["lr"] == pytest.approx(sd["param_groups"][1]["lr"])
    assert all(isinstance(g["betas"], tuple) for g in opt2.param_groups if "betas" in g)  # JSON gave lists
    run_lsq(opt2, fresh, 6)
    for p, q in zip(params, fresh):
        np.testing.assert_array_equal(p.numpy(), q.numpy())


def test_state_dict_is_a_host_snapshot_keyed_by_position():
    params = lsq_params()
    opt = SGD(params, lr=0.1, momentum=0.9)
    run_lsq(opt, params, 2)
    sd = opt.state_dict()
    assert set(sd["state"]) == {0, 1} and sd["param_groups"][0]["params"] == [0, 1]
    buf = sd["state"][0]["momentum_buffer"].copy()
    assert isinstance(sd["state"][0]["momentum_buffer"], np.ndarray)
    run_lsq(opt, params, 2)
    np.testing.assert_array_equal(sd["state"][0]["momentum_buffer"], buf)
    json.dumps(sd["param_groups"])  # hyper-parameters are plain values


def _trained_adam():
    params = lsq_params()
    opt = Adam(groups_for(params, {"lr": 0.1}), lr=0.1)
    run_lsq(opt, params, 2)
    return opt


def _drop_group(sd):
    sd["param_groups"].pop()


def _bad_shape(sd):
    sd["state"][1]["exp_avg"] = np.zeros(3)


def _foreign_buffer(sd):
    sd["state"][0]["momentum_buffer"] = sd["state"][0].pop("exp_avg")


def _bad_position(sd):
    sd["state"][5] = sd["state"][0]


def _missing_hyper(sd):
    del sd["param_groups"][0]["betas"]


def _nan_lr(sd):
    sd["param_groups"][0]["lr"] = float("nan")


@pytest.mark.parametrize("corrupt, match", [
    (_drop_group, r"1 param group\(s\), this optimizer has 2"),
    (_bad_shape, r"state\[1\]: buffer 'exp_avg' has shape \(3,\), but its parameter has shape \(2,\)"),
    (_foreign_buffer, r"state\[0\].*lacks \['exp_avg'\].*unknown \['momentum_buffer'\]"),
    (_bad_position, r"state key 5 is not a position in 0..1"),
    (_missing_hyper, r"param_groups\[0\]: missing hyper-parameter\(s\) \['betas'\]"),
    (_nan_lr, r"param_groups\[0\]: lr must be a finite number >= 0, got nan"),
])
def test_load_state_dict_rejects_mismatches_and_changes_nothing(corrupt, match):
    opt = _trained_adam()
    sd = opt.state_dict()
    corrupt(sd)
    before = opt.state_dict()
    with pytest.raises(ValueError, match=match):
        opt.load_state_dict(sd)
    after = opt.state_dict()
    assert after["param_groups"] == before["param_groups"]
    np.testing.assert_array_equal(after["state"][0]["exp_avg"], before["state"][0]["exp_avg"])


def test_load_state_dict_rejects_a_different_group_size():
    a, b = lsq_params()
    opt = SGD([a, b], lr=0.1)
    other = SGD([{"params": [a]}, {"params": [b]}], lr=0.1)
    with pytest.raises(ValueError, match=r"2 param group\(s\), this optimizer has 1"):
        opt.load_state_dict(other.state_dict())
    c = Tensor(np.zeros(2), requires_grad=True)
    three = SGD([a, b, c], lr=0.1)
    with pytest.raises(ValueError, match=r"param_groups\[0\]: the state_dict lists 3 param"):
        opt.load_state_dict(three.state_dict())


# ---------------------------------------------------------------- argument checks
def _p(dtype=np.float32):
    return Tensor(np.zeros(2), dtype=dtype, requires_grad=dtype is not np.int64)


BAD_ARGS = [
    (SGD, dict(lr=-0.1), ValueError, r"SGD: lr must be a finite number >= 0, got -0.1"),
    (SGD, dict(lr=float("inf")), ValueError, r"lr must be a finite number >= 0, got inf"),
    (SGD, dict(lr="0.1"), TypeError, r"lr must be a real number \(not a str\), got '0.1'"),
    (SGD, dict(lr=0.1, momentum=1.0), ValueError, r"momentum must be in \[0, 1\), got 1.0"),
    (SGD, dict(lr=0.1, momentum=-0.5), ValueError, r"momentum must be in \[0, 1\), got -0.5"),
    (SGD, dict(lr=0.1, weight_decay=-1e-4), ValueError, r"weight_decay must be a finite number >= 0, got -0.0001"),
    (SGD, dict(lr=0.1, nesterov=True), ValueError, r"nesterov=True needs momentum > 0.*momentum=0.0"),
    (SGD, dict(lr=0.1, momentum=0.9, dampening=0.1, nesterov=True), ValueError, r"dampening=0.1"),
    (SGD, dict(lr=0.1, dampening=1.5), ValueError, r"dampening must be in \[0, 1\], got 1.5"),
    (SGD, dict(lr=0.1, nesterov=1), TypeError, r"nesterov must be True or False, got 1"),
    (SGD, dict(lr=0.1, form="keras"), ValueError, r"form must be 'pytorch' or 'caffe', got 'keras'"),
    (SGD, dict(lr=0.1, momentum=0.9, dampening=0.1, form="caffe"), ValueError, r"form='caffe' has no dampening"),
    (Adam, dict(betas=(0.9, 1.0)), ValueError, r"betas\[1\] must be in \[0, 1\), got 1.0"),
    (Adam, dict(betas=(-0.1, 0.999)), ValueError, r"betas\[0\] must be in \[0, 1\), got -0.1"),
    (Adam, dict(betas=0.9), TypeError, r"betas must be a pair \(b1, b2\), got 0.9"),
    (Adam, dict(eps=0.0), ValueError, r"Adam: eps must be a finite number > 0, got 0.0"),
    (RMSprop, dict(eps=-1e-8), ValueError, r"eps must be a finite number > 0, got -1e-08"),
    (RMSprop, dict(alpha=1.0), ValueError, r"alpha must be in \[0, 1\), got 1.0"),
    (RMSprop, dict(momentum=1.2), ValueError, r"momentum must be in \[0, 1\), got 1.2"),
    (Adagrad, dict(eps=0), ValueError, r"Adagrad: eps must be a finite number > 0, got 0"),
    (Adagrad, dict(weight_decay=-1), ValueError, r"weight_decay must be a finite number >= 0, got -1"),
    (Adadelta, dict(rho=1.5), ValueError, r"rho must be in \[0, 1\), got 1.5"),
    (Adadelta, dict(lr=float("nan")), ValueError, r"lr must be a finite number >= 0, got nan"),
]


@pytest.mark.parametrize("cls, kwargs, exc, match", BAD_ARGS,
                         ids=[f"{c.__name__}-{'-'.join(kw)}-{i}" for i, (c, kw, *_r) in enumerate(BAD_ARGS)])
def test_bad_hyper_parameters_are_named(cls, kwargs, exc, match):
    with pytest.raises(exc, match=match):
        cls([_p()], **kwargs)


def test_bad_params_are_named():
    p = _p()
    with pytest.raises(ValueError, match="params is empty"):
        SGD([], lr=0.1)
    with pytest.raises(ValueError, match="params is empty"):
        SGD((t for t in []), lr=0.1)
    with pytest.raises(TypeError, match="got a single Tensor; wrap it in a list"):
        SGD(p, lr=0.1)
    with pytest.raises(TypeError, match="not a set"):
        SGD({p}, lr=0.1)
    with pytest.raises(ValueError, match=r"params\[1\] is already optimized at position 0"):
        SGD([p, p], lr=0.1)
    with pytest.raises(ValueError, match=r"param_groups\[1\]: params\[0\] is already optimized at position 0"):
        SGD([{"params": [p]}, {"params": [p]}], lr=0.1)
    with pytest.raises(TypeError, match=r"params\[0\] has dtype int64; only floating-point"):
        SGD([_p(np.int64)], lr=0.1)
    with pytest.raises(TypeError, match=r"params\[1\] is a ndarray, not a Tensor"):
        SGD([p, np.zeros(2)], lr=0.1)
    with pytest.raises(TypeError, match="mixes Tensors and dicts"):
        SGD([p, {"params": [_p()]}], lr=0.1)
    with pytest.raises(ValueError, match="no 'params' entry"):
        SGD([{"lr": 0.1}], lr=0.1)
    with pytest.raises(ValueError, match=r"unknown option\(s\) \['weight_decy'\]"):
        SGD([{"params": [p], "weight_decy": 0.1}], lr=0.1)
    with pytest.raises(ValueError, match=r"param_groups\[0\]: momentum must be in \[0, 1\), got 2"):
        SGD([{"params": [p], "momentum": 2}], lr=0.1)


@pytest.mark.parametrize("bad", [float("nan"), float("inf"), -1.0])
def test_step_rejects_a_bad_lr_set_by_a_scheduler_before_moving_anything(bad):
    a, b = lsq_params()
    opt = SGD([{"params": [a]}, {"params": [b]}], lr=0.1, momentum=0.9)
    a.grad, b.grad = np.ones_like(a.data), np.ones_like(b.data)
    opt.param_groups[1]["lr"] = bad
    before = a.numpy().copy()
    match = rf"SGD.step\(\): param_groups\[1\]: lr must be a finite number >= 0, got {bad}"
    with pytest.raises(ValueError, match=match):
        opt.step()
    np.testing.assert_array_equal(a.numpy(), before)
    assert opt.state == {}


def test_a_non_leaf_tensor_is_not_a_parameter():
    w = Tensor(np.ones(2), requires_grad=True)
    with pytest.raises(ValueError, match=r"params\[1\] is not a leaf tensor.*detach\(\)\.requires_grad_\(\)"):
        SGD([w, w * 2], lr=0.1)


@pytest.mark.parametrize("bad", [np.nan, np.inf])
def test_load_state_dict_refuses_a_non_finite_buffer(bad):
    a, b = lsq_params()
    opt = Adam([a, b], lr=0.1)
    run_lsq(opt, [a, b], 2)
    sd = opt.state_dict()
    sd["state"][1]["exp_avg_sq"][0] = bad
    before = opt.state_dict()
    with pytest.raises(ValueError, match=r"state\[1\]: buffer 'exp_avg_sq' holds 1 non-finite value"):
        opt.load_state_dict(sd)
    np.testing.assert_equal(opt.state_dict(), before)


def test_step_reads_hyper_parameters_checked_once_and_rechecks_only_lr_and_momentum():
    a, b = lsq_params()
    opt = SGD([a, b], lr=0.1, momentum=0.9, weight_decay=0)
    assert opt.param_groups[0]["weight_decay"] == 0.0 and type(opt.param_groups[0]["weight_decay"]) is float
    a.grad, b.grad = np.ones_like(a.data), np.ones_like(b.data)
    opt.param_groups[0]["momentum"] = 1.5  # as a buggy momentum schedule would
    with pytest.raises(ValueError, match=r"SGD.step\(\): param_groups\[0\]: momentum must be in \[0, 1\)"):
        opt.step()


def test_step_rejects_a_misshaped_grad():
    a, b = lsq_params()
    opt = SGD([a, b], lr=0.1)
    a.grad, b.grad = np.ones_like(a.data), np.ones(1)  # would broadcast silently
    with pytest.raises(ValueError, match=r"position 1 has shape \(2,\) but its grad has shape \(1,\)"):
        opt.step()


# ---------------------------------------------------------------- GPU (CuPy) agrees with CPU
@pytest.mark.parametrize("name, kwargs", CONFIGS, ids=CONFIG_IDS)
def test_cuda_matches_cpu(cuda, name, kwargs):
    """Every optimizer and option on 'cuda' (the stand-in without a GPU) follows the CPU run."""
    cpu, gpu = lsq_params(np.float64), lsq_params(np.float64, device="cuda")
    o_cpu = CLASSES[name](groups_for(cpu, kwargs), **kwargs)
    o_gpu = CLASSES[name](groups_for(gpu, kwargs), **kwargs)
    run_lsq(o_cpu, cpu, 10, skip_bias_at=(3,))
    run_lsq(o_gpu, gpu, 10, skip_bias_at=(3,))
    for p, q in zip(cpu, gpu):
        assert q.device == "cuda"
        np.testing.assert_allclose(q.numpy(), p.numpy(), rtol=1e-10, atol=1e-12)
    sd = o_gpu.state_dict()  # host arrays, loadable on the CPU
    o_cpu.load_state_dict(sd)
