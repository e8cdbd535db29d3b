"""tinynet.nn: Module bookkeeping, every layer's float64 gradcheck (input and parameters, train and
eval), initialisers, dropout, state dicts, and an MLP that learns two spirals reproducibly."""
import math
import re

import numpy as np
import pytest

import tinynet as tn
import tinynet.functional as F
from tinynet import Tensor, nn
from tinynet.nn import init

from torch_reference import torch_reference

f64 = dict(dtype=np.float64)


# ---------------------------------------------------------------------------- every layer's gradients
LAYERS = {
    "linear": (lambda: nn.Linear(3, 4, rng=0, **f64), (5, 3)),
    "linear_no_bias": (lambda: nn.Linear(3, 2, bias=False, rng=0, **f64), (2, 4, 3)),
    "conv1d": (lambda: nn.Conv1d(2, 3, 3, stride=2, padding=1, rng=0, **f64), (2, 2, 7)),
    "conv2d": (lambda: nn.Conv2d(2, 3, (3, 2), stride=(2, 1), padding=(1, 0), rng=0, **f64), (2, 2, 5, 4)),
    "conv2d_no_bias": (lambda: nn.Conv2d(1, 2, 3, padding=1, bias=False, rng=0, **f64), (1, 1, 4, 4)),
    "max_pool1d": (lambda: nn.MaxPool1d(3, 2, padding=1), (2, 2, 7)),
    "max_pool2d": (lambda: nn.MaxPool2d(2), (2, 2, 4, 4)),
    "max_pool2d_ceil": (lambda: nn.MaxPool2d(3, 2, ceil_mode=True), (1, 2, 6, 6)),
    "avg_pool1d": (lambda: nn.AvgPool1d(2, padding=1, count_include_pad=False), (2, 2, 5)),
    "avg_pool2d": (lambda: nn.AvgPool2d(3, 2, padding=1), (2, 2, 5, 5)),
    "avg_pool2d_ceil": (lambda: nn.AvgPool2d(3, 2, ceil_mode=True, count_include_pad=False), (1, 2, 6, 6)),
    "batchnorm1d_2d": (lambda: nn.BatchNorm1d(3, **f64), (5, 3)),
    "batchnorm1d_3d": (lambda: nn.BatchNorm1d(2, momentum=None, **f64), (3, 2, 4)),
    "batchnorm1d_no_affine": (lambda: nn.BatchNorm1d(3, affine=False, **f64), (4, 3)),
    "batchnorm2d": (lambda: nn.BatchNorm2d(2, **f64), (2, 2, 3, 3)),
    "batchnorm2d_untracked": (lambda: nn.BatchNorm2d(2, track_running_stats=False, **f64), (2, 2, 2, 3)),
    "lrn_across": (lambda: nn.LocalResponseNorm(3, alpha=0.5, k=2.0), (2, 4, 3, 2)),
    "lrn_within": (lambda: nn.LocalResponseNorm(3, alpha=0.5, mode="within_channel"), (2, 2, 4, 3)),
    "dropout": (lambda: nn.Dropout(0.3, rng=0), (4, 5)),
    "relu": (nn.ReLU, (3, 4)),
    "leaky_relu": (lambda: nn.LeakyReLU(0.2), (3, 4)),
    "tanh": (nn.Tanh, (3, 4)),
    "sigmoid": (nn.Sigmoid, (3, 4)),
    "flatten": (nn.Flatten, (2, 3, 2)),
    "mlp": (lambda: nn.Sequential(nn.Linear(3, 5, rng=1, **f64), nn.BatchNorm1d(5, **f64), nn.Tanh(),
                                  nn.Dropout(0.5, rng=2), nn.Linear(5, 2, rng=3, **f64)), (6, 3)),
    "convnet": (lambda: nn.Sequential(nn.Conv2d(1, 2, 3, padding=1, rng=1, **f64), nn.MaxPool2d(2),
                                      nn.ReLU(), nn.LocalResponseNorm(3, 0.1, mode="within_channel"),
                                      nn.BatchNorm2d(2, **f64), nn.Flatten(), nn.Linear(8, 2, rng=2, **f64)),
                (2, 1, 4, 4)),
}


