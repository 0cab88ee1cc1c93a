"""Signal quality of one epoch, per channel: can it be staged, and if not, why not.

Statuses (worst first): ``lost`` (too many NaN samples), ``flat`` (no signal: disconnected
or shorted input), ``railed`` (the amplifier sits at its limit), ``off-head`` (mains pick-up
dominates: a floating electrode), ``huge`` (amplitude far beyond EEG: movement, sweat),
``clipped`` (flat-topped at the min/max), ``line-noise`` (strong 50/60 Hz, still stageable),
``noisy`` (a short burst of artefact, still stageable), ``good``.

In the session pipeline the epoch is judged on the conditioned signal (high-passed and notched,
:mod:`~dreamband.signal.conditioning`): ``off-head`` and ``line-noise`` from the hum that remains
after the notch, ``huge``/``noisy`` without the DC offset; ``railed``, ``flat`` and ``clipped``
are judged on the raw samples (``raw_uv``), where the amplifier's limits and plateaus are.
``clipped`` is the share of the epoch's time spent on plateaus (runs of >= 2 equal samples) at
its min or max, so it does not depend on the sampling rate; one sample at the peak is no plateau.
"""

from __future__ import annotations

from collections.abc import Sequence
from dataclasses import dataclass, field
from functools import lru_cache

import numpy as np
import scipy.fft
from numba import njit

STATUSES: tuple[str, ...] = ("good", "noisy", "line-noise", "clipped", "huge", "off-head", "railed", "flat", "lost")
#: statuses an epoch can still be staged with
STAGEABLE: frozenset[str] = frozenset({"good", "noisy", "line-noise"})


@dataclass(frozen=True)
class QualityThresholds:
    """Limits used by :func:`assess_epoch` (microvolts unless said otherwise)."""

    max_nan_fraction: float = 0.05
    flat_std_uv: float = 0.5
    rail_uv: float = 187_000.0
    railed_fraction: float = 0.5
    clipped_fraction: float = 0.02
    huge_std_uv: float = 400.0
    huge_ptp_uv: float = 3000.0
    noisy_ptp_uv: float = 800.0
    line_fraction_noisy: float = 0.25
    line_fraction_off_head: float = 0.7


@dataclass(frozen=True)
class EpochQuality:
    """Quality of one epoch.

    Attributes
    ----------
    ok : bool
        True when every assessed channel can be staged.
    status : dict[str, str]
        Channel name -> one of :data:`STATUSES`.
    reasons : tuple[str, ...]
        Human-readable reasons for every channel that is not ``good``.
    usable : ndarray of bool, shape (n_channels,)
        Per channel: stageable.
    line_fraction : ndarray, shape (n_channels,)
        Share of 1-70 Hz power within ±1 Hz of 50 or 60 Hz (NaN when the rate is too low).
    """

    ok: bool
    status: dict[str, str]
    reasons: tuple[str, ...]
    usable: np.ndarray = field(default_factory=lambda: np.zeros(0, dtype=bool))
    line_fraction: np.ndarray = field(default_factory=lambda: np.zeros(0))

    def subset(self, indices: Sequence[int], channel_names: Sequence[str]) -> EpochQuality:
        """Quality restricted to some channels (e.g. the staging channels)."""
        names = [channel_names[i] for i in indices]
        status = {n: self.status[n] for n in names}
        reasons = tuple(r for r in self.reasons if any(r.startswith(f"{n}:") for n in names))
        usable = self.usable[list(indices)] if self.usable.size else np.zeros(0, dtype=bool)
        lf = self.line_fraction[list(indices)] if self.line_fraction.size else np.zeros(0)
        return EpochQuality(bool(np.all(usable)), status, reasons, usable, lf)


