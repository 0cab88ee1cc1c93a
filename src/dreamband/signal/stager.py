"""The live, causal sleep stager: one 30-s epoch in, a stage (or UNSTAGED with reasons) out.

Per epoch: base features (Numba) -> causal context (:mod:`~dreamband.signal.context`, the very
code training used) -> trees (Numba) -> the causal step the model's inner CV chose: an HMM forward
step, a second stage over the trees' past posteriors (:mod:`~dreamband.signal.sequence`), or
nothing (Numba). Only the past is used.
"""

from __future__ import annotations

from collections import deque
from dataclasses import dataclass
from pathlib import Path

import numpy as np
from numba import njit

from dreamband.signal.context import CausalContext, warmup_context
from dreamband.signal.epochs import warmup_epochs
from dreamband.signal.features import (
    BASE_FEATURE_NAMES,
    EPOCH_SAMPLES,
    base_features_many,
    warmup_features,
)
from dreamband.signal.hmm import hmm_forward_step
from dreamband.signal.model import StagingModel, warmup_model
from dreamband.signal.quality import EpochQuality, warmup_quality
from dreamband.signal.resample import warmup_resample
from dreamband.signal.sequence import (
    SEQUENCE_DECAYS,
    PosteriorFilter,
    n_inputs,
    new_state,
    sequence_step,
)
from dreamband.signal.stages import N_STAGES, UNSTAGED

#: shipped model per number of staging channels
SHIPPED_MODELS: dict[int, str] = {1: "stager_fpz", 2: "stager_fpz_pz"}
#: an epoch whose RMS (volts) is below this cannot be staged (no signal)
MIN_RMS_V: float = 0.2e-6
#: and above this it is not EEG
MAX_RMS_V: float = 500e-6
#: an epoch whose peak-to-peak exceeds this many times the median of the last accepted epochs'
#: is a movement/artefact burst: not staged and kept out of the night's running statistics
MOVEMENT_FACTOR: float = 4.0
#: accepted epochs the burst test compares with (1 h), and how many it needs before it trusts them
MOVEMENT_WINDOW: int = 120
MOVEMENT_MIN_HISTORY: int = 10
#: until then (the first 5 min): an absolute limit, µV peak-to-peak
MOVEMENT_COLD_PTP_UV: float = 1500.0


class MovementGate:
    """Causal burst test relative to the night's own amplitude (so it does not move with the gain).

    An epoch whose largest peak-to-peak (over the staging channels, at 100 Hz) is more than
    :data:`MOVEMENT_FACTOR` times the median of the last :data:`MOVEMENT_WINDOW` accepted epochs
    is refused; accepted epochs (only) join the history. Before :data:`MOVEMENT_MIN_HISTORY`
    accepted epochs, an absolute limit (:data:`MOVEMENT_COLD_PTP_UV`) is used.
    """

    def __init__(self) -> None:
        self._hist: deque[float] = deque(maxlen=MOVEMENT_WINDOW)

    def reset(self) -> None:
        """Forget the night."""
        self._hist.clear()

    def check(self, ptp_uv: np.ndarray) -> str | None:
        """The reason when this epoch is a burst (None: accepted and remembered).

        Parameters
        ----------
        ptp_uv : ndarray, shape (n_channels,)
            Peak-to-peak of each staging channel, µV.
        """
        p = float(np.max(ptp_uv))
        if len(self._hist) >= MOVEMENT_MIN_HISTORY:
            ref = float(np.median(np.fromiter(self._hist, dtype=np.float64)))
            if p > MOVEMENT_FACTOR * ref:
                return movement_reason(p, ref)
        elif p > MOVEMENT_COLD_PTP_UV:
            return movement_reason(p, np.nan)
        self._hist.append(p)
        return None


def movement_reason(ptp_uv: float, ref_uv: float) -> str:
    """The refusal text of a burst of peak-to-peak ``ptp_uv`` against the median ``ref_uv`` (NaN: cold start)."""
    if np.isfinite(ref_uv):
        return (f"movement/artefact burst: peak-to-peak {ptp_uv:.0f} µV is {ptp_uv / ref_uv:.1f}x the night's "
                "median; not staged, kept out of the night's statistics")
    return (f"movement/artefact burst: peak-to-peak {ptp_uv:.0f} µV > {MOVEMENT_COLD_PTP_UV:.0f} µV; "
            "not staged, kept out of the night's statistics")


