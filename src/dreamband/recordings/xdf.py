"""Reader of XDF files (LabRecorder: every LSL stream of an experiment in one file), via pyxdf.

The EEG stream is the one named ``stream_name``, else the first of type ``stream_type``
(default ``EEG``), else the first regular numeric stream. Its channel names, types and units come
from the stream's XML description (``unit`` missing: ``default_units``); timestamps are LSL time
(pyxdf applies the clock offsets), and a gap in them (the outlet vanished, samples lost) comes back
as NaN so the recording stays on the device's clock. Marker streams become annotations, seconds
from the first EEG sample; dreamband's own ``dreamband-events`` stream gives back the night it
recorded (``"Sleep stage N2"`` per epoch, triggers, markers, dropouts).
"""

from __future__ import annotations

import datetime as dt
import json
from pathlib import Path
from typing import Any

import numpy as np

from dreamband.firmware_bridge.lsl import GAP_TOLERANCE_S, MAX_GAP_FILL_S, units_to_microvolts
from dreamband.recordings.base import Recording, guess_channel_type

#: names of dreamband's own LSL outlets (session/lsl_out.py)
DREAMBAND_EVENTS = "dreamband-events"
DREAMBAND_STAGES = "dreamband-stages"
_STAGE_LABELS = ("W", "N1", "N2", "N3", "R")
_TYPES = {"eeg": "eeg", "eog": "eog", "emg": "emg", "acc": "accel", "accel": "accel", "accelerometer": "accel"}


def _first(node: Any, key: str, default: Any = None) -> Any:
    """pyxdf's info nodes are dicts of one-item lists."""
    if not isinstance(node, dict):
        return default
    value = node.get(key)
    if isinstance(value, list):
        return value[0] if value else default
    return default if value is None else value


def _channels(info: dict) -> list[dict]:
    desc = _first(info, "desc")
    channels = _first(desc, "channels") if desc else None
    out = (channels or {}).get("channel") or [] if isinstance(channels, dict) else []
    return [{k: _first(ch, k, "") for k in ("label", "type", "unit")} for ch in out]


def _is_markers(stream: dict) -> bool:
    info = stream["info"]
    return _first(info, "channel_format", "") == "string" or float(_first(info, "nominal_srate", "0") or 0) == 0.0


def _pick_eeg(streams: list[dict], name: str | None, stype: str | None) -> dict:
    numeric = [s for s in streams if not _is_markers(s) and _first(s["info"], "name") != DREAMBAND_STAGES]
    seen = [(_first(s["info"], "name"), _first(s["info"], "type")) for s in streams]
    if name:
        match = [s for s in numeric if _first(s["info"], "name") == name]
        if not match:
            raise ValueError(f"No regular stream named {name!r} in this XDF file; it has {seen}.")
        return match[0]
    want = (stype or "EEG").lower()
    match = [s for s in numeric if str(_first(s["info"], "type", "")).lower() == want]
    if match:
        return match[0]
    if stype:
        raise ValueError(f"No regular stream of type {stype!r} in this XDF file; it has {seen}.")
    if not numeric:
        raise ValueError(f"No regular (EEG) stream in this XDF file; it has {seen}.")
    return numeric[0]


def _fill_gaps(data: np.ndarray, ts: np.ndarray, sfreq: float) -> tuple[np.ndarray, int]:
    """Insert NaN where the timestamps jump by more than :data:`GAP_TOLERANCE_S`; return data, lost."""
    if ts.size < 2:
        return data, 0
    dts = np.diff(ts)
    lost = np.round(dts * sfreq).astype(np.int64) - 1
    where = np.flatnonzero((dts - 1.0 / sfreq > GAP_TOLERANCE_S) & (lost > 0))
    if where.size == 0:
        return data, 0
    lost = np.minimum(lost[where], int(MAX_GAP_FILL_S * sfreq))
    pieces, start = [], 0
    for w, n in zip(where.tolist(), lost.tolist(), strict=True):
        pieces += [data[:, start : w + 1], np.full((data.shape[0], n), np.nan)]
        start = w + 1
    pieces.append(data[:, start:])
    return np.concatenate(pieces, axis=1), int(lost.sum())


def _dreamband_annotation(text: str, ts: float) -> tuple[float, float, str] | None:
    try:
        ev = json.loads(text)
    except (TypeError, ValueError):
        return ts, 0.0, str(text)
    kind = ev.get("kind")
    if kind == "epoch":
        stage = int(ev.get("stage", -1))
        label = _STAGE_LABELS[stage] if 0 <= stage < len(_STAGE_LABELS) else "?"
        onset = ts - float(ev.get("time", 0.0)) + float(ev.get("onset", 0.0))  # the marker is stamped at the end
        return onset, 30.0, f"Sleep stage {label}"  # what the report and hypnogram readers take
    if kind == "trigger":
        return ts, 0.0, f"dreamband trigger: {ev.get('policy', '')}"
    if kind == "marker":
        return ts, 0.0, f"dreamband marker {ev.get('value', '')}"
    if kind == "stream":
        return ts, 0.0, f"dreamband stream: {ev.get('stream_kind', '')}"
    if kind in ("session_started", "session_ended"):
        return ts, 0.0, f"dreamband {kind}"
    return None  # states, quality, actions: in the event log, not annotations


