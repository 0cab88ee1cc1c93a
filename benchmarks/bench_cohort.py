"""Benchmark: `dreamband stage` on one night and on a cohort, against YASA, in one run.

Run: ``python benchmarks/bench_cohort.py [--nights 100] [--repeats 3] [--workdir DIR]``
(needs the ``bench`` extra: yasa and dask[distributed]).

Every time is measured twice: CPU time (``resource.getrusage`` of the child processes, or
``time.process_time`` in process; what a night costs, and the figure to trust on a shared,
loaded machine) and wall time. Ours and YASA alternate inside every repeat, so both see the
same load; medians of ``--repeats``; the goals are ratios in the same run.

1. Whole process per extra 8-h night, one worker, as a user runs it: ``dreamband stage`` and a
   YASA script (MNE read + ``SleepStaging``) on the same generated EDF; the marginal cost is
   (24-h file - 8-h file) / 2, so start-up cancels. Goal: >= 50x.
2. In process, an 8-h night: reading the staging channel (edf_channels vs read_recording/MNE),
   staging on the pipeline's batch path (goal <= 30 ms), the hypnogram CSV, the statistics, the
   whole task; YASA ``SleepStaging(...).predict()`` on the same night, preloaded.
3. A cohort of ``--nights`` generated 8-h nights (symbolic links to 4 distinct generated nights:
   the page cache holds them, so disk speed is not measured): ``--workers 1`` vs ``--workers 2``
   (whole command, cluster start-up included) and, on warmed clusters, 2 processes x 1 thread vs
   1 process x 2 threads; nights per hour per core by wall time and by CPU time. Goal: 2 workers
   >= 1.8x the nights/s of 1.
4. Peak memory of a worker staging an 8-h, 16-channel EDF (goal <= 300 MB), and of the whole
   ``dreamband stage`` process on it.

Figures from generated nights only measure speed here (no accuracy is claimed).
"""

from __future__ import annotations

import argparse
import os
import resource
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


def _children_cpu() -> float:
    """CPU seconds (user + system) of every child process waited for so far (and their children)."""
    r = resource.getrusage(resource.RUSAGE_CHILDREN)
    return r.ru_utime + r.ru_stime


def _run(cmd: list[str]) -> tuple[float, float]:
    """Run ``cmd``; its (wall, CPU) seconds, CPU of the whole process tree."""
    c0, t0 = _children_cpu(), time.perf_counter()
    subprocess.run(cmd, check=True, stdout=subprocess.DEVNULL, stderr=subprocess.DEVNULL)
    return time.perf_counter() - t0, _children_cpu() - c0


def _load() -> str:
    return f"load average {os.getloadavg()[0]:.1f} on {os.cpu_count()} cores"


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
    print(f"== 1. whole process per extra 8-h night (24-h file - 8-h file) / 2, one worker ({_load()}) ==")
    n8, n24 = _write_night(work / "n8.edf", 8, 1), _write_night(work / "n24.edf", 24, 2)
    out = work / "out_single"
    out.mkdir(exist_ok=True)
    tools = {"dreamband stage": lambda f: [*DREAMBAND, "stage", str(f), "--out-dir", str(out), "--force"],
             "YASA SleepStaging": lambda f: [PY, "-c", YASA_SCRIPT, str(f), str(out / "yasa.txt")]}
    times: dict[tuple[str, str], list[tuple[float, float]]] = {}
    for _ in range(repeats):  # alternate: both tools see the same load
        for label, f in (("8", n8), ("24", n24)):
            for name, cmd in tools.items():
                times.setdefault((name, label), []).append(_run(cmd(f)))
    rows = {}
    for name in tools:
        med = {lab: [statistics.median(t[i] for t in times[(name, lab)]) for i in (0, 1)] for lab in ("8", "24")}
        rows[name] = {"wall": (med["8"][0], med["24"][0]), "cpu": (med["8"][1], med["24"][1])}
    print(f"{'':20} {'8-h file s':>17} {'24-h file s':>17} {'per extra 8 h s':>17}")
    print(f"{'':20} {'CPU':>8} {'wall':>8} {'CPU':>8} {'wall':>8} {'CPU':>8} {'wall':>8}")
    marg = {}
    for name, r in rows.items():
        marg[name] = {k: (r[k][1] - r[k][0]) / 2 for k in ("cpu", "wall")}
        print(f"{name:20} {r['cpu'][0]:8.2f} {r['wall'][0]:8.2f} {r['cpu'][1]:8.2f} {r['wall'][1]:8.2f} "
              f"{marg[name]['cpu']:8.3f} {marg[name]['wall']:8.3f}")
    ours, yasa = marg["dreamband stage"], marg["YASA SleepStaging"]
    print(f"ratio per extra night: ours {yasa['cpu'] / max(ours['cpu'], 1e-9):.1f}x less CPU than YASA, "
          f"{yasa['wall'] / max(ours['wall'], 1e-9):.1f}x by wall time (goal >= 50x); whole 8-h file "
          f"{rows['YASA SleepStaging']['cpu'][0] / rows['dreamband stage']['cpu'][0]:.1f}x by CPU; medians of {repeats}")


