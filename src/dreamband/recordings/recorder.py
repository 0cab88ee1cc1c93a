"""The session recorder: a night written as it goes, into a BDF+ archive that is always usable.

Samples go into ``session.bdf`` (see :mod:`~dreamband.recordings.bdf_writer`): 24-bit data
records of 0.2-1 s, each written to the OS as soon as it is full and ``fsync``'d at least twice
a second, with a fixed physical range per channel (the board's ADC range, never the night's
data). Events go to ``events.jsonl`` (one line each, flushed), staged epochs to
``hypnogram.csv``, and stages, triggers, markers, quality changes, dropouts and warnings into
the BDF's own annotations as well, so EDFbrowser or MNE show the night without our tools.

Closing writes the last record and the record count into the header: it takes milliseconds,
whatever the night's length. After ``kill -9`` at most the unfinished record (≤ 1 s) is lost;
:func:`~dreamband.recordings.recover.recover` fixes the header in constant memory.

Files and names of a session folder: :mod:`~dreamband.recordings.session_folder`; reading one
back and crash recovery: :mod:`~dreamband.recordings.recover` (re-exported here).
"""

from __future__ import annotations

import datetime as dt
import json
import os
import shutil
import time
from pathlib import Path
from typing import Any

import numpy as np

from dreamband.firmware_bridge.chunk import StreamChunk
from dreamband.recordings.bdf_writer import (
    ANNOTATION_SAMPLES,
    TYPE_RANGES,
    BdfWriter,
    record_duration,
)
from dreamband.recordings.edf_export import _edf_label
from dreamband.recordings.hypnogram import CSV_COLUMNS, hypnogram_row
from dreamband.recordings.recover import (  # noqa: F401  (the reading side, re-exported)
    RecoveryReport,
    load_session,
    load_session_csv,
    recover,
)
from dreamband.recordings.session_folder import (  # noqa: F401  (names other modules import from here)
    BDF,
    EDF,
    EVENTS,
    FILE_MODE,
    FOLDER_MODE,
    HYPNOGRAM,
    LOCK,
    RAW_CSV,
    SESSION_JSON,
    LineLog,
    annotations_from_events,
    default_sessions_dir,
    event_annotation,
    jsonable,
    read_events,
    read_session_json,
    software_versions,
    write_json_atomic,
)


def _montage_from_info(info: dict) -> list[dict] | None:
    m = info.get("montage")
    if m is None:
        return None
    if isinstance(m, list):
        return [dict(x) for x in m] if all(isinstance(x, dict) and "row" in x for x in m) else None
    if isinstance(m, dict) and "rows" in m:
        return [{"name": n, "type": t, "row": int(r)} for n, t, r in zip(m["names"], m["types"], m["rows"], strict=True)]
    if hasattr(m, "rows") and hasattr(m, "names"):
        return [{"name": n, "type": t, "row": int(r)} for n, t, r in zip(m.names, m.types, m.rows, strict=True)]
    return None


def _match_row(raw: np.ndarray, values: np.ndarray, prefer: int | None = None) -> int | None:
    if prefer is not None and 0 <= prefer < raw.shape[0] and np.array_equal(raw[prefer], values, equal_nan=True):
        return prefer
    hits = [r for r in range(raw.shape[0]) if np.array_equal(raw[r], values, equal_nan=True)]
    return hits[-1] if hits else None


def physical_ranges(channel_types: list[str], info: dict | None = None) -> list[tuple[float, float]]:
    """Fixed physical ``(min, max)`` per channel: ``info["physical_ranges"]`` when given, else
    the type's full scale (:data:`~dreamband.recordings.bdf_writer.TYPE_RANGES`: the ADS1299's
    ±187,500 µV for EEG/EOG/EMG, ±16 g for an accelerometer).

    Raises
    ------
    ValueError
        When ``info["physical_ranges"]`` does not give one range per channel.
    """
    given = (info or {}).get("physical_ranges")
    if given is not None:
        if len(given) != len(channel_types):
            raise ValueError(f"info physical_ranges has {len(given)} ranges for {len(channel_types)} channels.")
        return [(float(a), float(b)) for a, b in given]
    return [(-TYPE_RANGES.get(t, TYPE_RANGES["misc"])[1], TYPE_RANGES.get(t, TYPE_RANGES["misc"])[1])
            for t in channel_types]


