"""Stage a cohort: many nights in one command, in this process or on a Dask cluster.

``dreamband stage PATH... [--out-dir DIR] [--workers N] [--scheduler ADDRESS] [--force]``

* Each night is one task that reads its own file (paths travel, not arrays), stages it with the
  batch path of the pipeline, writes ``DIR/<name>.hypnogram.csv`` (whole, or not at all) and
  returns one small row: the night's sleep statistics (:mod:`dreamband.recordings.stats`, the
  morning report's), staged fraction, quality summary, model, seconds taken - or its error.
* Without ``--workers``/``--scheduler`` the nights run one after another in this process.
  ``--workers N`` starts a Dask ``LocalCluster`` of N processes with one thread each;
  ``--scheduler tcp://host:8786`` sends the same tasks to a running Dask cluster (a lab's
  Slurm/Kubernetes cluster through dask-jobqueue or dask-kubernetes); its workers must see
  the recordings and ``DIR`` at the same paths (a shared filesystem). The local workers get
  :data:`WORKER_MALLOC_ENV` (a night costs half the CPU with it); give a lab's workers the same
  environment variables.
* ``DIR/cohort.csv`` gets a row as each night finishes; a re-run skips nights whose row says
  ``ok`` and whose hypnogram is there (resume), unless ``--force``. A failed night has its
  error in the row and on stderr; the others go on; the exit code is 1 if any failed.

EDF/BDF files and session archives are read by :mod:`dreamband.recordings.edf_channels` (only
the staging channels, from their stored integers, a few epochs at a time while the pipeline
stages them: the night is never in memory); every other format goes through ``read_recording``
(the one dispatcher).
"""

from __future__ import annotations

import argparse
import csv
import glob
import os
import sys
import time
from collections.abc import Callable, Iterator, Sequence
from dataclasses import dataclass
from functools import lru_cache
from pathlib import Path
from typing import Any

import numpy as np

#: the columns of cohort.csv, in order
STAT_COLUMNS = ("TIB", "TST", "SPT", "SOL", "WASO", "SE", "SME", "Lat_REM", "Lat_REM_AASM", "W", "N1", "N2",
                "N3", "REM", "%N1", "%N2", "%N3", "%REM", "Awakenings", "Cycles", "REM_periods", "Unscored")
COHORT_COLUMNS = ("name", "recording", "status", "error", "hypnogram", "start_time", "hours", "epochs",
                  "staged_fraction", *STAT_COLUMNS, "quality_ok_fraction", "unstaged_reasons", "channels",
                  "sfreq", "reader", "model", "model_version", "seconds", "warnings")
COHORT_FILE = "cohort.csv"
HYPNOGRAM_SUFFIX = ".hypnogram.csv"

#: file endings a folder is searched for (every format ``replay`` reads)
RECORDING_SUFFIXES = (".edf", ".bdf", ".gdf", ".fif", ".fif.gz", ".set", ".vhdr", ".cnt", ".mff", ".rec",
                      ".csv", ".txt", ".xdf", ".xdfz")
_MISSING_DASK = ("--workers/--scheduler need Dask's distributed scheduler, which is not installed. "
                 "Install the cohort extra: pip install 'dreamband[cohort]' (or pip install 'dask[distributed]'), "
                 "or leave out --workers/--scheduler to stage the nights one by one in this process.")


@dataclass(frozen=True)
class StageOptions:
    """What every night of a cohort is staged with (small: it travels to each task).

    Attributes
    ----------
    channels : tuple of str, optional
        Staging channel names (default: the recording's most frontal EEG channel).
    model : str, optional
        Model file (default: the shipped model for the number of channels).
    board : str, optional
        Board (name or BrainFlow id) that wrote BrainFlow CSVs without a ``session.json``
        (``--board`` / ``--master-board``); other formats ignore it.
    """

    channels: tuple[str, ...] | None = None
    model: str | None = None
    board: str | None = None


# --------------------------------------------------------------------------- finding nights
def _is_output(path: Path) -> bool:
    return path.name.endswith(HYPNOGRAM_SUFFIX) or path.name == COHORT_FILE or path.name.startswith(".")


