"""Fleet controls and shared limiter state: small rows every process reads and writes.

``fleet_controls`` holds named JSON documents (``pause_all``: who paused the fleet, why, until
when). The rate-limit buckets and circuit breakers (docs/architecture.md, Exchange limits) live
beside them so that every Dagster process sees one budget and one breaker per exchange account.
"""

from __future__ import annotations

import json
from datetime import UTC, datetime
from typing import Any

PAUSE_ALL = "pause_all"


class ControlTables:
    """Fleet-wide switches. Mixed into :class:`LedgerStore`."""

    run: Any

    def get_control(self, name: str) -> dict[str, Any] | None:
        row = self.run(
            lambda c: c.execute(
                "SELECT value, updated_by, updated_at FROM fleet_controls WHERE name = ?", [name]
            ).fetchone()
        )
        if row is None:
            return None
        return {**json.loads(row[0]), "updated_by": row[1], "updated_at": row[2]}

    def set_control(
        self, name: str, value: dict[str, Any], *, by: str, now: datetime | None = None
    ) -> None:
        now = now or datetime.now(UTC)
        self.run(
            lambda c: c.execute(
                "INSERT INTO fleet_controls (name, value, updated_by, updated_at) "
                "VALUES (?, ?, ?, ?) ON CONFLICT (name) DO UPDATE SET value = excluded.value, "
                "updated_by = excluded.updated_by, updated_at = excluded.updated_at",
                [name, json.dumps(value, sort_keys=True, default=str), by, now],
            )
        )


class LimiterTables:
    """Rate-limit bucket rows, read and written in one transaction. Mixed into LedgerStore."""

    run: Any

    def update_buckets(
        self,
        account: str,
        update: Any,
        *,
        now: datetime | None = None,
        call: tuple[str, int, str, str | None] | None = None,
    ) -> Any:
        """Apply ``update(states) -> (new_states, result, granted)`` atomically to the buckets.

        ``states`` maps bucket name to its stored row (dict) for this account. When ``call``
        (purpose, weight, outcome, detail) is given and ``granted`` is true, the exchange call is
        logged in ``exchange_calls`` in the same transaction.
        """
        now = now or datetime.now(UTC)

        def work(conn: Any) -> Any:
            rows = conn.execute(
                "SELECT bucket, state FROM rate_limit_buckets WHERE account = ?", [account]
            ).fetchall()
            states = {r[0]: json.loads(r[1]) for r in rows}
            new_states, result, granted = update(states)
            for bucket, state in new_states.items():
                if states.get(bucket) == state:
                    continue
                conn.execute(
                    "INSERT INTO rate_limit_buckets (account, bucket, state, updated_at) "
                    "VALUES (?, ?, ?, ?) ON CONFLICT (account, bucket) DO UPDATE SET "
                    "state = excluded.state, updated_at = excluded.updated_at",
                    [account, bucket, json.dumps(state), now],
                )
            if call is not None and granted:
                conn.execute(
                    "INSERT INTO exchange_calls (account, purpose, weight, outcome, detail, "
                    "called_at) VALUES (?, ?, ?, ?, ?, ?)",
                    [account, *call, datetime.now(UTC)],
                )
            return result

        return self.run(work)

    def log_exchange_call(
        self, account: str, purpose: str, weight: int, outcome: str, detail: str | None = None
    ) -> None:
        """Record an exchange call's outcome (429s, errors) for metrics and checks."""
        now = datetime.now(UTC)
        self.run(
            lambda c: c.execute(
                "INSERT INTO exchange_calls (account, purpose, weight, outcome, detail, called_at) "
                "VALUES (?, ?, ?, ?, ?, ?)",
                [account, purpose, weight, outcome, detail, now],
            )
        )


class BreakerTables:
    """Circuit-breaker rows, one per exchange account. Mixed into LedgerStore."""

    run: Any

    def update_breaker(self, exchange: str, update: Any, *, now: datetime | None = None) -> Any:
        """Apply ``update(state_row | None) -> (new_row, result)`` atomically."""
        now = now or datetime.now(UTC)

        def work(conn: Any) -> Any:
            row = conn.execute(
                "SELECT state FROM circuit_breakers WHERE exchange = ?", [exchange]
            ).fetchone()
            current = json.loads(row[0]) if row else None
            new, result = update(current)
            if new != current:
                conn.execute(
                    "INSERT INTO circuit_breakers (exchange, state, updated_at) VALUES (?, ?, ?) "
                    "ON CONFLICT (exchange) DO UPDATE SET state = excluded.state, "
                    "updated_at = excluded.updated_at",
                    [exchange, json.dumps(new), now],
                )
            return result

        return self.run(work)
