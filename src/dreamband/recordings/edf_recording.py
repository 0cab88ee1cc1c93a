"""``EdfRecording``: an EDF/BDF file (or a session's ``session.bdf``) decoded a block at a time.

A :class:`~dreamband.recordings.base.Recording` holds the whole night as float64 (an 8-h,
4-channel, 250-Hz night is 230 MB; 16 channels 920 MB). A replay, the stager and the report
only ever need a few seconds or a few epochs at once, so this class keeps the header, the
annotations, the gaps and the markers, and decodes samples when asked
(:meth:`EdfRecording.block`), through :func:`~dreamband.recordings.edf_channels.read_edf_span`,
the one EDF/BDF decoder. :meth:`EdfRecording.load` is the whole-file read
(``read_recording``): the very same decoding, so any block equals the same samples of a whole
read bit for bit (tested).

Samples inside gap spans (``BAD_ACQ_SKIP`` of a session archive: lost in a dropout, or the
padding of the last record) come back as NaN, never as zeros.

:func:`open_edf` opens a plain EDF/EDF+/BDF/BDF+ file with the channels, names, units and
annotations of the MNE path (:func:`~dreamband.recordings.mne_io.load_mne`); it raises
:class:`~dreamband.recordings.edf_channels.FastReadUnsupported` for what only MNE reads
(EDF+D, a kept signal below the file's top rate, a fractional start), and the caller uses MNE.
"""

from __future__ import annotations

import datetime as dt
from pathlib import Path
from typing import TYPE_CHECKING

import numpy as np

from dreamband.recordings.base import Recording, RecordingChannels

if TYPE_CHECKING:  # edf_channels (Numba) is imported when a file is opened, not with this module
    from dreamband.recordings.edf_channels import EdfHeader


class EdfRecording(RecordingChannels):
    """A recording whose samples stay in their file until a block of them is asked for.

    It has the attributes of a :class:`~dreamband.recordings.base.Recording` but ``data``
    (``sfreq``, ``channel_names``, ``channel_types``, ``start_time``, ``annotations``,
    ``board_id``, ``source_path``, ``info``, ``raw_brainflow`` = None) and gives samples
    through :meth:`block`.

    Parameters
    ----------
    header : EdfHeader
    rows : list of int
        The signals of ``header`` this recording holds, in order (all at the top rate).
    channel_names, channel_types : list of str
        One per row.
    start_time : datetime
        Time of the first sample (aware).
    annotations : list of (onset_s, duration_s, text)
    n_samples : int, optional
        Samples per channel (default every sample of the complete records; fewer when the last
        record is padded).
    gaps : list of (int, int), optional
        Sample spans ``[a, b)`` that read back as NaN.
    markers : list of (int, float), optional
        ``(sample, value)`` of the marker channel (0 elsewhere).
    board_id : int, optional
    source_path : Path, optional
    info : dict, optional
    """

    raw_brainflow = None

    def __init__(self, header: EdfHeader, rows: list[int], channel_names: list[str], channel_types: list[str],
                 start_time: dt.datetime, annotations: list[tuple[float, float, str]], *,
                 n_samples: int | None = None, gaps: list[tuple[int, int]] | None = None,
                 markers: list[tuple[int, float]] | None = None, board_id: int | None = None,
                 source_path: Path | None = None, info: dict | None = None) -> None:
        if len(rows) != len(channel_names) or len(rows) != len(channel_types) or not rows:
            raise ValueError(f"EdfRecording has {len(rows)} rows but {len(channel_names)} names and "
                             f"{len(channel_types)} types.")
        if start_time.tzinfo is None:
            raise ValueError("EdfRecording start_time must be a timezone-aware datetime.")
        self.header = header
        self.rows = [int(r) for r in rows]
        self.sfreq = float(header.top_sfreq)
        self.channel_names = [str(n) for n in channel_names]
        self.channel_types = [str(t) for t in channel_types]
        self.start_time = start_time
        self.annotations = [(float(o), float(d), str(s)) for o, d, s in annotations]
        total = header.n_samples
        self._n = total if n_samples is None else max(0, min(int(n_samples), total))
        spans = sorted((max(int(a), 0), min(int(b), self._n)) for a, b in (gaps or []))
        self._gaps = np.array([(a, b) for a, b in spans if a < b], dtype=np.int64).reshape(-1, 2)
        self.has_markers = markers is not None  # a marker channel (session archives), even when empty
        marks = sorted((int(i), float(v)) for i, v in (markers or []) if 0 <= int(i) < self._n)
        self._marker_at = np.array([i for i, _ in marks], dtype=np.int64)
        self._marker_value = np.array([v for _, v in marks], dtype=np.float64)
        self.board_id = board_id
        self.source_path = Path(source_path) if source_path is not None else header.path
        self.info = dict(info or {})

    # -- the Recording attributes ----------------------------------------------------------
    @property
    def n_channels(self) -> int:
        """Number of channels."""
        return len(self.rows)

    @property
    def n_samples(self) -> int:
        """Number of samples per channel."""
        return self._n

    @property
    def markers(self) -> np.ndarray | None:
        """The whole marker channel, None without one (a night of float64: prefer :meth:`marker_block`)."""
        return self.marker_block(0, self._n) if self.has_markers else None

    def pick(self, names: list[str]) -> EdfRecording:
        """A recording of only the channels ``names`` (in that order); the others are never decoded."""
        idx = [self.channel_index(n) for n in names]
        markers = list(zip(self._marker_at.tolist(), self._marker_value.tolist(), strict=True)) \
            if self.has_markers else None
        return EdfRecording(self.header, [self.rows[i] for i in idx], [self.channel_names[i] for i in idx],
                            [self.channel_types[i] for i in idx], self.start_time, list(self.annotations),
                            n_samples=self._n, gaps=[tuple(g) for g in self._gaps.tolist()], markers=markers,
                            board_id=self.board_id, source_path=self.source_path, info=dict(self.info))

    # -- samples ---------------------------------------------------------------------------
    @property
    def shape(self) -> tuple[int, int]:
        """``(n_channels, n_samples)``, as the whole array would be."""
        return (len(self.rows), self._n)

    def block(self, start: int, stop: int) -> np.ndarray:
        """Samples ``start:stop`` of every channel, decoded now.

        Returns
        -------
        ndarray, shape (n_channels, stop - start), float64
            Microvolts (accelerometer in g); NaN inside the gap spans.

        Raises
        ------
        ValueError
            When the span is outside ``0:n_samples``.
        """
        from dreamband.recordings.edf_channels import read_edf_span

        start, stop = int(start), int(stop)
        if not 0 <= start <= stop <= self._n:
            raise ValueError(f"Samples {start}:{stop} are outside this recording's 0:{self._n}.")
        out = read_edf_span(self.header, self.rows, start, stop, voltages_only=False)
        if self._gaps.size:
            hit = (self._gaps[:, 0] < stop) & (self._gaps[:, 1] > start)
            for a, b in self._gaps[hit]:
                out[:, max(a, start) - start : min(b, stop) - start] = np.nan
        return out

    def marker_block(self, start: int, stop: int) -> np.ndarray:
        """The marker channel over samples ``start:stop`` (0 where there is no marker)."""
        out = np.zeros(max(0, int(stop) - int(start)))
        a, b = np.searchsorted(self._marker_at, [start, stop])
        out[self._marker_at[a:b] - start] = self._marker_value[a:b]
        return out

    def load(self) -> Recording:
        """The whole recording in memory: :meth:`block` of every sample (the same decoding)."""
        return Recording(data=self.block(0, self._n), sfreq=self.sfreq, channel_names=list(self.channel_names),
                         channel_types=list(self.channel_types), start_time=self.start_time,
                         annotations=list(self.annotations), board_id=self.board_id, source_path=self.source_path,
                         markers=self.marker_block(0, self._n) if self.has_markers else None,
                         info=dict(self.info))


