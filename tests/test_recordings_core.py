"""Recording, the MNE importer and RecordingSource (replay)."""

from __future__ import annotations

import datetime as dt

import numpy as np
import pytest

from dreamband.firmware_bridge.chunk import Source
from dreamband.recordings.recording import Recording, load_recording
from dreamband.recordings.replay import RecordingSource, parse_speed

UTC = dt.timezone.utc


def _rec(n=1000, sfreq=100.0, n_ch=2) -> Recording:
    t = np.arange(n) / sfreq
    data = np.vstack([np.sin(2 * np.pi * (k + 1) * t) * 50 + k for k in range(n_ch)])
    return Recording(data, sfreq, [f"C{k}" for k in range(n_ch)], ["eeg"] * n_ch,
                     dt.datetime(2024, 1, 1, 23, 0, tzinfo=UTC))


def _write_edf(path, data_uv, sfreq, names, start, annotations=()):
    import mne

    info = mne.create_info(names, sfreq, ["eeg"] * len(names))
    raw = mne.io.RawArray(data_uv * 1e-6, info, verbose="error")
    raw.set_meas_date(start)
    if annotations:
        o, d, s = zip(*annotations, strict=False)
        raw.set_annotations(mne.Annotations(o, d, s, orig_time=start))
    mne.export.export_raw(path, raw, fmt="edf", overwrite=True, verbose="error")


def test_recording_validates():
    with pytest.raises(ValueError, match="2-D"):
        Recording(np.zeros(5), 100, ["a"], ["eeg"], dt.datetime.now(UTC))
    with pytest.raises(ValueError, match="names"):
        Recording(np.zeros((2, 5)), 100, ["a"], ["eeg"], dt.datetime.now(UTC))
    with pytest.raises(ValueError, match="timezone"):
        Recording(np.zeros((1, 5)), 100, ["a"], ["eeg"], dt.datetime(2024, 1, 1))
    with pytest.raises(ValueError, match="sfreq"):
        Recording(np.zeros((1, 5)), 0, ["a"], ["eeg"], dt.datetime.now(UTC))
    with pytest.raises(ValueError, match="type"):
        Recording(np.zeros((1, 5)), 100, ["a"], ["foo"], dt.datetime.now(UTC))


def test_edf_roundtrip_in_microvolts(tmp_path):
    rec = _rec(n=6000, sfreq=100.0)
    start = dt.datetime(2024, 3, 1, 22, 30, tzinfo=UTC)
    path = tmp_path / "x.edf"
    _write_edf(path, rec.data, 100.0, ["Fpz", "Cz"], start, [(30.0, 30.0, "Sleep stage 2")])
    got = load_recording(path)
    assert got.channel_names == ["Fpz", "Cz"]
    assert got.channel_types == ["eeg", "eeg"]
    assert got.sfreq == 100.0
    assert got.start_time == start
    np.testing.assert_allclose(got.data, rec.data, atol=0.01)  # µV, EDF 16-bit resolution
    assert got.annotations == [(30.0, 30.0, "Sleep stage 2")]
    assert got.frontal_channel() == 0


def test_missing_and_unknown_files(tmp_path):
    with pytest.raises(FileNotFoundError):
        load_recording(tmp_path / "nope.edf")
    bad = tmp_path / "bad.edf"
    bad.write_bytes(b"0       " + b"garbage" * 10)
    with pytest.raises(ValueError, match="header|MNE"):
        load_recording(bad)
    junk = tmp_path / "junk.xyz"
    junk.write_text("hello world\nthis is not a recording\n")
    with pytest.raises(ValueError, match="unknown recording format"):
        load_recording(junk)


