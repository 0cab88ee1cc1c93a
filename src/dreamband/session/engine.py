"""The session engine: lifecycle, the event bus, the sinks and the control surface around the
one :class:`~dreamband.session.pipeline.SessionPipeline` (the control methods live in
:mod:`dreamband.session.control`, a mixin of :class:`SessionEngine`).

source -> pipeline (conditioning, epochs, quality, stager, night state, triggers) -> actions ->
bus -> sinks. One code path for live and replay. The clock is the data's own: session time =
samples received / sfreq, never the wall clock, so a replayed night gives the same epochs, states
and trigger times as live.

Two ways to run it:

- **manual** (deterministic): ``engine.step()`` reads one chunk and returns the events it caused;
  ``engine.run_to_end()`` loops until the source is finished or ``duration_s`` is reached.
- **threaded**: ``engine.start()`` runs acquisition in its own thread; ``engine.stop()`` ends it.
  The source is always stopped and released, also on exceptions and Ctrl-C.

Sinks read events from their own :class:`~dreamband.session.bus.Subscription`
(``engine.subscribe()``): a slow sink never blocks acquisition nor the other sinks.
"""

from __future__ import annotations

import datetime as dt
import threading
import time as _time
from dataclasses import asdict
from typing import Any

from dreamband import __version__
from dreamband.firmware_bridge.chunk import StreamChunk
from dreamband.firmware_bridge.clock import local_zone, localize
from dreamband.recordings.jsonio import jsonable as _jsonable
from dreamband.session.actions import ActionManager
from dreamband.session.bus import EventBus, Subscription
from dreamband.session.control import EngineControls
from dreamband.session.events import (
    Event,
    LogMessage,
    SamplesArrived,
    SessionEnded,
    SessionStarted,
)
from dreamband.session.pipeline import SessionPipeline
from dreamband.session.recorder_sink import RecorderSink
from dreamband.session.settings import SessionSettings
from dreamband.signal.filters import warmup_filters
from dreamband.signal.stager import Stager
from dreamband.signal.stager import warmup as warmup_stager

__all__ = ["RecorderSink", "SessionEngine", "Subscription"]


