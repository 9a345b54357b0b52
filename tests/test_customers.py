"""The customer 360 table, checked against a plain-pandas computation of the same definitions."""

from __future__ import annotations

from pathlib import Path

import numpy as np
import pandas as pd
import pytest

from segwork.config import load_config
from segwork.customers import age_band, breakdown, build_customer360, company_size_band
from segwork.sources import load_tables

REF = pd.Timestamp("2025-06-30")


def _random_history(seed: int = 1, n_customers: int = 60, n_orders: int = 800):
    rng = np.random.default_rng(seed)
    ids = [f"C{i:03d}" for i in range(n_customers)]
    customers = pd.DataFrame(
        {
            "customer_id": ids,
            "employees": rng.choice([np.nan, 3, 20, 100, 900], n_customers),
            "birth_date": pd.Timestamp("1950-01-01")
            + pd.to_timedelta(rng.integers(0, 20000, n_customers), unit="D"),
        }
    )
    orders = pd.DataFrame(
        {
            "order_id": [f"O{i}" for i in range(n_orders)],
            "customer_id": rng.choice(ids[:-5], n_orders),  # the last five customers never order
            "order_date": REF
            - pd.to_timedelta(rng.integers(-20, 800, n_orders), unit="D")
            + pd.to_timedelta(rng.integers(0, 86_399, n_orders), unit="s"),
            "amount": np.round(
                rng.gamma(2.0, 500.0, n_orders) * rng.choice([1, 1, 1, 1, -0.3], n_orders), 2
            ),
        }
    )
    interactions = pd.DataFrame(
        {
            "customer_id": rng.choice(ids, 300),
            "occurred_at": REF - pd.to_timedelta(rng.integers(-10, 700, 300), unit="D"),
            "kind": rng.choice(["email_open", "complaint", "service_contract", "call"], 300),
        }
    )
    return customers, orders, interactions


def _expected_orders(orders: pd.DataFrame, windows=(30, 90, 365)) -> pd.DataFrame:
    """The definitions of the module docstring, written independently in pandas."""
    end = REF + pd.Timedelta(days=1)
    o = orders[orders["order_date"] < end]
    rows = {}
    for cid, g in o.groupby("customer_id"):
        buys = g[g["amount"] >= 0]
        r = {
            "orders_total": len(buys),
            "returns_total": int((g["amount"] < 0).sum()),
            "revenue_total": g["amount"].sum(),
            "last_order_date": g["order_date"].max(),
            "aov": buys["amount"].mean() if len(buys) else np.nan,
        }
        for w in windows:
            inside = g[g["order_date"] >= end - pd.Timedelta(days=w)]
            r[f"orders_{w}d"] = int((inside["amount"] >= 0).sum())
            r[f"revenue_{w}d"] = inside["amount"].sum()
        rows[cid] = r
    return pd.DataFrame.from_dict(rows, orient="index")


def test_order_behaviour_matches_plain_pandas() -> None:
    customers, orders, interactions = _random_history()
    c360 = build_customer360(customers, orders, analysis_date=REF, interactions=interactions)
    exp = _expected_orders(orders)
    assert len(c360) == len(customers) and c360.index.is_unique
    got = c360.loc[exp.index]
    for col in exp.columns:
        if col == "last_order_date":
            assert (pd.to_datetime(got[col]) == exp[col]).all()
        else:
            np.testing.assert_allclose(
                got[col].to_numpy(float), exp[col].to_numpy(float), rtol=1e-12, err_msg=col
            )
    never = c360.loc[~c360.index.isin(orders["customer_id"])]
    assert (
        len(never) == 5
        and (never["orders_total"] == 0).all()
        and (never["revenue_365d"] == 0).all()
    )
    assert never["last_order_date"].isna().all() and not never["has_ordered"].any()


def test_interaction_counts_and_service_contract_flag() -> None:
    customers, orders, interactions = _random_history()
    c360 = build_customer360(customers, orders, analysis_date=REF, interactions=interactions)
    end = REF + pd.Timedelta(days=1)
    seen = interactions[interactions["occurred_at"] < end]
    recent = seen[seen["occurred_at"] >= end - pd.Timedelta(days=365)]
    exp = recent.groupby(["customer_id", "kind"]).size().unstack(fill_value=0)
    for kind in exp.columns:
        got = c360[f"{kind}_365d"].reindex(exp.index)
        assert (got.to_numpy() == exp[kind].to_numpy()).all(), kind
    contract = set(seen.loc[seen["kind"] == "service_contract", "customer_id"])
    assert set(c360.index[c360["has_service_contract"]]) == contract
    complaints = seen[seen["kind"] == "complaint"].groupby("customer_id").size()
    assert (c360["complaints_total"].reindex(complaints.index) == complaints).all()
    assert c360["complaints_total"].sum() == complaints.sum()


