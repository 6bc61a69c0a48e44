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
