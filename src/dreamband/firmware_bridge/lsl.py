"""An LSL (Lab Streaming Layer) stream as a :class:`~dreamband.firmware_bridge.chunk.Source`.

Labs stream their devices over LSL (OpenBCI GUI, muse-lsl, BlueMuse, Petal, MNE-LSL's
``PlayerLSL``). :class:`LslStream` opens the first stream matching a name or a type with
MNE-LSL's inlet (its wheels carry liblsl) and behaves like a BrainFlow board
(:class:`~dreamband.firmware_bridge.stream.BoardStream`): a reader thread pulls chunks, ``read()``
hands them over.

- Rate, channel names, types and units come from the stream's XML description (MNE-LSL and
  muse-lsl write them; a stream without units is taken to be in ``units``, ``--lsl-units``).
- Clock: LSL's time correction (the outlet's clock to ours, re-measured every few seconds) maps
  each sample to this machine's ``local_clock``, and that to UNIX time, so the chunk timestamps
  are on the clock of a BrainFlow board's.
- Gaps (samples the timestamps say are missing) and a vanished outlet are handled as a BrainFlow
  dropout: ``"gap"``, ``"dropout"``, ``"reconnect_attempt"``, ``"reconnected"`` events, and the
  missing samples delivered as NaN before the first sample after the gap, so the night's clock
  stays on the board's.

liblsl reads its configuration once per process, before the first stream is made:
:func:`configure_liblsl` writes an ``lsl_api.cfg`` for the discovery scope (this machine, or
the LAN) and points ``LSLAPICFG`` at it.
"""

from __future__ import annotations

import os
import threading
import time
from collections.abc import Sequence
from pathlib import Path
from typing import Any

import numpy as np

from dreamband.firmware_bridge.chunk import ChannelType, StreamChunk, StreamEvent, StreamStats

#: liblsl discovery scopes: ``machine`` (default, nothing leaves this computer) or ``lan``
LSL_SCOPES = ("machine", "lan")
#: the machine scope's multicast group (sent with TTL 0: it never leaves this computer)
MACHINE_GROUP = "239.255.172.216"
#: a gap shorter than this (seconds) is timestamp jitter, not lost samples
GAP_TOLERANCE_S = 0.1
#: at most this much of a gap is filled with NaN (longer: the stream restarted elsewhere)
MAX_GAP_FILL_S = 12 * 3600.0
_UNIT_TO_UV = {"uv": 1.0, "microvolt": 1.0, "microvolts": 1.0, "mv": 1e3, "millivolt": 1e3,
               "millivolts": 1e3, "v": 1e6, "volt": 1e6, "volts": 1e6, "nv": 1e-3, "nanovolts": 1e-3}
_TYPES = {"eeg": "eeg", "eog": "eog", "emg": "emg", "acc": "accel", "accel": "accel",
          "accelerometer": "accel", "accelerometers": "accel"}


def lsl_config_text(scope: str) -> str:
    """The ``lsl_api.cfg`` of a discovery scope.

    ``machine``: liblsl's ``ResolveScope = machine``: queries and announcements stay on this
    computer (TTL 0, to 127.0.0.1 and :data:`MACHINE_GROUP`, a multicast group of dreamband's own so
    that every outlet of a process answers, not only the last one bound to 127.0.0.1), no IPv6.
    ``lan``: liblsl's default, the site (this subnet). liblsl has no access control: an outlet
    answers any query that reaches its port, so a firewall is what keeps other computers out.
    """
    if scope not in LSL_SCOPES:
        raise ValueError(f"--lsl-scope is one of {', '.join(LSL_SCOPES)}, got {scope!r}.")
    if scope == "machine":
        return ("; written by dreamband: LSL discovery on this machine only\n[log]\nlevel = -1\n\n"
                "[ports]\nIPv6 = disable\n\n[multicast]\nResolveScope = machine\n"
                f"MachineAddresses = {{127.0.0.1, {MACHINE_GROUP}}}\n")
    return ("; written by dreamband: LSL discovery on the local network (liblsl's site scope)\n[log]\nlevel = -1\n\n"
            "[multicast]\nResolveScope = site\n")


