"""The 9 base staging features of one 30-s epoch, exactly as the Sleep-EDF feature files made them.

Recipe (``shared/datasets/sleep-edf/README.md``), on a 30-s epoch in **volts at 100 Hz**
(3000 samples):

1-5. ``log(mean(PSD in band) + 1e-10)`` for the bands 0.5-4, 4-8, 8-13, 13-30, 30-50 Hz
     (inclusive), PSD = ``scipy.signal.welch(x, fs=100, nperseg=256)`` (periodic Hann window,
     50 % overlap, constant detrend, density scaling, one-sided, mean over segments);
6.   ``theta_log / (alpha_log + 1e-10)``;
7.   ``alpha_log / (delta_log + 1e-10)``;
8.   ``log(var(x) + 1e-10)`` (Hjorth activity);
9.   ``sqrt(var(diff(x)) / (var(x) + 1e-10))`` (Hjorth mobility, samples^-1).

:func:`base_features` is Numba kernels (segments, power spectra, bands, Hjorth) around one
batched single-precision ``scipy.fft.rfft`` of all 256-sample segments (the demeaned, windowed
segments rounded to float32 once, the powers summed in float64: the FFT was most of the
features' CPU and float32 halves it); :func:`base_features_reference` is the plain float64
SciPy version written from the recipe. They agree within ~1e-6 (the log band powers, absolute)
(tested).
"""

from __future__ import annotations

import numpy as np
import scipy.fft
from numba import njit
from scipy import signal as sps

STAGING_SFREQ: float = 100.0
EPOCH_SAMPLES: int = 3000
NPERSEG: int = 256
NOVERLAP: int = 128
BASE_FEATURE_NAMES: tuple[str, ...] = (
    "delta", "theta", "alpha", "beta", "gamma", "theta_alpha", "alpha_delta",
    "hjorth_activity", "hjorth_mobility",
)
N_BASE: int = len(BASE_FEATURE_NAMES)
BANDS_HZ: tuple[tuple[float, float], ...] = ((0.5, 4.0), (4.0, 8.0), (8.0, 13.0), (13.0, 30.0), (30.0, 50.0))
EPS: float = 1e-10


def _band_bins() -> np.ndarray:
    """First and last (inclusive) rfft bin of every band, as scipy's frequency grid gives them."""
    freqs = np.fft.rfftfreq(NPERSEG, 1.0 / STAGING_SFREQ)
    out = np.empty((len(BANDS_HZ), 2), dtype=np.int64)
    for i, (lo, hi) in enumerate(BANDS_HZ):
        idx = np.flatnonzero((freqs >= lo) & (freqs <= hi))
        out[i] = idx[0], idx[-1]
    return out


_BAND_BINS = _band_bins()
_WINDOW = sps.get_window("hann", NPERSEG)  # periodic, as welch uses
_WELCH_SCALE = 1.0 / (STAGING_SFREQ * float(np.sum(_WINDOW**2)))
_N_SEG = (EPOCH_SAMPLES - NPERSEG) // NOVERLAP + 1
#: epochs per batched FFT call (the segment buffer, ~2.9 MB, stays in cache and is reused)
_CHUNK = 64


@njit(cache=True)
def _welch_segments(x: np.ndarray, window: np.ndarray, out: np.ndarray) -> None:
    """Every 256-sample segment (50 % overlap) of every row of ``x``, mean removed, times the window.

    ``out`` (n_rows * n_seg, 256): segment ``s`` of row ``e`` at ``e * n_seg + s`` (float64, or
    float32: computed in float64, rounded once on the store).
    """
    nper = window.shape[0]
    step = nper // 2
    n_seg = (x.shape[1] - nper) // step + 1
    for e in range(x.shape[0]):
        for s in range(n_seg):
            off = s * step
            mean = 0.0
            for i in range(nper):
                mean += x[e, off + i]
            mean /= nper
            o = out[e * n_seg + s]
            for i in range(nper):
                o[i] = (x[e, off + i] - mean) * window[i]


