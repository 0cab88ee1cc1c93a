"""Issue 12 (a): the board a user configured is the board that streams.

``--config`` TOML and the command line merge in one place (``merged_board_values``): an option
wins only when the user gave it. ``replay`` and ``stage`` honour ``--board``/``--master-board``
for BrainFlow CSVs; a board that fails to open leaves no session folder; a Bluetooth headband's
error talks about Bluetooth.
"""

from __future__ import annotations

from pathlib import Path

import pytest
from brainflow.board_shim import BoardIds

from dreamband.cli import build_parser, main
from dreamband.firmware_bridge.config import BoardConfig, merged_board_values
from dreamband.firmware_bridge.stream import BoardConnectionError, BoardStream
from dreamband.session.sources import open_source
from tests.brainflow_files import write_brainflow_csv


def _toml(tmp_path: Path, text: str) -> Path:
    path = tmp_path / "night.toml"
    path.write_text(text, encoding="utf-8")
    return path


def test_toml_board_name_is_the_board_that_streams(tmp_path):
    cfg = _toml(tmp_path, '[board]\nname = "cyton"\nserial_port = "/dev/ttyUSB7"\n')
    source = open_source(build_parser().parse_args(["live", "--config", str(cfg)]))
    assert isinstance(source, BoardStream)  # not started: nothing is opened
    assert source.config.board == "cyton" and source.config.board_id == int(BoardIds.CYTON_BOARD)
    assert source.config.serial_port == "/dev/ttyUSB7"


def test_cli_wins_only_for_options_given(tmp_path):
    cfg = _toml(tmp_path, '[board]\nname = "cyton"\nserial_port = "/dev/ttyUSB7"\ntimeout = 20\n')
    args = build_parser().parse_args(["live", "--config", str(cfg), "--serial-port", "/dev/ttyACM0"])
    values = merged_board_values(args)
    assert values["board"] == "cyton" and values["serial_port"] == "/dev/ttyACM0" and values["timeout"] == 20
    args = build_parser().parse_args(["live", "--config", str(cfg), "--board", "synthetic"])
    assert BoardConfig.from_args(args).board == "synthetic"
    assert BoardConfig.from_args(build_parser().parse_args(["live"])).board == "synthetic"


UNICORN = int(BoardIds.UNICORN_BOARD)  # 19 rows: no board dreamband infers has that layout


def test_replay_honours_board_for_a_brainflow_csv(tmp_path):
    csv = write_brainflow_csv(tmp_path / "unicorn.csv", UNICORN)
    with pytest.raises(ValueError, match="Pass the board"):
        open_source(build_parser().parse_args(["replay", str(csv)]))
    for flag in ("--board", "--master-board"):
        source = open_source(build_parser().parse_args(["replay", str(csv), flag, str(UNICORN)]))
        assert source.recording.board_id == UNICORN
        assert source.channel_names[:3] == ["Fz", "C3", "Cz"]


def test_stage_honours_board_for_a_brainflow_csv(tmp_path, capsys):
    csv = write_brainflow_csv(tmp_path / "unicorn.csv", UNICORN, seconds=95.0)
    out = tmp_path / "out"
    assert main(["stage", str(csv), "--out-dir", str(out)]) == 1  # cannot infer: failed, said so
    assert "Pass the board" in capsys.readouterr().err
    assert main(["stage", str(csv), "--out-dir", str(out), "--board", str(UNICORN), "--force"]) == 0
    assert (out / "unicorn.hypnogram.csv").is_file()


def test_failed_board_open_leaves_no_session_folder(tmp_path, capsys):
    missing = tmp_path / "no-such-tty"
    code = main(["live", "--headless", "--board", "cyton", "--serial-port", str(missing),
                 "--session-dir", str(tmp_path / "sessions"), "--duration", "5"])
    assert code != 0
    assert "cyton" in capsys.readouterr().err
    sessions = tmp_path / "sessions"
    assert not sessions.exists() or not any(sessions.iterdir())


def test_bluetooth_headband_error_talks_about_bluetooth():
    stream = BoardStream(BoardConfig(board="muse-s", timeout=1.0))
    try:
        stream.start()
    except BoardConnectionError as err:
        text = str(err)
        assert "Bluetooth" in text and "--serial-number" in text
        assert "dongle is plugged" not in text and "dialout" not in text
    else:  # pragma: no cover - a Muse S in range of this machine
        stream.stop()
        pytest.skip("a Muse S answered")
