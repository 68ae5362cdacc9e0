"""``botbox``: the operator's command line (fleet files, bot status, fleet summary, serving)."""

from __future__ import annotations

import argparse
import getpass
import json
import sys
from collections.abc import Callable, Sequence
from datetime import UTC, datetime
from typing import Any

from botbox_dagster.adapters.fleet_file import load_fleet_file
from botbox_dagster.adapters.ledger import LedgerBusyError, LedgerStore
from botbox_dagster.adapters.supervision import HomeInUseError, HomeLock, acquire_home_lock
from botbox_dagster.domain.bots import BotStatus
from botbox_dagster.domain.errors import ConfigErrors
from botbox_dagster.domain.money import ConvertedTotal, fmt_amount, fmt_by_currency, fmt_total
from botbox_dagster.settings import load_settings

EXIT_CONFIG = 2
EXIT_NOT_FOUND = 3
EXIT_BUSY = 4
# `botbox serve`/`demo`/`dashboard` when another copy runs on the same BOTBOX_HOME.
EXIT_ALREADY_RUNNING = 2


def _store() -> LedgerStore:
    return LedgerStore(load_settings().ledger_path)


def _print_json(data: Any) -> None:
    print(json.dumps(data, indent=2, sort_keys=True, default=str))


def cmd_bots_load(args: argparse.Namespace) -> int:
    try:
        fleet = load_fleet_file(args.file)
    except ConfigErrors as exc:
        print(f"rejected {args.file}: nothing was written", file=sys.stderr)
        for error in exc.errors:
            print(f"  {error}", file=sys.stderr)
        return EXIT_CONFIG
    try:
        report = _store().load_fleet(fleet)
    except ConfigErrors as exc:  # checked against the ledger: a move would orphan a position
        print(f"rejected {args.file}: nothing was written", file=sys.stderr)
        for error in exc.errors:
            print(f"  {error}", file=sys.stderr)
        return EXIT_CONFIG
    print(
        f"loaded {args.file}: {len(fleet.bots)} bots "
        f"({len(report.added)} added, {len(report.updated)} updated, "
        f"{len(report.unchanged)} unchanged), {len(report.strategies_changed)} strategies "
        f"and {len(report.exchanges_changed)} exchanges changed"
    )
    return 0


def cmd_bots_list(args: argparse.Namespace) -> int:
    rows = _store().list_bots(include_deleted=args.all)
    if args.json:
        _print_json(
            [
                {
                    "id": r.bot.id,
                    "name": r.bot.name,
                    "strategy": r.bot.strategy,
                    "exchange": r.bot.exchange,
                    "symbol": r.bot.symbol,
                    "check_interval_minutes": r.bot.check_interval_minutes,
                    "status": r.bot.status.value,
                    "mode": r.bot.mode.value,
                    "capital": r.bot.capital,
                    "last_check_at": r.last_check_at,
                    "status_reason": r.status_reason,
                }
                for r in rows
            ]
        )
        return 0
    header = f"{'ID':<24} {'STATUS':<8} {'MODE':<6} {'EXCHANGE':<12} {'SYMBOL':<14} {'EVERY':>5}  STRATEGY"
    print(header)
    for r in rows:
        b = r.bot
        print(
            f"{b.id:<24} {b.status.value:<8} {b.mode.value:<6} {b.exchange:<12} {b.symbol:<14} "
            f"{b.check_interval_minutes:>4}m  {b.strategy}"
        )
    return 0


def _set_status(bot_id: str, status: BotStatus, reason: str) -> int:
    row = _store().set_bot_status(bot_id, status, reason)
    if row is None:
        print(f"no bot {bot_id!r} (or it was removed)", file=sys.stderr)
        return EXIT_NOT_FOUND
    print(f"{bot_id}: {status.value} ({reason})")
    return 0


