"""Benchmark: `dreamband stage` on one night and on a cohort, against YASA, in one run.

Run: ``python benchmarks/bench_cohort.py [--nights 100] [--repeats 3] [--workdir DIR]``
(needs the ``bench`` extra: yasa and dask[distributed]).

Prints, side by side:

1. Whole process per extra 8-h night, one worker, as a user runs it: ``dreamband stage`` and a
   YASA script (MNE read + ``SleepStaging``) on the same generated EDF; the marginal cost is
   (24-h file - 8-h file) / 2, so start-up cancels. Medians of ``--repeats``. Goal: >= 50x.
2. In process: reading the staging channel (edf_channels vs read_recording/MNE) and staging an
   8-h night on the pipeline's batch path (goal <= 30 ms). Medians.
3. A cohort of ``--nights`` generated 8-h nights (symbolic links to 4 distinct generated nights:
   the page cache holds them, so disk speed is not measured): ``--workers 1`` vs ``--workers 2``
   (whole command) and, on warmed clusters, 2 processes x 1 thread vs 1 process x 2 threads;
   nights per hour per core. Goal: 2 workers >= 1.8x the nights/s of 1.
4. Peak memory of a worker staging an 8-h, 16-channel EDF (goal <= 300 MB), and of the whole
   ``dreamband stage`` process on it.

Figures from generated nights only measure speed here (no accuracy is claimed).
"""

from __future__ import annotations

import argparse
import os
import statistics
import subprocess
import sys
import tempfile
import time
from pathlib import Path

import numpy as np

PY = sys.executable
DREAMBAND = [PY, "-m", "dreamband"]

YASA_SCRIPT = r"""
import sys, warnings
import mne, numpy as np, yasa
raw = mne.io.read_raw_edf(sys.argv[1], preload=True, verbose="error")
with warnings.catch_warnings():
    warnings.simplefilter("ignore")
    hyp = yasa.SleepStaging(raw, eeg_name="Fp1").predict()
labels = hyp.hypno.to_numpy() if hasattr(hyp, "hypno") else np.asarray(hyp)
np.savetxt(sys.argv[2], labels.astype(str), fmt="%s")
"""


def _run(cmd: list[str]) -> float:
    t0 = time.perf_counter()
    subprocess.run(cmd, check=True, stdout=subprocess.DEVNULL, stderr=subprocess.DEVNULL)
    return time.perf_counter() - t0


def _median_run(cmd: list[str], repeats: int) -> float:
    return statistics.median(_run(cmd) for _ in range(repeats))


