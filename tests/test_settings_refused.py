"""Issue 12 (c): settings that cannot work are refused with a clear message, before the night starts."""

from __future__ import annotations

import pytest

from dreamband.cli import main
from dreamband.recordings.replay import parse_speed
from dreamband.session.settings import RemCueSettings, SessionSettings


def _toml(tmp_path, text):
    p = tmp_path / "night.toml"
    p.write_text(text, encoding="utf-8")
    return p


@pytest.mark.parametrize("epoch_s", [7, 20, 30.5])
def test_epoch_length_other_than_30_s_is_refused(tmp_path, epoch_s):
    cfg = _toml(tmp_path, f"[session]\nepoch_s = {epoch_s}\n")
    with pytest.raises(ValueError, match=r"night.toml \[session\]: epoch_s = .* 30-s epochs only"):
        SessionSettings.from_toml(cfg)
    assert SessionSettings.from_toml(_toml(tmp_path, "[session]\nepoch_s = 30\n")).epoch_s == 30


def test_negative_duration_is_refused(tmp_path):
    with pytest.raises(ValueError, match="duration_s must be a positive number"):
        SessionSettings.from_toml(_toml(tmp_path, "[session]\nduration_s = -100\n"))


def test_intensity_above_one_is_refused(tmp_path):
    with pytest.raises(ValueError, match=r"intensity is a fraction .* \(0, 1\].*5\.0"):
        SessionSettings.from_toml(_toml(tmp_path, "[triggers.rem_cue]\nintensity = 5.0\n"))
    with pytest.raises(ValueError, match="intensity"):
        RemCueSettings(intensity=0.0)
    assert RemCueSettings(intensity=1.0).intensity == 1.0


def test_absurdly_slow_speed_is_refused(capsys):
    with pytest.raises(ValueError, match="too slow"):
        parse_speed("1e-9")
    assert parse_speed("0.5") == 0.5
    assert main(["live", "--board", "sleeper", "--headless", "--no-record", "--speed", "1e-9",
                 "--duration", "60"]) == 2
    assert "too slow" in capsys.readouterr().err


def test_refused_settings_exit_2_from_the_cli(tmp_path, capsys):
    cfg = _toml(tmp_path, "[session]\nepoch_s = 7\n")
    assert main(["live", "--headless", "--no-record", "--config", str(cfg), "--duration", "5"]) == 2
    assert "30-s epochs only" in capsys.readouterr().err
