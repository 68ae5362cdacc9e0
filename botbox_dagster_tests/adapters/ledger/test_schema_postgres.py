"""The ledger schema applies unchanged on PostgreSQL (the planned multi-host backend)."""

from __future__ import annotations

import uuid

import pytest

from botbox_dagster.adapters.ledger.schema import MIGRATIONS

psycopg2 = pytest.importorskip("psycopg2")


@pytest.fixture
def pg_schema():  # type: ignore[no-untyped-def]
    try:
        conn = psycopg2.connect(
            host="127.0.0.1", port=5432, user="postgres", dbname="test", connect_timeout=3
        )
    except psycopg2.OperationalError as exc:
        pytest.skip(f"no PostgreSQL on 127.0.0.1:5432: {exc}")
    schema = f"botbox_{uuid.uuid4().hex[:8]}"
    with conn.cursor() as cur:
        cur.execute(f"CREATE SCHEMA {schema}")
        cur.execute(f"SET search_path TO {schema}")
    try:
        yield conn
    finally:
        conn.rollback()
        with conn.cursor() as cur:
            cur.execute(f"DROP SCHEMA IF EXISTS {schema} CASCADE")
        conn.commit()
        conn.close()


def test_every_migration_applies_on_postgres(pg_schema) -> None:  # type: ignore[no-untyped-def]
    with pg_schema.cursor() as cur:
        for migration in MIGRATIONS:
            for statement in migration.statements:
                cur.execute(statement)
        cur.execute(
            "SELECT count(*) FROM information_schema.tables WHERE table_schema = current_schema()"
        )
        assert cur.fetchone()[0] >= 15
        # The invariant the nullable unique key encodes holds on PostgreSQL too.
        insert = (
            "INSERT INTO trade_queue (bot_id, exchange, symbol, direction, position_size, status, "
            "client_order_id, pending_key, priority, created_at, updated_at, expires_at) VALUES "
            "('a', 'x', 'ETH/USDT', 'LONG', 1, 'PENDING', %s, %s, 1, now(), now(), now()) "
            "ON CONFLICT DO NOTHING RETURNING id"
        )
        cur.execute(insert, ["c1", "a|ETH/USDT|LONG"])
        assert cur.fetchone() is not None
        cur.execute(insert, ["c2", "a|ETH/USDT|LONG"])
        assert cur.fetchone() is None
        cur.execute(insert, ["c3", None])
        cur.execute(insert, ["c4", None])
        cur.execute("SELECT count(*) FROM trade_queue WHERE pending_key IS NULL")
        assert cur.fetchone()[0] == 2
