"""The headband's montage: which BrainFlow rows are frontal EEG, EOG, EMG and accelerometer.

Defaults come from the board's BrainFlow description (its EEG rows and electrode names, its
accelerometer rows); frontal electrodes are found by their 10-20 names (Fp, AF, F but not FC/FT),
and a board without electrode names takes its first EEG channels as frontal. The defaults are
overridden by ``--eeg/--eog/--emg`` and the ``[montage]`` section of the TOML config.
"""

from __future__ import annotations

import re
from collections.abc import Sequence
from dataclasses import dataclass

from dreamband.firmware_bridge.boards import BoardInfo
from dreamband.firmware_bridge.chunk import ChannelType

_FRONTAL = re.compile(r"^(fp|af|f)(\d+|z)$", re.IGNORECASE)
_UNITS: dict[str, str] = {"eeg": "uV", "eog": "uV", "emg": "uV", "accel": "g", "misc": ""}


def is_frontal(name: str) -> bool:
    """True for a frontal 10-20/10-10 electrode name (Fp1, AF7, Fz, F3; not FC/FT/TP)."""
    return bool(_FRONTAL.match(name.strip()))


#: the order in which frontal electrodes are preferred for staging; "fp", "af", "f" stand for
#: any other electrode of that row (Fp9, AF3, F7 ...; never FC/FT)
FRONTAL_PREFERENCE: tuple[str, ...] = ("fpz", "fp1", "fp2", "fp", "af7", "af8", "af", "fz", "f3", "f4", "f")


def electrode_name(label: str) -> str:
    """The electrode of a channel label, lower case: ``"EEG Fpz-Cz"`` -> ``"fpz"``, ``"FP1-A1"`` -> ``"fp1"``."""
    s = label.strip().lower()
    if s.startswith("eeg"):
        s = s[3:]
    s = s.strip(" -_:")
    return re.split(r"[-_:/\s]", s, maxsplit=1)[0] if s else ""


def frontal_rank(label: str) -> int | None:
    """Rank of a channel label in :data:`FRONTAL_PREFERENCE` (0 best), None when not frontal."""
    name = electrode_name(label)
    if not is_frontal(name):
        return None
    if name in FRONTAL_PREFERENCE:
        return FRONTAL_PREFERENCE.index(name)
    row = "fp" if name.startswith("fp") else "af" if name.startswith("af") else "f"
    return FRONTAL_PREFERENCE.index(row)


def pick_staging_channels(names: Sequence[str], types: Sequence[str], n: int = 1,
                          preferred: Sequence[int] | None = None) -> list[int]:
    """The one channel picker: the ``n`` EEG channels to stage from (and to show as "the" EEG).

    Parameters
    ----------
    names, types : sequence of str
        One per channel (types ``eeg``, ``eog``, ...).
    n : int
        How many channels the stager needs (the model's channel count).
    preferred : sequence of int, optional
        Channels asked for (a montage's ``staging_channels``, ``--staging``); taken first when EEG.

    Returns
    -------
    list of int
        ``preferred`` EEG channels, then the most frontal EEG channel by
        :data:`FRONTAL_PREFERENCE` (ties: channel order), then the other EEG channels in channel
        order; the first ``n`` of them.

    Raises
    ------
    ValueError
        When there are fewer than ``n`` EEG channels.
    """
    if len(names) != len(types):
        raise ValueError(f"{len(names)} channel names but {len(types)} types.")
    eeg = [i for i, t in enumerate(types) if t == "eeg"]
    rows: list[int] = []
    for i in preferred or ():
        i = int(i)
        if 0 <= i < len(types) and types[i] == "eeg" and i not in rows:
            rows.append(i)
    ranked = [(frontal_rank(names[i]), i) for i in eeg]
    frontal = sorted((r, i) for r, i in ranked if r is not None)
    order = ([frontal[0][1]] if frontal else []) + eeg
    for i in order:  # each channel once (the most frontal one is also in ``eeg``)
        if i not in rows:
            rows.append(i)
    if len(rows) < n or n < 1:
        raise ValueError(f"The stager needs {n} EEG channel(s); the channels are "
                         f"{', '.join(f'{a} ({b})' for a, b in zip(names, types, strict=True)) or 'none'}.")
    return rows[:n]


