"""Plots: lr schedules, range tests (single and multi-value) and training curves.

Every function builds a fresh ``matplotlib.figure.Figure`` (no pyplot, so no global figure state and
no GUI backend is needed), returns it, and, given ``path``, saves it atomically (temp file, then
os.replace) as PNG, or PDF/SVG by the file's suffix. matplotlib is imported inside the functions
only, so ``import clr`` works without it.
"""
from __future__ import annotations

import io
import os

import numpy as np

from . import suggest as _suggest
from .range_test import RangeTestResult, write_atomically

SAVE_FORMATS = ("png", "pdf", "svg")
_RAW_ALPHA = 0.3  # raw per-batch curves are drawn faintly, their smoothed version on top


# ----------------------------------------------------------------------------- shared helpers

def _new_figure(nrows: int, figsize, dpi):
    try:
        from matplotlib.figure import Figure
    except ImportError:  # pragma: no cover - depends on the environment
        raise ImportError("clr.plots needs matplotlib: pip install matplotlib (or the [plot] extra)") from None
    if figsize is None:
        figsize = (8.0, 2.2 + 2.6 * nrows)
    if not (isinstance(dpi, (int, float)) and dpi > 0):
        raise ValueError(f"dpi must be a positive number; got {dpi!r}")
    fig = Figure(figsize=figsize, dpi=dpi, layout="constrained")
    axes = fig.subplots(nrows, 1, sharex=True, squeeze=False)[:, 0]
    return fig, list(axes)


def _save(fig, path):
    """Save ``fig`` to ``path`` atomically; the format comes from the suffix (.png, .pdf, .svg)."""
    if path is None:
        return
    ext = os.path.splitext(os.fspath(path))[1].lower().lstrip(".")
    if ext not in SAVE_FORMATS:
        raise ValueError(f"path must end in one of {', '.join('.' + f for f in SAVE_FORMATS)}; got {path!r}")
    buf = io.BytesIO()
    fig.savefig(buf, format=ext, dpi=fig.dpi)
    write_atomically(path, buf.getvalue())


def _loss_ylim(raw, smoothed, val=None, pad=0.05):
    """Loss axis limits: the bottom from every curve, the top from the smoothed (and validation) loss.

    The raw loss can spike far above the rest just before the test stops; letting it set the top
    would flatten everything else into a line.
    """
    def finite(a):
        a = np.asarray(a if a is not None else [], dtype=np.float64)
        return a[np.isfinite(a)]
    tops = np.concatenate([finite(smoothed), finite(val)])
    bottoms = np.concatenate([tops, finite(raw)])
    if tops.size == 0:
        return None
    lo, hi = float(bottoms.min()), float(tops.max())
    span = hi - lo if hi > lo else max(abs(hi), 1.0) * 0.1
    return lo - pad * span, hi + pad * span


def _fmt_lr(lr: float) -> str:
    return f"{lr:.2e}" if (lr < 1e-2 or lr >= 1e3) else f"{lr:.3g}"


def _use_log_x(result: RangeTestResult, log_x):
    if log_x is None:
        return result.settings.get("step_mode", "exp") == "exp"
    if not isinstance(log_x, bool):
        raise ValueError(f"log_x must be True, False or None (None: log for exp sweeps); got {log_x!r}")
    return log_x


def _check_result(result, name="result"):
    if not isinstance(result, RangeTestResult):
        raise TypeError(f"{name} must be a RangeTestResult (from lr_range_test/run_range_test or "
                        f"RangeTestResult.from_json); got {type(result).__name__}")
    if len(result) == 0:
        raise ValueError(f"{name} has no recorded steps to plot")


# ----------------------------------------------------------------------------- schedules

def _series_name(fn, k: int) -> str:
    name = getattr(fn, "__name__", None)
    if name and name != "<lambda>":
        return name
    text = repr(fn)
    return text if len(text) <= 48 and not text.startswith("<") else f"policy {k + 1}"


