"""Issue 12 (b): the user's wall clock (zoneinfo, DST), one alarm-window resolver, no 23.5-h windows."""

from __future__ import annotations

import datetime as dt
import io
from zoneinfo import ZoneInfo

import pytest

from dreamband.cli import main
from dreamband.firmware_bridge.clock import local_zone, localize, session_zone, wall_at, zone_label
from dreamband.session.headless import HeadlessPrinter
from dreamband.session.settings import SmartAlarmSettings, parse_window
from dreamband.session.state import NightState
from dreamband.session.triggers.smart_alarm import SmartAlarm, window_seconds

PARIS = ZoneInfo("Europe/Paris")


@pytest.fixture
def paris(machine_zone):
    """The machine's local zone is Europe/Paris for the test."""
    return machine_zone("Europe/Paris")


def test_local_zone_has_rules(paris):
    assert getattr(local_zone(), "key", None) == "Europe/Paris"
    # what datetime.now().astimezone() gives: a fixed offset; the session takes the zone's rules
    fixed = dt.datetime(2024, 10, 26, 23, 0).astimezone()
    assert fixed.utcoffset() == dt.timedelta(hours=2) and not isinstance(fixed.tzinfo, ZoneInfo)
    assert session_zone(fixed) is not fixed.tzinfo and localize(fixed).tzinfo.key == "Europe/Paris"
    assert session_zone(dt.datetime(2024, 10, 26, 21, 0, tzinfo=dt.timezone.utc)) == dt.timezone.utc


@pytest.mark.parametrize("start", [
    dt.datetime(2024, 10, 26, 23, 0, tzinfo=PARIS),
    dt.datetime(2024, 10, 26, 23, 0, tzinfo=dt.timezone(dt.timedelta(hours=2))),  # now().astimezone()
])
def test_alarm_fires_at_0630_local_on_the_night_dst_ends(paris, start):
    """Europe/Paris, 26-27 Oct 2024: clocks go back at 03:00. 23:00 CEST -> 06:30 CET is 8.5 h."""
    state = NightState(start_datetime=start)
    alarm = SmartAlarm(SmartAlarmSettings(window="06:30-07:00"))
    ws, we = alarm.window_session_s(state)
    assert (ws, we) == (8.5 * 3600, 9.0 * 3600)  # the fixed-offset rule gave 7.5 h: 05:30 local
    fired = alarm.on_tick(we, state)
    assert len(fired) == 1 and fired[0].time == we
    wall = dt.datetime.fromisoformat(fired[0].evidence["wall_clock"])
    assert wall.strftime("%H:%M") == "07:00" and wall.utcoffset() == dt.timedelta(hours=1)
    assert state.wall_clock(ws).strftime("%H:%M %Z") == "06:30 CET"


def test_wall_clock_adds_elapsed_time_in_utc(paris):
    start = dt.datetime(2024, 10, 26, 23, 0, tzinfo=PARIS)
    assert wall_at(start, 8 * 3600).strftime("%H:%M %Z") == "06:00 CET"  # start + timedelta gives 07:00
    out = io.StringIO()
    assert HeadlessPrinter(start, out=out).clock(8 * 3600) == "06:00:00"
    assert zone_label(wall_at(start, 8 * 3600)) == "Europe/Paris, CET"


def test_spring_forward_window(paris):
    """31 Mar 2024: 02:00 -> 03:00 CEST. A 23:00 start to a 06:30 alarm is 6.5 h."""
    start = dt.datetime(2024, 3, 30, 23, 0, tzinfo=PARIS)
    assert window_seconds(start, parse_window("06:30-07:00")) == (6.5 * 3600, 7.0 * 3600)
    # a time of day that does not exist that night is moved on by the gap
    assert window_seconds(start, parse_window("02:30-03:30"))[0] == 2.5 * 3600


def test_window_and_engine_agree_on_an_open_window(qtbot, paris):
    """Started at 06:40 with 06:30-07:00: the window is open now, for the engine and the UI."""
    from dreamband.ui.console import NightConsole

    start = dt.datetime(2024, 11, 5, 6, 40, tzinfo=PARIS)
    state = NightState(start_datetime=start)
    alarm = SmartAlarm(SmartAlarmSettings(window="06:30-07:00"))
    assert alarm.window_session_s(state) == (-600.0, 1200.0)
    console = NightConsole(sfreq=250.0, channel_names=["Fp1"], start_engine=False)
    qtbot.addWidget(console)
    console.start_datetime = start
    console.alarm = parse_window("06:30-07:00")
    console._show_alarm_region()
    lo, hi = console.hypnogram.alarm_region.getRegion()
    assert (lo * 3600.0, hi * 3600.0) == pytest.approx((-600.0, 1200.0))
    console.set_alarm_window("07:00-06:30")
    assert "23.5 h" in console.log_lines[-1] and console.alarm == parse_window("06:30-07:00")


def test_reversed_alarm_window_is_refused(capsys):
    with pytest.raises(ValueError, match=r"23.5 h.*Did you mean 06:30-07:00"):
        parse_window("07:00-06:30")
    assert parse_window("23:30-00:15") == (dt.time(23, 30), dt.time(0, 15))  # crossing midnight is fine
    assert main(["live", "--headless", "--no-record", "--alarm", "07:00-06:30", "--duration", "1"]) == 2
    assert "Did you mean 06:30-07:00" in capsys.readouterr().err


def test_report_shows_local_time_with_the_zone(paris, tmp_path):
    """An 8-h night from 23:00 CEST on 26 Oct 2024 ends at 06:00 CET; the axis names the zone."""
    import numpy as np

    from dreamband.recordings.report import NightReport, format_report, write_report
    from dreamband.recordings.stats import sleep_statistics

    stages = np.array([0] * 20 + [2] * 900 + [0] * 40, dtype=np.int8)  # 960 epochs = 8 h
    start = localize(dt.datetime(2024, 10, 26, 23, 0).astimezone())  # how session.json's offset is read back
    r = NightReport("night", tmp_path, start, stages, 30.0, sleep_statistics(stages, 30.0))
    head = format_report(r).splitlines()[0]
    assert "(2024-10-26 23:00 - 06:00 Europe/Paris, CET)" in head  # before: "- 07:00 UTC+02:00"
    assert r.clock(8 * 3600.0) == "06:00"
    png, _ = write_report(r, tmp_path, "report")
    assert png.stat().st_size > 0
