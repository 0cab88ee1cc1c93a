"""Safety: max session length always wakes, signal lost for N min, cannot be disabled silently."""

from __future__ import annotations

import datetime as dt

import pytest

from dreamband.session.settings import SafetySettings, SessionSettings
from dreamband.session.state import NightState
from dreamband.session.triggers.safety import Safety

START = dt.datetime(2026, 1, 1, 23, 0, tzinfo=dt.timezone.utc)


def test_max_length_fires_once_at_the_exact_time():
    pol = Safety(SafetySettings(max_hours=1.0))
    st = NightState(START)
    assert pol.on_tick(3599.0, st) == []
    out = pol.on_tick(3605.0, st)
    assert len(out) == 1 and out[0].policy == "safety_max_length" and out[0].time == 3600.0
    assert pol.on_tick(7200.0, st) == []


def test_signal_lost_alarm_after_n_minutes_once_per_episode():
    pol = Safety(SafetySettings(signal_lost_min=2.0))
    st = NightState(START)
    st.update_quality("Fp1", "off-head", 100.0, ["Fp1"])
    assert pol.on_tick(200.0, st) == []
    out = pol.on_tick(230.0, st)
    assert len(out) == 1 and out[0].policy == "safety_signal_lost" and out[0].time == 220.0
    assert out[0].evidence["off_head"] is True
    assert pol.on_tick(400.0, st) == []
    st.update_quality("Fp1", "good", 500.0, ["Fp1"])
    assert pol.on_tick(800.0, st) == []
    st.update_stream("dropout", 900.0)
    out = pol.on_tick(1100.0, st)
    assert len(out) == 1 and out[0].evidence["lost_since"] == 900.0


def test_safety_cannot_be_disabled_silently():
    with pytest.raises(ValueError, match="silently"):
        SafetySettings(disable_max_length=True)
    with pytest.raises(ValueError, match="confirm_disable"):
        SafetySettings(enabled=False)
    with pytest.raises(ValueError, match="silently"):
        SessionSettings.from_dict({"triggers": {"safety": {"disable_signal_lost": True}}})
    s = SafetySettings(disable_max_length=True, confirm_disable=True, max_hours=1)
    pol = Safety(s)
    assert pol.on_tick(1e5, NightState(START)) == []
    notes = pol.disabled_notes()
    assert len(notes) == 1 and "DISABLED" in notes[0] and "maximum session length" in notes[0]


def test_triggers_list_never_turns_safety_off():
    s = SessionSettings.from_dict({"triggers": {"enabled": ["rem_cue"]}})
    assert s.triggers.safety.enabled and s.triggers.rem_cue.enabled and not s.triggers.smart_alarm.enabled