def _as_series(obj, num_iter, what: str) -> dict:
    """{name: 1-D float array} from a callable f(it), an array, or a dict/list of those."""
    if callable(obj) or isinstance(obj, np.ndarray):
        items = [(None, obj)]
    elif isinstance(obj, dict):
        items = list(obj.items())
    elif isinstance(obj, (list, tuple)):
        items = [(None, o) for o in obj]
    else:
        raise TypeError(f"{what} must be a callable f(iteration) -> float, an array, or a dict/list of those; "
                        f"got {type(obj).__name__}")
    if not items:
        raise ValueError(f"{what} is empty; give at least one policy")
    series = {}
    for k, (name, item) in enumerate(items):
        if callable(item):
            label = str(name) if name is not None else _series_name(item, k)
            values = np.array([float(item(it)) for it in range(num_iter)], dtype=np.float64)
        else:
            label = str(name) if name is not None else f"{what} {k + 1}"
            values = np.asarray(item, dtype=np.float64)
            if values.ndim != 1 or len(values) != num_iter:
                raise ValueError(f"{what} {label!r} must be a 1-D array of num_iter={num_iter} values; "
                                 f"got shape {values.shape}")
        bad = np.flatnonzero(~np.isfinite(values))
        if bad.size:
            raise ValueError(f"{what} {label!r} is not finite at iteration {bad[0]} ({values[bad[0]]})")
        series[label] = values
    return series


def _infer_num_iter(*objs):
    for obj in objs:
        parts = obj.values() if isinstance(obj, dict) else obj if isinstance(obj, (list, tuple)) else [obj]
        for p in parts:
            if not callable(p) and p is not None:
                return len(np.asarray(p).reshape(-1))
    return None


def plot_schedule(policies, num_iter=None, path=None, *, momentum=None, title="Learning-rate schedule",
                  figsize=None, dpi=100):
    """Learning rate (and momentum, on a second panel) against iteration, several policies overlaid.

    ``policies``: a callable ``f(iteration) -> lr`` (e.g. from clr.policies), an array of lrs, or a
    dict ``{name: callable or array}`` / list of them. ``momentum``: the same, optional.
    ``num_iter``: iterations 0 .. num_iter - 1 to draw (may be omitted when only arrays are given).
    Returns the Figure; saves it when ``path`` is given.
    """
    if num_iter is None:
        num_iter = _infer_num_iter(policies, *([momentum] if momentum is not None else []))
        if num_iter is None:
            raise ValueError("num_iter is required when the policies are callables")
    if isinstance(num_iter, bool) or not isinstance(num_iter, (int, np.integer)) or num_iter < 1:
        raise ValueError(f"num_iter must be a positive integer; got {num_iter!r}")
    lr_series = _as_series(policies, num_iter, "policy")
    mom_series = _as_series(momentum, num_iter, "momentum") if momentum is not None else None

    fig, axes = _new_figure(2 if mom_series else 1, figsize, dpi)
    its = np.arange(num_iter)
    panels = [(axes[0], lr_series, "learning rate")]
    if mom_series:
        panels.append((axes[1], mom_series, "momentum"))
    for ax, series, ylabel in panels:
        for name, values in series.items():
            ax.plot(its, values, label=name, linewidth=1.6)
        ax.set_ylabel(ylabel)
        ax.grid(True, alpha=0.3)
        ax.legend(loc="best", fontsize="small")
    axes[-1].set_xlabel("iteration")
    axes[-1].set_xlim(0, max(num_iter - 1, 1))
    if title:
        axes[0].set_title(title)
    _save(fig, path)
    return fig


# ----------------------------------------------------------------------------- range tests

def _resolve_suggestions(result: RangeTestResult, suggestions):
    """A list of Bounds, plus a note when 'auto' found none."""
    if suggestions is None:
        return [], None
    if suggestions == "auto":
        try:
            return [result.suggest()], None
        except ValueError as e:
            return [], f"no suggestion: {e}"
    if isinstance(suggestions, (str, _suggest.Bounds)):
        suggestions = [suggestions]
    if not isinstance(suggestions, (list, tuple)):
        raise TypeError(f"suggestions must be 'auto', None, a method name, a Bounds, or a list of those; "
                        f"got {type(suggestions).__name__}")
    out = []
    for s in suggestions:
        if isinstance(s, str):
            out.append(result.suggest(s))
        elif isinstance(s, _suggest.Bounds):
            out.append(s)
        else:
            raise TypeError(f"each suggestion must be a method name or a Bounds; got {type(s).__name__}")
    return out, None