def load_xdf(path: str | Path, stream_name: str | None = None, stream_type: str | None = None,
             default_units: str = "uV") -> Recording:
    """Read the EEG stream of an XDF file, with its marker streams as annotations.

    Parameters
    ----------
    path : str or Path
        ``.xdf`` (or ``.xdfz``) file.
    stream_name, stream_type : str, optional
        The EEG stream's name, or type (default: the first of type ``EEG``, else the first
        regular numeric stream).
    default_units : str
        Unit of channels whose description gives none (``uV``, ``mV``, ``V``).

    Returns
    -------
    Recording
        µV, on the stream's nominal rate; ``info["format"] == "xdf"``, ``info["streams"]`` lists
        every stream of the file.

    Raises
    ------
    ValueError
        When pyxdf cannot read the file or it has no such stream.
    """
    try:
        import pyxdf
    except ImportError as err:
        raise ValueError("Reading .xdf needs pyxdf: pip install 'dreamband[lsl]'.") from err
    path = Path(path)
    try:
        streams, header = pyxdf.load_xdf(str(path), verbose=False)
    except Exception as err:  # pyxdf raises many types for a damaged file
        raise ValueError(f"{path}: pyxdf could not read this XDF file ({type(err).__name__}: {err}).") from err
    eeg = _pick_eeg(streams, stream_name, stream_type)
    info = eeg["info"]
    sfreq = float(_first(info, "nominal_srate", "0") or 0)
    if sfreq <= 0:
        raise ValueError(f"{path}: stream {_first(info, 'name')!r} has no nominal rate.")
    ts = np.asarray(eeg["time_stamps"], dtype=np.float64)
    data = np.asarray(eeg["time_series"], dtype=np.float64).T
    if ts.size == 0:
        raise ValueError(f"{path}: stream {_first(info, 'name')!r} holds no samples.")
    n_ch = data.shape[0]
    chans = _channels(info) or [{"label": "", "type": "", "unit": ""}] * n_ch
    names = [c["label"] or f"ch{i + 1}" for i, c in enumerate(chans[:n_ch])]
    stream_kind = _TYPES.get(str(_first(info, "type", "")).lower(), "eeg")
    types = [_TYPES.get(str(c["type"]).lower()) or guess_channel_type(n, default=stream_kind)
             for c, n in zip(chans[:n_ch], names, strict=True)]
    scale = np.array([units_to_microvolts(c["unit"], default_units) if t in ("eeg", "eog", "emg") else 1.0
                      for c, t in zip(chans[:n_ch], types, strict=True)])
    data, lost = _fill_gaps(data * scale[:, None], ts, sfreq)
    ts0 = float(ts[0])
    ann: list[tuple[float, float, str]] = []
    for s in streams:
        if s is eeg or not _is_markers(s):
            continue
        own = _first(s["info"], "name") == DREAMBAND_EVENTS
        for t, row in zip(np.asarray(s["time_stamps"], dtype=float), s["time_series"], strict=False):
            text = str(row[0]) if len(row) else ""
            item = _dreamband_annotation(text, float(t) - ts0) if own else (float(t) - ts0, 0.0, text)
            if item is not None:
                ann.append(item)
    ann.sort(key=lambda a: a[0])
    start = _start_time(header, ts0, streams)
    warnings = [f"{lost} samples missing in the stream's timestamps, filled with NaN"] if lost else []
    return Recording(data, sfreq, names, types, start, ann, source_path=path,
                     info={"format": "xdf", "warnings": warnings, "stream": _first(info, "name"),
                           "streams": [(_first(s["info"], "name"), _first(s["info"], "type")) for s in streams]})


def _start_time(header: dict, ts0: float, streams: list[dict]) -> dt.datetime:
    """The first EEG sample's wall time: the file header's datetime plus the LSL time since the
    file's first sample (LabRecorder writes no LSL clock reading with its datetime)."""
    text = _first(header.get("info", {}), "datetime")
    try:
        base = dt.datetime.fromisoformat(str(text).replace("Z", "+00:00"))
    except (TypeError, ValueError):
        base = dt.datetime.fromtimestamp(0, dt.timezone.utc)
    if base.tzinfo is None:
        base = base.astimezone()
    firsts = [float(s["time_stamps"][0]) for s in streams if len(s["time_stamps"])]
    return base + dt.timedelta(seconds=max(0.0, ts0 - min(firsts, default=ts0)))