def test_age_and_company_size_bands() -> None:
    bd = pd.Series(pd.to_datetime(["2001-06-30", "2001-07-01", "1960-01-01", None]))
    bands = age_band(bd, "2025-06-30")
    assert bands.tolist()[:3] == [
        "18-24",
        "18-24",
        "65+",
    ]  # 24 on the birthday, 23 the day before it
    assert bands.tolist()[0] == "18-24" and pd.isna(bands.iloc[3])
    assert age_band(pd.Series(pd.to_datetime(["2000-06-30"])), "2025-06-30").tolist() == ["25-34"]
    sizes = company_size_band(pd.Series([1, 9, 10, 49, 50, 249, 250, None]))
    assert sizes.astype(str).tolist()[:7] == [
        "micro (1-9)",
        "micro (1-9)",
        "small (10-49)",
        "small (10-49)",
        "medium (50-249)",
        "medium (50-249)",
        "large (250+)",
    ]


def test_breakdown_shares_sum_to_one_and_keep_unknowns() -> None:
    customers, orders, interactions = _random_history()
    c360 = build_customer360(customers, orders, analysis_date=REF)
    b = breakdown(c360, "company_size")
    assert b["customers"].sum() == len(c360)
    assert b["customer_share"].sum() == pytest.approx(1.0)
    assert b["revenue_share"].sum() == pytest.approx(1.0)
    assert "(unknown)" in set(b["company_size"])
    assert b["revenue"].sum() == pytest.approx(c360["revenue_365d"].sum())
    with pytest.raises(KeyError, match="no column 'nope'"):
        breakdown(c360, "nope")


def test_from_validated_sources(tiny_config: Path) -> None:
    tables = load_tables(load_config(tiny_config))
    c360 = build_customer360(
        tables.customers, tables.orders, analysis_date=REF, interactions=tables.interactions
    )
    # 001 bought 100 + 250.5 and returned 50 (in June); A6 of 002 is after the analysis date.
    assert c360.loc["001", "orders_total"] == 2 and c360.loc["001", "returns_total"] == 1
    assert c360.loc["001", "revenue_30d"] == pytest.approx(250.5 - 50.0)
    assert c360.loc["002", "orders_total"] == 1 and c360.loc[
        "002", "revenue_total"
    ] == pytest.approx(80.0)
    assert c360.loc["002", "has_service_contract"] and not c360.loc["001", "has_service_contract"]
    assert c360.loc["001", "complaints_total"] == 1
    assert c360.loc["004", "orders_total"] == 0


# --- real export shapes: no customer table, no orders, many categories, partial months


def _order_lines_export(seed: int = 7) -> pd.DataFrame:
    """Orders of a retailer export without a customer table, starting and ending mid-month."""
    rng = np.random.default_rng(seed)
    n = 500
    return pd.DataFrame(
        {
            "order_id": [f"5{i:05d}" for i in range(n)],
            "customer_id": rng.choice([f"{12000 + i}" for i in range(40)], n),
            "order_date": pd.Timestamp("2024-12-05 09:00")
            + pd.to_timedelta(
                rng.integers(0, (REF - pd.Timestamp("2024-12-05")).days, n), unit="D"
            ),
            "amount": np.round(rng.gamma(1.5, 8.0, n) * rng.choice([1] * 9 + [-1], n), 2),
        }
    )


def test_customer360_orders_only_matches_plain_pandas() -> None:
    orders = _order_lines_export()
    orders.loc[orders["customer_id"] == "12003", "amount"] = 0.0  # only free orders
    customers = pd.DataFrame({"customer_id": sorted(orders["customer_id"].unique())})
    c360 = build_customer360(customers, orders, analysis_date=REF)
    free = orders[orders["customer_id"] == "12003"]
    assert c360.loc["12003", "orders_total"] == len(free) > 0  # a free order is a purchase
    assert c360.loc["12003", "has_ordered"] and c360.loc["12003", "aov"] == 0.0
    exp = _expected_orders(orders)
    assert sorted(c360.index) == sorted(exp.index)
    for col in ("orders_total", "returns_total", "revenue_total", "orders_90d", "revenue_365d"):
        np.testing.assert_allclose(
            c360.loc[exp.index, col].to_numpy(float), exp[col].to_numpy(float), rtol=1e-12
        )
    # no interaction or survey table: none of their columns is invented
    assert not {"has_service_contract", "complaints_total", "survey_answered"} & set(c360.columns)


