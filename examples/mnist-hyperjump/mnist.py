"""NNI trial: an MLP on MNIST (or scikit-learn digits), trained epoch by epoch.

Run by NNI (``trialCommand: python3 mnist.py``) the hyperparameters come from
``nni.get_next_parameter()``; ``TRIAL_BUDGET`` (added by Hyperband-style
advisors such as HyperJump) is the number of epochs to train.

Reported metrics:

* after every epoch ``nni.report_intermediate_result({"default": val_accuracy,
  "budget": epochs_done})``;
* at the end ``nni.report_final_result(val_accuracy)`` (a plain float, equal
  to the last intermediate ``default``).

Run by hand (``python mnist.py --epochs 3``) NNI 3.0's standalone mode returns
``{}`` as parameters, so the defaults below and ``--epochs`` are used and the
reports are only logged.

Pause-resume: when the advisor adds ``HYPERJUMP_CONFIG_KEY`` (HyperJump
with ``pause_resume: true``, the default), the trial loads the latest
checkpoint of its configuration (:mod:`hyperjump_advisor.trial`), prints
``resumed from epoch N`` or ``training from scratch``, trains only the
missing epochs (reporting only those) and saves a checkpoint after every
epoch, so a killed trial loses at most one epoch. A checkpoint holds
:class:`TrainingState` (the fitted model, which also owns its random state,
the epochs done and their accuracies), so a resumed run is identical to an
uninterrupted one.
"""

from __future__ import annotations

import argparse
import math
import numbers
import sys
import time
import warnings
from dataclasses import dataclass, field
from pathlib import Path
from typing import Any, Callable, Mapping, Optional

import numpy as np
from sklearn.neural_network import MLPClassifier

_HERE = str(Path(__file__).resolve().parent)
if _HERE not in sys.path:  # so `import mnist` works from anywhere
    sys.path.insert(0, _HERE)
from data import Dataset, load_dataset  # noqa: E402

try:
    from hyperjump_advisor.trial import Checkpoint, is_reserved_key
except ImportError:
    _REPO = Path(_HERE).parents[1]
    if (_REPO / "hyperjump_advisor" / "trial.py").is_file():  # a checkout without `pip install -e .`
        sys.path.append(str(_REPO))
        from hyperjump_advisor.trial import Checkpoint, is_reserved_key
    else:  # e.g. a remote host with only this folder uploaded: the trial runs, without pause-resume
        Checkpoint = None

        def is_reserved_key(key: str) -> bool:
            return key == "TRIAL_BUDGET" or key.startswith("HYPERJUMP_")


class _NoCheckpoint:
    """Stands in for hyperjump_advisor.trial.Checkpoint where that package is not installed."""
    enabled, resume_from, folder = False, 0, None

    def load(self):
        return 0, None

    def save(self, budget, state):
        return None

    def path(self, budget):
        return None

#: Key that Hyperband-style advisors (NNI Hyperband, HyperJump) add to the
#: parameters: the number of epochs this trial should train.
BUDGET_KEY = "TRIAL_BUDGET"

#: The hyperparameters this trial understands, with the values used when the
#: tuner does not provide them (e.g. standalone runs). Other keys are ignored.
DEFAULT_PARAMS: dict[str, Any] = {
    "hidden_size": 128,
    "learning_rate_init": 1e-3,
    "alpha": 1e-4,
    "batch_size": 64,
}

_INT_PARAMS = ("hidden_size", "batch_size")

ReportIntermediate = Callable[[dict], None]
ReportFinal = Callable[[float], None]


# ---------------------------------------------------------------------------
# Parameters
# ---------------------------------------------------------------------------

def _as_int(key: str, value: Any) -> int:
    if isinstance(value, bool) or not isinstance(value, numbers.Real):
        raise ValueError(f"{key} must be a number, got {value!r}")
    if isinstance(value, numbers.Integral):
        return int(value)
    if not float(value).is_integer():
        raise ValueError(f"{key} must be an integer, got {value!r}")
    return int(value)


def parse_budget(value: Any) -> int:
    """``TRIAL_BUDGET`` as a number of epochs (int >= 1).

    NNI's Hyperband sends ints; an integral float (``9.0``) is accepted and a
    fractional one is rounded up, so a trial never trains less than asked.
    """
    if isinstance(value, bool) or not isinstance(value, numbers.Real) or not math.isfinite(value):
        raise ValueError(f"{BUDGET_KEY} must be a number of epochs, got {value!r}")
    epochs = math.ceil(value - 1e-9)
    if epochs < 1:
        raise ValueError(f"{BUDGET_KEY} must be >= 1 epoch, got {value!r}")
    return int(epochs)