def _is_session_folder(path: Path) -> bool:
    return path.is_dir() and (path / "session.json").exists()


def _folder_recordings(folder: Path) -> list[Path]:
    found = []
    for entry in sorted(folder.iterdir()):
        if _is_output(entry):
            continue
        if _is_session_folder(entry):
            found.append(entry)
        elif entry.is_dir():
            found.extend(_folder_recordings(entry))
        elif entry.name.lower().endswith(RECORDING_SUFFIXES):
            found.append(entry)
    return found


def find_recordings(paths: Sequence[str | Path]) -> list[Path]:
    """The recordings named by files, folders (searched recursively) and glob patterns.

    A folder holding ``session.json`` is one recording (a dreamband session). Our own outputs
    (``*.hypnogram.csv``, ``cohort.csv``) and hidden files are never taken for recordings.

    Raises
    ------
    FileNotFoundError
        When a path does not exist or a pattern matches nothing.
    ValueError
        When nothing at all is found.
    """
    out: list[Path] = []
    for given in paths:
        text = os.path.expanduser(str(given))
        if glob.has_magic(text):
            matches = sorted(Path(m) for m in glob.glob(text, recursive=True))
            if not matches:
                raise FileNotFoundError(f"No file matches {given!r}.")
            candidates = matches
        else:
            p = Path(text)
            if not p.exists():
                raise FileNotFoundError(f"No such recording or folder: {p}")
            candidates = [p]
        for p in candidates:
            if p.is_dir() and not _is_session_folder(p):
                out.extend(_folder_recordings(p))
            elif not _is_output(p):
                out.append(p)
    seen: set[Path] = set()
    unique = []
    for p in out:
        key = p.absolute()
        if key not in seen:
            seen.add(key)
            unique.append(p)
    if not unique:
        raise ValueError(f"No recording found in {', '.join(map(str, paths))} (looked for "
                         f"{', '.join(RECORDING_SUFFIXES)} files and session folders).")
    return unique


def night_names(recordings: Sequence[Path]) -> list[str]:
    """One output name per recording: its stem (``n1.edf`` -> ``n1``), made unique with its folders."""

    def stem(p: Path) -> str:
        name = p.name
        for suffix in (".fif.gz", ".xdfz"):
            if name.lower().endswith(suffix):
                return name[: -len(suffix)]
        return p.name if p.is_dir() else p.stem

    names = [stem(p) for p in recordings]
    depth = 1
    while len(set(names)) < len(names) and depth < 8:
        counts: dict[str, int] = {}
        for n in names:
            counts[n] = counts.get(n, 0) + 1
        names = ["_".join([*p.resolve().parent.parts[-depth:], stem(p)]) if counts[n] > 1 else n
                 for p, n in zip(recordings, names, strict=True)]
        depth += 1
    return names


# --------------------------------------------------------------------------- one night
@lru_cache(maxsize=1)
def _kernels_ready() -> bool:
    """Compile (or load from Numba's cache) every kernel once per process."""
    from dreamband.recordings.edf_channels import warmup_edf_channels
    from dreamband.signal.stager import warmup

    warmup()
    warmup_edf_channels()
    return True


def _pick_rows(names: list[str], types: list[str], channels: tuple[str, ...] | None) -> list[int]:
    """Rows of the staging channels: the names given (case-insensitive), else the one channel picker."""
    from dreamband.firmware_bridge.montage import pick_staging_channels

    if channels:
        low = [n.lower() for n in names]
        missing = [c for c in channels if c.lower() not in low]
        if missing:
            raise ValueError(f"No channel {', '.join(map(repr, missing))} in this recording; it has {names}.")
        return [low.index(c.lower()) for c in channels]
    return pick_staging_channels(names, types, 1)


