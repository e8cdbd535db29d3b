"""The 'cuda' path end to end: every model, optimizer, gradcheck, save/load, the training loop,
the range test and the demo give the CPU's numbers on 'cuda'.

Without CuPy and a GPU, 'cuda' runs through the strict host-only CuPy stand-in
(tests/cupy_standin.py): every implicit device-to-host conversion that CuPy refuses fails here
too, and CuPy's quirks (integer indices that wrap, broadcast views that alias, no read-only flag)
are reproduced. What the stand-in cannot see: kernel speed and launch latency, device memory use,
asynchrony (on a GPU kernels are queued and only a host sync waits for them; here every call
completes at once), and CUDA numerics (fused multiply-add, reduction order): the tolerances below
leave room for those. With a real GPU the same tests run on it.
"""
import re

import numpy as np
import pytest

import cupy_standin
import tinynet as tn
import tinynet.functional as F
from clr.lab import models, train
from tinynet import Tensor, backend, nn


# ----------------------------------------------------------------------------- the stand-in itself
def test_standin_refuses_implicit_host_conversion_like_cupy(standin):
    x = standin.asarray(np.arange(4.0))
    for convert in (np.asarray, np.array, lambda a: np.concatenate([np.zeros(1), a]),
                    lambda a: a + np.ones(4), lambda a: np.ones(4) * a, lambda a: standin.exp([1.0])):
        with pytest.raises(TypeError):
            convert(x)
    with pytest.raises(ValueError, match="non-scalar numpy.ndarray"):
        x[:] = np.ones(4)
    assert not hasattr(x.flags, "writeable")


def test_standin_allows_and_counts_what_cupy_allows(standin):
    x = standin.asarray(np.arange(4.0))
    assert isinstance(np.exp(x), standin.ndarray) and isinstance(np.sum(x), standin.ndarray)
    assert isinstance(x.sum(), standin.ndarray) and x.sum().ndim == 0  # reductions stay on the device
    assert isinstance(x + np.float32(1), standin.ndarray) and isinstance(2.0 * x, standin.ndarray)
    standin.COUNTS.reset()
    assert float(x.sum()) == 6.0 and x[1].item() == 1.0 and standin.asnumpy(x).tolist() == [0, 1, 2, 3]
    assert standin.COUNTS.syncs == 3
    np.testing.assert_array_equal(x[np.array([1, 5])].get(), [1, 1])  # CuPy wraps indices around


# ----------------------------------------------------------------------------- tensors and autograd
def test_to_moves_both_ways_and_gradients_come_back(cuda):
    x = Tensor(np.arange(4.0), requires_grad=True)
    y = x.to("cuda")
    assert y.device == "cuda" and backend.device_of(y.data) == "cuda"
    z = (y * y).to("cpu")
    assert z.device == "cpu" and isinstance(z.data, np.ndarray)
    z.sum().backward()
    assert x.grad.__class__ is np.ndarray
    np.testing.assert_allclose(x.grad, 2 * np.arange(4.0))
    w = Tensor(np.ones(3), device="cuda", requires_grad=True)
    (w.to("cpu") * 3).sum().backward()
    assert w.grad is not None and backend.device_of(w.grad) == "cuda"
    np.testing.assert_allclose(backend.to_numpy(w.grad), 3.0)


def test_a_leaf_grad_never_aliases_a_broadcast_view(device):
    x = Tensor(np.ones(4), device=device, requires_grad=True)
    x.sum().backward()  # Sum's backward hands back a broadcast view of one number
    x.grad[0] = 0
    np.testing.assert_array_equal(backend.to_numpy(x.grad), [0, 1, 1, 1])


@pytest.mark.parametrize("make_index", [lambda d: np.array([0, 3]), lambda d: Tensor(np.array([0, 3]), device=d),
                                        lambda d: [-4, 1], lambda d: (slice(None), np.array([3]))])
