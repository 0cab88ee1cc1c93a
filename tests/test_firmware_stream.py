"""BoardStream on real BrainFlow boards (synthetic and playback-file), no mocks."""

from __future__ import annotations

import time
from dataclasses import replace
from pathlib import Path

import numpy as np
import pytest
from brainflow.board_shim import BoardShim
from brainflow.data_filter import DataFilter

from dreamband.firmware_bridge import (
    BoardConfig,
    BoardConnectionError,
    BoardStream,
    Montage,
    Source,
    StreamChunk,
    board_info,
)
from dreamband.firmware_bridge.stream import PackageCounter

SYN = board_info("synthetic")


def _collect(stream: BoardStream, seconds: float, until_finished: bool = False):
    """Poll like the engine does (every 50 ms); return chunks and events."""
    chunks: list[StreamChunk] = []
    events = []
    t_end = time.monotonic() + seconds
    while time.monotonic() < t_end:
        time.sleep(0.05)
        chunks.append(stream.read())
        events += stream.poll_events()
        if until_finished and stream.finished:
            break
    return chunks, events


def _concat(chunks: list[StreamChunk], attr: str = "raw") -> np.ndarray:
    parts = [getattr(c, attr) for c in chunks if c.n_samples]
    return np.concatenate(parts, axis=-1)


def _write_synthetic_file(path: Path, n: int, seed: int = 0, skip: tuple[int, int] | None = None,
                          pause: tuple[int, float] | None = None) -> np.ndarray:
    """Write a BrainFlow CSV in the synthetic board's layout; return what BrainFlow reads back.

    skip=(i, k): k samples missing after sample i (package counter and time jump).
    pause=(i, s): the recording's clock jumps s seconds after sample i (a dropout).
    """
    rng = np.random.default_rng(seed)
    idx = np.arange(n + (skip[1] if skip else 0))
    if skip:
        i, k = skip
        idx = np.concatenate([idx[: i + 1], idx[i + 1 + k:]])
    data = np.zeros((SYN.n_rows, idx.size))
    data[SYN.package_num_row] = idx % 256
    data[list(SYN.eeg_rows)] = rng.normal(0.0, 20.0, (len(SYN.eeg_rows), idx.size))
    data[list(SYN.accel_rows)] = rng.normal(0.0, 0.01, (len(SYN.accel_rows), idx.size))
    ts = 1_764_000_000.0 + idx / SYN.sfreq
    if pause:
        ts[pause[0] + 1:] += pause[1]
    data[SYN.timestamp_row] = ts
    DataFilter.write_file(data, str(path), "w")
    back = DataFilter.read_file(str(path))
    np.testing.assert_allclose(back, data, atol=1e-5)
    return back


def test_synthetic_stream_rate_channels_and_markers():
    stream = BoardStream(BoardConfig(board="synthetic"))
    assert isinstance(stream, Source)
    assert stream.sfreq == 250.0
    assert stream.channel_names == [*BoardShim.get_eeg_names(SYN.board_id), "accel_x", "accel_y", "accel_z"]
    assert stream.channel_types == ["eeg"] * 16 + ["accel"] * 3
    inserted = []
    chunks = []
    with stream:
        t_end = time.monotonic() + 3.0
        k = 0
        while time.monotonic() < t_end:
            time.sleep(0.05)
            chunks.append(stream.read())
            k += 1
            if k in (15, 30, 45):
                t_before = time.time()
                stream.insert_marker(float(k))
                inserted.append((float(k), t_before, time.time()))
    stats = stream.stats
    chunks.append(stream.read())  # what arrived before stop stays readable
    assert stream.poll_events() == []

    n = sum(c.n_samples for c in chunks)
    assert n == stats.samples_received
    assert stats.samples_lost == 0 and stats.gaps == 0 and stats.dropouts == 0
    assert abs(stats.achieved_rate - 250.0) / 250.0 < 0.05, stats.achieved_rate
    assert abs(n / 3.0 - 250.0) / 250.0 < 0.1
    # chunks are contiguous, shaped (n_channels, n), float64
    firsts = [c.first_sample for c in chunks]
    sizes = [c.n_samples for c in chunks]
    assert firsts == list(np.concatenate([[0], np.cumsum(sizes)[:-1]]))
    data = _concat(chunks, "data")
    raw = _concat(chunks, "raw")
    assert data.shape == (19, n) and data.dtype == np.float64 and raw.shape == (SYN.n_rows, n)
    np.testing.assert_array_equal(data, raw[list(stream.montage.rows)])
    counter = raw[SYN.package_num_row]
    assert np.all((np.diff(counter) == 1) | (np.diff(counter) == -255))
    # markers come back on the marker row, once each, on the sample taken when they were inserted
    markers = _concat(chunks, "markers")
    np.testing.assert_array_equal(markers, raw[SYN.marker_row])
    where = np.flatnonzero(markers)
    assert markers[where].tolist() == [m for m, _, _ in inserted]
    ts = _concat(chunks, "timestamps")
    for i, (_, t0, t1) in zip(where, inserted, strict=True):
        assert t0 - 0.01 <= ts[i] <= t1 + 0.1, (ts[i] - t0)


