"""Float64 gradient checks and known values for the primitive ops in tinynet.ops."""
import numpy as np
import pytest

import tinynet as tn

from helpers import t64
from tinynet import Tensor



# (name, fn, input shapes, positive inputs)
BINARY = [
    ("add", lambda a, b: a + b),
    ("sub", lambda a, b: a - b),
    ("mul", lambda a, b: a * b),
    ("div", lambda a, b: a / b),
    ("pow", lambda a, b: a ** b),
]
BROADCAST_SHAPES = [((3, 4), (3, 4)), ((3, 4), (4,)), ((2, 3, 4), (3, 1)), ((1, 4), (3, 1)), ((), (2, 3))]


@pytest.mark.parametrize("name,fn", BINARY, ids=[b[0] for b in BINARY])
@pytest.mark.parametrize("sa,sb", BROADCAST_SHAPES)
def test_binary_ops_gradcheck_with_broadcasting(rng, name, fn, sa, sb):
    positive = name in ("div", "pow")
    a, b = t64(rng, *sa, positive=positive), t64(rng, *sb, positive=positive)
    assert tn.gradcheck(fn, [a, b])


@pytest.mark.parametrize("fn", [
    lambda a: 2.0 * a, lambda a: a * 2, lambda a: 1 - a, lambda a: a - 3, lambda a: 3 / a,
    lambda a: a / 4, lambda a: 2 ** a, lambda a: a ** 3, lambda a: a ** 0.5, lambda a: -a,
    lambda a: a + np.ones(4), lambda a: np.ones(4) * a,
], ids=["rmul", "mul", "rsub", "sub", "rdiv", "div", "rpow", "pow3", "sqrtpow", "neg", "arr_add", "arr_rmul"])
def test_scalar_and_array_operands_both_orders(rng, fn):
    assert tn.gradcheck(fn, [t64(rng, 3, 4, positive=True)])


@pytest.mark.parametrize("sa,sb", [((3, 4), (4, 5)), ((4,), (4, 5)), ((3, 4), (4,)), ((4,), (4,)),
                                   ((2, 3, 4), (4, 5)), ((2, 3, 4), (2, 4, 5)), ((1, 3, 4), (2, 4, 2))])
def test_matmul_gradcheck(rng, sa, sb):
    assert tn.gradcheck(lambda a, b: a @ b, [t64(rng, *sa), t64(rng, *sb)])


@pytest.mark.parametrize("op", ["sum", "mean", "max", "min"])
@pytest.mark.parametrize("axis", [None, 0, 1, -1, (0, 2)])
@pytest.mark.parametrize("keepdims", [False, True])
def test_reductions_gradcheck(rng, op, axis, keepdims):
    x = t64(rng, 2, 3, 4)
    assert tn.gradcheck(lambda x: getattr(x, op)(axis=axis, keepdims=keepdims), [x])


def test_max_shares_gradient_between_ties():
    x = Tensor(np.array([[1.0, 3.0, 3.0], [2.0, 0.0, -1.0]]), requires_grad=True)
    x.max(axis=1).sum().backward()
    np.testing.assert_allclose(x.grad, [[0, 0.5, 0.5], [1, 0, 0]])


@pytest.mark.parametrize("fn", [
    lambda x: x.reshape(6, 4), lambda x: x.reshape((4, -1)), lambda x: x.transpose(),
    lambda x: x.transpose(1, 0, 2), lambda x: x.T, lambda x: x.flatten(1),
    lambda x: x[0], lambda x: x[:, 1:3], lambda x: x[..., ::2], lambda x: x[None, 1, :, -1],
    lambda x: x[[0, 1, 0]], lambda x: x[np.array([0, 0]), np.array([2, 2])],
    lambda x: x[:, [1, 1, 2]], lambda x: x[x.data > 0],
], ids=["reshape", "reshape-1", "transpose", "transpose_axes", "T", "flatten", "int", "slice", "step",
        "none", "intarray", "repeated_pairs", "mixed", "boolmask"])
def test_shape_ops_and_indexing_gradcheck(rng, fn):
    assert tn.gradcheck(fn, [t64(rng, 2, 3, 4)])


def test_repeated_integer_index_accumulates():
    x = Tensor(np.zeros(3), requires_grad=True)
    x[[0, 0, 2, 0]].sum().backward()
    np.testing.assert_array_equal(x.grad, [3, 0, 1])


