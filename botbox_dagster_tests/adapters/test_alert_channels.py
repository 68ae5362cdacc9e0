"""Alert channels against a loopback HTTP receiver: payloads, routing, timeouts, failures."""

from __future__ import annotations

import logging
from datetime import UTC, datetime

import pytest

from botbox_dagster.adapters.alert_channels import (
    JsonWebhookChannel,
    LogChannel,
    SlackWebhookChannel,
    deliver,
    parse_severities,
)
from botbox_dagster.domain.alerts import Kind, Notification, Severity
from botbox_dagster_tests.support.receiver import receiver

NOW = datetime(2024, 3, 1, 12, 0, tzinfo=UTC)
CRIT = Notification(
    Kind.FIRING, Severity.CRITICAL, "circuit_open:x", "breaker OPEN on x", "detail", NOW
)
INFO = Notification(Kind.SUMMARY, Severity.INFO, "summary:2024-03-01", "daily", "text", NOW)


def test_json_and_slack_payloads_and_routing() -> None:
    with receiver() as r:
        channels = [
            JsonWebhookChannel(r.url("/hook"), dashboard_url="http://127.0.0.1:3001"),
            SlackWebhookChannel(r.url("/slack"), parse_severities("critical,warning")),
        ]
        report = deliver([CRIT, INFO], channels)
        assert all(d.ok for d in report) and len(report) == 3
        hook = r.bodies("/hook")
        assert [b["key"] for b in hook] == ["circuit_open:x", "summary:2024-03-01"]
        assert hook[0]["severity"] == "critical" and hook[0]["kind"] == "firing"
        assert hook[0]["dashboard"] == "http://127.0.0.1:3001"
        [slack] = r.bodies("/slack")  # INFO is not routed to Slack
        assert set(slack) == {"text"} and "*CRITICAL* breaker OPEN on x" in slack["text"]


def test_a_slow_or_failing_receiver_never_raises_or_blocks() -> None:
    with receiver() as r:
        channels = [
            JsonWebhookChannel(r.url("/slow"), timeout=0.5, name="slow"),
            JsonWebhookChannel(r.url("/fail"), name="fail"),
            JsonWebhookChannel("http://127.0.0.1:9/closed", name="closed"),
            JsonWebhookChannel(r.url("/hook"), name="good"),
        ]
        report = {d.channel: d for d in deliver([CRIT], channels)}
    assert not report["slow"].ok and not report["fail"].ok and not report["closed"].ok
    assert report["good"].ok


def test_log_channel(caplog: pytest.LogCaptureFixture) -> None:
    with caplog.at_level(logging.INFO, logger="botbox.alerts"):
        deliver([CRIT, INFO], [LogChannel()])
    levels = [r.levelno for r in caplog.records]
    assert levels == [logging.ERROR, logging.INFO]
    assert "breaker OPEN on x" in caplog.records[0].getMessage()


def test_parse_severities() -> None:
    assert parse_severities("") == frozenset(Severity)
    assert parse_severities(" Critical , warning") == {Severity.CRITICAL, Severity.WARNING}
    with pytest.raises(ValueError):
        parse_severities("loud")
