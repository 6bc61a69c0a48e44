"""Advisors the replay can drive, by name, each built offline (no NNI manager) and seeded.

``REGISTRY`` maps a name to an :class:`AdvisorSpec`; ``spec.build(R, eta, seed, class_args)``
returns an object with ``process_command`` and a recorded ``sent`` list
(:func:`hyperjump_advisor.inprocess.build_offline`). Every advisor minimises the table loss
(``optimize_mode="minimize"``).

- ``hyperjump``: this project's advisor, default classArgs (plus R, eta, seed).
- ``hyperband``: this project's advisor with the model and jumping off
  (``threshold=0, random_fraction=1``).
- ``nni-hyperband``: ``nni.algorithms.hpo.hyperband_advisor.Hyperband`` through its real
  handlers. Workarounds, on the instance only: ``is_created_in_previous_exp`` returns False
  (NNI 3.0 compares its str parameter ids such as '0-4_0_3' with an int, nni issue 5263);
  its ``random_state`` (unseeded ``RandomState()`` in ``handle_update_search_space``) is
  replaced by a seeded one; the module's global parameter-id counter is reset per run.
- ``nni-bohb``: ``nni.algorithms.hpo.bohb_advisor.BOHB`` (needs ConfigSpace and statsmodels,
  the ``bench`` extra), same id workaround; seeded through ``np.random.seed`` (its KDE
  sampler uses the global generator) and the ConfigSpace's own seed. Note: NNI's BOHB uses
  a FINAL metric's ``sequence`` as its budget, and NNI trials always send FINAL with
  sequence 0 (so does the replay), so its KDE models everything as one budget, as in NNI.
  Failed trials: when a stage's trials have all ended, NNI's BOHB promotes the best ``next_n``
  of the results it holds for that stage (``Bracket.inform_trial_end``); a trial that FAILED or
  was cancelled before any metric leaves no result, so with failures it indexes past the end of
  its sorted list (IndexError, e.g. ``--fail-fraction 0.3 --no-periodical``). Workaround, on the
  instance: at a trial's end, a trial with no result yet is recorded as the worst possible one
  (loss +inf), so it ranks last and is promoted only if the stage has too few real results
  (then it is retried at the next budget, as a re-run). A FINAL that arrives later still replaces it.
- ``random``: ``nni.algorithms.hpo.random_tuner.RandomTuner`` through :class:`TunerAdvisor`,
  every trial at TRIAL_BUDGET = R.

More names (ablations such as ``hyperjump-no-order``) are one :func:`register_ours` line
each. ``--class-arg KEY=VALUE`` reaches only this project's advisors (``takes_class_args``).
"""
from __future__ import annotations

import logging
import math
import warnings
from typing import Any, Callable, Optional

import numpy as np

import nni
from nni.runtime.msg_dispatcher_base import MsgDispatcherBase
from nni.runtime.tuner_command_channel import CommandType

from ..inprocess import build_offline
from .peers.runner import register_peers
from .registry import REGISTRY, AdvisorSpec, get, register  # noqa: F401  (advisors.get/REGISTRY: the replay's entry)
from .tables import BUDGET_KEY


QUIET_LOGS = True  # the CLI's --verbose turns this off


def _quiet_nni_logs() -> None:
    """Advisors log per trial (INFO) and warn per failed trial (a missing table row); NNI's BOHB
    warns at every sampled vector its KDE cannot score. A replay runs thousands of trials."""
    if QUIET_LOGS:
        for name in ("nni", "hyperjump_advisor", "BOHB_Advisor"):
            logging.getLogger(name).setLevel(logging.ERROR)


# ---- this project's advisor --------------------------------------------------------------------
def _our_factory():
    from .. import HyperJump  # lazy: the risk engine may replace the class behind this name
    return HyperJump


def _build_ours(R: int, eta: int, seed: int, class_args: dict, factory: Optional[Callable] = None):
    _quiet_nni_logs()
    # the simulated manager hands every trial its own parameters (no NNI issue 5726): starts need not wait
    args: dict[str, Any] = {"R": R, "eta": eta, "optimize_mode": "minimize", "seed": seed, "serial_starts": False}
    args.update(class_args)
    return build_offline(factory or _our_factory(), **args)


