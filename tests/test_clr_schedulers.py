"""Tests of clr.schedulers: hand-computed sequences, momentum/beta1, JSON resume,
bad input, and the same floats as torch.optim.lr_scheduler (live with torch, else from fixtures)."""

import itertools
import json
import math
import warnings

import pytest

from clr.policies import (
    SGDR, Cyclic, Exp, Fixed, MultiStep, OneCycle, Step, Triangular, paper_cifar10_triangular2,
)
from clr.schedulers import CyclicLR, OneCycleLR, PolicyScheduler

from helpers import FakeOptimizer  # noqa: E402
from torch_reference import torch_reference  # noqa: E402

approx = lambda value: pytest.approx(value, rel=1e-12, abs=1e-15)  # noqa: E731



def lrs(opt):
    return [group["lr"] for group in opt.param_groups]


def momenta(opt):
    return [group["betas"][0] if "betas" in group else group["momentum"] for group in opt.param_groups]


def run(scheduler, n_steps):
    """(lr, momentum) of group 0 after the constructor and after each of n_steps steps."""
    opt = scheduler.optimizer
    seen = [(lrs(opt)[0], momenta(opt)[0] if scheduler.momentum_policies else None)]
    for _ in range(n_steps):
        scheduler.step()
        seen.append((lrs(opt)[0], momenta(opt)[0] if scheduler.momentum_policies else None))
    return seen


# ---------------------------------------------------------------------------
# hand-computed sequences (no torch needed)
# ---------------------------------------------------------------------------

def test_cyclic_lr_triangle_and_inverse_momentum():
    opt = FakeOptimizer()
    sched = CyclicLR(opt, base_lr=0.1, max_lr=0.5, step_size_up=4)
    assert sched.last_epoch == 0                       # the constructor took step 0
    seen = run(sched, 8)
    assert [lr for lr, _ in seen] == approx([0.1, 0.2, 0.3, 0.4, 0.5, 0.4, 0.3, 0.2, 0.1])
    assert [m for _, m in seen] == approx([0.9, 0.875, 0.85, 0.825, 0.8, 0.825, 0.85, 0.875, 0.9])
    assert sched.last_epoch == 8
    assert sched.get_last_lr() == approx([0.1])
    assert sched.get_last_momentum() == approx([0.9])


def test_cyclic_lr_asymmetric_triangular2_per_group_adam():
    opt = FakeOptimizer(2, "adam")
    sched = CyclicLR(opt, base_lr=[0.0, 0.1], max_lr=[1.0, 0.3], step_size_up=1, step_size_down=3,
                     mode="triangular2", base_momentum=[0.8, 0.7], max_momentum=0.9)
    expected0 = [0.0, 1.0, 2 / 3, 1 / 3, 0.0, 0.5, 1 / 3]          # cycle 2 at half amplitude
    got = [lrs(opt)]
    for _ in range(6):
        sched.step()
        got.append(lrs(opt))
    assert [g[0] for g in got] == approx(expected0)
    assert [g[1] for g in got] == approx([0.1 + 0.2 * v for v in expected0])
    # at step 6 the lr is 1/3 of the way up (2/3 of the triangle, halved): beta1 1/3 of the way down
    assert [g["betas"] for g in opt.param_groups] == [(approx(0.9 - 0.1 / 3), 0.999),
                                                       (approx(0.9 - 0.2 / 3), 0.999)]


def test_cyclic_lr_exp_range_uses_the_global_iteration():
    opt = FakeOptimizer()
    sched = CyclicLR(opt, 0.0, 1.0, step_size_up=2, mode="exp_range", gamma=0.5, cycle_momentum=False)
    seen = [lr for lr, _ in run(sched, 6)]
    assert seen == approx([0.0, 0.25, 0.25, 0.0625, 0.0, 1 / 64, 1 / 64])
    assert opt.param_groups[0]["momentum"] == 0.0     # untouched without cycle_momentum


