"""Survey scoring on any declared scale, the validate hook, reliability and the behaviour tests.

Oracles: plain-Python re-implementations of the scoring rules (loops, ``statistics``) for
scores on 1..6, 0..10 and mixed scales; the covariance identity and the parallel-items closed
form for Cronbach's alpha; hand formulas and scipy (on explicitly split groups) for the
Kruskal-Wallis and chi-square tests, and a hand Holm step-down for the adjustment.
"""

from __future__ import annotations

import statistics
from pathlib import Path
from types import SimpleNamespace

import numpy as np
import pandas as pd
import pytest
from scipy import stats

from segwork import personas, survey
from segwork.pages import personas as pages
from segwork.survey import (
    SurveyError,
    SurveySpec,
    cronbach_alpha,
    item_rest_correlations,
    reliability,
    scale_problems,
    score_survey,
    survey_checks,
)

# --------------------------------------------------------------------------------------------
# an independent scorer: the documented rules, written out with loops
# --------------------------------------------------------------------------------------------


def score_by_hand(answers: dict[str, dict[str, float]], catalogue: list[dict], min_answered=0.7):
    """{customer: {construct: score}} by the rules of the survey module's docstring."""
    items = [c["item"] for c in catalogue]
    by_con: dict[str, list[str]] = {}
    for c in catalogue:
        by_con.setdefault(c["construct"], []).append(c["item"])
    info = {c["item"]: c for c in catalogue}

    def recode(item, x):
        if x is None or x != x:
            return None
        c = info[item]
        return c["lo"] + c["hi"] - x if c["rev"] else x

    kept = {
        cid: {i: recode(i, a.get(i)) for i in items}
        for cid, a in answers.items()
        if sum(a.get(i) is not None and a.get(i) == a.get(i) for i in items) / len(items)
        >= min_answered
    }
    medians = {
        i: statistics.median([r[i] for r in kept.values() if r[i] is not None]) for i in items
    }
    out = {}
    for cid, rec in kept.items():
        out[cid] = {}
        for con, its in by_con.items():
            own = [rec[i] for i in its if rec[i] is not None]
            filled = [
                rec[i] if rec[i] is not None else (sum(own) / len(own) if own else medians[i])
                for i in its
            ]
            out[cid][con] = sum(filled) / len(filled)
    return out


def _frames(answers, catalogue, *, declare=True):
    resp = pd.DataFrame(
        [
            {"customer_id": cid, **{k: (np.nan if v is None else v) for k, v in a.items()}}
            for cid, a in answers.items()
        ]
    )
    cat = pd.DataFrame(
        {
            "item": [c["item"] for c in catalogue],
            "construct": [c["construct"] for c in catalogue],
            "text": [f"Statement {c['item']}." for c in catalogue],
            "reverse_coded": [c["rev"] for c in catalogue],
        }
    )
    if declare:
        cat["scale_min"] = [c["lo"] for c in catalogue]
        cat["scale_max"] = [c["hi"] for c in catalogue]
    return resp, cat


def _random_survey(lo, hi, *, n=60, seed=0, constructs=("Openness", "Neuroticism", "Grit")):
    rng = np.random.default_rng(seed)
    catalogue = [
        {"item": f"{con[0]}{j}", "construct": con, "rev": j in (2, 4), "lo": lo, "hi": hi}
        for con in constructs
        for j in range(1, 5)
    ]
    answers = {}
    for r in range(n):
        a = {}
        for c in catalogue:
            x = float(rng.integers(lo, hi + 1))
            a[c["item"]] = None if rng.random() < 0.12 else x
        answers[f"R{r:03d}"] = a
    # one respondent who skipped a whole construct (falls back to item medians)
    for c in catalogue[:4]:
        answers["R000"][c["item"]] = None
    return answers, catalogue


@pytest.mark.parametrize("lo, hi", [(1, 6), (0, 10), (1, 7)])
def test_scores_on_declared_scales_match_an_independent_scorer(lo, hi):
    answers, catalogue = _random_survey(lo, hi, seed=hi)
    resp, cat = _frames(answers, catalogue)
    spec = SurveySpec.from_catalogue(cat)
    assert set(spec.declared) == set(cat["item"]) and spec.scale["O2"] == (lo, hi)
    s = score_survey(resp, spec)
    expected = score_by_hand(answers, catalogue)
    assert sorted(s.constructs.index) == sorted(expected)
    for cid, row in expected.items():
        for con, val in row.items():
            assert s.constructs.loc[cid, con] == pytest.approx(val, abs=1e-12), (cid, con)
    # reverse coding is min + max - x on the declared scale
    r = s.raw.loc["R001"]
    raw = answers["R001"]
    for item in ("O2", "N4"):
        if raw[item] is not None:
            assert r[item] == lo + hi - raw[item]


