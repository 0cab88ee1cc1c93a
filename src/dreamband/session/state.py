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
- **WASO**: minutes of W between sleep onset and the last sleep epoch so far (the YASA/AASM
  definition: a trailing wake after the last sleep epoch is not WASO until sleep resumes).
- **Awakenings**: wake bouts (one or more consecutive W epochs) that follow a sleep epoch.
- **REM period**: starts at a REM epoch; it tolerates interruptions of at most
  ``rem_interruption_epochs`` consecutive non-REM epochs (default 1, i.e. 30 s; unstaged epochs
  count as non-REM). It ends when the interruption grows longer than that; its end time is the
  end of its last REM epoch, and the end is *known* at the epoch that exceeded the tolerance
  (``just_ended_rem`` is set on that update only). Its ``rem_min`` counts only REM epochs.
- **NREM-REM cycles**: a cycle is completed when a REM period ends (each REM period closes the
  NREM period before it); REM periods less than ``cycle_gap_min`` (default 15) minutes apart
  belong to the same cycle. ``cycle`` is the number of the cycle the sleeper is in (completed + 1
  once asleep).
- **Signal lost / off head**: from the per-channel quality (``update_quality``) and the stream's
  dropouts (``update_stream``): ``signal_lost`` when every EEG channel is lost/off-head/flat/
  railed or the stream dropped out; ``off_head`` when every EEG channel is off-head/flat.
"""

from __future__ import annotations

import datetime as dt
from dataclasses import dataclass
from typing import Any

from dreamband.firmware_bridge.clock import local_zone, localize, wall_at
from dreamband.signal.stages import N1, N2, N3, REM, STAGE_NAMES, UNSTAGED, W

PLAIN_WORDS: tuple[str, ...] = (
    "awake in bed", "falling asleep", "light sleep", "deep sleep", "dreaming", "awake", "signal lost",
)
LOST_STATUSES = frozenset({"lost", "off-head", "flat", "railed"})
OFF_HEAD_STATUSES = frozenset({"off-head", "flat"})
_SLEEP = (N1, N2, N3, REM)


@dataclass
class RemPeriod:
    """One REM period: ``start``/``end`` in session seconds, ``rem_epochs`` REM epochs in it."""

    start: float
    end: float
    rem_epochs: int
    epoch_s: float = 30.0
    closed: bool = False

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
        Longest run of non-REM epochs that a REM period bridges.
    cycle_gap_min : float
        REM periods closer than this (minutes) belong to the same NREM-REM cycle.
    """

    def __init__(
        self,
        start_datetime: dt.datetime | None = None,
        epoch_s: float = 30.0,
        persistent_sleep_min: float = 10.0,
        rem_interruption_epochs: int = 1,
        cycle_gap_min: float = 15.0,
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
        self.epoch_s = float(epoch_s)
        self.persistent_sleep_epochs = max(1, int(round(persistent_sleep_min * 60.0 / self.epoch_s)))
        self.rem_interruption_epochs = int(rem_interruption_epochs)
        self.cycle_gap_s = float(cycle_gap_min) * 60.0

        self.time: float = 0.0
        self.epochs: int = 0
        self.stage: int = UNSTAGED
        self.confidence: float = float("nan")
        self.quality_ok: bool = True
        self.stage_epochs: list[int] = [0, 0, 0, 0, 0]
        self.unstaged_epochs: int = 0
        self.sleep_onset: float | None = None
        self.persistent_sleep_onset: float | None = None
        self.waso_epochs: int = 0
        self.awakenings: int = 0
        self.rem_periods: list[RemPeriod] = []
        self.just_ended_rem: RemPeriod | None = None
        self.signal_lost: bool = False
        self.off_head: bool = False
        self.signal_lost_since: float | None = None
        self.plain: str = "awake in bed"

        self._sleep_run_start: float | None = None
        self._sleep_run_len = 0
        self._pending_wake = 0
        self._prev_staged: int = UNSTAGED
        self._non_rem_run = 0
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
        """The REM period in progress, if any."""
        if self.rem_periods and not self.rem_periods[-1].closed:
            return self.rem_periods[-1]
        return None

    @property
    def in_rem(self) -> bool:
        """True when the last epoch was usable REM."""
        return self.stage == REM and self.quality_ok

    @property
    def cycles_completed(self) -> int:
        """NREM-REM cycles completed (ended REM periods, those closer than ``cycle_gap_min`` merged)."""
        n = 0
        last_end: float | None = None
        for p in self.rem_periods:
            if not p.closed:
                break
            if last_end is None or p.start - last_end >= self.cycle_gap_s:
                n += 1
            last_end = p.end
        return n

    @property
    def cycle(self) -> int:
        """Number of the current cycle (0 before sleep onset)."""
        return 0 if self.sleep_onset is None else self.cycles_completed + 1

    def wall_clock(self, time: float) -> dt.datetime:
        """Wall-clock datetime of a session time (seconds)."""
        return wall_at(self.start_datetime, time)  # in UTC: right across a DST change

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
        self.just_ended_rem = None
        self.quality_ok = bool(getattr(epoch, "quality_ok", True)) and stage != UNSTAGED
        self.stage = stage
        self.confidence = float(getattr(epoch, "confidence", float("nan")))
        if stage == UNSTAGED:
            self.unstaged_epochs += 1
        else:
            self.stage_epochs[stage] += 1

        # sleep onset, persistent sleep, WASO, awakenings
        if stage in _SLEEP:
            if self.sleep_onset is None:
                self.sleep_onset = onset
            if self._sleep_run_len == 0:
                self._sleep_run_start = onset
            self._sleep_run_len += 1
            if self.persistent_sleep_onset is None and self._sleep_run_len >= self.persistent_sleep_epochs:
                self.persistent_sleep_onset = self._sleep_run_start
            self.waso_epochs += self._pending_wake
            self._pending_wake = 0
        elif stage == W:
            self._sleep_run_len = 0
            if self.sleep_onset is not None:
                if self._prev_staged in _SLEEP:
                    self.awakenings += 1
                self._pending_wake += 1
        # an unstaged epoch neither breaks nor extends a sleep run
        if stage != UNSTAGED:
            self._prev_staged = stage

        # REM periods
        open_rem = self.open_rem
        if stage == REM:
            if open_rem is None:
                open_rem = RemPeriod(onset, end, 0, self.epoch_s)
                self.rem_periods.append(open_rem)
            open_rem.rem_epochs += 1
            open_rem.end = end
            self._non_rem_run = 0
        elif open_rem is not None:
            self._non_rem_run += 1
            if self._non_rem_run > self.rem_interruption_epochs:
                open_rem.closed = True
                self.just_ended_rem = open_rem
                self._non_rem_run = 0

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
            "cycles_completed": self.cycles_completed,
            "cycle": self.cycle,
            "rem_count": len(self.rem_periods),
            "rem_periods": [p.to_dict() for p in self.rem_periods],
            "in_rem_period": self.open_rem is not None,
            "signal_lost": self.signal_lost,
            "off_head": self.off_head,
            "signal_lost_since": self.signal_lost_since,
        }
