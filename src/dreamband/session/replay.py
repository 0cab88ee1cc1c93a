"""``dreamband replay FILE --headless``: a recording through the same engine as live."""

from __future__ import annotations

import argparse

from dreamband.session.live import build_engine, run_headless


def run_replay(args: argparse.Namespace) -> int:
    """Replay ``args.file`` (default ``--speed max``), print the night, the triggers and a summary.

    The wall clock of the night is the recording's start time, so ``--alarm 06:30-07:00`` means
    the same as it did live. A session folder is written only with ``--session-dir``.
    """
    engine = build_engine(args, replay=True)
    return run_headless(engine, float(getattr(args, "status_every", 5.0) or 0.0))
