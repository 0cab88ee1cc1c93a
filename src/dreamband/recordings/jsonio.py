"""The one JSON encoder of the package: events, session metadata, settings and state snapshots.

:func:`jsonable` turns what the session produces into plain JSON values, the same way for the
event log (``events.jsonl``), ``session.json``, the network-out datagrams and ``to_dict()``:

- NumPy arrays -> lists, NumPy scalars -> Python numbers;
- non-finite floats (NaN, +-inf) -> ``None`` (``null``): strict JSON, which every reader
  parses (``NaN`` is not JSON);
- dicts (keys as ``str``), lists, tuples and sets -> dicts and lists, recursively;
- ``datetime``/``date`` -> ISO 8601 text (with the zone when it has one); ``Path`` -> text;
- objects with ``to_dict()`` -> that dict; dataclass instances -> a dict of their fields;
- anything else -> ``str(value)``.

:func:`dumps` is ``json.dumps`` of that, refusing NaN so nothing non-standard slips through.
"""

from __future__ import annotations

import dataclasses
import datetime as dt
import json
import math
from pathlib import Path
from typing import Any

import numpy as np


def jsonable(value: Any) -> Any:
    """Return ``value`` as plain JSON values (see the module docstring for each type)."""
    if isinstance(value, np.ndarray):
        return [jsonable(v) for v in value.tolist()]
    if isinstance(value, np.generic):
        value = value.item()
    if isinstance(value, float):
        return value if math.isfinite(value) else None
    if value is None or isinstance(value, (str, int, bool)):
        return value
    if isinstance(value, dict):
        return {str(k): jsonable(v) for k, v in value.items()}
    if isinstance(value, (list, tuple, set, frozenset)):
        return [jsonable(v) for v in value]
    if isinstance(value, (dt.datetime, dt.date, dt.time)):
        return value.isoformat()
    if isinstance(value, Path):
        return str(value)
    if hasattr(value, "to_dict") and not isinstance(value, type):
        return jsonable(value.to_dict())
    if dataclasses.is_dataclass(value) and not isinstance(value, type):
        return {f.name: jsonable(getattr(value, f.name)) for f in dataclasses.fields(value)}
    return str(value)


def dumps(value: Any, **kwargs: Any) -> str:
    """``json.dumps(jsonable(value), allow_nan=False, **kwargs)``."""
    return json.dumps(jsonable(value), allow_nan=False, **kwargs)
