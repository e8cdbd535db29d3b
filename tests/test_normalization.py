"""batch_norm and local_response_norm: hand-computed values, loop references, float64 gradchecks,
PyTorch cross-checks (when torch imports) and bad input."""
import numpy as np
import pytest

import tinynet as tn
import tinynet.functional as F

from helpers import t64
from torch_reference import torch_reference
from tinynet import Tensor

SHAPES = [(6, 3), (4, 3, 5), (3, 3, 2, 4)]



def running_stats(rng, c):
    return Tensor(rng.standard_normal(c)), Tensor(rng.random(c) + 0.5)


# ---------------------------------------------------------------------------- batch norm
@pytest.mark.parametrize("shape", SHAPES)
@pytest.mark.parametrize("training", [True, False])
@pytest.mark.parametrize("affine", [True, False])
def test_batch_norm_gradcheck(rng, shape, training, affine):
    c = shape[1]
    x = t64(rng, *shape)
    rm, rv = running_stats(rng, c)
    params = [t64(rng, c), t64(rng, c)] if affine else []
    names = ["x", "weight", "bias"][:1 + len(params)]

    def fn(x, *wb):
        return F.batch_norm(x, rm, rv, *wb, training=training)

    assert tn.gradcheck(fn, [x] + params, names=names)


@pytest.mark.parametrize("which", ["weight", "bias"])
def test_batch_norm_gradcheck_weight_or_bias_only(rng, which):
    x, p = t64(rng, 5, 2, 3), t64(rng, 2)
    kwargs = {which: p}
    assert tn.gradcheck(lambda x, p: F.batch_norm(x, None, None, training=True, **kwargs), [x, p])


def test_batch_norm_hand_computed_training_step():
    # channel 0: 1, 3, 5 -> mean 3, biased var 8/3, unbiased 4
    # channel 1: 2, 6, 10 -> mean 6, biased var 32/3, unbiased 16
    x = Tensor(np.array([[1.0, 2.0], [3.0, 6.0], [5.0, 10.0]]), dtype=np.float64)
    rm, rv = Tensor(np.zeros(2)), Tensor(np.ones(2))
    w, b = Tensor(np.array([2.0, -1.0])), Tensor(np.array([0.5, 0.25]))
    y = F.batch_norm(x, rm, rv, w, b, training=True, momentum=0.1, eps=1e-5)
    np.testing.assert_allclose(rm.data, [0.3, 0.6], rtol=1e-14)
    np.testing.assert_allclose(rv.data, [0.9 + 0.1 * 4, 0.9 + 0.1 * 16], rtol=1e-14)
    expected = np.stack([2 * (np.array([1, 3, 5]) - 3) / np.sqrt(8 / 3 + 1e-5) + 0.5,
                         -(np.array([2, 6, 10]) - 6) / np.sqrt(32 / 3 + 1e-5) + 0.25], axis=1)
    np.testing.assert_allclose(y.data, expected, rtol=1e-13)

    # a second batch: the running averages accumulate
    x2 = Tensor(np.array([[0.0, 1.0], [2.0, 1.0]]), dtype=np.float64)  # means 1, 1; unbiased vars 2, 0
    F.batch_norm(x2, rm, rv, training=True, momentum=0.5)
    np.testing.assert_allclose(rm.data, [0.5 * 0.3 + 0.5 * 1, 0.5 * 0.6 + 0.5 * 1], rtol=1e-14)
    np.testing.assert_allclose(rv.data, [0.5 * 1.3 + 0.5 * 2, 0.5 * 2.5 + 0.5 * 0], rtol=1e-14)

    # evaluation normalises with the running statistics and leaves them alone
    y = F.batch_norm(x, rm, rv, w, b, training=False, eps=1e-5)
    expected_eval = (x.data - rm.data) / np.sqrt(rv.data + 1e-5) * w.data + b.data
    np.testing.assert_allclose(y.data, expected_eval, rtol=1e-13)
    np.testing.assert_allclose(rm.data, [0.65, 0.8], rtol=1e-14)


def test_batch_norm_4d_statistics_are_per_channel_over_n_h_w(rng):
    x = rng.standard_normal((4, 3, 5, 2)) * np.array([1.0, 10.0, 0.1])[:, None, None] + 7
    rm, rv = Tensor(np.zeros(3)), Tensor(np.ones(3))
    y = F.batch_norm(Tensor(x), rm, rv, training=True, momentum=1.0).data
    np.testing.assert_allclose(y.mean(axis=(0, 2, 3)), 0, atol=1e-12)
    np.testing.assert_allclose(y.var(axis=(0, 2, 3)), x.var(axis=(0, 2, 3)) / (x.var(axis=(0, 2, 3)) + 1e-5))
    np.testing.assert_allclose(rm.data, x.mean(axis=(0, 2, 3)), rtol=1e-13)
    np.testing.assert_allclose(rv.data, x.var(axis=(0, 2, 3), ddof=1), rtol=1e-13)


