"""Expert and dreamband hypnograms: read them into one int8 code per 30-s epoch, and write ours.

Codes follow :mod:`dreamband.signal.stages`: ``W=0, N1=1, N2=2, N3=3, REM=4``, ``-1`` for
unknown, movement or artefact epochs.

Formats read by :func:`load_hypnogram`:

* Sleep-EDF ``*-Hypnogram.edf`` (EDF+ annotations ``Sleep stage W/1/2/3/4/R/?``, ``Movement
  time``) and any EDF+/FIF whose annotations say ``Sleep stage ...`` (dreamband's own
  ``session.edf``); R&K stages 3 and 4 become N3.
* YASA-style integer text (one int per line, ``#`` comments allowed): ``W=0, N1=1, N2=2,
  N3=3, REM=4`` and ``-1``/``-2`` (artefact/unscored).
* YASA-style string text: ``W, N1, N2, N3, R/REM, Art, Uns`` (also ``S1..S4``, ``Wake``).
* DREAMS ``Hypnogram_excerptN.txt``: ``[Hypnogram]`` then one R&K code per **5 s**
  (``5=W, 4=REM, 3=S1, 2=S2, 1=S3, 0=S4, -1=movement, -2/-3=unknown``), resampled to 30 s by
  majority of the six 5-s values.
* Elan/Visbrain ``.hyp`` (``time_base``/``sampling_period``/``epoch_nb``/``epoch_list`` header,
  one code per ``time_base`` s, ``0=W 1=N1 2=N2 3=N3 5=REM``, negatives unknown), resampled to
  30 s by majority.
* dreamband's ``hypnogram.csv`` (written by the recorder): ``epoch,onset,stage,p_W,...,quality``.
"""

from __future__ import annotations

import csv
import io
from pathlib import Path

import numpy as np

from dreamband.recordings.base import is_number
from dreamband.signal.stages import N1, N2, N3, REM, STAGE_NAMES, UNSTAGED, W, stage_name

EPOCH_S = 30.0

#: YASA string labels (``yasa.hypno_str_to_int``) and R&K / Sleep-EDF spellings.
_STRING_CODES: dict[str, int] = {
    "W": W, "WAKE": W, "N1": N1, "S1": N1, "N2": N2, "S2": N2, "N3": N3, "S3": N3, "S4": N3, "N4": N3,
    "R": REM, "REM": REM, "ART": UNSTAGED, "UNS": UNSTAGED, "?": UNSTAGED, "MT": UNSTAGED,
    "MOVEMENT": UNSTAGED, "MOVEMENT TIME": UNSTAGED, "UNSCORED": UNSTAGED, "UNKNOWN": UNSTAGED,
    "1": N1, "2": N2, "3": N3, "4": N3,
}
_DREAMS_CODES = {5: W, 4: REM, 3: N1, 2: N2, 1: N3, 0: N3, -1: UNSTAGED, -2: UNSTAGED, -3: UNSTAGED}
_ELAN_CODES = {0: W, 1: N1, 2: N2, 3: N3, 4: N3, 5: REM}

CSV_COLUMNS = ("epoch", "onset", "stage", *(f"p_{n}" for n in STAGE_NAMES), "quality")


def _majority(codes: np.ndarray, per_epoch: int) -> np.ndarray:
    """Resample short scoring units to epochs of ``per_epoch`` units by majority vote.

    A tie goes to the first of the tied codes to appear in the epoch. A trailing partial
    epoch is kept when at least half of it is scored.
    """
    n_full = codes.size // per_epoch
    rest = codes.size - n_full * per_epoch
    blocks = [codes[i * per_epoch:(i + 1) * per_epoch] for i in range(n_full)]
    if rest * 2 >= per_epoch:
        blocks.append(codes[n_full * per_epoch:])
    out = np.empty(len(blocks), dtype=np.int8)
    for k, block in enumerate(blocks):
        values, first_idx, counts = np.unique(block, return_index=True, return_counts=True)
        best = counts.max()
        tied = values[counts == best]
        out[k] = tied[np.argmin(first_idx[counts == best])]
    return out


