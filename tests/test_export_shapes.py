"""Exports shaped as real CRM/ERP exports are: order lines, legacy encodings, odd dialects.

Every file here is written byte for byte the way the exporting program writes it, and the
expected values are computed in the test from the rows it wrote, independently of segwork.
"""

from __future__ import annotations

import codecs
import tempfile
from pathlib import Path

import numpy as np
import pandas as pd
import pyarrow as pa
import pyarrow.parquet as pq
import pytest
import yaml

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
    differs = issues[
        (
            "Description",
            "differs between the lines of an order (one value per line, like a product)",
        )
    ]
    assert (differs.count, differs.unit) == (3, "orders")
    assert (missing.unit, cancels.unit) == ("order lines", "orders")
    assert "3 order lines, dropped" in tables.report.summary()
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


# --- file dialects -----------------------------------------------------------------------------

CZECH_CUSTOMERS = [
    ("0001", "Příliš žluťoučký kůň s.r.o.", "Jihomoravský kraj", "1 234,50"),
    ("0002", "Šťastná Řeháková", "Zlínský kraj", "12\u00a0345,00"),  # Excel's no-break space
    ("0003", "Ďábelské úpění", "Hlavní město Praha", "-7,25"),
]
CZECH_VALUES = [1234.5, 12345.0, -7.25]


def _czech_csv(encoding: str, *, bom: bytes = b"", sep: str = ";") -> bytes:
    """Customers as Czech Excel saves 'CSV (oddělený středníkem)': ';', decimal comma, CRLF."""
    lines = [sep.join(["Číslo zákazníka", "Název", "Kraj", "Obrat"])]
    lines += [sep.join(row) for row in CZECH_CUSTOMERS]
    return bom + "\r\n".join(lines + [""]).encode(encoding)


def _czech_config(folder: Path, file: str, **options) -> Path:
    customers = {
        "path": file,
        "columns": {"customer_id": "Číslo zákazníka", "annual_revenue": "Obrat"},
        **options,
    }
    return write_config(folder, {"customers": customers})


def _assert_czech(customers: pd.DataFrame) -> None:
    assert customers["customer_id"].tolist() == [r[0] for r in CZECH_CUSTOMERS]
    assert customers["Název"].tolist() == [r[1] for r in CZECH_CUSTOMERS]
    assert customers["Kraj"].tolist() == [r[2] for r in CZECH_CUSTOMERS]
    assert customers["annual_revenue"].tolist() == CZECH_VALUES


@pytest.mark.parametrize(
    ("encoding", "codec"),
    [("cp1250", "cp1250"), ("windows-1250", "cp1250"), ("latin-2", "iso8859_2")],
)
def test_legacy_encodings_are_converted_and_the_copy_removed(
    tmp_path: Path, encoding: str, codec: str, monkeypatch
) -> None:
    (tmp_path / "zakaznici.csv").write_bytes(_czech_csv(codec))
    temp = tmp_path / "tmp"
    temp.mkdir()
    monkeypatch.setattr(tempfile, "tempdir", str(temp))
    cfg = _czech_config(tmp_path, "zakaznici.csv", encoding=encoding, delimiter=";", decimal=",")
    _assert_czech(load_tables(load_config(cfg)).customers)
    assert list(temp.iterdir()) == []  # the UTF-8 copy DuckDB read is gone


def test_a_file_that_is_not_utf8_names_the_encoding_key(tmp_path: Path) -> None:
    (tmp_path / "zakaznici.csv").write_bytes(_czech_csv("cp1250"))
    cfg = _czech_config(tmp_path, "zakaznici.csv", delimiter=";", decimal=",")
    with pytest.raises(SchemaError) as err:
        load_tables(load_config(cfg))
    msg = str(err.value)
    assert "zakaznici.csv is not UTF-8 text: line 1 has the byte(s) 0xc8" in msg
    assert "Fix: set sources.customers.encoding" in msg and "cp1250" in msg


def test_a_wrong_encoding_names_the_line(tmp_path: Path) -> None:
    # cp1250 bytes declared as ascii: the first non-ASCII letter is on line 1 (the header)
    (tmp_path / "zakaznici.csv").write_bytes(_czech_csv("cp1250"))
    cfg = _czech_config(tmp_path, "zakaznici.csv", encoding="ascii", decimal=",")
    with pytest.raises(SchemaError, match=r"is not ascii text: line 1 has the byte\(s\) 0xc8"):
        load_tables(load_config(cfg))
    # UTF-8 bytes declared as ascii: said to be UTF-8, with the key to change
    (tmp_path / "zakaznici.csv").write_bytes(_czech_csv("utf-8"))
    with pytest.raises(
        SchemaError, match=r"is UTF-8 text, but sources.customers.encoding says ascii: line 1 "
    ):
        load_tables(load_config(cfg))


@pytest.mark.parametrize(
    ("bom", "codec", "options"),
    [
        (codecs.BOM_UTF8, "utf-8", {}),  # Excel's "CSV UTF-8"
        (b"", "utf-16-le", {"encoding": "utf-16-le"}),  # declared, no BOM
        (codecs.BOM_UTF16_LE, "utf-16-le", {}),  # Excel's "Unicode text": found by its BOM
        (codecs.BOM_UTF16_BE, "utf-16-be", {"encoding": "utf-16"}),
    ],
)
def test_boms_and_utf16(tmp_path: Path, bom: bytes, codec: str, options: dict) -> None:
    (tmp_path / "zakaznici.txt").write_bytes(_czech_csv(codec, bom=bom, sep="\t"))
    cfg = _czech_config(tmp_path, "zakaznici.txt", decimal=",", **options)
    _assert_czech(load_tables(load_config(cfg)).customers)


