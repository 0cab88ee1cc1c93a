"""Signal quality: each failure mode is recognised, good EEG passes."""

from __future__ import annotations

import numpy as np
import pytest

from dreamband.signal.quality import _row_stats, _row_stats_reference, assess_epoch, assess_epochs


def _eeg(n: int, sfreq: float, seed: int = 0) -> np.ndarray:
    rng = np.random.default_rng(seed)
    t = np.arange(n) / sfreq
    return 20 * rng.standard_normal(n) + 15 * np.sin(2 * np.pi * 10 * t)


def test_statuses() -> None:
    sf, n = 250.0, 7500
    t = np.arange(n) / sf
    good = _eeg(n, sf)
    lost = good.copy()
    lost[: n // 2] = np.nan
    flat = np.full(n, 3.0)
    railed = np.full(n, 187500.0)
    huge = good * 50
    offhead = 2000 * np.sin(2 * np.pi * 50 * t) + good
    hum = 25 * np.sin(2 * np.pi * 60 * t) + good
    clipped = np.clip(good, -25, 25)
    data = np.vstack([good, lost, flat, railed, huge, offhead, hum, clipped])
    names = ["good", "lost", "flat", "railed", "huge", "offhead", "hum", "clipped"]
    q = assess_epoch(data, sf, names)
    assert q.status == {"good": "good", "lost": "lost", "flat": "flat", "railed": "railed", "huge": "huge",
                        "offhead": "off-head", "hum": "line-noise", "clipped": "clipped"}
    assert not q.ok
    assert list(q.usable) == [True, False, False, False, False, False, True, False]
    assert any(r.startswith("lost:") and "lost" in r for r in q.reasons)
    sub = q.subset([0, 6], names)
    assert sub.ok and set(sub.status) == {"good", "hum"}


def test_good_epoch_ok_and_errors() -> None:
    q = assess_epoch(_eeg(3000, 100.0)[None, :], 100.0)
    assert q.ok and q.status == {"ch0": "good"} and q.reasons == ()
    with pytest.raises(ValueError, match="channel names"):
        assess_epoch(np.zeros((2, 10)), 100.0, ["a"])
    with pytest.raises(ValueError, match="n_channels"):
        assess_epoch(np.zeros(10), 100.0)


def test_row_stats_kernel_equals_reference_and_batch_equals_single() -> None:
    rng = np.random.default_rng(5)
    x = rng.standard_normal((6, 1000)) * 30
    x[1, ::7] = np.nan
    x[2] = np.nan
    x[3, :500] = 187500.0
    x[4] = np.clip(x[4], -20, 20)
    out = np.empty((6, 7))
    _row_stats(x, 187000.0, out)
    np.testing.assert_allclose(out, _row_stats_reference(x, 187000.0), rtol=1e-12, atol=1e-9)
    ep = x.reshape(3, 2, 1000)
    many = assess_epochs(ep, 100.0, ["a", "b"])
    for e in range(3):
        one = assess_epoch(ep[e], 100.0, ["a", "b"])
        assert one.status == many[e].status and one.reasons == many[e].reasons and one.ok == many[e].ok


@pytest.mark.parametrize("sfreq", [250.0, 256.0, 200.0, 125.0, 500.0, 100.0])
def test_line_fraction_kernel_equals_reference(sfreq: float) -> None:
    from dreamband.signal.quality import _line_fraction, _line_fraction_reference

    rng = np.random.default_rng(int(sfreq))
    n = int(30 * sfreq)
    t = np.arange(n) / sfreq
    x = rng.standard_normal((6, n)) * 20.0 + 40.0
    x[1] += 200.0 * np.sin(2 * np.pi * 50.0 * t)  # mains hum
    x[2] += 80.0 * np.sin(2 * np.pi * 60.0 * t)
    x[3, 100:400] = np.nan  # lost samples count as 0
    x[4] = 0.0  # no power at all
    x[5, ::3] = np.inf
    got, ref = _line_fraction(x, sfreq), _line_fraction_reference(x, sfreq)
    # the kernel's FFT is single precision (the reference's double): a share in [0, 1] within 1e-6
    np.testing.assert_allclose(got, ref, rtol=0, atol=1e-6)
    if sfreq >= 104:
        assert got[1] > 0.7 and got[2] > 0.25 and got[0] < 0.1 and got[4] == 0.0


def test_vectorised_good_test_equals_decide_on_every_status() -> None:
    """assess_epochs' fast path (every channel good) gives what _decide says, row by row."""
    from dreamband.signal.quality import QualityThresholds, _channel_stats, _decide, _good_rows

    rng = np.random.default_rng(11)
    sfreq, n = 250.0, 7500
    t = np.arange(n) / sfreq
    rows = [rng.standard_normal(n) * 20.0 for _ in range(4)]
    rows.append(rng.standard_normal(n) * 20.0 + 300.0 * np.sin(2 * np.pi * 50.0 * t))  # off-head
    rows.append(rng.standard_normal(n) * 20.0 + 25.0 * np.sin(2 * np.pi * 60.0 * t))  # line-noise
    rows.append(np.full(n, 3.0))  # flat
    rows.append(rng.standard_normal(n) * 600.0)  # huge
    noisy = rng.standard_normal(n) * 20.0
    noisy[1000:1010] += 900.0
    rows.append(noisy)
    clipped = np.clip(rng.standard_normal(n) * 40.0, -50.0, 50.0)
    rows.append(clipped)
    lost = rng.standard_normal(n) * 20.0
    lost[:1000] = np.nan
    rows.append(lost)
    rows.append(np.full(n, 190_000.0) + rng.standard_normal(n))  # railed
    x = np.stack(rows)
    th = QualityThresholds()
    st = _channel_stats(x, sfreq, th)
    good = _good_rows(st, th)
    decided = [_decide(st, r, th)[0] for r in range(x.shape[0])]
    assert good.tolist() == [d == "good" for d in decided]
    assert {"good", "off-head", "line-noise", "flat", "huge", "noisy", "clipped", "lost", "railed"} <= set(decided)
    many = assess_epochs(x.reshape(x.shape[0], 1, n), sfreq, ["a"])
    assert [q.status["a"] for q in many] == decided
    assert all(q.ok == (d in ("good", "noisy", "line-noise")) for q, d in zip(many, decided, strict=True))