@pytest.mark.parametrize("name", LAYERS)
@pytest.mark.parametrize("mode", ["train", "eval"])
def test_layer_gradcheck(rng, name, mode):
    make, shape = LAYERS[name]
    layer = make().train(mode == "train")
    for buf_name, buf in layer.named_buffers():  # non-trivial running statistics for eval mode
        if buf.dtype == np.float64:
            buf.data[...] = rng.random(buf.shape) + (0.5 if buf_name.endswith("var") else -0.5)
    x = Tensor(rng.standard_normal(shape), dtype=np.float64, requires_grad=True)
    named = list(layer.named_parameters())

    def fn(x, *params):
        for m in layer.modules():  # the same dropout mask for every evaluation
            if isinstance(m, nn.Dropout):
                m.rng = np.random.default_rng(7)
        return layer(x)

    assert tn.gradcheck(fn, [x] + [p for _, p in named], names=["input"] + [n for n, _ in named])


# ---------------------------------------------------------------------------- Module bookkeeping
class Net(nn.Module):
    def __init__(self):
        super().__init__()
        self.z_first = nn.Linear(2, 3, rng=0)
        self.scale = nn.Parameter(np.ones(3, dtype=np.float32))
        self.register_buffer("count", Tensor(np.zeros(1)))
        self.a_second = nn.Sequential(nn.ReLU(), nn.Linear(3, 1, rng=1))
        self.note = "not registered"

    def forward(self, x):
        return self.a_second(self.z_first(x) * self.scale)


def test_registration_follows_definition_order():
    net = Net()
    # PyTorch's order: a module's own members (in assignment order) first, then each child's
    assert [n for n, _ in net.named_parameters()] == [
        "scale", "z_first.weight", "z_first.bias", "a_second.1.weight", "a_second.1.bias"]
    assert [n for n, _ in net.named_buffers()] == ["count"]
    assert [type(m).__name__ for m in net.children()] == ["Linear", "Sequential"]
    assert [n for n, _ in net.named_modules()] == ["", "z_first", "a_second", "a_second.0", "a_second.1"]
    assert list(net.state_dict()) == [  # own params, own buffers, then the children's
        "scale", "count", "z_first.weight", "z_first.bias", "a_second.1.weight", "a_second.1.bias"]
    assert net.note == "not registered" and "note" not in net.state_dict()
    assert all(p.requires_grad and isinstance(p, nn.Parameter) for p in net.parameters())


def test_state_dict_keys_match_pytorch_naming():
    model = nn.Sequential(nn.Linear(2, 3, rng=0), nn.BatchNorm1d(3))
    assert list(model.state_dict()) == ["0.weight", "0.bias", "1.weight", "1.bias", "1.running_mean",
                                        "1.running_var", "1.num_batches_tracked"]


def test_shared_parameter_is_listed_once():
    lin = nn.Linear(2, 2, rng=0)
    model = nn.Sequential(lin, nn.Tanh(), lin)
    assert len(list(model.parameters())) == 2
    assert [n for n, _ in model.named_modules()] == ["", "0", "1"]


def test_reassignment_and_deletion():
    net = Net()
    net.z_first.bias = None  # like bias=False
    assert [n for n, _ in net.z_first.named_parameters()] == ["weight"]
    with pytest.raises(TypeError, match="parameter 'weight'"):
        net.z_first.weight = np.zeros((3, 2))
    with pytest.raises(TypeError, match="buffer 'count'"):
        net.count = np.zeros(1)
    net.scale = nn.Linear(1, 1, rng=0)  # a name moves from parameters to submodules
    assert "scale" not in dict(net.named_parameters()) and "scale" in dict(net.named_children())
    del net.a_second
    assert [n for n, _ in net.named_children()] == ["z_first", "scale"]


def test_assigning_before_super_init_is_a_clear_error():
    class Bad(nn.Module):
        def __init__(self):
            self.w = nn.Parameter(np.ones(2))

    with pytest.raises(AttributeError, match=r"call super\(\).__init__\(\) first"):
        Bad()


def test_train_eval_and_zero_grad(rng):
    model = LAYERS["mlp"][0]()
    assert model.training and all(m.training for m in model.modules())
    assert model.eval() is model and not any(m.training for m in model.modules())
    model.train()
    x = Tensor(rng.standard_normal((6, 3)))
    F.cross_entropy(model(x), np.array([0, 1, 0, 1, 1, 0])).backward()
    assert all(p.grad is not None for p in model.parameters())
    model.zero_grad()
    assert all(p.grad is None for p in model.parameters())


