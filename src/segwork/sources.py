"""Read CRM sources (CSV, Parquet, Excel, SQL databases) into validated tables.

Every table is read through DuckDB: history-sized tables (orders, interactions, campaign
exposures) stay there and are handed on as Ibis tables; tables with one row per customer are
handed on as pandas DataFrames. Validation runs as a few aggregate queries, so it costs one scan
of a table, not a copy of it in Python.

What validation finds is either an error (the default: the message names the table, the column,
the rows and the fix) or, with ``invalid_rows: drop`` in the source's config, dropped rows that
are counted in the :class:`~segwork.schema.ValidationReport`. Returns (negative amounts) are
kept and counted.
"""

from __future__ import annotations

import difflib
from dataclasses import dataclass
from pathlib import Path
from typing import Any

import duckdb
import ibis
import pandas as pd

from segwork import progress
from segwork.config import TABLES, RunConfig, SourceConfig
from segwork.schema import CONTRACTS, Contract, Issue, SchemaError, TableStats, ValidationReport

_TRUE = ("true", "t", "yes", "y", "1", "ano")
_FALSE = ("false", "f", "no", "n", "0", "ne")
_MAX_EXAMPLES = 5
_ID_COLUMNS = ("customer_id", "order_id", "campaign_id")  # read as text so leading zeros survive


@dataclass
class Tables:
    """The validated tables of one run and what validation found."""

    con: Any  # the Ibis backend the history tables live in
    customers: pd.DataFrame
    orders: ibis.Table
    report: ValidationReport
    interactions: ibis.Table | None = None
    survey_responses: pd.DataFrame | None = None
    survey_items: pd.DataFrame | None = None
    campaign_exposures: ibis.Table | None = None


def as_ibis(data: pd.DataFrame | ibis.Table) -> ibis.Table:
    """An Ibis table for a pandas DataFrame (a DuckDB memtable) or the table itself."""
    if isinstance(data, ibis.Table):
        return data
    if isinstance(data, pd.DataFrame):
        return ibis.memtable(data)
    raise TypeError(f"expected a pandas DataFrame or an Ibis table, got {type(data).__name__}")


def require_columns(
    columns: list[str] | pd.Index, needed: list[str] | tuple[str, ...], table: str
) -> None:
    """Raise a :class:`SchemaError` naming the missing columns and those present."""
    present = list(columns)
    missing = [c for c in needed if c not in present]
    if missing:
        hints = [
            f"'{m}' (closest: {', '.join(difflib.get_close_matches(m, present, n=2))})"
            if difflib.get_close_matches(m, present, n=2)
            else f"'{m}'"
            for m in missing
        ]
        raise SchemaError(
            table,
            f"required column{'s' if len(missing) > 1 else ''} {', '.join(hints)} missing; "
            f"columns present: {', '.join(present) or '(none)'}",
            column=missing[0],
            fix=f"rename the column in the data, or map it in the config under sources.{table}.columns "
            f"(contract name: your column name).",
        )


def load_tables(cfg: RunConfig, *, con: Any = None) -> Tables:
    """Read, map and validate every source of a run config."""
    con = con if con is not None else ibis.duckdb.connect()
    report = ValidationReport()
    reader = _Reader(cfg, con, report)
    loaded: dict[str, Any] = {}
    for table in TABLES:  # customers first: the other tables are checked against its ids
        src = getattr(cfg.sources, table)
        if src is not None:
            with progress.step(f"reading {table} from {src.describe()}", con=con) as step:
                loaded[table] = reader.read(table, src)
                step.rows = report.tables[table].rows_kept
    return Tables(con=con, report=report, **loaded)


def _ident(name: str) -> str:
    return '"' + name.replace('"', '""') + '"'


def _literal(text: str) -> str:
    return "'" + text.replace("'", "''") + "'"


