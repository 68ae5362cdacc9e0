"""Fixtures of the adapter tests (defined in ``support/trading.py``, shared with services/)."""

from botbox_dagster_tests.support.trading import fx  # noqa: F401
