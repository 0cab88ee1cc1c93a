"""Importers: BrainFlow CSV, OpenBCI GUI, Muse (Mind Monitor, muse-lsl) on real and written files."""

from __future__ import annotations

import numpy as np
import pytest

from dreamband.recordings.brainflow_csv import (
    board_description,
    infer_board,
    load_brainflow_csv,
    read_table,
)
from dreamband.recordings.muse import load_muse
from dreamband.recordings.openbci_gui import load_openbci_gui
from dreamband.recordings.recording import load_recording


# -- BrainFlow CSV -----------------------------------------------------------------------------
def _brainflow_table(board_id: int, n: int, t0: float = 1.7e9, rate: float | None = None, pkg_step: int = 1):
    d = board_description(board_id)
    sfreq = rate or d["sampling_rate"]
    rng = np.random.default_rng(0)
    table = np.zeros((d["num_rows"], n))
    table[d["package_num_channel"]] = (np.arange(n) * pkg_step) % 256
    for r in d["eeg_channels"]:
        table[r] = rng.normal(0, 20, n)
    table[d["timestamp_channel"]] = t0 + np.arange(n) / sfreq
    table[d["marker_channel"], 10] = 7.0
    return table


def _write_bf(path, table):
    from brainflow.data_filter import DataFilter

    DataFilter.write_file(np.ascontiguousarray(table), str(path), "w")


def test_brainflow_written_by_brainflow_roundtrip(tmp_path):
    table = _brainflow_table(0, 1000)  # Cyton
    path = tmp_path / "cyton.csv"
    _write_bf(path, table)
    rec = load_brainflow_csv(path, board_id=0)
    assert rec.board_id == 0 and rec.sfreq == 250.0
    assert rec.channel_names[:2] == ["Fp1", "Fp2"] and rec.channel_types.count("accel") == 3
    np.testing.assert_allclose(rec.data[:8], table[1:9], atol=1e-5)
    assert rec.markers[10] == 7.0 and rec.annotations == [(10 / 250.0, 0.0, "marker 7")]
    assert rec.start_time.timestamp() == pytest.approx(1.7e9, abs=1e-3)
    # inference: 24 columns is only the Cyton
    rec2 = load_recording(path)
    assert rec2.board_id == 0 and "inferred as cyton" in rec2.info["warnings"][0]


def test_brainflow_ambiguous_and_wrong_board(tmp_path):
    # 32 columns = synthetic or Cyton+Daisy: step-1 counter at 250 Hz -> synthetic
    path = tmp_path / "synth.csv"
    _write_bf(path, _brainflow_table(-1, 2000))
    assert load_recording(path).board_id == -1
    path2 = tmp_path / "daisy.csv"
    _write_bf(path2, _brainflow_table(2, 2000, pkg_step=2))
    assert load_recording(path2).board_id == 2
    with pytest.raises(ValueError, match="columns, but board"):
        load_brainflow_csv(path, board_id=0)
    assert load_recording(path2, board_id="cyton-daisy").board_id == 2
    with pytest.raises(ValueError, match="Unknown board"):
        load_recording(path2, board_id="toaster")
    odd = tmp_path / "odd.csv"
    odd.write_text("\n".join("\t".join(["1.0"] * 5) for _ in range(10)) + "\n")
    with pytest.raises(ValueError, match="--board"):
        load_recording(odd)


def test_brainflow_rates_disagree(tmp_path):
    path = tmp_path / "fast.csv"
    _write_bf(path, _brainflow_table(0, 2000, rate=1000.0))
    with pytest.raises(ValueError, match="rates disagree"):
        load_brainflow_csv(path, board_id=0)


def test_brainflow_truncated_and_damaged(tmp_path):
    path = tmp_path / "cut.csv"
    _write_bf(path, _brainflow_table(0, 500))
    text = path.read_text()
    path.write_text(text + "1.0\t2.0\t3")  # kill -9 mid-line
    rec = load_brainflow_csv(path, board_id=0)
    assert rec.n_samples == 500 and any("truncated" in w for w in rec.info["warnings"])
    lines = text.splitlines()
    lines[100] = "\t".join(lines[100].split("\t")[:10])
    path.write_text("\n".join(lines) + "\n")
    with pytest.raises(ValueError, match="line 101 has 10 columns"):
        load_brainflow_csv(path, board_id=0)
    lines = text.splitlines()
    lines[5] = lines[5].replace("\t", "\tabc", 1)
    path.write_text("\n".join(lines) + "\n")
    with pytest.raises(ValueError, match="line 6"):
        read_table(path)
    path.write_text("")
    with pytest.raises(ValueError, match="empty"):
        read_table(path)


