"""``bots``, ``strategies``, ``exchange_accounts`` and ``markets``: the fleet's configuration."""

from __future__ import annotations

import json
from collections.abc import Sequence
from dataclasses import asdict, dataclass, field
from datetime import UTC, datetime
from typing import Any

from botbox_dagster.domain.accounts import (
    ExchangeAccount,
    ExecutionKind,
    MarketDataKind,
    MarketType,
)
from botbox_dagster.domain.bots import Bot, BotLimits, BotStatus, TradingMode
from botbox_dagster.domain.errors import ConfigError, ConfigErrors
from botbox_dagster.domain.fleet import Fleet, config_hash

BOT_COLUMNS = (
    "id, name, strategy_id, exchange, symbol, check_interval_minutes, status, mode, capital, "
    "limits, config_hash, last_check_at, status_reason, updated_at"
)


@dataclass(frozen=True)
class BotRow:
    """A bot as stored: its configuration plus the state the ledger keeps for it."""

    bot: Bot
    config_hash: str
    last_check_at: datetime | None
    status_reason: str | None
    updated_at: datetime


@dataclass
class LoadReport:
    """What loading a fleet file changed; all zeros but ``unchanged`` on a repeated load."""

    added: list[str] = field(default_factory=list)
    updated: list[str] = field(default_factory=list)
    unchanged: list[str] = field(default_factory=list)
    strategies_changed: list[str] = field(default_factory=list)
    exchanges_changed: list[str] = field(default_factory=list)

    @property
    def changed(self) -> bool:
        return bool(self.added or self.updated or self.strategies_changed or self.exchanges_changed)


def _bot_from_row(row: tuple[Any, ...]) -> BotRow:
    limits = json.loads(row[9])
    bot = Bot(
        id=row[0],
        name=row[1],
        strategy=row[2],
        exchange=row[3],
        symbol=row[4],
        check_interval_minutes=row[5],
        status=BotStatus(row[6]),
        mode=TradingMode(row[7]),
        capital=row[8],
        limits=BotLimits(**limits),
    )
    return BotRow(
        bot=bot,
        config_hash=row[10],
        last_check_at=row[11],
        status_reason=row[12],
        updated_at=row[13],
    )


def _account_from_row(row: tuple[Any, ...]) -> ExchangeAccount:
    config = json.loads(row[4])
    config["markets"] = tuple(config.get("markets", ()))
    # Rows written before accounts declared a market type are spot, the fleet file's default.
    config["market_type"] = MarketType(config.get("market_type", MarketType.SPOT))
    return ExchangeAccount(
        id=row[0],
        venue=row[2],
        execution=ExecutionKind(row[1]),
        market_data=MarketDataKind(row[3]),
        **config,
    )


