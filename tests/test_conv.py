"""conv1d / conv2d: hand-computed values, fast kernel vs the readable reference (forward and
backward), float64 gradient checks, PyTorch agreement, and errors for bad arguments."""
import numpy as np
import pytest

import tinynet as tn
import tinynet.functional as F
from tinynet import Tensor
from tinynet.functional import conv as conv_module
from tinynet.functional.reference import conv1d_reference, conv2d_reference

from helpers import compare_with_reference as compare_with, t64
from torch_reference import torch_reference


def rand(rng, *shape, dtype=np.float64, grad=True):
    return t64(rng, *shape, dtype=dtype, requires_grad=grad)




# ----------------------------------------------------------------------------- known values
def test_conv2d_hand_computed():
    x = Tensor(np.arange(1.0, 17.0).reshape(1, 1, 4, 4))
    w = Tensor(np.ones((1, 1, 2, 2)))
    # each output is the sum of a 2x2 window of 1..16
    np.testing.assert_allclose(F.conv2d(x, w).numpy()[0, 0], [[14, 18, 22], [30, 34, 38], [46, 50, 54]])
    np.testing.assert_allclose(F.conv2d(x, w, Tensor(np.ones(1)), stride=2).numpy()[0, 0], [[15, 23], [47, 55]])
    padded = F.conv2d(x, w, padding=1).numpy()[0, 0]
    assert padded.shape == (5, 5)
    assert padded[0, 0] == 1 and padded[4, 4] == 16 and padded[0, 1] == 1 + 2


def test_conv2d_is_cross_correlation_with_pytorch_layout():
    # w[o, c, i, j] multiplies x[n, c, oh + i, ow + j]: no kernel flip; channels are summed
    x = Tensor(np.arange(18.0).reshape(1, 2, 3, 3))
    w = np.zeros((2, 2, 2, 2))
    w[0, 0, 0, 1] = 1.0   # picks x[0, 0, oh, ow + 1]
    w[1, 1, 1, 0] = 2.0   # picks 2 * x[0, 1, oh + 1, ow]
    y = F.conv2d(x, Tensor(w)).numpy()[0]
    np.testing.assert_allclose(y[0], [[1, 2], [4, 5]])
    np.testing.assert_allclose(y[1], 2 * np.array([[12, 13], [15, 16]]))


def test_conv1d_hand_computed():
    x = Tensor(np.array([[[1.0, 2, 3, 4, 5]]]))
    w = Tensor(np.array([[[1.0, 0, -1]]]))
    np.testing.assert_allclose(F.conv1d(x, w).numpy()[0, 0], [-2, -2, -2])
    np.testing.assert_allclose(F.conv1d(x, w, padding=1).numpy()[0, 0], [-2, -2, -2, -2, 4])
    np.testing.assert_allclose(F.conv1d(x, w, Tensor(np.array([0.5])), stride=2).numpy()[0, 0], [-1.5, -1.5])


# ----------------------------------------------------------------------------- fast vs reference
CONV2D_CASES = [
    # (N, C, H, W, O, (KH, KW), stride, padding)
    (2, 3, 7, 6, 4, (3, 3), 1, 1),         # few channels: classic im2col path
    (2, 24, 6, 7, 5, (3, 3), 1, 1),        # KW*C = 72 >= 64: one GEMM per kernel row
    (2, 32, 6, 6, 8, (5, 5), 1, 2),        # cifar10_full's layer shape, smaller
    (2, 5, 9, 8, 3, (3, 3), 2, 0),         # stride 2, input not a multiple of it
    (2, 24, 9, 7, 3, (3, 3), 2, 1),        # strided rows on the per-row path
    (1, 40, 11, 9, 5, (3, 2), (2, 3), (0, 2)),  # different strides/paddings per axis
    (2, 4, 5, 5, 3, (2, 2), 3, 4),         # padding larger than the kernel
    (1, 2, 4, 4, 3, (1, 1), 2, 0),         # 1x1 kernel
    (3, 1, 5, 4, 2, (5, 4), 1, 0),         # kernel as large as the input: a 1x1 output
]


@pytest.mark.parametrize("bias", [True, False])
@pytest.mark.parametrize("case", CONV2D_CASES, ids=str)
def test_conv2d_matches_reference(rng, case, bias):
    n, c, h, w, o, (kh, kw), stride, padding = case
    inputs = [rand(rng, n, c, h, w), rand(rng, o, c, kh, kw)] + ([rand(rng, o)] if bias else [])
    compare_with(lambda *a: conv2d_reference(*a, stride=stride, padding=padding) if bias
                 else conv2d_reference(a[0], a[1], None, stride, padding),
                 lambda *a: F.conv2d(*a, stride=stride, padding=padding) if bias
                 else F.conv2d(a[0], a[1], None, stride, padding),
                 inputs, rng, rtol=1e-10, atol=1e-10)


