"""Tests for clr.suggest's loss rules: each on hand-made curves with known answers, each against the
peer it is named after, and each refusing curves without signal. (The accuracy rule is tested in
test_clr_range_test.py, next to the range tests that produce its curves.)"""
import math

import numpy as np
import pytest

from clr import suggest as sg
from clr.range_test import smooth
from clr.suggest import Bounds

LOSS_RULES = ("minimum", "steep", "valley", "slide", "steepest")


# ----------------------------------------------------------------------------- trimming

def test_trim_keeps_fastai_slice_then_cuts_at_the_first_non_finite_value():
    lrs = np.arange(1.0, 31.0)
    losses = np.ones(30)
    losses[12] = np.nan
    x, y, offset = sg.trim_curve(lrs, losses)  # [30 // 10 : 30 - 5] = [3:25], cut at 12
    np.testing.assert_array_equal(x, lrs[3:12])
    assert offset == 3
    losses[12] = 1.0
    losses[27] = np.inf  # inside the dropped tail: no effect, as in fastai
    np.testing.assert_array_equal(sg.trim_curve(lrs, losses)[0], lrs[3:25])


def test_too_few_points_is_a_clear_error():
    with pytest.raises(ValueError, match=r"at least 5 points.*num_iter"):
        sg.suggest_valley(np.arange(1.0, 11.0), np.linspace(2, 1, 10))


@pytest.mark.parametrize("lrs, losses, match", [
    ([1.0, 2.0], [1.0], "same length"),
    ([2.0, 1.0, 3.0, 4.0, 5.0], np.ones(5), "strictly increasing"),
    ([1.0, np.nan, 3.0], np.ones(3), "finite"),
])
def test_bad_curves(lrs, losses, match):
    with pytest.raises(ValueError, match=match):
        sg.suggest_minimum(lrs, losses, skip_start=0, skip_end=0)


# ----------------------------------------------------------------------------- known answers

def test_minimum_is_lr_at_min_over_ten():
    lrs = np.logspace(-5, 0, 51)
    losses = (np.log10(lrs) + 1.5) ** 2  # lowest at the grid point nearest 10^-1.5
    b = sg.suggest_minimum(lrs, losses)
    assert b.details["lr_at_min"] == pytest.approx(10 ** -1.5, rel=1e-12)
    assert (b.base_lr, b.max_lr) == pytest.approx((10 ** -2.5 / 4, 10 ** -2.5), rel=1e-12)


def test_steep_takes_the_left_end_of_the_steepest_forward_step():
    lrs = np.logspace(-4, 0, 41)  # log10 steps of 0.1
    losses = np.full(41, 2.0)
    losses[21:] = 1.0  # one drop, between index 20 and 21
    losses[25:] = 0.9
    b = sg.suggest_steep(lrs, losses, skip_start=0, skip_end=0)
    assert b.max_lr == lrs[20] and b.method == "steep"
    assert b.details["slope"] == pytest.approx(-1.0 / (0.1 * math.log(10)))


def test_steep_differentiates_against_log_lr_not_the_index():
    lrs = np.arange(1.0, 11.0)  # a linear sweep
    losses = 20.0 - lrs  # the same drop per step, but per unit of log(lr) the last step is steepest
    assert sg.suggest_steep(lrs, losses, skip_start=0, skip_end=0).max_lr == 9.0  # the left end of 9 -> 10


def test_steepest_is_the_argmin_of_np_gradient_over_the_index():
    losses = np.array([5.0, 5.0, 5.0, 4.8, 2.0, 1.5, 1.5, 1.5, 1.5, 1.5])
    # central differences: index 3 -> (2 - 5) / 2 = -1.5, index 4 -> (1.5 - 4.8) / 2 = -1.65
    b = sg.suggest_steepest(np.arange(1.0, 11.0), losses, skip_start=0, skip_end=0)
    assert b.max_lr == 5.0 and b.details["index"] == 4 and b.details["slope_per_step"] == pytest.approx(-1.65)
    lrs = np.arange(1.0, 11.0)
    assert sg.suggest_steep(lrs, losses, skip_start=0, skip_end=0).max_lr == 4.0  # forward step 4 -> 5, 3 -> 4


