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
        buys = g[g["amount"] > 0]
        r = {
            "orders_total": len(buys),
            "returns_total": int((g["amount"] < 0).sum()),
            "revenue_total": g["amount"].sum(),
            "last_order_date": g["order_date"].max(),
            "aov": buys["amount"].mean() if len(buys) else np.nan,
        }
        for w in windows:
            inside = g[g["order_date"] >= end - pd.Timedelta(days=w)]
            r[f"orders_{w}d"] = int((inside["amount"] > 0).sum())
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
