"""``dreamband live --headless``: stream a board through the engine, one line per epoch."""

from __future__ import annotations

import argparse
import signal
import sys
import threading
import time
from typing import Any

from dreamband.session.engine import SessionEngine
from dreamband.session.headless import HeadlessPrinter, close_engine, recording_summary
from dreamband.session.settings import SessionSettings
from dreamband.session.sources import open_source


def recorder_factory(args: argparse.Namespace, record: bool) -> Any:
    """``factory(info) -> SessionRecorder`` writing under ``--session-dir`` (None when not recording)."""
    if not record:
        return None
    from dreamband.recordings.recorder import SessionRecorder

    parent = getattr(args, "session_dir", None)

    def make(info: dict) -> SessionRecorder:
        return SessionRecorder(parent, info)

    return make


def faster_than_real_time(args: argparse.Namespace, replay: bool) -> bool:
    """True when the session plays data faster than it happened (a replay, or the sleeper board,
    at a speed other than 1): its sounds and commands are recorded, never played."""
    if not replay:
        from dreamband.firmware_bridge.config import configured_board_name

        if configured_board_name(args) != "sleeper":
            return False
    speed = getattr(args, "speed", None)
    if speed is None:
        return replay  # a headless replay defaults to max
    return str(speed).strip().lower() not in ("1", "1.0", "1x")


def session_settings(args: argparse.Namespace, replay: bool = False) -> SessionSettings:
    """The settings of the CLI options, muted when the data plays faster than real time."""
    settings = SessionSettings.from_args(args)
    if faster_than_real_time(args, replay):
        settings.actions.play_sound = "never"  # a fast replay records its sounds, never plays them
        if "command" in settings.actions.outputs:  # ... nor runs the user's lamp at 600x
            settings.actions.outputs = [o for o in settings.actions.outputs if o != "command"]
    return settings


def build_engine(args: argparse.Namespace, replay: bool = False) -> SessionEngine:
    """The engine for the CLI options (source, settings, recorder, net-out)."""
    settings = session_settings(args, replay)
    source = open_source(args, replay_default_speed="max" if replay else 1.0)
    return engine_for_source(args, source, replay, settings)


def engine_for_source(args: argparse.Namespace, source: Any, replay: bool = False,
                      settings: SessionSettings | None = None) -> SessionEngine:
    """The engine of the CLI options on an opened source: settings, session folder and net-out sink.

    Used by :func:`build_engine` and after a seek in the replay window (a fresh engine from the
    new position keeps recording and sending, like the first one). The source is stopped when
    the engine cannot be built.
    """
    settings = settings or session_settings(args, replay)
    if replay:
        record = bool(getattr(args, "session_dir", None)) and not getattr(args, "no_record", False)
    else:
        record = not getattr(args, "no_record", False)
    try:
        engine = SessionEngine(source, settings, recorder_factory=recorder_factory(args, record))
        if getattr(args, "net_out", None):
            from dreamband.session.netout import UdpEventSink

            sink = UdpEventSink(engine, args.net_out)
            if sink.warning:
                print(f"dreamband: warning: {sink.warning}", file=sys.stderr, flush=True)
            sink.start()
            engine.add_sink(sink)  # flushed and closed when the session ends
        if getattr(args, "lsl_out", False):
            from dreamband.session.lsl_out import open_lsl_sink

            engine.add_sink(open_lsl_sink(engine))
        return engine
    except BaseException:
        source.stop()
        raise


def run_headless(engine: SessionEngine, status_every: float = 5.0, printer: HeadlessPrinter | None = None) -> int:
    """Run ``engine`` in its thread and print it until it ends (or Ctrl-C); return the exit code."""
    printer = printer or HeadlessPrinter(engine.night.start_datetime)
    sub = engine.subscribe(name="console", samples=False)
    interrupted = False
    last_status = float("-inf")
    old_term = None
    if threading.current_thread() is threading.main_thread():  # SIGTERM closes like Ctrl-C
        old_term = signal.signal(signal.SIGTERM, _raise_interrupt)
    engine.start()
    t0 = time.monotonic()
    next_status = status_every if status_every and status_every > 0 else float("inf")
    try:
        while True:
            ev = sub.get(timeout=0.2)
            batch = ([ev] if ev is not None else []) + sub.drain()
            printer.handle_all(batch)
            if time.monotonic() - t0 >= next_status:
                printer.status(engine.stats())
                next_status += status_every
                last_status = time.monotonic()
            if sub.exhausted:
                break
    except KeyboardInterrupt:
        interrupted = True
        print("dreamband: stopping; closing the session folder (Ctrl-C again gives up)...", file=sys.stderr,
              flush=True)
    finally:
        closed = close_engine(engine)
        if old_term is not None:
            signal.signal(signal.SIGTERM, old_term)
        printer.handle_all(sub.drain())
    if time.monotonic() - last_status > 1.0:
        printer.status(engine.stats())
    printer.summary(engine.state, engine.triggers)
    for line in recording_summary(engine):
        print(line, flush=True)
    rec = engine.recorder
    if rec is not None and getattr(rec, "folder", None) is not None:
        print(f"session folder: {rec.folder}", flush=True)
        last = engine.recorder_sink.recorder if engine.recorder_sink is not None else rec  # after a fallback
        if not closed or not getattr(last, "closed", True):
            print(f"dreamband: the recording could not be completed ({engine.error or 'closing was cut short'}). "
                  f"Run `dreamband recover {last.folder}` to finish it.", file=sys.stderr, flush=True)
            return 1
        if engine.recorder_sink is not None and engine.recorder_sink.lost_spans:
            print(f"dreamband: part of the night was not recorded: {engine.recorder_sink.lost_text()} "
                  "(the disk refused it; see the warnings above).", file=sys.stderr, flush=True)
            return 1
    if engine.error is not None and not interrupted:
        print(f"dreamband: the session stopped on an error: {engine.error}", flush=True)
        return 1
    return 0


def _raise_interrupt(signum: int, frame: Any) -> None:
    raise KeyboardInterrupt


def run_live(args: argparse.Namespace) -> int:
    """``dreamband live --headless``: one line per epoch, a status line every ``--status-every`` s.

    Records a session folder (under ``--session-dir``, default the user's data directory) unless
    ``--no-record``; stops after ``--duration`` seconds of data, at Ctrl-C, or when the source ends.
    """
    engine = build_engine(args, replay=False)
    return run_headless(engine, float(getattr(args, "status_every", 5.0) or 0.0))
