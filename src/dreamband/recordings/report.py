"""The morning report: statistics table, hypnogram + whole-night spectrogram (PNG), self-contained HTML.

``build_report(path)`` reads a session folder (hypnogram.csv, events.jsonl, session.edf), a
recording with stage annotations (EDF+), or a bare hypnogram file; ``format_report`` gives the
text for the terminal; ``write_report`` writes ``report.png`` and ``report.html`` (the PNG
inlined as base64, no external files). matplotlib (a dependency of MNE) is imported lazily
with the Agg backend.
"""

from __future__ import annotations

import base64
import datetime as dt
import html
from dataclasses import dataclass, field
from pathlib import Path

import numpy as np

from dreamband.firmware_bridge.clock import localize, wall_at, zone_label
from dreamband.recordings.base import Recording
from dreamband.recordings.edf_recording import EdfRecording
from dreamband.recordings.stats import LABELS, rem_periods, sleep_statistics
from dreamband.signal.stages import stage_name

# hypnogram rows from top to bottom: W, REM, N1, N2, N3 (the clinical convention)
_Y = {0: 4, 4: 3, 1: 2, 2: 1, 3: 0, -1: np.nan}


@dataclass
class NightReport:
    """Everything the morning report shows.

    Attributes
    ----------
    title : str
        Heading (folder or file name).
    source : Path
        What was read.
    start_time : datetime or None
        Lights out / recording start (aware), when known.
    stages : ndarray, shape (n_epochs,), int8
        The hypnogram.
    epoch_s : float
        Epoch length in seconds.
    stats : dict
        :func:`~dreamband.recordings.stats.sleep_statistics`.
    triggers : list of dict
        Trigger events (``time`` in session seconds, ``policy``, ``action``, ``intensity``, ``reason``).
    recording : Recording or EdfRecording or None
        Signals for the spectrogram, when available (an ``EdfRecording`` is decoded a block of
        epochs at a time while the spectrogram is computed).
    channel : str or None
        The frontal channel used for the spectrogram.
    notes : list of str
        Caveats (missing signals, recovered session...).
    """

    title: str
    source: Path
    start_time: dt.datetime | None
    stages: np.ndarray
    epoch_s: float
    stats: dict
    triggers: list[dict] = field(default_factory=list)
    recording: Recording | EdfRecording | None = None
    channel: str | None = None
    notes: list[str] = field(default_factory=list)

    def clock(self, seconds: float) -> str:
        """Time of day of ``seconds`` after the start (``HH:MM``), or ``+h:mm`` when the start is unknown."""
        if self.start_time is None:
            return f"+{int(seconds // 3600)}:{int(seconds % 3600 // 60):02d}"
        return wall_at(self.start_time, seconds).strftime("%H:%M")


def _stages_from_annotations(rec: Recording) -> np.ndarray | None:
    import mne

    ann = [(o, d, s) for o, d, s in rec.annotations if s.lower().startswith(("sleep stage", "movement time"))]
    if not ann:
        return None
    from dreamband.recordings.hypnogram import _from_annotations

    a = mne.Annotations([x[0] for x in ann], [x[1] for x in ann], [x[2] for x in ann])
    return _from_annotations(a, rec.source_path or Path("?"), 30.0)


def _edf_start(path: Path) -> dt.datetime | None:
    """Start date/time from an EDF header, in the local zone (:func:`~dreamband.recordings.edf_channels.header_start_time`)."""
    from dreamband.recordings.edf_channels import header_start_time

    try:
        with open(path, "rb") as fh:
            head = fh.read(184)
        return header_start_time(head[168:176].decode("ascii"), head[176:184].decode("ascii"))
    except (OSError, UnicodeDecodeError):
        return None


#: what ``dreamband report`` reads, for its error messages
REPORT_READS = ("`dreamband report` reads a session folder, a recording with 'Sleep stage' annotations (EDF+), "
                "or a hypnogram file (dreamband's hypnogram CSV, Sleep-EDF *-Hypnogram.edf, YASA text, DREAMS).")


