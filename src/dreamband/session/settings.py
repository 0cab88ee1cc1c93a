"""Settings of the dream-session engine: triggers, actions and the night's state.

Read from a TOML file (sections below) and/or the command line; the command line wins.

.. code-block:: toml

    [session]
    persistent_sleep_min = 10      # minutes of sleep that make persistent sleep onset
    rem_interruption_epochs = 1    # non-REM epochs a REM period bridges
    line_hz = "both"               # mains notch before staging: 50, 60 or "both" (default)

    [triggers]
    enabled = ["smart_alarm", "nightmare_wake"]   # safety is always on

    [triggers.smart_alarm]
    window = "06:30-07:00"

    [triggers.nightmare_wake]
    beta_ratio = 2.0
    sustain_s = 10

    [triggers.safety]
    max_hours = 12
    signal_lost_min = 10
    disable_max_length = false     # true needs confirm_disable = true and is logged

    [actions]
    outputs = ["log", "marker", "notify", "sound"]
    command = "my-lamp --level $DREAMBAND_INTENSITY"
    ramp_s = 60
"""

from __future__ import annotations

import dataclasses
import datetime as dt
import sys
from dataclasses import dataclass, field
from pathlib import Path
from typing import Any

if sys.version_info >= (3, 11):
    import tomllib
else:  # pragma: no cover
    import tomli as tomllib

POLICY_NAMES: tuple[str, ...] = ("smart_alarm", "nightmare_wake", "dream_report", "rem_cue", "safety")
OPTIONAL_POLICIES: tuple[str, ...] = ("smart_alarm", "nightmare_wake", "dream_report", "rem_cue")
#: the only epoch length the stager, the night state and the triggers support, seconds
SUPPORTED_EPOCH_S: float = 30.0
OUTPUT_NAMES: tuple[str, ...] = ("log", "marker", "notify", "sound", "command")


#: longest smart-alarm window accepted, hours (``07:00-06:30`` would be 23.5 h: a typo)
MAX_ALARM_WINDOW_H: float = 12.0


def parse_clock(text: str) -> dt.time:
    """Parse ``"HH:MM"`` (or ``"HH:MM:SS"``) into a :class:`datetime.time`."""
    try:
        parts = [int(p) for p in str(text).strip().split(":")]
        if len(parts) not in (2, 3):
            raise ValueError
        return dt.time(*parts)
    except (ValueError, TypeError):
        raise ValueError(f"Cannot read the time of day {text!r}; write it as HH:MM, e.g. 06:30.") from None


def parse_window(text: str) -> tuple[dt.time, dt.time]:
    """Parse an alarm window ``"HH:MM-HH:MM"`` (may cross midnight, e.g. ``23:30-00:15``)."""
    if not isinstance(text, str) or text.count("-") != 1:
        raise ValueError(f"Cannot read the alarm window {text!r}; write it as HH:MM-HH:MM, e.g. 06:30-07:00.")
    a, b = text.split("-")
    start, end = parse_clock(a), parse_clock(b)
    if start == end:
        raise ValueError(f"The alarm window {text!r} is empty: start and end are the same time.")
    length_h = ((end.hour * 60 + end.minute) - (start.hour * 60 + start.minute)) % 1440 / 60.0
    if length_h > MAX_ALARM_WINDOW_H:
        raise ValueError(
            f"The alarm window {text!r} lasts {length_h:g} h (it runs from {a.strip()} to {b.strip()} the next "
            f"day); a smart-alarm window is at most {MAX_ALARM_WINDOW_H:g} h. Did you mean {b.strip()}-{a.strip()}?"
        )
    return start, end


@dataclass
class SmartAlarmSettings:
    """Smart alarm: wake in light sleep (N1/N2/W) or at a REM period's end inside ``window``."""

    enabled: bool = True
    window: str | None = None  # "HH:MM-HH:MM"; the alarm is inactive without one
    intensity: float = 0.1

    def __post_init__(self) -> None:
        if self.window is not None:
            parse_window(self.window)
        _intensity(self, "intensity")


@dataclass
class NightmareWakeSettings:
    """Nightmare wake: in REM, an arousal rise over the REM baseline lasting ``sustain_s``."""

    enabled: bool = False
    beta_ratio: float = 2.5  # beta (16-30 Hz) power over the REM baseline
    emg_ratio: float = 4.0  # EMG (or EEG 30-45 Hz) power over the REM baseline
    movement_g: float = 0.05  # accelerometer movement (std of |a| in a 2-s window), g
    sustain_s: float = 15.0
    min_rem_s: float = 60.0  # the REM period must have lasted this long (no firing at its first epoch)
    cooldown_s: float = 600.0
    intensity: float = 0.1

    def __post_init__(self) -> None:
        _positive(self, "beta_ratio", "emg_ratio", "movement_g", "sustain_s")
        _non_negative(self, "cooldown_s", "min_rem_s")
        _intensity(self, "intensity")