def test_one_cycle_lr_hand_values_and_the_end():
    opt = FakeOptimizer(kind="sgd")
    sched = OneCycleLR(opt, max_lr=1.0, total_steps=10, pct_start=0.5)
    seen = run(sched, 9)                               # steps 0..9: the whole cycle
    assert [seen[i][0] for i in (0, 2, 4, 9)] == approx([0.04, 0.52, 1.0, 4e-6])
    assert [seen[i][1] for i in (0, 2, 4, 9)] == approx([0.95, 0.90, 0.85, 0.95])
    sched.step()                                       # step 10: PyTorch rises here; we hold
    assert lrs(opt) == approx([4e-6])
    with pytest.raises(ValueError, match="Tried to step 11 times.*total steps is 10.*past_end='hold'"):
        sched.step()
    assert sched.last_epoch == 10                      # a refused step changes nothing


def test_one_cycle_lr_hold_past_end():
    opt = FakeOptimizer(kind="adam")
    sched = OneCycleLR(opt, max_lr=0.1, epochs=2, steps_per_epoch=5, three_phase=True,
                       anneal_strategy="linear", past_end="hold")
    assert sched.total_steps == 10
    for _ in range(30):
        sched.step()
    assert lrs(opt) == approx([0.1 / 25 / 1e4])
    assert opt.param_groups[0]["betas"] == (0.95, 0.999)


def test_one_cycle_total_steps_wins_over_epochs():
    sched = OneCycleLR(FakeOptimizer(), 0.1, total_steps=7, epochs=100, steps_per_epoch=100)
    assert sched.total_steps == 7


def test_last_epoch_resumes_like_pytorch():
    # last_epoch=k means k steps were done; the constructor moves to k + 1.
    opt = FakeOptimizer()
    sched = CyclicLR(opt, 0.1, 0.5, step_size_up=4, last_epoch=5)
    assert sched.last_epoch == 6
    assert lrs(opt) == approx([0.3])


def test_policy_scheduler_with_any_policy_per_group():
    opt = FakeOptimizer(2, "sgd")
    schedule = paper_cifar10_triangular2()
    sched = PolicyScheduler(opt, [schedule, Exp(0.1, 0.5)], schedule.momentum(0.85, 0.95),
                            last_epoch=15999)
    assert sched.last_epoch == 16000
    assert lrs(opt) == approx([0.0001, 0.05 * 0.5 ** 15999])
    assert momenta(opt) == approx([0.95, 0.95])
    for _ in range(1000):
        sched.step()
    assert lrs(opt)[0] == approx(0.0005)                  # stage 2 peak at 17000
    assert momenta(opt)[0] == approx(0.85)


def test_policy_scheduler_without_momentum_leaves_it_alone():
    opt = FakeOptimizer(kind="plain")
    sched = PolicyScheduler(opt, Triangular(0.1, 0.5, 2))
    sched.step()
    assert opt.param_groups[0] == {"params": [], "lr": approx(0.3)}
    assert sched.get_last_momentum() is None


def test_history_is_optional_and_records_each_step():
    sched = CyclicLR(FakeOptimizer(), 0.1, 0.5, step_size_up=2, record_history=True)
    sched.step()
    sched.step()
    assert [(it, lr) for it, lr, _ in sched.history] == [(0, approx([0.1])), (1, approx([0.3])), (2, approx([0.5]))]
    assert sched.history[-1][2] == approx([0.8])
    assert CyclicLR(FakeOptimizer(), 0.1, 0.5).history is None


def test_works_on_objects_that_are_not_optimizers_beyond_param_groups():
    class Bare:
        param_groups = [{"lr": 1.0, "betas": [0.9, 0.99]}]   # a list works as betas too
    sched = OneCycleLR(Bare(), 0.2, total_steps=5)
    assert Bare.param_groups[0]["betas"] == (0.95, 0.99)
    assert sched.get_last_lr() == approx([0.2 / 25])


# ---------------------------------------------------------------------------
# state_dict: JSON round trip and exact resume mid-cycle
# ---------------------------------------------------------------------------

def _halving(cycle):
    return 1 / cycle


