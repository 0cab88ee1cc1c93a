"""Night console drawing speed: 16 EEG channels at 250 Hz, 10-s window, offscreen.

A real BrainFlow synthetic board (16 EEG channels at 250 Hz) streams through ``BoardStream``
into the real ``SessionEngine`` running in its own acquisition thread (filters, epochs, staging,
triggers). The ``NightConsole`` drains its subscription from its ``QTimer`` (run as fast as it
can, 0 ms, and the traces redrawn on every tick: the worst case) and we count the frames the
trace view actually paints. Printed: the median frames per second (from the median interval
between paints), the mean, and what acquisition did meanwhile (achieved rate, lost samples,
sample chunks this view had to drop), which shows that acquisition never waits for the UI.

Run: ``QT_QPA_PLATFORM=offscreen python benchmarks/bench_ui_fps.py [--seconds 10]``
"""

from __future__ import annotations

import argparse
import os
import sys
import time

os.environ.setdefault("QT_QPA_PLATFORM", "offscreen")

import numpy as np  # noqa: E402
import pyqtgraph as pg  # noqa: E402
from pyqtgraph.Qt import QtCore  # noqa: E402

from dreamband.firmware_bridge import BoardConfig, BoardStream  # noqa: E402
from dreamband.session.engine import SessionEngine  # noqa: E402
from dreamband.session.settings import SessionSettings  # noqa: E402
from dreamband.ui import theme  # noqa: E402
from dreamband.ui.console import NightConsole  # noqa: E402


class PaintCounter(QtCore.QObject):
    """Record the time of every paint event of a widget."""

    def __init__(self):
        super().__init__()
        self.times: list[float] = []

    def eventFilter(self, obj, event):  # noqa: N802 - Qt API
        if event.type() == QtCore.QEvent.Type.Paint:
            self.times.append(time.perf_counter())
        return False


def main(argv: list[str] | None = None) -> int:
    parser = argparse.ArgumentParser(description=__doc__.splitlines()[0])
    parser.add_argument("--seconds", type=float, default=10.0, help="Measuring time (default 10 s).")
    parser.add_argument("--window", type=float, default=10.0, help="Trace window in seconds.")
    args = parser.parse_args(argv)

    app = pg.mkQApp()
    theme.apply_night_theme(app)
    stream = BoardStream(BoardConfig(board="synthetic"))
    n_eeg = sum(t == "eeg" for t in stream.channel_types)
    engine = SessionEngine(stream, SessionSettings())
    console = NightConsole(engine, board_name="synthetic", poll_ms=0)
    console.traces.set_window(args.window)
    counter = PaintCounter()
    console.traces.viewport().installEventFilter(counter)
    console.timer.timeout.connect(console.traces.invalidate)  # redraw every tick: worst case
    console.show()  # starts the engine's acquisition thread
    # fill the window first, then measure
    warm_end = time.perf_counter() + min(args.window, 10.0) + 1.0
    while time.perf_counter() < warm_end:
        app.processEvents()
    counter.times.clear()
    before = engine.stats()
    t0 = time.perf_counter()
    while time.perf_counter() - t0 < args.seconds:
        app.processEvents()
    elapsed = time.perf_counter() - t0
    after = engine.stats()
    dropped = console._subscription.dropped_samples
    console.close()  # stops the engine and releases the board
    if engine.error is not None:
        print(f"the engine stopped on an error: {engine.error!r}", file=sys.stderr)

    times = np.asarray(counter.times)
    if times.size < 3:
        print("too few frames painted to measure", file=sys.stderr)
        return 1
    intervals = np.diff(times)
    print(f"night console, {n_eeg} EEG channels at {stream.sfreq:g} Hz, {args.window:g}-s window, "
          f"{console.width()}x{console.height()} px, QT_QPA_PLATFORM={os.environ['QT_QPA_PLATFORM']}")
    print(f"frames painted: {times.size} in {elapsed:.1f} s")
    print(f"median fps: {1.0 / np.median(intervals):.1f}  (mean {times.size / elapsed:.1f}, "
          f"5th percentile {1.0 / np.percentile(intervals, 95):.1f})")
    rate = (after["samples"] - before["samples"]) / elapsed
    print(f"acquisition meanwhile: {rate:.1f} samples/s (nominal {stream.sfreq:g}), lost samples "
          f"{after['lost_samples']}, dropouts {after['dropouts']}, sample chunks dropped for this "
          f"view {dropped} samples")
    return 0


if __name__ == "__main__":
    raise SystemExit(main())
