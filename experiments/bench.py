"""Milliseconds per training step: tinynet against PyTorch, on an MLP and on Caffe's cifar10_full net.

Usage (from the repository root; PyTorch is optional and only used for the comparison):

    $TORCH_PY experiments/bench.py [--model mlp|cifar|all]    # $TORCH_PY: a Python with torch and this project
        [--steps 20] [--rounds 3] [--warmup 5] [--device cpu|cuda] [--api auto|nn|functional]
        [--threads N] [--clock wall|cpu] [--profile] [--no-torch] [--json out.json]

A step is what training does for one batch: zero the gradients, forward, cross-entropy,
backward, and an SGD update with momentum 0.9, all in float32 on synthetic data (seed 0).
We print the median ms/step over ``--rounds`` x ``--steps`` timed steps (after ``--warmup``
untimed ones) and, when torch imports, the same model in PyTorch and the ratio
tinynet / PyTorch. The two alternate round by round, so both see the same machine load.

Models:
- mlp:   784-512-512-10 with ReLU, batch 128.
- cifar: Caffe's cifar10_full at batch 100 on 3x32x32 inputs: conv 32 5x5 pad 2, max-pool 3/2,
  ReLU, conv 32 5x5 pad 2, ReLU, avg-pool 3/2, conv 64 5x5 pad 2, ReLU, avg-pool 3/2, linear 10.
  Pools use ceil_mode=True as Caffe does (32 -> 16 -> 8 -> 4), so the linear layer sees 64*4*4
  inputs. The two LRN layers of the original prototxt are left out here.

``--api nn`` builds the models from ``tinynet.nn`` and updates with ``tinynet.optim.SGD`` (what
users run); ``--api functional`` uses only ``tinynet.functional`` and a few lines of inline
momentum SGD (to separate layer cost from module/optimizer overhead); ``auto`` (the default)
picks nn when it imports. ``--profile`` times every op's forward and backward and prints
where a step's time goes.

Threads: NumPy's OpenBLAS and torch both use every core by default (both counts are printed);
``--threads N`` sets both. On a machine that others are using, multi-threaded timings swing
wildly (a BLAS thread waiting for a descheduled partner); ``--threads 1 --clock cpu`` measures
process CPU time instead, which is much steadier and still compares the two fairly.
"""
from __future__ import annotations

import argparse
import collections
import ctypes
import glob
import os
import statistics
import sys
import time
from pathlib import Path

import numpy as np


import tinynet as tn
import tinynet.functional as F
from tinynet import backend
from tinynet.autograd import Function, no_grad

LR, MOMENTUM = 0.01, 0.9
MODELS = {"mlp": dict(batch=128, in_shape=(784,)), "cifar": dict(batch=100, in_shape=(3, 32, 32))}


# ----------------------------------------------------------------------------- tinynet models
def nn_model(name, rng):
    """The model from tinynet.nn layers."""
    from tinynet import nn

    if name == "mlp":
        return nn.Sequential(nn.Linear(784, 512, rng=rng), nn.ReLU(), nn.Linear(512, 512, rng=rng), nn.ReLU(),
                             nn.Linear(512, 10, rng=rng))
    return nn.Sequential(
        nn.Conv2d(3, 32, 5, padding=2, rng=rng), nn.MaxPool2d(3, 2, ceil_mode=True), nn.ReLU(),
        nn.Conv2d(32, 32, 5, padding=2, rng=rng), nn.ReLU(), nn.AvgPool2d(3, 2, ceil_mode=True),
        nn.Conv2d(32, 64, 5, padding=2, rng=rng), nn.ReLU(), nn.AvgPool2d(3, 2, ceil_mode=True),
        nn.Flatten(), nn.Linear(64 * 4 * 4, 10, rng=rng))


def _uniform(rng, shape, fan_in):
    bound = 1 / np.sqrt(fan_in)
    return tn.Tensor(rng.uniform(-bound, bound, shape).astype(np.float32), requires_grad=True)