def test_playback_gives_back_the_file(tmp_path):
    path = tmp_path / "rec.csv"
    expected = _write_synthetic_file(path, 300)
    cfg = BoardConfig(board="playback", playback_file=str(path), master_board="synthetic",
                      dropout_timeout_s=0.4, reconnect_initial_s=0.1, max_reconnect_attempts=1)
    stream = BoardStream(cfg)
    assert stream.channel_names == list(Montage.default(SYN).names)
    stream.start()
    chunks, events = _collect(stream, 8.0, until_finished=True)
    stream.stop()
    raw = _concat(chunks)
    np.testing.assert_array_equal(raw, expected)  # same samples, same (old) timestamps
    np.testing.assert_array_equal(_concat(chunks, "data"), expected[list(stream.montage.rows)])
    assert stream.finished and stream.stats.samples_lost == 0
    assert [e.kind for e in events] == ["dropout", "reconnect_attempt", "ended"]


def test_playback_that_runs_out_drops_out_retries_and_ends(tmp_path):
    path = tmp_path / "short.csv"
    expected = _write_synthetic_file(path, 250, seed=1)
    cfg = BoardConfig(board="playback", playback_file=str(path), master_board="synthetic",
                      dropout_timeout_s=0.5, reconnect_initial_s=0.1, reconnect_max_s=0.2,
                      max_reconnect_attempts=3)
    stream = BoardStream(cfg)
    stream.start()
    chunks, events = _collect(stream, 12.0, until_finished=True)
    assert stream.finished and not stream.running
    stream.stop()
    stream.stop()  # idempotent
    kinds = [e.kind for e in events]
    assert kinds == ["dropout", "reconnect_attempt", "reconnect_attempt", "reconnect_attempt", "ended"]
    dropout = events[0]
    # detected within the timeout plus a few polls of the reader thread
    assert 0.5 <= dropout.details["since_last_sample_s"] < 0.5 + 0.3
    assert [e.details["attempt"] for e in events[1:4]] == [1, 2, 3]
    assert all(e.details["resume_line"] == 250 for e in events[1:4])  # resumed at the end, not replayed
    assert [e.details["waited_s"] for e in events[1:4]] == [0.1, 0.2, 0.2]  # backoff, capped
    assert "ended" in events[-1].message
    # everything received before the dropout is kept, nothing duplicated
    np.testing.assert_array_equal(_concat(chunks), expected)
    st = stream.stats
    assert st.samples_received == 250 and st.dropouts == 1 and st.reconnects == 0
    assert st.samples_lost == 0 and st.seconds_lost == 0.0
    assert stream.read().n_samples == 0


