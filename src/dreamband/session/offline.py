"""Offline commands: ``dreamband train``, ``dreamband evaluate``, ``dreamband stage``.

All three use the live code path: :class:`~dreamband.signal.epochs.EpochBuffer`,
:func:`~dreamband.signal.quality.assess_epoch` and :class:`~dreamband.signal.stager.Stager`
epoch by epoch in time order, so what they report is what a live night would have shown.
"""

from __future__ import annotations

import argparse
import time
from dataclasses import dataclass
from pathlib import Path

import numpy as np

from dreamband.signal.epochs import Epoch, EpochBuffer
from dreamband.signal.model import StagingModel
from dreamband.signal.quality import EpochQuality, assess_epoch
from dreamband.signal.stager import Stager, StageResult, warmup
from dreamband.signal.stages import N_STAGES, STAGE_NAMES, UNSTAGED, stage_name


@dataclass(frozen=True)
class StagedEpoch:
    """One epoch of an offline staging run."""

    epoch: Epoch
    quality: EpochQuality
    result: StageResult


def _load_model(path: str | None, n_channels: int) -> StagingModel:
    if path:
        return StagingModel.load(path)
    from dreamband.signal.stager import SHIPPED_MODELS

    if n_channels not in SHIPPED_MODELS:
        raise ValueError(f"No shipped model for {n_channels} channels; pick 1 (frontal) or 2 (frontal + parietal) with --channels.")
    return StagingModel.load(SHIPPED_MODELS[n_channels])


