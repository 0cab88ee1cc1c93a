"""The signal check before lights-off: per channel, is the electrode on well, and if not, what to do.

:func:`check_signal` looks at the last few seconds of every channel and returns a
:class:`ChannelVerdict` per channel: a status, the verdict in words and what the sleeper should
do about it ("Fp2: too much 50-Hz hum: check the electrode's contact, move the cable away from
the lamp"). It measures, on the conditioned signal (the window high-passed at 0.5 Hz, so a DC
offset or a slow drift does not count as signal):

- the EEG amplitude (RMS of 0.5-35 Hz, µV);
- mains hum (RMS within ±1 Hz of 50 Hz and of 60 Hz, µV, and its share of the 1-70 Hz power);
- flat (no signal at all: a disconnected or shorted input);
- railed (on the raw signal: the amplifier sits at its limit);
- electrode impedance, where the board measures it (OpenBCI lead-off mode:
  :func:`lead_off_impedance_ohm` turns the amplitude of the injected lead-off current into
  ohms; a Ganglion reports ohms itself).

Pure computation (NumPy/SciPy), no I/O, no Qt: the window's check screen and the headless
``dreamband check`` both call it on the same samples.
"""

from __future__ import annotations

from collections.abc import Mapping, Sequence
from dataclasses import dataclass

import numpy as np
from scipy.signal import butter, sosfiltfilt, welch

#: Statuses, worst first; ``good`` and ``fair`` let the night start.
CHECK_STATUSES: tuple[str, ...] = ("lost", "railed", "flat", "off-head", "too-large", "hum",
                                   "high-impedance", "weak", "fair", "good")
#: Statuses a staging channel may have for "Start the night" to be enabled by itself.
READY_STATUSES: frozenset[str] = frozenset({"good", "fair"})

#: Statuses where a lead-off figure means nothing (no signal, or the amplifier at its rail).
_NO_IMPEDANCE: frozenset[str] = frozenset({"lost", "railed", "flat"})
#: OpenBCI Cyton/Daisy lead-off drive (ADS1299 at 6 nA, 31.2 Hz) and the board's series resistor.
CYTON_LEAD_OFF_HZ: float = 31.25
CYTON_LEAD_OFF_A: float = 6e-9
CYTON_SERIES_OHM: float = 2200.0


@dataclass(frozen=True)
class CheckThresholds:
    """Limits of :func:`check_signal` (µV RMS unless said otherwise).

    Off-head means the mains hum is most of the power *and* large (a floating electrode picks
    up tens of mV of hum); smaller hum on top of EEG is ``hum``. The EEG band limits follow awake frontal EEG with eyes closed (about 5-50 µV RMS);
    the impedance limits follow OpenBCI's guidance (below 10 kΩ good, above 50 kΩ re-seat).
    """

    max_nan_fraction: float = 0.2
    rail_uv: float = 187_000.0
    railed_fraction: float = 0.5
    flat_uv: float = 0.5
    weak_uv: float = 2.0
    too_large_uv: float = 150.0
    hum_uv: float = 10.0
    hum_fraction: float = 0.25
    off_head_fraction: float = 0.7
    off_head_hum_uv: float = 100.0
    impedance_fair_ohm: float = 10e3
    impedance_high_ohm: float = 50e3


@dataclass(frozen=True)
class ChannelVerdict:
    """The check of one channel.

    Attributes
    ----------
    channel : str
    status : str
        One of :data:`CHECK_STATUSES`.
    words : str
        The verdict in words (``"too much 50-Hz hum"``).
    advice : str
        What to do (empty when good).
    amplitude_uv : float
        RMS of the conditioned signal in 0.5-35 Hz, µV (NaN when lost).
    hum_hz : float or None
        50 or 60: the stronger mains line (None when the rate is too low to see it).
    hum_uv : float
        RMS of the stronger mains line, µV (NaN when not measurable).
    hum_fraction : float
        Share of the 1-70 Hz power in that line (NaN when not measurable).
    impedance_ohm : float or None
        Electrode impedance when the board measured it.
    """

    channel: str
    status: str
    words: str
    advice: str
    amplitude_uv: float
    hum_hz: float | None
    hum_uv: float
    hum_fraction: float
    impedance_ohm: float | None = None

    @property
    def ok(self) -> bool:
        """True when the channel is good enough to sleep with (``good`` or ``fair``)."""
        return self.status in READY_STATUSES

    def line(self) -> str:
        """One line for a person: ``"Fp2: too much 50-Hz hum: check the electrode's contact, ..."``."""
        text = f"{self.channel}: {self.words}"
        return f"{text}: {self.advice}" if self.advice else text

    def figures(self) -> str:
        """The measured numbers in words (``"12 µV EEG, 50 Hz 3.1 µV, 8 kΩ"``)."""
        parts = []
        if np.isfinite(self.amplitude_uv):
            parts.append(f"{self.amplitude_uv:.1f} µV EEG")
        if self.hum_hz is not None and np.isfinite(self.hum_uv):
            parts.append(f"{self.hum_hz:g} Hz {self.hum_uv:.1f} µV")
        if self.impedance_ohm is not None and np.isfinite(self.impedance_ohm):
            parts.append(f"{self.impedance_ohm / 1e3:.0f} kΩ")
        return ", ".join(parts)


