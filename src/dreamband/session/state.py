"""The night's state as the dream-session engine sees it, updated once per staged epoch.

Definitions (all counted in whole epochs of ``epoch_s`` seconds, session time in seconds):

- **Lights off / in bed**: the session start (session time 0); its wall-clock time is
  ``start_datetime``.
- **Sleep onset**: onset of the first epoch staged as sleep (N1, N2, N3 or REM).
- **Persistent sleep onset**: onset of the first run of ``persistent_sleep_min`` minutes (default
  10, i.e. 20 epochs) of consecutive sleep epochs. **Persistent sleep onset drives the triggers**:
  REM cues, nightmare wakes and the REM-end dream report act only after it; the dream report's
  sleep-onset mode (hypnagogia) acts only before it. Both onsets are reported in the snapshot.
- **Sleep-onset latency (SOL)**: sleep onset minus lights off, minutes (and the persistent one).
- **WASO**, **awakenings**, **REM periods**, **NREM-REM cycles** and the **REM bouts** the
  triggers act on: counted by :class:`dreamband.recordings.stats.NightCounter`, the one
  definition the morning report uses too (the rules are in that module's docstring). WASO
  and awakenings follow YASA/AASM: a trailing wake after the last sleep epoch is neither WASO
  nor an awakening until sleep resumes. ``open_rem`` and ``just_ended_rem`` (set on the update
  whose epoch made the end known) are REM *bouts* (interruptions of at most
  ``rem_interruption_epochs`` non-REM epochs bridged, default 1), what the dream report, smart
  alarm and nightmare wake need within a minute; ``rem_periods`` are REM *periods* (merged
  across less than 15 min), the unit the report counts and cycles are made of.
- **Signal lost / off head**: from the per-channel quality (``update_quality``) and the stream's
  dropouts (``update_stream``): ``signal_lost`` when every EEG channel is lost/off-head/flat/
  railed or the stream dropped out; ``off_head`` when every EEG channel is off-head/flat.
"""

from __future__ import annotations

import datetime as dt
from typing import Any

from dreamband.firmware_bridge.clock import local_zone, localize, wall_at
from dreamband.recordings.stats import (
    CYCLE_MIN_NREM_MIN,
    REM_PERIOD_GAP_MIN,
    NightCounter,
    RemPeriod,
)
from dreamband.signal.stages import N1, N2, N3, REM, STAGE_NAMES, UNSTAGED, W

PLAIN_WORDS: tuple[str, ...] = (
    "awake in bed", "falling asleep", "light sleep", "deep sleep", "dreaming", "awake", "signal lost",
)
LOST_STATUSES = frozenset({"lost", "off-head", "flat", "railed"})
OFF_HEAD_STATUSES = frozenset({"off-head", "flat"})
_SLEEP = (N1, N2, N3, REM)


