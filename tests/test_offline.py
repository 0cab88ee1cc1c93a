"""Offline commands: train (tiny), evaluate (Sleep-EDF features, DREAMS), stage (EDF)."""

from __future__ import annotations

import argparse
import json
import os
from pathlib import Path

import numpy as np
import pytest

from dreamband.cli import main
from dreamband.recordings.sleepedf import dreams_hypnogram_30s, load_sleepedf_features
from dreamband.session.offline import stage_signal, stage_signal_batch
from dreamband.session.protocol import run_training
from dreamband.session.training import metrics_from_confusion, stage_metrics
from dreamband.signal.model import StagingModel


def _mini_sleepedf(shared: Path, dst: Path, nights: list[str]) -> Path:
    """A Sleep-EDF-shaped folder holding a few nights (symlinks, nothing copied into the repo)."""
    src = shared / "sleep-edf"
    (dst / "features").mkdir(parents=True)
    meta = [m for m in json.loads((src / "nights.json").read_text()) if m["night"] in nights]
    (dst / "nights.json").write_text(json.dumps(meta))
    for n in nights:
        os.symlink(src / "features" / f"{n}.npz", dst / "features" / f"{n}.npz")
    for name in ("features_epoch_index.npz", "hypnograms_30s.npz"):
        os.symlink(src / name, dst / name)
    return dst


def test_metrics_known_values() -> None:
    y = np.array([0, 0, 1, 2, 2, 2, 3, 4])
    p = np.array([0, 1, 1, 2, 2, 3, 3, 4])
    m = stage_metrics(y, p)
    assert m["accuracy"] == pytest.approx(6 / 8)
    sk = pytest.importorskip("sklearn.metrics")
    assert m["kappa"] == pytest.approx(sk.cohen_kappa_score(y, p))
    assert m["macro_f1"] == pytest.approx(sk.f1_score(y, p, average="macro"))
    assert np.isnan(metrics_from_confusion(np.zeros((5, 5)))["accuracy"])


def test_dreams_hypnogram_mapping() -> None:
    codes = np.array([5] * 6 + [2, 2, 2, 2, 1, 1] + [0, 1, 0, 1, 0, 1] + [4] * 6 + [-1] * 6)
    stages, agree = dreams_hypnogram_30s(codes)
    assert stages.tolist() == [0, 2, 3, 4, -1]
    assert agree.tolist() == [True, False, True, True, True]


def test_train_tiny_deterministic(shared_datasets: Path, tmp_path: Path) -> None:
    pytest.importorskip("lightgbm")
    data = _mini_sleepedf(shared_datasets, tmp_path / "sedf", ["SC4001E0", "SC4011E0", "SC4021E0"])
    logs: list[str] = []
    p1, meta = run_training(data, "fpz", seed=3, output=tmp_path / "m1", num_rounds=3, log=logs.append)
    p2, _ = run_training(data, "fpz", seed=3, output=tmp_path / "m2", num_rounds=3, do_cv=False, log=lambda *_: None)
    assert any("outer fold subject 0: inner CV chose" in s for s in logs)
    assert any("random start 0-3 h before onset" in s and "first hour" in s for s in logs)
    fig = meta["cv"]["figures"]["selected"]
    assert set(fig) == {"random", "recording", "pm30"} and set(fig["random"]) == {"all", "pm30", "first_hour"}
    # random-start nights are longer than the old crop; a start under 30 min before onset cuts into that window
    assert fig["random"]["all"]["n"] > fig["pm30"]["all"]["n"] >= fig["random"]["pm30"]["n"] > 0
    assert fig["random"]["all"]["accuracy"] > 0.3 and "Sleep-EDF" in meta["credit"]
    assert meta["training"]["nights"] == ["SC4001E0", "SC4011E0", "SC4021E0"]
    assert meta["context"] in ("scale-free", "normalised") and meta["selection"]["chosen"]["rounds"] in (1, 2, 3)
    a, b = StagingModel.load(p1), StagingModel.load(p2)
    for k in a.trees:
        np.testing.assert_array_equal(a.trees[k], b.trees[k])
    np.testing.assert_allclose(a.predict_proba(a.reference_features), a.reference_proba, atol=1e-12)
    assert set(a.cv_stages) == set(meta["training"]["nights"]) and not b.cv_stages


def test_evaluate_features_last_line(shared_datasets: Path, tmp_path: Path, capsys) -> None:
    data = _mini_sleepedf(shared_datasets, tmp_path / "sedf", ["SC4001E0", "SC4092E0"])
    model = StagingModel.load("stager_fpz")
    model.meta["training"]["nights"] = [n for n in model.meta["training"]["nights"] if n != "SC4092E0"]
    model.save(tmp_path / "m")  # the same model, as if SC4092E0 had not been trained on
    assert main(["evaluate", "--features", str(data), "--model", str(tmp_path / "m.npz")]) == 0
    out = capsys.readouterr().out.strip().splitlines()
    assert out[-1].startswith("pooled: accuracy=") and " kappa=" in out[-1] and " macro_f1=" in out[-1]
    assert any(s.startswith("SC4092E0 (shipped model) [never seen in training]") for s in out)
    assert any(s.startswith("SC4001E0 (shipped model) [seen in training]") for s in out)
    assert any("random start 0-3 h before onset" in s and "first hour (cold start)" in s for s in out)
    # the honest per-night figures: stages predicted while the night's subject was held out
    held = [s for s in out if s.startswith("SC4001E0 (CV, subject 0 held out)")]
    assert held and 0.6 < float(held[0].split("accuracy=")[1].split()[0]) < 1.0
    assert any(s.startswith("pooled CV, first hour of each night only") for s in out)
    acc = float(out[-1].split("accuracy=")[1].split()[0])
    assert acc > 0.7  # one night the model was fitted on; honest figures are the CV ones


