"""Causal running-amplitude normalisation of base features: a night brought to the training scale.

A headband's gain is not Sleep-EDF's Fpz-Cz gain. Instead of using only scale-free features,
a model may see each epoch as if the signal had been divided by a robust running estimate of the
night's amplitude: per channel, the **median of the true log variance of every accepted epoch
so far** (this epoch included; nothing from the future, nothing from a training population
except the one constant it is brought to, ``reference``: the training nights' median).

Dividing a signal by ``a`` shifts every true log power and the true log variance by
``-2 ln a`` and leaves the true Hjorth mobility unchanged. So the normalised base features are
computed exactly from the raw ones (no second pass over samples): undo the recipe's ``+ 1e-10``
floors (:mod:`~dreamband.signal.features`), shift, and apply the recipe again. A gain ``g`` moves
each true log power and the running median by the same ``2 ln g``, so the normalised features do
not move with the gain (to rounding), from the first epoch on.

The median over the night so far is robust to a few loud epochs (movement bursts are also kept
out by the stager's gate before they reach this). The first epoch's level is its own, so the
first minutes are judged against the night itself, not against Sleep-EDF.
"""

from __future__ import annotations

import numpy as np
from numba import njit

from dreamband.signal.features import N_BASE

#: the recipe's floor on powers and variance (signal/features.py: ``log(P + 1e-10)``)
_FLOOR: float = 1e-10
_TINY: float = 1e-30


@njit(cache=True)
def true_log_var(base: np.ndarray, n_ch: int, out: np.ndarray) -> None:
    """True log variance per channel (the recipe's ``+ 1e-10`` undone), shape (n_ch,)."""
    for c in range(n_ch):
        out[c] = np.log(max(np.exp(base[c * 9 + 7]) - _FLOOR, _TINY))


@njit(cache=True)
def rescale_base(base: np.ndarray, n_ch: int, shift: np.ndarray, out: np.ndarray) -> None:
    """Base features of the same epoch with every true log power moved by ``-shift[c]``.

    Parameters
    ----------
    base : ndarray, shape (n_ch * 9,)
        The recipe's features (signal/features.py order).
    shift : ndarray, shape (n_ch,)
        Natural-log shift of the powers (``2 ln a`` for an amplitude factor ``a``).
    out : ndarray, shape (n_ch * 9,)
    """
    for c in range(n_ch):
        b = base[c * 9 : (c + 1) * 9]
        o = out[c * 9 : (c + 1) * 9]
        for k in range(5):
            p = max(np.exp(b[k]) - _FLOOR, _TINY) * np.exp(-shift[c])
            o[k] = np.log(p + _FLOOR)
        o[5] = o[1] / (o[2] + _FLOOR)
        o[6] = o[2] / (o[0] + _FLOOR)
        var = max(np.exp(b[7]) - _FLOOR, _TINY)
        mob = b[8] * np.sqrt((var + _FLOOR) / var)
        var2 = var * np.exp(-shift[c])
        o[7] = np.log(var2 + _FLOOR)
        o[8] = mob * np.sqrt(var2 / (var2 + _FLOOR))


class RunningAmplitude:
    """Per-night causal normaliser (see the module docstring).

    Parameters
    ----------
    reference : ndarray, shape (n_channels,)
        Target true log variance per channel (the training nights' median, stored in the model).
    """

    def __init__(self, reference: np.ndarray) -> None:
        self.reference = np.ascontiguousarray(np.asarray(reference, dtype=np.float64).ravel())
        if self.reference.size < 1 or not np.all(np.isfinite(self.reference)):
            raise ValueError(f"reference must be finite log variances, one per channel; got {reference!r}.")
        self.n_channels = int(self.reference.size)
        self.reset()

    def reset(self) -> None:
        """Start a new night."""
        self._sorted = np.empty((self.n_channels, 256))
        self._n = 0

    def level(self) -> np.ndarray:
        """The running median of the true log variance per channel (NaN before the first epoch)."""
        if self._n == 0:
            return np.full(self.n_channels, np.nan)
        n = self._n
        s = self._sorted[:, :n]
        return 0.5 * (s[:, (n - 1) // 2] + s[:, n // 2])

    def update(self, base: np.ndarray) -> np.ndarray:
        """Take in one accepted epoch's base features and return them normalised.

        Parameters
        ----------
        base : ndarray, shape (n_channels * 9,)

        Returns
        -------
        ndarray, shape (n_channels * 9,)
        """
        b = np.ascontiguousarray(np.asarray(base, dtype=np.float64).ravel())
        if b.shape[0] != self.n_channels * N_BASE:
            raise ValueError(f"Expected {self.n_channels * N_BASE} base features, got {b.shape[0]}.")
        lv = np.empty(self.n_channels)
        true_log_var(b, self.n_channels, lv)
        if self._n == self._sorted.shape[1]:
            self._sorted = np.concatenate([self._sorted, np.empty_like(self._sorted)], axis=1)
        n = self._n
        for c in range(self.n_channels):
            row = self._sorted[c]
            i = int(np.searchsorted(row[:n], lv[c]))
            row[i + 1 : n + 1] = row[i:n].copy()
            row[i] = lv[c]
        self._n = n + 1
        out = np.empty_like(b)
        rescale_base(b, self.n_channels, self.level() - self.reference, out)
        return out


def normalise_night_reference(base: np.ndarray, n_channels: int, reference: np.ndarray) -> np.ndarray:
    """Plain NumPy reference of a whole night through :class:`RunningAmplitude`, shape (n, n_ch * 9)."""
    base = np.asarray(base, dtype=np.float64).reshape(-1, n_channels * N_BASE)
    out = np.empty_like(base)
    ref = np.asarray(reference, dtype=np.float64).ravel()
    for c in range(n_channels):
        b = base[:, c * 9 : (c + 1) * 9]
        lp = np.log(np.maximum(np.exp(b[:, :5]) - _FLOOR, _TINY))
        var = np.maximum(np.exp(b[:, 7]) - _FLOOR, _TINY)
        lv = np.log(var)
        shift = np.array([np.median(lv[: r + 1]) for r in range(len(lv))]) - ref[c]
        o = out[:, c * 9 : (c + 1) * 9]
        o[:, :5] = np.log(np.exp(lp - shift[:, None]) + _FLOOR)
        o[:, 5] = o[:, 1] / (o[:, 2] + _FLOOR)
        o[:, 6] = o[:, 2] / (o[:, 0] + _FLOOR)
        var2 = var * np.exp(-shift)
        o[:, 7] = np.log(var2 + _FLOOR)
        o[:, 8] = b[:, 8] * np.sqrt((var + _FLOOR) / var) * np.sqrt(var2 / (var2 + _FLOOR))
    return out


def warmup_amplitude() -> None:
    """Compile the kernels."""
    RunningAmplitude(np.array([-23.0])).update(np.full(N_BASE, -23.0))
