"""The headless commands: `dreamband live --headless` and `dreamband replay --headless`."""

from __future__ import annotations

import datetime as dt
import re
import subprocess
import sys

import pytest


def dreamband(*args: str, timeout: float = 120) -> subprocess.CompletedProcess:
    return subprocess.run([sys.executable, "-m", "dreamband", *args], capture_output=True, text=True,
                          timeout=timeout, env={**__import__("os").environ, "CI": "1"})


def test_live_synthetic_headless_streams_records_and_exits_0(tmp_path):
    out = dreamband("live", "--board", "synthetic", "--headless", "--duration", "4", "--status-every", "1",
                    "--session-dir", str(tmp_path))
    assert out.returncode == 0, out.stderr
    status = [ln for ln in out.stdout.splitlines() if ln.startswith("status:")]
    assert len(status) >= 3
    m = re.search(r"rate ([\d.]+) Hz \(nominal 250\), lost (\d+) samples, (\d+) dropouts", status[-1])
    assert m and 200 < float(m.group(1)) < 300 and m.group(2) == "0" and m.group(3) == "0"
    assert "session ended at 0:00:04 of data: duration reached" in out.stdout
    folders = [p for p in tmp_path.iterdir() if p.is_dir()]
    assert len(folders) == 1 and (folders[0] / "session.bdf").stat().st_size > 0
    assert f"session folder: {folders[0]}" in out.stdout


def test_live_sleeper_fast_prints_epochs_and_the_alarm():
    out = dreamband("live", "--board", "sleeper", "--headless", "--speed", "max", "--duration", "1500",
                    "--no-record", "--alarm", "23:10-23:20", "--status-every", "0")
    assert out.returncode == 0, out.stderr
    epochs = [ln for ln in out.stdout.splitlines() if re.match(r"\s+\d+\s+\d:\d\d:\d\d\s+\d\d:\d\d:\d\d\s+(W|N1|N2|N3|REM|\?)\s", ln)]
    assert len(epochs) == 50
    assert re.search(r"awake in bed|falling asleep|light sleep|deep sleep|dreaming|awake|signal lost", epochs[0])
    trig = [ln for ln in out.stdout.splitlines() if "TRIGGER smart_alarm" in ln]
    assert len(trig) == 1
    clock = re.search(r"(\d\d):(\d\d):(\d\d)\s+>>>", trig[0])
    assert clock and "23:10:00" <= ":".join(clock.groups()) <= "23:20:00"
    assert "night summary" in out.stdout and "triggers fired: 1" in out.stdout


def test_replay_edf_with_alarm(tmp_path):
    edf = tmp_path / "night.edf"
    gen = dreamband("simulate", str(edf), "--hours", "0.5", "--seed", "2", "--sfreq", "100")
    assert gen.returncode == 0, gen.stderr
    from dreamband.recordings.recording import load_recording

    start = load_recording(edf).start_time
    a = (start + dt.timedelta(minutes=12)).strftime("%H:%M")
    b = (start + dt.timedelta(minutes=20)).strftime("%H:%M")
    out = dreamband("replay", str(edf), "--headless", "--speed", "max", "--alarm", f"{a}-{b}", "--status-every", "0")
    assert out.returncode == 0, out.stderr
    assert "TRIGGER smart_alarm" in out.stdout
    assert "session ended" in out.stdout and "the source finished" in out.stdout
    assert "REM periods:" in out.stdout and "triggers fired: 1" in out.stdout
    assert not any(p.is_dir() for p in tmp_path.iterdir())  # a replay records only with --session-dir


@pytest.mark.parametrize("argv, words", [
    (["replay", "missing.edf", "--headless"], "No recording at"),
    (["live", "--board", "synthetic", "--headless", "--alarm", "7am"], "HH:MM-HH:MM"),
    (["live", "--board", "synthetic", "--headless", "--speed", "4"], "--speed and --seek apply"),
])
def test_clear_errors(argv, words):
    out = dreamband(*argv)
    assert out.returncode == 2 and words in out.stderr


def test_live_sleeper_seed_chooses_the_night():
    import argparse

    import numpy as np

    from dreamband.cli import build_parser
    from dreamband.session.sleeper import night_for_args

    def night(*extra: str):
        args = build_parser().parse_args(["live", "--board", "sleeper", "--duration", "600", *extra])
        assert isinstance(args, argparse.Namespace)
        return night_for_args(args)

    a, b, c = night(), night("--seed", "1"), night("--seed", "5")
    np.testing.assert_array_equal(a.data, b.data)  # default seed is 1
    assert not np.array_equal(a.data, c.data)
    assert a.n_samples == c.n_samples == 600 * 256
