"""CIFAR-10 on small archives written here in the official format (pickled dicts in a tar.gz)."""
import hashlib
import io
import os
import pickle
import tarfile

import numpy as np
import pytest

from tinynet.data import cifar, load_cifar10

PER_BATCH = 3
NAMES = [*cifar.TRAIN_BATCHES, "test_batch"]


def batch(index, n=PER_BATCH):
    """A batch dict as in the official files: bytes keys, (n, 3072) uint8 data, a list of labels."""
    data = np.zeros((n, 3072), dtype=np.uint8)
    for i in range(n):
        data[i, :1024] = 10 * index + i           # R plane
        data[i, 1024:2048] = 100 + i              # G plane
        data[i, 2048:] = np.arange(1024) % 251    # B plane: value = position in the 32x32 image
    return {b"batch_label": f"batch {index}".encode(), b"labels": [(index + i) % 10 for i in range(n)],
            b"data": data, b"filenames": [f"img_{index}_{i}.png".encode() for i in range(n)]}


def meta():
    return {b"label_names": [c.encode() for c in cifar.CLASSES], b"num_vis": 3072,
            b"num_cases_per_batch": PER_BATCH}


def members(overrides=None):
    """name -> pickled bytes of the archive's files (protocol 2, as the official Python 2 pickles)."""
    files = {name: pickle.dumps(batch(i), protocol=2) for i, name in enumerate(NAMES)}
    files["batches.meta"] = pickle.dumps(meta(), protocol=2)
    files.update(overrides or {})
    return files


def write_archive(path, files):
    with tarfile.open(path, "w:gz") as tar:
        for name, data in files.items():
            info = tarfile.TarInfo(f"{cifar.FOLDER}/{name}")
            info.size = len(data)
            tar.addfile(info, io.BytesIO(data))
    return path


def write_folder(root, files):
    folder = root / cifar.FOLDER
    folder.mkdir(parents=True)
    for name, data in files.items():
        (folder / name).write_bytes(data)
    return folder


@pytest.fixture
def isolated(isolated):
    """The shared network-free fixture (conftest.py), plus an explicit root folder for the archive."""
    root = isolated / "root"
    root.mkdir()
    return root


def check_layout(split):
    assert split.x_train.shape == (5 * PER_BATCH, 3, 32, 32) and split.x_train.dtype == np.uint8
    assert split.x_test.shape == (PER_BATCH, 3, 32, 32)
    assert split.y_train.dtype == np.int64
    assert split.y_train.tolist() == [(b + i) % 10 for b in range(5) for i in range(PER_BATCH)]
    assert split.y_test.tolist() == [5, 6, 7]
    # batch 2, image 1: R = 21 everywhere, G = 101, B = row-major position in the image
    img = split.x_train[2 * PER_BATCH + 1]
    assert (img[0] == 21).all() and (img[1] == 101).all()
    assert img[2, 0, 5] == 5 and img[2, 1, 0] == 32 and img[2, 7, 30] == (7 * 32 + 30) % 251
    assert split.classes == cifar.CLASSES


def test_archive_loads_with_verify_false(isolated):
    write_archive(isolated / cifar.ARCHIVE, members())
    check_layout(load_cifar10(root=isolated, verify=False))


def test_extracted_folder_loads_with_verify_false(isolated):
    write_folder(isolated, members())
    check_layout(load_cifar10(root=isolated, verify=False))


def test_checksums_are_checked_by_default(isolated):
    path = write_archive(isolated / cifar.ARCHIVE, members())
    with pytest.raises(ValueError, match=f"md5 of the archive is .*expected {cifar.ARCHIVE_MD5}") as info:
        load_cifar10(root=isolated)
    assert str(path) in str(info.value) and "verify=False" in str(info.value)


def test_batch_checksums_in_an_extracted_folder(isolated):
    folder = write_folder(isolated, members())
    with pytest.raises(ValueError, match=cifar.BATCH_MD5["data_batch_1"]) as info:
        load_cifar10(root=isolated)
    assert str(folder / "data_batch_1") in str(info.value)