@lru_cache(maxsize=16)
def _line_tables(n: int, sfreq: float) -> tuple[np.ndarray, np.ndarray, tuple[np.ndarray, ...]]:
    freqs = np.fft.rfftfreq(n, 1.0 / sfreq)
    total_band = (freqs >= 1.0) & (freqs <= min(70.0, sfreq / 2))
    lines = tuple((freqs >= f0 - 1) & (freqs <= f0 + 1) for f0 in (50.0, 60.0) if f0 + 1 < sfreq / 2)
    return np.hanning(n), total_band, lines


@lru_cache(maxsize=16)
def _line_bins(n: int, sfreq: float) -> tuple[np.ndarray, np.ndarray]:
    """:func:`_line_tables` as bin ranges: the window, and rows ``[first, last + 1)`` (total band, lines...)."""
    win, total_band, lines = _line_tables(n, sfreq)
    ranges = []
    for m in (total_band, *lines):
        idx = np.flatnonzero(m)
        ranges.append((idx[0], idx[-1] + 1) if idx.size else (0, 0))
    out = np.asarray(ranges, dtype=np.int64)
    out.flags.writeable = False
    return win, out


@njit(cache=True)
def _demean_window(x: np.ndarray, means: np.ndarray, win: np.ndarray, out: np.ndarray) -> None:
    """``out = (z - means[row]) * win`` per row, ``z`` = ``x`` with non-finite samples set to 0.

    Computed in float64; ``out`` may be float32 (the line share's FFT input, rounded once here).
    """
    m, n = x.shape
    for r in range(m):
        mean = means[r]
        xr = x[r]
        o = out[r]
        for i in range(n):
            v = xr[i]
            o[i] = ((v if np.isfinite(v) else 0.0) - mean) * win[i]


@njit(cache=True)
def _line_share(spec: np.ndarray, ranges: np.ndarray, out: np.ndarray) -> None:
    """Per row of the complex spectrum: max line power / total band power (0 when the band is empty).

    ``spec`` may be complex64; the powers are summed in float64.
    """
    for r in range(spec.shape[0]):
        total = 0.0
        for k in range(ranges[0, 0], ranges[0, 1]):
            c = spec[r, k]
            re = np.float64(c.real)
            im = np.float64(c.imag)
            total += re * re + im * im
        line = 0.0
        for j in range(1, ranges.shape[0]):
            acc = 0.0
            for k in range(ranges[j, 0], ranges[j, 1]):
                c = spec[r, k]
                re = np.float64(c.real)
                im = np.float64(c.imag)
                acc += re * re + im * im
            line = max(line, acc)
        out[r] = line / total if total > 0 else 0.0


def _line_fraction(x: np.ndarray, sfreq: float, finite_sums: np.ndarray | None = None) -> np.ndarray:
    """Share of the 1-70 Hz power within ±1 Hz of 50 or 60 Hz, per row of ``x`` (m, n) (NaN below ~104 Hz).

    Non-finite samples count as 0. Numba around one batched single-precision ``scipy.fft.rfft``:
    the demeaned, windowed rows are rounded to float32 once and transformed in float32 (a third
    less CPU than float64: the FFT was the quality check's largest cost), the band powers summed
    in float64. Equal to the float64 :func:`_line_fraction_reference` within ~1e-6 (absolute, on
    a share in [0, 1]; tested); the statuses it decides use thresholds of 0.25 and 0.7.
    ``finite_sums`` (m,): the sums of the finite samples of each row when already known
    (:func:`_row_stats`).
    """
    x = np.ascontiguousarray(x, dtype=np.float64)
    if sfreq < 2 * 52.0:
        return np.full(x.shape[0], np.nan)
    win, ranges = _line_bins(x.shape[1], float(sfreq))
    if finite_sums is None:
        finite_sums = np.where(np.isfinite(x), x, 0.0).sum(axis=1)
    means = np.ascontiguousarray(finite_sums, dtype=np.float64) / max(x.shape[1], 1)
    out = np.empty(x.shape[0])
    chunk = 32  # rows at a time: the buffers stay in cache and are reused (no fresh pages per night)
    w = np.empty((min(chunk, x.shape[0]), x.shape[1]), dtype=np.float32)
    for r0 in range(0, x.shape[0], chunk):
        r1 = min(r0 + chunk, x.shape[0])
        wc = w[: r1 - r0]
        _demean_window(x[r0:r1], means[r0:r1], win, wc)
        # scipy.fft: pocketfft, single precision for float32 input (numpy.fft.rfft computes in
        # float64 and costs 4x as much on an input it has not seen before: the live path's case)
        _line_share(scipy.fft.rfft(wc, axis=1), ranges, out[r0:r1])
    return out


