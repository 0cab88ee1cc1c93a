"""Conditioning before epochs (high-pass, notch, streaming resampler), gain invariance, bursts, low rates."""

from __future__ import annotations

import numpy as np
import pytest
from scipy import signal as sps

from dreamband.session.offline import stage_signal, stage_signal_batch
from dreamband.session.pipeline import SessionPipeline
from dreamband.session.training import stage_metrics, unused_mask
from dreamband.signal.conditioning import SignalConditioner, conditioning_sos
from dreamband.signal.context import context_features, feature_names
from dreamband.signal.features import base_features_many
from dreamband.signal.simulate import simulate_night
from dreamband.signal.stager import MOVEMENT_FACTOR, MovementGate
from dreamband.signal.stages import UNSTAGED


@pytest.fixture(scope="module")
def night():
    return simulate_night(1.0, 250.0, seed=4, artefacts="none")


def _stages(x: np.ndarray, sfreq: float) -> np.ndarray:
    return np.array([s.result.stage for s in stage_signal_batch(x[None, :], sfreq, ["Fp1"])])


def test_conditioner_one_block_equals_many_chunks() -> None:
    rng = np.random.default_rng(0)
    x = rng.standard_normal((3, 20_000)) * 30.0 + 50_000.0
    x[1, 500:520] = np.nan
    whole = SignalConditioner(250.0, 3).process(x)
    c = SignalConditioner(250.0, 3)
    parts, i = [], 0
    while i < x.shape[1]:
        k = int(rng.integers(1, 600))
        parts.append(c.process(x[:, i : i + k]))
        i += k
    np.testing.assert_array_equal(np.concatenate(parts, axis=1), whole)
    assert np.isnan(whole[1, 500:520]).all() and np.isfinite(whole[1, 520:]).all()
    # SciPy reference: sosfilt from the first sample's steady state
    sos = conditioning_sos(250.0)
    ref, _ = sps.sosfilt(sos, x[0], zi=sps.sosfilt_zi(sos) * x[0, 0])
    # to rounding of the 50-mV offset (the kernel's sums are reassociated: filters.py)
    np.testing.assert_allclose(whole[0], ref, rtol=0, atol=1e-11 * np.abs(x[0]).max())


def test_offset_gives_no_startup_step_and_mains_is_notched() -> None:
    t = np.arange(250 * 60) / 250.0
    eeg = 20.0 * np.sin(2 * np.pi * 10.0 * t)
    hum = 200.0 * np.sin(2 * np.pi * 60.0 * t)
    y = SignalConditioner(250.0, 1).process((eeg + hum + 100_000.0)[None, :])[0]
    assert np.abs(y[:250]).max() < 300.0  # no 100-mV step at the start
    f, p = sps.welch(y[250 * 10 :], fs=250.0, nperseg=1000)
    assert p[np.argmin(np.abs(f - 60.0))] < 1e-3 * p[np.argmin(np.abs(f - 10.0))]
    with pytest.raises(ValueError, match="line_hz"):
        conditioning_sos(250.0, line_hz=55.0)
    assert conditioning_sos(100.0, line_hz="auto").shape[0] == 1  # no notch at Nyquist: the high-pass only


def test_dc_offset_and_drift_keep_every_stage(night) -> None:
    row = night.channel_types.index("eeg")
    x = night.data[row]
    clean = _stages(x, night.sfreq)
    assert (clean != UNSTAGED).mean() > 0.95
    t = np.arange(x.size) / night.sfreq
    for shifted in (x + 100_000.0, x - 100_000.0, x + 20_000.0 + 5_000.0 * np.sin(2 * np.pi * t / 420.0) + 3.0 * t):
        np.testing.assert_array_equal(_stages(shifted, night.sfreq), clean)


def test_gain_leaves_the_model_input_unchanged(night) -> None:
    """The features a scale-free model uses do not move with the gain (beyond rounding)."""
    row = night.channel_types.index("eeg")
    pipe = SessionPipeline(night.sfreq, ["Fp1"], ["eeg"], triggers=False, arousals=False)
    st = pipe.stage_night(night.data[[row]]).staging[:, 0]
    used = ~unused_mask(feature_names(["c0"]))
    assert used.sum() == len(used) - 33  # the mask matches digit labels too (it once missed "c0")
    idx = np.arange(st.shape[0])
    prior = (np.zeros(15), np.ones(15))

    def feats(g: float) -> np.ndarray:
        return context_features(idx, base_features_many(st * g), 1, *prior, scale_free=True)

    ref = feats(1.0)
    for g in (0.5, 0.7, 1.4, 2.0):
        np.testing.assert_allclose(feats(g)[:, used], ref[:, used], rtol=1e-6, atol=1e-6, err_msg=f"gain {g}")
    assert np.nanmax(np.abs(feats(2.0)[:, ~used] - ref[:, ~used])) > 1.0  # the unused ones do move
    # the first context version (older models): its mobility and z-scores move with the gain
    old = context_features(idx, base_features_many(st * 2.0), 1, *prior)[:, used]
    assert np.nanmax(np.abs(old - context_features(idx, base_features_many(st), 1, *prior)[:, used])) > 0.1


