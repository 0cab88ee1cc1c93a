"""Network out: the session's events as JSON datagrams, for other programs on the network.

A light-control script, a lucid-dreaming cue player or a lab's experiment software can follow
the night live (stages with probabilities, states, triggers, markers, dropouts) by listening on a
UDP port: each event's ``to_dict()`` is one datagram of UTF-8 JSON. Samples are not sent. The
sink has its own subscription and thread, so a dead or slow receiver never blocks acquisition.

The datagrams are strict JSON (``null`` for NaN and infinities, so ``JSON.parse`` and every
other strict parser read them). What goes over the network is the night, not the machine:
command lines (``--action-command``) and file paths from the settings are left out. A host that
is not this machine gets a warning (the events are health data, sent unencrypted).
"""

from __future__ import annotations

import ipaddress
import json
import re
import socket
from typing import Any

from dreamband.session.bus import SubscriptionSink
from dreamband.session.events import Event

#: A datagram larger than this is not sent (UDP's practical limit is 65,507 bytes).
MAX_DATAGRAM = 65_000
#: keys whose values never leave the machine (command lines, files, folders)
_PRIVATE_KEY = re.compile(r"(command|cmd|path|file|folder|dir|directory)s?$", re.IGNORECASE)
_PATH_VALUE = re.compile(r"^(~|/|[A-Za-z]:[\\/]|\\\\)")


def scrub(value: Any) -> Any:
    """``value`` as strict-JSON data without command lines or paths.

    NaN and infinities become None; dict entries whose key names a command, path, file or
    folder are dropped, and so is any text that is an absolute path.
    """
    from dreamband.recordings.jsonio import jsonable

    value = jsonable(value)
    if isinstance(value, dict):
        return {k: scrub(v) for k, v in value.items()
                if not _PRIVATE_KEY.search(str(k)) and not (isinstance(v, str) and _PATH_VALUE.match(v))}
    if isinstance(value, list):
        return [scrub(v) for v in value if not (isinstance(v, str) and _PATH_VALUE.match(v))]
    return value


def is_this_machine(host: str) -> bool:
    """True when ``host`` resolves to a loopback address or one of this machine's own addresses."""
    try:
        infos = socket.getaddrinfo(host, None)
    except OSError:
        return False
    own: set[str] = set()
    try:
        own = {i[4][0] for i in socket.getaddrinfo(socket.gethostname(), None)}
    except OSError:
        pass
    for info in infos:
        addr = info[4][0].split("%")[0]
        try:
            if ipaddress.ip_address(addr).is_loopback or addr in own:
                return True
        except ValueError:
            continue
    return False


def parse_address(address: str) -> tuple[str, int]:
    """Split ``"HOST:PORT"`` into a host and a port number.

    Raises
    ------
    ValueError
        When the text is not ``HOST:PORT`` with a port between 1 and 65535.
    """
    if not isinstance(address, str) or ":" not in address:
        raise ValueError(f"--net-out takes HOST:PORT (e.g. 127.0.0.1:9000), got {address!r}.")
    host, _, port_text = address.rpartition(":")
    host = host.strip("[]") or "127.0.0.1"
    try:
        port = int(port_text)
    except ValueError:
        raise ValueError(f"--net-out: the port of {address!r} is not a number.") from None
    if not 1 <= port <= 65535:
        raise ValueError(f"--net-out: port {port} is out of range (1-65535).")
    return host, port


class UdpEventSink(SubscriptionSink):
    """Send every event of an engine except the samples as one JSON datagram each.

    Parameters
    ----------
    engine : SessionEngine
        The engine to follow; subscribe before ``engine.start()`` to send ``SessionStarted`` too.
    address : str
        ``"HOST:PORT"`` of the receiver.

    Attributes
    ----------
    sent : int
        Datagrams sent.
    failed : int
        Events that could not be sent (receiver gone, datagram too large); they are skipped.
    warning : str or None
        Set when the receiver is not this machine (say it to the user).
    """

    thread_name = "dreamband-net-out"

    def __init__(self, engine: Any, address: str) -> None:
        self.address = parse_address(address)
        family = socket.AF_INET6 if ":" in self.address[0] else socket.AF_INET
        try:
            self._sock = socket.socket(family, socket.SOCK_DGRAM)
            self._sock.connect(self.address)
        except OSError as err:
            raise ValueError(f"--net-out {address}: cannot send there ({err}). "
                             "Check the host name and that the network is up.") from err
        self.warning = None if is_this_machine(self.address[0]) else (
            f"--net-out {address}: that host is not this machine; the night's events (health data) go over the "
            "network unencrypted. Command lines and file paths are never sent.")
        self.subscription = engine.subscribe(name="net-out", samples=False)
        self.sent = 0
        self.failed = 0

    def send(self, event: Event) -> bool:
        """Send one event; return False (and count it) when it could not be sent."""
        data = json.dumps(scrub(event.to_dict()), allow_nan=False, separators=(",", ":")).encode("utf-8")
        if len(data) > MAX_DATAGRAM:
            self.failed += 1
            return False
        try:
            self._sock.send(data)
        except OSError:  # e.g. connection refused: nobody listens (yet); the session goes on
            self.failed += 1
            return False
        self.sent += 1
        return True

    def handle(self, event: Event) -> None:
        """Send one event (what :meth:`pump` and the thread of :meth:`start` call)."""
        self.send(event)

    def close(self, timeout: float = 5.0) -> None:
        """Wait for the thread, send what is left and close the socket. Safe to call twice."""
        self.join_thread(timeout)
        if self._sock.fileno() >= 0:
            self.pump()
            self._sock.close()