@pytest.mark.parametrize("name,fn,positive", [
    ("exp", lambda x: x.exp(), False), ("log", lambda x: x.log(), True), ("sqrt", lambda x: x.sqrt(), True),
    ("abs", lambda x: x.abs(), False), ("clip", lambda x: x.clip(-0.5, 0.5), False),
    ("clip_lo", lambda x: x.clip(min=0.1), False),
])
def test_elementwise_gradcheck(rng, name, fn, positive):
    x = t64(rng, 3, 5, positive=positive)
    if name.startswith("clip"):  # keep clear of the kinks, where the derivative jumps
        x.data[np.abs(np.abs(x.data) - 0.5) < 1e-3] += 0.01
        x.data[np.abs(x.data - 0.1) < 1e-3] += 0.01
    assert tn.gradcheck(fn, [x])


@pytest.mark.parametrize("axis", [0, 1, -1])
def test_concatenate_stack_where(rng, axis):
    a, b = t64(rng, 2, 3), t64(rng, 2, 3)
    assert tn.gradcheck(lambda a, b: tn.concatenate([a, b, a], axis=axis), [a, b])
    assert tn.gradcheck(lambda a, b: tn.stack([a, b], axis=axis), [a, b])
    cond = rng.random((2, 3)) > 0.5
    assert tn.gradcheck(lambda a, b: tn.where(cond, a, b), [a, b])
    assert tn.gradcheck(lambda a: tn.where(cond, a, 0.0), [a])


def test_known_values():
    x = Tensor([[1.0, 2.0], [3.0, 4.0]], requires_grad=True)
    y = (x * x).sum() + (x @ x).mean()
    y.backward()
    # d/dx sum(x^2) = 2x; d/dx mean(x @ x) = (1 x^T + x^T 1) / 4 with 1 the ones matrix
    ones = np.ones((2, 2))
    expected = 2 * x.data + (ones @ x.data.T + x.data.T @ ones) / 4
    np.testing.assert_allclose(x.grad, expected, rtol=1e-6)
    assert y.item() == pytest.approx(30 + (7 + 10 + 15 + 22) / 4)


def test_comparisons_carry_no_gradient():
    x = Tensor([1.0, -2.0, 3.0], requires_grad=True)
    for m in (x > 0, x < 0, x >= 1, x <= 1, x.eq(3.0), x.ne(3.0)):
        assert m.dtype == bool and not m.requires_grad
    np.testing.assert_array_equal((x > 0).numpy(), [True, False, True])


@pytest.mark.parametrize("fn,match", [
    (lambda a, b: a @ b, r"\(3, 4\) and \(3, 4\)"),
    (lambda a, b: a + b.T, r"\(3, 4\) and \(4, 3\)"),
    (lambda a, b: a * b[:, :2], r"do not broadcast"),
])
def test_shape_errors_name_both_shapes(rng, fn, match):
    a, b = t64(rng, 3, 4), t64(rng, 3, 4)
    with pytest.raises(ValueError, match=match):
        fn(a, b)


def test_reshape_and_axis_errors(rng):
    x = t64(rng, 2, 3)
    with pytest.raises(ValueError, match=r"shape \(2, 3\).*\(4, 2\)"):
        x.reshape(4, 2)
    with pytest.raises(ValueError, match="axis 2 is out of range"):
        x.sum(axis=2)
    with pytest.raises(ValueError, match="not a permutation"):
        x.transpose(0, 0)
    with pytest.raises(IndexError, match=r"shape \(2, 3\)"):
        x[5]


@pytest.mark.parametrize("fn, x, value, grad", [
    (lambda x: x.log(), 0.0, -np.inf, np.inf),
    (lambda x: x.log(), -1.0, np.nan, -1.0),
    (lambda x: x.sqrt(), -1.0, np.nan, np.nan),
    (lambda x: 1.0 / x, 0.0, np.inf, -np.inf),
    (lambda x: x.exp(), 1000.0, np.inf, np.inf),
], ids=["log0", "log-1", "sqrt-1", "div0", "exp1000"])
def test_ops_give_ieee_values_and_numpys_warning_not_an_error(fn, x, value, grad):
    """docs/autograd.md section 8: an op that makes inf/NaN from finite input returns the IEEE
    value (a check per op would cost a pass, and a host sync on the GPU); on the CPU NumPy warns."""
    t = Tensor([x], dtype=np.float64, requires_grad=True)
    with pytest.warns(RuntimeWarning):
        y = fn(t)
        y.sum().backward()
    np.testing.assert_array_equal(y.numpy(), [value])
    np.testing.assert_array_equal(t.grad, [grad])
