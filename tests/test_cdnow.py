"""CDNOW, real purchase data nobody here wrote, against lifetimes as the oracle.

CDNOW (Fader, Hardie & Lee): 23,570 customers who first bought in the first quarter of 1997,
followed to 30 June 1998; 69,659 order rows, 80 of them with amount 0 (free items). The data
comes from the lifetimes wheel on PyPI (tests/realdata.py); lifetimes 0.11.3 itself is the
oracle for the clv summary and the BG/NBD and Gamma-Gamma fits, and the parameters lifetimes
documents for its CDNOW sample are the published reference.
"""

from __future__ import annotations

import warnings

import numpy as np
import pandas as pd
import pytest
from lifetimes import BetaGeoFitter, GammaGammaFitter
from lifetimes.utils import summary_data_from_transaction_data

from segwork import clv, rfm
from segwork.pages import rfm_clv as page02
from segwork.steps import rfm_clv as step02
from tests.realdata import cdnow_master, cdnow_summary

END = "1998-06-30"


@pytest.fixture(scope="module")
def raw() -> pd.DataFrame:
    df = pd.read_csv(cdnow_master(), sep=r"\s+", dtype={"customer_id": str, "date": str})
    df["date"] = pd.to_datetime(df["date"], format="%Y%m%d")
    return df


@pytest.fixture(scope="module")
def orders(raw) -> pd.DataFrame:
    """The order rows in the orders contract (one row = one order; CDNOW has no order id)."""
    return pd.DataFrame(
        {
            "order_id": [f"R{i}" for i in range(len(raw))],
            "customer_id": raw["customer_id"],
            "order_date": raw["date"],
            "amount": raw["dollar_value"].astype("float64"),
        }
    )


@pytest.fixture(scope="module")
def weekly(orders) -> pd.DataFrame:
    with warnings.catch_warnings():
        warnings.simplefilter("error", rfm.RFMWarning)  # nobody may be left out
        return rfm.features(orders, analysis_date=END, convention="clv", time_unit="W")


def test_the_data_is_the_published_cdnow(raw) -> None:
    assert len(raw) == 69_659 and raw["customer_id"].nunique() == 23_570
    assert (raw["dollar_value"] == 0).sum() == 80 and (raw["dollar_value"] < 0).sum() == 0
    assert raw["date"].min() == pd.Timestamp("1997-01-01") and raw["date"].max() == pd.Timestamp(
        END
    )


@pytest.mark.parametrize("unit", ["D", "W"])
def test_clv_summary_equals_lifetimes_for_every_customer(raw, orders, unit) -> None:
    want = summary_data_from_transaction_data(
        raw,
        "customer_id",
        "date",
        monetary_value_col="dollar_value",
        observation_period_end=END,
        freq=unit,
    )
    with warnings.catch_warnings():
        warnings.simplefilter("error", rfm.RFMWarning)
        got = rfm.features(orders, analysis_date=END, convention="clv", time_unit=unit)
    assert len(got) == len(want) == 23_570
    assert got.attrs["customers_excluded"] == 0
    got = got.reindex(want.index)
    for col in ("frequency", "recency", "T"):
        np.testing.assert_array_equal(got[col].to_numpy(float), want[col].to_numpy(float), col)
    # the same sums in another order: equal up to the last bits of a double
    np.testing.assert_allclose(got["monetary"], want["monetary_value"], rtol=1e-12, atol=1e-12)
    # the free orders are purchases: customers whose repeat purchases were all free
    free = (got["frequency"] > 0) & (got["monetary"] == 0)
    assert free.sum() == ((want["frequency"] > 0) & (want["monetary_value"] == 0)).sum() > 0


def test_bgnbd_equals_lifetimes_on_the_full_weekly_cdnow(weekly) -> None:
    want = BetaGeoFitter().fit(weekly["frequency"], weekly["recency"], weekly["T"])
    got = clv.BetaGeo().fit(weekly)
    for k in ("r", "alpha", "a", "b"):
        assert got.params_[k] == pytest.approx(float(want.params_[k]), rel=1e-5), k
    assert got.weak_parameters_ == [] and got.caveats() == []
    # lifetimes' per-customer predictions at the fitted parameters
    f, r, t = weekly["frequency"], weekly["recency"], weekly["T"]
    np.testing.assert_allclose(
        got.p_alive(weekly),
        want.conditional_probability_alive(f, r, t),
        rtol=1e-4,
    )
    np.testing.assert_allclose(
        got.expected_purchases(13.0, weekly),
        want.conditional_expected_number_of_purchases_up_to_time(13.0, f, r, t),
        rtol=1e-4,
    )


