"""Peer advisors: what a user would pick instead of HyperJump, driven through their libraries'
public scheduler APIs and replayed on the same simulated clock, workers, table, search space,
budget levels and cost rule as this project's advisor.

Each peer belongs to a *family*, a virtual environment of its own (:mod:`.envs`; created by
``python -m hyperjump_advisor.replay --setup-peers``). A replay of a peer runs in a subprocess of
that environment (:mod:`.child`): the same :class:`~hyperjump_advisor.replay.simulator.Simulator`
(imported from this checkout through ``PYTHONPATH``) drives an adapter advisor (:mod:`.adapter`)
that speaks NNI's command protocol and calls the library; the run record comes back as JSON
with the fields of any other run plus ``resumes`` (whether the peer continues paused trials from
checkpoints), ``resumed_trials`` and ``peer`` (family, library versions). Advisor time is measured
inside the subprocess exactly as for the others (``advisor_seconds``, ``decision_ms``: the
handler calls, not the process start or the library import).

Peers (one per line in ``--list-advisors``):

=================  =======  ======================================================================
name               family   what
=================  =======  ======================================================================
syne-asha          syne13   Syne Tune ASHA, promotion type (pauses at rungs, resumes checkpoints)
syne-asha-stop     syne13   Syne Tune ASHA, stopping type (trials run to R unless stopped)
syne-hyperband     syne13   Syne Tune synchronous Hyperband (SyncHyperband), resumes checkpoints
syne-bohb          syne13   Syne Tune BOHB (asynchronous, KDE searcher), promotion type
syne-mobster       syne13   Syne Tune MOBSTER (GP searcher), promotion type
syne-hypertune     syne13   Syne Tune Hyper-Tune, promotion type, all Hyperband brackets
dehb               modern   DEHB 0.1.1, ask-and-tell, every job from scratch
optuna-hyperband   modern   Optuna TPESampler + HyperbandPruner, ask-and-tell, prunes (stops)
=================  =======  ======================================================================
"""
from __future__ import annotations

from dataclasses import dataclass


@dataclass(frozen=True)
class Peer:
    name: str
    family: str
    module: str          # adapter module in this package, with build(name, **kwargs)
    resumes: bool        # continues paused trials from their checkpoints
    libraries: tuple     # distributions whose versions the run records
    description: str


_SYNE = ("syne-tune",)
PEERS: dict[str, Peer] = {p.name: p for p in (
    Peer("syne-asha", "syne13", "syne", True, _SYNE,
         "Syne Tune 0.13 ASHA, promotion type: pauses trials at rungs and resumes them from checkpoints"),
    Peer("syne-asha-stop", "syne13", "syne", False, _SYNE,
         "Syne Tune 0.13 ASHA, stopping type: trials run towards R unless stopped at a rung"),
    Peer("syne-hyperband", "syne13", "syne", True, _SYNE,
         "Syne Tune 0.13 synchronous Hyperband (SyncHyperband), promoted trials resume from checkpoints"),
    Peer("syne-bohb", "syne13", "syne", True, _SYNE,
         "Syne Tune 0.13 BOHB (asynchronous, KDE searcher), promotion type"),
    Peer("syne-mobster", "syne13", "syne", True, _SYNE,
         "Syne Tune 0.13 MOBSTER (Gaussian-process searcher), promotion type"),
    Peer("syne-hypertune", "syne13", "syne", True, _SYNE,
         "Syne Tune 0.13 Hyper-Tune (GP searcher, model-based bracket choice), promotion type"),
    Peer("dehb", "modern", "dehb_peer", False, ("dehb", "ConfigSpace"),
         "DEHB 0.1.1 ask-and-tell (differential evolution + Hyperband), every job trained from scratch"),
    Peer("optuna-hyperband", "modern", "optuna_peer", False, ("optuna",),
         "Optuna TPESampler with HyperbandPruner (ask-and-tell), pruned trials stop"),
)}

__all__ = ["PEERS", "Peer"]
