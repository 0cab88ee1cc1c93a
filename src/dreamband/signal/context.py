"""Causal context features from per-epoch base features, shared by training and live staging.

Training (``session/training.py``) and the live :class:`~dreamband.signal.stager.Stager` both
call :class:`CausalContext` (or :func:`context_features`, which loops over the same step
kernel), so the features a model was trained on and the features it sees live cannot diverge.

Everything uses only the current and past epochs. Epoch indices are counted from session
start (lights off); a missing index is a gap (an unstageable or unscored epoch), not adjacent:
differences across a gap are NaN and running means decay over the missing epochs.

Per channel, from the 9 base features ``b`` (see :mod:`~dreamband.signal.features`):

* the 9 base features themselves;
* 15 "context variables" ``v``: the true log band powers (``log(exp(b) - 1e-10)``, undoing the
  recipe's ``+ 1e-10`` offset, which swamps volt-scale powers), the true log variance, the log
  relative band powers, the true Hjorth mobility (``sqrt(var(diff) / var)``, the recipe's
  ``var + 1e-10`` undone: 1e-10 V² is the size of real EEG variance, so the recipe's value moves
  with the gain), and three log-power ratios (delta/beta, theta/alpha, gamma/delta);
* for each ``v``: an exponentially weighted mean over the last ~2 epochs and ~10 epochs, the
  EW standard deviation over ~10 epochs, the difference with the previous epoch, and two
  per-night z-scores: the night's own expanding mean from session start (no training-population
  mean: a headband's level is not Sleep-EDF's, and the first minutes must not be judged against
  it), over a variance shrunk towards the training population's with a pseudo-count of 20
  epochs (a variance of log powers does not depend on the gain), so the first epochs are not wild;

Two versions (``scale_free``; a model says which it was trained with, ``meta["context"]``):
``scale_free=True`` is the above; ``False`` is the first one (kept for models trained with it): the
recipe's mobility and z-scores around a mean shrunk towards the training population's.

Gain invariance (``scale_free``): a gain ``g`` shifts every true log power by ``2 ln g`` and leaves relative
powers, ratios, mobility, differences, spreads and these z-scores unchanged; the model does not
use the shifted ones (``session/training.py``: ``UNUSED_FEATURES``), so its input does not move
with the gain.

No clock feature: the training crops all start with 30 min of wake (sleep period ±30 min), so
"time since start" would teach the model that the first half hour is wake by construction.
"""

from __future__ import annotations

from collections.abc import Sequence

import numpy as np
from numba import njit

from dreamband.signal.amplitude import RunningAmplitude, normalise_night_reference
from dreamband.signal.features import BASE_FEATURE_NAMES, N_BASE

CONTEXT_VAR_NAMES: tuple[str, ...] = (
    "lp_delta", "lp_theta", "lp_alpha", "lp_beta", "lp_gamma", "lp_var",
    "rel_delta", "rel_theta", "rel_alpha", "rel_beta", "rel_gamma",
    "mobility", "r_delta_beta", "r_theta_alpha", "r_gamma_delta",
)
N_VARS: int = len(CONTEXT_VAR_NAMES)
CONTEXT_KINDS: tuple[str, ...] = ("ema_short", "ema_long", "ewsd_long", "diff1", "z_night", "z_night_ema_short",
                                  "ema_vlong", "z_night_ema_long", "diff2", "night_range_pos",
                                  "dev_long", "z_night_ema_vlong")
ALPHA_SHORT: float = 0.5
ALPHA_LONG: float = 0.1
ALPHA_VLONG: float = 0.03
PRIOR_COUNT: float = 20.0
_LOG_FLOOR: float = 1e-30


def feature_names(channels: Sequence[str]) -> list[str]:
    """Names of the model features for the given channel labels (e.g. ``["fpz"]``)."""
    names: list[str] = []
    for ch in channels:
        names += [f"{ch}_{n}" for n in BASE_FEATURE_NAMES]
        names += [f"{ch}_{n}" for n in CONTEXT_VAR_NAMES]
        for kind in CONTEXT_KINDS:
            names += [f"{ch}_{n}_{kind}" for n in CONTEXT_VAR_NAMES]
    return names