def build_report(path: str | Path) -> NightReport:
    """Gather the hypnogram, statistics, triggers and signals of a night.

    Parameters
    ----------
    path : str or Path
        A session folder, a recording with ``Sleep stage`` annotations (EDF+), or a hypnogram
        file (Sleep-EDF ``*-Hypnogram.edf``, YASA text, DREAMS, our CSV).

    Raises
    ------
    FileNotFoundError
        When ``path`` does not exist.
    ValueError
        When no sleep stages can be found (the message says how to get them).
    """
    from dreamband.recordings.hypnogram import load_hypnogram

    path = Path(path).expanduser()
    if not path.exists():
        raise FileNotFoundError(f"No such session folder or file: {path}")
    notes: list[str] = []
    triggers: list[dict] = []
    rec: Recording | EdfRecording | None = None
    start: dt.datetime | None = None
    if path.is_dir():
        from dreamband.recordings.recorder import load_session, read_events, read_session_json

        meta = read_session_json(path)
        if meta.get("state") == "recording":
            notes.append("the session was not closed (crash?); it was recovered first")
        try:  # only the channel the spectrogram shows is decoded (constant memory beyond it)
            from dreamband.firmware_bridge.montage import pick_staging_channels

            names, types = meta["channel_names"], meta["channel_types"]
            pick = [names[pick_staging_channels(names, types, 1)[0]]] if "eeg" in types else None
            rec = load_session(path, channels=pick, lazy=True)  # the archive: decoded a block at a time
        except ValueError as err:
            notes.append(f"no signals: {err}")
        meta = read_session_json(path)
        if meta.get("state") == "recovered":
            notes.append("this session was recovered after a crash")
        start = dt.datetime.fromisoformat(meta["start_time"])
        events, warn = read_events(path)
        notes += warn
        triggers = [e for e in events if e.get("kind") == "trigger"]
        stages, epoch_s = None, 30.0
        if (path / "hypnogram.csv").exists():
            try:
                stages, epoch_s = load_hypnogram(path / "hypnogram.csv")
            except ValueError:
                stages = None
        if stages is None and rec is not None:
            stages = _stages_from_annotations(rec)
        if stages is None:
            raise ValueError(f"{path}: no staged epochs yet (hypnogram.csv is empty); a report needs at least two.")
    else:
        stages = None
        epoch_s = 30.0
        try:
            from dreamband.recordings.recording import open_recording

            rec = open_recording(path)  # EDF/BDF: annotations now, samples only for the spectrogram
            start = rec.start_time
            stages = _stages_from_annotations(rec)
        except ValueError as err:
            rec = None
            msg = str(err)
            notes.append("hypnogram only: no signals for a spectrogram" if "channels: []" in msg
                         else f"no signals: {msg.split(': ', 1)[-1]}")
        if stages is None and rec is not None:  # a raw recording: say so, do not read its rows as stages
            raise ValueError(
                f"{path}: a recording ({rec.info.get('format', 'signals')}, {len(rec.channel_names)} channels, "
                f"{rec.n_samples / rec.sfreq / 3600.0:.1f} h) with no sleep stages in it. {REPORT_READS} "
                f"Stage it first: `dreamband stage {path.name}`, then `dreamband report {path.stem}.hypnogram.csv`."
            )
        if stages is None:
            try:
                stages, epoch_s = load_hypnogram(path)
            except ValueError as err:
                text = str(err)
                text = text if len(text) <= 160 else text[:157] + "..."
                raise ValueError(
                    f"{path}: no sleep stages found ({text}). {REPORT_READS} Stage the recording first "
                    "(`dreamband stage FILE`) and report the hypnogram CSV it writes."
                ) from None
            if path.suffix.lower() in (".edf", ".bdf") and start is None:
                start = _edf_start(path)
                if start is not None:
                    notes.append("clock times are the EDF header's, read in this machine's time zone (EDF stores none)")
    if stages.size < 2:
        raise ValueError(f"{path}: only {stages.size} staged epoch(s); a report needs at least two.")
    channel = None
    if rec is not None:
        try:
            channel = rec.channel_names[rec.frontal_channel()]
        except ValueError:
            notes.append("no EEG channel for the spectrogram")
    start = localize(start) if start is not None else None  # shown in the local zone when it is the local offset
    return NightReport(path.name, path, start, np.asarray(stages, dtype=np.int8), float(epoch_s),
                       sleep_statistics(stages, epoch_s), triggers, rec, channel, notes)


