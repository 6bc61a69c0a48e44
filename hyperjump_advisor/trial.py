"""Trial-side helper for HyperJump's pause-resume training (no NNI manager needed).

With ``pause_resume`` on (the default), the advisor adds one key to every
trial's parameters, besides the hyperparameters and ``TRIAL_BUDGET``:
``HYPERJUMP_RESUME_FROM``, the largest budget the configuration completed in
earlier trials (0 if none). Informational only: a trial resumes from what its
checkpoint actually holds (a killed trial may have saved a later epoch). The
checkpoint's name comes from the hyperparameters themselves (a hash), so every
trial of a configuration finds the same files; ``HYPERJUMP_CONFIG_KEY``, if a
caller sets it, names them instead.

Without ``HYPERJUMP_RESUME_FROM`` (``pause_resume: false``, standalone runs) a
:class:`Checkpoint` is disabled: ``load()`` gives ``(0, None)`` and ``save()``
does nothing, so the trial trains from scratch. Usage::

    import nni
    from hyperjump_advisor.trial import BUDGET_KEY, Checkpoint, hyperparameters

    params = nni.get_next_parameter()
    ckpt = Checkpoint.for_trial(params)           # folder: checkpoint_dir()
    start, model = ckpt.load()                    # (0, None) -> from scratch
    if model is None:
        model = build_model(**hyperparameters(params))
    for epoch in range(start + 1, int(params[BUDGET_KEY]) + 1):
        acc = train_one_epoch(model)
        ckpt.save(epoch, model)                   # atomic; older ones deleted
        nni.report_intermediate_result({"default": acc, "budget": epoch})
    nni.report_final_result(evaluate(model))

Checkpoints are pickles (``<key>@<budget>.ckpt``) in :func:`checkpoint_dir`,
which persists across the trials of one experiment on one machine. Only load
checkpoints from folders you trust (unpickling can run code).
"""
from __future__ import annotations

import hashlib
import json
import numbers
import os
import pickle
import re
import sys
import tempfile
import time
from pathlib import Path
from typing import Any, Mapping, Optional, Union

from .files import sync_folder
from .keys import BUDGET_KEY, CONFIG_KEY, RESUME_KEY  # noqa: F401  (re-exported for trial code)

__all__ = [
    "BUDGET_KEY", "CONFIG_KEY", "RESUME_KEY", "ENV_CHECKPOINT_DIR",
    "Checkpoint", "checkpoint_dir", "configuration_key", "hyperparameters", "is_reserved_key",
]

#: Environment variable overriding the checkpoint folder.
ENV_CHECKPOINT_DIR = "HYPERJUMP_CHECKPOINT_DIR"

_RESERVED_PREFIX = "HYPERJUMP_"
_SAFE_NAME = re.compile(r"[A-Za-z0-9][A-Za-z0-9._-]{0,99}")
_SUFFIX = ".ckpt"
_FORMAT = 1
#: Temp files of a save (``.<key>@<budget>.*.tmp``) older than this are left
#: over by killed trials and are removed by the next successful save.
_STALE_TMP_SECONDS = 3600.0


def _warn(message: str) -> None:
    print(f"hyperjump_advisor.trial: WARNING: {message}", file=sys.stderr, flush=True)


def is_reserved_key(key: str) -> bool:
    """True for ``TRIAL_BUDGET`` and ``HYPERJUMP_*`` keys (not hyperparameters)."""
    return key == BUDGET_KEY or str(key).startswith(_RESERVED_PREFIX)


def hyperparameters(params: Optional[Mapping[str, Any]]) -> dict:
    """``params`` without ``TRIAL_BUDGET`` and the ``HYPERJUMP_*`` keys (a new dict)."""
    return {k: v for k, v in dict(params or {}).items() if not is_reserved_key(k)}


def configuration_key(params: Optional[Mapping[str, Any]]) -> str:
    """The name of a configuration's checkpoints: a hash of its hyperparameters (reserved keys left out)."""
    text = json.dumps(hyperparameters(params), sort_keys=True, default=repr)
    return "h-" + hashlib.sha1(text.encode("utf-8")).hexdigest()[:16]


