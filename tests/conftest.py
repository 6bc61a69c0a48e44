import sys
from pathlib import Path

import pytest

sys.path.insert(0, str(Path(__file__).resolve().parent))  # tests/golden_traces.py and other test helpers


def shared_table(name: str):
    """A shared learning-curve table, or a skip that says why (the tables live in ../shared, beside the repo)."""
    from hyperjump_advisor.replay.shared_tables import load_table
    from hyperjump_advisor.replay.tables import TableError

    try:
        return load_table(f"hyperjump:{name}")
    except TableError as error:
        pytest.skip(f"needs the shared tables: {error}")


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
