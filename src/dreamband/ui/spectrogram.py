"""Spectrogram of the frontal EEG over the last hour.

:class:`SpectrogramAccumulator` (no Qt) turns pushed samples of one channel into a column of
power (dB, Welch, 2-s segments) every ``step_s`` seconds of data and keeps the last hour;
:class:`SpectrogramPanel` shows it as an ``ImageItem`` on the night's time axis.
"""

from __future__ import annotations

from collections.abc import Sequence

import numpy as np
import pyqtgraph as pg
from pyqtgraph.Qt import QtCore, QtWidgets
from scipy.signal import welch

from dreamband.firmware_bridge.montage import pick_staging_channels
from dreamband.ui import theme
from dreamband.ui.timeaxis import ClockAxis


def pick_frontal(channel_names: Sequence[str], channel_types: Sequence[str],
                 staging_rows: Sequence[int] | None = None) -> int:
    """The channel the spectrogram shows: the one being staged.

    ``staging_rows`` (the engine's) when given, else the one channel picker
    (:func:`~dreamband.firmware_bridge.montage.pick_staging_channels`); 0 without an EEG channel.
    """
    try:
        return pick_staging_channels(channel_names, channel_types, 1, preferred=staging_rows)[0]
    except ValueError:
        return 0


class SpectrogramAccumulator:
    """Columns of log power of one channel, one per ``step_s`` of data, for the last ``span_s``.

    Parameters
    ----------
    sfreq : float
        Sampling rate in Hz.
    step_s : float
        Seconds of data per column.
    span_s : float
        Seconds of columns kept (default one hour).
    fmax : float
        Highest frequency kept, Hz.
    """

    def __init__(self, sfreq: float, step_s: float = 10.0, span_s: float = 3600.0,
                 fmax: float = 30.0):
        self.sfreq = float(sfreq)
        self.step_n = max(int(round(step_s * self.sfreq)), 8)
        self.step_s = self.step_n / self.sfreq
        self.n_cols = max(int(round(span_s / self.step_s)), 1)
        self.nperseg = min(int(round(2.0 * self.sfreq)), self.step_n)
        freqs = np.fft.rfftfreq(self.nperseg, 1.0 / self.sfreq)
        self.fsel = (freqs >= 0.5) & (freqs <= min(fmax, 0.5 * self.sfreq))
        self.freqs = freqs[self.fsel]
        self.power_db = np.full((self.n_cols, self.freqs.size), np.nan)
        self.col_times = np.full(self.n_cols, np.nan)  # session second at each column's start
        self._count = 0  # columns made so far
        self._pending: list[np.ndarray] = []
        self._pending_n = 0
        self._next_start = 0.0

    def reset(self, time_s: float = 0.0) -> None:
        """Forget everything; the next sample is at session second ``time_s``."""
        self.power_db.fill(np.nan)
        self.col_times.fill(np.nan)
        self._count = 0
        self._pending, self._pending_n = [], 0
        self._next_start = float(time_s)

    def jump(self, time_s: float) -> None:
        """The data jumped to session second ``time_s``: drop unfinished samples (and, when going
        back in time, every column from there on)."""
        made = self.col_times[np.isfinite(self.col_times)]
        if made.size and time_s < made.max():
            self.reset(time_s)
            return
        self._pending, self._pending_n = [], 0
        self._next_start = float(time_s)

    def push(self, x_uv: np.ndarray, time_s: float | None = None) -> int:
        """Append samples (µV, shape (n,)); return how many new columns were made."""
        x = np.asarray(x_uv, dtype=np.float64)
        if self._pending_n == 0 and time_s is not None:
            self._next_start = float(time_s)
        self._pending.append(x)
        self._pending_n += x.size
        if self._pending_n < self.step_n:
            return 0
        data = np.concatenate(self._pending)
        n_new = data.size // self.step_n
        skip = max(0, n_new - self.n_cols)  # a huge block: only the last hour matters
        for k in range(skip, n_new):
            seg = data[k * self.step_n:(k + 1) * self.step_n]
            seg = np.nan_to_num(seg - np.nanmean(seg) if np.isfinite(seg).any() else seg)
            _, pxx = welch(seg, fs=self.sfreq, nperseg=self.nperseg)
            row = (self._count) % self.n_cols
            self.power_db[row] = 10.0 * np.log10(pxx[self.fsel] + 1e-12)
            self.col_times[row] = self._next_start + k * self.step_s
            self._count += 1
        self._next_start += n_new * self.step_s
        rest = data[n_new * self.step_n:]
        self._pending, self._pending_n = [rest], rest.size
        return n_new - skip

    def image(self) -> tuple[np.ndarray, float, float]:
        """Return ``(power_db (n_cols_made, n_freqs), t0_s, t1_s)`` in time order."""
        n = min(self._count, self.n_cols)
        if n == 0:
            return np.empty((0, self.freqs.size)), 0.0, 0.0
        start = self._count % self.n_cols if self._count > self.n_cols else 0
        order = (np.arange(n) + start) % self.n_cols
        t0 = float(self.col_times[order[0]])
        return self.power_db[order], t0, t0 + n * self.step_s


