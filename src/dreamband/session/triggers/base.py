"""The base of every trigger policy (:class:`Policy`), :class:`StopRequest` and the
:func:`usable` rule; the policies import it, and the package re-exports it."""

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
