"""Training primitives for the staging model on Sleep-EDF features: nights, features, LightGBM, export, metrics.

LightGBM (the ``train`` extra) is imported only inside the functions that fit; the metric
helpers here are plain NumPy and are used by ``dreamband evaluate`` too. The protocol that
uses these (nested subject-wise CV, where nights start, what is reported) is
:mod:`dreamband.session.protocol`.

* A night is a session: it starts where a user might press start (:data:`START_MODES`: a
  seeded random 0-3 h before sleep onset, or the recording start; 30 min before the expert's
  onset only for comparison with the literature) and the running statistics start there.
  Context features are computed causally, in time order, with the same
  :class:`~dreamband.signal.context.CausalContext` the live stager uses.
* Only the source's columns 0-8 (Fpz-Cz) and 9-17 (Pz-Oz) are used: its difference columns
  copy the future into the first row and its moving-window columns are centred (non-causal).
"""

from __future__ import annotations

import re
from collections.abc import Sequence
from dataclasses import dataclass

import numpy as np

from dreamband.recordings.sleepedf import SleepEdfNight
from dreamband.signal.context import context_features, context_vars, feature_names
from dreamband.signal.features import N_BASE
from dreamband.signal.model import StagingModel, trees_from_lightgbm_dump
from dreamband.signal.stages import N_STAGES, STAGE_NAMES

CHANNEL_SETS: dict[str, list[str]] = {"fpz": ["fpz"], "fpz+pz": ["fpz", "pz"]}
MODEL_NAMES: dict[str, str] = {"fpz": "stager_fpz", "fpz+pz": "stager_fpz_pz"}
CHANNEL_LONG = {"fpz": "EEG Fpz-Cz", "pz": "EEG Pz-Oz"}
MODEL_VERSION = "2.0"
CREDIT = (
    "Trained on features of the PhysioNet Sleep-EDF Database Expanded (sleep-cassette, subjects 0-9 "
    "without 4 and 8; ODC-BY 1.0): B. Kemp et al., IEEE Trans. Biomed. Eng. 47(9):1185-1194, 2000; "
    "Goldberger et al., Circulation 101(23):e215-e220, 2000. Feature files from github.com/"
    "matteo-omizzolo/sleep-EDF (MIT)."
)


def lgbm_params(seed: int = 0, num_threads: int = 2) -> dict:
    """Deterministic LightGBM settings used for the shipped models."""
    return {
        "objective": "multiclass",
        "num_class": N_STAGES,
        "learning_rate": 0.1,
        "num_leaves": 31,
        "min_data_in_leaf": 80,
        "feature_fraction": 0.5,
        "bagging_fraction": 0.8,
        "bagging_freq": 1,
        "lambda_l2": 1.0,
        "seed": int(seed),
        "deterministic": True,
        "force_col_wise": True,
        "num_threads": int(num_threads),
        "verbose": -1,
    }


#: the most rounds a model may have, at learning rate 0.1; how many it keeps (50, 100, ... 250) is
#: chosen by inner cross-validation (session/protocol.py)
NUM_ROUNDS = 250
#: "scale-free" variant: features that move with the gain are not used (columns zeroed for training, so no tree splits
#: on them): Sleep-EDF's Fpz-Cz amplitude is not a headband's. The absolute log powers and their
#: means, and the recipe's base ratios of floored log powers and Hjorth mobility (their
#: ``+ 1e-10`` floors are the size of EEG powers); relative powers, ratios of true powers, the
#: true mobility, differences, spreads and per-night z-scores carry the information scale-free.
#: (Channel labels may hold digits: ``c0``; the mask once missed them and let the trees use all.)
UNUSED_FEATURES = re.compile(
    r"^[a-z0-9]+_(delta|theta|alpha|beta|gamma|theta_alpha|alpha_delta|hjorth_activity|hjorth_mobility)$"
    r"|^[a-z0-9]+_lp_[a-z]+(_ema_short|_ema_long|_ema_vlong)?$")


