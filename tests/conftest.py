"""Shared test fixtures: seeded generators, the devices to test on, and a data sandbox.

``device`` runs a test on 'cpu' and on 'cuda'. Without CuPy and a GPU, 'cuda' runs through the
strict host-only CuPy stand-in (tests/cupy_standin.py), so CI exercises the GPU code path; on a
machine with a GPU it runs on the real thing.
"""
import urllib.request

import numpy as np
import pytest

import cupy_standin
from tinynet import backend

REAL_GPU = backend.cuda_available()


def use_standin(monkeypatch):
    """Make tinynet.backend use the CuPy stand-in for the rest of the test; returns its counters."""
    monkeypatch.setattr(backend, "_cupy", cupy_standin)
    monkeypatch.setattr(backend, "_cupyx", cupy_standin.cupyx)
    monkeypatch.setattr(backend, "_cupy_error", None)
    cupy_standin.COUNTS.reset()
    return cupy_standin.COUNTS


@pytest.fixture
def rng():
    return np.random.default_rng(0)


@pytest.fixture(params=["cpu", "cuda"])
def device(request, monkeypatch):
    if request.param == "cuda" and not REAL_GPU:
        use_standin(monkeypatch)
    return request.param


@pytest.fixture
def cuda(monkeypatch):
    """'cuda': the real GPU where there is one, else the stand-in."""
    if not REAL_GPU:
        use_standin(monkeypatch)
    return "cuda"


@pytest.fixture
def standin(monkeypatch):
    """The stand-in always (even beside a real GPU), for tests that count device work."""
    use_standin(monkeypatch)
    return cupy_standin


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
