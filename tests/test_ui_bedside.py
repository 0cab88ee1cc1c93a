"""The bedside screens with real widgets (pytest-qt, offscreen): the signal check, night mode's
timer rate and wake-up latency on BrainFlow's synthetic board, and the morning view after a
replayed night (recorded, reported)."""

from __future__ import annotations

import time

import numpy as np
import pytest

pytest.importorskip("pytestqt")

from pyqtgraph.Qt import QtCore  # noqa: E402

from dreamband.session import events as ev  # noqa: E402
from dreamband.ui.check_view import CheckView  # noqa: E402
from dreamband.ui.console import NightConsole  # noqa: E402
from dreamband.ui.morning_view import trigger_outcomes  # noqa: E402
from dreamband.ui.night_mode import NIGHT_POLL_MS  # noqa: E402

FS = 250.0


def _synthetic_engine():
    from dreamband.firmware_bridge import BoardConfig, BoardStream
    from dreamband.session.engine import SessionEngine
    from dreamband.session.settings import SessionSettings

    return SessionEngine(BoardStream(BoardConfig(board="synthetic")), SessionSettings())


def _signals(n_s: float = 6.0) -> tuple[np.ndarray, list[str]]:
    rng = np.random.default_rng(0)
    n = int(n_s * FS)
    t = np.arange(n) / FS
    eeg = lambda: 12 * rng.standard_normal(n) + 8 * np.sin(2 * np.pi * 10 * t) + 25_000.0  # noqa: E731
    rows = {
        "Fp1": eeg(),                                              # good
        "Fp2": eeg() + 40 * np.sin(2 * np.pi * 50 * t),            # mains hum
        "F3": np.full(n, 1200.0) + 0.05 * rng.standard_normal(n),  # flat
        "F4": np.full(n, 187_500.0),                               # railed
        "C3": 2500 * np.sin(2 * np.pi * 60 * t),                   # off head: mains only
    }
    return np.vstack(list(rows.values())), list(rows)


def test_check_view_verdicts_on_generated_signals(qtbot):
    data, names = _signals()
    view = CheckView(FS, list(range(5)), names, staging=["Fp1"])
    qtbot.addWidget(view)
    started = []
    view.startRequested.connect(started.append)
    assert not view.start_button.isEnabled()  # nothing judged yet
    assert not view.impedance_button.isVisibleTo(view)  # no board that measures impedance
    for part in np.array_split(data, 20, axis=1):
        view.push(part, judge=False)
    view.judge()
    assert [v.status for v in view.verdicts] == ["good", "hum", "flat", "railed", "off-head"]
    assert view.items["Fp2"].text(1) == "too much 50-Hz hum (28 µV)"
    assert "lamp" in view.items["Fp2"].text(2)
    assert view.items["C3"].text(1).startswith("only 60-Hz mains hum")
    assert view.start_button.isEnabled() and view.ready  # the staging channel is good
    qtbot.mouseClick(view.start_button, QtCore.Qt.MouseButton.LeftButton)
    assert started == [False]

    flat_staging = CheckView(FS, list(range(5)), names, staging=["F3"])
    qtbot.addWidget(flat_staging)
    flat_staging.push(data, judge=True)
    assert not flat_staging.start_button.isEnabled()
    assert flat_staging.summary.text().startswith("Not ready: F3: no signal (flat")
    flat_staging.startRequested.connect(started.append)
    qtbot.mouseClick(flat_staging.anyway_button, QtCore.Qt.MouseButton.LeftButton)
    assert started == [False, True]
    assert flat_staging.problems() == [flat_staging.verdicts[2].line()]


def test_live_window_opens_on_the_check_and_starts_the_night_on_click(qtbot):
    engine = _synthetic_engine()
    engine.source.start()  # the app opens the board before the window (clear errors early)
    console = NightConsole(engine, board_name="synthetic", check_first=True, night_mode=True, morning=True)
    qtbot.addWidget(console)
    console.show()
    try:
        assert console.mode == "check" and console.stack.currentWidget() is console.check_view
        qtbot.waitUntil(lambda: console.check_view.checks_done >= 1, timeout=15000)
        assert not engine.running and console.samples_seen == 0  # the night has not started
        fz = next(v for v in console.check_view.verdicts if v.channel == "Fz")
        assert fz.status == "good" and console.check_view.start_button.isEnabled()
        qtbot.mouseClick(console.check_view.anyway_button, QtCore.Qt.MouseButton.LeftButton)
        assert console.mode == "lab" and engine.running
        qtbot.waitUntil(lambda: console.samples_seen >= 500, timeout=15000)
        # "Start anyway" is written into the session as an event
        qtbot.waitUntil(lambda: any("night started" in label for _, label in console.hypnogram.markers),
                        timeout=5000)
    finally:
        console.close()
    assert not engine.source.running


