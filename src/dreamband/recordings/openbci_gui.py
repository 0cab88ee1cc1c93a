"""OpenBCI GUI recordings (``OpenBCI-RAW-*.txt``), every header generation, and SD-card conversions.

Variants handled (all comma-separated, EEG already in µV, accelerometer in g):

* v1-v3 (2014-2016): ``%OpenBCI Raw EEG Data`` + ``%Sample Rate = 250.0 Hz``; columns
  index, N EEG, 3 accel/aux.
* v4: adds ``%Number of channels = 8``; then clock time ``HH:MM:SS.mmm`` and UNIX ms.
* v5: ``%Board = OpenBCI_GUI$BoardCytonSerial``; index, N EEG, 3 accel, 10 other, UNIX ms,
  clock time; the first data row may be all zeros (dropped).
* v6: ``%OpenBCI Raw EXG Data`` and a column-name row (``Sample Index, EXG Channel 0, ...``).
* SD-card conversions: ``%OBCI Data Log - <date>``, index + 8 channels; no rate in the file
  (Cyton's default 250 Hz is assumed, with a warning, unless ``sfreq`` is given).

A final line cut short (the GUI was killed) is dropped with a warning; a bad line elsewhere
is an error.
"""

from __future__ import annotations

import datetime as dt
import re
from pathlib import Path

import numpy as np

from dreamband.recordings.base import Recording, is_number

_CYTON_NAMES = ["Fp1", "Fp2", "C3", "C4", "P7", "P8", "O1", "O2"]


def _parse_header(lines: list[str]) -> dict:
    head: dict = {"lines": []}
    for ln in lines:
        if not ln.startswith("%"):
            break
        head["lines"].append(ln)
        body = ln[1:].strip()
        m = re.match(r"sample rate\s*=\s*([0-9.]+)\s*hz", body, re.I)
        if m:
            head["sfreq"] = float(m.group(1))
        m = re.match(r"number of channels\s*=\s*(\d+)", body, re.I)
        if m:
            head["n_channels"] = int(m.group(1))
        m = re.match(r"board\s*=\s*(.+)", body, re.I)
        if m:
            head["board"] = m.group(1).strip()
        m = re.search(r"(\d{4}-\d{2}-\d{2}_\d{2}-\d{2}-\d{2})", body)
        if m:
            head["date"] = m.group(1)
        if "OBCI Data Log" in body:
            head["sd"] = True
    return head


