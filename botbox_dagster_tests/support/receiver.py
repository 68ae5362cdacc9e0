"""A loopback HTTP receiver that records what webhooks POST to it."""

from __future__ import annotations

import json
import threading
import time
from collections.abc import Iterator
from contextlib import contextmanager
from http.server import BaseHTTPRequestHandler, ThreadingHTTPServer
from typing import Any


class Receiver:
    def __init__(self, server: ThreadingHTTPServer) -> None:
        self.server = server
        self.posts: list[tuple[str, Any]] = []

    def url(self, path: str) -> str:
        return f"http://127.0.0.1:{self.server.server_port}{path}"

    def bodies(self, path: str) -> list[Any]:
        return [b for p, b in self.posts if p == path]

    def clear(self) -> None:
        self.posts.clear()


@contextmanager
def receiver() -> Iterator[Receiver]:
    """Paths: any path records the JSON body and answers 200; ``/slow`` waits 5 s first;
    ``/fail`` answers 500."""
    holder: list[Receiver] = []

    class Handler(BaseHTTPRequestHandler):
        def do_POST(self) -> None:
            body = self.rfile.read(int(self.headers.get("Content-Length") or 0))
            if self.path == "/slow":
                time.sleep(5)
            holder[0].posts.append((self.path, json.loads(body)))
            self.send_response(500 if self.path == "/fail" else 200)
            self.end_headers()
            self.wfile.write(b"ok")

        def log_message(self, format: str, *args: object) -> None:
            pass

    server = ThreadingHTTPServer(("127.0.0.1", 0), Handler)
    server.daemon_threads = True
    holder.append(Receiver(server))
    thread = threading.Thread(target=server.serve_forever, daemon=True)
    thread.start()
    try:
        yield holder[0]
    finally:
        server.shutdown()
        server.server_close()
