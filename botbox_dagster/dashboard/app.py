"""The dashboard as a WSGI application.

Routes: ``GET /`` fleet page, ``GET /bots/<id>`` bot page, ``GET /api/fleet`` and
``GET /api/bots/<id>`` JSON, ``POST /bots/<id>/check`` Check Now, ``POST /pause`` and
``POST /resume``, ``GET /healthz``. Every request reads the ledger in short transactions
through :class:`LedgerStore` (no connection is kept between requests), so Dagster's runs and
sensors are never locked out for longer than one query. There is no authentication: bind to
127.0.0.1 and put an authenticating reverse proxy in front (README). POSTs from another origin
are refused.
"""

from __future__ import annotations

import json
import logging
import re
from collections.abc import Callable, Iterable
from typing import Any
from urllib.parse import parse_qs, unquote, urlsplit

from botbox_dagster.adapters.ledger import LedgerBusyError, LedgerStore
from botbox_dagster.dashboard import actions, pages, views

log = logging.getLogger("botbox.dashboard")

StartResponse = Callable[[str, list[tuple[str, str]]], Any]
_BOT = re.compile(r"^/(api/)?bots/([^/]+)(/check)?$")


class Response:
    def __init__(self, status: str, body: str | bytes, content_type: str = "text/html") -> None:
        self.status = status
        self.body = body.encode("utf-8") if isinstance(body, str) else body
        self.headers = [
            ("Content-Type", f"{content_type}; charset=utf-8"),
            ("Cache-Control", "no-store"),
            ("X-Frame-Options", "DENY"),
        ]

    @classmethod
    def json(cls, data: Any, status: str = "200 OK") -> Response:
        return cls(status, json.dumps(views.jsonable(data), indent=1), "application/json")

    @classmethod
    def redirect(cls, location: str) -> Response:
        response = cls("303 See Other", "")
        response.headers.append(("Location", location))
        return response


class DashboardApp:
    """WSGI callable over one ledger file."""

    def __init__(self, store: LedgerStore) -> None:
        self.store = store

    def __call__(self, environ: dict[str, Any], start_response: StartResponse) -> Iterable[bytes]:
        try:
            response = self.route(environ)
        except LedgerBusyError as exc:
            response = Response(
                "503 Service Unavailable", f"ledger busy, retry: {exc}", "text/plain"
            )
        except Exception:  # a broken page must not take the server down
            log.exception("dashboard request failed")
            response = Response("500 Internal Server Error", "internal error", "text/plain")
        start_response(response.status, response.headers)
        return [response.body]

    def route(self, environ: dict[str, Any]) -> Response:
        method = environ.get("REQUEST_METHOD", "GET")
        path = environ.get("PATH_INFO", "/") or "/"
        if method == "POST":
            if not _same_origin(environ):
                return Response("403 Forbidden", "cross-origin request refused", "text/plain")
            return self.post(path, environ)
        if method not in ("GET", "HEAD"):
            return Response("405 Method Not Allowed", "method not allowed", "text/plain")
        if path == "/":
            return Response("200 OK", pages.fleet_page(views.fleet_view(self.store)))
        if path == "/api/fleet":
            return Response.json(views.fleet_view(self.store))
        if path == "/healthz":
            return Response("200 OK", "ok", "text/plain")
        match = _BOT.match(path)
        if match and not match.group(3):
            view = views.bot_view(self.store, unquote(match.group(2)))
            if view is None:
                return Response("404 Not Found", "no such bot", "text/plain")
            if match.group(1):
                return Response.json(view)
            return Response("200 OK", pages.bot_page(view))
        return Response("404 Not Found", "not found", "text/plain")

    def post(self, path: str, environ: dict[str, Any]) -> Response:
        form = _form(environ)
        back = _back(environ)
        if path == "/pause":
            minutes = form.get("minutes", "").strip()
            actions.pause_all(
                self.store,
                form.get("reason", "").strip(),
                int(minutes) if minutes.isdigit() else None,
            )
            return Response.redirect(back)
        if path == "/resume":
            actions.resume_all(self.store)
            return Response.redirect(back)
        match = _BOT.match(path)
        if match and match.group(3) and not match.group(1):
            bot_id = unquote(match.group(2))
            try:
                actions.check_now(self.store, bot_id)
            except LookupError:
                return Response("404 Not Found", "no such bot", "text/plain")
            return Response.redirect(f"/bots/{match.group(2)}#check-result")
        return Response("404 Not Found", "not found", "text/plain")


def _form(environ: dict[str, Any]) -> dict[str, str]:
    try:
        length = int(environ.get("CONTENT_LENGTH") or 0)
    except ValueError:
        length = 0
    raw = environ["wsgi.input"].read(min(length, 10_000)).decode("utf-8", "replace")
    return {k: v[0] for k, v in parse_qs(raw).items()}


def _same_origin(environ: dict[str, Any]) -> bool:
    origin = environ.get("HTTP_ORIGIN")
    if not origin or origin == "null":
        return True
    return urlsplit(origin).netloc == environ.get("HTTP_HOST")


def _back(environ: dict[str, Any]) -> str:
    referer = urlsplit(environ.get("HTTP_REFERER") or "")
    if referer.netloc == environ.get("HTTP_HOST") and referer.path.startswith("/"):
        return referer.path
    return "/"
