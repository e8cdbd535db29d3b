"""What every experiment needs besides training: run metadata, safe file writes, seed statistics.

    meta = run_metadata(seed=0)                      # command, seed, UTC date, machine, git commit
    write_json(out / "results.json", {"meta": meta, "runs": runs})
    write_csv(out / "results.csv", rows)             # rows: list of dicts, one per line
    table = aggregate(rows, by=["policy"], values=["final_acc"])   # mean ± std over seeds

Every writer goes through a temporary file in the target folder and ``os.replace``, so a run that is
interrupted (Ctrl-C, out of memory) never leaves a half-written result that looks complete.
"""
from __future__ import annotations

import csv
import io
import json
import math
import os
import platform
import shlex
import subprocess
import sys
from datetime import datetime, timezone
from pathlib import Path
from typing import Any, Iterable, Mapping, Sequence

import numpy as np

from tinynet.atomic import atomic_write



# ----------------------------------------------------------------------------- metadata

def utc_now() -> str:
    """The current time as an ISO-8601 string in UTC, to the second: '2025-01-31T12:00:00+00:00'."""
    return datetime.now(timezone.utc).replace(microsecond=0).isoformat()


def blas_info() -> str:
    """The BLAS NumPy was built against, e.g. 'scipy-openblas 0.3.27', or 'unknown'.

    Matrix products dominate training time, so timings mean little without it.
    """
    try:
        cfg = np.show_config(mode="dicts")  # NumPy >= 1.25
        blas = cfg["Build Dependencies"]["blas"]
        return f"{blas.get('name', '?')} {blas.get('version', '')}".strip()
    except Exception:  # older NumPy, or a build without the dict form
        return "unknown"


def usable_cpus() -> int:
    """CPUs this process may run on (its affinity mask), which can be fewer than the machine has."""
    try:
        return len(os.sched_getaffinity(0))
    except (AttributeError, OSError):  # not on Linux
        return os.cpu_count() or 1


def machine_info() -> dict:
    """Platform, Python, CPU counts, NumPy version and BLAS: enough to interpret a timing."""
    return {
        "platform": platform.platform(),
        "machine": platform.machine(),
        "processor": platform.processor() or "unknown",
        "python": platform.python_version(),
        "cpu_count": os.cpu_count(),
        "usable_cpus": usable_cpus(),
        "numpy": np.__version__,
        "blas": blas_info(),
    }


def git_commit(path: str | os.PathLike = ".") -> str | None:
    """The commit checked out at ``path`` (with '+dirty' if tracked files changed), or None.

    None when git is missing, ``path`` is not in a repository, or the repository has no commit yet.
    Read-only: it runs ``git rev-parse`` and ``git status``, nothing that changes the repository.
    """
    def _git(*args):
        return subprocess.run(["git", *args], cwd=path, capture_output=True, text=True, timeout=10)

    try:
        head = _git("rev-parse", "HEAD")
        if head.returncode != 0:
            return None
        commit = head.stdout.strip()
        status = _git("status", "--porcelain", "--untracked-files=no")
        if status.returncode == 0 and status.stdout.strip():
            commit += "+dirty"
        return commit
    except (OSError, subprocess.SubprocessError):
        return None


def _module_of(folder: Path) -> str:
    """The dotted name of the package in ``folder`` ('clr.lab' for .../clr/lab), read from its __init__ files."""
    parts = [folder.name]
    while (folder.parent / "__init__.py").exists():
        folder = folder.parent
        parts.insert(0, folder.name)
    return ".".join(parts)


