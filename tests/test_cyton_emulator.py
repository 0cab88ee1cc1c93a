"""Issue 12 (i): `--board cyton --serial-port <pty>` through BrainFlow's real serial driver.

``tests/cyton_emulator.py`` speaks the Cyton's serial protocol on a pseudo-terminal: EEG with
tens of mV of DC offset, a railed channel, and a pause (a dropout: detected, reconnected, the
lost samples NaN on the board's clock) and a resume. One real-time 16-s session (~25 s).
"""

from __future__ import annotations

import json

import numpy as np
import pytest

pytest.importorskip("termios", reason="the pty emulator needs os.openpty (Linux/macOS)")

from dreamband.cli import main  # noqa: E402
from tests.cyton_emulator import UV_PER_COUNT, CytonEmulator  # noqa: E402


def test_cyton_on_a_pty_streams_and_survives_a_dropout(tmp_path, capsys):
    cfg = tmp_path / "cyton.toml"
    cfg.write_text('[board]\nname = "cyton"\ndropout_timeout_s = 1.0\nreconnect_initial_s = 0.5\n', encoding="utf-8")
    sessions = tmp_path / "sessions"
    with CytonEmulator(railed=5) as emu:
        emu.pause_after(packets=3 * 250, seconds=2.0)  # 3 s in: 2 s of radio silence
        code = main(["live", "--config", str(cfg), "--serial-port", emu.port, "--headless", "--duration", "16",
                     "--session-dir", str(sessions), "--status-every", "0"])
        commands = b"".join(emu.commands)
        offsets = emu.dc_offset_uv.copy()
    out = capsys.readouterr().out
    assert code == 0, out
    assert commands.startswith(b"vd") and b"b" in commands and emu.pauses == 1  # BrainFlow's own handshake
    assert "session: cyton at 250 Hz" in out and "staging from Fp1" in out
    assert "session ended at 0:00:16 of data: duration reached" in out
    assert "1 dropouts" in out
    folder = next(p for p in sessions.iterdir() if p.is_dir())
    events = [json.loads(line) for line in (folder / "events.jsonl").read_text().splitlines() if line.strip()]
    kinds = [e.get("stream_kind") or e["kind"] for e in events]
    assert "dropout" in kinds and "reconnected" in kinds

    from dreamband.recordings.recording import load_recording
    from dreamband.signal.quality import assess_epoch

    rec = load_recording(folder)
    assert rec.sfreq == 250.0 and rec.data.shape[1] >= 16 * 250 - 1
    eeg = rec.data[:8]
    lost = np.isnan(eeg[0])
    # the dropout (2 s of silence + detection + reconnect, which waits for the board's answer), NaN on the board's clock
    assert 250 <= lost.sum() <= 10 * 250, lost.sum()
    after = eeg[:, np.flatnonzero(lost)[-1] + 1 :]
    assert after.shape[1] >= 3 * 250 and np.isfinite(after).all()  # it streams again
    status = assess_epoch(after, rec.sfreq, rec.channel_names[:8]).status
    assert status["P8"] == "railed" and status["Fp1"] == "good"  # the offset is not an artefact
    means = np.nanmean(eeg, axis=1)
    np.testing.assert_allclose(np.delete(means, 5), np.delete(offsets, 5), atol=5.0)  # tens of mV, to 5 uV
    assert np.abs(means[[0, 7]]).min() > 30000.0
    assert means[5] == pytest.approx((2**23 - 1) * UV_PER_COUNT, rel=1e-6)  # railed: full scale, 187.5 mV
    alpha = eeg[0][~lost] - means[0]
    assert 10.0 < np.std(alpha) < 25.0  # the 20-uV 10-Hz rhythm and the noise under the offset