@njit(cache=True)
def _movement_gate_kernel(ptp: np.ndarray, candidate: np.ndarray, window: int, min_history: int, factor: float,
                          cold_ptp: float, refused: np.ndarray, ref: np.ndarray) -> None:
    """:class:`MovementGate` over a night: ring buffer of the last accepted peak-to-peaks, median by sorting."""
    hist = np.empty(window)
    n_hist = 0
    head = 0
    for e in range(ptp.shape[0]):
        refused[e] = False
        ref[e] = np.nan
        if not candidate[e]:
            continue
        p = ptp[e]
        if n_hist >= min_history:
            srt = np.sort(hist[:n_hist])
            h = n_hist // 2
            med = srt[h] if n_hist % 2 == 1 else (srt[h - 1] + srt[h]) / 2.0
            if p > factor * med:
                refused[e] = True
                ref[e] = med
                continue
        elif p > cold_ptp:
            refused[e] = True
            continue
        hist[head] = p
        head = (head + 1) % window
        n_hist = min(n_hist + 1, window)


def movement_gate_night(ptp_uv: np.ndarray, candidate: np.ndarray) -> tuple[np.ndarray, np.ndarray]:
    """:class:`MovementGate` applied in time order to a whole night at once (Numba; same answers).

    Parameters
    ----------
    ptp_uv : ndarray, shape (n_epochs, n_channels)
        :func:`staging_ptp_uv` of every epoch.
    candidate : ndarray of bool, shape (n_epochs,)
        Epochs that reach the gate (screened stageable); the others neither pass nor join the history.

    Returns
    -------
    refused : ndarray of bool, shape (n_epochs,)
    ref_uv : ndarray, shape (n_epochs,)
        The median each refused epoch was compared with (NaN: the cold-start limit, or not refused);
        :func:`movement_reason` gives the text.
    """
    ptp_uv = np.asarray(ptp_uv, dtype=np.float64)
    cand = np.ascontiguousarray(candidate, dtype=np.bool_)
    if ptp_uv.ndim != 2 or cand.shape != ptp_uv.shape[:1]:
        raise ValueError(f"ptp_uv must be (n_epochs, n_channels) and candidate (n_epochs,), got {ptp_uv.shape} "
                         f"and {cand.shape}.")
    peak = np.full(ptp_uv.shape[0], np.nan)
    if ptp_uv.shape[1] and cand.any():
        peak[cand] = ptp_uv[cand].max(axis=1)
    refused = np.zeros(ptp_uv.shape[0], dtype=np.bool_)
    ref = np.full(ptp_uv.shape[0], np.nan)
    _movement_gate_kernel(peak, cand, MOVEMENT_WINDOW, MOVEMENT_MIN_HISTORY, MOVEMENT_FACTOR,
                          MOVEMENT_COLD_PTP_UV, refused, ref)
    return refused, ref


def staging_ptp_uv(staging_v: np.ndarray) -> np.ndarray:
    """Peak-to-peak of every row (last axis) of staging epochs in volts, in µV."""
    x = np.asarray(staging_v)
    return (x.max(axis=-1) - x.min(axis=-1)) * 1e6


@njit(cache=True)
def _finite_ptp_kernel(x: np.ndarray, finite: np.ndarray, ptp: np.ndarray) -> None:
    """Per epoch of ``x`` (n_epochs, n_channels, n): all samples finite; per row: (max - min) * 1e6 (NaN if not)."""
    n_ep, n_ch, n = x.shape
    for e in range(n_ep):
        ok = True
        for c in range(n_ch):
            hi = -np.inf
            lo = np.inf
            row_ok = True
            for i in range(n):
                v = x[e, c, i]
                if not np.isfinite(v):
                    row_ok = False
                    break
                if v > hi:
                    hi = v
                if v < lo:
                    lo = v
            ptp[e, c] = (hi - lo) * 1e6 if row_ok else np.nan
            ok = ok and row_ok
        finite[e] = ok


