"""Issue 12 (g): the board's real rate from its timestamps; data time mapped to wall time; ppm shown."""

from __future__ import annotations

import datetime as dt
import io

import numpy as np
import pytest

from dreamband.firmware_bridge.chunk import StreamChunk
from dreamband.firmware_bridge.clock import DriftTracker
from dreamband.session.headless import HeadlessPrinter
from dreamband.session.pipeline import SessionPipeline
from dreamband.session.settings import SessionSettings, parse_window
from dreamband.session.triggers.smart_alarm import window_seconds

START = dt.datetime(2024, 11, 5, 23, 0, tzinfo=dt.timezone.utc)


def _stamps(idx: np.ndarray, real: float, rng) -> np.ndarray:
    """Host arrival times of samples from a board running at ``real`` Hz: late by 0-30 ms, never early."""
    return START.timestamp() + idx / real + rng.exponential(0.008, idx.size).clip(0, 0.03)


@pytest.mark.parametrize("ppm", [3000.0, -2000.0, 0.0])
def test_tracker_measures_the_board_rate(ppm):
    nominal = 250.0
    real = nominal * (1 + ppm * 1e-6)
    rng = np.random.default_rng(0)
    tr = DriftTracker(nominal)
    step = 50  # 0.2-s chunks, as BrainFlow delivers
    for i in range(0, int(600 * nominal), step):
        tr.update(i, _stamps(np.arange(i, i + step), real, rng))
    assert tr.ppm == pytest.approx(ppm, abs=30.0)
    assert tr.rate == pytest.approx(real, abs=0.01)


def test_alarm_and_wall_clock_follow_a_fast_board():
    """A board 0.3 % fast: 8 h of wall time hold 8 h 1 min 26 s of samples; the alarm follows the wall."""
    sfreq = 128.0
    real = sfreq * 1.003
    s = SessionSettings()
    s.triggers.smart_alarm.window = "07:00-07:30"
    pipe = SessionPipeline(sfreq, ["Fp1"], ["eeg"], s, start_datetime=START, arousals=False)
    rng = np.random.default_rng(1)
    step = int(sfreq)
    n = int(300 * sfreq)
    data = 20.0 * rng.standard_normal((1, n))
    for i in range(0, n, step):
        idx = np.arange(i, min(i + step, n))
        pipe.process(StreamChunk(data[:, idx], _stamps(idx, real, rng), np.zeros(idx.size), i))
    assert pipe.drift.ppm == pytest.approx(3000.0, abs=100.0)
    ws_wall, we_wall = window_seconds(START, parse_window("07:00-07:30"))
    ws, we = pipe.policies["smart_alarm"].window_session_s(pipe.night)
    assert ws == pytest.approx(ws_wall * 1.003, rel=1e-4)  # 8 h of wall = 8 h 1.4 min of data
    assert ws - ws_wall == pytest.approx(86.4, abs=3.0)  # without the tracker: 86 s late
    wall = pipe.night.wall_clock(ws)
    assert abs((wall - START).total_seconds() - ws_wall) < 3.0
    out = io.StringIO()
    HeadlessPrinter(START, out=out).status({"samples": n, "data_s": 300.0, "wall_s": 299.1, "achieved_rate": 128.4,
                                            "nominal_rate": 128.0, "lost_samples": 0, "dropouts": 0, "epochs": 10,
                                            "drift_ppm": pipe.drift.ppm, "board_rate": pipe.drift.rate})
    assert "clock drift +3" in out.getvalue() and "ppm (board 128.38" in out.getvalue()


def test_the_window_status_bar_shows_the_drift_and_a_recording_problem(qtbot, tmp_path):
    """The console's status bar says what the headless status line says: drift ppm and write trouble."""
    pytest.importorskip("pytestqt")
    from dreamband.ui.console import NightConsole

    rng = np.random.default_rng(2)
    tracker = DriftTracker(250.0)
    for i in range(0, int(600 * 250.0), 50):
        tracker.update(i, _stamps(np.arange(i, i + 50), 250.0 * (1 - 2000e-6), rng))

    class EngineCounters:  # the status bar reads only ``stats()`` of the engine
        def __init__(self, problem):
            self.problem = problem

        def stats(self):
            return {"achieved_rate": 250.0, "lost_samples": 0, "dropouts": 0, "drift_ppm": tracker.ppm,
                    "board_rate": tracker.rate, "recording": self.problem}

    console = NightConsole(sfreq=250.0, channel_names=["Fp1"], channel_types=["eeg"], board_name="cyton",
                           record_dir=tmp_path)
    qtbot.addWidget(console)
    console.update_status()
    assert console.status_labels["clock"].text() == ""  # no engine: nothing measured, nothing claimed
    console.engine = EngineCounters("NOT WRITING for 3 s, 3 s in memory")
    console.update_status()
    assert console.status_labels["clock"].text().startswith("clock drift -2")
    assert "ppm (board 249.5" in console.status_labels["clock"].text()
    assert console.status_labels["record"].text().endswith("recording: NOT WRITING for 3 s, 3 s in memory")
    console.engine.problem = None
    console.update_status()
    assert "NOT WRITING" not in console.status_labels["record"].text()
