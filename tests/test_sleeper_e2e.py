"""End to end: a sleeper night through the real session engine and stager, compared with its truth."""

from __future__ import annotations

import argparse

import numpy as np

from dreamband.session.engine import SessionEngine
from dreamband.session.settings import SessionSettings
from dreamband.session.sleeper import open_sleeper_source


def _kappa(a: np.ndarray, b: np.ndarray) -> float:
    cm = np.zeros((5, 5))
    np.add.at(cm, (a, b), 1)
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
    print(f"sleeper 3 h, seed 1: accuracy {acc:.3f}, kappa {kappa:.3f}")
    assert acc > 0.7 and kappa > 0.55
    # every stage the night holds is found somewhere
    for stage in np.unique(truth):
        assert np.any(staged == stage), stage
