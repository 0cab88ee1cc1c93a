"""The fast kernels of the staging path against their plain references (same bits)."""

from __future__ import annotations

import numpy as np
import pytest

from dreamband.signal.conditioning import conditioning_sos
from dreamband.signal.filters import _sosfilt3_nan_safe, _sosfilt_nan_safe, sosfilt_reference
from dreamband.signal.stager import (
    MOVEMENT_WINDOW,
    MovementGate,
    movement_gate_night,
    movement_reason,
)


@pytest.mark.parametrize("n_sec", [1, 2, 3])
def test_register_biquad_kernel_equals_the_general_kernel_bit_for_bit(n_sec: int) -> None:
    rng = np.random.default_rng(n_sec)
    sos = conditioning_sos(250.0)[:n_sec].copy()
    x = rng.standard_normal((3, 20_000)) * 40.0 + 5_000.0
    x[1, 700:740] = np.nan
    x[2, 5] = np.nan
    zi = rng.standard_normal((3, n_sec, 2))
    last = rng.standard_normal(3)
    za, la, zb, lb = zi.copy(), last.copy(), zi.copy(), last.copy()
    a = _sosfilt_nan_safe(sos, x, za, la)
    b = np.concatenate([_sosfilt3_nan_safe(sos, np.ascontiguousarray(x[:, i:i + 997]), zb, lb)
                        for i in range(0, x.shape[1], 997)], axis=1)  # chunked: the state carries
    np.testing.assert_array_equal(a, b)
    np.testing.assert_array_equal(za, zb)
    np.testing.assert_array_equal(la, lb)
    # and both are SciPy's sosfilt where nothing was lost, to rounding: the kernels add the input
    # term and the carried state before the feedback term (a shorter recursion), SciPy after it
    clean = x[[0]]
    ref, zf = sosfilt_reference(sos, clean, zi[[0]].copy())
    tol = 1e-11 * np.abs(clean).max()
    np.testing.assert_allclose(b[[0]], ref, rtol=0, atol=tol)
    np.testing.assert_allclose(zb[[0]], zf, rtol=0, atol=tol)
    assert not np.array_equal(b[[0]], ref)  # the reassociated sums (not SciPy's order by mistake)


def _gate_reference(ptp: np.ndarray, cand: np.ndarray) -> list[str | None]:
    gate = MovementGate()
    return [gate.check(ptp[e]) if cand[e] else None for e in range(ptp.shape[0])]


@pytest.mark.parametrize("seed", [0, 1, 2])
def test_movement_gate_over_a_night_equals_the_gate_epoch_by_epoch(seed: int) -> None:
    rng = np.random.default_rng(seed)
    n = 3 * MOVEMENT_WINDOW + 17
    ptp = rng.lognormal(np.log(120.0), 0.4, (n, 2))
    ptp[rng.choice(n, 25, replace=False)] *= rng.uniform(3.0, 12.0, (25, 1))  # bursts, some under the factor
    ptp[3] = 2_000.0  # a cold-start burst (absolute limit)
    ptp[40:44] = 130.0  # ties: an even history's median averages two equal values
    cand = rng.random(n) > 0.1
    cand[3] = True
    ref = _gate_reference(ptp, cand)
    refused, med = movement_gate_night(ptp, cand)
    got = [movement_reason(float(ptp[e].max()), float(med[e])) if refused[e] else None for e in range(n)]
    assert got == ref
    assert refused.sum() >= 10 and refused[3] and np.isnan(med[3])
    assert not refused[~cand].any()


def test_movement_gate_night_rejects_bad_shapes() -> None:
    with pytest.raises(ValueError, match="n_epochs"):
        movement_gate_night(np.zeros(5), np.ones(5, dtype=bool))


def test_paired_row_stats_equal_two_row_stats_calls_bit_for_bit() -> None:
    from dreamband.signal.quality import _row_stats, _row_stats_pair

    rng = np.random.default_rng(7)
    raw = rng.standard_normal((6, 3000)) * 30 + 20_000.0
    raw[1, ::7] = np.nan
    raw[2] = np.nan
    raw[3, :1600] = 187_500.0
    raw[4] = np.clip(raw[4], 19_980.0, 20_020.0)  # plateaus at the min and max
    cond = raw - 20_000.0
    cond[5, 10:20] = np.inf
    a, b = np.empty((6, 7)), np.empty((6, 7))
    _row_stats(cond, 187_000.0, a)
    _row_stats(raw, 187_000.0, b)
    pa, pb = np.empty((6, 7)), np.empty((6, 7))
    _row_stats_pair(cond, raw, 187_000.0, pa, pb)
    np.testing.assert_array_equal(pa[:, :5], a[:, :5])
    np.testing.assert_array_equal(pb[:, 2:], b[:, 2:])
    assert pb[3, 5] > 0.5 and pb[4, 6] > 0.02


