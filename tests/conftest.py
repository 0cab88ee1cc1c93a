"""Shared test fixtures.

Tests that need ``../shared/datasets`` use the ``shared_datasets`` fixture and skip when the
folder is absent (a user's machine does not have it).
"""

from __future__ import annotations

import os
import time
from collections.abc import Callable, Iterator
from pathlib import Path
from zoneinfo import ZoneInfo

import pytest

os.environ.setdefault("QT_QPA_PLATFORM", "offscreen")

REPO_ROOT = Path(__file__).resolve().parents[1]
_SHARED_CANDIDATES = [
    os.environ.get("DREAMBAND_SHARED_DATASETS", ""),
    str(REPO_ROOT.parent / "shared" / "datasets"),
]


def _find_shared() -> Path | None:
    for cand in _SHARED_CANDIDATES:
        if cand and Path(cand).is_dir():
            return Path(cand)
    return None


@pytest.fixture(scope="session")
def shared_datasets() -> Path:
    """Path to ``../shared/datasets``; skips the test when it is absent."""
    path = _find_shared()
    if path is None:
        pytest.skip("../shared/datasets is not present on this machine")
    return path


@pytest.fixture
def machine_zone(monkeypatch) -> Iterator[Callable[[str], ZoneInfo]]:
    """Set the machine's local zone for the test: ``machine_zone("Europe/Paris")`` sets ``TZ``
    (what ``local_zone()`` and ``datetime.now().astimezone()`` read) and returns the zone; the
    zone before the test is back after it."""

    def set_zone(name: str) -> ZoneInfo:
        monkeypatch.setenv("TZ", name)
        time.tzset()
        return ZoneInfo(name)

    yield set_zone
    monkeypatch.undo()
    time.tzset()