def test_out_of_range_integer_indices_raise_on_every_device(device, make_index):
    x = Tensor(np.arange(6.0).reshape(2, 3), device=device, requires_grad=True)
    with pytest.raises(IndexError, match="out of bounds"):
        x[make_index(device)]


def test_in_range_integer_indices_give_the_cpu_result(device):
    x = Tensor(np.arange(6.0).reshape(2, 3), device=device, requires_grad=True)
    y = x[Tensor(np.array([1, -1, 1]), device=device)]
    np.testing.assert_array_equal(y.numpy(), np.arange(6.0).reshape(2, 3)[[1, -1, 1]])
    y.sum().backward()
    np.testing.assert_array_equal(backend.to_numpy(x.grad), [[0, 0, 0], [3, 3, 3]])


GRADCHECKS = {  # float64 gradient checks of the ops this work touched, on every device
    "dropout (one seed per call)": (lambda x: F.dropout(x, 0.3, rng=np.random.default_rng(7)), (4, 5)),
    "local_response_norm within_channel": (
        lambda x: F.local_response_norm(x, 3, alpha=0.5, beta=0.75, mode="within_channel"), (2, 2, 4, 3)),
    "local_response_norm across_channels": (
        lambda x: F.local_response_norm(x, 4, alpha=0.5, beta=0.75, mode="across_channels"), (2, 5, 3)),
    "indexing with repeated integer indices": (lambda x: x[np.array([0, 2, 2, -1])] * 2.0, (4, 3)),
    "to('cpu') and back": (lambda x: (x.to("cpu") * 3.0).to(x.device) * x, (3, 2)),
}


@pytest.mark.parametrize("name", list(GRADCHECKS))
def test_gradients_in_float64_on_every_device(device, name, rng):
    fn, shape = GRADCHECKS[name]
    x = Tensor(rng.standard_normal(shape), device=device, requires_grad=True)
    assert tn.gradcheck(fn, [x])


def test_gradcheck_on_cuda(cuda, rng):
    x = Tensor(rng.standard_normal((3, 4)), device=cuda, requires_grad=True)
    w = Tensor(rng.standard_normal((2, 4)), device=cuda, requires_grad=True)
    b = Tensor(rng.standard_normal(2), device=cuda, requires_grad=True)
    for mode in ("full", "direction"):
        assert tn.gradcheck(lambda x, w, b: F.tanh(F.linear(x, w, b)), [x, w, b], mode=mode)


# ----------------------------------------------------------------------------- models and optimizers
def _batch(name, n=8, seed=0):
    rng = np.random.default_rng(seed)
    shape = {"logistic": (40,), "mlp": (40,), "cnn": (40,), "cifar10_full": (3, 16, 16)}[name]
    return rng.standard_normal((n, *shape)).astype(np.float32), rng.integers(0, 10, n)


BUILDERS = {name: (lambda name: lambda shape: models.build(name, 0, shape))(name) for name in models.MODELS}
BUILDERS["plain mlp"] = lambda shape: models.mlp(shape[0], [16, 16], 10, rng=0)


@pytest.mark.parametrize("name", list(BUILDERS))
def test_every_model_trains_on_cuda_as_on_cpu(cuda, name):
    x, y = _batch("mlp" if name == "plain mlp" else name)
    runs = {}
    for device in ("cpu", "cuda"):
        model = BUILDERS[name](x.shape[1:]).to(device)
        groups = model.param_groups() if hasattr(model, "param_groups") else model.parameters()
        opt = tn.optim.SGD(groups, lr=0.05, momentum=0.9)
        losses = []
        for _ in range(3):
            opt.zero_grad()
            loss = F.cross_entropy(model(Tensor(x, device=device)), y)
            loss.backward()
            opt.step()
            losses.append(loss.item())
        assert all(p.device == device and backend.device_of(p.grad) == device for p in model.parameters())
        runs[device] = losses, [p.numpy() for p in model.parameters()]
    np.testing.assert_allclose(runs["cuda"][0], runs["cpu"][0], rtol=1e-4)
    for a, b in zip(runs["cuda"][1], runs["cpu"][1]):
        np.testing.assert_allclose(a, b, rtol=1e-4, atol=1e-6)


