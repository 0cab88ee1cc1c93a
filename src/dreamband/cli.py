"""The ``dreamband`` command.

Each verb parses its arguments here and hands the parsed namespace to one function in
``dreamband.session`` (or ``dreamband.ui`` for windows). Heavy modules are imported lazily so
``dreamband --help`` is instant.
"""

from __future__ import annotations

import argparse
import importlib
import os
import sys
from collections.abc import Callable, Sequence

from dreamband import __version__

# verb -> (module, function, one-line help). The function takes the argparse namespace and
# returns an exit code.
_VERBS: dict[str, tuple[str, str, str]] = {
    "live": ("dreamband.session.live", "run_live", "Stream a board, stage sleep live, fire gentle wake triggers (window or --headless)."),
    "replay": ("dreamband.session.replay", "run_replay", "Feed a recording through the same engine as live, at 1x, Nx or --speed max."),
    "check": ("dreamband.session.check", "run_check", "Check the signal before lights-off: a verdict per channel and what to do (exit 0 when ready)."),
    "boards": ("dreamband.session.boards", "run_boards", "List the supported boards with their rate and channel names."),
    "stage": ("dreamband.session.cohort", "run_stage", "Stage recordings offline (one night or a cohort, optionally on Dask): hypnogram CSVs and cohort.csv."),
    "evaluate": ("dreamband.session.offline", "run_evaluate", "Score the shipped stager against expert hypnograms (Sleep-EDF features or DREAMS)."),
    "train": ("dreamband.session.offline", "run_train", "Train the sleep-stage model on Sleep-EDF features (needs the 'train' extra)."),
    "simulate": ("dreamband.session.simulate", "run_simulate", "Write a generated night (EDF+ or BrainFlow CSV) from the sleeper model."),
    "report": ("dreamband.session.morning", "run_report", "The morning report of a night: statistics, hypnogram and spectrogram (PNG, HTML)."),
    "trends": ("dreamband.session.morning", "run_trends", "Many nights side by side: a table and a plot."),
    "recover": ("dreamband.session.morning", "run_recover", "Turn a session folder left by a crash into a complete recording."),
    "export": ("dreamband.session.morning", "run_export", "Export a session folder (e.g. --format brainflow-csv for BrainFlow's playback board)."),
    "screenshot": ("dreamband.ui.app", "run_screenshot", "Write a PNG of the night console after some seconds of data."),
}

BOARD_CHOICES_HELP = (
    "synthetic (default), sleeper, lsl, playback, cyton, cyton-daisy, ganglion, muse-s, muse-2, "
    "or any BrainFlow board id as an integer"
)


def _add_source_args(p: argparse.ArgumentParser) -> None:
    g = p.add_argument_group("board")
    g.add_argument("--board", default=None, help=f"Board to stream: {BOARD_CHOICES_HELP}.")
    g.add_argument("--config", default=None, metavar="TOML", help="TOML file with board, montage and trigger settings.")
    g.add_argument("--serial-port", default=None, help="Serial port of the dongle, e.g. /dev/ttyUSB0 or COM3.")
    g.add_argument("--mac-address", default=None, help="Bluetooth MAC address (Ganglion, Muse).")
    g.add_argument("--ip-address", default=None, help="IP address (WiFi shield, streaming boards).")
    g.add_argument("--ip-port", type=int, default=None, help="IP port.")
    g.add_argument("--serial-number", default=None, help="Device serial number/name (e.g. Muse-XXXX).")
    g.add_argument("--playback-file", default=None, help="BrainFlow CSV file for --board playback.")
    g.add_argument("--master-board", default=None, help="Board whose file is played back (for --board playback).")
    g.add_argument("--timeout", type=float, default=None, help="Seconds to wait when connecting (default 15).")
    g.add_argument("--eeg", default=None, metavar="CHANNELS", help="Comma-separated channel names or rows used as frontal EEG, e.g. Fp1,Fp2.")
    g.add_argument("--eog", default=None, metavar="CHANNELS", help="Comma-separated channels used as EOG.")
    g.add_argument("--emg", default=None, metavar="CHANNELS", help="Comma-separated channels used as EMG.")
    g = p.add_argument_group("LSL in (--board lsl)")
    g.add_argument("--stream-name", default=None, metavar="NAME", help="Name of the LSL stream to read (--board lsl).")
    g.add_argument("--stream-type", default=None, metavar="TYPE", help="Type of the LSL stream to read, e.g. EEG (first match).")
    g.add_argument("--lsl-units", default=None, choices=["uV", "mV", "V"],
                   help="Unit of LSL channels whose description states none (default uV).")
    g.add_argument("--lsl-sfreq", type=float, default=None, metavar="HZ",
                   help="The samples' true rate, for an LSL stream that declares none (irregular) or a wrong one.")
    g.add_argument("--lsl-scope", default=None, choices=["machine", "lan"],
                   help="LSL discovery scope of --board lsl and --lsl-out: this machine (default) or the local network.")


