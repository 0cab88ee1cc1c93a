"""A whole night recorded, closed and recovered: folder size, peak memory, closing time.

    python benchmarks/bench_night.py [--hours 8] [--seed 5] [--skip-16ch]

1. ``dreamband simulate n.edf --hours H`` (4 channels at 250 Hz), then
   ``dreamband replay n.edf --speed max --headless --session-dir s`` as a new user runs it:
   exit code, wall time, peak RSS of the process, the session folder's size and state, and the
   closing time (from the ``session ended`` line to the process exit: the last records, the
   header, session.json, the summary).
2. ``dreamband replay`` of that session folder (its ``session.bdf``), ``dreamband stage`` of the
   EDF, and the same folder as a crash leaves it (state ``recording``, a dead pid in the lock,
   the header count unset): ``dreamband recover``; ``dreamband report``.
3. 16 channels at 250 Hz for H hours through ``SessionRecorder`` (1-s chunks): archive size;
   ``dreamband stage`` of a 16-channel EDF of H hours.

Peak RSS is each child's ``ru_maxrss`` (Linux, kB) and CPU its user + system time, measured by
a fresh ``resource`` probe per command (wall time is the machine's load as much as ours).
Goals (issue 11): folder <= 120 MB for 8 h x 4 ch, peak RSS <= 400 MB, closing <= 2 s, 16 ch
<= 400 MB per night; issue 14: <= 300 MB per worker staging an 8-h 16-channel EDF.
"""

from __future__ import annotations

import argparse
import json
import os
import shutil
import subprocess
import sys
import tempfile
import time
from pathlib import Path

_PROBE = (
    "import resource, subprocess, sys, time\n"
    "t0 = time.monotonic()\n"
    "p = subprocess.Popen(sys.argv[1:], stdout=subprocess.PIPE, stderr=subprocess.STDOUT, text=True)\n"
    "ended, closed = None, -1.0\n"
    "for line in p.stdout:\n"
    "    if line.startswith('session ended at') and ended is None:\n"
    "        ended = time.monotonic()\n"
    "    if line.startswith('recording:') and 'closed ' in line:\n"
    "        closed = float(line.rsplit('closed ', 1)[1].split()[0])\n"
    "rc = p.wait()\n"
    "t1 = time.monotonic()\n"
    "ru = resource.getrusage(resource.RUSAGE_CHILDREN)\n"
    "print(rc, t1 - t0, ru.ru_maxrss, -1 if ended is None else t1 - ended, closed, ru.ru_utime + ru.ru_stime)\n"
)


def measure(cmd: list[str], cwd: Path) -> tuple[int, float, float, float, float, float]:
    """(exit code, wall s, peak RSS MB, s from the 'session ended' line to the exit, s the recorder
    took to close after the last sample as the command reports it, CPU s) of one command."""
    out = subprocess.run([sys.executable, "-c", _PROBE, *cmd], cwd=cwd, capture_output=True, text=True, check=True)
    rc, wall, rss, to_exit, closed, cpu = out.stdout.split()
    return int(rc), float(wall), int(rss) / 1024, float(to_exit), float(closed), float(cpu)


def line(label: str, m: tuple[int, float, float, float, float, float]) -> str:
    """``label: rc R, W s wall, C CPU-s, peak RSS M MB``."""
    return f"{label}: rc {m[0]}, {m[1]:.1f} s wall, {m[5]:.1f} CPU-s, peak RSS {m[2]:.0f} MB"


def write_16ch_edf(path: Path, hours: float, seed: int) -> Path:
    """A 16-channel EDF of ``hours``: the generated night's 4 channels again under other names."""
    sys.path.insert(0, str(Path(__file__).parent))
    from bench_cohort import _write_night

    return _write_night(path, hours, seed, n_channels=16)


def folder_mb(folder: Path) -> float:
    """Size of the files of ``folder`` in MB."""
    return sum(p.stat().st_size for p in folder.iterdir() if p.is_file()) / 1e6


