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


def test_check_screen_measures_impedance_on_an_emulated_cyton(qtbot):
    pytest.importorskip("pytestqt")
    from pyqtgraph.Qt import QtCore

    from dreamband.firmware_bridge import BoardConfig, BoardStream
    from dreamband.session.check import checked_channels
    from dreamband.ui.check_view import CheckView

    with CytonEmulator(railed=5) as emu:
        stream = BoardStream(BoardConfig(board="cyton", serial_port=emu.port))
        stream.start()
        try:
            chans = checked_channels(stream)
            view = CheckView(stream.sfreq, chans.rows, chans.names, chans.staging, source=stream)
            qtbot.addWidget(view)
            assert view.impedance_button.isVisibleTo(view)  # a Cyton measures impedance
            view.begin()
            qtbot.waitUntil(lambda: view.checks_done >= 1, timeout=15000)
            qtbot.mouseClick(view.impedance_button, QtCore.Qt.MouseButton.LeftButton)
            assert view.measuring and not view.timer.isActive()
            qtbot.waitUntil(lambda: not view.measuring, timeout=20000)
            assert sorted(view.impedance) == sorted(chans.names)
            done = view.checks_done
            qtbot.waitUntil(lambda: view.checks_done > done, timeout=10000)  # judged again, with impedance
            fp1 = next(v for v in view.verdicts if v.channel == "Fp1")
            assert fp1.impedance_ohm is not None and "kΩ" in view.items["Fp1"].text(3)
            view.stop()
        finally:
            stream.stop()
        commands = b"".join(emu.commands)
    assert b"z101Z" in commands and b"z800Z" in commands and commands.index(b"z101Z") < commands.index(b"z800Z")