def n_features(n_channels: int) -> int:
    """Number of model features for ``n_channels`` channels."""
    return n_channels * (N_BASE + N_VARS * (1 + len(CONTEXT_KINDS)))


@njit(cache=True)
def _context_vars(base: np.ndarray, n_ch: int, out: np.ndarray, scale_free: bool) -> None:
    """Context variables (n_ch * 15) from base features (n_ch * 9)."""
    for c in range(n_ch):
        b = base[c * 9 : (c + 1) * 9]
        o = out[c * 15 : (c + 1) * 15]
        lp = np.empty(5)
        for k in range(5):
            lp[k] = np.log(max(np.exp(b[k]) - 1e-10, 1e-30))
            o[k] = lp[k]
        o[5] = np.log(max(np.exp(b[7]) - 1e-10, 1e-30))
        m = lp[0]
        for k in range(1, 5):
            m = max(m, lp[k])
        s = 0.0
        for k in range(5):
            s += np.exp(lp[k] - m)
        lse = m + np.log(s)
        for k in range(5):
            o[6 + k] = lp[k] - lse
        if scale_free:
            var = max(np.exp(b[7]) - 1e-10, 1e-30)
            o[11] = b[8] * np.sqrt((var + 1e-10) / var)
        else:
            o[11] = b[8]
        o[12] = lp[0] - lp[3]
        o[13] = lp[1] - lp[2]
        o[14] = lp[4] - lp[0]


@njit(cache=True)
def _context_step(base: np.ndarray, n_ch: int, gap: int, state: np.ndarray,
                  prior_mean: np.ndarray, prior_var: np.ndarray, out: np.ndarray, scale_free: bool) -> None:
    """One causal update. ``state`` rows: 0 ema_s sum, 1 ema_l sum, 2 ema_l sq sum, 3 prev v,
    4 night sum, 5 night sq sum, 6 scalars [W_s, W_l, n, has_prev, W_vl, prev_adjacent],
    7 ema_vl sum, 8 v two epochs back, 9 night min of ema_s, 10 night max of ema_s."""
    d = n_ch * 15
    v = np.empty(d)
    _context_vars(base, n_ch, v, scale_free)
    ds = (1.0 - 0.5) ** gap
    dl = (1.0 - 0.1) ** gap
    dvl = (1.0 - 0.03) ** gap
    w_vl = state[6, 4] * dvl + 1.0
    adjacent_prev = state[6, 5] > 0.5
    w_s = state[6, 0] * ds + 1.0
    w_l = state[6, 1] * dl + 1.0
    n = state[6, 2] + 1.0
    adjacent = state[6, 3] > 0.5 and gap == 1
    lag2_ok = adjacent and adjacent_prev
    first = state[6, 3] < 0.5
    state[6, 4] = w_vl
    state[6, 5] = 1.0 if adjacent else 0.0
    state[6, 0] = w_s
    state[6, 1] = w_l
    state[6, 2] = n
    state[6, 3] = 1.0
    per_ch = 9 + 15 * 13
    for c in range(n_ch):
        o0 = c * per_ch
        for k in range(9):
            out[o0 + k] = base[c * 9 + k]
        for j in range(15):
            i = c * 15 + j
            x = v[i]
            s_s = state[0, i] * ds + x
            s_l = state[1, i] * dl + x
            q_l = state[2, i] * dl + x * x
            state[0, i] = s_s
            state[1, i] = s_l
            state[2, i] = q_l
            ema_s = s_s / w_s
            ema_l = s_l / w_l
            var_l = q_l / w_l - ema_l * ema_l
            if var_l < 0.0:
                var_l = 0.0
            diff = x - state[3, i] if adjacent else np.nan
            diff2 = x - state[8, i] if lag2_ok else np.nan
            state[8, i] = state[3, i]
            state[3, i] = x
            s_vl = state[7, i] * dvl + x
            state[7, i] = s_vl
            if first:
                state[9, i] = ema_s
                state[10, i] = ema_s
            else:
                state[9, i] = min(state[9, i], ema_s)
                state[10, i] = max(state[10, i], ema_s)
            rng = state[10, i] - state[9, i]
            pos = (ema_s - state[9, i]) / rng if rng > 1e-9 else np.nan
            t_s = state[4, i] + x
            t_q = state[5, i] + x * x
            state[4, i] = t_s
            state[5, i] = t_q
            pc = 20.0
            if scale_free:
                mean = t_s / n
                m2 = t_q - t_s * mean
                if m2 < 0.0:
                    m2 = 0.0
                var = (pc * prior_var[i] + m2) / (pc + n)
            else:
                mean = (pc * prior_mean[i] + t_s) / (pc + n)
                ex2 = (pc * (prior_var[i] + prior_mean[i] * prior_mean[i]) + t_q) / (pc + n)
                var = ex2 - mean * mean
            sd = np.sqrt(max(var, 1e-12))
            base_o = o0 + 9
            out[base_o + j] = x
            out[base_o + 15 + j] = ema_s
            out[base_o + 30 + j] = ema_l
            out[base_o + 45 + j] = np.sqrt(var_l)
            out[base_o + 60 + j] = diff
            out[base_o + 75 + j] = (x - mean) / sd
            out[base_o + 90 + j] = (ema_s - mean) / sd
            out[base_o + 105 + j] = s_vl / w_vl
            out[base_o + 120 + j] = (ema_l - mean) / sd
            out[base_o + 135 + j] = diff2
            out[base_o + 150 + j] = pos
            out[base_o + 165 + j] = x - ema_l
            out[base_o + 180 + j] = (s_vl / w_vl - mean) / sd


