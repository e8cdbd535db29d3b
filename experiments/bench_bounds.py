"""The bounds benchmark: do the bounds a rule reads off a range test train as well as a tuned fixed lr?

For each task of experiments/bounds_tasks.py (15 small problems: models, data, optimizers and batch
sizes varied on purpose) and each seed:

1. **Probes.** ``clr.find_bounds(model, optimizer, train_loader, val_loader=...)`` on the task's own
   model and optimizer (``val_loader`` is the task's validation split, never the test split; the
   same call without it is reported as ``find_bounds_noval``, not counted in the targets); and
   the README's range test ``clr.lr_range_test(model, optimizer, loader)`` with its defaults (an exp
   sweep 1e-7 -> 10 in 100 steps, fastai's), read by every rule of ``clr.suggest``
   (``result.suggest(method)`` for each method, and ``result.suggest()`` as the README calls it) and
   by the comparators of peer_rules.py: fastai's ``valley``, ``steep``, ``minimum``, ``slide`` and
   torch-lr-finder's steepest gradient (which gets the same sweep without clr's early stop, so that it
   can stop by its own rule).
2. **The tuned baseline.** Six fixed lrs, half a decade apart, ``L * 10 ** k`` for
   ``k = -2.5, -2, -1.5, -1, -0.5, 0``, where L is the lr at the minimum of the smoothed loss of the
   range test above (after fastai's trimming), geometric mean over the seeds, rounded to the nearest
   quarter decade. The same rule for every task; nothing is placed by hand. Best = highest mean final test score over the seeds (chosen on the
   test set, which flatters the baseline). A best lr at either end of the grid is flagged.
3. **The rules' schedules**, same budget as the grid: triangular CLR between (base_lr, max_lr), 4
   cycles (step size = budget / 8, ending at base_lr: the CLR paper's "at least 3 cycles, stop at the
   end of a cycle"), and one-cycle with peak max_lr (``clr.policies.OneCycle`` defaults, PyTorch's:
   max/25 -> max over 30 %, cosine, down to max/25/1e4). A rule that gives one lr (every rule but
   ``find_bounds`` and clr's ``accuracy``) gets base_lr = max_lr / 4, the CLR paper's "1/3 or 1/4 of
   the maximum", the more cautious of the two (clr.suggest's own default). Momentum (or Adam's beta1)
   stays at the optimizer's 0.9 in every run: the benchmark compares lrs, nothing else.

Scores: test accuracy, or R^2 for the regression task (a fraction; 1 is perfect, 0 is the mean).

Per rule and policy, over the tasks:

* **within**: mean final score over the seeds >= tuned mean - max(0.5 points, std of the tuned lr's
  final score over the seeds);
* **fail** (divergence or collapse): in any seed a non-finite loss (diverged; its score counts as
  chance), or a final score that kept less than a quarter of the tuned baseline's gain over chance
  (collapsed: ``final - chance < 0.25 (tuned - chance)``);
* **refused**: the rule gave no bounds (it raised) in some seed; counted apart, never as within;
* **iterations to reach** the tuned mean final score with the seed-mean curve, as a fraction of the
  budget (evaluated 20 times per run);
* **finder cost**: training iterations (batches) the probe used; find_bounds' validation batches too.

Targets (printed): find_bounds within the margin on >= 90 % of tasks (each policy), zero failures for
triangular and for one-cycle, and a better summary row than every other rule (more tasks within over
both policies; ties broken by fewer failures, then fewer refusals).

Every finished cell (a probe, or one training) is written at once to ``<out>/cells/`` (atomically),
so an interrupted run resumes where it stopped. Probes are keyed by a hash of tinynet's and clr's
sources, so a code change reruns them; a training is keyed by its exact settings (task, seed, lrs),
so it is reused whenever the bounds come out the same; ``--verify-cached N`` reruns N cached
trainings and checks that they give the same numbers with the current code.

    python experiments/bench_bounds.py                       # 15 tasks x 3 seeds, about 15-30 min on 2 cores
    python experiments/bench_bounds.py --quick --out /tmp/bb # 2 tasks, 1 seed, 60 iterations: seconds
"""
from __future__ import annotations

import argparse
import hashlib
import json
import math
import sys
import time
from pathlib import Path

import numpy as np

import clr
from clr import policies as P
from clr.lab.grid import GridError, run_grid
from clr.lab.records import mean_std, run_metadata, save_figure, write_csv, write_json, write_text

import bounds_tasks as bt
import peer_rules as peers

DEFAULT_OUT = "docs/results/bounds"
SEEDS = (0, 1, 2)
GRID_EXPONENTS = (-2.5, -2.0, -1.5, -1.0, -0.5, 0.0)
BASE_RATIO = 4.0          # base_lr = max_lr / 4 for one-lr rules
CYCLES = 4                # triangular: step size = budget / (2 * CYCLES)
MARGIN = 0.005            # 0.5 points
COLLAPSE_GAIN = 0.25      # a final score with less than this share of the tuned gain over chance
POLICIES = ("triangular", "one_cycle")
RANGE_TEST = {"start_lr": 1e-7, "end_lr": 10.0, "num_iter": 100}   # clr's (and fastai's) defaults, stated
PEER_RULES = ("fastai_valley", "fastai_steep", "fastai_minimum", "fastai_slide", "tlf_steepest")
FIND_BOUNDS = "find_bounds"
FIND_BOUNDS_NOVAL = "find_bounds_noval"   # the same call without val_loader (training loss only)


