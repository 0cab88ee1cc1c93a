"""``NightConsole``: the main window of a night (live or replay).

The console never blocks on the engine: a ``QTimer`` drains the engine's subscription without
waiting (``Subscription.get_nowait``-style), hands the events to :meth:`NightConsole.handle_events`
and redraws what changed. Acquisition, staging and triggers run in the engine's own thread;
widgets are touched only here, in the GUI thread. Without an engine (tests, screenshots in
manual mode) the same :meth:`handle_events` is fed directly.

The window has four screens (:attr:`NightConsole.mode`): ``"check"`` (the signal check before
lights-off, :mod:`dreamband.ui.check_view`; the engine starts when the user starts the night),
``"lab"`` (traces, spectrogram, hypnogram at up to 60 frames a second), ``"night"`` (after
lights-off: :mod:`dreamband.ui.night_mode`, two frames a second, only changed labels redrawn)
and ``"morning"`` (when the session ends: :mod:`dreamband.ui.morning_view`; drawing stops).
Minimised, the window drains its queue once a second and draws nothing. Switching between the
screens is :class:`dreamband.ui.screens.ScreensMixin`. This module is over 500 lines because it
is the one place where the engine's events meet the widgets (and the window's commands).
"""

from __future__ import annotations

import datetime as dt
import os
import queue
import time
from collections.abc import Iterable, Sequence
from pathlib import Path
from typing import Any

import numpy as np
from pyqtgraph.Qt import QtCore, QtGui, QtWidgets

from dreamband.session import events as ev
from dreamband.session.headless import drift_text
from dreamband.session.settings import parse_window
from dreamband.session.triggers.smart_alarm import window_seconds
from dreamband.signal.stages import stage_code
from dreamband.ui import theme
from dreamband.ui.check_view import CheckView
from dreamband.ui.controls import ReplayControls, TriggerControls
from dreamband.ui.hypnogram import HypnogramPanel
from dreamband.ui.morning_view import MorningView
from dreamband.ui.night_mode import PEEK_S, NightView, WakeWatcher
from dreamband.ui.screens import ScreensMixin
from dreamband.ui.spectrogram import SpectrogramPanel, pick_frontal
from dreamband.ui.stage_panel import StagePanel
from dreamband.ui.timeaxis import clock_text
from dreamband.ui.traces import GAIN_STEPS_UV, WINDOW_STEPS_S, TracePanel

SHORTCUTS = (
    ("Space", "play / pause (replay)"),
    ("Up / Down", "trace gain"),
    ("Left / Right", "trace time window"),
    ("A", "automatic trace gain"),
    ("[ / ]", "replay speed"),
    ("M", "insert a marker"),
    ("L", "lights off: night mode"),
    ("T", "test-fire the chosen action"),
    ("F11", "full screen"),
    ("Ctrl+Q", "quit"),
)
#: Sample chunks the window's queue holds before the engine drops the oldest for this view only.
UI_QUEUE_CHUNKS = 512
DEFAULT_POLICIES = (
    ("smart_alarm", False, False), ("nightmare_wake", False, False),
    ("dream_report", False, False), ("rem_cue", False, False),
    ("safety_max_length", True, True), ("safety_signal_lost", True, True),
)


def _parse_start(value: Any) -> dt.datetime | None:
    if isinstance(value, dt.datetime):
        return value if value.tzinfo else value.astimezone()
    if isinstance(value, str) and value:
        try:
            parsed = dt.datetime.fromisoformat(value)
        except ValueError:
            return None
        return parsed if parsed.tzinfo else parsed.astimezone()
    return None


def _parse_window(text: str | None) -> tuple[dt.time, dt.time] | None:
    """The engine's parser of an alarm window (None when absent or unreadable)."""
    if not text:
        return None
    try:
        return parse_window(str(text))
    except ValueError:
        return None


def _show_speed(box: QtWidgets.QComboBox, text: str) -> None:
    """Select ``text`` (``"600x"``) in the speed box, adding it in speed order when it is not a step."""
    if box.findText(text) < 0:
        value = float(text.removesuffix("x"))
        at = next((i for i in range(box.count()) if box.itemText(i) == "max"
                   or float(box.itemText(i).removesuffix("x")) > value), box.count())
        box.blockSignals(True)
        box.insertItem(at, text)
        box.blockSignals(False)
    box.blockSignals(True)  # showing the speed the source already plays at is not a change
    box.setCurrentText(text)
    box.blockSignals(False)


def scored_segments(source: Any) -> list[tuple[float, float, int]]:
    """``(start_s, end_s, stage)`` of the ``"Sleep stage X"`` annotations of a replayed recording."""
    recording = getattr(source, "recording", None)
    out = []
    for onset, duration, text in getattr(recording, "annotations", None) or []:
        if not str(text).lower().startswith("sleep stage") or not duration:
            continue
        try:
            stage = stage_code(str(text))
        except ValueError:
            continue
        out.append((float(onset), float(onset) + float(duration), stage))
    return out


