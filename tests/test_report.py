"""dreamband report / trends / recover on session folders and real hypnograms."""

from __future__ import annotations

import datetime as dt
import os
import warnings

import numpy as np
import pytest

from dreamband.cli import main
from dreamband.firmware_bridge.chunk import StreamChunk
from dreamband.recordings.recorder import SessionRecorder, read_session_json
from dreamband.recordings.report import build_report, format_report
from dreamband.recordings.stats import YASA_KEYS
from dreamband.session.events import EpochStaged, TriggerFired

SF = 50.0
# 40 epochs = 20 min: W 4, N1 2, N2 14, N3 6, REM 8, W 2, N2 4
STAGES = [0] * 4 + [1] * 2 + [2] * 14 + [3] * 6 + [4] * 8 + [0] * 2 + [2] * 4


def _session(parent, day=1, crash=False, stages=STAGES):
    start = dt.datetime(2024, 3, day, 23, 0, tzinfo=dt.timezone(dt.timedelta(hours=1)))
    rec = SessionRecorder(parent, {"sfreq": SF, "channel_names": ["Fpz", "EOG"], "channel_types": ["eeg", "eog"],
                                   "start_time": start, "board": "sleeper"})
    rng = np.random.default_rng(day)
    n_ep = int(30 * SF)
    for k, stage in enumerate(stages):
        t = (np.arange(n_ep) + k * n_ep) / SF
        alpha = 20 * np.sin(2 * np.pi * 10 * t) if stage == 0 else 60 * np.sin(2 * np.pi * 1.5 * t)
        data = np.vstack([alpha + rng.normal(0, 5, n_ep), rng.normal(0, 5, n_ep)])
        rec.write_chunk(StreamChunk(data, t, np.zeros(n_ep), k * n_ep))
        probs = np.full(5, 0.05)
        probs[stage] = 0.8
        rec.write_event(EpochStaged(time=(k + 1) * 30.0, epoch_index=k, onset=k * 30.0, stage=stage,
                                    probabilities=tuple(probs), confidence=0.8))
    rec.write_event(TriggerFired(time=33 * 30.0, policy="dream_report", action="sound", intensity=0.3,
                                 reason="8 min of REM", evidence={"rem_min": 8}))
    if crash:
        os.pwrite(rec.bdf._fd, b"\x01\x02\x03" * 7, os.fstat(rec.bdf._fd).st_size)  # a torn record
        (rec.folder / ".recording.lock").write_text("999999")
        return rec.folder
    rec.close()
    return rec.folder


def test_report_of_a_session_folder(tmp_path, capsys):
    folder = _session(tmp_path)
    assert main(["report", str(folder)]) == 0
    out = capsys.readouterr().out
    assert "Total sleep time" in out and "dream_report -> sound" in out
    assert "23:16  dream_report" in out  # trigger at 990 s after 23:00, in the session's own zone
    html = (folder / "report.html").read_text()
    assert "data:image/png;base64," in html and "dream_report" in html and "<img" in html
    png = (folder / "report.png").read_bytes()
    assert png[:8] == b"\x89PNG\r\n\x1a\n" and len(png) > 10_000
    r = build_report(folder)
    assert r.channel == "Fpz" and len(r.triggers) == 1 and r.stages.tolist() == STAGES
    assert r.stats["TST"] == pytest.approx(17.0) and r.stats["REM_periods"] == 1
    assert r.clock(0) == "23:00"


def test_report_matches_yasa_on_real_night(shared_datasets, tmp_path, capsys):
    yasa = pytest.importorskip("yasa")
    f = shared_datasets / "sleep-edf" / "hypnograms" / "SC4001EC-Hypnogram.edf"
    r = build_report(f)
    with warnings.catch_warnings():
        warnings.simplefilter("ignore")
        ref = yasa.sleep_statistics(r.stages, sf_hyp=1 / 30)
    for k in YASA_KEYS:
        assert r.stats[k] == pytest.approx(ref[k], nan_ok=True), k
    assert r.start_time.strftime("%H:%M") == "16:13"
    assert main(["report", str(f), "-o", str(tmp_path)]) == 0
    assert (tmp_path / "SC4001EC-Hypnogram.report.html").exists()
    assert f"{ref['TST']:.1f}" in capsys.readouterr().out


def test_report_errors(tmp_path, capsys):
    assert main(["report", str(tmp_path / "missing")]) == 2
    empty = SessionRecorder(tmp_path, {"sfreq": 10.0, "channel_names": ["Fpz"], "channel_types": ["eeg"]})
    empty.close()
    assert main(["report", str(empty.folder)]) == 2
    assert "no staged epochs" in capsys.readouterr().err
    junk = tmp_path / "x.txt"
    junk.write_text("hello\nworld\n")
    with pytest.raises(ValueError, match="no sleep stages"):
        build_report(junk)


def test_recover_verb_and_report_of_crashed_session(tmp_path, capsys):
    folder = _session(tmp_path, crash=True)
    assert main(["recover", str(folder)]) == 0
    assert "Recovered" in capsys.readouterr().out
    assert read_session_json(folder)["state"] == "recovered" and (folder / "session.bdf").exists()
    r = build_report(folder)
    assert "recovered" in format_report(r)


def test_trends(tmp_path, capsys):
    for day, stages in ((3, STAGES), (1, STAGES[:30]), (2, [0] * 10 + STAGES)):
        _session(tmp_path, day=day, stages=stages)
    SessionRecorder(tmp_path, {"sfreq": 10.0, "channel_names": ["Fpz"], "channel_types": ["eeg"]}).close()
    assert main(["trends", str(tmp_path)]) == 0
    out = capsys.readouterr().out
    lines = [ln for ln in out.splitlines() if ln.startswith("2024-03-0")]
    assert [ln[:10] for ln in lines] == ["2024-03-01", "2024-03-02", "2024-03-03"]
    assert "skipped" in out
    csv_text = (tmp_path / "trends.csv").read_text().splitlines()
    assert len(csv_text) == 4 and csv_text[0].startswith("session,start_time,TIB,TST")
    assert (tmp_path / "trends.png").read_bytes()[:4] == b"\x89PNG"
    assert main(["trends", str(tmp_path / "nothing")]) == 2
