"""Safety stops, which cannot be switched off silently.

- **Maximum session length**: at ``max_hours`` of data time a wake fires (policy
  ``safety_max_length``), whatever the stages or the signal.
- **Signal lost**: when the headband has been off or the signal lost (``state.signal_lost``) for
  ``signal_lost_min`` minutes, an alarm fires (policy ``safety_signal_lost``); once per lost
  episode.
- Safety fires on artefact epochs too. Disabling one stop needs ``confirm_disable = true`` in the
  settings (``SafetySettings`` refuses otherwise) or ``SessionEngine.set_policy_enabled(...,
  confirm=True)``; both are logged as a warning :class:`LogMessage` by the engine
  (:meth:`Safety.disabled_notes`).
"""

from __future__ import annotations

from typing import Any

from dreamband.session.settings import SafetySettings
from dreamband.session.triggers.base import Policy


class Safety(Policy):
    """Safety policy (see the module docstring)."""

    name = "safety"
    safety = True

    def __init__(self, settings: SafetySettings | None = None) -> None:
        super().__init__(settings or SafetySettings())
        self._max_done = False
        self._lost_fired_for: float | None = None

    def disabled_notes(self) -> list[str]:
        """Sentences naming each safety stop that is switched off (for the session log)."""
        s = self.settings
        notes = []
        if not self.enabled:
            notes.append("SAFETY: all safety stops are DISABLED (maximum session length, signal-lost alarm).")
        else:
            if s.disable_max_length:
                notes.append(f"SAFETY: the maximum session length ({s.max_hours} h) is DISABLED by setting.")
            if s.disable_signal_lost:
                notes.append(f"SAFETY: the signal-lost alarm ({s.signal_lost_min} min) is DISABLED by setting.")
        return notes

    def on_tick(self, time: float, state: Any) -> list[Any]:
        s = self.settings
        out = []
        if not self._max_done and not s.disable_max_length and time >= s.max_hours * 3600.0:
            self._max_done = True
            out.append(self._fire(s.max_hours * 3600.0, f"maximum session length of {s.max_hours:g} h reached",
                                  {"max_hours": s.max_hours, "session_s": time}, policy="safety_max_length"))
        since = state.signal_lost_since if state.signal_lost else None
        if (since is not None and not s.disable_signal_lost and self._lost_fired_for != since
                and time - since >= s.signal_lost_min * 60.0):
            self._lost_fired_for = since
            at = since + s.signal_lost_min * 60.0
            out.append(self._fire(at, f"signal lost / headband off for {s.signal_lost_min:g} min",
                                  {"lost_since": since, "lost_min": s.signal_lost_min,
                                   "off_head": bool(state.off_head), "signal_lost_min": s.signal_lost_min},
                                  policy="safety_signal_lost"))
        return out