def test_thousands_separators(tmp_path: Path) -> None:
    (tmp_path / "en.csv").write_text(
        'id,revenue\n1,"1,234.50"\n2,"1,000,000"\n3,12.5\n', encoding="utf-8"
    )
    cfg = write_config(
        tmp_path,
        {
            "customers": {
                "path": "en.csv",
                "thousands": ",",
                "columns": {"customer_id": "id", "annual_revenue": "revenue"},
            }
        },
    )
    revenue = load_tables(load_config(cfg)).customers["annual_revenue"].tolist()
    assert revenue == [1234.5, 1_000_000.0, 12.5]
    (tmp_path / "de.csv").write_text("id;revenue\n1;1.234,50\n2;1'000\n", encoding="utf-8")
    cfg = write_config(
        tmp_path,
        {
            "customers": {
                "path": "de.csv",
                "decimal": ",",
                "thousands": ".",
                "invalid_rows": "drop",
                "columns": {"customer_id": "id", "annual_revenue": "revenue"},
            }
        },
    )
    tables = load_tables(load_config(cfg))
    revenue = tables.customers.set_index("customer_id")["annual_revenue"]
    assert revenue["1"] == 1234.5
    assert pd.isna(revenue["2"])  # 1'000: not this format
    issue = next(i for i in tables.report.issues if i.column == "annual_revenue")
    assert (issue.count, issue.action, issue.examples) == (1, "repaired", 'row 2: "1\'000"')


CDNOW_LINES = [  # as the original CDNOW_master.txt: no header, padded, CRLF
    " 00001 19970101  1   11.77",
    " 00002 19970112  1   12.00",
    " 00002 19970112  5   77.00",
    " 00003 19970102  2   20.76",
    " 00003 19970330  2   20.76",
    " 00003 19970402  2   19.54",
    " 00004 19970101  2   29.33",
    " 00004 19971212  0    0.00",
]


def test_whitespace_separated_file_without_header(tmp_path: Path) -> None:
    (tmp_path / "CDNOW_master.txt").write_bytes(("\r\n".join(CDNOW_LINES) + "\r\n").encode())
    cfg = write_config(
        tmp_path,
        {
            "orders": {
                "path": "CDNOW_master.txt",
                "delimiter": "whitespace",
                "header": False,
                "column_names": ["customer_id", "date", "number_of_cds", "dollar_value"],
                "columns": {
                    "order_date": "date",
                    "quantity": "number_of_cds",
                    "amount": "dollar_value",
                },
                "date_format": "%Y%m%d",
            }
        },
    )
    tables = load_tables(load_config(cfg))
    raw = pd.DataFrame(
        [line.split() for line in CDNOW_LINES], columns=["cust", "date", "n", "amount"]
    ).astype({"amount": float})
    per_day = raw.groupby(["cust", "date"])["amount"].sum()
    orders = tables.orders.to_pandas().sort_values(["customer_id", "order_date"])
    assert len(orders) == len(per_day) == 7  # a purchase is a customer and a day
    assert orders["amount"].tolist() == pytest.approx(per_day.tolist())
    assert orders["customer_id"].tolist()[:2] == ["00001", "00002"]  # leading zeros kept
    assert orders["order_date"].iloc[0] == pd.Timestamp("1997-01-01")
    assert tables.customers["customer_id"].tolist() == ["00001", "00002", "00003", "00004"]
    zero = next(i for i in tables.report.issues if i.problem == "zero amounts")
    assert zero.count == 1
    # the wrong number of names is an error, not silently renamed columns
    data = yaml.safe_load((tmp_path / "config.yaml").read_text(encoding="utf-8"))
    data["sources"]["orders"]["column_names"] = ["customer_id", "date", "number_of_cds"]
    (tmp_path / "config.yaml").write_text(yaml.safe_dump(data), encoding="utf-8")
    with pytest.raises(SchemaError, match=r"has 4 column\(s\) on its first line, but sources"):
        load_tables(load_config(tmp_path / "config.yaml"))


def test_ragged_rows_name_the_line_and_its_fields(tmp_path: Path) -> None:
    (tmp_path / "orders.csv").write_text(
        "order_id;customer_id;order_date;amount\r\n"
        "1;7;2025-01-01;10,5\r\n"
        "2;7;2025-01-02;3\r\n"
        "3;8;2025-01-03;4;poznámka\r\n"
        "4;8;2025-01-04;5\r\n",
        encoding="utf-8",
    )
    for delimiter in (None, ";"):
        options = {"delimiter": delimiter} if delimiter else {}
        cfg = write_config(tmp_path, {"orders": {"path": "orders.csv", "decimal": ",", **options}})
        with pytest.raises(SchemaError) as err:
            load_tables(load_config(cfg))
        assert "line 4 has 5 fields, the header has 4 (fields separated by ';')" in str(err.value)


def test_lone_carriage_return_inside_quotes_is_read(tmp_path: Path) -> None:
    (tmp_path / "customers.csv").write_bytes(
        b'customer_id,note\r\n1,"first line\rsecond line"\r\n2,plain\r\n'
    )
    cfg = write_config(tmp_path, {"customers": {"path": "customers.csv"}})
    customers = load_tables(load_config(cfg)).customers
    assert customers["note"].tolist() == ["first line\rsecond line", "plain"]


def test_duplicate_headers_are_named(tmp_path: Path) -> None:
    (tmp_path / "orders.csv").write_text(
        "order_id,customer_id,order_date,amount,Amount\n1,7,2025-01-01,10,12\n", encoding="utf-8"
    )
    cfg = write_config(tmp_path, {"orders": {"path": "orders.csv"}})
    with pytest.raises(SchemaError, match=r"two columns named 'Amount' \(columns 4 and 5"):
        load_tables(load_config(cfg))


def _excel_with_title_rows(path: Path) -> pd.DataFrame:
    """An export as CRMs write xlsx: a title row and an export-date row above the header."""
    data = pd.DataFrame(
        {
            "Zákazník": ["00017", "00018", "00019"],
            "Datum": pd.to_datetime(["2025-01-05", "2025-02-06", "2025-03-07"]),
            "Doklad": ["F-1", "F-2", "F-3"],
            "Částka": [1500.5, 99.9, 0.0],
        }
    )
    with pd.ExcelWriter(path) as xl:
        pd.DataFrame([["Prodeje za rok 2025"], ["Exportováno 1.4.2025"]]).to_excel(
            xl, sheet_name="Prodeje", header=False, index=False
        )
        data.to_excel(xl, sheet_name="Prodeje", startrow=2, index=False)
        pd.DataFrame({"x": [1]}).to_excel(xl, sheet_name="Poznámky", index=False)
    return data


