"""Open the source a command asks for: a board, the sleeper, or a recording to replay."""

from __future__ import annotations

import argparse
from pathlib import Path
from typing import Any

#: the epoch a replay must hold at least once, seconds
EPOCH_S: float = 30.0
#: chunk length of a ``--speed max`` replay, seconds of recording
MAX_SPEED_CHUNK_S: float = 5.0


def open_source(args: argparse.Namespace, replay_default_speed: str | float = 1.0) -> Any:
    """Return a (not yet started) :class:`~dreamband.firmware_bridge.chunk.Source` for the CLI options.

    Parameters
    ----------
    args : argparse.Namespace
        ``file`` (replay: a recording, or a session folder), ``via_board`` (replay a BrainFlow CSV
        through BrainFlow's PLAYBACK_FILE_BOARD at real time), ``board`` (``synthetic`` default,
        ``sleeper``, ``playback``, ``cyton`` ... or an integer id), ``speed``, ``seek`` and the
        board options (``--serial-port`` ...).
    replay_default_speed : str or float
        Replay speed when ``--speed`` is not given (``dreamband replay --headless`` uses ``"max"``).

    Returns
    -------
    Source
        ``BoardStream`` (firmware_bridge), ``SleeperSource`` (session.sleeper) or
        ``RecordingSource`` (recordings.replay).
    """
    from dreamband.session.lsl_out import configure_from_args

    configure_from_args(args)  # --board lsl / --lsl-out: liblsl's configuration, before its first stream
    file = getattr(args, "file", None)
    if file:
        return _open_replay(args, Path(file), replay_default_speed)
    from dreamband.firmware_bridge.config import BoardConfig, configured_board_name

    board = configured_board_name(args)  # --board, else [board] name of --config, else synthetic
    if board == "sleeper":
        from dreamband.session.sleeper import open_sleeper_source

        return open_sleeper_source(args)
    if board == "lsl":  # an LSL stream (--stream-name / --stream-type), through MNE-LSL
        from dreamband.firmware_bridge.lsl import open_lsl_source

        return open_lsl_source(args)
    if getattr(args, "speed", None) not in (None, "1", 1, 1.0) or getattr(args, "seek", None):
        raise ValueError(f"--speed and --seek apply to replays and the sleeper board, not to board {board!r}.")
    from dreamband.firmware_bridge.stream import BoardStream

    return BoardStream(BoardConfig.from_args(args))


def recording_board(args: argparse.Namespace) -> str | None:
    """The board that wrote a BrainFlow CSV being replayed or staged: ``--master-board``, else
    ``--board`` (None: the sidecar or the inference decides). Other formats ignore it."""
    for name in ("master_board", "board"):
        value = getattr(args, name, None)
        if value is not None and str(value).strip():
            return str(value).strip()
    return None


def _open_replay(args: argparse.Namespace, path: Path, default_speed: str | float) -> Any:
    if not path.exists():
        raise FileNotFoundError(f"No recording at {path}; give an EDF/BDF/FIF file, a BrainFlow CSV, "
                                "an OpenBCI GUI .txt, a Muse CSV or a session folder.")
    if getattr(args, "via_board", False):
        if path.is_dir() or path.suffix.lower() not in (".csv", ".txt"):
            raise ValueError(f"--via-board replays a BrainFlow CSV through BrainFlow's playback board; {path.name} "
                             "is not one. Drop --via-board to replay it through the replay path.")
        from dreamband.firmware_bridge.config import BoardConfig
        from dreamband.firmware_bridge.stream import BoardStream

        ns = argparse.Namespace(**vars(args))
        ns.board = "playback"
        ns.playback_file = str(path)
        if getattr(args, "speed", None) not in (None, "1", 1, 1.0):
            raise ValueError("--via-board plays at real time (BrainFlow paces the file); drop --speed.")
        return BoardStream(BoardConfig.from_args(ns))
    from dreamband.recordings.recording import open_recording
    from dreamband.recordings.replay import RecordingSource, parse_speed

    # EDF/BDF and session archives: decoded a chunk at a time (the night never sits in memory)
    rec = open_recording(path, board_id=recording_board(args), stream_name=getattr(args, "stream_name", None),
                         stream_type=getattr(args, "stream_type", None))  # XDF: which stream
    duration = rec.n_samples / rec.sfreq
    if duration < EPOCH_S:
        raise ValueError(f"{path.name} holds {duration:.1f} s of signal, less than one {EPOCH_S:g}-s epoch: "
                         "nothing could be staged. Replay a recording of at least 30 s (a night, for triggers).")
    speed = parse_speed(getattr(args, "speed", None) or default_speed)
    # as fast as possible: 5-s chunks (fewer, larger steps; the data clock makes them equivalent)
    chunk_s = MAX_SPEED_CHUNK_S if speed == "max" else 1.0
    return RecordingSource(rec, speed=speed, seek_s=float(getattr(args, "seek", None) or 0.0), chunk_s=chunk_s)
