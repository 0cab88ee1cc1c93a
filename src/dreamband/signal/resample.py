"""Polyphase resampling by a rational factor, in Numba, equal to ``scipy.signal.resample_poly``.

:func:`resample_poly_rows` computes exactly what ``scipy.signal.resample_poly(x, up, down,
axis=1)`` computes with its defaults (Kaiser-window FIR from ``scipy.signal.firwin`` with
``2 * 10 * max(up, down) + 1`` taps, cutoff ``1 / max(up, down)`` of Nyquist, gain ``up``,
zero padding outside the signal, output centred on the input): the same products summed in
the same order, so both agree to rounding (in practice bit for bit).
:func:`resample_poly_reference` is that SciPy call.

Why it is faster: output sample ``i`` is ``sum_t h[t] * xu[i * down + half_len - t]`` (``xu``:
the input with ``up - 1`` zeros between samples). Outputs ``i`` and ``i + up`` use the same
filter phase, their inputs ``down`` samples apart; splitting the zero-padded input into
``down`` strided streams makes every tap a contiguous multiply-add over all outputs of a
phase, which the compiler vectorises (4 taps per pass keep the partial sums in order).
"""

from __future__ import annotations

from fractions import Fraction
from functools import lru_cache

import numpy as np
from numba import njit
from scipy import signal as sps


def rational_factors(sfreq: float, target_sfreq: float, max_denominator: int = 1000) -> tuple[int, int]:
    """``(up, down)`` with ``target_sfreq / sfreq ~= up / down`` in lowest terms.

    Parameters
    ----------
    sfreq, target_sfreq : float
        Hz, both positive.
    max_denominator : int
        Largest ``down`` considered (the ratio is approximated beyond that).
    """
    if not (np.isfinite(sfreq) and np.isfinite(target_sfreq)) or sfreq <= 0 or target_sfreq <= 0:
        raise ValueError(f"Rates must be positive numbers of Hz, got {sfreq!r} -> {target_sfreq!r}.")
    frac = Fraction(float(target_sfreq) / float(sfreq)).limit_denominator(max_denominator)
    if frac == 0:
        raise ValueError(f"Cannot resample {sfreq} Hz to {target_sfreq} Hz (ratio below 1/{max_denominator}).")
    return frac.numerator, frac.denominator


@lru_cache(maxsize=32)
def antialias_fir(up: int, down: int) -> np.ndarray:
    """The low-pass FIR ``resample_poly`` designs by default (read-only, cached), shape (20 * max + 1,)."""
    max_rate = max(up, down)
    h = sps.firwin(2 * 10 * max_rate + 1, 1.0 / max_rate, window=("kaiser", 5.0))
    h.flags.writeable = False
    return h


@lru_cache(maxsize=32)
def _phase_taps(up: int, down: int) -> tuple[np.ndarray, np.ndarray, int]:
    """Per filter phase ``p``: the taps ``up * h[p + l * up]`` in input order, their count, half_len."""
    h = antialias_fir(up, down)
    half_len = (h.shape[0] - 1) // 2
    hu = h * up
    n_max = (h.shape[0] + up - 1) // up
    taps = np.zeros((up, n_max))
    n_taps = np.zeros(up, dtype=np.int64)
    for p in range(up):
        ph = hu[p::up]  # tap l multiplies input sample base - l
        n_taps[p] = ph.size
        taps[p, : ph.size] = ph[::-1]  # so taps[p, l] multiplies input sample start + l
    taps.flags.writeable = False
    n_taps.flags.writeable = False
    return taps, n_taps, half_len


@lru_cache(maxsize=32)
def _phase_taps_single(up: int, down: int) -> np.ndarray:
    """:func:`_phase_taps`' taps rounded to float32 (read-only, cached)."""
    taps = _phase_taps(up, down)[0].astype(np.float32)
    taps.flags.writeable = False
    return taps


@njit(cache=True)
def _axpy4(acc: np.ndarray, s: np.ndarray, nq: int, o0: int, o1: int, o2: int, o3: int,
           g0: float, g1: float, g2: float, g3: float) -> None:
    """``acc[q] += g0 s[o0 + q]``, then ``+ g1 s[o1 + q]`` ... (in this order), for q < nq."""
    # slices first: indices q >= 0 then need no wraparound test, so the loop vectorises
    s0 = s[o0 : o0 + nq]
    s1 = s[o1 : o1 + nq]
    s2 = s[o2 : o2 + nq]
    s3 = s[o3 : o3 + nq]
    for q in range(nq):
        acc[q] = (((acc[q] + g0 * s0[q]) + g1 * s1[q]) + g2 * s2[q]) + g3 * s3[q]


