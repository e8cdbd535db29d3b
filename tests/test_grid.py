"""clr.lab.grid.run_grid: parallel results equal sequential ones, in order; failures keep the finished cells.

The cell functions are at module level: process executors import them from this module by name.
"""
from __future__ import annotations

import functools
from concurrent.futures import ProcessPoolExecutor, ThreadPoolExecutor

import numpy as np
import pytest

from clr.lab.grid import CellDone, GridError, run_grid


def train_cell(seed, lr, steps=15):
    """A real (small) training run: the losses of a seeded MLP on seeded data, as float64 numbers."""
    import tinynet as tn
    import tinynet.functional as F
    from tinynet import nn
    from tinynet.optim import SGD

    rng = np.random.default_rng(seed)
    x = rng.standard_normal((64, 20)).astype(np.float32)
    y = rng.integers(0, 4, 64)
    model = nn.Sequential(nn.Linear(20, 32, rng=rng), nn.ReLU(), nn.Linear(32, 4, rng=rng))
    opt = SGD(model.parameters(), lr=lr, momentum=0.9)
    losses = []
    for _ in range(steps):
        loss = F.cross_entropy(model(tn.Tensor(x)), y)
        opt.zero_grad()
        loss.backward()
        opt.step()
        losses.append(float(loss.item()))
    return {"seed": seed, "lr": lr, "losses": losses}


def conv_cell(seed):
    """Threaded conv/pool kernels inside a cell: the numbers must not depend on the worker's thread count."""
    import tinynet as tn
    import tinynet.functional as F

    rng = np.random.default_rng(seed)
    x = tn.Tensor(rng.standard_normal((8, 3, 16, 16)).astype(np.float32), requires_grad=True)
    w = tn.Tensor(rng.standard_normal((8, 3, 3, 3)).astype(np.float32), requires_grad=True)
    y = F.max_pool2d(F.conv2d(x, w, padding=1), 2)
    (y * y).sum().backward()
    return y.numpy().tobytes(), w.grad.tobytes()


def failing_cell(seed, lr, steps=15):
    if seed == 1:
        raise ValueError(f"seed {seed} is unlucky")
    return train_cell(seed, lr, steps)


CELLS = [{"seed": s, "lr": lr} for lr in (0.05, 0.2) for s in (0, 1, 2)]


@pytest.fixture(scope="module")
def sequential():
    return run_grid(train_cell, CELLS, workers=1, progress=None)


def test_sequential_is_the_plain_loop(sequential):
    assert sequential == [train_cell(**c) for c in CELLS]


@pytest.mark.parametrize("how", ["process_pool_default", "process_pool_given", "thread_pool"])
def test_parallel_equals_sequential_in_grid_order(sequential, how):
    if how == "process_pool_default":
        got = run_grid(train_cell, CELLS, workers=2, progress=None)
    elif how == "process_pool_given":
        with ProcessPoolExecutor(2) as pool:
            got = run_grid(train_cell, CELLS, executor=pool, threads=1, progress=None)
    else:
        with ThreadPoolExecutor(3) as pool:
            got = run_grid(train_cell, CELLS, executor=pool, progress=None)
    assert got == sequential


def test_thread_count_does_not_change_kernel_results():
    cells = [{"seed": s} for s in range(3)]
    one = run_grid(conv_cell, cells, workers=1, threads=1, progress=None)
    two = run_grid(conv_cell, cells, workers=1, threads=2, progress=None)
    pooled = run_grid(conv_cell, cells, workers=2, progress=None)
    assert one == two == pooled


def test_dask_executor_equals_sequential(sequential):
    distributed = pytest.importorskip("distributed")
    with distributed.LocalCluster(n_workers=2, threads_per_worker=1, processes=True, dashboard_address=None,
                                  silence_logs=50) as cluster, distributed.Client(cluster) as client:
        got = run_grid(train_cell, CELLS, executor=client.get_executor(), threads=1, progress=None)
    assert got == sequential