def stage_signal(data_uv: np.ndarray, sfreq: float, channel_names: list[str], model: StagingModel | None = None,
                 use_hmm: bool | None = None, chunk_s: float = 10.0) -> list[StagedEpoch]:
    """Stage a whole signal causally, as a live session would (chunks in, epochs out).

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
    data_uv = np.asarray(data_uv, dtype=np.float64)
    if data_uv.ndim != 2:
        raise ValueError(f"data_uv must be (n_channels, n_samples), got {data_uv.shape}.")
    n_ch = data_uv.shape[0]
    stager = Stager(model if model is not None else _load_model(None, n_ch), n_channels=n_ch, use_hmm=use_hmm)
    buf = EpochBuffer(sfreq, n_ch)
    step = max(1, int(round(chunk_s * sfreq)))
    out: list[StagedEpoch] = []
    for i in range(0, data_uv.shape[1], step):
        for ep in buf.push(data_uv[:, i : i + step]):
            q = assess_epoch(ep.data_uv, sfreq, channel_names)
            out.append(StagedEpoch(ep, q, stager.stage(ep.staging_v, q, epoch_index=ep.index)))
    return out


#: epoch rows (epochs x channels) resampled, assessed and featurised together in the batch path
_BATCH_EPOCHS = 32


def stage_signal_batch(data_uv: np.ndarray, sfreq: float, channel_names: list[str], model: StagingModel | None = None,
                       use_hmm: bool | None = None) -> list[StagedEpoch]:
    """The same result as :func:`stage_signal`, computed for all epochs at once (offline speed).

    Every step is the live one applied to all epochs in a batch: per-epoch polyphase resampling
    (rows of one Numba ``resample_poly_rows`` call), quality and screening of all epochs at once,
    the Numba features of all epochs in one call, the same causal context sequence over the
    stageable epochs, one tree call (the batch kernel: same sums), the same HMM forward pass.
    Rates without a whole number of samples per epoch fall back to :func:`stage_signal`.
    """
    data_uv = np.asarray(data_uv, dtype=np.float64)
    if data_uv.ndim != 2:
        raise ValueError(f"data_uv must be (n_channels, n_samples), got {data_uv.shape}.")
    n_ch = data_uv.shape[0]
    model = model if model is not None else _load_model(None, n_ch)
    spe = 30.0 * float(sfreq)
    if abs(spe - round(spe)) > 1e-9:
        return stage_signal(data_uv, sfreq, channel_names, model, use_hmm)
    from dreamband.signal.context import context_features
    from dreamband.signal.epochs import resample_to_staging
    from dreamband.signal.features import BASE_FEATURE_NAMES, base_features_many
    from dreamband.signal.hmm import hmm_forward
    from dreamband.signal.quality import assess_epochs
    from dreamband.signal.stager import screen_epochs

    stager = Stager(model, n_channels=n_ch, use_hmm=use_hmm)
    spe = int(round(spe))
    n_ep = data_uv.shape[1] // spe
    if n_ep == 0:
        return []
    native = np.ascontiguousarray(data_uv[:, : n_ep * spe].reshape(n_ch, n_ep, spe).transpose(1, 0, 2))
    staging = np.empty((n_ep, n_ch, 3000))
    base = np.full((n_ep, n_ch, 9), np.nan)
    qualities = []
    finite = np.zeros(n_ep, dtype=bool)
    step = max(1, _BATCH_EPOCHS // n_ch)
    for c0 in range(0, n_ep, step):  # a few epochs at a time: each pass finds them in the cache
        c1 = min(c0 + step, n_ep)
        chunk = native[c0:c1]
        staging[c0:c1] = resample_to_staging(chunk.reshape(-1, spe), sfreq).reshape(c1 - c0, n_ch, -1)
        qualities += assess_epochs(chunk, sfreq, channel_names)
        fin = np.isfinite(staging[c0:c1]).all(axis=(1, 2))
        finite[c0:c1] = fin
        if fin.any():
            base[c0:c1][fin] = base_features_many(staging[c0:c1][fin])
    keys = [f"{ch}_{n}" for ch in model.channels for n in BASE_FEATURE_NAMES]
    screened = screen_epochs(staging, qualities, model.channels, finite)
    ok = np.array([not r for r, _ in screened])
    idx = np.flatnonzero(ok)
    proba = np.empty((0, N_STAGES))
    raw = proba
    if idx.size:
        rows = context_features(idx, base[idx].reshape(idx.size, -1), n_ch, model.prior_mean, model.prior_var)
        raw = model.predict_proba(rows)
        if stager.use_hmm:
            gaps = np.diff(idx, prepend=idx[0] - 1)
            proba = hmm_forward(raw, gaps, model.transition, model.class_prior, model.hmm_weight)
        else:
            proba = raw
    out: list[StagedEpoch] = []
    k = 0
    for e in range(n_ep):
        ep = Epoch(e, e * spe / float(sfreq), native[e], staging[e], float(sfreq))  # views of our own arrays
        reasons, q_ok = screened[e]
        feats = dict(zip(keys, base[e].ravel().tolist(), strict=True)) if finite[e] else {}
        if ok[e]:
            p = proba[k]
            st = int(np.argmax(p))
            res = StageResult(st, p, float(p[st]), feats, True, (), e, raw[k])
            k += 1
        else:
            res = StageResult(UNSTAGED, np.full(N_STAGES, np.nan), 0.0, feats, q_ok, tuple(reasons), e)
        out.append(StagedEpoch(ep, qualities[e], res))
    return out


def _print_confusion(cm: np.ndarray, indent: str = "    ") -> None:
    print(indent + "expert \\ staged " + " ".join(f"{n:>5}" for n in STAGE_NAMES))
    for i, row in enumerate(np.asarray(cm)):
        print(indent + f"{STAGE_NAMES[i]:>15} " + " ".join(f"{v:5d}" for v in row))


def _print_metrics(label: str, y: np.ndarray, pred: np.ndarray, detail: bool = True) -> dict:
    from dreamband.session.training import format_metrics, stage_metrics

    m = stage_metrics(y, pred)
    n_uns = int(np.sum((pred == UNSTAGED) & (y >= 0)))
    f1 = " ".join(f"{k}={v:.3f}" for k, v in m["f1"].items())
    print(f"{format_metrics(label, m)}  n={m['n']}" + (f" unstaged={n_uns}" if n_uns else ""))
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
    w = cv.get("hmm_weight_chosen")
    print(f"Cross-validated figures of {name} ({cv.get('protocol', 'leave-subjects-out')}):")
    raw = cv["without_hmm"]
    print(f"  CV without HMM: accuracy={raw['accuracy']:.3f} kappa={raw['kappa']:.3f} macro_f1={raw['macro_f1']:.3f}")
    hm = cv["with_hmm"].get(str(w)) or next(iter(cv["with_hmm"].values()))
    print(f"  CV with HMM (weight {w}): accuracy={hm['accuracy']:.3f} kappa={hm['kappa']:.3f} macro_f1={hm['macro_f1']:.3f}")


# ------------------------------------------------------------------------------------ train
def run_train(args: argparse.Namespace) -> int:
    """``dreamband train --data DIR [--channels fpz|fpz+pz] [--seed N] [-o OUT]``."""
    from dreamband.session.training import run_training

    t0 = time.perf_counter()
    path, meta = run_training(args.data, args.channels, int(args.seed), args.output)
    print(f"done in {time.perf_counter() - t0:.0f} s; the figures above are leave-one-subject-out CV "
          f"(subjects held out); the written model is fitted on all nights: {path}")
    return 0


# ------------------------------------------------------------------------------------ evaluate
def _evaluate_features(folder: str, model_path: str | None) -> int:
    from dreamband.recordings.sleepedf import load_sleepedf_features
    from dreamband.signal.features import N_BASE

    nights = load_sleepedf_features(folder)
    model = _load_model(model_path, 1) if model_path is None else StagingModel.load(model_path)
    n_ch = model.n_channels
    warmup()
    print(f"Staging {len(nights)} nights with {model.meta.get('name', 'the model')} ({', '.join(model.channels)}), "
          "causally, in time order, inside the sleep period ±30 min.")
    print("NOTE: the shipped model was fitted on these same nights, so these figures are optimistic; "
          "the honest ones are the leave-subjects-out CV figures printed at the end.")
    ys, ps, cv_y, cv_p = [], [], [], []
    for night in nights:
        idx, X, y = night.crop()
        stager = Stager(model, n_channels=n_ch)
        pred = np.array([stager.stage_features(X[r, : N_BASE * n_ch], int(idx[r])).stage for r in range(len(idx))])
        _print_metrics(f"{night.name} (shipped model)", y, pred, detail=True)
        held = model.cv_stages.get(night.name)
        if held is not None and len(held) == len(y):
            _print_metrics(f"{night.name} (CV, subject {night.subject} held out)", y, held, detail=False)
            cv_y.append(y)
            cv_p.append(held)
        ys.append(y)
        ps.append(pred)
    _print_cv(model)
    if cv_y:
        _print_metrics(f"pooled CV over these {len(cv_y)} nights (their subject held out)", np.concatenate(cv_y),
                       np.concatenate(cv_p), detail=True)
    _print_metrics("pooled (all nights, fitted on them)", np.concatenate(ys), np.concatenate(ps), detail=True)
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
        staged = stage_signal_batch(ex.data_uv[None, :], ex.sfreq, [ex.channel], model)
        pred = np.array([s.result.stage for s in staged])
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


# ------------------------------------------------------------------------------------ stage
def _pick_channels(rec, channels: str | None) -> list[int]:
    if channels:
        return [rec.channel_index(c.strip()) for c in channels.split(",") if c.strip()]
    return [rec.frontal_channel()]


def run_stage(args: argparse.Namespace) -> int:
    """``dreamband stage FILE [-o OUT.csv] [--channels A,B] [--model M]``: write the hypnogram CSV."""
    from dreamband.recordings import read_recording
    from dreamband.recordings.hypnogram import HypnogramWriter

    path = Path(args.file)
    rec = read_recording(path)
    idx = _pick_channels(rec, getattr(args, "channels", None))
    model = _load_model(getattr(args, "model", None), len(idx))
    if model.n_channels != len(idx):
        raise ValueError(f"The model stages from {model.n_channels} channel(s) but --channels gave {len(idx)}.")
    names = [rec.channel_names[i] for i in idx]
    if rec.duration_s < 30.0:
        raise ValueError(f"{path} holds {rec.duration_s:.1f} s of data; staging needs at least one 30-s epoch.")
    warmup()
    t0 = time.perf_counter()
    staged = stage_signal_batch(rec.data[idx], rec.sfreq, names, model)
    elapsed = time.perf_counter() - t0
    out = Path(args.output) if getattr(args, "output", None) else path.with_name(path.stem + ".hypnogram.csv")
    if out.exists():
        out.unlink()
    writer = HypnogramWriter(out, mode=0o644)
    try:
        for s in staged:
            r = s.result
            qual = "ok" if r.stage != UNSTAGED and s.quality.ok else "; ".join(r.reasons) or "unstaged"
            writer.write(s.epoch.index, s.epoch.onset_s, r.stage, r.probabilities if r.stage != UNSTAGED else (), qual)
    finally:
        writer.close()
    stages = np.array([s.result.stage for s in staged])
    counts = {stage_name(k): int(np.sum(stages == k)) for k in [*range(N_STAGES), UNSTAGED]}
    print(f"{path.name}: staged {len(staged)} epochs of 30 s from {', '.join(names)} at {rec.sfreq:g} Hz "
          f"with {model.meta.get('name', 'the model')} in {elapsed:.2f} s")
    print("  " + "  ".join(f"{k}: {v} ({v * 0.5:.1f} min)" for k, v in counts.items()))
    print(f"  wrote {out}")
    return 0
