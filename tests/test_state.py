"""NightState on constructed hypnograms: onsets, WASO, awakenings, REM periods, cycles, plain words."""

from __future__ import annotations

import datetime as dt

import pytest

from dreamband.session.events import EpochStaged
from dreamband.session.state import NightState
from dreamband.signal.stages import N1, N2, N3, REM, UNSTAGED, W

START = dt.datetime(2026, 1, 1, 23, 0, tzinfo=dt.timezone.utc)


def feed(state: NightState, stages: list[int], quality_ok: bool = True) -> NightState:
    k0 = state.epochs
    for i, s in enumerate(stages):
        k = k0 + i
        state.update(EpochStaged(time=(k + 1) * 30.0, epoch_index=k, onset=k * 30.0, stage=s, confidence=0.9,
                                 quality_ok=quality_ok and s != UNSTAGED))
    return state


def test_onset_and_persistent_onset_differ_when_first_sleep_is_brief():
    # 4 W, 2 N1, 2 W, then 25 epochs of N1/N2 sleep
    hyp = [W] * 4 + [N1] * 2 + [W] * 2 + [N1] * 3 + [N2] * 22
    st = feed(NightState(START), hyp)
    assert st.sleep_onset == 4 * 30.0
    assert st.persistent_sleep_onset == 8 * 30.0  # first run of 20 epochs (10 min) of sleep
    snap = st.snapshot()
    assert snap["sleep_onset_latency_min"] == pytest.approx(2.0)
    assert snap["persistent_sleep_onset_latency_min"] == pytest.approx(4.0)
    assert snap["triggers_use"] == "persistent_sleep_onset"
    assert st.asleep


def test_persistent_onset_not_reached_with_short_runs():
    hyp = ([N2] * 19 + [W]) * 3
    st = feed(NightState(START), hyp)
    assert st.sleep_onset == 0.0
    assert st.persistent_sleep_onset is None
    assert not st.asleep


def test_waso_and_awakenings_count_only_wake_between_sleep_epochs():
    hyp = [W] * 6 + [N2] * 10 + [W] * 4 + [N2] * 10 + [W] * 2 + [N3] * 2 + [W] * 5
    st = feed(NightState(START), hyp)
    assert st.snapshot()["waso_min"] == pytest.approx((4 + 2) * 0.5)  # trailing 5 W not counted yet
    assert st.awakenings == 2  # the trailing wake bout is not an awakening (yet): as the report
    assert st.snapshot()["minutes"]["W"] == pytest.approx(17 * 0.5)
    feed(st, [N2])
    assert st.snapshot()["waso_min"] == pytest.approx((4 + 2 + 5) * 0.5)
    assert st.awakenings == 3
    # an unscored epoch inside a wake bout neither ends nor extends it
    st2 = feed(NightState(START), [N2] * 4 + [W, UNSTAGED, W] + [N2] * 2)
    assert st2.awakenings == 1 and st2.snapshot()["waso_min"] == pytest.approx(1.0)


def test_rem_bouts_bridge_one_epoch_and_end_after_two():
    hyp = [N2] * 20 + [REM] * 10 + [N1] + [REM] * 9 + [N2, N2] + [N2] * 30 + [REM] * 6 + [W, W]
    st = NightState(START)
    ended = []
    for i, s in enumerate(hyp):
        feed(st, [s])
        if st.just_ended_rem is not None:
            ended.append((i, st.just_ended_rem))
    bouts = st.counter.rem_bouts
    assert len(bouts) == 2
    p1, p2 = bouts
    assert p1.start == 20 * 30.0 and p1.end == 40 * 30.0
    assert p1.rem_epochs == 19 and p1.rem_min == pytest.approx(9.5)
    assert p1.duration_min == pytest.approx(10.0)
    # the end is known at the second non-REM epoch (index 41)
    assert [i for i, _ in ended] == [41, 79] and ended[0][1] is p1
    assert p2.closed and p2.start == 72 * 30.0 and p2.rem_epochs == 6
    assert [b.rem_min for b in bouts] == [9.5, 3.0] and st.snapshot()["in_rem_bout"] is False


def test_rem_periods_merge_less_than_15_min_and_cycles_need_15_min_of_nrem():
    # REM, 16 min N2, REM: two periods, both after >= 15 min of NREM: two cycles
    hyp = [N2] * 30 + [REM] * 10 + [N2] * 32 + [REM] * 6 + [W, W]
    st = feed(NightState(START), hyp)
    assert [(p.start, p.end) for p in st.rem_periods] == [(30 * 30.0, 40 * 30.0), (72 * 30.0, 78 * 30.0)]
    assert st.counter.cycles == 2 and st.cycles_completed == 1  # the last period is still open
    assert st.snapshot()["in_rem_period"] and not st.snapshot()["in_rem_bout"]
    feed(st, [N2] * 27)
    assert st.cycles_completed == 1 and st.counter.open_period is not None  # 29 non-REM epochs < 15 min
    feed(st, [N2])
    assert st.cycles_completed == 2 and st.counter.just_ended_period is st.rem_periods[1]
    # REM 5 min apart: one period (two bouts); a sleep-onset REM period is not a cycle
    st2 = feed(NightState(START), [N2] * 30 + [REM] * 6 + [N2] * 10 + [REM] * 6 + [N2] * 3)
    assert len(st2.rem_periods) == 1 and len(st2.counter.rem_bouts) == 2
    assert st2.rem_periods[0].rem_epochs == 12 and st2.counter.cycles == 1
    st3 = feed(NightState(START), [W] * 2 + [N1] * 4 + [REM] * 4 + [N2] * 40 + [REM] * 2)
    assert len(st3.rem_periods) == 2 and st3.counter.cycles == 1  # SOREM after 2 min of N1
    snap = st3.snapshot()
    assert snap["rem_count"] == 2 and snap["cycles"] == 1 and snap["rem_periods"][0]["rem_min"] == 2.0


