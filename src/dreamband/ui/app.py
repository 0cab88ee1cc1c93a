"""Window entry points of the CLI: ``dreamband live`` / ``replay`` (with a display) and
``dreamband screenshot``.

Each builds the real pipeline (``session.sources.open_source`` -> ``SessionEngine``) and opens a
:class:`~dreamband.ui.console.NightConsole` on it. Live sessions run the engine in its own
thread; ``screenshot`` on a replay (or any source that can replay fast) steps the engine in
manual mode as fast as it goes up to ``--after`` seconds of data, so a picture of hour 7 of a
night takes seconds, not hours.
"""

from __future__ import annotations

import argparse
import copy
import os
import sys
import time
from pathlib import Path
from typing import Any

from pyqtgraph.Qt import QtCore, QtWidgets

from dreamband.ui import theme
from dreamband.ui.console import NightConsole

#: ``dreamband screenshot --screen`` choices.
SCREENS = ("lab", "check", "night", "morning")

__all__ = ["make_app", "open_engine", "render_console", "run_live_window", "run_replay_window",
           "run_screenshot"]


def make_app() -> QtWidgets.QApplication:
    """Return the QApplication (created once) with the night theme applied."""
    app = QtWidgets.QApplication.instance()
    if app is None:
        app = QtWidgets.QApplication(sys.argv[:1])
        app.setApplicationName("dreamband")
    theme.apply_night_theme(app)
    return app


def open_engine(args: argparse.Namespace, replay: bool = False) -> Any:
    """The engine for the CLI options: source, settings and session folder, exactly as the
    headless commands build it (``session.live.build_engine``)."""
    from dreamband.session.live import build_engine

    return build_engine(args, replay=replay)


def _restart_factory(args: argparse.Namespace, replay: bool = True):
    """``factory(source) -> SessionEngine`` used after a replay seek: built as the first engine
    was (settings, muting, session folder, net-out sink), from the new position."""
    from dreamband.session.live import engine_for_source

    def factory(source: Any) -> Any:
        return engine_for_source(args, source, replay=replay)

    return factory


def _replay_source(engine: Any) -> Any:
    source = getattr(engine, "source", None)
    if source is not None and hasattr(source, "seek") and hasattr(source, "set_speed"):
        return source
    return None


def _board_label(args: argparse.Namespace, engine: Any) -> str:
    if getattr(args, "file", None) or getattr(args, "replay", None):
        return f"replay: {Path(getattr(args, 'file', None) or args.replay).name}"
    return str(getattr(args, "board", None) or getattr(getattr(engine.source, "info", None), "name", "") or "synthetic")


def _make_console(args: argparse.Namespace, engine: Any, start_engine: bool = True,
                  bedside: bool = False) -> NightConsole:
    """The console; ``bedside`` (``dreamband live``): open on the signal check, night mode at
    the first sleep epoch, the morning view at the end."""
    replay = _replay_source(engine)
    factory = _restart_factory(args, replay=bool(getattr(args, "file", None))) if replay is not None else None
    return NightConsole(engine, replay=replay, board_name=_board_label(args, engine),
                        engine_factory=factory, start_engine=start_engine, check_first=bedside,
                        night_mode=bedside, morning=bedside or replay is not None)


def _run_window(args: argparse.Namespace, replay: bool) -> int:
    app = make_app()
    engine = open_engine(args, replay=replay)
    bedside = not replay
    console = _make_console(args, engine, start_engine=bedside, bedside=bedside)
    try:
        # a board that cannot be opened fails here, with a clear message; a live night opens
        # the board for the signal check and starts the session when the user starts the night
        engine.source.start() if bedside else engine.start()
    except BaseException:
        console.shutdown()
        raise
    console.show()
    try:
        app.exec()
    finally:
        console.shutdown()
    error = getattr(console.engine, "error", None)
    if error is not None:
        print(f"dreamband: the session stopped on an error: {error}", file=sys.stderr)
        return 1
    return 0


def run_live_window(args: argparse.Namespace) -> int:
    """``dreamband live`` with a display: the night console on a board (synthetic by default)."""
    return _run_window(args, replay=False)


def run_replay_window(args: argparse.Namespace) -> int:
    """``dreamband replay FILE`` with a display: the night console on a recording, with
    play/pause, speed and seek."""
    if getattr(args, "speed", None) is None:
        args.speed = "1"  # a window replays at real time unless --speed says otherwise
    return _run_window(args, replay=True)


def render_console(console: NightConsole, path: str | os.PathLike) -> Path:
    """Draw every panel and write the window as a PNG at ``path``; return the path."""
    app = make_app()
    console.refresh()
    console.update_status()
    app.processEvents()
    console.refresh()
    app.processEvents()
    path = Path(path)
    if path.parent and not path.parent.exists():
        raise FileNotFoundError(f"The folder {path.parent} does not exist; create it or pick another path.")
    if not console.grab().save(str(path), "PNG"):
        raise OSError(f"Could not write the PNG {path}.")
    return path


