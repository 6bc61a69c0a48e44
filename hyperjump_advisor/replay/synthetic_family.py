"""A seeded family of synthetic learning-curve tables whose regimes are dials (``--table synthetic:NAME``).

Each member is a :class:`Regime`: a full grid of ``dims`` numeric hyperparameters ``h0..`` with
``values`` equally spaced values in [0, 1], trained at geometric budget levels ``b_0 < ... < b_top``.
How a configuration x gets its losses (all noise from ``numpy.random.default_rng(seed)``):

1. **What the hyperparameters tell a model** (``smoothness`` s in [0, 1]): a latent full-budget score
   ``z = sqrt(s) * g(x) + sqrt(1 - s) * e_x``, with ``g`` a smooth function (a sum of quadratic bowls of
   random centres and weights plus one cosine interaction of h0 and h1), standardised over the grid, and
   ``e_x`` independent standard normal noise per configuration. s = 1: the loss is a smooth function of the
   hyperparameters; s = 0: pure noise (the best configuration is a needle only screening finds).
2. **How dense near-optimal configurations are** (``near_optimal``): the top-level loss is
   ``floor + spread * u ** k`` with ``u`` the configuration's rank of z in (0, 1) and
   ``k = log(0.01) / log(near_optimal)``, so about ``near_optimal`` of the grid lies within 1% regret.
3. **How well low budgets rank the full budget** (``low_correlation`` c): at level i the latent score is
   ``rho_i * z + sqrt(1 - rho_i^2) * n_x`` (``n_x`` standard normal, one per configuration, so each curve is
   consistent across levels) with ``rho_i = c ** ((log b_top - log b_i) / (log b_top - log b_0))``: c at the
   lowest level, 1 at the top. Ranks at level i follow that score (Spearman with the top about c).
4. **Late bloomers** (``late_bloomers`` f): a fraction f of the configurations that are better than the median
   at the top level get the mirrored score ``-z`` below the top: they look bad until the full budget.
5. **Curve shape** (``curve_gap``, ``curve_exponent`` a): every loss below the top is raised by
   ``curve_gap * ((b_i / b_top) ** -a - 1) / ((b_0 / b_top) ** -a - 1)`` (0 at the top, the full gap at the
   lowest level): a large a makes curves flatten early, a small one keeps them falling to the end.
6. **Cost** (``overhead``, ``rate``, ``rate_spread``): training x from scratch to budget b takes
   ``overhead + rate_x * b`` seconds with ``rate_x = rate * exp(rate_spread * (2 * h0 - 1))`` (h0 acts as a
   batch size: some configurations are cheaper per unit of budget). A large overhead makes low budgets costly.

``python -m hyperjump_advisor.replay.synthetic_family --out DIR [NAME ...]`` writes members as CSV tables in
the generic format (:mod:`.table_csv`, with the ``intermediate`` column); ``--measure`` prints what each
member measurably is (:func:`measure`). The bench builds them in memory from the same records.
"""
from __future__ import annotations

import argparse
import itertools
import math
import sys
from dataclasses import asdict, dataclass
from pathlib import Path
from typing import Optional

import numpy as np
from scipy import stats

from .table_csv import build_table, write_generic
from .tables import Table, TableError

PREFIX = "synthetic:"


@dataclass(frozen=True)
class Regime:
    name: str
    description: str
    dims: int = 4
    values: int = 5
    levels: tuple = (1, 3, 9, 27)
    smoothness: float = 0.8
    near_optimal: float = 0.01
    low_correlation: float = 0.7
    late_bloomers: float = 0.0
    curve_gap: float = 0.3
    curve_exponent: float = 0.5
    overhead: float = 5.0
    rate: float = 10.0
    rate_spread: float = 0.5
    floor: float = 0.05
    spread: float = 0.6
    seed: int = 0

    @property
    def configurations(self) -> int:
        return self.values ** self.dims


FAMILY: dict[str, Regime] = {r.name: r for r in (
    Regime("smooth", "benign: a smooth loss surface, low budgets rank well (Spearman ~0.85), cheap low budgets",
           dims=4, values=6, smoothness=0.9, low_correlation=0.85, seed=1),
    Regime("large-grid", "3,125 configurations in 5 dimensions, moderately smooth and informative low budgets",
           dims=5, values=5, smoothness=0.6, low_correlation=0.7, late_bloomers=0.05, seed=2),
    Regime("uninformative-low", "the lowest budget barely ranks the full budget (Spearman ~0.1): "
           "early stopping is guesswork", dims=4, values=5, smoothness=0.8, low_correlation=0.1, seed=3),
    Regime("needle", "low budgets rank well (Spearman ~0.95) but the loss is pure per-configuration noise: "
           "2,401 configurations, 5 of them within 1% regret, found only by screening many",
           dims=4, values=7, smoothness=0.0, near_optimal=0.001, low_correlation=0.95, seed=4),
    Regime("costly-low", "a large fixed overhead per trial: the lowest budget costs about half the full one",
           dims=4, values=5, smoothness=0.7, low_correlation=0.8, overhead=270.0, seed=5),
    Regime("late-bloomers", "30% of the better-than-median configurations look bad below the full budget",
           dims=4, values=5, smoothness=0.7, low_correlation=0.8, late_bloomers=0.3, seed=6),
    Regime("dense", "10% of the grid within 1% regret, mostly noise: random search's home ground",
           dims=4, values=5, smoothness=0.3, near_optimal=0.1, low_correlation=0.7, seed=7),
)}


