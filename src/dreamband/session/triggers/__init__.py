"""Wake-trigger policies: each a small, deterministic function of the event stream.

A policy sees staged epochs (``on_epoch(epoch, state)``), the passing of data time
(``on_tick(time, state)``) and arousal readings (``on_arousal(reading, state)``) and returns
:class:`~dreamband.session.events.TriggerFired` events (and :class:`StopRequest` to end its own
running action at once). Policies never look at the wall clock: ``time`` is session seconds.

Rule shared by all but safety: nothing fires on an epoch that quality marked as artefact or
off-head (``quality_ok`` false or stage unstaged), nor while the signal is lost.
"""

from __future__ import annotations

from typing import Any

from dreamband.session.triggers.base import Policy, StopRequest, usable
from dreamband.session.triggers.dream_report import DreamReport
from dreamband.session.triggers.nightmare import NightmareWake
from dreamband.session.triggers.rem_cue import RemCue
from dreamband.session.triggers.safety import Safety
from dreamband.session.triggers.smart_alarm import SmartAlarm


def build_policies(triggers: Any) -> dict[str, Policy]:
    """Return ``{name: policy}`` for every policy, built from a ``TriggerSettings``."""
    return {
        "smart_alarm": SmartAlarm(triggers.smart_alarm),
        "nightmare_wake": NightmareWake(triggers.nightmare_wake),
        "dream_report": DreamReport(triggers.dream_report),
        "rem_cue": RemCue(triggers.rem_cue),
        "safety": Safety(triggers.safety),
    }


__all__ = ["Policy", "StopRequest", "build_policies", "usable"]