@njit(cache=True)
def _resample_poly_kernel(x: np.ndarray, taps: np.ndarray, n_taps: np.ndarray, up: int, down: int,
                          half_len: int, out: np.ndarray, streams: np.ndarray, acc: np.ndarray) -> None:
    """Polyphase resampling of every row of ``x`` (m, n_in) into ``out`` (m, n_out); zero padding.

    ``streams`` (zeros, :func:`_kernel_buffers`) and ``acc`` are work space of the same dtype
    as ``x``, ``taps`` and ``out`` (float64, or float32: the same code compiled for single
    precision, twice the SIMD lanes).
    """
    n_rows, n_in = x.shape
    n_out = out.shape[1]
    pad = taps.shape[1] + down
    n_str = (n_in + 2 * pad + down - 1) // down  # stream j (input samples j, j + down, ...) at j * n_str
    for r in range(n_rows):
        for j in range(down):  # padded sample kk = nn * down + j is input sample kk - pad
            base = j * n_str
            nn0 = (pad - j + down - 1) // down
            nn1 = (n_in + pad - j + down - 1) // down
            k = nn0 * down + j - pad
            for nn in range(nn0, nn1):
                streams[base + nn] = x[r, k]
                k += down
        for i0 in range(min(up, n_out)):
            nq = (n_out - i0 + up - 1) // up  # outputs i0, i0 + up, i0 + 2 up, ...
            c0 = i0 * down + half_len
            p = c0 % up
            m = n_taps[p]
            start0 = (c0 - p) // up - (m - 1) + pad  # padded input index of tap 0 for output i0
            for q in range(nq):
                acc[q] = 0.0
            lt = 0
            while lt + 4 <= m:
                s0 = start0 + lt
                o0 = (s0 % down) * n_str + s0 // down
                o1 = ((s0 + 1) % down) * n_str + (s0 + 1) // down
                o2 = ((s0 + 2) % down) * n_str + (s0 + 2) // down
                o3 = ((s0 + 3) % down) * n_str + (s0 + 3) // down
                g0 = taps[p, lt]
                g1 = taps[p, lt + 1]
                g2 = taps[p, lt + 2]
                g3 = taps[p, lt + 3]
                _axpy4(acc, streams, nq, o0, o1, o2, o3, g0, g1, g2, g3)
                lt += 4
            while lt < m:
                s0 = start0 + lt
                o0 = (s0 % down) * n_str + s0 // down
                g0 = taps[p, lt]
                st = streams[o0 : o0 + nq]
                for q in range(nq):
                    acc[q] += g0 * st[q]
                lt += 1
            for q in range(nq):
                out[r, i0 + q * up] = acc[q]


def _kernel_buffers(n_in: int, n_out: int, n_taps_max: int, up: int, down: int,
                    dtype: type) -> tuple[np.ndarray, np.ndarray]:
    """Work space of :func:`_resample_poly_kernel`: the zero-padded input streams and one phase's sums."""
    pad = n_taps_max + down
    n_str = (n_in + 2 * pad + down - 1) // down
    return np.zeros(down * n_str, dtype=dtype), np.empty((n_out + up - 1) // up, dtype=dtype)


def resample_poly_rows(x: np.ndarray, up: int, down: int, single: bool = False) -> np.ndarray:
    """Resample every row of ``x`` by ``up / down`` (Numba), as ``resample_poly(x, up, down, axis=1)``.

    Parameters
    ----------
    x : ndarray, shape (n_rows, n_samples)
        Finite samples (any unit; NaN spreads over the filter length as in SciPy).
    up, down : int
        Positive integers (reduced by their gcd here).
    single : bool
        Compute in float32 (the input and the taps rounded to float32, the sums in float32; about
        half the CPU, relative error ~1e-6 of the signal's scale). Default: float64, the same
        products in the same order as SciPy.

    Returns
    -------
    ndarray, shape (n_rows, ceil(n_samples * up / down)), float64 (float32 when ``single``)
    """
    dtype = np.float32 if single else np.float64
    x = np.ascontiguousarray(x, dtype=dtype)
    if x.ndim != 2:
        raise ValueError(f"resample_poly_rows takes (n_rows, n_samples), got shape {x.shape}.")
    up, down = int(up), int(down)
    if up < 1 or down < 1:
        raise ValueError(f"up and down must be positive integers, got {up}, {down}.")
    g = np.gcd(up, down)
    up, down = up // g, down // g
    if up == down == 1:
        return x.copy()
    n_out = -(-x.shape[1] * up // down)
    out = np.empty((x.shape[0], n_out), dtype=dtype)
    if x.shape[1] == 0 or x.shape[0] == 0:
        return out
    taps, n_taps, half_len = _phase_taps(up, down)
    if single:
        taps = _phase_taps_single(up, down)
    streams, acc = _kernel_buffers(x.shape[1], n_out, taps.shape[1], up, down, dtype)
    _resample_poly_kernel(x, taps, n_taps, up, down, half_len, out, streams, acc)
    return out


def resample_poly_reference(x: np.ndarray, up: int, down: int) -> np.ndarray:
    """Plain SciPy reference of :func:`resample_poly_rows` (``scipy.signal.resample_poly``, axis 1)."""
    x = np.asarray(x, dtype=np.float64)
    g = np.gcd(int(up), int(down))
    up, down = int(up) // g, int(down) // g
    if up == down == 1:
        return x.copy()
    return sps.resample_poly(x, up, down, axis=1, window=antialias_fir(up, down))


def warmup_resample() -> None:
    """Compile the resampling kernel (double and single precision)."""
    resample_poly_rows(np.zeros((1, 50)), 2, 5)
    resample_poly_rows(np.zeros((1, 50)), 2, 5, single=True)
