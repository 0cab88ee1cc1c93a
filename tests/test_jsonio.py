"""The one JSON encoder (recordings/jsonio.py): every type the session writes, strict JSON out."""

from __future__ import annotations

import dataclasses
import datetime as dt
import json
import math
from pathlib import Path

import numpy as np
import pytest

from dreamband.recordings.jsonio import dumps, jsonable


@dataclasses.dataclass
class _Settings:
    window: str = "06:30-07:00"
    gain: float = float("nan")
    rows: tuple[int, ...] = (1, 2)


class _HasToDict:
    def to_dict(self) -> dict:
        return {"a": np.float32(0.5)}


def test_every_type_becomes_plain_json():
    tz = dt.timezone(dt.timedelta(hours=2))
    value = {
        1: np.arange(3, dtype=np.int16), "f": np.float64(2.5), "nan": float("nan"), "inf": np.float32("inf"),
        "when": dt.datetime(2026, 3, 29, 2, 30, tzinfo=tz), "day": dt.date(2026, 3, 29), "path": Path("/a/b.edf"),
        "set": {3}, "nested": [(np.int64(7), None, True)], "dc": _Settings(), "obj": _HasToDict(), "cls": _Settings,
        "matrix": np.array([[1.0, np.nan], [3.0, 4.0]]),
    }
    out = jsonable(value)
    assert out == {
        "1": [0, 1, 2], "f": 2.5, "nan": None, "inf": None, "when": "2026-03-29T02:30:00+02:00",
        "day": "2026-03-29", "path": "/a/b.edf", "set": [3], "nested": [[7, None, True]],
        "dc": {"window": "06:30-07:00", "gain": None, "rows": [1, 2]}, "obj": {"a": 0.5},
        "cls": str(_Settings), "matrix": [[1.0, None], [3.0, 4.0]],
    }
    assert type(out["f"]) is float and type(out["1"][0]) is int
    text = dumps(value, sort_keys=True)
    assert json.loads(text)["matrix"] == [[1.0, None], [3.0, 4.0]]
    assert "NaN" not in text and "Infinity" not in text


def test_finite_values_are_unchanged_and_nan_is_refused_by_dumps_only_after_encoding():
    assert jsonable(1e308) == 1e308 and jsonable(-0.0) == 0.0 and math.copysign(1, jsonable(-0.0)) == -1
    with pytest.raises(ValueError):
        json.dumps(float("nan"), allow_nan=False)  # what dumps guards against
    assert dumps(float("nan")) == "null"


def test_events_use_the_one_encoder():
    from dreamband.session.events import EpochStaged

    e = EpochStaged(30.0, epoch_index=0, onset=0.0, stage=-1, probabilities=(float("nan"),) * 5,
                    features={"Fp1_delta": np.float32(1.5)})
    d = e.to_dict()
    assert d["probabilities"] == [None] * 5 and d["features"] == {"Fp1_delta": 1.5}
    assert d == jsonable(d)
