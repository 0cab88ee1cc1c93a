"""`dreamband stage` on many nights: the fast EDF/BDF reader, the vectorised hypnogram writer,
cohort.csv, resume, failures, and a real Dask LocalCluster giving the same hypnograms as one process."""

from __future__ import annotations

import csv
import datetime as dt
import sys
from pathlib import Path

import numpy as np
import pytest

from dreamband.cli import main
from dreamband.recordings.edf_channels import (
    _decode_reference,
    _int16_to_float,
    _int24_to_float,
    read_edf_header,
    read_edf_signals,
)
from dreamband.recordings.hypnogram import HypnogramWriter, format_hypnogram_csv, load_hypnogram
from dreamband.session.cohort import (
    COHORT_COLUMNS,
    StageOptions,
    find_recordings,
    night_names,
    read_cohort_csv,
    run_cohort,
    stage_arrays,
)


def _night_edf(path: Path, hours: float, seed: int) -> Path:
    from dreamband.session.simulate import write_edf
    from dreamband.signal.simulate import simulate_night

    return write_edf(simulate_night(hours, sfreq=250.0, seed=seed), path)


@pytest.fixture(scope="module")
def nights(tmp_path_factory) -> Path:
    """Four generated half-hour nights and one corrupt EDF in a folder."""
    folder = tmp_path_factory.mktemp("nights")
    for k in range(4):
        _night_edf(folder / f"night{k}.edf", 0.5, seed=10 + k)
    (folder / "broken.edf").write_bytes(b"0       " + b"garbage" * 20)
    (folder / "notes.md").write_text("not a recording")
    return folder


def _rows(path: Path) -> list[dict[str, str]]:
    with open(path, newline="") as fh:
        return list(csv.DictReader(fh))


# ----------------------------------------------------------------------------- the reader
def test_decode_kernels_equal_numpy_reference() -> None:
    rng = np.random.default_rng(0)
    rec16 = rng.integers(-32768, 32767, size=(7, 40), dtype=np.int16)
    out = np.empty(7 * 15)
    _int16_to_float(rec16, 10, 15, 0.03, -1.5, out)
    np.testing.assert_array_equal(out, _decode_reference(rec16, 10, 15, 0.03, -1.5, bdf=False))
    rec24 = rng.integers(0, 256, size=(5, 3 * 12), dtype=np.uint8)
    out = np.empty(5 * 4)
    _int24_to_float(rec24, 3, 4, 0.5, 2.0, out)
    ref = _decode_reference(rec24, 3, 4, 0.5, 2.0, bdf=True)
    np.testing.assert_array_equal(out, ref)
    assert ref.min() < 0 < ref.max()  # both signs of the 24-bit values were decoded


def test_edf_reader_equals_mne_path(tmp_path: Path) -> None:
    mne = pytest.importorskip("mne")
    from dreamband.recordings.recording import read_recording

    rng = np.random.default_rng(1)
    sfreq = 200.0
    x = rng.standard_normal((3, int(sfreq * 95))) * np.array([[30e-6], [20e-6], [1e-3]])
    info = mne.create_info(["EEG Fpz-Cz", "EOG horizontal", "Resp oro-nasal"], sfreq, ["eeg", "eog", "misc"])
    raw = mne.io.RawArray(x, info, verbose="error")
    raw.set_meas_date(dt.datetime(2023, 5, 6, 22, 30, 5, tzinfo=dt.timezone.utc))
    edf = tmp_path / "psg.edf"
    mne.export.export_raw(edf, raw, fmt="edf", verbose="error")
    rec = read_recording(edf)
    head = read_edf_header(edf)
    assert head.format == "edf" and head.top_sfreq == rec.sfreq == sfreq
    # read_recording decodes EDF through this reader too; MNE's own reader is the reference
    mne_raw = mne.io.read_raw_edf(edf, preload=True, infer_types=True, verbose="error")
    np.testing.assert_allclose(rec.data, mne_raw.get_data(picks=[0, 1]) * 1e6, rtol=1e-12, atol=1e-9)
    assert head.start_time == rec.start_time
    kept = [i for i, t in enumerate(head.channel_types) if t in ("eeg", "eog", "emg")]
    assert [head.channel_names[i] for i in kept] == rec.channel_names == ["Fpz-Cz", "horizontal"]
    assert [head.channel_types[i] for i in kept] == rec.channel_types
    data = read_edf_signals(head, kept)
    np.testing.assert_allclose(data, rec.data, rtol=1e-12, atol=1e-9)
    with pytest.raises(ValueError, match="no signal row 9"):
        read_edf_signals(head, [9])


