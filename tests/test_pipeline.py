"""The session pipeline: one staging path for the engine, ``stage`` and the batch path; causal."""

from __future__ import annotations

import datetime as dt
import json

import numpy as np
import pytest

from dreamband.firmware_bridge.chunk import StreamChunk
from dreamband.recordings.replay import RecordingSource
from dreamband.session.engine import SessionEngine
from dreamband.session.events import EpochStaged, SamplesArrived
from dreamband.session.offline import stage_signal, stage_signal_batch
from dreamband.session.pipeline import SessionPipeline
from dreamband.session.settings import SessionSettings
from dreamband.session.sleeper import night_to_recording
from dreamband.signal.simulate import simulate_night

START = dt.datetime(2026, 3, 1, 23, 0, tzinfo=dt.timezone.utc)


@pytest.fixture(scope="module")
def night():
    # 1 h with the generator's artefacts (movement, pops, line noise, headband off): unstaged epochs too
    return simulate_night(1.0, 128.0, seed=11)


def _settings() -> SessionSettings:
    s = SessionSettings()
    s.triggers.smart_alarm.window = "23:20-23:40"
    s.triggers.dream_report.enabled = True
    s.triggers.rem_cue.enabled = True
    s.triggers.nightmare_wake.enabled = True
    return s


def _run(pipe: SessionPipeline, data: np.ndarray, chunk: int) -> list[str]:
    """Feed ``data`` in chunks as the engine does (process, then tick); events as JSON lines."""
    out = []
    for i in range(0, data.shape[1], chunk):
        x = data[:, i : i + chunk]
        c = StreamChunk(x, np.arange(i, i + x.shape[1]) / pipe.sfreq, np.zeros(x.shape[1]), i)
        out += pipe.process(c) + pipe.tick(pipe.time)
    return [json.dumps(e.to_dict(), sort_keys=True) for e in out]


def _pipeline(night) -> SessionPipeline:
    return SessionPipeline(night.sfreq, list(night.channel_names), list(night.channel_types), _settings(),
                           start_datetime=START)


@pytest.mark.slow
def test_first_minutes_alone_give_the_first_minutes_of_the_whole(night):
    """Causality at the pipeline level: every event of the first 25 min, identical, with or without the rest."""
    n_part = int(25 * 60 * night.sfreq)
    chunk = int(night.sfreq)
    whole = _run(_pipeline(night), night.data, chunk)
    part = _run(_pipeline(night), night.data[:, :n_part], chunk)
    head = [e for e in whole if json.loads(e)["time"] <= 25 * 60 + 1e-9]
    assert part == head
    kinds = {json.loads(e)["kind"] for e in part}
    assert {"epoch", "state", "samples", "trigger"} <= kinds
    assert sum(json.loads(e)["kind"] == "epoch" for e in part) == 50


@pytest.mark.slow
def test_epochs_do_not_depend_on_the_chunking(night):
    a = _pipeline(night)
    b = _pipeline(night)
    _run(a, night.data, int(night.sfreq))
    _run(b, night.data, int(7.3 * night.sfreq))
    assert len(a.epochs) == len(b.epochs) == 120
    assert [json.dumps(e.to_dict()) for e in a.epochs] == [json.dumps(e.to_dict()) for e in b.epochs]


@pytest.mark.slow
def test_engine_stage_and_batch_are_one_staging_path(night):
    """The engine (replay), ``stage_signal`` (chunks) and ``stage_signal_batch`` give the very same epochs."""
    rec = night_to_recording(night, START)
    rec.data = rec.data.copy()
    rec.data[:, int(600 * rec.sfreq) : int(640 * rec.sfreq)] = np.nan  # 40 s lost: epochs 20, 21 refused
    eng = SessionEngine(RecordingSource(rec, speed="max", chunk_s=1.0), _settings())
    events = eng.run_to_end()
    assert not any(isinstance(e, SamplesArrived) for e in events)
    row = eng.staging_rows[0]
    assert rec.channel_names[row] == rec.channel_names[rec.frontal_channel()]
    x = rec.data[[row]]
    live = stage_signal(x, rec.sfreq, [rec.channel_names[row]])
    batch = stage_signal_batch(x, rec.sfreq, [rec.channel_names[row]])
    staged = [e for e in events if isinstance(e, EpochStaged)]
    assert len(staged) == len(live) == len(batch) == 120
    n_unstaged = 0
    for e, a, b in zip(staged, live, batch, strict=True):
        assert e.stage == a.result.stage == b.result.stage
        np.testing.assert_allclose(e.probabilities, a.result.probabilities, rtol=0, atol=0)
        np.testing.assert_allclose(a.result.probabilities, b.result.probabilities, rtol=0, atol=1e-12)
        assert e.quality_reasons == a.result.reasons == b.result.reasons
        n_unstaged += e.stage == -1
    assert n_unstaged >= 2  # refused the same way on all three paths


def test_pipeline_validates_its_input(night):
    with pytest.raises(ValueError, match="no EEG channel"):
        SessionPipeline(128.0, ["EOG"], ["eog"])
    with pytest.raises(ValueError, match="positive"):
        SessionPipeline(0.0, ["Fpz"], ["eeg"])
    pipe = _pipeline(night)
    with pytest.raises(ValueError, match="shape"):
        pipe.stage_stream(np.zeros((1, 10)))
    pipe.stage_all(night.data)
    with pytest.raises(RuntimeError, match="fresh pipeline"):
        pipe.stage_all(night.data)
