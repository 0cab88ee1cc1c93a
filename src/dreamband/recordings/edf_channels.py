"""Read chosen signals of an EDF/EDF+/BDF/BDF+ file, straight from their stored integers.

The batch stager needs one or two channels of a night; MNE's reader (``read_recording``)
decodes every channel of the whole file into float64 first (an 8-h, 16-channel EDF is 230 MB
on disk and 1.8 GB as float64). Here the header is parsed, the data records are memory-mapped
a window of a few MB at a time (the records interleave all signals, so mapping the whole file
would bring all of it into the process's resident memory), and only the requested signals are converted - int16 (EDF) or 24-bit (BDF) samples to
microvolts in one Numba pass (``digital * gain + offset``), never touching the other channels.

Channel names and types follow :func:`dreamband.recordings.mne_io.load_mne` (MNE's
``infer_types=True``: a leading ``EEG``/``EOG``/``EMG``/... word is the type and is dropped from
the name; then :func:`~dreamband.recordings.base.guess_channel_type`), so a channel
picked here is the one the MNE path picks, and its values agree to float rounding (tested).

What this reader does not do, and says so (:class:`FastReadUnsupported`, the caller falls back
to MNE): EDF+D (discontinuous) files, and signals whose rate is not the file's highest (MNE
resamples those to the highest rate; reading them as stored would give a different signal than
``replay`` sees).
"""

from __future__ import annotations

import datetime as dt
from dataclasses import dataclass, field
from pathlib import Path

import numpy as np
from numba import njit

from dreamband.recordings.base import guess_channel_type

#: MNE's channel-type prefixes (``mne.io.edf.edf.CH_TYPE_MAPPING``): "EEG Fpz-Cz" -> eeg, "Fpz-Cz"
_TYPE_PREFIXES = {"EEG": "eeg", "SEEG": "misc", "ECOG": "misc", "DBS": "misc", "EOG": "eog", "ECG": "misc",
                  "EMG": "emg", "BIO": "misc", "RESP": "misc", "TEMP": "misc", "MISC": "misc", "SAO2": "misc",
                  "STIM": "misc"}
#: microvolts per physical unit (the header's "physical dimension"), as the MNE path converts
_UV_PER_UNIT = {"uv": 1.0, "mv": 1e3, "v": 1e6, "nv": 1e-3}
_ANNOTATION_LABELS = ("EDF Annotations", "BDF Annotations")
#: bytes of data records mapped at a time by :func:`read_edf_signals`
READ_BLOCK_BYTES = 4 << 20


class FastReadUnsupported(ValueError):
    """The file is valid but needs MNE's reader (EDF+D, or a signal below the file's top rate)."""


@dataclass(frozen=True)
class EdfSignal:
    """One signal of an EDF/BDF header.

    Attributes
    ----------
    label : str
        The header's label (e.g. ``"EEG Fpz-Cz"``).
    name : str
        The name the MNE path gives it (type prefix dropped: ``"Fpz-Cz"``).
    kind : str
        ``"eeg"``, ``"eog"``, ``"emg"``, ``"accel"`` or ``"misc"`` (as ``load_mne``).
    unit : str
        Physical dimension (``"uV"``, ``"mV"``, ...).
    uv_per_unit : float or None
        Microvolts per physical unit; None when the unit is not a voltage.
    samples_per_record : int
    sfreq : float
        Hz.
    gain, offset : float
        ``physical = digital * gain + offset`` (physical units).
    """

    label: str
    name: str
    kind: str
    unit: str
    uv_per_unit: float | None
    samples_per_record: int
    sfreq: float
    gain: float
    offset: float