def functional_model(name, rng):
    """(params, forward) built from tinynet.functional alone: no Module, no Optimizer."""
    if name == "mlp":
        sizes = [(512, 784), (512, 512), (10, 512)]
        params = [t for o, i in sizes for t in (_uniform(rng, (o, i), i), _uniform(rng, (o,), i))]

        def forward(x):
            w1, b1, w2, b2, w3, b3 = params
            return F.linear(F.relu(F.linear(F.relu(F.linear(x, w1, b1)), w2, b2)), w3, b3)

        return params, forward
    convs = [(32, 3), (32, 32), (64, 32)]
    params = [t for o, c in convs for t in (_uniform(rng, (o, c, 5, 5), c * 25), _uniform(rng, (o,), c * 25))]
    params += [_uniform(rng, (10, 1024), 1024), _uniform(rng, (10,), 1024)]

    def forward(x):
        w1, b1, w2, b2, w3, b3, w4, b4 = params
        x = F.relu(F.max_pool2d(F.conv2d(x, w1, b1, padding=2), 3, 2, ceil_mode=True))
        x = F.avg_pool2d(F.relu(F.conv2d(x, w2, b2, padding=2)), 3, 2, ceil_mode=True)
        x = F.avg_pool2d(F.relu(F.conv2d(x, w3, b3, padding=2)), 3, 2, ceil_mode=True)
        return F.linear(F.flatten(x), w4, b4)

    return params, forward


def tinynet_step_fn(name, api, device, seed=0):
    """A zero-argument function running one training step, and the API actually used."""
    rng = np.random.default_rng(seed)
    spec = MODELS[name]
    x = tn.Tensor(rng.standard_normal((spec["batch"],) + spec["in_shape"]).astype(np.float32), device=device)
    t = backend.to_device(rng.integers(0, 10, spec["batch"]), device)
    if api == "auto":
        try:
            from tinynet import nn, optim  # noqa: F401
            api = "nn"
        except ImportError:
            api = "functional"
    if api == "nn":
        from tinynet import optim

        model = nn_model(name, rng).to(device)
        opt = optim.SGD(model.parameters(), lr=LR, momentum=MOMENTUM)

        def step():
            opt.zero_grad()
            loss = F.cross_entropy(model(x), t)
            loss.backward()
            opt.step()
            return loss
        return step, api

    params, forward = functional_model(name, rng)
    params = [p.to(device) for p in params]
    velocity = [None] * len(params)

    def step():
        for p in params:
            p.grad = None
        loss = F.cross_entropy(forward(x), t)
        loss.backward()
        with no_grad():
            for k, p in enumerate(params):  # PyTorch's form: v = m v + g; p -= lr v
                if velocity[k] is None:
                    velocity[k] = p.grad.copy()
                else:
                    velocity[k] *= MOMENTUM
                    velocity[k] += p.grad
                p.data -= LR * velocity[k]
        return loss
    return step, api


# ----------------------------------------------------------------------------- PyTorch models
def torch_step_fn(name, device, seed=0):
    import torch
    from torch import nn

    torch.manual_seed(seed)
    spec = MODELS[name]
    rng = np.random.default_rng(seed)
    x = torch.from_numpy(rng.standard_normal((spec["batch"],) + spec["in_shape"]).astype(np.float32)).to(device)
    t = torch.from_numpy(rng.integers(0, 10, spec["batch"])).to(device)
    if name == "mlp":
        model = nn.Sequential(nn.Linear(784, 512), nn.ReLU(), nn.Linear(512, 512), nn.ReLU(), nn.Linear(512, 10))
    else:
        model = nn.Sequential(
            nn.Conv2d(3, 32, 5, padding=2), nn.MaxPool2d(3, 2, ceil_mode=True), nn.ReLU(),
            nn.Conv2d(32, 32, 5, padding=2), nn.ReLU(), nn.AvgPool2d(3, 2, ceil_mode=True),
            nn.Conv2d(32, 64, 5, padding=2), nn.ReLU(), nn.AvgPool2d(3, 2, ceil_mode=True),
            nn.Flatten(), nn.Linear(64 * 4 * 4, 10))
    model.to(device)
    opt = torch.optim.SGD(model.parameters(), lr=LR, momentum=MOMENTUM)

    def step():
        opt.zero_grad()
        loss = nn.functional.cross_entropy(model(x), t)
        loss.backward()
        opt.step()
        return loss
    return step


