"""The sleeper board as a source (session/sleeper.py) and ``dreamband simulate`` (session/simulate.py)."""

from __future__ import annotations

import argparse
import json
import time

import mne
import numpy as np
import pytest
from brainflow.data_filter import DataFilter

from dreamband.cli import main
from dreamband.recordings.hypnogram import load_hypnogram
from dreamband.recordings.recording import load_recording
from dreamband.session.simulate import run_simulate
from dreamband.session.sleeper import SleeperSource, night_for_args, open_sleeper_source
from dreamband.signal.simulate import simulate_night


def _sim_args(out, **kw) -> argparse.Namespace:
    base = {"output": str(out), "hours": 0.25, "seed": 2, "sfreq": 250.0, "hypnogram": None}
    base.update(kw)
    return argparse.Namespace(**base)


def test_simulate_edf_has_signals_and_true_hypnogram(tmp_path, capsys):
    out = tmp_path / "night.edf"
    assert run_simulate(_sim_args(out)) == 0
    assert "wrote" in capsys.readouterr().out
    night = simulate_night(0.25, 250.0, seed=2)
    raw = mne.io.read_raw_edf(out, preload=True, verbose="error")
    assert raw.ch_names == ["Fp1", "Fp2", "EOG", "EMG"]
    assert raw.info["sfreq"] == 250.0
    got_uv = raw.get_data() * 1e6
    assert got_uv.shape == night.data.shape
    res = np.ptp(night.data, axis=1) / 65535  # EDF 16-bit resolution per channel
    assert np.all(np.abs(got_uv - night.data).max(axis=1) <= res + 1e-6)
    stages, epoch_s = load_hypnogram(out)
    np.testing.assert_array_equal(stages, night.hypnogram)
    rec = load_recording(out)
    assert rec.channel_types == ["eeg", "eeg", "eog", "emg"]
    assert rec.start_time.hour == 23


def test_simulate_from_a_hypnogram_file(tmp_path):
    hyp = tmp_path / "hyp.txt"
    # unscored stretches before and after the night are dropped, an unscored epoch inside is kept
    labels = ["Uns"] * 3 + ["W"] * 4 + ["N1"] * 2 + ["N2"] * 3 + ["Uns"] + ["N2"] * 2 + ["N3"] * 4 + ["R"] * 4 + ["Uns"] * 5
    hyp.write_text("\n".join(labels) + "\n")
    out = tmp_path / "from_hyp.edf"
    assert run_simulate(_sim_args(out, hypnogram=str(hyp), hours=99.0)) == 0
    stages, _ = load_hypnogram(out)
    np.testing.assert_array_equal(stages, [0] * 4 + [1] * 2 + [2] * 3 + [-1] + [2] * 2 + [3] * 4 + [4] * 4)
    assert mne.io.read_raw_edf(out, verbose="error").n_times == 20 * 30 * 250
    ann = mne.read_annotations(out)
    assert any(d == "Artefact: movement" and o == 9 * 30.0 for o, d in zip(ann.onset, ann.description, strict=True))


def test_simulate_brainflow_csv_and_truth_files(tmp_path):
    out = tmp_path / "night.csv"
    assert run_simulate(_sim_args(out, hours=0.05, sfreq=256.0)) == 0
    night = simulate_night(0.05, 256.0, seed=2)
    table = DataFilter.read_file(str(out))
    assert table.shape == (8, night.n_samples)  # Muse 2 layout
    np.testing.assert_allclose(table[1:5], night.data, atol=1e-5)
    assert np.allclose(np.diff(table[6]), 1 / 256.0, atol=1e-5)  # UNIX timestamps at the rate
    truth = json.loads((tmp_path / "night.events.json").read_text())
    assert truth["board"] == "muse-2" and [c["name"] for c in truth["channels"]] == ["Fp1", "Fp2", "EOG", "EMG"]
    assert len(truth["events"]) == len(night.events)
    stages, _ = load_hypnogram(tmp_path / "night.hypnogram.txt")
    np.testing.assert_array_equal(stages, night.hypnogram)
    rec = load_recording(out, board_id=truth["board_id"])
    np.testing.assert_allclose(rec.data[:4], night.data, atol=1e-5)


def test_simulate_rejects_bad_requests(tmp_path, capsys):
    with pytest.raises(ValueError, match=r"\.edf"):
        run_simulate(_sim_args(tmp_path / "night.wav"))
    with pytest.raises(ValueError, match="256, 250 or 200"):
        run_simulate(_sim_args(tmp_path / "night.csv", sfreq=500.0))
    with pytest.raises(FileNotFoundError, match="does not exist"):
        run_simulate(_sim_args(tmp_path / "missing" / "night.edf"))
    assert main(["simulate", str(tmp_path / "x.txt")]) == 2
    assert ".edf" in capsys.readouterr().err


def test_sleeper_replay_path_delivers_the_night_and_its_truth():
    args = argparse.Namespace(speed="max", duration=300.0, seek=None)
    src = open_sleeper_source(args)
    assert isinstance(src, SleeperSource) and src.path == "replay"
    assert src.sfreq == 256.0 and src.channel_names == ["Fp1", "Fp2", "EOG", "EMG"]
    assert len(src.hypnogram) == 10 and src.night.duration_s == 300.0
    src.start()
    chunks = []
    t0 = time.monotonic()
    while not src.finished and time.monotonic() - t0 < 20:
        chunks.append(src.read())
    src.stop()
    data = np.concatenate([c.data for c in chunks if c.n_samples], axis=1)
    np.testing.assert_array_equal(data, src.night.data)
    assert src.stage_at(0.0) == src.hypnogram[0]
    assert src.events == src.night.events
    # the same arguments give the same night, whichever path plays it
    np.testing.assert_array_equal(night_for_args(argparse.Namespace(speed=None, duration=300.0)).data, src.night.data)


def test_sleeper_real_time_path_goes_through_brainflow_playback():
    src = open_sleeper_source(argparse.Namespace(speed=None, duration=60.0, seek=None))
    assert src.path == "brainflow-playback" and src.playback_file.is_file()
    assert src.channel_types == ["eeg", "eeg", "eog", "emg"]
    try:
        src.start()
        got = []
        t0 = time.monotonic()
        while sum(c.n_samples for c in got) < 256 and time.monotonic() - t0 < 10:
            time.sleep(0.2)
            got.append(src.read())
        first = got[0].first_sample
        data = np.concatenate([c.data for c in got], axis=1)
        n = data.shape[1]
        assert n >= 256
        np.testing.assert_allclose(data, src.night.data[:, first:first + n], atol=1e-5)
        raw = np.concatenate([c.raw for c in got], axis=1)
        assert raw.shape[0] == 8  # Muse 2 rows
        # paced at real time: far less than the 60 s of the file arrived
        assert n < 256 * 20
    finally:
        src.stop()
    assert not src.playback_file.exists()
    src.stop()  # safe twice


def test_sleeper_seek_takes_the_replay_path_at_real_time():
    src = open_sleeper_source(argparse.Namespace(speed=None, duration=300.0, seek=60.0))
    assert src.path == "replay" and src.speed == 1.0  # the RecordingSource's own attributes show through
    src.start()
    time.sleep(0.3)
    chunk = src.read()
    src.stop()
    assert chunk.first_sample == 60 * 256
    assert 0 < chunk.n_samples < 256 * 5
    np.testing.assert_array_equal(chunk.data, src.night.data[:, chunk.first_sample:chunk.first_sample + chunk.n_samples])
