"""The sleeper: realistic synthetic nights (hypnogram -> multichannel EEG/EOG/EMG in µV).

A night is drawn in three steps:

1. **Hypnogram** (given, or drawn by :func:`draw_hypnogram` from a model of sleep architecture:
   sleep-onset latency, NREM-REM cycles of about 90 min, N3 early in the night, REM longer
   late, brief awakenings, a final awakening).
2. **Per-epoch spectral targets**: for every 30-s epoch, the log band powers (0.5-4, 4-8, 8-13,
   13-30, 30-50 Hz) and the log variance of the frontal EEG are drawn from the per-stage
   distribution of the real Sleep-EDF Fpz-Cz features (mean and covariance stored in
   ``signal/data/sleeper_calibration.json``), with the epoch-to-epoch autocorrelation of the
   real nights.
3. **Signals**: the graphoelements a scorer looks for are placed first (alpha and theta as
   spectral peaks; spindles and K-complexes in N2; slow waves > 75 µV in N3; sawtooth waves in
   REM; blinks, saccades, slow and rapid eye movements on the EOG leaking into the frontal
   channels), then a Gaussian 1/f-like background is shaped in the frequency domain so that
   background + graphoelements hit the epoch's targets. Epochs are joined with power-preserving
   1-s cross-fades. EMG follows the stage (high in W, atonia in REM with twitches). Artefacts
   (movement, electrode pop, line noise, headband off) are laid over at chosen or drawn times.

Steps 1 and 2 live in :mod:`dreamband.signal.sleep_model`, the EMG, accelerometer and artefacts
in :mod:`dreamband.signal.simulate_body`; this module assembles the night. Everything is seeded and
deterministic. Pure computation (the calibration table is package
data). No Numba: the work is a few large FFTs and ~10^4 short NumPy additions (an 8-hour night,
4 channels at 250 Hz, takes about a second), so there is no hot loop worth a kernel.
"""

from __future__ import annotations

from collections.abc import Sequence
from dataclasses import dataclass, field
from typing import NamedTuple

import numpy as np

from dreamband.signal.features import BANDS_HZ
from dreamband.signal.simulate_body import (
    ARTEFACT_KINDS,
    _accelerometer,
    _apply_artefact,
    _artefact_plan,
    _emg,
)
from dreamband.signal.sleep_model import (
    _check_hypnogram,
    _draw_targets,
    draw_hypnogram,
    load_calibration,
)
from dreamband.signal.stages import EPOCH_S, N1, N2, N3, REM, UNSTAGED, W

__all__ = [
    "ACCEL_CHANNELS", "ARTEFACT_KINDS", "BANDS_HZ", "DEFAULT_CHANNELS", "DEFAULT_TYPES", "SimEvent",
    "SimulatedNight", "draw_hypnogram", "load_calibration", "simulate_night",
]

DEFAULT_CHANNELS: tuple[str, ...] = ("Fp1", "Fp2", "EOG", "EMG")
DEFAULT_TYPES: tuple[str, ...] = ("eeg", "eog", "emg")
ACCEL_CHANNELS: tuple[str, ...] = ("accel_x", "accel_y", "accel_z")
_FADE_S = 1.0
_FP_CORRELATION = 0.85  # background correlation between the two frontal channels


class SimEvent(NamedTuple):
    """One generated event: a graphoelement, an eye movement or an artefact."""

    kind: str
    onset_s: float
    duration_s: float