def test_batch_norm_keeps_float32_and_device(rng, device):
    x = Tensor(rng.standard_normal((8, 4, 3)).astype(np.float32), device=device, requires_grad=True)
    rm = Tensor(np.zeros(4, np.float32), device=device)
    rv = Tensor(np.ones(4, np.float32), device=device)
    w = Tensor(np.ones(4, np.float32), device=device, requires_grad=True)
    y = F.batch_norm(x, rm, rv, w, None, training=True)
    y.sum().backward()
    assert y.dtype == x.grad.dtype == w.grad.dtype == rm.dtype == rv.dtype == np.float32
    assert y.device == device


def test_batch_norm_training_without_running_stats(rng):
    x = t64(rng, 5, 2)
    y = F.batch_norm(x, None, None, training=True)
    np.testing.assert_allclose(y.data, (x.data - x.data.mean(0)) / np.sqrt(x.data.var(0) + 1e-5))


@pytest.mark.parametrize("kwargs, error, match", [
    (dict(x_shape=(1, 3)), ValueError, "more than one value per channel"),
    (dict(x_shape=(4,)), ValueError, r"shape \(N, C, \*\)"),
    (dict(c=4), ValueError, r"running_mean has shape \(4,\)"),
    (dict(training=False, stats=False), ValueError, "required when training=False"),
    (dict(momentum=1.5), ValueError, "momentum=1.5"),
    (dict(eps=0.0), ValueError, "eps=0.0"),
    (dict(weight_dtype=np.float32), TypeError, "weight has dtype float32"),
])
def test_batch_norm_bad_input(kwargs, error, match):
    x_shape, c = kwargs.get("x_shape", (4, 3)), kwargs.get("c", 3)
    stats = kwargs.get("stats", True)
    rm, rv = (Tensor(np.zeros(c)), Tensor(np.ones(c))) if stats else (None, None)
    w = Tensor(np.ones(3, dtype=kwargs.get("weight_dtype", np.float64)))
    with pytest.raises(error, match=match):
        F.batch_norm(Tensor(np.ones(x_shape)), rm, rv, w, training=kwargs.get("training", True),
                     momentum=kwargs.get("momentum", 0.1), eps=kwargs.get("eps", 1e-5))


@pytest.mark.parametrize("shape", SHAPES)
@pytest.mark.parametrize("training", [True, False])
def test_batch_norm_matches_torch(rng, shape, training):
    c = shape[1]
    x, w, b, g = (rng.standard_normal(s) for s in (shape, c, c, shape))
    rm0, rv0 = rng.standard_normal(c), rng.random(c) + 0.5

    def batch_norm(torch):  # output, gradients, running stats (live with torch, else from the fixture)
        xt, wt, bt = (torch.tensor(a, requires_grad=True) for a in (x, w, b))
        rmt, rvt = torch.tensor(rm0), torch.tensor(rv0)
        yt = torch.nn.functional.batch_norm(xt, rmt, rvt, wt, bt, training, 0.3, 1e-4)
        yt.backward(torch.tensor(g))
        return [yt, xt.grad, wt.grad, bt.grad, rmt, rvt]
    theirs = torch_reference("normalization", f"batch_norm {shape} training={training}", batch_norm,
                             x, w, b, g, rm0, rv0)
    X, W, B = (Tensor(a, requires_grad=True) for a in (x, w, b))
    rm, rv = Tensor(rm0.copy()), Tensor(rv0.copy())
    y = F.batch_norm(X, rm, rv, W, B, training, 0.3, 1e-4)
    y.backward(g)
    for ours, expected in zip([y.data, X.grad, W.grad, B.grad, rm.data, rv.data], theirs):
        np.testing.assert_allclose(ours, expected, rtol=1e-10, atol=1e-12)


