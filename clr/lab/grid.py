"""Run a grid of independent cells (policies x seeds x ...) in parallel, with a sequential run's results.

    from clr.lab.grid import run_grid

    def train_one(policy, seed):                 # a module-level function: it travels by pickle
        ...
        return {"policy": policy, "final_acc": acc}

    cells = [{"policy": p, "seed": s} for p in ("fixed", "triangular") for s in (0, 1, 2)]
    results = run_grid(train_one, cells)         # a process pool over this machine's cores
    results = run_grid(train_one, cells, workers=1)               # in this process, one after another
    results = run_grid(train_one, cells, executor=client.get_executor())   # e.g. a Dask cluster

What you get:

* ``fn(**cell)`` runs once per cell; ``results[i]`` is cell ``i``'s return value, in the order of
  ``cells`` whatever order the cells finish in. Every random thing in ``fn`` must come from the cell's
  arguments (a seed): then the results equal a sequential run's, number for number (tinynet's kernels
  give the same numbers on any thread count).
* A cell that raises does not stop the others. When all have run, ``GridError`` is raised: its message
  names every failed cell with its arguments and error, ``.results`` holds the finished cells' results
  (None where a cell failed) and ``.failures`` the details. Ctrl-C cancels the cells not yet started.
* ``progress`` is called in this process as each cell finishes, with a ``CellDone`` (the default prints
  one line per cell to stderr; pass None for silence).

Executors. By default (``executor=None``) a ``ProcessPoolExecutor`` with ``workers`` processes
(default: one per core, or ``$TINYNET_THREADS`` of them; at most one per cell); ``workers=1`` runs
the cells in this process, without pickling. Each cell runs inside ``tinynet.threads.limit(threads)``:
with the default pool ``threads`` is ``cores // workers``, so the workers' BLAS and kernel threads add
up to the cores and never oversubscribe them. Any other ``concurrent.futures.Executor`` works (a
user's process pool, Dask distributed's ``client.get_executor()``, ...): the cells are submitted to it
as they are, and ``threads`` (None by default: the worker's own default) is applied when given; give
``threads=1`` when the executor runs one cell per core in its own process (not with a thread pool:
BLAS's thread count belongs to the process). ``fn`` and the cells must pickle for a process
or remote executor: define ``fn`` at module level (``functools.partial`` of one is fine), and keep
the cells to plain values.
"""
from __future__ import annotations

import multiprocessing
import sys
import time
import traceback
from concurrent.futures import CancelledError, Executor, ProcessPoolExecutor, as_completed
from dataclasses import dataclass
from typing import Any, Callable, Mapping, Sequence

from tinynet import threads as tthreads


@dataclass(frozen=True)
class CellFailure:
    """A cell that raised: where it is in the grid, its arguments, and what went wrong."""
    index: int
    cell: Mapping[str, Any]
    error: str        # 'ValueError: lr must be positive'
    traceback: str    # the worker's traceback, as text

    def __str__(self) -> str:
        return f"cell {self.index} {_describe(self.cell)}: {self.error}"


class GridError(RuntimeError):
    """Some cells failed; the others finished. ``.results``: every cell's result (None where it failed);
    ``.failures``: a ``CellFailure`` per failed cell, in grid order."""

    def __init__(self, failures: list[CellFailure], results: list, total: int):
        self.failures, self.results = failures, results
        lines = [f"{len(failures)} of {total} grid cells failed (the other {total - len(failures)} finished; "
                 "their results are in this error's .results):"]
        lines += [f"  {f}" for f in failures]
        lines.append("The first failure's traceback:\n" + failures[0].traceback.rstrip())
        super().__init__("\n".join(lines))


@dataclass(frozen=True)
class CellDone:
    """What ``progress`` receives when a cell finishes."""
    index: int                 # position in the grid
    cell: Mapping[str, Any]
    done: int                  # cells finished so far, this one included
    total: int
    seconds: float             # the cell's own run time (in its worker)
    error: str | None = None   # None when it succeeded
    result: Any = None         # the cell's result (None when it failed)


def print_progress(event: CellDone) -> None:
    """The default ``progress``: '[3/10] 4.2 s  policy='fixed', seed=1' (and the error, if any), to stderr."""
    status = f"FAILED: {event.error}" if event.error else ""
    print(f"[{event.done}/{event.total}] {event.seconds:6.1f} s  {_describe(event.cell)}  {status}".rstrip(),
          file=sys.stderr, flush=True)


