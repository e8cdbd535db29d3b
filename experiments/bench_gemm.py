"""The bare matrix products under tinynet's steps: NumPy's BLAS against PyTorch's, same shapes, same cores.

Usage: $TORCH_PY experiments/bench_gemm.py [--calls 300] [--cores all 1]

This is the floor under tinynet's MLP step (the three float32 products of a 784-512-512-10
layer pair at batch 128: forward x @ W.T, weight gradient h.T @ x, hidden layer h @ W2), one
per-kernel-row product of cifar10_full's second convolution (25,600 x 160 by 160 x 32), and the
2048^3 product that bench.py calls the machine's peak. Median milliseconds per call and GFLOP/s;
the libraries alternate product by product. PyTorch's columns are printed when torch imports.
Cores: ``all`` sets NumPy's BLAS (tinynet.threads.limit) and torch to every core, ``1`` to one.
"""
from __future__ import annotations

import argparse
import os
import time

import numpy as np

from tinynet import threads


def median_ms(fn, calls):
    for _ in range(min(20, calls)):
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
    parser.add_argument("--cores", nargs="+", choices=["all", "1"], default=["all", "1"])
    args = parser.parse_args(argv)
    rng = np.random.default_rng(0)
    arrays = {"x": (128, 784), "w": (512, 784), "h": (128, 512), "w2": (512, 512), "cols": (25600, 160),
              "k": (160, 32), "big": (2048, 2048)}
    arrays = {k: rng.standard_normal(s, dtype=np.float32) for k, s in arrays.items()}
    products = {  # name: (function of the arrays, FLOP)
        "x @ w.T   (128x784)(784x512)": (lambda a: a["x"] @ a["w"].T, 2 * 128 * 784 * 512),
        "h.T @ x   (512x128)(128x784)": (lambda a: a["h"].T @ a["x"], 2 * 512 * 128 * 784),
        "h @ w2    (128x512)(512x512)": (lambda a: a["h"] @ a["w2"], 2 * 128 * 512 * 512),
        "conv row  (25600x160)(160x32)": (lambda a: a["cols"] @ a["k"], 2 * 25600 * 160 * 32),
        "peak      (2048x2048)^2": (lambda a: a["big"] @ a["big"], 2 * 2048 ** 3),
    }
    try:
        import torch

        tensors = {k: torch.from_numpy(v) for k, v in arrays.items()}
    except ImportError:
        torch = tensors = None
    print(f"load average {os.getloadavg()[0]:.2f}")
    print(f"{'cores':<6}{'product':<32}{'numpy ms':>9}{'GF/s':>7}{'torch ms':>9}{'GF/s':>7}{'ratio':>7}")
    for setting in args.cores:
        n = threads.available_cores() if setting == "all" else 1
        with threads.limit(n):
            if torch is not None:
                torch.set_num_threads(n)
            for name, (fn, flop) in products.items():
                calls = max(5, args.calls // 30) if "peak" in name else args.calls
                t_np = median_ms(lambda: fn(arrays), calls)
                line = f"{n:<6}{name:<32}{t_np:9.3f}{flop / t_np / 1e6:7.1f}"
                if tensors is not None:
                    t_th = median_ms(lambda: fn(tensors), calls)
                    line += f"{t_th:9.3f}{flop / t_th / 1e6:7.1f}{t_np / t_th:7.2f}"
                print(line, flush=True)
    print(f"load average at the end {os.getloadavg()[0]:.2f}")


if __name__ == "__main__":
    main()