def bench_16ch(hours: float, work: Path) -> float:
    """MB of a 16-channel 250-Hz session folder of ``hours`` written through SessionRecorder."""
    import datetime as dt

    import numpy as np

    from dreamband.firmware_bridge.chunk import StreamChunk
    from dreamband.recordings.recorder import SessionRecorder

    names = [f"EEG{i + 1}" for i in range(16)]
    rec = SessionRecorder(work / "s16", {"sfreq": 250.0, "channel_names": names, "channel_types": ["eeg"] * 16,
                                         "start_time": dt.datetime.now().astimezone()})
    rng = np.random.default_rng(0)
    block = rng.normal(0, 30, (16, 250))
    for k in range(int(hours * 3600)):
        rec.write_chunk(StreamChunk(block, np.zeros(250), np.zeros(250), k * 250))
    rec.close()
    return folder_mb(rec.folder)


def main() -> None:
    ap = argparse.ArgumentParser(description=__doc__.splitlines()[0])
    ap.add_argument("--hours", type=float, default=8.0)
    ap.add_argument("--seed", type=int, default=5)
    ap.add_argument("--skip-16ch", action="store_true")
    args = ap.parse_args()
    db = [sys.executable, "-m", "dreamband"]
    work = Path(tempfile.mkdtemp(prefix="bench_night_"))
    try:
        m = measure(db + ["simulate", "n.edf", "--hours", str(args.hours), "--seed", str(args.seed)], work)
        print(line(f"simulate {args.hours:g} h", m))
        m = measure(db + ["replay", "n.edf", "--speed", "max", "--headless", "--no-record"], work)
        print(line("replay n.edf --speed max --no-record (the engine alone)", m))
        m = measure(db + ["replay", "n.edf", "--speed", "max", "--headless", "--session-dir", "s"], work)
        folder = next((work / "s").iterdir())
        meta = json.loads((folder / "session.json").read_text())
        files = ", ".join(f"{p.name} {p.stat().st_size / 1e6:.1f}" for p in sorted(folder.iterdir()))
        print(line("replay n.edf --speed max --session-dir", m) + f"; the archive closed {m[4]:.2f} s after the "
              f"last sample; the process exited {m[3]:.2f} s after 'session ended'")
        print(f"session folder: {folder_mb(folder):.1f} MB ({files}); state {meta['state']}, "
              f"{meta.get('duration_s', 0) / 3600:.2f} h")
        m = measure(db + ["replay", str(folder), "--speed", "max", "--headless", "--session-dir", "s2"], work)
        print(line("replay of the session folder (session.bdf) --session-dir", m))
        m = measure(db + ["stage", "n.edf", "--out-dir", "staged"], work)
        print(line("stage n.edf (4 ch)", m))
        crashed = work / "crashed"
        shutil.copytree(folder, crashed)
        meta.update(state="recording")
        (crashed / "session.json").write_text(json.dumps(meta))
        (crashed / ".recording.lock").write_text("999999")
        with open(crashed / "session.bdf", "rb+") as fh:
            fh.seek(236)
            fh.write(b"-1      ")
        print(line("recover (header unset, as after kill -9)", measure(db + ["recover", str(crashed)], work)))
        print(line("report of the session folder", measure(db + ["report", str(folder), "-o", str(work / "report")],
                                                           work)))
        if not args.skip_16ch:
            t0 = time.monotonic()
            mb = bench_16ch(args.hours, work)
            print(f"16 ch x 250 Hz, {args.hours:g} h through SessionRecorder: {mb:.0f} MB "
                  f"(written in {time.monotonic() - t0:.1f} s)")
            shutil.rmtree(work / "s16", ignore_errors=True)
            f16 = write_16ch_edf(work / "n16.edf", args.hours, args.seed)
            print(line(f"stage n16.edf (16 ch, {f16.stat().st_size / 1e6:.0f} MB)",
                       measure(db + ["stage", str(f16), "--out-dir", "staged16"], work)))
    finally:
        shutil.rmtree(work, ignore_errors=True)
        os.sync()


if __name__ == "__main__":
    main()
