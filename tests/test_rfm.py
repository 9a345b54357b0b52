"""RFM features, scores, segment maps, KPIs, migration, breakdowns and plots.

Features are checked against independent plain-pandas computations of the documented rules
(the clv oracle floors dates with pandas Periods, as lifetimes does, instead of DuckDB's
date_trunc); scores against pandas.qcut on ranks; the default map against the published R x FM
cell list.
"""

from __future__ import annotations

import math
import re
import warnings

import ibis
import matplotlib
import numpy as np
import pandas as pd
import pytest
from hypothesis import HealthCheck, given, settings
from hypothesis import strategies as st

from segwork import rfm
from segwork.pages import rfm_clv as page02
from segwork.plots import rfm as plots_rfm
from segwork.schema import SchemaError

matplotlib.use("Agg")

pytestmark = pytest.mark.filterwarnings("ignore::segwork.rfm.RFMWarning")


# ------------------------------------------------------------------------------------------
# data and oracles
# ------------------------------------------------------------------------------------------
def make_orders(seed: int = 0, n_customers: int = 60, n_rows: int = 500) -> pd.DataFrame:
    """Random orders with same-day orders, returns, return-only customers and future orders."""
    rng = np.random.default_rng(seed)
    cust = rng.integers(0, n_customers, n_rows)
    # few distinct days per customer -> many same-day orders
    day = rng.integers(0, 40, n_rows) * 10 + (cust % 7)
    ts = (
        pd.Timestamp("2024-01-01")
        + pd.to_timedelta(day, unit="D")
        + pd.to_timedelta(rng.integers(0, 24 * 60, n_rows), unit="min")
    )
    amount = np.round(rng.lognormal(6, 1, n_rows), 2)
    is_return = rng.random(n_rows) < 0.15
    amount[is_return] = -np.round(amount[is_return] * rng.uniform(0.2, 1.5, is_return.sum()), 2)
    df = pd.DataFrame(
        {
            "order_id": [f"O{i:05d}" for i in range(n_rows)],
            "customer_id": [f"C{c:03d}" for c in cust],
            "order_date": ts,
            "amount": amount,
        }
    )
    # a return-only customer and a customer whose only purchase is fully returned the same day
    extra = pd.DataFrame(
        {
            "order_id": ["R1", "X1", "X2"],
            "customer_id": ["RET", "FULL", "FULL"],
            "order_date": pd.to_datetime(
                ["2024-05-01 10:00", "2024-06-01 09:00", "2024-06-01 18:00"], format="ISO8601"
            ),
            "amount": [-50.0, 80.0, -80.0],
        }
    )
    return pd.concat([df, extra], ignore_index=True)


def oracle_classic(
    df: pd.DataFrame,
    ref: str,
    *,
    unit: str = "D",
    window_days: int | None = None,
    frequency_unit: str = "orders",
    monetary: str = "sum",
) -> pd.DataFrame:
    ref_ts = pd.Timestamp(ref)
    day = df["order_date"].dt.normalize()
    d = df[day <= ref_ts]
    if window_days is not None:
        d = d[d["order_date"].dt.normalize() > ref_ts - pd.Timedelta(days=window_days)]
    buys = d[d["amount"] >= 0]  # free items are purchases
    g = buys.groupby("customer_id")
    last = g["order_date"].max().dt.normalize()
    days = (ref_ts - last).dt.days
    if frequency_unit == "orders":
        freq = g["order_id"].nunique()
    else:
        freq = buys.assign(day=buys["order_date"].dt.date).groupby("customer_id")["day"].nunique()
    revenue = d.groupby("customer_id")["amount"].sum().reindex(last.index)
    out = pd.DataFrame(
        {
            "recency": days if unit == "D" else days / 7,
            "frequency": freq,
            "monetary": revenue if monetary == "sum" else revenue / freq,
        }
    )
    return out.sort_index()


def oracle_clv(df: pd.DataFrame, ref: str, unit: str = "D") -> pd.DataFrame:
    """lifetimes' summary_data_from_transaction_data without the periods that have returns and
    net revenue <= 0 (periods without returns count, even at zero revenue)."""
    ref_ts = pd.Timestamp(ref)
    d = df[df["order_date"] < ref_ts + pd.Timedelta(days=1)].copy()
    d["period"] = d["order_date"].dt.to_period(unit)
    g = d.groupby(["customer_id", "period"])["amount"]
    per, lowest = g.sum(), g.min()
    per = per[(per > 0) | (lowest >= 0)]
    end = ref_ts.to_period(unit)
    rows = {}
    for cid, s in per.groupby(level="customer_id"):
        periods = s.index.get_level_values("period").sort_values()
        vals = s.sort_index(level="period").to_numpy()
        rows[cid] = {
            "frequency": len(periods) - 1,
            "recency": float((periods[-1] - periods[0]).n),
            "T": float((end - periods[0]).n),
            "monetary": float(vals[1:].mean()) if len(vals) > 1 else 0.0,
        }
    out = pd.DataFrame.from_dict(rows, orient="index")
    out.index.name = "customer_id"
    return out.sort_index()


def assert_frames_close(got: pd.DataFrame, want: pd.DataFrame) -> None:
    assert list(got.index) == list(want.index)
    for col in want.columns:
        np.testing.assert_allclose(
            got[col].to_numpy(dtype=float),
            want[col].to_numpy(dtype=float),
            rtol=1e-9,
            atol=1e-9,
            err_msg=col,
        )


# ------------------------------------------------------------------------------------------
# features against the oracles
# ------------------------------------------------------------------------------------------
@pytest.mark.parametrize(
    "ref", ["2024-09-30", "2024-10-06", "2025-03-31"]
)  # Monday, Sunday, after all orders
@pytest.mark.parametrize("unit", ["D", "W"])
def test_clv_features_match_oracle(ref, unit):
    df = make_orders(1)
    got = rfm.features(df, analysis_date=ref, convention="clv", time_unit=unit)
    assert list(got.columns) == ["frequency", "recency", "T", "monetary"]
    assert_frames_close(got, oracle_clv(df, ref, unit))
    assert "RET" not in got.index and "FULL" not in got.index  # no purchase period


@pytest.mark.parametrize("unit", ["D", "W"])
@pytest.mark.parametrize("frequency_unit", ["orders", "days"])
@pytest.mark.parametrize("monetary", ["sum", "mean"])
@pytest.mark.parametrize("window_days", [None, 120])
def test_classic_features_match_oracle(unit, frequency_unit, monetary, window_days):
    df = make_orders(2)
    ref = "2024-10-06"
    got = rfm.features(
        df,
        analysis_date=ref,
        time_unit=unit,
        window_days=window_days,
        frequency_unit=frequency_unit,
        monetary=monetary,
    )
    assert list(got.columns) == ["recency", "frequency", "monetary"]
    want = oracle_classic(
        df,
        ref,
        unit=unit,
        window_days=window_days,
        frequency_unit=frequency_unit,
        monetary=monetary,
    )
    assert_frames_close(got, want)
    assert "RET" not in got.index
    assert got.attrs["orders_after_analysis_date"] == int(
        (df["order_date"] >= pd.Timestamp(ref) + pd.Timedelta(days=1)).sum()
    )


