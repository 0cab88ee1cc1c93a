"""The "sleeper" board: a generated night served like any other board.

``dreamband live --board sleeper`` draws a night with :func:`dreamband.signal.simulate.simulate_night`
and streams it

* at real time through BrainFlow's PLAYBACK_FILE_BOARD (the real BrainFlow path: the night is
  written to a temporary BrainFlow CSV in the **Muse 2 layout** (8 rows: package counter,
  4 signal rows = Fp1, Fp2, EOG, EMG, one unused row, UNIX timestamp, marker; 256 Hz) and
  BrainFlow paces it by its timestamps), when ``--speed`` is not given or is 1;
* through the replay path (:class:`~dreamband.recordings.replay.RecordingSource` over an
  in-memory :class:`~dreamband.recordings.recording.Recording`) at ``--speed N`` or ``--speed max``.

Both paths play the same night (same seed, 256 Hz). The source knows the truth: ``.night``
(the :class:`~dreamband.signal.simulate.SimulatedNight`), ``.hypnogram`` and ``.events``, so an
end-to-end test can compare what the pipeline saw with what was generated.

The Muse 2 layout is used because it is BrainFlow's most compact 4-channel layout: an 8-hour
night is about 0.6 GB of CSV (BrainFlow writes 6 decimals) and takes ~10-15 s to write, so the
real-time path writes only ``--duration`` seconds when that option is given. The file is deleted
when the source stops.
"""

from __future__ import annotations

import argparse
import datetime as dt
import math
import shutil
import sys
import tempfile
import time
from pathlib import Path

import numpy as np

from dreamband.firmware_bridge.chunk import StreamChunk, StreamEvent
from dreamband.signal.simulate import SimEvent, SimulatedNight, simulate_night

#: BrainFlow board whose file layout the real-time path writes (BoardIds.MUSE_2_BOARD).
PLAYBACK_MASTER_BOARD = "muse-2"
SLEEPER_SFREQ = 256.0
DEFAULT_HOURS = 8.0
DEFAULT_SEED = 1


def read_hypnogram_file(path: str | Path) -> np.ndarray:
    """Read a hypnogram file (any format ``recordings.hypnogram.load_hypnogram`` reads) in 30-s epochs.

    Leading and trailing unknown epochs are dropped; unknown epochs inside are kept (-1).
    """
    from dreamband.recordings.hypnogram import load_hypnogram

    stages, epoch_s = load_hypnogram(path)
    if abs(epoch_s - 30.0) > 1e-6:
        raise ValueError(f"{path}: the hypnogram has {epoch_s:g}-s epochs; the sleeper needs 30-s epochs.")
    known = np.flatnonzero(stages >= 0)
    if known.size == 0:
        raise ValueError(f"{path}: the hypnogram has no scored epoch (all unknown).")
    # leading/trailing unscored stretches (e.g. Sleep-EDF's "?" up to 24 h) are not part of the night;
    # unknown epochs inside it are generated as wake with a movement artefact
    return stages[known[0] : known[-1] + 1]


def night_for_args(args: argparse.Namespace) -> SimulatedNight:
    """Draw the night a ``live --board sleeper`` session plays.

    ``--duration SECONDS`` sets its length (default 8 h); ``--seed`` (when the verb has it,
    default 1) and ``--hypnogram FILE`` (when the verb has it) choose the night.
    """
    duration = getattr(args, "duration", None)
    if duration is not None and (not math.isfinite(float(duration)) or float(duration) <= 0):
        raise ValueError(f"--duration must be a positive number of seconds, got {duration!r}.")
    hours = DEFAULT_HOURS if duration is None else math.ceil(float(duration) / 30.0) * 30.0 / 3600.0
    seed = getattr(args, "seed", None)
    seed = DEFAULT_SEED if seed is None else int(seed)
    hyp_file = getattr(args, "hypnogram", None)
    hypnogram = None
    if hyp_file:
        hypnogram = read_hypnogram_file(hyp_file)
    return simulate_night(hours, SLEEPER_SFREQ, seed=seed, hypnogram=hypnogram)