@dataclass(frozen=True)
class EdfHeader:
    """What the reader needs from an EDF/BDF header.

    Attributes
    ----------
    path : Path
    format : str
        ``"edf"`` or ``"bdf"``.
    start_time : datetime
        Start of the recording, UTC when the file says nothing (EDF has no time zone).
    header_bytes : int
    n_records : int
        Complete data records in the file (the header's count when it is shorter).
    record_s : float
        Seconds per data record.
    signals : tuple of EdfSignal
        Every signal but the annotation signal(s).
    record_offsets : tuple of int
        Sample offset of each signal of ``signals`` inside a data record.
    record_samples : int
        Samples per data record, all signals (annotations included).
    warnings : tuple of str
    """

    path: Path
    format: str
    start_time: dt.datetime
    header_bytes: int
    n_records: int
    record_s: float
    signals: tuple[EdfSignal, ...]
    record_offsets: tuple[int, ...]
    record_samples: int
    warnings: tuple[str, ...] = field(default_factory=tuple)

    @property
    def bytes_per_sample(self) -> int:
        """2 for EDF, 3 for BDF."""
        return 3 if self.format == "bdf" else 2

    @property
    def channel_names(self) -> list[str]:
        """Names of the signals (MNE's names)."""
        return [s.name for s in self.signals]

    @property
    def channel_types(self) -> list[str]:
        """Types of the signals."""
        return [s.kind for s in self.signals]

    @property
    def top_sfreq(self) -> float:
        """The highest rate of any signal (MNE's rate for the whole file)."""
        return max(s.sfreq for s in self.signals)


def _number(text: str, path: Path, what: str, kind: type = float) -> float:
    try:
        return kind(float(text)) if kind is int else float(text)
    except ValueError:
        raise ValueError(f"{path}: EDF/BDF header field {what!r} is {text!r}, not a number; the file is damaged.") from None


def _start_time(date: str, time: str, path: Path) -> dt.datetime:
    try:
        d, m, y = (int(p) for p in date.replace(":", ".").split("."))
        hh, mm, ss = (int(p) for p in time.replace(":", ".").split("."))
        year = 1900 + y if y >= 85 else 2000 + y  # EDF's clipping date: 1985
        return dt.datetime(year, m, d, hh, mm, ss, tzinfo=dt.timezone.utc)
    except ValueError:
        return dt.datetime.fromtimestamp(0, dt.timezone.utc)


