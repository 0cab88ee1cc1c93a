"""The current stage with a bar per stage, the plain-words state and the night's numbers."""

from __future__ import annotations

import datetime as dt
import math
from collections.abc import Mapping, Sequence
from typing import Any

from pyqtgraph.Qt import QtCore, QtWidgets

from dreamband.signal.stages import STAGE_NAMES
from dreamband.ui import theme
from dreamband.ui.timeaxis import format_duration


def _bar_style(colour: str) -> str:
    return (
        f"QProgressBar {{ border: 1px solid {theme.PANEL_BORDER}; border-radius: 2px; "
        f"background: {theme.BACKGROUND}; color: {theme.TEXT_BRIGHT}; text-align: right; "
        f"padding-right: 4px; height: 14px; }}"
        f"QProgressBar::chunk {{ background: {colour}; }}"
    )


def alarm_countdown(state: Mapping[str, Any], alarm: tuple[dt.time, dt.time] | None,
                    session_s: float, start: dt.datetime | None) -> str:
    """Words for the time left until the alarm window (``"in 1 h 05 min"``, ``"open"``, ``"–"``).

    Parameters
    ----------
    state : mapping
        Unused keys are ignored; reserved for engine-provided countdowns.
    alarm : (time, time) or None
        The window's start and end time of day.
    session_s : float
        Current session time in seconds.
    start : datetime or None
        Session start (aware); needed to turn the window into session time.
    """
    if alarm is None or start is None:
        return "no alarm set"
    now = start + dt.timedelta(seconds=session_s)
    a_start = now.replace(hour=alarm[0].hour, minute=alarm[0].minute, second=0, microsecond=0)
    a_end = now.replace(hour=alarm[1].hour, minute=alarm[1].minute, second=0, microsecond=0)
    if a_end <= a_start:
        a_end += dt.timedelta(days=1)
    # the window may belong to today or tomorrow (or have started yesterday before midnight)
    for shift in (-1, 0, 1):
        s, e = a_start + dt.timedelta(days=shift), a_end + dt.timedelta(days=shift)
        if s <= now < e:
            return f"window open ({format_duration((e - now).total_seconds())} left)"
    for shift in (0, 1):
        s = a_start + dt.timedelta(days=shift)
        if s > now:
            return f"in {format_duration((s - now).total_seconds())}"
    return "–"


