"""The sleeper's model of a night: the calibration table, the hypnogram model and the per-epoch
spectral targets (steps 1 and 2 of :mod:`dreamband.signal.simulate`).

Pure computation; the calibration table is package data (``signal/data/sleeper_calibration.json``,
made by ``benchmarks/sleeper_calibration.py --write``).
"""

from __future__ import annotations

import json
from collections.abc import Sequence
from functools import lru_cache
from importlib import resources

import numpy as np

from dreamband.signal.stages import EPOCH_S, N1, N2, N3, REM, STAGE_NAMES, W

_MAX_NIGHT_OFFSET = 2.0  # Mahalanobis norm cap of the per-night offset


# --------------------------------------------------------------------------- calibration table
@lru_cache(maxsize=1)
def _calibration_text() -> str:
    path = resources.files("dreamband.signal").joinpath("data/sleeper_calibration.json")
    return path.read_text(encoding="utf-8")


def load_calibration() -> dict:
    """Return the stored per-stage statistics of the real Sleep-EDF Fpz-Cz features.

    Returns
    -------
    dict
        ``{"feature_names", "stage_names", "stages": {stage: {n_epochs, mean, std, p5, p50, p95}},
        "generator": {...}}`` (see ``benchmarks/sleeper_calibration.py``).
    """
    return json.loads(_calibration_text())


@lru_cache(maxsize=1)
def _generator_params() -> tuple[np.ndarray, np.ndarray, np.ndarray, np.ndarray]:
    gen = load_calibration()["generator"]["stages"]
    mu = np.array([gen[s]["mean"] for s in STAGE_NAMES])
    between = np.array([np.linalg.cholesky(np.asarray(gen[s]["between_night_cov"])) for s in STAGE_NAMES])
    within = np.array([np.linalg.cholesky(np.asarray(gen[s]["within_night_cov"])) for s in STAGE_NAMES])
    rho = np.array([gen[s]["lag1_autocorr"] for s in STAGE_NAMES])
    return mu, between, within, rho


# --------------------------------------------------------------------------- hypnogram model
def draw_hypnogram(hours: float, seed: int | np.random.Generator | None = None) -> np.ndarray:
    """Draw a hypnogram from a model of healthy adult sleep architecture.

    Sleep-onset latency (lognormal, median ~12 min), a few epochs of N1, then NREM-REM cycles of
    ~90 min (N3 long in the first cycles and vanishing later, REM growing from ~8 to ~30 min),
    N1 intrusions and brief awakenings (mostly at cycle ends), and a final awakening.

    Parameters
    ----------
    hours : float
        Length of the night (> 0).
    seed : int, Generator or None
        Random seed or generator.

    Returns
    -------
    ndarray, shape (round(hours * 120),), int8
        Stage per 30-s epoch (W=0, N1=1, N2=2, N3=3, REM=4).
    """
    n = _n_epochs(hours)
    rng = seed if isinstance(seed, np.random.Generator) else np.random.default_rng(seed)
    per_min = 2  # epochs per minute
    seq: list[int] = []

    def add(stage: int, minutes: float) -> None:
        seq.extend([stage] * max(int(round(minutes * per_min)), 0))

    add(W, float(np.clip(rng.lognormal(np.log(12.0), 0.5), 3.0, 45.0)))
    add(N1, rng.uniform(1.5, 6.0))
    n3_minutes = [rng.uniform(25, 45), rng.uniform(12, 28), rng.uniform(0, 12), rng.uniform(0, 4)]
    rem_minutes = [rng.uniform(5, 15), rng.uniform(14, 24), rng.uniform(20, 30), rng.uniform(25, 38)]
    cycle = 0
    while len(seq) < n:
        length = float(np.clip(rng.normal(92.0, 10.0), 70.0, 115.0))
        n3 = n3_minutes[cycle] if cycle < len(n3_minutes) else 0.0
        rem = rem_minutes[cycle] if cycle < len(rem_minutes) else rng.uniform(28, 42)
        nrem = max(length - rem, 20.0)
        if cycle > 0:
            add(N1, rng.uniform(0.5, 3.0))
        descent = rng.uniform(8, 20) if n3 > 1 else nrem - n3
        add(N2, descent)
        if n3 > 1:
            add(N3, n3)
            add(N2, max(nrem - descent - n3, 5.0))
        add(REM, rem)
        if rng.random() < 0.55:  # brief awakening at the end of the cycle
            add(W, rng.uniform(0.5, 3.0))
        cycle += 1
    hyp = np.array(seq[:n], dtype=np.int8)
    # intrusions: brief awakenings, N1 in N2/REM, N2 dips in N3
    onset = int(np.flatnonzero(hyp != W)[0]) if np.any(hyp != W) else n
    for k in range(onset + 4, n - 1):
        u = rng.random()
        s = hyp[k]
        if s in (N2, REM) and u < 0.006:
            hyp[k : k + int(rng.integers(1, 3))] = W
        elif s == N2 and u < 0.03:
            hyp[k] = N1
        elif s == REM and u < 0.03:
            hyp[k] = N1
        elif s == N3 and u < 0.05:
            hyp[k] = N2
    if n > 60:  # final awakening
        hyp[n - int(rng.integers(4, 16)) :] = W
    return hyp


def _n_epochs(hours: float) -> int:
    if not np.isfinite(hours) or hours <= 0:
        raise ValueError(f"hours must be a positive number, got {hours!r}.")
    n = int(round(float(hours) * 3600.0 / EPOCH_S))
    if n < 1:
        raise ValueError(f"hours={hours} is shorter than one 30-s epoch; ask for at least 30 s.")
    return n


def _check_hypnogram(hypnogram: Sequence[int] | np.ndarray) -> np.ndarray:
    hyp = np.asarray(hypnogram)
    if hyp.ndim != 1 or hyp.size == 0:
        raise ValueError(f"hypnogram must be a non-empty 1-D array of stage codes per 30 s, got shape {hyp.shape}.")
    if not np.issubdtype(hyp.dtype, np.integer):
        if not np.all(np.isfinite(hyp)) or not np.all(hyp == np.round(hyp)):
            raise TypeError("hypnogram must hold integer stage codes (W=0, N1=1, N2=2, N3=3, REM=4, -1 unknown).")
    hyp = hyp.astype(np.int8)
    if hyp.min() < -1 or hyp.max() > 4:
        raise ValueError("hypnogram codes must be -1 (unknown) or 0..4 (W, N1, N2, N3, REM).")
    return hyp


def _draw_targets(stage: np.ndarray, rng: np.random.Generator) -> np.ndarray:
    """Per-epoch ln band powers (µV²/Hz) and ln variance (µV²).

    Like the real nights: a per-night offset (one draw for the whole night, scaled by each
    stage's between-night covariance: a sleeper with a strong EEG is strong in every stage;
    its Mahalanobis norm is capped at 2 so that a night is typical rather than an outlier),
    plus within-night deviations that follow an AR(1) process across epochs.
    """
    mu, between, within, rho = _generator_params()
    n_ep, dim = len(stage), mu.shape[1]
    offset = rng.standard_normal(dim)
    offset *= min(1.0, _MAX_NIGHT_OFFSET / float(np.linalg.norm(offset)))  # typical nights, no outliers
    z = np.empty((n_ep, dim))
    state = rng.standard_normal(dim)
    for k in range(n_ep):
        r = rho[stage[k]]
        state = r * state + np.sqrt(1.0 - r * r) * rng.standard_normal(dim)
        z[k] = state
    z = np.clip(z, -2.5, 2.5)
    return mu[stage] + between[stage] @ offset + np.einsum("kij,kj->ki", within[stage], z)