RESUMABLE = {
    "cyclic-triangular2": lambda opt: CyclicLR(opt, [0.01, 0.02], [0.1, 0.3], step_size_up=3,
                                               step_size_down=5, mode="triangular2"),
    "cyclic-exp_range-adam": lambda opt: CyclicLR(opt, 0.001, 0.006, step_size_up=4, mode="exp_range", gamma=0.98),
    "cyclic-custom-scale_fn": lambda opt: CyclicLR(opt, 0.01, 0.1, step_size_up=3, scale_fn=_halving),
    "one_cycle-three_phase": lambda opt: OneCycleLR(opt, [0.5, 1.0], total_steps=40, three_phase=True),
    "one_cycle-hold": lambda opt: OneCycleLR(opt, 0.5, total_steps=20, past_end="hold"),
    "policy-stages": lambda opt: PolicyScheduler(
        opt, paper_cifar10_triangular2(), paper_cifar10_triangular2().momentum(0.8, 0.9)),
    "policy-sgdr": lambda opt: PolicyScheduler(opt, SGDR(0.1, 5, 2, 0.001)),
}


@pytest.mark.parametrize("kind", ["sgd", "adam"])
@pytest.mark.parametrize("name", list(RESUMABLE))
def test_resume_from_json_continues_the_same_sequence(name, kind):
    make = RESUMABLE[name]
    first_opt = FakeOptimizer(2, kind)
    first = make(first_opt)
    for _ in range(13):                                # stop mid-cycle
        first.step()
    saved = json.loads(json.dumps(first.state_dict()))

    second_opt = FakeOptimizer(2, kind, lr=99.0)
    second = make(second_opt)
    second.load_state_dict(saved)
    assert second.last_epoch == first.last_epoch == 13
    assert second_opt.param_groups == first_opt.param_groups
    for _ in range(20):
        first.step()
        second.step()
        assert second_opt.param_groups == first_opt.param_groups
        assert second.get_last_lr() == first.get_last_lr()


def test_custom_scale_fn_is_not_dropped():
    sched = CyclicLR(FakeOptimizer(), 0.01, 0.1, step_size_up=3, scale_fn=_halving)
    for _ in range(7):
        sched.step()
    state = json.loads(json.dumps(sched.state_dict()))
    assert state["lr_policies"][0]["scale_fn"] == {"custom": f"{__name__}._halving"}
    # a scheduler built without it cannot guess it
    plain = CyclicLR(FakeOptimizer(), 0.01, 0.1, step_size_up=3)
    with pytest.raises(ValueError, match="custom scale_fn.*_halving"):
        plain.load_state_dict(state)
    assert plain.last_epoch == 0                       # failed load left it untouched
    # ... unless it is given explicitly
    plain.load_state_dict(state, scale_fn=_halving)
    assert plain.get_last_lr() == sched.get_last_lr()


def test_load_state_dict_rejects_mismatches():
    state = CyclicLR(FakeOptimizer(2), 0.1, 0.5).state_dict()
    with pytest.raises(ValueError, match="not a OneCycleLR state_dict"):
        OneCycleLR(FakeOptimizer(2), 0.1, total_steps=10).load_state_dict(state)
    with pytest.raises(ValueError, match="2 param groups but the optimizer has 3"):
        CyclicLR(FakeOptimizer(3), 0.1, 0.5).load_state_dict(state)
    with pytest.raises(ValueError, match="version"):
        CyclicLR(FakeOptimizer(2), 0.1, 0.5).load_state_dict({**state, "version": 99})


def _one_cycle_state(**changes):
    state = json.loads(json.dumps(OneCycleLR(FakeOptimizer(2), 0.1, total_steps=10).state_dict()))
    return {**state, **changes}


def _without(key):
    state = json.loads(json.dumps(CyclicLR(FakeOptimizer(2), 0.1, 0.5).state_dict()))
    del state[key]
    return state