EXCEL_COLUMNS = {
    "customer_id": "Zákazník",
    "order_date": "Datum",
    "order_id": "Doklad",
    "amount": "Částka",
}


@pytest.mark.parametrize("skip_rows", [None, 2])
def test_excel_title_rows_above_the_header(tmp_path: Path, skip_rows: int | None) -> None:
    data = _excel_with_title_rows(tmp_path / "prodeje.xlsx")
    options = {"skip_rows": skip_rows} if skip_rows is not None else {}
    cfg = write_config(
        tmp_path,
        {
            "orders": {
                "path": "prodeje.xlsx",
                "sheet": "Prodeje",
                "columns": EXCEL_COLUMNS,
                **options,
            }
        },
    )
    orders = load_tables(load_config(cfg)).orders.to_pandas().sort_values("order_id")
    assert orders["customer_id"].tolist() == data["Zákazník"].tolist()
    assert orders["amount"].tolist() == data["Částka"].tolist()
    assert orders["order_date"].tolist() == data["Datum"].tolist()


def test_excel_sheet_that_does_not_exist_lists_the_sheets(tmp_path: Path) -> None:
    _excel_with_title_rows(tmp_path / "prodeje.xlsx")
    cfg = write_config(
        tmp_path, {"orders": {"path": "prodeje.xlsx", "sheet": "Sales", "columns": EXCEL_COLUMNS}}
    )
    with pytest.raises(SchemaError) as err:
        load_tables(load_config(cfg))
    assert "has no sheet 'Sales'; its sheets are: 'Prodeje', 'Poznámky'" in str(err.value)
    assert "sources.orders.sheet" in str(err.value)


def test_mapping_onto_a_column_the_file_already_has_is_an_error(tmp_path: Path) -> None:
    # A campaign export with a 0/1 'converted' and a 0/1 'visit': mapping converted -> visit
    # must not let the file's own 'converted' win silently.
    pd.DataFrame(
        {
            "customer_id": ["1", "2"],
            "campaign_id": ["mail", "mail"],
            "variant": ["A", "B"],
            "assigned_at": ["2025-01-01", "2025-01-01"],
            "visit": [1, 0],
            "converted": [0, 0],
        }
    ).to_csv(tmp_path / "campaign.csv", index=False)
    cfg = write_config(
        tmp_path,
        {"campaign_exposures": {"path": "campaign.csv", "columns": {"converted": "visit"}}},
    )
    with pytest.raises(SchemaError) as err:
        load_tables(load_config(cfg))
    msg = str(err.value)
    assert "maps 'converted' to the column 'visit', but campaign.csv also has a column " in msg
    assert "'converted'" in msg and "remove sources.campaign_exposures.columns.converted" in msg
    cfg = write_config(
        tmp_path,
        {
            "campaign_exposures": {
                "path": "campaign.csv",
                "columns": {"revenue": "visit", "pre_revenue": "visit"},
            }
        },
    )
    with pytest.raises(
        SchemaError, match="maps both 'pre_revenue' and 'revenue' to the column 'visit'"
    ):
        load_tables(load_config(cfg))


# --- values a parser accepts but a CRM cannot have ----------------------------------------------


def _value_orders(folder: Path, amounts: list, dates: list[str]) -> None:
    """Orders as Parquet written by pyarrow: NaN stays NaN (pandas would write a null)."""
    table = pa.table(
        {
            "order_id": [f"O{i}" for i in range(len(amounts))],
            "customer_id": ["1"] * len(amounts),
            "order_date": dates,
            "amount": pa.array(amounts, pa.float64(), from_pandas=False),
        }
    )
    pq.write_table(table, folder / "orders.parquet")


def test_nan_infinite_and_absurd_amounts_are_errors_or_counted_drops(tmp_path: Path) -> None:
    amounts = [10.0, float("nan"), float("inf"), -float("inf"), 9.99e15, 20.5]
    dates = ["2025-01-01"] * len(amounts)
    _value_orders(tmp_path, amounts, dates)
    cfg = write_config(tmp_path, {"orders": {"path": "orders.parquet"}})
    with pytest.raises(SchemaError) as err:
        load_tables(load_config(cfg))
    msg = str(err.value)
    assert "column 'amount': 3 value(s) cannot be read as numbers: " in msg
    assert all(f"row {r}: {v}" in msg for r, v in [(2, "nan"), (3, "inf"), (4, "-inf")])
    assert "column 'amount': 1 row(s) with amounts of 1,000,000,000,000 or more" in msg
    assert "sources.orders.max_amount" in msg
    cfg = write_config(tmp_path, {"orders": {"path": "orders.parquet", "invalid_rows": "drop"}})
    tables = load_tables(load_config(cfg))
    total = tables.orders.amount.sum().to_pyarrow().as_py()
    assert total == 30.5  # never NaN because one row was
    stats = tables.report.tables["orders"]
    assert (stats.rows_read, stats.rows_kept) == (6, 2)
    # a higher limit keeps a real large amount
    cfg = write_config(
        tmp_path, {"orders": {"path": "orders.parquet", "invalid_rows": "drop", "max_amount": 1e16}}
    )
    assert load_tables(load_config(cfg)).report.tables["orders"].rows_kept == 3


def test_dates_before_1900_and_after_the_analysis_date(tmp_path: Path) -> None:
    """Excel's day 0 (1899-12-30) and day 1 (1900-01-01) are what exports write for 'no date';
    the day after is the first that can be a date."""
    dates = ["1899-12-30", "1900-01-01", "1900-01-02", "2025-06-30", "2025-07-01", "2031-01-01"]
    _value_orders(tmp_path, [1.0] * len(dates), dates)
    (tmp_path / "orders.csv").write_text(
        pd.read_parquet(tmp_path / "orders.parquet").to_csv(index=False), encoding="utf-8"
    )
    cfg = write_config(tmp_path, {"orders": {"path": "orders.csv"}})  # analysis date 2025-06-30
    with pytest.raises(
        SchemaError,
        match=r"2 value\(s\) cannot be read as dates: row 1: '1899-12-30', row 2: '1900-01-01'\. "
        r"Fix: correct these rows \(dates on or before 1900-01-01 are placeholders",
    ):
        load_tables(load_config(cfg))
    cfg = write_config(tmp_path, {"orders": {"path": "orders.csv", "invalid_rows": "drop"}})
    tables = load_tables(load_config(cfg))
    kept = sorted(tables.orders.to_pandas()["order_date"].dt.strftime("%Y-%m-%d"))
    assert kept == dates[2:]
    late = next(i for i in tables.report.issues if i.problem.startswith("after the analysis"))
    assert (late.count, late.action, late.examples) == (2, "kept", "2025-07-01, 2031-01-01")