def unused_mask(names: Sequence[str]) -> np.ndarray:
    """Boolean mask of the features the trees are not allowed to use."""
    return np.array([UNUSED_FEATURES.search(n) is not None for n in names])

#: N1 is rare and the hardest stage: weighting it up trades a little accuracy for macro-F1
CLASS_WEIGHTS = np.array([1.0, 1.5, 1.0, 1.0, 1.0])


# ---------------------------------------------------------------- metrics (plain NumPy)
def confusion(y_true: np.ndarray, y_pred: np.ndarray, k: int = N_STAGES) -> np.ndarray:
    """Confusion matrix (rows: expert, columns: predicted) over epochs where both are 0..k-1."""
    y_true, y_pred = np.asarray(y_true), np.asarray(y_pred)
    ok = (y_true >= 0) & (y_true < k) & (y_pred >= 0) & (y_pred < k)
    cm = np.zeros((k, k), dtype=np.int64)
    np.add.at(cm, (y_true[ok], y_pred[ok]), 1)
    return cm


def metrics_from_confusion(cm: np.ndarray, refused: np.ndarray | None = None) -> dict:
    """Accuracy, Cohen's kappa, macro-F1 and per-stage F1 from a confusion matrix.

    Parameters
    ----------
    cm : ndarray, shape (k, k)
        Rows: expert, columns: predicted.
    refused : ndarray, shape (k,), optional
        Per expert stage, epochs the stager refused (UNSTAGED): counted as errors (they are in
        ``n`` and in the expert's totals, never correct; a column of their own for kappa).
    """
    cm = np.asarray(cm, dtype=np.float64)
    k = cm.shape[0]
    ref = np.zeros(k) if refused is None else np.asarray(refused, dtype=np.float64)
    rows = cm.sum(1) + ref
    n = rows.sum()
    if n == 0:
        return {"n": 0, "accuracy": float("nan"), "kappa": float("nan"), "macro_f1": float("nan"),
                "f1": dict.fromkeys(STAGE_NAMES, float("nan")), "refused": 0}
    acc = np.trace(cm) / n
    pe = float(np.sum(cm.sum(0) * rows)) / n**2  # the refused column matches no expert stage
    kappa = (acc - pe) / (1 - pe) if pe < 1 else 1.0
    tp = np.diag(cm)
    denom = cm.sum(0) + rows
    f1 = np.where(denom > 0, 2 * tp / np.maximum(denom, 1e-12), np.nan)
    present = rows > 0
    macro = float(np.nanmean(f1[present])) if present.any() else float("nan")
    return {"n": int(n), "accuracy": float(acc), "kappa": float(kappa), "macro_f1": macro,
            "f1": {STAGE_NAMES[i]: float(f1[i]) for i in range(len(f1))}, "refused": int(ref.sum())}


def stage_metrics(y_true: np.ndarray, y_pred: np.ndarray) -> dict:
    """Metrics (see :func:`metrics_from_confusion`) plus the confusion matrix as a list.

    Epochs the expert scored (0..4) that the stager refused (any other prediction, e.g.
    UNSTAGED) count as errors; their number is ``"refused"``. Epochs without an expert stage
    are left out.
    """
    y_true, y_pred = np.asarray(y_true), np.asarray(y_pred)
    cm = confusion(y_true, y_pred)
    scored = (y_true >= 0) & (y_true < N_STAGES)
    bad = scored & ~((y_pred >= 0) & (y_pred < N_STAGES))
    refused = np.bincount(y_true[bad].astype(np.int64), minlength=N_STAGES)[:N_STAGES]
    out = metrics_from_confusion(cm, refused)
    out["confusion"] = cm.tolist()
    return out


def format_metrics(label: str, m: dict) -> str:
    """One line: ``label: accuracy=0.xxx kappa=0.xxx macro_f1=0.xxx``."""
    return f"{label}: accuracy={m['accuracy']:.3f} kappa={m['kappa']:.3f} macro_f1={m['macro_f1']:.3f}"


