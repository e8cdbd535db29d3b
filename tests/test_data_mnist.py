"""IDX decoding and the MNIST / Fashion-MNIST loaders, on generated files and on the real ones."""
import gzip
import os
import hashlib
import struct
import threading
from pathlib import Path

import numpy as np
import pytest

from tinynet.data import decode_idx, download, encode_idx, load_fashion_mnist, read_idx
from tinynet.data.idx import MAX_DIMS
from tinynet.data.mnist import FASHION_MNIST, MNIST, IdxDataset, IdxFile, load_idx_dataset

# the shared data folder beside the checkout (../shared/data), or $TINYNET_SHARED_DATA
SHARED = Path(os.environ.get("TINYNET_SHARED_DATA", Path(__file__).resolve().parents[2] / "shared" / "data"))
DEBIAN_FASHION = Path("/usr/share/datasets/fashion-mnist")


# --- the IDX format -------------------------------------------------------------------------------

@pytest.mark.parametrize("dtype", ["uint8", "int8", "int16", "int32", "float32", "float64"])
@pytest.mark.parametrize("shape", [(5,), (3, 4), (2, 3, 4), (0, 28, 28)])
def test_idx_roundtrip(dtype, shape):
    a = (np.arange(int(np.prod(shape))) % 100 - 50 * (dtype != "uint8")).astype(dtype).reshape(shape)
    data = encode_idx(a)
    assert len(data) == 4 + 4 * len(shape) + a.nbytes
    b = decode_idx(data)
    assert b.dtype == a.dtype and b.dtype.isnative and b.shape == shape
    np.testing.assert_array_equal(a, b)


def test_idx_header_is_big_endian_as_documented():
    data = encode_idx(np.array([[1, 2, 3]], dtype=np.int16))
    assert data == bytes([0, 0, 0x0B, 2, 0, 0, 0, 1, 0, 0, 0, 3, 0, 1, 0, 2, 0, 3])


def test_encode_rejects_unsupported_dtype():
    with pytest.raises(TypeError, match="no IDX type code"):
        encode_idx(np.zeros(3, dtype=np.int64))


GOOD = encode_idx(np.arange(12, dtype=np.uint8).reshape(3, 4))


def header(code, dims):
    """An IDX header: type code and the sizes of the dimensions."""
    return bytes([0, 0, code, len(dims)]) + struct.pack(f">{len(dims)}I", *dims)


def read_as(form, data, tmp_path):
    """Decode `data` as bytes, or read it from a file written plain or gzipped; the source's name."""
    if form == "bytes":
        return lambda: decode_idx(data, source="some/file"), "some/file"
    path = tmp_path / ("x-idx-ubyte.gz" if form == "gz" else "x-idx-ubyte")
    path.write_bytes(gzip.compress(data) if form == "gz" else data)
    return lambda: read_idx(path), str(path)


@pytest.mark.parametrize("data, match", [
    (b"\x00\x00", "too short"),
    (b"\x1f\x8b\x08\x00" + GOOD[4:], "magic number 1f8b0800"),        # still gzipped
    (b"\x00\x00\x07\x02" + GOOD[4:], "magic number 00000702"),        # unknown type code
    (b"\x00\x01\x08\x02" + GOOD[4:], "magic number"),
    (GOOD[:6], "declares 2 dimensions but the file ends after 6 bytes"),
    (GOOD[:-1], "needs 12 data bytes but the file holds 11"),
    (GOOD + b"\x00", "needs 12 data bytes but the file holds (13|more than 12)"),
    # NumPy's own message ("maximum supported dimension ...") would not name the file
    (header(0x08, [1] * 255), f"declares 255 dimensions, more than the {MAX_DIMS}"),
    (header(0x08, [1] * 40) + b"\x07", f"declares 40 dimensions, more than the {MAX_DIMS}"),
])
@pytest.mark.parametrize("form", ["bytes", "file", "gz"])
def test_corrupt_idx(tmp_path, form, data, match):
    read, source = read_as(form, data, tmp_path)
    with pytest.raises(ValueError, match=match) as info:
        read()
    assert str(info.value).startswith(source)


