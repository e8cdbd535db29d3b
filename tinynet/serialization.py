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
Dict keys must be str or int. Nothing is pickled, so loading a file cannot run code.
"""
from __future__ import annotations

import json
import os
import zipfile

import numpy as np

from . import backend
from .atomic import atomic_write
from .tensor import Tensor

FORMAT, VERSION = "tinynet-state", 1
_META = "__tinynet__"


def _encode(value, arrays, where):
    """JSON node for ``value``; arrays are appended to ``arrays``. ``where`` names the spot for errors."""
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
            items.append([k, _encode(v, arrays, f"{where}[{k!r}]")])
        return {"dict": items}
    if isinstance(value, (list, tuple)):
        kind = "list" if isinstance(value, list) else "tuple"
        return {kind: [_encode(v, arrays, f"{where}[{i}]") for i, v in enumerate(value)]}
    if value is None or isinstance(value, (str, bool, int, float)):
        return {"value": value}
    raise TypeError(f"save: {where} is a {type(value).__name__}, which cannot be saved; use arrays, "
                    "Tensors, numbers, strings, None, and dicts/lists/tuples of them")


def _decode(node, archive):
    if "array" in node:
        arr = archive[f"a{int(node['array'])}"]
        return arr[()] if node.get("scalar") else arr
    if "dict" in node:
        return {k: _decode(v, archive) for k, v in node["dict"]}
    if "list" in node:
        return [_decode(v, archive) for v in node["list"]]
    if "tuple" in node:
        return tuple(_decode(v, archive) for v in node["tuple"])
    if "value" in node:
        return node["value"]
    raise ValueError(f"unknown node {node!r}")


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


def load(path):
    """Read a state written by ``save``; arrays come back as NumPy arrays on the host.

    Raises FileNotFoundError when ``path`` does not exist, and ValueError naming ``path`` when
    it is not a readable tinynet state file (corrupt, truncated, or some other format).
    """
    path = os.fspath(path)
    if not os.path.exists(path):
        raise FileNotFoundError(f"load: no such file: {path!r}")
    with open(path, "rb") as fh:  # permission and directory errors surface as they are
        try:
            archive = np.load(fh, allow_pickle=False)
            if not hasattr(archive, "files"):
                raise ValueError("it holds a single .npy array, not an .npz archive")
            with archive:
                if _META not in archive.files:
                    raise ValueError(f"it has no {_META!r} entry, so it was not written by tinynet.save")
                meta = json.loads(archive[_META].tobytes().decode("utf-8"))
                if meta.get("format") != FORMAT or meta.get("version") != VERSION:
                    raise ValueError(f"format {meta.get('format')!r} version {meta.get('version')!r} is not "
                                     f"{FORMAT!r} version {VERSION}")
                return _decode(meta["tree"], archive)
        except (ValueError, OSError, EOFError, KeyError, TypeError, AttributeError, zipfile.BadZipFile) as e:
            raise ValueError(f"load: {path!r} is not a readable tinynet state file: "
                             f"{type(e).__name__}: {e}") from e
