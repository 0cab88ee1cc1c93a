"""Causal second stage over the trees' posteriors: a multinomial logistic model on past log-posteriors.

The trees stage each epoch from its (causal) context features. This stage looks at what the
trees said about the current and past epochs: its inputs for epoch ``t`` are

* ``log p_t`` (the trees' posterior, clipped at :data:`LOG_FLOOR`),
* ``log p`` of the previous staged epoch,
* exponential moving averages of ``log p`` with the decays :data:`SEQUENCE_DECAYS` per 30-s
  epoch (a gap of ``g`` epochs decays by ``d**g``),

and its output is ``softmax(z_t @ W + b)``. Only the past is used. It is fitted (by
:mod:`dreamband.session.protocol`) on cross-fitted, subject-wise out-of-fold posteriors, never
on the trees' own training posteriors, and whether it is used is an inner-CV choice.

:func:`sequence_step` (Numba) is the one step the live stager and the batch pipeline both run;
:func:`sequence_reference` is its plain NumPy reference.
"""

from __future__ import annotations

import numpy as np
from numba import njit

#: EMA decays per epoch of the log-posteriors (time constants ~4 and ~20 epochs: 2 and 10 min)
SEQUENCE_DECAYS = np.array([0.75, 0.95])
#: log-posteriors are clipped here (the trees' posteriors are never exactly 0)
LOG_FLOOR = -9.0


def n_inputs(k: int, n_decays: int = len(SEQUENCE_DECAYS)) -> int:
    """Inputs per epoch: current and previous log-posteriors and one EMA per decay, ``k`` each."""
    return k * (2 + n_decays)


def new_state(k: int, n_decays: int = len(SEQUENCE_DECAYS)) -> np.ndarray:
    """The state at session start, shape (1 + n_decays, k): NaN until the first staged epoch."""
    return np.full((1 + n_decays, k), np.nan)


@njit(cache=True)
def sequence_step(state: np.ndarray, proba: np.ndarray, gap: int, weights: np.ndarray, bias: np.ndarray,
                  decays: np.ndarray) -> np.ndarray:
    """One causal step (Numba): update ``state`` in place and return the second stage's posterior.

    Parameters
    ----------
    state : ndarray, shape (1 + m, k)
        Row 0: log-posterior of the previous staged epoch; rows 1..m: the EMAs. NaN at session start.
    proba : ndarray, shape (k,)
        The trees' posterior of this epoch.
    gap : int
        Epochs since the previous staged one (>= 1).
    weights : ndarray, shape ((2 + m) * k, k)
    bias : ndarray, shape (k,)
    decays : ndarray, shape (m,)

    Returns
    -------
    ndarray, shape (k,): the posterior.
    """
    k = proba.shape[0]
    m = decays.shape[0]
    lp = np.empty(k)
    for j in range(k):
        lp[j] = max(np.log(max(proba[j], 1e-300)), -9.0)
    if np.isnan(state[0, 0]):
        for r in range(1 + m):
            for j in range(k):
                state[r, j] = lp[j]
    z = np.empty((2 + m) * k)
    for j in range(k):
        z[j] = lp[j]
        z[k + j] = state[0, j]
    g = max(gap, 1)
    for r in range(m):
        d = decays[r] ** g
        for j in range(k):
            state[1 + r, j] = d * state[1 + r, j] + (1.0 - d) * lp[j]
            z[(2 + r) * k + j] = state[1 + r, j]
    for j in range(k):
        state[0, j] = lp[j]
    out = np.empty(k)
    mx = -np.inf
    for c in range(k):
        s = bias[c]
        for i in range(z.shape[0]):
            s += z[i] * weights[i, c]
        out[c] = s
        mx = max(mx, s)
    tot = 0.0
    for c in range(k):
        out[c] = np.exp(out[c] - mx)
        tot += out[c]
    for c in range(k):
        out[c] /= tot
    return out


