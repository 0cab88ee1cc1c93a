"""EdfRecording: EDF/BDF files and session archives replayed a block at a time, the very samples
of a whole read (one decoder), gaps as NaN, markers, annotations, seek/pause/speed/end."""

from __future__ import annotations

import datetime as dt
from pathlib import Path

import numpy as np
import pytest

from dreamband.firmware_bridge.chunk import StreamChunk
from dreamband.recordings.edf_recording import EdfRecording, open_edf
from dreamband.recordings.recorder import SessionRecorder, load_session
from dreamband.recordings.recording import open_recording, read_recording
from dreamband.recordings.replay import RecordingSource

START = dt.datetime(2024, 6, 1, 23, 30, tzinfo=dt.timezone.utc)


def _edf(tmp_path: Path, fmt: str = "edf", seconds: int = 97, sfreq: float = 128.0) -> tuple[Path, np.ndarray]:
    """An EDF+/BDF+ written by MNE: Fpz + EOG + a respiration channel dreamband drops, annotations."""
    mne = pytest.importorskip("mne")
    rng = np.random.default_rng(7)
    n = int(seconds * sfreq)
    x = rng.standard_normal((3, n)) * np.array([[40e-6], [25e-6], [1e-3]])
    info = mne.create_info(["EEG Fpz-Cz", "EOG horizontal", "Resp oro-nasal"], sfreq, ["eeg", "eog", "misc"])
    raw = mne.io.RawArray(x, info, verbose="error")
    raw.set_meas_date(START)
    ann = [a for a in ((30.0, 30.0, "Sleep stage W"), (60.0, 30.0, "Sleep stage N2"), (12.5, 0.0, "lights off"))
           if a[0] + a[1] <= seconds]
    raw.set_annotations(mne.Annotations(*map(list, zip(*ann, strict=True)), orig_time=START))
    path = tmp_path / f"night.{fmt}"
    mne.export.export_raw(path, raw, fmt=fmt, verbose="error")
    return path, x


def _play(source: RecordingSource) -> tuple[np.ndarray, np.ndarray, list[int]]:
    data, markers, firsts = [], [], []
    source.start()
    while not source.finished:
        chunk = source.read()
        data.append(chunk.data)
        markers.append(chunk.markers)
        firsts.append(chunk.first_sample)
    return np.hstack(data), np.concatenate(markers), firsts


@pytest.mark.parametrize("fmt", ["edf", "bdf"])
def test_lazy_chunks_equal_a_whole_read_bit_for_bit(tmp_path: Path, fmt: str) -> None:
    path, _ = _edf(tmp_path, fmt)
    whole = read_recording(path)  # the whole-file read: EdfRecording.load(), the same decoder
    lazy = open_recording(path)
    assert isinstance(lazy, EdfRecording)
    assert lazy.channel_names == whole.channel_names == ["Fpz-Cz", "horizontal"]
    assert lazy.channel_types == whole.channel_types == ["eeg", "eog"]
    assert lazy.n_samples == whole.n_samples and lazy.sfreq == whole.sfreq == 128.0
    assert lazy.start_time == whole.start_time == START
    # chunk sizes that cut data records anywhere (a record is 1 s = 128 samples here)
    for chunk_s in (1.0, 0.37, 5.0, 13.3, 200.0):
        got, markers, _ = _play(RecordingSource(lazy, speed="max", chunk_s=chunk_s))
        np.testing.assert_array_equal(got, whole.data)
        assert not markers.any()
    # a seek before the first read, and one in the middle of playing
    src = RecordingSource(lazy, speed="max", seek_s=41.3, chunk_s=2.0)
    got, _, firsts = _play(src)
    first = int(round(41.3 * 128))
    assert firsts[0] == first
    np.testing.assert_array_equal(got, whole.data[:, first:])
    src = RecordingSource(lazy, speed="max", chunk_s=3.0)
    src.start()
    head = src.read()
    src.seek(70.05)
    rest, _, firsts = _play(src)
    np.testing.assert_array_equal(head.data, whole.data[:, :384])
    assert firsts[0] == int(round(70.05 * 128))
    np.testing.assert_array_equal(rest, whole.data[:, firsts[0]:])
    # any span of the lazy recording, and of one channel picked alone
    for a, b in ((0, 1), (127, 129), (1000, 5000), (lazy.n_samples - 3, lazy.n_samples)):
        np.testing.assert_array_equal(lazy.block(a, b), whole.data[:, a:b])
    np.testing.assert_array_equal(lazy.pick(["horizontal"]).block(200, 900), whole.data[1:, 200:900])
    with pytest.raises(ValueError, match="outside"):
        lazy.block(0, lazy.n_samples + 1)


