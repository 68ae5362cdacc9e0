"""A dashboard served over loopback HTTP on a seeded demo ledger."""

from __future__ import annotations

import threading
from collections.abc import Iterator
from dataclasses import dataclass
from pathlib import Path

import pytest

from botbox_dagster.adapters.ledger import LedgerStore
from botbox_dagster.dashboard.server import build_server
from botbox_dagster_tests.support.seed import busy_demo_ledger


@dataclass
class Served:
    base: str
    store: LedgerStore


@pytest.fixture
def served(tmp_path: Path) -> Iterator[Served]:
    path = tmp_path / "ledger.duckdb"
    store = busy_demo_ledger(path)
    server = build_server(path, "127.0.0.1", 0)
    thread = threading.Thread(target=server.serve_forever, daemon=True)
    thread.start()
    try:
        yield Served(f"http://127.0.0.1:{server.server_port}", store)
    finally:
        server.shutdown()
        server.server_close()
