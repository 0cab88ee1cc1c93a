"""BrainFlow CSV files (``DataFilter.write_file`` layout): read them, and the table reader the
recorder and recovery share.

Layout: tab-separated, no header, one sample per row, one column per board row (the board
descriptor says which rows are EEG, accelerometer, timestamp and marker). Nothing in the file
says which board wrote it, so the board comes from (in this order) our ``session.json``
sidecar, the ``board_id`` argument (``--board`` / ``--master-board``), or an inference from the
column count and the rate of the timestamps among the boards dreamband supports; an
ambiguous or impossible inference is an error that says to pass the board.
"""

from __future__ import annotations

import datetime as dt
import json
from pathlib import Path

import numpy as np

from dreamband.recordings.base import Recording, is_number

#: Boards considered when the board must be inferred (BrainFlow ids).
INFERABLE_BOARDS: dict[int, str] = {
    -1: "synthetic", 0: "cyton", 1: "ganglion", 2: "cyton-daisy", 38: "muse-2", 39: "muse-s",
}


def parse_board_id(board: int | str | None) -> int | None:
    """Board id from an int, a digit string or a name (synthetic, cyton, ganglion, cyton-daisy, muse-2, muse-s).

    Raises
    ------
    ValueError
        For an unknown name.
    """
    if board is None or isinstance(board, int):
        return board
    text = str(board).strip().lower()
    if text.lstrip("-").isdigit():
        return int(text)
    for bid, name in INFERABLE_BOARDS.items():
        if text == name:
            return bid
    raise ValueError(f"Unknown board {board!r} for a BrainFlow CSV; use a BrainFlow id or one of "
                     f"{', '.join(INFERABLE_BOARDS.values())}.")


def board_description(board_id: int) -> dict:
    """Return BrainFlow's descriptor of ``board_id`` (rows, rate, names) as a dict.

    Raises
    ------
    ValueError
        When BrainFlow does not know the board id.
    """
    from brainflow.board_shim import BoardShim

    try:
        return dict(BoardShim.get_board_descr(int(board_id)))
    except Exception as err:
        raise ValueError(f"BrainFlow does not know board id {board_id!r} ({err}).") from None


def _parse_block(text: str, n_cols: int, path: Path, first_line_no: int, sep: str | None) -> np.ndarray:
    """Parse complete lines of numbers into (n_lines, n_cols); name the first bad line."""
    import warnings as _w

    n_lines = text.count("\n") + (0 if text.endswith("\n") or not text else 1)
    try:
        with _w.catch_warnings():
            _w.simplefilter("error", DeprecationWarning)
            flat = np.fromstring(text if sep in (None, "\t", " ") else text.replace(sep, " "), sep=" ")
    except (ValueError, DeprecationWarning):
        flat = None
    if flat is not None and flat.size == n_lines * n_cols:
        return flat.reshape(n_lines, n_cols)
    for k, line in enumerate(text.splitlines(), start=first_line_no):
        cells = line.strip().split(sep) if sep not in (None, " ") else line.split()
        if len(cells) != n_cols:
            raise ValueError(f"{path}: line {k} has {len(cells)} columns, expected {n_cols} "
                             "(file damaged or not written by BrainFlow?).")
        bad = [c for c in cells if not is_number(c)]
        if bad:
            raise ValueError(f"{path}: line {k} has a non-numeric cell {bad[0]!r}.")
    raise ValueError(f"{path}: could not parse lines {first_line_no}-{first_line_no + n_lines - 1}.")


