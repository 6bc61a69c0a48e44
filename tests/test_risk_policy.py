"""RiskPolicy against a fake posterior whose answers are known: no GP, milliseconds per test.

The bracket is Hyperband's s=2 bracket for R=9, eta=3: 9 configs at budget 1, then 3 at budget 3, then 1 at 9
(normalised budgets 1/9, 1/3, 1).  Config ids are 100 + position, so a mix-up of index and id shows.
"""
import numpy as np
import pytest

from hyperjump_advisor import risk
from hyperjump_advisor.jumping import RiskOptions, RiskPolicy
from hyperjump_advisor.schedule import Bracket, SlotStatus, bracket_plan

R, ETA = 9, 3
IDS = [100 + i for i in range(9)]
BUDGETS = [1 / 9, 1 / 3, 1.0]        # stage budgets / R
KEEP_SIZES = [3, 1]


class FakePosterior:
    """loss(c, b) ~ N(final[c] + gap[c] * (1 - b), std[c]^2), configs independent; X[:, 0] is the config id.

    predict_joint's cross_cov[h][i, c] = std[i]^2 when i == c else 0: a config is perfectly correlated with
    itself across budgets, so observing it leaves no uncertainty about it at any budget."""

    def __init__(self, final, std, gap=0.0, ready=True):
        self.final, self.std, self.gap, self._ready = final, std, gap, ready
        self.calls = 0

    @property
    def ready(self):
        return self._ready

    def _rows(self, X):
        return [int(round(x)) for x in X[:, 0]]

    def predict(self, X, budget):
        self.calls += 1
        rows = self._rows(X)
        gap = self.gap if np.isscalar(self.gap) else np.array([self.gap[c] for c in rows])
        mean = np.array([self.final[c] for c in rows]) + gap * (1 - np.asarray(budget, dtype=float))
        return mean, np.array([self.std[c] for c in rows])

    def predict_budgets(self, X, budgets):
        answers = [self.predict(X, b) for b in budgets]
        return [m for m, _ in answers], [s for _, s in answers]

    def predict_joint(self, X, budgets):
        means, stds = self.predict_budgets(X, budgets)
        return means, [np.diag(s * stds[0]) for s in stds]


def encode(config_ids):
    return np.array(config_ids, dtype=float)[:, None]


def make_bracket(losses, running=(), failed=()):
    """Stage 0 of the bracket; ``losses`` maps config id -> measured loss (DONE), the others PENDING."""
    bracket = Bracket(bracket_id=7, iteration=0, s=2, plan=bracket_plan(2, R, ETA))
    bracket.fill_stage(0, IDS)
    for slot in bracket.current:
        if slot.config_id in losses:
            slot.status, slot.loss = SlotStatus.DONE, losses[slot.config_id]
        elif slot.config_id in running:
            slot.status = SlotStatus.RUNNING
        elif slot.config_id in failed:
            slot.status = SlotStatus.FAILED
    return bracket


def make_policy(posterior, threshold=0.1, incumbent=None, best_loss=0.0, audit_every=10, **options):
    records = []
    opts = RiskOptions(eta=ETA, R=R, threshold=threshold, best_loss=best_loss, audit_every=audit_every, **options)
    policy = RiskPolicy(opts, posterior, encode, lambda: incumbent, records.append)
    return policy, records


def beliefs_by_hand(posterior, bracket):
    """What the policy should believe: measured losses for DONE slots, the posterior for the rest, FAILED left out."""
    slots = [x for x in bracket.current if x.status is not SlotStatus.FAILED]
    X = encode([x.config_id for x in slots])
    tested = np.array([x.status is SlotStatus.DONE for x in slots])
    beliefs = []
    for h, b in enumerate(BUDGETS):
        mean, std = posterior.predict(X, b)
        if h == 0:
            mean = np.where(tested, [x.loss if x.loss is not None else 0.0 for x in slots], mean)
            beliefs.append(risk.StageBelief(mean, np.where(tested, 0.0, std), tested))
        else:
            beliefs.append(risk.StageBelief(mean, std, np.zeros(len(slots), bool)))
    return slots, beliefs


