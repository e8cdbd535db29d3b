"""The bounds benchmark: the comparators against hand-made curves, the scoring helpers, and a quick run."""
import json

import numpy as np
import pytest

import bench_bounds as bb
import bounds_tasks as bt
import peer_rules as peers

LRS = np.logspace(-5, 0, 60)


# ----------------------------------------------------------------------------- fastai's rules

def test_valley_uses_fastais_start_estimate():
    # 10 strictly falling points, then rising: the longest run is 0..9 (L[9] = 10). fastai sets
    # start = end - L[end] = -1, so idx = -1 + int(10/3) + int(10/6) = -1 + 3 + 1 = 3 (the true start
    # 0 would give 0 + 3 + 1 = 4).
    losses = np.r_[np.linspace(10, 1, 10), [2, 3, 4]]
    lrs = np.arange(1, 14) * 1e-3
    assert peers.fastai_valley(lrs, losses) == lrs[3]


def test_valley_on_a_curve_that_never_falls_gives_the_last_lr():
    # every L is 1: end = 0, start = -1, idx = -1: fastai returns the LAST lr, the worst possible pick
    lrs = np.arange(1, 8) * 0.1
    assert peers.fastai_valley(lrs, np.arange(7.0)) == lrs[-1]


def test_decreasing_run_lengths_skip_bumps():
    assert list(peers.decreasing_run_lengths([5, 6, 4, 4.5, 3, 1])) == [1, 1, 2, 2, 3, 4]


def test_steep_is_the_left_end_of_the_steepest_forward_slope():
    losses = np.full(len(LRS), 2.0)
    losses[30:] = 1.5          # one drop between index 29 and 30: the forward slope at 29 is the steepest
    losses[31:] = 1.4
    assert peers.fastai_steep(LRS, losses) == LRS[29]


def test_minimum_is_a_tenth_of_the_lr_at_the_lowest_loss():
    losses = (np.log10(LRS) + 2.0) ** 2   # lowest at lr 1e-2
    assert peers.fastai_minimum(LRS, losses) == pytest.approx(LRS[np.argmin(losses)] / 10)


def test_slide_stops_where_the_gradient_pair_agrees():
    # flat (gradient 0) up to index 29, then (i - 29)^2. np.gradient: g[28] = 0, g[29] = 0.5, larger after.
    # The pair (r, l = r - 15) slides left while |g[r] - g[l]| > 0.005; the last pair that moved is
    # r = 29, l = 14, so the answer is lrs[14].
    n = 45
    losses = np.r_[np.zeros(30), (np.arange(30, n) - 29.0) ** 2]
    lrs = np.logspace(-4, 0, n)
    assert peers.fastai_slide(lrs, losses) == lrs[14]


def test_slide_on_a_straight_line_keeps_its_first_pair():
    lrs = np.logspace(-4, 0, 30)
    assert peers.fastai_slide(lrs, np.linspace(3, 1, 30)) == lrs[30 - 16]


def test_slide_needs_more_points_than_its_window():
    with pytest.raises(ValueError, match="lr_diff"):
        peers.fastai_slide(np.logspace(-3, 0, 10), np.linspace(2, 1, 10))


def test_fastai_trim_drops_a_tenth_five_and_everything_after_a_nan():
    lrs = np.logspace(-7, 1, 100)
    losses = np.linspace(3, 1, 100)
    x, y = peers.fastai_trim(lrs, losses, num_it=100)
    assert x[0] == lrs[10] and x[-1] == lrs[94] and len(y) == 85
    losses[50] = np.nan
    x, _ = peers.fastai_trim(lrs, losses, num_it=100)
    assert x[-1] == lrs[49]


@pytest.mark.parametrize("rule", peers.FASTAI_RULES)
def test_fastai_suggest_dispatches_on_the_trimmed_curve(rule):
    lrs = np.logspace(-7, 1, 100)
    losses = 2.3 - np.tanh(np.linspace(-3, 3, 100)) + np.linspace(0, 4, 100) ** 4 / 64
    x, y = peers.fastai_trim(lrs, losses)
    func = getattr(peers, f"fastai_{rule}")
    assert peers.fastai_suggest(rule, lrs, losses) == func(x, y)


