"""Tests of clr.policies: hand-computed values, properties, JSON, bad input."""

import json
import math

import pytest
from hypothesis import given, settings
from hypothesis import strategies as st

import numpy as np

from clr.policies import (
    SGDR, Cyclic, Decay, Exp, ExpRange, Fixed, Inv, Inverse, MultiStep, OneCycle,
    OneCycleMomentum, Policy, Poly, Stages, Step, Triangular, Triangular2,
    cycle_length, iterations_for_cycles, paper_cifar10_triangular2, round_to_cycles, step_size_from_epochs,
)

approx = lambda value: pytest.approx(value, rel=1e-12, abs=1e-15)  # noqa: E731
FAST = settings(max_examples=60, deadline=None)


# ---------------------------------------------------------------------------
# known values at hand-computed iterations
# ---------------------------------------------------------------------------

KNOWN = [
    # the paper's CIFAR-10 triangular (Fig. 1): 0.001-0.006, stepsize 2000
    *[(Triangular(0.001, 0.006, 2000), it, lr) for it, lr in
      [(0, 0.001), (1000, 0.0035), (2000, 0.006), (3000, 0.0035), (4000, 0.001), (6000, 0.006), (7000, 0.0035)]],
    # triangular2: peaks 1, 1/2, 1/4, 1/8 at the middle of cycles 1..4
    *[(Triangular2(0.0, 1.0, 2), it, lr) for it, lr in
      [(0, 0.0), (1, 0.5), (2, 1.0), (4, 0.0), (5, 0.25), (6, 0.5), (10, 0.25), (14, 0.125)]],
    (Triangular2(0.1, 0.5, 4), 12, 0.1 + 0.4 / 2),
    # exp_range: amplitude * gamma**it, base fixed
    *[(ExpRange(0.0, 1.0, 2, 0.5), it, lr) for it, lr in [(0, 0.0), (1, 0.25), (2, 0.25), (6, 1 / 64)]],
    (ExpRange(0.1, 0.5, 2, 0.9), 2, 0.1 + 0.4 * 0.81),
    # PyTorch's asymmetric cycle: up 2, down 6
    *[(Cyclic(0.0, 1.0, 2, 6), it, lr) for it, lr in
      [(0, 0.0), (1, 0.5), (2, 1.0), (3, 5 / 6), (5, 0.5), (7, 1 / 6), (8, 0.0), (9, 0.5), (10, 1.0)]],
    (Cyclic(0.0, 1.0, 2, mode="triangular2"), 6, 0.5),
    (Cyclic(0.0, 1.0, 2, mode="exp_range", gamma=0.5), 2, 0.25),
    (Cyclic(0.0, 1.0, 2, scale_fn=lambda c: 1 / c), 6, 0.5),            # 'cycle': scale 1/2 in cycle 2
    (Cyclic(0.0, 1.0, 2, scale_fn=lambda i: 1 / (1 + i), scale_mode="iterations"), 2, 1 / 3),
    # baselines
    (Fixed(0.001), 12345, 0.001),
    *[(Step(0.1, 0.1, 10), it, lr) for it, lr in [(0, 0.1), (9, 0.1), (10, 0.01), (25, 0.001)]],
    *[(MultiStep(0.35, 0.1, (50000, 70000)), it, lr) for it, lr in
      [(0, 0.35), (49999, 0.35), (50000, 0.035), (69999, 0.035), (70000, 0.0035)]],
    (Exp(0.001, 0.99994), 10000, 0.001 * 0.99994 ** 10000),
    (Exp(0.5, 0.5), 3, 0.0625),
    (Inv(0.01, 1e-4, 0.75), 10000, 0.01 * 2 ** -0.75),
    *[(Poly(0.01, 100, 2.0), it, lr) for it, lr in [(0, 0.01), (50, 0.0025), (100, 0.0), (150, 0.0)]],
    # the paper's decay run: 0.007 -> 0.001 over 4000, then hold
    *[(Decay(0.001, 0.007, 4000), it, lr) for it, lr in [(0, 0.007), (2000, 0.004), (4000, 0.001), (10000, 0.001)]],
    # 1cycle, T=10, pct 0.5: phase ends 4 and 9; initial 1/25, min 4e-6
    *[(OneCycle(1.0, 10, 0.5), it, lr) for it, lr in
      [(0, 0.04), (2, 0.52), (4, 1.0), (9, 4e-6), (10, 4e-6), (1000, 4e-6)]],
    *[(OneCycle(1.0, 10, 0.5, "linear"), it, lr) for it, lr in [(1, 0.28), (4, 1.0), (6, 1 - (1 - 4e-6) * 0.4)]],
    # three-phase, T=20, pct 0.25: ends 4, 8, 19
    *[(OneCycle(1.0, 20, 0.25, "linear", three_phase=True), it, lr) for it, lr in
      [(0, 0.04), (2, 0.52), (4, 1.0), (6, 0.52), (8, 0.04), (13.5, (0.04 + 4e-6) / 2), (19, 4e-6), (25, 4e-6)]],
    *[(OneCycleMomentum(10, 0.5), it, m) for it, m in [(0, 0.95), (2, 0.90), (4, 0.85), (9, 0.95), (50, 0.95)]],
    *[(OneCycleMomentum(20, 0.25, "linear", three_phase=True), it, m) for it, m in
      [(4, 0.85), (6, 0.90), (8, 0.95), (15, 0.95)]],
    # SGDR, T_0 4, T_mult 2: restarts at 0, 4, 12, 28
    *[(SGDR(1.0, 4, 2), it, lr) for it, lr in
      [(0, 1.0), (2, 0.5), (3, (1 + math.cos(3 * math.pi / 4)) / 2), (4, 1.0), (8, 0.5), (12, 1.0), (20, 0.5), (28, 1.0)]],
    *[(SGDR(0.1, 3, 1, 0.01), it, lr) for it, lr in [(0, 0.1), (3, 0.1), (6, 0.1), (7, 0.01 + 0.09 * 0.75)]],
]


