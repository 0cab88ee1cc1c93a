"""The one conversion between MNE's ``Raw`` objects and the fields of a :class:`Recording`.

:meth:`Recording.from_mne <dreamband.recordings.base.Recording.from_mne>` (and through it
:func:`~dreamband.recordings.mne_io.load_mne`, every file MNE reads) and
:meth:`Recording.to_mne <dreamband.recordings.base.Recording.to_mne>` use it. It imports
nothing of ours (``base`` imports it lazily; no cycle).

Units: MNE holds volts. An EDF/BDF header whose physical dimension MNE does not know
case-sensitively (``"UV"`` in DREAMS) arrives unscaled, as microvolt numbers, so for an
EDF/BDF file the header's own dimension decides the scale.
"""

from __future__ import annotations

import datetime as dt
from collections.abc import Callable
from pathlib import Path
from typing import Any

import numpy as np

from dreamband.firmware_bridge.clock import localize

#: our channel type -> MNE's (accelerometer rows become MNE ``misc`` channels, in g)
MNE_CHANNEL_TYPES = {"eeg": "eeg", "eog": "eog", "emg": "emg", "accel": "misc", "misc": "misc"}


def edf_header_units(path: Path) -> list[tuple[str, str]]:
    """Return (label, physical dimension) of every signal of an EDF/BDF header, annotations excluded."""
    with open(path, "rb") as fh:
        head = fh.read(256)
        if len(head) < 256:
            raise ValueError(f"{path}: truncated EDF/BDF header ({len(head)} of 256 bytes).")
        try:
            ns = int(head[252:256].decode("latin-1").strip())
        except ValueError:
            raise ValueError(f"{path}: EDF/BDF header has no valid number of signals.") from None
        labels = [fh.read(16).decode("latin-1").strip() for _ in range(ns)]
        fh.read(80 * ns)
        units = [fh.read(8).decode("latin-1").strip() for _ in range(ns)]
    return [(lab, u) for lab, u in zip(labels, units, strict=False) if lab not in ("EDF Annotations", "BDF Annotations")]


def to_microvolts(ch: dict, orig_unit: str | None, mne_scale: float = 1.0) -> float | None:
    """Factor from MNE's values of channel ``ch`` to microvolts, or None when not a voltage.

    ``orig_unit`` is the file header's physical dimension and ``mne_scale`` the factor MNE
    applied (it knows ``uV``/``µV``/``mV`` case-sensitively; ``"UV"`` (DREAMS) arrives
    unscaled, as microvolt numbers). Without a header unit, MNE's own unit decides.
    """
    if orig_unit is None:  # FIF, RawArray and friends: trust MNE's unit
        return 1e6 if int(ch["unit"]) == 107 else None
    unit = orig_unit.strip().replace("\u03bc", "u").replace("\u00b5", "u").replace("\x83\xca", "u")
    per_unit = {"uv": 1.0, "mv": 1e3, "v": 1e6, "nv": 1e-3}.get(unit.lower())
    if per_unit is None:
        return None
    return per_unit / mne_scale


def _aware(value: dt.datetime | None) -> dt.datetime | None:
    if value is None:
        return None
    if value.tzinfo is None:
        return value.replace(tzinfo=dt.timezone.utc)
    return value


def _header_units(raw: Any, path: Path | None) -> dict[str, tuple[str, float]]:
    """Per channel name: (EDF/BDF header physical dimension, factor MNE applied), when known."""
    if path is None or path.suffix.lower() not in (".edf", ".bdf") or not path.is_file():
        return {}
    header = edf_header_units(path)
    scales = (getattr(raw, "_raw_extras", None) or [{}])[0].get("units")
    if scales is None or len(header) != len(scales):
        return {}
    return {lab: (unit, float(sc)) for (lab, unit), sc in zip(header, scales, strict=True)}


def _source_file(raw: Any) -> Path | None:
    files = [f for f in (getattr(raw, "filenames", None) or ()) if f is not None]
    return Path(files[0]) if len(files) == 1 else None


