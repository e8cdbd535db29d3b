"""tinynet-clr demo: runs end to end (--quick), writes well-formed outputs, rejects bad options."""
import json
import math

import pytest

from clr.lab import cli, demo

from helpers import read_csv

PNGS = ("range_test.png", "schedules.png", "accuracy.png")
PNG_MAGIC = b"\x89PNG\r\n\x1a\n"


def run_cli(*argv):
    return cli.main(["demo", *argv])


@pytest.fixture(scope="module")
def quick_run(tmp_path_factory):
    out = tmp_path_factory.mktemp("demo")
    assert run_cli("--quick", "--out", str(out), "--seed", "3") == 0
    return out



def test_quick_demo_writes_every_output(quick_run):
    for name in (*PNGS, "results.csv", "results.json", "report.md"):
        assert (quick_run / name).stat().st_size > 0, name
    for name in PNGS:
        assert (quick_run / name).read_bytes()[:8] == PNG_MAGIC, name
    assert not [p.name for p in quick_run.iterdir() if p.name.startswith(".")]  # no temporary files left


def test_results_csv_has_a_row_per_policy(quick_run):
    columns, rows = read_csv(quick_run / "results.csv")
    assert tuple(columns) == demo.RESULT_COLUMNS
    assert [r["policy"] for r in rows] == list(demo.POLICIES)
    fixed = rows[0]
    assert fixed["final_test_acc"] == fixed["target_acc"]        # the target is fixed's final accuracy
    assert float(fixed["speedup_vs_fixed"]) == 1.0
    for r in rows:
        assert 0 <= float(r["final_test_acc"]) <= 1
        assert float(r["lr_min"]) <= float(r["lr_max"])
        assert int(r["iterations"]) == 40                         # --quick: 2 cycles of 2 x 10


def test_results_json_holds_settings_bounds_histories_and_metadata(quick_run):
    res = json.loads((quick_run / "results.json").read_text())
    for key in ("meta", "config", "data", "model", "budget", "bounds", "lr_settings", "schedules", "runs",
                "histories", "range_test", "range_probe", "total_time_s"):
        assert key in res, key
    assert res["meta"]["seed"] == 3 and res["config"]["seed"] == 3
    for key in ("command", "date_utc", "machine", "git_commit"):
        assert key in res["meta"]
    b = res["bounds"]
    assert 0 < b["base_lr"] < b["max_lr"] and b["method"] == "find_bounds" and b["explanation"]
    assert math.isclose(b["max_lr"] / b["base_lr"], 4)                # find_bounds' base_ratio, untouched
    assert b["details"]["iterations"] <= 200 + 100 * 3                # --quick's budget, plus any halvings
    assert res["range_test"]["settings"]["step_mode"] == "linear"   # the paper's test
    assert res["range_probe"]["settings"]["step_mode"] == "exp"
    assert res["model"] == {"name": "cnn", "parameters": 5210}
    assert set(res["histories"]) == set(demo.POLICIES)
    for h in res["histories"].values():
        assert h["iteration"][0] == 0 and h["iteration"][-1] == 40
        assert len(h["test_acc"]) == len(h["iteration"]) == len(h["lr"])
    sched = res["schedules"]
    assert sched["triangular"]["lr"]["type"] == "triangular" and sched["triangular"]["momentum"] == 0.9
    assert sched["one_cycle"]["momentum"]["type"] == "one_cycle_momentum"
    # the fixed lr is the midpoint of the bounds; exp_range keeps a tenth of its amplitude at the end
    assert math.isclose(res["lr_settings"]["fixed_lr"], (b["base_lr"] + b["max_lr"]) / 2)
    assert math.isclose(res["lr_settings"]["gamma"] ** 40, 0.1)


def test_report_has_a_table_row_per_policy_and_the_run_details(quick_run):
    text = (quick_run / "report.md").read_text()
    rows = [line for line in text.splitlines() if line.startswith("| ") and not line.startswith("| policy")]
    assert [r.split("|")[1].strip() for r in rows] == list(demo.POLICIES)
    assert all(len(r.split("|")) == 8 for r in rows)  # 6 columns
    for needle in ("base_lr =", "max_lr =", "Seed 3", "date (UTC)", "Machine:", "Command:", *PNGS):
        assert needle in text, needle


