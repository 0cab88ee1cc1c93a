"""EDF/BDF headers hold the local clock time (EDF spec): written and read in this machine's zone.

Before: the writers put the start's own clock (ours) or its UTC clock (MNE's) in the header, and
every reader labelled the header's clock UTC. A night recorded at 23:00 in New York read back
as 23:00 UTC (19:00 local): replays and reports were off by the zone's offset, and a smart
alarm replayed from the archive fired hours off. Each test runs with the machine's zone set to
America/New_York (a zone where UTC-labelled clocks are visibly wrong).
"""

from __future__ import annotations

import datetime as dt
from pathlib import Path
from zoneinfo import ZoneInfo

import numpy as np
import pytest

from dreamband.recordings.base import Recording
from dreamband.recordings.bdf_writer import BdfWriter
from dreamband.recordings.edf_channels import header_clock, header_start_time, read_edf_header
from dreamband.recordings.edf_export import write_edf
from dreamband.recordings.edf_recording import open_edf
from dreamband.recordings.mne_io import load_mne
from dreamband.recordings.recording import read_recording
from dreamband.recordings.report import _edf_start

NEW_YORK = ZoneInfo("America/New_York")
#: 23:00 local on the night DST ends in New York (clocks go back at 02:00 on 2026-11-01)
START = dt.datetime(2026, 10, 31, 23, 0, tzinfo=NEW_YORK)


@pytest.fixture
def new_york(machine_zone):
    """The machine's local zone is America/New_York for the test."""
    return machine_zone("America/New_York")


def _header_fields(path: Path) -> tuple[str, str]:
    head = path.read_bytes()[:184]
    return head[168:176].decode("ascii"), head[176:184].decode("ascii")


def _write_bdf(path: Path, start: dt.datetime) -> Path:
    sfreq, seconds = 100.0, 4
    x = np.sin(np.arange(int(sfreq * seconds)) / 7.0)[None, :] * 20.0
    writer = BdfWriter(path, sfreq, ["Fpz-Cz"], ["uV"], [(-500.0, 500.0)], start)
    writer.write(x)
    writer.close()
    return path


def test_header_clock_is_local_and_reads_back_as_the_same_instant(new_york):
    assert header_clock(START.astimezone(dt.timezone.utc)).strftime("%H.%M.%S") == "23.00.00"
    back = header_start_time("31.10.26", "23.00.00")
    assert back == START and back.utcoffset() == dt.timedelta(hours=-4)
    # after DST ends: EST, UTC-5
    assert header_start_time("01.11.26", "23.00.00").utcoffset() == dt.timedelta(hours=-5)
    assert header_start_time("xx.10.26", "23.00.00") is None
    with pytest.raises(ValueError, match="timezone-aware"):
        header_clock(dt.datetime(2026, 10, 31, 23, 0))


@pytest.mark.parametrize("given", [START, START.astimezone(dt.timezone.utc),
                                   START.astimezone(dt.timezone(dt.timedelta(hours=1)))],
                         ids=["zoneinfo", "utc", "other-offset"])
def test_our_bdf_archive_keeps_the_instant(new_york, tmp_path, given):
    path = _write_bdf(tmp_path / "night.bdf", given)
    assert _header_fields(path) == ("31.10.26", "23.00.00")  # the local clock, whatever zone was given
    for start in (read_edf_header(path).start_time, open_edf(path).start_time, read_recording(path).start_time,
                  load_mne(path).start_time, _edf_start(path)):
        assert start == START, start
        assert start.utcoffset() == dt.timedelta(hours=-4)


def test_mne_written_edf_keeps_the_instant(new_york, tmp_path):
    rec = Recording(data=np.zeros((1, 400)), sfreq=100.0, channel_names=["Fpz-Cz"], channel_types=["eeg"],
                    start_time=START.astimezone(dt.timezone.utc), annotations=[(1.0, 0.5, "Sleep stage W")])
    path = write_edf(rec, tmp_path / "export.edf")
    assert _header_fields(path) == ("31.10.26", "23.00.00")
    for back in (read_recording(path), load_mne(path)):
        assert back.start_time == START
        assert [(o, d, t) for o, d, t in back.annotations if t == "Sleep stage W"] == [(1.0, 0.5, "Sleep stage W")]


def test_simulated_night_header_is_local(new_york, tmp_path):
    from dreamband.session.simulate import write_edf as write_simulated
    from dreamband.signal.simulate import simulate_night

    night = simulate_night(hours=0.05, seed=1)
    path = write_simulated(night, tmp_path / "sim.edf", start_time=START)
    assert _header_fields(path) == ("31.10.26", "23.00.00")
    assert read_recording(path).start_time == START
