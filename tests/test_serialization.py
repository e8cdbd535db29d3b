"""tinynet.save / tinynet.load: exact round trips, nested optimizer state, atomic writes, bad files."""
import os
import zipfile

import numpy as np
import pytest

import tinynet as tn
from tinynet import Tensor, nn, serialization


def small_model():
    return nn.Sequential(nn.Conv2d(1, 2, 3, padding=1, rng=0), nn.BatchNorm2d(2), nn.ReLU(), nn.Flatten(),
                         nn.Linear(8, 3, rng=1, dtype=np.float64))


def assert_same_state(a, b):
    assert list(a) == list(b)
    for k in a:
        assert type(a[k]) is type(b[k]) and a[k].dtype == b[k].dtype and a[k].shape == b[k].shape, k
        np.testing.assert_array_equal(a[k], b[k])


def test_model_state_round_trips_exactly(tmp_path, rng):
    model = small_model()
    model(Tensor(rng.standard_normal((3, 1, 2, 2)).astype(np.float32)))  # move the running stats
    state = model.state_dict()
    path = tmp_path / "model.npz"
    assert tn.save(state, path) is None
    loaded = tn.load(path)
    assert_same_state(state, loaded)
    assert loaded["1.num_batches_tracked"].dtype == np.int64 and loaded["4.weight"].dtype == np.float64

    fresh = small_model()
    fresh.load_state_dict(loaded)
    assert_same_state(fresh.state_dict(), state)
    assert os.listdir(tmp_path) == ["model.npz"]  # no temporary file left behind
    with np.load(path) as f:  # a plain .npz that numpy reads without tinynet
        assert "__tinynet__" in f.files


def test_nested_state_round_trips_with_python_types(tmp_path):
    state = {
        "state": {0: {"step": 3, "momentum_buffer": np.arange(4, dtype=np.float32)}, 2: {"step": 3}},
        "param_groups": [{"lr": 0.1, "betas": (0.9, 0.999), "nesterov": False, "name": None, "params": [0, 1, 2]}],
        "scalar": np.float32(2.5),
        "tensor": Tensor(np.ones((2, 2))),
        "nan": float("nan"),
        "text": "héllo",
        "strings": np.array(["a", "bc"]),
    }
    tn.save(state, str(tmp_path / "opt.npz"))
    out = tn.load(tmp_path / "opt.npz")
    assert list(out) == list(state) and list(out["state"]) == [0, 2]  # int keys stay ints, order kept
    assert out["state"][0]["step"] == 3 and type(out["state"][0]["step"]) is int
    np.testing.assert_array_equal(out["state"][0]["momentum_buffer"], np.arange(4, dtype=np.float32))
    assert out["state"][0]["momentum_buffer"].dtype == np.float32
    assert out["param_groups"] == [{"lr": 0.1, "betas": (0.9, 0.999), "nesterov": False, "name": None,
                                    "params": [0, 1, 2]}]
    assert type(out["scalar"]) is np.float32 and out["scalar"] == 2.5
    np.testing.assert_array_equal(out["tensor"], np.ones((2, 2)))
    assert np.isnan(out["nan"]) and out["text"] == "héllo"
    np.testing.assert_array_equal(out["strings"], ["a", "bc"])


def test_optimizer_checkpoint_round_trips(tmp_path, rng):
    model = nn.Linear(3, 2, rng=0)
    opt = tn.optim.SGD(model.parameters(), lr=0.1, momentum=0.9)
    tn.functional.mse_loss(model(Tensor(rng.standard_normal((4, 3)).astype(np.float32))),
                           Tensor(np.zeros((4, 2), np.float32))).backward()
    opt.step()
    tn.save({"model": model.state_dict(), "optimizer": opt.state_dict()}, tmp_path / "ckpt.npz")
    ckpt = tn.load(tmp_path / "ckpt.npz")
    opt2 = tn.optim.SGD(nn.Linear(3, 2, rng=1).parameters(), lr=0.5)
    opt2.load_state_dict(ckpt["optimizer"])
    saved, restored = opt.state_dict(), opt2.state_dict()
    assert restored["param_groups"] == saved["param_groups"]
    for pos in saved["state"]:
        for k, v in saved["state"][pos].items():
            np.testing.assert_array_equal(restored["state"][pos][k], v)