def clr_rules() -> list[str]:
    """``clr_<method>`` for every method clr.suggest offers, and ``clr_default`` for ``suggest()``."""
    from clr import suggest as S
    return [f"clr_{m}" for m in S.METHODS] + ["clr_default"]


def all_rules() -> list[str]:
    return [FIND_BOUNDS, FIND_BOUNDS_NOVAL, *clr_rules(), *PEER_RULES]


# ----------------------------------------------------------------------------- cells

def _hash(obj) -> str:
    return hashlib.sha1(json.dumps(obj, sort_keys=True, default=str).encode()).hexdigest()[:12]


def _fingerprint(paths, root: Path) -> str:
    """sha1 of the files' names (relative to ``root``, so a clone elsewhere gives the same hash) and bytes."""
    h = hashlib.sha1()
    for path in sorted(Path(p) for p in paths):
        h.update(str(path.relative_to(root) if path.is_relative_to(root) else path.name).encode())
        h.update(path.read_bytes())
    return h.hexdigest()[:12]


def code_fingerprints() -> dict[str, str]:
    """Hashes of the sources each kind of cell depends on.

    ``train``: tinynet, the clr policies and schedulers, the tasks (a training depends on nothing else);
    ``probe``: that, all of clr's package (the finder and the rules) and the comparators.
    A probe's cache key includes ``probe``: any change to tinynet or clr reruns the probes (cheap). A
    training's key is its exact settings only (task, seed, schedule with its lrs, budget), so trainings
    survive a change elsewhere; ``--verify-cached`` reruns a sample of them to show they still match.
    """
    clr_dir, tn_dir = Path(clr.__file__).parent, Path(bt.tn.__file__).parent
    train = [*tn_dir.rglob("*.py"), clr_dir / "policies.py", clr_dir / "schedulers.py",
             clr_dir / "param_groups.py", Path(bt.__file__)]
    probe = [*train, *clr_dir.glob("*.py"), Path(peers.__file__)]
    root = tn_dir.parent
    return {"train": _fingerprint(train, root), "probe": _fingerprint(set(probe), root)}


class CountingLoader:
    """Wraps a loader and counts the batches drawn from it (the finder's cost), passing the rest through.

    Reading or setting any other attribute (``epoch``, ``seed``...) goes to the wrapped loader, so a
    finder that rewinds the loader rewinds the real one.
    """

    def __init__(self, loader):
        object.__setattr__(self, "loader", loader)
        object.__setattr__(self, "batches", 0)

    def __setattr__(self, name, value):
        if name == "batches":
            object.__setattr__(self, name, value)
        else:
            setattr(self.loader, name, value)

    def __iter__(self):
        for batch in self.loader:
            self.batches += 1
            yield batch

    def __len__(self):
        return len(self.loader)

    def __getattr__(self, name):
        return getattr(self.loader, name)


def _bounds_entry(base_lr, max_lr, **extra) -> dict:
    return {"base_lr": float(base_lr), "max_lr": float(max_lr), **extra}


def _jsonable_details(details) -> dict:
    """The scalar parts of a Bounds' details and its lists of strings (the reasons); arrays and range-test
    objects are left out of the cell. A list of stability checks becomes the number that failed."""
    out = {}
    for k, v in dict(details or {}).items():
        if isinstance(v, (bool, int, float, str)) or v is None:
            out[k] = v
        elif isinstance(v, np.generic):
            out[k] = v.item()
        elif isinstance(v, (list, tuple)) and all(isinstance(x, str) for x in v):
            out[k] = list(v)
        elif k == "checks" and isinstance(v, (list, tuple)):
            out["failed_checks"] = sum(not c.get("passed", True) for c in v if isinstance(c, dict))
    return out


def run_find_bounds(task: bt.Task, seed: int, with_val: bool = True) -> dict:
    """clr.find_bounds on a fresh model and optimizer of ``task``; bounds, cost and details, or the error.

    ``with_val``: pass the task's validation split as ``val_loader`` (else the finder reads training loss).
    """
    model, opt, data = bt.build(task, seed, 1e-3)
    train = CountingLoader(bt.train_loader(task, data, seed))
    val = CountingLoader(bt.val_loader(data))
    start = time.perf_counter()
    try:
        finder = getattr(clr, "find_bounds")
        b = finder(model, opt, train, val_loader=val if with_val else None, loss_fn=bt.loss_fn(task))
    except (ValueError, AttributeError, TypeError) as e:
        return {"error": f"{type(e).__name__}: {e}", "cost": train.batches, "val_passes": val.batches / len(val),
                "seconds": time.perf_counter() - start}
    return _bounds_entry(b.base_lr, b.max_lr, cost=train.batches, val_passes=val.batches / len(val),
                         seconds=time.perf_counter() - start, details=_jsonable_details(getattr(b, "details", {})))


def read_rules(result, raw_result) -> dict:
    """Every clr rule and comparator read off the README's range test (``result``); tlf gets ``raw_result``."""
    out = {}
    cost = len(result.lrs)
    for name in clr_rules():
        method = name[len("clr_"):]
        if method == "accuracy" and result.train_acc is None:
            out[name] = {"error": "not applicable: the task has no accuracy (regression)", "cost": cost}
            continue
        try:
            b = result.suggest() if method == "default" else result.suggest(method)
            out[name] = _bounds_entry(b.base_lr, b.max_lr, cost=cost, method=b.method)
        except ValueError as e:
            out[name] = {"error": f"ValueError: {e}", "cost": cost}
    lrs, smoothed = np.asarray(result.lrs), np.asarray(result.smoothed_losses)
    for name in PEER_RULES:
        try:
            if name == "tlf_steepest":
                lr = peers.tlf_steepest(raw_result.lrs, raw_result.losses)
                rule_cost = len(peers.tlf_history(raw_result.losses))
            else:
                lr = peers.fastai_suggest(name[len("fastai_"):], lrs, smoothed, RANGE_TEST["num_iter"])
                rule_cost = cost
            if not (math.isfinite(lr) and lr > 0):
                raise ValueError(f"suggested lr {lr!r} is not a positive number")
            out[name] = _bounds_entry(lr / BASE_RATIO, lr, cost=rule_cost)
        except ValueError as e:
            out[name] = {"error": f"ValueError: {e}", "cost": cost}
    return out


