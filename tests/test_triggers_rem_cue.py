"""REM cues: stable REM, interval, stop at once on arousal or W, cap per night."""

from __future__ import annotations

import datetime as dt

from dreamband.session.events import EpochStaged
from dreamband.session.settings import RemCueSettings
from dreamband.session.state import NightState
from dreamband.session.triggers import StopRequest
from dreamband.session.triggers.rem_cue import RemCue
from dreamband.signal.detectors import ArousalReading
from dreamband.signal.stages import N2, REM, UNSTAGED, W

START = dt.datetime(2026, 1, 1, 23, 0, tzinfo=dt.timezone.utc)


def epoch(k, s, ok=True):
    return EpochStaged(time=(k + 1) * 30.0, epoch_index=k, onset=k * 30.0, stage=s, confidence=0.8,
                       quality_ok=ok and s != UNSTAGED)


def run(stages, settings, ok=None, tick_s=1.0):
    """Epochs with ticks every ``tick_s`` of data time in between."""
    st = NightState(START, persistent_sleep_min=5)
    pol = RemCue(settings)
    out = []
    for k, s in enumerate(stages):
        t0 = k * 30.0
        t = t0 + tick_s
        while t < t0 + 30.0 - 1e-9:
            out += pol.on_tick(t, st)
            t += tick_s
        ev = epoch(k, s, True if ok is None else ok[k])
        st.update(ev)
        out += pol.on_epoch(ev, st)
        out += pol.on_tick((k + 1) * 30.0, st)
    return out, pol, st


def cues(out):
    return [e for e in out if not isinstance(e, StopRequest)]


def test_cues_every_interval_in_stable_rem_only():
    s = RemCueSettings(enabled=True, stable_rem_s=120, interval_s=20)
    out, pol, _ = run([N2] * 12 + [REM] * 10, s)
    c = cues(out)
    # REM from 360 s; stable at the end of the 4th REM epoch (480 s); cues at 480, 500, ... < 660
    assert c[0].time == 480.0 and c[0].action == "cue" and c[0].intensity == s.intensity
    assert [e.time for e in c] == [480.0 + 20 * i for i in range(10)]


def test_cue_times_do_not_depend_on_chunking():
    s = RemCueSettings(stable_rem_s=60, interval_s=25)
    a, *_ = run([N2] * 12 + [REM] * 8, s, tick_s=1.0)
    b, *_ = run([N2] * 12 + [REM] * 8, s, tick_s=7.0)
    assert [e.time for e in cues(a)] == [e.time for e in cues(b)]


def test_stops_at_once_on_w_and_on_arousal():
    s = RemCueSettings(stable_rem_s=60, interval_s=10)
    out, pol, st = run([N2] * 12 + [REM] * 4 + [W], s)
    assert isinstance(out[-1], StopRequest) and "W" in out[-1].reason
    assert not pol.active and pol.on_tick(1e4, st) == []

    out, pol, st = run([N2] * 12 + [REM] * 4, s)
    assert pol.active
    r = ArousalReading(time=481.0, beta=1, emg=1, movement_g=0.3, beta_ratio=1.0, emg_ratio=1.0, clean=True,
                       baseline_ready=True)
    stop = pol.on_arousal(r, st)
    assert len(stop) == 1 and isinstance(stop[0], StopRequest) and "movement" in stop[0].reason
    assert pol.on_tick(600.0, st) == []  # no cue until REM is stable again


def test_cap_per_night_and_artefacts():
    out, pol, _ = run([N2] * 12 + [REM] * 30, RemCueSettings(stable_rem_s=30, interval_s=5, max_per_night=7))
    assert len(cues(out)) == 7
    stages = [N2] * 12 + [REM] * 10
    ok = [True] * 12 + [True, False] * 5  # every other REM epoch an artefact: never stable
    out, *_ = run(stages, RemCueSettings(stable_rem_s=60, interval_s=5), ok=ok)
    assert cues(out) == []


def test_not_before_persistent_sleep():
    out, *_ = run([REM] * 6, RemCueSettings(stable_rem_s=30, interval_s=5))
    # persistent sleep (5 min = 10 epochs) is never reached
    assert cues(out) == []
