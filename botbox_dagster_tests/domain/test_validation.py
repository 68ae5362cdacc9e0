"""Every validation rule: one case that fires, one that lets the signal pass."""

from datetime import UTC, datetime, timedelta

from botbox_dagster.domain.accounts import MarketType
from botbox_dagster.domain.bots import BotStatus
from botbox_dagster.domain.circuit_breaker import BreakerState, BreakerStatus
from botbox_dagster.domain.regime import Regime
from botbox_dagster.domain.validation import (
    CIRCUIT_OPEN,
    FLEET_PAUSED,
    NO_FUNDING,
    ValidationContext,
    bot_still_active,
    breaker_is_open,
    circuit_closed,
    data_fresh,
    fleet_not_paused,
    funding_available,
    no_duplicate_position,
    pause_active,
    regime_favourable,
    short_allowed,
    validate,
)

NOW = datetime(2024, 3, 1, 12, 0, 30, tzinfo=UTC)
RANGING_ONLY = frozenset({Regime.RANGING})


def test_regime_rule() -> None:
    assert "TRENDING_UP not favourable" in regime_favourable(
        "LONG", Regime.TRENDING_UP, RANGING_ONLY
    )
    assert "unknown" in regime_favourable("SHORT", None, RANGING_ONLY)
    assert regime_favourable("LONG", Regime.RANGING, RANGING_ONLY) is None
    assert regime_favourable("LONG", Regime.VOLATILE, frozenset()) is None  # any regime
    assert regime_favourable("CLOSE", Regime.VOLATILE, RANGING_ONLY) is None  # exits always


def test_duplicate_rule() -> None:
    assert "already open" in no_duplicate_position("LONG", frozenset({"LONG"}), frozenset())
    assert "already pending" in no_duplicate_position("SHORT", frozenset(), frozenset({"SHORT"}))
    assert "CLOSE already pending" in no_duplicate_position(
        "CLOSE", frozenset({"LONG"}), frozenset({"CLOSE"})
    )
    # A bot holds one position on its market: no entry beside a position held the other way.
    assert no_duplicate_position("LONG", frozenset({"SHORT"}), frozenset()) == (
        "a SHORT position is open: it must close before a LONG entry"
    )
    assert no_duplicate_position("LONG", frozenset(), frozenset({"SHORT"})) is None
    assert no_duplicate_position("CLOSE", frozenset({"LONG"}), frozenset()) is None


def test_bot_still_active_rule() -> None:
    assert bot_still_active(BotStatus.PAUSED) == "bot PAUSED since evaluation"
    assert bot_still_active("DELETED") == "bot DELETED since evaluation"
    assert bot_still_active(None) == "bot no longer exists"
    assert bot_still_active(BotStatus.ACTIVE) is None


def test_data_age_rule() -> None:
    candle = datetime(2024, 3, 1, 11, 59, tzinfo=UTC)  # closes 12:00
    assert data_fresh(candle, "1m", NOW) is None
    assert data_fresh(candle, "1m", candle + timedelta(minutes=3, seconds=1)).startswith(
        "data too old"
    )
    # Longer timeframes: one interval plus 2 minutes, from the bar's close.
    bar_15m = datetime(2024, 3, 1, 11, 45, tzinfo=UTC)
    assert data_fresh(bar_15m, "15m", NOW + timedelta(minutes=16)) is None
    assert data_fresh(bar_15m, "15m", NOW + timedelta(minutes=18)) is not None
    assert data_fresh(candle, "1m", NOW, limit=timedelta(seconds=10)) is not None


def test_circuit_rule_reads_the_stored_breaker() -> None:
    opened = BreakerState(BreakerStatus.OPEN, 5, opened_at=NOW.timestamp() - 10).to_row()
    assert breaker_is_open(opened, NOW)
    assert circuit_closed("LONG", breaker_is_open(opened, NOW)) == CIRCUIT_OPEN
    expired = BreakerState(BreakerStatus.OPEN, 5, opened_at=NOW.timestamp() - 61).to_row()
    assert not breaker_is_open(expired, NOW)  # past the hold: the next call probes it
    half = BreakerState(BreakerStatus.HALF_OPEN, 5, opened_at=NOW.timestamp() - 70).to_row()
    assert not breaker_is_open(half, NOW)
    assert not breaker_is_open(BreakerState().to_row(), NOW)
    assert not breaker_is_open(None, NOW)
    assert circuit_closed("LONG", False) is None


