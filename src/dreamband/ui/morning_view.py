"""The morning view: what the window turns into when the session ends.

The night's hypnogram (REM periods shaded, triggers marked), the night statistics
(:func:`dreamband.recordings.stats.sleep_statistics`, the same numbers as the report), every
trigger with what it did and whether the sleeper woke after it, and buttons to open the HTML
report (written by :func:`dreamband.recordings.report.write_report` from the session folder)
and the session folder.
"""

from __future__ import annotations

import datetime as dt
from collections.abc import Sequence
from dataclasses import dataclass
from pathlib import Path

import numpy as np
from pyqtgraph.Qt import QtCore, QtGui, QtWidgets

from dreamband.recordings.stats import LABELS, rem_periods, sleep_statistics
from dreamband.ui.hypnogram import HypnogramPanel
from dreamband.ui.timeaxis import clock_text

#: Minutes after a trigger in which a wake epoch counts as "woke".
WOKE_WITHIN_MIN = 5.0
#: Statistics shown, in order (keys of ``sleep_statistics``).
SHOWN_STATS = ("TIB", "TST", "SE", "SOL", "WASO", "Awakenings", "N1", "N2", "N3", "REM", "%REM",
               "Lat_REM_AASM", "REM_periods", "Cycles", "Unscored")


@dataclass(frozen=True)
class TriggerOutcome:
    """One fired trigger and what followed it."""

    time_s: float
    policy: str
    action: str
    reason: str
    woke: bool
    woke_after_s: float | None
    stage_before: int | None


def trigger_outcomes(triggers: Sequence[tuple[float, str, str, str]], onsets: np.ndarray, stages: np.ndarray,
                     epoch_s: float = 30.0, within_min: float = WOKE_WITHIN_MIN) -> list[TriggerOutcome]:
    """Did the sleeper wake after each trigger?

    Parameters
    ----------
    triggers : sequence of (time_s, policy, action, reason)
        Session seconds.
    onsets, stages : ndarray, shape (n_epochs,)
        Staged epochs (onset in session seconds, stage code; 0 = wake).
    epoch_s : float
    within_min : float
        A wake epoch starting within this many minutes after the trigger means it woke the
        sleeper (an epoch already under way at the trigger counts too).

    Returns
    -------
    list of TriggerOutcome
    """
    onsets = np.asarray(onsets, dtype=np.float64)
    stages = np.asarray(stages)
    out = []
    for t, policy, action, reason in triggers:
        t = float(t)
        before = np.flatnonzero(onsets + epoch_s <= t + 1e-9)
        stage_before = int(stages[before[-1]]) if before.size else None
        after = np.flatnonzero((onsets + epoch_s > t) & (onsets < t + 60.0 * within_min))
        wake = after[stages[after] == 0] if after.size else after
        woke_after = float(max(onsets[wake[0]] - t, 0.0)) if wake.size else None
        out.append(TriggerOutcome(t, str(policy), str(action), str(reason), bool(wake.size), woke_after,
                                  stage_before))
    return out


def _fmt(key: str, value: float) -> str:
    unit = LABELS.get(key, (key, ""))[1]
    if not np.isfinite(value):
        return "n/a"
    if unit == "count":
        return f"{value:.0f}"
    if unit == "min" and value >= 60:
        return f"{int(value // 60)} h {value % 60:02.0f} min"
    return f"{value:.0f} %" if unit.startswith("%") else f"{value:.0f} {unit}"


