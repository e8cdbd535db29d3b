"""Milliseconds per training step, tinynet beside PyTorch in one run, on all cores and on one.

Usage (from the repository root; PyTorch is optional and only used for the comparison):

    $TORCH_PY experiments/bench.py                 # every model, all cores then one core, vs torch
    $TORCH_PY experiments/bench.py --model cifar --cores all --rounds 9
        [--model mlp cifar cnn1d] [--cores all 1] [--steps 10] [--rounds 7] [--warmup 3]
        [--device cpu|cuda] [--api nn|functional] [--clock wall|cpu] [--profile] [--no-torch]
        [--json out.json]

``$TORCH_PY`` is a Python with torch and this project installed (e.g. a separate venv).
A step is what training does for one batch: zero the gradients, forward, cross-entropy, backward,
and an SGD update with momentum 0.9, all in float32 on synthetic data (seed 0); its loss is read
back (``.item()``) as a training loop does, which also waits for a GPU.

Models:
- mlp:   784-512-512-10 with ReLU, batch 128.
- cifar: Caffe's cifar10_full at batch 100 on 3x32x32 inputs: conv 32 5x5 pad 2, max-pool 3/2,
  ReLU, conv 32 5x5 pad 2, ReLU, avg-pool 3/2, conv 64 5x5 pad 2, ReLU, avg-pool 3/2, linear 10.
  Pools use ceil_mode=True as Caffe does (32 -> 16 -> 8 -> 4). The two LRN layers of the original
  prototxt are left out here.
- cnn1d: the demo's MNIST-1D CNN (clr.lab.models.mnist1d_cnn) at batch 100 on length-40 signals.

Timing on a shared machine. Each round times ``--steps`` steps of one library and then of the
other (the order alternates between rounds), after one untimed step; we report the median step
of all rounds, so both libraries see the same machine load, and print the load average before
and after. Cores: ``all`` runs tinynet inside ``tinynet.threads.limit(cores)`` and torch with
``torch.set_num_threads(cores)``; ``1`` runs both on one thread.

GFLOP/s: the step's multiply-adds in its matrix products and convolutions (forward, weight and
input gradients; the images' gradient is not computed), 2 FLOP each, divided by the median step
time; "peak" is NumPy's BLAS on a 2048x2048 float32 product, measured just before each model on the
same cores, so it tells what fraction of the machine's reach (at that moment) a step uses.
"""
from __future__ import annotations

import argparse
import collections
import math
import os
import statistics
import time
from pathlib import Path

import numpy as np

import tinynet as tn
import tinynet.functional as F
from tinynet import backend, threads
from tinynet.autograd import Function, no_grad

LR, MOMENTUM = 0.01, 0.9
MODELS = {"mlp": dict(batch=128, in_shape=(784,)), "cifar": dict(batch=100, in_shape=(3, 32, 32)),
          "cnn1d": dict(batch=100, in_shape=(1, 40))}
TARGETS = {"cifar": 1.3, "mlp": 1.0}  # tinynet / torch ratio on all cores (issue #11)


# ----------------------------------------------------------------------------- FLOPs
def layers(name):
    """The model's products, in order: ('linear', N, in, out) or ('conv', N, C, O, K-taps, output pixels)."""
    n = MODELS[name]["batch"]
    if name == "mlp":
        return [("linear", n, 784, 512), ("linear", n, 512, 512), ("linear", n, 512, 10)]
    if name == "cifar":
        return [("conv", n, 3, 32, 25, 32 * 32), ("conv", n, 32, 32, 25, 16 * 16), ("conv", n, 32, 64, 25, 8 * 8),
                ("linear", n, 1024, 10)]
    return [("conv", n, 1, 25, 5, 19), ("conv", n, 25, 25, 3, 10), ("conv", n, 25, 25, 3, 5), ("linear", n, 125, 10)]


def step_gflop(name):
    """GFLOP of one training step's products: forward, weight gradient, and input gradient but for layer 1."""
    total = 0
    for k, layer in enumerate(layers(name)):
        if layer[0] == "linear":
            _, n, i, o = layer
            macs = n * i * o
        else:
            _, n, c, o, taps, pixels = layer
            macs = n * pixels * o * c * taps
        total += macs * (2 if k == 0 else 3)  # forward + grad w (+ grad x)
    return 2 * total / 1e9


