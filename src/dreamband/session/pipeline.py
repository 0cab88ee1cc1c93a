"""The session pipeline: one object from samples to events, with no threads and no I/O.

``chunk in -> events out``. :class:`SessionPipeline` holds everything a night computes:
the conditioning hook, the 30-s epochs, signal quality, the stager, the arousal detector, the
night's state and the trigger policies. The threaded :class:`~dreamband.session.engine.SessionEngine`
(live and ``replay``), ``dreamband stage`` (:func:`dreamband.session.offline.stage_signal` and
``stage_signal_batch``) all drive this one object, so a fix to conditioning, staging or
triggers is made once.

Three entry points share one definition of each step:

- :meth:`SessionPipeline.process`: a :class:`~dreamband.firmware_bridge.chunk.StreamChunk` in,
  the session events it caused out (samples, quality changes, staged epochs, states, arousal
  readings routed to the policies, triggers). What the engine calls per chunk.
- :meth:`SessionPipeline.stage_stream`: samples in, :class:`StagedEpoch` out (only the staging
  part of :meth:`process`: epochs, quality, stager), for offline staging chunk by chunk.
- :meth:`SessionPipeline.stage_all`: a whole recording at once, the same epochs and stages
  computed by the vectorised batch kernels (tested identical to :meth:`stage_stream`).

Causal: what the pipeline says about minute N depends only on the samples up to minute N; the
first N minutes alone give exactly the first N minutes of the whole (tested).

Seams left for the next steps of the project:

- ``conditioner``: an object with ``process(data) -> data`` (carried state, one block equals
  many chunks) applied to the EEG/EOG/EMG rows before epoching. Default:
  :class:`~dreamband.signal.conditioning.SignalConditioner` (causal 0.3-Hz high-pass started in
  its steady state, mains notch ``line_hz``); the epochs' staging rows then go through one
  streaming resampler over the continuous signal (:class:`~dreamband.signal.epochs.EpochBuffer`).
  Quality is judged on the conditioned epoch, railing/flat/clipping on the raw one.
- :meth:`SessionPipeline.staging_positions` chooses the staging channels of each epoch from its
  quality: with ``failover`` (the engine's), a staging channel that is lost, flat, railed or off
  the head is replaced by the best remaining good frontal channel (a warning says so).
- per-epoch arousal baselines: :meth:`SessionPipeline._epoch_events` feeds the detector's
  baseline from usable REM epochs.
- ``actions``: the port through which triggers act (``start``, ``stop``, ``on_epoch``,
  ``on_tick``; the engine's :class:`~dreamband.session.actions.ActionManager`). The pipeline
  only decides; the actions port does the output. None: triggers are only reported.

This module is over 500 lines on purpose: it is the one definition of the night's computation,
and its three entry points (``process``, ``stage_stream``, ``stage_all``/``stage_night``) sit
beside the steps they share (conditioning, epochs, quality, failover, staging) so that a change
to one step is seen against all three; split, the paths would drift apart again.
"""

from __future__ import annotations

import datetime as dt
from dataclasses import dataclass
from typing import Any, Protocol

import numpy as np

from dreamband.firmware_bridge.chunk import StreamChunk, StreamEvent
from dreamband.firmware_bridge.clock import DriftTracker
from dreamband.firmware_bridge.montage import frontal_rank, pick_staging_channels
from dreamband.session.events import (
    EpochStaged,
    Event,
    LogMessage,
    QualityChanged,
    SamplesArrived,
    StateChanged,
    TriggerFired,
    stream_event,
)
from dreamband.session.settings import SessionSettings
from dreamband.session.state import NightState
from dreamband.session.triggers import Policy, StopRequest, build_policies, usable
from dreamband.signal.conditioning import SignalConditioner, StreamingResampler
from dreamband.signal.context import context_features
from dreamband.signal.detectors import ArousalDetector, ArousalReading
from dreamband.signal.epochs import Epoch, EpochBuffer, all_finite, staging_feed
from dreamband.signal.features import BASE_FEATURE_NAMES, base_features_many
from dreamband.signal.filters import StreamingSosFilter
from dreamband.signal.quality import EpochQuality, assess_epoch, assess_epochs
from dreamband.signal.stager import (
    Stager,
    StageResult,
    movement_gate_night,
    movement_reason,
    screen_epochs,
    staging_finite_ptp,
)
from dreamband.signal.stages import N_STAGES, REM, UNSTAGED