def _load_staging_channels(path: Path, channels: tuple[str, ...] | None, board: str | None = None) -> dict:
    """Open only the staging channels: EDF/BDF files and session archives as a block reader
    (:class:`~dreamband.recordings.edf_recording.EdfRecording`: decoded from their stored
    integers a few epochs at a time while staging, never the whole night), else ``read_recording``."""
    from dreamband.recordings.edf_channels import (
        FastReadUnsupported,
        check_signals,
        read_edf_header,
    )
    from dreamband.recordings.edf_recording import EdfRecording

    if path.is_file() and path.suffix.lower() in (".edf", ".bdf"):
        try:
            header = read_edf_header(path)
            rows = _pick_rows(header.channel_names, header.channel_types, channels)
            check_signals(header, rows)  # voltages at the top rate; the file's other signals are never read
            names = [header.channel_names[r] for r in rows]
            blocks = EdfRecording(header, rows, names, [header.channel_types[r] for r in rows], header.start_time,
                                  [], source_path=path)
            return {"data": blocks, "sfreq": header.top_sfreq, "names": names, "start": header.start_time,
                    "reader": "edf_channels", "warnings": list(header.warnings)}
        except FastReadUnsupported:
            pass  # MNE reads it below
    from dreamband.recordings.recording import open_recording

    rec = open_recording(path, board_id=board)  # a session archive: a block reader too
    rows = _pick_rows(rec.channel_names, rec.channel_types, channels)
    names = [rec.channel_names[r] for r in rows]
    data = rec.pick(names) if isinstance(rec, EdfRecording) else rec.data[rows]
    return {"data": data, "sfreq": rec.sfreq, "names": names,
            "start": rec.start_time, "reader": rec.info.get("format", "read_recording"),
            "warnings": list(rec.info.get("warnings", []))}


def _load_model(model: str | None, n_channels: int):
    from dreamband.session.offline import _load_model as load

    return load(model, n_channels)


def stage_arrays(data_uv: np.ndarray | Any, sfreq: float, names: list[str], model) -> dict[str, np.ndarray | list]:
    """Stage a night on the session pipeline's batch path; arrays (stages, probabilities, quality text).

    ``data_uv`` is the staging channels, ``(n_channels, n_samples)`` µV: an array, or a block
    reader (``shape`` and ``block(start, stop)``, e.g. an ``EdfRecording``) that the batch path
    decodes a few epochs at a time.

    The pipeline is :func:`dreamband.session.offline.staging_pipeline`, the object a live night
    runs; :meth:`~dreamband.session.pipeline.SessionPipeline.stage_night` gives arrays, no
    per-epoch objects. Rates without a whole number of samples per epoch stream instead.
    """
    from dreamband.session.offline import staging_pipeline
    from dreamband.signal.stages import UNSTAGED

    pipe = staging_pipeline(sfreq, names, model)
    try:
        night = pipe.stage_night(data_uv, keep_epochs=False)
    except ValueError:  # e.g. 256.3 Hz: the streaming path (same stages, one object per epoch)
        if not isinstance(data_uv, np.ndarray):  # a block reader: this path needs the array
            data_uv = data_uv.block(0, data_uv.shape[1])
        staged = staging_pipeline(sfreq, names, model).stage_all(data_uv)
        stages = np.array([s.result.stage for s in staged], dtype=np.int8)
        proba = np.array([s.result.probabilities for s in staged]).reshape(-1, 5)
        ok = np.array([s.quality.ok for s in staged], dtype=bool)
        quality = ["ok" if s.result.stage != UNSTAGED and s.quality.ok else "; ".join(s.result.reasons) or "unstaged"
                   for s in staged]
        return {"stages": stages, "probabilities": proba, "quality": quality, "quality_ok": ok}
    return {"stages": night.stages, "probabilities": night.probabilities, "quality": night.quality_text(),
            "quality_ok": np.fromiter((q.ok for q in night.qualities), dtype=bool, count=night.n_epochs)}


def _reason_summary(quality: list[str], top: int = 3) -> str:
    counts: dict[str, int] = {}
    for q in quality:
        if q != "ok":
            for reason in q.split("; "):
                counts[reason] = counts.get(reason, 0) + 1
    ranked = sorted(counts.items(), key=lambda kv: (-kv[1], kv[0]))[:top]
    return "; ".join(f"{reason} ({n})" for reason, n in ranked)