def cmd_bots_pause(args: argparse.Namespace) -> int:
    return _set_status(args.id, BotStatus.PAUSED, args.reason or "paused from the CLI")


def cmd_bots_resume(args: argparse.Namespace) -> int:
    return _set_status(args.id, BotStatus.ACTIVE, args.reason or "resumed from the CLI")


def cmd_bots_remove(args: argparse.Namespace) -> int:
    return _set_status(args.id, BotStatus.DELETED, args.reason or "removed from the CLI")


def cmd_bots_close(args: argparse.Namespace) -> int:
    from botbox_dagster.services.position_monitor import close_bot_positions

    store = _store()
    if store.get_bot(args.id) is None:
        print(f"no bot {args.id!r}", file=sys.stderr)
        return EXIT_NOT_FOUND
    reason = args.reason or f"cli:{getpass.getuser()}"
    queued = close_bot_positions(store, args.id, reason, datetime.now(UTC))
    if not queued:
        print(f"{args.id}: no open position")
    for position, row in queued:
        what = f"CLOSE queued (row {row})" if row is not None else "a CLOSE is already queued"
        print(
            f"{args.id}: position {position.id} {position.direction} {position.amount:g} "
            f"{position.symbol}: {what}; the next execution run sells it at the market"
        )
    return 0


def cmd_status(args: argparse.Namespace) -> int:
    from botbox_dagster.services.fleet_summary import fleet_summary

    summary = fleet_summary(_store())
    if args.json:
        _print_json(summary)
        return 0
    bots = summary["bots"]
    print(f"bots: {bots['total']} ({_fmt(bots['by_status'])})")
    pause = summary["pause_all"]
    if pause.get("paused"):
        print(f"FLEET PAUSED by {pause.get('by')} at {pause.get('at')}: {pause.get('reason')}")
    sig = summary["signals_last_hour"]
    print(f"signals, last hour: {sig['total']} ({_fmt(sig['by_status'])})")
    print(f"trades filled, last hour: {summary['trades_last_hour']}")
    loop = summary["minute_loop"]
    lag = loop["tick_lag_p95_seconds"]
    print(
        f"minute loop: tick lag p95 {'-' if lag is None else f'{lag:.1f} s'}, "
        f"slots skipped last hour {loop['skipped_last_hour']}"
        + (f" (last: {loop['last_skip_reason']})" if loop["last_skip_reason"] else "")
    )
    queue = summary["trade_queue"]
    print(f"trade queue: {queue['total']} ({_fmt(queue['by_status'])})")
    _print_positions(summary["positions"])
    for ex in summary["exchanges"]:
        print(
            f"exchange {ex['account']}: {ex['venue']} ({ex['execution']} orders, "
            f"{ex['market_data']} data), circuit {ex['circuit']}"
        )
    for md in summary["market_data"]:
        age = md["age_seconds"]
        newest = (
            f"newest {md['timeframe']} bar opened {md['newest_candle']}, closed {age:.0f}s ago"
            if md["newest_candle"]
            else "no candles stored"
        )
        print(f"  {md['exchange']} {md['symbol']}: {newest}{' (STALE)' if md['stale'] else ''}")
    return 0


def _print_positions(pos: dict[str, Any]) -> None:
    """Open positions and P&L: per quote currency, then converted into the reporting currency
    (a currency with no price is named, not guessed; see ``domain/money.py``)."""
    print(f"open positions: {pos['open']}")
    for kind in ("realized", "unrealized"):
        total = pos[f"{kind}_pnl_total"]
        converted = ConvertedTotal(
            total["currency"], total["amount"], unconverted=total["unconverted"]
        )
        print(f"{kind} P&L by quote currency: {fmt_by_currency(pos[f'{kind}_pnl_by_currency'])}")
        print(f"{kind} P&L total ({total['currency']}): {fmt_total(converted)}")
    for cur, r in sorted(pos["conversion_rates"].items()):
        how = "1 / close" if r["inverse"] else "close"
        print(
            f"  converted at 1 {cur} = {fmt_amount(r['rate'], sign=False)} {r['in']} "
            f"({r['exchange']} {r['symbol']} {r['timeframe']} {how} at {r['closed_at']})"
        )


