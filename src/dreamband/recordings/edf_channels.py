"""Read chosen signals of an EDF/EDF+/BDF/BDF+ file, straight from their stored integers.

The batch stager needs one or two channels of a night; MNE's reader (``read_recording``)
decodes every channel of the whole file into float64 first (an 8-h, 16-channel EDF is 230 MB
on disk and 1.8 GB as float64). Here the header is parsed, the data records are read a window
of a few MB at a time into one buffer (the records interleave all signals, so a memory map of
the whole file would bring all of it into the process's resident memory), and only the
requested signals of the requested span are converted - int16 (EDF) or 24-bit (BDF) samples to
microvolts in one Numba pass (``digital * gain + offset``), never touching the other channels.
:func:`read_edf_span` is the one decoder: whole-night reads, replay chunks
(:mod:`~dreamband.recordings.edf_recording`) and session archives all go through it.

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
import re
from collections.abc import Iterator
from dataclasses import dataclass, field
from pathlib import Path
from typing import BinaryIO

import numpy as np
from numba import njit

from dreamband.firmware_bridge.clock import local_zone, localize
from dreamband.recordings.base import guess_channel_type

#: MNE's channel-type prefixes (``mne.io.edf.edf.CH_TYPE_MAPPING``): "EEG Fpz-Cz" -> eeg, "Fpz-Cz"
_TYPE_PREFIXES = {"EEG": "eeg", "SEEG": "misc", "ECOG": "misc", "DBS": "misc", "EOG": "eog", "ECG": "misc",
                  "EMG": "emg", "BIO": "misc", "RESP": "misc", "TEMP": "misc", "MISC": "misc", "SAO2": "misc",
                  "STIM": "misc"}
#: microvolts per physical unit (the header's "physical dimension"), as the MNE path converts
_UV_PER_UNIT = {"uv": 1.0, "mv": 1e3, "v": 1e6, "nv": 1e-3}
_ANNOTATION_LABELS = ("EDF Annotations", "BDF Annotations")
#: bytes of data records read at a time by :func:`read_edf_span`
READ_BLOCK_BYTES = 1 << 20


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
    annotation_slots : tuple of (int, int)
        ``(sample offset, samples)`` of each EDF+/BDF+ annotation signal inside a data record.
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
    annotation_slots: tuple[tuple[int, int], ...] = field(default_factory=tuple)

    @property
    def record_bytes(self) -> int:
        """Bytes of one data record (every signal, annotations included)."""
        return self.record_samples * self.bytes_per_sample

    @property
    def n_samples(self) -> int:
        """Samples per signal at the file's top rate (complete records)."""
        return self.n_records * max(s.samples_per_record for s in self.signals)

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


def header_start_time(date: str, time: str) -> dt.datetime | None:
    """The start an EDF/BDF header holds (``dd.mm.yy``, ``hh.mm.ss``), as an aware local time.

    EDF stores the recording's local clock time and no zone. It is read in this machine's zone
    (:func:`~dreamband.firmware_bridge.clock.local_zone`, with its DST rules; in the hour repeated
    when DST ends, the first of the two), the zone :func:`header_clock` writes in, so a night
    recorded here reads back at the same instant.

    Returns
    -------
    datetime or None
        ``None`` when the fields are not a date and time.
    """
    try:
        d, m, y = (int(p) for p in date.replace(":", ".").split("."))
        hh, mm, ss = (int(p) for p in time.replace(":", ".").split("."))
        year = 1900 + y if y >= 85 else 2000 + y  # EDF's clipping date: 1985
        return localize(dt.datetime(year, m, d, hh, mm, ss))
    except ValueError:
        return None


def header_clock(start: dt.datetime) -> dt.datetime:
    """The local clock time an EDF/BDF header gets for the aware ``start`` (this machine's zone)."""
    if start.tzinfo is None:
        raise ValueError("an EDF/BDF start time must be timezone-aware (got a naive datetime).")
    return start.astimezone(local_zone())


def mne_meas_date(start: dt.datetime) -> dt.datetime:
    """The ``meas_date`` to give MNE so that its EDF writer puts ``start``'s local clock in the header.

    MNE writes ``meas_date``'s UTC digits and reads a header back as UTC; EDF's header is local
    time. So the local clock is handed over labelled UTC (what MNE's reader would give for it).
    """
    return header_clock(start).replace(tzinfo=dt.timezone.utc)


def _start_time(date: str, time: str, path: Path) -> dt.datetime:
    start = header_start_time(date, time)
    return start if start is not None else dt.datetime.fromtimestamp(0, dt.timezone.utc)


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
    slots: list[tuple[int, int]] = []
    pos = 0
    for i, label in enumerate(labels):
        n = n_spr[i]
        if label in _ANNOTATION_LABELS:
            slots.append((pos, n))
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
        unit = units[i].replace("\u03bc", "u").replace("\u00b5", "u").replace("\x83\xca", "u")
        signals.append(EdfSignal(label, name, kind, units[i], _UV_PER_UNIT.get(unit.lower()), n, n / record_s, gain, off))
        offsets.append(pos)
        pos += n
    if not signals:
        raise ValueError(f"{path}: the file holds annotations only, no signal to stage.")
    start = _start_time(head[168:176].decode("latin-1"), head[176:184].decode("latin-1"), path)
    return EdfHeader(path, fmt, start, header_bytes, n_records, record_s, tuple(signals), tuple(offsets),
                     record_samples, tuple(warnings), tuple(slots))