def resolve_params(raw: Optional[Mapping[str, Any]]) -> tuple[dict, Optional[int], list]:
    """Split the tuner's parameters into ``(model_params, budget, ignored)``.

    ``model_params`` holds exactly the keys of :data:`DEFAULT_PARAMS`
    (defaults filled in, types checked); ``budget`` is the parsed
    ``TRIAL_BUDGET`` or ``None``; ``ignored`` lists the unknown keys
    (e.g. bookkeeping keys added by newer advisors), which are dropped.
    HyperJump's own ``HYPERJUMP_*`` keys are dropped silently (they drive
    pause-resume, see :func:`run_trial`) and never reach the model.
    """
    raw = dict(raw or {})
    budget = parse_budget(raw.pop(BUDGET_KEY)) if BUDGET_KEY in raw else None
    params = dict(DEFAULT_PARAMS)
    ignored = []
    for key, value in raw.items():
        if is_reserved_key(key):
            continue
        if key not in DEFAULT_PARAMS:
            ignored.append(key)
            continue
        if key in _INT_PARAMS:
            value = _as_int(key, value)
        elif isinstance(value, bool) or not isinstance(value, numbers.Real):
            raise ValueError(f"{key} must be a number, got {value!r}")
        else:
            value = float(value)
        params[key] = value
    for key in _INT_PARAMS:
        if params[key] < 1:
            raise ValueError(f"{key} must be >= 1, got {params[key]}")
    if not params["learning_rate_init"] > 0:
        raise ValueError(f"learning_rate_init must be > 0, got {params['learning_rate_init']}")
    if not params["alpha"] >= 0:
        raise ValueError(f"alpha must be >= 0, got {params['alpha']}")
    return params, budget, sorted(ignored)


# ---------------------------------------------------------------------------
# Training
# ---------------------------------------------------------------------------

@dataclass
class TrainingState:
    """All mutable training state; pause-resume saves/loads this (see :func:`state_to_checkpoint`).

    ``model`` owns its ``numpy.random.RandomState`` (weight init + per-epoch
    shuffling), so the state is complete without a separate RNG.
    """

    model: MLPClassifier
    epochs_done: int = 0
    val_accuracies: list = field(default_factory=list)  # one per epoch done


def make_model(params: Mapping[str, Any], seed: int = 0) -> MLPClassifier:
    """The classifier for ``params`` (the keys of :data:`DEFAULT_PARAMS`)."""
    return MLPClassifier(
        hidden_layer_sizes=(int(params["hidden_size"]),),
        learning_rate_init=float(params["learning_rate_init"]),
        alpha=float(params["alpha"]),
        batch_size=int(params["batch_size"]),
        solver="adam",
        shuffle=True,
        # An *instance*, not an int: with an int, sklearn re-seeds on every
        # partial_fit call and each epoch would visit the mini-batches in the
        # same order.
        random_state=np.random.RandomState(seed),
    )


def new_state(params: Mapping[str, Any], seed: int = 0) -> TrainingState:
    return TrainingState(model=make_model(params, seed))


def train_one_epoch(state: TrainingState, data: Dataset) -> None:
    """One pass over the training set (``partial_fit`` = one shuffled epoch)."""
    with warnings.catch_warnings():
        # batch_size > n_samples is clipped by sklearn with a warning; harmless.
        warnings.filterwarnings("ignore", message=".*batch_size.*clipped", category=UserWarning)
        state.model.partial_fit(data.X_train, data.y_train, classes=data.classes)
    state.epochs_done += 1


def evaluate(model: MLPClassifier, X: np.ndarray, y: np.ndarray) -> float:
    return float(np.mean(model.predict(X) == y))


