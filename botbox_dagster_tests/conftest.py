"""Fixtures shared by the whole suite."""

from __future__ import annotations

import os
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


@pytest.fixture(scope="session")
def shared_data() -> Path:
    """The real exchange candles, reference indicators and captured payloads."""
    path = shared_data_dir()
    if path is None:
        pytest.skip("../shared/data is absent: set BOTBOX_SHARED_DATA to run this test")
    return path
