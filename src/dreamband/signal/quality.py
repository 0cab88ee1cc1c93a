"""Signal quality of one epoch, per channel: can it be staged, and if not, why not.

Statuses (worst first): ``lost`` (too many NaN samples), ``flat`` (no signal: disconnected
or shorted input), ``railed`` (the amplifier sits at its limit), ``off-head`` (mains pick-up
dominates: a floating electrode), ``huge`` (amplitude far beyond EEG: movement, sweat),
``clipped`` (flat-topped at the min/max), ``line-noise`` (strong 50/60 Hz, still stageable),
``noisy`` (a short burst of artefact, still stageable), ``good``.
"""

from __future__ import annotations

from collections.abc import Sequence
from dataclasses import dataclass, field
from functools import lru_cache

import numpy as np

STATUSES: tuple[str, ...] = ("good", "noisy", "line-noise", "clipped", "huge", "off-head", "railed", "flat", "lost")
#: statuses an epoch can still be staged with
STAGEABLE: frozenset[str] = frozenset({"good", "noisy", "line-noise"})


@dataclass(frozen=True)
class QualityThresholds:
    """Limits used by :func:`assess_epoch` (microvolts unless said otherwise)."""

    max_nan_fraction: float = 0.2
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


def _line_fraction(x: np.ndarray, sfreq: float) -> float:
    """Share of the 1-70 Hz power that sits within ±1 Hz of 50 or 60 Hz."""
    if sfreq < 2 * 52.0:
        return float("nan")
    win, total_band, lines = _line_tables(x.size, float(sfreq))
    spec = np.abs(np.fft.rfft((x - np.mean(x)) * win)) ** 2
    total = float(np.sum(spec[total_band]))
    if total <= 0:
        return 0.0
    line = max((float(np.sum(spec[m])) for m in lines), default=0.0)
    return line / total


def _channel_status(x: np.ndarray, sfreq: float, th: QualityThresholds) -> tuple[str, str, float]:
    finite = np.isfinite(x)
    nan_frac = 1.0 - float(np.mean(finite)) if x.size else 1.0
    if nan_frac > th.max_nan_fraction:
        return "lost", f"{nan_frac:.0%} of the samples were lost", float("nan")
    v = x[finite]
    if v.size < 2:
        return "lost", "no samples", float("nan")
    absmax = float(np.max(np.abs(v)))
    if np.mean(np.abs(v) >= th.rail_uv) >= th.railed_fraction:
        return "railed", f"the amplifier is at its rail (|x| >= {th.rail_uv:.0f} µV)", float("nan")
    std = float(np.std(v))
    if std < th.flat_std_uv:
        return "flat", f"flat signal (SD {std:.2f} µV < {th.flat_std_uv} µV): electrode disconnected?", float("nan")
    lf = _line_fraction(np.where(finite, x, 0.0), sfreq)
    if np.isfinite(lf) and lf >= th.line_fraction_off_head:
        return "off-head", f"mains hum is {lf:.0%} of the power: electrode off the head?", lf
    ptp = float(np.max(v) - np.min(v))
    if std > th.huge_std_uv or ptp > th.huge_ptp_uv:
        return "huge", f"amplitude far beyond EEG (SD {std:.0f} µV, peak-to-peak {ptp:.0f} µV)", lf
    at_extreme = float(np.mean((v == np.max(v)) | (v == np.min(v))))
    if at_extreme >= th.clipped_fraction and absmax > 10 * th.flat_std_uv:
        return "clipped", f"{at_extreme:.1%} of the samples sit at the min/max (clipped)", lf
    if np.isfinite(lf) and lf >= th.line_fraction_noisy:
        return "line-noise", f"strong 50/60 Hz line noise ({lf:.0%} of the power)", lf
    if ptp > th.noisy_ptp_uv:
        return "noisy", f"artefact burst (peak-to-peak {ptp:.0f} µV)", lf
    return "good", "", lf


def assess_epoch(
    data_uv: np.ndarray,
    sfreq: float,
    channel_names: Sequence[str] | None = None,
    thresholds: QualityThresholds | None = None,
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

    Returns
    -------
    EpochQuality
    """
    data_uv = np.asarray(data_uv, dtype=np.float64)
    if data_uv.ndim != 2:
        raise ValueError(f"data_uv must have shape (n_channels, n_samples), got {data_uv.shape}.")
    if not np.isfinite(sfreq) or sfreq <= 0:
        raise ValueError(f"sfreq must be a positive number of Hz, got {sfreq!r}.")
    names = list(channel_names) if channel_names is not None else [f"ch{i}" for i in range(data_uv.shape[0])]
    if len(names) != data_uv.shape[0]:
        raise ValueError(f"{len(names)} channel names for {data_uv.shape[0]} channels.")
    th = thresholds or QualityThresholds()
    status: dict[str, str] = {}
    reasons: list[str] = []
    usable = np.zeros(len(names), dtype=bool)
    lfs = np.full(len(names), np.nan)
    for i, name in enumerate(names):
        st, why, lf = _channel_status(data_uv[i], float(sfreq), th)
        status[name] = st
        usable[i] = st in STAGEABLE
        lfs[i] = lf
        if st != "good":
            reasons.append(f"{name}: {st}: {why}")
    return EpochQuality(bool(np.all(usable)), status, tuple(reasons), usable, lfs)