def peak_gflops(clock=time.perf_counter, reps=5):
    """NumPy's float32 GEMM speed (median of ``reps`` 2048^3 products) with the BLAS threads in force."""
    a = np.random.default_rng(0).standard_normal((2048, 2048)).astype(np.float32)
    a @ a
    times = []
    for _ in range(reps):
        t0 = clock()
        a @ a
        times.append(clock() - t0)
    return 2 * 2048 ** 3 / statistics.median(times) / 1e9


# ----------------------------------------------------------------------------- tinynet models
def nn_model(name, rng):
    """The model from tinynet.nn layers."""
    from tinynet import nn

    if name == "mlp":
        return nn.Sequential(nn.Linear(784, 512, rng=rng), nn.ReLU(), nn.Linear(512, 512, rng=rng), nn.ReLU(),
                             nn.Linear(512, 10, rng=rng))
    if name == "cnn1d":
        from clr.lab import models

        return models.mnist1d_cnn(rng)
    return nn.Sequential(
        nn.Conv2d(3, 32, 5, padding=2, rng=rng), nn.MaxPool2d(3, 2, ceil_mode=True), nn.ReLU(),
        nn.Conv2d(32, 32, 5, padding=2, rng=rng), nn.ReLU(), nn.AvgPool2d(3, 2, ceil_mode=True),
        nn.Conv2d(32, 64, 5, padding=2, rng=rng), nn.ReLU(), nn.AvgPool2d(3, 2, ceil_mode=True),
        nn.Flatten(), nn.Linear(64 * 4 * 4, 10, rng=rng))


def functional_model(name, rng, device):
    """(params, forward) built from tinynet.functional alone, on ``device``: no Module, no Optimizer."""
    def uniform(shape, fan_in):
        bound = 1 / np.sqrt(fan_in)
        return tn.Tensor(rng.uniform(-bound, bound, shape).astype(np.float32), requires_grad=True, device=device)

    if name == "mlp":
        params = [t for o, i in [(512, 784), (512, 512), (10, 512)] for t in (uniform((o, i), i), uniform((o,), i))]

        def forward(x):
            w1, b1, w2, b2, w3, b3 = params
            return F.linear(F.relu(F.linear(F.relu(F.linear(x, w1, b1)), w2, b2)), w3, b3)

        return params, forward
    if name == "cnn1d":
        convs = [(25, 1, 5), (25, 25, 3), (25, 25, 3)]
        params = [t for o, c, k in convs for t in (uniform((o, c, k), c * k), uniform((o,), c * k))]
        params += [uniform((10, 125), 125), uniform((10,), 125)]

        def forward(x):
            w1, b1, w2, b2, w3, b3, w4, b4 = params
            h = F.relu(F.conv1d(x, w1, b1, stride=2, padding=1))
            h = F.relu(F.conv1d(h, w2, b2, stride=2, padding=1))
            h = F.relu(F.conv1d(h, w3, b3, stride=2, padding=1))
            return F.linear(F.flatten(h), w4, b4)

        return params, forward
    convs = [(32, 3), (32, 32), (64, 32)]
    params = [t for o, c in convs for t in (uniform((o, c, 5, 5), c * 25), uniform((o,), c * 25))]
    params += [uniform((10, 1024), 1024), uniform((10,), 1024)]

    def forward(x):
        w1, b1, w2, b2, w3, b3, w4, b4 = params
        x = F.relu(F.max_pool2d(F.conv2d(x, w1, b1, padding=2), 3, 2, ceil_mode=True))
        x = F.avg_pool2d(F.relu(F.conv2d(x, w2, b2, padding=2)), 3, 2, ceil_mode=True)
        x = F.avg_pool2d(F.relu(F.conv2d(x, w3, b3, padding=2)), 3, 2, ceil_mode=True)
        return F.linear(F.flatten(x), w4, b4)

    return params, forward


