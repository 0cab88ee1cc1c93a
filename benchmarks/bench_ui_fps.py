"""Night console drawing speed: 16 EEG channels at 250 Hz, 10-s window, offscreen.

A real BrainFlow synthetic board (16 EEG channels at 250 Hz) streams through ``BoardStream``;
an acquisition thread reads it every 10 ms and puts ``SamplesArrived`` events on a queue, as the
session engine does. The ``NightConsole`` drains the queue from its ``QTimer`` (run as fast as
it can, 0 ms, and the traces redrawn on every tick, the worst case) and we count the frames the
trace view actually paints. Printed: the median frames per second (from the median interval
between paints), the mean, and what acquisition saw meanwhile (achieved rate, lost samples,
longest gap between two reads), which shows that acquisition never waits for the UI.

Run: ``QT_QPA_PLATFORM=offscreen python benchmarks/bench_ui_fps.py [--seconds 10]``
"""

from __future__ import annotations

import argparse
import os
import queue
import sys
import threading
import time

os.environ.setdefault("QT_QPA_PLATFORM", "offscreen")

import numpy as np  # noqa: E402
import pyqtgraph as pg  # noqa: E402
from pyqtgraph.Qt import QtCore  # noqa: E402

from dreamband.firmware_bridge import BoardConfig, BoardStream  # noqa: E402
from dreamband.session.events import SamplesArrived  # noqa: E402
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


def acquire(stream: BoardStream, out: queue.Queue, stop: threading.Event, gaps: list[float]) -> None:
    """Read the stream every 10 ms and publish the chunks (never waits on the queue)."""
    last = time.perf_counter()
    while not stop.is_set():
        chunk = stream.read()
        now = time.perf_counter()
        gaps.append(now - last)
        last = now
        if chunk.n_samples:
            out.put_nowait(SamplesArrived(chunk.first_sample / stream.sfreq, chunk))
        time.sleep(0.01)


def main(argv: list[str] | None = None) -> int:
    parser = argparse.ArgumentParser(description=__doc__.splitlines()[0])
    parser.add_argument("--seconds", type=float, default=10.0, help="Measuring time (default 10 s).")
    parser.add_argument("--window", type=float, default=10.0, help="Trace window in seconds.")
    args = parser.parse_args(argv)

    app = pg.mkQApp()
    theme.apply_night_theme(app)
    stream = BoardStream(BoardConfig(board="synthetic"))
    n_eeg = sum(t == "eeg" for t in stream.channel_types)
    events: queue.Queue = queue.Queue()
    console = NightConsole(sfreq=stream.sfreq, channel_names=stream.channel_names,
                           channel_types=stream.channel_types, board_name="synthetic",
                           poll_ms=0, subscription=events)
    console.traces.set_window(args.window)
    counter = PaintCounter()
    console.traces.viewport().installEventFilter(counter)
    stop = threading.Event()
    gaps: list[float] = []
    stream.start()
    worker = threading.Thread(target=acquire, args=(stream, events, stop, gaps), daemon=True)
    worker.start()
    console.timer.timeout.connect(console.traces.invalidate)  # redraw every tick: worst case
    console.show()
    # fill the 10-s window first, then measure
    warm_end = time.perf_counter() + min(args.window, 10.0) + 1.0
    while time.perf_counter() < warm_end:
        app.processEvents()
    counter.times.clear()
    gaps.clear()
    t0 = time.perf_counter()
    while time.perf_counter() - t0 < args.seconds:
        app.processEvents()
    elapsed = time.perf_counter() - t0
    stop.set()
    worker.join(timeout=2.0)
    stats = stream.stats
    console.close()
    stream.stop()

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
    print(f"acquisition meanwhile: achieved rate {stats.achieved_rate:.1f} Hz, lost samples "
          f"{stats.samples_lost}, longest gap between reads {1000 * max(gaps):.1f} ms "
          f"(target 10 ms; the UI never blocks it)")
    return 0


if __name__ == "__main__":
    raise SystemExit(main())
