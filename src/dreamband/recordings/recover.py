"""Reading a session folder back, and finishing one a crash left open, in constant memory.

:func:`recover` fixes the archive's header (record count from the file size, a torn last
record dropped) and cuts a partial last line off ``events.jsonl`` / ``hypnogram.csv``: it reads
headers and file tails, never the night. :func:`load_session` reads ``session.bdf`` from its
stored integers (memory-mapped), with samples inside ``BAD_ACQ_SKIP`` spans (lost in a dropout,
or the padding of the last record) as NaN, never as zeros.

Folders from before the BDF+ archive (``raw.csv`` + ``session.edf``) are still read, and
recovered the old way (the CSV is read whole).
"""

from __future__ import annotations

import datetime as dt
import os
from dataclasses import dataclass
from pathlib import Path

import numpy as np

from dreamband.recordings.base import Recording
from dreamband.recordings.bdf_writer import fix_bdf_header
from dreamband.recordings.session_folder import (
    BDF,
    EDF,
    EVENTS,
    HYPNOGRAM,
    LOCK,
    RAW_CSV,
    SESSION_JSON,
    annotations_from_events,
    lock_alive,
    read_events,
    read_session_json,
    write_json_atomic,
)


def read_archive_annotations(header: object) -> list[tuple[float, float, str]]:
    """Every annotation of a dreamband ``session.bdf``
    (:func:`~dreamband.recordings.edf_channels.read_edf_annotations`)."""
    from dreamband.recordings.edf_channels import read_edf_annotations

    return read_edf_annotations(header)


def open_archive(folder: Path, meta: dict, channels: list[str] | None = None):
    """``session.bdf`` as an :class:`~dreamband.recordings.edf_recording.EdfRecording`: header,
    annotations, gaps and markers read, samples decoded only when a block is asked for.

    ``channels`` (names) keeps only those signals. Samples in ``BAD_ACQ_SKIP`` spans read back
    as NaN; ``Stream marker`` annotations become the marker channel.
    """
    from dreamband.recordings.edf_channels import read_edf_header
    from dreamband.recordings.edf_recording import EdfRecording

    path = folder / BDF
    try:
        header = read_edf_header(path)
    except ValueError as err:
        raise ValueError(f"{folder}: the session recorded no samples ({err}).") from None
    n_ch = len(meta["channel_names"])
    if len(header.signals) != n_ch:
        raise ValueError(f"{path}: {len(header.signals)} signals, but session.json lists {n_ch} channels.")
    if header.format != "bdf" or len({sg.samples_per_record for sg in header.signals}) != 1:
        raise ValueError(f"{path}: not a dreamband archive (BDF, one rate for every signal).")
    names = list(meta["channel_names"])
    if channels is not None:
        missing = [c for c in channels if c not in names]
        if missing:
            raise ValueError(f"{folder}: no channel {', '.join(missing)} (the session has {', '.join(names)}).")
    rows = [names.index(c) for c in channels] if channels is not None else list(range(n_ch))
    n = min(int(meta.get("n_samples") or header.n_samples), header.n_samples)
    sfreq = float(meta["sfreq"])
    gaps, markers, keep = [], [], []
    for onset, dur, text in read_archive_annotations(header):
        if text == "BAD_ACQ_SKIP":
            gaps.append((int(round(onset * sfreq)), int(round((onset + dur) * sfreq))))
        elif text.startswith("Stream marker "):
            try:
                markers.append((int(round(onset * sfreq)), float(text.split()[-1])))
            except ValueError:
                pass
            continue
        if onset <= n / sfreq:
            keep.append((onset, dur, text))
    return EdfRecording(
        header, rows, [names[r] for r in rows], [list(meta["channel_types"])[r] for r in rows],
        dt.datetime.fromisoformat(meta["start_time"]), keep, n_samples=n, gaps=gaps, markers=markers,
        board_id=meta.get("board_id"), source_path=folder,
        info={"format": "session", "warnings": list(header.warnings), "session": meta},
    )


def _read_archive(folder: Path, meta: dict, channels: list[str] | None = None) -> Recording:
    return open_archive(folder, meta, channels).load()


