"""Gentle actions: ramp, stop on W, escalate, cues, outputs (marker, notify, sound recorded, command)."""

from __future__ import annotations

import os
import sys

import numpy as np
import pytest

from dreamband.session.actions import ActionManager, make_tone
from dreamband.session.events import (
    ActionUpdate,
    EpochStaged,
    LogMessage,
    MarkerInserted,
    TriggerFired,
)
from dreamband.session.settings import ActionSettings
from dreamband.signal.stages import N2, W


class MarkerSink:
    """The one thing the marker output needs from a source: insert_marker."""

    def __init__(self):
        self.values = []

    def insert_marker(self, value):
        self.values.append(value)


def updates(events):
    return [(e.time, e.phase, e.intensity) for e in events if isinstance(e, ActionUpdate)]


def wake(t=100.0, policy="smart_alarm"):
    return TriggerFired(time=t, policy=policy, action="wake", intensity=0.1, reason="test")


def ep(t, stage, ok=True):
    return EpochStaged(time=t, epoch_index=int(t // 30) - 1, onset=t - 30, stage=stage, quality_ok=ok)


def test_ramp_10_to_100_percent_over_a_minute_then_escalate_then_give_up():
    s = ActionSettings(outputs=["log"], ramp_s=60, step_s=10, escalate_after_s=120, escalate_every_s=60,
                       max_escalations=2)
    am = ActionManager(s)
    ev = am.start(wake())
    ev += am.on_tick(500.0)
    u = updates(ev)
    assert u[0] == (100.0, "start", 0.1)
    ramp = [x for x in u if x[1] == "ramp"]
    assert [x[0] for x in ramp] == [110, 120, 130, 140, 150, 160]
    assert ramp[-1][2] == 1.0 and ramp[0][2] == pytest.approx(0.25)
    assert np.all(np.diff([x[2] for x in ramp]) > 0)
    esc = [x for x in u if x[1] == "escalate"]
    assert [x[0] for x in esc] == [220.0, 280.0]
    assert u[-1] == (340.0, "stop", 0.0)
    assert any(isinstance(e, LogMessage) and e.level == "warning" for e in ev)
    assert am.running == {}


def test_stops_as_soon_as_the_stager_sees_w():
    am = ActionManager(ActionSettings(outputs=["log"]))
    am.start(wake(100.0))
    am.on_tick(125.0)
    assert am.on_epoch(ep(120.0, N2)) == []
    assert am.on_epoch(ep(150.0, W, ok=False)) == []  # an artefact W does not count
    out = am.on_epoch(ep(150.0, W))
    assert updates(out) == [(150.0, "stop", 0.0)]
    assert am.on_tick(1000.0) == []


def test_w_epoch_that_ended_before_the_wake_does_not_stop_it():
    am = ActionManager(ActionSettings(outputs=["log"]))
    am.start(wake(100.0))
    assert am.on_epoch(ep(90.0, W)) == []
    assert "smart_alarm" in am.running


def test_cue_is_a_short_low_pulse():
    am = ActionManager(ActionSettings(outputs=["log"], cue_s=3))
    out = am.start(TriggerFired(time=10.0, policy="rem_cue", action="cue", intensity=0.15))
    out += am.on_tick(20.0)
    assert updates(out) == [(10.0, "cue", 0.15), (13.0, "stop", 0.0)]


def test_marker_notify_and_recorded_sound():
    src = MarkerSink()
    am = ActionManager(ActionSettings(outputs=["marker", "notify", "sound"]), source=src, play_sound=False)
    out = am.start(wake(50.0, "nightmare_wake"))
    out += am.stop("nightmare_wake", 70.0, "done")
    assert src.values == [2.0, 12.0]
    assert [e.value for e in out if isinstance(e, MarkerInserted)] == [2.0, 12.0]
    assert any(isinstance(e, LogMessage) and e.level == "notify" for e in out)
    snd = am.outputs["sound"]
    assert snd.play is False and snd.recorded[0][:3] == (50.0, "nightmare_wake", 0.1)


def test_tone():
    x = make_tone(0.5, duration_s=0.2, rate=8000)
    assert x.shape == (1600,) and x.dtype == np.float32
    assert abs(x).max() <= 0.5 + 1e-6 and x[0] == 0.0


@pytest.mark.skipif(sys.platform == "win32", reason="POSIX shell")
def test_command_gets_the_intensity(tmp_path):
    out = tmp_path / "out.txt"
    am = ActionManager(ActionSettings(outputs=["command"], command=f'echo "$DREAMBAND_POLICY $DREAMBAND_PHASE $DREAMBAND_INTENSITY" >> {out}'))
    am.start(wake(0.0))
    am.on_tick(10.0)
    am.outputs["command"].wait()
    lines = sorted(out.read_text().split("\n")[:-1])
    assert lines == sorted(["smart_alarm start 0.10", "smart_alarm ramp 0.25"])
    am.close()


def test_test_fire_and_bad_input():
    am = ActionManager(ActionSettings(outputs=["log", "notify"]))
    out = am.test_fire("notify", 0.4, 5.0)
    assert updates(out) == [(5.0, "test", 0.4)]
    assert am.outputs["log"].history == []
    with pytest.raises(ValueError, match="not enabled"):
        am.test_fire("sound", 0.4, 5.0)
    with pytest.raises(ValueError, match="0..1"):
        am.test_fire("all", 1.5, 5.0)
    with pytest.raises(ValueError, match="Unknown action"):
        ActionSettings(outputs=["light"])
    with pytest.raises(ValueError, match="needs a command"):
        ActionSettings(outputs=["command"])


def test_no_sound_device_on_ci(monkeypatch):
    from dreamband.session.actions import sound_device_available

    monkeypatch.setitem(os.environ, "CI", "1")
    assert sound_device_available() is False
