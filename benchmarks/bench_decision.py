"""Advisor CPU time per trial decision (issue "Risk engine", Performance).

A decision = one result of a stage with 81 configurations entering the advisor's model, the jump-risk
evaluation (Alg. 3) and the choice of the next configuration to test (NEXT_CONF_TO_TEST), through the
advisor's own model and stage policy. Process CPU time. The model first gets N observations (100, 500, 1000) of a synthetic
4-parameter multi-fidelity problem; refits are amortised as the model's policy does (hyperparameters
are re-optimised when the data grow by 25%), and the cost of the refit that the warm-up triggers is
excluded and reported separately.

    python benchmarks/bench_decision.py [--repeats 40] [--sizes 100 500 1000]

``--worst`` measures the worst single decision instead, over ``--decisions`` (300) decisions from N
observations with a refit due at the first one: the sliced refit, its adoption (a full factorisation
with the new hyperparameters) and the trim of the posterior past 1,100 points all fall inside the
measured decisions (a stage that runs out is refilled with new random configurations).

    python benchmarks/bench_decision.py --worst [--sizes 1000] [--decisions 300]
"""
from __future__ import annotations

import argparse
import sys
import time
from pathlib import Path

import numpy as np

sys.path.insert(0, str(Path(__file__).resolve().parents[1]))

from nni.runtime.tuner_command_channel import CommandType as C  # noqa: E402

from hyperjump_advisor import HyperJump  # noqa: E402
from hyperjump_advisor.inprocess import build_offline  # noqa: E402
from hyperjump_advisor.schedule import SlotStatus  # noqa: E402

SPACE = {k: {"_type": "uniform", "_value": [0.0, 1.0]} for k in "abcd"}
R = 81


def loss(p: dict, budget: float) -> float:
    final = 0.05 + 0.3 * ((p["a"] - 0.7) ** 2 + (p["b"] - 0.3) ** 2 + 0.5 * p["c"] * p["d"])
    return final + 0.3 * (1 - budget / R) ** 2 * (0.5 + p["a"])


def warmed_advisor(n_obs: int, seed: int):
    advisor = build_offline(HyperJump, R=R, eta=3, seed=seed, exec_mode="serial", p_no_jump=0.0)
    advisor.process_command(C.Initialize, SPACE)
    rng = np.random.default_rng(seed)
    X = rng.random((n_obs, 4))
    budgets = rng.choice([1, 3, 9, 27, 81], size=n_obs)
    losses = [loss(dict(zip("abcd", x)), b) for x, b in zip(X, budgets)]
    advisor.engine.evidence.model.add_observations(X, budgets / R, np.array(losses))
    advisor.engine.evidence.incumbent = (float(np.min(np.array(losses)[budgets == R])), 0)
    started = time.perf_counter()
    advisor.engine.evidence.model.fit(force_hyperopt=True)
    return advisor, time.perf_counter() - started


def stage_of_81(advisor):
    """Bracket 0's first stage (81 configurations at budget 1), opened without letting the policy act."""
    policy, advisor.engine.scheduler.policy = advisor.engine.scheduler.policy, None
    from hyperjump_advisor.schedule import SuccessiveHalving
    advisor.engine.scheduler.policy = SuccessiveHalving()
    advisor.engine.scheduler.next_slot()
    advisor.engine.scheduler.policy = policy
    bracket = advisor.engine.scheduler.brackets[0]
    for slot in bracket.current:
        slot.status = SlotStatus.PENDING
    return bracket


def measure(n_obs: int, repeats: int, seed: int = 0) -> tuple[list[float], float, int]:
    """Per decision: one result enters the model, the jump risk is evaluated, the next config is chosen.

    The jump decision is computed but not applied, so every decision sees the same 81-config stage
    (with one more tested configuration each time)."""
    advisor, refit = warmed_advisor(n_obs, seed)
    bracket = stage_of_81(advisor)
    policy = advisor.engine.scheduler.policy
    times, jumps = [], 0
    for slot in bracket.current[:repeats]:
        p = dict(advisor.engine.searcher.configs[slot.config_id], TRIAL_BUDGET=slot.budget)
        value = loss(p, slot.budget)
        started = time.process_time()
        slot.status, slot.loss = SlotStatus.DONE, value
        advisor.engine.evidence.add_final(slot.config_id, slot.budget, value)
        jumps += policy.decide_jump(bracket) is not None
        policy.choose(bracket, bracket.pending())
        times.append(time.process_time() - started)
    return times, refit, jumps


