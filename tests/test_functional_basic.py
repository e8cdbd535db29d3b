"""Activations, linear and losses: float64 gradchecks, known values, stability, bad input."""
import numpy as np
import pytest

import tinynet as tn
import tinynet.functional as F

from helpers import t64
from tinynet import Tensor



ACTIVATIONS = {
    "relu": F.relu, "leaky_relu": lambda x: F.leaky_relu(x, 0.1), "sigmoid": F.sigmoid, "tanh": F.tanh,
    "softmax": F.softmax, "log_softmax": F.log_softmax, "softmax_dim0": lambda x: F.softmax(x, dim=0),
    "log_softmax_dim0": lambda x: F.log_softmax(x, dim=0),
}


@pytest.mark.parametrize("name", ACTIVATIONS)
@pytest.mark.parametrize("shape", [(5,), (3, 4), (2, 3, 4)])
def test_activations_gradcheck(rng, name, shape):
    x = t64(rng, *shape)
    x.data[np.abs(x.data) < 1e-3] = 0.1  # relu kinks
    assert tn.gradcheck(ACTIVATIONS[name], [x])


@pytest.mark.parametrize("x_shape", [(4, 3), (2, 5, 3), (3,)])
@pytest.mark.parametrize("bias", [True, False])
def test_linear_gradcheck(rng, x_shape, bias):
    x, w = t64(rng, *x_shape), t64(rng, 2, 3)
    inputs = [x, w] + ([t64(rng, 2)] if bias else [])
    assert tn.gradcheck(lambda *a: F.linear(*a), inputs)


def test_linear_matches_matmul(rng):
    x, w, b = (rng.standard_normal(s) for s in [(4, 3), (2, 3), (2,)])
    np.testing.assert_allclose(F.linear(Tensor(x), Tensor(w), Tensor(b)).data, x @ w.T + b)


@pytest.mark.parametrize("reduction", ["mean", "sum", "none"])
def test_cross_entropy_gradcheck_and_value(rng, reduction):
    z, t = t64(rng, 5, 4), np.array([0, 3, 1, 1, 2])
    assert tn.gradcheck(lambda z: F.cross_entropy(z, t, reduction=reduction), [z])
    logp = z.data - np.log(np.exp(z.data).sum(1, keepdims=True))
    per = -logp[np.arange(5), t]
    expected = {"mean": per.mean(), "sum": per.sum(), "none": per}[reduction]
    np.testing.assert_allclose(F.cross_entropy(z, Tensor(t), reduction=reduction).data, expected, rtol=1e-12)


def test_cross_entropy_gradient_is_softmax_minus_onehot(rng):
    z = Tensor(rng.standard_normal((3, 4)), requires_grad=True, dtype=np.float64)
    t = np.array([2, 0, 3])
    F.cross_entropy(z, t, reduction="sum").backward()
    p = np.exp(z.data) / np.exp(z.data).sum(1, keepdims=True)
    np.testing.assert_allclose(z.grad, p - np.eye(4)[t], rtol=1e-12)


@pytest.mark.parametrize("scale", [1e4, 1e30, 3e38])
def test_log_softmax_and_cross_entropy_stay_finite(rng, scale):
    z = Tensor(np.clip(rng.standard_normal((4, 5)) * scale, -3e38, 3e38), dtype=np.float32, requires_grad=True)
    assert np.all(np.isfinite(F.log_softmax(z).data))
    loss = F.cross_entropy(z, np.array([0, 1, 2, 3]))
    loss.backward()
    assert np.isfinite(loss.item()) and np.all(np.isfinite(z.grad))


def test_sigmoid_is_stable_for_large_inputs():
    y = F.sigmoid(Tensor([-1e4, 0.0, 1e4]))
    np.testing.assert_allclose(y.data, [0.0, 0.5, 1.0])


def test_mse_loss(rng):
    x, y = t64(rng, 3, 2), rng.standard_normal((3, 2))
    assert tn.gradcheck(lambda x: F.mse_loss(x, y), [x])
    assert F.mse_loss(x, y).item() == pytest.approx(((x.data - y) ** 2).mean())


