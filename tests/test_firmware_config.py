"""BoardConfig (TOML < CLI), its validation, and the montage defaults and overrides."""

from __future__ import annotations

from pathlib import Path

import numpy as np
import pytest
from brainflow.board_shim import BoardIds
from brainflow.data_filter import DataFilter

from dreamband.cli import build_parser
from dreamband.firmware_bridge import BoardConfig, Montage, board_info, parse_channel_list


def _write_toml(tmp_path: Path, text: str) -> Path:
    path = tmp_path / "dreamband.toml"
    path.write_text(text, encoding="utf-8")
    return path


def test_defaults_are_the_synthetic_board():
    cfg = BoardConfig.from_args(build_parser().parse_args(["live"]))
    assert cfg.board == "synthetic" and cfg.board_id == int(BoardIds.SYNTHETIC_BOARD)
    assert cfg.dropout_timeout_s == pytest.approx(3.0)
    assert cfg.reconnect_limit is None  # live boards never give up by default


def test_toml_then_cli_precedence(tmp_path):
    path = _write_toml(
        tmp_path,
        """
[board]
name = "cyton"
serial_port = "/dev/ttyUSB0"
timeout = 20
dropout_timeout_s = 2.5
reconnect_initial_s = 0.5
max_reconnect_attempts = 4

[montage]
eeg = ["Fp1", "Fp2"]
eog = "C3"
accel = false

[triggers]
smart_alarm = true   # other sections belong to other parts and are ignored here
""",
    )
    only_toml = BoardConfig.from_args(build_parser().parse_args(["live", "--config", str(path)]))
    assert only_toml.board == "cyton" and only_toml.serial_port == "/dev/ttyUSB0"
    assert only_toml.timeout == 20 and only_toml.dropout_timeout_s == 2.5
    assert only_toml.max_reconnect_attempts == 4 and only_toml.reconnect_limit == 4
    assert only_toml.eeg == ("Fp1", "Fp2") and only_toml.eog == ("C3",) and only_toml.accel is False

    args = build_parser().parse_args(
        ["live", "--config", str(path), "--serial-port", "/dev/ttyACM1", "--timeout", "5", "--eeg", "Fp2,1"]
    )
    cfg = BoardConfig.from_args(args)
    assert cfg.board == "cyton"  # from the file
    assert cfg.serial_port == "/dev/ttyACM1"  # CLI wins
    assert cfg.timeout == 5.0
    assert cfg.eeg == ("Fp2", 1)
    assert cfg.dropout_timeout_s == 2.5  # file value kept

    cli_board = BoardConfig.from_args(build_parser().parse_args(["live", "--config", str(path), "--board", "synthetic"]))
    assert cli_board.board == "synthetic"

    montage = Montage.from_config(cfg, board_info("cyton"))
    assert montage.names == ("Fp2", "Fp1", "C3")  # --eeg Fp2,row 1 (=Fp1); [montage] eog C3; no accel
    assert montage.types == ("eeg", "eeg", "eog")


def test_to_params():
    cfg = BoardConfig(board="muse-s", serial_number="Muse-1234", timeout=20.4, mac_address="00:11:22:33:44:55")
    p = cfg.to_params()
    assert p.serial_number == "Muse-1234" and p.timeout == 20 and p.mac_address == "00:11:22:33:44:55"
    assert p.serial_port == "" and p.master_board == int(BoardIds.NO_BOARD)


def test_playback_config(tmp_path):
    data = np.zeros((32, 10))
    data[30] = np.arange(10) / 250.0
    csv = tmp_path / "night.csv"
    DataFilter.write_file(data, str(csv), "w")
    cfg = BoardConfig(board="playback", playback_file=str(csv), master_board="synthetic").validated()
    p = cfg.to_params()
    assert p.file == str(csv.resolve()) and p.master_board == int(BoardIds.SYNTHETIC_BOARD)
    assert cfg.is_playback and cfg.reconnect_limit == 2
    # without master board: say which to pass, and guess from the file's columns
    with pytest.raises(ValueError, match=r"--master-board.*night\.csv.*32 columns.*synthetic"):
        BoardConfig(board="playback", playback_file=str(csv)).validated()


def test_missing_playback_file_names_the_file(tmp_path):
    missing = tmp_path / "nope.csv"
    with pytest.raises(FileNotFoundError, match="nope.csv"):
        BoardConfig(board="playback", playback_file=str(missing), master_board="synthetic").validated()
    args = build_parser().parse_args(["live", "--board", "playback", "--playback-file", str(missing),
                                      "--master-board", "cyton"])
    with pytest.raises(FileNotFoundError, match="Playback file not found"):
        BoardConfig.from_args(args)
    with pytest.raises(ValueError, match="--playback-file"):
        BoardConfig(board="playback", master_board="synthetic").validated()


