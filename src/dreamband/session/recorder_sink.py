"""The recorder as a session sink: a write error never stops the night, and is seen at once.

:class:`RecorderSink` feeds a ``SessionRecorder`` from its own subscription (a writer thread in
threaded mode, so a slow disk never blocks acquisition). When the disk refuses a write (ENOSPC,
EIO, a removed USB disk):

1. a warning event is published at once (the console prints it, the UI shows it, it goes over
   ``--net-out``) and :attr:`RecorderSink.problem` feeds the status line; staging and triggers go
   on, the samples wait in memory;
2. every later chunk retries the write (the archive writes each record at its own offset, so a
   retry never tears the file);
3. after ``retry_s`` seconds of failures the night continues in a second folder (the first of
   ``fallback_dirs`` that takes a probe write) and a warning says where;
4. when no folder takes it, the oldest samples beyond ``max_behind_s`` are dropped: that span is
   lost, marked as a gap in the archive once the disk takes writes again, and listed in
   :attr:`RecorderSink.lost_spans` for the end summary.
"""

from __future__ import annotations

import tempfile
import time
from collections.abc import Callable
from pathlib import Path
from typing import Any

from dreamband.session.bus import Subscription, SubscriptionSink
from dreamband.session.events import Event, LogMessage, RecordingWarning, SamplesArrived


def default_fallback_dirs(primary: Path) -> list[Path]:
    """Second folders to try: the user's sessions folder, then the temporary folder (``$TMPDIR``)."""
    from dreamband.recordings.session_folder import default_sessions_dir

    out = []
    for d in (default_sessions_dir(), Path(tempfile.gettempdir()) / "dreamband-sessions"):
        if d.resolve() != primary.resolve() and d not in out:
            out.append(d)
    return out