def train(
    params: Mapping[str, Any],
    epochs: int,
    data: Dataset,
    report_intermediate: ReportIntermediate,
    report_final: ReportFinal,
    state: Optional[TrainingState] = None,
    seed: int = 0,
    log: Callable[[str], None] = print,
    on_epoch: Optional[Callable[[TrainingState], None]] = None,
) -> TrainingState:
    """Train until ``epochs`` epochs are done in total and report.

    ``params`` are model parameters (see :func:`resolve_params`). After each
    epoch ``report_intermediate({"default": acc, "budget": epochs_done})`` is
    called; at the end ``report_final(acc)`` with the last validation
    accuracy. Pass ``state`` to continue a previous run (its ``epochs_done``
    counts towards ``epochs``; only the epochs trained here are reported).
    ``on_epoch(state)`` is called after each epoch, before its report (e.g.
    to save a checkpoint). Returns the final state.
    """
    if epochs < 1:
        raise ValueError(f"epochs must be >= 1, got {epochs}")
    if state is None:
        state = new_state(params, seed)
    acc = state.val_accuracies[-1] if state.val_accuracies else None
    while state.epochs_done < epochs:
        t0 = time.perf_counter()
        train_one_epoch(state, data)
        acc = evaluate(state.model, data.X_val, data.y_val)
        state.val_accuracies.append(acc)
        log(f"epoch {state.epochs_done}/{epochs}: val_accuracy={acc:.4f} "
            f"loss={state.model.loss_:.4f} ({time.perf_counter() - t0:.3f}s)")
        if on_epoch is not None:
            on_epoch(state)
        report_intermediate({"default": acc, "budget": state.epochs_done})
    if acc is None:  # resumed state that had no recorded accuracy
        acc = evaluate(state.model, data.X_val, data.y_val)
    report_final(float(acc))
    return state

# ---------------------------------------------------------------------------
# Pause-resume (checkpoints through hyperjump_advisor.trial)
# ---------------------------------------------------------------------------

_CHECKPOINT_FORMAT = 1


def state_to_checkpoint(state: TrainingState, params: Mapping[str, Any], data: Dataset, seed: int) -> dict:
    """What is pickled: plain containers and the sklearn model, so a checkpoint
    written by ``python mnist.py`` (class in ``__main__``) loads in ``import mnist``
    and vice versa. ``params``/``data``/``seed`` are kept to refuse a mismatch."""
    return {
        "format": _CHECKPOINT_FORMAT,
        "model": state.model,
        "epochs_done": state.epochs_done,
        "val_accuracies": list(state.val_accuracies),
        "params": dict(params),
        "data": data.describe(),
        "seed": seed,
    }


def state_from_checkpoint(saved: Any, epochs: int, params: Mapping[str, Any], data: Dataset,
                          seed: int) -> tuple[Optional[TrainingState], str]:
    """``(state, "")`` if ``saved`` is a usable checkpoint at ``epochs`` epochs of
    this run, else ``(None, why_not)``."""
    if not isinstance(saved, dict) or saved.get("format") != _CHECKPOINT_FORMAT:
        return None, "not a checkpoint of this trial script"
    model = saved.get("model")
    if not isinstance(model, MLPClassifier):
        return None, "no MLPClassifier in it"
    if saved.get("epochs_done") != epochs or len(saved.get("val_accuracies", ())) != epochs:
        return None, f"it holds {saved.get('epochs_done')!r} epochs, its file name says {epochs}"
    if saved.get("params") != dict(params):
        return None, f"saved with other hyperparameters {saved.get('params')}"
    if saved.get("data") != data.describe():
        return None, f"saved with another data set ({saved.get('data')})"
    if saved.get("seed") != seed:
        return None, f"saved with --seed {saved.get('seed')}"
    if getattr(model, "n_features_in_", None) != data.X_train.shape[1]:
        return None, "model input size differs from the data"
    return TrainingState(model=model, epochs_done=epochs,
                         val_accuracies=[float(a) for a in saved["val_accuracies"]]), ""


@dataclass
class TrialResult:
    state: TrainingState
    params: dict
    epochs: int              # epochs to reach (TRIAL_BUDGET or --epochs)
    start_epoch: int         # epochs already done by the loaded checkpoint (0: from scratch)
    epochs_trained: int      # epochs trained by this trial
    checkpoint: Checkpoint
    save_seconds: float = 0.0  # total time spent writing checkpoints
    saves: int = 0


