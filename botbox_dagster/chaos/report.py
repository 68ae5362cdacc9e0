"""What a chaos run did, counted at both ends: the ledger and the fake exchange's own records.

The guarantees (each a violation when broken):

- duplicates = 0: no client order id is sent again after the venue accepted an order for it, and
  the venue holds at most one order per client order id;
- lost = 0: every queue row ends FILLED, FAILED, EXPIRED or CANCELLED with a reason, every order
  the venue accepted is recorded in the ledger with its filled amount, and every FILLED row has
  its order at the venue;
- positions match: each bot's open position equals the net of its fills at the venue, and the
  account's holding of each base asset at the venue (less what it started with) equals the sum
  of the ledger's open positions in it, up to one amount step of dust per closed position;
- no CLOSE fails for balance: a CLOSE sells what the venue holds (a stop loss that the venue
  refuses for insufficient balance would be refused again every time);
- rate: no 429/418 answer, request weight in any 60 s window at most 80% of the venue's limit,
  orders in any 10 s window at most 80% of the order limit, and weight in any 1 s window at most
  the limiter's own bound (burst + one second of refill).
"""

from __future__ import annotations

import json
import urllib.request
from collections import Counter, defaultdict
from dataclasses import dataclass, field

from botbox_dagster.adapters.ledger import LedgerStore
from botbox_dagster.adapters.rate_limiter import account_limits
from botbox_dagster.chaos.queue import TERMINAL, rows
from botbox_dagster.domain.accounts import ExchangeAccount
from botbox_dagster.fake_exchange import RemoteFakeExchange, max_in_window

ORDER_PATH = "/api/v3/order"
EPSILON = 1e-9


@dataclass
class RateFigures:
    """Peaks counted at the fake exchange against the account's declared limits."""

    weight_limit: float
    orders_limit: float
    max_weight_1s: float = 0.0
    max_weight_60s: float = 0.0
    max_orders_10s: float = 0.0
    max_requests_1s: float = 0.0
    bound_1s: float = 0.0
    rate_limited: int = 0

    @property
    def budget_60s(self) -> float:
        return 0.8 * self.weight_limit

    @property
    def budget_orders_10s(self) -> float:
        return 0.8 * self.orders_limit


@dataclass
class ChaosReport:
    """Counts and guarantee checks of one chaos run."""

    scenario: str
    attempted: int = 0
    filled: int = 0
    failed: Counter[str] = field(default_factory=Counter)
    cancelled: Counter[str] = field(default_factory=Counter)
    expired: int = 0
    not_terminal: int = 0
    no_reason: int = 0
    exchange_orders: int = 0
    duplicates: int = 0
    unrecorded_orders: int = 0
    filled_without_order: int = 0
    position_mismatches: list[str] = field(default_factory=list)
    holding_mismatches: list[str] = field(default_factory=list)
    closes_failed_for_balance: int = 0
    operator_rows: int = 0
    rate: RateFigures | None = None
    notes: list[str] = field(default_factory=list)
    seconds: float = 0.0

    @property
    def lost(self) -> int:
        """Trades whose fate is unknown or disagrees between ledger and venue."""
        return self.not_terminal + self.unrecorded_orders + self.filled_without_order

    def violations(self) -> list[str]:
        """Every broken guarantee, in words (empty when all hold)."""
        out = []
        if self.duplicates:
            out.append(f"{self.duplicates} duplicate order(s) at the exchange")
        if self.not_terminal:
            out.append(f"{self.not_terminal} queue row(s) never reached a terminal state")
        if self.no_reason:
            out.append(f"{self.no_reason} queue row(s) without a reason")
        if self.unrecorded_orders:
            out.append(f"{self.unrecorded_orders} exchange order(s) missing from the ledger")
        if self.filled_without_order:
            out.append(f"{self.filled_without_order} FILLED row(s) with no order at the exchange")
        out += [f"position mismatch: {m}" for m in self.position_mismatches]
        out += [f"holding mismatch: {m}" for m in self.holding_mismatches]
        if self.closes_failed_for_balance:
            out.append(f"{self.closes_failed_for_balance} CLOSE(s) failed for balance")
        r = self.rate
        if r is not None:
            if r.rate_limited:
                out.append(f"{r.rate_limited} request(s) answered 429/418")
            if r.max_weight_60s > r.budget_60s + EPSILON:
                out.append(f"weight in 60 s {r.max_weight_60s:g} > budget {r.budget_60s:g}")
            if r.max_orders_10s > r.budget_orders_10s + EPSILON:
                out.append(f"orders in 10 s {r.max_orders_10s:g} > budget {r.budget_orders_10s:g}")
            if r.max_weight_1s > r.bound_1s + EPSILON:
                out.append(f"weight in 1 s {r.max_weight_1s:g} > limiter bound {r.bound_1s:g}")
        return out

    def format(self) -> str:
        """The human summary ``botbox chaos`` prints."""
        lines = [
            f"scenario: {self.scenario} ({self.seconds:.0f} s)",
            f"trades attempted: {self.attempted}",
            f"filled: {self.filled}",
            f"failed: {sum(self.failed.values())}",
            *(f"  {n:5d}  {reason}" for reason, n in self.failed.most_common()),
            f"cancelled: {sum(self.cancelled.values())}",
            *(f"  {n:5d}  {reason}" for reason, n in self.cancelled.most_common()),
            f"expired: {self.expired}",
            f"orders at the exchange: {self.exchange_orders}",
            f"duplicates: {self.duplicates} (must be 0)",
            f"lost: {self.lost} (must be 0)",
            f"position mismatches: {len(self.position_mismatches)} (must be 0)",
            f"ledger vs venue holdings mismatches: {len(self.holding_mismatches)} (must be 0)",
            f"CLOSEs failed for balance: {self.closes_failed_for_balance} (must be 0)",
            f"rows left for the operator: {self.operator_rows}",
        ]
        r = self.rate
        if r is not None:
            lines += [
                f"429/418 answers: {r.rate_limited} (must be 0)",
                f"max requests/s: {r.max_requests_1s:g}",
                f"max weight in 1 s: {r.max_weight_1s:g} (limiter bound {r.bound_1s:g})",
                f"max weight in 60 s: {r.max_weight_60s:g} / budget {r.budget_60s:g} "
                f"(80% of {r.weight_limit:g})",
                f"max orders in 10 s: {r.max_orders_10s:g} / budget {r.budget_orders_10s:g} "
                f"(80% of {r.orders_limit:g})",
            ]
        lines += [f"note: {n}" for n in self.notes]
        problems = self.violations()
        lines.append("GUARANTEES HOLD" if not problems else "GUARANTEES BROKEN:")
        lines += [f"  - {p}" for p in problems]
        return "\n".join(lines)