def test_eval_mode_is_deterministic_and_train_mode_updates_running_stats(rng):
    model = LAYERS["mlp"][0]()
    x = Tensor(rng.standard_normal((6, 3)))
    model(x)
    assert model[1].num_batches_tracked.item() == 1
    assert not np.allclose(model[1].running_mean.data, 0)
    model.eval()
    before = model.state_dict()
    y1, y2 = model(x).data, model(x).data
    np.testing.assert_array_equal(y1, y2)
    for k, v in model.state_dict().items():
        np.testing.assert_array_equal(v, before[k])


def test_repr_is_nested_and_readable():
    model = nn.Sequential(nn.Linear(4, 2, rng=0), nn.Sequential(nn.ReLU(), nn.Dropout(0.25, rng=0)))
    assert repr(model) == (
        "Sequential(\n"
        "  (0): Linear(in_features=4, out_features=2, bias=True)\n"
        "  (1): Sequential(\n"
        "    (0): ReLU()\n"
        "    (1): Dropout(p=0.25)\n"
        "  )\n"
        ")")
    assert repr(nn.BatchNorm2d(8)) == ("BatchNorm2d(8, eps=1e-05, momentum=0.1, affine=True, "
                                       "track_running_stats=True)")
    assert repr(nn.Parameter(np.zeros(1))).startswith("Parameter containing:")


def test_sequential_container():
    mods = [nn.Linear(2, 3, rng=0), nn.ReLU(), nn.Linear(3, 1, rng=1)]
    seq = nn.Sequential(*mods)
    assert len(seq) == 3 and list(seq) == mods and seq[-1] is mods[2] and seq[0] is mods[0]
    assert [n for n, _ in seq.named_children()] == ["0", "1", "2"]
    tail = seq[1:]
    assert isinstance(tail, nn.Sequential) and list(tail) == mods[1:]
    assert len(seq.append(nn.Tanh())) == 4
    with pytest.raises(IndexError, match="out of range"):
        seq[7]
    with pytest.raises(TypeError, match="argument 1 is a int"):
        nn.Sequential(nn.ReLU(), 3)


def test_to_device_moves_parameters_and_buffers(rng, device):
    model = nn.Sequential(nn.Linear(3, 4, rng=0), nn.BatchNorm1d(4))
    assert model.to(device) is model
    assert all(t.device == device for t in list(model.parameters()) + list(model.buffers()))
    y = model(Tensor(rng.standard_normal((5, 3)).astype(np.float32), device=device))
    assert y.device == device and y.dtype == np.float32
    state = model.state_dict()
    assert all(type(v) is np.ndarray for v in state.values())


# ---------------------------------------------------------------------------- state dicts
def test_state_dict_is_a_copy_with_buffers():
    model = nn.Sequential(nn.Linear(2, 3, rng=0), nn.BatchNorm1d(3))
    state = model.state_dict()
    state["0.weight"][...] = 0
    assert not np.all(model[0].weight.data == 0)
    model[1].running_mean.data += 1
    np.testing.assert_array_equal(state["1.running_mean"], np.zeros(3))
    assert state["1.num_batches_tracked"].dtype == np.int64 and state["1.running_var"].dtype == np.float32


def test_load_state_dict_round_trip(rng):
    a = LAYERS["mlp"][0]().eval()
    a(Tensor(rng.standard_normal((6, 3))))
    b = nn.Sequential(nn.Linear(3, 5, rng=11, **f64), nn.BatchNorm1d(5, **f64), nn.Tanh(),
                      nn.Dropout(0.5, rng=2), nn.Linear(5, 2, rng=13, **f64)).eval()
    weight = b[0].weight
    result = b.load_state_dict(a.state_dict())
    assert result.missing_keys == [] and result.unexpected_keys == []
    assert b[0].weight is weight  # loaded in place: an optimizer holding the parameter still sees it
    x = Tensor(rng.standard_normal((4, 3)))
    np.testing.assert_array_equal(a(x).data, b(x).data)
    for (ka, va), (kb, vb) in zip(a.state_dict().items(), b.state_dict().items()):
        assert ka == kb and va.dtype == vb.dtype
        np.testing.assert_array_equal(va, vb)


