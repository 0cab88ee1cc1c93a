"""LSL in and out with the real liblsl (MNE-LSL's wheels): ``live --board lsl`` fed by MNE-LSL's
``PlayerLSL`` stages what ``replay`` of the file stages, sample for sample; every ``--lsl-out``
event reaches an inlet in order as strict JSON; Ctrl-C closes the outlets; a vanished outlet is a
dropout, a NaN gap and a reconnect; nothing listens on the network without ``--lsl-out``.

The LSL streams of these tests are on this machine only (``--lsl-scope machine``, the default),
with names unique to the test run, so parallel runs do not see each other's streams.
"""

from __future__ import annotations

import json
import os
import signal as stdlib_signal
import subprocess
import sys
import textwrap
import threading
import time
import uuid
from pathlib import Path

import numpy as np
import pytest

pytest.importorskip("mne_lsl")

import mne  # noqa: E402

from dreamband.cli import build_parser, main  # noqa: E402
from dreamband.firmware_bridge.lsl import (  # noqa: E402
    LslStream,
    configure_liblsl,
    lsl_config_text,
    units_to_microvolts,
)
from dreamband.recordings.jsonio import jsonable  # noqa: E402
from dreamband.session.lsl_out import event_json  # noqa: E402

# liblsl reads its configuration once per process: this machine only, before any stream
configure_liblsl("machine")

from mne_lsl.lsl import StreamInlet, resolve_streams  # noqa: E402
from mne_lsl.player import PlayerLSL  # noqa: E402


def _name(prefix: str) -> str:
    return f"{prefix}-{uuid.uuid4().hex[:8]}"


class WaitingPlayer(PlayerLSL):
    """``PlayerLSL`` that holds its first chunk until an inlet is connected (LSL gives an inlet
    only the samples pushed after it connected), so the whole file reaches the reader."""

    def _stream(self) -> None:
        if self._start_idx == 0 and not getattr(self, "_waited", False):
            from mne_lsl.lsl import local_clock

            self._waited = True
            self._outlet.wait_for_consumers(timeout=60.0)
            self._target_timestamp = local_clock()
        super()._stream()


def _night_raw(path: Path, minutes: float, seed: int = 3, speed: float = 1.0) -> mne.io.BaseRaw:
    """A generated night written as EDF+ (``dreamband simulate``), read back by MNE with its types;
    ``speed`` > 1 declares a faster rate so the player plays it sped up (the reader is told the true rate)."""
    from dreamband.session.simulate import write_edf
    from dreamband.signal.simulate import simulate_night

    write_edf(simulate_night(minutes / 60.0, sfreq=250.0, seed=seed), path)
    raw = mne.io.read_raw_edf(path, preload=True, verbose="error")
    raw.set_channel_types({"EOG": "eog", "EMG": "emg"}, verbose="error")
    if speed != 1.0:
        info = raw.info.copy()
        with info._unlock():
            info["sfreq"] = raw.info["sfreq"] * speed
            info["lowpass"] = info["sfreq"] / 2.0
        raw = mne.io.RawArray(raw.get_data(), info, verbose="error")
    return raw


def _stop(player: PlayerLSL) -> None:
    try:
        player.stop()
    except RuntimeError:  # it stopped itself at the end of the file
        pass


def _hypnogram(folder: Path) -> list[list[str]]:
    (session,) = [p for p in folder.iterdir() if p.is_dir()]
    rows = (session / "hypnogram.csv").read_text().splitlines()
    return [r.split(",") for r in rows]


# ----------------------------------------------------------------------------- pieces
def test_units_and_config_text():
    assert units_to_microvolts("microvolts") == 1.0
    assert units_to_microvolts("µV") == 1.0
    assert units_to_microvolts("0") == 1e6  # MNE-LSL: a power of ten of volts
    assert units_to_microvolts("-6") == 1.0
    assert units_to_microvolts("", default="mV") == 1e3
    with pytest.raises(ValueError, match="--lsl-units"):
        units_to_microvolts("degC")
    assert "ResolveScope = machine" in lsl_config_text("machine")
    assert "ResolveScope = site" in lsl_config_text("lan")
    with pytest.raises(ValueError, match="--lsl-scope"):
        lsl_config_text("world")
    with pytest.raises(RuntimeError, match="once"):
        configure_liblsl("lan")  # this process is configured for the machine


