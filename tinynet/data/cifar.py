"""CIFAR-10 (Krizhevsky 2009) from the official python version, ``cifar-10-python.tar.gz``.

The archive holds ``cifar-10-batches-py/`` with ``data_batch_1`` .. ``data_batch_5`` (training),
``test_batch`` and ``batches.meta``. Each batch is a pickle (written by Python 2) of a dict with
``b'data'``: a (10000, 3072) uint8 array, each row the R, G and B planes of a 32x32 image in turn, and
``b'labels'``: 10000 ints in 0..9. The loader reads the batches straight out of the archive (no
extraction needed) or out of an already extracted ``cifar-10-batches-py/`` folder.

Pickles can run code when loaded, so they are read with an unpickler that accepts only what these
files contain: builtin containers and the three NumPy names needed to rebuild an array.
"""
from __future__ import annotations

import codecs
import io
import pickle
import tarfile
import zlib
from pathlib import Path

import numpy as np

from .dataset import Split
from .download import check_md5, find_or_download, md5_bytes, md5_file

try:  # NumPy 2 moved the array internals to numpy._core
    from numpy._core.multiarray import _reconstruct
except ImportError:  # pragma: no cover - NumPy 1.x
    from numpy.core.multiarray import _reconstruct

ARCHIVE = "cifar-10-python.tar.gz"
ARCHIVE_MD5 = "c58f30108f718f92721af3b95e74349a"
MIRRORS = ("https://www.cs.toronto.edu/~kriz/",)
FOLDER = "cifar-10-batches-py"
# md5 of each extracted file (the values torchvision checks)
BATCH_MD5 = {
    "data_batch_1": "c99cafc152244af753f735de768cd75f",
    "data_batch_2": "d4bba439e000b95fd0a9bffe97cbabec",
    "data_batch_3": "54ebc095f3ab1f0389bbae665268c751",
    "data_batch_4": "634d18415352ddfa80567beed471001a",
    "data_batch_5": "482c414d41f54cd18b22e5b47cb7c3cb",
    "test_batch": "40351d587109b95175f43aff81a1287e",
    "batches.meta": "5ff9c542aee3614f3951f8cda6e48888",
}
TRAIN_BATCHES = tuple(f"data_batch_{i}" for i in range(1, 6))
CLASSES = ("airplane", "automobile", "bird", "cat", "deer",
           "dog", "frog", "horse", "ship", "truck")
_ADVICE = ("Delete it and get it again (e.g. with download=True), or pass verify=False if it is "
           "deliberately not the official file.")

_ALLOWED_GLOBALS = {
    ("numpy.core.multiarray", "_reconstruct"): _reconstruct,   # as written by NumPy 1 / Python 2
    ("numpy._core.multiarray", "_reconstruct"): _reconstruct,  # as written by NumPy 2
    ("numpy", "ndarray"): np.ndarray,
    ("numpy", "dtype"): np.dtype,
    ("_codecs", "encode"): codecs.encode,                      # bytes in protocol-2 pickles from Py3
}


class _BatchUnpickler(pickle.Unpickler):
    def find_class(self, module: str, name: str):
        try:
            return _ALLOWED_GLOBALS[(module, name)]
        except KeyError:
            raise pickle.UnpicklingError(f"{module}.{name} is not allowed in a CIFAR-10 batch") from None


def unpickle_batch(data: bytes, source: str):
    """Load a CIFAR batch pickle safely (keys come back as bytes, like ``encoding='bytes'``)."""
    try:
        return _BatchUnpickler(io.BytesIO(data), encoding="bytes").load()
    except Exception as err:  # a damaged pickle can fail in many ways; all mean the same here
        raise ValueError(f"{source}: not a valid CIFAR-10 batch pickle ({type(err).__name__}: {err}); "
                         "delete the file and get it again") from err


def _layout_error(source: str, problem: str) -> ValueError:
    return ValueError(f"{source}: {problem}; this is not an official CIFAR-10 python batch: delete it "
                      "and get it again (or fix your own file)")


