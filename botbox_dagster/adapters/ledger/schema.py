"""The ledger schema as numbered migrations, applied in order and recorded in ``schema_version``.

The table and column names are a contract: operators, asset checks and the PostgreSQL backend use
them. The SQL sticks to what DuckDB and PostgreSQL both accept (sequences with ``nextval``,
``DOUBLE PRECISION``, ``TIMESTAMPTZ``, ``TEXT`` for JSON documents). DuckDB has no partial unique
indexes, so "at most one PENDING row per (bot, symbol, direction)" and "one open position per
(bot, symbol)" are nullable unique key columns, set while the condition holds and NULL after.
"""

from __future__ import annotations

from dataclasses import dataclass


@dataclass(frozen=True)
class Migration:
    version: int
    description: str
    statements: tuple[str, ...]


_V1 = (
    """CREATE TABLE IF NOT EXISTS schema_version (
        version INTEGER PRIMARY KEY,
        description TEXT NOT NULL,
        applied_at TIMESTAMPTZ NOT NULL
    )""",
    """CREATE TABLE exchange_accounts (
        account TEXT PRIMARY KEY,
        kind TEXT NOT NULL,
        venue TEXT NOT NULL,
        market_data TEXT NOT NULL,
        config TEXT NOT NULL,
        updated_at TIMESTAMPTZ NOT NULL
    )""",
    """CREATE TABLE markets (
        exchange TEXT NOT NULL,
        symbol TEXT NOT NULL,
        base TEXT NOT NULL,
        quote TEXT NOT NULL,
        timeframe TEXT NOT NULL,
        price_tick DOUBLE PRECISION,
        amount_step DOUBLE PRECISION,
        min_amount DOUBLE PRECISION,
        min_notional DOUBLE PRECISION,
        active BOOLEAN NOT NULL,
        updated_at TIMESTAMPTZ NOT NULL,
        PRIMARY KEY (exchange, symbol)
    )""",
    """CREATE TABLE strategies (
        id TEXT PRIMARY KEY,
        template TEXT NOT NULL,
        spec TEXT NOT NULL,
        config_hash TEXT NOT NULL,
        updated_at TIMESTAMPTZ NOT NULL
    )""",
    """CREATE TABLE bots (
        id TEXT PRIMARY KEY,
        name TEXT NOT NULL,
        strategy_id TEXT NOT NULL,
        exchange TEXT NOT NULL,
        symbol TEXT NOT NULL,
        check_interval_minutes INTEGER NOT NULL,
        status TEXT NOT NULL,
        status_reason TEXT,
        mode TEXT NOT NULL,
        capital DOUBLE PRECISION NOT NULL,
        limits TEXT NOT NULL,
        config_hash TEXT NOT NULL,
        last_check_at TIMESTAMPTZ,
        created_at TIMESTAMPTZ NOT NULL,
        updated_at TIMESTAMPTZ NOT NULL
    )""",
    """CREATE TABLE candles (
        exchange TEXT NOT NULL,
        symbol TEXT NOT NULL,
        timeframe TEXT NOT NULL,
        open_time TIMESTAMPTZ NOT NULL,
        open DOUBLE PRECISION NOT NULL,
        high DOUBLE PRECISION NOT NULL,
        low DOUBLE PRECISION NOT NULL,
        close DOUBLE PRECISION NOT NULL,
        volume DOUBLE PRECISION NOT NULL,
        source TEXT NOT NULL,
        ingested_at TIMESTAMPTZ NOT NULL,
        PRIMARY KEY (exchange, symbol, timeframe, open_time)
    )""",
    "CREATE SEQUENCE signals_id_seq START 1",
    """CREATE TABLE signals (
        id BIGINT PRIMARY KEY DEFAULT nextval('signals_id_seq'),
        signal_hash TEXT NOT NULL UNIQUE,
        bot_id TEXT NOT NULL,
        strategy_id TEXT NOT NULL,
        exchange TEXT NOT NULL,
        symbol TEXT NOT NULL,
        timeframe TEXT NOT NULL,
        direction TEXT NOT NULL,
        candle_time TIMESTAMPTZ NOT NULL,
        price DOUBLE PRECISION,
        score DOUBLE PRECISION,
        contributions TEXT NOT NULL,
        regime TEXT,
        status TEXT NOT NULL,
        reason TEXT,
        evaluated_at TIMESTAMPTZ NOT NULL,
        updated_at TIMESTAMPTZ NOT NULL
    )""",
    "CREATE INDEX signals_bot_time ON signals (bot_id, evaluated_at)",
    "CREATE SEQUENCE trade_queue_id_seq START 1",
    """CREATE TABLE trade_queue (
        id BIGINT PRIMARY KEY DEFAULT nextval('trade_queue_id_seq'),
        bot_id TEXT NOT NULL,
        signal_id BIGINT,
        exchange TEXT NOT NULL,
        symbol TEXT NOT NULL,
        direction TEXT NOT NULL,
        entry_price DOUBLE PRECISION,
        stop_loss DOUBLE PRECISION,
        take_profit DOUBLE PRECISION,
        position_size DOUBLE PRECISION NOT NULL,
        status TEXT NOT NULL,
        attempts INTEGER NOT NULL DEFAULT 0,
        client_order_id TEXT NOT NULL UNIQUE,
        order_id TEXT,
        reason TEXT,
        pending_key TEXT UNIQUE,
        priority INTEGER NOT NULL,
        next_attempt_at TIMESTAMPTZ,
        run_id TEXT,
        created_at TIMESTAMPTZ NOT NULL,
        updated_at TIMESTAMPTZ NOT NULL,
        expires_at TIMESTAMPTZ NOT NULL
    )""",
    "CREATE INDEX trade_queue_status ON trade_queue (status, exchange)",
    "CREATE SEQUENCE orders_id_seq START 1",
    """CREATE TABLE orders (
        id BIGINT PRIMARY KEY DEFAULT nextval('orders_id_seq'),
        queue_id BIGINT,
        bot_id TEXT NOT NULL,
        exchange TEXT NOT NULL,
        symbol TEXT NOT NULL,
        side TEXT NOT NULL,
        order_type TEXT NOT NULL,
        amount DOUBLE PRECISION NOT NULL,
        price DOUBLE PRECISION,
        status TEXT NOT NULL,
        client_order_id TEXT NOT NULL UNIQUE,
        exchange_order_id TEXT,
        filled DOUBLE PRECISION NOT NULL DEFAULT 0,
        average_price DOUBLE PRECISION,
        fee DOUBLE PRECISION NOT NULL DEFAULT 0,
        fee_currency TEXT,
        mode TEXT NOT NULL,
        created_at TIMESTAMPTZ NOT NULL,
        updated_at TIMESTAMPTZ NOT NULL
    )""",
    "CREATE SEQUENCE fills_id_seq START 1",
    """CREATE TABLE fills (
        id BIGINT PRIMARY KEY DEFAULT nextval('fills_id_seq'),
        order_id BIGINT NOT NULL,
        bot_id TEXT NOT NULL,
        exchange TEXT NOT NULL,
        symbol TEXT NOT NULL,
        side TEXT NOT NULL,
        amount DOUBLE PRECISION NOT NULL,
        price DOUBLE PRECISION NOT NULL,
        fee DOUBLE PRECISION NOT NULL,
        fee_currency TEXT,
        trade_key TEXT NOT NULL UNIQUE,
        filled_at TIMESTAMPTZ NOT NULL
    )""",
    "CREATE SEQUENCE positions_id_seq START 1",
    """CREATE TABLE positions (
        id BIGINT PRIMARY KEY DEFAULT nextval('positions_id_seq'),
        bot_id TEXT NOT NULL,
        exchange TEXT NOT NULL,
        symbol TEXT NOT NULL,
        direction TEXT NOT NULL,
        amount DOUBLE PRECISION NOT NULL,
        entry_price DOUBLE PRECISION NOT NULL,
        stop_loss DOUBLE PRECISION,
        take_profit DOUBLE PRECISION,
        status TEXT NOT NULL,
        open_key TEXT UNIQUE,
        entry_order_id BIGINT,
        exit_order_id BIGINT,
        exit_price DOUBLE PRECISION,
        exit_reason TEXT,
        fees DOUBLE PRECISION NOT NULL DEFAULT 0,
        realized_pnl DOUBLE PRECISION,
        unrealized_pnl DOUBLE PRECISION,
        mark_price DOUBLE PRECISION,
        marked_at TIMESTAMPTZ,
        opened_at TIMESTAMPTZ NOT NULL,
        closed_at TIMESTAMPTZ
    )""",
    """CREATE TABLE paper_balances (
        bot_id TEXT NOT NULL,
        currency TEXT NOT NULL,
        balance DOUBLE PRECISION NOT NULL,
        updated_at TIMESTAMPTZ NOT NULL,
        PRIMARY KEY (bot_id, currency)
    )""",
    """CREATE TABLE rate_limit_buckets (
        account TEXT NOT NULL,
        bucket TEXT NOT NULL,
        state TEXT NOT NULL,
        updated_at TIMESTAMPTZ NOT NULL,
        PRIMARY KEY (account, bucket)
    )""",
    """CREATE TABLE circuit_breakers (
        exchange TEXT PRIMARY KEY,
        state TEXT NOT NULL,
        updated_at TIMESTAMPTZ NOT NULL
    )""",
    """CREATE TABLE fleet_controls (
        name TEXT PRIMARY KEY,
        value TEXT NOT NULL,
        updated_by TEXT NOT NULL,
        updated_at TIMESTAMPTZ NOT NULL
    )""",
    "CREATE SEQUENCE exchange_calls_id_seq START 1",
    """CREATE TABLE exchange_calls (
        id BIGINT PRIMARY KEY DEFAULT nextval('exchange_calls_id_seq'),
        account TEXT NOT NULL,
        purpose TEXT NOT NULL,
        weight INTEGER NOT NULL,
        outcome TEXT NOT NULL,
        detail TEXT,
        called_at TIMESTAMPTZ NOT NULL
    )""",
    "CREATE INDEX exchange_calls_time ON exchange_calls (account, called_at)",
)

