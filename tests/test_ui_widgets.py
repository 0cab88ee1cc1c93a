"""The night console's panels on their own (pytest-qt, offscreen), fed real arrays and events."""

from __future__ import annotations

import datetime as dt

import numpy as np
import pytest
from scipy.signal import butter, sosfilt, sosfilt_zi

pytest.importorskip("pytestqt")

from pyqtgraph.Qt import QtCore, QtWidgets  # noqa: E402

from dreamband.ui import theme  # noqa: E402
from dreamband.ui.controls import ReplayControls, TriggerControls  # noqa: E402
from dreamband.ui.hypnogram import HypnogramPanel, rem_runs  # noqa: E402
from dreamband.ui.spectrogram import SpectrogramAccumulator, SpectrogramPanel, pick_frontal  # noqa: E402
from dreamband.ui.stage_panel import StagePanel, alarm_countdown  # noqa: E402
from dreamband.ui.timeaxis import ClockAxis, clock_text, format_duration  # noqa: E402
from dreamband.ui.traces import TraceBuffer, TracePanel  # noqa: E402

SFREQ = 250.0


def _eeg(n_ch: int, n: int, seed: int = 0) -> np.ndarray:
    rng = np.random.default_rng(seed)
    t = np.arange(n) / SFREQ
    return 40.0 * rng.standard_normal((n_ch, n)) + 50.0 * np.sin(2 * np.pi * 10 * t) + 300.0


# ---------------------------------------------------------------- traces
def test_trace_buffer_chunked_filter_matches_one_block_reference():
    x = _eeg(3, 5000)
    buf = TraceBuffer(SFREQ, ["eeg"] * 3, capacity_s=30.0)
    for start in range(0, 5000, 37):  # odd chunk sizes
        buf.push(x[:, start:start + 37])
    sos = butter(2, [0.3, 35.0], btype="bandpass", fs=SFREQ, output="sos")
    zi = sosfilt_zi(sos)[:, None, :] * x[:, :1][None, :, :]
    ref, _ = sosfilt(sos, x, axis=1, zi=zi)
    np.testing.assert_allclose(buf.latest(5000), ref, rtol=1e-9, atol=1e-9)
    assert buf.total == 5000


def test_trace_buffer_shows_lost_samples_as_gaps_and_recovers():
    x = _eeg(2, 1000)
    x[0, 400:450] = np.nan
    buf = TraceBuffer(SFREQ, ["eeg", "emg"], capacity_s=10.0)
    buf.push(x[:, :500])
    buf.push(x[:, 500:])
    y = buf.latest(1000)
    assert np.isnan(y[0, 400:450]).all()
    assert np.isfinite(y[0, 450:]).all() and np.isfinite(y[1]).all()


def test_trace_buffer_rejects_wrong_shape():
    buf = TraceBuffer(SFREQ, ["eeg"] * 2)
    with pytest.raises(ValueError, match="shape"):
        buf.push(np.zeros((3, 10)))
    with pytest.raises(ValueError, match="sfreq"):
        TraceBuffer(0.0, ["eeg"])


def test_trace_panel_draws_the_window_with_gain_and_quality(qtbot):
    names = ["Fp1", "Fp2", "EOG", "ax"]
    panel = TracePanel(names, ["eeg", "eeg", "eog", "accel"], SFREQ, window_s=10.0, gain_uv=100.0)
    qtbot.addWidget(panel)
    assert panel.names == ["Fp1", "Fp2", "EOG"]  # accelerometer rows are not µV traces
    panel.push(_eeg(4, 3000))
    assert panel.refresh() is True
    assert panel.refresh() is False  # nothing new: no redraw
    x, y = panel.curves[1].getData()
    assert x.size == 2500 and x[-1] == pytest.approx(0.0) and x[0] == pytest.approx(-9.996)
    expected = np.clip(panel.buffer.latest(2500)[1] / 100.0, -1.0, 1.0) - 1.0
    np.testing.assert_allclose(y, expected)
    assert np.abs(y + 1.0).max() <= 1.0  # clipped: a channel never paints over its neighbours
    panel.set_gain(50.0)
    panel.refresh()
    expected = np.clip(panel.buffer.latest(2500)[1] / 50.0, -1.0, 1.0) - 1.0
    np.testing.assert_allclose(panel.curves[1].getData()[1], expected)
    assert panel.scale_label.textItem.toPlainText() == "50 µV"
    panel.step_window(-1)
    panel.refresh()
    assert panel.window_s == 5.0 and panel.curves[0].getData()[0].size == 1250
    with pytest.raises(ValueError):
        panel.set_window(600.0)
    panel.set_quality("Fp2", "railed")
    assert panel.curves[1].opts["pen"].color().name() == theme.quality_colour("railed")
    assert panel.status["Fp2"] == "railed"