def _from_annotations(ann, path: Path, epoch_s: float) -> np.ndarray:
    """Turn MNE annotations with ``Sleep stage X``/``Movement time`` into per-epoch codes."""
    rows = []
    for onset, duration, desc in zip(ann.onset, ann.duration, ann.description, strict=True):
        d = str(desc).strip()
        low = d.lower()
        if low.startswith("sleep stage"):
            key = d[len("sleep stage"):].strip().upper()
            if key not in _STRING_CODES:
                raise ValueError(f"{path}: unknown stage annotation {d!r}.")
            code = _STRING_CODES[key]
        elif low.startswith("movement time"):
            code = UNSTAGED
        else:
            continue
        rows.append((float(onset), float(duration), code))
    if not rows:
        raise ValueError(
            f"{path}: no 'Sleep stage ...' annotations found, so this is not a hypnogram "
            "(expected a Sleep-EDF *-Hypnogram.edf or a dreamband session.edf)."
        )
    start = min(r[0] for r in rows)
    start = 0.0 if start < epoch_s else start
    end = max(o + max(d, epoch_s) for o, d, _ in rows)
    n = int(np.ceil(round((end - start) / epoch_s, 6)))
    out = np.full(n, UNSTAGED, dtype=np.int8)
    for onset, duration, code in rows:
        i0 = int(round((onset - start) / epoch_s))
        n_ep = max(1, int(round(duration / epoch_s)))
        out[i0:i0 + n_ep] = code
    return out


def _read_edf_hypnogram(path: Path, epoch_s: float) -> np.ndarray:
    import mne

    try:
        ann = mne.read_annotations(path)
    except Exception as err:
        raise ValueError(f"{path}: could not read annotations ({type(err).__name__}: {err}).") from err
    return _from_annotations(ann, path, epoch_s)


def _parse_int_lines(lines: list[str], path: Path, what: str) -> np.ndarray:
    try:
        return np.array([int(float(x)) for x in lines], dtype=np.int64)
    except ValueError:
        bad = next(x for x in lines if not is_number(x))
        raise ValueError(f"{path}: {what}: line {bad!r} is not an integer.") from None


def _read_our_csv(text: str, path: Path) -> tuple[np.ndarray, float]:
    reader = csv.DictReader(io.StringIO(text))
    if reader.fieldnames is None or "stage" not in reader.fieldnames:
        raise ValueError(f"{path}: a dreamband hypnogram CSV needs a 'stage' column (header {reader.fieldnames}).")
    rows = []
    for k, row in enumerate(reader):
        if row.get("stage") is None:  # partial last line after a crash
            break
        try:
            epoch = int(row["epoch"]) if row.get("epoch") not in (None, "") else k
            onset = float(row["onset"]) if row.get("onset") not in (None, "") else np.nan
        except ValueError:
            if k > 0 and reader.line_num >= text.count("\n"):
                break  # truncated final line
            raise ValueError(f"{path}: line {reader.line_num}: bad epoch/onset {row}.") from None
        s = row["stage"].strip()
        code = int(s) if s.lstrip("-").isdigit() else _STRING_CODES.get(s.upper())
        if code is None or not -2 <= code <= 4:
            raise ValueError(f"{path}: line {reader.line_num}: unknown stage {s!r}.")
        rows.append((epoch, onset, max(code, UNSTAGED)))
    if not rows:
        raise ValueError(f"{path}: the hypnogram CSV has no epochs.")
    onsets = np.array([r[1] for r in rows])
    epoch_s = EPOCH_S
    if len(rows) > 1 and np.all(np.isfinite(onsets)):
        steps = np.diff(onsets) / np.maximum(np.diff([r[0] for r in rows]), 1)
        epoch_s = float(np.median(steps))
    n = max(r[0] for r in rows) + 1
    out = np.full(n, UNSTAGED, dtype=np.int8)
    for epoch, _, code in rows:
        out[epoch] = code
    return out, epoch_s


