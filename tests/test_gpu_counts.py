"""Device work per training step on 'cuda', counted through the CuPy stand-in.

A step is what a training loop does for one batch: zero the gradients, forward, cross-entropy on
host labels, backward, and an SGD step with momentum 0.9 (the bench settings). It must not wait
for the device (0 host syncs): the only sync a loop needs is the one where it asks for the loss
(``loss.item()``). The kernel counts are upper bounds, so a change that adds device passes to the
hot path fails here; lower them when a change removes some. The stand-in counts what a GPU would
launch; it cannot time it (see tests/cupy_standin.py).

Run ``python tests/test_gpu_counts.py`` for the table in docs/benchmarks.md.
"""
import numpy as np
import pytest

import cupy_standin
import tinynet as tn
import tinynet.functional as F
from clr.lab import models
from tinynet import backend

#: name -> (builder, input shape per sample, batch)
MODELS = {
    "bench MLP 784-512-512-10": (lambda: models.mlp(784, [512, 512], 10, rng=0), (784,), 128),
    "MNIST-1D CNN": (lambda: models.mnist1d_cnn(rng=0), (40,), 100),
    "cifar10_full": (lambda: models.cifar10_full(rng=0), (3, 32, 32), 100),
}
#: kernels and uploads per step at most (measured, see docs/benchmarks.md); the labels are one upload
KERNEL_BUDGET = {"bench MLP 784-512-512-10": 50, "MNIST-1D CNN": 100, "cifar10_full": 220}
UPLOAD_BUDGET = {"bench MLP 784-512-512-10": 1, "MNIST-1D CNN": 1, "cifar10_full": 3}


def make_step(name, labels_device="cpu"):
    """A function running one SGD training step of model ``name`` on 'cuda' on one fixed batch."""
    build, shape, batch = MODELS[name]
    rng = np.random.default_rng(0)
    model = build().to("cuda")
    groups = model.param_groups() if hasattr(model, "param_groups") else model.parameters()
    opt = tn.optim.SGD(groups, lr=0.01, momentum=0.9)
    x = tn.Tensor(rng.standard_normal((batch, *shape)).astype(np.float32), device="cuda")
    y = rng.integers(0, 10, batch)  # host labels, as a DataLoader yields them
    y = y if labels_device == "cpu" else backend.to_device(y, labels_device)

    def step():
        opt.zero_grad()
        loss = F.cross_entropy(model(x), y)
        loss.backward()
        opt.step()
        return loss
    return step


def count_step(name, warmup=2):
    """Counts (kernels, uploads, syncs) of one steady-state step of model ``name`` on the stand-in,
    and the kernels and syncs by name; the backend must already use the stand-in."""
    step = make_step(name)
    for _ in range(warmup):  # the first step allocates momentum buffers
        step()
    counts = cupy_standin.COUNTS
    counts.reset()
    step()
    return counts.snapshot(), dict(counts.by_name), dict(counts.sync_sites)


@pytest.mark.parametrize("name", list(MODELS))
def test_a_training_step_never_waits_for_the_device(standin, name):
    counts, by_name, sync_sites = count_step(name)
    assert counts["syncs"] == 0, f"host syncs inside a step: {sync_sites}"
    assert counts["kernels"] <= KERNEL_BUDGET[name], by_name
    assert counts["uploads"] <= UPLOAD_BUDGET[name]


@pytest.mark.gpu
@pytest.mark.skipif(not backend.cuda_available(), reason="needs CuPy and a CUDA device")
@pytest.mark.parametrize("name", list(MODELS))
def test_a_training_step_never_waits_for_a_real_gpu(name):
    """CuPy's own sync detector on the real device (labels already there, so the one upload of
    host labels is not in question)."""
    import cupyx

    step = make_step(name, labels_device="cuda")
    step()
    step()
    with cupyx.allow_synchronize(False):
        step()


def test_asking_for_the_loss_is_the_one_sync(standin):
    x = tn.Tensor(np.ones((4, 3), np.float32), device="cuda", requires_grad=True)
    loss = F.cross_entropy(x, np.array([0, 1, 2, 0]))
    standin.COUNTS.reset()
    loss.item()
    assert standin.COUNTS.syncs == 1


def main():
    from tinynet import backend as b

    b._cupy, b._cupyx, b._cupy_error = cupy_standin, cupy_standin.cupyx, None
    print("| model | kernels | uploads | host syncs |")
    print("|---|---:|---:|---:|")
    for name in MODELS:
        counts, by_name, sync_sites = count_step(name)
        print(f"| {name} | {counts['kernels']} | {counts['uploads']} | {counts['syncs']} |")
        top = sorted(by_name.items(), key=lambda kv: -kv[1])[:12]
        print("<!--", name, "kernels by name:", ", ".join(f"{k} {v}" for k, v in top),
              "| syncs:", sync_sites, "-->")


if __name__ == "__main__":
    main()
