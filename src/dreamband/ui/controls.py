"""Trigger controls (policies, alarm window, test fire, what fired and why) and replay controls.

The widgets only emit signals; :class:`~dreamband.ui.console.NightConsole` turns them into
engine calls. Switching a safety policy off needs a confirmation (``confirm`` callable, a
``QMessageBox`` by default) and is otherwise undone.
"""

from __future__ import annotations

import datetime as dt
from collections.abc import Callable, Sequence

from pyqtgraph.Qt import QtCore, QtWidgets

from dreamband.ui import theme

POLICY_LABELS = {
    "smart_alarm": "Smart alarm",
    "nightmare_wake": "Nightmare wake",
    "dream_report": "Dream-report wake",
    "rem_cue": "REM cues",
    "safety": "Safety stops (max length, signal lost)",
}
TEST_ACTIONS = ("log", "marker", "notify", "sound", "command")
SPEEDS = ("1x", "2x", "5x", "10x", "30x", "60x", "120x", "max")


def ask_confirmation(parent: QtWidgets.QWidget, title: str, text: str) -> bool:
    """Ask a yes/no question in a modal box; True when the person said yes."""
    buttons = QtWidgets.QMessageBox.StandardButton
    answer = QtWidgets.QMessageBox.question(parent, title, text, buttons.Yes | buttons.No, buttons.No)
    return answer == buttons.Yes


class TriggerControls(QtWidgets.QGroupBox):
    """Enable/disable each policy, set the alarm window, test-fire an action, list what fired.

    Parameters
    ----------
    policies : sequence of (name, enabled, is_safety)
        The engine's policies.
    alarm : (time, time) or None
        The initial smart-alarm window.
    actions : sequence of str, optional
        Actions offered for a test fire (default: log, marker, notify, sound, command).
    """

    policyToggled = QtCore.Signal(str, bool, bool)  # name, on, confirmed
    alarmWindowRequested = QtCore.Signal(str)  # "HH:MM-HH:MM" or "" to clear
    testFireRequested = QtCore.Signal(str, float)  # action, intensity

    def __init__(self, policies: Sequence[tuple[str, bool, bool]],
                 alarm: tuple[dt.time, dt.time] | None = None,
                 actions: Sequence[str] | None = None, parent=None):
        super().__init__("Wake triggers", parent)
        self.confirm: Callable[[str, str], bool] = lambda title, text: ask_confirmation(self, title, text)
        layout = QtWidgets.QVBoxLayout(self)
        self.checks: dict[str, QtWidgets.QCheckBox] = {}
        self.safety_names: set[str] = set()
        for name, enabled, is_safety in policies:
            box = QtWidgets.QCheckBox(POLICY_LABELS.get(name, name.replace("_", " ")))
            box.setChecked(bool(enabled))
            if is_safety:
                self.safety_names.add(name)
                box.setStyleSheet(f"color: {theme.WARNING};")
                box.setToolTip("Safety: switching it off asks for a confirmation and is logged.")
            box.toggled.connect(lambda on, n=name: self._on_toggled(n, on))
            layout.addWidget(box)
            self.checks[name] = box

        row = QtWidgets.QHBoxLayout()
        row.addWidget(QtWidgets.QLabel("Alarm"))
        self.alarm_start = QtWidgets.QTimeEdit()
        self.alarm_end = QtWidgets.QTimeEdit()
        for edit in (self.alarm_start, self.alarm_end):
            edit.setDisplayFormat("HH:mm")
        start, end = alarm if alarm else (dt.time(6, 30), dt.time(7, 0))
        self.alarm_start.setTime(QtCore.QTime(start.hour, start.minute))
        self.alarm_end.setTime(QtCore.QTime(end.hour, end.minute))
        self.alarm_button = QtWidgets.QPushButton("Set")
        self.alarm_button.setToolTip("Set the smart-alarm window")
        self.alarm_button.clicked.connect(self._on_alarm)
        row.addWidget(self.alarm_start)
        row.addWidget(QtWidgets.QLabel("–"))
        row.addWidget(self.alarm_end)
        row.addWidget(self.alarm_button)
        layout.addLayout(row)

        row = QtWidgets.QHBoxLayout()
        self.test_action = QtWidgets.QComboBox()
        self.test_action.addItems(list(actions or TEST_ACTIONS))
        self.test_intensity = QtWidgets.QDoubleSpinBox()
        self.test_intensity.setRange(0.01, 0.3)  # test fires are always gentle
        self.test_intensity.setSingleStep(0.05)
        self.test_intensity.setValue(0.1)
        self.test_intensity.setToolTip("Intensity of the test (0.01-0.3 of full)")
        self.test_button = QtWidgets.QPushButton("Test fire")
        self.test_button.setToolTip("Fire the action once at low intensity (T)")
        self.test_button.clicked.connect(self.request_test_fire)
        row.addWidget(self.test_action)
        row.addWidget(self.test_intensity)
        row.addWidget(self.test_button)
        layout.addLayout(row)

        self.fired = QtWidgets.QTreeWidget()
        self.fired.setColumnCount(4)
        self.fired.setHeaderLabels(["time", "policy", "action", "why"])
        self.fired.setRootIsDecorated(False)
        self.fired.setAlternatingRowColors(False)
        self.fired.setMinimumHeight(110)
        for col, width in enumerate((42, 96, 90)):
            self.fired.setColumnWidth(col, width)
        self.fired.setHorizontalScrollBarPolicy(QtCore.Qt.ScrollBarPolicy.ScrollBarAlwaysOff)
        self.fired.setWordWrap(True)
        self.fired.header().setStretchLastSection(True)
        layout.addWidget(self.fired, 1)

    # -- outputs -------------------------------------------------------------------------------
    def _on_toggled(self, name: str, on: bool) -> None:
        confirmed = False
        if name in self.safety_names and not on:
            confirmed = bool(self.confirm(
                "Switch off a safety stop?",
                f"'{POLICY_LABELS.get(name, name)}' wakes the sleeper when the session runs too long "
                "or the signal is lost.\n\nSwitch it off for this session? (This is logged.)",
            ))
            if not confirmed:
                self.set_policy_checked(name, True)
                return
        self.policyToggled.emit(name, bool(on), confirmed)

    def _on_alarm(self) -> None:
        a, b = self.alarm_start.time(), self.alarm_end.time()
        self.alarmWindowRequested.emit(f"{a.hour():02d}:{a.minute():02d}-{b.hour():02d}:{b.minute():02d}")

    def request_test_fire(self) -> None:
        """Emit a test-fire request with the chosen action and intensity."""
        self.testFireRequested.emit(self.test_action.currentText(), float(self.test_intensity.value()))

    # -- inputs --------------------------------------------------------------------------------
    def set_policy_checked(self, name: str, on: bool) -> None:
        """Tick or untick a policy without emitting (to follow the engine's answer)."""
        box = self.checks.get(name)
        if box is None:
            return
        box.blockSignals(True)
        box.setChecked(bool(on))
        box.blockSignals(False)

    def add_fired(self, clock: str, policy: str, action: str, intensity: float, reason: str) -> None:
        """Add a row to the list of what fired (newest on top)."""
        item = QtWidgets.QTreeWidgetItem([clock, policy.replace("_", " "), f"{action} {intensity:.0%}", reason])
        for col in range(4):
            item.setToolTip(col, f"{clock} {policy}: {action} at {intensity:.0%}. {reason}")
        self.fired.insertTopLevelItem(0, item)

    def fired_rows(self) -> list[list[str]]:
        """The rows of the fired list, newest first (for tests and the log)."""
        return [[self.fired.topLevelItem(i).text(c) for c in range(4)]
                for i in range(self.fired.topLevelItemCount())]


