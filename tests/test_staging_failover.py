"""Issue 12 (e): staging-channel failover and a signal-lost safety that follows the staging channels.

An 8-electrode-like montage (Fp1, Fp2, C3, C4 + EOG, EMG): Fp1 falls off at 5 min. The pipeline
stages from Fp2 from then on and says so; when Fp2 is lost too, the signal-lost safety fires
after ``signal_lost_min`` although the central channels are fine.
"""

from __future__ import annotations

import numpy as np
import pytest

from dreamband.firmware_bridge.chunk import StreamChunk
from dreamband.session.events import LogMessage, TriggerFired
from dreamband.session.pipeline import SessionPipeline
from dreamband.session.settings import SessionSettings
from dreamband.signal.simulate import simulate_night
from dreamband.signal.stages import UNSTAGED

SFREQ = 128.0


@pytest.fixture(scope="module")
def montage():
    night = simulate_night(0.5, SFREQ, seed=7, artefacts="none")
    rng = np.random.default_rng(1)
    fp1, fp2, eog, emg = night.data
    c3 = fp2 * 0.6 + 8.0 * rng.standard_normal(fp2.size)
    c4 = fp2 * 0.6 + 8.0 * rng.standard_normal(fp2.size)
    data = np.vstack([fp1, fp2, c3, c4, eog, emg]).copy()
    names = ["Fp1", "Fp2", "C3", "C4", "EOG", "EMG"]
    types = ["eeg", "eeg", "eeg", "eeg", "eog", "emg"]
    return data, names, types


def _run(data, names, types):
    pipe = SessionPipeline(SFREQ, names, types, SessionSettings(), failover=True)
    events = []
    step = int(10 * SFREQ)
    for i in range(0, data.shape[1], step):
        x = data[:, i : i + step]
        events += pipe.process(StreamChunk(x, np.arange(i, i + x.shape[1]) / SFREQ, np.zeros(x.shape[1]), i))
        events += pipe.tick(pipe.time)
    return pipe, events


def test_fp1_falls_off_staging_moves_to_fp2(montage):
    data, names, types = montage
    data = data.copy()
    data[0, int(300 * SFREQ):] = 0.0  # Fp1 off: a flat line from 5 min on
    pipe, events = _run(data, names, types)
    assert pipe.staging_rows == [1]
    said = [e for e in events if isinstance(e, LogMessage) and "staging from Fp2" in e.message]
    assert len(said) == 1 and "Fp1" in said[0].message and 300.0 < said[0].time <= 360.0
    late = [e for e in pipe.epochs if e.onset >= 360.0]
    assert len(late) == 48
    assert sum(e.stage != UNSTAGED for e in late) >= 43  # before failover: every one unstaged


def test_signal_lost_follows_the_staging_channels(montage):
    data, names, types = montage
    data = data.copy()
    data[0, int(60 * SFREQ):] = 0.0  # Fp1 off at 1 min
    data[1, int(120 * SFREQ):] = 0.0  # Fp2 off at 2 min; C3/C4 stay good
    pipe, events = _run(data, names, types)
    lost = [e for e in events if isinstance(e, TriggerFired) and e.policy == "safety_signal_lost"]
    assert len(lost) == 1  # before: never, because C3 and C4 were good
    assert 120.0 + 600.0 <= lost[0].time <= 180.0 + 600.0