@njit(cache=True)
def _int16_to_float(records: np.ndarray, start: int, n: int, gain: float, offset: float, out: np.ndarray) -> None:
    """``out[r*n + i] = records[r, start + i] * gain + offset`` for int16 records (n_records, record_samples).

    One contiguous slice per record, so the loop vectorises (the same products and sums per
    sample as an indexed loop: the same bits, at about a fifth of the CPU).
    """
    for r in range(records.shape[0]):
        src = records[r, start : start + n]
        dst = out[r * n : (r + 1) * n]
        for i in range(n):
            dst[i] = src[i] * gain + offset


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


def signal_scale(signal: EdfSignal) -> tuple[float, float]:
    """``(gain, offset)`` from a signal's stored integers to microvolts (voltages) or to its
    stored unit (others, e.g. an accelerometer in g)."""
    scale = signal.uv_per_unit or 1.0
    return signal.gain * scale, signal.offset * scale


def check_signals(header: EdfHeader, rows: list[int], voltages_only: bool = True) -> list[EdfSignal]:
    """The signals ``rows`` of ``header``, checked readable by :func:`read_edf_span`.

    Raises
    ------
    ValueError
        When ``rows`` is empty or out of range, or a signal is not a voltage (``voltages_only``).
    FastReadUnsupported
        When a signal's rate is below the file's top rate.
    """
    if not rows:
        raise ValueError("read_edf_signals needs at least one signal row.")
    sigs = []
    for r in rows:
        if not 0 <= r < len(header.signals):
            raise ValueError(f"{header.path}: no signal row {r} (the file has {len(header.signals)}).")
        s = header.signals[r]
        if voltages_only and s.uv_per_unit is None:
            raise ValueError(f"{header.path}: channel {s.name!r} is in {s.unit!r}, not a voltage; it cannot be staged.")
        if s.sfreq != header.top_sfreq:
            raise FastReadUnsupported(f"{header.path}: {s.name} is stored at {s.sfreq:g} Hz below the file's "
                                      f"{header.top_sfreq:g} Hz.")
        sigs.append(s)
    return sigs


def read_records(fh: BinaryIO, header: EdfHeader, first: int, buf: np.ndarray) -> np.ndarray:
    """Read data records ``first ..`` into ``buf`` (uint8, a whole number of records long).

    Plain reads, not a memory map of the file: only ``buf`` is ever resident, however long the
    night. Returns the records as int16 ``(k, record_samples)`` (EDF) or uint8
    ``(k, 3 * record_samples)`` (BDF), views on ``buf``.

    Raises
    ------
    ValueError
        When the file ends before those records (it was cut after its header was read).
    """
    k = buf.size // header.record_bytes
    fh.seek(header.header_bytes + first * header.record_bytes)
    view, got = memoryview(buf), 0
    while got < buf.size:
        n = fh.readinto(view[got:])
        if not n:
            raise ValueError(f"{header.path}: the file ends inside data record {first + got // header.record_bytes} "
                             "(it was cut while being read).")
        got += n
    if header.bytes_per_sample == 2:
        return buf.view("<i2").reshape(k, header.record_samples)
    return buf.reshape(k, header.record_bytes)