# ----------------------------------------------------------------------------- torch-lr-finder

def test_tlf_history_is_its_ema_without_bias_correction_and_stops_after_5x():
    np.testing.assert_allclose(peers.tlf_history([1.0, 3.0, 3.0]), [1.0, 1.1, 1.195])
    # s = 1, 1, 0.05 * 200 + 0.95 = 10.95 > 5 x 1: recorded, then the test stops
    np.testing.assert_allclose(peers.tlf_history([1.0, 1.0, 200.0, 1.0]), [1.0, 1.0, 10.95])


def test_tlf_steepest_finds_a_step_down_at_its_index():
    # A step of d at index k: s_k = c - 0.05 d, s_{k+1} = c - 0.0975 d, s_{k+2} = c - 0.1426 d, so the
    # central difference is -0.04875 d at k and -0.0463 d at k + 1: the argmin is k itself.
    raw = np.r_[np.full(40, 2.0), np.full(20, 1.0)]
    assert peers.tlf_steepest(LRS, raw) == LRS[40]


def test_tlf_steepest_refuses_a_too_short_record():
    with pytest.raises(ValueError, match="Failed to compute"):
        peers.tlf_steepest(LRS[:12], np.linspace(2, 1, 12))


# ----------------------------------------------------------------------------- the harness's pieces

def test_grid_is_half_decades_below_the_rounded_geometric_mean_anchor():
    # geometric mean of 1e-2 and 1e-1 is 10**-1.5, on the quarter-decade lattice already;
    # 2e-2 (10**-1.70) rounds to 10**-1.75
    for anchors, anchor in (([1e-2, 1e-1, None], 10 ** -1.5), ([2e-2], 10 ** -1.75)):
        np.testing.assert_allclose(bb.grid_lrs(anchors), [anchor * 10 ** k for k in (-2.5, -2, -1.5, -1, -0.5, 0)])
    with pytest.raises(ValueError, match="loss minimum"):
        bb.grid_lrs([None])


def test_a_diverged_seed_counts_as_chance_in_the_mean_curve():
    ok = {"iterations": [0, 10, 20], "scores": [0.1, 0.5, 0.9]}
    dead = {"iterations": [0, 10], "scores": [0.1, 0.3]}
    its, mean = bb._mean_curve([ok, dead], chance=0.1)
    assert its == [0, 10, 20]
    np.testing.assert_allclose(mean, [0.1, 0.4, 0.5])
    assert bb.iterations_to_reach([ok, dead], 0.4, 0.1) == 10
    assert bb.iterations_to_reach([ok, dead], 0.6, 0.1) is None


def test_counting_loader_counts_and_passes_attributes_through():
    loader = bt.DataLoader(bt.ArrayDataset(np.zeros((10, 2)), np.zeros(10, dtype=np.int64)), 4, shuffle=True, seed=3)
    counted = bb.CountingLoader(loader)
    assert len(list(counted)) == 3 and counted.batches == 3
    counted.epoch = 0          # a finder that rewinds the loader rewinds the real one
    assert loader.epoch == 0 and counted.seed == 3


def test_analysis_counts_within_failed_collapsed_and_refused():
    task = bt.TASKS_BY_NAME["m1d_logreg_sgd"]
    chance = bt.load_data(task.data).chance

    def run(final, diverged_at=None):
        return {"iterations": [0, 5, 10], "scores": [chance, final, final], "final": final,
                "diverged_at": diverged_at}

    bounds = {"find_bounds": (0.01, 0.04), "fastai_steep": (1.0, 4.0), "fastai_valley": (1e-6, 4e-6)}
    probes = [{"seed": 0, "grid_anchor": 0.1,
               "rules": {rule: {"base_lr": b, "max_lr": m, "cost": 100} for rule, (b, m) in bounds.items()}}]
    trains = {}
    for i, lr in enumerate(bb.grid_lrs([0.1])):     # the last (largest) lr is best: 0.30
        trains[bb._train_key(task.name, 0, {"policy": "fixed", "lr": lr})] = run(0.20 + 0.02 * i)
    outcome = {"find_bounds": run(0.298), "fastai_steep": run(chance, diverged_at=3),
               "fastai_valley": run(chance + 0.01)}  # 0.01 is under a quarter of the tuned gain
    for rule, (b, m) in bounds.items():
        for policy in bb.POLICIES:
            trains[bb._train_key(task.name, 0, bb._schedule(policy, {"base_lr": b, "max_lr": m}))] = outcome[rule]
    a = bb.analyse_task(task, probes, trains, [0], 10)
    assert a["edge"] and a["target"] == pytest.approx(0.30) and a["margin"] == bb.MARGIN
    for policy in bb.POLICIES:
        fb, steep, valley = (a["rules"][(r, policy)] for r in ("find_bounds", "fastai_steep", "fastai_valley"))
        assert fb["within"] and not fb["failed"] and fb["reach"] is None   # 0.298 < 0.30: within, never reached
        assert steep["failed"] and not steep["within"] and steep["seeds"][0]["diverged_at"] == 3
        assert valley["failed"] and valley["seeds"][0]["collapsed"]
        assert a["rules"][("clr_valley", policy)]["refused"]        # no bounds from that rule


