"""The live hypnogram of the night so far.

One row per stage (W, REM, N1, N2, N3 from the top; unstaged below), each epoch drawn as a
thick bar in its stage's colour over a thin step line, REM periods shaded, the alarm window
shaded, triggers as labelled vertical lines and markers as ticks. x is hours of session time
(labelled with the time of day). A click emits :attr:`HypnogramPanel.seekRequested` (replays).
"""

from __future__ import annotations

import numpy as np
import pyqtgraph as pg
from pyqtgraph.Qt import QtCore, QtWidgets

from dreamband.ui import theme
from dreamband.ui.timeaxis import ClockAxis

_ROW_LABELS = [(4.0, "W"), (3.0, "REM"), (2.0, "N1"), (1.0, "N2"), (0.0, "N3"), (-1.0, "?")]
_TRIGGER_SHORT = {
    "smart_alarm": "alarm", "nightmare_wake": "nightmare", "dream_report": "report",
    "rem_cue": "cue", "test": "test",
}


def rem_runs(onsets: np.ndarray, stages: np.ndarray, epoch_s: float) -> list[tuple[float, float]]:
    """Return ``(start_s, end_s)`` of each run of consecutive REM epochs.

    Parameters
    ----------
    onsets : ndarray, shape (n,)
        Epoch onsets in session seconds, increasing.
    stages : ndarray, shape (n,)
        Stage codes (4 = REM).
    epoch_s : float
        Epoch length in seconds.
    """
    runs: list[tuple[float, float]] = []
    start = None
    prev_end = None
    for onset, stage in zip(onsets, stages, strict=True):
        if stage == 4 and start is not None and prev_end is not None and onset <= prev_end + 1e-6:
            prev_end = onset + epoch_s
        elif stage == 4:
            if start is not None:
                runs.append((start, prev_end))
            start, prev_end = onset, onset + epoch_s
        else:
            if start is not None:
                runs.append((start, prev_end))
            start = prev_end = None
    if start is not None:
        runs.append((start, prev_end))
    return runs


