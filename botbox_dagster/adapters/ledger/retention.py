"""Retention of the high-volume ledger tables: archive rows to Parquet, then delete them.

Three tables grow by the minute and are pruned (README, "Retention"): ``signals`` that led to no
trade (no ``trade_queue`` row names them), ``exchange_calls`` (the call log) and 1-minute
``candles``. Each table is pruned in one transaction: the rows to go are copied into
``<archive>/<table>/<day>.parquet`` (one file per UTC day of the rows, appended to when it
exists), then deleted. ``trade_queue``, ``orders``, ``fills``, ``positions`` and every other
table are never touched here.

The archive is written with DuckDB's ``COPY ... (FORMAT PARQUET)``, so this module is
DuckDB-only. A file is replaced (written aside, then renamed) before the transaction commits: a
failed commit can leave a row both in the ledger and in the archive (archived again next time, a
duplicate id), never in neither.
"""

from __future__ import annotations

import os
import uuid
from collections.abc import Callable
from dataclasses import dataclass
from datetime import date, datetime
from pathlib import Path
from typing import Any

# The tables this module may delete from, with the column that dates a row. Nothing else.
PRUNABLE: dict[str, str] = {
    "signals": "evaluated_at",
    "exchange_calls": "called_at",
    "candles": "open_time",
    "minute_slots": "slot",
}
_BATCH = "retention_batch"


@dataclass(frozen=True)
class PruneResult:
    """What one table's pruning did."""

    table: str
    cutoff: datetime
    rows_deleted: int
    archive_files: tuple[Path, ...]
    oldest_kept: datetime | None
    rows_kept: int


def _quote(path: Path) -> str:
    """A path as a SQL string literal (COPY takes no parameters)."""
    return "'" + str(path).replace("'", "''") + "'"


class RetentionTables:
    """Archive-then-delete for the prunable tables. Mixed into :class:`LedgerStore`."""

    run: Any

    def prune_untraded_signals(self, before: datetime, archive_dir: Path) -> PruneResult:
        """Signals evaluated before ``before`` that no trade_queue row refers to."""
        return self._archive_and_delete(
            "signals",
            "NOT EXISTS (SELECT 1 FROM trade_queue q WHERE q.signal_id = signals.id) "
            "AND evaluated_at < ?",
            [],
            before,
            archive_dir,
        )

    def prune_exchange_calls(self, before: datetime, archive_dir: Path) -> PruneResult:
        """Exchange calls made before ``before``."""
        return self._archive_and_delete("exchange_calls", "called_at < ?", [], before, archive_dir)

    def prune_minute_slots(self, before: datetime, archive_dir: Path) -> PruneResult:
        """The minute loop's slot records (one a minute) of slots before ``before``."""
        return self._archive_and_delete("minute_slots", "slot < ?", [], before, archive_dir)

    def prune_candles(
        self, before: datetime, archive_dir: Path, *, timeframe: str = "1m"
    ) -> PruneResult:
        """Bars of ``timeframe`` that opened before ``before``, or before the oldest bar an open
        position's stop scan still needs (its ``scanned_to``, else its opening time), whichever
        is earlier. Other timeframes are kept."""

        def cutoff(conn: Any) -> datetime:
            row = conn.execute(
                "SELECT min(coalesce(scanned_to, opened_at)) FROM positions WHERE status = 'OPEN'"
            ).fetchone()
            needed = row[0] if row else None
            return min(before, needed) if needed is not None else before

        return self._archive_and_delete(
            "candles", "timeframe = ? AND open_time < ?", [timeframe], cutoff, archive_dir
        )

    def _archive_and_delete(
        self,
        table: str,
        where: str,
        params: list[Any],
        before: datetime | Callable[[Any], datetime],
        archive_dir: Path,
    ) -> PruneResult:
        """Archive the rows of ``table`` matching ``where`` (its last ``?`` is the cutoff), then
        delete them, in one transaction. ``before`` is the cutoff or ``f(conn) -> cutoff``."""
        column = PRUNABLE[table]  # KeyError: not a table retention may touch
        folder = Path(archive_dir) / table

        def work(conn: Any) -> PruneResult:
            cut = before if isinstance(before, datetime) else before(conn)
            args = [*params, cut]
            conn.execute(f"DROP TABLE IF EXISTS {_BATCH}")
            conn.execute(f"CREATE TEMP TABLE {_BATCH} AS SELECT * FROM {table} WHERE {where}", args)
            count = int(conn.execute(f"SELECT count(*) FROM {_BATCH}").fetchone()[0])
            replacements: list[tuple[Path, Path]] = []
            if count:
                folder.mkdir(parents=True, exist_ok=True)
                days = [
                    r[0]
                    for r in conn.execute(
                        f"SELECT DISTINCT CAST({column} AS DATE) FROM {_BATCH} ORDER BY 1"
                    ).fetchall()
                ]
                for day in days:
                    replacements.append(self._write_day(conn, folder, column, day))
                conn.execute(f"DELETE FROM {table} WHERE {where}", args)
            conn.execute(f"DROP TABLE {_BATCH}")
            oldest, kept = conn.execute(f"SELECT min({column}), count(*) FROM {table}").fetchone()
            for tmp, final in replacements:  # last, just before the commit
                os.replace(tmp, final)
            return PruneResult(
                table=table,
                cutoff=cut,
                rows_deleted=count,
                archive_files=tuple(final for _tmp, final in replacements),
                oldest_kept=oldest,
                rows_kept=int(kept),
            )

        return self.run(work)

    @staticmethod
    def _write_day(conn: Any, folder: Path, column: str, day: date) -> tuple[Path, Path]:
        """Write the day's archive (what it held plus the batch's rows of that day) aside."""
        final = folder / f"{day.isoformat()}.parquet"
        tmp = folder / f".{final.name}.{uuid.uuid4().hex}.tmp"
        rows = f"SELECT * FROM {_BATCH} WHERE CAST({column} AS DATE) = DATE '{day.isoformat()}'"
        if final.exists():
            rows = f"SELECT * FROM read_parquet({_quote(final)}) UNION ALL BY NAME {rows}"
        conn.execute(f"COPY ({rows}) TO {_quote(tmp)} (FORMAT PARQUET)")
        return tmp, final