def test_load_state_dict_names_every_problem_and_loads_nothing():
    model = nn.Sequential(nn.Linear(2, 3, rng=0), nn.BatchNorm1d(3))
    before = model.state_dict()
    state = dict(before)
    del state["1.running_var"], state["0.bias"]
    state["0.weight"] = np.zeros((3, 3), np.float32)
    state["1.running_mean"] = np.full(3, 5.0, np.float32)
    state["2.weight"] = np.zeros(1)
    with pytest.raises(ValueError) as err:
        model.load_state_dict(state)
    msg = str(err.value)
    for part in ["missing: 0.bias, 1.running_var", "unexpected: 2.weight",
                 "0.weight (expected shape (3, 2), got (3, 3))", "nothing was loaded"]:
        assert part in msg
    np.testing.assert_array_equal(model[1].running_mean.data, before["1.running_mean"])

    state["0.weight"] = before["0.weight"]
    result = model.load_state_dict(state, strict=False)
    assert result.missing_keys == ["0.bias", "1.running_var"] and result.unexpected_keys == ["2.weight"]
    np.testing.assert_array_equal(model[1].running_mean.data, 5.0)
    with pytest.raises(ValueError, match=r"wrong shape: 0.weight"):
        model.load_state_dict({"0.weight": np.zeros(6)}, strict=False)


def test_load_state_dict_casts_to_the_parameter_dtype():
    model = nn.Linear(2, 1, rng=0)
    model.load_state_dict({"weight": Tensor(np.array([[1.5, 2.5]])), "bias": np.array([0.5])})
    assert model.weight.dtype == np.float32
    np.testing.assert_array_equal(model.weight.data, [[1.5, 2.5]])


# ---------------------------------------------------------------------------- initialisation
@pytest.mark.parametrize("make, fan_in", [
    (lambda rng: nn.Linear(50, 40, rng=rng), 50),
    (lambda rng: nn.Conv2d(3, 40, 5, rng=rng), 75),
    (lambda rng: nn.Conv1d(4, 30, 3, rng=rng), 12),
])
def test_default_init_is_pytorch_uniform_one_over_sqrt_fan_in(make, fan_in):
    layer = make(0)
    bound = 1 / math.sqrt(fan_in)
    for p in (layer.weight, layer.bias):
        w = p.numpy()
        assert np.abs(w).max() <= bound and np.abs(w).max() > 0.9 * bound
    assert layer.weight.data.std() == pytest.approx(bound / math.sqrt(3), rel=0.1)
    np.testing.assert_array_equal(make(0).weight.data, layer.weight.data)  # seeds reproduce
    np.testing.assert_array_equal(make(np.random.default_rng(0)).weight.data, layer.weight.data)
    assert not np.array_equal(make(1).weight.data, layer.weight.data)
    assert not np.array_equal(make(None).weight.data, make(None).weight.data)  # fresh generator


@pytest.mark.parametrize("fn, kwargs, expected_std", [
    (init.kaiming_uniform_, dict(nonlinearity="relu"), math.sqrt(2 / 100)),
    (init.kaiming_normal_, dict(nonlinearity="relu", mode="fan_out"), math.sqrt(2 / 200)),
    (init.kaiming_normal_, dict(a=1.0), math.sqrt(1 / 100)),
    (init.xavier_uniform_, dict(gain=2.0), 2 * math.sqrt(2 / 300)),
    (init.xavier_normal_, dict(), math.sqrt(2 / 300)),
    (init.normal_, dict(mean=0.0, std=0.01), 0.01),
    (init.uniform_, dict(a=-1.0, b=1.0), 1 / math.sqrt(3)),
])
def test_random_initialisers_have_the_documented_spread(fn, kwargs, expected_std):
    w = nn.Parameter(np.empty((200, 100), dtype=np.float64))  # fan_in 100, fan_out 200
    assert fn(w, rng=0, **kwargs) is w
    assert w.data.std() == pytest.approx(expected_std, rel=0.03)
    first = w.data.copy()
    fn(w, rng=0, **kwargs)
    np.testing.assert_array_equal(w.data, first)
    with pytest.raises(TypeError, match="numpy Generator or a non-negative int seed"):
        fn(w, rng=None, **kwargs)


