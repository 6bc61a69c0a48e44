"""Risk maths of HyperJump (Mendes et al., AAAI 2022): EAR, candidate sets, multi-hop jumps, test order.

Pure numpy/scipy; no NNI, no I/O.  Everything is a LOSS (lower is better); the advisor converts metrics.

Symbols (paper -> here)
-----------------------
- C: the configs of the current stage (indices 0..n-1), T/U: tested/untested (``StageBelief.tested``).
- S / D: the configs kept for / discarded at the target stage (a boolean row of ``keep_masks``).
- EAR (paper Eq. 1, turned into losses): with X = min loss over D and Y = min loss over S, independent,

      EAR(D, S) = E[(Y - X)^+] = integral_t F_X(t) * (1 - F_Y(t)) dt

  because (Y - X)^+ = integral_t 1{X <= t < Y} dt.  For the min of independent variables
  1 - F_min(t) = prod_c G_c(t) with G_c the survival function of config c:
  an untested config is N(mean, std^2) -> G_c(t) = Phi((mean - t) / std); a tested config with loss m is a
  point mass -> G_c(t) = 1{t < m} (or a Gaussian with std ``noise_std`` when noise_std > 0).
  So, with l_c(t) = log G_c(t):  EAR = integral_t (1 - exp(sum_{c in D} l_c(t))) * exp(sum_{c in S} l_c(t)) dt.
  (This is *not* the reference code's mixed-set conditional density, which drops the point mass.)
- rEAR = EAR / l*, lambda = the threshold on the accumulated rEAR of a jump, eta = Hyperband's factor.

Numerics
--------
One quadrature grid serves every candidate set of a hop (and, in next_config_to_test, every pretend evaluation of
the current stage): composite Gauss-Legendre (``_GL_ORDER`` nodes per panel) on panels whose knots are every point
mass (so steps integrate exactly: nodes are strictly inside panels) and mean + k*std of every Gaussian
(k in ``_SIGMA_KNOTS``), thinned so that panels are about ``_SPACING`` times the smallest std covering them, on
[min over D of lower support, max over rows of min over S of upper support].  The (n, G) matrix of log-survival
values is multiplied by the (2m, n) masks of S and D (one BLAS call) and integrated with the (G,) weights.
Accuracy vs adaptive quadrature (scipy.integrate.quad), random smooth and mixed cases: relative error < 1e-6 typical,
2e-5 at worst (only for EARs below 1e-6, far tails);
well inside Monte Carlo error everywhere (see tests/test_risk.py).  The constants are in ``quadrature`` and
``marginals``.

Timing (2-core dev box, numpy 2.4 / scipy 1.17, best of 7; 81 configs, 5 stages, keep sizes 27/9/3/1, eta=3):
  half tested:  evaluate_jump_risk 0.5-1 ms; next_config_to_test 4-6 ms; with cross_cov 25-50 ms.
  none tested:  evaluate_jump_risk ~1.2 ms;  next_config_to_test ~10 ms;  with cross_cov ~100 ms
                (``max_candidates`` bounds the number of pretend evaluations if that is too slow).

Modules (one idea each)
-----------------------
- ``beliefs``:    StageBelief (what is believed about a stage) and JumpDecision (what EVALUATE_JUMP_RISK decides).
- ``marginals``:  per-config loss distributions (point mass or Gaussian) and their log-survival functions.
- ``quadrature``: the shared Gauss-Legendre grid (knots at steps and Gaussian quantiles, thinned).
- ``ear``:        EAR of keeping S / discarding D on a grid; ``expected_loss_reduction``.
- ``candidates``: Alg. 2, GET_CANDIDATES_FOR_S; the 90% bound factor Z90.
- ``jumps``:      Alg. 3, EVALUATE_JUMP_RISK (multi-hop, and skipping the last stage).
- ``order``:      NEXT_CONF_TO_TEST (pretend evaluations, optionally with a rank-one variance update).
"""
from __future__ import annotations

from .beliefs import JumpDecision, StageBelief
from .candidates import Z90, candidate_sets
from .ear import expected_loss_reduction
from .jumps import evaluate_jump_risk
from .order import next_config_to_test, rank_one_variances

__all__ = [
    "JumpDecision", "StageBelief", "Z90", "candidate_sets", "evaluate_jump_risk", "expected_loss_reduction",
    "next_config_to_test", "rank_one_variances",
]
