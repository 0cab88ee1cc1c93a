"""``dreamband.stage_raw``: stage an ``mne.io.Raw`` the way ``dreamband stage`` stages a file.

The Raw becomes a :class:`~dreamband.recordings.base.Recording` (microvolts, the one MNE
conversion), the staging channel is chosen by the one channel picker
(:func:`~dreamband.firmware_bridge.montage.pick_staging_channels`) unless named, and the night
is staged on the session pipeline's batch path
(:meth:`~dreamband.session.pipeline.SessionPipeline.stage_night`, through
:func:`dreamband.session.cohort.stage_arrays`): the same stages ``dreamband stage`` writes.
"""

from __future__ import annotations

import datetime as dt
from collections.abc import Sequence
from dataclasses import dataclass
from pathlib import Path
from typing import Any

import numpy as np

from dreamband.signal.stages import STAGE_NAMES, UNSTAGED

#: description of each stage in :meth:`StagedRaw.to_annotations` (MNE's sleep-EDF style)
ANNOTATION_NAMES: tuple[str, ...] = ("Sleep stage W", "Sleep stage N1", "Sleep stage N2", "Sleep stage N3",
                                     "Sleep stage R")
#: description of an epoch the stager refused (``BAD_`` so MNE leaves it out of epoching)
UNSTAGED_ANNOTATION = "BAD_unstaged"
#: YASA's labels of our stages
YASA_LABELS: tuple[str, ...] = ("WAKE", "N1", "N2", "N3", "REM")


@dataclass(frozen=True)
class StagedRaw:
    """The staged night of an ``mne.io.Raw``: one row per 30-s epoch.

    Attributes
    ----------
    stages : ndarray of int8, shape (n_epochs,)
        0..4 (W, N1, N2, N3, REM) or -1 (unstaged: bad signal, or not enough of it).
    probabilities : ndarray, shape (n_epochs, 5)
        Stage probabilities (columns :data:`~dreamband.signal.stages.STAGE_NAMES`); NaN where unstaged.
    quality : list of str
        ``"ok"``, or why the epoch was unstaged / its signal was poor.
    quality_ok : ndarray of bool, shape (n_epochs,)
        The signal quality of every EEG/EOG/EMG channel kept was good.
    onsets_s : ndarray, shape (n_epochs,)
        Epoch onsets, seconds from the Raw's first sample.
    epoch_s : float
        Epoch length, seconds.
    channels : tuple of str
        The channel(s) staged from.
    sfreq : float
        The Raw's rate, Hz.
    start_time : datetime
        Time of the first sample (UTC when the Raw has no ``meas_date``: 1970-01-01).
    orig_time : datetime or None
        The Raw's ``meas_date`` (what :meth:`to_annotations` anchors to).
    first_time : float
        The Raw's ``first_time``, seconds from ``orig_time``.
    """

    stages: np.ndarray
    probabilities: np.ndarray
    quality: list[str]
    quality_ok: np.ndarray
    onsets_s: np.ndarray
    epoch_s: float
    channels: tuple[str, ...]
    sfreq: float
    start_time: dt.datetime
    orig_time: dt.datetime | None = None
    first_time: float = 0.0

    def __len__(self) -> int:
        return int(self.stages.shape[0])

    @property
    def stage_names(self) -> list[str]:
        """Per epoch: ``"W"``, ``"N1"``, ``"N2"``, ``"N3"``, ``"REM"`` or ``"unstaged"``."""
        return [STAGE_NAMES[s] if s != UNSTAGED else "unstaged" for s in self.stages.tolist()]

    def to_annotations(self) -> Any:
        """The hypnogram as ``mne.Annotations`` (one per epoch), ready for ``raw.set_annotations``.

        Descriptions are :data:`ANNOTATION_NAMES` (``"Sleep stage W"`` ... ``"Sleep stage R"``)
        and :data:`UNSTAGED_ANNOTATION` for refused epochs; ``orig_time`` is the Raw's ``meas_date``.
        """
        import mne

        desc = [ANNOTATION_NAMES[s] if s != UNSTAGED else UNSTAGED_ANNOTATION for s in self.stages.tolist()]
        shift = self.first_time if self.orig_time is not None else 0.0
        return mne.Annotations(self.onsets_s + shift, np.full(len(self), self.epoch_s), desc,
                               orig_time=self.orig_time)

    def to_yasa(self) -> Any:
        """The hypnogram as a YASA ``Hypnogram`` (5 stages, 30 s, starting at :attr:`start_time`).

        Unstaged epochs are YASA's ``"UNS"``; ``proba`` holds our probabilities (an unstaged
        epoch is ``UNS`` with probability 1). Needs ``yasa`` (the ``test`` and ``bench`` extras).
        """
        try:
            import pandas as pd
            import yasa
        except ImportError as err:
            raise ImportError("to_yasa() needs YASA: pip install yasa") from err
        values = [YASA_LABELS[s] if s != UNSTAGED else "UNS" for s in self.stages.tolist()]
        proba = np.zeros((len(self), len(YASA_LABELS) + 1))
        staged = self.stages != UNSTAGED
        proba[staged, :-1] = self.probabilities[staged]
        proba[staged, :-1] /= proba[staged, :-1].sum(axis=1, keepdims=True)
        proba[~staged, -1] = 1.0
        frame = pd.DataFrame(proba, columns=[*YASA_LABELS, "UNS"])
        start = pd.Timestamp(self.start_time.astimezone(dt.timezone.utc)).tz_localize(None)
        return yasa.Hypnogram(values, n_stages=5, freq=f"{self.epoch_s:g}s", start=start, scorer="dreamband",
                              proba=frame)


