"""LSL out (``--lsl-out``): the session's events and stage probabilities as Lab Streaming Layer outlets.

Two outlets, so LabRecorder records them in one XDF file beside the EEG, time-aligned:

- ``dreamband-events`` (type ``Markers``, irregular rate, one string channel): every event but the
  samples (stages with probabilities, state changes, triggers with their evidence, markers,
  dropouts, session start/end), one strict-JSON object per sample (``NaN`` becomes ``null``).
- ``dreamband-stages`` (type ``SleepStages``, regular, one sample per 30-s epoch): the
  probabilities of W, N1, N2, N3, REM, then the stage code (-1 unstaged) and the confidence,
  stamped at the epoch's onset.

Timestamps are LSL's ``local_clock``: the time of the first sample is anchored on the source's
own timestamps when they are UNIX time (a live board, an LSL inlet), else on the arrival of the
first chunk (a replay), and an event ``t`` seconds into the session is stamped ``anchor + t``.

An outlet can be discovered and connected to by others, so it is off by default; the discovery
scope is this machine unless ``--lsl-scope lan`` (:func:`~dreamband.firmware_bridge.lsl.configure_liblsl`).
"""

from __future__ import annotations

import argparse
import math
import sys
import threading
import time
from typing import Any

import numpy as np

from dreamband.recordings.jsonio import dumps
from dreamband.session.bus import SubscriptionSink
from dreamband.session.events import EpochStaged, Event, SamplesArrived
from dreamband.signal.stages import STAGE_NAMES

#: outlet names (and source ids: LabRecorder and inlets recover by them)
EVENTS_STREAM = "dreamband-events"
STAGES_STREAM = "dreamband-stages"
#: the stage stream's channels
STAGE_CHANNELS: tuple[str, ...] = (*(f"P({s})" for s in STAGE_NAMES), "stage", "confidence")


def event_json(event: Event) -> str:
    """One event as a strict JSON string (what a sample of the marker outlet holds)."""
    return dumps(event.to_dict(), separators=(",", ":"))


def configure_from_args(args: argparse.Namespace, stream: Any = None) -> str | None:
    """Configure liblsl for the CLI's LSL options before the first stream; print and return the sentence.

    Only when ``--board lsl`` or ``--lsl-out`` is given (otherwise liblsl is not touched).
    """
    board = str(getattr(args, "board", None) or "").strip().lower()
    if not getattr(args, "lsl_out", False) and board != "lsl":
        return None
    from dreamband.firmware_bridge.lsl import configure_liblsl

    text = configure_liblsl(getattr(args, "lsl_scope", None) or "machine")
    print(f"dreamband: {text}", file=stream or sys.stderr, flush=True)
    return text


class LslEventSink(SubscriptionSink):
    """The two LSL outlets of a session, fed from their own subscription and thread.

    Parameters
    ----------
    engine : SessionEngine
        Subscribe before ``engine.start()`` to send ``session_started`` too.
    name_prefix : str
        Prefix of the outlet names (default ``"dreamband"``).
    linger_s : float
        At the end, how long the outlets stay up for connected inlets to pull the last events
        (an LSL inlet loses what it has not pulled when its outlet goes).

    Attributes
    ----------
    sent : int
        Marker samples pushed.
    epochs : int
        Stage-probability samples pushed.
    """

    thread_name = "dreamband-lsl-out"

    def __init__(self, engine: Any, name_prefix: str = "dreamband", linger_s: float = 1.0) -> None:
        from mne_lsl.lsl import StreamInfo, StreamOutlet, local_clock

        self._local_clock = local_clock
        host = f"{name_prefix}"
        ev = StreamInfo(f"{host}-events", "Markers", 1, 0.0, "string", f"{host}-events")
        ev.set_channel_names(["event"])
        st = StreamInfo(f"{host}-stages", "SleepStages", len(STAGE_CHANNELS), 1.0 / float(engine.settings.epoch_s),
                        "float64", f"{host}-stages")
        st.set_channel_names(list(STAGE_CHANNELS))
        st.set_channel_types(["misc"] * len(STAGE_CHANNELS))
        self.events_outlet = StreamOutlet(ev, chunk_size=1)
        self.stages_outlet = StreamOutlet(st, chunk_size=1)
        self.sfreq = float(engine.sfreq)
        self.subscription = engine.subscribe(name="lsl-out", samples=True)
        self.sent = 0
        self.epochs = 0
        self.linger_s = float(linger_s)
        self._anchor: float | None = None  # local_clock of the session's first sample
        self._offset = time.time() - local_clock()  # UNIX - local_clock
        self._lock = threading.Lock()
        self._closed = False

    def _stamp(self, t: float) -> float:
        return (self._anchor if self._anchor is not None else self._local_clock()) + float(t)

    def _anchor_on(self, ev: SamplesArrived) -> None:
        chunk = ev.chunk
        if chunk is None or chunk.n_samples == 0:
            return
        ts0 = float(chunk.timestamps[0]) if chunk.timestamps.size else float("nan")
        start_t = chunk.first_sample / self.sfreq
        if math.isfinite(ts0) and abs(ts0 - time.time()) < 86400.0:  # UNIX time: a live source
            self._anchor = ts0 - self._offset - start_t
        else:  # a replay: the data arrives now
            self._anchor = self._local_clock() - ev.time

    def send(self, event: Event) -> None:
        """Push one event (samples only anchor the clock)."""
        with self._lock:
            if self._closed:
                return
            if isinstance(event, SamplesArrived):
                if self._anchor is None:
                    self._anchor_on(event)
                return
            self.events_outlet.push_sample([event_json(event)], timestamp=self._stamp(event.time))
            self.sent += 1
            if isinstance(event, EpochStaged):
                p = np.asarray(event.probabilities, dtype=np.float64)
                row = np.concatenate([p, [float(event.stage), float(event.confidence)]])
                self.stages_outlet.push_sample(row, timestamp=self._stamp(event.onset))
                self.epochs += 1

    def _has_consumers(self) -> bool:
        try:
            return bool(self.events_outlet.has_consumers or self.stages_outlet.has_consumers)
        except Exception:  # noqa: BLE001
            return False

    def handle(self, event: Event) -> None:
        """Push one event (what :meth:`pump` and the thread of :meth:`start` call)."""
        self.send(event)

    def close(self, timeout: float = 5.0) -> None:
        """Wait for the thread, push what is left, then destroy the outlets. Safe to call twice."""
        self.join_thread(timeout)
        if self._closed:
            return
        self.pump()
        # an inlet loses what it has not pulled when the outlet goes: give consumers a moment
        deadline = time.monotonic() + self.linger_s
        while time.monotonic() < deadline and self._has_consumers():
            time.sleep(0.05)
        with self._lock:
            self._closed = True
            for outlet in (self.events_outlet, self.stages_outlet):
                try:
                    outlet._del()
                except Exception:  # noqa: BLE001 - already gone
                    pass


def open_lsl_sink(engine: Any, stream: Any = None) -> LslEventSink:
    """Start the outlets of ``--lsl-out`` for ``engine`` and say so (the engine closes them at the end)."""
    sink = LslEventSink(engine)
    sink.start()
    print(f"dreamband: LSL out: streams {EVENTS_STREAM!r} (Markers, JSON events) and {STAGES_STREAM!r} "
          f"(SleepStages, {', '.join(STAGE_CHANNELS)} per epoch).", file=stream or sys.stderr, flush=True)
    return sink