def load_session_csv(folder: str | Path, meta: dict | None = None) -> Recording:
    """Read an older session folder's ``raw.csv`` (tolerating a partial last line) as a Recording."""
    from dreamband.recordings.brainflow_csv import read_table

    folder = Path(folder)
    meta = meta or read_session_json(folder)
    lay = meta.get("layout")
    raw_path = folder / meta.get("files", {}).get("raw", RAW_CSV)
    if lay is None or not raw_path.exists() or raw_path.stat().st_size == 0:
        raise ValueError(f"{folder}: the session recorded no samples (empty {RAW_CSV}).")
    rows = [int(m["row"]) for m in meta["montage"]]
    table, warnings = read_table(raw_path, sep="\t", expect_cols=lay["n_columns"],
                                 columns=rows + [lay["timestamp_column"], lay["marker_column"]])
    n_ch = len(rows)
    markers = table[n_ch + 1]
    sfreq = float(meta["sfreq"])
    return Recording(
        data=table[:n_ch], sfreq=sfreq, channel_names=meta["channel_names"], channel_types=meta["channel_types"],
        start_time=dt.datetime.fromisoformat(meta["start_time"]),
        annotations=[(i / sfreq, 0.0, f"marker {markers[i]:g}") for i in np.flatnonzero(markers)],
        board_id=meta.get("board_id"), source_path=folder, markers=markers,
        info={"format": "session", "warnings": warnings, "timestamps": table[n_ch], "session": meta},
    )


@dataclass
class RecoveryReport:
    """What :func:`recover` did."""

    folder: Path
    archive: Path | None
    n_samples: int
    duration_s: float
    bytes_dropped: dict
    already_closed: bool
    warnings: list[str]

    @property
    def edf_path(self) -> Path | None:
        """The archive (older name of :attr:`archive`)."""
        return self.archive

    def summary(self) -> str:
        """A few lines for a person."""
        if self.already_closed:
            return f"{self.folder}: already complete ({self.duration_s:.1f} s); nothing to recover. Archive: {self.archive}"
        dropped = ", ".join(f"{k}: {v} bytes" for k, v in self.bytes_dropped.items() if v) or "nothing"
        lines = [f"Recovered {self.folder}: {self.n_samples} samples ({self.duration_s:.1f} s).",
                 f"Dropped torn ends: {dropped}.", f"Archive: {self.archive}"]
        lines += [f"note: {w}" for w in self.warnings]
        return "\n".join(lines)


def _truncate_to_last_newline(path: Path) -> int:
    if not path.exists():
        return 0
    size = path.stat().st_size
    if size == 0:
        return 0
    with open(path, "rb+") as fh:
        back = min(size, 1 << 20)
        fh.seek(size - back)
        tail = fh.read(back)
        if tail.endswith(b"\n"):
            return 0
        cut = tail.rfind(b"\n")
        new_size = size - back + cut + 1 if cut >= 0 else 0
        fh.truncate(new_size)
        fh.flush()
        os.fsync(fh.fileno())
    return size - new_size


def _disk_hint(err: OSError, folder: Path) -> OSError:
    return OSError(err.errno, f"Recovering {folder} failed: {err.strerror or err}. "
                   f"{'The disk is full: free some space, then run `dreamband recover ' + str(folder) + '` again.' if err.errno == 28 else 'Check the disk, then run `dreamband recover ' + str(folder) + '` again.'}")


def recover(folder: str | Path, force: bool = False) -> RecoveryReport:
    """Turn what a crash (``kill -9``, power loss, full disk) left in a session folder into a
    complete recording, in constant memory.

    Fixes ``session.bdf``'s header (record count; a torn last record dropped), drops the
    partial last line of ``events.jsonl`` and ``hypnogram.csv`` and marks ``session.json``
    ``"recovered"``. A closed session is left alone.

    Raises
    ------
    FileNotFoundError
        When ``folder`` is not a session folder.
    RuntimeError
        When the session is still being recorded by a running process (unless ``force``).
    ValueError
        When no samples were recorded.
    OSError
        When the disk refuses the repair (the message says what to do; nothing is lost).
    """
    folder = Path(folder).expanduser()
    meta = read_session_json(folder)
    bdf = folder / BDF
    legacy = not bdf.exists() and (folder / RAW_CSV).exists()
    archive = folder / (EDF if legacy else BDF)
    if meta.get("state") in ("closed", "recovered") and archive.exists():
        return RecoveryReport(folder, archive, int(meta.get("n_samples", 0)), float(meta.get("duration_s", 0.0)),
                              {}, True, [])
    pid = lock_alive(folder)
    if pid is not None and not force:
        raise RuntimeError(f"{folder} is still being recorded by process {pid}; stop that session first.")
    try:
        dropped = {name: _truncate_to_last_newline(folder / name) for name in (EVENTS, HYPNOGRAM)}
        if legacy:
            return _recover_legacy(folder, meta, dropped)
        if not bdf.exists():
            raise ValueError(f"{folder}: the session recorded no samples (no {BDF}).")
        n_records, torn = fix_bdf_header(bdf)
        dropped[BDF] = torn
        if n_records == 0:
            raise ValueError(f"{folder}: the session recorded no samples (no complete data record in {BDF}).")
        record_s = float(meta.get("record_s") or 1.0)
        sfreq = float(meta["sfreq"])
        n = int(round(n_records * record_s * sfreq))
        meta.update(state="recovered", n_samples=n, duration_s=n / sfreq, n_records=n_records,
                    end_time=(dt.datetime.fromisoformat(meta["start_time"]) + dt.timedelta(seconds=n / sfreq)).isoformat(),
                    recovered_at=dt.datetime.now().astimezone().isoformat(), recovery_dropped_bytes=dropped)
        write_json_atomic(folder / SESSION_JSON, meta)
    except OSError as err:
        raise _disk_hint(err, folder) from err
    (folder / LOCK).unlink(missing_ok=True)
    _, warnings = read_events(folder)
    return RecoveryReport(folder, bdf, n, n / sfreq, dropped, False, warnings)