def test_kaiming_uniform_bound_and_gain_table():
    w = nn.Parameter(np.empty((64, 16, 3, 3), dtype=np.float32))
    init.kaiming_uniform_(w, a=math.sqrt(5), rng=np.random.default_rng(3))
    assert w.dtype == np.float32 and np.abs(w.data).max() <= 1 / math.sqrt(16 * 9)
    assert init.calculate_gain("relu") == pytest.approx(math.sqrt(2))
    assert init.calculate_gain("tanh") == pytest.approx(5 / 3)
    assert init.calculate_gain("leaky_relu", math.sqrt(5)) == pytest.approx(math.sqrt(1 / 3))
    assert init.calculate_fans((8, 4, 3, 3)) == (36, 72)
    with pytest.raises(ValueError, match="at least 2 dims"):
        init.xavier_uniform_(nn.Parameter(np.empty(3)), rng=0)
    with pytest.raises(ValueError, match=r"calculate_gain: nonlinearity must be one of .*'relu'.*, got 'swish'"):
        init.calculate_gain("swish")


@pytest.mark.parametrize("call, exc, match", [
    (lambda w: init.normal_(w, std=-1.0, rng=0), ValueError, r"normal_: std must be a finite number >= 0, got -1.0"),
    (lambda w: init.normal_(w, mean="0", rng=0), TypeError, r"normal_: mean must be a real number"),
    (lambda w: init.uniform_(w, 1.0, 0.0, rng=0), ValueError, r"uniform_: need a <= b, got a=1.0, b=0.0"),
    (lambda w: init.kaiming_normal_(w, mode="fan_avg", rng=0), ValueError, r"init: mode must be one of \('fan_in', 'fan_out'\), got 'fan_avg'"),
    (lambda w: init.kaiming_normal_(w, a="x", rng=0), TypeError, r"calculate_gain: param \(the negative slope\) must be a real number"),
])
def test_initialisers_reject_bad_arguments(call, exc, match):
    w = nn.Parameter(np.zeros((3, 2)))
    with pytest.raises(exc, match=match):
        call(w)
    assert not w.data.any()  # nothing was written


def test_constant_initialisers():
    w = nn.Parameter(np.empty((2, 3)))
    np.testing.assert_array_equal(init.zeros_(w).data, 0)
    np.testing.assert_array_equal(init.ones_(w).data, 1)
    np.testing.assert_array_equal(init.constant_(w, 0.25).data, 0.25)


@pytest.mark.parametrize("make, match", [
    (lambda: nn.Linear(0, 3), "Linear: in_features must be an int >= 1, got 0"),
    (lambda: nn.Linear(2.0, 3), "Linear: in_features must be an int >= 1, got 2.0"),
    (lambda: nn.Linear(2, 3, dtype=np.int32), "Linear: dtype must be np.float32 or np.float64"),
    (lambda: nn.Linear(2, 3, dtype="float16"), "Linear: dtype must be np.float32 or np.float64, got 'float16'"),
    (lambda: nn.Linear(2, 3, rng="seed"), "rng must be"),
    (lambda: nn.Flatten(-1), "Flatten: start_dim must be an int >= 0, got -1"),
    (lambda: nn.LeakyReLU("0.1"), "LeakyReLU: negative_slope must be a real number"),
    (lambda: nn.Conv2d(1, 2, (3, 3, 3)), "kernel_size must be an int or a sequence of 2 ints, got (3, 3, 3)"),
    (lambda: nn.Conv2d(1, 2, 3, padding=-1), "padding must be ints >= 0, got -1"),
    (lambda: nn.MaxPool2d(0), "kernel_size must be ints >= 1, got 0"),
    (lambda: nn.BatchNorm1d(3, momentum=2), "momentum=2"),
    (lambda: nn.Dropout(1.5), "Dropout: p must be a probability in [0, 1], got 1.5"),
    (lambda: nn.Dropout("0.5"), "Dropout: p must be a real number (not a str), got '0.5'"),
    (lambda: nn.LocalResponseNorm(4, mode="within_channel"), "must be odd"),
])
def test_layer_constructors_reject_bad_arguments(make, match):
    with pytest.raises((ValueError, TypeError), match=re.escape(match)):
        make()


