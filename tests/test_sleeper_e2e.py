"""End to end: nights through the real session engine and stager, compared with their truth.

Two checks. The sleeper night's figure is **circular**: the generator draws its spectra from the
per-stage statistics of the same Sleep-EDF features the model was trained on, so a high
agreement there says the engine path works, not that the stager stages real people. The DREAMS
check is not circular: real EEG no one here wrote or trained on (central channels, 50-200 Hz),
scored by DREAMS' experts, through the same engine a live night uses.
"""

from __future__ import annotations

import argparse
import datetime as dt
from pathlib import Path

import numpy as np
import pytest

from dreamband.session.engine import SessionEngine
from dreamband.session.settings import SessionSettings
from dreamband.session.sleeper import open_sleeper_source


def _kappa(a: np.ndarray, b: np.ndarray) -> float:
    """Cohen's kappa; an unstaged epoch (-1) is a sixth class, so it is always an error."""
    cm = np.zeros((6, 6))
    np.add.at(cm, (np.where(a < 0, 5, a), np.where(b < 0, 5, b)), 1)
    n = cm.sum()
    pe = float(np.sum(cm.sum(0) * cm.sum(1))) / n**2
    return float((np.trace(cm) / n - pe) / (1 - pe))


def test_engine_stages_a_sleeper_night_like_its_true_hypnogram():
    src = open_sleeper_source(argparse.Namespace(speed="max", duration=3 * 3600.0, seek=None))
    eng = SessionEngine(src, SessionSettings())
    eng.run_to_end()
    truth = src.hypnogram.astype(int)
    staged = np.array([e.stage for e in eng.epochs])
    assert [e.epoch_index for e in eng.epochs] == list(range(len(truth)))
    ok = staged >= 0
    assert ok.mean() > 0.95  # artefacts leave few epochs unstaged
    acc = float(np.mean(staged[ok] == truth[ok]))
    kappa = _kappa(truth[ok], staged[ok])
    print(f"sleeper 3 h, seed 1 (circular): accuracy {acc:.3f}, kappa {kappa:.3f}")
    assert acc > 0.7 and kappa > 0.55  # circular (see the module docstring)
    # every stage the night holds is found somewhere
    for stage in np.unique(truth):
        assert np.any(staged == stage), stage


@pytest.mark.shared_data
def test_engine_stages_real_dreams_nights_near_the_measured_agreement(shared_datasets: Path):
    """Not circular: the 8 DREAMS excerpts (real EEG, expert hypnograms, never trained on) through the
    engine at max speed, each its own session. Unstaged epochs count as errors. Measured when
    written: pooled accuracy 0.70, kappa 0.45; since issue 13 excerpt3 (stored at 50 Hz) is refused
    as a whole (60 errors): pooled 0.613 / 0.366 on the batch path; the current model 0.525 / 0.304 (README);
    the floors sit ~0.02-0.03 below."""
    from dreamband.recordings.base import Recording
    from dreamband.recordings.replay import RecordingSource
    from dreamband.recordings.sleepedf import load_dreams_excerpts

    folder = shared_datasets / "dreams-spindles"
    if not (folder / "excerpt1.txt").exists():
        pytest.skip("dreams-spindles is absent")
    ys, ps = [], []
    for ex in load_dreams_excerpts(folder):
        rec = Recording(ex.data_uv[None, :].astype(np.float64), float(ex.sfreq), [ex.channel], ["eeg"],
                        dt.datetime(2026, 1, 1, 23, 0, tzinfo=dt.timezone.utc))
        eng = SessionEngine(RecordingSource(rec, speed="max"), SessionSettings())
        eng.run_to_end()
        staged = np.array([e.stage for e in eng.epochs])
        n = min(len(staged), len(ex.stages_30s))
        assert n == 60, ex.name  # 30 min of 30-s epochs
        scored = ex.stages_30s[:n] >= 0
        acc = float(np.mean(staged[:n][scored] == ex.stages_30s[:n][scored]))
        if ex.sfreq < 100:  # refused below 100 Hz, every epoch, with the rate in the reason
            assert (staged == -1).all() and "50 Hz" in eng.epochs[0].quality_reasons[0], ex.name
        else:
            # the worst excerpt measured 0.367 (excerpt4) with the item-6 model (calibrated HMM, 250 rounds);
            # 0.467 with the model before it, 0.58 before the protocol retrain: DREAMS chose none of them
            assert acc >= 0.34, (ex.name, acc)
        ys.append(ex.stages_30s[:n][scored])
        ps.append(staged[:n][scored])
    y, p = np.concatenate(ys), np.concatenate(ps)
    acc = float(np.mean(p == y))
    kappa = _kappa(y, p)
    wrong_unstaged = int(np.sum(p < 0))
    print(f"DREAMS through the engine: accuracy {acc:.3f}, kappa {kappa:.3f}, {wrong_unstaged} unstaged")
    # measured 0.525 / 0.304 with the item-6 model (0.575 / 0.352 before it, 0.613 / 0.366 with the gain-sensitive
    # model): an honest regression on the external test, reported in the README, not tuned away
    assert acc >= 0.50 and kappa >= 0.28