@pytest.mark.parametrize("policy, it, expected", KNOWN, ids=[f"{p.name}@{it}" for p, it, _ in KNOWN])
def test_known_values(policy, it, expected):
    assert policy(it) == approx(expected)


PAPER_CIFAR10_STAGES = [
    (0, 0.001), (2000, 0.005), (4000, 0.001), (6000, 0.003), (10000, 0.002), (14000, 0.0015),
    (16000, 0.0001), (17000, 0.0005), (19000, 0.0003), (21000, 0.0002),       # stage 2, own clock
    (22000, 0.00001), (22500, 0.00005), (23500, 0.00003), (24500, 0.00002), (25000, 0.00001),
]


@pytest.mark.parametrize("it, expected", PAPER_CIFAR10_STAGES)
def test_paper_cifar10_triangular2_at_stage_boundaries(it, expected):
    assert paper_cifar10_triangular2()(it) == approx(expected)


def test_paper_cifar10_triangular2_layout():
    schedule = paper_cifar10_triangular2()
    assert schedule.boundaries == (0, 16000, 22000)
    assert schedule.total_iters == 25000


def test_one_cycle_levels_follow_pytorch_definitions():
    policy = OneCycle(0.1, 100, div_factor=10.0, final_div_factor=100.0)
    assert policy.initial_lr == approx(0.01)
    assert policy.min_lr == approx(1e-4)
    assert policy(0) == approx(0.01)
    assert policy(29) == approx(0.1)   # pct_start*T - 1 = 29: the peak
    assert policy(99) == approx(1e-4)  # T - 1: the end


def test_one_cycle_zero_length_warmup_does_not_divide_by_zero():
    # pct_start * total_steps == 1: the first phase has length 0 (PyTorch raises ZeroDivisionError).
    policy = OneCycle(1.0, 10, 0.1)
    assert policy(0) == approx(1.0)
    assert policy(9) == approx(1.0 / 25 / 1e4)


