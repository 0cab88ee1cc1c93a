"""Arousal detection for the nightmare wake and REM cues: power jumps over a REM baseline.

Pure computation (no I/O, no threads). The stream is cut into overlapping windows
(``window_s``, hop ``step_s``); each window gives

- ``beta``: mean power spectral density of the EEG in 16-30 Hz (µV²/Hz, mean over EEG rows),
- ``emg``: the same in 30-45 Hz of the EMG rows, or of the EEG rows when the montage has no EMG
  (frontal EEG carries the forehead muscles' activity above 30 Hz),
- ``movement``: standard deviation of the accelerometer magnitude (g), NaN without accelerometer.

The REM baseline is the median of the windows the caller marks as calm REM
(:meth:`ArousalDetector.add_baseline`, the engine does it after each usable REM epoch); each
reading reports the ratio of the window's powers to that baseline. Windows with lost samples or
absurd amplitudes are marked ``clean=False``; windows of a REM epoch whose power is already
``calm_ratio`` times the baseline (an arousal) are left out of it, so the baseline does not
rise after each arousal.

Readings are a function of the data alone, not of how it was chunked: :meth:`process` with
``rate=False`` returns the windows' powers, and :meth:`rated` puts the ratios on at the moment the
caller routes the reading, in time order with the epochs that feed the baseline (the pipeline
does so). The baseline a reading sees is then that of the epochs that ended before it, whether
the data came in 0.37-s or 7-s chunks.
"""

from __future__ import annotations

from collections import deque
from dataclasses import dataclass, replace

import numpy as np

BETA_BAND: tuple[float, float] = (16.0, 30.0)
EMG_BAND: tuple[float, float] = (30.0, 45.0)


def band_powers(windows: np.ndarray, sfreq: float, bands: list[tuple[float, float]]) -> np.ndarray:
    """Mean power spectral density in each band (Hann window, one-sided periodogram).

    Parameters
    ----------
    windows : ndarray, shape (..., n)
        Signal windows, µV (the mean of each window is removed).
    sfreq : float
        Hz.
    bands : list of (low, high)
        Hz; a band is [low, high).

    Returns
    -------
    ndarray, shape (..., n_bands)
        µV²/Hz.
    """
    x = np.asarray(windows, dtype=np.float64)
    n = x.shape[-1]
    x = x - x.mean(axis=-1, keepdims=True)
    win = 0.5 - 0.5 * np.cos(2.0 * np.pi * np.arange(n) / n)  # periodic Hann (as SciPy's 'hann')
    scale = 1.0 / (sfreq * np.sum(win**2))
    spec = np.abs(np.fft.rfft(x * win, axis=-1)) ** 2 * scale
    if n % 2 == 0:
        spec[..., 1:-1] *= 2.0
    else:
        spec[..., 1:] *= 2.0
    freqs = np.fft.rfftfreq(n, 1.0 / sfreq)
    out = np.empty((*x.shape[:-1], len(bands)))
    for i, (lo, hi) in enumerate(bands):
        sel = (freqs >= lo) & (freqs < hi)
        if not sel.any():
            raise ValueError(f"Band {lo}-{hi} Hz holds no frequency bin at {sfreq} Hz with {n}-sample windows.")
        out[..., i] = spec[..., sel].mean(axis=-1)
    return out


def band_powers_reference(windows: np.ndarray, sfreq: float, bands: list[tuple[float, float]]) -> np.ndarray:
    """SciPy reference of :func:`band_powers` (``scipy.signal.periodogram``, Hann, constant detrend)."""
    from scipy.signal import periodogram

    freqs, psd = periodogram(np.asarray(windows, dtype=np.float64), fs=sfreq, window="hann",
                             detrend="constant", scaling="density", axis=-1)
    return np.stack([psd[..., (freqs >= lo) & (freqs < hi)].mean(axis=-1) for lo, hi in bands], axis=-1)


@dataclass(frozen=True)
class ArousalReading:
    """One window's arousal figures.

    Attributes
    ----------
    time : float
        Session seconds at the window's end.
    beta, emg : float
        Band power, µV²/Hz.
    movement_g : float
        Accelerometer movement, g (NaN without accelerometer).
    beta_ratio, emg_ratio : float
        Power over the REM baseline (NaN until the baseline is ready).
    clean : bool
        False when the window had lost samples or amplitudes over the limit.
    baseline_ready : bool
    """

    time: float
    beta: float
    emg: float
    movement_g: float
    beta_ratio: float
    emg_ratio: float
    clean: bool
    baseline_ready: bool

    def to_dict(self) -> dict[str, float | bool]:
        """JSON-ready dict."""
        return {k: (None if isinstance(v, float) and v != v else v) for k, v in self.__dict__.items()}