# ---- the generator -------------------------------------------------------------------------------------
def grid(regime: Regime) -> np.ndarray:
    """configurations x dims, values equally spaced in [0, 1], in itertools.product order."""
    axis = np.linspace(0.0, 1.0, regime.values)
    return np.array(list(itertools.product(axis, repeat=regime.dims)))


def standardised(v: np.ndarray) -> np.ndarray:
    return (v - v.mean()) / v.std() if v.std() > 0 else np.zeros_like(v)


def smooth_function(x: np.ndarray, rng: np.random.Generator) -> np.ndarray:
    """Quadratic bowls of random centres and weights, plus a cosine interaction of h0 and h1; standardised."""
    centres = rng.uniform(0.15, 0.85, size=x.shape[1])
    weights = rng.exponential(1.0, size=x.shape[1])
    bowl = ((x - centres) ** 2 * weights).sum(axis=1)
    interaction = 0.3 * np.cos(2 * np.pi * (x[:, 0] + x[:, 1 % x.shape[1]]))
    return standardised(bowl + interaction)


def uniform_ranks(v: np.ndarray) -> np.ndarray:
    """Ranks of v mapped into (0, 1): (rank - 0.5) / n, ties averaged."""
    return (stats.rankdata(v) - 0.5) / v.size


def level_correlations(regime: Regime) -> np.ndarray:
    logs = np.log(np.asarray(regime.levels, dtype=float))
    span = logs[-1] - logs[0]
    return regime.low_correlation ** ((logs[-1] - logs) / span) if span > 0 else np.ones_like(logs)


def curve_offsets(regime: Regime) -> np.ndarray:
    b = np.asarray(regime.levels, dtype=float) / regime.levels[-1]
    a = regime.curve_exponent
    raised = b ** -a - 1.0
    return regime.curve_gap * raised / raised[0] if raised[0] > 0 else np.zeros_like(b)


def losses(regime: Regime) -> tuple[np.ndarray, np.ndarray]:
    """(configurations x dims grid, configurations x levels losses)."""
    check(regime)
    rng = np.random.default_rng(regime.seed)
    x = grid(regime)
    n = len(x)
    s = regime.smoothness
    z = math.sqrt(s) * smooth_function(x, rng) + math.sqrt(1 - s) * rng.standard_normal(n)
    k = math.log(0.01) / math.log(regime.near_optimal)
    top = regime.floor + regime.spread * uniform_ranks(z) ** k
    below = -z.copy()
    good = np.flatnonzero(z < np.median(z))
    bloomers = rng.choice(good, size=int(round(regime.late_bloomers * good.size)), replace=False)
    early = z.copy()
    early[bloomers] = below[bloomers]
    curve_noise = rng.standard_normal(n)
    out = np.empty((n, len(regime.levels)))
    offsets = curve_offsets(regime)
    for i, rho in enumerate(level_correlations(regime)):
        if i == len(regime.levels) - 1:
            out[:, i] = top
            continue
        score = rho * early + math.sqrt(max(0.0, 1 - rho ** 2)) * curve_noise
        out[:, i] = regime.floor + regime.spread * uniform_ranks(score) ** k + offsets[i]
    return x, out


def times(regime: Regime, x: np.ndarray) -> np.ndarray:
    """configurations x levels: seconds to train from scratch to each level."""
    rate = regime.rate * np.exp(regime.rate_spread * (2 * x[:, 0] - 1))
    return regime.overhead + rate[:, None] * np.asarray(regime.levels, dtype=float)[None, :]


def records(regime: Regime) -> tuple[list[str], list[dict]]:
    """(hyperparameter names, generic-format records with intermediate losses)."""
    x, loss = losses(regime)
    seconds = times(regime, x)
    names = [f"h{j}" for j in range(regime.dims)]
    out = []
    for c in range(len(x)):
        config = {h: round(float(v), 6) for h, v in zip(names, x[c])}
        for i, budget in enumerate(regime.levels):
            out.append({**config, "budget": budget, "loss": round(float(loss[c, i]), 6),
                        "time": round(float(seconds[c, i]), 3),
                        "intermediate": [round(float(v), 6) for v in loss[c, :i]]})
    return names, out