def test_strict_json_has_no_nan():
    from dreamband.session.events import EpochStaged

    ev = EpochStaged(30.0, 0, 0.0, -1, (float("nan"),) * 5, 0.0, False, ("flat",), {"x": float("inf")})
    text = event_json(ev)
    back = json.loads(text)
    assert back["probabilities"] == [None] * 5 and back["features"] == {"x": None}
    assert "NaN" not in text and "Infinity" not in text
    assert jsonable({"a": [1.5, float("-inf")]}) == {"a": [1.5, None]}


def test_no_stream_is_a_clear_error():
    with pytest.raises(RuntimeError, match="No LSL stream with name"):
        LslStream(name=_name("absent"), timeout=0.5)
    with pytest.raises(ValueError, match="--stream-name"):
        LslStream()


# ----------------------------------------------------------------------------- LSL in
@pytest.mark.slow
def test_live_lsl_stages_what_replay_stages(tmp_path):
    """PlayerLSL plays a 6-minute night 12x faster into `dreamband live --board lsl --headless`."""
    edf = tmp_path / "night.edf"
    raw = _night_raw(edf, 6.0, speed=12.0)
    name = _name("dreamband-test-eeg")
    player = WaitingPlayer(raw, chunk_size=300, name=name, n_repeat=1, annotations=False).start()
    try:
        live = main(["live", "--board", "lsl", "--stream-name", name, "--lsl-sfreq", "250", "--headless",
                     "--duration", "360", "--session-dir", str(tmp_path / "live"), "--status-every", "0"])
    finally:
        _stop(player)
    assert live == 0
    assert main(["replay", str(edf), "--headless", "--session-dir", str(tmp_path / "replay"),
                 "--status-every", "0"]) == 0
    got, want = _hypnogram(tmp_path / "live"), _hypnogram(tmp_path / "replay")
    assert len(want) == 1 + 12
    assert got == want  # same epochs (onsets to the sample), stages, probabilities and quality
    (session,) = [p for p in (tmp_path / "live").iterdir() if p.is_dir()]
    from dreamband.recordings.recording import read_recording

    rec = read_recording(session)
    assert rec.sfreq == 250.0 and rec.n_samples == raw.n_times  # every sample the player pushed, no more
    assert not np.isnan(rec.data).any()


@pytest.mark.slow
def test_vanished_outlet_is_a_dropout_a_gap_and_a_reconnect(tmp_path):
    raw = _night_raw(tmp_path / "n.edf", 2.0)
    name = _name("dreamband-test-vanish")
    first = WaitingPlayer(raw, chunk_size=25, name=name, n_repeat=1, annotations=False).start()
    stream = LslStream(name=name, timeout=5.0, dropout_timeout_s=1.0, reconnect_max_s=1.0)
    assert stream.sfreq == 250.0 and stream.channel_types == ["eeg", "eeg", "eog", "emg"]
    chunks, events = [], []
    stream.start()
    try:
        t0 = time.monotonic()
        while time.monotonic() - t0 < 3.0:
            chunks.append(stream.read())
            time.sleep(0.05)
        _stop(first)  # the outlet vanishes for 20 s
        t_gone = time.monotonic()
        while time.monotonic() - t_gone < 20.0:
            chunks.append(stream.read())
            events += stream.poll_events()
            time.sleep(0.1)
        second = WaitingPlayer(raw, chunk_size=25, name=name, n_repeat=1, annotations=False).start()
        try:
            t1 = time.monotonic()
            while time.monotonic() - t1 < 8.0 and not any(e.kind == "reconnected" for e in events):
                chunks.append(stream.read())
                events += stream.poll_events()
                time.sleep(0.05)
            time.sleep(1.0)
            chunks.append(stream.read())
            events += stream.poll_events()
        finally:
            _stop(second)
    finally:
        stream.stop()
    kinds = [e.kind for e in events]
    assert "dropout" in kinds and "reconnect_attempt" in kinds and "reconnected" in kinds, kinds
    assert kinds.index("dropout") < kinds.index("reconnected")
    gap = next(e for e in events if e.kind == "gap")
    assert 19.0 < gap.details["lost_s"] < 26.0, gap
    data = np.concatenate([c.data for c in chunks if c.n_samples], axis=1)
    nan = np.isnan(data[0])
    assert nan.sum() == gap.details["lost_samples"]
    first_nan, last_nan = np.flatnonzero(nan)[[0, -1]]
    assert last_nan - first_nan + 1 == nan.sum()  # one run of NaN, where the outlet was gone
    assert np.isfinite(data[0, last_nan + 1 :]).all() and last_nan + 1 < data.shape[1]
    np.testing.assert_allclose(data[:, last_nan + 1], raw.get_data()[:, 0] * 1e6)  # µV, from the start
    ts = np.concatenate([c.timestamps for c in chunks if c.n_samples])
    assert abs(ts[-1] - time.time()) < 30.0  # UNIX time
    assert np.all(np.diff(ts) > 0)


