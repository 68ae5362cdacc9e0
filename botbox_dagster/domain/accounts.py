"""Exchange accounts: where a bot's orders go and where its market's candles come from.

An account names a venue (a ccxt exchange id, which fixes the published rate limits), how orders
are executed (``paper`` simulator or ``ccxt`` live) and which market-data source feeds it
(``replay`` of recorded candles or ``ccxt`` public endpoints). Keys are never configuration: a live
account names the environment variables that hold them.

An account also declares its market type (``spot`` unless the fleet file says otherwise), which
fixes what it can trade: a spot account only sells what it holds, so it cannot open a SHORT. A
paper account has the capability it declares, so paper on a spot account rejects the same
signals the spot account would.
"""

from __future__ import annotations

import re
from dataclasses import dataclass
from enum import StrEnum
from typing import Any

from botbox_dagster.domain.errors import ConfigError

ACCOUNT_ID = re.compile(r"^[a-z0-9][a-z0-9_-]{0,31}$")
ENV_NAME = re.compile(r"^[A-Z_][A-Z0-9_]*$")


class ExecutionKind(StrEnum):
    PAPER = "paper"
    CCXT = "ccxt"


class MarketDataKind(StrEnum):
    REPLAY = "replay"
    CCXT = "ccxt"


class MarketType(StrEnum):
    """The kind of account held at the venue, which decides whether it can sell short.

    ``spot`` holds assets bought outright: a SELL needs the base balance (docs/venue-contract.md
    §8, insufficient balance), so a SHORT entry cannot execute. ``margin`` borrows the asset to
    sell and ``futures`` trades contracts; both can open a SHORT.
    """

    SPOT = "spot"
    MARGIN = "margin"
    FUTURES = "futures"

    @property
    def can_short(self) -> bool:
        """Whether an entry may sell what the account does not hold."""
        return self is not MarketType.SPOT


@dataclass(frozen=True)
class ExchangeAccount:
    """One exchange account; its id is the value of the run tag (botbox/exchange) that limits it."""

    id: str
    venue: str
    execution: ExecutionKind = ExecutionKind.PAPER
    market_data: MarketDataKind = MarketDataKind.REPLAY
    # Replay: a folder of CSV recordings (relative paths resolve against the fleet file).
    replay_dir: str | None = None
    # ccxt: an API base url override (a loopback test server); None means the venue itself.
    api_url: str | None = None
    markets: tuple[str, ...] = ()
    api_key_env: str | None = None
    secret_env: str | None = None
    max_open_positions: int = 50
    # The venue's published limits for this account when they differ from the venue's defaults
    # (another account tier, a test server): BotBox budgets 80% of whatever is declared here.
    weight_per_minute: int | None = None
    orders_per_10s: int | None = None
    # What the account trades at the venue; spot (the default) cannot open a SHORT.
    market_type: MarketType = MarketType.SPOT

    @property
    def can_short(self) -> bool:
        """Whether SHORT entries are allowed on this account (False for spot, paper or live)."""
        return self.market_type.can_short


_KEYS = {
    "venue",
    "execution",
    "market_data",
    "replay_dir",
    "api_url",
    "markets",
    "api_key_env",
    "secret_env",
    "max_open_positions",
    "weight_per_minute",
    "orders_per_10s",
    "market_type",
}


def parse_account(
    account_id: Any, raw: Any, where: str
) -> tuple[ExchangeAccount | None, list[ConfigError]]:
    """Validate one entry of the fleet file's ``exchanges`` mapping."""
    label = f"{where}: exchange {account_id!r}"
    errors: list[ConfigError] = []

    def add(field_name: str | None, message: str) -> None:
        errors.append(ConfigError(label, message, field=field_name))

    if not isinstance(account_id, str) or not ACCOUNT_ID.match(account_id):
        add(None, "exchange ids must be 1-32 lowercase letters, digits, '-' or '_'")
    if not isinstance(raw, dict):
        add(None, f"must be a mapping, got {raw!r}")
        return None, errors
    for key in sorted(set(raw) - _KEYS):
        add(key, f"is not a known exchange field (known: {', '.join(sorted(_KEYS))})")
    venue = raw.get("venue")
    if not isinstance(venue, str) or not re.match(r"^[a-z0-9]+$", venue):
        add("venue", f"must be a ccxt exchange id like 'binance', got {venue!r}")
    execution = raw.get("execution", "paper")
    if execution not in {k.value for k in ExecutionKind}:
        add("execution", f"must be one of paper, ccxt, got {execution!r}")
    market_data = raw.get("market_data", "replay")
    if market_data not in {k.value for k in MarketDataKind}:
        add("market_data", f"must be one of replay, ccxt, got {market_data!r}")
    market_type = raw.get("market_type", "spot")
    if not isinstance(market_type, str) or market_type not in {k.value for k in MarketType}:
        add("market_type", f"must be one of spot, margin, futures, got {market_type!r}")
    elif execution == "ccxt" and market_type != "spot":
        # The live adapter places spot orders only: a margin or futures account would pass its
        # shorts through validation and fail every one at the venue.
        add(
            "market_type", f"live (ccxt) execution supports spot accounts only, got {market_type!r}"
        )
    replay_dir = raw.get("replay_dir")
    if market_data == "replay" and not (isinstance(replay_dir, str) and replay_dir):
        add("replay_dir", "is required when market_data is replay")
    api_url = raw.get("api_url")
    if api_url is not None and not (
        isinstance(api_url, str) and re.match(r"^https?://[^\s]+$", api_url)
    ):
        add("api_url", f"must be an http(s) url, got {api_url!r}")
    markets = raw.get("markets", [])
    if not isinstance(markets, list) or not all(isinstance(m, str) and "/" in m for m in markets):
        add("markets", f"must be a list of symbols like 'ETH/BTC', got {markets!r}")
        markets = []
    elif len(set(markets)) != len(markets):
        add("markets", "lists a symbol twice")
    for key in ("api_key_env", "secret_env"):
        value = raw.get(key)
        if value is not None and not (isinstance(value, str) and ENV_NAME.match(value)):
            add(key, f"must name an environment variable (not hold a key), got {value!r}")
    mop = raw.get("max_open_positions", 50)
    if isinstance(mop, bool) or not isinstance(mop, int) or not 1 <= mop <= 10_000:
        add("max_open_positions", f"must be an integer between 1 and 10000, got {mop!r}")
    for key in ("weight_per_minute", "orders_per_10s"):
        value = raw.get(key)
        if value is not None and (
            isinstance(value, bool) or not isinstance(value, int) or not 10 <= value <= 1_000_000
        ):
            add(key, f"must be an integer between 10 and 1000000, got {value!r}")
    if errors:
        return None, errors
    assert isinstance(venue, str)
    return (
        ExchangeAccount(
            id=account_id,
            venue=venue,
            execution=ExecutionKind(execution),
            market_data=MarketDataKind(market_data),
            replay_dir=replay_dir,
            api_url=api_url,
            markets=tuple(markets),
            api_key_env=raw.get("api_key_env"),
            secret_env=raw.get("secret_env"),
            max_open_positions=mop,
            weight_per_minute=raw.get("weight_per_minute"),
            orders_per_10s=raw.get("orders_per_10s"),
            market_type=MarketType(market_type),
        ),
        [],
    )