def _line_fraction_reference(x: np.ndarray, sfreq: float) -> np.ndarray:
    """Plain NumPy reference of :func:`_line_fraction`."""
    if sfreq < 2 * 52.0:
        return np.full(x.shape[0], np.nan)
    x = np.where(np.isfinite(x), x, 0.0)
    win, total_band, lines = _line_tables(x.shape[1], float(sfreq))
    spec = np.abs(np.fft.rfft((x - x.mean(axis=1, keepdims=True)) * win, axis=1)) ** 2
    total = spec[:, total_band].sum(axis=1)
    line = np.zeros(x.shape[0])
    for m in lines:
        line = np.maximum(line, spec[:, m].sum(axis=1))
    with np.errstate(invalid="ignore", divide="ignore"):
        return np.where(total > 0, line / np.where(total > 0, total, 1.0), 0.0)


@njit(cache=True)
def _row_stats(x: np.ndarray, rail_uv: float, out: np.ndarray) -> None:
    """Per row of ``x`` (m, n): n_finite, mean, std, max, min, rail fraction, plateau-at-extreme fraction."""
    m, n = x.shape
    for r in range(m):
        cnt = 0
        s = 0.0
        hi = -np.inf
        lo = np.inf
        rail = 0
        for i in range(n):
            v = x[r, i]
            if np.isfinite(v):
                cnt += 1
                s += v
                if v > hi:
                    hi = v
                if v < lo:
                    lo = v
                if abs(v) >= rail_uv:
                    rail += 1
        c = max(cnt, 1)
        mean = s / c
        ss = 0.0
        ext = 0
        for i in range(n):
            v = x[r, i]
            if np.isfinite(v):
                d = v - mean
                ss += d * d
                if (v == hi or v == lo) and ((i > 0 and x[r, i - 1] == v) or (i + 1 < n and x[r, i + 1] == v)):
                    ext += 1
        out[r, 0] = cnt
        out[r, 1] = mean
        out[r, 2] = np.sqrt(ss / c)
        out[r, 3] = hi
        out[r, 4] = lo
        out[r, 5] = rail / c
        out[r, 6] = ext / c


