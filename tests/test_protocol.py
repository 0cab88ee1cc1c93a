"""The honest protocol (issue 13): where nights start, nested CV that never sees the held-out
subject, the running-amplitude normalisation. Synthetic nights: no dataset needed."""

from __future__ import annotations

import numpy as np
import pytest

from dreamband.recordings.sleepedf import SleepEdfNight
from dreamband.session import protocol
from dreamband.session.training import (
    FIRST_HOUR_EPOCHS,
    MAX_OFFSET_EPOCHS,
    ONSET_MARGIN,
    feature_spec,
    night_features,
    night_start,
    prepare_nights,
)
from dreamband.signal.amplitude import RunningAmplitude, normalise_night_reference
from dreamband.signal.context import context_features, context_features_reference
from dreamband.signal.features import base_features_many

#: shipped models trained under this protocol
SHIPPED_HONEST = ["stager_fpz", "stager_fpz_pz"]

# stage -> (log band powers delta..gamma, log var offset): separable on purpose, so a tiny model learns
_LEVELS = {0: [-23.0, -24.0, -23.5, -24.5, -26.0], 1: [-22.5, -23.2, -24.5, -25.0, -27.0],
           2: [-21.5, -23.0, -24.8, -25.5, -27.5], 3: [-20.0, -22.8, -25.0, -26.0, -28.0],
           4: [-22.8, -23.0, -24.6, -25.0, -27.2]}


def _base_row(stage: int, rng: np.random.Generator, gain_log: float) -> np.ndarray:
    lp = np.asarray(_LEVELS[stage]) + rng.normal(0, 0.3, 5) + gain_log
    b = np.empty(9)
    b[:5] = np.log(np.exp(lp) + 1e-10)
    b[5] = b[1] / (b[2] + 1e-10)
    b[6] = b[2] / (b[0] + 1e-10)
    var = np.exp(lp).sum() * 50.0
    b[7] = np.log(var + 1e-10)
    mob = 0.3 + 0.05 * (stage == 0) + rng.normal(0, 0.01)
    b[8] = mob * np.sqrt(var / (var + 1e-10))
    return b


def _night(name: str, subject: int, seed: int, n_pre: int = 500, n_sleep: int = 600) -> SleepEdfNight:
    """A synthetic night: ``n_pre`` epochs of wake before a 60-epoch margin, then sleep cycles, 60 of wake."""
    rng = np.random.default_rng(seed)
    cycle = [1] * 10 + [2] * 40 + [3] * 30 + [2] * 20 + [4] * 20
    sleep = np.array((cycle * 10)[:n_sleep])
    y = np.concatenate([np.zeros(n_pre + ONSET_MARGIN, int), sleep, np.zeros(60, int)])
    gain_log = rng.normal(0, 0.5)  # each night has its own amplitude
    X = np.zeros((len(y), 72))
    X[:, :9] = np.array([_base_row(int(s), rng, gain_log) for s in y])
    X[:, 9:18] = X[:, :9]
    s0 = n_pre
    return SleepEdfNight(name, subject, 1, X, y, np.arange(len(y)), (s0, len(y)), y.astype(np.int8))


def test_night_starts_are_not_read_from_the_labels_beyond_the_onset() -> None:
    n = _night("SC4001E0", 0, 1)
    onset = n.sleep_period[0] + ONSET_MARGIN
    assert night_start(n, "pm30") == n.sleep_period[0] and night_start(n, "recording") == 0
    starts = {night_start(n, "random", seed) for seed in range(40)}
    assert all(onset - MAX_OFFSET_EPOCHS <= s <= onset for s in starts)
    assert len(starts) > 30 and max(starts) - min(starts) > MAX_OFFSET_EPOCHS // 2  # really spread over 0-3 h
    assert night_start(n, "random", 7) == night_start(_night("SC4001E0", 0, 99), "random", 7)  # name + seed only
    assert night_start(n, "random", 7) != night_start(_night("SC4002E0", 0, 1), "random", 7)
    with pytest.raises(ValueError, match="start mode"):
        night_start(n, "onset")