# ---------------------------------------------------------------- data
#: where a night starts (issue 13's protocol): "random" = a seeded offset of 0-3 h before sleep onset
#: (where a user might press start), "recording" = the recording's first epoch, "pm30" = 30 min
#: before the expert's sleep onset (the literature's window; chosen from the labels, so only for
#: comparison). Every night ends 30 min after the last sleep epoch.
START_MODES: tuple[str, ...] = ("random", "recording", "pm30")
#: the random start is 0..MAX_OFFSET_EPOCHS epochs (0-3 h) before sleep onset
MAX_OFFSET_EPOCHS = 360
#: the sleep period ±30 min of nights.json starts 60 epochs before the first sleep epoch
ONSET_MARGIN = 60
#: the first hour of a night (cold start: the running statistics have little to go on)
FIRST_HOUR_EPOCHS = 120


def night_start(night: SleepEdfNight, mode: str, seed: int = 0) -> int:
    """Epoch (from the recording start) where the night's session starts under ``mode``.

    The random offset depends only on ``seed`` and the night's name (so a subset of nights gets
    the same starts as the whole set), drawn uniformly in 0..3 h before sleep onset.
    """
    onset = night.sleep_period[0] + ONSET_MARGIN
    if mode == "pm30":
        return int(night.sleep_period[0])
    if mode == "recording":
        return 0
    if mode == "random":
        rng = np.random.default_rng([int(seed), int(re.sub(r"\D", "", night.name) or 0)])
        return max(0, onset - int(rng.integers(0, MAX_OFFSET_EPOCHS + 1)))
    raise ValueError(f"Unknown start mode {mode!r}; choose one of {START_MODES}.")


@dataclass
class NightData:
    """One night as a session sees it: from its start (see :data:`START_MODES`) to 30 min after sleep."""

    name: str
    subject: int
    epoch_index: np.ndarray  # (n,) from the session start
    base: np.ndarray  # (n, n_ch * 9)
    y: np.ndarray  # (n,)
    hypnogram: np.ndarray  # the hypnogram over the same span (for transitions)
    start: int = 0  # session start, epochs from the recording start
    in_pm30: np.ndarray | None = None  # (n,) bool: inside the sleep period ±30 min


def prepare_nights(nights: Sequence[SleepEdfNight], channel_set: str, start: str = "random",
                   seed: int = 0) -> list[NightData]:
    """Cut every night from its session start to the end of its sleep period ±30 min.

    Parameters
    ----------
    nights : sequence of SleepEdfNight
    channel_set : {"fpz", "fpz+pz"}
    start : one of :data:`START_MODES`
    seed : int
        Seed of the random starts.
    """
    if channel_set not in CHANNEL_SETS:
        raise ValueError(f"Unknown channel set {channel_set!r}; choose one of {sorted(CHANNEL_SETS)}.")
    n_cols = N_BASE * len(CHANNEL_SETS[channel_set])
    out = []
    for n in nights:
        s0 = night_start(n, start, seed)
        s, e = n.sleep_period
        sel = (n.epoch_index >= s0) & (n.epoch_index < e)
        order = np.argsort(n.epoch_index[sel], kind="stable")
        idx = n.epoch_index[sel][order]
        X, y = n.X[sel][order], n.y[sel][order]
        out.append(NightData(n.name, n.subject, (idx - s0).astype(np.int64), np.ascontiguousarray(X[:, :n_cols]), y,
                             n.hypnogram[s0:e], s0, (idx >= s) & (idx < e)))
    return out


#: the two ways to gain invariance (issue 13 asks which wins): "scale-free" = only features that do
#: not move with the gain (UNUSED_FEATURES masked); "normalised" = every epoch brought to the
#: training scale by the causal running amplitude (signal/amplitude.py), every feature usable
VARIANTS: tuple[str, ...] = ("scale-free", "normalised")


@dataclass(frozen=True)
class FeatureSpec:
    """What a model's features are built with: the variant and the training nights' statistics."""

    variant: str
    prior_mean: np.ndarray
    prior_var: np.ndarray
    amplitude_ref: np.ndarray | None


