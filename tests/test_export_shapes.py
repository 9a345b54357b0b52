"""Exports shaped as real CRM/ERP exports are: order lines, legacy encodings, odd dialects.

Every file here is written byte for byte the way the exporting program writes it, and the
expected values are computed in the test from the rows it wrote, independently of segwork.
"""

from __future__ import annotations

from pathlib import Path

import pandas as pd
import pytest

from segwork.config import load_config
from segwork.schema import SchemaError
from segwork.sources import load_tables
from tests.conftest import write_config

# An invoice-line export as retailers' ERPs write it (the shape of the UCI Online Retail file):
# one row per product line, the invoice number repeats, cancellations are invoices "C…" with
# negative quantities, some lines have no customer, dates are US month/day with a time.
INVOICE_HEADER = "InvoiceNo,StockCode,Description,Quantity,InvoiceDate,UnitPrice,CustomerID,Country"
INVOICE_LINES = [
    (
        "536365",
        "85123A",
        "WHITE HANGING HEART T-LIGHT HOLDER",
        6,
        "12/1/2010 8:26",
        2.55,
        "17850",
        "United Kingdom",
    ),
    (
        "536365",
        "71053",
        "WHITE METAL LANTERN",
        6,
        "12/1/2010 8:26",
        3.39,
        "17850",
        "United Kingdom",
    ),
    (
        "536365",
        "84406B",
        "CREAM CUPID HEARTS COAT HANGER",
        8,
        "12/1/2010 8:28",
        2.75,
        "17850",
        "United Kingdom",
    ),
    (
        "536366",
        "22633",
        "HAND WARMER UNION JACK",
        6,
        "12/1/2010 8:28",
        1.85,
        "17850",
        "United Kingdom",
    ),
    (
        "536367",
        "84879",
        "ASSORTED COLOUR BIRD ORNAMENT",
        32,
        "12/1/2010 8:34",
        1.69,
        "13047",
        "United Kingdom",
    ),
    (
        "536367",
        "22745",
        "POPPY'S PLAYHOUSE BEDROOM",
        6,
        "12/1/2010 8:34",
        2.1,
        "13047",
        "United Kingdom",
    ),
    (
        "536367",
        "22748",
        "POPPY'S PLAYHOUSE KITCHEN",
        -2,
        "12/1/2010 8:34",
        2.1,
        "13047",
        "United Kingdom",
    ),
    ("C536379", "D", "Discount", -1, "12/1/2010 9:41", 27.5, "14527", "United Kingdom"),
    (
        "C536383",
        "35004C",
        "SET OF 3 COLOURED  FLYING DUCKS",
        -1,
        "12/1/2010 9:49",
        4.65,
        "15311",
        "United Kingdom",
    ),
    ("536414", "22139", "", 56, "12/1/2010 11:52", 0.0, "", "United Kingdom"),
    (
        "536544",
        "21773",
        "DECORATIVE ROSE BATHROOM BOTTLE",
        1,
        "12/1/2010 14:32",
        2.51,
        "",
        "United Kingdom",
    ),
    (
        "536544",
        "21774",
        "DECORATIVE CATS BATHROOM BOTTLE",
        2,
        "12/1/2010 14:32",
        2.51,
        "",
        "United Kingdom",
    ),
    ("536370", "22728", "ALARM CLOCK BAKELIKE PINK", 24, "12/1/2010 8:45", 3.75, "12583", "France"),
    ("536370", "22727", "ALARM CLOCK BAKELIKE RED", 24, "12/1/2010 8:45", 3.75, "12583", "France"),
    (
        "536371",
        "22086",
        "PAPER CHAIN KIT 50'S CHRISTMAS",
        80,
        "12/1/2010 9:00",
        2.55,
        "13748",
        "United Kingdom",
    ),
    (
        "536371",
        "22910",
        "PAPER CHAIN KIT VINTAGE CHRISTMAS",
        8,
        "12/1/2010 9:00",
        2.95,
        "13749",
        "United Kingdom",
    ),
]
INVOICE_COLUMNS = {
    "order_id": "InvoiceNo",
    "customer_id": "CustomerID",
    "order_date": "InvoiceDate",
    "quantity": "Quantity",
    "unit_price": "UnitPrice",
}


def _write_invoices(folder: Path, lines: list[tuple] = INVOICE_LINES) -> pd.DataFrame:
    text = INVOICE_HEADER + "\r\n"
    for row in lines:
        cells = [f'"{c}"' if isinstance(c, str) and "," in c else str(c) for c in row]
        text += ",".join(cells) + "\r\n"
    (folder / "Online Retail.csv").write_bytes(text.encode("utf-8"))
    return pd.DataFrame(lines, columns=INVOICE_HEADER.split(","))


def _invoices_config(folder: Path, **options) -> Path:
    orders = {
        "path": "Online Retail.csv",
        "shape": "lines",
        "columns": INVOICE_COLUMNS,
        "date_format": "%m/%d/%Y %H:%M",
        **options,
    }
    return write_config(folder, {"orders": orders})


