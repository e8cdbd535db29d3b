"""CIFAR-10 on small archives written here in the official format (pickled dicts in a tar.gz)."""
import gzip
import hashlib
import io
import os
import pickle
import subprocess
import sys
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
    """The official files name numpy.core.multiarray (NumPy 1 / Python 2) and write the dtype's
    name and byte order as byte strings (SHORT_BINSTRING, bytes under encoding='bytes')."""
    data = pickle.dumps(batch(0), protocol=2).replace(b"numpy._core.multiarray", b"numpy.core.multiarray")
    data = data.replace(b"X\x02\x00\x00\x00u1", b"U\x02u1").replace(b"X\x01\x00\x00\x00|", b"U\x01|")
    assert b"numpy.core.multiarray\n_reconstruct" in data and b"U\x02u1" in data
    x, y = cifar.decode_batch(data, "py2")
    assert x.shape == (3, 3, 32, 32) and y.tolist() == [0, 1, 2]
    np.testing.assert_array_equal(x.reshape(3, 3072), batch(0)[b"data"])


# --- hostile files: no NumPy object is ever built from what the file says --------------------------

POINTERS = np.full(PER_BATCH, 0x4141414141414140, dtype=np.int64)  # "addresses" nobody owns


def forged(key, array, name, new_name):
    """A batch whose `key` is `array` pickled with its dtype's name replaced by `new_name`.

    With 'O8', the old unpickler rebuilt an object array whose elements were the raw int64 values,
    i.e. pointers; converting it (np.asarray(labels, dtype=np.int64)) dereferenced them.
    """
    data = pickle.dumps({**batch(0), key: array}, protocol=2)
    old = b"X\x02\x00\x00\x00" + name.encode()
    assert data.count(old) == 1
    return data.replace(old, b"X\x02\x00\x00\x00" + new_name.encode())


def test_a_forged_object_array_of_pointers_is_refused_in_a_fresh_process(isolated):
    """The attack itself, in a child process: if the refusal ever regresses, the child crashes
    (SIGSEGV) and the test fails, instead of the crash taking the test run down."""
    write_archive(isolated / cifar.ARCHIVE, members({"data_batch_1": forged(b"labels", POINTERS, "i8", "O8")}))
    code = ("import sys; from tinynet.data import load_cifar10\n"
            "try:\n    load_cifar10(root=sys.argv[1], verify=False)\n"
            "except ValueError as err:\n    print('refused:', err)\n")
    done = subprocess.run([sys.executable, "-c", code, str(isolated)], capture_output=True, text=True,
                          timeout=300)
    assert done.returncode == 0, (done.returncode, done.stderr[-2000:])
    assert "refused:" in done.stdout and "dtype 'O8'" in done.stdout and "data_batch_1" in done.stdout


@pytest.mark.parametrize("key, array, name, new_name, match", [
    (b"data", np.zeros((PER_BATCH, 384), np.int64), "i8", "O8", "b'data' has dtype 'O8'; only plain numbers"),
    (b"data", np.zeros((PER_BATCH, 3072), np.uint8), "u1", "V1", "b'data' has dtype 'V1'"),
    (b"data", np.zeros((PER_BATCH, 384), np.int64), "i8", "c8", "b'data' has dtype 'c8'"),
    (b"data", np.zeros((PER_BATCH, 3072), np.uint8), "u1", "u2", r"needs 18432 bytes, the file holds 9216"),
    (b"labels", np.arange(PER_BATCH, dtype=np.float64), "f8", "f8", "b'labels' must be integers, got an array of float64"),
])
def test_forged_arrays_are_refused_before_any_array_is_built(key, array, name, new_name, match):
    """Refused while the file's array is still a recipe (see cifar._ArrayRecipe): the unpickler
    hands back no NumPy object at all, so there is nothing to dereference. (Forged pointers are
    tried only in the child process above: before the fix, merely freeing such an array crashes.
    Here the forged object array would hold zeros, NULL pointers, which NumPy skips.)"""
    data = forged(key, array, name, new_name)
    parsed = cifar.unpickle_batch(data, "some/data_batch_1")
    assert type(parsed[b"data"]) is cifar._ArrayRecipe and type(parsed[key]) is cifar._ArrayRecipe
    with pytest.raises(ValueError, match=match) as info:
        cifar.decode_batch(data, "some/data_batch_1")
    assert str(info.value).startswith("some/data_batch_1")


