"""clr.lab.records (metadata, atomic writers, seed statistics), clr.lab.train and the model zoo."""
import csv
import json
import math
import os
from datetime import datetime

from pathlib import Path

import numpy as np
import pytest

from clr.lab import records as common


# ----------------------------------------------------------------------------- metadata

def test_run_metadata_has_what_a_report_needs():
    meta = common.run_metadata(seed=7, argv=["/home/someone/bin/tinynet-clr", "demo", "--out", "a b"], extra=1)
    assert meta["seed"] == 7 and meta["extra"] == 1
    assert meta["command"] == "tinynet-clr demo --out 'a b'"  # program name only, shell-quoted
    assert common.run_metadata(argv=[str(Path(common.__file__).with_name("__main__.py")), "demo"])["command"] == "python -m clr.lab demo"
    assert datetime.fromisoformat(meta["date_utc"]).utcoffset().total_seconds() == 0
    machine = meta["machine"]
    for key in ("platform", "python", "cpu_count", "usable_cpus", "numpy", "blas"):
        assert machine[key] not in (None, "")
    assert machine["numpy"] == np.__version__
    assert meta["git_commit"] is None or isinstance(meta["git_commit"], str)
    json.dumps(meta)  # plain JSON
    assert str(machine["usable_cpus"]) in common.describe_machine(machine)


def test_git_commit_is_none_outside_a_repository(tmp_path):
    assert common.git_commit(tmp_path) is None


# ----------------------------------------------------------------------------- writers

def test_write_json_turns_numpy_and_nonfinite_into_plain_json(tmp_path):
    path = tmp_path / "sub" / "r.json"  # parent folders are created
    common.write_json(path, {"a": np.float32(0.5), "b": np.arange(3), "c": [math.nan, math.inf, 1.0],
                             "d": np.int64(4), "e": (1, 2)})
    assert json.loads(path.read_text()) == {"a": 0.5, "b": [0, 1, 2], "c": [None, None, 1.0], "d": 4, "e": [1, 2]}
    assert [p.name for p in path.parent.iterdir()] == ["r.json"]  # no temporary file left behind
    umask = os.umask(0)
    os.umask(umask)
    assert path.stat().st_mode & 0o777 == 0o666 & ~umask  # like open(), not mkstemp's private 0600


def test_write_csv_columns_empty_cells_and_full_precision(tmp_path):
    path = tmp_path / "r.csv"
    common.write_csv(path, [{"policy": "fixed", "acc": 0.1 + 0.2, "it": None},
                            {"policy": "triangular", "acc": math.nan, "it": np.int64(300)}])
    with open(path, newline="") as f:
        rows = list(csv.DictReader(f))
    assert rows == [{"policy": "fixed", "acc": repr(0.1 + 0.2), "it": ""},
                    {"policy": "triangular", "acc": "", "it": "300"}]


@pytest.mark.parametrize("rows, fieldnames, match", [
    ([], None, "no rows"),
    ([{"a": 1, "b": 2}], ["a"], "not among fieldnames"),
])
def test_write_csv_rejects_unknown_columns(tmp_path, rows, fieldnames, match):
    with pytest.raises(ValueError, match=match):
        common.write_csv(tmp_path / "x.csv", rows, fieldnames)
    assert not os.listdir(tmp_path)


def test_a_write_interrupted_halfway_keeps_the_old_file_and_leaves_no_temporary(tmp_path):
    path = tmp_path / "r.json"
    common.write_json(path, {"ok": True})

    def half_then_fail(f):
        f.write('{"half": ')
        raise KeyboardInterrupt  # Ctrl-C in the middle of writing

    with pytest.raises(KeyboardInterrupt):
        common.atomic_write(path, half_then_fail, "w")
    assert json.loads(path.read_text()) == {"ok": True}
    assert os.listdir(tmp_path) == ["r.json"]


# ----------------------------------------------------------------------------- statistics

@pytest.mark.parametrize("values, expected", [
    ([1.0, 2.0, 3.0], (2.0, 1.0, 3)),            # sample std (ddof=1) of 1, 2, 3 is 1
    ([0.8, None, math.nan, 0.9], (0.85, math.sqrt(0.005), 2)),
    ([5.0], (5.0, math.nan, 1)),                 # one seed: no spread
    ([None, math.nan], (math.nan, math.nan, 0)),
])
def test_mean_std(values, expected):
    got = common.mean_std(values)
    assert got[2] == expected[2]
    np.testing.assert_allclose(got[:2], expected[:2], equal_nan=True)


@pytest.mark.parametrize("mean, std, digits, scale, text", [
    (0.8142, 0.0031, 1, 100, "81.4 ± 0.3"),
    (0.8142, math.nan, 2, 100, "81.42"),
    (math.nan, 0.1, 1, 1, "n/a"),
    (1200.0, 50.0, 0, 1, "1200 ± 50"),
])
def test_format_mean_std(mean, std, digits, scale, text):
    assert common.format_mean_std(mean, std, digits, scale) == text


