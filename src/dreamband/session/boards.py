"""``dreamband boards``: the supported boards, as BrainFlow describes them."""

from __future__ import annotations

import argparse

from dreamband.firmware_bridge.boards import BOARD_NAMES, board_info, connection_hint, list_boards
from dreamband.firmware_bridge.montage import Montage


def boards_table() -> list[dict[str, str]]:
    """Return one row per named board: name, BrainFlow id, rate, EEG names, accel, staging channel.

    Everything is read from BrainFlow's board descriptions.
    """
    rows = []
    for info in list_boards():
        montage = Montage.default(info)
        rows.append(
            {
                "board": info.name,
                "id": str(info.streaming_id),
                "rate": f"{info.sfreq:g} Hz",
                "eeg": ",".join(info.eeg_names),
                "accel": "yes" if info.accel_rows else (
                    f"aux {info.aux_sfreq:g} Hz" if info.aux_accel_rows else "no"),
                "frontal": ",".join(montage.names[i] for i in montage.frontal),
                "connect": info.connection,
            }
        )
    pb = board_info("playback", master_board="synthetic")
    rows.insert(
        BOARD_NAMES.index("playback"),
        {
            "board": "playback",
            "id": str(pb.streaming_id),
            "rate": "of master",
            "eeg": "those of --master-board",
            "accel": "-",
            "frontal": "-",
            "connect": connection_hint("playback"),
        },
    )
    return rows


def run_boards(args: argparse.Namespace) -> int:
    """Print the table of supported boards and return 0."""
    rows = boards_table()
    cols = [("board", "board"), ("id", "BrainFlow id"), ("rate", "rate"), ("accel", "accel"),
            ("frontal", "frontal EEG"), ("eeg", "EEG channels")]
    widths = {k: max(len(title), *(len(r[k]) for r in rows)) for k, title in cols}
    print("  ".join(title.ljust(widths[k]) for k, title in cols).rstrip())
    print("  ".join("-" * widths[k] for k, _ in cols))
    for r in rows:
        print("  ".join(r[k].ljust(widths[k]) for k, _ in cols).rstrip())
    print()
    print("How to connect:")
    for r in rows:
        print(f"  {r['board']:<16} {r['connect']}")
    print("  <integer id>     any other BrainFlow board id, e.g. --board 5 (CYTON_WIFI_BOARD)")
    print()
    print("Rates, rows and names come from BrainFlow's board descriptions. Choose channels with "
          "--eeg/--eog/--emg or the [montage] section of --config.")
    print_lsl_streams()
    return 0


def print_lsl_streams(timeout: float = 1.0) -> None:
    """The LSL streams seen on this machine (``--board lsl --stream-name NAME``), if MNE-LSL is installed."""
    print()
    try:
        import mne_lsl  # noqa: F401
    except ImportError:
        print("LSL streams: install the 'lsl' extra (pip install 'dreamband[lsl]') for --board lsl.")
        return
    from dreamband.firmware_bridge.lsl import configure_liblsl, list_lsl_streams

    configure_liblsl("machine")
    streams = list_lsl_streams(timeout)
    if not streams:
        print(f"LSL streams seen on this machine in {timeout:g} s: none (--board lsl --stream-name NAME reads one).")
        return
    print("LSL streams seen on this machine (--board lsl --stream-name NAME, or --stream-type TYPE):")
    for st in streams:
        rate = f"{st['sfreq']:g} Hz" if st["sfreq"] > 0 else "irregular"
        print(f"  {st['name']:<24} type {st['type'] or '-':<10} {rate:<10} {st['n_channels']} ch  "
              f"source {st['source_id'] or '-'} on {st['hostname'] or '?'}")

