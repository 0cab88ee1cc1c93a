"""SessionRecorder (the BDF+ archive written as it goes), crash recovery after kill -9, reading session folders."""

from __future__ import annotations

import datetime as dt
import json
import os
import signal
import subprocess
import sys
import textwrap

import numpy as np
import pytest

from dreamband.firmware_bridge.chunk import StreamChunk
from dreamband.recordings.brainflow_csv import board_description
from dreamband.recordings.hypnogram import load_hypnogram
from dreamband.recordings.recorder import (
    SessionRecorder,
    default_sessions_dir,
    load_session,
    read_events,
    read_session_json,
    recover,
)
from dreamband.recordings.recording import load_recording
from dreamband.session.events import EpochStaged, MarkerInserted, SamplesArrived, TriggerFired

START = dt.datetime(2024, 6, 1, 23, 30, tzinfo=dt.timezone(dt.timedelta(hours=2)))


def _info(n_ch=2, **kw):
    info = {"sfreq": 100.0, "channel_names": ["Fpz", "Fp2", "accel_x"][:n_ch],
            "channel_types": ["eeg", "eeg", "accel"][:n_ch], "start_time": START,
            "board": "sleeper", "settings": {"alarm": "06:30-07:00"}, "model": {"name": "test"}}
    info.update(kw)
    return info


def _chunks(n_chunks, n=50, n_ch=2, seed=0):
    rng = np.random.default_rng(seed)
    for k in range(n_chunks):
        first = k * n
        data = rng.normal(0, 30, (n_ch, n))
        ts = np.arange(first, first + n) / 100.0
        markers = np.zeros(n)
        if k == 3:
            markers[5] = 2.0
        yield StreamChunk(data, ts, markers, first)


def test_record_close_and_read_back(tmp_path):
    rec = SessionRecorder(tmp_path, _info())
    folder = rec.folder
    assert folder.parent == tmp_path and folder.name == "2024-06-01_23-30-00"
    assert (folder.stat().st_mode & 0o777) == 0o700
    sent = list(_chunks(64))  # 32 s
    for c in sent:
        rec.write_chunk(c)
    rec.write_event(SamplesArrived(time=0.0, chunk=sent[0]))  # skipped
    rec.write_event(EpochStaged(time=30.0, epoch_index=0, onset=0.0, stage=2,
                                probabilities=(0.1, 0.1, 0.6, 0.1, 0.1), confidence=0.6))
    rec.write_event(TriggerFired(time=31.0, policy="smart_alarm", action="sound", intensity=0.2,
                                 reason="light sleep in the window", evidence={"p_light": np.float64(0.8)}))
    rec.write_event(MarkerInserted(time=31.5, value=3.0, label="user"))
    archive = rec.close()
    rec.close()  # twice is fine
    assert archive == folder / "session.bdf"
    for f in folder.iterdir():
        assert (f.stat().st_mode & 0o777) == 0o600, f
    assert not (folder / ".recording.lock").exists() and not (folder / "raw.csv").exists()
    meta = read_session_json(folder)
    assert meta["state"] == "closed" and meta["layout"]["kind"] == "dreamband"
    assert meta["n_samples"] == 3200 and meta["start_time"] == START.isoformat()
    assert meta["units"] == ["uV", "uV"] and meta["physical_ranges"] == [[-187500.0, 187500.0]] * 2
    assert meta["info"]["settings"] == {"alarm": "06:30-07:00"} and meta["info"]["board"] == "sleeper"
    assert meta["software"]["dreamband"] and meta["software"]["brainflow"]
    assert meta["model"] == {"name": "test"} and meta["settings"] == {"alarm": "06:30-07:00"}
    events, warn = read_events(folder)
    assert [e["kind"] for e in events] == ["epoch", "trigger", "marker"] and not warn
    assert load_hypnogram(folder)[0].tolist() == [2]
    back = load_session(folder)
    # 24 bits over the fixed ±187,500 µV: one step is 0.022 µV
    np.testing.assert_allclose(back.data, np.hstack([c.data for c in sent]), atol=0.012)
    assert back.markers[3 * 50 + 5] == 2.0 and back.start_time == START
    # the archive opens in MNE with its annotations (stages, triggers, markers)
    import mne

    raw = mne.io.read_raw_bdf(archive, verbose="error")
    assert raw.ch_names == ["Fpz", "Fp2"] and raw.info["sfreq"] == 100.0
    np.testing.assert_allclose(raw.get_data()[:, :3200] * 1e6, back.data, atol=1e-6)
    texts = list(raw.annotations.description)
    assert "Sleep stage N2" in texts and any(t.startswith("Trigger smart_alarm sound") for t in texts)
    assert "Marker 3 user" in texts and "Stream marker 2" in texts
    assert load_recording(folder).n_samples == 3200


