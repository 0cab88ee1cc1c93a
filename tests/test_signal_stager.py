"""Stager: the stage does not depend on the sampling rate; unstageable epochs are never forced."""

from __future__ import annotations

import numpy as np
import pytest

from dreamband.signal.epochs import EpochBuffer
from dreamband.signal.quality import assess_epoch
from dreamband.signal.stager import Stager, StageResult, warmup
from dreamband.signal.stages import UNSTAGED

# median log band powers (ln V^2/Hz; delta..gamma) of Sleep-EDF Fpz-Cz epochs per stage
_TARGETS = {0: (-23.6, -26.1, -27.0, -28.2, -28.4), 2: (-24.0, -26.2, -27.3, -28.6, -30.6),
            3: (-22.5, -25.6, -26.9, -28.9, -30.5), 4: (-25.0, -26.6, -27.8, -29.4, -30.1)}
_BANDS = ((0.5, 4.0), (4.0, 8.0), (8.0, 13.0), (13.0, 30.0), (30.0, 45.0))


def _analytic_night(t: np.ndarray, seed: int = 3) -> np.ndarray:
    """A continuous-time test signal (µV), so it can be sampled at any rate: per band, 40
    sinusoids whose amplitudes follow stage-like band powers (W, N2, N3, REM for 3 min each),
    changing smoothly (2-s ramps) between blocks."""
    rng = np.random.default_rng(seed)
    order = [0, 2, 3, 4]
    block = np.clip(t // 180.0, 0, len(order) - 1).astype(int)
    frac = np.clip((t - block * 180.0) / 2.0, 0, 1)  # ramp from the previous block
    x = np.zeros_like(t)
    for b, (lo, hi) in enumerate(_BANDS):
        amp = np.array([np.sqrt(2 * (hi - lo) * np.exp(_TARGETS[s][b]) / 40) * 1e6 for s in order])
        env = amp[block] * frac + amp[np.maximum(block - 1, 0)] * (1 - frac)
        for f, ph in zip(rng.uniform(lo, hi, 40), rng.uniform(0, 2 * np.pi, 40), strict=True):
            x += env * np.sin(2 * np.pi * f * t + ph)
    return x


def _stage_at(sfreq: float, minutes: float = 12.0) -> list[StageResult]:
    buf = EpochBuffer(sfreq, 1)
    # the streaming resampler delays the staging rows by delay_in samples (0 at 100 Hz): sample the
    # signal that much earlier so every rate stages the same 30 s
    t = np.arange(int(minutes * 60 * sfreq)) / sfreq + buf._resampler.delay_in / sfreq
    x = _analytic_night(t)[None, :]
    stager = Stager()
    out = []
    for i in range(0, x.shape[1], int(sfreq * 7)):
        for ep in buf.push(x[:, i : i + int(sfreq * 7)]):
            out.append(stager.stage(ep.staging_v, assess_epoch(ep.data_uv, sfreq, ["Fpz"])))
    return out


def test_stage_does_not_depend_on_sampling_rate() -> None:
    warmup()
    ref = _stage_at(100.0)
    stages = [r.stage for r in ref]
    assert len(stages) == 24
    assert len(set(stages)) >= 2, "the test signal should visit more than one stage"
    for sfreq in (125.0, 200.0, 250.0, 256.0):
        res = _stage_at(sfreq)
        assert [r.stage for r in res] == stages, f"stages differ at {sfreq} Hz"
        np.testing.assert_allclose([r.probabilities for r in res], [r.probabilities for r in ref], atol=0.05)


def test_unstageable_epochs_are_unstaged_with_reasons() -> None:
    stager = Stager()
    rng = np.random.default_rng(0)
    flat = np.zeros((1, 7500))
    q = assess_epoch(flat, 250.0, ["Fpz"])
    assert not q.ok and q.status["Fpz"] == "flat"
    (ep,) = EpochBuffer(250.0, 1).push(flat)
    r = stager.stage(ep.staging_v, q)
    assert r.stage == UNSTAGED and not r.quality_ok and r.reasons and np.all(np.isnan(r.probabilities))
    # without a quality object the stager still refuses a dead channel
    r = stager.stage(np.zeros((1, 3000)))
    assert r.stage == UNSTAGED and "no signal" in r.reasons[0]
    # a normal epoch afterwards is staged; the gap is remembered
    good = rng.standard_normal((1, 3000)) * 20e-6
    r = stager.stage(good)
    assert r.stage in range(5) and r.epoch_index == 2
    assert abs(r.probabilities.sum() - 1) < 1e-9 and r.confidence == r.probabilities.max()
    assert set(r.features) >= {"fpz_delta", "fpz_hjorth_mobility"}


def test_reset_and_validation() -> None:
    stager = Stager()
    x = np.random.default_rng(1).standard_normal((1, 3000)) * 20e-6
    a = [stager.stage(x).probabilities for _ in range(3)]
    stager.reset()
    b = [stager.stage(x).probabilities for _ in range(3)]
    np.testing.assert_allclose(a, b)
    with pytest.raises(ValueError, match="3000"):
        stager.stage(np.zeros((1, 2000)))
    with pytest.raises(ValueError, match="increase"):
        stager.stage(x, epoch_index=1)
    with pytest.raises(ValueError, match="channel"):
        Stager(n_channels=3)
    two = Stager(n_channels=2)
    assert two.stage(np.vstack([x, x])).stage in range(5)
