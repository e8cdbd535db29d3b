"""The Tensor object and the backward engine: accumulation, graph freeing, no_grad, devices, dtypes."""
import gc
import weakref

import numpy as np
import pytest

import tinynet as tn
from tinynet import Tensor, backend


def test_default_dtypes():
    assert Tensor([1.0, 2.0]).dtype == np.float32
    assert Tensor(1.5).dtype == np.float32
    assert Tensor([1, 2]).dtype == np.int64
    assert Tensor(np.zeros(2)).dtype == np.float64  # arrays keep their dtype
    assert Tensor(np.zeros(2), dtype=np.float32).dtype == np.float32
    x = Tensor(np.zeros(3, dtype=np.float32))
    assert (2.5 * x + 1).dtype == np.float32  # Python scalars do not upcast


def test_attributes_and_conversions():
    x = Tensor(np.arange(6.0).reshape(2, 3), requires_grad=True)
    assert x.shape == (2, 3) and x.ndim == 2 and x.size == 6 and x.device == "cpu" and len(x) == 2
    assert isinstance(x.numpy(), np.ndarray)
    assert x.sum().item() == 15.0
    d = x.detach()
    assert not d.requires_grad and d.data is x.data
    assert x.to("cpu") is x
    assert "requires_grad=True" in repr(x)


def test_gradients_accumulate_across_backward_calls_and_uses():
    x = Tensor([1.0, 2.0], requires_grad=True)
    (x * 3).sum().backward()
    (x * x).sum().backward()
    np.testing.assert_allclose(x.grad, [3 + 2, 3 + 4])
    x.zero_grad()
    (x + x + x).sum().backward()  # three uses of one tensor in one graph
    np.testing.assert_allclose(x.grad, [3, 3])


def test_two_leaves_never_share_a_gradient_array():
    a = Tensor([1.0, 2.0], requires_grad=True)
    b = Tensor([3.0, 4.0], requires_grad=True)
    (a + b).sum().backward()  # add passes the same gradient array to both inputs
    a.grad *= 10  # e.g. gradient clipping on one parameter
    np.testing.assert_allclose(b.grad, [1, 1])


def test_long_chain_does_not_recurse():
    x = Tensor([1.0], dtype=np.float64, requires_grad=True)
    y = x
    for _ in range(10_000):
        y = y * 1.0001
    y.backward()
    assert x.grad[0] == pytest.approx(1.0001 ** 10_000)


def test_diamond_graph_each_node_once():
    x = Tensor([2.0], dtype=np.float64, requires_grad=True)
    a = x * 3
    b = a * a  # a used twice
    c = b + a
    c.backward()
    # c = 9x^2 + 3x  ->  dc/dx = 18x + 3
    assert x.grad[0] == pytest.approx(39.0)


def test_inputs_without_grad_are_skipped():
    class Spy(tn.autograd.Function):
        def forward(self, a, b):
            return a * b

        def backward(self, gy):
            self.asked = self.needs_grad
            return gy, None

    w = Tensor([1.0, 2.0], requires_grad=True)
    img = Tensor([3.0, 4.0])  # data: no gradient wanted
    f = Spy()
    f(w, img).sum().backward()
    assert f.asked == (True, False)
    assert img.grad is None


def test_graph_is_freed_after_backward():
    x = Tensor(np.ones(4), requires_grad=True)
    mid = x * 2
    f = mid._ctx
    ref = weakref.ref(f)
    out = (mid * mid).sum()
    del f
    out.backward()
    gc.collect()
    assert mid._ctx is tn.autograd.FREED and not mid.is_leaf and ref() is None


def test_a_second_backward_through_a_freed_graph_raises():
    x = Tensor([1.0, 2.0], requires_grad=True)
    y = (x * x).sum()
    y.backward()
    with pytest.raises(RuntimeError, match="retain_graph=True"):
        y.backward()
    np.testing.assert_allclose(x.grad, [2, 4])  # the first backward's gradient, untouched


def test_a_backward_through_an_intermediate_reused_after_a_backward_raises():
    x = Tensor([1.0, 2.0], requires_grad=True)
    h = x * 3
    (h * h).sum().backward()
    with pytest.raises(RuntimeError, match="retain_graph=True"):
        (h * 2).sum().backward()  # would silently give x no gradient: h's graph is gone
    h2 = x * 3
    (h2 * h2).sum().backward(retain_graph=True)
    x.zero_grad()
    (h2 * 2).sum().backward()
    np.testing.assert_allclose(x.grad, [6, 6])


def test_add_and_sub_compute_only_the_gradients_asked_for():
    asked = []
    w = Tensor([1.0, 2.0], requires_grad=True)
    c = Tensor([3.0, 4.0])
    for op in (tn.ops.Add, tn.ops.Sub):
        f = op()
        f(w, c)  # records needs_grad = (True, False)
        ga, gb = f.backward(np.ones(2))
        asked.append((ga is not None, gb is None))
    assert asked == [(True, True), (True, True)]


def test_retain_graph_allows_second_backward():
    x = Tensor([1.0, 2.0], requires_grad=True)
    y = (x * x).sum()
    y.backward(retain_graph=True)
    y.backward()
    np.testing.assert_allclose(x.grad, [4, 8])


def test_no_grad_records_nothing():
    x = Tensor([1.0], requires_grad=True)
    with tn.no_grad():
        y = x * 2
        assert not tn.is_grad_enabled()
    assert tn.is_grad_enabled()
    assert not y.requires_grad and y._ctx is None


def test_backward_errors_are_clear():
    x = Tensor(np.ones((2, 2)), requires_grad=True)
    with pytest.raises(ValueError, match=r"scalar output.*shape \(2, 2\)"):
        (x * 2).backward()
    with pytest.raises(ValueError, match="does not require grad"):
        Tensor([1.0]).backward()
    with pytest.raises(ValueError, match=r"grad=.*shape \(3,\)"):
        (x * 2).backward(np.ones(3))
    (x * 2).backward(np.ones((2, 2)))  # an explicit gradient for a non-scalar output is fine
    np.testing.assert_allclose(x.grad, 2 * np.ones((2, 2)))


def test_integer_tensors_cannot_require_grad():
    with pytest.raises(TypeError, match="floating-point.*int64"):
        Tensor([1, 2], requires_grad=True)


def test_mixed_float_dtypes_raise():
    a = Tensor(np.ones(2, dtype=np.float32))
    b = Tensor(np.ones(2, dtype=np.float64))
    with pytest.raises(TypeError, match="float32 and float64|float64 and float32"):
        a + b


def test_unknown_or_unavailable_device():
    with pytest.raises(ValueError, match="'tpu' is not a device"):
        Tensor([1.0], device="tpu")
    if not backend.cuda_available():
        with pytest.raises(ValueError, match="pip install"):
            Tensor([1.0], device="cuda")


def test_mixing_devices_says_how_to_move(cuda):
    x = Tensor(np.arange(4.0), requires_grad=True).to("cuda")
    assert x.device == "cuda"
    with pytest.raises(ValueError, match=r"different devices.*\.to\(device\)"):
        x + Tensor(np.ones(4))