def test_night_mode_draws_twice_a_second_and_wakes_with_fresh_data(qtbot):
    engine = _synthetic_engine()
    console = NightConsole(engine, board_name="synthetic")
    qtbot.addWidget(console)
    console.show()
    try:
        qtbot.waitUntil(lambda: console.traces.frames_drawn >= 5 and console.samples_seen >= 500, timeout=15000)
        console.enter_night_mode("lights off (click)")
        assert console.mode == "night" and console.stack.currentWidget() is console.night_view
        assert console.timer.interval() == NIGHT_POLL_MS and not console.status_timer.isActive()
        assert console.night_view.labels["clock"].text() != "–"
        frames, polls, samples = console.traces.frames_drawn, console.polls, console.samples_seen
        qtbot.wait(3000)
        n_polls = console.polls - polls
        assert 3 <= n_polls <= 8  # 2 per second (the lab screen polls 60 times a second)
        assert console.traces.frames_drawn == frames  # no trace drawn at night
        assert console.samples_seen > samples + 500  # ... but the data kept coming
        # a key press anywhere wakes the screen: traces with data younger than 200 ms, at once
        t0 = time.monotonic()
        qtbot.keyClick(console.night_view, QtCore.Qt.Key.Key_Shift)
        assert console.peeking and console.stack.currentWidget() is console.lab_page
        assert console.traces.frames_drawn > frames
        assert time.monotonic() - t0 < 0.2
        assert time.time() - console.last_sample_stamp < 0.2
        assert console.timer.interval() == console.poll_ms
        console._end_peek()
        assert console.stack.currentWidget() is console.night_view
        assert console.timer.interval() == NIGHT_POLL_MS
        engine.stop()
        qtbot.waitUntil(lambda: not console.timer.isActive(), timeout=5000)  # drawing stops at the end
        polls = console.polls
        qtbot.wait(600)
        assert console.polls == polls
    finally:
        console.close()


def test_minimised_window_drains_without_drawing(qtbot):
    engine = _synthetic_engine()
    console = NightConsole(engine, board_name="synthetic")
    qtbot.addWidget(console)
    console.show()
    try:
        qtbot.waitUntil(lambda: console.traces.frames_drawn >= 3, timeout=15000)
        console.showMinimized()
        qtbot.wait(200)
        if not console.isMinimized():
            pytest.skip("this Qt platform does not minimise windows")
        frames, samples = console.traces.frames_drawn, console.samples_seen
        qtbot.wait(2500)
        assert console.timer.interval() == 1000
        assert console.traces.frames_drawn == frames and console.samples_seen > samples
        console.showNormal()
        qtbot.waitUntil(lambda: console.traces.frames_drawn > frames, timeout=2000)
    finally:
        console.close()


def test_trigger_outcomes():
    onsets = np.arange(10) * 30.0
    stages = np.array([2, 2, 4, 4, 4, 0, 0, 2, 2, 2])  # wake from 150 s to 210 s
    trig = [(95.0, "dream_report", "sound", "REM 2 min"), (215.0, "rem_cue", "sound", "cue")]
    out = trigger_outcomes(trig, onsets, stages, within_min=5.0)
    assert out[0].woke and out[0].woke_after_s == pytest.approx(55.0) and out[0].stage_before == 4
    assert not out[1].woke and out[1].woke_after_s is None and out[1].stage_before == 0
    short = trigger_outcomes(trig[:1], onsets, stages, within_min=0.5)  # wake came after 55 s > 30 s
    assert not short[0].woke