@pytest.mark.parametrize("fmt", ["edf", "bdf"])
def test_decoded_like_mne(tmp_path: Path, fmt: str) -> None:
    """The one decoder agrees with MNE's reader (to float rounding) and reads the same annotations."""
    mne = pytest.importorskip("mne")
    path, x = _edf(tmp_path, fmt)
    reader = mne.io.read_raw_edf if fmt == "edf" else mne.io.read_raw_bdf
    raw = reader(path, preload=True, infer_types=True, verbose="error")
    lazy = open_edf(path)
    np.testing.assert_allclose(lazy.block(0, lazy.n_samples), raw.get_data(picks=[0, 1]) * 1e6, rtol=1e-12, atol=1e-9)
    step = 1e-3 / (2 ** 15 if fmt == "edf" else 2 ** 23)  # one digital step of the widest range, in µV, x2
    np.testing.assert_allclose(lazy.block(0, lazy.n_samples), x[:2] * 1e6, atol=2e6 * step + 0.05)
    ours = [(round(o, 6), round(d, 6), t) for o, d, t in lazy.annotations]
    theirs = [(round(float(a["onset"]), 6), round(float(a["duration"]), 6), a["description"]) for a in raw.annotations]
    assert ours == theirs and ("lights off" in [t for *_, t in ours])
    assert lazy.info["all_channels"] == raw.ch_names
    assert "dropped" not in " ".join(lazy.info["warnings"])


def test_session_archive_gap_is_nan_and_markers_come_back(tmp_path: Path) -> None:
    """A session.bdf replayed lazily: the dropout's samples are NaN (BAD_ACQ_SKIP), never zeros,
    the stream markers are where they were, and every chunk equals load_session's whole read."""
    rng = np.random.default_rng(3)
    rec = SessionRecorder(tmp_path, {"sfreq": 100.0, "channel_names": ["Fpz", "Fp2"], "channel_types": ["eeg", "eeg"],
                                     "start_time": START, "board": "sleeper"})
    sent = []
    for k in range(80):  # 40 s in 0.5-s chunks
        data = rng.normal(0, 30, (2, 50))
        markers = np.zeros(50)
        if k == 10:
            data[:, 20:50] = np.nan  # lost in a dropout ...
        if k == 11:
            data[:, :45] = np.nan  # ... 0.75 s across two chunks
        if k == 30:
            markers[7] = 4.0
        sent.append(data)
        rec.write_chunk(StreamChunk(data, np.arange(50 * k, 50 * k + 50) / 100.0, markers, 50 * k))
    rec.close()
    whole = load_session(rec.folder)
    lazy = open_recording(rec.folder)
    assert isinstance(lazy, EdfRecording) and lazy.n_samples == whole.n_samples == 4000
    x = np.hstack(sent)
    lost = np.isnan(whole.data)
    assert lost[:, 520:595].all() and lost.sum() == np.isnan(x).sum() == 150
    for chunk_s in (0.33, 1.0, 7.0):
        got, markers, _ = _play(RecordingSource(lazy, speed="max", chunk_s=chunk_s))
        np.testing.assert_array_equal(got, whole.data)  # NaN where NaN, the same bits elsewhere
        assert np.flatnonzero(markers).tolist() == [1507] and markers[1507] == 4.0
    assert np.isnan(lazy.block(590, 600)[:, :5]).all() and np.isfinite(lazy.block(590, 600)[:, 5:]).all()
    np.testing.assert_array_equal(lazy.marker_block(1500, 1510), whole.markers[1500:1510])
    assert ("BAD_ACQ_SKIP" in [t for *_, t in lazy.annotations]) and lazy.info["format"] == "session"
    assert not any(t.startswith("Stream marker") for *_, t in lazy.annotations)


def test_pause_speed_and_end_on_a_lazy_source(tmp_path: Path) -> None:
    path, _ = _edf(tmp_path, "edf", seconds=40, sfreq=100.0)
    whole = read_recording(path)
    now = [0.0]
    src = RecordingSource(open_recording(path), speed=1.0, clock=lambda: now[0])
    src.start()
    now[0] = 2.5
    a = src.read()
    assert a.n_samples == 250
    src.pause()
    now[0] = 10.0
    assert src.read().n_samples == 0 and src.paused
    src.resume()
    src.set_speed(4)
    now[0] = 11.0
    b = src.read()
    assert b.n_samples == 400 and b.first_sample == 250
    src.set_speed("max")
    rest = []
    while not src.finished:
        rest.append(src.read().data)
    np.testing.assert_array_equal(np.hstack([a.data, b.data, *rest]), whole.data)
    ended = [e for e in src.poll_events() if e.kind == "ended"]
    assert len(ended) == 1 and src.read().n_samples == 0 and src.position_s == pytest.approx(40.0)


def test_what_only_mne_reads_is_read_whole(tmp_path: Path) -> None:
    """A kept signal below the file's top rate: MNE resamples it, so the file is read by MNE."""
    edfio = pytest.importorskip("edfio")
    rng = np.random.default_rng(0)
    sigs = [edfio.EdfSignal(rng.standard_normal(256 * 60) * 40, sampling_frequency=256, label="EEG Fpz",
                            physical_dimension="uV", physical_range=(-500.0, 500.0)),
            edfio.EdfSignal(rng.standard_normal(64 * 60) * 10, sampling_frequency=64, label="EMG chin",
                            physical_dimension="uV", physical_range=(-500.0, 500.0))]
    path = tmp_path / "mixed.edf"
    edfio.Edf(sigs).write(path)
    rec = open_recording(path)
    assert not isinstance(rec, EdfRecording) and rec.channel_names == ["Fpz", "chin"] and rec.sfreq == 256.0
    np.testing.assert_array_equal(rec.block(10, 20), rec.data[:, 10:20])
