"""Numerical gradient checks in float64 by central differences.

    numeric d f / d x_i  ~  (f(x + eps e_i) - f(x - eps e_i)) / (2 eps)

``fn`` may return a tensor of any shape: we check the scalar ``sum(fn(x) * w)``
for a fixed random ``w``, which tests every output's gradient at once.
"""
from __future__ import annotations

import numpy as np

from . import backend
from .autograd import no_grad
from .tensor import Tensor


class GradcheckError(AssertionError):
    """Analytic and numeric gradients disagree (the message says where and by how much)."""


def _as_float64_inputs(inputs):
    out = []
    for i, x in enumerate(inputs):
        if not isinstance(x, Tensor):
            raise TypeError(f"gradcheck input {i} must be a Tensor, got {type(x).__name__}")
        if x.requires_grad and x.dtype != np.float64:
            raise TypeError(f"gradcheck input {i} has dtype {x.dtype}; gradient checks need float64 "
                            "(create it with dtype=np.float64) so differences are not swamped by rounding")
        out.append(x)
    return out


def gradcheck(fn, inputs, eps=1e-6, atol=1e-5, rtol=1e-4, mode="full", seed=0, names=None):
    """Compare ``backward`` against central differences for every input that requires grad.

    Args:
        fn: callable taking the tensors in ``inputs`` and returning a Tensor.
        inputs: list of Tensors (float64 for those with ``requires_grad=True``; others are held fixed).
        eps, atol, rtol: step and tolerances; passes when |analytic - numeric| <= atol + rtol * |numeric|.
        mode: 'full' perturbs every element (exact, O(size) evaluations); 'direction' checks
            the directional derivative along one random unit vector per input (O(1) evaluations,
            for large inputs and GPU arrays).
        seed: seeds the random output weighting and directions.
        names: optional names for the inputs, used in error messages (e.g. parameter names).

    Returns True when all gradients agree; otherwise raises GradcheckError naming the input,
    the worst element, both values, eps and the tolerances.
    """
    if mode not in ("full", "direction"):
        raise ValueError(f"mode={mode!r} must be 'full' or 'direction'")
    inputs = _as_float64_inputs(list(inputs))
    names = list(names) if names is not None else [f"input {i}" for i in range(len(inputs))]
    rng = np.random.default_rng(seed)

    out = fn(*inputs)
    if not isinstance(out, Tensor):
        raise TypeError(f"gradcheck: fn must return a Tensor, got {type(out).__name__}")
    xp = backend.get_array_module(out.data)
    w = xp.asarray(rng.standard_normal(out.shape))

    def objective():
        with no_grad():
            return float((fn(*inputs).data * w).sum())

    for x in inputs:
        x.grad = None
    (out * Tensor._wrap(w.astype(out.dtype), False)).sum().backward()

    for i, x in enumerate(inputs):
        if not x.requires_grad:
            continue
        analytic = x.grad if x.grad is not None else xp.zeros_like(x.data)
        flat = x.data.reshape(-1)  # a view: perturbing it perturbs x
        if mode == "full":
            numeric = np.empty(flat.size)
            for j in range(flat.size):
                orig = flat[j].item()
                flat[j] = orig + eps
                f_plus = objective()
                flat[j] = orig - eps
                f_minus = objective()
                flat[j] = orig
                numeric[j] = (f_plus - f_minus) / (2 * eps)
            a = backend.to_numpy(analytic).reshape(-1).astype(np.float64)
        else:
            d = rng.standard_normal(flat.size)
            d /= np.linalg.norm(d) or 1.0
            orig = flat.copy()
            dd = xp.asarray(d)
            flat[...] = orig + eps * dd
            f_plus = objective()
            flat[...] = orig - eps * dd
            f_minus = objective()
            flat[...] = orig
            numeric = np.array([(f_plus - f_minus) / (2 * eps)])
            a = np.array([float((backend.to_numpy(analytic).reshape(-1) * d).sum())])
        err = np.abs(a - numeric)
        bound = atol + rtol * np.abs(numeric)
        if not np.all(np.isfinite(a)) or np.any(err > bound):
            bad = np.nan_to_num(err - bound, nan=np.inf)
            k = int(np.argmax(bad))
            where = (f"element {tuple(int(i) for i in np.unravel_index(k, x.shape))}" if mode == "full"
                     else "along a random direction")
            raise GradcheckError(
                f"gradcheck failed for {names[i]} (shape {x.shape}) at {where}: analytic {a[k]:.8g} vs "
                f"numeric {numeric[k]:.8g} (|diff| {err[k]:.3g} > atol {atol:g} + rtol {rtol:g} * |numeric|; eps {eps:g})")
    return True
