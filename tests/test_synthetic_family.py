"""The synthetic table family: each member measurably has the regime it claims, each dial moves what it
names (rank correlation against the Gaussian-copula value, density of near-optimal configurations, how
much the hyperparameters explain), the CSV it writes is the table the bench loads, and bad dials are named."""
from __future__ import annotations

import dataclasses
import math

import numpy as np
import pytest

from hyperjump_advisor.replay import synthetic_family as sf
from hyperjump_advisor.replay.shared_tables import load_table
from hyperjump_advisor.replay.table_csv import load_generic
from hyperjump_advisor.replay.tables import TableError, resolve_R_eta

MEASURED = {name: sf.measure(regime) for name, regime in sf.FAMILY.items()}


def test_the_family_has_at_least_six_members_spanning_the_regimes():
    assert len(sf.FAMILY) >= 6
    large = MEASURED["large-grid"]
    assert large["configurations"] > 2000 and large["dims"] >= 5
    assert MEASURED["uninformative-low"]["spearman_low_top"] < 0.2
    needle = MEASURED["needle"]
    assert needle["spearman_low_top"] > 0.9, "low budgets rank well"
    assert needle["quadratic_r2"] < 0.02, "the hyperparameters tell a model almost nothing"
    assert needle["within_1pct"] < 0.005 and needle["configurations"] > 2000, "a needle among many"
    smooth = MEASURED["smooth"]
    assert smooth["quadratic_r2"] > 0.5 and smooth["spearman_low_top"] > 0.75
    assert MEASURED["costly-low"]["low_cost_ratio"] > 0.4
    assert all(m["low_cost_ratio"] < 0.1 for n, m in MEASURED.items() if n != "costly-low")
    assert MEASURED["late-bloomers"]["late_share_top_decile"] > 0.25 > MEASURED["smooth"]["late_share_top_decile"]
    assert MEASURED["dense"]["within_1pct"] > 0.08 > MEASURED["smooth"]["within_1pct"]


@pytest.mark.parametrize("c", [0.2, 0.5, 0.9])
def test_low_correlation_is_the_spearman_of_a_gaussian_copula(c):
    """Spearman of two standard normals with Pearson rho is (6 / pi) asin(rho / 2)."""
    regime = sf.Regime("dial", "", dims=4, values=7, low_correlation=c, seed=11)
    expected = 6 / math.pi * math.asin(c / 2)
    assert sf.measure(regime)["spearman_low_top"] == pytest.approx(expected, abs=0.06)


def test_smoothness_dials_from_smooth_to_pure_noise():
    r2 = [sf.measure(sf.Regime("dial", "", smoothness=s, seed=5))["quadratic_r2"] for s in (0.0, 0.5, 1.0)]
    assert r2[0] < 0.03 < r2[1] < r2[2]


@pytest.mark.parametrize("fraction", [0.003, 0.05, 0.2])
def test_near_optimal_sets_the_share_within_one_percent(fraction):
    share = sf.measure(sf.Regime("dial", "", dims=4, values=7, near_optimal=fraction, seed=2))["within_1pct"]
    assert share == pytest.approx(fraction, rel=0.35, abs=0.002)


def test_time_is_overhead_plus_rate_times_budget_and_levels_are_geometric():
    regime = sf.FAMILY["costly-low"]
    table = load_table("synthetic:costly-low")
    assert table.levels == [float(b) for b in regime.levels] and table.eta == 3 and table.is_full_grid
    assert resolve_R_eta(table).R == 27
    for key, config in list(table.configs.items())[:20]:
        rate = regime.rate * math.exp(regime.rate_spread * (2 * config["h0"] - 1))
        for level, budget in enumerate(regime.levels):
            assert table.rows[(key, level)].time == pytest.approx(regime.overhead + rate * budget, abs=1e-3)


def test_the_csv_is_the_table_the_bench_builds(tmp_path):
    regime = sf.FAMILY["late-bloomers"]
    written = load_generic(sf.write(regime, tmp_path))
    built = load_table("synthetic:late-bloomers")
    assert written.rows == built.rows and written.levels == built.levels and written.values == built.values
    top = len(regime.levels) - 1
    row = built.rows[(next(iter(built.configs)), top)]
    assert [level for level, _ in row.intermediate] == list(range(top)), "every smaller level reported on the way"
    _, again = sf.losses(regime)
    assert np.array_equal(again, sf.losses(regime)[1]), "seeded"


@pytest.mark.parametrize("field, value", [("smoothness", 1.5), ("near_optimal", 0.0), ("low_correlation", -0.1),
                                          ("late_bloomers", 2.0), ("levels", (3, 1)), ("rate", 0.0)])
def test_a_bad_dial_is_named(field, value):
    with pytest.raises(TableError, match=field):
        sf.losses(dataclasses.replace(sf.FAMILY["smooth"], **{field: value}))


def test_unknown_member_names_the_known_ones():
    with pytest.raises(TableError, match="synthetic:needle"):
        load_table("synthetic:needel")


def test_cli_writes_and_measures(tmp_path, capsys):
    assert sf.main(["dense", "--out", str(tmp_path), "--measure"]) == 0
    out = capsys.readouterr().out
    assert (tmp_path / "synthetic-dense.csv").is_file() and "within_1pct=" in out
    assert sf.main(["nope", "--measure"]) == 2
