"""The fake exchange as a separate process, scripted over its control endpoints."""

from __future__ import annotations

import json
import signal
import subprocess
import sys
from pathlib import Path

import ccxt
import pytest

from botbox_dagster.fake_exchange import RemoteFakeExchange, make_binance_client
from botbox_dagster_tests.conftest import REPO_ROOT


@pytest.mark.integration
def test_server_process_serves_ccxt_and_stops_on_sigterm(shared_data: Path) -> None:
    proc = subprocess.Popen(
        [
            sys.executable, "-m", "botbox_dagster.fake_exchange",
            "--port", "0",
            "--candles-dir", str(shared_data / "candles"),
            "--symbol", "ETH/BTC=ETH_BTC-5m.csv",
            "--balance", "BTC=1",
            "--step-size", "0.001",
        ],
        cwd=REPO_ROOT,
        stdout=subprocess.PIPE,
        text=True,
    )  # fmt: skip
    try:
        assert proc.stdout is not None
        info = json.loads(proc.stdout.readline())
        assert info["base_url"] == f"http://127.0.0.1:{info['port']}"
        remote = RemoteFakeExchange(info["base_url"])
        client = make_binance_client(info["base_url"], timeout_ms=2000)
        assert list(client.load_markets()) == ["ETH/BTC"]
        assert len(client.fetch_ohlcv("ETH/BTC", "5m", limit=10)) == 10
        remote.set_price("ETH/BTC", "0.1")
        remote.add_fault("reset_after_accept", path="/api/v3/order", method="POST")
        with pytest.raises(ccxt.NetworkError):
            client.create_order("ETH/BTC", "market", "buy", 1.0, params={"newClientOrderId": "x-1"})
        assert remote.orders("x-1")[0]["executedQty"] == "1.00000000"
        assert [r.status for r in remote.requests("/api/v3/order")] == [0]
    finally:
        proc.send_signal(signal.SIGTERM)
        assert proc.wait(timeout=5) == 0
