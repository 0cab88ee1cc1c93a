"""Base features: Numba kernel == SciPy reference recipe (within 1e-6: the kernel's FFT is float32), on random and real signals."""

from __future__ import annotations

from pathlib import Path

import numpy as np
import pytest

from dreamband.signal.epochs import resample_to_staging
from dreamband.signal.features import (
    BASE_FEATURE_NAMES,
    base_features,
    base_features_many,
    base_features_reference,
)


def test_random_signals_match_reference() -> None:
    rng = np.random.default_rng(0)
    for scale in (1e-6, 2e-5, 1e-4, 1.0):
        for _ in range(5):
            x = rng.standard_normal(3000) * scale + scale * np.sin(np.arange(3000) * rng.uniform(0.01, 3))
            np.testing.assert_allclose(base_features(x), base_features_reference(x), rtol=0, atol=1e-6)


def test_batch_equals_single() -> None:
    x = np.random.default_rng(1).standard_normal((4, 2, 3000)) * 3e-5
    many = base_features_many(x)
    assert many.shape == (4, 2, len(BASE_FEATURE_NAMES))
    for i in range(4):
        for c in range(2):
            np.testing.assert_array_equal(many[i, c], base_features(x[i, c]))


def test_shape_errors() -> None:
    with pytest.raises(ValueError, match="3000"):
        base_features(np.zeros(2999))
    with pytest.raises(ValueError, match="base_features_many"):
        base_features(np.zeros((2, 3000)))