def read_table(path: str | Path, sep: str | None = "\t", expect_cols: int | None = None,
               allow_truncated_tail: bool = True, columns: list[int] | None = None,
               block_bytes: int = 8 << 20) -> tuple[np.ndarray, list[str]]:
    """Read a numeric table with one sample per line into (n_cols, n_rows), block by block.

    A final line that is shorter than the others or does not parse (what a crash leaves) is
    dropped and reported in the returned warnings. A bad line anywhere else is an error.

    Parameters
    ----------
    path : str or Path
        The file.
    sep : str or None
        Column separator (None = any whitespace).
    expect_cols : int, optional
        Required number of columns.
    allow_truncated_tail : bool
        Drop an incomplete final line (with a warning) instead of failing.
    columns : list of int, optional
        Keep only these columns (saves memory on whole nights).
    block_bytes : int
        Bytes parsed at a time.

    Returns
    -------
    table : ndarray, shape (n_kept_cols, n_rows), float64
    warnings : list of str

    Raises
    ------
    ValueError
        Empty file, inconsistent column counts, or a non-numeric cell (with the line number).
    """
    path = Path(path)
    warnings: list[str] = []
    parts: list[np.ndarray] = []
    with open(path, "rb") as fh:
        first = fh.readline()
        while first and not first.strip():
            first = fh.readline()
        if not first.strip():
            raise ValueError(f"{path}: the file is empty.")
        first_text = first.decode("utf-8", errors="replace").strip()
        n_cols = len(first_text.split(sep) if sep not in (None, " ") else first_text.split())
        if expect_cols is not None and n_cols != expect_cols:
            if not first.endswith(b"\n") and allow_truncated_tail:
                n_cols = expect_cols
            else:
                raise ValueError(f"{path}: line 1 has {n_cols} columns, expected {expect_cols}.")
        fh.seek(0)
        leftover = b""
        line_no = 1
        while True:
            block = fh.read(block_bytes)
            eof = not block
            buf = leftover + block
            if eof:
                tail = buf
                break
            cut = buf.rfind(b"\n")
            if cut < 0:
                leftover = buf
                continue
            chunk, leftover = buf[: cut + 1], buf[cut + 1:]
            text = chunk.decode("utf-8", errors="replace")
            text = "\n".join(ln for ln in text.split("\n") if ln.strip()) + "\n"
            if text.strip():
                arr = _parse_block(text, n_cols, path, line_no, sep)
                parts.append(arr[:, columns].copy() if columns is not None else arr)
            line_no += chunk.count(b"\n")
        tail_text = tail.decode("utf-8", errors="replace").strip()
        if tail_text:
            cells = tail_text.split(sep) if sep not in (None, " ") else tail_text.split()
            if len(cells) == n_cols and all(is_number(c) for c in cells):
                arr = np.array([[float(c) for c in cells]])
                parts.append(arr[:, columns] if columns is not None else arr)
            elif allow_truncated_tail:
                warnings.append(f"the last line was truncated ({len(cells)} of {n_cols} columns) and was dropped")
            else:
                raise ValueError(f"{path}: the last line is truncated ({len(cells)} of {n_cols} columns).")
    if not parts:
        raise ValueError(f"{path}: no complete data line.")
    table = np.concatenate(parts, axis=0) if len(parts) > 1 else parts[0]
    return np.ascontiguousarray(table.T), warnings


def _measured_rate(ts: np.ndarray) -> float:
    ts = ts[np.isfinite(ts)]
    if ts.size < 2 or ts[-1] <= ts[0]:
        return float("nan")
    return (ts.size - 1) / (ts[-1] - ts[0])


def infer_board(table: np.ndarray) -> tuple[int, str]:
    """Guess the board of a BrainFlow table from its column count and timestamp rate.

    Returns
    -------
    board_id : int
    reason : str
        A sentence saying how the board was chosen.

    Raises
    ------
    ValueError
        When no supported board, or more than one, fits.
    """
    n_cols, n = table.shape
    cands = []
    for bid in INFERABLE_BOARDS:
        d = board_description(bid)
        if d["num_rows"] == n_cols:
            cands.append((bid, d))
    if not cands:
        known = ", ".join(f"{name} ({board_description(b)['num_rows']} columns)" for b, name in INFERABLE_BOARDS.items())
        raise ValueError(
            f"A BrainFlow CSV with {n_cols} columns matches none of the boards dreamband can infer ({known}). "
            "Pass the board (--board ID or --master-board ID for playback files)."
        )
    rate = _measured_rate(table[cands[0][1]["timestamp_channel"]])
    # the package counter of Cyton+Daisy steps by 2
    pkg = table[0]
    step2 = n > 10 and np.median(np.mod(np.diff(pkg), 256)) == 2
    if len(cands) > 1:
        scored = []
        for bid, d in cands:
            if bid == 2 and step2:
                score = -1.0
            elif bid == 2 and not step2:
                score = 10.0
            elif np.isfinite(rate):
                score = abs(np.log(rate / d["sampling_rate"]))
            else:
                score = np.inf
            scored.append((score, bid, d))
        scored.sort(key=lambda s: s[0])
        names = [INFERABLE_BOARDS[b] for _, b, _ in scored]
        layout_twins = {38, 39}  # Muse 2 and Muse S share one layout: either is right
        if not np.isfinite(scored[0][0]) or (
            len(scored) > 1 and abs(scored[1][0] - scored[0][0]) < 0.2
            and {scored[0][1], scored[1][1]} != layout_twins
        ):
            raise ValueError(
                f"A BrainFlow CSV with {n_cols} columns at ~{rate:.0f} Hz fits several boards ({', '.join(names)}). "
                "Pass the board (--board NAME_OR_ID, or --master-board for playback files)."
            )
        bid, d = scored[0][1], scored[0][2]
    else:
        bid, d = cands[0]
    reason = (f"no session.json sidecar and no --board given: the board was inferred as "
              f"{INFERABLE_BOARDS[bid]} (id {bid}) from {n_cols} columns"
              + (f" and ~{rate:.0f} Hz timestamps" if np.isfinite(rate) else "")
              + ("; the package counter steps by 2" if step2 else "")
              + ". Pass --board to override.")
    return bid, reason


def find_sidecar(path: Path) -> dict | None:
    side = path.parent / "session.json"
    if not side.exists():
        return None
    try:
        info = json.loads(side.read_text(encoding="utf-8"))
    except (OSError, json.JSONDecodeError) as err:
        raise ValueError(f"{side}: the session.json sidecar is unreadable ({err}).") from None
    if not isinstance(info, dict) or info.get("format") != "dreamband-session":
        return None
    raw_file = info.get("files", {}).get("raw")
    if raw_file not in (None, path.name):
        return None
    return info


