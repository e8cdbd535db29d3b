"""MNIST and Fashion-MNIST from the official IDX ``.gz`` files.

Checksums. Each file has two official md5 values: of the ``.gz`` file as published, and of its
decompressed contents. A downloaded ``.gz`` must match the first (checked before it is renamed into
place). Every file that is *read*, wherever it was found, must match the second: that is what matters
for the data, and it also accepts copies that were re-compressed, like the ones Debian's
``dataset-fashion-mnist`` package installs (their ``.gz`` md5 differs, their contents do not), or
uncompressed copies. ``verify=False`` skips both checks (for your own files in the same format).

Sizes. A file's header is read before its data, and the size it declares is checked before any
memory is allocated: against the official size when verifying, else against ``max_bytes``
(`tinynet.data.download.MAX_BYTES`, 1 GiB, by default). So a small, hostile ``.gz`` cannot inflate
into a large allocation before its checksum fails.
"""
from __future__ import annotations

from dataclasses import dataclass
from pathlib import Path

import math

import numpy as np

from .dataset import Split
from .download import MAX_BYTES, find_or_download
from .idx import read_idx


@dataclass(frozen=True)
class IdxFile:
    """One official IDX file: its name without ``.gz``, the md5 of the .gz and of the contents, and
    the shape of its array (all official files hold uint8)."""
    name: str
    gz_md5: str | None
    raw_md5: str | None
    shape: tuple[int, ...] | None = None


@dataclass(frozen=True)
class IdxDataset:
    """Where to find an MNIST-like dataset and how to check it."""
    title: str                      # for messages, e.g. "Fashion-MNIST"
    folder: str                     # <name> in the search folders, e.g. "fashion-mnist"
    mirrors: tuple[str, ...]        # base URLs, tried in order; the file name is appended
    train_images: IdxFile
    train_labels: IdxFile
    test_images: IdxFile
    test_labels: IdxFile
    classes: tuple[str, ...]
    image_shape: tuple[int, int] = (28, 28)
    ways: tuple[str, ...] = ()      # extra ways to get the files, for the not-found message


MNIST = IdxDataset(
    title="MNIST", folder="mnist",
    # LeCun's page is the official source; the S3 copy is the mirror torchvision uses (same files)
    mirrors=("http://yann.lecun.com/exdb/mnist/", "https://ossci-datasets.s3.amazonaws.com/mnist/"),
    train_images=IdxFile("train-images-idx3-ubyte", "f68b3c2dcbeaaa9fbdd348bbdeb94873",
                         "6bbc9ace898e44ae57da46a324031adb", (60000, 28, 28)),
    train_labels=IdxFile("train-labels-idx1-ubyte", "d53e105ee54ea40749a09fcbcd1e9432",
                         "a25bea736e30d166cdddb491f175f624", (60000,)),
    test_images=IdxFile("t10k-images-idx3-ubyte", "9fb629c4189551a2d022fa330f9573f3",
                        "2646ac647ad5339dbf082846283269ea", (10000, 28, 28)),
    test_labels=IdxFile("t10k-labels-idx1-ubyte", "ec29112dd5afa0611ce80d1b7f02629c",
                        "27ae3e4e09519cfbb04c329615203637", (10000,)),
    classes=tuple(str(d) for d in range(10)),
)

FASHION_MNIST = IdxDataset(
    title="Fashion-MNIST", folder="fashion-mnist",
    mirrors=("http://fashion-mnist.s3-website.eu-central-1.amazonaws.com/",),
    train_images=IdxFile("train-images-idx3-ubyte", "8d4fb7e6c68d591d4c3dfef9ec88bf0d",
                         "f4a8712d7a061bf5bd6d2ca38dc4d50a", (60000, 28, 28)),
    train_labels=IdxFile("train-labels-idx1-ubyte", "25c81989df183df01b3e8a0aad5dffbe",
                         "9018921c3c673c538a1fc5bad174d6f9", (60000,)),
    test_images=IdxFile("t10k-images-idx3-ubyte", "bef4ecab320f06d8554ea6380940ec79",
                        "8181f5470baa50b63fa0f6fddb340f0a", (10000, 28, 28)),
    test_labels=IdxFile("t10k-labels-idx1-ubyte", "bb300cfdad3c16e7a12a480ee83cd310",
                        "15d484375f8d13e6eb1aabb0c3f46965", (10000,)),
    classes=("T-shirt/top", "Trouser", "Pullover", "Dress", "Coat",
             "Sandal", "Shirt", "Sneaker", "Bag", "Ankle boot"),
    ways=("apt-get install dataset-fashion-mnist   (installs /usr/share/datasets/fashion-mnist/)",),
)