def test_evaluate_dreams(shared_datasets: Path, capsys) -> None:
    assert main(["evaluate", "--dreams", str(shared_datasets / "dreams-spindles")]) == 0
    out = capsys.readouterr().out.strip().splitlines()
    assert out[-1].startswith("pooled: accuracy=") and sum(s.startswith("excerpt") for s in out) == 8


def test_stage_dreams_edf(shared_datasets: Path, tmp_path: Path, capsys) -> None:
    out_csv = tmp_path / "ex3.csv"
    # excerpt3 is stored at 50 Hz: refused with the rate and what to do, exit 1 (issue 13)
    assert main(["stage", str(shared_datasets / "dreams-spindles" / "excerpt3.edf"), "-o", str(out_csv)]) == 1
    err = capsys.readouterr().err
    assert "sampled at 50 Hz, below the 100 Hz staging needs" in err and "Record at 100 Hz or more" in err
    mne = pytest.importorskip("mne")
    raw = mne.io.read_raw_edf(shared_datasets / "dreams-spindles" / "excerpt3.edf", preload=True, verbose="error")
    up = tmp_path / "ex3_100hz.edf"
    mne.export.export_raw(up, raw.resample(100.0, verbose="error"), fmt="edf", verbose="error")
    assert main(["stage", str(up), "-o", str(out_csv)]) == 0
    text = capsys.readouterr().out
    assert "FP1-A1" in text and str(out_csv) in text
    rows = out_csv.read_text().strip().splitlines()
    assert rows[0] == "epoch,onset,stage,p_W,p_N1,p_N2,p_N3,p_REM,quality"
    assert len(rows) == 1 + 60
    first = rows[1].split(",")
    assert first[0] == "0" and first[2] in {"W", "N1", "N2", "N3", "REM", "?"}


def test_stage_generated_edf_beside_input(tmp_path: Path, capsys) -> None:
    mne = pytest.importorskip("mne")
    sfreq = 256.0
    rng = np.random.default_rng(0)
    x = rng.standard_normal((2, int(sfreq * 150))) * 20e-6
    x[1, int(sfreq * 60) : int(sfreq * 90)] = 0.0  # a dead stretch on the second channel
    raw = mne.io.RawArray(x, mne.create_info(["Fpz", "Pz"], sfreq, "eeg"), verbose="error")
    edf = tmp_path / "night.edf"
    mne.export.export_raw(edf, raw, fmt="edf", verbose="error")
    assert main(["stage", str(edf), "--eeg", "Fpz,Pz"]) == 0
    rows = (tmp_path / "night.hypnogram.csv").read_text().strip().splitlines()
    assert len(rows) == 1 + 5
    assert rows[3].split(",")[2] == "?" and "flat" in rows[3]
    assert "night.hypnogram.csv" in capsys.readouterr().out


def test_stage_errors(tmp_path: Path) -> None:
    from dreamband.session.cohort import run_stage

    with pytest.raises(FileNotFoundError):
        run_stage(argparse.Namespace(paths=[str(tmp_path / "none.edf")], output=None, channels=None, model=None))


def test_sleepedf_loader_errors(tmp_path: Path) -> None:
    with pytest.raises(FileNotFoundError, match="sleep-edf"):
        load_sleepedf_features(tmp_path)


@pytest.mark.parametrize("use_hmm", [None, True])
@pytest.mark.parametrize("n_ch", [1, 2])
def test_batch_path_equals_live_path(use_hmm: bool | None, n_ch: int) -> None:
    """The offline batch path gives exactly what the live, chunk-by-chunk path gives (both shipped models)."""
    sfreq = 200.0
    rng = np.random.default_rng(4)
    t = np.arange(int(sfreq * 30 * 14)) / sfreq
    slow = 1.0 + 0.9 * np.sin(2 * np.pi * t / 240.0)
    x = np.vstack([20 * rng.standard_normal(t.size) + 40 * slow * np.sin(2 * np.pi * 1.2 * t),
                   15 * rng.standard_normal(t.size) + 10 * np.sin(2 * np.pi * 10 * t)])
    x[0, int(sfreq * 95) : int(sfreq * 130)] = np.nan  # lost: epoch 3 unstaged, 4 partly lost
    x[1, int(sfreq * 200) : int(sfreq * 300)] = 1.0  # flat second channel
    x, names = x[:n_ch], ["Fpz", "Pz"][:n_ch]
    live = stage_signal(x, sfreq, names, use_hmm=use_hmm)
    batch = stage_signal_batch(x, sfreq, names, use_hmm=use_hmm)
    assert len(live) == len(batch) == 14
    assert [s.result.stage for s in live] == [s.result.stage for s in batch]
    assert sum(s.result.stage == -1 for s in live) >= (3 if n_ch == 2 else 1)
    for a, b in zip(live, batch, strict=True):
        np.testing.assert_allclose(a.result.probabilities, b.result.probabilities, rtol=0, atol=1e-12)
        assert a.result.reasons == b.result.reasons and a.quality.status == b.quality.status
        np.testing.assert_array_equal(a.epoch.staging_v, b.epoch.staging_v)
        assert a.result.features == b.result.features