def _swept_range(result: RangeTestResult, log_x: bool, pad=0.02):
    """x limits: the whole planned sweep when it completed; when it stopped early, the lrs it swept
    (plus ``pad`` of that span), so that a sweep to 1.0 that diverged at 0.2 is not squeezed into the
    left fifth of the plot."""
    lrs = result.lrs
    if log_x:
        lrs = lrs[lrs > 0]
        if lrs.size == 0:
            return None
    lo, hi = float(lrs[0]), float(lrs[-1])
    if not result.diverged:
        hi = max(hi, float(result.settings.get("end_lr", hi)))
        return (lo, hi) if hi > lo else None
    if hi <= lo:
        return None
    if log_x:
        return lo, hi * (hi / lo) ** pad
    return lo, hi + pad * (hi - lo)


def plot_range_test(result, path=None, *, log_x=None, show=None, suggestions="auto", title=None,
                    figsize=None, dpi=100):
    """Loss (raw faint, smoothed bold) and accuracy against lr, with suggested bounds and the stop marked.

    log_x: None = log scale for exp sweeps, linear for linear sweeps. show: panels among 'loss' and
    'acc' (default: both when accuracy was recorded). suggestions: 'auto' (result.suggest(), noted
    on the plot if it fails), None, a method name, a Bounds, or a list of those; each is drawn as a
    shaded base..max span, a dashed line at base_lr and a solid line at max_lr.
    Returns the Figure; saves it when ``path`` is given.
    """
    _check_result(result)
    log_x = _use_log_x(result, log_x)
    has_acc = result.train_acc is not None or result.val_acc is not None
    if show is None:
        show = ("loss", "acc") if has_acc else ("loss",)
    show = (show,) if isinstance(show, str) else tuple(show)
    if not show or any(p not in ("loss", "acc") for p in show) or len(set(show)) != len(show):
        raise ValueError(f"show must name panels among 'loss' and 'acc'; got {show!r}")
    if "acc" in show and not has_acc:
        raise ValueError("show includes 'acc' but the range test recorded no accuracy; use show=('loss',)")
    bounds, note = _resolve_suggestions(result, suggestions)

    fig, axes = _new_figure(len(show), figsize, dpi)
    lrs = result.lrs
    has_val = len(result.val_lrs) > 0
    for ax, panel in zip(axes, show):
        if panel == "loss":
            ax.plot(lrs, result.losses, color="C0", alpha=_RAW_ALPHA, linewidth=1, label="loss (per batch)")
            ax.plot(lrs, result.smoothed_losses, color="C0", linewidth=2,
                    label=f"smoothed loss (EMA, beta={result.settings.get('smooth_beta', '?')})")
            if has_val:
                ax.plot(result.val_lrs, result.val_losses, "o-", color="C1", markersize=3, linewidth=1,
                        label="validation loss")
            # the raw loss can spike far above the rest near the end: take the top from the smoothed
            # curve, the bottom from everything
            ylim = _loss_ylim(result.losses, result.smoothed_losses, result.val_losses if has_val else None)
            if ylim:
                ax.set_ylim(*ylim)
            ax.set_ylabel("loss")
        else:
            if result.train_acc is not None:
                acc = result.train_acc
                ax.plot(lrs, acc, color="C2", alpha=_RAW_ALPHA, linewidth=1, label="accuracy (per batch)")
                finite = np.isfinite(acc)
                if finite.sum() >= 3:
                    smooth = _suggest.moving_average(acc[finite], _suggest.default_window(int(finite.sum())))
                    ax.plot(lrs[finite], smooth, color="C2", linewidth=2, label="accuracy (moving average)")
            if result.val_acc is not None and has_val:
                ax.plot(result.val_lrs, result.val_acc, "o-", color="C3", markersize=3, linewidth=1,
                        label="validation accuracy")
            ax.set_ylabel("accuracy")
        ax.grid(True, which="both", alpha=0.25)

    for k, b in enumerate(bounds):
        color = f"C{4 + k}"
        for j, ax in enumerate(axes):
            ax.axvspan(b.base_lr, b.max_lr, color=color, alpha=0.12, linewidth=0)
            ax.axvline(b.base_lr, color=color, linestyle="--", linewidth=1.2)
            ax.axvline(b.max_lr, color=color, linewidth=1.5,
                       label=(f"{b.method}: base {_fmt_lr(b.base_lr)}, max {_fmt_lr(b.max_lr)}"
                              if j == 0 else None))
    if result.diverged:
        for j, ax in enumerate(axes):
            ax.axvline(result.diverged_lr, color="red", linestyle=":", linewidth=1.5,
                       label=(f"stopped ({result.stop_reason}) at lr {_fmt_lr(result.diverged_lr)}"
                              if j == 0 else None))
    if note:
        axes[0].text(0.01, 0.02, note if len(note) <= 110 else note[:107] + "...", transform=axes[0].transAxes,
                     fontsize="x-small", color="gray", va="bottom")
    for ax in axes:
        ax.legend(loc="best", fontsize="small")
        if log_x:
            ax.set_xscale("log")
    axes[-1].set_xlabel("learning rate" + (" (log scale)" if log_x else ""))
    xlim = _swept_range(result, log_x)
    if xlim:
        axes[-1].set_xlim(*xlim)
    s = result.settings
    axes[0].set_title(title or f"LR range test: {s.get('step_mode', '?')} sweep, {len(result)} of "
                               f"{s.get('num_iter', len(result))} steps")
    _save(fig, path)
    return fig