@dataclass
class DreamReportSettings:
    """Dormio-style dream report: after ``onset_n1_s`` of N1 at sleep onset, or after a REM period
    of at least ``rem_min_minutes``; at most ``max_per_night``."""

    enabled: bool = False
    at_onset: bool = True
    after_rem: bool = True
    onset_n1_s: float = 90.0
    rem_min_minutes: float = 10.0
    max_per_night: int = 3
    min_interval_s: float = 300.0
    prompt: str = "You were dreaming. What was going through your mind?"
    intensity: float = 0.1

    def __post_init__(self) -> None:
        _positive(self, "onset_n1_s", "rem_min_minutes")
        _non_negative(self, "max_per_night", "min_interval_s")
        _intensity(self, "intensity")


@dataclass
class RemCueSettings:
    """REM cues for lucid dreaming: in stable REM, a low cue every ``interval_s``."""

    enabled: bool = False
    stable_rem_s: float = 120.0
    interval_s: float = 30.0
    intensity: float = 0.15
    max_per_night: int = 60
    arousal_beta_ratio: float = 1.5  # any of these stops the cues at once
    arousal_emg_ratio: float = 2.0
    arousal_movement_g: float = 0.05

    def __post_init__(self) -> None:
        _positive(self, "stable_rem_s", "interval_s", "arousal_beta_ratio",
                  "arousal_emg_ratio", "arousal_movement_g")
        _non_negative(self, "max_per_night")
        _intensity(self, "intensity")


@dataclass
class SafetySettings:
    """Safety stops; each can be disabled only with ``confirm_disable = true`` (and is logged)."""

    enabled: bool = True
    max_hours: float = 12.0
    signal_lost_min: float = 10.0
    disable_max_length: bool = False
    disable_signal_lost: bool = False
    confirm_disable: bool = False
    intensity: float = 0.1

    def __post_init__(self) -> None:
        _positive(self, "max_hours", "signal_lost_min")
        _intensity(self, "intensity")
        wants_off = (not self.enabled) or self.disable_max_length or self.disable_signal_lost
        if wants_off and not self.confirm_disable:
            raise ValueError(
                "Safety stops cannot be switched off silently: to disable one, also set "
                "confirm_disable = true in [triggers.safety] (it is logged at the start of the session)."
            )


@dataclass
class TriggerSettings:
    """All policies' settings."""

    smart_alarm: SmartAlarmSettings = field(default_factory=SmartAlarmSettings)
    nightmare_wake: NightmareWakeSettings = field(default_factory=NightmareWakeSettings)
    dream_report: DreamReportSettings = field(default_factory=DreamReportSettings)
    rem_cue: RemCueSettings = field(default_factory=RemCueSettings)
    safety: SafetySettings = field(default_factory=SafetySettings)


@dataclass
class ActionSettings:
    """How a trigger touches the sleeper: ramp, stop on W, escalate."""

    outputs: list[str] = field(default_factory=lambda: ["log", "marker", "notify", "sound"])
    command: str | None = None
    start_intensity: float = 0.1
    ramp_s: float = 60.0
    step_s: float = 10.0
    escalate_after_s: float = 120.0
    escalate_every_s: float = 60.0
    max_escalations: int = 5
    cue_s: float = 3.0
    play_sound: str = "auto"  # auto (only when a sound device exists and not on CI) / never

    def __post_init__(self) -> None:
        unknown = [o for o in self.outputs if o not in OUTPUT_NAMES]
        if unknown:
            raise ValueError(f"Unknown action(s) {unknown}; choose from {', '.join(OUTPUT_NAMES)}.")
        if "command" in self.outputs and not self.command:
            raise ValueError("The 'command' action needs a command: --action-command CMD or [actions] command = ...")
        if not 0.0 < self.start_intensity <= 1.0:
            raise ValueError(f"start_intensity must be in (0, 1], got {self.start_intensity}.")
        _positive(self, "ramp_s", "step_s", "escalate_after_s", "escalate_every_s", "cue_s")
        if self.play_sound not in ("auto", "never"):
            raise ValueError(f"play_sound must be 'auto' or 'never', got {self.play_sound!r}.")