class BotTables:
    """Fleet configuration tables. Mixed into :class:`LedgerStore`."""

    run: Any

    def load_fleet(self, fleet: Fleet, *, now: datetime | None = None) -> LoadReport:
        """Write a validated fleet in one transaction; a repeated load changes nothing.

        A bot's status in the file applies when the bot is new or its declared configuration
        changed, so reloading an unchanged file never undoes a pause made with the CLI.
        """
        now = now or datetime.now(UTC)
        report = LoadReport()

        def work(conn: Any) -> None:
            for account in fleet.exchanges.values():
                config = {
                    k: v
                    for k, v in asdict(account).items()
                    if k not in {"id", "venue", "execution", "market_data"}
                }
                blob = json.dumps(config, sort_keys=True, default=str)
                row = conn.execute(
                    "SELECT kind, venue, market_data, config FROM exchange_accounts WHERE account = ?",
                    [account.id],
                ).fetchone()
                new = (account.execution.value, account.venue, account.market_data.value, blob)
                if row is None or tuple(row) != new:
                    conn.execute(
                        "INSERT INTO exchange_accounts (account, kind, venue, market_data, config, "
                        "updated_at) VALUES (?, ?, ?, ?, ?, ?) ON CONFLICT (account) DO UPDATE SET "
                        "kind = excluded.kind, venue = excluded.venue, "
                        "market_data = excluded.market_data, config = excluded.config, "
                        "updated_at = excluded.updated_at",
                        [account.id, *new, now],
                    )
                    report.exchanges_changed.append(account.id)
            for strategy_id, source in fleet.strategy_sources.items():
                spec = fleet.strategies[strategy_id]
                digest = config_hash(source)
                row = conn.execute(
                    "SELECT config_hash FROM strategies WHERE id = ?", [strategy_id]
                ).fetchone()
                if row is None or row[0] != digest:
                    conn.execute(
                        "INSERT INTO strategies (id, template, spec, config_hash, updated_at) "
                        "VALUES (?, ?, ?, ?, ?) ON CONFLICT (id) DO UPDATE SET "
                        "template = excluded.template, spec = excluded.spec, "
                        "config_hash = excluded.config_hash, updated_at = excluded.updated_at",
                        [
                            strategy_id,
                            str(getattr(spec, "template", source.get("extends", strategy_id))),
                            json.dumps(source, sort_keys=True),
                            digest,
                            now,
                        ],
                    )
                    report.strategies_changed.append(strategy_id)
            moved = self._moves_with_open_positions(conn, fleet.bots)
            if moved:
                raise ConfigErrors(moved)  # the transaction rolls back: nothing is written
            for bot in fleet.bots:
                self._upsert_bot(conn, bot, now, report)
            self._refresh_markets(conn, now)

        self.run(work)
        return report

    @staticmethod
    def _moves_with_open_positions(conn: Any, bots: Sequence[Bot]) -> list[ConfigError]:
        """A bot moved to another symbol or account while it holds a position: the position
        would be orphaned (no signal, stop or CLOSE of the bot would ever look at it again)."""
        errors = []
        for bot in bots:
            for position_id, exchange, symbol in conn.execute(
                "SELECT id, exchange, symbol FROM positions WHERE bot_id = ? AND status = 'OPEN' "
                "AND (exchange <> ? OR symbol <> ?) ORDER BY id",
                [bot.id, bot.exchange, bot.symbol],
            ).fetchall():
                errors.append(
                    ConfigError(
                        f"bot {bot.id!r}",
                        f"holds open position {position_id} in {symbol} on {exchange}: close it "
                        f"(botbox bots close {bot.id}) before moving the bot to {bot.symbol} on "
                        f"{bot.exchange}",
                        field="symbol" if symbol != bot.symbol else "exchange",
                    )
                )
        return errors

    @staticmethod
    def _upsert_bot(conn: Any, bot: Bot, now: datetime, report: LoadReport) -> None:
        digest = config_hash(bot)
        row = conn.execute("SELECT config_hash FROM bots WHERE id = ?", [bot.id]).fetchone()
        if row is not None and row[0] == digest:
            report.unchanged.append(bot.id)
            return
        values = [
            bot.id,
            bot.name,
            bot.strategy,
            bot.exchange,
            bot.symbol,
            bot.check_interval_minutes,
            bot.status.value,
            bot.mode.value,
            bot.capital,
            json.dumps(asdict(bot.limits), sort_keys=True),
            digest,
        ]
        if row is None:
            conn.execute(
                "INSERT INTO bots (id, name, strategy_id, exchange, symbol, check_interval_minutes, "
                "status, mode, capital, limits, config_hash, created_at, updated_at) "
                "VALUES (?, ?, ?, ?, ?, ?, ?, ?, ?, ?, ?, ?, ?)",
                [*values, now, now],
            )
            report.added.append(bot.id)
        else:
            conn.execute(
                "UPDATE bots SET name = ?, strategy_id = ?, exchange = ?, symbol = ?, "
                "check_interval_minutes = ?, status = ?, mode = ?, capital = ?, limits = ?, "
                "config_hash = ?, status_reason = 'reloaded from file', updated_at = ? WHERE id = ?",
                [*values[1:], now, bot.id],
            )
            report.updated.append(bot.id)

    @staticmethod
    def _refresh_markets(conn: Any, now: datetime) -> None:
        """Keep one ``markets`` row per (exchange, symbol) that a non-deleted bot watches."""
        conn.execute(
            "INSERT INTO markets (exchange, symbol, base, quote, timeframe, active, updated_at) "
            "SELECT DISTINCT exchange, symbol, split_part(symbol, '/', 1), "
            "split_part(split_part(symbol, '/', 2), ':', 1), '1m', TRUE, ? "
            "FROM bots WHERE status <> 'DELETED' "
            "ON CONFLICT (exchange, symbol) DO NOTHING",
            [now],
        )
        conn.execute(
            "UPDATE markets SET active = EXISTS (SELECT 1 FROM bots b WHERE b.exchange = "
            "markets.exchange AND b.symbol = markets.symbol AND b.status = 'ACTIVE')"
        )

    def list_bots(self, *, include_deleted: bool = False) -> list[BotRow]:
        where = "" if include_deleted else "WHERE status <> 'DELETED'"
        rows = self.run(
            lambda c: c.execute(f"SELECT {BOT_COLUMNS} FROM bots {where} ORDER BY id").fetchall()
        )
        return [_bot_from_row(r) for r in rows]

    def get_bot(self, bot_id: str) -> BotRow | None:
        row = self.run(
            lambda c: c.execute(f"SELECT {BOT_COLUMNS} FROM bots WHERE id = ?", [bot_id]).fetchone()
        )
        return None if row is None else _bot_from_row(row)

    def set_bot_status(
        self, bot_id: str, status: BotStatus, reason: str, *, now: datetime | None = None
    ) -> BotRow | None:
        """Change one bot's status at once (takes effect at its next check); None if unknown."""
        now = now or datetime.now(UTC)

        def work(conn: Any) -> Any:
            row = conn.execute(
                "UPDATE bots SET status = ?, status_reason = ?, updated_at = ? "
                f"WHERE id = ? AND status <> 'DELETED' RETURNING {BOT_COLUMNS}",
                [status.value, reason, now, bot_id],
            ).fetchone()
            self._refresh_markets(conn, now)
            return row

        row = self.run(work)
        return None if row is None else _bot_from_row(row)

    def exchange_accounts(self) -> dict[str, ExchangeAccount]:
        rows = self.run(
            lambda c: c.execute(
                "SELECT account, kind, venue, market_data, config FROM exchange_accounts "
                "ORDER BY account"
            ).fetchall()
        )
        return {r[0]: _account_from_row(r) for r in rows}

    def strategy_sources(self) -> dict[str, dict[str, Any]]:
        rows = self.run(lambda c: c.execute("SELECT id, spec FROM strategies").fetchall())
        return {r[0]: json.loads(r[1]) for r in rows}

    def active_markets(self) -> list[tuple[str, str]]:
        """(exchange, symbol) of every market an ACTIVE bot watches."""
        rows = self.run(
            lambda c: c.execute(
                "SELECT exchange, symbol FROM markets WHERE active ORDER BY exchange, symbol"
            ).fetchall()
        )
        return [(r[0], r[1]) for r in rows]
