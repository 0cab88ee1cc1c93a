"""EpochBuffer: any rate, chunking invariance, 100 Hz volts output."""

from __future__ import annotations

import numpy as np
import pytest

from dreamband.signal.conditioning import StreamingResampler
from dreamband.signal.epochs import EpochBuffer, staging_stream
from dreamband.signal.resample import resample_poly_reference


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
    buf = EpochBuffer(sfreq, 1)
    (ep,) = buf.push(x)
    delay_s = buf._resampler.delay_in / sfreq  # the streaming resampler's fixed delay (0.12 s)
    assert delay_s == pytest.approx(0.12)
    t100 = np.arange(3000) / 100.0 - delay_s
    np.testing.assert_allclose(ep.staging_v[0, 100:], 50e-6 * np.sin(2 * np.pi * 2.0 * t100[100:]), atol=5e-8)


@pytest.mark.parametrize("sfreq", [125.0, 200.0, 250.0, 256.0, 512.0])
def test_staging_is_one_resampler_over_the_continuous_signal(sfreq: float) -> None:
    """Epoch k's staging samples are samples [3000 k, 3000 (k+1)) of resample_poly over the whole stream."""
    rng = np.random.default_rng(3)
    x = rng.standard_normal((1, int(sfreq * 90))) * 20.0 + 5000.0  # a 5-mV offset: no step at epoch edges
    eps = EpochBuffer(sfreq, 1).push(x)
    r = StreamingResampler(sfreq, 100.0, 1)
    ref = resample_poly_reference(np.concatenate([np.zeros((1, r.delay_in)), x], axis=1), r.up, r.down) * 1e-6
    got = np.concatenate([e.staging_v for e in eps], axis=1)
    # the streaming resampler computes in float32 (the reference in float64): within 1e-6 of the
    # input's scale (here the 5-mV offset), in volts
    np.testing.assert_allclose(got, ref[:, : got.shape[1]], rtol=0, atol=1e-6 * np.abs(x).max() * 1e-6)
    # no edge at the epoch boundaries: the offset stays an offset
    edge = np.abs(np.diff(got[0]))[[2999, 5999]]
    assert edge.max() < 10 * np.median(np.abs(np.diff(got[0])))
    np.testing.assert_array_equal(staging_stream(x, sfreq, 3)[:, 0], np.stack([e.staging_v[0] for e in eps]))


def test_streaming_resampler_one_block_equals_many_chunks() -> None:
    rng = np.random.default_rng(4)
    x = rng.standard_normal((2, 25_000))
    whole = StreamingResampler(250.0, 100.0, 2).push(x)
    r = StreamingResampler(250.0, 100.0, 2)
    parts, i = [], 0
    while i < x.shape[1]:
        k = int(rng.integers(1, 400))
        parts.append(r.push(x[:, i : i + k]))
        i += k
    np.testing.assert_array_equal(np.concatenate(parts, axis=1), whole)
    assert whole.shape[1] == r.n_out == 10_000 + (30 - 27) // 2 + 1  # every output whose inputs have arrived


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