day_rows = st.lists(
    st.tuples(
        st.sampled_from(["a", "b", "c"]),
        st.integers(0, 30),
        st.integers(0, 23),
        st.sampled_from([10.0, 25.5, 100.0, -10.0, -25.5, 0.0]),
    ),
    min_size=1,
    max_size=25,
)


@settings(max_examples=30, deadline=None, suppress_health_check=[HealthCheck.too_slow])
@given(rows=day_rows, ref_day=st.integers(0, 35), unit=st.sampled_from(["D", "W"]))
def test_features_property(rows, ref_day, unit):
    df = pd.DataFrame(
        {
            "order_id": [f"o{i}" for i in range(len(rows))],
            "customer_id": [r[0] for r in rows],
            "order_date": [
                pd.Timestamp("2025-03-01") + pd.Timedelta(days=r[1], hours=r[2]) for r in rows
            ],
            "amount": [r[3] for r in rows],
        }
    )
    ref = str((pd.Timestamp("2025-03-01") + pd.Timedelta(days=ref_day)).date())
    want_clv = oracle_clv(df, ref, unit)
    want_classic = oracle_classic(df, ref, unit=unit)
    if want_classic.empty:
        with pytest.raises(rfm.RFMError, match="no (orders|purchases) .*on or before"):
            rfm.features(df, analysis_date=ref)
        return
    assert_frames_close(rfm.features(df, analysis_date=ref, time_unit=unit), want_classic)
    if want_clv.empty:
        with pytest.raises(rfm.RFMError, match="no purchases"):
            rfm.features(df, analysis_date=ref, convention="clv", time_unit=unit)
    else:
        assert_frames_close(
            rfm.features(df, analysis_date=ref, convention="clv", time_unit=unit), want_clv
        )


def test_clv_hand_example_lifetimes_semantics():
    """frequency = repeat purchase days, recency = first->last, T = first->end, monetary = mean of repeats."""
    df = pd.DataFrame(
        {
            "order_id": ["1", "2", "3", "4", "5", "6", "7", "8"],
            "customer_id": ["A", "A", "A", "A", "B", "C", "D", "D"],
            "order_date": pd.to_datetime(
                [
                    "2025-01-01 09:00",
                    "2025-01-01 17:00",
                    "2025-01-11",
                    "2025-01-21",
                    "2025-01-15",
                    "2025-02-05",
                    "2025-01-05",
                    "2025-02-10",
                ],
                format="ISO8601",
            ),
            "amount": [100.0, 50.0, 30.0, 60.0, 80.0, 10.0, 20.0, 99.0],
        }
    )
    days = rfm.features(df, analysis_date="2025-01-31", convention="clv")
    # A: purchase days 01-01 (two orders = one day), 01-11, 01-21 -> 2 repeats, recency 20, T 30,
    # monetary (30 + 60) / 2. B: one purchase -> 0, 0, T 16, monetary 0. C only after the date.
    # D: the 02-10 order is after the analysis date.
    expected = pd.DataFrame(
        {
            "frequency": [2, 0, 0],
            "recency": [20.0, 0.0, 0.0],
            "T": [30.0, 16.0, 26.0],
            "monetary": [45.0, 0.0, 0.0],
        },
        index=pd.Index(["A", "B", "D"], name="customer_id"),
    )
    assert_frames_close(days, expected)
    assert days["frequency"].dtype == np.int64
    # weeks (Monday starts, as pandas to_period("W")): A 2024-12-30, 2025-01-06, 01-20; end week 01-27
    weeks = rfm.features(df, analysis_date="2025-01-31", convention="clv", time_unit="W")
    expected_w = pd.DataFrame(
        {
            "frequency": [2, 0, 0],
            "recency": [3.0, 0.0, 0.0],
            "T": [4.0, 2.0, 4.0],
            "monetary": [45.0, 0.0, 0.0],
        },
        index=expected.index,
    )
    assert_frames_close(weeks, expected_w)


def test_returns_reduce_revenue_on_their_own_day():
    df = pd.DataFrame(
        {
            "order_id": ["1", "2", "3", "4", "5"],
            "customer_id": ["A"] * 5,
            "order_date": pd.to_datetime(
                ["2025-01-01", "2025-01-05", "2025-01-05", "2025-01-09", "2025-01-12"]
            ),
            "amount": [100.0, 40.0, -10.0, -100.0, 70.0],
        }
    )
    clv = rfm.features(df, analysis_date="2025-01-20", convention="clv")
    # purchase days: 01-01 (100), 01-05 (net 30), 01-12 (70); 01-09 is a return-only day (not a purchase)
    assert clv.loc["A", "frequency"] == 2
    assert clv.loc["A", "recency"] == 11.0
    assert clv.loc["A", "monetary"] == pytest.approx((30 + 70) / 2)
    classic = rfm.features(df, analysis_date="2025-01-20")
    assert classic.loc["A", "frequency"] == 3  # purchase orders 1, 2, 5
    assert classic.loc["A", "monetary"] == pytest.approx(100.0)  # 100 + 40 - 10 - 100 + 70
    assert classic.loc["A", "recency"] == 8  # last purchase 01-12, not the return on 01-09


def test_excluded_customers_are_counted_and_warned():
    df = make_orders(3)
    with pytest.warns(rfm.RFMWarning, match="left out"):
        f = rfm.features(df, analysis_date="2025-03-31")
    assert f.attrs["customers_excluded"] == 1  # RET; FULL's purchase row still counts in classic
    assert "FULL" in f.index
    with pytest.warns(rfm.RFMWarning, match="left out"):
        c = rfm.features(df, analysis_date="2025-03-31", convention="clv")
    assert c.attrs["customers_excluded"] == 2 and "FULL" not in c.index


def test_ibis_table_input_matches_pandas_input(tmp_path):
    df = make_orders(4)
    df.to_parquet(tmp_path / "orders.parquet")
    t = ibis.duckdb.connect().read_parquet(tmp_path / "orders.parquet")
    for conv in ("classic", "clv"):
        a = rfm.features(df, analysis_date="2024-11-15", convention=conv)
        b = rfm.features(t, analysis_date="2024-11-15", convention=conv)
        pd.testing.assert_frame_equal(a, b)


def test_string_dates_are_parsed():
    df = make_orders(5)
    as_text = df.assign(order_date=df["order_date"].dt.strftime("%Y-%m-%d %H:%M:%S"))
    pd.testing.assert_frame_equal(
        rfm.features(as_text, analysis_date="2024-11-15"),
        rfm.features(df, analysis_date="2024-11-15"),
    )