def _safe_name(name: str) -> str:
    """``name`` if it is a plain file name, else a sanitised one plus a short hash."""
    name = str(name)
    if _SAFE_NAME.fullmatch(name) and name not in (".", ".."):
        return name
    cleaned = re.sub(r"[^A-Za-z0-9._-]+", "_", name).strip("._-")[:60]
    digest = hashlib.sha1(name.encode("utf-8", "surrogatepass")).hexdigest()[:12]
    return f"{cleaned}-{digest}" if cleaned else digest


def checkpoint_dir(create: bool = True) -> Path:
    """The folder shared by the trials of one experiment on this machine.

    ``$HYPERJUMP_CHECKPOINT_DIR`` if set (used as is), else
    ``~/.cache/hyperjump-advisor/<NNI_EXP_ID>`` (``standalone`` when NNI_EXP_ID
    is unset). Created (with parents) unless ``create`` is False.
    """
    override = os.environ.get(ENV_CHECKPOINT_DIR, "").strip()
    if override:
        folder = Path(override).expanduser()
    else:
        exp_id = os.environ.get("NNI_EXP_ID", "").strip()
        folder = Path.home() / ".cache" / "hyperjump-advisor" / (_safe_name(exp_id) if exp_id else "standalone")
    if create:
        folder.mkdir(parents=True, exist_ok=True)
    return folder


def _as_budget(value: Any, what: str) -> int:
    """An integral budget (int, numpy int or integral float) as a non-negative int."""
    if isinstance(value, bool) or not isinstance(value, numbers.Real):
        raise ValueError(f"{what} must be an integer budget, got {value!r}")
    if not isinstance(value, numbers.Integral) and not float(value).is_integer():
        raise ValueError(f"{what} must be an integer budget, got {value!r}")
    number = int(value) if isinstance(value, numbers.Integral) else int(float(value))
    if number < 0:
        raise ValueError(f"{what} must be >= 0, got {number}")
    return number


