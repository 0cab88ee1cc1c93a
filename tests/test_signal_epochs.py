"""EpochBuffer: any rate, chunking invariance, 100 Hz volts output."""

from __future__ import annotations

import numpy as np
import pytest

from dreamband.signal.epochs import EpochBuffer


@pytest.mark.parametrize("sfreq", [50.0, 100.0, 125.0, 200.0, 250.0, 256.0, 173.3])
def test_epochs_at_any_rate(sfreq: float) -> None:
    rng = np.random.default_rng(int(sfreq))
    n = int(sfreq * 95)
    x = rng.standard_normal((2, n)) * 20.0
    whole = EpochBuffer(sfreq, 2).push(x)
    assert [e.index for e in whole] == [0, 1, 2]
    np.testing.assert_allclose([e.onset_s for e in whole], [0.0, 30.0, 60.0], atol=1e-9)
    buf = EpochBuffer(sfreq, 2)
    parts, i = [], 0
    while i < n:
        k = int(rng.integers(1, 700))
        parts += buf.push(x[:, i : i + k])
        i += k
    assert len(parts) == 3
    for a, b in zip(whole, parts, strict=True):
        assert a.staging_v.shape == (2, 3000)
        np.testing.assert_array_equal(a.staging_v, b.staging_v)
        np.testing.assert_array_equal(a.data_uv, b.data_uv)
    # consecutive native epochs tile the input exactly
    np.testing.assert_array_equal(np.concatenate([e.data_uv for e in whole], axis=1), x[:, : sum(e.data_uv.shape[1] for e in whole)])


def test_staging_is_volts_at_100hz() -> None:
    sfreq = 250.0
    t = np.arange(int(30 * sfreq)) / sfreq
    x = 50.0 * np.sin(2 * np.pi * 2.0 * t)[None, :]  # 50 µV, 2 Hz
    (ep,) = EpochBuffer(sfreq, 1).push(x)
    t100 = np.arange(3000) / 100.0
    np.testing.assert_allclose(ep.staging_v[0, 100:-100], 50e-6 * np.sin(2 * np.pi * 2.0 * t100[100:-100]), atol=5e-8)


def test_nan_samples_are_interpolated_for_staging() -> None:
    x = np.random.default_rng(2).standard_normal((1, 7500))
    x[0, 100:110] = np.nan
    (ep,) = EpochBuffer(250.0, 1).push(x)
    assert np.isnan(ep.data_uv).sum() == 10
    assert np.all(np.isfinite(ep.staging_v))
    np.testing.assert_allclose(ep.nan_fraction, [10 / 7500])


def test_bad_arguments() -> None:
    with pytest.raises(ValueError, match="sfreq"):
        EpochBuffer(0.0, 1)
    with pytest.raises(ValueError, match="shape"):
        EpochBuffer(100.0, 2).push(np.zeros((1, 10)))