def test_bdf_reader_equals_mne_path(tmp_path: Path) -> None:
    edfio = pytest.importorskip("edfio")
    from dreamband.recordings.recording import read_recording

    rng = np.random.default_rng(2)
    x = rng.standard_normal(256 * 64) * 40.0
    sig = edfio.BdfSignal(x, sampling_frequency=256, label="Fp1", physical_dimension="uV",
                          physical_range=(-8000.0, 8000.0))
    bdf = tmp_path / "night.bdf"
    edfio.Bdf([sig], starttime=dt.time(23, 15, 0)).write(bdf)
    rec = read_recording(bdf)
    head = read_edf_header(bdf)
    mne = pytest.importorskip("mne")
    np.testing.assert_allclose(rec.data, mne.io.read_raw_bdf(bdf, preload=True, verbose="error").get_data() * 1e6,
                               rtol=1e-12, atol=1e-9)
    assert head.format == "bdf" and head.channel_names == rec.channel_names == ["Fp1"]
    np.testing.assert_allclose(read_edf_signals(head, [0]), rec.data, rtol=1e-12, atol=1e-9)
    np.testing.assert_allclose(read_edf_signals(head, [0])[0], x, atol=8000.0 / 2**23 * 2)


def test_edf_reader_blocks_equal_one_read(tmp_path: Path) -> None:
    """Windows of a few records (down to one) give the very samples of one whole read, EDF and BDF."""
    edfio = pytest.importorskip("edfio")
    rng = np.random.default_rng(4)
    sigs = [edfio.EdfSignal(rng.standard_normal(100 * 37) * 50.0, sampling_frequency=100, label=f"EEG C{k}", physical_dimension="uV",
                            physical_range=(-500.0, 500.0)) for k in range(3)]
    edf = tmp_path / "blocks.edf"
    edfio.Edf(sigs).write(edf)
    head = read_edf_header(edf)
    whole = read_edf_signals(head, [2, 0], block_bytes=1 << 30)
    record_bytes = head.record_samples * head.bytes_per_sample
    for block in (1, record_bytes, 3 * record_bytes + 7, 10 * record_bytes):
        np.testing.assert_array_equal(read_edf_signals(head, [2, 0], block_bytes=block), whole)
    np.testing.assert_allclose(whole[1], sigs[0].data, atol=1000.0 / 65535)


@pytest.mark.parametrize("content, message", [
    (b"0       " + b" " * 100, "truncated EDF/BDF header"),
    (b"PK\x03\x04" + b"\x00" * 400, "not an EDF/BDF file"),
])
def test_edf_reader_says_what_is_wrong(tmp_path: Path, content: bytes, message: str) -> None:
    bad = tmp_path / "bad.edf"
    bad.write_bytes(content)
    with pytest.raises(ValueError, match=message):
        read_edf_header(bad)