def measure_worst(n_obs: int, decisions: int, seed: int = 0) -> dict:
    """Per decision as ``measure``, ``decisions`` of them, with the model's refit due at the first one."""
    advisor, _ = warmed_advisor(n_obs, seed)
    model = advisor.engine.evidence.model
    model.refits.n_at_last_refit = int(n_obs / model.refit_growth)  # due again: the next update starts it
    bracket = stage_of_81(advisor)
    policy = advisor.engine.scheduler.policy
    searcher = advisor.engine.searcher
    rng = np.random.default_rng(seed + 1)
    times, events = [], []
    refits, factorisations = model.n_hyperopts, model.n_full_factorisations
    while len(times) < decisions:
        pending = [x for x in bracket.current if x.status is SlotStatus.PENDING]
        if not pending:  # the stage ran out: 81 new configurations
            ids = [searcher.add(c, searcher.space.encode(c)) for c in (searcher.space.sample(rng) for _ in range(81))]
            bracket.fill_stage(bracket.stage, ids)
            for slot in bracket.current:
                slot.status = SlotStatus.PENDING
            continue
        slot = pending[0]
        p = dict(searcher.configs[slot.config_id], TRIAL_BUDGET=slot.budget)
        value = loss(p, slot.budget)
        started = time.process_time()
        slot.status, slot.loss = SlotStatus.DONE, value
        advisor.engine.evidence.add_final(slot.config_id, slot.budget, value)
        policy.decide_jump(bracket)
        rest = [x for x in bracket.current if x.status is SlotStatus.PENDING]
        if rest:
            policy.choose(bracket, rest)
        times.append(time.process_time() - started)
        event = []
        if model.n_hyperopts != refits:
            event.append("refit started")
        if model.n_full_factorisations != factorisations:
            event.append("full factorisation")
        refits, factorisations = model.n_hyperopts, model.n_full_factorisations
        events.append(", ".join(event))
    ms = np.array(times) * 1000
    worst = int(np.argmax(ms))
    return {"ms": ms, "worst": worst, "event": events[worst] or "-", "n_events": sum(bool(e) for e in events),
            "active": int(model.store.active.size), "observations": model.n_observations}


def main() -> None:
    parser = argparse.ArgumentParser(description=__doc__.splitlines()[0])
    parser.add_argument("--repeats", type=int, default=40)
    parser.add_argument("--sizes", type=int, nargs="+", default=None)
    parser.add_argument("--worst", action="store_true", help="the worst single decision (see the docstring)")
    parser.add_argument("--decisions", type=int, default=300)
    args = parser.parse_args()
    if args.worst:
        print("| observations | decisions | median ms | p95 ms | max ms | worst at | what it did | "
              "decisions with a refit or factorisation | points in the posterior at the end |")
        print("|---:|---:|---:|---:|---:|---:|---|---:|---:|")
        for n in args.sizes or [1000]:
            r = measure_worst(n, args.decisions)
            ms = r["ms"]
            print(f"| {n} | {len(ms)} | {np.median(ms):.1f} | {np.percentile(ms, 95):.1f} | {ms.max():.1f} | "
                  f"{r['worst'] + 1} | {r['event']} | {r['n_events']} | {r['active']} |")
        return
    args.sizes = args.sizes or [100, 500, 1000]
    print("| observations | decisions | median ms | p95 ms | max ms | would jump | warm-up refit s |")
    print("|---:|---:|---:|---:|---:|---:|---:|")
    for n in args.sizes:
        times, refit, jumps = measure(n, args.repeats)
        ms = np.array(times) * 1000
        print(f"| {n} | {len(ms)} | {np.median(ms):.1f} | {np.percentile(ms, 95):.1f} | {ms.max():.1f} | "
              f"{jumps} | {refit:.2f} |")


if __name__ == "__main__":
    main()
