"""The honest staging protocol (issue 13), shared by ``dreamband train``, ``evaluate`` and the README.

* **Where a night starts.** A session starts where a user might press start: a seeded random
  offset of 0-3 h before sleep onset ("random", the protocol's headline), or the recording's
  first epoch ("recording"). Never at a point read from the labels: the old start, 30 min
  before the expert's sleep onset ("pm30"), is reported only for comparison with the
  literature. Training nights start at their random offset too. The running statistics
  (context, amplitude normalisation, HMM) start at the session start.
* **Subjects held out.** The outer loop leaves one subject (both nights) out; it only reports.
* **Every choice inside an inner CV.** For each outer fold, a subject-wise inner CV on its
  training subjects alone chooses the gain-invariance variant (scale-free features or the
  running-amplitude normalisation), the model size (rounds) and the causal step after the
  trees, by pooled kappa: nothing, the calibrated HMM (emission prior, inverse temperature), or
  the second stage over past posteriors (:mod:`dreamband.signal.sequence`), fitted on the inner
  CV's own out-of-fold posteriors. The shipped model's own choices come from the same search over all
  training subjects.
* **Reported**: pooled over held-out epochs, for each start mode, the whole night, the
  sleep period ±30 min (the literature's window) and the first hour (cold start). Refused
  epochs would count as errors (Sleep-EDF's feature rows are never refused; the count is shown).
"""

from __future__ import annotations

import json
import time
from collections.abc import Callable, Sequence
from dataclasses import dataclass
from pathlib import Path

import numpy as np

from dreamband.recordings.sleepedf import load_sleepedf_features
from dreamband.session.training import (
    CHANNEL_LONG,
    CHANNEL_SETS,
    CLASS_WEIGHTS,
    CREDIT,
    FIRST_HOUR_EPOCHS,
    MAX_OFFSET_EPOCHS,
    MODEL_NAMES,
    MODEL_VERSION,
    NUM_ROUNDS,
    START_MODES,
    VARIANTS,
    FeatureSpec,
    NightData,
    booster_to_model,
    feature_spec,
    fit_booster,
    format_metrics,
    gaps_of,
    lgbm_params,
    night_features,
    prepare_nights,
    stage_metrics,
    unused_mask,
)
from dreamband.signal.context import feature_names
from dreamband.signal.hmm import hmm_forward, transition_matrix
from dreamband.signal.model import MODELS_DIR, StagingModel
from dreamband.signal.sequence import (
    SEQUENCE_DECAYS,
    fit_sequence,
    sequence_forward,
    sequence_inputs_reference,
    softmax,
)
from dreamband.signal.stages import N_STAGES, STAGE_NAMES

#: HMM emission weights searched by the inner CV: ``(p / prior) ** w``, so ``w`` is an inverse
#: temperature on the trees' scaled likelihoods (they already see the past through the context)
HMM_WEIGHTS: tuple[float, ...] = (0.1, 0.2, 0.3, 0.5, 0.7, 1.0)
#: the HMM's emission prior: "weighted" is the class prior the trees were fitted under (training
#: frequencies x CLASS_WEIGHTS, renormalised: p / prior is then a calibrated scaled likelihood);
#: "plain" the training frequencies (the HMM before issue 13's item 6)
HMM_PRIORS: tuple[str, ...] = ("weighted", "plain")
#: L2 penalty of the second stage (on a weighted mean cross-entropy)
SEQUENCE_L2 = 1e-3
#: subject groups of the inner CV inside each outer fold, and of the shipped model's own search
INNER_FOLDS = 3
FINAL_FOLDS = 4
#: the three windows every figure is given for
WINDOWS: tuple[str, ...] = ("all", "pm30", "first_hour")
PROTOCOL_TEXT = (
    "nested subject-wise CV: outer leave-one-subject-out (8 folds) only reports; in each outer fold an inner "
    f"{INNER_FOLDS}-fold subject-wise CV on its training subjects chooses variant, rounds and the step after the "
    "trees (none, calibrated HMM prior/weight, or a second stage fitted on the inner out-of-fold posteriors) by "
    "pooled kappa. Nights start at a seeded random 0-3 h before sleep onset (training and test), end 30 min "
    "after the last sleep epoch; causal features; refused epochs are errors"
)