def test_download_with_the_archive_md5(isolated, monkeypatch, tmp_path):
    server = tmp_path / "server"
    server.mkdir()
    path = write_archive(server / cifar.ARCHIVE, members())
    monkeypatch.setattr(cifar, "MIRRORS", (server.as_uri() + "/",))
    monkeypatch.setattr(cifar, "ARCHIVE_MD5", hashlib.md5(path.read_bytes()).hexdigest())
    monkeypatch.setattr(cifar, "BATCH_MD5", {})  # unused for archives
    split = load_cifar10(download=True)
    assert (tmp_path / "data" / "cifar-10" / cifar.ARCHIVE).is_file()
    assert split.x_train.shape == (15, 3, 32, 32)


def test_missing_everything_is_a_file_not_found_error(isolated):
    with pytest.raises(FileNotFoundError, match="cifar-10-python.tar.gz") as info:
        load_cifar10(root=isolated)
    assert str(isolated) in str(info.value) and "download=True" in str(info.value)


class Evil:
    def __reduce__(self):
        return (os.system, ("echo pwned",))


@pytest.mark.parametrize("name, payload, match", [
    ("data_batch_3", pickle.dumps([1, 2, 3], protocol=2), "expected a dict with keys"),
    ("data_batch_3", pickle.dumps({b"data": batch(0)[b"data"]}, protocol=2), "expected a dict with keys"),
    ("test_batch", pickle.dumps({**batch(0), b"data": np.zeros((3, 3072), np.float32)}, protocol=2),
     r"uint8 array of shape \(N, 3072\), got float32"),
    ("test_batch", pickle.dumps({**batch(0), b"data": np.zeros((3, 3000), np.uint8)}, protocol=2),
     r"got uint8 \(3, 3000\)"),
    ("data_batch_1", pickle.dumps({**batch(0), b"labels": [1, 2]}, protocol=2), "3 images but b'labels'"),
    ("data_batch_1", pickle.dumps({**batch(0), b"labels": [1, 2, 10]}, protocol=2), "labels must be in 0..9"),
    ("data_batch_1", pickle.dumps({**batch(0), b"labels": ["a", "b", "c"]}, protocol=2), "list of ints"),
    ("data_batch_2", pickle.dumps(Evil(), protocol=2), "system is not allowed"),
    ("data_batch_2", pickle.dumps(batch(0), protocol=2)[:-40], "not a valid CIFAR-10 batch pickle"),
    ("batches.meta", pickle.dumps({b"label_names": ["cat"]}, protocol=2), "list of 10 byte strings"),
])
@pytest.mark.parametrize("form", ["archive", "folder"])
def test_corrupt_members_are_named(isolated, form, name, payload, match):
    files = members({name: payload})
    if form == "archive":
        write_archive(isolated / cifar.ARCHIVE, files)
    else:
        write_folder(isolated, files)
    with pytest.raises(ValueError, match=match) as info:
        load_cifar10(root=isolated, verify=False)
    assert name in str(info.value)


def test_truncated_archive(isolated):
    path = write_archive(isolated / cifar.ARCHIVE, members())
    path.write_bytes(path.read_bytes()[: path.stat().st_size // 2])
    with pytest.raises(ValueError, match="damaged archive") as info:
        load_cifar10(root=isolated, verify=False)
    assert str(path) in str(info.value)


def test_archive_missing_a_batch(isolated):
    files = members()
    del files["data_batch_4"]
    write_archive(isolated / cifar.ARCHIVE, files)
    with pytest.raises(ValueError, match="has no cifar-10-batches-py/data_batch_4"):
        load_cifar10(root=isolated, verify=False)


def test_folder_missing_a_batch(isolated):
    files = members()
    del files["data_batch_5"]
    write_folder(isolated, files)
    with pytest.raises(FileNotFoundError, match="data_batch_5 is missing"):
        load_cifar10(root=isolated, verify=False)


def test_meta_is_optional(isolated):
    files = members()
    del files["batches.meta"]
    write_archive(isolated / cifar.ARCHIVE, files)
    assert load_cifar10(root=isolated, verify=False).classes == cifar.CLASSES


def test_python2_style_pickle_loads():
    """The official files name numpy.core.multiarray (NumPy 1 / Python 2); that name is allowed."""
    data = pickle.dumps(batch(0), protocol=2).replace(b"numpy._core.multiarray", b"numpy.core.multiarray")
    assert b"numpy.core.multiarray\n_reconstruct" in data
    x, y = cifar.decode_batch(data, "py2")
    assert x.shape == (3, 3, 32, 32) and y.tolist() == [0, 1, 2]
