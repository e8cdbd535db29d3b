"""Every experiment script in its --quick mode, into tmp_path: outputs, metadata, determinism.

Fashion-MNIST and CIFAR-10 are replaced by tiny synthetic files in the official formats (IDX and the
python-pickle tarball), so these tests need no dataset; MNIST-1D is embedded in tinynet.
"""
from __future__ import annotations

import gzip
import io
import json
import math
import os
import pickle
import subprocess
import tarfile
from pathlib import Path

import numpy as np
import pytest

pytest.importorskip("matplotlib")

import exp_cifar10_caffe, exp_mnist1d, exp_onecycle, exp_optimizers, exp_saddle, exp_table1  # noqa: E402  (experiments/ via pytest's pythonpath)
from clr import policies as P  # noqa: E402
from helpers import read_csv  # noqa: E402
from tinynet.data import encode_idx  # noqa: E402

REPO = Path(__file__).resolve().parent.parent
SCRIPTS = [exp_saddle, exp_mnist1d, exp_optimizers, exp_onecycle, exp_table1, exp_cifar10_caffe]


# ----------------------------------------------------------------------------- synthetic datasets

@pytest.fixture(scope="module")
def fashion_root(tmp_path_factory) -> Path:
    """Fashion-MNIST's four IDX files, gzipped, with 60 training and 30 test random images."""
    root = tmp_path_factory.mktemp("fashion")
    rng = np.random.default_rng(0)
    for prefix, n in (("train", 60), ("t10k", 30)):
        images = rng.integers(0, 256, (n, 28, 28), dtype=np.uint8)
        labels = rng.integers(0, 10, n).astype(np.uint8)
        (root / f"{prefix}-images-idx3-ubyte.gz").write_bytes(gzip.compress(encode_idx(images)))
        (root / f"{prefix}-labels-idx1-ubyte.gz").write_bytes(gzip.compress(encode_idx(labels)))
    return root


@pytest.fixture(scope="module")
def cifar_root(tmp_path_factory) -> Path:
    """cifar-10-python.tar.gz with 5 training batches of 8 images and a test batch of 20."""
    root = tmp_path_factory.mktemp("cifar")
    rng = np.random.default_rng(1)
    with tarfile.open(root / "cifar-10-python.tar.gz", "w:gz") as tar:
        for name, n in [(f"data_batch_{i}", 8) for i in range(1, 6)] + [("test_batch", 20)]:
            batch = {b"data": rng.integers(0, 256, (n, 3072), dtype=np.uint8),
                     b"labels": [int(v) for v in rng.integers(0, 10, n)]}
            data = pickle.dumps(batch, protocol=2)
            info = tarfile.TarInfo(f"cifar-10-batches-py/{name}")
            info.size = len(data)
            tar.addfile(info, io.BytesIO(data))
    return root



def check_outputs(out: Path, pngs: list[str], seeds: list[int]) -> dict:
    """results.json with the metadata, summary.csv, and non-empty PNGs; returns the JSON."""
    payload = json.loads((out / "results.json").read_text())
    meta = payload["meta"]
    for key in ("command", "seeds", "date_utc", "machine", "git_commit"):
        assert key in meta, key
    assert meta["seeds"] == seeds
    assert meta["machine"]["python"] and meta["machine"]["numpy"]
    assert (out / "summary.csv").stat().st_size > 0
    for name in pngs:
        data = (out / name).read_bytes()
        assert data[:8] == b"\x89PNG\r\n\x1a\n" and len(data) > 1000, name
    return payload


# ----------------------------------------------------------------------------- --help

@pytest.mark.parametrize("script", SCRIPTS, ids=lambda m: m.__name__.rsplit(".", 1)[-1])
def test_help_mentions_the_common_flags(script, capsys):
    with pytest.raises(SystemExit) as exit_info:
        script.main(["--help"])
    assert exit_info.value.code == 0
    text = capsys.readouterr().out
    for flag in ("--quick", "--seeds", "--out"):
        assert flag in text