def probe_cell(task: str, seed: int, code: str, path: str) -> dict:
    """One (task, seed) probe: find_bounds, the README range test and every rule on it. Written to ``path``."""
    t = bt.TASKS_BY_NAME[task]
    model, opt, data = bt.build(t, seed, 1e-3)
    loader = bt.train_loader(t, data, seed)
    result = clr.lr_range_test(model, opt, loader, bt.loss_fn(t), **RANGE_TEST)
    # the same sweep without clr's stop, so that torch-lr-finder can stop by its own rule (5 x, its EMA)
    raw = clr.lr_range_test(model, opt, loader, bt.loss_fn(t), diverge_th=None, **RANGE_TEST)
    rules = read_rules(result, raw)
    rules[FIND_BOUNDS] = run_find_bounds(t, seed, with_val=True)
    rules[FIND_BOUNDS_NOVAL] = run_find_bounds(t, seed, with_val=False)
    try:
        anchor = 10 * peers.fastai_suggest("minimum", result.lrs, result.smoothed_losses, RANGE_TEST["num_iter"])
    except ValueError:
        anchor = None
    cell = {"task": task, "seed": seed, "code": code, "rules": rules, "grid_anchor": anchor,
            "range_test": {"lrs": result.lrs, "smoothed_losses": result.smoothed_losses,
                           "stop_reason": result.stop_reason}}
    write_json(path, cell)
    return cell


def schedule_policy(schedule: dict, iterations: int):
    """The clr policy of a schedule cell: fixed, triangular (4 cycles) or one-cycle (PyTorch defaults)."""
    kind = schedule["policy"]
    if kind == "fixed":
        return P.Fixed(schedule["lr"])
    if kind == "triangular":
        return P.Triangular(schedule["base_lr"], schedule["max_lr"], iterations / (2 * CYCLES))
    if kind == "one_cycle":
        return P.OneCycle(schedule["max_lr"], iterations)
    raise ValueError(f"unknown policy {kind!r}")


def train_cell(task: str, seed: int, schedule: dict, iterations: int, eval_every: int, path: str) -> dict:
    """One training run of ``task`` with ``schedule``; written to ``path``."""
    t = bt.TASKS_BY_NAME[task]
    start = time.perf_counter()
    run = bt.train_run(t, seed, schedule_policy(schedule, iterations), iterations, eval_every)
    cell = {"task": task, "seed": seed, "schedule": schedule, **run, "seconds": time.perf_counter() - start}
    write_json(path, cell)
    return cell


def _load(path: Path):
    try:
        return json.loads(path.read_text())
    except (FileNotFoundError, json.JSONDecodeError):
        return None


def run_cells(fn, cells: list[dict], workers: int, label: str) -> list[dict]:
    """Run the cells whose result file is missing (in parallel, clr.lab.grid), then load every result."""
    todo = [c for c in cells if _load(Path(c["path"])) is None]
    print(f"{label}: {len(cells)} cells, {len(cells) - len(todo)} cached, {len(todo)} to run", flush=True)
    start = time.perf_counter()

    def progress(event):
        if event.error or event.done % 25 == 0 or event.done == event.total:
            note = f"  FAILED {event.cell.get('task')} seed {event.cell.get('seed')}: {event.error}" if event.error else ""
            print(f"  [{event.done}/{event.total}] {time.perf_counter() - start:7.1f} s{note}", flush=True)

    if todo:
        try:
            run_grid(fn, todo, workers=workers, threads=1, progress=progress)
        except GridError as e:  # reported; the finished cells are on disk and the analysis goes on
            print(f"{label}: {len(e.failures)} cells failed:\n{e}", file=sys.stderr, flush=True)
    results = [_load(Path(c["path"])) for c in cells]
    missing = sum(r is None for r in results)
    if missing:
        raise SystemExit(f"{label}: {missing} of {len(cells)} cells have no result (see the failures above); "
                         "the finished ones are saved: run the same command again to resume")
    return results


def verify_cached(cached: list[dict], n: int, folder: Path, workers) -> dict:
    """Rerun ``n`` randomly chosen cached trainings with the current code; compare their score curves."""
    rng = np.random.default_rng(0)
    picked = [cached[i] for i in sorted(rng.choice(len(cached), size=min(n, len(cached)), replace=False))]
    specs = [{**c, "path": str(folder / f"verify-{i}-{Path(c['path']).name}")} for i, c in enumerate(picked)]
    for spec in specs:
        Path(spec["path"]).unlink(missing_ok=True)
    fresh = run_cells(train_cell, specs, workers, f"verify: rerunning {len(specs)} cached trainings")
    diffs = []
    for old, new in zip((_load(Path(c["path"])) for c in picked), fresh):
        same_shape = len(old["scores"]) == len(new["scores"])
        pairs = zip(old["scores"], new["scores"])  # None: a NaN score, saved as JSON null
        diffs.append(max((0.0 if a is None and b is None else math.inf if a is None or b is None else abs(a - b))
                         for a, b in pairs) if same_shape else math.inf)
    result = {"checked": len(diffs), "identical": sum(d == 0 for d in diffs),
              "max_abs_score_diff": max(diffs) if diffs else None}
    print(f"verify: {result['identical']} of {result['checked']} cached trainings reproduced exactly "
          f"(largest score difference {result['max_abs_score_diff']})", flush=True)
    return result


