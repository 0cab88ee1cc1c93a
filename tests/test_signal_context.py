"""Causal context: Numba step == NumPy reference, causality, gaps, HMM kernels."""

from __future__ import annotations

import numpy as np
import pytest

from dreamband.signal.context import (
    N_VARS,
    CausalContext,
    context_features,
    context_features_reference,
    feature_names,
    n_features,
)
from dreamband.signal.hmm import hmm_forward, hmm_forward_reference, transition_matrix


def _base(n: int, n_ch: int, seed: int = 0) -> np.ndarray:
    rng = np.random.default_rng(seed)
    b = np.empty((n, n_ch * 9))
    for c in range(n_ch):
        lp = -24 - np.sort(rng.uniform(0, 6, (n, 5)), axis=1) + rng.normal(0, 0.3, (n, 1))
        b[:, c * 9 : c * 9 + 5] = np.log(np.exp(lp) + 1e-10)
        b[:, c * 9 + 5] = b[:, c * 9 + 1] / (b[:, c * 9 + 2] + 1e-10)
        b[:, c * 9 + 6] = b[:, c * 9 + 2] / (b[:, c * 9] + 1e-10)
        b[:, c * 9 + 7] = rng.normal(-21, 1, n)
        b[:, c * 9 + 8] = rng.uniform(0.1, 0.8, n)
    return b


@pytest.mark.parametrize("n_ch", [1, 2])
def test_numba_equals_reference_with_gaps(n_ch: int) -> None:
    b = _base(120, n_ch)
    idx = np.cumsum(np.random.default_rng(1).choice([1, 1, 1, 2, 5], 120))
    pm, pv = np.full(n_ch * N_VARS, -5.0), np.full(n_ch * N_VARS, 4.0)
    a = context_features(idx, b, n_ch, pm, pv)
    r = context_features_reference(idx, b, n_ch, pm, pv)
    assert a.shape == (120, n_features(n_ch)) == (120, len(feature_names(["x"] * n_ch)))
    np.testing.assert_array_equal(np.isnan(a), np.isnan(r))
    np.testing.assert_allclose(a, r, rtol=1e-9, atol=1e-9)
    diff_cols = [i for i, nm in enumerate(feature_names(["x"] * n_ch)) if nm.endswith("_diff1")]
    gap_rows = np.flatnonzero(np.diff(idx, prepend=-5) != 1)
    assert np.all(np.isnan(a[np.ix_(gap_rows, diff_cols)]))


def test_causal_future_does_not_change_the_past() -> None:
    b = _base(80, 1, seed=3)
    idx = np.arange(80)
    pm, pv = np.zeros(N_VARS), np.ones(N_VARS)
    full = context_features(idx, b, 1, pm, pv)
    b2 = b.copy()
    b2[50:] += 3.0
    np.testing.assert_array_equal(context_features(idx, b2, 1, pm, pv)[:50], full[:50])


def test_context_validation() -> None:
    ctx = CausalContext(1, np.zeros(N_VARS), np.ones(N_VARS))
    ctx.update(3, _base(1, 1)[0])
    with pytest.raises(ValueError, match="increase"):
        ctx.update(3, _base(1, 1)[0])
    with pytest.raises(ValueError, match="NaN"):
        ctx.update(4, np.full(9, np.nan))
    with pytest.raises(ValueError, match="shape"):
        CausalContext(2, np.zeros(N_VARS), np.ones(N_VARS))


def test_hmm_forward_equals_reference() -> None:
    rng = np.random.default_rng(0)
    hyp = [rng.integers(-1, 5, 400)]
    A = transition_matrix(hyp)
    np.testing.assert_allclose(A.sum(1), 1.0)
    p = rng.dirichlet(np.ones(5), 60)
    gaps = rng.choice([1, 1, 2, 3], 60)
    prior = np.array([0.2, 0.1, 0.4, 0.15, 0.15])
    for w in (0.5, 1.0):
        np.testing.assert_allclose(hmm_forward(p, gaps, A, prior, w), hmm_forward_reference(p, gaps, A, prior, w), atol=1e-12)