# ------------------------------------------------------------------------------------------------ scenarios
def clear_leaders():
    """Tested 100-102 are far ahead; the untested 103-108 are certainly worse (0.9 +- 0.01).
    Later budgets rank 100 < 101 < 102 with tiny std: keep {100, 101, 102}, then {100}."""
    final = {100: 0.10, 101: 0.30, 102: 0.50, **{c: 0.90 for c in IDS[3:]}}
    std = {100: 0.001, 101: 0.001, 102: 0.001, **{c: 0.01 for c in IDS[3:]}}
    losses = {100: 0.10, 101: 0.11, 102: 0.12}
    return FakePosterior(final, std), losses


def fog():
    """Two configs tested; every untested config could be anything (std 1 around the tested losses)."""
    final = {c: 0.5 for c in IDS}
    std = {c: 1.0 for c in IDS}
    return FakePosterior(final, std), {100: 0.5, 101: 0.5}


# ------------------------------------------------------------------------------------------------ decide_jump
def test_jumps_over_certainly_worse_configs_to_the_last_stage_with_the_obvious_best():
    posterior, losses = clear_leaders()
    policy, _ = make_policy(posterior, incumbent=None)
    # no incumbent: the last stage cannot be skipped; two hops, keeping {100..102} then {100}
    assert policy.decide_jump(make_bracket(losses)) == (2, [100])


def test_skips_every_remaining_stage_when_the_incumbent_is_certainly_better():
    posterior, losses = clear_leaders()
    policy, records = make_policy(posterior, incumbent=0.01)
    assert policy.decide_jump(make_bracket(losses)) == (None, [])
    assert records[-1]["finishes_bracket"] and records[-1]["to_stage"] is None and records[-1]["to_budget"] is None


def test_no_jump_under_high_uncertainty():
    posterior, losses = fog()
    policy, records = make_policy(posterior, incumbent=0.5)
    assert policy.decide_jump(make_bracket(losses)) is None
    assert records[0]["event"] == "no_jump" and records[0]["rear_per_hop"] == []
    assert records[0]["rejected_rear"] > policy.options.threshold


@pytest.mark.parametrize("incumbent, best_loss", [(None, 0.0), (0.2, 0.05), (0.02, 0.05)])
def test_decide_jump_is_evaluate_jump_risk_on_the_posterior_beliefs(incumbent, best_loss):
    """Same beliefs by hand, same rEAR normaliser (incumbent - best_loss, or 1 without a usable one)."""
    rng = np.random.default_rng(3)
    posterior = FakePosterior({c: v for c, v in zip(IDS, rng.uniform(0.2, 0.6, 9))},
                              {c: v for c, v in zip(IDS, rng.uniform(0.01, 0.05, 9))}, gap=0.2)
    bracket = make_bracket({100: 0.25, 104: 0.45, 107: 0.3}, running=(101,), failed=(105,))
    policy, records = make_policy(posterior, threshold=0.5, incumbent=incumbent, best_loss=best_loss)
    answer = policy.decide_jump(bracket)
    slots, beliefs = beliefs_by_hand(posterior, bracket)
    scale = incumbent - best_loss if incumbent is not None and incumbent > best_loss else 1.0
    expected = risk.evaluate_jump_risk(beliefs, KEEP_SIZES, ETA, 0.5, scale, incumbent)
    accepted = [float(r) for r in expected.rear_per_hop[:expected.hops]]
    rejected = expected.rear_per_hop[expected.hops:]
    assert records[0]["rear_per_hop"] == accepted, "only accepted hops count"
    assert records[0]["rejected_rear"] == (float(rejected[0]) if rejected else None)
    if expected.hops == 0:
        assert answer is None
    elif expected.finishes_bracket:
        assert answer == (None, [])
    else:
        assert answer == (expected.hops, [slots[i].config_id for i in expected.keep])


def test_no_jump_brackets_threshold_zero_and_an_unready_posterior_never_jump_nor_ask():
    for make in ({"threshold": 0.0}, {"threshold": -1.0}, {}):
        posterior, losses = clear_leaders()
        bracket = make_bracket(losses)
        if not make:
            bracket.no_jump = True
        policy, records = make_policy(posterior, incumbent=0.01, **make)
        pending = bracket.pending()
        assert policy.decide_jump(bracket) is None
        assert policy.choose(bracket, pending) is pending[0]
        assert posterior.calls == 0 and records == []
    posterior, losses = clear_leaders()
    posterior._ready = False
    policy, records = make_policy(posterior, incumbent=0.01)
    assert policy.decide_jump(make_bracket(losses)) is None and records == []


