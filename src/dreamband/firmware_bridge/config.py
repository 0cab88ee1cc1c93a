"""How to reach a board: :class:`BoardConfig`, from a TOML file and/or the command line.

TOML layout (other sections, e.g. ``[triggers]``, belong to other parts and are ignored here)::

    [board]
    name = "cyton"              # or board = "cyton"
    serial_port = "/dev/ttyUSB0"
    timeout = 15
    dropout_timeout_s = 3.0

    [montage]
    eeg = ["Fp1", "Fp2"]        # or "Fp1,Fp2", or BrainFlow rows [1, 2]
    eog = []
    emg = []
    accel = true
    staging = ["Fp1"]

Command-line options the user gave override the file (:func:`merged_board_values`, the one merge).
"""

from __future__ import annotations

import argparse
import sys
from dataclasses import dataclass, field, fields, replace
from pathlib import Path

from brainflow.board_shim import BrainFlowInputParams

from dreamband.firmware_bridge.boards import PLAYBACK_ID, SYNTHETIC_ID, board_info, resolve_board

if sys.version_info >= (3, 11):
    import tomllib
else:  # pragma: no cover - Python 3.10
    import tomli as tomllib

ChannelSpec = tuple[str | int, ...]

_MONTAGE_KEYS = ("eeg", "eog", "emg", "accel", "staging")


