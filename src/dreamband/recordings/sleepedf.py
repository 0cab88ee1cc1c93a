"""Loaders for the two scored datasets the stager is trained and checked on.

* A folder laid out like ``shared/datasets/sleep-edf`` (``features/SC4xxxE0.npz``,
  ``features_epoch_index.npz``, ``hypnograms_30s.npz``, ``nights.json``): per-epoch features.
* A folder of DREAMS excerpts (``excerptN.txt`` one µV sample per line, ``Hypnogram_excerptN.txt``
  with R&K codes per 5 s).
"""

from __future__ import annotations

import json
import re
from dataclasses import dataclass
from pathlib import Path

import numpy as np

from dreamband.signal.stages import UNSTAGED

#: DREAMS R&K codes -> our codes (5=W, 4=REM, 3=S1, 2=S2, 1=S3, 0=S4, negatives unknown)
DREAMS_CODES: dict[int, int] = {5: 0, 3: 1, 2: 2, 1: 3, 0: 3, 4: 4}
DREAMS_EXCERPT_S: float = 1800.0


@dataclass(frozen=True)
class SleepEdfNight:
    """One night of the Sleep-EDF feature folder.

    Attributes
    ----------
    name : str
        e.g. ``"SC4001E0"``.
    subject : int
    night_no : int
    X : ndarray, shape (n_rows, 72)
        The source's features (volts-based; see the folder's README). Only columns 0-17 are causal.
    y : ndarray of int, shape (n_rows,)
        Expert stage per row (0..4).
    epoch_index : ndarray of int, shape (n_rows,)
        30-s epoch number of each row from the recording start (rows have gaps).
    sleep_period : tuple[int, int]
        ``[start, end)`` epochs of the sleep period ±30 min.
    hypnogram : ndarray of int8, shape (n_epochs,)
        The full hypnogram (-1 unknown/movement).
    """

    name: str
    subject: int
    night_no: int
    X: np.ndarray
    y: np.ndarray
    epoch_index: np.ndarray
    sleep_period: tuple[int, int]
    hypnogram: np.ndarray

    def crop(self) -> tuple[np.ndarray, np.ndarray, np.ndarray]:
        """Rows inside the sleep period ±30 min, in time order.

        Returns
        -------
        epoch_index : ndarray, shape (n,)
            Counted from the crop start (0 = "lights off" of a live session).
        X : ndarray, shape (n, 72)
        y : ndarray, shape (n,)
        """
        start, end = self.sleep_period
        sel = (self.epoch_index >= start) & (self.epoch_index < end)
        order = np.argsort(self.epoch_index[sel], kind="stable")
        return (self.epoch_index[sel][order] - start).astype(np.int64), self.X[sel][order], self.y[sel][order]


def load_sleepedf_features(folder: str | Path) -> list[SleepEdfNight]:
    """Read every night of a Sleep-EDF feature folder.

    Parameters
    ----------
    folder : str or Path
        Holds ``features/``, ``features_epoch_index.npz``, ``hypnograms_30s.npz`` and ``nights.json``.

    Returns
    -------
    list of SleepEdfNight, in ``nights.json`` order.
    """
    folder = Path(folder)
    need = [folder / "features", folder / "features_epoch_index.npz", folder / "hypnograms_30s.npz", folder / "nights.json"]
    for p in need:
        if not p.exists():
            raise FileNotFoundError(
                f"{p} not found: --features/--data must be a folder laid out like shared/datasets/sleep-edf "
                "(features/, features_epoch_index.npz, hypnograms_30s.npz, nights.json)."
            )
    meta = json.loads((folder / "nights.json").read_text())
    nights: list[SleepEdfNight] = []
    with np.load(folder / "features_epoch_index.npz") as idx_z, np.load(folder / "hypnograms_30s.npz") as hyp_z:
        for m in meta:
            name = m["night"]
            fpath = folder / "features" / f"{name}.npz"
            if not fpath.is_file():
                raise FileNotFoundError(f"{fpath} is listed in nights.json but missing.")
            with np.load(fpath, allow_pickle=False) as f:
                X, y = np.asarray(f["X"], dtype=np.float64), np.asarray(f["y"], dtype=np.int64)
            idx = np.asarray(idx_z[name], dtype=np.int64)
            if X.ndim != 2 or X.shape[1] < 18 or len(X) != len(y) or len(idx) != len(y):
                raise ValueError(f"{fpath}: X {X.shape}, y {y.shape}, index {idx.shape} do not fit together.")
            start, end = (int(v) for v in m["sleep_period_pm30min"])
            nights.append(SleepEdfNight(name, int(m["subject"]), int(m["night_no"]), X, y, idx, (start, end),
                                        np.asarray(hyp_z[name], dtype=np.int8)))
    if not nights:
        raise ValueError(f"{folder / 'nights.json'} lists no nights.")
    return nights