@pytest.mark.parametrize("script, argv", [
    (exp_saddle, ["--base-lr", "1", "--max-lr", "0.5"]),
    (exp_mnist1d, ["--seeds", "1", "1"]),
    (exp_optimizers, ["--early", "30", "--eval-every", "20"]),
    (exp_onecycle, ["--iterations", "100", "--eval-every", "30"]),
    (exp_table1, ["--base-lr", "0.01"]),
    (exp_cifar10_caffe, ["--scale", "2"]),
    (exp_mnist1d, ["--range-iters", "50"]),       # below find_bounds' minimum of 100
    (exp_table1, ["--range-iters", "50"]),
    (exp_onecycle, ["--fixed-grid", "0.1", "0.1"]),
], ids=["saddle", "mnist1d", "optimizers", "onecycle", "table1", "cifar10", "mnist1d-range-iters",
        "table1-range-iters", "onecycle-fixed-grid"])
def test_bad_arguments_are_rejected(script, argv, capsys):
    with pytest.raises(SystemExit) as exit_info:
        script.main(argv)
    assert exit_info.value.code == 2
    assert "error" in capsys.readouterr().err


# ----------------------------------------------------------------------------- (e) saddle

def test_saddle_quick(tmp_path):
    out = tmp_path / "saddle"
    payload = exp_saddle.main(["--quick", "--out", str(out)])
    check_outputs(out, ["saddle_paths.png", "saddle_loss.png"], [0])
    summary = {row["policy"]: row for row in payload["summary"]}
    assert set(summary) == {"fixed-low", "fixed-high", "triangular"}
    # 100 steps: the small lr is still creeping over the plateaus (it needs ~480 steps), while the
    # large lr and the triangle (which rises to it) have crossed both cliffs
    assert summary["fixed-low"]["iterations_to_target_n"] == 0
    assert summary["fixed-high"]["iterations_to_target_n"] == 2
    assert summary["triangular"]["iterations_to_target_n"] == 2
    assert len(read_csv(out / "runs.csv")[1]) == 3 * 2  # policies x starts (one seed)


# ----------------------------------------------------------------------------- (c) MNIST-1D

def test_mnist1d_quick_is_deterministic(tmp_path):
    a = exp_mnist1d.main(["--quick", "--out", str(tmp_path / "a")])
    b = exp_mnist1d.main(["--quick", "--out", str(tmp_path / "b")])
    check_outputs(tmp_path / "a", ["accuracy_curves.png", "range_tests.png"], [0])
    assert len(a["summary"]) == 3 * 3  # models x schedules
    finals = lambda p: [(r["model"], r["schedule"], r["final_acc"]) for r in p["runs"]]  # noqa: E731
    assert finals(a) == finals(b)
    for r in a["runs"]:
        assert 0 <= r["final_acc"] <= r["best_acc"] <= 1
    for bounds in a["settings"]["bounds"].values():  # clr.find_bounds' values, untouched
        assert bounds["method"] == "find_bounds" and math.isclose(bounds["max_lr"] / bounds["base_lr"], 4.0)
        assert bounds["held_out"] == 60  # a tenth of the quick training set, never the test set
    assert {r["model"]: r["paper_acc"] for r in a["summary"]} == {"logistic": 32, "mlp": 68, "cnn": 94}


def test_smith_one_cycle_shape():
    policy, momentum = exp_mnist1d.smith_one_cycle(0.5, 1000)
    assert math.isclose(policy(0), 0.05)             # max / 10
    assert math.isclose(policy(449), 0.5)            # the peak ends the 45 % rise (step pct*T - 1)
    assert math.isclose(policy(999), 0.5 / 1000)     # annihilated to max / 1000
    assert math.isclose(momentum(0), 0.95) and math.isclose(momentum(449), 0.85)


# ----------------------------------------------------------------------------- (b) optimizers