@dataclass(frozen=True)
class BoardConfig:
    """Everything needed to open one board and keep it streaming.

    Attributes
    ----------
    board : str
        Board name or BrainFlow id as text (see :func:`dreamband.firmware_bridge.boards.resolve_board`).
    serial_port, mac_address, ip_address, serial_number : str or None
        Connection settings passed to BrainFlow (``BrainFlowInputParams``).
    ip_port : int or None
        IP port for network boards.
    playback_file : str or None
        BrainFlow CSV file for ``board="playback"``.
    master_board : str or None
        Board that recorded ``playback_file``.
    playback_file_aux : str or None
        BrainFlow CSV of the master board's AUXILIARY preset (Muse accelerometer), optional.
    timeout : float
        Seconds BrainFlow waits when connecting (Bluetooth discovery).
    other_info : str or None
        BrainFlow's ``other_info`` parameter. When None, synthetic and playback streams get a
        unique value so that several streams of the same board can run at once.
    playback_loop : bool
        Loop the playback file (BrainFlow ``loopback_true``); default off: the file ends.
    playback_timestamps : {"old", "new"}
        Keep the file's timestamps (``"old"``, default) or stamp samples with the current time.
    dropout_timeout_s : float
        Seconds without any sample before a dropout is declared.
    reconnect_initial_s, reconnect_max_s : float
        First wait before a reconnect attempt and its cap; the wait doubles after each failure.
    max_reconnect_attempts : int or None
        Attempts before giving up and ending the stream. None: unlimited for live boards,
        2 for playback (a file that ended does not come back).
    poll_interval_s : float
        How often the stream's reader thread pulls from BrainFlow.
    brainflow_log : bool
        Let BrainFlow print its own log (off by default).
    eeg, eog, emg : tuple of (str or int), or None
        Montage overrides: channel names or BrainFlow rows (None = the board's default).
    accel : bool
        Include the accelerometer rows in the montage when the board has them.
    staging : tuple of (str or int), or None
        Channels used for staging (names, or rows); default the first frontal EEG channel.
    """

    board: str = "synthetic"
    serial_port: str | None = None
    mac_address: str | None = None
    ip_address: str | None = None
    ip_port: int | None = None
    serial_number: str | None = None
    playback_file: str | None = None
    master_board: str | None = None
    playback_file_aux: str | None = None
    timeout: float = 15.0
    other_info: str | None = None
    playback_loop: bool = False
    playback_timestamps: str = "old"
    dropout_timeout_s: float = 3.0
    reconnect_initial_s: float = 1.0
    reconnect_max_s: float = 30.0
    max_reconnect_attempts: int | None = None
    poll_interval_s: float = 0.02
    brainflow_log: bool = False
    eeg: ChannelSpec | None = None
    eog: ChannelSpec | None = None
    emg: ChannelSpec | None = None
    accel: bool = True
    staging: ChannelSpec | None = field(default=None)

    # ------------------------------------------------------------------ construction
    @classmethod
    def from_toml(cls, path: str | Path, **overrides: object) -> BoardConfig:
        """Read ``[board]`` and ``[montage]`` of a TOML file.

        Parameters
        ----------
        path : str or Path
            The TOML file.
        **overrides
            Field values that win over the file (None values are ignored).

        Returns
        -------
        BoardConfig

        Raises
        ------
        FileNotFoundError
            The file does not exist.
        ValueError
            Invalid TOML, an unknown key, or an invalid value.
        """
        values = read_board_toml(path)
        values.update({k: v for k, v in overrides.items() if v is not None})
        return cls(**values).validated()  # type: ignore[arg-type]

    @classmethod
    def from_args(cls, args: argparse.Namespace) -> BoardConfig:
        """Build the config from the ``board`` options of the CLI (``--config`` read first).

        The one merge of the TOML file and the command line is :func:`merged_board_values`:
        an option wins only when the user gave it.

        Parameters
        ----------
        args : argparse.Namespace
            Parsed arguments with the attributes declared by ``cli._add_source_args``
            (missing or None attributes count as not given).

        Returns
        -------
        BoardConfig
        """
        return cls(**merged_board_values(args)).validated()  # type: ignore[arg-type]

    # ------------------------------------------------------------------ checks
    def validated(self) -> BoardConfig:
        """Return ``self`` after checking it, with ``board`` normalised.

        Raises
        ------
        ValueError
            Unknown board, playback without file or master board, bad numbers.
        FileNotFoundError
            The playback file does not exist.
        """
        board_id, name = resolve_board(self.board)
        cfg = replace(self, board=name)
        if board_id == PLAYBACK_ID:
            if not cfg.playback_file:
                raise ValueError(
                    "--board playback needs --playback-file FILE: a BrainFlow CSV file "
                    "(written by BrainFlow's DataFilter.write_file or a 'file://...:w' streamer)."
                )
            pfile = Path(cfg.playback_file)
            if not pfile.is_file():
                raise FileNotFoundError(f"Playback file not found: {pfile} (pass an existing BrainFlow CSV file)")
            if cfg.master_board is None:
                raise ValueError(
                    f"--board playback needs --master-board: the board that recorded {pfile.name}"
                    f"{_guess_master_hint(pfile)}."
                )
            board_info(name, master_board=cfg.master_board)  # validates the master board
            if cfg.playback_file_aux and not Path(cfg.playback_file_aux).is_file():
                raise FileNotFoundError(f"Auxiliary playback file not found: {cfg.playback_file_aux}")
        for fname in ("playback_loop", "brainflow_log", "accel"):
            if not isinstance(getattr(cfg, fname), bool):
                raise ValueError(f"{fname} must be true or false, got {getattr(cfg, fname)!r}")
        for fname in ("serial_port", "mac_address", "ip_address", "serial_number", "other_info",
                      "playback_file", "playback_file_aux"):
            value = getattr(cfg, fname)
            if value is not None and not isinstance(value, str):
                raise ValueError(f"{fname} must be text, got {value!r}")
        if cfg.master_board is not None:
            cfg = replace(cfg, master_board=str(cfg.master_board))
        if cfg.playback_timestamps not in ("old", "new"):
            raise ValueError(
                f"playback_timestamps must be 'old' or 'new', got {cfg.playback_timestamps!r}"
            )
        for fname in ("timeout", "dropout_timeout_s", "reconnect_initial_s", "reconnect_max_s", "poll_interval_s"):
            value = getattr(cfg, fname)
            if not isinstance(value, (int, float)) or isinstance(value, bool) or not value > 0:
                raise ValueError(f"{fname} must be a positive number of seconds, got {value!r}")
        if cfg.reconnect_max_s < cfg.reconnect_initial_s:
            raise ValueError(
                f"reconnect_max_s ({cfg.reconnect_max_s}) must be >= reconnect_initial_s ({cfg.reconnect_initial_s})"
            )
        m = cfg.max_reconnect_attempts
        if m is not None and (isinstance(m, bool) or not isinstance(m, int) or m < 0):
            raise ValueError(f"max_reconnect_attempts must be a whole number >= 0 or None, got {m!r}")
        if cfg.ip_port is not None and not (isinstance(cfg.ip_port, int) and 0 < cfg.ip_port < 65536):
            raise ValueError(f"ip_port must be an integer in 1..65535, got {cfg.ip_port!r}")
        return cfg

    @property
    def board_id(self) -> int:
        """BrainFlow id used to open the board (``PLAYBACK_FILE_BOARD`` for playback)."""
        return resolve_board(self.board)[0]

    @property
    def is_playback(self) -> bool:
        """True for the playback-file board."""
        return self.board_id == PLAYBACK_ID

    @property
    def reconnect_limit(self) -> int | None:
        """Reconnect attempts before giving up (None: never give up)."""
        if self.max_reconnect_attempts is not None:
            return self.max_reconnect_attempts
        return 2 if self.is_playback else None

    def to_params(self) -> BrainFlowInputParams:
        """Return BrainFlow's input parameters for this config."""
        p = BrainFlowInputParams()
        if self.serial_port:
            p.serial_port = str(self.serial_port)
        if self.mac_address:
            p.mac_address = str(self.mac_address)
        if self.ip_address:
            p.ip_address = str(self.ip_address)
        if self.ip_port:
            p.ip_port = int(self.ip_port)
        if self.serial_number:
            p.serial_number = str(self.serial_number)
        if self.other_info:
            p.other_info = str(self.other_info)
        p.timeout = max(1, int(round(self.timeout)))
        if self.is_playback:
            p.file = str(Path(str(self.playback_file)).resolve())
            p.master_board = resolve_board(str(self.master_board))[0]
            if self.playback_file_aux:
                p.file_aux = str(Path(str(self.playback_file_aux)).resolve())
        return p

    def describe_connection(self) -> str:
        """Return a short text of the connection settings (for messages)."""
        parts = []
        for name in ("serial_port", "mac_address", "ip_address", "ip_port", "serial_number", "playback_file",
                     "master_board"):
            value = getattr(self, name)
            if value not in (None, ""):
                parts.append(f"{name.replace('_', '-')}={value}")
        return ", ".join(parts) if parts else "no connection options"

    @property
    def needs_unique_other_info(self) -> bool:
        """True when the board can run several times with equal parameters (synthetic, playback)."""
        return self.other_info is None and self.board_id in (SYNTHETIC_ID, PLAYBACK_ID)