@dataclass(frozen=True)
class DreamsExcerpt:
    """One DREAMS excerpt: a single EEG channel and its 30-s hypnogram.

    Attributes
    ----------
    name : str
        e.g. ``"excerpt3"``.
    data_uv : ndarray, shape (n_samples,)
        Microvolts.
    sfreq : float
        Hz (from the sample count over the 30-min excerpt: 50, 100 or 200).
    channel : str
    stages_30s : ndarray of int, shape (60,)
        Majority of each block of six 5-s expert scores, mapped to W..REM codes (-1 unknown).
    agreement_30s : ndarray of bool, shape (60,)
        True where all six 5-s scores of the block agree (False = a transition block).
    """

    name: str
    data_uv: np.ndarray
    sfreq: float
    channel: str
    stages_30s: np.ndarray
    agreement_30s: np.ndarray


def dreams_hypnogram_30s(codes_5s: np.ndarray) -> tuple[np.ndarray, np.ndarray]:
    """Map DREAMS 5-s R&K codes to 30-s stages by the mode of each block of six.

    Returns
    -------
    stages : ndarray of int, shape (n // 6,)
    agreement : ndarray of bool, shape (n // 6,)
    """
    codes = np.asarray(codes_5s, dtype=np.int64)
    mapped = np.array([DREAMS_CODES.get(int(c), UNSTAGED) for c in codes], dtype=np.int64)
    n = len(mapped) // 6
    blocks = mapped[: n * 6].reshape(n, 6)
    stages = np.empty(n, dtype=np.int64)
    agree = np.empty(n, dtype=bool)
    for i, b in enumerate(blocks):
        vals, counts = np.unique(b, return_counts=True)
        stages[i] = vals[np.argmax(counts)]  # ties -> the lower code (np.unique is sorted)
        agree[i] = len(vals) == 1
    return stages, agree


def _read_column(path: Path) -> tuple[str, np.ndarray]:
    with path.open() as fh:
        header = fh.readline().strip()
    data = np.loadtxt(path, skiprows=1, dtype=np.float64, ndmin=1)
    return header.strip("[]"), data


def load_dreams_excerpts(folder: str | Path) -> list[DreamsExcerpt]:
    """Read every ``excerptN.txt`` with its ``Hypnogram_excerptN.txt`` in a DREAMS folder."""
    folder = Path(folder)
    if not folder.is_dir():
        raise FileNotFoundError(f"{folder} is not a folder of DREAMS excerpts (excerptN.txt + Hypnogram_excerptN.txt).")
    files = sorted(folder.glob("excerpt*.txt"), key=lambda p: int(re.sub(r"\D", "", p.stem) or 0))
    out = []
    for f in files:
        hyp = folder / f"Hypnogram_{f.stem}.txt"
        if not hyp.is_file():
            continue
        channel, data = _read_column(f)
        _, codes = _read_column(hyp)
        sfreq = float(round(len(data) / DREAMS_EXCERPT_S))
        stages, agree = dreams_hypnogram_30s(codes)
        out.append(DreamsExcerpt(f.stem, data, sfreq, channel, stages, agree))
    if not out:
        raise FileNotFoundError(f"No excerptN.txt with a Hypnogram_excerptN.txt found in {folder}.")
    return out