def test_reverse_coding_on_0_to_10_and_mixed_scales_by_hand():
    cat = pd.DataFrame(
        {
            "item": ["nps", "nps_r", "l1", "l2_r"],
            "construct": ["advocacy", "advocacy", "liking", "liking"],
            "text": ["a", "b", "c", "d"],
            "reverse_coded": [False, True, False, True],
            "scale_min": [0, 0, None, None],  # liking: no scale declared -> default 1..5
            "scale_max": [10, 10, None, None],
        }
    )
    resp = pd.DataFrame(
        {
            "customer_id": ["a", "b", "c"],
            "nps": [10, 0, 7],
            "nps_r": [0, 10, 3],  # reverse on 0..10: 10 - x
            "l1": [5, 1, 4],
            "l2_r": [1, 5, 2],  # reverse on 1..5: 6 - x
        }
    )
    spec = SurveySpec.from_catalogue(cat)
    assert spec.scale == {"nps": (0, 10), "nps_r": (0, 10), "l1": (1, 5), "l2_r": (1, 5)}
    assert spec.declared == ("nps", "nps_r")
    s = score_survey(resp, spec)
    assert s.constructs.loc["a", "advocacy"] == (10 + (10 - 0)) / 2
    assert s.constructs.loc["b", "advocacy"] == (0 + (10 - 10)) / 2
    assert s.constructs.loc["c", "advocacy"] == (7 + 7) / 2
    assert s.constructs.loc["c", "liking"] == (4 + (6 - 2)) / 2
    # the spec round-trips through JSON with its declared scales (a saved model keeps them)
    back = SurveySpec.from_dict(s.spec.to_dict())
    assert back.scale == spec.scale and back.declared == spec.declared


# --------------------------------------------------------------------------------------------
# answers off the scale: errors that say where and what to do
# --------------------------------------------------------------------------------------------


def _bfi_like(n=40, seed=1):
    rng = np.random.default_rng(seed)
    items = [f"{t}{j}" for t in "ACENO" for j in range(1, 6)]
    resp = pd.DataFrame(rng.integers(1, 7, size=(n, 25)).astype(float), columns=items)
    resp.insert(0, "customer_id", [str(61617 + i) for i in range(n)])
    resp.iloc[3, 5] = np.nan
    names = dict(
        A="Agreeableness", C="Conscientiousness", E="Extraversion", N="Neuroticism", O="Openness"
    )
    cat = pd.DataFrame(
        {
            "item": items,
            "construct": [names[i[0]] for i in items],
            "text": [f"Text of {i}." for i in items],
            "reverse_coded": [i in {"A1", "C4", "C5", "E1", "E2", "O2", "O5"} for i in items],
        }
    )
    return resp, cat


def test_answers_off_the_default_scale_name_table_column_rows_and_the_fix():
    resp, cat = _bfi_like()
    first6 = int(np.flatnonzero(resp["A1"].to_numpy() == 6)[0])
    with pytest.raises(SurveyError) as e:
        score_survey(resp, SurveySpec.from_catalogue(cat))
    msg = str(e.value)
    # 25 items off the default scale in the same way: one message naming them, not 25
    n_bad = int((resp.iloc[:, 1:] == 6).to_numpy().sum())
    assert msg.startswith("table 'survey_responses', columns A1, A2, A3,")
    assert f"and 13 more (25 items): {n_bad:,} answers" in msg
    assert f"A1: data row {first6 + 1} (customer {resp['customer_id'][first6]}): 6" in msg
    assert "1..5, the default: survey_items declares no scale for these items" in msg
    assert "add columns scale_min and scale_max to survey_items" in msg
    assert "here: scale_min 1 and scale_max 6 on every row" in msg  # read from the data
    assert "run from 1 to 6" in msg
    assert "recode" not in msg and msg.count("table '") == 1
    # one item off the default scale: its own message
    one = resp.assign(**{c: resp[c].clip(upper=5) for c in resp.columns[2:]})
    with pytest.raises(SurveyError) as e:
        score_survey(one, SurveySpec.from_catalogue(cat))
    msg = str(e.value)
    assert "table 'survey_responses', column 'A1':" in msg
    assert "1..5, the default: survey_items declares no scale for item A1" in msg
    assert "declare it in the item catalogue: survey_items columns scale_min and scale_max" in msg
    # declared 1..6: the same data are fine
    ok = cat.assign(scale_min=1, scale_max=6)
    assert len(score_survey(resp, SurveySpec.from_catalogue(ok)).constructs) == 40


@pytest.mark.parametrize("bad, shown", [(7, "7"), (0, "0"), (2.5, "2.5"), ("agree", "'agree'")])
def test_answers_off_a_declared_scale(bad, shown):
    resp, cat = _bfi_like()
    cat = cat.assign(scale_min=1, scale_max=6)
    resp = resp.astype({"N3": object})
    resp.loc[7, "N3"] = bad
    with pytest.raises(SurveyError) as e:
        score_survey(resp, SurveySpec.from_catalogue(cat))
    msg = str(e.value)
    assert "column 'N3': 1 answer(s)" in msg and f"data row 8 (customer 61624): {shown}" in msg
    assert "1..6 declared for item N3 in survey_items" in msg
    assert "correct these answers in the data" in msg and "scale_min/scale_max" in msg
    assert ("map labels such as 'agree' to numbers" in msg) == (bad == "agree")


