"""CIFAR-10 (Krizhevsky 2009) from the official python version, ``cifar-10-python.tar.gz``.

The archive holds ``cifar-10-batches-py/`` with ``data_batch_1`` .. ``data_batch_5`` (training),
``test_batch`` and ``batches.meta``. Each batch is a pickle (written by Python 2) of a dict with
``b'data'``: a (10000, 3072) uint8 array, each row the R, G and B planes of a 32x32 image in turn, and
``b'labels'``: 10000 ints in 0..9. The loader reads the batches straight out of the archive (no
extraction needed) or out of an already extracted ``cifar-10-batches-py/`` folder.

Pickles can run code when loaded, and a NumPy array in a pickle can even be forged into an array of
raw pointers (an object array whose "elements" are addresses), so the batches are never unpickled
into NumPy objects. The unpickler accepts only builtin values (dict, list, tuple, bytes, str, int)
and, for the few NumPy names an array's pickle mentions, inert stand-ins (`_ArrayRecipe`,
`_DtypeRecipe`) that only record what the file says. `_to_array` then builds a real array from the
recipe's raw bytes with a dtype taken from a short list of plain numeric types, after checking the
size against the shape. No object array can be made from file contents.
"""
from __future__ import annotations

import io
import math
import os
import pickle
import tarfile
import zlib
from pathlib import Path

import numpy as np

from ..safe_open import open_regular
from .dataset import Split
from .download import MAX_BYTES, check_md5, find_or_download, md5_bytes, md5_file

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

# the archive holds a folder and 8 files; more entries than this is not a CIFAR-10 archive
_MAX_MEMBERS = 100
# plain numeric dtypes an array in a batch may have (as NumPy pickles them: kind and size)
_PLAIN_DTYPES = {"u1", "i1", "u2", "i2", "u4", "i4", "u8", "i8", "f4", "f8"}


class _ArrayRecipe:
    """Stands in for ``_reconstruct(numpy.ndarray, ...)``: records the state the pickle gives it."""
    state = None

    def __setstate__(self, state):
        self.state = state


class _DtypeRecipe:
    """Stands in for ``numpy.dtype(name, align, copy)``: records the name and the state."""
    state = None

    def __init__(self, name, align=False, copy=False):
        self.name = name

    def __setstate__(self, state):
        self.state = state


class _Frozen:
    """A global a pickle may call but never change: pickle's BUILD would set attributes on a plain
    function (or a class), so the globals it can reach are instances of this, which refuse it."""
    __slots__ = ("_call",)

    def __init__(self, call=None):
        object.__setattr__(self, "_call", call)

    def __call__(self, *args):
        if self._call is None:
            raise pickle.UnpicklingError("numpy.ndarray may only be passed to _reconstruct")
        return self._call(*args)

    def __setattr__(self, name, value):
        raise pickle.UnpicklingError("a CIFAR-10 batch may not change the names it uses")

    def __setstate__(self, state):
        raise pickle.UnpicklingError("a CIFAR-10 batch may not change the names it uses")


_NDARRAY = _Frozen()  # stands in for the class numpy.ndarray, only ever passed to _reconstruct


def _reconstruct(cls, shape, typecode):
    if cls is not _NDARRAY:
        raise pickle.UnpicklingError("_reconstruct is allowed only for numpy.ndarray")
    return _ArrayRecipe()


def _latin1(text, encoding):
    """``_codecs.encode``, as protocol-2 pickles from Python 3 spell bytes: latin-1 text only."""
    if not isinstance(text, str) or encoding not in ("latin1", "latin-1"):
        raise pickle.UnpicklingError("_codecs.encode is allowed only for latin-1 text")
    return text.encode("latin-1")


_ALLOWED_GLOBALS = {
    ("numpy.core.multiarray", "_reconstruct"): _Frozen(_reconstruct),   # NumPy 1 / Python 2
    ("numpy._core.multiarray", "_reconstruct"): _Frozen(_reconstruct),  # NumPy 2
    ("numpy", "ndarray"): _NDARRAY,
    ("numpy", "dtype"): _Frozen(_DtypeRecipe),
    ("_codecs", "encode"): _Frozen(_latin1),  # bytes in protocol-2 pickles written by Python 3
}


