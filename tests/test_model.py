"""Tree inference in Numba == LightGBM, == the plain reference walk, == the shipped model's stored answers."""

from __future__ import annotations

import numpy as np
import pytest

from dreamband.signal.model import (
    StagingModel,
    predict_raw_reference,
    softmax_reference,
    trees_from_lightgbm_dump,
)


def _tiny_data(seed: int = 0) -> tuple[np.ndarray, np.ndarray]:
    rng = np.random.default_rng(seed)
    X = rng.standard_normal((600, 6))
    y = (np.argmax(X[:, :5] + 0.5 * rng.standard_normal((600, 5)), axis=1)).astype(int)
    X[rng.random(X.shape) < 0.05] = np.nan  # missing values take the default branches
    X[rng.random(X.shape) < 0.05] = 0.0
    return X, y


@pytest.mark.parametrize("zero_as_missing", [False, True])
def test_numba_equals_lightgbm(zero_as_missing: bool, tmp_path) -> None:
    lgb = pytest.importorskip("lightgbm")
    X, y = _tiny_data()
    params = {"objective": "multiclass", "num_class": 5, "num_leaves": 7, "learning_rate": 0.2, "verbose": -1,
              "num_threads": 1, "deterministic": True, "seed": 1, "min_data_in_leaf": 5,
              "zero_as_missing": zero_as_missing}
    booster = lgb.train(params, lgb.Dataset(X, label=y), num_boost_round=15)
    trees, n_class = trees_from_lightgbm_dump(booster.dump_model())
    assert n_class == 5
    Xt, _ = _tiny_data(1)
    Xt[:5] = np.nan
    model = StagingModel(trees, 5, [f"f{i}" for i in range(6)], ["fpz"], np.zeros(15), np.ones(15),
                         np.full((5, 5), 0.2), np.full(5, 0.2))
    p_lgb = booster.predict(Xt)
    np.testing.assert_allclose(model.predict_proba(Xt), p_lgb, rtol=0, atol=1e-12)
    np.testing.assert_allclose(model.predict_raw(Xt), booster.predict(Xt, raw_score=True), rtol=0, atol=1e-12)
    np.testing.assert_allclose(softmax_reference(predict_raw_reference(trees, Xt[:50], 5)), p_lgb[:50], atol=1e-12)
    # and the saved pair round-trips
    model.reference_features, model.reference_proba = Xt[:20], p_lgb[:20]
    model.meta = {"name": "tiny"}
    model.save(tmp_path / "tiny")
    back = StagingModel.load(tmp_path / "tiny.npz")
    np.testing.assert_array_equal(back.predict_proba(Xt[:20]), model.predict_proba(Xt[:20]))


@pytest.mark.parametrize("name", ["stager_fpz", "stager_fpz_pz"])
def test_shipped_model_reproduces_its_reference(name: str) -> None:
    """No LightGBM needed: the shipped file stores LightGBM's own probabilities for 200 rows."""
    m = StagingModel.load(name)
    assert m.reference_features is not None and m.reference_features.shape[1] == m.n_features
    np.testing.assert_allclose(m.predict_proba(m.reference_features), m.reference_proba, rtol=0, atol=1e-12)
    raw = predict_raw_reference(m.trees, m.reference_features[:10], m.n_class)
    np.testing.assert_allclose(softmax_reference(raw), m.reference_proba[:10], rtol=0, atol=1e-12)
    cv = m.meta["cv"]  # the protocol's nested CV (random starts), or the old protocol's figures
    acc = cv["figures"]["selected"]["random"]["all"]["accuracy"] if "figures" in cv else cv["without_hmm"]["accuracy"]
    assert "Sleep-EDF" in m.meta["credit"] and acc > 0.7
    assert m.transition.shape == (5, 5) and np.allclose(m.transition.sum(1), 1)


def test_load_errors(tmp_path) -> None:
    with pytest.raises(FileNotFoundError, match="dreamband train"):
        StagingModel.load(tmp_path / "nothing.npz")
    (tmp_path / "bad.npz").write_bytes(b"")
    (tmp_path / "bad.json").write_text('{"format": "other"}')
    with pytest.raises(ValueError, match="not a dreamband tree model"):
        StagingModel.load(tmp_path / "bad")
    m = StagingModel.load()
    with pytest.raises(ValueError, match="features of shape"):
        m.predict_proba(np.zeros((2, m.n_features + 1)))


@pytest.mark.parametrize("name", ["stager_fpz", "stager_fpz_pz"])
def test_batch_kernel_equals_tree_walk(name: str) -> None:
    """The QuickScorer batch kernel gives the tree walk's raw scores exactly (same sums, same order)."""
    from dreamband.signal.model import BATCH_MIN_ROWS, _predict_raw

    m = StagingModel.load(name)
    rng = np.random.default_rng(7)
    X = m.reference_features[rng.integers(0, len(m.reference_features), 700)].copy()
    X += rng.standard_normal(X.shape) * 0.05 * np.nanstd(X, axis=0)
    X[rng.random(X.shape) < 0.03] = np.nan  # NaN takes each node's missing-value branch
    X[:3] = np.nan
    assert m._bitvector_tables()[3]  # the shipped models take the batch kernel
    t = m.trees
    walk = _predict_raw(X, t["split_feature"], t["threshold"], t["left"], t["right"], t["default_left"],
                        t["missing_type"], t["leaf_value"], t["node_offset"], t["leaf_offset"], m.n_class)
    np.testing.assert_array_equal(m.predict_raw(X), walk)
    np.testing.assert_allclose(predict_raw_reference(t, X[:40], m.n_class), walk[:40], rtol=0, atol=1e-12)
    # below BATCH_MIN_ROWS the walk runs; the two paths agree row by row
    np.testing.assert_array_equal(m.predict_raw(X[: BATCH_MIN_ROWS - 1]), walk[: BATCH_MIN_ROWS - 1])