def test_customer360_campaign_only_has_no_behaviour_columns() -> None:
    exposures = pd.DataFrame(
        {"customer_id": ["a", "b", "c", "b"], "campaign_id": "x", "variant": ["A", "B", "A", "B"]}
    )
    customers = pd.DataFrame({"customer_id": exposures["customer_id"].drop_duplicates()})
    c360 = build_customer360(customers, None, analysis_date=REF)
    assert list(c360.index) == ["a", "b", "c"]
    assert c360.shape[1] == 0  # no zeros claiming that nobody ever bought
    from segwork.customers import has_orders

    assert not has_orders(c360)
    b = breakdown(c360.assign(variant=["A", "B", "A"]), "variant")
    assert b.columns.tolist() == ["variant", "customers", "customer_share"]
    assert b.set_index("variant")["customers"].to_dict() == {"A": 2, "B": 1}


def test_breakdown_top_n_lumps_the_rest_into_other_exactly() -> None:
    customers, orders, _ = _random_history()
    customers["country"] = [f"country {i % 17}" for i in range(len(customers))]
    customers.loc[:3, "country"] = None
    c360 = build_customer360(customers, orders, analysis_date=REF)
    b = breakdown(c360, "country", top=5).set_index("country")
    key = c360["country"].astype("string")
    sizes = key.value_counts()
    top5 = list(sizes.index[:5])
    other = "other (12 more)"
    assert list(b.index) == [*top5, other, "(unknown)"]
    rest = c360[key.notna() & ~key.isin(top5)]
    assert b.loc[other, "customers"] == len(rest)
    assert b.loc[other, "revenue"] == pytest.approx(rest["revenue_365d"].sum())
    assert b.loc[other, "active_share"] == pytest.approx(rest["active_365d"].mean())
    assert b.loc["(unknown)", "customers"] == 4
    assert b.attrs["other_values"] == 17 - 5
    assert b["customers"].sum() == len(c360)


def test_breakdown_columns_come_from_the_data() -> None:
    c360 = pd.DataFrame(
        {
            "segment_code": ["a", "b"] * 50,
            "email": [f"x{i}@y.cz" for i in range(100)],  # identifying
            "ref": [f"R{i}" for i in range(100)],  # nearly unique: not a category
            "constant": ["same"] * 100,
            "spend": np.arange(100.0),  # a number, not a category
            "email_opt_in": [True, False] * 50,
        },
        index=pd.Index([f"C{i}" for i in range(100)], name="customer_id"),
    )
    from segwork.customers import breakdown_columns

    cols = breakdown_columns(c360, list(c360.columns), exclude=["email_opt_in"])
    assert cols == ["segment_code"]
    c360["band"] = ["x", "y", "z", "w"] * 25
    c360["code3"] = ["p", "q", "r"] * 33 + ["p"]
    assert breakdown_columns(c360, list(c360.columns), exclude=["email_opt_in"], limit=2) == [
        "segment_code",
        "code3",
    ]  # the one with most distinct values (band, 4) is dropped first


def test_monthly_orders_marks_partial_first_and_last_months() -> None:
    from segwork.pages.data_collection import partial_months_text
    from segwork.quality import monthly_orders

    orders = _order_lines_export()
    m = monthly_orders(orders, analysis_date=REF)
    seen = orders[orders["order_date"] < REF + pd.Timedelta(days=1)]
    first, last = seen["order_date"].min(), seen["order_date"].max()
    assert m["month"].iloc[0] == first.to_period("M").to_timestamp()
    assert m["partial"].iloc[0] == (first.day != 1)
    assert m["partial"].iloc[-1] == (last.normalize() < last + pd.offsets.MonthEnd(0))
    assert not m["partial"].iloc[1:-1].any()
    assert m["orders"].sum() == (seen["amount"] >= 0).sum()
    text = partial_months_text(m)
    assert f"{first:%B %Y}" in text and f"only {first.day}" in text
    # a complete calendar year has no partial month and no sentence
    full = pd.DataFrame(
        {
            "order_id": range(4),
            "customer_id": "a",
            "order_date": pd.to_datetime(["2024-01-01", "2024-06-15", "2024-12-31", "2025-03-01"]),
            "amount": 1.0,
        }
    )
    m2 = monthly_orders(full, analysis_date="2024-12-31")
    assert not m2["partial"].any() and partial_months_text(m2) == ""


