"""``dreamband check``: the signal check before lights-off, without a window.

Opens the board (``session.sources.open_source``, the same options as ``live``), reads a few
seconds, and prints one verdict per channel with what to do
(:func:`dreamband.signal.check.check_signal`). With ``--impedance`` a Cyton or Ganglion also
measures the electrodes' impedance in lead-off mode (:mod:`dreamband.firmware_bridge.lead_off`).

Exit code: 0 when the staging channels are good enough to start the night, 1 when one is not
(the lines say why), 2 on an error (the board could not be opened ...).
"""

from __future__ import annotations

import argparse
import sys
import time
from collections.abc import Callable, Sequence
from dataclasses import dataclass
from typing import Any

import numpy as np

from dreamband.firmware_bridge import lead_off
from dreamband.firmware_bridge.montage import pick_staging_channels
from dreamband.signal.check import (
    ChannelVerdict,
    check_signal,
    lead_off_impedance_ohm,
    staging_ready,
)

#: Channel types the check looks at (accelerometer rows are in g).
CHECKED_TYPES = ("eeg", "eog", "emg", "misc")
#: Seconds to let the signal settle after switching lead-off on or off.
LEAD_OFF_SETTLE_S = 0.5
#: The Ganglion firmware reports impedance in kΩ in BrainFlow's resistance rows.
GANGLION_RESISTANCE_UNIT_OHM = 1000.0


@dataclass(frozen=True)
class CheckedChannels:
    """Which of a source's rows the check looks at, and which of them are staged."""

    rows: list[int]
    names: list[str]
    staging: list[str]


def checked_channels(source: Any) -> CheckedChannels:
    """The EEG/EOG/EMG rows of ``source`` and the staging channel(s) among them."""
    names = list(source.channel_names)
    types = list(source.channel_types)
    rows = [i for i, t in enumerate(types) if t in CHECKED_TYPES] or list(range(len(names)))
    montage = getattr(source, "montage", None)
    preferred = getattr(montage, "staging_channels", None) if montage is not None else None
    try:
        staging = [names[r] for r in pick_staging_channels(names, types, 1, preferred=preferred)]
    except ValueError:
        staging = []
    return CheckedChannels(rows, [names[r] for r in rows], staging)


def collect(source: Any, seconds: float, rows: Sequence[int], timeout_s: float | None = None,
            sleep: Callable[[float], None] = time.sleep, raw_rows: Sequence[int] = ()) -> tuple[np.ndarray, np.ndarray]:
    """Read ``seconds`` of samples from a started source.

    Returns
    -------
    data : ndarray, shape (len(rows), n)
        µV of ``rows`` (the montage's rows).
    raw : ndarray, shape (len(raw_rows), n)
        The board's own rows ``raw_rows`` (e.g. resistance rows), empty when none asked.

    Raises
    ------
    RuntimeError
        Fewer samples than asked arrived within ``timeout_s`` (default ``seconds + 10``).
    """
    need = int(round(seconds * float(source.sfreq)))
    timeout_s = seconds + 10.0 if timeout_s is None else timeout_s
    deadline = time.monotonic() + timeout_s
    parts: list[np.ndarray] = []
    raws: list[np.ndarray] = []
    have = 0
    while have < need:
        chunk = source.read()
        if chunk.n_samples:
            parts.append(np.asarray(chunk.data)[list(rows)])
            if raw_rows:
                raw = getattr(chunk, "raw", None)
                raws.append(np.asarray(raw)[list(raw_rows)] if raw is not None
                            else np.full((len(raw_rows), chunk.n_samples), np.nan))
            have += chunk.n_samples
            continue
        if getattr(source, "finished", False) or time.monotonic() > deadline:
            raise RuntimeError(f"Only {have / source.sfreq:.1f} s of signal arrived in {timeout_s:.0f} s "
                               f"(the check needs {seconds:g} s): is the headband on and streaming?")
        sleep(0.05)
    data = np.concatenate(parts, axis=1)[:, -need:]
    raw = np.concatenate(raws, axis=1)[:, -need:] if raws else np.zeros((0, need))
    return data, raw


