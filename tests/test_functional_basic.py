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


def test_bad_reduction_and_linear_shape(rng):
    with pytest.raises(ValueError, match="reduction='avg'"):
        F.cross_entropy(t64(rng, 3, 4), np.array([0, 1, 2]), reduction="avg")
    with pytest.raises(ValueError, match=r"input has 5 features.*\(2, 3\)"):
        F.linear(t64(rng, 4, 5), t64(rng, 2, 3))
    with pytest.raises(ValueError, match="mse_loss"):
        F.mse_loss(t64(rng, 3), np.ones(4))
