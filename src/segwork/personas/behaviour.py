"""How the personas buy: behaviour per persona from the customer 360, with a test per column."""

from __future__ import annotations

from collections.abc import Sequence
from dataclasses import dataclass
from typing import TYPE_CHECKING, Any

import numpy as np
import pandas as pd

from segwork.personas.clusterer import ClusteringError

if TYPE_CHECKING:
    from segwork.personas.result import PersonaResult


def cluster_behaviour(
    labels: pd.Series, table: pd.DataFrame, *, max_categories: int = 6
) -> pd.DataFrame:
    """Behaviour per cluster: mean of numeric columns, share of the top categories of the others.

    ``table`` has customer_id and any columns (revenue, RFM segment, CLV, channel, ...). A row
    ``all`` gives the same over all clustered respondents for comparison.
    """
    if "customer_id" not in table.columns:
        raise ClusteringError("describe table: no column 'customer_id'")
    t = table.assign(customer_id=table["customer_id"].astype("string")).drop_duplicates(
        "customer_id"
    )
    t = t.set_index("customer_id").reindex(labels.index)
    groups = labels.to_numpy()
    out: dict[str, pd.Series] = {}
    for col in t.columns:
        s = t[col]
        if pd.api.types.is_bool_dtype(s.dtype) or not pd.api.types.is_numeric_dtype(s.dtype):
            cats = s.astype("string").fillna("missing")
            for cat in cats.value_counts().index[:max_categories]:
                hit = (cats == cat).astype(float)
                out[f"{col}: {cat}"] = pd.concat(
                    [hit.groupby(groups).mean(), pd.Series({"all": hit.mean()})]
                )
        else:
            v = s.astype("float64")
            out[f"{col} (mean)"] = pd.concat(
                [v.groupby(groups).mean(), pd.Series({"all": v.mean()})]
            )
    res = pd.DataFrame(out)
    res.index.name = "cluster"
    return res


BEHAVIOUR_ALPHA = 0.05
# Kaufman & Rousseeuw's reading of the average silhouette: below 0.25 no substantial structure