@pytest.mark.parametrize("case", [(2, 3, 9, 4, 3, 1, 1), (2, 20, 8, 3, 5, 2, 2), (1, 1, 6, 2, 2, 3, 0)], ids=str)
def test_conv1d_matches_reference(rng, case):
    n, c, length, o, k, stride, padding = case
    inputs = [rand(rng, n, c, length), rand(rng, o, c, k), rand(rng, o)]
    compare_with(lambda *a: conv1d_reference(*a, stride=stride, padding=padding),
                 lambda *a: F.conv1d(*a, stride=stride, padding=padding), inputs, rng, rtol=1e-10, atol=1e-10)


def test_float32_stays_float32_and_matches_reference(rng):
    inputs = [rand(rng, 4, 32, 8, 8, dtype=np.float32), rand(rng, 16, 32, 5, 5, dtype=np.float32),
              rand(rng, 16, dtype=np.float32)]
    compare_with(lambda *a: conv2d_reference(*a, padding=2), lambda *a: F.conv2d(*a, padding=2),
                 inputs, rng, rtol=1e-4, atol=1e-4)


@pytest.mark.parametrize("chunk", [1, 300, 5000])
def test_chunked_columns_match_reference(rng, monkeypatch, chunk):
    """Tiny chunks force the column matrix to be built a few output rows (or one) at a time."""
    monkeypatch.setattr(conv_module, "_CHUNK", chunk)
    for stride in (1, 2):
        for c in (3, 24):  # whole-im2col and per-row paths
            inputs = [rand(rng, 2, c, 9, 7), rand(rng, 4, c, 3, 3), rand(rng, 4)]
            compare_with(lambda *a: conv2d_reference(*a, stride=stride, padding=1),
                         lambda *a: F.conv2d(*a, stride=stride, padding=1), inputs, rng, rtol=1e-10, atol=1e-10)


def test_two_layers_chain_through_the_strided_layout(rng):
    """conv -> relu -> conv: the second conv reads the first one's (OH, N, OW, O) memory order."""
    x, w1, w2 = rand(rng, 2, 3, 8, 8), rand(rng, 16, 3, 3, 3), rand(rng, 4, 16, 3, 3)
    compare_with(lambda x, a, b: conv2d_reference(F.relu(conv2d_reference(x, a, padding=1)), b, stride=2),
                 lambda x, a, b: F.conv2d(F.relu(F.conv2d(x, a, padding=1)), b, stride=2),
                 [x, w1, w2], rng, rtol=1e-10, atol=1e-10)


# ----------------------------------------------------------------------------- gradient checks
@pytest.mark.parametrize("stride,padding", [(1, 0), (1, 1), (2, 1), ((1, 2), (2, 0))])
def test_conv2d_gradcheck(rng, stride, padding):
    x, w, b = rand(rng, 2, 2, 5, 4), rand(rng, 3, 2, 3, 2), rand(rng, 3)
    assert tn.gradcheck(lambda x, w, b: F.conv2d(x, w, b, stride, padding), [x, w, b], names=["x", "w", "b"])


@pytest.mark.parametrize("stride", [1, 2])
def test_conv2d_gradcheck_per_row_path(rng, stride):
    # KW*C = 72 >= 64 in forward and KW*O = 72 in the input gradient: both use one GEMM per kernel row
    x, w = rand(rng, 1, 24, 5, 4), rand(rng, 24, 24, 3, 3)
    assert tn.gradcheck(lambda x, w: F.conv2d(x, w, stride=stride, padding=1), [x, w], mode="direction")


@pytest.mark.parametrize("stride,padding", [(1, 0), (2, 2)])
def test_conv1d_gradcheck(rng, stride, padding):
    x, w, b = rand(rng, 2, 3, 7), rand(rng, 2, 3, 3), rand(rng, 2)
    assert tn.gradcheck(lambda x, w, b: F.conv1d(x, w, b, stride, padding), [x, w, b])


