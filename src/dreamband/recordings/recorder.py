"""The crash-safe session recorder, crash recovery, and reading a session folder back.

A session folder (0700; every file 0600: this is health data) holds::

    session.json     sidecar: board, montage, rates, units, layout, versions, settings, start time
    raw.csv          the samples, appended; flushed on every chunk, fsync'd at least every second
    events.jsonl     append-only event log (one JSON object per line; flushed per event)
    hypnogram.csv    epoch, onset, stage, p_W..p_REM, quality (one row per staged epoch)
    session.edf      EDF+ written on close (or by ``recover``): signals + stage/trigger/marker annotations
    .recording.lock  the recording process id while recording

``raw.csv`` layout (described in ``session.json["layout"]``):

* ``"brainflow"`` when the chunks carry the board's BrainFlow rows (``StreamChunk.raw``):
  BrainFlow's ``DataFilter.write_file`` layout exactly (tab-separated, one column per board
  row, ``%.6f``), so BrainFlow's playback board can replay it; ``montage`` gives the row of
  each channel, ``timestamp_column``/``marker_column`` the clock and marker rows.
* ``"dreamband"`` otherwise (replays of EDF files, the sleeper): tab-separated columns
  ``sample_index, <channel 1..N in µV / g>, timestamp, marker``.

After ``kill -9`` the flushed lines are on disk; ``recover(folder)`` drops a partial last
line of each file, and writes ``session.edf`` and the final ``session.json``.
"""

from __future__ import annotations

import datetime as dt
import json
import math
import os
import shutil
import sys
import time
from dataclasses import dataclass
from pathlib import Path
from typing import Any

import numpy as np

from dreamband.firmware_bridge.chunk import StreamChunk
from dreamband.recordings.base import Recording
from dreamband.recordings.brainflow_csv import read_table
from dreamband.recordings.fastcsv import format_table
from dreamband.recordings.hypnogram import HypnogramWriter
from dreamband.recordings.mne_io import load_mne

SESSION_JSON = "session.json"
RAW_CSV = "raw.csv"
EVENTS = "events.jsonl"
HYPNOGRAM = "hypnogram.csv"
EDF = "session.edf"
LOCK = ".recording.lock"
FOLDER_MODE = 0o700
FILE_MODE = 0o600


def default_sessions_dir() -> Path:
    """The user's folder of session folders (no platformdirs dependency).

    Linux/BSD: ``$XDG_DATA_HOME/dreamband/sessions`` (default ``~/.local/share``);
    macOS: ``~/Library/Application Support/dreamband/sessions``;
    Windows: ``%LOCALAPPDATA%\\dreamband\\sessions``.
    """
    home = Path.home()
    if sys.platform == "win32":
        base = Path(os.environ.get("LOCALAPPDATA") or home / "AppData" / "Local")
    elif sys.platform == "darwin":
        base = home / "Library" / "Application Support"
    else:
        base = Path(os.environ.get("XDG_DATA_HOME") or home / ".local" / "share")
    return base / "dreamband" / "sessions"


def _jsonable(value: Any) -> Any:
    if isinstance(value, np.ndarray):
        return [_jsonable(v) for v in value.tolist()]
    if isinstance(value, np.generic):
        value = value.item()
    if isinstance(value, float):
        return value if math.isfinite(value) else None
    if isinstance(value, dict):
        return {str(k): _jsonable(v) for k, v in value.items()}
    if isinstance(value, (list, tuple, set)):
        return [_jsonable(v) for v in value]
    if isinstance(value, (dt.datetime, dt.date)):
        return value.isoformat()
    if isinstance(value, Path):
        return str(value)
    if value is None or isinstance(value, (str, int, bool)):
        return value
    if hasattr(value, "to_dict"):
        return _jsonable(value.to_dict())
    if hasattr(value, "__dataclass_fields__"):
        return {k: _jsonable(getattr(value, k)) for k in value.__dataclass_fields__}
    return str(value)