# Orders on the venue contract (docs/venue-contract.md): a row remembers when and in which
# mode its order was sent, so recovery never re-sends an order that may be at the venue and asks
# the venue the row was sent to; an order remembers how much of it the position already holds,
# so an order followed from NEW to FILLED is applied to the position once, fill by fill.
_V2 = (
    "ALTER TABLE trade_queue ADD COLUMN sent_at TIMESTAMPTZ",
    "ALTER TABLE trade_queue ADD COLUMN send_mode TEXT",
    "ALTER TABLE orders ADD COLUMN applied_filled DOUBLE PRECISION DEFAULT 0",
    "ALTER TABLE orders ADD COLUMN applied_cost DOUBLE PRECISION DEFAULT 0",
    "ALTER TABLE orders ADD COLUMN applied_fee DOUBLE PRECISION DEFAULT 0",
    "ALTER TABLE positions ADD COLUMN realized_so_far DOUBLE PRECISION DEFAULT 0",
    # Entry fees not yet charged to a closed part (``fees`` stays every fee paid).
    "ALTER TABLE positions ADD COLUMN open_fees DOUBLE PRECISION",
)

# Paper fills like the market (botbox_dagster/domain/fills.py): an exit found by the position
# monitor carries the price it triggered at (the stop, the target, or the open it gapped
# through), and a position remembers the newest bar already scanned for its stop and target, so
# every bar is scanned once, none skipped.
_V3 = (
    "ALTER TABLE trade_queue ADD COLUMN trigger_price DOUBLE PRECISION",
    "ALTER TABLE positions ADD COLUMN scanned_to TIMESTAMPTZ",
)

# The minute loop's timeliness (README, "The minute loop" → Overload): one row per minute slot of
# trading_minute_schedule, written by the schedule when it skips the slot (the run still going)
# and by the slot's run when it starts, re-targets a stale slot and finishes its tick.
_V4 = (
    """CREATE TABLE minute_slots (
        slot TIMESTAMPTZ PRIMARY KEY,
        status TEXT NOT NULL,
        run_id TEXT,
        started_at TIMESTAMPTZ,
        finished_at TIMESTAMPTZ,
        evaluated_slot TIMESTAMPTZ,
        reason TEXT,
        updated_at TIMESTAMPTZ NOT NULL
    )""",
    "CREATE INDEX minute_slots_run ON minute_slots (run_id)",
)

MIGRATIONS: tuple[Migration, ...] = (
    Migration(1, "initial ledger", _V1),
    Migration(2, "orders sent once, followed to a terminal state", _V2),
    Migration(3, "exits at their trigger price, every bar scanned", _V3),
    Migration(4, "minute slots: skipped slots and tick lag", _V4),
)

LATEST_VERSION = MIGRATIONS[-1].version