def staging_finite_ptp(staging_v: np.ndarray) -> tuple[np.ndarray, np.ndarray]:
    """One pass over staging epochs (n_epochs, n_channels, n), volts: which are all finite, and
    :func:`staging_ptp_uv` of their rows (the same values; NaN for a row that is not finite)."""
    x = np.ascontiguousarray(staging_v, dtype=np.float64)
    if x.ndim != 3:
        raise ValueError(f"staging_v must be (n_epochs, n_channels, n), got shape {x.shape}.")
    finite = np.empty(x.shape[0], dtype=np.bool_)
    ptp = np.empty(x.shape[:2])
    _finite_ptp_kernel(x, finite, ptp)
    return finite, ptp


@dataclass(frozen=True)
class StageResult:
    """The stager's answer for one epoch.

    Attributes
    ----------
    stage : int
        0..4 (W, N1, N2, N3, REM) or -1 (UNSTAGED).
    probabilities : ndarray, shape (5,)
        After the HMM forward pass (NaN when unstaged).
    confidence : float
        Max of ``probabilities`` (0 when unstaged).
    features : dict[str, float]
        The base features of the epoch, ``"{channel}_{feature}"``.
    quality_ok : bool
    reasons : tuple[str, ...]
        Why the epoch is unstaged (or quality remarks).
    epoch_index : int
    """

    stage: int
    probabilities: np.ndarray
    confidence: float
    features: dict[str, float]
    quality_ok: bool
    reasons: tuple[str, ...] = ()
    epoch_index: int = 0


def screen_epoch(staging_v: np.ndarray, quality: EpochQuality | None, channels: list[str]) -> tuple[list[str], bool]:
    """Why an epoch cannot be staged (empty list: it can), and whether its quality was ok.

    Parameters
    ----------
    staging_v : ndarray, shape (n_channels, 3000)
        Volts at 100 Hz.
    quality : EpochQuality or None
    channels : list of str
        Labels used in the reasons.
    """
    finite = bool(np.all(np.isfinite(staging_v)))
    rms = _rms(staging_v[None])[0] if finite else None
    return _screen(finite, rms, quality, channels)


@njit(cache=True)
def _rms_rows(x: np.ndarray, out: np.ndarray) -> None:
    """RMS about the mean of every row of ``x`` (m, n) into ``out`` (m,)."""
    m, n = x.shape
    for r in range(m):
        s = 0.0
        for i in range(n):
            s += x[r, i]
        mean = s / n
        ss = 0.0
        for i in range(n):
            d = x[r, i] - mean
            ss += d * d
        out[r] = np.sqrt(ss / n)


def _rms(staging_v: np.ndarray) -> np.ndarray:
    """RMS about the mean of every (epoch, channel) row of (n_epochs, n_channels, n), volts (Numba)."""
    x = np.ascontiguousarray(staging_v, dtype=np.float64)
    out = np.empty(x.shape[:-1])
    _rms_rows(x.reshape(-1, x.shape[-1]), out.reshape(-1))
    return out


def _rms_reference(staging_v: np.ndarray) -> np.ndarray:
    """Plain NumPy reference of :func:`_rms`."""
    return np.sqrt(np.mean((staging_v - staging_v.mean(axis=-1, keepdims=True)) ** 2, axis=-1))


def screen_epochs(staging_v: np.ndarray, qualities: list[EpochQuality | None], channels: list[str],
                  finite: np.ndarray | None = None) -> list[tuple[list[str], bool]]:
    """:func:`screen_epoch` of many epochs at once (same answers).

    Parameters
    ----------
    staging_v : ndarray, shape (n_epochs, n_channels, 3000)
    qualities : list of EpochQuality or None, one per epoch
    channels : list of str
    finite : ndarray of bool, shape (n_epochs,), optional
        ``np.isfinite(staging_v).all(axis=(1, 2))`` when the caller has it already.
    """
    if finite is None:
        finite = np.isfinite(staging_v).all(axis=(1, 2))
    if finite.all():
        rms = _rms(staging_v)
    else:
        rms = np.full(staging_v.shape[:2], np.nan)
        if finite.any():
            rms[finite] = _rms(staging_v[finite])
    return [_screen(bool(finite[e]), rms[e], qualities[e], channels) for e in range(staging_v.shape[0])]