#: epoch rows (epochs x channels) resampled, assessed and featurised together in the batch path
BATCH_EPOCH_ROWS = 32
#: a staging channel in one of these states is replaced by a good frontal spare (failover)
FAILOVER_STATUSES: frozenset[str] = frozenset({"lost", "flat", "railed", "off-head"})


#: the arousal detector needs the 0.5-45 Hz band: only for boards at >= this rate
DETECTOR_MIN_SFREQ = 90.0
#: staging needs the 30-50 Hz band the model was trained with (Sleep-EDF at 100 Hz): below this, refused
MIN_STAGING_SFREQ = 100.0


def _night_rows(data: Any, rows: list[int] | None, start: int, stop: int) -> np.ndarray:
    """Samples ``start:stop`` of ``rows`` (None: every row) of a night given to ``stage_night``:
    an array, or a reader whose ``block(start, stop)`` decodes them from the file now."""
    if isinstance(data, np.ndarray):
        return data[:, start:stop] if rows is None else data[rows, start:stop]
    block = np.asarray(data.block(start, stop), dtype=np.float64)
    return block if rows is None else block[rows]


def low_rate_refusal(sfreq: float) -> str | None:
    """Why a signal at ``sfreq`` Hz cannot be staged (None when it can): the rate and what to do."""
    if sfreq >= MIN_STAGING_SFREQ:
        return None
    return (f"The signal is sampled at {sfreq:g} Hz, below the {MIN_STAGING_SFREQ:g} Hz staging needs: the model "
            f"reads the 30-50 Hz band, and a {sfreq:g}-Hz signal holds nothing above {sfreq / 2:g} Hz, so its "
            f"stages would be made up. Record at {MIN_STAGING_SFREQ:g} Hz or more (every supported board does: "
            "Cyton 250, Cyton+Daisy 125, Ganglion 200, Muse 256 Hz); a file stored below that rate cannot be "
            "staged by dreamband.")


def check_staging_rate(sfreq: float) -> None:
    """Raise the :func:`low_rate_refusal` as a ValueError (offline staging refuses the whole file)."""
    why = low_rate_refusal(float(sfreq))
    if why is not None:
        raise ValueError(why)


class Conditioner(Protocol):
    """Continuous signal conditioning with carried state (high-pass, notch, resampler ...)."""

    def process(self, data: np.ndarray) -> np.ndarray:
        """Condition the next samples, shape (n_channels, n_samples); same shape out."""


@dataclass(frozen=True)
class StagedEpoch:
    """One staged epoch: the epoch, the quality of all its channels and the stager's answer."""

    epoch: Epoch
    quality: EpochQuality
    result: StageResult


