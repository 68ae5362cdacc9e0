"""The fake exchange: state, faults and limits behind a loopback HTTP server (stdlib only).

``FakeExchange`` owns the clock, candle feeds, account book, rate limiter, fault plan and
request log. ``start()`` serves them on ``127.0.0.1`` (a free port unless given); every
Binance route lives in ``api.py`` and every ``/_fake/*`` control route in ``control.py``.
"""

from __future__ import annotations

import threading
from collections.abc import Callable, Mapping, Sequence
from decimal import Decimal
from http.server import ThreadingHTTPServer
from typing import Any

from botbox_dagster.fake_exchange import api
from botbox_dagster.fake_exchange.book import Book
from botbox_dagster.fake_exchange.candles import CandleFeed, TimeShift
from botbox_dagster.fake_exchange.clock import FakeClock
from botbox_dagster.fake_exchange.errors import BinanceError
from botbox_dagster.fake_exchange.faults import Fault, FaultPlan
from botbox_dagster.fake_exchange.handler import Answer, Handler
from botbox_dagster.fake_exchange.limits import LimitConfig, RateLimiter, request_weight
from botbox_dagster.fake_exchange.markets import MarketSpec, default_tick, fmt, symbol_entry
from botbox_dagster.fake_exchange.requests_log import RequestLog, RequestRecord

MAINTENANCE = {"code": 1, "msg": "System is under maintenance."}

Wait = Callable[[float | None], bool]


