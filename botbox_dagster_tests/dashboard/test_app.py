"""The dashboard over real HTTP: pages, JSON, Check Now, Pause All / Resume, and the lock."""

from __future__ import annotations

import json
import subprocess
import sys
import urllib.error
import urllib.request
from datetime import UTC, datetime
from pathlib import Path
from typing import Any
from urllib.parse import quote

import pytest

from botbox_dagster.dashboard import pages, views
from botbox_dagster.domain.bots import BotStatus
from botbox_dagster.services.fleet_summary import fleet_summary
from botbox_dagster_tests.dashboard.conftest import Served
from botbox_dagster_tests.support.seed import (
    add_signal,
    add_unpriced_eur_trade,
    demo_ledger,
    mixed_currency_ledger,
    overloaded_minute_loop,
)


def get(url: str) -> tuple[int, str]:
    with urllib.request.urlopen(url, timeout=10) as r:
        return r.status, r.read().decode()


def post(url: str, data: str = "", headers: dict[str, str] | None = None) -> tuple[int, str, str]:
    req = urllib.request.Request(url, data=data.encode(), method="POST", headers=headers or {})
    with urllib.request.urlopen(req, timeout=30) as r:
        return r.status, r.url, r.read().decode()


def get_json(url: str) -> Any:
    return json.loads(get(url)[1])


def test_fleet_page_shows_the_operator_dashboard(served: Served) -> None:
    status, html = get(served.base + "/")
    assert status == 200
    assert '<meta http-equiv="refresh" content="10">' in html
    assert 'id="active-bots"><small>Active bots</small><b>25</b>' in html
    assert 'id="signals-hour"><small>Signals last hour</small><b>12</b>' in html
    assert 'id="trades-hour"><small>Trades last hour</small><b>3</b>' in html
    assert 'id="queue-depth"><small>Queue depth</small><b>1</b>' in html
    # P&L cards: the total in the reporting currency, the currencies it adds up beneath.
    assert (
        'id="realized"><small>P&amp;L realized (USDT)</small><b>+3.00 USDT</b>'
        "<small>+3.00 USDT</small></div>" in html
    )
    assert 'id="realized-day"><small>P&amp;L realized 24 h (USDT)</small><b>+3.00 USDT</b>' in html
    assert 'id="unrealized"><small>P&amp;L unrealized (USDT)</small><b>+2.00 USDT</b>' in html
    assert "-unconverted" not in html
    assert "<th>P&amp;L (quote currency)</th>" in html
    assert "<td>+5.00 USDT</td>" in html  # btc-scalper's P&L in the bots table
    assert '<span class="ok">CLOSED</span>' in html  # exchange health and breaker
    assert 'href="/bots/btc-scalper"' in html and "Trading</b> (not paused)" in html
    assert 'id="slots-skipped"><small>Slots skipped (1 h)</small><b>0</b>' in html
    assert 'id="tick-lag"><small>Tick lag p95 (15 min)</small><b>-</b>' in html


def test_fleet_page_shows_tick_lag_and_skipped_slots(tmp_path: Path) -> None:
    now = datetime.now(UTC)
    store = demo_ledger(tmp_path / "l.duckdb", now)
    skip = overloaded_minute_loop(store, now)  # lags 20 s and 95 s, then a skipped minute
    view = views.fleet_view(store, now)
    html = pages.fleet_page(view)
    assert 'id="tick-lag"><small>Tick lag p95 (15 min)</small><b>91.2 s</b>' in html
    assert 'id="slots-skipped"><small>Slots skipped (1 h)</small><b>1</b>' in html
    assert 'id="minute-loop"' in html
    assert "<td>slots skipped, last 15 min / hour / day</td><td>1 / 1 / 1</td>" in html
    assert "still going; bots due now are evaluated by the next run" in html
    loop = views.jsonable(view)["metrics"]["minute_loop"]
    assert loop["skipped"] == 1 and loop["last_skip_reason"] == skip
    assert loop["tick_lag_p95"] == pytest.approx(91.25)


def test_bot_page_and_json(served: Served) -> None:
    status, html = get(served.base + "/bots/btc-scalper")
    assert status == 200
    assert 'id="pnl-chart"' in html and "<polyline" in html
    assert "data too old" not in html  # another bot's rejections
    assert html.count("EXECUTED") == 6 and "rsi +0.500" in html
    assert 'id="next-check"' in html and 'id="check-now"' in html
    assert "Realized P&amp;L <b>+3.00 USDT</b>, unrealized <b>+2.00 USDT</b>" in html
    assert "capital 2,000.00 USDT" in html and "equity 2,005.00 USDT" in html
    fleet = get_json(served.base + "/api/fleet")
    assert fleet["derived"]["active_bots"] == 25 and len(fleet["bots"]) == 25
    assert fleet["metrics"]["rejection_reasons_day"] == {"data too old": 6}
    assert fleet["metrics"]["realized_pnl_by_currency"] == {"USDT": pytest.approx(3.0)}
    assert fleet["metrics"]["unrealized_pnl_by_currency"] == {"USDT": pytest.approx(2.0)}
    assert fleet["derived"]["realized_pnl_total"] == {
        "currency": "USDT",
        "amount": pytest.approx(3.0),
        "by_currency": {"USDT": pytest.approx(3.0)},
        "rates": {},
        "unconverted": {},
    }
    assert fleet["derived"]["unconverted_currencies"] == []
    bot = get_json(served.base + "/api/bots/btc-scalper")
    assert bot["bot"]["realized_pnl"] == pytest.approx(3.0) and bot["bot"]["currency"] == "USDT"
    assert [round(v) for _, v in bot["bot"]["equity"]] == [2000, 2004, 2003, 2005]
    with pytest.raises(urllib.error.HTTPError) as missing:
        get(served.base + "/bots/nope")
    assert missing.value.code == 404


