"""What the night console costs: CPU per hour (window open) in lab mode, night mode and headless,
and display latency. 16 EEG channels at 250 Hz (BrainFlow's synthetic board), offscreen.

A real BrainFlow synthetic board streams through ``BoardStream`` into the real ``SessionEngine``
(its own acquisition thread: filters, epochs, staging, triggers). For each mode a fresh board,
engine and window run for ``--seconds`` after a warm-up, and we print the whole process's CPU
time over the wall time (every thread: BrainFlow, the engine, Qt), as CPU-seconds per hour and
as a share of one core:

- ``lab``: the console's traces, spectrogram and hypnogram at its normal rate (what the window
  did all night before night mode);
- ``night``: night mode (after lights-off: the clock, stage and alarm large, two frames a second);
- ``headless``: no window, a subscriber draining the events as ``dreamband live --headless`` does.

Display latency: the age of the newest sample on screen when a trace frame is painted (time now
minus the sample's BrainFlow timestamp), in lab mode; and in night mode, after a key press wakes
the screen, the time until the traces are painted and the age of their newest sample then.

Run: ``QT_QPA_PLATFORM=offscreen python benchmarks/bench_ui_cpu.py [--seconds 20] [--modes lab,night,headless]``
"""

from __future__ import annotations

import argparse
import os
import sys
import time

os.environ.setdefault("QT_QPA_PLATFORM", "offscreen")

import numpy as np  # noqa: E402
import pyqtgraph as pg  # noqa: E402
from pyqtgraph.Qt import QtCore, QtGui  # noqa: E402

from dreamband.firmware_bridge import BoardConfig, BoardStream  # noqa: E402
from dreamband.session.engine import SessionEngine  # noqa: E402
from dreamband.session.settings import SessionSettings  # noqa: E402
from dreamband.ui import theme  # noqa: E402
from dreamband.ui.console import NightConsole  # noqa: E402

WARMUP_S = 5.0


class PaintClock(QtCore.QObject):
    """On every paint of a widget: the wall time and the age of the newest sample shown."""

    def __init__(self, console: NightConsole):
        super().__init__()
        self.console = console
        self.paints: list[tuple[float, float]] = []  # (perf_counter, sample age s)

    def eventFilter(self, obj, event):  # noqa: N802 - Qt API
        if event.type() == QtCore.QEvent.Type.Paint:
            stamp = self.console.last_sample_stamp if hasattr(self.console, "last_sample_stamp") else None
            age = time.time() - stamp if stamp is not None else float("nan")
            self.paints.append((time.perf_counter(), age))
        return False


def _engine() -> tuple[SessionEngine, BoardStream]:
    stream = BoardStream(BoardConfig(board="synthetic"))
    return SessionEngine(stream, SessionSettings()), stream


def _spin(app, seconds: float) -> None:
    """Run a real Qt event loop for ``seconds`` (it sleeps between events, as ``app.exec()`` does)."""
    loop = QtCore.QEventLoop()
    QtCore.QTimer.singleShot(int(1000 * seconds), loop.quit)
    loop.exec()


def _measure(seconds: float) -> tuple[float, float]:
    """(CPU seconds, wall seconds) of the whole process over ``seconds`` of the caller's loop."""
    return time.process_time(), time.perf_counter()


def run_window(app, mode: str, seconds: float) -> dict:
    engine, stream = _engine()
    console = NightConsole(engine, board_name="synthetic")
    clock = PaintClock(console)
    console.traces.viewport().installEventFilter(clock)
    console.show()  # starts the engine's acquisition thread
    _spin(app, WARMUP_S)
    if mode == "night":
        if not hasattr(console, "enter_night_mode"):
            console.close()
            return {"mode": mode, "missing": True}
        console.enter_night_mode("benchmark")
        _spin(app, 1.0)
    clock.paints.clear()
    before = engine.stats()
    cpu0, wall0 = _measure(seconds)
    _spin(app, seconds)
    cpu1, wall1 = time.process_time(), time.perf_counter()
    after = engine.stats()
    out = {"mode": mode, "cpu": cpu1 - cpu0, "wall": wall1 - wall0, "paints": len(clock.paints),
           "ages": [a for _, a in clock.paints], "rate": (after["samples"] - before["samples"]) / (wall1 - wall0),
           "lost": after["lost_samples"], "dropped": console._subscription.dropped_samples}
    if mode == "night":
        out["wakes"] = _wakes(app, console, clock)
    console.close()
    if engine.error is not None:
        print(f"the engine stopped on an error: {engine.error!r}", file=sys.stderr)
    return out