def open_edf(path: str | Path) -> EdfRecording:
    """Open an EDF/EDF+/BDF/BDF+ file as the MNE path reads it, decoding nothing yet.

    The channels kept, their names, types and units are those of
    :func:`~dreamband.recordings.mne_io.load_mne` (EEG/EOG/EMG in a voltage unit, and
    accelerometer channels by name; ECG, respiration, stim ... dropped); the annotations are the
    file's EDF+ annotations (seconds from the first sample).

    Raises
    ------
    FileNotFoundError, ValueError
        As :func:`~dreamband.recordings.edf_channels.read_edf_header`.
    FastReadUnsupported
        For what needs MNE's reader: EDF+D, a kept signal below the file's top rate, duplicate
        names, a first record that does not start at 0 s, or no EEG/EOG/EMG channel (MNE's
        error then says what is there).
    """
    from dreamband.recordings.edf_channels import (
        FastReadUnsupported,
        first_record_onset,
        read_edf_annotations,
        read_edf_header,
    )

    header = read_edf_header(path)
    rows, warnings = [], list(header.warnings)
    for i, s in enumerate(header.signals):
        if s.kind not in ("eeg", "eog", "emg", "accel"):
            continue
        if s.kind != "accel" and s.uv_per_unit is None:
            warnings.append(f"dropped signal channel {s.name} (unit {s.unit!r}): not a voltage unit")
            continue
        rows.append(i)
    names = [header.signals[r].name for r in rows]
    types = [header.signals[r].kind for r in rows]
    if not any(t in ("eeg", "eog", "emg") for t in types):
        raise FastReadUnsupported(f"{header.path}: no EEG/EOG/EMG channel in volts.")
    if any(header.signals[r].sfreq != header.top_sfreq for r in rows):
        raise FastReadUnsupported(f"{header.path}: a kept signal is stored below the file's top rate.")
    if len(set(header.channel_names)) != len(header.channel_names):
        raise FastReadUnsupported(f"{header.path}: two signals have the same name.")
    if first_record_onset(header) != 0.0:
        raise FastReadUnsupported(f"{header.path}: the first data record does not start at 0 s.")
    annotations = sorted(read_edf_annotations(header), key=lambda a: a[0])  # MNE keeps them by onset
    return EdfRecording(header, rows, names, types, header.start_time, annotations, source_path=header.path,
                        info={"format": header.format, "warnings": warnings, "all_channels": header.channel_names})