def context_vars(base: np.ndarray, n_channels: int, scale_free: bool = True) -> np.ndarray:
    """The 15 context variables per channel for rows of base features.

    Parameters
    ----------
    base : ndarray, shape (n, n_channels * 9)
    n_channels : int

    Returns
    -------
    ndarray, shape (n, n_channels * 15)
    """
    base = np.ascontiguousarray(np.asarray(base, dtype=np.float64).reshape(-1, n_channels * N_BASE))
    out = np.empty((base.shape[0], n_channels * N_VARS))
    for r in range(base.shape[0]):
        _context_vars(base[r], n_channels, out[r], bool(scale_free))
    return out


class CausalContext:
    """Stateful causal feature builder for one session (one night).

    Parameters
    ----------
    n_channels : int
        Channels whose 9 base features are concatenated in each update.
    prior_mean, prior_var : ndarray, shape (n_channels * 15,)
        Training-population mean and variance of the context variables (stored in the model);
        the per-night z-scores' variance starts from ``prior_var`` with a pseudo-count of 20
        epochs (``prior_mean`` is kept for the model file; the mean is the night's own).
    scale_free : bool
        The context version (see the module docstring).
    amplitude_ref : ndarray, shape (n_channels,), optional
        When given, every epoch's base features first go through a per-night
        :class:`~dreamband.signal.amplitude.RunningAmplitude` towards this level (models with
        ``meta["amplitude_reference"]``); None leaves them as they are.
    """

    def __init__(self, n_channels: int, prior_mean: np.ndarray, prior_var: np.ndarray,
                 scale_free: bool = False, amplitude_ref: np.ndarray | None = None) -> None:
        self.n_channels = int(n_channels)
        self.scale_free = bool(scale_free)
        self._amplitude = None if amplitude_ref is None else RunningAmplitude(amplitude_ref)
        if self._amplitude is not None and self._amplitude.n_channels != self.n_channels:
            raise ValueError(f"amplitude_ref has {self._amplitude.n_channels} values for {n_channels} channel(s).")
        d = self.n_channels * N_VARS
        self.prior_mean = np.ascontiguousarray(np.asarray(prior_mean, dtype=np.float64))
        self.prior_var = np.ascontiguousarray(np.asarray(prior_var, dtype=np.float64))
        if self.prior_mean.shape != (d,) or self.prior_var.shape != (d,):
            raise ValueError(f"prior_mean/prior_var must have shape ({d},) for {n_channels} channel(s).")
        self.n_features = n_features(self.n_channels)
        self._state = np.zeros((11, max(d, 6)))
        self._last_index = -1

    def reset(self) -> None:
        """Start a new session."""
        self._state[:] = 0.0
        self._last_index = -1
        if self._amplitude is not None:
            self._amplitude.reset()

    def update(self, epoch_index: int, base: np.ndarray) -> np.ndarray:
        """Add one epoch and return its model features.

        Parameters
        ----------
        epoch_index : int
            Epoch number since session start; must increase (a jump is a gap).
        base : ndarray, shape (n_channels * 9,)
            Base features of the staging channels, concatenated channel by channel.

        Returns
        -------
        ndarray, shape (n_features,)
        """
        epoch_index = int(epoch_index)
        if epoch_index <= self._last_index:
            raise ValueError(f"Epoch indices must increase: got {epoch_index} after {self._last_index}.")
        base = np.ascontiguousarray(np.asarray(base, dtype=np.float64).ravel())
        if base.shape[0] != self.n_channels * N_BASE:
            raise ValueError(f"Expected {self.n_channels * N_BASE} base features, got {base.shape[0]}.")
        if not np.all(np.isfinite(base)):
            raise ValueError("Base features contain NaN/inf; an unstageable epoch must be skipped, not fed.")
        gap = epoch_index - self._last_index if self._last_index >= 0 else 1
        if self._amplitude is not None:
            base = self._amplitude.update(base)
        out = np.empty(self.n_features)
        _context_step(base, self.n_channels, gap, self._state, self.prior_mean, self.prior_var, out,
                      self.scale_free)
        self._last_index = epoch_index
        return out


