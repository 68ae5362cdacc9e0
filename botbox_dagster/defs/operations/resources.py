"""``AlertsResource``: where alerts go, and the companion dashboard's address for links."""

import dagster as dg

from botbox_dagster.adapters.alert_channels import (
    Channel,
    JsonWebhookChannel,
    LogChannel,
    SlackWebhookChannel,
    parse_severities,
)
from botbox_dagster.settings import DASHBOARD_URL_ENV, secret_from_env

DEFAULT_DASHBOARD_URL = "http://127.0.0.1:3001"


class AlertsResource(dg.ConfigurableResource):
    """Alert routing: a JSON webhook and a Slack-compatible webhook, each for chosen severities,
    plus the log (always). Webhook URLs are secrets: the config names the environment variables
    that hold them (unset variable = channel off), never the URLs themselves."""

    json_webhook_env: str = "BOTBOX_ALERT_WEBHOOK_URL"
    json_webhook_severities: str = "critical,warning,info"
    slack_webhook_env: str = "BOTBOX_ALERT_SLACK_WEBHOOK_URL"
    slack_webhook_severities: str = "critical,warning,info"
    timeout_seconds: float = 2.0
    """Per POST; a receiver slower than this is reported as failed, never waited on."""
    dashboard_url: str = DEFAULT_DASHBOARD_URL
    """Companion dashboard, linked from the fleet-status asset and from alerts."""
    max_notifications_per_10_minutes: int = 10
    daily_summary_hour_utc: int = 8

    def channels(self) -> list[Channel]:
        out: list[Channel] = [LogChannel()]
        url = secret_from_env(self.json_webhook_env)
        if url:
            out.append(
                JsonWebhookChannel(
                    url,
                    parse_severities(self.json_webhook_severities),
                    self.timeout_seconds,
                    self.dashboard_url,
                )
            )
        url = secret_from_env(self.slack_webhook_env)
        if url:
            out.append(
                SlackWebhookChannel(
                    url,
                    parse_severities(self.slack_webhook_severities),
                    self.timeout_seconds,
                    self.dashboard_url,
                )
            )
        return out


def operations_resources() -> dict[str, object]:
    """The ``alerts`` resource, linking to the dashboard that ``botbox demo`` starts
    (``$BOTBOX_DASHBOARD_URL``, read when a sensor or run starts)."""
    return {"alerts": AlertsResource(dashboard_url=dg.EnvVar(DASHBOARD_URL_ENV))}