class Checkpoint:
    """The checkpoints of one configuration in one folder.

    Build it with :meth:`for_trial`. ``enabled`` is False when the parameters
    carry no ``HYPERJUMP_CONFIG_KEY`` (or the folder cannot be created); then
    ``load()`` returns ``(0, None)`` and ``save()`` is a no-op.
    """

    def __init__(self, config_key: Optional[str], folder: Optional[Union[str, Path]] = None,
                 max_budget: Optional[float] = None, resume_from: int = 0):
        self.config_key = None if config_key is None else str(config_key)
        self.folder = None if folder is None else Path(folder)
        self.max_budget = max_budget
        self.resume_from = resume_from
        self._name = None if self.config_key is None else _safe_name(self.config_key)
        self._pattern = None if self._name is None else re.compile(
            re.escape(self._name) + r"@(\d+)" + re.escape(_SUFFIX))

    @classmethod
    def for_trial(cls, params: Optional[Mapping[str, Any]], folder: Optional[Union[str, Path]] = None,
                  max_budget: Optional[float] = None) -> "Checkpoint":
        """The checkpoint of the trial with parameters ``params``.

        ``folder`` defaults to :func:`checkpoint_dir`; ``max_budget`` (the
        largest budget ``load`` may return) defaults to ``params[TRIAL_BUDGET]``
        (no limit if both are missing).
        """
        params = dict(params or {})
        key = params.get(CONFIG_KEY)
        if key is None and RESUME_KEY in params:
            key = configuration_key(params)
        if max_budget is None and params.get(BUDGET_KEY) is not None:
            max_budget = params[BUDGET_KEY]
        if max_budget is not None and (isinstance(max_budget, bool) or not isinstance(max_budget, numbers.Real)):
            raise ValueError(f"{BUDGET_KEY} must be a number, got {max_budget!r}")
        try:
            resume_from = _as_budget(params.get(RESUME_KEY, 0) or 0, RESUME_KEY)
        except ValueError:
            resume_from = 0
        if key is None or str(key) == "":
            return cls(None, None, max_budget, resume_from)
        try:
            folder = Path(folder) if folder is not None else checkpoint_dir()
            folder.mkdir(parents=True, exist_ok=True)
        except OSError as exc:
            _warn(f"checkpoint folder unusable ({exc}); pause-resume disabled for this trial")
            return cls(None, None, max_budget, resume_from)
        return cls(key, folder, max_budget, resume_from)

    @property
    def enabled(self) -> bool:
        return self.config_key is not None and self.folder is not None

    def path(self, budget: int) -> Path:
        """The file holding this configuration's checkpoint at ``budget``."""
        if not self.enabled:
            raise RuntimeError("checkpointing is disabled (no HYPERJUMP_CONFIG_KEY)")
        return self._folder() / f"{self._name}@{int(budget)}{_SUFFIX}"

    def saved_budgets(self) -> list:
        """Budgets of this configuration's checkpoint files, ascending."""
        if not self.enabled:
            return []
        try:
            names = os.listdir(self.folder)
        except OSError:
            return []
        pattern = self._pattern
        assert pattern is not None, "enabled implies a configuration key"
        return sorted(int(m.group(1)) for m in map(pattern.fullmatch, names) if m)

    def load(self) -> tuple:
        """``(budget, state)`` of the latest checkpoint with budget <= max_budget, else ``(0, None)``.

        An unreadable or corrupt file is reported on stderr and skipped (an
        older valid one, if any, is used); this never raises.
        """
        if not self.enabled:
            return 0, None
        for budget in reversed(self.saved_budgets()):
            if self.max_budget is not None and budget > self.max_budget:
                continue
            path = self.path(budget)
            try:
                with open(path, "rb") as f:
                    payload = pickle.load(f)
                if not (isinstance(payload, dict) and payload.get("format") == _FORMAT
                        and payload.get("config_key") == self.config_key
                        and payload.get("budget") == budget and "state" in payload):
                    raise ValueError("not a checkpoint of this configuration and budget")
            except Exception as exc:  # noqa: BLE001 - any failure means "no usable checkpoint"
                _warn(f"ignoring unreadable checkpoint {path}: {type(exc).__name__}: {exc}")
                continue
            return budget, payload["state"]
        return 0, None

    def save(self, budget: Any, state: Any) -> Optional[Path]:
        """Atomically store ``state`` as reached at ``budget``; returns the file (None if disabled/failed).

        Writes a temp file in the same folder, fsyncs it and ``os.replace``-s it
        into place, then deletes this configuration's checkpoints of smaller
        budgets (and stale temp files). An I/O error (disk full, ...) is
        reported on stderr and returns None; an unpicklable state raises.
        """
        budget = _as_budget(budget, "budget")
        if not self.enabled:
            return None
        data = pickle.dumps({"format": _FORMAT, "config_key": self.config_key, "budget": budget,
                             "saved_at": time.time(), "state": state}, protocol=pickle.HIGHEST_PROTOCOL)
        target = self.path(budget)
        tmp = None
        try:
            fd, tmp = tempfile.mkstemp(prefix=f".{self._name}@{budget}.", suffix=".tmp", dir=self.folder)
            with os.fdopen(fd, "wb") as f:
                f.write(data)
                f.flush()
                os.fsync(f.fileno())
            os.replace(tmp, target)
            tmp = None
            sync_folder(self._folder())
        except OSError as exc:
            _warn(f"could not save checkpoint {target}: {exc}")
            return None
        finally:
            if tmp is not None:
                try:
                    os.unlink(tmp)
                except OSError:
                    pass
        self._remove_older(budget)
        return target

    def clear(self) -> None:
        """Delete all checkpoint files of this configuration."""
        for budget in self.saved_budgets():
            try:
                os.unlink(self.path(budget))
            except OSError:
                pass

    # -- internals ---------------------------------------------------------

    def _folder(self) -> Path:
        if self.folder is None:
            raise RuntimeError("checkpointing is disabled (no checkpoint folder)")
        return self.folder

    def _remove_older(self, budget: int) -> None:
        # Only smaller budgets: a concurrent trial of the same configuration
        # may have saved a larger one, which a later trial can still use.
        for old in self.saved_budgets():
            if old < budget:
                try:
                    os.unlink(self.path(old))
                except OSError:
                    pass
        prefix = f".{self._name}@"
        now = time.time()
        try:
            entries = list(os.scandir(self.folder))
        except OSError:
            return
        for entry in entries:
            if entry.name.startswith(prefix) and entry.name.endswith(".tmp"):
                try:
                    if now - entry.stat().st_mtime > _STALE_TMP_SECONDS:
                        os.unlink(entry.path)
                except OSError:
                    pass

    def __repr__(self) -> str:
        if not self.enabled:
            return "Checkpoint(disabled)"
        return f"Checkpoint({self.config_key!r}, folder={str(self.folder)!r}, max_budget={self.max_budget!r})"
