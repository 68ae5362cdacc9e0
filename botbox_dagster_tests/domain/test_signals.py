"""Signal identity, due-bot timing, sizing, shard planning and the tick's verdict."""

from datetime import UTC, datetime, timedelta

import pytest

from botbox_dagster.domain.accounts import MarketType
from botbox_dagster.domain.bots import Bot, BotLimits
from botbox_dagster.domain.client_order_id import client_order_id
from botbox_dagster.domain.presets import load_preset
from botbox_dagster.domain.risk import Exposure, RiskLimits
from botbox_dagster.domain.signals import (
    PRIORITY_CLOSE,
    PRIORITY_OPEN,
    ClaimedBot,
    Signal,
    SignalStatus,
    is_due,
    pending_key,
    position_value,
    signal_hash,
    slot_start,
    trade_intent,
)
from botbox_dagster.domain.strategy import Sizing
from botbox_dagster.domain.tick import LedgerView, decide, plan_shards

T = datetime(2024, 3, 1, 12, 15, tzinfo=UTC)


def test_signal_hash_is_stable_and_distinguishes_each_field() -> None:
    h = signal_hash("b1", "paper", "BTC/USDT", "LONG", T)
    assert h == signal_hash("b1", "paper", "BTC/USDT", "LONG", T)
    others = {
        signal_hash("b2", "paper", "BTC/USDT", "LONG", T),
        signal_hash("b1", "live", "BTC/USDT", "LONG", T),
        signal_hash("b1", "paper", "ETH/USDT", "LONG", T),
        signal_hash("b1", "paper", "BTC/USDT", "SHORT", T),
        signal_hash("b1", "paper", "BTC/USDT", "LONG", T + timedelta(minutes=1)),
    }
    assert h not in others and len(others) == 5
    with pytest.raises(ValueError):
        signal_hash("b1", "paper", "BTC/USDT", "LONG", T.replace(tzinfo=None))


def test_due_slots_align_to_candle_close() -> None:
    assert slot_start(T + timedelta(minutes=3, seconds=5), 5) == T
    assert slot_start(T + timedelta(seconds=59), 60) == datetime(2024, 3, 1, 12, tzinfo=UTC)
    assert is_due(None, 15, T)
    assert is_due(T - timedelta(seconds=1), 15, T)  # checked in the previous slot
    assert not is_due(T, 15, T + timedelta(minutes=14, seconds=59))  # same slot
    assert is_due(T, 15, T + timedelta(minutes=15))
    assert not is_due(T + timedelta(seconds=20), 1, T + timedelta(seconds=50))


def _bot(bot_id: str = "b1", symbol: str = "BTC/USDT", **kw: object) -> Bot:
    return Bot(bot_id, bot_id, "trend", "paper", symbol, 15, **kw)  # type: ignore[arg-type]


def test_position_value_and_trade_intent() -> None:
    assert position_value(1000.0, Sizing(0.1), None) == 100.0
    assert position_value(1000.0, Sizing(0.5, 300.0), None) == 300.0
    assert position_value(1000.0, Sizing(0.5, 300.0), 50.0) == 50.0
    spec = load_preset("trend_following")
    bot = _bot(capital=5000.0)
    intent = trade_intent(bot, spec, "LONG", T, 250.0, stop_loss=240.0, take_profit=280.0)
    assert intent.position_size == pytest.approx(500.0 / 250.0)
    assert intent.client_order_id == client_order_id("b1", "BTC/USDT", "LONG", T)
    assert intent.pending_key == pending_key("b1", "BTC/USDT", "LONG") == "b1|BTC/USDT|LONG"
    assert intent.priority == PRIORITY_OPEN > PRIORITY_CLOSE
    close = trade_intent(bot, spec, "CLOSE", T, 260.0, close_amount=1.5)
    assert close.position_size == 1.5 and close.priority == PRIORITY_CLOSE


def _claimed(bot_id: str, symbol: str = "BTC/USDT", **kw: object) -> ClaimedBot:
    return ClaimedBot(_bot(bot_id, symbol, **kw), load_preset("trend_following"), "h")


def test_plan_shards_keeps_markets_whole_and_balances() -> None:
    claimed = [_claimed(f"b{i}", f"M{i % 5}/USDT") for i in range(23)]
    shards = plan_shards(claimed, 3)
    assert len(shards) == 3
    markets = [m for s in shards for m in s]
    assert len(markets) == len(set(markets)) == 5
    sizes = sorted(sum(len(b) for b in s.values()) for s in shards)
    assert sum(sizes) == 23 and sizes[-1] - sizes[0] <= 5
    assert len(plan_shards(claimed[:2], 8)) == 2
    assert plan_shards([], 4) == []


def _signal(bot_id: str, direction: str = "LONG", symbol: str = "BTC/USDT") -> Signal:
    c = _claimed(bot_id, symbol)
    intent = trade_intent(c.bot, c.spec, direction, T, 100.0, close_amount=1.0)
    return Signal(
        bot_id,
        "trend",
        "paper",
        symbol,
        "15m",
        direction,
        T - timedelta(minutes=15),
        100.0,
        0.8,
        {},
        "TRENDING_UP",
        "score 0.8",
        intent,
    )


def _view(**kw: object) -> LedgerView:
    base: dict[str, object] = dict(
        bot_statuses={f"b{i}": "ACTIVE" for i in range(5)},
        paused=False,
        open_breakers=frozenset(),
        account_max_open={"paper": 2},
        book=(),
    )
    base.update(kw)
    return LedgerView(**base)  # type: ignore[arg-type]


