"""The headless console: one line per epoch, trigger lines, status lines, a closing summary."""

from __future__ import annotations

import datetime as dt
import sys
import time
from typing import Any, TextIO

from dreamband.firmware_bridge.clock import wall_at
from dreamband.session.events import (
    ActionUpdate,
    EpochStaged,
    Event,
    LogMessage,
    SessionEnded,
    SessionStarted,
    StateChanged,
    StreamNotice,
    TriggerFired,
)
from dreamband.signal.stages import STAGE_NAMES


def hms(seconds: float) -> str:
    """``H:MM:SS`` of a session time."""
    s = int(round(seconds))
    return f"{s // 3600}:{s % 3600 // 60:02d}:{s % 60:02d}"


def drift_text(stats: dict[str, Any]) -> str:
    """``"clock drift +N ppm (board R Hz)"`` from a session's ``stats()``, or ``""`` before it is measured."""
    ppm = stats.get("drift_ppm")
    if ppm is None:
        return ""
    return f"clock drift {ppm:+.0f} ppm (board {stats['board_rate']:.3f} Hz)"


class HeadlessPrinter:
    """Print session events for a person watching a terminal.

    Parameters
    ----------
    start_datetime : datetime
        Wall-clock time of session time 0 (for the clock column).
    out : text stream
        Default ``sys.stdout``.
    show_actions : bool
        Also print ramp/escalate/stop lines of the actions.
    """

    def __init__(self, start_datetime: dt.datetime, out: TextIO | None = None, show_actions: bool = False) -> None:
        self.start = start_datetime
        self.out = out or sys.stdout
        self.show_actions = show_actions
        self._plain = ""
        self._header = False
        self._pending_epoch: str | None = None
        self._pending_note = ""

    def _print(self, text: str) -> None:
        print(text, file=self.out, flush=True)

    def clock(self, t: float) -> str:
        """Wall-clock ``HH:MM:SS`` of a session time."""
        return wall_at(self.start, t).strftime("%H:%M:%S")

    def handle(self, ev: Event) -> None:
        """Print what matters in one event."""
        if isinstance(ev, SessionStarted):
            info = ev.info
            st = info.get("start_time")
            if st:
                self.start = dt.datetime.fromisoformat(st)
            self._print(f"session: {info.get('board')} at {info.get('sfreq', 0):g} Hz, channels "
                        f"{', '.join(info.get('channel_names', []))}; staging from "
                        f"{', '.join(info.get('staging_channels', []))}; start {self.start:%Y-%m-%d %H:%M:%S %Z}")
        elif isinstance(ev, StateChanged):
            self._plain = ev.plain
            self._flush_epoch()
        elif isinstance(ev, EpochStaged):
            if not self._header:
                self._header = True
                self._print(f"{'epoch':>5}  {'data':>8}  {'clock':>8}  {'stage':<5} {'conf':>5}  state")
            stage = STAGE_NAMES[ev.stage] if ev.stage >= 0 else "?"
            conf = f"{ev.confidence:.2f}" if ev.stage >= 0 else "  -  "
            note = "" if ev.quality_ok else "  (" + "; ".join(ev.quality_reasons[:2]) + ")"
            self._pending_epoch = f"{ev.epoch_index:>5}  {hms(ev.time):>8}  {self.clock(ev.time):>8}  {stage:<5} {conf:>5}"
            self._pending_note = note
        elif isinstance(ev, TriggerFired):
            self._flush_epoch()
            self._print(f"{'':>5}  {hms(ev.time):>8}  {self.clock(ev.time):>8}  >>> TRIGGER {ev.policy} "
                        f"({ev.action}, {ev.intensity * 100:.0f} %): {ev.reason}")
        elif isinstance(ev, ActionUpdate):
            if self.show_actions or ev.phase in ("stop", "escalate", "test"):
                self._print(f"{'':>5}  {hms(ev.time):>8}  {self.clock(ev.time):>8}      action {ev.policy} "
                            f"{ev.phase} {ev.intensity * 100:.0f} % {ev.reason}")
        elif isinstance(ev, StreamNotice):
            self._print(f"{'':>5}  {hms(ev.time):>8}  {self.clock(ev.time):>8}  stream {ev.stream_kind}: {ev.message}")
        elif isinstance(ev, LogMessage):
            if ev.level in ("warning", "error") or ev.message.startswith("Smart alarm"):
                self._print(f"{'':>5}  {hms(ev.time):>8}  {self.clock(ev.time):>8}  {ev.level}: {ev.message}")
        elif isinstance(ev, SessionEnded):
            self._print(f"session ended at {hms(ev.time)} of data: {ev.reason}")

    def _flush_epoch(self) -> None:
        line = self._pending_epoch
        if line:
            self._print(f"{line}  {self._plain}{self._pending_note}")
            self._pending_epoch = None

    def handle_all(self, events: list[Event]) -> None:
        """Print a batch (an epoch line is printed once its state is known)."""
        for ev in events:
            self.handle(ev)

    def status(self, stats: dict[str, Any]) -> None:
        """One status line from ``SessionEngine.stats()``."""
        self._print(f"status: {stats['samples']} samples ({hms(stats['data_s'])} of data in {stats['wall_s']:.1f} s), "
                    f"rate {stats['achieved_rate']:.1f} Hz (nominal {stats['nominal_rate']:g}), "
                    f"lost {stats['lost_samples']} samples, {stats['dropouts']} dropouts, {stats['epochs']} epochs"
                    + (f", {drift_text(stats)}" if drift_text(stats) else "")
                    + (f"; recording: {stats['recording']}" if stats.get("recording") else ""))

    def summary(self, state: dict[str, Any], triggers: list[TriggerFired]) -> None:
        """The night in a few lines: onsets, stages, WASO, REM periods, triggers."""
        p = self._print
        p("")
        p("night summary")
        p(f"  epochs: {state['epochs']}  total sleep: {state['total_sleep_min']:.1f} min  "
          f"WASO: {state['waso_min']:.1f} min  awakenings: {state['awakenings']}  cycles: {state['cycles']}")
        so, pso = state["sleep_onset"], state["persistent_sleep_onset"]
        p(f"  sleep onset: {'-' if so is None else hms(so) + ' (' + self.clock(so) + ')'}  "
          f"persistent sleep onset: {'-' if pso is None else hms(pso) + ' (' + self.clock(pso) + ')'}")
        mins = state["minutes"]
        p("  minutes: " + "  ".join(f"{k} {v:.1f}" for k, v in mins.items()))
        # The same rules as the morning report (recordings.stats.NightCounter): REM less than
        # 15 min apart is one period; the triggers act on shorter REM bouts (see the state).
        p(f"  REM periods: {state['rem_count']} (REM less than 15 min apart merged, as in `dreamband report`)")
        for i, r in enumerate(state["rem_periods"], 1):
            p(f"    {i}. {hms(r['start'])}-{hms(r['end'])} ({self.clock(r['start'])}-{self.clock(r['end'])}), "
              f"{r['duration_min']:.1f} min, {r['rem_min']:.1f} min of REM")
        p(f"  triggers fired: {len(triggers)}")
        for t in triggers:
            p(f"    {hms(t.time)} ({self.clock(t.time)}) {t.policy} ({t.action}): {t.reason}")