@pytest.mark.parametrize(
    "change, expected",
    [
        (lambda c: c.assign(scale_min=1), "column 'scale_min' without 'scale_max'"),
        (
            lambda c: c.assign(scale_min=1, scale_max=[6] * 24 + [None]),
            r"item\(s\) \['O5'\] have only one of scale_min, scale_max",
        ),
        (
            lambda c: c.assign(scale_min=[1] * 24 + [6], scale_max=6),
            "the minimum is not below the maximum for item O5: 6..6",
        ),
        (
            lambda c: c.assign(scale_min=1, scale_max=["6"] * 24 + ["six"]),
            "column 'scale_max': not a whole number for item O5: 'six'",
        ),
        (
            lambda c: c.assign(scale_min=1, scale_max=[6.0] * 24 + [6.5]),
            "column 'scale_max': not a whole number for item O5: 6.5",
        ),
    ],
)
def test_catalogue_scale_mistakes_are_named(change, expected):
    _, cat = _bfi_like()
    with pytest.raises(SurveyError, match=expected) as e:
        SurveySpec.from_catalogue(change(cat))
    assert "table 'survey_items'" in str(e.value) and "Fix:" in str(e.value)


@pytest.mark.parametrize(
    "flags, expected",
    [
        ([-1, 1] * 12 + [1], r"(?s)\(-1\), e.g. item A1: -1, item A3: -1.*mapped: -1 -> true"),
        (["yes", "no"] * 12 + ["maybe"], r"\('maybe'\), e.g. item O5: 'maybe'"),
        ([True, False] * 12 + [None], r"\(empty\), e.g. item O5: empty"),
    ],
)
def test_reverse_flags_other_than_true_false_are_refused(flags, expected):
    # a -1/1 keying column read as booleans would flip exactly the wrong items
    _, cat = _bfi_like()
    with pytest.raises(SurveyError, match=expected) as e:
        SurveySpec.from_catalogue(cat.assign(reverse_coded=pd.Series(flags, dtype=object)))
    assert "table 'survey_items', column 'reverse_coded'" in str(e.value)
    ok = SurveySpec.from_catalogue(cat.assign(reverse_coded=[1, 0] * 12 + [0]))
    assert ok.reverse == tuple(cat["item"][::2][:12])


# --------------------------------------------------------------------------------------------
# the validate hook
# --------------------------------------------------------------------------------------------


def test_scale_problems_lists_every_problem_without_raising():
    resp, cat = _bfi_like()
    declared = cat.assign(scale_min=1, scale_max=6)
    assert scale_problems(resp, declared) == []
    # default scale: one message for all the items off it
    probs = scale_problems(resp, cat)
    assert len(probs) == 1 and "(25 items)" in probs[0]
    # several declared columns with bad answers: one message each
    two = resp.copy()
    two.loc[1, "A2"], two.loc[4, "N1"] = 7, 0
    probs = scale_problems(two, declared)
    assert [p.split(":")[0] for p in probs] == [
        "table 'survey_responses', column 'A2'",
        "table 'survey_responses', column 'N1'",
    ]
    # missing item columns, an unknown answer column, a bad answer; no customer_id needed
    bad = resp.drop(columns=["O4", "O5", "customer_id"]).assign(A6=3.0, answered_at="2024-01-01")
    bad.loc[2, "C1"] = 9
    checks = survey_checks(bad, declared)
    kinds = [(c.severity, c.column) for c in checks]
    assert kinds == [("error", None), ("error", "C1"), ("note", "A6")]
    msgs = scale_problems(bad, declared)
    assert "missing item column(s) ['O4', 'O5']" in msgs[0] and "survey_items" in msgs[0]
    assert "column 'C1'" in msgs[1] and "data row 3: 9" in msgs[1]
    assert "column(s) A6 are not items of the catalogue survey_items" in msgs[2]
    assert "answered_at" not in msgs[2]  # known non-answer columns are not reported
    # an unusable catalogue is one message, not a traceback
    assert (
        "missing column(s) ['construct']" in scale_problems(resp, cat.drop(columns="construct"))[0]
    )


def test_unused_answer_columns_are_recorded_and_left_out():
    resp, cat = _bfi_like()
    cat = cat.assign(scale_min=1, scale_max=6)
    resp = resp.assign(age=np.arange(40) + 20, gender=["m", "f"] * 20)
    s = score_survey(resp, SurveySpec.from_catalogue(cat))
    assert s.unused_columns == ["age", "gender"]
    assert list(s.answers.columns) == list(cat["item"])


def test_catalogue_without_text_uses_item_names():
    _, cat = _bfi_like()
    spec = SurveySpec.from_catalogue(cat.drop(columns="text"))
    assert spec.text["A1"] == "A1"


# --------------------------------------------------------------------------------------------
# reliability
# --------------------------------------------------------------------------------------------


def test_cronbach_alpha_equals_the_covariance_closed_form():
    rng = np.random.default_rng(4)
    trait = rng.normal(size=300)
    x = np.column_stack([trait * w + rng.normal(0, 1, 300) for w in (0.5, 1.0, 1.5, 0.8)])
    df = pd.DataFrame(x, columns=list("abcd"))
    cov = np.cov(x, rowvar=False, ddof=1)
    k = 4
    mean_offdiag = (cov.sum() - np.trace(cov)) / (k * (k - 1))
    # alpha = k^2 * mean covariance / variance of the total (= sum of the covariance matrix)
    assert cronbach_alpha(df) == pytest.approx(k**2 * mean_offdiag / cov.sum(), abs=1e-12)