def load_hypnogram(path: str | Path, epoch_s: float = EPOCH_S) -> tuple[np.ndarray, float]:
    """Read a hypnogram file into one stage code per epoch.

    Parameters
    ----------
    path : str or Path
        Sleep-EDF ``*-Hypnogram.edf``, dreamband ``session.edf``/``hypnogram.csv`` (or the
        session folder), YASA int/str text, DREAMS 5-s text, or Elan ``.hyp``.
    epoch_s : float
        Epoch length of formats that do not state it (YASA text files: 30 s).

    Returns
    -------
    stages : ndarray, shape (n_epochs,), int8
        ``W=0, N1=1, N2=2, N3=3, REM=4``, ``-1`` unknown/movement/artefact.
    epoch_s : float
        Epoch length in seconds (30 for every format but a YASA file given another).

    Raises
    ------
    FileNotFoundError
        When the file does not exist.
    ValueError
        When the file is not a hypnogram or holds a code the format does not define.
    """
    path = Path(path).expanduser()
    if path.is_dir():
        if (path / "hypnogram.csv").exists():
            path = path / "hypnogram.csv"
        else:
            raise FileNotFoundError(f"{path} is a folder without hypnogram.csv.")
    if not path.exists():
        raise FileNotFoundError(f"No such hypnogram file: {path}")
    suffix = path.suffix.lower()
    if suffix in (".edf", ".bdf", ".fif", ".gz"):
        return _read_edf_hypnogram(path, EPOCH_S), EPOCH_S
    raw = path.read_bytes()
    if b"\x00" in raw[:2048]:
        raise ValueError(f"{path}: binary file; expected a hypnogram EDF (.edf) or a text hypnogram.")
    text = raw.decode("utf-8", errors="replace").lstrip("\ufeff")
    lines = [ln.strip() for ln in text.splitlines()]
    content = [ln for ln in lines if ln and not ln.startswith("#")]
    if not content:
        raise ValueError(f"{path}: the hypnogram file is empty.")
    head = content[0]
    if head.lower().startswith("epoch") and "," in head:
        return _read_our_csv(text, path)
    if head.lower() == "[hypnogram]":
        codes = _parse_int_lines(content[1:], path, "DREAMS hypnogram")
        unknown = sorted(set(codes.tolist()) - set(_DREAMS_CODES))
        if unknown:
            raise ValueError(f"{path}: DREAMS hypnogram has code(s) {unknown}; expected 5=W, 4=REM, 3..0=S1..S4, -1..-3.")
        mapped = np.array([_DREAMS_CODES[int(c)] for c in codes], dtype=np.int8)
        return _majority(mapped, 6), EPOCH_S
    if head.lower().startswith("time_base"):
        return _read_elan(content, path), EPOCH_S
    if all(is_number(x) for x in content):
        codes = _parse_int_lines(content, path, "integer hypnogram")
        bad = sorted(set(codes.tolist()) - {-2, -1, 0, 1, 2, 3, 4})
        if bad:
            hint = " (REM=5 is the Elan/sleepSMG convention; YASA uses REM=4)" if 5 in bad else ""
            raise ValueError(
                f"{path}: integer hypnogram has code(s) {bad}; expected YASA codes W=0, N1=1, N2=2, "
                f"N3=3, REM=4, -1/-2 unknown{hint}."
            )
        return np.maximum(codes, UNSTAGED).astype(np.int8), float(epoch_s)
    out = []
    for ln in content:
        key = ln.strip().upper()
        if key.startswith("SLEEP STAGE"):
            key = key[len("SLEEP STAGE"):].strip()
        if key not in _STRING_CODES:
            raise ValueError(
                f"{path}: unknown stage label {ln!r}; expected W, N1, N2, N3, R/REM, Art, Uns "
                "(one per line), or a known hypnogram format."
            )
        out.append(_STRING_CODES[key])
    return np.array(out, dtype=np.int8), float(epoch_s)


def _read_elan(content: list[str], path: Path) -> np.ndarray:
    header = {}
    i = 0
    while i < len(content) and not is_number(content[i]):
        parts = content[i].split()
        header[parts[0].lower()] = parts[1] if len(parts) > 1 else ""
        i += 1
    try:
        unit_s = float(header.get("time_base", "1"))
    except ValueError:
        raise ValueError(f"{path}: Elan .hyp header has a bad time_base {header.get('time_base')!r}.") from None
    codes = _parse_int_lines(content[i:], path, "Elan .hyp")
    bad = sorted(set(codes[codes >= 0].tolist()) - set(_ELAN_CODES))
    if bad:
        raise ValueError(f"{path}: Elan .hyp has code(s) {bad}; expected 0=W 1=N1 2=N2 3/4=N3 5=REM.")
    mapped = np.array([_ELAN_CODES.get(int(c), UNSTAGED) for c in codes], dtype=np.int8)
    per_epoch = int(round(EPOCH_S / unit_s))
    if per_epoch < 1 or abs(per_epoch * unit_s - EPOCH_S) > 1e-6:
        raise ValueError(f"{path}: Elan time_base {unit_s} s does not divide a 30-s epoch.")
    return _majority(mapped, per_epoch)


def hypnogram_row(epoch: int, onset: float, stage: int, probabilities=(), quality: str = "ok") -> str:
    """One line of ``hypnogram.csv`` (with its newline), as :class:`HypnogramWriter` writes it."""
    probs = list(probabilities) + [float("nan")] * (5 - len(probabilities))
    cells = [str(int(epoch)), f"{float(onset):.3f}", stage_name(int(stage))]
    cells += ["" if not np.isfinite(p) else f"{float(p):.4f}" for p in probs[:5]]
    cells.append(str(quality).replace(",", ";").replace("\n", " "))
    return ",".join(cells) + "\n"