def test_aggregate_groups_in_first_seen_order():
    rows = [{"policy": "fixed", "seed": s, "acc": a} for s, a in enumerate([0.80, 0.82])]
    rows += [{"policy": "tri", "seed": s, "acc": a} for s, a in enumerate([0.90, 0.94, 0.92])]
    out = common.aggregate(rows, by=["policy"], values=["acc"])
    assert [r["policy"] for r in out] == ["fixed", "tri"]
    np.testing.assert_allclose([out[0]["acc_mean"], out[0]["acc_std"]], [0.81, math.sqrt(2e-4)])
    np.testing.assert_allclose([out[1]["acc_mean"], out[1]["acc_std"]], [0.92, 0.02])
    assert (out[0]["acc_n"], out[1]["acc_n"]) == (2, 3)
    with pytest.raises(KeyError, match="no column"):
        common.aggregate([{"policy": "x"}], by=["policy"], values=["acc"])


def test_curve_mean_std_pads_runs_that_stopped_early():
    h1 = {"iteration": [0, 10, 20], "test_acc": [0.1, 0.5, 0.7]}
    h2 = {"iteration": [0, 10], "test_acc": [0.1, 0.3]}  # diverged after iteration 10
    x, mean, std = common.curve_mean_std([h1, h2])
    np.testing.assert_array_equal(x, [0, 10, 20])
    np.testing.assert_allclose(mean, [0.1, 0.4, 0.7])
    np.testing.assert_allclose(std, [0.0, math.sqrt(0.02), math.nan], equal_nan=True)
    with pytest.raises(ValueError, match="other iterations"):
        common.curve_mean_std([h1, {"iteration": [0, 5], "test_acc": [0.1, 0.2]}])


# ----------------------------------------------------------------------------- the model zoo

from clr.lab import models  # noqa: E402
from clr.lab.train import evaluate, iterations_to_reach, train  # noqa: E402


@pytest.mark.parametrize("build, expected", [
    (lambda: models.mnist1d_logistic(0), 410),
    (lambda: models.mnist1d_mlp(0), 15_210),
    (lambda: models.mnist1d_cnn(0), 5_210),
    (lambda: models.mlp(784, 100, 10), 79_510),
    (lambda: models.mlp(40, (32, 16), 10), 41 * 32 + 33 * 16 + 17 * 10),
    (lambda: models.cifar10_full(0), 89_578),
    (lambda: models.cifar10_full(0, in_channels=1, size=28), 83_498),
])
def test_models_have_their_documented_parameter_counts(build, expected):
    assert models.num_parameters(build()) == expected


@pytest.mark.parametrize("name, shape", [
    ("logistic", (40,)), ("mlp", (40,)), ("cnn", (40,)), ("mlp", (1, 28, 28)), ("cifar10_full", (1, 28, 28)),
])
def test_built_models_map_a_batch_to_logits(name, shape):
    import tinynet as tn
    model = models.build(name, 0, shape)
    x = np.random.default_rng(0).standard_normal((3, *shape)).astype(np.float32)
    assert model(tn.Tensor(x)).shape == (3, 10)


def test_same_seed_same_weights_and_caffe_init():
    a, b, c = models.mnist1d_cnn(1), models.mnist1d_cnn(1), models.mnist1d_cnn(2)
    for (name, pa), (_, pb), (_, pc) in zip(a.named_parameters(), b.named_parameters(), c.named_parameters()):
        np.testing.assert_array_equal(pa.numpy(), pb.numpy(), err_msg=name)
        assert not np.array_equal(pa.numpy(), pc.numpy()), name
    net = models.cifar10_full(0)
    assert abs(net.conv1.weight.numpy().std() - 1e-4) < 1e-5   # Caffe: gaussian std 1e-4 for conv1
    assert abs(net.conv3.weight.numpy().std() - 1e-2) < 1e-3   # and 0.01 for the others
    assert not net.ip1.bias.numpy().any()                        # constant-0 biases
    groups = net.param_groups(0.004)
    assert [g["weight_decay"] for g in groups] == [0.004, 1.0, 0.0]  # ip1 decay_mult 250 and 0
    assert sum(len(g["params"]) for g in groups) == len(list(net.parameters()))


@pytest.mark.parametrize("name, shape, match", [
    ("resnet", (40,), "unknown model"), ("cnn", (1, 28, 28), "1-D signals"), ("cifar10_full", (40,), "square"),
])
def test_build_rejects_models_that_do_not_fit(name, shape, match):
    with pytest.raises(ValueError, match=match):
        models.build(name, 0, shape)


# ----------------------------------------------------------------------------- the training loop

HAND_MADE = {"iteration": [0, 50, 100, 150, 200], "test_acc": [0.1, 0.6, math.nan, 0.8, 0.75]}