def amplitude_reference(nights: Sequence[NightData], n_channels: int) -> np.ndarray:
    """Median true log variance per channel over the given nights (the normalisation's target)."""
    from dreamband.signal.amplitude import true_log_var

    rows = np.concatenate([n.base for n in nights])
    lv = np.empty((len(rows), n_channels))
    for r in range(len(rows)):
        true_log_var(np.ascontiguousarray(rows[r]), n_channels, lv[r])
    return np.median(lv, axis=0)


def feature_spec(nights: Sequence[NightData], n_channels: int, variant: str) -> FeatureSpec:
    """The context priors (and, for "normalised", the amplitude target) of the given training nights."""
    if variant not in VARIANTS:
        raise ValueError(f"Unknown variant {variant!r}; choose one of {VARIANTS}.")
    from dreamband.signal.amplitude import normalise_night_reference

    ref = amplitude_reference(nights, n_channels) if variant == "normalised" else None
    v = []
    for n in nights:
        b = n.base if ref is None else normalise_night_reference(n.base, n_channels, ref)
        v.append(context_vars(b, n_channels, scale_free=True))
    vv = np.concatenate(v)
    return FeatureSpec(variant, vv.mean(axis=0), np.maximum(vv.var(axis=0), 1e-8), ref)


def night_features(night: NightData, n_channels: int, spec: FeatureSpec, for_training: bool = False) -> np.ndarray:
    """Causal model features of one night (shape (n, n_features)); ``for_training`` zeroes the unused ones."""
    X = context_features(night.epoch_index, night.base, n_channels, spec.prior_mean, spec.prior_var,
                         scale_free=True, amplitude_ref=spec.amplitude_ref)
    if for_training and spec.variant == "scale-free":
        X[:, unused_mask(feature_names([f"c{i}" for i in range(n_channels)]))] = 0.0
    return X


def gaps_of(epoch_index: np.ndarray) -> np.ndarray:
    """Epochs since the previous row (first row: 1)."""
    return np.diff(np.asarray(epoch_index), prepend=int(epoch_index[0]) - 1)


def fit_booster(X: np.ndarray, y: np.ndarray, seed: int = 0, num_rounds: int = NUM_ROUNDS,
                num_threads: int = 2, params: dict | None = None):
    """Fit a LightGBM multiclass booster (imports lightgbm)."""
    try:
        import lightgbm as lgb
    except ImportError as err:  # pragma: no cover - depends on the environment
        raise RuntimeError("Training needs LightGBM: pip install 'dreamband[train]'.") from err
    p = lgbm_params(seed, num_threads)
    if params:
        p.update(params)
    w = CLASS_WEIGHTS[np.asarray(y)]
    ds = lgb.Dataset(X, label=y, weight=w, free_raw_data=True)
    return lgb.train(p, ds, num_boost_round=num_rounds)


def booster_to_model(booster, names: list[str], channels: list[str], prior: tuple[np.ndarray, np.ndarray],
                     transition: np.ndarray, class_prior: np.ndarray, hmm_weight: float, meta: dict,
                     reference_features: np.ndarray | None = None, num_iteration: int | None = None) -> StagingModel:
    """Export a LightGBM booster (its first ``num_iteration`` rounds) into a :class:`StagingModel`."""
    trees, n_class = trees_from_lightgbm_dump(booster.dump_model(num_iteration=num_iteration))
    if n_class != N_STAGES:
        raise ValueError(f"Expected a {N_STAGES}-class booster, got {n_class} classes.")
    ref_p = None
    if reference_features is not None:
        ref_p = np.asarray(booster.predict(reference_features, num_iteration=num_iteration), dtype=np.float64)
    return StagingModel(trees, n_class, list(names), list(channels), np.asarray(prior[0]), np.asarray(prior[1]),
                        np.asarray(transition), np.asarray(class_prior), float(hmm_weight), dict(meta),
                        reference_features, ref_p)