class HypnogramPanel(pg.PlotWidget):
    """Hypnogram of the night so far, updated per staged epoch."""

    #: Emitted with session seconds when the user clicks the plot (used to seek replays).
    seekRequested = QtCore.Signal(float)

    def __init__(self, epoch_s: float = 30.0, parent=None):
        self.time_axis = ClockAxis("bottom")
        super().__init__(parent=parent, axisItems={"bottom": self.time_axis})
        self.epoch_s = float(epoch_s)
        self.onsets = np.empty(0)
        self.stages = np.empty(0, dtype=np.int8)
        self.triggers: list[tuple[float, str, str]] = []  # (time, policy, reason)
        self.markers: list[tuple[float, str]] = []
        self.now_s = 0.0
        self.seek_enabled = False
        self._rem_from_state: list[tuple[float, float]] | None = None
        self._alarm_end_h: float | None = None
        self.reference: list[tuple[float, float, int]] = []
        self._reference_xy: tuple[np.ndarray, np.ndarray] | None = None
        self._dirty = False

        plot = self.getPlotItem()
        plot.setMenuEnabled(False)
        plot.hideButtons()
        plot.setMouseEnabled(x=False, y=False)
        plot.getAxis("left").setTicks([_ROW_LABELS, []])
        plot.getAxis("left").setWidth(54)
        plot.setYRange(-1.5, 4.6, padding=0)
        for name in ("left", "bottom"):
            plot.getAxis(name).setCacheMode(QtWidgets.QGraphicsItem.CacheMode.DeviceCoordinateCache)
        self.alarm_region = pg.LinearRegionItem(
            movable=False, brush=pg.mkBrush(108, 127, 168, 28), pen=pg.mkPen(None))
        self.alarm_region.setZValue(-20)
        self.alarm_region.hide()
        plot.addItem(self.alarm_region)
        self._rem_regions: list[pg.LinearRegionItem] = []
        self.reference_curve = pg.PlotDataItem(
            pen=pg.mkPen("#6f7787", width=1, style=QtCore.Qt.PenStyle.DashLine), stepMode="center")
        self.reference_curve.setZValue(5)
        plot.addItem(self.reference_curve)
        self.reference_label = pg.TextItem("- - - scored in the file", color=theme.TEXT_DIM, anchor=(1, 0.5))
        self.reference_label.hide()
        plot.addItem(self.reference_label)
        self.step_curve = pg.PlotDataItem(pen=pg.mkPen(theme.TEXT_DIM, width=1), stepMode="center")
        plot.addItem(self.step_curve)
        self.stage_curves: dict[int, pg.PlotDataItem] = {}
        for code in (0, 4, 1, 2, 3, -1):
            curve = pg.PlotDataItem(pen=pg.mkPen(theme.stage_colour(code), width=5), connect="pairs")
            plot.addItem(curve)
            self.stage_curves[code] = curve
        self.marker_scatter = pg.ScatterPlotItem(
            symbol="t1", size=8, pen=pg.mkPen(None), brush=pg.mkBrush(theme.TEXT))
        plot.addItem(self.marker_scatter)
        self._trigger_items: list[pg.InfiniteLine] = []
        self.now_line = pg.InfiniteLine(angle=90, movable=False,
                                        pen=pg.mkPen(theme.ACCENT, width=1, style=QtCore.Qt.PenStyle.DotLine))
        plot.addItem(self.now_line)
        self.scene().sigMouseClicked.connect(self._on_click)
        self._set_x_range()

    # -- inputs --------------------------------------------------------------------------------
    def set_start(self, start) -> None:
        """Label the time axis with the time of day from ``start`` (aware datetime or None)."""
        self.time_axis.set_start(start)

    def add_epoch(self, onset_s: float, stage: int, epoch_s: float | None = None) -> None:
        """Add (or, after a seek backwards, replace from) the epoch starting at ``onset_s``."""
        if epoch_s:
            self.epoch_s = float(epoch_s)
        if self.onsets.size and onset_s <= self.onsets[-1] - 1e-6:
            self.truncate(onset_s)
        self.onsets = np.append(self.onsets, float(onset_s))
        self.stages = np.append(self.stages, np.int8(stage))
        self.now_s = max(self.now_s, onset_s + self.epoch_s)
        self._dirty = True

    def truncate(self, time_s: float) -> None:
        """Forget epochs, triggers and markers at or after ``time_s`` (a replay seek back)."""
        keep = self.onsets < time_s - 1e-6
        self.onsets, self.stages = self.onsets[keep], self.stages[keep]
        self.triggers = [t for t in self.triggers if t[0] < time_s]
        self.markers = [m for m in self.markers if m[0] < time_s]
        self.now_s = time_s
        self._dirty = True

    def add_trigger(self, time_s: float, policy: str, reason: str = "") -> None:
        """Draw a fired trigger as a labelled vertical line."""
        self.triggers.append((float(time_s), policy, reason))
        self._dirty = True

    def add_marker(self, time_s: float, label: str = "") -> None:
        """Draw a marker as a tick at the bottom."""
        self.markers.append((float(time_s), label))
        self._dirty = True

    def set_now(self, time_s: float) -> None:
        """Move the 'now' line (session seconds)."""
        if time_s > self.now_s + 60.0 or time_s < self.now_s:
            self._dirty = True
        self.now_s = float(time_s)

    def set_alarm_window(self, start_s: float | None, end_s: float | None) -> None:
        """Shade the smart-alarm window (session seconds); None hides it."""
        if start_s is None or end_s is None:
            self.alarm_region.hide()
            self._alarm_end_h = None
            return
        self.alarm_region.setRegion((start_s / 3600.0, end_s / 3600.0))
        self.alarm_region.show()
        self._alarm_end_h = end_s / 3600.0 if end_s <= 14 * 3600.0 else None
        self._dirty = True

    def set_reference(self, segments: list[tuple[float, float, int]]) -> None:
        """Draw the recording's own scored hypnogram as a dashed line.

        Parameters
        ----------
        segments : list of (start_s, end_s, stage)
            Scored stretches in session seconds, in time order.
        """
        self.reference = sorted(segments)
        if not self.reference:
            self._reference_xy = None
            self.reference_curve.setData([], [])
            self.reference_label.hide()
            return
        edges = [self.reference[0][0] / 3600.0]
        rows = []
        for start, end, stage in self.reference:
            if abs(start / 3600.0 - edges[-1]) > 1e-9:  # a hole: draw it as unstaged
                rows.append(theme.STAGE_ROWS[-1])
                edges.append(start / 3600.0)
            rows.append(theme.STAGE_ROWS.get(int(stage), -1.0))
            edges.append(end / 3600.0)
        self._reference_xy = (np.asarray(edges), np.asarray(rows))
        self.reference_label.show()
        self._dirty = True

    def _draw_reference(self) -> None:
        """The scored line up to 'now' only: the replay is compared as it goes."""
        if self._reference_xy is None:
            return
        edges, rows = self._reference_xy
        now_h = self.now_s / 3600.0
        n = int(np.searchsorted(edges, now_h, side="left"))
        if n < 1:
            self.reference_curve.setData([], [])
            return
        x = np.append(edges[:n], now_h)
        self.reference_curve.setData(x, rows[:n])

    def set_rem_periods(self, periods: list[tuple[float, float]] | None) -> None:
        """Use the engine's REM periods ``[(start_s, end_s), ...]`` instead of raw REM runs."""
        self._rem_from_state = periods
        self._dirty = True

    # -- drawing --------------------------------------------------------------------------------
    def refresh(self) -> bool:
        """Redraw if something changed; return True when redrawn."""
        if not self._dirty:
            return False
        self._dirty = False
        hours = self.onsets / 3600.0
        eh = self.epoch_s / 3600.0
        rows = np.array([theme.STAGE_ROWS.get(int(s), -1.0) for s in self.stages])
        if hours.size:
            self.step_curve.setData(np.append(hours, hours[-1] + eh), rows)
        else:
            self.step_curve.setData([], [])
        for code, curve in self.stage_curves.items():
            sel = self.stages == code
            if sel.any():
                x = np.column_stack([hours[sel], hours[sel] + eh]).ravel()
                y = np.full(x.size, theme.STAGE_ROWS[code])
                curve.setData(x, y)
            else:
                curve.setData([], [])
        periods = self._rem_from_state
        if not periods:
            periods = rem_runs(self.onsets, self.stages, self.epoch_s)
        self._draw_rem(periods)
        self._draw_triggers()
        if self.markers:
            self.marker_scatter.setData([m[0] / 3600.0 for m in self.markers],
                                        [-1.35] * len(self.markers))
        else:
            self.marker_scatter.setData([], [])
        self.now_line.setPos(self.now_s / 3600.0)
        self._set_x_range()
        self._draw_reference()
        x_max = self.getPlotItem().getViewBox().viewRange()[0][1]
        self.reference_label.setPos(x_max, -1.0)
        return True

    def _draw_rem(self, periods) -> None:
        plot = self.getPlotItem()
        while len(self._rem_regions) < len(periods):
            region = pg.LinearRegionItem(movable=False, brush=pg.mkBrush(168, 80, 74, 45),
                                         pen=pg.mkPen(None))
            region.setZValue(-10)
            plot.addItem(region)
            self._rem_regions.append(region)
        for i, region in enumerate(self._rem_regions):
            if i < len(periods):
                start, end = periods[i]
                end = self.now_s if end is None else end
                region.setRegion((start / 3600.0, end / 3600.0))
                region.show()
            else:
                region.hide()

    def _draw_triggers(self) -> None:
        plot = self.getPlotItem()
        while len(self._trigger_items) < len(self.triggers):
            line = pg.InfiniteLine(angle=90, movable=False,
                                   pen=pg.mkPen(theme.WARNING, width=1),
                                   label="", labelOpts={"position": 0.93, "color": theme.WARNING})
            plot.addItem(line)
            self._trigger_items.append(line)
        for i, line in enumerate(self._trigger_items):
            if i < len(self.triggers):
                t, policy, reason = self.triggers[i]
                line.setPos(t / 3600.0)
                line.label.setFormat(_TRIGGER_SHORT.get(policy, policy.replace("safety_", "safety ")))
                line.setToolTip(f"{policy}: {reason}")
                line.show()
            else:
                line.hide()

    def _set_x_range(self) -> None:
        span_h = max(1.0, (self.now_s / 3600.0) * 1.05 + 0.1)
        if self._alarm_end_h is not None:
            span_h = max(span_h, (self._alarm_end_h or 0.0) + 0.1)
        self.getPlotItem().setXRange(0.0, span_h, padding=0.0)

    def _on_click(self, event) -> None:
        if not self.seek_enabled:
            return
        vb = self.getPlotItem().getViewBox()
        if not vb.sceneBoundingRect().contains(event.scenePos()):
            return
        x_h = vb.mapSceneToView(event.scenePos()).x()
        self.seekRequested.emit(max(0.0, float(x_h) * 3600.0))

    def sizeHint(self) -> QtCore.QSize:  # noqa: D102
        return QtCore.QSize(900, 170)