def test_batchnorm_rejects_wrong_input_rank():
    with pytest.raises(ValueError, match="BatchNorm2d expects input with 4 dims"):
        nn.BatchNorm2d(3)(Tensor(np.ones((2, 3))))


@pytest.mark.parametrize("momentum", [0.1, None])
def test_batchnorm_layer_matches_torch_over_several_steps(rng, momentum):
    xs = [rng.standard_normal((4, 3, 2, 2)) * 3 + 1 for _ in range(3)] + [rng.standard_normal((2, 3, 2, 2))]

    def batchnorm(torch):  # three training steps, one eval step, the state (live or from the fixture)
        theirs = torch.nn.BatchNorm2d(3, momentum=momentum).double()
        outputs = [theirs(torch.tensor(x)) for x in xs[:3]]
        theirs.eval()
        return {"outputs": [*outputs, theirs(torch.tensor(xs[3]))], "state": theirs.state_dict()}
    theirs = torch_reference("nn", f"BatchNorm2d momentum={momentum}", batchnorm, *xs)
    ours = nn.BatchNorm2d(3, momentum=momentum, **f64)
    for x, y in zip(xs[:3], theirs["outputs"]):
        np.testing.assert_allclose(ours(Tensor(x)).data, y, rtol=1e-10)
    ours.eval()
    np.testing.assert_allclose(ours(Tensor(xs[3])).data, theirs["outputs"][3], rtol=1e-10)
    theirs_state = theirs["state"]
    assert list(ours.state_dict()) == list(theirs_state)
    for k, v in ours.state_dict().items():
        np.testing.assert_allclose(v, theirs_state[k], rtol=1e-12)


# ---------------------------------------------------------------------------- dropout
def test_dropout_same_seed_same_mask_and_gradient_is_the_mask():
    x = Tensor(np.ones((50, 40)), requires_grad=True)
    y1 = F.dropout(x, 0.25, rng=np.random.default_rng(5))
    y2 = F.dropout(x, 0.25, rng=np.random.default_rng(5))
    y3 = F.dropout(x, 0.25, rng=np.random.default_rng(6))
    np.testing.assert_array_equal(y1.data, y2.data)
    assert not np.array_equal(y1.data, y3.data)
    assert set(np.unique(y1.data)) == {0.0, 1 / 0.75}
    y1.sum().backward()
    np.testing.assert_array_equal(x.grad, y1.data)  # d(sum y)/dx = mask / (1 - p)


def test_dropout_expectation_is_preserved():
    p, n = 0.3, 200_000
    y = F.dropout(Tensor(np.ones(n)), p, rng=np.random.default_rng(0)).data
    sigma = math.sqrt(p / (1 - p) / n)  # std of the mean of n i.i.d. mask/(1-p) values
    assert abs(y.mean() - 1) < 4 * sigma
    assert abs((y == 0).mean() - p) < 4 * math.sqrt(p * (1 - p) / n)


def test_dropout_identity_cases_and_errors():
    x = Tensor(np.arange(6.0))
    assert F.dropout(x, 0.5, training=False) is x
    assert F.dropout(x, 0.0, rng=None) is x
    np.testing.assert_array_equal(F.dropout(x, 1.0, rng=np.random.default_rng(0)).data, 0)
    with pytest.raises(TypeError, match="rng must be a numpy Generator"):
        F.dropout(x, 0.5)
    with pytest.raises(TypeError, match="rng must be a numpy Generator"):
        F.dropout(x, 0.5, rng=3)
    for p in (-0.1, 1.1, float("nan")):
        with pytest.raises(ValueError, match="must be a probability"):
            F.dropout(x, p, rng=np.random.default_rng(0))


def test_dropout_layer_advances_its_generator_and_is_identity_in_eval():
    a, b = nn.Dropout(0.5, rng=9), nn.Dropout(0.5, rng=9)
    x = Tensor(np.ones((8, 8), dtype=np.float32))
    ya1, ya2, yb1 = a(x).data, a(x).data, b(x).data
    assert not np.array_equal(ya1, ya2)
    np.testing.assert_array_equal(ya1, yb1)
    assert ya1.dtype == np.float32
    assert a.eval()(x) is x