@pytest.mark.parametrize("workers", [1, 2])
def test_failed_cell_is_reported_and_the_others_are_kept(sequential, workers):
    with pytest.raises(GridError) as info:
        run_grid(failing_cell, CELLS, workers=workers, progress=None)
    err = info.value
    failed = [i for i, c in enumerate(CELLS) if c["seed"] == 1]
    assert [f.index for f in err.failures] == failed
    assert all(f.cell == CELLS[f.index] and f.error == "ValueError: seed 1 is unlucky" for f in err.failures)
    assert "seed=1, lr=0.05" in str(err) and "seed=1, lr=0.2" in str(err) and "unlucky" in str(err)
    assert "raise ValueError" in err.failures[0].traceback
    for i, result in enumerate(err.results):
        assert result == (None if i in failed else sequential[i])


@pytest.mark.parametrize("workers", [1, 2])
def test_progress_reports_each_cell_as_it_finishes(workers):
    events: list[CellDone] = []
    run_grid(functools.partial(train_cell, steps=2), CELLS, workers=workers, progress=events.append)
    assert [e.done for e in events] == list(range(1, len(CELLS) + 1))
    assert sorted(e.index for e in events) == list(range(len(CELLS)))
    assert all(e.total == len(CELLS) and e.cell == CELLS[e.index] and e.error is None and e.seconds >= 0
               for e in events)


def test_default_progress_prints_a_line_per_cell(capsys):
    run_grid(functools.partial(train_cell, steps=1), CELLS[:2], workers=1)
    err = capsys.readouterr().err.splitlines()
    assert err[0].startswith("[1/2]") and "seed=0, lr=0.05" in err[0]
    assert err[1].startswith("[2/2]") and "seed=1, lr=0.05" in err[1]


def test_empty_grid():
    assert run_grid(train_cell, [], progress=None) == []


@pytest.mark.parametrize("kwargs, exc, words", [
    (dict(cells=[(0, 0.1)]), TypeError, "cell 0 is tuple"),
    (dict(cells=CELLS, workers=0), ValueError, "workers=0"),
    (dict(cells=CELLS, threads="two"), ValueError, "threads='two'"),
    (dict(cells=CELLS, executor="pool"), TypeError, "executor must be"),
    (dict(cells=CELLS, executor=ThreadPoolExecutor(1), workers=2), ValueError, "workers=2"),
    (dict(cells=CELLS, progress="yes"), TypeError, "progress must be callable"),
])
def test_bad_arguments_are_named(kwargs, exc, words):
    with pytest.raises(exc, match=words):
        run_grid(train_cell, **kwargs)


def test_demo_trains_policies_in_parallel_with_the_sequential_numbers(tmp_path):
    """tinynet-clr demo --threads 2 (two policies at a time, in worker processes) writes the numbers
    of --threads 1 (one after another in this process); only the timings differ."""
    import json

    from clr.lab import cli

    def run(threads):
        out = tmp_path / f"threads{threads}"
        assert cli.main(["demo", "--quick", "--no-plots", "--seed", "1", "--threads", str(threads),
                         "--out", str(out)]) == 0
        results = json.loads((out / "results.json").read_text())
        for row in results["runs"]:
            row.pop("time_s")
        for h in results["histories"].values():
            h.pop("time_s")
        return results

    one, two = run(1), run(2)
    assert one["config"]["threads"] == 1 and two["config"]["threads"] == 2
    for key in ("runs", "histories", "bounds", "range_test", "schedules"):
        assert one[key] == two[key], key
    assert list(two["histories"]) == ["fixed", "triangular", "triangular2", "exp_range", "one_cycle"]


def test_progress_lines_shorten_arrays_and_long_values():
    from clr.lab.grid import _describe

    text = _describe({"seed": 1, "data": (np.zeros((4000, 40)), np.zeros(4000)), "x": np.zeros((3, 2)),
                      "name": "n" * 100})
    assert text == f"seed=1, data=<tuple of 2>, x=<ndarray 3x2>, name='{'n' * 36}..."
