"""The Numba polyphase resampler equals scipy.signal.resample_poly (its plain reference)."""

from __future__ import annotations

import numpy as np
import pytest

from dreamband.signal.epochs import EpochBuffer, resample_to_staging
from dreamband.signal.resample import (
    antialias_fir,
    rational_factors,
    resample_poly_reference,
    resample_poly_rows,
)


@pytest.mark.parametrize("sfreq", [125.0, 200.0, 250.0, 256.0, 50.0, 512.0, 160.0, 1000.0])
def test_resample_equals_scipy_on_random_signals(sfreq: float) -> None:
    rng = np.random.default_rng(int(sfreq))
    up, down = rational_factors(sfreq, 100.0)
    x = rng.standard_normal((3, int(sfreq * 30))) * 20.0 + rng.standard_normal((3, 1)) * 50.0
    ref = resample_poly_reference(x, up, down)
    got = resample_poly_rows(x, up, down)
    assert got.shape == ref.shape == (3, 3000)
    np.testing.assert_allclose(got, ref, rtol=0, atol=1e-12 * np.max(np.abs(ref)))


@pytest.mark.parametrize("sfreq", [125.0, 200.0, 250.0, 256.0, 512.0, 1000.0])
def test_single_precision_resample_is_within_float32_rounding_of_scipy(sfreq: float) -> None:
    """The float32 kernel (the streaming resampler's) against SciPy's float64 resample_poly."""
    rng = np.random.default_rng(int(sfreq) + 1)
    up, down = rational_factors(sfreq, 100.0)
    x = rng.standard_normal((3, int(sfreq * 30))) * 20.0
    x[1] += 200.0 * np.sin(2 * np.pi * 0.5 * np.arange(x.shape[1]) / sfreq)  # slow, large swings
    ref = resample_poly_reference(x, up, down)
    got = resample_poly_rows(x, up, down, single=True)
    assert got.dtype == np.float32 and got.shape == ref.shape == (3, 3000)
    err = np.abs(got - ref).max(axis=1) / np.abs(x).max(axis=1)
    assert err.max() < 2e-6  # float32 rounding of the input, the taps and ~50 sums
    assert err.max() > 1e-12  # it is single precision (not the float64 kernel by mistake)


@pytest.mark.parametrize(("up", "down"), [(2, 5), (4, 5), (25, 64), (2, 1), (1, 3), (3, 2), (6, 4)])
@pytest.mark.parametrize("n", [1, 2, 7, 40, 333])
def test_resample_short_and_odd_lengths(up: int, down: int, n: int) -> None:
    x = np.random.default_rng(n).standard_normal((2, n))
    ref = resample_poly_reference(x, up, down)
    got = resample_poly_rows(x, up, down)
    assert got.shape == ref.shape
    np.testing.assert_allclose(got, ref, rtol=0, atol=1e-12 * max(1.0, np.max(np.abs(ref))))
    single = resample_poly_rows(x, up, down, single=True)
    np.testing.assert_allclose(single, ref, rtol=0, atol=2e-6 * max(1.0, np.max(np.abs(x))))


def test_resample_identity_and_bad_input() -> None:
    x = np.arange(12.0).reshape(2, 6)
    y = resample_poly_rows(x, 3, 3)
    assert np.array_equal(y, x) and y is not x
    with pytest.raises(ValueError, match="n_rows, n_samples"):
        resample_poly_rows(np.zeros(10), 2, 5)
    with pytest.raises(ValueError, match="positive"):
        resample_poly_rows(np.zeros((1, 10)), 0, 5)
    with pytest.raises(ValueError, match="positive"):
        rational_factors(0.0, 100.0)


def test_fir_is_resample_polys_default() -> None:
    from scipy import signal as sps

    x = np.random.default_rng(3).standard_normal((1, 7500))
    np.testing.assert_allclose(sps.resample_poly(x, 2, 5, axis=1), resample_poly_reference(x, 2, 5), rtol=0, atol=1e-13)
    assert antialias_fir(2, 5).shape == (101,)


def test_epoch_buffer_staging_rows_resamples_only_those() -> None:
    rng = np.random.default_rng(5)
    x = rng.standard_normal((4, 7500 * 2)) * 20.0
    full = EpochBuffer(250.0, 4).push(x)
    some = EpochBuffer(250.0, 4, staging_rows=[2, 0]).push(x)
    assert len(full) == len(some) == 2
    # the continuous stream (after the resampler's 30-sample zero prefix), resampled at once
    ref = resample_poly_reference(np.concatenate([np.zeros((4, 30)), x], axis=1), 2, 5) * 1e-6
    for k, (a, b) in enumerate(zip(full, some, strict=True)):
        assert b.staging_v.shape == (2, 3000)
        np.testing.assert_array_equal(b.staging_v, a.staging_v[[2, 0]])
        np.testing.assert_array_equal(b.data_uv, a.data_uv)
        # the streaming resampler is single precision: within 2e-6 of the input's scale, in volts
        np.testing.assert_allclose(a.staging_v, ref[:, 3000 * k : 3000 * (k + 1)], rtol=0,
                                   atol=2e-6 * np.abs(x).max() * 1e-6)
    with pytest.raises(ValueError, match="staging_rows"):
        EpochBuffer(250.0, 4, staging_rows=[4])


def test_resample_to_staging_interpolates_nans_first() -> None:
    x = np.random.default_rng(9).standard_normal((1, 7500)) * 10.0
    y = x.copy()
    y[0, 100:110] = np.nan
    filled = x.copy()
    filled[0, 100:110] = np.interp(np.arange(100, 110), [99, 110], [x[0, 99], x[0, 110]])
    np.testing.assert_allclose(resample_to_staging(y, 250.0), resample_poly_reference(filled, 2, 5) * 1e-6,
                               rtol=0, atol=1e-18)


def test_screen_epochs_equals_screen_epoch() -> None:
    from dreamband.signal.quality import assess_epochs
    from dreamband.signal.stager import screen_epoch, screen_epochs

    rng = np.random.default_rng(11)
    staging = rng.standard_normal((6, 2, 3000)) * 20e-6
    staging[1, 0] = 0.0  # no signal
    staging[2, 1] *= 1000.0  # not EEG
    staging[3, 0, 5] = np.nan  # lost
    native = rng.standard_normal((6, 2, 7500)) * 20.0
    native[4, 1] = 0.0  # flat: quality not ok
    quals = assess_epochs(native, 250.0, ["a", "b"])
    got = screen_epochs(staging, [*quals[:5], None], ["a", "b"])
    want = [screen_epoch(staging[e], [*quals[:5], None][e], ["a", "b"]) for e in range(6)]
    assert got == want
    assert got[0] == ([], True) and "no signal" in got[1][0][0] and "not EEG" in got[2][0][0]
    assert "lost" in got[3][0][-1] and got[4][1] is False


def test_all_finite_kernel_equals_numpy() -> None:
    from dreamband.signal.epochs import all_finite

    x = np.random.default_rng(2).standard_normal((3, 500))
    assert all_finite(x) == bool(np.isfinite(x).all()) is True
    for bad in (np.nan, np.inf, -np.inf):
        y = x.copy()
        y[2, 499] = bad
        assert all_finite(y) == bool(np.isfinite(y).all()) is False


def test_rms_kernel_equals_numpy() -> None:
    from dreamband.signal.stager import _rms, _rms_reference

    x = np.random.default_rng(8).standard_normal((5, 2, 3000)) * 3e-5 + 1e-4
    np.testing.assert_allclose(_rms(x), _rms_reference(x), rtol=1e-12, atol=0)
    assert _rms(x).shape == (5, 2)
