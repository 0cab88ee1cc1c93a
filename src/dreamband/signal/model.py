"""The shipped staging model: gradient-boosted trees as plain arrays, evaluated in Numba.

A model is two files side by side in ``signal/models/``: ``NAME.npz`` (arrays only, loaded with
``allow_pickle=False``) and ``NAME.json`` (metadata: feature names, channels, version, training
summary, cross-validated figures, data credit). No training library is imported here.

Trees follow LightGBM's conventions: an internal node sends a sample left when
``x <= threshold``; a missing value (NaN) goes to the node's default side when its missing
type is "NaN", is treated as 0.0 when the missing type is "None", and a zero (or NaN) goes to
the default side when the missing type is "Zero". Children ``>= 0`` are internal nodes of the
same tree, ``< 0`` are leaves ``~child``. Multiclass: tree ``t`` adds to class ``t % n_class``;
probabilities are the softmax of the raw scores.

Two Numba kernels give the same sums in the same order: :func:`_predict_raw` walks each tree
(few rows, the live path), :func:`_predict_raw_bitvector` is QuickScorer (Lucchese et al.
2015: per node a bit mask of the leaves its test excludes, evaluated branch-light over a block
of rows at once; ~5x faster for a night). :func:`predict_raw_reference` is the plain Python walk.
"""

from __future__ import annotations

import json
from dataclasses import dataclass, field
from functools import lru_cache
from pathlib import Path

import numpy as np
from numba import njit

MODELS_DIR = Path(__file__).resolve().parent / "models"
DEFAULT_MODEL = "stager_fpz"
MODEL_FORMAT = "dreamband-trees-1"
MISSING_NONE, MISSING_ZERO, MISSING_NAN = 0, 1, 2
_ZERO_THRESHOLD = 1e-35

_TREE_KEYS = ("split_feature", "threshold", "left", "right", "default_left", "missing_type",
              "leaf_value", "node_offset", "leaf_offset")


@njit(cache=True)
def _predict_raw(x: np.ndarray, split_feature: np.ndarray, threshold: np.ndarray, left: np.ndarray,
                 right: np.ndarray, default_left: np.ndarray, missing_type: np.ndarray,
                 leaf_value: np.ndarray, node_offset: np.ndarray, leaf_offset: np.ndarray,
                 n_class: int) -> np.ndarray:
    n = x.shape[0]
    n_trees = node_offset.shape[0] - 1
    raw = np.zeros((n, n_class))
    for t in range(n_trees):  # trees outer: one tree's nodes stay in cache across rows
        n0 = node_offset[t]
        l0 = leaf_offset[t]
        k = t % n_class
        if node_offset[t + 1] == n0:  # a single-leaf tree
            for r in range(n):
                raw[r, k] += leaf_value[l0]
            continue
        for r in range(n):
            node = 0
            while node >= 0:
                g = n0 + node
                v = x[r, split_feature[g]]
                mt = missing_type[g]
                if np.isnan(v) and mt != 2:
                    v = 0.0
                if (mt == 1 and abs(v) <= 1e-35) or (mt == 2 and np.isnan(v)):
                    node = left[g] if default_left[g] else right[g]
                elif v <= threshold[g]:
                    node = left[g]
                else:
                    node = right[g]
            raw[r, k] += leaf_value[l0 + (~node)]
    return raw


_ALL_BITS = np.uint64(0xFFFFFFFFFFFFFFFF)
_DEBRUIJN = np.uint64(0x03F79D71B4CB0A89)
#: bit position of a single set bit b, looked up at ``(b * _DEBRUIJN) >> 58``
_DEBRUIJN_POS = np.zeros(64, dtype=np.int64)
for _i in range(64):
    _DEBRUIJN_POS[(((1 << _i) * 0x03F79D71B4CB0A89) & 0xFFFFFFFFFFFFFFFF) >> 58] = _i
_DEBRUIJN_POS.flags.writeable = False
#: from this many rows on, the batch (QuickScorer) kernel is faster than walking each tree
BATCH_MIN_ROWS = 32


