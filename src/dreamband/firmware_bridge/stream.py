"""A BrainFlow board as a :class:`~dreamband.firmware_bridge.chunk.Source`.

:class:`BoardStream` owns one BrainFlow session. A reader thread pulls the board's data every
``poll_interval_s`` into a buffer, watches for dropouts and reconnects; ``read()`` only hands over
what the thread collected, so it is cheap and never blocks on the device.

Dropouts: when no sample arrives for ``dropout_timeout_s``, a ``"dropout"`` event is queued, the
session is drained and released, and reconnect attempts follow with exponential backoff
(``"reconnect_attempt"``; ``"reconnected"`` when samples flow again, with the gap in samples and
seconds). After ``max_reconnect_attempts`` failed attempts the stream ends (``"ended"``) and
``finished`` becomes True once everything received was read. A playback file resumes where it
stopped after a reconnect, so a file that ran out stays out and ends the stream. The samples a
dropout lost are delivered as NaN (timestamps interpolated) just before the first sample after
the reconnect, and samples the package counter says are missing come back as NaN where they
were lost, so that sample counts stay on the board's clock (a lossy Bluetooth link would
otherwise make the night's clock, and the smart alarm, run late).

This module is over 500 lines because :class:`BoardStream` is one state machine (streaming,
dropout, reconnecting, ended) shared by the reader thread and ``read()`` under one lock; the
package-counter and gap-filling helpers it alone uses sit beside it.
"""

from __future__ import annotations

import itertools
import threading
import time
import weakref
from dataclasses import replace
from pathlib import Path

import numpy as np
from brainflow.board_shim import BoardShim, BrainFlowError, BrainFlowPresets
from brainflow.exit_codes import BrainFlowExitCodes

from dreamband.firmware_bridge.boards import BoardInfo, board_info
from dreamband.firmware_bridge.chunk import ChannelType, StreamChunk, StreamEvent, StreamStats
from dreamband.firmware_bridge.config import BoardConfig
from dreamband.firmware_bridge.montage import Montage

_STREAM_IDS = itertools.count(1)
_BUFFER_SAMPLES = 450_000  # BrainFlow ring buffer (30 min at 250 Hz); we drain it every few ms
_AUX = int(BrainFlowPresets.AUXILIARY_PRESET)
_AUX_MAX_AGE_S = 1.0  # an auxiliary sample older than this is not held onto an EEG sample (NaN)


#: What a Bluetooth headband (Muse S/2, Ganglion native) needs, whatever BrainFlow's code says
BLUETOOTH_HINT = (
    "a Bluetooth headband connects through the computer's own Bluetooth, no dongle or serial port: "
    "switch Bluetooth on (Linux: the bluetooth service running and `bluetoothctl power on`; macOS: allow "
    "Bluetooth for the terminal), charge the headband, switch it on and keep it within a few metres, "
    "disconnect it from any phone app, name it with --serial-number Muse-XXXX when several are around, "
    "and raise --timeout (discovery can take 10-20 s)"
)


class BoardConnectionError(RuntimeError):
    """A board could not be opened (wrong port, missing device, unknown board)."""


def _exit_code(err: BrainFlowError) -> int:
    return int(getattr(err, "exit_code", -1))