def decode_batch(data: bytes, source: str) -> tuple[np.ndarray, np.ndarray]:
    """(N, 3, 32, 32) uint8 images and (N,) int64 labels from the bytes of one batch file."""
    batch = unpickle_batch(data, source)
    if not isinstance(batch, dict) or b"data" not in batch or b"labels" not in batch:
        found = sorted(batch) if isinstance(batch, dict) else type(batch).__name__
        raise _layout_error(source, f"expected a dict with keys b'data' and b'labels', found {found}")
    x, labels = batch[b"data"], batch[b"labels"]
    if not isinstance(x, np.ndarray) or x.dtype != np.uint8 or x.ndim != 2 or x.shape[1] != 3072:
        desc = f"{x.dtype} {x.shape}" if isinstance(x, np.ndarray) else type(x).__name__
        raise _layout_error(source, f"b'data' must be a uint8 array of shape (N, 3072), got {desc}")
    try:
        y = np.asarray(labels, dtype=np.int64)
    except (TypeError, ValueError) as err:
        raise _layout_error(source, f"b'labels' must be a list of ints ({err})") from err
    if y.shape != (len(x),):
        raise _layout_error(source, f"{len(x)} images but b'labels' has shape {y.shape}")
    if y.size and (y.min() < 0 or y.max() >= len(CLASSES)):
        raise _layout_error(source, f"labels must be in 0..9, found {y.min()}..{y.max()}")
    # each row is 1024 R values, then 1024 G, then 1024 B, each plane row-major 32x32
    return x.reshape(-1, 3, 32, 32), y


def _read_members(path: Path, names: list[str], verify: bool) -> dict[str, tuple[str, bytes]]:
    """name -> (source for messages, bytes) of the files `names` of cifar-10-batches-py/, read from
    the archive `path` or, when `path` is an extracted folder's test_batch, from that folder."""
    if path.name != ARCHIVE:  # an extracted folder: path is its test_batch
        contents = {}
        for name in names:
            file = path.parent / name
            if not file.is_file():
                if name == "batches.meta":
                    continue  # optional: only the class names
                raise FileNotFoundError(f"{file} is missing; the folder {path.parent} should hold "
                                        f"{', '.join(names)}")
            data = file.read_bytes()
            if verify:
                check_md5(md5_bytes(data), BATCH_MD5[name], str(file), "the file", _ADVICE)
            contents[name] = (str(file), data)
        return contents
    if verify:
        check_md5(md5_file(path), ARCHIVE_MD5, str(path), "the archive", _ADVICE)
    contents = {}
    try:
        with tarfile.open(path, "r:gz") as tar:
            for name in names:
                try:
                    member = tar.extractfile(f"{FOLDER}/{name}")
                except KeyError:
                    if name == "batches.meta":
                        continue
                    raise ValueError(f"{path}: the archive has no {FOLDER}/{name}; "
                                     "is this cifar-10-python.tar.gz?") from None
                if member is None:
                    raise ValueError(f"{path}: {FOLDER}/{name} is not a regular file")
                contents[name] = (f"{path}:{FOLDER}/{name}", member.read())
    except (tarfile.TarError, EOFError, OSError, zlib.error) as err:
        raise ValueError(f"{path}: damaged archive ({err}); the download was probably cut short: "
                         "delete it and get it again") from err
    return contents


def _classes(meta: tuple[str, bytes] | None) -> tuple[str, ...]:
    """The class names from batches.meta (when present)."""
    if meta is None:
        return CLASSES
    source, data = meta
    names = unpickle_batch(data, source)
    names = names.get(b"label_names") if isinstance(names, dict) else None
    if not isinstance(names, list) or len(names) != len(CLASSES) \
            or not all(isinstance(n, bytes) for n in names):
        raise _layout_error(source, "expected b'label_names', a list of 10 byte strings")
    return tuple(n.decode("ascii") for n in names)


def load_cifar10(root=None, download: bool = False, verify: bool = True) -> Split:
    """CIFAR-10: 50000 train / 10000 test images, (N, 3, 32, 32) uint8 (RGB, 0..255), labels int64.

    Looks for ``cifar-10-python.tar.gz`` (or an extracted ``cifar-10-batches-py/``) in `root`,
    $TINYNET_DATA/cifar-10, /usr/share/datasets/cifar-10 and ~/.cache/tinynet/cifar-10; with
    ``download=True`` fetches the archive (163 MiB) from the official URL, md5 checked.
    ``verify=False`` skips the md5 checks (for your own files in the same format). Scale the images
    with `to_float`, then normalise with `channel_stats` of the training set.
    """
    path = find_or_download("CIFAR-10", "cifar-10", ARCHIVE, alternatives=(f"{FOLDER}/test_batch",),
                            root=root, mirrors=MIRRORS, md5=ARCHIVE_MD5 if verify else None,
                            download=download)
    names = [*TRAIN_BATCHES, "test_batch", "batches.meta"]
    contents = _read_members(path, names, verify)
    train = [decode_batch(contents[n][1], contents[n][0]) for n in TRAIN_BATCHES]
    x_test, y_test = decode_batch(contents["test_batch"][1], contents["test_batch"][0])
    classes = _classes(contents.get("batches.meta"))
    x_train = np.concatenate([x for x, _ in train])
    y_train = np.concatenate([y for _, y in train])
    return Split(x_train, y_train, x_test, y_test, classes, "CIFAR-10")