def _staging_rows(rec: Any, eeg_name: str | Sequence[str] | None, n_channels: int) -> list[int]:
    from dreamband.firmware_bridge.montage import pick_staging_channels

    if eeg_name is None:
        return pick_staging_channels(rec.channel_names, rec.channel_types, n_channels)
    names = [eeg_name] if isinstance(eeg_name, str) else list(eeg_name)
    if not all(isinstance(n, str) for n in names):
        raise TypeError(f"eeg_name must be a channel name or a list of names, got {eeg_name!r}.")
    if len(names) != n_channels:
        raise ValueError(f"The model stages from {n_channels} channel(s); eeg_name gives {len(names)}: {names}.")
    return [rec.channel_index(n) for n in names]


def stage_raw(raw: Any, eeg_name: str | Sequence[str] | None = None, model: Any = None) -> StagedRaw:
    """Stage an ``mne.io.Raw`` (any reader MNE has) in 30-s epochs.

    Parameters
    ----------
    raw : mne.io.BaseRaw
        EEG in volts (MNE's unit), at least 30 s. Loaded or not.
    eeg_name : str or list of str, optional
        Channel(s) to stage from; default the most frontal EEG channel (Fpz, Fp1, Fp2, AF7, AF8,
        Fz, F3, F4, other F, else the first EEG channel).
    model : str, Path or StagingModel, optional
        Default: the shipped one-channel model.

    Returns
    -------
    StagedRaw
        Stages, probabilities (epoch x stage), quality and onsets; ``to_annotations()`` and
        ``to_yasa()``.

    Raises
    ------
    TypeError
        When ``raw`` is not an MNE Raw.
    ValueError
        When the Raw has no EEG channel, ``eeg_name`` is not one of its channels, or it holds
        less than one epoch.

    Examples
    --------
    >>> import mne, dreamband
    >>> from dreamband.signal.simulate import simulate_night
    >>> night = simulate_night(hypnogram=[0, 2, 2, 3, 4, 4], seed=3)
    >>> info = mne.create_info(night.channel_names, night.sfreq, night.channel_types)
    >>> raw = mne.io.RawArray(night.data * 1e-6, info, verbose="error")
    >>> result = dreamband.stage_raw(raw)
    >>> result.channels, len(result), result.probabilities.shape
    (('Fp1',), 6, (6, 5))
    >>> raw.set_annotations(result.to_annotations())  # doctest: +ELLIPSIS
    <RawArray ...>
    >>> result.to_yasa().hypno.shape
    (6,)
    """
    from dreamband.recordings.base import Recording
    from dreamband.session.cohort import stage_arrays
    from dreamband.signal.model import StagingModel
    from dreamband.signal.stager import SHIPPED_MODELS

    rec = Recording.from_mne(raw)
    if model is None:
        model = StagingModel.load(SHIPPED_MODELS[1])
    elif isinstance(model, (str, Path)):
        model = StagingModel.load(model)
    elif not isinstance(model, StagingModel):
        raise TypeError(f"model must be a path or a StagingModel, got {type(model).__name__}.")
    if "eeg" not in rec.channel_types and eeg_name is None:
        raise ValueError(f"The Raw has no EEG channel (kept channels: {rec.channel_names}); name one with eeg_name.")
    rows = _staging_rows(rec, eeg_name, model.n_channels)
    if rec.n_samples < 30.0 * rec.sfreq:
        raise ValueError(f"The Raw holds {rec.duration_s:.1f} s; staging needs at least one 30-s epoch.")
    names = [rec.channel_names[r] for r in rows]
    res = stage_arrays(rec.data[rows], rec.sfreq, names, model)
    stages = np.asarray(res["stages"], dtype=np.int8)
    meas = raw.info.get("meas_date")
    return StagedRaw(
        stages=stages, probabilities=np.asarray(res["probabilities"], dtype=float).reshape(-1, len(STAGE_NAMES)),
        quality=list(res["quality"]), quality_ok=np.asarray(res["quality_ok"], dtype=bool),
        onsets_s=np.arange(stages.size) * 30.0, epoch_s=30.0, channels=tuple(names), sfreq=rec.sfreq,
        start_time=rec.start_time, orig_time=meas, first_time=float(raw.first_time),
    )
