"""The peer subprocess: ``python -m hyperjump_advisor.replay.peers.child INPUT OUTPUT``, run by
the family's interpreter with this checkout on ``PYTHONPATH``.

INPUT is a pickle of ``{"peer", "table", "budget_map", "seed", "config", "options"}`` (the
main process's own objects); OUTPUT receives the run record as JSON: ``Simulator.run()``'s
fields plus ``resumes``, ``resumed_trials`` and ``peer``. The library is imported and the adapter
built before the simulator starts, so neither counts as advisor time (as for the other advisors,
built by their spec before the run).
"""
from __future__ import annotations

import importlib
import json
import pickle
import sys
import traceback
from importlib import metadata
from typing import Optional

from ...inprocess import build_offline
from ..simulator import Simulator
from . import PEERS


def versions(names) -> dict:
    out: dict[str, Optional[str]] = {}
    for name in names:
        try:
            out[name] = metadata.version(name)
        except metadata.PackageNotFoundError:
            out[name] = None
    return out


def run(job: dict) -> dict:
    peer = PEERS[job["peer"]]
    table, budget_map, config = job["table"], job["budget_map"], job["config"]
    info = {"family": peer.family, "versions": versions(peer.libraries + ("nni", "numpy")),
            "python": sys.version.split()[0]}
    try:
        module = importlib.import_module(f"{__package__}.{peer.module}")
        advisor = build_offline(module.build, name=peer.name, R=budget_map.R, eta=budget_map.eta, seed=job["seed"],
                                budgets=list(budget_map.budgets), resume_key=config.resume_key,
                                options=job.get("options") or {})
    except Exception:
        return {"error": f"could not build {peer.name}:\n{traceback.format_exc()}", "trials": [], "incumbent": [],
                "advisor_seconds": 0.0, "decisions": 0, "decision_ms": [], "end_reason": "error",
                "end_time": 0.0, "resumes": peer.resumes, "peer": info}
    out = Simulator(advisor, table, budget_map, config).run()
    out["resumes"] = peer.resumes
    out["resumed_trials"] = advisor.resumed_trials
    info.update(advisor.extras())
    out["peer"] = info
    return out


def _jsonable(value):
    if hasattr(value, "item"):
        return value.item()
    if isinstance(value, (set, tuple)):
        return list(value)
    return str(value)


def main(argv: list[str]) -> int:
    source, target = argv
    with open(source, "rb") as handle:
        job = pickle.load(handle)
    out = run(job)
    with open(target, "w") as handle:
        json.dump(out, handle, default=_jsonable)
    return 0


if __name__ == "__main__":
    sys.exit(main(sys.argv[1:]))
