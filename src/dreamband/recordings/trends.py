"""Many nights side by side: one row of statistics per session folder, a CSV and a plot.

Only the hypnograms (``hypnogram.csv``), ``session.json`` and ``events.jsonl`` are read, so
weeks of nights take a moment, not minutes.
"""

from __future__ import annotations

import csv
import datetime as dt
from dataclasses import dataclass
from pathlib import Path

import numpy as np

from dreamband.recordings.stats import sleep_statistics

TREND_KEYS = ("TIB", "TST", "SE", "SOL", "WASO", "Lat_REM_AASM", "%N3", "%REM", "Awakenings", "Cycles")


@dataclass
class NightRow:
    """One night of the trends table."""

    folder: Path
    start_time: dt.datetime
    stats: dict
    n_triggers: int


def collect_nights(folder: str | Path) -> tuple[list[NightRow], list[str]]:
    """Statistics of every session folder under ``folder`` (sorted by start time).

    Returns
    -------
    rows : list of NightRow
    skipped : list of str
        Folders left out and why (no hypnogram yet, damaged...).

    Raises
    ------
    FileNotFoundError
        When ``folder`` does not exist.
    ValueError
        When it holds no session folder with at least two staged epochs.
    """
    from dreamband.recordings.hypnogram import load_hypnogram
    from dreamband.recordings.recorder import read_events, read_session_json

    folder = Path(folder).expanduser()
    if not folder.is_dir():
        raise FileNotFoundError(f"No such folder: {folder}")
    rows, skipped = [], []
    for sub in sorted(p for p in folder.iterdir() if p.is_dir()):
        if not (sub / "session.json").exists():
            continue
        try:
            meta = read_session_json(sub)
            stages, epoch_s = load_hypnogram(sub / "hypnogram.csv")
            stats = sleep_statistics(stages, epoch_s)
            events, _ = read_events(sub)
        except (ValueError, FileNotFoundError, KeyError) as err:
            skipped.append(f"{sub.name}: {err}")
            continue
        start = dt.datetime.fromisoformat(meta["start_time"])
        rows.append(NightRow(sub, start, stats, sum(e.get("kind") == "trigger" for e in events)))
    if not rows:
        why = f" ({'; '.join(skipped)})" if skipped else ""
        raise ValueError(f"{folder}: no session folders with a hypnogram{why}.")
    rows.sort(key=lambda r: r.start_time)
    return rows, skipped


def format_trends(rows: list[NightRow]) -> str:
    """A plain-text table, one night per line."""
    head = f"{'night':<17s} " + " ".join(f"{k:>8s}" for k in TREND_KEYS) + f" {'triggers':>8s}"
    lines = [head]
    for r in rows:
        cells = []
        for k in TREND_KEYS:
            v = r.stats.get(k, np.nan)
            cells.append(f"{'n/a':>8s}" if not np.isfinite(v) else f"{v:8.1f}")
        lines.append(f"{r.start_time:%Y-%m-%d %H:%M} " + " ".join(cells) + f" {r.n_triggers:8d}")
    lines.append("(minutes, except SE/%N3/%REM in %, and counts)")
    return "\n".join(lines)


def write_trends(rows: list[NightRow], out_dir: str | Path) -> tuple[Path, Path]:
    """Write ``trends.csv`` and ``trends.png`` (TST, SE, latencies, stage shares per night).

    Returns
    -------
    (csv_path, png_path)
    """
    import os

    import matplotlib

    matplotlib.use("Agg", force=False)
    from matplotlib.figure import Figure

    out = Path(out_dir)
    out.mkdir(parents=True, exist_ok=True)
    csv_path = out / "trends.csv"
    with open(csv_path, "w", newline="", encoding="utf-8") as fh:
        w = csv.writer(fh)
        w.writerow(["session", "start_time", *TREND_KEYS, "triggers"])
        for r in rows:
            w.writerow([r.folder.name, r.start_time.isoformat(), *(f"{r.stats.get(k, np.nan):.2f}" for k in TREND_KEYS),
                        r.n_triggers])
    dates = [r.start_time for r in rows]
    x = np.arange(len(rows))

    def col(k):
        return np.array([r.stats.get(k, np.nan) for r in rows])

    fig = Figure(figsize=(11, 7), dpi=100, layout="constrained")
    axes = fig.subplots(2, 2, sharex=True).ravel()
    axes[0].bar(x, col("TST") / 60, color="#3a4a6b")
    axes[0].set_ylabel("total sleep time (h)")
    axes[1].plot(x, col("SE"), "o-", color="#2e86ab")
    axes[1].set_ylabel("sleep efficiency (%)")
    axes[2].plot(x, col("SOL"), "o-", label="sleep-onset latency")
    axes[2].plot(x, col("WASO"), "s-", label="WASO")
    axes[2].plot(x, col("Lat_REM_AASM"), "^-", label="REM latency")
    axes[2].set_ylabel("minutes")
    axes[2].legend(fontsize=8)
    axes[3].plot(x, col("%REM"), "o-", color="#d1495b", label="REM")
    axes[3].plot(x, col("%N3"), "s-", color="#00798c", label="N3")
    axes[3].set_ylabel("% of total sleep")
    axes[3].legend(fontsize=8)
    for ax in axes[2:]:
        ax.set_xticks(x, [d.strftime("%m-%d") for d in dates], rotation=45, fontsize=8)
    for ax in axes:
        ax.grid(alpha=0.3)
    fig.suptitle(f"dreamband: {len(rows)} nights", fontsize=11)
    png = out / "trends.png"
    fig.savefig(png, format="png")
    for p in (csv_path, png):
        os.chmod(p, 0o600)
    return csv_path, png
