"""Fixtures of the market-data tests (defined in ``support/market_fixtures.py``)."""

from botbox_dagster_tests.support.market_fixtures import fx, replay_dir, store  # noqa: F401