def register_ours(name: str, class_args: dict, description: str,
                  factory: Optional[Callable[[], Any]] = None) -> AdvisorSpec:
    """A variant of this project's advisor: ``factory()`` returns the class (default HyperJump)."""
    def builder(R, eta, seed, class_args):
        return _build_ours(R, eta, seed, class_args, factory() if factory else None)
    return register(AdvisorSpec(name, builder, description, takes_class_args=True, class_args=dict(class_args)))


register_ours("hyperjump", {}, "this project's HyperJump advisor, default classArgs")
PLAIN_HYPERBAND = {"threshold": 0, "random_fraction": 1, "pause_resume": False, "opportunistic": False,
                   "exec_mode": "parallelism"}
register_ours("hyperband", PLAIN_HYPERBAND,
              "this project's advisor as plain Hyperband (no jumps, random brackets, training from scratch)")
# Ablations (paper Fig. 2f) and variants
register_ours("hyperjump-sync", {"exec_mode": "parallelism"},
              "HyperJump on synchronous brackets (exec_mode parallelism, the default before async)")
register_ours("hyperjump-no-jump", {"threshold": 0}, "HyperJump without jumps (warm start only)")
register_ours("hyperjump-no-order", {"order_by_risk": False}, "HyperJump testing a stage in Hyperband's order")
register_ours("hyperjump-no-local", {"local_search": 0},
              "HyperJump without local search: every model-chosen configuration by EI over the whole space")
register_ours("hyperjump-no-warmstart", {"random_fraction": 1}, "HyperJump with uniformly random brackets")
register_ours("hyperjump-no-resume", {"pause_resume": False, "opportunistic": False},
              "HyperJump training every trial from scratch, learning only from final metrics")
register_ours("hyperjump-hold", {"hold_first_bracket": True},
              "HyperJump with the paper's rule: no second bracket while the first one runs")
register_ours("hyperjump-async", {"exec_mode": "async"},
              "HyperJump on ASHA's asynchronous rungs: promotions past rungs and rung stops decided by rEAR")
register_ours("hyperjump-async1", {"exec_mode": "async"},
              "hyperjump-async with one bracket: every configuration starts at rung 0 (ASHA's rungs only)",
              factory=lambda: _async_variant(several_brackets=False))
register_ours("hyperjump-async-trusting", {"exec_mode": "async"},
              "hyperjump-async jumping past rungs even when the model does not explain the configuration's result",
              factory=lambda: _async_variant(explain_jumps=False))
register_ours("hyperjump-no-challenger", {"exec_mode": "async"},
              "hyperjump-async without challenger promotions (only ASHA's top 1/eta of a rung moves up)",
              factory=lambda: _async_variant(promote_challengers=False))
register_ours("asha", {"exec_mode": "async", "threshold": 0},
              "this project's async mode with jumps off: ASHA's rungs with challenger promotions, "
              "HyperJump's searcher (EI warm start, resume)")
register_ours("hyperjump-main", {}, "HyperJump as on main before the searcher changes (ablation baseline)",
              factory=lambda: _searcher_variant(no_repeat=False, pending_aware=False, guard=False))
register_ours("hyperjump-guard", {}, "HyperJump with the jump guard (d + 2 observations at a stage's budget)",
              factory=lambda: _searcher_variant(guard=True))
register_ours("hyperjump-believer", {}, "HyperJump with pending-aware (kriging-believer) EI",
              factory=lambda: _searcher_variant(pending_aware=True))
register_ours("hyperjump-believer-guard", {}, "HyperJump with pending-aware EI and the jump guard",
              factory=lambda: _searcher_variant(pending_aware=True, guard=True))
register_ours("hyperjump-anytime", {}, "hyperjump-believer-guard plus one early full-budget run of the best guess",
              factory=lambda: _searcher_variant(pending_aware=True, guard=True, anytime=True))
register_ours("hyperjump-learned", {"learned_brackets": True},
              "HyperJump whose async brackets share the seconds by measured cost and rank correlation to R")
