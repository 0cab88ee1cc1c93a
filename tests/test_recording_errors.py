"""Write errors mid-night: seen at once, the night goes on, retry, a second folder, the exact lost span.

The disk is a real one; the error is injected where the kernel would raise it (``os.pwrite``
on the files of one folder raises ENOSPC), or a real small tmpfs fills up where ``mount`` is allowed.
"""

from __future__ import annotations

import datetime as dt
import errno
import os
import re
import subprocess
import sys

import numpy as np
import pytest

from dreamband.firmware_bridge.chunk import StreamChunk
from dreamband.recordings.recorder import (
    SessionRecorder,
    load_session,
    read_events,
    read_session_json,
)
from dreamband.session.bus import EventBus
from dreamband.session.events import EpochStaged, LogMessage, SamplesArrived
from dreamband.session.recorder_sink import RecorderSink

pytestmark = pytest.mark.skipif(not sys.platform.startswith("linux"), reason="needs /proc/self/fd")

START = dt.datetime(2024, 6, 1, 23, 30, tzinfo=dt.timezone.utc)
SF = 100.0


class FullDisk:
    """``os.pwrite`` raising ENOSPC for files under ``under`` while ``on``."""

    def __init__(self, monkeypatch, under):
        self.under = str(under)
        self.on = False
        self.real = os.pwrite
        monkeypatch.setattr(os, "pwrite", self)

    def __call__(self, fd, data, offset):
        if self.on and os.readlink(f"/proc/self/fd/{fd}").startswith(self.under):
            raise OSError(errno.ENOSPC, "No space left on device")
        return self.real(fd, data, offset)


def _night(tmp_path, monkeypatch, **sink_kw):
    rec = SessionRecorder(tmp_path / "primary", {"sfreq": SF, "channel_names": ["Fpz"], "channel_types": ["eeg"],
                                                 "start_time": START})
    bus = EventBus()
    published: list = []
    clock = [0.0]
    sink = RecorderSink(rec, bus.subscribe(name="recorder"), publish=published.extend, clock=lambda: clock[0],
                        **sink_kw)
    disk = FullDisk(monkeypatch, rec.folder)
    rng = np.random.default_rng(0)
    sent = []

    def second(k):
        x = rng.normal(0, 20, (1, int(SF)))
        sent.append(x)
        evs = [SamplesArrived(time=k + 1.0, chunk=StreamChunk(x, np.arange(100) / SF, np.zeros(100), k * 100))]
        if k % 30 == 29:
            evs.append(EpochStaged(time=k + 1.0, epoch_index=k // 30, onset=k - 29.0, stage=2,
                                   probabilities=(0.1, 0.1, 0.6, 0.1, 0.1), confidence=0.6))
        bus.publish(evs)
        sink.pump()
        clock[0] += 1.0

    return rec, sink, disk, published, second, sent


def test_a_full_disk_is_said_at_once_and_nothing_is_lost_when_it_comes_back(tmp_path, monkeypatch):
    rec, sink, disk, published, second, sent = _night(tmp_path, monkeypatch, retry_s=100.0, fallback_dirs=[])
    for k in range(10):
        second(k)
    disk.on = True
    second(10)
    warn = [e for e in published if isinstance(e, LogMessage) and e.level == "warning"]
    assert len(warn) == 1 and "No space left on device" in warn[0].message and warn[0].time == 11.0
    assert "NOT WRITING" in sink.problem
    for k in range(11, 40):  # 30 s on a full disk, an epoch among them: the samples wait in memory
        second(k)
    assert "30 s in memory" in sink.problem
    disk.on = False
    for k in range(40, 65):
        second(k)
    assert sink.problem is None and any("works again" in e.message and "nothing lost" in e.message
                                        for e in published if isinstance(e, LogMessage))
    sink.finish()
    assert sink.lost_spans == [] and sink.lost_text() == "nothing"
    back = load_session(rec.folder)
    np.testing.assert_allclose(back.data, np.hstack(sent), atol=0.012)
    events, _ = read_events(rec.folder)
    assert [e["epoch_index"] for e in events if e["kind"] == "epoch"] == [0, 1]
    assert read_session_json(rec.folder)["state"] == "closed"


def test_after_retrying_the_night_continues_in_a_second_folder(tmp_path, monkeypatch):
    second_dir = tmp_path / "second"
    rec, sink, disk, published, second, sent = _night(tmp_path, monkeypatch, retry_s=3.0,
                                                      fallback_dirs=[tmp_path / "primary", second_dir])
    for k in range(10):
        second(k)
    disk.on = True  # for good: the primary folder never takes a write again
    for k in range(10, 60):
        second(k)
    moved = [e.message for e in published if "continues in" in getattr(e, "message", "")]
    assert len(moved) == 1 and str(second_dir) in moved[0]
    sink.finish()
    assert sink.lost_spans == [] and len(sink.folders) == 2
    cont = sink.folders[1]
    meta2 = read_session_json(cont)
    assert cont.parent == second_dir and meta2["state"] == "closed" and meta2["continues"] == str(rec.folder)
    assert meta2["continues_at_s"] == 10.0 and meta2["start_time"] == (START + dt.timedelta(seconds=10)).isoformat()
    first, rest = load_session(rec.folder), load_session(cont)
    assert read_session_json(rec.folder)["state"] == "continued"
    np.testing.assert_allclose(np.hstack([first.data, rest.data]), np.hstack(sent), atol=0.012)
    # epoch 1 (onset 30 s) is at 20 s of the second archive; epoch 0 began before it: events.jsonl has both
    assert [a[0] for a in rest.annotations if a[2] == "Sleep stage N2"] == [20.0]
    assert [e["epoch_index"] for e in read_events(cont)[0] if e["kind"] == "epoch"] == [0, 1]


