"""The fake exchange as a separate process, as a chaos run and the fault suite start it."""

from __future__ import annotations

import json
import signal
import subprocess
import sys
from collections.abc import Iterator
from contextlib import contextmanager
from dataclasses import dataclass
from pathlib import Path

from botbox_dagster.chaos.fleet import PRICE, QUOTE
from botbox_dagster.fake_exchange import RemoteFakeExchange
from botbox_dagster.settings import instance_dir


@dataclass(frozen=True)
class FakeProcess:
    """A running ``python -m botbox_dagster.fake_exchange`` and its control client."""

    proc: subprocess.Popen[str]
    base_url: str
    remote: RemoteFakeExchange


@contextmanager
def fake_exchange_process(
    candle_files: dict[str, Path],
    *,
    weight_limit: int,
    orders_per_10s: int,
    ban_seconds: float = 5.0,
) -> Iterator[FakeProcess]:
    """Start the fake on 127.0.0.1 (free port) listing ``candle_files``' symbols; stop it after."""
    folders = {p.parent for p in candle_files.values()}
    if len(folders) != 1:
        raise ValueError("candle files must share one folder")
    args = [
        sys.executable, "-m", "botbox_dagster.fake_exchange",
        "--port", "0",
        "--candles-dir", str(folders.pop()),
        "--balance", f"{QUOTE}=1000000000",
        "--weight-limit", str(weight_limit),
        "--orders-per-10s", str(orders_per_10s),
        "--ban-seconds", str(ban_seconds),
        "--step-size", "0.0001",
        "--fee", "0.001",
    ]  # fmt: skip
    for symbol, path in candle_files.items():
        # No base balance: the account holds only what it bought, net of the commission the
        # venue takes in the asset bought, so a CLOSE sized from the ledger rather than from
        # the venue's holdings is refused here as it would be on Binance.
        args += ["--symbol", f"{symbol}={path.name}"]
    proc = subprocess.Popen(args, cwd=instance_dir(), stdout=subprocess.PIPE, text=True)
    try:
        assert proc.stdout is not None
        line = proc.stdout.readline()
        if not line:
            raise RuntimeError(f"the fake exchange did not start (exit {proc.wait(10)})")
        base_url = json.loads(line)["base_url"]
        remote = RemoteFakeExchange(base_url, timeout_s=10)
        for symbol in candle_files:
            remote.set_price(symbol, str(PRICE))
        yield FakeProcess(proc, base_url, remote)
    finally:
        proc.send_signal(signal.SIGTERM)
        try:
            proc.wait(timeout=10)
        except subprocess.TimeoutExpired:
            proc.kill()
            proc.wait()