def night_start_time(now: dt.datetime | None = None) -> dt.datetime:
    """The latest 23:00 local time (not in the future): the wall-clock start of a fast-replayed night.

    So that smart-alarm windows such as ``06:30-07:00`` fall inside an 8-hour replayed night.
    """
    now = (now or dt.datetime.now()).astimezone()
    start = now.replace(hour=23, minute=0, second=0, microsecond=0)
    return start if start <= now else start - dt.timedelta(days=1)


def night_to_recording(night: SimulatedNight, start_time: dt.datetime | None = None):
    """A :class:`~dreamband.recordings.recording.Recording` of a generated night.

    Annotations are the true hypnogram (``"Sleep stage W/N1/N2/N3/R"``) and the artefacts
    (``"Artefact: movement"`` ...).
    """
    from dreamband.recordings.base import Recording

    start = start_time or night_start_time()
    ann = night.stage_annotations() + [
        (e.onset_s, e.duration_s, f"Artefact: {e.kind}") for e in night.events
        if e.kind in ("movement", "electrode_pop", "line_noise", "headband_off")
    ]
    return Recording(
        night.data, night.sfreq, list(night.channel_names), list(night.channel_types), start,
        annotations=ann, info={"format": "sleeper", "seed": night.seed},
    )


def brainflow_rows(night: SimulatedNight, start_unix: float, board: str = PLAYBACK_MASTER_BOARD) -> np.ndarray:
    """The night in a BrainFlow board's row layout (what ``DataFilter.write_file`` writes).

    Parameters
    ----------
    night : SimulatedNight
        Its sampling rate must equal the board's.
    start_unix : float
        UNIX time of the first sample (the timestamp row).
    board : str
        A board of the registry; the night's EEG/EOG/EMG rows go to the board's first EEG rows
        (in channel order) and its accelerometer rows (if any) to the board's accelerometer rows.

    Returns
    -------
    ndarray, shape (n_board_rows, n_samples)
    """
    from dreamband.firmware_bridge.boards import board_info

    info = board_info(board)
    if abs(info.sfreq - night.sfreq) > 1e-9:
        raise ValueError(f"Board {board!r} runs at {info.sfreq:g} Hz but the night is at {night.sfreq:g} Hz.")
    exg = [i for i, t in enumerate(night.channel_types) if t != "accel"]
    acc = [i for i, t in enumerate(night.channel_types) if t == "accel"]
    if len(exg) > len(info.eeg_rows) or (acc and len(acc) > len(info.accel_rows)):
        raise ValueError(f"Board {board!r} has too few rows for the night's channels {night.channel_names}.")
    n = night.n_samples
    out = np.zeros((info.n_rows, n))
    out[list(info.eeg_rows[: len(exg)])] = night.data[exg]
    if acc:
        out[list(info.accel_rows[: len(acc)])] = night.data[acc]
    if info.package_num_row is not None:
        out[info.package_num_row] = np.arange(n) % 256
    out[info.timestamp_row] = start_unix + np.arange(n) / night.sfreq
    return out


class SleeperSource:
    """A :class:`~dreamband.firmware_bridge.chunk.Source` playing a generated night, with its truth.

    Everything the inner source has (``seek``, ``set_speed``, ``stats``...) is reachable on this
    object too.

    Attributes
    ----------
    night : SimulatedNight
        The generated night (data in µV, true hypnogram, events).
    inner : Source
        The ``BoardStream`` (real time) or ``RecordingSource`` (fast) that streams it.
    path : str
        ``"brainflow-playback"`` or ``"replay"``.
    playback_file : Path or None
        The temporary BrainFlow CSV of the real-time path.
    """

    def __init__(self, night: SimulatedNight, inner, path: str, playback_dir: Path | None = None) -> None:
        self.night = night
        self.inner = inner
        self.path = path
        self._playback_dir = playback_dir
        self.playback_file = None if playback_dir is None else playback_dir / "sleeper.csv"
        self.sfreq: float = float(inner.sfreq)
        self.channel_names: list[str] = list(inner.channel_names)
        self.channel_types: list[str] = list(inner.channel_types)

    # -- truth -------------------------------------------------------------------------------
    @property
    def hypnogram(self) -> np.ndarray:
        """True stage per 30-s epoch (int8, W=0 .. REM=4)."""
        return self.night.hypnogram

    @property
    def events(self) -> list[SimEvent]:
        """Generated events ``(kind, onset_s, duration_s)`` in session seconds."""
        return self.night.events

    def stage_at(self, time_s: float) -> int:
        """True stage at a session time in seconds."""
        return self.night.stage_at(time_s)

    # -- Source protocol ---------------------------------------------------------------------
    def start(self) -> None:
        """Start streaming the night."""
        self.inner.start()

    def read(self) -> StreamChunk:
        """Samples since the previous call (µV)."""
        return self.inner.read()

    def poll_events(self) -> list[StreamEvent]:
        """Stream events since the previous call."""
        return self.inner.poll_events()

    def insert_marker(self, value: float) -> None:
        """Insert a marker into the stream."""
        self.inner.insert_marker(value)

    def stop(self) -> None:
        """Stop streaming and delete the temporary playback file. Safe to call twice."""
        try:
            self.inner.stop()
        finally:
            if self._playback_dir is not None:
                shutil.rmtree(self._playback_dir, ignore_errors=True)
                self._playback_dir = None

    @property
    def finished(self) -> bool:
        """True when the whole night has been delivered."""
        return bool(self.inner.finished)

    def __getattr__(self, name: str):
        if name == "inner":  # not set yet (during __init__ failure)
            raise AttributeError(name)
        return getattr(self.inner, name)

    def __repr__(self) -> str:
        return (f"SleeperSource({self.path}, {self.night.duration_s / 3600:.2f} h, seed={self.night.seed}, "
                f"{self.sfreq:g} Hz, {self.channel_names})")


