"""Save and load state dicts (model weights, optimizer state) as NumPy .npz files.

    tinynet.save(model.state_dict(), "model.npz")
    model.load_state_dict(tinynet.load("model.npz"))

File layout: an uncompressed .npz (zip) archive, readable with plain ``numpy.load``:

* ``a0``, ``a1``, ...: every array of the state, in order;
* ``__tinynet__``: UTF-8 JSON (stored as a uint8 array) with the structure,
  ``{"format": "tinynet-state", "version": 1, "tree": node}``, where a node is
  ``{"array": i}`` (``"scalar": true`` for a NumPy scalar), ``{"dict": [[key, node], ...]}``,
  ``{"list": [node, ...]}``, ``{"tuple": [node, ...]}`` or ``{"value": v}`` for a JSON value
  (str, int, float, bool, None).

So nested state (an optimizer's per-parameter buffers and hyper-parameters, a scheduler's
counters) round-trips with its keys, their order, the array dtypes and the Python types.
Dict keys must be str or int, and a state may be nested at most ``MAX_DEPTH`` levels deep.

Loading treats the file as untrusted. Nothing is pickled, so loading cannot run code; and every
size is checked before it is allocated: only a regular file is opened (never a FIFO, which would
block), the archive's members may unpack to at most ``max_bytes`` in total (by default the size of
the file itself, which every file written by ``save`` satisfies, as it stores arrays uncompressed),
each array's header must agree with the bytes its member holds, and the metadata may nest at most
``MAX_DEPTH`` levels. Every failure is a ValueError naming the file.
"""
from __future__ import annotations

import json
import math
import os
import zipfile

import numpy as np

from . import backend
from .atomic import atomic_write
from .safe_open import open_regular
from .tensor import Tensor

FORMAT, VERSION = "tinynet-state", 1
_META = "__tinynet__"
MAX_DEPTH = 64  # nesting of dicts/lists/tuples; an optimizer checkpoint needs 4
_NPY_MAGIC = b"\x93NUMPY"
_CHUNK = 16 << 20


def _encode(value, arrays, where, depth=0):
    """JSON node for ``value``; arrays are appended to ``arrays``. ``where`` names the spot for errors."""
    if depth > MAX_DEPTH:
        raise ValueError(f"save: {where} is nested more than {MAX_DEPTH} levels deep, which load "
                         "refuses; flatten the state")
    if isinstance(value, Tensor):
        value = value.data
    if isinstance(value, np.generic) or isinstance(value, np.ndarray) or backend.device_of(value) == "cuda":
        arr = backend.to_numpy(value)
        if arr.dtype.hasobject:
            raise TypeError(f"save: {where} is an array of Python objects (dtype {arr.dtype}); "
                            "only numeric and string arrays can be saved")
        arrays[f"a{len(arrays)}"] = np.asarray(arr)
        node = {"array": len(arrays) - 1}
        if isinstance(value, np.generic):
            node["scalar"] = True
        return node
    if isinstance(value, dict):
        items = []
        for k, v in value.items():
            if not isinstance(k, (str, int)) or isinstance(k, bool):
                raise TypeError(f"save: {where} has a key {k!r} of type {type(k).__name__}; "
                                "keys must be str or int")
            items.append([k, _encode(v, arrays, f"{where}[{k!r}]", depth + 1)])
        return {"dict": items}
    if isinstance(value, (list, tuple)):
        kind = "list" if isinstance(value, list) else "tuple"
        return {kind: [_encode(v, arrays, f"{where}[{i}]", depth + 1) for i, v in enumerate(value)]}
    if value is None or isinstance(value, (str, bool, int, float)):
        return {"value": value}
    raise TypeError(f"save: {where} is a {type(value).__name__}, which cannot be saved; use arrays, "
                    "Tensors, numbers, strings, None, and dicts/lists/tuples of them")


