"""Network out: a replayed night's events arrive as JSON datagrams on a real UDP socket."""

from __future__ import annotations

import json
import socket

import pytest

from dreamband.cli import main
from dreamband.session.netout import parse_address


def _receive_all(sock: socket.socket) -> list[dict]:
    out = []
    sock.settimeout(0.5)  # main() returns only after the sink flushed everything
    while True:
        try:
            out.append(json.loads(sock.recv(65536).decode("utf-8")))
        except TimeoutError:
            return out


def test_replay_sends_every_event_as_json_over_udp(tmp_path, capsys):
    edf = tmp_path / "night.edf"
    assert main(["simulate", str(edf), "--hours", "0.25", "--seed", "3", "--sfreq", "100"]) == 0
    receiver = socket.socket(socket.AF_INET, socket.SOCK_DGRAM)
    receiver.bind(("127.0.0.1", 0))
    receiver.setsockopt(socket.SOL_SOCKET, socket.SO_RCVBUF, 1 << 22)
    port = receiver.getsockname()[1]
    try:
        assert main(["replay", str(edf), "--speed", "max", "--headless", "--no-record",
                     "--net-out", f"127.0.0.1:{port}", "--status-every", "0"]) == 0
        got = _receive_all(receiver)
    finally:
        receiver.close()
    kinds = [d["kind"] for d in got]
    assert kinds[0] == "session_started" and kinds[-1] == "session_ended"
    assert "samples" not in kinds
    epochs = [d for d in got if d["kind"] == "epoch"]
    assert [d["epoch_index"] for d in epochs] == list(range(30))  # 15 min of 30-s epochs, in order
    assert all(len(d["probabilities"]) == 5 for d in epochs if d["stage"] >= 0)
    printed = [ln for ln in capsys.readouterr().out.splitlines() if ln[:5].strip().isdigit()]
    assert len(printed) == 30  # the console saw the same epochs


def test_no_receiver_does_not_stop_the_session(tmp_path):
    edf = tmp_path / "night.edf"
    assert main(["simulate", str(edf), "--hours", "0.1", "--seed", "3", "--sfreq", "100"]) == 0
    free = socket.socket(socket.AF_INET, socket.SOCK_DGRAM)
    free.bind(("127.0.0.1", 0))
    port = free.getsockname()[1]
    free.close()  # nobody listens there: sends fail (connection refused) and are skipped
    assert main(["replay", str(edf), "--speed", "max", "--headless", "--no-record",
                 "--net-out", f"127.0.0.1:{port}"]) == 0


@pytest.mark.parametrize("bad, words", [("9000", "HOST:PORT"), ("host:port", "not a number"),
                                        ("127.0.0.1:70000", "out of range")])
def test_bad_address_is_a_clear_error(bad, words):
    with pytest.raises(ValueError, match=words):
        parse_address(bad)
    assert parse_address("localhost:9000") == ("localhost", 9000)