def test_several_currencies_in_one_amount_column(tmp_path: Path) -> None:
    pd.DataFrame(
        {
            "order_id": ["1", "2", "3", "4"],
            "customer_id": ["7", "7", "8", "8"],
            "order_date": ["2025-01-01"] * 4,
            "amount": [100.0, 20.0, 5.0, 7.0],
            "currency": ["CZK", "EUR", "czk ", None],
        }
    ).to_csv(tmp_path / "orders.csv", index=False)
    cfg = write_config(tmp_path, {"orders": {"path": "orders.csv"}})  # currency: CZK (default)
    with pytest.raises(SchemaError) as err:
        load_tables(load_config(cfg))
    assert "2 row(s) with amounts not in the run's currency CZK: " in str(err.value)
    assert "EUR (1 rows)" in str(err.value) and "(none) (1 rows)" in str(err.value)
    cfg = write_config(tmp_path, {"orders": {"path": "orders.csv", "invalid_rows": "drop"}})
    orders = load_tables(load_config(cfg)).orders.to_pandas()
    assert sorted(orders["amount"]) == [5.0, 100.0]


def test_uri_sources_refuse_options_only_local_files_have(tmp_path: Path) -> None:
    from segwork.config import ConfigError, parse_config

    with pytest.raises(ConfigError, match="shape is not available for a 'uri' source"):
        parse_config(
            {
                "analysis_date": "2025-01-01",
                "engine": "pyspark",
                "sources": {"orders": {"uri": "hdfs://x/orders", "shape": "lines"}},
            },
            base_dir=tmp_path,
        )


def test_title_rows_above_a_text_header_are_skipped(tmp_path: Path) -> None:
    (tmp_path / "zakaznici.csv").write_bytes(
        "Export zákazníků;;\r\nDatum exportu: 1. 4. 2025;;\r\nČíslo;Jméno;Obrat\r\n"
        "0001;Jana;1 234,50\r\n0002;Petr;12,00\r\n".encode("cp1250")
    )
    columns = {"customer_id": "Číslo", "annual_revenue": "Obrat"}
    for options in ({}, {"skip_rows": 2}):
        cfg = write_config(
            tmp_path,
            {
                "customers": {
                    "path": "zakaznici.csv",
                    "encoding": "cp1250",
                    "decimal": ",",
                    "columns": columns,
                    **options,
                }
            },
        )
        customers = load_tables(load_config(cfg)).customers.sort_values("customer_id")
        assert customers["customer_id"].tolist() == ["0001", "0002"]
        assert customers["Jméno"].tolist() == ["Jana", "Petr"]
        assert customers["annual_revenue"].tolist() == [1234.5, 12.0]


def test_whitespace_file_with_a_header_as_lifetimes_ships_cdnow(tmp_path: Path) -> None:
    text = " customer_id  date number_of_cds  dollar_value\r\n" + "\r\n".join(CDNOW_LINES) + "\r\n"
    (tmp_path / "CDNOW_master.txt").write_bytes(text.encode())
    cfg = write_config(
        tmp_path,
        {
            "orders": {
                "path": "CDNOW_master.txt",
                "delimiter": "whitespace",
                "columns": {
                    "order_date": "date",
                    "quantity": "number_of_cds",
                    "amount": "dollar_value",
                },
                "date_format": "%Y%m%d",
            }
        },
    )
    orders = load_tables(load_config(cfg)).orders.to_pandas()
    fields = [line.split() for line in CDNOW_LINES]
    assert len(orders) == 7  # 00002 bought twice on 1997-01-12: one order
    assert orders["amount"].sum() == pytest.approx(sum(float(f[3]) for f in fields), abs=1e-9)
    assert orders["quantity"].sum() == sum(int(f[2]) for f in fields) == 15


def test_excel_duplicate_headers_are_named(tmp_path: Path) -> None:
    pd.DataFrame([["1", "2025-01-01", 5, 6]], columns=["customer_id", "x", "y", "z"]).set_axis(
        ["customer_id", "Obrat", "obrat", "poznámka"], axis=1
    ).to_excel(tmp_path / "c.xlsx", index=False)
    cfg = write_config(tmp_path, {"customers": {"path": "c.xlsx"}})
    with pytest.raises(SchemaError, match=r"two columns named 'obrat' \(columns 2 and 3"):
        load_tables(load_config(cfg))


def test_birth_dates_in_the_future_are_set_to_missing_and_counted(tmp_path: Path) -> None:
    pd.DataFrame(
        {
            "customer_id": ["1", "2", "3"],
            "birth_date": ["1980-02-03", "2026-05-01", "2025-06-30"],  # analysis date 2025-06-30
        }
    ).to_csv(tmp_path / "customers.csv", index=False)
    tables = load_tables(
        load_config(write_config(tmp_path, {"customers": {"path": "customers.csv"}}))
    )
    born = tables.customers.set_index("customer_id")["birth_date"]
    assert born["1"] == pd.Timestamp("1980-02-03") and born["3"] == pd.Timestamp("2025-06-30")
    assert pd.isna(born["2"])
    issue = next(i for i in tables.report.issues if i.column == "birth_date")
    assert (issue.count, issue.action, issue.examples) == (1, "repaired", "2026-05-01")


