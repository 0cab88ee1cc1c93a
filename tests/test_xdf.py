"""XDF files through pyxdf: replay, stage and report read the EEG stream of an XDF file (by name or
type), with its marker streams as annotations, and a file holding dreamband's own LSL outlets gives
back the stages it recorded.

The files are written here in the XDF 1.0 layout LabRecorder writes (file header, stream headers,
sample chunks, clock offsets, stream footers), then read by pyxdf itself.
"""

from __future__ import annotations

import json
import struct
from pathlib import Path

import numpy as np
import pytest

pytest.importorskip("pyxdf")

from dreamband.cli import main  # noqa: E402
from dreamband.recordings.recording import read_recording  # noqa: E402


def _varlen(n: int) -> bytes:
    if n < 256:
        return struct.pack("<BB", 1, n)
    if n < 2**32:
        return struct.pack("<BI", 4, n)
    return struct.pack("<BQ", 8, n)


def _chunk(tag: int, content: bytes) -> bytes:
    body = struct.pack("<H", tag) + content
    return _varlen(len(body)) + body


def _stream_xml(name: str, stype: str, channels: list[tuple[str, str, str]], sfreq: float, fmt: str) -> bytes:
    chans = "".join(f"<channel><label>{lab}</label><type>{t}</type><unit>{u}</unit></channel>"
                    for lab, t, u in channels)
    return (f'<?xml version="1.0"?><info><name>{name}</name><type>{stype}</type>'
            f"<channel_count>{len(channels)}</channel_count><nominal_srate>{sfreq}</nominal_srate>"
            f"<channel_format>{fmt}</channel_format><source_id>{name}</source_id>"
            f"<created_at>0</created_at><desc><channels>{chans}</channels></desc></info>").encode()


def write_xdf(path: Path, streams: list[dict]) -> Path:
    """Write ``streams`` (name, type, channels [(label, type, unit)], sfreq, fmt, timestamps, values)."""
    out = [b"XDF:", _chunk(1, b'<?xml version="1.0"?><info><version>1.0</version>'
                              b"<datetime>2024-01-01T23:00:00+00:00</datetime></info>")]
    for sid, s in enumerate(streams, start=1):
        out.append(_chunk(2, struct.pack("<I", sid) + _stream_xml(s["name"], s["type"], s["channels"], s["sfreq"],
                                                                    s["fmt"])))
    for sid, s in enumerate(streams, start=1):
        ts, values = s["timestamps"], s["values"]
        for a in range(0, len(ts), 1000):
            body = b""
            for t, v in zip(ts[a : a + 1000], values[a : a + 1000], strict=True):
                body += struct.pack("<Bd", 8, float(t))
                if s["fmt"] == "string":
                    for text in v:
                        raw = text.encode("utf-8")
                        body += _varlen(len(raw)) + raw
                else:
                    body += np.asarray(v, dtype="<f8").tobytes()
            n = len(ts[a : a + 1000])
            out.append(_chunk(3, struct.pack("<I", sid) + _varlen(n) + body))
        out.append(_chunk(4, struct.pack("<Idd", sid, float(ts[0]) if len(ts) else 0.0, 0.0)))
        out.append(_chunk(6, struct.pack("<I", sid) + b'<?xml version="1.0"?><info></info>'))
    path.write_bytes(b"".join(out))
    return path


@pytest.fixture(scope="module")
def night(tmp_path_factory):
    """A 5-minute generated night: its EDF, and its replay's events (as dreamband's outlets stamp them)."""
    from dreamband.session.simulate import write_edf
    from dreamband.signal.simulate import simulate_night

    folder = tmp_path_factory.mktemp("xdf")
    sim = simulate_night(5 / 60, sfreq=250.0, seed=8)
    edf = write_edf(sim, folder / "night.edf")
    assert main(["replay", str(edf), "--headless", "--session-dir", str(folder / "edf"), "--status-every", "0"]) == 0
    (session,) = [p for p in (folder / "edf").iterdir() if p.is_dir()]
    events = [json.loads(line) for line in (session / "events.jsonl").read_text().splitlines()]
    return {"sim": sim, "folder": folder, "events": events, "hypnogram": (session / "hypnogram.csv").read_text()}


