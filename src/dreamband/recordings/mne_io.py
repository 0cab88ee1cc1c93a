"""Reader for every format MNE reads (EDF/EDF+/BDF/GDF/FIF/...) into a :class:`Recording`."""

from __future__ import annotations

import datetime as dt
from pathlib import Path

import numpy as np

from dreamband.recordings.base import Recording, guess_channel_type

#: File suffixes MNE reads that we hand to MNE directly.
MNE_SUFFIXES = (".edf", ".bdf", ".gdf", ".fif", ".fif.gz", ".set", ".vhdr", ".cnt", ".mff", ".rec")


def _edf_header_units(path: Path) -> list[tuple[str, str]]:
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


def _to_microvolts(ch: dict, orig_unit: str | None, mne_scale: float = 1.0) -> float | None:
    """Factor from MNE's values of channel ``ch`` to microvolts, or None when not a voltage.

    ``orig_unit`` is the file header's physical dimension and ``mne_scale`` the factor MNE
    applied (it knows ``uV``/``µV``/``mV`` case-sensitively; ``"UV"`` (DREAMS) arrives
    unscaled, as microvolt numbers).
    """
    if orig_unit is None:  # FIF and friends: trust MNE's unit
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


def load_mne(path: str | Path) -> Recording:
    """Read EDF/EDF+/BDF/FIF (any file MNE reads) into a :class:`Recording`.

    EEG/EOG/EMG channels (and accelerometer channels, by name) are kept; ECG, respiration,
    SaO2, hypnogram and other channels are dropped. Volts become microvolts.

    Raises
    ------
    ValueError
        When MNE cannot read the file or it has no EEG/EOG/EMG channel.
    """
    import mne

    path = Path(path)
    suffix = path.suffix.lower()
    try:
        if suffix in (".edf", ".bdf", ".gdf"):
            reader = {".edf": mne.io.read_raw_edf, ".bdf": mne.io.read_raw_bdf, ".gdf": mne.io.read_raw_gdf}[suffix]
            kwargs = {"infer_types": True} if suffix != ".gdf" else {}
            raw = reader(path, preload=False, verbose="error", **kwargs)
        else:
            raw = mne.io.read_raw(path, preload=False, verbose="error")
    except Exception as err:  # MNE raises many types for a bad file
        raise ValueError(f"{path}: MNE could not read this file ({type(err).__name__}: {err}). "
                         "Is it a complete EDF/BDF/FIF file?") from err

    orig_units: dict[str, str] = {}
    mne_scale = np.ones(len(raw.ch_names))
    if suffix in (".edf", ".bdf"):
        header_units = _edf_header_units(path)
        extras = getattr(raw, "_raw_extras", [{}])[0]
        if len(header_units) == len(raw.ch_names) and "units" in extras:
            orig_units = {n: u for n, (_, u) in zip(raw.ch_names, header_units, strict=False)}
            mne_scale = np.asarray(extras["units"], dtype=float)
    names: list[str] = []
    types: list[str] = []
    picks: list[int] = []
    scales: list[float] = []
    dropped: list[str] = []
    for i, ch in enumerate(raw.info["chs"]):
        name = ch["ch_name"]
        mne_type = mne.channel_type(raw.info, i)
        guess = guess_channel_type(name, default=mne_type if mne_type in ("eeg", "eog", "emg") else "misc")
        if guess not in ("eeg", "eog", "emg", "accel"):
            continue
        scale = _to_microvolts(ch, orig_units.get(name), float(mne_scale[i])) if guess != "accel" else 1.0
        if scale is None:
            dropped.append(f"{name} (unit {orig_units.get(name)!r})")
            continue
        names.append(name)
        types.append(guess)
        picks.append(i)
        scales.append(scale)
    if not any(t in ("eeg", "eog", "emg") for t in types):
        extra = f" Channels with unknown units: {', '.join(dropped)}." if dropped else ""
        raise ValueError(
            f"{path}: no EEG/EOG/EMG channel in volts found (channels: {raw.ch_names}).{extra} "
            "dreamband needs at least one EEG channel in V, mV or uV."
        )
    data = raw.get_data(picks=picks) * np.asarray(scales)[:, None]
    meas = _aware(raw.info.get("meas_date"))
    warnings: list[str] = [f"dropped signal channel {d}: not a voltage unit" for d in dropped]
    if meas is None:
        meas = dt.datetime.fromtimestamp(0, dt.timezone.utc)
        warnings.append("the file has no start time; using 1970-01-01 UTC")
    first = float(raw.first_time) if meas is not None else 0.0
    ann = [(float(a["onset"]) - first, float(a["duration"]), str(a["description"])) for a in raw.annotations]
    # MNE annotations are relative to meas_date; shift to the first sample
    if raw.annotations.orig_time is None:
        ann = [(o + first, d, s) for o, d, s in ann]
    fmt = suffix.lstrip(".") or "mne"
    return Recording(
        data=data, sfreq=float(raw.info["sfreq"]), channel_names=names, channel_types=types,
        start_time=meas + dt.timedelta(seconds=first), annotations=ann, source_path=path,
        info={"format": fmt, "warnings": warnings, "all_channels": list(raw.ch_names)},
    )
