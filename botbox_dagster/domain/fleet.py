"""A fleet: exchange accounts, strategies and bots, validated together.

Validation is all-or-nothing: :func:`parse_fleet` returns a :class:`Fleet` only when every
account, strategy and bot is valid and every reference resolves; otherwise it raises
:class:`ConfigErrors` listing each problem with its file, object and field.
"""

from __future__ import annotations

import hashlib
import json
from dataclasses import asdict, dataclass
from typing import Any

from botbox_dagster.domain.accounts import ExchangeAccount, ExecutionKind, parse_account
from botbox_dagster.domain.bots import Bot, TradingMode, parse_bot
from botbox_dagster.domain.errors import ConfigError, ConfigErrors

MAX_BOTS = 10_000


@dataclass(frozen=True)
class Fleet:
    """A validated fleet, ready to be written to the ledger."""

    exchanges: dict[str, ExchangeAccount]
    strategies: dict[str, Any]  # id -> StrategySpec
    bots: tuple[Bot, ...]
    # id -> the declared mapping, stored in the ledger and parsed again when read back.
    strategy_sources: dict[str, dict[str, Any]]

    def markets(self) -> set[tuple[str, str]]:
        """(exchange, symbol) pairs watched by at least one bot."""
        return {(b.exchange, b.symbol) for b in self.bots}


def config_hash(obj: Any) -> str:
    """A stable hash of a config object, to tell a reload that changes nothing from one that does."""
    data = asdict(obj) if hasattr(obj, "__dataclass_fields__") else obj
    text = json.dumps(data, sort_keys=True, default=str)
    return hashlib.sha256(text.encode()).hexdigest()[:16]


def _parse_strategies(
    raw: Any, where: str, sources: dict[str, dict[str, Any]]
) -> tuple[dict[str, Any], list[ConfigError]]:
    from botbox_dagster.domain.strategy_config import parse_strategy

    errors: list[ConfigError] = []
    specs: dict[str, Any] = {}
    if raw is None:
        return specs, errors
    if not isinstance(raw, dict):
        return specs, [
            ConfigError(where, f"strategies must be a mapping of id to strategy, got {raw!r}")
        ]
    for strategy_id, body in raw.items():
        label = f"{where}: strategy {strategy_id!r}"
        if not isinstance(strategy_id, str) or not strategy_id:
            errors.append(ConfigError(label, "strategy ids must be non-empty strings"))
            continue
        if not isinstance(body, dict):
            errors.append(ConfigError(label, f"must be a mapping, got {body!r}"))
            continue
        try:
            source = {**body, "name": strategy_id}
            specs[strategy_id] = parse_strategy(source, label)
            sources[strategy_id] = source
        except ConfigErrors as exc:
            errors.extend(exc.errors)
        except ConfigError as exc:
            errors.append(exc)
    return specs, errors


def _resolve_strategy(name: str, declared: dict[str, Any]) -> Any | None:
    if name in declared:
        return declared[name]
    from botbox_dagster.domain.presets import PRESET_NAMES, load_preset

    return load_preset(name) if name in PRESET_NAMES else None


def parse_fleet(doc: Any, where: str) -> Fleet:
    """Validate a parsed fleet document (``exchanges``, ``strategies``, ``bots``)."""
    if not isinstance(doc, dict):
        raise ConfigErrors(
            [ConfigError(where, "a fleet file must be a mapping with a 'bots' list")]
        )
    errors: list[ConfigError] = []
    for key in sorted(set(doc) - {"exchanges", "strategies", "bots"}):
        errors.append(
            ConfigError(where, "is not a known section (exchanges, strategies, bots)", key)
        )

    exchanges: dict[str, ExchangeAccount] = {}
    raw_exchanges = doc.get("exchanges")
    raw_exchanges = {} if raw_exchanges is None else raw_exchanges
    if not isinstance(raw_exchanges, dict):
        errors.append(ConfigError(where, "must be a mapping of account id to account", "exchanges"))
        raw_exchanges = {}
    for account_id, body in raw_exchanges.items():
        account, errs = parse_account(account_id, body, where)
        errors.extend(errs)
        if account is not None:
            exchanges[account.id] = account

    sources: dict[str, dict[str, Any]] = {}
    strategies, errs = _parse_strategies(doc.get("strategies"), where, sources)
    errors.extend(errs)

    raw_bots = doc.get("bots")
    if not isinstance(raw_bots, list):
        errors.append(ConfigError(where, f"must be a list of bots, got {raw_bots!r}", "bots"))
        raw_bots = []
    if len(raw_bots) > MAX_BOTS:
        errors.append(
            ConfigError(where, f"holds {len(raw_bots)} bots, more than {MAX_BOTS}", "bots")
        )
        raw_bots = []
    bots: list[Bot] = []
    seen: dict[str, int] = {}
    for index, raw in enumerate(raw_bots):
        bot, errs = parse_bot(raw, f"{where}: bots[{index}]" if not _has_id(raw) else where)
        errors.extend(errs)
        if bot is None:
            continue
        label = f"{where}: bot {bot.id!r}"
        if bot.id in seen:
            errors.append(
                ConfigError(label, f"is declared twice (entries {seen[bot.id]} and {index})", "id")
            )
            continue
        seen[bot.id] = index
        errors.extend(_check_references(bot, label, exchanges, strategies))
        bots.append(bot)
    if errors:
        raise ConfigErrors(errors)
    # Bots may name a preset directly: resolve it once so the ledger stores every strategy used.
    for bot in bots:
        if bot.strategy not in strategies:
            strategies[bot.strategy] = _resolve_strategy(bot.strategy, strategies)
            sources[bot.strategy] = {"name": bot.strategy, "extends": bot.strategy}
    return Fleet(
        exchanges=exchanges, strategies=strategies, bots=tuple(bots), strategy_sources=sources
    )


def _has_id(raw: Any) -> bool:
    return isinstance(raw, dict) and isinstance(raw.get("id"), str)


def _check_references(
    bot: Bot, label: str, exchanges: dict[str, ExchangeAccount], strategies: dict[str, Any]
) -> list[ConfigError]:
    errors: list[ConfigError] = []
    account = exchanges.get(bot.exchange)
    if account is None:
        known = ", ".join(sorted(exchanges)) or "none declared"
        errors.append(
            ConfigError(
                label, f"names unknown exchange {bot.exchange!r} (known: {known})", "exchange"
            )
        )
    else:
        if account.markets and bot.symbol not in account.markets:
            errors.append(
                ConfigError(
                    label,
                    f"names unknown market {bot.symbol!r} on {account.id} "
                    f"(known: {', '.join(account.markets)})",
                    "symbol",
                )
            )
        if bot.mode is TradingMode.LIVE and account.execution is not ExecutionKind.CCXT:
            errors.append(
                ConfigError(label, f"is live but exchange {account.id!r} executes on paper", "mode")
            )
    if _resolve_strategy(bot.strategy, strategies) is None:
        errors.append(ConfigError(label, f"names unknown strategy {bot.strategy!r}", "strategy"))
    return errors