def format_report(r: NightReport) -> str:
    """The report as text for the terminal."""
    from dreamband.recordings.stats import format_statistics

    head = f"Night report: {r.title}"
    if r.start_time is not None:
        end = wall_at(r.start_time, r.stages.size * r.epoch_s)
        head += f"  ({r.start_time:%Y-%m-%d %H:%M} - {end:%H:%M} {zone_label(end)})"
    lines = [head, "", format_statistics(r.stats), ""]
    periods = rem_periods(r.stages, r.epoch_s)
    if periods:
        lines.append("REM periods:")
        for a, b in periods:
            lines.append(f"  {r.clock(a * r.epoch_s)}-{r.clock(b * r.epoch_s)}  ({(b - a) * r.epoch_s / 60:.1f} min)")
        lines.append("")
    lines.append(f"Triggers fired: {len(r.triggers)}")
    for t in r.triggers:
        lines.append(f"  {r.clock(float(t.get('time', 0)))}  {t.get('policy', '?')} -> {t.get('action', '?')} "
                     f"(intensity {float(t.get('intensity', 0)):.2f}): {t.get('reason', '')}")
    for n in r.notes:
        lines.append(f"note: {n}")
    return "\n".join(lines)


def epoch_spectrogram(x: np.ndarray, sfreq: float, epoch_s: float = 30.0, fmax: float = 30.0
                      ) -> tuple[np.ndarray, np.ndarray, np.ndarray]:
    """Welch power spectrum of each epoch of one channel.

    Parameters
    ----------
    x : ndarray, shape (n_samples,), or a one-channel block reader
        Signal in µV (NaN treated as 0); or an object with ``n_samples`` and
        ``block(start, stop)`` of shape (1, stop - start) (an ``EdfRecording`` of one channel),
        decoded 64 epochs at a time.
    sfreq : float
        Sampling rate in Hz.
    epoch_s : float
        Window length in seconds.
    fmax : float
        Highest frequency kept (Hz).

    Returns
    -------
    times : ndarray, shape (n_epochs,)
        Epoch centres in seconds.
    freqs : ndarray, shape (n_freqs,)
        Frequencies in Hz.
    power_db : ndarray, shape (n_freqs, n_epochs)
        10*log10(µV²/Hz).
    """
    from scipy.signal import welch

    n_total = x.size if isinstance(x, np.ndarray) else int(x.n_samples)
    n_ep = int(n_total // int(epoch_s * sfreq))
    if n_ep < 1:
        raise ValueError("The recording is shorter than one epoch; no spectrogram.")
    n = int(epoch_s * sfreq)
    nper = int(min(4 * sfreq, n))
    parts, freqs = [], None
    for a in range(0, n_ep, 64):  # 64 epochs at a time: Welch's segments of a whole night never in memory
        b = min(a + 64, n_ep)
        raw = x[a * n: b * n] if isinstance(x, np.ndarray) else x.block(a * n, b * n)[0]
        seg = np.nan_to_num(raw).reshape(b - a, n)
        freqs, p = welch(seg, fs=sfreq, nperseg=nper, axis=-1)
        parts.append(p[:, freqs <= fmax])
    times = (np.arange(n_ep) + 0.5) * epoch_s
    return times, freqs[freqs <= fmax], 10 * np.log10(np.vstack(parts).T + 1e-12)


def plot_report(r: NightReport, path: str | Path) -> Path:
    """Write the report figure (hypnogram with REM periods and triggers; spectrogram) as PNG."""
    import matplotlib

    matplotlib.use("Agg", force=False)
    from matplotlib.figure import Figure

    has_spec = r.recording is not None and r.channel is not None
    fig = Figure(figsize=(12, 6.5 if has_spec else 3.8), dpi=100, layout="constrained")
    axes = fig.subplots(2 if has_spec else 1, 1, sharex=True, squeeze=False)[:, 0]
    hours = np.arange(r.stages.size + 1) * r.epoch_s / 3600.0
    y = np.array([_Y.get(int(s), np.nan) for s in r.stages] + [np.nan])
    ax = axes[0]
    ax.step(hours, y, where="post", color="#3a4a6b", lw=1.2)
    rem = np.where(r.stages == 4, y[:-1], np.nan)
    ax.hlines(rem, hours[:-1], hours[1:], color="#d1495b", lw=4)
    for a, b in rem_periods(r.stages, r.epoch_s):
        ax.axvspan(hours[a], hours[b], color="#d1495b", alpha=0.12, lw=0)
    for t in r.triggers:
        th = float(t.get("time", 0)) / 3600.0
        ax.axvline(th, color="#edae49", lw=1.5)
        ax.annotate(str(t.get("policy", "")), (th, 4.35), fontsize=7, rotation=90, va="bottom", ha="right",
                    color="#9a6b00", annotation_clip=False)
    unscored = np.flatnonzero(r.stages < 0)
    if unscored.size:
        ax.plot(hours[unscored] + r.epoch_s / 7200, np.full(unscored.size, -0.4), "|", color="#888", ms=6)
    ax.set_yticks([0, 1, 2, 3, 4], ["N3", "N2", "N1", "REM", "W"])
    ax.set_ylim(-0.7, 4.6)
    s = r.stats
    ax.set_title(f"{r.title} - TST {s['TST']:.0f} min, SE {s['SE']:.0f} %, REM {s['%REM']:.0f} %, "
                 f"triggers {len(r.triggers)}", fontsize=10, loc="left")
    ax.grid(axis="x", alpha=0.3)
    if has_spec:
        rec = r.recording
        x = rec.data[rec.channel_index(r.channel)] if isinstance(rec, Recording) else rec.pick([r.channel])
        try:
            t, f, p = epoch_spectrogram(x, rec.sfreq, r.epoch_s, fmax=min(30.0, rec.sfreq / 2))
            lo, hi = np.percentile(p, [5, 98])
            mesh = axes[1].pcolormesh(t / 3600.0, f, p, shading="nearest", cmap="magma", vmin=lo, vmax=hi)
            fig.colorbar(mesh, ax=list(axes), label="dB (µV²/Hz)", pad=0.01, fraction=0.03, shrink=0.5, anchor=(0.0, 0.0))
            axes[1].set_ylabel("Hz")
            axes[1].set_title(f"Spectrogram, {r.channel}", fontsize=10, loc="left")
        except ValueError as err:
            axes[1].text(0.5, 0.5, str(err), transform=axes[1].transAxes, ha="center")
    last = axes[-1]
    if r.start_time is not None:
        from matplotlib.ticker import FuncFormatter

        last.xaxis.set_major_formatter(FuncFormatter(lambda v, _pos: r.clock(v * 3600.0)))
        last.set_xlabel(f"time of day ({zone_label(r.start_time)})")
    else:
        last.set_xlabel("hours since start")
    last.set_xlim(0, max(hours[-1], 1e-3))
    path = Path(path)
    fig.savefig(path, format="png")
    return path


def report_html(r: NightReport, png_bytes: bytes) -> str:
    """A self-contained HTML page: statistics, REM periods, triggers and the inlined figure."""
    esc = html.escape
    rows = []
    for key, (label, unit) in LABELS.items():
        if key in r.stats:
            v = r.stats[key]
            txt = "n/a" if not np.isfinite(v) else (f"{v:.0f}" if unit == "count" else f"{v:.1f}")
            rows.append(f"<tr><td>{esc(label)}</td><td class=n>{txt}</td><td>{esc(unit)}</td></tr>")
    rem_rows = "".join(
        f"<tr><td>{r.clock(a * r.epoch_s)}-{r.clock(b * r.epoch_s)}</td><td class=n>{(b - a) * r.epoch_s / 60:.1f}</td></tr>"
        for a, b in rem_periods(r.stages, r.epoch_s))
    trig_rows = "".join(
        f"<tr><td>{r.clock(float(t.get('time', 0)))}</td><td>{esc(str(t.get('policy', '')))}</td>"
        f"<td>{esc(str(t.get('action', '')))}</td><td class=n>{float(t.get('intensity', 0)):.2f}</td>"
        f"<td>{esc(str(t.get('reason', '')))}</td></tr>" for t in r.triggers) or "<tr><td colspan=5>none</td></tr>"
    when = f"{r.start_time:%Y-%m-%d %H:%M %Z}" if r.start_time is not None else "start time unknown"
    notes = "".join(f"<li>{esc(n)}</li>" for n in r.notes)
    img = base64.b64encode(png_bytes).decode("ascii")
    counts = ", ".join(f"{stage_name(k)} {np.count_nonzero(r.stages == k)}" for k in (0, 1, 2, 3, 4))
    return f"""<!DOCTYPE html>
<html lang="en"><head><meta charset="utf-8"><title>dreamband night report - {esc(r.title)}</title>
<style>body{{font-family:system-ui,sans-serif;background:#10131a;color:#dde3ee;margin:2em;max-width:1250px}}
table{{border-collapse:collapse;margin:0.5em 2em 1em 0;display:inline-table;vertical-align:top}}
td,th{{padding:2px 10px;border-bottom:1px solid #2a3142;text-align:left}}td.n{{text-align:right}}
img{{max-width:100%;background:#fff;border-radius:6px}}h1{{font-weight:500}}</style></head><body>
<h1>Night report: {esc(r.title)}</h1><p>{esc(when)} &middot; {r.stages.size} epochs of {r.epoch_s:g} s ({esc(counts)})</p>
<table><tr><th>Statistic</th><th>Value</th><th>Unit</th></tr>{''.join(rows)}</table>
<table><tr><th>REM period</th><th>min</th></tr>{rem_rows or '<tr><td colspan=2>none</td></tr>'}</table>
<h2>Triggers fired</h2><table><tr><th>time</th><th>policy</th><th>action</th><th>intensity</th><th>why</th></tr>{trig_rows}</table>
<p><img alt="hypnogram and spectrogram" src="data:image/png;base64,{img}"></p>
{f'<ul>{notes}</ul>' if notes else ''}
<p style="color:#8893a8">Definitions: AASM / YASA sleep_statistics (latencies from lights out; AASM REM latency from sleep onset).
Generated by dreamband.</p></body></html>
"""


def write_report(r: NightReport, out_dir: str | Path, stem: str = "report") -> tuple[Path, Path]:
    """Write ``<stem>.png`` and the self-contained ``<stem>.html`` into ``out_dir`` (files 0600).

    Returns
    -------
    (png_path, html_path)
    """
    import os

    out = Path(out_dir)
    out.mkdir(parents=True, exist_ok=True)
    png = plot_report(r, out / f"{stem}.png")
    page = out / f"{stem}.html"
    page.write_text(report_html(r, png.read_bytes()), encoding="utf-8")
    for p in (png, page):
        os.chmod(p, 0o600)
    return png, page