# ----------------------------------------------------------------------------- timing
def step_times(step, steps, sync=lambda: None, clock=time.perf_counter):
    """Seconds per call of ``step``, ``steps`` times."""
    times = []
    for _ in range(steps):
        t0 = clock()
        step()
        sync()
        times.append(clock() - t0)
    return times


def _sync_for(device, torch_side=False):
    if device != "cuda":
        return lambda: None
    if torch_side:
        import torch
        return torch.cuda.synchronize
    import cupy
    return lambda: cupy.cuda.Device().synchronize()


def _all_functions(cls=Function):
    for sub in cls.__subclasses__():
        yield sub
        yield from _all_functions(sub)


class OpProfiler:
    """Wall time per op class, forward and backward, by wrapping each Function subclass's methods.

    Instrumentation for this script only: installed by ``__enter__`` and removed by ``__exit__``.
    """

    def __init__(self, sync, clock):
        self.sync, self.clock, self.totals, self.saved = sync, clock, collections.defaultdict(float), []

    def _wrap(self, cls, meth):
        inner = cls.__dict__[meth]
        totals, sync, clock, key = self.totals, self.sync, self.clock, (cls.__name__, meth)

        def timed(fn_self, *args):
            t0 = clock()
            out = inner(fn_self, *args)
            sync()
            totals[key] += clock() - t0
            return out
        return timed

    def __enter__(self):
        for cls in set(_all_functions()):
            for meth in ("forward", "backward"):
                if meth in cls.__dict__:
                    self.saved.append((cls, meth, cls.__dict__[meth]))
                    setattr(cls, meth, self._wrap(cls, meth))
        return self

    def __exit__(self, *exc):
        for cls, meth, fn in self.saved:
            setattr(cls, meth, fn)

    def report(self, steps, total_ms):
        rows = sorted(self.totals.items(), key=lambda kv: -kv[1])
        ops_ms = 0.0
        print(f"    {'op':<22}{'pass':<10}{'ms/step':>9}{'share':>8}")
        for (name, meth), secs in rows:
            ms = 1e3 * secs / steps
            ops_ms += ms
            print(f"    {name:<22}{meth:<10}{ms:9.2f}{100 * ms / total_ms:7.1f}%")
        rest = total_ms - ops_ms
        print(f"    {'(everything else)':<32}{rest:9.2f}{100 * rest / total_ms:7.1f}%"
              "   graph bookkeeping, optimizer, zero_grad")


# ----------------------------------------------------------------------------- BLAS threads
def _openblas():
    """NumPy's bundled OpenBLAS as a ctypes library plus its symbol prefix, or (None, None)."""
    pattern = os.path.join(os.path.dirname(np.__file__) + ".libs", "lib*openblas*.so*")
    for path in glob.glob(pattern):
        try:
            lib = ctypes.CDLL(path)
        except OSError:
            continue
        for prefix, suffix in (("scipy_openblas_", "64_"), ("scipy_openblas_", ""), ("openblas_", "")):
            if hasattr(lib, f"{prefix}get_num_threads{suffix}"):
                return lib, (prefix, suffix)
    return None, None


def blas_threads(set_to=None):
    """NumPy's OpenBLAS thread count (after setting it to ``set_to``), or a note when we cannot ask."""
    lib, (prefix, suffix) = _openblas()
    if lib is None:
        return os.environ.get("OPENBLAS_NUM_THREADS") or "unknown (not NumPy's bundled OpenBLAS)"
    if set_to is not None:
        getattr(lib, f"{prefix}set_num_threads{suffix}")(int(set_to))
    return int(getattr(lib, f"{prefix}get_num_threads{suffix}")())