def read_edf_header(path: str | Path) -> EdfHeader:
    """Parse the header of an EDF/EDF+/BDF/BDF+ file.

    Raises
    ------
    FileNotFoundError
        When the file does not exist.
    ValueError
        When the header is truncated or damaged, or the file holds no complete data record.
    FastReadUnsupported
        For EDF+D/BDF+D (discontinuous) files.
    """
    path = Path(path)
    if not path.exists():
        raise FileNotFoundError(f"No such recording: {path}")
    size = path.stat().st_size
    with open(path, "rb") as fh:
        head = fh.read(256)
        if len(head) < 256:
            raise ValueError(f"{path}: truncated EDF/BDF header ({len(head)} of 256 bytes); the file is damaged or not EDF.")
        if head[:8] == b"\xffBIOSEMI":
            fmt = "bdf"
        elif head[:8] == b"0       ":
            fmt = "edf"
        else:
            raise ValueError(f"{path}: not an EDF/BDF file (its first bytes are {head[:8]!r}, expected '0' or BIOSEMI).")
        ns = int(_number(head[252:256].decode("latin-1"), path, "number of signals", int))
        header_bytes = int(_number(head[184:192].decode("latin-1"), path, "header bytes", int))
        if ns < 1 or header_bytes != 256 * (ns + 1):
            raise ValueError(f"{path}: EDF/BDF header says {ns} signals and {header_bytes} header bytes; "
                             "these disagree, so the file is damaged.")
        reserved = head[192:236].decode("latin-1").strip()
        if reserved.startswith(("EDF+D", "BDF+D")):
            raise FastReadUnsupported(f"{path}: EDF+D/BDF+D (discontinuous) file.")
        n_records_header = int(_number(head[236:244].decode("latin-1"), path, "number of data records", int))
        record_s = _number(head[244:252].decode("latin-1"), path, "duration of a data record")
        rest = fh.read(256 * ns)
    if len(rest) < 256 * ns:
        raise ValueError(f"{path}: truncated EDF/BDF header ({256 + len(rest)} of {header_bytes} bytes).")

    def column(offset: int, width: int) -> list[str]:
        start = offset * ns
        return [rest[start + i * width: start + (i + 1) * width].decode("latin-1").strip() for i in range(ns)]

    labels = column(0, 16)
    units = column(16 + 80, 8)
    pmin, pmax, dmin, dmax = (column(o, 8) for o in (104, 112, 120, 128))
    spr = column(216, 8)
    warnings: list[str] = []
    n_spr = [int(_number(s, path, f"samples per record of {labels[i]!r}", int)) for i, s in enumerate(spr)]
    if any(n < 1 for n in n_spr) or not record_s > 0:
        raise ValueError(f"{path}: EDF/BDF header has a data record of {record_s} s or signals without samples.")
    bps = 3 if fmt == "bdf" else 2
    record_samples = sum(n_spr)
    n_records = (size - header_bytes) // (record_samples * bps)
    if n_records < 1:
        raise ValueError(f"{path}: no complete data record after the header ({size} bytes); the file is truncated.")
    if 0 < n_records_header < n_records:
        n_records = n_records_header  # trailing bytes after the last record: ignored, as MNE does
    elif n_records_header > n_records:
        warnings.append(f"the header announces {n_records_header} data records but the file holds "
                        f"{n_records} complete ones (truncated); staged what is there")
    signals: list[EdfSignal] = []
    offsets: list[int] = []
    pos = 0
    for i, label in enumerate(labels):
        n = n_spr[i]
        if label in _ANNOTATION_LABELS:
            pos += n
            continue
        mne_type, name = "eeg", label
        parts = label.split(" ")
        if len(parts) > 1 and parts[0].upper() in _TYPE_PREFIXES:
            mne_type, name = _TYPE_PREFIXES[parts[0].upper()], " ".join(parts[1:])
        kind = guess_channel_type(name, default=mne_type if mne_type in ("eeg", "eog", "emg") else "misc")
        lo, hi = (_number(v, path, f"physical min/max of {label!r}") for v in (pmin[i], pmax[i]))
        dlo, dhi = (_number(v, path, f"digital min/max of {label!r}") for v in (dmin[i], dmax[i]))
        if dhi == dlo or hi == lo:
            gain, off = 1.0, 0.0
            warnings.append(f"{name}: digital or physical range is empty; values left uncalibrated")
        else:
            gain = (hi - lo) / (dhi - dlo)
            off = lo - dlo * gain
        unit = units[i].replace("\u03bc", "u").replace("\u00b5", "u")
        signals.append(EdfSignal(label, name, kind, units[i], _UV_PER_UNIT.get(unit.lower()), n, n / record_s, gain, off))
        offsets.append(pos)
        pos += n
    if not signals:
        raise ValueError(f"{path}: the file holds annotations only, no signal to stage.")
    start = _start_time(head[168:176].decode("latin-1"), head[176:184].decode("latin-1"), path)
    return EdfHeader(path, fmt, start, header_bytes, n_records, record_s, tuple(signals), tuple(offsets),
                     record_samples, tuple(warnings))


@njit(cache=True)
def _int16_to_float(records: np.ndarray, start: int, n: int, gain: float, offset: float, out: np.ndarray) -> None:
    """``out[r*n + i] = records[r, start + i] * gain + offset`` for int16 records (n_records, record_samples)."""
    k = 0
    for r in range(records.shape[0]):
        for i in range(start, start + n):
            out[k] = records[r, i] * gain + offset
            k += 1


@njit(cache=True)
def _int24_to_float(records: np.ndarray, start: int, n: int, gain: float, offset: float, out: np.ndarray) -> None:
    """The same for BDF: ``records`` is uint8 (n_records, 3 * record_samples), little-endian 24-bit."""
    k = 0
    for r in range(records.shape[0]):
        for i in range(start, start + n):
            b = 3 * i
            v = np.int32(records[r, b]) | (np.int32(records[r, b + 1]) << 8) | (np.int32(records[r, b + 2]) << 16)
            if v >= 8388608:
                v -= 16777216
            out[k] = v * gain + offset
            k += 1


