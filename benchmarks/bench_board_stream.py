"""BoardStream figures on real BrainFlow boards.

1. The synthetic board for ``--seconds`` (default 60), polled every 50 ms like the engine:
   achieved rate vs nominal, lost samples (package counter), cost of ``read()``, CPU.
2. A playback file that goes silent for 8 s in the middle (the headband out of range) and then
   ends, with the default settings (dropout after 3 s): dropout detection delay, time to
   reconnect, the gap counted, samples kept, and the time from the file's end to ``ended``.

Run from the repository root: ``python benchmarks/bench_board_stream.py [--seconds 60]``.
"""

from __future__ import annotations

import argparse
import resource
import tempfile
import time
from pathlib import Path

import numpy as np
from brainflow.data_filter import DataFilter

from dreamband.firmware_bridge import BoardConfig, BoardStream, board_info


def _cpu() -> float:
    ru = resource.getrusage(resource.RUSAGE_SELF)
    return ru.ru_utime + ru.ru_stime


def bench_synthetic(seconds: float) -> np.ndarray:
    stream = BoardStream(BoardConfig(board="synthetic"))
    reads, chunks = [], []
    cpu0, t0 = _cpu(), time.monotonic()
    stream.start()
    while time.monotonic() - t0 < seconds:
        time.sleep(0.05)
        r0 = time.perf_counter()
        chunks.append(stream.read())
        reads.append(time.perf_counter() - r0)
    stream.stop()
    chunks.append(stream.read())
    cpu = _cpu() - cpu0
    st = stream.stats
    raw = np.concatenate([c.raw for c in chunks if c.n_samples], axis=1)
    ts = raw[stream.info.timestamp_row]
    print(f"synthetic, {seconds:.0f} s polled every 50 ms")
    print(f"  samples received     {st.samples_received}")
    print(f"  achieved rate        {st.achieved_rate:.2f} Hz (nominal {stream.sfreq:g} Hz, "
          f"{100 * (st.achieved_rate / stream.sfreq - 1):+.2f} %); board clock {(ts.size - 1) / (ts[-1] - ts[0]):.2f} Hz")
    print(f"  lost samples         {st.samples_lost} (package counter), gaps {st.gaps}, dropouts {st.dropouts}")
    print(f"  read()               median {np.median(reads) * 1e6:.0f} us, max {np.max(reads) * 1e6:.0f} us")
    print(f"  CPU                  {100 * cpu / seconds:.1f} % of one core (board thread + reader thread + polling)")
    return raw


def bench_dropout(raw: np.ndarray, folder: Path) -> None:
    info = board_info("synthetic")
    n = min(raw.shape[1], 2500)
    data = np.ascontiguousarray(raw[:, :n])
    half = n // 2
    data[info.timestamp_row, half:] += 8.0  # the file's clock stops for 8 s: the board goes silent
    path = folder / "silent_then_ends.csv"
    DataFilter.write_file(data, str(path), "w")
    stream = BoardStream(BoardConfig(board="playback", playback_file=str(path), master_board="synthetic"))
    events = []
    received = 0
    t0 = time.monotonic()
    last_arrival = None
    arrivals = []
    stream.start()
    while not stream.finished and time.monotonic() - t0 < 120:
        time.sleep(0.05)
        c = stream.read()
        if c.n_samples:
            received += c.n_samples
            last_arrival = time.monotonic() - t0
            arrivals.append((last_arrival, received))
        events += [(time.monotonic() - t0, e) for e in stream.poll_events()]
    stream.stop()
    print(f"playback with an 8-s silence after sample {half} and an end after {n} samples "
          "(defaults: dropout_timeout_s=3, reconnect_initial_s=1, 2 attempts for playback)")
    for t, e in events:
        print(f"  t={t:6.2f} s  {e.kind:17s} {e.message}")
    drops = [e for _, e in events if e.kind == "dropout"]
    rec = [e for _, e in events if e.kind == "reconnected"]
    for d in drops:
        print(f"  dropout detected     {d.details['since_last_sample_s']:.3f} s after the last sample arrived")
    if rec:
        print(f"  gap counted          {rec[0].details['lost_samples']} samples = {rec[0].details['lost_s']:.3f} s "
              f"(true silence in the file: 8 s = {int(8 * info.sfreq)} samples)")
    t_drop2 = [t for t, e in events if e.kind == "dropout"][-1]
    t_end = [t for t, e in events if e.kind == "ended"]
    print(f"  samples kept         {received} of {n}; stats {stream.stats}")
    if t_end:
        print(f"  file end -> ended    {t_end[0] - (t_drop2 - drops[-1].details['since_last_sample_s']):.2f} s")


def main() -> None:
    ap = argparse.ArgumentParser(description=__doc__.splitlines()[0])
    ap.add_argument("--seconds", type=float, default=60.0)
    args = ap.parse_args()
    raw = bench_synthetic(args.seconds)
    with tempfile.TemporaryDirectory() as tmp:
        bench_dropout(raw, Path(tmp))


if __name__ == "__main__":
    main()