def test_top_n_helper_and_bars() -> None:
    import matplotlib.pyplot as plt

    from segwork.plots import monthly_line, top_n, top_n_bars

    rng = np.random.default_rng(3)
    lines = pd.DataFrame(
        {
            "country": rng.choice(
                [f"c{i:02d}" for i in range(30)], 2000, p=np.r_[0.5, [0.5 / 29] * 29]
            ),
            "amount": rng.gamma(2.0, 10.0, 2000),
        }
    )
    t = top_n(lines, category="country", value="amount", n=8)
    sums = lines.groupby("country")["amount"].sum().sort_values(ascending=False)
    assert t["country"].iloc[:8].tolist() == sums.index[:8].tolist()
    assert t["country"].iloc[-1] == "other" and t["categories"].iloc[-1] == len(sums) - 8
    assert t["amount"].iloc[-1] == pytest.approx(sums.iloc[8:].sum())
    assert t["amount"].sum() == pytest.approx(lines["amount"].sum())
    counted = top_n(lines, category="country", n=29)  # one left over: no "other" of one
    assert len(counted) == 30 and "other" not in set(counted["country"])
    assert counted["count"].sum() == len(lines)

    fig, ax = plt.subplots()
    out = top_n_bars(lines, category="country", value="amount", n=8, ax=ax)
    assert out is ax and len(ax.patches) == 9
    labels = [tick.get_text() for tick in ax.get_yticklabels()]
    assert labels[-1] == f"other ({len(sums) - 8} more)"

    monthly = pd.DataFrame(
        {
            "month": pd.to_datetime(["2024-01-01", "2024-02-01", "2024-03-01"]),
            "revenue": [1.25, 2.5, 0.75],
            "partial": [True, False, True],
        }
    )
    fig, ax = plt.subplots()
    monthly_line(monthly, x="month", y="revenue", partial="partial", ax=ax)
    assert [t.get_text() for t in ax.texts] == ["partial", "partial"]
    assert ax.yaxis.get_major_formatter()(1.5, 0) == "1.50"  # cents on a small-amount axis

    from segwork.plots import share_bars

    fig, ax = plt.subplots()
    bands = pd.DataFrame({"band": ["1) $0 - $100", "7) $1,000 +"], "share": [0.9, 0.1]})
    share_bars(bands, category="band", value="share", ax=ax)
    fig.canvas.draw()
    labels = [t.get_text() for t in ax.get_yticklabels()]
    assert labels == [r"1) \$0 - \$100", r"7) \$1,000 +"]  # printed as text, not as math
    plt.close("all")


def test_page_text_of_a_campaign_only_run_comes_from_its_tables() -> None:
    from types import SimpleNamespace

    from segwork.pages.data_collection import absent_sections, c360_contents, headline_text
    from segwork.quality import table_overview
    from segwork.schema import TableStats, ValidationReport
    from segwork.steps import data_collection

    exposures = pd.DataFrame(
        {
            "customer_id": ["a", "b", "c"],
            "campaign_id": "x",
            "variant": ["A", "B", "A"],
            "assigned_at": pd.to_datetime(["2024-03-01"] * 3),
        }
    )
    report = ValidationReport()
    report.tables["campaign_exposures"] = TableStats(
        "campaign_exposures", "exposures.csv", 3, 3, list(exposures.columns)
    )
    customers = pd.DataFrame({"customer_id": ["a", "b", "c"]})
    tables = SimpleNamespace(
        customers=customers,
        orders=None,
        interactions=None,
        survey_responses=None,
        survey_items=None,
        campaign_exposures=exposures,
        report=report,
    )
    c360 = build_customer360(customers, None, analysis_date=REF)
    result = data_collection.run(tables, analysis_date=REF, currency="USD")
    text = headline_text(result)
    assert "no customer table" in text and "campaign exposures: 3 customers" in text
    assert "no order history" in text and "bought" not in text and "revenue" not in text
    assert absent_sections(result)[0].startswith("There is no order table in this run")
    assert c360_contents(c360, []).startswith("The customer 360 holds only the 3 customer ids")
    overview = table_overview(tables)
    assert overview.loc[overview["table"] == "customers", ["from", "to"]].values.tolist() == [
        ["–", "–"]
    ]  # no NaT on the page
    assert overview.loc[overview["table"] == "campaign_exposures", "from"].item() == "2024-03-01"


def test_texts_and_breakdowns_follow_the_configured_windows() -> None:
    from segwork.customers import longest_window

    customers, orders, _ = _random_history()
    c360 = build_customer360(customers, orders, analysis_date=REF, windows=(30, 180))
    assert longest_window(c360) == 180 and "revenue_365d" not in c360
    b = breakdown(c360, "company_size")
    assert b["revenue"].sum() == pytest.approx(c360["revenue_180d"].sum())
    assert b["active_share"].iloc[0] == pytest.approx(
        c360.loc[
            c360["company_size"].astype("string") == b["company_size"].iloc[0], "active_180d"
        ].mean()
    )
    assert longest_window(build_customer360(customers, None, analysis_date=REF)) is None
    from segwork.segments import segment_kpis

    members = pd.DataFrame({"s": c360["orders_total"] > 3}, index=c360.index)
    kpis = segment_kpis(members, c360)
    assert kpis["revenue"].item() == pytest.approx(c360.loc[members["s"], "revenue_180d"].sum())


