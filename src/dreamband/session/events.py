"""Typed events that the session engine publishes to its sinks (UI, recorder, log, network).

Every event carries ``time``: the data's own clock in seconds since the session start
(sample index / sfreq), never the wall clock, so a replayed night gives the same events at
the same times as it did live. ``to_dict()`` gives a JSON-ready dict (used by the event log and
network out), encoded by the package's one encoder, :mod:`dreamband.recordings.jsonio`.
"""

from __future__ import annotations

import dataclasses
from dataclasses import dataclass, field
from typing import Any, ClassVar

from dreamband.firmware_bridge.chunk import StreamChunk
from dreamband.recordings.jsonio import jsonable


@dataclass(frozen=True)
class Event:
    """Base of all session events."""

    kind: ClassVar[str] = "event"
    time: float

    def to_dict(self) -> dict[str, Any]:
        """Return a JSON-ready dict with a ``"kind"`` key (:func:`~dreamband.recordings.jsonio.jsonable`: NaN -> None)."""
        out = {"kind": self.kind}
        for f in dataclasses.fields(self):
            if f.name == "chunk":
                continue
            out[f.name] = jsonable(getattr(self, f.name))
        return out


@dataclass(frozen=True)
class SessionStarted(Event):
    """The session began. ``info`` holds board, montage, rates, start time (ISO, with zone)."""

    kind: ClassVar[str] = "session_started"
    info: dict = field(default_factory=dict)


@dataclass(frozen=True)
class SessionEnded(Event):
    """The session ended; ``reason`` says why (user stop, max length, source finished...)."""

    kind: ClassVar[str] = "session_ended"
    reason: str = ""


@dataclass(frozen=True)
class SamplesArrived(Event):
    """New samples (for traces and the recorder). Not written to the event log."""

    kind: ClassVar[str] = "samples"
    chunk: StreamChunk | None = None


@dataclass(frozen=True)
class EpochStaged(Event):
    """A 30-s epoch was staged.

    ``stage`` is -1 when quality said the epoch cannot be staged; ``probabilities`` has one
    value per stage (W, N1, N2, N3, REM), NaN when unstaged.
    """

    kind: ClassVar[str] = "epoch"
    epoch_index: int = 0
    onset: float = 0.0
    stage: int = -1
    probabilities: tuple[float, ...] = ()
    confidence: float = float("nan")
    quality_ok: bool = True
    quality_reasons: tuple[str, ...] = ()
    features: dict = field(default_factory=dict)


@dataclass(frozen=True)
class QualityChanged(Event):
    """A channel's quality changed (``status``: good / noisy / railed / flat / off-head / lost)."""

    kind: ClassVar[str] = "quality"
    channel: str = ""
    status: str = "good"
    reason: str = ""


@dataclass(frozen=True)
class StateChanged(Event):
    """The night's state after an epoch; ``state`` is a snapshot dict of the NightState."""

    kind: ClassVar[str] = "state"
    plain: str = ""
    state: dict = field(default_factory=dict)


@dataclass(frozen=True)
class TriggerFired(Event):
    """A wake trigger or cue fired.

    ``policy`` names the policy (smart_alarm, nightmare_wake, dream_report, rem_cue,
    safety_max_length, safety_signal_lost ...); ``evidence`` holds the numbers behind it.
    """

    kind: ClassVar[str] = "trigger"
    policy: str = ""
    action: str = ""
    intensity: float = 0.0
    reason: str = ""
    evidence: dict = field(default_factory=dict)


@dataclass(frozen=True)
class ActionUpdate(Event):
    """An action ramped, escalated or stopped (``phase``: ramp / escalate / stop)."""

    kind: ClassVar[str] = "action"
    policy: str = ""
    phase: str = ""
    intensity: float = 0.0
    reason: str = ""


@dataclass(frozen=True)
class StreamNotice(Event):
    """Base of the stream's own events (not the sleeper's): what happened to the data link.

    ``stream_kind`` is the source's :class:`~dreamband.firmware_bridge.chunk.StreamEvent` kind
    (``"dropout"``, ``"gap"``, ``"reconnect_attempt"``, ``"reconnected"``, ``"ended"``,
    ``"error"``); each kind has its own subclass below, which sets it. ``message`` is a sentence
    for a person, ``details`` the numbers behind it. In the event log every subclass is written
    as ``{"kind": "stream", "stream_kind": ...}``, as before the split.
    """

    kind: ClassVar[str] = "stream"
    stream_kind: str = ""
    message: str = ""
    details: dict = field(default_factory=dict)


#: Deprecated name of :class:`StreamNotice` (every stream event was a ``Dropout`` before the
#: split); ``isinstance(e, Dropout)`` still matches every stream event.
Dropout = StreamNotice


@dataclass(frozen=True)
class StreamDropout(StreamNotice):
    """No sample arrived for the source's dropout timeout; reconnect attempts follow."""

    stream_kind: str = field(default="dropout", init=False)


@dataclass(frozen=True)
class StreamGap(StreamNotice):
    """Samples were lost in transmission (from the package counter); ``details["lost_samples"]``."""

    stream_kind: str = field(default="gap", init=False)


@dataclass(frozen=True)
class ReconnectAttempt(StreamNotice):
    """One attempt to reopen the board's session (``details["ok"]``, ``details["attempt"]``)."""

    stream_kind: str = field(default="reconnect_attempt", init=False)


@dataclass(frozen=True)
class Reconnected(StreamNotice):
    """The board streams again after a dropout; ``details`` holds the gap it left."""

    stream_kind: str = field(default="reconnected", init=False)


@dataclass(frozen=True)
class StreamEnded(StreamNotice):
    """The source has no more data (a file ran out, or the board did not come back)."""

    stream_kind: str = field(default="ended", init=False)


@dataclass(frozen=True)
class StreamError(StreamNotice):
    """The source failed (``details["error"]``)."""

    stream_kind: str = field(default="error", init=False)


#: The event class of each source kind (the field's default is also the class attribute).
STREAM_EVENT_CLASSES: dict[str, type[StreamNotice]] = {
    str(c.stream_kind): c
    for c in (StreamDropout, StreamGap, ReconnectAttempt, Reconnected, StreamEnded, StreamError)
}


@dataclass(frozen=True)
class MarkerInserted(Event):
    """A marker went into the stream (trigger events, user marks)."""

    kind: ClassVar[str] = "marker"
    value: float = 0.0
    label: str = ""


@dataclass(frozen=True)
class LogMessage(Event):
    """A line for the person running the session (settings changes, safety overrides...)."""

    kind: ClassVar[str] = "log"
    level: str = "info"
    message: str = ""


@dataclass(frozen=True)
class RecordingWarning(LogMessage):
    """The recording's writes failed (``writing=False``) or work again (``writing=True``).

    A :class:`LogMessage` (same ``"log"`` kind in the event log, printed the same way by the
    headless console), so that the window can keep a banner up while the disk refuses writes
    and take it down when they succeed again.
    """

    writing: bool = True


def stream_event(time: float, stream_kind: str, message: str = "", details: dict | None = None) -> StreamNotice:
    """The session event for one of the source's own events (``StreamEvent.kind``).

    A known kind gives its own class (``"gap"`` -> :class:`StreamGap` ...); an unknown one the
    base :class:`StreamNotice` with that ``stream_kind``, so a new source kind is not lost.
    """
    cls = STREAM_EVENT_CLASSES.get(stream_kind)
    if cls is None:
        return StreamNotice(time, stream_kind, message, dict(details or {}))
    return cls(time, message, dict(details or {}))