def _fmt(value: object) -> str:
    if isinstance(value, float):
        return "" if not np.isfinite(value) else f"{value:.6g}"
    return str(value)


def stage_night(recording: str, hypnogram: str, options: StageOptions = StageOptions()) -> dict[str, str]:
    """Stage one night and write its hypnogram; the task every worker runs.

    Parameters
    ----------
    recording : str
        The night's file or session folder (read here, on the worker).
    hypnogram : str
        The ``.hypnogram.csv`` to write.
    options : StageOptions

    Returns
    -------
    dict
        One ``cohort.csv`` row (:data:`COHORT_COLUMNS`, all values text). Data errors (a
        corrupt file, no EEG channel, too short) come back as ``status="failed"`` with the
        error; they are not raised.
    """
    t0 = time.perf_counter()
    path = Path(recording)
    row = dict.fromkeys(COHORT_COLUMNS, "")
    row.update(name=Path(hypnogram).name[: -len(HYPNOGRAM_SUFFIX)], recording=str(path), hypnogram=str(hypnogram))
    try:
        from dreamband.recordings.hypnogram import write_hypnogram_csv
        from dreamband.recordings.stats import sleep_statistics

        _kernels_ready()
        night = _load_staging_channels(path, options.channels, options.board)
        data, sfreq = night["data"], float(night["sfreq"])
        if data.shape[1] < 30.0 * sfreq:
            raise ValueError(f"{path} holds {data.shape[1] / sfreq:.1f} s of data; staging needs at least one 30-s epoch.")
        model = _load_model(options.model, len(night["names"]))
        if model.n_channels != len(night["names"]):
            raise ValueError(f"The model stages from {model.n_channels} channel(s) but {len(night['names'])} were "
                             "picked; give as many with --eeg.")
        res = stage_arrays(data, sfreq, night["names"], model)
        write_hypnogram_csv(hypnogram, res["stages"], res["probabilities"], res["quality"])
        stages = res["stages"]
        stats = sleep_statistics(stages) if stages.size >= 2 else {}
        row.update({k: _fmt(float(stats.get(k, np.nan))) for k in STAT_COLUMNS})
        row.update(status="ok", start_time=night["start"].isoformat(), hours=_fmt(data.shape[1] / sfreq / 3600.0),
                   epochs=str(stages.size), staged_fraction=_fmt(float(np.mean(stages >= 0))),
                   quality_ok_fraction=_fmt(float(np.mean(res["quality_ok"]))),
                   unstaged_reasons=_reason_summary(res["quality"]), channels=" ".join(night["names"]),
                   sfreq=_fmt(sfreq), reader=night["reader"], model=str(model.meta.get("name", "")),
                   model_version=str(model.meta.get("version", "")), warnings="; ".join(night["warnings"]))
    except (ValueError, TypeError, OSError, RuntimeError, KeyError, IndexError) as err:
        row.update(status="failed", error=f"{type(err).__name__}: {err}")
    row["seconds"] = f"{time.perf_counter() - t0:.3f}"
    return {k: str(v).replace("\n", " ") for k, v in row.items()}


# --------------------------------------------------------------------------- cohort.csv
def read_cohort_csv(path: str | Path) -> dict[str, dict[str, str]]:
    """Rows of an existing ``cohort.csv`` by recording path (the last row of a path wins).

    A partial last line (a crash while writing) is ignored.
    """
    path = Path(path)
    if not path.exists():
        return {}
    rows: dict[str, dict[str, str]] = {}
    with open(path, encoding="utf-8", newline="") as fh:
        for row in csv.DictReader(fh):
            if row.get("recording") and row.get("warnings") is not None:
                rows[row["recording"]] = row
    return rows