def test_missing_values_as_r_writes_them(tmp_path: Path) -> None:
    (tmp_path / "bfi.csv").write_text(
        '"","A1","A2","gender"\n"61617",2,4,1\n"61618",NA,4,2\n"61620",5,NA,NA\n',
        encoding="utf-8",
    )
    cfg = write_config(
        tmp_path,
        {
            "survey_responses": {
                "path": "bfi.csv",
                "missing_values": ["NA"],
                "columns": {"customer_id": "column0"},  # R's unnamed row-name column
            }
        },
    )
    answers = load_tables(load_config(cfg)).survey_responses.set_index("customer_id")
    assert answers.loc["61617", "A1"] == 2 and pd.isna(answers.loc["61618", "A1"])
    assert pd.isna(answers.loc["61620", "A2"]) and pd.isna(answers.loc["61620", "gender"])
    assert pd.api.types.is_numeric_dtype(answers["A1"])


def test_an_analysis_date_before_every_order_names_the_key(tmp_path: Path) -> None:
    pd.DataFrame(
        {
            "order_id": ["1", "2"],
            "customer_id": ["7", "8"],
            "order_date": ["2026-03-01", "2026-02-01"],
            "amount": [10.0, -2.0],
            "quantity": [1, -1],
        }
    ).to_csv(tmp_path / "orders.csv", index=False)
    cfg = write_config(tmp_path, {"orders": {"path": "orders.csv"}})  # analysis date 2025-06-30
    with pytest.raises(SchemaError) as err:
        load_tables(load_config(cfg))
    assert "every order is after the analysis date 2025-06-30 (the first is on 2026-02-01)" in str(
        err.value
    )
    assert "Fix: set analysis_date in the run config" in str(err.value)
    data = yaml.safe_load((tmp_path / "config.yaml").read_text(encoding="utf-8"))
    data["analysis_date"] = "2026-03-31"
    (tmp_path / "config.yaml").write_text(yaml.safe_dump(data), encoding="utf-8")
    tables = load_tables(load_config(tmp_path / "config.yaml"))
    negative = next(i for i in tables.report.issues if i.column == "quantity")
    assert (negative.count, negative.action) == (1, "kept")


def test_an_unmapped_order_number_is_not_taken_for_a_missing_order_id(tmp_path: Path) -> None:
    pd.DataFrame(
        {
            "InvoiceNo": ["F1", "F2"],
            "customer_id": ["7", "7"],
            "order_date": ["2025-01-01", "2025-01-01"],
            "amount": [1.0, 2.0],
        }
    ).to_csv(tmp_path / "orders.csv", index=False)
    cfg = write_config(tmp_path, {"orders": {"path": "orders.csv"}})
    with pytest.raises(SchemaError) as err:
        load_tables(load_config(cfg))
    assert "no column is mapped to order_id, but orders.csv has 'InvoiceNo'" in str(err.value)
    assert "sources.orders.columns.order_id: InvoiceNo" in str(err.value)


def test_a_workbook_saved_as_csv_is_named(tmp_path: Path) -> None:
    pd.DataFrame({"customer_id": ["1"]}).to_excel(tmp_path / "book.xlsx", index=False)
    (tmp_path / "customers.csv").write_bytes((tmp_path / "book.xlsx").read_bytes())
    cfg = write_config(tmp_path, {"customers": {"path": "customers.csv"}})
    with pytest.raises(SchemaError) as err:
        load_tables(load_config(cfg))
    assert "customers.csv is not a text file: it is a zip file (an .xlsx workbook?)" in str(
        err.value
    )
    assert "sources.customers.format: excel" in str(err.value)
    cfg = write_config(tmp_path, {"customers": {"path": "customers.csv", "format": "excel"}})
    assert load_tables(load_config(cfg)).customers["customer_id"].tolist() == ["1"]


def test_utf16_without_a_bom_is_named(tmp_path: Path) -> None:
    (tmp_path / "zakaznici.txt").write_bytes(_czech_csv("utf-16-le", sep="\t"))
    cfg = _czech_config(tmp_path, "zakaznici.txt", decimal=",")
    with pytest.raises(SchemaError, match=r"UTF-16 text without a byte-order mark"):
        load_tables(load_config(cfg))
    with pytest.raises(SchemaError, match=r"Fix: set sources.customers.encoding: utf-16-le"):
        load_tables(load_config(cfg))


def test_mixed_line_endings_are_read(tmp_path: Path) -> None:
    # two exports glued together: a Windows part (\r\n) and a Unix part (\n)
    (tmp_path / "customers.csv").write_bytes(
        b"customer_id,name\r\n1,Jana\r\n2,Petr\r\n3,Eva\n4,Karel\n"
    )
    customers = load_tables(
        load_config(write_config(tmp_path, {"customers": {"path": "customers.csv"}}))
    ).customers.sort_values("customer_id")
    assert customers["name"].tolist() == ["Jana", "Petr", "Eva", "Karel"]


def test_missing_ids_are_not_also_reported_as_duplicates(tmp_path: Path) -> None:
    (tmp_path / "customers.csv").write_bytes(b"customer_id,name\n,a\n,b\n3,c\n")
    cfg = write_config(tmp_path, {"customers": {"path": "customers.csv"}})
    with pytest.raises(SchemaError) as err:
        load_tables(load_config(cfg))
    assert "column 'customer_id': 2 row(s) have no value" in str(err.value)
    assert "not unique" not in str(err.value)


def test_an_empty_sheet_is_named(tmp_path: Path) -> None:
    with pd.ExcelWriter(tmp_path / "c.xlsx") as xl:
        pd.DataFrame().to_excel(xl, sheet_name="Prázdný")
        pd.DataFrame({"customer_id": ["1"]}).to_excel(xl, sheet_name="Data", index=False)
    cfg = write_config(tmp_path, {"customers": {"path": "c.xlsx"}})
    with pytest.raises(SchemaError, match=r"sheet 0 of c.xlsx is empty.*\n.*'Prázdný', 'Data'"):
        load_tables(load_config(cfg))


# -- a randomized e-mail campaign export without ids (shaped as Hillstrom's MineThatData file) --

HILLSTROM_VARIANTS = ("Mens E-Mail", "Womens E-Mail", "No E-Mail")


