"""The HTTP side of the fake: parse a request, hand it to the exchange, answer or reset."""

from __future__ import annotations

import json
import select
import socket
import struct
import time
from dataclasses import dataclass, field
from http.server import BaseHTTPRequestHandler
from typing import TYPE_CHECKING, Any
from urllib.parse import parse_qsl, urlsplit

from botbox_dagster.fake_exchange import control
from botbox_dagster.fake_exchange.limits import request_weight
from botbox_dagster.fake_exchange.requests_log import RequestRecord

if TYPE_CHECKING:
    from botbox_dagster.fake_exchange.server import FakeExchange


@dataclass
class Answer:
    """What to send back; ``reset`` closes the socket with no response instead."""

    status: int
    body: Any
    headers: dict[str, str] = field(default_factory=dict)
    reset: bool = False
    raw: bool = False


class Handler(BaseHTTPRequestHandler):
    """One connection; ``server.exchange`` is the ``FakeExchange`` to serve."""

    protocol_version = "HTTP/1.1"
    server_version = "FakeBinance/1.0"

    def log_message(self, format: str, *args: Any) -> None:
        """Quiet: the request log is the record."""

    def do_GET(self) -> None:
        self._serve("GET")

    def do_POST(self) -> None:
        self._serve("POST")

    def do_DELETE(self) -> None:
        self._serve("DELETE")

    def do_PUT(self) -> None:
        self._serve("PUT")

    @property
    def exchange(self) -> FakeExchange:
        return self.server.exchange  # type: ignore[attr-defined]

    def _serve(self, method: str) -> None:
        url = urlsplit(self.path)
        length = int(self.headers.get("Content-Length") or 0)
        raw_body = self.rfile.read(length) if length else b""
        if url.path.startswith("/_fake/"):
            status, body = control.handle(
                self.exchange, method, url.path, dict(parse_qsl(url.query)), raw_body
            )
            self._send(Answer(status, body))
            return
        params = dict(parse_qsl(url.query))
        if raw_body and "json" not in (self.headers.get("Content-Type") or ""):
            params.update(parse_qsl(raw_body.decode()))
        mono, wall = time.monotonic(), time.time()
        headers_in = {k.upper(): v for k, v in self.headers.items()}
        answer = self.exchange.answer(method, url.path, params, headers_in, self._wait)
        headers = {"X-MBX-USED-WEIGHT-1M": str(self.exchange.limiter.used_weight())}
        headers["X-MBX-USED-WEIGHT"] = headers["X-MBX-USED-WEIGHT-1M"]
        if method == "POST" and url.path == "/api/v3/order":
            headers["X-MBX-ORDER-COUNT-10S"] = str(self.exchange.limiter.order_count())
        answer.headers.update(headers)
        weight = request_weight(method, url.path, params)
        self.exchange.log.append(
            RequestRecord(
                mono, wall, method, url.path, params, weight, 0 if answer.reset else answer.status
            )
        )
        if answer.reset:
            self._reset()
        else:
            self._send(answer)

    def _send(self, answer: Answer) -> None:
        data = (answer.body if answer.raw else json.dumps(answer.body)).encode()
        self.send_response(answer.status)
        self.send_header(
            "Content-Type", "text/html" if answer.raw else "application/json;charset=UTF-8"
        )
        self.send_header("Content-Length", str(len(data)))
        for name, value in answer.headers.items():
            self.send_header(name, value)
        self.end_headers()
        self.wfile.write(data)

    def _reset(self) -> None:
        """Close with a TCP RST and no response bytes: the client cannot know the outcome."""
        self.close_connection = True
        try:
            self.connection.setsockopt(socket.SOL_SOCKET, socket.SO_LINGER, struct.pack("ii", 1, 0))
            self.connection.close()
        except OSError:
            pass

    def _wait(self, seconds: float | None) -> bool:
        """Sleep ``seconds`` (None: forever); False if the client left or the server stopped."""
        deadline = None if seconds is None else time.monotonic() + seconds
        while deadline is None or time.monotonic() < deadline:
            if self.exchange.stopping.is_set():
                return False
            readable, _, _ = select.select([self.connection], [], [], 0.05)
            if readable:
                try:
                    if not self.connection.recv(1, socket.MSG_PEEK):
                        return False
                except OSError:
                    return False
                time.sleep(0.05)
        return True