def test_live_counts_equal_the_report_at_every_epoch():
    """The panel and the morning report use one definition: equal after every epoch, not just at the end."""
    import numpy as np

    from dreamband.recordings.stats import sleep_statistics

    rng = np.random.default_rng(3)
    hyp = np.repeat(rng.choice([W, N1, N2, N3, REM, UNSTAGED], size=120, p=[.2, .1, .3, .15, .2, .05]),
                    rng.integers(1, 12, size=120))
    st = NightState(START)
    for k in range(len(hyp)):
        feed(st, [int(hyp[k])])
        if k < 1:
            continue
        ref = sleep_statistics(hyp[: k + 1])
        snap = st.snapshot()
        assert snap["rem_count"] == ref["REM_periods"] and snap["cycles"] == ref["Cycles"], k
        if np.isfinite(ref["Awakenings"]):
            assert snap["awakenings"] == ref["Awakenings"] and snap["waso_min"] == pytest.approx(ref["WASO"]), k


def test_unstaged_epochs_interrupt_rem_but_count_as_no_stage():
    hyp = [N2] * 20 + [REM] * 4 + [UNSTAGED, UNSTAGED] + [REM] * 2
    st = feed(NightState(START), hyp)
    assert len(st.counter.rem_bouts) == 2 and len(st.rem_periods) == 1
    assert st.unstaged_epochs == 2
    assert st.snapshot()["minutes"]["unstaged"] == pytest.approx(1.0)


def test_plain_words_follow_the_night():
    st = NightState(START)
    assert st.plain == "awake in bed"
    words = []
    for s in [W, N1, N2, N3, REM, W] + [N2] * 20 + [N1]:
        feed(st, [s])
        words.append(st.plain)
    assert words[:6] == ["awake in bed", "falling asleep", "light sleep", "deep sleep", "dreaming", "awake"]
    assert words[-1] == "light sleep"  # N1 within persistent sleep


def test_signal_lost_from_quality_and_dropouts():
    st = feed(NightState(START), [N2] * 3)
    st.update_quality("Fp1", "off-head", 90.0, ["Fp1", "Fp2"])
    assert not st.signal_lost  # Fp2 still good
    st.update_quality("Fp2", "flat", 90.0, ["Fp1", "Fp2"])
    assert st.signal_lost and st.off_head and st.plain == "signal lost"
    assert st.signal_lost_since == 90.0
    st.update_quality("Fp1", "good", 120.0, ["Fp1", "Fp2"])
    st.update_quality("Fp2", "good", 120.0, ["Fp1", "Fp2"])
    assert not st.signal_lost and st.plain == "light sleep"
    st.update_stream("dropout", 130.0)
    assert st.signal_lost and st.signal_lost_since == 130.0
    st.update_stream("reconnected", 140.0)
    assert not st.signal_lost
    assert st.snapshot()["signal_lost"] is False


def test_wall_clock_and_snapshot_is_json_ready():
    import json

    st = feed(NightState(START), [W, N1, N2])
    assert st.wall_clock(3600).hour == 0
    json.dumps(st.snapshot())


def test_bad_settings_are_clear_errors():
    with pytest.raises(ValueError, match="epoch_s"):
        NightState(START, epoch_s=0)
    with pytest.raises(ValueError, match="rem_interruption"):
        NightState(START, rem_interruption_epochs=-1)


@pytest.mark.shared_data
def test_real_scored_nights_agree_with_yasa_sleep_statistics(shared_datasets):
    """Sleep-EDF expert hypnograms: onset latency, WASO, TST and stage minutes equal YASA's."""
    import warnings

    import numpy as np
    import yasa

    from dreamband.recordings.stats import sleep_statistics

    path = shared_datasets / "sleep-edf" / "hypnograms_30s.npz"
    if not path.exists():
        pytest.skip("sleep-edf/hypnograms_30s.npz is absent")
    nights = np.load(path)
    assert len(nights.files) >= 10
    for name in nights.files:
        hyp = nights[name].astype(int)
        st = NightState(START)
        for k, s in enumerate(hyp):
            st.update(EpochStaged(time=(k + 1) * 30.0, epoch_index=k, onset=k * 30.0, stage=int(s),
                                  quality_ok=s >= 0))
        with warnings.catch_warnings():
            warnings.simplefilter("ignore", FutureWarning)  # yasa 0.8 deprecates the function form
            ref = yasa.sleep_statistics(hyp, sf_hyp=1 / 30)
        snap = st.snapshot()
        assert snap["sleep_onset_latency_min"] == pytest.approx(ref["SOL"]), name
        assert snap["waso_min"] == pytest.approx(ref["WASO"]), name
        assert snap["total_sleep_min"] == pytest.approx(ref["TST"]), name
        for stage in ("N1", "N2", "N3", "REM"):
            assert snap["minutes"][stage] == pytest.approx(ref[stage]), (name, stage)
        # REM periods hold every REM epoch; the first starts at YASA's REM latency
        assert sum(p["rem_min"] for p in snap["rem_periods"]) == pytest.approx(ref["REM"])
        assert snap["rem_periods"][0]["start"] / 60 == pytest.approx(ref["Lat_REM"]), name  # from lights off
        assert snap["persistent_sleep_onset"] >= snap["sleep_onset"]
        # and the rule-based counts equal the report's
        ours = sleep_statistics(hyp)
        assert (snap["awakenings"], snap["rem_count"], snap["cycles"]) == (
            ours["Awakenings"], ours["REM_periods"], ours["Cycles"]), name