#: CLI options (``args`` attribute names) that map one to one onto :class:`BoardConfig` fields
CLI_BOARD_OPTIONS: tuple[str, ...] = ("board", "serial_port", "mac_address", "ip_address", "ip_port",
                                      "serial_number", "playback_file", "master_board", "timeout")


def read_board_toml(path: str | Path) -> dict[str, object]:
    """Return the :class:`BoardConfig` fields set by ``[board]`` and ``[montage]`` of a TOML file.

    Raises
    ------
    FileNotFoundError
        The file does not exist.
    ValueError
        Invalid TOML, an unknown key or an invalid value.
    """
    path = Path(path)
    if not path.is_file():
        raise FileNotFoundError(f"Config file not found: {path}")
    try:
        with path.open("rb") as fh:
            doc = tomllib.load(fh)
    except tomllib.TOMLDecodeError as err:
        raise ValueError(f"{path} is not valid TOML: {err}") from None
    return _values_from_mapping(doc, source=str(path))


def merged_board_values(args: argparse.Namespace) -> dict[str, object]:
    """The board settings of a command: ``--config`` TOML, then the options the user gave.

    This is the one place where the file and the command line meet. An option counts as given
    when its attribute is not None (the parser's defaults are None), so ``[board] name = "cyton"``
    stays the board unless ``--board`` is on the command line.

    Parameters
    ----------
    args : argparse.Namespace
        Parsed arguments (``config``, the options of :data:`CLI_BOARD_OPTIONS`, ``eeg``, ``eog``,
        ``emg``); missing attributes count as not given.

    Returns
    -------
    dict
        :class:`BoardConfig` field values (``board`` defaults to ``"synthetic"``).
    """
    config_path = getattr(args, "config", None)
    values: dict[str, object] = read_board_toml(config_path) if config_path else {}
    for name in CLI_BOARD_OPTIONS:
        value = getattr(args, name, None)
        if value is not None:
            values[name] = str(value) if name in ("board", "master_board") else value
    for name in ("eeg", "eog", "emg"):
        value = getattr(args, name, None)
        if value is not None:
            values[name] = parse_channel_list(value, option=f"--{name}")
    values.setdefault("board", "synthetic")
    return values


