"""Sleep statistics of a hypnogram, with the AASM / YASA ``sleep_statistics`` definitions.

The hypnogram is taken as time in bed (lights out to lights on). Codes: ``W=0, N1=1, N2=2,
N3=3, REM=4``, negatives = unscored/artefact (neither sleep nor wake, as in YASA).

YASA-identical keys (minutes unless %): ``TIB`` (whole hypnogram), ``SPT`` (first to last
sleep epoch), ``WASO`` (wake within SPT), ``TST`` (N1+N2+N3+REM within SPT), ``N1``, ``N2``,
``N3``, ``REM``, ``NREM`` (whole hypnogram), ``SOL`` (first sleep epoch from the start),
``Lat_N1``...``Lat_REM`` (from the start of the record, YASA's convention), ``%N1``...``%NREM``
(of TST), ``SE`` (TST/TIB), ``SME`` (TST/SPT). Undefined values are NaN, as in YASA.

dreamband extras: ``W`` (wake minutes in TIB), ``Unscored`` (minutes), ``Lat_REM_AASM`` (REM
latency from sleep onset, = ``Lat_REM - SOL``), ``Awakenings`` (wake bouts within SPT),
``REM_periods`` (REM epochs merged across gaps shorter than 15 min) and ``Cycles`` (complete
NREM-REM cycles: one per REM period that follows at least 15 min of NREM sleep).
"""

from __future__ import annotations

import numpy as np

YASA_KEYS = ("TIB", "SPT", "WASO", "TST", "N1", "N2", "N3", "REM", "NREM", "SOL", "Lat_N1", "Lat_N2",
             "Lat_N3", "Lat_REM", "%N1", "%N2", "%N3", "%REM", "%NREM", "SE", "SME")


def _check(stages: np.ndarray) -> np.ndarray:
    h = np.asarray(stages)
    if h.ndim != 1:
        raise ValueError(f"A hypnogram must be 1-D (one code per epoch), got shape {h.shape}.")
    if h.size < 2:
        raise ValueError("A hypnogram needs at least two epochs for sleep statistics.")
    if not np.issubdtype(h.dtype, np.integer):
        if not np.all(np.isfinite(h)) or not np.all(h == np.round(h)):
            raise ValueError("Hypnogram codes must be integers (W=0, N1=1, N2=2, N3=3, REM=4, -1 unscored).")
        h = h.astype(np.int64)
    bad = np.setdiff1d(np.unique(h[h >= 0]), [0, 1, 2, 3, 4])
    if bad.size:
        raise ValueError(f"Unknown stage codes {bad.tolist()} (expected W=0, N1=1, N2=2, N3=3, REM=4, negatives unscored).")
    return h.astype(np.int64)


def rem_periods(stages: np.ndarray, epoch_s: float = 30.0, max_gap_min: float = 15.0) -> list[tuple[int, int]]:
    """REM periods as (first_epoch, last_epoch_exclusive): REM epochs merged across gaps < ``max_gap_min``.

    Parameters
    ----------
    stages : ndarray, shape (n_epochs,)
        Stage codes.
    epoch_s : float
        Epoch length in seconds.
    max_gap_min : float
        Non-REM stretches shorter than this (minutes) do not end a REM period.
    """
    h = np.asarray(stages)
    idx = np.flatnonzero(h == 4)
    if idx.size == 0:
        return []
    max_gap = max_gap_min * 60.0 / epoch_s
    periods = []
    start = prev = int(idx[0])
    for i in idx[1:]:
        if i - prev - 1 >= max_gap:
            periods.append((start, prev + 1))
            start = int(i)
        prev = int(i)
    periods.append((start, prev + 1))
    return periods


