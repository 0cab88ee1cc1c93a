"""Dream-report wake (Dormio-style): wake the sleeper with a prompt to tell the dream.

- **Sleep-onset mode** (``at_onset``): after ``onset_n1_s`` seconds of consecutive usable N1
  epochs, before persistent sleep onset (hypnagogia). The N1 run is counted in whole epochs:
  it fires at the epoch whose end is at least ``onset_n1_s`` after the run's onset.
- **REM-end mode** (``after_rem``): at the epoch that ends a REM period (``state.just_ended_rem``,
  see ``NightState``) with at least ``rem_min_minutes`` of REM epochs, after persistent sleep onset.
- At most ``max_per_night`` reports, at least ``min_interval_s`` apart; never on an artefact epoch.
"""

from __future__ import annotations

from typing import Any

from dreamband.session.settings import DreamReportSettings
from dreamband.session.triggers.base import Policy, usable
from dreamband.signal.stages import N1, STAGE_NAMES


class DreamReport(Policy):
    """Dream-report policy (see the module docstring)."""

    name = "dream_report"

    def __init__(self, settings: DreamReportSettings | None = None) -> None:
        super().__init__(settings or DreamReportSettings())
        self._n1_start: float | None = None
        self._last: float | None = None

    @property
    def count(self) -> int:
        """Reports fired so far."""
        return len(self.fired)

    def on_epoch(self, epoch: Any, state: Any) -> list[Any]:
        s = self.settings
        ok = usable(epoch) and not state.signal_lost
        stage = int(epoch.stage)
        if ok and stage == N1:
            if self._n1_start is None:
                self._n1_start = float(epoch.onset)
        else:
            self._n1_start = None
        if not ok or self.count >= s.max_per_night:
            return []
        t = float(epoch.time)
        if self._last is not None and t - self._last < s.min_interval_s:
            return []
        if s.at_onset and not state.asleep and self._n1_start is not None and t - self._n1_start >= s.onset_n1_s - 1e-9:
            n1_s = t - self._n1_start
            self._n1_start = None
            self._last = t
            return [self._fire(t, f"{n1_s:.0f} s of N1 at sleep onset: {s.prompt}",
                               {"mode": "onset", "n1_s": n1_s, "prompt": s.prompt, "confidence": float(epoch.confidence),
                                "count": self.count + 1, "max_per_night": s.max_per_night})]
        p = state.just_ended_rem
        if s.after_rem and state.asleep and p is not None and p.rem_min >= s.rem_min_minutes - 1e-9:
            self._last = t
            return [self._fire(t, f"end of a {p.rem_min:.1f}-min REM period: {s.prompt}",
                               {"mode": "rem_end", "rem_start": p.start, "rem_end": p.end, "rem_min": p.rem_min,
                                "stage": STAGE_NAMES[stage], "prompt": s.prompt,
                                "count": self.count + 1, "max_per_night": s.max_per_night})]
        return []