# ---------------------------------------------------------------------------
# policies are immutable values: checked once, compared and hashed by their arguments
# ---------------------------------------------------------------------------

def test_a_policy_cannot_be_changed_after_its_checks():
    policy = Triangular(0.001, 0.006, 2000)
    with pytest.raises(AttributeError, match="immutable.*'max_lr'"):
        policy.max_lr = -1.0                       # would skip the constructor's bounds check
    with pytest.raises(AttributeError, match="immutable"):
        del policy.step_size
    assert policy(2000) == 0.006


def test_equal_arguments_give_equal_hashable_policies():
    assert Triangular(0.001, 0.006, 2000) == Triangular(0.001, 0.006, 2000.0)
    assert Triangular(0.001, 0.006, 2000) != Triangular2(0.001, 0.006, 2000)
    assert Triangular(0.001, 0.006, 2000) != Triangular(0.001, 0.007, 2000)
    assert len({paper_cifar10_triangular2(), paper_cifar10_triangular2(), Fixed(0.1)}) == 2


@pytest.mark.parametrize("wrap", [np.float32, np.array, np.int64], ids=["np.float32", "0-d array", "np.int64"])
def test_numpy_scalars_and_0d_arrays_are_numbers(wrap):
    policy = Triangular(wrap(0), wrap(1), np.array(4))
    assert policy == Triangular(0.0, 1.0, 4)
    assert type(policy.base_lr) is float and type(policy.step_size) is int   # plain JSON numbers
    assert json.loads(json.dumps(policy.to_dict())) == policy.to_dict()


# ---------------------------------------------------------------------------
# the PyTorch form equals the paper's formulas for symmetric cycles
# ---------------------------------------------------------------------------

@pytest.mark.parametrize("paper, general", [
    (Triangular(0.001, 0.006, 5), Cyclic(0.001, 0.006, 5)),
    (Triangular2(0.001, 0.006, 5), Cyclic(0.001, 0.006, 5, mode="triangular2")),
    (ExpRange(0.001, 0.006, 5, 0.97), Cyclic(0.001, 0.006, 5, mode="exp_range", gamma=0.97)),
], ids=["triangular", "triangular2", "exp_range"])
def test_cyclic_equals_paper_formula_for_symmetric_steps(paper, general):
    for it in range(200):
        assert general(it) == pytest.approx(paper(it), rel=1e-12, abs=1e-18)


def test_triangular2_survives_thousands_of_cycles():
    # 1 / 2.0**cycle would overflow after ~1024 cycles; the amplitude just reaches 0.
    assert Triangular2(0.1, 0.5, 1)(5001) == 0.1
    assert Cyclic(0.1, 0.5, 1, mode="triangular2")(5001) == 0.1


# ---------------------------------------------------------------------------
# properties (hypothesis)
# ---------------------------------------------------------------------------

lrs = st.floats(min_value=0.0, max_value=10.0, allow_nan=False)
step_sizes = st.integers(min_value=1, max_value=500)
iterations = st.integers(min_value=0, max_value=100_000)


def _ordered(a, b):
    return (a, b) if a <= b else (b, a)


@FAST
@given(a=lrs, b=lrs, ss=step_sizes, down=step_sizes, gamma=st.floats(0.5, 1.0), it=iterations,
       kind=st.sampled_from(["triangular", "triangular2", "exp_range", "cyclic", "decay", "sgdr"]))
def test_bounded_policies_stay_between_bounds(a, b, ss, down, gamma, it, kind):
    low, high = _ordered(a, b)
    policy = {
        "triangular": Triangular(low, high, ss),
        "triangular2": Triangular2(low, high, ss),
        "exp_range": ExpRange(low, high, ss, gamma),
        "cyclic": Cyclic(low, high, ss, down, mode="exp_range", gamma=gamma),
        "decay": Decay(low, high, ss),
        "sgdr": SGDR(high, ss, 2, low),
    }[kind]
    tolerance = 1e-12 * max(1.0, high)
    assert low - tolerance <= policy(it) <= high + tolerance