@njit(cache=True)
def _features_from_spectra(x: np.ndarray, spec: np.ndarray, scale: float, band_bins: np.ndarray,
                           out: np.ndarray) -> None:
    """The 9 features of every row of ``x`` (m, 3000) from the rfft ``spec`` (m * n_seg, 129) of its segments."""
    m = x.shape[0]
    n_seg = spec.shape[0] // max(m, 1)
    n_bins = spec.shape[1]
    psd = np.empty(n_bins)
    for e in range(m):
        for k in range(n_bins):
            psd[k] = 0.0
        for s in range(n_seg):
            row = spec[e * n_seg + s]
            for k in range(n_bins):
                c = row[k]
                re = np.float64(c.real)  # complex64 spectra: the powers in float64
                im = np.float64(c.imag)
                psd[k] += re * re + im * im
        for k in range(n_bins):  # one-sided density, mean over segments
            p = psd[k] * scale / n_seg
            if k != 0 and k != n_bins - 1:
                p *= 2.0
            psd[k] = p
        for b in range(band_bins.shape[0]):
            lo = band_bins[b, 0]
            hi = band_bins[b, 1]
            acc = 0.0
            for k in range(lo, hi + 1):
                acc += psd[k]
            out[e, b] = np.log(acc / (hi - lo + 1) + 1e-10)
        out[e, 5] = out[e, 1] / (out[e, 2] + 1e-10)
        out[e, 6] = out[e, 2] / (out[e, 0] + 1e-10)
        n = x.shape[1]
        mean = 0.0
        for i in range(n):
            mean += x[e, i]
        mean /= n
        var = 0.0
        for i in range(n):
            d = x[e, i] - mean
            var += d * d
        var /= n
        dmean = (x[e, n - 1] - x[e, 0]) / (n - 1)
        dvar = 0.0
        for i in range(n - 1):
            d = x[e, i + 1] - x[e, i] - dmean
            dvar += d * d
        dvar /= n - 1
        out[e, 7] = np.log(var + 1e-10)
        out[e, 8] = np.sqrt(dvar / (var + 1e-10))


def _base_features_batch(x: np.ndarray) -> np.ndarray:
    """Features of every row of ``x`` (m, 3000), contiguous float64: Numba around batched float32 ``rfft``."""
    m = x.shape[0]
    out = np.empty((m, N_BASE))
    seg = np.empty((min(_CHUNK, max(m, 1)) * _N_SEG, NPERSEG), dtype=np.float32)
    for r0 in range(0, m, _CHUNK):
        r1 = min(r0 + _CHUNK, m)
        sc = seg[: (r1 - r0) * _N_SEG]
        _welch_segments(x[r0:r1], _WINDOW, sc)
        # scipy.fft.rfft: pocketfft in single precision for float32 input (numpy.fft.rfft computes
        # in float64 and costs 4x as much on a fresh input)
        _features_from_spectra(x[r0:r1], scipy.fft.rfft(sc, axis=1), _WELCH_SCALE, _BAND_BINS, out[r0:r1])
    return out


def _check_epochs(x: np.ndarray) -> np.ndarray:
    x = np.asarray(x, dtype=np.float64)
    if x.ndim < 1 or x.shape[-1] != EPOCH_SAMPLES:
        raise ValueError(
            f"Staging features need 30-s epochs at 100 Hz (last axis of {EPOCH_SAMPLES} samples), got "
            f"shape {x.shape}. Resample with EpochBuffer (staging_v) first."
        )
    return x


def base_features(x_volts_100hz: np.ndarray) -> np.ndarray:
    """The 9 base features of one epoch (Numba).

    Parameters
    ----------
    x_volts_100hz : ndarray, shape (3000,)
        One 30-s epoch in volts at 100 Hz.

    Returns
    -------
    ndarray, shape (9,)
        In the order of :data:`BASE_FEATURE_NAMES`. NaN input gives NaN features.
    """
    x = _check_epochs(x_volts_100hz)
    if x.ndim != 1:
        raise ValueError(f"base_features takes one epoch of shape (3000,), got {x.shape}; use base_features_many.")
    return _base_features_batch(np.ascontiguousarray(x[None, :]))[0]


def base_features_many(x_volts_100hz: np.ndarray) -> np.ndarray:
    """The 9 base features of many epochs/channels at once (Numba).

    Parameters
    ----------
    x_volts_100hz : ndarray, shape (..., 3000)
        Epochs in volts at 100 Hz, e.g. (n_epochs, n_channels, 3000).

    Returns
    -------
    ndarray, shape (..., 9)
    """
    x = _check_epochs(x_volts_100hz)
    flat = np.ascontiguousarray(x.reshape(-1, EPOCH_SAMPLES))
    out = _base_features_batch(flat)
    return out.reshape(x.shape[:-1] + (N_BASE,))


def base_features_reference(x_volts_100hz: np.ndarray) -> np.ndarray:
    """Plain SciPy/NumPy reference of :func:`base_features`, written from the recipe.

    Parameters
    ----------
    x_volts_100hz : ndarray, shape (3000,)

    Returns
    -------
    ndarray, shape (9,)
    """
    x = _check_epochs(x_volts_100hz)
    freqs, psd = sps.welch(x, fs=STAGING_SFREQ, nperseg=NPERSEG)
    logs = []
    for lo, hi in BANDS_HZ:
        mask = (freqs >= lo) & (freqs <= hi)
        logs.append(np.log(np.mean(psd[mask]) + EPS))
    delta, theta, alpha, beta, gamma = logs
    var = np.var(x)
    return np.array([
        delta, theta, alpha, beta, gamma,
        theta / (alpha + EPS),
        alpha / (delta + EPS),
        np.log(var + EPS),
        np.sqrt(np.var(np.diff(x)) / (var + EPS)),
    ])


def warmup_features() -> None:
    """Compile the feature kernels."""
    base_features_many(np.zeros((1, EPOCH_SAMPLES)))