def test_pause_rule_blocks_entries_not_exits() -> None:
    pause = {"paused": True, "reason": "maintenance", "until": None}
    assert pause_active(pause, NOW)
    assert fleet_not_paused("LONG", True) == FLEET_PAUSED
    assert fleet_not_paused("SHORT", True) == FLEET_PAUSED
    assert fleet_not_paused("CLOSE", True) is None
    assert fleet_not_paused("LONG", False) is None
    expired = {"paused": True, "until": (NOW - timedelta(minutes=1)).isoformat()}
    assert not pause_active(expired, NOW)
    assert not pause_active({"paused": False}, NOW)
    assert not pause_active(None, NOW)


def test_funding_rule() -> None:
    assert funding_available(True, False) == NO_FUNDING
    assert funding_available(True, True) is None
    assert funding_available(False, False) is None


def test_short_selling_rule_needs_a_margin_or_futures_account() -> None:
    assert (
        short_allowed("SHORT", "paper", MarketType.SPOT)
        == "short selling needs a margin or futures account; paper is spot"
    )
    assert short_allowed("SHORT", "live-bn", "spot") == (
        "short selling needs a margin or futures account; live-bn is spot"
    )
    assert short_allowed("SHORT", "paper", MarketType.MARGIN) is None
    assert short_allowed("SHORT", "paper", MarketType.FUTURES) is None
    assert short_allowed("LONG", "paper", MarketType.SPOT) is None  # buying needs no borrowing
    assert short_allowed("CLOSE", "paper", MarketType.SPOT) is None  # exits always
    assert short_allowed("NONE", "paper", MarketType.SPOT) is None


def _ctx(**kw: object) -> ValidationContext:
    base: dict[str, object] = dict(
        now=NOW,
        candle_time=datetime(2024, 3, 1, 11, 59, tzinfo=UTC),
        timeframe="1m",
        regime=Regime.RANGING,
        allowed_regimes=RANGING_ONLY,
        bot_status=BotStatus.ACTIVE,
    )
    base.update(kw)
    return ValidationContext(**base)  # type: ignore[arg-type]


def test_validate_passes_a_clean_signal_and_reports_the_first_denial() -> None:
    assert validate("LONG", _ctx()) is None
    assert (
        validate("LONG", _ctx(bot_status=BotStatus.PAUSED, paused=True))
        == "bot PAUSED since evaluation"
    )
    assert validate("LONG", _ctx(paused=True, breaker_open=True)) == FLEET_PAUSED
    assert validate("CLOSE", _ctx(paused=True, regime=Regime.VOLATILE)) is None
    # An exit waits in the queue for the breaker's probe instead of being lost for the candle.
    assert validate("CLOSE", _ctx(breaker_open=True)) is None


def test_validate_rejects_a_short_on_spot_after_the_fleet_wide_rules() -> None:
    spot = _ctx(account="paper")  # market type spot: the default
    assert validate("SHORT", spot) == (
        "short selling needs a margin or futures account; paper is spot"
    )
    assert validate("LONG", spot) is None
    assert validate("CLOSE", spot) is None
    assert validate("SHORT", _ctx(account="paper", market_type=MarketType.MARGIN)) is None
    # Pause and an open circuit are reported first; the market type before regime and duplicates.
    assert validate("SHORT", _ctx(account="paper", paused=True)) == FLEET_PAUSED
    assert validate("SHORT", _ctx(account="paper", breaker_open=True)) == CIRCUIT_OPEN
    assert validate(
        "SHORT", _ctx(account="paper", regime=None, pending_directions=frozenset({"SHORT"}))
    ) == ("short selling needs a margin or futures account; paper is spot")