@pytest.mark.parametrize("dims", [[1 << 31], [60000, 28, 28, 4096], [0xFFFFFFFF] * 3])
def test_a_header_declaring_gigabytes_is_refused_before_allocation(tmp_path, dims):
    """A 40-byte .gz declaring up to 2^96 bytes: refused by the header alone (nothing inflated)."""
    path = tmp_path / "bomb-idx-ubyte.gz"
    path.write_bytes(gzip.compress(header(0x08, dims) + b"\x00" * 16))
    with pytest.raises(ValueError, match=r"declares \d+ bytes, more than max_bytes=1073741824") as info:
        read_idx(path)
    assert str(path) in str(info.value)


def test_the_size_is_checked_before_the_data_is_inflated(tmp_path):
    """4 MiB of zeros deflate to 4 kB; the stream is cut just after the header. Refusing the size
    (and not reporting the damaged stream) shows that nothing past the header was inflated."""
    path = tmp_path / "big-idx-ubyte.gz"
    path.write_bytes(gzip.compress(header(0x08, [4, 1024, 1024]) + bytes(4 << 20))[:200])
    with pytest.raises(ValueError, match="declares 4194304 bytes, more than max_bytes=1000000") as info:
        read_idx(path, max_bytes=1_000_000)
    assert str(path) in str(info.value)
    with pytest.raises(ValueError, match="damaged gzip"):
        read_idx(path, max_bytes=4 << 20)  # allowed: now the cut stream is found


def test_max_bytes_can_be_raised_for_a_trusted_file(tmp_path):
    path = tmp_path / "big-idx-ubyte.gz"
    path.write_bytes(gzip.compress(encode_idx(np.ones((64, 64), np.uint8))))
    with pytest.raises(ValueError, match="more than max_bytes=4000"):
        read_idx(path, max_bytes=4000)
    assert read_idx(path, max_bytes=4096).sum() == 4096


@pytest.mark.parametrize("max_bytes", [-1, 2.0, None, True])
def test_max_bytes_must_be_a_non_negative_int(tmp_path, max_bytes):
    with pytest.raises(TypeError, match="max_bytes must be a non-negative int"):
        read_idx(tmp_path / "x", max_bytes=max_bytes)


@pytest.mark.skipif(not hasattr(os, "mkfifo"), reason="needs POSIX FIFOs")
def test_a_fifo_is_refused_without_blocking(tmp_path):
    fifo = tmp_path / "x-idx1-ubyte.gz"
    os.mkfifo(fifo)

    def unblock():  # should read_idx ever block on the FIFO, end it so that the test fails, not hangs
        try:
            os.close(os.open(fifo, os.O_WRONLY | os.O_NONBLOCK))
        except OSError:
            pass
    watchdog = threading.Timer(10, unblock)
    watchdog.start()
    try:
        with pytest.raises(ValueError, match=r"is a FIFO \(named pipe\), not a regular file") as info:
            read_idx(fifo)
    finally:
        watchdog.cancel()
    assert str(fifo) in str(info.value)


def test_truncated_gzip_names_the_file(tmp_path):
    path = tmp_path / "x-idx1-ubyte.gz"
    path.write_bytes(gzip.compress(GOOD)[:-10])
    with pytest.raises(ValueError, match="damaged gzip") as info:
        read_idx(path)
    assert str(path) in str(info.value)


def test_read_idx_plain_and_gz(tmp_path):
    (tmp_path / "a").write_bytes(GOOD)
    (tmp_path / "a.gz").write_bytes(gzip.compress(GOOD))
    np.testing.assert_array_equal(read_idx(tmp_path / "a"), read_idx(tmp_path / "a.gz"))


# --- the real MNIST test split and Fashion-MNIST (when present) ----------------------------------

def _need(path):
    if not path.exists():
        pytest.skip(f"{path} not available")
    return path


@pytest.mark.parametrize("file, shape, first", [
    (MNIST.test_images, (10000, 28, 28), None),
    (MNIST.test_labels, (10000,), [7, 2, 1, 0, 4, 1, 4, 9, 5, 9]),
    (MNIST.train_labels, (60000,), [5, 0, 4, 1, 9, 2, 1, 3, 1, 4]),
])
def test_real_mnist_files_decode_and_verify(file, shape, first):
    path = _need(SHARED / "mnist" / f"{file.name}.gz")
    assert download.md5_file(path) == file.gz_md5  # these are the official .gz files
    a = read_idx(path, md5=file.raw_md5)
    assert a.shape == shape and a.dtype == np.uint8
    if first is not None:
        assert a[:10].tolist() == first
        assert a.max() == 9
    if len(a) == 60000:
        assert np.bincount(a)[1] == 6742