def test_prepare_nights_runs_from_the_start_to_the_end_of_the_sleep_period() -> None:
    n = _night("SC4011E0", 1, 2)
    (d,) = prepare_nights([n], "fpz", "random", seed=3)
    s0 = night_start(n, "random", 3)
    assert d.start == s0 and d.epoch_index[0] == 0 and len(d.y) == len(n.y) - s0
    np.testing.assert_array_equal(d.y, n.y[s0:])
    assert d.in_pm30.sum() == n.sleep_period[1] - n.sleep_period[0]
    assert not d.in_pm30[: n.sleep_period[0] - s0].any()
    (old,) = prepare_nights([n], "fpz", "pm30")
    assert old.in_pm30.all() and len(old.y) == n.sleep_period[1] - n.sleep_period[0]


def test_subject_folds_partition_the_subjects() -> None:
    folds = protocol.subject_folds([3, 1, 2, 7, 5, 1, 3], 3)
    assert sorted(s for f in folds for s in f) == [1, 2, 3, 5, 7] and len(folds) == 3
    assert protocol.subject_folds([4, 2], 5) == [[2], [4]]


def test_hmm_emission_prior_is_the_one_the_trees_were_fitted_under() -> None:
    from dreamband.session.training import CLASS_WEIGHTS

    counts = np.array([400.0, 100.0, 800.0, 200.0, 300.0])
    wp = protocol.weighted_prior(counts)
    np.testing.assert_allclose(wp, counts * CLASS_WEIGHTS / np.sum(counts * CLASS_WEIGHTS))
    assert wp[1] > counts[1] / counts.sum()  # N1 is weighted up, so the trees saw more of it
    opts = protocol.post_options()
    assert opts[0] == ("none", None, None) and opts[-1] == ("sequence", None, None)
    assert {(w, pr) for k, w, pr in opts if k == "hmm"} == {(w, pr) for w in protocol.HMM_WEIGHTS
                                                            for pr in protocol.HMM_PRIORS}
    assert protocol.rounds_grid(250) == (50, 100, 150, 200, 250) and protocol.rounds_grid(6) == (2, 4, 6)


def test_window_metrics_split_the_night() -> None:
    (d,) = prepare_nights([_night("SC4021E0", 2, 4)], "fpz", "random", seed=0)
    pred = d.y.copy()
    pred[:FIRST_HOUR_EPOCHS] = 2  # wrong on the whole first hour only (the night starts in wake)
    m = protocol.window_metrics([d], {d.name: pred})
    assert m["first_hour"]["accuracy"] == 0.0 and m["first_hour"]["n"] == FIRST_HOUR_EPOCHS
    assert m["all"]["accuracy"] == pytest.approx(1 - FIRST_HOUR_EPOCHS / len(d.y))
    n_bad_pm30 = int(d.in_pm30[:FIRST_HOUR_EPOCHS].sum())
    assert m["pm30"]["n"] == int(d.in_pm30.sum())
    assert m["pm30"]["accuracy"] == pytest.approx(1 - n_bad_pm30 / d.in_pm30.sum())


