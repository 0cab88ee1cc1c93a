"""``RecordingSource``: a :class:`~dreamband.recordings.recording.Recording` played as a stream.

It speaks the :class:`~dreamband.firmware_bridge.chunk.Source` protocol, so the session engine
cannot tell a replay from a live board. At ``speed=1`` (or N) the samples are released paced
by the wall clock since ``start()`` (N seconds of recording per second); at ``speed="max"``
every ``read()`` returns a fixed-size chunk, as fast as the caller reads.

Clocks: ``first_sample`` counts from the recording's first sample (a seek jumps it), and
``timestamps`` are recording time, i.e. seconds since the recording's first sample
(``index / sfreq``). The wall-clock time of day of a sample is ``start_time + timestamp``.
"""

from __future__ import annotations

import threading
import time
from collections.abc import Callable

import numpy as np

from dreamband.firmware_bridge.chunk import StreamChunk, StreamEvent
from dreamband.recordings.base import Recording
from dreamband.recordings.edf_recording import EdfRecording

#: slowest replay speed accepted (slower plays nothing a person could wait for)
MIN_SPEED: float = 0.1


def parse_speed(speed: float | str | None) -> float | str:
    """Return ``"max"`` or a positive float from ``1``, ``"4"``, ``"4x"``, ``"max"`` or None (1.0)."""
    if speed is None:
        return 1.0
    if isinstance(speed, str):
        s = speed.strip().lower()
        if s in ("max", "fast", "inf"):
            return "max"
        s = s.removesuffix("x")
        try:
            value = float(s)
        except ValueError:
            raise ValueError(f"Replay speed {speed!r} is not a number or 'max' (e.g. 1, 10, max).") from None
    else:
        value = float(speed)
    if not np.isfinite(value) or value <= 0:
        raise ValueError(f"Replay speed must be positive (e.g. 1, 10) or 'max', got {speed!r}.")
    if value < MIN_SPEED:
        raise ValueError(f"Replay speed {speed!r} is too slow: an 8-h night would take {8.0 / value:.3g} hours. "
                         f"Use a speed of at least {MIN_SPEED:g} (1 is real time; 10, 600 or max go faster).")
    return value