def test_dropout_mask_is_the_same_on_every_device(device):
    x = Tensor(np.ones((4, 6), dtype=np.float32), device=device)
    y = F.dropout(x, 0.5, rng=np.random.default_rng(1))
    ref = F.dropout(Tensor(np.ones((4, 6), dtype=np.float32)), 0.5, rng=np.random.default_rng(1))
    assert y.device == device
    np.testing.assert_array_equal(y.numpy(), ref.numpy())


# ---------------------------------------------------------------------------- learning
def two_spirals(rng, n_per_class=100, noise=0.02):
    """Two interleaved spirals in [-1, 1]^2, labels 0 and 1."""
    t = np.sqrt(rng.random((2, n_per_class))) * 3 * np.pi
    xs, ys = [], []
    for label, sign in enumerate((1.0, -1.0)):
        pts = sign * np.stack([t[label] * np.cos(t[label]), t[label] * np.sin(t[label])], axis=1) / (3 * np.pi)
        xs.append(pts + noise * rng.standard_normal(pts.shape))
        ys.append(np.full(n_per_class, label))
    return np.concatenate(xs).astype(np.float32), np.concatenate(ys)


def train_mlp(seed, steps, with_noise_layers=False):
    """Full-batch SGD with momentum on the spirals; returns (model, train data)."""
    rng = np.random.default_rng(seed)
    x, y = two_spirals(rng)
    extra = [nn.BatchNorm1d(32), nn.Dropout(0.05, rng=rng)] if with_noise_layers else []
    model = nn.Sequential(nn.Linear(2, 32, rng=rng), nn.Tanh(), *extra, nn.Linear(32, 32, rng=rng), nn.Tanh(),
                          nn.Linear(32, 2, rng=rng))
    opt = tn.optim.SGD(model.parameters(), lr=0.2, momentum=0.9)
    for _ in range(steps):
        loss = F.cross_entropy(model(Tensor(x)), y)
        opt.zero_grad()
        loss.backward()
        opt.step()
    return model, (x, y)


def test_mlp_learns_two_spirals():
    model, (x, y) = train_mlp(seed=0, steps=500)
    x_test, y_test = two_spirals(np.random.default_rng(123))
    with tn.no_grad():
        train_acc = (model(Tensor(x)).data.argmax(1) == y).mean()
        test_acc = (model(Tensor(x_test)).data.argmax(1) == y_test).mean()
    assert train_acc > 0.95 and test_acc > 0.95, (train_acc, test_acc)


def test_same_seed_gives_a_bit_identical_run():
    a, _ = train_mlp(seed=4, steps=15, with_noise_layers=True)
    b, _ = train_mlp(seed=4, steps=15, with_noise_layers=True)
    c, _ = train_mlp(seed=5, steps=15, with_noise_layers=True)
    sa, sb, sc = a.state_dict(), b.state_dict(), c.state_dict()
    assert list(sa) == list(sb)
    for k in sa:
        np.testing.assert_array_equal(sa[k], sb[k])
    assert not np.array_equal(sa["0.weight"], sc["0.weight"])


# ---------------------------------------------------------------------------- layers pass their arguments on
SHAPE_CASES = [  # (layer, input shape, expected output shape from the PyTorch size formulas)
    (lambda: nn.Conv1d(2, 3, 3, stride=2, padding=1, rng=0), (2, 2, 7), (2, 3, 4)),
    (lambda: nn.Conv2d(2, 3, (3, 2), stride=(2, 1), padding=(1, 0), rng=0), (2, 2, 5, 4), (2, 3, 3, 3)),
    (lambda: nn.MaxPool1d(3, 2, padding=1), (2, 2, 7), (2, 2, 4)),
    (lambda: nn.MaxPool2d(3, 2, ceil_mode=True), (1, 2, 6, 6), (1, 2, 3, 3)),
    (lambda: nn.AvgPool2d(3, 2), (1, 2, 6, 6), (1, 2, 2, 2)),
    (lambda: nn.AvgPool1d(2), (1, 2, 5), (1, 2, 2)),
    (lambda: nn.Flatten(), (2, 3, 4, 5), (2, 60)),
    (lambda: nn.Flatten(2), (2, 3, 4, 5), (2, 3, 20)),
]