def _decode_reference(records: np.ndarray, start: int, n: int, gain: float, offset: float, bdf: bool) -> np.ndarray:
    """Plain-NumPy reference of the two kernels above."""
    if not bdf:
        return (records[:, start: start + n].astype(np.float64) * gain + offset).ravel()
    b = records[:, 3 * start: 3 * (start + n)].reshape(records.shape[0], n, 3).astype(np.int32)
    v = b[..., 0] | (b[..., 1] << 8) | (b[..., 2] << 16)
    v = np.where(v >= 1 << 23, v - (1 << 24), v)
    return (v * gain + offset).ravel()


def warmup_edf_channels() -> None:
    """Compile the two decoding kernels."""
    out = np.empty(2)
    _int16_to_float(np.zeros((1, 2), np.int16), 0, 2, 1.0, 0.0, out)
    _int24_to_float(np.zeros((1, 6), np.uint8), 0, 2, 1.0, 0.0, out)


def read_edf_signals(header: EdfHeader, rows: list[int], block_bytes: int = READ_BLOCK_BYTES) -> np.ndarray:
    """Read signals ``rows`` (indices into ``header.signals``) in microvolts.

    Parameters
    ----------
    header : EdfHeader
        From :func:`read_edf_header`.
    rows : list of int
        Which signals, in this order. All must be voltages at the file's top rate.
    block_bytes : int
        Size of the mapped window of data records read at a time (peak memory of the read
        beyond the output; at least one record).

    Returns
    -------
    ndarray, shape (len(rows), n_records * samples_per_record), float64
        Microvolts.

    Raises
    ------
    ValueError
        When a signal is not a voltage or ``rows`` is empty or out of range.
    FastReadUnsupported
        When a signal's rate is below the file's top rate (MNE would resample it).
    """
    if not rows:
        raise ValueError("read_edf_signals needs at least one signal row.")
    sigs = []
    for r in rows:
        if not 0 <= r < len(header.signals):
            raise ValueError(f"{header.path}: no signal row {r} (the file has {len(header.signals)}).")
        s = header.signals[r]
        if s.uv_per_unit is None:
            raise ValueError(f"{header.path}: channel {s.name!r} is in {s.unit!r}, not a voltage; it cannot be staged.")
        if s.sfreq != header.top_sfreq:
            raise FastReadUnsupported(f"{header.path}: {s.name} is stored at {s.sfreq:g} Hz below the file's "
                                      f"{header.top_sfreq:g} Hz.")
        sigs.append(s)
    n = sigs[0].samples_per_record
    bps = header.bytes_per_sample
    record_bytes = header.record_samples * bps
    out = np.empty((len(rows), header.n_records * n))
    kernel = _int16_to_float if bps == 2 else _int24_to_float
    per_block = max(1, block_bytes // record_bytes)
    # one mapped window of records at a time: only a window's pages are ever resident, so
    # reading 1 of 16 channels of an 8-h file costs the window, not the 230-MB file
    for r0 in range(0, header.n_records, per_block):
        r1 = min(r0 + per_block, header.n_records)
        mm = np.memmap(header.path, dtype=np.int16 if bps == 2 else np.uint8, mode="r",
                       offset=header.header_bytes + r0 * record_bytes,
                       shape=(r1 - r0, header.record_samples * (1 if bps == 2 else 3)))
        records = np.asarray(mm)  # a plain ndarray view on the mapping, for Numba
        for k, (r, s) in enumerate(zip(rows, sigs, strict=True)):
            kernel(records, header.record_offsets[r], n, s.gain * s.uv_per_unit, s.offset * s.uv_per_unit,
                   out[k, r0 * n : r1 * n])
        del records, mm  # unmapped: its pages leave this process's resident set
    return out
