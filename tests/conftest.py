"""Shared test fixtures: seeded generators and the list of devices to test on."""
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
