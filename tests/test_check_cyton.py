"""``dreamband check --impedance`` on a Cyton: BrainFlow's real serial driver on the pty emulator
(``tests/cyton_emulator.py``). The lead-off config strings reach the board, on then off; the
railed channel is called railed; the tens-of-mV electrode offsets are not a problem."""

from __future__ import annotations

import pytest

pytest.importorskip("termios", reason="the pty emulator needs os.openpty (Linux/macOS)")

from dreamband.cli import main  # noqa: E402
from tests.cyton_emulator import CytonEmulator  # noqa: E402


def test_check_with_impedance_on_an_emulated_cyton(capsys):
    with CytonEmulator(railed=5) as emu:
        code = main(["check", "--board", "cyton", "--serial-port", emu.port, "--seconds", "2", "--impedance"])
        commands = b"".join(emu.commands)
    out = capsys.readouterr().out.splitlines()
    assert code == 0, out  # the staging channel (Fp1) is good
    on = b"".join(b"z%d01Z" % ch for ch in range(1, 9))
    off = b"".join(b"z%d00Z" % ch for ch in range(1, 9))
    assert on in commands and off in commands and commands.index(on) < commands.index(off)
    assert len(out) == 9 and out[-1].endswith("ready, start the night")
    p8 = next(line for line in out if " P8:" in line)
    assert p8.startswith("BAD") and "railed" in p8 and "kΩ" not in p8
    fp1 = next(line for line in out if " Fp1:" in line)
    assert fp1.startswith("ok  *") and "kΩ" in fp1  # impedance measured (the emulator drives no lead-off current)