def test_when_no_folder_takes_it_the_oldest_samples_go_and_the_span_is_exact(tmp_path, monkeypatch):
    rec, sink, disk, published, second, sent = _night(tmp_path, monkeypatch, retry_s=2.0, fallback_dirs=[],
                                                      max_behind_s=5.0)
    for k in range(10):
        second(k)
    disk.on = True
    for k in range(10, 30):
        second(k)
    assert any("No second folder" in getattr(e, "message", "") for e in published)
    disk.on = False
    for k in range(30, 40):
        second(k)
    sink.finish()
    assert sink.lost_spans == [(10.0, 25.0)] and sink.lost_text() == "0:00:10-0:00:25 (15.0 s)"
    back = load_session(rec.folder)
    x = np.hstack(sent)
    assert back.n_samples == x.shape[1]
    lost = np.isnan(back.data[0])
    assert lost.sum() == 1500 and lost[1000:2500].all()  # the lost span is a gap, never zeros
    np.testing.assert_allclose(back.data[:, ~lost], x[:, ~lost], atol=0.012)


def test_replay_with_a_disk_that_fills_mid_night(tmp_path, monkeypatch, capsys):
    """The CLI: the warning within 10 s of data, the status line says it, the night goes on in a
    second folder, the end summary names the exact lost span."""
    from dreamband.cli import main
    from dreamband.recordings.bdf_writer import ANNOTATION_SAMPLES

    monkeypatch.setenv("XDG_DATA_HOME", str(tmp_path / "xdg"))
    edf = tmp_path / "night.edf"
    assert main(["simulate", str(edf), "--hours", "0.5", "--seed", "3", "--sfreq", "100"]) == 0
    sessions = tmp_path / "s"
    real = os.pwrite
    record = 3 * (4 * 20 + ANNOTATION_SAMPLES)
    fail_at = 256 * 6 + int(600 / 0.2) * record  # once the archive holds 10 min
    state = {"on": False}

    def pwrite(fd, data, offset):
        path = os.readlink(f"/proc/self/fd/{fd}")
        if path.startswith(str(sessions)):
            if path.endswith(".bdf") and offset >= fail_at:
                state["on"] = True
            if state["on"]:
                raise OSError(errno.ENOSPC, "No space left on device")
        return real(fd, data, offset)

    monkeypatch.setattr(os, "pwrite", pwrite)
    rc = main(["replay", str(edf), "--speed", "max", "--headless", "--session-dir", str(sessions),
               "--status-every", "0"])
    out = capsys.readouterr()
    text = out.out + out.err
    assert rc == 1 and "part of the night was not recorded" in text, text  # never 0 when data was lost
    warn = re.search(r"\s(\d:\d\d:\d\d)\s+\S+\s+warning: Cannot write the recording in .*No space left", text)
    assert warn, text
    h, m, s = (int(v) for v in warn.group(1).split(":"))
    assert 600 <= h * 3600 + m * 60 + s <= 610  # said within 10 s of data
    assert "continues in" in text and "recording: the night is in 2 folders" in text
    lost = re.search(r"recording: lost (\S+)-(\S+) \(([\d.]+) s\)", text)
    assert lost, text
    primary = next(sessions.iterdir())
    cont = next((tmp_path / "xdg" / "dreamband" / "sessions").iterdir())
    a, b = load_session(primary), load_session(cont)
    gap = np.isnan(b.data[0])
    assert a.duration_s == 600.0 and a.duration_s + b.duration_s == 1800.0
    assert gap.sum() / 100.0 == float(lost.group(3)) and gap[: int(gap.sum())].all()  # the span, exactly


def test_a_real_small_tmpfs_fills_up(tmp_path):
    """Where mount is allowed: a 3-MB tmpfs fills about 13 minutes into a 4-channel night."""
    mnt = tmp_path / "tiny"
    mnt.mkdir()
    if subprocess.run(["mount", "-t", "tmpfs", "-o", "size=3m", "tmpfs", str(mnt)], capture_output=True).returncode:
        pytest.skip("cannot mount a tmpfs here")
    try:
        edf = tmp_path / "night.edf"
        env = {**os.environ, "XDG_DATA_HOME": str(tmp_path / "xdg"), "CI": "1"}
        run = [sys.executable, "-m", "dreamband"]
        assert subprocess.run(run + ["simulate", str(edf), "--hours", "0.5", "--seed", "4"], env=env,
                              capture_output=True).returncode == 0
        out = subprocess.run(run + ["replay", str(edf), "--speed", "max", "--headless", "--session-dir", str(mnt),
                                    "--status-every", "0"], env=env, capture_output=True, text=True, timeout=300)
        text = out.stdout + out.stderr
        assert out.returncode == 1, text
        assert "No space left on device" in text and "continues in" in text, text
        assert "recording: lost" in text
        folders = [next(mnt.iterdir()), next((tmp_path / "xdg" / "dreamband" / "sessions").iterdir())]
        total = sum(load_session(f).duration_s for f in folders)
        assert total == 1800.0
    finally:
        subprocess.run(["umount", str(mnt)], capture_output=True)