class MorningView(QtWidgets.QWidget):
    """The morning report in the window.

    Signals
    -------
    reportRequested
        "Open the report" was pressed (the console writes the report if needed and opens it).
    """

    reportRequested = QtCore.Signal()

    def __init__(self, parent=None):
        super().__init__(parent)
        self.folder: Path | None = None
        self.report_path: Path | None = None
        self.stats: dict[str, float] = {}
        self.outcomes: list[TriggerOutcome] = []
        layout = QtWidgets.QVBoxLayout(self)
        layout.setContentsMargins(16, 12, 16, 12)
        self.title = QtWidgets.QLabel("Good morning")
        self.title.setObjectName("stageLabel")
        layout.addWidget(self.title)
        self.subtitle = QtWidgets.QLabel("")
        self.subtitle.setObjectName("plainLabel")
        self.subtitle.setWordWrap(True)
        layout.addWidget(self.subtitle)
        self.hypnogram = HypnogramPanel()
        self.hypnogram.setMinimumHeight(230)
        layout.addWidget(self.hypnogram, 3)
        lower = QtWidgets.QHBoxLayout()
        stats_box = QtWidgets.QGroupBox("The night")
        self.stats_form = QtWidgets.QFormLayout(stats_box)
        self.stat_labels: dict[str, QtWidgets.QLabel] = {}
        for key in SHOWN_STATS:
            value = QtWidgets.QLabel("–")
            label, unit = LABELS.get(key, (key, ""))
            self.stats_form.addRow(f"{label} ({unit})" if key.startswith("%") else label, value)
            self.stat_labels[key] = value
        lower.addWidget(stats_box, 2)
        trig_box = QtWidgets.QGroupBox("Triggers")
        trig_layout = QtWidgets.QVBoxLayout(trig_box)
        self.trigger_table = QtWidgets.QTreeWidget()
        self.trigger_table.setHeaderLabels(["time", "trigger", "did", "why", "then"])
        self.trigger_table.setRootIsDecorated(False)
        for col, width in enumerate((60, 110, 80, 260)):
            self.trigger_table.setColumnWidth(col, width)
        trig_layout.addWidget(self.trigger_table)
        lower.addWidget(trig_box, 3)
        layout.addLayout(lower, 2)
        row = QtWidgets.QHBoxLayout()
        self.status = QtWidgets.QLabel("")
        self.status.setObjectName("logLabel")
        self.status.setWordWrap(True)
        row.addWidget(self.status, 1)
        self.report_button = QtWidgets.QPushButton("Open the report (HTML)")
        self.report_button.clicked.connect(self.reportRequested.emit)
        self.folder_button = QtWidgets.QPushButton("Open the session folder")
        self.folder_button.clicked.connect(self.open_folder)
        row.addWidget(self.report_button)
        row.addWidget(self.folder_button)
        layout.addLayout(row)
        self.set_folder(None)

    def show_night(self, onsets: np.ndarray, stages: np.ndarray, epoch_s: float, start: dt.datetime | None,
                   triggers: Sequence[tuple[float, str, str, str]], end_reason: str = "",
                   markers: Sequence[tuple[float, str]] = ()) -> None:
        """Fill the view from the night's staged epochs and triggers (session seconds)."""
        onsets = np.asarray(onsets, dtype=np.float64)
        stages = np.asarray(stages, dtype=np.int8)
        self.hypnogram.set_start(start)
        for onset, stage in zip(onsets, stages, strict=True):
            self.hypnogram.add_epoch(float(onset), int(stage), epoch_s)
        rem = [(float(onsets[a]), float(onsets[b - 1]) + epoch_s) for a, b in rem_periods(stages, epoch_s)] \
            if stages.size >= 2 else []
        self.hypnogram.set_rem_periods(rem)
        for t, policy, _action, reason in triggers:
            self.hypnogram.add_trigger(float(t), policy, reason)
        for t, label in markers:
            self.hypnogram.add_marker(float(t), label)
        if stages.size:
            self.hypnogram.set_now(float(onsets[-1]) + epoch_s)
        self.hypnogram.refresh()
        if stages.size >= 2:
            self.stats = sleep_statistics(stages, epoch_s)
        else:
            self.stats = {}
        for key, label in self.stat_labels.items():
            label.setText(_fmt(key, self.stats[key]) if key in self.stats else "–")
        self.outcomes = trigger_outcomes(triggers, onsets, stages, epoch_s)
        self.trigger_table.clear()
        for o in self.outcomes:
            then = (f"woke after {o.woke_after_s / 60:.1f} min" if o.woke and o.woke_after_s
                    else "woke" if o.woke else f"slept on (no wake within {WOKE_WITHIN_MIN:g} min)")
            item = QtWidgets.QTreeWidgetItem([clock_text(start, o.time_s), o.policy.replace("_", " "),
                                              o.action, o.reason, then])
            item.setToolTip(3, o.reason)
            self.trigger_table.addTopLevelItem(item)
        if not self.outcomes:
            self.trigger_table.addTopLevelItem(QtWidgets.QTreeWidgetItem(["", "none fired", "", "", ""]))
        hours = stages.size * epoch_s / 3600.0
        when = ""
        if start is not None and stages.size:
            end = start + dt.timedelta(seconds=float(onsets[-1]) + epoch_s)
            when = f"{start:%a %H:%M} – {end:%H:%M}, "
        self.subtitle.setText(f"{when}{hours:.1f} h staged, {len(self.outcomes)} trigger(s)"
                              + (f"; the session ended: {end_reason}" if end_reason else ""))

    def set_folder(self, folder: Path | None) -> None:
        """The session folder (None: this night was not recorded)."""
        self.folder = Path(folder) if folder else None
        self.folder_button.setEnabled(self.folder is not None)
        self.report_button.setEnabled(self.folder is not None)
        if self.folder is None:
            tip = "This night was not recorded (--no-record), so there is no report to open."
            self.report_button.setToolTip(tip)
            self.folder_button.setToolTip(tip)
        else:
            self.folder_button.setToolTip(str(self.folder))

    def set_report(self, path: Path | None, message: str = "") -> None:
        """The written HTML report (or None), and a line about it."""
        self.report_path = Path(path) if path else None
        if self.report_path is not None:
            self.report_button.setToolTip(str(self.report_path))
        self.status.setText(message)

    def open_folder(self) -> bool:
        """Open the session folder in the file manager."""
        if self.folder is None:
            return False
        return QtGui.QDesktopServices.openUrl(QtCore.QUrl.fromLocalFile(str(self.folder)))

    def open_report(self) -> bool:
        """Open the HTML report in the browser."""
        if self.report_path is None:
            return False
        return QtGui.QDesktopServices.openUrl(QtCore.QUrl.fromLocalFile(str(self.report_path)))