def tinynet_step_fn(name, api, device, seed=0):
    """A zero-argument function running one training step and returning its loss as a float."""
    rng = np.random.default_rng(seed)
    spec = MODELS[name]
    x = tn.Tensor(rng.standard_normal((spec["batch"],) + spec["in_shape"]).astype(np.float32), device=device)
    t = backend.to_device(rng.integers(0, 10, spec["batch"]), device)
    if api == "nn":
        from tinynet import optim

        model = nn_model(name, rng).to(device)
        opt = optim.SGD(model.parameters(), lr=LR, momentum=MOMENTUM)

        def step():
            opt.zero_grad()
            loss = F.cross_entropy(model(x), t)
            loss.backward()
            opt.step()
            return loss.item()
        return step

    params, forward = functional_model(name, rng, device)
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
        return loss.item()
    return step


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
    elif name == "cnn1d":
        model = nn.Sequential(nn.Conv1d(1, 25, 5, 2, 1), nn.ReLU(), nn.Conv1d(25, 25, 3, 2, 1), nn.ReLU(),
                              nn.Conv1d(25, 25, 3, 2, 1), nn.ReLU(), nn.Flatten(), nn.Linear(125, 10))
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
        return loss.item()
    return step


# ----------------------------------------------------------------------------- timing
def step_times(step, steps, clock):
    """Seconds per call of ``step``, ``steps`` times."""
    times = []
    for _ in range(steps):
        t0 = clock()
        step()
        times.append(clock() - t0)
    return times


def interleaved(steps_by_lib, rounds, steps, warmup, clock):
    """{library: [seconds per step]}: every round times each library in turn (order alternating)."""
    for step in steps_by_lib.values():
        step_times(step, warmup, clock)
    times = {lib: [] for lib in steps_by_lib}
    order = list(steps_by_lib)
    for r in range(rounds):
        for lib in (order if r % 2 == 0 else order[::-1]):
            step_times(steps_by_lib[lib], 1, clock)  # settle after the switch
            times[lib] += step_times(steps_by_lib[lib], steps, clock)
    return times


def _all_functions(cls=Function):
    for sub in cls.__subclasses__():
        yield sub
        yield from _all_functions(sub)


class OpProfiler:
    """Wall time per op class, forward and backward, by wrapping each Function subclass's methods.

    Instrumentation for this script only: installed by ``__enter__`` and removed by ``__exit__``.
    On a GPU each op waits for the device (``sync``), so the times add up to the step.
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


def device_sync(device):
    """Wait for the device (a no-op on the CPU); CuPy comes from tinynet's backend."""
    if device != "cuda":
        return lambda: None
    xp = backend.xp_for_device("cuda")
    return lambda: xp.cuda.Device().synchronize()