# ----------------------------------------------------------------------------- LSL out
class Collector(threading.Thread):
    """Pull an inlet until its outlet goes (LSL: what is not pulled by then is lost)."""

    def __init__(self, info) -> None:
        super().__init__(daemon=True)
        self.inlet = StreamInlet(info, recover=False)
        self.inlet.open_stream(timeout=10.0)
        self.rows: list = []
        self.stop_flag = threading.Event()

    def run(self) -> None:
        while not self.stop_flag.is_set():
            try:
                data, _ = self.inlet.pull_chunk(timeout=0.1)
            except Exception:  # noqa: BLE001 - LostError: the outlet closed
                return
            self.rows += list(np.array(data, copy=True))  # MNE-LSL reuses its buffer


def test_every_lsl_out_event_reaches_an_inlet_in_order(tmp_path):
    from dreamband.session.live import build_engine
    from dreamband.session.lsl_out import EVENTS_STREAM, STAGES_STREAM

    edf = tmp_path / "night.edf"
    _night_raw(edf, 4.0)
    args = build_parser().parse_args(["replay", str(edf), "--headless", "--lsl-out", "--speed", "max"])
    engine = build_engine(args, replay=True)
    mine = engine.subscribe(name="test", samples=False)
    collectors = {}
    for stream in (EVENTS_STREAM, STAGES_STREAM):
        (info,) = resolve_streams(timeout=5.0, name=stream)
        collectors[stream] = Collector(info)
        collectors[stream].start()
    engine.run_to_end()
    for c in collectors.values():
        c.join(timeout=10.0)
        c.stop_flag.set()
    expected = [event_json(ev) for ev in mine.drain()]
    got = [row[0] for row in collectors[EVENTS_STREAM].rows]
    stages = np.asarray(collectors[STAGES_STREAM].rows).reshape(-1, 7)
    assert got == expected  # every event, in order, as strict JSON
    kinds = [json.loads(g)["kind"] for g in got]
    assert kinds[0] == "session_started" and kinds[-1] == "session_ended" and kinds.count("epoch") == 8
    epochs = [json.loads(g) for g in got if json.loads(g)["kind"] == "epoch"]
    np.testing.assert_array_equal(stages[:, 5], [e["stage"] for e in epochs])
    np.testing.assert_allclose(stages[:, :5], [e["probabilities"] for e in epochs])


_SOCKETS = textwrap.dedent('''
    import json, os, socket, sys, threading, time
    from dreamband.cli import build_parser
    from dreamband.session.live import build_engine

    def sockets():
        inodes = set()
        for fd in os.listdir("/proc/self/fd"):
            try:
                t = os.readlink(f"/proc/self/fd/{fd}")
            except OSError:
                continue
            if t.startswith("socket:["):
                inodes.add(t[8:-1])
        out = []
        for proto in ("tcp", "tcp6", "udp", "udp6"):
            try:
                lines = open(f"/proc/net/{proto}").read().splitlines()[1:]
            except OSError:
                continue
            for line in lines:
                f = line.split()
                if f[9] in inodes and (proto.startswith("udp") or f[3] == "0A"):  # bound UDP, TCP LISTEN
                    out.append([proto, f[1]])
        return out

    args = build_parser().parse_args(sys.argv[1:])
    engine = build_engine(args)
    seen = []
    done = threading.Event()
    def watch():
        while not done.is_set():
            seen.extend(s for s in sockets() if s not in seen)
            time.sleep(0.2)
    w = threading.Thread(target=watch); w.start()
    engine.run_to_end()
    time.sleep(0.3); done.set(); w.join()
    print(json.dumps({"sockets": seen, "mne_lsl": "mne_lsl" in sys.modules}))
''')