def _numpy_welch_features(x: np.ndarray) -> np.ndarray:
    """A second reference with NumPy only (no SciPy): Welch written out by hand from the recipe."""
    n, step, fs = 256, 128, 100.0
    w = 0.5 - 0.5 * np.cos(2 * np.pi * np.arange(n) / n)  # periodic Hann
    segs = np.stack([x[i : i + n] for i in range(0, len(x) - n + 1, step)])
    segs = (segs - segs.mean(axis=1, keepdims=True)) * w  # constant detrend, window
    p = np.abs(np.fft.rfft(segs, axis=1)) ** 2 / (fs * np.sum(w**2))
    p[:, 1:-1] *= 2.0  # one-sided (n even: DC and Nyquist once)
    psd = p.mean(axis=0)
    f = np.arange(n // 2 + 1) * fs / n
    logs = [np.log(psd[(f >= lo) & (f <= hi)].mean() + 1e-10) for lo, hi in
            ((0.5, 4), (4, 8), (8, 13), (13, 30), (30, 50))]
    v = np.var(x)
    return np.array([*logs, logs[1] / (logs[2] + 1e-10), logs[2] / (logs[0] + 1e-10), np.log(v + 1e-10),
                     np.sqrt(np.var(np.diff(x)) / (v + 1e-10))])


def test_a_sine_on_an_fft_bin_gives_the_closed_form_values() -> None:
    """12.5 Hz (bin 32 of 256 at 100 Hz, 8 samples a period): only bins 31-33 hold power, all in alpha.

    Periodic Hann, density scaling: bin k holds A^2 N / (3 fs), bins k +- 1 hold A^2 N / (12 fs),
    every other bin 0; the alpha band (8-13 Hz) has 13 bins (21..33). Hjorth activity: A^2 / 2
    (375 whole periods in 3000 samples).
    """
    amp, n, fs = 40e-6, 256, 100.0
    x = amp * np.cos(2 * np.pi * 32 * np.arange(3000) / n + 0.3)
    got = base_features(x)
    floor = np.log(1e-10)  # log(0 + 1e-10): bands without power
    alpha = np.log(amp**2 * n / fs * (1 / 3 + 2 / 12) / 13 + 1e-10)
    want = {"delta": floor, "theta": floor, "alpha": alpha, "beta": floor, "gamma": floor,
            "theta_alpha": floor / (alpha + 1e-10), "alpha_delta": alpha / (floor + 1e-10),
            "hjorth_activity": np.log(amp**2 / 2 + 1e-10)}
    for name, value in want.items():
        assert got[BASE_FEATURE_NAMES.index(name)] == pytest.approx(value, rel=0, abs=1e-6), name
    # mobility of a sampled sine: 2 sin(pi f / fs) = 2 sin(pi / 8), shrunk by the recipe's 1e-10 in
    # the denominator (not small next to A^2 / 2 = 8e-10 V^2), up to the 2999-sample edge (< 1e-3)
    mob = got[BASE_FEATURE_NAMES.index("hjorth_mobility")]
    assert mob == pytest.approx(2 * np.sin(np.pi / 8) * np.sqrt(amp**2 / 2 / (amp**2 / 2 + 1e-10)), rel=1e-3)
    assert mob == pytest.approx(np.sqrt(np.var(np.diff(x)) / (np.var(x) + 1e-10)), rel=1e-12)


def test_real_epochs_equal_a_numpy_only_welch(shared_datasets: Path) -> None:
    """Real 30-s EEG (YASA's N3 snippet, DREAMS excerpt 1): the kernel equals a hand-written NumPy Welch."""
    x_uv = np.loadtxt(shared_datasets / "yasa-snippets" / "data_N3_no-spindles_30sec_100Hz.txt")
    epochs = [x_uv * 1e-6]
    sig = np.loadtxt(shared_datasets / "dreams-spindles" / "excerpt1.txt", skiprows=1)[: 100 * 300] * 1e-6
    epochs += [sig[i * 3000 : (i + 1) * 3000] for i in range(10)]  # excerpt 1 is at 100 Hz
    for x in epochs:
        np.testing.assert_allclose(base_features(x), _numpy_welch_features(x), rtol=0, atol=1e-6)


def test_sleep_edf_columns_follow_the_recipe(shared_datasets: Path) -> None:
    """The dataset's own derived columns are our recipe's ratios of its band columns, bit for bit,
    for both channels (0-8 Fpz-Cz, 9-17 Pz-Oz) of every night."""
    files = sorted((shared_datasets / "sleep-edf" / "features").glob("SC4*E0.npz"))
    assert len(files) == 16
    for f in files:
        X = np.load(f)["X"]
        for c0 in (0, 9):
            delta, theta, alpha = X[:, c0], X[:, c0 + 1], X[:, c0 + 2]
            np.testing.assert_array_equal(X[:, c0 + 5], theta / (alpha + 1e-10), err_msg=f.name)
            np.testing.assert_array_equal(X[:, c0 + 6], alpha / (delta + 1e-10), err_msg=f.name)


def test_real_dreams_and_yasa_match_reference(shared_datasets: Path) -> None:
    d = shared_datasets / "dreams-spindles"
    sig = np.loadtxt(d / "excerpt2.txt", skiprows=1)[: 200 * 300]  # 5 min at 200 Hz
    epochs = np.stack([resample_to_staging(sig[None, i * 6000 : (i + 1) * 6000], 200.0)[0] for i in range(10)])
    batch = base_features_many(epochs)
    for e in range(10):
        np.testing.assert_allclose(batch[e], base_features_reference(epochs[e]), rtol=0, atol=1e-6)
    y = shared_datasets / "yasa-snippets"
    n2 = np.loadtxt(y / "data_N2_spindles_15sec_200Hz.txt")  # 15 s at 200 Hz: tile to 30 s
    v = resample_to_staging(np.tile(n2, 2)[None, :], 200.0)[0]
    np.testing.assert_allclose(base_features(v), base_features_reference(v), rtol=0, atol=1e-6)
    eog = np.load(y / "data_EOGs_REM_256Hz.npz")["data"][:, : 7680 * 3]
    for k in range(3):
        v = resample_to_staging(eog[:, k * 7680 : (k + 1) * 7680], 256.0)
        for c in range(2):
            np.testing.assert_allclose(base_features(v[c]), base_features_reference(v[c]), rtol=0, atol=1e-6)


def test_many_chunks_equal_single_epochs_and_reference() -> None:
    """Over several FFT chunks each epoch's features are exactly its single-epoch features (live == batch)."""
    rng = np.random.default_rng(4)
    x = rng.standard_normal((150, 3000)) * 2e-5 + 1e-5 * np.sin(np.arange(3000) * 0.3)
    x[17, 5] = np.nan  # NaN in gives NaN features, the others untouched
    many = base_features_many(x)
    for e in (0, 1, 63, 64, 65, 100, 149):
        np.testing.assert_array_equal(many[e], base_features(x[e]))
        np.testing.assert_allclose(many[e], base_features_reference(x[e]), rtol=0, atol=1e-6)
    assert np.all(np.isnan(many[17])) and np.all(np.isfinite(np.delete(many, 17, axis=0)))