def part_in_process(work: Path, repeats: int) -> None:
    print(f"== 2. in process, 8-h night, 250 Hz, one channel; CPU ms (process_time), medians ({_load()}) ==")
    from dreamband.recordings.edf_channels import read_edf_header, read_edf_signals
    from dreamband.recordings.hypnogram import write_hypnogram_csv
    from dreamband.recordings.recording import read_recording
    from dreamband.recordings.stats import sleep_statistics
    from dreamband.session.cohort import (
        StageOptions,
        _kernels_ready,
        _load_model,
        stage_arrays,
        stage_night,
    )

    _kernels_ready()
    f = work / "n8.edf"
    model = _load_model(None, 1)

    def med(fn, n: int | None = None) -> float:
        ts = []
        for _ in range(n or max(5, repeats)):
            t0 = time.process_time()
            fn()
            ts.append(time.process_time() - t0)
        return statistics.median(ts) * 1e3

    x = read_edf_signals(read_edf_header(f), [0])
    res = stage_arrays(x, 250.0, ["Fp1"], model)
    steps = {
        "read the staging channel (edf_channels)": med(lambda: read_edf_signals(read_edf_header(f), [0])),
        "read_recording (MNE, all channels)": med(lambda: read_recording(f), 3),
        "stage (pipeline batch path, arrays)": med(lambda: stage_arrays(x, 250.0, ["Fp1"], model)),
        "hypnogram CSV": med(lambda: write_hypnogram_csv(work / "inproc.hypnogram.csv", res["stages"],
                                                         res["probabilities"], res["quality"])),
        "sleep statistics": med(lambda: sleep_statistics(res["stages"])),
        "whole task (stage_night: read, stage, write, row)": med(
            lambda: stage_night(str(f), str(work / "inproc2.hypnogram.csv"), StageOptions())),
    }
    try:
        import warnings

        import mne
        import yasa

        raw = mne.io.read_raw_edf(f, preload=True, verbose="error")

        def run_yasa() -> None:
            with warnings.catch_warnings():
                warnings.simplefilter("ignore")
                yasa.SleepStaging(raw, eeg_name="Fp1").predict()

        steps["YASA SleepStaging(...).predict(), preloaded"] = med(run_yasa, max(3, repeats))
    except ImportError:
        pass
    for label, ms in steps.items():
        print(f"  {label:52} {ms:8.1f} ms")
    stage_ms = steps["stage (pipeline batch path, arrays)"]
    print(f"stage {stage_ms:.0f} ms (goal <= 30 ms)" + (
        f"; YASA / ours (staging only) {steps['YASA SleepStaging(...).predict(), preloaded'] / stage_ms:.1f}x"
        if "YASA SleepStaging(...).predict(), preloaded" in steps else ""))


def _worker_cpu() -> float:
    """CPU seconds this process has used (run on each Dask worker)."""
    return time.process_time()


def _steady_rate(paths: list[Path], out: Path, n_workers: int, threads: int) -> tuple[float, float]:
    """(nights per wall second, nights per worker CPU second) on a warmed LocalCluster."""
    from dask.distributed import Client, wait

    from dreamband.session.cohort import StageOptions, _kernels_ready, local_cluster, stage_night

    out.mkdir(exist_ok=True)
    with local_cluster(n_workers, threads) as cluster, Client(cluster) as client:
        client.run(_kernels_ready)
        cpu0 = client.run(_worker_cpu)
        t0 = time.perf_counter()
        futs = [client.submit(stage_night, str(p), str(out / f"{p.stem}.hypnogram.csv"), StageOptions(), pure=False)
                for p in paths]
        wait(futs)
        dt_s = time.perf_counter() - t0
        cpu1 = client.run(_worker_cpu)
        bad = [f.result()["error"] for f in futs if f.result()["status"] != "ok"]
        if bad:
            raise RuntimeError(bad[0])
    cpu = sum(cpu1[w] - cpu0[w] for w in cpu1)
    return len(paths) / dt_s, len(paths) / max(cpu, 1e-9)