def check(regime: Regime) -> None:
    """Raise TableError naming the first field out of range."""
    def bad(field: str, allowed: str) -> TableError:
        return TableError(f"synthetic regime {regime.name!r}: {field} must be {allowed}, "
                          f"got {getattr(regime, field)!r}")
    if not 0 <= regime.smoothness <= 1:
        raise bad("smoothness", "in [0, 1]")
    if not 0 < regime.near_optimal < 1:
        raise bad("near_optimal", "in (0, 1)")
    if not 0 <= regime.low_correlation <= 1:
        raise bad("low_correlation", "in [0, 1]")
    if not 0 <= regime.late_bloomers <= 1:
        raise bad("late_bloomers", "in [0, 1]")
    if regime.dims < 1 or regime.values < 2:
        raise bad("dims" if regime.dims < 1 else "values", ">= 1 (dims) and >= 2 (values)")
    if len(regime.levels) < 2 or list(regime.levels) != sorted(set(regime.levels)) or regime.levels[0] <= 0:
        raise bad("levels", "at least two ascending positive budgets")
    if regime.overhead < 0 or regime.rate <= 0:
        raise bad("overhead" if regime.overhead < 0 else "rate", ">= 0 (overhead) and > 0 (rate)")


def member(name: str) -> Regime:
    if name not in FAMILY:
        raise TableError(f"unknown synthetic table {PREFIX}{name}; known: {', '.join(PREFIX + n for n in FAMILY)}")
    return FAMILY[name]


def build(regime: Regime, space: str = "auto") -> Table:
    names, rows = records(regime)
    return build_table(PREFIX + regime.name, names, rows, intermediate="column", description=regime.description,
                       space=space)


def write(regime: Regime, directory: str | Path) -> Path:
    path = Path(directory) / f"synthetic-{regime.name}.csv"
    names, rows = records(regime)
    write_generic(path, names, rows)
    return path


# ---- what a member measurably is -----------------------------------------------------------------------
def measure(regime: Regime) -> dict:
    """Measured regime: Spearman of each level with the top, R^2 of a quadratic model of the top-level normal
    scores on the hyperparameters, share of the grid within 1% regret, share of the top decile ranked in the
    worse half at the lowest level (late bloomers), and the cost of the lowest level relative to the top."""
    x, loss = losses(regime)
    seconds = times(regime, x)
    top = loss[:, -1]
    spearman = [float(stats.spearmanr(loss[:, i], top).statistic) for i in range(loss.shape[1] - 1)]
    scores = stats.norm.ppf(uniform_ranks(top))
    features = np.hstack([np.ones((len(x), 1)), x, x ** 2])
    fitted = features @ np.linalg.lstsq(features, scores, rcond=None)[0]
    r2 = 1 - ((scores - fitted) ** 2).sum() / ((scores - scores.mean()) ** 2).sum()
    regret = (top - top.min()) / (top.max() - top.min())
    decile = top <= np.quantile(top, 0.1)
    worse_half_low = loss[:, 0] > np.median(loss[:, 0])
    return {"configurations": len(x), "dims": regime.dims, "spearman_low_top": spearman[0],
            "spearman_by_level": spearman, "quadratic_r2": float(r2),
            "within_1pct": float((regret <= 0.01).mean()),
            "late_share_top_decile": float(worse_half_low[decile].mean()),
            "low_cost_ratio": float(np.median(seconds[:, 0] / seconds[:, -1]))}


def main(argv: Optional[list[str]] = None) -> int:
    p = argparse.ArgumentParser(prog="python -m hyperjump_advisor.replay.synthetic_family",
                                description="Write the synthetic family's tables as generic CSV files.")
    p.add_argument("names", nargs="*", help=f"members (default all: {', '.join(FAMILY)})")
    p.add_argument("--out", help="folder for synthetic-NAME.csv")
    p.add_argument("--measure", action="store_true", help="print each member's parameters and measured regime")
    args = p.parse_args(argv)
    try:
        regimes = [member(n) for n in (args.names or FAMILY)]
    except TableError as error:
        print(f"error: {error}", file=sys.stderr)
        return 2
    if not args.out and not args.measure:
        p.error("give --out DIR (write the CSVs) and/or --measure")
    for regime in regimes:
        if args.out:
            Path(args.out).mkdir(parents=True, exist_ok=True)
            print(write(regime, args.out))
        if args.measure:
            m = measure(regime)
            params = {k: v for k, v in asdict(regime).items() if k not in ("name", "description")}
            print(f"{PREFIX}{regime.name}: {regime.description}\n  parameters: {params}\n  measured: "
                  + ", ".join(f"{k}={[round(v, 3) for v in m[k]] if isinstance(m[k], list) else round(m[k], 3)}"
                              for k in m))
    return 0


if __name__ == "__main__":
    sys.exit(main())