class FakeExchange:
    """A Binance-spot-like exchange for the real ccxt client, on loopback.

    Args:
        markets: the markets to list; those with a ``csv_path`` get a candle feed.
        balances: starting free balances per asset (strings or numbers).
        fee_rate: taker and maker fee, charged in the asset received: base on a BUY, quote on
            a SELL (faqs/commission_faq.md; docs/venue-contract.md §4).
        time_shift: how recordings map onto the clock (default: live, looping).
        limits: weight and order-count limits (Binance defaults).
        clock: injectable clock (default: wall time).
        port: TCP port on 127.0.0.1 (0: a free one).
    """

    def __init__(
        self,
        markets: Sequence[MarketSpec],
        *,
        balances: Mapping[str, Decimal | str | float] | None = None,
        fee_rate: Decimal | str | float = "0.001",
        time_shift: TimeShift | None = None,
        limits: LimitConfig | None = None,
        clock: FakeClock | None = None,
        port: int = 0,
    ) -> None:
        self.clock = clock or FakeClock()
        self.lock = threading.RLock()
        self.markets = {m.symbol: m for m in markets}
        self._time_shift = time_shift or TimeShift.make_live()
        self._initial_balances = dict(balances or {})
        self._fee_rate = Decimal(str(fee_rate))
        self.limiter = RateLimiter(limits)
        self.faults = FaultPlan()
        self.log = RequestLog()
        self._port = port
        self._server: ThreadingHTTPServer | None = None
        self._thread: threading.Thread | None = None
        self.stopping = threading.Event()
        self.feeds: dict[str, CandleFeed] = {}
        self._build_state()

    def _build_state(self) -> None:
        now = self.clock.now_ms()
        self.feeds = {
            m.symbol: CandleFeed.from_csv(m.csv_path, self._time_shift, now)
            for m in self.markets.values()
            if m.csv_path is not None
        }
        self._prices: dict[str, Decimal] = {}
        ticks: dict[str, Decimal] = {}
        for m in self.markets.values():
            last = self.feeds[m.symbol].last_closed(now) if m.symbol in self.feeds else None
            ticks[m.market_id] = m.tick_size or default_tick(last.close if last else 1.0)
        self.symbol_entries = [symbol_entry(m, ticks[m.market_id]) for m in self.markets.values()]
        self.book = Book(
            self.markets,
            ticks,
            self._initial_balances,
            self._fee_rate,
            self.price,
            self.clock.now_ms,
        )

    # -- lifecycle -------------------------------------------------------------------
    def start(self) -> FakeExchange:
        """Listen on 127.0.0.1 and serve from a daemon thread."""
        server = ThreadingHTTPServer(("127.0.0.1", self._port), Handler)
        server.daemon_threads = True
        server.exchange = self  # type: ignore[attr-defined]
        self._server = server
        self.stopping.clear()
        self._thread = threading.Thread(
            target=server.serve_forever,
            kwargs={"poll_interval": 0.05},
            name="fake-exchange",
            daemon=True,
        )
        self._thread.start()
        return self

    def stop(self) -> None:
        """Stop serving (hung requests are released) and close the socket."""
        self.stopping.set()
        if self._server is not None:
            self._server.shutdown()
            self._server.server_close()
            self._server = None

    def __enter__(self) -> FakeExchange:
        return self.start()

    def __exit__(self, *exc: object) -> None:
        self.stop()

    @property
    def port(self) -> int:
        """The port listened on (after ``start``)."""
        if self._server is None:
            raise RuntimeError("the fake exchange is not started")
        return int(self._server.server_address[1])

    @property
    def base_url(self) -> str:
        """``http://127.0.0.1:<port>``: give it to ``client.make_binance_client``."""
        return f"http://127.0.0.1:{self.port}"

    # -- programmatic control ----------------------------------------------------------
    def price(self, symbol: str) -> Decimal | None:
        """Fill price: the explicit price if set, else the last closed candle's close."""
        if symbol in self._prices:
            return self._prices[symbol]
        feed = self.feeds.get(symbol)
        bar = feed.last_closed(self.clock.now_ms()) if feed else None
        return Decimal(repr(bar.close)) if bar else None

    def set_price(self, symbol: str, price: Decimal | str | float | None) -> None:
        """Pin the fill price of ``symbol`` (None: back to the candle feed)."""
        with self.lock:
            if price is None:
                self._prices.pop(symbol, None)
            else:
                self._prices[symbol] = Decimal(str(price))

    def set_balance(self, asset: str, free: Decimal | str | float) -> None:
        """Overwrite an asset's free balance."""
        with self.lock:
            self.book.set_balance(asset, free)

    def balances(self) -> dict[str, dict[str, str]]:
        """Free and locked amounts per asset, as strings."""
        with self.lock:
            self.book.process_due()
            return {
                a: {"free": fmt(b.free), "locked": fmt(b.locked)}
                for a, b in self.book.balances.items()
            }

    def add_fault(self, kind: str, **kwargs: Any) -> Fault:
        """Script a fault (see ``faults.FAULT_KINDS``).

        Example: ``add_fault("error", path="/api/v3/klines", count=3, status=502)``.
        """
        return self.faults.add(Fault(kind, **kwargs))

    def maintenance(self, seconds: float) -> None:
        """Answer everything with 503 "System is under maintenance." for ``seconds``."""
        self.faults.add(Fault("maintenance", seconds=seconds))

    def process_due(self) -> None:
        """Fill what is due (``new_then_fill``, crossed LIMITs) by the fake clock."""
        with self.lock:
            self.book.process_due()

    def orders(self) -> list[dict[str, Any]]:
        """Every order ever accepted, invisible ones too, as ``GET /api/v3/order`` shows it.

        Extra fields (not Binance's): ``_baseCommission``, the commission paid in the base
        asset (docs/venue-contract.md §4); ``_visible``, whether the API shows it yet (§3).
        """
        with self.lock:
            self.book.process_due()
            return [
                {
                    **o.to_binance(),
                    "_baseCommission": fmt(
                        sum(
                            (
                                Decimal(f["commission"])
                                for f in o.fills
                                if f["commissionAsset"] == o.spec.base
                            ),
                            Decimal(0),
                        )
                    ),
                    "_visible": self.book.visible(o),
                }
                for o in self.book.orders.values()
            ]

    def orders_for_client_id(self, client_order_id: str) -> list[dict[str, Any]]:
        """Every order ever created with this client order id, oldest first (count resends)."""
        return [o for o in self.orders() if o["clientOrderId"] == client_order_id]

    def order_by_client_id(self, client_order_id: str) -> dict[str, Any] | None:
        """The newest accepted order with this client order id (visible or not), if any."""
        with self.lock:
            self.book.process_due()
            order = self.book.by_client_id.get(client_order_id)
            return order.to_binance() if order else None

    def requests(self, path: str | None = None, method: str | None = None) -> list[RequestRecord]:
        """Recorded exchange requests (control requests are not recorded)."""
        return self.log.records(path, method)

    def max_requests(self, window_s: float, path: str | None = None) -> int:
        """Most requests in any sliding window of ``window_s`` seconds."""
        return self.log.max_requests(window_s, path)

    def max_weight(self, window_s: float, path: str | None = None) -> int:
        """Most request weight in any sliding window of ``window_s`` seconds."""
        return self.log.max_weight(window_s, path)

    def inject_bad_bar(self, symbol: str, open_time: int, kind: str) -> None:
        """Serve a malformed bar (``nan``, ``negative_volume``, ``high_below_low``)."""
        with self.lock:
            self.feeds[symbol].inject_bad_bar(open_time, kind)

    def inject_gap(self, symbol: str, start_ms: int, end_ms: int) -> None:
        """Stop serving the bars of ``symbol`` opening in ``[start_ms, end_ms]``."""
        with self.lock:
            self.feeds[symbol].inject_gap(start_ms, end_ms)

    def set_limits(self, limits: LimitConfig) -> None:
        """Replace the limits and clear the counters."""
        self.limiter.reset(limits)

    def reset(self) -> None:
        """Back to the starting state: balances, orders, prices, faults, log, limits, feeds."""
        with self.lock:
            self.faults.clear()
            self.log.clear()
            self.limiter.reset()
            self._build_state()

    # -- request pipeline --------------------------------------------------------------
    def answer(
        self, method: str, path: str, params: dict[str, str], headers: Mapping[str, str], wait: Any
    ) -> Answer:
        """Run one exchange request through maintenance, limits, faults and its route."""
        self.process_due()  # fills due by the fake clock happen before anything is answered
        weight = request_weight(method, path, params)
        if self.faults.in_maintenance():
            return Answer(503, MAINTENANCE)
        is_order = method == "POST" and path == "/api/v3/order"
        verdict = self.limiter.admit(weight, is_order)
        if verdict.status != 200:
            return Answer(
                verdict.status,
                {"code": verdict.code, "msg": verdict.msg},
                {"Retry-After": str(verdict.retry_after_s)},
            )
        fault = self.faults.take(method, path, ("error",))
        if fault is not None:
            return Answer(
                fault.http_status,
                f"<html><body><h1>{fault.http_status} Server Error</h1></body></html>",
                raw=True,
            )
        hang = self.faults.take(method, path, ("hang",))
        if hang is not None and not wait(hang.seconds):
            return Answer(0, None, reset=True)
        route = api.ROUTES.get((method, path))
        if route is None:
            return Answer(404, "<html><body><h1>404 Not Found</h1></body></html>", raw=True)
        try:
            api.check_signed(path, params, headers)
            with self.lock:
                body = route(self, params)
            answer = Answer(200, body)
        except BinanceError as exc:
            answer = Answer(exc.status, {"code": exc.code, "msg": exc.msg})
        # rest-api.md "HTTP Return Codes": a 5XX means the execution status is UNKNOWN and
        # "could have been a success"; errors.md -1006/-1001 (docs/venue-contract.md §2).
        unknown = self.faults.take(method, path, ("unknown_after_accept",))
        if unknown is not None:
            answer = Answer(unknown.http_status, unknown.unknown_body())
        if self.faults.take(method, path, ("reset_after_accept",)) is not None:
            answer.reset = True
        return answer