def hillstrom_like(n: int = 300, seed: int = 7) -> pd.DataFrame:
    """An export with the columns of Hillstrom's 2008 file: no customer id, campaign id or date."""
    rng = np.random.default_rng(seed)
    history = rng.gamma(1.5, 150, n).round(2)
    segment = rng.choice(HILLSTROM_VARIANTS, n)
    visit = rng.random(n) < np.where(segment == "No E-Mail", 0.10, 0.17)
    conversion = visit & (rng.random(n) < 0.08)
    return pd.DataFrame(
        {
            "recency": rng.integers(1, 13, n),
            "history_segment": pd.cut(history, [0, 100, 200, 350, 1e9]).astype(str),
            "history": history,
            "mens": rng.integers(0, 2, n),
            "womens": rng.integers(0, 2, n),
            "zip_code": rng.choice(["Surburban", "Rural", "Urban"], n),
            "newbie": rng.integers(0, 2, n),
            "channel": rng.choice(["Phone", "Web", "Multichannel"], n),
            "segment": segment,
            "visit": visit.astype(int),
            "conversion": conversion.astype(int),
            "spend": np.where(conversion, rng.gamma(2, 60, n), 0).round(2),
        }
    )


HILLSTROM_COLUMNS = {"variant": "segment", "converted": "conversion", "revenue": "spend"}


@pytest.mark.parametrize("fmt", ["csv", "parquet"])
def test_a_campaign_export_without_ids_is_one_campaign_of_numbered_rows(
    tmp_path: Path, fmt: str
) -> None:
    raw = hillstrom_like()
    path = tmp_path / f"email_test.{fmt}"
    raw.to_csv(path, index=False) if fmt == "csv" else raw.to_parquet(path, index=False)
    cfg = write_config(
        tmp_path, {"campaign_exposures": {"path": path.name, "columns": HILLSTROM_COLUMNS}}
    )
    tables = load_tables(load_config(cfg))
    got = tables.campaign_exposures.to_pandas()
    # row i of the file (1 = first under the header) is customer "00i", in file order
    assert got["customer_id"].tolist() == [f"{i:03d}" for i in range(1, 301)]
    assert got["variant"].tolist() == raw["segment"].tolist()
    assert got["converted"].tolist() == raw["conversion"].tolist()
    assert got["revenue"].to_numpy() == pytest.approx(raw["spend"].to_numpy())
    assert set(got["campaign_id"]) == {"email_test"}  # the file's name
    assert "assigned_at" not in got.columns
    counts = got.groupby("variant")["converted"].agg(["size", "sum"])
    expected = raw.groupby("segment")["conversion"].agg(["size", "sum"])
    assert counts.to_dict() == expected.rename_axis("variant").to_dict()
    assert tables.customers["customer_id"].tolist() == got["customer_id"].tolist()
    assert tables.report.derived["customers"].from_tables == {"campaign_exposures": 300}
    said = {i.column: i for i in tables.report.issues}
    assert said["customer_id"].count == 300 and said["customer_id"].examples == "001 .. 300"
    assert "whose id is its row number" in said["customer_id"].problem
    assert said["campaign_id"].count == 300
    assert "of one campaign, 'email_test' (the file's name;" in said["campaign_id"].problem
    from segwork.pages.data_collection import headline_text
    from segwork.steps import data_collection

    text = headline_text(data_collection.run(tables, analysis_date="2025-06-30"))
    assert text.startswith(
        "There is no customer table and campaign exposures has no customer id: each of its rows "
        "is one customer, numbered by its row: 300 customers"
    )


def test_a_campaign_export_names_its_one_campaign_in_the_config(tmp_path: Path) -> None:
    hillstrom_like(n=20).to_csv(tmp_path / "hillstrom.csv", index=False)
    source = {"path": "hillstrom.csv", "columns": HILLSTROM_COLUMNS, "campaign": "email_2008"}
    tables = load_tables(load_config(write_config(tmp_path, {"campaign_exposures": source})))
    assert set(tables.campaign_exposures.to_pandas()["campaign_id"]) == {"email_2008"}
    issue = next(i for i in tables.report.issues if i.column == "campaign_id")
    assert "'email_2008' (sources.campaign_exposures.campaign)" in issue.problem


@pytest.mark.parametrize(
    "name", ["CustomerID", "customer", "client_id", "zakaznik", "Číslo zákazníka"]
)
def test_an_unmapped_customer_id_of_a_campaign_export_is_not_replaced_by_row_numbers(
    tmp_path: Path, name: str
) -> None:
    raw = hillstrom_like(n=5)
    raw.insert(0, name, [f"K{i}" for i in range(5)])
    raw.to_csv(tmp_path / "exposures.csv", index=False)
    source = {"path": "exposures.csv", "columns": HILLSTROM_COLUMNS}
    with pytest.raises(SchemaError) as err:
        load_tables(load_config(write_config(tmp_path, {"campaign_exposures": source})))
    assert f"no column is mapped to customer_id, but exposures.csv has '{name}'" in str(err.value)
    assert f"sources.campaign_exposures.columns.customer_id: {name}" in str(err.value)


def test_row_number_ids_cannot_be_matched_to_other_tables(tmp_path: Path) -> None:
    hillstrom_like(n=5).to_csv(tmp_path / "exposures.csv", index=False)
    pd.DataFrame({"customer_id": ["1", "2"]}).to_csv(tmp_path / "customers.csv", index=False)
    cfg = write_config(
        tmp_path,
        {
            "customers": {"path": "customers.csv"},
            "campaign_exposures": {"path": "exposures.csv", "columns": HILLSTROM_COLUMNS},
        },
    )
    with pytest.raises(SchemaError) as err:
        load_tables(load_config(cfg))
    assert (
        "has no customer id column, so its rows cannot be matched to the customers of customers"
        in (str(err.value))
    )
    assert "sources.campaign_exposures.columns.customer_id" in str(err.value)


