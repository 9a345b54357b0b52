"""Reading and validating sources: each bad input gets a message naming table, column, rows and fix."""

from __future__ import annotations

import sqlite3
from pathlib import Path

import ibis
import pandas as pd
import pytest

from segwork.config import load_config
from segwork.schema import SchemaError
from segwork.sources import load_tables
from tests.conftest import write_config


def _orders(folder: Path, rows: list[tuple], name: str = "orders.csv") -> None:
    pd.DataFrame(rows, columns=["order_id", "customer_id", "order_date", "amount"]).to_csv(
        folder / name, index=False
    )


def _load(folder: Path, orders: dict | None = None, **sources):
    cfg = write_config(
        folder,
        {
            "customers": {"path": "customers.csv"},
            "orders": orders or {"path": "orders.csv"},
            **sources,
        },
    )
    return load_tables(load_config(cfg))


def test_valid_tables_are_typed_and_history_stays_in_ibis(tiny_config: Path) -> None:
    tables = load_tables(load_config(tiny_config))
    assert isinstance(tables.orders, ibis.Table) and isinstance(tables.interactions, ibis.Table)
    assert isinstance(tables.customers, pd.DataFrame)
    assert tables.customers["customer_id"].tolist() == [
        "001",
        "002",
        "003",
        "004",
    ]  # leading zeros kept
    assert tables.customers["email_opt_in"].tolist() == [True, False, True, True]
    assert pd.api.types.is_datetime64_any_dtype(tables.customers["birth_date"])
    orders = tables.orders.to_pandas()
    assert pd.api.types.is_datetime64_any_dtype(orders["order_date"])
    assert orders["amount"].sum() == pytest.approx(1390.5)
    returns = [i for i in tables.report.issues if i.problem.startswith("returns")]
    assert len(returns) == 1 and returns[0].count == 1 and returns[0].action == "kept"
    assert tables.report.tables["orders"].rows_kept == 6


def test_column_mapping_renames_and_bad_mapping_is_named(tiny_crm: Path) -> None:
    df = pd.read_csv(tiny_crm / "orders.csv", dtype=str).rename(
        columns={"order_date": "Datum", "amount": "Castka"}
    )
    df.to_csv(tiny_crm / "orders.csv", index=False)
    tables = _load(
        tiny_crm, {"path": "orders.csv", "columns": {"order_date": "Datum", "amount": "Castka"}}
    )
    assert {"order_date", "amount"} <= set(tables.orders.columns)
    with pytest.raises(
        SchemaError, match=r"(?s)maps 'order_date' to the column 'Datumm'.*did you mean 'Datum'"
    ):
        _load(
            tiny_crm,
            {"path": "orders.csv", "columns": {"order_date": "Datumm", "amount": "Castka"}},
        )


def test_missing_required_column_lists_those_present(tiny_crm: Path) -> None:
    pd.read_csv(tiny_crm / "orders.csv", dtype=str).drop(columns="amount").to_csv(
        tiny_crm / "orders.csv", index=False
    )
    with pytest.raises(SchemaError) as err:
        _load(tiny_crm)
    msg = str(err.value)
    assert "table 'orders'" in msg and "'amount'" in msg
    assert "columns present: order_id, customer_id, order_date" in msg
    assert "sources.orders.columns" in msg


def test_unparsable_date_and_amount_give_row_numbers_and_examples(tiny_crm: Path) -> None:
    _orders(
        tiny_crm,
        [
            ("A1", "001", "2025-01-01", "10"),
            ("A2", "001", "31/02/2025", "12"),
            ("A3", "002", "2025-02-01", "12,5 Kč"),
            ("A4", "002", "2025-02-02", "7"),
        ],
    )
    with pytest.raises(SchemaError) as err:
        _load(tiny_crm)
    msg = str(err.value)
    assert "column 'order_date': 1 value(s) cannot be read as dates: row 2: '31/02/2025'" in msg
    assert "column 'amount': 1 value(s) cannot be read as numbers: row 3: '12,5 Kč'" in msg
    assert "date_format" in msg and "invalid_rows: drop" in msg