def configure_liblsl(scope: str = "machine", folder: str | Path | None = None) -> str:
    """Point liblsl at a generated ``lsl_api.cfg`` for ``scope``; return a sentence saying which.

    Call it before the first LSL stream of the process (liblsl reads its configuration once).
    A ``LSLAPICFG`` the user set is respected (the sentence says so).

    Raises
    ------
    ValueError
        For an unknown scope.
    RuntimeError
        When this process already configured liblsl for the other scope.
    """
    text = lsl_config_text(scope)
    current = os.environ.get("LSLAPICFG")
    marker = "dreamband-lsl-"
    if current and marker not in Path(current).name:
        return f"LSL discovery: as configured in LSLAPICFG={current} (set by you; --lsl-scope not applied)"
    if current and not current.endswith(f"{marker}{scope}.cfg"):
        raise RuntimeError(f"liblsl was already configured in this process ({current}); it reads its "
                           "configuration once, so the scope cannot change now.")
    base = Path(folder) if folder is not None else Path(os.environ.get("XDG_CACHE_HOME") or Path.home() / ".cache")
    path = base / "dreamband" / f"{marker}{scope}.cfg"
    path.parent.mkdir(parents=True, exist_ok=True)
    if not path.exists() or path.read_text(encoding="utf-8") != text:
        path.write_text(text, encoding="utf-8")
    os.environ["LSLAPICFG"] = str(path)
    where = ("this machine only (liblsl ResolveScope=machine; LSL has no access control, a firewall keeps "
             "other computers out)") if scope == "machine" else "the local network (--lsl-scope lan)"
    return f"LSL discovery scope: {where}; liblsl configuration {path}"


def units_to_microvolts(unit: str | None, default: str = "uV") -> float:
    """Factor from a stream's unit text to microvolts (MNE-LSL writes a power of ten of volts).

    Raises
    ------
    ValueError
        For a unit that is not a voltage (the message suggests ``--lsl-units``).
    """
    text = (unit or "").strip().replace("\u00b5", "u").replace("\u03bc", "u")
    if not text:
        text = default
    try:  # MNE-LSL: FIFF unit multiplier, 0 = volts, -6 = microvolts
        return float(10.0 ** (int(text) + 6))
    except ValueError:
        pass
    factor = _UNIT_TO_UV.get(text.lower())
    if factor is None:
        raise ValueError(f"LSL channel unit {unit!r} is not a voltage; give the stream's unit with --lsl-units "
                         "(uV, mV or V).")
    return factor


def describe_stream(sinfo: Any) -> dict[str, Any]:
    """Name, type, rate, channel names/types/units of a resolved stream (from its XML description)."""
    n = int(sinfo.n_channels)
    names = sinfo.get_channel_names() or []
    types = sinfo.get_channel_types() or []
    units = sinfo.get_channel_units() or []
    names = [str(x) if x else f"ch{i + 1}" for i, x in enumerate(list(names) + [None] * (n - len(names)))][:n]
    types = [str(x) if x else "" for x in list(types) + [None] * (n - len(types))][:n]
    units = [str(x) if x else "" for x in list(units) + [None] * (n - len(units))][:n]
    return {"name": sinfo.name, "type": sinfo.stype, "sfreq": float(sinfo.sfreq), "n_channels": n,
            "source_id": sinfo.source_id, "hostname": sinfo.hostname, "dtype": str(sinfo.dtype),
            "channel_names": names, "channel_types": types, "units": units}


def list_lsl_streams(timeout: float = 1.0) -> list[dict[str, Any]]:
    """The LSL streams seen within ``timeout`` seconds (:func:`describe_stream` of each)."""
    from mne_lsl.lsl import resolve_streams

    return [describe_stream(s) for s in resolve_streams(timeout=timeout)]