def _screen(finite: bool, rms: np.ndarray | None, quality: EpochQuality | None, channels: list[str]
            ) -> tuple[list[str], bool]:
    reasons: list[str] = []
    quality_ok = True
    if quality is not None and not quality.ok:
        quality_ok = False
        reasons.extend(quality.reasons or ("signal quality too poor to stage",))
    if not finite or rms is None:
        return [*reasons, "the epoch contains lost (NaN) samples"], quality_ok
    rms_list = rms.tolist()
    if all(MIN_RMS_V <= v <= MAX_RMS_V for v in rms_list):
        return reasons, quality_ok
    for c in range(len(rms_list)):
        if rms[c] < MIN_RMS_V:
            reasons.append(f"{channels[c]}: no signal (RMS {rms[c] * 1e6:.2f} µV)")
        elif rms[c] > MAX_RMS_V:
            reasons.append(f"{channels[c]}: amplitude not EEG (RMS {rms[c] * 1e6:.0f} µV)")
    return reasons, quality_ok


def warmup() -> None:
    """Compile every staging kernel (resampling, features, context, trees, HMM) so the first epoch is fast."""
    warmup_resample()
    warmup_epochs()
    warmup_features()
    warmup_model()
    warmup_context()  # includes the running-amplitude normaliser
    warmup_quality()
    _rms(np.zeros((1, 1, 4)))
    movement_gate_night(np.zeros((1, 1)), np.ones(1, dtype=bool))
    staging_finite_ptp(np.zeros((1, 1, 4)))
    hmm_forward_step(np.full(N_STAGES, 0.2), np.eye(N_STAGES), np.full(N_STAGES, 0.2), np.full(N_STAGES, 0.2), 1.0)
    sequence_step(new_state(N_STAGES), np.full(N_STAGES, 0.2), 1, np.zeros((n_inputs(N_STAGES), N_STAGES)),
                  np.zeros(N_STAGES), SEQUENCE_DECAYS)


