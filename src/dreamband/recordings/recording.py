"""The in-memory recording every importer returns, and ``load_recording`` which picks the importer.

A :class:`Recording` holds the montage's channels in microvolts (accelerometer in g), its
sampling rate, the start time (timezone-aware) and annotations in seconds from the first
sample. Importers live in their own modules (``edf``/MNE here, ``brainflow_csv``,
``openbci_gui``, ``muse``, and session folders in ``recorder``).
"""

from __future__ import annotations

import datetime as dt
from dataclasses import dataclass, field
from pathlib import Path

import numpy as np

CHANNEL_TYPES = ("eeg", "eog", "emg", "accel", "misc")

#: File suffixes MNE reads that we hand to MNE directly.
MNE_SUFFIXES = (".edf", ".bdf", ".gdf", ".fif", ".fif.gz", ".set", ".vhdr", ".cnt", ".mff", ".rec")


@dataclass
class Recording:
    """A recording in memory: signals, rate, channel names/types, start time, annotations.

    Attributes
    ----------
    data : ndarray, shape (n_channels, n_samples), float64
        EEG/EOG/EMG in microvolts, accelerometer in g. Lost samples may be NaN.
    sfreq : float
        Sampling rate in Hz.
    channel_names : list of str
        One name per row of ``data``.
    channel_types : list of str
        One of ``"eeg"``, ``"eog"``, ``"emg"``, ``"accel"``, ``"misc"`` per row.
    start_time : datetime
        Time of the first sample, timezone-aware.
    annotations : list of (onset_s, duration_s, description)
        Seconds from the first sample.
    raw_brainflow : ndarray, shape (n_board_rows, n_samples), optional
        The board's full rows in BrainFlow's layout, when the source was a BrainFlow CSV.
    board_id : int, optional
        BrainFlow board id, when known.
    source_path : Path, optional
        The file or folder this recording was read from.
    markers : ndarray, shape (n_samples,), optional
        Marker channel (0 where there is none), when the format has one.
    info : dict
        Format name, notes and warnings from the importer (e.g. ``{"format": "edf"}``).
    """

    data: np.ndarray
    sfreq: float
    channel_names: list[str]
    channel_types: list[str]
    start_time: dt.datetime
    annotations: list[tuple[float, float, str]] = field(default_factory=list)
    raw_brainflow: np.ndarray | None = None
    board_id: int | None = None
    source_path: Path | None = None
    markers: np.ndarray | None = None
    info: dict = field(default_factory=dict)

    def __post_init__(self) -> None:
        data = np.asarray(self.data, dtype=np.float64)
        if data.ndim != 2:
            raise ValueError(f"Recording data must be 2-D (n_channels, n_samples), got shape {data.shape}.")
        self.data = data
        self.sfreq = float(self.sfreq)
        if not np.isfinite(self.sfreq) or self.sfreq <= 0:
            raise ValueError(f"Recording sfreq must be a positive number of Hz, got {self.sfreq!r}.")
        self.channel_names = [str(n) for n in self.channel_names]
        self.channel_types = [str(t) for t in self.channel_types]
        if len(self.channel_names) != data.shape[0] or len(self.channel_types) != data.shape[0]:
            raise ValueError(
                f"Recording has {data.shape[0]} channels but {len(self.channel_names)} names and "
                f"{len(self.channel_types)} types."
            )
        bad = [t for t in self.channel_types if t not in CHANNEL_TYPES]
        if bad:
            raise ValueError(f"Unknown channel type(s) {bad}; expected one of {CHANNEL_TYPES}.")
        if not isinstance(self.start_time, dt.datetime) or self.start_time.tzinfo is None:
            raise ValueError("Recording start_time must be a timezone-aware datetime.")
        if self.markers is not None:
            self.markers = np.asarray(self.markers, dtype=np.float64)
            if self.markers.shape != (data.shape[1],):
                raise ValueError(f"markers must have shape ({data.shape[1]},), got {self.markers.shape}.")
        if self.raw_brainflow is not None and self.raw_brainflow.shape[1] != data.shape[1]:
            raise ValueError("raw_brainflow must have as many samples as data.")
        if self.source_path is not None:
            self.source_path = Path(self.source_path)
        self.annotations = [(float(o), float(d), str(s)) for o, d, s in self.annotations]

    @property
    def n_channels(self) -> int:
        """Number of channels."""
        return int(self.data.shape[0])

    @property
    def n_samples(self) -> int:
        """Number of samples per channel."""
        return int(self.data.shape[1])

    @property
    def duration_s(self) -> float:
        """Length in seconds."""
        return self.n_samples / self.sfreq

    def channel_index(self, name: str) -> int:
        """Return the row of channel ``name`` (case-insensitive)."""
        low = [n.lower() for n in self.channel_names]
        if name.lower() in low:
            return low.index(name.lower())
        raise ValueError(f"No channel {name!r} in this recording; it has {self.channel_names}.")

    def pick(self, names: list[str]) -> Recording:
        """Return a new recording with only the channels ``names`` (in that order)."""
        idx = [self.channel_index(n) for n in names]
        return Recording(
            self.data[idx], self.sfreq, [self.channel_names[i] for i in idx],
            [self.channel_types[i] for i in idx], self.start_time, list(self.annotations),
            self.raw_brainflow, self.board_id, self.source_path, self.markers, dict(self.info),
        )

    def frontal_channel(self) -> int:
        """Return the row of the most frontal EEG channel (Fpz, Fp1, Fp2, AF7, AF8, F*, else the first EEG).

        Raises
        ------
        ValueError
            When the recording has no EEG channel.
        """
        eeg = [i for i, t in enumerate(self.channel_types) if t == "eeg"]
        if not eeg:
            raise ValueError(f"The recording has no EEG channel (channels: {self.channel_names}).")
        prefs = ("fpz", "fp1", "fp2", "fp", "af7", "af8", "af", "fz", "f3", "f4", "f")
        for pref in prefs:
            for i in eeg:
                name = self.channel_names[i].lower().replace("eeg", "").strip(" -_")
                if name.startswith(pref):
                    return i
        return eeg[0]


