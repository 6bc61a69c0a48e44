"""Peer families: one virtual environment each, outside the repository, created by
``python -m hyperjump_advisor.replay --setup-peers [FAMILY ...]``.

Why separate environments: Syne Tune 0.13 (the last release with MOBSTER, Hyper-Tune and
synchronous Hyperband) pins numpy < 2 and, installed together with DEHB and Optuna, sends pip's
resolver backtracking for many minutes; each family alone resolves at once. A family's
environment holds its libraries and NNI 3.0 (the replay's simulator imports NNI); this project is
NOT installed there: the peer subprocess imports it from the checkout through ``PYTHONPATH``.

Location: ``$HYPERJUMP_PEERS_DIR/<family>`` if that variable is set, else
``$XDG_CACHE_HOME/hyperjump-advisor/peers/<family>`` (``~/.cache`` by default). A family is ready
when its marker file (:data:`MARKER`) records the same requirements, pins and Python version as
this code: changing a pin makes the environment "outdated" until ``--setup-peers`` runs again.
"""
from __future__ import annotations

import hashlib
import json
import os
import shutil
import subprocess
import sys
import tempfile
import time
from dataclasses import dataclass
from pathlib import Path
from typing import Optional, TextIO

from .locks import LOCKS

SETUP_COMMAND = "python -m hyperjump_advisor.replay --setup-peers"
DIR_VARIABLE = "HYPERJUMP_PEERS_DIR"
MARKER = "hyperjump-peers.json"


@dataclass(frozen=True)
class Family:
    name: str
    requirements: tuple[str, ...]   # top-level, pinned
    description: str

    @property
    def lock(self) -> tuple[str, ...]:
        return LOCKS[self.name]

    def fingerprint(self) -> str:
        text = "\n".join(self.requirements + ("--",) + self.lock + ("--", python_version()))
        return hashlib.sha256(text.encode()).hexdigest()[:16]


FAMILIES: dict[str, Family] = {f.name: f for f in (
    Family("syne13", ("syne-tune[gpsearchers,kde]==0.13.0", "nni==3.0"),
           "Syne Tune 0.13.0 (ASHA, BOHB, MOBSTER, Hyper-Tune, synchronous Hyperband), numpy 1.26"),
    Family("modern", ("optuna==5.0.0", "dehb==0.1.1", "nni==3.0"),
           "Optuna 5.0.0 and DEHB 0.1.1 (dehb 0.1.2 needs numpy < 2), numpy 2"),
)}


def python_version() -> str:
    return f"{sys.version_info.major}.{sys.version_info.minor}"


def peers_dir() -> Path:
    if os.environ.get(DIR_VARIABLE):
        return Path(os.environ[DIR_VARIABLE]).expanduser()
    cache = os.environ.get("XDG_CACHE_HOME") or str(Path.home() / ".cache")
    return Path(cache) / "hyperjump-advisor" / "peers"


def env_dir(family: str) -> Path:
    return peers_dir() / family


def env_python(family: str) -> Path:
    return env_dir(family) / "bin" / "python"


def status(family: str) -> tuple[bool, str]:
    """(ready, why not): ready when the environment exists and matches this code's pins."""
    spec = FAMILIES[family]
    marker = env_dir(family) / MARKER
    if not marker.is_file() or not env_python(family).exists():
        return False, (f"the environment of peer family {family!r} is missing ({env_dir(family)}); "
                       f"create it with: {SETUP_COMMAND} {family}")
    try:
        recorded = json.loads(marker.read_text())
    except (OSError, ValueError):
        recorded = {}
    if recorded.get("fingerprint") != spec.fingerprint():
        return False, (f"the environment of peer family {family!r} is outdated (other pins or Python); "
                       f"recreate it with: {SETUP_COMMAND} {family}")
    return True, ""


def setup(families: Optional[list[str]] = None, force: bool = False, stream: Optional[TextIO] = None) -> dict:
    """Create (or keep, when up to date) each family's environment; returns
    ``{family: {"status": "created"|"up to date"|"failed", "seconds": s}}``. Raises nothing:
    a failed install is reported (with pip's last output lines) and the next family goes on."""
    stream = stream or sys.stderr
    names = list(families) if families else list(FAMILIES)
    unknown = [n for n in names if n not in FAMILIES]
    if unknown:
        raise KeyError(f"unknown peer famil{'y' if len(unknown) == 1 else 'ies'} {', '.join(unknown)}; "
                       f"known: {', '.join(FAMILIES)}")
    report = {}
    for name in names:
        started = time.perf_counter()
        ready, _ = status(name)
        if ready and not force:
            report[name] = {"status": "up to date", "seconds": 0.0}
            print(f"peer family {name}: up to date ({env_dir(name)})", file=stream)
            continue
        print(f"peer family {name}: creating {env_dir(name)} ({FAMILIES[name].description}) ...",
              file=stream, flush=True)
        error = _create(FAMILIES[name])
        seconds = time.perf_counter() - started
        report[name] = {"status": "failed" if error else "created", "seconds": round(seconds, 1)}
        if error:
            print(f"peer family {name}: FAILED after {seconds:.0f} s:\n{error}", file=stream)
        else:
            print(f"peer family {name}: ready in {seconds:.0f} s", file=stream)
    return report


def _create(family: Family) -> Optional[str]:
    target = env_dir(family.name)
    if target.exists():
        shutil.rmtree(target)
    target.parent.mkdir(parents=True, exist_ok=True)
    steps = [[sys.executable, "-m", "venv", str(target)]]
    with tempfile.NamedTemporaryFile("w", suffix=".txt", prefix=f"{family.name}-pins-", delete=False) as pins:
        pins.write("\n".join(family.lock) + "\n")
    steps.append([str(target / "bin" / "python"), "-m", "pip", "install", "--quiet", "--disable-pip-version-check",
                  "--constraint", pins.name, *family.requirements])
    try:
        for command in steps:
            done = subprocess.run(command, capture_output=True, text=True)
            if done.returncode != 0:
                tail = "\n".join((done.stdout + done.stderr).strip().splitlines()[-15:])
                return f"{' '.join(command[:4])} ... exited {done.returncode}:\n{tail}"
    finally:
        os.unlink(pins.name)
    marker = {"family": family.name, "fingerprint": family.fingerprint(), "requirements": list(family.requirements),
              "python": python_version(), "created": time.strftime("%Y-%m-%dT%H:%M:%S")}
    (target / MARKER).write_text(json.dumps(marker, indent=1) + "\n")
    return None
