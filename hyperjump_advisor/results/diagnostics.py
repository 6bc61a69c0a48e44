"""The last ``workload_diagnostics`` audit event as a short section (every field optional).

Fields: ``rank_correlation`` (list of {low_budget, high_budget, n, spearman, ci_low, ci_high}),
``cost_per_budget`` (list of {budget, n, median_seconds}), ``calibration`` ({n, coverage_90}),
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


def diagnostics_lines(event: Optional[dict]) -> list[str]:
    """The section's lines, [] when there is no event."""
    if not isinstance(event, dict):
        return []
    when = event.get("time")
    lines = ["Workload diagnostics" + (f" (at {_number(when, 4)} s):" if isinstance(when, (int, float)) else ":")]
    ranks = _rows(event.get("rank_correlation"))
    if ranks:
        lines.append("  rank correlation of results between budgets (Spearman, 90% interval):")
        lines += rank_lines(ranks)
    costs = _rows(event.get("cost_per_budget"))
    if costs:
        lines.append(f"  median trial time per budget: {cost_text(costs)}")
    calibration = event.get("calibration")
    if isinstance(calibration, dict):
        lines.append(f"  calibration: the model's 90% intervals held {_number(calibration.get('coverage_90'))} of "
                     f"n={calibration.get('n', '?')} results")
    if len(lines) == 1:
        lines.append("  (no fields recorded)")
    return lines
