"""The ledger's trading tables as assets, so the UI shows the lineage from candles to trades.

They are written by the minute loop and the execution runs (which report each write as a
materialization with its figures), not materialized on their own: each is an asset spec whose
description says what the table holds and which run writes it.
"""

import dagster as dg

KINDS = {"duckdb"}
GROUP = "trading"

signals_table = dg.AssetSpec(
    "signals",
    deps=["candles"],
    group_name=GROUP,
    kinds=KINDS,
    description=(
        "Every signal a bot produced, once per bot, market, direction and candle (signal_hash "
        "is unique), with its factor scores, regime and verdict: ACCEPTED, or REJECTED with the "
        "validation or risk rule's reason. Written by trading_minute_job's signal tick."
    ),
)
trade_queue_table = dg.AssetSpec(
    "trade_queue",
    deps=["signals", "positions"],
    group_name=GROUP,
    kinds=KINDS,
    description=(
        "Trades waiting for execution: one row per accepted signal, stop, target or operator "
        "exit, each with its client order id (unique) and at most one PENDING row per bot, "
        "market and direction. CLOSE rows go first and never expire; entries expire at their "
        "TTL. Written by trading_minute_job; executed by execute_trades_job."
    ),
)
orders_table = dg.AssetSpec(
    "orders",
    deps=["trade_queue"],
    group_name=GROUP,
    kinds=KINDS,
    description=(
        "Orders placed for queue rows (paper or live), with their fills and fees, as the venue "
        "reported them. Written by execute_trades_job, one run per exchange account."
    ),
)
positions_table = dg.AssetSpec(
    "positions",
    deps=["candles"],
    group_name=GROUP,
    kinds=KINDS,
    description=(
        "Open and closed positions (at most one open per bot and market), marked to market at "
        "each minute's candles, with realized and unrealized P&L. The minute loop scans every "
        "new bar for stops and targets and queues their CLOSE; execute_trades_job opens and "
        "closes positions from fills."
    ),
)

TRADING_TABLES = [signals_table, trade_queue_table, orders_table, positions_table]
