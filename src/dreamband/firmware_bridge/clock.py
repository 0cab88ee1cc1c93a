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
