"""Scrolling traces of the montage's channels.

:class:`TraceBuffer` (no Qt) keeps the last minute of band-passed samples per channel in a ring;
:class:`TracePanel` draws the last ``window_s`` seconds as one stacked plot (one persistent
``PlotDataItem`` per channel, peak downsampling, clip-to-view), with a microvolt scale bar,
adjustable window and gain, and each channel coloured by its quality.
Samples are pushed from the GUI thread (the console drains the engine's queue); ``refresh()``
is called from a ``QTimer`` and only redraws when new samples arrived.
"""

from __future__ import annotations

from collections.abc import Sequence

import numpy as np
import pyqtgraph as pg
from pyqtgraph.Qt import QtCore, QtGui, QtWidgets
from scipy.signal import butter, sosfilt, sosfilt_zi

from dreamband.ui import theme

#: Channel types drawn as traces (accelerometer rows are in g, not µV, and are left out).
TRACE_TYPES = ("eeg", "eog", "emg", "misc")
GAIN_STEPS_UV = (10.0, 20.0, 50.0, 100.0, 200.0, 500.0, 1000.0, 2000.0, 5000.0)
WINDOW_STEPS_S = (2.0, 5.0, 10.0, 20.0, 30.0, 60.0)
#: Traces are clipped at this many divisions (gain µV each) from their baseline.
CLIP_DIVISIONS = 1.0


def _band_for(kind: str, sfreq: float) -> tuple[float, float]:
    nyq = 0.5 * sfreq
    if kind == "emg":
        return min(10.0, 0.3 * nyq), min(100.0, 0.9 * nyq)
    return 0.3, min(35.0, 0.9 * nyq)


def _fill_nan_forward(x: np.ndarray, last: np.ndarray) -> np.ndarray:
    """Replace NaNs by the last finite value of each row (``last`` before the block)."""
    mask = np.isnan(x)
    if not mask.any():
        return x
    x = np.concatenate([last[:, None], x], axis=1)
    mask = np.concatenate([np.zeros((x.shape[0], 1), bool), mask], axis=1)
    idx = np.where(~mask, np.arange(x.shape[1])[None, :], 0)
    np.maximum.accumulate(idx, axis=1, out=idx)
    filled = np.take_along_axis(x, idx, axis=1)
    return np.nan_to_num(filled[:, 1:], nan=0.0)


class TraceBuffer:
    """Band-passed ring buffer of the last ``capacity_s`` seconds of each channel (µV).

    Parameters
    ----------
    sfreq : float
        Sampling rate in Hz.
    channel_types : sequence of str
        One type per channel (``"eeg"``, ``"eog"``, ``"emg"`` ...); EMG gets a 10-100 Hz band,
        the others 0.3-35 Hz (4th-order Butterworth, causal, state carried across pushes).
    capacity_s : float
        Seconds kept.
    """

    def __init__(self, sfreq: float, channel_types: Sequence[str], capacity_s: float = 60.0):
        if not sfreq or sfreq <= 0:
            raise ValueError(f"sfreq must be a positive rate in Hz, got {sfreq!r}.")
        if len(channel_types) == 0:
            raise ValueError("TraceBuffer needs at least one channel.")
        self.sfreq = float(sfreq)
        self.n_channels = len(channel_types)
        self.capacity = max(int(round(capacity_s * self.sfreq)), 2)
        self._buf = np.full((self.n_channels, self.capacity), np.nan)
        self._write = 0
        self.total = 0  # samples pushed so far
        groups: dict[tuple[float, float], list[int]] = {}
        for i, kind in enumerate(channel_types):
            groups.setdefault(_band_for(kind, self.sfreq), []).append(i)
        self._filters = []
        for (lo, hi), rows in groups.items():
            sos = butter(2, [lo, hi], btype="bandpass", fs=self.sfreq, output="sos")
            self._filters.append((np.asarray(rows), sos, None))
        self._last = np.zeros(self.n_channels)

    def reset(self) -> None:
        """Forget all samples and the filter state (after a seek)."""
        self._buf.fill(np.nan)
        self._write = 0
        self.total = 0
        self._filters = [(rows, sos, None) for rows, sos, _ in self._filters]

    def push(self, data_uv: np.ndarray) -> None:
        """Filter and append a block.

        Parameters
        ----------
        data_uv : ndarray, shape (n_channels, n_samples)
            Samples in µV; NaN marks a lost sample (drawn as a gap).
        """
        data = np.asarray(data_uv, dtype=np.float64)
        if data.ndim != 2 or data.shape[0] != self.n_channels:
            raise ValueError(
                f"Expected a block of shape ({self.n_channels}, n), got {data.shape}."
            )
        n = data.shape[1]
        if n == 0:
            return
        if n > self.capacity:  # only the tail can be shown; restart the filters on it
            skipped = n - self.capacity
            data = data[:, skipped:]
            self.total += skipped
            n = self.capacity
            self._filters = [(rows, sos, None) for rows, sos, _ in self._filters]
        lost = np.isnan(data)
        x = _fill_nan_forward(data, self._last)
        self._last = x[:, -1].copy()
        y = np.empty_like(x)
        new_filters = []
        for rows, sos, zi in self._filters:
            if zi is None:
                zi = sosfilt_zi(sos)[:, None, :] * x[rows, :1][None, :, :]
            y[rows], zi = sosfilt(sos, x[rows], axis=1, zi=zi)
            new_filters.append((rows, sos, zi))
        self._filters = new_filters
        if lost.any():
            y[lost] = np.nan
        end = self._write + n
        if end <= self.capacity:
            self._buf[:, self._write:end] = y
        else:
            first = self.capacity - self._write
            self._buf[:, self._write:] = y[:, :first]
            self._buf[:, : n - first] = y[:, first:]
        self._write = end % self.capacity
        self.total += n

    def latest(self, n_samples: int) -> np.ndarray:
        """Return the last ``n_samples`` (n_channels, n_samples) in time order (NaN before data)."""
        n = min(int(n_samples), self.capacity)
        start = self._write - n
        if start >= 0:
            return self._buf[:, start:self._write]
        return np.concatenate([self._buf[:, start:], self._buf[:, : self._write]], axis=1)


