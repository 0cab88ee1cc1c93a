"""Single-column text signals: one sample per line in microvolts (DREAMS ``excerptN.txt``,
YASA snippets). The rate is not in the file, so it must be given."""

from __future__ import annotations

import datetime as dt
from pathlib import Path

import numpy as np

from dreamband.recordings.base import Recording


def load_single_column(path: str | Path, sfreq: float | None = None, start_time: dt.datetime | None = None) -> Recording:
    """Read a one-sample-per-line text file (optional ``[name]`` first line) as one EEG channel in µV.

    Parameters
    ----------
    path : str or Path
        The text file.
    sfreq : float
        Sampling rate in Hz (such files do not state it; DREAMS excerpts are 30 min long, so
        ``sfreq = n_samples / 1800``).
    start_time : datetime, optional
        Start time; default 1970-01-01 UTC (unknown).

    Raises
    ------
    ValueError
        When ``sfreq`` is missing or a line is not a number.
    """
    path = Path(path)
    with open(path, encoding="utf-8", errors="replace") as fh:
        first = fh.readline().strip()
    name = first[1:-1] if first.startswith("[") and first.endswith("]") else "EEG"
    skip = 1 if name != "EEG" or first.startswith("[") else 0
    if sfreq is None:
        raise ValueError(
            f"{path}: a single-column text signal does not state its sampling rate; pass sfreq "
            "(e.g. --sfreq, or for a 30-min DREAMS excerpt n_samples/1800)."
        )
    try:
        data = np.loadtxt(path, skiprows=skip, ndmin=1, dtype=np.float64)
    except ValueError as err:
        raise ValueError(f"{path}: not one number per line ({err}).") from None
    if data.ndim != 1 or data.size == 0:
        raise ValueError(f"{path}: expected one number per line, got shape {data.shape}.")
    return Recording(
        data=data[None, :], sfreq=float(sfreq), channel_names=[name], channel_types=["eeg"],
        start_time=start_time or dt.datetime.fromtimestamp(0, dt.timezone.utc), source_path=path,
        info={"format": "single_column", "warnings": [] if start_time else ["no start time in file"]},
    )