class _Reader:
    """Reads one source after another into the same DuckDB database."""

    def __init__(self, cfg: RunConfig, con: Any, report: ValidationReport):
        self.cfg, self.con, self.report = cfg, con, report
        self.duck: duckdb.DuckDBPyConnection = con.con

    def _sql(self, query: str) -> list[tuple[Any, ...]]:
        """Run one statement and fetch all of its result (DuckDB wants results consumed)."""
        return self.duck.execute(query).fetchall()

    def _one(self, query: str) -> Any:
        return self._sql(query)[0][0]

    # -- reading the raw source ---------------------------------------------------------------
    def _raw(self, table: str, src: SourceConfig) -> str:
        """Register the source as a DuckDB view or table named raw_<table>; return its name."""
        name = f"raw_{table}"
        kind = src.kind
        where = src.describe()
        try:
            if kind == "csv":
                self._raw_csv(name, src)
            elif kind == "parquet":
                path = self.cfg.path(src.path)  # type: ignore[arg-type]
                self._sql(
                    f"CREATE OR REPLACE VIEW {name} AS SELECT * FROM read_parquet({_literal(str(path))})"
                )
                self._sql(f"DESCRIBE {name}")
            elif kind == "excel":
                path = self.cfg.path(src.path)  # type: ignore[arg-type]
                sheet = src.sheet if src.sheet is not None else 0
                header = pd.read_excel(path, sheet_name=sheet, nrows=0).columns
                ids = {self._source_name(src, c): str for c in _ID_COLUMNS}
                frame = pd.read_excel(
                    path, sheet_name=sheet, dtype={c: t for c, t in ids.items() if c in header}
                )
                self.duck.register(f"{name}_df", frame)
                self._sql(f"CREATE OR REPLACE TABLE {name} AS SELECT * FROM {name}_df")
                self.duck.unregister(f"{name}_df")
            else:
                self._raw_sql(name, src)
        except SchemaError:
            raise
        except (duckdb.Error, ValueError, OSError, ImportError) as e:
            first = str(e).strip().splitlines()[0] if str(e).strip() else type(e).__name__
            raise SchemaError(
                table,
                f"could not read {where} as {kind}: {first}",
                fix=f"check that the file is a valid {kind} file (not empty, not another format), or set "
                f"'format:' for sources.{table} in the config.",
            ) from None
        return name

    def _raw_csv(self, name: str, src: SourceConfig) -> None:
        path = str(self.cfg.path(src.path))  # type: ignore[arg-type]
        opts = ["header=true"]
        if src.delimiter:
            opts.append(f"delim={_literal(src.delimiter)}")
        if src.decimal != ".":
            opts.append(f"decimal_separator={_literal(src.decimal)}")
        if src.encoding.lower().replace("-", "") != "utf8":
            opts.append(f"encoding={_literal(src.encoding)}")
        if Path(path).stat().st_size == 0:
            raise ValueError("the file is empty (0 bytes)")
        header = [
            r[0]
            for r in self._sql(
                f"DESCRIBE SELECT * FROM read_csv({_literal(path)}, {', '.join(opts)}, all_varchar=true)"
            )
        ]
        # Ids are text: read them as VARCHAR so leading zeros survive.
        ids = [self._source_name(src, c) for c in _ID_COLUMNS]
        types = {c: "VARCHAR" for c in ids if c in header}
        typed = opts + (
            [f"types={{{', '.join(f'{_literal(k)}: {_literal(v)}' for k, v in types.items())}}}"]
            if types
            else []
        )
        sql = f"CREATE OR REPLACE TABLE {name} AS SELECT * FROM read_csv({_literal(path)}, {', '.join(typed)})"
        try:
            self._sql(sql)
        except duckdb.ConversionException:
            # A value later in the file does not fit the type sniffed from the first rows:
            # read everything as text and let validation find the offending rows.
            self._sql(
                f"CREATE OR REPLACE TABLE {name} AS SELECT * FROM "
                f"read_csv({_literal(path)}, {', '.join(opts)}, all_varchar=true)"
            )

    def _raw_sql(self, name: str, src: SourceConfig) -> None:
        import sqlalchemy as sa

        engine = sa.create_engine(src.resolved_url())
        try:
            first = True
            for chunk in pd.read_sql_table(src.table, engine, chunksize=250_000):
                self.duck.register(f"{name}_chunk", chunk)
                if first:
                    self._sql(f"CREATE OR REPLACE TABLE {name} AS SELECT * FROM {name}_chunk")
                    first = False
                else:
                    self._sql(f"INSERT INTO {name} SELECT * FROM {name}_chunk")
                self.duck.unregister(f"{name}_chunk")
            if first:  # no chunks at all: an empty table; keep its columns
                cols = [c["name"] for c in sa.inspect(engine).get_columns(src.table)]
                self.duck.register(f"{name}_chunk", pd.DataFrame(columns=cols))
                self._sql(f"CREATE OR REPLACE TABLE {name} AS SELECT * FROM {name}_chunk")
        finally:
            engine.dispose()

    @staticmethod
    def _source_name(src: SourceConfig, column: str) -> str:
        return src.columns.get(column, column)

    # -- mapping, typing, validation -------------------------------------------------------------
    def read(self, table: str, src: SourceConfig) -> Any:
        contract = CONTRACTS[table]
        raw = self._raw(table, src)
        described = self._sql(f"DESCRIBE {raw}")
        raw_types = {r[0]: r[1] for r in described}
        present = list(raw_types)
        for target, source in src.columns.items():
            if source not in raw_types:
                close = difflib.get_close_matches(source, present, n=2)
                raise SchemaError(
                    table,
                    f"the config maps '{target}' to the column '{source}', which is not in {src.describe()}; "
                    f"columns present: {', '.join(present)}",
                    column=target,
                    fix=f"correct sources.{table}.columns.{target}"
                    + (f" (did you mean {' or '.join(repr(c) for c in close)}?)" if close else ""),
                )
        rename = {source: target for target, source in src.columns.items()}
        mapped = [rename.get(c, c) for c in present]
        required = list(contract.required)
        if table == "survey_responses":
            required = ["customer_id"]
        require_columns(mapped, required, table)

        select, checks = [], []
        for col in present:
            target = rename.get(col, col)
            kind = contract.kind(target)
            expr = self._typed(_ident(col), raw_types[col], kind, src) if kind else _ident(col)
            select.append(f"{expr} AS {_ident(target)}")
            if kind and kind not in ("string",):
                select.append(f"{_ident(col)} AS {_ident('__raw_' + target)}")
                checks.append((target, col, kind))
        typed = f"typed_{table}"
        self._sql(f"CREATE OR REPLACE VIEW {typed} AS SELECT {', '.join(select)} FROM {raw}")

        n = self._one(f"SELECT count(*) FROM {typed}")
        if n == 0:
            raise SchemaError(
                table,
                f"{src.describe()} has no data rows",
                fix="export the table again; "
                "it has a header but no rows (or an empty sheet/table).",
            )
        invalid = self._validate(table, src, contract, typed, checks)
        keep = " AND ".join(invalid) if invalid else "TRUE"
        final_cols = ", ".join(_ident(rename.get(c, c)) for c in present)
        dedup = ""
        if contract.key and src.invalid_rows == "drop":
            dedup = f" QUALIFY row_number() OVER (PARTITION BY {', '.join(map(_ident, contract.key))}) = 1"
        body = f"SELECT {final_cols} FROM {typed} WHERE {keep}{dedup}"
        kind = "VIEW" if src.kind == "parquet" else "TABLE"
        self._sql(f"CREATE OR REPLACE {kind} {_ident(table)} AS {body}")
        kept = self._one(f"SELECT count(*) FROM {_ident(table)}")
        self.report.tables[table] = TableStats(table, src.describe(), n, kept, mapped)
        if table == "orders":
            self._count_returns()
        result = self.con.table(table)
        return result if contract.history else result.to_pandas()

    @staticmethod
    def _typed(col: str, raw_type: str, kind: str, src: SourceConfig) -> str:
        t = raw_type.upper()
        text = t.startswith("VARCHAR")
        numeric = any(
            t.startswith(p)
            for p in (
                "BIGINT",
                "INTEGER",
                "SMALLINT",
                "TINYINT",
                "HUGEINT",
                "UBIGINT",
                "UINTEGER",
                "DOUBLE",
                "FLOAT",
                "DECIMAL",
                "REAL",
            )
        )
        if kind == "id":
            if t.startswith(("DOUBLE", "FLOAT", "REAL", "DECIMAL")):  # 1001.0 read from Excel
                return f"CAST(TRY_CAST({col} AS BIGINT) AS VARCHAR)"
            return f"NULLIF(TRIM(CAST({col} AS VARCHAR)), '')"
        if kind == "string":
            return f"CAST({col} AS VARCHAR)"
        if kind == "date":
            if t.startswith(("DATE", "TIMESTAMP")):
                return f"CAST({col} AS TIMESTAMP)"
            if text and src.date_format:
                return f"TRY_STRPTIME({col}, {_literal(src.date_format)})"
            if text:
                return f"TRY_CAST({col} AS TIMESTAMP)"
            return "CAST(NULL AS TIMESTAMP)"
        if kind in ("number", "int"):
            target = "DOUBLE" if kind == "number" else "BIGINT"
            if text:
                cleaned = f"REPLACE(TRIM({col}), ' ', '')"
                if src.decimal != ".":
                    cleaned = f"REPLACE(REPLACE({cleaned}, '.', ''), {_literal(src.decimal)}, '.')"
                return f"TRY_CAST({cleaned} AS {target})"
            if t.startswith("BOOLEAN"):
                return f"CAST({col} AS {target})"
            return f"TRY_CAST({col} AS {target})"
        if kind == "bool":
            if t.startswith("BOOLEAN"):
                return col
            if numeric:
                return f"({col} <> 0)"
            trues = ", ".join(map(_literal, _TRUE))
            falses = ", ".join(map(_literal, _FALSE))
            low = f"LOWER(TRIM(CAST({col} AS VARCHAR)))"
            return f"CASE WHEN {low} IN ({trues}) THEN TRUE WHEN {low} IN ({falses}) THEN FALSE ELSE NULL END"
        return col

    def _validate(
        self,
        table: str,
        src: SourceConfig,
        contract: Contract,
        typed: str,
        checks: list[tuple[str, str, str]],
    ) -> list[str]:
        """Count every kind of bad row; raise or return the conditions that keep the good ones."""
        errors: list[str] = []
        keep: list[str] = []
        drop = src.invalid_rows == "drop"
        action = "dropped" if drop else "error"
        kind_words = {
            "date": "dates",
            "number": "numbers",
            "int": "whole numbers",
            "bool": "true/false",
            "id": "ids",
        }
        for target, source, kind in checks:
            raw = _ident("__raw_" + target)
            col = _ident(target)
            required = target in contract.required
            bad = self._examples(typed, f"{col} IS NULL AND {raw} IS NOT NULL", raw)
            if bad[0]:
                rows = self._row_numbers(src, source, bad[1])
                examples = ", ".join(
                    f"row {r}: {v!r}" if r else repr(v) for v, r in zip(bad[1], rows, strict=True)
                )
                if required:
                    self.report.add(
                        Issue(
                            table,
                            target,
                            f"cannot be read as {kind_words[kind]}",
                            bad[0],
                            examples,
                            action,
                        )
                    )
                    fix = {
                        "date": "correct these rows; if the dates are not ISO (YYYY-MM-DD), set "
                        f"sources.{table}.date_format (e.g. '%d.%m.%Y')",
                        "number": "correct these rows (no currency symbols; set sources."
                        f"{table}.decimal: ',' for decimal commas)",
                    }.get(kind, "correct these rows")
                    errors.append(
                        f"column '{target}': {bad[0]:,} value(s) cannot be read as {kind_words[kind]}: "
                        f"{examples}. Fix: {fix}, or set sources.{table}.invalid_rows: drop to drop "
                        "and count them."
                    )
                else:
                    self.report.add(
                        Issue(
                            table,
                            target,
                            f"cannot be read as {kind_words[kind]}; set to missing",
                            bad[0],
                            examples,
                            "repaired",
                        )
                    )
            if required:
                missing = self._one(f"SELECT count(*) FROM {typed} WHERE {raw} IS NULL")
                if missing:
                    self.report.add(
                        Issue(
                            table, target, "missing value in a required column", missing, "", action
                        )
                    )
                    errors.append(
                        f"column '{target}': {missing:,} row(s) have no value. Fix: fill them, or set "
                        f"sources.{table}.invalid_rows: drop."
                    )
                keep.append(f"{col} IS NOT NULL")
        if contract.key:
            key = ", ".join(map(_ident, contract.key))
            dup_n, dups = self._examples(
                f"(SELECT {key}, count(*) AS n FROM {typed} GROUP BY ALL HAVING count(*) > 1)",
                "TRUE",
                f"CAST(({key}) AS VARCHAR)" if len(contract.key) > 1 else key,
                total="sum(n - 1)",
            )
            if dup_n:
                shown = ", ".join(map(repr, dups))
                self.report.add(
                    Issue(
                        table,
                        "+".join(contract.key),
                        "duplicate key",
                        dup_n,
                        shown,
                        "dropped" if drop else "error",
                    )
                )
                errors.append(
                    f"key {'+'.join(contract.key)} is not unique: {dup_n:,} extra row(s), e.g. {shown}. "
                    f"Fix: remove the duplicates, or set sources.{table}.invalid_rows: drop to keep the "
                    "first row of each key."
                )
        if (
            "customer_id" in contract.required
            and table != "customers"
            and "customers" in self.report.tables
        ):
            cond = f"customer_id NOT IN (SELECT customer_id FROM {_ident('customers')})"
            n_unknown, unknown = self._examples(
                typed, f"customer_id IS NOT NULL AND {cond}", "customer_id"
            )
            if n_unknown:
                shown = ", ".join(map(repr, unknown))
                self.report.add(
                    Issue(
                        table,
                        "customer_id",
                        "unknown customer (not in the customers table)",
                        n_unknown,
                        shown,
                        action,
                    )
                )
                errors.append(
                    f"column 'customer_id': {n_unknown:,} row(s) refer to customers that are not in the "
                    f"customers table, e.g. {shown}. Fix: export the missing customers too, or set "
                    f"sources.{table}.invalid_rows: drop."
                )
                keep.append(f"customer_id IN (SELECT customer_id FROM {_ident('customers')})")
        if errors and not drop:
            raise SchemaError(
                table, f"{src.describe()} breaks the table contract:\n  - " + "\n  - ".join(errors)
            )
        return keep

    def _examples(
        self, relation: str, where: str, value: str, total: str = "count(*)"
    ) -> tuple[int, list[Any]]:
        n = self._one(f"SELECT COALESCE({total}, 0) FROM {relation} WHERE {where}")
        if not n:
            return 0, []
        vals = [
            r[0]
            for r in self._sql(
                f"SELECT DISTINCT {value} FROM {relation} WHERE {where} LIMIT {_MAX_EXAMPLES}"
            )
        ]
        return int(n), vals

    def _row_numbers(self, src: SourceConfig, column: str, values: list[Any]) -> list[int | None]:
        """Data-row numbers (1 = first row after the header) of the first occurrence of each value.

        Only called when there is something to report, so a second read of one column is fine.
        """
        if src.path is None:
            return [None] * len(values)
        path = self.cfg.path(src.path)
        wanted = {str(v): None for v in values}
        offset = 0
        try:
            if src.kind == "csv":
                chunks = pd.read_csv(
                    path,
                    usecols=[column],
                    dtype=str,
                    chunksize=500_000,
                    keep_default_na=False,
                    sep=src.delimiter or ",",
                    encoding=src.encoding,
                )
                series_iter = (c[column] for c in chunks)
            elif src.kind == "parquet":
                import pyarrow.parquet as pq

                pf = pq.ParquetFile(path)
                series_iter = (
                    b.column(0).to_pandas().astype(str) for b in pf.iter_batches(columns=[column])
                )
            else:
                series_iter = iter(
                    [
                        pd.read_excel(path, sheet_name=src.sheet or 0, usecols=[column])[
                            column
                        ].astype(str)
                    ]
                )
            for s in series_iter:
                hit = s.isin(list(wanted)).to_numpy().nonzero()[0]
                for i in hit:
                    v = s.iloc[i]
                    if wanted.get(v) is None:
                        wanted[v] = offset + int(i) + 1
                offset += len(s)
                if all(r is not None for r in wanted.values()):
                    break
        except (ValueError, OSError):
            return [None] * len(values)
        return [wanted.get(str(v)) for v in values]

    def _count_returns(self) -> None:
        n, total = self._sql(
            "SELECT count(*), COALESCE(sum(amount), 0) FROM orders WHERE amount < 0"
        )[0]
        if n:
            self.report.add(
                Issue(
                    "orders",
                    "amount",
                    f"returns (negative amounts, {total:,.0f} in total)",
                    n,
                    "",
                    "kept",
                )
            )
        zero = self._one("SELECT count(*) FROM orders WHERE amount = 0")
        if zero:
            self.report.add(Issue("orders", "amount", "zero amounts", zero, "", "kept"))
