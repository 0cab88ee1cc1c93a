"""Package-level facts: the stdlib ``signal`` is not shadowed, the CLI answers."""

from __future__ import annotations

import subprocess
import sys

import dreamband
from dreamband.cli import _VERBS, build_parser


def test_stdlib_signal_is_not_shadowed():
    import signal

    assert hasattr(signal, "SIGINT"), "`import signal` must be Python's standard library"
    assert "dreamband" not in (signal.__file__ or "")


def test_dreamband_signal_is_ours():
    import dreamband.signal as ours

    assert "dreamband" in ours.__file__


def test_version_is_set():
    assert dreamband.__version__ and dreamband.__version__ != "0.0.0+unknown"


def test_help_lists_every_verb_with_one_line():
    text = build_parser().format_help()
    for verb in _VERBS:
        assert verb in text


def test_python_dash_m_runs():
    out = subprocess.run(
        [sys.executable, "-m", "dreamband", "--help"], capture_output=True, text=True, timeout=60
    )
    assert out.returncode == 0, out.stderr
    assert "live" in out.stdout and "replay" in out.stdout