def test_input_gradient_is_skipped_when_not_needed(rng, monkeypatch):
    """The first layer's images need no gradient: backward must not compute one."""
    x = rand(rng, 2, 3, 6, 6, grad=False)
    w = rand(rng, 4, 3, 3, 3)

    def fail(*args):
        raise AssertionError("the input gradient was computed although nobody needs it")

    monkeypatch.setattr(conv_module.Conv2dFn, "_grad_input", fail)
    F.conv2d(x, w, padding=1).sum().backward()
    assert x.grad is None and w.grad is not None
    ref_w = Tensor(w.data.copy(), requires_grad=True)
    conv2d_reference(x, ref_w, padding=1).sum().backward()
    np.testing.assert_allclose(w.grad, ref_w.grad, rtol=1e-10)


def test_output_layout_is_a_view_with_pytorch_shape(rng):
    y = F.conv2d(rand(rng, 3, 2, 5, 6, grad=False), rand(rng, 4, 2, 3, 3, grad=False))
    assert y.shape == (3, 4, 3, 4)
    # memory order (OH, N, OW, O): the channel stride is the smallest
    assert y.data.strides[1] == y.data.itemsize


# ----------------------------------------------------------------------------- PyTorch
@pytest.mark.parametrize("stride,padding", [(1, 2), (2, 1), ((2, 1), (0, 3))])
def test_conv2d_matches_pytorch(rng, stride, padding):
    x, w, b = rng.standard_normal((3, 6, 9, 8)), rng.standard_normal((5, 6, 3, 5)), rng.standard_normal(5)
    ours = [Tensor(a, requires_grad=True) for a in (x, w, b)]
    y = F.conv2d(*ours, stride=stride, padding=padding)
    gy = rng.standard_normal(y.shape)
    y.backward(gy)

    def conv2d(torch):  # output and the three gradients (live with torch, else from the fixture)
        tx, tw, tb = (torch.tensor(a, requires_grad=True) for a in (x, w, b))
        ty = torch.nn.functional.conv2d(tx, tw, tb, stride, padding)
        ty.backward(torch.tensor(gy))
        return [ty, tx.grad, tw.grad, tb.grad]
    ty, *grads = torch_reference("conv", f"conv2d stride={stride} padding={padding}", conv2d, x, w, b, gy)
    np.testing.assert_allclose(y.numpy(), ty, rtol=1e-10, atol=1e-10)
    for t, tg in zip(ours, grads):
        np.testing.assert_allclose(t.grad, tg, rtol=1e-9, atol=1e-10)


def test_conv1d_matches_pytorch(rng):
    x, w = rng.standard_normal((2, 4, 11)), rng.standard_normal((3, 4, 4))
    ty = torch_reference("conv", "conv1d stride=3 padding=2", lambda torch: torch.nn.functional.conv1d(
        torch.tensor(x), torch.tensor(w), stride=3, padding=2), x, w)
    np.testing.assert_allclose(F.conv1d(Tensor(x), Tensor(w), stride=3, padding=2).numpy(), ty, rtol=1e-10)


# ----------------------------------------------------------------------------- bad input
def t(*shape, dtype=np.float32):
    return Tensor(np.zeros(shape, dtype=dtype))


@pytest.mark.parametrize("call,err,match", [
    (lambda: F.conv2d(t(1, 3, 8), t(4, 3, 3, 3)), ValueError, r"input must be 4-D \(N, C, H, W\), got shape \(1, 3, 8\)"),
    (lambda: F.conv2d(t(1, 3, 8, 8), t(4, 3, 3)), ValueError, r"weight must be 4-D"),
    (lambda: F.conv2d(t(1, 3, 8, 8), t(4, 2, 3, 3)), ValueError,
     r"input has 3 channels .*\(1, 3, 8, 8\).* weight expects 2 .*\(4, 2, 3, 3\)"),
    (lambda: F.conv1d(t(2, 5, 9), t(4, 3, 3)), ValueError, r"input has 5 channels .* weight expects 3"),
    (lambda: F.conv2d(t(1, 3, 8, 8), t(4, 3, 3, 3, dtype=np.float64)), TypeError, r"input has dtype float32 but weight has dtype float64"),
    (lambda: F.conv2d(t(1, 3, 8, 8), t(4, 3, 3, 3), t(3)), ValueError, r"bias shape \(3,\) must be \(4,\)"),
    (lambda: F.conv2d(t(1, 3, 8, 8), t(4, 3, 3, 3), stride=0), ValueError, r"stride must be ints >= 1, got 0"),
    (lambda: F.conv2d(t(1, 3, 8, 8), t(4, 3, 3, 3), stride=(1, -2)), ValueError, r"stride must be ints >= 1, got \(1, -2\)"),
    (lambda: F.conv2d(t(1, 3, 8, 8), t(4, 3, 3, 3), padding=-1), ValueError, r"padding must be ints >= 0, got -1"),
    (lambda: F.conv2d(t(1, 3, 8, 8), t(4, 3, 3, 3), stride=1.5), TypeError, r"stride must be an int or a sequence of 2 ints, got 1.5"),
    (lambda: F.conv2d(t(1, 3, 8, 8), t(4, 3, 3, 3), padding=(1, 2, 3)), TypeError, r"padding must be an int or a sequence of 2 ints, got \(1, 2, 3\)"),
    (lambda: F.conv2d(t(1, 3, 4, 4), t(4, 3, 7, 3)), ValueError, r"kernel size \(7, 3\) is larger than the padded input"),
    (lambda: F.conv1d(t(1, 3, 2), t(4, 3, 5), padding=1), ValueError, r"kernel size \(5,\) is larger"),
    (lambda: F.conv2d(np.zeros((1, 3, 8, 8)), t(4, 3, 3, 3)), TypeError, r"input must be a tinynet Tensor"),
])
def test_bad_arguments(call, err, match):
    with pytest.raises(err, match=match):
        call()