def _fill_gaps(x: np.ndarray) -> np.ndarray:
    """Rows with NaNs linearly interpolated (a row with no finite sample becomes zeros)."""
    out = np.array(x, dtype=np.float64, copy=True)
    idx = np.arange(out.shape[1])
    for row in out:
        bad = ~np.isfinite(row)
        if bad.all():
            row[:] = 0.0
        elif bad.any():
            row[bad] = np.interp(idx[bad], idx[~bad], row[~bad])
    return out


def _band_rms(freqs: np.ndarray, psd: np.ndarray, lo: float, hi: float) -> np.ndarray:
    """RMS (µV) of the power within [lo, hi] Hz of Welch PSDs (µV²/Hz), per row."""
    band = (freqs >= lo) & (freqs <= hi)
    if not band.any():
        return np.full(psd.shape[0], np.nan)
    df = freqs[1] - freqs[0]
    return np.sqrt(psd[:, band].sum(axis=1) * df)


def _check_input(data_uv: np.ndarray, sfreq: float, channel_names: Sequence[str] | None) -> tuple[np.ndarray, list[str]]:
    x = np.asarray(data_uv, dtype=np.float64)
    if x.ndim != 2:
        raise ValueError(f"data_uv must have shape (n_channels, n_samples), got {x.shape}.")
    if not np.isfinite(sfreq) or sfreq <= 0:
        raise ValueError(f"sfreq must be a positive number of Hz, got {sfreq!r}.")
    if x.shape[1] < 2 * sfreq:
        raise ValueError(f"The signal check needs at least 2 s of samples ({int(2 * sfreq)}), got {x.shape[1]}.")
    names = list(channel_names) if channel_names is not None else [f"ch{i}" for i in range(x.shape[0])]
    if len(names) != x.shape[0]:
        raise ValueError(f"{len(names)} channel names for {x.shape[0]} channels.")
    return x, names


def check_signal(data_uv: np.ndarray, sfreq: float, channel_names: Sequence[str] | None = None,
                 impedance_ohm: Mapping[str, float] | Sequence[float | None] | None = None,
                 thresholds: CheckThresholds | None = None) -> list[ChannelVerdict]:
    """Check every channel of a few seconds of signal and say what to do about each.

    Parameters
    ----------
    data_uv : ndarray, shape (n_channels, n_samples)
        The latest samples (at least 2 s; 4-10 s is best), raw µV as the board sends them
        (a DC offset is fine; NaN marks a lost sample).
    sfreq : float
        Sampling rate, Hz. Mains hum is only measured when ``sfreq`` > 2 × 61 Hz.
    channel_names : sequence of str, optional
        Default ``ch0``, ``ch1`` ...
    impedance_ohm : mapping or sequence, optional
        Measured electrode impedance per channel (name -> ohms, or one value per row; None or
        NaN where not measured).
    thresholds : CheckThresholds, optional

    Returns
    -------
    list of ChannelVerdict
        One per row, in row order.

    Raises
    ------
    ValueError
        Wrong shape, rate or names, or less than 2 s of samples.
    """
    x, names = _check_input(data_uv, sfreq, channel_names)
    th = thresholds or CheckThresholds()
    imp = _impedances(impedance_ohm, names)
    finite = np.isfinite(x)
    nan_frac = 1.0 - finite.mean(axis=1)
    with np.errstate(invalid="ignore"):
        rail_frac = (np.abs(np.where(finite, x, 0.0)) >= th.rail_uv).sum(axis=1) / np.maximum(finite.sum(axis=1), 1)
    filled = _fill_gaps(x)
    filled -= filled.mean(axis=1, keepdims=True)
    sos = butter(2, 0.5, btype="highpass", fs=sfreq, output="sos")
    cond = sosfiltfilt(sos, filled, axis=1)
    freqs, psd = welch(cond, fs=sfreq, nperseg=int(min(cond.shape[1], round(2 * sfreq))), axis=1)
    total_rms = np.sqrt(np.mean(cond ** 2, axis=1))
    eeg = _band_rms(freqs, psd, 0.5, min(35.0, 0.45 * sfreq))
    wide = _band_rms(freqs, psd, 1.0, min(70.0, 0.5 * sfreq))
    nan_row = np.full(len(names), np.nan)
    line50 = _band_rms(freqs, psd, 49.0, 51.0) if 51.0 < 0.5 * sfreq else nan_row
    line60 = _band_rms(freqs, psd, 59.0, 61.0) if 61.0 < 0.5 * sfreq else nan_row
    is60 = line60 > np.where(np.isfinite(line50), line50, -1.0)
    hum_uv = np.where(is60, line60, line50)
    hum_hz: list[float | None] = [None if not np.isfinite(h) else (60.0 if s60 else 50.0)
                                  for h, s60 in zip(hum_uv, is60, strict=True)]
    with np.errstate(invalid="ignore", divide="ignore"):
        hum_frac = np.where(wide > 0, (hum_uv / np.where(wide > 0, wide, 1.0)) ** 2, 0.0)
    out = []
    for r, name in enumerate(names):
        status, words, advice = _decide(nan_frac[r], rail_frac[r], total_rms[r], eeg[r], hum_hz[r], hum_uv[r],
                                        hum_frac[r], imp[r], th)
        lost = status == "lost"
        out.append(ChannelVerdict(
            channel=name, status=status, words=words, advice=advice,
            amplitude_uv=float("nan") if lost else float(eeg[r]), hum_hz=None if lost else hum_hz[r],
            hum_uv=float("nan") if lost else float(hum_uv[r]),
            hum_fraction=float("nan") if lost or hum_hz[r] is None else float(hum_frac[r]),
            impedance_ohm=None if status in _NO_IMPEDANCE else imp[r]))
    return out