def _folder_size(path: Path) -> int:
    total = 0
    try:
        for entry in os.scandir(path):
            if entry.is_file(follow_symlinks=False):
                total += entry.stat().st_size
    except OSError:
        return 0
    return total


def _human_bytes(n: int) -> str:
    for unit in ("B", "KB", "MB", "GB"):
        if n < 1024 or unit == "GB":
            return f"{n:.0f} {unit}" if unit == "B" else f"{n:.1f} {unit}"
        n /= 1024.0
    return f"{n} B"


class NightConsole(ScreensMixin, QtWidgets.QMainWindow):
    """The night console window.

    Parameters
    ----------
    engine : SessionEngine, optional
        The running (or manual-mode) engine. Its source gives rates and channel names, its
        subscription feeds the window, and the controls call its methods. When None, pass
        ``sfreq``, ``channel_names`` and ``channel_types`` and feed :meth:`handle_events`.
    sfreq, channel_names, channel_types : optional
        Override or replace what the engine's source says.
    replay : RecordingSource, optional
        Show replay controls (play/pause, speed, seek) for this source.
    board_name : str
        Shown in the status bar.
    record_dir : path, optional
        The session folder being written (its size is shown in the status bar).
    poll_ms : int
        Period of the drain-and-redraw timer (16 ms = 60 frames per second).
    start_engine : bool
        Call ``engine.start()`` (threaded mode) when the window is shown.
    subscription : optional
        Where events come from (anything with a non-blocking ``get_nowait()`` returning None or
        raising ``queue.Empty`` when empty); default ``engine.subscribe(maxsize=UI_QUEUE_CHUNKS)``.
    engine_factory : callable, optional
        ``factory(source) -> SessionEngine``: for replays, a seek stops the engine, moves the
        source and starts a fresh engine from there (staging is causal, so it restarts).
    check_first : bool
        Open on the signal check (reading the engine's source, which must be started); the
        engine starts when the user starts the night.
    night_mode : bool
        Turn to night mode by itself at the first sleep epoch (the "Lights off" button always can).
    morning : bool
        Turn into the morning view when the session ends.
    """

    def __init__(self, engine: Any = None, *, sfreq: float | None = None,
                 channel_names: Sequence[str] | None = None,
                 channel_types: Sequence[str] | None = None, replay: Any = None,
                 board_name: str = "", record_dir: str | os.PathLike | None = None,
                 poll_ms: int = 16, start_engine: bool = True, subscription: Any = None,
                 engine_factory: Any = None, check_first: bool = False, night_mode: bool = False,
                 morning: bool = False, parent=None):
        super().__init__(parent)
        self.engine = engine
        source = getattr(engine, "source", None)
        self.sfreq = float(sfreq or getattr(source, "sfreq", 0) or 0)
        if self.sfreq <= 0:
            raise ValueError("NightConsole needs the sampling rate: pass an engine with a source or sfreq=.")
        self.channel_names = list(channel_names or getattr(source, "channel_names", []) or [])
        if not self.channel_names:
            raise ValueError("NightConsole needs channel names: pass an engine with a source or channel_names=.")
        types = channel_types or getattr(source, "channel_types", None) or ["eeg"] * len(self.channel_names)
        self.channel_types = list(types)
        if len(self.channel_types) != len(self.channel_names):
            raise ValueError(f"{len(self.channel_names)} channel names but {len(self.channel_types)} types.")
        self.replay = replay
        if not board_name and source is not None:
            board_name = getattr(getattr(source, "info", None), "name", None) or ""
        self.board_name = board_name
        self.record_dir = Path(record_dir) if record_dir else None
        self.start_engine = start_engine
        self.start_datetime: dt.datetime | None = _parse_start(getattr(source, "start_time", None))
        self.alarm = _parse_window(getattr(engine, "alarm_window", None))
        #: Seconds added to the engine's session time (replays: where the engine started).
        self.time_offset = float(getattr(replay, "position_s", 0.0) or 0.0) if replay is not None else 0.0
        self.session_time = self.time_offset
        self.samples_seen = 0
        self.lost_samples = 0
        self.dropouts = 0
        self.recording_problem = ""  # the banner's text while the recording cannot be written
        self.ended = False
        self.end_reason = ""
        self.events_handled = 0
        self.log_lines: list[str] = []
        self._rate_marks: list[tuple[float, int]] = []
        self._subscription = None
        self._record_size_at = 0.0
        self._record_size = 0
        self._auto_gain_done = False
        self.poll_ms = int(poll_ms)
        self.check_first = bool(check_first) and engine is not None
        self.auto_night = bool(night_mode)
        self.morning_enabled = bool(morning)
        self.mode = "check" if self.check_first else "lab"
        self.peeking = False
        self.polls = 0
        #: BrainFlow timestamp (UNIX s) of the newest sample handed to the widgets.
        self.last_sample_stamp: float | None = None
        self._night_reason = ""
        self._stopped_at_end = False
        self._report_written = False
        self._wake_watcher = WakeWatcher(self.wake_screen, self)
        self._fired: list[tuple[float, str, str]] = []

        self.setWindowTitle("dreamband – night console")
        self._build()
        self._build_shortcuts()
        self.timer = QtCore.QTimer(self)
        self.timer.setInterval(int(poll_ms))
        self.timer.timeout.connect(self.poll)
        self.peek_timer = QtCore.QTimer(self)
        self.peek_timer.setSingleShot(True)
        self.peek_timer.setInterval(int(PEEK_S * 1000))
        self.peek_timer.timeout.connect(self._end_peek)
        self.report_timer = QtCore.QTimer(self)
        self.report_timer.setInterval(500)
        self.report_timer.timeout.connect(self._try_write_report)
        self.status_timer = QtCore.QTimer(self)
        self.status_timer.setInterval(500)
        self.status_timer.timeout.connect(self.update_status)
        self.engine_factory = engine_factory
        if subscription is not None:
            self._subscription = subscription
        elif engine is not None:
            self._subscription = engine.subscribe(maxsize=UI_QUEUE_CHUNKS, name="night console")

    # ------------------------------------------------------------------ layout
    def _build(self) -> None:
        central = QtWidgets.QWidget()
        outer = QtWidgets.QHBoxLayout(central)
        outer.setContentsMargins(4, 4, 4, 4)
        left = QtWidgets.QSplitter(QtCore.Qt.Orientation.Vertical)
        self.traces = TracePanel(self.channel_names, self.channel_types, self.sfreq)
        # the spectrogram shows the channel being staged
        self.frontal = pick_frontal(self.channel_names, self.channel_types, getattr(self.engine, "staging_rows", None))
        self.spectrogram = SpectrogramPanel(self.sfreq, self.channel_names[self.frontal])
        self.hypnogram = HypnogramPanel()
        for panel in (self.spectrogram, self.hypnogram):
            panel.set_start(self.start_datetime)
        if self.alarm:
            self._show_alarm_region()
        trace_box = QtWidgets.QWidget()
        trace_layout = QtWidgets.QVBoxLayout(trace_box)
        trace_layout.setContentsMargins(0, 0, 0, 0)
        trace_layout.setSpacing(2)
        trace_layout.addWidget(self._trace_bar())
        trace_layout.addWidget(self.traces, 1)
        left.addWidget(trace_box)
        left.addWidget(self.spectrogram)
        hyp_box = QtWidgets.QWidget()
        hyp_layout = QtWidgets.QVBoxLayout(hyp_box)
        hyp_layout.setContentsMargins(0, 0, 0, 0)
        hyp_layout.addWidget(self.hypnogram, 1)
        self.replay_controls: ReplayControls | None = None
        if self.replay is not None:
            speed = getattr(self.replay, "speed", 1.0)
            speed_text = "max" if speed == "max" else f"{float(speed):g}x"
            self.replay_controls = ReplayControls(float(getattr(self.replay, "duration_s", 0.0)), speed_text)
            _show_speed(self.replay_controls.speed_box, speed_text)
            self.replay_controls.pauseToggled.connect(self.set_paused)
            self.replay_controls.speedChanged.connect(self.set_speed)
            self.replay_controls.seekRequested.connect(self.seek)
            self.hypnogram.seek_enabled = True
            self.hypnogram.seekRequested.connect(self.seek)
            hyp_layout.addWidget(self.replay_controls)
            self.hypnogram.set_reference(scored_segments(self.replay))
        left.addWidget(hyp_box)
        left.setSizes([470, 150, 200])
        outer.addWidget(left, 1)

        right = QtWidgets.QWidget()
        right.setFixedWidth(340)
        right_layout = QtWidgets.QVBoxLayout(right)
        right_layout.setContentsMargins(0, 0, 0, 0)
        self.stage_panel = StagePanel()
        outputs = getattr(getattr(self.engine, "actions", None), "outputs", None)
        actions = ["all", *outputs] if outputs else None
        self.controls = TriggerControls(self._policies(), self.alarm, actions=actions)
        self.controls.policyToggled.connect(self.set_policy_enabled)
        self.controls.alarmWindowRequested.connect(self.set_alarm_window)
        self.controls.testFireRequested.connect(self.test_fire)
        self._label_smart_alarm()
        right_layout.addWidget(self.stage_panel)
        right_layout.addWidget(self.controls, 1)
        self.log_label = QtWidgets.QLabel("")
        self.log_label.setWordWrap(True)
        self.log_label.setObjectName("logLabel")
        right_layout.addWidget(self.log_label)
        outer.addWidget(right)
        self.lab_page = central
        self.stack = QtWidgets.QStackedWidget()
        self.stack.addWidget(self.lab_page)
        self.night_view = NightView()
        self.night_view.wakeRequested.connect(self.wake_screen)
        self.night_view.labRequested.connect(self.leave_night_mode)
        self.stack.addWidget(self.night_view)
        self.morning_view = MorningView()
        self.morning_view.reportRequested.connect(self.open_report)
        self.stack.addWidget(self.morning_view)
        self.check_view: CheckView | None = None
        if self.check_first:
            self.check_view = self._make_check_view()
            self.stack.addWidget(self.check_view)
            self.stack.setCurrentWidget(self.check_view)
        self.setCentralWidget(self.stack)

        bar = self.statusBar()
        self.status_labels: dict[str, QtWidgets.QLabel] = {}
        for key in ("board", "rate", "clock", "lost", "dropouts", "record"):
            label = QtWidgets.QLabel("")
            bar.addPermanentWidget(label)
            self.status_labels[key] = label
        self.resize(1400, 860)
        self.update_status()

    def _trace_bar(self) -> QtWidgets.QWidget:
        """Window and gain pickers, automatic gain and marker buttons above the traces."""
        bar = QtWidgets.QWidget()
        row = QtWidgets.QHBoxLayout(bar)
        row.setContentsMargins(4, 0, 4, 0)
        self.window_box = QtWidgets.QComboBox()
        self.window_box.addItems([f"{w:g} s" for w in WINDOW_STEPS_S])
        self.window_box.setCurrentText(f"{self.traces.window_s:g} s")
        self.window_box.setToolTip("Seconds shown (Left / Right)")
        self.window_box.currentTextChanged.connect(lambda t: self.traces.set_window(float(t.split()[0])))
        self.gain_box = QtWidgets.QComboBox()
        self.gain_box.addItems([f"{g:g} µV" for g in GAIN_STEPS_UV])
        self.gain_box.setCurrentText(f"{self.traces.gain_uv:g} µV")
        self.gain_box.setToolTip("Microvolts per division (Up / Down)")
        self.gain_box.currentTextChanged.connect(lambda t: self.traces.set_gain(float(t.split()[0])))
        lights = QtWidgets.QPushButton("Lights off")
        lights.setToolTip("Night mode: dim red, the stage and the alarm large, no traces (L)")
        lights.clicked.connect(lambda: self.enter_night_mode("lights off (click)"))
        auto = QtWidgets.QPushButton("Auto")
        auto.setToolTip("Fit the gain to the signal (A)")
        auto.clicked.connect(self.traces.auto_gain)
        marker = QtWidgets.QPushButton("Mark")
        marker.setToolTip("Insert a marker into the stream (M)")
        marker.clicked.connect(self.insert_marker)
        keys = QtWidgets.QLabel("keys: " + " · ".join(f"{k} {v}" for k, v in SHORTCUTS))
        keys.setObjectName("logLabel")
        keys.setSizePolicy(QtWidgets.QSizePolicy.Policy.Ignored, QtWidgets.QSizePolicy.Policy.Preferred)
        keys.setToolTip("\n".join(f"{k}: {v}" for k, v in SHORTCUTS))
        legend = QtWidgets.QLabel(" ".join(
            f'<span style="color:{theme.quality_colour(q)}">{q}</span>'
            for q in ("good", "noisy", "railed", "flat", "off-head", "lost")))
        legend.setToolTip("Trace colour = the channel's quality in the last epoch")
        for widget in (QtWidgets.QLabel("window"), self.window_box, QtWidgets.QLabel("gain"),
                       self.gain_box, auto, marker, lights, legend):
            row.addWidget(widget)
        row.addWidget(keys, 1)
        self.traces.viewChanged.connect(self._sync_trace_bar)
        return bar

    def _sync_trace_bar(self) -> None:
        for box, text in ((self.window_box, f"{self.traces.window_s:g} s"),
                          (self.gain_box, f"{self.traces.gain_uv:g} µV")):
            if box.currentText() != text:
                box.blockSignals(True)
                if box.findText(text) < 0:
                    box.addItem(text)
                box.setCurrentText(text)
                box.blockSignals(False)

    def _policies(self) -> list[tuple[str, bool, bool]]:
        status = getattr(self.engine, "policy_status", None)
        if callable(status):
            listed = status()
            return [(name, bool(listed[name]), name.startswith("safety"))
                    for name, _, _ in DEFAULT_POLICIES if name in listed]
        return list(DEFAULT_POLICIES)

    def _build_shortcuts(self) -> None:
        keys = QtGui.QKeySequence
        bindings = (
            ("Space", self.toggle_pause), ("Up", lambda: self.traces.step_gain(+1)),
            ("Down", lambda: self.traces.step_gain(-1)), ("Left", lambda: self.traces.step_window(-1)),
            ("Right", lambda: self.traces.step_window(+1)), ("[", lambda: self.step_speed(-1)),
            ("]", lambda: self.step_speed(+1)), ("M", self.insert_marker),
            ("A", self.traces.auto_gain), ("L", lambda: self.enter_night_mode("lights off (key)")),
            ("T", self.controls.request_test_fire), ("F11", self.toggle_full_screen),
            ("Ctrl+Q", self.close),
        )
        self.shortcuts: dict[str, QtGui.QShortcut] = {}
        for key, slot in bindings:
            shortcut = QtGui.QShortcut(keys(key), self)
            shortcut.setContext(QtCore.Qt.ShortcutContext.ApplicationShortcut)
            shortcut.activated.connect(slot)
            self.shortcuts[key] = shortcut
        self.setToolTip("Keys: " + ", ".join(f"{k}: {v}" for k, v in SHORTCUTS))

    # ------------------------------------------------------------------ lifecycle
    def showEvent(self, event) -> None:  # noqa: N802 - Qt API
        super().showEvent(event)
        if self.mode == "check":
            if self.check_view is not None:
                self.check_view.begin()
            return
        if not self.timer.isActive() and not self._stopped_at_end:
            self.timer.start()
            self.status_timer.start()
            if self.engine is not None and self.start_engine and not getattr(self.engine, "running", False) \
                    and not getattr(self.engine, "ended", False):
                self.engine.start()

    def changeEvent(self, event) -> None:  # noqa: N802 - Qt API
        super().changeEvent(event)
        if event.type() == QtCore.QEvent.Type.WindowStateChange:
            self._apply_rate()
            if not self.isMinimized() and self.mode in ("lab", "night"):
                self.poll()  # fresh data the moment the window comes back

    def closeEvent(self, event) -> None:  # noqa: N802 - Qt API
        self.shutdown()
        super().closeEvent(event)

    def shutdown(self) -> None:
        """Stop the timers and the engine (which stops the stream and releases the board)."""
        self.timer.stop()
        self.status_timer.stop()
        self.peek_timer.stop()
        self.report_timer.stop()
        self._remove_wake_watcher()
        if self.check_view is not None:
            self.check_view.stop()
        if self.engine is not None:
            try:
                self.engine.stop()
            except Exception as err:  # noqa: BLE001 - a failing stop must not keep the window open
                self.log(f"stopping the engine failed: {err}")

    # ------------------------------------------------------------------ events
    def poll(self, budget_s: float = 0.012) -> int:
        """Drain the engine's queue without waiting (for at most ``budget_s``) and redraw what
        is on screen (nothing while minimised or after the session ended)."""
        n = 0
        self.polls += 1
        if self._subscription is not None:
            batch = self._drain(budget_s)
            n = len(batch)
            if batch:
                self.handle_events(batch)
        if self.ended:
            self._session_over()
        elif self._drawing():
            self.refresh()
        elif self.mode == "night" and not self.isMinimized():
            self._update_night_view()
        return n

    def _drain(self, budget_s: float) -> list:
        sub = self._subscription
        out: list = []
        deadline = time.perf_counter() + budget_s
        get = getattr(sub, "get_nowait", None)
        if get is None and hasattr(sub, "drain"):
            return list(sub.drain())
        while time.perf_counter() < deadline:
            try:
                item = get()
            except queue.Empty:
                break
            if item is None:
                break
            out.append(item)
        return out

    def handle_events(self, events: Iterable[ev.Event]) -> None:
        """Apply a batch of engine events to the widgets (GUI thread only)."""
        chunks: list[tuple[float, Any]] = []
        for event in events:
            self.events_handled += 1
            if isinstance(event, ev.SamplesArrived):
                if event.chunk is not None and event.chunk.n_samples:
                    chunks.append((event.time + self.time_offset, event.chunk))
                continue
            if chunks:
                self._push_chunks(chunks)
                chunks = []
            self._handle_one(event)
        if chunks:
            self._push_chunks(chunks)

    def _push_chunks(self, chunks: list[tuple[float, Any]]) -> None:
        """Push ``(end time, chunk)`` pairs; contiguous ones go in as one block."""
        block: list[np.ndarray] = []
        block_start = 0.0
        tol = 0.5 / self.sfreq
        stamps = getattr(chunks[-1][1], "timestamps", None)
        if stamps is not None and len(stamps):
            self.last_sample_stamp = float(stamps[-1])
        for end, chunk in chunks:
            start = end - chunk.n_samples / self.sfreq
            contiguous = abs(start - self.session_time) <= tol
            if block and not contiguous:
                self._push_block(np.concatenate(block, axis=1), block_start)
                block = []
            if not block:
                if not contiguous and self.samples_seen:
                    self._jumped(start)
                block_start = start
            block.append(chunk.data)
            self.session_time = end
        if block:
            self._push_block(np.concatenate(block, axis=1), block_start)

    def _push_block(self, data: np.ndarray, start_s: float) -> None:
        n = data.shape[1]
        self.traces.push(data)
        self.spectrogram.push(data[self.frontal], start_s)
        self.samples_seen += n
        self.session_time = start_s + n / self.sfreq
        self.hypnogram.set_now(self.session_time)
        self._maybe_auto_gain()
        self._rate_marks.append((time.monotonic(), self.samples_seen))
        if len(self._rate_marks) > 400:
            del self._rate_marks[:200]

    def _maybe_auto_gain(self) -> None:
        if not self._auto_gain_done and self.traces.buffer.total >= 3 * self.sfreq:
            self._auto_gain_done = True
            self.traces.auto_gain()

    def _jumped(self, start_s: float) -> None:
        """The data jumped (a seek, or chunks this view dropped): restart traces and spectrogram."""
        self.traces.reset()
        self.spectrogram.jump(start_s)
        self._rate_marks.clear()

    def _handle_one(self, event: ev.Event) -> None:
        if isinstance(event, ev.SessionStarted):
            start = _parse_start(event.info.get("start_time") or event.info.get("start_datetime"))
            if start is not None:
                start -= dt.timedelta(seconds=self.time_offset)
                self.start_datetime = start
                self.spectrogram.set_start(start)
                self.hypnogram.set_start(start)
                if self.alarm:
                    self._show_alarm_region()
            board = event.info.get("board") or event.info.get("board_name")
            if board and not self.board_name:
                self.board_name = str(board)
            folder = event.info.get("record_dir") or event.info.get("session_dir")
            if folder:
                self.record_dir = Path(folder)
        elif isinstance(event, ev.EpochStaged):
            self.stage_panel.set_epoch(event.stage, event.probabilities, event.confidence,
                                       event.quality_ok, event.quality_reasons)
            self.hypnogram.add_epoch(event.onset + self.time_offset, event.stage)
            if self.auto_night and self.mode == "lab" and 1 <= int(event.stage) <= 4:
                self.enter_night_mode("first sleep epoch")
        elif isinstance(event, ev.StateChanged):
            state = dict(event.state)
            off = self.time_offset
            state["time"] = float(state.get("time", event.time) or 0.0) + off
            if state.get("sleep_onset") is not None:
                state["sleep_onset"] = float(state["sleep_onset"]) + off
            self.stage_panel.set_state(event.plain, state, self.start_datetime, self.alarm)
            periods = [(p.get("start", 0.0) + off, p.get("end", 0.0) + off)
                       for p in event.state.get("rem_periods", [])]
            self.hypnogram.set_rem_periods(periods)
        elif isinstance(event, ev.TriggerFired):
            t = event.time + self.time_offset
            when = clock_text(self.start_datetime, t)
            self.controls.add_fired(when, event.policy, event.action, event.intensity, event.reason)
            self.hypnogram.add_trigger(t, event.policy, event.reason)
            self._fired.append((t, event.policy, event.action))
            self.log(f"{when} {event.policy} fired ({event.action}): {event.reason}")
        elif isinstance(event, ev.ActionUpdate):
            if event.phase in ("test", "stop", "escalate"):
                when = clock_text(self.start_datetime, event.time + self.time_offset)
                self.controls.add_fired(when, event.policy, event.phase, event.intensity, event.reason)
        elif isinstance(event, ev.QualityChanged):
            self.traces.set_quality(event.channel, event.status)
        elif isinstance(event, ev.StreamNotice):
            self._handle_stream(event)
        elif isinstance(event, ev.MarkerInserted):
            self.hypnogram.add_marker(event.time + self.time_offset, event.label)
        elif isinstance(event, ev.RecordingWarning):
            self._handle_recording(event)
        elif isinstance(event, ev.LogMessage):
            self.log(event.message)
        elif isinstance(event, ev.SessionEnded):
            self.ended = True
            self.end_reason = event.reason
            self.stage_panel.show_banner(f"session ended: {event.reason}" if event.reason else "session ended")
            self.log(f"session ended: {event.reason}")

    def _handle_stream(self, event: ev.StreamNotice) -> None:
        kind = event.stream_kind
        if kind == "dropout":
            self.dropouts += 1
            self.stage_panel.show_banner(event.message or "the board stopped sending; reconnecting")
        elif kind == "reconnect_attempt":
            self.stage_panel.show_banner(event.message or "reconnecting to the board")
        elif kind == "reconnected":
            self._show_recording_banner_or_hide()
        elif kind == "gap":
            self.lost_samples += int(event.details.get("lost_samples", 0) or 0)
        elif kind == "ended":
            self.stage_panel.show_banner(event.message or "the recording ended")
        elif kind == "error":
            self.stage_panel.show_banner(event.message or "stream error")
        if event.message:
            self.log(event.message)

    def _handle_recording(self, event: ev.RecordingWarning) -> None:
        """A banner stays up while the disk refuses the recording's writes; it goes when they work."""
        if event.writing:
            was_ours = self.stage_panel.banner.text() == self.recording_problem
            self.recording_problem = ""
            if was_ours:
                self.stage_panel.hide_banner()
        else:
            self.recording_problem = f"RECORDING: {event.message}"
            self.stage_panel.show_banner(self.recording_problem)
        self.log(event.message)

    def _show_recording_banner_or_hide(self) -> None:
        if self.recording_problem:
            self.stage_panel.show_banner(self.recording_problem)
        else:
            self.stage_panel.hide_banner()

    # ------------------------------------------------------------------ drawing
    def refresh(self) -> None:
        """Redraw the panels that have new data."""
        self.traces.refresh()
        self.spectrogram.refresh()
        self.hypnogram.refresh()
        if self.replay_controls is not None:
            self.replay_controls.set_position(float(getattr(self.replay, "position_s", self.session_time)))

    def _engine_stats(self) -> dict[str, Any]:
        stats = getattr(self.engine, "stats", None)
        if callable(stats):
            try:
                return dict(stats())
            except Exception:  # noqa: BLE001 - the status bar must not take the window down
                return {}
        return {}

    def achieved_rate(self) -> float:
        """Samples per second of wall-clock time over the last few seconds of arrivals."""
        marks = self._rate_marks
        if len(marks) < 2:
            return 0.0
        now = marks[-1][0]
        old = next((m for m in marks if now - m[0] <= 5.0), marks[0])
        dt_s = now - old[0]
        return (marks[-1][1] - old[1]) / dt_s if dt_s > 0 else 0.0

    def update_status(self) -> None:
        """Refresh the status bar: board, rate, lost samples, dropouts, recording folder and size."""
        stats = self._engine_stats()
        lost = max(self.lost_samples, int(stats.get("lost_samples", 0) or 0))
        dropouts = max(self.dropouts, int(stats.get("dropouts", 0) or 0))
        rate = float(stats.get("achieved_rate", 0.0) or 0.0) or self.achieved_rate()
        self._set_label("board", f"board: {self.board_name or '–'}  {len(self.channel_names)} ch @ {self.sfreq:g} Hz")
        if self.replay is not None and rate > 1.5 * self.sfreq:
            self._set_label("rate", f"replay {rate / self.sfreq:.0f}x real time")
        else:
            self._set_label("rate", f"rate: {rate:.1f} Hz")
        self._set_label("clock", drift_text(stats))
        self._set_label("lost", f"lost: {lost} samples")
        self._set_label("dropouts", f"dropouts: {dropouts}")
        if self.record_dir is None:
            folder = getattr(getattr(self.engine, "recorder", None), "folder", None)
            self.record_dir = Path(folder) if folder else None
        if self.record_dir is None:
            self._set_label("record", "not recording")
        else:
            now = time.monotonic()
            if now - self._record_size_at > 2.0:
                self._record_size = _folder_size(self.record_dir)
                self._record_size_at = now
            problem = stats.get("recording")
            self._set_label("record", f"{self.record_dir} ({_human_bytes(self._record_size)})"
                            + (f" - recording: {problem}" if problem else ""))

    def _set_label(self, key: str, text: str) -> None:
        label = self.status_labels[key]
        if label.text() != text:
            label.setText(text)
            label.setMinimumWidth(label.fontMetrics().horizontalAdvance(text) + 14)

    def log(self, message: str) -> None:
        """Keep a line for the person (the latest is shown under the trigger list)."""
        self.log_lines.append(message)
        if len(self.log_lines) > 1000:
            del self.log_lines[:500]
        self.log_label.setText(message)

    def _show_alarm_region(self) -> None:
        start = self.start_datetime
        if self.alarm is None or start is None:
            self.hypnogram.set_alarm_window(None, None)
            return
        # the engine's own resolver (local zone, DST): the drawn window is the one that fires
        self.hypnogram.set_alarm_window(*window_seconds(start, self.alarm))

    # ------------------------------------------------------------------ commands
    def _call_engine(self, name: str, *args, **kwargs) -> bool:
        method = getattr(self.engine, name, None)
        if method is None:
            self.log(f"{name}: no engine attached")
            return False
        try:
            method(*args, **kwargs)
        except (ValueError, TypeError, RuntimeError) as err:
            self.log(f"{name.replace('_', ' ')}: {err}")
            return False
        return True

    def set_policy_enabled(self, name: str, on: bool, confirmed: bool = False) -> None:
        """Ask the engine to switch a policy on or off (safety needs ``confirmed``)."""
        ok = self._call_engine("set_policy_enabled", name, on, confirm=confirmed)
        if not ok:
            self.controls.set_policy_checked(name, not on)
        else:
            self.log(f"{name} {'enabled' if on else 'disabled'}{' (confirmed)' if confirmed else ''}")

    def set_alarm_window(self, window: str) -> None:
        """Set the smart-alarm window ``"HH:MM-HH:MM"`` in the engine and on the hypnogram."""
        try:
            parsed = parse_window(str(window))
        except ValueError as err:  # unreadable, or 07:00-06:30 (23.5 h): said, not drawn
            self.log(str(err))
            return
        start, end = (f"{t.hour:02d}:{t.minute:02d}" for t in parsed)
        if self._call_engine("set_alarm_window", start, end):
            self.alarm = parsed
            self._show_alarm_region()
            self.controls.set_policy_checked("smart_alarm", True)  # setting a window enables it
            self._label_smart_alarm()

    def _label_smart_alarm(self) -> None:
        box = self.controls.checks.get("smart_alarm")
        if box is not None:
            box.setText("Smart alarm" if self.alarm else "Smart alarm (no window set)")

    def test_fire(self, action: str, intensity: float) -> None:
        """Fire ``action`` once at low intensity through the engine."""
        if self._call_engine("test_fire", action, intensity):
            self.log(f"test fire: {action} at {intensity:.0%}")

    def insert_marker(self) -> None:
        """Put a user marker into the stream (drawn on the hypnogram)."""
        self._call_engine("insert_marker", 1.0, "user mark")

    def toggle_pause(self) -> None:
        """Play/pause a replay."""
        if self.replay_controls is not None:
            self.replay_controls.toggle()

    def step_speed(self, direction: int) -> None:
        """Replay faster or slower."""
        if self.replay_controls is not None:
            self.replay_controls.step_speed(direction)

    def set_paused(self, paused: bool) -> None:
        """Pause or resume the replay source."""
        if self.replay is None:
            return
        (self.replay.pause if paused else self.replay.resume)()
        self.log("paused" if paused else "playing")

    def set_speed(self, speed: str) -> None:
        """Set the replay speed (``"1"`` ... ``"max"``)."""
        if self.replay is None:
            return
        try:
            self.replay.set_speed(speed)
        except ValueError as err:
            self.log(str(err))
            return
        self.log(f"speed {speed}{'' if speed == 'max' else 'x'}")

    def seek(self, seconds: float) -> None:
        """Jump the replay to ``seconds`` of the recording.

        With an ``engine_factory`` the engine is stopped and a fresh one started there (the
        stager is causal: it restarts from the new position, like a person starting the replay
        there); the policies and alarm window set in this window carry over.
        """
        if self.replay is None:
            return
        duration = float(getattr(self.replay, "duration_s", seconds) or seconds)
        seconds = min(max(float(seconds), 0.0), duration)
        if self.engine is None or self.engine_factory is None:
            self.replay.seek(seconds)
        else:
            self._restart_engine_at(seconds)
        self.log(f"seek to {clock_text(self.start_datetime, seconds)}")

    def _restart_engine_at(self, seconds: float) -> None:
        old_sub = self._subscription
        if old_sub is not None and hasattr(old_sub, "close"):
            old_sub.close()
        was_threaded = bool(getattr(self.engine, "running", False)) or self.start_engine
        self.engine.stop()
        self.replay.seek(seconds)
        engine = self.engine_factory(self.replay)
        self.engine = engine
        self.time_offset = float(getattr(self.replay, "position_s", seconds))
        self._subscription = engine.subscribe(maxsize=UI_QUEUE_CHUNKS, name="night console")
        for name, box in self.controls.checks.items():
            status = engine.policy_status().get(name)
            if status is not None and status != box.isChecked():
                self._call_engine("set_policy_enabled", name, box.isChecked(), confirm=True)
        if self.alarm is not None:
            start, end = (f"{t.hour:02d}:{t.minute:02d}" for t in self.alarm)
            self._call_engine("set_alarm_window", start, end)
        self.session_time = self.time_offset
        self.traces.reset()
        self.spectrogram.jump(self.time_offset)
        self.hypnogram.truncate(self.time_offset)
        self.ended = False
        self._show_recording_banner_or_hide()
        if self._stopped_at_end:  # a seek after the end: back to the lab screen, drawing again
            self._stopped_at_end = False
            self._report_written = False
            self.mode = "lab"
            self.stack.setCurrentWidget(self.lab_page)
            if self.isVisible():
                self.timer.start()
                self.status_timer.start()
        if was_threaded and self.timer.isActive():
            engine.start()

    def toggle_full_screen(self) -> None:
        """Full screen on/off."""
        self.showNormal() if self.isFullScreen() else self.showFullScreen()