OTHER_TOTAL = OneCycle(0.1, 20).to_dict()
BAD_STATES = [  # (scheduler to load into, state, message): each refused with a ValueError
    *[("cyclic", _without(key), f"state lacks the keys \\['{key}'\\]")
      for key in ("version", "last_epoch", "step_limit", "lr_policies", "momentum_policies")],
    ("cyclic", {"scheduler": "CyclicLR"}, "state lacks the keys \\['version', 'last_epoch'"),
    ("cyclic", [("last_epoch", 3)], "not a CyclicLR state_dict"),
    ("one_cycle", {k: v for k, v in _one_cycle_state().items() if k != "total_steps"}, "lacks.*total_steps"),
    ("one_cycle", _one_cycle_state(total_steps=20), "total_steps'\\]=20 but the lr policy of param group 0"),
    ("one_cycle", _one_cycle_state(total_steps=20, step_limit=20,
                                   lr_policies=[OTHER_TOTAL, OTHER_TOTAL]), "momentum policy of param group 0"),
    ("one_cycle", _one_cycle_state(step_limit=None), "step_limit'\\]=None does not match past_end='raise'"),
    ("one_cycle", _one_cycle_state(past_end="wrap"), "past_end"),
    ("one_cycle", _one_cycle_state(last_epoch=11), "last_epoch'\\]=11 is past"),
    ("one_cycle", _one_cycle_state(lr_policies=[Fixed(0.1).to_dict()] * 2), "lr policy of param group 0 is Fixed"),
    ("cyclic", {**_without("momentum_policies"), "momentum_policies": None, "lr_policies": {"a": 1}},
     "state\\['lr_policies'\\] must list one policy per param group"),
    ("cyclic", {**_without("momentum_policies"), "momentum_policies": None, "last_epoch": "3"}, "last_epoch"),
    ("cyclic", {**_without("momentum_policies"), "momentum_policies": None,
                "lr_policies": [Fixed(0.1).to_dict()] * 2}, "Cyclic lr policies"),
    ("cyclic", {**_without("momentum_policies"), "momentum_policies": None, "lr_policies": [None, None]},
     "'type' key"),
]


@pytest.mark.parametrize("kind, state, match", BAD_STATES, ids=[m for *_, m in BAD_STATES])
def test_load_state_dict_refuses_incomplete_or_contradictory_states(kind, state, match):
    opt = FakeOptimizer(2)
    sched = CyclicLR(opt, 0.1, 0.5) if kind == "cyclic" else OneCycleLR(opt, 0.1, total_steps=10)
    before = (sched.state_dict(), [dict(g) for g in opt.param_groups])
    with pytest.raises(ValueError, match=match):
        sched.load_state_dict(state)
    assert (sched.state_dict(), opt.param_groups) == before          # nothing changed


def test_step_with_an_iteration_jumps_there_like_torch():
    opt = FakeOptimizer()
    sched = CyclicLR(opt, 0.1, 0.5, step_size_up=4)
    sched.step(6)
    assert sched.last_epoch == 6 and lrs(opt) == approx([0.3])
    sched.step()
    assert sched.last_epoch == 7 and lrs(opt) == approx([0.2])
    with pytest.raises(ValueError, match="epoch must be an integer >= 0, got -1"):
        sched.step(-1)
    with pytest.raises(ValueError, match="Tried to step 11 times"):
        OneCycleLR(FakeOptimizer(), 0.1, total_steps=10).step(11)


def test_one_cycle_state_keeps_the_end_rule():
    sched = OneCycleLR(FakeOptimizer(), 0.1, total_steps=5)
    for _ in range(5):
        sched.step()
    other = OneCycleLR(FakeOptimizer(), 0.1, total_steps=5, past_end="hold")
    other.load_state_dict(json.loads(json.dumps(sched.state_dict())))
    assert other.past_end == "raise"
    with pytest.raises(ValueError, match="Tried to step 6 times"):
        other.step()


# ---------------------------------------------------------------------------
# bad input
# ---------------------------------------------------------------------------