def test_steepest_skips_torch_lr_finders_10_and_5_by_default():
    lrs = np.logspace(-4, 0, 40)
    losses = np.linspace(3.0, 1.0, 40)
    losses[3] = -5.0  # a huge drop inside the first 10 points is never looked at
    assert sg.suggest_steepest(lrs, losses).details["index"] >= 10


@pytest.mark.parametrize("values, expected", [
    ([3, 2, 1], (-1, 2, 3)),  # contiguous from 0: fastai's start estimate is -1
    ([5, 4, 4.5, 3, 2, 2.5, 1, 3, 6], (1, 6, 5)),  # 5 > 4 > 3 > 2 > 1 skips two bumps: true start 0, estimate 1
    ([1, 5, 4, 3, 0.5, 6, 5, 4, 3, 2], (4, 9, 5)),  # 6 5 4 3 2 (indices 5..9) beats 5 4 3 0.5
    ([1, 5, 4, 3, 0.5, 6, 5, 4, 3], (0, 4, 4)),  # a tie in length: the first end wins
])
def test_longest_decreasing_run_locates_the_run_as_fastai_does(values, expected):
    assert sg.longest_decreasing_run(values) == expected


def test_valley_uses_fastais_start_estimate():
    losses = np.array([5, 4, 4.5, 3, 2, 2.5, 1, 3, 6], dtype=float)
    b = sg.suggest_valley(np.arange(1.0, 10.0), losses, skip_start=0, skip_end=0)
    # L = 5, end = 6, start = 6 - 5 = 1; i = 1 + int(5 / 3) + int(5 / 3 / 2) = 2
    assert b.max_lr == 3.0 and b.details["index"] == 2 and (b.details["start"], b.details["end"]) == (1, 6)


def test_valley_on_a_run_from_the_first_point():
    losses = np.array([9, 8, 7, 6, 5, 4, 3, 2, 1, 2, 3], dtype=float)
    # L = 9, end = 8, start = -1; i = -1 + 3 + 1 = 3
    assert sg.suggest_valley(np.arange(1.0, 12.0), losses, skip_start=0, skip_end=0).max_lr == 4.0


def test_slide_walks_left_until_the_gradients_agree():
    i = np.arange(40.0)
    losses = np.where(i <= 20, -0.1 * i, -2.0 + 0.01 * (i - 20) ** 2)  # falls by 0.1 a step, then a parabola
    lrs = np.logspace(-3, 0, 40)
    # g = -0.1 up to 19, -0.045 at 20, 0.02 (i - 20) after; the pair (20, 5) is the last that differs by
    # more than 0.005, the pair (19, 4) agrees, so the window stops with its left end at 5
    b = sg.suggest_slide(lrs, losses, skip_start=0, skip_end=0)
    assert b.max_lr == lrs[5] and b.method == "slide"


@pytest.mark.parametrize("rule", LOSS_RULES)
def test_every_loss_rule_sets_base_from_base_ratio(rule):
    lrs = np.logspace(-4, 0, 60)
    losses = 2 - np.tanh((np.log10(lrs) + 2) / 0.4) + np.where(lrs > 0.1, 50 * (lrs - 0.1), 0)
    b = sg.suggest_bounds(rule, lrs, losses=losses, base_ratio=10)
    assert b.base_lr == pytest.approx(b.max_lr / 10) and b.method == rule and b.details["base_ratio"] == 10


# ----------------------------------------------------------------------------- agreement with the peers

def _random_curve(rng):
    n = int(rng.integers(40, 200))
    lrs = np.logspace(-7, 1, n)
    x = np.log10(lrs)
    centre = rng.uniform(-4, 0)
    raw = (2.3 - 1 / (1 + np.exp(-(x - centre) * rng.uniform(1, 4))) + rng.uniform(0, 0.3) * rng.standard_normal(n)
           + np.where(x > centre + 1, 3 * (x - centre - 1) ** 2, 0))
    return lrs, raw


