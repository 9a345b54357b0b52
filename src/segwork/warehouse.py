"""SQL databases at the edges of a run: reading source tables, writing segment memberships back.

Sources and sinks name a database by a SQLAlchemy URL with credentials as ``${ENV_VAR}``
(``postgresql://${PGUSER}:${PGPASSWORD}@db.example.com/crm``). The URL is resolved only here,
at the moment of connecting; everything that is shown or recorded uses
:func:`segwork.config.redact_url`. ``postgresql://`` and ``postgres://`` URLs use the psycopg
(version 3) driver, which segwork installs.

The memberships table is long: one row per customer and segment, with the run that produced it::

    run_id text, analysis_date date, customer_id text, segment text, written_at timestamptz

``if_exists: replace`` leaves the newest run's rows only; ``append`` keeps one set per run
(writing the same run again replaces that run's rows, so a retry never duplicates). Either way
the delete and the insert are one transaction: a reader sees the old rows or the new ones.
"""

from __future__ import annotations

from collections.abc import Iterator
from datetime import UTC, date, datetime
from typing import Any

import pandas as pd
import sqlalchemy as sa

from segwork.config import TableSink, redact_url
from segwork.engines import error_line
from segwork.errors import SegworkError

MEMBERSHIP_COLUMNS = ("run_id", "analysis_date", "customer_id", "segment", "written_at")


class WarehouseError(SegworkError, RuntimeError):
    """A database could not be read or written; the message names the table and the fix."""


def engine(url: str) -> sa.Engine:
    """A SQLAlchemy engine for a resolved URL; PostgreSQL URLs get the psycopg 3 driver."""
    for prefix in ("postgresql://", "postgres://"):
        if url.startswith(prefix):
            url = "postgresql+psycopg://" + url[len(prefix) :]
    try:
        return sa.create_engine(url)
    except (sa.exc.ArgumentError, sa.exc.NoSuchModuleError, ImportError) as e:
        raise WarehouseError(
            f"cannot use the database URL {redact_url(url)}: {e}. Fix: a SQLAlchemy URL such as "
            "postgresql://user:${PGPASSWORD}@host:5432/database"
        ) from None


def read_chunks(url: str, table: str, *, chunksize: int = 250_000) -> Iterator[pd.DataFrame]:
    """The rows of ``table`` in chunks, streamed by the server (a server-side cursor)."""
    schema, _, name = table.rpartition(".")
    eng = engine(url)
    try:
        with eng.connect().execution_options(stream_results=True) as conn:
            yield from pd.read_sql_table(name, conn, schema=schema or None, chunksize=chunksize)
    finally:
        eng.dispose()


def column_names(url: str, table: str) -> list[str]:
    """The columns of a database table (for an empty table, which yields no chunks)."""
    eng = engine(url)
    try:
        schema, _, name = table.rpartition(".")
        return [c["name"] for c in sa.inspect(eng).get_columns(name, schema=schema or None)]
    finally:
        eng.dispose()


def membership_rows(
    long: pd.DataFrame, *, run_id: str, analysis_date: date, written_at: datetime | None = None
) -> pd.DataFrame:
    """Long memberships (customer_id, segment) as rows of the memberships table."""
    written_at = written_at or datetime.now(UTC)
    return pd.DataFrame(
        {
            "run_id": run_id,
            "analysis_date": analysis_date,
            "customer_id": long["customer_id"].astype(str).to_numpy(),
            "segment": long["segment"].astype(str).to_numpy(),
            "written_at": written_at,
        },
        columns=list(MEMBERSHIP_COLUMNS),
    )


def _table(sink: TableSink) -> sa.Table:
    schema, _, name = sink.table.rpartition(".")
    return sa.Table(
        name,
        sa.MetaData(schema=schema or None),
        sa.Column("run_id", sa.Text, nullable=False),
        sa.Column("analysis_date", sa.Date, nullable=False),
        sa.Column("customer_id", sa.Text, nullable=False),
        sa.Column("segment", sa.Text, nullable=False),
        sa.Column("written_at", sa.DateTime(timezone=True), nullable=False),
    )


def write_memberships(sink: TableSink, rows: pd.DataFrame) -> int:
    """Write :func:`membership_rows` to the sink's table in one transaction; the rows written.

    The table is created if missing. An existing table must have the five columns above; one
    without them is an error naming the columns to add (segwork never drops a user's table).
    """
    table = _table(sink)
    run_ids = rows["run_id"].unique().tolist()
    if len(run_ids) > 1:
        raise WarehouseError(f"{sink.describe()}: rows of several runs at once ({run_ids})")
    eng = engine(sink.resolved_url())
    try:
        with eng.begin() as conn:
            inspector = sa.inspect(conn)
            if inspector.has_table(table.name, schema=table.schema):
                have = {c["name"] for c in inspector.get_columns(table.name, schema=table.schema)}
                missing = [c for c in MEMBERSHIP_COLUMNS if c not in have]
                if missing:
                    raise WarehouseError(
                        f"{sink.describe()}: the table exists but has no column "
                        f"{', '.join(missing)}; segwork writes {', '.join(MEMBERSHIP_COLUMNS)}. "
                        "Fix: name another table in outputs.memberships.table, or add the columns."
                    )
            else:
                table.create(conn)
            if sink.if_exists == "replace":
                conn.execute(table.delete())
            elif run_ids:
                conn.execute(table.delete().where(table.c.run_id == run_ids[0]))
            records: list[dict[str, Any]] = rows.to_dict("records")
            for start in range(0, len(records), 50_000):
                conn.execute(table.insert(), records[start : start + 50_000])
    except WarehouseError:
        raise
    except sa.exc.SQLAlchemyError as e:
        raise WarehouseError(
            f"writing segment memberships to {sink.describe()} failed: "
            f"{redact_url(error_line(getattr(e, 'orig', None) or e))}. Nothing was "
            "written (the transaction was rolled back). Fix: check the URL, the credentials in "
            "the environment and that the user may create and write the table."
        ) from None
    finally:
        eng.dispose()
    return len(rows)