def test_order_breakdown_by_a_text_column_of_the_orders() -> None:
    from segwork.pages.data_collection import order_breakdown_text
    from segwork.quality import order_breakdown, order_categories

    orders = _order_lines_export()
    rng = np.random.default_rng(5)
    orders["country"] = rng.choice([f"K{i}" for i in range(25)], len(orders))
    orders.loc[:9, "country"] = None
    orders["channel"] = rng.choice(["web", "shop"], len(orders))
    orders["currency"] = "GBP"  # one value: nothing to break down
    orders["original_order_id"] = orders["order_id"]  # an id, not a category
    assert order_categories(orders) == ["country", "channel"]
    assert order_categories(orders, limit=1) == ["channel"]
    got = order_breakdown(orders, "country", analysis_date=REF).set_index("country")
    seen = orders[orders["order_date"] < REF + pd.Timedelta(days=1)]
    exp = seen.assign(country=seen["country"].fillna("(unknown)")).groupby("country")
    np.testing.assert_allclose(
        got["revenue"].sort_index(), exp["amount"].sum().sort_index(), rtol=1e-12
    )
    assert (got["orders"].sort_index() == exp["order_id"].nunique().sort_index()).all()
    assert got["revenue"].is_monotonic_decreasing
    text = order_breakdown_text(got.reset_index(), "country", shown=10)
    top = got.index[0]
    share = got["revenue"].iloc[0] / got["revenue"].sum()
    assert text.startswith(f"Net revenue of the orders by country: {top} leads with {share:.0%}")
    assert f"({len(got)} values in all; the other {len(got) - 10} are one grey bar)" in text


def test_page_01_counts_orders_not_source_rows_and_says_nothing_about_zero(tmp_path: Path) -> None:
    """A purchase log's rows and an export's lines are not orders: the finding says both."""
    from segwork.pages.data_collection import headline_text, monthly_counts_text, returns_text
    from segwork.quality import monthly_orders
    from segwork.steps import data_collection
    from tests.conftest import write_config

    log = pd.DataFrame(  # CDNOW's shape: no order id; two rows of c1 on one day are one order
        {
            "customer_id": ["c1", "c1", "c1", "c2"],
            "order_date": ["2025-01-05", "2025-01-05", "2025-03-01", "2025-02-01"],
            "amount": [10.0, 5.0, 7.0, 0.0],
        }
    )
    log.to_csv(tmp_path / "log.csv", index=False)
    tables = load_tables(load_config(write_config(tmp_path, {"orders": {"path": "log.csv"}})))
    text = headline_text(data_collection.run(tables, analysis_date=REF, currency="USD"))
    assert "2 customers and 3 orders (4 rows), from 05 Jan 2025" in text
    # the overview table shows 3 rows for orders: the sentence under it says why, not "4"
    from segwork.pages.data_collection import rows_counted_text
    from segwork.quality import table_overview

    assert table_overview(tables).set_index("table").loc["orders", "rows"] == 3
    assert rows_counted_text(tables.report) == (
        "Rows are counted after validation. The orders table has one row per order: its 3 rows "
        "were built from 4 source rows."
    )
    assert "Every table passed validation" in text and "dropped 0" not in text
    assert returns_text(tables.report) == ""  # no returns: no sentence about them
    monthly = monthly_orders(tables.orders, analysis_date=REF)
    assert monthly_counts_text(monthly) == "Right: number of orders per month."

    lines = pd.DataFrame(  # order lines: 2 invoices of 2 and 1 lines, a guest line, a return
        {
            "InvoiceNo": ["A1", "A1", "A2", "A3", "C4"],
            "CustomerID": ["c1", "c1", "c2", None, "c2"],
            "InvoiceDate": ["2025-01-05"] * 3 + ["2025-01-06", "2025-02-01"],
            "Quantity": [1, 2, 1, 1, -1],
            "UnitPrice": [3.0, 4.0, 5.0, 1.0, 5.0],
        }
    )
    lines.to_csv(tmp_path / "lines.csv", index=False)
    source = {
        "path": "lines.csv",
        "shape": "lines",
        "cancel_prefix": "C",
        "invalid_rows": "drop",
        "columns": {
            "order_id": "InvoiceNo",
            "customer_id": "CustomerID",
            "order_date": "InvoiceDate",
            "quantity": "Quantity",
            "unit_price": "UnitPrice",
        },
    }
    tables = load_tables(load_config(write_config(tmp_path, {"orders": source})))
    text = headline_text(data_collection.run(tables, analysis_date=REF, currency="USD"))
    assert "2 customers and 3 orders (4 lines)" in text
    assert rows_counted_text(tables.report).endswith("its 3 rows were built from 4 order lines.")
    assert "Validation dropped 1 order line of orders; the table below" in text
    assert "to missing" not in text  # nothing was set to missing: no clause about it
    assert returns_text(tables.report).startswith("The orders include 1 return (negative")
    monthly = monthly_orders(tables.orders, analysis_date=REF)
    assert monthly_counts_text(monthly) == "Right: number of orders and of returns per month."