@pytest.mark.parametrize("name", [b"_codecs\nencode", b"numpy\ndtype", b"numpy\nndarray",
                                  b"numpy._core.multiarray\n_reconstruct"])
@pytest.mark.parametrize("state", [b"}X\x01\x00\x00\x00xK\x01s",             # {'x': 1}: sets __dict__
                                   b"N}X\x01\x00\x00\x00xK\x01s\x86"])   # (None, {'x': 1}): setattr
def test_a_pickle_cannot_change_the_names_it_may_use(name, state):
    """pickle's BUILD on a global would set attributes on it (for every later load, too)."""
    data = b"\x80\x02c" + name + b"\n" + state + b"b."
    with pytest.raises(ValueError, match="may not change the names it uses"):
        cifar.unpickle_batch(data, "x")
    assert not any(hasattr(g, "x") for g in cifar._ALLOWED_GLOBALS.values())


def test_an_integer_label_array_loads():
    data = pickle.dumps({**batch(0), b"labels": np.array([3, 1, 2], dtype=">i4")}, protocol=2)
    _, y = cifar.decode_batch(data, "x")
    assert y.dtype == np.int64 and y.tolist() == [3, 1, 2]


@pytest.mark.parametrize("labels, match", [
    ([1.7, 2, 3], r"item 0 is 1.7 \(float\)"),          # was silently truncated to 1
    ([1, True, 3], r"item 1 is True \(bool\)"),
    ([1, 2, 2 ** 80], "found 1208925819614629174706176 at item 2"),
    ([0, -1, 2], "found -1 at item 1"),
])
def test_labels_must_be_ints_in_range(isolated, labels, match):
    write_archive(isolated / cifar.ARCHIVE, members({"data_batch_2": pickle.dumps({**batch(0), b"labels": labels},
                                                                                   protocol=2)}))
    with pytest.raises(ValueError, match=match) as info:
        load_cifar10(root=isolated, verify=False)
    assert "data_batch_2" in str(info.value)


def test_a_member_declaring_2_gib_is_refused_before_reading(isolated):
    """A tar header declaring 2 GiB followed by 100 bytes: refused by the size in the header."""
    info = tarfile.TarInfo(f"{cifar.FOLDER}/data_batch_1")
    info.size = 1 << 31
    (isolated / cifar.ARCHIVE).write_bytes(gzip.compress(info.tobuf() + bytes(100)))
    with pytest.raises(ValueError, match=r"data_batch_1 holds 2147483648 bytes, more than the 1073741824"):
        load_cifar10(root=isolated, verify=False)


def test_a_link_member_is_refused(isolated):
    path = write_archive(isolated / cifar.ARCHIVE, members())
    link = tarfile.TarInfo(f"{cifar.FOLDER}/data_batch_1")
    link.type, link.linkname = tarfile.SYMTYPE, "/etc/passwd"
    with tarfile.open(path, "r:gz") as old, tarfile.open(isolated / "new.tar.gz", "w:gz") as new:
        new.addfile(link)  # first, so it is the data_batch_1 the loader meets
        for member in old:
            new.addfile(member, old.extractfile(member))
    os.replace(isolated / "new.tar.gz", path)
    with pytest.raises(ValueError, match="data_batch_1 is not a regular file"):
        load_cifar10(root=isolated, verify=False)


def test_an_archive_with_too_many_entries_is_refused(isolated):
    write_archive(isolated / cifar.ARCHIVE, {**{f"junk{i}": b"" for i in range(cifar._MAX_MEMBERS)}, **members()})
    with pytest.raises(ValueError, match=f"more than {cifar._MAX_MEMBERS} entries"):
        load_cifar10(root=isolated, verify=False)


@pytest.mark.skipif(not hasattr(os, "mkfifo"), reason="needs POSIX FIFOs")
def test_a_fifo_in_an_extracted_folder_is_refused(isolated):
    files = members()
    del files["data_batch_1"]
    folder = write_folder(isolated, files)
    os.mkfifo(folder / "data_batch_1")
    with pytest.raises(ValueError, match=r"data_batch_1' is a FIFO \(named pipe\), not a regular file"):
        load_cifar10(root=isolated, verify=False)