def test_single_customer():
    df = make_orders(6)
    one = df[df["customer_id"] == "C005"]
    got = rfm.features(one, analysis_date="2025-03-31", convention="clv")
    assert_frames_close(got, oracle_clv(one, "2025-03-31"))
    assert len(got) == 1


# ------------------------------------------------------------------------------------------
# errors and degenerate inputs
# ------------------------------------------------------------------------------------------
def test_missing_column_names_it_and_lists_present():
    df = make_orders().drop(columns="amount")
    with pytest.raises(SchemaError, match="amount") as e:
        rfm.features(df, analysis_date="2025-01-01")
    assert "columns present: order_id, customer_id, order_date" in str(e.value)


def test_empty_window_and_bad_dates():
    df = make_orders()
    with pytest.raises(rfm.RFMError, match="no orders on or before 2020-01-01"):
        rfm.features(df, analysis_date="2020-01-01")
    with pytest.raises(rfm.RFMError, match="not a date"):
        rfm.features(df, analysis_date="the end of June")
    with pytest.raises(rfm.RFMError, match="missing"):
        rfm.features(df, analysis_date=None)
    returns_only = df[df["customer_id"] == "RET"]
    with pytest.raises(rfm.RFMError, match="no purchases"):
        rfm.features(returns_only, analysis_date="2025-01-01")
    with pytest.raises(rfm.RFMError, match="window_days"):
        rfm.features(df, analysis_date="2025-01-01", window_days=0)
    with pytest.raises(rfm.RFMError, match="classic convention only"):
        rfm.features(df, analysis_date="2025-01-01", convention="clv", monetary="mean")


def test_null_keys_are_an_error_not_a_silent_drop():
    df = make_orders()
    df.loc[3, "customer_id"] = None
    with pytest.raises(SchemaError, match="1 rows have no customer_id"):
        rfm.features(df, analysis_date="2025-01-01")


def test_one_order_in_total_is_documented():
    df = pd.DataFrame(
        {
            "order_id": ["1"],
            "customer_id": ["A"],
            "order_date": pd.to_datetime(["2025-01-10"]),
            "amount": [50.0],
        }
    )
    f = rfm.features(df, analysis_date="2025-01-31")
    assert (f.loc["A", "recency"], f.loc["A", "frequency"], f.loc["A", "monetary"]) == (21, 1, 50.0)
    c = rfm.features(df, analysis_date="2025-01-31", convention="clv")
    assert c.loc["A"].tolist() == [0, 0.0, 21.0, 0.0]
    with pytest.warns(rfm.RFMWarning, match="same value"):
        s = rfm.score(f)
    # documented: a constant score gives every customer the middle score
    assert s.loc["A", "rfm_code"] == "333"
    assert s.loc["A", "segment"] == "Potential Loyalist"  # R 3, FM 3 in the default grid


def test_all_customers_identical():
    base = pd.DataFrame(
        {"order_date": pd.to_datetime(["2025-01-02", "2025-01-20"]), "amount": [10.0, 20.0]}
    )
    df = pd.concat([base.assign(customer_id=f"C{i}") for i in range(12)], ignore_index=True)
    df["order_id"] = [f"o{i}" for i in range(len(df))]
    f = rfm.features(df, analysis_date="2025-01-31")
    with warnings.catch_warnings(record=True) as w:
        warnings.simplefilter("always")
        s = rfm.score(f)
    named = {str(x.message).split(" score")[0] for x in w if issubclass(x.category, rfm.RFMWarning)}
    assert named == {"R", "F", "M"}
    assert set(s["rfm_code"]) == {"333"}


# ------------------------------------------------------------------------------------------
# scores
# ------------------------------------------------------------------------------------------
def scoring_frame(n: int = 103, seed: int = 0) -> pd.DataFrame:
    rng = np.random.default_rng(seed)
    ids = [f"K{i:04d}" for i in rng.permutation(n)]
    return pd.DataFrame(
        {
            "recency": rng.integers(0, 30, n),
            "frequency": rng.poisson(1.5, n) + 1,
            "monetary": rng.lognormal(5, 1, n),
        },
        index=pd.Index(ids, name="customer_id"),
    )


def in_tie_break_order(feat: pd.DataFrame) -> pd.DataFrame:
    """The frame sorted by the documented tie-break: hash of the id as a string, then the id."""
    ids = pd.Series(feat.index, index=feat.index, dtype="string")
    h = pd.util.hash_pandas_object(ids, index=False)
    key = pd.DataFrame({"h": h.to_numpy(), "id": ids.to_numpy()}, index=feat.index)
    return feat.loc[key.sort_values(["h", "id"]).index]


@pytest.mark.parametrize("bins", [3, 4, 5, 7])
def test_quantile_scores_match_qcut_on_ranks_with_stated_tie_break(bins):
    feat = scoring_frame()
    s = rfm.score(feat, bins=bins)
    srt = in_tie_break_order(
        feat
    )  # ties broken by position: rank(method="first") on the sorted frame

    def qcut(x: pd.Series) -> pd.Series:
        return (pd.qcut(x.rank(method="first"), bins, labels=False) + 1).sort_index()

    for col, raw in (("F", srt["frequency"]), ("M", srt["monetary"]), ("R", -srt["recency"])):
        pd.testing.assert_series_equal(
            s[col].sort_index(), qcut(raw), check_names=False, check_dtype=False
        )
    for col in "RFM":
        sizes = s[col].value_counts().reindex(range(1, bins + 1), fill_value=0)
        assert sizes.max() - sizes.min() <= 1, col
    # recency inverted: the most recent customer has the top R score
    assert s.loc[feat["recency"].idxmin(), "R"] == bins
    assert (s["rfm_code"] == s["R"].astype(str) + s["F"].astype(str) + s["M"].astype(str)).all()


def test_ties_follow_the_tie_break_order_and_are_reproducible():
    feat = scoring_frame()
    s = rfm.score(feat)
    for _, grp in in_tie_break_order(s).groupby("frequency", sort=False):
        assert grp["F"].is_monotonic_increasing
    shuffled = feat.sample(frac=1.0, random_state=3)
    pd.testing.assert_series_equal(
        rfm.score(shuffled)["rfm_code"].sort_index(), s["rfm_code"].sort_index()
    )


def test_tie_break_is_unrelated_to_id_order():
    """Sequential ids (which grow with sign-up date) must not decide who of a tie gets the higher score."""
    n = 2000
    ids = pd.Index([f"C{i:06d}" for i in range(n)], name="customer_id")
    feat = pd.DataFrame(
        {
            "recency": np.arange(n) % 97,
            "frequency": np.where(np.arange(n) < 1200, 1, 2),
            "monetary": np.linspace(1, 100, n),
        },
        index=ids,
    )
    s = rfm.score(feat)
    one_timers = s[s["frequency"] == 1]
    assert set(one_timers["F"]) == {1, 2, 3}  # 60% one-time buyers fill F 1..3
    position = np.arange(len(one_timers))
    assert abs(np.corrcoef(position, one_timers["F"])[0, 1]) < 0.1


