"""Cost of the multi-fidelity GP (hyperjump_advisor.model) at 100, 500, 1000 observations.

Usage: python benchmarks/bench_model.py [--repeats N] [--refit-repeats M] [--sizes 100 500 1000]

Prints a markdown table (milliseconds, median / p95 over repeats):
  update+predict81 : add one observation, then predict 81 configs at one budget
                     (the posterior update happens lazily inside predict);
  predict_joint5   : predict_joint of 81 configs at 5 budgets;
  refit            : a policy-triggered refit (hyperparameter optimisation warm-started
                     from a fit at 0.8 n, plus the O(n^3) posterior rebuild);
  refit/obs        : refit median divided by the observations between two refits
                     (n * (refit_growth - 1)), i.e. its amortised cost per observation;
  trim             : update+predict when the cap forces a rebuild (n > max_points + slack).
Synthetic loss: loss(x, b) = f(x) + g(x) (1 - b)^2 + noise, f and g known, d = 4,
budgets drawn with Hyperband's proportions for R = 81, eta = 3.
"""

from __future__ import annotations

import argparse
import os
import sys
import time

import numpy as np

sys.path.insert(0, os.path.join(os.path.dirname(os.path.abspath(__file__)), ".."))
from hyperjump_advisor.model import MultiFidelityGP  # noqa: E402

D = 4
BUDGETS = np.array([1, 3, 9, 27, 81]) / 81.0
WEIGHTS = np.array([81 + 27 + 9 + 6 + 5, 27 + 9 + 3 + 3, 9 + 3 + 1, 3 + 1, 1 + 1 + 1 + 1 + 1], float)


def true_f(X: np.ndarray) -> np.ndarray:
    return np.sum((X - 0.3) ** 2, axis=1) + 0.1 * np.sin(6 * X[:, 0])


def loss(X: np.ndarray, b: np.ndarray, rng: np.random.Generator) -> np.ndarray:
    g = 0.5 + X[:, 1]  # config-dependent decay amplitude
    return true_f(X) + g * (1 - b) ** 2 + 0.01 * rng.standard_normal(len(b))


def sample(n: int, rng: np.random.Generator) -> tuple[np.ndarray, np.ndarray, np.ndarray]:
    X = rng.random((n, D))
    b = rng.choice(BUDGETS, size=n, p=WEIGHTS / WEIGHTS.sum())
    return X, b, loss(X, b, rng)


def stats(ts: list[float]) -> tuple[float, float]:
    a = np.asarray(ts) * 1e3
    return float(np.median(a)), float(np.percentile(a, 95))


def bench(n: int, repeats: int, refit_repeats: int, seed: int) -> dict[str, tuple[float, float]]:
    rng = np.random.default_rng(seed)
    out: dict[str, tuple[float, float]] = {}

    # Refit: model fitted at 0.8 n, then n - 0.8 n new points trigger the policy refit.
    ts = []
    for r in range(refit_repeats):
        gp = MultiFidelityGP(D, D + 2, seed=r)
        gp.add_observations(*sample(int(0.8 * n), rng))
        gp.fit()
        gp.add_observations(*sample(n - int(0.8 * n), rng))
        k = gp.n_hyperopts
        t = time.perf_counter()
        gp.fit()
        ts.append(time.perf_counter() - t)
        assert gp.n_hyperopts == k + 1
    out["refit"] = stats(ts)
    out["refit/obs"] = (out["refit"][0] / (n * (gp.refit_growth - 1)), float("nan"))

    # Posterior-only updates: hyperparameters kept (refit excluded from these columns).
    gp = MultiFidelityGP(D, D + 2, seed=seed, refit_growth=1e9)
    gp.add_observations(*sample(n, rng))
    gp.fit()
    cand = rng.random((81, D))
    ts, tj = [], []
    for _ in range(repeats):
        x, b, y = sample(1, rng)
        t = time.perf_counter()
        gp.add_observations(x, b, y)
        mu, sd = gp.predict(cand, 1 / 27)
        ts.append(time.perf_counter() - t)
        assert np.all(np.isfinite(mu)) and np.all(sd > 0)
        t = time.perf_counter()
        gp.predict_joint(cand, list(BUDGETS[1:][::-1]) + [1 / 81])
        tj.append(time.perf_counter() - t)
    out["update+predict81"] = stats(ts)
    out["predict_joint5"] = stats(tj)

    # Cap: one update that crosses max_points + trim_slack (only meaningful near the cap).
    if n >= gp.max_points:
        tt = []
        for _ in range(max(1, refit_repeats)):
            gp.add_observations(*sample(gp.max_points + gp.trim_slack + 1 - len(gp._active) - len(gp._pending), rng))
            gp.predict(cand, 1 / 27)
            x, b, y = sample(gp.trim_slack + 1, rng)
            gp.add_observations(x, b, y)
            t = time.perf_counter()
            gp.predict(cand, 1 / 27)
            tt.append(time.perf_counter() - t)
        out["trim"] = stats(tt)
    return out


def main() -> None:
    ap = argparse.ArgumentParser(description=__doc__.splitlines()[0])
    ap.add_argument("--repeats", type=int, default=50)
    ap.add_argument("--refit-repeats", type=int, default=5)
    ap.add_argument("--sizes", type=int, nargs="+", default=[100, 500, 1000])
    ap.add_argument("--seed", type=int, default=0)
    args = ap.parse_args()
    cols = ["update+predict81", "predict_joint5", "refit", "refit/obs", "trim"]
    print(f"MultiFidelityGP cost, d={D}, {os.cpu_count()} CPUs, repeats={args.repeats}, "
          f"refit repeats={args.refit_repeats}; ms, median / p95\n")
    print("| observations | " + " | ".join(cols) + " |")
    print("|---:|" + "---:|" * len(cols))
    for n in args.sizes:
        res = bench(n, args.repeats, args.refit_repeats, args.seed)
        cells = []
        for c in cols:
            if c not in res:
                cells.append("-")
            elif np.isnan(res[c][1]):
                cells.append(f"{res[c][0]:.2f}")
            else:
                cells.append(f"{res[c][0]:.1f} / {res[c][1]:.1f}")
        print(f"| {n} | " + " | ".join(cells) + " |", flush=True)


if __name__ == "__main__":
    main()