def connection_error(config: BoardConfig, info: BoardInfo, err: BrainFlowError, action: str) -> BoardConnectionError:
    """Build a message that names the board, its port and what to check."""
    code = _exit_code(err)
    where = config.describe_connection()
    checks = {
        int(BrainFlowExitCodes.UNABLE_TO_OPEN_PORT_ERROR): "the serial port does not exist or cannot be opened: "
        "check the dongle is plugged in, the port name (ls /dev/ttyUSB* /dev/ttyACM*, or COMx on Windows) "
        "and that you may use it (Linux: be in the 'dialout' group)",
        int(BrainFlowExitCodes.PORT_ALREADY_OPEN_ERROR): "the port is already open: close the OpenBCI GUI or "
        "any other program (or stream) using it",
        int(BrainFlowExitCodes.SER_PORT_ERROR): "the serial port could not be configured: check the port name",
        int(BrainFlowExitCodes.BOARD_NOT_READY_ERROR): "the board did not answer: check it is switched on, "
        "charged and in range, and that the dongle's switch is on GPIO 6 (OpenBCI)",
        int(BrainFlowExitCodes.INITIAL_MSG_ERROR): "the board did not answer: check it is switched on and in range",
        int(BrainFlowExitCodes.SYNC_TIMEOUT_ERROR): "no device was found in time: check the headband is on, "
        "charged, in range, not connected to a phone app, and raise --timeout",
        int(BrainFlowExitCodes.ANOTHER_BOARD_IS_CREATED_ERROR): "another stream already uses this board with the "
        "same settings: stop it first or give a different port/address",
        int(BrainFlowExitCodes.UNSUPPORTED_BOARD_ERROR): "BrainFlow does not support this board id",
        int(BrainFlowExitCodes.INVALID_ARGUMENTS_ERROR): f"the settings are incomplete or wrong; this board needs "
        f"{info.connection}",
    }
    hint = checks.get(code, f"check the connection settings; this board needs {info.connection}")
    if info.bluetooth and code not in (int(BrainFlowExitCodes.ANOTHER_BOARD_IS_CREATED_ERROR),
                                       int(BrainFlowExitCodes.UNSUPPORTED_BOARD_ERROR)):
        hint = BLUETOOTH_HINT
    return BoardConnectionError(
        f"Could not {action} board {info.name!r} (BrainFlow id {info.streaming_id}; {where}): "
        f"{hint}. BrainFlow said: {err}"
    )


class PackageCounter:
    """Count samples missing from a board's package-number row, wrap-around aware.

    Nothing is written down per board; the counter's habits are learnt as it runs:

    - its step: the most common increment (1 for most boards, 2 when a board merges packages);
    - its range: the top is the largest value seen, the floor the smallest value right after a
      wrap (Cyton 0..255, Ganglion 101..200);
    - samples per value: several samples may share one package number (repeated values).

    A loss that straddles the very first wrap, or hides the top value before any wrap was
    seen, can be undercounted; it is never overcounted.
    """

    def __init__(self) -> None:
        self._last: float | None = None
        self._top = -np.inf
        self._floor = np.inf
        self._steps: dict[int, int] = {}
        self._diffs = 0
        self._changes = 0

    def restart(self) -> None:
        """Forget the last value (a new session starts its counter afresh); keep what was learnt."""
        self._last = None

    def update(self, counter: np.ndarray) -> int:
        """Add the next package numbers; return the samples missing before and among them.

        Parameters
        ----------
        counter : ndarray, shape (n,)
            The board's package-number row of newly received samples.

        Returns
        -------
        int
            Samples lost (0 when the counter is contiguous).
        """
        return int(self.update_positions(counter).sum())

    def update_positions(self, counter: np.ndarray) -> np.ndarray:
        """Like :meth:`update`, but say where: samples missing just before each new sample.

        Parameters
        ----------
        counter : ndarray, shape (n,)
            The board's package-number row of newly received samples.

        Returns
        -------
        lost_before : ndarray, shape (n,), int64
            ``lost_before[j]`` samples are missing between sample ``j - 1`` (or the previous
            call's last sample) and sample ``j``.
        """
        c = np.asarray(counter, dtype=np.float64)
        lost_before = np.zeros(c.size, dtype=np.int64)
        if c.size == 0:
            return lost_before
        had_last = self._last is not None
        if had_last:
            c = np.concatenate(([self._last], c))
        self._last = float(c[-1])
        self._top = max(self._top, float(np.max(c)))
        if c.size < 2:
            return lost_before
        d = np.rint(np.diff(c)).astype(np.int64)
        wraps = np.flatnonzero(d < 0)
        if wraps.size:
            self._floor = min(self._floor, float(np.min(c[wraps + 1])))
        incr = d[d > 0]
        small = incr[incr <= 16]
        if small.size:
            values, counts = np.unique(small, return_counts=True)
            for v, k in zip(values.tolist(), counts.tolist(), strict=True):
                self._steps[v] = self._steps.get(v, 0) + k
        step = max(self._steps, key=self._steps.__getitem__) if self._steps else 1
        missing = np.zeros(d.size, dtype=np.int64)  # values missing after c[i], before c[i + 1]
        up = d > 0
        missing[up] = np.maximum(np.rint(d[up] / step).astype(np.int64) - 1, 0)
        for i in wraps.tolist():
            before, after = c[i], c[i + 1]
            missing[i] = (max(0, int(round((self._top - before) / step)))
                          + max(0, int(round((after - self._floor) / step))))
        self._diffs += d.size
        self._changes += incr.size + wraps.size
        per_value = max(1, int(round(self._diffs / self._changes))) if self._changes else 1
        # diff i sits before c[i + 1]: new sample i when the previous call's last leads c
        lost_before[(0 if had_last else 1):] = missing * per_value
        return lost_before


