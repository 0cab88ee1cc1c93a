"""The in-memory :class:`Recording` every reader returns, and the helpers all readers share.

This module holds data, not formats: the readers live one per format beside it
(``mne_io`` for EDF/BDF/FIF, ``brainflow_csv``, ``openbci_gui``, ``muse``, ``textsignal``, and
session folders in ``recorder``), and :func:`dreamband.recordings.recording.read_recording`
picks one, as MNE keeps ``BaseRaw`` apart from ``mne/io/<format>/``. It imports no reader.
"""

from __future__ import annotations

import datetime as dt
from dataclasses import dataclass, field
from pathlib import Path
from typing import Any

import numpy as np

from dreamband.firmware_bridge.montage import pick_staging_channels

CHANNEL_TYPES = ("eeg", "eog", "emg", "accel", "misc")


class RecordingChannels:
    """What :class:`Recording` and the file-backed ``EdfRecording`` share: length, channel lookup
    and the staging channel, from ``sfreq``, ``n_samples``, ``channel_names`` and ``channel_types``."""

    sfreq: float
    channel_names: list[str]
    channel_types: list[str]
    n_samples: int

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

    def frontal_channel(self) -> int:
        """Return the row of the most frontal EEG channel: the one channel picker's choice
        (:func:`~dreamband.firmware_bridge.montage.pick_staging_channels`: Fpz, Fp1, Fp2, AF7,
        AF8, Fz, F3, F4, other F, else the first EEG).

        Raises
        ------
        ValueError
            When the recording has no EEG channel.
        """
        if "eeg" not in self.channel_types:
            raise ValueError(f"The recording has no EEG channel (channels: {self.channel_names}).")
        return pick_staging_channels(self.channel_names, self.channel_types, 1)[0]


@dataclass
class Recording(RecordingChannels):
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

    def block(self, start: int, stop: int) -> np.ndarray:
        """A copy of samples ``start:stop`` of every channel (what
        :class:`~dreamband.recordings.edf_recording.EdfRecording` decodes from its file)."""
        return self.data[:, start:stop].copy()

    def marker_block(self, start: int, stop: int) -> np.ndarray:
        """The marker channel over samples ``start:stop`` (zeros when the recording has none)."""
        if self.markers is None:
            return np.zeros(max(0, min(stop, self.n_samples) - start))
        return self.markers[start:stop].copy()

    @classmethod
    def from_mne(cls, raw: Any, path: str | Path | None = None) -> Recording:
        """A recording of an ``mne.io.Raw`` (any MNE reader, or a ``RawArray``).

        EEG/EOG/EMG channels (and accelerometer channels, by name) are kept, in microvolts;
        ECG, respiration, SaO2, stim and other channels are dropped. Annotations come along
        (seconds from the first sample).

        Parameters
        ----------
        raw : mne.io.BaseRaw
        path : str or Path, optional
            The file ``raw`` was read from (default: its own file). For EDF/BDF the header's
            units are read from it (DREAMS' ``"UV"``, which MNE leaves unscaled).

        Returns
        -------
        Recording

        Raises
        ------
        TypeError
            When ``raw`` is not an MNE Raw.
        ValueError
            When it has no EEG/EOG/EMG channel in volts.

        Examples
        --------
        >>> import mne, numpy as np
        >>> info = mne.create_info(["Fpz", "ECG"], 100.0, ["eeg", "ecg"])
        >>> raw = mne.io.RawArray(np.full((2, 3000), 20e-6), info, verbose="error")
        >>> rec = Recording.from_mne(raw)
        >>> rec.channel_names, round(float(rec.data[0, 0]), 6)
        (['Fpz'], 20.0)
        """
        from dreamband.recordings.mne_raw import raw_fields

        return cls(**raw_fields(raw, path, guess_channel_type))

    def to_mne(self) -> Any:
        """This recording as an ``mne.io.RawArray`` (volts; accelerometer as ``misc``, in g).

        ``meas_date`` is :attr:`start_time` (UTC) and the annotations are MNE annotations;
        :meth:`from_mne` of the result gives this recording back.

        Examples
        --------
        >>> import datetime as dt, numpy as np
        >>> rec = Recording(np.full((1, 6000), 20.0), 100.0, ["Fpz"], ["eeg"],
        ...                 dt.datetime(2024, 1, 1, 23, 0, tzinfo=dt.timezone.utc), [(30.0, 30.0, "Sleep stage W")])
        >>> raw = rec.to_mne()
        >>> raw.ch_names, float(raw.get_data()[0, 0]), raw.annotations.description[0]
        (['Fpz'], 2e-05, 'Sleep stage W')
        """
        from dreamband.recordings.mne_raw import fields_to_raw

        return fields_to_raw(self.data, self.sfreq, self.channel_names, self.channel_types, self.start_time,
                             self.annotations)

    def pick(self, names: list[str]) -> Recording:
        """Return a new recording with only the channels ``names`` (in that order)."""
        idx = [self.channel_index(n) for n in names]
        return Recording(
            self.data[idx], self.sfreq, [self.channel_names[i] for i in idx],
            [self.channel_types[i] for i in idx], self.start_time, list(self.annotations),
            self.raw_brainflow, self.board_id, self.source_path, self.markers, dict(self.info),
        )



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


def is_number(text: str) -> bool:
    """Return True when ``text`` parses as a float (the importers' test of a numeric cell)."""
    try:
        float(text)
        return True
    except ValueError:
        return False