def test_save_and_load_a_cuda_model_and_optimizer(cuda, tmp_path):
    x, y = _batch("cnn")
    model = models.build("cnn", 0, (40,)).to("cuda")
    opt = tn.optim.Adam(model.parameters(), lr=1e-3)
    F.cross_entropy(model(Tensor(x, device="cuda")), y).backward()
    opt.step()
    tn.save({"model": model.state_dict(), "opt": opt.state_dict()}, tmp_path / "ckpt.npz")
    state = tn.load(tmp_path / "ckpt.npz")
    twin = models.build("cnn", 1, (40,)).to("cuda")
    twin_opt = tn.optim.Adam(twin.parameters(), lr=1e-3)
    twin.load_state_dict(state["model"])
    twin_opt.load_state_dict(state["opt"])
    for p, q in zip(model.parameters(), twin.parameters()):
        assert q.device == "cuda"
        np.testing.assert_array_equal(p.numpy(), q.numpy())
    assert all(backend.device_of(v) == "cuda" for s in twin_opt.state.values() for k, v in s.items() if k != "step")


def test_optimizer_state_follows_a_model_moved_between_steps(cuda):
    x, y = _batch("mlp")
    runs = {}
    for move in (False, True):
        model = models.build("mlp", 0, (40,)).to("cpu" if move else "cuda")
        opt = tn.optim.Adam(model.parameters(), lr=1e-2)
        for i in range(3):
            if move and i == 1:
                model.to("cuda")
            dev = model.linear1.weight.device
            opt.zero_grad()
            F.cross_entropy(model(Tensor(x, device=dev)), y).backward()
            opt.step()
        assert all(backend.device_of(v) == "cuda" for s in opt.state.values() for k, v in s.items() if k != "step")
        runs[move] = [p.numpy() for p in model.parameters()]
    for a, b in zip(runs[True], runs[False]):
        np.testing.assert_allclose(a, b, rtol=1e-5, atol=1e-7)


@pytest.mark.parametrize("labels_on", ["cpu", "cuda"])
def test_train_and_evaluate_with_labels_on_either_device(cuda, labels_on):
    x, y = _batch("mlp", n=40)
    yb = Tensor(y, device=labels_on)
    histories = {}
    for device in ("cpu", "cuda"):
        model = models.build("mlp", 0, (40,)).to(device)
        opt = tn.optim.SGD(model.parameters(), lr=0.05, momentum=0.9)
        loader = [(x[i:i + 10], yb[i:i + 10]) for i in range(0, 40, 10)]
        histories[device] = train.train(model, opt, None, loader, iterations=6, eval_every=3,
                                         test_data=(x, yb), device=device)
        loss, acc = train.evaluate(model, (x, yb), device=device)
        assert 0 <= acc <= 1 and np.isfinite(loss)
    np.testing.assert_allclose(histories["cuda"]["steps"]["loss"], histories["cpu"]["steps"]["loss"], rtol=1e-4)
    np.testing.assert_allclose(histories["cuda"]["test_acc"], histories["cpu"]["test_acc"])


def test_range_test_on_cuda_gives_the_cpu_curve(cuda):
    import clr

    x, y = _batch("mlp", n=64)
    batches = [(x[i:i + 16], y[i:i + 16]) for i in range(0, 64, 16)]
    curves = {}
    for device in ("cpu", "cuda"):
        model = models.build("mlp", 0, (40,)).to(device)
        opt = tn.optim.SGD(model.parameters(), lr=0.01, momentum=0.9)
        curves[device] = clr.lr_range_test(model, opt, batches, start_lr=1e-3, end_lr=1.0, num_iter=12)
    np.testing.assert_allclose(curves["cuda"].losses, curves["cpu"].losses, rtol=1e-4)