def test_same_seed_same_results(quick_run, tmp_path):
    assert run_cli("--quick", "--out", str(tmp_path), "--seed", "3", "--no-plots") == 0
    _, a = read_csv(quick_run / "results.csv")
    _, b = read_csv(tmp_path / "results.csv")
    for ra, rb in zip(a, b):
        ra.pop("time_s"), rb.pop("time_s")
        assert ra == rb


def test_policy_subset_without_matplotlib(tmp_path, monkeypatch, capsys):
    monkeypatch.setattr(demo, "matplotlib_available", lambda: False)
    assert run_cli("--quick", "--out", str(tmp_path), "--policies", "triangular,fixed") == 0
    err = capsys.readouterr().err
    assert "matplotlib is not installed: skipping the plots" in err
    assert not [p for p in PNGS if (tmp_path / p).exists()]
    _, rows = read_csv(tmp_path / "results.csv")
    assert [r["policy"] for r in rows] == ["fixed", "triangular"]   # fixed first: it sets the target
    assert "png" not in (tmp_path / "report.md").read_text()


@pytest.mark.parametrize("argv, message", [
    (["--dataset", "imagenet"], "invalid choice"),
    (["--model", "resnet"], "invalid choice"),
    (["--policies", "triangular,cosine"], "unknown policy cosine"),
    (["--iterations", "0"], "positive integer"),
    (["--seed", "-1"], "non-negative integer"),
    (["--fixed-lr", "fast"], "positive number"),
    (["--momentum", "1.5"], "in [0, 1)"),
    (["--device", "tpu"], "invalid choice"),
    (["--range-iterations", "1"], "at least 100"),
    (["--model", "cnn", "--dataset", "fashion-mnist"], "does not suit dataset"),
])
def test_bad_options_exit_with_a_clear_message(argv, message, capsys, tmp_path):
    with pytest.raises(SystemExit) as info:
        run_cli("--quick", "--out", str(tmp_path), *argv)
    assert info.value.code == 2
    assert message in capsys.readouterr().err


def test_help_explains_every_option(capsys):
    with pytest.raises(SystemExit) as info:
        run_cli("--help")
    assert info.value.code == 0
    text = capsys.readouterr().out
    for option in ("--dataset", "--model", "--iterations", "--device", "--seed", "--out", "--quick",
                   "--policies", "--fixed-lr", "--range-iterations", "--step-epochs"):
        assert option in text, option


