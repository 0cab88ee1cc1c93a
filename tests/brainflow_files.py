"""BrainFlow files for tests: one writer of BrainFlow-format CSV tables.

Written by BrainFlow's own ``DataFilter.write_file``, so the tests read the
same layout a user's ``--file`` playback or an OpenBCI session would give.
"""

from __future__ import annotations

from pathlib import Path

import numpy as np
from brainflow.board_shim import BoardShim
from brainflow.data_filter import DataFilter


def write_brainflow_csv(path: Path, board: int, seconds: float = 70.0) -> Path:
    """Write a BrainFlow CSV (no ``session.json``) of ``board`` to ``path``.

    Parameters
    ----------
    path : Path
        File to write.
    board : int
        BrainFlow board id whose row layout and sampling rate are used.
    seconds : float
        Length of the table, in seconds of the board's sampling rate.

    Returns
    -------
    Path
        ``path``. EEG rows hold 20 uV Gaussian noise (seed 0), the timestamp
        row counts from 1.7e9 s at the board rate, and the package row (when
        the board has one) counts modulo 256.
    """
    descr = BoardShim.get_board_descr(board)
    rate = descr["sampling_rate"]
    n_samples = int(seconds * rate)
    rng = np.random.default_rng(0)
    table = np.zeros((descr["num_rows"], n_samples))
    for row in descr["eeg_channels"]:
        table[row] = 20.0 * rng.standard_normal(n_samples)
    table[descr["timestamp_channel"]] = 1.7e9 + np.arange(n_samples) / rate
    if "package_num_channel" in descr:
        table[descr["package_num_channel"]] = np.arange(n_samples) % 256
    DataFilter.write_file(table, str(path), "w")
    return path