class _BatchUnpickler(pickle.Unpickler):
    def find_class(self, module: str, name: str):
        try:
            return _ALLOWED_GLOBALS[(module, name)]
        except KeyError:
            raise pickle.UnpicklingError(f"{module}.{name} is not allowed in a CIFAR-10 batch") from None


def unpickle_batch(data: bytes, source: str):
    """Load a CIFAR batch pickle safely (keys come back as bytes, like ``encoding='bytes'``).

    Arrays come back as `_ArrayRecipe` stand-ins, never as NumPy arrays; see `_to_array`.
    """
    try:
        return _BatchUnpickler(io.BytesIO(data), encoding="bytes").load()
    except Exception as err:  # a damaged pickle can fail in many ways; all mean the same here
        raise ValueError(f"{source}: not a valid CIFAR-10 batch pickle ({type(err).__name__}: {err}); "
                         "delete the file and get it again") from err


def _text(value) -> str | None:
    """A name from a pickle: str, or bytes as Python 2 pickles give them under encoding='bytes'."""
    if isinstance(value, bytes):
        return value.decode("latin-1")
    return value if isinstance(value, str) else None


def _plain_dtype(recipe, what: str) -> np.dtype:
    """The dtype a `_DtypeRecipe` describes, if it is one of `_PLAIN_DTYPES` (never object)."""
    name = _text(recipe.name) if isinstance(recipe, _DtypeRecipe) else None
    state = recipe.state if isinstance(recipe, _DtypeRecipe) else None
    # state: (version, byte order, subarray, names, fields, elsize, alignment, flags)
    if name not in _PLAIN_DTYPES or not isinstance(state, tuple) or len(state) < 5 \
            or _text(state[1]) not in ("<", ">", "|", "=") or any(x is not None for x in state[2:5]):
        shown = repr(name) if name is not None else type(recipe).__name__
        raise ValueError(f"{what} has dtype {shown}; only plain numbers ({', '.join(sorted(_PLAIN_DTYPES))}) "
                         "are allowed")
    order = _text(state[1])
    return np.dtype(name).newbyteorder(order if order in "<>" else "=")


def _to_array(recipe, what: str) -> np.ndarray:
    """A NumPy array from an `_ArrayRecipe`: plain numeric dtype, shape and byte count checked first."""
    state = recipe.state if isinstance(recipe, _ArrayRecipe) else None
    # state: (version, shape, dtype, Fortran order, raw bytes)
    if not isinstance(state, tuple) or len(state) != 5:
        raise ValueError(f"{what} is a {type(recipe).__name__}, not a NumPy array")
    _, shape, dtype, fortran, raw = state
    dtype = _plain_dtype(dtype, what)
    if not (isinstance(shape, tuple) and len(shape) <= 32
            and all(type(n) is int and n >= 0 for n in shape)):
        raise ValueError(f"{what} has shape {shape!r}; expected a tuple of sizes")
    if not isinstance(raw, bytes) or len(raw) != math.prod(shape) * dtype.itemsize:
        found = f"{len(raw)} bytes" if isinstance(raw, bytes) else type(raw).__name__
        raise ValueError(f"{what}: shape {shape} of {dtype} needs {math.prod(shape) * dtype.itemsize} "
                         f"bytes, the file holds {found}")
    array = np.frombuffer(raw, dtype=dtype).reshape(shape, order="F" if fortran is True else "C")
    return array.astype(dtype.newbyteorder("="))  # native order, and a writable copy


def _layout_error(source: str, problem: str) -> ValueError:
    return ValueError(f"{source}: {problem}; this is not an official CIFAR-10 python batch: delete it "
                      "and get it again (or fix your own file)")


def decode_batch(data: bytes, source: str) -> tuple[np.ndarray, np.ndarray]:
    """(N, 3, 32, 32) uint8 images and (N,) int64 labels from the bytes of one batch file."""
    batch = unpickle_batch(data, source)
    if not isinstance(batch, dict) or b"data" not in batch or b"labels" not in batch:
        found = sorted(map(repr, batch)) if isinstance(batch, dict) else type(batch).__name__
        raise _layout_error(source, f"expected a dict with keys b'data' and b'labels', found {found}")
    try:
        x = _to_array(batch[b"data"], "b'data'")
    except ValueError as err:
        raise _layout_error(source, str(err)) from None
    if x.dtype != np.uint8 or x.ndim != 2 or x.shape[1] != 3072:
        raise _layout_error(source, f"b'data' must be a uint8 array of shape (N, 3072), got {x.dtype} {x.shape}")
    y = _labels(batch[b"labels"], source)
    if y.shape != (len(x),):
        raise _layout_error(source, f"{len(x)} images but b'labels' has shape {y.shape}")
    # each row is 1024 R values, then 1024 G, then 1024 B, each plane row-major 32x32
    return x.reshape(-1, 3, 32, 32), y