def run_grid(fn: Callable[..., Any], cells: Sequence[Mapping[str, Any]], *, executor: Executor | None = None,
             workers: int | None = None, threads: int | None = None,
             progress: Callable[[CellDone], None] | None = print_progress) -> list:
    """``[fn(**cell) for cell in cells]``, the cells run in parallel; see the module docstring.

    fn: a callable taking each cell's items as keyword arguments (module-level, for process executors).
    cells: a sequence of mappings of argument name -> value.
    executor: any ``concurrent.futures.Executor``; None: a process pool made (and shut down) here.
    workers: processes of that default pool (default: one per core, at most one per cell); 1 runs the
        cells in this process. Not allowed with ``executor`` (the executor has its own).
    threads: tinynet/BLAS threads per cell (default: cores // workers for the default pool, the
        worker's own default for a given executor).
    progress: called with a ``CellDone`` as each cell finishes; None for silence.
    Raises ``GridError`` after all cells ran when any failed.
    """
    if not callable(fn):
        raise TypeError(f"run_grid: fn must be callable, got {type(fn).__name__}")
    cells = list(cells)
    for i, cell in enumerate(cells):
        if not isinstance(cell, Mapping):
            raise TypeError(f"run_grid: cell {i} is {type(cell).__name__} {repr(cell)[:60]}; each cell must be a mapping "
                            "of fn's argument names to values, e.g. {'policy': 'fixed', 'seed': 0}")
    if executor is not None and not isinstance(executor, Executor):
        raise TypeError(f"run_grid: executor must be a concurrent.futures.Executor or None, "
                        f"got {type(executor).__name__}")
    if executor is not None and workers is not None:
        raise ValueError(f"run_grid: workers={workers} applies only to the default process pool; "
                         "size the executor you pass instead")
    if workers is not None:
        workers = tthreads.check_threads(workers, name="workers")
    if threads is not None:
        threads = tthreads.check_threads(threads, name="threads")
    if progress is not None and not callable(progress):
        raise TypeError(f"run_grid: progress must be callable or None, got {type(progress).__name__}")
    if not cells:
        return []

    if executor is None:
        cores = tthreads.default_threads()  # $TINYNET_THREADS, else every core
        workers = min(workers or cores, len(cells))
        threads = threads or max(1, cores // workers)
        if workers == 1:
            return _collect(_run_here(fn, cells, threads), cells, progress)
        # spawn: a clean interpreter per worker (no inherited threads or locks), as on macOS and Windows
        with ProcessPoolExecutor(workers, mp_context=multiprocessing.get_context("spawn")) as pool:
            return _collect(_submit_all(pool, fn, cells, threads), cells, progress)
    return _collect(_submit_all(executor, fn, cells, threads), cells, progress)


# ----------------------------------------------------------------------------- internals

def _describe(cell: Mapping[str, Any], width: int = 40) -> str:
    """'policy='fixed', seed=1, data=<tuple of 4>': arrays and long values shortened, so a line stays a line."""
    def short(v):
        if hasattr(v, "shape") and hasattr(v, "dtype"):
            return f"<{type(v).__name__} {'x'.join(map(str, v.shape))}>"
        text = repr(v)
        if len(text) <= width:
            return text
        if isinstance(v, (tuple, list, dict)):
            return f"<{type(v).__name__} of {len(v)}>"
        return text[:width - 3] + "..."
    return ", ".join(f"{k}={short(v)}" for k, v in cell.items())


def _run_cell(fn, cell, threads):
    """Run one cell (in whichever process the executor chose): ('ok', result, s) or ('error', text, tb, s)."""
    start = time.perf_counter()
    try:
        if threads is None:
            result = fn(**cell)
        else:
            with tthreads.limit(threads):
                result = fn(**cell)
    except Exception as e:  # reported with the cell's arguments; the other cells go on
        return ("error", f"{type(e).__name__}: {e}", traceback.format_exc(), time.perf_counter() - start)
    return ("ok", result, None, time.perf_counter() - start)


def _run_here(fn, cells, threads):
    """Sequential: yields (index, outcome) as each cell finishes, in this process."""
    for i, cell in enumerate(cells):
        yield i, _run_cell(fn, cell, threads)


def _submit_all(executor, fn, cells, threads):
    """Submit every cell, then yield (index, outcome) as they finish (in finishing order)."""
    futures = {executor.submit(_run_cell, fn, cell, threads): i for i, cell in enumerate(cells)}
    try:
        for future in as_completed(futures):
            i = futures[future]
            try:
                outcome = future.result()
            except CancelledError:
                outcome = ("error", "CancelledError: the cell was cancelled", "", 0.0)
            except Exception as e:  # the worker itself died (BrokenProcessPool) or the result did not unpickle
                outcome = ("error", f"{type(e).__name__}: {e}",
                           "".join(traceback.format_exception(type(e), e, e.__traceback__)), 0.0)
            yield i, outcome
    finally:  # Ctrl-C or a failing progress callback: do not start the cells still waiting
        for future in futures:
            future.cancel()


def _collect(outcomes, cells, progress):
    results: list = [None] * len(cells)
    failures: list[CellFailure] = []
    for done, (i, (status, value, tb, seconds)) in enumerate(outcomes, 1):
        if status == "ok":
            results[i] = value
        else:
            failures.append(CellFailure(i, cells[i], value, tb))
        if progress is not None:
            ok = status == "ok"
            progress(CellDone(i, cells[i], done, len(cells), seconds, None if ok else value, value if ok else None))
    if failures:
        raise GridError(sorted(failures, key=lambda f: f.index), results, len(cells))
    return results