def _channel_types(desc: dict[str, Any], eeg: Sequence[str] = (), eog: Sequence[str] = (),
                   emg: Sequence[str] = ()) -> list[ChannelType]:
    names = [n.lower() for n in desc["channel_names"]]
    stream_type = str(desc["type"] or "").lower()
    out: list[ChannelType] = []
    for name, t in zip(desc["channel_names"], desc["channel_types"], strict=True):
        kind = _TYPES.get(t.strip().lower()) if t.strip() else _TYPES.get(stream_type, "eeg")
        out.append(kind or "misc")  # type: ignore[arg-type]
        del name
    for wanted, kind in ((eog, "eog"), (emg, "emg"), (eeg, "eeg")):
        for w in wanted:
            if w.lower() not in names:
                raise ValueError(f"No channel {w!r} in LSL stream {desc['name']!r}; it has {desc['channel_names']}.")
            out[names.index(w.lower())] = kind  # type: ignore[assignment]
    return out


class LslStream:
    """The first LSL stream matching ``name`` / ``stype``, as a dreamband source.

    Parameters
    ----------
    name, stype : str, optional
        Stream name (``--stream-name``) and/or type (``--stream-type``, e.g. ``EEG``); at least one.
    units : str
        Unit of channels whose description gives none (``--lsl-units``: ``uV``, ``mV``, ``V``).
    sfreq : float, optional
        The samples' true rate (``--lsl-sfreq``) for a stream that declares none (irregular) or
        the wrong one; default the stream's nominal rate.
    eeg, eog, emg : sequence of str
        Channels to type as EEG/EOG/EMG (``--eeg`` ...), over the description's types.
    timeout : float
        Seconds to look for the stream at start.
    dropout_timeout_s : float
        No sample for this long is a dropout (the outlet vanished); reconnects follow.
    poll_interval_s : float
        Reader-thread period.

    Examples
    --------
    >>> stream = LslStream(stype="EEG")   # doctest: +SKIP
    >>> stream.start(); chunk = stream.read()   # doctest: +SKIP
    """

    def __init__(self, name: str | None = None, stype: str | None = None, *, units: str = "uV",
                 sfreq: float | None = None, eeg: Sequence[str] = (), eog: Sequence[str] = (),
                 emg: Sequence[str] = (), timeout: float = 10.0, dropout_timeout_s: float = 2.0,
                 poll_interval_s: float = 0.01, reconnect_initial_s: float = 0.5,
                 reconnect_max_s: float = 5.0) -> None:
        if not name and not stype:
            raise ValueError("--board lsl needs --stream-name NAME or --stream-type TYPE (e.g. EEG); "
                             "`dreamband boards` lists the LSL streams seen.")
        units_to_microvolts(None, units)  # a bad --lsl-units fails here
        if sfreq is not None and (not np.isfinite(sfreq) or sfreq <= 0):
            raise ValueError(f"--lsl-sfreq must be a positive rate in Hz, got {sfreq!r}.")
        self.query = {"name": name or None, "stype": stype or None}
        self.default_units = units
        self.timeout = float(timeout)
        self.dropout_timeout_s = float(dropout_timeout_s)
        self.poll_interval_s = float(poll_interval_s)
        self.reconnect_initial_s = float(reconnect_initial_s)
        self.reconnect_max_s = float(reconnect_max_s)
        self._picks = (tuple(eeg), tuple(eog), tuple(emg))
        self._sfreq_override = None if sfreq is None else float(sfreq)
        self.sfreq: float = float(sfreq or 0.0)
        self.channel_names: list[str] = []
        self.channel_types: list[ChannelType] = []
        self.description: dict[str, Any] = {}
        self.info = _LslBoard("lsl")
        self._scale = np.empty(0)
        self._stream_rate = 0.0
        self._lock = threading.Lock()
        self._stop_event = threading.Event()
        self._thread: threading.Thread | None = None
        self._inlet: Any = None
        self._pending: list[tuple[np.ndarray, np.ndarray]] = []
        self._events: list[StreamEvent] = []
        self._markers: list[float] = []
        self._stats = StreamStats()
        self._delivered = 0
        self._started = self._stopped = False
        self._last_ts: float | None = None  # last sample, local_clock
        self._clock_offset = 0.0  # UNIX time - local_clock
        self._correction = 0.0
        self._correction_mono = float("-inf")
        self._sinfo: Any = None
        self._source_id = ""
        self.resolve()

    # ------------------------------------------------------------------ Source protocol
    def resolve(self) -> None:
        """Find the stream; rate, channels and units from its description (the constructor calls it).

        Raises
        ------
        RuntimeError
            No stream matched within ``timeout`` (the message lists the streams seen).
        ValueError
            A stream without a rate and no ``--lsl-sfreq``, or units that are not a voltage.
        """
        from mne_lsl.lsl import resolve_streams

        found = resolve_streams(timeout=self.timeout, **self.query)
        if not found:
            seen = ", ".join(f"{s.name!r} ({s.stype})" for s in resolve_streams(timeout=0.5)) or "none"
            want = " and ".join(f"{k.replace('stype', 'type')} {v!r}" for k, v in self.query.items() if v)
            raise RuntimeError(f"No LSL stream with {want} found in {self.timeout:g} s (streams seen: {seen}). "
                               "Is the outlet running on this machine (or on the LAN, with --lsl-scope lan)?")
        # a resolved info has no XML description: the inlet fetches the full one from the outlet
        # (opened now: from here on the inlet buffers every sample until start() reads them)
        self._inlet = self._make_inlet(found[0])
        try:
            self._inlet.open_stream(timeout=max(self.timeout, 1.0))
            sinfo = self._inlet.get_sinfo(timeout=max(self.timeout, 1.0))
        except Exception as err:  # noqa: BLE001 - liblsl's timeout/lost errors
            raise RuntimeError(f"LSL stream {found[0].name!r} did not send its description: {err}") from err
        desc = describe_stream(sinfo)
        self._stream_rate = float(desc["sfreq"])
        if self._sfreq_override is None and self._stream_rate <= 0:
            raise ValueError(f"LSL stream {desc['name']!r} declares no sampling rate (irregular); "
                             "give the samples' rate with --lsl-sfreq.")
        self.sfreq = self._sfreq_override or self._stream_rate
        if self._stream_rate <= 0:
            self._stream_rate = self.sfreq
        self.description = desc
        self.channel_names = list(desc["channel_names"])
        self.channel_types = _channel_types(desc, *self._picks)
        self._scale = np.array([units_to_microvolts(u, self.default_units) if t in ("eeg", "eog", "emg") else 1.0
                                for u, t in zip(desc["units"], self.channel_types, strict=True)])
        self.info = _LslBoard(f"lsl:{desc['name']}")
        self._source_id = desc["source_id"]
        self._sinfo = sinfo

    def start(self) -> None:
        """Open the inlet and start the reader thread.

        Raises
        ------
        RuntimeError
            The source was stopped, or the outlet went away since :meth:`resolve`.
        """
        if self._stopped:
            raise RuntimeError("This LslStream was stopped; create a new one to stream again.")
        if self._started:
            return
        from mne_lsl.lsl import local_clock

        self._clock_offset = time.time() - local_clock()
        if self._inlet is None:
            try:
                self._open_inlet(self._sinfo)
            except Exception as err:  # noqa: BLE001 - liblsl's timeout/lost errors
                raise RuntimeError(f"Could not open LSL stream {self.description['name']!r}: {err}") from err
        self._started = True
        self._last_data_mono = time.monotonic()
        self._thread = threading.Thread(target=self._run, name=f"dreamband-lsl-{self.description['name']}",
                                        daemon=True)
        self._thread.start()

    def read(self) -> StreamChunk:
        """The samples since the previous call: (n_channels, n) µV, UNIX timestamps, markers."""
        with self._lock:
            pending, self._pending = self._pending, []
            markers, self._markers = self._markers, []
            first = self._delivered
            n = sum(p[0].shape[1] for p in pending)
            self._delivered += n
        if n == 0:
            if markers:
                with self._lock:
                    self._markers = markers + self._markers
            return StreamChunk.empty(len(self.channel_names), first)
        data = np.concatenate([p[0] for p in pending], axis=1) if len(pending) > 1 else pending[0][0]
        ts = np.concatenate([p[1] for p in pending]) if len(pending) > 1 else pending[0][1]
        mk = np.zeros(n)
        mk[: len(markers)] = markers[:n]
        return StreamChunk(data=data, timestamps=ts + self._clock_offset, markers=mk, first_sample=first)

    def poll_events(self) -> list[StreamEvent]:
        """Stream events since the previous call (gap, dropout, reconnect_attempt, reconnected)."""
        with self._lock:
            events, self._events = self._events, []
        return events

    def insert_marker(self, value: float) -> None:
        """Put a marker on the next sample delivered (an LSL inlet cannot write to the outlet)."""
        value = float(value)
        if not np.isfinite(value) or value == 0.0:
            raise ValueError(f"marker value must be a finite non-zero number, got {value!r}")
        with self._lock:
            self._markers.append(value)

    def stop(self) -> None:
        """Stop the reader thread and close the inlet. Safe to call twice."""
        if self._stopped:
            return
        self._stopped = True
        self._stop_event.set()
        if self._thread is not None and self._thread is not threading.current_thread():
            self._thread.join(timeout=5.0)
        self._close_inlet()

    @property
    def finished(self) -> bool:
        """Always False: a live stream ends when stopped (or at ``--duration``)."""
        return False

    @property
    def stats(self) -> StreamStats:
        """A copy of the running counters."""
        with self._lock:
            return StreamStats(**vars(self._stats))

    def __enter__(self) -> LslStream:
        self.start()
        return self

    def __exit__(self, *exc: object) -> None:
        self.stop()

    # ------------------------------------------------------------------ reader thread
    @staticmethod
    def _make_inlet(sinfo: Any) -> Any:
        from mne_lsl.lsl import StreamInlet

        return StreamInlet(sinfo, max_buffered=360, recover=False)

    def _open_inlet(self, sinfo: Any) -> None:
        inlet = self._make_inlet(sinfo)
        inlet.open_stream(timeout=max(self.timeout, 1.0))
        self._inlet = inlet
        self._correction_mono = float("-inf")

    def _close_inlet(self) -> None:
        inlet, self._inlet = self._inlet, None
        if inlet is not None:
            try:
                inlet.close_stream()
            except Exception:  # noqa: BLE001 - the outlet may already be gone
                pass

    def _time_correction(self, now: float) -> float:
        if now - self._correction_mono >= 5.0 and self._inlet is not None:
            try:
                self._correction = float(self._inlet.time_correction(timeout=0.5))
                self._correction_mono = now
            except Exception:  # noqa: BLE001 - a timeout keeps the last estimate
                pass
        return self._correction

    def _pull(self, now: float) -> int:
        try:
            data, ts = self._inlet.pull_chunk(timeout=0.0, max_samples=65536)
        except Exception:  # noqa: BLE001 - lost connection: silence, then a dropout
            return 0
        if ts is None or len(ts) == 0:
            return 0
        samples = np.asarray(data, dtype=np.float64).T * self._scale[:, None]
        local = np.asarray(ts, dtype=np.float64) + self._time_correction(now)
        self._accept(samples, local)
        return int(local.size)

    def _accept(self, samples: np.ndarray, local: np.ndarray) -> None:
        n = local.size
        fill = None
        if self._last_ts is not None:
            gap_s = float(local[0] - self._last_ts) - 1.0 / self._stream_rate
            lost = int(round(gap_s * self._stream_rate))
            if gap_s > GAP_TOLERANCE_S and lost > 0:
                lost_n = min(lost, int(MAX_GAP_FILL_S * self.sfreq))
                ts = self._last_ts + np.arange(1, lost_n + 1) * ((local[0] - self._last_ts) / (lost_n + 1))
                fill = (np.full((samples.shape[0], lost_n), np.nan), ts)
                self._push_event("gap", f"{lost} samples missing in the LSL stream ({lost / self._stream_rate:.3f} s); "
                                 "delivered as NaN.", {"lost_samples": lost, "lost_s": lost / self._stream_rate},
                                 float(self._last_ts + self._clock_offset))
        with self._lock:
            if fill is not None:
                self._pending.append(fill)
                self._stats.samples_lost += fill[0].shape[1]
                self._stats.gaps += 1
                self._stats.seconds_lost += fill[0].shape[1] / self._stream_rate
            self._pending.append((samples, local))
            self._stats.samples_received += n
        self._last_ts = float(local[-1])

    def _push_event(self, kind: str, message: str, details: dict, t: float | None = None) -> None:
        when = time.time() if t is None else t
        with self._lock:
            self._events.append(StreamEvent(kind, float(when), message, details))

    def _run(self) -> None:
        state, attempt, delay, next_try = "streaming", 0, self.reconnect_initial_s, 0.0
        dropout_mono = 0.0
        try:
            while not self._stop_event.is_set():
                now = time.monotonic()
                if state == "streaming":
                    if self._pull(now):
                        self._last_data_mono = now
                    elif now - self._last_data_mono >= self.dropout_timeout_s:
                        dropout_mono = self._last_data_mono
                        with self._lock:
                            self._stats.dropouts += 1
                        self._push_event("dropout", f"No data from LSL stream {self.description['name']!r} for "
                                         f"{now - self._last_data_mono:.1f} s; reconnecting.",
                                         {"since_last_sample_s": now - self._last_data_mono})
                        self._close_inlet()
                        state, next_try = "waiting", now
                elif state == "waiting" and now >= next_try:
                    attempt += 1
                    if self._reconnect(attempt):
                        state = "awaiting"
                    else:
                        delay = min(delay * 2.0, self.reconnect_max_s)
                        next_try = time.monotonic() + delay
                elif state == "awaiting" and self._pull(now):
                    self._last_data_mono = now
                    with self._lock:
                        self._stats.reconnects += 1
                    self._push_event("reconnected", f"LSL stream {self.description['name']!r} is back after "
                                     f"{attempt} attempt(s) and {now - dropout_mono:.1f} s.",
                                     {"attempts": attempt, "silent_s": now - dropout_mono})
                    state, attempt, delay = "streaming", 0, self.reconnect_initial_s
                elif state == "awaiting" and now - self._last_data_mono >= self.dropout_timeout_s + 2 * delay:
                    self._close_inlet()
                    state, next_try = "waiting", now
                self._stop_event.wait(self.poll_interval_s)
        except Exception as err:  # noqa: BLE001 - never raise into the engine: report
            self._push_event("error", f"LSL stream failed: {err}", {"error": repr(err)})

    def _reconnect(self, attempt: int) -> bool:
        from mne_lsl.lsl import resolve_streams

        found = resolve_streams(timeout=min(1.0, self.reconnect_max_s), **self.query)
        match = [s for s in found if s.source_id == self._source_id] or found
        ok = False
        if match and int(match[0].n_channels) == len(self.channel_names):
            try:
                self._open_inlet(match[0])
                ok = True
            except Exception:  # noqa: BLE001 - the outlet went away again
                ok = False
        self._push_event("reconnect_attempt", f"Reconnect attempt {attempt} to LSL stream "
                         f"{self.description['name']!r}: {'found it' if ok else 'not found'}.",
                         {"attempt": attempt, "ok": ok})
        if ok:
            self._last_data_mono = time.monotonic()
        return ok


class _LslBoard:
    """What the engine's session info reads of a board (``info.name``)."""

    def __init__(self, name: str) -> None:
        self.name = name


def _names(value: Any) -> tuple[str, ...]:
    if not value:
        return ()
    return tuple(s.strip() for s in str(value).split(",") if s.strip())


def open_lsl_source(args: Any) -> LslStream:
    """The :class:`LslStream` of the CLI options (``--stream-name``, ``--stream-type``, ``--lsl-units``,
    ``--lsl-sfreq``, ``--eeg``/``--eog``/``--emg`` as channel names, ``--timeout``)."""
    timeout = getattr(args, "timeout", None)
    return LslStream(getattr(args, "stream_name", None), getattr(args, "stream_type", None),
                     units=getattr(args, "lsl_units", None) or "uV", sfreq=getattr(args, "lsl_sfreq", None),
                     eeg=_names(getattr(args, "eeg", None)), eog=_names(getattr(args, "eog", None)),
                     emg=_names(getattr(args, "emg", None)), timeout=float(timeout) if timeout else 10.0)
