"""Offline commands: ``dreamband train`` and ``dreamband evaluate``; the staging entry points.

``dreamband stage`` (:mod:`dreamband.session.cohort`, one night or a cohort) and
``evaluate --dreams`` drive the session pipeline
(:class:`~dreamband.session.pipeline.SessionPipeline`), the very object a live night runs, so
what they report is what a live night would have shown. ``StagedEpoch`` is re-exported here.
"""

from __future__ import annotations

import argparse
import time

import numpy as np

from dreamband.session.pipeline import SessionPipeline, StagedEpoch, check_staging_rate
from dreamband.signal.model import StagingModel
from dreamband.signal.stager import SHIPPED_MODELS, Stager, warmup
from dreamband.signal.stages import STAGE_NAMES, UNSTAGED


def _load_model(path: str | None, n_channels: int) -> StagingModel:
    if path:
        return StagingModel.load(path)
    if n_channels not in SHIPPED_MODELS:
        raise ValueError(f"No shipped model for {n_channels} channels; pick 1 (frontal) or 2 (frontal + parietal) with --eeg.")
    return StagingModel.load(SHIPPED_MODELS[n_channels])


def staging_pipeline(sfreq: float, channel_names: list[str], model: StagingModel | None = None,
                     use_hmm: bool | None = None) -> SessionPipeline:
    """The session pipeline for staging only: every row is a staging channel, no triggers, no arousals."""
    check_staging_rate(sfreq)
    n_ch = len(channel_names)
    stager = Stager(model if model is not None else _load_model(None, n_ch), n_channels=n_ch, use_hmm=use_hmm)
    return SessionPipeline(sfreq, list(channel_names), ["eeg"] * n_ch, stager=stager,
                           staging_rows=list(range(n_ch)), triggers=False, arousals=False)


def _check_signal(data_uv: np.ndarray, channel_names: list[str]) -> np.ndarray:
    data_uv = np.asarray(data_uv, dtype=np.float64)
    if data_uv.ndim != 2:
        raise ValueError(f"data_uv must be (n_channels, n_samples), got {data_uv.shape}.")
    if data_uv.shape[0] != len(channel_names):
        raise ValueError(f"data_uv has {data_uv.shape[0]} rows but {len(channel_names)} channel names were given.")
    return data_uv


def stage_signal(data_uv: np.ndarray, sfreq: float, channel_names: list[str], model: StagingModel | None = None,
                 use_hmm: bool | None = None, chunk_s: float = 10.0) -> list[StagedEpoch]:
    """Stage a whole signal causally, as a live session would (chunks in, epochs out).

    The session pipeline's :meth:`~dreamband.session.pipeline.SessionPipeline.stage_stream`,
    fed ``chunk_s`` at a time.

    Parameters
    ----------
    data_uv : ndarray, shape (n_channels, n_samples)
        Staging channels (model channel order), microvolts.
    sfreq : float
        Hz.
    channel_names : list of str
    model : StagingModel, optional
        Default: the shipped model for ``n_channels``.
    chunk_s : float
        Chunk length pushed at a time (the result does not depend on it).

    Returns
    -------
    list of StagedEpoch
    """
    data_uv = _check_signal(data_uv, channel_names)
    pipe = staging_pipeline(sfreq, channel_names, model, use_hmm)
    step = max(1, int(round(chunk_s * sfreq)))
    out: list[StagedEpoch] = []
    for i in range(0, data_uv.shape[1], step):
        out += pipe.stage_stream(data_uv[:, i : i + step])
    return out


def stage_signal_batch(data_uv: np.ndarray, sfreq: float, channel_names: list[str], model: StagingModel | None = None,
                       use_hmm: bool | None = None) -> list[StagedEpoch]:
    """The same result as :func:`stage_signal`, computed for all epochs at once (offline speed).

    The session pipeline's :meth:`~dreamband.session.pipeline.SessionPipeline.stage_all`
    (vectorised kernels, the same definitions; tested equal to :func:`stage_signal`).
    """
    data_uv = _check_signal(data_uv, channel_names)
    return staging_pipeline(sfreq, channel_names, model, use_hmm).stage_all(data_uv)


def _print_confusion(cm: np.ndarray, indent: str = "    ") -> None:
    print(indent + "expert \\ staged " + " ".join(f"{n:>5}" for n in STAGE_NAMES))
    for i, row in enumerate(np.asarray(cm)):
        print(indent + f"{STAGE_NAMES[i]:>15} " + " ".join(f"{v:5d}" for v in row))