def _result_label(key, result):
    name, value = result.settings.get("hyperparam"), result.settings.get("hyperparam_value")
    if name is not None and value is not None:
        return f"{name} = {value:g}"
    return f"{key:g}" if isinstance(key, float) else str(key)


def plot_multi_range_test(results, path=None, *, log_x=None, show=("loss",), title=None, figsize=None, dpi=100):
    """One smoothed-loss (and/or accuracy) curve per value of a multi-value range test.

    ``results``: ``{value: RangeTestResult}`` from :func:`clr.multi_range_test` (or any labels).
    The lowest point of each loss curve is marked: compare where each value lets the loss go
    lowest and how long it stays stable. Returns the Figure; saves it when ``path`` is given.
    """
    if not isinstance(results, dict) or not results:
        raise ValueError("results must be a non-empty dict {value: RangeTestResult}, as multi_range_test returns")
    for key, r in results.items():
        _check_result(r, f"results[{key!r}]")
    first = next(iter(results.values()))
    log_x = _use_log_x(first, log_x)
    show = (show,) if isinstance(show, str) else tuple(show)
    if not show or any(p not in ("loss", "acc") for p in show) or len(set(show)) != len(show):
        raise ValueError(f"show must name panels among 'loss' and 'acc'; got {show!r}")
    if "acc" in show and any(r.train_acc is None for r in results.values()):
        raise ValueError("show includes 'acc' but some results recorded no accuracy; use show=('loss',)")

    fig, axes = _new_figure(len(show), figsize, dpi)
    for k, (key, r) in enumerate(results.items()):
        color = f"C{k % 10}"
        label = _result_label(key, r)
        for ax, panel in zip(axes, show):
            if panel == "loss":
                ax.plot(r.lrs, r.smoothed_losses, color=color, linewidth=1.8, label=label)
                finite = np.isfinite(r.smoothed_losses)
                if finite.any():
                    i = int(np.nanargmin(np.where(finite, r.smoothed_losses, np.nan)))
                    ax.plot(r.lrs[i], r.smoothed_losses[i], "o", color=color, markersize=5)
            else:
                finite = np.isfinite(r.train_acc)
                if finite.sum() >= 3:
                    smooth = _suggest.moving_average(r.train_acc[finite],
                                                     _suggest.default_window(int(finite.sum())))
                    ax.plot(r.lrs[finite], smooth, color=color, linewidth=1.8, label=label)
    for ax, panel in zip(axes, show):
        if panel == "loss":
            ylim = _loss_ylim(None, np.concatenate([r.smoothed_losses for r in results.values()]))
            if ylim:
                ax.set_ylim(*ylim)
            ax.set_ylabel("smoothed loss")
        else:
            ax.set_ylabel("accuracy (moving average)")
        ax.grid(True, which="both", alpha=0.25)
        ax.legend(loc="best", fontsize="small")
        if log_x:
            ax.set_xscale("log")
    axes[-1].set_xlabel("learning rate" + (" (log scale)" if log_x else ""))
    hp = first.settings.get("hyperparam")
    axes[0].set_title(title or (f"LR range test for several {hp} values" if hp else "LR range tests"))
    _save(fig, path)
    return fig


