"""tests/torch_reference.py, the helper that gives parity tests torch's numbers with or without
torch: exact JSON round trips, and refusals of missing, stale or mismatched fixtures."""
import json
import types

import numpy as np
import pytest

import torch_reference as ref

FAKE_TORCH = types.SimpleNamespace(__version__="0.fake", Tensor=type("Tensor", (), {}))
VALUE = {"y": np.array([[0.1, 1 / 3], [2e-300, -7.5]]), "f32": np.float32([1 / 3]), "n": np.arange(3),
         "seq": (0.1 + 0.2, [None, "text", 3]), "scalar": np.float64(1e-17)}


@pytest.fixture
def fixtures(tmp_path, monkeypatch):
    """The helper writing and reading fixtures under tmp_path; ``mode(m, torch)`` switches it."""
    monkeypatch.setattr(ref, "FIXTURES", tmp_path)

    def mode(name, torch=FAKE_TORCH):
        monkeypatch.setattr(ref, "MODE", name)
        monkeypatch.setattr(ref, "torch", torch)
    return mode


def test_values_come_back_exactly_with_their_types(fixtures):
    x = np.linspace(0, 1, 7)
    fixtures("write")
    live = ref.torch_reference("demo", "case", lambda torch: VALUE, x)
    fixtures("auto", torch=None)                       # no torch: read the file
    stored = ref.torch_reference("demo", "case", lambda torch: pytest.fail("must not run"), x)
    for got in (live, stored):
        assert got["y"].dtype == np.float64 and np.array_equal(got["y"], VALUE["y"])
        assert got["f32"].dtype == np.float32 and got["f32"][0] == np.float32(1 / 3)
        assert got["n"].dtype == VALUE["n"].dtype and got["n"].tolist() == [0, 1, 2]
        assert got["seq"] == [0.1 + 0.2, [None, "text", 3]] and got["scalar"] == 1e-17


def test_without_a_fixture_the_test_fails_and_says_how_to_make_it(fixtures):
    fixtures("fixtures")
    with pytest.raises(pytest.fail.Exception, match="no PyTorch fixture for 'case'.*make_torch_fixtures.py"):
        ref.torch_reference("demo", "case", lambda torch: 1.0)


def test_a_fixture_made_from_other_inputs_is_refused(fixtures):
    fixtures("write")
    ref.torch_reference("demo", "case", lambda torch: 1.0, np.zeros(3))
    fixtures("fixtures")
    with pytest.raises(pytest.fail.Exception, match="inputs of 'case' differ"):
        ref.torch_reference("demo", "case", lambda torch: 1.0, np.ones(3))


@pytest.mark.parametrize("stored, live, stale", [
    (0.5, 0.5 * (1 + 1e-12), False),                   # float noise of another torch build
    (0.5, 0.5001, True),
    ([1.0, 2.0], [1.0], True),
    (np.zeros((2, 2)), np.zeros(4), True),
])
def test_a_live_run_notices_a_stale_fixture(fixtures, stored, live, stale, tmp_path):
    fixtures("write")
    ref.torch_reference("demo", "case", lambda torch: stored)
    fixtures("auto")
    if stale:
        with pytest.raises(pytest.fail.Exception, match="missing or stale"):
            ref.torch_reference("demo", "case", lambda torch: live)
    else:
        assert ref.torch_reference("demo", "case", lambda torch: live) == live
    with pytest.raises(pytest.fail.Exception, match="missing or stale"):
        ref.torch_reference("demo", "new case", lambda torch: live)
    assert json.loads((tmp_path / "demo.json").read_text())["torch"] == "0.fake"
