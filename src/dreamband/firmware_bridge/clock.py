"""The user's wall clock: the local time zone with its rules (zoneinfo, daylight saving time).

Every time of day a person sets (``--alarm 06:30-07:00``) or sees (status lines, the window's
axes, the morning report) goes through here, so a night when the clocks go back (Europe/Paris,
26-27 October 2024) keeps 06:30 at 06:30 local time.

Two rules matter:

- a zone is a :class:`zoneinfo.ZoneInfo` (rules), not a fixed UTC offset taken once at start
  (``datetime.now().astimezone()`` gives a fixed offset that is wrong after a DST change);
- arithmetic is done in UTC: ``start + timedelta`` on a ZoneInfo datetime adds wall-clock
  hours (Python's rule), so session seconds are added in UTC and converted back
  (:func:`wall_at`), and differences are taken in UTC (:func:`seconds_between`).
"""

from __future__ import annotations

import datetime as dt
import os
from pathlib import Path

try:  # Python >= 3.9
    from zoneinfo import ZoneInfo, ZoneInfoNotFoundError
except ImportError:  # pragma: no cover
    ZoneInfo = None  # type: ignore[assignment,misc]
    ZoneInfoNotFoundError = KeyError  # type: ignore[assignment,misc]

UTC = dt.timezone.utc


def local_zone() -> dt.tzinfo:
    """The machine's local time zone, with its rules when they can be found.

    In order: the ``TZ`` environment variable (an IANA name such as ``Europe/Paris``), the
    ``/etc/localtime`` link (Linux, macOS), the ``/etc/localtime`` file itself; else the
    current fixed offset (no DST rules known, e.g. Windows without the ``tzdata`` package).

    Returns
    -------
    datetime.tzinfo
        A :class:`zoneinfo.ZoneInfo` when possible, else a fixed :class:`datetime.timezone`.
    """
    if ZoneInfo is not None:
        name = os.environ.get("TZ", "").lstrip(":").strip()
        if name:
            try:
                return ZoneInfo(name)
            except (ZoneInfoNotFoundError, ValueError, OSError):
                pass
        link = Path("/etc/localtime")
        try:
            target = str(link.resolve())
            if "zoneinfo/" in target:
                return ZoneInfo(target.split("zoneinfo/", 1)[1])
        except (ZoneInfoNotFoundError, ValueError, OSError):
            pass
        try:
            with link.open("rb") as fh:
                return ZoneInfo.from_file(fh, key="localtime")
        except (OSError, ValueError):
            pass
    return dt.datetime.now().astimezone().tzinfo or UTC


def session_zone(start: dt.datetime) -> dt.tzinfo:
    """The zone in which the times of a session starting at ``start`` are shown and set.

    A ZoneInfo start keeps its zone. A fixed offset that equals the local zone's offset at
    that instant (what ``datetime.now().astimezone()`` and ISO strings such as
    ``2024-10-26T23:00:00+02:00`` give) is taken as the local zone, so its DST rules apply.
    Any other fixed offset (e.g. the UTC of a file with no zone) is kept as it is.

    Parameters
    ----------
    start : datetime
        Timezone-aware start of the session (a naive one is taken as local time).
    """
    if start.tzinfo is None:
        return local_zone()
    if ZoneInfo is not None and isinstance(start.tzinfo, ZoneInfo):
        return start.tzinfo
    local = local_zone()
    if start.utcoffset() == start.astimezone(local).utcoffset():
        return local
    return start.tzinfo


def localize(start: dt.datetime) -> dt.datetime:
    """``start`` as an aware datetime in :func:`session_zone` (same instant)."""
    if start.tzinfo is None:
        return start.replace(tzinfo=local_zone()) if ZoneInfo is not None else start.astimezone()
    return start.astimezone(session_zone(start))


def wall_at(start: dt.datetime, seconds: float) -> dt.datetime:
    """The wall-clock time ``seconds`` of elapsed (real) time after ``start``, in start's zone.

    Added in UTC, so an 8-h night across a DST change ends 8 h later, shown in the new offset.
    """
    zone = start.tzinfo or local_zone()
    return (start.astimezone(UTC) + dt.timedelta(seconds=float(seconds))).astimezone(zone)


def seconds_between(a: dt.datetime, b: dt.datetime) -> float:
    """Elapsed seconds from ``a`` to ``b`` (aware datetimes), taken in UTC."""
    return (b.astimezone(UTC) - a.astimezone(UTC)).total_seconds()


