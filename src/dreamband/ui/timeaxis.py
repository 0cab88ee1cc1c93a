"""A time axis in hours of session time, labelled with the wall-clock time of day when known."""

from __future__ import annotations

import datetime as dt

import numpy as np
import pyqtgraph as pg

from dreamband.firmware_bridge.clock import wall_at


def format_duration(seconds: float | None) -> str:
    """Return ``"1 h 05 min"`` / ``"12 min"`` for a number of seconds (``"–"`` when unknown)."""
    if seconds is None or seconds != seconds:
        return "–"
    seconds = max(0.0, float(seconds))
    hours, rem = divmod(int(round(seconds)), 3600)
    minutes = rem // 60
    if hours:
        return f"{hours} h {minutes:02d} min"
    return f"{minutes} min"


def clock_text(start: dt.datetime | None, session_s: float) -> str:
    """Return the time of day ``HH:MM`` of session second ``session_s`` (elapsed ``h:mm`` if no start)."""
    if start is not None:
        return wall_at(start, session_s).strftime("%H:%M")  # in UTC: right across a DST change
    total_min = int(session_s // 60)
    return f"{total_min // 60}:{total_min % 60:02d}"


class ClockAxis(pg.AxisItem):
    """Bottom axis whose values are hours of session time, shown as ``HH:MM`` of the night.

    Set :attr:`start` (an aware datetime, the session start) to label with the time of day;
    without it the labels are the elapsed ``h:mm``.
    """

    def __init__(self, orientation: str = "bottom", **kwargs):
        super().__init__(orientation, **kwargs)
        self.start: dt.datetime | None = None

    def set_start(self, start: dt.datetime | None) -> None:
        """Label ticks relative to ``start`` (None: elapsed time)."""
        self.start = start
        self.picture = None
        self.update()

    def tickValues(self, minVal, maxVal, size):  # noqa: N802 - pyqtgraph API
        """Ticks on round minutes of the clock (every 5, 10, 15, 30, 60, 120 or 180 min)."""
        span_min = max((maxVal - minVal) * 60.0, 1e-6)
        wanted = max(size / 80.0, 2.0)
        step_min = next((s for s in (5, 10, 15, 30, 60, 120, 180) if span_min / s <= wanted), 360)
        step_h = step_min / 60.0
        if self.start is not None:
            midnight = self.start.replace(hour=0, minute=0, second=0, microsecond=0)
            offset_h = (self.start - midnight).total_seconds() / 3600.0
        else:
            offset_h = 0.0
        first = np.ceil((minVal + offset_h) / step_h - 1e-9) * step_h - offset_h
        values = np.arange(first, maxVal + 1e-9, step_h)
        return [(step_h, values.tolist())]

    def tickStrings(self, values, scale, spacing):  # noqa: N802 - pyqtgraph API
        return [clock_text(self.start, v * 3600.0) for v in values]
