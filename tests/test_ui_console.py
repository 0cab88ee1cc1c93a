"""The night console window on the real pipeline (pytest-qt, offscreen).

Live: BrainFlow's synthetic board through ``BoardStream`` and the ``SessionEngine``.
Replay: a generated night (the sleeper) through ``RecordingSource`` and the same engine.
"""

from __future__ import annotations

import datetime as dt

import numpy as np
import pytest

pytest.importorskip("pytestqt")

from pyqtgraph.Qt import QtCore, QtGui  # noqa: E402

from dreamband.firmware_bridge.chunk import StreamChunk  # noqa: E402
from dreamband.session import events as ev  # noqa: E402
from dreamband.signal.stages import STAGE_NAMES  # noqa: E402
from dreamband.ui.console import NightConsole  # noqa: E402


def _engine_on_synthetic():
    from dreamband.firmware_bridge import BoardConfig, BoardStream
    from dreamband.session.engine import SessionEngine
    from dreamband.session.settings import SessionSettings

    source = BoardStream(BoardConfig(board="synthetic"))
    return SessionEngine(source, SessionSettings()), source


def _replay_engine(minutes: float, speed, max_hours: float = 12.0):
    from dreamband.recordings.replay import RecordingSource
    from dreamband.session.engine import SessionEngine
    from dreamband.session.settings import SessionSettings
    from dreamband.session.sleeper import night_to_recording
    from dreamband.signal.simulate import simulate_night

    rec = night_to_recording(simulate_night(minutes / 60.0, 128.0, seed=2))
    settings = SessionSettings()
    settings.triggers.safety.max_hours = max_hours
    source = RecordingSource(rec, speed=speed)
    return SessionEngine(source, settings), source, (lambda s: SessionEngine(s, settings))


def test_console_applies_real_events_without_an_engine(qtbot):
    names, types = ["Fp1", "Fp2", "EOG"], ["eeg", "eeg", "eog"]
    console = NightConsole(sfreq=100.0, channel_names=names, channel_types=types, board_name="test")
    qtbot.addWidget(console)
    start = dt.datetime(2026, 11, 24, 23, 0, tzinfo=dt.timezone.utc)
    rng = np.random.default_rng(0)
    events: list[ev.Event] = [ev.SessionStarted(0.0, {"start_time": start.isoformat(), "board": "test"})]
    for i in range(4):
        data = 20 * rng.standard_normal((3, 3000))
        chunk = StreamChunk(data, np.arange(3000) / 100.0, np.zeros(3000), i * 3000)
        events.append(ev.SamplesArrived((i + 1) * 30.0, chunk))
        events.append(ev.EpochStaged((i + 1) * 30.0, i, i * 30.0, 2, (0.1, 0.1, 0.7, 0.05, 0.05), 0.7))
    events.append(ev.StateChanged(120.0, "light sleep", {"time": 120.0, "cycle": 1, "rem_count": 0}))
    events.append(ev.TriggerFired(120.0, "smart_alarm", "wake", 0.1, "N2 inside the alarm window"))
    events.append(ev.QualityChanged(120.0, "Fp2", "off-head", "flat line"))
    events.append(ev.StreamDropout(121.0, "no data for 3 s", {}))
    console.handle_events(events)
    console.refresh()
    assert console.stage_panel.stage_label.text() == "N2"
    assert console.stage_panel.plain_label.text() == "light sleep"
    assert console.controls.fired_rows()[0][:2] == ["23:02", "smart alarm"]
    assert console.hypnogram.onsets.tolist() == [0.0, 30.0, 60.0, 90.0]
    assert console.traces.status["Fp2"] == "off-head"
    assert console.dropouts == 1 and not console.stage_panel.banner.isHidden()
    assert console.session_time == pytest.approx(120.0)
    assert console.spectrogram.acc.image()[0].shape[0] == 12  # 120 s in 10-s columns