# ----------------------------------------------------------------------------- analysis

def grid_lrs(anchors) -> list[float]:
    """The six fixed lrs: L * 10**k, L = geometric mean of the seeds' anchors (lr at the loss minimum),
    rounded to the nearest quarter decade (10 ** (n / 4))."""
    good = [a for a in anchors if a is not None and a > 0]
    if not good:
        raise ValueError("no seed's range test had a loss minimum to place the grid on")
    # on a quarter-decade lattice, so that a small change in the range test does not move the grid
    anchor = 10 ** (round(4 * float(np.mean(np.log10(good)))) / 4)
    return [anchor * 10 ** k for k in GRID_EXPONENTS]


def _mean_curve(runs: list[dict], chance: float):
    """Seed-mean score per eval point; a diverged run holds the chance score after it stopped."""
    longest = max(runs, key=lambda r: len(r["iterations"]))
    its = longest["iterations"]
    table = np.full((len(runs), len(its)), chance)
    for i, r in enumerate(runs):
        table[i, :len(r["scores"])] = [chance if s is None else s for s in r["scores"]]
    return its, table.mean(axis=0)


def iterations_to_reach(runs: list[dict], target: float, chance: float):
    its, mean = _mean_curve(runs, chance)
    hit = np.flatnonzero(mean >= target - 1e-9)
    return int(its[hit[0]]) if hit.size else None


def analyse_task(task: bt.Task, probes: list[dict], trains: dict, seeds, iterations: int) -> dict:
    """Everything the report says about one task: grid, tuned baseline, and each rule x policy."""
    chance = bt.load_data(task.data).chance
    grid = grid_lrs([p["grid_anchor"] for p in probes])
    grid_rows = []
    for lr in grid:
        runs = [trains[_train_key(task.name, s, {"policy": "fixed", "lr": lr})] for s in seeds]
        m, sd, _ = mean_std(r["final"] for r in runs)
        grid_rows.append({"lr": lr, "mean": m, "std": sd, "finals": [r["final"] for r in runs],
                          "diverged": sum(r["diverged_at"] is not None for r in runs), "runs": runs})
    best = max(range(len(grid)), key=lambda i: grid_rows[i]["mean"])
    tuned = grid_rows[best]
    tuned_std = tuned["std"] if math.isfinite(tuned["std"]) else 0.0
    margin = max(MARGIN, tuned_std)
    target = tuned["mean"]
    by_seed = {p["seed"]: p for p in probes}
    rules = {}
    for rule in all_rules():
        for policy in POLICIES:
            seeds_out, runs = [], []
            for s in seeds:
                b = by_seed[s]["rules"].get(rule, {"error": "not measured"})
                if "error" in b:
                    seeds_out.append({"seed": s, "error": b["error"], "cost": b.get("cost")})
                    continue
                sched = _schedule(policy, b)
                r = trains[_train_key(task.name, s, sched)]
                runs.append(r)
                collapsed = r["diverged_at"] is None and (r["final"] - chance) < COLLAPSE_GAIN * (target - chance)
                seeds_out.append({"seed": s, "base_lr": b["base_lr"], "max_lr": b["max_lr"], "cost": b.get("cost"),
                                  "val_passes": b.get("val_passes"), "final": r["final"],
                                  "diverged_at": r["diverged_at"], "collapsed": bool(collapsed),
                                  "max_over_tuned": b["max_lr"] / tuned["lr"]})
            refused = any("error" in o for o in seeds_out)
            mean = float(np.mean([o["final"] for o in seeds_out if "final" in o])) if runs else math.nan
            failed = any(o.get("diverged_at") is not None or o.get("collapsed") for o in seeds_out)
            reach = iterations_to_reach(runs, target, chance) if runs and not refused else None
            rules[(rule, policy)] = {
                "rule": rule, "policy": policy, "mean": mean, "gap": mean - target if runs else math.nan,
                "within": bool(not refused and mean >= target - margin), "failed": bool(failed),
                "refused": bool(refused), "reach": reach, "reach_frac": None if reach is None else reach / iterations,
                "seeds": seeds_out, "curve": _mean_curve(runs, chance) if runs else None}
    return {"task": task, "iterations": iterations, "chance": chance, "grid": grid_rows, "tuned": tuned, "tuned_index": best,
            "edge": best in (0, len(grid) - 1), "margin": margin, "target": target, "rules": rules,
            "tuned_reach": iterations_to_reach(tuned["runs"], target, chance)}


def _schedule(policy: str, bounds: dict) -> dict:
    if policy == "triangular":
        return {"policy": "triangular", "base_lr": bounds["base_lr"], "max_lr": bounds["max_lr"]}
    return {"policy": "one_cycle", "max_lr": bounds["max_lr"]}


def _train_key(task: str, seed: int, schedule: dict) -> str:
    return _hash([task, seed, schedule])


