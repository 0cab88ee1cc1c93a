"""Gentle actions: what a fired trigger does to the room, ramped, stopped on W, escalated.

A *wake* (``TriggerFired.action == "wake"``) starts at ``start_intensity`` (or the trigger's
intensity), ramps linearly to 100 % over ``ramp_s`` of data time in ``step_s`` steps, and stops
as soon as the stager sees W for one usable epoch that ended after the wake started. Without W,
it escalates every ``escalate_every_s`` from ``escalate_after_s`` on, and gives up (stop, logged
as a warning) after ``max_escalations``. A *cue* (``"cue"``) is a single low pulse that stops
after ``cue_s``. Every change is an :class:`ActionUpdate` event with phase ``start`` / ``ramp`` /
``escalate`` / ``stop`` / ``cue`` / ``test`` and is sent to each output:

- ``log``: one line per update on stdout, or the ``dreamband.actions`` logger once logging is configured (and :attr:`LogOutput.history`);
- ``marker``: a BrainFlow marker into the stream (``source.insert_marker``), value = policy code
  (+10 when it stops), and a ``MarkerInserted`` event;
- ``notify``: a ``LogMessage`` with level ``"notify"`` for the UI;
- ``sound``: a generated tone (sine with fades, amplitude = intensity), played with ``aplay`` /
  ``paplay`` only when a sound device exists and not on CI (``CI`` set) or replay; otherwise
  recorded in :attr:`SoundOutput.recorded`;
- ``command``: the user's shell command, run without waiting, with ``DREAMBAND_INTENSITY``
  (0.00-1.00), ``DREAMBAND_POLICY`` and ``DREAMBAND_PHASE`` in its environment.
Everything is driven by data time, so a replay performs the same actions at the same times.
"""

from __future__ import annotations

import logging
import os
import shutil
import subprocess
import sys
import tempfile
import wave
from dataclasses import dataclass, field
from pathlib import Path
from typing import Any

import numpy as np

from dreamband.session.events import ActionUpdate, Event, LogMessage, MarkerInserted, TriggerFired
from dreamband.session.settings import ActionSettings
from dreamband.signal.stages import W

POLICY_CODES: dict[str, int] = {
    "smart_alarm": 1, "nightmare_wake": 2, "dream_report": 3, "rem_cue": 4,
    "safety_max_length": 5, "safety_signal_lost": 6, "test": 9,
}
log = logging.getLogger("dreamband.actions")