def measure_impedance(source: Any, channels: CheckedChannels, seconds: float = 4.0,
                      sleep: Callable[[float], None] = time.sleep) -> dict[str, float]:
    """Electrode impedance (Ω) per checked channel where the board measures it (else ``{}``).

    Switches lead-off on, lets it settle, reads ``seconds``, switches it off again (also on an
    error) and lets the signal settle before returning.
    """
    info = getattr(source, "info", None)
    kind = lead_off.lead_off_kind(getattr(info, "name", ""))
    if kind is None or not callable(getattr(source, "config_board", None)):
        return {}
    montage_rows = list(getattr(getattr(source, "montage", None), "rows", []) or [])
    eeg_rows = list(getattr(info, "eeg_rows", ()) or ())
    amp = {name: eeg_rows.index(montage_rows[r]) for r, name in zip(channels.rows, channels.names, strict=True)
           if r < len(montage_rows) and montage_rows[r] in eeg_rows}
    if not amp:
        return {}
    res_rows = lead_off.resistance_rows(getattr(info, "board_id", -1)) if kind == "ganglion" else []
    lead_off.send_commands(source, lead_off.lead_off_commands(info.name, list(amp.values()), on=True))
    try:
        _discard(source, LEAD_OFF_SETTLE_S, sleep)
        data, raw = collect(source, seconds, channels.rows, sleep=sleep, raw_rows=res_rows)
    finally:
        lead_off.send_commands(source, lead_off.lead_off_commands(info.name, list(amp.values()), on=False))
        _discard(source, LEAD_OFF_SETTLE_S, sleep)
    if kind == "cyton":
        ohms = lead_off_impedance_ohm(data, float(source.sfreq))
        return {name: float(ohms[channels.names.index(name)]) for name in amp}
    out = {}
    for name, ch in amp.items():  # Ganglion: the board's own figures, one row per channel
        if ch < raw.shape[0]:
            vals = raw[ch][np.isfinite(raw[ch]) & (raw[ch] > 0)]
            if vals.size:
                out[name] = float(np.median(vals)) * GANGLION_RESISTANCE_UNIT_OHM
    return out


def _discard(source: Any, seconds: float, sleep: Callable[[float], None]) -> None:
    end = time.monotonic() + seconds
    while time.monotonic() < end:
        source.read()
        sleep(0.05)
    source.read()


def format_verdicts(verdicts: Sequence[ChannelVerdict], staging: Sequence[str]) -> list[str]:
    """One line per channel (staging channels marked), then the overall answer."""
    lines = []
    width = max((len(v.channel) for v in verdicts), default=0)
    for v in verdicts:
        mark = "*" if v.channel in staging else " "
        figures = v.figures()
        line = f"{'ok ' if v.ok else 'BAD'} {mark} {v.line()}"
        lines.append(f"{line}   [{figures}]" if figures else line)
        lines[-1] = lines[-1].replace(f"{v.channel}:", f"{v.channel}:".ljust(width + 1), 1)
    ready = staging_ready(verdicts, staging) if staging else False
    who = ", ".join(staging) or "none"
    lines.append(f"staging channel(s) (*): {who}: " + ("ready, start the night" if ready else
                                                       "not ready: fix the lines marked BAD above"))
    return lines


def run_check(args: argparse.Namespace) -> int:
    """``dreamband check``: print per-channel verdicts; 0 when the staging channels are good."""
    from dreamband.session.sources import open_source

    seconds = float(getattr(args, "seconds", None) or 8.0)
    if not seconds >= 2.0:
        raise ValueError(f"--seconds must be at least 2 (the check needs 2 s of signal), got {seconds:g}.")
    source = open_source(args)
    channels = checked_channels(source)
    source.start()
    try:
        _discard(source, 1.0, time.sleep)  # the first second after opening often holds the board's start-up step
        data, _ = collect(source, seconds, channels.rows)
        impedance = measure_impedance(source, channels) if getattr(args, "impedance", False) else {}
    finally:
        source.stop()
    verdicts = check_signal(data, float(source.sfreq), channels.names, impedance_ohm=impedance or None)
    if getattr(args, "impedance", False) and not impedance:
        print("impedance: this board does not measure it (Cyton, Cyton+Daisy and Ganglion do)")
    for line in format_verdicts(verdicts, channels.staging):
        print(line)
    sys.stdout.flush()
    return 0 if channels.staging and staging_ready(verdicts, channels.staging) else 1
