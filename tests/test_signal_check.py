"""The signal check's verdicts on generated signals: good, mains hum, flat, railed, off-head ..."""

from __future__ import annotations

import numpy as np
import pytest

from dreamband.signal.check import (
    CYTON_LEAD_OFF_A,
    CYTON_LEAD_OFF_HZ,
    CYTON_SERIES_OHM,
    SignalWindow,
    check_signal,
    lead_off_impedance_ohm,
    staging_ready,
)

FS = 250.0
SECONDS = 6.0


def _eeg(seed: int = 0, n_ch: int = 1, rms_uv: float = 12.0) -> np.ndarray:
    """EEG-like: 1/f noise plus a 10-Hz alpha rhythm, about ``rms_uv`` RMS in 0.5-35 Hz."""
    rng = np.random.default_rng(seed)
    n = int(SECONDS * FS)
    f = np.fft.rfftfreq(n, 1 / FS)
    spec = rng.standard_normal((n_ch, f.size)) + 1j * rng.standard_normal((n_ch, f.size))
    spec /= np.maximum(f, 0.5)
    spec[:, f > 40] *= 0.05
    x = np.fft.irfft(spec, n=n, axis=1)
    x *= 0.8 * rms_uv / x.std(axis=1, keepdims=True)
    t = np.arange(n) / FS
    return x + 0.6 * rms_uv * np.sin(2 * np.pi * 10.0 * t)


def _t() -> np.ndarray:
    return np.arange(int(SECONDS * FS)) / FS


def _one(x: np.ndarray, name: str = "Fp2", **kw):
    return check_signal(np.atleast_2d(x), FS, [name], **kw)[0]


def test_good_eeg_is_good_even_with_a_dc_offset_and_drift():
    x = _eeg()[0]
    v = _one(x)
    assert v.status == "good" and v.ok and v.advice == ""
    assert 5.0 < v.amplitude_uv < 25.0
    shifted = _one(x + 35_000.0 + 400.0 * _t())  # a Cyton's DC offset and a slow drift
    assert shifted.status == "good"
    assert shifted.amplitude_uv == pytest.approx(v.amplitude_uv, rel=0.1)


@pytest.mark.parametrize("hz", [50.0, 60.0])
def test_mains_hum_says_which_line_and_what_to_do(hz):
    x = _eeg()[0] + 40.0 * np.sin(2 * np.pi * hz * _t())
    v = _one(x)
    assert v.status == "hum" and not v.ok
    assert v.hum_hz == hz
    assert v.hum_uv == pytest.approx(40.0 / np.sqrt(2), rel=0.15)
    assert v.line().startswith(f"Fp2: too much {hz:g}-Hz hum")
    assert "contact" in v.advice and "lamp" in v.advice
    # a little hum (2 µV) is still good
    assert _one(_eeg()[0] + 2.0 * np.sin(2 * np.pi * hz * _t())).status == "good"


def test_flat_channel():
    rng = np.random.default_rng(1)
    v = _one(1234.0 + 0.05 * rng.standard_normal(int(SECONDS * FS)))
    assert v.status == "flat" and "disconnected" in v.advice


def test_railed_channel():
    x = np.full(int(SECONDS * FS), 187_500.0)
    x[::7] = 187_480.0
    v = _one(x)
    assert v.status == "railed" and "re-seat" in v.advice


def test_off_head_is_mains_only():
    rng = np.random.default_rng(2)
    x = 2000.0 * np.sin(2 * np.pi * 50.0 * _t()) + 0.5 * rng.standard_normal(_t().size)
    v = _one(x)
    assert v.status == "off-head" and v.hum_hz == 50.0 and v.hum_fraction > 0.9
    assert "not touching the skin" in v.words


