"""Check Now latency through the dashboard over loopback HTTP (prints figures, asserts nothing).

Serves the dashboard on a seeded demo ledger (the one the dashboard tests use) and times N
Check Now posts for one bot: the dry-run evaluation, validation and risk verdict the button
shows. The tests check what the answer holds; how fast it comes is this script's figure.

    .venv/bin/python scripts/bench_check_now.py            # 20 posts
    .venv/bin/python scripts/bench_check_now.py --posts 50 --bot eth-scalper
"""

from __future__ import annotations

import argparse
import statistics
import sys
import tempfile
import threading
import time
import urllib.request
from pathlib import Path

sys.path.insert(0, str(Path(__file__).resolve().parents[1]))

from botbox_dagster.dashboard.server import build_server
from botbox_dagster_tests.support.seed import busy_demo_ledger


def main() -> int:
    parser = argparse.ArgumentParser(description=__doc__.splitlines()[0])
    parser.add_argument("--posts", type=int, default=20)
    parser.add_argument("--bot", default="btc-scalper")
    args = parser.parse_args()
    with tempfile.TemporaryDirectory(prefix="botbox-bench-") as tmp:
        path = Path(tmp) / "ledger.duckdb"
        busy_demo_ledger(path)
        server = build_server(path, "127.0.0.1", 0)
        thread = threading.Thread(target=server.serve_forever, daemon=True)
        thread.start()
        url = f"http://127.0.0.1:{server.server_port}/bots/{args.bot}/check"
        seconds = []
        try:
            for _ in range(args.posts):
                started = time.perf_counter()
                request = urllib.request.Request(url, data=b"", method="POST")
                with urllib.request.urlopen(request, timeout=120) as answer:
                    answer.read()
                seconds.append(time.perf_counter() - started)
        finally:
            server.shutdown()
            server.server_close()
    ordered = sorted(seconds)
    p95 = ordered[max(0, round(0.95 * len(ordered)) - 1)]
    print(f"check now, bot {args.bot}, {len(seconds)} posts")
    print(f"  first (cold): {seconds[0]:.3f} s")
    print(
        f"  median: {statistics.median(seconds):.3f} s, p95: {p95:.3f} s, max: {ordered[-1]:.3f} s"
    )
    return 0


if __name__ == "__main__":
    raise SystemExit(main())
