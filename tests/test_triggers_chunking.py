"""Issue 12 (d): every trigger is a function of the data alone, not of the chunk size.

The arousal readings (beta/EMG ratios over the calm-REM baseline) fed to the nightmare wake and
the REM-cue back-off are identical with 0.37-s and 7-s chunks (neither divides 30 s), NaN in the
same places; the calm-REM baseline leaves aroused windows out.
"""

from __future__ import annotations

import numpy as np
import pytest

from dreamband.firmware_bridge.chunk import StreamChunk
from dreamband.session.pipeline import SessionPipeline
from dreamband.session.settings import SessionSettings
from dreamband.session.triggers.base import Policy
from dreamband.signal.detectors import ArousalDetector
from dreamband.signal.simulate import simulate_night
from dreamband.signal.stages import N2, REM, W


class _Probe(Policy):
    """Keeps every arousal reading the policies see."""

    name = "probe"

    def __init__(self) -> None:
        super().__init__(None)
        self.readings: list = []

    def on_arousal(self, reading, state):
        self.readings.append(reading)
        return []


@pytest.fixture(scope="module")
def rem_night():
    # 2 min awake, 8 min of N2, 13 min of REM (the stager, trained on nights that start 0-3 h before
    # sleep onset, does not stage REM two minutes after start: it needs sleep to have begun)
    hyp = np.array([W] * 4 + [N2] * 16 + [REM] * 26)
    return simulate_night(None, 128.0, seed=5, hypnogram=hyp, artefacts="none")


def _readings(night, chunk_s: float) -> np.ndarray:
    s = SessionSettings()
    s.triggers.nightmare_wake.enabled = True
    s.triggers.rem_cue.enabled = True
    pipe = SessionPipeline(night.sfreq, list(night.channel_names), list(night.channel_types), s)
    probe = _Probe()
    pipe.policies["probe"] = probe
    step = int(round(chunk_s * night.sfreq))
    for i in range(0, night.data.shape[1], step):
        x = night.data[:, i : i + step]
        pipe.process(StreamChunk(x, np.arange(i, i + x.shape[1]) / night.sfreq, np.zeros(x.shape[1]), i))
        pipe.tick(pipe.time)
    assert sum(e.stage == REM for e in pipe.epochs) >= 2, "the stager must see REM for the baseline to form"
    return np.array([(r.time, r.beta, r.emg, r.beta_ratio, r.emg_ratio, r.baseline_ready) for r in probe.readings])


def test_arousal_readings_do_not_depend_on_the_chunk_size(rem_night):
    small = _readings(rem_night, 0.37)
    large = _readings(rem_night, 7.0)
    assert small.shape == large.shape and small.shape[0] > 800
    ready = small[:, 5].astype(bool)
    assert ready.any() and not ready.all()  # the baseline forms during the night
    np.testing.assert_array_equal(np.isnan(small), np.isnan(large))  # NaN in the same places
    np.testing.assert_allclose(small, large, rtol=1e-12, atol=0, equal_nan=True)


def test_calm_rem_baseline_leaves_aroused_windows_out():
    sfreq = 128.0
    rng = np.random.default_rng(3)
    det = ArousalDetector(sfreq, eeg_rows=[0], min_baseline_windows=5)
    calm = 10.0 * rng.standard_normal(int(60 * sfreq))
    det.process(calm[None, :])
    assert det.add_baseline(0.0, 60.0) >= 57  # of 59: calm noise is (nearly) all kept
    before = det.baseline()
    # a REM epoch with a 10-s beta burst (arousal) in its middle
    t = np.arange(int(30 * sfreq)) / sfreq
    x = 10.0 * rng.standard_normal(t.size)
    burst = (t >= 10) & (t < 20)
    x[burst] += 40.0 * np.sin(2 * np.pi * 22.0 * t[burst])
    det.process(x[None, :])
    added = det.add_baseline(60.0, 90.0)
    assert 10 <= added <= 19  # the windows touching the burst (about 11 of 29) are left out
    after = det.baseline()
    assert after[0] == pytest.approx(before[0], rel=0.1)  # it does not rise after the arousal