def part_cohort(work: Path, n_nights: int) -> None:
    print(f"== 3. a cohort of {n_nights} generated 8-h nights (links to 4 distinct nights; {_load()}) ==")
    distinct = [_write_night(work / f"c{k}.edf", 8, 20 + k) for k in range(4)]
    folder = work / f"cohort{n_nights}"
    folder.mkdir(exist_ok=True)
    for i in range(n_nights):
        link = folder / f"night{i:03d}.edf"
        if not link.exists():
            link.symlink_to(distinct[i % 4])
    rows = []  # label, cores, nights per wall second, nights per CPU second
    for workers in (1, 2):
        out = work / f"out_w{workers}"
        wall, cpu = _run([*DREAMBAND, "stage", str(folder), "--out-dir", str(out), "--workers", str(workers),
                          "--force"])
        rows.append((f"dreamband stage --workers {workers} (whole command)", workers, n_nights / wall, n_nights / cpu))
    paths = sorted(folder.glob("*.edf"))
    for n_workers, threads in ((1, 1), (2, 1), (1, 2)):
        rate, cpu_rate = _steady_rate(paths, work / f"out_s{n_workers}x{threads}", n_workers, threads)
        rows.append((f"warmed cluster {n_workers} process x {threads} thread", n_workers * threads, rate, cpu_rate))
    print(f"{'':48} {'nights/s':>9} {'nights/h/core':>14} {'nights/CPU-h':>13}")
    print(f"{'':48} {'wall':>9} {'wall':>14} {'CPU':>13}")
    for label, cores, rate, cpu_rate in rows:
        print(f"{label:48} {rate:9.2f} {rate * 3600 / cores:14.0f} {cpu_rate * 3600:13.0f}")
    print(f"--workers 2 / --workers 1 (whole command, wall): {rows[1][2] / rows[0][2]:.2f}x; warmed: "
          f"{rows[3][2] / rows[2][2]:.2f}x (goal >= 1.8x); 1 process x 2 threads / 1 x 1: {rows[4][2] / rows[2][2]:.2f}x")
    print(f"CPU per night, warmed: 1 worker {1e3 / rows[2][3]:.0f} ms, 2 workers {1e3 / rows[3][3]:.0f} ms "
          f"(equal CPU per night = the work scales; the wall ratio is then the cores the machine gave us: "
          f"{_load()})")


def part_memory(work: Path) -> None:
    print(f"== 4. peak memory, an 8-h 16-channel EDF ({_load()}) ==")
    from dask.distributed import Client

    from dreamband.session.cohort import StageOptions, local_cluster, stage_night, warm_workers

    f = _write_night(work / "n8_16ch.edf", 8, 3, n_channels=16)

    def peak_mb() -> float:
        # VmHWM: this process's own peak resident set. Not ru_maxrss: Linux carries that across
        # fork + exec, so a worker spawned by a big parent would report the parent's size.
        with open("/proc/self/status") as fh:
            return next(int(line.split()[1]) for line in fh if line.startswith("VmHWM:")) / 1024.0

    with local_cluster(1) as cluster, Client(cluster) as client:
        before = max(client.run(peak_mb).values())
        warm_workers(client, 1)  # as `dreamband stage --workers N` does before the first night
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
    print(f"bench_cohort: {_load()} at start; files in {work}")
    if "whole" not in skip:
        part_whole_process(work, args.repeats)
    if "inprocess" not in skip:
        part_in_process(work, args.repeats)
    if "cohort" not in skip:
        part_cohort(work, args.nights)
    if "memory" not in skip:
        part_memory(work)
    print(f"{_load()} at the end (shared machine: CPU-time figures, medians and ratios in one run)")
    return 0


if __name__ == "__main__":
    raise SystemExit(main())
