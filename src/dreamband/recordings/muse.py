"""Muse recordings: Mind Monitor CSV exports and muse-lsl ``record`` CSV files.

* muse-lsl: header ``timestamps,TP9,AF7,AF8,TP10,Right AUX`` (UNIX seconds, µV, 256 Hz).
* Mind Monitor: ``TimeStamp, Delta_TP9, ..., RAW_TP9, RAW_AF7, RAW_AF8, RAW_TP10, AUX_RIGHT,
  Accelerometer_X/Y/Z, ..., Elements``. ``RAW_*`` are µV with an ~800 µV offset. Only the
  app's "Constant" recording interval stores the 256-Hz stream; with the default 1-s interval
  ``RAW_*`` holds one sample per second, which is not EEG at a usable rate: that is an error
  (``min_sfreq=0`` loads it anyway, for inspection). Rows with an ``Elements`` entry and no
  data (blinks, jaw clenches, markers) become annotations. A ``TimeStamp`` mangled by a
  spreadsheet into ``MM:SS.s`` is read as minutes:seconds within an unknown hour.
"""

from __future__ import annotations

import csv
import datetime as dt
from pathlib import Path

import numpy as np

from dreamband.recordings.base import Recording

MUSE_SFREQ = 256.0
_EEG = ("TP9", "AF7", "AF8", "TP10")


def load_muse(path: str | Path, min_sfreq: float = 100.0) -> Recording:
    """Read a Mind Monitor or muse-lsl CSV into a :class:`Recording` (µV; accel in g).

    Parameters
    ----------
    path : str or Path
        The CSV file.
    min_sfreq : float
        Refuse files whose EEG rate is below this (Mind Monitor's 1-s interval).

    Raises
    ------
    ValueError
        Unknown header, no EEG columns, too low or irregular a rate, or damaged rows.
    """
    path = Path(path)
    with open(path, encoding="utf-8-sig", errors="replace", newline="") as fh:
        rows = list(csv.reader(fh))
    if not rows:
        raise ValueError(f"{path}: the file is empty.")
    header = [h.strip() for h in rows[0]]
    low = [h.lower() for h in header]
    if "raw_tp9" in low:
        return _mind_monitor(path, header, rows[1:], min_sfreq)
    if low and low[0] == "timestamps" and "tp9" in low:
        return _muse_lsl(path, header, rows[1:], min_sfreq)
    raise ValueError(
        f"{path}: not a Muse CSV dreamband knows (expected a Mind Monitor header with RAW_TP9 or a "
        f"muse-lsl header 'timestamps,TP9,AF7,AF8,TP10,...'; got {header[:6]})."
    )


def _rate_from(ts: np.ndarray, path: Path) -> float:
    d = np.diff(ts)
    d = d[np.isfinite(d) & (d > 0)]
    if d.size == 0:
        raise ValueError(f"{path}: timestamps do not increase; cannot tell the sampling rate.")
    return 1.0 / float(np.median(d))


def _muse_lsl(path: Path, header: list[str], rows: list[list[str]], min_sfreq: float) -> Recording:
    warnings: list[str] = []
    n_cols = len(header)
    if rows and len(rows[-1]) != n_cols:
        warnings.append(f"the last line was truncated ({len(rows[-1])} of {n_cols} columns) and was dropped")
        rows = rows[:-1]
    if not rows:
        raise ValueError(f"{path}: the muse-lsl CSV has a header but no samples.")
    try:
        table = np.array([[float(c) if c.strip() else np.nan for c in r] for r in rows], dtype=np.float64).T
    except ValueError:
        raise ValueError(f"{path}: a row holds a non-numeric value; the file is damaged.") from None
    except Exception:
        bad = next(k for k, r in enumerate(rows, start=2) if len(r) != n_cols)
        raise ValueError(f"{path}: line {bad} has a different number of columns than the header.") from None
    ts = table[0]
    measured = _rate_from(ts, path)
    if measured < min_sfreq:
        raise ValueError(f"{path}: samples arrive at ~{measured:.2f} Hz, below {min_sfreq:g} Hz: no usable raw EEG.")
    sfreq = MUSE_SFREQ if abs(measured / MUSE_SFREQ - 1) < 0.1 else measured
    if sfreq != MUSE_SFREQ:
        warnings.append(f"timestamps give {measured:.1f} Hz, not Muse's 256 Hz; using the measured rate")
    span = ts[-1] - ts[0]
    if span > 5 and not 0.8 < (len(ts) - 1) / span / sfreq < 1.25:
        warnings.append(f"{len(ts)} samples over {span:.1f} s: samples were lost or timestamps jumped")
    idx = [header.index(c) for c in header if c.upper() in _EEG]
    names = [header[i] for i in idx]
    aux = [i for i, c in enumerate(header) if "aux" in c.lower()]
    for i in aux:
        if np.nanmax(np.abs(table[i])) > 0:
            idx.append(i)
            names.append(header[i])
        else:
            warnings.append(f"dropped '{header[i]}': all zeros (no auxiliary electrode)")
    start = dt.datetime.fromtimestamp(float(ts[0]), dt.timezone.utc) if ts[0] > 1e8 else dt.datetime.fromtimestamp(0, dt.timezone.utc)
    return Recording(
        data=table[idx], sfreq=sfreq, channel_names=names, channel_types=["eeg"] * len(idx), start_time=start,
        source_path=path, info={"format": "muse_lsl", "warnings": warnings, "timestamp_rate": measured,
                                "timestamps": ts - ts[0]},
    )


