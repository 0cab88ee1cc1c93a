"""The session's event bus: one :class:`Subscription` (its own queue) per sink.

A slow sink never blocks acquisition nor the other sinks. A bounded subscription (``maxsize``)
drops its own oldest ``SamplesArrived`` when full and says so with a warning ``LogMessage``
(other event kinds are never dropped). :class:`EventBus` is the publishing side the engine owns.
"""

from __future__ import annotations

import threading
from collections import deque
from collections.abc import Callable

from dreamband.session.events import Event, LogMessage, SamplesArrived, SessionEnded


class Subscription:
    """One sink's own queue of events.

    Parameters
    ----------
    maxsize : int, optional
        Most ``SamplesArrived`` events kept; beyond it the oldest are dropped for this sink only
        (counted in :attr:`dropped_chunks` / :attr:`dropped_samples`, announced once per episode
        by a warning ``LogMessage``). None (default) keeps everything.
    name : str
        For messages.
    samples : bool
        False: this sink never receives ``SamplesArrived`` (a console, a logger).
    """

    def __init__(self, maxsize: int | None = None, name: str = "sink", samples: bool = True) -> None:
        if maxsize is not None and int(maxsize) < 1:
            raise ValueError(f"maxsize must be >= 1 or None, got {maxsize!r}.")
        self.maxsize = None if maxsize is None else int(maxsize)
        self.name = name
        self.samples = bool(samples)
        self.dropped_chunks = 0
        self.dropped_samples = 0
        self._q: deque[Event] = deque()
        self._n_samples_events = 0
        self._cond = threading.Condition()
        self._closed = False
        self._ended = False
        self._dropping = False

    # ----------------------------------------------------------- engine side
    def _put(self, ev: Event) -> None:
        with self._cond:
            if self._closed:
                return
            if isinstance(ev, SamplesArrived):
                if not self.samples:
                    return
                if self.maxsize is not None and self._n_samples_events >= self.maxsize:
                    self._drop_oldest_samples(ev.time)
                self._n_samples_events += 1
            elif isinstance(ev, SessionEnded):
                self._ended = True
            self._q.append(ev)
            self._cond.notify_all()

    def _drop_oldest_samples(self, time: float) -> None:
        for i, old in enumerate(self._q):
            if isinstance(old, SamplesArrived):
                del self._q[i]
                self._n_samples_events -= 1
                self.dropped_chunks += 1
                self.dropped_samples += old.chunk.n_samples if old.chunk is not None else 0
                break
        if not self._dropping:
            self._dropping = True
            self._q.append(LogMessage(time, "warning", f"{self.name} fell behind: dropping sample chunks for this view "
                                                       "only (acquisition and recording are unaffected)."))

    def _end(self) -> None:
        with self._cond:
            self._ended = True
            self._cond.notify_all()

    # ----------------------------------------------------------- sink side
    def get(self, timeout: float | None = None) -> Event | None:
        """Next event; waits up to ``timeout`` s (None: until one comes or the session ends)."""
        with self._cond:
            if not self._q and not self._ended and not self._closed:
                self._cond.wait_for(lambda: self._q or self._ended or self._closed, timeout)
            return self._pop()

    def get_nowait(self) -> Event | None:
        """Next event or None."""
        with self._cond:
            return self._pop()

    def _pop(self) -> Event | None:
        if not self._q:
            self._dropping = False
            return None
        ev = self._q.popleft()
        if isinstance(ev, SamplesArrived):
            self._n_samples_events -= 1
        return ev

    def drain(self, max_items: int | None = None) -> list[Event]:
        """All queued events (at most ``max_items``), without waiting."""
        out: list[Event] = []
        with self._cond:
            while self._q and (max_items is None or len(out) < max_items):
                out.append(self._pop())  # type: ignore[arg-type]
            if not self._q:
                self._dropping = False
        return out

    def __len__(self) -> int:
        return len(self._q)

    @property
    def ended(self) -> bool:
        """True once the session ended (events may still be queued)."""
        return self._ended

    @property
    def exhausted(self) -> bool:
        """True when the session ended and every event was taken."""
        return self._ended and not self._q

    @property
    def closed(self) -> bool:
        """True after :meth:`close`."""
        return self._closed

    def close(self) -> None:
        """Stop receiving events (the engine forgets this subscription)."""
        with self._cond:
            self._closed = True
            self._q.clear()
            self._cond.notify_all()

    def follow(self, handle: Callable[[Event], object], name: str) -> threading.Thread:
        """Call ``handle(event)`` for each event from a daemon thread until the session ends
        (or the subscription is closed); return the started thread."""
        def loop() -> None:
            while True:
                ev = self.get(timeout=0.5)
                if ev is not None:
                    handle(ev)
                elif self.exhausted or self.closed:
                    break

        thread = threading.Thread(target=loop, name=name, daemon=True)
        thread.start()
        return thread


class SubscriptionSink:
    """A sink fed by its own :class:`Subscription`: :meth:`pump` drains it in manual mode,
    :meth:`start` follows it from a daemon thread, :meth:`join_thread` waits for that thread.

    Subclasses set :attr:`subscription` and :attr:`thread_name` and implement :meth:`handle`;
    each closes in its own way (flush a socket, linger for LSL consumers, close an archive)
    after :meth:`join_thread` and a last :meth:`pump`.
    """

    subscription: Subscription
    thread_name: str = "dreamband-sink"
    _thread: threading.Thread | None = None

    def handle(self, event: Event) -> object:
        """Deliver one event (to a socket, an outlet, a file...)."""
        raise NotImplementedError

    def pump(self) -> None:
        """Deliver every queued event (manual mode)."""
        for event in self.subscription.drain():
            self.handle(event)

    def start(self) -> None:
        """Deliver from a background thread until the session ends."""
        self._thread = self.subscription.follow(self.handle, self.thread_name)

    def join_thread(self, timeout: float | None) -> None:
        """Wait up to ``timeout`` s (None: for ever) for the thread of :meth:`start`, if any."""
        if self._thread is not None:
            self._thread.join(timeout)


class EventBus:
    """The engine's side of the subscriptions: subscribe, publish, end."""

    def __init__(self) -> None:
        self._subs: list[Subscription] = []
        self._lock = threading.Lock()
        self.ended = False

    def subscribe(self, maxsize: int | None = None, name: str = "sink", samples: bool = True) -> Subscription:
        """A new subscription receiving every event published from now on."""
        sub = Subscription(maxsize, name, samples)
        with self._lock:
            self._subs.append(sub)
        if self.ended:
            sub._end()
        return sub

    def publish(self, events: list[Event]) -> None:
        """Queue ``events`` (in order) on every open subscription."""
        if not events:
            return
        with self._lock:
            subs = [s for s in self._subs if not s.closed]
            self._subs = subs
        for s in subs:
            for ev in events:
                s._put(ev)

    def end(self) -> None:
        """The session ended: wake every waiting sink (queued events stay to be taken)."""
        self.ended = True
        with self._lock:
            subs = list(self._subs)
        for s in subs:
            s._end()
