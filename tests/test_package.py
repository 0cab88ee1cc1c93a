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


def test_readme_quick_start_has_two_commands_and_ci_runs_the_test_one():
    from pathlib import Path

    root = Path(__file__).resolve().parents[1]
    readme = (root / "README.md").read_text()
    quick = readme.split("## Quick start", 1)[1].split("\n## ", 1)[0]
    blocks = [b.split("\n", 1)[1].strip() for b in quick.split("```bash")[1:]]
    blocks = [b.split("```", 1)[0].strip() for b in blocks]
    assert len(blocks) == 2, blocks
    assert "dreamband live" in blocks[0]
    assert "pytest" in blocks[1]
    ci = (root / ".ci" / "run").read_text()
    assert "python -m pytest -q" in ci and "pytest -q" in blocks[1]
