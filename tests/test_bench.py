"""experiments/bench.py: every model's step runs with both APIs, on the CPU and on 'cuda' (the CuPy
stand-in without a GPU), and the FLOP count it divides by is the models' arithmetic. No timings."""
import math

import numpy as np
import pytest

import bench  # experiments/ via pytest's pythonpath


@pytest.mark.parametrize("api", ["nn", "functional"])
@pytest.mark.parametrize("name", list(bench.MODELS))
def test_step_runs_and_learns_on_each_device(device, name, api):
    step = bench.tinynet_step_fn(name, api, device)
    losses = [step() for _ in range(3)]
    assert all(isinstance(v, float) and math.isfinite(v) for v in losses)
    assert losses[-1] < losses[0]


def test_nn_and_functional_models_have_the_same_parameter_shapes():
    rng = np.random.default_rng(0)
    for name in bench.MODELS:
        params, _ = bench.functional_model(name, rng, "cpu")
        assert sorted(p.shape for p in params) == sorted(p.shape for p in bench.nn_model(name, rng).parameters())


@pytest.mark.parametrize("name, gflop", [
    # cifar10_full: 3.44 G multiply-adds in its products (forward, weight gradients, input gradients
    # of layers 2-4), 2 FLOP each; the MLP: 3 x 128 x (784*512 + 512*512 + 512*10) minus layer 1's grad x
    ("cifar", 2 * (100 * 1024 * 32 * 75 * 2 + 100 * 256 * 32 * 800 * 3 + 100 * 64 * 64 * 800 * 3
                   + 100 * 1024 * 10 * 3) / 1e9),
    ("mlp", 2 * 128 * (784 * 512 * 2 + 512 * 512 * 3 + 512 * 10 * 3) / 1e9),
])
def test_step_flops(name, gflop):
    assert bench.step_gflop(name) == pytest.approx(gflop)
    assert bench.step_gflop("cifar") == pytest.approx(6.887, abs=1e-3)
