"""The last ``workload_diagnostics`` audit event as a short section (every field optional).

Fields: ``rank_correlation`` (list of {low_budget, high_budget, n, spearman, ci_low, ci_high}),
``cost_per_budget`` (list of {budget, n, median_seconds}), ``calibration`` ({n, coverage_90}),
``brackets`` (learned_brackets: list of {bracket, start_budget, seconds_per_start, samples_per_hour, share}),
``time`` (seconds since the start).
"""
from __future__ import annotations

from typing import Any, Optional


def _number(value: Any, digits: int = 3) -> str:
    return f"{value:.{digits}g}" if isinstance(value, (int, float)) and not isinstance(value, bool) else "?"


def _rows(value: Any) -> list[dict]:
    return [row for row in value if isinstance(row, dict)] if isinstance(value, list) else []


def rank_lines(rows: list[dict]) -> list[str]:
    lines = []
    for row in rows:
        interval = ""
        if "ci_low" in row or "ci_high" in row:
            interval = f" [{_number(row.get('ci_low'))}, {_number(row.get('ci_high'))}]"
        lines.append(f"    budget {_number(row.get('low_budget'))} -> {_number(row.get('high_budget'))}: "
                     f"{_number(row.get('spearman'))}{interval} (n={row.get('n', '?')})")
    return lines


def cost_text(rows: list[dict]) -> str:
    return "; ".join(f"budget {_number(row.get('budget'))}: {_number(row.get('median_seconds'))} s "
                     f"(n={row.get('n', '?')})" for row in rows)


def bracket_lines(rows: list[dict]) -> list[str]:
    lines = []
    for row in rows:
        worth = row.get("samples_per_hour")
        said = f"{_number(worth)} per hour" if worth is not None else "not measured yet"
        share = row.get("share")
        lines.append(f"    from budget {_number(row.get('start_budget'))}: "
                     f"{_number(100 * share, 3) if isinstance(share, (int, float)) else '?'}% of the seconds, "
                     f"{_number(row.get('seconds_per_start'))} s per start, worth {said}")
    return lines


def diagnostics_lines(event: Optional[dict]) -> list[str]:
    """The section's lines, [] when there is no event."""
    if not isinstance(event, dict):
        return []
    when = event.get("time")
    lines = ["Workload diagnostics" + (f" (at {_number(when, 4)} s):" if isinstance(when, (int, float)) else ":")]
    ranks = _rows(event.get("rank_correlation"))
    if ranks:
        lines.append("  rank correlation of results between budgets (Spearman, 95% interval):")
        lines += rank_lines(ranks)
    costs = _rows(event.get("cost_per_budget"))
    if costs:
        lines.append(f"  median trial time per budget: {cost_text(costs)}")
    calibration = event.get("calibration")
    if isinstance(calibration, dict):
        lines.append(f"  calibration: the model's 90% intervals held {_number(calibration.get('coverage_90'))} of "
                     f"n={calibration.get('n', '?')} results")
    brackets = _rows(event.get("brackets"))
    if brackets:
        lines.append("  where new configurations start (learned_brackets: share of the seconds, from the seconds a "
                     "start costs and what it is worth in random configurations trained at the top budget):")
        lines += bracket_lines(brackets)
    if len(lines) == 1:
        lines.append("  (no fields recorded)")
    return lines