def _is_real_time(speed: object) -> bool:
    if speed is None:
        return True
    from dreamband.recordings.replay import parse_speed

    return parse_speed(speed) == 1.0


def open_sleeper_source(args: argparse.Namespace) -> SleeperSource:
    """Open the sleeper board for ``dreamband live --board sleeper``.

    Parameters
    ----------
    args : argparse.Namespace
        Reads ``speed`` (None/1: real time through BrainFlow playback; N or "max": replay path),
        ``seek`` (a seek always takes the replay path, at 1x when no speed is given), ``duration`` (night length, default 8 h), and ``seed`` and
        ``hypnogram`` when present.

    Returns
    -------
    SleeperSource
        Not started yet; ``.night`` holds the truth.
    """
    night = night_for_args(args)
    speed = getattr(args, "speed", None)
    seek = getattr(args, "seek", None) or 0.0
    if _is_real_time(speed) and not seek:
        return _open_brainflow(night)
    from dreamband.recordings.replay import RecordingSource

    inner = RecordingSource(night_to_recording(night), speed=1.0 if speed is None else speed, seek_s=float(seek))
    return SleeperSource(night, inner, "replay")


def _open_brainflow(night: SimulatedNight) -> SleeperSource:
    from brainflow.data_filter import DataFilter

    from dreamband.firmware_bridge.boards import board_info
    from dreamband.firmware_bridge.config import BoardConfig
    from dreamband.firmware_bridge.montage import Montage
    from dreamband.firmware_bridge.stream import BoardStream

    folder = Path(tempfile.mkdtemp(prefix="dreamband-sleeper-"))
    try:
        path = folder / "sleeper.csv"
        if night.duration_s > 1800:
            size_mb = night.n_samples * 8 * 10.5 / 1e6  # ~10.5 characters per value
            print(f"sleeper: writing the {night.duration_s / 3600:.1f}-h night for BrainFlow playback "
                  f"(~{size_mb:.0f} MB, a few seconds; --duration SECONDS shortens it, --speed N replays faster)",
                  file=sys.stderr)
        DataFilter.write_file(brainflow_rows(night, time.time()), str(path), "w")
        config = BoardConfig(board="playback", playback_file=str(path), master_board=PLAYBACK_MASTER_BOARD,
                             accel=False)
        info = board_info(PLAYBACK_MASTER_BOARD)
        n = len(night.channel_names)
        montage = Montage(
            rows=tuple(info.eeg_rows[:n]), names=tuple(night.channel_names), types=tuple(night.channel_types),
            frontal=tuple(i for i, t in enumerate(night.channel_types) if t == "eeg"),
            staging_channels=(0,),
        )
        inner = BoardStream(config, montage)
    except BaseException:
        shutil.rmtree(folder, ignore_errors=True)
        raise
    return SleeperSource(night, inner, "brainflow-playback", folder)