def test_real_mnist_without_training_images_explains_how_to_get_them(tmp_path, monkeypatch):
    root = _need(SHARED / "mnist")
    monkeypatch.setenv("HOME", str(tmp_path))
    monkeypatch.delenv("TINYNET_DATA", raising=False)
    monkeypatch.setattr(download, "SYSTEM_DIR", tmp_path / "system")
    with pytest.raises(FileNotFoundError, match="train-images-idx3-ubyte.gz") as info:
        load_idx_dataset(MNIST, root=root)
    assert str(root) in str(info.value) and "download=True" in str(info.value)


def test_debian_fashion_mnist_loads_and_matches_the_official_labels(tmp_path, monkeypatch):
    _need(DEBIAN_FASHION / "train-images-idx3-ubyte.gz")
    monkeypatch.setenv("HOME", str(tmp_path))
    monkeypatch.delenv("TINYNET_DATA", raising=False)
    split = load_fashion_mnist()  # found under /usr/share/datasets; contents md5-checked
    assert split.x_train.shape == (60000, 1, 28, 28) and split.x_train.dtype == np.uint8
    assert split.x_test.shape == (10000, 1, 28, 28)
    assert split.y_train.dtype == np.int64
    assert np.bincount(split.y_train).tolist() == [6000] * 10
    assert np.bincount(split.y_test).tolist() == [1000] * 10
    assert split.classes[9] == "Ankle boot"
    # Debian re-compressed the files; the official .gz md5 no longer matches but the contents do
    assert download.md5_file(DEBIAN_FASHION / "t10k-labels-idx1-ubyte.gz") != FASHION_MNIST.test_labels.gz_md5
    official = _need(SHARED / "fashion-mnist" / "t10k-labels-idx1-ubyte.gz")
    np.testing.assert_array_equal(read_idx(official), split.y_test)


# --- the loader on generated files ---------------------------------------------------------------

def _raw(kind, n=6, seed=0):
    rng = np.random.default_rng(seed)
    if kind.endswith("images"):
        return encode_idx(rng.integers(0, 256, size=(n, 28, 28)).astype(np.uint8))
    return encode_idx((np.arange(n) % 10).astype(np.uint8))


KINDS = ("train_images", "train_labels", "test_images", "test_labels")


def fake_spec(server: Path) -> IdxDataset:
    """A dataset like MNIST whose official files are generated here and served from `server`."""
    server.mkdir(parents=True, exist_ok=True)
    files = {}
    for kind in KINDS:
        name = kind.replace("_", "-") + "-idx-ubyte"
        raw = _raw(kind, n=8 if kind.startswith("train") else 4)
        gz = gzip.compress(raw, mtime=0)
        (server / f"{name}.gz").write_bytes(gz)
        files[kind] = IdxFile(name, hashlib.md5(gz).hexdigest(), hashlib.md5(raw).hexdigest())
    return IdxDataset(title="Fake", folder="fake", mirrors=(server.as_uri() + "/",),
                      classes=MNIST.classes, **files)


def test_download_then_load(isolated):
    spec = fake_spec(isolated / "server")
    split = load_idx_dataset(spec, download=True)
    assert split.x_train.shape == (8, 1, 28, 28) and split.x_test.shape == (4, 1, 28, 28)
    assert split.y_train.tolist() == [0, 1, 2, 3, 4, 5, 6, 7]
    np.testing.assert_array_equal(split.x_train[:, 0], decode_idx(_raw("train_images", 8)))
    assert sorted(p.name for p in (isolated / "data" / "fake").iterdir()) == \
        sorted(f"{getattr(spec, k).name}.gz" for k in KINDS)
    load_idx_dataset(spec, download=False)  # now found in $TINYNET_DATA/fake