def test_archive_fixed_range_gaps_and_clipping(tmp_path):
    """Lost samples come back as NaN (BAD_ACQ_SKIP), values beyond the ADC range are clipped and
    annotated, and the rest of the night keeps its 24-bit resolution."""
    import mne

    rec = SessionRecorder(tmp_path, _info())
    sent = list(_chunks(40))
    sent[10].data[:, 10:40] = np.nan  # 0.3 s lost in a dropout
    sent[20].data[1, 7] = 1e9  # one absurd value
    for c in sent:
        rec.write_chunk(c)
    rec.close()
    back = load_session(rec.folder)
    x = np.hstack([c.data for c in sent])
    lost = np.isnan(back.data)
    assert lost.sum() == np.isnan(x).sum() == 60 and lost[:, 510:540].all()
    ok = ~np.isnan(x) & (np.abs(x) < 1e6)
    assert np.abs(back.data[ok] - x[ok]).max() < 0.012
    assert back.data[1, 20 * 50 + 7] == pytest.approx(187500.0, abs=0.03)
    raw = mne.io.read_raw_bdf(rec.folder / "session.bdf", verbose="error")
    ann = {(round(a["onset"], 3), round(a["duration"], 3), a["description"]) for a in raw.annotations}
    assert (5.1, 0.3, "BAD_ACQ_SKIP") in ann and (10.07, 0.01, "BAD_clipped Fp2") in ann
    assert read_session_json(rec.folder)["clipped_samples"] == 1


def test_brainflow_layout_is_kept_for_the_export(tmp_path):
    d = board_description(-1)  # synthetic board layout
    rows = d["eeg_channels"][:2]
    rec = SessionRecorder(tmp_path, {"sfreq": 250.0, "channel_names": ["Fz", "C3"], "channel_types": ["eeg", "eeg"],
                                     "board": "synthetic", "board_id": -1, "start_time": START})
    rng = np.random.default_rng(1)
    sent = []
    for k in range(10):
        raw = rng.normal(0, 10, (d["num_rows"], 25))
        raw[d["timestamp_channel"]] = 1.7e9 + (np.arange(25) + 25 * k) / 250
        raw[d["marker_channel"]] = 0.0
        if k == 4:
            raw[rows, 3:8] = np.nan  # lost in a dropout
            raw[d["marker_channel"], 9] = 7.0
        rec.write_chunk(StreamChunk(raw[rows].copy(), raw[d["timestamp_channel"]].copy(),
                                    raw[d["marker_channel"]].copy(), 25 * k, raw))
        sent.append(raw)
    rec.close()
    meta = read_session_json(rec.folder)
    assert meta["layout"]["kind"] == "brainflow" and [m["row"] for m in meta["montage"]] == rows
    assert meta["layout"]["timestamp_column"] == d["timestamp_channel"] and meta["first_timestamp"] == 1.7e9
    # dreamband export FOLDER --format brainflow-csv: BrainFlow reads it back in the board's layout
    from brainflow.data_filter import DataFilter

    from dreamband.cli import main

    assert main(["export", str(rec.folder), "--format", "brainflow-csv", "-o", str(tmp_path / "n.csv")]) == 0
    table = DataFilter.read_file(str(tmp_path / "n.csv"))
    x = np.hstack(sent)
    assert table.shape == x.shape
    np.testing.assert_allclose(table[rows], x[rows], atol=0.012, equal_nan=True)
    assert np.isnan(table[rows][:, 103:108]).all() and table[d["marker_channel"], 109] == 7.0
    np.testing.assert_allclose(table[d["timestamp_channel"]], x[d["timestamp_channel"]], atol=1e-6)


_CRASH = textwrap.dedent("""
    import datetime as dt, os, signal, sys, time
    import numpy as np
    from dreamband.firmware_bridge.chunk import StreamChunk
    from dreamband.recordings.recorder import SessionRecorder
    from dreamband.session.events import EpochStaged
    rec = SessionRecorder(sys.argv[1], {"sfreq": 100.0, "channel_names": ["Fpz"], "channel_types": ["eeg"],
                                        "start_time": dt.datetime.now().astimezone()})
    print(rec.folder, flush=True)
    for k in range(200):
        n0 = k * 10
        rec.write_chunk(StreamChunk(np.full((1, 10), float(k)), np.arange(n0, n0 + 10) / 100, np.zeros(10), n0))
        if k % 30 == 29:
            rec.write_event(EpochStaged(time=k / 10, epoch_index=k // 30, onset=k / 10 - 3, stage=1,
                                        probabilities=(0.2, 0.5, 0.1, 0.1, 0.1)))
    os.pwrite(rec.bdf._fd, b"\\x01\\x02" * 50, os.fstat(rec.bdf._fd).st_size)  # a record cut by the kill
    os.pwrite(rec._events._fd, b'{"kind": "epoch", "time": 20', rec._events.offset)  # a line cut by the kill
    os.kill(os.getpid(), signal.SIGKILL)
""")