def _reason_key(reason: str | None) -> str:
    text = (reason or "").split(":")[0]
    return text[:70] or "(no reason)"


def collect(
    scenario: str,
    store: LedgerStore,
    remote: RemoteFakeExchange,
    account: ExchangeAccount,
    *,
    with_rate: bool = True,
    started_with: dict[str, float] | None = None,
) -> ChaosReport:
    """Compare the ledger with the fake's orders and request log."""
    report = ChaosReport(scenario)
    queue = rows(store, "SELECT * FROM trade_queue WHERE exchange = ? ORDER BY id", [account.id])
    report.attempted = len(queue)
    by_cid = {q["client_order_id"]: q for q in queue}
    for q in queue:
        status = q["status"]
        if status == "FILLED":
            report.filled += 1
        elif status == "FAILED":
            report.failed[_reason_key(q["reason"])] += 1
        elif status == "CANCELLED":
            report.cancelled[_reason_key(q["reason"])] += 1
        elif status == "EXPIRED":
            report.expired += 1
        if status not in TERMINAL:
            report.not_terminal += 1
        if not q["reason"]:
            report.no_reason += 1
        reason = (q["reason"] or "").lower()
        if q["direction"] == "CLOSE" and status == "FAILED" and "insufficient" in reason:
            report.closes_failed_for_balance += 1
        if reason.startswith("operator:"):
            report.operator_rows += 1

    venue_orders = remote.orders()
    report.exchange_orders = len(venue_orders)
    per_cid = Counter(o["clientOrderId"] for o in venue_orders)
    report.duplicates = sum(n - 1 for n in per_cid.values() if n > 1)
    accepted_at = {o["clientOrderId"]: int(o.get("time") or 0) for o in venue_orders}
    requests = remote.requests()
    for r in requests:
        if r.method == "POST" and r.path == ORDER_PATH:
            cid = r.params.get("newClientOrderId")
            # A send that arrived after the venue had accepted this id: a duplicate attempt.
            if cid in accepted_at and r.wall * 1000 > accepted_at[cid] + 1:
                report.duplicates += 1

    ledger_orders = {
        o["client_order_id"]: o
        for o in rows(store, "SELECT * FROM orders WHERE exchange = ?", [account.id])
    }
    venue_net: dict[str, float] = defaultdict(float)
    steps = _lot_steps(remote.base_url)
    bot_step: dict[str, float] = {}
    for o in venue_orders:
        cid, qty = o["clientOrderId"], float(o["executedQty"])
        recorded = ledger_orders.get(cid)
        if recorded is None or abs(float(recorded["filled"]) - qty) > EPSILON:
            report.unrecorded_orders += 1
        row = by_cid.get(cid)
        if row is not None:
            # A spot buy pays its commission in the base asset: the account holds less.
            held_qty = qty - float(o.get("_baseCommission") or 0)
            venue_net[row["bot_id"]] += held_qty if o["side"] == "BUY" else -qty
            bot_step[row["bot_id"]] = steps.get(o["symbol"], 0.0)
    report.filled_without_order = sum(
        1 for q in queue if q["status"] == "FILLED" and q["client_order_id"] not in per_cid
    )
    held = {
        p["bot_id"]: float(p["amount"])
        for p in rows(
            store,
            "SELECT bot_id, amount FROM positions WHERE status = 'OPEN' AND exchange = ?",
            [account.id],
        )
    }
    for bot_id in sorted(set(venue_net) | set(held)):
        # Less than one amount step left at the venue is dust no order can sell.
        tolerance = max(1e-6, bot_step.get(bot_id, 0.0) - 1e-12)
        if abs(venue_net.get(bot_id, 0.0) - held.get(bot_id, 0.0)) > tolerance:
            report.position_mismatches.append(
                f"{bot_id}: ledger holds {held.get(bot_id, 0.0):g}, "
                f"exchange fills net {venue_net.get(bot_id, 0.0):g}"
            )

    report.holding_mismatches = _holding_mismatches(
        store, remote, account, steps, started_with or {}
    )

    if with_rate:
        limits = account_limits(account)
        weight, orders = limits.bucket("weight"), limits.bucket("orders")
        counted = requests  # the fake charges every request it admitted, answered or not
        report.rate = RateFigures(
            weight_limit=weight.limit,
            orders_limit=orders.limit,
            max_weight_1s=max_in_window(counted, 1.0, "weight"),
            max_weight_60s=max_in_window(counted, 60.0, "weight"),
            max_orders_10s=max_in_window(
                [r for r in counted if r.method == "POST" and r.path == ORDER_PATH], 10.0
            ),
            max_requests_1s=max_in_window(counted, 1.0),
            bound_1s=weight.max_per_second,
            rate_limited=sum(1 for r in requests if r.status in (418, 429)),
        )
    return report


