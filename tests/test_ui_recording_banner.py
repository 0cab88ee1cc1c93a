"""A full disk mid-night puts a banner on the window at once, and it goes when writes work again.

The real recorder writes a real archive; the error is raised where the kernel would raise it
(``os.pwrite`` on the session folder's files, as in ``test_recording_errors``); the real
:class:`~dreamband.session.recorder_sink.RecorderSink` publishes into a real console (offscreen).
"""

from __future__ import annotations

import datetime as dt
import sys

import numpy as np
import pytest

pytest.importorskip("pytestqt")

from dreamband.firmware_bridge.chunk import StreamChunk  # noqa: E402
from dreamband.recordings.recorder import SessionRecorder, read_session_json  # noqa: E402
from dreamband.session import events as ev  # noqa: E402
from dreamband.session.bus import EventBus  # noqa: E402
from dreamband.session.recorder_sink import RecorderSink  # noqa: E402
from dreamband.ui.console import NightConsole  # noqa: E402
from tests.test_recording_errors import FullDisk  # noqa: E402

pytestmark = pytest.mark.skipif(not sys.platform.startswith("linux"), reason="needs /proc/self/fd")

SF = 100.0
START = dt.datetime(2024, 6, 1, 23, 30, tzinfo=dt.timezone.utc)


def test_a_full_disk_shows_a_banner_within_a_second_of_data_and_it_clears(tmp_path, monkeypatch, qtbot):
    rec = SessionRecorder(tmp_path / "night", {"sfreq": SF, "channel_names": ["Fpz"], "channel_types": ["eeg"],
                                               "start_time": START})
    console = NightConsole(sfreq=SF, channel_names=["Fpz"], channel_types=["eeg"], board_name="test")
    qtbot.addWidget(console)
    bus = EventBus()
    clock = [0.0]
    sink = RecorderSink(rec, bus.subscribe(name="recorder"), publish=console.handle_events, retry_s=100.0,
                        fallback_dirs=[], clock=lambda: clock[0])
    disk = FullDisk(monkeypatch, rec.folder)
    rng = np.random.default_rng(0)
    console.handle_events([ev.SessionStarted(0.0, {"start_time": START.isoformat(), "board": "test"})])

    def second(k: int) -> None:
        x = rng.normal(0, 20, (1, int(SF)))
        chunk = StreamChunk(x, np.arange(100) / SF + k, np.zeros(100), k * 100)
        events = [ev.SamplesArrived(time=k + 1.0, chunk=chunk)]
        bus.publish(events)
        console.handle_events(events)
        sink.pump()
        clock[0] += 1.0

    for k in range(5):
        second(k)
    assert console.stage_panel.banner.isHidden()
    disk.on = True
    second(5)  # the first refused write: the banner is up after this one second of data
    banner = console.stage_panel.banner
    assert not banner.isHidden()
    assert banner.text().startswith("RECORDING: Cannot write the recording")
    assert "No space left on device" in banner.text() and str(rec.folder) in banner.text()
    # a reconnect elsewhere must not take the recording's banner down
    console.handle_events([ev.Reconnected(6.0, "board back", {})])
    assert banner.text().startswith("RECORDING:") and not banner.isHidden()
    # lights off: the night view shows the same banner, large
    console.enter_night_mode("test")
    for k in range(6, 12):
        second(k)
    console._update_night_view()
    assert console.night_view.labels["banner"].text() == banner.text()
    assert not banner.isHidden()
    disk.on = False
    second(12)
    assert banner.isHidden() and console.recording_problem == ""
    sink.finish()
    assert read_session_json(rec.folder)["state"] == "closed"
    assert sink.lost_spans == []