def test_optimizers_quick(tmp_path):
    out = tmp_path / "opt"
    payload = exp_optimizers.main(["--quick", "--out", str(out)])
    check_outputs(out, ["accuracy_curves.png", "range_tests.png"], [0])
    summary = {(r["optimizer"], r["policy"]) for r in payload["summary"]}
    # every optimizer either trained with find_bounds' bounds or is reported as refused, never patched
    trained, refused = {o for o, _ in summary}, set(payload["settings"]["find_bounds_refused"])
    assert trained | refused == set(exp_optimizers.OPTIMIZER_NAMES) and not trained & refused
    assert "nesterov" in trained
    assert summary == {(o, p) for o in trained for p in ("fixed", "triangular")}
    for name, bounds in payload["settings"]["bounds"].items():  # find_bounds' values, untouched
        assert bounds["method"] == "find_bounds" and math.isclose(bounds["max_lr"] / bounds["base_lr"], 4.0)
    for row in payload["runs"]:  # the fixed runs use the lower bound, as in the paper
        assert row["base_lr"] < row["max_lr"]
        assert row["base_lr"] == payload["settings"]["bounds"][row["optimizer"]]["base_lr"]
    assert payload["summary"][0]["paper_fixed_70k"] == 82.1


# ----------------------------------------------------------------------------- (d) one-cycle

def test_onecycle_quick(tmp_path):
    out = tmp_path / "oc"
    payload = exp_onecycle.main(["--quick", "--out", str(out)])
    check_outputs(out, ["accuracy_curves.png", "range_test.png"], [0])
    budgets = {(r["schedule"], r["budget"]) for r in payload["summary"]}
    assert budgets == {("fixed (tuned)", 40), ("multistep", 40), ("one_cycle", 40), ("one_cycle", 20),
                       ("one_cycle", 10)}
    s = payload["settings"]
    assert s["tuned_fixed_lr"] in s["fixed_grid"]
    assert s["max_lr"] == s["bounds"]["max_lr"] and s["bounds"]["method"] == "find_bounds"  # the peak, untouched
    assert {r["lr"] for r in payload["runs"] if r["schedule"] == "one_cycle"} == {s["max_lr"]}
    assert s["multistep"]["milestones"] == [25, 35]  # 62.5 % and 87.5 % of 40


# ----------------------------------------------------------------------------- (a) Table 1

def test_table1_policies_match_the_paper_rules():
    gamma = exp_table1.PAPER_GAMMA ** (exp_table1.PAPER_FIXED_ITERS / 1800)
    assert math.isclose(gamma ** 1800, 0.99994 ** 70000)  # the paper's total shrink over our budget
    base, top, step = 0.002, 0.008, 225
    policies = {n: exp_table1.make_policy(n, base, top, step, gamma) for n in exp_table1.POLICIES}
    assert policies["fixed"](1234) == base
    assert math.isclose(policies["triangular"](225), top) and math.isclose(policies["triangular"](450), base)
    assert math.isclose(policies["triangular2"](675), base + (top - base) / 2)  # 2nd peak, halved
    assert math.isclose(policies["exp"](0), top) and math.isclose(policies["exp"](100), top * gamma ** 100)
    assert math.isclose(policies["decay"](0), top) and math.isclose(policies["decay"](900), base)
    assert math.isclose(policies["exp_range"](225), base + (top - base) * gamma ** 225)


def test_caffe_preprocess_subtracts_the_training_mean_image():
    x_train = np.array([[[[0, 10]]], [[[4, 30]]]], dtype=np.uint8)  # (2, 1, 1, 2)
    x_test = np.array([[[[2, 20]]]], dtype=np.uint8)
    a, b, mean = exp_table1.caffe_preprocess(x_train, x_test)
    np.testing.assert_array_equal(mean, [[[2, 20]]])
    np.testing.assert_array_equal(b, [[[[0, 0]]]])
    assert a.dtype == np.float32 and a.max() == 10  # still on the 0..255 scale


def test_cached_run_reuses_only_matching_settings(tmp_path):
    calls = []

    def compute():
        calls.append(1)
        return {"value": len(calls)}

    path = tmp_path / "run.json"
    assert exp_table1.cached_run(path, {"a": 1}, compute)["value"] == 1
    assert exp_table1.cached_run(path, {"a": 1}, compute)["value"] == 1  # reused
    assert exp_table1.cached_run(path, {"a": 2}, compute)["value"] == 2  # other settings: recomputed
    assert exp_table1.cached_run(path, {"a": 2}, compute, force=True)["value"] == 3
    assert len(calls) == 3


