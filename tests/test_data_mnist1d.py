"""MNIST-1D: the embedded default copy, its checksum, and regeneration with the mnist1d package."""
import random
import sys

import numpy as np
import pytest

from tinynet.data import load_mnist1d
from tinynet.data import mnist1d as m1d


@pytest.fixture(scope="module")
def embedded():
    return load_mnist1d()


def test_embedded_shapes_and_types(embedded):
    assert embedded.x_train.shape == (4000, 40) and embedded.x_test.shape == (1000, 40)
    assert embedded.x_train.dtype == np.float32 and embedded.y_train.dtype == np.int64
    assert embedded.y_test.shape == (1000,)
    assert embedded.classes == tuple("0123456789") and embedded.name == "MNIST-1D"


def test_embedded_has_500_per_class_and_is_standardised(embedded):
    y = np.concatenate([embedded.y_train, embedded.y_test])
    assert np.bincount(y).tolist() == [500] * 10
    x = np.concatenate([embedded.x_train, embedded.x_test]).astype(np.float64)
    assert abs(x.mean()) < 1e-6 and abs(x.std() - 1) < 1e-6  # standardised over all 5000 samples
    assert set(np.unique(embedded.y_train)) == set(range(10))


def test_embedded_file_is_small_and_hash_is_of_contents():
    assert m1d.EMBEDDED.stat().st_size < 1_000_000
    with np.load(m1d.EMBEDDED) as f:
        assert m1d.content_sha256({k: f[k] for k in m1d.KEYS}) == m1d.EMBEDDED_SHA256


def test_default_arguments_need_no_mnist1d_package(monkeypatch, embedded):
    monkeypatch.setitem(sys.modules, "mnist1d", None)  # importing it now fails
    monkeypatch.setitem(sys.modules, "mnist1d.data", None)
    split = load_mnist1d(seed=42, padding=(36, 60))    # the defaults, spelled out
    np.testing.assert_array_equal(split.x_train, embedded.x_train)
    with pytest.raises(ImportError, match="pip install mnist1d"):
        load_mnist1d(seed=1)


def test_tampered_copy_is_rejected(tmp_path):
    bad = tmp_path / "mnist1d_default.npz"
    with np.load(m1d.EMBEDDED) as f:
        arrays = {k: f[k] for k in m1d.KEYS}
    arrays["x_test"][3, 7] += 1e-3
    np.savez_compressed(bad, **arrays)
    with pytest.raises(ValueError, match="content sha256") as info:
        m1d.load_embedded(bad)
    assert str(bad) in str(info.value) and "make_embedded_mnist1d.py" in str(info.value)


@pytest.mark.parametrize("content, error", [(None, FileNotFoundError), (b"PK\x03\x04 broken", ValueError)])
def test_missing_or_unreadable_copy(tmp_path, content, error):
    path = tmp_path / "copy.npz"
    if content is not None:
        path.write_bytes(content)
    with pytest.raises(error, match="make_embedded_mnist1d.py"):
        m1d.load_embedded(path)


def test_unknown_argument():
    with pytest.raises(TypeError, match="unknown argument.*'num_sample'"):
        load_mnist1d(num_sample=10)


@pytest.fixture(scope="module")
def regenerated():
    pytest.importorskip("mnist1d")
    return load_mnist1d(regenerate=True)


def test_regeneration_equals_the_embedded_copy_exactly(embedded, regenerated):
    for key in m1d.KEYS:
        np.testing.assert_array_equal(getattr(regenerated, key), getattr(embedded, key), err_msg=key)


def test_other_arguments_regenerate_and_leave_global_rngs_alone():
    pytest.importorskip("mnist1d")
    np.random.seed(123)
    random.seed(123)
    expected_np, expected_py = np.random.random(), random.random()
    np.random.seed(123)
    random.seed(123)
    small = load_mnist1d(num_samples=200, seed=7)
    assert (np.random.random(), random.random()) == (expected_np, expected_py)
    assert small.x_train.shape == (160, 40) and small.x_test.shape == (40, 40)
    assert np.bincount(np.concatenate([small.y_train, small.y_test])).tolist() == [20] * 10
    again = load_mnist1d(num_samples=200, seed=7)
    np.testing.assert_array_equal(small.x_test, again.x_test)


def test_make_embedded_script_reproduces_the_shipped_copy(tmp_path, capsys, monkeypatch, regenerated):
    monkeypatch.setattr(m1d, "generate_mnist1d", lambda **settings: regenerated)  # generate once
    import make_embedded_mnist1d as script  # experiments/ is on pytest's pythonpath
    out = tmp_path / "copy.npz"
    assert script.main(["--out", str(out)]) == 0
    assert "matches EMBEDDED_SHA256" in capsys.readouterr().out
    np.testing.assert_array_equal(m1d.load_embedded(out).x_train, load_mnist1d().x_train)
