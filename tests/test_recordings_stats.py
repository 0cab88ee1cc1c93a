"""Our sleep statistics equal YASA's sleep_statistics on the same hypnograms."""

from __future__ import annotations

import warnings

import numpy as np
import pytest

from dreamband.recordings.hypnogram import load_hypnogram
from dreamband.recordings.stats import YASA_KEYS, format_statistics, rem_periods, sleep_statistics

yasa = pytest.importorskip("yasa")


def _yasa(h, epoch_s=30.0):
    with warnings.catch_warnings():
        warnings.simplefilter("ignore")
        return yasa.sleep_statistics(np.asarray(h), sf_hyp=1 / epoch_s)


def _assert_same(ours, theirs):
    for k in YASA_KEYS:
        a, b = ours[k], theirs[k]
        assert (np.isnan(a) and np.isnan(b)) or a == pytest.approx(b, rel=1e-12, abs=1e-12), (k, a, b)


def test_docstring_example_and_edge_cases():
    h = [0, 0, 1, 1, 1, 2, 2, 2, 3, 3, 3, 2, 3, 3, 4, 4, 4, 4, 0, 0]
    s = sleep_statistics(h)
    assert s["TIB"] == 10.0 and s["SPT"] == 8.0 and s["SE"] == 80.0 and s["Lat_REM"] == 7.0
    _assert_same(s, _yasa(h))
    for h in ([0, 0, 0, 0], [2, 2, 2], [0, -1, 2, -2, 0, 4, 0], [-1, -1, 1, 0]):
        _assert_same(sleep_statistics(h), _yasa(h))
    rng = np.random.default_rng(3)
    for _ in range(20):
        h = rng.choice([-2, -1, 0, 1, 2, 3, 4], size=rng.integers(2, 300))
        _assert_same(sleep_statistics(h, 20.0), _yasa(h, 20.0))
    with pytest.raises(ValueError, match="codes"):
        sleep_statistics([0, 7, 2])
    with pytest.raises(ValueError, match="two epochs"):
        sleep_statistics([0])


def test_extras():
    # W 2, N2 40 (20 min), REM 10, W 2, N2 30 (15 min), REM 12, W 3
    h = [0] * 2 + [2] * 40 + [4] * 10 + [0] * 2 + [2] * 30 + [4] * 12 + [0] * 3
    s = sleep_statistics(h)
    assert s["Awakenings"] == 1 and s["REM_periods"] == 2 and s["Cycles"] == 2
    assert s["Lat_REM_AASM"] == pytest.approx(20.0)
    assert rem_periods(h) == [(42, 52), (84, 96)]
    assert rem_periods([4, 2, 4]) == [(0, 3)]  # a short gap does not end a REM period
    txt = format_statistics(s)
    assert "Total sleep time" in txt and "NREM-REM cycles" in txt


def test_real_hypnograms_match_yasa(shared_datasets):
    files = sorted((shared_datasets / "sleep-edf" / "hypnograms").glob("*-Hypnogram.edf"))
    files += [shared_datasets / "yasa-snippets" / "data_full_6hrs_100Hz_hypno_30s.txt",
              shared_datasets / "yasa-snippets" / "sub-02_hypno_30s.txt"]
    for f in files:
        h, epoch_s = load_hypnogram(f)
        _assert_same(sleep_statistics(h, epoch_s), _yasa(h, epoch_s))
        # and cropped to the sleep period +-30 min, as a real "time in bed"
        sl = np.flatnonzero(h > 0)
        if sl.size:
            crop = h[max(0, sl[0] - 60): sl[-1] + 61]
            _assert_same(sleep_statistics(crop), _yasa(crop))
    h, _ = load_hypnogram(shared_datasets / "yasa-snippets" / "data_full_6hrs_100Hz_hypno_30s.txt")
    s = sleep_statistics(h)
    assert s["TIB"] == 360.0 and s["REM_periods"] >= 3 and s["Cycles"] >= 3