def run_metadata(seed: int | None = None, argv: Sequence[str] | None = None, **extra) -> dict:
    """Everything needed to say where a result came from.

    Keys: ``command`` (the command line, shell-quoted), ``seed``, ``date_utc``, ``machine``
    (:func:`machine_info`), ``git_commit`` (or None), ``tinynet_version``, plus any ``extra`` keys.
    """
    argv = list(sys.argv if argv is None else argv)
    if argv:
        prog = Path(argv[0])
        # the program name without the user's folders; `python -m pkg.sub` shows as such
        argv[0:1] = ["python", "-m", _module_of(prog.parent)] if prog.name == "__main__.py" else [prog.name]
    try:
        from tinynet import __version__ as version
    except Exception:  # metadata must never be the reason a finished run is lost
        version = "unknown"
    meta = {
        "command": shlex.join(argv),
        "seed": seed,
        "date_utc": utc_now(),
        "machine": machine_info(),
        "git_commit": git_commit(),
        "tinynet_version": version,
    }
    meta.update(extra)
    return meta


def describe_machine(info: Mapping[str, Any] | None = None) -> str:
    """One line for reports: 'Linux-6.1-x86_64, 2 usable CPUs, Python 3.11, NumPy 2.4 (scipy-openblas 0.3)'."""
    m = machine_info() if info is None else info
    return (f"{m['platform']}, {m['usable_cpus']} usable CPUs of {m['cpu_count']}, Python {m['python']}, "
            f"NumPy {m['numpy']} ({m['blas']})")


# ----------------------------------------------------------------------------- atomic writers

def to_jsonable(obj):
    """Plain Python values for ``json``: NumPy scalars/arrays become numbers/lists, NaN/inf become None.

    ``json`` would otherwise write NaN and Infinity, which are not JSON and which strict readers
    (browsers, jq) reject. None keeps "no value" visible instead of a fake number.
    """
    if isinstance(obj, Mapping):
        return {str(k): to_jsonable(v) for k, v in obj.items()}
    if isinstance(obj, (list, tuple)):
        return [to_jsonable(v) for v in obj]
    if isinstance(obj, np.ndarray):
        return to_jsonable(obj.tolist())
    if isinstance(obj, np.generic):
        return to_jsonable(obj.item())
    if isinstance(obj, float):
        return obj if math.isfinite(obj) else None
    if isinstance(obj, Path):
        return str(obj)
    return obj


def write_text(path: str | os.PathLike, text: str) -> Path:
    """Write ``text`` (UTF-8) to ``path`` atomically."""
    return atomic_write(path, lambda f: f.write(text), "w", make_parents=True)


def write_json(path: str | os.PathLike, obj, indent: int = 2) -> Path:
    """Write ``obj`` as JSON atomically (see :func:`to_jsonable` for NumPy values and NaN)."""
    text = json.dumps(to_jsonable(obj), indent=indent, allow_nan=False) + "\n"
    return write_text(path, text)


def write_csv(path: str | os.PathLike, rows: Iterable[Mapping[str, Any]],
              fieldnames: Sequence[str] | None = None) -> Path:
    """Write dict rows as CSV atomically. Columns: ``fieldnames``, else the keys of the first row.

    Missing values and NaN are written as empty cells; floats with ``repr`` precision (no rounding).
    """
    rows = list(rows)
    if fieldnames is None:
        if not rows:
            raise ValueError("write_csv: no rows and no fieldnames, so the columns are unknown; pass fieldnames")
        fieldnames = list(rows[0].keys())
    unknown = sorted({k for r in rows for k in r} - set(fieldnames))
    if unknown:
        raise ValueError(f"write_csv: rows have keys {unknown} that are not among fieldnames {list(fieldnames)}")

    def cell(v):
        v = to_jsonable(v)
        return "" if v is None else v

    buf = io.StringIO()
    writer = csv.DictWriter(buf, fieldnames=list(fieldnames), lineterminator="\n")
    writer.writeheader()
    for r in rows:
        writer.writerow({k: cell(r.get(k)) for k in fieldnames})
    return write_text(path, buf.getvalue())


def save_figure(fig, path: str | os.PathLike, dpi: int = 120) -> Path:
    """Save a Matplotlib figure atomically; the format comes from the suffix of ``path``."""
    fmt = Path(path).suffix.lstrip(".") or "png"
    return atomic_write(path, lambda f: fig.savefig(f, format=fmt, dpi=dpi, bbox_inches="tight"), "wb", make_parents=True)