def test_edf_reader_truncated_records(tmp_path: Path) -> None:
    edf = _night_edf(tmp_path / "n.edf", 0.05, seed=3)
    size = edf.stat().st_size
    with open(edf, "r+b") as fh:  # lose the last third of the data, as a full disk would
        fh.truncate(size - size // 3)
    head = read_edf_header(edf)
    assert head.warnings and "truncated" in head.warnings[0]
    assert read_edf_signals(head, [0]).shape[1] == head.n_records * head.signals[0].samples_per_record
    with open(edf, "r+b") as fh:
        fh.truncate(256 * 6 + 10)  # header only
    with pytest.raises(ValueError, match="no complete data record"):
        read_edf_header(edf)


# ----------------------------------------------------------------------------- the writer
def test_vectorised_csv_equals_row_writer(tmp_path: Path) -> None:
    rng = np.random.default_rng(4)
    n = 300
    stages = rng.integers(-1, 5, n).astype(np.int8)
    proba = rng.dirichlet(np.ones(5), n)
    quality = ["ok" if s >= 0 else "Fp1: flat, railed\nline" for s in stages]
    path = tmp_path / "rows.csv"
    w = HypnogramWriter(path)
    for e in range(n):
        w.write(e, 30.0 * e, int(stages[e]), proba[e] if stages[e] >= 0 else (), quality[e])
    w.close()
    assert format_hypnogram_csv(stages, proba, quality) == path.read_text()
    read, epoch_s = load_hypnogram(path)
    np.testing.assert_array_equal(read, stages)
    with pytest.raises(ValueError, match="Unknown stage codes"):
        format_hypnogram_csv(np.array([7, 0]), proba[:2], ["ok", "ok"])


# ----------------------------------------------------------------------------- finding nights
def test_find_recordings_files_folders_globs(nights: Path, tmp_path: Path) -> None:
    found = find_recordings([nights])
    assert sorted(p.name for p in found) == ["broken.edf", "night0.edf", "night1.edf", "night2.edf", "night3.edf"]
    assert [p.name for p in find_recordings([str(nights / "night[12].edf")])] == ["night1.edf", "night2.edf"]
    assert len(find_recordings([nights / "night0.edf", str(nights / "night0.edf")])) == 1
    with pytest.raises(FileNotFoundError, match="No file matches"):
        find_recordings([str(tmp_path / "*.edf")])
    with pytest.raises(FileNotFoundError):
        find_recordings([tmp_path / "missing.edf"])
    (tmp_path / "a").mkdir()
    (tmp_path / "b").mkdir()
    assert night_names([tmp_path / "a" / "n.edf", tmp_path / "b" / "n.edf"]) == ["a_n", "b_n"]


# ----------------------------------------------------------------------------- one process
def test_fast_reader_stages_as_the_mne_path(nights: Path) -> None:
    from dreamband.recordings.recording import read_recording
    from dreamband.session.cohort import _load_model, _load_staging_channels

    fast = _load_staging_channels(nights / "night0.edf", None)
    rec = read_recording(nights / "night0.edf")
    i = rec.frontal_channel()
    assert fast["reader"] == "edf_channels" and fast["names"] == [rec.channel_names[i]]
    model = _load_model(None, 1)
    a = stage_arrays(fast["data"], fast["sfreq"], fast["names"], model)
    b = stage_arrays(rec.data[[i]], rec.sfreq, [rec.channel_names[i]], model)
    np.testing.assert_array_equal(a["stages"], b["stages"])
    np.testing.assert_allclose(a["probabilities"], b["probabilities"], rtol=1e-9)


def test_cohort_in_process_failure_resume_force(nights: Path, tmp_path: Path, capsys) -> None:
    out = tmp_path / "out"
    assert main(["stage", str(nights), "--out-dir", str(out)]) == 1  # the broken file fails, the rest go on
    err = capsys.readouterr().err
    assert "broken.edf: failed: ValueError" in err
    rows = {r["name"]: r for r in _rows(out / "cohort.csv")}
    assert list(_rows(out / "cohort.csv")[0].keys()) == list(COHORT_COLUMNS)
    assert rows["broken"]["status"] == "failed" and "damaged" in rows["broken"]["error"]
    assert not (out / "broken.hypnogram.csv").exists()
    tst = []
    for k in range(4):
        r = rows[f"night{k}"]
        stages, _ = load_hypnogram(out / f"night{k}.hypnogram.csv")
        assert r["status"] == "ok" and int(r["epochs"]) == stages.size == 60
        assert float(r["TIB"]) == 30.0 and abs(float(r["staged_fraction"]) - np.mean(stages >= 0)) < 1e-6
        assert float(r["TST"]) == pytest.approx(np.count_nonzero(stages > 0) * 0.5)  # all sleep lies in the SPT
        tst.append(float(r["TST"]))
        assert r["model"] == "stager_fpz" and r["reader"] == "edf_channels" and float(r["seconds"]) > 0
    assert max(tst) > 0  # the generated nights do sleep
    # resume: nothing staged again, the failed one is tried again (and fails again)
    before = {k: (out / f"night{k}.hypnogram.csv").stat().st_mtime_ns for k in range(4)}
    res = run_cohort(find_recordings([nights]), out, progress=False)
    assert (res.staged, res.skipped, res.failed) == (1, 4, 1)
    assert {k: (out / f"night{k}.hypnogram.csv").stat().st_mtime_ns for k in range(4)} == before
    assert len(read_cohort_csv(out / "cohort.csv")) == 5 and len(_rows(out / "cohort.csv")) == 5
    res = run_cohort(find_recordings([nights / "night0.edf"]), out, force=True, progress=False)
    assert (res.staged, res.skipped) == (1, 0)
    assert (out / "night0.hypnogram.csv").stat().st_mtime_ns != before[0]


def test_single_file_output_option(nights: Path, tmp_path: Path, capsys) -> None:
    hyp = tmp_path / "mine.csv"
    assert main(["stage", str(nights / "night1.edf"), "-o", str(hyp)]) == 0
    text = capsys.readouterr().out
    assert "Fp1" in text and str(hyp) in text
    assert load_hypnogram(hyp)[0].size == 60
    assert _rows(tmp_path / "cohort.csv")[0]["hypnogram"] == str(hyp)
    assert main(["stage", str(nights), "-o", str(hyp)]) == 2  # one file name for many nights
    assert "--out-dir" in capsys.readouterr().err


def test_missing_dask_says_how_to_install(nights: Path, tmp_path: Path, monkeypatch) -> None:
    monkeypatch.setitem(sys.modules, "dask.distributed", None)
    with pytest.raises(RuntimeError, match=r"dreamband\[cohort\]"):
        run_cohort([nights / "night0.edf"], tmp_path, workers=2, progress=False)


# ----------------------------------------------------------------------------- Dask
@pytest.mark.slow
def test_two_worker_local_cluster_equals_one_process(nights: Path, tmp_path: Path) -> None:
    pytest.importorskip("dask.distributed")
    recs = find_recordings([nights])
    one = run_cohort(recs, tmp_path / "one", progress=False)
    two = run_cohort(recs, tmp_path / "two", workers=2, progress=False, options=StageOptions())
    assert (two.staged, two.failed) == (5, 1)
    assert [r["name"] for r in two.rows] == [r["name"] for r in one.rows]  # cohort.csv in input order
    for a, b in zip(one.rows, two.rows, strict=True):
        assert a["status"] == b["status"]
        assert {k: a[k] for k in ("TST", "SOL", "WASO", "SE", "Lat_REM", "epochs")} == \
               {k: b[k] for k in ("TST", "SOL", "WASO", "SE", "Lat_REM", "epochs")}
    for k in range(4):
        assert (tmp_path / "one" / f"night{k}.hypnogram.csv").read_bytes() == \
               (tmp_path / "two" / f"night{k}.hypnogram.csv").read_bytes()
    broken = next(r for r in two.rows if r["name"] == "broken")
    assert broken["status"] == "failed" and "damaged" in broken["error"]


def test_cohort_batch_arrays_equal_the_live_path(nights: Path) -> None:
    """`stage`'s arrays (SessionPipeline.stage_night) are the streaming path's epochs, unstaged ones too."""
    from dreamband.session.cohort import _load_model, _load_staging_channels
    from dreamband.session.offline import stage_signal
    fast = _load_staging_channels(nights / "night2.edf", None)
    reader = fast["data"]  # a block reader: the staging channel decoded a few epochs at a time
    data = reader.block(0, reader.shape[1])
    model = _load_model(None, 1)
    from_file = stage_arrays(reader, fast["sfreq"], fast["names"], model)
    whole = stage_arrays(data, fast["sfreq"], fast["names"], model)
    np.testing.assert_array_equal(from_file["stages"], whole["stages"])
    np.testing.assert_array_equal(from_file["probabilities"], whole["probabilities"])
    assert from_file["quality"] == whole["quality"]
    data[0, 250 * 300: 250 * 340] = np.nan  # a dropout and a dead electrode: unstaged epochs
    data[0, 250 * 600: 250 * 660] = 3.0
    batch = stage_arrays(data, fast["sfreq"], fast["names"], model)
    live = stage_signal(data, fast["sfreq"], fast["names"], model, chunk_s=7.0)
    np.testing.assert_array_equal(batch["stages"], [s.result.stage for s in live])
    staged = batch["stages"] >= 0
    np.testing.assert_array_equal(batch["probabilities"][staged], np.array([s.result.probabilities for s in live])[staged])
    assert np.isnan(batch["probabilities"][~staged]).all()
    assert batch["quality"] == ["ok" if s.result.stage >= 0 and s.quality.ok else "; ".join(s.result.reasons)
                                for s in live]
    assert (~staged).sum() >= 3


def test_stage_night_with_other_rows_equals_the_stream(nights: Path) -> None:
    """The batch path with rows that are not staged (EOG, EMG, a second EEG) is the streaming path,
    block by block (conditioner and resampler state carried), with or without keeping the epochs."""
    from dreamband.recordings.recording import read_recording
    from dreamband.session.pipeline import SessionPipeline

    rec = read_recording(nights / "night1.edf")
    data = rec.data.copy()
    data[1, 250 * 200: 250 * 290] = np.nan  # Fp2 lost for 90 s (not a staging row)
    data[0, 250 * 400: 250 * 415] = np.nan  # and the staging row for 15 s

    def pipe() -> SessionPipeline:
        return SessionPipeline(rec.sfreq, rec.channel_names, rec.channel_types, triggers=False, arousals=False)

    p = pipe()
    assert len(p._exg_rows) == 4 and p.staging_rows == [0]
    stream = []
    for i in range(0, data.shape[1], 1777):
        stream += p.stage_stream(data[:, i: i + 1777])
    kept = pipe().stage_night(data)
    lean = pipe().stage_night(data, keep_epochs=False)
    assert lean.native is None and kept.native.shape == (len(stream), 4, 7500)
    for night in (kept, lean):
        np.testing.assert_array_equal(night.stages, [s.result.stage for s in stream])
        np.testing.assert_array_equal(night.staging, np.stack([s.epoch.staging_v for s in stream]))
        assert night.reasons == [tuple(s.result.reasons) for s in stream]
        assert [q.status for q in night.qualities] == [s.quality.status for s in stream]
    np.testing.assert_array_equal(kept.native, np.stack([s.epoch.data_uv for s in stream]))
    assert (lean.stages == -1).sum() >= 1 and any("Fp2" in " ".join(q.reasons) for q in lean.qualities)
    with pytest.raises(ValueError, match="keep_epochs=False"):
        lean.staged_epochs(["fpz"])