def _xdf_of(night: dict, path: Path, gap_s: float = 0.0, units: str = "microvolts") -> Path:
    sim = night["sim"]
    t0 = 5000.0  # LSL clock of the first EEG sample
    ts = t0 + np.arange(sim.n_samples) / sim.sfreq
    if gap_s:
        ts[sim.n_samples // 2 :] += gap_s
    scale = {"microvolts": 1.0, "volts": 1e-6}[units]
    eeg = {"name": "OpenBCI_EEG", "type": "EEG", "sfreq": sim.sfreq, "fmt": "double64",
           "channels": [(n, t.upper(), units) for n, t in zip(sim.channel_names, sim.channel_types, strict=True)],
           "timestamps": ts, "values": list(sim.data.T * scale)}
    evs = [e for e in night["events"] if e["kind"] not in ("samples",)]
    marks = {"name": "dreamband-events", "type": "Markers", "sfreq": 0.0, "fmt": "string", "channels": [("event", "", "")],
             "timestamps": [t0 + e["time"] for e in evs], "values": [[json.dumps(e)] for e in evs]}
    epochs = [e for e in evs if e["kind"] == "epoch"]
    stages = {"name": "dreamband-stages", "type": "SleepStages", "sfreq": 1 / 30, "fmt": "double64",
              "channels": [(c, "misc", "") for c in ("P(W)", "P(N1)", "P(N2)", "P(N3)", "P(REM)", "stage", "confidence")],
              "timestamps": [t0 + e["onset"] for e in epochs],
              "values": [[*(p if p is not None else np.nan for p in e["probabilities"]), e["stage"], e["confidence"]]
                         for e in epochs]}
    psychopy = {"name": "PsychoPy", "type": "Markers", "sfreq": 0.0, "fmt": "string", "channels": [("m", "", "")],
                "timestamps": [t0 + 61.5], "values": [["lights off"]]}
    return write_xdf(path, [marks, eeg, stages, psychopy])


def test_read_xdf_eeg_channels_units_and_annotations(night, tmp_path):
    rec = read_recording(_xdf_of(night, tmp_path / "a.xdf", units="volts"))
    sim = night["sim"]
    assert rec.info["format"] == "xdf" and rec.info["stream"] == "OpenBCI_EEG"
    assert rec.channel_names == list(sim.channel_names) and rec.channel_types == list(sim.channel_types)
    assert rec.sfreq == 250.0 and rec.n_samples == sim.n_samples
    np.testing.assert_allclose(rec.data, sim.data, rtol=1e-9, atol=1e-9)  # volts -> µV from the description
    descs = [d for _, _, d in rec.annotations]
    assert "lights off" in descs
    onset = next(o for o, _, d in rec.annotations if d == "lights off")
    assert onset == pytest.approx(61.5)
    stages = [(o, d) for o, _, d in rec.annotations if d.startswith("Sleep stage")]
    np.testing.assert_allclose([o for o, _ in stages], [30.0 * k for k in range(10)], atol=1e-6)
    assert str(rec.start_time) == "2024-01-01 23:00:00+00:00"


def test_gap_in_the_timestamps_is_nan(night, tmp_path):
    rec = read_recording(_xdf_of(night, tmp_path / "g.xdf", gap_s=20.0))
    sim = night["sim"]
    assert rec.n_samples == sim.n_samples + 20 * 250
    nan = np.isnan(rec.data[0])
    assert nan.sum() == 20 * 250 and np.flatnonzero(nan)[0] == sim.n_samples // 2
    assert rec.info["warnings"]


def test_replay_of_an_xdf_of_dreamband_outlets_gives_its_stages(night, tmp_path):
    xdf = _xdf_of(night, tmp_path / "night.xdf")
    assert main(["replay", str(xdf), "--headless", "--session-dir", str(tmp_path / "s"), "--status-every", "0"]) == 0
    (session,) = [p for p in (tmp_path / "s").iterdir() if p.is_dir()]
    assert (session / "hypnogram.csv").read_text() == night["hypnogram"]  # the stages it recorded
    recorded = [e["stage"] for e in night["events"] if e["kind"] == "epoch"]
    rec = read_recording(xdf)
    labels = ["W", "N1", "N2", "N3", "R"]
    assert [d.split()[-1] for _, _, d in rec.annotations if d.startswith("Sleep stage")] == \
        [labels[s] if s >= 0 else "?" for s in recorded]


def test_stage_and_report_read_xdf(night, tmp_path):
    xdf = _xdf_of(night, tmp_path / "night.xdf")
    out = tmp_path / "night.hypnogram.csv"
    assert main(["stage", str(xdf), "-o", str(out)]) == 0
    rows = out.read_text().splitlines()
    assert len(rows) == 1 + 10
    assert main(["report", str(xdf), "-o", str(tmp_path / "report")]) == 0
    html = (tmp_path / "report" / "night.report.html").read_text()
    assert "xdf" in html.lower() or "night" in html


def test_xdf_errors(night, tmp_path):
    bad = tmp_path / "bad.xdf"
    bad.write_bytes(b"XDF:garbage")
    with pytest.raises(ValueError, match="XDF"):
        read_recording(bad)
    from dreamband.recordings.xdf import load_xdf

    xdf = _xdf_of(night, tmp_path / "n.xdf")
    with pytest.raises(ValueError, match="No regular stream named 'Muse'"):
        load_xdf(xdf, stream_name="Muse")
    assert load_xdf(xdf, stream_type="eeg").info["stream"] == "OpenBCI_EEG"


def test_replay_picks_the_xdf_stream_by_name(night, tmp_path):
    xdf = _xdf_of(night, tmp_path / "night.xdf")
    assert main(["replay", str(xdf), "--headless", "--no-record", "--stream-name", "OpenBCI_EEG",
                 "--status-every", "0"]) == 0
    assert main(["replay", str(xdf), "--headless", "--no-record", "--stream-name", "Muse"]) == 2