def load_idx_dataset(spec: IdxDataset, root=None, download: bool = False, verify: bool = True,
                     max_bytes: int = MAX_BYTES) -> Split:
    """Load the four IDX files of `spec`; see `load_mnist` for the arguments and the result.

    `max_bytes` caps what one file may unpack to when ``verify=False`` (when verifying, each file
    must declare its official size).
    """
    def get(file: IdxFile) -> tuple[np.ndarray, Path]:
        path = find_or_download(spec.title, spec.folder, file.name + ".gz", alternatives=(file.name,),
                                root=root, mirrors=spec.mirrors, md5=file.gz_md5 if verify else None,
                                download=download, ways=spec.ways)
        official = verify and file.shape is not None
        limit = min(max_bytes, math.prod(file.shape)) if official else max_bytes
        return read_idx(path, max_bytes=limit, md5=file.raw_md5 if verify else None), path

    x_train, y_train = _images_and_labels(spec, get(spec.train_images), get(spec.train_labels))
    x_test, y_test = _images_and_labels(spec, get(spec.test_images), get(spec.test_labels))
    return Split(x_train, y_train, x_test, y_test, spec.classes, spec.title)


def _images_and_labels(spec: IdxDataset, images, labels) -> tuple[np.ndarray, np.ndarray]:
    """Check shapes, dtypes and label range; return (N, 1, H, W) uint8 images and (N,) int64 labels."""
    (x, x_path), (y, y_path) = images, labels
    if x.dtype != np.uint8 or x.ndim != 3 or x.shape[1:] != spec.image_shape:
        raise ValueError(f"{x_path}: expected uint8 images of shape (N, {spec.image_shape[0]}, "
                         f"{spec.image_shape[1]}), got {x.dtype} {x.shape}; is this the right file?")
    if y.dtype != np.uint8 or y.ndim != 1:
        raise ValueError(f"{y_path}: expected a 1-D uint8 label file, got {y.dtype} {y.shape}; "
                         "is this the right file?")
    if len(x) != len(y):
        raise ValueError(f"{x_path} has {len(x)} images but {y_path} has {len(y)} labels; "
                         "the two files do not belong together")
    if y.size and y.max() >= len(spec.classes):
        raise ValueError(f"{y_path}: label {int(y.max())} is out of range 0..{len(spec.classes) - 1}")
    return x[:, None], y.astype(np.int64)


def load_mnist(root=None, download: bool = False, verify: bool = True) -> Split:
    """MNIST: 60000 train / 10000 test images, (N, 1, 28, 28) uint8 (0..255), labels (N,) int64.

    Files are searched in `root`, $TINYNET_DATA/mnist, /usr/share/datasets/mnist and
    ~/.cache/tinynet/mnist (see tinynet.data.download); missing ones are fetched only when
    ``download=True``. ``verify=False`` skips the md5 checks. Scale with `to_float`.
    """
    return load_idx_dataset(MNIST, root, download, verify)


def load_fashion_mnist(root=None, download: bool = False, verify: bool = True) -> Split:
    """Fashion-MNIST (Xiao et al. 2017): same layout and arguments as `load_mnist`.

    ``apt-get install dataset-fashion-mnist`` puts the official files under
    /usr/share/datasets/fashion-mnist, which is searched.
    """
    return load_idx_dataset(FASHION_MNIST, root, download, verify)