def test_fastai_rules_and_torch_lr_finder_match_the_benchmarks_comparators():
    """The comparators in experiments/peer_rules.py are written from the peers' sources on their own;
    wherever both answer, clr's rules give the same lr to the last bit."""
    peers = pytest.importorskip("peer_rules")
    rng = np.random.default_rng(0)
    compared = 0
    for _ in range(60):
        lrs, raw = _random_curve(rng)
        smoothed = smooth(raw, 0.98)
        fx, fy = peers.fastai_trim(lrs, smoothed, len(lrs))
        for rule in ("valley", "slide", "minimum", "steep"):
            try:
                theirs = getattr(peers, f"fastai_{rule}")(fx, fy)
                ours = sg.suggest_bounds(rule, lrs, losses=smoothed, skip_start=len(lrs) // 10).max_lr
            except ValueError:
                continue
            assert ours == theirs, rule
            compared += 1
        history = peers.tlf_history(raw)
        assert sg.suggest_steepest(lrs[:len(history)], history).max_lr == peers.tlf_steepest(lrs, raw)
    assert compared > 150


# ----------------------------------------------------------------------------- curves without signal

def _noise(n=100, seed=0):
    rng = np.random.default_rng(seed)
    raw = 2.3 + 0.1 * rng.standard_normal(n)
    return np.logspace(-7, 1, n), raw, smooth(raw, 0.98)


@pytest.mark.parametrize("rule", LOSS_RULES)
@pytest.mark.parametrize("curve", ["flat", "rounding slope", "rising"])
def test_every_loss_rule_refuses_a_curve_that_does_not_fall(rule, curve):
    lrs = np.logspace(-7, 1, 100)
    losses = {"flat": np.full(100, 2.3), "rounding slope": 2.3 - 3e-14 * np.arange(100),
              "rising": np.linspace(2.3, 2.5, 100)}[curve]
    with pytest.raises(ValueError, match="never decreases|no valley"):
        sg.suggest_bounds(rule, lrs, losses=losses)


@pytest.mark.parametrize("rule", LOSS_RULES)
@pytest.mark.parametrize("seed", range(5))
def test_every_loss_rule_refuses_pure_noise_given_the_raw_losses(rule, seed):
    lrs, raw, smoothed = _noise(seed=seed)
    with pytest.raises(ValueError, match="no usable signal|never falls below|noise"):
        sg.suggest_bounds(rule, lrs, losses=smoothed, raw_losses=raw)


@pytest.mark.parametrize("n", [20, 100])
@pytest.mark.parametrize("seed", range(5))
def test_accuracy_rule_refuses_pure_noise(n, seed):
    rng = np.random.default_rng(seed)
    accuracy = np.clip(0.3 + 0.05 * rng.standard_normal(n), 0, 1)  # rises by chance by 0.05-0.15
    with pytest.raises(ValueError, match="no more than noise.*val_loader|rises by only"):
        sg.suggest_accuracy(np.linspace(0, 1, n), accuracy)


def test_accuracy_rule_reads_a_noisy_rise():
    rng = np.random.default_rng(0)
    lrs = np.linspace(0, 1, 100)
    accuracy = np.clip(0.1 + 0.6 * np.clip((lrs - 0.2) / 0.4, 0, 1) + 0.05 * rng.standard_normal(100), 0, 1)
    b = sg.suggest_accuracy(lrs, accuracy)
    assert 0.15 < b.base_lr < 0.35 and 0.45 < b.max_lr < 0.7


def test_noise_level_of_a_line_is_zero_and_of_noise_its_sigma():
    assert sg.noise_level(np.linspace(0, 5, 50)) == pytest.approx(0.0, abs=1e-12)
    noise = np.random.default_rng(0).standard_normal(20000) * 0.3
    assert sg.noise_level(noise) == pytest.approx(0.3, rel=0.05)


def _flat_then_drop(n=100, seed=0):
    """An exp sweep: a smoothed loss that creeps down by 1e-4 a step up to lr ~1e-2 (flat, within the
    noise of the raw loss, 0.05), then falls by 1.5 to a minimum near lr 0.35 and rises."""
    rng = np.random.default_rng(seed)
    lrs = np.logspace(-7, 1, n)
    x = np.log10(lrs)
    smoothed = 2.3 - 1e-4 * np.arange(n) - 1.5 / (1 + np.exp(-(x + 1) * 4)) + np.where(x > -0.5, 8 * (x + 0.5) ** 2, 0)
    return lrs, smoothed + 0.05 * rng.standard_normal(n), smoothed


def test_valley_that_starts_in_the_flat_noisy_beginning_is_refused():
    lrs, raw, smoothed = _flat_then_drop()
    start = sg.longest_decreasing_run(smoothed[10:95])[0] + 10
    assert lrs[start] < 1e-5  # the decreasing run starts deep inside the flat part...
    index = sg.suggest_valley(lrs, smoothed).details["index"]  # ...so fastai's reading lands in it too
    assert lrs[index] < 1e-3
    with pytest.raises(ValueError, match="valley reads lr .* noise"):
        sg.suggest_valley(lrs, smoothed, raw_losses=raw)


def test_minimum_and_steepest_read_a_clear_descent():
    lrs, raw, smoothed = _flat_then_drop()
    b = sg.suggest_minimum(lrs, smoothed, raw_losses=raw)
    assert 0.1 < b.details["lr_at_min"] < 1.0
    assert 1e-2 < sg.suggest_steepest(lrs, smoothed, raw_losses=raw).max_lr < 0.5


@pytest.mark.parametrize("raw, match", [
    (np.concatenate([[2.3, 2.31, 2.29], np.linspace(2.3, 9, 5)]), "only 8 finite"),
    (np.concatenate([2.3 + 0.01 * np.cos(np.arange(10)), np.linspace(2.3, 9, 40)]), "never falls below"),
])
def test_significant_descent_explains_a_curve_that_diverges_at_once(raw, match):
    lrs = np.logspace(-3, 1, len(raw))
    with pytest.raises(ValueError, match=match):
        sg.significant_descent(lrs, raw, smooth(raw, 0.9))


def test_significant_descent_passes_a_real_descent():
    lrs, raw, smoothed = _flat_then_drop()
    n, low = sg.significant_descent(lrs, raw, smoothed)
    assert n == 100 and 0.1 < lrs[low] < 1.0


# ----------------------------------------------------------------------------- Bounds

def test_bounds_unpack_as_base_and_max():
    b = Bounds(0.001, 0.006, "accuracy")
    base, top = b
    assert (base, top) == (0.001, 0.006) and list(b) == [0.001, 0.006]
    assert "base_lr=0.001" in repr(b)


def test_bounds_report_lists_the_reasons():
    b = Bounds(0.001, 0.004, "find_bounds", {"why": ("first reason.", "second reason.")})
    assert b.report().splitlines() == ["base_lr = 0.001, max_lr = 0.004 (find_bounds)", "- first reason.",
                                       "- second reason."]
    assert Bounds(0.001, 0.004, "minimum").report() == "base_lr = 0.001, max_lr = 0.004 (minimum)"


@pytest.mark.parametrize("base, top", [(0.006, 0.001), (0.0, 0.1), (0.1, math.inf), (0.1, 0.1)])
def test_bounds_validate(base, top):
    with pytest.raises(ValueError, match="base_lr"):
        Bounds(base, top, "x")


def test_base_ratio_must_exceed_one():
    with pytest.raises(ValueError, match="base_ratio.*1"):
        sg.suggest_minimum(np.logspace(-3, 0, 40), np.linspace(2, 1, 40), base_ratio=1)


def test_suggest_bounds_unknown_method():
    with pytest.raises(ValueError, match="'lowest'.*'accuracy'"):
        sg.suggest_bounds("lowest", [1.0], losses=[1.0])


def test_range_test_steepest_reads_torch_lr_finders_own_curve():
    """RangeTestResult.suggest('steepest') gives torch-lr-finder's lr for the same raw losses, although
    the result records fastai's smoothing: the rule smooths and stops the raw losses torch-lr-finder's way."""
    peers = pytest.importorskip("peer_rules")
    from clr.range_test import RangeTestResult

    rng = np.random.default_rng(1)
    compared = 0
    for _ in range(60):
        lrs, raw = _random_curve(rng)
        result = RangeTestResult(lrs=lrs, losses=raw, smoothed_losses=smooth(raw, 0.98),
                                 settings={"num_iter": len(lrs), "step_mode": "exp"})
        try:
            ours = result.suggest("steepest").max_lr
        except ValueError:  # clr refuses curves without signal; torch-lr-finder answers anyway
            continue
        assert ours == peers.tlf_steepest(lrs, raw)
        compared += 1
    assert compared > 20