@FAST
@given(a=lrs, b=lrs, ss=step_sizes, it=iterations)
def test_triangular_is_periodic(a, b, ss, it):
    low, high = _ordered(a, b)
    policy = Triangular(low, high, ss)
    assert policy(it + 2 * ss) == pytest.approx(policy(it), rel=1e-9, abs=1e-12)


@FAST
@given(ss=step_sizes, it=st.integers(0, 20_000))
def test_triangular2_amplitude_halves_every_cycle(ss, it):
    policy = Triangular2(0.25, 1.25, ss)
    assert policy(it + 2 * ss) - 0.25 == pytest.approx((policy(it) - 0.25) / 2, rel=1e-9, abs=1e-12)


@FAST
@given(ss=step_sizes, it=st.integers(0, 5_000), gamma=st.floats(0.99, 1.0))
def test_exp_range_amplitude_decays_as_gamma_power(ss, it, gamma):
    policy = ExpRange(0.1, 0.6, ss, gamma)
    wave = Triangular(0.0, 1.0, ss)(it)
    assert policy(it) == pytest.approx(0.1 + 0.5 * wave * gamma ** it, rel=1e-9, abs=1e-12)
    # one cycle later: same point of the triangle, amplitude times gamma**(2 ss)
    assert policy(it + 2 * ss) - 0.1 == pytest.approx((policy(it) - 0.1) * gamma ** (2 * ss), rel=1e-9, abs=1e-12)


@FAST
@given(total=st.integers(2, 400), pct=st.floats(0.05, 0.45), anneal=st.sampled_from(["cos", "linear"]),
       three_phase=st.booleans())
def test_one_cycle_phases_are_monotone_and_hold_after_the_end(total, pct, anneal, three_phase):
    policy = OneCycle(0.5, total, pct, anneal, three_phase=three_phase)
    momentum = policy.momentum(0.85, 0.95)
    values = [policy(t) for t in range(total + 5)]
    momenta = [momentum(t) for t in range(total + 5)]
    slack = 1e-12
    # one peak, at an integer step next to the end of the warm-up, pct_start*T - 1
    warmup_end = pct * total - 1
    near_end = {max(0, math.floor(warmup_end)), max(0, math.ceil(warmup_end))}
    peak, trough = values.index(max(values)), momenta.index(min(momenta))
    assert peak in near_end and trough in near_end
    assert all(x <= y + slack for x, y in zip(values[:peak], values[1:peak + 1]))            # lr rises,
    assert all(x >= y - slack for x, y in zip(values[peak:total], values[peak + 1:total]))   # then falls
    assert all(x >= y - slack for x, y in zip(momenta[:trough], momenta[1:trough + 1]))      # momentum mirrors it
    assert all(x <= y + slack for x, y in zip(momenta[trough:total], momenta[trough + 1:total]))
    assert values[total - 1:] == [values[total - 1]] * 6     # never rises again
    assert values[total - 1] == pytest.approx(policy.min_lr)
    assert momenta[total - 1:] == [0.95] * 6
    assert max(values) <= 0.5 + slack and min(values) >= policy.min_lr - slack


@FAST
@given(ss=step_sizes, k=st.integers(1, 5), it=st.integers(0, 20_000))
def test_chain_split_at_cycle_end_is_continuous(ss, k, it):
    # a triangle cut at the end of cycle k and restarted is the same triangle
    whole = Triangular(0.001, 0.006, ss)
    split = Stages(((whole, 2 * ss * k), (whole, None)))
    assert split(it) == pytest.approx(whole(it), rel=1e-12)


@FAST
@given(n=st.integers(1, 1000), j=st.integers(0, 1000))
def test_each_stage_runs_on_its_own_clock(n, j):
    first, second = Triangular(0.1, 0.2, 7), Triangular2(0.01, 0.05, 3)
    staged = Stages(((first, n), (second, None)))
    assert staged(n + j) == second(j)
    if j < n:
        assert staged(j) == first(j)