def test_line_hz_setting_reaches_the_conditioner(tmp_path) -> None:
    import argparse

    from dreamband.session.pipeline import SessionPipeline
    from dreamband.session.settings import SessionSettings

    assert SessionSettings().line_hz == "both"
    cfg = tmp_path / "s.toml"
    cfg.write_text('[session]\nline_hz = 60\n')
    s = SessionSettings.from_toml(cfg)
    assert s.line_hz == 60
    pipe = SessionPipeline(250.0, ["Fp1"], ["eeg"], s, triggers=False)
    np.testing.assert_array_equal(pipe.conditioner.sos, conditioning_sos(250.0, line_hz=60.0))
    both = SessionPipeline(250.0, ["Fp1"], ["eeg"], triggers=False)
    np.testing.assert_array_equal(both.conditioner.sos, conditioning_sos(250.0, line_hz="auto"))
    args = argparse.Namespace(config=str(cfg), line_hz="50")  # the command line wins over the file
    assert SessionSettings.from_args(args).line_hz == 50
    with pytest.raises(ValueError, match="50, 60 or both"):
        SessionSettings(line_hz=55)
    cfg.write_text('[session]\nline_hz = "auto"\n')
    with pytest.raises(ValueError, match="line_hz must be 50, 60 or both"):
        SessionSettings.from_toml(cfg)


@pytest.mark.parametrize("staging_rows", [None, [2, 0]])
def test_epoch_buffer_many_chunks_equal_one_block_bit_for_bit(staging_rows) -> None:
    from dreamband.signal.epochs import EpochBuffer

    rng = np.random.default_rng(11)
    sfreq = 250.0
    x = rng.standard_normal((3, int(5 * 30 * sfreq) + 333)) * 25.0 + 800.0
    x[0, 7_490:7_520] = np.nan  # lost samples across an epoch boundary
    x[2, 20_000:20_010] = np.nan  # inside an epoch, after a finite prefix was fed
    x[:, 30_000:30_040] = np.nan
    x[1, 15_000:22_500] = np.nan  # a whole epoch lost on one row
    one = EpochBuffer(sfreq, 3, staging_rows=staging_rows).push(x)
    buf = EpochBuffer(sfreq, 3, staging_rows=staging_rows)
    many, i = [], 0
    while i < x.shape[1]:
        k = int(rng.integers(1, 900))
        many += buf.push(x[:, i:i + k])
        i += k
    assert len(one) == len(many) == 5
    for a, b in zip(one, many, strict=True):
        assert a.index == b.index and a.onset_s == b.onset_s
        np.testing.assert_array_equal(a.data_uv, b.data_uv)
        np.testing.assert_array_equal(a.staging_v, b.staging_v)


def test_staging_finite_ptp_equals_numpy() -> None:
    from dreamband.signal.stager import staging_finite_ptp, staging_ptp_uv

    rng = np.random.default_rng(3)
    x = rng.standard_normal((7, 2, 3000)) * 30e-6
    x[2, 1, 100] = np.nan
    x[4, 0, 2999] = np.inf
    finite, ptp = staging_finite_ptp(x)
    np.testing.assert_array_equal(finite, np.isfinite(x).all(axis=(1, 2)))
    ref = staging_ptp_uv(x)
    np.testing.assert_array_equal(ptp[finite], ref[finite])
    assert np.isnan(ptp[2, 1]) and np.isnan(ptp[4, 0]) and np.isfinite(ptp[2, 0])


def test_local_cluster_workers_get_the_malloc_environment() -> None:
    pytest.importorskip("dask.distributed")
    import os

    from dask.distributed import Client

    from dreamband.session.cohort import WORKER_MALLOC_ENV, local_cluster

    with local_cluster(1) as cluster, Client(cluster) as client:
        env = next(iter(client.run(lambda: {k: os.environ.get(k) for k in WORKER_MALLOC_ENV}).values()))
    assert env == {k: str(v) for k, v in WORKER_MALLOC_ENV.items()}