# ----------------------------------------------------------------------------- main
def main(argv=None):
    ap = argparse.ArgumentParser(description=__doc__.splitlines()[0])
    ap.add_argument("--model", nargs="+", choices=list(MODELS), default=["cifar", "mlp", "cnn1d"])
    ap.add_argument("--cores", nargs="+", choices=["all", "1"], default=["all", "1"],
                    help="thread settings to measure: all cores, one core (default: both)")
    ap.add_argument("--steps", type=int, default=10, help="timed steps per round and library")
    ap.add_argument("--rounds", type=int, default=7, help="rounds, alternating the libraries (median over all)")
    ap.add_argument("--warmup", type=int, default=3, help="untimed steps of each library first")
    ap.add_argument("--device", choices=["cpu", "cuda"], default="cpu")
    ap.add_argument("--api", choices=["nn", "functional"], default="nn",
                    help="nn: tinynet.nn layers and tinynet.optim.SGD (what users run); functional: "
                         "tinynet.functional and inline SGD (the layer cost alone)")
    ap.add_argument("--clock", choices=["wall", "cpu"], default="wall",
                    help="cpu: process CPU time, steadier on a busy machine; only meaningful with --cores 1")
    ap.add_argument("--profile", action="store_true", help="also print tinynet's ms per op (forward/backward)")
    ap.add_argument("--no-torch", action="store_true", help="skip the PyTorch comparison")
    ap.add_argument("--json", type=Path, help="write the results here (atomically)")
    args = ap.parse_args(argv)
    if args.steps < 1 or args.rounds < 1 or args.warmup < 0:
        ap.error(f"--steps and --rounds must be >= 1 and --warmup >= 0 "
                 f"(got {args.steps}, {args.rounds}, {args.warmup})")
    if args.clock == "cpu" and args.cores != ["1"]:
        ap.error("--clock cpu adds up the CPU time of all threads: use it with --cores 1")
    try:
        device = backend.check_device(args.device, name="--device")
    except ValueError as e:
        ap.error(str(e))
    clock = time.process_time if args.clock == "cpu" else time.perf_counter
    torch = None
    if not args.no_torch:
        try:
            import torch
        except ImportError:
            torch = None
        if torch is not None and device == "cuda" and not torch.cuda.is_available():
            print("torch sees no CUDA device: tinynet only")
            torch = None
    from clr.lab.records import describe_machine, run_metadata, write_json

    cores = threads.available_cores()
    print(describe_machine())
    torch_note = torch.__version__ if torch is not None else "not used" if args.no_torch else "not importable"
    print(f"device {device}; torch {torch_note}; "
          f"load average {os.getloadavg()[0]:.2f}; {args.rounds} rounds x {args.steps} steps, clock {args.clock}")
    print(f"{'model':<7}{'cores':>6}{'tinynet ms':>12}{'torch ms':>10}{'ratio':>7}{'target':>8}"
          f"{'tinynet GF/s':>14}{'torch GF/s':>12}{'peak GF/s':>11}{'load':>6}")
    results = []
    for setting in args.cores:
        n = cores if setting == "all" else 1
        for name in args.model:
            with threads.limit(n):
                if torch is not None:
                    torch.set_num_threads(n)
                load = os.getloadavg()[0]
                peak = peak_gflops(clock) if device == "cpu" else math.nan
                libs = {"tinynet": tinynet_step_fn(name, args.api, device)}
                if torch is not None:
                    libs["torch"] = torch_step_fn(name, device)
                times = interleaved(libs, args.rounds, args.steps, args.warmup, clock)
                gflop = step_gflop(name)
                ms = {lib: 1e3 * statistics.median(ts) for lib, ts in times.items()}
                row = {"model": name, "cores": n, "api": args.api, "batch": MODELS[name]["batch"],
                       "step_gflop": gflop, "peak_gflops": peak, "load_average": load,
                       "tinynet_ms": ms["tinynet"], "tinynet_gflops": gflop / ms["tinynet"] * 1e3,
                       "tinynet_ms_all": [1e3 * t for t in times["tinynet"]]}
                line = f"{name:<7}{n:>6}{ms['tinynet']:>12.2f}"
                if "torch" in ms:
                    ratio = ms["tinynet"] / ms["torch"]
                    target = TARGETS.get(name) if setting == "all" else None
                    row.update(torch_ms=ms["torch"], torch_gflops=gflop / ms["torch"] * 1e3, ratio=ratio,
                               target=target, torch_ms_all=[1e3 * t for t in times["torch"]])
                    line += f"{ms['torch']:>10.2f}{ratio:>7.2f}{(f'<={target:g}' if target else '-'):>8}"
                    line += f"{row['tinynet_gflops']:>14.1f}{row['torch_gflops']:>12.1f}"
                else:
                    line += f"{'-':>10}{'-':>7}{'-':>8}{row['tinynet_gflops']:>14.1f}{'-':>12}"
                print(line + f"{peak:>11.1f}{load:>6.2f}", flush=True)
                if args.profile:
                    with OpProfiler(device_sync(device), clock) as prof:
                        ts = step_times(libs["tinynet"], args.steps, clock)
                    prof.report(args.steps, 1e3 * statistics.median(ts))
                results.append(row)
    print(f"load average at the end {os.getloadavg()[0]:.2f}")
    if args.json:
        meta = run_metadata(seed=0, device=device, steps=args.steps, rounds=args.rounds, warmup=args.warmup,
                            clock=args.clock, cores=cores, torch_version=getattr(torch, "__version__", None))
        write_json(args.json, {"meta": meta, "results": results})
        print(f"wrote {args.json}")


if __name__ == "__main__":
    main()