def test_cronbach_alpha_of_parallel_items_matches_the_population_value():
    # k parallel items T + e_i, var(T) = 1, var(e) = s2: alpha = k / (k + s2)
    rng = np.random.default_rng(9)
    n, k, s2 = 200_000, 5, 1.5
    t = rng.normal(size=(n, 1))
    x = t + rng.normal(0, np.sqrt(s2), size=(n, k))
    assert cronbach_alpha(pd.DataFrame(x)) == pytest.approx(k / (k + s2), abs=0.005)


def test_item_rest_correlation_flags_a_wrongly_keyed_item():
    rng = np.random.default_rng(2)
    n = 500
    trait = rng.normal(size=n)
    data = pd.DataFrame(
        {f"i{j}": np.clip(np.round(3.5 + trait + rng.normal(0, 0.8, n)), 1, 6) for j in range(4)}
    )
    data["i3"] = 7 - data["i3"]  # stored reversed, but the catalogue will not say so
    r = item_rest_correlations(data)
    for col in data.columns:
        rest = data.drop(columns=col).sum(axis=1)
        assert r[col] == pytest.approx(np.corrcoef(data[col], rest)[0, 1], abs=1e-12)
    cat = pd.DataFrame(
        {"item": list(data.columns), "construct": "grit", "text": "t", "reverse_coded": False}
    )
    rel = reliability(data, SurveySpec.from_catalogue(cat.assign(scale_min=1, scale_max=6)))
    assert rel.loc["grit", "suspect_items"] == "i3"
    warn = survey.reliability_warning(rel)
    assert "grit: i3" in warn and "reverse_coded" in warn
    fixed = cat.assign(reverse_coded=[False, False, False, True], scale_min=1, scale_max=6)
    spec = SurveySpec.from_catalogue(fixed)
    rel2 = reliability(survey.reverse_code(data, spec), spec)
    assert rel2.loc["grit", "suspect_items"] == "" and not rel2.loc["grit", "weak"]
    assert survey.reliability_warning(rel2) is None


def test_reliability_table_for_people_in_words_without_true_false_or_nan():
    rng = np.random.default_rng(4)
    n = 300
    trait = rng.normal(size=n)
    data = pd.DataFrame(
        {f"i{j}": np.clip(np.round(3.5 + trait + rng.normal(0, 0.8, n)), 1, 6) for j in range(3)}
    )
    data["n0"] = rng.integers(1, 7, n).astype(float)  # noise: the second construct is weak
    data["n1"] = rng.integers(1, 7, n).astype(float)
    data.loc[:9, "i0"] = np.nan
    cat = pd.DataFrame(
        {
            "item": ["i0", "i1", "i2", "n0", "n1"],
            "construct": ["price_sensitivity"] * 3 + ["noise"] * 2,
            "text": "t",
            "reverse_coded": [False, False, False, True, False],
            "scale_min": 1,
            "scale_max": 6,
        }
    )
    spec = SurveySpec.from_catalogue(cat)
    rel = reliability(survey.reverse_code(data, spec), spec)
    shown = pages.readable_reliability(rel).set_index("construct")
    # the oracle: Cronbach's alpha in closed form on complete answers
    block = data[["i0", "i1", "i2"]].dropna()
    alpha = 1.5 * (1 - block.var(ddof=1).sum() / block.sum(axis=1).var(ddof=1))
    assert shown.loc["price sensitivity", "Cronbach's alpha"] == f"{alpha:.2f}"
    assert shown.loc["price sensitivity", "respondents who answered all its items"] == "290"
    assert shown.loc["price sensitivity", "below 0.7?"] == ""
    assert shown.loc["noise", "below 0.7?"] == "yes"
    assert shown.loc["noise", "reverse-coded items"] == "n0"
    cells = " ".join(shown.reset_index().astype(str).to_numpy().ravel())
    assert "True" not in cells and "False" not in cells and "nan" not in cells
    assert "price_sensitivity" not in cells


def test_describe_survey_uses_the_catalogue_words():
    _, cat = _bfi_like()
    text = survey.describe_survey(SurveySpec.from_catalogue(cat.assign(scale_min=1, scale_max=6)))
    assert text.startswith("The survey has 25 items measuring 5 constructs: Agreeableness (5 items")
    assert "Conscientiousness (5 items, 2 reverse-coded)" in text
    assert "1..6 scale (as declared in the item catalogue)" in text
    assert "price" not in text.lower()
    default = survey.describe_survey(SurveySpec.from_catalogue(cat))
    assert "1..5 scale (the default scale" in default


# --------------------------------------------------------------------------------------------
# behaviour per persona: tested, and said only where the test finds a difference
# --------------------------------------------------------------------------------------------


