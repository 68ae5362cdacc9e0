"""Fleet controls and shared limiter state: small rows every process reads and writes.

``fleet_controls`` holds named JSON documents (``pause_all``: who paused the fleet, why, until
when). The rate-limit buckets and circuit breakers of DESIGN.md live beside them so that every
Dagster process sees one budget and one breaker per exchange account.
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