def test_dropout_mid_file_reconnects_and_counts_the_gap(tmp_path):
    """A recording whose clock stops for 1 s (the headband out of range) and that lost 10
    packages earlier: the playback board really goes silent, the stream reconnects and resumes."""
    path = tmp_path / "gappy.csv"
    expected = _write_synthetic_file(path, 400, seed=2, skip=(99, 10), pause=(249, 1.0))
    cfg = BoardConfig(board="playback", playback_file=str(path), master_board="synthetic",
                      dropout_timeout_s=0.4, reconnect_initial_s=0.1, max_reconnect_attempts=1)
    with BoardStream(cfg) as stream:
        chunks, events = _collect(stream, 10.0, until_finished=True)
    chunks.append(stream.read())
    kinds = [e.kind for e in events]
    # then the file runs out: a second dropout, one attempt, the end
    assert kinds == ["gap", "dropout", "reconnect_attempt", "reconnected", "dropout", "reconnect_attempt",
                     "ended"], kinds
    gap = events[0]
    assert gap.details["lost_samples"] == 10
    reconnected = events[3]
    assert reconnected.details["lost_samples"] == 250  # 1.0 s at 250 Hz
    assert reconnected.details["lost_s"] == pytest.approx(1.0)
    got = _concat(chunks)
    filled = np.isnan(got[SYN.eeg_rows[0]])
    # the 10 packages lost after sample 99 come back as NaN where they were lost, and the 1-s
    # dropout as 250 NaN samples right before the first sample after it
    assert filled.sum() == 260 and np.all(filled[100:110]) and not filled[:100].any()
    assert np.all(filled[260:510]) and not filled[110:260].any() and not filled[510:].any()
    np.testing.assert_array_equal(got[:, ~filled], expected)  # nothing lost or repeated on our side
    ts = got[SYN.timestamp_row]
    assert np.all(np.diff(ts) > 0) and np.allclose(np.diff(ts), 1 / SYN.sfreq, atol=1e-6)
    st = stream.stats
    assert st.samples_received == 400
    assert st.samples_lost == 260 and st.gaps == 2 and st.dropouts == 2 and st.reconnects == 1
    assert st.seconds_lost == pytest.approx(1.04)


def test_two_boards_stream_at_once(tmp_path):
    path = tmp_path / "other.csv"
    _write_synthetic_file(path, 500, seed=3)
    a = BoardStream(BoardConfig(board="synthetic"))
    b = BoardStream(BoardConfig(board="synthetic"))
    c = BoardStream(BoardConfig(board="playback", playback_file=str(path), master_board="synthetic"))
    try:
        for s in (a, b, c):
            s.start()
        time.sleep(1.5)
        got = [s.read() for s in (a, b, c)]
        a.insert_marker(3.0)
        time.sleep(0.2)
        marks = [s.read().markers for s in (a, b)]
    finally:
        for s in (a, b, c):
            s.stop()
    for chunk in got:
        assert 250 <= chunk.n_samples <= 450
    assert np.count_nonzero(marks[0] == 3.0) == 1 and np.count_nonzero(marks[1]) == 0


def test_bad_port_and_missing_device_are_clear(tmp_path):
    cfg = BoardConfig(board="cyton", serial_port="/dev/nonexistent-dreamband")
    stream = BoardStream(cfg)
    with pytest.raises(BoardConnectionError) as err:
        stream.start()
    msg = str(err.value)
    assert "'cyton'" in msg and "/dev/nonexistent-dreamband" in msg and "dongle" in msg
    assert not stream.running
    with pytest.raises(BoardConnectionError, match="'cyton-daisy' needs a serial port; connect it with --serial-port"):
        BoardStream(BoardConfig(board="cyton-daisy")).start()
    with pytest.raises(ValueError, match="Allowed values are"):
        BoardStream(BoardConfig(board="openbci"))
    with pytest.raises(FileNotFoundError, match="gone.csv"):
        BoardStream(BoardConfig(board="playback", playback_file=str(tmp_path / "gone.csv"), master_board="cyton"))
    with pytest.raises(TypeError, match="BoardConfig"):
        BoardStream("synthetic")  # type: ignore[arg-type]


def test_session_is_released_on_exceptions_and_markers_are_checked():
    cfg = BoardConfig(board="synthetic", other_info="dreamband-release-test")
    stream = BoardStream(cfg)
    with pytest.raises(KeyError), stream:
        with pytest.raises(ValueError, match="non-zero"):
            stream.insert_marker(0.0)
        raise KeyError("boom")
    assert not stream.running
    with pytest.raises(RuntimeError, match="insert_marker needs a started stream"):
        stream.insert_marker(1.0)
    with pytest.raises(RuntimeError, match="create a new one"):
        stream.start()
    # BrainFlow refuses a second session with the same parameters unless the first was released
    again = BoardStream(cfg)
    again.start()
    again.stop()


