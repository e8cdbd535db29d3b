"""max/avg pooling (1-D and 2-D): hand-computed values, Caffe's ceil-mode sizes, fast kernel vs the
readable reference (forward and backward), float64 gradient checks, PyTorch agreement, bad input."""
import numpy as np
import pytest

import tinynet as tn
import tinynet.functional as F
from tinynet import Tensor

from helpers import compare_with_reference, t64
from torch_reference import torch_reference
from tinynet.functional import reference as R


def rand(rng, *shape, dtype=np.float64, grad=True):
    return t64(rng, *shape, dtype=dtype, requires_grad=grad)


def grid(h, w):
    return Tensor(np.arange(float(h * w)).reshape(1, 1, h, w), requires_grad=True)


# ----------------------------------------------------------------------------- known values
def test_max_and_avg_pool_hand_computed():
    x = grid(4, 4)  # 0..15
    np.testing.assert_array_equal(F.max_pool2d(x, 2).numpy()[0, 0], [[5, 7], [13, 15]])
    np.testing.assert_array_equal(F.avg_pool2d(x, 2).numpy()[0, 0], [[2.5, 4.5], [10.5, 12.5]])
    # kernel 3, stride 1: windows overlap
    np.testing.assert_array_equal(F.max_pool2d(x, 3, 1).numpy()[0, 0], [[10, 11], [14, 15]])


def test_ceil_mode_adds_partial_windows():
    x = grid(5, 5)  # 0..24
    floor = F.max_pool2d(x, 2, 2).numpy()[0, 0]
    ceil = F.max_pool2d(x, 2, 2, ceil_mode=True).numpy()[0, 0]
    assert floor.shape == (2, 2) and ceil.shape == (3, 3)
    np.testing.assert_array_equal(ceil[:, 2], [9, 19, 24])    # last column: a window of width 1
    # average: the part hanging past the input is not counted (PyTorch and Caffe)
    avg = F.avg_pool2d(x, 2, 2, ceil_mode=True).numpy()[0, 0]
    assert avg[2, 2] == 24 and avg[0, 2] == (4 + 9) / 2


def test_cifar10_full_sizes_with_ceil_mode():
    """Caffe's cifar10_full: three 3/2 pools take 32 -> 16 -> 8 -> 4 (floor would give 15 -> 7 -> 3)."""
    x = Tensor(np.zeros((1, 1, 32, 32), dtype=np.float32))
    sizes_ceil, sizes_floor = [], []
    a = b = x
    for _ in range(3):
        a = F.max_pool2d(a, 3, 2, ceil_mode=True)
        b = F.avg_pool2d(b, 3, 2)
        sizes_ceil.append(a.shape[-1])
        sizes_floor.append(b.shape[-1])
    assert sizes_ceil == [16, 8, 4] and sizes_floor == [15, 7, 3]


def test_ceil_mode_last_window_must_start_inside_input_or_left_padding():
    # H=4, k=2, s=2, p=1: ceil((4+2-2)/2)+1 = 3 windows; a 4th would start in the right padding
    assert F.max_pool2d(Tensor(np.zeros((1, 1, 4, 4))), 2, 2, 1, ceil_mode=True).shape == (1, 1, 3, 3)
    # H=5, k=2, s=2, p=1: 4 windows by the formula, but the 4th would start at 6 >= H + p: dropped
    assert F.max_pool2d(Tensor(np.zeros((1, 1, 5, 5))), 2, 2, 1, ceil_mode=True).shape == (1, 1, 3, 3)


def test_avg_pool_padding_divisor():
    x = Tensor(np.ones((1, 1, 3, 3)))
    with_pad = F.avg_pool2d(x, 3, 1, 1).numpy()[0, 0]
    without = F.avg_pool2d(x, 3, 1, 1, count_include_pad=False).numpy()[0, 0]
    np.testing.assert_allclose(with_pad, [[4 / 9, 6 / 9, 4 / 9], [6 / 9, 1, 6 / 9], [4 / 9, 6 / 9, 4 / 9]])
    np.testing.assert_allclose(without, np.ones((3, 3)))


