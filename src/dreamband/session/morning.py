"""The morning verbs: ``dreamband report``, ``dreamband trends``, ``dreamband recover``."""

from __future__ import annotations

import argparse
import os
import sys
from pathlib import Path


def _out_dir(preferred: str | None, default: Path) -> Path:
    if preferred:
        return Path(preferred).expanduser()
    if os.access(default, os.W_OK):
        return default
    print(f"dreamband: {default} is not writable; writing into the current folder instead.", file=sys.stderr)
    return Path.cwd()


def run_report(args: argparse.Namespace) -> int:
    """``dreamband report FOLDER_OR_FILE [-o DIR]``: print the night's statistics, write PNG + HTML."""
    from dreamband.recordings.report import build_report, format_report, write_report

    path = Path(args.path).expanduser()
    report = build_report(path)
    print(format_report(report))
    if path.is_dir():
        out, stem = _out_dir(getattr(args, "output", None), path), "report"
    else:
        out, stem = _out_dir(getattr(args, "output", None), path.parent), f"{path.stem}.report"
    png, page = write_report(report, out, stem)
    print(f"\nwrote {png}\nwrote {page}")
    return 0


def run_trends(args: argparse.Namespace) -> int:
    """``dreamband trends FOLDER [-o DIR]``: many nights side by side (table, CSV, PNG)."""
    from dreamband.recordings.trends import collect_nights, format_trends, write_trends

    folder = Path(args.folder).expanduser()
    rows, skipped = collect_nights(folder)
    print(format_trends(rows))
    for s in skipped:
        print(f"skipped {s}")
    csv_path, png = write_trends(rows, _out_dir(getattr(args, "output", None), folder))
    print(f"\nwrote {csv_path}\nwrote {png}")
    return 0


def run_recover(args: argparse.Namespace) -> int:
    """``dreamband recover FOLDER``: make a crashed session folder a complete recording (EDF+)."""
    from dreamband.recordings.recorder import recover

    report = recover(Path(args.folder).expanduser())
    print(report.summary())
    return 0


def run_export(args: argparse.Namespace) -> int:
    """``dreamband export FOLDER --format brainflow-csv [-o OUT]``: the night for other tools."""
    from dreamband.recordings.export import export_brainflow_csv

    folder = Path(args.folder).expanduser()
    out = Path(args.output).expanduser() if getattr(args, "output", None) else folder / "session.csv"
    path, board_id = export_brainflow_csv(folder, out)
    print(f"wrote {path} (BrainFlow CSV, board {board_id} layout)")
    print(f"play it back: dreamband replay {path} --via-board --board playback --master-board {board_id}")
    return 0
