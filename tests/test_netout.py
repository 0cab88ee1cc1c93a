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


def test_datagrams_are_strict_json_without_commands_or_paths(tmp_path):
    """NaN goes out as null (JSON.parse-safe), the action command and file paths stay home, and a
    receiver that is not this machine gets a warning."""
    import datetime as dt
    import math

    import numpy as np

    from dreamband.recordings.base import Recording
    from dreamband.recordings.replay import RecordingSource
    from dreamband.session.engine import SessionEngine
    from dreamband.session.events import EpochStaged, SessionStarted
    from dreamband.session.netout import UdpEventSink, is_this_machine, scrub
    from dreamband.session.settings import SessionSettings

    def source():
        rec = Recording(np.zeros((1, 3000)), 100.0, ["Fpz"], ["eeg"], dt.datetime(2024, 1, 1, tzinfo=dt.timezone.utc))
        return RecordingSource(rec, speed="max")

    assert is_this_machine("127.0.0.1") and is_this_machine("localhost") and not is_this_machine("192.0.2.1")
    receiver = socket.socket(socket.AF_INET, socket.SOCK_DGRAM)
    receiver.bind(("127.0.0.1", 0))
    port = receiver.getsockname()[1]
    settings = SessionSettings()
    settings.actions.command = "my-lamp --secret-token abc"
    engine = SessionEngine(source(), settings)
    sink = UdpEventSink(engine, f"127.0.0.1:{port}")
    assert sink.warning is None
    try:
        info = engine.session_info()
        info["model"] = {"path": "/home/me/models/m.json", "name": "m"}
        sink.send(SessionStarted(0.0, info))
        sink.send(EpochStaged(30.0, epoch_index=0, onset=0.0, stage=-1,
                              probabilities=(math.nan,) * 5, confidence=math.nan))
        receiver.settimeout(2.0)
        raw = [receiver.recv(65536).decode("utf-8") for _ in range(2)]
    finally:
        receiver.close()
        engine.stop()
    assert "NaN" not in raw[1] and "Infinity" not in raw[1]
    epoch = json.loads(raw[1], parse_constant=lambda c: pytest.fail(f"non-JSON constant {c}"))
    assert epoch["probabilities"] == [None] * 5 and epoch["confidence"] is None
    assert "my-lamp" not in raw[0] and "/home/me" not in raw[0]
    started = json.loads(raw[0])
    assert started["info"]["model"] == {"name": "m"} and started["info"]["sfreq"] == info["sfreq"]
    assert scrub({"a": [1.0, float("inf")], "log_dir": "x", "x": "/etc/passwd"}) == {"a": [1.0, None]}
    far = UdpEventSink(SessionEngine(source()), "192.0.2.1:9")
    assert "not this machine" in far.warning