def read_edf_span(header: EdfHeader, rows: list[int], start: int = 0, stop: int | None = None,
                  block_bytes: int = READ_BLOCK_BYTES, voltages_only: bool = True) -> np.ndarray:
    """Decode samples ``start:stop`` of signals ``rows`` (indices into ``header.signals``).

    The one decoder of EDF/BDF samples: a whole-night read (:func:`read_edf_signals`), a replay's
    chunk (:class:`~dreamband.recordings.edf_recording.EdfRecording`) and a session archive all
    come through here, so any span equals the same samples of one whole read bit for bit.

    Parameters
    ----------
    header : EdfHeader
        From :func:`read_edf_header`.
    rows : list of int
        Which signals, in this order; all at the file's top rate.
    start, stop : int
        Sample span (default the whole file), ``0 <= start <= stop <= header.n_samples``.
    block_bytes : int
        Data records read at a time (peak memory of the read beyond the output; at least one
        record).
    voltages_only : bool
        Refuse signals that are not voltages (the stager's case). False: such signals come in
        their stored unit (accelerometer in g).

    Returns
    -------
    ndarray, shape (len(rows), stop - start), float64
        Microvolts (voltages).

    Raises
    ------
    ValueError
        When a signal is not a voltage (``voltages_only``), ``rows`` is empty or out of range,
        or the span is outside the file.
    FastReadUnsupported
        When a signal's rate is below the file's top rate (MNE would resample it).
    """
    sigs = check_signals(header, rows, voltages_only)
    spr = sigs[0].samples_per_record
    total = header.n_records * spr
    stop = total if stop is None else int(stop)
    start = int(start)
    if not 0 <= start <= stop <= total:
        raise ValueError(f"{header.path}: samples {start}:{stop} are outside the file's 0:{total}.")
    out = np.empty((len(rows), stop - start))
    if stop == start:
        return out
    kernel = _int16_to_float if header.bytes_per_sample == 2 else _int24_to_float
    scales = [signal_scale(s) for s in sigs]
    r_first, r_end = start // spr, -(-stop // spr)
    per_block = min(max(1, block_bytes // header.record_bytes), r_end - r_first)
    buf = np.empty(per_block * header.record_bytes, dtype=np.uint8)
    edge = np.empty(per_block * spr)
    with open(header.path, "rb") as fh:
        for r0 in range(r_first, r_end, per_block):
            k = min(per_block, r_end - r0)
            records = read_records(fh, header, r0, buf[: k * header.record_bytes])
            at = r0 * spr - start  # where the window's first sample goes in ``out`` (< 0: before start)
            lo, hi = max(0, -at), min(k * spr, stop - r0 * spr)
            for j, (r, (gain, off)) in enumerate(zip(rows, scales, strict=True)):
                if lo == 0 and hi == k * spr:
                    kernel(records, header.record_offsets[r], spr, gain, off, out[j, at : at + k * spr])
                else:  # a window cut by the span: decoded whole, the part inside kept
                    kernel(records, header.record_offsets[r], spr, gain, off, edge[: k * spr])
                    out[j, at + lo : at + hi] = edge[lo:hi]
    return out


def read_edf_signals(header: EdfHeader, rows: list[int], block_bytes: int = READ_BLOCK_BYTES) -> np.ndarray:
    """Read signals ``rows`` (indices into ``header.signals``) of the whole file, in microvolts.

    :func:`read_edf_span` of every sample.

    Parameters
    ----------
    header : EdfHeader
        From :func:`read_edf_header`.
    rows : list of int
        Which signals, in this order. All must be voltages at the file's top rate.
    block_bytes : int
        Size of the window of data records read at a time (peak memory of the read beyond the
        output; at least one record).

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
    return read_edf_span(header, rows, 0, None, block_bytes)


_TAL = re.compile(rb"([+-][0-9.]+)(?:\x15([0-9.]*))?\x14([^\x00]*)\x00")


def parse_tals(raw: bytes) -> list[tuple[float, float, str]]:
    """EDF+ annotations ``(onset, duration, text)`` of annotation-signal bytes (timekeeping TALs
    skipped); one regular-expression pass, so a night's worth of zero padding costs nothing."""
    out: list[tuple[float, float, str]] = []
    for m in _TAL.finditer(raw):
        texts = [t for t in m.group(3).split(b"\x14") if t]
        if not texts:
            continue
        try:
            onset = float(m.group(1))
            dur = float(m.group(2)) if m.group(2) else 0.0
        except ValueError:
            continue
        out += [(onset, dur, t.decode("utf-8", errors="replace")) for t in texts]
    return out


def first_record_onset(header: EdfHeader) -> float:
    """The time-keeping onset (s) of the first data record (EDF+: 0 unless the start has a
    fraction of a second); 0 for a file without annotation signal."""
    if not header.annotation_slots:
        return 0.0
    off, n = header.annotation_slots[0]
    bps = header.bytes_per_sample
    with open(header.path, "rb") as fh:
        fh.seek(header.header_bytes + off * bps)
        m = _TAL.match(fh.read(n * bps))
    try:
        return float(m.group(1)) if m else 0.0
    except ValueError:
        return 0.0


def record_blocks(header: EdfHeader, block_records: int = 1500) -> Iterator[tuple[int, np.ndarray]]:
    """Yield ``(first_record, uint8 array (k, record_bytes))`` of a file's data records, read in
    blocks into one buffer (plain reads: a memory map of the whole night would count its pages
    in the RSS). Each array is valid until the next one is yielded."""
    per = max(1, min(block_records, header.n_records))
    buf = np.empty(per * header.record_bytes, dtype=np.uint8)
    with open(header.path, "rb") as fh:
        for r0 in range(0, header.n_records, per):
            k = min(per, header.n_records - r0)
            read_records(fh, header, r0, buf[: k * header.record_bytes])
            yield r0, buf[: k * header.record_bytes].reshape(k, header.record_bytes)


def read_edf_annotations(header: EdfHeader) -> list[tuple[float, float, str]]:
    """Every EDF+/BDF+ annotation ``(onset_s, duration_s, text)`` of the file, in file order
    (each annotation signal in turn), read a block of records at a time."""
    bps = header.bytes_per_sample
    out: list[tuple[float, float, str]] = []
    if not header.annotation_slots:
        return out
    for _, block in record_blocks(header):  # a TAL never spans two records: each block parses alone
        for off, n in header.annotation_slots:
            out += parse_tals(block[:, off * bps : (off + n) * bps].tobytes())
    return out