def _add_session_args(p: argparse.ArgumentParser) -> None:
    g = p.add_argument_group("session")
    g.add_argument("--headless", action="store_true", help="No window: print one line per epoch instead.")
    g.add_argument("--duration", type=float, default=None, metavar="SECONDS", help="Stop after this much data.")
    g.add_argument("--session-dir", default=None, metavar="DIR", help="Write the session folder under DIR (default: the user's data directory).")
    g.add_argument("--no-record", action="store_true", help="Do not write a session folder.")
    g.add_argument("--speed", default=None, help="Replay speed: 1 (real time), N (N times faster) or max.")
    g.add_argument("--seek", type=float, default=None, metavar="SECONDS", help="Start a replay this many seconds in.")
    g.add_argument("--net-out", default=None, metavar="HOST:PORT", help="Also send every event (stages, states, triggers...) as JSON over UDP to HOST:PORT.")
    g.add_argument("--model", default=None,
                   help="Staging model: fpz (one frontal channel, default), fpz+pz (frontal + parietal: the "
                        "montage's staging channels, or the picker's two EEG channels), or a model file.")
    g.add_argument("--lsl-out", action="store_true",
                   help="Publish events (JSON markers) and stage probabilities as LSL streams for LabRecorder "
                        "(discoverable on this machine only unless --lsl-scope lan).")
    g.add_argument("--status-every", type=float, default=5.0, metavar="SECONDS", help="Seconds between status lines in headless mode.")
    g.add_argument("--line-hz", default=None, choices=["50", "60", "both"],
                   help="Mains frequency to notch before staging: 50, 60 or both (default; also [session] line_hz).")
    t = p.add_argument_group("wake triggers")
    t.add_argument("--alarm", default=None, metavar="HH:MM-HH:MM", help="Smart-alarm window, e.g. 06:30-07:00.")
    t.add_argument("--max-hours", type=float, default=None, help="Safety: maximum session length in hours (always wakes).")
    t.add_argument("--triggers", default=None, metavar="NAMES", help="Comma-separated policies to enable (smart_alarm, nightmare_wake, dream_report, rem_cue).")
    t.add_argument("--actions", default=None, metavar="NAMES", help="Comma-separated actions: log, marker, sound, command, notify.")
    t.add_argument("--action-command", default=None, metavar="CMD", help="Shell command run by the 'command' action (intensity in $DREAMBAND_INTENSITY).")