def at_time_of_day(day: dt.date, clock: dt.time, zone: dt.tzinfo) -> dt.datetime:
    """The aware datetime of ``clock`` on ``day`` in ``zone``.

    When the clocks go back, a time that happens twice is its first occurrence (``fold=0``);
    when they go forward, a time that does not exist is moved on by the gap (02:30 -> 03:30).
    """
    naive = dt.datetime.combine(day, clock)
    aware = naive.replace(tzinfo=zone, fold=0)
    # a non-existent time does not survive a round trip through UTC: take the later reading
    back = aware.astimezone(UTC).astimezone(zone)
    if back.replace(tzinfo=None) != naive:
        aware = naive.replace(tzinfo=zone, fold=1).astimezone(UTC).astimezone(zone)
    return aware


def zone_label(when: dt.datetime) -> str:
    """A short name of the zone of ``when`` for axes and lines: ``"Europe/Paris, CET"`` or ``"UTC+02:00"``."""
    abbrev = when.tzname() or ""
    key = getattr(when.tzinfo, "key", None)
    if key and key != "localtime" and key != abbrev:
        return f"{key}, {abbrev}" if abbrev else str(key)
    return abbrev or "local time"


class DriftTracker:
    """The board's real sampling rate from its timestamps: how far its clock is from the nominal.

    Session time is samples / nominal rate. An amplifier whose crystal is 0.3 % fast delivers
    8 h of samples in 7 h 58.6 min: without a correction the alarm moves by 1.4 min. BrainFlow
    stamps every sample with the host's clock when it arrives (late by the USB/radio latency,
    never early), and the stream keeps sample counts on the board's clock (lost samples come
    back as NaN). So in each block of ``block_s`` of data the *smallest* offset
    ``timestamp - index / nominal`` lies on the board's clock line, and the slope of those minima
    over the night is the rate error.

    Parameters
    ----------
    nominal_sfreq : float
        The rate the board says it has, Hz.
    block_s : float
        Data seconds per block (one minimum per block).
    min_span_s : float
        Data seconds the fit must span before a rate is reported.
    max_ppm : float
        Larger errors are not believed (timestamps that are not the host's clock, e.g. a
        replayed file's synthetic stamps at another speed): the tracker then reports nothing.
    """

    def __init__(self, nominal_sfreq: float, block_s: float = 30.0, min_span_s: float = 120.0,
                 max_ppm: float = 20000.0) -> None:
        if not nominal_sfreq > 0:
            raise ValueError(f"nominal_sfreq must be positive, got {nominal_sfreq!r}.")
        self.nominal = float(nominal_sfreq)
        self.block_n = max(1, int(round(block_s * self.nominal)))
        self.min_span_s = float(min_span_s)
        self.max_ppm = float(max_ppm)
        self._blocks: dict[int, float] = {}  # block -> smallest offset (s)
        self._slope: float | None = None
        self._fitted_before: int | None = None  # the fit covers the whole blocks before this one

    def update(self, first_sample: int, timestamps) -> None:
        """Take one chunk: ``timestamps`` (UNIX s, one per sample) from sample ``first_sample`` on."""
        import numpy as np

        ts = np.asarray(timestamps, dtype=np.float64)
        if ts.size == 0:
            return
        idx = first_sample + np.arange(ts.size)
        ok = np.isfinite(ts) & (ts > 0)
        if not ok.any():
            return
        off = ts[ok] - idx[ok] / self.nominal
        blk = idx[ok] // self.block_n
        for b in np.unique(blk):
            m = float(off[blk == b].min())
            self._blocks[int(b)] = min(m, self._blocks.get(int(b), m))
        if int(blk.min()) == int(blk.max()) == self._fitted_before:
            return  # the chunk lies in the open block: the whole blocks, and so the line, are the same
        self._fit(int(blk.max()))

    def _fit(self, current: int) -> None:
        import numpy as np

        self._fitted_before = current
        done = sorted(b for b in self._blocks if b < current)  # whole blocks only
        if len(done) < 3 or (done[-1] - done[0]) * self.block_n / self.nominal < self.min_span_s:
            return
        x = (np.asarray(done, dtype=float) + 0.5) * self.block_n / self.nominal
        y = np.asarray([self._blocks[b] for b in done])
        slope = float(np.polyfit(x, y, 1)[0])
        self._slope = slope if abs(slope) * 1e6 <= self.max_ppm else None

    @property
    def ppm(self) -> float | None:
        """Board rate error in parts per million (+: the board runs fast), None until known."""
        if self._slope is None:
            return None
        return (1.0 / (1.0 + self._slope) - 1.0) * 1e6

    @property
    def rate(self) -> float | None:
        """The board's real rate, Hz (None until known)."""
        ppm = self.ppm
        return None if ppm is None else self.nominal * (1.0 + ppm * 1e-6)

    @property
    def wall_per_data(self) -> float:
        """Real seconds per second of data time (samples / nominal); 1.0 until known."""
        return 1.0 if self._slope is None else 1.0 + self._slope