@dataclass(frozen=True)
class StagedNight:
    """A whole recording staged by the batch path, as arrays (one row per 30-s epoch).

    Attributes
    ----------
    sfreq : float
        Native rate, Hz.
    onsets_s : ndarray, shape (n_epochs,)
        Epoch onsets, seconds from the first sample.
    stages : ndarray of int8, shape (n_epochs,)
        0..4 (W, N1, N2, N3, REM) or -1 (UNSTAGED).
    probabilities, raw_probabilities : ndarray, shape (n_epochs, 5)
        After / before the HMM forward pass; NaN where unstaged.
    confidence : ndarray, shape (n_epochs,)
        Max of ``probabilities`` (0 where unstaged).
    features : ndarray, shape (n_epochs, n_staging_channels, 9)
        Base features (NaN where the epoch was not finite).
    finite : ndarray of bool, shape (n_epochs,)
    quality_ok : ndarray of bool, shape (n_epochs,)
        The staging channels' quality allowed staging.
    reasons : list of tuple of str
        Why each epoch is unstaged (empty for staged epochs).
    qualities : list of EpochQuality
        Quality of every EEG/EOG/EMG channel per epoch.
    native : ndarray, shape (n_epochs, n_channels, n_native), or None
        The conditioned epochs at the native rate, µV (for :meth:`staged_epochs`); None when
        :meth:`SessionPipeline.stage_night` was told not to keep them.
    staging : ndarray, shape (n_epochs, n_staging_channels, 3000)
        The staging channels at 100 Hz, volts.
    """

    sfreq: float
    onsets_s: np.ndarray
    stages: np.ndarray
    probabilities: np.ndarray
    raw_probabilities: np.ndarray
    confidence: np.ndarray
    features: np.ndarray
    finite: np.ndarray
    quality_ok: np.ndarray
    reasons: list[tuple[str, ...]]
    qualities: list[EpochQuality]
    native: np.ndarray | None
    staging: np.ndarray

    @property
    def n_epochs(self) -> int:
        """Number of epochs."""
        return int(self.stages.shape[0])

    def quality_text(self) -> list[str]:
        """Per epoch: ``"ok"`` when staged with good quality, else the reasons (the hypnogram's column)."""
        return ["ok" if s != UNSTAGED and self.qualities[e].ok else "; ".join(self.reasons[e]) or "unstaged"
                for e, s in enumerate(self.stages.tolist())]

    def staged_epochs(self, channels: list[str]) -> list[StagedEpoch]:
        """The same night as one :class:`StagedEpoch` per epoch (what :meth:`SessionPipeline.stage_stream` gives).

        Parameters
        ----------
        channels : list of str
            The model's channel names (the feature keys ``"{channel}_{feature}"``).
        """
        if self.native is None:
            raise ValueError("This night was staged with keep_epochs=False; stage it again to get its epochs.")
        keys = [f"{ch}_{n}" for ch in channels for n in BASE_FEATURE_NAMES]
        out: list[StagedEpoch] = []
        for e in range(self.n_epochs):
            ep = Epoch(e, float(self.onsets_s[e]), self.native[e], self.staging[e], self.sfreq)
            feats = dict(zip(keys, self.features[e].ravel().tolist(), strict=True)) if self.finite[e] else {}
            st = int(self.stages[e])
            if st != UNSTAGED:
                p = self.probabilities[e]
                res = StageResult(st, p, float(p[st]), feats, True, (), e)
            else:
                res = StageResult(UNSTAGED, np.full(N_STAGES, np.nan), 0.0, feats, bool(self.quality_ok[e]),
                                  self.reasons[e], e)
            out.append(StagedEpoch(ep, self.qualities[e], res))
        return out


