"""A whole generated 8-hour night, recorded through ``replay --speed max``, closes: exit 0, a
complete BDF+ archive that MNE opens with the night's stages, session.json closed, no lock."""

from __future__ import annotations

import os
import subprocess
import sys

import numpy as np
import pytest

from dreamband.recordings.recorder import load_session, read_session_json


def _dreamband(*args: str, cwd, timeout: float) -> subprocess.CompletedProcess:
    return subprocess.run([sys.executable, "-m", "dreamband", *args], cwd=cwd, capture_output=True, text=True,
                          timeout=timeout, env={**os.environ, "CI": "1"})


@pytest.mark.slow
def test_an_8_hour_night_closes_with_a_complete_archive(tmp_path):
    sim = _dreamband("simulate", "n.edf", "--hours", "8", "--seed", "5", cwd=tmp_path, timeout=180)
    assert sim.returncode == 0, sim.stderr
    out = _dreamband("replay", "n.edf", "--speed", "max", "--headless", "--session-dir", "s", cwd=tmp_path,
                     timeout=400)
    assert out.returncode == 0, out.stderr[-2000:]
    folders = list((tmp_path / "s").iterdir())
    assert len(folders) == 1
    folder = folders[0]
    assert f"session folder: s/{folder.name}" in out.stdout
    meta = read_session_json(folder)
    n = 8 * 3600 * 250
    assert meta["state"] == "closed" and meta["n_samples"] == n and meta["duration_s"] == 8 * 3600
    assert sorted(p.name for p in folder.iterdir()) == ["events.jsonl", "hypnogram.csv", "session.bdf",
                                                         "session.json"]
    size = sum(p.stat().st_size for p in folder.iterdir())
    assert size < 120e6, f"{size / 1e6:.0f} MB"
    import mne

    raw = mne.io.read_raw_bdf(folder / "session.bdf", verbose="error")
    # the last events came after the last sample: their annotations need one more (padded) record
    assert n <= raw.n_times <= n + 250 and raw.ch_names == meta["channel_names"]
    if raw.n_times > n:
        pad = [a for a in raw.annotations if a["description"] == "BAD_ACQ_SKIP"]
        assert [(a["onset"], round(a["duration"], 3)) for a in pad] == [(8 * 3600.0, (raw.n_times - n) / 250)]
    stages = [d for d in raw.annotations.description if d.startswith("Sleep stage")]
    assert len(stages) == 8 * 120 - 1 or len(stages) == 8 * 120  # every staged epoch
    back = load_session(folder)
    assert back.n_samples == n and not np.isnan(back.data).any()


@pytest.mark.slow
@pytest.mark.parametrize("kill_after_status", [1, 4])
def test_kill_9_mid_replay_then_recover(tmp_path, kill_after_status):
    """``kill -9`` at two points of a recorded replay, then ``dreamband recover``: the archive is
    valid BDF+ (MNE reads it), its samples are the night's first samples, nothing but the last
    record(s) in flight is lost."""
    import signal
    import time

    import mne

    from dreamband.recordings.recording import load_recording

    sim = _dreamband("simulate", "n.edf", "--hours", "1", "--seed", "2", "--sfreq", "100", cwd=tmp_path, timeout=120)
    assert sim.returncode == 0, sim.stderr
    proc = subprocess.Popen([sys.executable, "-m", "dreamband", "replay", "n.edf", "--speed", "100", "--headless",
                             "--session-dir", "s", "--status-every", "1"], cwd=tmp_path, stdout=subprocess.PIPE,
                            stderr=subprocess.STDOUT, env={**os.environ, "CI": "1", "PYTHONUNBUFFERED": "1"})
    try:
        seen, deadline = 0, time.monotonic() + 120
        while seen < kill_after_status and time.monotonic() < deadline:
            line = proc.stdout.readline().decode()
            seen += line.startswith("status:")
            assert proc.poll() is None, "the replay ended before the kill"
        os.kill(proc.pid, signal.SIGKILL)
        proc.wait(10)
    finally:
        if proc.poll() is None:
            proc.kill()
    folder = next((tmp_path / "s").iterdir())
    assert read_session_json(folder)["state"] == "recording"
    rec = _dreamband("recover", str(folder), cwd=tmp_path, timeout=60)
    assert rec.returncode == 0 and "Recovered" in rec.stdout, rec.stderr
    meta = read_session_json(folder)
    assert meta["state"] == "recovered" and meta["n_samples"] > 0 and not (folder / ".recording.lock").exists()
    raw = mne.io.read_raw_bdf(folder / "session.bdf", verbose="error")
    assert raw.n_times == meta["n_samples"]
    night = load_recording(tmp_path / "n.edf")
    back = load_session(folder)
    np.testing.assert_allclose(back.data, night.data[:, :back.n_samples], atol=0.012)
