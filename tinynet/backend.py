"""Array backend: NumPy on 'cpu', CuPy on 'cuda'.

This is the only module that imports CuPy. Everything else asks it for the array
module (``xp``) that goes with an array or a device, and for the few shims where
NumPy and CuPy differ (scatter-add, stride tricks, host transfers).
"""
from __future__ import annotations

import os

import numpy as np

try:  # CuPy is optional: tinynet runs on NumPy alone.
    import cupy as _cupy
except Exception:  # ImportError, or a CuPy install without a working CUDA runtime
    _cupy = None

DEVICES = ("cpu", "cuda")


def cuda_available() -> bool:
    """True when CuPy imports and sees at least one CUDA device."""
    if _cupy is None:
        return False
    try:
        return _cupy.cuda.runtime.getDeviceCount() > 0
    except Exception:
        return False


def default_device() -> str:
    """The device new tensors go to: ``$TINYNET_DEVICE`` if set, else 'cpu'."""
    return check_device(os.environ.get("TINYNET_DEVICE", "cpu"), name="TINYNET_DEVICE")


def check_device(device, name: str = "device") -> str:
    """Validate a device name and return it normalised ('cpu' or 'cuda')."""
    if device is None:
        return default_device()
    if not isinstance(device, str):
        raise TypeError(f"{name} must be 'cpu' or 'cuda', got {device!r} of type {type(device).__name__}")
    dev = device.strip().lower()
    if dev.startswith("cuda:"):  # accept 'cuda:0' for familiarity; one GPU only
        dev = "cuda"
    if dev not in DEVICES:
        raise ValueError(f"{name}={device!r} is not a device; use 'cpu' or 'cuda'")
    if dev == "cuda" and not cuda_available():
        why = "CuPy is not installed" if _cupy is None else "CuPy found no CUDA device"
        raise ValueError(
            f"{name}='cuda' was requested but {why}. Install the CuPy wheel that matches your CUDA "
            "toolkit (for example `pip install cupy-cuda12x` for CUDA 12.x, see "
            "https://docs.cupy.dev/en/stable/install.html), or use device='cpu'."
        )
    return dev


def xp_for_device(device: str):
    """The array module for a validated device name."""
    return _cupy if device == "cuda" else np


def get_array_module(array):
    """numpy or cupy, whichever ``array`` belongs to."""
    if _cupy is not None and isinstance(array, _cupy.ndarray):
        return _cupy
    return np


def device_of(array) -> str:
    return "cuda" if _cupy is not None and isinstance(array, _cupy.ndarray) else "cpu"


def to_device(array, device: str):
    """Move an array to ``device`` (no copy when it is already there)."""
    if device == "cuda":
        return _cupy.asarray(array)
    if _cupy is not None and isinstance(array, _cupy.ndarray):
        return _cupy.asnumpy(array)
    return np.asarray(array)


def to_numpy(array) -> np.ndarray:
    return to_device(array, "cpu")


def scatter_add(target, indices, values) -> None:
    """``target[indices] += values`` where repeated indices accumulate (in place)."""
    if get_array_module(target) is np:
        np.add.at(target, indices, values)
    else:
        import cupyx

        cupyx.scatter_add(target, indices, values)


def as_strided(array, shape, strides):
    """A strided view of ``array`` (read-only use only: views overlap)."""
    if get_array_module(array) is np:
        return np.lib.stride_tricks.as_strided(array, shape=shape, strides=strides, writeable=False)
    return _cupy.lib.stride_tricks.as_strided(array, shape=shape, strides=strides)


def host_random(rng: np.random.Generator, shape, device: str):
    """Uniform [0, 1) float32 numbers drawn on the host with ``rng``, then moved to ``device``.

    Drawing on the host keeps runs bit-identical between CPU and GPU for the same seed.
    """
    return to_device(rng.random(shape, dtype=np.float32), device)
