"""Launchpad configuration of execution runs (paper settings included)."""

from typing import Optional

import dagster as dg


class PaperConfig(dg.Config):
    """How the paper exchange fills orders in this run."""

    fee_bps: float = 10.0
    """Fee per fill, in basis points of the notional (10 = 0.1%, Binance's base spot fee)."""
    slippage_bps: float = 5.0
    """Adverse price move applied to every paper fill, in basis points."""
    spread_bps: float = 0.0
    """The market's full bid-ask spread in basis points; a market order pays half of it."""
    max_price_age_seconds: Optional[float] = None  # noqa: UP045 - Dagster config needs Optional
    """A market order fills at the newest close of the market's base timeframe only if that
    bar closed at most this long ago, else it waits for fresh data (no stale fills). Empty: the
    market's freshness limit (2 min for 1m bars, one bar + 2 min for longer ones), at most the
    queue's 5-minute TTL."""
    starting_balance: Optional[float] = None  # noqa: UP045 - Dagster config needs Optional
    """Balance of a bot's first paper trade; empty means the bot's configured capital."""
    max_volume_share: Optional[float] = None  # noqa: UP045 - Dagster config needs Optional
    """The largest share of the newest bar's volume one order fills (0.1 = 10%); the rest is
    not filled and the order ends EXPIRED with what filled (an exit's rest is queued again).
    Empty: no cap. Bars without volume do not cap."""


class ExecutionConfig(dg.Config):
    """Which account this run executes for and how."""

    account: str = "paper"
    """Exchange account id (the fleet file's `exchanges` key)."""
    batch_size: int = 20
    """Rows claimed at a time (CLOSE rows first, then oldest)."""
    max_attempts: int = 5
    """Transient failures before a row is marked FAILED."""
    orphan_after_seconds: float = 300.0
    """An EXECUTING row this old is recovered (looked up at the venue by client order id) even
    if the run that claimed it still looks alive: a killed run process can stay STARTED."""
    linger_seconds: float = 0.0
    """After the queue is drained, keep polling it this long for new rows and execute each as
    it comes (0: end at once). trade_queue_sensor sets it, so that a run stays warm between
    minutes instead of a new process starting for every trade (README, "Execution")."""
    poll_seconds: float = 1.0
    """How often a lingering run looks at the queue."""
    max_lifetime_seconds: float = 240.0
    """A lingering run ends by this age, well inside the job's 300 s dagster/max_runtime; the
    sensor starts the next one."""
    paper: PaperConfig = PaperConfig()
