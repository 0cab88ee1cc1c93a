"""The engine's control surface: what the console and a headless user may change while a night runs.

:class:`EngineControls` is a mixin of :class:`~dreamband.session.engine.SessionEngine` (moved out
of ``engine.py`` as is, so the engine keeps lifecycle, bus and sinks). Every method takes the
engine's lock, changes the pipeline's policies or the actions, and returns the events it
published. The host provides ``policies``, ``night``, ``actions``, ``source``, ``time``,
``_lock`` and ``_publish(events)``.
"""

from __future__ import annotations

import datetime as dt
from typing import Any

from dreamband.session.events import Event, LogMessage, MarkerInserted
from dreamband.session.settings import POLICY_NAMES


class EngineControls:
    """Thread-safe controls of a running session (policies, alarm window, test fire, markers)."""

    policies: dict[str, Any]
    night: Any
    actions: Any
    source: Any
    time: float
    _lock: Any

    def _publish(self, events: list[Event]) -> None:  # pragma: no cover - the engine's
        raise NotImplementedError

    def set_policy_enabled(self, name: str, on: bool, confirm: bool = False) -> list[Event]:
        """Switch a policy on or off; returns (and publishes) the ``LogMessage`` saying so.

        Safety (``"safety"``, ``"safety_max_length"``, ``"safety_signal_lost"``) can be switched
        off only with ``confirm=True``, and that is logged as a warning.
        """
        safety_parts = {"safety_max_length": "disable_max_length", "safety_signal_lost": "disable_signal_lost"}
        if name not in self.policies and name not in safety_parts:
            raise ValueError(f"Unknown policy {name!r}; choose from {', '.join(POLICY_NAMES)} "
                             "(or safety_max_length, safety_signal_lost).")
        with self._lock:
            is_safety = name == "safety" or name in safety_parts
            if is_safety and not on and not confirm:
                raise ValueError(f"{name} is a safety stop and cannot be switched off silently; "
                                 "call set_policy_enabled(name, False, confirm=True) to do it on purpose.")
            if name in safety_parts:
                setattr(self.policies["safety"].settings, safety_parts[name], not on)
            else:
                self.policies[name].enabled = bool(on)
            level = "warning" if is_safety and not on else "info"
            what = "ENABLED" if on else "DISABLED"
            msg = f"{'SAFETY: ' if is_safety else ''}{name.replace('_', ' ')} {what} by the user."
            evs: list[Event] = [LogMessage(self.time, level, msg)]
            self._publish(evs)
        return evs

    def set_alarm_window(self, start: str | dt.time | None, end: str | dt.time | None) -> list[Event]:
        """Set the smart-alarm window (``"06:30"``, ``"07:00"``) and enable the alarm; None, None clears it."""
        with self._lock:
            sa = self.policies["smart_alarm"]
            if start is None and end is None:
                sa.enabled = False
                evs: list[Event] = [LogMessage(self.time, "info", "Smart alarm switched off by the user.")]
            else:
                if start is None or end is None:
                    raise ValueError("Give both the start and the end of the alarm window (HH:MM).")
                sa.set_window(start, end)
                sa.enabled = True
                sa.done = False
                ws, we = sa.window_session_s(self.night)
                evs = [LogMessage(self.time, "info", f"Smart alarm window set to {sa.settings.window} "
                                  f"({self.night.wall_clock(ws):%a %H:%M} - {self.night.wall_clock(we):%a %H:%M}).")]
            self._publish(evs)
        return evs

    def test_fire(self, action: str = "all", intensity: float = 0.3) -> list[Event]:
        """Fire one action output (``log``, ``marker``, ``notify``, ``sound``, ``command`` or ``all``) once."""
        with self._lock:
            evs = self.actions.test_fire(action, float(intensity), self.time)
            self._publish(evs)
        return evs

    def insert_marker(self, value: float = 1.0, label: str = "user mark") -> list[Event]:
        """Put a marker into the stream now (``source.insert_marker``) and publish ``MarkerInserted``."""
        with self._lock:
            self.source.insert_marker(float(value))
            evs: list[Event] = [MarkerInserted(self.time, float(value), label)]
            self._publish(evs)
        return evs

    @property
    def alarm_window(self) -> str | None:
        """The smart-alarm window ``HH:MM-HH:MM`` when the alarm is on, else None."""
        sa = self.policies["smart_alarm"]
        return sa.settings.window if sa.enabled else None

    def policy_status(self) -> dict[str, bool]:
        """``{policy name: enabled}`` (safety parts listed separately)."""
        s = self.policies["safety"]
        out = {name: p.enabled for name, p in self.policies.items()}
        out["safety_max_length"] = s.enabled and not s.settings.disable_max_length
        out["safety_signal_lost"] = s.enabled and not s.settings.disable_signal_lost
        return out
