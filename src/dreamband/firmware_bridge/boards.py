"""The board registry: dreamband's board names -> BrainFlow board ids and descriptions.

Everything about a board's layout (sampling rate, which rows hold EEG, accelerometer, marker,
timestamp and package counter, channel names) is read from BrainFlow's own board descriptions
(``BoardShim.get_board_descr``), never written down here per board. The registry only maps a
friendly name to a BrainFlow id and says how the board is usually connected (for error messages).
"""

from __future__ import annotations

from dataclasses import dataclass, field

from brainflow.board_shim import BoardIds, BoardShim, BrainFlowError, BrainFlowPresets


@dataclass(frozen=True)
class BoardEntry:
    """A named board of the registry.

    Attributes
    ----------
    name : str
        dreamband's name (``"cyton"``).
    board_id : int
        The BrainFlow board id.
    connection : str
        Which options connect it, for messages (``"--serial-port (the USB dongle)"``).
    needs_serial_port : bool
        True when BrainFlow cannot open the board without ``serial_port``.
    bluetooth : bool
        True when BrainFlow reaches the board through the computer's own Bluetooth (no dongle,
        no serial port): its errors talk about Bluetooth, not ports.
    """

    name: str
    board_id: int
    connection: str
    needs_serial_port: bool = False
    bluetooth: bool = False


_ENTRIES: tuple[BoardEntry, ...] = (
    BoardEntry("synthetic", int(BoardIds.SYNTHETIC_BOARD), "nothing (BrainFlow generates the signal)"),
    BoardEntry(
        "playback",
        int(BoardIds.PLAYBACK_FILE_BOARD),
        "--playback-file FILE.csv and --master-board (the board that recorded it)",
    ),
    BoardEntry("cyton", int(BoardIds.CYTON_BOARD), "--serial-port of the USB dongle (e.g. /dev/ttyUSB0, COM3)", True),
    BoardEntry(
        "cyton-daisy", int(BoardIds.CYTON_DAISY_BOARD), "--serial-port of the USB dongle (e.g. /dev/ttyUSB0, COM3)", True
    ),
    BoardEntry(
        "ganglion", int(BoardIds.GANGLION_BOARD), "--serial-port of the BLED112 dongle, optional --mac-address", True
    ),
    BoardEntry("ganglion-native", int(BoardIds.GANGLION_NATIVE_BOARD), "the computer's Bluetooth, optional --mac-address", bluetooth=True),
    BoardEntry("muse-s", int(BoardIds.MUSE_S_BOARD), "the computer's Bluetooth, optional --serial-number Muse-XXXX", bluetooth=True),
    BoardEntry("muse-2", int(BoardIds.MUSE_2_BOARD), "the computer's Bluetooth, optional --serial-number Muse-XXXX", bluetooth=True),
    BoardEntry(
        "muse-s-bled", int(BoardIds.MUSE_S_BLED_BOARD), "--serial-port of the BLED112 dongle, optional --serial-number", True
    ),
    BoardEntry(
        "muse-2-bled", int(BoardIds.MUSE_2_BLED_BOARD), "--serial-port of the BLED112 dongle, optional --serial-number", True
    ),
)

#: dreamband's board names, in the order ``dreamband boards`` lists them.
BOARD_NAMES: tuple[str, ...] = tuple(e.name for e in _ENTRIES)
_BY_NAME = {e.name: e for e in _ENTRIES}
_BY_ID = {e.board_id: e for e in _ENTRIES}
PLAYBACK_ID = int(BoardIds.PLAYBACK_FILE_BOARD)
SYNTHETIC_ID = int(BoardIds.SYNTHETIC_BOARD)


