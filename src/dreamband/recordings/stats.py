"""The one definition of a night's statistics, used live (``session/state.py``) and in reports.

The hypnogram is taken as time in bed (lights out to lights on). Codes: ``W=0, N1=1, N2=2,
N3=3, REM=4``, negatives = unscored/artefact (neither sleep nor wake, as in YASA).

YASA-identical keys (minutes unless %): ``TIB`` (whole hypnogram), ``SPT`` (first to last
sleep epoch), ``WASO`` (wake within SPT), ``TST`` (N1+N2+N3+REM within SPT), ``N1``, ``N2``,
``N3``, ``REM``, ``NREM`` (whole hypnogram), ``SOL`` (first sleep epoch from the start),
``Lat_N1``...``Lat_REM`` (from the start of the record, YASA's convention), ``%N1``...``%NREM``
(of TST), ``SE`` (TST/TIB), ``SME`` (TST/SPT). Undefined values are NaN, as in YASA.

dreamband extras: ``W`` (wake minutes in TIB), ``Unscored`` (minutes), ``Lat_REM_AASM`` (REM
latency from sleep onset, = ``Lat_REM - SOL``), ``Awakenings``, ``REM_periods`` and ``Cycles``,
counted by :class:`NightCounter` with the rules below. The live night state feeds the same
counter epoch by epoch, so the panel and the morning report cannot disagree.

The rules, named once:

- **Awakening** (:data:`AWAKENING_RULE`): a wake bout (one or more W epochs; unscored epochs
  neither end nor extend it) between two sleep epochs, i.e. within the sleep period. It is
  counted when sleep resumes, like WASO: the final morning wake is not an awakening.
- **REM period** (:data:`REM_PERIOD_GAP_MIN`): REM epochs merged across non-REM stretches
  (unscored included) shorter than 15 min. It starts at its first REM epoch, ends at the end of
  its last one, and is known to have ended once 15 min passed without REM.
- **NREM-REM cycle** (:data:`CYCLE_MIN_NREM_MIN`): a REM period that follows at least 15 min of
  N1-N3 since the previous REM period (or since lights out); a sleep-onset REM period after
  less NREM does not make a cycle. A cycle counts from the start of its REM period; it is
  *completed* when that period has ended.
- **REM bout** (:data:`REM_BOUT_INTERRUPTION_EPOCHS`, what the wake triggers act on): REM epochs
  bridging interruptions of at most one non-REM epoch. The triggers need to know within a
  minute that the dreaming stopped (dream report, smart alarm), which the 15-min REM-period
  rule cannot tell; bouts are therefore a separate, named unit and are not counted as periods.
"""

from __future__ import annotations

from dataclasses import dataclass
from typing import Any

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


AWAKENING_RULE = "wake bouts between two sleep epochs (counted when sleep resumes)"
REM_PERIOD_GAP_MIN = 15.0
"""Non-REM stretches shorter than this (minutes) do not end a REM period."""
CYCLE_MIN_NREM_MIN = 15.0
"""Minutes of N1-N3 since the previous REM period that make the next REM period a cycle."""
REM_BOUT_INTERRUPTION_EPOCHS = 1
"""Longest run of non-REM epochs a REM bout (the triggers' unit) bridges."""


@dataclass
class RemPeriod:
    """A REM period or bout: ``start``/``end`` in seconds (first REM onset, last REM end).

    ``rem_epochs`` counts its REM epochs; ``closed`` says its end is known; ``cycle`` that it
    made a NREM-REM cycle (periods only); ``first_epoch``/``stop_epoch`` are epoch indices
    (``stop_epoch`` one past the last REM epoch).
    """

    start: float
    end: float
    rem_epochs: int
    epoch_s: float = 30.0
    closed: bool = False
    cycle: bool = False
    first_epoch: int = 0
    stop_epoch: int = 0

    @property
    def duration_min(self) -> float:
        """Minutes from the start of the first to the end of the last REM epoch."""
        return (self.end - self.start) / 60.0

    @property
    def rem_min(self) -> float:
        """Minutes of REM epochs in the period."""
        return self.rem_epochs * self.epoch_s / 60.0

    def to_dict(self) -> dict[str, Any]:
        """JSON-ready dict."""
        return {
            "start": self.start, "end": self.end, "duration_min": round(self.duration_min, 3),
            "rem_min": round(self.rem_min, 3), "closed": self.closed,
        }


