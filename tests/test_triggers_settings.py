"""Trigger settings from TOML and the CLI."""

from __future__ import annotations

import datetime as dt

import pytest

from dreamband.cli import build_parser
from dreamband.session.settings import SessionSettings, parse_window


def test_toml_sections(tmp_path):
    p = tmp_path / "night.toml"
    p.write_text(
        '[board]\nboard = "synthetic"\n'
        '[session]\npersistent_sleep_min = 15\n'
        '[triggers]\nenabled = ["smart_alarm", "nightmare_wake"]\n'
        '[triggers.smart_alarm]\nwindow = "06:30-07:00"\n'
        '[triggers.nightmare_wake]\nbeta_ratio = 2.5\nsustain_s = 20\n'
        '[triggers.safety]\nmax_hours = 9\n'
        '[actions]\noutputs = ["log", "command"]\ncommand = "true"\nramp_s = 30\n'
    )
    s = SessionSettings.from_toml(p)
    assert s.persistent_sleep_min == 15
    assert s.triggers.smart_alarm.window == "06:30-07:00" and s.triggers.smart_alarm.enabled
    assert s.triggers.nightmare_wake.enabled and s.triggers.nightmare_wake.beta_ratio == 2.5
    assert not s.triggers.rem_cue.enabled and not s.triggers.dream_report.enabled
    assert s.triggers.safety.max_hours == 9 and s.actions.ramp_s == 30 and s.actions.command == "true"


def test_toml_errors_name_the_problem(tmp_path):
    p = tmp_path / "bad.toml"
    p.write_text('[triggers.nightmare_wake]\nbeta = 2\n')
    with pytest.raises(ValueError, match="unknown setting.*beta"):
        SessionSettings.from_toml(p)
    p.write_text('[triggers.lucid]\nx = 1\n')
    with pytest.raises(ValueError, match=r"unknown table \[triggers.lucid\]"):
        SessionSettings.from_toml(p)
    p.write_text('[triggers.rem_cue]\ninterval_s = -3\n')
    with pytest.raises(ValueError, match="interval_s must be a positive"):
        SessionSettings.from_toml(p)
    with pytest.raises(FileNotFoundError):
        SessionSettings.from_toml(tmp_path / "missing.toml")


def test_cli_options_override():
    args = build_parser().parse_args(["live", "--alarm", "06:30-07:00", "--max-hours", "9", "--triggers",
                                      "rem_cue,dream_report", "--actions", "log,marker", "--duration", "60"])
    s = SessionSettings.from_args(args)
    assert s.triggers.smart_alarm.enabled and s.triggers.smart_alarm.window == "06:30-07:00"
    assert s.triggers.rem_cue.enabled and s.triggers.dream_report.enabled and not s.triggers.nightmare_wake.enabled
    assert s.triggers.safety.max_hours == 9 and s.actions.outputs == ["log", "marker"] and s.duration_s == 60
    args = build_parser().parse_args(["live", "--action-command", "echo hi"])
    s = SessionSettings.from_args(args)
    assert "command" in s.actions.outputs and s.actions.command == "echo hi"
    with pytest.raises(ValueError, match="unknown trigger"):
        SessionSettings.from_args(build_parser().parse_args(["live", "--triggers", "lucid"]))
    with pytest.raises(ValueError, match="HH:MM-HH:MM"):
        SessionSettings.from_args(build_parser().parse_args(["live", "--alarm", "0630"]))


def test_parse_window():
    assert parse_window("23:30-00:15") == (dt.time(23, 30), dt.time(0, 15))
    with pytest.raises(ValueError, match="HH:MM"):
        parse_window("25:00-07:00")