def test_max_pool_padding_is_minus_infinity():
    x = Tensor(-np.ones((1, 1, 2, 2)))
    np.testing.assert_array_equal(F.max_pool2d(x, 2, 1, 1).numpy(), -np.ones((1, 1, 3, 3)))


def test_overlapping_windows_accumulate_gradient():
    # 1-D: x = [0, 1, 5, 2, 0], kernel 3, stride 1 -> all three windows pick x[2]
    x = Tensor(np.array([[[0.0, 1, 5, 2, 0]]]), requires_grad=True)
    F.max_pool1d(x, 3, 1).sum().backward()
    np.testing.assert_array_equal(x.grad[0, 0], [0, 0, 3, 0, 0])
    # 2-D, kernel 3 stride 2 (cifar10_full): the centre of a 5x5 grid is in all four windows
    x = Tensor(np.zeros((1, 1, 5, 5)), requires_grad=True)
    x.data[0, 0, 2, 2] = 1.0
    F.max_pool2d(x, 3, 2).sum().backward()
    assert x.grad[0, 0, 2, 2] == 4 and x.grad.sum() == 4
    x = grid(5, 5)
    F.avg_pool2d(x, 3, 2).sum().backward()
    assert x.grad[0, 0, 2, 2] == pytest.approx(4 / 9) and x.grad[0, 0, 0, 0] == pytest.approx(1 / 9)


@pytest.mark.parametrize("window,expected", [
    ([[1, 1], [1, 1]], [[1, 0], [0, 0]]),   # as PyTorch
    ([[0, 5], [5, 5]], [[0, 0], [1, 0]]),   # first in column-major order; PyTorch: [[0, 1], [0, 0]]
    ([[5, 0], [5, 0]], [[1, 0], [0, 0]]),   # as PyTorch
])
def test_max_pool_ties_send_the_gradient_to_one_maximum(window, expected):
    x = Tensor(np.array(window, dtype=float).reshape(1, 1, 2, 2), requires_grad=True)
    F.max_pool2d(x, 2).sum().backward()
    np.testing.assert_array_equal(x.grad[0, 0], expected)


def test_max_pool_propagates_nan():
    x = Tensor(np.array([[[[1.0, np.nan], [2.0, 3.0]]]]))
    assert np.isnan(F.max_pool2d(x, 2).item())


# ----------------------------------------------------------------------------- fast vs reference
POOL_CASES = [
    # (kernel_size, stride, padding, ceil_mode)
    (2, None, 0, False),
    (3, 2, 0, True),        # cifar10_full
    (3, 2, 1, False),
    (3, 2, 1, True),
    (3, 1, 1, False),
    (2, 3, 0, True),        # stride larger than the kernel
    ((3, 2), (2, 1), (1, 0), True),
]


def compare(ref_fn, fast_fn, x, rng):
    compare_with_reference(ref_fn, fast_fn, [x], rng)


@pytest.mark.parametrize("case", POOL_CASES, ids=str)
@pytest.mark.parametrize("size", [(9, 8), (7, 7)])
def test_max_pool2d_matches_reference(rng, case, size):
    compare(lambda x: R.max_pool2d_reference(x, *case), lambda x: F.max_pool2d(x, *case),
            rand(rng, 2, 3, *size), rng)


@pytest.mark.parametrize("count_include_pad", [True, False])
@pytest.mark.parametrize("case", POOL_CASES, ids=str)
@pytest.mark.parametrize("size", [(9, 8), (7, 7)])
def test_avg_pool2d_matches_reference(rng, case, size, count_include_pad):
    compare(lambda x: R.avg_pool2d_reference(x, *case, count_include_pad=count_include_pad),
            lambda x: F.avg_pool2d(x, *case, count_include_pad=count_include_pad), rand(rng, 2, 3, *size), rng)