def _recover_legacy(folder: Path, meta: dict, dropped: dict) -> RecoveryReport:
    from dreamband.recordings.edf_export import write_edf

    dropped[RAW_CSV] = _truncate_to_last_newline(folder / RAW_CSV)
    rec = load_session_csv(folder, meta)
    events, warnings = read_events(folder)
    warnings = list(rec.info.get("warnings", [])) + warnings
    write_edf(rec, folder / EDF, annotations_from_events(events))
    meta.update(state="recovered" if meta.get("state") != "closed" else "closed", n_samples=rec.n_samples,
                duration_s=rec.duration_s,
                end_time=(rec.start_time + dt.timedelta(seconds=rec.duration_s)).isoformat(),
                recovered_at=dt.datetime.now().astimezone().isoformat(), recovery_dropped_bytes=dropped)
    write_json_atomic(folder / SESSION_JSON, meta)
    (folder / LOCK).unlink(missing_ok=True)
    return RecoveryReport(folder, folder / EDF, rec.n_samples, rec.duration_s, dropped, False, warnings)


def load_session(folder: str | Path, prefer_edf: bool = True, channels: list[str] | None = None,
                 lazy: bool = False) -> Recording:
    """Load a session folder as a Recording, recovering it first if a crash left it unfinished.

    ``channels`` (names) reads only those signals of the archive (a report needs one; the
    others are never decoded). ``lazy``: a folder with ``session.bdf`` comes back as an
    :class:`~dreamband.recordings.edf_recording.EdfRecording` (samples decoded per block, for
    a replay); older folders are read whole either way.

    A session still being recorded by a running process is read as it is (read-only: the
    complete data records so far). Samples in ``BAD_ACQ_SKIP`` spans come back as NaN.
    ``prefer_edf`` only matters for older folders (``session.edf`` instead of ``raw.csv``).
    """
    from dreamband.recordings.mne_io import load_mne

    folder = Path(folder).expanduser()
    meta = read_session_json(folder)
    live = lock_alive(folder)
    note = None
    if meta.get("state") == "recording" and live is None:
        try:
            recover(folder)
            meta = read_session_json(folder)
        except OSError as err:  # a full disk: read what is there, change nothing
            live, note = -1, f"not recovered ({err.strerror or err}); read as it is"
    if (folder / BDF).exists():
        if live is not None:
            meta = dict(meta, n_samples=None)
        rec = open_archive(folder, meta, channels) if lazy else _read_archive(folder, meta, channels)
        if note:
            rec.info["warnings"].append(note)
        return rec
    edf = folder / EDF
    if prefer_edf and live is None and edf.exists():
        rec = load_mne(edf)
        if len(rec.channel_names) == len(meta["channel_names"]):
            rec.channel_names = list(meta["channel_names"])
            rec.channel_types = list(meta["channel_types"])
        rec.start_time = dt.datetime.fromisoformat(meta["start_time"])
        rec.board_id = meta.get("board_id")
        rec.source_path = folder
        rec.info.update(format="session", session=meta)
        n = int(meta.get("n_samples") or rec.n_samples)
        if rec.n_samples > n:  # the EDF's last data record is padded
            rec.data = rec.data[:, :n]
        rec.annotations = [a for a in rec.annotations if a[2] != "BAD_ACQ_SKIP"]
        return rec
    return load_session_csv(folder, meta)