# ---------------------------------------------------------------- spectrogram
def test_spectrogram_columns_find_the_rhythm_and_keep_one_hour():
    acc = SpectrogramAccumulator(SFREQ, step_s=10.0, span_s=60.0)
    t = np.arange(int(95 * SFREQ)) / SFREQ
    x = 30 * np.sin(2 * np.pi * 12.0 * t) + np.random.default_rng(1).standard_normal(t.size)
    made = acc.push(x[:10000], 0.0) + acc.push(x[10000:], 40.0)
    assert made == 9
    img, t0, t1 = acc.image()
    assert img.shape == (6, acc.freqs.size)  # only the last 60 s (6 columns) are kept
    assert (t0, t1) == (30.0, 90.0)
    assert np.allclose(acc.freqs[np.argmax(img, axis=1)], 12.0)
    acc.jump(20.0)  # back in time: start over
    assert acc.image()[0].shape[0] == 0


def test_spectrogram_panel_shows_an_image(qtbot):
    panel = SpectrogramPanel(SFREQ, "Fp1", step_s=5.0)
    qtbot.addWidget(panel)
    panel.push(_eeg(1, int(60 * SFREQ))[0], 0.0)
    assert panel.refresh()
    assert panel.image_item.image.shape == (12, panel.acc.freqs.size)
    assert pick_frontal(["C3", "Fp2", "Fp1"], ["eeg"] * 3) == 2
    assert pick_frontal(["EOG", "C3"], ["eog", "eeg"]) == 1


# ---------------------------------------------------------------- hypnogram
def test_rem_runs_and_hypnogram_truncate_on_seek_back(qtbot):
    stages = np.array([0, 1, 2, 4, 4, 2, 4, 3], dtype=np.int8)
    onsets = np.arange(stages.size) * 30.0
    assert rem_runs(onsets, stages, 30.0) == [(90.0, 150.0), (180.0, 210.0)]
    panel = HypnogramPanel()
    qtbot.addWidget(panel)
    for onset, stage in zip(onsets, stages, strict=True):
        panel.add_epoch(onset, int(stage))
    panel.add_trigger(200.0, "smart_alarm", "N2 in the window")
    panel.add_marker(100.0, "user")
    assert panel.refresh()
    x, y = panel.stage_curves[4].getData()
    assert x.size == 6 and np.all(y == theme.STAGE_ROWS[4])
    assert sum(r.isVisible() for r in panel._rem_regions) == 2
    assert panel._trigger_items[0].isVisible()
    panel.add_epoch(120.0, 2)  # a replay restarted at 2 min: later epochs are dropped
    assert panel.onsets.tolist() == [0.0, 30.0, 60.0, 90.0, 120.0]
    assert panel.triggers == [] and len(panel.markers) == 1