def _behaviour_data(seed=0, n=600):
    rng = np.random.default_rng(seed)
    ids = pd.Index([f"R{i:04d}" for i in range(n)], name="customer_id")
    labels = pd.Series(rng.integers(0, 3, n), index=ids, name="cluster")
    lab = labels.to_numpy()
    table = pd.DataFrame(
        {
            "customer_id": ids,
            # revenue differs by persona (log-normal, shifted), orders do not
            "revenue": np.round(np.exp(rng.normal(5 + 0.5 * lab, 1.0)), 2),
            "orders": rng.poisson(3, n),
            # segment shares differ by persona; channel does not
            "segment": np.where(rng.random(n) < 0.2 + 0.25 * lab, "loyal", "other"),
            "channel": rng.choice(["web", "store", "phone"], n),
        }
    )
    table = table.iloc[40:]  # 40 respondents are not customers: left out of every test
    return labels, table


def _kruskal_by_hand(values: np.ndarray, groups: np.ndarray) -> float:
    """H with the tie correction, from ranks (Kruskal & Wallis 1952)."""
    ranks = stats.rankdata(values)
    n = len(values)
    h = 12 / (n * (n + 1)) * sum(
        ranks[groups == g].sum() ** 2 / (groups == g).sum() for g in np.unique(groups)
    ) - 3 * (n + 1)
    _, counts = np.unique(values, return_counts=True)
    return h / (1 - (counts**3 - counts).sum() / (n**3 - n))


def test_behaviour_tests_match_scipy_and_hand_formulas():
    labels, table = _behaviour_data()
    out = personas.behaviour_tests(labels, table).set_index("column")
    known = table.set_index("customer_id").reindex(labels.index)
    have = known["revenue"].notna().to_numpy()
    assert out.loc["revenue", "n"] == have.sum() == 560 and out.loc["revenue", "n_missing"] == 40
    lab = labels.to_numpy()[have]
    for col in ("revenue", "orders"):
        v = known[col].to_numpy()[have].astype(float)
        h, p = stats.kruskal(*[v[lab == g] for g in np.unique(lab)])
        assert out.loc[col, "test"] == "Kruskal-Wallis" and out.loc[col, "df"] == 2
        assert out.loc[col, "statistic"] == pytest.approx(h, rel=1e-12)
        assert out.loc[col, "statistic"] == pytest.approx(_kruskal_by_hand(v, lab), rel=1e-10)
        assert out.loc[col, "p_value"] == pytest.approx(p, rel=1e-10)
        assert out.loc[col, "p_value"] == pytest.approx(stats.chi2.sf(h, 2), rel=1e-10)
        assert out.loc[col, "effect"] == pytest.approx(h / (len(v) - 1))
    for col, n_cat in (("segment", 2), ("channel", 3)):
        cats = known[col].to_numpy()[have]
        obs = pd.crosstab(lab, cats).to_numpy().astype(float)
        exp = obs.sum(axis=1, keepdims=True) * obs.sum(axis=0, keepdims=True) / obs.sum()
        chi2 = ((obs - exp) ** 2 / exp).sum()
        dof = (obs.shape[0] - 1) * (n_cat - 1)
        assert out.loc[col, "test"] == "chi-square" and out.loc[col, "df"] == dof
        assert out.loc[col, "statistic"] == pytest.approx(chi2, rel=1e-12)
        assert out.loc[col, "p_value"] == pytest.approx(stats.chi2.sf(chi2, dof), rel=1e-10)
        assert out.loc[col, "effect"] == pytest.approx(
            np.sqrt(chi2 / (obs.sum() * (min(obs.shape) - 1)))
        )
    # Holm step-down by hand over the four p-values
    p = out["p_value"].to_numpy()
    order = np.argsort(p)
    m = len(p)
    adj = np.empty(m)
    running = 0.0
    for rank, i in enumerate(order):
        running = max(running, min(1.0, (m - rank) * p[i]))
        adj[i] = running
    np.testing.assert_allclose(out["p_holm"].to_numpy(), adj, rtol=1e-12)
    # the planted differences are found, the absent ones are not
    assert out["differs"].to_dict() == {
        "revenue": True,
        "orders": False,
        "segment": True,
        "channel": False,
    }


def test_behaviour_text_claims_a_difference_only_where_the_test_finds_one():
    labels, table = _behaviour_data()
    tests = personas.behaviour_tests(labels, table)
    text = personas.behaviour_text(tests, n_respondents=600)
    differ, same = text.split("No difference between the personas was found")
    assert "revenue (Kruskal-Wallis" in differ and "segment (chi-square" in differ
    assert "orders" not in differ and "channel" not in differ
    assert "orders (Kruskal-Wallis" in same and "channel (chi-square" in same
    assert "up to 40 of 600" in text
    assert "Holm-adjusted p < 0.001" in differ and "p = < " not in text
    # no planted difference at all: no sentence says the personas differ
    rng = np.random.default_rng(3)
    flat = table.assign(
        revenue=rng.permutation(table["revenue"].to_numpy()),
        segment=rng.permutation(table["segment"].to_numpy()),
    )
    flat_tests = personas.behaviour_tests(labels, flat)
    assert not flat_tests["differs"].any()
    flat_text = personas.behaviour_text(flat_tests)
    assert "differ in" not in flat_text and "cannot be told apart" in flat_text


