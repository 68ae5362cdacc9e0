"""Fixtures shared by the whole suite."""

from __future__ import annotations

import os
from collections.abc import Iterator
from pathlib import Path

import pytest

REPO_ROOT = Path(__file__).resolve().parents[1]


def shared_data_dir() -> Path | None:
    """``../shared/data`` beside the checkout (CI always has it), or ``BOTBOX_SHARED_DATA``."""
    env = os.environ.get("BOTBOX_SHARED_DATA")
    candidates = [Path(env)] if env else []
    candidates.append(REPO_ROOT.parent / "shared" / "data")
    for path in candidates:
        if (path / "candles").is_dir():
            return path
    return None


@pytest.fixture(autouse=True)
def _no_stale_defs_state_storage() -> Iterator[None]:
    """Each test starts without a current defs-state storage. A ``dg.instance_for_test`` sets
    Dagster's process-global one (a ContextVar) and can leave it behind, pointing at the disposed
    instance; the next ``materialize`` then fails with "Attempted to resolve undefined
    DagsterInstance weakref"."""
    from dagster._core.storage.defs_state.base import _current_storage

    _current_storage.set(None)
    yield
    _current_storage.set(None)


@pytest.fixture(scope="session")
def shared_data() -> Path:
    """The real exchange candles, reference indicators and captured payloads."""
    path = shared_data_dir()
    if path is None:
        pytest.skip("../shared/data is absent: set BOTBOX_SHARED_DATA to run this test")
    return path


@pytest.fixture(scope="session")
def botbox_repository():  # type: ignore[no-untyped-def]
    """The project's Definitions, resolved once inside a test instance.

    Resolving Definitions reads Dagster's process-global defs-state storage, which the last
    ``instance_for_test`` of another test may have left pointing at a deleted directory.
    """
    import dagster as dg

    from botbox_dagster.definitions import defs

    with dg.instance_for_test():
        return defs.get_repository_def()