class ReplayControls(QtWidgets.QWidget):
    """Play/pause, speed (1x ... max) and a position slider for replays."""

    pauseToggled = QtCore.Signal(bool)  # True = paused
    speedChanged = QtCore.Signal(str)  # "1", "10", "max" ...
    seekRequested = QtCore.Signal(float)  # seconds

    def __init__(self, duration_s: float, speed: str = "1x", parent=None):
        super().__init__(parent)
        self.duration_s = float(duration_s)
        layout = QtWidgets.QHBoxLayout(self)
        layout.setContentsMargins(4, 0, 4, 0)
        self.play_button = QtWidgets.QPushButton("Pause")
        self.play_button.setCheckable(True)
        self.play_button.setToolTip("Play / pause (Space)")
        self.play_button.toggled.connect(self._on_play)
        self.speed_box = QtWidgets.QComboBox()
        self.speed_box.addItems(SPEEDS)
        self.speed_box.setToolTip("Replay speed ([ and ] step it)")
        if speed in SPEEDS:
            self.speed_box.setCurrentText(speed)
        self.speed_box.currentTextChanged.connect(
            lambda s: self.speedChanged.emit("max" if s == "max" else s.removesuffix("x")))
        self.slider = QtWidgets.QSlider(QtCore.Qt.Orientation.Horizontal)
        self.slider.setRange(0, max(1, int(self.duration_s)))
        self.slider.setPageStep(600)  # a click on the groove jumps 10 minutes
        self.slider.setToolTip("Drag to seek (or click the hypnogram)")
        self.slider.sliderReleased.connect(lambda: self.seekRequested.emit(float(self.slider.value())))
        # a click on the groove (page step) or the arrow keys move it without a drag
        self.slider.valueChanged.connect(
            lambda v: None if self.slider.isSliderDown() else self.seekRequested.emit(float(v)))
        self.position_label = QtWidgets.QLabel("0:00 / 0:00")
        layout.addWidget(self.play_button)
        layout.addWidget(QtWidgets.QLabel("speed"))
        layout.addWidget(self.speed_box)
        layout.addWidget(self.slider, 1)
        layout.addWidget(self.position_label)

    def _on_play(self, paused: bool) -> None:
        self.play_button.setText("Play" if paused else "Pause")
        self.pauseToggled.emit(bool(paused))

    def toggle(self) -> None:
        """Flip between playing and paused."""
        self.play_button.toggle()

    def step_speed(self, direction: int) -> None:
        """Go to the next faster (``direction`` > 0) or slower speed."""
        i = self.speed_box.currentIndex() + (1 if direction > 0 else -1)
        self.speed_box.setCurrentIndex(max(0, min(self.speed_box.count() - 1, i)))

    def set_position(self, seconds: float) -> None:
        """Show the replay position (does not seek)."""
        if not self.slider.isSliderDown():
            self.slider.blockSignals(True)
            self.slider.setValue(int(seconds))
            self.slider.blockSignals(False)

        def hm(s: float) -> str:
            m = int(s // 60)
            return f"{m // 60}:{m % 60:02d}"

        self.position_label.setText(f"{hm(seconds)} / {hm(self.duration_s)}")