class RecordingSource:
    """Replay a recording through the :class:`Source` protocol.

    Parameters
    ----------
    recording : Recording or EdfRecording
        What to play: in memory, or an EDF/BDF file (a session's archive) whose samples are
        decoded a chunk at a time (``read()`` asks the recording for ``block(start, stop)``).
    speed : float or "max"
        1.0 = real time, N = N times faster, ``"max"`` = as fast as the caller reads.
    seek_s : float
        Start this many seconds into the recording.
    chunk_s : float
        Size of each chunk at ``speed="max"`` (seconds of recording).
    clock : callable, optional
        Monotonic clock in seconds (tests pass a fake one); default ``time.monotonic``.
    """

    def __init__(
        self,
        recording: Recording,
        speed: float | str = 1.0,
        seek_s: float = 0.0,
        chunk_s: float = 1.0,
        clock: Callable[[], float] | None = None,
    ) -> None:
        if not isinstance(recording, (Recording, EdfRecording)):
            raise TypeError(f"RecordingSource needs a Recording or an EdfRecording, got {type(recording).__name__}.")
        if chunk_s <= 0:
            raise ValueError(f"chunk_s must be positive, got {chunk_s}.")
        self.recording = recording
        self.sfreq: float = recording.sfreq
        self.channel_names: list[str] = list(recording.channel_names)
        self.channel_types: list[str] = list(recording.channel_types)
        self.start_time = recording.start_time
        self._speed = parse_speed(speed)
        self._chunk_n = max(1, int(round(chunk_s * self.sfreq)))
        self._clock = clock or time.monotonic
        self._lock = threading.Lock()
        self._pos = 0
        self._anchor_pos = 0
        self._anchor_t = 0.0
        self._started = False
        self._stopped = False
        self._paused = False
        self._ended_reported = False
        self._pending_markers: list[float] = []
        self._events: list[StreamEvent] = []
        self.seek(seek_s)

    # -- Source protocol ---------------------------------------------------------------------
    def start(self) -> None:
        """Begin playback (the wall clock starts now)."""
        with self._lock:
            self._started = True
            self._stopped = False
            self._anchor_t = self._clock()
            self._anchor_pos = self._pos

    def read(self) -> StreamChunk:
        """Return the samples due since the previous call (see the module docstring for pacing)."""
        rec = self.recording
        with self._lock:
            n_total = rec.n_samples
            if not self._started and not self._stopped:
                self._started = True
                self._anchor_t = self._clock()
                self._anchor_pos = self._pos
            if not self._started or self._stopped or self._paused or self._pos >= n_total:
                self._check_end()
                return self._empty()
            if self._speed == "max":
                stop = min(self._pos + self._chunk_n, n_total)
            else:
                elapsed = max(0.0, self._clock() - self._anchor_t)
                due = self._anchor_pos + int(np.floor(elapsed * self._speed * self.sfreq + 1e-9))
                stop = min(max(due, self._pos), n_total)
            start = self._pos
            self._pos = stop
            chunk = self._slice(start, stop)
            self._check_end()
            return chunk

    def poll_events(self) -> list[StreamEvent]:
        """Return stream events since the last call (``"ended"`` once at the end)."""
        with self._lock:
            out, self._events = self._events, []
        return out

    def insert_marker(self, value: float) -> None:
        """Put a marker on the next sample delivered."""
        value = float(value)
        if value == 0 or not np.isfinite(value):
            raise ValueError(f"A marker must be a non-zero finite number, got {value!r}.")
        with self._lock:
            self._pending_markers.append(value)

    def stop(self) -> None:
        """Stop playback. Safe to call twice."""
        with self._lock:
            self._stopped = True

    @property
    def finished(self) -> bool:
        """True when every sample has been delivered."""
        return self._pos >= self.recording.n_samples

    # -- replay controls ---------------------------------------------------------------------
    def seek(self, seconds: float) -> None:
        """Jump to ``seconds`` from the recording start (clamped to [0, duration])."""
        seconds = float(seconds)
        if not np.isfinite(seconds):
            raise ValueError(f"Cannot seek to {seconds!r} s.")
        pos = int(round(min(max(seconds, 0.0), self.recording.duration_s) * self.sfreq))
        with self._lock:
            self._pos = min(pos, self.recording.n_samples)
            self._anchor_pos = self._pos
            self._anchor_t = self._clock()
            self._ended_reported = False

    def pause(self) -> None:
        """Stop releasing samples until :meth:`resume`."""
        with self._lock:
            self._paused = True

    def resume(self) -> None:
        """Continue after :meth:`pause` (paced from now)."""
        with self._lock:
            self._paused = False
            self._anchor_t = self._clock()
            self._anchor_pos = self._pos

    @property
    def paused(self) -> bool:
        """True while paused."""
        return self._paused

    @property
    def speed(self) -> float | str:
        """Current speed (float or ``"max"``)."""
        return self._speed

    def set_speed(self, speed: float | str) -> None:
        """Change the speed (1, N or ``"max"``) without losing the position."""
        value = parse_speed(speed)
        with self._lock:
            self._speed = value
            self._anchor_t = self._clock()
            self._anchor_pos = self._pos

    @property
    def position_s(self) -> float:
        """Recording time of the next sample to deliver, in seconds."""
        return self._pos / self.sfreq

    @property
    def duration_s(self) -> float:
        """Length of the recording in seconds."""
        return self.recording.duration_s

    # -- helpers -----------------------------------------------------------------------------
    def _empty(self) -> StreamChunk:
        rows = None if self.recording.raw_brainflow is None else self.recording.raw_brainflow.shape[0]
        return StreamChunk.empty(self.recording.n_channels, self._pos, rows)

    def _slice(self, start: int, stop: int) -> StreamChunk:
        rec = self.recording
        data = rec.block(start, stop)  # a copy, or decoded from the file now
        ts = np.arange(start, stop, dtype=np.float64) / self.sfreq
        markers = rec.marker_block(start, stop)
        if self._pending_markers and stop > start:
            markers[0] = self._pending_markers.pop(0)
        raw = None if rec.raw_brainflow is None else rec.raw_brainflow[:, start:stop].copy()
        return StreamChunk(data, ts, markers, start, raw)

    def _check_end(self) -> None:
        if self._pos >= self.recording.n_samples and not self._ended_reported:
            self._ended_reported = True
            self._events.append(StreamEvent(
                "ended", self._pos / self.sfreq,
                f"The recording ended after {self.recording.duration_s:.1f} s.",
                {"samples": self.recording.n_samples},
            ))