class ArousalDetector:
    """Streaming arousal figures over a REM baseline.

    Parameters
    ----------
    sfreq : float
        Hz (>= 90 so that the 30-45 Hz band exists).
    eeg_rows : sequence of int
        Rows of the pushed data that are EEG.
    emg_rows, accel_rows : sequence of int
        Rows that are EMG and accelerometer (may be empty).
    window_s, step_s : float
        Window length and hop, seconds.
    baseline_windows : int
        How many calm-REM windows the baseline median keeps (most recent).
    min_baseline_windows : int
        Windows needed before ratios are reported.
    max_abs_uv : float
        A window whose EEG exceeds this (after removing its mean) is not clean.
    calm_ratio : float
        A REM window whose beta or EMG power is this many times the baseline (or, before the
        baseline has any window, the median of its epoch's windows) is an arousal and is not
        added to the baseline.
    """

    def __init__(self, sfreq: float, eeg_rows: list[int], emg_rows: list[int] | tuple = (),
                 accel_rows: list[int] | tuple = (), window_s: float = 2.0, step_s: float = 1.0,
                 baseline_windows: int = 600, min_baseline_windows: int = 20, max_abs_uv: float = 500.0,
                 calm_ratio: float = 2.0) -> None:
        if not sfreq > 0:
            raise ValueError(f"sfreq must be positive, got {sfreq!r}.")
        if not list(eeg_rows):
            raise ValueError("ArousalDetector needs at least one EEG row.")
        self.sfreq = float(sfreq)
        self.eeg_rows = list(eeg_rows)
        self.emg_rows = list(emg_rows)
        self.accel_rows = list(accel_rows)
        self.win = int(round(window_s * sfreq))
        self.hop = int(round(step_s * sfreq))
        if self.win < 8 or self.hop < 1:
            raise ValueError(f"Windows of {window_s} s (hop {step_s} s) at {sfreq} Hz are too short.")
        nyq = sfreq / 2.0
        self.beta_band = (BETA_BAND[0], min(BETA_BAND[1], nyq * 0.9))
        self.emg_band = (min(EMG_BAND[0], nyq * 0.7), min(EMG_BAND[1], nyq * 0.9))
        self.max_abs_uv = float(max_abs_uv)
        if not calm_ratio > 1.0:
            raise ValueError(f"calm_ratio must be > 1, got {calm_ratio!r}.")
        self.calm_ratio = float(calm_ratio)
        self.min_baseline_windows = int(min_baseline_windows)
        self._base_beta: deque[float] = deque(maxlen=int(baseline_windows))
        self._base_emg: deque[float] = deque(maxlen=int(baseline_windows))
        self._baseline_medians: tuple[float, float] | None = None  # cache, reset when the baseline changes
        self._recent: deque[tuple[float, float, float, bool]] = deque(maxlen=int(120.0 / step_s) + 4)
        self._buf = np.empty((max(self.eeg_rows + self.emg_rows + self.accel_rows) + 1, 0))
        self._buf_start = 0  # sample index of _buf[:, 0]
        self._next = 0  # sample index of the next window start

    @property
    def baseline_ready(self) -> bool:
        """True once enough calm-REM windows are in the baseline."""
        return len(self._base_beta) >= self.min_baseline_windows

    def baseline(self) -> tuple[float, float]:
        """Median (beta, emg) power of the baseline, µV²/Hz (NaN when empty)."""
        if not self._base_beta:
            return float("nan"), float("nan")
        if self._baseline_medians is None:  # once per change, not once per reading
            self._baseline_medians = (float(np.median(self._base_beta)), float(np.median(self._base_emg)))
        return self._baseline_medians

    def add_baseline(self, start_s: float, end_s: float) -> int:
        """Add the calm clean windows that lie within [start_s, end_s] to the REM baseline.

        A window whose beta or EMG power is ``calm_ratio`` times the reference (the baseline's
        median, or the median of these windows while the baseline is empty) is left out.

        Returns the number of windows added.
        """
        win_s = self.win / self.sfreq
        cands = [(beta, emg) for t, beta, emg, clean in self._recent
                 if clean and t - win_s >= start_s - 1e-9 and t <= end_s + 1e-9]
        if not cands:
            return 0
        if self._base_beta:
            ref_beta, ref_emg = self.baseline()
        else:
            ref_beta, ref_emg = (float(v) for v in np.median(np.asarray(cands), axis=0))
        added = 0
        for beta, emg in cands:
            if beta > self.calm_ratio * ref_beta or emg > self.calm_ratio * ref_emg:
                continue  # an aroused window is not calm REM
            self._base_beta.append(beta)
            self._base_emg.append(emg)
            self._baseline_medians = None
            added += 1
        return added

    def rated(self, reading: ArousalReading) -> ArousalReading:
        """``reading`` with its ratios over the baseline as it stands now (see the module docstring)."""
        b_beta, b_emg = self.baseline()
        ready = self.baseline_ready
        return replace(
            reading, baseline_ready=ready,
            beta_ratio=float(reading.beta / b_beta) if ready and b_beta > 0 else float("nan"),
            emg_ratio=float(reading.emg / b_emg) if ready and b_emg > 0 else float("nan"),
        )

    def process(self, data: np.ndarray, rate: bool = True) -> list[ArousalReading]:
        """Push samples; return a reading for every window completed by them.

        Parameters
        ----------
        data : ndarray, shape (n_rows, n_samples)
            The stream's rows (µV for EEG/EMG, g for accelerometer), consecutive with the
            previous call.
        rate : bool
            Put the ratios over the current baseline on the readings (True), or leave them NaN
            for the caller to :meth:`rated` each reading in time order with the baseline's
            updates (False: what makes readings independent of the chunking).
        """
        data = np.asarray(data, dtype=np.float64)
        if data.ndim != 2 or data.shape[0] < self._buf.shape[0]:
            raise ValueError(f"Expected data with at least {self._buf.shape[0]} rows, got shape {data.shape}.")
        rows = sorted(set(self.eeg_rows + self.emg_rows + self.accel_rows))
        sub = np.zeros((self._buf.shape[0], data.shape[1]))
        sub[rows] = data[rows]
        self._buf = np.concatenate([self._buf, sub], axis=1) if self._buf.shape[1] else sub
        end_idx = self._buf_start + self._buf.shape[1]
        starts = np.arange(self._next, end_idx - self.win + 1, self.hop)
        out: list[ArousalReading] = []
        if starts.size:
            offs = starts - self._buf_start
            idx = offs[:, None] + np.arange(self.win)[None, :]
            segs = self._buf[:, idx]  # (rows, n_win, win)
            out = self._readings(segs, starts)
            if rate:
                out = [self.rated(r) for r in out]
            self._next = int(starts[-1] + self.hop)
        drop = self._next - self._buf_start
        if drop > 0:
            self._buf = self._buf[:, drop:]
            self._buf_start += drop
        return out

    def _readings(self, segs: np.ndarray, starts: np.ndarray) -> list[ArousalReading]:
        eeg = segs[self.eeg_rows]  # (n_eeg, n_win, win)
        finite = np.isfinite(eeg).all(axis=(0, 2))
        eeg0 = np.nan_to_num(eeg)
        centred = eeg0 - eeg0.mean(axis=2, keepdims=True)
        big = np.abs(centred).max(axis=(0, 2)) > self.max_abs_uv
        clean = finite & ~big
        if self.emg_rows:
            beta = band_powers(eeg0, self.sfreq, [self.beta_band]).mean(axis=0)[:, 0]
            emg = band_powers(np.nan_to_num(segs[self.emg_rows]), self.sfreq, [self.emg_band]).mean(axis=0)[:, 0]
        else:
            both = band_powers(eeg0, self.sfreq, [self.beta_band, self.emg_band]).mean(axis=0)
            beta, emg = both[:, 0], both[:, 1]
        if self.accel_rows:
            mag = np.sqrt(np.sum(segs[self.accel_rows] ** 2, axis=0))
            mag = np.where(np.isfinite(mag), mag, 1.0)
            movement = mag.std(axis=1)
        else:
            movement = np.full(len(starts), np.nan)
        out = []
        for i, s in enumerate(starts):
            t = float(s + self.win) / self.sfreq
            self._recent.append((t, float(beta[i]), float(emg[i]), bool(clean[i])))
            out.append(ArousalReading(
                time=t, beta=float(beta[i]), emg=float(emg[i]), movement_g=float(movement[i]),
                beta_ratio=float("nan"), emg_ratio=float("nan"), clean=bool(clean[i]), baseline_ready=False,
            ))
        return out