def test_date_format_option_reads_non_iso_dates(tiny_crm: Path) -> None:
    _orders(tiny_crm, [("A1", "001", "01.02.2025", 10), ("A2", "002", "28.02.2025", 5)])
    tables = _load(tiny_crm, {"path": "orders.csv", "date_format": "%d.%m.%Y"})
    dates = sorted(tables.orders.to_pandas()["order_date"])
    assert dates == [pd.Timestamp("2025-02-01"), pd.Timestamp("2025-02-28")]


def test_duplicate_keys_and_unknown_customers(tiny_crm: Path) -> None:
    _orders(
        tiny_crm,
        [
            ("A1", "001", "2025-01-01", 10),
            ("A1", "001", "2025-01-01", 10),
            ("A2", "999", "2025-01-02", 5),
            ("A3", "002", "2025-01-03", 5),
        ],
    )
    with pytest.raises(SchemaError) as err:
        _load(tiny_crm)
    msg = str(err.value)
    assert "key order_id is not unique: 1 extra row(s), e.g. 'A1'" in msg
    assert "1 row(s) refer to customers that are not in the customers table, e.g. '999'" in msg


def test_drop_mode_drops_and_counts_every_bad_row(tiny_crm: Path) -> None:
    _orders(
        tiny_crm,
        [
            ("A1", "001", "2025-01-01", 10),
            ("A1", "001", "2025-01-01", 10),
            ("A2", "999", "2025-01-02", 5),
            ("A3", "002", "not a date", 5),
            ("A4", "002", "2025-01-03", None),
            ("A5", "003", "2025-01-04", 7),
        ],
    )
    tables = _load(tiny_crm, {"path": "orders.csv", "invalid_rows": "drop"})
    kept = tables.orders.to_pandas()
    assert sorted(kept["order_id"]) == ["A1", "A5"]
    stats = tables.report.tables["orders"]
    assert (stats.rows_read, stats.rows_kept) == (6, 2)
    problems = {
        (i.column, i.problem.split(" (")[0]): (i.count, i.action) for i in tables.report.issues
    }
    assert problems[("order_date", "cannot be read as dates")] == (1, "dropped")
    assert problems[("amount", "missing value in a required column")] == (1, "dropped")
    assert problems[("order_id", "duplicate key")] == (1, "dropped")
    assert problems[("customer_id", "unknown customer")] == (1, "dropped")
    assert "dropped" in tables.report.summary()


def test_optional_column_that_cannot_be_read_is_repaired_and_counted(tiny_crm: Path) -> None:
    df = pd.read_csv(tiny_crm / "customers.csv", dtype=str)
    df.loc[1, "birth_date"] = "sometime"
    df.to_csv(tiny_crm / "customers.csv", index=False)
    tables = _load(tiny_crm)
    assert tables.customers["birth_date"].isna().sum() == 2  # one was missing, one repaired
    issue = next(i for i in tables.report.issues if i.column == "birth_date")
    assert (issue.count, issue.action, issue.examples) == (1, "repaired", "row 2: 'sometime'")


def test_empty_table_empty_file_and_wrong_type(tiny_crm: Path) -> None:
    (tiny_crm / "orders.csv").write_text("order_id,customer_id,order_date,amount\n")
    with pytest.raises(SchemaError, match=r"table 'orders': orders\.csv has no data rows"):
        _load(tiny_crm)
    (tiny_crm / "orders.csv").write_text("")
    with pytest.raises(SchemaError, match=r"could not read orders\.csv as csv: the file is empty"):
        _load(tiny_crm)
    (tiny_crm / "orders.parquet").write_text("order_id,customer_id\nA1,001\n")
    with pytest.raises(
        SchemaError, match=r"(?s)could not read orders\.parquet as parquet.*valid parquet file"
    ):
        _load(tiny_crm, {"path": "orders.parquet"})