@njit(cache=True)
def _row_stats_pair(x: np.ndarray, raw: np.ndarray, rail_uv: float, out: np.ndarray, out_raw: np.ndarray) -> None:
    """:func:`_row_stats` of the conditioned rows ``x`` and of the raw rows ``raw`` (both (m, n)) in one pass.

    The same sums in the same order as two :func:`_row_stats` calls, so the same bits, for the
    columns :func:`_channel_stats` reads: ``out`` columns 0-4 (count, mean, std, max, min) of
    ``x``; ``out_raw`` columns 2-6 (std, max, min, rail and plateau fractions) of ``raw``. The
    columns nobody reads (the rail and plateau fractions of ``x``, the count and mean of ``raw``)
    are not computed (NaN).
    """
    m, n = x.shape
    for r in range(m):
        cnt = 0
        s = 0.0
        hi = -np.inf
        lo = np.inf
        rcnt = 0
        rs = 0.0
        rhi = -np.inf
        rlo = np.inf
        rail = 0
        for i in range(n):
            v = x[r, i]
            if np.isfinite(v):
                cnt += 1
                s += v
                if v > hi:
                    hi = v
                if v < lo:
                    lo = v
            w = raw[r, i]
            if np.isfinite(w):
                rcnt += 1
                rs += w
                if w > rhi:
                    rhi = w
                if w < rlo:
                    rlo = w
                if abs(w) >= rail_uv:
                    rail += 1
        c = max(cnt, 1)
        mean = s / c
        rc = max(rcnt, 1)
        rmean = rs / rc
        ss = 0.0
        rss = 0.0
        ext = 0
        for i in range(n):
            v = x[r, i]
            if np.isfinite(v):
                d = v - mean
                ss += d * d
            w = raw[r, i]
            if np.isfinite(w):
                d = w - rmean
                rss += d * d
                if (w == rhi or w == rlo) and ((i > 0 and raw[r, i - 1] == w) or (i + 1 < n and raw[r, i + 1] == w)):
                    ext += 1
        out[r, 0] = cnt
        out[r, 1] = mean
        out[r, 2] = np.sqrt(ss / c)
        out[r, 3] = hi
        out[r, 4] = lo
        out[r, 5] = np.nan
        out[r, 6] = np.nan
        out_raw[r, 0] = np.nan
        out_raw[r, 1] = np.nan
        out_raw[r, 2] = np.sqrt(rss / rc)
        out_raw[r, 3] = rhi
        out_raw[r, 4] = rlo
        out_raw[r, 5] = rail / rc
        out_raw[r, 6] = ext / rc


def _row_stats_reference(x: np.ndarray, rail_uv: float) -> np.ndarray:
    """NumPy reference of :func:`_row_stats` (shape (m, 7))."""
    out = np.empty((x.shape[0], 7))
    for r, row in enumerate(x):
        v = row[np.isfinite(row)]
        c = max(v.size, 1)
        hi = v.max() if v.size else -np.inf
        lo = v.min() if v.size else np.inf
        ext = (row == hi) | (row == lo)
        same = np.zeros(row.shape, dtype=bool)
        same[1:] |= row[1:] == row[:-1]
        same[:-1] |= row[:-1] == row[1:]
        out[r] = (v.size, v.sum() / c, np.sqrt(np.sum((v - v.sum() / c) ** 2) / c), hi, lo,
                  np.sum(np.abs(v) >= rail_uv) / c, np.sum(ext & same) / c)
    return out


def _channel_stats(x: np.ndarray, sfreq: float, th: QualityThresholds,
                   raw: np.ndarray | None = None) -> dict[str, np.ndarray]:
    """Per-row statistics of ``x`` (m, n) in µV (NaN = lost): one Numba pass + one batched FFT.

    ``raw`` (m, n): the samples before conditioning; railing, flat and clipping come from it.
    """
    x = np.ascontiguousarray(x, dtype=np.float64)
    st = np.empty((x.shape[0], 7))
    rst = st
    if raw is None:
        _row_stats(x, float(th.rail_uv), st)
    else:  # one pass over both (same bits as two _row_stats calls)
        rst = np.empty((x.shape[0], 7))
        _row_stats_pair(x, np.ascontiguousarray(raw, dtype=np.float64), float(th.rail_uv), st, rst)
    n_fin = st[:, 0]
    return {"n_finite": n_fin, "nan_frac": 1.0 - n_fin / max(x.shape[1], 1), "std": st[:, 2], "hi": st[:, 3],
            "lo": st[:, 4], "rail_frac": rst[:, 5], "at_extreme": rst[:, 6], "raw_std": rst[:, 2],
            "raw_ptp": rst[:, 3] - rst[:, 4],
            "line_frac": _line_fraction(x, sfreq, finite_sums=st[:, 1] * np.maximum(n_fin, 1))}


def warmup_quality() -> None:
    """Compile the quality kernel."""
    _row_stats(np.zeros((1, 4)), 1.0, np.empty((1, 7)))
    _row_stats_pair(np.zeros((1, 4)), np.zeros((1, 4)), 1.0, np.empty((1, 7)), np.empty((1, 7)))
    _line_fraction(np.zeros((1, 256)), 250.0)