def _fmt(counts: dict[str, int]) -> str:
    return ", ".join(f"{k} {v}" for k, v in sorted(counts.items())) or "none"


def cmd_check(args: argparse.Namespace) -> int:
    """Evaluate one bot now (the tick's code path); queue only with --commit."""
    from botbox_dagster.services.check_now import check_now

    try:
        result, _ = check_now(_store(), args.id, dry_run=not args.commit)
    except LookupError as exc:
        print(str(exc), file=sys.stderr)
        return EXIT_NOT_FOUND
    print(f"{result.bot_id}: {result.strategy} on {result.market} ({result.timeframe})")
    if result.candle_time is not None:
        print(
            f"candle {result.candle_time}  price {result.price}  regime {result.regime}  "
            f"score {result.score}"
        )
        for name, c in result.factors.items():
            print(
                f"  {name:<14} input {c['value']:>12.6g}  score {c['score']:+.3f}  "
                f"weight {c['weight']:g}  contribution {c['contribution']:+.4f}"
            )
    print(f"evaluation: {result.evaluation}")
    if result.verdict == "NO SIGNAL":
        print("verdict: no signal")
    else:
        why = f" ({result.rejection})" if result.rejection else ""
        print(f"verdict: {result.direction} {result.verdict}{why}")
    print("dry run: nothing written" if result.dry_run else f"queued {result.queue_rows} row(s)")
    return 0


def cmd_pause_all(args: argparse.Namespace) -> int:
    from botbox_dagster.services.controls import pause_fleet

    try:
        value = pause_fleet(
            _store(), args.reason, minutes=args.minutes, source="cli", by=f"cli:{getpass.getuser()}"
        )
    except ValueError as exc:
        print(f"not paused: {exc}", file=sys.stderr)
        return EXIT_CONFIG
    until = value["until"]
    print(
        f"fleet paused: {args.reason}"
        + (
            f" (resumes at {until[:16].replace('T', ' ')} UTC)"
            if until
            else " (until botbox resume-all)"
        )
        + "; open positions stay protected by their stops"
    )
    return 0


def cmd_resume_all(args: argparse.Namespace) -> int:
    from botbox_dagster.services.controls import resume_fleet

    resume_fleet(_store(), source="cli", by=f"cli:{getpass.getuser()}")
    print("fleet resumed")
    return 0


def _one_copy(role: str, command: str, run: Callable[[HomeLock], int]) -> int:
    """Run ``run`` holding ``role``'s lock on BOTBOX_HOME; refuse (exit 2) if another process
    holds it (botbox_dagster/adapters/supervision.py)."""
    try:
        lock = acquire_home_lock(load_settings().home, role, f"botbox {command}")
    except HomeInUseError as exc:
        print(f"botbox {command}: refused: {exc}", file=sys.stderr)
        return EXIT_ALREADY_RUNNING
    with lock:
        return run(lock)


def cmd_serve(args: argparse.Namespace) -> int:
    from botbox_dagster.demo.run import serve

    return _one_copy("serve", "serve", lambda lock: serve(args.host, args.port, home_lock=lock))


def cmd_demo(args: argparse.Namespace) -> int:
    from botbox_dagster.demo.run import main as demo_main

    return _one_copy(
        "serve",
        "demo",
        lambda lock: demo_main(args.host, args.port, args.dashboard_port, home_lock=lock),
    )


def cmd_dashboard(args: argparse.Namespace) -> int:
    from botbox_dagster.dashboard.server import serve as serve_dashboard

    return _one_copy(
        "dashboard",
        "dashboard",
        lambda _lock: serve_dashboard(load_settings().ledger_path, args.host, args.port),
    )