def summarise(analyses: list[dict]) -> list[dict]:
    """One row per rule: within / failed / refused counts per policy, median reach and finder cost."""
    rows = []
    for rule in all_rules():
        row = {"rule": rule}
        for policy in POLICIES:
            cells = [a["rules"][(rule, policy)] for a in analyses]
            applicable = [c for c in cells if not all("not applicable" in str(o.get("error", "")) for o in c["seeds"])]
            fracs = [c["reach_frac"] if c["reach_frac"] is not None else math.inf for c in applicable]
            row[f"{policy}_within"] = sum(c["within"] for c in applicable)
            row[f"{policy}_failed"] = sum(c["failed"] for c in applicable)
            row[f"{policy}_refused"] = sum(c["refused"] for c in applicable)
            row[f"{policy}_tasks"] = len(applicable)
            row[f"{policy}_median_reach"] = float(np.median(fracs)) if fracs else math.nan
            gaps = [c["gap"] for c in applicable if math.isfinite(c["gap"])]
            row[f"{policy}_mean_gap"] = float(np.mean(gaps)) if gaps else math.nan
        costs = [o["cost"] for a in analyses for o in a["rules"][(rule, POLICIES[0])]["seeds"] if o.get("cost")]
        fracs = [o["cost"] / a["iterations"] for a in analyses for o in a["rules"][(rule, POLICIES[0])]["seeds"]
                 if o.get("cost")]
        row["cost_over_budget_median"] = float(np.median(fracs)) if fracs else math.nan
        row["cost_over_budget_max"] = float(np.max(fracs)) if fracs else math.nan
        vals = [o["val_passes"] for a in analyses for o in a["rules"][(rule, POLICIES[0])]["seeds"]
                if o.get("val_passes")]
        row["cost_median"] = float(np.median(costs)) if costs else math.nan
        row["cost_max"] = float(np.max(costs)) if costs else math.nan
        row["val_passes_median"] = float(np.median(vals)) if vals else None
        rows.append(row)
    return rows


#: clr rules that claim a peer's definition, and the comparator written from that peer's source
CLAIMS = {"clr_minimum": "fastai_minimum", "clr_steep": "fastai_steep", "clr_valley": "fastai_valley",
          "clr_slide": "fastai_slide", "clr_steepest": "tlf_steepest"}


def peer_agreement(probes: list[dict]) -> list[dict]:
    """Per clr rule that claims a peer: on how many probes its max_lr equals the comparator's.

    A refusal by clr where the peer answers is counted apart (``clr_refused``): clr's rules refuse
    curves without signal on purpose, the peers never do.
    """
    rows = []
    for mine, theirs in CLAIMS.items():
        same = differ = clr_refused = both_refused = peer_refused = 0
        worst = 1.0
        for p in probes:
            a, b = p["rules"].get(mine), p["rules"].get(theirs)
            if a is None or b is None:
                continue
            if "error" in a and "error" in b:
                both_refused += 1
            elif "error" in a:
                clr_refused += 1
            elif "error" in b:
                peer_refused += 1
            elif math.isclose(a["max_lr"], b["max_lr"], rel_tol=1e-9):
                same += 1
            else:
                differ += 1
                worst = max(worst, a["max_lr"] / b["max_lr"], b["max_lr"] / a["max_lr"])
        if same + differ + clr_refused + both_refused + peer_refused:
            rows.append({"clr_rule": mine, "peer": theirs, "same": same, "differ": differ,
                         "largest_ratio": worst, "clr_refused": clr_refused, "peer_refused": peer_refused,
                         "both_refused": both_refused})
    return rows


def _rank_key(row: dict):
    within = sum(row[f"{p}_within"] for p in POLICIES)
    failed = sum(row[f"{p}_failed"] for p in POLICIES)
    refused = sum(row[f"{p}_refused"] for p in POLICIES)
    return within, -failed, -refused


def check_targets(summary: list[dict]) -> list[tuple[str, bool, str]]:
    """The issue's targets for find_bounds, each as (name, met, the numbers)."""
    fb = next(r for r in summary if r["rule"] == FIND_BOUNDS)
    out = []
    for p in POLICIES:
        n = fb[f"{p}_tasks"]
        out.append((f"find_bounds within the margin on >= 90 % of tasks ({p})",
                    fb[f"{p}_within"] >= 0.9 * n, f"{fb[f'{p}_within']}/{n}"))
    for p in POLICIES:
        out.append((f"find_bounds: zero divergences/collapses, and no refusal ({p})",
                    fb[f"{p}_failed"] == 0 and fb[f"{p}_refused"] == 0,
                    f"{fb[f'{p}_failed']} failed, {fb[f'{p}_refused']} refused"))
    others = [r for r in summary if r["rule"] not in (FIND_BOUNDS, FIND_BOUNDS_NOVAL)]
    best_other = max(others, key=_rank_key)
    out.append(("find_bounds better than every other rule on the summary row",
                _rank_key(fb) > _rank_key(best_other),
                f"find_bounds {_rank_key(fb)} vs best other {best_other['rule']} {_rank_key(best_other)} "
                "(within, -failed, -refused)"))
    return out


# ----------------------------------------------------------------------------- outputs

def _fmt_reach(frac):
    return "never" if frac is None or not math.isfinite(frac) else f"{frac:.2f}"