def test_dropout_layer_on_cuda_draws_the_cpu_mask_without_uploading_it(standin):
    layer = nn.Dropout(0.5, rng=3)
    x = Tensor(np.ones((4, 6), np.float32), device="cuda")
    standin.COUNTS.reset()
    y = layer(x)
    assert standin.COUNTS.uploads == 0 and standin.COUNTS.kernels == 2  # the mask, then x * mask
    ref = nn.Dropout(0.5, rng=3)(Tensor(np.ones((4, 6), np.float32)))
    np.testing.assert_array_equal(y.numpy(), ref.numpy())


def test_demo_runs_on_cuda_as_on_cpu(cuda, tmp_path, capsys):
    """`tinynet-clr demo --quick --device cuda`, in-process: the CPU run's outcome and numbers."""
    import json

    from clr.lab import cli

    outcome = {}
    for device in ("cpu", "cuda"):
        out = tmp_path / device
        try:
            # --threads 1: the policies train in this process, where the stand-in is in place
            code = cli.main(["demo", "--quick", "--device", device, "--out", str(out), "--seed", "3",
                             "--threads", "1"])
        except SystemExit as e:  # a refused run (e.g. no bounds found) must be refused alike
            code = e.code
        err = capsys.readouterr().err
        outcome[device] = (code, json.loads((out / "results.json").read_text()) if code == 0 else err)
    (code_cpu, cpu), (code_cuda, gpu) = outcome["cpu"], outcome["cuda"]
    assert code_cuda == code_cpu
    if code_cpu != 0:
        assert gpu.split("error:")[-1] == cpu.split("error:")[-1]
        return
    assert gpu["config"]["device"] == "cuda"
    for name, run in cpu["histories"].items():
        np.testing.assert_allclose(gpu["histories"][name]["test_acc"], run["test_acc"], atol=0.02)


# ----------------------------------------------------------------------------- why 'cuda' is unavailable
class _FakeCupy:
    """What backend._probe asks of CuPy: a device count, then one matmul."""

    class _Runtime:
        def __init__(self, count):
            self.count = count

        def getDeviceCount(self):
            if isinstance(self.count, Exception):
                raise self.count
            return self.count

    def __init__(self, count=1, matmul_error=None):
        import types

        self.cuda = types.SimpleNamespace(runtime=self._Runtime(count))
        self.matmul_error = matmul_error

    def ones(self, shape, dtype=None):
        if self.matmul_error:
            raise self.matmul_error
        return np.ones(shape, dtype)


@pytest.mark.parametrize("fake, error, reason", [
    (None, ModuleNotFoundError("No module named 'cupy'", name="cupy"), "CuPy is not installed"),
    (None, ImportError("libcudart.so.12: cannot open shared object file"), "CuPy is installed but does not import"),
    (_FakeCupy(count=RuntimeError("cudaErrorInsufficientDriver")), None, "cannot talk to a CUDA driver"),
    (_FakeCupy(count=0), None, "CuPy found no CUDA device"),
    (_FakeCupy(matmul_error=ImportError("libcublasLt.so.12: cannot open")), None, "libcublasLt.so.12.*\\[ctk\\]"),
])
def test_unavailable_cuda_says_why(monkeypatch, fake, error, reason):
    monkeypatch.setattr(backend, "_cupy", fake)
    monkeypatch.setattr(backend, "_cupy_error", error)
    assert not backend.cuda_available()
    assert re.search(reason, backend.cuda_unavailable_reason())
    with pytest.raises(ValueError, match="device='cuda' was requested but .*pip install"):
        Tensor([1.0], device="cuda")


def test_there_is_no_hidden_default_device(monkeypatch):
    """TINYNET_DEVICE once moved new tensors but not layers; now nothing moves without being asked."""
    monkeypatch.setenv("TINYNET_DEVICE", "cuda")
    assert Tensor([1.0]).device == "cpu"
    assert all(p.device == "cpu" for p in nn.Linear(2, 3, rng=0).parameters())