def test_hypnogram_click_requests_a_seek_only_when_enabled(qtbot):
    panel = HypnogramPanel()
    qtbot.addWidget(panel)
    panel.resize(800, 200)
    panel.show()
    qtbot.waitExposed(panel)
    for i in range(240):
        panel.add_epoch(i * 30.0, 2)
    panel.refresh()
    vb = panel.getPlotItem().getViewBox()
    point = panel.mapFromScene(vb.mapViewToScene(QtCore.QPointF(1.0, 1.0)))
    got: list[float] = []
    panel.seekRequested.connect(got.append)
    qtbot.mouseClick(panel.viewport(), QtCore.Qt.MouseButton.LeftButton, pos=point)
    assert got == []
    panel.seek_enabled = True
    qtbot.mouseClick(panel.viewport(), QtCore.Qt.MouseButton.LeftButton, pos=point)
    assert len(got) == 1 and got[0] == pytest.approx(3600.0, abs=60.0)


# ---------------------------------------------------------------- stage panel and controls
def test_stage_panel_shows_stage_probabilities_and_state(qtbot):
    panel = StagePanel()
    qtbot.addWidget(panel)
    panel.set_epoch(4, (0.05, 0.05, 0.1, 0.0, 0.8), 0.8)
    assert panel.stage_label.text() == "REM"
    assert [b.value() for b in panel.bars] == [5, 5, 10, 0, 80]
    start = dt.datetime(2026, 11, 24, 23, 0, tzinfo=dt.timezone.utc)
    state = {"time": 5400.0, "total_sleep_min": 70.0, "sleep_onset": 600.0,
             "sleep_onset_latency_min": 10.0, "cycle": 1, "rem_count": 1,
             "rem_periods": [{"start": 5000.0, "end": 5400.0, "rem_min": 6.5, "closed": False}],
             "waso_min": 0.0, "awakenings": 0, "signal_lost": False}
    panel.set_state("dreaming", state, start, (dt.time(6, 30), dt.time(7, 0)))
    assert panel.plain_label.text() == "dreaming"
    assert panel.facts["asleep"].text() == "1 h 10 min"
    assert panel.facts["onset"].text().startswith("23:10")
    assert panel.facts["rem"].text() == "1 (last 6 min, now)"
    assert panel.facts["alarm"].text() == "in 6 h 00 min"
    panel.set_epoch(-1, (), float("nan"), quality_ok=False, reasons=("Fp1: off-head",))
    assert panel.stage_label.text() == "?" and "off-head" in panel.confidence_label.text()
    panel.set_state("signal lost", dict(state, signal_lost=True), start, None)
    assert not panel.banner.isHidden() and panel.banner.text() == "signal lost"


def test_alarm_countdown_and_time_words():
    start = dt.datetime(2026, 11, 24, 23, 0, tzinfo=dt.timezone.utc)
    window = (dt.time(6, 30), dt.time(7, 0))
    assert alarm_countdown({}, window, 7.5 * 3600 + 600, start) == "window open (20 min left)"
    assert alarm_countdown({}, None, 0.0, start) == "no alarm set"
    assert format_duration(3900) == "1 h 05 min" and format_duration(None) == "–"
    assert clock_text(start, 90 * 60) == "00:30" and clock_text(None, 90 * 60) == "1:30"
    axis = ClockAxis()
    axis.set_start(start.replace(minute=7))
    ((spacing, values),) = axis.tickValues(0.0, 2.0, 800)
    assert spacing == pytest.approx(0.25)
    labels = axis.tickStrings(values, 1.0, spacing)
    assert labels[0] == "23:15" and all(label[-2:] in ("00", "15", "30", "45") for label in labels)