def test_brainflow_real_files(shared_datasets):
    folder = shared_datasets / "openbci-brainflow-kd-lucid"
    expect = {"BrainFlow-RAW.csv": (1, 2790, 200.0), "BrainFlow-RAW_L_R_L_RL.csv": (1, 2425, 200.0),
              "BrainFlow-RAW_test.csv": (2, 7500, 125.0), "small_test_8_16_data.csv": (2, 8000, 125.0)}
    for name, (board, n, sfreq) in expect.items():
        rec = load_recording(folder / name)
        assert (rec.board_id, rec.n_samples, rec.sfreq) == (board, n, sfreq), name
        assert rec.raw_brainflow.shape[1] == n
        assert rec.start_time.year >= 2024
        assert "inferred" in rec.info["warnings"][-1]
    rec = load_recording(folder / "small_test_8_16_data.csv")
    assert rec.channel_names[:2] == ["Fp1", "Fp2"]
    assert np.any(np.isclose(rec.data[:16], -187500.022352).all(axis=1))  # railed channels kept as they are
    t = rec.raw_brainflow
    assert infer_board(t)[0] == 2


# -- OpenBCI GUI -------------------------------------------------------------------------------
def test_openbci_real_files(shared_datasets):
    folder = shared_datasets / "openbci-gui"
    ref = load_recording(folder / "OpenBCI_GUI-v6-blinks-jawClench-alpha.txt")
    assert ref.sfreq == 250.0 and ref.channel_names[0] == "Fp1" and ref.n_samples == 22490
    assert ref.start_time.isoformat().startswith("2019-05-15T16:00:53")
    for name in ("OpenBCI_GUI-v5-blinks-jawClench-alpha.txt", "OpenBCI-sampleData-1-blinks-jawClench-alpha.txt"):
        rec = load_recording(folder / name)
        np.testing.assert_array_equal(rec.data[:8], ref.data[:8, : rec.n_samples])  # same recording, 3 formats
    cut = load_recording(folder / "OpenBCI-RAW-2016-07-27_14-10-53.txt")
    assert cut.n_samples == 6319 and any("truncated" in w for w in cut.info["warnings"])
    old = load_recording(folder / "OpenBCI-RAW-2016-06-16_13-19-54.txt")
    assert old.data.shape == (11, 25649) and old.channel_types[-3:] == ["accel"] * 3
    one = load_recording(folder / "OpenBCI-RAW-2016-07-21_17-46-29.txt")
    assert any("all zero" in w for w in one.info["warnings"])
    sd = load_recording(folder / "SDconverted-2014-10-22_16-27-06.txt")
    assert sd.data.shape == (8, 3471) and any("assumed 250 Hz" in w for w in sd.info["warnings"])


def test_openbci_written_files(tmp_path):
    p = tmp_path / "OpenBCI-RAW-2020-01-02_03-04-05.txt"
    rows = [f"{i % 256}, " + ", ".join(f"{(i + k) * 0.5:.2f}" for k in range(4)) + ", 0.01, 0.02, 0.98" for i in range(300)]
    p.write_text("%OpenBCI Raw EEG Data\n%Number of channels = 4\n%Sample Rate = 200.0 Hz\n" + "\n".join(rows) + "\n")
    rec = load_openbci_gui(p)
    assert rec.sfreq == 200.0 and rec.channel_names == ["EXG1", "EXG2", "EXG3", "EXG4", "accel_x", "accel_y", "accel_z"]
    assert rec.data[1, 3] == pytest.approx(2.0)
    with pytest.raises(ValueError, match="header says 200"):
        load_openbci_gui(p, sfreq=250)
    bad = list(rows)
    bad[50] = "50, 1.0, 2.0"
    p.write_text("%OpenBCI Raw EEG Data\n%Sample Rate = 200.0 Hz\n%Number of channels = 4\n" + "\n".join(bad) + "\n")
    with pytest.raises(ValueError, match="row 51"):
        load_openbci_gui(p)
    p.write_text("%OpenBCI Raw EEG Data\n%Sample Rate = 250.0 Hz\n")
    with pytest.raises(ValueError, match="no data"):
        load_openbci_gui(p)
    p.write_text("Sample Index, EXG 0\n1, 2\n")
    with pytest.raises(ValueError, match="not an OpenBCI"):
        load_openbci_gui(p)


