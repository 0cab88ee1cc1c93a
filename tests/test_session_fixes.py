"""Issue 12 (f): the sleeper at 600x is muted like replays, the `log` action prints, a replay seek
keeps its sinks, a replay shorter than one epoch is an error, `report` on a raw CSV says what it
reads, and the speed box shows the real speed."""

from __future__ import annotations

import os
import subprocess
import sys
from pathlib import Path

from brainflow.board_shim import BoardIds

from dreamband.cli import build_parser, main
from tests.brainflow_files import write_brainflow_csv


def _synthetic_csv(path: Path, seconds: float) -> Path:
    return write_brainflow_csv(path, int(BoardIds.SYNTHETIC_BOARD), seconds)


def test_sleeper_at_speed_is_muted_and_the_log_action_prints(tmp_path):
    """At --speed max the alarm fires: the log action prints it, the user's command does not run."""
    ran = tmp_path / "command-ran"
    out = subprocess.run(
        [sys.executable, "-m", "dreamband", "live", "--board", "sleeper", "--headless", "--speed", "max",
         "--duration", "1500", "--no-record", "--alarm", "23:10-23:20", "--status-every", "0",
         "--actions", "log,command", "--action-command", f"touch {ran}"],
        capture_output=True, text=True, timeout=180, env={**os.environ, "CI": "1"})
    assert out.returncode == 0, out.stderr
    assert "TRIGGER smart_alarm" in out.stdout
    assert "action log: " in out.stdout and "smart_alarm" in out.stdout.split("action log: ", 1)[1]
    assert not ran.exists()  # before: the command ran at 600x / max speed


def test_real_time_sleeper_keeps_sound_and_command():
    from dreamband.session.live import session_settings

    args = build_parser().parse_args(["live", "--board", "sleeper", "--actions", "log,sound,command",
                                      "--action-command", "true"])
    s = session_settings(args)
    assert s.actions.play_sound == "auto" and "command" in s.actions.outputs
    args = build_parser().parse_args(["live", "--board", "sleeper", "--speed", "600", "--actions",
                                      "log,sound,command", "--action-command", "true"])
    s = session_settings(args)
    assert s.actions.play_sound == "never" and "command" not in s.actions.outputs


def test_replay_seek_keeps_recorder_and_net_out(tmp_path):
    from dreamband.session.sources import open_source
    from dreamband.ui.app import _restart_factory

    csv = _synthetic_csv(tmp_path / "night.csv", 90.0)
    args = build_parser().parse_args(["replay", str(csv), "--session-dir", str(tmp_path / "s"),
                                      "--net-out", "127.0.0.1:9", "--speed", "max"])
    source = open_source(args)
    engine = _restart_factory(args, replay=True)(source)
    try:
        assert engine._recorder_factory is not None  # before: no recorder after a seek
        assert len(engine._sinks) == 1  # the UDP net-out sink
        assert engine.settings.actions.play_sound == "never"
    finally:
        engine.stop()


def test_replay_shorter_than_one_epoch_exits_non_zero(tmp_path, capsys):
    csv = _synthetic_csv(tmp_path / "short.csv", 12.0)
    assert main(["replay", str(csv), "--headless"]) == 2  # before: exit 0 with 0 epochs
    err = capsys.readouterr().err
    assert "12.0 s of signal, less than one 30-s epoch" in err


def test_report_on_a_raw_csv_says_what_report_reads(tmp_path, capsys):
    csv = _synthetic_csv(tmp_path / "raw.csv", 70.0)
    assert main(["report", str(csv)]) == 2
    err = capsys.readouterr().err
    assert "no sleep stages in it" in err and "reads a session folder" in err
    assert "dreamband stage raw.csv" in err and "unknown stage label" not in err
    assert len(err) < 800  # not a whole data row


def test_speed_box_shows_the_real_speed(qtbot, tmp_path):
    from dreamband.recordings.recording import load_recording
    from dreamband.recordings.replay import RecordingSource
    from dreamband.ui.console import NightConsole

    rec = load_recording(_synthetic_csv(tmp_path / "n.csv", 60.0))
    source = RecordingSource(rec, speed=600)
    console = NightConsole(sfreq=rec.sfreq, channel_names=rec.channel_names, channel_types=rec.channel_types,
                           replay=source, start_engine=False)
    qtbot.addWidget(console)
    box = console.replay_controls.speed_box
    assert box.currentText() == "600x"  # before: "1x"
    items = [box.itemText(i) for i in range(box.count())]
    assert items.index("120x") < items.index("600x") < items.index("max")
    assert source.speed == 600