@dataclass(frozen=True)
class BoardInfo:
    """What BrainFlow says about one board (its default preset).

    Rows are BrainFlow row indices into the ``(n_rows, n_samples)`` arrays of
    ``BoardShim.get_board_data``.

    Attributes
    ----------
    board_id : int
        BrainFlow board id of the board that produces the rows (for playback: the master board).
    name : str
        dreamband's name of the board (``"playback"`` for a playback of a Cyton file).
    brainflow_name : str
        BrainFlow's own name of the described board (``"Cyton"``).
    sfreq : float
        Nominal sampling rate in Hz.
    eeg_rows : tuple of int
        Rows of EEG (microvolts).
    eeg_names : tuple of str
        Electrode names of ``eeg_rows`` (BrainFlow's, or ``EEG1..`` when BrainFlow has none).
    accel_rows, emg_rows, eog_rows : tuple of int
        Rows of accelerometer (g), EMG and EOG (microvolts) where the description lists them
        (they may overlap ``eeg_rows``: the same amplifier inputs).
    marker_row, timestamp_row : int
        Row of inserted markers and of sample timestamps (UNIX seconds).
    package_num_row : int or None
        Row of the board's package counter, None when the board has none.
    n_rows : int
        Number of rows of the board's data.
    streaming_id : int
        The id to open with BrainFlow (``PLAYBACK_FILE_BOARD`` for playback, else ``board_id``).
    connection : str
        How the board is connected (for messages).
    needs_serial_port : bool
        True when BrainFlow needs ``serial_port`` to open it.
    bluetooth : bool
        True when the board connects through the computer's own Bluetooth (Muse S/2, Ganglion native).
    aux_accel_rows : tuple of int
        Accelerometer rows of BrainFlow's AUXILIARY preset, for boards whose default preset has
        none (Muse S/2: 52 Hz); empty otherwise.
    aux_sfreq : float or None
        Sampling rate of the auxiliary preset (when ``aux_accel_rows``).
    aux_timestamp_row : int or None
        Timestamp row of the auxiliary preset (when ``aux_accel_rows``).
    """

    board_id: int
    name: str
    brainflow_name: str
    sfreq: float
    eeg_rows: tuple[int, ...]
    eeg_names: tuple[str, ...]
    accel_rows: tuple[int, ...]
    emg_rows: tuple[int, ...]
    eog_rows: tuple[int, ...]
    marker_row: int
    timestamp_row: int
    package_num_row: int | None
    n_rows: int
    streaming_id: int = field(default=0)
    connection: str = ""
    needs_serial_port: bool = False
    bluetooth: bool = False
    aux_accel_rows: tuple[int, ...] = ()
    aux_sfreq: float | None = None
    aux_timestamp_row: int | None = None

    @property
    def is_playback(self) -> bool:
        """True for BrainFlow's playback-file board."""
        return self.streaming_id == PLAYBACK_ID

    def row_name(self, row: int) -> str:
        """Return a readable name of a BrainFlow row (electrode name, accel axis, ``row7``)."""
        if row in self.eeg_rows:
            return self.eeg_names[self.eeg_rows.index(row)]
        if row in self.accel_rows:
            k = self.accel_rows.index(row)
            return f"accel_{'xyz'[k]}" if len(self.accel_rows) == 3 else f"accel_{k + 1}"
        return f"row{row}"


def _invalid_board_message(value: object) -> str:
    allowed = ", ".join(repr(n) for n in BOARD_NAMES)
    return (
        f"Invalid value for the 'board' parameter. Allowed values are {allowed}, a BrainFlow "
        f"board name such as 'CYTON_WIFI_BOARD', or an integer BrainFlow board id, but got "
        f"{value!r} instead."
    )


def resolve_board(board: str | int) -> tuple[int, str]:
    """Turn a board name or id into ``(brainflow_id, dreamband_name)``.

    Parameters
    ----------
    board : str or int
        A registry name (``"cyton"``), a BrainFlow enum name (``"CYTON_WIFI_BOARD"``), or a
        BrainFlow board id (``0``, ``"-1"``).

    Returns
    -------
    board_id : int
        BrainFlow board id.
    name : str
        The registry name, or the BrainFlow enum name (lower case, ``_`` -> ``-``) for other ids.

    Raises
    ------
    ValueError
        Unknown name or id, with the list of valid names.
    """
    if isinstance(board, bool) or not isinstance(board, (str, int)):
        raise TypeError(f"board must be a name (str) or a BrainFlow id (int), got {type(board).__name__}")
    original = board
    if isinstance(board, str):
        text = board.strip()
        key = text.lower()
        if key in _BY_NAME:
            return _BY_NAME[key].board_id, key
        upper = text.upper().replace("-", "_")
        if upper in BoardIds.__members__ and upper != "NO_BOARD":
            board = int(BoardIds[upper])
        else:
            try:
                board = int(text)
            except ValueError:
                raise ValueError(_invalid_board_message(board)) from None
    board_id = int(board)
    if board_id in _BY_ID:
        return board_id, _BY_ID[board_id].name
    try:
        enum_name = BoardIds(board_id).name
    except ValueError:
        raise ValueError(_invalid_board_message(original)) from None
    if enum_name == "NO_BOARD":
        raise ValueError(_invalid_board_message(original))
    return board_id, enum_name.lower().replace("_", "-")


