"""tinynet.save / tinynet.load: exact round trips, nested optimizer state, atomic writes, bad files,
and hostile files (bombs, lying headers, FIFOs, deep nesting) refused before anything is allocated."""
import io
import json
import os
import threading
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
    model[1](model[0](Tensor(rng.standard_normal((3, 1, 2, 2)).astype(np.float32))))  # move the running stats
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


@pytest.mark.parametrize("array", [
    np.asfortranarray(np.arange(6.0).reshape(2, 3)),
    np.arange(3, dtype=">i4"),
    np.zeros((0, 3), np.float32),
    np.array([[True, False]]),
    np.arange(40_000_000 // 8, dtype=np.float64),  # more than one read chunk
])
def test_array_layouts_round_trip(tmp_path, array):
    tn.save({"a": array}, tmp_path / "a.npz")
    out = tn.load(tmp_path / "a.npz")["a"]
    assert out.dtype == array.dtype and out.shape == array.shape and out.flags.writeable
    np.testing.assert_array_equal(out, array)


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
    (_missing_array, "refers to array a0, which the archive does not hold"),
])
def test_load_corrupt_file_raises_value_error_with_path(tmp_path, corrupt, match):
    path = tmp_path / "bad.npz"
    tn.save({"w": np.arange(1000.0)}, path)
    corrupt(path)
    with pytest.raises(ValueError, match=match) as err:
        tn.load(path)
    assert str(path) in str(err.value)


# --- hostile files: every size is checked before it is allocated --------------------------------

def npy_bytes(array=None, header=None):
    """The .npy bytes of ``array``, or a bare header dict followed by no data."""
    f = io.BytesIO()
    if header is None:
        np.lib.format.write_array(f, np.asarray(array), allow_pickle=True)
    else:
        np.lib.format.write_array_header_1_0(f, header)
    return f.getvalue()


def write_crafted(path, tree, members, compression=zipfile.ZIP_STORED):
    """An archive with tinynet's metadata for ``tree`` and the given raw members (name -> bytes)."""
    meta = json.dumps({"format": "tinynet-state", "version": 1, "tree": tree}).encode()
    with zipfile.ZipFile(path, "w", compression=compression) as z:
        z.writestr("__tinynet__.npy", npy_bytes(np.frombuffer(meta, np.uint8)))
        for name, data in members.items():
            z.writestr(name, data)
    return path


def nested(depth):
    """A tree node of lists ``depth`` levels deep."""
    node = {"value": 1}
    for _ in range(depth):
        node = {"list": [node]}
    return node


def test_a_zip_bomb_is_refused_before_inflating(tmp_path):
    """4 MiB of zeros deflate to a few kB; by default a file may not unpack to more than its size."""
    big = np.zeros(1 << 20, dtype=np.float32)
    path = write_crafted(tmp_path / "bomb.npz", {"dict": [["w", {"array": 0}]]}, {"a0.npy": npy_bytes(big)},
                         compression=zipfile.ZIP_DEFLATED)
    assert path.stat().st_size < 20_000
    with pytest.raises(ValueError, match=r"unpack to \d+ bytes, more than max_bytes=\d+ \(the size of the file\)"
                       ) as err:
        tn.load(path)
    assert str(path) in str(err.value)
    with pytest.raises(ValueError, match="more than max_bytes=4000000;"):
        tn.load(path, max_bytes=4_000_000)
    np.testing.assert_array_equal(tn.load(path, max_bytes=5 << 20)["w"], big)  # trusted: the caller raises it


