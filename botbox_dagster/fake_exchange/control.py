"""``/_fake/*`` control endpoints, so tests in another process can script the fake.

- ``GET /_fake/health``: ``{"ok": true, "base_url": ...}``.
- ``POST /_fake/faults`` with a ``Fault`` as JSON (``kind``, ``path``, ``method``,
  ``count``, ``status``, ``seconds``, ``fill_ratio``, ``code``; kinds in ``faults.py``);
  ``GET`` lists, ``DELETE`` clears (and ends maintenance).
- ``POST /_fake/maintenance`` ``{"seconds": 5}``: 503 everything for 5 s.
- ``GET /_fake/requests?path=/api/v3/klines&method=GET``: recorded requests.
- ``GET /_fake/stats?window=1&path=...``: max requests / weight in a sliding window.
- ``GET /_fake/orders?clientOrderId=...``: every order ever accepted (with that client id),
  oldest first, invisible ones included (``_visible`` false): count resends here.
- ``GET /_fake/balances``; ``POST`` ``{"BTC": "1.5"}`` overwrites free balances.
- ``POST /_fake/price`` ``{"symbol": "ETH/BTC", "price": "0.1"}`` pins a fill price
  (``null`` unpins).
- ``POST /_fake/candles`` ``{"symbol", "open_time", "kind"}`` (bad bar) or
  ``{"symbol", "gap": [start_ms, end_ms]}``.
- ``POST /_fake/limits`` with ``LimitConfig`` fields: new limits, counters cleared.
- ``POST /_fake/clock`` ``{"advance_ms": 60000}``: move the fake clock.
- ``POST /_fake/reset``: the starting state again.
"""

from __future__ import annotations

import json
from typing import TYPE_CHECKING, Any

from botbox_dagster.fake_exchange.faults import Fault
from botbox_dagster.fake_exchange.limits import LimitConfig

if TYPE_CHECKING:
    from botbox_dagster.fake_exchange.server import FakeExchange


def handle(
    ex: FakeExchange, method: str, path: str, query: dict[str, str], raw_body: bytes
) -> tuple[int, Any]:
    """Serve one control request: ``(status, JSON body)``."""
    try:
        body = json.loads(raw_body) if raw_body else {}
        return 200, _dispatch(ex, method, path.removeprefix("/_fake/"), query, body)
    except (KeyError, ValueError, TypeError) as exc:
        return 400, {"error": f"{type(exc).__name__}: {exc}"}
    except LookupError as exc:  # pragma: no cover - KeyError above covers most
        return 404, {"error": str(exc)}


def _dispatch(ex: FakeExchange, method: str, name: str, query: dict[str, str], body: Any) -> Any:
    if name == "health":
        return {"ok": True, "base_url": ex.base_url}
    if name == "faults":
        if method == "POST":
            return ex.faults.add(Fault.from_json(body)).to_json()
        if method == "DELETE":
            ex.faults.clear()
            return {"ok": True}
        return [f.to_json() for f in ex.faults.pending()]
    if name == "maintenance":
        ex.maintenance(float(body["seconds"]))
        return {"ok": True}
    if name == "requests":
        return [r.to_json() for r in ex.requests(query.get("path"), query.get("method"))]
    if name == "stats":
        window = float(query.get("window", "60"))
        path = query.get("path")
        return {
            "window_s": window,
            "max_requests": ex.max_requests(window, path),
            "max_weight": ex.max_weight(window, path),
            "used_weight": ex.limiter.used_weight(),
            "requests": len(ex.requests(path)),
        }
    if name == "orders":
        cid = query.get("clientOrderId")
        return ex.orders() if cid is None else ex.orders_for_client_id(cid)
    if name == "balances":
        if method == "POST":
            for asset, amount in body.items():
                ex.set_balance(asset, amount)
        return ex.balances()
    if name == "price":
        ex.set_price(body["symbol"], body.get("price"))
        return {"symbol": body["symbol"], "price": str(ex.price(body["symbol"]))}
    if name == "candles":
        if "gap" in body:
            ex.inject_gap(body["symbol"], int(body["gap"][0]), int(body["gap"][1]))
        else:
            ex.inject_bad_bar(body["symbol"], int(body["open_time"]), body["kind"])
        return {"ok": True}
    if name == "limits":
        ex.set_limits(LimitConfig(**body))
        return {"ok": True}
    if name == "clock":
        ex.clock.advance(int(body["advance_ms"]))
        return {"now_ms": ex.clock.now_ms()}
    if name == "reset":
        ex.reset()
        return {"ok": True}
    raise ValueError(f"unknown control endpoint /_fake/{name}")