@FAST
@given(T_0=st.integers(1, 20), T_mult=st.integers(1, 3), it=st.integers(0, 3000))
def test_sgdr_restarts_to_eta_max(T_0, T_mult, it):
    policy = SGDR(0.1, T_0, T_mult, 0.001)
    restarts, start, period = set(), 0, T_0
    while start <= it:
        restarts.add(start)
        start, period = start + period, period * T_mult
    assert (policy(it) == pytest.approx(0.1, rel=1e-12)) == (it in restarts)


# ---------------------------------------------------------------------------
# momentum inverse to the lr
# ---------------------------------------------------------------------------

@pytest.mark.parametrize("lr_policy", [
    Triangular(0.1, 0.5, 4), Triangular2(0.1, 0.5, 4), ExpRange(0.1, 0.5, 4, 0.9),
    Cyclic(0.1, 0.5, 2, 6), Decay(0.1, 0.5, 4), SGDR(0.5, 5, 1, 0.1),
], ids=lambda p: p.name)
def test_inverse_momentum_mirrors_the_lr(lr_policy):
    momentum = lr_policy.momentum(0.8, 0.9)
    assert momentum == Inverse(lr_policy, 0.8, 0.9)
    for it in range(30):
        position = (lr_policy(it) - 0.1) / 0.4       # 0 at the lower lr bound, 1 at the upper
        assert momentum(it) == pytest.approx(0.9 - 0.1 * position, rel=1e-12)


def test_inverse_of_one_cycle_and_stages():
    cycle = OneCycle(1.0, 10, 0.5)
    assert cycle.momentum(0.85, 0.95) == OneCycleMomentum(10, 0.5, "cos", 0.85, 0.95)
    momentum = paper_cifar10_triangular2().momentum(0.8, 0.9)
    assert isinstance(momentum, Stages) and momentum.boundaries == (0, 16000, 22000)
    assert [momentum(it) for it in (0, 2000, 16000, 17000, 22500)] == approx([0.9, 0.8, 0.9, 0.8, 0.8])


def test_inverse_needs_bounds():
    with pytest.raises(TypeError, match="bounded policy"):
        Inverse(Exp(0.1, 0.9), 0.8, 0.9)
    with pytest.raises(TypeError, match="Exp has no lower and upper lr"):
        Exp(0.1, 0.9).momentum(0.8, 0.9)
    with pytest.raises(TypeError, match="Fixed has no lower and upper lr"):
        Stages(((Triangular(0.1, 0.2, 3), 6), (Fixed(0.1), None))).momentum(0.8, 0.9)


# ---------------------------------------------------------------------------
# JSON round trips
# ---------------------------------------------------------------------------

ROUND_TRIP = [
    Fixed(0.1), Step(0.1, 0.1, 100), MultiStep(0.35, 0.1, (50000, 70000)), Exp(0.001, 0.99994),
    Inv(0.01, 1e-4, 0.75), Poly(0.01, 1000, 0.9), Decay(0.001, 0.007, 4000),
    Triangular(0.001, 0.006, 2000), Triangular2(0.001, 0.006, 2000), ExpRange(0.001, 0.006, 2000, 0.99994),
    Cyclic(0.001, 0.006, 300, 700, "exp_range", 0.999), OneCycle(0.1, 1000, 0.25, "linear", 10.0, 100.0, True),
    OneCycleMomentum(1000, 0.3, "cos", 0.85, 0.95), SGDR(0.1, 10, 2, 1e-4),
    paper_cifar10_triangular2(), paper_cifar10_triangular2().momentum(0.85, 0.95),
    Inverse(Cyclic(0.1, 1.0, 5, mode="triangular2"), 0.8, 0.9),
]


@pytest.mark.parametrize("policy", ROUND_TRIP, ids=lambda p: p.name)
def test_json_round_trip(policy):
    restored = Policy.from_dict(json.loads(json.dumps(policy.to_dict())))
    assert restored == policy
    assert type(restored).from_dict(policy.to_dict()) == policy
    for it in (0, 1, 17, 999, 16000, 24999):
        assert restored(it) == policy(it)