def test_parquet_excel_and_sql_sources_read_the_same_tables(tiny_crm: Path) -> None:
    orders = pd.read_csv(tiny_crm / "orders.csv", dtype={"customer_id": str})
    orders["order_date"] = pd.to_datetime(orders["order_date"])
    orders.to_parquet(tiny_crm / "orders.parquet")
    customers = pd.read_csv(tiny_crm / "customers.csv", dtype={"customer_id": str})
    customers.to_excel(tiny_crm / "customers.xlsx", index=False)
    with sqlite3.connect(tiny_crm / "crm.db") as db:
        orders.to_sql("orders", db, index=False)
    csv = _load(tiny_crm).orders.to_pandas().sort_values("order_id", ignore_index=True)
    cfg = write_config(
        tiny_crm, {"customers": {"path": "customers.xlsx"}, "orders": {"path": "orders.parquet"}}
    )
    pq = load_tables(load_config(cfg))
    assert pq.customers["customer_id"].tolist() == ["001", "002", "003", "004"]
    pd.testing.assert_frame_equal(
        pq.orders.to_pandas().sort_values("order_id", ignore_index=True), csv, check_dtype=False
    )
    cfg = write_config(
        tiny_crm,
        {
            "customers": {"path": "customers.csv"},
            "orders": {"url": f"sqlite:///{tiny_crm / 'crm.db'}", "table": "orders"},
        },
    )
    sql = load_tables(load_config(cfg))
    pd.testing.assert_frame_equal(
        sql.orders.to_pandas().sort_values("order_id", ignore_index=True), csv, check_dtype=False
    )


def test_without_a_customers_source_customers_are_derived_from_the_other_tables(
    tiny_crm: Path,
) -> None:
    cfg = write_config(
        tiny_crm, {"orders": {"path": "orders.csv"}, "interactions": {"path": "interactions.csv"}}
    )
    pd.DataFrame({"customer_id": ["009"], "occurred_at": ["2025-01-01"], "kind": ["call"]}).to_csv(
        tiny_crm / "interactions.csv", mode="a", header=False, index=False
    )
    tables = load_tables(load_config(cfg))
    orders = pd.read_csv(tiny_crm / "orders.csv", dtype=str)
    interactions = pd.read_csv(tiny_crm / "interactions.csv", dtype=str)
    expected = sorted(set(orders["customer_id"]) | set(interactions["customer_id"]))
    assert tables.customers["customer_id"].tolist() == expected == ["001", "002", "003", "009"]
    assert list(tables.customers.columns) == ["customer_id"]
    derived = tables.report.derived["customers"]
    assert derived.rows == 4
    assert derived.from_tables == {"orders": 3, "interactions": 4}
    assert tables.report.tables["customers"].source == (
        "derived from the customer ids of orders (3 ids), interactions (4 ids)"
    )
    # no unknown-customer check: every interaction is kept, "009" included
    assert tables.report.tables["interactions"].rows_kept == 5
    assert not [i for i in tables.report.issues if "unknown customer" in i.problem]
    assert "derived from the customer ids" in tables.report.summary()


def test_a_customers_only_export_has_no_orders(tiny_crm: Path) -> None:
    tables = load_tables(
        load_config(write_config(tiny_crm, {"customers": {"path": "customers.csv"}}))
    )
    assert tables.orders is None and tables.interactions is None
    assert len(tables.customers) == 4 and not tables.report.derived


def test_an_empty_required_text_value_is_missing_like_any_other(tiny_crm: Path) -> None:
    """An interaction without a kind, or an exposure without a variant, as a CRM writes them
    (an empty cell, or a cell of spaces from a fixed-width field), is an error naming the
    column, or dropped and counted."""
    (tiny_crm / "x.csv").write_text(
        "customer_id,occurred_at,kind\r\n001,2025-05-01,\r\n002,2025-05-01,call\r\n"
        "003,2025-05-02,   \r\n",
        encoding="utf-8",
    )
    with pytest.raises(SchemaError, match=r"column 'kind': 2 row\(s\) have no value\. Fix: fill"):
        _load(tiny_crm, interactions={"path": "x.csv"})
    tables = _load(tiny_crm, interactions={"path": "x.csv", "invalid_rows": "drop"})
    assert tables.interactions.to_pandas()["kind"].tolist() == ["call"]
    issue = next(i for i in tables.report.issues if i.column == "kind")
    assert (issue.count, issue.action) == (2, "dropped")
    (tiny_crm / "ab.csv").write_text(
        "customer_id;campaign_id;variant\n001;spring;control\n002;spring;\n003;spring;offer\n",
        encoding="utf-8",
    )
    with pytest.raises(SchemaError, match=r"table 'campaign_exposures'.*\n.*column 'variant': 1 "):
        _load(tiny_crm, campaign_exposures={"path": "ab.csv"})