def test_truncated_edf_is_an_error(tmp_path):
    rec = _rec(n=3000)
    path = tmp_path / "t.edf"
    _write_edf(path, rec.data, 100.0, ["Fpz", "Cz"], dt.datetime(2024, 1, 1, tzinfo=UTC))
    raw = path.read_bytes()
    path.write_bytes(raw[: len(raw) // 2])
    with pytest.raises(ValueError):
        r = load_recording(path)
        # MNE may read a shortened file; then it must not claim the full length
        if r.n_samples < 3000:
            raise ValueError("short")


def test_dreams_edf_units_and_channels(shared_datasets):
    rec = load_recording(shared_datasets / "dreams-spindles" / "excerpt3.edf")
    assert rec.sfreq == 50.0
    assert "FP1-A1" in rec.channel_names and "ECG" not in rec.channel_names
    assert rec.channel_types[rec.channel_index("EOG1-A1")] == "eog"
    assert rec.channel_types[rec.channel_index("EMG1")] == "emg"
    assert rec.channel_names[rec.frontal_channel()] == "FP1-A1"
    # header says "UV" (upper case): values must be µV-sized, not 1e6 too large
    sd = np.std(rec.data[rec.channel_index("C3-A1")])
    assert 5 < sd < 200
    txt = load_recording(shared_datasets / "dreams-spindles" / "excerpt3.txt", sfreq=50.0)
    assert txt.channel_names == ["C3-A1"]
    np.testing.assert_allclose(txt.data[0, :2000], rec.data[rec.channel_index("C3-A1"), :2000], atol=0.02)


def test_yasa_fif(shared_datasets):
    rec = load_recording(shared_datasets / "yasa-snippets" / "data_resting_EO_200Hz_raw.fif")
    assert rec.channel_names == ["F4-A1", "CZ-A2"]
    assert rec.n_samples == 72000 and rec.sfreq == 200.0
    assert 5 < rec.data.std() < 100
    assert rec.start_time.tzinfo is not None


def test_single_column_needs_rate(tmp_path):
    p = tmp_path / "sig.txt"
    p.write_text("[Cz]\n1.0\n2.0\n3.0\n")
    with pytest.raises(ValueError, match="sampling rate"):
        load_recording(p)
    r = load_recording(p, sfreq=10)
    assert r.channel_names == ["Cz"] and r.n_samples == 3


# -- replay ------------------------------------------------------------------------------------
class FakeClock:
    def __init__(self):
        self.t = 0.0

    def __call__(self):
        return self.t


def test_replay_is_a_source_and_max_speed_delivers_everything():
    rec = _rec(n=1050)
    src = RecordingSource(rec, speed="max", chunk_s=1.0)
    assert isinstance(src, Source)
    src.start()
    chunks = []
    while not src.finished:
        chunks.append(src.read())
    assert [c.n_samples for c in chunks] == [100] * 10 + [50]
    assert [c.first_sample for c in chunks][:3] == [0, 100, 200]
    np.testing.assert_array_equal(np.hstack([c.data for c in chunks]), rec.data)
    ts = np.hstack([c.timestamps for c in chunks])
    np.testing.assert_allclose(ts, np.arange(1050) / 100.0)
    ev = src.poll_events()
    assert [e.kind for e in ev] == ["ended"]
    assert src.read().n_samples == 0
    assert src.poll_events() == []


def test_replay_paced_by_clock_seek_pause_speed():
    rec = _rec(n=2000)
    clock = FakeClock()
    src = RecordingSource(rec, speed=1.0, clock=clock)
    src.start()
    assert src.read().n_samples == 0
    clock.t = 0.5
    c = src.read()
    assert c.n_samples == 50 and c.first_sample == 0
    clock.t = 1.0
    assert src.read().n_samples == 50
    src.set_speed(4)
    clock.t = 2.0
    c = src.read()
    assert c.n_samples == 400 and c.first_sample == 100
    src.pause()
    clock.t = 10.0
    assert src.read().n_samples == 0
    src.resume()
    clock.t = 10.1
    assert src.read().n_samples == 40
    src.seek(15.0)
    clock.t = 10.2
    c = src.read()
    assert c.first_sample == 1500 and c.n_samples == 40
    np.testing.assert_array_equal(c.data, rec.data[:, 1500:1540])
    np.testing.assert_allclose(c.timestamps[0], 15.0)
    src.insert_marker(3.0)
    clock.t = 10.3
    assert src.read().markers[0] == 3.0
    src.stop()
    assert src.read().n_samples == 0


def test_replay_seek_at_start_and_bad_speed():
    rec = _rec(n=1000)
    src = RecordingSource(rec, speed="max", seek_s=9.5, chunk_s=1.0)
    src.start()
    c = src.read()
    assert c.first_sample == 950 and c.n_samples == 50 and src.finished
    assert parse_speed("10x") == 10.0 and parse_speed("max") == "max" and parse_speed(None) == 1.0
    for bad in ("fast-ish", 0, -2):
        with pytest.raises(ValueError):
            parse_speed(bad)
    with pytest.raises(TypeError):
        RecordingSource(np.zeros((2, 3)))


def test_bdf_and_fif_written_by_mne(tmp_path):
    import mne

    rec = _rec(n=2000)
    info = mne.create_info(["Fp1", "EOG left"], 100.0, ["eeg", "eog"])
    raw = mne.io.RawArray(rec.data * 1e-6, info, verbose="error")
    raw.set_meas_date(dt.datetime(2024, 2, 2, 22, 0, tzinfo=UTC))
    mne.export.export_raw(tmp_path / "x.bdf", raw, fmt="bdf", verbose="error")
    raw.save(tmp_path / "x_raw.fif", verbose="error")
    for name in ("x.bdf", "x_raw.fif"):
        got = load_recording(tmp_path / name)
        assert got.channel_types == ["eeg", "eog"], name
        np.testing.assert_allclose(got.data, rec.data, atol=0.01)
        assert got.start_time == dt.datetime(2024, 2, 2, 22, 0, tzinfo=UTC)
