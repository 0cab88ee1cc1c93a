"""``read_recording``: the one dispatcher from a path to the reader of its format.

The data class is :class:`dreamband.recordings.base.Recording`; each format has its own
reader module (``mne_io``, ``brainflow_csv``, ``openbci_gui``, ``muse``, ``textsignal``, ``xdf``,
``recorder.load_session`` for session folders). This module only sniffs the format and calls
the reader, so the readers never import it back (no cycle).

``Recording``, ``load_mne``, ``guess_channel_type``, ``is_number``, ``CHANNEL_TYPES`` and
``MNE_SUFFIXES`` are re-exported here for callers that import them from this module, and
``load_recording`` is the older name of :func:`read_recording`.
"""

from __future__ import annotations

from collections.abc import Callable
from pathlib import Path

from dreamband.recordings.base import CHANNEL_TYPES, Recording, guess_channel_type, is_number
from dreamband.recordings.brainflow_csv import find_sidecar, load_brainflow_csv
from dreamband.recordings.edf_recording import EdfRecording
from dreamband.recordings.mne_io import MNE_SUFFIXES, load_mne
from dreamband.recordings.muse import load_muse
from dreamband.recordings.openbci_gui import load_openbci_gui
from dreamband.recordings.recorder import load_session
from dreamband.recordings.textsignal import load_single_column
from dreamband.recordings.xdf import load_xdf

__all__ = ["CHANNEL_TYPES", "MNE_SUFFIXES", "Recording", "guess_channel_type", "is_number", "load_mne",
           "load_recording", "open_recording", "read_recording"]


def _sniff(path: Path) -> str:
    """Return the importer name for ``path`` from its suffix and first bytes."""
    name = path.name.lower()
    if path.is_dir():
        return "session"
    if any(name.endswith(s) for s in MNE_SUFFIXES):
        return "mne"
    if name.endswith((".xdf", ".xdfz")):
        return "xdf"
    with open(path, "rb") as fh:
        head = fh.read(4096)
    text = head.decode("utf-8", errors="replace")
    first = text.lstrip("\ufeff").splitlines()[0] if text.strip() else ""
    if first.startswith("%"):
        return "openbci_gui"
    if first.lower().startswith("timestamp") and "raw_tp9" in first.lower():
        return "mind_monitor"
    if first.lower().startswith("timestamps") and "tp9" in first.lower():
        return "muse_lsl"
    if head[:8] in (b"0       ", b"\xffBIOSEMI"):
        raise ValueError(f"{path}: this looks like an EDF/BDF file; give it a .edf/.bdf suffix so MNE reads it.")
    if "\t" in first:
        return "brainflow_csv"
    if first.startswith("[") and first.rstrip().endswith("]"):
        return "single_column"
    try:
        float(first)
        return "single_column"
    except ValueError:
        pass
    return "unknown"


#: reader of each sniffed kind that needs only the path
_READERS: dict[str, Callable[[Path], Recording]] = {
    "session": load_session,
    "mne": load_mne,
    "openbci_gui": load_openbci_gui,
    "mind_monitor": load_muse,
    "muse_lsl": load_muse,
    "xdf": load_xdf,
}


def read_recording(path: str | Path, board_id: int | str | None = None, sfreq: float | None = None, *,
                   stream_name: str | None = None, stream_type: str | None = None) -> Recording:
    """Load any recording dreamband knows: EDF/EDF+/BDF/FIF (MNE), BrainFlow CSV, OpenBCI GUI
    ``.txt``, Muse (Mind Monitor or muse-lsl CSV), XDF (LabRecorder; the first EEG stream, its
    marker streams as annotations), or a dreamband session folder.

    Parameters
    ----------
    path : str or Path
        File or session folder.
    board_id : int or str, optional
        BrainFlow board id (or name: synthetic, cyton, ganglion, cyton-daisy, muse-2, muse-s) of
        a BrainFlow CSV without a ``session.json`` sidecar (``--board`` / ``--master-board``);
        without it the board is inferred from the columns and rate, or an error asks for it.
    sfreq : float, optional
        Sampling rate for formats that do not state it (single-column text).
    stream_name, stream_type : str, optional
        XDF: the EEG stream by name or type (default the first stream of type EEG).

    Returns
    -------
    Recording

    Raises
    ------
    FileNotFoundError
        When ``path`` does not exist.
    ValueError
        When the format is unknown or the file is damaged (the message says what is wrong).
    """
    path = Path(path).expanduser()
    if not path.exists():
        raise FileNotFoundError(f"No such recording: {path}")
    kind = _sniff(path)
    if kind == "brainflow_csv":
        sidecar = find_sidecar(path)
        if sidecar is not None and (sidecar.get("layout") or {}).get("kind") == "dreamband":
            return load_session(path.parent, prefer_edf=False)  # a dreamband session's own raw.csv
        return load_brainflow_csv(path, board_id=board_id, sidecar=sidecar)
    if kind == "single_column":
        return load_single_column(path, sfreq=sfreq)
    if kind == "xdf":
        return load_xdf(path, stream_name=stream_name, stream_type=stream_type)
    reader = _READERS.get(kind)
    if reader is not None:
        return reader(path)
    raise ValueError(
        f"{path}: unknown recording format. dreamband reads EDF/EDF+/BDF/FIF, BrainFlow CSV "
        "(tab-separated), OpenBCI GUI .txt, Muse Mind Monitor / muse-lsl CSV, and session folders."
    )


#: The older name of :func:`read_recording` (kept: callers and other branches use it).
load_recording = read_recording


def open_recording(path: str | Path, board_id: int | str | None = None, sfreq: float | None = None, *,
                   stream_name: str | None = None, stream_type: str | None = None) -> Recording | EdfRecording:
    """Open a recording for reading block by block where its format allows, else read it whole.

    EDF/EDF+/BDF/BDF+ files and session folders with a ``session.bdf`` archive come back as an
    :class:`~dreamband.recordings.edf_recording.EdfRecording`: header and annotations read,
    samples decoded only when :meth:`~dreamband.recordings.edf_recording.EdfRecording.block`
    asks (a replay holds a chunk, never the night). ``EdfRecording.load()`` is what
    :func:`read_recording` returns for them. Every other format (and what only MNE reads) is
    :func:`read_recording`.

    Parameters and errors: as :func:`read_recording`.
    """
    path = Path(path).expanduser()
    if not path.exists():
        raise FileNotFoundError(f"No such recording: {path}")
    kind = _sniff(path)
    if kind == "session":
        return load_session(path, lazy=True)
    if kind == "mne" and path.suffix.lower() in (".edf", ".bdf"):
        from dreamband.recordings.edf_channels import FastReadUnsupported
        from dreamband.recordings.edf_recording import open_edf

        try:
            return open_edf(path)
        except (FastReadUnsupported, ValueError):
            pass  # MNE reads it (or says what is wrong, as read_recording would)
    return read_recording(path, board_id, sfreq, stream_name=stream_name, stream_type=stream_type)
