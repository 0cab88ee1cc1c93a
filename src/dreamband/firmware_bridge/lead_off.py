"""Electrode impedance on boards that measure it: OpenBCI lead-off through BrainFlow config strings.

- **Cyton / Cyton+Daisy** (ADS1299): ``z (CHANNEL, PCHAN, NCHAN) Z`` switches the 6-nA,
  31.2-Hz lead-off drive of one channel's P or N input on or off (channels ``1``-``8``, Daisy
  ``Q W E R T Y U I``). Electrodes sit on the N inputs in OpenBCI's default montage (SRB2 on
  the P side), so the N input is tested. The impedance is then read from the amplitude of the
  drive in the EEG (:func:`dreamband.signal.check.lead_off_impedance_ohm`).
- **Ganglion**: ``z`` starts impedance mode, ``Z`` stops it; BrainFlow then fills the board's
  resistance rows (``BoardShim.get_resistance_channels``) itself.

The boards' protocol is in OpenBCI's SDK documentation ("Cyton SDK: Leadoff impedance
commands", "Ganglion SDK: z / Z"). The command builders here are pure; :func:`send_commands`
passes them to a source's ``config_board`` (``BoardStream.config_board``).
"""

from __future__ import annotations

from collections.abc import Sequence
from typing import Any

from brainflow.board_shim import BoardShim

#: Channel characters of the Cyton's lead-off command: 1-8 on the Cyton, Q-I on the Daisy.
CYTON_CHANNEL_CHARS: str = "12345678QWERTYUI"
_CYTON_NAMES = frozenset({"cyton", "cyton-daisy", "cyton-wifi", "cyton-daisy-wifi"})
_GANGLION_NAMES = frozenset({"ganglion", "ganglion-native", "ganglion-wifi"})


def lead_off_kind(board_name: str) -> str | None:
    """``"cyton"``, ``"ganglion"`` or None (the board measures no impedance)."""
    name = str(board_name).strip().lower()
    if name in _CYTON_NAMES:
        return "cyton"
    if name in _GANGLION_NAMES:
        return "ganglion"
    return None


def cyton_lead_off_commands(channels: Sequence[int], on: bool, test_p: bool = False) -> list[str]:
    """Config strings switching the lead-off drive of Cyton channels on or off.

    Parameters
    ----------
    channels : sequence of int
        0-based amplifier channels (0-7 Cyton, 8-15 Daisy).
    on : bool
        Drive on (measure) or off (back to EEG).
    test_p : bool
        Test the P input instead of the N input (montages with electrodes on the top pins).

    Returns
    -------
    list of str
        E.g. ``["z101Z", "z201Z"]``.
    """
    out = []
    for ch in channels:
        ch = int(ch)
        if not 0 <= ch < len(CYTON_CHANNEL_CHARS):
            raise ValueError(f"Cyton lead-off channels are 0..{len(CYTON_CHANNEL_CHARS) - 1}, got {ch}.")
        p, n = (int(on), 0) if test_p else (0, int(on))
        out.append(f"z{CYTON_CHANNEL_CHARS[ch]}{p}{n}Z")
    return out


def ganglion_impedance_commands(on: bool) -> list[str]:
    """``["z"]`` (impedance mode on) or ``["Z"]`` (off)."""
    return ["z" if on else "Z"]


def lead_off_commands(board_name: str, channels: Sequence[int], on: bool) -> list[str]:
    """The config strings for ``board_name`` (empty when it measures no impedance)."""
    kind = lead_off_kind(board_name)
    if kind == "cyton":
        return cyton_lead_off_commands(channels, on)
    if kind == "ganglion":
        return ganglion_impedance_commands(on)
    return []


def resistance_rows(board_id: int) -> list[int]:
    """BrainFlow rows where the board reports electrode resistance (empty when none)."""
    try:
        return list(BoardShim.get_resistance_channels(int(board_id)))
    except Exception:  # noqa: BLE001 - BrainFlow raises for boards without resistance rows
        return []


def send_commands(source: Any, commands: Sequence[str]) -> list[str]:
    """Send config strings through ``source.config_board``; return the board's answers.

    Raises
    ------
    TypeError
        The source cannot take board configuration (a replay, the sleeper board).
    """
    config = getattr(source, "config_board", None)
    if not callable(config):
        raise TypeError(f"{type(source).__name__} takes no board configuration (no config_board).")
    return [str(config(cmd)) for cmd in commands]