def _write_rows(path: Path, rows: list[dict[str, str]]) -> None:
    """Rewrite ``path`` with ``rows`` in one rename (never half written)."""
    tmp = path.with_name(f".{path.name}.{os.getpid()}.tmp")
    with open(tmp, "w", encoding="utf-8", newline="") as fh:
        w = csv.DictWriter(fh, fieldnames=COHORT_COLUMNS, extrasaction="ignore")
        w.writeheader()
        w.writerows(rows)
    os.replace(tmp, path)


class _CohortLog:
    """Append each finished night's row to cohort.csv as it arrives (flushed), rewrite in order at the end."""

    def __init__(self, path: Path, kept: list[dict[str, str]]) -> None:
        self.path = path
        _write_rows(path, kept)
        self._fh = open(path, "a", encoding="utf-8", newline="")
        self._writer = csv.DictWriter(self._fh, fieldnames=COHORT_COLUMNS, extrasaction="ignore")

    def add(self, row: dict[str, str]) -> None:
        self._writer.writerow(row)
        self._fh.flush()

    def close(self, rows: list[dict[str, str]]) -> None:
        self._fh.close()
        _write_rows(self.path, rows)


# --------------------------------------------------------------------------- running
@dataclass
class CohortResult:
    """What a cohort run did.

    Attributes
    ----------
    rows : list of dict
        One cohort.csv row per recording, in input order.
    staged, skipped, failed : int
        Nights staged now, skipped as already done, failed.
    seconds : float
        Wall time of the run.
    cohort_csv : Path
    """

    rows: list[dict[str, str]]
    staged: int
    skipped: int
    failed: int
    seconds: float
    cohort_csv: Path


def _in_process(tasks: list[tuple[str, str]], options: StageOptions) -> Iterator[tuple[int, dict[str, str]]]:
    for i, (rec, hyp) in enumerate(tasks):
        yield i, stage_night(rec, hyp, options)


def _failed_row(rec: str, hyp: str, err: BaseException) -> dict[str, str]:
    row = dict.fromkeys(COHORT_COLUMNS, "")
    row.update(name=Path(hyp).name[: -len(HYPNOGRAM_SUFFIX)], recording=rec, hypnogram=hyp, status="failed",
               error=f"{type(err).__name__}: {err}".replace("\n", " "))
    return row


def warm_workers(client: Any, n_workers: int | None = None) -> None:
    """Load every kernel on the cluster's workers before the first night (``_kernels_ready``).

    ``client.run`` calls it in each worker's main thread, whose heap the worker's own start-up
    already grew; loaded inside the first task (a thread of its own, a fresh malloc arena) the
    same kernels cost a worker ~25 MB more resident memory (measured: an 8-h 16-channel EDF,
    307 -> 280 MB peak). Workers that join later load them in their first task.

    Parameters
    ----------
    client : dask.distributed.Client
    n_workers : int, optional
        Wait until this many workers are up (a ``LocalCluster`` we started).
    """
    if n_workers:
        client.wait_for_workers(n_workers, timeout=120)
    client.run(_kernels_ready)


#: the environment of each LocalCluster worker process (``distributed.nanny.pre-spawn-environ``).
#: Dask sets ``MALLOC_TRIM_THRESHOLD_=65536`` so that workers hand memory back to the system; setting
#: it also freezes glibc's mmap threshold at 128 KB, so every array of 128 KB or more is fresh pages
#: from the kernel: staging an 8-h night took 110,000 page faults and ~300 ms of system CPU on a
#: worker (20 in a plain process). Arrays below 32 MB come from the heap again; freed memory stays
#: with the worker up to 256 MB (its peak, what the memory goal counts, is the same).
WORKER_MALLOC_ENV: dict[str, int] = {"MALLOC_MMAP_THRESHOLD_": 32 * 2**20, "MALLOC_TRIM_THRESHOLD_": 256 * 2**20}