def test_conv2d_on_each_device(rng, device):
    """Same numbers on every backend (the GPU case runs only where CuPy sees a device)."""
    x, w, b = rng.standard_normal((2, 24, 7, 6)), rng.standard_normal((5, 24, 3, 3)), rng.standard_normal(5)
    ours = [Tensor(a, requires_grad=True, device=device) for a in (x, w, b)]
    y = F.conv2d(*ours, stride=(1, 2), padding=1)
    y.sum().backward()
    ref = [Tensor(a, requires_grad=True) for a in (x, w, b)]
    y_ref = conv2d_reference(*ref, stride=(1, 2), padding=1)
    y_ref.sum().backward()
    np.testing.assert_allclose(y.numpy(), y_ref.numpy(), rtol=1e-10, atol=1e-10)
    for t, r in zip(ours, ref):
        assert t.grad is not None and tn.backend.device_of(t.grad) == device
        np.testing.assert_allclose(tn.backend.to_numpy(t.grad), r.grad, rtol=1e-10, atol=1e-10)


# ----------------------------------------------------------------------------- pieces and threads
@pytest.fixture
def small_pieces(monkeypatch):
    """Cut even these small tests into many pieces of work, so that threads really share them."""
    monkeypatch.setattr(conv_module, "_MIN_PIECE", 64)


@pytest.mark.parametrize("threads", [1, 2, 3])
@pytest.mark.parametrize("case", [CONV2D_CASES[0], CONV2D_CASES[2], CONV2D_CASES[4], CONV2D_CASES[5]], ids=str)
def test_threaded_pieces_match_reference(rng, small_pieces, case, threads):
    n, c, h, w, o, (kh, kw), stride, padding = case
    inputs = [rand(rng, n + 3, c, h, w), rand(rng, o, c, kh, kw), rand(rng, o)]
    with tn.threads.limit(threads):
        compare_with(lambda *a: conv2d_reference(*a, stride=stride, padding=padding),
                     lambda *a: F.conv2d(*a, stride=stride, padding=padding), inputs, rng, rtol=1e-10, atol=1e-10)


def test_thread_count_does_not_change_a_single_bit(rng, small_pieces):
    """Pieces are cut from the shapes alone and partial sums added in piece order: the same float32
    numbers on 1 thread as on 3, so parallel grids reproduce sequential runs exactly."""
    x = rng.standard_normal((6, 24, 9, 8)).astype(np.float32)
    w = rng.standard_normal((5, 24, 3, 3)).astype(np.float32)
    gy = rng.standard_normal((6, 5, 5, 4)).astype(np.float32)
    runs = []
    for threads in (1, 3):
        ts = [Tensor(a, requires_grad=True) for a in (x, w)]
        with tn.threads.limit(threads):
            y = F.conv2d(*ts, stride=(2, 2), padding=1)
            y.backward(gy)
        runs.append([y.numpy(), ts[0].grad, ts[1].grad])
    for a, b in zip(*runs):
        np.testing.assert_array_equal(a, b)


@pytest.mark.parametrize("rows, per_row, pieces", [
    (0, 100, 0), (7, 0, 0),              # nothing to do: an empty batch
    (32, 10, 1),                         # too little work to split
    (32, 1 << 16, 8),                    # split for threads, at most _MAX_PIECES
    (3, 1 << 24, 3),                     # bounded by the memory chunk, but never more pieces than rows
])
def test_row_pieces_cover_the_rows_once(rows, per_row, pieces):
    cut = conv_module.row_pieces(rows, per_row)
    assert len(cut) == pieces
    assert [r for a, b in cut for r in range(a, b)] == list(range(rows if per_row else 0))