# ----------------------------------------------------------------------------- training runs

# train curves (per batch, noisy) thin and faint; test/val curves (evaluations) bold, on top
_SPLIT_STYLE = {"train": {"linewidth": 1.0, "alpha": 0.55}, "test": {"linewidth": 2.0, "alpha": 1.0},
                "val": {"linewidth": 2.0, "alpha": 1.0}, None: {"linewidth": 1.5, "alpha": 1.0}}


def _metric_keys(run: dict):
    """(panel, split, key) for every metric key such as 'train_loss', 'test_acc', 'val_acc', 'lr'."""
    found = []
    for key in run:
        if key == "lr":
            found.append(("lr", None, key))
            continue
        split, _, metric = key.partition("_")
        if split in _SPLIT_STYLE and metric in ("loss", "acc"):
            found.append((metric, split, key))
    return found


def plot_training_curves(runs, path=None, *, title="Training curves", log_loss=False, figsize=None, dpi=100):
    """Accuracy and loss (and lr, if recorded) against iteration, for several runs.

    ``runs``: ``{name: {'iterations': [...], 'train_loss': [...], 'test_acc': [...], ...}}``. Metric
    keys are ``<split>_<metric>`` with split in train/test/val and metric in loss/acc, plus 'lr'.
    A split's x values are ``<split>_iterations`` when given (e.g. test accuracy measured every 250
    steps), else ``iterations``. Train curves are thin and faint, test/val curves bold; one colour per run.
    Returns the Figure; saves it when ``path`` is given.
    """
    if not isinstance(runs, dict) or not runs:
        raise ValueError("runs must be a non-empty dict {name: {'iterations': ..., 'train_loss': ..., ...}}")
    lines = {"acc": [], "loss": [], "lr": []}
    for k, (name, run) in enumerate(runs.items()):
        if not isinstance(run, dict):
            raise TypeError(f"runs[{name!r}] must be a dict of arrays; got {type(run).__name__}")
        metrics = _metric_keys(run)
        if not metrics:
            raise ValueError(f"runs[{name!r}] has no metric to plot; expected keys like 'train_loss', 'test_acc', "
                             f"'lr'; got {sorted(run)}")
        for panel, split, key in metrics:
            x_key = f"{split}_iterations" if split and f"{split}_iterations" in run else "iterations"
            if x_key not in run:
                raise ValueError(f"runs[{name!r}] has {key!r} but no {x_key!r} to plot it against")
            x = np.asarray(run[x_key], dtype=np.float64)
            y = np.asarray(run[key], dtype=np.float64)
            if x.ndim != 1 or y.shape != x.shape:
                raise ValueError(f"runs[{name!r}][{key!r}] has shape {y.shape} but {x_key!r} has shape {x.shape}; "
                                 "they must be 1-D and of the same length")
            label = f"{name} ({split})" if split else str(name)
            lines[panel].append((x, y, f"C{k % 10}", _SPLIT_STYLE[split], label))
    panels = [p for p in ("acc", "loss", "lr") if lines[p]]
    fig, axes = _new_figure(len(panels), figsize, dpi)
    ylabels = {"acc": "accuracy", "loss": "loss", "lr": "learning rate"}
    for ax, panel in zip(axes, panels):
        for x, y, color, style, label in lines[panel]:
            ax.plot(x, y, color=color, label=label, **style)
        ax.set_ylabel(ylabels[panel] + (" (log scale)" if panel == "loss" and log_loss else ""))
        if panel == "loss" and log_loss:
            ax.set_yscale("log")
        ax.grid(True, alpha=0.3)
        ax.legend(loc="best", fontsize="small")
    axes[-1].set_xlabel("iteration")
    if title:
        axes[0].set_title(title)
    _save(fig, path)
    return fig
