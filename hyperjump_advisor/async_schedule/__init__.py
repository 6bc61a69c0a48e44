"""``exec_mode: async``: ASHA's rungs at Hyperband's budgets, with HyperJump's risk deciding jumps.

No NNI here. The engine drives :class:`AsyncScheduler` through the same three calls as the
synchronous :class:`~hyperjump_advisor.schedule.Scheduler` (``next_slot``, ``finish``, ``revise``)
and installs HyperJump's :class:`~hyperjump_advisor.jumping.RiskPolicy` as ``policy``; the scheduler
reads only the policy's posterior, encodings, incumbent and options (its sync ``choose`` and
``decide_jump`` are not used).

Every configuration starts in one of Hyperband's brackets on rungs shared by all of them, and moves up
as soon as it ranks in the top 1/eta of its rung, or is its rung's best and beats the incumbent. With
HyperJump's risk (everything is a loss; rEAR = EAR / l*, l* as in RiskPolicy): 1. a configuration
promoted out of rung k goes past further rungs while the accumulated rEAR of skipping them stays under
lambda; 2. once there is an incumbent, the remaining candidates of the rung below the top are discarded
(their running trials dropped) when the EAR of keeping only the incumbent is under lambda, with one
rEAR budget per virtual stage. A configuration drawn with probability ``p_no_jump`` (``no_jump``) runs
plain ASHA: it never jumps and no risk rule drops it. With the threshold at 0, or before the model is
ready, it is ASHA.

Modules, one idea each: :mod:`.rungs` (rung budgets, brackets and ASHA's promotion rule, pure),
:mod:`.state` (``Rungs``, the mutable state, its JSON and checks), :mod:`.beliefs` (what the risk rules
read of the policy, and when the GP explains a configuration), :mod:`.jumps` (rule 1, jumps past
rungs), :mod:`.stops` (rule 2, rung stops), :mod:`.scheduler` (``AsyncScheduler``: the engine's calls,
new configurations, state; ``build_async_scheduler``).

Protocol guarantees: every slot resolves (DONE, FAILED, or SKIPPED by our kill); a result counts
once; a final metric that comes after the slot was counted failed revises it (``revise``).
State: :meth:`AsyncScheduler.to_dict` / :meth:`AsyncScheduler.load_dict` (JSON-ready).
"""

from .scheduler import AsyncScheduler, build_async_scheduler

__all__ = ["AsyncScheduler", "build_async_scheduler"]