@dataclass(frozen=True)
class Montage:
    """Selected board rows in montage order, with names, types and units.

    Attributes
    ----------
    rows : tuple of int
        BrainFlow rows, in montage order (the row order of ``StreamChunk.data``).
    names : tuple of str
        Channel names in montage order.
    types : tuple of {"eeg", "eog", "emg", "accel"}
        Channel types in montage order.
    frontal : tuple of int
        Indices (into the montage) of the frontal EEG channels.
    staging_channels : tuple of int
        Indices (into the montage) of the EEG channels used for sleep staging
        (default: the first frontal channel).
    aux_rows : tuple of int
        Rows of BrainFlow's AUXILIARY preset appended after ``rows`` (Muse accelerometer at
        52 Hz, held to the EEG samples' times by the stream); usually empty.
    """

    rows: tuple[int, ...]
    names: tuple[str, ...]
    types: tuple[ChannelType, ...]
    frontal: tuple[int, ...]
    staging_channels: tuple[int, ...]
    aux_rows: tuple[int, ...] = ()

    def __post_init__(self) -> None:
        n = len(self.rows) + len(self.aux_rows)
        if not (len(self.names) == len(self.types) == n):
            raise ValueError("Montage rows (+ aux_rows), names and types must have the same length")
        if len(set(self.rows)) != len(self.rows) or len(set(self.aux_rows)) != len(self.aux_rows):
            raise ValueError(f"Montage uses a row twice: {self.rows} {self.aux_rows}")
        for idx in (*self.frontal, *self.staging_channels):
            if not 0 <= idx < n:
                raise ValueError(f"Montage index {idx} is out of range for {n} channels")

    @property
    def units(self) -> tuple[str, ...]:
        """Unit of each channel: ``"uV"`` for EEG/EOG/EMG, ``"g"`` for the accelerometer."""
        return tuple(_UNITS[t] for t in self.types)

    @property
    def n_channels(self) -> int:
        """Number of channels."""
        return len(self.names)

    def indices(self, kind: ChannelType) -> tuple[int, ...]:
        """Indices (into the montage) of the channels of one type."""
        return tuple(i for i, t in enumerate(self.types) if t == kind)

    @property
    def staging_names(self) -> tuple[str, ...]:
        """Names of the staging channels."""
        return tuple(self.names[i] for i in self.staging_channels)

    # ------------------------------------------------------------------ construction
    @classmethod
    def default(cls, info: BoardInfo, accel: bool = True) -> Montage:
        """The board's default montage: all EEG rows (board order), then the accelerometer.

        Parameters
        ----------
        info : BoardInfo
            The board's description.
        accel : bool
            Include the accelerometer rows when the board has them.
        """
        return cls.build(info, accel=accel)

    @classmethod
    def build(
        cls,
        info: BoardInfo,
        eeg: tuple[str | int, ...] | None = None,
        eog: tuple[str | int, ...] | None = None,
        emg: tuple[str | int, ...] | None = None,
        accel: bool = True,
        staging: tuple[str | int, ...] | None = None,
        aux_accel: bool = True,
    ) -> Montage:
        """Build a montage from the board's description and optional overrides.

        Parameters
        ----------
        info : BoardInfo
            The board's description.
        eeg, eog, emg : tuple of (str or int), optional
            Channel names (the board's electrode names, case-insensitive) or BrainFlow rows.
            ``eeg`` None: the board's EEG rows minus those taken as EOG/EMG.
        accel : bool
            Include the board's accelerometer rows.
        staging : tuple of (str or int), optional
            EEG channels (names or rows) used for staging; default the first frontal channel.
        aux_accel : bool
            When the default preset has no accelerometer, take it from the auxiliary preset
            (``info.aux_accel_rows``, e.g. Muse) if ``accel`` is also True.

        Raises
        ------
        ValueError
            Unknown channel name, a row the board does not have, a row used twice, or no EEG.
        """
        eog_rows = _resolve(info, eog or (), "--eog")
        emg_rows = _resolve(info, emg or (), "--emg")
        if eeg is None:
            taken = set(eog_rows) | set(emg_rows)
            eeg_rows = tuple(r for r in info.eeg_rows if r not in taken)
        else:
            eeg_rows = _resolve(info, eeg, "--eeg")
        if not eeg_rows:
            raise ValueError(f"The montage of board {info.name!r} has no EEG channel; pass --eeg NAMES")
        accel_rows = info.accel_rows if accel else ()
        groups: list[tuple[tuple[int, ...], ChannelType]] = [
            (eeg_rows, "eeg"), (eog_rows, "eog"), (emg_rows, "emg"), (accel_rows, "accel")
        ]
        rows: list[int] = []
        types: list[ChannelType] = []
        for group, kind in groups:
            for r in group:
                if r in rows:
                    raise ValueError(
                        f"Row {r} ({info.row_name(r)}) is used twice in the montage "
                        f"(as {types[rows.index(r)]} and as {kind}); give each channel one role"
                    )
                rows.append(r)
                types.append(kind)
        aux_rows = info.aux_accel_rows if (accel and aux_accel and not accel_rows) else ()
        names = tuple(info.row_name(r) for r in rows) + _axis_names(len(aux_rows))
        types += ["accel"] * len(aux_rows)
        eeg_idx = [i for i, t in enumerate(types) if t == "eeg"]
        frontal = tuple(i for i in eeg_idx if is_frontal(names[i]))
        if not frontal:
            # No electrode names tell us (e.g. Ganglion): the first EEG channels are frontal.
            frontal = tuple(eeg_idx[:2])
        if staging is None:
            # the one picker; an --eeg list given in the user's order is a preference (its first frontal)
            staging_idx = tuple(pick_staging_channels(names, types, 1, preferred=frontal[:1] if eeg is not None else None))
        else:
            staging_rows = _resolve(info, staging, "staging")
            staging_idx = []
            for r in staging_rows:
                if r not in rows or types[rows.index(r)] != "eeg":
                    raise ValueError(
                        f"Staging channel {info.row_name(r)} (row {r}) is not an EEG channel of the "
                        f"montage: {', '.join(names[i] for i in eeg_idx)}"
                    )
                staging_idx.append(rows.index(r))
            staging_idx = tuple(staging_idx)
            if not staging_idx:
                raise ValueError("The staging channel list is empty; name at least one EEG channel")
        return cls(tuple(rows), names, tuple(types), frontal, tuple(staging_idx), tuple(aux_rows))

    @classmethod
    def from_config(cls, config: object, info: BoardInfo) -> Montage:
        """Build the montage of a :class:`~dreamband.firmware_bridge.config.BoardConfig`."""
        return cls.build(
            info,
            eeg=getattr(config, "eeg", None),
            eog=getattr(config, "eog", None),
            emg=getattr(config, "emg", None),
            accel=bool(getattr(config, "accel", True)),
            staging=getattr(config, "staging", None),
            # a playback has auxiliary data only when it has an auxiliary file
            aux_accel=not getattr(config, "is_playback", False) or bool(getattr(config, "playback_file_aux", None)),
        )