@pytest.mark.parametrize("case", [(2, None, 0, False), (3, 2, 1, True), (4, 3, 2, True), (3, 1, 0, False)], ids=str)
def test_pool1d_matches_reference(rng, case):
    compare(lambda x: R.max_pool1d_reference(x, *case), lambda x: F.max_pool1d(x, *case), rand(rng, 2, 3, 11), rng)
    compare(lambda x: R.avg_pool1d_reference(x, *case, count_include_pad=False),
            lambda x: F.avg_pool1d(x, *case, count_include_pad=False), rand(rng, 2, 3, 11), rng)


@pytest.mark.parametrize("kind", ["max", "avg"])
def test_keeps_the_memory_order_of_a_conv_output(rng, kind):
    """conv2d returns (OH, N, OW, C) memory; pooling keeps that order and still computes the right thing."""
    fast = F.max_pool2d if kind == "max" else F.avg_pool2d
    ref = R.max_pool2d_reference if kind == "max" else R.avg_pool2d_reference
    x = Tensor(rng.standard_normal((9, 2, 8, 5)).transpose(1, 3, 0, 2), requires_grad=True)  # (N, C, H, W) view
    y = fast(x, 3, 2, 1, True)
    assert y.data.strides[1] == y.data.itemsize  # channels still innermost
    compare(lambda x: ref(x, 3, 2, 1, True), lambda x: fast(x, 3, 2, 1, True), x, rng)


def test_float32_stays_float32(rng):
    x = rand(rng, 2, 3, 8, 8, dtype=np.float32)
    for fn in (F.max_pool2d, F.avg_pool2d):
        y = fn(x, 3, 2, 1, True)
        assert y.dtype == np.float32
        y.sum().backward()
        assert x.grad.dtype == np.float32
        x.grad = None


# ----------------------------------------------------------------------------- gradient checks
@pytest.mark.parametrize("case", [(2, None, 0, False), (3, 2, 1, True), ((3, 2), (2, 1), (1, 0), True)], ids=str)
@pytest.mark.parametrize("kind", ["max", "avg", "avg_exclude_pad"])
def test_pool2d_gradcheck(rng, case, kind):
    fn = {"max": lambda x: F.max_pool2d(x, *case),
          "avg": lambda x: F.avg_pool2d(x, *case),
          "avg_exclude_pad": lambda x: F.avg_pool2d(x, *case, count_include_pad=False)}[kind]
    assert tn.gradcheck(fn, [rand(rng, 2, 2, 5, 6)])


@pytest.mark.parametrize("fn", [lambda x: F.max_pool1d(x, 3, 2, 1, True), lambda x: F.avg_pool1d(x, 3, 2, 1)])
def test_pool1d_gradcheck(rng, fn):
    assert tn.gradcheck(fn, [rand(rng, 2, 3, 8)])


# ----------------------------------------------------------------------------- PyTorch
@pytest.mark.parametrize("case", [(3, 2, 0, True), (3, 2, 1, True), (2, 2, 1, True), ((3, 2), (2, 3), (1, 1), False)], ids=str)
@pytest.mark.parametrize("kind", ["max", "avg", "avg_exclude_pad"])
def test_pool2d_matches_pytorch(rng, case, kind):
    ours, kw = (F.max_pool2d, {}) if kind == "max" else (F.avg_pool2d, {"count_include_pad": kind == "avg"})
    x = rng.standard_normal((2, 3, 9, 10))
    ox = Tensor(x, requires_grad=True)
    oy = ours(ox, *case, **kw)
    gy = rng.standard_normal(oy.shape)
    oy.backward(gy)

    def pool(torch):  # output and input gradient (live with torch, else from the fixture)
        theirs = torch.nn.functional.max_pool2d if kind == "max" else torch.nn.functional.avg_pool2d
        tx = torch.tensor(x, requires_grad=True)
        k, st, pad, ceil = case
        ty = theirs(tx, k, st, pad, ceil_mode=ceil, **kw)  # torch's max_pool2d has dilation before ceil_mode
        ty.backward(torch.tensor(gy))
        return [ty, tx.grad]
    ty, gx = torch_reference("pooling", f"{kind}_pool2d {case}", pool, x, gy)
    np.testing.assert_allclose(oy.numpy(), ty, rtol=1e-12, atol=1e-12)
    np.testing.assert_allclose(ox.grad, gx, rtol=1e-12, atol=1e-12)