def test_nested_cv_never_fits_on_the_held_out_subject(monkeypatch) -> None:
    pytest.importorskip("lightgbm")
    nights = [_night(f"SC40{s}{k}E0", s, 10 * s + k, n_pre=200, n_sleep=300) for s in range(4) for k in (1, 2)]
    data = {m: prepare_nights(nights, "fpz", m, seed=0) for m in ("random", "pm30")}
    fits: list[set[int]] = []
    real_fit = protocol.fit_fold

    def spy(train, *a, **k):
        fits.append({d.subject for d in train})
        return real_fit(train, *a, **k)

    monkeypatch.setattr(protocol, "fit_fold", spy)
    current: dict[str, set[int]] = {}
    real_choose, real_second = protocol.choose, protocol.fit_second_stage

    def choose_spy(train, *a, **k):
        current["train"] = {d.subject for d in train}
        return real_choose(train, *a, **k)

    second_fits: list[tuple[set[int], set[int]]] = []

    def second_spy(nights, probs):
        second_fits.append(({d.subject for d in nights}, set(current["train"])))
        return real_second(nights, probs)

    monkeypatch.setattr(protocol, "choose", choose_spy)
    monkeypatch.setattr(protocol, "fit_second_stage", second_spy)
    logs: list[str] = []
    res = protocol.nested_cv(data, 1, ("scale-free", "normalised"), seed=0, num_rounds=6, inner_folds=2,
                             log=logs.append)
    # per outer fold: 2 inner folds x 2 variants + 2 outer fits; the held-out subject is in none of them
    assert len(fits) == 4 * (2 * 2 + 2)
    for i, s in enumerate(range(4)):
        fold_fits = fits[i * 6 : (i + 1) * 6]
        assert all(s not in f for f in fold_fits), (s, fold_fits)
        assert fold_fits[-1] == {0, 1, 2, 3} - {s}  # the outer fit: every other subject
        assert [len(f) for f in fold_fits[:4]] == [1, 1, 2, 2]  # inner fits: the other three minus an inner group
    # the second stage is cross-fitted inside each inner CV (fitted on one inner group, scored on the other,
    # for every variant x rounds) and, when chosen, refitted on the outer fold's training subjects only
    inner = [f for f in second_fits if f[0] != f[1]]
    assert len(inner) == 4 * 2 * 2 * 3 and all(f[0] < f[1] and len(f[0]) in (1, 2) for f in inner)
    assert all(f[0] <= f[1] and len(f[1]) == 3 for f in second_fits)  # never the held-out subject
    assert len(res["choices"]) == 4 and all("selected" in c for c in res["choices"])
    for c in res["choices"]:
        steps = c["per_variant"]["scale-free"]["inner_by_step"]
        assert {"none", "hmm", "sequence"} <= set(steps) and steps["hmm"]["prior"] in protocol.HMM_PRIORS
    fig = res["figures"]["selected"]["random"]
    assert fig["all"]["n"] == sum(len(d.y) for d in data["random"]) and fig["all"]["refused"] == 0
    assert fig["all"]["kappa"] > 0.6  # the synthetic stages are separable: the machinery learns
    assert set(res["stages"]["selected"]["pm30"]) == {d.name for d in nights}


def test_running_amplitude_equals_its_reference_and_ignores_the_gain() -> None:
    rng = np.random.default_rng(5)
    n = 80
    # 1/f-ish noise epochs at 100 Hz, volts, with a slow change of amplitude over the night
    white = rng.standard_normal((n, 3000))
    x = np.cumsum(white, axis=1) * 1e-6
    x -= x.mean(axis=1, keepdims=True)
    x *= np.linspace(0.5, 2.0, n)[:, None]
    ref = np.array([np.log(1e-10)])

    def norm(g: float) -> np.ndarray:
        b = base_features_many(x * g)
        ra = RunningAmplitude(ref)
        return np.array([ra.update(r) for r in b]), b

    base1, raw1 = norm(1.0)
    np.testing.assert_allclose(base1, normalise_night_reference(raw1, 1, ref), rtol=1e-10, atol=1e-10)
    assert base1[0, 7] == pytest.approx(np.log(1e-10 + 1e-10), abs=1e-9)  # first epoch: its own level -> the target
    for g in (0.5, 2.0, 10.0):
        bg, rawg = norm(g)
        assert np.abs(rawg[:, 7] - raw1[:, 7]).max() > 0.5  # positive control: the raw features move
        np.testing.assert_allclose(bg, base1, rtol=1e-9, atol=1e-9, err_msg=f"gain {g}")
    idx = np.arange(n)
    pm, pv = np.zeros(15), np.ones(15)
    np.testing.assert_allclose(context_features(idx, raw1, 1, pm, pv, True, ref),
                               context_features_reference(idx, raw1, 1, pm, pv, True, ref), rtol=1e-9, atol=1e-9)


