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

from dreamband.recordings.recording import Recording

#: Boards considered when the board must be inferred (BrainFlow ids).
INFERABLE_BOARDS: dict[int, str] = {
    -1: "synthetic", 0: "cyton", 1: "ganglion", 2: "cyton-daisy", 38: "muse-2", 39: "muse-s",
}


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


def read_table(path: str | Path, sep: str | None = "\t", expect_cols: int | None = None,
               allow_truncated_tail: bool = True) -> tuple[np.ndarray, list[str]]:
    """Read a numeric table with one sample per line into (n_cols, n_rows).

    A final line that is shorter than the others, or lacks its newline and does not parse
    (what a crash leaves), is dropped and reported in the returned warnings. A bad line
    anywhere else is an error.

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

    Returns
    -------
    table : ndarray, shape (n_cols, n_rows), float64
    warnings : list of str

    Raises
    ------
    ValueError
        Empty file, inconsistent column counts, or a non-numeric cell (with the line number).
    """
    path = Path(path)
    raw = path.read_bytes()
    warnings: list[str] = []
    if not raw.strip():
        raise ValueError(f"{path}: the file is empty.")
    text = raw.decode("utf-8", errors="replace")
    lines = text.split("\n")
    complete_last = text.endswith("\n")
    if complete_last:
        lines = lines[:-1]
    # drop trailing blank lines / CR
    while lines and not lines[-1].strip():
        lines.pop()
    if not lines:
        raise ValueError(f"{path}: the file has no data lines.")

    def split(line: str) -> list[str]:
        return line.strip().split(sep) if sep is not None else line.split()

    n_cols = expect_cols or len(split(lines[0]))
    last_cells = split(lines[-1])
    if len(last_cells) != n_cols or not complete_last:
        ok_number = len(last_cells) == n_cols and all(_isfloat(c) for c in last_cells)
        if not ok_number:
            if not allow_truncated_tail:
                raise ValueError(f"{path}: the last line is truncated ({len(last_cells)} of {n_cols} columns).")
            warnings.append(f"the last line was truncated ({len(last_cells)} of {n_cols} columns) and was dropped")
            lines = lines[:-1]
    if not lines:
        raise ValueError(f"{path}: no complete data line.")
    body = "\n".join(lines)
    try:
        flat = np.array(body.replace(sep, " ").split() if sep not in (None, " ") else body.split(), dtype=np.float64)
    except ValueError:
        flat = None
    if flat is None or flat.size != len(lines) * n_cols:
        for k, line in enumerate(lines, start=1):
            cells = split(line)
            if len(cells) != n_cols:
                raise ValueError(f"{path}: line {k} has {len(cells)} columns, expected {n_cols} "
                                 "(file damaged or not written by BrainFlow?).")
            bad = [c for c in cells if not _isfloat(c)]
            if bad:
                raise ValueError(f"{path}: line {k} has a non-numeric cell {bad[0]!r}.")
        raise ValueError(f"{path}: could not parse the table.")  # pragma: no cover
    return flat.reshape(len(lines), n_cols).T.copy(), warnings


def _isfloat(x: str) -> bool:
    try:
        float(x)
        return True
    except ValueError:
        return False


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


def _find_sidecar(path: Path) -> dict | None:
    side = path.parent / "session.json"
    if not side.exists():
        return None
    try:
        info = json.loads(side.read_text(encoding="utf-8"))
    except (OSError, json.JSONDecodeError) as err:
        raise ValueError(f"{side}: the session.json sidecar is unreadable ({err}).") from None
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
    board_id : int, optional
        BrainFlow board id; needed when there is no ``session.json`` beside the file and the
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
    if sidecar is None:
        sidecar = _find_sidecar(path)
    table, warnings = read_table(path, sep="\t")
    how = ""
    montage = None
    if sidecar is not None and sidecar.get("layout", {}).get("kind") == "brainflow":
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