# ---------------------------------------------------------------------------- local response norm
def lrn_loop(x, size, alpha, beta, k, mode):
    """Straight from the formulas, one output element at a time."""
    out = np.empty_like(x)
    C = x.shape[1]
    r = (size - 1) // 2
    for idx in np.ndindex(x.shape):
        n, c, *pos = idx
        if mode == "across_channels":
            window = x[(n, slice(max(0, c - size // 2), min(C, c + (size - 1) // 2 + 1))) + tuple(pos)]
            count = size
        else:
            spatial = tuple(slice(max(0, p - r), p + r + 1) for p in pos)
            window = x[(n, c) + spatial]
            count = size ** len(pos)
        out[idx] = x[idx] / (k + alpha / count * np.sum(window ** 2)) ** beta
    return out


LRN_CASES = [("across_channels", (2, 5, 3), s) for s in (1, 2, 3, 4, 7)] + \
            [("across_channels", (2, 4, 3, 2), s) for s in (3, 5)] + \
            [("within_channel", (2, 2, 5, 4), s) for s in (1, 3, 5)] + \
            [("within_channel", (2, 2, 6), 3)]


@pytest.mark.parametrize("mode, shape, size", LRN_CASES)
def test_lrn_matches_loop_reference(rng, mode, shape, size):
    x = rng.standard_normal(shape) * 2
    y = F.local_response_norm(Tensor(x), size, alpha=0.7, beta=0.75, k=1.3, mode=mode)
    np.testing.assert_allclose(y.data, lrn_loop(x, size, 0.7, 0.75, 1.3, mode), rtol=1e-13)


@pytest.mark.parametrize("mode, shape, size", LRN_CASES)
def test_lrn_gradcheck(rng, mode, shape, size):
    x = t64(rng, *shape)
    assert tn.gradcheck(lambda x: F.local_response_norm(x, size, alpha=0.7, beta=0.75, k=1.3, mode=mode), [x])


def test_lrn_within_channel_hand_computed_caffe_cifar10_full():
    # One 3x3 channel, Caffe's cifar10_full settings: local_size 3, alpha 5e-5, beta 0.75 (k = 1).
    a = np.arange(1.0, 10.0).reshape(1, 1, 3, 3)
    y = F.local_response_norm(Tensor(a), 3, alpha=5e-5, beta=0.75, mode="within_channel").data
    # centre (value 5): the window is the whole image, sum of squares 1 + 4 + ... + 81 = 285
    assert y[0, 0, 1, 1] == pytest.approx(5 / (1 + 5e-5 / 9 * 285) ** 0.75, rel=1e-14)
    # corner (value 1): zero padding leaves 1, 2, 4, 5 -> 1 + 4 + 16 + 25 = 46, still divided by 9
    assert y[0, 0, 0, 0] == pytest.approx(1 / (1 + 5e-5 / 9 * 46) ** 0.75, rel=1e-14)


def test_lrn_across_channels_hand_computed_even_size():
    # size 2: channel c sees channels c-1 and c (PyTorch pads size//2 before, (size-1)//2 after)
    a = np.array([1.0, 2.0, 3.0]).reshape(1, 3, 1)
    y = F.local_response_norm(Tensor(a), 2, alpha=0.5, beta=1.0, k=2.0).data.ravel()
    np.testing.assert_allclose(y, [1 / (2 + 0.25 * 1), 2 / (2 + 0.25 * 5), 3 / (2 + 0.25 * 13)], rtol=1e-14)


def test_lrn_keeps_float32_and_device(rng, device):
    x = Tensor(rng.standard_normal((2, 4, 3, 3)).astype(np.float32), device=device, requires_grad=True)
    for mode in ("across_channels", "within_channel"):
        x.grad = None
        y = F.local_response_norm(x, 3, mode=mode)
        y.sum().backward()
        assert y.dtype == x.grad.dtype == np.float32 and y.device == device
        ref = lrn_loop(x.numpy().astype(np.float64), 3, 1e-4, 0.75, 1.0, mode)
        np.testing.assert_allclose(y.numpy(), ref, rtol=1e-6)


@pytest.mark.parametrize("shape", [(2, 7, 4), (2, 6, 3, 4)])
@pytest.mark.parametrize("size", [1, 2, 3, 5])
def test_lrn_across_channels_matches_torch(rng, shape, size):
    x, g = rng.standard_normal(shape), rng.standard_normal(shape)

    def lrn(torch):  # output and input gradient (live with torch, else from the fixture)
        xt = torch.tensor(x, requires_grad=True)
        yt = torch.nn.functional.local_response_norm(xt, size, alpha=0.3, beta=0.6, k=1.5)
        yt.backward(torch.tensor(g))
        return [yt, xt.grad]
    yt, gx = torch_reference("normalization", f"local_response_norm {shape} size={size}", lrn, x, g)
    X = Tensor(x, requires_grad=True)
    y = F.local_response_norm(X, size, alpha=0.3, beta=0.6, k=1.5)
    y.backward(g)
    np.testing.assert_allclose(y.data, yt, rtol=1e-12)
    np.testing.assert_allclose(X.grad, gx, rtol=1e-10, atol=1e-13)


@pytest.mark.parametrize("kwargs, match", [
    (dict(size=0), "size=0"),
    (dict(size=2.5), "size=2.5"),
    (dict(size=2, mode="within_channel"), "must be odd"),
    (dict(size=3, mode="spatial"), "mode='spatial'"),
    (dict(size=3, shape=(4, 3)), "at least 3 dims"),
])
def test_lrn_bad_input(kwargs, match):
    x = Tensor(np.ones(kwargs.pop("shape", (2, 3, 4))))
    with pytest.raises(ValueError, match=match):
        F.local_response_norm(x, **kwargs)
