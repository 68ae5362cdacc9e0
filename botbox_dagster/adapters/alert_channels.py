"""Where alerts go: a generic JSON webhook, a Slack-compatible incoming webhook, the log.

Delivery never raises and never waits long: each POST has a short timeout (2 s by default), a
failed channel is reported back and the others still get the message. Alerts are sent from the
alert sensor in Dagster's code server, never from a trading run, so a slow receiver cannot hold
up an order.
"""

from __future__ import annotations

import json
import logging
import urllib.error
import urllib.request
from collections.abc import Iterable, Sequence
from dataclasses import dataclass, field
from typing import Any, Protocol

from botbox_dagster.domain.alerts import Kind, Notification, Severity

log = logging.getLogger("botbox.alerts")

_ICON = {
    Severity.CRITICAL: ":rotating_light:",
    Severity.WARNING: ":warning:",
    Severity.INFO: ":information_source:",
}


class Channel(Protocol):
    @property
    def name(self) -> str: ...

    @property
    def severities(self) -> frozenset[Severity]: ...

    def send(self, notification: Notification) -> None:
        """Deliver or raise; :func:`deliver` catches."""


def _post_json(url: str, body: dict[str, Any], timeout: float) -> None:
    request = urllib.request.Request(
        url,
        data=json.dumps(body, default=str).encode("utf-8"),
        headers={"Content-Type": "application/json", "User-Agent": "botbox-alerts"},
        method="POST",
    )
    with urllib.request.urlopen(request, timeout=timeout) as response:
        response.read(1024)


@dataclass(frozen=True)
class JsonWebhookChannel:
    """POSTs the notification as a JSON document (kind, severity, key, title, text, at)."""

    url: str
    severities: frozenset[Severity] = frozenset(Severity)
    timeout: float = 2.0
    dashboard_url: str | None = None
    name: str = "webhook"

    def send(self, notification: Notification) -> None:
        body = {"source": "botbox", **notification.to_dict()}
        if self.dashboard_url:
            body["dashboard"] = self.dashboard_url
        _post_json(self.url, body, self.timeout)


@dataclass(frozen=True)
class SlackWebhookChannel:
    """POSTs ``{"text": ...}`` in Slack's incoming-webhook format (Mattermost accepts it too)."""

    url: str
    severities: frozenset[Severity] = frozenset(
        {Severity.CRITICAL, Severity.WARNING, Severity.INFO}
    )
    timeout: float = 2.0
    dashboard_url: str | None = None
    name: str = "slack"

    def send(self, notification: Notification) -> None:
        _post_json(self.url, {"text": slack_text(notification, self.dashboard_url)}, self.timeout)


def slack_text(n: Notification, dashboard_url: str | None = None) -> str:
    head = {
        Kind.FIRING: f"{_ICON[n.severity]} *{n.severity.upper()}* {n.title}",
        Kind.RESOLVED: f":white_check_mark: *RESOLVED* {n.title.removeprefix('resolved: ')}",
        Kind.SUMMARY: f"{_ICON[n.severity]} *{n.title}*",
    }[n.kind]
    link = f"\n<{dashboard_url}|Open the BotBox dashboard>" if dashboard_url else ""
    return f"{head}\n{n.text}{link}"


@dataclass(frozen=True)
class LogChannel:
    """Writes every notification to the ``botbox.alerts`` logger (and so to Dagster's logs)."""

    severities: frozenset[Severity] = frozenset(Severity)
    name: str = "log"
    logger: logging.Logger = field(default=log)

    def send(self, notification: Notification) -> None:
        level = {
            Severity.CRITICAL: logging.ERROR,
            Severity.WARNING: logging.WARNING,
            Severity.INFO: logging.INFO,
        }[notification.severity]
        self.logger.log(
            level,
            "[%s %s] %s: %s",
            notification.severity,
            notification.kind,
            notification.title,
            notification.text,
        )


@dataclass(frozen=True)
class Delivery:
    """One notification on one channel: delivered, or the error that stopped it."""

    channel: str
    key: str
    kind: str
    ok: bool
    error: str | None = None


def deliver(notifications: Iterable[Notification], channels: Sequence[Channel]) -> list[Delivery]:
    """Send each notification to every channel routed for its severity; never raises."""
    out = []
    for n in notifications:
        for channel in channels:
            if n.severity not in channel.severities:
                continue
            try:
                channel.send(n)
            except (OSError, urllib.error.URLError, ValueError) as exc:
                log.warning("alert %s not delivered to %s: %s", n.key, channel.name, exc)
                out.append(Delivery(channel.name, n.key, str(n.kind), False, str(exc)[:200]))
            else:
                out.append(Delivery(channel.name, n.key, str(n.kind), True))
    return out


def parse_severities(text: str) -> frozenset[Severity]:
    """``"critical,warning"`` → the severities a channel receives (empty text: all)."""
    names = [t.strip().lower() for t in text.split(",") if t.strip()]
    return frozenset(Severity(n) for n in names) if names else frozenset(Severity)