def test_live_board_that_stops_sending_is_reconnected():
    """The synthetic board's stream is stopped under the BoardStream (the dongle pulled): a
    dropout, a reconnect with a fresh session, and the gap measured on the board's clock."""
    cfg = BoardConfig(board="synthetic", dropout_timeout_s=0.4, reconnect_initial_s=0.2)
    stream = BoardStream(cfg)
    with stream:
        before, _ = _collect(stream, 1.0)
        stream._shim.stop_stream()  # the board goes silent (private handle: test only)
        t_silent = time.time()
        after, events = _collect(stream, 3.0)
        assert stream.running
    kinds = [e.kind for e in events]
    assert kinds == ["dropout", "reconnect_attempt", "reconnected"], kinds
    rec = events[-1]
    # silent from the stop until the new session's first sample: timeout + backoff + restart
    assert 0.55 <= rec.details["lost_s"] <= 1.5, rec.details
    assert rec.details["lost_samples"] == round(rec.details["lost_s"] * 250)
    chunks = before + after + [stream.read()]
    ts = _concat(chunks, "timestamps")
    assert np.all(np.diff(ts) < 0.3)  # the gap is filled on the board's clock...
    filled = np.flatnonzero(np.isnan(_concat(chunks, "data")[0]))
    assert filled.size == rec.details["lost_samples"]  # ...with NaN samples, in one run
    assert np.all(np.diff(filled) == 1) and ts[filled[0]] <= t_silent + 0.05
    st = stream.stats
    assert st.dropouts == 1 and st.reconnects == 1 and st.samples_lost == rec.details["lost_samples"]
    assert st.samples_received == ts.size - filled.size and 0 < st.achieved_rate


def test_interpreter_exit_without_stop_is_clean():
    """A script that forgets stop(): the finalizer releases the session at exit, no hang."""
    import subprocess
    import sys

    code = (
        "import time\n"
        "from dreamband.firmware_bridge import BoardConfig, BoardStream\n"
        "s = BoardStream(BoardConfig(board='synthetic'))\n"
        "s.start(); time.sleep(0.5)\n"
        "print(s.read().n_samples > 0)\n"
    )
    t0 = time.monotonic()
    out = subprocess.run([sys.executable, "-c", code], capture_output=True, text=True, timeout=30)
    assert out.returncode == 0, out.stderr
    assert out.stdout.strip() == "True"
    assert time.monotonic() - t0 < 20


def _feed(counter: PackageCounter, values: np.ndarray, sizes=(1, 7, 13, 50)) -> int:
    """Feed values in chunks of varying sizes, like successive pulls; return the total lost."""
    lost, i, k = 0, 0, 0
    while i < values.size:
        n = sizes[k % len(sizes)]
        lost += counter.update(values[i:i + n])
        i, k = i + n, k + 1
    return lost


def test_package_counter_cyton_like_wraps_at_255():
    seq = np.arange(1200) % 256
    assert _feed(PackageCounter(), seq) == 0
    lossy = np.delete(seq, np.arange(508, 518))  # values 252..255 and 0..5: straddles a wrap
    assert _feed(PackageCounter(), lossy) == 10
    lossy = np.delete(seq, [3, 4, 300, 777])
    assert _feed(PackageCounter(), lossy) == 4


def test_package_counter_repeated_and_offset_values():
    # ids cycling through 101..200 (not from 0), two samples per id
    seq = np.repeat(np.tile(np.arange(101, 201), 4), 2)
    assert _feed(PackageCounter(), seq) == 0
    lossy = np.delete(seq, np.arange(2 * 198, 2 * 201))  # ids 199, 200 of the 2nd cycle and 101 of the 3rd: 3 ids, 6 samples
    assert seq.size - lossy.size == 6
    assert _feed(PackageCounter(), lossy) == 6


