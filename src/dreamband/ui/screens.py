"""Switching the night console's screens: signal check -> lab -> night mode -> morning view.

A mixin of :class:`~dreamband.ui.console.NightConsole` (it uses the console's widgets, timers
and engine); kept apart so the console's event handling and these screen rules each stay
readable. The rules:

- the check screen reads the source until the user starts the night (the engine starts then);
- night mode (after "Lights off", or by itself at the first sleep epoch when enabled) shows the
  clock, stage and alarm large at two frames a second; a key press or a click shows the traces
  with fresh data at once, for ``PEEK_S`` seconds;
- minimised, the queue is drained once a second and nothing is drawn;
- when the session ends drawing stops and (when enabled) the morning view appears, and the
  report is written into the session folder once the engine has closed it.
"""

from __future__ import annotations

import datetime as dt
from pathlib import Path

from pyqtgraph.Qt import QtWidgets

from dreamband.signal.stages import STAGE_NAMES
from dreamband.ui import theme
from dreamband.ui.check_view import CheckView
from dreamband.ui.night_mode import HIDDEN_POLL_MS, NIGHT_POLL_MS
from dreamband.ui.stage_panel import alarm_countdown
from dreamband.ui.timeaxis import clock_text


class ScreensMixin:
    """The screens of :class:`~dreamband.ui.console.NightConsole` (see the module docstring)."""

    # ------------------------------------------------------------------ screens
    def _make_check_view(self) -> CheckView:
        from dreamband.session.check import checked_channels

        source = getattr(self.engine, "source", None)
        chans = checked_channels(source)
        staging_rows = getattr(self.engine, "staging_rows", None)
        staging = [self.channel_names[r] for r in staging_rows] if staging_rows else chans.staging
        view = CheckView(self.sfreq, chans.rows, chans.names, staging, source=source)
        view.startRequested.connect(self.start_night)
        return view

    def start_night(self, forced: bool = False) -> None:
        """Leave the signal check and start the session (``forced``: against the check's verdict,
        which is written into the session as a marker event)."""
        if self.mode != "check":
            return
        problems = self.check_view.problems() if self.check_view is not None else []
        if self.check_view is not None:
            self.check_view.stop()
            self.check_view.poll()  # what arrived before the click belongs to the check, not to the night
        self.mode = "lab"
        self.stack.setCurrentWidget(self.lab_page)
        self.timer.start()
        self.status_timer.start()
        if self.engine is not None and self.start_engine:
            self.engine.start()
        if forced and problems:
            note = "night started against the signal check: " + "; ".join(problems)
        elif forced:
            note = "night started before the signal check had a verdict"
        else:
            note = "night started: the signal check was good"
        self.log(note)
        if forced:
            self._call_engine("insert_marker", 2.0, note)
        self._apply_rate()

    def enter_night_mode(self, reason: str = "lights off") -> None:
        """Dim dark-red screen with the clock, stage and alarm; traces hidden; two frames a second."""
        if self.mode not in ("lab",) or self.ended:
            return
        self.mode = "night"
        self.peeking = False
        self._night_reason = reason
        self.setStyleSheet(theme.NIGHT_STYLE_SHEET)
        self.statusBar().hide()
        self.stack.setCurrentWidget(self.night_view)
        app = QtWidgets.QApplication.instance()
        if app is not None:
            app.installEventFilter(self._wake_watcher)
        self.log(f"night mode: {reason}")
        self._update_night_view()
        self._apply_rate()

    def leave_night_mode(self) -> None:
        """Back to the lab screen (traces, spectrogram, hypnogram at full rate)."""
        if self.mode != "night":
            return
        self._remove_wake_watcher()
        self.mode = "lab"
        self.auto_night = False  # the user chose the lab screen: do not switch back by itself
        self.peeking = False
        self.peek_timer.stop()
        self.setStyleSheet("")
        self.statusBar().show()
        self.stack.setCurrentWidget(self.lab_page)
        self._apply_rate()
        self.poll()

    def wake_screen(self) -> None:
        """Night mode: show the traces with fresh data now, back to night after ``PEEK_S`` idle."""
        if self.mode != "night":
            return
        self.peek_timer.start()  # (re)start the idle countdown
        if self.peeking:
            return
        self.peeking = True
        self.stack.setCurrentWidget(self.lab_page)
        self.traces.invalidate()
        self._apply_rate()
        self.poll()

    def _end_peek(self) -> None:
        if self.mode == "night" and self.peeking:
            self.peeking = False
            self.stack.setCurrentWidget(self.night_view)
            self._update_night_view()
            self._apply_rate()

    def _remove_wake_watcher(self) -> None:
        app = QtWidgets.QApplication.instance()
        if app is not None:
            app.removeEventFilter(self._wake_watcher)

    def _drawing(self) -> bool:
        """True when the lab panels are on screen (lab mode, or night mode woken)."""
        return not self.isMinimized() and (self.mode == "lab" or (self.mode == "night" and self.peeking))

    def _apply_rate(self) -> None:
        """Timer period for the screen shown: lab (``poll_ms``), night, minimised."""
        if self.isMinimized():
            ms = HIDDEN_POLL_MS
        elif self.mode == "night" and not self.peeking:
            ms = NIGHT_POLL_MS
        else:
            ms = self.poll_ms
        if self.timer.interval() != ms:
            self.timer.setInterval(ms)
        night = self.mode == "night" and not self.peeking
        if self.status_timer.isActive() and (night or self.isMinimized()):
            self.status_timer.stop()
        elif not self.status_timer.isActive() and not night and not self.isMinimized() and self.timer.isActive():
            self.status_timer.start()

    def _update_night_view(self) -> None:
        if self.mode != "night":
            return
        stage = self.stage_panel.stage
        name = STAGE_NAMES[stage] if 0 <= stage < len(STAGE_NAMES) else "–"
        if self.start_datetime is not None:
            clock = (self.start_datetime + dt.timedelta(seconds=self.session_time)).strftime("%H:%M")
        else:
            clock = clock_text(None, self.session_time)
        countdown = alarm_countdown({}, self.alarm, self.session_time, self.start_datetime)
        alarm = countdown if countdown == "no alarm set" else f"alarm {countdown}"
        banner = self.stage_panel.banner.text() if not self.stage_panel.banner.isHidden() else ""
        self.night_view.show_values(clock, name, self.stage_panel.plain, alarm, banner)

    def _session_over(self) -> None:
        """The session ended: stop drawing; show the morning view."""
        if self._stopped_at_end:
            return
        self._stopped_at_end = True
        self.refresh()
        self.timer.stop()
        self.status_timer.stop()
        self.peek_timer.stop()
        self._remove_wake_watcher()
        if self.morning_enabled:
            self.show_morning()

    def show_morning(self) -> None:
        """Turn the window into the morning report of the night so far."""
        self.update_status()
        if self.mode == "night":
            self.setStyleSheet("")
            self.statusBar().show()
        self.mode = "morning"
        trig = [(t, policy, "", reason) for t, policy, reason in self.hypnogram.triggers]
        actions = {(round(t, 3), p): a for t, p, a in self._fired}
        trig = [(t, p, actions.get((round(t, 3), p), a), r) for t, p, a, r in trig]
        self.morning_view.show_night(self.hypnogram.onsets, self.hypnogram.stages, self.hypnogram.epoch_s,
                                     self.start_datetime, trig, self.end_reason, self.hypnogram.markers)
        self.morning_view.set_folder(self.record_dir)
        self.stack.setCurrentWidget(self.morning_view)
        if self.record_dir is not None and not self._report_written:
            self.morning_view.set_report(None, "writing the report …")
            self.report_timer.start()

    def _try_write_report(self) -> None:
        """Write report.png/html once the engine has closed the session folder."""
        if self.engine is not None and getattr(self.engine, "running", False):
            return
        self.report_timer.stop()
        self.write_report()

    def write_report(self) -> Path | None:
        """Write the morning report (``recordings.report``) into the session folder; return the HTML path."""
        if self.record_dir is None:
            return None
        from dreamband.recordings.report import build_report, write_report

        try:
            report = build_report(self.record_dir)
            _, page = write_report(report, self.record_dir)
        except (OSError, ValueError) as err:
            self.morning_view.set_report(None, f"no report: {err}")
            self.log(f"report: {err}")
            return None
        self._report_written = True
        self.morning_view.set_report(page, f"report written: {page}")
        return page

    def open_report(self) -> None:
        """The morning view's "Open the report" button."""
        if not self._report_written:
            self.report_timer.stop()
            if self.engine is not None:
                self.engine.wait(10.0)
            self.write_report()
        self.morning_view.open_report()
