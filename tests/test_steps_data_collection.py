"""steps.data_collection.run without papermill, checked against plain pandas on the raw demo
tables; and the page it feeds (every section renders, with the same facts)."""

from __future__ import annotations

from pathlib import Path

import numpy as np
import pandas as pd
import pytest

from segwork.config import load_config
from segwork.demo import write_demo
from segwork.sources import load_tables
from segwork.steps import data_collection
from tests.conftest import write_config

WINDOWS = (30, 90, 365)


@pytest.fixture(scope="module")
def demo(tmp_path_factory):
    """A small demo CRM, its validated tables and the step's result on them."""
    base = tmp_path_factory.mktemp("dc")
    data = Path(write_demo(base / "demo", n_customers=400, seed=3))
    ref = pd.Timestamp(
        pd.read_json(data / "truth" / "truth.json", typ="series")["analysis_date"]
    ).normalize()
    names = {
        "customers": "customers.csv",
        "orders": "orders.parquet",
        "interactions": "interactions.parquet",
        "survey_responses": "survey_responses.csv",
        "survey_items": "survey_items.csv",
        "campaign_exposures": "campaign_exposures.csv",
    }
    sources = {t: {"path": str(data / f)} for t, f in names.items()}
    cfg = write_config(base, sources, analysis_date=str(ref.date()), currency="CZK")
    tables = load_tables(load_config(cfg))
    result = data_collection.run(tables, analysis_date=ref, windows_days=WINDOWS)
    return data, ref, tables, result


def test_customer360_matches_pandas_on_the_raw_demo_tables(demo) -> None:
    data, ref, _, result = demo
    customers = pd.read_csv(data / "customers.csv", dtype={"customer_id": str})
    orders = pd.read_parquet(data / "orders.parquet")
    end = ref + pd.Timedelta(days=1)
    known = orders[orders["order_date"] < end]
    purchase = (known["amount"] >= 0) & ~known["is_return"].fillna(False).astype(bool)
    c360 = result.customer360
    assert sorted(c360.index) == sorted(customers["customer_id"])
    g = known.assign(purchase=purchase).groupby("customer_id")
    expected = pd.DataFrame(
        {
            "orders_total": g["purchase"].sum(),
            "revenue_total": g["amount"].sum(),
            "last_order_date": g["order_date"].max(),
        }
    )
    for w in WINDOWS:
        inside = known[known["order_date"] >= end - pd.Timedelta(days=w)]
        gi = inside.assign(purchase=purchase.loc[inside.index]).groupby("customer_id")
        expected[f"orders_{w}d"] = gi["purchase"].sum()
        expected[f"revenue_{w}d"] = gi["amount"].sum()
    expected = expected.reindex(c360.index)
    for col in ("orders_total", "orders_30d", "orders_90d", "orders_365d"):
        got = c360[col].to_numpy()
        assert (got == expected[col].fillna(0).to_numpy()).all(), col
    for col in ("revenue_total", "revenue_30d", "revenue_365d"):
        np.testing.assert_allclose(c360[col], expected[col].fillna(0.0), rtol=1e-9, err_msg=col)
    assert (c360["active_365d"] == (expected["orders_365d"].fillna(0) > 0)).all()
    last = pd.to_datetime(c360["last_order_date"])
    assert (last.dropna() == expected["last_order_date"].dropna()).all()
    interactions = pd.read_parquet(data / "interactions.parquet")
    seen = interactions[interactions["occurred_at"] < end]
    recent = seen[seen["occurred_at"] >= end - pd.Timedelta(days=365)]
    counts = recent.groupby(["customer_id", "kind"]).size().unstack(fill_value=0)
    for kind in counts.columns:
        got = c360[f"{kind}_365d"].reindex(counts.index)
        assert (got.to_numpy() == counts[kind].to_numpy()).all(), kind
    answered = set(
        pd.read_csv(data / "survey_responses.csv", dtype={"customer_id": str})["customer_id"]
    )
    assert set(c360.index[c360["survey_answered"]]) == answered
    # the dataset the run saves: customer_id as a column, one row per customer
    saved = result.outputs()
    assert list(saved) == ["customer360"]
    assert saved["customer360"]["customer_id"].is_unique
    assert len(saved["customer360"]) == len(customers)


