"""Market-data freshness: stale candles fail the check (WARN) and stop the bots' signals."""

from datetime import UTC, datetime

import dagster as dg

from botbox_dagster.defs.market_data.assets import candles
from botbox_dagster.defs.resources import LedgerResource
from botbox_dagster.domain.timeframes import candle_age, freshness_limit


@dg.asset_check(asset=candles, name="candles_fresh", blocking=False)
def candles_fresh(ledger: LedgerResource) -> dg.AssetCheckResult:
    """Every market an ACTIVE bot watches has a closed bar no older than its limit.

    Limit: 2 minutes after the bar's close for 1m markets, one interval plus 2 minutes for
    markets whose source only has a longer timeframe. The signal tick applies the same rule and
    rejects signals on stale data.
    """
    now = datetime.now(UTC)
    store = ledger.store()
    newest = store.latest_candle_times_all()
    rows, stale = [], []
    for exchange, symbol in store.active_markets():
        stored = {tf: t for (ex, sym, tf), t in newest.items() if ex == exchange and sym == symbol}
        base = min(stored, key=lambda tf: freshness_limit(tf)) if stored else "1m"
        newest_time = stored.get(base)
        age = candle_age(newest_time, base, now) if newest_time else None
        fresh = age is not None and age <= freshness_limit(base)
        if not fresh:
            stale.append(f"{exchange} {symbol}")
        rows.append(
            f"| {exchange} | {symbol} | {base} | {newest_time.isoformat() if newest_time else '-'} | "
            f"{f'{age.total_seconds():.0f}' if age is not None else '-'} | "
            f"{'ok' if fresh else 'STALE'} |"
        )
    table = "| exchange | symbol | tf | newest closed bar | age (s) | state |\n|---|---|---|---|---|---|\n"
    return dg.AssetCheckResult(
        passed=not stale,
        severity=dg.AssetCheckSeverity.WARN,
        description=f"stale: {', '.join(stale)}" if stale else "all markets fresh",
        metadata={
            "markets": len(rows),
            "stale_markets": len(stale),
            "freshness": dg.MetadataValue.md(table + "\n".join(rows)),
        },
    )
