"""tinynet.data: datasets, loaders and transforms on NumPy arrays (no autograd, no tensors).

    from tinynet.data import load_mnist1d, ArrayDataset, DataLoader
    split = load_mnist1d()                    # embedded copy: no network, only NumPy
    loader = DataLoader(ArrayDataset(split.x_train, split.y_train), batch_size=100,
                        shuffle=True, seed=0)
    for x, y in loader.take(8000):            # step-based training across epochs
        ...                                   # x: (100, 40) float32, y: (100,) int64

Every loader returns a `Split` (x_train, y_train, x_test, y_test, classes). Image sets are
(N, C, H, W) uint8; see docs/data.md for where the files are searched and how they are checked.
"""
from .cifar import load_cifar10
from .dataset import ArrayDataset, DataLoader, Dataset, Split
from .download import cache_dir, download_dir, search_dirs
from .idx import decode_idx, encode_idx, read_idx
from .mnist import load_fashion_mnist, load_mnist
from .mnist1d import load_mnist1d
from .toy import SaddleToy, descend
from .transforms import (Compose, Normalize, RandomCrop, RandomHorizontalFlip, channel_stats,
                         to_float)

__all__ = [
    "Dataset", "ArrayDataset", "DataLoader", "Split",
    "Normalize", "RandomCrop", "RandomHorizontalFlip", "Compose", "to_float", "channel_stats",
    "load_mnist1d", "load_mnist", "load_fashion_mnist", "load_cifar10",
    "read_idx", "decode_idx", "encode_idx", "search_dirs", "download_dir", "cache_dir",
    "SaddleToy", "descend",
]