def _print_metrics(label: str, y: np.ndarray, pred: np.ndarray, detail: bool = True) -> dict:
    from dreamband.session.training import format_metrics, stage_metrics

    m = stage_metrics(y, pred)
    f1 = " ".join(f"{k}={v:.3f}" for k, v in m["f1"].items())
    print(f"{format_metrics(label, m)}  n={m['n']} refused={m['refused']} (counted as errors)")
    if detail:
        print(f"    per-stage F1: {f1}")
        _print_confusion(np.asarray(m["confusion"]))
    return m


def _print_cv(model: StagingModel) -> None:
    cv = model.meta.get("cv")
    name = model.meta.get("name", "model")
    if not cv:
        print(f"{name}: no cross-validated figures stored in the model.")
        return
    if "figures" in cv:  # the honest protocol (session/protocol.py)
        from dreamband.session.protocol import print_figures

        print(f"Cross-validated figures of {name}, subjects held out ({cv['protocol']}):")
        print_figures(cv["figures"])
        sel = model.meta.get("selection", {}).get("chosen")
        if sel:
            hmm = "no HMM" if sel["hmm_weight"] is None else f"HMM weight {sel['hmm_weight']}"
            label = model.meta["selection"].get("chosen_label", f"{sel['variant']}, {sel['rounds']} rounds, {hmm}")
            print(f"  this model: {label} (chosen by {model.meta['selection']['protocol']})")
        return
    w = cv.get("hmm_weight_chosen")
    print(f"Cross-validated figures of {name} ({cv.get('protocol', 'leave-subjects-out')}; an older protocol: "
          "nights started 30 min before the expert's sleep onset and the HMM was chosen on these folds):")
    raw = cv["without_hmm"]
    print(f"  CV without HMM: accuracy={raw['accuracy']:.3f} kappa={raw['kappa']:.3f} macro_f1={raw['macro_f1']:.3f}")
    hm = cv["with_hmm"].get(str(w)) or next(iter(cv["with_hmm"].values()))
    print(f"  CV with HMM (weight {w}): accuracy={hm['accuracy']:.3f} kappa={hm['kappa']:.3f} macro_f1={hm['macro_f1']:.3f}")


# ------------------------------------------------------------------------------------ train
def run_train(args: argparse.Namespace) -> int:
    """``dreamband train --data DIR [--eeg fpz|fpz+pz] [--seed N] [-o OUT]``."""
    from dreamband.session.protocol import run_training

    t0 = time.perf_counter()
    path, meta = run_training(args.data, args.eeg, int(args.seed), args.output)
    print(f"done in {time.perf_counter() - t0:.0f} s; the figures above are nested CV (subjects held out, every "
          f"choice in an inner CV, nights from a random start); the written model is fitted on all nights: {path}")
    return 0


