"""The dashboard's data: one JSON-ready document per page, read in a few short transactions."""

from __future__ import annotations

import dataclasses
from datetime import UTC, datetime
from typing import Any

from botbox_dagster.adapters.ledger import LedgerStore
from botbox_dagster.services.alerting import ALERT_STATE


def jsonable(value: Any) -> Any:
    """Datetimes as ISO text, dataclasses and tuples as plain JSON structures."""
    if isinstance(value, datetime):
        return value.isoformat()
    if dataclasses.is_dataclass(value) and not isinstance(value, type):
        value = {f.name: getattr(value, f.name) for f in dataclasses.fields(value)}
    if isinstance(value, dict):
        return {str(k): jsonable(v) for k, v in value.items()}
    if isinstance(value, list | tuple):
        return [jsonable(v) for v in value]
    return value


def fleet_view(store: LedgerStore, now: datetime | None = None) -> dict[str, Any]:
    now = now or datetime.now(UTC)
    m = store.fleet_metrics(now=now)
    alert_state = store.get_control(ALERT_STATE) or {}
    return {
        "as_of": now,
        "metrics": m,
        "derived": {
            "active_bots": m.active_bots,
            "signals_last_hour": m.signals_judged_hour,
            "signals_last_day": sum(m.signals_day.values()),
            "acceptance_rate_hour": m.acceptance_rate_hour,
            "queue_depth": m.queue_depth,
            "fill_rate_day": m.fill_rate_day,
            "execution_failure_rate_hour": m.execution_failure_rate_hour,
            "fetches_saved_per_refresh": m.fetches_saved_per_refresh,
            # P&L converted into the reporting currency: {currency, amount, by_currency,
            # rates, unconverted}; the per-currency amounts are in metrics.*_by_currency.
            "realized_pnl_total": m.realized_pnl_total,
            "realized_pnl_day_total": m.realized_pnl_day_total,
            "unrealized_pnl_total": m.unrealized_pnl_total,
            "unconverted_currencies": m.unconverted_currencies,
        },
        "pause": m.pause,
        "alerts": [{"key": k, **v} for k, v in sorted((alert_state.get("active") or {}).items())],
        "bots": store.bots_overview(now=now),
    }


def bot_view(store: LedgerStore, bot_id: str, now: datetime | None = None) -> dict[str, Any] | None:
    b = store.bot_metrics(bot_id, now=now)
    if b is None:
        return None
    return {"as_of": now or datetime.now(UTC), "bot": b, "pause": store.fleet_metrics().pause}
