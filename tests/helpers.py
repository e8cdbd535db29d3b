"""Helpers shared by the test files (import them as ``from helpers import ...``; pytest puts tests/ on the path)."""
import csv

import numpy as np

from tinynet import Tensor


def t64(rng, *shape, scale=1.0, positive=False, requires_grad=True, dtype=np.float64):
    """A random Tensor, float64 unless told: standard normal times ``scale``; |x| + 0.5 when ``positive``."""
    x = scale * rng.standard_normal(shape)
    if positive:
        x = np.abs(x) + 0.5
    return Tensor(x, dtype=dtype, requires_grad=requires_grad)


def compare_with_reference(ref_fn, fast_fn, inputs, rng, rtol=1e-12, atol=1e-12):
    """``fast_fn`` and the readable ``ref_fn`` agree: output, and every input's gradient under one
    random weighting of the output. ``inputs`` are Tensors; the reference gets copies of them."""
    ref_inputs = [Tensor(t.data.copy(), requires_grad=t.requires_grad) for t in inputs]
    y, y_ref = fast_fn(*inputs), ref_fn(*ref_inputs)
    assert y.shape == y_ref.shape and y.dtype == y_ref.dtype
    np.testing.assert_allclose(y.numpy(), y_ref.numpy(), rtol=rtol, atol=atol)
    w = Tensor(rng.standard_normal(y.shape), dtype=y.dtype)
    (y * w).sum().backward()
    (y_ref * w).sum().backward()
    for t, r in zip(inputs, ref_inputs):
        if t.requires_grad:
            assert t.grad.dtype == t.dtype and t.grad.shape == t.shape
            np.testing.assert_allclose(t.grad, r.grad, rtol=rtol, atol=atol)


def read_csv(path):
    """(column names, rows as dicts of strings) of a CSV file."""
    with open(path, newline="", encoding="utf-8") as f:
        reader = csv.DictReader(f)
        return reader.fieldnames, list(reader)


class FakeOptimizer:
    """What a scheduler or the range test sees of tinynet's (or torch's) optimizers: param_groups."""

    def __init__(self, n_groups=1, kind="sgd", lr=0.123):
        extra = {"sgd": {"momentum": 0.0}, "adam": {"betas": (0.9, 0.999)}, "plain": {}}[kind]
        self.param_groups = [{"params": [], "lr": lr, **extra} for _ in range(n_groups)]
