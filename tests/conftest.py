"""Shared test fixtures: seeded generators and the list of devices to test on."""
import urllib.request

import numpy as np
import pytest

from tinynet import backend

DEVICES = ["cpu", pytest.param("cuda", marks=pytest.mark.skipif(
    not backend.cuda_available(), reason="needs CuPy and a CUDA device"))]


@pytest.fixture
def rng():
    return np.random.default_rng(0)


@pytest.fixture(params=DEVICES)
def device(request):
    return request.param


@pytest.fixture
def isolated(tmp_path, monkeypatch):
    """Data search paths inside tmp_path, and a guard that fails any test reaching the network.

    $HOME, $TINYNET_DATA and the system data folder point into tmp_path, so no real dataset or
    cache is found; urlopen accepts only file:// URLs (the tests serve their files that way).
    """
    from tinynet.data import download

    monkeypatch.setenv("HOME", str(tmp_path / "home"))
    monkeypatch.setenv("TINYNET_DATA", str(tmp_path / "data"))
    monkeypatch.setattr(download, "SYSTEM_DIR", tmp_path / "system")
    real = urllib.request.urlopen

    def file_only(url, *a, **k):
        assert str(url).startswith("file:"), f"a test tried to reach the network: {url}"
        return real(url, *a, **k)
    monkeypatch.setattr(urllib.request, "urlopen", file_only)
    return tmp_path