def test_collapse_warning_names_the_score():
    feat = scoring_frame()
    with warnings.catch_warnings(record=True) as w:
        warnings.simplefilter("always")
        rfm.score(feat)
    msgs = [str(x.message) for x in w if issubclass(x.category, rfm.RFMWarning)]
    assert any(m.startswith("F score") and "collapse" in m for m in msgs)
    assert not any(m.startswith("M score") for m in msgs)  # continuous values: no collapse


def test_cut_points():
    feat = pd.DataFrame(
        {
            "recency": [10, 30, 31, 400, 100, 200],
            "frequency": [1, 2, 3, 4, 5, 9],
            "monetary": [1.0, 2.0, 3.0, 4.0, 5.0, 6.0],
        },
        index=pd.Index(list("abcdef"), name="customer_id"),
    )
    s = rfm.score(feat, cut_points={"F": [1, 2, 4, 8], "recency": [30, 90, 180, 365]})
    assert s["F"].tolist() == [1, 2, 3, 3, 4, 5]
    assert s["R"].tolist() == [5, 5, 4, 1, 3, 2]
    with pytest.raises(rfm.RFMError, match="4 strictly increasing"):
        rfm.score(feat, cut_points={"F": [1, 2]})
    with pytest.raises(rfm.RFMError, match="cut_points keys"):
        rfm.score(feat, cut_points={"X": [1, 2, 3, 4]})


def test_clv_features_are_scored_on_time_since_last_purchase():
    df = make_orders(7)
    c = rfm.features(df, analysis_date="2025-03-31", convention="clv")
    s = rfm.score(c)
    since = c["T"] - c["recency"]
    assert s.loc[since.idxmin(), "R"] == 5 and s.loc[since.idxmax(), "R"] == 1


def test_bins_out_of_range():
    with pytest.raises(rfm.RFMError, match="bins"):
        rfm.score(scoring_frame(), bins=10)


# ------------------------------------------------------------------------------------------
# segment maps
# ------------------------------------------------------------------------------------------
# The R x FM grid as published in the SQL case study (R digit then FM digit), FM = ceil((F+M)/2).
PUBLISHED_R_FM = {
    "Champions": ["55", "54", "45"],
    "Potential Loyalist": ["52", "42", "33", "43"],
    "Loyal Customers": ["53", "44", "35", "34"],
    "Recent Customers": ["51"],
    "Promising": ["41", "31"],
    "Needs Attention": ["32", "23", "22"],
    "About To Sleep": ["21"],
    "At Risk": ["25", "24", "13"],
    "Can't Lose Them": ["15", "14"],
    "Hibernating": ["12"],
    "Lost": ["11"],
}


def test_default_map_is_a_partition_matching_the_published_grid():
    lookup = rfm.validate_segment_map(rfm.DEFAULT_SEGMENT_MAP, 5)
    assert len(lookup) == 125
    cell = {c: seg for seg, cells in PUBLISHED_R_FM.items() for c in cells}
    for code, seg in lookup.items():
        r, f, m = (int(x) for x in code)
        assert seg == cell[f"{r}{math.ceil((f + m) / 2)}"], code
    assert set(lookup.values()) == set(PUBLISHED_R_FM)
    # every code is listed exactly once across the segments
    listed = [c for codes in rfm.DEFAULT_SEGMENT_MAP.values() for c in codes]
    assert sorted(listed) == sorted(lookup)


def test_rf_grid_is_a_partition_that_ignores_m():
    lookup = rfm.validate_segment_map(rfm.RF_GRID_SEGMENT_MAP, 5)
    assert len(lookup) == 125 and len(set(lookup.values())) == 10
    for code, seg in lookup.items():
        assert all(lookup[code[:2] + m] == seg for m in "12345")
    assert (lookup["111"], lookup["551"], lookup["335"], lookup["513"], lookup["243"]) == (
        "Hibernating",
        "Champions",
        "Needs Attention",
        "New Customers",
        "At Risk",
    )
    assert lookup["233"] == "At Risk" and lookup["254"] == lookup["151"] == "Can't Lose Them"


def test_bad_user_map_lists_missing_and_duplicate_codes():
    bad = {"top": ["5.."], "middle": ["[34]..", "555"], "low": ["1..", "211"], "typo": ["6.."]}
    with pytest.raises(rfm.SegmentMapError) as e:
        rfm.validate_segment_map(bad, 5)
    err = e.value
    assert isinstance(err, ValueError)
    assert err.missing == [f"2{f}{m}" for f in range(1, 6) for m in range(1, 6) if (f, m) != (1, 1)]
    assert err.duplicates == {"555": ["top", "middle"]}
    assert err.unmatched == ["typo: '6..'"]
    msg = str(err)
    assert "24 codes left over: 212, 213" in msg and "555 (top & middle)" in msg


def test_user_map_from_yaml_text_and_file(tmp_path):
    text = "high:\n  - '3..'\nmid:\n  - '2..'\nlow:\n  - '1..'\n"
    path = tmp_path / "segments.yaml"
    path.write_text(text, encoding="utf-8")
    feat = scoring_frame()
    a = rfm.score(feat, bins=3, segment_map=text)
    b = rfm.score(feat, bins=3, segment_map=str(path))
    pd.testing.assert_series_equal(a["segment"], b["segment"])
    assert list(a["segment"].cat.categories) == ["high", "mid", "low"]
    assert (a.loc[a["R"] == 3, "segment"] == "high").all() and (
        a.loc[a["R"] == 1, "segment"] == "low"
    ).all()
    with pytest.raises(rfm.SegmentMapError, match="does not exist"):
        rfm.score(feat, segment_map=str(tmp_path / "nope.yaml"))
    # unquoted numeric codes in YAML are read as numbers and still work
    lookup = rfm.validate_segment_map("a: [111]\nb: ['(?!111)...']\n", 2)
    assert lookup["111"] == "a" and len(lookup) == 8 and sum(v == "b" for v in lookup.values()) == 7


def test_default_map_with_other_bins_uses_scaled_scores():
    lookup, names = rfm.segment_lookup("default", 3)
    assert len(lookup) == 27
    # 3 bins -> quintiles 1, 3, 5 (the quintile containing each bin's middle)
    assert (
        lookup["333"] == "Champions"
        and lookup["111"] == "Lost"
        and lookup["311"] == "Recent Customers"
    )
    assert lookup["133"] == "Can't Lose Them" and lookup["222"] == "Potential Loyalist"
    s = rfm.score(scoring_frame(), bins=3)
    assert set(s["segment"].astype(str)) <= set(names)
    assert s["segment"].notna().all()