def _impedances(values: Mapping[str, float] | Sequence[float | None] | None, names: list[str]) -> list[float | None]:
    if values is None:
        return [None] * len(names)
    if isinstance(values, Mapping):
        seq = [values.get(n) for n in names]
    else:
        seq = list(values)
        if len(seq) != len(names):
            raise ValueError(f"{len(seq)} impedance values for {len(names)} channels.")
    out: list[float | None] = []
    for v in seq:
        if v is None or not np.isfinite(float(v)):
            out.append(None)
        elif float(v) < 0:
            raise ValueError(f"An impedance cannot be negative, got {v} Ω.")
        else:
            out.append(float(v))
    return out


def _decide(nan_frac: float, rail_frac: float, total_rms: float, eeg_uv: float, hum_hz: float | None,
            hum_uv: float, hum_frac: float, impedance: float | None, th: CheckThresholds) -> tuple[str, str, str]:
    """Status, words and advice of one channel (worst problem first)."""
    if nan_frac > th.max_nan_fraction:
        return ("lost", f"{nan_frac:.0%} of the samples are missing",
                "bring the laptop closer to the headband (radio link) or re-plug the dongle")
    if rail_frac >= th.railed_fraction:
        return ("railed", "the amplifier is at its limit (railed)",
                "re-seat the electrode and its reference/bias clip; check the cable is plugged in fully")
    if total_rms < th.flat_uv:
        return ("flat", f"no signal (flat, {total_rms:.2f} µV)",
                "the electrode or its cable is disconnected: plug it in and press it to the skin")
    hum_known = hum_hz is not None and np.isfinite(hum_uv)
    if hum_known and hum_frac >= th.off_head_fraction and hum_uv >= th.off_head_hum_uv:
        return ("off-head", f"only {hum_hz:g}-Hz mains hum, no EEG: the electrode is not touching the skin",
                "put the electrode on clean skin (wet it or add gel) and tighten the headband")
    if eeg_uv > th.too_large_uv:
        return ("too-large", f"amplitude far beyond EEG ({eeg_uv:.0f} µV)",
                "lie still for a moment; if it stays, the electrode is loose: press it on, tighten the band")
    if hum_known and (hum_uv > th.hum_uv or hum_frac >= th.hum_fraction):
        return ("hum", f"too much {hum_hz:g}-Hz hum ({hum_uv:.0f} µV)",
                "check the electrode's contact, move the cable away from the lamp and power cords, "
                "unplug the laptop's charger")
    if impedance is not None and impedance > th.impedance_high_ohm:
        return ("high-impedance", f"electrode impedance {impedance / 1e3:.0f} kΩ is too high",
                "add gel or saline, part the hair under the electrode and press it to the skin")
    if eeg_uv < th.weak_uv:
        return ("weak", f"very weak signal ({eeg_uv:.1f} µV)",
                "check that the electrode touches the skin and the reference clip is on")
    if impedance is not None and impedance > th.impedance_fair_ohm:
        return ("fair", f"usable (impedance {impedance / 1e3:.0f} kΩ)",
                "a little gel or pressure would bring it below 10 kΩ")
    return "good", "good", ""