def configured_board_name(args: argparse.Namespace) -> str:
    """The board a live command streams: ``--board``, else ``[board] name`` of ``--config``, else synthetic."""
    return str(merged_board_values(args)["board"]).strip().lower()


def parse_channel_list(value: str | int | list | tuple, option: str = "channels") -> ChannelSpec:
    """Parse ``"Fp1,Fp2"`` / ``"1,2"`` / ``["Fp1", 2]`` into a tuple of names and rows.

    Integers (or digit strings) are BrainFlow rows; anything else is a channel name.

    Raises
    ------
    ValueError
        An empty entry or a value of the wrong type.
    """
    if isinstance(value, bool):
        raise ValueError(f"{option}: expected channel names or rows, got {value!r}")
    if isinstance(value, int):
        return (value,)
    if isinstance(value, str):
        items: list = [s.strip() for s in value.split(",")] if value.strip() else []
    elif isinstance(value, (list, tuple)):
        items = list(value)
    else:
        raise ValueError(f"{option}: expected a comma-separated string or a list, got {type(value).__name__}")
    out: list[str | int] = []
    for item in items:
        if isinstance(item, bool):
            raise ValueError(f"{option}: invalid channel {item!r}")
        if isinstance(item, int):
            out.append(item)
            continue
        if not isinstance(item, str) or not item.strip():
            raise ValueError(f"{option}: empty or invalid channel in {value!r} (use e.g. Fp1,Fp2 or 1,2)")
        text = item.strip()
        out.append(int(text) if text.lstrip("-").isdigit() else text)
    return tuple(out)


def _values_from_mapping(doc: dict, source: str) -> dict[str, object]:
    valid = {f.name for f in fields(BoardConfig)} - set(_MONTAGE_KEYS)
    values: dict[str, object] = {}
    board = doc.get("board", {})
    if not isinstance(board, dict):
        raise ValueError(f"{source}: [board] must be a table")
    for key, value in board.items():
        name = "board" if key == "name" else key
        if name not in valid:
            raise ValueError(
                f"{source}: unknown key {key!r} in [board]. Valid keys: name, "
                + ", ".join(sorted(valid - {"board"}))
            )
        values[name] = str(value) if name == "board" else value
    montage = doc.get("montage", {})
    if not isinstance(montage, dict):
        raise ValueError(f"{source}: [montage] must be a table")
    for key, value in montage.items():
        if key not in _MONTAGE_KEYS:
            raise ValueError(f"{source}: unknown key {key!r} in [montage]. Valid keys: {', '.join(_MONTAGE_KEYS)}")
        if key == "accel":
            if not isinstance(value, bool):
                raise ValueError(f"{source}: [montage] accel must be true or false, got {value!r}")
            values[key] = value
        else:
            values[key] = parse_channel_list(value, option=f"[montage] {key}")
    return values


def _guess_master_hint(path: Path) -> str:
    """Suggest master boards whose row count matches the file's first line."""
    from dreamband.firmware_bridge.boards import list_boards

    try:
        with path.open("r", encoding="ascii", errors="replace") as fh:
            line = fh.readline()
    except OSError:
        return ""
    sep = "\t" if "\t" in line else ","
    n_cols = len([s for s in line.rstrip("\n").split(sep) if s != ""])
    matches = [b.name for b in list_boards() if b.n_rows == n_cols]
    if not matches:
        return f" (its lines have {n_cols} columns; no named board has that many rows)"
    return f" (its lines have {n_cols} columns, like: {', '.join(matches)}), e.g. --master-board {matches[0]}"
