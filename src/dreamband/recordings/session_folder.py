"""A session folder's files, names and small helpers: JSON sidecar, event log, lock, annotations.

A session folder (0700; every file 0600: this is health data) holds::

    session.json     sidecar: board, montage, rate, units, physical ranges, versions, settings, start
    session.bdf      BDF+ archive, written as the night goes (data records of 0.2-1 s, fsync'd at
                     least twice a second): signals + stages, triggers, markers, quality, gaps
    events.jsonl     append-only event log (one JSON object per line; flushed per event)
    hypnogram.csv    epoch, onset, stage, p_W..p_REM, quality (one row per staged epoch)
    .recording.lock  the recording process id while recording

Folders recorded before the BDF+ archive hold ``raw.csv`` (+ ``session.edf``) instead; they are
still read.
"""

from __future__ import annotations

import json
import os
import sys
from pathlib import Path

from dreamband.recordings.jsonio import jsonable  # the one encoder (recorder imports it from here)

SESSION_JSON = "session.json"
RAW_CSV = "raw.csv"  # the store of sessions recorded before the BDF+ archive
BDF = "session.bdf"
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


def write_json_atomic(path: Path, obj: dict) -> None:
    """Write ``obj`` as strict JSON to a temporary file, fsync, rename over ``path``.

    On a write error the temporary file is removed and ``path`` is left as it was.
    """
    tmp = path.with_name(path.name + ".tmp")
    try:
        fd = os.open(tmp, os.O_WRONLY | os.O_CREAT | os.O_TRUNC, FILE_MODE)
        with open(fd, "w", encoding="utf-8") as fh:
            json.dump(jsonable(obj), fh, indent=1, allow_nan=False)
            fh.write("\n")
            fh.flush()
            os.fsync(fh.fileno())
        os.replace(tmp, path)
    except OSError:
        tmp.unlink(missing_ok=True)
        raise


def software_versions() -> dict[str, str]:
    """Versions of Python and the packages a session depends on."""
    from importlib.metadata import PackageNotFoundError, version

    out = {"python": sys.version.split()[0]}
    for pkg in ("dreamband", "brainflow", "mne", "numpy", "edfio"):
        try:
            out[pkg] = version(pkg)
        except PackageNotFoundError:
            out[pkg] = "unknown"
    return out


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


def event_annotation(e: dict) -> tuple[float, float, str] | None:
    """The EDF+ annotation ``(onset_s, duration_s, text)`` of one logged event, or None.

    Stages (30-s ``Sleep stage N2``), triggers, markers, action stops, channel quality, stream
    trouble (dropouts, gaps, reconnects) and warnings/errors (a write error, a safety override).
    """
    from dreamband.signal.stages import stage_name

    kind, t = e.get("kind"), e.get("time")
    if t is None:
        return None
    t = float(t)
    if kind == "epoch":
        return float(e.get("onset", t)), 30.0, f"Sleep stage {stage_name(int(e.get('stage', -1)))}"
    if kind == "trigger":
        reason = f": {e['reason']}" if e.get("reason") else ""
        return t, 0.0, f"Trigger {e.get('policy', '')} {e.get('action', '')}{reason}".strip()
    if kind == "marker":
        return t, 0.0, f"Marker {e.get('value', 0):g} {e.get('label', '')}".strip()
    if kind == "action" and e.get("phase") == "stop":
        return t, 0.0, f"Action stop {e.get('policy', '')}"
    if kind == "quality":
        return t, 0.0, f"Quality {e.get('channel', '')} {e.get('status', '')}: {e.get('reason', '')}".strip(" :")
    if kind == "stream" and e.get("stream_kind") in ("dropout", "gap", "reconnected"):
        return t, 0.0, f"Stream {e.get('stream_kind')}: {e.get('message', '')}"[:120]
    if kind == "log" and e.get("level") in ("warning", "error"):
        return t, 0.0, f"{str(e.get('level')).capitalize()}: {e.get('message', '')}"
    return None


def annotations_from_events(events: list[dict]) -> list[tuple[float, float, str]]:
    """EDF+ annotations from the event log (:func:`event_annotation` of each event)."""
    return [a for a in map(event_annotation, events) if a is not None]


def lock_alive(folder: Path) -> int | None:
    """The pid recording ``folder`` when that process still runs (not this one, not a zombie), else None."""
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




class LineLog:
    """An append-only text file written with ``pwrite`` at its own offset.

    A failed write (full disk, I/O error) leaves the lines queued; the next :meth:`append` or
    :meth:`flush` writes them at the same place, so a retry never leaves a torn line in the
    middle of the file.

    Parameters
    ----------
    path : Path
    mode : int
        Permissions of a new file.
    header : str, optional
        First line of a new (empty) file.
    """

    def __init__(self, path: Path, mode: int = FILE_MODE, header: str | None = None) -> None:
        self.path = Path(path)
        self._fd = os.open(self.path, os.O_WRONLY | os.O_CREAT, mode)
        self.offset = os.fstat(self._fd).st_size
        self.pending: list[bytes] = []
        self.closed = False
        if header is not None and self.offset == 0:
            self.append(header)

    def append(self, line: str) -> None:
        """Queue ``line`` (a newline is added when missing) and write everything queued.

        Raises
        ------
        OSError
            When the disk refuses it (the lines stay queued).
        """
        self.pending.append((line if line.endswith("\n") else line + "\n").encode("utf-8"))
        self.flush()

    def flush(self) -> None:
        """Write the queued lines (raises ``OSError`` while the disk refuses; they stay queued)."""
        if not self.pending:
            return
        data = memoryview(b"".join(self.pending))
        offset = self.offset
        while data:
            n = os.pwrite(self._fd, data, offset)
            data, offset = data[n:], offset + n
        self.offset = offset
        self.pending.clear()

    def fsync(self) -> None:
        """``fsync`` the file."""
        os.fsync(self._fd)

    def close(self) -> None:
        """Write what is queued, ``fsync``, close (the descriptor is closed even when that fails)."""
        if self.closed:
            return
        try:
            self.flush()
            os.fsync(self._fd)
        finally:
            self.closed = True
            os.close(self._fd)