def sleep_statistics(stages: np.ndarray, epoch_s: float = 30.0) -> dict[str, float]:
    """Sleep statistics of a hypnogram (see the module docstring for each key).

    Parameters
    ----------
    stages : ndarray, shape (n_epochs,)
        One stage code per epoch, cropped to time in bed.
    epoch_s : float
        Epoch length in seconds (30 for AASM).

    Returns
    -------
    dict
        The YASA keys (``YASA_KEYS``, same values as ``yasa.sleep_statistics(stages, 1/epoch_s)``)
        plus ``W``, ``Unscored``, ``Lat_REM_AASM``, ``Awakenings``, ``REM_periods``, ``Cycles``.

    Raises
    ------
    ValueError
        For a non-1-D hypnogram, fewer than 2 epochs or unknown codes.
    """
    h = _check(stages)
    if not epoch_s > 0:
        raise ValueError(f"epoch_s must be positive, got {epoch_s}.")
    to_min = epoch_s / 60.0
    sleep = np.flatnonzero(h > 0)
    has_sleep = sleep.size > 0
    spt = h[sleep[0]: sleep[-1] + 1] if has_sleep else h[:0]
    out: dict[str, float] = {}
    out["TIB"] = h.size * to_min
    out["SPT"] = spt.size * to_min
    out["WASO"] = np.count_nonzero(spt == 0) * to_min if has_sleep else np.nan
    out["TST"] = np.count_nonzero(spt > 0) * to_min
    names = {"N1": 1, "N2": 2, "N3": 3, "REM": 4}
    for name, code in names.items():
        out[name] = np.count_nonzero(h == code) * to_min
    out["NREM"] = out["N1"] + out["N2"] + out["N3"]
    out["SOL"] = sleep[0] * to_min if has_sleep else np.nan
    for name, code in names.items():
        idx = np.flatnonzero(h == code)
        out[f"Lat_{name}"] = idx[0] * to_min if idx.size else np.nan
    for name in (*names, "NREM"):
        out[f"%{name}"] = 100.0 * out[name] / out["TST"] if has_sleep else np.nan
    out["SE"] = 100.0 * out["TST"] / out["TIB"]
    out["SME"] = 100.0 * out["TST"] / out["SPT"] if has_sleep else np.nan
    # extras
    out["W"] = np.count_nonzero(h == 0) * to_min
    out["Unscored"] = np.count_nonzero(h < 0) * to_min
    out["Lat_REM_AASM"] = out["Lat_REM"] - out["SOL"]
    if has_sleep:
        wake = (spt == 0).astype(np.int8)
        out["Awakenings"] = float(np.count_nonzero(np.diff(np.concatenate([[0], wake])) == 1))
    else:
        out["Awakenings"] = np.nan
    periods = rem_periods(h, epoch_s)
    out["REM_periods"] = float(len(periods))
    min_nrem = 15.0 * 60.0 / epoch_s
    cycles, prev_end = 0, 0
    for start, end in periods:
        if np.count_nonzero(np.isin(h[prev_end:start], (1, 2, 3))) >= min_nrem:
            cycles += 1
        prev_end = end
    out["Cycles"] = float(cycles)
    return {k: float(v) for k, v in out.items()}


#: Labels and units for printing.
LABELS: dict[str, tuple[str, str]] = {
    "TIB": ("Time in bed", "min"), "TST": ("Total sleep time", "min"), "SPT": ("Sleep period", "min"),
    "SOL": ("Sleep-onset latency", "min"), "WASO": ("Wake after sleep onset", "min"),
    "SE": ("Sleep efficiency", "%"), "SME": ("Sleep maintenance efficiency", "%"),
    "Lat_REM": ("REM latency (from lights out, YASA)", "min"), "Lat_REM_AASM": ("REM latency (from sleep onset, AASM)", "min"),
    "W": ("Wake", "min"), "N1": ("N1", "min"), "N2": ("N2", "min"), "N3": ("N3", "min"), "REM": ("REM", "min"),
    "%N1": ("N1", "% of TST"), "%N2": ("N2", "% of TST"), "%N3": ("N3", "% of TST"), "%REM": ("REM", "% of TST"),
    "Awakenings": ("Awakenings", "count"), "Cycles": ("NREM-REM cycles", "count"), "REM_periods": ("REM periods", "count"),
    "Unscored": ("Unscored / artefact", "min"),
}


def format_statistics(stats: dict[str, float]) -> str:
    """Return the statistics as an aligned plain-text table."""
    lines = []
    for key, (label, unit) in LABELS.items():
        if key not in stats:
            continue
        v = stats[key]
        txt = "n/a" if not np.isfinite(v) else (f"{v:.0f}" if unit == "count" else f"{v:.1f}")
        lines.append(f"  {label:<38s} {txt:>8s} {unit}")
    return "\n".join(lines)