def test_bad_values_are_explained(tmp_path):
    with pytest.raises(ValueError, match="Allowed values are"):
        BoardConfig(board="neurosky").validated()
    with pytest.raises(ValueError, match="dropout_timeout_s must be a positive"):
        BoardConfig(dropout_timeout_s=0).validated()
    with pytest.raises(ValueError, match="reconnect_max_s"):
        BoardConfig(reconnect_initial_s=5, reconnect_max_s=1).validated()
    with pytest.raises(ValueError, match="max_reconnect_attempts"):
        BoardConfig(max_reconnect_attempts=-1).validated()
    with pytest.raises(ValueError, match="playback_loop must be true or false"):
        BoardConfig.from_toml(_write_toml(tmp_path, '[board]\nplayback_loop = "yes"\n'))
    with pytest.raises(ValueError, match="serial_port must be text"):
        BoardConfig.from_toml(_write_toml(tmp_path, '[board]\nserial_port = 3\n'))
    with pytest.raises(ValueError, match="playback_timestamps"):
        BoardConfig(playback_timestamps="now").validated()
    with pytest.raises(ValueError, match="unknown key 'serialport' in \\[board\\]"):
        BoardConfig.from_toml(_write_toml(tmp_path, '[board]\nserialport = "/dev/ttyUSB0"\n'))
    with pytest.raises(ValueError, match="unknown key 'frontal' in \\[montage\\]"):
        BoardConfig.from_toml(_write_toml(tmp_path, '[montage]\nfrontal = "Fp1"\n'))
    with pytest.raises(ValueError, match="not valid TOML"):
        BoardConfig.from_toml(_write_toml(tmp_path, "[board\nname=1"))
    with pytest.raises(FileNotFoundError, match="Config file not found"):
        BoardConfig.from_toml(tmp_path / "missing.toml")


def test_parse_channel_list():
    assert parse_channel_list("Fp1, Fp2") == ("Fp1", "Fp2")
    assert parse_channel_list("1,2") == (1, 2)
    assert parse_channel_list(["AF7", 3]) == ("AF7", 3)
    assert parse_channel_list("") == ()
    with pytest.raises(ValueError, match="--eeg: empty"):
        parse_channel_list("Fp1,,Fp2", option="--eeg")


# ---------------------------------------------------------------------- montage


def test_montage_defaults_per_board():
    muse = Montage.default(board_info("muse-s"))
    # Muse: EEG from the default preset, the accelerometer from BrainFlow's auxiliary preset
    assert muse.names == ("TP9", "AF7", "AF8", "TP10", "accel_x", "accel_y", "accel_z")
    assert muse.types == ("eeg",) * 4 + ("accel",) * 3
    assert muse.rows == board_info("muse-s").eeg_rows and muse.aux_rows == board_info("muse-s").aux_accel_rows
    assert [muse.names[i] for i in muse.frontal] == ["AF7", "AF8"]
    assert muse.staging_names == ("AF7",)
    assert muse.units == ("uV",) * 4 + ("g",) * 3
    assert Montage.build(board_info("muse-2"), aux_accel=False).names == ("TP9", "AF7", "AF8", "TP10")
    assert Montage.default(board_info("muse-2"), accel=False).n_channels == 4

    cyton = Montage.default(board_info("cyton"))
    info = board_info("cyton")
    assert cyton.names[:8] == info.eeg_names and cyton.rows[:8] == info.eeg_rows
    assert cyton.names[8:] == ("accel_x", "accel_y", "accel_z") and cyton.units[8:] == ("g",) * 3
    assert [cyton.names[i] for i in cyton.frontal] == ["Fp1", "Fp2"] and cyton.staging_names == ("Fp1",)

    syn = Montage.default(board_info("synthetic"))
    sinfo = board_info("synthetic")
    assert syn.names[:16] == sinfo.eeg_names and syn.indices("accel") == (16, 17, 18)
    assert syn.staging_names == ("Fz",)

    ganglion = Montage.default(board_info("ganglion"))
    assert ganglion.names == ("EEG1", "EEG2", "EEG3", "EEG4", "accel_x", "accel_y", "accel_z")
    assert ganglion.frontal == (0, 1) and ganglion.staging_channels == (0,)

    assert Montage.default(board_info("cyton"), accel=False).n_channels == 8


def test_montage_overrides():
    info = board_info("cyton")
    m = Montage.build(info, eeg=("fp2", "Fp1"), eog=("C3", "C4"), emg=(7,), accel=False)
    assert m.names == ("Fp2", "Fp1", "C3", "C4", "O1")
    assert m.types == ("eeg", "eeg", "eog", "eog", "emg")
    assert m.rows == (2, 1, 3, 4, 7)
    assert m.staging_names == ("Fp2",)
    # EOG taken from the default EEG list when --eeg is not given
    m2 = Montage.build(info, eog=("Fp1",), accel=False)
    assert m2.names[-1] == "Fp1" and m2.types[-1] == "eog" and "Fp1" not in m2.names[:-1]
    assert m2.staging_names == ("Fp2",)
    m3 = Montage.build(info, staging=("Fp2", "Fp1"))
    assert m3.staging_names == ("Fp2", "Fp1")


def test_montage_errors():
    info = board_info("cyton")
    with pytest.raises(ValueError, match="has no channel 'Fpz'.*Fp1, Fp2"):
        Montage.build(info, eeg=("Fpz",))
    with pytest.raises(ValueError, match="rows 0..23, got row 99"):
        Montage.build(info, eeg=(99,))
    with pytest.raises(ValueError, match="timestamp row"):
        Montage.build(info, eeg=(info.timestamp_row,))
    with pytest.raises(ValueError, match="used twice"):
        Montage.build(info, eeg=("Fp1",), eog=("Fp1",))
    with pytest.raises(ValueError, match="listed twice"):
        Montage.build(info, eeg=("Fp1", "fp1"))
    with pytest.raises(ValueError, match="not an EEG channel"):
        Montage.build(info, eog=("C3",), staging=("C3",))
