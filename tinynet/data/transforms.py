"""Batch transforms for images, vectorised over the batch, plus normalisation helpers.

A transform is called as ``t(x, rng)`` on a whole batch ``x`` of shape (N, C, H, W) (or (N, H, W)) and
returns a new batch. Random transforms draw only from the numpy Generator `rng` they are given (the
DataLoader passes its own), never from global state; deterministic ones ignore it.
"""
from __future__ import annotations

from typing import Sequence

import numpy as np
from numpy.lib.stride_tricks import sliding_window_view


def _need_rng(rng, who: str) -> np.random.Generator:
    if not isinstance(rng, np.random.Generator):
        raise TypeError(f"{who} is random and needs a numpy Generator as rng, got {rng!r}; "
                        "call it as t(x, numpy.random.default_rng(seed)) (a DataLoader passes its own)")
    return rng


def _need_images(x: np.ndarray, who: str) -> None:
    if x.ndim < 3:
        raise ValueError(f"{who}: expected a batch of images (N, H, W) or (N, C, H, W), "
                         f"got shape {x.shape}")


class Normalize:
    """``(x - mean) / std`` in float32; `mean` and `std` are scalars or one value per channel (axis 1)."""

    def __init__(self, mean, std):
        self.mean = np.asarray(mean, dtype=np.float32)
        self.std = np.asarray(std, dtype=np.float32)
        if self.mean.ndim > 1 or self.mean.shape != self.std.shape:
            raise ValueError(f"Normalize: mean and std must be scalars or 1-D of the same length, "
                             f"got shapes {self.mean.shape} and {self.std.shape}")
        if not np.all(np.isfinite(self.mean)):
            raise ValueError(f"Normalize: mean must be finite, got {mean!r}")
        if not np.all(np.isfinite(self.std) & (self.std > 0)):
            raise ValueError(f"Normalize: std must be finite and > 0 (a zero std would give inf/NaN), "
                             f"got {std!r}")

    def __call__(self, x: np.ndarray, rng=None) -> np.ndarray:
        x = np.asarray(x, dtype=np.float32)
        mean, std = self.mean, self.std
        if mean.ndim == 1:
            if x.ndim < 2 or x.shape[1] != len(mean):
                raise ValueError(f"Normalize: {len(mean)} per-channel values but the batch has shape "
                                 f"{x.shape}; channels must be axis 1")
            shape = (len(mean),) + (1,) * (x.ndim - 2)  # broadcast over the axes after the channels
            mean, std = mean.reshape(shape), std.reshape(shape)
        return (x - mean) / std

    def __repr__(self) -> str:
        return f"Normalize(mean={self.mean.tolist()}, std={self.std.tolist()})"


class RandomCrop:
    """Zero-pad H and W by `padding` on every side, then cut a random `size` window from each image.

    CIFAR-10's usual augmentation is ``RandomCrop(32, padding=4)``. `size` is an int or (h, w).
    """

    def __init__(self, size, padding: int = 0):
        h, w = (size, size) if np.isscalar(size) else tuple(size)
        if not all(isinstance(v, (int, np.integer)) and v > 0 for v in (h, w)):
            raise ValueError(f"RandomCrop: size must be a positive int or (h, w), got {size!r}")
        if not isinstance(padding, (int, np.integer)) or padding < 0:
            raise ValueError(f"RandomCrop: padding must be an int >= 0, got {padding!r}")
        self.size, self.padding = (int(h), int(w)), int(padding)

    def __call__(self, x: np.ndarray, rng: np.random.Generator | None = None) -> np.ndarray:
        rng = _need_rng(rng, "RandomCrop")
        x = np.asarray(x)
        _need_images(x, "RandomCrop")
        p, (h, w) = self.padding, self.size
        pad = [(0, 0)] * (x.ndim - 2) + [(p, p), (p, p)]
        padded = np.pad(x, pad) if p else x
        H, W = padded.shape[-2:]
        if h > H or w > W:
            raise ValueError(f"RandomCrop: crop {self.size} is larger than the padded images {(H, W)}")
        n = len(x)
        top = rng.integers(0, H - h + 1, size=n)
        left = rng.integers(0, W - w + 1, size=n)
        # windows[n, ..., i, j] is the (h, w) patch whose corner is (i, j); pick one per image
        windows = sliding_window_view(padded, (h, w), axis=(-2, -1))
        middle = (slice(None),) * (x.ndim - 3)  # the channel axis, if any
        return windows[(np.arange(n), *middle, top, left)]

    def __repr__(self) -> str:
        return f"RandomCrop(size={self.size}, padding={self.padding})"