# ----------------------------------------------------------------------------- statistics over seeds

def mean_std(values: Iterable[float]) -> tuple[float, float, int]:
    """(mean, sample standard deviation (ddof=1), n) of the finite values.

    NaN and None are left out (a run that never reached a target has no iteration count) and n says
    how many were used. std is NaN for fewer than two values: one seed says nothing about spread.
    mean is NaN when no value is left.
    """
    v = np.array([x for x in values if x is not None], dtype=np.float64)
    v = v[np.isfinite(v)]
    n = int(v.size)
    if n == 0:
        return math.nan, math.nan, 0
    std = float(v.std(ddof=1)) if n > 1 else math.nan
    return float(v.mean()), std, n


def format_mean_std(mean: float, std: float, digits: int = 1, scale: float = 1.0) -> str:
    """'81.4 ± 0.3' (std shown only when it is a number); 'n/a' for a NaN mean. ``scale`` e.g. 100 for %."""
    if mean is None or not math.isfinite(mean):
        return "n/a"
    text = f"{mean * scale:.{digits}f}"
    if std is not None and math.isfinite(std):
        text += f" ± {std * scale:.{digits}f}"
    return text


def aggregate(rows: Iterable[Mapping[str, Any]], by: Sequence[str], values: Sequence[str]) -> list[dict]:
    """Group ``rows`` by the ``by`` columns and give mean, std and n of each ``values`` column.

    Output rows keep the ``by`` columns and add ``<value>_mean``, ``<value>_std`` and ``<value>_n``,
    in the order groups first appear. Example: rows of (policy, seed, final_acc) aggregated by
    ['policy'] over ['final_acc'] give one row per policy with final_acc_mean/std/n over the seeds.
    """
    rows = list(rows)
    groups: dict[tuple, list[Mapping[str, Any]]] = {}
    for r in rows:
        missing = [k for k in (*by, *values) if k not in r]
        if missing:
            raise KeyError(f"aggregate: a row has no column(s) {missing}; its columns are {sorted(r)}")
        groups.setdefault(tuple(r[k] for k in by), []).append(r)
    out = []
    for key, members in groups.items():
        row = dict(zip(by, key))
        for v in values:
            m, s, n = mean_std(r[v] for r in members)
            row[f"{v}_mean"], row[f"{v}_std"], row[f"{v}_n"] = m, s, n
        out.append(row)
    return out


def curve_mean_std(histories: Sequence[Mapping[str, Sequence[float]]], key: str = "test_acc",
                   x: str = "iteration") -> tuple[np.ndarray, np.ndarray, np.ndarray]:
    """Mean and std (ddof=1; NaN for one run) of ``history[key]`` over runs, point by point.

    All histories must share the same ``history[x]`` (same eval iterations); runs stopped early
    (diverged) are padded with NaN and the statistics use the runs that are still going.
    Returns ``(x, mean, std)`` as float64 arrays.
    """
    if not histories:
        raise ValueError("curve_mean_std needs at least one history")
    longest = max(histories, key=lambda h: len(h[x]))
    xs = np.asarray(longest[x], dtype=np.float64)
    table = np.full((len(histories), len(xs)), np.nan)
    for i, h in enumerate(histories):
        n = len(h[x])
        if not np.array_equal(np.asarray(h[x], dtype=np.float64), xs[:n]):
            raise ValueError(f"curve_mean_std: history {i} was evaluated at other iterations than the others; "
                             f"use the same eval_every and iterations for every run")
        table[i, :n] = np.asarray(h[key], dtype=np.float64)
    counts = np.isfinite(table).sum(axis=0)
    with np.errstate(invalid="ignore", divide="ignore"):
        mean = np.where(counts > 0, np.nansum(table, axis=0) / np.maximum(counts, 1), np.nan)
        dev = np.where(np.isfinite(table), table - mean, 0.0)
        std = np.where(counts > 1, np.sqrt((dev ** 2).sum(axis=0) / np.maximum(counts - 1, 1)), np.nan)
    return xs, mean, std