# ----------------------------------------------------------------------------- main
def main(argv=None):
    ap = argparse.ArgumentParser(description=__doc__.splitlines()[0])
    ap.add_argument("--model", choices=["mlp", "cifar", "all"], default="all")
    ap.add_argument("--steps", type=int, default=20, help="timed steps per round (median over all rounds)")
    ap.add_argument("--rounds", type=int, default=3,
                    help="alternate tinynet and torch this many times, so both see the same machine load")
    ap.add_argument("--warmup", type=int, default=5, help="untimed steps first")
    ap.add_argument("--device", choices=["cpu", "cuda"], default="cpu")
    ap.add_argument("--api", choices=["auto", "nn", "functional"], default="auto")
    ap.add_argument("--threads", type=int, default=None,
                    help="BLAS and torch threads (default: all cores, each library's default)")
    ap.add_argument("--clock", choices=["wall", "cpu"], default="wall",
                    help="cpu: process CPU time, steadier on a busy machine; only meaningful with --threads 1")
    ap.add_argument("--profile", action="store_true", help="also print ms per op (forward/backward)")
    ap.add_argument("--no-torch", action="store_true", help="skip the PyTorch comparison")
    ap.add_argument("--json", type=Path, help="write the results here (atomically)")
    args = ap.parse_args(argv)
    if args.steps < 1 or args.rounds < 1 or args.warmup < 0:
        ap.error(f"--steps and --rounds must be >= 1 and --warmup >= 0 "
                 f"(got {args.steps}, {args.rounds}, {args.warmup})")
    if args.threads is not None and args.threads < 1:
        ap.error(f"--threads must be >= 1, got {args.threads}")
    if args.clock == "cpu" and args.threads != 1:
        ap.error("--clock cpu adds up the CPU time of all threads (idle BLAS threads spin): use it with --threads 1")
    try:
        device = backend.check_device(args.device, name="--device")
    except ValueError as e:
        ap.error(str(e))
    clock = time.process_time if args.clock == "cpu" else time.perf_counter

    torch = None
    if not args.no_torch:
        try:
            import torch
            torch.set_num_threads(args.threads or os.cpu_count() or 1)
        except ImportError:
            torch = None
    nblas = blas_threads(args.threads)
    from clr.lab.records import describe_machine, run_metadata, write_json

    print(describe_machine())
    print(f"NumPy BLAS threads: {nblas}" + (f"; torch {torch.__version__}, threads {torch.get_num_threads()}"
                                           if torch is not None else "; torch not importable")
          + f"; load average {os.getloadavg()[0]:.2f}; clock {args.clock}")
    names = ["mlp", "cifar"] if args.model == "all" else [args.model]
    results = []
    for name in names:
        sync = _sync_for(device)
        step, api = tinynet_step_fn(name, args.api, device)
        tstep = torch_step_fn(name, device) if torch is not None else None
        tsync = _sync_for(device, torch_side=True) if torch is not None else None
        ours, theirs = [], []
        for r in range(args.rounds):
            step_times(step, args.warmup if r == 0 else 1, sync, clock)  # warm up / settle after the switch
            ours += step_times(step, args.steps, sync, clock)
            if tstep is not None:
                step_times(tstep, args.warmup if r == 0 else 1, tsync, clock)
                theirs += step_times(tstep, args.steps, tsync, clock)
        ms = 1e3 * statistics.median(ours)
        row = {"model": name, "api": api, "batch": MODELS[name]["batch"], "tinynet_ms": ms,
               "tinynet_min_ms": 1e3 * min(ours)}
        line = f"{name:<6} tinynet ({api}) {ms:8.2f} ms/step"
        if theirs:
            tms = 1e3 * statistics.median(theirs)
            row.update(torch_ms=tms, torch_min_ms=1e3 * min(theirs), ratio=ms / tms)
            line += f"   torch {tms:8.2f} ms/step   ratio {ms / tms:5.2f}x"
        print(line + f"   (min {row['tinynet_min_ms']:.2f}" + (f" / {row['torch_min_ms']:.2f})" if theirs else ")"),
              flush=True)
        if args.profile:
            with OpProfiler(sync, clock) as prof:
                times = step_times(step, args.steps, sync, clock)
            prof.report(args.steps, 1e3 * statistics.median(times))
        results.append(row)
    print(f"load average at the end {os.getloadavg()[0]:.2f}")
    if args.json:
        meta = run_metadata(seed=0, device=device, steps=args.steps, rounds=args.rounds, warmup=args.warmup,
                            clock=args.clock, blas_threads=nblas, load_average=os.getloadavg()[0],
                            torch_version=getattr(torch, "__version__", None),
                            torch_threads=torch.get_num_threads() if torch is not None else None)
        write_json(args.json, {"meta": meta, "results": results})
        print(f"wrote {args.json}")


if __name__ == "__main__":
    main()
