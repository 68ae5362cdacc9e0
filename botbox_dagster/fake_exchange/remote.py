"""Script a fake exchange running in another process through its ``/_fake/*`` endpoints."""

from __future__ import annotations

import json
import urllib.request
from typing import Any
from urllib.parse import urlencode

from botbox_dagster.fake_exchange.requests_log import RequestRecord


class RemoteFakeExchange:
    """Control client for ``python -m botbox_dagster.fake_exchange`` (stdlib HTTP only)."""

    def __init__(self, base_url: str, timeout_s: float = 5.0) -> None:
        self.base_url = base_url.rstrip("/")
        self.timeout_s = timeout_s

    def call(
        self, http_method: str, name: str, body: Any = None, query: dict[str, Any] | None = None
    ) -> Any:
        """One control request: ``call("GET", "faults")`` → JSON answer."""
        url = f"{self.base_url}/_fake/{name}"
        query = {k: v for k, v in (query or {}).items() if v is not None}
        if query:
            url += "?" + urlencode(query)
        data = None if body is None else json.dumps(body).encode()
        req = urllib.request.Request(url, data=data, method=http_method)
        req.add_header("Content-Type", "application/json")
        with urllib.request.urlopen(req, timeout=self.timeout_s) as resp:
            return json.loads(resp.read())

    def health(self) -> dict[str, Any]:
        """``{"ok": true, "base_url": ...}``."""
        return self.call("GET", "health")

    def add_fault(self, kind: str, **fields: Any) -> dict[str, Any]:
        """Schedule a fault (same fields as ``faults.Fault``)."""
        return self.call("POST", "faults", {"kind": kind, **fields})

    def clear_faults(self) -> None:
        """Remove pending faults and end maintenance."""
        self.call("DELETE", "faults")

    def maintenance(self, seconds: float) -> None:
        """503 everything for ``seconds``."""
        self.call("POST", "maintenance", {"seconds": seconds})

    def requests(self, path: str | None = None, method: str | None = None) -> list[RequestRecord]:
        """Recorded exchange requests."""
        rows = self.call("GET", "requests", query=dict(path=path, method=method))
        return [RequestRecord.from_json(r) for r in rows]

    def stats(self, window_s: float, path: str | None = None) -> dict[str, Any]:
        """Max requests and weight in any sliding window of ``window_s`` seconds."""
        return self.call("GET", "stats", query=dict(window=window_s, path=path))

    def orders(self, client_order_id: str | None = None) -> list[dict[str, Any]]:
        """Every accepted order (Binance order bodies), invisible ones included."""
        return self.call("GET", "orders", query=dict(clientOrderId=client_order_id))

    def orders_for_client_id(self, client_order_id: str) -> list[dict[str, Any]]:
        """Every order ever created with this client order id, oldest first."""
        return self.orders(client_order_id)

    def balances(self) -> dict[str, dict[str, str]]:
        """Free and locked balances."""
        return self.call("GET", "balances")

    def set_balances(self, balances: dict[str, str]) -> None:
        """Overwrite free balances."""
        self.call("POST", "balances", balances)

    def set_price(self, symbol: str, price: str | None) -> None:
        """Pin (or unpin with None) the fill price of ``symbol``."""
        self.call("POST", "price", {"symbol": symbol, "price": price})

    def inject_bad_bar(self, symbol: str, open_time: int, kind: str) -> None:
        """Serve a malformed bar."""
        self.call("POST", "candles", {"symbol": symbol, "open_time": open_time, "kind": kind})

    def inject_gap(self, symbol: str, start_ms: int, end_ms: int) -> None:
        """Drop served bars in ``[start_ms, end_ms]``."""
        self.call("POST", "candles", {"symbol": symbol, "gap": [start_ms, end_ms]})

    def set_limits(self, **limits: Any) -> None:
        """New ``LimitConfig`` fields; counters cleared."""
        self.call("POST", "limits", limits)

    def advance_clock(self, ms: int) -> int:
        """Move the fake clock; returns the new now in ms."""
        return int(self.call("POST", "clock", {"advance_ms": ms})["now_ms"])

    def reset(self) -> None:
        """Back to the starting state."""
        self.call("POST", "reset", {})
