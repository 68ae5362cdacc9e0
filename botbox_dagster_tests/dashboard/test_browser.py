"""The dashboard in a real headless Chromium (Debian ``chromium`` + ``chromium-driver``).

The dashboard runs as ``botbox demo`` starts it (a ``botbox dashboard`` child process) over a
ledger holding the demo fleet with an hour of signals and trades. The test loads both pages,
clicks Check Now and Pause All / Resume, and checks what the page shows. With
``BOTBOX_SCREENSHOTS=1`` it also writes the README's screenshots to ``docs/``.
"""

from __future__ import annotations

import os
import shutil
import socket
import time
import urllib.request
from collections.abc import Iterator
from pathlib import Path

import pytest

from botbox_dagster.demo.run import start_dashboard
from botbox_dagster_tests.support.seed import busy_demo_ledger

REPO_ROOT = Path(__file__).resolve().parents[2]
CHROMIUM = shutil.which("chromium") or shutil.which("chromium-browser")
DRIVER = shutil.which("chromedriver")
FLAGS = (
    "--headless",
    "--no-sandbox",
    "--disable-gpu",
    "--disable-dev-shm-usage",
    "--disable-background-networking",
    "--disable-component-update",
    "--no-first-run",
    "--disable-sync",
    "--window-size=1280,1400",
)

pytestmark = [
    pytest.mark.integration,
    pytest.mark.skipif(
        CHROMIUM is None or DRIVER is None,
        reason="chromium and chromium-driver are not installed (apt-get install chromium "
        "chromium-driver; .ci/run installs them)",
    ),
]


def _free_port() -> int:
    with socket.socket() as s:
        s.bind(("127.0.0.1", 0))
        return int(s.getsockname()[1])


@pytest.fixture
def dashboard(tmp_path: Path, monkeypatch: pytest.MonkeyPatch) -> Iterator[str]:
    home = tmp_path / "home"
    busy_demo_ledger(home / "botbox.duckdb")
    monkeypatch.setenv("BOTBOX_HOME", str(home))
    port = _free_port()
    proc = start_dashboard("127.0.0.1", port)
    base = f"http://127.0.0.1:{port}"
    try:
        deadline = time.monotonic() + 60
        while True:
            try:
                urllib.request.urlopen(base + "/healthz", timeout=2).read()
                break
            except OSError:
                if proc.poll() is not None or time.monotonic() > deadline:
                    raise
                time.sleep(0.2)
        yield base
    finally:
        proc.terminate()
        proc.wait(timeout=10)


@pytest.fixture
def browser() -> Iterator[object]:
    from selenium import webdriver
    from selenium.webdriver.chrome.service import Service

    options = webdriver.ChromeOptions()
    options.binary_location = str(CHROMIUM)
    for flag in FLAGS:
        options.add_argument(flag)
    driver = webdriver.Chrome(service=Service(executable_path=str(DRIVER)), options=options)
    driver.implicitly_wait(0)
    try:
        yield driver
    finally:
        driver.quit()


def _screenshot(driver: object, name: str) -> None:
    if os.environ.get("BOTBOX_SCREENSHOTS") == "1":
        driver.save_screenshot(str(REPO_ROOT / "docs" / name))  # type: ignore[attr-defined]


def test_fleet_and_bot_pages_check_now_and_pause_all(dashboard: str, browser: object) -> None:
    from selenium.common.exceptions import (
        NoSuchElementException,
        StaleElementReferenceException,
        WebDriverException,
    )
    from selenium.webdriver.common.by import By
    from selenium.webdriver.support import expected_conditions as ec
    from selenium.webdriver.support.ui import WebDriverWait

    d = browser
    # A form post reloads the page: while the old document goes away Chromium can answer a
    # poll with "node does not belong to the document" (a WebDriverException). The wait keeps
    # polling through it; the condition it waits for is unchanged.
    wait = WebDriverWait(  # type: ignore[arg-type]
        d,
        60,
        ignored_exceptions=(
            NoSuchElementException,
            StaleElementReferenceException,
            WebDriverException,
        ),
    )
    d.get(dashboard + "/")  # type: ignore[attr-defined]
    assert d.title == "BotBox fleet"  # type: ignore[attr-defined]
    cards = {
        c.get_attribute("id"): c.find_element(By.TAG_NAME, "b").text
        for c in d.find_elements(By.CSS_SELECTOR, ".card")  # type: ignore[attr-defined]
    }
    assert cards["active-bots"] == "25"
    assert cards["signals-hour"] == "12" and cards["trades-hour"] == "3"
    assert cards["queue-depth"] == "1"
    exchanges = d.find_element(By.ID, "exchanges").text  # type: ignore[attr-defined]
    assert "paper" in exchanges and "CLOSED" in exchanges
    assert len(d.find_elements(By.CSS_SELECTOR, "#bots tr")) == 26  # type: ignore[attr-defined]
    _screenshot(d, "dashboard-fleet.png")

    # Per-bot page: schedule, P&L chart, signals with factors.
    d.find_element(By.LINK_TEXT, "btc-scalper").click()  # type: ignore[attr-defined]
    wait.until(ec.title_is("BotBox btc-scalper"))
    assert d.find_element(By.ID, "pnl-chart").get_attribute("aria-label").startswith("equity 2,005")  # type: ignore[attr-defined]
    assert "EXECUTED" in d.find_element(By.ID, "signals").text  # type: ignore[attr-defined]
    assert "No Check Now yet" in d.find_element(By.ID, "check-result").text  # type: ignore[attr-defined]

    # Check Now: the verdict shows on the page (how fast is a benchmark figure, not asserted).
    d.find_element(By.ID, "check-now").click()  # type: ignore[attr-defined]
    WebDriverWait(d, 60).until(ec.presence_of_element_located((By.ID, "check-verdict")))  # type: ignore[arg-type]
    verdict = d.find_element(By.ID, "check-result").text  # type: ignore[attr-defined]
    assert "by dashboard" in verdict
    assert d.find_element(By.ID, "check-verdict").text in {"ACCEPTED", "REJECTED", "NO SIGNAL"}  # type: ignore[attr-defined]
    _screenshot(d, "dashboard-bot.png")

    # Pause All with a reason, from the fleet page; then Resume.
    d.get(dashboard + "/")  # type: ignore[attr-defined]
    reason = d.find_element(By.ID, "pause-reason")  # type: ignore[attr-defined]
    reason.clear()
    reason.send_keys("browser test maintenance")
    d.find_element(By.ID, "pause-minutes").send_keys("15")  # type: ignore[attr-defined]
    d.find_element(By.ID, "pause-all").click()  # type: ignore[attr-defined]
    wait.until(ec.text_to_be_present_in_element((By.ID, "pause-state"), "FLEET PAUSED"))
    banner = d.find_element(By.ID, "pause-state").text  # type: ignore[attr-defined]
    assert "by dashboard" in banner and "browser test maintenance" in banner and "until" in banner
    d.find_element(By.ID, "resume-all").click()  # type: ignore[attr-defined]
    wait.until(ec.text_to_be_present_in_element((By.ID, "pause-state"), "not paused"))
