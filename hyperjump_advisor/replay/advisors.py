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

Ablations are not names: ``hyperjump:order_by_risk=false`` is HyperJump with that classArg, and
engine choices that are not classArgs are replay switches (``hyperjump:several_brackets=false``), both
checked by :mod:`.overrides`. ``--class-arg KEY=VALUE`` reaches only this project's advisors
(``takes_class_args``).
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


def register_ours(name: str, class_args: dict, description: str) -> AdvisorSpec:
    """This project's advisor under a name, with classArgs; ablations are overrides (:mod:`.overrides`)."""
    def builder(R, eta, seed, class_args, factory: Optional[Callable[[], Any]] = None):
        return _build_ours(R, eta, seed, class_args, factory() if factory else None)
    return register(AdvisorSpec(name, builder, description, takes_class_args=True, class_args=dict(class_args)))


register_ours("hyperjump", {}, "this project's HyperJump advisor, default classArgs")
PLAIN_HYPERBAND = {"threshold": 0, "random_fraction": 1, "pause_resume": False, "opportunistic": False,
                   "exec_mode": "parallelism"}
register_ours("hyperband", PLAIN_HYPERBAND,
              "this project's advisor as plain Hyperband (no jumps, random brackets, training from scratch)")


def switched(switches) -> Callable[[], Any]:
    """The factory of HyperJump with the replay switches of :class:`.overrides.ReplaySwitches` set per run."""
    def factory():
        import dataclasses
        from ..jumping import RiskPolicy, min_jump_observations
        base: Any = _our_factory()

        class Variant(base):  # type: ignore[misc,valid-type]  # a subclass of a class chosen at run time
            def _reset_state(self):
                super()._reset_state()
                engine = self.engine
                scheduler = engine.scheduler
                for key in ("several_brackets", "explain_jumps", "promote_challengers"):
                    if hasattr(scheduler, key):
                        setattr(scheduler, key, getattr(switches, key))
                engine.searcher.options = dataclasses.replace(engine.searcher.options, no_repeat=switches.no_repeat,
                                                              pending_aware=switches.pending_aware)
                if switches.config_batch and hasattr(scheduler, "config_batch"):
                    scheduler.config_batch = switches.config_batch
                if switches.anytime:
                    from .anytime_probe import install
                    install(engine)
                if switches.jump_guard:
                    original = engine.set_search_space

                    def set_search_space(space):
                        original(space)
                        policy = engine.scheduler.policy
                        if isinstance(policy, RiskPolicy):
                            needed = min_jump_observations(space.n_params, factor=switches.jump_guard)
                            policy.options = dataclasses.replace(policy.options, min_stage_observations=needed)
                    engine.set_search_space = set_search_space
        return Variant
    return factory


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
