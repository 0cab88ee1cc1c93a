"""A test-side OpenBCI Cyton on a pseudo-terminal, for BrainFlow's real serial driver.

BrainFlow's own CI tests its serial drivers against an emulator on a pty
(``emulator/brainflow_emulator/cyton_linux.py`` and ``emulate_common.py`` in
brainflow-dev/brainflow: a listener answers ``v`` with a banner ending in ``$$$``, ``b`` starts a
writer of 33-byte packets, ``s`` stops it; it writes random bytes). This one follows the same
protocol, written anew here, and streams signals a real unfiltered Cyton gives:

- the packet of the Cyton firmware: ``0xA0``, sample number (0-255), 8 channels of 24-bit
  big-endian two's complement ADS1299 counts, 6 bytes of accelerometer (3 x 16 bit), ``0xC0``;
- counts at gain 24 (BrainFlow's default: 4.5 V / (2^23 - 1) / 24 per count, 0.0224 uV);
- per channel a DC offset of tens of mV (the electrode offset an unfiltered Cyton shows), a
  10-Hz rhythm of 20 uV and 5 uV of noise; one channel railed (held at the top count);
- :meth:`CytonEmulator.pause` stops the packets (a radio dropout: the sample numbers of the
  packets not sent are skipped, as when the dongle loses them) and the board does not answer
  until the pause ends, then answers and streams again.

Linux/macOS only (``os.openpty``). No hardware, no root: runs in CI.
"""

from __future__ import annotations

import os
import select
import threading
import time
import tty

import numpy as np

SFREQ = 250.0
N_CHANNELS = 8
#: BrainFlow's scale at gain 24: uV per count
UV_PER_COUNT = 4.5 / (2**23 - 1) / 24.0 * 1e6
#: the top count of the 24-bit ADC (a railed channel sits here)
TOP_COUNT = 2**23 - 1
BANNER = (b"OpenBCI V3 8-16 channel\nOn Board ADS1299 Device ID: 0x3E\n"
          b"LIS3DH Device ID: 0x33\nFirmware: v3.1.2 (emulated by dreamband's tests)\n$$$")


def packet(sample_number: int, counts: np.ndarray, accel: tuple[int, int, int] = (0, 0, 0)) -> bytes:
    """One 33-byte Cyton packet (standard end byte ``0xC0``: accelerometer in the aux bytes).

    Parameters
    ----------
    sample_number : int
        0-255.
    counts : ndarray of int, shape (8,)
        ADS1299 counts, -2^23 .. 2^23 - 1.
    accel : 3 ints
        Accelerometer counts (16-bit signed).
    """
    out = bytearray([0xA0, sample_number & 0xFF])
    for c in np.asarray(counts, dtype=np.int64):
        c = int(max(-(2**23), min(TOP_COUNT, c))) & 0xFFFFFF
        out += bytes([(c >> 16) & 0xFF, (c >> 8) & 0xFF, c & 0xFF])
    for a in accel:
        a = int(a) & 0xFFFF
        out += bytes([(a >> 8) & 0xFF, a & 0xFF])
    out.append(0xC0)
    return bytes(out)