def summary_table(summary: list[dict]) -> str:
    head = ("| rule | triangular within | tri. fail | tri. refused | tri. mean gap | tri. median it. to reach | "
            "one-cycle within | 1c fail | 1c refused | 1c mean gap | 1c median it. to reach | finder cost (it.) |")
    lines = [head, "|" + "---|" * 12]
    for r in summary:
        cost = "n/a" if not math.isfinite(r["cost_median"]) else \
            (f"{r['cost_median']:.0f} (max {r['cost_max']:.0f}); {r['cost_over_budget_median']:.2f} of the budget "
             f"(max {r['cost_over_budget_max']:.2f})")
        if r.get("val_passes_median"):
            cost += f" + {r['val_passes_median']:.0f} val passes"
        cells = [r["rule"]]
        for p in POLICIES:
            gap = r[f"{p}_mean_gap"]
            cells += [f"{r[f'{p}_within']}/{r[f'{p}_tasks']}", str(r[f"{p}_failed"]), str(r[f"{p}_refused"]),
                      "n/a" if not math.isfinite(gap) else f"{100 * gap:+.1f}", _fmt_reach(r[f"{p}_median_reach"])]
        lines.append("| " + " | ".join(cells + [cost]) + " |")
    return "\n".join(lines)


def task_list_table(analyses: list[dict]) -> str:
    """The tasks: what each is, its budget, chance score, grid and tuned baseline."""
    lines = ["| task | what | iterations | chance | fixed-lr grid | tuned lr | tuned score |", "|" + "---|" * 7]
    for a in analyses:
        t, std = a["task"], a["tuned"]["std"]
        edge = " (grid edge)" if a["edge"] else ""
        lines.append(f"| `{t.name}` | {t.description} | {a['iterations']} | {100 * a['chance']:.0f} | "
                     f"{a['grid'][0]['lr']:.2g} .. {a['grid'][-1]['lr']:.2g} | {a['tuned']['lr']:.3g}{edge} | "
                     f"{100 * a['target']:.1f} ± {100 * (std if math.isfinite(std) else 0):.1f} |")
    return "\n".join(lines)


def task_table(analyses: list[dict]) -> str:
    lines = ["| task | grid (6 lrs) | tuned lr | tuned score | margin | find_bounds (seed 0) | "
             "find_bounds tri. | find_bounds 1c |", "|" + "---|" * 8]
    for a in analyses:
        t = a["task"]
        fb0 = a["rules"][(FIND_BOUNDS, "triangular")]["seeds"][0]
        fb = "refused" if "error" in fb0 else f"{fb0['base_lr']:.3g} - {fb0['max_lr']:.3g}"
        edge = " (edge)" if a["edge"] else ""
        cells = [t.name, f"{a['grid'][0]['lr']:.2g} .. {a['grid'][-1]['lr']:.2g}", f"{a['tuned']['lr']:.3g}{edge}",
                 f"{100 * a['target']:.1f} ± {100 * (a['tuned']['std'] if math.isfinite(a['tuned']['std']) else 0):.1f}",
                 f"{100 * a['margin']:.1f}", fb]
        for p in POLICIES:
            c = a["rules"][(FIND_BOUNDS, p)]
            mark = "refused" if c["refused"] else f"{100 * c['mean']:.1f}" + (" ✓" if c["within"] else "") + \
                (" FAIL" if c["failed"] else "")
            cells.append(mark)
        lines.append("| " + " | ".join(cells) + " |")
    return "\n".join(lines)


def failure_list(analyses: list[dict]) -> dict[str, list[str]]:
    """Per rule, one line per task x policy where it failed, refused or fell outside the margin."""
    out: dict[str, list[str]] = {}
    for a in analyses:
        for (rule, policy), c in a["rules"].items():
            if c["within"] and not c["failed"]:
                continue
            parts = []
            for o in c["seeds"]:
                if "error" in o:
                    parts.append(f"s{o['seed']} refused ({o['error'][:90]})")
                else:
                    what = "diverged" if o["diverged_at"] is not None else "collapsed" if o["collapsed"] else \
                        f"{100 * o['final']:.1f}"
                    parts.append(f"s{o['seed']} max_lr {o['max_lr']:.3g} ({o['max_over_tuned']:.2g}x tuned) {what}")
            gap = "" if not math.isfinite(c["gap"]) else f" gap {100 * c['gap']:+.1f} pts;"
            out.setdefault(rule, []).append(f"{a['task'].name} / {policy}:{gap} " + "; ".join(parts))
    return out


def plot_summary(analyses: list[dict], path: Path, title: str):
    """Heatmap of (mean final - tuned) in points, rules x tasks, one panel per policy; D/C/R marks failures."""
    import matplotlib
    matplotlib.use("Agg")
    import matplotlib.pyplot as plt

    rules = all_rules()
    fig, axes = plt.subplots(1, 2, figsize=(2 + 0.55 * len(analyses) * 2, 1.5 + 0.42 * len(rules)), sharey=True)
    for ax, policy in zip(axes, POLICIES):
        gap = np.full((len(rules), len(analyses)), np.nan)
        for j, a in enumerate(analyses):
            for i, rule in enumerate(rules):
                c = a["rules"][(rule, policy)]
                gap[i, j] = 100 * c["gap"] if not c["refused"] else np.nan
                not_applicable = all("not applicable" in str(o.get("error", "")) for o in c["seeds"])
                mark = "n/a" if not_applicable else "R" if c["refused"] else \
                    "D" if any(o.get("diverged_at") is not None for o in c["seeds"]) \
                    else "C" if c["failed"] else ("" if c["within"] else f"{100 * c['gap']:.0f}")
                ax.text(j, i, mark, ha="center", va="center", fontsize=7, color="black")
        im = ax.imshow(np.clip(gap, -20, 5), cmap="RdYlGn", vmin=-20, vmax=5, aspect="auto")
        ax.set_xticks(range(len(analyses)), [a["task"].name for a in analyses], rotation=70, ha="right", fontsize=7)
        ax.set_yticks(range(len(rules)), rules, fontsize=8)
        ax.set_title(f"{policy}: final score - tuned fixed lr (points)", fontsize=9)
    fig.colorbar(im, ax=axes, shrink=0.8, label="points (clipped to [-20, 5]); blank = within margin")
    fig.suptitle(title, fontsize=9)
    save_figure(fig, path)
    plt.close(fig)
    return path