def test_package_counter_step_two_and_restart():
    seq = (2 * np.arange(600)) % 256  # a board that merges two packages per sample
    assert _feed(PackageCounter(), seq) == 0
    assert _feed(PackageCounter(), np.delete(seq, [10, 11])) == 2
    counter = PackageCounter()
    assert counter.update(np.arange(100, 140)) == 0
    counter.restart()  # a new session: its counter starts anywhere, no loss counted
    assert counter.update(np.arange(0, 40)) == 0
    assert counter.update(np.arange(41, 50)) == 1


def test_muse_playback_holds_the_auxiliary_accelerometer(tmp_path):
    """A Muse S recording (EEG at 256 Hz + accelerometer at 52 Hz in BrainFlow's auxiliary
    preset) played back: the accelerometer comes out at the EEG samples' times."""
    muse = board_info("muse-s")
    rng = np.random.default_rng(4)
    n, t0 = 384, 1_764_000_000.0
    eeg = np.zeros((muse.n_rows, n))
    eeg[muse.package_num_row] = np.arange(n) % 256
    eeg[list(muse.eeg_rows)] = rng.normal(800.0, 30.0, (len(muse.eeg_rows), n))
    eeg[muse.timestamp_row] = t0 + np.arange(n) / muse.sfreq
    aux_descr = BoardShim.get_board_descr(muse.board_id, 1)
    n_aux = int(n / muse.sfreq * muse.aux_sfreq) + 2
    aux = np.zeros((aux_descr["num_rows"], n_aux))
    aux[list(muse.aux_accel_rows)] = rng.normal(0.0, 0.5, (3, n_aux))
    aux[muse.aux_timestamp_row] = t0 - 0.005 + np.arange(n_aux) / muse.aux_sfreq
    DataFilter.write_file(eeg, str(tmp_path / "muse.csv"), "w")
    DataFilter.write_file(aux, str(tmp_path / "muse_aux.csv"), "w")
    eeg = DataFilter.read_file(str(tmp_path / "muse.csv"))
    aux = DataFilter.read_file(str(tmp_path / "muse_aux.csv"))

    cfg = BoardConfig(board="playback", master_board="muse-s", playback_file=str(tmp_path / "muse.csv"),
                      playback_file_aux=str(tmp_path / "muse_aux.csv"), dropout_timeout_s=0.4,
                      reconnect_initial_s=0.1, max_reconnect_attempts=1)
    with BoardStream(cfg) as stream:
        assert stream.channel_names == ["TP9", "AF7", "AF8", "TP10", "accel_x", "accel_y", "accel_z"]
        assert stream.sfreq == 256.0
        chunks, _ = _collect(stream, 8.0, until_finished=True)
    data = _concat(chunks, "data")
    np.testing.assert_array_equal(data[:4], eeg[list(muse.eeg_rows)])
    ts = _concat(chunks, "timestamps")
    aux_ts = aux[muse.aux_timestamp_row]
    latest = np.searchsorted(aux_ts, ts, side="right") - 1
    acc = aux[list(muse.aux_accel_rows)]
    got = data[4:]
    assert np.isfinite(got).mean() > 0.95
    # each EEG sample carries the latest accelerometer sample (or, when that one had not yet
    # arrived from its own thread, the one before)
    for j in np.flatnonzero(np.isfinite(got[0])):
        assert any(np.array_equal(got[:, j], acc[:, k]) for k in (latest[j], latest[j] - 1) if k >= 0), j
    same_as_latest = np.mean([np.array_equal(got[:, j], acc[:, latest[j]]) for j in range(ts.size)])
    assert same_as_latest > 0.8
    # without the auxiliary file the montage has no accelerometer
    no_aux = BoardStream(replace(cfg, playback_file_aux=None))
    assert no_aux.channel_names == ["TP9", "AF7", "AF8", "TP10"]


def test_package_counter_says_where_samples_were_lost():
    counter = PackageCounter()
    seq = np.arange(40) % 256
    first = counter.update_positions(seq[:10])
    assert first.tolist() == [0] * 10
    lossy = np.delete(seq[10:], [5, 6, 7])  # 3 lost before the value 18
    where = counter.update_positions(lossy)
    assert where.sum() == 3 and where[5] == 3 and np.count_nonzero(where) == 1
    assert counter.update_positions(np.array([45.0]))[0] == 5  # 40..44 lost before 45
