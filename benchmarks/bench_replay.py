"""An 8-hour night through the whole engine: filters, epochs, quality, staging, state, triggers,
actions and the crash-safe recorder. Prints seconds and times real time (median of repeats).

    python benchmarks/bench_replay.py [--hours 8] [--repeats 3] [--no-record] [--sfreq 256]

It runs the engine alone, then the engine with the session recorder as a sink.

The night comes from the sleeper generator (``signal.simulate``), so the figure also reports how
many epochs the stager got right against the generated hypnogram.
"""

from __future__ import annotations

import argparse
import datetime as dt
import statistics
import sys
import tempfile
import time

import numpy as np

from dreamband.recordings.recorder import SessionRecorder
from dreamband.recordings.replay import RecordingSource
from dreamband.session.engine import SessionEngine
from dreamband.session.settings import SessionSettings
from dreamband.session.sleeper import night_to_recording
from dreamband.session.sources import MAX_SPEED_CHUNK_S
from dreamband.signal.simulate import simulate_night


def one_run(rec, hours: float, record: bool, folder: str) -> tuple[float, SessionEngine]:
    settings = SessionSettings()
    settings.triggers.smart_alarm.window = "06:30-07:00"
    for name in ("nightmare_wake", "dream_report", "rem_cue"):
        getattr(settings.triggers, name).enabled = True
    settings.actions.outputs = ["log", "marker", "notify", "sound"]
    settings.actions.play_sound = "never"
    src = RecordingSource(rec, speed="max", chunk_s=MAX_SPEED_CHUNK_S)  # as `dreamband replay --speed max`
    factory = (lambda info: SessionRecorder(folder, info)) if record else None
    eng = SessionEngine(src, settings, recorder_factory=factory)
    t0 = time.perf_counter()
    eng.run_to_end()
    return time.perf_counter() - t0, eng


def main(argv: list[str] | None = None) -> int:
    p = argparse.ArgumentParser(description=__doc__.splitlines()[0])
    p.add_argument("--hours", type=float, default=8.0)
    p.add_argument("--repeats", type=int, default=3)
    p.add_argument("--sfreq", type=float, default=256.0)
    p.add_argument("--seed", type=int, default=1)
    p.add_argument("--no-record", action="store_true")
    a = p.parse_args(argv)
    t0 = time.perf_counter()
    night = simulate_night(a.hours, a.sfreq, seed=a.seed)
    rec = night_to_recording(night, dt.datetime(2026, 3, 1, 23, 0).astimezone())
    print(f"night: {a.hours:g} h, {len(night.channel_names)} channels at {a.sfreq:g} Hz "
          f"({night.n_samples} samples), generated in {time.perf_counter() - t0:.1f} s")
    results = {}
    modes = [False] if a.no_record else [False, True]
    for record in modes:
        times = []
        for i in range(a.repeats):
            with tempfile.TemporaryDirectory(prefix="dreamband-bench-") as folder:
                secs, eng = one_run(rec, a.hours, record, folder)
            times.append(secs)
            print(f"  {'engine + recorder' if record else 'engine'} run {i + 1}: {secs:.2f} s "
                  f"({a.hours * 3600 / secs:.0f}x real time)", flush=True)
        results[record] = statistics.median(times)
    for record, med in results.items():
        what = "whole engine + recorder (CSV, events, EDF+ on close)" if record else "whole engine (no recording)"
        print(f"{what}: median {med:.2f} s for {a.hours:g} h = {a.hours * 3600 / med:.0f}x real time "
              f"({med / (a.hours * 120) * 1000:.1f} ms per 30-s epoch)")
    staged = np.array([e.stage for e in eng.epochs])
    agree = float(np.mean(staged == night.hypnogram[: len(staged)]))
    st = eng.state
    print(f"epochs {len(staged)}, stager agreement with the generated hypnogram {agree:.1%}; "
          f"REM periods {st['rem_count']}, cycles {st['cycles_completed']}, triggers {len(eng.triggers)} "
          f"({', '.join(sorted({t.policy for t in eng.triggers}))})")
    return 0


if __name__ == "__main__":
    sys.exit(main())
