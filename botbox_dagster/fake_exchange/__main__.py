"""Run the fake exchange as a process.

``python -m botbox_dagster.fake_exchange --port 0 --candles-dir DIR --symbol ETH/BTC=ETH_BTC-5m.csv
[--symbol ...] [--balance BTC=1.5 ...] [--fee 0.001] [--offset-ms N | --anchor-index I] [--no-loop]
[--weight-limit 6000] [--orders-per-10s 100] [--ban-seconds 120]``

Prints one JSON line ``{"base_url": ..., "port": ..., "pid": ...}`` on stdout once listening,
then serves until SIGTERM or SIGINT.
"""

from __future__ import annotations

import argparse
import json
import signal
import sys
import threading
from decimal import Decimal
from pathlib import Path

from botbox_dagster.fake_exchange.candles import TimeShift
from botbox_dagster.fake_exchange.limits import LimitConfig
from botbox_dagster.fake_exchange.markets import MarketSpec
from botbox_dagster.fake_exchange.server import FakeExchange


def _pair(text: str) -> tuple[str, str]:
    key, sep, value = text.partition("=")
    if not sep:
        raise argparse.ArgumentTypeError(f"expected KEY=VALUE, got {text!r}")
    return key, value


def parse_args(argv: list[str] | None = None) -> argparse.Namespace:
    """Command-line options."""
    p = argparse.ArgumentParser(prog="python -m botbox_dagster.fake_exchange", description=__doc__)
    p.add_argument("--port", type=int, default=0)
    p.add_argument("--candles-dir", type=Path, default=Path("."))
    p.add_argument("--symbol", type=_pair, action="append", default=[], metavar="SYM=FILE.csv")
    p.add_argument("--balance", type=_pair, action="append", default=[], metavar="ASSET=AMOUNT")
    p.add_argument("--fee", default="0.001")
    p.add_argument("--step-size", default="0.0001")
    p.add_argument("--min-notional", default="0.0001")
    p.add_argument("--offset-ms", type=int, default=None, help="fixed shift instead of live")
    p.add_argument("--anchor-index", type=int, default=-1, help="recorded bar forming now")
    p.add_argument("--no-loop", action="store_true")
    p.add_argument("--weight-limit", type=int, default=6000)
    p.add_argument("--orders-per-10s", type=int, default=100)
    p.add_argument("--ban-seconds", type=float, default=120.0)
    return p.parse_args(argv)


def build(args: argparse.Namespace) -> FakeExchange:
    """A ``FakeExchange`` from parsed options (not started)."""
    markets = [
        MarketSpec(
            symbol,
            csv_path=args.candles_dir / file,
            step_size=Decimal(args.step_size),
            min_notional=Decimal(args.min_notional),
        )
        for symbol, file in args.symbol
    ]
    loop = not args.no_loop
    shift = (
        TimeShift.fixed(args.offset_ms, loop=loop)
        if args.offset_ms is not None
        else TimeShift.make_live(args.anchor_index, loop=loop)
    )
    limits = LimitConfig(args.weight_limit, args.orders_per_10s, ban_seconds=args.ban_seconds)
    return FakeExchange(
        markets,
        balances=dict(args.balance),
        fee_rate=args.fee,
        time_shift=shift,
        limits=limits,
        port=args.port,
    )


def main(argv: list[str] | None = None) -> int:
    """Serve until SIGTERM/SIGINT."""
    import os

    exchange = build(parse_args(argv)).start()
    done = threading.Event()
    for sig in (signal.SIGTERM, signal.SIGINT):
        signal.signal(sig, lambda *_: done.set())
    print(
        json.dumps({"base_url": exchange.base_url, "port": exchange.port, "pid": os.getpid()}),
        flush=True,
    )
    done.wait()
    exchange.stop()
    return 0


if __name__ == "__main__":
    sys.exit(main())