class NightCounter:
    """Count the night's rule-based quantities epoch by epoch (the module docstring's rules).

    Parameters
    ----------
    epoch_s : float
        Epoch length, seconds.
    rem_period_gap_min : float
        :data:`REM_PERIOD_GAP_MIN`.
    cycle_min_nrem_min : float
        :data:`CYCLE_MIN_NREM_MIN`.
    rem_bout_interruption_epochs : int
        :data:`REM_BOUT_INTERRUPTION_EPOCHS`.

    Attributes
    ----------
    epochs : int
        Epochs pushed.
    sleep_onset : float or None
        Onset (s) of the first sleep epoch.
    waso_epochs, awakenings : int
        Wake epochs and wake bouts between sleep epochs so far (YASA's WASO; awakenings).
    rem_periods, rem_bouts : list of RemPeriod
    just_ended_period, just_ended_bout : RemPeriod or None
        Set on the push whose epoch made the end known, else None.
    """

    def __init__(self, epoch_s: float = 30.0, rem_period_gap_min: float = REM_PERIOD_GAP_MIN,
                 cycle_min_nrem_min: float = CYCLE_MIN_NREM_MIN,
                 rem_bout_interruption_epochs: int = REM_BOUT_INTERRUPTION_EPOCHS) -> None:
        if not epoch_s > 0:
            raise ValueError(f"epoch_s must be positive, got {epoch_s!r}.")
        if int(rem_bout_interruption_epochs) < 0:
            raise ValueError(f"rem_interruption_epochs must be >= 0, got {rem_bout_interruption_epochs!r}.")
        if not rem_period_gap_min > 0 or not cycle_min_nrem_min >= 0:
            raise ValueError("rem_period_gap_min must be positive and cycle_min_nrem_min >= 0, got "
                             f"{rem_period_gap_min!r} and {cycle_min_nrem_min!r}.")
        self.epoch_s = float(epoch_s)
        self.period_gap_epochs = rem_period_gap_min * 60.0 / self.epoch_s
        self.cycle_nrem_epochs = cycle_min_nrem_min * 60.0 / self.epoch_s
        self.bout_interruption = int(rem_bout_interruption_epochs)
        self.epochs = 0
        self.sleep_onset: float | None = None
        self.waso_epochs = 0
        self.awakenings = 0
        self.rem_periods: list[RemPeriod] = []
        self.rem_bouts: list[RemPeriod] = []
        self.just_ended_period: RemPeriod | None = None
        self.just_ended_bout: RemPeriod | None = None
        self._pending_wake = 0
        self._in_wake_bout = False
        self._period: RemPeriod | None = None
        self._bout: RemPeriod | None = None
        self._non_rem_period = 0
        self._non_rem_bout = 0
        self._nrem_since_rem = 0

    @property
    def cycles(self) -> int:
        """NREM-REM cycles begun (REM periods that made a cycle)."""
        return sum(p.cycle for p in self.rem_periods)

    @property
    def cycles_completed(self) -> int:
        """NREM-REM cycles whose REM period has ended."""
        return sum(p.cycle and p.closed for p in self.rem_periods)

    @property
    def open_period(self) -> RemPeriod | None:
        """The REM period in progress, if any."""
        return self._period

    @property
    def open_bout(self) -> RemPeriod | None:
        """The REM bout in progress, if any."""
        return self._bout

    def push(self, stage: int, onset: float | None = None) -> None:
        """Take the next epoch's stage code (``onset`` in seconds, default ``index * epoch_s``)."""
        k = self.epochs
        self.epochs = k + 1
        onset = k * self.epoch_s if onset is None else float(onset)
        stage = int(stage)
        self.just_ended_period = self.just_ended_bout = None
        if stage == 4:
            self._sleep(onset)
            end = onset + self.epoch_s
            period, bout = self._period, self._bout
            if period is None:
                period = self._period = RemPeriod(onset, end, 0, self.epoch_s, first_epoch=k,
                                                  cycle=self._nrem_since_rem >= self.cycle_nrem_epochs)
                self.rem_periods.append(period)
            if bout is None:
                bout = self._bout = RemPeriod(onset, end, 0, self.epoch_s, first_epoch=k)
                self.rem_bouts.append(bout)
            period.rem_epochs += 1
            bout.rem_epochs += 1
            period.end = bout.end = end
            period.stop_epoch = bout.stop_epoch = k + 1
            self._non_rem_period = self._non_rem_bout = self._nrem_since_rem = 0
            return
        if 1 <= stage <= 3:
            self._sleep(onset)
            self._nrem_since_rem += 1
        elif stage == 0 and self.sleep_onset is not None:
            self._pending_wake += 1
            self._in_wake_bout = True
        if self._period is not None:
            self._non_rem_period += 1
            if self._non_rem_period >= self.period_gap_epochs:
                self._period.closed = True
                self.just_ended_period, self._period = self._period, None
        if self._bout is not None:
            self._non_rem_bout += 1
            if self._non_rem_bout > self.bout_interruption:
                self._bout.closed = True
                self.just_ended_bout, self._bout = self._bout, None

    def _sleep(self, onset: float) -> None:
        """A sleep epoch: sleep onset, and the wake since the last sleep epoch becomes WASO / an awakening."""
        if self.sleep_onset is None:
            self.sleep_onset = onset
        if self._pending_wake:
            self.waso_epochs += self._pending_wake
            self._pending_wake = 0
        if self._in_wake_bout:
            self.awakenings += 1
            self._in_wake_bout = False

    def extend(self, stages: np.ndarray) -> NightCounter:
        """Push every code of a hypnogram (epochs at ``index * epoch_s``); returns ``self``."""
        for s in np.asarray(stages).tolist():
            self.push(s)
        return self


def rem_periods(stages: np.ndarray, epoch_s: float = 30.0,
                max_gap_min: float = REM_PERIOD_GAP_MIN) -> list[tuple[int, int]]:
    """REM periods as (first_epoch, last_epoch_exclusive), by the REM-period rule (:class:`NightCounter`).

    Parameters
    ----------
    stages : ndarray, shape (n_epochs,)
        Stage codes.
    epoch_s : float
        Epoch length in seconds.
    max_gap_min : float
        Non-REM stretches shorter than this (minutes) do not end a REM period.
    """
    counter = NightCounter(epoch_s, rem_period_gap_min=max_gap_min).extend(stages)
    return [(p.first_epoch, p.stop_epoch) for p in counter.rem_periods]


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
    counter = NightCounter(epoch_s).extend(h)
    out["Awakenings"] = float(counter.awakenings) if has_sleep else np.nan
    out["REM_periods"] = float(len(counter.rem_periods))
    out["Cycles"] = float(counter.cycles)
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
