"""Calibrate the sleeper (the night generator) against the real Sleep-EDF Fpz-Cz features.

Two jobs:

1. ``--write``: read ``shared/datasets/sleep-edf`` (features/*.npz columns 0-8 = the 9 base
   features of EEG Fpz-Cz, labels ``y``, sleep period +-30 min from nights.json) and write
   per-stage statistics to ``src/dreamband/signal/data/sleeper_calibration.json``:

   * ``stages``: mean, std, 5th/50th/95th percentiles of the 9 base features per stage (what the
     tests compare the generated night with);
   * ``generator``: per stage, the mean and covariance of ``ln`` band power (µV²/Hz, the 5 bands)
     and ``ln`` variance (µV²), recovered from the features as ``exp(f) - 1e-10``, and the
     lag-1 autocorrelation of consecutive same-stage epochs (what the generator draws from).

   Only statistics are stored, never the data.

2. Always: generate a night (``--hours``, ``--seed``) and print, per stage, the generated
   features next to the real ones, the share of generated epochs inside the real 5-95 %
   range, and the generation time of the night.

Run from the repository root::

    python benchmarks/sleeper_calibration.py --write          # recompute the stored stats
    python benchmarks/sleeper_calibration.py --hours 8 --seed 1
"""

from __future__ import annotations

import argparse
import json
import sys
import time
from pathlib import Path

import numpy as np

REPO = Path(__file__).resolve().parents[1]
DEFAULT_SHARED = REPO.parent / "shared" / "datasets" / "sleep-edf"
OUT = REPO / "src" / "dreamband" / "signal" / "data" / "sleeper_calibration.json"
FEATURE_NAMES = [
    "delta", "theta", "alpha", "beta", "gamma", "theta_alpha", "alpha_delta",
    "hjorth_activity", "hjorth_mobility",
]
STAGES = ["W", "N1", "N2", "N3", "REM"]
EPS = 1e-10
UV2_PER_V2 = 1e12


def load_real(folder: Path) -> tuple[np.ndarray, np.ndarray, np.ndarray, np.ndarray]:
    """Return (X (n, 9), y (n,), epoch index (n,), night number (n,)) inside the sleep periods."""
    folder = Path(folder)
    if not (folder / "nights.json").is_file():
        raise FileNotFoundError(f"{folder} has no nights.json; pass --data shared/datasets/sleep-edf.")
    nights = json.loads((folder / "nights.json").read_text())
    index = np.load(folder / "features_epoch_index.npz")
    xs, ys, es, ns = [], [], [], []
    for k, night in enumerate(nights):
        name = night["night"]
        with np.load(folder / "features" / f"{name}.npz") as f:
            X, y = f["X"], f["y"]
        ep = index[name].astype(np.int64)
        lo, hi = night["sleep_period_pm30min"]
        keep = (ep >= lo) & (ep < hi) & (y >= 0)
        xs.append(X[keep, :9])
        ys.append(y[keep])
        es.append(ep[keep])
        ns.append(np.full(int(keep.sum()), k))
    return np.concatenate(xs), np.concatenate(ys), np.concatenate(es), np.concatenate(ns)


def _log_powers(X: np.ndarray) -> np.ndarray:
    """ln µV²/Hz of the 5 bands and ln µV² of the variance, from the stored log features."""
    cols = X[:, [0, 1, 2, 3, 4, 7]]
    lin = np.maximum(np.exp(cols) - EPS, 1e-16) * UV2_PER_V2
    return np.log(lin)


