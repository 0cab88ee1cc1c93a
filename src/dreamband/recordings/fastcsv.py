"""Fast text formatting of sample tables for the recorder's CSV files.

Formatting every value with an f-string costs most of a recording's CPU time (an 8-hour night is
tens of millions of values). :func:`format_table` does the same job in a Numba kernel;
:func:`format_table_reference` is the plain-Python reference it is tested against.
"""

from __future__ import annotations

import numpy as np
from numba import njit

#: Values at or above this magnitude are formatted by the reference (int64 fixed point limit).
_MAX_FIXED = 9.0e12


def format_table_reference(table: np.ndarray, decimals: int = 6, sep: str = "\t") -> bytes:
    """Format a table as text, one line per sample, with Python's ``f"{v:.{decimals}f}"``.

    Parameters
    ----------
    table : ndarray, shape (n_columns, n_rows), float64
        Column-major table: row ``i`` of the output holds ``table[:, i]``.
    decimals : int
        Digits after the decimal point.
    sep : str
        Column separator.

    Returns
    -------
    text : bytes
        ASCII lines, each ended by ``"\\n"`` (empty for zero rows).
    """
    table = np.asarray(table, dtype=np.float64)
    if table.ndim != 2:
        raise ValueError(f"table must be 2-D (n_columns, n_rows), got shape {table.shape}.")
    if table.shape[1] == 0:
        return b""
    fmt = f"{{:.{int(decimals)}f}}"
    lines = (sep.join(fmt.format(v) for v in row) for row in table.T.tolist())
    return ("\n".join(lines) + "\n").encode("ascii")


@njit(cache=True)
def _format_kernel(table: np.ndarray, decimals: int, sep: int, out: np.ndarray) -> int:
    """Write ``table`` (n_columns, n_rows) as text into ``out``; return the bytes used."""
    n_cols, n_rows = table.shape
    scale = 10 ** decimals
    digits = np.empty(24, dtype=np.uint8)
    pos = 0
    for i in range(n_rows):
        for c in range(n_cols):
            v = table[c, i]
            if c > 0:
                out[pos] = sep
                pos += 1
            if np.isnan(v):
                out[pos] = 110  # n
                out[pos + 1] = 97  # a
                out[pos + 2] = 110  # n
                pos += 3
                continue
            neg = v < 0.0
            a = -v if neg else v
            fixed = np.int64(np.round(a * scale))
            if neg:  # Python prints "-0.000000" for tiny negatives too
                out[pos] = 45  # '-'
                pos += 1
            int_part = fixed // scale
            frac = fixed - int_part * scale
            nd = 0
            if int_part == 0:
                digits[0] = 48
                nd = 1
            while int_part > 0:
                digits[nd] = 48 + int_part % 10
                int_part //= 10
                nd += 1
            for k in range(nd - 1, -1, -1):
                out[pos] = digits[k]
                pos += 1
            if decimals > 0:
                out[pos] = 46  # '.'
                pos += 1
                for k in range(decimals - 1, -1, -1):
                    digits[k] = 48 + frac % 10
                    frac //= 10
                for k in range(decimals):
                    out[pos] = digits[k]
                    pos += 1
        out[pos] = 10  # newline
        pos += 1
    return pos


def format_table(table: np.ndarray, decimals: int = 6, sep: str = "\t") -> bytes:
    """Format a table as text, one line per sample (fast; same text as the reference).

    Parameters
    ----------
    table : ndarray, shape (n_columns, n_rows), float64
        Column-major table: line ``i`` of the output holds ``table[:, i]``.
    decimals : int
        Digits after the decimal point (0 to 9).
    sep : str
        One-character column separator.

    Returns
    -------
    text : bytes
        ASCII lines, each ended by ``"\\n"``. Values are rounded to ``decimals`` digits, so the
        text may differ from Python's correctly rounded output in the last digit (by at most one
        unit there); tables holding infinities or magnitudes >= 9e12 are formatted by
        :func:`format_table_reference`.
    """
    table = np.ascontiguousarray(table, dtype=np.float64)
    if table.ndim != 2:
        raise ValueError(f"table must be 2-D (n_columns, n_rows), got shape {table.shape}.")
    if not 0 <= int(decimals) <= 9:
        raise ValueError(f"decimals must be between 0 and 9, got {decimals}.")
    if len(sep) != 1 or not sep.isascii():
        raise ValueError(f"sep must be one ASCII character, got {sep!r}.")
    if table.shape[1] == 0:
        return b""
    finite = table[~np.isnan(table)]
    if finite.size and not (np.all(np.isfinite(finite)) and np.abs(finite).max() < _MAX_FIXED):
        return format_table_reference(table, decimals, sep)
    width = 14 + int(decimals) + 2  # sign, 13 integer digits, '.', decimals, separator
    out = np.empty(table.size * width + table.shape[1], dtype=np.uint8)
    used = _format_kernel(table, int(decimals), ord(sep), out)
    return out[:used].tobytes()


def warmup() -> None:
    """Compile the kernel (call at session start, so the first chunk does not stall)."""
    format_table(np.zeros((2, 2)))