# ------------------------------------------------------------------------------------ evaluate
def _evaluate_features(folder: str, model_path: str | None) -> int:
    from dreamband.recordings.sleepedf import load_sleepedf_features
    from dreamband.session.training import FIRST_HOUR_EPOCHS, prepare_nights

    nights = load_sleepedf_features(folder)
    model = _load_model(model_path, 1) if model_path is None else StagingModel.load(model_path)
    n_ch = model.n_channels
    training = model.meta.get("training", {})
    honest = "start_seed" in training  # models of the old protocol were cut 30 min before the expert's onset
    seed = int(training.get("start_seed", 0))
    data = prepare_nights(nights, "fpz" if n_ch == 1 else "fpz+pz", "random" if honest else "pm30", seed)
    warmup()
    where = (f"starts at a seeded random point 0-3 h before sleep onset (seed {seed}, where a user might press "
             "start)" if honest else "starts 30 min before the expert's sleep onset (this model's old protocol)")
    print(f"Staging {len(data)} nights with {model.meta.get('name', 'the model')} ({', '.join(model.channels)}), "
          f"causally, in time order; each night {where} and ends 30 min after the last sleep epoch.")
    trained = set(model.meta.get("training", {}).get("nights", []))
    n_seen = sum(n.name in trained for n in data)
    print(f"NOTE: {n_seen} of these {len(data)} nights were in the model's training set (listed in its file); "
          "figures on those are optimistic, the honest ones are the cross-validated (subject held out) figures.")
    ys, ps, cv = [], [], []
    for night in data:
        stager = Stager(model, n_channels=n_ch)
        pred = np.array([stager.stage_features(night.base[r], int(night.epoch_index[r])).stage
                         for r in range(len(night.y))])
        seen = "seen in training" if night.name in trained else "never seen in training"
        _print_metrics(f"{night.name} (shipped model) [{seen}]", night.y, pred, detail=True)
        held = model.cv_stages.get(night.name)
        if held is not None and len(held) == len(night.y):
            _print_metrics(f"{night.name} (CV, subject {night.subject} held out)", night.y, held, detail=False)
            cv.append((night, held))
        ys.append(night.y)
        ps.append(pred)
    _print_cv(model)
    if cv:
        y = np.concatenate([n.y for n, _ in cv])
        p = np.concatenate([h for _, h in cv])
        _print_metrics(f"pooled CV over these {len(cv)} nights (their subject held out), whole nights", y, p)
        pm = np.concatenate([n.in_pm30 for n, _ in cv])
        _print_metrics("pooled CV, sleep period ±30 min only (the literature's window)", y[pm], p[pm], detail=False)
        fh = np.concatenate([n.epoch_index < FIRST_HOUR_EPOCHS for n, _ in cv])
        _print_metrics(f"pooled CV, first hour of each night only (cold start, {len(cv)} nights)", y[fh], p[fh],
                       detail=False)
    _print_metrics(f"pooled (all {len(data)} nights, {n_seen} seen in training)", np.concatenate(ys),
                   np.concatenate(ps), detail=True)
    from dreamband.session.training import stage_metrics

    m = stage_metrics(np.concatenate(ys), np.concatenate(ps))
    print(f"pooled: accuracy={m['accuracy']:.3f} kappa={m['kappa']:.3f} macro_f1={m['macro_f1']:.3f}")
    return 0


def _evaluate_dreams(folder: str, model_path: str | None) -> int:
    from dreamband.recordings.sleepedf import load_dreams_excerpts

    excerpts = load_dreams_excerpts(folder)
    model = _load_model(model_path, 1)
    if model.n_channels != 1:
        raise ValueError("DREAMS excerpts have one EEG channel; use a one-channel model.")
    warmup()
    print(f"Staging {len(excerpts)} DREAMS excerpts from raw EEG (resample -> features -> stage) with "
          f"{model.meta.get('name', 'the model')}. Channels are central (C3-A1/CZ-A1), not Fpz-Cz; "
          "each 30-min excerpt is staged as its own session; expert 30-s labels = mode of six 5-s scores.")
    ys, ps = [], []
    for ex in excerpts:
        t0 = time.perf_counter()
        try:
            staged = stage_signal_batch(ex.data_uv[None, :], ex.sfreq, [ex.channel], model)
            pred = np.array([s.result.stage for s in staged])
        except ValueError as err:  # e.g. stored below 100 Hz: every epoch refused, counted as errors
            print(f"    every epoch of {ex.name} refused: {err}")
            pred = np.full(len(ex.stages_30s), UNSTAGED)
        n = min(len(pred), len(ex.stages_30s))
        y = ex.stages_30s[:n]
        _print_metrics(f"{ex.name} ({ex.channel}, {ex.sfreq:g} Hz, {time.perf_counter() - t0:.2f} s)", y, pred[:n])
        ys.append(y)
        ps.append(pred[:n])
    _print_cv(model)
    y, p = np.concatenate(ys), np.concatenate(ps)
    _print_metrics("pooled (DREAMS, never trained on)", y, p)
    from dreamband.session.training import stage_metrics

    m = stage_metrics(y, p)
    print(f"pooled: accuracy={m['accuracy']:.3f} kappa={m['kappa']:.3f} macro_f1={m['macro_f1']:.3f}")
    return 0


def run_evaluate(args: argparse.Namespace) -> int:
    """``dreamband evaluate --features DIR`` or ``--dreams DIR``."""
    if getattr(args, "features", None):
        return _evaluate_features(args.features, getattr(args, "model", None))
    if getattr(args, "dreams", None):
        return _evaluate_dreams(args.dreams, getattr(args, "model", None))
    raise ValueError("Give --features DIR (Sleep-EDF layout) or --dreams DIR (DREAMS excerpts).")
