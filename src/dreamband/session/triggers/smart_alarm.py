"""Smart alarm: wake in light sleep inside a window, never later than its end.

Rules
-----
- The window ``HH:MM-HH:MM`` is wall-clock time of day in the local zone with its DST rules
  (:func:`resolve_window`, the one resolver; the window draws it with the same function).
  It is the first occurrence of the window that has not ended at the session start (a session
  started at 23:00 with ``06:30-07:00`` means 06:30-07:00 next morning; a session started at
  06:40 means the window already open). Windows may cross midnight.
- An epoch is *in the window* when it is staged (its end) at or after the window start and
  before the window end.
- The alarm fires at the first usable epoch in the window that is N1, N2 or W, or that ends a REM
  period (``state.just_ended_rem``) unless that epoch is N3. Never in N3, never on REM.
- It always fires at the window end (``on_tick``), whatever the stages and even if staging or
  quality failed: this is the safety part of the alarm.
- Fires once per night.
"""

from __future__ import annotations

import datetime as dt
from typing import Any

from dreamband.firmware_bridge.clock import at_time_of_day, seconds_between, session_zone
from dreamband.session.settings import SmartAlarmSettings, parse_window
from dreamband.session.triggers.base import Policy, usable
from dreamband.signal.stages import N1, N2, N3, STAGE_NAMES, W


def resolve_window(start_datetime: dt.datetime, window: tuple[dt.time, dt.time]) -> tuple[dt.datetime, dt.datetime]:
    """Absolute (start, end) datetimes of the first window that has not ended at ``start_datetime``.

    The one resolver of the alarm window: the policy and the window (``ui/console.py``) both
    call it. Times of day are read in the session's zone with its rules
    (:func:`~dreamband.firmware_bridge.clock.session_zone`): a 06:30 alarm on the night the
    clocks go back is 06:30 of the new offset. Comparisons are made in UTC.

    Parameters
    ----------
    start_datetime : datetime
        Aware start of the session.
    window : (time, time)
        Start and end time of day; an end before the start crosses midnight.

    Returns
    -------
    (datetime, datetime)
        Aware start and end of the window, in the session's zone.
    """
    t0, t1 = window
    zone = session_zone(start_datetime)
    base = start_datetime.astimezone(zone).date()
    for day in (-1, 0, 1):
        d = base + dt.timedelta(days=day)
        ws = at_time_of_day(d, t0, zone)
        we = at_time_of_day(d if t1 > t0 else d + dt.timedelta(days=1), t1, zone)
        if seconds_between(start_datetime, we) > 0:
            return ws, we
    raise AssertionError("unreachable")  # pragma: no cover


def window_seconds(start_datetime: dt.datetime, window: tuple[dt.time, dt.time]) -> tuple[float, float]:
    """The window of :func:`resolve_window` as (start, end) seconds after ``start_datetime``."""
    ws, we = resolve_window(start_datetime, window)
    return seconds_between(start_datetime, ws), seconds_between(start_datetime, we)


class SmartAlarm(Policy):
    """Smart alarm policy (see the module docstring)."""

    name = "smart_alarm"
    safety = False

    def __init__(self, settings: SmartAlarmSettings | None = None) -> None:
        super().__init__(settings or SmartAlarmSettings())
        self._window = parse_window(self.settings.window) if self.settings.window else None
        self._abs: tuple[float, float] | None = None  # window in session seconds
        self._abs_for: dt.datetime | None = None  # ... for this session start
        self.done = False

    @property
    def window(self) -> tuple[dt.time, dt.time] | None:
        """The window as (start, end) times of day, or None."""
        return self._window

    def set_window(self, start: str | dt.time, end: str | dt.time) -> None:
        """Change the window (``"06:30"``, ``"07:00"``); re-arms the alarm if it has not fired."""
        text = f"{_fmt(start)}-{_fmt(end)}"
        self._window = parse_window(text)
        self.settings.window = text
        self._abs = None

    def window_session_s(self, state: Any) -> tuple[float, float] | None:
        """The window as (start, end) in session seconds, or None without a window."""
        if self._window is None:
            return None
        if self._abs is None or self._abs_for != state.start_datetime:
            self._abs = window_seconds(state.start_datetime, self._window)
            self._abs_for = state.start_datetime
        to_data = getattr(state, "data_time", None)  # the board's drift: wall seconds -> data seconds
        return self._abs if to_data is None else (to_data(self._abs[0]), to_data(self._abs[1]))

    def on_epoch(self, epoch: Any, state: Any) -> list[Any]:
        win = self.window_session_s(state)
        if self.done or win is None:
            return []
        t = float(epoch.time)
        if t >= win[1]:
            return self._end(t, state)
        if t < win[0] or not usable(epoch):
            return []
        stage = int(epoch.stage)
        ev = {"stage": STAGE_NAMES[stage], "confidence": float(epoch.confidence), "epoch_index": int(epoch.epoch_index),
              "window": self.settings.window, "wall_clock": state.wall_clock(t).isoformat(timespec="seconds")}
        if stage in (N1, N2, W):
            self.done = True
            return [self._fire(t, f"{STAGE_NAMES[stage]} inside the alarm window", ev)]
        if state.just_ended_rem is not None and stage != N3:
            p = state.just_ended_rem
            ev |= {"rem_start": p.start, "rem_end": p.end, "rem_min": p.rem_min}
            self.done = True
            return [self._fire(t, "end of a REM period inside the alarm window", ev)]
        return []

    def on_tick(self, time: float, state: Any) -> list[Any]:
        win = self.window_session_s(state)
        if self.done or win is None or time < win[1]:
            return []
        return self._end(win[1], state)  # at the exact window end, however the data is chunked

    def _end(self, time: float, state: Any) -> list[Any]:
        self.done = True
        stage = state.stage
        ev = {"stage": STAGE_NAMES[stage] if stage >= 0 else "?", "window": self.settings.window,
              "wall_clock": state.wall_clock(time).isoformat(timespec="seconds"), "staging_ok": bool(state.quality_ok)}
        return [self._fire(time, "end of the alarm window", ev)]


def _fmt(t: str | dt.time) -> str:
    return t.strftime("%H:%M:%S") if isinstance(t, dt.time) else str(t)