def test_bgnbd_reproduces_the_published_cdnow_sample_estimates() -> None:
    """lifetimes' documentation: r = 0.243, alpha = 4.414, a = 0.793, b = 2.426 on its
    2,357-customer CDNOW sample (weeks)."""
    sample = pd.read_csv(cdnow_summary())
    got = clv.BetaGeo().fit(sample)
    published = {"r": 0.243, "alpha": 4.414, "a": 0.793, "b": 2.426}
    for k, v in published.items():
        assert round(got.params_[k], 3) == v, (k, got.params_[k])


def test_gamma_gamma_equals_lifetimes_on_cdnow_repeat_buyers(weekly) -> None:
    repeat = weekly[(weekly["frequency"] > 0) & (weekly["monetary"] > 0)]
    want = GammaGammaFitter().fit(repeat["frequency"], repeat["monetary"])
    got = clv.GammaGamma().fit(weekly)
    assert got.n_customers_ == len(repeat)
    for k in ("p", "q", "v"):
        assert got.params_[k] == pytest.approx(float(want.params_[k]), rel=1e-5), k


def test_notebook_02_on_cdnow(orders) -> None:
    """A closed cohort with orders only: no new buyers, no profile breakdowns, no interactions
    in the words, every customer in the CLV table, and the models compared with an interval."""
    res = step02.run(orders, analysis_date=END, window_days=365)
    assert (res.migration.customers["segment_before"] == "new").sum() == 0
    assert len(res.clv_features) == 23_570
    assert res.breakdowns == [] and res.breakdown_note
    cov = res.scored.attrs["coverage"]
    assert cov["scored"] + cov["before_window"] == 23_570 and cov["only_returns"] == 0
    assert f"{cov['scored']:,} of 23,570 customers" in page02.coverage(res)
    text = "\n".join(
        [
            page02.coverage(res),
            page02.result_headline(res),
            *res.model_notes,
            page02.comparison_text(res.comparison),
        ]
    )
    for word in ("email", "complaint", "cart", "new buyers", "nan", "NaT"):
        assert word not in text
    # BG/NBD and the spend model are trusted on CDNOW: the value table shows its chance still
    # active and CLV
    assert not res.bgnbd_untrusted and not res.spend_untrusted and res.spend.caveats() == []
    page = page02.segment_value_table(res, currency="USD", discount_rate_monthly=0.01)
    # the lifetime model chosen on the last 90 days gives the value table: on CDNOW MBG/NBD
    # (its squared error within noise of BG/NBD's, its ranking of buyers far better)
    assert res.model_choice.chosen == res.lifetime.key == "mbgnbd"
    assert "chance still active (MBG/NBD)" in page.frame.columns
    assert "value per customer, 12 months" in page.frame.columns
    assert page.currency == "USD" and page.formats["value per customer, 12 months"] == "money"
    assert "not shown" not in page.note
    d = res.comparison.auc_difference
    called_better = "ranked customers better" in text
    assert called_better == (d["low"] > 0 or d["high"] < 0)


def test_page_02_migration_counts_on_cdnow(raw, orders) -> None:
    """The headline's migration counts against pandas on the raw file: customers with a purchase
    in the 365 days up to 1 April 1998 (scored then), those of them with none in the 365 days up
    to 30 June 1998 (no longer scored), and the earlier customers who came back."""
    res = step02.run(orders, analysis_date=END, window_days=365)
    end, earlier = pd.Timestamp(END), pd.Timestamp(END) - pd.Timedelta(days=90)

    def buyers(upto: pd.Timestamp) -> set[str]:
        rows = raw[(raw["date"] > upto - pd.Timedelta(days=365)) & (raw["date"] <= upto)]
        return set(rows["customer_id"])

    then, now = buyers(earlier), buyers(end)
    text = page02.result_headline(res)
    assert (len(then), len(then - now), len(now - then)) == (9_499, 1_630, 463)
    assert f"Of the {len(then):,} customers scored on 01 Apr 1998" in text
    assert f"{len(then - now):,} ({len(then - now) / len(then):.0%}) are no longer scored" in text
    assert (
        f"no first-time buyers arrived and {len(now - then):,} earlier customers came back" in text
    )
    assert "no 'new' row" in page02.migration_text(res.migration, window_days=365)


def test_page_01_order_value_spread_on_cdnow(raw) -> None:
    """68 CDNOW customers bought only free items: the spread names them and the 23,502 others."""
    from segwork.pages.data_collection import spread_text
    from segwork.quality import value_spread

    per_day = raw.groupby(["customer_id", "date"])["dollar_value"].sum()
    aov = per_day.groupby(level="customer_id").mean()
    spread = value_spread(aov)
    assert (spread.positive, spread.not_positive) == (23_502, 68)
    assert spread.median == pytest.approx(aov[aov > 0].median())
    assert "98% of the 23,502 buyers with a positive average" in spread_text(spread, "USD")
