"""Training the staging model on Sleep-EDF features: causal features, LightGBM, subject-wise CV, export.

LightGBM (the ``train`` extra) is imported only inside the functions that fit; the metric
helpers here are plain NumPy and are used by ``dreamband evaluate`` too.

Protocol
--------
* Each night is cropped to its sleep period ±30 min (``nights.json``): that is where a live
  session starts (lights off). Context features are computed causally, in time order, from the
  crop start, with the same :class:`~dreamband.signal.context.CausalContext` the live stager uses.
* Only the source's columns 0-8 (Fpz-Cz) and 9-17 (Pz-Oz) are used: its difference columns
  copy the future into the first row and its moving-window columns are centred (non-causal).
* Cross-validation leaves whole subjects out (8 folds, one subject = both nights per fold); the
  context priors, class prior and HMM transitions of each fold come from its training subjects only.
"""

from __future__ import annotations

import json
import re
import time
from collections.abc import Sequence
from dataclasses import dataclass
from pathlib import Path

import numpy as np

from dreamband.recordings.sleepedf import SleepEdfNight, load_sleepedf_features
from dreamband.signal.context import context_features, context_vars, feature_names
from dreamband.signal.features import N_BASE
from dreamband.signal.hmm import hmm_forward, transition_matrix
from dreamband.signal.model import MODELS_DIR, StagingModel, trees_from_lightgbm_dump
from dreamband.signal.stages import N_STAGES, STAGE_NAMES

CHANNEL_SETS: dict[str, list[str]] = {"fpz": ["fpz"], "fpz+pz": ["fpz", "pz"]}
MODEL_NAMES: dict[str, str] = {"fpz": "stager_fpz", "fpz+pz": "stager_fpz_pz"}
CHANNEL_LONG = {"fpz": "EEG Fpz-Cz", "pz": "EEG Pz-Oz"}
HMM_WEIGHTS: tuple[float, ...] = (0.5, 1.0, 1.5, 2.0)
MODEL_VERSION = "1.0"
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


#: 150 rounds at learning rate 0.1 (was 500 at 0.03): the same shrinkage budget in a third of the
#: trees, so a model trains in minutes on 2 shared cores (not chosen on any reported figure)
NUM_ROUNDS = 150
#: train with the scale-free context (signal/context.py): the model's input does not move with the gain
SCALE_FREE = True
#: features that move with the gain are not used (columns zeroed for training, so no tree splits
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
@dataclass
class NightData:
    """One cropped night ready for feature building."""

    name: str
    subject: int
    epoch_index: np.ndarray  # (n,) from crop start
    base: np.ndarray  # (n, n_ch * 9)
    y: np.ndarray  # (n,)
    hypnogram: np.ndarray  # crop of the full hypnogram (for transitions)


def prepare_nights(nights: Sequence[SleepEdfNight], channel_set: str) -> list[NightData]:
    """Crop every night and keep the base-feature columns of the channel set."""
    if channel_set not in CHANNEL_SETS:
        raise ValueError(f"Unknown channel set {channel_set!r}; choose one of {sorted(CHANNEL_SETS)}.")
    n_cols = N_BASE * len(CHANNEL_SETS[channel_set])
    out = []
    for n in nights:
        idx, X, y = n.crop()
        s, e = n.sleep_period
        out.append(NightData(n.name, n.subject, idx, np.ascontiguousarray(X[:, :n_cols]), y, n.hypnogram[s:e]))
    return out


def context_priors(nights: Sequence[NightData], n_channels: int) -> tuple[np.ndarray, np.ndarray]:
    """Mean and variance of the context variables over the given nights' crops."""
    v = np.concatenate([context_vars(n.base, n_channels, scale_free=SCALE_FREE) for n in nights])
    return v.mean(axis=0), np.maximum(v.var(axis=0), 1e-8)