def context_features(epoch_index: np.ndarray, base: np.ndarray, n_channels: int,
                     prior_mean: np.ndarray, prior_var: np.ndarray, scale_free: bool = False,
                     amplitude_ref: np.ndarray | None = None) -> np.ndarray:
    """Model features of a whole session, in time order (the same updates as live).

    Parameters
    ----------
    epoch_index : ndarray, shape (n,)
        Increasing epoch numbers since session start (gaps allowed).
    base : ndarray, shape (n, n_channels * 9)
    n_channels : int
    prior_mean, prior_var : ndarray, shape (n_channels * 15,)
    scale_free, amplitude_ref :
        As in :class:`CausalContext`.

    Returns
    -------
    ndarray, shape (n, n_features(n_channels))
    """
    ctx = CausalContext(n_channels, prior_mean, prior_var, scale_free, amplitude_ref)
    base = np.asarray(base, dtype=np.float64)
    out = np.empty((base.shape[0], ctx.n_features))
    for r in range(base.shape[0]):
        out[r] = ctx.update(int(epoch_index[r]), base[r])
    return out


def context_features_reference(epoch_index: np.ndarray, base: np.ndarray, n_channels: int,
                               prior_mean: np.ndarray, prior_var: np.ndarray, scale_free: bool = False,
                               amplitude_ref: np.ndarray | None = None) -> np.ndarray:
    """Plain NumPy reference of :func:`context_features` (vectorised over epochs, no Numba)."""
    base = np.asarray(base, dtype=np.float64).reshape(-1, n_channels * N_BASE)
    if amplitude_ref is not None:
        base = normalise_night_reference(base, n_channels, amplitude_ref)
    idx = np.asarray(epoch_index, dtype=np.int64)
    n = base.shape[0]
    v = np.empty((n, n_channels * N_VARS))
    for c in range(n_channels):
        b = base[:, c * 9 : (c + 1) * 9]
        lp = np.log(np.maximum(np.exp(b[:, :5]) - 1e-10, _LOG_FLOOR))
        cols = [lp[:, k] for k in range(5)]
        cols.append(np.log(np.maximum(np.exp(b[:, 7]) - 1e-10, _LOG_FLOOR)))
        lse = np.logaddexp.reduce(lp, axis=1)
        cols += [lp[:, k] - lse for k in range(5)]
        var = np.maximum(np.exp(b[:, 7]) - 1e-10, _LOG_FLOOR)
        mob = b[:, 8] * np.sqrt((var + 1e-10) / var) if scale_free else b[:, 8]
        cols += [mob, lp[:, 0] - lp[:, 3], lp[:, 1] - lp[:, 2], lp[:, 4] - lp[:, 0]]
        v[:, c * 15 : (c + 1) * 15] = np.stack(cols, axis=1)
    t = idx.astype(float)
    out_cols = []
    # exponentially weighted means with explicit weights over the past (including gaps)
    age = t[:, None] - t[None, :]  # age[i, j] of epoch j seen from i
    past = age >= 0
    ws = np.where(past, (1 - ALPHA_SHORT) ** np.where(past, age, 0), 0.0)
    wl = np.where(past, (1 - ALPHA_LONG) ** np.where(past, age, 0), 0.0)
    wvl = np.where(past, (1 - ALPHA_VLONG) ** np.where(past, age, 0), 0.0)
    ema_s = ws @ v / ws.sum(1, keepdims=True)
    ema_l = wl @ v / wl.sum(1, keepdims=True)
    ema_vl = wvl @ v / wvl.sum(1, keepdims=True)
    ewsd = np.sqrt(np.maximum(wl @ (v * v) / wl.sum(1, keepdims=True) - ema_l**2, 0.0))
    diff = np.full_like(v, np.nan)
    adj = np.flatnonzero(np.diff(idx) == 1) + 1
    diff[adj] = v[adj] - v[adj - 1]
    diff2 = np.full_like(v, np.nan)
    adj2 = np.array([r for r in range(2, n) if idx[r] - idx[r - 1] == 1 and idx[r - 1] - idx[r - 2] == 1], dtype=int)
    if adj2.size:
        diff2[adj2] = v[adj2] - v[adj2 - 2]
    run_min = np.minimum.accumulate(ema_s, axis=0)
    run_max = np.maximum.accumulate(ema_s, axis=0)
    rng = run_max - run_min
    with np.errstate(invalid="ignore", divide="ignore"):
        pos = np.where(rng > 1e-9, (ema_s - run_min) / np.where(rng > 1e-9, rng, 1.0), np.nan)
    cnt = np.arange(1, n + 1)[:, None]
    t_s = np.cumsum(v, 0)
    if scale_free:
        mean = t_s / cnt
        m2 = np.maximum(np.cumsum(v * v, 0) - t_s * mean, 0.0)
        sd = np.sqrt(np.maximum((PRIOR_COUNT * prior_var + m2) / (PRIOR_COUNT + cnt), 1e-12))
    else:
        mean = (PRIOR_COUNT * prior_mean + t_s) / (PRIOR_COUNT + cnt)
        ex2 = (PRIOR_COUNT * (prior_var + prior_mean**2) + np.cumsum(v * v, 0)) / (PRIOR_COUNT + cnt)
        sd = np.sqrt(np.maximum(ex2 - mean**2, 1e-12))
    z = (v - mean) / sd
    zs = (ema_s - mean) / sd
    zl = (ema_l - mean) / sd
    for c in range(n_channels):
        sl = slice(c * 15, (c + 1) * 15)
        out_cols += [base[:, c * 9 : (c + 1) * 9], v[:, sl], ema_s[:, sl], ema_l[:, sl], ewsd[:, sl], diff[:, sl],
                     z[:, sl], zs[:, sl], ema_vl[:, sl], zl[:, sl], diff2[:, sl], pos[:, sl],
                     (v - ema_l)[:, sl], ((ema_vl - mean) / sd)[:, sl]]
    return np.concatenate(out_cols, axis=1)


def warmup_context() -> None:
    """Compile the context kernels."""
    d = N_VARS
    for sf in (False, True):
        CausalContext(1, np.zeros(d), np.ones(d), sf).update(0, np.full(N_BASE, -23.0))
    CausalContext(1, np.zeros(d), np.ones(d), True, np.array([-23.0])).update(0, np.full(N_BASE, -23.0))