class _Arrays:
    """The arrays of an open archive, each read once, when the tree first refers to it."""

    def __init__(self, archive: zipfile.ZipFile):
        self.archive, self.used = archive, set()

    def take(self, index):
        if not isinstance(index, int) or isinstance(index, bool) or index < 0:
            raise ValueError(f"the metadata refers to array {index!r}; expected an index 0, 1, ...")
        if index in self.used:  # save writes each array once; a repeat would multiply the memory
            raise ValueError(f"the metadata refers to array a{index} twice")
        self.used.add(index)
        try:
            info = self.archive.getinfo(f"a{index}.npy")
        except KeyError:
            raise ValueError(f"the metadata refers to array a{index}, which the archive does not hold") from None
        return _read_npy(self.archive, info)


def _read_npy(archive: zipfile.ZipFile, info: zipfile.ZipInfo) -> np.ndarray:
    """The array in member ``info``, read only after its header agrees with the member's size.

    ``np.load`` allocates what the header declares before reading, so a tiny member declaring a
    terabyte would raise MemoryError; here the declared size must equal the bytes that follow it.
    """
    with archive.open(info) as f:
        version = np.lib.format.read_magic(f)
        if version not in ((1, 0), (2, 0)):
            raise ValueError(f"{info.filename}: .npy format version {version} is not supported")
        read_header = np.lib.format.read_array_header_1_0 if version == (1, 0) \
            else np.lib.format.read_array_header_2_0
        shape, fortran_order, dtype = read_header(f)  # header text is capped at 10000 characters
        if dtype.hasobject:  # allow_pickle=False in np.load's words: objects would need unpickling
            raise ValueError(f"{info.filename} holds Python objects (dtype {dtype}), which load refuses")
        count = math.prod(shape)
        nbytes, held = count * dtype.itemsize, info.file_size - f.tell()
        if nbytes != held:
            raise ValueError(f"{info.filename}: its header declares shape {shape} of {dtype} ({nbytes} "
                             f"bytes) but the member holds {held} bytes after the header")
        array = np.empty(count, dtype=dtype)
        buffer, filled = memoryview(array.view(np.uint8)), 0
        while filled < nbytes:  # reading to the end also makes zipfile check the CRC
            n = f.readinto(buffer[filled:filled + _CHUNK])  # in chunks: no second full-size copy
            if not n:
                raise ValueError(f"{info.filename} ends after {filled} of {nbytes} bytes")
            filled += n
    return array.reshape(shape, order="F" if fortran_order else "C")


def _decode(node, arrays: _Arrays, depth=0):
    if depth > MAX_DEPTH:
        raise ValueError(f"the state is nested more than {MAX_DEPTH} levels deep")
    if not isinstance(node, dict) or len(node) not in (1, 2):
        raise ValueError(f"a node of the tree is {str(node)[:80]!r}, not a one-entry object")
    if "array" in node:
        arr = arrays.take(node["array"])
        return arr[()] if node.get("scalar") else arr
    (kind, body), = node.items()
    if kind == "value":
        if body is not None and not isinstance(body, (str, int, float, bool)):
            raise ValueError(f"a value node holds a {type(body).__name__}; expected a JSON scalar")
        return body
    if kind not in ("dict", "list", "tuple") or not isinstance(body, list):
        raise ValueError(f"unknown node {str(node)[:80]!r}")
    if kind == "dict":
        out = {}
        for item in body:
            if not (isinstance(item, list) and len(item) == 2 and isinstance(item[0], (str, int))
                    and not isinstance(item[0], bool)):
                raise ValueError(f"a dict entry is {str(item)[:80]!r}; expected [str or int key, node]")
            out[item[0]] = _decode(item[1], arrays, depth + 1)
        return out
    items = [_decode(v, arrays, depth + 1) for v in body]
    return items if kind == "list" else tuple(items)


