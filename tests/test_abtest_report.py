"""The A/B helpers notebook 04 uses: segment joins (pandas and Ibis alike), readable tables, headline."""

from __future__ import annotations

import math

import ibis
import numpy as np
import pandas as pd

from segwork import abtest


def _exposures(n: int = 4000, seed: int = 5) -> tuple[pd.DataFrame, pd.DataFrame]:
    rng = np.random.default_rng(seed)
    ids = [f"C{i}" for i in range(n)]
    seg = rng.choice(["A", "B"], n)
    variant = rng.choice(["control", "treatment"], n)
    p = 0.05 + 0.10 * ((seg == "A") & (variant == "treatment"))
    conv = rng.random(n) < p
    exp = pd.DataFrame(
        {
            "customer_id": ids,
            "campaign_id": "c1",
            "variant": variant,
            "converted": conv.astype(int),
            "revenue": conv * rng.gamma(2, 100, n),
        }
    )
    customers = pd.DataFrame({"seg": seg}, index=pd.Index(ids, name="customer_id")).iloc[
        :-10
    ]  # 10 unlabelled
    return exp, customers


def test_with_segments_same_in_pandas_and_ibis_and_keeps_unlabelled() -> None:
    exp, customers = _exposures()
    pdf = abtest.with_segments(exp, customers, ["seg"])
    idf = abtest.with_segments(ibis.memtable(exp), customers, ["seg"]).to_pandas()
    assert len(pdf) == len(exp) == len(idf)
    assert (pdf["seg"] == "(unknown)").sum() == 10
    merged = pdf.merge(idf, on="customer_id", suffixes=("", "_i"))
    assert (merged["seg"] == merged["seg_i"]).all()


def test_readable_formats_rates_and_money_from_the_table() -> None:
    exp, customers = _exposures()
    res = abtest.evaluate(abtest.with_segments(exp, customers, ["seg"]), segment="seg")
    r = abtest.readable(res.table, currency="CZK")
    row = res.table.iloc[0]
    assert r.loc[0, "control"] == (
        f"{row['control_mean']:.1%}"
        if row["metric"] == "conversion"
        else f"{row['control_mean']:,.0f} CZK"
    )
    is_conv = res.table["metric"] == "conversion"
    conv = res.table.index[is_conv][0]
    t = res.table.loc[conv]
    # decimals: two significant digits of the narrowest half-width, in percentage points
    half = ((res.table["diff_ci_high"] - res.table["diff_ci_low"])[is_conv] / 2 * 100).min()
    k = max(1, 1 - math.floor(math.log10(half)))
    assert k == 1  # half-widths of about 1.3 pp in the big segments
    assert r.loc[conv, "difference [95% CI]"] == (
        f"{t['diff'] * 100:+.{k}f} pp [{t['diff_ci_low'] * 100:+.{k}f}, "
        f"{t['diff_ci_high'] * 100:+.{k}f}]"
    )


def test_headline_names_the_segments_to_roll_out() -> None:
    exp, customers = _exposures(n=20000)
    labelled = abtest.with_segments(exp, customers, ["seg"])
    res = abtest.evaluate(labelled, segment="seg")
    decisions = abtest.decide(res)
    text = abtest.headline(abtest.evaluate(labelled), decisions)
    rolled = decisions.loc[decisions["decision"] == "roll out", "segment"].tolist()
    assert rolled == ["A"]  # the planted effect is in A only
    assert "Roll out to: A (treatment)" in text and "c1:" in text