# ------------------------------------------------------------------------------------------
# KPIs, migration, breakdown
# ------------------------------------------------------------------------------------------
def test_segment_kpis_against_pandas():
    df = make_orders(8)
    ref = "2024-12-31"
    scored = rfm.score(rfm.features(df, analysis_date=ref))
    k = rfm.segment_kpis(scored)
    k2 = rfm.segment_kpis(scored, df)
    pd.testing.assert_frame_equal(k, k2)
    window = df[df["order_date"] < pd.Timestamp(ref) + pd.Timedelta(days=1)]
    seg = scored["segment"].astype(str)
    per = window.assign(segment=window["customer_id"].map(seg)).dropna(subset=["segment"])
    revenue = per.groupby("segment")["amount"].sum()
    orders = per[per["amount"] > 0].groupby("segment")["order_id"].nunique()
    got = k.set_index("segment")
    for name in revenue.index:
        assert got.loc[name, "revenue"] == pytest.approx(revenue[name])
        assert got.loc[name, "orders"] == orders[name]
        assert got.loc[name, "avg_order_value"] == pytest.approx(revenue[name] / orders[name])
        assert got.loc[name, "customers"] == (seg == name).sum()
        assert got.loc[name, "mean_recency"] == pytest.approx(
            scored.loc[seg == name, "recency"].mean()
        )
    assert got["customers"].sum() == len(scored)
    assert got["customer_share"].sum() == pytest.approx(1.0) and got[
        "revenue_share"
    ].sum() == pytest.approx(1.0)
    assert list(got.index)[0] == "Champions" and list(got.index)[-1] == "Lost"
    clv = rfm.score(rfm.features(df, analysis_date=ref, convention="clv"))
    with pytest.raises(rfm.RFMError, match="pass orders="):
        rfm.segment_kpis(clv)
    kc = rfm.segment_kpis(clv, df)
    assert kc["revenue"].sum() == pytest.approx(
        window[window["customer_id"].isin(clv.index)]["amount"].sum()
    )


def test_migration_counts_and_new_customers():
    late = pd.DataFrame(
        {
            "order_id": ["N1", "N2", "N3"],
            "customer_id": ["NEW1", "NEW1", "NEW2"],
            "order_date": pd.to_datetime(["2024-11-01", "2024-12-01", "2024-12-20"]),
            "amount": [10.0, 20.0, 30.0],
        }
    )
    df = pd.concat([make_orders(9), late], ignore_index=True)
    ref, earlier_days = "2024-12-31", 120
    res = rfm.migration(df, analysis_date=ref, earlier_days=earlier_days)
    now = rfm.score(rfm.features(df, analysis_date=ref))
    assert res.counts.to_numpy().sum() == len(res.customers) == len(now)
    earlier = pd.Timestamp(ref) - pd.Timedelta(days=earlier_days)
    bought_before = set(
        df.loc[
            (df["amount"] >= 0) & (df["order_date"] < earlier + pd.Timedelta(days=1)),
            "customer_id",
        ]
    )
    new = set(now.index) - bought_before
    assert res.counts.loc["new"].sum() == len(new) > 0
    assert set(res.customers.index[res.customers["segment_before"] == "new"]) == new
    before = rfm.score(rfm.features(df, analysis_date=earlier))["segment"]
    common = before.index
    assert (res.customers.loc[common, "segment_before"].astype(str) == before.astype(str)).all()
    assert (
        res.customers["segment_now"].astype(str)
        == now["segment"].astype(str).reindex(res.customers.index)
    ).all()
    # every segment is a row and a column, even when empty
    assert list(res.counts.columns) == list(now["segment"].cat.categories)
    assert list(res.counts.index) == ["new", "inactive", *now["segment"].cat.categories]
    full = res.counts.sum(axis=1) > 0
    np.testing.assert_allclose(res.shares[full].sum(axis=1), 1.0)
    assert res.shares[~full].isna().all().all()
    assert "RFM segment migration" in res.summary()


def _cohort(seed: int = 12, n: int = 300) -> pd.DataFrame:
    """A closed cohort: every customer's first purchase in the first 60 days, repeats later."""
    rng = np.random.default_rng(seed)
    rows = []
    for i in range(n):
        day = int(rng.integers(0, 60))
        days = [day, *sorted(day + rng.integers(1, 700, rng.poisson(2)))]
        rows += [(f"K{i:04d}", d, float(rng.choice([0.0, 9.99, 25.0, 60.0]))) for d in days]
    return pd.DataFrame(
        {
            "order_id": [f"O{j}" for j in range(len(rows))],
            "customer_id": [r[0] for r in rows],
            "order_date": pd.Timestamp("2023-01-01") + pd.to_timedelta([r[1] for r in rows], "D"),
            "amount": [r[2] for r in rows],
        }
    )


def test_closed_cohort_has_no_new_customers_only_inactive_ones_coming_back():
    """With a window, customers who bought long ago and again recently were not scored at the
    earlier date; they are "inactive" then, not "new": a closed cohort shows no new buyers."""
    df = _cohort()
    ref = "2024-12-31"
    res = rfm.migration(df, analysis_date=ref, earlier_days=90, feature_kwargs={"window_days": 365})
    before = res.customers["segment_before"].astype(str)
    assert (before == "new").sum() == 0
    earlier = pd.Timestamp(ref) - pd.Timedelta(days=90)
    d = df[df["order_date"] <= pd.Timestamp(ref)]
    in_then = set(
        d[(d.order_date <= earlier) & (d.order_date > earlier - pd.Timedelta(days=365))].customer_id
    )
    in_now = set(d[d.order_date > pd.Timestamp(ref) - pd.Timedelta(days=365)].customer_id)
    assert set(before.index[before == "inactive"]) == in_now - in_then
    assert len(in_now - in_then) > 0
    text = page02.headline(rfm.segment_kpis(rfm.score(rfm.features(df, analysis_date=ref))), res)
    assert "no first-time buyers" in text and "new buyers" not in text


def test_migration_without_an_earlier_period_is_not_applicable():
    df = _cohort()
    first = df["order_date"].min()
    with pytest.raises(rfm.RFMNotApplicable, match="no earlier period"):
        rfm.migration(df, analysis_date=first + pd.Timedelta(days=30), earlier_days=90)
    # one day of history before the earlier date is enough to compare
    res = rfm.migration(df, analysis_date=first + pd.Timedelta(days=90), earlier_days=90)
    assert (res.customers["segment_before"] != "new").any()