def _halve(cycle):
    return 0.5 ** cycle


def test_custom_scale_fn_is_recorded_and_required_again():
    policy = Cyclic(0.1, 1.0, 5, scale_fn=_halve)
    data = json.loads(json.dumps(policy.to_dict()))
    assert data["scale_fn"] == {"custom": f"{__name__}._halve"}
    with pytest.raises(ValueError, match="custom scale_fn.*_halve"):
        Policy.from_dict(data)
    assert Policy.from_dict(data, scale_fn=_halve) == policy


def test_repr_names_the_policy_and_its_arguments():
    assert repr(Triangular(0.001, 0.006, 2000)) == "Triangular(base_lr=0.001, max_lr=0.006, step_size=2000)"
    assert "_total" not in repr(Cyclic(0.1, 0.2))


@pytest.mark.parametrize("data, match", [
    ({"type": "nope"}, "not a known policy"),
    ({"base_lr": 0.1}, "'type' key"),
    ({"type": "triangular", "base_lr": 0.1, "max_lr": 0.2}, "missing keys \\['step_size'\\]"),
    ({"type": "fixed", "lr": 0.1, "extra": 1}, "unknown keys \\['extra'\\]"),
    ({"type": ["fixed"], "lr": 0.1}, "not a known policy"),
    ({"type": "stages", "stages": 5}, "stages must be a non-empty list"),
])
def test_from_dict_rejects_bad_data(data, match):
    with pytest.raises(ValueError, match=match):
        Policy.from_dict(data)


def test_subclass_from_dict_checks_the_type():
    with pytest.raises(ValueError, match="describes Fixed, not Triangular"):
        Triangular.from_dict(Fixed(0.1).to_dict())


# ---------------------------------------------------------------------------
# helpers
# ---------------------------------------------------------------------------

def test_step_size_from_epochs_uses_the_paper_rule():
    assert step_size_from_epochs(500) == 2000           # CIFAR-10: 4 epochs of 500 iterations
    assert step_size_from_epochs(5005, epochs=6) == 30030
    assert step_size_from_epochs(500, epochs=2.5) == 1250


@pytest.mark.parametrize("epochs", [1, 0.5, 12])
def test_step_size_from_epochs_warns_outside_2_to_10(epochs):
    with pytest.warns(UserWarning, match="2-10 epochs"):
        step_size_from_epochs(100, epochs=epochs)


def test_cycle_helpers():
    assert cycle_length(2000) == 4000
    assert cycle_length(3, 7) == 10
    assert iterations_for_cycles(2000, 4) == 16000
    assert iterations_for_cycles(3, 2, step_size_down=7) == 20
    assert round_to_cycles(25000, 2000) == 24000
    assert round_to_cycles(25000, 2000, direction="up") == 28000
    assert round_to_cycles(24000, 2000, direction="up") == 24000


# ---------------------------------------------------------------------------
# bad input: ValueError/TypeError naming the argument
# ---------------------------------------------------------------------------