# ----------------------------------------------------------------------------- empty batch
@pytest.mark.parametrize("fn, x_shape, w_shape, y_shape", [
    (F.conv2d, (0, 3, 8, 8), (4, 3, 3, 3), (0, 4, 8, 8)),
    (F.conv1d, (0, 3, 9), (4, 3, 3), (0, 4, 9)),
])
def test_empty_batch_gives_empty_output_and_zero_parameter_gradients(fn, x_shape, w_shape, y_shape):
    """As in PyTorch: no samples, no output rows, and the weight and bias gradients are zero."""
    x = Tensor(np.zeros(x_shape, dtype=np.float32), requires_grad=True)
    w = Tensor(np.ones(w_shape, dtype=np.float32), requires_grad=True)
    b = Tensor(np.ones(w_shape[0], dtype=np.float32), requires_grad=True)
    y = fn(x, w, b, padding=1)
    assert y.shape == y_shape
    y.sum().backward()
    assert x.grad.shape == x_shape
    np.testing.assert_array_equal(w.grad, np.zeros(w_shape))
    np.testing.assert_array_equal(b.grad, np.zeros(w_shape[0]))


# ----------------------------------------------------------------------------- layers check once
def test_layer_checks_its_arguments_once_and_forward_trusts_them(monkeypatch):
    layer = tn.nn.Conv2d(3, 4, 3, stride=(1, 2), padding=1, rng=0)
    assert layer.stride == (1, 2) and layer.padding == (1, 1)
    calls = []
    monkeypatch.setattr(conv_module, "conv_args", lambda *a: calls.append(a))
    y = layer(Tensor(np.zeros((2, 3, 6, 6), dtype=np.float32)))
    assert y.shape == (2, 4, 6, 3) and calls == []


@pytest.mark.parametrize("kwargs, err, match", [
    (dict(stride=0), ValueError, r"Conv2d: stride must be ints >= 1, got 0"),
    (dict(padding=(1, -1)), ValueError, r"Conv2d: padding must be ints >= 0"),
    (dict(kernel_size=(3,)), TypeError, r"Conv2d: kernel_size must be an int or a sequence of 2 ints"),
])
def test_layer_arguments_are_checked_at_construction(kwargs, err, match):
    args = dict(in_channels=3, out_channels=4, kernel_size=3, rng=0) | kwargs
    with pytest.raises(err, match=match):
        tn.nn.Conv2d(**args)


def test_layer_still_checks_the_input_it_is_given():
    layer = tn.nn.Conv2d(3, 4, 3, rng=0)
    with pytest.raises(ValueError, match=r"Conv2d: input has 2 channels"):
        layer(Tensor(np.zeros((1, 2, 5, 5), dtype=np.float32)))
    with pytest.raises(TypeError, match=r"Conv2d: input has dtype float64 but weight has dtype float32"):
        layer(Tensor(np.zeros((1, 3, 5, 5))))


# ----------------------------------------------------------------------------- device calls on a GPU
def _conv_kernels(standin, n, c, k, rng):
    x = Tensor(rng.standard_normal((n, c, 12, 12)).astype(np.float32), device="cuda", requires_grad=True)
    w = Tensor(rng.standard_normal((8, c, k, k)).astype(np.float32), device="cuda", requires_grad=True)
    b = Tensor(rng.standard_normal(8).astype(np.float32), device="cuda", requires_grad=True)
    standin.COUNTS.reset()
    y = F.conv2d(x, w, b, padding=k // 2)
    forward = standin.COUNTS.snapshot()
    gy = Tensor(np.ones(y.shape, np.float32), device="cuda")
    standin.COUNTS.reset()
    y.backward(gy)
    return forward, standin.COUNTS.snapshot()


def test_conv_on_a_gpu_is_a_few_kernels_whatever_the_kernel_and_batch(standin, rng):
    """On CuPy, one piece and one product per pass: no loop over kernel rows or batch bands
    (counted through the CuPy stand-in): padding, columns, one GEMM, bias; and in backward the
    weight, input and bias gradients."""
    counts = {(n, c, k): _conv_kernels(standin, n, c, k, rng) for n in (2, 64) for c in (3, 32) for k in (3, 5)}
    forward, backward = counts[(2, 3, 3)]
    assert all(v == (forward, backward) for v in counts.values()), counts
    assert forward["kernels"] <= 6 and backward["kernels"] <= 11, (forward, backward)
    assert forward["uploads"] == backward["uploads"] == forward["syncs"] == backward["syncs"] == 0
