"""The one place that reads BotBox's environment.

Everything else asks this module: where state lives (``BOTBOX_HOME``), which ledger file, whether
this deployment may place live orders. Secrets (API keys) are not read here: they are passed to
Dagster resources as ``dg.EnvVar`` so they never enter config, logs or run metadata.
"""

from __future__ import annotations

import os
from dataclasses import dataclass
from pathlib import Path

PACKAGE_DIR = Path(__file__).resolve().parent
# The checkout this package runs from (None when it is installed from a wheel: then the parent
# directory is site-packages, which holds neither the instance config nor a place for state).
REPO_ROOT: Path | None = (
    PACKAGE_DIR.parent if (PACKAGE_DIR.parent / "pyproject.toml").is_file() else None
)
# Where a wheel keeps the repository's dagster.yaml and workspace.yaml (pyproject.toml,
# ``force-include``).
PACKAGED_INSTANCE = PACKAGE_DIR / "instance"


def instance_dir() -> Path:
    """DAGSTER_HOME: the directory whose ``dagster.yaml`` is BotBox's instance config (the
    checkout's root, or the copy a wheel ships)."""
    if REPO_ROOT is not None and (REPO_ROOT / "dagster.yaml").is_file():
        return REPO_ROOT
    return PACKAGED_INSTANCE


def workspace_file() -> Path:
    """The ``workspace.yaml`` that loads BotBox's code location."""
    return instance_dir() / "workspace.yaml"


def default_home() -> Path:
    """Where state lives when ``BOTBOX_HOME`` is unset: ``.botbox`` in the checkout, or
    ``~/.botbox`` for an installed wheel."""
    return REPO_ROOT / ".botbox" if REPO_ROOT is not None else Path.home() / ".botbox"


LEDGER_ENV = "BOTBOX_LEDGER"
LIVE_TRADING_ENV = "BOTBOX_LIVE_TRADING"
DASHBOARD_URL_ENV = "BOTBOX_DASHBOARD_URL"
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


def truthy(value: str | None) -> bool:
    return (value or "").strip().lower() in {"1", "true", "yes", "on"}


def load_settings(environ: dict[str, str] | None = None) -> Settings:
    """Resolve settings; a relative ``BOTBOX_HOME`` is taken from the checkout's root (the
    current directory for an installed wheel), a relative ledger path from the home."""
    env = os.environ if environ is None else environ
    home = Path(env.get("BOTBOX_HOME") or default_home())
    if not home.is_absolute():
        home = (REPO_ROOT or Path.cwd()) / home
    dashboard_port = int(env.get("BOTBOX_DASHBOARD_PORT") or 3001)
    ledger = Path(env.get(LEDGER_ENV) or home / "botbox.duckdb")
    if not ledger.is_absolute():
        ledger = home / ledger
    return Settings(
        home=home,
        ledger_path=ledger,
        dagster_storage=home / "dagster",
        live_trading_enabled=truthy(env.get(LIVE_TRADING_ENV)),
        breaker_open_seconds=float(env.get(BREAKER_OPEN_ENV) or 60.0),
        port=int(env.get("PORT") or 3000),
        dashboard_port=dashboard_port,
        dashboard_url=env.get(DASHBOARD_URL_ENV) or f"http://127.0.0.1:{dashboard_port}",
    )


def dagster_environment(settings: Settings | None = None) -> dict[str, str]:
    """The variables a Dagster process (webserver, daemon, code server, run) of this deployment
    gets: its instance, and every setting its resources read as ``dg.EnvVar``
    (``defs/resources.py``), each written out so that none is left to a default."""
    s = settings or load_settings()
    return {
        "BOTBOX_HOME": str(s.home),
        "DAGSTER_HOME": str(instance_dir()),
        "BOTBOX_DAGSTER_STORAGE": str(s.dagster_storage),
        LEDGER_ENV: str(s.ledger_path),
        LIVE_TRADING_ENV: "true" if s.live_trading_enabled else "false",
        BREAKER_OPEN_ENV: str(s.breaker_open_seconds),
        DASHBOARD_URL_ENV: s.dashboard_url,
    }


def secret_from_env(name: str | None) -> str | None:
    """An API key or secret from the environment variable an account names (never logged)."""
    if not name:
        return None
    return os.environ.get(name) or None