def test_page_facts_match_pandas_on_the_raw_demo_tables(demo) -> None:
    data, ref, tables, result = demo
    orders = pd.read_parquet(data / "orders.parquet")
    end = ref + pd.Timedelta(days=1)
    known = orders[orders["order_date"] < end]
    assert result.orders_after == int((orders["order_date"] >= end).sum())
    assert result.last_order == known["order_date"].max().normalize()
    overview = result.overview.set_index("table")
    assert overview.loc["orders", "rows"] == len(orders)
    assert overview.loc["orders", "customers"] == orders["customer_id"].nunique()
    assert overview.loc["orders", "to"] == f"{orders['order_date'].max():%Y-%m-%d}"
    interactions = pd.read_parquet(data / "interactions.parquet")
    assert overview.loc["interactions", "rows"] == len(interactions)
    # missing values: every column of the raw orders with gaps, with its share
    missing = result.missing.set_index(["table", "column"])["missing"]
    for col, n in orders.isna().sum().items():
        assert missing.get(("orders", col), 0) == n, col
    customers = tables.customers
    for col, n in customers.isna().sum().items():
        assert missing.get(("customers", col), 0) == n, col
    assert result.missing["share"].is_monotonic_decreasing
    # months: purchases, net revenue and customers per calendar month up to the analysis date
    month = known["order_date"].dt.to_period("M").dt.to_timestamp()
    purchase = (known["amount"] >= 0) & ~known["is_return"].fillna(False).astype(bool)
    monthly = result.monthly.set_index("month")
    np.testing.assert_allclose(monthly["revenue"], known.groupby(month)["amount"].sum())
    assert (monthly["orders"] == purchase.groupby(month).sum()).all()
    assert (monthly["customers"] == known.groupby(month)["customer_id"].nunique()).all()
    # revenue by each text column of the orders, and consent shares
    assert result.order_breakdowns, "the demo orders have category and channel"
    for column, table in result.order_breakdowns.items():
        expected = known.groupby(known[column].fillna("(unknown)"))["amount"].sum()
        got = table.set_index(column)["revenue"]
        np.testing.assert_allclose(got.sort_index(), expected.sort_index(), err_msg=column)
        assert table["revenue"].is_monotonic_decreasing
    consent = result.consent.set_index("channel")["share"]
    raw = pd.read_csv(data / "customers.csv")
    assert consent["email"] == pytest.approx(raw["email_opt_in"].fillna(False).mean())
    # breakdowns: every customer counted once per attribute
    for column, groups in result.breakdowns.items():
        assert groups["customers"].sum() == len(customers), column
    summary = result.summary()
    assert "customers: 400" in summary


def test_every_section_of_page_01_renders(demo, monkeypatch) -> None:
    """Each section call shows its text (captured) and closes its figures; the headline and the
    sentences are those of the page text functions."""
    import matplotlib

    matplotlib.use("Agg", force=True)
    import matplotlib.pyplot as plt

    from segwork import display
    from segwork.pages import data_collection as page

    shown: list[str] = []
    monkeypatch.setattr(display, "_html", shown.append)
    monkeypatch.setattr(plt, "show", lambda: plt.close("all"))
    _, _, _, result = demo
    for section in (
        page.headline,
        page.tables_read,
        page.validation,
        page.missing_values,
        page.orders_over_time,
        page.revenue_by_order_columns,
        page.customer360,
        page.customers_by_attribute,
        page.consent,
    ):
        before = len(shown)
        section(result)
        assert len(shown) > before, section.__name__
    html = "\n".join(shown)
    assert "The customer table holds 400 customers" in html
    assert "Tables, their size and the period they cover" in html
    assert "Net revenue of the orders by" in html
    assert "Share of all customers who agreed to be contacted" in html
    assert not plt.get_fignums()


def test_a_run_without_orders_or_customer_table(tmp_path: Path) -> None:
    """Campaign exposures alone: no order facts, customers derived, the page says why."""
    from segwork.pages import data_collection as page

    pd.DataFrame(
        {
            "customer_id": ["a", "b", "c", "d"],
            "campaign_id": "x",
            "variant": ["A", "B", "A", "B"],
        }
    ).to_csv(tmp_path / "exposures.csv", index=False)
    cfg = write_config(tmp_path, {"campaign_exposures": {"path": "exposures.csv"}})
    tables = load_tables(load_config(cfg))
    result = data_collection.run(tables, analysis_date="2025-06-30")
    assert not result.has_orders and result.monthly is None and result.orders_after is None
    assert result.customers_derived and list(result.customer360.index) == ["a", "b", "c", "d"]
    assert result.tables == ("customers", "campaign_exposures")
    assert page.headline_text(result).startswith("There is no customer table; the customers are")
    assert page.absent_sections(result)[0].startswith("There is no order table in this run")
    assert page.no_consent_text(result).startswith("There is no customer table")