def compute_stats(folder: Path) -> dict:
    """Per-stage statistics of the real features (and the generator's draw parameters)."""
    X, y, ep, night = load_real(folder)
    L = _log_powers(X)
    stages: dict[str, dict] = {}
    gen: dict[str, dict] = {}
    for code, name in enumerate(STAGES):
        m = y == code
        Z = X[m]
        stages[name] = {
            "n_epochs": int(m.sum()),
            "mean": Z.mean(0).tolist(),
            "std": Z.std(0).tolist(),
            "p5": np.percentile(Z, 5, axis=0).tolist(),
            "p50": np.percentile(Z, 50, axis=0).tolist(),
            "p95": np.percentile(Z, 95, axis=0).tolist(),
        }
        Lz = L[m]
        mu = Lz.mean(0)
        cov = np.cov(Lz, rowvar=False)
        # between nights: covariance of the per-night stage means (nights with >= 10 such epochs);
        # within nights: covariance of the deviations from the night's stage mean
        night_mean = np.full_like(L, np.nan)
        means = []
        for k in np.unique(night):
            mk = m & (night == k)
            if mk.sum() >= 10:
                night_mean[mk] = L[mk].mean(0)
                means.append(L[mk].mean(0))
        between = np.cov(np.array(means), rowvar=False)
        resid = L - night_mean
        keep = m & np.isfinite(resid[:, 0])
        within = np.cov(resid[keep], rowvar=False)
        # lag-1 autocorrelation of the within-night deviations over consecutive same-stage epochs
        zs = resid / np.sqrt(np.diag(within))
        pair = keep[:-1] & keep[1:] & (ep[1:] == ep[:-1] + 1) & (night[1:] == night[:-1])
        a, b = zs[:-1][pair], zs[1:][pair]
        rho = float(np.mean([np.corrcoef(a[:, j], b[:, j])[0, 1] for j in range(L.shape[1])]))
        gen[name] = {
            "mean": mu.tolist(),
            "cov": cov.tolist(),
            "between_night_cov": between.tolist(),
            "within_night_cov": within.tolist(),
            "n_nights": len(means),
            "mobility_mean": float(Z[:, 8].mean()),
            "lag1_autocorr": rho,
        }
    return {
        "description": (
            "Per-stage statistics of the real Sleep-EDF (sleep-cassette) EEG Fpz-Cz base features, "
            "sleep period +-30 min, computed by benchmarks/sleeper_calibration.py --write. "
            "No data, only statistics."
        ),
        "source": "shared/datasets/sleep-edf features/*.npz columns 0-8, labels y (16 nights, 8 subjects)",
        "recipe": (
            "volts at 100 Hz, 30-s epochs; log(mean(welch(fs=100, nperseg=256) PSD in band) + 1e-10) "
            "for 0.5-4, 4-8, 8-13, 13-30, 30-50 Hz; theta/alpha and alpha/delta ratios of the logs; "
            "log(var + 1e-10); sqrt(var(diff)/(var + 1e-10))"
        ),
        "feature_names": FEATURE_NAMES,
        "stage_names": STAGES,
        "stages": stages,
        "generator": {
            "description": (
                "ln band power in uV^2/Hz (delta, theta, alpha, beta, gamma) and ln variance in uV^2 "
                "per epoch, recovered as exp(feature) - 1e-10: mean, covariance (total, between nights "
                "= of the per-night stage means, within nights = around them) and the lag-1 "
                "autocorrelation of the within-night deviations of consecutive same-stage epochs."
            ),
            "names": ["delta", "theta", "alpha", "beta", "gamma", "variance"],
            "stages": gen,
        },
    }


def generated_features(night, channel: int = 0) -> np.ndarray:
    """The 9 base features of every 30-s epoch of one channel of a generated night."""
    from fractions import Fraction

    from scipy.signal import resample_poly

    frac = Fraction(100.0 / night.sfreq).limit_denominator(1000)
    x = resample_poly(night.data[channel] * 1e-6, frac.numerator, frac.denominator)
    n_ep = len(night.hypnogram)
    epochs = x[: n_ep * 3000].reshape(n_ep, 3000)
    try:
        from dreamband.signal.features import base_features_reference as feat
    except ImportError:  # engineer B's module not there yet
        feat = _features_scipy
    return np.array([feat(e) for e in epochs])


def _features_scipy(x: np.ndarray) -> np.ndarray:
    from scipy.signal import welch

    f, p = welch(x, fs=100, nperseg=256)
    bands = [(0.5, 4), (4, 8), (8, 13), (13, 30), (30, 50)]
    lp = [np.log(np.mean(p[(f >= lo) & (f <= hi)]) + EPS) for lo, hi in bands]
    var = np.var(x)
    return np.array(lp + [lp[1] / (lp[2] + EPS), lp[2] / (lp[0] + EPS), np.log(var + EPS),
                          np.sqrt(np.var(np.diff(x)) / (var + EPS))])


def compare(stats: dict, feats: np.ndarray, hyp: np.ndarray) -> None:
    """Print generated vs real per stage."""
    for code, name in enumerate(STAGES):
        m = hyp == code
        if not m.any():
            continue
        real = stats["stages"][name]
        g = feats[m]
        p5, p95 = np.array(real["p5"]), np.array(real["p95"])
        inside = ((g >= p5) & (g <= p95)).mean(0)
        print(f"\n{name}: {m.sum()} generated epochs vs {real['n_epochs']} real")
        print(f"  {'feature':16s} {'real mean':>10s} {'real sd':>8s} {'gen mean':>10s} {'gen sd':>8s} "
              f"{'z(mean)':>8s} {'in p5-p95':>9s}")
        for j, fn in enumerate(FEATURE_NAMES):
            z = (g[:, j].mean() - real["mean"][j]) / max(real["std"][j], 1e-12)
            print(f"  {fn:16s} {real['mean'][j]:10.4f} {real['std'][j]:8.4f} {g[:, j].mean():10.4f} "
                  f"{g[:, j].std():8.4f} {z:8.2f} {inside[j]:9.0%}")


def cohen_kappa(a: np.ndarray, b: np.ndarray, n_classes: int = 5) -> float:
    """Cohen's kappa of two label arrays."""
    cm = np.zeros((n_classes, n_classes))
    np.add.at(cm, (a, b), 1)
    n = cm.sum()
    po = np.trace(cm) / n
    pe = float(np.sum(cm.sum(0) * cm.sum(1))) / n**2
    return float((po - pe) / (1 - pe)) if pe < 1 else 1.0