def run_trial(
    raw: Optional[Mapping[str, Any]],
    data: Dataset,
    report_intermediate: ReportIntermediate,
    report_final: ReportFinal,
    *,
    default_epochs: int = 3,
    seed: int = 0,
    checkpoint_folder: Optional[Any] = None,
    log: Callable[[str], None] = print,
) -> TrialResult:
    """One trial with pause-resume: resume from the configuration's latest
    checkpoint (if the advisor sent ``HYPERJUMP_CONFIG_KEY``), train up to
    ``TRIAL_BUDGET`` (else ``default_epochs``) epochs, reporting only the
    epochs trained here, and save a checkpoint after every epoch.

    ``checkpoint_folder`` defaults to :func:`hyperjump_advisor.trial.checkpoint_dir`
    (``$HYPERJUMP_CHECKPOINT_DIR`` or ``~/.cache/hyperjump-advisor/<experiment id>``).
    """
    params, budget, _ = resolve_params(raw)
    epochs = budget if budget is not None else int(default_epochs)
    if epochs < 1:
        raise ValueError(f"epochs must be >= 1, got {epochs}")
    if Checkpoint is None:
        log("hyperjump_advisor is not installed on this machine: pause-resume off")
        ckpt = _NoCheckpoint()
    else:
        ckpt = Checkpoint.for_trial(raw, folder=checkpoint_folder, max_budget=epochs)

    state = None
    start, saved = ckpt.load()
    if saved is not None:
        state, problem = state_from_checkpoint(saved, start, params, data, seed)
        if state is None:
            log(f"checkpoint {ckpt.path(start)} not used: {problem}")
            start = 0
    if state is not None:
        note = "" if ckpt.resume_from == start else f"; the advisor expected epoch {ckpt.resume_from}"
        log(f"resumed from epoch {start} ({ckpt.path(start)}{note})")
    else:
        log("training from scratch" + ("" if ckpt.enabled else " (no HYPERJUMP_CONFIG_KEY: pause-resume off)"))

    result = TrialResult(state=None, params=params, epochs=epochs, start_epoch=start,  # type: ignore[arg-type]
                         epochs_trained=0, checkpoint=ckpt)

    def save(st: TrainingState) -> None:
        t0 = time.perf_counter()
        ckpt.save(st.epochs_done, state_to_checkpoint(st, params, data, seed))
        result.save_seconds += time.perf_counter() - t0
        result.saves += 1

    result.state = train(params, epochs, data, report_intermediate, report_final, state=state, seed=seed,
                         log=log, on_epoch=save if ckpt.enabled else None)
    result.epochs_trained = result.state.epochs_done - start
    return result


# ---------------------------------------------------------------------------
# Command line / NNI entry point
# ---------------------------------------------------------------------------

def parse_args(argv=None) -> argparse.Namespace:
    p = argparse.ArgumentParser(description=__doc__.split("\n\n")[0])
    p.add_argument("--epochs", type=int, default=3,
                   help=f"epochs when the parameters carry no {BUDGET_KEY} (standalone runs)")
    p.add_argument("--data-dir", default=None,
                   help="directory with the MNIST IDX files (default: $MNIST_DATA_DIR)")
    p.add_argument("--dataset", choices=("auto", "mnist", "digits"), default="auto",
                   help="auto: MNIST if its files are found, else digits")
    p.add_argument("--max-train", type=int, default=10000,
                   help="MNIST training images per epoch (<= 0: all 55,000)")
    p.add_argument("--val-size", type=int, default=5000, help="MNIST validation images")
    p.add_argument("--seed", type=int, default=0, help="model init/shuffle seed")
    p.add_argument("--threads", type=int, default=1,
                   help="BLAS threads per trial (0: library default); 1 suits concurrent trials")
    return p.parse_args(argv)


def main(argv=None) -> int:
    args = parse_args(argv)
    if args.threads > 0:
        from threadpoolctl import threadpool_limits  # installed with scikit-learn
        threadpool_limits(args.threads)

    import nni

    raw = nni.get_next_parameter()  # {} when run outside NNI (standalone mode)
    if raw is None:
        raw = {}
    params, budget, ignored = resolve_params(raw)
    if budget is not None:
        epochs, origin = budget, BUDGET_KEY
    else:
        epochs, origin = args.epochs, "--epochs"
    if epochs < 1:
        raise SystemExit(f"epochs must be >= 1, got {epochs}")

    print(f"Trial {nni.get_trial_id()}: params={params} epochs={epochs} (from {origin})", flush=True)
    if ignored:
        print(f"Ignoring unknown parameter keys: {', '.join(ignored)}", flush=True)

    data = load_dataset(args.data_dir, args.dataset, max_train=args.max_train,
                        val_size=args.val_size, log=lambda m: print(m, flush=True))
    print(data.describe(), flush=True)

    result = run_trial(raw, data,
                       report_intermediate=nni.report_intermediate_result,
                       report_final=nni.report_final_result,
                       default_epochs=epochs, seed=args.seed,
                       log=lambda m: print(m, flush=True))
    state = result.state
    print(f"Final val_accuracy={state.val_accuracies[-1]:.4f} after {state.epochs_done} epochs "
          f"({result.epochs_trained} trained in this trial)", flush=True)
    if result.saves:
        print(f"Checkpoints: {result.saves} saved in {result.save_seconds:.3f}s "
              f"({result.checkpoint.folder})", flush=True)
    if data.X_test is not None:
        test_acc = evaluate(state.model, data.X_test, data.y_test)
        print(f"Test accuracy (t10k, for information only, not reported): {test_acc:.4f}", flush=True)
    return 0


if __name__ == "__main__":
    sys.exit(main())
