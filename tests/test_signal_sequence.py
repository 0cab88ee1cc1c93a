"""The causal second stage over the trees' posteriors and the step after the trees (signal/sequence.py)."""

from __future__ import annotations

import copy

import numpy as np
import pytest

from dreamband.signal.hmm import hmm_forward
from dreamband.signal.model import StagingModel
from dreamband.signal.sequence import (
    SEQUENCE_DECAYS,
    PosteriorFilter,
    fit_sequence,
    n_inputs,
    sequence_forward,
    sequence_inputs_reference,
    sequence_reference,
    softmax,
)
from dreamband.signal.stages import N_STAGES


def _posteriors(rng: np.random.Generator, n: int) -> np.ndarray:
    p = rng.dirichlet(np.full(N_STAGES, 0.4), size=n)
    p[3] = np.eye(N_STAGES)[2]  # exact zeros: the log floor
    return p


def test_numba_step_equals_the_numpy_reference_with_gaps() -> None:
    rng = np.random.default_rng(0)
    p = _posteriors(rng, 400)
    gaps = rng.choice([1, 1, 1, 2, 7], size=400)
    W, b = rng.normal(size=(n_inputs(N_STAGES), N_STAGES)), rng.normal(size=N_STAGES)
    np.testing.assert_allclose(sequence_forward(p, gaps, W, b), sequence_reference(p, gaps, W, b), rtol=0, atol=1e-12)
    z = sequence_inputs_reference(p, gaps)
    assert z.shape == (400, n_inputs(N_STAGES)) and z.min() >= -9.0
    np.testing.assert_array_equal(z[1:, N_STAGES:2 * N_STAGES], z[:-1, :N_STAGES])  # the previous epoch's log p
    # a longer gap forgets more: the EMA moves further toward the current epoch
    d = SEQUENCE_DECAYS[0]
    for g in (1, 7):
        zz = sequence_inputs_reference(p[:2], np.array([1, g]))
        expected = d**g * zz[0, 2 * N_STAGES:3 * N_STAGES] + (1 - d**g) * zz[1, :N_STAGES]
        np.testing.assert_allclose(zz[1, 2 * N_STAGES:3 * N_STAGES], expected, atol=1e-12)


def test_second_stage_learns_what_the_past_posteriors_carry() -> None:
    """Stages come in runs; the trees' posterior is right 60 % of the time, independently per epoch.
    A model of the past posteriors must beat the per-epoch argmax clearly, out of sample."""
    rng = np.random.default_rng(1)

    def night(n_runs: int) -> tuple[np.ndarray, np.ndarray]:
        y = np.repeat(rng.integers(0, N_STAGES, n_runs), rng.integers(10, 40, n_runs))
        hit = rng.random(len(y)) < 0.6
        guess = np.where(hit, y, rng.integers(0, N_STAGES, len(y)))
        p = np.full((len(y), N_STAGES), 0.1)
        p[np.arange(len(y)), guess] = 0.6
        return p, y

    (p_tr, y_tr), (p_te, y_te) = night(300), night(100)
    W, b = fit_sequence(sequence_inputs_reference(p_tr, np.ones(len(y_tr))), y_tr)
    q = softmax(sequence_inputs_reference(p_te, np.ones(len(y_te))) @ W + b)
    raw_acc, seq_acc = np.mean(p_te.argmax(1) == y_te), np.mean(q.argmax(1) == y_te)
    assert raw_acc == pytest.approx(0.68, abs=0.04)  # 0.6 + 0.4 / 5 by construction
    assert seq_acc > raw_acc + 0.1, (raw_acc, seq_acc)
    with pytest.raises(ValueError, match="inputs must be"):
        fit_sequence(np.zeros((3, 4)), np.zeros(2, int))


def _sequence_model() -> StagingModel:
    model = copy.deepcopy(StagingModel.load("stager_fpz"))
    rng = np.random.default_rng(2)
    model.meta["post"] = "sequence"
    model.meta["sequence"] = {"weights": (np.vstack([np.eye(N_STAGES)] * 4) / 4
                                          + 0.2 * rng.normal(size=(n_inputs(N_STAGES), N_STAGES))).tolist(),
                              "bias": [0.0] * N_STAGES, "decays": SEQUENCE_DECAYS.tolist()}
    return model


def test_posterior_filter_runs_what_the_model_chose() -> None:
    rng = np.random.default_rng(3)
    p = _posteriors(rng, 200)
    gaps = rng.choice([1, 1, 2], size=200)
    base = StagingModel.load("stager_fpz")
    none = copy.deepcopy(base)
    none.meta["post"] = "none"
    np.testing.assert_array_equal(PosteriorFilter(none).night(p, gaps), p)
    hmm = PosteriorFilter(none, enabled=True)  # forced on a model that chose nothing: the HMM
    assert hmm.kind == "hmm"
    np.testing.assert_allclose(hmm.night(p, gaps), hmm_forward(p, gaps, base.transition, base.class_prior,
                                                               base.hmm_weight), atol=1e-12)
    seq_model = _sequence_model()
    f = PosteriorFilter(seq_model)
    s = seq_model.meta["sequence"]
    night = f.night(p, gaps)
    np.testing.assert_allclose(night, sequence_reference(p, gaps, np.array(s["weights"]), np.array(s["bias"])),
                               atol=1e-12)
    f.reset()  # live, epoch by epoch, equals the batch pass
    np.testing.assert_allclose(np.array([f.step(p[t], gaps[t]) for t in range(200)]), night, atol=1e-12)
    assert PosteriorFilter(seq_model, enabled=False).kind == "none"
    bad = copy.deepcopy(seq_model)
    del bad.meta["sequence"]
    with pytest.raises(ValueError, match="sequence"):
        PosteriorFilter(bad)
    bad.meta["post"] = "crf"
    with pytest.raises(ValueError, match="crf"):
        PosteriorFilter(bad)


def test_live_and_batch_stage_the_same_with_the_second_stage() -> None:
    from dreamband.session.offline import stage_signal, stage_signal_batch

    model = _sequence_model()
    sfreq = 200.0
    rng = np.random.default_rng(4)
    t = np.arange(int(sfreq * 30 * 14)) / sfreq
    x = (20 * rng.standard_normal(t.size) + 40 * (1 + 0.9 * np.sin(2 * np.pi * t / 240)) * np.sin(2 * np.pi * 1.2 * t))[None]
    x[0, int(sfreq * 95): int(sfreq * 130)] = np.nan  # a gap: the step decays over it in both paths
    live = stage_signal(x, sfreq, ["Fpz"], model)
    batch = stage_signal_batch(x, sfreq, ["Fpz"], model)
    assert sum(s.result.stage == -1 for s in live) >= 1
    for a, b in zip(live, batch, strict=True):
        assert a.result.stage == b.result.stage
        np.testing.assert_allclose(a.result.probabilities, b.result.probabilities, rtol=0, atol=1e-12)
    raw = stage_signal_batch(x, sfreq, ["Fpz"], model, use_hmm=False)
    staged = [i for i, s in enumerate(live) if s.result.stage >= 0]
    assert max(np.abs(live[i].result.probabilities - raw[i].result.probabilities).max() for i in staged) > 1e-3