class SessionPipeline:
    """From samples to events: conditioning, epochs, quality, staging, night state, triggers.

    Parameters
    ----------
    sfreq : float
        Sampling rate of the samples pushed, Hz.
    channel_names, channel_types : list of str
        One per row of the samples pushed (types ``eeg``, ``eog``, ``emg``, ``accel``, ``misc``).
    settings : SessionSettings, optional
        Epoch length, night-state definitions, triggers.
    stager : Stager, optional
        Default: the shipped model for one channel (or ``settings.model_path``).
    staging_rows : list of int, optional
        Rows (of the samples pushed) the stager sees, in model channel order. Default: the
        montage's choice (``preferred_staging``), completed by
        :func:`~dreamband.firmware_bridge.montage.pick_staging_channels`.
    preferred_staging : sequence of int, optional
        Rows asked for by the montage (``Montage.staging_channels``), tried first.
    start_datetime : datetime, optional
        Wall-clock time of the first sample (the night's clock); default now.
    triggers : bool
        Build the trigger policies (False: staging and night state only, as ``dreamband stage``).
    actions : object, optional
        The actions port (see the module docstring).
    conditioner : Conditioner, optional
        Applied to the EEG/EOG/EMG rows before epoching (default: a
        :class:`~dreamband.signal.conditioning.SignalConditioner` when ``condition``).
    condition : bool
        Condition the signal (False: the samples as they came, e.g. already filtered data).
    line_hz : "settings", "auto", 50, 60 or None
        Mains notch of the default conditioner: ``"settings"`` (default) takes
        ``settings.line_hz`` (50, 60 or both); ``"auto"``: 50 and 60 Hz; None: no notch.
    arousals : bool
        Run the arousal detector (when the rate allows it).
    failover : bool
        Staging-channel failover (:meth:`staging_positions`; the engine turns it on). Off, the
        staging channels stay fixed, as the batch path (:meth:`stage_night`) stages them.

    Attributes
    ----------
    night : NightState
    epochs : list of EpochStaged
    triggers : list of TriggerFired
    policies : dict[str, Policy]
    staging_rows : list of int
    """

    def __init__(self, sfreq: float, channel_names: list[str], channel_types: list[str],
                 settings: SessionSettings | None = None, *, stager: Stager | None = None,
                 staging_rows: list[int] | None = None, preferred_staging: Any = None,
                 start_datetime: dt.datetime | None = None, triggers: bool = True, actions: Any = None,
                 conditioner: Conditioner | None = None, arousals: bool = True, condition: bool = True,
                 line_hz: float | str | None = "settings", failover: bool = False) -> None:
        self.sfreq = float(sfreq)
        if not np.isfinite(self.sfreq) or self.sfreq <= 0:
            raise ValueError(f"sfreq must be a positive number of Hz, got {sfreq!r}.")
        #: why nothing is staged at this rate (None: the rate is fine); a live or replayed session
        #: still runs (samples, recording, display) with every epoch unstaged for this reason
        self.rate_refusal: str | None = low_rate_refusal(self.sfreq)
        self.channel_names = [str(n) for n in channel_names]
        self.channel_types = [str(t) for t in channel_types]
        if len(self.channel_names) != len(self.channel_types):
            raise ValueError(f"{len(self.channel_names)} channel names but {len(self.channel_types)} types.")
        self.settings = settings or SessionSettings()
        types = self.channel_types
        self._eeg_rows = [i for i, t in enumerate(types) if t == "eeg"]
        if not self._eeg_rows:
            raise ValueError(f"The source has no EEG channel (channels: {self.channel_names}); "
                             "choose the headband's EEG rows with --eeg.")
        self._exg_rows = [i for i, t in enumerate(types) if t in ("eeg", "eog", "emg")]
        self._exg_names = [self.channel_names[i] for i in self._exg_rows]
        self._eeg_names = [self.channel_names[i] for i in self._eeg_rows]
        self.stager = stager or Stager.for_model(self.settings.model_path)
        if staging_rows is None:
            staging_rows = pick_staging_channels(self.channel_names, types, self.stager.n_channels,
                                                 preferred=preferred_staging)
        self.staging_rows = [int(r) for r in staging_rows]
        if len(self.staging_rows) != self.stager.n_channels or any(types[r] != "eeg" for r in self.staging_rows):
            raise ValueError(f"The stager needs {self.stager.n_channels} EEG channel(s); got rows "
                             f"{self.staging_rows} of {self.channel_names} ({types}).")
        self._staging_pos = [self._exg_rows.index(r) for r in self.staging_rows]
        self._all_staging = self._staging_pos == list(range(len(self._exg_rows)))
        self.epoch_s = float(self.settings.epoch_s)
        # failover: the staging rows, then the other frontal EEG rows, best first (frontal_rank)
        spare = sorted((frontal_rank(self.channel_names[r]), r) for r in self._eeg_rows
                       if r not in self.staging_rows and frontal_rank(self.channel_names[r]) is not None)
        spare_rows = [r for _, r in spare]
        self.failover = bool(failover)
        self.failover_rows: list[int] = self.staging_rows + (spare_rows if self.failover else [])
        self._cand_pos = [self._exg_rows.index(r) for r in self.failover_rows]
        self._pending_logs: list[Event] = []
        # only the staging rows and their failover rows are resampled to 100 Hz (staging_v holds
        # them, staging rows first)
        self._epochs_buf = EpochBuffer(self.sfreq, len(self._exg_rows), epoch_s=self.epoch_s,
                                       staging_rows=self._cand_pos)
        if conditioner is None and condition:
            notch = self.settings.notch if line_hz == "settings" else line_hz
            conditioner = SignalConditioner(self.sfreq, len(self._exg_rows), line_hz=notch)
        self.conditioner = conditioner
        emg = [i for i, t in enumerate(types) if t == "emg"]
        self._accel_rows = [i for i, t in enumerate(types) if t == "accel"]
        self._det_rows = sorted(set(self._eeg_rows + emg))
        self._det_filter: StreamingSosFilter | None = None
        self.detector: ArousalDetector | None = None
        if arousals and self.sfreq >= DETECTOR_MIN_SFREQ:
            det = self._det_rows
            self._det_filter = StreamingSosFilter.highpass(0.5, self.sfreq, len(det))
            self.detector = ArousalDetector(self.sfreq, eeg_rows=[det.index(r) for r in self.staging_rows],
                                            emg_rows=[det.index(r) for r in emg],
                                            accel_rows=list(range(len(det), len(det) + len(self._accel_rows))))
        self.night = NightState(start_datetime or dt.datetime.now().astimezone(), self.epoch_s,
                                self.settings.persistent_sleep_min, self.settings.rem_interruption_epochs)
        self.policies: dict[str, Policy] = build_policies(self.settings.triggers) if triggers else {}
        self.actions = actions
        self.epochs: list[EpochStaged] = []
        self.triggers: list[TriggerFired] = []
        self._quality: dict[str, str] = {}
        self._lost_names = [self.channel_names[r] for r in self.staging_rows + spare_rows]
        self._epoch_end = 0.0
        self.drift = DriftTracker(self.sfreq)
        self._n = 0
        self._batch_done = False

    # ------------------------------------------------------------------ clocks
    @property
    def n_samples(self) -> int:
        """Samples taken so far (per channel)."""
        return self._n

    @property
    def time(self) -> float:
        """Session time of the latest sample, seconds (samples / sfreq: the data's own clock)."""
        return self._n / self.sfreq

    # ------------------------------------------------------------------ staging (one definition)
    def staging_positions(self, quality: EpochQuality) -> list[int]:
        """Positions (among the EEG/EOG/EMG rows) of the channels this epoch is staged from.

        Staging-channel failover: a staging channel whose status is one of
        :data:`FAILOVER_STATUSES` (lost, flat, railed, off the head) is replaced by the best
        remaining frontal EEG channel whose status is ``good`` (:attr:`failover_rows` order);
        the pipeline then stays on it (no flapping back) and says so with a warning
        :class:`LogMessage`. Without a good spare the channel stays (and the epoch is refused).
        """
        pos = list(self._staging_pos)
        names = self._exg_names
        for slot, p in enumerate(pos):
            bad = quality.status.get(names[p], "good")
            if bad not in FAILOVER_STATUSES:
                continue
            spare = next((c for c in self._cand_pos if c not in pos
                          and quality.status.get(names[c], "good") == "good"), None)
            if spare is None:
                continue
            pos[slot] = spare
            self._pending_logs.append(LogMessage(
                self._epoch_end, "warning",
                f"Staging channel {names[p]} is {bad}; staging from {names[spare]} now (the best remaining "
                "frontal channel)."))
        if pos != self._staging_pos:
            self._staging_pos = pos
            self.staging_rows = [self._exg_rows[p] for p in pos]
            self._all_staging = False
        return self._staging_pos

    def _condition(self, exg: np.ndarray) -> np.ndarray:
        return exg if self.conditioner is None else self.conditioner.process(exg)

    def _stage_epoch(self, ep: Epoch) -> StagedEpoch:
        q = assess_epoch(ep.data_uv, self.sfreq, self._exg_names, raw_uv=ep.raw_uv)
        self._epoch_end = (ep.index + 1) * self.epoch_s
        if self.rate_refusal is not None:
            res = StageResult(UNSTAGED, np.full(N_STAGES, np.nan), 0.0, {}, q.ok, (self.rate_refusal,), ep.index)
            return StagedEpoch(ep, q, res)
        pos = self.staging_positions(q)
        sq = q if self._all_staging and pos is self._staging_pos else q.subset(pos, self._exg_names)
        rows = ep.staging_v if pos == self._cand_pos else ep.staging_v[[self._cand_pos.index(p) for p in pos]]
        return StagedEpoch(ep, q, self.stager.stage(rows, sq, epoch_index=ep.index))

    def stage_stream(self, data: np.ndarray) -> list[StagedEpoch]:
        """Take the next samples (all rows, shape (n_channels, n)); stage the epochs they complete.

        Only the staging part of :meth:`process` (no events, no night state, no triggers).
        """
        data = self._check_data(data)
        self._n += data.shape[1]
        raw = data[self._exg_rows]
        cond = self._condition(raw)
        return [self._stage_epoch(ep) for ep in self._epochs_buf.push(cond, None if cond is raw else raw)]

    def stage_all(self, data: np.ndarray) -> list[StagedEpoch]:
        """Stage a whole recording at once (vectorised kernels); the same as :meth:`stage_stream`.

        :meth:`stage_night`'s arrays wrapped as one :class:`StagedEpoch` per epoch (for callers
        that want the streaming path's objects). Only on a fresh pipeline; a rate without a whole
        number of samples per epoch falls back to :meth:`stage_stream`.
        """
        if self._n or self._batch_done:
            raise RuntimeError("stage_all() stages a whole recording on a fresh pipeline; create a new one.")
        data = self._check_data(data)
        check_staging_rate(self.sfreq)
        if not self._batchable():
            return self.stage_stream(data)
        return self.stage_night(data).staged_epochs(self.stager.model.channels)

    def _batchable(self) -> bool:
        spe = self.epoch_s * self.sfreq
        return abs(spe - round(spe)) <= 1e-9 and self.epoch_s == 30.0

    def stage_night(self, data: np.ndarray, keep_epochs: bool = True) -> StagedNight:
        """Stage a whole recording at once and return arrays (the batch path: no per-epoch objects).

        Every step is the streaming one applied to blocks of epochs: the conditioner and the
        streaming resampler carry their state from block to block (a block equals many chunks),
        quality and screening of a block at once, the Numba features of all epochs, the same causal context over the stageable
        epochs, one tree call (the batch kernel: same sums), the same HMM forward pass; tested
        equal to :meth:`stage_stream`. Only on a fresh pipeline.

        Parameters
        ----------
        data : ndarray, shape (n_channels, n_samples), or a block reader
            All rows of the source, as pushed to :meth:`stage_stream`; or an object with
            ``shape`` and ``block(start, stop)`` (e.g.
            :class:`~dreamband.recordings.edf_recording.EdfRecording`): a few epochs are
            decoded at a time and the night is never in memory.
        keep_epochs : bool
            Keep the conditioned native-rate epochs (:attr:`StagedNight.native`, for
            :meth:`StagedNight.staged_epochs`). False: a night costs no copy of the recording
            (``dreamband stage``).

        Returns
        -------
        StagedNight

        Raises
        ------
        RuntimeError
            On a pipeline that has already taken samples.
        ValueError
            When the rate has no whole number of samples per 30-s epoch (use :meth:`stage_all`).
        """
        if self._n or self._batch_done:
            raise RuntimeError("stage_night() stages a whole recording on a fresh pipeline; create a new one.")
        if isinstance(data, np.ndarray) or not callable(getattr(data, "block", None)):
            data = self._check_data(data)
        elif len(data.shape) != 2 or data.shape[0] != len(self.channel_names):  # read a block at a time
            raise ValueError(f"Samples must have shape ({len(self.channel_names)}, n_samples), got {data.shape}.")
        check_staging_rate(self.sfreq)
        if not self._batchable():
            raise ValueError(f"{self.sfreq:g} Hz has no whole number of samples per {self.epoch_s:g}-s epoch; "
                             "use stage_all(), which streams such rates.")
        self._batch_done = True
        spe = int(round(self.epoch_s * self.sfreq))
        self._n = data.shape[1]
        return self._stage_batch(data, spe, data.shape[1] // spe, keep_epochs)

    def _stage_batch(self, data: np.ndarray, spe: int, n_ep: int, keep_epochs: bool = True) -> StagedNight:
        model, stager = self.stager.model, self.stager
        rows_exg, pos = self._exg_rows, self._staging_pos
        n_exg, n_st = len(rows_exg), len(pos)
        every_row = rows_exg == list(range(data.shape[0]))
        n_stage = int(round(self.epoch_s * 100.0))
        native = np.empty((n_ep, n_exg, spe)) if keep_epochs else None
        # the staging rows at 100 Hz, as one stream: the resampler carries its history from block
        # to block (one block equals many chunks), so this is staging_stream() a block at a time
        resampler = StreamingResampler(self.sfreq, 100.0, n_st)
        stream = np.empty((n_st, n_ep * n_stage))
        dead = np.zeros((n_ep, n_st), dtype=bool)
        n_out = 0
        qualities: list[EpochQuality] = []
        step = max(1, BATCH_EPOCH_ROWS // n_exg)
        for c0 in range(0, n_ep, step):  # a few epochs at a time: each pass finds them in the cache
            c1 = min(c0 + step, n_ep)
            raw = _night_rows(data, None if every_row else rows_exg, c0 * spe, c1 * spe)
            cond = self._condition(raw)  # the conditioner's state carries from block to block
            nat = cond.reshape(n_exg, c1 - c0, spe).transpose(1, 0, 2)
            if native is not None:
                native[c0:c1] = nat
            raw_ep = None if cond is raw else raw.reshape(n_exg, c1 - c0, spe).transpose(1, 0, 2)
            qualities += assess_epochs(nat, self.sfreq, self._exg_names, raw_uv=raw_ep)
            rows = cond if self._all_staging else cond[pos]
            if all_finite(rows):  # nothing lost: every epoch feeds itself (staging_feed is a no-op)
                feed = rows
            else:
                feed = np.empty((n_st, (c1 - c0) * spe))
                for e in range(c1 - c0):  # the same per-epoch fill as the streaming path
                    seg = rows[:, e * spe : (e + 1) * spe]
                    feed[:, e * spe : (e + 1) * spe] = staging_feed(seg)
                    dead[c0 + e] = ~np.isfinite(seg).any(axis=1)
            y = resampler.push(feed)
            take = min(y.shape[1], stream.shape[1] - n_out)
            stream[:, n_out : n_out + take] = y[:, :take]
            n_out += take
        if n_out < stream.shape[1]:  # the last outputs come out with the epoch that ends the night
            raise RuntimeError(f"The resampler gave {n_out} of {stream.shape[1]} staging samples.")
        stream *= 1e-6
        staging = stream.reshape(n_st, n_ep, n_stage).transpose(1, 0, 2)
        staging = staging if n_st == 1 else np.ascontiguousarray(staging)
        if dead.any():
            staging[dead] = np.nan
        base = np.full((n_ep, n_st, len(BASE_FEATURE_NAMES)), np.nan)
        finite, ptp = staging_finite_ptp(staging)  # one pass: finite epochs and their peak-to-peak (µV)
        for c0 in range(0, n_ep, step):
            c1 = min(c0 + step, n_ep)
            fin = finite[c0:c1]
            if fin.any():
                base[c0:c1][fin] = base_features_many(staging[c0:c1][fin])
        sub = qualities if self._all_staging else [q.subset(pos, self._exg_names) for q in qualities]
        screened = screen_epochs(staging, sub, model.channels, finite)
        # the stager's burst test (MovementGate), in time order over the screened epochs
        cand = np.fromiter((not r for r, _ in screened), dtype=bool, count=n_ep)
        burst, ref = movement_gate_night(ptp, cand)
        for e in np.flatnonzero(burst).tolist():
            screened[e] = ([movement_reason(float(ptp[e].max()), float(ref[e]))], screened[e][1])
        ok = np.fromiter((not r for r, _ in screened), dtype=bool, count=n_ep)
        idx = np.flatnonzero(ok)
        proba = np.full((n_ep, N_STAGES), np.nan)
        raw = np.full((n_ep, N_STAGES), np.nan)
        if idx.size:
            rows = context_features(idx, base[idx].reshape(idx.size, -1), n_st, model.prior_mean, model.prior_var,
                                    model.scale_free, model.amplitude_reference)
            raw[idx] = model.predict_proba(rows)
            proba[idx] = stager.post.night(raw[idx], np.diff(idx, prepend=idx[0] - 1))  # the live stager's steps
        stages = np.full(n_ep, UNSTAGED, dtype=np.int8)
        confidence = np.zeros(n_ep)
        if idx.size:
            stages[idx] = np.argmax(proba[idx], axis=1)
            confidence[idx] = proba[idx, stages[idx]]
        return StagedNight(
            sfreq=self.sfreq, onsets_s=np.arange(n_ep) * (spe / self.sfreq), stages=stages, probabilities=proba,
            raw_probabilities=raw, confidence=confidence, features=base, finite=finite,
            quality_ok=np.fromiter((q_ok for _, q_ok in screened), dtype=bool, count=n_ep),
            reasons=[tuple(r) for r, _ in screened], qualities=qualities, native=native, staging=staging)

    def _check_data(self, data: np.ndarray) -> np.ndarray:
        data = np.asarray(data, dtype=np.float64)
        if data.ndim != 2 or data.shape[0] != len(self.channel_names):
            raise ValueError(f"Samples must have shape ({len(self.channel_names)}, n_samples), got {data.shape}.")
        if self._batch_done:
            raise RuntimeError("This pipeline staged a whole recording (stage_all); create a new one.")
        return data

    # ------------------------------------------------------------------ events
    def process(self, chunk: StreamChunk) -> list[Event]:
        """Take one chunk; return the events it caused, in time order (independent of chunking)."""
        n = chunk.n_samples
        if n == 0:
            return []
        staged = self.stage_stream(chunk.data)
        if chunk.timestamps is not None and len(chunk.timestamps) == n:
            self.drift.update(int(chunk.first_sample), chunk.timestamps)  # the board's real rate
            self.night.wall_per_data = self.drift.wall_per_data
        t = self.time
        events: list[Event] = [SamplesArrived(t, chunk)]
        self.night.note_samples(t)
        readings = self._arousal_readings(chunk.data)
        # interleave arousal readings and epochs in time order
        ri = 0
        for s in staged:
            end = s.epoch.onset_s + self.epoch_s
            while ri < len(readings) and readings[ri].time <= end + 1e-9:
                events += self._on_reading(readings[ri])
                ri += 1
            events += self._epoch_events(s)
        for r in readings[ri:]:
            events += self._on_reading(r)
        return events

    def _arousal_readings(self, data: np.ndarray) -> list[ArousalReading]:
        if self.detector is None:
            return []
        det = data[self._det_rows]
        if self._det_filter is not None:
            det = self._det_filter.process(det)
        if self._accel_rows:
            det = np.vstack([det, data[self._accel_rows]])
        return self.detector.process(det, rate=False)  # rated in time order (_on_reading)

    def _on_reading(self, reading: ArousalReading) -> list[Event]:
        # the baseline of the epochs that ended before this window, however the data was chunked
        reading = self.detector.rated(reading) if self.detector is not None else reading
        out: list[Event] = []
        for p in self.policies.values():
            if p.enabled:
                out += self.route(p.on_arousal(reading, self.night))
        return out

    def _epoch_events(self, staged: StagedEpoch) -> list[Event]:
        ep, q, res = staged.epoch, staged.quality, staged.result
        events: list[Event] = []
        t = ep.onset_s + self.epoch_s
        for name, status in q.status.items():
            if self._quality.get(name, "good") != status:
                reason = next((r for r in q.reasons if r.startswith(f"{name}:")), "")
                events.append(QualityChanged(t, name, status, reason))
            self._quality[name] = status
            if name in self._lost_names:
                # signal lost follows the channels that can stage (the staging ones and their
                # frontal spares), not every EEG channel
                self.night.update_quality(name, status, t, self._lost_names)
        ev = EpochStaged(
            time=t, epoch_index=int(ep.index), onset=float(ep.onset_s), stage=int(res.stage),
            probabilities=tuple(float(p) for p in res.probabilities), confidence=float(res.confidence),
            quality_ok=bool(res.quality_ok and res.stage != UNSTAGED), quality_reasons=tuple(res.reasons),
            features={k: float(v) for k, v in res.features.items()},
        )
        events += self._pending_logs
        self._pending_logs = []
        self.epochs.append(ev)
        self.night.update(ev)
        events += [ev, StateChanged(t, self.night.plain, self.night.snapshot())]
        if self.actions is not None:
            events += self.actions.on_epoch(ev)
        for p in self.policies.values():
            if p.enabled:
                events += self.route(p.on_epoch(ev, self.night))
        if self.detector is not None and ev.stage == REM and usable(ev):
            self.detector.add_baseline(ev.onset, t)
        return events

    def stream_events(self, stream_events: list[StreamEvent], time: float | None = None) -> list[Event]:
        """The source's own events (gap, reconnect, end ...) as session events, then the new state."""
        if not stream_events:
            return []
        t = self.time if time is None else float(time)
        events: list[Event] = []
        for se in stream_events:
            self.night.update_stream(se.kind, t)
            events.append(stream_event(t, se.kind, se.message, dict(se.details)))
        events.append(StateChanged(t, self.night.plain, self.night.snapshot()))
        return events

    def tick(self, time: float) -> list[Event]:
        """Data time passed (after every chunk, also an empty one): the policies' and actions' clocks."""
        events: list[Event] = []
        for p in self.policies.values():
            if p.enabled:
                events += self.route(p.on_tick(time, self.night))
        if self.actions is not None:
            events += self.actions.on_tick(time)
        return events

    def route(self, outs: list[Any]) -> list[Event]:
        """The policies' outputs as events; triggers are kept and handed to the actions port."""
        events: list[Event] = []
        for o in outs:
            if isinstance(o, TriggerFired):
                self.triggers.append(o)
                events.append(o)
                if self.actions is not None:
                    events += self.actions.start(o)
            elif isinstance(o, StopRequest):
                if self.actions is not None:
                    events += self.actions.stop(o.policy, o.time, o.reason)
            elif isinstance(o, Event):
                events.append(o)
        return events

    def state_event(self, time: float | None = None) -> StateChanged:
        """The night's state now, as an event."""
        return StateChanged(self.time if time is None else float(time), self.night.plain, self.night.snapshot())
