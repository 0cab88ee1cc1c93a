"""StreamingSosFilter: chunking invariance, SciPy equality, NaN safety."""

from __future__ import annotations

import numpy as np
import pytest
from scipy import signal as sps

from dreamband.signal.filters import StreamingSosFilter, sosfilt_reference


def _chunks(n: int, rng: np.random.Generator) -> list[tuple[int, int]]:
    out, i = [], 0
    while i < n:
        k = int(rng.integers(1, 97))
        out.append((i, min(n, i + k)))
        i += k
    return out


def test_one_block_equals_many_chunks_and_scipy() -> None:
    rng = np.random.default_rng(0)
    x = rng.standard_normal((3, 5000)) * 30.0
    sos = sps.butter(4, [0.5, 40.0], btype="bandpass", fs=250.0, output="sos")
    whole = StreamingSosFilter(sos, 3).process(x)
    f = StreamingSosFilter(sos, 3)
    parts = np.concatenate([f.process(x[:, a:b]) for a, b in _chunks(x.shape[1], rng)], axis=1)
    np.testing.assert_allclose(parts, whole, rtol=0, atol=1e-10)
    ref, zf = sosfilt_reference(sos, x, np.zeros((3, sos.shape[0], 2)))
    np.testing.assert_allclose(whole, ref, rtol=1e-10, atol=1e-10)
    np.testing.assert_allclose(f.state, zf, rtol=1e-9, atol=1e-9)


def test_nan_does_not_poison_state() -> None:
    rng = np.random.default_rng(1)
    x = rng.standard_normal((1, 3000))
    x[0, 1000:1010] = np.nan
    f = StreamingSosFilter.bandpass(0.5, 30.0, 100.0, 1)
    y = f.process(x)
    assert np.all(np.isnan(y[0, 1000:1010]))
    assert np.all(np.isfinite(y[0, :1000])) and np.all(np.isfinite(y[0, 1010:]))
    # long after the gap the output matches a clean run fed the held value
    clean = x.copy()
    clean[0, 1000:1010] = x[0, 999]
    y_clean = StreamingSosFilter.bandpass(0.5, 30.0, 100.0, 1).process(clean)
    np.testing.assert_allclose(y[0, 1010:], y_clean[0, 1010:], atol=1e-12)
    # and an inf never leaves the filter broken
    z = f.process(np.array([[np.inf, 1.0, 2.0]]))
    assert np.all(np.isfinite(f.state)) and np.isnan(z[0, 0])


def test_bad_input_is_rejected() -> None:
    with pytest.raises(ValueError, match="n_sections, 6"):
        StreamingSosFilter(np.ones((2, 5)), 1)
    f = StreamingSosFilter.notch(50.0, 250.0, 2)
    with pytest.raises(ValueError, match="shape"):
        f.process(np.zeros((3, 10)))
    with pytest.raises(ValueError, match="sfreq/2"):
        StreamingSosFilter.bandpass(1.0, 60.0, 100.0, 1)
