"""``dreamband simulate OUT``: write a generated night to a file, with its truth.

* ``OUT.edf``: EDF+ (MNE export via edfio) with the true hypnogram as annotations
  ``"Sleep stage W/N1/N2/N3/R"`` and the artefacts as ``"Artefact: <kind>"``.
* ``OUT.csv``: a BrainFlow CSV (``DataFilter.write_file`` layout) of the board whose rate is
  ``--sfreq``: 256 Hz -> Muse 2 (8 rows, the compact one: ~0.6 GB for 8 h), 250 Hz -> Cyton
  (24 rows: ~1.7 GB for 8 h), 200 Hz -> Ganglion (15 rows). Fp1, Fp2, EOG, EMG go to the
  board's first four EEG rows. Beside it: ``OUT.hypnogram.txt`` (one stage per 30 s, YASA
  labels) and ``OUT.events.json`` (board, channel rows, seed, events). Replay it with
  ``dreamband replay OUT.csv --board muse-2`` (or through BrainFlow with ``--via-board``).
"""

from __future__ import annotations

import argparse
import datetime as dt
import json
import time
from pathlib import Path

import numpy as np

from dreamband.recordings.edf_channels import mne_meas_date
from dreamband.session.sleeper import brainflow_rows, read_hypnogram_file
from dreamband.signal.simulate import SimulatedNight, simulate_night

#: BrainFlow layout written for each sampling rate (board registry names).
CSV_BOARD_BY_SFREQ: dict[float, str] = {256.0: "muse-2", 250.0: "cyton", 200.0: "ganglion"}
_STAGE_LABELS = ("W", "N1", "N2", "N3", "R")
_ARTEFACTS = ("movement", "electrode_pop", "line_noise", "headband_off")


def write_edf(night: SimulatedNight, path: str | Path, start_time: dt.datetime | None = None) -> Path:
    """Write a night as EDF+ with its true hypnogram and artefacts as annotations.

    Parameters
    ----------
    night : SimulatedNight
        Data in µV (accelerometer in g, written as a misc channel in g).
    path : str or Path
        The ``.edf`` file (overwritten).
    start_time : datetime, optional
        Recording start (default 23:00 UTC on 2024-01-01, a fixed evening so files are reproducible).
    """
    import mne

    path = Path(path)
    types = {"eeg": "eeg", "eog": "eog", "emg": "emg", "accel": "misc"}
    ch_types = [types[t] for t in night.channel_types]
    scale = np.array([1e-6 if t != "accel" else 1.0 for t in night.channel_types])[:, None]
    info = mne.create_info(list(night.channel_names), night.sfreq, ch_types)
    raw = mne.io.RawArray(night.data * scale, info, verbose="error")
    start = start_time or dt.datetime(2024, 1, 1, 23, 0, tzinfo=dt.timezone.utc)
    raw.set_meas_date(mne_meas_date(start))  # the EDF header gets the local clock time
    onsets, durations, descs = [], [], []
    for onset, dur, desc in night.stage_annotations():
        onsets.append(onset)
        durations.append(dur)
        descs.append(desc)
    for e in night.events:
        if e.kind in _ARTEFACTS:
            onsets.append(e.onset_s)
            durations.append(e.duration_s)
            descs.append(f"Artefact: {e.kind}")
    raw.set_annotations(mne.Annotations(onsets, durations, descs, orig_time=raw.info["meas_date"]))
    mne.export.export_raw(str(path), raw, fmt="edf", overwrite=True, verbose="error")
    return path