def _axis_names(n: int) -> tuple[str, ...]:
    return ("accel_x", "accel_y", "accel_z") if n == 3 else tuple(f"accel_{k + 1}" for k in range(n))


def _resolve(info: BoardInfo, spec: tuple[str | int, ...], option: str) -> tuple[int, ...]:
    """Turn names/rows into BrainFlow rows of the board."""
    lookup = {n.lower(): r for n, r in zip(info.eeg_names, info.eeg_rows, strict=True)}
    for r in info.accel_rows:
        lookup.setdefault(info.row_name(r).lower(), r)
    reserved = {info.marker_row: "marker", info.timestamp_row: "timestamp"}
    if info.package_num_row is not None:
        reserved[info.package_num_row] = "package counter"
    out: list[int] = []
    for item in spec:
        if isinstance(item, int):
            row = item
            if not 0 <= row < info.n_rows:
                raise ValueError(f"{option}: board {info.name!r} has rows 0..{info.n_rows - 1}, got row {row}")
            if row in reserved:
                raise ValueError(f"{option}: row {row} of board {info.name!r} is the {reserved[row]} row, not a signal")
        else:
            key = str(item).strip().lower()
            if key not in lookup:
                raise ValueError(
                    f"{option}: board {info.name!r} has no channel {item!r}. "
                    f"Channels: {', '.join(info.eeg_names)} (or give BrainFlow rows as integers)"
                )
            row = lookup[key]
        if row in out:
            raise ValueError(f"{option}: channel {item!r} is listed twice")
        out.append(row)
    return tuple(out)
