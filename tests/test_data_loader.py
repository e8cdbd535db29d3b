"""Dataset, ArrayDataset and DataLoader: batching, shuffling, epochs, endless iteration, errors."""
import numpy as np
import pytest

from tinynet.data import ArrayDataset, DataLoader, Dataset, Split


def make(n=10, features=3):
    x = np.arange(n * features, dtype=np.float32).reshape(n, features)
    return ArrayDataset(x, np.arange(n))


class ListDataset(Dataset):
    """A dataset without arrays, served sample by sample (the generic get_batch path)."""

    def __init__(self, n):
        self.items = [(np.full(2, i, dtype=np.float32), i) for i in range(n)]

    def __len__(self):
        return len(self.items)

    def __getitem__(self, i):
        return self.items[i]


@pytest.mark.parametrize("n, batch_size, drop_last, sizes", [
    (10, 3, False, [3, 3, 3, 1]),
    (10, 3, True, [3, 3, 3]),
    (10, 5, False, [5, 5]),
    (10, 5, True, [5, 5]),
    (10, 10, True, [10]),
    (10, 64, False, [10]),
    (1, 1, False, [1]),
])
def test_batch_sizes_and_len(n, batch_size, drop_last, sizes):
    loader = DataLoader(make(n), batch_size, drop_last=drop_last)
    assert len(loader) == len(sizes)
    assert [len(y) for _, y in loader] == sizes


@pytest.mark.parametrize("dataset", [make(7), ListDataset(7)], ids=["array", "generic"])
def test_unshuffled_epoch_is_the_dataset_in_order(dataset):
    batches = list(DataLoader(dataset, 3))
    y = np.concatenate([b[1] for b in batches])
    np.testing.assert_array_equal(y, np.arange(7))
    x0 = batches[0][0]
    assert x0.shape[0] == 3 and x0.dtype == np.float32
    np.testing.assert_array_equal(x0[1], dataset[1][0])


def test_batches_pair_inputs_with_their_labels():
    loader = DataLoader(make(10), 4, shuffle=True, seed=3)
    for x, y in loader:
        np.testing.assert_array_equal(x[:, 0], 3 * y)  # row i of x starts with 3 * i


def test_shuffled_epoch_is_a_permutation_and_epochs_differ():
    loader = DataLoader(make(50), 8, shuffle=True, seed=0)
    first = np.concatenate([y for _, y in loader])
    second = np.concatenate([y for _, y in loader])
    np.testing.assert_array_equal(np.sort(first), np.arange(50))
    np.testing.assert_array_equal(np.sort(second), np.arange(50))
    assert not np.array_equal(first, np.arange(50))
    assert not np.array_equal(first, second)
    assert loader.epoch == 2


def test_same_seed_same_batches_and_epochs_replay():
    a = DataLoader(make(20), 6, shuffle=True, seed=42)
    b = DataLoader(make(20), 6, shuffle=True, seed=42)
    runs_a = [np.concatenate([y for _, y in a]) for _ in range(3)]
    runs_b = [np.concatenate([y for _, y in b]) for _ in range(3)]
    for ra, rb in zip(runs_a, runs_b):
        np.testing.assert_array_equal(ra, rb)
    b.epoch = 1  # replay the second epoch on its own
    np.testing.assert_array_equal(np.concatenate([y for _, y in b]), runs_a[1])
    np.testing.assert_array_equal(a.order(2), runs_a[2])
    c = DataLoader(make(20), 6, shuffle=True, seed=43)
    assert not np.array_equal(np.concatenate([y for _, y in c]), runs_a[0])


def test_generator_gives_reproducible_order():
    a = DataLoader(make(20), 5, shuffle=True, rng=np.random.default_rng(7))
    b = DataLoader(make(20), 5, shuffle=True, rng=np.random.default_rng(7))
    assert a.seed == b.seed
    np.testing.assert_array_equal(a.order(0), b.order(0))


def test_take_crosses_epochs_and_endless_continues():
    loader = DataLoader(make(10), 4)  # 3 batches per epoch: 4, 4, 2
    sizes = [len(y) for _, y in loader.take(7)]
    assert sizes == [4, 4, 2, 4, 4, 2, 4]
    assert loader.epoch == 3
    assert list(loader.take(0)) == []
    endless = loader.endless()
    labels = [next(endless)[1] for _ in range(4)]
    np.testing.assert_array_equal(labels[3], [0, 1, 2, 3])  # a new epoch after 3 batches


def test_transforms_get_the_loader_rng_and_do_not_change_the_order():
    seen = []

    def record(x, rng):
        seen.append(rng.integers(1 << 30))
        return x * 2

    plain = DataLoader(make(12), 5, shuffle=True, seed=1)
    both = DataLoader(ArrayDataset(make(12).x, make(12).y, transform=record), 5, shuffle=True,
                      seed=1, transform=lambda x, rng: x + 1)
    for (xp, yp), (xt, yt) in zip(plain, both):
        np.testing.assert_array_equal(yp, yt)
        np.testing.assert_array_equal(xt, 2 * xp + 1)  # dataset transform first, then the loader's
    first = list(seen)
    seen.clear()
    both.epoch = 0
    list(both)
    assert seen == first  # the same draws when an epoch is replayed


def test_getitem_is_raw_sample():
    ds = ArrayDataset(np.ones((3, 2)), np.array([5, 6, 7]), transform=lambda x, rng: x * 0)
    x, y = ds[1]
    assert y == 6 and x.tolist() == [1.0, 1.0]


@pytest.mark.parametrize("kwargs, error, match", [
    (dict(batch_size=0), ValueError, "batch_size must be > 0"),
    (dict(batch_size=-3), ValueError, "batch_size must be > 0"),
    (dict(batch_size=2.5), TypeError, "batch_size must be an int"),
    (dict(batch_size=True), TypeError, "batch_size must be an int"),
    (dict(batch_size=11, drop_last=True), ValueError, "leaves no batch"),
    (dict(batch_size=2, seed=1, rng=np.random.default_rng(1)), ValueError, "either seed or rng"),
    (dict(batch_size=2, seed=-1), ValueError, "seed must be an int >= 0"),
    (dict(batch_size=2, rng=np.random.RandomState(0)), TypeError, "numpy Generator"),
])
def test_bad_loader_arguments(kwargs, error, match):
    with pytest.raises(error, match=match):
        DataLoader(make(10), **kwargs)


def test_empty_dataset_is_an_error():
    with pytest.raises(ValueError, match="dataset is empty"):
        DataLoader(ArrayDataset(np.zeros((0, 3)), np.zeros(0)), 4)


@pytest.mark.parametrize("x, y, match", [
    (np.zeros((4, 2)), np.zeros(3), "x has 4 samples but y has 3"),
    (np.float32(1.0), np.zeros(1), "leading sample axis"),
])
def test_bad_array_dataset(x, y, match):
    with pytest.raises(ValueError, match=match):
        ArrayDataset(x, y)


def test_take_rejects_negative():
    with pytest.raises(ValueError, match="num_batches"):
        DataLoader(make(4), 2).take(-1)


def test_split_repr_and_num_classes():
    s = Split(np.zeros((4, 1, 2, 2), np.uint8), np.zeros(4, np.int64), np.zeros((1, 1, 2, 2), np.uint8),
              np.zeros(1, np.int64), ("a", "b"), "tiny")
    assert s.num_classes == 2
    assert repr(s) == ("Split('tiny', x_train=uint8[4, 1, 2, 2], y_train=int64[4], "
                       "x_test=uint8[1, 1, 2, 2], y_test=int64[1], 2 classes)")
