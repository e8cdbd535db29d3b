"""Datasets and a mini-batch loader on NumPy arrays.

A loader yields ``(x, y)`` NumPy batches; turning them into tensors on the right device is the training
code's job, so this package needs nothing but NumPy.

Randomness: every random choice a loader makes (the order of each epoch, the draws of random
transforms) comes from its `seed`. Epoch ``e`` is shuffled by ``default_rng([seed, e, 0])`` and its
transforms draw from ``default_rng([seed, e, 1])``, so

* the same seed gives the same batches, epoch after epoch;
* each epoch has a new order, yet any epoch can be replayed on its own (set ``loader.epoch``);
* switching augmentation on or off does not change the order of the samples.
"""
from __future__ import annotations

import itertools
import math
from dataclasses import dataclass
from typing import Callable, Iterator

import numpy as np

Batch = tuple[np.ndarray, np.ndarray]
Transform = Callable[[np.ndarray, "np.random.Generator | None"], np.ndarray]


@dataclass(frozen=True, eq=False)
class Split:
    """What every loader in tinynet.data returns: a train and a test split, and the class names.

    x_train: (N, ...) inputs, y_train: (N,) int64 labels; likewise x_test, y_test.
    """
    x_train: np.ndarray
    y_train: np.ndarray
    x_test: np.ndarray
    y_test: np.ndarray
    classes: tuple[str, ...]
    name: str = ""

    @property
    def num_classes(self) -> int:
        return len(self.classes)

    def __repr__(self) -> str:
        def desc(a: np.ndarray) -> str:
            return f"{a.dtype}{list(a.shape)}"
        return (f"Split({self.name!r}, x_train={desc(self.x_train)}, y_train={desc(self.y_train)}, "
                f"x_test={desc(self.x_test)}, y_test={desc(self.y_test)}, "
                f"{self.num_classes} classes)")


class Dataset:
    """A sized collection of ``(x, y)`` samples.

    Subclasses implement ``__len__`` and ``__getitem__(i) -> (x_i, y_i)``. The loader asks for whole
    batches through `get_batch`; the default stacks samples one by one, and subclasses that hold
    arrays (ArrayDataset) override it with a single fancy-indexing step.
    """
    transform: Transform | None = None

    def __len__(self) -> int:
        raise NotImplementedError

    def __getitem__(self, index: int) -> tuple:
        raise NotImplementedError

    def get_batch(self, indices: np.ndarray, rng: np.random.Generator | None = None) -> Batch:
        """The samples at `indices` stacked into ``(x, y)``, with the dataset's transform applied."""
        xs, ys = zip(*(self[int(i)] for i in indices))
        return self._transformed(np.stack(xs), np.asarray(ys), rng)

    def _transformed(self, x: np.ndarray, y: np.ndarray, rng) -> Batch:
        return (x if self.transform is None else self.transform(x, rng)), y


class ArrayDataset(Dataset):
    """Inputs `x` of shape (N, ...) and labels/targets `y` of shape (N, ...), held in memory.

    `transform(x_batch, rng)` is applied to each batch of inputs (never to `y`); ``ds[i]`` returns the
    raw, untransformed sample.
    """

    def __init__(self, x, y, transform: Transform | None = None):
        x, y = np.asarray(x), np.asarray(y)
        if x.ndim == 0 or y.ndim == 0:
            raise ValueError(f"ArrayDataset: x and y need a leading sample axis, got shapes "
                             f"{x.shape} and {y.shape}")
        if len(x) != len(y):
            raise ValueError(f"ArrayDataset: x has {len(x)} samples but y has {len(y)}; "
                             "they must have the same length")
        self.x, self.y, self.transform = x, y, transform

    def __len__(self) -> int:
        return len(self.x)

    def __getitem__(self, index: int) -> tuple:
        return self.x[index], self.y[index]

    def get_batch(self, indices: np.ndarray, rng: np.random.Generator | None = None) -> Batch:
        return self._transformed(self.x[indices], self.y[indices], rng)