def _parse_size(text: str | None) -> tuple[int, int]:
    if not text:
        return 1400, 860
    try:
        w, h = (int(v) for v in str(text).lower().split("x"))
    except ValueError:
        raise ValueError(f"--size must look like 1400x860, got {text!r}.") from None
    if not (320 <= w <= 8000 and 240 <= h <= 8000):
        raise ValueError(f"--size {text!r} is out of range (320x240 ... 8000x8000).")
    return w, h


def run_screenshot(args: argparse.Namespace) -> int:
    """``dreamband screenshot OUT.png --after SECONDS [--replay FILE | --board NAME]``.

    A replay (or a board that can replay, like ``sleeper``) is stepped in manual mode as fast
    as the machine goes until ``--after`` seconds of data; a live board streams in real time
    for that long. Then the window is drawn offscreen and written as a PNG. ``--screen``
    chooses the screen: ``lab`` (default), ``check`` (the signal check on a live board, after
    ``--after`` seconds of it), ``night`` (night mode) or ``morning`` (the session ended there;
    recorded into a temporary folder so the report is written as after a real night).
    """
    screen = str(getattr(args, "screen", None) or "lab")
    if screen not in SCREENS:
        raise ValueError(f"--screen must be one of {', '.join(SCREENS)}, got {screen!r}.")
    if not _display_available():
        os.environ["QT_QPA_PLATFORM"] = "offscreen"  # a picture needs no screen
    after = float(args.after)
    if not after > 0:
        raise ValueError(f"--after must be a positive number of seconds, got {args.after}.")
    out = Path(args.output)
    if out.suffix.lower() != ".png":
        raise ValueError(f"The screenshot is a PNG: give a path ending in .png, got {out}.")
    width, height = _parse_size(getattr(args, "size", None))
    src_args = copy.copy(args)
    src_args.no_record = True
    is_replay = bool(getattr(args, "replay", None))
    if screen == "check" and (is_replay or str(getattr(args, "board", "") or "").lower() == "sleeper"):
        raise ValueError("--screen check shows the signal check of a live board; drop --replay (and --board sleeper).")
    tmp = None
    if screen == "morning":
        import tempfile

        tmp = tempfile.TemporaryDirectory(prefix="dreamband-screenshot-")
        src_args.no_record = False
        src_args.session_dir = tmp.name
    if is_replay:
        if not Path(args.replay).exists():
            raise FileNotFoundError(f"Recording {args.replay} does not exist.")
        src_args.file = args.replay
    if is_replay or str(getattr(args, "board", "") or "").lower() == "sleeper":
        src_args.speed = "max"  # replays (and the generated sleeper) run fast to --after
    app = make_app()
    engine = open_engine(src_args, replay=is_replay)
    fast = _replay_source(engine) is not None
    if screen == "check":
        console = _make_console(src_args, engine, start_engine=False, bedside=True)
        engine.source.start()
    else:
        console = _make_console(src_args, engine, start_engine=not fast)
        console.morning_enabled = screen == "morning"
    console.resize(width, height)
    console.show()
    try:
        if fast and screen != "check":
            _step_until(engine, console, app, after)
        else:
            _wait(app, console, after)
            console.poll(budget_s=1.0)
        console.traces.auto_gain()  # fit the traces to the last seconds shown
        if screen == "check" and console.check_view is not None:
            console.check_view.judge()
        elif screen == "night":
            console.enter_night_mode("screenshot")
        elif screen == "morning":
            _end_for_morning(engine, console, app)
        render_console(console, out)
    finally:
        console.shutdown()
        console.close()
        if tmp is not None:
            tmp.cleanup()
    print(f"wrote {out} ({out.stat().st_size // 1024} KB, {console.session_time:.0f} s of data)")
    return 0


def _wait(app: QtWidgets.QApplication, console: NightConsole, seconds: float) -> None:
    deadline = time.monotonic() + seconds
    while time.monotonic() < deadline and not console.ended:
        app.processEvents(QtCore.QEventLoop.ProcessEventsFlag.AllEvents, 50)
        time.sleep(0.01)


def _end_for_morning(engine: Any, console: NightConsole, app: QtWidgets.QApplication) -> None:
    """End the session where it is and wait for the morning view's report."""
    if not engine.ended:
        engine.stop()
    console.poll(budget_s=60.0)
    if console.mode != "morning":
        console.show_morning()
    deadline = time.monotonic() + 120.0
    while console.report_timer.isActive() and time.monotonic() < deadline:
        app.processEvents(QtCore.QEventLoop.ProcessEventsFlag.AllEvents, 50)
        time.sleep(0.02)


def _step_until(engine: Any, console: NightConsole, app: QtWidgets.QApplication, after: float) -> None:
    """Manual mode: step the engine until ``after`` seconds of data, feeding the console."""
    steps = 0
    while engine.time < after and not engine.ended:
        engine.step()
        steps += 1
        if steps % 50 == 0:
            console.poll(budget_s=60.0)
            if steps % 500 == 0:
                app.processEvents()
    console.poll(budget_s=60.0)


def _display_available() -> bool:
    if os.environ.get("QT_QPA_PLATFORM"):
        return True
    if sys.platform in ("win32", "darwin"):
        return True
    return bool(os.environ.get("DISPLAY") or os.environ.get("WAYLAND_DISPLAY"))