def sequence_inputs_reference(proba: np.ndarray, gaps: np.ndarray, decays: np.ndarray = SEQUENCE_DECAYS) -> np.ndarray:
    """NumPy reference of the second stage's inputs over a sequence, shape (n, k) -> (n, (2 + m) * k)."""
    lp = np.maximum(np.log(np.maximum(np.asarray(proba, dtype=np.float64), 1e-300)), LOG_FLOOR)
    n, k = lp.shape
    z = np.empty((n, n_inputs(k, len(decays))))
    prev, ema = lp[0].copy(), np.tile(lp[0], (len(decays), 1))
    for t in range(n):
        d = np.asarray(decays)[:, None] ** max(int(gaps[t]), 1)
        ema = d * ema + (1 - d) * lp[t]
        z[t] = np.concatenate([lp[t], prev, ema.ravel()])
        prev = lp[t]
    return z


def softmax(a: np.ndarray) -> np.ndarray:
    """Row-wise softmax, shape (n, k)."""
    e = np.exp(a - a.max(axis=1, keepdims=True))
    return e / e.sum(axis=1, keepdims=True)


def sequence_reference(proba: np.ndarray, gaps: np.ndarray, weights: np.ndarray, bias: np.ndarray,
                       decays: np.ndarray = SEQUENCE_DECAYS) -> np.ndarray:
    """NumPy reference of the second stage over a sequence, shape (n, k) -> (n, k)."""
    return softmax(sequence_inputs_reference(proba, gaps, decays) @ weights + bias)


def sequence_forward(proba: np.ndarray, gaps: np.ndarray, weights: np.ndarray, bias: np.ndarray,
                     decays: np.ndarray = SEQUENCE_DECAYS) -> np.ndarray:
    """The second stage over a sequence with the Numba step (as the live stager runs it), (n, k) -> (n, k)."""
    proba = np.ascontiguousarray(proba, dtype=np.float64)
    w, b, d = (np.ascontiguousarray(a, dtype=np.float64) for a in (weights, bias, decays))
    state = new_state(proba.shape[1], len(d))
    out = np.empty_like(proba)
    for t in range(proba.shape[0]):
        out[t] = sequence_step(state, proba[t], int(gaps[t]), w, b, d)
    return out


def fit_sequence(inputs: np.ndarray, y: np.ndarray, sample_weight: np.ndarray | None = None, l2: float = 1e-3,
                 k: int = 5) -> tuple[np.ndarray, np.ndarray]:
    """Fit the multinomial logistic second stage by L-BFGS.

    The loss is the weighted mean cross-entropy plus ``l2 * |W|^2`` on standardised inputs (each
    column's mean and spread over ``inputs``; standardising makes L-BFGS converge in tens of
    steps instead of hundreds). The returned weights act on the raw inputs.

    Parameters
    ----------
    inputs : ndarray, shape (n, d)
        :func:`sequence_inputs_reference` rows of out-of-fold posteriors.
    y : ndarray of int, shape (n,)
        Expert stages 0..k-1.
    sample_weight : ndarray, shape (n,), optional

    Returns
    -------
    weights : ndarray, shape (d, k)
    bias : ndarray, shape (k,)
    """
    from scipy.optimize import minimize

    X = np.asarray(inputs, dtype=np.float64)
    y = np.asarray(y, dtype=np.int64)
    if X.ndim != 2 or len(X) != len(y) or len(y) == 0:
        raise ValueError(f"inputs must be (n, d) with n = len(y) > 0, got {X.shape} and {y.shape}.")
    n, dim = X.shape
    mu = X.mean(axis=0)
    sd = X.std(axis=0)
    sd = np.where(sd > 1e-9, sd, 1.0)
    Xs = (X - mu) / sd
    sw = np.ones(n) if sample_weight is None else np.asarray(sample_weight, dtype=np.float64)
    sw = sw / sw.sum()
    onehot = np.zeros((n, k))
    onehot[np.arange(n), y] = 1.0

    def loss(theta: np.ndarray) -> tuple[float, np.ndarray]:
        W, b = theta[: dim * k].reshape(dim, k), theta[dim * k:]
        a = Xs @ W + b
        a -= a.max(axis=1, keepdims=True)
        lse = np.log(np.exp(a).sum(axis=1))
        f = float(np.sum(sw * (lse - np.sum(onehot * a, axis=1)))) + l2 * float(np.sum(W * W))
        r = (np.exp(a - lse[:, None]) - onehot) * sw[:, None]
        return f, np.concatenate([(Xs.T @ r + 2 * l2 * W).ravel(), r.sum(axis=0)])

    res = minimize(loss, np.zeros(dim * k + k), jac=True, method="L-BFGS-B", options={"maxiter": 500})
    W = res.x[: dim * k].reshape(dim, k) / sd[:, None]
    return W, res.x[dim * k:] - mu @ W