def _write_json_atomic(path: Path, obj: dict) -> None:
    tmp = path.with_name(path.name + ".tmp")
    fd = os.open(tmp, os.O_WRONLY | os.O_CREAT | os.O_TRUNC, FILE_MODE)
    with open(fd, "w", encoding="utf-8") as fh:
        json.dump(_jsonable(obj), fh, indent=1, allow_nan=False)
        fh.write("\n")
        fh.flush()
        os.fsync(fh.fileno())
    os.replace(tmp, path)


def _open_append(path: Path, binary: bool = False):
    fd = os.open(path, os.O_WRONLY | os.O_CREAT | os.O_APPEND, FILE_MODE)
    return open(fd, "ab" if binary else "a", encoding=None if binary else "utf-8")


def _software_versions() -> dict[str, str]:
    from importlib.metadata import PackageNotFoundError, version

    out = {"python": sys.version.split()[0]}
    for pkg in ("dreamband", "brainflow", "mne", "numpy", "edfio"):
        try:
            out[pkg] = version(pkg)
        except PackageNotFoundError:
            out[pkg] = "unknown"
    return out


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
    if not hits:
        return None
    return hits[-1]


class SessionRecorder:
    """Write a live (or replayed) session to a crash-safe session folder.

    Parameters
    ----------
    folder_parent : str, Path or None
        Where the session folder is created (``--session-dir``); None = :func:`default_sessions_dir`.
    info : dict
        Must hold ``sfreq``, ``channel_names``, ``channel_types``. Optional: ``start_time``
        (aware datetime or ISO string; default: now, local zone), ``board`` (name), ``board_id``
        (the id whose BrainFlow layout the chunks' ``raw`` rows follow; for playback the master
        board), ``montage`` (list of ``{name, type, row}``, a ``{rows, names, types}`` dict, or a
        ``Montage``), ``settings``, ``model`` and anything else (kept in ``session.json``).
    name : str, optional
        Folder name (default: the start time, ``YYYY-MM-DD_HH-MM-SS``).
    fsync_interval_s : float
        Maximum seconds between two ``fsync`` of ``raw.csv`` (every chunk is flushed anyway).
    expected_hours : float
        Night length used for the free-space check at start.

    Raises
    ------
    PermissionError, OSError
        When the folder cannot be created or written (read-only, full disk): found at start by
        writing a probe file, not at 3 a.m.
    ValueError
        When ``info`` lacks the rate or channels.
    """

    def __init__(self, folder_parent: str | Path | None, info: dict, name: str | None = None,
                 fsync_interval_s: float = 1.0, expected_hours: float = 10.0) -> None:
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
        parent = Path(folder_parent).expanduser() if folder_parent is not None else default_sessions_dir()
        self.folder = self._make_folder(parent, name or start.strftime("%Y-%m-%d_%H-%M-%S"))
        self.warnings: list[str] = []
        self._probe(expected_hours)
        self.n_samples = 0
        self.n_events = 0
        self.bytes_written = 0
        self._closed = False
        self._last_fsync = time.monotonic()
        self._layout: dict | None = None
        self._montage = _montage_from_info(info)
        self._fmt: str | None = None
        self._events_for_edf: list[dict] = []
        extra = {k: v for k, v in info.items() if k not in ("sfreq", "channel_names", "channel_types", "start_time", "montage")}
        self._meta: dict[str, Any] = {
            "format": "dreamband-session", "format_version": 1, "state": "recording",
            "start_time": self.start_time.isoformat(), "time_zone": str(self.start_time.tzname()),
            "sfreq": self.sfreq, "channel_names": self.channel_names, "channel_types": self.channel_types,
            "units": ["g" if t == "accel" else "uV" for t in self.channel_types],
            "board": info.get("board"), "board_id": info.get("board_id"),
            "montage": self._montage, "layout": None,
            "files": {"raw": RAW_CSV, "events": EVENTS, "hypnogram": HYPNOGRAM, "edf": EDF},
            "software": _software_versions(), "pid": os.getpid(),
            "model": info.get("model"), "settings": info.get("settings"),
            "info": extra,
        }
        self._write_meta()
        (self.folder / LOCK).write_text(str(os.getpid()))
        os.chmod(self.folder / LOCK, FILE_MODE)
        self._raw_fh = _open_append(self.folder / RAW_CSV, binary=True)
        self._events_fh = _open_append(self.folder / EVENTS)
        self._hypno = HypnogramWriter(self.folder / HYPNOGRAM, FILE_MODE)

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

    def _probe(self, expected_hours: float) -> None:
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
        per_s = 12.0 * self.sfreq * (len(self.channel_names) + 3)
        need_min = per_s * 600
        if free < need_min:
            raise OSError(
                28, f"Only {free / 1e6:.1f} MB free under {self.folder}: not even 10 minutes of recording "
                f"(~{per_s / 1e3:.0f} kB/s). Free some space or choose another --session-dir DIR."
            )
        if free < per_s * 3600 * expected_hours:
            self.warnings.append(
                f"only {free / 1e9:.2f} GB free: about {free / per_s / 3600:.1f} h of recording at ~{per_s / 1e3:.0f} kB/s"
            )

    def _write_meta(self) -> None:
        _write_json_atomic(self.folder / SESSION_JSON, self._meta)

    def _choose_layout(self, chunk: StreamChunk) -> None:
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
                          "marker_column": mk_row,
                          "package_column": desc.get("package_num_channel") if desc else None}
                self._montage = [{"name": n, "type": t, "row": int(r)}
                                 for n, t, r in zip(self.channel_names, self.channel_types, rows, strict=True)]
        if layout is None:
            if raw is not None:
                self.warnings.append("chunk.raw rows did not match the montage; writing the dreamband layout")
            layout = {"kind": "dreamband", "n_columns": n_ch + 3, "timestamp_column": n_ch + 1,
                      "marker_column": n_ch + 2, "sample_column": 0,
                      "columns": ["sample_index", *self.channel_names, "timestamp", "marker"]}
            self._montage = [{"name": n, "type": t, "row": k + 1}
                             for k, (n, t) in enumerate(zip(self.channel_names, self.channel_types, strict=True))]
        self._layout = layout
        ts = chunk.timestamps[np.isfinite(chunk.timestamps)]
        self._meta.update(layout=layout, montage=self._montage)
        self._meta["first_timestamp"] = float(ts[0]) if ts.size else None
        self._write_meta()

    # ------------------------------------------------------------------ writing
    def write_chunk(self, chunk: StreamChunk) -> None:
        """Append a chunk's samples to ``raw.csv`` (flushed now, fsync'd at least every second).

        Raises
        ------
        OSError
            When the disk refuses the write (full disk...); the message says so.
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
        lay = self._layout
        n = chunk.n_samples
        if lay["kind"] == "brainflow":
            raw = chunk.raw
            if raw is None or raw.shape != (lay["n_columns"], n):
                raw = np.zeros((lay["n_columns"], n))
                for k, m in enumerate(self._montage):
                    raw[m["row"]] = chunk.data[k]
                raw[lay["timestamp_column"]] = chunk.timestamps
                raw[lay["marker_column"]] = chunk.markers
            table = raw
        else:
            table = np.empty((lay["n_columns"], n))
            table[0] = np.arange(chunk.first_sample, chunk.first_sample + n)
            table[1:1 + chunk.data.shape[0]] = chunk.data
            table[lay["timestamp_column"]] = chunk.timestamps
            table[lay["marker_column"]] = chunk.markers
        data = format_table(table, decimals=6, sep="\t")
        try:
            self._raw_fh.write(data)
            self._raw_fh.flush()
        except OSError as err:
            raise OSError(err.errno, f"Writing {self.folder / RAW_CSV} failed: {err.strerror or err} "
                          "(disk full?). The samples so far are safe.") from err
        self.bytes_written += len(data)
        self.n_samples += n
        self._maybe_fsync()

    def _maybe_fsync(self, force: bool = False) -> None:
        now = time.monotonic()
        if force or now - self._last_fsync >= self.fsync_interval_s:
            for fh in (self._raw_fh, self._events_fh):
                if not fh.closed:
                    fh.flush()
                    os.fsync(fh.fileno())
            self._last_fsync = now

    def write_event(self, event: dict | Any) -> None:
        """Append one event (a ``to_dict()`` dict, or an Event) to ``events.jsonl``.

        ``samples`` events are skipped; ``epoch`` events also go to ``hypnogram.csv``.
        """
        if self._closed:
            raise ValueError("This SessionRecorder is closed.")
        d = event.to_dict() if hasattr(event, "to_dict") else dict(event)
        if d.get("kind") == "samples":
            return
        d.pop("chunk", None)
        line = json.dumps(_jsonable(d), allow_nan=False, separators=(",", ":")) + "\n"
        self._events_fh.write(line)
        self._events_fh.flush()
        self.bytes_written += len(line)
        self.n_events += 1
        if d.get("kind") == "epoch":
            reasons = d.get("quality_reasons") or []
            quality = "ok" if d.get("quality_ok", True) else "; ".join(map(str, reasons)) or "bad"
            probs = [float("nan") if p is None else float(p) for p in (d.get("probabilities") or [])]
            self._hypno.write(int(d.get("epoch_index", 0)), float(d.get("onset", 0.0)), int(d.get("stage", -1)),
                              probs, quality)
        self._maybe_fsync()

    def close(self, write_edf: bool = True) -> Path | None:
        """Flush everything, write ``session.edf`` (EDF+), mark the session closed.

        Returns
        -------
        Path or None
            The EDF file (None when no samples were recorded or ``write_edf`` is False).
        """
        if self._closed:
            return self.folder / EDF if (self.folder / EDF).exists() else None
        self._closed = True
        self._maybe_fsync(force=True)
        self._raw_fh.close()
        self._events_fh.close()
        self._hypno.close()
        edf = None
        self._meta.update(state="closed", n_samples=self.n_samples, duration_s=self.n_samples / self.sfreq,
                          end_time=(self.start_time + dt.timedelta(seconds=self.n_samples / self.sfreq)).isoformat(),
                          warnings=self.warnings)
        error: Exception | None = None
        if write_edf and self.n_samples > 0:
            try:
                rec = load_session_csv(self.folder, self._meta)
                from dreamband.recordings.edf_export import write_edf as _write

                edf = _write(rec, self.folder / EDF, annotations_from_events(read_events(self.folder)[0]))
            except Exception as err:  # the CSV is complete and safe; say what failed
                error = err
                self._meta["edf_error"] = f"{type(err).__name__}: {err}"
        self._write_meta()
        (self.folder / LOCK).unlink(missing_ok=True)
        if error is not None:
            raise RuntimeError(f"The session in {self.folder} is saved (raw.csv), but writing {EDF} failed: "
                               f"{error}. Run `dreamband recover {self.folder}` to retry.") from error
        return edf

    def __enter__(self) -> SessionRecorder:
        return self

    def __exit__(self, *exc: object) -> None:
        self.close()


# ---------------------------------------------------------------------- reading back
def read_session_json(folder: str | Path) -> dict:
    """Return the parsed ``session.json`` of a session folder.

    Raises
    ------
    FileNotFoundError
        When the folder has no ``session.json`` (not a dreamband session folder).
    ValueError
        When it is unreadable.
    """
    folder = Path(folder)
    path = folder / SESSION_JSON
    if not path.exists():
        raise FileNotFoundError(f"{folder} is not a dreamband session folder (no {SESSION_JSON}).")
    try:
        return json.loads(path.read_text(encoding="utf-8"))
    except json.JSONDecodeError as err:
        raise ValueError(f"{path} is damaged ({err}).") from None


def read_events(folder: str | Path) -> tuple[list[dict], list[str]]:
    """Read ``events.jsonl``; an unterminated or unparsable last line is skipped (with a warning)."""
    path = Path(folder) / EVENTS
    if not path.exists():
        return [], []
    text = path.read_text(encoding="utf-8", errors="replace")
    lines = text.split("\n")
    warnings = []
    if not text.endswith("\n") and lines[-1].strip():
        warnings.append("events.jsonl: the last line was cut off and was skipped")
    lines = lines[:-1]
    events = []
    for k, line in enumerate(lines, start=1):
        if not line.strip():
            continue
        try:
            events.append(json.loads(line))
        except json.JSONDecodeError:
            if k == len(lines):
                warnings.append(f"events.jsonl: line {k} is damaged and was skipped")
                continue
            raise ValueError(f"{path}: line {k} is not valid JSON (the log is damaged).") from None
    return events, warnings


def annotations_from_events(events: list[dict]) -> list[tuple[float, float, str]]:
    """EDF+ annotations from the event log: stages, triggers, markers, actions, stream trouble."""
    from dreamband.signal.stages import stage_name

    out: list[tuple[float, float, str]] = []
    for e in events:
        kind, t = e.get("kind"), e.get("time")
        if t is None:
            continue
        if kind == "epoch":
            stage = int(e.get("stage", -1))
            out.append((float(e.get("onset", t)), 30.0, f"Sleep stage {stage_name(stage)}"))
        elif kind == "trigger":
            reason = f": {e['reason']}" if e.get("reason") else ""
            out.append((float(t), 0.0, f"Trigger {e.get('policy', '')} {e.get('action', '')}{reason}".strip()))
        elif kind == "marker":
            out.append((float(t), 0.0, f"Marker {e.get('value', 0):g} {e.get('label', '')}".strip()))
        elif kind == "action" and e.get("phase") == "stop":
            out.append((float(t), 0.0, f"Action stop {e.get('policy', '')}"))
        elif kind == "stream" and e.get("stream_kind") in ("dropout", "gap", "reconnected"):
            out.append((float(t), 0.0, f"Stream {e.get('stream_kind')}: {e.get('message', '')}"[:120]))
    return out


def _lock_alive(folder: Path) -> int | None:
    lock = folder / LOCK
    if not lock.exists():
        return None
    try:
        pid = int(lock.read_text().strip())
    except ValueError:
        return None
    if pid == os.getpid():
        return None
    try:
        os.kill(pid, 0)
    except ProcessLookupError:
        return None
    except PermissionError:
        return pid
    except OSError:
        return None
    if sys.platform.startswith("linux"):
        try:  # a zombie (killed, not yet reaped) is not recording
            if Path(f"/proc/{pid}/stat").read_text().split(") ")[-1].startswith("Z"):
                return None
        except OSError:
            return None
    return pid


def load_session_csv(folder: str | Path, meta: dict | None = None) -> Recording:
    """Read a session folder's ``raw.csv`` (tolerating a partial last line) as a Recording."""
    folder = Path(folder)
    meta = meta or read_session_json(folder)
    lay = meta.get("layout")
    names, types = meta["channel_names"], meta["channel_types"]
    start = dt.datetime.fromisoformat(meta["start_time"])
    raw_path = folder / meta.get("files", {}).get("raw", RAW_CSV)
    if lay is None or not raw_path.exists() or raw_path.stat().st_size == 0:
        raise ValueError(f"{folder}: the session recorded no samples (empty {RAW_CSV}).")
    rows = [int(m["row"]) for m in meta["montage"]]
    cols = rows + [lay["timestamp_column"], lay["marker_column"]]
    table, warnings = read_table(raw_path, sep="\t", expect_cols=lay["n_columns"], columns=cols)
    n_ch = len(rows)
    markers = table[n_ch + 1]
    sfreq = float(meta["sfreq"])
    ann = [(i / sfreq, 0.0, f"marker {markers[i]:g}") for i in np.flatnonzero(markers)]
    return Recording(
        data=table[:n_ch], sfreq=sfreq, channel_names=names, channel_types=types, start_time=start,
        annotations=ann, board_id=meta.get("board_id"), source_path=folder, markers=markers,
        info={"format": "session", "warnings": warnings, "timestamps": table[n_ch], "session": meta},
    )