def test_an_unmapped_campaign_column_asks_for_a_mapping_or_a_name(tmp_path: Path) -> None:
    raw = hillstrom_like(n=5).assign(Kampan=["A", "A", "B", "B", "B"])
    raw.to_csv(tmp_path / "exposures.csv", index=False)
    source = {"path": "exposures.csv", "columns": HILLSTROM_COLUMNS}
    with pytest.raises(SchemaError) as err:
        load_tables(load_config(write_config(tmp_path, {"campaign_exposures": source})))
    assert "no column is mapped to campaign_id, but exposures.csv has 'Kampan'" in str(err.value)
    assert "sources.campaign_exposures.campaign" in str(err.value)


def test_no_value_markers_are_missing_in_numbers_and_survey_answers(tmp_path: Path) -> None:
    """R writes NA, Excel #N/A, databases NULL: missing by default, counted, never an error."""
    (tmp_path / "bfi.csv").write_text(
        '"","A1","A2","comment"\n"61617",2,4,NA\n"61618",NA,#N/A,fine\n"61620",5,null,ok\n',
        encoding="utf-8",
    )
    cfg = write_config(
        tmp_path, {"survey_responses": {"path": "bfi.csv", "columns": {"customer_id": "column0"}}}
    )
    tables = load_tables(load_config(cfg))
    answers = tables.survey_responses.set_index("customer_id")
    assert answers["A1"].tolist()[0] == 2 and pd.isna(answers.loc["61618", "A1"])
    assert answers["A2"].isna().tolist() == [False, True, True]
    assert pd.api.types.is_numeric_dtype(answers["A1"]) and pd.api.types.is_numeric_dtype(
        answers["A2"]
    )
    assert answers["comment"].tolist() == ["NA", "fine", "ok"]  # a text column stays as it is
    issue = next(i for i in tables.report.issues if i.table == "survey_responses")
    assert (issue.column, issue.count, issue.unit, issue.action) == (
        "A1, A2",
        3,
        "values",
        "repaired",
    )
    assert issue.examples == "A1: 1, A2: 2"

    pd.DataFrame(
        {
            "order_id": ["1", "2", "3"],
            "customer_id": ["7", "8", "9"],
            "order_date": ["2025-01-01"] * 3,
            "amount": ["10.5", "NA", "3"],
            "quantity": ["1", "N/A", "2"],
        }
    ).to_csv(tmp_path / "orders.csv", index=False)
    cfg = write_config(tmp_path, {"orders": {"path": "orders.csv"}})
    with pytest.raises(
        SchemaError
    ) as err:  # a required amount that is NA is missing, not unreadable
        load_tables(load_config(cfg))
    assert "column 'amount': 1 row(s) have no value" in str(err.value)
    assert "cannot be read" not in str(err.value)
    cfg = write_config(tmp_path, {"orders": {"path": "orders.csv", "invalid_rows": "drop"}})
    tables = load_tables(load_config(cfg))
    assert tables.orders.to_pandas()["amount"].sum() == pytest.approx(13.5)
    issue = next(i for i in tables.report.issues if "NA, N/A" in i.problem)
    assert (issue.column, issue.count) == ("amount, quantity", 2)


@pytest.mark.e2e
def test_segwork_run_on_a_campaign_export_without_ids(tmp_path: Path) -> None:
    """The raw Hillstrom shape through ``segwork run`` with a config alone: 01 and 04 run."""
    import json

    from segwork import pipeline

    root = Path(__file__).resolve().parents[1]
    raw = hillstrom_like(n=3000, seed=11)
    raw.to_csv(tmp_path / "hillstrom.csv", index=False)
    cfg = write_config(
        tmp_path,
        {
            "campaign_exposures": {
                "path": "hillstrom.csv",
                "columns": HILLSTROM_COLUMNS,
                "campaign": "email_2008",
            }
        },
        name="e-mail test without ids",
        currency="USD",
        notebooks_dir=str(root / "notebooks"),
        reports_dir=str(tmp_path / "reports"),
        notebooks={"04_campaign_ab": {"control": "No E-Mail"}},
    )
    record = pipeline.run(cfg, progress=False)
    status = {nb.stem: nb.status for nb in record.notebooks}
    assert record.status == "succeeded", [(nb.stem, nb.error) for nb in record.notebooks]
    assert status == {
        "01_data_collection": "succeeded",
        "02_rfm_clv": "not applicable",
        "03_personas": "not applicable",
        "04_campaign_ab": "succeeded",
        "05_rule_segments": "not applicable",
        "06_contracts": "not applicable",
    }
    run = json.loads((record.run_dir / "run.json").read_text(encoding="utf-8"))
    assert all(e.get("reason") for e in run["notebooks"] if e["status"] == "not applicable")
    overall = pd.read_parquet(record.run_dir / "artifacts" / "ab_overall.parquet")
    control = raw[raw["segment"] == "No E-Mail"]
    for variant in ("Mens E-Mail", "Womens E-Mail"):
        treated = raw[raw["segment"] == variant]
        row = overall[(overall["variant"] == variant) & (overall["metric"] == "conversion")]
        assert len(row) == 1, overall[["variant", "metric"]]
        assert (row["n_control"].item(), row["n_variant"].item()) == (len(control), len(treated))
        assert row["variant_mean"].item() == pytest.approx(treated["conversion"].mean(), rel=1e-12)
    c360 = pd.read_parquet(record.run_dir / "artifacts" / "customer360.parquet")
    assert len(c360) == 3000
    page = (record.run_dir / "01_data_collection.html").read_text(encoding="utf-8")
    assert "whose id is its row number" in page and "email_2008" in page