def test_migration_with_window_has_gone_customers():
    df = make_orders(10)
    res = rfm.migration(
        df, analysis_date="2024-12-31", earlier_days=200, feature_kwargs={"window_days": 60}
    )
    gone = res.customers["segment_now"] == "gone"
    assert gone.any() and "gone" in res.counts.columns
    assert res.counts["gone"].sum() == gone.sum()
    assert res.counts.to_numpy().sum() == len(res.customers)


def test_breakdown_shares():
    df = make_orders(11)
    scored = rfm.score(rfm.features(df, analysis_date="2024-12-31"))
    ids = list(scored.index)
    customers = pd.DataFrame(
        {
            "customer_id": ids[:-3],  # three scored customers without a profile row
            "birth_date": pd.date_range("1950-01-01", periods=len(ids) - 3, freq="400D"),
            "employees": np.arange(len(ids) - 3) * 7,
        }
    )
    customers["age_band"] = rfm.age_band(customers["birth_date"], "2024-12-31")
    out = rfm.breakdown(scored, customers, "age_band")
    assert set(out.columns) == {
        "age_band",
        "segment",
        "customers",
        "group_customers",
        "share",
        "lift",
    }
    np.testing.assert_allclose(out.groupby("age_band")["share"].sum(), 1.0)
    assert out["customers"].sum() == len(scored)
    assert out.loc[out["age_band"] == "(unknown)", "customers"].sum() >= 3
    bands = [b for b in out["age_band"].unique() if b != "(unknown)"]
    assert bands == [
        b for b in customers["age_band"].cat.categories if b in bands
    ]  # band order kept
    cross = pd.crosstab(
        customers.set_index("customer_id")["age_band"]
        .reindex(scored.index)
        .astype("string")
        .fillna("(unknown)"),
        scored["segment"].astype(str),
    )
    for _, row in out.iterrows():
        want = cross.loc[row["age_band"], row["segment"]] if row["segment"] in cross.columns else 0
        assert row["customers"] == want
    customers["size"] = rfm.company_size_band(customers["employees"])
    assert set(rfm.breakdown(scored, customers, "size")["size"]) >= {"micro (1-9)", "large (250+)"}
    with pytest.raises(rfm.RFMError, match="no column 'region'"):
        rfm.breakdown(scored, customers, "region")


# ------------------------------------------------------------------------------------------
# plots
# ------------------------------------------------------------------------------------------
def test_plots_draw_the_data():
    import matplotlib.pyplot as plt

    df = make_orders(12)
    scored = rfm.score(rfm.features(df, analysis_date="2024-12-31"))
    ax = plots_rfm.rf_heatmap(scored)
    assert np.nansum(ax.collections[0].get_array()) == len(scored)
    ax = plots_rfm.rf_heatmap(scored, value="monetary")
    assert ax.collections
    kpis = rfm.segment_kpis(scored)
    ax = plots_rfm.segment_bars(kpis)
    assert len(ax.patches) >= 2 * len(kpis) - 1
    res = rfm.migration(df, analysis_date="2024-12-31", earlier_days=90)
    ax = plots_rfm.migration_heatmap(res)
    arr = np.ma.filled(ax.collections[0].get_array().astype(float), np.nan)
    shown = res.shares.loc[res.counts.sum(axis=1) > 0]  # rows without customers are left out
    np.testing.assert_allclose(arr.reshape(shown.shape), shown.to_numpy(), equal_nan=True)
    plt.close("all")


def test_tie_break_falls_back_to_the_id_on_hash_collisions(monkeypatch):
    ids = pd.Index(["b", "c", "a"])
    monkeypatch.setattr(
        pd.util,
        "hash_pandas_object",
        lambda obj, index=False: pd.Series(np.zeros(len(obj), "uint64")),
    )
    assert rfm.tie_break_order(ids).tolist() == [1, 2, 0]


def test_segment_members_is_one_hot_of_the_segment():
    from segwork.rfm import segment_members

    table = pd.DataFrame(
        {"rfm_segment": ["Lost", "Champions", None, "Lost"]}, index=["a", "b", "c", "d"]
    )
    m = segment_members(table)
    assert m.loc["a", "Lost"] and m.loc["d", "Lost"] and m.loc["b", "Champions"]
    assert not m.loc["c"].any() and m.sum().to_dict() == {"Champions": 1, "Lost": 2}


def test_zero_amount_orders_are_purchases_and_returns_stay_as_they_are():
    df = pd.DataFrame(
        {
            "order_id": ["1", "2", "3", "4", "5", "6"],
            "customer_id": ["A", "A", "A", "Z", "R", "R"],
            "order_date": pd.to_datetime(
                ["2025-01-01", "2025-01-05", "2025-01-09", "2025-01-03", "2025-01-02", "2025-01-02"]
            ),
            "amount": [20.0, 0.0, -5.0, 0.0, 10.0, -10.0],
        }
    )
    clv = rfm.features(df, analysis_date="2025-01-10", convention="clv")
    # A: 01-01 and the free order on 01-05 are purchases; the return-only day 01-09 is not
    assert clv.loc["A"].tolist() == [1, 4.0, 9.0, 0.0]
    assert clv.loc["Z"].tolist() == [0, 0.0, 7.0, 0.0]  # only a free order: still a customer
    assert "R" not in clv.index  # a purchase returned in full the same day is no purchase
    classic = rfm.features(df, analysis_date="2025-01-10")
    assert classic.loc["A", "frequency"] == 2 and classic.loc["A", "recency"] == 5
    assert classic.loc["Z", "frequency"] == 1 and classic.loc["Z", "monetary"] == 0.0


def test_coverage_says_who_was_scored_and_why_others_were_left_out():
    df = make_orders(3)  # RET has only a return; FULL's purchase is returned in full
    with warnings.catch_warnings():
        warnings.simplefilter("ignore")
        f = rfm.features(df, analysis_date="2024-12-31", window_days=90)
    d = df[df["order_date"] < pd.Timestamp("2025-01-01")]
    inside = d[d["order_date"] >= pd.Timestamp("2025-01-01") - pd.Timedelta(days=90)]
    buyers = set(inside.loc[inside["amount"] >= 0, "customer_id"])
    cov = f.attrs["coverage"]
    assert cov["scored"] == len(buyers) == len(f)
    assert cov["customers_with_orders"] == d["customer_id"].nunique()
    assert cov["before_window"] == d["customer_id"].nunique() - inside["customer_id"].nunique()
    assert cov["only_returns"] == inside["customer_id"].nunique() - len(buyers)
    text = page02.coverage_text(f, customers_total=cov["customers_with_orders"] + 7)
    total = cov["customers_with_orders"] + 7
    assert f"{len(buyers):,} of {total:,} customers" in text
    assert f"{cov['before_window']:,} whose orders all lie before those 90 days" in text
    assert "7 known customers without any order" in text
    if cov["only_returns"]:
        assert f"{cov['only_returns']:,} with only returns" in text
    assert "nan" not in text.lower() and "nat" not in text.lower().split()