class NightState:
    """Follow the night epoch by epoch.

    Parameters
    ----------
    start_datetime : datetime, optional
        Wall-clock time (timezone-aware) of session time 0. Default: now, local zone.
    epoch_s : float
        Epoch length, seconds.
    persistent_sleep_min : float
        Minutes of consecutive sleep that make the persistent sleep onset.
    rem_interruption_epochs : int
        Longest run of non-REM epochs that a REM bout (the triggers' unit) bridges.
    rem_period_gap_min : float
        Non-REM stretches shorter than this (minutes) do not end a REM period.
    cycle_min_nrem_min : float
        Minutes of N1-N3 since the previous REM period that make a REM period a cycle.
    """

    def __init__(
        self,
        start_datetime: dt.datetime | None = None,
        epoch_s: float = 30.0,
        persistent_sleep_min: float = 10.0,
        rem_interruption_epochs: int = 1,
        rem_period_gap_min: float = REM_PERIOD_GAP_MIN,
        cycle_min_nrem_min: float = CYCLE_MIN_NREM_MIN,
    ) -> None:
        if epoch_s <= 0:
            raise ValueError(f"epoch_s must be positive, got {epoch_s!r}.")
        if persistent_sleep_min <= 0:
            raise ValueError(f"persistent_sleep_min must be positive, got {persistent_sleep_min!r}.")
        if int(rem_interruption_epochs) < 0:
            raise ValueError(f"rem_interruption_epochs must be >= 0, got {rem_interruption_epochs!r}.")
        if start_datetime is None:
            start_datetime = dt.datetime.now(local_zone())
        start_datetime = localize(start_datetime)  # the local zone's rules (DST), not a fixed offset
        self.start_datetime: dt.datetime = start_datetime
        #: real seconds per second of data (the board's clock drift; 1.0 until measured)
        self.wall_per_data: float = 1.0
        self.epoch_s = float(epoch_s)
        self.persistent_sleep_epochs = max(1, int(round(persistent_sleep_min * 60.0 / self.epoch_s)))
        self.rem_interruption_epochs = int(rem_interruption_epochs)
        self.counter = NightCounter(self.epoch_s, rem_period_gap_min, cycle_min_nrem_min, self.rem_interruption_epochs)

        self.time: float = 0.0
        self.epochs: int = 0
        self.stage: int = UNSTAGED
        self.confidence: float = float("nan")
        self.quality_ok: bool = True
        self.stage_epochs: list[int] = [0, 0, 0, 0, 0]
        self.unstaged_epochs: int = 0
        self.sleep_onset: float | None = None
        self.persistent_sleep_onset: float | None = None
        self.signal_lost: bool = False
        self.off_head: bool = False
        self.signal_lost_since: float | None = None
        self.plain: str = "awake in bed"

        self._sleep_run_start: float | None = None
        self._sleep_run_len = 0
        self._prev_staged: int = UNSTAGED
        self._channel_status: dict[str, str] = {}
        self._stream_down = False
        self._epoch_lost = False

    # ------------------------------------------------------------------ derived
    @property
    def asleep(self) -> bool:
        """True once persistent sleep onset was reached (what the triggers use)."""
        return self.persistent_sleep_onset is not None

    @property
    def open_rem(self) -> RemPeriod | None:
        """The REM bout in progress, if any (what the triggers act on)."""
        return self.counter.open_bout

    @property
    def just_ended_rem(self) -> RemPeriod | None:
        """The REM bout whose end the last epoch made known, else None."""
        return self.counter.just_ended_bout

    @property
    def rem_periods(self) -> list[RemPeriod]:
        """REM periods so far (merged across less than ``rem_period_gap_min``), as the report counts them."""
        return self.counter.rem_periods

    @property
    def waso_epochs(self) -> int:
        """Wake epochs between sleep epochs so far."""
        return self.counter.waso_epochs

    @property
    def awakenings(self) -> int:
        """Wake bouts between sleep epochs so far (the final wake counts once sleep resumes)."""
        return self.counter.awakenings

    @property
    def in_rem(self) -> bool:
        """True when the last epoch was usable REM."""
        return self.stage == REM and self.quality_ok

    @property
    def cycles_completed(self) -> int:
        """NREM-REM cycles whose REM period has ended."""
        return self.counter.cycles_completed

    @property
    def cycle(self) -> int:
        """Number of the current cycle (0 before sleep onset)."""
        return 0 if self.sleep_onset is None else self.cycles_completed + 1

    def wall_clock(self, time: float) -> dt.datetime:
        """Wall-clock datetime of a session time (seconds of data), with the board's measured drift."""
        return wall_at(self.start_datetime, time * self.wall_per_data)  # in UTC: right across a DST change

    def data_time(self, wall_elapsed_s: float) -> float:
        """Session time (seconds of data) at ``wall_elapsed_s`` real seconds after the start."""
        return wall_elapsed_s / self.wall_per_data

    def minutes(self, stage: int) -> float:
        """Minutes staged as ``stage`` so far."""
        return self.stage_epochs[stage] * self.epoch_s / 60.0

    # ------------------------------------------------------------------ updates
    def update_quality(self, channel: str, status: str, time: float, eeg_channels: list[str] | None = None) -> None:
        """Record a channel's quality status (from a ``QualityChanged`` event).

        Parameters
        ----------
        channel : str
            Channel name.
        status : str
            good / noisy / railed / flat / clipped / line-noise / huge / off-head / lost.
        time : float
            Session seconds.
        eeg_channels : list of str, optional
            The EEG channels that decide ``signal_lost`` (default: every channel seen).
        """
        self._channel_status[channel] = status
        chans = eeg_channels or list(self._channel_status)
        statuses = [self._channel_status.get(c, "good") for c in chans]
        self._epoch_lost = bool(statuses) and all(s in LOST_STATUSES for s in statuses)
        self.off_head = bool(statuses) and all(s in OFF_HEAD_STATUSES for s in statuses)
        self._refresh_lost(time)

    def update_stream(self, kind: str, time: float) -> None:
        """Record a stream event kind (``dropout`` / ``reconnected`` / ``ended`` ...)."""
        if kind == "dropout":
            self._stream_down = True
        elif kind in ("reconnected",):
            self._stream_down = False
        self._refresh_lost(time)

    def note_samples(self, time: float) -> None:
        """Samples arrived at ``time``: a stream that sends again is no longer down."""
        self.time = max(self.time, float(time))
        if self._stream_down:
            self._stream_down = False
            self._refresh_lost(time)

    def _refresh_lost(self, time: float) -> None:
        lost = self._stream_down or self._epoch_lost
        if lost and not self.signal_lost:
            self.signal_lost_since = float(time)
        if not lost:
            self.signal_lost_since = None
        self.signal_lost = lost
        if lost:
            self.plain = "signal lost"
        elif self.plain == "signal lost":
            self.plain = self._plain_word()

    def update(self, epoch: Any) -> None:
        """Take one staged epoch (an ``EpochStaged`` event or anything with its fields).

        Uses ``time`` (end of the epoch), ``onset``, ``stage``, ``confidence`` and ``quality_ok``.
        """
        onset = float(epoch.onset)
        end = float(getattr(epoch, "time", onset + self.epoch_s))
        stage = int(epoch.stage)
        self.time = max(self.time, end)
        self.epochs += 1
        self.quality_ok = bool(getattr(epoch, "quality_ok", True)) and stage != UNSTAGED
        self.stage = stage
        self.confidence = float(getattr(epoch, "confidence", float("nan")))
        if stage == UNSTAGED:
            self.unstaged_epochs += 1
        else:
            self.stage_epochs[stage] += 1

        # sleep onset, persistent sleep; WASO, awakenings, REM periods and bouts in the counter
        self.counter.push(stage, onset)
        if stage in _SLEEP:
            if self.sleep_onset is None:
                self.sleep_onset = onset
            if self._sleep_run_len == 0:
                self._sleep_run_start = onset
            self._sleep_run_len += 1
            if self.persistent_sleep_onset is None and self._sleep_run_len >= self.persistent_sleep_epochs:
                self.persistent_sleep_onset = self._sleep_run_start
        elif stage == W:
            self._sleep_run_len = 0
        # an unstaged epoch neither breaks nor extends a sleep run
        if stage != UNSTAGED:
            self._prev_staged = stage

        self.plain = self._plain_word()

    def _plain_word(self) -> str:
        if self.signal_lost:
            return "signal lost"
        stage = self.stage if self.stage != UNSTAGED else self._prev_staged
        if stage == UNSTAGED:
            return "awake in bed"
        if stage == W:
            return "awake in bed" if self.sleep_onset is None else "awake"
        if stage == N1:
            return "falling asleep" if not self.asleep or self._prev_was_wake() else "light sleep"
        if stage == N2:
            return "light sleep"
        if stage == N3:
            return "deep sleep"
        return "dreaming"

    def _prev_was_wake(self) -> bool:
        return self._sleep_run_len <= 1

    # ------------------------------------------------------------------ output
    def snapshot(self) -> dict[str, Any]:
        """Return the state as a JSON-ready dict (times in session seconds, minutes as floats)."""
        def mins(epochs: int) -> float:
            return round(epochs * self.epoch_s / 60.0, 3)

        def latency(t: float | None) -> float | None:
            return None if t is None else round(t / 60.0, 3)

        tst = sum(self.stage_epochs[s] for s in _SLEEP)
        return {
            "time": self.time,
            "wall_clock": self.wall_clock(self.time).isoformat(timespec="seconds"),
            "lights_off": self.start_datetime.isoformat(timespec="seconds"),
            "epochs": self.epochs,
            "stage": self.stage,
            "stage_name": STAGE_NAMES[self.stage] if self.stage >= 0 else "?",
            "confidence": None if self.confidence != self.confidence else round(self.confidence, 4),
            "quality_ok": self.quality_ok,
            "plain": self.plain,
            "minutes": {name: mins(self.stage_epochs[i]) for i, name in enumerate(STAGE_NAMES)}
            | {"unstaged": mins(self.unstaged_epochs)},
            "total_sleep_min": mins(tst),
            "sleep_onset": self.sleep_onset,
            "persistent_sleep_onset": self.persistent_sleep_onset,
            "sleep_onset_latency_min": latency(self.sleep_onset),
            "persistent_sleep_onset_latency_min": latency(self.persistent_sleep_onset),
            "triggers_use": "persistent_sleep_onset",
            "asleep": self.asleep,
            "waso_min": mins(self.waso_epochs),
            "awakenings": self.awakenings,
            "cycles": self.counter.cycles,
            "cycles_completed": self.cycles_completed,
            "cycle": self.cycle,
            "rem_count": len(self.rem_periods),
            "rem_periods": [p.to_dict() for p in self.rem_periods],
            "in_rem_period": self.counter.open_period is not None,
            "in_rem_bout": self.open_rem is not None,
            "signal_lost": self.signal_lost,
            "off_head": self.off_head,
            "signal_lost_since": self.signal_lost_since,
        }