def load_openbci_gui(path: str | Path, sfreq: float | None = None) -> Recording:
    """Read an OpenBCI GUI text recording into a :class:`Recording` (µV, accel in g).

    Parameters
    ----------
    path : str or Path
        ``OpenBCI-RAW-*.txt``, ``OpenBCI_GUI-v5/v6-*.txt`` or ``SDconverted-*.txt``.
    sfreq : float, optional
        Rate for files that do not state it (SD-card conversions).

    Raises
    ------
    ValueError
        No ``%`` header, unknown channel layout, a damaged line, or no data.
    """
    path = Path(path)
    text = path.read_text(encoding="utf-8", errors="replace")
    lines = text.splitlines()
    if not lines or not lines[0].startswith("%"):
        raise ValueError(f"{path}: not an OpenBCI GUI file (the first line should start with '%').")
    head = _parse_header(lines)
    warnings: list[str] = []
    body = lines[len(head["lines"]):]
    columns: list[str] | None = None
    if body and not is_number(body[0].split(",")[0].strip()):
        columns = [c.strip() for c in body[0].split(",")]
        body = body[1:]
    body = [ln for ln in body if ln.strip()]
    if not body:
        raise ValueError(f"{path}: the OpenBCI file has a header but no data rows.")
    # v5: a first row of zeros with a different column count
    first_cells = body[0].split(",")
    if len(body) > 1 and all(is_number(c) and float(c) == 0 for c in first_cells):
        body = body[1:]
        warnings.append("dropped the all-zero first row written by GUI v5")
    n_cols = len(body[0].split(","))
    last = body[-1].split(",")
    if len(last) != n_cols or not text.endswith("\n") and not all(is_number(c) or ":" in c for c in last):
        warnings.append(f"the last line was truncated ({len(last)} of {n_cols} columns) and was dropped")
        body = body[:-1]
    # numeric columns (clock-time strings such as 12:00:53.329 are skipped)
    sample_cells = body[len(body) // 2].split(",")
    numeric = [k for k, c in enumerate(sample_cells) if is_number(c.strip())]
    rows = []
    for k, ln in enumerate(body, start=1):
        cells = ln.split(",")
        if len(cells) != n_cols:
            raise ValueError(f"{path}: data row {k} has {len(cells)} columns, expected {n_cols} (file damaged).")
        try:
            rows.append([float(cells[j]) for j in numeric])
        except ValueError:
            raise ValueError(f"{path}: data row {k} has a non-numeric value: {ln[:80]!r}.") from None
    table = np.asarray(rows, dtype=np.float64).T
    n_num = table.shape[0]

    if columns is not None:
        names_all = [columns[j] if j < len(columns) else f"col{j}" for j in numeric]
        eeg_idx = [i for i, c in enumerate(names_all) if c.lower().startswith(("exg channel", "eeg channel"))]
        acc_idx = [i for i, c in enumerate(names_all) if c.lower().startswith("accel channel")]
        ts_idx = [i for i, c in enumerate(names_all) if c.lower() == "timestamp"]
    else:
        n_eeg = head.get("n_channels")
        if n_eeg is None:
            if head.get("sd") and n_num - 1 in (4, 8, 16):
                n_eeg = n_num - 1
            elif n_num - 4 in (4, 8, 16):
                n_eeg = n_num - 4
            elif n_num - 1 in (4, 8, 16):
                n_eeg = n_num - 1
            else:
                raise ValueError(
                    f"{path}: cannot tell how many EEG channels the {n_num} numeric columns hold "
                    "(no '%Number of channels' line)."
                )
        eeg_idx = list(range(1, 1 + n_eeg))
        acc_idx = list(range(1 + n_eeg, 4 + n_eeg)) if n_num >= 4 + n_eeg else []
        ts_idx = [i for i in range(4 + n_eeg, n_num) if np.nanmedian(np.abs(table[i])) > 1e11]
    if not eeg_idx:
        raise ValueError(f"{path}: no EEG columns found.")

    rate = head.get("sfreq", sfreq)
    if rate is None:
        rate = 250.0
        warnings.append("the file does not state its sampling rate; assumed 250 Hz (Cyton default). "
                        "Pass sfreq if the board was set to another rate")
    if sfreq is not None and head.get("sfreq") and abs(sfreq - head["sfreq"]) > 1e-6:
        raise ValueError(f"{path}: the header says {head['sfreq']:g} Hz but sfreq={sfreq:g} was given.")

    start = None
    if ts_idx:
        ts = table[ts_idx[0]]
        ts_s = ts / 1000.0 if np.nanmedian(ts) > 1e11 else ts
        if np.isfinite(ts_s[0]) and ts_s[0] > 1e8:
            start = dt.datetime.fromtimestamp(float(ts_s[0]), dt.timezone.utc)
            span = ts_s[-1] - ts_s[0]
            if span > 10 and not 0.5 < (table.shape[1] / span) / rate < 2.0:
                raise ValueError(
                    f"{path}: {table.shape[1]} rows over {span:.1f} s of timestamps is "
                    f"{table.shape[1] / span:.1f} Hz, but the header says {rate:g} Hz: rates disagree."
                )
    if start is None:
        stamp = head.get("date") or (re.search(r"(\d{4}-\d{2}-\d{2}_\d{2}-\d{2}-\d{2})", path.name) or [None])[0]
        if stamp:
            local = dt.datetime.strptime(stamp, "%Y-%m-%d_%H-%M-%S").astimezone()
            start = local
            warnings.append("start time from the file name, in this computer's time zone (the file has no zone)")
        else:
            start = dt.datetime.fromtimestamp(0, dt.timezone.utc)
            warnings.append("no start time in the file (1970-01-01 UTC)")

    idx_col = table[0]
    if "sd" not in head:
        gaps = np.mod(np.diff(idx_col), 256)
        n_gaps = int(np.sum((gaps != 1) & (gaps != 0) & (gaps != 2)))
        if n_gaps:
            warnings.append(f"{n_gaps} jumps in the sample counter (lost packets)")
    n_eeg = len(eeg_idx)
    names = list(_CYTON_NAMES) if n_eeg == 8 else [f"EXG{k + 1}" for k in range(n_eeg)]
    names = [f"EXG{k + 1}" for k in range(n_eeg)] if columns is None and n_eeg != 8 else names
    zero = [names[k] for k, i in enumerate(eeg_idx) if not np.any(table[i])]
    if zero:
        warnings.append(f"channels all zero (not connected?): {', '.join(zero)}")
    data = np.vstack([table[eeg_idx], table[acc_idx]]) if acc_idx else table[eeg_idx]
    types = ["eeg"] * n_eeg + ["accel"] * len(acc_idx)
    names = names + [f"accel_{a}" for a in "xyz"[: len(acc_idx)]]
    return Recording(
        data=data, sfreq=float(rate), channel_names=names, channel_types=types, start_time=start,
        source_path=path, board_id=None,
        info={"format": "openbci_gui", "warnings": warnings, "header": head["lines"],
              "board": head.get("board"), "units": "uV (EEG), g (accel)"},
    )