def load_brainflow_csv(path: str | Path, board_id: int | None = None, sidecar: dict | None = None) -> Recording:
    """Read a BrainFlow CSV (``DataFilter.write_file`` layout) into a :class:`Recording`.

    Parameters
    ----------
    path : str or Path
        The CSV file.
    board_id : int or str, optional
        BrainFlow board id (or name, e.g. ``"cyton-daisy"``); needed when there is no ``session.json`` beside the file and the
        board cannot be inferred unambiguously.
    sidecar : dict, optional
        A parsed ``session.json`` (default: read from the file's folder when present).

    Returns
    -------
    Recording
        EEG rows (µV) and accelerometer rows (g); ``raw_brainflow`` holds every row,
        ``markers`` the marker row, ``start_time`` the first timestamp (UTC).

    Raises
    ------
    ValueError
        Wrong column count for the board, no EEG rows, a damaged line, or a timestamp rate
        that disagrees with the board's rate.
    """
    path = Path(path)
    board_id = parse_board_id(board_id)
    if sidecar is None:
        sidecar = find_sidecar(path)
    if sidecar is not None and (sidecar.get("layout") or {}).get("kind") == "dreamband":
        raise ValueError(f"{path} is the raw.csv of a dreamband session folder (its own row layout); read it with "
                         f"read_recording({str(path.parent)!r}) or read_recording({str(path)!r}).")
    table, warnings = read_table(path, sep="\t")
    how = ""
    montage = None
    if sidecar is not None and (sidecar.get("layout") or {}).get("kind") == "brainflow":
        board_id = int(sidecar["board_id"]) if board_id is None else board_id
        montage = sidecar.get("montage")
        how = "board and montage from session.json"
    if board_id is None:
        board_id, how = infer_board(table)
        warnings.append(how)
    desc = board_description(board_id)
    if desc["num_rows"] != table.shape[0]:
        raise ValueError(
            f"{path}: {table.shape[0]} columns, but board {board_id} writes {desc['num_rows']} rows; "
            "wrong --board, or not a BrainFlow CSV of this board."
        )
    sfreq = float(sidecar.get("sfreq")) if sidecar and sidecar.get("sfreq") else float(desc["sampling_rate"])
    ts = table[desc["timestamp_channel"]]
    rate = _measured_rate(ts)
    if np.isfinite(rate) and table.shape[1] > 2 * sfreq and not 0.5 < rate / sfreq < 2.0:
        raise ValueError(
            f"{path}: the timestamps advance at ~{rate:.1f} samples/s but board {board_id} runs at "
            f"{sfreq:g} Hz: rates disagree (wrong --board, or a file with dropped/duplicated rows)."
        )
    if montage:
        rows = [int(m["row"]) for m in montage]
        names = [str(m["name"]) for m in montage]
        types = [str(m["type"]) for m in montage]
        if max(rows) >= table.shape[0]:
            raise ValueError(f"{path}: session.json montage uses row {max(rows)} but the file has {table.shape[0]} columns.")
    else:
        eeg_rows = list(desc.get("eeg_channels", []))
        if not eeg_rows:
            raise ValueError(f"{path}: board {board_id} has no EEG rows in BrainFlow's descriptor.")
        eeg_names = desc.get("eeg_names")
        names = eeg_names.split(",") if eeg_names else [f"EXG{k + 1}" for k in range(len(eeg_rows))]
        if len(names) != len(eeg_rows):
            names = [f"EXG{k + 1}" for k in range(len(eeg_rows))]
        types = ["eeg"] * len(eeg_rows)
        rows = eeg_rows
        accel = list(desc.get("accel_channels", []) or [])
        rows += accel
        names += [f"accel_{a}" for a in "xyz"[: len(accel)]]
        types += ["accel"] * len(accel)
    data = table[rows]
    start = dt.datetime.fromtimestamp(0, dt.timezone.utc)
    finite = ts[np.isfinite(ts)]
    if sidecar and sidecar.get("start_time"):
        start = dt.datetime.fromisoformat(sidecar["start_time"])
    elif finite.size and finite[0] > 1e8:
        start = dt.datetime.fromtimestamp(float(finite[0]), dt.timezone.utc)
    else:
        warnings.append("no usable UNIX timestamps; start time unknown (1970-01-01 UTC)")
    marker_row = desc.get("marker_channel")
    markers = table[marker_row] if marker_row is not None else None
    annotations = []
    if markers is not None:
        for i in np.flatnonzero(markers):
            annotations.append((i / sfreq, 0.0, f"marker {markers[i]:g}"))
    return Recording(
        data=data, sfreq=sfreq, channel_names=names, channel_types=types, start_time=start,
        annotations=annotations, raw_brainflow=table, board_id=int(board_id), source_path=path,
        markers=markers, info={"format": "brainflow_csv", "warnings": warnings, "board_source": how,
                               "timestamp_rate": rate},
    )