def _lot_steps(base_url: str) -> dict[str, float]:
    """Each market's amount step, from the venue's own exchangeInfo."""
    with urllib.request.urlopen(f"{base_url}/api/v3/exchangeInfo", timeout=10) as answer:
        info = json.load(answer)
    return {
        s["symbol"]: float(f["stepSize"])
        for s in info["symbols"]
        for f in s["filters"]
        if f["filterType"] == "LOT_SIZE"
    }


def _holding_mismatches(
    store: LedgerStore,
    remote: RemoteFakeExchange,
    account: ExchangeAccount,
    steps: dict[str, float],
    started_with: dict[str, float],
) -> list[str]:
    """Per base asset: the venue's balance change against the ledger's open positions in it.

    Counted from the venue's balances (free and locked), not from its order records: what the
    account really holds. Up to one amount step per closed position may remain as dust."""
    positions = rows(
        store,
        "SELECT symbol, status, amount FROM positions WHERE exchange = ?",
        [account.id],
    )
    ledger: dict[str, float] = defaultdict(float)
    closed: Counter[str] = Counter()
    step_of: dict[str, float] = {}
    for p in positions:
        base = p["symbol"].split("/")[0]
        step_of[base] = steps.get(p["symbol"].replace("/", ""), 0.0)
        if p["status"] == "OPEN":
            ledger[base] += float(p["amount"])
        else:
            closed[base] += 1
    balances = remote.balances()
    out = []
    for base in sorted(set(ledger) | set(closed)):
        held = sum(float(balances.get(base, {}).get(k, 0)) for k in ("free", "locked"))
        change = held - started_with.get(base, 0.0)
        dust = closed[base] * step_of.get(base, 0.0)
        if not (-1e-9 <= change - ledger[base] <= dust + 1e-9):
            out.append(
                f"{base}: ledger positions hold {ledger[base]:g}, the venue account "
                f"{change:+g} since the start (dust allowed {dust:g})"
            )
    return out
