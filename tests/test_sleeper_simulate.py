"""The sleeper's night generator (signal/simulate.py): truth, stage features, calibration."""

from __future__ import annotations

import importlib.util
import json
from pathlib import Path

import numpy as np
import pytest
from scipy import signal as sps

from dreamband.signal.epochs import EpochBuffer
from dreamband.signal.features import base_features_many
from dreamband.signal.quality import assess_epoch
from dreamband.signal.simulate import (
    SimEvent,
    draw_hypnogram,
    load_calibration,
    simulate_night,
)
from dreamband.signal.stages import N1, N2, N3, REM, STAGE_NAMES, W

SFREQ = 250.0
REPO_ROOT = Path(__file__).resolve().parents[1]


def _blocks(run: int, repeats: int) -> np.ndarray:
    """A hypnogram cycling W, N1, N2, N3, REM in runs of ``run`` epochs."""
    return np.tile(np.repeat(np.arange(5, dtype=np.int8), run), repeats)


def _features(night) -> np.ndarray:
    """The 9 Sleep-EDF base features of the first frontal channel, through the staging path."""
    buf = EpochBuffer(night.sfreq, 1)
    epochs = buf.push(night.data[:1])
    return base_features_many(np.stack([e.staging_v[0] for e in epochs]))


@pytest.fixture(scope="module")
def calib_nights():
    # 4 nights of 1 h, every stage 12 min in runs of 6 epochs, no artefacts. Several nights
    # because each night has its own offset (as real sleepers do): the real spread is between
    # nights as much as within them.
    return [simulate_night(None, SFREQ, seed=s, hypnogram=_blocks(6, 4), artefacts="none") for s in (1, 2, 3, 4)]


@pytest.fixture(scope="module")
def calib_night(calib_nights):
    return calib_nights[0]


def test_shapes_units_and_determinism():
    a = simulate_night(0.25, SFREQ, seed=3)
    b = simulate_night(0.25, SFREQ, seed=3)
    c = simulate_night(0.25, SFREQ, seed=4)
    assert a.data.shape == (4, 30 * 250 * 30)
    assert a.channel_names == ["Fp1", "Fp2", "EOG", "EMG"]
    assert a.channel_types == ["eeg", "eeg", "eog", "emg"]
    assert a.hypnogram.dtype == np.int8 and len(a.hypnogram) == 30
    assert a.duration_s == pytest.approx(900.0)
    np.testing.assert_array_equal(a.data, b.data)
    np.testing.assert_array_equal(a.hypnogram, b.hypnogram)
    assert a.events == b.events
    assert not np.allclose(a.data, c.data)
    assert np.all(np.isfinite(a.data))
    # microvolts: frontal EEG of tens of µV, not volts
    assert 3.0 < np.std(a.data[0]) < 200.0
    assert all(isinstance(e, SimEvent) and e.duration_s > 0 for e in a.events)
    assert [e.onset_s for e in a.events] == sorted(e.onset_s for e in a.events)


