"""Operator surfaces in Dagster: the fleet-status asset, its health checks, the alert sensors."""
