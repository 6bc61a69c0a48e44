"""Tests of hyperjump_advisor.risk: EAR vs Monte Carlo / quadrature, candidate sets, jump decisions, test order."""

import numpy as np
import pytest
from scipy import integrate
from scipy.special import ndtr

from hyperjump_advisor.risk import (
    Z90, JumpDecision, StageBelief, candidate_sets, evaluate_jump_risk, expected_loss_reduction,
    next_config_to_test, rank_one_variances,
)

N_MC = 200_000


# ------------------------------------------------------------------------------------------------ helpers
def mc_ear(belief, keep, rng, noise_std=0.0, n=N_MC):
    """Monte Carlo E[(min_S - min_D)^+] and its standard error."""
    std = np.where(belief.tested, noise_std, belief.std)
    draws = belief.mean[:, None] + std[:, None] * rng.standard_normal((belief.n, n))
    gap = draws[keep].min(axis=0) - draws[~keep].min(axis=0)
    v = np.maximum(gap, 0.0)
    return v.mean(), v.std(ddof=1) / np.sqrt(n)


def quad_ear(belief, keep):
    """Reference: adaptive quadrature of integral F_X(t) (1 - F_Y(t)) dt (untested configs only)."""
    mu, sd = belief.mean, belief.std

    def surv(t, idx):
        return np.prod(ndtr((mu[idx] - t) / sd[idx]))

    s_idx, d_idx = np.flatnonzero(keep), np.flatnonzero(~keep)
    f = lambda t: (1.0 - surv(t, d_idx)) * surv(t, s_idx)
    lo, hi = (mu - 10 * sd).min(), (mu + 10 * sd).max()
    val, _ = integrate.quad(f, lo, hi, points=sorted(mu), limit=1000, epsabs=1e-14, epsrel=1e-11)
    return val


def random_belief(rng, n, frac_tested):
    mean = rng.normal(0.3, 0.08, n)
    std = rng.uniform(0.02, 0.1, n)
    tested = rng.random(n) < frac_tested
    return StageBelief(mean, std, tested)


def assert_mc_agrees(belief, keep, rng, noise_std=0.0):
    ear = expected_loss_reduction(belief, keep, noise_std=noise_std)[0]
    mc, se = mc_ear(belief, keep, rng, noise_std)
    assert abs(ear - mc) <= 4 * se + 1e-12, (ear, mc, se)
    return ear


# ---------------------------------------------------------------------------------------- EAR vs Monte Carlo
@pytest.mark.parametrize("seed", [0, 1, 2])
def test_ear_mc_all_untested(seed):
    rng = np.random.default_rng(seed)
    b = random_belief(rng, 8, 0.0)
    keep = rng.permutation(8) < 3
    assert assert_mc_agrees(b, keep, rng) > 0


def test_ear_all_tested_exact_and_with_noise():
    rng = np.random.default_rng(3)
    b = StageBelief([0.30, 0.25, 0.40, 0.22, 0.35], np.full(5, 0.05), np.ones(5, bool))
    keep = np.array([True, False, True, False, False])
    # point masses: EAR = (min_S - min_D)^+ = 0.30 - 0.22 exactly
    assert expected_loss_reduction(b, keep)[0] == pytest.approx(0.08, abs=1e-12)
    assert expected_loss_reduction(b, ~keep)[0] == pytest.approx(0.0, abs=1e-12)
    # noisy measurements: tested configs are N(loss, noise_std^2)
    for noise in (0.02, 0.1):
        assert_mc_agrees(b, keep, rng, noise_std=noise)
        assert_mc_agrees(b, ~keep, rng, noise_std=noise)


@pytest.mark.parametrize("seed", [4, 5])
def test_ear_mc_mixed_in_d(seed):
    rng = np.random.default_rng(seed)
    mean = rng.normal(0.3, 0.08, 9)
    tested = np.array([False, False, False, True, True, False, True, False, True])
    keep = np.array([True, True, True, False, False, False, False, False, False])   # S untested, D mixed
    b = StageBelief(mean, rng.uniform(0.02, 0.1, 9), tested)
    assert assert_mc_agrees(b, keep, rng) > 0


@pytest.mark.parametrize("seed", [6, 7])
def test_ear_mc_mixed_in_s(seed):
    rng = np.random.default_rng(seed)
    mean = np.sort(rng.normal(0.3, 0.08, 9))[::-1]           # S = the 4 worst means: a sizeable EAR
    tested = np.array([True, False, True, False, False, False, False, False, False])
    keep = np.array([True, True, True, True, False, False, False, False, False])   # S mixed, D untested
    b = StageBelief(mean, rng.uniform(0.02, 0.1, 9), tested)
    assert assert_mc_agrees(b, keep, rng) > 0


