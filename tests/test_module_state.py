"""Module.load_state_dict: every value is checked and cast before anything is written."""
import numpy as np
import pytest

from tinynet import nn


def model_on(device):
    """Linear (float32) then BatchNorm1d, whose num_batches_tracked is an int64 buffer."""
    return nn.Sequential(nn.Linear(2, 3, rng=0), nn.BatchNorm1d(3)).to(device)


def good_state():
    """A complete state that differs from model_on's in every entry."""
    return {"0.weight": np.full((3, 2), 0.1), "0.bias": np.arange(3), "1.weight": np.full(3, 2.0),
            "1.bias": np.full(3, -1.0), "1.running_mean": np.full(3, 0.5, np.float32),
            "1.running_var": np.full(3, 3.0, np.float32), "1.num_batches_tracked": np.array(7.0)}


@pytest.mark.parametrize("key, value, match", [
    ("1.running_var", np.array([None, None, None], dtype=object), "dtype object; expected numbers"),
    ("1.running_var", np.array(["a", "b", "c"]), "dtype <U1; expected numbers"),
    ("1.bias", np.array([1 + 2j, 0, 0]), "dtype complex128"),
    ("1.running_var", np.array([1.0, 1e40, 2.0]), "1e[+]40 is beyond the range of float32"),
    ("1.bias", np.array([-np.finfo(np.float64).max, 0, 0]), "is beyond the range of float32"),
    ("1.num_batches_tracked", np.array(1.7), "1.7 is not exactly representable as int64"),
    ("1.num_batches_tracked", np.array(np.nan), "nan is not exactly representable as int64"),
    ("1.num_batches_tracked", np.array(2.0 ** 70), "is not exactly representable as int64"),
])
def test_a_value_that_cannot_be_cast_faithfully_loads_nothing(device, key, value, match):
    """The bad entry comes last in the model's order, so a write loop that casts as it goes would
    already have overwritten every other tensor."""
    model = model_on(device)
    before = model.state_dict()
    state = {**good_state(), key: value}
    with pytest.raises(ValueError, match=match) as err:
        model.load_state_dict(state)
    assert f"cannot cast: {key} (" in str(err.value) and "nothing was loaded" in str(err.value)
    after = model.state_dict()
    for name in before:
        np.testing.assert_array_equal(after[name], before[name], err_msg=name)


def test_every_cast_problem_is_named_at_once(device):
    state = {**good_state(), "0.weight": np.full((3, 2), 1e39), "1.num_batches_tracked": np.array(0.5)}
    with pytest.raises(ValueError) as err:
        model_on(device).load_state_dict(state)
    assert "cannot cast: 0.weight (1e+39 is beyond the range of float32), 1.num_batches_tracked (0.5 is" \
        in str(err.value)


def test_faithful_casts_load(device):
    """float64 rounds to float32, ints become floats, integral floats become ints; inf stays inf."""
    model = model_on(device)
    state = {**good_state(), "1.running_var": np.array([np.inf, 1.0, 2.0])}
    model.load_state_dict(state)
    after = model.state_dict()
    assert after["0.weight"].dtype == np.float32 and (after["0.weight"] == np.float32(0.1)).all()
    np.testing.assert_array_equal(after["0.bias"], [0, 1, 2])
    assert after["1.num_batches_tracked"].dtype == np.int64 and after["1.num_batches_tracked"] == 7
    np.testing.assert_array_equal(after["1.running_var"], [np.inf, 1, 2])