def test_recompressed_and_uncompressed_copies_are_accepted(isolated):
    """Like Debian's package: other .gz bytes, same contents; or no compression at all."""
    spec = fake_spec(isolated / "server")
    root = isolated / "mine"
    root.mkdir()
    for i, kind in enumerate(KINDS):
        file = getattr(spec, kind)
        raw = gzip.decompress((isolated / "server" / f"{file.name}.gz").read_bytes())
        if i % 2:
            (root / file.name).write_bytes(raw)
        else:
            recompressed = gzip.compress(raw, compresslevel=1, mtime=123)
            assert hashlib.md5(recompressed).hexdigest() != file.gz_md5
            (root / f"{file.name}.gz").write_bytes(recompressed)
    assert load_idx_dataset(spec, root=root).x_test.shape == (4, 1, 28, 28)


def test_wrong_contents_fail_the_checksum_unless_verify_is_false(isolated):
    spec = fake_spec(isolated / "server")
    root = isolated / "mine"
    root.mkdir()
    for kind in KINDS:
        file = getattr(spec, kind)
        (root / f"{file.name}.gz").write_bytes((isolated / "server" / f"{file.name}.gz").read_bytes())
    other = root / f"{spec.test_images.name}.gz"
    other.write_bytes(gzip.compress(_raw("test_images", n=4, seed=1)))
    with pytest.raises(ValueError, match="md5 of the decompressed contents") as info:
        load_idx_dataset(spec, root=root)
    assert str(other) in str(info.value) and "verify=False" in str(info.value)
    assert load_idx_dataset(spec, root=root, verify=False).x_test.shape == (4, 1, 28, 28)


def test_verified_files_must_declare_the_official_shape_before_anything_is_read(isolated):
    """With verify=True a header larger than the official file is refused before allocating, not
    after inflating it for the md5 check."""
    spec = fake_spec(isolated / "server")
    official = IdxFile(spec.test_images.name, None, "0" * 32, shape=(4, 28, 28))
    spec = IdxDataset(**{**spec.__dict__, "test_images": official})
    (isolated / "server" / f"{official.name}.gz").write_bytes(
        gzip.compress(header(0x08, [400, 28, 28]))[:100])  # declares 100x the official size; cut short
    with pytest.raises(ValueError, match=r"declares 313600 bytes, more than max_bytes=3136\b") as info:
        load_idx_dataset(spec, root=isolated / "server")
    assert official.name in str(info.value)


def test_tampered_download_is_rejected_and_not_cached(isolated):
    spec = fake_spec(isolated / "server")
    (isolated / "server" / f"{spec.train_labels.name}.gz").write_bytes(gzip.compress(b"evil"))
    with pytest.raises(ValueError, match="checksum"):
        load_idx_dataset(spec, download=True)
    assert not (isolated / "data" / "fake" / f"{spec.train_labels.name}.gz").exists()


@pytest.mark.parametrize("kind, array, match", [
    ("train_images", np.zeros((8, 27, 28), np.uint8), r"expected uint8 images of shape \(N, 28, 28\)"),
    ("train_images", np.zeros((8, 28, 28), np.float32), "expected uint8 images"),
    ("train_labels", np.zeros((8, 1), np.uint8), "expected a 1-D uint8 label file"),
    ("train_labels", np.zeros(7, np.uint8), "8 images but .* has 7 labels"),
    ("train_labels", np.full(8, 10, np.uint8), "label 10 is out of range 0..9"),
])
def test_wrong_layouts_are_named(isolated, kind, array, match):
    spec = fake_spec(isolated / "server")
    root = isolated / "mine"
    root.mkdir()
    for k in KINDS:
        name = getattr(spec, k).name
        data = encode_idx(array) if k == kind else gzip.decompress((isolated / "server" / f"{name}.gz").read_bytes())
        (root / name).write_bytes(data)
    with pytest.raises(ValueError, match=match) as info:
        load_idx_dataset(spec, root=root, verify=False)
    assert getattr(spec, kind).name in str(info.value)


def test_specs_are_complete():
    for spec in (MNIST, FASHION_MNIST):
        for field in KINDS:
            file = getattr(spec, field)
            assert len(file.gz_md5) == len(file.raw_md5) == 32
            n = 60000 if field.startswith("train") else 10000
            assert file.shape == ((n, 28, 28) if field.endswith("images") else (n,))
        assert len(spec.classes) == 10 and spec.mirrors
