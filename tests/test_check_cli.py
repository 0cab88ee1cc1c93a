"""``dreamband check`` on real BrainFlow boards (synthetic, and playback of a file we wrote), and
the lead-off plumbing through BrainFlow's config strings."""

from __future__ import annotations

import numpy as np
import pytest
from brainflow.data_filter import DataFilter

from dreamband.cli import main
from dreamband.firmware_bridge import BoardConfig, BoardStream, lead_off
from dreamband.firmware_bridge.boards import board_info
from dreamband.session.check import checked_channels, format_verdicts, measure_impedance
from dreamband.signal.check import check_signal


def test_check_on_the_synthetic_board_prints_a_verdict_per_channel(capsys):
    rc = main(["check", "--board", "synthetic", "--seconds", "2"])
    out = capsys.readouterr().out.splitlines()
    assert rc == 0  # the synthetic board's staging channel (Fz) is a clean signal
    assert out[-1] == "staging channel(s) (*): Fz: ready, start the night"
    assert len(out) == 17  # 16 EEG channels + the answer
    assert out[0].startswith("ok  * Fz")
    # BrainFlow's synthetic F7 is a pure 50-Hz sine: the check calls it what it is
    f7 = next(line for line in out if " F7:" in line)
    assert f7.startswith("BAD") and "50-Hz mains hum" in f7


def _playback_file(tmp_path, flat_row_name: str) -> tuple[str, int]:
    info = board_info("synthetic")
    fs = info.sfreq
    n = int(12 * fs)
    rng = np.random.default_rng(0)
    data = np.zeros((info.n_rows, n))
    t = np.arange(n) / fs
    for row in info.eeg_rows:
        data[row] = 15 * rng.standard_normal(n) + 10 * np.sin(2 * np.pi * 10 * t) + 20_000.0
    flat = info.eeg_rows[list(info.eeg_names).index(flat_row_name)]
    data[flat] = 3_000.0
    data[info.timestamp_row] = 1.7e9 + t
    if info.package_num_row is not None:
        data[info.package_num_row] = np.arange(n) % 256
    path = tmp_path / "flat_fz.csv"
    DataFilter.write_file(data, str(path), "w")
    return str(path), n


def test_check_exits_1_when_the_staging_channel_is_flat(tmp_path, capsys):
    path, _ = _playback_file(tmp_path, "Fz")
    rc = main(["check", "--board", "playback", "--playback-file", path, "--master-board", "synthetic",
               "--seconds", "3"])
    out = capsys.readouterr().out.splitlines()
    assert rc == 1
    fz = next(line for line in out if " Fz:" in line)
    assert fz.startswith("BAD *") and "no signal (flat" in fz and "disconnected" in fz
    assert all(line.startswith("ok ") for line in out[:-1] if " Fz:" not in line)
    assert out[-1].endswith("not ready: fix the lines marked BAD above")


def test_check_refuses_too_short_a_window(capsys):
    assert main(["check", "--board", "synthetic", "--seconds", "1"]) == 2
    assert "at least 2" in capsys.readouterr().err


def test_lead_off_commands():
    assert lead_off.cyton_lead_off_commands([0, 1, 8, 15], on=True) == ["z101Z", "z201Z", "zQ01Z", "zI01Z"]
    assert lead_off.cyton_lead_off_commands([2], on=False) == ["z300Z"]
    assert lead_off.cyton_lead_off_commands([2], on=True, test_p=True) == ["z310Z"]
    assert lead_off.lead_off_commands("ganglion", [0, 1], on=True) == ["z"]
    assert lead_off.lead_off_commands("ganglion", [0, 1], on=False) == ["Z"]
    assert lead_off.lead_off_commands("muse-s", [0], on=True) == []
    assert lead_off.lead_off_kind("Cyton-Daisy") == "cyton"
    with pytest.raises(ValueError, match="0..15"):
        lead_off.cyton_lead_off_commands([16], on=True)
    assert lead_off.resistance_rows(int(board_info("ganglion").board_id)) == [8, 9, 10, 11, 12]
    assert lead_off.resistance_rows(int(board_info("muse-s").board_id)) == []


def test_config_strings_reach_a_real_board():
    stream = BoardStream(BoardConfig(board="synthetic"))
    with pytest.raises(RuntimeError, match="running stream"):
        stream.config_board("z101Z")
    stream.start()
    try:
        answers = lead_off.send_commands(stream, lead_off.cyton_lead_off_commands([0, 1], on=True))
        assert answers == ["Config:z101Z", "Config:z201Z"]  # BrainFlow's synthetic board echoes
        # the synthetic board measures no impedance: nothing is switched, nothing measured
        assert measure_impedance(stream, checked_channels(stream)) == {}
    finally:
        stream.stop()
    with pytest.raises(TypeError, match="no board configuration"):
        lead_off.send_commands(object(), ["z"])


def test_format_marks_staging_channels():
    rng = np.random.default_rng(1)
    x = 12 * rng.standard_normal((2, 1500))
    x[1] = 0.0
    lines = format_verdicts(check_signal(x, 250.0, ["Fp1", "Fp2"]), ["Fp2"])
    assert lines[0].startswith("ok    Fp1") and lines[1].startswith("BAD * Fp2")
    assert lines[-1] == "staging channel(s) (*): Fp2: not ready: fix the lines marked BAD above"