def test_safety_cannot_be_switched_off_without_confirmation(qtbot):
    policies = [("smart_alarm", True, False), ("safety_max_length", True, True)]
    controls = TriggerControls(policies, (dt.time(6, 30), dt.time(7, 0)), actions=["all", "log"])
    qtbot.addWidget(controls)
    emitted: list[tuple] = []
    controls.policyToggled.connect(lambda *a: emitted.append(a))
    asked: list[str] = []
    controls.confirm = lambda title, text: asked.append(title) or False
    controls.checks["safety_max_length"].setChecked(False)
    assert asked and controls.checks["safety_max_length"].isChecked() and emitted == []
    controls.confirm = lambda title, text: True
    controls.checks["safety_max_length"].setChecked(False)
    assert emitted == [("safety_max_length", False, True)]
    controls.checks["smart_alarm"].setChecked(False)  # no confirmation for the others
    assert emitted[-1] == ("smart_alarm", False, False)
    windows: list[str] = []
    controls.alarmWindowRequested.connect(windows.append)
    controls.alarm_start.setTime(QtCore.QTime(5, 45))
    qtbot.mouseClick(controls.alarm_button, QtCore.Qt.MouseButton.LeftButton)
    assert windows == ["05:45-07:00"]
    fires: list[tuple] = []
    controls.testFireRequested.connect(lambda *a: fires.append(a))
    controls.test_action.setCurrentText("log")
    qtbot.mouseClick(controls.test_button, QtCore.Qt.MouseButton.LeftButton)
    assert fires == [("log", pytest.approx(0.1))]
    assert controls.test_intensity.maximum() <= 0.3  # tests stay gentle


def test_replay_controls_emit_pause_speed_and_seek(qtbot):
    controls = ReplayControls(3600.0, "1x")
    qtbot.addWidget(controls)
    got: list = []
    controls.pauseToggled.connect(lambda p: got.append(("pause", p)))
    controls.speedChanged.connect(lambda s: got.append(("speed", s)))
    controls.seekRequested.connect(lambda t: got.append(("seek", t)))
    controls.toggle()
    controls.step_speed(+1)
    controls.speed_box.setCurrentText("max")
    controls.set_position(1800.0)
    controls.slider.setSliderDown(True)  # dragging: no seek until released
    controls.slider.setValue(900)
    controls.slider.setSliderDown(False)  # released: one seek
    controls.slider.triggerAction(QtWidgets.QAbstractSlider.SliderAction.SliderPageStepAdd)
    assert got == [("pause", True), ("speed", "2"), ("speed", "max"), ("seek", 900.0), ("seek", 1500.0)]
    assert controls.play_button.text() == "Play"
    assert controls.position_label.text() == "0:30 / 1:00"


def test_hypnogram_draws_the_scored_reference_up_to_now(qtbot):
    panel = HypnogramPanel()
    qtbot.addWidget(panel)
    panel.set_reference([(0.0, 600.0, 0), (600.0, 1200.0, 2), (1500.0, 1800.0, 4)])
    for i in range(30):  # 15 min played
        panel.add_epoch(i * 30.0, 2)
    panel.refresh()
    x, y = panel.reference_curve.getData()
    # scored W until 10 min, then N2; only up to 'now' (15 min) is drawn
    assert x.tolist() == pytest.approx([0.0, 600 / 3600, 900 / 3600])
    assert y.tolist() == [theme.STAGE_ROWS[0], theme.STAGE_ROWS[2]]
    for i in range(30, 60):
        panel.add_epoch(i * 30.0, 4)
    panel.refresh()
    x, y = panel.reference_curve.getData()
    assert y.tolist() == [theme.STAGE_ROWS[s] for s in (0, 2, -1, 4)]
    assert x[-1] == pytest.approx(1800 / 3600)


def test_auto_gain_fits_the_signal(qtbot):
    panel = TracePanel(["Fp1", "Fp2"], ["eeg", "eeg"], SFREQ, gain_uv=1000.0)
    qtbot.addWidget(panel)
    assert panel.auto_gain() == 1000.0  # no data yet: unchanged
    rng = np.random.default_rng(3)
    panel.push(300.0 + 20.0 * rng.standard_normal((2, int(5 * SFREQ))))
    # band-passed white noise keeps ~sqrt(34.7/125) of its 20 µV SD: ~10.5 µV -> 3 SD ~ 32 -> 50 µV
    assert panel.auto_gain() == 50.0
    assert panel.scale_label.textItem.toPlainText() == "50 µV"