def build_parser() -> argparse.ArgumentParser:
    """Return the argument parser of the ``dreamband`` command."""
    parser = argparse.ArgumentParser(
        prog="dreamband",
        description="Open-source neurofeedback for a sleep headband: live sleep staging and gentle wake triggers.",
    )
    parser.add_argument("--version", action="version", version=f"dreamband {__version__}")
    sub = parser.add_subparsers(dest="verb", metavar="VERB")
    sub.required = True
    helps = {verb: spec[2] for verb, spec in _VERBS.items()}

    p = sub.add_parser("live", help=helps["live"], description=helps["live"])
    _add_source_args(p)
    _add_session_args(p)
    g = p.add_argument_group("sleeper board")
    g.add_argument("--seed", type=int, default=None, help="Seed of the generated night for --board sleeper (default 1).")
    g.add_argument("--hypnogram", default=None, help="Hypnogram file the sleeper board's night follows (default: drawn from the sleep model).")

    p = sub.add_parser("replay", help=helps["replay"], description=helps["replay"])
    p.add_argument("file", help="Recording: EDF/BDF/FIF, XDF (--stream-name/--stream-type pick its EEG stream), BrainFlow CSV, OpenBCI GUI .txt, Muse CSV, or a session folder.")
    p.add_argument("--via-board", action="store_true", help="Replay a BrainFlow CSV through BrainFlow's PLAYBACK_FILE_BOARD at real time.")
    _add_source_args(p)
    _add_session_args(p)

    p = sub.add_parser("check", help=helps["check"], description=helps["check"])
    _add_source_args(p)
    p.add_argument("--seconds", type=float, default=8.0, help="Seconds of signal to judge (default 8).")
    p.add_argument("--impedance", action="store_true",
                   help="Also measure electrode impedance in lead-off mode (Cyton, Cyton+Daisy, Ganglion).")

    p = sub.add_parser("boards", help=helps["boards"], description=helps["boards"])

    p = sub.add_parser("stage", help=helps["stage"], description=helps["stage"])
    p.add_argument("paths", nargs="+", metavar="PATH",
                   help="Recordings: files (any format replay reads), folders (searched recursively) or glob patterns.")
    p.add_argument("--out-dir", default=None, metavar="DIR",
                   help="Where <name>.hypnogram.csv and cohort.csv go (default: the recordings' folder).")
    p.add_argument("-o", "--output", default=None, help="Hypnogram CSV of a single recording (instead of --out-dir).")
    p.add_argument("--workers", type=int, default=None, metavar="N",
                   help="Stage on a local Dask cluster of N processes (needs the 'cohort' extra).")
    p.add_argument("--scheduler", default=None, metavar="ADDRESS",
                   help="Stage on a running Dask cluster, e.g. tcp://host:8786 (workers must see the same paths).")
    p.add_argument("--force", action="store_true", help="Stage again nights cohort.csv says are done.")
    p.add_argument("--eeg", default=None, metavar="CHANNELS",
                   help="Comma-separated EEG channel(s) to stage from, e.g. Fpz or Fp1,Fp2 (as on live).")
    p.add_argument("--channels", dest="eeg", default=argparse.SUPPRESS, help=argparse.SUPPRESS)  # older name
    p.add_argument("--model", default=None, help="Model file (default: the shipped one-channel model).")
    p.add_argument("--board", default=None, help="Board that wrote BrainFlow CSVs without a session.json (name or id).")
    p.add_argument("--master-board", default=None, help="Same as --board, for files written by BrainFlow's playback board.")

    p = sub.add_parser("evaluate", help=helps["evaluate"], description=helps["evaluate"])
    src = p.add_mutually_exclusive_group(required=True)
    src.add_argument("--features", default=None, metavar="DIR", help="Folder laid out like shared/datasets/sleep-edf.")
    src.add_argument("--dreams", default=None, metavar="DIR", help="Folder of DREAMS excerpts (raw EEG + hypnograms).")
    p.add_argument("--model", default=None, help="Model file (default: the shipped one).")

    p = sub.add_parser("train", help=helps["train"], description=helps["train"])
    p.add_argument("--data", required=True, metavar="DIR", help="Folder laid out like shared/datasets/sleep-edf.")
    p.add_argument("--eeg", default="fpz", choices=["fpz", "fpz+pz"],
                   help="EEG channels the model is trained on: one frontal channel (fpz, default) or two.")
    p.add_argument("--channels", dest="eeg", choices=["fpz", "fpz+pz"], default=argparse.SUPPRESS,
                   help=argparse.SUPPRESS)  # older name
    p.add_argument("--seed", type=int, default=0)
    p.add_argument("-o", "--output", default=None, help="Where to write the model (default: the package's models folder).")

    p = sub.add_parser("simulate", help=helps["simulate"], description=helps["simulate"])
    p.add_argument("output", help="Output file: .edf (EDF+ with the true hypnogram) or .csv (BrainFlow CSV).")
    p.add_argument("--hours", type=float, default=8.0)
    p.add_argument("--seed", type=int, default=1)
    p.add_argument("--sfreq", type=float, default=250.0)
    p.add_argument("--hypnogram", default=None, help="Hypnogram file to generate from (default: drawn from the sleep model).")

    p = sub.add_parser("report", help=helps["report"], description=helps["report"])
    p.add_argument("path", help="A session folder or a recording file.")
    p.add_argument("-o", "--output", default=None, metavar="DIR", help="Where to write report.png and report.html.")

    p = sub.add_parser("trends", help=helps["trends"], description=helps["trends"])
    p.add_argument("folder", help="A folder of session folders.")
    p.add_argument("-o", "--output", default=None, metavar="DIR")

    p = sub.add_parser("recover", help=helps["recover"], description=helps["recover"])
    p.add_argument("folder", help="A session folder.")

    p = sub.add_parser("export", help=helps["export"], description=helps["export"])
    p.add_argument("folder", help="A session folder.")
    p.add_argument("--format", default="brainflow-csv", choices=["brainflow-csv"], help="Output format.")
    p.add_argument("-o", "--output", default=None, help="Output file (default: FOLDER/session.csv).")

    p = sub.add_parser("screenshot", help=helps["screenshot"], description=helps["screenshot"])
    p.add_argument("output", help="PNG file to write.")
    p.add_argument("--after", type=float, default=60.0, metavar="SECONDS", help="Seconds of data before the picture.")
    p.add_argument("--replay", default=None, metavar="FILE", help="Replay this recording (fast) instead of a board.")
    p.add_argument("--size", default="1400x860", metavar="WxH", help="Window size in pixels (default 1400x860).")
    p.add_argument("--screen", default="lab", choices=["lab", "check", "night", "morning"],
                   help="Which screen: lab (default), check (signal check, live boards), night (night mode), morning.")
    p.add_argument("--alarm", default=None, metavar="HH:MM-HH:MM", help="Smart-alarm window to show (and fire), e.g. 06:30-07:00.")
    p.add_argument("--triggers", default=None, metavar="NAMES", help="Comma-separated policies to enable (smart_alarm, nightmare_wake, dream_report, rem_cue).")
    _add_source_args(p)
    return parser


