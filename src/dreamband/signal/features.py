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

:func:`base_features` is the Numba kernel (an in-house radix-2 FFT of the 256-sample
segments); :func:`base_features_reference` is the plain SciPy version written from the recipe.
"""

from __future__ import annotations

import numpy as np
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


def _fft_tables(n: int) -> tuple[np.ndarray, np.ndarray, np.ndarray]:
    bits = int(np.log2(n))
    rev = np.array([int(format(i, f"0{bits}b")[::-1], 2) for i in range(n)], dtype=np.int64)
    k = np.arange(n // 2)
    return rev, np.cos(-2.0 * np.pi * k / n), np.sin(-2.0 * np.pi * k / n)


_BAND_BINS = _band_bins()
_BITREV, _TW_RE, _TW_IM = _fft_tables(NPERSEG)
_WINDOW = sps.get_window("hann", NPERSEG)  # periodic, as welch uses
_WELCH_SCALE = 1.0 / (STAGING_SFREQ * float(np.sum(_WINDOW**2)))


@njit(cache=True)
def _fft_radix2(re: np.ndarray, im: np.ndarray, bitrev: np.ndarray, tw_re: np.ndarray, tw_im: np.ndarray) -> None:
    """In-place iterative radix-2 FFT (decimation in time) of length ``len(re)`` (a power of 2)."""
    n = re.shape[0]
    for i in range(n):
        j = bitrev[i]
        if j > i:
            t = re[i]
            re[i] = re[j]
            re[j] = t
            t = im[i]
            im[i] = im[j]
            im[j] = t
    size = 2
    while size <= n:
        half = size // 2
        step = n // size
        for start in range(0, n, size):
            for k in range(half):
                wr = tw_re[k * step]
                wi = tw_im[k * step]
                a = start + k
                b = a + half
                xr = re[b] * wr - im[b] * wi
                xi = re[b] * wi + im[b] * wr
                re[b] = re[a] - xr
                im[b] = im[a] - xi
                re[a] += xr
                im[a] += xi
        size *= 2


@njit(cache=True)
def _welch_psd(x: np.ndarray, window: np.ndarray, scale: float, bitrev: np.ndarray, tw_re: np.ndarray, tw_im: np.ndarray) -> np.ndarray:
    """One-sided Welch density of ``x`` with 256-sample segments and 50 % overlap (bins 0..128)."""
    nper = window.shape[0]
    step = nper // 2
    n_bins = nper // 2 + 1
    n_seg = (x.shape[0] - nper) // step + 1
    psd = np.zeros(n_bins)
    re = np.empty(nper)
    im = np.empty(nper)
    # two real segments per complex FFT: z = a + i b, then split with the conjugate symmetry
    for s in range(0, n_seg, 2):
        pair = s + 1 < n_seg
        off_a = s * step
        off_b = (s + 1) * step
        mean_a = 0.0
        mean_b = 0.0
        for i in range(nper):
            mean_a += x[off_a + i]
            if pair:
                mean_b += x[off_b + i]
        mean_a /= nper
        mean_b /= nper
        for i in range(nper):
            re[i] = (x[off_a + i] - mean_a) * window[i]
            im[i] = (x[off_b + i] - mean_b) * window[i] if pair else 0.0
        _fft_radix2(re, im, bitrev, tw_re, tw_im)
        for k in range(n_bins):
            j = (nper - k) % nper
            # A_k = (Z_k + conj(Z_j)) / 2 ; B_k = (Z_k - conj(Z_j)) / 2i
            ar = re[k] + re[j]
            ai = im[k] - im[j]
            br = re[k] - re[j]
            bi = im[k] + im[j]
            psd[k] += 0.25 * (ar * ar + ai * ai + br * br + bi * bi)
    for k in range(n_bins):
        p = psd[k] * scale / n_seg
        if k != 0 and k != n_bins - 1:
            p *= 2.0
        psd[k] = p
    return psd


@njit(cache=True)
def _base_features_kernel(x: np.ndarray, out: np.ndarray, window: np.ndarray, scale: float, bitrev: np.ndarray,
                          tw_re: np.ndarray, tw_im: np.ndarray, band_bins: np.ndarray) -> None:
    psd = _welch_psd(x, window, scale, bitrev, tw_re, tw_im)
    for b in range(band_bins.shape[0]):
        lo = band_bins[b, 0]
        hi = band_bins[b, 1]
        acc = 0.0
        for k in range(lo, hi + 1):
            acc += psd[k]
        out[b] = np.log(acc / (hi - lo + 1) + 1e-10)
    out[5] = out[1] / (out[2] + 1e-10)
    out[6] = out[2] / (out[0] + 1e-10)
    n = x.shape[0]
    mean = 0.0
    for i in range(n):
        mean += x[i]
    mean /= n
    var = 0.0
    for i in range(n):
        d = x[i] - mean
        var += d * d
    var /= n
    dmean = (x[n - 1] - x[0]) / (n - 1)
    dvar = 0.0
    for i in range(n - 1):
        d = x[i + 1] - x[i] - dmean
        dvar += d * d
    dvar /= n - 1
    out[7] = np.log(var + 1e-10)
    out[8] = np.sqrt(dvar / (var + 1e-10))


@njit(cache=True)
def _base_features_batch(x: np.ndarray, window: np.ndarray, scale: float, bitrev: np.ndarray,
                         tw_re: np.ndarray, tw_im: np.ndarray, band_bins: np.ndarray) -> np.ndarray:
    out = np.empty((x.shape[0], 9))
    for e in range(x.shape[0]):
        _base_features_kernel(x[e], out[e], window, scale, bitrev, tw_re, tw_im, band_bins)
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
    return _base_features_batch(x[None, :], _WINDOW, _WELCH_SCALE, _BITREV, _TW_RE, _TW_IM, _BAND_BINS)[0]


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
    out = _base_features_batch(flat, _WINDOW, _WELCH_SCALE, _BITREV, _TW_RE, _TW_IM, _BAND_BINS)
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