# ----------------------------------------------------------------------------- bad input
def z(*shape):
    return Tensor(np.zeros(shape, dtype=np.float32))


@pytest.mark.parametrize("call,err,match", [
    (lambda: F.max_pool2d(z(3, 8, 8), 2), ValueError, r"input must be 4-D \(N, C, H, W\), got shape \(3, 8, 8\)"),
    (lambda: F.avg_pool1d(z(1, 3, 8, 8), 2), ValueError, r"input must be 3-D \(N, C, L\)"),
    (lambda: F.max_pool2d(z(1, 1, 8, 8), 0), ValueError, r"max_pool2d: kernel_size must be ints >= 1, got 0"),
    (lambda: F.max_pool2d(z(1, 1, 8, 8), 2, stride=0), ValueError, r"stride must be ints >= 1, got 0"),
    (lambda: F.avg_pool2d(z(1, 1, 8, 8), 2, padding=-1), ValueError, r"padding must be ints >= 0, got -1"),
    (lambda: F.max_pool2d(z(1, 1, 8, 8), 3, padding=2), ValueError, r"padding=\(2, 2\) must be at most half of kernel_size=\(3, 3\)"),
    (lambda: F.max_pool2d(z(1, 1, 3, 3), 5), ValueError, r"kernel_size=\(5, 5\) is larger than the padded input"),
    (lambda: F.max_pool2d(z(1, 1, 8, 8), 2.0), TypeError, r"kernel_size must be an int or a sequence of 2 ints, got 2.0"),
    (lambda: F.max_pool1d(np.zeros((1, 1, 8)), 2), TypeError, r"input must be a tinynet Tensor"),
])
def test_bad_arguments(call, err, match):
    with pytest.raises(err, match=match):
        call()


@pytest.mark.parametrize("kind", ["max", "avg"])
def test_pool2d_on_each_device(rng, device, kind):
    """Same numbers on every backend (the GPU case runs only where CuPy sees a device)."""
    fast = F.max_pool2d if kind == "max" else F.avg_pool2d
    ref = R.max_pool2d_reference if kind == "max" else R.avg_pool2d_reference
    x = rng.standard_normal((2, 3, 9, 8))
    ox = Tensor(x, requires_grad=True, device=device)
    y = fast(ox, 3, 2, 1, True)
    y.sum().backward()
    rx = Tensor(x, requires_grad=True)
    y_ref = ref(rx, 3, 2, 1, True)
    y_ref.sum().backward()
    np.testing.assert_allclose(y.numpy(), y_ref.numpy(), rtol=1e-12)
    np.testing.assert_allclose(tn.backend.to_numpy(ox.grad), rx.grad, rtol=1e-12)


@pytest.mark.parametrize("fn", [F.max_pool2d, F.avg_pool2d])
def test_unit_window_is_a_copy(rng, fn):
    x = rand(rng, 2, 3, 4, 5)
    before = x.data.copy()
    y = fn(x, 1, 1)
    y.sum().backward()
    np.testing.assert_array_equal(y.numpy(), before)
    np.testing.assert_array_equal(x.data, before)  # not scaled in place
    np.testing.assert_array_equal(x.grad, np.ones_like(before))