@pytest.mark.parametrize("target, expected", [
    (0.05, 0), (0.1, 0), (0.6, 50), (0.7, 150), (0.8, 150), (0.75, 150), (0.81, None),
    (0.1 + 0.2 + 0.3 - 0.0000000000000001, 50),   # 0.6 up to rounding still counts as reached
])
def test_iterations_to_reach_on_a_hand_made_history(target, expected):
    assert iterations_to_reach(HAND_MADE, target) == expected


@pytest.mark.parametrize("target", [math.nan, 81.0, -0.1, "0.8"])
def test_iterations_to_reach_rejects_bad_targets(target):
    with pytest.raises(ValueError, match="target_acc"):
        iterations_to_reach(HAND_MADE, target)


@pytest.fixture(scope="module")
def small_task():
    from tinynet.data import ArrayDataset, DataLoader, load_mnist1d
    split = load_mnist1d()
    loader = DataLoader(ArrayDataset(split.x_train[:500], split.y_train[:500]), 50, shuffle=True, seed=3)
    return loader, (split.x_test[:200], split.y_test[:200])


def _run(small_task, schedule=None, seed=0, lr=0.05, iterations=25, model_seed=0, as_scheduler=False):
    from clr.schedulers import PolicyScheduler
    from tinynet.optim import SGD
    loader, test = small_task
    model = models.mnist1d_mlp(model_seed)
    opt = SGD(model.parameters(), lr=lr, momentum=0.9)
    if as_scheduler:
        schedule = PolicyScheduler(opt, schedule)
    return train(model, opt, schedule, loader, iterations, 10, test, seed=seed)


def _same(h1, h2):
    keys = ("iteration", "lr", "momentum", "train_loss", "test_loss", "test_acc")
    return all(np.array_equal(h1[k], h2[k], equal_nan=True) for k in keys) and h1["steps"]["loss"] == h2["steps"]["loss"]


def test_same_seed_gives_an_identical_history(small_task):
    h1, h2 = _run(small_task), _run(small_task)
    assert _same(h1, h2)
    assert h1["iteration"] == [0, 10, 20, 25]            # every 10 iterations, and at the end
    assert math.isnan(h1["train_loss"][0]) and h1["test_acc"][-1] > h1["test_acc"][0]
    assert not _same(h1, _run(small_task, seed=1))        # another data order
    assert not _same(h1, _run(small_task, model_seed=1))  # other initial weights


def test_a_policy_and_a_scheduler_give_the_same_run(small_task):
    from clr.policies import Triangular
    policy = Triangular(0.01, 0.1, 5)
    h1 = _run(small_task, policy)
    h2 = _run(small_task, policy, as_scheduler=True)
    assert _same(h1, h2)
    np.testing.assert_allclose(h1["steps"]["lr"], [policy(i) for i in range(25)])
    # at an evaluation, the lr of the step just taken (at 0: of the first step)
    assert h1["lr"] == [policy(0), policy(9), policy(19), policy(24)]
    # steps 9 and 19 are 1/5 of a half-cycle above the bottom, step 24 is 1/5 below the top
    np.testing.assert_allclose(h1["lr"], [0.01, 0.01 + 0.09 * 0.2, 0.01 + 0.09 * 0.2, 0.01 + 0.09 * 0.8])


@pytest.mark.filterwarnings("ignore:overflow:RuntimeWarning", "ignore:invalid value:RuntimeWarning")
def test_a_diverging_run_stops_instead_of_recording_nan(small_task):
    h = _run(small_task, lr=1e6)
    assert isinstance(h["diverged_at"], int)
    assert len(h["steps"]["loss"]) == h["diverged_at"]
    assert all(math.isfinite(v) for v in h["steps"]["loss"])
    assert h["iteration"][-1] <= h["diverged_at"]


def test_evaluate_does_not_depend_on_the_batch_size_and_restores_the_mode(small_task):
    _, (x, y) = small_task
    model = models.mnist1d_mlp(0)
    full = evaluate(model, (x, y), batch_size=1000)
    np.testing.assert_allclose(evaluate(model, (x, y), batch_size=7), full, rtol=1e-5)
    assert model.training
    model.eval()
    evaluate(model, (x, y))
    assert not model.training


@pytest.mark.parametrize("kwargs, error, match", [
    ({"iterations": 0}, ValueError, "iterations"),
    ({"eval_every": 1.5}, ValueError, "eval_every"),
    ({"schedule": 0.1}, TypeError, "schedule"),
])
def test_train_rejects_bad_arguments(small_task, kwargs, error, match):
    from tinynet.optim import SGD
    loader, test = small_task
    model = models.mnist1d_logistic(0)
    args = {"schedule": None, "iterations": 5, "eval_every": 5, **kwargs}
    with pytest.raises(error, match=match):
        train(model, SGD(model.parameters(), lr=0.1), args["schedule"], loader, args["iterations"],
              args["eval_every"], test)