def rounds_grid(num_rounds: int) -> tuple[int, ...]:
    """Model sizes searched: every 50 rounds up to ``num_rounds`` (50 ... 250 by default); for
    fewer than 100 rounds (tests), a third, two thirds and all."""
    if num_rounds >= 100:
        return tuple(sorted({*range(50, int(num_rounds) + 1, 50), int(num_rounds)}))
    return tuple(sorted({max(1, num_rounds // 3), max(1, 2 * num_rounds // 3), int(num_rounds)}))


@dataclass(frozen=True)
class Choice:
    """One point of the inner-CV search: the trees, then ``post`` ("none", "hmm" or "sequence")."""

    variant: str
    rounds: int
    post: str = "none"
    hmm_weight: float | None = None
    hmm_prior: str | None = None

    def label(self) -> str:
        if self.post == "hmm":
            post = f"HMM ({self.hmm_prior} prior, weight {self.hmm_weight:g})"
        else:
            post = "second stage over past posteriors" if self.post == "sequence" else "no HMM"
        return f"{self.variant}, {self.rounds} rounds, {post}"

    def as_dict(self) -> dict:
        return {"variant": self.variant, "rounds": self.rounds, "post": self.post, "hmm_weight": self.hmm_weight,
                "hmm_prior": self.hmm_prior}


def post_options() -> list[tuple[str, float | None, str | None]]:
    """``(post, hmm_weight, hmm_prior)`` searched after each (variant, rounds), simplest first."""
    return ([("none", None, None)] + [("hmm", w, pr) for pr in HMM_PRIORS for w in HMM_WEIGHTS]
            + [("sequence", None, None)])


@dataclass
class FoldModel:
    """A booster fitted on some nights, with what it needs to stage others."""

    booster: object
    spec: FeatureSpec
    transition: np.ndarray
    class_prior: np.ndarray
    n_channels: int
    weighted_prior: np.ndarray | None = None

    def emission_prior(self, kind: str | None) -> np.ndarray:
        """The HMM's emission prior: "weighted" (what the trees saw) or "plain" (frequencies)."""
        return self.weighted_prior if kind == "weighted" and self.weighted_prior is not None else self.class_prior


def subject_folds(subjects: Sequence[int], k: int) -> list[list[int]]:
    """``k`` groups of subjects (sorted, dealt round-robin); fewer if there are fewer subjects."""
    s = sorted(set(subjects))
    k = max(1, min(int(k), len(s)))
    return [s[j::k] for j in range(k)]


def fit_fold(train: Sequence[NightData], n_channels: int, variant: str, seed: int, num_rounds: int,
             num_threads: int = 1) -> FoldModel:
    """Fit one booster on ``train`` (priors, transitions and class prior from ``train`` only)."""
    spec = feature_spec(train, n_channels, variant)
    X = np.concatenate([night_features(d, n_channels, spec, for_training=True) for d in train])
    y = np.concatenate([d.y for d in train])
    booster = fit_booster(X, y, seed, num_rounds, num_threads)
    trans = transition_matrix([d.hypnogram for d in train])  # training hypnograms only
    counts = np.bincount(y, minlength=N_STAGES).astype(np.float64)
    return FoldModel(booster, spec, trans, counts / counts.sum(), n_channels, weighted_prior(counts))


def weighted_prior(counts: np.ndarray) -> np.ndarray:
    """The class prior the trees are fitted under: class counts x CLASS_WEIGHTS, renormalised."""
    w = np.asarray(counts, dtype=np.float64) * CLASS_WEIGHTS
    return w / w.sum()


def fit_second_stage(nights: Sequence[NightData], probs: dict[str, np.ndarray]) -> tuple[np.ndarray, np.ndarray]:
    """Fit the second stage on out-of-fold posteriors ``probs[night.name]`` of ``nights`` (CLASS_WEIGHTS)."""
    Z = np.concatenate([sequence_inputs_reference(probs[d.name], gaps_of(d.epoch_index)) for d in nights])
    y = np.concatenate([d.y for d in nights])
    return fit_sequence(Z, y, CLASS_WEIGHTS[y], SEQUENCE_L2)


def post_process(p: np.ndarray, night: NightData, fm: FoldModel, choice: Choice,
                 second: tuple[np.ndarray, np.ndarray] | None = None) -> np.ndarray:
    """The causal step ``choice`` puts after the trees, with the stager's Numba steps; (n, 5) -> (n, 5)."""
    gaps = gaps_of(night.epoch_index)
    if choice.post == "hmm":
        return hmm_forward(p, gaps, fm.transition, fm.emission_prior(choice.hmm_prior), choice.hmm_weight)
    if choice.post == "sequence":
        if second is None:
            raise ValueError("The second stage needs its fitted weights.")
        return sequence_forward(p, gaps, second[0], second[1], SEQUENCE_DECAYS)
    return p


def stage_probabilities(fm: FoldModel, night: NightData, choice: Choice,
                        second: tuple[np.ndarray, np.ndarray] | None = None,
                        feats: np.ndarray | None = None) -> np.ndarray:
    """Causal stage probabilities of one night, shape (n, 5)."""
    if feats is None:
        feats = night_features(night, fm.n_channels, fm.spec)
    p = np.asarray(fm.booster.predict(feats, num_iteration=choice.rounds), dtype=np.float64)
    return post_process(p, night, fm, choice, second)


def choose(train: Sequence[NightData], n_channels: int, variants: Sequence[str], k: int, seed: int,
           num_rounds: int = NUM_ROUNDS, num_threads: int = 1
           ) -> tuple[Choice, dict[Choice, dict], dict[tuple[str, int], dict[str, np.ndarray]]]:
    """Subject-wise ``k``-fold CV on ``train`` alone over variants x rounds x the step after the trees.

    The HMM options are post-hoc on the out-of-fold posteriors. The second stage is cross-fitted
    on them: for each inner group, fitted on the other groups' out-of-fold posteriors, applied
    to this group's.

    Returns
    -------
    best : Choice
        Highest pooled kappa (ties: the earlier, simpler option).
    scores : dict
        Metrics of every option.
    oof : dict
        ``(variant, rounds) -> night name -> out-of-fold trees' posteriors`` (what a second stage
        for a model fitted on all of ``train`` is fitted on).
    """
    grid = rounds_grid(num_rounds)
    groups = subject_folds([d.subject for d in train], k)
    oof: dict[tuple[str, int], dict[str, np.ndarray]] = {(v, r): {} for v in variants for r in grid}
    models: dict[tuple[str, int], FoldModel] = {}  # the fold model each night was predicted by
    for gi, group in enumerate(groups):
        tr = [d for d in train if d.subject not in group]
        te = [d for d in train if d.subject in group]
        for v in variants:
            fm = fit_fold(tr, n_channels, v, seed, max(grid), num_threads)
            models[(v, gi)] = fm
            for d in te:
                feats = night_features(d, n_channels, fm.spec)
                for r in grid:
                    oof[(v, r)][d.name] = np.asarray(fm.booster.predict(feats, num_iteration=r), dtype=np.float64)
    group_of = {d.name: gi for gi, g in enumerate(groups) for d in train if d.subject in g}
    y = np.concatenate([d.y for d in train])
    scores: dict[Choice, dict] = {}
    for v in variants:
        for r in grid:
            for post, w, pr in post_options():
                c = Choice(v, r, post, w, pr)
                if post == "sequence":
                    pred = {}
                    for gi in range(len(groups)):
                        fit_on = [d for d in train if group_of[d.name] != gi]
                        if not fit_on:  # one inner group: nothing to cross-fit on
                            break
                        W, b = fit_second_stage(fit_on, oof[(v, r)])
                        for d in train:
                            if group_of[d.name] == gi:
                                z = sequence_inputs_reference(oof[(v, r)][d.name], gaps_of(d.epoch_index))
                                pred[d.name] = softmax(z @ W + b).argmax(1)
                    if len(pred) < len(train):
                        continue
                else:
                    pred = {d.name: post_process(oof[(v, r)][d.name], d, models[(v, group_of[d.name])], c).argmax(1)
                            for d in train}
                scores[c] = stage_metrics(y, np.concatenate([pred[d.name] for d in train]))
    best = None
    for c in scores:  # grid order: the first of equal kappas wins
        if best is None or scores[c]["kappa"] > scores[best]["kappa"]:
            best = c
    return best, scores, oof


def inner_summary(scores: dict[Choice, dict], variant: str, rounds: int) -> dict:
    """Inner-CV kappa of no step, the best HMM and the second stage, for one (variant, rounds)."""
    mine = {c: m for c, m in scores.items() if c.variant == variant and c.rounds == rounds}
    hmm = [c for c in mine if c.post == "hmm"]
    out = {"none": next((m["kappa"] for c, m in mine.items() if c.post == "none"), None),
           "sequence": next((m["kappa"] for c, m in mine.items() if c.post == "sequence"), None)}
    if hmm:
        h = max(hmm, key=lambda c: mine[c]["kappa"])
        out["hmm"] = {"kappa": mine[h]["kappa"], "weight": h.hmm_weight, "prior": h.hmm_prior}
    return out


def best_of(scores: dict[Choice, dict], variant: str) -> Choice:
    """The best option of one variant in a :func:`choose` search."""
    best = None
    for c, m in scores.items():
        if c.variant == variant and (best is None or m["kappa"] > scores[best]["kappa"]):
            best = c
    return best


def window_metrics(data: Sequence[NightData], stages: dict[str, np.ndarray]) -> dict[str, dict]:
    """Pooled metrics over the whole nights, their sleep period ±30 min and their first hour."""
    nights = [d for d in data if d.name in stages]
    y = np.concatenate([d.y for d in nights])
    p = np.concatenate([stages[d.name] for d in nights])
    pm = np.concatenate([d.in_pm30 for d in nights])
    fh = np.concatenate([d.epoch_index < FIRST_HOUR_EPOCHS for d in nights])
    return {"all": stage_metrics(y, p), "pm30": stage_metrics(y[pm], p[pm]), "first_hour": stage_metrics(y[fh], p[fh])}


def nested_cv(data: dict[str, list[NightData]], n_channels: int, variants: Sequence[str], seed: int = 0,
              num_rounds: int = NUM_ROUNDS, num_threads: int = 1, inner_folds: int = INNER_FOLDS,
              log: Callable[[str], object] = print) -> dict:
    """Outer leave-one-subject-out over ``data["random"]``; every choice by an inner CV.

    Parameters
    ----------
    data : dict
        Start mode -> the same nights prepared with that start (:func:`prepare_nights`).

    Returns
    -------
    dict with ``figures[label][mode][window]`` (label: each variant at its own inner-CV choice,
    and ``"selected"``: the variant the inner CV chose in each fold), ``choices`` per fold and
    ``stages[label][mode][night]`` (held-out stages).
    """
    train_data = data["random"]
    labels = [*variants, "selected"]
    stages: dict[str, dict[str, dict[str, np.ndarray]]] = {lb: {m: {} for m in data} for lb in labels}
    choices = []
    for s in sorted({d.subject for d in train_data}):
        t0 = time.process_time()
        tr = [d for d in train_data if d.subject != s]
        best, scores, oof = choose(tr, n_channels, variants, inner_folds, seed, num_rounds, num_threads)
        fold = {"subject": s, "selected": best.as_dict(), "per_variant": {}}
        for v in variants:
            c = best_of(scores, v)
            fold["per_variant"][v] = {**c.as_dict(), "inner_kappa": scores[c]["kappa"],
                                      "inner_by_step": inner_summary(scores, v, c.rounds)}
            fm = fit_fold(tr, n_channels, v, seed, max(rounds_grid(num_rounds)), num_threads)
            second = fit_second_stage(tr, oof[(v, c.rounds)]) if c.post == "sequence" else None
            for mode, nights in data.items():
                for d in nights:
                    if d.subject == s:
                        st = stage_probabilities(fm, d, c, second).argmax(1).astype(np.int8)
                        stages[v][mode][d.name] = st
                        if v == best.variant:
                            stages["selected"][mode][d.name] = st
        choices.append(fold)
        held = [d for d in train_data if d.subject == s]
        m = stage_metrics(np.concatenate([d.y for d in held]),
                          np.concatenate([stages["selected"]["random"][d.name] for d in held]))
        log(f"  outer fold subject {s}: inner CV chose {best.label()}; held out: "
            f"{format_metrics('random start', m)} ({time.process_time() - t0:.0f} CPU-s)")
    figures = {lb: {mode: window_metrics(data[mode], stages[lb][mode]) for mode in data} for lb in labels}
    return {"figures": figures, "choices": choices, "stages": stages}


def print_figures(figures: dict, log: Callable[[str], object] = print) -> None:
    """The protocol table: one line per (label, start mode, window)."""
    names = {"all": "whole night", "pm30": "sleep period ±30 min", "first_hour": "first hour (cold start)"}
    starts = {"random": "random start 0-3 h before onset", "recording": "recording start",
              "pm30": "old start, 30 min before the expert's onset"}
    for lb, by_mode in figures.items():
        for mode, by_win in by_mode.items():
            for w, m in by_win.items():
                if mode != "random" and w == "first_hour":
                    continue
                log(f"  {lb:10} | {starts.get(mode, mode):44} | {names[w]:24} | acc {m['accuracy']:.3f} "
                    f"kappa {m['kappa']:.3f} F1 {m['macro_f1']:.3f} | n={m['n']} refused={m['refused']}")


def _strip(m: dict, confusion: bool) -> dict:
    keep = ("n", "refused", "accuracy", "kappa", "macro_f1", "f1") + (("confusion",) if confusion else ())
    return {k: v for k, v in m.items() if k in keep}


def run_training(data_dir: str | Path, channel_set: str = "fpz", seed: int = 0, output: str | Path | None = None,
                 num_rounds: int = NUM_ROUNDS, do_cv: bool = True, variants: Sequence[str] = VARIANTS,
                 num_threads: int = 1, log: Callable[[str], object] = print) -> tuple[Path, dict]:
    """Nested CV (reported), the shipped model's own inner-CV search, fit on all nights, export.

    Returns the model path and its metadata.
    """
    variants = tuple(variants)
    for v in variants:
        if v not in VARIANTS:
            raise ValueError(f"Unknown variant {v!r}; choose from {VARIANTS}.")
    nights = load_sleepedf_features(data_dir)
    data = {mode: prepare_nights(nights, channel_set, mode, seed) for mode in START_MODES}
    channels = CHANNEL_SETS[channel_set]
    n_ch = len(channels)
    names = feature_names(channels)
    train = data["random"]
    log(f"{len(train)} nights, {len({d.subject for d in train})} subjects, {sum(len(d.y) for d in train)} epochs "
        f"(random start 0-3 h before sleep onset, seed {seed}), {len(names)} causal features, channels {channel_set}")
    nested = None
    if do_cv:
        log("nested cross-validation (outer: one subject held out; inner: every choice):")
        nested = nested_cv(data, n_ch, variants, seed, num_rounds, num_threads, log=log)
        print_figures(nested["figures"], log)
    log(f"the shipped model's choices: {FINAL_FOLDS}-fold subject-wise CV on all training subjects")
    best, scores, oof = choose(train, n_ch, variants, FINAL_FOLDS, seed, num_rounds, num_threads)
    for c, m in scores.items():
        if c.post != "hmm" or c == max((h for h in scores if h.post == "hmm" and h.variant == c.variant
                                        and h.rounds == c.rounds), key=lambda h: scores[h]["kappa"]):
            log(f"    {format_metrics(c.label(), m)}")
    log(f"chosen: {best.label()} (kappa {scores[best]['kappa']:.3f})")
    fm = fit_fold(train, n_ch, best.variant, seed, best.rounds, num_threads)
    second = fit_second_stage(train, oof[(best.variant, best.rounds)]) if best.post == "sequence" else None
    X = np.concatenate([night_features(d, n_ch, fm.spec, for_training=True) for d in train])
    y = np.concatenate([d.y for d in train])
    rng = np.random.default_rng(seed)
    ref = X[np.sort(rng.choice(len(X), size=min(200, len(X)), replace=False))]
    meta = {
        "name": MODEL_NAMES[channel_set],
        "version": MODEL_VERSION,
        "channels_long": [CHANNEL_LONG[c] for c in channels],
        "input": "per channel: 30-s epoch, volts, 100 Hz (dreamband.signal.features.base_features)",
        "stages": list(STAGE_NAMES),
        "training": {
            "data": "Sleep-EDF SC features, 16 nights / 8 subjects, each from a seeded random start 0-3 h before "
                    "sleep onset to 30 min after the last sleep epoch",
            "nights": [d.name for d in train],
            "starts": {d.name: int(d.start) for d in train},
            "start_seed": int(seed),
            "max_offset_epochs": MAX_OFFSET_EPOCHS,
            "epochs": int(len(y)),
            "class_counts": np.bincount(y, minlength=N_STAGES).tolist(),
            "lightgbm_params": lgbm_params(seed, num_threads),
            "num_rounds": int(best.rounds),
            "class_weights": CLASS_WEIGHTS.tolist(),
            "seed": int(seed),
        },
        "selection": {
            "protocol": f"{FINAL_FOLDS}-fold subject-wise CV on the training subjects, pooled kappa",
            "chosen": best.as_dict(),
            "chosen_label": best.label(),
            "options": [{**c.as_dict(), **{k: scores[c][k] for k in ("accuracy", "kappa", "macro_f1")}}
                        for c in scores],
        },
        "cv": None if nested is None else {
            "protocol": PROTOCOL_TEXT,
            "figures": {lb: {mode: {w: _strip(m, w == "all" and mode == "random") for w, m in bw.items()}
                             for mode, bw in bm.items()}
                        for lb, bm in nested["figures"].items()},
            "choices": nested["choices"],
        },
        "post": best.post,
        "use_hmm": best.post == "hmm",
        "hmm_prior": best.hmm_prior if best.post == "hmm" else "weighted",
        "context": best.variant,
        "unused_features": ([n for n, u in zip(names, unused_mask(names), strict=True) if u]
                            if best.variant == "scale-free" else []),
        "credit": CREDIT,
    }
    if fm.spec.amplitude_ref is not None:
        meta["amplitude_reference"] = [float(v) for v in fm.spec.amplitude_ref]
    if second is not None:
        meta["sequence"] = {"weights": second[0].tolist(), "bias": second[1].tolist(),
                            "decays": SEQUENCE_DECAYS.tolist(),
                            "fitted_on": f"{FINAL_FOLDS}-fold subject-wise out-of-fold posteriors of the training nights"}
    # class_prior: the HMM's emission prior (and its state at session start), the one the inner CV chose
    model = booster_to_model(fm.booster, names, channels, (fm.spec.prior_mean, fm.spec.prior_var), fm.transition,
                             fm.emission_prior(meta["hmm_prior"]), 0.5 if best.hmm_weight is None else best.hmm_weight,
                             meta, ref)
    if nested is not None:  # held-out stages per night (random start), so `evaluate` can show honest per-night figures
        model.cv_stages = dict(nested["stages"]["selected"]["random"])
    out = Path(output) if output else MODELS_DIR / MODEL_NAMES[channel_set]
    npz, js = model.save(out)
    check = StagingModel.load(npz)
    err = float(np.max(np.abs(check.predict_proba(ref) - model.reference_proba)))
    if err > 1e-9:
        raise RuntimeError(f"Exported trees disagree with LightGBM (max |dp| = {err:.2e}).")
    log(f"wrote {npz} and {js} ({model.n_trees} trees; Numba vs LightGBM max |dp| = {err:.1e})")
    return npz, json.loads(js.read_text())