def _labels(labels, source: str) -> np.ndarray:
    """(N,) int64 labels from a list of ints (as the official files) or an integer array."""
    if isinstance(labels, _ArrayRecipe):
        try:
            y = _to_array(labels, "b'labels'")
        except ValueError as err:
            raise _layout_error(source, str(err)) from None
        if y.dtype.kind not in "iu" or y.ndim != 1:
            raise _layout_error(source, f"b'labels' must be integers, got an array of {y.dtype} {y.shape}")
        values = y.tolist()
    elif isinstance(labels, list):
        values = labels
    else:
        raise _layout_error(source, f"b'labels' must be a list of ints, got a {type(labels).__name__}")
    for i, v in enumerate(values):  # type(v) is int: no bool, and no float quietly truncated
        if type(v) is not int:
            raise _layout_error(source, f"b'labels' must be a list of ints; item {i} is {v!r} "
                                        f"({type(v).__name__})")
        if not 0 <= v < len(CLASSES):
            raise _layout_error(source, f"labels must be in 0..9, found {v} at item {i}")
    return np.array(values, dtype=np.int64)


def _read_members(path: Path, names: list[str], verify: bool) -> dict[str, tuple[str, bytes]]:
    """name -> (source for messages, bytes) of the files `names` of cifar-10-batches-py/, read from
    the archive `path` or, when `path` is an extracted folder's test_batch, from that folder.

    Without `verify`, each file may hold at most `MAX_BYTES`, checked (on the file system, or in the
    archive's member header) before it is read. With it, the archive's md5 is checked first,
    streaming, so only the official bytes are ever unpacked.
    """
    if path.name != ARCHIVE:  # an extracted folder: path is its test_batch
        contents = {}
        for name in names:
            file = path.parent / name
            if not file.exists():
                if name == "batches.meta":
                    continue  # optional: only the class names
                raise FileNotFoundError(f"{file} is missing; the folder {path.parent} should hold "
                                        f"{', '.join(names)}")
            with open_regular(file, "load_cifar10") as f:
                _check_size(os.fstat(f.fileno()).st_size, str(file))
                data = f.read()
            if verify:
                check_md5(md5_bytes(data), BATCH_MD5[name], str(file), "the file", _ADVICE)
            contents[name] = (str(file), data)
        return contents
    if verify:
        check_md5(md5_file(path), ARCHIVE_MD5, str(path), "the archive", _ADVICE)
    wanted = {f"{FOLDER}/{name}": name for name in names}
    contents = {}
    try:
        with open_regular(path, "load_cifar10") as raw, tarfile.open(fileobj=raw, mode="r:gz") as tar:
            for count, member in enumerate(tar, start=1):  # streams: one member header at a time
                if count > _MAX_MEMBERS:
                    raise ValueError(f"{path}: more than {_MAX_MEMBERS} entries; this is not "
                                     "cifar-10-python.tar.gz")
                name = wanted.get(member.name)
                if name is None or name in contents:
                    continue
                source = f"{path}:{member.name}"
                if not member.isreg():
                    raise ValueError(f"{source} is not a regular file")
                _check_size(member.size, source)
                contents[name] = (source, tar.extractfile(member).read())
    except (tarfile.TarError, EOFError, OSError, zlib.error) as err:
        raise ValueError(f"{path}: damaged archive ({err}); the download was probably cut short: "
                         "delete it and get it again") from err
    for member, name in wanted.items():
        if name not in contents and name != "batches.meta":
            raise ValueError(f"{path}: the archive has no {member}; is this cifar-10-python.tar.gz?")
    return contents


def _check_size(size: int, source: str) -> None:
    if size > MAX_BYTES:
        raise ValueError(f"{source} holds {size} bytes, more than the {MAX_BYTES} a batch may have "
                         "(tinynet.data.download.MAX_BYTES); an official batch holds about 31 MB")


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