def plot_max_ratio(analyses: list[dict], path: Path, title: str):
    """max_lr / tuned fixed lr per rule and task (seed mean of log10), the reason behind most gaps."""
    import matplotlib
    matplotlib.use("Agg")
    import matplotlib.pyplot as plt

    rules = all_rules()
    fig, ax = plt.subplots(figsize=(9, 1.2 + 0.35 * len(rules)))
    for j, a in enumerate(analyses):
        for i, rule in enumerate(rules):
            c = a["rules"][(rule, "one_cycle")]
            ratios = [o["max_over_tuned"] for o in c["seeds"] if "max_over_tuned" in o]
            if ratios:
                fail = c["failed"] or a["rules"][(rule, "triangular")]["failed"]
                ax.scatter(np.log10(ratios), [i + (j - len(analyses) / 2) * 0.02] * len(ratios), s=10,
                           color="tab:red" if fail else "tab:blue", alpha=0.7)
    ax.axvline(0, color="gray", lw=0.8)
    ax.set_yticks(range(len(rules)), rules, fontsize=8)
    ax.invert_yaxis()  # the same order as the summary heatmap, top to bottom
    ax.set_xlabel("log10(max_lr / tuned fixed lr); one dot per task and seed, red = the rule failed on that task")
    ax.set_title(title, fontsize=9)
    save_figure(fig, path)
    plt.close(fig)
    return path


# ----------------------------------------------------------------------------- main

def parse_args(argv=None):
    p = argparse.ArgumentParser(description="Bounds benchmark: find_bounds, clr's rules and fastai / "
                                            "torch-lr-finder comparators against a tuned fixed-lr grid.")
    p.add_argument("--out", default=DEFAULT_OUT, help=f"results folder (default {DEFAULT_OUT})")
    p.add_argument("--cache", default=None,
                   help="folder of finished cells, for resuming (default <out>/cells; not meant for git)")
    p.add_argument("--quick", action="store_true", help="2 tasks, 1 seed, 60 iterations: a seconds-long smoke run")
    p.add_argument("--seeds", type=int, nargs="+", default=None, help="seeds (default 0 1 2; --quick: 0)")
    p.add_argument("--tasks", nargs="+", default=None, choices=sorted(bt.TASKS_BY_NAME), metavar="TASK",
                   help="run only these tasks")
    p.add_argument("--verify-cached", type=int, default=0, metavar="N",
                   help="rerun N of the cached trainings with the current code and compare (default 0)")
    p.add_argument("--workers", type=int, default=None,
                   help="parallel processes (default: one per core; --quick: 1, in this process)")
    args = p.parse_args(argv)
    if args.seeds is None:
        args.seeds = [0] if args.quick else list(SEEDS)
    if args.workers is None and args.quick:
        args.workers = 1
    if args.workers is not None and args.workers < 1:
        p.error(f"--workers must be >= 1; got {args.workers}")
    if len(set(args.seeds)) != len(args.seeds) or any(s < 0 for s in args.seeds):
        p.error(f"--seeds must be distinct integers >= 0; got {args.seeds}")
    return args