def night_features(night: NightData, n_channels: int, prior: tuple[np.ndarray, np.ndarray],
                   for_training: bool = False) -> np.ndarray:
    """Causal model features of one night (shape (n, n_features)); ``for_training`` zeroes the unused ones."""
    X = context_features(night.epoch_index, night.base, n_channels, prior[0], prior[1], scale_free=SCALE_FREE)
    if for_training:
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
                     reference_features: np.ndarray | None = None) -> StagingModel:
    """Export a LightGBM booster into a :class:`StagingModel` of plain arrays."""
    trees, n_class = trees_from_lightgbm_dump(booster.dump_model())
    if n_class != N_STAGES:
        raise ValueError(f"Expected a {N_STAGES}-class booster, got {n_class} classes.")
    ref_p = None
    if reference_features is not None:
        ref_p = np.asarray(booster.predict(reference_features), dtype=np.float64)
    return StagingModel(trees, n_class, list(names), list(channels), np.asarray(prior[0]), np.asarray(prior[1]),
                        np.asarray(transition), np.asarray(class_prior), float(hmm_weight), dict(meta),
                        reference_features, ref_p)


# ---------------------------------------------------------------- cross-validation
def cross_validate(data: list[NightData], channel_set: str, seed: int = 0, num_rounds: int = NUM_ROUNDS,
                   log=print) -> dict:
    """Leave-one-subject-out CV; returns pooled metrics without and with the HMM (several weights)."""
    n_ch = len(CHANNEL_SETS[channel_set])
    subjects = sorted({d.subject for d in data})
    y_all, raw_all, hmm_all, night_names = [], [], {w: [] for w in HMM_WEIGHTS}, []
    per_fold = []
    for s in subjects:
        t0 = time.perf_counter()
        train = [d for d in data if d.subject != s]
        test = [d for d in data if d.subject == s]
        prior = context_priors(train, n_ch)
        Xtr = np.concatenate([night_features(d, n_ch, prior, for_training=True) for d in train])
        ytr = np.concatenate([d.y for d in train])
        booster = fit_booster(Xtr, ytr, seed, num_rounds)
        trans = transition_matrix([d.hypnogram for d in train])
        class_prior = np.bincount(ytr, minlength=N_STAGES) / len(ytr)
        fold = {"subject": s}
        for d in test:
            p = booster.predict(night_features(d, n_ch, prior))
            y_all.append(d.y)
            night_names.append(d.name)
            raw_all.append(p)
            for w in HMM_WEIGHTS:
                hmm_all[w].append(hmm_forward(p, gaps_of(d.epoch_index), trans, class_prior, w))
        yt = np.concatenate([d.y for d in test])
        fold["raw"] = stage_metrics(yt, np.concatenate(raw_all[-len(test):]).argmax(1))
        per_fold.append(fold)
        log(f"  fold subject {s}: {format_metrics('raw', fold['raw'])}  ({time.perf_counter() - t0:.0f} s)")
    y = np.concatenate(y_all)
    result = {"folds": per_fold, "raw": stage_metrics(y, np.concatenate(raw_all).argmax(1)), "hmm": {},
              "held_out": {"raw": dict(zip(night_names, [p.argmax(1).astype(np.int8) for p in raw_all], strict=True))}}
    for w in HMM_WEIGHTS:
        result["hmm"][str(w)] = stage_metrics(y, np.concatenate(hmm_all[w]).argmax(1))
        result["held_out"][str(w)] = dict(zip(night_names, [p.argmax(1).astype(np.int8) for p in hmm_all[w]], strict=True))
    return result