def behaviour_tests(
    labels: pd.Series,
    table: pd.DataFrame,
    *,
    alpha: float = BEHAVIOUR_ALPHA,
    max_categories: int = 6,
) -> pd.DataFrame:
    """Does each behaviour column differ between personas? One test per column, Holm-adjusted.

    ``labels``: cluster per customer_id (the clustered respondents); ``table``: customer_id and
    behaviour columns (revenue, orders, RFM segment, ...). Respondents without a value (not in
    the table, or missing) are left out of that column's test and counted (``n``).

    - numeric columns: **Kruskal-Wallis** H test (``scipy.stats.kruskal``, tie-corrected) of the
      personas' distributions (robust to skewed money and counts); effect size epsilon-squared
      ``H / (n - 1)``;
    - true/false and text columns: Pearson's **chi-square** test of independence of persona and
      category (``scipy.stats.chi2_contingency``, no continuity correction), on the
      ``max_categories - 1`` largest categories plus "other"; effect size Cramér's V;
      ``small_expected`` is the share of cells with an expected count below 5 (above 20% the
      chi-square approximation is doubtful, said in ``note``).

    The p-values are adjusted for the number of columns tested by **Holm's** method
    (``p_holm``); ``differs`` is ``p_holm < alpha``. A column that cannot be tested (fewer than
    two personas with values, one value for everyone) has ``p_value`` NaN and a ``note``.
    """
    from scipy import stats
    from statsmodels.stats.multitest import multipletests

    if "customer_id" not in table.columns:
        raise ClusteringError("behaviour table: no column 'customer_id'")
    t = table.assign(customer_id=table["customer_id"].astype("string")).drop_duplicates(
        "customer_id"
    )
    t = t.set_index("customer_id").reindex(labels.index.astype("string"))
    groups = pd.Series(labels.to_numpy(), index=t.index)
    rows = []
    for col in t.columns:
        s = t[col]
        known = s.notna().to_numpy()
        g = groups[known]
        row: dict[str, Any] = {
            "column": str(col),
            "n": int(known.sum()),
            "n_missing": int((~known).sum()),
            "statistic": np.nan,
            "df": np.nan,
            "p_value": np.nan,
            "effect": np.nan,
            "small_expected": np.nan,
            "note": "",
        }
        numeric = pd.api.types.is_numeric_dtype(s.dtype) and not pd.api.types.is_bool_dtype(s.dtype)
        if numeric:
            row.update(test="Kruskal-Wallis", effect_name="epsilon-squared")
            v = s[known].astype("float64")
            samples = [v[g.to_numpy() == c].to_numpy() for c in np.unique(g.to_numpy())]
            samples = [x for x in samples if len(x)]
            if len(samples) < 2:
                row["note"] = "fewer than two personas have values"
            elif np.unique(v.to_numpy()).size < 2:
                row["note"] = f"every respondent has the same value ({v.iloc[0]:g})"
            else:
                h, p = stats.kruskal(*samples)
                n = int(sum(len(x) for x in samples))
                row.update(statistic=float(h), df=len(samples) - 1, p_value=float(p))
                row["effect"] = float(h / (n - 1))
        else:
            row.update(test="chi-square", effect_name="Cramér's V")
            cats = s[known].astype("string")
            top = cats.value_counts().index[: max(max_categories - 1, 1)]
            cats = cats.where(cats.isin(top), "other")
            obs = pd.crosstab(g.to_numpy(), cats.to_numpy())
            obs = obs.loc[obs.sum(axis=1) > 0, obs.sum(axis=0) > 0]
            if obs.shape[0] < 2:
                row["note"] = "fewer than two personas have values"
            elif obs.shape[1] < 2:
                row["note"] = f"every respondent has the same value ({obs.columns[0]})"
            else:
                chi2, p, dof, expected = stats.chi2_contingency(obs.to_numpy(), correction=False)
                n = int(obs.to_numpy().sum())
                small = float((expected < 5).mean())
                row.update(statistic=float(chi2), df=int(dof), p_value=float(p))
                row["effect"] = float(np.sqrt(chi2 / (n * (min(obs.shape) - 1))))
                row["small_expected"] = small
                if small > 0.2:
                    row["note"] = (
                        f"{small:.0%} of expected counts are below 5: the chi-square p-value "
                        "is approximate"
                    )
        rows.append(row)
    cols = [
        "column",
        "test",
        "n",
        "n_missing",
        "statistic",
        "df",
        "p_value",
        "p_holm",
        "effect_name",
        "effect",
        "differs",
        "small_expected",
        "note",
    ]
    if not rows:
        return pd.DataFrame(columns=cols)
    out = pd.DataFrame(rows)
    tested = out["p_value"].notna().to_numpy()
    out["p_holm"] = np.nan
    if tested.any():
        out.loc[tested, "p_holm"] = multipletests(out.loc[tested, "p_value"], method="holm")[1]
    out["differs"] = (out["p_holm"] < alpha).fillna(False).astype(bool)
    out.attrs.update(alpha=alpha, method="Holm")
    return out[cols]


def behaviour_text(tests: pd.DataFrame, *, n_respondents: int | None = None) -> str:
    """What the tests of :func:`behaviour_tests` show, in words: a difference only where one is found."""
    alpha = tests.attrs.get("alpha", BEHAVIOUR_ALPHA)
    tested = tests[tests["p_value"].notna()]
    if tested.empty:
        return "No behaviour column could be tested (see the notes in the table)."

    def one(r: Any) -> str:
        stat = "H" if r["test"] == "Kruskal-Wallis" else "chi-square"
        return (
            f"{behaviour_label(r['column'])} ({r['test']}, {stat} = {r['statistic']:,.1f}, Holm-adjusted "
            f"p {_p(r['p_holm'])}, {r['effect_name']} {r['effect']:.2f}, n = {int(r['n']):,})"
        )

    diff = tested[tested["differs"]]
    same = tested[~tested["differs"]]
    parts = []
    if not diff.empty:
        parts.append(
            "The personas differ in " + "; ".join(one(r) for _, r in diff.iterrows()) + "."
        )
    if not same.empty:
        parts.append(
            f"No difference between the personas was found (Holm-adjusted p >= {alpha:g}) in "
            + "; ".join(one(r) for _, r in same.iterrows())
            + (
                ". On these, the personas cannot be told apart by how they buy."
                if diff.empty
                else "."
            )
        )
    missing = int(tests["n_missing"].max()) if len(tests) else 0
    if missing and n_respondents:
        parts.append(
            "Respondents without a value in the customer data (not customers, or no value) are "
            f"left out of a column's test: up to {missing:,} of {n_respondents:,} (n is per column)."
        )
    return " ".join(parts)


def _p(p: float) -> str:
    """'< 0.001' or '= 0.012' (to follow a 'p')."""
    return "< 0.001" if p < 0.001 else f"= {p:.3f}"