@pytest.mark.parametrize("fmt", ["csv", "xlsx"])
def test_the_unnamed_first_column_of_an_r_export_can_be_mapped_by_its_empty_name(
    tmp_path: Path, fmt: str
) -> None:
    """R's write.csv writes the row names under an empty header: `customer_id: ""` maps it."""
    text = '"","A1","A2"\n"007",2,4\n"010",NA,4\n"012",5,NA\n'
    if fmt == "csv":
        (tmp_path / "bfi.csv").write_text(text, encoding="utf-8")
    else:
        frame = pd.DataFrame({"": ["007", "010", "012"], "A1": [2, None, 5], "A2": [4, 4, None]})
        frame.to_excel(tmp_path / "bfi.xlsx", index=False)
    source = {"path": f"bfi.{fmt}", "columns": {"customer_id": ""}}
    tables = load_tables(load_config(write_config(tmp_path, {"survey_responses": source})))
    answers = tables.survey_responses
    assert answers["customer_id"].tolist() == ["007", "010", "012"]  # ids as text: zeros kept
    assert answers["A1"].isna().tolist() == [False, True, False]
    pd.DataFrame({"customer_id": ["1"], "A1": [3]}).to_csv(tmp_path / "named.csv", index=False)
    source = {"path": "named.csv", "columns": {"customer_id": " "}}
    with pytest.raises(SchemaError) as err:
        load_tables(load_config(write_config(tmp_path, {"survey_responses": source})))
    assert "maps 'customer_id' to a column without a header, but named.csv has no such" in str(
        err.value
    )
    (tmp_path / "bfi.csv").write_text('"","A1"\n"007",2\n', encoding="utf-8")
    source = {"path": "bfi.csv", "columns": {"customer_id": "id"}}
    with pytest.raises(SchemaError) as err:
        load_tables(load_config(write_config(tmp_path, {"survey_responses": source})))
    assert """a column without a header ('column0') is mapped as customer_id: \"\"""" in str(
        err.value
    )


def test_whole_number_ids_written_as_floats_match_the_plain_ids(tmp_path: Path) -> None:
    """Online Retail II's CSV writes Customer ID as 13085.0 (a float column with gaps); the same
    customer is 13085 in the customers export. Both are the id '13085'; leading zeros stay."""
    pd.DataFrame({"customer_id": ["13085", "0042", "77"]}).to_csv(
        tmp_path / "customers.csv", index=False
    )
    (tmp_path / "orders.csv").write_text(
        "order_id,customer_id,order_date,amount\n"
        "1,13085.0,2024-01-02,10\n2,0042,2024-01-03,5\n3,77.00,2024-01-04,7\n4,13085.5,2024-01-05,1\n",
        encoding="utf-8",
    )
    cfg = write_config(
        tmp_path,
        {
            "customers": {"path": "customers.csv"},
            "orders": {"path": "orders.csv", "invalid_rows": "drop"},
        },
    )
    tables = load_tables(load_config(cfg))
    orders = tables.orders.to_pandas().set_index("order_id")
    assert orders.loc["1", "customer_id"] == "13085"
    assert orders.loc["2", "customer_id"] == "0042"
    assert orders.loc["3", "customer_id"] == "77"
    assert "4" not in orders.index  # 13085.5 is no whole number: an unknown customer, dropped
    unknown = tables.report.issues_frame().query("problem.str.startswith('unknown customer')")
    assert unknown["count"].tolist() == [1]


def test_the_spark_reader_counts_blank_text_placeholder_and_late_dates_as_duckdb(
    tmp_path: Path,
) -> None:
    """The reader of uri sources (Ibis, here on DuckDB instead of a cluster) applies the same
    rules: a blank kind is missing, 1900-01-01 is a placeholder, a late interaction is counted."""
    import ibis

    from segwork.config import parse_config
    from segwork.schema import ValidationReport
    from segwork.sources import _SparkReader

    pd.DataFrame(
        {
            "customer_id": ["1", "2", "3", "4"],
            "occurred_at": pd.to_datetime(["2025-05-01", "1900-01-01", "2025-05-02", "2031-01-01"]),
            "kind": ["call", "call", " ", "mail"],
        }
    ).to_parquet(tmp_path / "x.parquet")

    def read(invalid_rows: str):
        cfg = parse_config(
            {
                "analysis_date": "2025-06-30",
                "engine": "pyspark",
                "sources": {"interactions": {"uri": "x.parquet", "invalid_rows": invalid_rows}},
            },
            base_dir=tmp_path,
        )
        report = ValidationReport()
        reader = _SparkReader(cfg, ibis.duckdb.connect(), report)
        return reader.read("interactions", cfg.sources.interactions, None), report

    with pytest.raises(SchemaError) as err:
        read("error")
    assert "column 'occurred_at': 1 value(s) cannot be read as dates" in str(err.value)
    assert "column 'kind': 1 row(s) have no value" in str(err.value)
    out, report = read("drop")
    assert out.to_pandas()["customer_id"].tolist() == ["1", "4"]
    late = next(i for i in report.issues if "after the analysis date" in i.problem)
    assert (late.table, late.column, late.count, late.examples) == (
        "interactions",
        "occurred_at",
        1,
        "2031-01-01",
    )


@pytest.mark.parametrize(
    ("content", "what", "fix"),
    [
        (
            b'<html xmlns:x="urn:schemas-microsoft-com:office:excel"><body><table>'
            b"<tr><td>customer_id</td></tr><tr><td>001</td></tr></table></body></html>",
            "is not an Excel workbook: it is an HTML page",
            "save it as .xlsx or CSV",
        ),
        (
            "customer_id\tJméno\r\n001\tJana\r\n".encode("cp1250"),
            "is not an Excel workbook: it is a text file",
            "set sources.customers.format: csv",
        ),
    ],
)
def test_an_excel_export_that_is_no_workbook_is_named(tmp_path: Path, content, what, fix) -> None:
    """CRMs' 'Export to Excel' often writes an HTML table or tab-separated text as .xls."""
    (tmp_path / "zakaznici.xls").write_bytes(content)
    cfg = write_config(tmp_path, {"customers": {"path": "zakaznici.xls"}})
    with pytest.raises(SchemaError) as err:
        load_tables(load_config(cfg))
    assert f"table 'customers': zakaznici.xls {what}" in str(err.value)
    assert "\nFix: " in str(err.value) and fix in str(err.value)


def test_tab_text_with_an_xls_ending_reads_with_format_csv(tmp_path: Path) -> None:
    (tmp_path / "zakaznici.xls").write_bytes(
        "customer_id\tJméno\r\n001\tJana\r\n002\tPetr\r\n".encode("cp1250")
    )
    cfg = write_config(
        tmp_path,
        {"customers": {"path": "zakaznici.xls", "format": "csv", "encoding": "cp1250"}},
    )
    customers = load_tables(load_config(cfg)).customers
    assert customers["Jméno"].tolist() == ["Jana", "Petr"]