class StagePanel(QtWidgets.QGroupBox):
    """Current stage (big), probabilities (a bar per stage), plain words, and the night's facts."""

    def __init__(self, parent=None):
        super().__init__("Now", parent)
        layout = QtWidgets.QVBoxLayout(self)
        top = QtWidgets.QHBoxLayout()
        self.stage_label = QtWidgets.QLabel("–")
        self.stage_label.setObjectName("stageLabel")
        self.stage_label.setMinimumWidth(90)
        self.plain_label = QtWidgets.QLabel("waiting for the first epoch")
        self.plain_label.setObjectName("plainLabel")
        self.plain_label.setWordWrap(True)
        top.addWidget(self.stage_label)
        top.addWidget(self.plain_label, 1)
        layout.addLayout(top)
        self.confidence_label = QtWidgets.QLabel("")
        layout.addWidget(self.confidence_label)
        self.bars: list[QtWidgets.QProgressBar] = []
        grid = QtWidgets.QGridLayout()
        for i, name in enumerate(STAGE_NAMES):
            label = QtWidgets.QLabel(name)
            bar = QtWidgets.QProgressBar()
            bar.setRange(0, 100)
            bar.setValue(0)
            bar.setFormat("%p %")
            bar.setStyleSheet(_bar_style(theme.stage_colour(i)))
            grid.addWidget(label, i, 0)
            grid.addWidget(bar, i, 1)
            self.bars.append(bar)
        layout.addLayout(grid)
        self.banner = QtWidgets.QLabel("")
        self.banner.setObjectName("bannerLabel")
        self.banner.setWordWrap(True)
        self.banner.hide()
        layout.addWidget(self.banner)
        form = QtWidgets.QFormLayout()
        form.setLabelAlignment(QtCore.Qt.AlignmentFlag.AlignLeft)
        self.facts: dict[str, QtWidgets.QLabel] = {}
        for key, text in (
            ("clock", "Time"), ("asleep", "Time asleep"), ("onset", "Sleep onset"),
            ("cycle", "Cycle"), ("rem", "REM periods"), ("waso", "WASO / awakenings"),
            ("alarm", "Alarm window"),
        ):
            value = QtWidgets.QLabel("–")
            value.setStyleSheet(f"color: {theme.TEXT_BRIGHT};")
            form.addRow(text, value)
            self.facts[key] = value
        layout.addLayout(form)
        layout.addStretch(1)
        self.stage = -1
        self.plain = ""

    def set_epoch(self, stage: int, probabilities: Sequence[float], confidence: float,
                  quality_ok: bool = True, reasons: Sequence[str] = ()) -> None:
        """Show one staged epoch: the stage (-1 = unstaged) and its probabilities (W..REM)."""
        self.stage = int(stage)
        name = STAGE_NAMES[stage] if 0 <= stage < len(STAGE_NAMES) else "?"
        self.stage_label.setText(name)
        self.stage_label.setStyleSheet(f"color: {theme.stage_colour(stage)};")
        probs = list(probabilities) + [float("nan")] * (len(STAGE_NAMES) - len(probabilities))
        for bar, p in zip(self.bars, probs, strict=False):
            bar.setValue(0 if not math.isfinite(p) else int(round(100 * p)))
        conf = "" if not math.isfinite(confidence) else f"confidence {100 * confidence:.0f} %"
        if not quality_ok:
            why = "; ".join(reasons) if reasons else "poor signal"
            conf = f"not staged: {why}" if stage < 0 else f"{conf} (quality: {why})"
        self.confidence_label.setText(conf)

    def set_state(self, plain: str, state: Mapping[str, Any], start: dt.datetime | None,
                  alarm: tuple[dt.time, dt.time] | None) -> None:
        """Show the engine's state snapshot (``NightState.snapshot()`` keys)."""
        self.plain = plain or state.get("plain", "")
        self.plain_label.setText(self.plain)
        t = float(state.get("time", 0.0) or 0.0)
        self.set_clock(t, start)
        self.facts["asleep"].setText(format_duration(60.0 * float(state.get("total_sleep_min", 0) or 0)))
        onset = state.get("sleep_onset")
        if onset is None:
            self.facts["onset"].setText("not yet")
        else:
            lat = state.get("sleep_onset_latency_min")
            when = (start + dt.timedelta(seconds=float(onset))).strftime("%H:%M") if start else ""
            self.facts["onset"].setText(f"{when} (after {format_duration(60 * (lat or 0))})".strip())
        self.facts["cycle"].setText(str(state.get("cycle", 0)))
        periods = state.get("rem_periods") or []
        rem_text = str(state.get("rem_count", len(periods)))
        if periods:
            last = periods[-1]
            rem_text += f" (last {last.get('rem_min', 0):.0f} min{', now' if not last.get('closed') else ''})"
        self.facts["rem"].setText(rem_text)
        self.facts["waso"].setText(
            f"{format_duration(60 * float(state.get('waso_min', 0) or 0))} / {state.get('awakenings', 0)}")
        self.facts["alarm"].setText(alarm_countdown(state, alarm, t, start))
        if state.get("signal_lost"):
            self.show_banner("off head" if state.get("off_head") else "signal lost")
        elif self.banner.text() in ("off head", "signal lost"):
            self.hide_banner()

    def set_clock(self, session_s: float, start: dt.datetime | None) -> None:
        """Show the time of day (or elapsed time) of session second ``session_s``."""
        if start is not None:
            text = (start + dt.timedelta(seconds=session_s)).strftime("%H:%M:%S")
        else:
            text = format_duration(session_s)
        self.facts["clock"].setText(f"{text}  ({format_duration(session_s)} in)")

    def show_banner(self, text: str) -> None:
        """Show a warning line (signal lost, board dropped out...)."""
        self.banner.setText(text)
        self.banner.show()

    def hide_banner(self) -> None:
        """Hide the warning line."""
        self.banner.setText("")
        self.banner.hide()