@njit(cache=True)
def _bitvector_tables(split_feature: np.ndarray, threshold: np.ndarray, left: np.ndarray, right: np.ndarray,
                      default_left: np.ndarray, missing_type: np.ndarray, leaf_value: np.ndarray,
                      node_offset: np.ndarray, leaf_offset: np.ndarray
                      ) -> tuple[np.ndarray, np.ndarray, np.ndarray, bool]:
    """QuickScorer tables: per internal node a 64-bit mask clearing the leaves of its left subtree.

    Leaves of each tree are numbered left to right (``leaf_ordered`` holds their values in that
    order). A sample's leaf is the lowest bit left set after AND-ing the masks of every node
    whose test sends it right. ``nan_right`` is all ones where a NaN goes right. ``ok`` is False
    (use the tree walk) for trees of more than 64 leaves or "Zero" missing types.
    """
    n_int = split_feature.shape[0]
    mask = np.zeros(n_int, np.uint64)
    nan_right = np.zeros(n_int, np.uint64)
    leaf_ordered = np.zeros(leaf_value.shape[0])
    ok = True
    for t in range(node_offset.shape[0] - 1):
        n0 = node_offset[t]
        l0 = leaf_offset[t]
        ni = node_offset[t + 1] - n0
        nl = leaf_offset[t + 1] - l0
        if nl > 64:
            ok = False
            break
        if ni == 0:
            leaf_ordered[l0] = leaf_value[l0]
            continue
        leafpos = np.empty(nl, np.int64)
        order = np.empty(ni, np.int64)
        lo = np.empty(ni, np.int64)
        hi = np.empty(ni, np.int64)
        stack = np.empty(ni + nl + 1, np.int64)
        stack[0] = 0
        sp = 1
        cnt = 0
        pos = 0
        while sp > 0:  # pre-order, left first: leaves come left to right
            sp -= 1
            nd = stack[sp]
            if nd < 0:
                leafpos[~nd] = pos
                pos += 1
            else:
                order[cnt] = nd
                cnt += 1
                stack[sp] = right[n0 + nd]
                stack[sp + 1] = left[n0 + nd]
                sp += 2
        for i in range(cnt - 1, -1, -1):  # children before parents
            nd = order[i]
            lc = left[n0 + nd]
            rc = right[n0 + nd]
            llo = leafpos[~lc] if lc < 0 else lo[lc]
            lhi = leafpos[~lc] if lc < 0 else hi[lc]
            lo[nd] = llo
            hi[nd] = leafpos[~rc] if rc < 0 else hi[rc]
            width = lhi - llo + 1
            ones = _ALL_BITS if width >= 64 else (np.uint64(1) << np.uint64(width)) - np.uint64(1)
            g = n0 + nd
            mask[g] = ~(ones << np.uint64(llo))
            mt = missing_type[g]
            if mt == 1:
                ok = False
            if mt == 0:  # NaN is treated as 0.0
                nan_right[g] = _ALL_BITS if 0.0 > threshold[g] else np.uint64(0)
            else:
                nan_right[g] = np.uint64(0) if default_left[g] else _ALL_BITS
        for j in range(nl):
            leaf_ordered[l0 + leafpos[j]] = leaf_value[l0 + j]
    return mask, nan_right, leaf_ordered, ok


