"""PyTorch's numbers for the parity tests, with or without torch.

A parity test asks for torch's result of one case and compares its own with it::

    def reference(torch):                        # runs only where torch imports
        tx = torch.tensor(x, requires_grad=True)
        ty = torch.nn.functional.conv1d(tx, torch.tensor(w), stride=3)
        ty.backward(torch.tensor(gy))
        return [ty.detach().numpy(), tx.grad.numpy()]

    ty, gx = torch_reference("conv", "conv1d stride=3", reference, x, w, gy)

Where torch imports, ``reference(torch)`` runs live. Where it does not (CI: the ``[dev]`` extra
has no torch), the result comes from ``tests/fixtures/torch/<file>.json``, written by
``tests/fixtures/make_torch_fixtures.py`` from the same functions. Either way the values pass
through the same JSON encoding, so a test sees the same types in both places. The inputs
(``x, w, gy`` above) are recorded by a digest: a fixture made from other inputs is refused.

A live run also checks the stored entry: missing or different (beyond float noise) fails with
the command that regenerates the fixtures, so they cannot silently go stale.

``TORCH_REFERENCE=fixtures`` uses the fixtures even where torch imports (to test that path);
``TORCH_REFERENCE=write`` (set by the generator) records every live result.
"""
from __future__ import annotations

import functools
import hashlib
import json
import os
from pathlib import Path

import numpy as np
import pytest

FIXTURES = Path(__file__).parent / "fixtures" / "torch"
REGENERATE = "`python tests/fixtures/make_torch_fixtures.py` (a Python with torch)"
MODE = os.environ.get("TORCH_REFERENCE", "auto")

try:
    import torch
except ImportError:
    torch = None


def torch_reference(file: str, key: str, compute, *inputs):
    """torch's result for case ``key``: ``compute(torch)`` live, else the stored fixture.

    ``compute`` returns numbers, strings, NumPy arrays, or lists/tuples/dicts of them (tuples
    come back as lists). ``inputs`` are what the result depends on (arrays, numbers, ...).
    """
    digest = _digest(inputs)
    path = FIXTURES / f"{file}.json"
    stored = _load(path).get(key)
    if MODE == "fixtures" or torch is None:
        if stored is None:
            pytest.fail(f"no PyTorch fixture for {key!r} in {path.name}: regenerate with {REGENERATE}")
        if stored["inputs"] != digest:
            pytest.fail(f"the inputs of {key!r} differ from those of its fixture in {path.name} (the test or "
                        f"NumPy's random stream changed): regenerate with {REGENERATE}")
        return _decode(stored["value"])
    encoded = _encode(compute(torch))
    if MODE == "write":
        _store(path, key, {"inputs": digest, "value": encoded})
    elif stored is None or stored["inputs"] != digest or not _close(_decode(stored["value"]), _decode(encoded)):
        pytest.fail(f"the PyTorch fixture for {key!r} in {path.name} is missing or stale: "
                    f"regenerate with {REGENERATE}")
    return _decode(encoded)


# -------------------------------------------------------------------- JSON encoding (exact floats)

def _encode(value):
    if isinstance(value, np.ndarray) or (torch is not None and isinstance(value, torch.Tensor)):
        array = np.asarray(value.detach().numpy() if hasattr(value, "detach") else value)
        return {"__array__": array.ravel().tolist(), "shape": list(array.shape), "dtype": str(array.dtype)}
    if isinstance(value, dict):
        return {str(k): _encode(v) for k, v in value.items()}
    if isinstance(value, (list, tuple)):
        return [_encode(v) for v in value]
    if isinstance(value, np.generic):
        return value.item()
    return value


def _decode(value):
    if isinstance(value, dict) and "__array__" in value:
        return np.array(value["__array__"], dtype=value["dtype"]).reshape(value["shape"])
    if isinstance(value, dict):
        return {k: _decode(v) for k, v in value.items()}
    if isinstance(value, list):
        return [_decode(v) for v in value]
    return value


def _close(a, b) -> bool:
    """Equal structure, and numbers equal up to float noise (another torch build may round a
    conv differently in the last bits; the tests' own tolerances judge the rest)."""
    if isinstance(a, np.ndarray) or isinstance(b, np.ndarray):
        return (isinstance(a, np.ndarray) and isinstance(b, np.ndarray) and a.shape == b.shape
                and a.dtype == b.dtype and np.allclose(a, b, rtol=1e-9, atol=1e-12, equal_nan=True))
    if isinstance(a, dict) or isinstance(b, dict):
        return isinstance(a, dict) and isinstance(b, dict) and a.keys() == b.keys() and all(
            _close(a[k], b[k]) for k in a)
    if isinstance(a, list) or isinstance(b, list):
        return isinstance(a, list) and isinstance(b, list) and len(a) == len(b) and all(map(_close, a, b))
    if isinstance(a, float) or isinstance(b, float):
        return bool(np.isclose(a, b, rtol=1e-9, atol=1e-12, equal_nan=True))
    return a == b


def _digest(inputs) -> str:
    h = hashlib.sha256()
    for x in inputs:
        if isinstance(x, np.ndarray):
            h.update(f"{x.dtype}{x.shape}".encode())
            h.update(np.ascontiguousarray(x).tobytes())
        else:
            h.update(repr(x).encode())
    return h.hexdigest()[:16]


# -------------------------------------------------------------------- the fixture files

def _load(path: Path) -> dict:
    if not path.exists():
        return {}
    return _parse(path, path.stat().st_mtime_ns)


@functools.lru_cache(maxsize=8)
def _parse(path: Path, mtime_ns: int) -> dict:
    """The cases of a fixture file, parsed once per version of the file (the key holds its mtime)."""
    return json.loads(path.read_text(encoding="utf-8"))["cases"]


def _store(path: Path, key: str, entry: dict) -> None:
    cases = {**_load(path), key: entry}
    data = {"made_by": "tests/fixtures/make_torch_fixtures.py", "torch": torch.__version__,
            "cases": dict(sorted(cases.items()))}
    path.parent.mkdir(parents=True, exist_ok=True)
    tmp = path.with_suffix(".json.tmp")
    tmp.write_text(json.dumps(data, separators=(",", ":")) + "\n", encoding="utf-8")
    os.replace(tmp, path)
