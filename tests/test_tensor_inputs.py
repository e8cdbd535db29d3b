"""What Tensor(...) accepts and refuses: numbers in, a clear TypeError/ValueError for anything else."""
import decimal
import fractions
import warnings

import numpy as np
import pytest

import tinynet as tn
from tinynet import Tensor

REFUSED = [
    (None, TypeError, r"data holds None .* use float\('nan'\) for a missing value"),
    ([1.0, None], TypeError, r"data holds None of type NoneType"),
    ([1, "a"], TypeError, r"data \[1, 'a'\] is not numeric \(dtype <U21\)"),
    ("abc", TypeError, r"data 'abc' is not numeric"),
    (b"ab", TypeError, r"data b'ab' is not numeric"),
    (1 + 2j, TypeError, r"data \(1\+2j\) is complex; .* x\.real, x\.imag or abs\(x\)"),
    (np.array([1 + 2j]), TypeError, r"is complex"),
    (np.array(["2020-01-01"], dtype="datetime64[D]"), TypeError, r"not numeric \(dtype datetime64\[D\]\)"),
    ({"a": 1}, TypeError, r"data holds \{'a': 1\} of type dict, not a number"),
    ({1, 2}, TypeError, r"of type set, not a number"),
    ((v for v in range(3)), TypeError, r"of type generator, not a number"),
    (np.array([1.0, "x"], dtype=object), TypeError, r"data holds 'x' of type str"),
    ([[1, 2], [3]], ValueError, r"data \[\[1, 2\], \[3\]\] is ragged"),
    ([Tensor(1.0), Tensor(2.0)], TypeError, r"list holding Tensors; use tinynet\.stack"),
    ([Tensor([1.0, 2.0])], TypeError, r"list holding Tensors"),
]


@pytest.mark.parametrize("data, exc, match", REFUSED, ids=[repr(d)[:30] for d, *_ in REFUSED])
def test_non_numeric_data_is_refused_by_name(data, exc, match):
    with warnings.catch_warnings():
        warnings.simplefilter("error")  # no ComplexWarning on the way to the error
        with pytest.raises(exc, match=match):
            Tensor(data)


@pytest.mark.parametrize("dtype, match", [
    (str, r"dtype=<class 'str'> is not numeric"),
    ("U3", r"dtype='U3' is not numeric"),
    ("no-such-dtype", r"dtype='no-such-dtype' is not numeric"),
    (np.complex64, r"is complex"),
    (object, r"not numeric"),
])
def test_non_numeric_dtype_is_refused(dtype, match):
    with pytest.raises(TypeError, match=match):
        Tensor([1.0, 2.0], dtype=dtype)


@pytest.mark.parametrize("data, dtype, values", [
    (1.5, np.float32, 1.5),
    ([1, 2], np.int64, [1, 2]),
    ([True, False], np.bool_, [True, False]),
    ([1, 2.5], np.float32, [1.0, 2.5]),
    ([], np.float32, []),
    (fractions.Fraction(1, 4), np.float32, 0.25),
    (decimal.Decimal("1.5"), np.float32, 1.5),
    (np.array([1, 2.5], dtype=object), np.float32, [1.0, 2.5]),
    (np.float64(2.0), np.float32, 2.0),
    (np.ones(2, np.float16), np.float16, [1.0, 1.0]),
    (np.ones(2), np.float64, [1.0, 1.0]),
    ([float("nan")], np.float32, [np.nan]),  # an explicit NaN is data, not a mistake
])
def test_numbers_are_accepted(data, dtype, values):
    t = Tensor(data)
    assert t.dtype == dtype
    np.testing.assert_array_equal(t.numpy(), np.asarray(values, dtype=dtype))


def test_len_of_a_0d_tensor_says_what_to_use():
    with pytest.raises(TypeError, match=r"len\(\) of a 0-d tensor.*\.item\(\).*\.size"):
        len(Tensor(3.0))
    assert len(Tensor(np.zeros((4, 2)))) == 4
    assert len(Tensor(np.zeros((0, 2)))) == 0


def test_stack_is_the_way_to_combine_tensors():
    a, b = Tensor(1.0, requires_grad=True), Tensor(2.0, requires_grad=True)
    tn.stack([a, b]).sum().backward()
    assert a.grad == 1.0 and b.grad == 1.0