@dataclass
class RecoveryReport:
    """What :func:`recover` did."""

    folder: Path
    edf_path: Path | None
    n_samples: int
    duration_s: float
    bytes_dropped: dict
    already_closed: bool
    warnings: list[str]

    def summary(self) -> str:
        """A few lines for a person."""
        if self.already_closed:
            return f"{self.folder}: already complete ({self.duration_s:.1f} s); nothing to recover. EDF+: {self.edf_path}"
        dropped = ", ".join(f"{k}: {v} bytes" for k, v in self.bytes_dropped.items() if v) or "nothing"
        lines = [f"Recovered {self.folder}: {self.n_samples} samples ({self.duration_s:.1f} s).",
                 f"Dropped partial lines: {dropped}.", f"EDF+: {self.edf_path}"]
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


def recover(folder: str | Path, force: bool = False) -> RecoveryReport:
    """Turn what a crash (``kill -9``, power loss) left in a session folder into a complete recording.

    Drops the partial last line of ``raw.csv``, ``events.jsonl`` and ``hypnogram.csv``, writes
    ``session.edf`` (EDF+ with stage/trigger/marker annotations) and marks ``session.json``
    ``"recovered"``. A closed session is left alone (unless its EDF is missing).

    Raises
    ------
    FileNotFoundError
        When ``folder`` is not a session folder.
    RuntimeError
        When the session is still being recorded by a running process (unless ``force``).
    ValueError
        When no samples were recorded.
    """
    folder = Path(folder).expanduser()
    meta = read_session_json(folder)
    edf = folder / EDF
    if meta.get("state") in ("closed", "recovered") and edf.exists():
        return RecoveryReport(folder, edf, int(meta.get("n_samples", 0)), float(meta.get("duration_s", 0.0)), {},
                              True, [])
    pid = _lock_alive(folder)
    if pid is not None and not force:
        raise RuntimeError(f"{folder} is still being recorded by process {pid}; stop that session first.")
    dropped = {name: _truncate_to_last_newline(folder / name) for name in (RAW_CSV, EVENTS, HYPNOGRAM)}
    rec = load_session_csv(folder, meta)
    events, warnings = read_events(folder)
    warnings = list(rec.info.get("warnings", [])) + warnings
    from dreamband.recordings.edf_export import write_edf

    write_edf(rec, edf, annotations_from_events(events))
    meta.update(state="recovered" if meta.get("state") != "closed" else "closed", n_samples=rec.n_samples,
                duration_s=rec.duration_s,
                end_time=(rec.start_time + dt.timedelta(seconds=rec.duration_s)).isoformat(),
                recovered_at=dt.datetime.now().astimezone().isoformat(), recovery_dropped_bytes=dropped)
    _write_json_atomic(folder / SESSION_JSON, meta)
    (folder / LOCK).unlink(missing_ok=True)
    return RecoveryReport(folder, edf, rec.n_samples, rec.duration_s, dropped, False, warnings)


def load_session(folder: str | Path, prefer_edf: bool = True) -> Recording:
    """Load a session folder as a Recording, recovering it first if a crash left it unfinished.

    A session still being recorded by a running process is read as it is (read-only). With
    ``prefer_edf`` a closed session is read from ``session.edf`` (fast; 16-bit EDF
    resolution); otherwise from ``raw.csv`` (exact).
    """
    folder = Path(folder).expanduser()
    meta = read_session_json(folder)
    live = _lock_alive(folder)
    if meta.get("state") == "recording" and live is None:
        recover(folder)
        meta = read_session_json(folder)
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