def _wakes(app, console: NightConsole, clock: PaintClock, n: int = 8) -> list[tuple[float, float]]:
    """Wake the night screen with a key press ``n`` times: (ms until the traces are painted, sample age ms)."""
    out = []
    for _ in range(n):
        _spin(app, 1.5)
        clock.paints.clear()
        t0 = time.perf_counter()
        app.sendEvent(console.night_view, QtGui.QKeyEvent(QtCore.QEvent.Type.KeyPress, QtCore.Qt.Key.Key_Shift,
                                                           QtCore.Qt.KeyboardModifier.NoModifier))
        while not clock.paints and time.perf_counter() - t0 < 2.0:
            app.processEvents()
        if clock.paints:
            t, age = clock.paints[0]
            out.append((1e3 * (t - t0), 1e3 * age))
        console._end_peek()
    return out


def run_headless(seconds: float) -> dict:
    engine, stream = _engine()
    sub = engine.subscribe(name="console", samples=False)
    engine.start()
    end = time.perf_counter() + WARMUP_S
    while time.perf_counter() < end:
        ev = sub.get(timeout=0.2)
        sub.drain()
    cpu0, wall0 = _measure(seconds)
    while time.perf_counter() - wall0 < seconds:
        ev = sub.get(timeout=0.2)  # noqa: F841 - drained like the headless printer
        sub.drain()
    cpu1, wall1 = time.process_time(), time.perf_counter()
    engine.stop()
    return {"mode": "headless", "cpu": cpu1 - cpu0, "wall": wall1 - wall0}


def main(argv: list[str] | None = None) -> int:
    parser = argparse.ArgumentParser(description=__doc__.splitlines()[0])
    parser.add_argument("--seconds", type=float, default=20.0, help="Measuring time per mode (default 20 s).")
    parser.add_argument("--modes", default="lab,night,headless", help="Comma-separated: lab, night, headless.")
    args = parser.parse_args(argv)
    app = pg.mkQApp()
    theme.apply_night_theme(app)
    print(f"night console, 16 EEG channels at 250 Hz (BrainFlow synthetic), QT_QPA_PLATFORM="
          f"{os.environ['QT_QPA_PLATFORM']}, {os.cpu_count()} cores, {args.seconds:g} s per mode after "
          f"{WARMUP_S:g} s warm-up")
    print(f"{'mode':<9} {'CPU s/hour':>10} {'% of a core':>11} {'frames/s':>9} {'acq. Hz':>8} {'lost':>5}")
    results = []
    for mode in [m.strip() for m in args.modes.split(",") if m.strip()]:
        if mode not in ("lab", "night", "headless"):
            parser.error(f"unknown mode {mode!r}")
        r = run_headless(args.seconds) if mode == "headless" else run_window(app, mode, args.seconds)
        results.append(r)
        if r.get("missing"):
            print(f"{mode:<9} (this console has no night mode)")
            continue
        share = r["cpu"] / r["wall"]
        fps = f"{r['paints'] / r['wall']:9.1f}" if "paints" in r else f"{'–':>9}"
        acq = f"{r['rate']:8.1f}" if "rate" in r else f"{'–':>8}"
        lost = f"{r['lost']:5d}" if "lost" in r else f"{'–':>5}"
        print(f"{mode:<9} {3600 * share:10.0f} {100 * share:10.1f}% {fps} {acq} {lost}")
    for r in results:
        ages = np.asarray(r.get("ages") or [])
        ages = ages[np.isfinite(ages)]
        if r["mode"] == "lab" and ages.size:
            print(f"lab display latency (age of the newest sample at each paint): median {1e3 * np.median(ages):.0f} ms, "
                  f"95th percentile {1e3 * np.percentile(ages, 95):.0f} ms")
        if r.get("wakes"):
            w = np.asarray(r["wakes"])
            print(f"night mode, key press -> traces painted: median {np.median(w[:, 0]):.0f} ms (max "
                  f"{w[:, 0].max():.0f}); newest sample then {np.median(w[:, 1]):.0f} ms old (max {w[:, 1].max():.0f}); "
                  f"{len(w)} wakes")
    return 0


if __name__ == "__main__":
    raise SystemExit(main())