BAD = [
    (lambda: CyclicLR(FakeOptimizer(), 0.5, 0.1), ValueError, "base_lr=0.5 is larger than max_lr"),
    (lambda: CyclicLR(FakeOptimizer(), 0.1, 0.5, step_size_up=0), ValueError, "step_size_up"),
    (lambda: CyclicLR(FakeOptimizer(), 0.1, 0.5, step_size_down=-2), ValueError, "step_size_down"),
    (lambda: CyclicLR(FakeOptimizer(), 0.1, 0.5, mode="cosine"), ValueError, "mode"),
    (lambda: CyclicLR(FakeOptimizer(), 0.1, 0.5, gamma=1.5), ValueError, "gamma"),
    (lambda: CyclicLR(FakeOptimizer(), 0.1, math.nan), ValueError, "max_lr"),
    (lambda: CyclicLR(FakeOptimizer(), 0.1, 0.5, scale_mode="epochs"), ValueError, "scale_mode"),
    (lambda: CyclicLR(FakeOptimizer(2), [0.1, 0.2, 0.3], 0.5), ValueError, "base_lr has 3 values.*2 param groups"),
    (lambda: CyclicLR(FakeOptimizer(2), 0.1, [0.5]), ValueError, "max_lr has 1 values"),
    (lambda: CyclicLR(FakeOptimizer(2), 0.1, 0.5, base_momentum=[0.8]), ValueError, "base_momentum has 1"),
    (lambda: CyclicLR(FakeOptimizer(), 0.1, 0.5, base_momentum=0.95), ValueError, "base_momentum"),
    (lambda: CyclicLR(FakeOptimizer(), 0.1, 0.5, max_momentum=1.2), ValueError, "max_momentum"),
    (lambda: CyclicLR(FakeOptimizer(kind="plain"), 0.1, 0.5), ValueError, "momentum or beta1.*cycle_momentum=False"),
    (lambda: CyclicLR(FakeOptimizer(), 0.1, 0.5, last_epoch=-2), ValueError, "last_epoch"),
    (lambda: CyclicLR(object(), 0.1, 0.5), TypeError, "param_groups"),
    (lambda: CyclicLR(FakeOptimizer(0), 0.1, 0.5), ValueError, "param_groups is empty"),
    (lambda: OneCycleLR(FakeOptimizer(), 0.1), ValueError, "total_steps OR \\(epochs AND steps_per_epoch\\)"),
    (lambda: OneCycleLR(FakeOptimizer(), 0.1, total_steps=0), ValueError, "total_steps"),
    (lambda: OneCycleLR(FakeOptimizer(), 0.1, epochs=0, steps_per_epoch=10), ValueError, "epochs"),
    (lambda: OneCycleLR(FakeOptimizer(), 0.1, epochs=3, steps_per_epoch=-1), ValueError, "steps_per_epoch"),
    (lambda: OneCycleLR(FakeOptimizer(), 0.1, total_steps=100, pct_start=1.0), ValueError, "pct_start"),
    (lambda: OneCycleLR(FakeOptimizer(), 0.1, total_steps=100, anneal_strategy="cosine"), ValueError, "anneal_strategy"),
    (lambda: OneCycleLR(FakeOptimizer(), 0.1, total_steps=100, past_end="wrap"), ValueError, "past_end"),
    (lambda: OneCycleLR(FakeOptimizer(kind="plain"), 0.1, total_steps=100), ValueError, "momentum or beta1"),
    (lambda: OneCycleLR(FakeOptimizer(), [0.1, 0.2], total_steps=100), ValueError, "max_lr has 2 values"),
    (lambda: OneCycleLR(FakeOptimizer(), 0.1, total_steps=10, last_epoch=10), ValueError, "Tried to step 11"),
    (lambda: PolicyScheduler(FakeOptimizer(), lambda it: 0.1), TypeError, "lr_policy must be a clr.policies.Policy"),
    (lambda: PolicyScheduler(FakeOptimizer(2), [Fixed(0.1)]), ValueError, "lr_policy has 1 values"),
    (lambda: PolicyScheduler(FakeOptimizer(kind="plain"), Fixed(0.1), Fixed(0.9)), ValueError, "momentum"),
]


@pytest.mark.parametrize("make, error, match", BAD, ids=[m for *_, m in BAD])
def test_bad_input_names_the_argument(make, error, match):
    with pytest.raises(error, match=match):
        make()


def test_adding_a_param_group_later_is_an_error():
    opt = FakeOptimizer()
    sched = CyclicLR(opt, 0.1, 0.5)
    opt.param_groups.append({"params": [], "lr": 0.1, "momentum": 0.9})
    with pytest.raises(ValueError, match="now has 2 param groups"):
        sched.step()


# ---------------------------------------------------------------------------
# the same floats as torch.optim.lr_scheduler: live where torch imports, else
# from tests/fixtures/torch/schedulers.json (see tests/torch_reference.py)
# ---------------------------------------------------------------------------

