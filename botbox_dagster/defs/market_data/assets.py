"""The ``candles`` asset: OHLCV for every market an ACTIVE bot watches, one fetch per market."""

from datetime import UTC, datetime, timedelta
from typing import Any

import dagster as dg

from botbox_dagster.adapters.ledger import LedgerStore
from botbox_dagster.adapters.market_data.base import MarketDataSource
from botbox_dagster.adapters.rate_limiter import BudgetExhaustedError
from botbox_dagster.defs.market_data.partitions import daily_partitions
from botbox_dagster.defs.resources import LedgerResource, MarketDataResource
from botbox_dagster.domain.exchange_errors import ExchangeError
from botbox_dagster.services.market_refresh import MarketRefresh, refresh_market


class CandlesConfig(dg.Config):
    """Launchpad settings for a candle refresh or backfill."""

    incremental: bool = True
    """Fetch only bars newer than the newest stored one (the minute refresh). A backfill of past
    days always fetches its whole range again; upserts make re-runs harmless."""

    seed_history_days: float = 3.0
    """A market seen for the first time gets this much history before today, so that its bots'
    indicators are warm at their first check."""


def _table(results: list[MarketRefresh], now: datetime) -> str:
    lines = [
        "| exchange | symbol | tf | rows | newest candle | age (s) | gaps | rejected | calls | error |",
        "|---|---|---|---|---|---|---|---|---|---|",
    ]
    for r in results:
        age = r.age(now)
        lines.append(
            f"| {r.exchange} | {r.symbol} | {r.timeframe} | {r.rows_written} | "
            f"{r.newest.isoformat() if r.newest else '-'} | "
            f"{age.total_seconds():.0f} | {sum(g.bars for g in r.gaps)} | "
            f"{len(r.rejections)} | {r.calls} | {r.error or ''} |"
            if age is not None
            else f"| {r.exchange} | {r.symbol} | {r.timeframe} | 0 | - | - | 0 | 0 | {r.calls} | {r.error or ''} |"
        )
    return "\n".join(lines)


def refresh_markets(
    store: LedgerStore,
    market_data: MarketDataResource,
    *,
    start: datetime,
    end: datetime,
    now: datetime,
    incremental: bool,
    seed_history_days: float,
    log: Any,
) -> dict[str, Any]:
    """Fetch and store bars of every market an ACTIVE bot watches, one fetch per market;
    returns the materialization's metadata. ``log`` is a Dagster logger."""
    accounts = store.exchange_accounts()
    newest = store.latest_candle_times_all()
    results: list[MarketRefresh] = []
    # One source per account for the whole run: a ccxt source loads the venue's market list
    # once (exchangeInfo costs 20 weight on Binance), not once per market.
    sources: dict[str, MarketDataSource] = {}
    for exchange, symbol in store.active_markets():
        account = accounts.get(exchange)
        if account is None:
            continue
        try:
            if exchange not in sources:
                sources[exchange] = market_data.source(account, store)
            source = sources[exchange]
            result = refresh_market(
                store,
                source,
                exchange,
                symbol,
                start=start,
                end=end,
                now=now,
                newest=newest,
                incremental=incremental,
                seed_history=timedelta(days=seed_history_days),
                log=log.warning,
            )
        except (ExchangeError, BudgetExhaustedError, LookupError, ValueError) as exc:
            log.error(f"{exchange} {symbol}: refresh failed: {exc}")
            result = MarketRefresh(
                exchange,
                symbol,
                "1m",
                None,
                0,
                {},
                newest.get((exchange, symbol, "1m")),
                error=str(exc)[:200],
            )
        log.info(
            f"{exchange} {symbol}: {result.rows_written} bars written"
            + (f" from {result.fetched_from:%Y-%m-%d %H:%M}" if result.fetched_from else "")
            + (f", {len(result.gaps)} gaps" if result.gaps else "")
        )
        results.append(result)
    ages = [a.total_seconds() for r in results if (a := r.age(now)) is not None]
    failed = [r for r in results if r.error]
    return {
        "markets_refreshed": len(results) - len(failed),
        "markets_failed": len(failed),
        "rows_written": sum(r.rows_written for r in results),
        "derived_rows_written": sum(sum(r.derived_rows.values()) for r in results),
        "gaps_found": sum(len(r.gaps) for r in results),
        "missing_bars": sum(g.bars for r in results for g in r.gaps),
        "rows_rejected": sum(len(r.rejections) for r in results),
        # Every request sent, market-list loads included (what the limiter logged).
        "exchange_calls": sum(getattr(s, "calls", 0) for s in sources.values()),
        "oldest_newest_candle_age_s": max(ages) if ages else 0.0,
        "mode": "refresh" if incremental else "backfill",
        "markets": dg.MetadataValue.md(_table(results, now)),
    }


@dg.asset(
    partitions_def=daily_partitions,
    backfill_policy=dg.BackfillPolicy.single_run(),
    group_name="market_data",
    kinds={"duckdb", "python"},
    tags={"botbox/layer": "market_data"},
)
def candles(
    context: dg.AssetExecutionContext,
    config: CandlesConfig,
    ledger: LedgerResource,
    market_data: MarketDataResource,
) -> dg.MaterializeResult:
    """OHLCV bars in the ledger's ``candles`` table for every market an ACTIVE bot watches.

    One fetch per market, however many bots watch it. Every minute ``trading_minute_job``
    refreshes today's partition with only the bars closed since the newest stored one (and then
    marks positions and evaluates bots); materializing it here (``market_data_job``, or a
    backfill over a range of days, run as one run that fetches with paging) only stores bars.
    1m bars are the base; 5m, 15m and 1h bars are resampled in the database. The forming bar is
    never stored, gaps are reported (never filled), malformed bars are rejected with a logged
    reason.
    """
    now = datetime.now(UTC)
    window = context.partition_time_window
    return dg.MaterializeResult(
        metadata=refresh_markets(
            ledger.store(),
            market_data,
            start=window.start,
            end=min(window.end, now),
            now=now,
            # Only today's partition refreshes incrementally; a past day is fetched whole.
            incremental=config.incremental and window.end > now,
            seed_history_days=config.seed_history_days,
            log=context.log,
        )
    )