def bytes_per_second(sfreq: float, n_channels: int) -> float:
    """Disk bytes per second of recording: BDF samples and annotations, plus the event log's share."""
    rec_s = record_duration(sfreq)
    return 3.0 * sfreq * n_channels + 3.0 * ANNOTATION_SAMPLES / rec_s + 120.0


def _night_hours(info: dict, default: float) -> float:
    try:
        return float(info["settings"]["triggers"]["safety"]["max_hours"])
    except (KeyError, TypeError, ValueError):
        return default


class SessionRecorder:
    """Write a live (or replayed) session into a session folder, as it goes.

    Parameters
    ----------
    folder_parent : str, Path or None
        Where the session folder is created (``--session-dir``); None = :func:`default_sessions_dir`.
    info : dict
        Must hold ``sfreq``, ``channel_names``, ``channel_types``. Optional: ``start_time``
        (aware datetime or ISO string; default: now, local zone), ``board``, ``board_id``,
        ``montage`` (list of ``{name, type, row}``, a ``{rows, names, types}`` dict, or a
        ``Montage``), ``physical_ranges`` (one ``(min, max)`` per channel), ``settings``,
        ``model`` and anything else (kept in ``session.json``).
    name : str, optional
        Folder name (default: the start time, ``YYYY-MM-DD_HH-MM-SS``).
    fsync_interval_s : float
        Most seconds between two ``fsync`` of the archive and the event log.
    expected_hours : float
        Night length for the free-space check at start when ``info`` has no safety
        ``max_hours`` (the session's longest night).

    Raises
    ------
    PermissionError, OSError
        When the folder cannot be created or written (read-only, full disk): found at start by
        writing a probe file, not at 3 a.m.
    ValueError
        When ``info`` lacks the rate or channels.
    """

    def __init__(self, folder_parent: str | Path | None, info: dict, name: str | None = None,
                 fsync_interval_s: float = 0.5, expected_hours: float = 12.0) -> None:
        for key in ("sfreq", "channel_names", "channel_types"):
            if key not in info:
                raise ValueError(f"SessionRecorder info needs {key!r} (got keys {sorted(info)}).")
        self.sfreq = float(info["sfreq"])
        self.channel_names = [str(n) for n in info["channel_names"]]
        self.channel_types = [str(t) for t in info["channel_types"]]
        if len(self.channel_names) != len(self.channel_types):
            raise ValueError("info channel_names and channel_types differ in length.")
        start = info.get("start_time") or dt.datetime.now().astimezone()
        if isinstance(start, str):
            start = dt.datetime.fromisoformat(start)
        if start.tzinfo is None:
            raise ValueError("info start_time must be timezone-aware.")
        self.start_time: dt.datetime = start
        self.fsync_interval_s = float(fsync_interval_s)
        self.info = dict(info)
        #: session seconds of this folder's first sample (> 0 when it continues another folder)
        self.time_offset_s = float(info.get("continues_at_s") or 0.0)
        ranges = physical_ranges(self.channel_types, info)
        record_duration(self.sfreq)  # a rate no record length fits fails here, before any folder
        parent = Path(folder_parent).expanduser() if folder_parent is not None else default_sessions_dir()
        self.folder = self._make_folder(parent, name or start.strftime("%Y-%m-%d_%H-%M-%S"))
        self.warnings: list[str] = []
        self.night_hours = _night_hours(info, expected_hours)
        self._probe(self.night_hours)
        self.n_events = 0
        self._closed = False
        self._last_fsync = time.monotonic()
        self._layout: dict | None = None
        self._montage = _montage_from_info(info)
        used: set[str] = set()
        labels = [_edf_label(n, used) for n in self.channel_names]
        units = ["g" if t == "accel" else "uV" for t in self.channel_types]
        extra = {k: v for k, v in info.items()
                 if k not in ("sfreq", "channel_names", "channel_types", "start_time", "montage", "physical_ranges",
                              "continues", "continues_at_s")}
        self._meta: dict[str, Any] = {
            "format": "dreamband-session", "format_version": 2, "state": "recording",
            "start_time": self.start_time.isoformat(), "time_zone": str(self.start_time.tzname()),
            "sfreq": self.sfreq, "channel_names": self.channel_names, "channel_types": self.channel_types,
            "units": units, "physical_ranges": ranges, "bdf_labels": labels,
            "board": info.get("board"), "board_id": info.get("board_id"),
            "montage": self._montage, "layout": None,
            "files": {"archive": BDF, "events": EVENTS, "hypnogram": HYPNOGRAM},
            "software": software_versions(), "pid": os.getpid(),
            "model": info.get("model"), "settings": info.get("settings"),
            "info": extra, "continues": info.get("continues"), "continues_at_s": self.time_offset_s or None,
        }
        self._write_meta()
        (self.folder / LOCK).write_text(str(os.getpid()))
        os.chmod(self.folder / LOCK, FILE_MODE)
        self.bdf = BdfWriter(self.folder / BDF, self.sfreq, labels, units, ranges, self.start_time,
                             fsync_interval_s=self.fsync_interval_s, mode=FILE_MODE)
        self._meta["record_s"] = self.bdf.record_s
        self._events = LineLog(self.folder / EVENTS, FILE_MODE)
        self._hypno = LineLog(self.folder / HYPNOGRAM, FILE_MODE, header=",".join(CSV_COLUMNS))

    # ------------------------------------------------------------------ setup
    @staticmethod
    def _make_folder(parent: Path, name: str) -> Path:
        try:
            parent.mkdir(parents=True, exist_ok=True, mode=FOLDER_MODE)
        except OSError as err:
            raise PermissionError(
                f"Cannot create the sessions folder {parent}: {err.strerror or err}. "
                "Choose a writable place with --session-dir DIR."
            ) from err
        folder = parent / name
        k = 1
        while True:
            try:
                folder.mkdir(mode=FOLDER_MODE)
                break
            except FileExistsError:
                k += 1
                folder = parent / f"{name}_{k}"
            except OSError as err:
                raise PermissionError(
                    f"Cannot create the session folder {folder}: {err.strerror or err}. "
                    "The folder is read-only or the disk is full; choose another --session-dir DIR."
                ) from err
        os.chmod(folder, FOLDER_MODE)
        return folder

    def _probe(self, night_hours: float) -> None:
        """Write a probe file; refuse below 10 minutes of space, warn below a whole night."""
        probe = self.folder / ".probe"
        try:
            fd = os.open(probe, os.O_WRONLY | os.O_CREAT | os.O_TRUNC, FILE_MODE)
            with open(fd, "wb") as fh:
                fh.write(b"\0" * 65536)
                fh.flush()
                os.fsync(fh.fileno())
            probe.unlink()
        except OSError as err:
            raise OSError(
                err.errno, f"Cannot write in the session folder {self.folder}: {err.strerror or err}. "
                "The disk is full or the folder is read-only; nothing would be recorded. "
                "Free some space or choose another --session-dir DIR."
            ) from err
        free = shutil.disk_usage(self.folder).free
        per_s = bytes_per_second(self.sfreq, len(self.channel_names))
        self.bytes_needed = per_s * 3600 * night_hours
        if free < per_s * 600:
            raise OSError(
                28, f"Only {free / 1e6:.1f} MB free under {self.folder}: not even 10 minutes of recording "
                f"(~{per_s / 1e3:.1f} kB/s). Free some space or choose another --session-dir DIR."
            )
        if free < self.bytes_needed:
            self.warnings.append(
                f"only {free / 1e6:.0f} MB free under {self.folder.parent}: about {free / per_s / 3600:.1f} h of "
                f"recording at {per_s / 1e3:.1f} kB/s, less than the {night_hours:g}-h night it may last "
                f"({self.bytes_needed / 1e6:.0f} MB); free some space or choose another --session-dir DIR"
            )

    def _write_meta(self) -> None:
        write_json_atomic(self.folder / SESSION_JSON, self._meta)

    def _choose_layout(self, chunk: StreamChunk) -> None:
        """Which BrainFlow rows the channels came from (for ``export --format brainflow-csv``)."""
        n_ch = len(self.channel_names)
        raw = chunk.raw
        layout = None
        if raw is not None and raw.ndim == 2 and raw.shape[1] == chunk.n_samples and chunk.n_samples > 0:
            desc = None
            board_id = self._meta.get("board_id")
            if board_id is not None:
                try:
                    from dreamband.recordings.brainflow_csv import board_description

                    desc = board_description(int(board_id))
                    if desc["num_rows"] != raw.shape[0]:
                        desc = None
                except ValueError:
                    desc = None
            rows = [m["row"] for m in self._montage] if self._montage else [None] * n_ch
            rows = [_match_row(raw, chunk.data[i], rows[i]) for i in range(n_ch)]
            ts_row = _match_row(raw, chunk.timestamps, desc["timestamp_channel"] if desc else None)
            mk_row = _match_row(raw, chunk.markers, desc["marker_channel"] if desc else None)
            if all(r is not None for r in rows) and ts_row is not None and mk_row is not None:
                layout = {"kind": "brainflow", "n_columns": int(raw.shape[0]), "timestamp_column": ts_row,
                          "marker_column": mk_row}
                self._montage = [{"name": n, "type": t, "row": int(r)}
                                 for n, t, r in zip(self.channel_names, self.channel_types, rows, strict=True)]
        if layout is None:
            layout = {"kind": "dreamband"}
            self._montage = [{"name": n, "type": t, "row": k + 1}
                             for k, (n, t) in enumerate(zip(self.channel_names, self.channel_types, strict=True))]
        self._layout = layout
        ts = chunk.timestamps[np.isfinite(chunk.timestamps)]
        self._meta.update(layout=layout, montage=self._montage)
        self._meta["first_timestamp"] = float(ts[0]) if ts.size else None
        self._write_meta()

    # ------------------------------------------------------------------ writing
    @property
    def n_samples(self) -> int:
        """Samples per channel received (on disk or in the record being filled)."""
        return self.bdf.n_samples

    @property
    def samples_on_disk(self) -> int:
        """Samples per channel in complete data records handed to the OS."""
        return self.bdf.n_records * self.bdf.spr

    def write_chunk(self, chunk: StreamChunk) -> None:
        """Append a chunk's samples (whole data records go to the disk at once).

        Raises
        ------
        OSError
            When the disk refuses the write (full disk, I/O error); the samples stay queued and
            go out with the next successful write (``retry()``), nothing is counted twice.
        ValueError
            When the chunk's channel count differs from the session's.
        """
        if self._closed:
            raise ValueError("This SessionRecorder is closed.")
        if chunk.n_samples == 0:
            self._maybe_fsync()
            return
        if chunk.data.shape[0] != len(self.channel_names):
            raise ValueError(f"Chunk has {chunk.data.shape[0]} channels, the session has {len(self.channel_names)}.")
        if self._layout is None:
            self._choose_layout(chunk)
        first = self.bdf.n_samples
        for i in np.flatnonzero(np.nan_to_num(chunk.markers)):
            self.bdf.annotate((first + int(i)) / self.sfreq, 0.0, f"Stream marker {chunk.markers[i]:g}")
        try:
            self.bdf.write(chunk.data)  # the samples are kept (for a retry) even when this raises
        except OSError as err:
            raise OSError(err.errno, f"Writing {self.folder / BDF} failed: {err.strerror or err}") from err
        self._events.flush()  # lines a failed write left queued
        self._hypno.flush()
        self._maybe_fsync()

    def retry(self) -> None:
        """Write what a failed write left queued (raises ``OSError`` again while the disk refuses)."""
        self.bdf.write(np.zeros((len(self.channel_names), 0)))
        self._events.flush()
        self._hypno.flush()

    def backlog(self) -> bool:
        """True while something received is not written yet (beyond the record being filled)."""
        return (self.bdf.buffered_samples >= self.bdf.spr or bool(self._events.pending)
                or bool(self._hypno.pending))

    def drop_unwritten(self, first_kept: int) -> int:
        """Forget the samples not on disk before sample ``first_kept`` (of this folder): they are
        lost, and become a ``BAD_ACQ_SKIP`` gap once writes succeed. Returns the samples dropped."""
        return self.bdf.drop_buffered(self.n_samples - int(first_kept))

    def continue_in(self, parent: str | Path) -> SessionRecorder:
        """Go on in a new session folder under ``parent`` after write errors here; return it.

        The new folder (``<name>_continued``) gets what is not on disk here (samples, queued
        annotations, event and hypnogram lines) and starts at the first sample not written
        here; this folder's ``session.json`` says where the night went (when it can still be
        written) and its archive is left for ``recover``.

        Raises
        ------
        OSError
            When ``parent`` takes no probe write either (nothing changes then).
        """
        at = self.samples_on_disk
        info = dict(self.info, start_time=self.start_time + dt.timedelta(seconds=at / self.sfreq),
                    continues=str(self.folder), continues_at_s=self.time_offset_s + at / self.sfreq)
        new = SessionRecorder(parent, info, name=f"{self.folder.name}_continued", fsync_interval_s=self.fsync_interval_s,
                              expected_hours=self.night_hours)
        new._layout, new._montage = self._layout, self._montage
        new._meta.update(layout=self._meta.get("layout"), montage=self._montage,
                         first_timestamp=self._meta.get("first_timestamp"))
        skip, rest, pending = self.bdf.take_buffered()
        shift = at / self.sfreq
        from dreamband.recordings.edf_channels import parse_tals

        for onset, dur, text in parse_tals(b"".join(pending)):
            if onset >= shift:  # earlier ones stay in events.jsonl (the new folder's)
                new.bdf.annotate(onset - shift, dur, text)
        new.bdf.put_buffered(skip, rest)
        new._events.pending, self._events.pending = self._events.pending, []
        new._hypno.pending += self._hypno.pending
        self._hypno.pending = []
        new._write_meta()
        self._closed = True
        self.bdf.abort()
        for log in (self._events, self._hypno):
            try:
                log.close()
            except OSError:
                pass
        self._meta.update(state="continued", continued_in=str(new.folder), n_samples=at, duration_s=at / self.sfreq)
        try:
            self._write_meta()
        except OSError:
            pass  # recover finds the archive; the new folder's session.json names this one
        (self.folder / LOCK).unlink(missing_ok=True)  # nobody records here any more (unlink works on a full disk)
        return new

    def _maybe_fsync(self, force: bool = False) -> None:
        now = time.monotonic()
        if force or now - self._last_fsync >= self.fsync_interval_s:
            if not self._events.closed:
                self._events.fsync()
            self._last_fsync = now

    def write_event(self, event: dict | Any) -> None:
        """Log one event (a ``to_dict()`` dict, or an Event) in ``events.jsonl`` and the archive.

        ``samples`` events are skipped; ``epoch`` events also go to ``hypnogram.csv``.

        Raises
        ------
        OSError
            When the disk refuses the line; it stays queued and goes out with the next write.
        """
        if self._closed:
            raise ValueError("This SessionRecorder is closed.")
        d = event.to_dict() if hasattr(event, "to_dict") else dict(event)
        if d.get("kind") == "samples":
            return
        d.pop("chunk", None)
        ann = event_annotation(d)
        if ann is not None and (not self.time_offset_s or ann[0] >= self.time_offset_s):
            self.bdf.annotate(ann[0] - self.time_offset_s, ann[1], ann[2])
        self.n_events += 1
        rows = []
        if d.get("kind") == "epoch":
            reasons = d.get("quality_reasons") or []
            quality = "ok" if d.get("quality_ok", True) else "; ".join(map(str, reasons)) or "bad"
            probs = [float("nan") if p is None else float(p) for p in (d.get("probabilities") or [])]
            rows.append(hypnogram_row(int(d.get("epoch_index", 0)), float(d.get("onset", 0.0)),
                                      int(d.get("stage", -1)), probs, quality))
        self._hypno.pending += [r.encode() for r in rows]
        self._events.append(json.dumps(jsonable(d), allow_nan=False, separators=(",", ":")))
        self._hypno.flush()
        self._maybe_fsync()

    @property
    def closed(self) -> bool:
        """True once :meth:`close` finished."""
        return self._closed

    def close(self) -> Path | None:
        """Write the last data record and the header's record count, mark the session closed.

        Returns
        -------
        Path or None
            The archive (``session.bdf``), None when no samples were recorded.

        Raises
        ------
        OSError
            When the disk refuses the last writes: ``session.json`` then stays ``"recording"``
            and ``dreamband recover FOLDER`` finishes the archive later.
        """
        if self._closed:
            return self.folder / BDF if self._meta.get("n_samples") else None
        n = self.bdf.close()
        self._events.close()
        self._hypno.close()
        self._closed = True
        self._meta.update(state="closed", n_samples=n, duration_s=n / self.sfreq, n_records=self.bdf.n_records,
                          end_time=(self.start_time + dt.timedelta(seconds=n / self.sfreq)).isoformat(),
                          clipped_samples=self.bdf.clipped_samples, warnings=self.warnings)
        self._write_meta()
        (self.folder / LOCK).unlink(missing_ok=True)
        return self.folder / BDF if n else None

    def __enter__(self) -> SessionRecorder:
        return self

    def __exit__(self, *exc: object) -> None:
        self.close()
