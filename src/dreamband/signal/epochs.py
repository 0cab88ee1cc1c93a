"""Cut a stream into 30-s epochs as they complete, with the staging rows at 100 Hz volts.

The staging rows are resampled by one :class:`~dreamband.signal.conditioning.StreamingResampler`
over the continuous signal (carried state): no per-epoch zero padding, so a DC offset or a slow
wave makes no step at the epoch edges. Lost samples are interpolated within their epoch first.
"""

from __future__ import annotations

from collections.abc import Sequence
from dataclasses import dataclass, field

import numpy as np
from numba import njit

from dreamband.signal.conditioning import StreamingResampler
from dreamband.signal.resample import rational_factors, resample_poly_rows


@dataclass(frozen=True)
class Epoch:
    """One completed epoch.

    Attributes
    ----------
    index : int
        Epoch number counted from the first sample of the stream (0, 1, 2 ...).
    onset_s : float
        Session time of the epoch's first sample, seconds.
    data_uv : ndarray, shape (n_channels, n_native)
        The samples at the native rate as pushed (conditioned, in the session pipeline),
        microvolts (NaN where samples were lost).
    staging_v : ndarray, shape (n_staging_rows, 3000)
        The same 30 s at 100 Hz, in volts (lost samples interpolated linearly), for the buffer's
        ``staging_rows`` (all channels by default), in that order: the continuous stream's
        resampler output (``StreamingResampler.delay_in`` native samples late, 0.12 s at 250 Hz).
    sfreq : float
        Native sampling rate, Hz.
    raw_uv : ndarray, shape (n_channels, n_native), optional
        The raw samples before conditioning, when the pusher gave them (railing, flat, clipping).
    """

    index: int
    onset_s: float
    data_uv: np.ndarray
    staging_v: np.ndarray
    sfreq: float
    raw_uv: np.ndarray | None = field(default=None, repr=False)

    @property
    def nan_fraction(self) -> np.ndarray:
        """Fraction of lost (NaN) samples per channel, shape (n_channels,)."""
        return np.mean(~np.isfinite(self.data_uv), axis=1)


@njit(cache=True)
def all_finite(x: np.ndarray) -> bool:
    """True when no sample of ``x`` (2-D) is NaN or infinite (``np.isfinite(x).all()``)."""
    for r in range(x.shape[0]):
        for i in range(x.shape[1]):
            if not np.isfinite(x[r, i]):
                return False
    return True


def warmup_epochs() -> None:
    """Compile the kernels of :func:`resample_to_staging`."""
    resample_to_staging(np.zeros((1, 50)), 250.0)


def fill_nans(x: np.ndarray) -> np.ndarray:
    """Linearly interpolate non-finite samples per row (a row with no finite sample stays NaN)."""
    if x.ndim == 2 and all_finite(x):
        return x
    bad = ~np.isfinite(x)
    if not bad.any():
        return x
    x = x.copy()
    t = np.arange(x.shape[1])
    for c in np.flatnonzero(bad.any(axis=1)):
        good = ~bad[c]
        if good.any():
            x[c, bad[c]] = np.interp(t[bad[c]], t[good], x[c, good])
    return x


def staging_feed(rows_uv: np.ndarray) -> np.ndarray:
    """What one epoch's staging rows feed the streaming resampler: lost samples interpolated, µV.

    A row with no finite sample feeds zeros (its epoch is refused; the stream goes on clean).
    """
    x = fill_nans(np.ascontiguousarray(rows_uv, dtype=np.float64))
    if not all_finite(x):
        x = np.where(np.isfinite(x), x, 0.0)
    return x


def resample_to_staging(data_uv: np.ndarray, sfreq: float, staging_sfreq: float = 100.0) -> np.ndarray:
    """Resample one isolated piece (n_ch, n) in µV at ``sfreq`` to volts at ``staging_sfreq`` (polyphase).

    Zero padding at both ends (``scipy.signal.resample_poly``): for a piece on its own. The
    staging path resamples the continuous stream instead (:class:`EpochBuffer`).

    The Numba :func:`~dreamband.signal.resample.resample_poly_rows`, equal to
    ``scipy.signal.resample_poly`` with its default filter.

    Parameters
    ----------
    data_uv : ndarray, shape (n_channels, n_samples)
        Microvolts at ``sfreq`` Hz. NaN samples are interpolated first.
    sfreq, staging_sfreq : float
        Hz.

    Returns
    -------
    ndarray, shape (n_channels, round(n_samples * staging_sfreq / sfreq)), volts.
    """
    data_uv = np.asarray(data_uv, dtype=np.float64)
    up, down = rational_factors(sfreq, staging_sfreq)
    x = fill_nans(data_uv)
    n_out = int(round(x.shape[1] * float(staging_sfreq) / float(sfreq)))
    y = x.copy() if up == down == 1 else resample_poly_rows(x, up, down)
    if y.shape[1] < n_out:
        y = np.pad(y, ((0, 0), (0, n_out - y.shape[1])), mode="edge")
    if y.shape[1] == n_out:
        y *= 1e-6  # y is our own array here
        return y
    return y[:, :n_out] * 1e-6