@pytest.mark.parametrize("iterations, step, expected, noted", [
    (None, 160, 8 * 320, False),      # default: 8 cycles of 4 epochs (40 iterations per epoch)
    (1000, 160, 960, True),           # rounded down to 3 whole cycles of 320
    (960, 160, 960, False),
    (100, 50, 100, False),            # shorter than one default cycle: one cycle of the whole budget
])
def test_budget_is_a_whole_number_of_cycles(iterations, step, expected, noted):
    budget = demo.make_budget(demo.DemoConfig(iterations=iterations), n_train=4000)
    assert budget.iterations == expected and budget.step_size == step
    assert budget.iterations % (2 * budget.step_size) == 0
    assert budget.range_iterations == max(200, expected // 4)          # find_bounds: a quarter of one training
    assert bool(budget.notes) == noted


def test_cuda_without_a_gpu_is_a_clear_error(capsys, tmp_path):
    from tinynet import backend
    if backend.cuda_available():
        pytest.skip("this machine has a GPU")
    with pytest.raises(SystemExit) as info:
        run_cli("--quick", "--out", str(tmp_path), "--device", "cuda")
    assert info.value.code == 2
    assert "--device='cuda' was requested but" in capsys.readouterr().err


# ----------------------------------------------------------------------------- the output folder

def test_an_existing_file_as_out_is_refused_before_any_work(tmp_path, capsys, monkeypatch):
    target = tmp_path / "results"
    target.write_text("not a folder")
    monkeypatch.setattr(demo, "load_data", lambda *a: pytest.fail("work started before --out was checked"))
    with pytest.raises(SystemExit) as info:
        run_cli("--quick", "--out", str(target))
    assert info.value.code == 2
    assert "--out" in capsys.readouterr().err and target.read_text() == "not a folder"


def test_an_unwritable_out_is_refused_before_any_work(tmp_path, capsys, monkeypatch):
    import os
    if os.geteuid() == 0:  # root writes anywhere: make the parent a file instead
        (tmp_path / "file").write_text("x")
        out = tmp_path / "file" / "out"
    else:
        locked = tmp_path / "locked"
        locked.mkdir(mode=0o500)
        out = locked / "out"
    monkeypatch.setattr(demo, "load_data", lambda *a: pytest.fail("work started before --out was checked"))
    with pytest.raises(SystemExit) as info:
        run_cli("--quick", "--out", str(out))
    assert info.value.code == 2 and "--out" in capsys.readouterr().err


def test_a_folder_with_foreign_files_is_not_replaced(tmp_path, capsys):
    (tmp_path / "thesis.tex").write_text("precious")
    with pytest.raises(SystemExit):
        run_cli("--quick", "--out", str(tmp_path), "--no-plots")
    assert "thesis.tex" in capsys.readouterr().err
    assert (tmp_path / "thesis.tex").read_text() == "precious"


def test_ctrl_c_while_writing_keeps_the_previous_run_whole(quick_run, tmp_path, monkeypatch):
    import shutil
    out = tmp_path / "out"
    shutil.copytree(quick_run, out)
    before = {p.name: p.read_bytes() for p in out.iterdir()}

    def interrupted(*args, **kwargs):
        raise KeyboardInterrupt
    monkeypatch.setattr(demo.records, "write_json", interrupted)   # after the plots, before the JSON
    with pytest.raises(SystemExit) as info:
        run_cli("--quick", "--out", str(out), "--seed", "5")
    assert info.value.code == 130
    assert {p.name: p.read_bytes() for p in out.iterdir()} == before   # the old run, whole
    assert [p.name for p in tmp_path.iterdir()] == ["out"]           # no staging folder left behind


def test_a_rerun_replaces_the_previous_run_as_a_whole(tmp_path):
    out = tmp_path / "out"
    assert run_cli("--quick", "--out", str(out), "--seed", "3") == 0
    assert run_cli("--quick", "--out", str(out), "--seed", "4", "--no-plots") == 0
    assert sorted(p.name for p in out.iterdir()) == ["report.md", "results.csv", "results.json"]  # no old PNGs
    assert json.loads((out / "results.json").read_text())["meta"]["seed"] == 4
    assert [p.name for p in tmp_path.iterdir()] == ["out"]


def test_download_without_network_is_one_line(tmp_path, capsys, monkeypatch):
    from tinynet import data as tdata

    def offline(*args, **kwargs):
        raise ConnectionError("could not download train-images-idx3-ubyte.gz; nothing was saved")
    monkeypatch.setattr(tdata, "load_mnist", offline)
    with pytest.raises(SystemExit) as info:
        run_cli("--quick", "--out", str(tmp_path / "o"), "--dataset", "mnist", "--model", "mlp", "--download")
    err = capsys.readouterr().err
    assert info.value.code == 2 and "--download" in err and "Traceback" not in err


def test_a_flat_range_test_is_refused_in_one_line(tmp_path, capsys):
    """--range-end 1e-12: every lr is too small to move the loss; no bounds are read off noise."""
    with pytest.raises(SystemExit) as info:
        run_cli("--quick", "--out", str(tmp_path / "o"), "--range-end", "1e-12", "--no-plots")
    err = capsys.readouterr().err
    assert info.value.code == 2 and "no CLR bounds" in err and "--range-end" in err and "Traceback" not in err
    assert not (tmp_path / "o").exists()                                # nothing half-written
