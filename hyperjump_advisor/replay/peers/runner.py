"""The main process's side of a peer: an :class:`~hyperjump_advisor.replay.registry.AdvisorSpec`
whose :meth:`PeerSpec.run` replays one seed in a subprocess of the peer's family environment and
returns the run record (the fields of ``Simulator.run()`` plus the peer's).

A peer cannot be *built* in this process (its library lives in another environment), so
``run_one`` must call ``spec.run(...)`` for specs that have it instead of ``build`` + ``Simulator``;
``PeerSpec.build`` raises with the reason (a missing environment names the setup command).
"""
from __future__ import annotations

import json
import os
import pickle
import subprocess
import sys
import tempfile
import time
from dataclasses import dataclass
from pathlib import Path
from typing import Optional

from ..registry import AdvisorSpec
from . import PEERS, Peer
from . import envs

REPO_ROOT = Path(__file__).resolve().parents[3]   # the folder holding the hyperjump_advisor package


class PeerEnvironmentMissing(RuntimeError):
    """The peer's family environment does not exist (or is outdated); the message names the fix."""


def environment_problem(name: str) -> Optional[str]:
    """None if ``name`` is not a peer or its environment is ready, else why it cannot run."""
    peer = PEERS.get(name)
    if peer is None:
        return None
    ready, why = envs.status(peer.family)
    return None if ready else f"advisor {name!r}: {why}"


@dataclass(frozen=True)
class PeerSpec(AdvisorSpec):
    peer: Optional[Peer] = None

    def run(self, table, budget_map, seed: int, config, class_args: Optional[dict] = None,
            quiet: bool = True, timeout: Optional[float] = None) -> dict:
        """One replay of this peer; never raises: failures come back as a run with ``error``."""
        problem = environment_problem(self.name)
        if problem:
            return _error_run(problem, self.peer)
        job = {"peer": self.name, "table": table, "budget_map": budget_map, "seed": int(seed), "config": config,
               "options": {"quiet": quiet}}
        with tempfile.TemporaryDirectory(prefix=f"peer-{self.name}-") as work:
            source, target = Path(work) / "job.pkl", Path(work) / "run.json"
            with open(source, "wb") as handle:
                pickle.dump(job, handle)
            env = dict(os.environ)
            env["PYTHONPATH"] = os.pathsep.join([str(REPO_ROOT)] + ([env["PYTHONPATH"]] if env.get("PYTHONPATH") else []))
            assert self.peer is not None  # register_peers gives every PeerSpec its peer
            started = time.perf_counter()
            try:
                done = subprocess.run([str(envs.env_python(self.peer.family)), "-m", f"{__package__}.child",
                                       str(source), str(target)], cwd=work, env=env, stdout=subprocess.DEVNULL,
                                      stderr=subprocess.PIPE, text=True, timeout=timeout)
            except subprocess.TimeoutExpired:
                return _error_run(f"{self.name} seed {seed}: the peer subprocess ran over {timeout} s", self.peer)
            if done.returncode != 0 or not target.exists():
                tail = "\n".join(done.stderr.strip().splitlines()[-30:])
                return _error_run(f"{self.name} seed {seed}: the peer subprocess exited {done.returncode}:\n{tail}",
                                  self.peer)
            out = json.loads(target.read_text())
        out["process_seconds"] = round(time.perf_counter() - started, 3)
        return out


def _error_run(message: str, peer: Optional[Peer]) -> dict:
    return {"error": message, "trials": [], "incumbent": [], "advisor_seconds": 0.0, "decisions": 0,
            "decision_ms": [], "end_reason": "error", "end_time": 0.0,
            "resumes": peer.resumes if peer else None}


def _builder(name: str):
    def build(R, eta, seed, class_args):
        problem = environment_problem(name)
        if problem:
            raise PeerEnvironmentMissing(problem)
        raise RuntimeError(f"{name} runs in a subprocess of its own environment: replay it with spec.run(table, "
                           "budget_map, seed, config) (run_one does for specs that have run), not spec.build")
    return build


def register_peers(register) -> None:
    for peer in PEERS.values():
        register(PeerSpec(peer.name, _builder(peer.name), f"{peer.description} [family {peer.family}]", peer=peer))


def list_advisors(registry: dict, out=None, err=None) -> None:
    """``--list-advisors``: every name on stdout, one per line; on stderr, for each peer family
    whose environment is not ready, which advisors it affects and how to create it."""
    out, err = out or sys.stdout, err or sys.stderr
    missing: dict[str, list[str]] = {}
    for name in registry:
        print(name, file=out)
        peer = PEERS.get(name)
        if peer is not None and not envs.status(peer.family)[0]:
            missing.setdefault(peer.family, []).append(name)
    for family, names in missing.items():
        print(f"{envs.status(family)[1]} (needed by {', '.join(names)})", file=err)