@dataclass
class SessionSettings:
    """Everything the engine needs besides the source."""

    triggers: TriggerSettings = field(default_factory=TriggerSettings)
    actions: ActionSettings = field(default_factory=ActionSettings)
    epoch_s: float = 30.0
    persistent_sleep_min: float = 10.0
    rem_interruption_epochs: int = 1
    duration_s: float | None = None
    start_datetime: dt.datetime | None = None
    model_path: str | None = None
    #: mains frequency the conditioner notches: 50, 60 or "both" (default: notch 50 and 60 Hz)
    line_hz: int | str = "both"

    def __post_init__(self) -> None:
        self.line_hz = parse_line_hz(self.line_hz)
        e = self.epoch_s
        if isinstance(e, bool) or not isinstance(e, (int, float)) or float(e) != SUPPORTED_EPOCH_S:
            raise ValueError(
                f"epoch_s = {e!r} is not supported: dreamband stages 30-s epochs only (the AASM epoch its "
                "models were trained on, and the length the state and triggers count in). Remove epoch_s "
                "from [session] or set it to 30."
            )
        _positive(self, "persistent_sleep_min")
        d = self.duration_s
        if d is not None and (isinstance(d, bool) or not isinstance(d, (int, float)) or not d > 0):
            raise ValueError(f"duration_s must be a positive number of seconds of data (or absent for no limit), "
                             f"got {d!r}.")
        r = self.rem_interruption_epochs
        if isinstance(r, bool) or not isinstance(r, int) or r < 0:
            raise ValueError(f"rem_interruption_epochs must be a whole number >= 0, got {r!r}.")

    # ------------------------------------------------------------------ loading
    @property
    def notch(self) -> float | str:
        """``line_hz`` as :class:`~dreamband.signal.conditioning.SignalConditioner` takes it (``"auto"``: both)."""
        return "auto" if self.line_hz == "both" else float(self.line_hz)

    @classmethod
    def from_toml(cls, path: str | Path) -> SessionSettings:
        """Read ``[session]``, ``[triggers]``, ``[triggers.<policy>]`` and ``[actions]`` from a TOML file.

        Other tables (``[board]``, ``[montage]`` ...) belong to other parts and are ignored.
        """
        path = Path(path)
        if not path.is_file():
            raise FileNotFoundError(f"Config file {path} does not exist; pass an existing TOML file to --config.")
        try:
            doc = tomllib.loads(path.read_text(encoding="utf-8"))
        except tomllib.TOMLDecodeError as err:
            raise ValueError(f"{path} is not valid TOML: {err}") from None
        return cls.from_dict(doc, origin=str(path))

    @classmethod
    def from_dict(cls, doc: dict[str, Any], origin: str = "settings") -> SessionSettings:
        """Build settings from a parsed TOML document (see the module docstring)."""
        session = dict(doc.get("session", {}))
        trig_doc = dict(doc.get("triggers", {}))
        enabled = trig_doc.pop("enabled", None)
        trig_kwargs: dict[str, Any] = {}
        types = {f.name: f.default_factory for f in dataclasses.fields(TriggerSettings)}  # type: ignore[misc]
        for name, table in trig_doc.items():
            if name not in types:
                raise ValueError(f"{origin}: unknown table [triggers.{name}]; known: {', '.join(POLICY_NAMES)}.")
            if not isinstance(table, dict):
                raise ValueError(f"{origin}: [triggers.{name}] must be a table.")
            trig_kwargs[name] = _build(types[name]().__class__, table, f"{origin} [triggers.{name}]")
        triggers = TriggerSettings(**trig_kwargs)
        if enabled is not None:
            _apply_enabled(triggers, enabled, origin)
        actions = _build(ActionSettings, dict(doc.get("actions", {})), f"{origin} [actions]")
        kwargs = {}
        for key in ("epoch_s", "persistent_sleep_min", "rem_interruption_epochs", "duration_s", "model_path",
                    "line_hz"):
            if key in session:
                kwargs[key] = session.pop(key)
        if session:
            raise ValueError(f"{origin}: unknown key(s) in [session]: {', '.join(session)}.")
        try:
            return cls(triggers=triggers, actions=actions, **kwargs)
        except ValueError as err:
            raise ValueError(f"{origin} [session]: {err}") from None

    @classmethod
    def from_args(cls, args: Any) -> SessionSettings:
        """Settings from ``--config`` (if given) overridden by the CLI options.

        Reads ``--alarm``, ``--max-hours``, ``--triggers``, ``--actions``, ``--action-command``,
        ``--duration``.
        """
        config = getattr(args, "config", None)
        settings = cls.from_toml(config) if config else cls()
        trig = settings.triggers
        names = getattr(args, "triggers", None)
        if names:
            _apply_enabled(trig, [n.strip() for n in str(names).split(",") if n.strip()], "--triggers")
        alarm = getattr(args, "alarm", None)
        if alarm:
            parse_window(alarm)
            trig.smart_alarm.window = alarm
            trig.smart_alarm.enabled = True
        max_hours = getattr(args, "max_hours", None)
        if max_hours is not None:
            if max_hours <= 0:
                raise ValueError(f"--max-hours must be positive, got {max_hours}.")
            trig.safety.max_hours = float(max_hours)
        acts = settings.actions
        outputs = getattr(args, "actions", None)
        command = getattr(args, "action_command", None)
        if command:
            acts.command = command
        if outputs:
            acts.outputs = [o.strip() for o in str(outputs).split(",") if o.strip()]
        elif command and "command" not in acts.outputs:
            acts.outputs = [*acts.outputs, "command"]
        acts.__post_init__()
        model = getattr(args, "model", None)
        if model:
            settings.model_path = resolve_model_name(str(model))
        line_hz = getattr(args, "line_hz", None)
        if line_hz is not None:
            settings.line_hz = parse_line_hz(line_hz, "--line-hz")
        duration = getattr(args, "duration", None)
        if duration is not None:
            if duration <= 0:
                raise ValueError(f"--duration must be positive seconds, got {duration}.")
            settings.duration_s = float(duration)
        return settings


