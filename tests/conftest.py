import gc
import json
import os
import sys
import time
from dataclasses import dataclass
from pathlib import Path

import pytest

sys.path.insert(0, str(Path(__file__).resolve().parent))  # tests/golden_traces.py and other test helpers

# The user's NNI, as it was when the suite started: tests that start NNI must leave it alone (nni_home).
USER_HOME = Path(os.path.expanduser("~"))
USER_REGISTRY = USER_HOME / "nni-experiments" / ".experiment"   # where nnictl and NNI's manager list experiments


def pytest_report_header(config):
    """Which BLAS kernels numpy and scipy really use (each may carry its own OpenBLAS; OPENBLAS_CORETYPE)."""
    import numpy  # noqa: F401  (loads numpy's BLAS)
    import scipy.linalg  # noqa: F401  (loads scipy's)
    from threadpoolctl import threadpool_info

    kernels = [f"{i.get('prefix')} {i.get('version')} {i.get('architecture')} x{i.get('num_threads')}"
               for i in threadpool_info() if i.get("user_api") == "blas"]
    return "BLAS: " + "; ".join(kernels)


def shared_table(name: str):
    """A shared learning-curve table, or a skip that says why (the tables live in ../shared, beside the repo)."""
    from hyperjump_advisor.replay.shared_tables import load_table
    from hyperjump_advisor.replay.tables import TableError

    try:
        return load_table(f"hyperjump:{name}")
    except TableError as error:
        pytest.skip(f"needs the shared tables: {error}")


@pytest.fixture(autouse=True)
def garbage_collector_unfrozen_after_each_test():
    """A test that plays NNI's process (``own_clock``) freezes the heap at INITIALIZE (gc_pauses.py): undo
    it, so that no test keeps another's objects for good."""
    yield
    from hyperjump_advisor import gc_pauses
    gc_pauses.stop_freezing()
    gc.unfreeze()


@pytest.fixture(autouse=True)
def starts_not_serialised_in_protocol_tests(request, monkeypatch):
    """In-process protocol tests play an NNI manager that hands every trial its own parameters (no NNI issue
    5726) and spend several credits at once: they run with ``serial_starts: false`` unless they set it.
    The default (true) and its gate are tested in test_serial_starts.py, which is left alone."""
    if request.module.__name__ == "test_serial_starts":
        return
    from hyperjump_advisor import advisor, settings

    def parse(**class_args):
        class_args.setdefault("serial_starts", False)
        return settings.parse_class_args(**class_args)

    monkeypatch.setattr(advisor, "parse_class_args", parse)


def read_registry(path: Path) -> dict:
    """An NNI experiment registry (``~/nni-experiments/.experiment``): id -> entry; {} when there is none."""
    try:
        return json.loads(path.read_text(encoding="utf-8"))
    except (FileNotFoundError, ValueError):
        return {}


@dataclass(frozen=True)
class NniHome:
    home: Path          # HOME of the test's NNI (its ~/nni-experiments holds the registry)
    config_dir: Path    # NNI_CONFIG_DIR: registered_algorithms.yml, with HyperJump registered
    registry: Path      # the test's experiment registry (what `nnictl experiment list --all` reads)


@pytest.fixture
def nni_home(tmp_path_factory, monkeypatch):
    """An NNI of the test's own: HOME, NNI_CONFIG_DIR (HyperJump registered there) and experiment registry.

    Where NNI 3.0 looks (checked in its source): nnictl and the Python launcher keep the registry in
    ``~/nni-experiments/.experiment`` (``nni/tools/nnictl/constants.py`` NNI_HOME_DIR, resolved from HOME
    when that module is imported, and bound as the default of ``config_utils.Experiments``); the NNI manager
    (node) updates the same file from ``os.homedir()`` (``nni_node/common/globals/paths.js``); registered
    algorithms live in ``$NNI_CONFIG_DIR`` (``nni/runtime/config.py``). The environment reaches the manager,
    the dispatcher, the trials and any ``nnictl`` subprocess; the Python side already imported is pointed at
    the test's registry here. Tests put ``experiment_working_directory`` under their tmp_path. At the end,
    any experiment of the test's registry whose manager still runs is killed and the test fails."""
    from nni.tools.nnictl import config_utils, constants

    from hyperjump_advisor.register import register

    root = tmp_path_factory.mktemp("nni")   # beside the test's tmp_path, which stays the test's own
    home, config_dir = root / "home", root / "config"
    experiments_dir = home / "nni-experiments"
    home.mkdir()
    monkeypatch.setenv("HOME", str(home))
    monkeypatch.setenv("NNI_CONFIG_DIR", str(config_dir))
    for module in (constants, config_utils, sys.modules.get("nni.tools.nnictl.nnictl_utils"),
                   sys.modules.get("nni.tools.nnictl.legacy_launcher")):
        if module is not None:
            monkeypatch.setattr(module, "NNI_HOME_DIR", str(experiments_dir))
    monkeypatch.setattr(config_utils.Experiments.__init__, "__defaults__", (str(experiments_dir),))
    registry = Path(config_utils.Experiments().experiment_file)
    assert registry == experiments_dir / ".experiment", f"NNI's registry is elsewhere ({registry}): update nni_home"
    register()  # into config_dir
    yield NniHome(home, config_dir, registry)
    _stop_what_is_left(registry)


def _stop_what_is_left(registry: Path) -> None:
    import psutil

    def running(entry):
        return entry.get("status") != "STOPPED" and entry.get("pid") and psutil.pid_exists(entry["pid"])

    deadline = time.monotonic() + 30   # a manager being stopped may take a moment to exit (a hang guard)
    while time.monotonic() < deadline and any(running(e) for e in read_registry(registry).values()):
        time.sleep(0.5)
    left = [e for e in read_registry(registry).values() if running(e)]
    for entry in left:
        try:
            psutil.Process(entry["pid"]).kill()
        except psutil.NoSuchProcess:
            pass
    assert not left, f"the test left NNI managers running (killed now): {[e['id'] for e in left]}"


@pytest.fixture(scope="session", autouse=True)
def users_nni_registry_is_left_alone(tmp_path_factory):
    """After the session, no experiment of the user's NNI registry lives in this session's temp folders."""
    yield
    base = tmp_path_factory.getbasetemp().resolve()
    leaked = [e.get("id") for e in read_registry(USER_REGISTRY).values()
              if base in Path(e.get("logDir") or "/").resolve().parents]
    assert not leaked, f"tests registered experiments in the user's NNI registry {USER_REGISTRY}: {leaked}"
