"""HyperJump for NNI: Hyperband that skips the stages a GP model says are safe to skip.

``hyperjump_advisor.HyperJump`` is the advisor (imported lazily so that the pure
modules, such as the schedule and the risk maths, load without NNI).
"""
__version__ = "0.1.0"
__all__ = ["HyperJump"]


def __getattr__(name):
    if name == "HyperJump":
        from .advisor import HyperJump
        return HyperJump
    raise AttributeError(f"module 'hyperjump_advisor' has no attribute {name!r}")