def _has_display() -> bool:
    if os.environ.get("QT_QPA_PLATFORM", "") in ("offscreen", "minimal", "vnc"):
        return True
    if sys.platform in ("win32", "darwin"):
        return True
    return bool(os.environ.get("DISPLAY") or os.environ.get("WAYLAND_DISPLAY"))


def _qt_platform_ok() -> tuple[bool, str]:
    """Probe Qt in a child process (Linux desktops) before creating the application: a missing
    libxcb-cursor0 aborts Qt (exit 134) instead of raising."""
    from dreamband.ui.platform_probe import needs_probe, probe_qt_platform

    if not needs_probe():
        return True, ""
    return probe_qt_platform()


def _resolve(verb: str, args: argparse.Namespace) -> Callable[[argparse.Namespace], int]:
    module, func, _ = _VERBS[verb]
    if verb in ("live", "replay") and not getattr(args, "headless", False):
        ok, why = _qt_platform_ok() if _has_display() else (True, "")
        if _has_display() and not ok:
            print(f"dreamband: no window can open: {why}\n"
                  f"           Running headless instead: `dreamband {verb} --headless ...` prints one line per epoch.",
                  file=sys.stderr)
            args.headless = True
        elif _has_display():
            module, func = "dreamband.ui.app", f"run_{verb}_window"
        else:
            print(
                "dreamband: no display found (DISPLAY/WAYLAND_DISPLAY unset), so no window can open.\n"
                f"           Running headless instead: `dreamband {verb} --headless ...` prints one line per epoch.\n"
                "           For a picture of the window on this machine: `dreamband screenshot OUT.png --after 120`.",
                file=sys.stderr,
            )
            args.headless = True
    return getattr(importlib.import_module(module), func)


def main(argv: Sequence[str] | None = None) -> int:
    """Run the ``dreamband`` command and return its exit code."""
    parser = build_parser()
    args = parser.parse_args(argv)
    handler = _resolve(args.verb, args)
    try:
        return int(handler(args) or 0)
    except KeyboardInterrupt:
        print("dreamband: stopped.", file=sys.stderr)
        return 130
    except (ValueError, TypeError, FileNotFoundError, PermissionError, RuntimeError, OSError) as err:
        print(f"dreamband {args.verb}: error: {err}", file=sys.stderr)
        return 2


if __name__ == "__main__":  # pragma: no cover
    raise SystemExit(main())
