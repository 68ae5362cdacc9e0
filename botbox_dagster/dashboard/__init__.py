"""The companion operator dashboard: a small stdlib WSGI app served next to Dagster's UI."""