def local_cluster(n_workers: int, threads_per_worker: int = 1) -> Any:
    """A Dask ``LocalCluster`` of ``n_workers`` processes for staging (:data:`WORKER_MALLOC_ENV`, no dashboard).

    Raises
    ------
    RuntimeError
        When Dask's distributed scheduler is not installed (the ``cohort`` extra).
    """
    try:
        import dask
        from dask.distributed import LocalCluster
    except ImportError as err:
        raise RuntimeError(_MISSING_DASK) from err
    import logging

    environ = {f"distributed.nanny.pre-spawn-environ.{k}": v for k, v in WORKER_MALLOC_ENV.items()}
    with dask.config.set(environ):
        return LocalCluster(n_workers=int(n_workers), threads_per_worker=int(threads_per_worker), processes=True,
                            dashboard_address=None, silence_logs=logging.ERROR)


def _on_dask(tasks: list[tuple[str, str]], options: StageOptions, workers: int | None,
             scheduler: str | None) -> Iterator[tuple[int, dict[str, str]]]:
    try:
        from dask.distributed import Client, as_completed
    except ImportError as err:
        raise RuntimeError(_MISSING_DASK) from err

    cluster = None
    if scheduler:
        client = Client(scheduler, timeout="30s")
    else:
        cluster = local_cluster(int(workers or 1))
        client = Client(cluster)
    try:
        warm_workers(client, None if scheduler else int(workers or 1))
        futures = {client.submit(stage_night, rec, hyp, options, key=f"stage-night-{i}-{Path(rec).name}",
                                 pure=False): i for i, (rec, hyp) in enumerate(tasks)}
        for fut in as_completed(futures):
            i = futures[fut]
            try:
                row = fut.result()
            except Exception as err:  # a worker died (out of memory, crash): that night failed
                row = _failed_row(*tasks[i], err)
            yield i, row
    finally:
        client.close()
        if cluster is not None:
            cluster.close()


def _progress(total: int, enabled: bool | None):
    from tqdm import tqdm

    if enabled is None:  # a terminal, and not CI
        enabled = sys.stderr.isatty() and not os.environ.get("CI")
    return tqdm(total=total, unit="night", disable=not enabled, file=sys.stderr, dynamic_ncols=True)


def run_cohort(recordings: Sequence[Path], out_dir: Path | None = None, workers: int | None = None,
               scheduler: str | None = None, force: bool = False, options: StageOptions = StageOptions(),
               hypnograms: Sequence[Path] | None = None, progress: bool | None = None,
               on_failure: Callable[[dict[str, str]], None] | None = None) -> CohortResult:
    """Stage ``recordings``; write their hypnograms and ``out_dir/cohort.csv``.

    Parameters
    ----------
    recordings : sequence of Path
        From :func:`find_recordings`.
    out_dir : Path, optional
        Where the hypnograms and cohort.csv go (default: the recordings' common folder).
    workers : int, optional
        Start a Dask ``LocalCluster`` with this many single-threaded worker processes.
    scheduler : str, optional
        Address of a running Dask scheduler (``tcp://host:8786``); overrides ``workers``.
    force : bool
        Stage nights again even when cohort.csv says they are done.
    options : StageOptions
    hypnograms : sequence of Path, optional
        Hypnogram file per recording (default ``out_dir/<name>.hypnogram.csv``).
    progress : bool, optional
        Show a progress bar (default: when stderr is a terminal and ``CI`` is unset).
    on_failure : callable, optional
        Called with the row of each failed night as it arrives.

    Returns
    -------
    CohortResult
    """
    t0 = time.perf_counter()
    recordings = [Path(p) for p in recordings]
    if workers is not None and int(workers) < 1:
        raise ValueError(f"--workers must be at least 1, got {workers}.")
    if out_dir is None:
        out_dir = Path(os.path.commonpath([str(p.resolve().parent) for p in recordings]))
    out_dir = Path(out_dir)
    out_dir.mkdir(parents=True, exist_ok=True)
    names = night_names(recordings)
    hyps = [Path(h) for h in hypnograms] if hypnograms is not None else [out_dir / f"{n}{HYPNOGRAM_SUFFIX}" for n in names]
    cohort_csv = out_dir / COHORT_FILE
    previous = {} if force else read_cohort_csv(cohort_csv)
    rows: list[dict[str, str] | None] = [None] * len(recordings)
    todo: list[int] = []
    for i, (rec, hyp) in enumerate(zip(recordings, hyps, strict=True)):
        old = previous.get(str(rec))
        if old is not None and old.get("status") == "ok" and Path(old.get("hypnogram", "")) == hyp and hyp.exists():
            rows[i] = old
        else:
            todo.append(i)
    log = _CohortLog(cohort_csv, [r for r in rows if r is not None])
    tasks = [(str(recordings[i]), str(hyps[i])) for i in todo]
    failed = 0
    bar = _progress(len(tasks), progress)
    try:
        runner = _on_dask(tasks, options, workers, scheduler) if (workers or scheduler) else _in_process(tasks, options)
        for k, row in runner:
            rows[todo[k]] = row
            log.add(row)
            if row["status"] != "ok":
                failed += 1
                if on_failure is not None:
                    on_failure(row)
            bar.update(1)
    finally:
        bar.close()
        log.close([r for r in rows if r is not None])
    done = [r for r in rows if r is not None]
    return CohortResult(done, len(tasks), len(recordings) - len(tasks), failed, time.perf_counter() - t0, cohort_csv)