@pytest.mark.parametrize("lsl_out", [False, True])
def test_nothing_listens_without_lsl_out(tmp_path, lsl_out):
    if not Path("/proc/net/tcp").exists():
        pytest.skip("needs Linux /proc to list the sockets")
    cmd = [sys.executable, "-c", _SOCKETS, "live", "--board", "synthetic", "--headless", "--duration", "3",
           "--no-record"] + (["--lsl-out"] if lsl_out else [])
    env = {k: v for k, v in os.environ.items() if k != "LSLAPICFG"}
    out = subprocess.run(cmd, capture_output=True, text=True, timeout=120, env=env)
    assert out.returncode == 0, out.stderr[-2000:]
    res = json.loads(out.stdout.strip().splitlines()[-1])
    if not lsl_out:
        assert res == {"sockets": [], "mne_lsl": False}
        assert "LSL" not in out.stderr
    else:
        assert res["sockets"] and res["mne_lsl"]  # the positive control: the outlets do listen
        assert "this machine only" in out.stderr
        assert not any(p.endswith("6") for p, _ in res["sockets"])  # the machine scope: no IPv6


def test_lan_scope_is_said(tmp_path):
    env = dict(os.environ, XDG_CACHE_HOME=str(tmp_path))
    env.pop("LSLAPICFG", None)
    out = subprocess.run([sys.executable, "-m", "dreamband", "live", "--board", "synthetic", "--headless",
                          "--duration", "1", "--no-record", "--lsl-out", "--lsl-scope", "lan"],
                         capture_output=True, text=True, timeout=120, env=env)
    assert out.returncode == 0, out.stderr[-2000:]
    assert "the local network (--lsl-scope lan)" in out.stderr
    assert "ResolveScope = site" in (tmp_path / "dreamband" / "dreamband-lsl-lan.cfg").read_text()


@pytest.mark.slow
def test_outlets_stop_cleanly_on_ctrl_c(tmp_path):
    from dreamband.session.lsl_out import EVENTS_STREAM

    env = {k: v for k, v in os.environ.items() if k != "LSLAPICFG"}
    proc = subprocess.Popen([sys.executable, "-m", "dreamband", "live", "--board", "sleeper", "--speed", "30",
                             "--headless", "--no-record", "--lsl-out"], stdout=subprocess.PIPE,
                            stderr=subprocess.PIPE, text=True, env=env)
    try:
        infos = resolve_streams(timeout=30.0, name=EVENTS_STREAM)
        assert infos, "the --lsl-out outlet did not appear"
        col = Collector(infos[0])
        col.start()
        t0 = time.monotonic()
        while time.monotonic() - t0 < 30.0 and sum('"kind":"epoch"' in r[0] for r in col.rows) < 2:
            time.sleep(0.2)
        proc.send_signal(stdlib_signal.SIGINT)
        out, err = proc.communicate(timeout=30.0)
    finally:
        if proc.poll() is None:
            proc.kill()
    assert proc.returncode == 0, err[-2000:]
    assert "session ended" in out
    col.join(timeout=10.0)
    assert not col.is_alive()  # the outlet went away (the inlet saw it lost)
    got = [r[0] for r in col.rows]
    assert json.loads(got[-1])["kind"] == "session_ended"  # the last event reached us before the outlet closed
    assert not resolve_streams(timeout=1.0, name=EVENTS_STREAM, source_id=infos[0].source_id)


def test_boards_lists_the_lsl_streams_seen(tmp_path, capsys):
    raw = _night_raw(tmp_path / "n.edf", 1.0)
    name = _name("dreamband-test-boards")
    player = PlayerLSL(raw, chunk_size=25, name=name, n_repeat=1, annotations=False).start()
    try:
        assert main(["boards"]) == 0
    finally:
        _stop(player)
    out = capsys.readouterr().out
    line = next(ln for ln in out.splitlines() if name in ln)
    assert "250 Hz" in line and "4 ch" in line