class Stager:
    """Causal stager for one session.

    Parameters
    ----------
    model : StagingModel, str, Path or None
        The model (default: the shipped model for ``n_channels``: 1 -> Fpz-Cz, 2 -> Fpz-Cz + Pz-Oz).
    n_channels : int
        Rows of ``staging_v`` given to :meth:`stage` (must equal the model's channel count).
    use_hmm : bool, optional
        Apply the causal step after the trees (default: what the model's inner CV chose, its
        ``post`` metadata; True with a model that chose nothing runs the HMM; see
        :class:`~dreamband.signal.sequence.PosteriorFilter`).
    """

    @classmethod
    def for_model(cls, model: StagingModel | str | Path | None = None, use_hmm: bool | None = None) -> Stager:
        """A stager of ``model`` (a file or a shipped model's name; None: the one-channel model)
        with as many staging channels as the model was trained on (``--model`` on live/replay)."""
        if model is None:
            return cls(None, n_channels=1, use_hmm=use_hmm)
        loaded = model if isinstance(model, StagingModel) else StagingModel.load(model)
        return cls(loaded, n_channels=loaded.n_channels, use_hmm=use_hmm)

    def __init__(self, model: StagingModel | str | Path | None = None, n_channels: int = 1, use_hmm: bool | None = None) -> None:
        if model is None:
            if n_channels not in SHIPPED_MODELS:
                raise ValueError(
                    f"No shipped model for {n_channels} staging channels (have 1: Fpz-Cz, 2: Fpz-Cz + Pz-Oz). "
                    "Pass the frontal channel only, or a model trained for your montage."
                )
            model = StagingModel.load(SHIPPED_MODELS[n_channels])
        elif not isinstance(model, StagingModel):
            model = StagingModel.load(model)
        if model.n_channels != int(n_channels):
            raise ValueError(
                f"The model stages from {model.n_channels} channel(s) ({', '.join(model.channels)}) "
                f"but n_channels={n_channels}."
            )
        self.model = model
        self.n_channels = int(n_channels)
        #: the causal step after the trees that the model's inner CV chose (HMM, second stage or none)
        self.post = PosteriorFilter(model, use_hmm)
        self.use_hmm = self.post.kind != "none"
        self._context = CausalContext(model.n_channels, model.prior_mean, model.prior_var, model.scale_free,
                                      model.amplitude_reference)
        self._gate = MovementGate()
        self._last_staged = -1
        self._next_index = 0
        self._feature_keys = [f"{ch}_{n}" for ch in model.channels for n in BASE_FEATURE_NAMES]

    def reset(self) -> None:
        """Start a new session (forget the running normalisation and the HMM / sequence state)."""
        self._context.reset()
        self._gate.reset()
        self.post.reset()
        self._last_staged = -1
        self._next_index = 0

    def _unstaged(self, index: int, reasons: list[str], feats: dict[str, float], quality_ok: bool) -> StageResult:
        return StageResult(UNSTAGED, np.full(N_STAGES, np.nan), 0.0, feats, quality_ok, tuple(reasons), index)

    def stage(self, staging_v: np.ndarray, quality: EpochQuality | None = None, epoch_index: int | None = None) -> StageResult:
        """Stage one epoch.

        Parameters
        ----------
        staging_v : ndarray, shape (n_channels, 3000)
            The epoch at 100 Hz in volts (:attr:`Epoch.staging_v` of the staging channels).
        quality : EpochQuality, optional
            Quality of the staging channels; when not ``ok`` the epoch is UNSTAGED with its reasons.
        epoch_index : int, optional
            Epoch number since session start (default: one after the previous call). A jump
            is a gap (e.g. a dropout).

        Returns
        -------
        StageResult
        """
        x = np.asarray(staging_v, dtype=np.float64)
        if x.ndim == 1:
            x = x[None, :]
        if x.shape != (self.n_channels, EPOCH_SAMPLES):
            raise ValueError(
                f"staging_v must have shape ({self.n_channels}, {EPOCH_SAMPLES}) (30 s at 100 Hz, volts), got {np.shape(staging_v)}."
            )
        index = self._next_index if epoch_index is None else int(epoch_index)
        if index <= self._last_staged or index < 0:
            raise ValueError(f"epoch_index must increase: got {index} after {self._last_staged}.")
        self._next_index = index + 1
        reasons, quality_ok = screen_epoch(x, quality, self.model.channels)
        if not np.all(np.isfinite(x)):
            return self._unstaged(index, reasons, {}, quality_ok)
        base = base_features_many(x)  # (n_ch, 9)
        feats = dict(zip(self._feature_keys, base.ravel().tolist(), strict=True))
        if reasons:
            return self._unstaged(index, reasons, feats, quality_ok)
        burst = self._gate.check(staging_ptp_uv(x))
        if burst is not None:
            return self._unstaged(index, [burst], feats, quality_ok)
        return self._stage_base(index, base.ravel(), feats)

    def stage_features(self, base: np.ndarray, epoch_index: int | None = None) -> StageResult:
        """Stage one epoch from its base features (what ``dreamband evaluate --features`` feeds).

        Parameters
        ----------
        base : ndarray, shape (n_channels * 9,) or (n_channels, 9)
            :func:`~dreamband.signal.features.base_features` of each staging channel.
        epoch_index : int, optional
            As in :meth:`stage`.
        """
        b = np.asarray(base, dtype=np.float64).ravel()
        if b.shape[0] != self.n_channels * len(BASE_FEATURE_NAMES):
            raise ValueError(f"Expected {self.n_channels * len(BASE_FEATURE_NAMES)} base features, got {b.shape[0]}.")
        index = self._next_index if epoch_index is None else int(epoch_index)
        if index <= self._last_staged or index < 0:
            raise ValueError(f"epoch_index must increase: got {index} after {self._last_staged}.")
        self._next_index = index + 1
        feats = dict(zip(self._feature_keys, b.tolist(), strict=True))
        if not np.all(np.isfinite(b)):
            return self._unstaged(index, ["features are not finite"], feats, True)
        return self._stage_base(index, b, feats)

    def _stage_base(self, index: int, base: np.ndarray, feats: dict[str, float]) -> StageResult:
        row = self._context.update(index, base)
        raw = self.model.predict_proba(row)[0]
        if self.use_hmm:
            proba = self.post.step(raw, index - self._last_staged if self._last_staged >= 0 else 1)
        else:
            proba = raw
        self._last_staged = index
        stage = int(np.argmax(proba))
        return StageResult(stage, proba, float(proba[stage]), feats, True, (), index)
