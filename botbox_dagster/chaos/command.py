"""``botbox chaos SCENARIO``: run a fault scenario against the fake exchange and print the tally."""

from __future__ import annotations

import argparse
from typing import Any

EXIT_BROKEN = 5


def cmd_chaos(args: argparse.Namespace) -> int:
    """Run the scenario; exit 0 when every guarantee held, 5 when one broke."""
    from botbox_dagster.chaos.scenarios import Options, run_scenario

    options = Options(
        bots=args.bots,
        seed=args.seed,
        trials=args.trials,
        minutes=args.minutes,
        processes=args.processes,
    )
    print(f"running chaos scenario {args.scenario!r} (fake exchange on 127.0.0.1)...", flush=True)
    report = run_scenario(args.scenario, options)
    print(report.format())
    return EXIT_BROKEN if report.violations() else 0


def add_parser(sub: Any) -> None:
    """Register ``chaos`` on the ``botbox`` command's subparsers."""
    from botbox_dagster.chaos.scenarios import SCENARIOS

    p = sub.add_parser(
        "chaos",
        help="run a fault scenario against a fake exchange and check the guarantees",
        description=(
            "Runs BotBox's real execution processes against a loopback fake exchange in a "
            "temporary BOTBOX_HOME (live trading is enabled only inside it) and prints trades "
            "attempted, filled, failed by reason, duplicates, lost and request rates vs budget. "
            f"Exit code {EXIT_BROKEN} when a guarantee broke."
        ),
    )
    p.add_argument("scenario", choices=sorted(SCENARIOS))
    p.add_argument("--bots", type=int, default=0, help="fleet size (default: the scenario's)")
    p.add_argument("--seed", type=int, default=1)
    p.add_argument("--trials", type=int, default=20, help="crash: processes to kill")
    p.add_argument("--minutes", type=int, default=10, help="burst: simulated minutes")
    p.add_argument("--processes", type=int, default=3, help="burst: concurrent runs")
    p.set_defaults(func=cmd_chaos)