def guess_channel_type(name: str, default: str = "eeg") -> str:
    """Guess a channel's type from its name (``"EOG horizontal"`` -> ``"eog"``).

    Returns ``default`` when the name says nothing.
    """
    low = name.lower()
    if any(k in low for k in ("eog", "loc", "roc", "e1-", "e2-")):
        return "eog"
    if any(k in low for k in ("emg", "chin", "submental")):
        return "emg"
    if any(k in low for k in ("accel", "acc_", "acc ", "accelerometer")):
        return "accel"
    if low in ("pr", "pos", "vab", "vth", "naf", "naf1", "naf2", "phono", "spo2", "hr"):
        return "misc"
    if any(k in low for k in ("ecg", "ekg", "resp", "sao2", "spo2", "temp", "event", "hypnogram",
                              "marker", "status", "pleth", "pulse", "airflow", "thor", "abdo", "light",
                              "position", "snore", "battery")):
        return "misc"
    return default


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


def _sniff(path: Path) -> str:
    """Return the importer name for ``path`` from its suffix and first bytes."""
    name = path.name.lower()
    if path.is_dir():
        return "session"
    if any(name.endswith(s) for s in MNE_SUFFIXES):
        return "mne"
    with open(path, "rb") as fh:
        head = fh.read(4096)
    text = head.decode("utf-8", errors="replace")
    first = text.lstrip("\ufeff").splitlines()[0] if text.strip() else ""
    if first.startswith("%"):
        return "openbci_gui"
    if first.lower().startswith("timestamp") and "raw_tp9" in first.lower():
        return "mind_monitor"
    if first.lower().startswith("timestamps") and "tp9" in first.lower():
        return "muse_lsl"
    if head[:8] in (b"0       ", b"\xffBIOSEMI"):
        raise ValueError(f"{path}: this looks like an EDF/BDF file; give it a .edf/.bdf suffix so MNE reads it.")
    if "\t" in first:
        return "brainflow_csv"
    if first.startswith("[") and first.rstrip().endswith("]"):
        return "single_column"
    try:
        float(first)
        return "single_column"
    except ValueError:
        pass
    return "unknown"


def load_recording(path: str | Path, board_id: int | str | None = None, sfreq: float | None = None) -> Recording:
    """Load any recording dreamband knows: EDF/EDF+/BDF/FIF (MNE), BrainFlow CSV, OpenBCI GUI
    ``.txt``, Muse (Mind Monitor or muse-lsl CSV), or a dreamband session folder.

    Parameters
    ----------
    path : str or Path
        File or session folder.
    board_id : int or str, optional
        BrainFlow board id (or name: synthetic, cyton, ganglion, cyton-daisy, muse-2, muse-s) of
        a BrainFlow CSV without a ``session.json`` sidecar (``--board`` / ``--master-board``);
        without it the board is inferred from the columns and rate, or an error asks for it.
    sfreq : float, optional
        Sampling rate for formats that do not state it (single-column text).

    Returns
    -------
    Recording

    Raises
    ------
    FileNotFoundError
        When ``path`` does not exist.
    ValueError
        When the format is unknown or the file is damaged (the message says what is wrong).
    """
    path = Path(path).expanduser()
    if not path.exists():
        raise FileNotFoundError(f"No such recording: {path}")
    kind = _sniff(path)
    if kind == "session":
        from dreamband.recordings.recorder import load_session

        return load_session(path)
    if kind == "mne":
        return load_mne(path)
    if kind == "openbci_gui":
        from dreamband.recordings.openbci_gui import load_openbci_gui

        return load_openbci_gui(path)
    if kind in ("mind_monitor", "muse_lsl"):
        from dreamband.recordings.muse import load_muse

        return load_muse(path)
    if kind == "brainflow_csv":
        from dreamband.recordings.brainflow_csv import load_brainflow_csv

        return load_brainflow_csv(path, board_id=board_id)
    if kind == "single_column":
        from dreamband.recordings.textsignal import load_single_column

        return load_single_column(path, sfreq=sfreq)
    raise ValueError(
        f"{path}: unknown recording format. dreamband reads EDF/EDF+/BDF/FIF, BrainFlow CSV "
        "(tab-separated), OpenBCI GUI .txt, Muse Mind Monitor / muse-lsl CSV, and session folders."
    )


def is_number(text: str) -> bool:
    """Return True when ``text`` parses as a float (the importers' test of a numeric cell)."""
    try:
        float(text)
        return True
    except ValueError:
        return False