def _read_meta(archive: zipfile.ZipFile, arrays: _Arrays):
    """The tree of the metadata entry, checked for format and version."""
    try:
        info = archive.getinfo(_META + ".npy")
    except KeyError:
        raise ValueError(f"it has no {_META!r} entry, so it was not written by tinynet.save") from None
    raw = _read_npy(archive, info)
    if raw.dtype != np.uint8 or raw.ndim != 1:
        raise ValueError(f"its {_META!r} entry is {raw.dtype} {raw.shape}, not the uint8 bytes of JSON")
    try:
        meta = json.loads(raw.tobytes().decode("utf-8"))
    except RecursionError:  # json's parser recurses once per level
        raise ValueError(f"its metadata is nested more than the parser's recursion limit "
                         f"(a state may nest {MAX_DEPTH} levels)") from None
    if not isinstance(meta, dict) or meta.get("format") != FORMAT or meta.get("version") != VERSION:
        found = (meta.get("format"), meta.get("version")) if isinstance(meta, dict) else type(meta).__name__
        raise ValueError(f"format/version {found!r} is not {FORMAT!r} version {VERSION}")
    return _decode(meta.get("tree"), arrays)


def save(state, path):
    """Write ``state`` (a dict, e.g. ``model.state_dict()``) to ``path`` atomically.

    The data goes to a temporary file in the same directory, which then replaces ``path`` in one
    step (``os.replace``): readers see the old file or the new one, never half of one, and if
    anything fails the temporary file is removed and ``path`` is untouched. ``path`` is used
    as given (no ``.npz`` is appended).
    """
    if not isinstance(state, dict):
        raise TypeError(f"save: state must be a dict (e.g. model.state_dict()), got {type(state).__name__}")
    arrays = {}
    tree = _encode(state, arrays, "state")
    meta = json.dumps({"format": FORMAT, "version": VERSION, "tree": tree}).encode("utf-8")

    atomic_write(path, lambda f: np.savez(f, **{_META: np.frombuffer(meta, dtype=np.uint8)}, **arrays))


def load(path, *, max_bytes=None):
    """Read a state written by ``save``; arrays come back as NumPy arrays on the host.

    ``max_bytes`` caps the total size of the archive's members once unpacked, checked against
    the zip directory before anything is inflated or allocated. The default is the size of the
    file itself: enough for every file ``save`` writes (it stores arrays uncompressed), and it
    means a small file can never unpack into a large allocation. Pass a larger int to read an
    archive with compressed members (``np.savez_compressed``) that you trust.

    Raises FileNotFoundError when ``path`` does not exist, and ValueError naming ``path`` when
    it is not a regular file (a directory, a FIFO, a device) or not a readable tinynet state file
    (corrupt, truncated, too large for ``max_bytes``, nested too deeply, some other format).
    """
    if max_bytes is not None and (not isinstance(max_bytes, int) or isinstance(max_bytes, bool)
                                  or max_bytes < 0):
        raise TypeError(f"load: max_bytes must be a non-negative int or None, got {max_bytes!r}")
    path = os.fspath(path)
    with open_regular(path, "load") as fh:  # permission errors surface as they are
        try:
            if fh.read(len(_NPY_MAGIC)) == _NPY_MAGIC:
                raise ValueError("it holds a single .npy array, not an .npz archive")
            fh.seek(0)
            limit = os.fstat(fh.fileno()).st_size if max_bytes is None else max_bytes
            with zipfile.ZipFile(fh) as archive:
                unpacked = sum(info.file_size for info in archive.infolist())
                if unpacked > limit:
                    raise ValueError(f"its members unpack to {unpacked} bytes, more than max_bytes="
                                     f"{limit}{' (the size of the file)' if max_bytes is None else ''}; "
                                     "if you trust the file, pass a larger max_bytes")
                return _read_meta(archive, _Arrays(archive))
        except (ValueError, OSError, EOFError, zipfile.BadZipFile, NotImplementedError) as e:
            # NotImplementedError: a compression method zipfile lacks
            raise ValueError(f"load: {path!r} is not a readable tinynet state file: "
                             f"{type(e).__name__}: {e}") from e
