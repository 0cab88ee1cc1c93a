"""Issue 12 (h): a desktop whose Qt platform cannot load falls back to headless and names the packages."""

from __future__ import annotations

import os
import subprocess
import sys

from dreamband.ui.platform_probe import explain_failure, needs_probe, probe_qt_platform


def _broken_env() -> dict[str, str]:
    env = {k: v for k, v in os.environ.items() if k not in ("QT_QPA_PLATFORM", "WAYLAND_DISPLAY")}
    env["DISPLAY"] = ":99"  # no X server there; without libxcb-cursor0 Qt aborts even earlier
    env["CI"] = "1"
    return env


def test_probe_reports_a_platform_that_cannot_load():
    ok, why = probe_qt_platform(environ=_broken_env())
    assert not ok
    assert ("libxcb-cursor0" in why and "libxcb-icccm4" in why and "libxcb-keysyms1" in why) or \
        "could not connect to the display ':99'" in why
    ok, name = probe_qt_platform(environ={**os.environ, "QT_QPA_PLATFORM": "offscreen"})
    assert ok and name == "offscreen"
    assert not needs_probe({"QT_QPA_PLATFORM": "offscreen"})


def test_missing_xcb_cursor_names_the_packages():
    stderr = ("qt.qpa.plugin: From 6.5.0, xcb-cursor0 or libxcb-cursor0 is needed to load the Qt xcb platform plugin.\n"
              'qt.qpa.plugin: Could not load the Qt platform plugin "xcb" in "" even though it was found.\n')
    text = explain_failure(stderr, -6)
    assert "sudo apt install libxcb-cursor0 libxcb-icccm4 libxcb-keysyms1" in text
    assert "xcb-util-cursor" in text  # Fedora / Arch names


def test_live_falls_back_to_headless_instead_of_aborting(tmp_path):
    """Before: Qt's plugin message and SIGABRT (exit 134)."""
    out = subprocess.run([sys.executable, "-m", "dreamband", "live", "--board", "synthetic", "--duration", "2",
                          "--no-record", "--status-every", "0"], capture_output=True, text=True, timeout=120,
                         env=_broken_env(), cwd=tmp_path)
    assert out.returncode == 0, out.stderr
    assert "no window can open" in out.stderr and "Running headless instead" in out.stderr
    assert "session ended at 0:00:02 of data: duration reached" in out.stdout