def _unsaved(engine: Any) -> str:
    """What giving up the closing now would lose, in words."""
    rec = getattr(engine, "recorder", None)
    sfreq = float(getattr(engine, "sfreq", 0.0) or 0.0)
    on_disk = getattr(rec, "samples_on_disk", None)
    if rec is None or on_disk is None or sfreq <= 0:
        return "the events not yet written"
    behind = max(0, int(engine.pipeline.n_samples) - int(on_disk))
    return (f"{behind / sfreq:.1f} s of samples not yet on disk (the archive holds {hms(on_disk / sfreq)}), "
            "and the events not yet written")


def close_engine(engine: Any, out: TextIO | None = None, progress_after_s: float = 1.0) -> bool:
    """Stop ``engine`` and wait until every sink flushed and closed; True when they did.

    After ``progress_after_s`` a line says the session is being closed and, every few seconds,
    how far. A Ctrl-C while waiting says what would be lost and gives up (returns False).
    """
    out = out or sys.stderr
    t0 = time.monotonic()
    try:
        engine.stop(timeout=progress_after_s)
        said = 0.0
        while not engine.closed:
            waited = time.monotonic() - t0
            if waited - said >= 5.0 or said == 0.0:
                print(f"closing the session ({waited:.0f} s): writing the last records; Ctrl-C gives up and loses "
                      f"{_unsaved(engine)}", file=out, flush=True)
                said = waited
            engine.stop(timeout=1.0)
    except KeyboardInterrupt:
        print(f"dreamband: gave up closing the session: lost {_unsaved(engine)}.", file=out, flush=True)
        return False
    return True


def recording_summary(engine: Any) -> list[str]:
    """The end summary's lines about the recording: where it is, what was lost (exact spans)."""
    sink = getattr(engine, "recorder_sink", None)
    if sink is None:
        return []
    lines = []
    folders = [str(f) for f in sink.folders]
    if len(folders) > 1:
        lines.append(f"recording: the night is in {len(folders)} folders after write errors: " + ", then ".join(folders))
    lines.append(f"recording: lost {sink.lost_text()}" + ("" if sink.lost_spans else " (every sample was written)")
                 + (f"; closed {sink.close_s:.2f} s after the last sample" if sink.close_s is not None else ""))
    return lines