def _replayed_night(tmp_path, minutes: float):
    import argparse

    from dreamband.recordings.replay import RecordingSource
    from dreamband.session.engine import SessionEngine
    from dreamband.session.live import recorder_factory
    from dreamband.session.settings import SessionSettings
    from dreamband.session.sleeper import night_to_recording
    from dreamband.signal.simulate import simulate_night

    rec = night_to_recording(simulate_night(minutes / 60.0, 128.0, seed=3))
    settings = SessionSettings()
    settings.triggers.dream_report.enabled = True
    settings.triggers.nightmare_wake.enabled = True
    settings.actions.play_sound = "never"
    factory = recorder_factory(argparse.Namespace(session_dir=str(tmp_path)), True)
    return SessionEngine(RecordingSource(rec, speed="max", chunk_s=5.0), settings, recorder_factory=factory)


@pytest.mark.slow
def test_morning_view_after_a_replayed_night(qtbot, tmp_path):
    from dreamband.recordings.stats import sleep_statistics

    engine = _replayed_night(tmp_path, 100.0)
    console = NightConsole(engine, board_name="replay", start_engine=False, night_mode=True, morning=True)
    qtbot.addWidget(console)
    console.show()
    while not engine.ended:
        engine.step()
        console.poll(budget_s=10.0)
    console.poll(budget_s=10.0)
    assert console.mode == "morning" and console.stack.currentWidget() is console.morning_view
    assert not console.timer.isActive()  # nothing is drawn any more
    staged = [e for e in engine.epochs]
    stages = np.array([e.stage for e in staged], dtype=np.int8)
    view = console.morning_view
    np.testing.assert_array_equal(view.hypnogram.stages, stages)
    expected = sleep_statistics(stages, 30.0)
    assert view.stats == expected
    assert view.stat_labels["TST"].text().startswith(f"{int(expected['TST'] // 60)} h")
    fired = [t for t in engine.triggers]
    assert fired, "this generated night fires at least one trigger (a nightmare wake in its REM)"
    assert view.trigger_table.topLevelItemCount() == len(fired)
    first = view.trigger_table.topLevelItem(0)
    assert first.text(1) == fired[0].policy.replace("_", " ") and first.text(2) == fired[0].action
    assert first.text(4).startswith(("woke", "slept on"))
    # the report is written into the session folder once the engine closed it
    assert view.folder_button.isEnabled() and view.report_button.isEnabled()
    qtbot.waitUntil(lambda: view.report_path is not None, timeout=30000)
    assert view.report_path.name == "report.html" and view.report_path.parent == console.record_dir
    assert "Total sleep time" in view.report_path.read_text()
    console.close()


def test_console_without_engine_ends_into_the_morning_view(qtbot):
    console = NightConsole(sfreq=100.0, channel_names=["Fpz"], channel_types=["eeg"], morning=True)
    qtbot.addWidget(console)
    events: list[ev.Event] = []
    for i in range(6):
        events.append(ev.EpochStaged((i + 1) * 30.0, i, i * 30.0, [0, 1, 2, 2, 4, 0][i], (0.2,) * 5, 0.5))
    events.append(ev.TriggerFired(130.0, "rem_cue", "sound", 0.2, "REM for 1 min"))
    events.append(ev.SessionEnded(180.0, "the source finished"))
    console.handle_events(events)
    console.poll()
    assert console.mode == "morning"
    view = console.morning_view
    assert view.trigger_table.topLevelItem(0).text(4) == "woke after 0.3 min"  # the W epoch at 150 s
    assert not view.report_button.isEnabled()  # not recorded: nothing to open
    assert "not recorded" in view.report_button.toolTip()


@pytest.mark.slow
def test_screenshots_of_the_bedside_screens(tmp_path, qtbot):
    from pyqtgraph.Qt import QtGui

    from dreamband.cli import main

    night = tmp_path / "night.png"
    assert main(["screenshot", str(night), "--board", "sleeper", "--after", "300", "--screen", "night",
                 "--alarm", "06:30-07:00"]) == 0
    img = QtGui.QImage(str(night))
    assert (img.width(), img.height()) == (1400, 860)
    pixels = [img.pixelColor(x, y) for x in range(0, 1400, 4) for y in range(0, 860, 4)]
    assert max(c.blue() for c in pixels) < 40  # no blue light at night
    assert max(c.red() for c in pixels) > 80  # ... but dark-red text
    check = tmp_path / "check.png"
    assert main(["screenshot", str(check), "--board", "synthetic", "--after", "3", "--screen", "check"]) == 0
    assert check.stat().st_size > 10_000
    assert main(["screenshot", str(tmp_path / "x.png"), "--board", "sleeper", "--screen", "check"]) == 2