def test_normalised_features_of_a_night_do_not_move_with_its_gain() -> None:
    nights = [_night("SC4031E0", 3, 8)]
    (d,) = prepare_nights(nights, "fpz", "random", seed=1)
    spec = feature_spec([d], 1, "normalised")
    shifted = prepare_nights([_night("SC4031E0", 3, 8)], "fpz", "random", seed=1)[0]
    g = 2.0  # scale the true powers by g^2 in the recipe's features
    b = shifted.base.copy()
    lp = np.log(np.exp(b[:, :5]) - 1e-10) + 2 * np.log(g)
    b[:, :5] = np.log(np.exp(lp) + 1e-10)
    b[:, 5] = b[:, 1] / (b[:, 2] + 1e-10)
    b[:, 6] = b[:, 2] / (b[:, 0] + 1e-10)
    var = (np.exp(b[:, 7]) - 1e-10)
    mob = b[:, 8] * np.sqrt((var + 1e-10) / var)
    var2 = var * g * g
    b[:, 7] = np.log(var2 + 1e-10)
    b[:, 8] = mob * np.sqrt(var2 / (var2 + 1e-10))
    shifted.base = b
    a, c = night_features(d, 1, spec), night_features(shifted, 1, spec)
    np.testing.assert_allclose(c, a, rtol=1e-7, atol=1e-7)
    spec_sf = feature_spec([d], 1, "scale-free")  # positive control: unnormalised absolute powers do move
    assert np.nanmax(np.abs(night_features(shifted, 1, spec_sf) - night_features(d, 1, spec_sf))) > 1.0


@pytest.fixture(scope="module")
def generated_night():
    from dreamband.signal.simulate import simulate_night

    return simulate_night(1.0, 250.0, seed=4, artefacts="none")


@pytest.mark.parametrize("name", SHIPPED_HONEST)
def test_shipped_model_is_the_protocols_choice_and_ignores_the_gain(name: str, generated_night) -> None:
    from dreamband.session.offline import stage_signal_batch
    from dreamband.signal.model import StagingModel
    from dreamband.signal.sequence import PosteriorFilter
    from dreamband.signal.stages import UNSTAGED

    model = StagingModel.load(name)
    chosen = model.meta["selection"]["chosen"]  # what its inner CV chose is what it runs
    post = chosen.get("post", "none" if chosen["hmm_weight"] is None else "hmm")
    assert model.meta["context"] == chosen["variant"] and PosteriorFilter(model).kind == post
    if post == "hmm":
        assert model.hmm_weight == chosen["hmm_weight"]
    assert ("sequence" in model.meta) == (post == "sequence")
    assert model.n_trees == 5 * chosen["rounds"]
    assert (model.amplitude_reference is not None) == (chosen["variant"] == "normalised")
    assert len(model.meta["training"]["starts"]) == 16 and model.meta["cv"]["figures"]["selected"]["random"]
    night = generated_night
    rows = [i for i, t in enumerate(night.channel_types) if t == "eeg"][: model.n_channels]
    x, names = night.data[rows], [night.channel_names[i] for i in rows]

    def stages(sig: np.ndarray) -> np.ndarray:
        return np.array([s.result.stage for s in stage_signal_batch(sig, night.sfreq, names, model)])

    clean = stages(x)
    assert (clean != UNSTAGED).mean() > 0.95 and len(set(clean.tolist())) >= 3
    for g in (0.5, 0.7, 1.4, 2.0):
        assert np.mean(stages(x * g) == clean) >= 0.99, g