def torch_sequence(key, make, kind, steps):
    """[lrs, momenta] of a 2-group torch optimizer (SGD momentum 0.9 or Adam, lr 0.1) after
    ``make(lr_scheduler, optimizer)`` and after each of ``steps`` calls of step()."""
    def sequence(torch):
        groups = [{"params": [torch.nn.Parameter(torch.zeros(1))]} for _ in range(2)]
        opt = torch.optim.SGD(groups, lr=0.1, momentum=0.9) if kind == "sgd" else torch.optim.Adam(groups, lr=0.1)
        with warnings.catch_warnings():
            warnings.simplefilter("ignore")  # torch warns when scheduler.step() precedes optimizer.step()
            sched = make(torch.optim.lr_scheduler, opt)
            seen = [[lrs(opt), momenta(opt)]]
            for _ in range(steps):
                sched.step()
                seen.append([lrs(opt), momenta(opt)])
        return seen
    return torch_reference("schedulers", f"{key} {kind} {steps} steps", sequence)


def our_sequence(make, kind, steps):
    """The same for our scheduler on param groups that start like torch's."""
    opt = FakeOptimizer(2, kind, lr=0.1)
    for group in opt.param_groups:
        group.update({"momentum": 0.9} if kind == "sgd" else {})
    sched = make(opt)
    seen = [[lrs(opt), momenta(opt)]]
    for _ in range(steps):
        sched.step()
        seen.append([lrs(opt), momenta(opt)])
    return seen


CYCLIC_CASES = {
    "triangular": dict(base_lr=0.01, max_lr=0.1, step_size_up=5),
    "triangular2-asymmetric-per-group": dict(base_lr=[0.01, 0.02], max_lr=[0.1, 0.3], step_size_up=3,
                                             step_size_down=7, mode="triangular2"),
    "exp_range": dict(base_lr=0.001, max_lr=0.006, step_size_up=4, mode="exp_range", gamma=0.97),
    "custom-scale_fn-iterations": dict(base_lr=0.01, max_lr=0.1, step_size_up=4,
                                       scale_fn=lambda x: 0.5 * (1 + math.sin(x)), scale_mode="iterations"),
    "custom-scale_fn-cycle-momentum-per-group": dict(base_lr=0.01, max_lr=0.1, step_size_up=3, scale_fn=lambda c: 1 / c,
                                                     base_momentum=[0.7, 0.8], max_momentum=0.95),
    "flat-lr": dict(base_lr=0.2, max_lr=0.2, step_size_up=2),   # momentum still cycles, as in torch
}


@pytest.mark.parametrize("kind", ["sgd", "adam"])
@pytest.mark.parametrize("name", list(CYCLIC_CASES))
def test_cyclic_lr_matches_torch_exactly(name, kind):
    case = CYCLIC_CASES[name]
    theirs = torch_sequence(f"CyclicLR {name}", lambda s, opt: s.CyclicLR(opt, **case), kind, 60)
    assert our_sequence(lambda opt: CyclicLR(opt, **case), kind, 60) == theirs


ONE_CYCLE_CASES = [
    dict(total_steps=total, pct_start=pct, anneal_strategy=anneal, three_phase=three, final_div_factor=fdiv)
    for total, pct, anneal, three, fdiv in itertools.product(
        [1, 2, 7, 37, 100], [0.25, 0.3, 0.45], ["cos", "linear"], [False, True], [1e4, 100.0])
    if pct * total != 1  # torch divides by zero there (we do not; see the policy tests)
]


def _one_cycle_id(case):
    phases = "3phase" if case["three_phase"] else "2phase"
    return f"T{case['total_steps']}-pct{case['pct_start']}-{case['anneal_strategy']}-{phases}-fdiv{case['final_div_factor']:g}"