def test_live_window_on_synthetic_board_updates_and_releases_board(qtbot):
    engine, source = _engine_on_synthetic()
    console = NightConsole(engine, board_name="synthetic")
    qtbot.addWidget(console)
    console.show()
    qtbot.waitUntil(lambda: console.samples_seen >= 500, timeout=15000)
    qtbot.waitUntil(lambda: console.traces.frames_drawn >= 2, timeout=5000)
    x, y = console.traces.curves[0].getData()
    assert x.size == 2500 and np.isfinite(y[-250:]).all()
    assert source.running
    console.update_status()
    assert "synthetic" in console.status_labels["board"].text()
    assert float(console.status_labels["rate"].text().split()[1]) > 100.0
    # keyboard: a marker goes into the stream and onto the hypnogram; gain steps
    gain = console.traces.gain_uv
    console.shortcuts["M"].activated.emit()
    console.shortcuts["Up"].activated.emit()
    assert console.traces.gain_uv < gain
    qtbot.waitUntil(lambda: len(console.hypnogram.markers) == 1, timeout=5000)
    console.close()
    assert engine.ended and not engine.running
    assert not source.running  # the board session was released
    assert not console.timer.isActive()


def test_replay_window_stages_epochs_and_lists_a_fired_trigger(qtbot):
    engine, source, factory = _replay_engine(12.0, "max", max_hours=0.1)  # safety fires at 6 min
    console = NightConsole(engine, replay=source, engine_factory=factory)
    qtbot.addWidget(console)
    console.show()
    qtbot.waitUntil(lambda: console.ended, timeout=30000)
    console.poll(budget_s=5.0)
    assert engine.error is None
    n_epochs = len(engine.epochs)
    assert n_epochs == 24 and console.hypnogram.onsets.size == n_epochs
    last = engine.epochs[-1]
    assert console.stage_panel.stage_label.text() == (STAGE_NAMES[last.stage] if last.stage >= 0 else "?")
    assert console.stage_panel.plain_label.text() == engine.state["plain"]
    rows = console.controls.fired_rows()
    assert any(r[1] == "safety max length" for r in rows), rows
    assert console.hypnogram.triggers and console.hypnogram.triggers[0][0] == pytest.approx(360.0)
    assert console.stage_panel.facts["clock"].text().startswith("23:12")  # the recording's own clock
    assert console.hypnogram.reference[0][0] == 0.0  # the generated night's true stages, dashed


def test_replay_controls_pause_speed_and_seek_restart_the_engine(qtbot):
    engine, source, factory = _replay_engine(20.0, 1.0)
    console = NightConsole(engine, replay=source, engine_factory=factory)
    qtbot.addWidget(console)
    console.show()
    qtbot.waitUntil(lambda: console.samples_seen > 0, timeout=10000)
    console.shortcuts["Space"].activated.emit()  # pause
    assert source.paused and console.replay_controls.play_button.text() == "Play"
    console.replay_controls.speed_box.setCurrentText("max")
    assert source.speed == "max"
    console.shortcuts["Space"].activated.emit()  # play, now at max speed
    assert not source.paused
    qtbot.waitUntil(lambda: console.hypnogram.onsets.size >= 10, timeout=20000)
    console.seek(300.0)  # back to minute 5: a fresh engine restages from there
    assert console.engine is not engine and engine.ended
    assert console.time_offset == pytest.approx(300.0)
    assert console.hypnogram.onsets.size == 10  # epochs before 5:00 stay, the rest goes
    qtbot.waitUntil(lambda: console.hypnogram.onsets.size >= 12, timeout=20000)
    assert console.hypnogram.onsets[10] == pytest.approx(300.0)
    assert console.hypnogram.onsets[11] == pytest.approx(330.0)
    console.close()
    assert console.engine.ended


def test_screenshot_command_writes_a_png(tmp_path, qtbot):
    from dreamband.cli import main

    out = tmp_path / "console.png"
    assert main(["screenshot", str(out), "--after", "2", "--board", "synthetic"]) == 0
    image = QtGui.QImage(str(out))
    assert image.width() == 1400 and image.height() == 860
    # not a blank picture: the traces put light pixels on the dark background
    colours = {image.pixel(x, y) for x in range(100, 1000, 7) for y in range(20, 400, 7)}
    assert len(colours) > 5
    assert main(["screenshot", str(tmp_path / "x.png"), "--after", "2", "--size", "bad"]) == 2
    assert main(["screenshot", str(tmp_path / "x.jpg"), "--after", "1"]) == 2


def test_keyboard_shortcuts_are_listed_and_bound(qtbot):
    console = NightConsole(sfreq=100.0, channel_names=["Fp1"], channel_types=["eeg"])
    qtbot.addWidget(console)
    for key in ("Space", "Up", "Down", "Left", "Right", "[", "]", "M", "T", "A", "F11", "Ctrl+Q"):
        assert console.shortcuts[key].key() == QtGui.QKeySequence(key)
    window = console.traces.window_s
    console.shortcuts["Right"].activated.emit()
    assert console.traces.window_s > window
    assert "Keys:" in console.toolTip()
    assert QtCore.Qt.ShortcutContext.ApplicationShortcut == console.shortcuts["M"].context()