def test_money_format_shows_cents_for_small_amounts():
    from segwork.display import money, money_format

    assert money_format([0.4, 1.2, 0.0, np.nan]) == "{:,.2f}"
    assert money_format([1234.0, 56789.0]) == "{:,.0f}"
    assert money_format([]) == "{:,.2f}"
    # the sentence form follows the same threshold: cents below 100, none above, k/M beyond
    assert money(7.5, "USD") == "7.50 USD"
    assert money(142.4, "USD") == "142 USD"
    assert money(12_345_678, "CZK") == "12.3 M CZK"
    assert money(float("nan"), "CZK") == ""


def test_breakdown_keeps_the_top_groups_and_pools_the_rest():
    df = make_orders(11)
    scored = rfm.score(rfm.features(df, analysis_date="2024-12-31"))
    ids = list(scored.index)
    country = [f"country {i % 9}" if i % 3 else "country 0" for i in range(len(ids))]
    customers = pd.DataFrame({"customer_id": ids, "country": country})
    full = rfm.breakdown(scored, customers, "country")
    top = rfm.breakdown(scored, customers, "country", top=3)
    sizes = full.groupby("country", sort=False)["group_customers"].first()
    kept = list(sizes.index[:3])
    assert list(top["country"].drop_duplicates()) == [*kept, "other"]
    other = top[top["country"] == "other"]
    assert other["group_customers"].iloc[0] == sizes.iloc[3:].sum()
    pooled = full[~full["country"].isin(kept)].groupby("segment", sort=False)["customers"].sum()
    assert other.set_index("segment")["customers"].to_dict() == pooled.to_dict()
    np.testing.assert_allclose(other.groupby("country")["share"].sum(), 1.0)
    # lift is relative to all customers, which pooling does not change
    pd.testing.assert_frame_equal(top[top["country"].isin(kept)], full[full["country"].isin(kept)])


def test_headline_gives_the_counts_behind_its_shares():
    """ "22% of buying customers" and "23% of customers stayed" said of whom; the counts are on the
    page and agree with the migration table."""
    df = _cohort()
    ref = "2024-12-31"
    res = rfm.migration(df, analysis_date=ref, earlier_days=90, feature_kwargs={"window_days": 365})
    kpis = rfm.segment_kpis(rfm.score(rfm.features(df, analysis_date=ref, window_days=365)))
    text = page02.headline(kpis, res)
    top = kpis.sort_values("revenue_share", ascending=False).iloc[0]
    assert (
        f"{int(top['customers']):,} of the {int(kpis['customers'].sum()):,} scored customers"
        in text
    )
    c = res.customers
    old = c[~c["segment_before"].isin(["new", "inactive"])]
    same = int((old["segment_before"].astype(str) == old["segment_now"].astype(str)).sum())
    gone = int((old["segment_now"] == "gone").sum())
    assert f"Of the {len(old):,} customers scored on" in text
    assert f"{same:,} ({same / len(old):.0%}) are in the same segment now" in text
    assert gone > 0 and f"{gone:,} ({gone / len(old):.0%}) are no longer scored" in text
    assert "of buying customers" not in text
    assert (
        f"({top['customer_share']:.0%}) but bring {top['revenue_share']:.0%} of these customers' net"
        in text
    )
    risk = kpis.set_index("segment").loc[["At Risk", "Can't Lose Them"]]
    assert (risk["customers"] > 0).all()
    low, high = risk["mean_recency"].min(), risk["mean_recency"].max()
    assert f"{int(risk['customers'].sum()):,} customers who bought often or spent much" in text
    assert f"have not bought for {low:,.0f} to {high:,.0f} days on average" in text
    assert "recently" not in text


def test_score_notes_carry_no_python():
    """The note on collapsed score groups is shown on the page: no function names or code."""
    ids = [f"c{i:03d}" for i in range(200)]
    feats = pd.DataFrame(
        {
            "recency": np.arange(200),
            "frequency": [1] * 150 + [2] * 50,
            "monetary": np.arange(200.0),
        },
        index=pd.Index(ids, name="customer_id"),
    )
    with pytest.warns(rfm.RFMWarning) as caught:
        rfm.score(feats)
    texts = [str(w.message) for w in caught]
    assert any("F score" in t for t in texts)
    assert not any("rfm." in t or "cut_points" in t or "=" in t for t in texts)


def test_migration_chart_leaves_out_empty_rows_and_the_text_explains_every_label():
    import matplotlib.pyplot as plt

    df = _cohort()  # a closed cohort: nobody's first purchase is in the last 90 days
    ref = "2024-12-31"
    res = rfm.migration(df, analysis_date=ref, earlier_days=90, feature_kwargs={"window_days": 365})
    ax = plots_rfm.migration_heatmap(res)
    rows = [t.get_text() for t in ax.get_yticklabels()]
    plt.close("all")
    before = res.customers["segment_before"].astype(str)
    assert not any(r.startswith("new") for r in rows)
    n_inactive = int((before == "inactive").sum())
    assert f"inactive ({n_inactive:,})" in rows
    assert len(rows) == int((res.counts.sum(axis=1) > 0).sum())
    text = page02.migration_text(res, window_days=365)
    assert "'gone': customers with no purchase in the 365 days up to now" in text
    assert "'inactive'" in text and "no 'new' row" in text and "'new':" not in text
    assert "90 days ago" in text


def test_segment_table_names_columns_in_words_with_cents_only_for_small_amounts():
    df = _cohort()
    kpis = rfm.segment_kpis(
        rfm.score(rfm.features(df, analysis_date="2024-12-31", window_days=365))
    )
    table = page02.segment_table(kpis, currency="USD", window_days=365)
    assert not any("_" in c for c in table.frame.columns)
    assert table.frame["customers"].tolist() == kpis["customers"].tolist()
    assert table.frame["net revenue"].tolist() == kpis["revenue"].tolist()
    assert set(table.formats) <= set(table.frame.columns)
    assert "in the 365 days up to the analysis date" in table.note and "_" not in table.note
    # money carries its currency in the cells; shares in %, counts whole
    assert table.currency == "USD" and table.formats["net revenue"] == "money"
    from segwork.display import page_table_html

    html = page_table_html(table, caption="Segment key figures")
    assert " USD<" in html and "%<" in html and not re.search(r">[\d,]+\.00<", html)  # counts
    small = kpis.assign(avg_order_value=kpis["avg_order_value"] / 1000)
    fmt = page02.segment_table(small, currency="USD", window_days=None)
    cents = page_table_html(fmt, caption="x")
    assert f">{small['avg_order_value'].iloc[0]:,.2f} USD<" in cents  # cents: small amounts
    assert "over the whole history" in fmt.note


def test_scores_text_names_the_runs_score_levels():
    assert "from 1 (the customers lowest on it) to 4 (the highest)" in page02.scores_text(4)
    assert "into 7 groups" in page02.scores_text(
        7
    ) and "highest score level" not in page02.scores_text(7)