# ----------------------------------------------------------------------------- pieces, threads, edge cases
@pytest.mark.parametrize("threads", [1, 2, 3])
@pytest.mark.parametrize("kind", ["max", "avg"])
def test_threaded_pieces_match_reference(rng, monkeypatch, kind, threads):
    """Many small pieces (a band of samples each) on several threads: the same numbers as the reference."""
    from tinynet.functional import conv as conv_module

    monkeypatch.setattr(conv_module, "_MIN_PIECE", 16)
    fast = F.max_pool2d if kind == "max" else F.avg_pool2d
    ref = R.max_pool2d_reference if kind == "max" else R.avg_pool2d_reference
    with tn.threads.limit(threads):
        compare_with_reference(lambda x: ref(x, 3, 2, 1, True), lambda x: fast(x, 3, 2, 1, True),
                               [rand(rng, 9, 3, 9, 8)], rng)


@pytest.mark.parametrize("fn, shape, out", [(F.max_pool2d, (0, 2, 6, 6), (0, 2, 3, 3)),
                                            (F.avg_pool1d, (0, 2, 6), (0, 2, 3))])
def test_empty_batch(fn, shape, out):
    x = Tensor(np.zeros(shape), requires_grad=True)
    y = fn(x, 2)
    assert y.shape == out
    y.sum().backward()
    assert x.grad.shape == shape


@pytest.mark.parametrize("fn", [F.max_pool2d, F.avg_pool2d])
def test_integer_input_is_refused_with_what_to_do(fn):
    with pytest.raises(TypeError, match=r"input has dtype int64; pooling needs floating-point input.*astype"):
        fn(Tensor(np.arange(16).reshape(1, 1, 4, 4), dtype=np.int64), 2)


def test_layer_checks_its_arguments_once_and_forward_trusts_them(monkeypatch):
    from tinynet.functional import pooling as pooling_module

    layer = tn.nn.AvgPool2d(3, 2, padding=1, ceil_mode=True)
    assert repr(layer) == "AvgPool2d(kernel_size=3, stride=2, padding=1, ceil_mode=True, count_include_pad=True)"
    monkeypatch.setattr(pooling_module, "pool_args", lambda *a: pytest.fail("forward checked the arguments again"))
    assert layer(Tensor(np.zeros((1, 1, 5, 5)))).shape == (1, 1, 3, 3)


@pytest.mark.parametrize("make, match", [
    (lambda: tn.nn.MaxPool2d(0), r"MaxPool2d: kernel_size must be ints >= 1, got 0"),
    (lambda: tn.nn.AvgPool1d(2, stride=0), r"AvgPool1d: stride must be ints >= 1, got 0"),
    (lambda: tn.nn.MaxPool2d(3, padding=2), r"MaxPool2d: padding=\(2, 2\) must be at most half of kernel_size"),
])
def test_layer_arguments_are_checked_at_construction(make, match):
    with pytest.raises(ValueError, match=match):
        make()


@pytest.mark.parametrize("fn, forward_max, backward_max", [(F.max_pool2d, 20, 20), (F.avg_pool2d, 7, 9)])
def test_pooling_on_a_gpu_takes_the_same_few_kernels_for_any_batch(standin, rng, fn, forward_max, backward_max):
    """On CuPy the batch is one piece: a pass per kernel offset and axis, never a loop over samples
    (counted through the CuPy stand-in). avg_pool2d's one upload is its (OH, OW) divisor table."""
    counts = []
    for n in (2, 64):
        x = Tensor(rng.standard_normal((n, 8, 16, 16)).astype(np.float32), device="cuda", requires_grad=True)
        standin.COUNTS.reset()
        y = fn(x, 3, 2, ceil_mode=True)
        forward = standin.COUNTS.snapshot()
        gy = Tensor(np.ones(y.shape, np.float32), device="cuda")
        standin.COUNTS.reset()
        y.backward(gy)
        counts.append((forward, standin.COUNTS.snapshot()))
    assert counts[0] == counts[1]
    (forward, backward) = counts[0]
    assert forward["kernels"] <= forward_max and backward["kernels"] <= backward_max, counts[0]
    assert forward["syncs"] == backward["syncs"] == backward["uploads"] == 0