def run_training(data_dir: str | Path, channel_set: str = "fpz", seed: int = 0, output: str | Path | None = None,
                 num_rounds: int = NUM_ROUNDS, do_cv: bool = True, log=print) -> tuple[Path, dict]:
    """Cross-validate, fit on all nights, export. Returns the model path and the summary."""
    nights = load_sleepedf_features(data_dir)
    data = prepare_nights(nights, channel_set)
    channels = CHANNEL_SETS[channel_set]
    n_ch = len(channels)
    names = feature_names(channels)
    log(f"{len(data)} nights, {len({d.subject for d in data})} subjects, {sum(len(d.y) for d in data)} epochs "
        f"(sleep period ±30 min), {len(names)} causal features, channels {channel_set}")
    cv = None
    hmm_weight = 1.0
    use_hmm = True
    if do_cv:
        log("leave-one-subject-out cross-validation:")
        cv = cross_validate(data, channel_set, seed, num_rounds, log)
        log(format_metrics("CV without HMM (subjects held out)", cv["raw"]))
        for w, m in cv["hmm"].items():
            log(format_metrics(f"CV with HMM weight {w} (subjects held out)", m))
        hmm_weight = float(max(cv["hmm"], key=lambda w: cv["hmm"][w]["kappa"]))
        use_hmm = cv["hmm"][str(hmm_weight)]["kappa"] > cv["raw"]["kappa"]
        log(f"HMM forward pass {'on' if use_hmm else 'off'} by default (best weight {hmm_weight}: "
            f"kappa {cv['hmm'][str(hmm_weight)]['kappa']:.3f} vs {cv['raw']['kappa']:.3f} without)")
    prior = context_priors(data, n_ch)
    feats = [night_features(d, n_ch, prior, for_training=True) for d in data]
    X = np.concatenate(feats)
    y = np.concatenate([d.y for d in data])
    booster = fit_booster(X, y, seed, num_rounds)
    trans = transition_matrix([d.hypnogram for d in data])
    class_prior = np.bincount(y, minlength=N_STAGES) / len(y)
    rng = np.random.default_rng(seed)
    ref = X[np.sort(rng.choice(len(X), size=min(200, len(X)), replace=False))]
    meta = {
        "name": MODEL_NAMES[channel_set],
        "version": MODEL_VERSION,
        "channels_long": [CHANNEL_LONG[c] for c in channels],
        "input": "per channel: 30-s epoch, volts, 100 Hz (dreamband.signal.features.base_features)",
        "stages": list(STAGE_NAMES),
        "training": {
            "data": "Sleep-EDF SC features, 16 nights / 8 subjects, each cropped to sleep period ±30 min",
            "nights": [d.name for d in data],
            "epochs": int(len(y)),
            "class_counts": np.bincount(y, minlength=N_STAGES).tolist(),
            "lightgbm_params": lgbm_params(seed),
            "num_rounds": int(num_rounds),
            "class_weights": CLASS_WEIGHTS.tolist(),
            "seed": int(seed),
        },
        "cv": None if cv is None else {
            "protocol": "leave-one-subject-out (8 folds), causal features, pooled over held-out epochs",
            "without_hmm": {k: cv["raw"][k] for k in ("accuracy", "kappa", "macro_f1", "f1", "confusion")},
            "with_hmm": {w: {k: m[k] for k in ("accuracy", "kappa", "macro_f1", "f1", "confusion")} for w, m in cv["hmm"].items()},
            "hmm_weight_chosen": hmm_weight,
        },
        "use_hmm": bool(use_hmm),
        "context": "scale-free" if SCALE_FREE else "v1",
        "unused_features": [n for n, u in zip(names, unused_mask(names), strict=True) if u],
        "credit": CREDIT,
    }
    model = booster_to_model(booster, names, channels, prior, trans, class_prior, hmm_weight, meta, ref)
    if cv is not None:  # held-out CV stages per night, so `evaluate` can show honest per-night figures
        model.cv_stages = cv["held_out"][str(hmm_weight) if use_hmm else "raw"]
    out = Path(output) if output else MODELS_DIR / MODEL_NAMES[channel_set]
    npz, js = model.save(out)
    # the exported arrays must reproduce LightGBM exactly
    check = StagingModel.load(npz)
    err = float(np.max(np.abs(check.predict_proba(ref) - model.reference_proba)))
    if err > 1e-9:
        raise RuntimeError(f"Exported trees disagree with LightGBM (max |dp| = {err:.2e}).")
    log(f"wrote {npz} and {js} ({model.n_trees} trees; Numba vs LightGBM max |dp| = {err:.1e})")
    return npz, json.loads(js.read_text())
