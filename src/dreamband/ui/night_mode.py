"""Night mode: the bedside screen after lights-off.

:class:`NightView` is black with dim dark-red text: the clock, the stage and the alarm
countdown, large. It is refreshed at :data:`NIGHT_POLL_MS` (two frames a second at most) and a
label is only set (and so only repainted) when its text changed, which at night means about
once a minute. The traces, spectrogram and hypnogram are not drawn at all in night mode (their
buffers still take the samples, so nothing is missing when the screen wakes).

:class:`WakeWatcher` is an application-wide event filter, installed only while night mode is
on: a key press or a click anywhere wakes the screen (the console shows the traces with fresh
data at once, then drops back to night mode after :data:`PEEK_S` seconds without input).
"""

from __future__ import annotations

from pyqtgraph.Qt import QtCore, QtWidgets

#: Night mode's drain-and-redraw period (ms): a few frames per second at most.
NIGHT_POLL_MS = 500
#: Period while minimised (ms): the queue is drained, nothing is drawn.
HIDDEN_POLL_MS = 1000
#: Seconds the traces stay on after the sleeper woke the screen.
PEEK_S = 20.0


class NightView(QtWidgets.QWidget):
    """Clock, stage and alarm countdown, large and dim.

    Signals
    -------
    wakeRequested
        The user clicked the view (show the traces for a moment).
    labRequested
        The user asked to leave night mode.
    """

    wakeRequested = QtCore.Signal()
    labRequested = QtCore.Signal()

    def __init__(self, parent=None):
        super().__init__(parent)
        layout = QtWidgets.QVBoxLayout(self)
        layout.setContentsMargins(40, 30, 40, 20)
        self.labels: dict[str, QtWidgets.QLabel] = {}
        center = QtCore.Qt.AlignmentFlag.AlignCenter
        for key, name in (("clock", "nightClock"), ("stage", "nightStage"), ("plain", "nightPlain"),
                          ("alarm", "nightAlarm"), ("banner", "nightBanner")):
            label = QtWidgets.QLabel("–" if key in ("clock", "stage") else "")
            label.setObjectName(name)
            label.setAlignment(center)
            label.setWordWrap(True)
            self.labels[key] = label
        layout.addStretch(1)
        layout.addWidget(self.labels["clock"])
        layout.addSpacing(10)
        layout.addWidget(self.labels["stage"])
        layout.addWidget(self.labels["plain"])
        layout.addSpacing(24)
        layout.addWidget(self.labels["alarm"])
        layout.addWidget(self.labels["banner"])
        layout.addStretch(2)
        row = QtWidgets.QHBoxLayout()
        hint = QtWidgets.QLabel("night mode · press a key or tap to see the signal")
        hint.setObjectName("nightHint")
        row.addWidget(hint, 1)
        lab = QtWidgets.QPushButton("Leave night mode")
        lab.clicked.connect(self.labRequested.emit)
        row.addWidget(lab)
        layout.addLayout(row)
        self.sets = 0  # label texts actually changed (each one repaints that label)

    def set_text(self, key: str, text: str) -> bool:
        """Set a label's text only when it changed; True when it did."""
        label = self.labels[key]
        if label.text() == text:
            return False
        label.setText(text)
        self.sets += 1
        return True

    def show_values(self, clock: str, stage: str, plain: str, alarm: str, banner: str = "") -> int:
        """Show the night's values; return how many labels changed."""
        return sum(self.set_text(k, v) for k, v in (("clock", clock), ("stage", stage), ("plain", plain),
                                                    ("alarm", alarm), ("banner", banner)))

    def mousePressEvent(self, event) -> None:  # noqa: N802 - Qt API
        self.wakeRequested.emit()
        super().mousePressEvent(event)


class WakeWatcher(QtCore.QObject):
    """Application-wide filter: a key press or a click calls ``on_wake`` (events pass on)."""

    _WAKE_TYPES = (QtCore.QEvent.Type.KeyPress, QtCore.QEvent.Type.MouseButtonPress,
                   QtCore.QEvent.Type.TouchBegin)

    def __init__(self, on_wake, parent=None):
        super().__init__(parent)
        self.on_wake = on_wake

    def eventFilter(self, obj, event) -> bool:  # noqa: N802 - Qt API
        if event.type() in self._WAKE_TYPES:
            self.on_wake()
        return False