class EpochBuffer:
    """Collect streamed samples and emit each 30-s epoch when it completes.

    Parameters
    ----------
    sfreq : float
        Native sampling rate of the stream, Hz (any rate: 50, 100, 125, 200, 250, 256 ...).
    n_channels : int
        Rows of the pushed data.
    epoch_s : float
        Epoch length, seconds.
    staging_sfreq : float
        Rate of :attr:`Epoch.staging_v`, Hz (the staging features need 100).
    staging_rows : sequence of int, optional
        Rows resampled into :attr:`Epoch.staging_v`, in this order (default: all). Give the
        staging channels only when the others are not staged: resampling is most of the work.

    Notes
    -----
    Epoch ``k`` covers samples ``[round(k * epoch_s * sfreq), round((k + 1) * epoch_s * sfreq))``,
    so non-integer samples-per-epoch never drift.
    """

    def __init__(self, sfreq: float, n_channels: int, epoch_s: float = 30.0, staging_sfreq: float = 100.0,
                 staging_rows: Sequence[int] | None = None) -> None:
        if not np.isfinite(sfreq) or sfreq <= 0:
            raise ValueError(f"sfreq must be a positive number of Hz, got {sfreq!r}.")
        if int(n_channels) < 1:
            raise ValueError(f"n_channels must be >= 1, got {n_channels!r}.")
        if epoch_s <= 0 or staging_sfreq <= 0:
            raise ValueError(f"epoch_s and staging_sfreq must be positive, got {epoch_s}, {staging_sfreq}.")
        if sfreq * epoch_s < 2:
            raise ValueError(f"An epoch of {epoch_s} s at {sfreq} Hz has fewer than 2 samples.")
        self.sfreq = float(sfreq)
        self.n_channels = int(n_channels)
        self.epoch_s = float(epoch_s)
        self.staging_sfreq = float(staging_sfreq)
        if staging_rows is None:
            self.staging_rows: list[int] | None = None
        else:
            rows = [int(r) for r in staging_rows]
            if not rows or any(r < 0 or r >= self.n_channels for r in rows):
                raise ValueError(f"staging_rows must be row numbers in 0..{self.n_channels - 1}, got {list(staging_rows)!r}.")
            self.staging_rows = rows
        n_st = self.n_channels if self.staging_rows is None else len(self.staging_rows)
        self._resampler = StreamingResampler(self.sfreq, self.staging_sfreq, n_st)
        self._n_stage = int(round(self.epoch_s * self.staging_sfreq))
        self._pending: list[np.ndarray] = []
        self._pending_raw: list[np.ndarray] = []
        self._n_pending = 0
        self._next_index = 0
        self._consumed = 0  # samples before the pending buffer
        self._staged: list[np.ndarray] = []  # resampler output not yet in an epoch
        self._n_staged = 0
        self._staged_first = 0  # stream index (100 Hz) of self._staged[0][:, 0]
        self._waiting: list[tuple[int, float, np.ndarray, np.ndarray | None, np.ndarray]] = []

    def _bound(self, k: int) -> int:
        return int(round(k * self.epoch_s * self.sfreq))

    @property
    def next_index(self) -> int:
        """Index of the epoch being filled."""
        return self._next_index

    @property
    def samples_seen(self) -> int:
        """Total samples pushed so far."""
        return self._consumed + self._n_pending

    def reset(self) -> None:
        """Drop the partial epoch and start counting from zero again (a new stream)."""
        self._pending.clear()
        self._pending_raw.clear()
        self._n_pending = 0
        self._next_index = 0
        self._consumed = 0
        self._resampler.reset()
        self._staged.clear()
        self._n_staged = 0
        self._staged_first = 0
        self._waiting.clear()

    def push(self, data_uv: np.ndarray, raw_uv: np.ndarray | None = None) -> list[Epoch]:
        """Add samples; return the epochs completed by them (possibly none).

        Parameters
        ----------
        data_uv : ndarray, shape (n_channels, n_samples)
            Microvolts at :attr:`sfreq`. NaN marks a lost sample.
        raw_uv : ndarray, shape (n_channels, n_samples), optional
            The same samples before conditioning (kept in :attr:`Epoch.raw_uv`).

        Returns
        -------
        list of Epoch
        """
        data_uv = np.asarray(data_uv, dtype=np.float64)
        if data_uv.ndim != 2 or data_uv.shape[0] != self.n_channels:
            raise ValueError(f"Expected data of shape ({self.n_channels}, n_samples), got {data_uv.shape}.")
        if raw_uv is not None:
            raw_uv = np.asarray(raw_uv, dtype=np.float64)
            if raw_uv.shape != data_uv.shape:
                raise ValueError(f"raw_uv has shape {raw_uv.shape}, data_uv {data_uv.shape}.")
        if data_uv.shape[1] == 0:
            return []
        self._pending.append(data_uv)
        if raw_uv is not None:
            self._pending_raw.append(raw_uv)
        self._n_pending += data_uv.shape[1]
        end = self._bound(self._next_index + 1)
        if self._consumed + self._n_pending < end:
            return []
        # a concatenation is our own array: its epochs can be views of it; the caller's array is copied
        own = len(self._pending) > 1
        buf = np.concatenate(self._pending, axis=1) if own else self._pending[0]
        raw = None
        if self._pending_raw:
            if len(self._pending_raw) != len(self._pending):
                raise ValueError("Give raw_uv with every push or with none.")
            raw = np.concatenate(self._pending_raw, axis=1) if own else self._pending_raw[0]
        pos = 0
        while True:
            start = self._bound(self._next_index)
            n = end - start
            seg = buf[:, pos : pos + n]
            rows = seg if self.staging_rows is None else seg[self.staging_rows]
            self._add_staged(self._resampler.push(staging_feed(rows)))
            dead = ~np.isfinite(rows).any(axis=1)
            raw_seg = None if raw is None else raw[:, pos : pos + n]
            self._waiting.append((self._next_index, start / self.sfreq, seg if own else seg.copy(),
                                  raw_seg if own or raw_seg is None else raw_seg.copy(), dead))
            pos += n
            self._consumed += n
            buf_left = buf.shape[1] - pos
            self._next_index += 1
            end = self._bound(self._next_index + 1)
            if self._consumed + buf_left < end:
                break
        rest = buf[:, pos:]
        self._pending = [rest] if rest.shape[1] else []
        self._pending_raw = [raw[:, pos:]] if raw is not None and rest.shape[1] else []
        self._n_pending = rest.shape[1]
        return self._emit()

    def _add_staged(self, y: np.ndarray) -> None:
        if y.shape[1]:
            self._staged.append(y)
            self._n_staged += y.shape[1]

    def _emit(self) -> list[Epoch]:
        """The waiting epochs whose 100-Hz samples are all out of the resampler, in order."""
        out: list[Epoch] = []
        while self._waiting:
            k = self._waiting[0][0]
            a, b = k * self._n_stage, (k + 1) * self._n_stage
            if self._staged_first + self._n_staged < b:
                break
            st = np.concatenate(self._staged, axis=1) if len(self._staged) > 1 else self._staged[0]
            staging = st[:, a - self._staged_first : b - self._staged_first] * 1e-6
            rest = st[:, b - self._staged_first :]
            self._staged = [rest] if rest.shape[1] else []
            self._n_staged = rest.shape[1]
            self._staged_first = b
            index, onset, seg, raw, dead = self._waiting.pop(0)
            if dead.any():
                staging[dead] = np.nan
            out.append(Epoch(index, onset, seg, staging, self.sfreq, raw))
        return out


