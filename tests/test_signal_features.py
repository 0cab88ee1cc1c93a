"""Base features: Numba kernel == SciPy reference recipe, on random and real signals."""

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
            np.testing.assert_allclose(base_features(x), base_features_reference(x), rtol=0, atol=1e-9)


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


def test_recipe_scale_matches_sleep_edf_columns(shared_datasets: Path) -> None:
    """Real 30-s EEG in volts gives features in the range of the dataset's own columns 0-8."""
    x_uv = np.loadtxt(shared_datasets / "yasa-snippets" / "data_N3_no-spindles_30sec_100Hz.txt")
    f = base_features(x_uv * 1e-6)
    np.testing.assert_allclose(f, base_features_reference(x_uv * 1e-6), rtol=0, atol=1e-9)
    X = np.load(shared_datasets / "sleep-edf" / "features" / "SC4001E0.npz")["X"]
    lo, hi = X[:, :9].min(axis=0), X[:, :9].max(axis=0)
    span = hi - lo
    assert np.all(f >= lo - span) and np.all(f <= hi + span)


def test_real_dreams_and_yasa_match_reference(shared_datasets: Path) -> None:
    d = shared_datasets / "dreams-spindles"
    sig = np.loadtxt(d / "excerpt2.txt", skiprows=1)[: 200 * 300]  # 5 min at 200 Hz
    epochs = np.stack([resample_to_staging(sig[None, i * 6000 : (i + 1) * 6000], 200.0)[0] for i in range(10)])
    batch = base_features_many(epochs)
    for e in range(10):
        np.testing.assert_allclose(batch[e], base_features_reference(epochs[e]), rtol=0, atol=1e-9)
    y = shared_datasets / "yasa-snippets"
    n2 = np.loadtxt(y / "data_N2_spindles_15sec_200Hz.txt")  # 15 s at 200 Hz: tile to 30 s
    v = resample_to_staging(np.tile(n2, 2)[None, :], 200.0)[0]
    np.testing.assert_allclose(base_features(v), base_features_reference(v), rtol=0, atol=1e-9)
    eog = np.load(y / "data_EOGs_REM_256Hz.npz")["data"][:, : 7680 * 3]
    for k in range(3):
        v = resample_to_staging(eog[:, k * 7680 : (k + 1) * 7680], 256.0)
        for c in range(2):
            np.testing.assert_allclose(base_features(v[c]), base_features_reference(v[c]), rtol=0, atol=1e-9)


def test_many_chunks_equal_single_epochs_and_reference() -> None:
    """Over several FFT chunks each epoch's features are exactly its single-epoch features (live == batch)."""
    rng = np.random.default_rng(4)
    x = rng.standard_normal((150, 3000)) * 2e-5 + 1e-5 * np.sin(np.arange(3000) * 0.3)
    x[17, 5] = np.nan  # NaN in gives NaN features, the others untouched
    many = base_features_many(x)
    for e in (0, 1, 63, 64, 65, 100, 149):
        np.testing.assert_array_equal(many[e], base_features(x[e]))
        np.testing.assert_allclose(many[e], base_features_reference(x[e]), rtol=0, atol=1e-9)
    assert np.all(np.isnan(many[17])) and np.all(np.isfinite(np.delete(many, 17, axis=0)))
