"""The saddle-plateau toy: analytic gradient, minimum, and the behaviour the CLR demo relies on."""
import numpy as np
import pytest

from tinynet.data import SaddleToy, descend

TOY = SaddleToy()


def triangular(lo, hi, half_cycle):
    """Smith's triangular policy, written out here so that the test depends on nothing else."""
    def lr(t):
        phase = (t % (2 * half_cycle)) / half_cycle      # 0 -> 2 over a cycle
        return lo + (hi - lo) * (1 - abs(phase - 1))      # lo at t = 0, hi at mid-cycle
    return lr


@pytest.mark.parametrize("toy", [TOY, SaddleToy(w=0.4, slope=0.3, tip=0.1, k=2.0, m=1.0)])
@pytest.mark.parametrize("point", [(-5.0, 1.5), (-2.6, 0.3), (-2.5, -1.0), (0.1, 0.02), (2.5, 0.0),
                                   (2.51, -0.015), (3.7, 0.8)])
def test_gradient_matches_central_differences(toy, point):
    x, y, eps = *point, 1e-6
    numeric = ((toy.loss(x + eps, y) - toy.loss(x - eps, y)) / (2 * eps),
               (toy.loss(x, y + eps) - toy.loss(x, y - eps)) / (2 * eps))
    np.testing.assert_allclose(toy.grad(x, y), numeric, rtol=1e-6, atol=1e-8)


def test_loss_and_grad_broadcast():
    xs, ys = np.meshgrid(np.linspace(-6, 4, 7), np.linspace(-2, 2, 5))
    assert TOY.loss(xs, ys).shape == (5, 7)
    gx, gy = TOY.grad(xs, ys)
    assert gx.shape == gy.shape == (5, 7)
    assert gx[2, 3] == TOY.grad(xs[2, 3], ys[2, 3])[0]


def test_hand_values():
    # far left: both cliffs are up (2 h), plus the cone at distance 7.5 from the tip
    expected = 2.0 + 0.1 * (np.sqrt(7.5 ** 2 + 0.02 ** 2) - 0.02)
    assert TOY.loss(-5.0, 0.0) == pytest.approx(expected, abs=1e-6)
    # at a cliff centre that cliff is half up (sigma(0) = 1/2) and its slope is -h / (4 w)
    assert TOY.loss(-2.5, 0.0) == pytest.approx(1.5 + 0.1 * (np.sqrt(25 + 4e-4) - 0.02), abs=1e-6)
    assert TOY.grad(-2.5, 0.0)[0] == pytest.approx(-1 / 0.6 - 0.1, abs=1e-6)


def test_minimum_is_where_the_gradient_vanishes():
    x, y = TOY.minimum()
    assert y == 0.0 and abs(x - TOY.m) < 1e-6
    assert abs(TOY.grad(x, y)[0]) < 1e-12
    around = TOY.loss(x + np.array([-1e-3, 1e-3, 0, 0]), y + np.array([0, 0, -1e-3, 1e-3]))
    assert np.all(around > TOY.loss(x, y))


def test_plateaus_are_flat_and_saddle_shaped():
    x = np.array([-4.0, -1.25])  # the middle of plateau 1 and of plateau 2
    assert np.all(np.abs(TOY.grad(x, 0.0)[0]) < 0.11)          # against 1.77 on a cliff
    # just above a cliff the surface bends down along x and up along y
    h = 1e-4
    for edge in (-2.8, -0.3):
        fxx = (TOY.loss(edge + h, 0) - 2 * TOY.loss(edge, 0) + TOY.loss(edge - h, 0)) / h ** 2
        fyy = (TOY.loss(edge, h) - 2 * TOY.loss(edge, 0) + TOY.loss(edge, -h)) / h ** 2
        assert fxx < 0 < fyy


def test_a_decent_lr_reaches_the_minimum():
    path = descend(TOY, 0.1, 1000)
    assert path.shape == (1001, 2)
    np.testing.assert_array_equal(path[0], TOY.start)
    np.testing.assert_allclose(path[-1], TOY.minimum(), atol=1e-3)


def test_the_clr_story():
    """Small lr: stuck on plateau 1. Large lr: crosses fast, never settles. Cyclical: both."""
    small = descend(TOY, 0.01, 1000)
    assert small[:, 0].max() < TOY.s1
    large = descend(TOY, 1.0, 1000)
    assert np.argmax(large[:, 0] > TOY.s2) < 50
    assert np.hypot(*(large[-1] - TOY.minimum())) > 0.05
    cyclic = descend(TOY, triangular(0.01, 1.0, 100), 1000)
    assert np.argmax(cyclic[:, 0] > TOY.s2) < 150
    np.testing.assert_allclose(cyclic[-1], TOY.minimum(), atol=1e-3)


def test_noise_is_reproducible_with_a_generator():
    a = descend(TOY, 0.1, 200, noise=0.1, rng=np.random.default_rng(3))
    b = descend(TOY, 0.1, 200, noise=0.1, rng=np.random.default_rng(3))
    c = descend(TOY, 0.1, 200, noise=0.1, rng=np.random.default_rng(4))
    np.testing.assert_array_equal(a, b)
    assert not np.array_equal(a, c)
    assert not np.array_equal(a, descend(TOY, 0.1, 200))


def test_start_and_schedule_arguments():
    seen = []
    path = descend(TOY, lambda t: seen.append(t) or 0.0, 3, start=(1.0, 2.0))
    assert seen == [0, 1, 2]
    np.testing.assert_array_equal(path, [[1.0, 2.0]] * 4)


@pytest.mark.parametrize("kwargs, error, match", [
    (dict(lr=0.1, steps=-1), ValueError, "steps must be an int >= 0"),
    (dict(lr=-0.1, steps=5), ValueError, "learning rate at step 0 is -0.1"),
    (dict(lr=lambda t: np.nan if t == 2 else 0.1, steps=5), ValueError, "at step 2 is nan"),
    (dict(lr=0.1, steps=5, noise=0.1), TypeError, "needs rng"),
    (dict(lr=0.1, steps=5, noise=-1.0), ValueError, "noise must be >= 0"),
    (dict(lr=5.0, steps=2000), FloatingPointError, "diverged at step"),
])
def test_bad_arguments_and_divergence(kwargs, error, match):
    with pytest.raises(error, match=match):
        descend(TOY, **kwargs)
