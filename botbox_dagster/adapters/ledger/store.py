"""The ledger store: the one way BotBox reads and writes trading state.

:class:`LedgerStore` assembles the table groups (``bots``, ``candles``, ...) defined in the sibling
modules over one connector. The connector owns transactions and lock retries; the table modules own
the SQL, written with ``?`` parameters only and in the dialect subset DuckDB and PostgreSQL share.
"""

from __future__ import annotations

from datetime import UTC, datetime
from pathlib import Path
from typing import Any

from botbox_dagster.adapters.ledger.bots import BotTables
from botbox_dagster.adapters.ledger.candles import CandleTables
from botbox_dagster.adapters.ledger.connection import DuckDBConnector
from botbox_dagster.adapters.ledger.controls import BreakerTables, ControlTables, LimiterTables
from botbox_dagster.adapters.ledger.execution import ExecutionTables
from botbox_dagster.adapters.ledger.metrics import MetricsQueries
from botbox_dagster.adapters.ledger.minute_loop import MinuteLoopTables
from botbox_dagster.adapters.ledger.retention import RetentionTables
from botbox_dagster.adapters.ledger.schema import LATEST_VERSION, MIGRATIONS
from botbox_dagster.adapters.ledger.signals import SignalTables


def utcnow() -> datetime:
    return datetime.now(UTC)


class LedgerStore(
    BotTables,
    BreakerTables,
    CandleTables,
    ControlTables,
    ExecutionTables,
    LimiterTables,
    MetricsQueries,
    MinuteLoopTables,
    RetentionTables,
    SignalTables,
):
    """All trading state. Cheap to construct; holds no open connection between calls."""

    def __init__(self, path: Path | str, *, max_wait_seconds: float = 30.0, migrate: bool = True):
        self.connector = DuckDBConnector(Path(path), max_wait_seconds=max_wait_seconds)
        if migrate:
            self.migrate()

    @property
    def path(self) -> Path:
        return self.connector.path

    def run(self, work: Any) -> Any:
        """Run ``work(conn)`` in one short transaction (retried whole on lock conflicts)."""
        return self.connector.run(work)

    def schema_version(self) -> int:
        def work(conn: Any) -> int:
            exists = conn.execute(
                "SELECT count(*) FROM information_schema.tables WHERE table_name = 'schema_version'"
            ).fetchone()[0]
            if not exists:
                return 0
            row = conn.execute("SELECT max(version) FROM schema_version").fetchone()
            return int(row[0] or 0)

        return self.run(work)

    def migrate(self) -> list[int]:
        """Apply the migrations this file lacks, each in its own transaction; return them."""
        applied: list[int] = []
        if self.schema_version() >= LATEST_VERSION:
            return applied
        for migration in MIGRATIONS:

            def work(conn: Any, m: Any = migration) -> bool:
                exists = conn.execute(
                    "SELECT count(*) FROM information_schema.tables "
                    "WHERE table_name = 'schema_version'"
                ).fetchone()[0]
                if exists:
                    done = conn.execute(
                        "SELECT count(*) FROM schema_version WHERE version = ?", [m.version]
                    ).fetchone()[0]
                    if done:
                        return False
                for statement in m.statements:
                    conn.execute(statement)
                conn.execute(
                    "INSERT INTO schema_version (version, description, applied_at) VALUES (?, ?, ?)",
                    [m.version, m.description, utcnow()],
                )
                return True

            if self.run(work):
                applied.append(migration.version)
        return applied