register_ours("hyperjump-keep-budget-term", {"keep_budget_term": True},
              "HyperJump refusing a refit whose budget term sits at its lower bound (the previous fit stays)")
register_ours("hyperjump-calibrated", {"calibrated_risk": True},
              "HyperJump whose jumps and stops use the model's stds widened by its measured 90% coverage")
register_ours("hyperjump-rank1", {"rank_one_order": True},
              "HyperJump ordering a stage with the rank-one covariance update of pretend evaluations")


def _async_variant(several_brackets: bool = True, explain_jumps: bool = True, promote_challengers: bool = True):
    """HyperJump in exec_mode async with the scheduler's start rule set per ablation."""
    base: Any = _our_factory()

    class Variant(base):  # type: ignore[misc,valid-type]  # a subclass of a class chosen at run time
        def _reset_state(self):
            super()._reset_state()
            self.engine.scheduler.several_brackets = several_brackets
            self.engine.scheduler.explain_jumps = explain_jumps
            self.engine.scheduler.promote_challengers = promote_challengers
    return Variant


def _searcher_variant(no_repeat: bool = True, pending_aware: bool = False, guard: bool = False,
                      anytime: bool = False):
    """HyperJump with the searcher's options and the jump guard set per ablation (classArgs stay the defaults)."""
    import dataclasses
    from ..jumping import RiskPolicy, min_jump_observations
    base: Any = _our_factory()

    class Variant(base):  # type: ignore[misc,valid-type]  # a subclass of a class chosen at run time
        def _reset_state(self):
            super()._reset_state()
            engine = self.engine
            engine.searcher.options = dataclasses.replace(engine.searcher.options, no_repeat=no_repeat,
                                                          pending_aware=pending_aware)
            if anytime:
                from .anytime_probe import install
                install(engine)
            original = engine.set_search_space

            def set_search_space(space):
                original(space)
                policy = engine.scheduler.policy
                if isinstance(policy, RiskPolicy):
                    needed = min_jump_observations(space.n_params, factor=1) if guard else 0
                    policy.options = dataclasses.replace(policy.options, min_stage_observations=needed)
            engine.set_search_space = set_search_space
    return Variant


# ---- NNI's advisors ----------------------------------------------------------------------------------
def _not_recovered(param_id) -> bool:
    """Workaround for nni issue 5263: nothing in a replay comes from a previous experiment."""
    return False


def _build_nni_hyperband(R: int, eta: int, seed: int, class_args: dict):
    from nni.algorithms.hpo import hyperband_advisor as module
    _quiet_nni_logs()
    module._next_parameter_id = 0
    advisor = build_offline(module.Hyperband, optimize_mode="minimize", R=R, eta=eta, exec_mode="parallelism",
                            **class_args)
    advisor.is_created_in_previous_exp = _not_recovered
    original = advisor.handle_update_search_space

    def seeded_update(data):
        original(data)
        advisor.random_state = np.random.RandomState(seed)

    advisor.handle_update_search_space = seeded_update
    return advisor


def _build_nni_bohb(R: int, eta: int, seed: int, class_args: dict):
    with warnings.catch_warnings():  # ConfigSpace deprecates the pcs_new module BOHB imports
        warnings.simplefilter("ignore", DeprecationWarning)
        # ImportError here: pip install ConfigSpace statsmodels (the bench extra)
        from nni.algorithms.hpo.bohb_advisor import bohb_advisor as module
    _quiet_nni_logs()
    warnings.filterwarnings("ignore", module="json_tricks")
    warnings.filterwarnings("ignore", category=FutureWarning)
    warnings.filterwarnings("ignore", category=DeprecationWarning)
    warnings.filterwarnings("ignore", category=RuntimeWarning, module="statsmodels")
    warnings.filterwarnings("ignore", category=RuntimeWarning, module="numpy")
    module._next_parameter_id = 0
    np.random.seed(seed)
    advisor = build_offline(module.BOHB, optimize_mode="minimize", min_budget=1, max_budget=R, eta=eta,
                            **class_args)
    advisor.is_created_in_previous_exp = _not_recovered
    original = advisor.handle_update_search_space

    def seeded_update(data):
        original(data)
        advisor.search_space.seed(seed)

    advisor.handle_update_search_space = seeded_update
    _bohb_tolerates_failures(advisor)
    return advisor