class HypnogramWriter:
    """Append dreamband's ``hypnogram.csv`` one staged epoch at a time (flushed per row).

    Columns: ``epoch, onset, stage, p_W, p_N1, p_N2, p_N3, p_REM, quality`` where ``stage``
    is the short name (``W``, ``N1``, ..., ``?``) and ``quality`` is ``ok`` or the reasons.
    """

    def __init__(self, path: str | Path, mode: int = 0o600) -> None:
        self.path = Path(path)
        new = not self.path.exists() or self.path.stat().st_size == 0
        fd = _open_private(self.path, mode)
        self._fh = open(fd, "a", encoding="utf-8", newline="")
        if new:
            self._fh.write(",".join(CSV_COLUMNS) + "\n")
            self._fh.flush()

    def write(self, epoch: int, onset: float, stage: int, probabilities=(), quality: str = "ok") -> None:
        """Append one epoch (``probabilities``: 5 values W..REM, or empty/NaN when unstaged)."""
        self._fh.write(hypnogram_row(epoch, onset, stage, probabilities, quality))
        self._fh.flush()

    def close(self) -> None:
        """Close the file. Safe to call twice."""
        if not self._fh.closed:
            self._fh.close()


def _open_private(path: Path, mode: int = 0o600) -> int:
    import os

    return os.open(path, os.O_WRONLY | os.O_CREAT | os.O_APPEND, mode)


def format_hypnogram_csv(stages: np.ndarray, probabilities: np.ndarray, quality: list[str] | np.ndarray,
                         onsets_s: np.ndarray | None = None, epoch_s: float = EPOCH_S) -> str:
    """The text :class:`HypnogramWriter` would write for a whole night, made in one formatting pass.

    Parameters
    ----------
    stages : ndarray, shape (n_epochs,)
        Stage codes (``-1`` unstaged).
    probabilities : ndarray, shape (n_epochs, 5)
        W..REM; ignored (empty cells) where the epoch is unstaged or the value is not finite.
    quality : sequence of str, length n_epochs
        ``"ok"`` or the reasons.
    onsets_s : ndarray, shape (n_epochs,), optional
        Epoch onsets in seconds (default ``epoch * epoch_s``).
    epoch_s : float

    Returns
    -------
    str
        Header line and one line per epoch, byte for byte what :class:`HypnogramWriter` writes.
    """
    stages = np.asarray(stages)
    n = stages.shape[0]
    probs = np.asarray(probabilities, dtype=np.float64)
    if stages.ndim != 1 or probs.shape != (n, 5) or len(quality) != n:
        raise ValueError(f"stages (n,), probabilities (n, 5) and quality (n) must agree; got {stages.shape}, "
                         f"{probs.shape}, {len(quality)}.")
    bad = (stages != UNSTAGED) & ((stages < 0) | (stages > 4))
    if bad.any():
        raise ValueError(f"Unknown stage codes {np.unique(stages[bad]).tolist()}; expected -1 or 0..4.")
    onsets = np.arange(n) * float(epoch_s) if onsets_s is None else np.asarray(onsets_s, dtype=np.float64)
    names = np.array([stage_name(UNSTAGED), *STAGE_NAMES], dtype=object)
    cells = np.empty((n, 9), dtype=object)
    cells[:, 0] = np.arange(n)
    cells[:, 1] = onsets
    cells[:, 2] = names[stages.astype(np.int64) + 1]
    cells[:, 3:8] = np.where((stages != UNSTAGED)[:, None], probs, np.nan)
    cells[:, 8] = [str(q).replace(",", ";").replace("\n", " ") for q in quality]
    text = ("%d,%.3f,%s,%.4f,%.4f,%.4f,%.4f,%.4f,%s\n" * n) % tuple(cells.ravel().tolist())
    # "%.4f" of NaN/inf is "nan"/"inf"; the writer leaves such cells empty. Quality has no commas left.
    for word in ("nan", "inf", "-inf"):
        text = text.replace(f",{word},", ",,").replace(f",{word},", ",,")
    return ",".join(CSV_COLUMNS) + "\n" + text


def write_hypnogram_csv(path: str | Path, stages: np.ndarray, probabilities: np.ndarray,
                        quality: list[str] | np.ndarray, onsets_s: np.ndarray | None = None,
                        epoch_s: float = EPOCH_S, mode: int = 0o644) -> Path:
    """Write a whole night's ``hypnogram.csv`` at once (see :func:`format_hypnogram_csv`).

    The file appears complete or not at all: it is written beside ``path`` and renamed over it,
    so a crash never leaves a half file that looks done.

    Returns
    -------
    Path
        ``path``.
    """
    import os

    path = Path(path)
    text = format_hypnogram_csv(stages, probabilities, quality, onsets_s, epoch_s)
    tmp = path.with_name(f".{path.name}.{os.getpid()}.tmp")
    try:
        fd = os.open(tmp, os.O_WRONLY | os.O_CREAT | os.O_TRUNC, mode)
        with open(fd, "w", encoding="utf-8", newline="") as fh:
            fh.write(text)
        os.replace(tmp, path)
    finally:
        if tmp.exists():
            tmp.unlink()
    return path