def test_nothing_untested_leaves_the_stage_to_successive_halving():
    posterior, _ = clear_leaders()
    policy, records = make_policy(posterior, incumbent=0.01)
    done = make_bracket({c: 0.5 for c in IDS[:8]}, failed=(108,))
    assert policy.decide_jump(done) is None and posterior.calls == 0 and records == []


# ------------------------------------------------------------------------------------------------ audit
def test_audit_of_a_jump_holds_what_was_kept_and_discarded():
    posterior, losses = clear_leaders()
    bracket = make_bracket(losses, running=(103,), failed=(108,))
    policy, records = make_policy(posterior, incumbent=None)
    assert policy.decide_jump(bracket) == (2, [100])
    (record,) = records
    assert record["event"] == "promotion" and record["kind"] == "jump"
    assert record["bracket"] == 7 and record["stage"] == 0 and record["from_budget"] == 1
    assert record["to_stage"] == 2 and record["to_budget"] == 9 and len(record["rear_per_hop"]) == 2
    assert sum(record["rear_per_hop"]) <= record["threshold"] == 0.1
    assert record["kept_config_ids"] == [100]
    assert record["discarded_config_ids"] == [c for c in IDS if c not in (100, 108)]  # the failed one is neither
    assert record["tested"] == 3 and record["configs"] == 8 and record["incumbent_loss"] is None


def test_one_in_audit_every_quiet_evaluations_is_audited():
    posterior, losses = fog()
    policy, records = make_policy(posterior, incumbent=0.5, audit_every=3)
    for _ in range(7):
        assert policy.decide_jump(make_bracket(losses)) is None
    assert len(records) == 3  # evaluations 1, 4 and 7
    assert all(r["event"] == "no_jump" and "kept_config_ids" not in r for r in records)


# ------------------------------------------------------------------------------------------------ choose
def unlock_scenario():
    """Stage 0 keeps 3 for stage 1.  100-102 tested well (0.10-0.12).  103 is uncertain (0.75 +- 0.3: may beat
    them), 104-108 are certainly worse but have LOWER means than 103.  Testing 103 (pretend at 0.75) removes the
    only risk of discarding the untested; testing any other leaves 103 uncertain in D."""
    final = {100: 0.10, 101: 0.11, 102: 0.12, 103: 0.75, 104: 0.60, 105: 0.61, 106: 0.62, 107: 0.63, 108: 0.64}
    std = {c: (0.3 if c == 103 else 0.01) for c in IDS}
    return FakePosterior(final, std), {100: 0.10, 101: 0.11, 102: 0.12}


def brute_force_choice(posterior, bracket, incumbent, threshold, scale=1.0):
    """Pretend-evaluate every PENDING config at its mean, run evaluate_jump_risk, take the documented argmin."""
    slots, beliefs = beliefs_by_hand(posterior, bracket)
    best = None
    for i, slot in enumerate(slots):
        if slot.status is not SlotStatus.PENDING:
            continue
        d = risk.evaluate_jump_risk([beliefs[0].with_tested(i)] + beliefs[1:], KEEP_SIZES, ETA, threshold, scale,
                                    incumbent)
        key = (-d.hops, d.accumulated_rear, float(beliefs[0].mean[i]), i)
        best = key if best is None or key < best else best
    return slots[best[3]]


def test_choose_tests_first_the_config_that_unlocks_a_jump():
    posterior, losses = unlock_scenario()
    bracket = make_bracket(losses)
    policy, _ = make_policy(posterior, threshold=0.01)
    chosen = policy.choose(bracket, bracket.pending())
    assert chosen.config_id == 103                      # not pending[0] (103 is), not the lowest mean (104)
    assert chosen is brute_force_choice(posterior, bracket, None, 0.01)
    # running already: 103 stays uncertain in every pretend evaluation and may not be chosen
    bracket = make_bracket(losses, running=(103,))
    chosen = policy.choose(bracket, bracket.pending())
    assert chosen.config_id != 103 and chosen.status is SlotStatus.PENDING
    assert chosen is brute_force_choice(posterior, bracket, None, 0.01)


