"""Smart alarm: wake in light sleep inside a window, never later than its end.

Rules
-----
- The window ``HH:MM-HH:MM`` is wall-clock time of day: session start datetime + session time.
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

from dreamband.session.settings import SmartAlarmSettings, parse_window
from dreamband.session.triggers.base import Policy, usable
from dreamband.signal.stages import N1, N2, N3, STAGE_NAMES, W


def resolve_window(start_datetime: dt.datetime, window: tuple[dt.time, dt.time]) -> tuple[dt.datetime, dt.datetime]:
    """Absolute (start, end) datetimes of the first window that has not ended at ``start_datetime``."""
    t0, t1 = window
    base = start_datetime.date()
    tz = start_datetime.tzinfo
    for day in (-1, 0, 1):
        d = base + dt.timedelta(days=day)
        ws = dt.datetime.combine(d, t0, tzinfo=tz)
        we = dt.datetime.combine(d, t1, tzinfo=tz)
        if we <= ws:
            we += dt.timedelta(days=1)
        if we > start_datetime:
            return ws, we
    raise AssertionError("unreachable")  # pragma: no cover


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
            ws, we = resolve_window(state.start_datetime, self._window)
            self._abs = ((ws - state.start_datetime).total_seconds(), (we - state.start_datetime).total_seconds())
            self._abs_for = state.start_datetime
        return self._abs

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
