"""The schedule as it happened: every promotion, jump and stop of the audit in one shape, and the rungs.

The audit names moves differently per mode: ``successive_halving`` and ``jump`` (synchronous brackets);
``asha``, ``challenger``, ``async_jump`` (with the ``async_jump_risk`` event before it) and ``rung_stop``
(``exec_mode: async``). :func:`moves_of` reads them all into :class:`Move`; the counts of every output
come from :func:`move_counts`, so the text, JSON, CSV and HTML cannot disagree.
"""
from __future__ import annotations

from dataclasses import dataclass, field
from typing import Any, Optional

PLAIN_KINDS = ("successive_halving", "asha", "challenger")
JUMP_KINDS = ("jump", "async_jump")
STOP_KINDS = ("rung_stop",)
RULE_NAMES = {"successive_halving": "successive halving", "asha": "ASHA's top 1/eta",
              "challenger": "challenger (its rung's best, beats the incumbent)", "jump": "HyperJump",
              "async_jump": "HyperJump"}


@dataclass(frozen=True)
class Move:
    """One promotion, jump past rungs (or stages) or stop, as the audit recorded it."""
    kind: str                      # "promotion", "jump" or "stop"
    rule: str                      # what let it out: asha, challenger, successive_halving, jump, rung_stop
    time: Optional[float]
    bracket: Any
    stage: Any
    to_stage: Any
    from_budget: Any
    to_budget: Any
    kept: list = field(default_factory=list)
    discarded: list = field(default_factory=list)
    rear: list = field(default_factory=list)            # per skipped rung/stage (jump), per hop (stop)
    skipped_budgets: list = field(default_factory=list)  # the budgets a jump skipped
    rejected_rear: Optional[float] = None                # the first rung/hop over the threshold, if weighed
    threshold: Any = None
    finishes_bracket: bool = False

    def as_dict(self) -> dict[str, Any]:
        return dict(self.__dict__)


def _floats(values: Any) -> list:
    return [v for v in (values or []) if isinstance(v, (int, float))]


def _async_jump(event: dict, risk: Optional[dict]) -> dict[str, Any]:
    """rEAR per skipped rung and the rejected one, from the ``async_jump_risk`` event before the jump."""
    if risk is None:
        return {}
    skipped = max(0, int(event.get("to_stage") or 0) - int(event.get("stage") or 0) - 1)
    rears, budgets = list(risk.get("rear_per_rung") or []), list(risk.get("rung_budgets") or [])
    return {"rear": rears[:skipped], "skipped_budgets": budgets[:skipped],
            "rejected_rear": rears[skipped] if len(rears) > skipped else None,
            "threshold": risk.get("threshold", event.get("threshold"))}


def _sync_skipped_budgets(event: dict, plan_budgets: dict) -> list:
    stage, to_stage = event.get("stage"), event.get("to_stage")
    if not isinstance(stage, int) or not isinstance(to_stage, int):
        return []
    budgets = plan_budgets.get(event.get("bracket"), [])
    return [budgets[j] for j in range(stage + 1, to_stage) if j < len(budgets)]


def move_of(event: dict, risk: Optional[dict] = None, plan_budgets: Optional[dict] = None) -> Optional[Move]:
    """The audit's promotion event as a Move (None for a kind this version does not know)."""
    kind = event.get("kind")
    common: dict[str, Any] = dict(time=event.get("time"), bracket=event.get("bracket"), stage=event.get("stage"),
                  to_stage=event.get("to_stage"), from_budget=event.get("from_budget"),
                  to_budget=event.get("to_budget"), kept=list(event.get("kept_config_ids") or []),
                  discarded=list(event.get("discarded_config_ids") or []))
    if kind in PLAIN_KINDS:
        return Move("promotion", kind, **common)
    if kind == "async_jump":
        return Move("jump", str(event.get("rule") or "async_jump"), **common, **_async_jump(event, risk))
    if kind == "jump":
        return Move("jump", "jump", **common, rear=_floats(event.get("rear_per_hop")),
                    skipped_budgets=_sync_skipped_budgets(event, plan_budgets or {}),
                    rejected_rear=event.get("rejected_rear"), threshold=event.get("threshold"),
                    finishes_bracket=bool(event.get("finishes_bracket")))
    if kind in STOP_KINDS:
        return Move("stop", kind, **common, rear=_floats(event.get("rear_per_hop")),
                    threshold=event.get("threshold"))
    return None


def moves_of(events: list[dict], plan_budgets: Optional[dict] = None) -> tuple[list[Move], list[str]]:
    """Every promotion, jump and stop in audit order, and a note per promotion of an unknown kind."""
    moves, notes, risk = [], [], None
    for event in events:
        if event.get("event") == "async_jump_risk":
            risk = event
        elif event.get("event") == "promotion":
            same = risk is not None and risk.get("config_id") in (event.get("kept_config_ids") or []) \
                and risk.get("stage") == event.get("stage")
            move = move_of(event, risk if same else None, plan_budgets)
            if move is None:
                notes.append(f"a promotion of unknown kind {event.get('kind')!r} is not shown (newer advisor?)")
            else:
                moves.append(move)
            risk = None
    return moves, notes


def move_counts(moves: list[Move]) -> dict[str, int]:
    """How many of each: the one place every output takes its counts from."""
    counts = {"promotions": 0, "jumps": 0, "stops": 0, "discarded_by_stops": 0}
    for rule in PLAIN_KINDS:
        counts[f"promotions_{rule}"] = 0
    for move in moves:
        counts[move.kind + "s"] += 1
        if move.kind == "promotion":
            counts[f"promotions_{move.rule}"] += 1
        if move.kind == "stop":
            counts["discarded_by_stops"] += len(move.discarded)
    return counts


# ---- rungs (exec_mode: async) ------------------------------------------------------------------------------
@dataclass
class Rung:
    index: int
    budget: Any
    results: int = 0          # DONE or FAILED results the rung ranked
    failed: int = 0
    killed: int = 0           # trials at this rung killed by a stop before they finished
    late_kills: int = 0       # killed, but finished first: a result the rung did not rank
    running: int = 0          # no outcome recorded yet (started trials appear only once they end)
    promoted_out: int = 0
    jumped_out: int = 0
    skipped_by_jumps: int = 0
    discarded_by_stops: int = 0


def rungs_of(budgets: list, trials: list, moves: list[Move]) -> list[Rung]:
    """One Rung per budget of the async plan, with what each saw and what left it."""
    rungs = [Rung(k, b) for k, b in enumerate(budgets)]
    for t in trials:
        if not 0 <= t.stage < len(rungs):
            continue
        rung = rungs[t.stage]
        if t.killed:
            if t.late_kill:
                rung.late_kills += 1
            else:
                rung.killed += 1
        elif t.status in ("DONE", "FAILED"):
            rung.results += 1
            rung.failed += t.status == "FAILED"
    for m in moves:
        if not isinstance(m.stage, int) or not 0 <= m.stage < len(rungs):
            continue
        if m.kind == "promotion":
            rungs[m.stage].promoted_out += 1
        elif m.kind == "jump":
            rungs[m.stage].jumped_out += 1
            for j in range(m.stage + 1, m.to_stage if isinstance(m.to_stage, int) else m.stage + 1):
                if j < len(rungs):
                    rungs[j].skipped_by_jumps += 1
        else:
            rungs[m.stage].discarded_by_stops += len(m.discarded)
    return rungs