@pytest.mark.parametrize("seed", [0, 1, 2])
def test_choose_matches_brute_force_over_pretend_evaluations(seed):
    rng = np.random.default_rng(seed)
    posterior = FakePosterior({c: v for c, v in zip(IDS, rng.uniform(0.2, 0.6, 9))},
                              {c: v for c, v in zip(IDS, rng.uniform(0.005, 0.1, 9))}, gap=0.1)
    tested = rng.permutation(IDS)[:3]
    bracket = make_bracket({int(c): float(rng.uniform(0.2, 0.4)) for c in tested}, failed=(int(rng.choice(IDS)),))
    pending = bracket.pending()
    policy, _ = make_policy(posterior, threshold=0.3, incumbent=0.25)
    assert policy.choose(bracket, pending) is brute_force_choice(posterior, bracket, 0.25, 0.3, scale=0.25)


def test_choose_keeps_hyperbands_order_when_asked_or_with_one_pending():
    posterior, losses = unlock_scenario()
    bracket = make_bracket(losses)
    pending = bracket.pending()[::-1]
    policy, _ = make_policy(posterior, threshold=0.01, order_by_risk=False)
    assert policy.choose(bracket, pending) is pending[0] and posterior.calls == 0
    policy, _ = make_policy(posterior, threshold=0.01)
    one = [bracket.slot(0, 107)]
    assert policy.choose(bracket, one) is one[0] and posterior.calls == 0


def test_rank_one_order_conditions_on_the_joint_posterior():
    """With cross-covariances the choice is next_config_to_test's with tested rows and columns of cross_cov[0]
    zeroed; here observing a config removes its own uncertainty at every budget, nothing else."""
    posterior, losses = unlock_scenario()
    bracket = make_bracket(losses)
    policy, _ = make_policy(posterior, threshold=0.01, rank_one_order=True)
    chosen = policy.choose(bracket, bracket.pending())
    slots, beliefs = beliefs_by_hand(posterior, bracket)
    _, cross_cov = posterior.predict_joint(encode([x.config_id for x in slots]), BUDGETS)
    tested = beliefs[0].tested
    cross_cov[0][tested, :] = 0.0
    cross_cov[0][:, tested] = 0.0
    index = risk.next_config_to_test(beliefs, KEEP_SIZES, ETA, 0.01, 1.0, None, cross_cov=cross_cov)
    assert chosen is slots[index] and chosen.config_id == 103


# ------------------------------------------------------------------------------------------------ jump guard
def test_jump_guard_needs_enough_observations_at_the_stage_budget_or_above():
    """The obvious jump of test_jumps_over_certainly_worse_configs... waits until the guard is met."""
    final = {c: 0.9 for c in IDS}
    final[100] = 0.1
    posterior = FakePosterior(final, {c: 1e-4 for c in IDS})
    losses = {100: 0.1, 101: 0.9, 102: 0.9}
    counted = {"n": 0}
    opts = RiskOptions(eta=ETA, R=R, threshold=0.1, best_loss=0.0, min_stage_observations=5)
    policy = RiskPolicy(opts, posterior, encode, lambda: None, None, lambda budget: counted["n"])
    assert policy.decide_jump(make_bracket(losses)) is None            # 3 of this stage, none elsewhere
    counted["n"] = 4
    assert policy.decide_jump(make_bracket(losses)) is None            # 4 anywhere at budget >= 1
    counted["n"] = 5
    assert policy.decide_jump(make_bracket(losses)) is not None
    unguarded = RiskPolicy(RiskOptions(eta=ETA, R=R, threshold=0.1, best_loss=0.0), posterior, encode,
                           lambda: None)
    assert unguarded.decide_jump(make_bracket(losses)) is not None


def test_jump_guard_rule_is_the_models_own_minimum_and_off_by_default():
    from hyperjump_advisor.jumping import min_jump_observations, min_observations
    assert min_jump_observations(6, factor=1) == min_observations(6) == 8
    assert min_jump_observations(6) == 0