def night_colormap() -> pg.ColorMap:
    """A dim colour map: near-black -> indigo -> teal -> dim amber."""
    return pg.ColorMap(pos=[0.0, 0.35, 0.7, 1.0],
                       color=[theme.BACKGROUND, "#2b2f6b", "#3f7f8a", "#b08d3c"])


class SpectrogramPanel(pg.PlotWidget):
    """The frontal EEG's spectrogram over the last hour (0.5-30 Hz, dB)."""

    def __init__(self, sfreq: float, channel_label: str = "EEG", step_s: float = 10.0, parent=None):
        self.time_axis = ClockAxis("bottom")
        super().__init__(parent=parent, axisItems={"bottom": self.time_axis})
        self.acc = SpectrogramAccumulator(sfreq, step_s=step_s)
        self._dirty = False
        plot = self.getPlotItem()
        plot.setMenuEnabled(False)
        plot.hideButtons()
        plot.setMouseEnabled(x=False, y=False)
        plot.setLabel("left", f"{channel_label} Hz")
        plot.getAxis("left").setWidth(54)
        for name in ("left", "bottom"):
            plot.getAxis(name).setCacheMode(QtWidgets.QGraphicsItem.CacheMode.DeviceCoordinateCache)
        self.image_item = pg.ImageItem(axisOrder="col-major")
        self.image_item.setColorMap(night_colormap())
        plot.addItem(self.image_item)
        plot.setYRange(float(self.acc.freqs[0]), float(self.acc.freqs[-1]), padding=0)
        plot.setXRange(0.0, 1.0, padding=0)

    def set_start(self, start) -> None:
        """Label the time axis with the time of day from ``start``."""
        self.time_axis.set_start(start)

    def push(self, x_uv: np.ndarray, time_s: float) -> None:
        """Append samples of the frontal channel starting at session second ``time_s``."""
        if self.acc.push(x_uv, time_s):
            self._dirty = True

    def jump(self, time_s: float) -> None:
        """The data jumped to session second ``time_s`` (see :meth:`SpectrogramAccumulator.jump`)."""
        self.acc.jump(time_s)
        if self.acc._count == 0:
            self.image_item.clear()

    def reset(self, time_s: float = 0.0) -> None:
        """Forget the columns (after a seek)."""
        self.acc.reset(time_s)
        self.image_item.clear()
        self._dirty = False

    def refresh(self) -> bool:
        """Redraw if a new column arrived; return True when redrawn."""
        if not self._dirty:
            return False
        self._dirty = False
        img, t0, t1 = self.acc.image()
        if img.shape[0] == 0:
            return False
        finite = img[np.isfinite(img)]
        lo, hi = (np.percentile(finite, [5, 99.5]) if finite.size else (0.0, 1.0))
        self.image_item.setImage(np.nan_to_num(img, nan=lo), autoLevels=False,
                                 levels=(float(lo), float(max(hi, lo + 1.0))))
        f0, f1 = float(self.acc.freqs[0]), float(self.acc.freqs[-1])
        self.image_item.setRect(QtCore.QRectF(t0 / 3600.0, f0, (t1 - t0) / 3600.0, f1 - f0))
        x_end = max(t1 / 3600.0, t0 / 3600.0 + 1.0)
        self.getPlotItem().setXRange(x_end - 1.0, x_end, padding=0)
        return True

    def sizeHint(self) -> QtCore.QSize:  # noqa: D102
        return QtCore.QSize(900, 150)
