"""The window's first screen: the signal check before lights-off.

:class:`CheckView` reads the (started) source itself, four times a second, keeps the last
seconds of every channel (:class:`~dreamband.signal.check.SignalWindow`) and, once a second,
shows the verdict of :func:`~dreamband.signal.check.check_signal` per channel: a coloured
status, the verdict in words, what to do, and the measured figures. "Start the night" is
enabled when the staging channels are good; "Start anyway" starts it on the user's say-so
(the console logs that as an event in the session). The session itself (engine, recording,
the night's clock) starts only then: the night starts where the user presses start.
"""

from __future__ import annotations

import threading
import time
from collections.abc import Sequence
from typing import Any

import numpy as np
from pyqtgraph.Qt import QtCore, QtGui, QtWidgets

from dreamband.signal.check import ChannelVerdict, SignalWindow, check_signal, staging_ready
from dreamband.ui import theme

#: How often the source is read (ms) and the verdicts recomputed (s).
READ_MS = 250
VERDICT_EVERY_S = 1.0
#: Seconds of signal each verdict looks at.
CHECK_WINDOW_S = 6.0


class CheckView(QtWidgets.QWidget):
    """Per-channel verdicts and the start buttons.

    Parameters
    ----------
    sfreq : float
        Hz.
    rows : sequence of int
        The source's rows that are checked (EEG/EOG/EMG).
    names : sequence of str
        Their names.
    staging : sequence of str
        The staging channel(s) among ``names``: "Start the night" waits for them.
    source : Source, optional
        Read by :meth:`poll` (already started). Without one, feed :meth:`push`.

    Signals
    -------
    startRequested(bool)
        The user pressed a start button; True when it was "Start anyway" (against the check).
    """

    startRequested = QtCore.Signal(bool)

    def __init__(self, sfreq: float, rows: Sequence[int], names: Sequence[str], staging: Sequence[str],
                 source: Any = None, parent=None):
        super().__init__(parent)
        if len(rows) != len(names):
            raise ValueError(f"{len(rows)} rows but {len(names)} names.")
        self.sfreq = float(sfreq)
        self.rows = list(rows)
        self.names = list(names)
        self.staging = [s for s in staging if s in self.names]
        self.source = source
        self.window = SignalWindow(self.sfreq, len(self.rows), CHECK_WINDOW_S)
        self.verdicts: list[ChannelVerdict] = []
        self.ready = False
        self.checks_done = 0
        self._last_verdict = float("-inf")
        #: Electrode impedance per channel (Ω) from the last lead-off measurement.
        self.impedance: dict[str, float] = {}
        self._measuring: threading.Thread | None = None
        self._measured: dict | None = None
        self.timer = QtCore.QTimer(self)
        self.timer.setInterval(READ_MS)
        self.timer.timeout.connect(self.poll)
        self._build()

    def _build(self) -> None:
        layout = QtWidgets.QVBoxLayout(self)
        layout.setContentsMargins(24, 16, 24, 16)
        title = QtWidgets.QLabel("Signal check")
        title.setObjectName("stageLabel")
        layout.addWidget(title)
        staged = ", ".join(self.staging) or "none"
        intro = QtWidgets.QLabel(
            "Put the headband on and lie still for a few seconds. Each channel is judged on its last "
            f"{CHECK_WINDOW_S:g} s (amplitude, mains hum, flat, railed). The night is staged from "
            f"<b>{staged}</b> (marked ★): when it is good, start the night.")
        intro.setWordWrap(True)
        intro.setObjectName("plainLabel")
        layout.addWidget(intro)
        self.table = QtWidgets.QTreeWidget()
        self.table.setHeaderLabels(["channel", "verdict", "what to do", "measured"])
        self.table.setRootIsDecorated(False)
        self.table.setUniformRowHeights(True)
        self.table.setWordWrap(True)
        self.items: dict[str, QtWidgets.QTreeWidgetItem] = {}
        for name in self.names:
            item = QtWidgets.QTreeWidgetItem([f"★ {name}" if name in self.staging else f"   {name}",
                                              "waiting for signal", "", ""])
            self.table.addTopLevelItem(item)
            self.items[name] = item
        header = self.table.header()
        header.setStretchLastSection(False)
        for col, width in enumerate((80, 470, 500, 210)):
            self.table.setColumnWidth(col, width)
        header.setSectionResizeMode(2, QtWidgets.QHeaderView.ResizeMode.Stretch)
        self.table.setStyleSheet("QTreeWidget { font-size: 11pt; }")
        layout.addWidget(self.table, 1)
        self.summary = QtWidgets.QLabel("waiting for signal …")
        self.summary.setObjectName("plainLabel")
        self.summary.setWordWrap(True)
        layout.addWidget(self.summary)
        row = QtWidgets.QHBoxLayout()
        self.start_button = QtWidgets.QPushButton("Start the night")
        self.start_button.setEnabled(False)
        self.start_button.setMinimumHeight(36)
        self.start_button.setObjectName("startButton")
        self.start_button.clicked.connect(lambda: self.startRequested.emit(False))
        self.anyway_button = QtWidgets.QPushButton("Start anyway")
        self.anyway_button.setToolTip("Start the night although the check is not good (written in the session's events)")
        self.anyway_button.setMinimumHeight(36)
        self.anyway_button.clicked.connect(lambda: self.startRequested.emit(True))
        self.impedance_button = QtWidgets.QPushButton("Measure impedance")
        self.impedance_button.setToolTip("Lead-off mode for a few seconds (OpenBCI Cyton, Cyton+Daisy, Ganglion)")
        self.impedance_button.setMinimumHeight(36)
        self.impedance_button.clicked.connect(self.measure_impedance)
        self.impedance_button.setVisible(self._can_measure())
        row.addWidget(self.impedance_button)
        row.addStretch(1)
        row.addWidget(self.anyway_button)
        row.addWidget(self.start_button)
        layout.addLayout(row)

    # ------------------------------------------------------------------ data
    def begin(self) -> None:
        """Start reading the source."""
        if self.source is not None and not self.timer.isActive():
            self.timer.start()

    def stop(self) -> None:
        """Stop reading (the engine takes the source over; a running impedance measurement is
        waited for, so lead-off is off before the night starts)."""
        self.timer.stop()
        if self._measuring is not None:
            self._measuring.join(15.0)
            self._measuring = None

    def poll(self) -> None:
        """Read what the source has, and judge once a second."""
        if self.source is None:
            return
        chunk = self.source.read()
        if chunk.n_samples:
            self.push(np.asarray(chunk.data)[self.rows])

    def push(self, data_uv: np.ndarray, judge: bool | None = None) -> None:
        """Add samples of the checked rows, shape (len(rows), n); judge when a second has passed
        (``judge=True``: now)."""
        self.window.push(data_uv)
        now = time.monotonic()
        if judge or (judge is None and now - self._last_verdict >= VERDICT_EVERY_S):
            self.judge()

    def judge(self) -> list[ChannelVerdict]:
        """Judge the held seconds now (nothing before 2 s of signal) and show the verdicts."""
        if self.window.seconds < 2.0:
            return self.verdicts
        self._last_verdict = time.monotonic()
        self.set_verdicts(check_signal(self.window.data(), self.sfreq, self.names,
                                       impedance_ohm=self.impedance or None))
        return self.verdicts

    # ------------------------------------------------------------------ impedance
    def _can_measure(self) -> bool:
        from dreamband.firmware_bridge.lead_off import lead_off_kind

        info = getattr(self.source, "info", None)
        return (lead_off_kind(getattr(info, "name", "")) is not None
                and callable(getattr(self.source, "config_board", None)))

    def measure_impedance(self) -> None:
        """Switch lead-off on for a few seconds (in a worker thread: the window stays responsive),
        then show the impedance with the verdicts."""
        if self._measuring is not None or not self._can_measure():
            return
        from dreamband.session.check import CheckedChannels, measure_impedance

        self.timer.stop()  # the worker reads the source meanwhile
        channels = CheckedChannels(self.rows, self.names, self.staging)
        self.impedance_button.setEnabled(False)
        self.summary.setText("measuring the electrodes' impedance (lead-off mode) …")
        box: dict = {}

        def work() -> None:
            try:
                box["ohm"] = measure_impedance(self.source, channels)
            except (RuntimeError, TypeError, ValueError) as err:
                box["error"] = err

        self._measured = box
        self._measuring = threading.Thread(target=work, name="dreamband-impedance", daemon=True)
        self._measuring.start()
        QtCore.QTimer.singleShot(100, self._impedance_done)

    def _impedance_done(self) -> None:
        thread = self._measuring
        if thread is None:
            return
        if thread.is_alive():
            QtCore.QTimer.singleShot(100, self._impedance_done)
            return
        self._measuring = None
        box = self._measured or {}
        self.impedance_button.setEnabled(True)
        self.window.clear()  # the lead-off drive is in the held samples: judge fresh ones
        self._last_verdict = time.monotonic()
        if "error" in box:
            self.summary.setText(f"impedance: {box['error']}")
        else:
            self.impedance = dict(box.get("ohm") or {})
        self.begin()

    @property
    def measuring(self) -> bool:
        """True while a lead-off measurement runs."""
        return self._measuring is not None

    def set_verdicts(self, verdicts: Sequence[ChannelVerdict]) -> None:
        """Show ``verdicts`` and enable "Start the night" when the staging channels are good."""
        self.verdicts = list(verdicts)
        self.checks_done += 1
        for v in self.verdicts:
            item = self.items.get(v.channel)
            if item is None:
                continue
            for col, text in ((1, v.words), (2, v.advice), (3, v.figures())):
                if item.text(col) != text:
                    item.setText(col, text)
                    item.setToolTip(col, text)
            brush = QtGui.QBrush(QtGui.QColor(theme.check_colour(v.status)))
            for col in (0, 1):
                item.setForeground(col, brush)
        self.ready = bool(self.staging) and staging_ready(self.verdicts, self.staging)
        self.start_button.setEnabled(self.ready)
        bad = [v for v in self.verdicts if not v.ok]
        if self.ready:
            text = "The staging channel is good: start the night." if len(self.staging) == 1 else \
                "The staging channels are good: start the night."
            if bad:
                text += f" ({len(bad)} other channel(s) could be better; see above.)"
        else:
            worst = [v.line() for v in self.verdicts if v.channel in self.staging and not v.ok]
            text = "Not ready: " + ("; ".join(worst) if worst else "no staging channel")
        self.summary.setText(text)

    def problems(self) -> list[str]:
        """The lines of the staging channels that are not good (what "Start anyway" overrides)."""
        return [v.line() for v in self.verdicts if v.channel in self.staging and not v.ok]