@njit(cache=True)
def _predict_raw_bitvector(x_t: np.ndarray, split_feature: np.ndarray, threshold: np.ndarray, nan_right: np.ndarray,
                           mask: np.ndarray, leaf_ordered: np.ndarray, node_offset: np.ndarray,
                           leaf_offset: np.ndarray, n_class: int, debruijn_pos: np.ndarray) -> np.ndarray:
    """QuickScorer: ``x_t`` (n_features, n) feature-major; same sums in the same (tree) order as the walk."""
    n = x_t.shape[1]
    block = 512
    raw = np.zeros((n, n_class))
    bits = np.empty(block, np.uint64)
    for rb in range(0, n, block):
        nb = min(block, n - rb)
        for t in range(node_offset.shape[0] - 1):
            k = t % n_class
            for j in range(nb):
                bits[j] = _ALL_BITS
            for g in range(node_offset[t], node_offset[t + 1]):
                th = threshold[g]
                m = mask[g]
                m_nan = m | ~nan_right[g]
                col = x_t[split_feature[g], rb : rb + nb]
                for j in range(nb):
                    v = col[j]
                    if v > th:
                        bits[j] &= m
                    elif v != v:
                        bits[j] &= m_nan
            l0 = leaf_offset[t]
            for j in range(nb):
                b = bits[j]
                lowest = b & (~b + np.uint64(1))
                raw[rb + j, k] += leaf_ordered[l0 + debruijn_pos[(lowest * _DEBRUIJN) >> np.uint64(58)]]
    return raw


@njit(cache=True)
def _softmax_rows(raw: np.ndarray) -> np.ndarray:
    out = np.empty_like(raw)
    for r in range(raw.shape[0]):
        m = raw[r, 0]
        for k in range(1, raw.shape[1]):
            m = max(m, raw[r, k])
        s = 0.0
        for k in range(raw.shape[1]):
            out[r, k] = np.exp(raw[r, k] - m)
            s += out[r, k]
        for k in range(raw.shape[1]):
            out[r, k] /= s
    return out


def warmup_model() -> None:
    """Compile both tree kernels on a one-split model."""
    trees = {"split_feature": np.zeros(1, np.int32), "threshold": np.zeros(1), "left": np.array([-1], np.int32),
             "right": np.array([-2], np.int32), "default_left": np.ones(1, np.bool_),
             "missing_type": np.full(1, MISSING_NAN, np.int8), "leaf_value": np.array([0.0, 1.0]),
             "node_offset": np.array([0, 1], np.int64), "leaf_offset": np.array([0, 2], np.int64)}
    model = StagingModel(trees, 1, ["f"], ["c"], np.zeros(15), np.ones(15), np.ones((1, 1)), np.ones(1))
    model.predict_proba(np.zeros((BATCH_MIN_ROWS, 1)))
    model.predict_proba(np.zeros((1, 1)))


def predict_raw_reference(trees: dict[str, np.ndarray], x: np.ndarray, n_class: int) -> np.ndarray:
    """Plain Python/NumPy reference of the tree walk (slow; for tests)."""
    x = np.asarray(x, dtype=np.float64)
    no, lo = trees["node_offset"], trees["leaf_offset"]
    raw = np.zeros((x.shape[0], n_class))
    for t in range(len(no) - 1):
        for r in range(x.shape[0]):
            if no[t + 1] == no[t]:
                raw[r, t % n_class] += trees["leaf_value"][lo[t]]
                continue
            node = 0
            while node >= 0:
                g = no[t] + node
                v = x[r, trees["split_feature"][g]]
                mt = trees["missing_type"][g]
                if np.isnan(v) and mt != MISSING_NAN:
                    v = 0.0
                if (mt == MISSING_ZERO and abs(v) <= _ZERO_THRESHOLD) or (mt == MISSING_NAN and np.isnan(v)):
                    node = trees["left"][g] if trees["default_left"][g] else trees["right"][g]
                else:
                    node = trees["left"][g] if v <= trees["threshold"][g] else trees["right"][g]
            raw[r, t % n_class] += trees["leaf_value"][lo[t] + (-node - 1)]
    return raw


def softmax_reference(raw: np.ndarray) -> np.ndarray:
    """NumPy softmax over the last axis."""
    e = np.exp(raw - raw.max(axis=-1, keepdims=True))
    return e / e.sum(axis=-1, keepdims=True)


@lru_cache(maxsize=8)
def _read_arrays(path: str, mtime_ns: int, size: int) -> tuple[tuple[str, np.ndarray], ...]:
    """The arrays of a model ``.npz``, read-only, cached per file version (decompressing costs ~10 ms).

    Callers get copies (:meth:`StagingModel.load`), so no model shares writable arrays.
    """
    with np.load(path, allow_pickle=False) as z:
        arrays = {k: z[k] for k in z.files}
    for a in arrays.values():
        a.flags.writeable = False
    return tuple(arrays.items())