def test_hypnogram_model_has_sleep_architecture():
    for seed in range(4):
        h = draw_hypnogram(8.0, seed)
        n = len(h)
        assert n == 960 and h.dtype == np.int8
        onset = int(np.flatnonzero(h != W)[0])
        assert 6 <= onset <= 90, "sleep-onset latency of 3-45 min"
        assert h[onset] == N1
        frac = np.bincount(h, minlength=5) / n
        assert 0.40 < frac[N2] < 0.70 and 0.10 < frac[REM] < 0.32 and 0.05 < frac[N3] < 0.25
        # N3 early, REM late
        assert (h[: n // 3] == N3).sum() > 2 * (h[2 * n // 3 :] == N3).sum()
        assert (h[n // 2 :] == REM).sum() > (h[: n // 2] == REM).sum()
        # 4-6 REM periods (REM runs separated by > 30 min)
        rem = np.flatnonzero(h == REM)
        periods = 1 + int(np.sum(np.diff(rem) > 60))
        assert 4 <= periods <= 6
        # brief awakenings after sleep onset, and a final awakening
        waso = h[onset:-20] == W
        assert waso.any()
        assert h[-1] == W


def test_given_hypnogram_is_the_truth_and_validated():
    hyp = np.array([W, N1, N2, N3, REM, -1], dtype=np.int8)
    night = simulate_night(None, 200.0, seed=1, hypnogram=hyp)
    np.testing.assert_array_equal(night.hypnogram, hyp)
    assert night.data.shape == (4, 6 * 6000)
    assert night.stage_at(95.0) == N3
    assert any(e.kind == "movement" for e in night.events)  # the unknown epoch
    ann = night.stage_annotations()
    assert ann[0] == (0.0, 30.0, "Sleep stage W") and ann[4] == (120.0, 30.0, "Sleep stage R")
    with pytest.raises(ValueError, match="0..4"):
        simulate_night(None, SFREQ, hypnogram=[0, 7])
    with pytest.raises(TypeError, match="integer"):
        simulate_night(None, SFREQ, hypnogram=[0.5, 1])
    with pytest.raises(ValueError, match="100 Hz"):
        simulate_night(1, 50.0)
    with pytest.raises(ValueError, match="whole number"):
        simulate_night(1, 250.33)
    with pytest.raises(ValueError, match="positive"):
        simulate_night(-1, SFREQ)
    with pytest.raises(ValueError, match="Unknown artefact"):
        simulate_night(0.1, SFREQ, artefacts=[("earthquake", 10, 5)])
    with pytest.raises(ValueError, match="outside the night"):
        simulate_night(0.1, SFREQ, artefacts=[("movement", 9999, 5)])


def test_calibration_matches_real_sleep_edf_spread(calib_nights):
    """Per stage, the generated frontal features fall inside the spread of real Sleep-EDF Fpz-Cz."""
    stats = load_calibration()
    feats = np.concatenate([_features(n) for n in calib_nights])
    hyp = np.concatenate([n.hypnogram for n in calib_nights])
    names = stats["feature_names"]
    for code, stage in enumerate(STAGE_NAMES):
        real = stats["stages"][stage]
        g = feats[hyp == code]
        assert len(g) == 96
        p5, p95, mean, std = (np.array(real[k]) for k in ("p5", "p95", "mean", "std"))
        inside = ((g >= p5) & (g <= p95)).mean(0)
        z = (g.mean(0) - mean) / std
        for j, name in enumerate(names):
            assert p5[j] <= np.median(g[:, j]) <= p95[j], f"{stage} {name}: median outside real p5-p95"
            assert inside[j] >= 0.65, f"{stage} {name}: only {inside[j]:.0%} inside real p5-p95"
            assert abs(z[j]) < 1.0, f"{stage} {name}: mean {z[j]:+.2f} real sd from the real mean"
    # stages are told apart the way a scorer/stager would: delta N3 > N2 > REM, activity W/N3 high
    med = {s: np.median(feats[hyp == c], axis=0) for c, s in enumerate(STAGE_NAMES)}
    assert med["N3"][0] > med["N2"][0] > med["REM"][0]
    assert med["W"][4] > med["N2"][4]  # gamma (muscle) in wake


def test_graphoelements_where_a_scorer_looks(calib_night):
    night = calib_night
    fs = night.sfreq
    hyp = night.hypnogram
    x = night.data[0]

    def stage_of(e: SimEvent) -> int:
        return int(hyp[int(e.onset_s // 30)])

    spindles = night.events_of("spindle")
    assert spindles and {stage_of(e) for e in spindles} <= {N2, N3}
    assert all(0.5 <= e.duration_s <= 2.0 for e in spindles)
    kcs = night.events_of("k_complex")
    assert kcs and {stage_of(e) for e in kcs} == {N2}
    sws = night.events_of("slow_wave")
    assert sws and {stage_of(e) for e in sws} == {N3}
    # slow waves: < 2 Hz and > 75 µV peak to peak on the frontal channel
    low = sps.sosfiltfilt(sps.butter(4, 4.0, fs=fs, output="sos"), x)
    p2p = [np.ptp(low[int(e.onset_s * fs): int((e.onset_s + e.duration_s) * fs)]) for e in sws]
    assert all(e.duration_s >= 0.5 for e in sws)
    assert np.median(p2p) > 75.0
    # spindles: 11-16 Hz power during spindles well above the rest of N2
    sigma = sps.sosfiltfilt(sps.butter(4, [11, 16], btype="bandpass", fs=fs, output="sos"), x) ** 2
    inside = np.zeros(len(x), bool)
    for e in spindles:
        inside[int(e.onset_s * fs): int((e.onset_s + e.duration_s) * fs)] = True
    n2 = np.repeat(hyp == N2, int(30 * fs))
    assert sigma[inside & n2].mean() > 3 * sigma[~inside & n2].mean()
    # REM: rapid eye movements on the EOG, sawtooth waves; N1: slow eye movements
    assert {stage_of(e) for e in night.events_of("rapid_eye_movement")} == {REM}
    assert night.events_of("sawtooth") and {stage_of(e) for e in night.events_of("sawtooth")} == {REM}
    assert {stage_of(e) for e in night.events_of("slow_eye_movement")} == {N1}
    eog_low = sps.sosfiltfilt(sps.butter(4, 8.0, fs=fs, output="sos"), night.data[2])
    eog_speed = np.abs(np.diff(eog_low)) * fs  # µV/s
    rem_mask = np.repeat(hyp == REM, int(30 * fs))[1:]
    n2_mask = np.repeat(hyp == N2, int(30 * fs))[1:]
    assert np.percentile(eog_speed[rem_mask], 99.9) > 2 * np.percentile(eog_speed[n2_mask], 99.9)
    # EMG: high in wake, lowest in REM (atonia)
    emg = night.data[3].reshape(len(hyp), -1)
    rms = {s: np.median(np.sqrt(np.mean(emg[hyp == c] ** 2, axis=1))) for c, s in enumerate(STAGE_NAMES)}
    assert rms["W"] > rms["N1"] > rms["N2"] > rms["REM"]
    assert rms["W"] > 3 * rms["REM"]
    # relaxed wake has an alpha peak: 8-13 Hz above the 1/f line through 6 and 16 Hz in W
    f, p = sps.welch(x[np.repeat(hyp == W, int(30 * fs))], fs=fs, nperseg=int(4 * fs))
    line = np.exp(np.interp(np.log(10.0), np.log([6.0, 16.0]), np.log(np.interp([6.0, 16.0], f, p))))
    assert np.interp(10.0, f, p) > line


def test_epochs_join_smoothly(calib_night):
    """No steps at epoch boundaries: the jump there is like any other sample-to-sample jump."""
    x = calib_night.data[0]
    d = np.abs(np.diff(x))
    edges = np.arange(1, len(calib_night.hypnogram)) * int(30 * SFREQ) - 1
    assert np.median(d[edges]) < 3 * np.median(d)
    assert np.max(d[edges]) < np.percentile(d, 99.99)


def test_artefacts_at_chosen_times():
    plan = [("headband_off", 60.0, 30.0), ("line_noise", 120.0, 20.0), ("electrode_pop", 200.0, 1.0),
            ("movement", 240.0, 10.0)]
    night = simulate_night(None, SFREQ, seed=5, hypnogram=[N2] * 10, artefacts=plan, accelerometer=True)
    assert night.channel_types[-3:] == ["accel"] * 3 and night.data.shape[0] == 7
    kinds = {(e.kind, e.onset_s, e.duration_s) for e in night.events}
    assert set(plan) <= kinds
    fs = int(SFREQ)
    off = night.data[:4, 61 * fs: 89 * fs]
    assert np.all(off.std(axis=1) < 1.0)  # flat
    seg = night.data[0, 120 * fs: 140 * fs]
    f, p = sps.welch(seg, fs=fs, nperseg=fs)
    assert p[np.argmin(np.abs(f - 50))] > 100 * np.median(p[(f > 35) & (f < 45)])
    pop = night.data[:2, 200 * fs: 200 * fs + 10]
    assert np.max(np.abs(pop)) > 150.0
    mov = night.data[3, 242 * fs: 248 * fs]
    quiet = night.data[3, 150 * fs: 190 * fs]
    assert mov.std() > 5 * quiet.std()
    accel = night.data[4:]
    assert np.allclose(np.linalg.norm(accel[:, :100].mean(axis=1)), 1.0, atol=0.05)  # gravity in g
    assert accel[:, 242 * fs: 248 * fs].std(axis=1).max() > 10 * accel[:, 150 * fs: 190 * fs].std(axis=1).max()
    # the signal-quality checks see them as a scorer would: bad epochs, good ones around them
    status = [assess_epoch(night.data[:4, k * 30 * fs: (k + 1) * 30 * fs], SFREQ, night.channel_names[:4]).status
              for k in range(10)]
    assert set(status[2].values()) == {"flat"}  # headband off
    assert status[4]["Fp1"] in ("line-noise", "off-head")
    assert "good" not in (status[8]["Fp1"], status[8]["Fp2"], status[8]["EMG"])  # movement
    assert "good" not in (status[6]["Fp1"], status[6]["Fp2"]) or status[6]["Fp1"] != status[6]["Fp2"]  # a pop
    assert all(v == "good" for k in (0, 1, 3, 5, 9) for v in status[k].values())
    none = simulate_night(None, SFREQ, seed=5, hypnogram=[N2] * 10, artefacts="none")
    assert not any(e.kind in ("movement", "electrode_pop") for e in none.events)


def test_stored_calibration_equals_what_the_script_computes(shared_datasets):
    spec = importlib.util.spec_from_file_location("sleeper_calibration", REPO_ROOT / "benchmarks" / "sleeper_calibration.py")
    mod = importlib.util.module_from_spec(spec)
    spec.loader.exec_module(mod)
    fresh = json.loads(json.dumps(mod.compute_stats(shared_datasets / "sleep-edf")))
    stored = load_calibration()
    for stage in STAGE_NAMES:
        assert fresh["stages"][stage]["n_epochs"] == stored["stages"][stage]["n_epochs"]
        for key in ("mean", "std", "p5", "p50", "p95"):
            np.testing.assert_allclose(fresh["stages"][stage][key], stored["stages"][stage][key], rtol=1e-12, atol=1e-12)
        for key in ("mean", "cov"):
            np.testing.assert_allclose(fresh["generator"]["stages"][stage][key],
                                       stored["generator"]["stages"][stage][key], rtol=1e-10, atol=1e-12)
