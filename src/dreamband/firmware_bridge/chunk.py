"""The one stream protocol every source speaks (a live board, a playback file, a replay).

A source is read by polling: each ``read()`` returns a :class:`StreamChunk` with the samples
that arrived since the last call (possibly zero). The session engine does not know whether
the chunk came from BrainFlow or from a file.
"""

from __future__ import annotations

from dataclasses import dataclass, field
from typing import Literal, Protocol, runtime_checkable

import numpy as np

ChannelType = Literal["eeg", "eog", "emg", "accel", "misc"]


@dataclass(frozen=True)
class StreamChunk:
    """Samples that arrived since the previous read.

    Attributes
    ----------
    data : ndarray, shape (n_channels, n_samples), float64
        The montage's channels in montage order. EEG/EOG/EMG in microvolts, accelerometer in g.
        A sample lost in transmission may be NaN.
    timestamps : ndarray, shape (n_samples,), float64
        Sample times in seconds (UNIX time for live boards, recording time for replays).
    markers : ndarray, shape (n_samples,), float64
        Marker value at each sample (0 where there is none).
    first_sample : int
        Index of the first sample of this chunk counted from the start of the stream.
    raw : ndarray, shape (n_board_rows, n_samples), float64, optional
        The board's full rows in BrainFlow's layout (what a BrainFlow CSV file holds), or None
        for sources that have no such layout.
    """

    data: np.ndarray
    timestamps: np.ndarray
    markers: np.ndarray
    first_sample: int = 0
    raw: np.ndarray | None = None

    @property
    def n_samples(self) -> int:
        """Number of samples in the chunk."""
        return int(self.data.shape[1])

    @classmethod
    def empty(cls, n_channels: int, first_sample: int = 0, n_board_rows: int | None = None) -> StreamChunk:
        """Return a chunk with no samples."""
        raw = None if n_board_rows is None else np.empty((n_board_rows, 0))
        return cls(np.empty((n_channels, 0)), np.empty(0), np.empty(0), first_sample, raw)


@dataclass(frozen=True)
class StreamEvent:
    """Something that happened to the stream itself (not to the sleeper).

    Attributes
    ----------
    kind : str
        ``"dropout"`` (no data for ``timeout``), ``"reconnect_attempt"``, ``"reconnected"``,
        ``"gap"`` (samples lost, from the package counter), ``"ended"`` (a file source ran out),
        ``"error"``.
    time : float
        Stream time (seconds, same clock as ``StreamChunk.timestamps``) of the event.
    message : str
        A sentence for a person.
    details : dict
        Numbers behind the event, e.g. ``{"lost_samples": 12, "lost_s": 0.048}``.
    """

    kind: str
    time: float
    message: str
    details: dict = field(default_factory=dict)


@dataclass
class StreamStats:
    """Running counters of a stream."""

    samples_received: int = 0
    samples_lost: int = 0
    gaps: int = 0
    dropouts: int = 0
    reconnects: int = 0
    seconds_lost: float = 0.0
    achieved_rate: float = 0.0


@runtime_checkable
class Source(Protocol):
    """What the session engine needs from a source of samples."""

    sfreq: float
    channel_names: list[str]
    channel_types: list[ChannelType]

    def start(self) -> None:
        """Open the source and begin streaming."""

    def read(self) -> StreamChunk:
        """Return the samples that arrived since the previous call (may be empty)."""

    def poll_events(self) -> list[StreamEvent]:
        """Return stream events that happened since the previous call."""

    def insert_marker(self, value: float) -> None:
        """Insert a marker into the stream (non-zero float)."""

    def stop(self) -> None:
        """Stop streaming and release the device. Safe to call twice."""

    @property
    def finished(self) -> bool:
        """True when a finite source (a file) has delivered everything."""