@dataclass(frozen=True)
class SimulatedNight:
    """A generated night and its truth.

    Attributes
    ----------
    data : ndarray, shape (n_channels, n_samples), float64
        EEG/EOG/EMG in microvolts, accelerometer (if any) in g.
    sfreq : float
        Sampling rate in Hz.
    channel_names, channel_types : list of str
        One per row of ``data`` (types ``"eeg"``, ``"eog"``, ``"emg"``, ``"accel"``).
    hypnogram : ndarray, shape (n_epochs,), int8
        True stage of every 30-s epoch (W=0, N1=1, N2=2, N3=3, REM=4).
    events : list of SimEvent
        ``(kind, onset_s, duration_s)`` of every placed graphoelement, eye movement and artefact,
        sorted by onset.
    seed : int or None
        The seed the night was drawn with.
    """

    data: np.ndarray
    sfreq: float
    channel_names: list[str]
    channel_types: list[str]
    hypnogram: np.ndarray
    events: list[SimEvent] = field(default_factory=list)
    seed: int | None = None
    epoch_s: float = EPOCH_S

    @property
    def n_samples(self) -> int:
        """Number of samples per channel."""
        return int(self.data.shape[1])

    @property
    def duration_s(self) -> float:
        """Length of the night in seconds."""
        return self.n_samples / self.sfreq

    def events_of(self, kind: str) -> list[SimEvent]:
        """Return the events of one kind (e.g. ``"spindle"``, ``"movement"``)."""
        return [e for e in self.events if e.kind == kind]

    def stage_at(self, time_s: float) -> int:
        """True stage code at a time in seconds from the first sample."""
        k = int(time_s // self.epoch_s)
        if not 0 <= k < len(self.hypnogram):
            raise ValueError(f"time {time_s} s is outside the night (0..{self.duration_s:.0f} s).")
        return int(self.hypnogram[k])

    def stage_annotations(self) -> list[tuple[float, float, str]]:
        """The hypnogram as merged ``(onset_s, duration_s, "Sleep stage X")`` annotations (X = W, N1, N2, N3, R)."""
        names = {W: "W", N1: "N1", N2: "N2", N3: "N3", REM: "R", UNSTAGED: "?"}
        out: list[tuple[float, float, str]] = []
        hyp = self.hypnogram
        start = 0
        for k in range(1, len(hyp) + 1):
            if k == len(hyp) or hyp[k] != hyp[start]:
                out.append((start * self.epoch_s, (k - start) * self.epoch_s, f"Sleep stage {names[int(hyp[start])]}"))
                start = k
        return out


# --------------------------------------------------------------------------- the generator
def simulate_night(
    hours: float | None = 8.0,
    sfreq: float = 250.0,
    seed: int | None = 1,
    hypnogram: Sequence[int] | np.ndarray | None = None,
    artefacts: str | Sequence[tuple[str, float, float]] | None = "auto",
    channel_names: Sequence[str] = DEFAULT_CHANNELS,
    accelerometer: bool = False,
) -> SimulatedNight:
    """Generate a whole night of frontal EEG, EOG and EMG from a hypnogram.

    Parameters
    ----------
    hours : float or None
        Length of the night; ignored when ``hypnogram`` is given.
    sfreq : float
        Sampling rate in Hz (>= 100; ``30 * sfreq`` must be a whole number of samples).
    seed : int or None
        Random seed; the same seed gives the same night.
    hypnogram : array of int, shape (n_epochs,), optional
        Stage per 30-s epoch (W=0 .. REM=4; -1 = unknown, generated as wake with movement).
        Drawn by :func:`draw_hypnogram` when omitted.
    artefacts : "auto", "none"/None, or sequence of (kind, onset_s, duration_s)
        ``"auto"``: movements at some brief awakenings and two electrode pops. A sequence places
        exactly these artefacts; kinds are ``movement``, ``electrode_pop``, ``line_noise``,
        ``headband_off``.
    channel_names : sequence of 4 str
        Names of the two frontal EEG channels, the EOG and the EMG, in that order.
    accelerometer : bool
        Add three accelerometer rows (``accel_x/y/z``, in g).

    Returns
    -------
    SimulatedNight
        ``data`` (n_channels, n_samples) in µV (accelerometer in g), the true hypnogram and the
        events.
    """
    sfreq = float(sfreq)
    if not np.isfinite(sfreq) or sfreq < 100.0:
        raise ValueError(f"sfreq must be at least 100 Hz (the staging rate), got {sfreq!r}.")
    epoch_n = EPOCH_S * sfreq
    if abs(epoch_n - round(epoch_n)) > 1e-6:
        raise ValueError(f"sfreq={sfreq} does not give a whole number of samples per 30-s epoch; use e.g. 200, 250 or 256.")
    epoch_n = int(round(epoch_n))
    if len(channel_names) != 4:
        raise ValueError(f"channel_names must name 4 channels (EEG, EEG, EOG, EMG), got {list(channel_names)}.")
    seeds = np.random.SeedSequence(seed).spawn(8)
    rngs = [np.random.default_rng(s) for s in seeds]
    if hypnogram is None:
        if hours is None:
            raise ValueError("Give either hours or a hypnogram.")
        hyp = draw_hypnogram(hours, rngs[0])
    else:
        hyp = _check_hypnogram(hypnogram)
    n_ep = len(hyp)
    n = n_ep * epoch_n
    gen_stage = np.where(hyp < 0, W, hyp).astype(np.int64)

    targets = _draw_targets(gen_stage, rngs[1])  # ln µV²/Hz x5, ln µV²
    events: list[SimEvent] = []
    # rows 0-1 frontal EEG, 2 EOG, 3 EMG (then accelerometer): filled in place to spare memory
    data = np.zeros((4 + (3 if accelerometer else 0), n))
    _place_graphoelements(gen_stage, targets, sfreq, epoch_n, rngs[2], data[0:2], data[2], data[3], events)

    # shape the background so that background + graphoelements hit the targets
    g_band, g_var = _element_powers(data[0], sfreq, epoch_n, n_ep)
    _add_background(data, targets, g_band, g_var, gen_stage, sfreq, epoch_n, rngs[3], eog_leak=0.45)
    data[2] += 3.0 * _pink_noise(n, sfreq, rngs[4])
    data[3] += _emg(gen_stage, sfreq, epoch_n, rngs[5])
    names = list(channel_names)
    types = ["eeg", "eeg", "eog", "emg"]
    if accelerometer:
        data[4:] = _accelerometer(gen_stage, sfreq, epoch_n, rngs[6])
        names += list(ACCEL_CHANNELS)
        types += ["accel"] * 3

    placed = _artefact_plan(artefacts, hyp, n_ep, rngs[7])
    for kind, onset, dur in placed:
        _apply_artefact(data, kind, onset, dur, sfreq, accelerometer, rngs[7])
        events.append(SimEvent(kind, float(onset), float(dur)))
    events.sort(key=lambda e: (e.onset_s, e.kind))
    return SimulatedNight(data, sfreq, names, types, hyp, events, seed)


def _place_graphoelements(
    stage: np.ndarray, targets: np.ndarray, sfreq: float, epoch_n: int, rng: np.random.Generator,
    eeg: np.ndarray, eog: np.ndarray, emg: np.ndarray, events: list[SimEvent],
) -> None:
    """Render graphoelements and eye movements into the arrays (µV), appending their events."""

    def put(arr: np.ndarray, start_s: float, wave: np.ndarray) -> None:
        i0 = int(round(start_s * sfreq))
        i1 = min(i0 + wave.shape[-1], arr.shape[-1])
        if i1 > i0:
            arr[..., i0:i1] += wave[..., : i1 - i0]

    def t_axis(dur: float) -> np.ndarray:
        return np.arange(int(round(dur * sfreq))) / sfreq

    def onset_in(k: int, dur: float) -> float:
        return k * EPOCH_S + rng.uniform(0.0, max(EPOCH_S - dur, 0.0))

    def saccade(t0: float, amp: float, leak: float, kind: str) -> None:
        t = t_axis(4.0)
        rise = 0.5 * (1 + np.tanh((t - 0.05) / 0.012))
        wave = amp * rise * np.exp(-np.maximum(t - 0.05, 0) / 1.2)
        put(eog, t0, wave)
        put(eeg, t0, np.stack([leak * wave, -leak * wave]))
        events.append(SimEvent(kind, t0, 0.1))

    for k in range(len(stage)):
        s = stage[k]
        if s == W:
            for _ in range(rng.poisson(2.0)):  # blinks: vertical, strongest on Fp1/Fp2
                dur = 0.4
                t0 = onset_in(k, dur)
                t = t_axis(dur)
                amp = rng.uniform(30, 80)
                wave = amp * np.exp(-0.5 * ((t - 0.2) / 0.06) ** 2)
                put(eeg, t0, np.stack([wave, wave]))
                put(eog, t0, 0.3 * wave)
                events.append(SimEvent("blink", t0, dur))
            for _ in range(rng.poisson(5.0)):
                saccade(onset_in(k, 1.0), rng.choice([-1, 1]) * rng.uniform(30, 120), 0.12, "saccade")
        elif s == N1:
            if rng.random() < 0.6:  # slow eye movements
                dur = rng.uniform(2.0, 5.0)
                t0 = onset_in(k, dur)
                t = t_axis(dur)
                wave = rng.choice([-1, 1]) * rng.uniform(40, 110) * np.sin(np.pi * t / dur) ** 2
                put(eog, t0, wave)
                put(eeg, t0, np.stack([0.1 * wave, -0.1 * wave]))
                events.append(SimEvent("slow_eye_movement", t0, dur))
            if rng.random() < 0.25:  # vertex sharp wave
                dur = 0.3
                t0 = onset_in(k, dur)
                t = t_axis(dur)
                wave = -rng.uniform(25, 50) * np.exp(-0.5 * ((t - 0.15) / 0.04) ** 2)
                put(eeg, t0, np.stack([wave, wave]))
                events.append(SimEvent("vertex_wave", t0, dur))
        elif s == N2 or s == N3:
            for _ in range(rng.poisson(2.5 if s == N2 else 0.8)):
                dur = rng.uniform(0.5, 2.0)
                t0 = onset_in(k, dur)
                t = t_axis(dur)
                f = rng.uniform(11.0, 15.0)
                wave = rng.uniform(8, 18) * np.hanning(len(t)) * np.sin(2 * np.pi * f * t + rng.uniform(0, 6.3))
                put(eeg, t0, np.stack([wave, wave]))
                events.append(SimEvent("spindle", t0, dur))
            if s == N2:
                for _ in range(rng.poisson(0.5)):
                    dur = 1.2
                    t0 = onset_in(k, dur)
                    t = t_axis(dur)
                    a = rng.uniform(45, 80)
                    wave = -a * np.exp(-0.5 * ((t - 0.3) / 0.08) ** 2) + 0.6 * a * np.exp(-0.5 * ((t - 0.75) / 0.17) ** 2)
                    put(eeg, t0, np.stack([wave, wave]))
                    events.append(SimEvent("k_complex", t0, dur))
            else:
                # slow waves carrying ~70 % of the epoch's delta power, each > 75 µV peak to peak
                delta_uv2 = np.exp(targets[k, 0]) * 3.5 * EPOCH_S
                amps = []
                budget = 0.7 * delta_uv2
                while True:
                    f = rng.uniform(0.6, 1.6)
                    a = rng.uniform(40, 80)  # half peak-to-peak
                    energy = a * a / 2 / f
                    if budget < energy or len(amps) > 24:
                        break
                    budget -= energy
                    amps.append((a, f))
                # spread over the epoch: runs of consecutive waves separated by random pauses
                durs = [1.0 / f for _, f in amps]
                free = EPOCH_S - 0.2 - sum(durs)
                while free < 0 and amps:  # cannot happen with <= 25 waves of <= 1.7 s; kept safe
                    free += durs.pop()
                    amps.pop()
                joins = rng.random(len(amps)) < 0.6  # a wave directly follows the previous one
                joins[0] = False
                gaps = rng.dirichlet(np.ones(int((~joins).sum()) + 1)) * free
                t0, g = k * EPOCH_S + 0.1, 0
                for (a, f), dur, joined in zip(amps, durs, joins, strict=True):
                    if not joined:
                        t0 += gaps[g]
                        g += 1
                    t = t_axis(dur)
                    wave = -a * np.sin(2 * np.pi * f * t)
                    put(eeg, t0, np.stack([wave, wave]))
                    events.append(SimEvent("slow_wave", t0, dur))
                    t0 += dur
        elif s == REM:
            if rng.random() < 0.5:  # a burst of rapid eye movements
                t0 = onset_in(k, 4.0)
                for _ in range(1 + rng.poisson(3.0)):
                    saccade(t0, rng.choice([-1, 1]) * rng.uniform(50, 150), 0.1, "rapid_eye_movement")
                    t0 += rng.uniform(0.25, 1.0)
            if rng.random() < 0.3:  # sawtooth waves
                f = rng.uniform(2.0, 4.5)
                nw = int(rng.integers(3, 9))
                dur = nw / f
                t0 = onset_in(k, dur)
                t = t_axis(dur)
                phase = (t * f) % 1.0
                tri = np.where(phase < 0.8, phase / 0.8, (1.0 - phase) / 0.2) * 2 - 1
                wave = rng.uniform(10, 20) * tri * np.hanning(len(t)) ** 0.3
                put(eeg, t0, np.stack([wave, wave]))
                events.append(SimEvent("sawtooth", t0, dur))
            for _ in range(rng.poisson(1.0)):  # phasic muscle twitch
                dur = rng.uniform(0.05, 0.25)
                t0 = onset_in(k, dur)
                m = len(t_axis(dur))
                put(emg, t0, rng.uniform(8, 25) * np.hanning(m) * rng.standard_normal(m))
                events.append(SimEvent("twitch", t0, dur))


def _element_powers(x: np.ndarray, sfreq: float, epoch_n: int, n_ep: int) -> tuple[np.ndarray, np.ndarray]:
    """Mean PSD (µV²/Hz) of the graphoelements in each band, and their variance, per epoch."""
    seg = x[: n_ep * epoch_n].reshape(n_ep, epoch_n)
    spec = np.abs(np.fft.rfft(seg, axis=1)) ** 2 * (2.0 / (sfreq * epoch_n))
    freqs = np.fft.rfftfreq(epoch_n, 1.0 / sfreq)
    band = np.stack([spec[:, (freqs >= lo) & (freqs <= hi)].mean(1) for lo, hi in BANDS_HZ], axis=1)
    return band, seg.var(axis=1)


def _add_background(
    data: np.ndarray, targets: np.ndarray, g_band: np.ndarray, g_var: np.ndarray, stage: np.ndarray,
    sfreq: float, epoch_n: int, rng: np.random.Generator, eog_leak: float,
) -> None:
    """Add two correlated frontal background channels (µV) to rows 0-1 of ``data`` (and a share of
    the first to the EOG row 2), spectrally shaped epoch by epoch and cross-faded at the edges."""
    n_ep = len(targets)
    n = data.shape[1]
    fade = int(round(_FADE_S * sfreq))
    seg_n = epoch_n + 2 * fade
    freqs = np.fft.rfftfreq(seg_n, 1.0 / sfreq)
    ramp = np.sin(0.5 * np.pi * (np.arange(2 * fade) + 0.5) / (2 * fade))
    win = np.ones(seg_n)
    win[: 2 * fade] = ramp
    win[-2 * fade :] = ramp[::-1]
    widths = np.array([hi - lo for lo, hi in BANDS_HZ])
    masks = [(freqs >= lo) & (freqs <= hi) for lo, hi in BANDS_HZ]
    centres = np.array([np.sqrt(lo * hi) for lo, hi in BANDS_HZ])
    low = (freqs >= 0.1) & (freqs < 0.5)
    high = freqs > 50.0
    logf = np.log(np.maximum(freqs, 1e-3))
    c = _FP_CORRELATION
    block = 64
    for b0 in range(0, n_ep, block):
        ks = np.arange(b0, min(b0 + block, n_ep))
        noise = rng.standard_normal((2, len(ks), seg_n))
        noise[1] = c * noise[0] + np.sqrt(1 - c * c) * noise[1]
        spec = np.fft.rfft(noise, axis=2)
        psd = np.zeros((len(ks), len(freqs)))
        for j, k in enumerate(ks):
            p_tot = np.exp(targets[k, :5])
            p_bg = np.maximum(p_tot - g_band[k], 0.15 * p_tot)
            shape = np.interp(logf, np.log(centres), np.log(p_bg))  # 1/f-like, log-log interpolated
            shape = np.exp(shape) * _peaks(stage[k], freqs, rng)
            for i, m in enumerate(masks):
                shape[m] *= p_bg[i] / shape[m].mean()
            var_target = np.exp(targets[k, 5])
            band_var = float(np.sum(p_bg * widths)) + g_var[k]
            p_low = max(var_target - band_var, 0.02 * var_target) / 0.4
            shape[low] = p_low * (0.5 / np.maximum(freqs[low], 0.1)) / 2.0
            shape[freqs < 0.1] = 0.0
            shape[high] = p_bg[4] * (40.0 / freqs[high]) ** 2
            psd[j] = shape
        gain = np.sqrt(psd * sfreq / 2.0)
        seg = np.fft.irfft(spec * gain[None], n=seg_n, axis=2) * win
        for j, k in enumerate(ks):
            a = k * epoch_n - fade  # segment start in night samples (the fades overhang the ends)
            lo, hi = max(0, -a), seg_n - max(0, a + seg_n - n)
            data[0:2, a + lo : a + hi] += seg[:, j, lo:hi]
            data[2, a + lo : a + hi] += eog_leak * seg[0, j, lo:hi]


def _peaks(stage: int, freqs: np.ndarray, rng: np.random.Generator) -> np.ndarray:
    """Multiplicative spectral peaks of the stage's rhythms (alpha in wake, theta in N1/REM)."""
    out = np.ones_like(freqs)
    if stage == W:
        f0, strength = rng.uniform(9.0, 11.0), rng.uniform(0.0, 5.0)
        out += strength * np.exp(-0.5 * ((freqs - f0) / 0.8) ** 2)
    elif stage == N1:
        f0, strength = rng.uniform(4.5, 7.0), rng.uniform(0.5, 2.5)
        out += strength * np.exp(-0.5 * ((freqs - f0) / 0.9) ** 2)
    elif stage == REM:
        f0, strength = rng.uniform(4.5, 7.0), rng.uniform(0.0, 1.5)
        out += strength * np.exp(-0.5 * ((freqs - f0) / 1.0) ** 2)
    return out


def _pink_noise(n: int, sfreq: float, rng: np.random.Generator) -> np.ndarray:
    """Unit-variance 1/f noise, 0.3 Hz to Nyquist."""
    spec = np.fft.rfft(rng.standard_normal(n))
    f = np.fft.rfftfreq(n, 1.0 / sfreq)
    spec *= np.where(f > 0.3, 1.0 / np.sqrt(np.maximum(f, 0.3)), 0.0)
    x = np.fft.irfft(spec, n=n)
    return x / (x.std() + 1e-12)