def _write_night(path: Path, hours: float, seed: int, n_channels: int = 4) -> Path:
    from dreamband.session.simulate import write_edf
    from dreamband.signal.simulate import SimulatedNight, simulate_night

    if path.exists():
        return path
    night = simulate_night(hours, sfreq=250.0, seed=seed)
    if n_channels > 4:  # a PSG-like 16-channel file: the generated channels again under other names
        reps = -(-n_channels // 4)
        names = [f"{n}{'' if r == 0 else f'_{r}'}" for r in range(reps) for n in night.channel_names][:n_channels]
        night = SimulatedNight(**{**night.__dict__, "data": np.tile(night.data, (reps, 1))[:n_channels],
                                  "channel_names": names,
                                  "channel_types": (list(night.channel_types) * reps)[:n_channels]})
    return write_edf(night, path)


def part_whole_process(work: Path, repeats: int) -> None:
    print("== 1. whole process per extra 8-h night (24-h file - 8-h file) / 2, one worker ==")
    n8, n24 = _write_night(work / "n8.edf", 8, 1), _write_night(work / "n24.edf", 24, 2)
    out = work / "out_single"
    rows = {}
    for name, cmd in (("dreamband stage", lambda f: [*DREAMBAND, "stage", str(f), "--out-dir", str(out), "--force"]),
                      ("YASA SleepStaging", lambda f: [PY, "-c", YASA_SCRIPT, str(f), str(out / "yasa.txt")])):
        out.mkdir(exist_ok=True)
        t8 = _median_run(cmd(n8), repeats)
        t24 = _median_run(cmd(n24), repeats)
        rows[name] = (t8, t24, (t24 - t8) / 2)
    print(f"{'':20} {'8-h file s':>10} {'24-h file s':>11} {'per extra 8 h s':>16}")
    for name, (t8, t24, m) in rows.items():
        print(f"{name:20} {t8:10.2f} {t24:11.2f} {m:16.3f}")
    ratio = rows["YASA SleepStaging"][2] / max(rows["dreamband stage"][2], 1e-9)
    print(f"ratio per extra night: ours {ratio:.1f}x faster than YASA (goal >= 50x); medians of {repeats}")


def part_in_process(work: Path, repeats: int) -> None:
    print("== 2. in process, 8-h night, 250 Hz, one channel ==")
    from dreamband.recordings.edf_channels import read_edf_header, read_edf_signals
    from dreamband.recordings.recording import read_recording
    from dreamband.session.cohort import _kernels_ready, _load_model, stage_arrays

    _kernels_ready()
    f = work / "n8.edf"
    model = _load_model(None, 1)

    def med(fn, n=None):
        n = n or max(5, repeats)
        ts = []
        for _ in range(n):
            t0 = time.perf_counter()
            fn()
            ts.append(time.perf_counter() - t0)
        return statistics.median(ts)

    t_fast = med(lambda: read_edf_signals(read_edf_header(f), [0]))
    t_mne = med(lambda: read_recording(f), 3)
    x = read_edf_signals(read_edf_header(f), [0])
    t_stage = med(lambda: stage_arrays(x, 250.0, ["Fp1"], model))
    print(f"read the staging channel: edf_channels {t_fast * 1e3:.0f} ms, read_recording (MNE, all channels) "
          f"{t_mne * 1e3:.0f} ms ({t_mne / t_fast:.0f}x)")
    print(f"stage (pipeline batch path, arrays): {t_stage * 1e3:.0f} ms (goal <= 30 ms)")


def _steady_rate(paths: list[Path], out: Path, n_workers: int, threads: int) -> float:
    """Nights per second on a warmed LocalCluster (cluster start-up and kernel loading excluded)."""
    import logging

    from dask.distributed import Client, LocalCluster, wait

    from dreamband.session.cohort import StageOptions, _kernels_ready, stage_night

    out.mkdir(exist_ok=True)
    with LocalCluster(n_workers=n_workers, threads_per_worker=threads, processes=True, dashboard_address=None,
                      silence_logs=logging.ERROR) as cluster, Client(cluster) as client:
        client.run(_kernels_ready)
        t0 = time.perf_counter()
        futs = [client.submit(stage_night, str(p), str(out / f"{p.stem}.hypnogram.csv"), StageOptions(), pure=False)
                for p in paths]
        wait(futs)
        dt_s = time.perf_counter() - t0
        bad = [f.result()["error"] for f in futs if f.result()["status"] != "ok"]
        if bad:
            raise RuntimeError(bad[0])
    return len(paths) / dt_s


def part_cohort(work: Path, n_nights: int) -> None:
    print(f"== 3. a cohort of {n_nights} generated 8-h nights (links to 4 distinct nights) ==")
    distinct = [_write_night(work / f"c{k}.edf", 8, 20 + k) for k in range(4)]
    folder = work / f"cohort{n_nights}"
    folder.mkdir(exist_ok=True)
    for i in range(n_nights):
        link = folder / f"night{i:03d}.edf"
        if not link.exists():
            link.symlink_to(distinct[i % 4])
    rows = []
    for workers in (1, 2):
        out = work / f"out_w{workers}"
        wall = _run([*DREAMBAND, "stage", str(folder), "--out-dir", str(out), "--workers", str(workers), "--force"])
        rows.append((f"dreamband stage --workers {workers} (whole command)", workers, n_nights / wall))
    paths = sorted(folder.glob("*.edf"))
    for n_workers, threads in ((1, 1), (2, 1), (1, 2)):
        rate = _steady_rate(paths, work / f"out_s{n_workers}x{threads}", n_workers, threads)
        rows.append((f"warmed cluster {n_workers} process x {threads} thread", n_workers * threads, rate))
    print(f"{'':48} {'nights/s':>9} {'nights/h/core':>14}")
    for label, cores, rate in rows:
        print(f"{label:48} {rate:9.2f} {rate * 3600 / cores:14.0f}")
    print(f"--workers 2 / --workers 1 (whole command): {rows[1][2] / rows[0][2]:.2f}x; warmed: "
          f"{rows[3][2] / rows[2][2]:.2f}x (goal >= 1.8x); 1 process x 2 threads / 1 x 1: {rows[4][2] / rows[2][2]:.2f}x")


def part_memory(work: Path) -> None:
    print("== 4. peak memory, an 8-h 16-channel EDF ==")
    import logging

    from dask.distributed import Client, LocalCluster

    from dreamband.session.cohort import StageOptions, stage_night

    f = _write_night(work / "n8_16ch.edf", 8, 3, n_channels=16)

    def peak_mb() -> float:
        import resource

        return resource.getrusage(resource.RUSAGE_SELF).ru_maxrss / 1024.0

    with LocalCluster(n_workers=1, threads_per_worker=1, processes=True, dashboard_address=None,
                      silence_logs=logging.ERROR) as cluster, Client(cluster) as client:
        before = max(client.run(peak_mb).values())
        row = client.submit(stage_night, str(f), str(work / "n8_16ch.hypnogram.csv"), StageOptions(), pure=False).result()
        after = max(client.run(peak_mb).values())
    print(f"file {f.stat().st_size / 1e6:.0f} MB; worker peak RSS {after:.0f} MB (idle worker {before:.0f} MB; "
          f"goal <= 300 MB); night {row['status']} in {float(row['seconds']):.2f} s")
    probe = ("import resource, subprocess, sys; subprocess.run(sys.argv[1:], check=True, stdout=subprocess.DEVNULL); "
             "print(resource.getrusage(resource.RUSAGE_CHILDREN).ru_maxrss / 1024)")
    for label, cmd in (("dreamband stage", [*DREAMBAND, "stage", str(f), "--out-dir", str(work / "out_mem"), "--force"]),):
        mb = float(subprocess.run([PY, "-c", probe, *cmd], check=True, capture_output=True, text=True).stdout)
        print(f"whole process peak RSS, {label}: {mb:.0f} MB")


def main() -> int:
    ap = argparse.ArgumentParser(description=__doc__.splitlines()[0])
    ap.add_argument("--nights", type=int, default=100)
    ap.add_argument("--repeats", type=int, default=3)
    ap.add_argument("--workdir", default=None, help="Keep the generated nights here (default: a temporary folder).")
    ap.add_argument("--skip", default="", help="Comma-separated parts to skip: whole,inprocess,cohort,memory.")
    args = ap.parse_args()
    work = Path(args.workdir) if args.workdir else Path(tempfile.mkdtemp(prefix="bench_cohort_"))
    work.mkdir(parents=True, exist_ok=True)
    skip = set(filter(None, args.skip.split(",")))
    print(f"bench_cohort: {os.cpu_count()} cores, load average {os.getloadavg()[0]:.1f} at start; files in {work}")
    if "whole" not in skip:
        part_whole_process(work, args.repeats)
    if "inprocess" not in skip:
        part_in_process(work, args.repeats)
    if "cohort" not in skip:
        part_cohort(work, args.nights)
    if "memory" not in skip:
        part_memory(work)
    print(f"load average at the end: {os.getloadavg()[0]:.1f} (shared machine: medians and ratios only)")
    return 0


if __name__ == "__main__":
    raise SystemExit(main())