def raw_fields(raw: Any, path: str | Path | None, guess_type: Callable[..., str]) -> dict:
    """The keyword arguments of a :class:`Recording` for an ``mne.io.Raw``.

    Parameters
    ----------
    raw : mne.io.BaseRaw
        From any MNE reader or a ``RawArray``; loaded or not (only kept channels are read).
    path : str or Path, optional
        The file it was read from (default: the Raw's own file, when it has exactly one).
    guess_type : callable
        ``guess_type(name, default=...)``: our channel type from a name.

    Returns
    -------
    dict
        ``data`` (µV; accelerometer in g), ``sfreq``, ``channel_names``, ``channel_types``,
        ``start_time``, ``annotations`` (seconds from the first sample), ``source_path``, ``info``.

    Raises
    ------
    TypeError
        When ``raw`` is not an MNE Raw object.
    ValueError
        When it has no EEG/EOG/EMG channel in volts.
    """
    import mne

    if not isinstance(raw, mne.io.BaseRaw):
        raise TypeError(f"Expected an mne.io.Raw (e.g. mne.io.read_raw_edf(path)), got {type(raw).__name__}.")
    path = Path(path) if path is not None else _source_file(raw)
    header = _header_units(raw, path)
    names: list[str] = []
    types: list[str] = []
    picks: list[int] = []
    scales: list[float] = []
    dropped: list[str] = []
    for i, ch in enumerate(raw.info["chs"]):
        name = ch["ch_name"]
        mne_type = mne.channel_type(raw.info, i)
        guess = guess_type(name, default=mne_type if mne_type in ("eeg", "eog", "emg") else "misc")
        if guess not in ("eeg", "eog", "emg", "accel"):
            continue
        unit, mne_scale = header.get(name, (None, 1.0))
        scale = to_microvolts(ch, unit, mne_scale) if guess != "accel" else 1.0
        if scale is None:
            dropped.append(f"{name} (unit {unit!r})")
            continue
        names.append(name)
        types.append(guess)
        picks.append(i)
        scales.append(scale)
    where = path if path is not None else "this Raw"
    if not any(t in ("eeg", "eog", "emg") for t in types):
        extra = f" Channels with unknown units: {', '.join(dropped)}." if dropped else ""
        raise ValueError(
            f"{where}: no EEG/EOG/EMG channel in volts found (channels: {raw.ch_names}).{extra} "
            "dreamband needs at least one EEG channel in V, mV or uV."
        )
    data = raw.get_data(picks=picks)
    data *= np.asarray(scales)[:, None]  # in place: one copy of the night, not two
    meas = _aware(raw.info.get("meas_date"))
    if meas is not None and path is not None and path.suffix.lower() in (".edf", ".bdf"):
        # MNE labels the EDF header's clock UTC; EDF stores local time (edf_channels.header_start_time)
        meas = localize(meas.replace(tzinfo=None))
    warnings: list[str] = [f"dropped signal channel {d}: not a voltage unit" for d in dropped]
    if meas is None:
        meas = dt.datetime.fromtimestamp(0, dt.timezone.utc)
        warnings.append("the file has no start time; using 1970-01-01 UTC")
    first = float(raw.first_time)
    # MNE's onsets count from meas_date (orig_time set) or from the first sample (orig_time None)
    shift = first if raw.annotations.orig_time is not None else 0.0
    ann = [(float(a["onset"]) - shift, float(a["duration"]), str(a["description"])) for a in raw.annotations]
    suffix = "" if path is None else path.suffix.lower()
    return {
        "data": data, "sfreq": float(raw.info["sfreq"]), "channel_names": names, "channel_types": types,
        "start_time": meas + dt.timedelta(seconds=first), "annotations": ann, "source_path": path,
        "info": {"format": suffix.lstrip(".") or "mne", "warnings": warnings, "all_channels": list(raw.ch_names)},
    }


def fields_to_raw(data: np.ndarray, sfreq: float, channel_names: list[str], channel_types: list[str],
                  start_time: dt.datetime, annotations: list[tuple[float, float, str]]) -> Any:
    """An ``mne.io.RawArray`` in volts (accelerometer as ``misc``, in g) with the annotations.

    ``meas_date`` is ``start_time`` in UTC; annotation onsets are seconds from the first sample.
    """
    import mne

    ch_types = [MNE_CHANNEL_TYPES[t] for t in channel_types]
    per_unit = np.array([1e6 if t in ("eeg", "eog", "emg") else 1.0 for t in channel_types])[:, None]
    info = mne.create_info(list(channel_names), float(sfreq), ch_types, verbose="error")
    raw = mne.io.RawArray(np.asarray(data, dtype=np.float64) / per_unit, info, verbose="error")
    raw.set_meas_date(start_time.astimezone(dt.timezone.utc))
    if annotations:
        onset, duration, desc = zip(*annotations, strict=True)
        raw.set_annotations(mne.Annotations(list(onset), list(duration), list(desc),
                                            orig_time=raw.info["meas_date"]), verbose="error")
    return raw