@pytest.mark.parametrize("target,exc,match", [
    (np.array([0, 1, 5]), ValueError, "class index 5 is out of range for 4 classes"),
    (np.array([0, -1, 2]), ValueError, "class index -1"),
    (np.array([0, 1]), ValueError, r"target shape \(2,\) does not match logits shape \(3, 4\)"),
    (np.array([0.0, 1.0, 2.0]), TypeError, "integer class indices"),
])
def test_cross_entropy_bad_targets(rng, target, exc, match):
    with pytest.raises(exc, match=match):
        F.cross_entropy(t64(rng, 3, 4), target)


def f32(*shape, dtype=np.float32):
    return Tensor(np.zeros(shape, dtype=dtype))


BAD_CALLS = [
    (lambda: F.cross_entropy(f32(3, 4), np.array([0, 1, 2]), reduction="avg"), ValueError,
     r"cross_entropy: reduction must be one of \('mean', 'sum', 'none'\), got 'avg'"),
    (lambda: F.cross_entropy(np.zeros((3, 4)), np.array([0, 1, 2])), TypeError,
     r"cross_entropy: input must be a tinynet Tensor, got ndarray"),
    (lambda: F.cross_entropy(f32(3, 4, dtype=np.int64), np.array([0, 1, 2])), TypeError,
     r"cross_entropy: input must be floating point, got dtype int64; convert with .astype\(np.float32\)"),
    (lambda: F.cross_entropy(f32(4), np.array([0])), ValueError, r"input must be 2-D \(N, C\) logits, got shape \(4,\)"),
    (lambda: F.cross_entropy(f32(0, 4), np.zeros(0, np.int64)), ValueError,
     r"shape \(0, 4\) hold no samples.*mean loss of an empty batch is undefined"),
    (lambda: F.cross_entropy(f32(2, 0), np.zeros(2, np.int64)), ValueError, r"have no classes"),
    (lambda: F.linear(f32(4, 5), f32(2, 3)), ValueError,
     r"input shape \(4, 5\) must end in the weight's in_features=3 \(weight shape \(2, 3\)"),
    (lambda: F.linear(np.zeros((4, 3), np.float32), f32(2, 3)), TypeError, r"linear: input must be a tinynet Tensor, got ndarray"),
    (lambda: F.linear(f32(), f32(2, 3)), ValueError, r"linear: input shape \(\) must end in the weight's in_features=3"),
    (lambda: F.linear(f32(4, 3, dtype=np.float64), f32(2, 3)), TypeError,
     r"linear: input has dtype float64 but weight has dtype float32; convert with .astype\(np.float32\)"),
    (lambda: F.linear(f32(4, 3, dtype=np.int64), f32(2, 3)), TypeError, r"input has dtype int64 but weight has dtype float32"),
    (lambda: F.linear(f32(4, 3), f32(3)), ValueError, r"weight must be 2-D \(out_features, in_features\), got shape \(3,\)"),
    (lambda: F.linear(f32(4, 3), f32(2, 3), f32(3)), ValueError, r"bias shape \(3,\) must be \(2,\)"),
    (lambda: F.linear(f32(4, 3), f32(2, 3), f32(2, dtype=np.float64)), TypeError, r"bias has dtype float64 but weight"),
    (lambda: F.linear(f32(4, 3), f32(2, 3), np.zeros(2)), TypeError, r"bias must be a tinynet Tensor"),
    (lambda: F.flatten(f32(2, 3), 2), ValueError, r"flatten: start_dim must be an int in -2..1 for input of shape \(2, 3\), got 2"),
    (lambda: F.flatten(f32(2, 3), -3), ValueError, r"start_dim must be an int in -2..1"),
    (lambda: F.flatten(np.zeros((2, 3)), 1), TypeError, r"flatten: input must be a tinynet Tensor"),
    (lambda: F.softmax(f32(3, dtype=np.int64)), TypeError, r"softmax: input must be floating point, got dtype int64"),
    (lambda: F.log_softmax(f32(3, dtype=np.int32)), TypeError, r"log_softmax: input must be floating point"),
    (lambda: F.leaky_relu(f32(3, dtype=np.int64)), TypeError, r"leaky_relu: input must be floating point"),
    (lambda: F.softmax(np.zeros(3)), TypeError, r"softmax: input must be a tinynet Tensor"),
    (lambda: F.relu(np.zeros(3)), TypeError, r"ReLUFn: inputs must be tinynet Tensors, got a ndarray"),
    (lambda: F.tanh([1.0]), TypeError, r"TanhFn: inputs must be tinynet Tensors, got a list"),
    (lambda: F.leaky_relu(f32(3), "0.1"), TypeError, r"leaky_relu: negative_slope must be a real number \(not a str\), got '0.1'"),
    (lambda: F.mse_loss(f32(3), np.ones(4)), ValueError, r"mse_loss: input shape \(3,\) and target shape \(4,\) differ"),
    (lambda: F.mse_loss(np.ones(3), np.ones(3)), TypeError, r"mse_loss: input must be a tinynet Tensor"),
]


