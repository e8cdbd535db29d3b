"""Batch transforms and normalisation helpers, against hand-computed values and a per-image loop."""
import numpy as np
import pytest

from tinynet.data import (Compose, Normalize, RandomCrop, RandomHorizontalFlip, channel_stats,
                          to_float)


def images(n=5, c=2, h=4, w=6):
    return np.arange(n * c * h * w, dtype=np.uint8).reshape(n, c, h, w)


def test_normalize_per_channel_hand_values():
    x = np.array([[[[0, 2]], [[10, 30]]]], dtype=np.uint8)  # (1, 2, 1, 2)
    out = Normalize([1.0, 20.0], [1.0, 10.0])(x)
    assert out.dtype == np.float32
    np.testing.assert_array_equal(out, [[[[-1, 1]], [[-1, 1]]]])


def test_normalize_scalar():
    np.testing.assert_allclose(Normalize(0.5, 0.25)(np.array([[0.0, 1.0]])), [[-2.0, 2.0]])


@pytest.mark.parametrize("mean, std, match", [
    (0.0, 0.0, "std must be finite and > 0"),
    ([0.0, 0.0], [1.0, -1.0], "std must be finite and > 0"),
    (np.nan, 1.0, "mean must be finite"),
    ([0.0, 0.0], [1.0], "same length"),
])
def test_normalize_rejects_bad_statistics(mean, std, match):
    with pytest.raises(ValueError, match=match):
        Normalize(mean, std)


def test_normalize_channel_mismatch():
    with pytest.raises(ValueError, match="channels must be axis 1"):
        Normalize([0.0, 0.0, 0.0], [1.0, 1.0, 1.0])(images(c=2))


@pytest.mark.parametrize("shape, size, padding", [
    ((6, 3, 8, 8), 8, 2),
    ((6, 3, 8, 10), (5, 7), 0),
    ((6, 8, 8), 6, 1),            # no channel axis
    ((4, 2, 3, 5, 5), 4, 1),      # an extra axis before H, W
])
def test_random_crop_matches_a_per_image_reference(shape, size, padding):
    x = np.random.default_rng(0).integers(0, 255, size=shape).astype(np.uint8)
    out = RandomCrop(size, padding)(x, np.random.default_rng(5))
    h, w = (size, size) if np.isscalar(size) else size
    assert out.shape == shape[:-2] + (h, w) and out.dtype == np.uint8
    # replay the same draws and cut each image by hand
    rng = np.random.default_rng(5)
    padded = np.pad(x, [(0, 0)] * (x.ndim - 2) + [(padding, padding)] * 2)
    top = rng.integers(0, padded.shape[-2] - h + 1, size=len(x))
    left = rng.integers(0, padded.shape[-1] - w + 1, size=len(x))
    for i in range(len(x)):
        np.testing.assert_array_equal(out[i], padded[i, ..., top[i]:top[i] + h, left[i]:left[i] + w])


def test_random_crop_without_padding_at_full_size_is_identity():
    x = images()
    np.testing.assert_array_equal(RandomCrop((4, 6))(x, np.random.default_rng(0)), x)


def test_random_crop_pads_with_zeros_and_varies():
    x = np.full((200, 1, 4, 4), 9, dtype=np.uint8)
    out = RandomCrop(4, padding=2)(x, np.random.default_rng(1))
    zeros = (out == 0).sum(axis=(1, 2, 3))
    assert zeros.min() == 0 and zeros.max() > 0  # some crops centred, some shifted into the padding
    assert set(np.unique(out)) <= {0, 9}


@pytest.mark.parametrize("p, expect", [(0.0, "none"), (1.0, "all")])
def test_flip_extremes(p, expect):
    x = images()
    out = RandomHorizontalFlip(p)(x, np.random.default_rng(0))
    np.testing.assert_array_equal(out, x if expect == "none" else x[..., ::-1])


def test_flip_half_flips_whole_images_only():
    x = np.random.default_rng(0).random((400, 2, 3, 5))
    out = RandomHorizontalFlip(0.5)(x, np.random.default_rng(3))
    flipped = np.array([np.array_equal(o, xi[..., ::-1]) for o, xi in zip(out, x)])
    kept = np.array([np.array_equal(o, xi) for o, xi in zip(out, x)])
    assert np.all(flipped ^ kept)
    assert 150 < flipped.sum() < 250
    assert not np.shares_memory(out, x)


def test_compose_order_and_shared_rng():
    t = Compose([lambda x, rng: x + 1, lambda x, rng: x * 10])
    np.testing.assert_array_equal(t(np.array([1, 2]), None), [20, 30])
    aug = Compose([RandomCrop(3, padding=1), RandomHorizontalFlip()])
    x = images(h=3, w=3)
    np.testing.assert_array_equal(aug(x, np.random.default_rng(4)), aug(x, np.random.default_rng(4)))


@pytest.mark.parametrize("transform", [RandomCrop(2), RandomHorizontalFlip()])
def test_random_transforms_need_a_generator(transform):
    with pytest.raises(TypeError, match="numpy Generator"):
        transform(images(), None)


@pytest.mark.parametrize("make, match", [
    (lambda: RandomCrop(0), "size must be a positive int"),
    (lambda: RandomCrop(3, padding=-1), "padding must be an int >= 0"),
    (lambda: RandomHorizontalFlip(1.5), r"p must be in \[0, 1\]"),
])
def test_bad_transform_arguments(make, match):
    with pytest.raises(ValueError, match=match):
        make()


def test_crop_larger_than_image():
    with pytest.raises(ValueError, match="larger than the padded images"):
        RandomCrop(8)(images(), np.random.default_rng(0))


def test_to_float():
    out = to_float(np.array([0, 51, 255], dtype=np.uint8))
    assert out.dtype == np.float32
    np.testing.assert_allclose(out, [0.0, 0.2, 1.0])


def test_channel_stats_hand_values_and_chunking():
    # channel 0 holds 0 and 2 (mean 1, std 1); channel 1 holds 10 and 40 (mean 25, std 15)
    x = np.zeros((4, 2, 1, 2), dtype=np.uint8)
    x[:, 0] = [[0, 2]]
    x[:, 1] = [[10, 40]]
    for chunk in (1, 3, 4096):
        mean, std = channel_stats(x, chunk=chunk)
        np.testing.assert_allclose(mean, [1.0, 25.0])
        np.testing.assert_allclose(std, [1.0, 15.0])
    mean, std = channel_stats(x, axis=None)
    assert mean.shape == () and mean == pytest.approx(13.0)


def test_channel_stats_matches_numpy_and_normalises():
    x = np.random.default_rng(0).integers(0, 256, size=(50, 3, 5, 5)).astype(np.uint8)
    mean, std = channel_stats(x, chunk=7)
    np.testing.assert_allclose(mean, x.mean(axis=(0, 2, 3)), rtol=1e-6)
    np.testing.assert_allclose(std, x.std(axis=(0, 2, 3)), rtol=1e-6)
    z = Normalize(mean, std)(x)
    np.testing.assert_allclose(z.mean(axis=(0, 2, 3)), 0, atol=1e-5)
    np.testing.assert_allclose(z.std(axis=(0, 2, 3)), 1, atol=1e-5)