class DataLoader:
    """Mini-batches ``(x, y)`` of a dataset, as NumPy arrays.

    ``for x, y in loader`` runs one epoch (``len(loader)`` batches); ``loader.endless()`` and
    ``loader.take(n)`` run on across epochs for step-based training. With ``shuffle=True`` each epoch
    has its own order; see the module docstring for how the randomness is derived from `seed`.

    Args:
        dataset: a Dataset (use ArrayDataset(x, y) for arrays).
        batch_size: samples per batch, > 0. The last batch of an epoch is smaller unless `drop_last`.
        shuffle: draw a new random order every epoch.
        drop_last: skip the last, incomplete batch of each epoch.
        seed: a non-negative int; or pass `rng`, a numpy Generator, from which the seed is drawn.
            With neither, a fresh seed comes from the OS (kept in ``loader.seed`` for replaying).
        transform: ``transform(x_batch, rng) -> x_batch``, applied after the dataset's own transform.
    """

    def __init__(self, dataset: Dataset, batch_size: int, shuffle: bool = False,
                 drop_last: bool = False, seed: int | None = None,
                 rng: np.random.Generator | None = None, transform: Transform | None = None):
        if isinstance(batch_size, bool) or not isinstance(batch_size, (int, np.integer)):
            raise TypeError(f"DataLoader: batch_size must be an int, got {batch_size!r}")
        if batch_size <= 0:
            raise ValueError(f"DataLoader: batch_size must be > 0, got {batch_size}")
        n = len(dataset)
        if n == 0:
            raise ValueError("DataLoader: the dataset is empty; there is nothing to load")
        if drop_last and batch_size > n:
            raise ValueError(f"DataLoader: drop_last=True with batch_size={batch_size} larger than "
                             f"the dataset ({n} samples) leaves no batch; lower batch_size")
        self.dataset, self.batch_size = dataset, int(batch_size)
        self.shuffle, self.drop_last, self.transform = bool(shuffle), bool(drop_last), transform
        self.seed = _resolve_seed(seed, rng)
        self.epoch = 0  # the next epoch to run; set it to replay or resume

    def __len__(self) -> int:
        n = len(self.dataset)
        return n // self.batch_size if self.drop_last else math.ceil(n / self.batch_size)

    def order(self, epoch: int) -> np.ndarray:
        """The sample indices of `epoch`, in the order they are served."""
        n = len(self.dataset)
        if not self.shuffle:
            return np.arange(n)
        return np.random.default_rng([self.seed, epoch, 0]).permutation(n)

    def __iter__(self) -> Iterator[Batch]:
        epoch = self.epoch
        self.epoch += 1
        order = self.order(epoch)
        aug_rng = np.random.default_rng([self.seed, epoch, 1])
        for b in range(len(self)):
            indices = order[b * self.batch_size:(b + 1) * self.batch_size]
            x, y = self.dataset.get_batch(indices, aug_rng)
            if self.transform is not None:
                x = self.transform(x, aug_rng)
            yield x, y

    def endless(self) -> Iterator[Batch]:
        """Batches forever, epoch after epoch (each epoch reshuffled)."""
        while True:
            yield from self

    def take(self, num_batches: int) -> Iterator[Batch]:
        """Exactly `num_batches` batches, crossing epoch boundaries as needed."""
        if isinstance(num_batches, bool) or not isinstance(num_batches, (int, np.integer)) \
                or num_batches < 0:
            raise ValueError(f"DataLoader.take: num_batches must be an int >= 0, got {num_batches!r}")
        return itertools.islice(self.endless(), int(num_batches))


def _resolve_seed(seed: int | None, rng: np.random.Generator | None) -> int:
    if seed is not None and rng is not None:
        raise ValueError("DataLoader: pass either seed or rng, not both")
    if rng is not None:
        if not isinstance(rng, np.random.Generator):
            raise TypeError(f"DataLoader: rng must be a numpy Generator, got {type(rng).__name__}; "
                            "make one with numpy.random.default_rng(seed)")
        return int(rng.integers(2**63))
    if seed is None:
        return int(np.random.SeedSequence().entropy)
    if isinstance(seed, bool) or not isinstance(seed, (int, np.integer)) or seed < 0:
        raise ValueError(f"DataLoader: seed must be an int >= 0, got {seed!r}")
    return int(seed)