def _summary_row(rule, within, failed=0, refused=0, tasks=10):
    row = {"rule": rule}
    for p in bb.POLICIES:
        row.update({f"{p}_within": within, f"{p}_failed": failed, f"{p}_refused": refused, f"{p}_tasks": tasks})
    return row


@pytest.mark.parametrize("fb, other, met", [
    (_summary_row(bb.FIND_BOUNDS, 10), _summary_row("clr_valley", 9), [True, True, True, True, True]),
    (_summary_row(bb.FIND_BOUNDS, 8, failed=1), _summary_row("clr_valley", 8), [False, False, False, False, False]),
    (_summary_row(bb.FIND_BOUNDS, 9, refused=1), _summary_row("clr_valley", 9, failed=1),
     [True, True, False, False, True]),
])
def test_targets(fb, other, met):
    assert [m for _, m, _ in bb.check_targets([fb, other])] == met


def test_train_run_reports_a_divergence_and_scores_it_as_chance():
    # Adam moves every weight by about lr per step: outputs of order lr^3 overflow float32 when squared
    task = bt.TASKS_BY_NAME["regress_mlp_adam"]
    run = bt.train_run(task, 0, bb.P.Fixed(1e8), iterations=20, eval_every=5)
    assert run["diverged_at"] is not None and run["final"] == run["chance"]


def test_regression_score_is_r2():
    task = bt.TASKS_BY_NAME["regress_mlp_adam"]

    class Mean:
        def eval(self):
            pass

        def train(self):
            pass

        def __call__(self, x):
            return bt.tn.Tensor(np.full((x.shape[0], 1), y.mean(), dtype=np.float32))

    y = np.arange(10, dtype=np.float32)[:, None]
    assert bt.score(task, Mean(), np.zeros((10, 8), np.float32), y) == pytest.approx(0.0, abs=1e-6)


# ----------------------------------------------------------------------------- the quick run

def test_quick_run_writes_everything_and_resumes(tmp_path, capsys):
    out = tmp_path / "bounds"
    payload = bb.main(["--quick", "--out", str(out), "--workers", "1"])
    for name in ("results.json", "summary.csv", "runs.csv", "tasks.csv", "by_task.csv", "report.md", "summary.png",
                 "max_lr_vs_tuned.png"):
        assert (out / name).exists(), name
    saved = json.loads((out / "results.json").read_text())
    assert [r["rule"] for r in saved["summary"]] == bb.all_rules()
    assert len(saved["targets"]) == 5 and saved["meta"]["seed"] == [0]
    assert {t["task"] for t in saved["tasks"]} == set(bt.QUICK_TASKS)
    assert all(len(t["grid"]) == 6 for t in saved["tasks"])
    # the regression task has no accuracy: clr's accuracy rule is not applicable there, not "refused"
    acc = next(r for r in payload["summary"] if r["rule"] == "clr_accuracy")
    assert acc["triangular_tasks"] == len(bt.QUICK_TASKS) - 1
    capsys.readouterr()
    bb.main(["--quick", "--out", str(out), "--workers", "1"])
    printed = capsys.readouterr().out
    assert printed.count(" cached, 0 to run") == 2   # probes and trainings all came from the cache
