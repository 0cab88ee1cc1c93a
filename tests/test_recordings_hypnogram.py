"""load_hypnogram on every format, real files and written ones, and HypnogramWriter."""

from __future__ import annotations

import datetime as dt

import numpy as np
import pytest

from dreamband.recordings.hypnogram import HypnogramWriter, load_hypnogram


def test_sleep_edf_hypnograms_match_decoded_arrays(shared_datasets):
    ref = np.load(shared_datasets / "sleep-edf" / "hypnograms_30s.npz")
    files = sorted((shared_datasets / "sleep-edf" / "hypnograms").glob("*-Hypnogram.edf"))
    assert len(files) == 16
    for f in files:
        stages, epoch_s = load_hypnogram(f)
        key = f.name[:6] + "E0"
        assert epoch_s == 30.0
        assert stages.dtype == np.int8
        np.testing.assert_array_equal(stages, ref[key])


def test_yasa_and_dreams_real_files(shared_datasets):
    y = shared_datasets / "yasa-snippets"
    s, e = load_hypnogram(y / "data_full_6hrs_100Hz_hypno_30s.txt")
    assert e == 30.0 and len(s) == 720
    assert np.bincount(s).tolist() == [43, 22, 318, 182, 155]
    s, _ = load_hypnogram(y / "sub-02_hypno_30s.txt")
    assert len(s) == 98 and np.bincount(s, minlength=5).tolist() == [36, 9, 31, 22, 0]
    hyp, _ = load_hypnogram(y / "data_full_6hrs_100Hz_hypno.hyp")
    txt, _ = load_hypnogram(y / "data_full_6hrs_100Hz_hypno_30s.txt")
    n = min(len(hyp), len(txt))
    assert (hyp[:n] == txt[:n]).mean() > 0.95  # same night, 1-s Elan codes with REM=5
    d = shared_datasets / "dreams-spindles"
    for k in range(1, 9):
        s, e = load_hypnogram(d / f"Hypnogram_excerpt{k}.txt")
        assert len(s) == 60 and e == 30.0
    s, _ = load_hypnogram(d / "Hypnogram_excerpt7.txt")
    assert (s == 4).sum() >= 4  # the only excerpt with REM (28 x 5 s)


def test_written_int_string_and_errors(tmp_path):
    p = tmp_path / "h.txt"
    p.write_text("# comment\n0\n1\n2\n3\n4\n-1\n-2\n")
    s, e = load_hypnogram(p)
    assert s.tolist() == [0, 1, 2, 3, 4, -1, -1] and e == 30.0
    p.write_text("W\nN1\nN2\nN3\nR\nREM\nArt\nUns\nS4\nWake\n")
    assert load_hypnogram(p)[0].tolist() == [0, 1, 2, 3, 4, 4, -1, -1, 3, 0]
    p.write_text("0\n5\n2\n")
    with pytest.raises(ValueError, match="REM=5"):
        load_hypnogram(p)
    p.write_text("W\nN2\nDeep\n")
    with pytest.raises(ValueError, match="Deep"):
        load_hypnogram(p)
    p.write_text("\n# nothing\n")
    with pytest.raises(ValueError, match="empty"):
        load_hypnogram(p)
    with pytest.raises(FileNotFoundError):
        load_hypnogram(tmp_path / "none.txt")
    p.write_bytes(b"\x00\x01\x02binary")
    with pytest.raises(ValueError, match="binary"):
        load_hypnogram(p)


def test_dreams_majority_resampling(tmp_path):
    p = tmp_path / "Hypnogram_excerptX.txt"
    # epoch 1: 4 x S2 + 2 x W -> N2; epoch 2: 3 x REM, 3 x S1 tie -> first seen (REM); epoch 3: S4/S3 -> N3
    p.write_text("[Hypnogram]\n" + "\n".join(["2", "2", "5", "2", "5", "2", "4", "4", "3", "3", "4", "3",
                                              "0", "1", "0", "1", "-2", "0"]) + "\n")
    assert load_hypnogram(p)[0].tolist() == [2, 4, 3]
    p.write_text("[Hypnogram]\n7\n")
    with pytest.raises(ValueError, match="code"):
        load_hypnogram(p)


def test_our_csv_roundtrip_and_truncated_line(tmp_path):
    path = tmp_path / "hypnogram.csv"
    w = HypnogramWriter(path)
    w.write(0, 0.0, 0, [0.9, 0.05, 0.03, 0.01, 0.01])
    w.write(1, 30.0, 2, [0.1, 0.1, 0.7, 0.05, 0.05])
    w.write(2, 60.0, -1, [], quality="off-head, railed")
    w.close()
    assert (path.stat().st_mode & 0o777) == 0o600
    s, e = load_hypnogram(path)
    assert s.tolist() == [0, 2, -1] and e == 30.0
    with open(path, "a") as fh:
        fh.write("3,90.0")  # a kill -9 in the middle of a line
    assert load_hypnogram(path)[0].tolist() == [0, 2, -1]
    assert load_hypnogram(tmp_path)[0].tolist() == [0, 2, -1]  # the session folder


def test_edf_annotations_hypnogram(tmp_path):
    import mne

    info = mne.create_info(["Fpz"], 100.0, ["eeg"])
    raw = mne.io.RawArray(np.zeros((1, 100 * 150)), info, verbose="error")
    start = dt.datetime(2024, 1, 1, 23, tzinfo=dt.timezone.utc)
    raw.set_meas_date(start)
    raw.set_annotations(mne.Annotations([0, 30, 60, 90, 100], [30, 30, 60, 0, 0],
                                        ["Sleep stage W", "Sleep stage N2", "Sleep stage R",
                                         "trigger smart_alarm", "marker 1"], orig_time=start))
    path = tmp_path / "s.edf"
    mne.export.export_raw(path, raw, fmt="edf", verbose="error")
    s, e = load_hypnogram(path)
    assert s.tolist() == [0, 2, 4, 4]
    raw.set_annotations(mne.Annotations([1], [0], ["just a marker"], orig_time=start))
    mne.export.export_raw(path, raw, fmt="edf", overwrite=True, verbose="error")
    with pytest.raises(ValueError, match="not a hypnogram"):
        load_hypnogram(path)
