"""Export a session folder's archive to other formats, streaming (constant memory).

``brainflow-csv``: BrainFlow's ``DataFilter.write_file`` layout (tab-separated, one column per
board row, ``%.6f``), so BrainFlow's playback board (``--board playback --master-board ...``)
can play the night back. The board's rows are the session's board (``session.json``
``board_id``; the synthetic board's layout when the session has none); the channels go to their
montage rows, the timestamp row counts from the first sample's board time, the marker row holds
the board's markers; rows the archive does not keep (package numbers, the board's other
channels) are 0. Lost samples are written as ``nan``.
"""

from __future__ import annotations

import os
from pathlib import Path

import numpy as np

from dreamband.recordings.session_folder import BDF, FILE_MODE, read_session_json

#: data records decoded per block (a block of 0.2-s records at 250 Hz: 2 minutes)
BLOCK_RECORDS = 600
FORMATS = ("brainflow-csv",)


def _layout(meta: dict) -> tuple[int, list[int], int, int, int | None]:
    """(n_rows, channel rows, timestamp row, marker row, board_id) of the export."""
    from dreamband.recordings.brainflow_csv import board_description

    n_ch = len(meta["channel_names"])
    lay = meta.get("layout") or {}
    if lay.get("kind") == "brainflow" and meta.get("montage"):
        rows = [int(m["row"]) for m in meta["montage"]]
        return int(lay["n_columns"]), rows, int(lay["timestamp_column"]), int(lay["marker_column"]), meta.get("board_id")
    board_id = meta.get("board_id")
    try:
        desc = board_description(int(board_id)) if board_id is not None else None
    except (TypeError, ValueError):
        desc = None
    if desc is None or len(desc.get("eeg_channels", [])) < n_ch:
        board_id, desc = -1, board_description(-1)  # synthetic board: 16 EEG rows
    eeg = list(desc.get("eeg_channels", []))
    if len(eeg) < n_ch:
        raise ValueError(f"The session has {n_ch} channels, more than the {len(eeg)} EEG rows of board {board_id}.")
    return int(desc["num_rows"]), eeg[:n_ch], int(desc["timestamp_channel"]), int(desc["marker_channel"]), board_id


def export_brainflow_csv(folder: str | Path, out: str | Path) -> tuple[Path, int | None]:
    """Write the session's samples as a BrainFlow CSV, block by block.

    Returns
    -------
    (Path, board_id)
        The file, and the board whose layout it follows (``--master-board`` for playback).

    Raises
    ------
    FileNotFoundError
        When ``folder`` is not a session folder.
    ValueError
        When the folder has no archive or no samples (an older folder: replay it instead).
    """
    from dreamband.recordings.fastcsv import format_table
    from dreamband.recordings.recover import load_session, open_archive

    folder = Path(folder).expanduser()
    meta = read_session_json(folder)
    if meta.get("state") == "recording":
        load_session(folder)  # recovers a folder a crash left open (not one still recording)
        meta = read_session_json(folder)
    if not (folder / BDF).exists():
        raise ValueError(f"{folder} has no {BDF} (recorded before the BDF+ archive?); "
                         "its raw.csv already is a BrainFlow CSV.")
    rec = open_archive(folder, meta)  # samples decoded a block at a time; gaps NaN, markers from the archive
    n_rows, rows, ts_row, mk_row, board_id = _layout(meta)
    sfreq = float(meta["sfreq"])
    step = BLOCK_RECORDS * rec.header.signals[0].samples_per_record
    t0 = float(meta.get("first_timestamp") or dt_timestamp(meta))
    out = Path(out).expanduser()
    tmp = out.with_name(out.name + ".part")
    fd = os.open(tmp, os.O_WRONLY | os.O_CREAT | os.O_TRUNC, FILE_MODE)
    with open(fd, "wb") as fh:
        for first in range(0, rec.n_samples, step):
            stop = min(first + step, rec.n_samples)
            table = np.zeros((n_rows, stop - first))
            table[rows] = rec.block(first, stop)
            table[ts_row] = t0 + np.arange(first, stop) / sfreq
            table[mk_row] = rec.marker_block(first, stop)
            fh.write(format_table(table, decimals=6, sep="\t"))
        fh.flush()
        os.fsync(fh.fileno())
    os.replace(tmp, out)
    return out, board_id


def dt_timestamp(meta: dict) -> float:
    """Unix time of the session's start (when the board's own first timestamp is unknown)."""
    import datetime as dt

    return dt.datetime.fromisoformat(meta["start_time"]).timestamp()