#: Longest dropout (seconds) filled with NaN samples after a reconnect; a longer jump of the
#: board's clock (a clock reset, not a dropout) is counted but not filled.
MAX_GAP_FILL_S = 12 * 3600.0


def _gap_fill(info: BoardInfo, n: int, last_ts: float, next_ts: float) -> np.ndarray:
    """BrainFlow rows for ``n`` samples lost in a dropout: NaN signals, interpolated times.

    Filling the gap keeps the sample count equal to the board's clock, so the session's data
    clock (samples / sfreq) does not fall behind the night by the length of every dropout.
    """
    fill = np.full((info.n_rows, n), np.nan)
    fill[info.timestamp_row] = np.linspace(last_ts, next_ts, n + 2)[1:-1]
    fill[info.marker_row] = 0.0
    return fill


def _fill_counter_gaps(info: BoardInfo, data: np.ndarray, lost_before: np.ndarray,
                       last_ts: float | None, sfreq: float) -> np.ndarray:
    """Insert NaN samples where the package counter says samples are missing.

    Parameters
    ----------
    info : BoardInfo
        The board's rows.
    data : ndarray, shape (n_rows, n)
        Samples as BrainFlow returned them.
    lost_before : ndarray, shape (n,), int
        Samples missing just before each sample (``PackageCounter.update_positions``).
    last_ts : float or None
        Timestamp of the sample before ``data`` (None at the stream's start).
    sfreq : float
        Nominal rate, Hz (to place a gap before the very first sample).

    Returns
    -------
    ndarray, shape (n_rows, n + lost_before.sum())
        The samples with the lost ones back as NaN (timestamps interpolated), so the sample
        count follows the board's clock. Gaps longer than ``MAX_GAP_FILL_S`` are left unfilled.
    """
    parts, prev = [], 0
    ts = data[info.timestamp_row]
    for j in np.flatnonzero(lost_before).tolist():
        k = int(lost_before[j])
        if k > MAX_GAP_FILL_S * sfreq:
            continue
        before = float(ts[j - 1]) if j > 0 else (last_ts if last_ts is not None else float(ts[j]) - (k + 1) / sfreq)
        parts.append(data[:, prev:j])
        parts.append(_gap_fill(info, k, before, float(ts[j])))
        prev = j
    parts.append(data[:, prev:])
    return np.concatenate(parts, axis=1)