def make_tone(intensity: float, duration_s: float = 1.0, freq_hz: float = 440.0, rate: int = 22050) -> np.ndarray:
    """A sine tone with 50-ms fades.

    Returns
    -------
    ndarray, shape (round(duration_s * rate),), float32 in [-intensity, intensity].
    """
    n = int(round(duration_s * rate))
    t = np.arange(n) / rate
    x = np.sin(2 * np.pi * freq_hz * t) * float(np.clip(intensity, 0.0, 1.0))
    fade = min(n // 2, int(0.05 * rate))
    if fade:
        ramp = np.linspace(0.0, 1.0, fade)
        x[:fade] *= ramp
        x[n - fade:] *= ramp[::-1]
    return x.astype(np.float32)


def sound_device_available() -> bool:
    """True when this machine has a playback device and a player (and is not a CI run)."""
    if os.environ.get("CI") or os.environ.get("DREAMBAND_NO_SOUND"):
        return False
    player = shutil.which("paplay") or shutil.which("aplay")
    if player is None:
        return False
    snd = Path("/dev/snd")
    has_pcm = snd.is_dir() and any(p.name.startswith("pcm") and p.name.endswith("p") for p in snd.iterdir())
    return has_pcm or bool(os.environ.get("PULSE_SERVER"))


@dataclass
class ActionOutput:
    """Base of an output; ``emit`` returns extra events (markers, notifications)."""

    name: str = "output"
    history: list[tuple[float, str, str, float]] = field(default_factory=list)

    def emit(self, time: float, policy: str, phase: str, intensity: float, reason: str) -> list[Event]:
        """Perform (or record) the action; return events it caused."""
        self.history.append((time, policy, phase, intensity))
        return []

    def close(self) -> None:
        """Release what the output holds."""


class LogOutput(ActionOutput):
    """Writes each update as one line: to the ``dreamband.actions`` logger when the program has
    configured logging (a handler on it or an ancestor), else to ``stream`` (default stdout), so
    the action prints something by default (Python drops INFO records with no handler).

    Parameters
    ----------
    stream : text stream, optional
        Where lines go without a logging handler (default: ``sys.stdout`` at each write).
    """

    def __init__(self, stream: Any = None) -> None:
        super().__init__("log")
        self.stream = stream

    def emit(self, time: float, policy: str, phase: str, intensity: float, reason: str) -> list[Event]:
        super().emit(time, policy, phase, intensity, reason)
        line = f"t={time:.1f} s {policy} {phase} {intensity * 100:.0f}% {reason}"
        if log.hasHandlers():
            log.info("%s", line)
        else:
            print(f"action log: {line}", file=self.stream or sys.stdout, flush=True)
        return []


class MarkerOutput(ActionOutput):
    """Inserts a BrainFlow marker at start (policy code) and stop (code + 10)."""

    def __init__(self, source: Any = None) -> None:
        super().__init__("marker")
        self.source = source

    def emit(self, time: float, policy: str, phase: str, intensity: float, reason: str) -> list[Event]:
        super().emit(time, policy, phase, intensity, reason)
        if phase not in ("start", "stop", "cue", "test"):
            return []
        value = float(POLICY_CODES.get(policy, 8) + (10 if phase == "stop" else 0))
        if self.source is not None:
            try:
                self.source.insert_marker(value)
            except Exception as err:  # a marker must never stop a wake
                return [LogMessage(time, "warning", f"Could not insert marker {value:g}: {err}")]
        return [MarkerInserted(time, value, f"{policy} {phase}")]


class NotifyOutput(ActionOutput):
    """A ``LogMessage(level="notify")`` for the UI."""

    def __init__(self) -> None:
        super().__init__("notify")

    def emit(self, time: float, policy: str, phase: str, intensity: float, reason: str) -> list[Event]:
        super().emit(time, policy, phase, intensity, reason)
        return [LogMessage(time, "notify", f"{policy.replace('_', ' ')}: {phase} {intensity * 100:.0f} % - {reason}")]


class SoundOutput(ActionOutput):
    """A generated tone; played only when a sound device exists (else recorded)."""

    def __init__(self, play: bool | None = None) -> None:
        super().__init__("sound")
        self.play = sound_device_available() if play is None else bool(play)
        self.recorded: list[tuple[float, str, float, int]] = []
        self._procs: list[subprocess.Popen] = []
        self._tmp = tempfile.TemporaryDirectory(prefix="dreamband-sound-") if self.play else None

    def emit(self, time: float, policy: str, phase: str, intensity: float, reason: str) -> list[Event]:
        super().emit(time, policy, phase, intensity, reason)
        if phase == "stop" or intensity <= 0:
            self._stop_playing()
            return []
        tone = make_tone(intensity, duration_s=0.3 if phase == "cue" else 1.0)
        self.recorded.append((time, policy, intensity, tone.size))
        if self.play and self._tmp is not None:
            path = Path(self._tmp.name) / f"tone-{len(self.recorded)}.wav"
            with wave.open(str(path), "wb") as w:
                w.setnchannels(1)
                w.setsampwidth(2)
                w.setframerate(22050)
                w.writeframes((tone * 32767).astype("<i2").tobytes())
            player = shutil.which("paplay") or shutil.which("aplay")
            if player:
                self._procs.append(subprocess.Popen([player, str(path)], stdout=subprocess.DEVNULL, stderr=subprocess.DEVNULL))
        return []

    def _stop_playing(self) -> None:
        for p in self._procs:
            if p.poll() is None:
                p.terminate()
        self._procs = [p for p in self._procs if p.poll() is None]

    def close(self) -> None:
        self._stop_playing()
        if self._tmp is not None:
            self._tmp.cleanup()


class CommandOutput(ActionOutput):
    """Runs the user's shell command (not waited for) with ``$DREAMBAND_INTENSITY``."""

    def __init__(self, command: str) -> None:
        super().__init__("command")
        if not command or not command.strip():
            raise ValueError("The 'command' action needs a non-empty command.")
        self.command = command
        self.procs: list[subprocess.Popen] = []

    def emit(self, time: float, policy: str, phase: str, intensity: float, reason: str) -> list[Event]:
        super().emit(time, policy, phase, intensity, reason)
        env = dict(os.environ, DREAMBAND_INTENSITY=f"{intensity:.2f}", DREAMBAND_POLICY=policy, DREAMBAND_PHASE=phase,
                   DREAMBAND_TIME=f"{time:.3f}")
        try:
            self.procs.append(subprocess.Popen(self.command, shell=True, env=env, stdout=subprocess.DEVNULL,
                                               stderr=subprocess.DEVNULL))
        except OSError as err:
            return [LogMessage(time, "warning", f"Action command failed to start: {err}")]
        self.procs = [p for p in self.procs if p.poll() is None]
        return []

    def wait(self, timeout: float = 5.0) -> None:
        """Wait for the commands started so far."""
        for p in self.procs:
            try:
                p.wait(timeout)
            except subprocess.TimeoutExpired:
                p.kill()
        self.procs = []

    def close(self) -> None:
        self.wait(2.0)


@dataclass
class RunningAction:
    """A wake or cue in progress."""

    policy: str
    kind: str
    start: float
    intensity: float
    start_intensity: float
    next_step: float
    escalations: int = 0
    reason: str = ""


class ActionManager:
    """Run the gentle actions of fired triggers on data time.

    Parameters
    ----------
    settings : ActionSettings
    source : Source, optional
        For BrainFlow markers.
    play_sound : bool, optional
        Force sound playing on/off (default: ``settings.play_sound`` and the device check).
    """

    def __init__(self, settings: ActionSettings | None = None, source: Any = None, play_sound: bool | None = None) -> None:
        self.settings = settings or ActionSettings()
        self.outputs: dict[str, ActionOutput] = {}
        for name in self.settings.outputs:
            self.outputs[name] = self._make(name, source, play_sound)
        self.running: dict[str, RunningAction] = {}

    def _make(self, name: str, source: Any, play_sound: bool | None) -> ActionOutput:
        if name == "log":
            return LogOutput()
        if name == "marker":
            return MarkerOutput(source)
        if name == "notify":
            return NotifyOutput()
        if name == "sound":
            if self.settings.play_sound == "never":
                play_sound = False
            return SoundOutput(play_sound)
        if name == "command":
            return CommandOutput(self.settings.command or "")
        raise ValueError(f"Unknown action {name!r}; choose from log, marker, notify, sound, command.")

    def _emit(self, time: float, policy: str, phase: str, intensity: float, reason: str,
              only: str | None = None) -> list[Event]:
        events: list[Event] = [ActionUpdate(time, policy, phase, round(float(intensity), 4), reason)]
        for name, out in self.outputs.items():
            if only is None or name == only:
                events += out.emit(time, policy, phase, float(intensity), reason)
        return events

    def start(self, trigger: TriggerFired) -> list[Event]:
        """Start the action of a fired trigger (a second trigger of the same policy restarts it)."""
        s = self.settings
        t = float(trigger.time)
        if trigger.action == "cue":
            inten = float(trigger.intensity) or 0.15
            self.running[trigger.policy] = RunningAction(trigger.policy, "cue", t, inten, inten, t + s.cue_s,
                                                         reason=trigger.reason)
            return self._emit(t, trigger.policy, "cue", inten, trigger.reason)
        inten = float(np.clip(trigger.intensity or s.start_intensity, 0.01, 1.0))
        self.running[trigger.policy] = RunningAction(trigger.policy, "wake", t, inten, inten, t + s.step_s,
                                                     reason=trigger.reason)
        return self._emit(t, trigger.policy, "start", inten, trigger.reason)

    def stop(self, policy: str, time: float, reason: str) -> list[Event]:
        """Stop a policy's running action now (no-op when none runs)."""
        act = self.running.pop(policy, None)
        if act is None:
            return []
        return self._emit(time, policy, "stop", 0.0, reason)

    def stop_all(self, time: float, reason: str) -> list[Event]:
        """Stop everything that runs."""
        out: list[Event] = []
        for policy in list(self.running):
            out += self.stop(policy, time, reason)
        return out

    def on_epoch(self, epoch: Any) -> list[Event]:
        """A staged epoch: a usable W that ended after a wake started stops that wake."""
        if int(epoch.stage) != W or not bool(getattr(epoch, "quality_ok", True)):
            return []
        out: list[Event] = []
        for policy, act in list(self.running.items()):
            if act.kind == "wake" and float(epoch.time) > act.start:
                out += self.stop(policy, float(epoch.time), "the sleeper is awake (W epoch)")
        return out

    def on_tick(self, time: float) -> list[Event]:
        """Data time passed: ramp, escalate, end cues."""
        s = self.settings
        out: list[Event] = []
        for policy, act in list(self.running.items()):
            if act.kind == "cue":
                if time >= act.next_step:
                    out += self.stop(policy, act.next_step, "cue done")
                continue
            while policy in self.running and time >= act.next_step:
                t = act.next_step
                elapsed = t - act.start
                if elapsed < s.ramp_s - 1e-9:
                    act.intensity = act.start_intensity + (1.0 - act.start_intensity) * elapsed / s.ramp_s
                    out += self._emit(t, policy, "ramp", act.intensity, act.reason)
                    act.next_step = min(t + s.step_s, act.start + s.ramp_s)
                elif act.intensity < 1.0:
                    act.intensity = 1.0
                    out += self._emit(t, policy, "ramp", 1.0, act.reason)
                    act.next_step = act.start + max(s.escalate_after_s, s.ramp_s)
                elif act.escalations >= s.max_escalations:
                    self.running.pop(policy)
                    out += self._emit(t, policy, "stop", 0.0, f"no W after {act.escalations} escalations; giving up")
                    out.append(LogMessage(t, "warning", f"{policy}: the sleeper did not wake after "
                                                       f"{act.escalations} escalations; the action stopped."))
                else:
                    act.escalations += 1
                    out += self._emit(t, policy, "escalate", 1.0, f"no W yet (escalation {act.escalations})")
                    act.next_step = t + s.escalate_every_s
        return out

    def test_fire(self, action: str, intensity: float, time: float) -> list[Event]:
        """Fire one output (or ``"all"``) once at ``intensity`` for testing the room."""
        if not 0.0 <= float(intensity) <= 1.0:
            raise ValueError(f"intensity must be within 0..1, got {intensity!r}.")
        if action != "all" and action not in self.outputs:
            raise ValueError(f"Action {action!r} is not enabled; enabled: {', '.join(self.outputs) or 'none'}.")
        return self._emit(time, "test", "test", float(intensity), "test fire", only=None if action == "all" else action)

    def close(self) -> None:
        """Release the outputs (stop sounds, wait briefly for commands)."""
        for out in self.outputs.values():
            out.close()