def test_breakdown_tests_say_whether_the_mix_differs_with_a_holm_adjusted_chi_square():
    """ "Compare across a row" needs a test: a group that really is made of Champions is called
    different, a random attribute is not; p is scipy's chi-square, Holm-adjusted by statsmodels."""
    from scipy.stats import chi2_contingency
    from statsmodels.stats.multitest import multipletests

    df = make_orders(11)
    scored = rfm.score(rfm.features(df, analysis_date="2024-12-31"))
    rng = np.random.default_rng(5)
    best = scored["segment"].astype(str).isin(["Champions", "Loyal Customers"])
    customers = pd.DataFrame(
        {
            "customer_id": scored.index,
            "tier": np.where(best, "gold", "basic"),  # follows the segments exactly
            "coin": rng.choice(["heads", "tails"], len(scored)),  # unrelated to them
        }
    )
    frames = {c: rfm.breakdown(scored, customers, c) for c in ("tier", "coin")}
    texts = page02.breakdown_tests(frames)
    raw = []
    for c in ("tier", "coin"):
        table = pd.crosstab(customers.set_index("customer_id")[c], scored["segment"].astype(str))
        raw.append(chi2_contingency(table.to_numpy())[1])
    holm = multipletests(raw, method="holm")[1]
    assert holm[0] < 0.05 <= holm[1]
    assert texts["tier"].startswith("Tier: the segment mix differs between the groups")
    assert texts["coin"].startswith("Coin: the segment mix does not differ between the groups")
    assert f"{len(scored):,} scored customers in 2 groups" in texts["coin"]
    assert (
        f"p = {holm[1]:.2g}" in texts["coin"]
        and "Holm-adjusted for the 2 attributes" in texts["coin"]
    )
    labelled = rfm.with_group_counts(frames["coin"], "coin")
    heads = int((customers["coin"] == "heads").sum())
    assert f"heads ({heads:,})" in set(labelled["coin"])


def test_rf_heatmap_prints_counts_with_thousands_separators():
    import matplotlib.pyplot as plt

    n = 6000
    scored = pd.DataFrame(
        {
            "R": [5] * (n - 24) + [1] * 24,
            "F": [5] * (n - 24) + list(range(1, 5)) * 6,
            "segment": "x",
        },
        index=pd.Index([f"c{i}" for i in range(n)], name="customer_id"),
    )
    scored.attrs["bins"] = 5
    ax = plots_rfm.rf_heatmap(scored)
    texts = {t.get_text() for t in ax.texts}
    assert f"{n - 24:,}" in texts and "(customers)" not in ax.get_title()
    plt.close("all")


def test_breakdowns_intro_lists_attributes_in_words():
    text = page02.breakdowns_intro(["age_band", "region", "customer_type"])
    assert text.startswith("The segment mix by age band, region and customer type. ")
    assert "compare across a row" not in text and "test says whether" in text


# ------------------------------------------------------------------------------------------
# RfmScorer: a scikit-learn transformer whose fit learns the quantile edges
# ------------------------------------------------------------------------------------------
def _continuous_features(n: int, seed: int) -> pd.DataFrame:
    """Features without ties, so rank scores and edge scores agree."""
    rng = np.random.default_rng(seed)
    return pd.DataFrame(
        {
            "recency": rng.uniform(0, 365, n),
            "frequency": rng.lognormal(1, 0.8, n),
            "monetary": rng.lognormal(6, 1, n),
        },
        index=pd.Index([f"C{i:05d}" for i in range(n)], name="customer_id"),
    )


def test_rfm_scorer_scores_new_customers_with_the_learned_edges():
    feats = _continuous_features(4000, seed=11)
    first, second = feats.iloc[::2], feats.iloc[1::2]
    scorer = rfm.RfmScorer(bins=5).fit(first)
    q = np.linspace(0, 1, 6)
    for name, col in (("R", "recency"), ("F", "frequency"), ("M", "monetary")):
        # learned edges: the inner quantile edges of the first half, as numpy and pandas give them
        np.testing.assert_array_equal(scorer.edges_[name], np.quantile(first[col], q)[1:-1])
        _, qcut_edges = pd.qcut(first[col], 5, retbins=True)
        np.testing.assert_allclose(scorer.edges_[name], qcut_edges[1:-1], rtol=1e-12)
    got = scorer.transform(second)
    bounds = {n: [-np.inf, *scorer.edges_[n], np.inf] for n in ("R", "F", "M")}
    for name, col in (("F", "frequency"), ("M", "monetary")):
        want = pd.cut(second[col], bounds[name], labels=False, right=True) + 1
        np.testing.assert_array_equal(got[name], want)
    # recency: the most recent get R = 5; bins closed on the recent side, as the rank scores
    want_r = 5 - pd.cut(second["recency"], bounds["R"], labels=False, right=False)
    np.testing.assert_array_equal(got["R"], want_r)
    lookup, _ = rfm.segment_lookup("default", 5)
    assert (got["segment"].astype(str) == got["rfm_code"].map(lookup)).all()
    # the second half is scored against the first half's customers, not re-ranked
    own = rfm.score(second)
    assert not (own[["R", "F", "M"]].to_numpy() == got[["R", "F", "M"]].to_numpy()).all()


def test_rfm_scorer_is_what_score_uses_and_edge_scores_equal_rank_scores_without_ties():
    feats = _continuous_features(997, seed=5)
    scored = rfm.score(feats, bins=4)
    via = rfm.RfmScorer(bins=4).fit_transform(feats)
    pd.testing.assert_frame_equal(scored, via)
    by_edges = rfm.RfmScorer(bins=4).fit(feats).transform(feats)
    pd.testing.assert_frame_equal(
        by_edges[["R", "F", "M", "rfm_code"]], scored[["R", "F", "M", "rfm_code"]]
    )


def test_rfm_scorer_clones_and_refits_to_the_same_edges():
    from sklearn.base import clone
    from sklearn.exceptions import NotFittedError

    feats = _continuous_features(500, seed=2)
    scorer = rfm.RfmScorer(bins=3, segment_map="rf_grid", cut_points={"F": [1.5, 3.0]})
    fitted = scorer.fit(feats)
    twin = clone(fitted)
    assert twin.get_params() == scorer.get_params() and not hasattr(twin, "edges_")
    with pytest.raises(NotFittedError):
        twin.transform(feats)
    twin.fit(feats)
    for name in ("R", "F", "M"):
        np.testing.assert_array_equal(twin.edges_[name], fitted.edges_[name])
    np.testing.assert_array_equal(twin.edges_["F"], [1.5, 3.0])  # fixed cut points are kept
    pd.testing.assert_frame_equal(twin.transform(feats), fitted.transform(feats))
