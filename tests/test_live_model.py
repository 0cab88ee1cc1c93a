"""Issue 12 (j): `--model` on live and replay picks a model; the montage decides which channels feed it."""

from __future__ import annotations

import re

import pytest

from dreamband.cli import build_parser, main
from dreamband.session.live import build_engine


@pytest.fixture(scope="module")
def night_edf(tmp_path_factory):
    path = tmp_path_factory.mktemp("night") / "night.edf"
    assert main(["simulate", str(path), "--hours", "0.1", "--seed", "3"]) == 0
    return path


def test_replay_with_the_two_channel_model(night_edf, capsys):
    capsys.readouterr()
    assert main(["replay", str(night_edf), "--headless", "--model", "fpz+pz", "--status-every", "0"]) == 0
    out = capsys.readouterr().out
    assert re.search(r"staging from Fp1, Fp2", out), out[:400]  # before: n_channels=1 hard-coded
    staged = re.findall(r"^\s+\d+\s+\d:\d\d:\d\d\s+\S+\s+(W|N1|N2|N3|REM)\s", out, flags=re.M)
    assert len(staged) >= 8


def test_model_and_montage_choose_the_staging_channels(night_edf, tmp_path):
    cfg = tmp_path / "m.toml"
    cfg.write_text('[montage]\nstaging = ["F3", "Pz"]\n', encoding="utf-8")
    engine = build_engine(build_parser().parse_args(["replay", str(night_edf), "--model", "fpz"]), replay=True)
    try:
        assert engine.stager.n_channels == 1 and len(engine.staging_rows) == 1
    finally:
        engine.stop()
    engine = build_engine(build_parser().parse_args(["live", "--model", "fpz+pz", "--no-record"]))
    try:
        assert engine.stager.n_channels == 2
        assert [engine.channel_names[r] for r in engine.staging_rows] == ["Fz", "C3"]  # synthetic: frontal first
    finally:
        engine.stop()
    engine = build_engine(build_parser().parse_args(["live", "--model", "fpz+pz", "--no-record", "--config", str(cfg)]))
    try:
        assert [engine.channel_names[r] for r in engine.staging_rows] == ["F3", "Pz"]  # the montage decides
    finally:
        engine.stop()
    with pytest.raises(FileNotFoundError, match="shipped model: fpz, fpz\\+pz"):
        build_engine(build_parser().parse_args(["live", "--model", str(tmp_path / "nope")]))
