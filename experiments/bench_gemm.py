"""The bare matrix products of the benchmark MLP: NumPy's BLAS against PyTorch's, same shapes.

Usage: python experiments/bench_gemm.py [--calls 300]

This is the floor under tinynet's MLP step: the three float32 products of a 784-512-512-10
layer pair at batch 128 (forward x @ W.T, weight gradient h.T @ x, hidden layer h @ W2),
timed as median milliseconds per call. PyTorch's column is printed when torch is importable.
"""
from __future__ import annotations

import argparse
import time

import numpy as np


def median_ms(fn, calls):
    for _ in range(20):
        fn()
    times = []
    for _ in range(calls):
        start = time.perf_counter()
        fn()
        times.append(time.perf_counter() - start)
    return float(np.median(times)) * 1e3


def main(argv=None):
    parser = argparse.ArgumentParser(description=__doc__.splitlines()[0])
    parser.add_argument("--calls", type=int, default=300, help="timed calls per product (median printed)")
    args = parser.parse_args(argv)
    rng = np.random.default_rng(0)
    x = rng.standard_normal((128, 784), dtype=np.float32)
    w = rng.standard_normal((512, 784), dtype=np.float32)
    h = rng.standard_normal((128, 512), dtype=np.float32)
    w2 = rng.standard_normal((512, 512), dtype=np.float32)
    products = {
        "x @ w.T  (128x784)(784x512)": lambda a: a["x"] @ a["w"].T,
        "h.T @ x  (512x128)(128x784)": lambda a: a["h"].T @ a["x"],
        "h @ w2   (128x512)(512x512)": lambda a: a["h"] @ a["w2"],
    }
    arrays = {"x": x, "w": w, "h": h, "w2": w2}
    try:
        import torch

        tensors = {k: torch.from_numpy(v) for k, v in arrays.items()}
    except ImportError:
        tensors = None
    print(f"{'product':<30s} {'numpy ms':>9s} {'torch ms':>9s} {'ratio':>6s}")
    for name, fn in products.items():
        t_np = median_ms(lambda: fn(arrays), args.calls)
        if tensors is None:
            print(f"{name:<30s} {t_np:9.3f}")
            continue
        t_th = median_ms(lambda: fn(tensors), args.calls)
        print(f"{name:<30s} {t_np:9.3f} {t_th:9.3f} {t_np / t_th:6.2f}")


if __name__ == "__main__":
    main()