def _decide(st: dict[str, np.ndarray], r: int, th: QualityThresholds) -> tuple[str, str, float]:
    """Status, reason and line fraction of row ``r`` of :func:`_channel_stats`."""
    nan_frac = float(st["nan_frac"][r])
    if nan_frac > th.max_nan_fraction:
        return "lost", f"{nan_frac:.0%} of the samples were lost", float("nan")
    if st["n_finite"][r] < 2:
        return "lost", "no samples", float("nan")
    if st["rail_frac"][r] >= th.railed_fraction:
        return "railed", f"the amplifier is at its rail (|x| >= {th.rail_uv:.0f} µV)", float("nan")
    raw_std = float(st["raw_std"][r])
    if raw_std < th.flat_std_uv:
        return "flat", f"flat signal (SD {raw_std:.2f} µV < {th.flat_std_uv} µV): electrode disconnected?", float("nan")
    std = float(st["std"][r])
    lf = float(st["line_frac"][r])
    if np.isfinite(lf) and lf >= th.line_fraction_off_head:
        return "off-head", f"mains hum is {lf:.0%} of the power: electrode off the head?", lf
    hi, lo = float(st["hi"][r]), float(st["lo"][r])
    ptp = hi - lo
    if std > th.huge_std_uv or ptp > th.huge_ptp_uv:
        return "huge", f"amplitude far beyond EEG (SD {std:.0f} µV, peak-to-peak {ptp:.0f} µV)", lf
    at_extreme = float(st["at_extreme"][r])
    if at_extreme >= th.clipped_fraction and float(st["raw_ptp"][r]) > 10 * th.flat_std_uv:
        return "clipped", f"{at_extreme:.1%} of the samples sit at the min/max (clipped)", lf
    if np.isfinite(lf) and lf >= th.line_fraction_noisy:
        return "line-noise", f"strong 50/60 Hz line noise ({lf:.0%} of the power)", lf
    if ptp > th.noisy_ptp_uv:
        return "noisy", f"artefact burst (peak-to-peak {ptp:.0f} µV)", lf
    return "good", "", lf


def _good_rows(st: dict[str, np.ndarray], th: QualityThresholds) -> np.ndarray:
    """Rows :func:`_decide` calls ``good``: none of its tests fires (the same comparisons, vectorised)."""
    lf = st["line_frac"]
    lf_fin = np.isfinite(lf)
    ptp = st["hi"] - st["lo"]
    with np.errstate(invalid="ignore"):
        bad = ((st["nan_frac"] > th.max_nan_fraction) | (st["n_finite"] < 2) | (st["rail_frac"] >= th.railed_fraction)
               | (st["raw_std"] < th.flat_std_uv) | (lf_fin & (lf >= th.line_fraction_off_head))
               | (st["std"] > th.huge_std_uv) | (ptp > th.huge_ptp_uv)
               | ((st["at_extreme"] >= th.clipped_fraction) & (st["raw_ptp"] > 10 * th.flat_std_uv))
               | (lf_fin & (lf >= th.line_fraction_noisy)) | (ptp > th.noisy_ptp_uv))
    return ~bad


def _check_args(sfreq: float, n_ch: int, channel_names: Sequence[str] | None) -> list[str]:
    if not np.isfinite(sfreq) or sfreq <= 0:
        raise ValueError(f"sfreq must be a positive number of Hz, got {sfreq!r}.")
    names = list(channel_names) if channel_names is not None else [f"ch{i}" for i in range(n_ch)]
    if len(names) != n_ch:
        raise ValueError(f"{len(names)} channel names for {n_ch} channels.")
    return names