def staging_ready(verdicts: Sequence[ChannelVerdict], staging_channels: Sequence[str]) -> bool:
    """True when every staging channel's verdict lets the night start.

    Raises
    ------
    ValueError
        A staging channel has no verdict.
    """
    by_name = {v.channel: v for v in verdicts}
    missing = [c for c in staging_channels if c not in by_name]
    if missing:
        raise ValueError(f"No verdict for the staging channel(s) {', '.join(missing)}.")
    return bool(staging_channels) and all(by_name[c].ok for c in staging_channels)


def lead_off_impedance_ohm(data_uv: np.ndarray, sfreq: float, drive_hz: float = CYTON_LEAD_OFF_HZ,
                           current_a: float = CYTON_LEAD_OFF_A, series_ohm: float = CYTON_SERIES_OHM) -> np.ndarray:
    """Electrode impedance from a lead-off measurement (OpenBCI Cyton/Daisy).

    In lead-off mode the ADS1299 drives ``current_a`` at ``drive_hz`` through the electrode;
    the voltage it makes is the current times the impedance (plus the board's series
    resistor). The amplitude is read from a ±2 Hz band around ``drive_hz`` (zero-phase
    band-pass, so a DC offset and EEG outside the band do not count), as OpenBCI's GUI does:
    ``Z = sqrt(2) · RMS / I - R_series``.

    Parameters
    ----------
    data_uv : ndarray, shape (n_channels, n_samples)
        µV while lead-off is on (at least 2 s; NaN samples are interpolated).
    sfreq : float
        Hz (above ``2 × (drive_hz + 2)``).
    drive_hz, current_a, series_ohm : float
        The drive (Hz, A) and series resistance (Ω).

    Returns
    -------
    ndarray, shape (n_channels,)
        Ohms (clipped at 0).
    """
    x = np.asarray(data_uv, dtype=np.float64)
    if x.ndim != 2:
        raise ValueError(f"data_uv must have shape (n_channels, n_samples), got {x.shape}.")
    if not sfreq > 2 * (drive_hz + 2.0):
        raise ValueError(f"Lead-off at {drive_hz:g} Hz needs a rate above {2 * (drive_hz + 2):g} Hz, got {sfreq}.")
    if x.shape[1] < 2 * sfreq:
        raise ValueError(f"The impedance check needs at least 2 s of samples, got {x.shape[1]}.")
    if current_a <= 0:
        raise ValueError(f"The lead-off current must be positive, got {current_a} A.")
    filled = _fill_gaps(x)
    sos = butter(4, [drive_hz - 2.0, drive_hz + 2.0], btype="bandpass", fs=sfreq, output="sos")
    y = sosfiltfilt(sos, filled - filled.mean(axis=1, keepdims=True), axis=1)
    edge = int(round(0.25 * sfreq))  # filter edges
    rms_v = np.sqrt(np.mean(y[:, edge:-edge] ** 2, axis=1)) * 1e-6
    return np.maximum(np.sqrt(2.0) * rms_v / current_a - series_ohm, 0.0)


class SignalWindow:
    """The last ``window_s`` seconds of every channel, for a live check (no filtering here).

    Parameters
    ----------
    sfreq : float
        Hz.
    n_channels : int
    window_s : float
        Seconds kept (the check looks at all of them).
    """

    def __init__(self, sfreq: float, n_channels: int, window_s: float = 6.0) -> None:
        if not np.isfinite(sfreq) or sfreq <= 0:
            raise ValueError(f"sfreq must be a positive number of Hz, got {sfreq!r}.")
        if n_channels < 1:
            raise ValueError(f"A signal window needs at least one channel, got {n_channels}.")
        if window_s < 2.0:
            raise ValueError(f"The check window must be at least 2 s, got {window_s}.")
        self.sfreq = float(sfreq)
        self.capacity = int(round(window_s * self.sfreq))
        self._buf = np.full((int(n_channels), self.capacity), np.nan)
        self.total = 0

    def push(self, data_uv: np.ndarray) -> None:
        """Append samples, shape (n_channels, n)."""
        x = np.asarray(data_uv, dtype=np.float64)
        if x.ndim != 2 or x.shape[0] != self._buf.shape[0]:
            raise ValueError(f"Expected a block of shape ({self._buf.shape[0]}, n), got {x.shape}.")
        n = x.shape[1]
        if n >= self.capacity:
            self._buf[:] = x[:, -self.capacity:]
        elif n:
            self._buf[:, :-n] = self._buf[:, n:]
            self._buf[:, -n:] = x
        self.total += n

    @property
    def seconds(self) -> float:
        """Seconds of signal held (up to the window)."""
        return min(self.total, self.capacity) / self.sfreq

    def clear(self) -> None:
        """Forget the samples (after switching lead-off on or off)."""
        self._buf.fill(np.nan)
        self.total = 0

    def data(self) -> np.ndarray:
        """The held samples, (n_channels, n) in time order (only what arrived)."""
        return self._buf[:, self.capacity - min(self.total, self.capacity):].copy()