def test_fleet_page_converts_pnl_and_names_what_it_cannot(tmp_path: Path) -> None:
    now = datetime.now(UTC)
    # +12 USDT and +0.001 BTC, BTC/USDT closing at 50,000; +3 EUR that nothing prices.
    store = mixed_currency_ledger(tmp_path / "l.duckdb", now)
    add_unpriced_eur_trade(store, now)
    html = pages.fleet_page(views.fleet_view(store, now))
    assert (
        'id="realized"><small>P&amp;L realized (USDT)</small><b>+62.00 USDT</b>'
        "<small>+0.001 BTC, +3.00 EUR, +12.00 USDT</small><br>"
        '<small class="warn" id="realized-unconverted">not converted, no USDT price: '
        "+3.00 EUR</small></div>" in html
    )
    assert 'id="pnl-currencies"' in html
    assert "<td>1 BTC = 50,000.00 USDT (paper BTC/USDT 1m close at " in html
    assert "<td>no EUR/USDT or USDT/EUR price: not converted</td>" in html
    assert "<td>total (USDT)</td><td>+62.00 USDT (not converted, no USDT price: +3.00 EUR)" in html


def test_check_now_records_and_shows_the_verdict(served: Served) -> None:
    # How fast the verdict comes is a benchmark figure, not a test assertion (a busy 2-core
    # machine answered in 15 s once); this test checks what the answer holds.
    status, url, html = post(served.base + "/bots/btc-scalper/check")
    assert status == 200 and url.endswith("/bots/btc-scalper#check-result")
    assert 'id="check-verdict"' in html and "by dashboard" in html
    recorded = served.store.get_control("check_now:btc-scalper")
    assert recorded is not None and recorded["updated_by"] == "dashboard"
    assert recorded["verdict"] in {"ACCEPTED", "REJECTED", "NO SIGNAL"} and recorded["factors"]
    # Dry run: nothing was queued or logged.
    assert served.store.run(lambda c: c.execute("SELECT count(*) FROM signals").fetchone()[0]) == 12


def test_pause_all_and_resume(served: Served) -> None:
    _, _, html = post(served.base + "/pause", "reason=exchange+maintenance&minutes=30")
    assert "FLEET PAUSED</b> by dashboard" in html and "exchange maintenance" in html
    pause = served.store.get_control("pause_all")
    assert pause is not None
    assert pause["paused"] and pause["updated_by"] == "dashboard" and pause["until"]
    assert fleet_summary(served.store)["pause_all"]["paused"]  # what the tick obeys
    _, _, html = post(served.base + "/resume")
    assert "Trading</b> (not paused)" in html
    assert not fleet_summary(served.store)["pause_all"]["paused"]


def test_text_from_the_ledger_is_escaped_on_the_pages(served: Served) -> None:
    # The templates autoescape: markup in a pause reason, a bot's status reason or a signal's
    # rejection reason shows as text and never runs.
    script = "<script>alert(1)</script>"
    shown = "&lt;script&gt;alert(1)&lt;/script&gt;"
    post(served.base + "/pause", "reason=" + quote(script))
    served.store.set_bot_status("btc-scalper", BotStatus.ACTIVE, script)
    add_signal(served.store, "btc-scalper", "REJECTED", at=datetime.now(UTC), reason=script)
    _, fleet = get(served.base + "/")
    _, bot = get(served.base + "/bots/btc-scalper")
    for html in (fleet, bot):
        assert "<script" not in html
        assert "by dashboard at " in html and f": {shown}. <form" in html  # the pause banner
    assert f'<b id="bot-status">ACTIVE</b> ({shown}).' in bot
    assert f"<td>{shown}</td>" in bot  # the signal's reason


def test_cross_origin_posts_are_refused(served: Served) -> None:
    with pytest.raises(urllib.error.HTTPError) as refused:
        post(served.base + "/pause", "reason=x", {"Origin": "http://evil.example"})
    assert refused.value.code == 403
    assert served.store.get_control("pause_all") is None


def test_the_dashboard_never_holds_the_ledger_between_requests(served: Served) -> None:
    get(served.base + "/")
    get(served.base + "/bots/btc-scalper")
    # Another process (a Dagster run, the CLI) can open the file read-write right away.
    opened = subprocess.run(
        [
            sys.executable,
            "-c",
            f"import duckdb; duckdb.connect({str(served.store.path)!r}).close()",
        ],
        capture_output=True,
        text=True,
        timeout=60,
    )
    assert opened.returncode == 0, opened.stderr