def test_window_stays_responsive_when_the_board_drops_out(qtbot):
    import time

    from dreamband.firmware_bridge import BoardConfig, BoardStream
    from dreamband.session.engine import SessionEngine
    from dreamband.session.settings import SessionSettings

    source = BoardStream(BoardConfig(board="synthetic", dropout_timeout_s=0.4, reconnect_initial_s=0.2))
    engine = SessionEngine(source, SessionSettings())
    console = NightConsole(engine, board_name="synthetic")
    qtbot.addWidget(console)
    ticks: list[float] = []
    console.timer.timeout.connect(lambda: ticks.append(time.perf_counter()))
    console.show()
    qtbot.waitUntil(lambda: console.samples_seen >= 250, timeout=15000)
    source._shim.stop_stream()  # the board goes silent (private handle: test only)
    qtbot.waitUntil(lambda: console.dropouts == 1 and not console.stage_panel.banner.isHidden(), timeout=5000)
    qtbot.waitUntil(lambda: console.stage_panel.banner.isHidden(), timeout=8000)  # reconnected
    seen = console.samples_seen
    qtbot.waitUntil(lambda: console.samples_seen > seen + 100, timeout=5000)  # data flows again
    gaps = np.diff(ticks)
    assert gaps.max() < 0.5, f"the window froze for {gaps.max():.2f} s during the dropout"
    console.update_status()
    assert console.status_labels["dropouts"].text() == "dropouts: 1"
    console.close()
    assert not source.running


def test_trigger_controls_drive_the_engine(qtbot):
    engine, source = _engine_on_synthetic()
    console = NightConsole(engine, board_name="synthetic", start_engine=False)
    qtbot.addWidget(console)
    controls = console.controls
    assert controls.checks["smart_alarm"].text() == "Smart alarm (no window set)"
    controls.alarm_start.setTime(QtCore.QTime(5, 45))
    qtbot.mouseClick(controls.alarm_button, QtCore.Qt.MouseButton.LeftButton)
    assert engine.alarm_window == "05:45-07:00" and controls.checks["smart_alarm"].text() == "Smart alarm"
    controls.checks["nightmare_wake"].setChecked(True)
    assert engine.policy_status()["nightmare_wake"] is True
    controls.confirm = lambda title, text: False  # the person says no: safety stays on
    controls.checks["safety_signal_lost"].setChecked(False)
    assert engine.policy_status()["safety_signal_lost"] is True
    assert controls.checks["safety_signal_lost"].isChecked()
    controls.confirm = lambda title, text: True
    controls.checks["safety_signal_lost"].setChecked(False)
    assert engine.policy_status()["safety_signal_lost"] is False
    controls.test_action.setCurrentText("log")
    console.shortcuts["T"].activated.emit()
    console.poll(budget_s=1.0)
    assert any(line.startswith("SAFETY") for line in console.log_lines), console.log_lines
    assert controls.fired_rows()[0][1:3] == ["test", "test 10%"]
    console.close()
    assert not source.running


def test_screenshot_of_a_real_dreams_replay(shared_datasets, tmp_path):
    from dreamband.cli import main

    edf = shared_datasets / "dreams-spindles" / "excerpt3.edf"
    if not edf.exists():
        pytest.skip("DREAMS excerpt3.edf is not in the shared datasets")
    out = tmp_path / "dreams.png"
    assert main(["screenshot", str(out), "--replay", str(edf), "--after", "600", "--size", "1100x800"]) == 0
    image = QtGui.QImage(str(out))
    assert (image.width(), image.height()) == (1100, 800)


def test_live_window_on_a_missing_board_fails_clearly(qtbot, capsys):
    from pyqtgraph.Qt import QtWidgets

    from dreamband.cli import main

    rc = main(["live", "--board", "cyton", "--serial-port", "/dev/ttyDREAMBAND-NONE", "--no-record"])
    assert rc == 2
    assert "serial port" in capsys.readouterr().err
    assert not [w for w in QtWidgets.QApplication.topLevelWidgets()
                if isinstance(w, NightConsole) and w.isVisible()]