# -- Muse --------------------------------------------------------------------------------------
def test_muse_lsl_real_and_written(shared_datasets, tmp_path):
    rec = load_recording(shared_datasets / "muse-biopsykit" / "eeg_muse_example.csv")
    assert rec.channel_names == ["TP9", "AF7", "AF8", "TP10"] and rec.sfreq == 256.0
    assert rec.n_samples == 28932 and rec.start_time.isoformat().startswith("2020-11-26T13:45:09")
    assert 3 < rec.data[1].std() < 30


def test_muse_lsl_written(tmp_path):
    p = tmp_path / "muse.csv"
    t = 1.6e9 + np.arange(1000) / 256
    rows = [f"{ti:.4f},{np.sin(i):.3f},1.0,2.0,3.0,0.0" for i, ti in enumerate(t)]
    p.write_text("timestamps,TP9,AF7,AF8,TP10,Right AUX\n" + "\n".join(rows) + "\n1600000004.5,1.0")
    rec = load_recording(p)
    assert rec.n_samples == 1000 and rec.sfreq == 256.0 and "truncated" in rec.info["warnings"][0]
    slow = [f"{1.6e9 + i:.4f},1,1,1,1,0" for i in range(20)]
    p.write_text("timestamps,TP9,AF7,AF8,TP10,Right AUX\n" + "\n".join(slow) + "\n")
    with pytest.raises(ValueError, match="no usable raw EEG"):
        load_muse(p)


def test_mind_monitor_real_files_say_no_raw_eeg(shared_datasets):
    folder = shared_datasets / "muse-mindmonitor-import_muse"
    for name in ("museS_monitor1.csv", "muse-monitor2.csv"):
        with pytest.raises(ValueError, match="Recording Interval"):
            load_recording(folder / name)
    rec = load_muse(folder / "muse-monitor2.csv", min_sfreq=0)
    assert rec.n_samples == 316 and len(rec.annotations) == 6
    assert any("MM:SS" in w for w in rec.info["warnings"])
    rec = load_muse(folder / "museS_monitor1.csv", min_sfreq=0)
    assert rec.n_samples == 59 and rec.start_time.year == 2020


def test_mind_monitor_constant_rate_written(tmp_path):
    cols = ["TimeStamp"] + [f"{b}_{c}" for b in ("Delta", "Theta", "Alpha", "Beta", "Gamma") for c in ("TP9", "AF7", "AF8", "TP10")]
    cols += ["RAW_TP9", "RAW_AF7", "RAW_AF8", "RAW_TP10", "AUX_RIGHT", "Accelerometer_X", "Accelerometer_Y",
             "Accelerometer_Z", "Elements"]
    lines = [",".join(cols)]
    import datetime as dt

    t0 = dt.datetime(2024, 5, 1, 23, 0, 0)
    for i in range(512):
        ts = (t0 + dt.timedelta(seconds=i / 256)).isoformat(sep=" ", timespec="milliseconds")
        lines.append(",".join([ts] + ["0.5"] * 20 + [f"{800 + i % 7}", "810", "790", "805", "0", "0.01", "0.02", "0.99", ""]))
        if i == 100:
            lines.append(",".join([ts] + [""] * (len(cols) - 2) + ["/muse/elements/blink"]))
    p = tmp_path / "mm.csv"
    p.write_text("\n".join(lines) + "\n")
    rec = load_recording(p)
    assert rec.sfreq == 256.0 and rec.n_samples == 512
    assert rec.channel_names == ["TP9", "AF7", "AF8", "TP10", "accel_x", "accel_y", "accel_z"]
    assert rec.annotations[0][2] == "/muse/elements/blink"
    assert rec.annotations[0][0] == pytest.approx(100 / 256, abs=0.002)
    p.write_text("TimeStamp,Delta_TP9\n1,2\n")
    with pytest.raises(ValueError, match="Muse"):
        load_muse(p)