def test_invoice_lines_are_summed_into_orders_with_cancellations_as_returns(
    tmp_path: Path,
) -> None:
    lines = _write_invoices(tmp_path)
    cfg = _invoices_config(tmp_path, cancel_prefix="C", invalid_rows="drop")
    tables = load_tables(load_config(cfg))
    orders = tables.orders.to_pandas().set_index("order_id").sort_index()

    # The expectation, computed from the lines written: lines with a customer, orders whose
    # lines all name one customer; amount = sum(quantity * unit price), returns negative.
    good = lines[lines["CustomerID"] != ""]
    one_customer = good.groupby("InvoiceNo")["CustomerID"].nunique() == 1
    good = good[good["InvoiceNo"].map(one_customer)]
    line_amount = good["Quantity"] * good["UnitPrice"]
    expected = line_amount.groupby(good["InvoiceNo"]).sum().sort_index()
    assert list(orders.index) == list(expected.index)
    assert orders["amount"].to_numpy() == pytest.approx(expected.to_numpy(), abs=1e-9)
    assert orders.loc["536365", "amount"] == pytest.approx(6 * 2.55 + 6 * 3.39 + 8 * 2.75)
    assert orders.loc["536367", "amount"] == pytest.approx(32 * 1.69 + 6 * 2.1 - 2 * 2.1)
    assert orders.loc["C536379", "amount"] == pytest.approx(-27.5)
    assert orders.loc["536365", "order_date"] == pd.Timestamp("2010-12-01 08:26")  # earliest
    assert orders.loc["536365", "quantity"] == 20 and orders.loc["536365", "lines"] == 3
    assert orders.loc["536370", "Country"] == "France"  # the same on every line: carried
    assert "Description" not in orders.columns  # differs between lines: left out, counted
    assert orders.loc["536365", "customer_id"] == "17850"

    stats = tables.report.tables["orders"]
    assert (stats.rows_read, stats.rows_kept, stats.table_rows) == (16, 11, 6)
    assert stats.unit == "order lines"
    issues = {(i.column, i.problem.split(":")[0]): i for i in tables.report.issues}
    missing = issues[("customer_id", "missing value in a required column")]
    assert (missing.count, missing.action) == (3, "dropped")
    mixed = issues[("customer_id", "lines of one order name different customers")]
    assert (mixed.count, mixed.action, mixed.examples) == (2, "dropped", "order '536371'")
    cancels = issues[("order_id", "cancellations (order id starts with 'C')")]
    assert (cancels.count, cancels.action) == (2, "kept")
    assert issues[("quantity", "order lines with a negative quantity")].count == 3
    returns = next(i for i in tables.report.issues if i.problem.startswith("returns"))
    assert returns.count == 2  # the two cancellations; 536367 nets positive
    assert issues[("Description", "differs between the lines of an order")].count == 3
    # customers were derived from the orders that were kept
    assert tables.customers["customer_id"].tolist() == sorted(set(good["CustomerID"]))


def test_cancel_prefix_makes_positive_quantities_returns(tmp_path: Path) -> None:
    lines = [
        ("A1", "x", "a", 2, "12/1/2010 8:00", 10.0, "1", "CZ"),
        ("C1", "x", "a", 2, "12/2/2010 8:00", 10.0, "1", "CZ"),  # a credit note with + quantity
    ]
    _write_invoices(tmp_path, lines)
    tables = load_tables(load_config(_invoices_config(tmp_path, cancel_prefix="C")))
    orders = tables.orders.to_pandas()
    amounts = dict(zip(orders["order_id"], orders["amount"], strict=True))
    assert amounts == {"A1": 20.0, "C1": -20.0}


def test_line_amounts_are_summed_when_the_file_gives_them(tmp_path: Path) -> None:
    pd.DataFrame(
        {
            "doklad": ["F1", "F1", "F2"],
            "zakaznik": ["7", "7", "8"],
            "datum": ["2025-03-02", "2025-03-01", "2025-03-05"],
            "castka": [100.5, 20.25, 7.0],
        }
    ).to_csv(tmp_path / "radky.csv", index=False)
    cfg = write_config(
        tmp_path,
        {
            "orders": {
                "path": "radky.csv",
                "shape": "lines",
                "columns": {
                    "order_id": "doklad",
                    "customer_id": "zakaznik",
                    "order_date": "datum",
                    "amount": "castka",
                },
            }
        },
    )
    orders = load_tables(load_config(cfg)).orders.to_pandas().set_index("order_id")
    assert orders.loc["F1", "amount"] == pytest.approx(120.75)
    assert orders.loc["F1", "order_date"] == pd.Timestamp("2025-03-01")
    assert orders.loc["F2", "amount"] == pytest.approx(7.0)


def test_lines_without_customer_are_an_error_by_default(tmp_path: Path) -> None:
    _write_invoices(tmp_path)
    with pytest.raises(SchemaError) as err:
        load_tables(load_config(_invoices_config(tmp_path, cancel_prefix="C")))
    msg = str(err.value)
    assert "column 'customer_id': 3 row(s) have no value" in msg
    assert "lines of one order name different customers" in msg and "order '536371'" in msg


def test_order_lines_read_as_orders_are_refused_even_with_drop(tmp_path: Path) -> None:
    _write_invoices(tmp_path)
    columns = {**INVOICE_COLUMNS, "amount": "UnitPrice"}
    del columns["unit_price"]
    cfg = write_config(
        tmp_path,
        {
            "orders": {
                "path": "Online Retail.csv",
                "columns": columns,
                "date_format": "%m/%d/%Y %H:%M",
                "invalid_rows": "drop",
            }
        },
    )
    with pytest.raises(SchemaError) as err:
        load_tables(load_config(cfg))
    msg = str(err.value)
    assert "12 of 16 rows share their order id" in msg
    assert "looks like order lines" in msg and "sources.orders.shape: lines" in msg


def test_lines_need_quantity_and_unit_price_or_an_amount(tmp_path: Path) -> None:
    _write_invoices(tmp_path)
    columns = {k: v for k, v in INVOICE_COLUMNS.items() if k != "unit_price"}
    cfg = write_config(
        tmp_path,
        {"orders": {"path": "Online Retail.csv", "shape": "lines", "columns": columns}},
    )
    with pytest.raises(
        SchemaError, match=r"unit_price missing.*\nFix: map them under sources.orders.columns"
    ):
        load_tables(load_config(cfg))