#: what a model runs after its trees (chosen by its inner CV; ``meta["post"]``)
POST_KINDS: tuple[str, ...] = ("none", "hmm", "sequence")


def post_kind(meta: dict) -> str:
    """The post-processing a model's metadata asks for (older models: ``use_hmm`` -> "hmm" or "none")."""
    kind = meta.get("post")
    if kind is None:
        kind = "hmm" if meta.get("use_hmm", True) else "none"
    if kind not in POST_KINDS:
        raise ValueError(f"Unknown post-processing {kind!r} in the model; expected one of {POST_KINDS}.")
    return kind


class PosteriorFilter:
    """The causal step after the trees, shared by the live stager and the batch pipeline.

    Parameters
    ----------
    model : StagingModel
        Its ``meta["post"]`` says what runs: "none", "hmm" (:func:`~dreamband.signal.hmm.hmm_forward_step`
        with the model's transitions, emission prior ``class_prior`` and ``hmm_weight``) or
        "sequence" (:func:`sequence_step` with ``meta["sequence"]``).
    enabled : bool, optional
        None: the model's choice. False: nothing. True: the model's choice, or the HMM when the
        model chose nothing (to time or compare the HMM step).
    """

    def __init__(self, model, enabled: bool | None = None) -> None:
        kind = post_kind(model.meta)
        if enabled is not None:
            kind = ("hmm" if kind == "none" else kind) if enabled else "none"
        self.kind = kind
        self._model = model
        self._trans_pow: dict[int, np.ndarray] = {}
        if kind == "sequence":
            seq = model.meta.get("sequence")
            if not seq:
                raise ValueError("The model asks for the sequence stage but stores no 'sequence' weights.")
            k = model.n_class
            self._w = np.ascontiguousarray(seq["weights"], dtype=np.float64)
            self._b = np.ascontiguousarray(seq["bias"], dtype=np.float64)
            self._d = np.ascontiguousarray(seq["decays"], dtype=np.float64)
            if self._w.shape != (n_inputs(k, len(self._d)), k) or self._b.shape != (k,):
                raise ValueError(f"Sequence weights have shape {self._w.shape}/{self._b.shape}, expected "
                                 f"({n_inputs(k, len(self._d))}, {k})/({k},).")
        self.reset()

    def reset(self) -> None:
        """Start a new session."""
        self._alpha = np.asarray(self._model.class_prior, dtype=np.float64).copy()
        if self.kind == "sequence":
            self._state = new_state(self._model.n_class, len(self._d))

    def _transition(self, gap: int) -> np.ndarray:
        if gap not in self._trans_pow:
            self._trans_pow[gap] = np.ascontiguousarray(np.linalg.matrix_power(self._model.transition, gap))
        return self._trans_pow[gap]

    def step(self, raw: np.ndarray, gap: int) -> np.ndarray:
        """Posterior of one staged epoch from the trees' ``raw`` (k,), ``gap`` epochs after the previous one."""
        from dreamband.signal.hmm import hmm_forward_step

        g = max(int(gap), 1)
        if self.kind == "hmm":
            self._alpha = hmm_forward_step(self._alpha, self._transition(g), raw, self._model.class_prior,
                                           self._model.hmm_weight)
            return self._alpha.copy()
        if self.kind == "sequence":
            return sequence_step(self._state, np.ascontiguousarray(raw, dtype=np.float64), g, self._w, self._b,
                                 self._d)
        return raw

    def night(self, raw: np.ndarray, gaps: np.ndarray) -> np.ndarray:
        """The same steps over a whole session's staged epochs (n, k), from a fresh state."""
        self.reset()
        raw = np.ascontiguousarray(raw, dtype=np.float64)
        if self.kind == "none":
            return raw.copy()
        out = np.empty_like(raw)
        for t in range(raw.shape[0]):
            out[t] = self.step(raw[t], int(gaps[t]))
        self.reset()
        return out