def staging_stream(rows_uv: np.ndarray, sfreq: float, n_epochs: int, epoch_s: float = 30.0,
                   staging_sfreq: float = 100.0) -> np.ndarray:
    """The staging epochs of a whole recording at once, as :class:`EpochBuffer` makes them one by one.

    Parameters
    ----------
    rows_uv : ndarray, shape (n_rows, n_samples)
        The staging rows at ``sfreq`` (a whole number of samples per epoch), µV (NaN = lost).
    n_epochs : int
        Whole epochs in ``rows_uv``.

    Returns
    -------
    ndarray, shape (n_epochs, n_rows, epoch_s * staging_sfreq), volts
    """
    spe = int(round(epoch_s * sfreq))
    n_stage = int(round(epoch_s * staging_sfreq))
    n_rows = rows_uv.shape[0]
    x = np.asarray(rows_uv[:, : n_epochs * spe], dtype=np.float64).reshape(n_rows, n_epochs, spe)
    feed = np.empty((n_rows, n_epochs * spe))
    dead = np.zeros((n_epochs, n_rows), dtype=bool)
    fv = feed.reshape(n_rows, n_epochs, spe)
    for e in range(n_epochs):  # the same per-epoch fill as the streaming path
        seg = x[:, e]
        fv[:, e] = staging_feed(seg)
        dead[e] = ~np.isfinite(seg).any(axis=1)
    y = StreamingResampler(sfreq, staging_sfreq, n_rows).push(feed)
    out = np.ascontiguousarray(y[:, : n_epochs * n_stage].reshape(n_rows, n_epochs, n_stage).transpose(1, 0, 2))
    out *= 1e-6
    if dead.any():
        out[dead] = np.nan
    return out