class CytonEmulator:
    """A Cyton on a pty: ``port`` is the device to give BrainFlow (``--serial-port``).

    Parameters
    ----------
    dc_offset_uv : sequence of 8 float
        Electrode offset per channel, uV (default: -42, -35, ..., +33 mV).
    railed : int or None
        Channel (0-7) held at the top count.
    seed : int
        Noise seed.

    Use as a context manager, or call :meth:`close`.
    """

    def __init__(self, dc_offset_uv=None, railed: int | None = 5, seed: int = 0) -> None:
        self.dc_offset_uv = np.asarray(dc_offset_uv if dc_offset_uv is not None else
                                       np.linspace(-42000.0, 33000.0, N_CHANNELS), dtype=float)
        self.railed = railed
        self._rng = np.random.default_rng(seed)
        self.master, self._slave = os.openpty()
        tty.setraw(self._slave)  # bytes, not a terminal: BrainFlow sets its own settings too
        self.port = os.ttyname(self._slave)
        self.commands: list[bytes] = []
        self.packets_sent = 0
        self._sample = 0  # samples of the board's clock so far (sent or lost)
        self._streaming = False
        self._paused_until = 0.0
        self._pause_plan: tuple[int, float] | None = None
        self.pauses = 0
        self._next_due = 0.0
        self._stop = threading.Event()
        self._lock = threading.Lock()
        self._thread = threading.Thread(target=self._run, name="cyton-emulator", daemon=True)
        self._thread.start()

    # ------------------------------------------------------------------ control
    def pause(self, seconds: float) -> None:
        """Send nothing and answer nothing for ``seconds`` (a dropout); packets due meanwhile are lost."""
        with self._lock:
            self._paused_until = time.monotonic() + float(seconds)

    def pause_after(self, packets: int, seconds: float) -> None:
        """Pause for ``seconds`` once ``packets`` packets have been sent (counted from now)."""
        with self._lock:
            self._pause_plan = (self.packets_sent + int(packets), float(seconds))

    @property
    def paused(self) -> bool:
        """True during a :meth:`pause`."""
        return time.monotonic() < self._paused_until

    def close(self) -> None:
        """Stop the emulator and close the pty."""
        self._stop.set()
        self._thread.join(5.0)
        for fd in (self.master, self._slave):
            try:
                os.close(fd)
            except OSError:
                pass

    def __enter__(self) -> CytonEmulator:
        return self

    def __exit__(self, *exc) -> None:
        self.close()

    # ------------------------------------------------------------------ the board
    def _signal_uv(self, n: int) -> np.ndarray:
        t = (self._sample + np.arange(n)) / SFREQ
        x = self.dc_offset_uv[:, None] + 20.0 * np.sin(2 * np.pi * 10.0 * t)[None, :]
        return x + 5.0 * self._rng.standard_normal((N_CHANNELS, n))

    def _counts(self, n: int) -> np.ndarray:
        c = np.round(self._signal_uv(n) / UV_PER_COUNT).astype(np.int64)
        if self.railed is not None:
            c[self.railed] = TOP_COUNT
        return c

    def _answer(self, cmd: bytes) -> None:
        for b in cmd:
            ch = bytes([b])
            self.commands.append(ch)
            if ch == b"v":  # soft reset: the banner BrainFlow waits for ($$$)
                self._streaming = False
                self._write(BANNER)
            elif ch == b"b":
                self._streaming = True
                self._next_due = time.monotonic()
            elif ch == b"s":
                self._streaming = False
            elif ch == b"?":
                self._write(b"Board registers (emulated)$$$")
            # channel settings, gains, 'd' (defaults): the packet format does not change

    def _write(self, data: bytes) -> None:
        try:
            os.write(self.master, data)
        except OSError:
            pass

    def _stream(self, now: float) -> None:
        due = int((now - self._next_due) * SFREQ)
        if due <= 0:
            return
        self._next_due += due / SFREQ
        counts = self._counts(due)
        if self.paused:  # lost on the radio link: the board's clock runs on
            self._sample += due
            return
        accel = (80, -40, 8000)  # ~0.01, -0.005, 1.0 g (BrainFlow: 0.002 / 16 g per count)
        blob = b"".join(packet((self._sample + i) & 0xFF, counts[:, i], accel) for i in range(due))
        self._sample += due
        self.packets_sent += due
        self._write(blob)
        plan = self._pause_plan
        if plan is not None and self.packets_sent >= plan[0]:
            self._pause_plan = None
            self.pauses += 1
            self.pause(plan[1])

    def _run(self) -> None:
        while not self._stop.is_set():
            try:
                ready, _, _ = select.select([self.master], [], [], 0.004)
            except (OSError, ValueError):
                return
            if ready:
                try:
                    cmd = os.read(self.master, 256)
                except OSError:
                    cmd = b""
                if cmd and not self.paused:
                    self._answer(cmd)
                elif cmd:
                    self.commands += [bytes([b]) for b in cmd]  # heard, not answered: the board is away
            if self._streaming:
                self._stream(time.monotonic())