def _descr(board_id: int) -> dict:
    try:
        return BoardShim.get_board_descr(board_id, int(BrainFlowPresets.DEFAULT_PRESET))
    except BrainFlowError as err:
        raise ValueError(f"BrainFlow has no description of board id {board_id}: {err}") from None


def board_info(board: str | int, master_board: str | int | None = None) -> BoardInfo:
    """Describe a board from BrainFlow's board description.

    Parameters
    ----------
    board : str or int
        Board name or BrainFlow id (see :func:`resolve_board`).
    master_board : str or int, optional
        For ``playback``: the board that recorded the file; its description gives the rows.

    Returns
    -------
    BoardInfo

    Raises
    ------
    ValueError
        Unknown board, or ``playback`` without ``master_board``.
    """
    streaming_id, name = resolve_board(board)
    entry = _BY_ID.get(streaming_id)
    described_id = streaming_id
    if streaming_id == PLAYBACK_ID:
        if master_board is None:
            raise ValueError(
                "The playback board needs the board that recorded the file: pass "
                "--master-board NAME (e.g. synthetic, cyton, muse-s) or set master_board in [board]."
            )
        described_id, _ = resolve_board(master_board)
        if described_id == PLAYBACK_ID:
            raise ValueError("--master-board cannot be 'playback': name the board that recorded the file.")
    descr = _descr(described_id)
    if "eeg_channels" not in descr and "sampling_rate" not in descr:
        raise ValueError(
            f"BrainFlow board {name!r} (id {described_id}) describes no data rows; "
            "it cannot be streamed directly."
        )
    eeg_rows = tuple(int(r) for r in descr.get("eeg_channels", []))
    names_text = descr.get("eeg_names")
    if names_text:
        eeg_names = tuple(s.strip() for s in str(names_text).split(","))
        if len(eeg_names) != len(eeg_rows):
            eeg_names = tuple(f"EEG{i + 1}" for i in range(len(eeg_rows)))
    else:
        eeg_names = tuple(f"EEG{i + 1}" for i in range(len(eeg_rows)))
    pkg = descr.get("package_num_channel")
    aux_accel: tuple[int, ...] = ()
    aux_sfreq = aux_ts = None
    if not descr.get("accel_channels"):
        aux = _aux_descr(described_id)
        if aux and aux.get("accel_channels") and "timestamp_channel" in aux:
            aux_accel = tuple(int(r) for r in aux["accel_channels"])
            aux_sfreq = float(aux["sampling_rate"])
            aux_ts = int(aux["timestamp_channel"])
    return BoardInfo(
        board_id=described_id,
        name=name,
        brainflow_name=str(descr.get("name", name)),
        sfreq=float(descr["sampling_rate"]),
        eeg_rows=eeg_rows,
        eeg_names=eeg_names,
        accel_rows=tuple(int(r) for r in descr.get("accel_channels", [])),
        emg_rows=tuple(int(r) for r in descr.get("emg_channels", [])),
        eog_rows=tuple(int(r) for r in descr.get("eog_channels", [])),
        marker_row=int(descr["marker_channel"]),
        timestamp_row=int(descr["timestamp_channel"]),
        package_num_row=None if pkg is None else int(pkg),
        n_rows=int(descr["num_rows"]),
        streaming_id=streaming_id,
        connection=entry.connection if entry else "see BrainFlow's documentation of this board",
        needs_serial_port=entry.needs_serial_port if entry else False,
        bluetooth=entry.bluetooth if entry else False,
        aux_accel_rows=aux_accel,
        aux_sfreq=aux_sfreq,
        aux_timestamp_row=aux_ts,
    )


def _aux_descr(board_id: int) -> dict | None:
    """The board's AUXILIARY preset description, or None when it has none."""
    try:
        presets = BoardShim.get_board_presets(board_id)
    except BrainFlowError:
        return None
    if int(BrainFlowPresets.AUXILIARY_PRESET) not in presets:
        return None
    try:
        return BoardShim.get_board_descr(board_id, int(BrainFlowPresets.AUXILIARY_PRESET))
    except BrainFlowError:
        return None


def list_boards() -> list[BoardInfo]:
    """Describe every named board of the registry except ``playback``.

    ``playback`` has no layout of its own: it takes the layout of its ``--master-board``.

    Returns
    -------
    list of BoardInfo
        In the order of :data:`BOARD_NAMES`.
    """
    return [board_info(n) for n in BOARD_NAMES if n != "playback"]


def connection_hint(board: str | int) -> str:
    """Return how a board is connected, for error messages."""
    board_id, _ = resolve_board(board)
    entry = _BY_ID.get(board_id)
    return entry.connection if entry else "see BrainFlow's documentation of this board"
