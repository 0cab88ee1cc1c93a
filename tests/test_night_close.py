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