def _num(text: str, unit: str) -> str:
    return f"{float(text):.1f} {unit}" if text else "n/a"


def run_stage(args: argparse.Namespace) -> int:
    """``dreamband stage PATH... [--out-dir DIR] [--workers N] [--scheduler ADDR] [--force] [-o OUT.csv]``."""
    paths = list(getattr(args, "paths", None) or [])
    recordings = find_recordings(paths)
    eeg = getattr(args, "eeg", None) or getattr(args, "channels", None)  # ``channels``: older name
    channels = tuple(c.strip() for c in eeg.split(",") if c.strip()) if eeg else None
    from dreamband.session.sources import recording_board

    options = StageOptions(channels or None, getattr(args, "model", None), recording_board(args))
    output = getattr(args, "output", None)
    out_dir = Path(args.out_dir) if getattr(args, "out_dir", None) else None
    hypnograms = None
    if output:
        if len(recordings) != 1:
            raise ValueError(f"-o/--output names one hypnogram file but {len(recordings)} recordings were given; "
                             "use --out-dir DIR for many.")
        hypnograms = [Path(output)]
        out_dir = out_dir or Path(output).resolve().parent
    elif out_dir is None and len(paths) == 1 and Path(paths[0]).is_dir():
        out_dir = Path(paths[0])

    def report_failure(row: dict[str, str]) -> None:
        from tqdm import tqdm

        tqdm.write(f"dreamband stage: {row['recording']}: failed: {row['error']}", file=sys.stderr)

    res = run_cohort(recordings, out_dir, getattr(args, "workers", None), getattr(args, "scheduler", None),
                     bool(getattr(args, "force", False)), options, hypnograms, on_failure=report_failure)
    if len(res.rows) == 1 and res.rows[0]["status"] == "ok":
        r = res.rows[0]
        print(f"{Path(r['recording']).name}: {r['epochs']} epochs of 30 s from {r['channels']} at {r['sfreq']} Hz "
              f"with {r['model']} {r['model_version']}: staged {float(r['staged_fraction']):.0%}, TST {_num(r['TST'], 'min')}, "
              f"SE {_num(r['SE'], '%')}, in {float(r['seconds']):.2f} s")
        print(f"  wrote {r['hypnogram']}")
    ok = len(res.rows) - res.failed
    rate = res.staged / res.seconds * 3600.0 if res.seconds > 0 and res.staged else 0.0
    cores = int(getattr(args, "workers", None) or 1) if not getattr(args, "scheduler", None) else None
    per_core = f", {rate / cores:.0f} nights/hour/core" if cores and rate else ""
    print(f"{ok} of {len(res.rows)} nights ok ({res.staged} staged now, {res.skipped} already done, "
          f"{res.failed} failed) in {res.seconds:.1f} s{per_core}; wrote {res.cohort_csv}")
    return 1 if res.failed else 0