@dataclass
class StagingModel:
    """Trees + everything the stager needs around them (context priors, HMM transitions).

    Attributes
    ----------
    trees : dict of ndarray
        Flat node arrays (see the module docstring).
    n_class : int
        5 (W, N1, N2, N3, REM).
    feature_names : list of str
    channels : list of str
        Staging channel labels in feature order, e.g. ``["fpz"]`` or ``["fpz", "pz"]``.
    prior_mean, prior_var : ndarray, shape (n_channels * 15,)
        Population statistics of the context variables (per-night z-score priors).
    transition : ndarray, shape (5, 5)
        HMM transition probabilities between consecutive 30-s epochs (rows: from).
    class_prior : ndarray, shape (5,)
        The HMM's emission prior (the classifier posterior is divided by it) and its state at
        session start: for models trained under issue 13's item 6, the prior the trees were
        fitted under (training frequencies x CLASS_WEIGHTS) or the plain frequencies, whichever
        the inner CV chose (``meta["hmm_prior"]``); older models: the plain frequencies.
    hmm_weight : float
        Exponent on the scaled emission in the HMM forward pass (0 = ignore classifier).
    meta : dict
        The JSON metadata.
    reference_features, reference_proba : ndarray, optional
        Rows of training features and the training library's probabilities for them (tests).
    cv_stages : dict[str, ndarray]
        Per training night, the stages predicted while that night's subject was held out in
        cross-validation (so ``dreamband evaluate`` can show honest per-night figures).
    """

    trees: dict[str, np.ndarray]
    n_class: int
    feature_names: list[str]
    channels: list[str]
    prior_mean: np.ndarray
    prior_var: np.ndarray
    transition: np.ndarray
    class_prior: np.ndarray
    hmm_weight: float = 1.0
    meta: dict = field(default_factory=dict)
    reference_features: np.ndarray | None = None
    reference_proba: np.ndarray | None = None
    cv_stages: dict[str, np.ndarray] = field(default_factory=dict)
    _bitvector: tuple | None = field(default=None, init=False, repr=False, compare=False)

    @property
    def n_features(self) -> int:
        """Number of input features."""
        return len(self.feature_names)

    @property
    def n_channels(self) -> int:
        """Number of staging channels."""
        return len(self.channels)

    @property
    def scale_free(self) -> bool:
        """Trained with the scale-free causal context (``meta["context"] == "scale-free"``; see signal/context.py)."""
        return self.meta.get("context") in ("scale-free", "normalised")

    @property
    def amplitude_reference(self) -> np.ndarray | None:
        """Per-channel target log variance of the running-amplitude normalisation, or None when the
        model was trained without it (``meta["amplitude_reference"]``; see signal/amplitude.py)."""
        ref = self.meta.get("amplitude_reference")
        return None if ref is None else np.asarray(ref, dtype=np.float64)

    @property
    def n_trees(self) -> int:
        """Number of trees (iterations x classes)."""
        return int(self.trees["node_offset"].shape[0] - 1)

    @classmethod
    def load(cls, path: str | Path | None = None) -> StagingModel:
        """Load a model (default: the shipped one-channel Fpz-Cz model).

        Parameters
        ----------
        path : str or Path, optional
            ``NAME.npz`` or ``NAME.json`` or ``NAME`` (the pair is read), or a shipped model's
            name such as ``"stager_fpz_pz"``.
        """
        if path is None:
            path = MODELS_DIR / DEFAULT_MODEL
        p = Path(path)
        if not p.suffix and not p.parent.name and not p.exists():
            p = MODELS_DIR / p.name
        stem = p.with_suffix("") if p.suffix in (".npz", ".json") else p
        npz, js = stem.with_suffix(".npz"), stem.with_suffix(".json")
        for f in (npz, js):
            if not f.is_file():
                raise FileNotFoundError(
                    f"Model file {f} not found. A model is a .npz + .json pair; train one with "
                    "`dreamband train --data DIR` or omit --model to use the shipped one."
                )
        meta = json.loads(js.read_text())
        if meta.get("format") != MODEL_FORMAT:
            raise ValueError(f"{js} is not a dreamband tree model (format {meta.get('format')!r}, expected {MODEL_FORMAT!r}).")
        st = npz.stat()
        arrays = {k: a.copy() for k, a in _read_arrays(str(npz.resolve()), st.st_mtime_ns, st.st_size)}
        missing = [k for k in _TREE_KEYS if k not in arrays]
        if missing:
            raise ValueError(f"{npz} lacks the arrays {missing}.")
        trees = {k: np.ascontiguousarray(arrays[k]) for k in _TREE_KEYS}
        model = cls(
            trees=trees,
            n_class=int(meta["n_class"]),
            feature_names=list(meta["feature_names"]),
            channels=list(meta["channels"]),
            prior_mean=arrays["prior_mean"],
            prior_var=arrays["prior_var"],
            transition=arrays["transition"],
            class_prior=arrays["class_prior"],
            hmm_weight=float(meta.get("hmm_weight", 1.0)),
            meta=meta,
            reference_features=arrays.get("reference_features"),
            reference_proba=arrays.get("reference_proba"),
            cv_stages={k.removeprefix("cv_stages__"): v for k, v in arrays.items() if k.startswith("cv_stages__")},
        )
        model._validate()
        return model

    def _validate(self) -> None:
        t = self.trees
        if int(np.max(t["split_feature"], initial=-1)) >= self.n_features:
            raise ValueError("Model trees use a feature index beyond its feature list.")
        if self.transition.shape != (self.n_class, self.n_class) or self.class_prior.shape != (self.n_class,):
            raise ValueError("Model transition/class_prior arrays have the wrong shape.")

    def save(self, path: str | Path) -> tuple[Path, Path]:
        """Write ``NAME.npz`` and ``NAME.json``; return both paths."""
        stem = Path(path)
        stem = stem.with_suffix("") if stem.suffix in (".npz", ".json") else stem
        stem.parent.mkdir(parents=True, exist_ok=True)
        arrays = dict(self.trees)
        arrays.update(prior_mean=self.prior_mean, prior_var=self.prior_var, transition=self.transition,
                      class_prior=self.class_prior)
        if self.reference_features is not None and self.reference_proba is not None:
            arrays.update(reference_features=self.reference_features, reference_proba=self.reference_proba)
        for night, stages in self.cv_stages.items():
            arrays[f"cv_stages__{night}"] = np.asarray(stages, dtype=np.int8)
        npz = stem.with_suffix(".npz")
        np.savez_compressed(npz, **arrays)
        meta = dict(self.meta)
        meta.update(format=MODEL_FORMAT, n_class=self.n_class, feature_names=self.feature_names,
                    channels=self.channels, hmm_weight=self.hmm_weight)
        js = stem.with_suffix(".json")
        js.write_text(json.dumps(meta, indent=1))
        return npz, js

    def predict_raw(self, features: np.ndarray) -> np.ndarray:
        """Raw (pre-softmax) class scores, shape (n, n_class)."""
        x = np.asarray(features, dtype=np.float64)
        if x.ndim == 1:
            x = x[None, :]
        if x.ndim != 2 or x.shape[1] != self.n_features:
            raise ValueError(f"Expected features of shape (n, {self.n_features}), got {np.shape(features)}.")
        t = self.trees
        if x.shape[0] >= BATCH_MIN_ROWS:
            tables = self._bitvector_tables()
            if tables[3]:
                return _predict_raw_bitvector(np.ascontiguousarray(x.T), t["split_feature"], t["threshold"],
                                              tables[1], tables[0], tables[2], t["node_offset"], t["leaf_offset"],
                                              self.n_class, _DEBRUIJN_POS)
        return _predict_raw(np.ascontiguousarray(x), t["split_feature"], t["threshold"], t["left"], t["right"],
                            t["default_left"], t["missing_type"], t["leaf_value"], t["node_offset"],
                            t["leaf_offset"], self.n_class)

    def _bitvector_tables(self) -> tuple:
        """The QuickScorer tables of these trees (built once per model, ~3 ms)."""
        if self._bitvector is None:
            t = self.trees
            self._bitvector = _bitvector_tables(t["split_feature"], t["threshold"], t["left"], t["right"],
                                                t["default_left"], t["missing_type"], t["leaf_value"],
                                                t["node_offset"], t["leaf_offset"])
        return self._bitvector

    def predict_proba(self, features: np.ndarray) -> np.ndarray:
        """Class probabilities (Numba).

        Parameters
        ----------
        features : ndarray, shape (n, n_features) or (n_features,)

        Returns
        -------
        ndarray, shape (n, 5): P(W), P(N1), P(N2), P(N3), P(REM).
        """
        return _softmax_rows(self.predict_raw(features))


