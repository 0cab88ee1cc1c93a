"""signal.detectors: band powers agree with SciPy; a beta/EMG burst over the REM baseline shows."""

from __future__ import annotations

import numpy as np
import pytest

from dreamband.signal.detectors import ArousalDetector, band_powers, band_powers_reference


def test_band_powers_match_scipy_periodogram():
    rng = np.random.default_rng(0)
    x = rng.standard_normal((3, 7, 500)) * 20
    bands = [(16.0, 30.0), (30.0, 45.0), (0.5, 4.0)]
    np.testing.assert_allclose(band_powers(x, 250.0, bands), band_powers_reference(x, 250.0, bands), rtol=1e-10)
    x = rng.standard_normal((2, 257))  # odd length
    np.testing.assert_allclose(band_powers(x, 128.0, bands[:2]), band_powers_reference(x, 128.0, bands[:2]), rtol=1e-10)


def _signal(sfreq, seconds, rng, beta_amp=0.0):
    t = np.arange(int(seconds * sfreq)) / sfreq
    x = rng.standard_normal(t.size) * 10 + beta_amp * np.sin(2 * np.pi * 22 * t)
    return x


def test_beta_burst_over_rem_baseline_and_chunking_independence():
    sfreq = 250.0
    rng = np.random.default_rng(1)
    calm = _signal(sfreq, 60, rng)
    burst = _signal(sfreq, 20, rng, beta_amp=30.0)
    data = np.concatenate([calm, burst])[None, :]
    det = ArousalDetector(sfreq, eeg_rows=[0], min_baseline_windows=10)
    readings = det.process(data[:, : int(60 * sfreq)])
    assert all(np.isnan(r.beta_ratio) for r in readings) and not det.baseline_ready
    assert det.add_baseline(0.0, 60.0) == 59
    readings = det.process(data[:, int(60 * sfreq):])
    assert det.baseline_ready
    ratios = np.array([r.beta_ratio for r in readings if r.time > 62])
    assert ratios.min() > 5.0  # the burst
    # chunked differently: the same readings
    det2 = ArousalDetector(sfreq, eeg_rows=[0], min_baseline_windows=10)
    out = []
    for a in range(0, int(60 * sfreq), 333):
        out += det2.process(data[:, a: min(a + 333, int(60 * sfreq))])
    det2.add_baseline(0.0, 60.0)
    for a in range(int(60 * sfreq), data.shape[1], 777):
        out += det2.process(data[:, a: a + 777])
    ref = ArousalDetector(sfreq, eeg_rows=[0], min_baseline_windows=10)
    first = ref.process(data[:, : int(60 * sfreq)])
    ref.add_baseline(0.0, 60.0)
    first += ref.process(data[:, int(60 * sfreq):])
    assert [r.time for r in out] == [r.time for r in first]
    np.testing.assert_allclose([r.beta for r in out], [r.beta for r in first])


def test_unclean_windows_and_movement():
    sfreq = 100.0
    rng = np.random.default_rng(2)
    eeg = rng.standard_normal(1000) * 10
    eeg[300] = np.nan
    eeg[700] = 5000.0
    acc = np.zeros((3, 1000))
    acc[2] = 1.0
    acc[0, 500:560] = np.sin(np.arange(60))
    det = ArousalDetector(sfreq, eeg_rows=[0], accel_rows=[1, 2, 3])
    rs = det.process(np.vstack([eeg, acc]))
    bad = {r.time for r in rs if not r.clean}
    assert any(1 < t <= 5 for t in bad) and any(7 < t <= 9 for t in bad)
    moving = [r for r in rs if r.movement_g > 0.05]
    assert moving and all(5.0 < r.time < 8.0 for r in moving)
    assert all(np.isnan(r.beta_ratio) for r in rs)


def test_bad_arguments():
    with pytest.raises(ValueError, match="EEG row"):
        ArousalDetector(250.0, eeg_rows=[])
    with pytest.raises(ValueError, match="sfreq"):
        ArousalDetector(0.0, eeg_rows=[0])