class SessionEngine(EngineControls):
    """Run a session over a source.

    Parameters
    ----------
    source : Source
        A ``BoardStream``, a ``RecordingSource``, the sleeper board ... (``firmware_bridge.chunk.Source``).
    config : SessionSettings, optional
        Triggers, actions, state definitions, ``duration_s``.
    recorder : object, optional
        A ``recordings.SessionRecorder`` (``write_chunk``, ``write_event``, ``close``); it becomes
        a sink with its own unbounded subscription and is closed when the session ends.
    stager : Stager, optional
        Default: the shipped one-channel model (or ``config.model_path``).
    start_datetime : datetime, optional
        Wall-clock time of the first sample. Default: ``source.start_time`` (+ the replay
        position) when the source has one, else now.
    play_sound : bool, optional
        Force the sound action on/off (default: only with a sound device, not on CI).
    recorder_factory : callable, optional
        ``factory(session_info: dict) -> recorder``, called when the session opens (after the
        start time is known); the recorder becomes a sink like ``recorder``.

    Attributes
    ----------
    night : NightState
    epochs : list of EpochStaged
    triggers : list of TriggerFired
    policies : dict[str, Policy]
    actions : ActionManager
    """

    def __init__(self, source: Any, config: SessionSettings | None = None, *, recorder: Any = None,
                 stager: Stager | None = None, start_datetime: dt.datetime | None = None,
                 play_sound: bool | None = None, recorder_factory: Any = None) -> None:
        self.source = source
        self.settings = config or SessionSettings()
        self.sfreq = float(source.sfreq)
        self.channel_names: list[str] = list(source.channel_names)
        self.channel_types: list[str] = list(source.channel_types)
        self._start_override = start_datetime or self.settings.start_datetime
        montage = getattr(source, "montage", None)
        self.pipeline = SessionPipeline(
            self.sfreq, self.channel_names, self.channel_types, self.settings,
            stager=stager or Stager.for_model(self.settings.model_path),
            preferred_staging=getattr(montage, "staging_channels", None) if montage is not None else None,
            start_datetime=self._start_override,
            failover=True,  # live and replay: a staging channel that falls off is replaced
        )
        self.actions = ActionManager(self.settings.actions, source=source, play_sound=play_sound)
        self.pipeline.actions = self.actions  # the pipeline decides, the actions act
        self.error: BaseException | None = None
        self.end_reason: str | None = None

        self._lock = threading.RLock()
        self._bus = EventBus()
        self._recorder: RecorderSink | None = None
        self.recorder_sink: RecorderSink | None = None  # kept after the end: lost spans, folders
        self._opened = False
        self._ended = False
        self._thread: threading.Thread | None = None
        self._stop_flag = threading.Event()
        self._wall_start: float | None = None
        self._wall_end: float | None = None
        self._dropouts = 0
        self._source_down = False  # a live source reported a dropout and sends nothing yet
        self._last_data_mono: float | None = None
        self._tick_floor = 0.0
        self._sinks: list[Any] = []  # add_sink(): closed (flushed) when the session ends
        self._sinks_closed = threading.Event()
        self._closing = False
        self._close_lock = threading.Lock()
        self._pending: list[Event] = []
        self._recorder_factory = recorder_factory
        self.recorder: Any = recorder
        if recorder is not None:
            self._recorder = RecorderSink(recorder, self.subscribe(name="recorder"), publish=self._bus.publish)
            self.recorder_sink = self._recorder

    # ------------------------------------------------------------------ the pipeline's parts
    @property
    def stager(self) -> Stager:
        """The stager (the pipeline's)."""
        return self.pipeline.stager

    @property
    def staging_rows(self) -> list[int]:
        """Rows of the source the stager sees (the montage's choice, else the channel picker's)."""
        return self.pipeline.staging_rows

    @property
    def night(self) -> Any:
        """The night's state (:class:`~dreamband.session.state.NightState`)."""
        return self.pipeline.night

    @property
    def epochs(self) -> list[Any]:
        """Every ``EpochStaged`` so far."""
        return self.pipeline.epochs

    @property
    def triggers(self) -> list[Any]:
        """Every ``TriggerFired`` so far."""
        return self.pipeline.triggers

    @property
    def policies(self) -> dict[str, Any]:
        """``{name: Policy}``."""
        return self.pipeline.policies

    @property
    def detector(self) -> Any:
        """The arousal detector (None below 90 Hz)."""
        return self.pipeline.detector

    # ------------------------------------------------------------------ setup
    def subscribe(self, maxsize: int | None = None, name: str = "sink", samples: bool = True) -> Subscription:
        """Return a new subscription that receives every event from now on (see :class:`Subscription`).

        Subscribe before ``start()``/the first ``step()`` to also get ``SessionStarted``.
        """
        sub = self._bus.subscribe(maxsize, name, samples)
        if self._ended:
            sub._end()
        return sub

    def add_sink(self, sink: Any) -> None:
        """Keep ``sink`` (anything with ``close()``, e.g. a ``UdpEventSink`` fed by its own
        subscription) for the session; the engine closes it when the session ends, after the
        last event was queued, so a sink flushes everything before the engine reports the end."""
        self._sinks.append(sink)

    def session_info(self) -> dict[str, Any]:
        """What ``SessionStarted.info`` and a recorder's sidecar need: board, montage, rates, settings."""
        board = getattr(getattr(self.source, "info", None), "name", None)
        rec = getattr(self.source, "recording", None)
        if board is None and rec is not None:
            path = getattr(rec, "source_path", None)
            board = f"replay of {path.name}" if path is not None else "replay"
            board_id = getattr(rec, "board_id", None)
        else:
            board_id = getattr(getattr(self.source, "config", None), "board_id", None)
        board = board or type(self.source).__name__
        units = ["g" if t == "accel" else "uV" for t in self.channel_types]
        return {
            "board": board,
            "board_id": board_id,
            "sfreq": self.sfreq,
            "channel_names": self.channel_names,
            "channel_types": self.channel_types,
            "units": units,
            "staging_channels": [self.channel_names[r] for r in self.staging_rows],
            "start_time": self.night.start_datetime.isoformat(),
            "software_version": __version__,
            "model": {k: v for k, v in (getattr(self.stager.model, "meta", None) or {}).items()
                      if k in ("name", "version", "channels", "created", "trained_on")},
            "montage": getattr(self.source, "montage", None),
            "settings": _jsonable(asdict(self.settings)),
        }

    def _resolve_start(self) -> dt.datetime:
        if self._start_override is not None:
            start = self._start_override
        else:
            base = getattr(self.source, "start_time", None)
            if isinstance(base, dt.datetime):
                start = base + dt.timedelta(seconds=float(getattr(self.source, "position_s", 0.0) or 0.0))
            else:
                start = dt.datetime.now(local_zone())
        return localize(start)  # the local zone with its DST rules, not a fixed offset

    def _open(self) -> None:
        if self._opened:
            return
        self._opened = True
        warmup_filters()
        warmup_stager()
        self.night.start_datetime = self._resolve_start()
        self.source.start()  # a board that fails to open leaves no session folder behind
        self._wall_start = _time.monotonic()
        if self._recorder_factory is not None and self._recorder is None:
            try:
                self.recorder = self._recorder_factory(self.session_info())
            except BaseException:
                self.source.stop()
                raise
            self._recorder = RecorderSink(self.recorder, self.subscribe(name="recorder"), publish=self._bus.publish)
            self.recorder_sink = self._recorder
        evs: list[Event] = [SessionStarted(0.0, self.session_info())]
        for note in self.policies["safety"].disabled_notes():
            evs.append(LogMessage(0.0, "warning", note))
        sa = self.policies["smart_alarm"]
        if sa.enabled and getattr(sa, "window", None):
            ws, we = sa.window_session_s(self.night)
            evs.append(LogMessage(0.0, "info", f"Smart alarm window {sa.settings.window}: from "
                                  f"{self.night.wall_clock(ws):%a %H:%M} to {self.night.wall_clock(we):%a %H:%M}."))
        self._pending += evs

    # ------------------------------------------------------------------ running
    @property
    def time(self) -> float:
        """Session time of the latest sample, seconds."""
        return self.pipeline.time

    @property
    def state(self) -> dict[str, Any]:
        """The latest NightState snapshot (a JSON-ready dict)."""
        with self._lock:
            return self.night.snapshot()

    @property
    def running(self) -> bool:
        """True while the acquisition thread runs."""
        return self._thread is not None and self._thread.is_alive()

    @property
    def ended(self) -> bool:
        """True once ``SessionEnded`` was published."""
        return self._ended

    def step(self) -> list[Event]:
        """Read one chunk and process it; return the events caused (also published to subscribers)."""
        with self._lock:
            if self._ended:
                return []
            self._open()
            events, self._pending = self._pending, []
            try:
                chunk = self.source.read()
                events += self._process_chunk(chunk)
                stream_events = self.source.poll_events()
                now = _time.monotonic()
                if chunk.n_samples:
                    self._last_data_mono, self._source_down = now, False
                for se in stream_events:
                    if se.kind == "dropout":
                        self._dropouts += 1
                        self._source_down = True
                events += self.pipeline.stream_events(stream_events)
                events += self.pipeline.tick(self._tick_time(now))
                duration = self.settings.duration_s
                if duration is not None and self.time >= duration - 0.5 / self.sfreq:
                    events += self._finish_events("duration reached")
                elif self.source.finished and chunk.n_samples == 0:
                    events += self._finish_events("the source finished")
            except BaseException:
                self._publish(events)
                raise
            self._publish(events)
        if self._ended:
            self._close_sinks()
        elif self._recorder is not None and self._thread is None:
            self._recorder.pump()
        return events

    def run_to_end(self, max_steps: int | None = None, include_samples: bool = False) -> list[Event]:
        """Step until the session ends (source finished or ``duration_s``); return the events.

        ``SamplesArrived`` events are left out unless ``include_samples``. The source is
        stopped at the end, also on an exception.
        """
        out: list[Event] = []
        steps = 0
        try:
            while not self._ended and (max_steps is None or steps < max_steps):
                evs = self.step()
                out += evs if include_samples else [e for e in evs if not isinstance(e, SamplesArrived)]
                steps += 1
        finally:
            if not self._ended:
                out += [e for e in self.stop() if include_samples or not isinstance(e, SamplesArrived)]
        return out

    def start(self) -> None:
        """Start acquisition in its own thread (returns at once; the source is opened first)."""
        with self._lock:
            if self._thread is not None:
                raise RuntimeError("This engine was already started; create a new one for a new session.")
            if self._ended:
                raise RuntimeError("This session has ended; create a new engine.")
            self._thread = threading.Thread(target=self._loop, name="dreamband-acquisition", daemon=True)
        try:
            with self._lock:
                self._open()
        except BaseException:
            self._stop_flag.set()
            self._thread = None
            self._finish("failed to start")
            raise
        if self._recorder is not None:
            self._recorder.start()
        self._thread.start()

    def _loop(self) -> None:
        try:
            while not self._stop_flag.is_set() and not self._ended:
                evs = self.step()
                if not any(isinstance(e, SamplesArrived) for e in evs):
                    self._stop_flag.wait(0.02)
        except BaseException as err:  # published and kept; the source is released below
            self.error = err
            with self._lock:
                self._publish([LogMessage(self.time, "error", f"The session stopped on an error: {err!r}")])
        finally:
            self._finish("stopped by the user" if self._stop_flag.is_set() else "error" if self.error else "ended")

    def stop(self, timeout: float | None = None) -> list[Event]:
        """End the session: stop the thread (if any), the source and the actions; close the sinks.

        Returns once every sink (the recorder first) has flushed and closed, or after
        ``timeout`` seconds (None: no limit); :attr:`closed` says which.
        """
        self._stop_flag.set()
        thread = self._thread
        if thread is not None and thread is not threading.current_thread():
            thread.join(timeout)
        events = self._finish("stopped by the user")
        if threading.current_thread() is not thread:
            self._sinks_closed.wait(timeout)
        return events

    @property
    def closed(self) -> bool:
        """True once the session ended and every sink flushed and closed."""
        return self._sinks_closed.is_set()

    def wait(self, timeout: float | None = None) -> bool:
        """Wait for the acquisition thread to end; True when it has."""
        if self._thread is None:
            return self._ended
        self._thread.join(timeout)
        return not self._thread.is_alive()

    def _finish(self, reason: str) -> list[Event]:
        with self._lock:
            events = self._pending + (self._finish_events(reason) if not self._ended else [])
            self._pending = []
            self._publish(events)
        self._close_sinks()
        return events

    def _finish_events(self, reason: str) -> list[Event]:
        self._ended = True
        self._wall_end = _time.monotonic()  # the achieved rate is over the session, not its shutdown
        self.end_reason = reason
        t = self.time
        events = self.actions.stop_all(t, f"session ended: {reason}")
        try:
            self.source.stop()
        except Exception as err:
            events.append(LogMessage(t, "warning", f"Stopping the source failed: {err}"))
        events.append(self.pipeline.state_event(t))
        events.append(SessionEnded(t, reason))
        return events

    def _close_sinks(self) -> None:
        self._bus.end()
        with self._close_lock:
            if self._closing:
                return  # closed, or another thread is closing; stop() waits for it
            self._closing = True
            rec, self._recorder = self._recorder, None
            sinks, self._sinks = self._sinks, []
        try:
            if rec is not None:
                rec.finish()
                if rec.error is not None:
                    self.error = self.error or rec.error
            for sink in sinks:
                try:
                    sink.close()
                except Exception as err:  # a sink's trouble never hides the session's own result
                    self.error = self.error or err
            self.actions.close()
        finally:
            self._sinks_closed.set()

    def _publish(self, events: list[Event]) -> None:
        self._bus.publish(events)

    # ------------------------------------------------------------------ pipeline
    def _process_chunk(self, chunk: Any) -> list[Event]:
        n = chunk.n_samples
        duration = self.settings.duration_s
        if n and duration is not None:
            room = int(round(duration * self.sfreq)) - self.pipeline.n_samples
            if room < n:
                chunk = _trim(chunk, max(room, 0))
        return self.pipeline.process(chunk)

    def _tick_time(self, now: float) -> float:
        """Session time for the policies' clocks.

        The data's own clock, except while a live source is down (after a ``dropout`` event and
        until samples flow again): then no sample advances it, so the time since the last sample
        is added from the wall clock. The safety alarm for a lost signal and the smart alarm's
        deadline must fire while the headband is silent, not only once it comes back (the
        samples lost in between are delivered as NaN on reconnect, on the board's clock).
        """
        if not self._source_down or self._last_data_mono is None:
            return self.time
        self._tick_floor = max(self._tick_floor, self.time + (now - self._last_data_mono))
        return self._tick_floor

    def stats(self) -> dict[str, Any]:
        """Counters for a status line: samples, data time, achieved rate, lost samples, dropouts, epochs."""
        end = self._wall_end if self._wall_end is not None else _time.monotonic()
        wall = (end - self._wall_start) if self._wall_start is not None else 0.0
        src_stats = getattr(self.source, "stats", None)
        lost = getattr(src_stats, "samples_lost", 0) if src_stats is not None else 0
        dropouts = getattr(src_stats, "dropouts", self._dropouts) if src_stats is not None else self._dropouts
        return {
            "samples": self.pipeline.n_samples, "data_s": self.time, "wall_s": wall,
            "achieved_rate": self.pipeline.n_samples / wall if wall > 0 else 0.0, "nominal_rate": self.sfreq,
            "lost_samples": int(lost), "dropouts": int(dropouts), "epochs": len(self.epochs),
            "triggers": len(self.triggers),
            "drift_ppm": self.pipeline.drift.ppm, "board_rate": self.pipeline.drift.rate,
            "recording": self._recorder.problem if self._recorder is not None else None,
        }

    def __enter__(self) -> SessionEngine:
        return self

    def __exit__(self, *exc: object) -> None:
        if not self._ended:
            self.stop()


def _trim(chunk: Any, n: int) -> Any:
    raw = None if chunk.raw is None else chunk.raw[:, :n]
    return StreamChunk(chunk.data[:, :n], chunk.timestamps[:n], chunk.markers[:n], chunk.first_sample, raw)
