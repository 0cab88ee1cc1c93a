"""REM cues for lucid dreaming: low-intensity cues every ``interval_s`` in stable REM.

- REM is *stable* once consecutive usable REM epochs cover ``stable_rem_s`` seconds (from the
  first REM epoch's onset to the last one's end), after persistent sleep onset.
- While stable, ``on_tick`` fires a cue (action ``"cue"``, ``intensity``) every ``interval_s``
  of data time, the first one at once.
- It stops at once (a :class:`StopRequest` for the running cue, and no more cues until REM is
  stable again from scratch) on an arousal reading over any ``arousal_*`` threshold, on a W epoch,
  on any non-REM epoch, an artefact epoch or a lost signal.
- At most ``max_per_night`` cues.
"""

from __future__ import annotations

from typing import Any

from dreamband.session.settings import RemCueSettings
from dreamband.session.triggers.base import Policy, StopRequest, usable
from dreamband.signal.stages import REM, STAGE_NAMES


class RemCue(Policy):
    """REM-cue policy (see the module docstring)."""

    name = "rem_cue"

    def __init__(self, settings: RemCueSettings | None = None) -> None:
        super().__init__(settings or RemCueSettings())
        self._rem_start: float | None = None
        self.active = False
        self._last: float | None = None
        self._next = 0.0

    @property
    def count(self) -> int:
        """Cues fired so far."""
        return len(self.fired)

    def _halt(self, time: float, reason: str) -> list[Any]:
        was = self.active
        self.active = False
        self._rem_start = None
        self._last = None
        return [StopRequest(float(time), self.name, reason)] if was else []

    def on_epoch(self, epoch: Any, state: Any) -> list[Any]:
        t = float(epoch.time)
        if not usable(epoch) or state.signal_lost:
            return self._halt(t, "artefact or signal lost")
        if int(epoch.stage) != REM:
            return self._halt(t, f"{STAGE_NAMES[int(epoch.stage)]} epoch: REM is over")
        if self._rem_start is None:
            self._rem_start = float(epoch.onset)
        if not self.active and state.asleep and t - self._rem_start >= self.settings.stable_rem_s - 1e-9:
            self.active = True
            self._next = t
        return []

    def on_arousal(self, reading: Any, state: Any) -> list[Any]:
        if not (self.active or self._rem_start is not None):
            return []
        s = self.settings
        hits = []
        if reading.beta_ratio == reading.beta_ratio and reading.beta_ratio >= s.arousal_beta_ratio:
            hits.append(f"beta x{reading.beta_ratio:.1f}")
        if reading.emg_ratio == reading.emg_ratio and reading.emg_ratio >= s.arousal_emg_ratio:
            hits.append(f"EMG x{reading.emg_ratio:.1f}")
        if reading.movement_g == reading.movement_g and reading.movement_g >= s.arousal_movement_g:
            hits.append(f"movement {reading.movement_g:.2f} g")
        if hits and reading.clean:
            return self._halt(reading.time, "arousal: " + ", ".join(hits))
        return []

    def on_tick(self, time: float, state: Any) -> list[Any]:
        s = self.settings
        out: list[Any] = []
        # cues at exact data times (activation, then every interval_s), however the data is chunked
        while self.active and not state.signal_lost and self.count < s.max_per_night and self._next <= time + 1e-9:
            at = self._next
            self._last = at
            self._next = at + s.interval_s
            out.append(self._fire(at, "stable REM: lucidity cue", {
                "rem_since": self._rem_start, "rem_s": at - (self._rem_start or at), "count": self.count + 1,
                "max_per_night": s.max_per_night, "interval_s": s.interval_s}, action="cue"))
        return out