def write_brainflow_csv(night: SimulatedNight, path: str | Path, start_unix: float | None = None) -> Path:
    """Write a night as a BrainFlow CSV in the layout of the board matching its rate, plus truth files.

    Returns
    -------
    Path
        The CSV; ``<stem>.hypnogram.txt`` and ``<stem>.events.json`` are written beside it.
    """
    from brainflow.data_filter import DataFilter

    from dreamband.firmware_bridge.boards import board_info

    path = Path(path)
    board = CSV_BOARD_BY_SFREQ.get(float(night.sfreq))
    if board is None:
        raise ValueError(
            f"No BrainFlow board runs at {night.sfreq:g} Hz for a CSV; use --sfreq 256 (Muse 2 layout, "
            "compact), 250 (Cyton) or 200 (Ganglion), or write .edf."
        )
    start_unix = time.time() if start_unix is None else float(start_unix)
    rows = brainflow_rows(night, start_unix, board)
    DataFilter.write_file(rows, str(path), "w")
    info = board_info(board)
    stem = path.with_suffix("")
    Path(f"{stem}.hypnogram.txt").write_text(
        "# true hypnogram of a dreamband sleeper night, one 30-s epoch per line\n"
        + "\n".join(_STAGE_LABELS[s] if s >= 0 else "Uns" for s in night.hypnogram.tolist()) + "\n",
        encoding="utf-8",
    )
    Path(f"{stem}.events.json").write_text(json.dumps({
        "generator": "dreamband sleeper", "seed": night.seed, "sfreq": night.sfreq,
        "board": board, "board_id": int(info.board_id),
        "channels": [{"name": n, "type": t, "row": int(r)} for n, t, r in
                     zip(night.channel_names, night.channel_types, info.eeg_rows, strict=False)],
        "start_unix": start_unix,
        "events": [list(e) for e in night.events],
    }, indent=1) + "\n", encoding="utf-8")
    return path


def run_simulate(args: argparse.Namespace) -> int:
    """``dreamband simulate OUT --hours 8 --seed 1 [--sfreq 250] [--hypnogram FILE]``."""
    out = Path(args.output).expanduser()
    suffix = out.suffix.lower()
    if suffix not in (".edf", ".csv"):
        raise ValueError(f"{out}: the output must end in .edf (EDF+ with the hypnogram) or .csv (BrainFlow CSV).")
    if not out.parent.exists():
        raise FileNotFoundError(f"The folder {out.parent} does not exist; create it first.")
    if suffix == ".csv" and float(args.sfreq) not in CSV_BOARD_BY_SFREQ:
        raise ValueError(f"--sfreq {args.sfreq:g} has no BrainFlow board layout; use 256, 250 or 200 for .csv.")
    hypnogram = read_hypnogram_file(args.hypnogram) if getattr(args, "hypnogram", None) else None
    t0 = time.perf_counter()
    night = simulate_night(args.hours, args.sfreq, seed=args.seed, hypnogram=hypnogram)
    t_gen = time.perf_counter() - t0
    if suffix == ".edf":
        write_edf(night, out)
    else:
        write_brainflow_csv(night, out)
    counts = np.bincount(night.hypnogram[night.hypnogram >= 0], minlength=5)
    share = ", ".join(f"{n} {c / max(len(night.hypnogram), 1):.0%}" for n, c in zip(_STAGE_LABELS, counts, strict=True))
    print(f"dreamband simulate: {night.duration_s / 3600:.2f} h, {len(night.channel_names)} channels "
          f"({', '.join(night.channel_names)}) at {night.sfreq:g} Hz, seed {night.seed}; generated in {t_gen:.1f} s.")
    print(f"  hypnogram: {share}; {len(night.events)} events.")
    print(f"  wrote {out} ({out.stat().st_size / 1e6:.1f} MB)")
    if suffix == ".csv":
        board = CSV_BOARD_BY_SFREQ[float(night.sfreq)]
        print(f"  layout: BrainFlow {board}; truth beside it in {out.stem}.hypnogram.txt and {out.stem}.events.json; "
              f"replay: dreamband replay {out} --board {board}")
        if board != "muse-2":
            print("  tip: --sfreq 256 writes the compact Muse 2 layout (8 rows instead of "
                  f"{'24' if board == 'cyton' else '15'}).")
    return 0
