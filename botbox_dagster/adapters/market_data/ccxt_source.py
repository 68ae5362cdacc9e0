"""Market data from any ccxt exchange's public endpoints, paged, budgeted and validated."""

from __future__ import annotations

from datetime import datetime

import ccxt
import pandas as pd

from botbox_dagster.adapters.ccxt_client import translate, used_weight
from botbox_dagster.adapters.market_data.base import FetchResult, UnknownMarketError
from botbox_dagster.adapters.rate_limiter import LedgerRateLimiter
from botbox_dagster.domain import timeframes
from botbox_dagster.domain.candles import frame_from_rows, validate

PREFERRED = ("1m", "5m", "15m", "1h")


class CcxtSource:
    """Closed candles from a ccxt client; every request takes its weight from the limiter."""

    name = "ccxt"

    def __init__(
        self,
        account: str,
        client: ccxt.Exchange,
        limiter: LedgerRateLimiter,
        page_limit: int = 1000,
    ) -> None:
        self.account = account
        self.client = client
        self.limiter = limiter
        self.page_limit = page_limit
        self._markets_loaded = False
        self.calls = 0

    def _call(
        self, endpoint: str, purpose: str, fn: object, *args: object, **kwargs: object
    ) -> object:
        self.limiter.acquire(endpoint, purpose)
        self.calls += 1
        try:
            result = fn(*args, **kwargs)  # type: ignore[operator]
        except ccxt.BaseError as exc:
            error = translate(exc, self.client, self.account)
            if getattr(error, "retry_after_seconds", None) is not None or error.status in (
                429,
                418,
            ):
                self.limiter.back_off(getattr(error, "retry_after_seconds", None), str(error))
            raise error from exc
        used = used_weight(self.client, self.limiter.limits.used_weight_header)
        if used is not None:
            self.limiter.observe_used_weight(used)
        return result

    def _ensure_markets(self) -> None:
        if not self._markets_loaded:
            self._call("load_markets", "markets", self.client.load_markets)
            self._markets_loaded = True

    def base_timeframe(self, symbol: str) -> str:
        available = getattr(self.client, "timeframes", None) or {}
        for tf in PREFERRED:
            if tf in available:
                return tf
        return "1m"

    def fetch(self, symbol: str, since: datetime, until: datetime, now: datetime) -> FetchResult:
        self._ensure_markets()
        if symbol not in self.client.markets:
            raise UnknownMarketError(f"{self.account} has no market {symbol}")
        tf = self.base_timeframe(symbol)
        step_ms = timeframes.seconds(tf) * 1000
        cursor = int(since.timestamp() * 1000)
        end_ms = int(until.timestamp() * 1000)
        rows: list[list[float]] = []
        calls = 0
        while cursor < end_ms:
            batch = self._call(
                "fetch_ohlcv",
                f"candles {symbol}",
                self.client.fetch_ohlcv,
                symbol,
                tf,
                since=cursor,
                limit=self.page_limit,
            )
            calls += 1
            batch = list(batch or [])  # type: ignore[call-overload]
            if not batch:
                break
            rows.extend(batch)
            last = batch[-1][0] if isinstance(batch[-1][0], int | float) else None
            if last is None or last + step_ms <= cursor or len(batch) < self.page_limit:
                break
            cursor = int(last) + step_ms
        frame = frame_from_rows(rows)
        if not frame.empty:
            start_ts, end_ts = pd.Timestamp(since), pd.Timestamp(until)
            closed_end = pd.Timestamp(timeframes.floor(now, tf))
            frame = frame[
                frame.index.isna()
                | ((frame.index >= start_ts) & (frame.index < min(end_ts, closed_end)))
            ]
        clean, rejections = validate(frame, tf)
        return FetchResult(frame=clean, rejections=rejections, calls=calls, weight=2 * calls)
