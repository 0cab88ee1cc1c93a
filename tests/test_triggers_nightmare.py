"""Nightmare wake: arousal in REM sustained N s, cool-down, evidence, artefact suppression."""

from __future__ import annotations

import datetime as dt

from dreamband.session.events import EpochStaged
from dreamband.session.settings import NightmareWakeSettings
from dreamband.session.state import NightState
from dreamband.session.triggers.nightmare import NightmareWake
from dreamband.signal.detectors import ArousalReading
from dreamband.signal.stages import N2, REM, UNSTAGED

START = dt.datetime(2026, 1, 1, 23, 0, tzinfo=dt.timezone.utc)
NAN = float("nan")


def reading(t, beta=1.0, emg=1.0, move=NAN, clean=True):
    return ArousalReading(time=t, beta=10.0 * beta, emg=1.0 * emg, movement_g=move, beta_ratio=beta,
                          emg_ratio=emg, clean=clean, baseline_ready=True)


def asleep_in(stage, n_rem=4, ok=True):
    st = NightState(START, persistent_sleep_min=5)
    stages = [N2] * 10 + [stage] * n_rem
    for k, s in enumerate(stages):
        st.update(EpochStaged(time=(k + 1) * 30.0, epoch_index=k, onset=k * 30.0, stage=s, confidence=0.7,
                              quality_ok=ok and s != UNSTAGED))
    return st


def feed(pol, st, readings):
    out = []
    for r in readings:
        out += pol.on_arousal(r, st)
    return out


def test_sustained_beta_rise_in_rem_fires_once_with_evidence():
    st = asleep_in(REM)
    pol = NightmareWake(NightmareWakeSettings(enabled=True, beta_ratio=2.0, sustain_s=10, cooldown_s=600))
    calm = [reading(420 + i) for i in range(5)]
    rise = [reading(425 + i, beta=3.0) for i in range(15)]
    out = feed(pol, st, calm + rise)
    assert len(out) == 1
    # the REM period must have lasted min_rem_s (default 60 s): one REM epoch is not enough
    assert feed(NightmareWake(NightmareWakeSettings(beta_ratio=2.0, sustain_s=10)), asleep_in(REM, n_rem=1), rise) == []
    ev = out[0]
    assert ev.policy == "nightmare_wake" and ev.action == "wake"
    assert ev.time == 435.0  # 10 s after the first aroused reading at 425 s
    assert ev.evidence["criteria"] == ["beta"]
    assert ev.evidence["beta_ratio_max"] == 3.0 and ev.evidence["sustained_s"] == 10.0
    assert ev.evidence["thresholds"]["beta_ratio"] == 2.0


def test_short_rise_does_not_fire_and_a_gap_restarts_the_count():
    st = asleep_in(REM)
    pol = NightmareWake(NightmareWakeSettings(sustain_s=10, emg_ratio=3.0))
    rs = [reading(500 + i, emg=5.0) for i in range(8)] + [reading(508)] + [reading(509 + i, emg=5.0) for i in range(8)]
    assert feed(pol, st, rs) == []


def test_cooldown_between_firings():
    st = asleep_in(REM)
    pol = NightmareWake(NightmareWakeSettings(sustain_s=5, cooldown_s=100))
    out = feed(pol, st, [reading(500 + i, move=0.2) for i in range(60)])
    assert [e.time for e in out] == [505.0]  # the run continues but the cool-down holds
    out = feed(pol, st, [reading(600 + i, move=0.2) for i in range(10)])
    assert [e.time for e in out] == [605.0]
    assert out[0].evidence["criteria"] == ["movement"]


def test_not_outside_rem_nor_on_artefacts():
    pol = NightmareWake(NightmareWakeSettings(sustain_s=5))
    assert feed(pol, asleep_in(N2), [reading(500 + i, beta=5) for i in range(20)]) == []
    assert feed(pol, asleep_in(REM, ok=False), [reading(500 + i, beta=5) for i in range(20)]) == []
    # unclean readings (huge amplitude, lost samples) never count
    assert feed(pol, asleep_in(REM), [reading(500 + i, beta=5, clean=False) for i in range(20)]) == []
    # baseline not ready: ratios NaN
    assert feed(pol, asleep_in(REM), [reading(500 + i, beta=NAN, emg=NAN) for i in range(20)]) == []