class RecorderSink(SubscriptionSink):
    """Feed a recorder (``write_chunk``, ``write_event``, ``close``; ``retry`` and ``continue_in``
    for write errors) from a subscription.

    Parameters
    ----------
    recorder : SessionRecorder
    subscription : Subscription
        Its own, unbounded.
    publish : callable, optional
        ``publish(events)``: how warnings reach the session's other sinks (the engine's bus).
    fallback_dirs : list of Path, optional
        Where to continue after ``retry_s`` s of write errors (default
        :func:`default_fallback_dirs`); an empty list: never move.
    retry_s : float
        Seconds of failing writes before moving to a fallback folder.
    max_behind_s : float
        Most seconds of samples kept in memory while nothing can be written.
    clock : callable
        Monotonic seconds (tests pass their own).

    Attributes
    ----------
    error : BaseException or None
        What stopped the recording for good (closing failed).
    problem : str or None
        The current trouble in a few words (None while writes succeed).
    lost_spans : list of (float, float)
        Session seconds ``(start, end)`` that were never written anywhere.
    folders : list of Path
        Every folder this night went to (more than one after a fallback).
    close_s : float or None
        Seconds :meth:`finish` took (None until the recorder closed).
    """

    thread_name = "dreamband-recorder"

    def __init__(self, recorder: Any, subscription: Subscription, publish: Callable[[list[Event]], None] | None = None,
                 fallback_dirs: list[Path] | None = None, retry_s: float = 5.0, max_behind_s: float = 120.0,
                 clock: Callable[[], float] = time.monotonic) -> None:
        self.recorder = recorder
        self.subscription = subscription
        self.error: BaseException | None = None
        self.problem: str | None = None
        self.lost_spans: list[tuple[float, float]] = []
        folder = getattr(recorder, "folder", None)
        self.folders: list[Path] = [folder] if folder is not None else []
        self._publish = publish or (lambda evs: None)
        self._fallback_dirs = fallback_dirs
        self.retry_s = float(retry_s)
        self.max_behind_s = float(max_behind_s)
        self._clock = clock
        self._failing_since: float | None = None
        self._moved = False
        self._last_time = 0.0
        self.close_s: float | None = None

    # ------------------------------------------------------------------ feeding
    def handle(self, ev: Event) -> None:
        """Write one event (what :meth:`pump` and the thread of :meth:`start` call)."""
        self._last_time = max(self._last_time, float(getattr(ev, "time", 0.0) or 0.0))
        try:
            if isinstance(ev, SamplesArrived):
                if ev.chunk is not None and ev.chunk.n_samples:
                    self.recorder.write_chunk(ev.chunk)
                elif self._failing_since is not None:
                    self.recorder.retry()
            else:
                self.recorder.write_event(ev.to_dict())
        except OSError as err:
            self._failed(err)
            return
        except Exception as err:  # a bug or a bad chunk: said once, the night goes on
            if self.error is None:
                self.error = err
                self._say("error", f"The recorder failed: {err!r}; the night goes on unrecorded from here.",
                          writing=False)
            return
        if self._failing_since is not None and not self.recorder.backlog():
            self._recovered()  # only once everything waiting went out (a full disk takes small writes)

    def _say(self, level: str, message: str, writing: bool | None = None) -> None:
        """Publish ``message``; ``writing`` (False: writes fail, True: they work again) makes it a
        :class:`RecordingWarning`, which the window shows as a banner until writes work."""
        if writing is None:
            event: LogMessage = LogMessage(self._last_time, level, message)
        else:
            event = RecordingWarning(self._last_time, level, message, writing=writing)
        try:
            self._publish([event])
        except Exception:  # publishing must never break the writer
            pass

    def _failed(self, err: OSError) -> None:
        now = self._clock()
        rec = self.recorder
        behind_s = (rec.n_samples - rec.samples_on_disk) / rec.sfreq
        if self._failing_since is None:
            self._failing_since = now
            self.problem = f"NOT WRITING since {self._last_time:.0f} s ({err.strerror or err})"
            self._say("warning", f"Cannot write the recording in {rec.folder}: {err.strerror or err} "
                                 f"(errno {err.errno}). Staging and triggers go on; the samples wait in memory, "
                                 f"retrying, then a second folder in {self.retry_s:g} s.", writing=False)
        else:
            lost = sum(b - a for a, b in self.lost_spans)
            kept = behind_s - (rec.bdf.skipped_samples / rec.sfreq if hasattr(rec, "bdf") else 0.0)
            self.problem = (f"NOT WRITING for {now - self._failing_since:.0f} s, {kept:.0f} s in memory"
                            + (f", {lost:.0f} s lost" if lost else ""))
        if now - self._failing_since >= self.retry_s and not self._moved:
            self._moved = True  # one move per failure episode
            self._fallback()
        if behind_s > self.max_behind_s:
            first_kept = rec.n_samples - int(self.max_behind_s * rec.sfreq)
            dropped = rec.drop_unwritten(first_kept)
            if dropped:
                end = first_kept / rec.sfreq + getattr(rec, "time_offset_s", 0.0)
                self._lose(end - dropped / rec.sfreq, end)

    def _fallback(self) -> None:
        rec = self.recorder
        dirs = self._fallback_dirs if self._fallback_dirs is not None else default_fallback_dirs(rec.folder.parent)
        tried = []
        for d in dirs:
            try:
                new = rec.continue_in(d)
            except OSError as err:
                tried.append(f"{d} ({err.strerror or err})")
                continue
            self.recorder = new
            self.folders.append(new.folder)
            self.problem = None
            self._failing_since = None
            self._moved = False
            self._say("warning", f"The recording continues in {new.folder} (from {rec.samples_on_disk / rec.sfreq:.1f} s "
                                 f"of {rec.folder.name}); join them with the two folders' archives.", writing=True)
            return
        self._say("warning", "No second folder takes the recording either"
                             + (f" (tried {', '.join(tried)})" if tried else "")
                             + f"; keeping the last {self.max_behind_s:g} s in memory and retrying.", writing=False)

    def _recovered(self) -> None:
        lost = f"; lost {self.lost_text()}" if self.lost_spans else "; nothing lost"
        self._say("info", f"Writing the recording works again in {self.recorder.folder}{lost}.", writing=True)
        self._failing_since = None
        self._moved = False
        self.problem = None

    def lost_text(self) -> str:
        """The spans never written, e.g. ``"0:12:05-0:14:05 (120.0 s)"``, or ``"nothing"``."""
        from dreamband.session.headless import hms

        if not self.lost_spans:
            return "nothing"
        return ", ".join(f"{hms(a)}-{hms(b)} ({b - a:.1f} s)" for a, b in self.lost_spans)

    # ------------------------------------------------------------------ threads and closing
    def finish(self, timeout: float | None = None) -> None:
        """Write what is left, retry a last time, close the recorder (no timeout by default:
        the archive's writes are fast, and a half-written night is worse than a wait).

        :attr:`close_s` is how long it took: from the end of the session (the last sample) to
        the archive closed, the writer's backlog included."""
        t0 = self._clock()
        self.join_thread(timeout)
        self.pump()
        if self._failing_since is not None:  # the night ends while the disk refuses: retry, then move
            try:
                self.recorder.retry()
                self._recovered()
            except OSError:
                if not self._moved:
                    self._moved = True
                    self._fallback()
        try:
            self.recorder.close()
            self.close_s = self._clock() - t0
        except Exception as err:
            self.error = self.error or err
            rec = self.recorder
            self.problem = f"closing failed: {err}"
            if isinstance(err, OSError) and rec.n_samples > rec.samples_on_disk:
                off = getattr(rec, "time_offset_s", 0.0)
                self._lose(off + rec.samples_on_disk / rec.sfreq, off + rec.n_samples / rec.sfreq)

    def _lose(self, start: float, end: float) -> None:
        if self.lost_spans and start <= self.lost_spans[-1][1] + 1e-6:  # contiguous or overlapping: one span
            a, b = self.lost_spans.pop()
            start, end = min(a, start), max(b, end)
        self.lost_spans.append((start, end))