def test_a_text_column_of_the_orders_that_is_one_value_per_customer_describes_the_customer() -> (
    None
):
    from segwork.pages.data_collection import from_orders_text
    from segwork.quality import customer_columns_from_orders

    rng = np.random.default_rng(3)
    ids = [f"C{i:02d}" for i in range(40)]
    home = dict(zip(ids, rng.choice(["United Kingdom", "France", "EIRE"], 40), strict=True))
    cust = rng.choice(ids, 300)
    orders = pd.DataFrame(
        {
            "order_id": [f"5{i:05d}" for i in range(300)],
            "customer_id": cust,
            "order_date": REF - pd.to_timedelta(rng.integers(0, 400, 300), unit="D"),
            "amount": rng.gamma(2, 30, 300),
            "Country": [home[c] for c in cust],
            "channel": rng.choice(["web", "shop"], 300),  # differs between a customer's orders
        }
    )
    orders.loc[5, "Country"] = None  # a missing value is not a second value
    got = customer_columns_from_orders(orders)
    assert list(got.columns) == ["Country"]
    expected = orders.dropna(subset=["Country"]).groupby("customer_id")["Country"].first()
    assert got["Country"].sort_index().to_dict() == expected.sort_index().to_dict()
    orders.loc[orders.index[orders["customer_id"] == cust[0]][:1], "Country"] = "Mars"
    assert customer_columns_from_orders(orders).columns.empty  # one customer with two: not a fact
    assert customer_columns_from_orders(None).empty
    assert from_orders_text(["Country"]).startswith("Country is taken from the orders: every")


def test_a_flagged_return_of_amount_zero_is_no_purchase_anywhere() -> None:
    """One rule (schema.is_purchase): a cancelled free order (is_return, amount 0) is a return in
    the customer 360 and the monthly counts, and no purchase for RFM; a plain free order is one."""
    from segwork import quality, rfm

    orders = pd.DataFrame(
        {
            "order_id": ["1", "2", "C3", "4"],
            "customer_id": ["a", "a", "a", "b"],
            "order_date": pd.to_datetime(["2025-01-10", "2025-02-01", "2025-03-01", "2025-03-05"]),
            "amount": [100.0, 0.0, 0.0, 50.0],
            "is_return": [False, False, True, False],
        }
    )
    c360 = build_customer360(
        pd.DataFrame({"customer_id": ["a", "b"]}), orders, analysis_date="2025-06-30"
    )
    assert c360.loc["a", "orders_total"] == 2  # the paid and the free order, not the cancellation
    assert c360.loc["a", "returns_total"] == 1
    monthly = quality.monthly_orders(orders, analysis_date="2025-06-30").set_index("month")
    assert monthly.loc[pd.Timestamp("2025-03-01"), "orders"] == 1  # b's order only
    assert monthly.loc[pd.Timestamp("2025-03-01"), "returns"] == 1
    feats = rfm.features(orders, analysis_date="2025-06-30", window_days=None)
    assert feats.loc["a", "frequency"] == 2
    assert (
        feats.loc["a", "recency"] == (pd.Timestamp("2025-06-30") - pd.Timestamp("2025-02-01")).days
    )


def test_c360_contents_counts_the_customer_id_column() -> None:
    """A survey-only 360 has the id and ``survey_answered``: two columns, as the artifact has."""
    from segwork.pages.data_collection import c360_contents

    responses = pd.DataFrame({"customer_id": ["a", "b"], "item_id": "Q1", "value": [1, 2]})
    c360 = build_customer360(
        pd.DataFrame({"customer_id": ["a", "b", "c"]}),
        None,
        analysis_date=REF,
        survey_responses=responses,
    )
    artifact_columns = c360.reset_index().shape[1]
    text = c360_contents(c360, [])
    assert f"3 rows and {artifact_columns} columns" in text
    assert artifact_columns == 2 and "1 column" not in text


