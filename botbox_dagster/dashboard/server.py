"""Serve the dashboard: ``botbox dashboard`` (and ``botbox demo``, next to Dagster)."""

from __future__ import annotations

import logging
import threading
from pathlib import Path
from socketserver import ThreadingMixIn
from wsgiref.simple_server import WSGIRequestHandler, WSGIServer, make_server

from botbox_dagster.adapters.ledger import LedgerStore
from botbox_dagster.dashboard.app import DashboardApp

log = logging.getLogger("botbox.dashboard")


class _ThreadingServer(ThreadingMixIn, WSGIServer):
    daemon_threads = True


class _QuietHandler(WSGIRequestHandler):
    def log_message(self, format: str, *args: object) -> None:
        log.debug(format, *args)


def build_server(ledger_path: Path | str, host: str = "127.0.0.1", port: int = 3001) -> WSGIServer:
    """A threaded WSGI server for the dashboard; ``port`` 0 picks a free one."""
    # Reads retry a lock held by a run for at most 5 s, then the page says "busy, retry".
    store = LedgerStore(ledger_path, max_wait_seconds=5.0)
    return make_server(
        host, port, DashboardApp(store), server_class=_ThreadingServer, handler_class=_QuietHandler
    )


def _warm_up() -> None:
    """Import the strategy engine ahead of the first Check Now click (pandas-ta takes seconds)."""
    import botbox_dagster.services.signal_tick  # noqa: F401


def serve(ledger_path: Path | str, host: str = "127.0.0.1", port: int = 3001) -> int:
    server = build_server(ledger_path, host, port)
    threading.Thread(target=_warm_up, daemon=True).start()
    print(
        f"botbox: dashboard on http://{host}:{server.server_port} (ledger {ledger_path})",
        flush=True,
    )
    try:
        server.serve_forever()
    except KeyboardInterrupt:
        pass
    finally:
        server.server_close()
    return 0
