"""Dream report: N1 at sleep onset, end of a long REM period, caps, interval, artefacts."""

from __future__ import annotations

import datetime as dt

from dreamband.session.events import EpochStaged
from dreamband.session.settings import DreamReportSettings
from dreamband.session.state import NightState
from dreamband.session.triggers.dream_report import DreamReport
from dreamband.signal.stages import N1, N2, REM, UNSTAGED, W

START = dt.datetime(2026, 1, 1, 23, 0, tzinfo=dt.timezone.utc)


def run(stages, settings=None, ok=None):
    st = NightState(START)
    pol = DreamReport(settings or DreamReportSettings(enabled=True))
    fired = []
    for k, s in enumerate(stages):
        good = True if ok is None else ok[k]
        ev = EpochStaged(time=(k + 1) * 30.0, epoch_index=k, onset=k * 30.0, stage=s, confidence=0.6,
                         quality_ok=good and s != UNSTAGED)
        st.update(ev)
        fired += pol.on_epoch(ev, st)
    return fired


def test_onset_mode_after_x_seconds_of_n1():
    fired = run([W] * 10 + [N1] * 5, DreamReportSettings(onset_n1_s=90, after_rem=False))
    assert len(fired) == 1
    assert fired[0].time == 13 * 30.0  # N1 from 300 s; 90 s of N1 at the end of epoch 12
    assert fired[0].evidence["mode"] == "onset"
    assert fired[0].evidence["prompt"] == DreamReportSettings().prompt and fired[0].evidence["n1_s"] == 90.0


def test_onset_mode_interrupted_run_does_not_fire():
    assert run([W] * 4 + [N1, N1, W, N1, N1, W], DreamReportSettings(onset_n1_s=90)) == []


def test_onset_mode_only_before_persistent_sleep():
    stages = [N2] * 25 + [N1] * 6  # persistent sleep reached at epoch 19
    assert run(stages, DreamReportSettings(onset_n1_s=60, after_rem=False)) == []


def test_cap_and_min_interval():
    stages = ([W] * 2 + [N1] * 3) * 10
    fired = run(stages, DreamReportSettings(onset_n1_s=60, max_per_night=3, min_interval_s=0, after_rem=False))
    assert len(fired) == 3
    fired = run(stages, DreamReportSettings(onset_n1_s=60, max_per_night=10, min_interval_s=400, after_rem=False))
    times = [e.time for e in fired]
    assert all(b - a >= 400 for a, b in zip(times, times[1:], strict=False)) and len(times) < 10


def test_rem_end_mode_needs_long_enough_period():
    sleep = [N2] * 30
    long_rem = sleep + [REM] * 22 + [N2, N2] + [N2] * 3  # 11 min of REM
    fired = run(long_rem, DreamReportSettings(rem_min_minutes=10, at_onset=False))
    assert len(fired) == 1 and fired[0].evidence["mode"] == "rem_end"
    assert fired[0].time == (30 + 22 + 2) * 30.0  # the REM end is confirmed at the 2nd non-REM epoch
    assert fired[0].evidence["rem_min"] == 11.0
    short_rem = sleep + [REM] * 10 + [N2] * 5
    assert run(short_rem, DreamReportSettings(rem_min_minutes=10, at_onset=False)) == []


def test_no_report_on_artefact_epoch():
    stages = [N2] * 30 + [REM] * 22 + [N2, N2] + [N2] * 3
    ok = [True] * len(stages)
    ok[53] = False  # the epoch that confirms the REM end is an artefact
    assert run(stages, DreamReportSettings(at_onset=False), ok=ok) == []