def cmd_demo_prepare(args: argparse.Namespace) -> int:
    from botbox_dagster.demo.run import prepare

    print(prepare(load_settings()))
    return 0


def _dashboard_port() -> int:
    return load_settings().dashboard_port


def build_parser() -> argparse.ArgumentParser:
    parser = argparse.ArgumentParser(prog="botbox", description=__doc__)
    sub = parser.add_subparsers(dest="command", required=True)

    bots = sub.add_parser("bots", help="load, list, pause, resume and remove bots")
    bots_sub = bots.add_subparsers(dest="bots_command", required=True)
    load = bots_sub.add_parser("load", help="validate a fleet file and write it (all or nothing)")
    load.add_argument("file")
    load.set_defaults(func=cmd_bots_load)
    lst = bots_sub.add_parser("list", help="list bots")
    lst.add_argument("--json", action="store_true")
    lst.add_argument("--all", action="store_true", help="include removed bots")
    lst.set_defaults(func=cmd_bots_list)
    for name, func, text in (
        ("pause", cmd_bots_pause, "stop evaluating a bot (open positions stay protected)"),
        ("resume", cmd_bots_resume, "make a paused bot ACTIVE again"),
        ("remove", cmd_bots_remove, "mark a bot DELETED: it never trades again"),
        ("close", cmd_bots_close, "queue a CLOSE at the market for the bot's open positions"),
    ):
        p = bots_sub.add_parser(name, help=text)
        p.add_argument("id")
        p.add_argument("--reason")
        p.set_defaults(func=func)

    status = sub.add_parser("status", help="fleet summary")
    status.add_argument("--json", action="store_true", help="machine-readable output")
    status.set_defaults(func=cmd_status)

    check = sub.add_parser("check", help="evaluate one bot now and show why (dry run by default)")
    check.add_argument("id")
    check.add_argument("--commit", action="store_true", help="log the signal and queue it")
    check.set_defaults(func=cmd_check)

    for name, func, text in (
        ("serve", cmd_serve, "run the Dagster webserver and daemon on BotBox's instance"),
        ("demo", cmd_demo, "load the demo fleet and replay data, then serve (make demo)"),
    ):
        p = sub.add_parser(name, help=text)
        p.add_argument("--host", default="127.0.0.1")
        p.add_argument("--port", type=int, default=load_settings().port)
        p.set_defaults(func=func)
        if name == "demo":
            p.add_argument("--dashboard-port", type=int, default=_dashboard_port())
    dash = sub.add_parser("dashboard", help="serve the operator dashboard (fleet and bot pages)")
    dash.add_argument("--host", default="127.0.0.1", help="keep 127.0.0.1 behind a proxy")
    dash.add_argument("--port", type=int, default=_dashboard_port())
    dash.set_defaults(func=cmd_dashboard)
    pause = sub.add_parser("pause-all", help="stop all new entries (exits and stops still run)")
    pause.add_argument("--reason", required=True)
    pause.add_argument("--minutes", type=int, help="resume automatically after this long")
    pause.set_defaults(func=cmd_pause_all)
    resume = sub.add_parser("resume-all", help="resume trading after pause-all")
    resume.set_defaults(func=cmd_resume_all)
    from botbox_dagster.chaos.command import add_parser as add_chaos_parser

    add_chaos_parser(sub)
    prep = sub.add_parser("demo-prepare", help="write the demo recording and load the demo fleet")
    prep.set_defaults(func=cmd_demo_prepare)
    return parser


def main(argv: Sequence[str] | None = None) -> int:
    args = build_parser().parse_args(argv)
    try:
        return int(args.func(args))
    except LedgerBusyError as exc:
        print(f"ledger busy: {exc}", file=sys.stderr)
        return EXIT_BUSY


if __name__ == "__main__":  # pragma: no cover
    sys.exit(main())