class TracePanel(pg.PlotWidget):
    """Stacked scrolling traces with a scale bar and per-channel quality colour.

    Emits :attr:`viewChanged` when the window or the gain changes.

    Parameters
    ----------
    channel_names, channel_types : sequence of str
        The source's channels (montage order); only EEG/EOG/EMG/misc rows are drawn.
    sfreq : float
        Sampling rate in Hz.
    window_s : float
        Seconds shown (adjustable with :meth:`set_window`).
    gain_uv : float
        Microvolts between two neighbouring channel baselines (the scale bar's length).
    """

    viewChanged = QtCore.Signal()

    def __init__(self, channel_names: Sequence[str], channel_types: Sequence[str], sfreq: float,
                 window_s: float = 10.0, gain_uv: float = 100.0, parent=None):
        super().__init__(parent=parent)
        rows = [i for i, t in enumerate(channel_types) if t in TRACE_TYPES]
        if not rows:
            rows = list(range(len(channel_names)))
        self.rows = np.asarray(rows)
        self.names = [channel_names[i] for i in rows]
        self.sfreq = float(sfreq)
        self.buffer = TraceBuffer(self.sfreq, [channel_types[i] for i in rows],
                                  capacity_s=max(WINDOW_STEPS_S))
        self.window_s = float(window_s)
        self.gain_uv = float(gain_uv)
        self.status = {name: "unknown" for name in self.names}
        self._dirty = True
        self.frames_drawn = 0
        n = len(self.names)
        self._offsets = -np.arange(n, dtype=np.float64)[:, None]

        plot = self.getPlotItem()
        plot.setMenuEnabled(False)
        plot.hideButtons()
        plot.setMouseEnabled(x=False, y=False)
        plot.showGrid(x=True, y=False, alpha=0.15)
        plot.setLabel("bottom", "seconds before now")
        left = plot.getAxis("left")
        metrics = QtGui.QFontMetrics(left.font())
        left.setWidth(max(54, max(metrics.horizontalAdvance(name) for name in self.names) + 18))
        for name in ("left", "bottom"):  # axes are drawn from a pixmap cache, not every frame
            plot.getAxis(name).setCacheMode(QtWidgets.QGraphicsItem.CacheMode.DeviceCoordinateCache)
        plot.getAxis("left").setTicks([[(-i, name) for i, name in enumerate(self.names)], []])
        self.curves: list[pg.PlotDataItem] = []
        for _ in range(n):
            curve = plot.plot(pen=pg.mkPen(theme.quality_colour("unknown"), width=1))
            curve.setDownsampling(auto=True, method="peak")
            curve.setClipToView(True)
            self.curves.append(curve)
        self.scale_bar = pg.PlotDataItem(pen=pg.mkPen(theme.TEXT_BRIGHT, width=2))
        plot.addItem(self.scale_bar)
        self.scale_label = pg.TextItem(color=theme.TEXT_BRIGHT, anchor=(0.0, 0.5))
        plot.addItem(self.scale_label)
        self._x = np.empty(0)
        self._apply_view()

    # -- settings ---------------------------------------------------------------------------
    def set_window(self, seconds: float) -> None:
        """Show the last ``seconds`` (2-60 s)."""
        seconds = float(seconds)
        if not 0 < seconds <= max(WINDOW_STEPS_S):
            raise ValueError(f"Trace window must be in (0, {max(WINDOW_STEPS_S):g}] s, got {seconds}.")
        self.window_s = seconds
        self._apply_view()

    def set_gain(self, uv: float) -> None:
        """Set the spacing between channel baselines in µV (smaller = bigger traces)."""
        if uv <= 0:
            raise ValueError(f"Gain must be a positive number of µV, got {uv}.")
        self.gain_uv = float(uv)
        self._apply_view()

    def step_gain(self, direction: int) -> None:
        """Zoom the amplitude in (``direction`` > 0: fewer µV per division) or out."""
        steps = np.asarray(GAIN_STEPS_UV)
        i = int(np.argmin(np.abs(steps - self.gain_uv)))
        self.set_gain(float(steps[int(np.clip(i - np.sign(direction), 0, len(steps) - 1))]))

    def step_window(self, direction: int) -> None:
        """Show a longer (``direction`` > 0) or shorter time window."""
        steps = np.asarray(WINDOW_STEPS_S)
        i = int(np.argmin(np.abs(steps - self.window_s)))
        self.set_window(float(steps[int(np.clip(i + np.sign(direction), 0, len(steps) - 1))]))

    def auto_gain(self) -> float:
        """Pick the gain step that fits the larger channels' amplitude (3 robust SDs of the
        75th-percentile channel per division); return it."""
        y = self.buffer.latest(self._x.size)
        finite = np.isfinite(y).all(axis=0)
        if finite.sum() < self.sfreq:  # less than a second of data: keep the gain
            return self.gain_uv
        y = y[:, finite]
        spread = np.median(np.abs(y - np.median(y, axis=1, keepdims=True)), axis=1) * 1.4826
        target = 3.0 * float(np.percentile(spread, 75))
        steps = np.asarray(GAIN_STEPS_UV)
        self.set_gain(float(steps[min(np.searchsorted(steps, target), len(steps) - 1)]))
        return self.gain_uv

    def set_quality(self, channel: str, status: str) -> None:
        """Colour ``channel`` by its quality status (good/noisy/railed/flat/off-head/lost)."""
        if channel not in self.status:
            return
        self.status[channel] = status
        i = self.names.index(channel)
        self.curves[i].setPen(pg.mkPen(theme.quality_colour(status), width=1))

    def _apply_view(self) -> None:
        n = max(int(round(self.window_s * self.sfreq)), 2)
        self._x = (np.arange(n, dtype=np.float64) - (n - 1)) / self.sfreq
        plot = self.getPlotItem()
        n_ch = len(self.names)
        plot.setXRange(-self.window_s, 0.09 * self.window_s, padding=0.0)
        plot.setYRange(-(n_ch - 1) - 0.9, 0.9, padding=0.0)
        x_bar = 0.012 * self.window_s
        y0 = -(n_ch - 1) - 0.5
        self.scale_bar.setData([x_bar, x_bar], [y0, y0 + 1.0])
        self.scale_label.setText(f"{self.gain_uv:g} µV")
        self.scale_label.setPos(x_bar + 0.004 * self.window_s, y0 + 0.5)
        self._dirty = True
        self.viewChanged.emit()

    # -- data ---------------------------------------------------------------------------------
    def push(self, data_uv: np.ndarray) -> None:
        """Append a block of the source's channels, shape (n_source_channels, n) in µV."""
        self.buffer.push(np.asarray(data_uv)[self.rows])
        self._dirty = True

    def reset(self) -> None:
        """Forget the samples (after a replay seek)."""
        self.buffer.reset()
        self._dirty = True

    def invalidate(self) -> None:
        """Force the next :meth:`refresh` to redraw (benchmarks, style changes)."""
        self._dirty = True

    def refresh(self) -> bool:
        """Redraw the curves if new samples arrived; return True when something was redrawn."""
        if not self._dirty:
            return False
        self._dirty = False
        y = self.buffer.latest(self._x.size)
        x = self._x[-y.shape[1]:]
        # one division = gain µV; a trace is clipped at one division so one noisy channel
        # cannot paint over its neighbours (NaN gaps stay NaN)
        y = np.clip(y * (1.0 / self.gain_uv), -CLIP_DIVISIONS, CLIP_DIVISIONS) + self._offsets
        has_gaps = np.isnan(y).any(axis=1)
        for i, curve in enumerate(self.curves):
            if has_gaps[i]:
                curve.setData(x, y[i], connect="finite")
            else:
                curve.setData(x, y[i], connect="all", skipFiniteCheck=True)
        self.frames_drawn += 1
        return True

    def sizeHint(self) -> QtCore.QSize:  # noqa: D102
        return QtCore.QSize(900, 420)