@pytest.mark.parametrize("make, in_shape, out_shape", SHAPE_CASES)
def test_layer_output_shapes(make, in_shape, out_shape):
    assert make()(Tensor(np.zeros(in_shape, np.float32))).shape == out_shape


TORCH_LAYERS = [  # (ours, torch constructor name, torch kwargs, input shape)
    (lambda: nn.Conv2d(2, 3, (3, 2), stride=(2, 1), padding=(1, 0), rng=0, **f64), "Conv2d",
     dict(in_channels=2, out_channels=3, kernel_size=(3, 2), stride=(2, 1), padding=(1, 0)), (2, 2, 5, 4)),
    (lambda: nn.Conv1d(2, 3, 3, stride=2, padding=1, bias=False, rng=0, **f64), "Conv1d",
     dict(in_channels=2, out_channels=3, kernel_size=3, stride=2, padding=1, bias=False), (2, 2, 7)),
    (lambda: nn.MaxPool2d(3, 2, padding=1, ceil_mode=True), "MaxPool2d",
     dict(kernel_size=3, stride=2, padding=1, ceil_mode=True), (2, 2, 6, 7)),
    (lambda: nn.AvgPool2d(3, 2, padding=1, ceil_mode=True, count_include_pad=False), "AvgPool2d",
     dict(kernel_size=3, stride=2, padding=1, ceil_mode=True, count_include_pad=False), (2, 2, 6, 7)),
    (lambda: nn.AvgPool1d(3, 2, padding=1), "AvgPool1d", dict(kernel_size=3, stride=2, padding=1), (2, 2, 8)),
    (lambda: nn.MaxPool1d(2), "MaxPool1d", dict(kernel_size=2), (2, 2, 8)),
    (lambda: nn.LocalResponseNorm(3, alpha=0.5, beta=0.7, k=2.0), "LocalResponseNorm",
     dict(size=3, alpha=0.5, beta=0.7, k=2.0), (2, 5, 3, 3)),
    (lambda: nn.LeakyReLU(0.2), "LeakyReLU", dict(negative_slope=0.2), (3, 4)),
]


@pytest.mark.parametrize("make, torch_name, torch_kwargs, shape", TORCH_LAYERS)
def test_layer_matches_torch_with_the_same_weights(rng, make, torch_name, torch_kwargs, shape):
    ours = make()
    weights = ours.state_dict()
    x = rng.standard_normal(shape)

    def layer(torch):  # torch's layer with our weights (live with torch, else from the fixture)
        theirs = getattr(torch.nn, torch_name)(**torch_kwargs).double()
        theirs.load_state_dict({k: torch.tensor(v) for k, v in weights.items()})
        return theirs(torch.tensor(x))
    y = torch_reference("nn", f"{torch_name} {torch_kwargs} {shape}", layer, x, *weights.values())
    np.testing.assert_allclose(ours(Tensor(x)).data, y, rtol=1e-10)


def test_no_name_is_both_an_autograd_function_and_a_layer():
    """tinynet.functional's Functions end in Fn (ReLUFn, LinearFn, ...), so ``ReLU`` means the layer only."""
    import importlib
    import pkgutil

    from tinynet.autograd import Function

    fns = {name for info in pkgutil.iter_modules(F.__path__)
           for name, obj in vars(importlib.import_module(f"tinynet.functional.{info.name}")).items()
           if isinstance(obj, type) and issubclass(obj, Function) and obj is not Function}
    layers = {name for name, obj in vars(nn).items() if isinstance(obj, type) and issubclass(obj, nn.Module)}
    assert {"ReLUFn", "LinearFn", "DropoutFn", "LocalResponseNormFn", "CrossEntropyFn"} <= fns
    assert all(name.endswith("Fn") for name in fns) and not fns & layers


@pytest.mark.parametrize("layer", [nn.LeakyReLU(), nn.Linear(3, 2, rng=0)], ids=["LeakyReLU", "Linear"])
def test_layers_refuse_integer_input_by_name(layer):
    with pytest.raises(TypeError, match=r"(leaky_relu: input must be floating point|linear: input has dtype int64)"):
        layer(Tensor(np.ones((2, 3), dtype=np.int64)))