def test_decide_feeds_acceptances_back_into_the_book() -> None:
    signals = [_signal("b1"), _signal("b2", symbol="ETH/USDT"), _signal("b3", symbol="SOL/USDT")]
    bots = {s.bot_id: _claimed(s.bot_id, s.symbol) for s in signals}
    verdicts = decide(signals, bots, _view(), {}, RiskLimits(), T)
    assert [v.status for v in verdicts] == [SignalStatus.ACCEPTED] * 2 + [SignalStatus.REJECTED]
    assert "per account paper reached (2/2)" in (verdicts[2].reason or "")


def test_decide_orders_closes_first_and_pause_blocks_only_entries() -> None:
    signals = [_signal("b1"), _signal("b2", "CLOSE")]
    bots = {s.bot_id: _claimed(s.bot_id) for s in signals}
    book = (Exposure("b2", "paper", "BTC/USDT", "LONG", 100.0),)
    verdicts = decide(signals, bots, _view(paused=True, book=book), {}, RiskLimits(), T)
    assert [(v.signal.direction, v.status, v.reason) for v in verdicts] == [
        ("CLOSE", SignalStatus.ACCEPTED, None),
        ("LONG", SignalStatus.REJECTED, "fleet paused"),
    ]


def test_decide_rejects_shorts_on_a_spot_account_only() -> None:
    signals = [_signal("b1", "SHORT"), _signal("b2", "LONG"), _signal("b3", "CLOSE")]
    bots = {s.bot_id: _claimed(s.bot_id) for s in signals}
    spot = decide(signals, bots, _view(), {}, RiskLimits(), T)  # an unlisted account is spot
    assert [(v.signal.direction, v.status, v.reason) for v in spot] == [
        ("CLOSE", SignalStatus.ACCEPTED, None),
        (
            "SHORT",
            SignalStatus.REJECTED,
            "short selling needs a margin or futures account; paper is spot",
        ),
        ("LONG", SignalStatus.ACCEPTED, None),
    ]
    margin = _view(account_market_types={"paper": MarketType.MARGIN})
    verdicts = decide(signals, bots, margin, {}, RiskLimits(), T)
    assert [v.status for v in verdicts] == [SignalStatus.ACCEPTED] * 3


def test_a_signal_gets_the_client_order_id_format_of_its_accounts_venue() -> None:
    import pandas as pd

    from botbox_dagster.domain.client_order_id import GATE_FORMAT, OKX_FORMAT, is_valid
    from botbox_dagster.domain.scoring import Evaluation
    from botbox_dagster.domain.tick import _signal

    ev = Evaluation("trend", pd.Timestamp(T), None, 0.9, "score", price=250.0)
    spec = load_preset("trend_following")
    ids = {
        venue: _signal(ClaimedBot(_bot(capital=5000.0), spec, "h", venue), ev, "LONG", None)
        for venue in ("binance", "okx", "gate", "")
    }
    cids = {v: s.intent.client_order_id for v, s in ids.items() if s.intent is not None}
    # OKX allows letters and digits only (32); Gate.io wants a "t-" prefix (30 at most).
    assert is_valid(cids["okx"], OKX_FORMAT) and "-" not in cids["okx"] and len(cids["okx"]) == 32
    assert is_valid(cids["gate"], GATE_FORMAT) and cids["gate"].startswith("t-")
    assert cids["binance"] == cids[""] == client_order_id("b1", "BTC/USDT", "LONG", T)
    assert len(set(cids.values())) == 3


def test_entries_are_sized_from_equity_and_a_bot_without_equity_is_rejected() -> None:
    # trend_following sizes 10% of the bot's money (cap 2,000). Capital 1,000 in each case:
    # b1 lost 400 -> equity 600 -> 60 at 100 = 0.6; b2 made 500 -> 1,500 -> 150 = 1.5;
    # b3 lost 1,000 -> no equity; b4 lost 990 -> equity 10 -> 1 = 0.01, but its 100 of
    # open exposure leaves nothing available: a risk rejection with its reason.
    signals = [_signal(f"b{i}", symbol=f"M{i}/USDT") for i in range(1, 5)]
    bots = {
        s.bot_id: _claimed(s.bot_id, s.symbol, limits=BotLimits(max_open_positions=2))
        for s in signals
    }
    view = _view(
        account_max_open={"paper": 10},
        realized_pnl={"b1": -400.0, "b2": 500.0, "b3": -1000.0, "b4": -990.0},
        book=(Exposure("b4", "paper", "X/USDT", "LONG", 100.0),),
    )
    verdicts = {v.signal.bot_id: v for v in decide(signals, bots, view, {}, RiskLimits(), T)}
    assert verdicts["b1"].status is SignalStatus.ACCEPTED
    assert verdicts["b1"].signal.intent is not None
    assert verdicts["b1"].signal.intent.position_size == pytest.approx(0.6)
    assert verdicts["b2"].signal.intent is not None
    assert verdicts["b2"].signal.intent.position_size == pytest.approx(1.5)
    assert verdicts["b3"].status is SignalStatus.REJECTED
    assert verdicts["b3"].reason == "no equity left: capital 1000 and realized P&L -1000"
    assert verdicts["b4"].status is SignalStatus.REJECTED
    assert verdicts["b4"].reason == "insufficient capital: need 1, available 0"