def trees_from_lightgbm_dump(dump: dict) -> tuple[dict[str, np.ndarray], int]:
    """Flatten LightGBM's ``Booster.dump_model()`` into the plain node arrays.

    Returns
    -------
    trees, n_class
    """
    n_class = int(dump.get("num_class", 1))
    if dump.get("feature_infos"):
        for name, info in dump["feature_infos"].items():
            if isinstance(info, dict) and info.get("values"):
                raise ValueError(f"Categorical feature {name!r} is not supported by the tree exporter.")
    sf: list[int] = []
    th: list[float] = []
    lc: list[int] = []
    rc: list[int] = []
    dl: list[bool] = []
    mt: list[int] = []
    lv: list[float] = []
    node_off = [0]
    leaf_off = [0]
    mtypes = {"None": MISSING_NONE, "Zero": MISSING_ZERO, "NaN": MISSING_NAN}
    for tree in dump["tree_info"]:
        root = tree["tree_structure"]
        base_n, base_l = len(sf), len(lv)
        if "leaf_value" in root and "split_index" not in root:
            lv.append(float(root["leaf_value"]))
            node_off.append(len(sf))
            leaf_off.append(len(lv))
            continue
        n_int = int(tree["num_leaves"]) - 1
        n_leaves = int(tree["num_leaves"])
        sf.extend([0] * n_int)
        th.extend([0.0] * n_int)
        lc.extend([0] * n_int)
        rc.extend([0] * n_int)
        dl.extend([False] * n_int)
        mt.extend([0] * n_int)
        lv.extend([0.0] * n_leaves)

        def child(node: dict) -> int:
            return int(node["split_index"]) if "split_index" in node else ~int(node["leaf_index"])

        stack = [root]
        while stack:
            nd = stack.pop()
            if "split_index" in nd:
                if nd.get("decision_type", "<=") != "<=":
                    raise ValueError(f"Unsupported LightGBM decision type {nd.get('decision_type')!r}.")
                i = base_n + int(nd["split_index"])
                sf[i] = int(nd["split_feature"])
                th[i] = float(nd["threshold"])
                dl[i] = bool(nd["default_left"])
                mt[i] = mtypes[str(nd.get("missing_type", "None"))]
                lc[i] = child(nd["left_child"])
                rc[i] = child(nd["right_child"])
                stack += [nd["left_child"], nd["right_child"]]
            else:
                lv[base_l + int(nd["leaf_index"])] = float(nd["leaf_value"])
        node_off.append(len(sf))
        leaf_off.append(len(lv))
    trees = {
        "split_feature": np.asarray(sf, dtype=np.int32),
        "threshold": np.asarray(th, dtype=np.float64),
        "left": np.asarray(lc, dtype=np.int32),
        "right": np.asarray(rc, dtype=np.int32),
        "default_left": np.asarray(dl, dtype=np.bool_),
        "missing_type": np.asarray(mt, dtype=np.int8),
        "leaf_value": np.asarray(lv, dtype=np.float64),
        "node_offset": np.asarray(node_off, dtype=np.int64),
        "leaf_offset": np.asarray(leaf_off, dtype=np.int64),
    }
    return trees, n_class