class RandomHorizontalFlip:
    """Mirror each image left-right (last axis) with probability `p`."""

    def __init__(self, p: float = 0.5):
        if not 0.0 <= p <= 1.0:
            raise ValueError(f"RandomHorizontalFlip: p must be in [0, 1], got {p!r}")
        self.p = float(p)

    def __call__(self, x: np.ndarray, rng: np.random.Generator | None = None) -> np.ndarray:
        rng = _need_rng(rng, "RandomHorizontalFlip")
        x = np.asarray(x)
        _need_images(x, "RandomHorizontalFlip")
        flip = rng.random(len(x)) < self.p
        out = x.copy()
        out[flip] = x[flip][..., ::-1]
        return out

    def __repr__(self) -> str:
        return f"RandomHorizontalFlip(p={self.p})"


class Compose:
    """Apply `transforms` in order, all drawing from the same Generator."""

    def __init__(self, transforms: Sequence):
        self.transforms = list(transforms)
        for t in self.transforms:
            if not callable(t):
                raise TypeError(f"Compose: {t!r} is not callable")

    def __call__(self, x: np.ndarray, rng: np.random.Generator | None = None) -> np.ndarray:
        for t in self.transforms:
            x = t(x, rng)
        return x

    def __repr__(self) -> str:
        return f"Compose({self.transforms})"


def to_float(x: np.ndarray, scale: float = 255.0) -> np.ndarray:
    """`x` as float32 divided by `scale`: uint8 pixels 0..255 become 0..1."""
    return np.asarray(x, dtype=np.float32) / np.float32(scale)


def channel_stats(x: np.ndarray, axis: int | None = 1, chunk: int = 4096) -> tuple[np.ndarray, np.ndarray]:
    """Mean and (population) std of `x` per channel along `axis` (all values when axis is None).

    Use the training set only, then ``Normalize(mean, std)``. For uint8 images the statistics are in
    pixel units; divide both by 255 to use them after `to_float`. Computed in float64, in chunks of
    `chunk` samples and in two passes (mean first, then the squared deviations), so it needs little
    memory and does not lose precision. Returns float32 arrays of shape (C,) (or scalars).
    """
    x = np.asarray(x)
    if x.size == 0:
        raise ValueError("channel_stats: x is empty")
    if axis is not None:
        axis = axis % x.ndim
        if axis == 0:
            raise ValueError("channel_stats: axis 0 is the sample axis; channels are usually axis 1")
    reduce = tuple(a for a in range(x.ndim) if a != axis)
    count = x.size // (x.shape[axis] if axis is not None else 1)
    keep = [1 if a in reduce else x.shape[a] for a in range(x.ndim)]

    total = np.zeros(keep)
    for start in range(0, len(x), chunk):
        total += x[start:start + chunk].sum(axis=reduce, dtype=np.float64, keepdims=True)
    mean = total / count
    squares = np.zeros(keep)
    for start in range(0, len(x), chunk):
        squares += np.square(x[start:start + chunk] - mean).sum(axis=reduce, keepdims=True)
    std = np.sqrt(squares / count)
    shape = (-1,) if axis is not None else ()
    return mean.reshape(shape).astype(np.float32), std.reshape(shape).astype(np.float32)