def test_behaviour_tests_that_cannot_run_say_why():
    labels, table = _behaviour_data()
    t = table.assign(constant=1.0, one_cat="x")
    out = personas.behaviour_tests(labels, t).set_index("column")
    assert np.isnan(out.loc["constant", "p_value"]) and "same value" in out.loc["constant", "note"]
    assert np.isnan(out.loc["one_cat", "p_value"]) and "same value" in out.loc["one_cat", "note"]
    assert not out.loc["constant", "differs"]
    # the Holm family is the four testable columns only
    assert out["p_holm"].notna().sum() == 4


def _fake_result(labels):
    k = int(labels.max()) + 1
    return SimpleNamespace(
        labels=labels,
        n_respondents=len(labels),
        profiles=pd.DataFrame({"name": [f"P{c}" for c in range(k)]}),
    )


def test_persona_behaviour_is_left_out_with_one_sentence_when_there_are_no_orders():
    labels, table = _behaviour_data()
    res = _fake_result(labels)
    no_orders = pd.DataFrame(index=pd.Index(labels.index, name="customer_id"))
    b = personas.persona_behaviour(res, no_orders)
    assert not b.available and b.reason.startswith("This run has no order history")
    # orders exist, but none of the respondents bought anything (survey-only respondents)
    c360 = pd.DataFrame(
        {"orders_total": 0, "has_ordered": False, "revenue_365d": 0.0},
        index=pd.Index(labels.index, name="customer_id"),
    )
    b = personas.persona_behaviour(res, c360)
    assert not b.available and "None of the 600 respondents has an order" in b.reason
    # respondents not in the customer table at all
    others = c360.set_axis([f"X{i}" for i in range(600)]).assign(orders_total=2, has_ordered=True)
    assert "None of the 600" in personas.persona_behaviour(res, others).reason
    # buyers: the table, the tests and the text
    c360 = table.set_index("customer_id").rename(columns={"revenue": "revenue_365d"})
    c360 = c360.assign(orders_total=c360["orders"], has_ordered=c360["orders"] > 0)
    b = personas.persona_behaviour(res, c360, columns=("revenue_365d", "segment"))
    assert b.available and b.n_buyers == int((table["orders"] > 0).sum())
    assert list(b.tests["column"]) == ["revenue_365d", "segment"]
    assert list(b.table.index) == ["P0", "P1", "P2", "all"]
    assert "The personas differ in revenue, last 365 days (Kruskal-Wallis" in b.text
    assert "revenue_365d" not in b.text  # the column's name in words, not the code's
    # the tables as shown: words, the currency, shares in %, no nan/True/False/e-notation
    shown = pages.readable_behaviour(b.table, currency="EUR")
    names = res.profiles["name"]
    by_hand = c360["revenue_365d"].groupby(labels.map(names).reindex(c360.index)).mean()
    k = 0 if by_hand.abs().min() >= 100 else 2
    assert shown.set_index("persona")["revenue, last 365 days (mean)"].drop("all").to_dict() == {
        n: f"{v:,.{k}f} EUR" for n, v in by_hand.items()
    }
    seg_cols = [c for c in shown.columns if c.startswith("segment: ")]
    assert seg_cols and all(v.endswith("%") for c in seg_cols for v in shown[c])
    tests = pages.readable_behaviour_tests(b.tests)
    assert tests["compared"].tolist() == ["revenue, last 365 days", "segment"]
    assert set(tests["differ?"]) <= {"yes", "no", ""}
    cells = " ".join(
        shown.astype(str).to_numpy().ravel().tolist()
        + tests.astype(str).to_numpy().ravel().tolist()
    )
    for bad in ("nan", "True", "False", "e-0", "e-1"):
        assert bad not in cells
    assert tests["p (Holm-adjusted)"].tolist() == [
        "< 0.001" if p < 0.001 else f"{p:.3f}" for p in b.tests["p_holm"]
    ]

    # the default columns follow the windows the customer 360 has
    c360w = c360.rename(columns={"revenue_365d": "revenue_180d", "orders": "orders_180d"})
    c360w = c360w.assign(revenue_30d=1.0, orders_30d=1, rfm_segment=c360w["segment"])
    assert personas.behaviour_columns(c360w) == ["revenue_180d", "orders_180d", "rfm_segment"]
    b = personas.persona_behaviour(res, c360w)
    assert list(b.tests["column"]) == ["revenue_180d", "orders_180d", "rfm_segment"]


def test_small_amounts_per_persona_keep_their_cents():
    table = pd.DataFrame(
        {"revenue_30d (mean)": [0.654, 1.42], "orders_30d (mean)": [0.2, 1.0]},
        index=pd.Index(["P0", "all"], name="persona"),
    )
    shown = pages.readable_behaviour(table, currency="USD")
    assert shown["revenue, last 30 days (mean)"].tolist() == ["0.65 USD", "1.42 USD"]
    assert shown["orders, last 30 days (mean)"].tolist() == ["0.2", "1.0"]
    assert personas.behaviour_label("clv_12m") == "expected value, next 12 months (CLV)"
    assert personas.behaviour_label("aov") == "average order value"


# --------------------------------------------------------------------------------------------
# a Big-Five-shaped survey end to end: 1..6, reverse-keyed items, missing answers
# --------------------------------------------------------------------------------------------


