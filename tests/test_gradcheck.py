"""gradcheck itself: it passes correct gradients and catches wrong ones with a useful message."""
import numpy as np
import pytest

import tinynet as tn
from tinynet import Tensor
from tinynet.autograd import Function


class WrongSquare(Function):
    """y = x^2 with a deliberately wrong backward (3x instead of 2x)."""

    def forward(self, x):
        self.x = x
        return x * x

    def backward(self, gy):
        return (gy * 3 * self.x,)


@pytest.mark.parametrize("mode", ["full", "direction"])
def test_catches_a_wrong_backward(mode):
    x = Tensor(np.array([1.0, -2.0, 0.5]), dtype=np.float64, requires_grad=True)
    with pytest.raises(tn.GradcheckError, match=r"weights.*analytic .* vs numeric .*eps 1e-06"):
        tn.gradcheck(lambda x: WrongSquare()(x), [x], mode=mode, names=["weights"])


def test_full_mode_names_the_worst_element():
    x = Tensor(np.array([0.0, 0.0, 5.0]), dtype=np.float64, requires_grad=True)
    with pytest.raises(tn.GradcheckError, match=r"element \(2,\)"):
        tn.gradcheck(lambda x: WrongSquare()(x), [x])


@pytest.mark.parametrize("mode", ["full", "direction"])
def test_passes_correct_gradients_and_leaves_inputs_unchanged(mode):
    rng = np.random.default_rng(1)
    x = Tensor(rng.standard_normal((3, 4)), dtype=np.float64, requires_grad=True)
    before = x.data.copy()
    assert tn.gradcheck(lambda x: (x.exp() * x).sum(axis=1), [x], mode=mode)
    np.testing.assert_array_equal(x.data, before)


def test_needs_float64_and_tensors():
    with pytest.raises(TypeError, match="float64"):
        tn.gradcheck(lambda x: x * 2, [Tensor([1.0], requires_grad=True)])
    with pytest.raises(TypeError, match="must be a Tensor"):
        tn.gradcheck(lambda x: x * 2, [np.ones(2)])
    with pytest.raises(ValueError, match="mode="):
        tn.gradcheck(lambda x: x, [Tensor(np.ones(1), requires_grad=True)], mode="fast")