def test_save_replaces_an_existing_file(tmp_path):
    path = tmp_path / "m.npz"
    tn.save({"w": np.zeros(2)}, path)
    tn.save({"w": np.ones(3)}, path)
    np.testing.assert_array_equal(tn.load(path)["w"], np.ones(3))
    assert os.listdir(tmp_path) == ["m.npz"]


@pytest.mark.parametrize("failing", ["savez", "replace"])
def test_failed_write_leaves_nothing_behind(tmp_path, monkeypatch, failing):
    path = tmp_path / "m.npz"
    tn.save({"w": np.zeros(2)}, path)
    before = path.read_bytes()

    def boom(*args, **kwargs):
        if failing == "savez":
            args[0].write(b"half a file")  # the failure comes after part of the data is written
        raise OSError("disk full")

    if failing == "savez":
        monkeypatch.setattr(serialization.np, "savez", boom)
    else:
        monkeypatch.setattr(serialization.os, "replace", boom)
    with pytest.raises(OSError, match="disk full"):
        tn.save({"w": np.ones(5)}, path)
    assert os.listdir(tmp_path) == ["m.npz"]
    assert path.read_bytes() == before


def test_unsaveable_values_raise_before_anything_is_written(tmp_path):
    with pytest.raises(TypeError, match=r"state\['opt'\]\['fn'\] is a function"):
        tn.save({"opt": {"fn": lambda: 0}}, tmp_path / "x.npz")
    with pytest.raises(TypeError, match="array of Python objects"):
        tn.save({"a": np.array([1, "x", None], dtype=object)}, tmp_path / "x.npz")
    with pytest.raises(TypeError, match="keys must be str or int"):
        tn.save({(1, 2): np.zeros(1)}, tmp_path / "x.npz")
    with pytest.raises(TypeError, match="state must be a dict"):
        tn.save([np.zeros(1)], tmp_path / "x.npz")
    with pytest.raises(FileNotFoundError, match="does not exist"):
        tn.save({"a": np.zeros(1)}, tmp_path / "no_such_dir" / "x.npz")
    assert os.listdir(tmp_path) == []


def test_load_missing_file(tmp_path):
    path = tmp_path / "absent.npz"
    with pytest.raises(FileNotFoundError, match="absent.npz"):
        tn.load(path)


def _truncated(path):
    data = path.read_bytes()
    path.write_bytes(data[: len(data) // 2])


def _garbage(path):
    path.write_bytes(b"this is not a zip file at all")


def _plain_npz(path):
    with open(path, "wb") as f:
        np.savez(f, w=np.zeros(2))


def _npy(path):
    with open(path, "wb") as f:
        np.save(f, np.zeros(2))


def _bad_json(path):
    with open(path, "wb") as f:
        np.savez(f, __tinynet__=np.frombuffer(b"{not json", dtype=np.uint8))


def _missing_array(path):
    with zipfile.ZipFile(path) as z:
        members = {n: z.read(n) for n in z.namelist() if n != "a0.npy"}
    with zipfile.ZipFile(path, "w") as z:
        for n, data in members.items():
            z.writestr(n, data)


@pytest.mark.parametrize("corrupt, match", [
    (_truncated, "not a readable tinynet state file"),
    (_garbage, "not a readable tinynet state file"),
    (_plain_npz, "not written by tinynet.save"),
    (_npy, "single .npy array"),
    (_bad_json, "JSONDecodeError"),
    (_missing_array, "KeyError"),
])
def test_load_corrupt_file_raises_value_error_with_path(tmp_path, corrupt, match):
    path = tmp_path / "bad.npz"
    tn.save({"w": np.arange(1000.0)}, path)
    corrupt(path)
    with pytest.raises(ValueError, match=match) as err:
        tn.load(path)
    assert str(path) in str(err.value)