def test_big_five_shaped_survey_is_scored_and_named_in_its_own_terms():
    rng = np.random.default_rng(12)
    n = 600
    traits = {"Extraversion": rng.normal(size=n), "Neuroticism": rng.normal(size=n)}
    cols, rows = {}, []
    for con, t in traits.items():
        for j in range(1, 6):
            item, rev = f"{con[0]}{j}", j in (1, 2)
            x = np.clip(np.round(3.5 + 1.1 * t + rng.normal(0, 0.9, n)), 1, 6)
            x = 7 - x if rev else x  # stored as answered: a reverse-keyed item runs the other way
            x[rng.random(n) < 0.03] = np.nan
            cols[item] = x
            rows.append(
                {
                    "item": item,
                    "construct": con,
                    "text": f"Statement {item}.",
                    "reverse_coded": rev,
                    "scale_min": 1,
                    "scale_max": 6,
                }
            )
    resp = pd.DataFrame({"customer_id": [str(61617 + i) for i in range(n)], **cols})
    cat = pd.DataFrame(rows)
    r = personas.fit_personas(resp, cat, k=2, n_bootstrap=2)
    assert (r.reliability["alpha"] > 0.8).all() and (r.reliability["suspect_items"] == "").all()
    names = set(r.profiles["name"])
    assert names <= {
        f"{d} {c}{rest}"
        for d in ("High", "Low")
        for c in ("Extraversion", "Neuroticism")
        for rest in (
            "",
            ", high Extraversion",
            ", low Extraversion",
            ", high Neuroticism",
            ", low Neuroticism",
        )
    }, names
    # construct scores equal the hand formula on the reverse-keyed 1..6 scale
    s = r.model.spec
    got = score_survey(resp, s, learn_medians=False).constructs
    items = [f"E{j}" for j in range(1, 6)]
    complete = resp[resp[items].notna().all(axis=1)]
    for _, row in complete.head(20).iterrows():
        vals = [7 - row[i] if i in ("E1", "E2") else row[i] for i in items]
        assert got.loc[row["customer_id"], "Extraversion"] == pytest.approx(np.mean(vals))
    assert len(complete) > 500


def test_headline_says_when_groups_are_weakly_separated():
    def fake(sil):
        return SimpleNamespace(
            profiles=pd.DataFrame({"name": ["A", "B"], "size": [60, 40], "share": [0.6, 0.4]}),
            n_respondents=100,
            k=2,
            k_reason="k=2: stable.",
            sweep=pd.DataFrame({"silhouette": [sil]}, index=pd.Index([2], name="k")),
        )

    weak = pages.headline(fake(0.18))
    assert "weakly separated (silhouette 0.18" in weak and "continuum" in weak
    assert "weakly" not in pages.headline(fake(0.41))


# --------------------------------------------------------------------------------------------
# numbers that mean "no answer" (IPIP-FFM exports store 0)
# --------------------------------------------------------------------------------------------


def _ipip_like(n=50, seed=5):
    answers, catalogue = _random_survey(1, 5, n=n, seed=seed, constructs=("EXT", "AGR"))
    resp, cat = _frames(answers, catalogue, declare=False)
    coded = resp.copy()
    items = list(cat["item"])
    coded[items] = coded[items].fillna(0)  # the export writes 0 for a skipped question
    for i in items:
        coded[f"{i}_E"] = np.arange(n) * 100 + 1500  # response times in ms: not answers
    return answers, catalogue, coded, cat


def test_a_missing_code_must_be_declared_and_then_counts_as_missing():
    answers, catalogue, coded, cat = _ipip_like()
    with pytest.raises(SurveyError) as e:
        score_survey(coded, SurveySpec.from_catalogue(cat))
    msg = str(e.value)
    assert "(8 items)" in msg and "If 0 means 'no answer' in this export" in msg
    assert "survey_items column missing_code = 0 for these items" in msg
    spec = SurveySpec.from_catalogue(cat.assign(missing_code=0))
    assert spec.missing_codes == dict.fromkeys(cat["item"], 0.0)
    s = score_survey(coded, spec)
    expected = score_by_hand(answers, catalogue)
    for cid, row in expected.items():
        for con, val in row.items():
            assert s.constructs.loc[cid, con] == pytest.approx(val, abs=1e-12)
    # every 0 of a kept respondent was imputed like a blank
    assert s.n_imputed == sum(v is None for cid in expected for v in answers[cid].values())
    assert s.unused_columns == [f"{i}_E" for i in cat["item"]]
    assert SurveySpec.from_dict(spec.to_dict()).missing_codes == spec.missing_codes
    with pytest.raises(
        SurveyError, match="column 'missing_code': not a number for item E1: 'none'"
    ):
        SurveySpec.from_catalogue(cat.assign(missing_code=["none"] + [0] * 7))


def test_code_hint_only_for_numbers_that_look_like_codes():
    resp, cat = _bfi_like()
    msg = scale_problems(resp, cat)[0]  # 6 on the default 1..5: a scale, not a code
    assert "no answer' in this export" not in msg
    declared = cat.assign(scale_min=1, scale_max=6)
    odd = resp.copy()
    odd.loc[[2, 9], "C3"] = 99
    (msg,) = scale_problems(odd, declared)
    assert (
        "If 99 means 'no answer' in this export" in msg and "missing_code = 99 for item C3" in msg
    )


