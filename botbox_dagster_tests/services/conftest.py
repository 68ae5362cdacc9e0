"""Fixtures of the service tests (defined in ``support/trading.py``, shared with adapters/)."""

from botbox_dagster_tests.support.trading import fx  # noqa: F401