def test_value_spread_says_how_many_buyers_its_percentiles_cover() -> None:
    from segwork.pages.data_collection import spread_text
    from segwork.quality import value_spread

    values = pd.Series([0.0] * 3 + list(np.linspace(10, 100, 97)) + [np.nan])
    spread = value_spread(values)
    positive = values[values > 0]
    assert (spread.positive, spread.not_positive) == (97, 3)
    assert spread.low == pytest.approx(np.percentile(positive, 1))
    assert spread.high == pytest.approx(np.percentile(positive, 99))
    text = spread_text(spread, "USD")
    assert "98% of the 97 buyers with a positive average" in text
    assert "3 buyers with an average of 0" in text
    assert "left out" not in spread_text(value_spread(positive), "USD")


def test_money_axis_uses_one_unit_per_axis_and_keeps_halves() -> None:
    import matplotlib.pyplot as plt

    from segwork.plots import histogram, money_axis

    fig, ax = plt.subplots()
    ax.set_ylim(0, 12_000)
    ax.set_yticks([0, 2_500, 8_000, 10_000, 12_000])
    money_axis(ax)
    fig.canvas.draw()
    labels = [t.get_text() for t in ax.get_yticklabels()]
    assert labels == ["0", "2.5 k", "8 k", "10 k", "12 k"]  # not "8,000" under "10 k", not "2 k"
    ax.set_ylim(0, 3_000_000)
    ax.set_yticks([0, 250_000, 3_000_000])
    money_axis(ax)
    fig.canvas.draw()
    assert [t.get_text() for t in ax.get_yticklabels()] == ["0", "0.25 M", "3 M"]
    ax = histogram(pd.DataFrame({"aov": [1.0, 2.0, 3.0]}), x="aov", xlabel="average order value")
    assert ax.get_xlabel() == "average order value"
    assert (
        histogram(pd.DataFrame({"days_since": [1, 2]}), x="days_since").get_xlabel() == "days since"
    )
    plt.close("all")


def test_missing_values_are_named_in_words_and_small_shares_keep_a_decimal() -> None:
    import matplotlib.pyplot as plt

    from segwork.pages.data_collection import missing_labels, missing_text
    from segwork.plots import share_bars

    missing = pd.DataFrame(
        {
            "table": ["survey_responses", "survey_responses"],
            "column": ["education", "N4"],
            "missing": [223, 36],
            "share": [223 / 2800, 36 / 2800],
        }
    )
    assert missing_labels(missing).tolist() == [
        "education (survey responses)",
        "N4 (survey responses)",
    ]
    ids = pd.DataFrame({"table": ["orders"], "column": ["original_order_id"]})
    assert missing_labels(ids).tolist() == ["original order id (orders)"]
    text = missing_text(missing, shown=2)
    assert "education (survey responses): 223 rows (8.0%) have no value" in text
    assert "survey_responses." not in text
    ax = share_bars(missing.assign(label=missing_labels), category="label", value="share")
    printed = [t.get_text().strip() for t in ax.texts]
    assert printed == ["8.0%", "1.3%"]  # not "8%" and "1%"
    plt.close("all")


def test_c360_charts_text_counts_buyers_idle_in_the_window() -> None:
    """CDNOW: 15,238 of the buyers had no order in the last 365 days; the left chart's bar at 0 is
    theirs and the sentence says so, with counts from the orders themselves."""
    from segwork.pages.data_collection import c360_charts_text
    from segwork.quality import value_spread

    customers, orders, _ = _random_history(n_orders=120)
    old = orders.assign(order_date=orders["order_date"] - pd.Timedelta(days=900))
    recent = orders.iloc[:40]
    recent = recent[recent["order_date"] <= REF]
    both = pd.concat([old, recent], ignore_index=True).assign(
        order_id=lambda d: [f"X{i}" for i in range(len(d))]
    )
    c360 = build_customer360(customers, both, analysis_date=REF)
    purchases = both[(both["amount"] > 0) & (both["order_date"] <= REF)]
    buyers = set(purchases["customer_id"])
    in_window = set(
        purchases.loc[purchases["order_date"] > REF - pd.Timedelta(days=365), "customer_id"]
    )
    text = c360_charts_text(c360, days=365, spread=value_spread(c360["aov"]), currency="USD")
    assert text.startswith(
        f"Of {len(customers):,} customers, {len(buyers):,} have ordered at least once, "
    )
    assert f"{len(in_window):,} of them in the last 365 days" in text
    assert f"({len(buyers - in_window):,} buyers placed none, the bar at 0)" in text
    assert len(buyers - in_window) > 0


def test_money_writes_thousands_in_full_below_ten_thousand() -> None:
    from segwork.display import money

    assert money(2016.4, "GBP") == "2,016 GBP"  # was "2.0 k GBP"
    assert money(9999.4, "GBP") == "9,999 GBP"
    assert money(43.31, "GBP") == "43.31 GBP"
    assert money(393_155.27, "USD") == "393.2 k USD"
    assert money(1_069_356.5, "USD") == "1.1 M USD"
    assert money(-3000, "EUR") == "-3,000 EUR"