def test_movement_burst_is_refused_and_kept_out_of_the_statistics(night) -> None:
    row = night.channel_types.index("eeg")
    x = night.data[row].copy()
    clean = _stages(x, night.sfreq)
    k = 60  # a 2-s 1.2-mV burst in epoch 60
    i0 = int((k * 30 + 10) * night.sfreq)
    x[i0 : i0 + int(2 * night.sfreq)] += 1200.0 * np.sin(np.linspace(0, np.pi, int(2 * night.sfreq)))
    staged = stage_signal(x[None, :], night.sfreq, ["Fp1"])
    got = np.array([s.result.stage for s in staged])
    assert got[k] == UNSTAGED and "movement" in staged[k].result.reasons[0]
    others = np.arange(len(got)) != k
    assert np.mean(got[others] == clean[others]) >= 0.98  # the running statistics did not take it in
    np.testing.assert_array_equal(_stages(x, night.sfreq), got)  # batch == streaming


def test_movement_gate_is_relative_to_the_night() -> None:
    g = MovementGate()
    for _ in range(20):
        assert g.check(np.array([100.0])) is None
    assert g.check(np.array([MOVEMENT_FACTOR * 100.0 * 1.05])) is not None
    assert g.check(np.array([MOVEMENT_FACTOR * 100.0 * 0.95])) is None
    g2 = MovementGate()
    for _ in range(20):
        assert g2.check(np.array([200.0])) is None  # the same night at gain x2: same answers
    assert g2.check(np.array([MOVEMENT_FACTOR * 200.0 * 1.05])) is not None


def test_too_many_lost_samples_unstage_the_epoch(night) -> None:
    row = night.channel_types.index("eeg")
    x = night.data[row].copy()
    spe = int(30 * night.sfreq)
    rng = np.random.default_rng(1)
    x[10 * spe + rng.choice(spe, int(0.08 * spe), replace=False)] = np.nan  # 8 % scattered
    x[20 * spe + rng.choice(spe, int(0.02 * spe), replace=False)] = np.nan  # 2 %: interpolated, staged
    staged = stage_signal_batch(x[None, :], night.sfreq, ["Fp1"])
    assert staged[10].result.stage == UNSTAGED and any("lost" in r for r in staged[10].result.reasons)
    assert staged[20].result.stage != UNSTAGED


def test_below_100_hz_is_refused_with_the_rate() -> None:
    x = np.random.default_rng(0).standard_normal((1, 50 * 95)) * 20.0
    with pytest.raises(ValueError, match=r"sampled at 50 Hz, below the 100 Hz.*Record at 100 Hz or more"):
        SessionPipeline(50.0, ["C3"], ["eeg"]).stage_night(x)
    # a live or replayed session still runs: every epoch unstaged with the rate and what to do
    staged = SessionPipeline(50.0, ["C3"], ["eeg"], triggers=False).stage_stream(x)
    assert len(staged) == 3 and all(s.result.stage == UNSTAGED for s in staged)
    assert "sampled at 50 Hz" in staged[0].result.reasons[0]
    with pytest.raises(ValueError, match="sampled at 20 Hz"):
        stage_signal_batch(np.random.default_rng(0).standard_normal((2, 20 * 600)), 20.0, ["a", "b"])


def test_refused_epochs_count_as_errors() -> None:
    y = np.array([0, 0, 2, 2, 3, 4])
    p = np.array([0, UNSTAGED, 2, 2, UNSTAGED, 4])
    m = stage_metrics(y, p)
    assert m["n"] == 6 and m["refused"] == 2
    assert m["accuracy"] == pytest.approx(4 / 6)
    sk = pytest.importorskip("sklearn.metrics")
    assert m["kappa"] == pytest.approx(sk.cohen_kappa_score(y, p))


def test_scale_free_model_keeps_every_stage_under_gain(night) -> None:
    from dreamband.signal.model import StagingModel

    model = StagingModel.load("stager_fpz_scale_free")
    assert model.scale_free  # the default (stager_fpz) is scale-free too since the protocol retrain: test_protocol.py
    row = night.channel_types.index("eeg")
    x = night.data[row]

    def stages(sig: np.ndarray) -> np.ndarray:
        return np.array([s.result.stage for s in stage_signal_batch(sig[None, :], night.sfreq, ["Fp1"], model)])

    clean = stages(x)
    assert (clean != UNSTAGED).mean() > 0.95
    for g in (0.5, 0.7, 1.4, 2.0):
        assert np.mean(stages(x * g) == clean) >= 0.99, g