@pytest.mark.parametrize("case", ONE_CYCLE_CASES, ids=[_one_cycle_id(c) for c in ONE_CYCLE_CASES])
def test_one_cycle_lr_matches_torch_until_the_end(case):
    kind, kw, steps = "adam" if case["three_phase"] else "sgd", dict(max_lr=[0.5, 1.0], **case), case["total_steps"]
    theirs = torch_sequence(f"OneCycleLR {_one_cycle_id(case)}", lambda s, opt: s.OneCycleLR(opt, **kw), kind, steps)
    ours = our_sequence(lambda opt: OneCycleLR(opt, **kw), kind, steps)
    assert ours[:steps] == theirs[:steps]              # steps 0 .. T-1: identical floats
    assert ours[steps][0] == ours[steps - 1][0]        # step T: ours holds min_lr,
    if steps > 2:
        assert theirs[steps][0] != ours[steps][0]      # torch leaves the cycle (#91765)


def test_one_cycle_lr_raises_where_torch_raises():
    def error_after_4_steps(torch):
        opt = torch.optim.SGD([torch.nn.Parameter(torch.zeros(1))], lr=0.1, momentum=0.9)
        sched = torch.optim.lr_scheduler.OneCycleLR(opt, 0.1, total_steps=4)
        with warnings.catch_warnings():
            warnings.simplefilter("ignore")
            for _ in range(4):
                sched.step()
            try:
                sched.step()
            except ValueError as error:
                return str(error)
        return None
    their_message = torch_reference("schedulers", "OneCycleLR error after 4 steps of 4", error_after_4_steps)
    assert their_message.startswith("Tried to step 5 times")
    ours = OneCycleLR(FakeOptimizer(), 0.1, total_steps=4)
    for _ in range(4):
        ours.step()
    with pytest.raises(ValueError) as raised:
        ours.step()
    assert str(raised.value).startswith(their_message)


@pytest.mark.parametrize("T_0, T_mult", [(3, 1), (4, 2), (2, 3)])
def test_sgdr_matches_torch_cosine_warm_restarts(T_0, T_mult):
    theirs = torch_sequence(f"CosineAnnealingWarmRestarts T_0={T_0} T_mult={T_mult} eta_min=0.001",
                            lambda s, opt: s.CosineAnnealingWarmRestarts(opt, T_0=T_0, T_mult=T_mult, eta_min=0.001),
                            "sgd", 80)
    ours = our_sequence(lambda opt: PolicyScheduler(opt, SGDR(0.1, T_0, T_mult, 0.001)), "sgd", 80)
    assert [lr for lr, _ in ours] == [lr for lr, _ in theirs]


@pytest.mark.parametrize("torch_name, torch_kwargs, policy", [
    ("StepLR", dict(step_size=7, gamma=0.5), Step(0.1, 0.5, 7)),
    ("MultiStepLR", dict(milestones=[5, 12], gamma=0.1), MultiStep(0.1, 0.1, (5, 12))),
    ("ExponentialLR", dict(gamma=0.95), Exp(0.1, 0.95)),
], ids=["step", "multistep", "exp"])
def test_caffe_baselines_match_torch_closely(torch_name, torch_kwargs, policy):
    theirs = torch_sequence(f"{torch_name} {torch_kwargs}",
                            lambda s, opt: getattr(s, torch_name)(opt, **torch_kwargs), "sgd", 30)
    ours = our_sequence(lambda opt: PolicyScheduler(opt, policy), "sgd", 30)
    # torch multiplies step by step; the closed form differs by a few ulps
    for (our_lrs, _), (their_lrs, _) in zip(ours, theirs):
        assert our_lrs == pytest.approx(their_lrs, rel=1e-12)


def test_cyclic_policy_bits_equal_torch_formula_without_torch():
    # The scheduler's floats come from Cyclic; spot-check the arithmetic PyTorch uses.
    policy = Cyclic(0.001, 0.006, 3, 7, mode="triangular2")
    t, total, ratio = 12, 10.0, 0.3
    cycle = math.floor(1 + t / total)
    x = 1.0 + t / total - cycle
    f = x / ratio if x <= ratio else (x - 1) / (ratio - 1)
    assert policy(t) == 0.001 + (0.006 - 0.001) * f * (1 / 2.0 ** (cycle - 1))
    assert OneCycle(1.0, 10, 0.5)(2) == 1.0 + (0.04 - 1.0) / 2.0 * (math.cos(math.pi * 0.5) + 1)