# behaviour columns of the customer 360 (notebooks 01 and 02) compared across personas, besides
# revenue and orders of the longest window (see behaviour_columns)
BEHAVIOUR_COLUMNS = ("aov", "rfm_segment", "clv_12m")


def behaviour_columns(customers: pd.DataFrame) -> list[str]:
    """The behaviour columns to compare: revenue and orders of the longest window the customer
    360 has (``revenue_<w>d``, ``orders_<w>d``, windows set by notebook 01), then
    :data:`BEHAVIOUR_COLUMNS` that exist."""
    import re

    windows = [
        int(m.group(1))
        for c in customers.columns
        if (m := re.fullmatch(r"revenue_(\d+)d", str(c))) and f"orders_{m.group(1)}d" in customers
    ]
    out = [f"revenue_{max(windows)}d", f"orders_{max(windows)}d"] if windows else []
    return out + [c for c in BEHAVIOUR_COLUMNS if c in customers.columns]


def behaviour_label(column: str) -> str:
    """A behaviour column of the customer 360 in words: 'revenue_365d' -> 'revenue, last 365
    days', 'aov' -> 'average order value', 'clv_12m' -> 'expected value, next 12 months (CLV)'."""
    import re

    col = str(column)
    if m := re.fullmatch(r"(revenue|orders)_(\d+)d", col):
        return f"{m.group(1)}, last {int(m.group(2)):,} days"
    if m := re.fullmatch(r"clv_(\d+)m", col):
        return f"expected value, next {int(m.group(1))} months (CLV)"
    known = {"aov": "average order value", "rfm_segment": "RFM segment"}
    return known.get(col, col.replace("_", " "))


def _is_money(column: str) -> bool:
    import re

    return bool(re.fullmatch(r"revenue_\d+d|aov|clv_\d+m|monetary\w*|revenue\w*", str(column)))


@dataclass
class PersonaBehaviour:
    """How the personas buy, with a test per column; or why that cannot be shown (``reason``)."""

    reason: str | None  # one sentence when behaviour is not shown, else None
    table: pd.DataFrame | None = None  # per persona (and "all"): means and category shares
    tests: pd.DataFrame | None = None  # behaviour_tests
    text: str = ""  # what the tests show, in words
    n_buyers: int = 0  # respondents with at least one order

    @property
    def available(self) -> bool:
        return self.reason is None


def persona_behaviour(
    result: PersonaResult,
    customers: pd.DataFrame,
    columns: Sequence[str] | None = None,
    *,
    alpha: float = BEHAVIOUR_ALPHA,
) -> PersonaBehaviour:
    """Behaviour per persona from the customer 360 (indexed by customer_id), tested.

    ``columns`` defaults to :func:`behaviour_columns`. Not shown, with one sentence saying
    why, when the run has no order history, when none of the clustered respondents has an
    order (survey-only respondents), or when none of ``columns`` is in the table.
    """
    n = result.n_respondents
    if "orders_total" not in customers.columns:
        return PersonaBehaviour(
            "This run has no order history (no orders source), so how the personas buy is not shown."
        )
    ids = result.labels.index
    ordered = (
        customers["has_ordered"] if "has_ordered" in customers else customers["orders_total"] > 0
    )
    buyers = int(ordered.reindex(ids).fillna(False).astype(bool).sum())
    if buyers == 0:
        return PersonaBehaviour(
            f"None of the {n:,} respondents has an order in the order history (the respondents "
            "are not customers with orders), so how the personas buy is not shown."
        )
    wanted = list(columns) if columns is not None else behaviour_columns(customers)
    cols = [c for c in wanted if c in customers.columns]
    if not cols:
        return PersonaBehaviour(
            "The customer data has none of the behaviour columns "
            f"({', '.join(wanted) or 'revenue and orders per window'}), so how the personas "
            "buy is not shown.",
            n_buyers=buyers,
        )
    data = customers[cols].reset_index()
    data = data.rename(columns={data.columns[0]: "customer_id"})
    tests = behaviour_tests(result.labels, data, alpha=alpha)
    names = result.profiles["name"]
    table = cluster_behaviour(result.labels, data).rename(index=names)
    table.index = [str(i) for i in table.index]
    table.index.name = "persona"
    return PersonaBehaviour(
        None,
        table=table,
        tests=tests,
        text=behaviour_text(tests, n_respondents=n),
        n_buyers=buyers,
    )
