"""Services: what BotBox does, assembled once and called by every front end.

The Dagster definitions (``defs``), the CLI, the dashboard and the chaos worker call these
functions; they decide, and the adapters under them do the I/O (docs/architecture.md, Layers).
"""