def main(argv=None) -> dict:
    args = parse_args(argv)
    out = Path(args.out)
    cells_dir = Path(args.cache) if args.cache else out / "cells"
    names = args.tasks or (list(bt.QUICK_TASKS) if args.quick else [t.name for t in bt.TASKS])
    tasks = [bt.TASKS_BY_NAME[n] for n in names]
    budget = {t.name: (bt.QUICK_ITERATIONS if args.quick else t.iterations) for t in tasks}
    every = {t.name: max(1, budget[t.name] // bt.EVAL_POINTS) for t in tasks}
    meta = run_metadata(seed=list(args.seeds), argv=sys.argv if argv is None else ["bench_bounds.py", *argv],
                        quick=args.quick, workers=args.workers)
    wall = time.perf_counter()

    codes = code_fingerprints()
    code = codes["probe"]
    probe_specs = [{"task": t.name, "seed": s, "code": code,
                    "path": str(cells_dir / t.name / f"probe-s{s}-{_hash([t.to_dict(), s, code])}.json")}
                   for t in tasks for s in args.seeds]
    probes = run_cells(probe_cell, probe_specs, args.workers, "probes (find_bounds + README range test)")
    probes_by_task = {t.name: [p for p in probes if p["task"] == t.name] for t in tasks}

    train_specs, seen = [], set()

    def add(task, seed, schedule):
        key = _train_key(task.name, seed, schedule)
        if key in seen:
            return
        seen.add(key)
        spec = [task.to_dict(), budget[task.name], every[task.name], seed, schedule]
        train_specs.append({"task": task.name, "seed": seed, "schedule": schedule, "iterations": budget[task.name],
                            "eval_every": every[task.name],
                            "path": str(cells_dir / task.name / f"{schedule['policy']}-s{seed}-{_hash(spec)}.json")})

    for t in tasks:
        ps = probes_by_task[t.name]
        for lr in grid_lrs([p["grid_anchor"] for p in ps]):
            for s in args.seeds:
                add(t, s, {"policy": "fixed", "lr": lr})
        for p in ps:
            for rule, b in p["rules"].items():
                if "error" not in b:
                    for policy in POLICIES:
                        add(t, p["seed"], _schedule(policy, b))
    cached_before = [c for c in train_specs if _load(Path(c["path"])) is not None]
    trained = run_cells(train_cell, train_specs, args.workers, "trainings (grid + every rule's schedules)")
    trains = {_train_key(r["task"], r["seed"], r["schedule"]): r for r in trained}
    if args.verify_cached:
        meta["verify_cached"] = verify_cached(cached_before, args.verify_cached, cells_dir / "verify", args.workers)

    analyses = [analyse_task(t, probes_by_task[t.name], trains, args.seeds, budget[t.name]) for t in tasks]
    summary = summarise(analyses)
    targets = check_targets(summary)
    wall = time.perf_counter() - wall

    # ---- files
    run_rows = []
    for a in analyses:
        for g in a["grid"]:
            for s, f in zip(args.seeds, g["finals"]):
                run_rows.append({"task": a["task"].name, "rule": "fixed_grid", "policy": "fixed", "seed": s,
                                 "base_lr": None, "max_lr": g["lr"], "final": f, "diverged_at": None,
                                 "collapsed": None, "cost": None, "error": None})
        for (rule, policy), c in a["rules"].items():
            for o in c["seeds"]:
                run_rows.append({"task": a["task"].name, "rule": rule, "policy": policy, "seed": o["seed"],
                                 "base_lr": o.get("base_lr"), "max_lr": o.get("max_lr"), "final": o.get("final"),
                                 "diverged_at": o.get("diverged_at"), "collapsed": o.get("collapsed"),
                                 "cost": o.get("cost"), "error": o.get("error")})
    write_csv(out / "runs.csv", run_rows)
    write_csv(out / "summary.csv", summary)
    task_rows = [{"task": a["task"].name, "description": a["task"].description, "iterations": budget[a["task"].name],
                  "batch_size": a["task"].batch_size, "chance": a["chance"], "grid": [g["lr"] for g in a["grid"]],
                  "grid_mean": [g["mean"] for g in a["grid"]], "tuned_lr": a["tuned"]["lr"],
                  "tuned_mean": a["target"], "tuned_std": a["tuned"]["std"], "margin": a["margin"],
                  "tuned_at_grid_edge": a["edge"], "tuned_reach": a["tuned_reach"]} for a in analyses]
    write_csv(out / "tasks.csv", task_rows)
    task_rule_rows = [{"task": a["task"].name, "rule": rule, "policy": policy, "mean_final": c["mean"],
                       "gap": c["gap"], "within": c["within"], "failed": c["failed"], "refused": c["refused"],
                       "iterations_to_reach": c["reach"], "budget": a["iterations"], "margin": a["margin"]}
                      for a in analyses for (rule, policy), c in a["rules"].items()]
    write_csv(out / "by_task.csv", task_rule_rows)
    title = f"bounds benchmark, {len(tasks)} tasks x seeds {list(args.seeds)}" + (" [quick]" if args.quick else "")
    figures = [plot_summary(analyses, out / "summary.png", title),
               plot_max_ratio(analyses, out / "max_lr_vs_tuned.png", title)]
    failures = failure_list(analyses)
    agreement = peer_agreement(probes)
    meta["wall_seconds"] = wall
    meta["code_fingerprints"] = codes
    payload = {"meta": meta, "settings": {
        "range_test": RANGE_TEST, "grid_exponents": GRID_EXPONENTS, "base_ratio": BASE_RATIO, "cycles": CYCLES,
        "margin_points": 100 * MARGIN, "collapse_gain": COLLAPSE_GAIN, "policies": POLICIES,
        "one_cycle": "clr.policies.OneCycle(max_lr, budget) defaults: pct_start 0.3, cos, div 25, final_div 1e4",
        "momentum": "fixed at 0.9 (beta1 0.9 for Adam) in every run", "rules": all_rules()},
        "tasks": task_rows, "summary": summary, "targets": [{"target": n, "met": m, "numbers": s} for n, m, s in targets],
        "peer_agreement": agreement, "failures": failures, "figures": [f.name for f in figures]}
    write_json(out / "results.json", payload)
    report = ["# Bounds benchmark (generated by experiments/bench_bounds.py)", "",
              f"Command: `{meta['command']}`; date {meta['date_utc']}; wall time {wall:.0f} s; "
              f"git {meta['git_commit']}.", "", "## Summary", "", summary_table(summary), "", "## Targets", ""]
    report += [f"- {'MET' if m else 'MISSED'}: {n}: {s}" for n, m, s in targets]
    report += ["", "## Tasks", "", task_list_table(analyses), "", "## find_bounds per task", "", task_table(analyses),
               "", "## clr's rules against the peers they name", "",
               "| clr rule | comparator | same max_lr | different | largest ratio | clr refused | peer refused |",
               "|---|---|---|---|---|---|---|"]
    report += [f"| {r['clr_rule']} | {r['peer']} | {r['same']} | {r['differ']} | {r['largest_ratio']:.3g} | "
               f"{r['clr_refused']} | {r['peer_refused']} |" for r in agreement]
    report += ["", "## Where each rule missed", ""]
    for rule, lines in failures.items():
        report += [f"### {rule}", ""] + [f"- {line}" for line in lines] + [""]
    write_text(out / "report.md", "\n".join(report) + "\n")

    print("\n" + summary_table(summary))
    print("\nTargets:")
    for n, m, s in targets:
        print(f"  {'MET   ' if m else 'MISSED'} {n}: {s}")
    print(f"\nwall time {wall:.0f} s; results in {out}", flush=True)
    return payload


if __name__ == "__main__":
    main()