def test_c360_contents_names_profile_columns_in_words() -> None:
    from segwork.pages.data_collection import c360_contents

    customers = pd.DataFrame({"customer_id": ["a"], "income_band": ["low"], "birth_date": [REF]})
    c360 = build_customer360(customers, None, analysis_date=REF)
    text = c360_contents(c360, ["income_band", "birth_date"])
    assert "(income band, birth date)" in text and "_" not in text


def test_breakdown_sentences_name_attributes_in_words() -> None:
    from segwork.pages.data_collection import breakdown_text, other_groups_text

    text = breakdown_text(with_orders=True, days=365, not_shown=["postal_code", "city"])
    assert text.endswith(
        "Not charted, as they have the most distinct values: postal code and city."
    )
    assert "Not charted" not in breakdown_text(with_orders=False)
    assert other_groups_text("income_band", shown=10, other_values=1) == (
        "Income band: the 10 largest groups are shown; 'other' gathers the remaining 1 value."
    )


def test_monthly_line_legend_has_no_column_name() -> None:
    import matplotlib.pyplot as plt

    from segwork.plots import monthly_line

    months = pd.date_range("2025-01-01", periods=3, freq="MS")
    long = pd.DataFrame(
        {
            "month": list(months) * 2,
            "type": ["orders"] * 3 + ["returns"] * 3,
            "count": [5, 6, 7, 1, 0, 2],
        }
    )
    ax = monthly_line(long, x="month", y="count", hue="type")
    legend = ax.get_legend()
    assert legend.get_title().get_text() == ""
    assert [t.get_text() for t in legend.get_texts()] == ["orders", "returns"]
    plt.close("all")


def test_an_analysis_date_long_after_the_last_order_is_said() -> None:
    """Data that ends in 2011 analysed in 2026 makes everyone look lapsed: page 01 says so, with
    the dates, the gap and the fix; an analysis date close to the data says nothing."""
    from segwork import quality

    orders = pd.DataFrame(
        {
            "order_id": ["A", "B", "C", "D"],
            "customer_id": ["c1", "c2", "c1", "c3"],
            "order_date": pd.to_datetime(["2010-12-01", "2011-06-05", "2011-12-09", "2027-01-01"]),
            "amount": [10.0, 20.0, 5.0, 7.0],
        }
    )
    last = quality.last_order_date(orders, analysis_date="2026-09-30")
    assert last == pd.Timestamp("2011-12-09")  # the order after the analysis date is left out
    gap = (pd.Timestamp("2026-09-30") - pd.Timestamp("2011-12-09")).days
    assert quality.stale_analysis_date_text(last, analysis_date="2026-09-30") == (
        f"The last order is on 09 Dec 2011, {gap:,} days before the analysis date 30 Sep 2026: "
        "recency and 'active' counts are measured from the analysis date; set analysis_date to "
        "the end of the export (2011-12-09) if that is not intended."
    )
    assert gap == 5409
    # within 90 days of the last order: nothing to say; the 91st day is said
    assert quality.stale_analysis_date_text(last, analysis_date="2012-03-08") == ""
    assert "91 days before" in quality.stale_analysis_date_text(last, analysis_date="2012-03-09")
    assert quality.last_order_date(orders, analysis_date="2010-11-30") is None
    assert quality.stale_analysis_date_text(None, analysis_date="2026-09-30") == ""


def test_days_since_are_whole_calendar_days_also_for_orders_on_the_analysis_day() -> None:
    """An order at 18:30 on the analysis day is 0 days ago, not -1; one at 23:59 the day before
    is 1 day ago (the analysis date is a whole day)."""
    from segwork.customers import order_behaviour

    orders = pd.DataFrame(
        {
            "order_id": ["a", "b", "c", "d"],
            "customer_id": ["today", "yesterday", "yesterday", "old"],
            "order_date": pd.to_datetime(
                ["2025-06-30 18:30", "2025-06-29 23:59", "2025-06-01 00:01", "2024-06-30 12:00"]
            ),
            "amount": [10.0, 5.0, 7.0, 3.0],
        }
    )
    got = order_behaviour(orders, analysis_date="2025-06-30")
    ref = pd.Timestamp("2025-06-30")
    expected_last = {"today": 0, "yesterday": 1, "old": (ref - pd.Timestamp("2024-06-30")).days}
    expected_first = {"today": 0, "yesterday": 29, "old": 365}
    assert got["days_since_last_order"].to_dict() == expected_last
    assert got["tenure_days"].to_dict() == expected_first