def _bohb_tolerates_failures(advisor) -> None:
    """NNI BOHB workaround: a trial that ended without a result counts as the worst (see the module doc)."""
    original = advisor._handle_trial_end
    worst = -math.inf if getattr(advisor.optimize_mode, "value", "minimize") == "maximize" else math.inf

    def handle_trial_end(parameter_id):
        try:
            s, i, _ = str(parameter_id).split("_")
            perf = advisor.brackets[int(s)].configs_perf[int(i)]
        except (ValueError, KeyError, IndexError, AttributeError):
            perf = None
        if perf is not None and parameter_id not in perf:
            perf[parameter_id] = [-1, worst]   # sequence -1: any later metric replaces it
        original(parameter_id)

    advisor._handle_trial_end = handle_trial_end


register(AdvisorSpec("nni-hyperband", _build_nni_hyperband, "NNI 3.0's Hyperband advisor (parallelism mode)"))
register(AdvisorSpec("nni-bohb", _build_nni_bohb, "NNI 3.0's BOHB advisor"))


# ---- tuners as advisors ---------------------------------------------------------------------------------
class TunerAdvisor(MsgDispatcherBase):
    """Drives an NNI ``Tuner`` (generate_parameters / receive_trial_result) with every trial at
    a fixed TRIAL_BUDGET. One NewTrialJob per requested trial; NoMoreTrialJobs once the tuner
    raises ``nni.NoMoreTrialError`` (a finite space is exhausted)."""

    def __init__(self, tuner, budget: int):
        super().__init__()
        self.tuner, self.budget = tuner, budget
        self.next_parameter_id = 0
        self.parameters: dict[int, dict] = {}
        self.exhausted = False

    def handle_initialize(self, data):
        self.tuner.update_search_space(data)
        self.send(CommandType.Initialized, "")

    def handle_update_search_space(self, data):
        self.tuner.update_search_space(data)

    def handle_request_trial_jobs(self, data):
        for _ in range(int(data)):
            if self.exhausted:
                break
            parameter_id = self.next_parameter_id
            try:
                params = self.tuner.generate_parameters(parameter_id)
            except nni.NoMoreTrialError:
                self.exhausted = True
                break
            self.next_parameter_id += 1
            self.parameters[parameter_id] = params
            self.send(CommandType.NewTrialJob, nni.dump({
                "parameter_id": parameter_id, "parameter_source": "algorithm",
                "parameters": {**_plain(params), BUDGET_KEY: self.budget}, "parameter_index": 0}))
        if self.exhausted:
            self.send(CommandType.NoMoreTrialJobs, "")

    def handle_report_metric_data(self, data):
        if data.get("type") != "FINAL" or data.get("parameter_id") not in self.parameters:
            return
        value = nni.utils.extract_scalar_reward(nni.load(data["value"]))
        self.tuner.receive_trial_result(data["parameter_id"], self.parameters[data["parameter_id"]], value)

    def handle_trial_end(self, data):
        pass

    def handle_import_data(self, data):
        pass

    def handle_add_customized_trial(self, data):
        pass


def _plain(params: dict) -> dict:
    return {k: (v.item() if isinstance(v, np.generic) else v) for k, v in params.items()}


def _build_random(R: int, eta: int, seed: int, class_args: dict):
    from nni.algorithms.hpo.random_tuner import RandomTuner
    _quiet_nni_logs()
    logging.getLogger("nni.tuner.random").setLevel(logging.WARNING)
    return build_offline(TunerAdvisor, tuner=RandomTuner(seed=seed), budget=R)


register(AdvisorSpec("random", _build_random, "NNI 3.0's random tuner, every trial at the full budget R"))


# ---- peer advisors: other libraries, each replayed in its own environment ------------------------------
# Registered after everything above; see hyperjump_advisor/replay/peers/ (names, families, setup).
register_peers(register)