@pytest.mark.parametrize("call, exc, match", BAD_CALLS)
def test_bad_calls_name_the_argument(call, exc, match):
    with pytest.raises(exc, match=match):
        call()


@pytest.mark.parametrize("shape, start_dim, expected", [
    ((2, 3, 4), 1, (2, 12)), ((2, 3, 4), 0, (24,)), ((2, 3, 4), -1, (2, 3, 4)), ((2, 3, 4), -2, (2, 12)), ((), 0, (1,)),
])
def test_flatten_like_torch(shape, start_dim, expected):
    assert F.flatten(f32(*shape), start_dim).shape == expected


def test_float64_data_into_a_float32_layer_fails_at_the_layer_not_at_step():
    layer = tn.nn.Linear(3, 2, rng=0)
    with pytest.raises(TypeError, match=r"input has dtype float64 but weight has dtype float32"):
        layer(Tensor(np.ones((4, 3))))
    layer(Tensor(np.ones((4, 3)), dtype=np.float32))  # what the message says to do works


@pytest.mark.parametrize("reduction, expected_shape", [("sum", ()), ("none", (0,))])
def test_cross_entropy_of_an_empty_batch_with_sum_or_none(reduction, expected_shape):
    loss = F.cross_entropy(Tensor(np.zeros((0, 3)), requires_grad=True), np.zeros(0, np.int64), reduction=reduction)
    assert loss.shape == expected_shape and loss.numpy().sum() == 0


@pytest.mark.gpu
def test_cross_entropy_out_of_range_gpu_targets_give_nan_not_another_class(device):
    """Targets already on the GPU are not read on the host (no sync per step): a bad index makes
    that sample's loss and gradient row NaN; CuPy's indexing alone would wrap it to a valid class."""
    if device == "cpu":
        pytest.skip("GPU-only test")
    on_gpu = lambda *ints: tn.backend.to_device(np.array(ints), "cuda")  # noqa: E731
    z = Tensor(np.zeros((3, 4)), device="cuda", requires_grad=True)
    loss = F.cross_entropy(z, on_gpu(0, 7, 2), reduction="none")
    assert np.isnan(loss.numpy()).tolist() == [False, True, False]
    loss.sum().backward()
    assert np.isnan(tn.backend.to_numpy(z.grad)).all(axis=1).tolist() == [False, True, False]
    good = F.cross_entropy(z, on_gpu(0, 3, 2))  # valid targets on the GPU: a finite loss
    assert np.isfinite(good.item()) and good.item() == pytest.approx(np.log(4))


def test_a_nan_logit_makes_its_sample_loss_nan_without_an_error():
    """docs/autograd.md section 8: no finiteness check per step (it would sync the GPU); the NaN
    reaches the loss, where the training loop and the range test stop."""
    z = Tensor([[np.nan, 0.0], [1.0, 0.0]], dtype=np.float64, requires_grad=True)
    loss = F.cross_entropy(z, np.array([0, 1]), reduction="none")
    assert np.isnan(loss.numpy()).tolist() == [True, False]
    assert np.isnan(F.cross_entropy(z, np.array([0, 1])).item())


@pytest.mark.parametrize("targets_on", ["cpu", "cuda"])
def test_cross_entropy_checks_targets_without_waiting_for_the_gpu(standin, targets_on):
    """Host targets are range-checked on the host; GPU targets are never read back: 0 syncs."""
    z = Tensor(np.zeros((4, 3)), device="cuda", requires_grad=True)
    t = tn.backend.to_device(np.array([0, 1, 2, 1]), targets_on)
    standin.COUNTS.reset()
    F.cross_entropy(z, t).backward()
    assert standin.COUNTS.syncs == 0, dict(standin.COUNTS.sync_sites)
