"""The Numba CSV formatter agrees with Python's own formatting."""

from __future__ import annotations

import numpy as np
import pytest

from dreamband.recordings.fastcsv import format_table, format_table_reference


def _parse(text: bytes, n_cols: int) -> np.ndarray:
    lines = text.decode().splitlines()
    return np.array([[float(v) for v in line.split("\t")] for line in lines]).T.reshape(n_cols, -1)


def test_exact_text_on_representable_values():
    rng = np.random.default_rng(0)
    table = rng.integers(-10**6, 10**6, size=(5, 300)) / 4.0  # quarters: exact in binary
    table[0] = np.arange(300)  # sample counter
    table[1, :3] = [0.0, 1.5, -2.25]
    assert format_table(table) == format_table_reference(table)


def test_random_values_agree_to_the_last_digit():
    rng = np.random.default_rng(1)
    table = rng.normal(0, 200, size=(8, 2000))
    table[7] = 1.7e9 + np.arange(2000) / 250.0  # UNIX timestamps
    fast, ref = format_table(table), format_table_reference(table)
    a, b = _parse(fast, 8), _parse(ref, 8)
    assert a.shape == b.shape == table.shape
    np.testing.assert_allclose(a, b, rtol=0, atol=1.0001e-6)
    assert np.mean(a == b) > 0.999  # rounding may differ only on rare half-way cases
    assert fast.count(b"\n") == 2000


def test_nan_and_huge_values():
    table = np.array([[np.nan, 1.0], [-0.5, 3e13]])
    assert format_table(table) == format_table_reference(table)  # falls back for 3e13
    t2 = np.array([[np.nan, -1e-9], [2.0, 0.0]])
    assert format_table(t2) == format_table_reference(t2)


def test_bad_input_is_a_clear_error():
    with pytest.raises(ValueError, match="2-D"):
        format_table(np.zeros(3))
    with pytest.raises(ValueError, match="sep"):
        format_table(np.zeros((2, 2)), sep=", ")
    assert format_table(np.zeros((3, 0))) == b""
