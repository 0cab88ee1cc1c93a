"""Causal temporal smoothing of stage posteriors: an HMM forward pass (filtering, never smoothing).

``alpha_t ∝ (alpha_{t-1} · A^gap) ⊙ (p_t / prior)^w`` where ``p_t`` is the classifier posterior
of epoch ``t``, ``prior`` the training class frequencies (so ``p_t / prior`` is a scaled
likelihood), ``A`` the 30-s transition matrix learned from expert hypnograms, ``gap`` the number
of epochs since the previous staged one and ``w`` an emission weight (the classifier already
sees the past through its context features, so a full weight would count it twice).

Calibration: the trees are fitted with class weights, so the prior their posteriors carry is the
weighted one; dividing by it (``prior`` = frequencies x weights) gives a calibrated scaled
likelihood, and ``w`` acts as an inverse temperature. Which prior, which ``w`` and whether the
HMM runs at all are chosen by the inner CV (:mod:`dreamband.session.protocol`).
"""

from __future__ import annotations

import numpy as np
from numba import njit


@njit(cache=True)
def hmm_forward_step(alpha_prev: np.ndarray, transition_pow: np.ndarray, proba: np.ndarray,
                     class_prior: np.ndarray, weight: float) -> np.ndarray:
    """One forward step (Numba).

    Parameters
    ----------
    alpha_prev : ndarray, shape (k,)
        Previous filtered state probabilities (uniform or the class prior at session start).
    transition_pow : ndarray, shape (k, k)
        Transition matrix raised to the gap (rows: from, columns: to).
    proba : ndarray, shape (k,)
        Classifier posterior of this epoch.
    class_prior : ndarray, shape (k,)
    weight : float

    Returns
    -------
    ndarray, shape (k,): the filtered state probabilities.
    """
    k = alpha_prev.shape[0]
    out = np.zeros(k)
    s = 0.0
    for j in range(k):
        pred = 0.0
        for i in range(k):
            pred += alpha_prev[i] * transition_pow[i, j]
        e = max(proba[j], 1e-12) / max(class_prior[j], 1e-12)
        out[j] = pred * e**weight
        s += out[j]
    if s <= 0.0 or not np.isfinite(s):
        for j in range(k):
            out[j] = proba[j]
        return out
    for j in range(k):
        out[j] /= s
    return out


def hmm_forward_reference(proba: np.ndarray, gaps: np.ndarray, transition: np.ndarray,
                          class_prior: np.ndarray, weight: float) -> np.ndarray:
    """NumPy reference: the forward pass over a whole sequence, shape (n, k) -> (n, k)."""
    out = np.empty_like(proba, dtype=np.float64)
    alpha = np.asarray(class_prior, dtype=np.float64).copy()
    for t in range(proba.shape[0]):
        pred = alpha @ np.linalg.matrix_power(transition, int(gaps[t]))
        a = pred * (np.maximum(proba[t], 1e-12) / np.maximum(class_prior, 1e-12)) ** weight
        alpha = a / a.sum()
        out[t] = alpha
    return out


def hmm_forward(proba: np.ndarray, gaps: np.ndarray, transition: np.ndarray, class_prior: np.ndarray,
                weight: float) -> np.ndarray:
    """Forward pass over a sequence with the Numba step (same as the live stager does).

    Parameters
    ----------
    proba : ndarray, shape (n, k)
    gaps : ndarray of int, shape (n,)
        Epochs since the previous row (1 = adjacent; the first row's gap is from session start).
    transition : ndarray, shape (k, k)
    class_prior : ndarray, shape (k,)
    weight : float

    Returns
    -------
    ndarray, shape (n, k)
    """
    proba = np.ascontiguousarray(proba, dtype=np.float64)
    out = np.empty_like(proba)
    alpha = np.asarray(class_prior, dtype=np.float64).copy()
    cache: dict[int, np.ndarray] = {}
    for t in range(proba.shape[0]):
        g = max(int(gaps[t]), 1)
        if g not in cache:
            cache[g] = np.ascontiguousarray(np.linalg.matrix_power(transition, g))
        alpha = hmm_forward_step(alpha, cache[g], proba[t], class_prior, float(weight))
        out[t] = alpha
    return out


def transition_matrix(hypnograms: list[np.ndarray], k: int = 5, pseudo: float = 1.0) -> np.ndarray:
    """Transition probabilities between consecutive scored epochs (unknown = -1 breaks a pair).

    Parameters
    ----------
    hypnograms : list of int arrays
        Stage codes per 30-s epoch (0..k-1, -1 unknown).

    Returns
    -------
    ndarray, shape (k, k), rows sum to 1.
    """
    counts = np.full((k, k), float(pseudo))
    for h in hypnograms:
        h = np.asarray(h)
        a, b = h[:-1], h[1:]
        ok = (a >= 0) & (b >= 0) & (a < k) & (b < k)
        np.add.at(counts, (a[ok], b[ok]), 1.0)
    return counts / counts.sum(axis=1, keepdims=True)