@pytest.mark.parametrize("seed", [8, 9, 10, 11])
def test_ear_mc_both_mixed_random_sets(seed):
    rng = np.random.default_rng(seed)
    b = random_belief(rng, 12, 0.5)
    keep = rng.random(12) < 0.4
    keep[0], keep[1] = True, False
    assert_mc_agrees(b, keep, rng)
    assert_mc_agrees(b, keep, rng, noise_std=0.03)


def test_ear_mixed_point_mass_ties_value():
    """Tested value equal to an untested mean and shared by S and D (steps at the same knot)."""
    rng = np.random.default_rng(12)
    b = StageBelief([0.3, 0.3, 0.3, 0.28], [0.0, 0.05, 0.0, 0.04], [True, False, True, False])
    for keep in (np.array([True, True, False, False]), np.array([True, False, False, True])):
        assert_mc_agrees(b, keep, rng)


def test_ear_smooth_case_relative_error_against_quadrature():
    rng = np.random.default_rng(13)
    for n in (2, 6, 20):
        b = random_belief(rng, n, 0.0)
        keep = rng.permutation(n) < max(1, n // 3)
        ref = quad_ear(b, keep)
        assert expected_loss_reduction(b, keep)[0] == pytest.approx(ref, rel=1e-4)


def test_ear_vectorised_rows_match_single_rows():
    rng = np.random.default_rng(14)
    b = random_belief(rng, 15, 0.5)
    masks = rng.random((6, 15)) < 0.4
    masks[:, 0] = True
    together = expected_loss_reduction(b, masks)
    one_by_one = np.array([expected_loss_reduction(b, m)[0] for m in masks])
    np.testing.assert_allclose(together, one_by_one, rtol=1e-5, atol=1e-12)


# ------------------------------------------------------------------------------------------- EAR properties
def test_ear_non_negative():
    rng = np.random.default_rng(20)
    for _ in range(30):
        b = random_belief(rng, int(rng.integers(2, 15)), rng.random())
        masks = rng.random((4, b.n)) < 0.5
        masks[:, 0] = True
        assert np.all(expected_loss_reduction(b, masks) >= 0.0)


def test_ear_zero_when_discarded_are_certainly_worse():
    # S: tested best 0.10; D: tested worse ones and untested ones 30 std above
    b = StageBelief([0.10, 0.50, 0.20, 0.80, 0.70, 0.90],
                    [0.0, 0.01, 0.0, 0.02, 0.0, 0.01],
                    [True, False, True, False, True, False])
    keep = np.array([True, False, False, False, False, False])
    assert expected_loss_reduction(b, keep)[0] == pytest.approx(0.0, abs=1e-12)


def test_ear_grows_as_discarded_get_better():
    base = StageBelief([0.2, 0.25, 0.3, 0.5, 0.55], [0.0, 0.05, 0.03, 0.05, 0.05],
                       [True, False, False, False, False])
    keep = np.array([True, True, True, False, False])
    ears = []
    for shift in np.linspace(0.0, 0.45, 10):
        mean = base.mean - np.where(keep, 0.0, shift)
        ears.append(expected_loss_reduction(StageBelief(mean, base.std, base.tested), keep)[0])
    assert np.all(np.diff(ears) > 0)


def test_ear_empty_d_is_zero_and_empty_s_raises():
    b = StageBelief([0.2, 0.3], [0.1, 0.1], [False, False])
    assert expected_loss_reduction(b, np.array([[True, True]]))[0] == 0.0
    with pytest.raises(ValueError):
        expected_loss_reduction(b, np.array([[False, False]]))


# ------------------------------------------------------------------------------------------- candidate sets
def test_candidate_sets_9_keep_3_by_hand():
    #            idx:  0     1     2     3     4     5     6     7     8
    mean = np.array([0.50, 0.10, 0.40, 0.30, 0.20, 0.60, 0.70, 0.35, 0.80])
    std = np.array([0.30, 0.01, 0.02, 0.05, 0.20, 0.01, 5.00, 0.01, 0.01])
    tested = np.zeros(9, bool)
    tested[6] = True       # its std (5.0) must be ignored: LCB = 0.70, not 0.70 - 6.4
    # by mean: 1, 4, 3 | 7, 2, 0, 5, 6, 8.   K = {1, 3, 4}; floor(log_3 3) = 1 -> 3 sets, r_1 = 1
    # mean swap: drop 3 (worst mean in K), add 7 (best mean in E)                   -> {1, 4, 7}
    # bound swap: UCB in K: 1 -> 0.113, 3 -> 0.364, 4 -> 0.456 (worst) ; LCB in E: 0 -> 0.116 (best)
    #             drop 4, add 0                                                      -> {0, 1, 3}
    sets = candidate_sets(StageBelief(mean, std, tested), n_keep=3, eta=3)
    assert [s.tolist() for s in sets] == [[1, 3, 4], [1, 4, 7], [0, 1, 3]]


def test_candidate_sets_27_keep_9_by_hand():
    mean = np.arange(27) / 100.0            # config i has rank i: K = {0..8}, E = {9..26}
    std = np.full(27, 0.001)
    std[0], std[2] = 0.10, 0.05             # UCB: 0 -> 0.128, 2 -> 0.084, 8 -> 0.081: the 3 worst of K
    std[20], std[26], std[15] = 0.20, 0.15, 0.06   # LCB: 20 -> -0.056, 26 -> 0.068, 15 -> 0.073, 9 -> 0.089
    # floor(log_3 9) = 2 -> 5 sets; r_1 = 3, r_2 = 1
    expected = [
        list(range(9)),                                    # K
        [0, 1, 2, 3, 4, 5, 9, 10, 11],                     # mean swap, r=3: drop 6,7,8 add 9,10,11
        [0, 1, 2, 3, 4, 5, 6, 7, 9],                       # mean swap, r=1: drop 8 add 9
        [1, 3, 4, 5, 6, 7, 15, 20, 26],                    # bound swap, r=3: drop 0,2,8 add 20,26,15
        [1, 2, 3, 4, 5, 6, 7, 8, 20],                      # bound swap, r=1: drop 0 add 20
    ]
    sets = candidate_sets(StageBelief(mean, std, np.zeros(27, bool)), n_keep=9, eta=3)
    assert [s.tolist() for s in sets] == expected


@pytest.mark.parametrize("n, n_keep, eta, count", [
    (81, 27, 3, 7), (80, 26, 3, 5), (9, 3, 3, 3), (5, 1, 3, 1), (16, 8, 2, 7), (10, 9, 3, 5), (4, 4, 3, 1),
])
def test_candidate_sets_count_and_size(n, n_keep, eta, count):
    rng = np.random.default_rng(n + n_keep)
    b = random_belief(rng, n, 0.3)
    sets = candidate_sets(b, n_keep, eta)
    assert len(sets) == count
    for s in sets:
        assert len(s) == min(n_keep, n) and len(np.unique(s)) == len(s) and np.all(np.diff(s) > 0)


def test_candidate_sets_all_tested_bound_swaps_equal_mean_swaps():
    b = StageBelief(np.linspace(0.1, 0.9, 9), np.full(9, 0.3), np.ones(9, bool))
    sets = candidate_sets(b, 3, 3)
    assert sets[1].tolist() == sets[2].tolist() == [0, 1, 3]


# ------------------------------------------------------------------------------------- evaluate_jump_risk
def separated_stages(untested_mean=0.95, untested_std=0.001):
    """9 configs, 3 stages (9 -> 3 -> 1): tested losses 0.1..0.8 well apart, one clearly worse untested config."""
    mean0 = np.array([0.1, 0.2, 0.3, 0.4, 0.5, 0.6, 0.7, 0.8, untested_mean])
    tested = np.array([True] * 8 + [False])
    std0 = np.where(tested, 0.0, untested_std)
    b0 = StageBelief(mean0, std0, tested)
    b1 = StageBelief(mean0 - 0.05, np.full(9, 0.002), np.zeros(9, bool))
    b2 = StageBelief(mean0 - 0.08, np.full(9, 0.002), np.zeros(9, bool))
    return [b0, b1, b2], [3, 1]


def test_jump_multi_hop_to_last_stage_when_clearly_separated():
    beliefs, sizes = separated_stages()
    d = evaluate_jump_risk(beliefs, sizes, eta=3, threshold=0.1, scale=1.0, incumbent_loss=None)
    assert isinstance(d, JumpDecision)
    assert d.hops == 2 and not d.finishes_bracket
    assert d.keep.tolist() == [0]                    # the best config goes to the last stage
    assert len(d.rear_per_hop) == 2 and max(d.rear_per_hop) < 1e-12
    # with an incumbent far better than anything here, the last stage is skipped too
    d = evaluate_jump_risk(beliefs, sizes, eta=3, threshold=0.1, scale=1.0, incumbent_loss=-0.5)
    assert d.finishes_bracket and d.hops == 3 and d.keep.size == 0 and len(d.rear_per_hop) == 3


def test_no_jump_under_huge_uncertainty():
    rng = np.random.default_rng(30)
    mean = rng.normal(0.5, 0.02, 9)
    tested = np.zeros(9, bool)
    tested[0] = True
    b0 = StageBelief(mean, np.where(tested, 0.0, 1.0), tested)
    later = [StageBelief(mean, np.full(9, 1.0), np.zeros(9, bool)) for _ in range(2)]
    d = evaluate_jump_risk([b0] + later, [3, 1], eta=3, threshold=0.1, scale=0.5, incumbent_loss=0.4)
    assert d.hops == 0 and not d.finishes_bracket and d.keep.size == 0
    assert len(d.rear_per_hop) == 1 and d.rear_per_hop[0] > 0.1


def test_jump_exactly_one_hop_when_accumulated_risk_crosses_lambda():
    beliefs, sizes = separated_stages()
    # hop 0 (stage 0 -> 1) carries some risk: two uncertain untested configs (7, 8) near the top; only one of them
    # fits in S next to the tested best two, the other one is discarded
    tested = np.array([True] * 7 + [False, False])
    b0 = StageBelief([0.1, 0.2, 0.3, 0.4, 0.5, 0.6, 0.7, 0.25, 0.25], np.where(tested, 0.0, 0.15), tested)
    # hop 1 (stage 1 -> 2): the kept configs overlap at stage 1's budget
    b1 = StageBelief([0.10, 0.12, 0.4, 0.5, 0.6, 0.7, 0.8, 0.13, 0.13], np.full(9, 0.03), np.zeros(9, bool))
    beliefs = [b0, b1, beliefs[2]]
    probe = evaluate_jump_risk(beliefs, sizes, eta=3, threshold=1e9, scale=1.0, incumbent_loss=None)
    r0, r1 = probe.rear_per_hop
    assert r0 > 0.2 * r1 and r1 > 0.2 * r0           # both hops carry comparable risk
    lam = 1.2 * max(r0, r1)                           # each hop alone is acceptable, their sum is not
    assert r0 <= lam and r1 <= lam and r0 + r1 > lam
    d = evaluate_jump_risk(beliefs, sizes, eta=3, threshold=lam, scale=1.0, incumbent_loss=None)
    assert d.hops == 1 and not d.finishes_bracket
    assert d.rear_per_hop == pytest.approx([r0, r1])
    # the kept set is the argmin candidate of hop 0, and its rEAR is the plain EAR of that choice / scale
    assert d.keep.tolist() == [0, 1, 7]               # {0,1,7} and {0,1,8} tie by symmetry: the first (K) wins
    keep_mask = np.isin(np.arange(9), d.keep)
    assert expected_loss_reduction(b0, keep_mask)[0] == pytest.approx(r0, rel=1e-6)
    # scale divides: with scale 2 both rEARs halve and the same lambda now allows both hops
    d2 = evaluate_jump_risk(beliefs, sizes, eta=3, threshold=lam, scale=2.0, incumbent_loss=None)
    assert d2.hops == 2 and d2.rear_per_hop == pytest.approx([r0 / 2, r1 / 2])


def test_last_stage_skip_with_and_without_incumbent():
    # current stage is the last one: 3 tested, 2 untested clearly worse than the incumbent
    b = StageBelief([0.30, 0.35, 0.40, 0.70, 0.80], [0.0, 0.0, 0.0, 0.02, 0.02], [True, True, True, False, False])
    d = evaluate_jump_risk([b], [], eta=3, threshold=0.1, scale=1.0, incumbent_loss=None)
    assert d.hops == 0 and not d.finishes_bracket and d.rear_per_hop == []
    d = evaluate_jump_risk([b], [], eta=3, threshold=0.1, scale=1.0, incumbent_loss=0.25)
    assert d.finishes_bracket and d.hops == 1 and d.keep.size == 0 and d.rear_per_hop[0] < 1e-12
    # an uncertain untested config that may beat the incumbent blocks the skip
    risky = StageBelief([0.30, 0.35, 0.40, 0.30, 0.80], [0.0, 0.0, 0.0, 0.2, 0.02], [True, True, True, False, False])
    d = evaluate_jump_risk([risky], [], eta=3, threshold=0.01, scale=1.0, incumbent_loss=0.25)
    assert d.hops == 0 and not d.finishes_bracket and d.rear_per_hop[0] > 0.01
    # the risk is EAR(keep tested + incumbent point mass, discard untested)
    with_inc = StageBelief(np.append(risky.mean, 0.25), np.append(risky.std, 0.0), np.append(risky.tested, True))
    keep = np.append(risky.tested, True)
    assert d.rear_per_hop[0] == pytest.approx(expected_loss_reduction(with_inc, keep)[0], rel=1e-6)


def test_threshold_zero_never_jumps_and_all_tested_means_no_jump():
    beliefs, sizes = separated_stages()
    for thr in (0.0, -1.0):
        d = evaluate_jump_risk(beliefs, sizes, eta=3, threshold=thr, scale=1.0, incumbent_loss=-0.5)
        assert d.hops == 0 and not d.finishes_bracket and d.keep.size == 0 and d.rear_per_hop == []
    all_tested = StageBelief(beliefs[0].mean, np.zeros(9), np.ones(9, bool))
    d = evaluate_jump_risk([all_tested] + beliefs[1:], sizes, eta=3, threshold=0.1, scale=1.0, incumbent_loss=-0.5)
    assert d.hops == 0 and d.rear_per_hop == []


def test_evaluate_rejects_bad_inputs():
    beliefs, sizes = separated_stages()
    with pytest.raises(ValueError):
        evaluate_jump_risk(beliefs, [3], eta=3, threshold=0.1, scale=1.0, incumbent_loss=None)
    with pytest.raises(ValueError):
        evaluate_jump_risk(beliefs, sizes, eta=3, threshold=0.1, scale=0.0, incumbent_loss=None)


# -------------------------------------------------------------------------------------- next_config_to_test
def test_next_config_picks_the_config_that_unlocks_a_jump():
    # stage 0 -> keep 1 at stage 1.  Tested best 0.30.  Config 1 is uncertain (may beat 0.30); configs 2, 3 are
    # certainly worse but have LOWER means, so "lowest mean" would pick 2.  Testing 1 (pretend at 0.75) removes
    # the risk; testing 2 or 3 leaves config 1 uncertain in D.
    b0 = StageBelief([0.30, 0.75, 0.60, 0.65], [0.0, 0.3, 0.01, 0.01], [True, False, False, False])
    b1 = StageBelief([0.25, 0.70, 0.55, 0.60], [0.01, 0.3, 0.01, 0.01], [False] * 4)
    args = dict(keep_sizes=[1], eta=3, threshold=0.001, scale=1.0, incumbent_loss=None)
    assert next_config_to_test([b0, b1], **args) == 1
    d1 = evaluate_jump_risk([b0.with_tested(1), b1], **args)
    d2 = evaluate_jump_risk([b0.with_tested(2), b1], **args)
    assert d1.hops == 1 and d2.hops == 0
    # last-stage rule: same idea with an incumbent
    last = StageBelief([0.50, 0.95, 0.60], [0.0, 0.5, 0.01], [True, False, False])
    assert next_config_to_test([last], [], eta=3, threshold=0.01, scale=1.0, incumbent_loss=0.4) == 1
    # threshold 0: no risk evaluation, lowest mean untested
    assert next_config_to_test([b0, b1], [1], eta=3, threshold=0.0, scale=1.0, incumbent_loss=None) == 2


def scenario_81(seed, n_stages=5):
    rng = np.random.default_rng(seed)
    n = 81
    base = rng.normal(0.5, 0.08, n)
    tested = np.zeros(n, bool)
    tested[rng.permutation(n)[:40]] = True
    beliefs = [StageBelief(base - 0.05 * h + rng.normal(0, 0.005, n),
                           rng.uniform(0.5, 1.5, n) * 0.03 * (1 + 0.5 * h),
                           tested if h == 0 else np.zeros(n, bool)) for h in range(n_stages)]
    return beliefs, [27, 9, 3, 1][:n_stages - 1], rng


@pytest.mark.parametrize("thr, inc, noise", [(0.1, 0.35, 0.0), (1.0, 0.35, 0.0), (0.02, None, 0.0), (0.1, 0.35, 0.02)])
def test_next_config_matches_brute_force_over_evaluate(thr, inc, noise):
    """The fast paths (shared grid, memo) agree with calling evaluate_jump_risk on each pretend belief."""
    beliefs, sizes, _ = scenario_81(40)
    args = dict(keep_sizes=sizes, eta=3, threshold=thr, scale=0.3, incumbent_loss=inc, noise_std=noise)
    keys = {}
    for c in np.flatnonzero(~beliefs[0].tested):
        d = evaluate_jump_risk([beliefs[0].with_tested(c)] + beliefs[1:], **args)
        keys[int(c)] = (-d.hops, d.accumulated_rear)
    best = min(keys.values())
    chosen = next_config_to_test(beliefs, **args)
    # same jump length, same accumulated rEAR up to the (1e-6-level) difference between the two quadrature grids
    assert keys[chosen][0] == best[0] and keys[chosen][1] <= best[1] + 1e-6


def test_rank_one_update_matches_gaussian_conditioning():
    rng = np.random.default_rng(50)
    n, n_stages = 5, 3
    a = rng.normal(size=(n * n_stages, n * n_stages + 3))
    joint = a @ a.T / 10.0                     # covariance of (loss_i at stage h), flattened as h * n + i
    c = 2
    beliefs = [StageBelief(np.zeros(n), np.sqrt(np.diag(joint)[h * n:(h + 1) * n]), np.zeros(n, bool))
               for h in range(n_stages)]
    cross_cov = [joint[h * n:(h + 1) * n, 0:n] for h in range(n_stages)]   # [i, c] = cov(stage-h i, current c)
    stds = rank_one_variances(beliefs, cross_cov, c)
    # direct conditioning on the observed coordinate (0, c) through the precision matrix
    others = np.array([k for k in range(n * n_stages) if k != c])
    cond_cov = np.linalg.inv(np.linalg.inv(joint)[np.ix_(others, others)])
    direct = np.insert(np.diag(cond_cov), c, 0.0)
    # a belief's std carries 24 significant bits (the tie rule, hyperjump_advisor/ties.py): variances to 2^-22
    np.testing.assert_allclose(np.concatenate(stds) ** 2, direct, rtol=2.0 ** -22, atol=1e-12)


def pretend_tested_with_rank_one_update(beliefs, cross_cov, c):
    """Config c observed at its mean: every stage's variances shrink by the rank-one update, c becomes tested."""
    stds = rank_one_variances(beliefs, cross_cov, c)
    out = []
    for h, (b, std) in enumerate(zip(beliefs, stds)):
        tested = b.tested.copy()
        if h == 0:
            std, tested[c] = std.copy(), True
            std[c] = 0.0
        out.append(StageBelief(b.mean, std, tested))
    return out


def test_next_config_with_cross_cov_matches_brute_force_over_pretend_beliefs():
    beliefs, sizes, rng = scenario_81(41)
    n = beliefs[0].n
    f = rng.normal(size=(n, 6))
    corr = f @ f.T + np.eye(n)
    d = np.sqrt(np.diag(corr))
    corr /= np.outer(d, d)
    cross_cov = [np.outer(b.std, beliefs[0].std) * corr * 0.9 ** h for h, b in enumerate(beliefs)]
    cross_cov[0] = np.outer(beliefs[0].std, beliefs[0].std) * corr
    args = dict(keep_sizes=sizes, eta=3, threshold=0.1, scale=0.3, incumbent_loss=0.35)
    keys = []
    for c in np.flatnonzero(~beliefs[0].tested):
        decision = evaluate_jump_risk(pretend_tested_with_rank_one_update(beliefs, cross_cov, c), **args)
        keys.append((-decision.hops, decision.accumulated_rear, beliefs[0].mean[c], c))
    keys.sort()
    assert keys[0][:2] != keys[1][:2], "the scenario should not be decided by the mean/index tie-breaks alone"
    assert next_config_to_test(beliefs, cross_cov=cross_cov, **args) == keys[0][3]


def test_next_config_max_candidates_knob():
    beliefs, sizes, _ = scenario_81(43)
    args = dict(keep_sizes=sizes, eta=3, threshold=0.1, scale=0.3, incumbent_loss=0.35)
    n_untested = int((~beliefs[0].tested).sum())
    exact = next_config_to_test(beliefs, **args)
    assert next_config_to_test(beliefs, max_candidates=n_untested, **args) == exact
    b0 = beliefs[0]
    optimistic = np.where(b0.tested, np.inf, b0.mean - Z90 * b0.std)
    allowed = set(np.argsort(optimistic)[:5].tolist())
    assert next_config_to_test(beliefs, max_candidates=5, **args) in allowed


def test_z90_value():
    assert ndtr(Z90) == pytest.approx(0.9, abs=1e-12)