def _parse_mm_time(values: list[str], path: Path) -> tuple[np.ndarray, dt.datetime | None, list[str]]:
    """Return seconds from the first row, the start datetime if known, and warnings."""
    warnings: list[str] = []
    first = values[0].strip()
    try:
        times = [dt.datetime.fromisoformat(v.strip()) for v in values]
        start = times[0].astimezone() if times[0].tzinfo is None else times[0]
        if times[0].tzinfo is None:
            warnings.append("Mind Monitor time stamps have no zone; this computer's zone was assumed")
        return np.array([(t - times[0]).total_seconds() for t in times]), start, warnings
    except ValueError:
        pass
    parts = first.split(":")
    if len(parts) == 2:
        secs = []
        for v in values:
            m, s = v.strip().split(":")
            secs.append(int(m) * 60 + float(s))
        arr = np.array(secs)
        # wrap at the hour
        arr = arr + 3600 * np.concatenate([[0], np.cumsum(np.diff(arr) < -1800)])
        warnings.append("TimeStamp is 'MM:SS.s' (mangled by a spreadsheet): no date or hour; start time unknown")
        return arr - arr[0], None, warnings
    raise ValueError(f"{path}: TimeStamp {first!r} is neither 'YYYY-MM-DD hh:mm:ss.sss' nor 'MM:SS.s'.")


def _mind_monitor(path: Path, header: list[str], rows: list[list[str]], min_sfreq: float) -> Recording:
    col = {h.lower(): i for i, h in enumerate(header)}
    el = col.get("elements")
    raw_idx = [col[f"raw_{c.lower()}"] for c in _EEG if f"raw_{c.lower()}" in col]
    if not raw_idx:
        raise ValueError(f"{path}: Mind Monitor file without RAW_* EEG columns.")
    sample_rows, events, order = [], [], []
    for k, r in enumerate(rows, start=2):
        if not r or not any(c.strip() for c in r):
            continue
        raw_cells = [r[i] if i < len(r) else "" for i in raw_idx]
        if all(not c.strip() for c in raw_cells):
            if el is not None and el < len(r) and r[el].strip():
                order.append((r[0], False))
                events.append(r[el].strip())
            continue
        try:
            sample_rows.append([float(c) for c in raw_cells])
        except ValueError:
            raise ValueError(f"{path}: line {k}: RAW_* values {raw_cells} are not numbers.") from None
        order.append((r[0], True))
    if not sample_rows:
        raise ValueError(f"{path}: no rows with RAW_* EEG values.")
    t, start, warnings = _parse_mm_time([o[0] for o in order], path)
    is_sample = np.array([o[1] for o in order])
    t0 = t[is_sample][0]
    t_s, t_ev = t[is_sample] - t0, t[~is_sample] - t0
    if start is not None:
        start = start + dt.timedelta(seconds=float(t0))
    rate = _rate_from(t_s, path)
    if rate < min_sfreq:
        raise ValueError(
            f"{path}: the RAW_* EEG columns hold one sample every {1 / rate:.2f} s (~{rate:.2f} Hz): this file "
            "was recorded with Mind Monitor's 1-second 'Recording Interval', so it has no raw EEG at a usable "
            "rate (band powers only). Set Recording Interval to 'Constant' (256 Hz) in Mind Monitor and record "
            "again, or load with min_sfreq=0 to inspect it."
        )
    sfreq = MUSE_SFREQ if abs(rate / MUSE_SFREQ - 1) < 0.1 else rate
    if sfreq != MUSE_SFREQ:
        warnings.append(f"rows arrive at ~{rate:.2f} Hz (irregular); data are NOT evenly sampled at this rate")
    data = np.array(sample_rows, dtype=np.float64).T
    names = [header[i].split("_", 1)[1] for i in raw_idx]
    types = ["eeg"] * len(raw_idx)
    acc = [col.get(f"accelerometer_{a}") for a in "xyz"]
    if all(a is not None for a in acc):
        acc_rows = []
        for r in rows:
            raw_cells = [r[i] if i < len(r) else "" for i in raw_idx]
            if all(not c.strip() for c in raw_cells):
                continue
            acc_rows.append([float(r[a]) if a < len(r) and r[a].strip() else np.nan for a in acc])
        data = np.vstack([data, np.array(acc_rows).T])
        names += ["accel_x", "accel_y", "accel_z"]
        types += ["accel"] * 3
    warnings.append("RAW_* are µV with Muse's ~800 µV offset (not removed)")
    ann = [(float(o), 0.0, e) for o, e in zip(t_ev, events, strict=True)]
    return Recording(
        data=data, sfreq=sfreq, channel_names=names, channel_types=types,
        start_time=start or dt.datetime.fromtimestamp(0, dt.timezone.utc), annotations=ann, source_path=path,
        info={"format": "mind_monitor", "warnings": warnings, "row_rate": rate, "timestamps": t_s},
    )