def test_movement_is_too_large_and_lost_samples_are_lost():
    rng = np.random.default_rng(3)
    assert _one(_eeg()[0] + 400.0 * rng.standard_normal(_t().size)).status == "too-large"
    x = _eeg()[0]
    x[: x.size // 2] = np.nan
    v = _one(x)
    assert v.status == "lost" and np.isnan(v.amplitude_uv)
    # a few lost samples are interpolated over
    x = _eeg()[0]
    x[100:110] = np.nan
    assert _one(x).status == "good"


def test_weak_signal():
    rng = np.random.default_rng(4)
    assert _one(1.0 * rng.standard_normal(_t().size)).status == "weak"


def test_many_channels_at_once_keep_their_order_and_names():
    x = _eeg(5, 4)
    x[1] += 60.0 * np.sin(2 * np.pi * 50.0 * _t())
    x[2] = 0.0
    verdicts = check_signal(x, FS, ["Fp1", "Fp2", "F3", "F4"])
    assert [v.channel for v in verdicts] == ["Fp1", "Fp2", "F3", "F4"]
    assert [v.status for v in verdicts] == ["good", "hum", "flat", "good"]
    assert staging_ready(verdicts, ["Fp1"]) and not staging_ready(verdicts, ["Fp1", "Fp2"])
    with pytest.raises(ValueError, match="Cz"):
        staging_ready(verdicts, ["Cz"])


def test_low_rate_cannot_see_mains():
    fs = 100.0
    rng = np.random.default_rng(6)
    v = check_signal(10 * rng.standard_normal((1, 600)), fs, ["Fpz"])[0]
    assert v.hum_hz is None and np.isnan(v.hum_fraction) and v.status == "good"


def test_bad_input_gets_clear_errors():
    with pytest.raises(ValueError, match="shape"):
        check_signal(np.zeros(500), FS)
    with pytest.raises(ValueError, match="at least 2 s"):
        check_signal(np.zeros((1, 100)), FS)
    with pytest.raises(ValueError, match="names"):
        check_signal(np.zeros((2, 1000)), FS, ["a"])
    with pytest.raises(ValueError, match="sfreq"):
        check_signal(np.zeros((1, 1000)), 0.0)
    with pytest.raises(ValueError, match="negative"):
        check_signal(_eeg(), FS, ["a"], impedance_ohm=[-5.0])


@pytest.mark.parametrize("kohm", [5.0, 20.0, 120.0])
def test_lead_off_impedance_from_the_drive_amplitude(kohm):
    """The ADS1299 drives 6 nA at 31.25 Hz: the voltage is I·(Z + 2.2 kΩ), on top of EEG and a DC offset."""
    peak_uv = CYTON_LEAD_OFF_A * (kohm * 1e3 + CYTON_SERIES_OHM) * 1e6
    x = _eeg(7)[0] + 20_000.0 + peak_uv * np.sin(2 * np.pi * CYTON_LEAD_OFF_HZ * _t())
    ohm = lead_off_impedance_ohm(x[None], FS)[0]
    assert ohm == pytest.approx(kohm * 1e3, rel=0.05, abs=800.0)


def test_impedance_verdicts():
    x = _eeg(8)[0]
    assert _one(x, impedance_ohm={"Fp2": 5e3}).status == "good"
    fair = _one(x, impedance_ohm={"Fp2": 25e3})
    assert fair.status == "fair" and fair.ok and "25 kΩ" in fair.figures()
    high = _one(x, impedance_ohm=[120e3])
    assert high.status == "high-impedance" and not high.ok and "gel" in high.advice
    assert _one(x, impedance_ohm={"Fp1": 120e3}).impedance_ohm is None  # other channel's figure
    railed = np.full(x.size, 187_500.0)
    assert _one(railed, impedance_ohm=[0.0]).impedance_ohm is None  # a railed input has no meaningful figure
    with pytest.raises(ValueError, match="rate above"):
        lead_off_impedance_ohm(np.zeros((1, 500)), 50.0)


def test_signal_window_many_chunks_equal_one_block():
    x = _eeg(9, 2)
    one = SignalWindow(FS, 2, window_s=4.0)
    one.push(x)
    many = SignalWindow(FS, 2, window_s=4.0)
    for part in np.array_split(x, 37, axis=1):
        many.push(part)
    np.testing.assert_array_equal(one.data(), many.data())
    np.testing.assert_array_equal(one.data(), x[:, -1000:])
    assert one.seconds == pytest.approx(4.0)
    short = SignalWindow(FS, 2, window_s=4.0)
    short.push(x[:, :300])
    np.testing.assert_array_equal(short.data(), x[:, :300])
    with pytest.raises(ValueError, match="shape"):
        short.push(x[:1])