BAD = [
    (lambda: Triangular(0.006, 0.001, 2000), ValueError, "base_lr=0.006 is larger than max_lr"),
    (lambda: Triangular(0.001, 0.006, 0), ValueError, "step_size"),
    (lambda: Triangular2(0.001, 0.006, -5), ValueError, "step_size"),
    (lambda: Triangular(-0.1, 0.006, 10), ValueError, "base_lr"),
    (lambda: Triangular(0.001, math.inf, 10), ValueError, "max_lr"),
    (lambda: Triangular(0.001, math.nan, 10), ValueError, "max_lr"),
    (lambda: Triangular("0.001", 0.006, 10), TypeError, "base_lr"),
    (lambda: ExpRange(0.001, 0.006, 10, 0.0), ValueError, "gamma"),
    (lambda: ExpRange(0.001, 0.006, 10, 1.5), ValueError, "gamma"),
    (lambda: Cyclic(0.001, 0.006, mode="sawtooth"), ValueError, "mode"),
    (lambda: Cyclic(0.001, 0.006, scale_mode="epoch"), ValueError, "scale_mode"),
    (lambda: Cyclic(0.001, 0.006, step_size_down=0), ValueError, "step_size_down"),
    (lambda: Cyclic(0.001, 0.006, scale_fn=3), TypeError, "scale_fn"),
    (lambda: Cyclic(0.1, 0.2, 2, scale_fn=lambda c: 2.0)(1), ValueError, "scale_fn returned 2.0"),
    (lambda: Step(0.1, 0.1, 0), ValueError, "step_size"),
    (lambda: Step(0.1, 2.0, 10), ValueError, "gamma"),
    (lambda: Exp(0.1, -0.5), ValueError, "gamma"),
    (lambda: MultiStep(0.1, 0.1, (70, 50)), ValueError, "milestones"),
    (lambda: MultiStep(0.1, 0.1, 50), TypeError, "milestones"),
    (lambda: Inv(0.1, 0.0, 0.75), ValueError, "gamma"),
    (lambda: Poly(0.1, 0, 1.0), ValueError, "max_iter"),
    (lambda: Decay(0.007, 0.001, 4000), ValueError, "base_lr"),
    (lambda: OneCycle(0.1, 0), ValueError, "total_steps"),
    (lambda: OneCycle(0.1, 2.5), TypeError, "total_steps"),
    (lambda: OneCycle(0.1, 100, pct_start=0.0), ValueError, "pct_start"),
    (lambda: OneCycle(0.1, 100, pct_start=1.0), ValueError, "pct_start"),
    (lambda: OneCycle(0.1, 100, anneal_strategy="cosine"), ValueError, "anneal_strategy"),
    (lambda: OneCycle(0.1, 100, pct_start=0.6, three_phase=True), ValueError, "pct_start=0.6"),
    (lambda: OneCycle(0.1, 100, div_factor=0.5), ValueError, "div_factor"),
    (lambda: OneCycle(0.0, 100), ValueError, "max_lr"),
    (lambda: OneCycleMomentum(100, base_momentum=0.95, max_momentum=0.85), ValueError, "base_momentum"),
    (lambda: OneCycleMomentum(100, max_momentum=1.5), ValueError, "max_momentum"),
    (lambda: SGDR(0.1, 0), ValueError, "T_0"),
    (lambda: SGDR(0.1, 10, 0), ValueError, "T_mult"),
    (lambda: SGDR(0.1, 10, 1, 0.2), ValueError, "eta_min"),
    (lambda: Stages(()), ValueError, "stages"),
    (lambda: Stages(((Fixed(0.1), None), (Fixed(0.2), 5))), ValueError, "stages\\[0\\]"),
    (lambda: Stages(((lambda it: 0.1, 5),)), TypeError, "stages\\[0\\]"),
    (lambda: Stages(((Fixed(0.1), 0),)), ValueError, "n_iters"),
    (lambda: Triangular(0.001, 0.006, 10)(-1), ValueError, "iteration"),
    (lambda: Triangular(0.001, 0.006, 10)(math.nan), ValueError, "iteration"),
    (lambda: OneCycle(0.1, 10)(math.inf), ValueError, "iteration"),
    (lambda: step_size_from_epochs(0), ValueError, "iters_per_epoch"),
    (lambda: step_size_from_epochs(500, epochs=0), ValueError, "epochs"),
    (lambda: round_to_cycles(3000, 2000), ValueError, "n_iters=3000"),
    (lambda: round_to_cycles(30000, 2000, direction="nearest"), ValueError, "direction"),
    (lambda: iterations_for_cycles(2000, 0), ValueError, "n_cycles"),
]


@pytest.mark.parametrize("make, error, match", BAD, ids=[m for *_, m in BAD])
def test_bad_input_names_the_argument(make, error, match):
    with pytest.raises(error, match=match):
        make()