#: values of ``line_hz`` (``[session] line_hz``, ``--line-hz``)
LINE_HZ_CHOICES: tuple[str, ...] = ("50", "60", "both")


def parse_line_hz(value: Any, origin: str = "line_hz") -> int | str:
    """``50``, ``60`` or ``"both"`` from a setting or an option (``"50"`` and ``50.0`` are 50).

    Raises
    ------
    ValueError
        Any other value.
    """
    text = str(value).strip().lower()
    if isinstance(value, bool) or text not in ("50", "60", "50.0", "60.0", "both"):
        raise ValueError(f"{origin} must be 50, 60 or both (notch 50 and 60 Hz, the default), got {value!r}.")
    return "both" if text == "both" else int(float(text))


#: ``--model`` names of the shipped models (``dreamband train --channels`` uses the same names)
MODEL_NAMES: dict[str, str] = {"fpz": "stager_fpz", "fpz+pz": "stager_fpz_pz"}


def resolve_model_name(text: str) -> str:
    """``--model`` as the stager loads it: a shipped model's name (``fpz``, ``fpz+pz``) or a file.

    Raises
    ------
    FileNotFoundError
        A path that names no model file (``.npz``/``.json`` pair).
    """
    key = text.strip().lower()
    if key in MODEL_NAMES:
        return MODEL_NAMES[key]
    if key in MODEL_NAMES.values():
        return key
    p = Path(text).expanduser()
    if not (p.exists() or p.with_suffix(".npz").exists() or p.with_suffix(".json").exists()):
        raise FileNotFoundError(f"No model {text!r}: give a model file written by `dreamband train`, or a "
                                f"shipped model: {', '.join(MODEL_NAMES)}.")
    return str(p)


def _apply_enabled(triggers: TriggerSettings, names: Any, origin: str) -> None:
    if isinstance(names, str):
        names = [n.strip() for n in names.split(",") if n.strip()]
    unknown = [n for n in names if n not in POLICY_NAMES]
    if unknown:
        raise ValueError(f"{origin}: unknown trigger(s) {unknown}; choose from {', '.join(OPTIONAL_POLICIES)}.")
    for name in OPTIONAL_POLICIES:
        getattr(triggers, name).enabled = name in names


def _build(cls: type, table: dict[str, Any], origin: str) -> Any:
    known = {f.name for f in dataclasses.fields(cls)}
    unknown = [k for k in table if k not in known]
    if unknown:
        raise ValueError(f"{origin}: unknown setting(s) {', '.join(unknown)}; known: {', '.join(sorted(known))}.")
    try:
        return cls(**table)
    except TypeError as err:
        raise ValueError(f"{origin}: {err}") from None


def _intensity(obj: Any, *names: str) -> None:
    for n in names:
        v = getattr(obj, n)
        if not isinstance(v, (int, float)) or isinstance(v, bool) or not 0.0 < v <= 1.0:
            raise ValueError(f"{type(obj).__name__}.{n} is a fraction of the full output: a number in (0, 1] "
                             f"(0.15 = 15 %), got {v!r}.")


def _positive(obj: Any, *names: str) -> None:
    for n in names:
        v = getattr(obj, n)
        if not isinstance(v, (int, float)) or isinstance(v, bool) or not v > 0:
            raise ValueError(f"{type(obj).__name__}.{n} must be a positive number, got {v!r}.")


def _non_negative(obj: Any, *names: str) -> None:
    for n in names:
        v = getattr(obj, n)
        if not isinstance(v, (int, float)) or isinstance(v, bool) or not v >= 0:
            raise ValueError(f"{type(obj).__name__}.{n} must be a number >= 0, got {v!r}.")