class BoardStream:
    """Stream one BrainFlow board, with dropout detection and reconnection.

    Parameters
    ----------
    config : BoardConfig
        Which board and how to reach it (validated here).
    montage : Montage, optional
        Rows to deliver; default :meth:`Montage.from_config`.

    Attributes
    ----------
    sfreq : float
        Nominal sampling rate (Hz) from BrainFlow's description.
    channel_names : list of str
        Montage channel names.
    channel_types : list of str
        Montage channel types (``"eeg"``, ``"eog"``, ``"emg"``, ``"accel"``).
    info : BoardInfo
        The board's description.
    montage : Montage
        The delivered rows.

    Examples
    --------
    >>> with BoardStream(BoardConfig(board="synthetic")) as stream:  # doctest: +SKIP
    ...     time.sleep(1.0)
    ...     chunk = stream.read()          # (n_channels, ~250) microvolts
    """

    def __init__(self, config: BoardConfig, montage: Montage | None = None) -> None:
        if not isinstance(config, BoardConfig):
            raise TypeError(f"config must be a BoardConfig, got {type(config).__name__}")
        config = config.validated()
        self._serial = next(_STREAM_IDS)
        if config.needs_unique_other_info:
            # BrainFlow refuses two sessions of one board id with equal parameters.
            config = replace(config, other_info=f"dreamband-stream-{id(self):x}-{self._serial}")
        self.config = config
        self.info: BoardInfo = board_info(config.board, master_board=config.master_board)
        self.montage: Montage = montage if montage is not None else Montage.from_config(config, self.info)
        if not self.montage.rows:
            raise ValueError("The montage selects no row of the board's default preset; give at least one EEG row")
        if max(self.montage.rows) >= self.info.n_rows:
            raise ValueError(f"Montage rows {self.montage.rows} do not fit board {self.info.name!r} ({self.info.n_rows} rows)")
        self.sfreq: float = self.info.sfreq
        self.channel_names: list[str] = list(self.montage.names)
        self.channel_types: list[ChannelType] = list(self.montage.types)
        self._rows = np.asarray(self.montage.rows, dtype=np.intp)
        self._aux_rows = np.asarray(self.montage.aux_rows, dtype=np.intp)
        if self._aux_rows.size and self.info.aux_timestamp_row is None:
            raise ValueError(f"Board {self.info.name!r} has no auxiliary preset for montage aux_rows")
        # auxiliary samples received, (1 + n_aux, k): timestamps then the montage's aux rows
        self._aux_hist = np.empty((1 + self._aux_rows.size, 0))

        self._lock = threading.Lock()  # guards buffers, events, stats, self._shim
        self._stop_event = threading.Event()
        self._thread: threading.Thread | None = None
        # The live session sits in a one-item box so that a finalizer can release it if the
        # stream is garbage-collected or the interpreter exits without stop().
        self._session_box: list[BoardShim | None] = [None]
        self._finalizer = weakref.finalize(self, _release_box, self._session_box)
        self._pending: list[np.ndarray] = []
        self._events: list[StreamEvent] = []
        self._pending_markers: list[float] = []
        self._stats = StreamStats()
        self._delivered = 0
        self._started = False
        self._stopped = False
        self._ended = False
        # reader-thread state
        self._last_data_mono = 0.0
        self._last_ts: float | None = None
        self._last_pull_mono: float | None = None  # for achieved rate: last pull that had data
        self._rate_samples = 0
        self._rate_seconds = 0.0
        self._counter = PackageCounter()
        self._file_position = 0  # playback: lines of the file consumed
        self._file_lines: int | None = None
        self._await_gap_check = False
        self._reconnect_gap: tuple[int, float] = (0, 0.0)

    # ------------------------------------------------------------------ Source protocol
    def start(self) -> None:
        """Open the board and start streaming.

        Raises
        ------
        BoardConnectionError
            The board could not be opened (names the board, the port and what to check).
        RuntimeError
            The stream was already stopped.
        """
        if self._stopped:
            raise RuntimeError("This BoardStream was stopped; create a new one to stream again")
        if self._started:
            return
        if self.config.brainflow_log:
            BoardShim.enable_dev_board_logger()
        else:
            BoardShim.disable_board_logger()
        if self.info.needs_serial_port and not self.config.serial_port:
            raise BoardConnectionError(
                f"Board {self.info.name!r} needs a serial port; connect it with {self.info.connection}"
            )
        shim = self._open_session(resume_at=None, action="start")
        now = time.monotonic()
        with self._lock:
            self._shim = shim
            self._last_data_mono = now
            self._started = True
        self._thread = threading.Thread(
            target=self._run, name=f"dreamband-board-{self.info.name}-{self._serial}", daemon=True
        )
        self._thread.start()

    def read(self) -> StreamChunk:
        """Return the samples that arrived since the previous call (may be empty).

        Returns
        -------
        StreamChunk
            ``data`` (n_channels, n) float64 in montage order (µV; accelerometer in g),
            ``timestamps`` and ``markers`` (n,), ``first_sample`` counted from the stream's start
            (samples on the board's clock: the samples lost in a dropout come back as NaN after
            the reconnect, so counts stay aligned with time), ``raw`` the full BrainFlow rows.
        """
        with self._lock:
            pending, self._pending = self._pending, []
            first = self._delivered
            n = sum(p.shape[1] for p in pending)
            self._delivered += n
        if n == 0:
            return StreamChunk.empty(self.montage.n_channels, first, self.info.n_rows)
        raw = pending[0] if len(pending) == 1 else np.concatenate(pending, axis=1)
        data = raw[self._rows].astype(np.float64, copy=True)
        if self._aux_rows.size:
            data = np.vstack([data, self._hold_aux(raw[self.info.timestamp_row])])
        return StreamChunk(
            data=data,
            timestamps=raw[self.info.timestamp_row].copy(),
            markers=raw[self.info.marker_row].copy(),
            first_sample=first,
            raw=raw,
        )

    def _hold_aux(self, ts: np.ndarray) -> np.ndarray:
        """Auxiliary channels at the EEG sample times: the latest auxiliary sample at or before
        each time (sample-and-hold), NaN when none is younger than ``_AUX_MAX_AGE_S``."""
        with self._lock:
            hist = self._aux_hist
            if hist.shape[1] > 1:  # keep what later reads may still need (and the newest sample)
                keep = max(0, min(int(np.searchsorted(hist[0], ts[-1] - 2.0)), hist.shape[1] - 1))
                self._aux_hist = hist[:, keep:]
        out = np.full((self._aux_rows.size, ts.size), np.nan)
        if hist.shape[1] == 0:
            return out
        idx = np.searchsorted(hist[0], ts, side="right") - 1
        ok = idx >= 0
        ok[ok] &= (ts[ok] - hist[0, idx[ok]]) <= _AUX_MAX_AGE_S
        out[:, ok] = hist[1:, idx[ok]]
        return out

    def _pull_aux(self, shim: BoardShim) -> None:
        """Move auxiliary-preset samples from BrainFlow into the hold buffer."""
        try:
            aux = shim.get_board_data(preset=_AUX)
        except BrainFlowError:
            return
        if aux.shape[1] == 0:
            return
        rows = np.vstack([aux[self.info.aux_timestamp_row][None, :], aux[self._aux_rows]])
        with self._lock:
            self._aux_hist = np.concatenate([self._aux_hist, rows], axis=1)

    def poll_events(self) -> list[StreamEvent]:
        """Return the stream events queued since the previous call."""
        with self._lock:
            events, self._events = self._events, []
        return events

    def insert_marker(self, value: float) -> None:
        """Insert a marker on the next sample of the board's marker row.

        While the board is reconnecting the marker is kept and inserted once it streams again.

        Raises
        ------
        ValueError
            ``value`` is zero or not finite (0 means "no marker" in BrainFlow).
        RuntimeError
            The stream is not running.
        """
        value = float(value)
        if not np.isfinite(value) or value == 0.0:
            raise ValueError(f"marker value must be a finite non-zero number, got {value!r}")
        with self._lock:
            if not self._started or self._stopped:
                raise RuntimeError("insert_marker needs a started stream (call start() first)")
            if self._shim is not None:
                try:
                    self._shim.insert_marker(value)
                    return
                except BrainFlowError:
                    pass
            self._pending_markers.append(value)

    def config_board(self, command: str) -> str:
        """Send a configuration string to the running board (BrainFlow ``config_board``), e.g.
        the lead-off commands of :mod:`dreamband.firmware_bridge.lead_off`; return its answer.

        Raises
        ------
        RuntimeError
            The stream is not running (or is reconnecting), or the board refused the command.
        """
        with self._lock:
            shim = self._shim
            if not self._started or self._stopped or shim is None:
                raise RuntimeError("config_board needs a running stream (call start() first)")
            try:
                return str(shim.config_board(str(command)))
            except BrainFlowError as err:
                raise RuntimeError(f"Board {self.info.name!r} refused the command {command!r}: {err}") from None

    def stop(self) -> None:
        """Stop streaming and release the BrainFlow session. Safe to call twice.

        Samples that arrived before the stop stay readable with :meth:`read`.
        """
        if self._stopped:
            return
        self._stopped = True
        self._stop_event.set()
        thread = self._thread
        if thread is not None and thread is not threading.current_thread():
            thread.join(timeout=max(5.0, 2 * self.config.timeout))
        with self._lock:
            shim, self._shim = self._shim, None
        if shim is not None:
            self._drain_and_release(shim)

    @property
    def finished(self) -> bool:
        """True when the stream ended (gave up reconnecting, e.g. a playback file that ran out)
        and every received sample was read."""
        with self._lock:
            return self._ended and not self._pending

    @property
    def running(self) -> bool:
        """True between :meth:`start` and :meth:`stop` while the stream has not ended."""
        return self._started and not self._stopped and not self._ended

    @property
    def stats(self) -> StreamStats:
        """A copy of the running counters (samples received and lost, gaps, dropouts, rate)."""
        with self._lock:
            rate = self._rate_samples / self._rate_seconds if self._rate_seconds > 0 else 0.0
            return replace(self._stats, achieved_rate=rate)

    def __enter__(self) -> BoardStream:
        self.start()
        return self

    def __exit__(self, *exc: object) -> None:
        self.stop()

    @property
    def _shim(self) -> BoardShim | None:
        return self._session_box[0]

    @_shim.setter
    def _shim(self, shim: BoardShim | None) -> None:
        self._session_box[0] = shim

    def __repr__(self) -> str:
        return (
            f"<BoardStream {self.info.name} {self.sfreq:g} Hz, {len(self.channel_names)} channels, "
            f"{'running' if self.running else 'idle'}>"
        )

    # ------------------------------------------------------------------ session handling
    def _open_session(self, resume_at: int | None, action: str) -> BoardShim:
        """Prepare and start a BrainFlow session; release it again on any failure."""
        cfg = self.config
        shim = BoardShim(self.info.streaming_id, cfg.to_params())
        try:
            shim.prepare_session()
            if self.info.is_playback:
                shim.config_board("loopback_true" if cfg.playback_loop else "loopback_false")
                shim.config_board("old_timestamps" if cfg.playback_timestamps == "old" else "new_timestamps")
                if resume_at:
                    n_lines = self._playback_lines()
                    # BrainFlow seeks by percentage of the file's line offsets (n_lines + 1 of them).
                    pct = min((resume_at + 0.5) * 100.0 / (n_lines + 1), 99.999999)
                    shim.config_board(f"set_index_percentage:{pct:.9f}")
            shim.start_stream(_BUFFER_SAMPLES)
        except BrainFlowError as err:
            _release_quietly(shim)
            raise connection_error(cfg, self.info, err, action) from None
        except BaseException:
            _release_quietly(shim)
            raise
        return shim

    def _playback_lines(self) -> int:
        if self._file_lines is None:
            count = 0
            with open(Path(str(self.config.playback_file)), "rb") as fh:
                for block in iter(lambda: fh.read(1 << 20), b""):
                    count += block.count(b"\n")
            self._file_lines = count
        return self._file_lines

    def _drain_and_release(self, shim: BoardShim) -> None:
        """Stop the stream, keep what the session still holds, then release it."""
        try:
            shim.stop_stream()
        except BrainFlowError:
            pass
        if self._aux_rows.size:
            self._pull_aux(shim)
        try:
            data = shim.get_board_data()
            if data.shape[1]:
                self._accept(data, time.monotonic())
        except BrainFlowError:
            pass
        _release_quietly(shim)

    # ------------------------------------------------------------------ reader thread
    def _run(self) -> None:
        cfg = self.config
        limit = cfg.reconnect_limit
        state = "streaming"  # streaming | waiting (to reconnect) | awaiting (data after reconnect)
        attempt = 0
        delay = cfg.reconnect_initial_s
        next_attempt = 0.0
        restarted_at = 0.0
        dropout_started: float | None = None
        try:
            while not self._stop_event.is_set():
                now = time.monotonic()
                if state in ("streaming", "awaiting"):
                    with self._lock:
                        shim = self._shim
                        self._flush_markers(shim)
                    n = 0
                    if shim is not None:
                        if self._aux_rows.size:
                            self._pull_aux(shim)  # first, so it is there when its EEG is read
                        try:
                            data = shim.get_board_data()
                        except BrainFlowError:
                            data = None
                        if data is not None and data.shape[1]:
                            n = self._accept(data, now)
                    if n:
                        if state == "awaiting":
                            self._on_reconnected(attempt, dropout_started, now)
                            state, attempt, delay = "streaming", 0, cfg.reconnect_initial_s
                    else:
                        since = now - (self._last_data_mono if state == "streaming" else restarted_at)
                        if since >= cfg.dropout_timeout_s:
                            if state == "streaming":
                                dropout_started = self._last_data_mono
                                self._on_dropout(now)
                            # release the silent session, schedule the next attempt
                            with self._lock:
                                silent, self._shim = self._shim, None
                            if silent is not None:
                                self._drain_and_release(silent)
                            if limit is not None and attempt >= limit:
                                self._on_give_up(attempt, dropout_started)
                                return
                            state, next_attempt = "waiting", now + delay
                elif state == "waiting" and now >= next_attempt:
                    attempt += 1
                    ok, msg = self._try_reconnect(attempt, limit, delay)
                    delay = min(delay * 2.0, cfg.reconnect_max_s)
                    if ok:
                        state, restarted_at = "awaiting", time.monotonic()
                    elif limit is not None and attempt >= limit:
                        self._on_give_up(attempt, dropout_started)
                        return
                    else:
                        next_attempt = time.monotonic() + delay
                self._stop_event.wait(cfg.poll_interval_s)
        except Exception as err:  # never raise into the engine: report and end
            self._push_event("error", f"Stream of board {self.info.name!r} failed: {err}", {"error": repr(err)})
            with self._lock:
                shim, self._shim = self._shim, None
                self._ended = True
            if shim is not None:
                self._drain_and_release(shim)

    def _flush_markers(self, shim: BoardShim | None) -> None:
        """Insert markers kept during a reconnect (caller holds the lock)."""
        if shim is None or not self._pending_markers:
            return
        try:
            for value in self._pending_markers:
                shim.insert_marker(value)
            self._pending_markers.clear()
        except BrainFlowError:
            pass

    def _accept(self, data: np.ndarray, now: float) -> int:
        """Book newly pulled samples: buffer, counters, package-number losses, rate."""
        n = int(data.shape[1])
        info = self.info
        lost_before = (self._counter.update_positions(data[info.package_num_row])
                       if info.package_num_row is not None else None)
        lost = 0 if lost_before is None else int(lost_before.sum())
        gap_event = None
        fill = None
        if self._await_gap_check:
            self._await_gap_check = False
            first_ts = float(data[info.timestamp_row, 0])
            lost_s = 0.0 if self._last_ts is None else max(0.0, first_ts - self._last_ts - 1.0 / self.sfreq)
            lost_n = int(round(lost_s * self.sfreq))
            self._reconnect_gap = (lost_n, lost_n / self.sfreq)
            if 0 < lost_n <= int(MAX_GAP_FILL_S * self.sfreq):
                fill = _gap_fill(info, lost_n, self._last_ts, first_ts)
        delivered = data if not lost else _fill_counter_gaps(info, data, lost_before, self._last_ts, self.sfreq)
        with self._lock:
            if fill is not None:
                self._pending.append(fill)
            self._pending.append(delivered)
            st = self._stats
            st.samples_received += n
            if self._last_pull_mono is not None:
                self._rate_samples += n
                self._rate_seconds += now - self._last_pull_mono
            self._last_pull_mono = now
            if lost > 0:
                st.samples_lost += lost
                st.gaps += 1
                st.seconds_lost += lost / self.sfreq
                gap_event = (lost, float(data[info.timestamp_row, 0]))
        self._file_position += n
        self._last_data_mono = now
        self._last_ts = float(data[info.timestamp_row, -1])
        if gap_event is not None:
            lost, t = gap_event
            self._push_event(
                "gap",
                f"{lost} samples lost in transmission ({lost / self.sfreq:.3f} s), from the package counter.",
                {"lost_samples": lost, "lost_s": lost / self.sfreq},
                time_=t,
            )
        return n

    def _stream_time(self, now: float) -> float:
        """Stream-clock time now: last timestamp + wall time since it arrived."""
        if self._last_ts is None:
            return time.time()
        return self._last_ts + (now - self._last_data_mono)

    def _push_event(self, kind: str, message: str, details: dict, time_: float | None = None) -> None:
        t = self._stream_time(time.monotonic()) if time_ is None else time_
        with self._lock:
            self._events.append(StreamEvent(kind, float(t), message, details))

    def _on_dropout(self, now: float) -> None:
        silent_for = now - self._last_data_mono
        with self._lock:
            self._stats.dropouts += 1
            received = self._stats.samples_received
            self._last_pull_mono = None  # the silence is not part of the achieved rate
        self._await_gap_check = True  # the next sample (late or after reconnect) measures the gap
        self._reconnect_gap = (0, 0.0)
        self._push_event(
            "dropout",
            f"No data from board {self.info.name!r} for {silent_for:.1f} s; reconnecting.",
            {"since_last_sample_s": silent_for, "samples_received": received,
             "last_timestamp": self._last_ts},
        )

    def _try_reconnect(self, attempt: int, limit: int | None, delay: float) -> tuple[bool, str]:
        resume = None
        if self.info.is_playback:
            n_lines = self._playback_lines()
            resume = self._file_position % n_lines if (self.config.playback_loop and n_lines) else self._file_position
        of = f"/{limit}" if limit is not None else ""
        try:
            shim = self._open_session(resume_at=resume, action="reconnect")
        except BoardConnectionError as err:
            self._push_event(
                "reconnect_attempt",
                f"Reconnect attempt {attempt}{of} to board {self.info.name!r} failed: {err}",
                {"attempt": attempt, "ok": False, "waited_s": delay, "error": str(err)},
            )
            return False, str(err)
        with self._lock:
            stopping = self._stop_event.is_set()
            if not stopping:
                self._shim = shim
                self._counter.restart()  # a new session restarts the package counter
        if stopping:  # stop() ran while we were connecting: do not leave a session behind
            self._drain_and_release(shim)
            return False, "stopped"
        details = {"attempt": attempt, "ok": True, "waited_s": delay}
        msg = f"Reconnect attempt {attempt}{of}: session of board {self.info.name!r} restarted, waiting for data."
        if self.info.is_playback and resume is not None:
            details["resume_line"] = resume
            n_lines = self._playback_lines()
            if resume >= n_lines and not self.config.playback_loop:
                msg += f" The playback file is at its end ({resume} of {n_lines} lines)."
        self._push_event("reconnect_attempt", msg, details)
        return True, msg

    def _on_reconnected(self, attempt: int, dropout_started: float | None, now: float) -> None:
        # The gap (measured in _accept): data-clock time between the last sample before the
        # dropout and the first one after, less one sample period.
        lost, lost_s = self._reconnect_gap
        with self._lock:
            self._stats.reconnects += 1
            if lost > 0:
                self._stats.samples_lost += lost
                self._stats.seconds_lost += lost_s
                self._stats.gaps += 1
        silent = None if dropout_started is None else now - dropout_started
        self._push_event(
            "reconnected",
            f"Board {self.info.name!r} streams again after {attempt} attempt(s); "
            f"gap {lost} samples ({lost_s:.2f} s).",
            {"attempts": attempt, "lost_samples": lost, "lost_s": lost_s, "silent_s": silent},
        )

    def _on_give_up(self, attempts: int, dropout_started: float | None) -> None:
        playback = self.info.is_playback
        if playback:
            msg = (f"Playback of {Path(str(self.config.playback_file)).name} ended "
                   f"({self._file_position} samples) after {attempts} reconnect attempt(s).")
        else:
            msg = f"Board {self.info.name!r} did not come back after {attempts} reconnect attempt(s); stream ended."
        with self._lock:
            received = self._stats.samples_received
        self._push_event("ended", msg, {"attempts": attempts, "samples_received": received})
        with self._lock:
            self._ended = True



def _release_quietly(shim: BoardShim) -> None:
    try:
        if shim.is_prepared():
            try:
                shim.stop_stream()
            except BrainFlowError:
                pass
            shim.release_session()
    except BrainFlowError:
        pass


def _release_box(box: list[BoardShim | None]) -> None:
    """Finalizer: release a session left open (stream collected or interpreter exiting)."""
    shim, box[0] = box[0], None
    if shim is not None:
        _release_quietly(shim)