# --------------------------------------------------------------------------------------------
# a survey-only export through `segwork run` (respondents are not customers with orders)
# --------------------------------------------------------------------------------------------


@pytest.mark.e2e
def test_survey_only_run_on_a_big_five_shaped_export(tmp_path):
    import re

    import yaml

    from segwork import pipeline

    rng = np.random.default_rng(21)
    n = 400
    traits = {"Extraversion": rng.normal(size=n), "Neuroticism": rng.normal(size=n)}
    cols, rows = {}, []
    for con, t in traits.items():
        for j in range(1, 6):
            item, rev = f"{con[0]}{j}", j in (1, 2)
            x = np.clip(np.round(3.5 + 1.1 * t + rng.normal(0, 0.9, n)), 1, 6)
            x = 7 - x if rev else x
            x[rng.random(n) < 0.03] = np.nan
            cols[item] = x
            rows.append(
                {
                    "item": item,
                    "construct": con,
                    "text": f"Statement {item}.",
                    "reverse_coded": rev,
                    "scale_min": 1,
                    "scale_max": 6,
                }
            )
    resp = pd.DataFrame(
        {
            "customer_id": [str(61617 + i) for i in range(n)],
            **cols,
            "gender": rng.choice([1, 2], n),
            "age": rng.integers(18, 70, n),
        }
    )
    resp.to_csv(tmp_path / "bfi.csv", index=False)
    pd.DataFrame(rows).to_csv(tmp_path / "bfi_items.csv", index=False)
    root = Path(__file__).parents[1]
    cfg = {
        "name": "Big Five survey only",
        "analysis_date": "2024-01-01",
        "sources": {
            "survey_responses": {"path": "bfi.csv"},
            "survey_items": {"path": "bfi_items.csv"},
        },
        "notebooks_dir": str(root / "notebooks"),
        "reports_dir": str(tmp_path / "reports"),
    }
    config = tmp_path / "bfi.yaml"
    config.write_text(yaml.safe_dump(cfg), encoding="utf-8")
    record = pipeline.run(config, progress=False)
    assert record.status == "succeeded", [nb.error for nb in record.notebooks if nb.error]
    status = {nb.stem: nb.status for nb in record.notebooks}
    assert status["03_personas"] == "succeeded" and status["02_rfm_clv"] == "not applicable"
    personas = pd.read_parquet(record.run_dir / "artifacts" / "personas.parquet")
    too_few = int((resp[list(cols)].notna().mean(axis=1) < 0.7).sum())
    assert len(personas) == n - too_few and personas["persona"].notna().all()
    page = (record.run_dir / "03_personas.html").read_text(encoding="utf-8")
    page = re.sub(r"<(script|style)\b.*?</\1>", " ", page, flags=re.S)
    text = re.sub(r"\s+", " ", re.sub(r"<[^>]+>", " ", page))
    assert (
        "The survey has 10 items measuring 2 constructs: Extraversion (5 items, 2 reverse" in text
    )
    assert "1..6 scale (as declared in the item catalogue)" in text
    assert "This run has no order history" in text and "differ in" not in text
    assert "also has the columns gender, age; they are not questions of the item catalogue" in text
    assert "segwork assign" not in text and "Fix:" not in text  # no analyst advice on the page
    for demo_word in ("price", "sustainab", "shop", "deal", "discount", "brand"):
        assert demo_word not in text.lower(), demo_word


def test_a_text_mark_for_no_answer_points_to_the_sources_missing_values():
    answers, catalogue, coded, cat = _ipip_like()
    items = list(cat["item"])
    marked = coded[["customer_id", *items]].astype({i: "object" for i in items})
    marked[items] = marked[items].mask(marked[items] == 0, "x")  # the export's mark for a skip
    with pytest.raises(SurveyError) as e:
        score_survey(marked, SurveySpec.from_catalogue(cat))
    msg = str(e.value)
    assert "If 'x' means 'no answer' in this export" in msg
    assert "run config's sources.survey_responses.missing_values instead" in msg
    assert 'missing_values: ["x"]; keep any marks already listed there' in msg
    # what that setting does (the mark read as empty) then scores as the blanks it stands for
    s = score_survey(marked.replace("x", np.nan), SurveySpec.from_catalogue(cat))
    expected = score_by_hand(answers, catalogue)
    assert s.n_imputed == sum(v is None for cid in expected for v in answers[cid].values())


def test_page_sentences_about_the_survey_give_no_analyst_commands():
    note = survey.unused_columns_note(["gender", "education", "age"])
    assert note == (
        "The survey table also has the columns gender, education, age; they are not questions "
        "of the item catalogue, so the personas do not use them."
    )
    assert "Fix" not in note and "survey_items" not in note
    assert survey.unused_columns_note(["age"]).startswith(
        "The survey table also has the column age; it is"
    )
    result = SimpleNamespace(n_respondents=2794, n_imputed=433)
    text = pages.grouping_text(result, "persona_model.skops")
    assert text.startswith("2,794 respondents were grouped; 433 missing answers were filled")
    assert "segwork assign" not in text and "`" not in text
    one = pages.grouping_text(SimpleNamespace(n_respondents=5, n_imputed=1), "m.skops")
    assert "1 missing answer was filled" in one