@pytest.mark.parametrize("member, match", [
    # a header declaring 4 TiB in a 100-byte member: np.load would try to allocate it
    (npy_bytes(header={"descr": "<f4", "fortran_order": False, "shape": (1 << 40,)}),
     r"declares shape \(1099511627776,\) of float32 \(4398046511104 bytes\) but the member holds 0"),
    (npy_bytes(np.arange(4.0))[:-8], r"declares shape \(4,\) of float64 \(32 bytes\) but the member holds 24"),
    (npy_bytes(np.arange(4.0)) + b"x", "member holds 33"),
    (npy_bytes(np.array([None, 1], dtype=object)), "holds Python objects"),
    (b"not an npy file at all", "the magic string is not correct"),
])
def test_lying_array_headers_are_refused_before_allocation(tmp_path, member, match):
    path = write_crafted(tmp_path / "bad.npz", {"dict": [["w", {"array": 0}]]}, {"a0.npy": member})
    with pytest.raises(ValueError, match=match) as err:
        tn.load(path)
    assert str(path) in str(err.value)


@pytest.mark.parametrize("tree, match", [
    (nested(100), "nested more than 64 levels"),
    ({"dict": [["a", {"array": 0}], ["b", {"array": 0}]]}, "refers to array a0 twice"),
    ({"array": -1}, "refers to array -1"),
    ({"array": "a0"}, "refers to array 'a0'"),
    ({"dict": [[None, {"value": 1}]]}, "expected \\[str or int key, node\\]"),
    ({"value": {"x": 1}}, "expected a JSON scalar"),
    ({"pickle": "x"}, "unknown node"),
    ([1, 2], "not a one-entry object"),
])
def test_malformed_trees_are_refused(tmp_path, tree, match):
    path = write_crafted(tmp_path / "bad.npz", tree, {"a0.npy": npy_bytes(np.arange(3))})
    with pytest.raises(ValueError, match=match) as err:
        tn.load(path)
    assert str(path) in str(err.value)


def test_metadata_nested_100000_deep_is_a_value_error(tmp_path):
    """json's parser recurses per level: RecursionError must not escape."""
    depth = 100_000
    tree = '{"list": [' * depth + '{"value": 1}' + "]}" * depth
    meta = ('{"format": "tinynet-state", "version": 1, "tree": ' + tree + "}").encode()
    with zipfile.ZipFile(tmp_path / "deep.npz", "w") as z:
        z.writestr("__tinynet__.npy", npy_bytes(np.frombuffer(meta, np.uint8)))
    with pytest.raises(ValueError, match="nested more than the parser's recursion limit") as err:
        tn.load(tmp_path / "deep.npz")
    assert "deep.npz" in str(err.value)


def test_save_refuses_what_load_would_refuse(tmp_path):
    state = {"x": 1}
    for _ in range(70):
        state = {"x": state}
    with pytest.raises(ValueError, match="nested more than 64 levels"):
        tn.save(state, tmp_path / "deep.npz")
    assert os.listdir(tmp_path) == []
    ok = {"x": 1}
    for _ in range(60):
        ok = {"x": ok}
    tn.save(ok, tmp_path / "ok.npz")
    assert tn.load(tmp_path / "ok.npz") == ok


@pytest.mark.skipif(not hasattr(os, "mkfifo"), reason="needs POSIX FIFOs")
def test_a_fifo_is_refused_without_blocking(tmp_path):
    fifo = tmp_path / "state.npz"
    os.mkfifo(fifo)

    def unblock():  # if load ever blocks on the FIFO again, feed it EOF so the test fails instead of hanging
        try:
            os.close(os.open(fifo, os.O_WRONLY | os.O_NONBLOCK))
        except OSError:  # nobody is reading: load did not block
            pass
    watchdog = threading.Timer(10, unblock)
    watchdog.start()
    try:
        with pytest.raises(ValueError, match=r"is a FIFO \(named pipe\), not a regular file") as err:
            tn.load(fifo)
    finally:
        watchdog.cancel()
    assert str(fifo) in str(err.value)


def test_a_directory_is_a_value_error(tmp_path):
    with pytest.raises(ValueError, match="is a directory, not a regular file"):
        tn.load(tmp_path)


@pytest.mark.parametrize("max_bytes", [-1, 1.5, True, "1"])
def test_max_bytes_must_be_a_non_negative_int(tmp_path, max_bytes):
    with pytest.raises(TypeError, match="max_bytes must be a non-negative int"):
        tn.load(tmp_path / "x.npz", max_bytes=max_bytes)
