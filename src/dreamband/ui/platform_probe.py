"""Can a Qt window open here? Asked in a child process before the application is created.

Qt aborts the whole process (SIGABRT, exit 134) when its platform plugin cannot load, e.g. on a
Linux desktop without ``libxcb-cursor0`` (Qt >= 6.5 needs it for ``xcb``). The probe creates a
``QApplication`` in a subprocess; when that fails, :func:`probe_qt_platform` says why and which
system packages to install, and the command runs headless instead of dying.

This module imports no Qt itself (the child does), so the CLI can call it before deciding.
"""

from __future__ import annotations

import os
import subprocess
import sys

#: system packages Qt's xcb platform needs, per package manager (README "System packages")
XCB_PACKAGES: dict[str, str] = {
    "Debian/Ubuntu": "sudo apt install libxcb-cursor0 libxcb-icccm4 libxcb-keysyms1 libxcb-image0 "
                     "libxcb-render-util0 libxcb-xkb1 libxkbcommon-x11-0",
    "Fedora": "sudo dnf install xcb-util-cursor xcb-util-wm xcb-util-keysyms xcb-util-image "
              "xcb-util-renderutil libxkbcommon-x11",
    "Arch": "sudo pacman -S xcb-util-cursor xcb-util-wm xcb-util-keysyms xcb-util-image "
            "xcb-util-renderutil libxkbcommon-x11",
}

_CHILD = ("import sys\n"
          "from PySide6.QtWidgets import QApplication\n"
          "app = QApplication(sys.argv[:1])\n"
          "print(app.platformName())\n")

#: platforms that never need a display server (nothing to probe)
NO_PROBE_PLATFORMS = ("offscreen", "minimal", "vnc")


def needs_probe(environ: dict[str, str] | None = None) -> bool:
    """True on Linux/BSD desktops (xcb or Wayland), where Qt's plugin can fail to load."""
    env = os.environ if environ is None else environ
    if env.get("QT_QPA_PLATFORM", "").split(":")[0] in NO_PROBE_PLATFORMS:
        return False
    return not sys.platform.startswith(("win32", "darwin"))


def probe_qt_platform(timeout: float = 30.0, environ: dict[str, str] | None = None) -> tuple[bool, str]:
    """Create a QApplication in a child process.

    Parameters
    ----------
    timeout : float
        Seconds the child may take.
    environ : dict, optional
        Environment of the child (default: this process's).

    Returns
    -------
    ok : bool
        True when the child opened the platform.
    text : str
        The platform's name when ok, else a message: what failed, and what to install.
    """
    env = dict(os.environ if environ is None else environ)
    try:
        r = subprocess.run([sys.executable, "-c", _CHILD], capture_output=True, text=True,
                           timeout=timeout, env=env)
    except subprocess.TimeoutExpired:
        return False, f"Qt did not start within {timeout:g} s (is the display server answering?)."
    if r.returncode == 0:
        return True, r.stdout.strip().splitlines()[-1] if r.stdout.strip() else "?"
    return False, explain_failure(r.stderr, r.returncode, env)


def explain_failure(stderr: str, returncode: int, env: dict[str, str] | None = None) -> str:
    """A message for a Qt start that failed with ``stderr`` / ``returncode``."""
    env = os.environ if env is None else env
    err = stderr or ""
    lines = [ln for ln in err.splitlines() if ln.strip()]
    first = lines[0] if lines else f"exit code {returncode}"
    if "xcb-cursor" in err or ('"xcb"' in err and "even though it was found" in err):
        how = "\n".join(f"             {k}: {v}" for k, v in XCB_PACKAGES.items())
        return ("Qt's xcb platform plugin cannot load: a system library is missing "
                f"(Qt said: {first.strip()}).\n"
                "           Install the X11 libraries Qt needs, then run the command again:\n" + how)
    if "could not connect to display" in err:
        return (f"Qt could not connect to the display {env.get('DISPLAY', '')!r} (is an X server or "
                "Wayland session running there?).")
    if "No module named" in err:
        return f"PySide6 is not importable ({first.strip()}); reinstall dreamband."
    return f"Qt could not start a window (exit code {returncode}): {first.strip()}"
