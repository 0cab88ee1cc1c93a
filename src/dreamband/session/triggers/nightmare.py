"""Nightmare wake: during REM, an arousal rise over the REM baseline that lasts ``sustain_s``.

A reading is *aroused* when the beta ratio, the EMG ratio (both over the calm-REM baseline of
``signal.detectors.ArousalDetector``) or the accelerometer movement reaches its threshold. The
policy fires a gentle wake when readings stay aroused for ``sustain_s`` seconds while the sleeper
is in REM (the last epoch was usable REM, its REM period has lasted ``min_rem_s``, after
persistent sleep onset), then waits ``cooldown_s``
before it may fire again. Unclean readings (lost samples, huge amplitudes) break the run, and
nothing fires while the last epoch was an artefact or the signal is lost. The evidence holds the
figures that fired it: peak and mean ratios over the run, movement, how long it lasted.
"""

from __future__ import annotations

from typing import Any

from dreamband.session.settings import NightmareWakeSettings
from dreamband.session.triggers.base import Policy


def is_aroused(reading: Any, s: NightmareWakeSettings) -> list[str]:
    """Names of the criteria a reading meets (empty when calm or unclean)."""
    if not reading.clean:
        return []
    hits = []
    if reading.beta_ratio == reading.beta_ratio and reading.beta_ratio >= s.beta_ratio:
        hits.append("beta")
    if reading.emg_ratio == reading.emg_ratio and reading.emg_ratio >= s.emg_ratio:
        hits.append("emg")
    if reading.movement_g == reading.movement_g and reading.movement_g >= s.movement_g:
        hits.append("movement")
    return hits


class NightmareWake(Policy):
    """Nightmare wake policy (see the module docstring)."""

    name = "nightmare_wake"

    def __init__(self, settings: NightmareWakeSettings | None = None) -> None:
        super().__init__(settings or NightmareWakeSettings())
        self._run: list[Any] = []
        self._last_fire: float | None = None

    def on_arousal(self, reading: Any, state: Any) -> list[Any]:
        s = self.settings
        rem = state.open_rem
        ok = (state.in_rem and state.asleep and not state.signal_lost and rem is not None
              and state.time - rem.start >= s.min_rem_s - 1e-9)
        hits = is_aroused(reading, s) if ok else []
        if not hits:
            self._run = []
            return []
        self._run.append((reading, hits))
        first_t = self._run[0][0].time
        sustained = reading.time - first_t
        if sustained + 1e-9 < s.sustain_s:
            return []
        if self._last_fire is not None and reading.time - self._last_fire < s.cooldown_s:
            return []
        self._last_fire = reading.time
        run = [r for r, _ in self._run]
        crit = sorted({h for _, h in self._run for h in h})
        evidence = {
            "criteria": crit,
            "sustained_s": round(sustained, 3),
            "run_start": first_t,
            "beta_ratio_max": _max(r.beta_ratio for r in run),
            "beta_ratio_mean": _mean(r.beta_ratio for r in run),
            "emg_ratio_max": _max(r.emg_ratio for r in run),
            "emg_ratio_mean": _mean(r.emg_ratio for r in run),
            "movement_g_max": _max(r.movement_g for r in run),
            "thresholds": {"beta_ratio": s.beta_ratio, "emg_ratio": s.emg_ratio, "movement_g": s.movement_g,
                           "sustain_s": s.sustain_s},
            "rem_confidence": state.confidence,
        }
        self._run = []
        return [self._fire(reading.time, f"arousal in REM ({', '.join(crit)}) for {sustained:.0f} s", evidence)]


def _max(values: Any) -> float | None:
    v = [x for x in values if x == x]
    return round(max(v), 4) if v else None


def _mean(values: Any) -> float | None:
    v = [x for x in values if x == x]
    return round(sum(v) / len(v), 4) if v else None