def test_kill_9_then_recover(tmp_path):
    proc = subprocess.run([sys.executable, "-c", _CRASH, str(tmp_path)], capture_output=True, text=True, timeout=60)
    assert proc.returncode == -signal.SIGKILL, proc.stderr
    folder = tmp_path / os.listdir(tmp_path)[0]
    assert read_session_json(folder)["state"] == "recording"
    report = recover(folder)
    assert report.n_samples == 2000 and report.duration_s == 20.0  # every complete record is kept
    assert report.bytes_dropped["session.bdf"] == 100 and report.bytes_dropped["events.jsonl"] > 0
    assert "Recovered" in report.summary()
    rec = load_recording(folder / "session.bdf")  # MNE reads the repaired file
    assert rec.n_samples == 2000
    np.testing.assert_allclose(rec.data[0, ::10], np.arange(200), atol=0.012)  # 24-bit step: 0.022 µV
    assert sum(a[2] == "Sleep stage N1" for a in rec.annotations) == 6
    meta = read_session_json(folder)
    assert meta["state"] == "recovered" and meta["n_samples"] == 2000
    again = recover(folder)
    assert again.already_closed


def test_loading_an_unfinished_folder_recovers_it(tmp_path):
    rec = SessionRecorder(tmp_path, _info(n_ch=1))
    for c in _chunks(20, n_ch=1):
        rec.write_chunk(c)
    # pretend the recording process died: lock names a process that does not exist
    (rec.folder / ".recording.lock").write_text("999999")
    loaded = load_recording(rec.folder)
    assert loaded.n_samples == 1000
    assert read_session_json(rec.folder)["state"] == "recovered"


def test_live_session_is_not_recovered_under_its_feet(tmp_path):
    rec = SessionRecorder(tmp_path, _info(n_ch=1))
    for c in _chunks(4, n_ch=1):
        rec.write_chunk(c)
    (rec.folder / ".recording.lock").write_text(str(os.getppid()))  # a live process
    with pytest.raises(RuntimeError, match="still being recorded"):
        recover(rec.folder)
    live = load_recording(rec.folder)  # read-only view of a running session
    assert live.n_samples == 200
    rec.close()


def test_unwritable_places_fail_at_start(tmp_path, monkeypatch):
    with pytest.raises(PermissionError, match="--session-dir"):
        SessionRecorder("/proc/dreamband-cannot-write-here", _info())
    afile = tmp_path / "a_file"
    afile.write_text("x")
    with pytest.raises(PermissionError, match="--session-dir"):
        SessionRecorder(afile, _info())
    import shutil
    from collections import namedtuple

    usage = namedtuple("usage", "total used free")
    monkeypatch.setattr(shutil, "disk_usage", lambda p: usage(10**9, 10**9 - 10**5, 10**5))
    with pytest.raises(OSError, match="MB free"):
        SessionRecorder(tmp_path, _info())


def test_bad_info_and_default_dir(monkeypatch, tmp_path):
    with pytest.raises(ValueError, match="sfreq"):
        SessionRecorder(tmp_path, {"channel_names": ["a"], "channel_types": ["eeg"]})
    with pytest.raises(ValueError, match="timezone"):
        SessionRecorder(tmp_path, _info(start_time=dt.datetime(2024, 1, 1)))
    monkeypatch.setenv("XDG_DATA_HOME", str(tmp_path / "xdg"))
    if sys.platform.startswith("linux"):
        assert default_sessions_dir() == tmp_path / "xdg" / "dreamband" / "sessions"
    rec = SessionRecorder(None, _info())
    assert rec.folder.parent == default_sessions_dir()
    rec.close()
    assert json.loads((rec.folder / "session.json").read_text())["state"] == "closed"


def test_live_synthetic_kill_9_then_recover(tmp_path):
    """The issue's done-when: `dreamband live --board synthetic --headless --session-dir DIR`,
    kill -9, `dreamband recover` -> a valid EDF+ with at most ~1 s missing."""
    import time

    pytest.importorskip("dreamband.session.live")
    env = dict(os.environ, PYTHONUNBUFFERED="1")
    proc = subprocess.Popen([sys.executable, "-m", "dreamband", "live", "--board", "synthetic", "--headless",
                             "--session-dir", str(tmp_path), "--status-every", "1"],
                            stdout=subprocess.PIPE, stderr=subprocess.STDOUT, env=env)
    try:
        deadline = time.monotonic() + 60
        seen = 0
        while time.monotonic() < deadline:  # wait for ~6 s of recorded data
            line = proc.stdout.readline().decode()
            if line.startswith("status:"):
                seen += 1
                if seen >= 6:
                    break
            if proc.poll() is not None:
                pytest.fail(f"dreamband live ended early with code {proc.returncode}")
        kill_time = time.time()
        os.kill(proc.pid, signal.SIGKILL)
        proc.wait(10)
    finally:
        if proc.poll() is None:
            proc.kill()
    folder = tmp_path / os.listdir(tmp_path)[0]
    assert subprocess.run([sys.executable, "-m", "dreamband", "recover", str(folder)], capture_output=True,
                          timeout=60).returncode == 0
    meta = read_session_json(folder)
    assert meta["state"] == "recovered" and meta["layout"]["kind"] == "brainflow"
    lost = kill_time - meta["first_timestamp"] - meta["duration_s"]
    assert -0.5 < lost < 1.0, lost
    import mne

    raw = mne.io.read_raw_bdf(folder / "session.bdf", verbose="error")
    assert len(raw.ch_names) == len(meta["channel_names"]) and raw.n_times == meta["n_samples"]
    assert raw.info["sfreq"] == 250.0
