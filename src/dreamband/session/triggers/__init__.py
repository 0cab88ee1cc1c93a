"""Wake-trigger policies: each a small, deterministic function of the event stream.

A policy sees staged epochs (``on_epoch(epoch, state)``), the passing of data time
(``on_tick(time, state)``) and arousal readings (``on_arousal(reading, state)``) and returns
:class:`~dreamband.session.events.TriggerFired` events (and :class:`StopRequest` to end its own
running action at once). Policies never look at the wall clock: ``time`` is session seconds.

Rule shared by all but safety: nothing fires on an epoch that quality marked as artefact or
off-head (``quality_ok`` false or stage unstaged), nor while the signal is lost.
"""

from __future__ import annotations

from dataclasses import dataclass
from typing import Any, ClassVar

from dreamband.session.events import TriggerFired
from dreamband.signal.stages import UNSTAGED


@dataclass(frozen=True)
class StopRequest:
    """A policy asks the actions to stop what it started (e.g. REM cues on arousal)."""

    time: float
    policy: str
    reason: str


def usable(epoch: Any) -> bool:
    """True when an epoch was staged and quality did not mark it artefact/off-head."""
    return bool(getattr(epoch, "quality_ok", True)) and int(epoch.stage) != UNSTAGED


class Policy:
    """Base of the trigger policies.

    Attributes
    ----------
    name : str
        Policy name used in settings, events and ``SessionEngine.set_policy_enabled``.
    safety : bool
        Safety policies fire on artefact epochs too and cannot be disabled silently.
    enabled : bool
    fired : list of TriggerFired
        Everything this policy fired so far.
    """

    name: ClassVar[str] = "policy"
    safety: ClassVar[bool] = False

    def __init__(self, settings: Any) -> None:
        self.settings = settings
        self.enabled: bool = bool(getattr(settings, "enabled", True))
        self.fired: list[TriggerFired] = []

    def on_epoch(self, epoch: Any, state: Any) -> list[Any]:
        """React to a staged epoch (``EpochStaged``) after ``state`` took it."""
        return []

    def on_tick(self, time: float, state: Any) -> list[Any]:
        """React to data time passing (called after every chunk)."""
        return []

    def on_arousal(self, reading: Any, state: Any) -> list[Any]:
        """React to an arousal reading (``signal.detectors.ArousalReading``)."""
        return []

    def _fire(self, time: float, reason: str, evidence: dict | None = None, action: str = "wake",
              intensity: float | None = None, policy: str | None = None) -> TriggerFired:
        ev = TriggerFired(
            time=float(time), policy=policy or self.name, action=action,
            intensity=float(self.settings.intensity if intensity is None else intensity),
            reason=reason, evidence=dict(evidence or {}),
        )
        self.fired.append(ev)
        return ev


def build_policies(triggers: Any) -> dict[str, Policy]:
    """Return ``{name: policy}`` for every policy, built from a ``TriggerSettings``."""
    from dreamband.session.triggers.dream_report import DreamReport
    from dreamband.session.triggers.nightmare import NightmareWake
    from dreamband.session.triggers.rem_cue import RemCue
    from dreamband.session.triggers.safety import Safety
    from dreamband.session.triggers.smart_alarm import SmartAlarm

    return {
        "smart_alarm": SmartAlarm(triggers.smart_alarm),
        "nightmare_wake": NightmareWake(triggers.nightmare_wake),
        "dream_report": DreamReport(triggers.dream_report),
        "rem_cue": RemCue(triggers.rem_cue),
        "safety": Safety(triggers.safety),
    }


__all__ = ["Policy", "StopRequest", "build_policies", "usable"]