def test_table1_quick_on_synthetic_fashion_mnist(tmp_path, fashion_root):
    out = tmp_path / "t1"
    argv = ["--quick", "--out", str(out), "--data-root", str(fashion_root), "--no-verify"]
    # random images and labels: clr.find_bounds sees no signal and the script stops with its reason,
    # instead of training between bounds read off noise
    with pytest.raises(SystemExit, match="find_bounds found no bounds: .*no usable signal.*--base-lr"):
        exp_table1.main(argv)
    assert not (out / "runs").exists()
    argv += ["--base-lr", "0.001", "--max-lr", "0.004"]  # bounds given: find_bounds is skipped
    payload = exp_table1.main(argv)
    check_outputs(out, ["accuracy_curves.png", "schedules.png"], [0])
    summary = {r["policy"]: r for r in payload["summary"]}
    assert set(summary) == set(exp_table1.POLICIES)
    fixed_final = summary["fixed"]["final_acc_mean"]
    for row in payload["runs"]:  # every policy is measured against the fixed run's final accuracy
        assert row["fixed_final_acc"] == fixed_final
        assert row["iterations_to_fixed_final"] is None or row["iterations_to_fixed_final"] <= row["iterations"]
    assert 0 <= summary["fixed"]["fraction_of_fixed_budget_mean"] <= 1.0  # fixed reaches itself by its end
    b = payload["settings"]["bounds"]
    assert math.isclose(b["max_lr"] / b["base_lr"], 4.0)
    saved = sorted(p.name for p in (out / "runs").iterdir())
    assert saved == sorted(f"{p}_seed0.json" for p in exp_table1.POLICIES)
    # a second run reuses the saved runs: identical numbers, files untouched
    mtimes = {p: p.stat().st_mtime_ns for p in (out / "runs").iterdir()}
    again = exp_table1.main(argv)
    assert again["runs"] == payload["runs"]
    assert mtimes == {p: p.stat().st_mtime_ns for p in (out / "runs").iterdir()}


# ----------------------------------------------------------------------------- (f) CIFAR-10, Caffe

def test_cifar10_schedules_are_the_papers():
    fixed, total = exp_cifar10_caffe.fixed_schedule()
    assert total == 70000
    assert [fixed(i) for i in (0, 59999)] == [0.001, 0.001]
    assert math.isclose(fixed(60000), 1e-4) and math.isclose(fixed(69999), 1e-5)
    tri2, total = exp_cifar10_caffe.triangular2_schedule()
    assert total == 25000 and tri2 == P.paper_cifar10_triangular2()
    assert math.isclose(tri2(2000), 0.005) and math.isclose(tri2(16000 + 1000), 0.0005)
    small, total = exp_cifar10_caffe.triangular2_schedule(0.001)
    assert total == 16 + 6 + 3
    assert [n for _, n in small.stages] == [16, 6, 3]
    assert [p.step_size for p, _ in small.stages] == [2, 1, 1]


def test_cifar10_quick_on_synthetic_archive(tmp_path, cifar_root):
    out = tmp_path / "c10"
    payload = exp_cifar10_caffe.main(["--quick", "--out", str(out), "--data-root", str(cifar_root), "--no-verify"])
    check_outputs(out, ["accuracy_curves.png"], [0])
    summary = {r["schedule"]: r for r in payload["summary"]}
    assert summary["fixed"]["iterations"] == 70 and summary["triangular2"]["iterations"] == 25
    for row in payload["runs"]:
        assert 0 <= row["final_acc"] <= 1
    history = json.loads((out / "runs" / "triangular2_seed0.json").read_text())["history"]
    assert math.isclose(max(history["steps"]["lr"]), 0.005)  # the first stage's peak


# ----------------------------------------------------------------------------- run_all.sh

def test_run_all_script_is_valid_bash():
    script = REPO / "experiments" / "run_all.sh"
    assert os.access(script, os.X_OK)
    subprocess.run(["bash", "-n", str(script)], check=True)
    text = script.read_text()
    for name in ("exp_saddle", "exp_mnist1d", "exp_onecycle", "exp_optimizers", "exp_table1"):
        assert name in text
