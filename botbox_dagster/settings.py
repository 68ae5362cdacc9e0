"""The one place that reads BotBox's environment.

Everything else asks this module: where state lives (``BOTBOX_HOME``), which ledger file, whether
this deployment may place live orders. Secrets (API keys) are not read here: they are passed to
Dagster resources as ``dg.EnvVar`` so they never enter config, logs or run metadata.
"""

from __future__ import annotations

import os
from dataclasses import dataclass
from pathlib import Path

REPO_ROOT = Path(__file__).resolve().parents[1]

LIVE_TRADING_ENV = "BOTBOX_LIVE_TRADING"
BREAKER_OPEN_ENV = "BOTBOX_BREAKER_OPEN_SECONDS"


@dataclass(frozen=True)
class Settings:
    """Deployment settings resolved from the environment."""

    home: Path
    ledger_path: Path
    dagster_storage: Path
    live_trading_enabled: bool
    # How long an exchange's circuit breaker stays open before its probe (60 s:
    # docs/architecture.md, Exchange limits).
    breaker_open_seconds: float = 60.0
    # Ports of the Dagster UI and the companion dashboard (`make demo`), and the dashboard's
    # address as links in the UI and alerts give it.
    port: int = 3000
    dashboard_port: int = 3001
    dashboard_url: str = "http://127.0.0.1:3001"

    @property
    def fleet_file(self) -> Path:
        """Where ``make demo`` copies the fleet it loads (operators may point elsewhere)."""
        return self.home / "fleet.yaml"


def _truthy(value: str | None) -> bool:
    return (value or "").strip().lower() in {"1", "true", "yes", "on"}


def load_settings(environ: dict[str, str] | None = None) -> Settings:
    """Resolve settings; relative paths are taken from the repository root, not the cwd."""
    env = os.environ if environ is None else environ
    home = Path(env.get("BOTBOX_HOME") or REPO_ROOT / ".botbox")
    if not home.is_absolute():
        home = REPO_ROOT / home
    dashboard_port = int(env.get("BOTBOX_DASHBOARD_PORT") or 3001)
    ledger = Path(env.get("BOTBOX_LEDGER") or home / "botbox.duckdb")
    if not ledger.is_absolute():
        ledger = home / ledger
    return Settings(
        home=home,
        ledger_path=ledger,
        dagster_storage=home / "dagster",
        live_trading_enabled=_truthy(env.get(LIVE_TRADING_ENV)),
        breaker_open_seconds=float(env.get(BREAKER_OPEN_ENV) or 60.0),
        port=int(env.get("PORT") or 3000),
        dashboard_port=dashboard_port,
        dashboard_url=env.get("BOTBOX_DASHBOARD_URL") or f"http://127.0.0.1:{dashboard_port}",
    )


def dagster_environment(settings: Settings | None = None) -> dict[str, str]:
    """The variables a Dagster process (webserver, daemon, CLI) needs to use BotBox's instance."""
    s = settings or load_settings()
    return {
        "BOTBOX_HOME": str(s.home),
        "DAGSTER_HOME": str(REPO_ROOT),
        "BOTBOX_DAGSTER_STORAGE": str(s.dagster_storage),
    }


def secret_from_env(name: str | None) -> str | None:
    """An API key or secret from the environment variable an account names (never logged)."""
    if not name:
        return None
    return os.environ.get(name) or None