def test_history_after_the_analysis_date_is_counted_in_every_table(tiny_crm: Path) -> None:
    """Interactions and campaign assignments after the analysis date (2025-06-30) are counted
    as orders after it are; those on the date itself are not."""
    (tiny_crm / "x.csv").write_text(
        "customer_id,occurred_at,kind\n001,2025-06-30 18:00,call\n002,2031-01-01,call\n"
        "003,2025-07-01,mail\n",
        encoding="utf-8",
    )
    (tiny_crm / "ab.csv").write_text(
        "customer_id,campaign_id,variant,assigned_at\n001,spring,control,2025-06-01\n"
        "002,spring,offer,2026-03-02\n",
        encoding="utf-8",
    )
    tables = _load(tiny_crm, interactions={"path": "x.csv"}, campaign_exposures={"path": "ab.csv"})
    late = {i.table: i for i in tables.report.issues if "after the analysis date" in i.problem}
    x, ab = late["interactions"], late["campaign_exposures"]
    assert (x.column, x.count, x.unit, x.action) == ("occurred_at", 2, "interactions", "kept")
    assert x.examples == "2025-07-01, 2031-01-01"
    assert "left out of analyses as of that date" in x.problem
    assert (ab.column, ab.count, ab.examples) == ("assigned_at", 1, "2026-03-02")
    assert "check analysis_date" in ab.problem
    assert "- interactions.occurred_at: after the analysis date 2025-06-30" in (
        tables.report.summary()
    )


def test_excel_day_one_is_no_order_date(tiny_crm: Path) -> None:
    """1900-01-01 is what Excel shows for a date cell holding 0 or 1: a placeholder."""
    _orders(tiny_crm, [("A1", "001", "2025-01-10", 10.0), ("A2", "002", "1900-01-01", 5.0)])
    with pytest.raises(
        SchemaError,
        match=r"row 2: '1900-01-01'\. Fix: correct these rows \(dates "
        r"on or before 1900-01-01 are placeholders",
    ):
        _load(tiny_crm)
    tables = _load(tiny_crm, {"path": "orders.csv", "invalid_rows": "drop"})
    assert tables.orders.to_pandas()["order_id"].tolist() == ["A1"]


@pytest.mark.parametrize("encoding", ["cp1250", "windows-1250", "latin-2"])
def test_a_utf8_file_under_a_legacy_encoding_is_named(tiny_crm: Path, encoding: str) -> None:
    """The config says cp1250 (last year's export), this year's file is UTF-8: reading it would
    turn Nováková into NovĂˇkovĂˇ without a word."""
    (tiny_crm / "customers.csv").write_bytes(
        "customer_id;Jméno\r\n001;Jana Nováková\r\n002;Petr Šťastný\r\n".encode()
    )
    with pytest.raises(SchemaError) as err:
        _load(tiny_crm, customers={"path": "customers.csv", "encoding": encoding})
    msg = str(err.value)
    assert f"customers.csv is UTF-8 text, but sources.customers.encoding says {encoding}" in msg
    assert "line 1 would read as" in msg and "'customer_id;Jméno'" in msg
    assert "Fix: remove sources.customers.encoding (or set it to utf-8)" in msg
    # the same names saved as cp1250 are read right; plain ASCII is no evidence either way
    (tiny_crm / "customers.csv").write_bytes(
        "customer_id;Jméno\r\n001;Jana Nováková\r\n002;Petr Šťastný\r\n003;Eva Dvořák\r\n".encode(
            "cp1250"
        )
    )
    names = _load(tiny_crm, customers={"path": "customers.csv", "encoding": "cp1250"}).customers
    assert names["Jméno"].tolist() == ["Jana Nováková", "Petr Šťastný", "Eva Dvořák"]
    (tiny_crm / "customers.csv").write_bytes(
        b"customer_id;name\r\n001;Jana\r\n002;Petr\r\n003;Eva\r\n"
    )
    names = _load(tiny_crm, customers={"path": "customers.csv", "encoding": encoding}).customers
    assert names["name"].tolist() == ["Jana", "Petr", "Eva"]
