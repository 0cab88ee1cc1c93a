"""The sleeper's body signals and artefacts: EMG, accelerometer, and the artefact plan laid over
the night (part of step 3 of :mod:`dreamband.signal.simulate`). Pure computation.
"""

from __future__ import annotations

from collections.abc import Sequence

import numpy as np
from scipy import signal as sps

from dreamband.signal.stages import EPOCH_S, N1, N2, N3, REM, UNSTAGED, W

ARTEFACT_KINDS: tuple[str, ...] = ("movement", "electrode_pop", "line_noise", "headband_off")
_EMG_RMS_UV = {W: 14.0, N1: 7.0, N2: 4.5, N3: 4.0, REM: 1.8}


def _epoch_envelope(values: np.ndarray, epoch_n: int, n: int) -> np.ndarray:
    """Per-epoch values interpolated linearly between epoch centres (smooth transitions)."""
    centres = (np.arange(len(values)) + 0.5) * epoch_n
    return np.interp(np.arange(n), centres, values)


def _emg(stage: np.ndarray, sfreq: float, epoch_n: int, rng: np.random.Generator) -> np.ndarray:
    """Chin-like muscle tone (µV): broadband 10-100 Hz noise with a stage-dependent envelope."""
    n = len(stage) * epoch_n
    hi = min(100.0, 0.45 * sfreq)
    sos = sps.butter(4, [10.0, hi], btype="bandpass", fs=sfreq, output="sos")
    x = sps.sosfilt(sos, rng.standard_normal(n))
    x /= x.std() + 1e-12
    rms = np.array([_EMG_RMS_UV[int(s)] for s in stage]) * np.exp(0.3 * rng.standard_normal(len(stage)))
    x *= _epoch_envelope(rms, epoch_n, n)
    return x


def _accelerometer(stage: np.ndarray, sfreq: float, epoch_n: int, rng: np.random.Generator) -> np.ndarray:
    """Head orientation in g: gravity that changes at awakenings, breathing micro-motion, noise."""
    n = len(stage) * epoch_n
    out = np.empty((3, n))
    direction = np.array([0.0, 0.0, 1.0])
    starts = [0] + [k for k in range(1, len(stage)) if stage[k] == W and stage[k - 1] != W]
    bounds = starts + [len(stage)]
    for a, b in zip(bounds[:-1], bounds[1:], strict=True):
        if a > 0:
            direction = direction + rng.normal(0, 0.5, 3)
            direction /= np.linalg.norm(direction)
        out[:, a * epoch_n : b * epoch_n] = direction[:, None]
    t = np.arange(n) / sfreq
    out += 0.002 * np.sin(2 * np.pi * 0.25 * t)[None] + 0.001 * rng.standard_normal((3, n))
    return out


# --------------------------------------------------------------------------- artefacts
def _artefact_plan(
    artefacts: str | Sequence[tuple[str, float, float]] | None, hyp: np.ndarray, n_ep: int, rng: np.random.Generator,
) -> list[tuple[str, float, float]]:
    total = n_ep * EPOCH_S
    if artefacts is None or (isinstance(artefacts, str) and artefacts.lower() == "none"):
        plan: list[tuple[str, float, float]] = []
    elif isinstance(artefacts, str):
        if artefacts.lower() != "auto":
            raise ValueError(f"artefacts must be 'auto', 'none' or a list of (kind, onset_s, duration_s), got {artefacts!r}.")
        plan = []
        onset = np.flatnonzero(hyp > W)
        first = int(onset[0]) if onset.size else n_ep
        for k in range(first + 1, n_ep):
            if hyp[k] == W and hyp[k - 1] != W and rng.random() < 0.35:
                plan.append(("movement", k * EPOCH_S + rng.uniform(0, 20), rng.uniform(3, 10)))
        for k in np.flatnonzero(hyp == UNSTAGED):
            plan.append(("movement", k * EPOCH_S, EPOCH_S))
        sleep = np.flatnonzero(hyp > W)
        if sleep.size:
            for k in rng.choice(sleep, size=min(2, sleep.size), replace=False):
                plan.append(("electrode_pop", float(k) * EPOCH_S + rng.uniform(0, 28), 1.0))
    else:
        plan = []
        for item in artefacts:
            try:
                kind, onset_s, dur = item
            except (TypeError, ValueError):
                raise TypeError(f"Each artefact must be (kind, onset_s, duration_s), got {item!r}.") from None
            plan.append((str(kind), float(onset_s), float(dur)))
    for kind, onset_s, dur in plan:
        if kind not in ARTEFACT_KINDS:
            raise ValueError(f"Unknown artefact {kind!r}; expected one of {', '.join(ARTEFACT_KINDS)}.")
        if not (0 <= onset_s < total) or dur <= 0:
            raise ValueError(f"Artefact {kind} at {onset_s} s for {dur} s is outside the night (0..{total:.0f} s).")
    return plan


def _apply_artefact(
    data: np.ndarray, kind: str, onset: float, dur: float, sfreq: float, accel: bool, rng: np.random.Generator,
) -> None:
    i0 = int(round(onset * sfreq))
    i1 = min(int(round((onset + dur) * sfreq)), data.shape[1])
    m = i1 - i0
    if m <= 0:
        return
    t = np.arange(m) / sfreq
    if kind == "movement":
        env = np.hanning(m) ** 0.5
        sos = sps.butter(2, 3.0, fs=sfreq, output="sos")
        size = rng.uniform(250, 400)  # µV SD of the swings: a movement saturates a scorer's view
        for ch in range(3):
            swing = sps.sosfilt(sos, rng.standard_normal(m))
            data[ch, i0:i1] += env * swing / (swing.std() + 1e-12) * size * rng.uniform(0.8, 1.2)
        data[3, i0:i1] += env * rng.standard_normal(m) * rng.uniform(150, 300)
        if accel:
            data[4:7, i0:i1] += env * rng.normal(0, 0.15, (3, m))
    elif kind == "electrode_pop":
        ch = int(rng.integers(0, 2))
        data[ch, i0:i1] += rng.choice([-1, 1]) * rng.uniform(400, 1200) * np.exp(-t / rng.uniform(0.15, 0.4))
    elif kind == "line_noise":
        data[:4, i0:i1] += rng.uniform(10, 30) * np.sin(2 * np.pi * 50.0 * t + rng.uniform(0, 6.3))
    elif kind == "headband_off":
        data[:4, i0:i1] = 0.3 * rng.standard_normal((4, m))