def stager_agreement(seeds: list[int], hours: float, sfreq: float) -> None:
    """Stage generated nights with the shipped stager (causal, epoch by epoch) and print agreement."""
    from dreamband.signal.epochs import EpochBuffer
    from dreamband.signal.quality import assess_epoch
    from dreamband.signal.simulate import simulate_night
    from dreamband.signal.stager import Stager, warmup

    warmup()
    all_true, all_pred = [], []
    for seed in seeds:
        night = simulate_night(hours, sfreq, seed=seed)
        buf = EpochBuffer(night.sfreq, night.data.shape[0])
        stager = Stager()
        pred = []
        step = int(10 * night.sfreq)
        for i in range(0, night.n_samples, step):
            for ep in buf.push(night.data[:, i:i + step]):
                q = assess_epoch(ep.data_uv, night.sfreq, night.channel_names)
                pred.append(stager.stage(ep.staging_v[:1], quality=q).stage)
        pred = np.array(pred)
        true = night.hypnogram[: len(pred)].astype(int)
        ok = pred >= 0
        acc = float(np.mean(pred[ok] == true[ok]))
        print(f"stager vs truth, seed {seed}: accuracy {acc:.3f}, kappa {cohen_kappa(true[ok], pred[ok]):.3f}, "
              f"{int((~ok).sum())} of {len(pred)} epochs unstaged")
        all_true.append(true[ok])
        all_pred.append(pred[ok])
    t, p = np.concatenate(all_true), np.concatenate(all_pred)
    cm = np.zeros((5, 5), int)
    np.add.at(cm, (t, p), 1)
    print(f"all {len(seeds)} nights: accuracy {np.mean(t == p):.3f}, kappa {cohen_kappa(t, p):.3f}")
    print("confusion (rows true, columns staged):  " + "  ".join(f"{s:>4s}" for s in STAGES))
    for i, s in enumerate(STAGES):
        recall = cm[i, i] / max(cm[i].sum(), 1)
        print(f"  {s:4s} " + "  ".join(f"{v:4d}" for v in cm[i]) + f"   recall {recall:.2f}")


def main(argv: list[str] | None = None) -> int:
    p = argparse.ArgumentParser(description=__doc__.split("\n\n")[0])
    p.add_argument("--data", type=Path, default=DEFAULT_SHARED, help="shared/datasets/sleep-edf folder")
    p.add_argument("--write", action="store_true", help="recompute and write the stored statistics")
    p.add_argument("--hours", type=float, default=8.0)
    p.add_argument("--seed", type=int, default=1)
    p.add_argument("--sfreq", type=float, default=250.0)
    p.add_argument("--nights", type=int, default=4, help="generated nights pooled in the comparison")
    p.add_argument("--stager", type=int, default=0, metavar="N",
                   help="also stage N generated nights (seeds 1..N) with the shipped stager and print agreement")
    args = p.parse_args(argv)
    if args.write:
        stats = compute_stats(args.data)
        OUT.parent.mkdir(parents=True, exist_ok=True)
        OUT.write_text(json.dumps(stats, indent=1) + "\n")
        print(f"wrote {OUT.relative_to(REPO)}")
    stats = json.loads(OUT.read_text())

    from dreamband.signal.simulate import simulate_night

    simulate_night(0.5, args.sfreq, seed=0)  # warm up
    times = []
    for _ in range(3):
        t0 = time.perf_counter()
        night = simulate_night(args.hours, args.sfreq, seed=args.seed)
        times.append(time.perf_counter() - t0)
    print(f"generation: {args.hours:g} h, {night.data.shape[0]} channels at {args.sfreq:g} Hz: "
          f"median {np.median(times):.2f} s over {len(times)} runs")
    counts = {STAGES[c]: int((night.hypnogram == c).sum()) for c in range(5)}
    print(f"hypnogram (epochs): {counts}; events: {len(night.events)}")
    feats, hyps = [], []
    n_art = 0
    for seed in range(args.seed, args.seed + args.nights):
        night = simulate_night(args.hours, args.sfreq, seed=seed)
        feats.append(generated_features(night, 0))
        hyp = night.hypnogram.copy()
        # like Sleep-EDF, which dropped its "Movement time" epochs: leave out epochs with an artefact
        for e in night.events:
            if e.kind in ("movement", "electrode_pop", "line_noise", "headband_off"):
                first, last = int(e.onset_s // 30), int((e.onset_s + e.duration_s) // 30)
                n_art += int(np.sum(hyp[first:last + 1] >= 0))
                hyp[first:last + 1] = -1
        hyps.append(hyp)
    print(f"\nfeatures of {args.nights} generated nights (seeds {args.seed}..{args.seed + args.nights - 1}, "
          f"{n_art} epochs with an artefact left out) vs the real Sleep-EDF Fpz-Cz epochs:")
    compare(stats, np.concatenate(feats), np.concatenate(hyps))
    if args.stager:
        print()
        stager_agreement(list(range(1, args.stager + 1)), args.hours, args.sfreq)
    return 0


if __name__ == "__main__":
    sys.exit(main())