def assess_epochs(
    data_uv: np.ndarray,
    sfreq: float,
    channel_names: Sequence[str] | None = None,
    thresholds: QualityThresholds | None = None,
    raw_uv: np.ndarray | None = None,
) -> list[EpochQuality]:
    """Assess many epochs at once (vectorised; same answers as :func:`assess_epoch` per epoch).

    Parameters
    ----------
    data_uv : ndarray, shape (n_epochs, n_channels, n_samples)
        Microvolts at ``sfreq`` (NaN = lost sample).
    sfreq : float
    channel_names : sequence of str, optional
    thresholds : QualityThresholds, optional
    raw_uv : ndarray, shape (n_epochs, n_channels, n_samples), optional
        The same epochs before conditioning (railing, flat, clipping); default ``data_uv``.

    Returns
    -------
    list of EpochQuality, one per epoch
    """
    data_uv = np.asarray(data_uv, dtype=np.float64)
    if data_uv.ndim != 3:
        raise ValueError(f"data_uv must have shape (n_epochs, n_channels, n_samples), got {data_uv.shape}.")
    n_ep, n_ch, n = data_uv.shape
    names = _check_args(sfreq, n_ch, channel_names)
    th = thresholds or QualityThresholds()
    raw = None
    if raw_uv is not None:
        raw_uv = np.asarray(raw_uv, dtype=np.float64)
        if raw_uv.shape != data_uv.shape:
            raise ValueError(f"raw_uv has shape {raw_uv.shape} but data_uv {data_uv.shape}.")
        raw = raw_uv.reshape(n_ep * n_ch, n)
    stats = _channel_stats(data_uv.reshape(n_ep * n_ch, n), float(sfreq), th, raw)
    good = _good_rows(stats, th).reshape(n_ep, n_ch)
    lf_all = stats["line_frac"].reshape(n_ep, n_ch)
    all_good = good.all(axis=1).tolist()
    out = []
    for e in range(n_ep):
        if all_good[e]:  # most epochs: _decide would say "good" for every channel
            out.append(EpochQuality(True, dict.fromkeys(names, "good"), (), np.ones(n_ch, dtype=bool), lf_all[e].copy()))
            continue
        status: dict[str, str] = {}
        reasons: list[str] = []
        usable = np.zeros(n_ch, dtype=bool)
        lfs = np.full(n_ch, np.nan)
        for i, name in enumerate(names):
            st, why, lf = _decide(stats, e * n_ch + i, th)
            status[name] = st
            usable[i] = st in STAGEABLE
            lfs[i] = lf
            if st != "good":
                reasons.append(f"{name}: {st}: {why}")
        out.append(EpochQuality(bool(usable.all()), status, tuple(reasons), usable, lfs))
    return out


def assess_epoch(
    data_uv: np.ndarray,
    sfreq: float,
    channel_names: Sequence[str] | None = None,
    thresholds: QualityThresholds | None = None,
    raw_uv: np.ndarray | None = None,
) -> EpochQuality:
    """Assess one epoch of every channel.

    Parameters
    ----------
    data_uv : ndarray, shape (n_channels, n_samples)
        The epoch at its native rate, microvolts (NaN = lost sample).
    sfreq : float
        Native sampling rate, Hz (line noise is only checked above ~104 Hz).
    channel_names : sequence of str, optional
        Names (default ``ch0``, ``ch1`` ...).
    thresholds : QualityThresholds, optional
    raw_uv : ndarray, shape (n_channels, n_samples), optional
        The epoch before conditioning (railing, flat, clipping); default ``data_uv``.

    Returns
    -------
    EpochQuality
    """
    data_uv = np.asarray(data_uv, dtype=np.float64)
    if data_uv.ndim != 2:
        raise ValueError(f"data_uv must have shape (n_channels, n_samples), got {data_uv.shape}.")
    raw = None if raw_uv is None else np.asarray(raw_uv, dtype=np.float64)[None]
    return assess_epochs(data_uv[None], sfreq, channel_names, thresholds, raw)[0]
