"""Tests of survey scoring (segwork.survey) and persona clustering (segwork.clusters).

Oracles: hand computations for reverse coding, imputation and exclusions; the variance formula
and the two-way ANOVA (Hoyt) identity, via statsmodels, for Cronbach's alpha; simulations with
planted personas (and the demo generator's planted truth) for k selection and recovery.
"""

from __future__ import annotations

import json
import statistics
import zipfile
from pathlib import Path

import matplotlib.pyplot as plt
import numpy as np
import pandas as pd
import pytest
from sklearn.metrics import adjusted_rand_score

from segwork.pages import personas as pages
from segwork.personas import (
    ClusteringError,
    PersonaClusterer,
    choose_k,
    cluster_behaviour,
    fit_personas,
    model_file,
    persona_names,
)
from segwork.personas.model_file import TRUSTED_TYPES, ModelFileError
from segwork.plots import personas as plots
from segwork.survey import (
    SurveyError,
    SurveySpec,
    cronbach_alpha,
    reliability,
    reverse_code,
    score_survey,
)
from segwork.widgets import personas as widgets

# --------------------------------------------------------------------------------------------
# simulated surveys with known personas
# --------------------------------------------------------------------------------------------


def simulate_survey(
    k_true: int,
    n: int = 1500,
    *,
    n_constructs: int = 6,
    items_per: int = 4,
    seed: int = 0,
    trait_sd: float = 0.45,
    noise_sd: float = 0.75,
    missing: float = 0.03,
) -> tuple[pd.DataFrame, pd.DataFrame, pd.Series]:
    """Likert answers from ``k_true`` personas, each high (4.5) on its own construct.

    Other construct means are drawn around 2.8; a respondent's answer to an item is
    clip(round(mean + trait + noise), 1, 5), the last item of each construct is reverse-coded
    (stored as 6 - answer) and ``missing`` of the answers are blank. Returns (responses,
    catalogue, true persona per customer_id).
    """
    rng = np.random.default_rng(seed)
    mu = np.clip(rng.normal(2.8, 0.5, size=(k_true, n_constructs)), 1.8, 3.6)
    mu[np.arange(k_true), rng.permutation(n_constructs)[:k_true]] = 4.5
    truth = rng.choice(k_true, size=n)
    trait = rng.normal(0, trait_sd, size=(n, n_constructs))
    cols, cat = {}, []
    for c in range(n_constructs):
        for j in range(items_per):
            item = f"q{c * items_per + j + 1:02d}"
            rev = j == items_per - 1
            x = np.clip(np.round(mu[truth, c] + trait[:, c] + rng.normal(0, noise_sd, n)), 1, 5)
            if rev:
                x = 6 - x
            x[rng.random(n) < missing] = np.nan
            cols[item] = x
            cat.append(
                {
                    "item": item,
                    "construct": f"construct_{c}",
                    "text": f"Statement {item}.",
                    "reverse_coded": rev,
                }
            )
    ids = [f"S{i:05d}" for i in range(n)]
    return (
        pd.DataFrame({"customer_id": ids, **cols}),
        pd.DataFrame(cat),
        pd.Series(truth, index=ids),
    )


def oracle_ari(result, truth: pd.Series) -> float:
    """ARI of an oracle that knows the personas: each respondent to the nearest true persona centroid.

    The personas overlap, so no method can reach ARI 1; this is the bar a good clustering meets.
    """
    t = truth[result.labels.index].to_numpy()
    X = result.features
    centres = np.vstack([X[t == j].mean(axis=0) for j in np.unique(t)])
    return adjusted_rand_score(t, ((X[:, None, :] - centres[None]) ** 2).sum(axis=2).argmin(axis=1))


@pytest.fixture(scope="module")
def sim4():
    return simulate_survey(4, n=900, seed=11)


@pytest.fixture(scope="module")
def fitted4(sim4):
    resp, cat, _ = sim4
    return fit_personas(resp, cat, k_range=(2, 6), n_bootstrap=3)


# --------------------------------------------------------------------------------------------
# survey scoring against hand computations
# --------------------------------------------------------------------------------------------


def _tiny():
    cat = pd.DataFrame(
        {
            "item": ["a1", "a2", "a3", "b1", "b2", "c1"],
            "construct": ["A", "A", "A", "B", "B", "C"],
            "text": ["x"] * 6,
            "reverse_coded": [False, False, True, False, "yes", False],
        }
    )
    resp = pd.DataFrame(
        {
            "customer_id": ["r1", "r2", "r3", "r4", "r5"],
            "a1": [5, np.nan, 1, np.nan, 2],
            "a2": [4, 2, 2, np.nan, 3],
            "a3": [1, 4, 5, np.nan, 3],  # reverse-coded: 6 - x
            "b1": [3, 5, np.nan, np.nan, 4],
            "b2": [2, 1, np.nan, 5, 4],  # reverse-coded
            "c1": [4, 3, np.nan, np.nan, 1],
        }
    )
    return resp, cat


def test_reverse_coding_flips_on_the_scale():
    resp, cat = _tiny()
    spec = SurveySpec.from_catalogue(cat)
    assert spec.reverse == ("a3", "b2")  # "yes" counts as reverse-coded
    raw = resp.set_index("customer_id")[list(spec.items)].astype(float)
    rec = reverse_code(raw, spec)
    assert rec.loc["r1", "a3"] == 5 and rec.loc["r2", "a3"] == 2 and rec.loc["r2", "b2"] == 5
    assert np.isnan(rec.loc["r3", "b2"])
    assert rec.loc["r1", "a1"] == 5  # not reverse-coded: unchanged
    # a 1..7 scale from the catalogue: 1 + 7 - x
    cat7 = cat.assign(scale_min=1, scale_max=7)
    spec7 = SurveySpec.from_catalogue(cat7)
    assert reverse_code(raw, spec7).loc["r1", "a3"] == 7


def test_exclusion_imputation_and_construct_scores_by_hand():
    resp, cat = _tiny()
    spec = SurveySpec.from_catalogue(cat, min_answered=0.5)  # at least 3 of 6 items
    s = score_survey(resp, spec)
    # r3 answered 3/6 = 0.5 -> kept; r4 answered 1/6 -> excluded
    assert list(s.exclusions["customer_id"]) == ["r4"]
    assert s.exclusions["reason"].iloc[0] == "too few answers (< 50% of items)"
    # r2: a1 missing -> mean of own recoded A items: a2 = 2, a3 = 6 - 4 = 2 -> 2
    assert s.answers.loc["r2", "a1"] == pytest.approx(2.0)
    # r3: B and C entirely missing -> item medians of kept respondents (recoded)
    med_b1 = statistics.median([3, 5, 4])  # r1, r2, r5
    med_b2 = statistics.median([6 - 2, 6 - 1, 6 - 4])
    med_c1 = statistics.median([4, 3, 1])
    assert s.answers.loc["r3", "b1"] == med_b1
    assert s.answers.loc["r3", "b2"] == med_b2
    assert s.answers.loc["r3", "c1"] == med_c1
    # construct scores are means of recoded, imputed items
    assert s.constructs.loc["r1", "A"] == pytest.approx((5 + 4 + 5) / 3)
    assert s.constructs.loc["r3", "B"] == pytest.approx((med_b1 + med_b2) / 2)
    assert s.constructs.loc["r5", "B"] == pytest.approx((4 + 2) / 2)
    assert s.n_imputed == 1 + 3  # r2.a1, r3.b1, r3.b2, r3.c1
    # the boundary: with the default 0.7, r3 (50%) and r2 (5/6 = 83%) -> only r3, r4 out
    s70 = score_survey(resp, SurveySpec.from_catalogue(cat))
    assert sorted(s70.exclusions["customer_id"]) == ["r3", "r4"]


def test_min_answered_boundary_is_inclusive():
    resp, cat = _tiny()
    # r3 answered exactly 3 of 6: kept at 0.5, excluded just above it
    assert (
        "r3" in score_survey(resp, SurveySpec.from_catalogue(cat, min_answered=0.5)).answers.index
    )
    assert (
        "r3"
        not in score_survey(resp, SurveySpec.from_catalogue(cat, min_answered=0.51)).answers.index
    )


def test_cronbach_alpha_variance_formula_and_anova_identity():
    import statsmodels.formula.api as smf
    from statsmodels.stats.anova import anova_lm

    rng = np.random.default_rng(3)
    n, k = 40, 4
    trait = rng.normal(size=n)
    x = np.clip(np.round(3 + trait[:, None] + rng.normal(0, 0.8, (n, k))), 1, 5)
    df = pd.DataFrame(x, columns=[f"i{j}" for j in range(k)])
    df.iloc[5, 2] = np.nan  # listwise deletion drops this row
    alpha = cronbach_alpha(df)
    complete = df.dropna()
    # 1) the variance formula, written out with the statistics module (sample variances)
    item_vars = [statistics.variance(complete[c].tolist()) for c in complete.columns]
    total_var = statistics.variance(complete.sum(axis=1).tolist())
    by_hand = k / (k - 1) * (1 - sum(item_vars) / total_var)
    assert alpha == pytest.approx(by_hand, abs=1e-12)
    # 2) Hoyt: alpha = 1 - MS_residual / MS_persons of the two-way ANOVA persons x items
    long = complete.reset_index(names="person").melt(
        id_vars="person", var_name="item", value_name="y"
    )
    table = anova_lm(smf.ols("y ~ C(person) + C(item)", data=long).fit())
    ms = table["mean_sq"]
    assert alpha == pytest.approx(1 - ms["Residual"] / ms["C(person)"], abs=1e-10)
    assert np.isnan(cronbach_alpha(df[["i0"]]))  # one item: no alpha


def test_reliability_flags_weak_constructs():
    rng = np.random.default_rng(0)
    n = 300
    trait = rng.normal(size=n)
    good = {f"g{j}": np.clip(np.round(3 + trait + rng.normal(0, 0.6, n)), 1, 5) for j in range(3)}
    noise = {f"w{j}": rng.integers(1, 6, n).astype(float) for j in range(3)}  # unrelated answers
    data = pd.DataFrame({**good, **noise})
    cat = pd.DataFrame(
        {
            "item": list(data.columns),
            "construct": ["good"] * 3 + ["weak"] * 3,
            "text": "t",
            "reverse_coded": False,
        }
    )
    rel = reliability(data, SurveySpec.from_catalogue(cat))
    assert rel.attrs["threshold"] == 0.7
    assert rel.loc["good", "alpha"] > 0.8 and not rel.loc["good", "weak"]
    assert rel.loc["weak", "alpha"] < 0.3 and rel.loc["weak", "weak"]
    assert rel.loc["good", "alpha"] == pytest.approx(cronbach_alpha(data[["g0", "g1", "g2"]]))


@pytest.mark.parametrize("bad, shown", [(6, "6"), (2.5, "2.5"), ("agree", "'agree'"), (0, "0")])
def test_out_of_range_answers_name_item_row_and_range(bad, shown):
    resp, cat = _tiny()
    resp = resp.astype({"b1": object})
    resp.loc[3, "b1"] = bad
    with pytest.raises(SurveyError) as e:
        score_survey(resp, SurveySpec.from_catalogue(cat))
    msg = str(e.value)
    assert (
        "'b1'" in msg
        and "data row 4" in msg
        and "customer r4" in msg
        and "1..5" in msg
        and shown in msg
    )
    # no scale declared: the message says the default was used and how to declare another
    assert "the default" in msg and "scale_min and scale_max for item b1" in msg
    assert "recode" not in msg


def test_missing_item_columns_and_duplicates_are_errors():
    resp, cat = _tiny()
    with pytest.raises(SurveyError, match=r"missing item column\(s\) \['a2', 'c1'\]"):
        score_survey(resp.drop(columns=["a2", "c1"]), SurveySpec.from_catalogue(cat))
    dup = pd.concat([resp, resp.iloc[[0]]])
    with pytest.raises(SurveyError, match="answered more than once"):
        score_survey(dup, SurveySpec.from_catalogue(cat))
    with pytest.raises(SurveyError, match="missing column"):
        SurveySpec.from_catalogue(cat.drop(columns="reverse_coded"))


def test_consent_exclusions_counted(sim4):
    resp, cat, _ = sim4
    resp = resp.head(300)
    ids = resp["customer_id"]
    consent = pd.Series(True, index=ids)
    consent.iloc[:10] = False
    consent = consent.iloc[:-5]  # 5 customers without any consent record count as no consent
    r = fit_personas(resp, cat, k=3, n_bootstrap=2, consent=consent)
    n_few = int((resp[list(cat["item"])].notna().mean(axis=1) < 0.7).iloc[10:-5].sum())
    assert r.excluded["no profiling consent"] == 15
    assert r.excluded["too few answers (< 70% of items)"] == n_few
    assert r.n_respondents == 300 - 15 - n_few
    assert not set(ids.iloc[:10]) & set(r.labels.index)
    # the same from a profiling_consent column (text yes/no)
    col = resp.assign(profiling_consent=np.where(np.arange(300) < 10, "no", "yes"))
    r2 = fit_personas(col, cat, k=3, n_bootstrap=2)
    assert r2.excluded["no profiling consent"] == 10


# --------------------------------------------------------------------------------------------
# choosing k
# --------------------------------------------------------------------------------------------


def test_choose_k_rule_on_a_hand_made_sweep():
    sweep = pd.DataFrame(
        {
            "silhouette": [0.40, 0.36, 0.35, 0.30, 0.20, 0.33],
            "min_cluster_jaccard": [0.99, 0.98, 0.97, 0.60, 0.95, 0.50],
            "stability": [0.99, 0.99, 0.98, 0.80, 0.97, 0.7],
            "stability_sd": [0.01] * 6,
        },
        index=pd.Index([2, 3, 4, 5, 6, 7], name="k"),
    )
    k, reason = choose_k(sweep)
    # stable: 2, 3, 4, 6; best stable silhouette 0.40 -> floor 0.32 excludes 6 -> largest is 4
    assert k == 4
    assert reason.startswith("4 personas: the largest number")
    assert "With 5, a persona would be split" in reason and "(overlap 0.60 only)" in reason
    assert "Separation alone would favour 2 (silhouette 0.40)" in reason
    assert "k=" not in reason and "Jaccard" not in reason and "ARI" not in reason
    assert choose_k(sweep, silhouette_share=0.5)[0] == 6
    assert choose_k(sweep, stability_threshold=0.985)[0] == 2
    none_stable = sweep.assign(min_cluster_jaccard=[0.5, 0.7, 0.6, 0.4, 0.3, 0.2])
    k, reason = choose_k(none_stable)
    assert k == 3 and "caution" in reason and "3 comes closest (0.70)" in reason


@pytest.mark.parametrize("k_true, seed", [(3, 1), (4, 2), (5, 3), (6, 4)])
def test_rule_recovers_planted_k_on_simulations(k_true, seed):
    resp, cat, truth = simulate_survey(k_true, n=1200, seed=seed)
    r = fit_personas(resp, cat, k_range=(2, 8), n_bootstrap=4)
    assert r.k == k_true, r.k_reason
    ari = adjusted_rand_score(truth[r.labels.index], r.labels)
    assert ari >= 0.8 and ari >= oracle_ari(r, truth) - 0.03
    assert r.sweep.loc[k_true, "chosen"] and r.sweep["chosen"].sum() == 1
    # internal indices alone do not always get there; the rule must not depend on them
    assert set(r.sweep.columns) >= {
        "silhouette",
        "calinski_harabasz",
        "davies_bouldin",
        "bic",
        "stability",
        "stability_sd",
        "min_cluster_jaccard",
    }


def test_sweep_indices_match_sklearn_on_the_final_fit(fitted4):
    from sklearn.metrics import calinski_harabasz_score, davies_bouldin_score, silhouette_score

    r = fitted4
    X, lab = r.features, r.labels.to_numpy()
    assert r.sweep.loc[r.k, "calinski_harabasz"] == pytest.approx(calinski_harabasz_score(X, lab))
    assert r.sweep.loc[r.k, "davies_bouldin"] == pytest.approx(davies_bouldin_score(X, lab))
    assert r.sweep.loc[r.k, "silhouette"] == pytest.approx(
        silhouette_score(X, lab)
    )  # n < sample_size: all rows
    assert r.sweep["bic"].isna().all()  # BIC only for gmm


def test_gmm_reports_bic_and_ward_assigns_by_nearest_centroid(sim4):
    resp, cat, truth = sim4
    g = fit_personas(resp, cat, k_range=(3, 5), algorithm="gmm", n_bootstrap=2, n_init=1)
    from sklearn.mixture import GaussianMixture

    assert g.k == 4, g.k_reason
    for k in (3, 5):  # BIC as sklearn computes it for the same mixture on the same features
        gm = GaussianMixture(k, covariance_type="full", n_init=1, random_state=0).fit(g.features)
        assert g.sweep.loc[k, "bic"] == pytest.approx(gm.bic(g.features), rel=1e-9)
    assert adjusted_rand_score(truth[g.labels.index], g.labels) >= oracle_ari(g, truth) - 0.03
    w = fit_personas(resp, cat, k=4, algorithm="ward", n_bootstrap=2)
    assert adjusted_rand_score(truth[w.labels.index], w.labels) >= oracle_ari(w, truth) - 0.03
    est = w.model.pipeline[-1]
    X = w.features
    d = ((X[:, None, :] - est.cluster_centers_[None]) ** 2).sum(axis=2)
    np.testing.assert_array_equal(w.labels.to_numpy(), d.argmin(axis=1))


def test_ward_on_a_sample_when_n_is_large():
    rng = np.random.default_rng(0)
    X = np.vstack([rng.normal(m, 0.3, (400, 2)) for m in (0, 3, 6)])
    est = PersonaClusterer(3, "ward", ward_max_n=200).fit(X)
    np.testing.assert_array_equal(est.predict(X), est.labels_)
    assert list(np.bincount(est.labels_)) == [400, 400, 400]
    assert est.labels_[0] != est.labels_[400] != est.labels_[800]


# --------------------------------------------------------------------------------------------
# demo data: planted personas recovered
# --------------------------------------------------------------------------------------------


@pytest.fixture(scope="module")
def demo():
    demo_mod = pytest.importorskip("segwork.demo")
    return demo_mod.generate(10_000, seed=7)


@pytest.fixture(scope="module")
def demo_fit(demo):
    consent = demo.customers[["customer_id", "profiling_consent"]]
    return fit_personas(
        demo.survey_responses,
        demo.survey_items,
        k_range=(2, 8),
        n_bootstrap=5,
        consent=consent,
        describe=demo.customers[["customer_id", "customer_type", "income_band"]],
    )


def test_demo_personas_recovered(demo, demo_fit):
    from segwork.demo import CONSTRUCTS, PERSONAS

    r = demo_fit
    truth = demo.truth_customers.set_index("customer_id").loc[r.labels.index]
    assert r.k == 5 == len(PERSONAS), r.k_reason
    assert adjusted_rand_score(truth["persona_id"], r.labels) >= 0.8
    # each cluster's most distinguishing construct is one of its planted persona's two highest
    majority = pd.crosstab(r.labels, truth["persona_id"]).idxmax(axis=1)
    assert majority.nunique() == 5
    for c, pid in majority.items():
        top_z = r.profiles.loc[c, [f"z_{x}" for x in CONSTRUCTS]].astype(float).idxmax()[2:]
        means = dict(zip(CONSTRUCTS, PERSONAS[pid]["construct_means"], strict=True))
        assert top_z in sorted(means, key=means.get)[-2:]
    # exclusions counted independently: the demo survey is answered only by consenting customers
    items = list(demo.survey_items["item"])
    too_few = int((demo.survey_responses[items].notna().mean(axis=1) < 0.7).sum())
    assert r.excluded["too few answers (< 70% of items)"] == too_few > 0
    assert r.excluded["no profiling consent"] == 0
    assert r.reliability["alpha"].gt(0.7).all()
    assert r.profiles["name"].is_unique and r.profiles["description"].str.len().gt(50).all()
    assert r.behaviour is not None and "customer_type: B2B" in r.behaviour.columns


def test_demo_assignment_reproduces_fitted_labels(demo, demo_fit, tmp_path):
    new = demo.survey_responses
    a = demo_fit.assign(new)
    kept = a.dropna()
    pd.testing.assert_series_equal(kept.astype("int64"), demo_fit.labels, check_names=False)
    path = demo_fit.save(tmp_path / "personas.skops")
    m = model_file.load(path)
    pd.testing.assert_series_equal(m.assign(new), a)
    names = m.assign(new, names=True).dropna()
    assert (names == demo_fit.personas.reindex(names.index)).all()


# --------------------------------------------------------------------------------------------
# assignment, save/load, refusal of bad files and input
# --------------------------------------------------------------------------------------------


@pytest.mark.parametrize(
    "algorithm, features", [("kmeans", "items"), ("gmm", "factors"), ("ward", "constructs")]
)
def test_assign_reproduces_labels_with_behaviour_and_profile(sim4, algorithm, features):
    resp, cat, truth = sim4
    rng = np.random.default_rng(1)
    ids = resp["customer_id"]
    beh = pd.DataFrame(
        {
            "customer_id": ids,
            "revenue": np.exp(rng.normal(7 + truth.to_numpy() * 0.3, 1)),
            "orders": rng.poisson(3, len(ids)).astype(float),
        }
    )
    beh.loc[::50, "revenue"] = np.nan
    prof = pd.DataFrame(
        {"customer_id": ids, "region": rng.choice(["Praha", "Brno", None], len(ids))}
    )
    r = fit_personas(
        resp,
        cat,
        k=4,
        algorithm=algorithm,
        features=features,
        behaviour=beh,
        profile=prof,
        n_bootstrap=2,
        n_init=2,
    )
    names = r.model.meta["feature_names"]
    assert any(n.startswith("behaviour__revenue") for n in names)
    assert any("region_missing" in n for n in names)
    n_psy = 6 if features != "items" else 24
    assert sum(n.startswith("psychographic__") for n in names) == n_psy
    a = r.assign(resp, behaviour=beh, profile=prof)
    pd.testing.assert_series_equal(a.dropna().astype("int64"), r.labels, check_names=False)
    with pytest.raises(ClusteringError, match=r"missing behaviour column\(s\) \['orders'\]"):
        r.assign(resp, behaviour=beh.drop(columns="orders"), profile=prof)


def test_save_load_round_trip_and_trusted_types(fitted4, sim4, tmp_path):
    resp, cat, _ = sim4
    path = fitted4.save(tmp_path / "m.skops")
    side = Path(str(path) + ".json")
    record = json.loads(side.read_text())
    assert record["meta"]["survey"]["reverse"] == list(cat.loc[cat["reverse_coded"], "item"])
    assert record["meta"]["k"] == fitted4.k and len(record["sha256"]) == 64
    # the file is a skops zip (no pickle) and contains only the explicitly trusted types
    with zipfile.ZipFile(path) as z:
        schema = json.loads(z.read("schema.json"))
        assert not [n for n in z.namelist() if n.endswith(".pkl")]
    found = set()

    def walk(o):
        if isinstance(o, dict):
            if "__module__" in o and "__class__" in o:
                found.add(f"{o['__module__']}.{o['__class__']}")
            for v in o.values():
                walk(v)
        elif isinstance(o, list):
            for v in o:
                walk(v)

    walk(schema)
    assert found and found <= set(TRUSTED_TYPES)
    m = model_file.load(path)
    assert m.k == fitted4.k and m.names == dict(enumerate(fitted4.profiles["name"]))
    new = resp.sample(200, random_state=1)
    pd.testing.assert_series_equal(m.assign(new), fitted4.assign(new))


def test_tampered_or_unverifiable_model_is_refused(fitted4, tmp_path):
    path = fitted4.save(tmp_path / "m.skops")
    data = bytearray(path.read_bytes())
    data[len(data) // 2] ^= 0xFF
    bad = tmp_path / "bad.skops"
    bad.write_bytes(bytes(data))
    Path(str(bad) + ".json").write_text(Path(str(path) + ".json").read_text())
    with pytest.raises(ModelFileError, match="sha256 .* does not match"):
        model_file.load(bad)
    Path(str(bad) + ".json").unlink()
    with pytest.raises(ModelFileError, match="no sidecar"):
        model_file.load(bad)
    # metadata edited in the sidecar (checksum kept) no longer matches the model
    side = Path(str(path) + ".json")
    rec = json.loads(side.read_text())
    rec["meta"]["k"] = 9
    side.write_text(json.dumps(rec))
    with pytest.raises(ModelFileError, match="metadata"):
        model_file.load(path)
    with pytest.raises(FileNotFoundError):
        model_file.load(tmp_path / "nope.skops")


def test_mismatched_input_is_refused(fitted4, sim4):
    resp, _, _ = sim4
    with pytest.raises(SurveyError, match=r"missing item column\(s\) \['q03', 'q17'\]"):
        fitted4.assign(resp.drop(columns=["q03", "q17"]))
    bad = resp.head(20).copy()
    bad.loc[4, "q05"] = 7
    with pytest.raises(
        SurveyError,
        match=r"column 'q05'.*scale 1\.\.5 of the fitted persona model: "
        r"data row 5 \(customer S00004\): 7\.",
    ) as e:
        fitted4.assign(bad)
    assert "need a model fitted on that scale" in str(e.value)
    assert "survey_items" not in str(e.value)  # the catalogue cannot change a fitted model


def test_assign_marks_excluded_respondents(fitted4, sim4):
    resp, cat, _ = sim4
    new = resp.head(5).copy()
    new.loc[1, list(cat["item"])[:12]] = np.nan  # half the items: too few
    new["profiling_consent"] = [True, True, False, True, True]
    frame = fitted4.model.assign_frame(new)
    assert list(frame["status"]) == [
        "assigned",
        "too few answers (< 70% of items)",
        "no profiling consent",
        "assigned",
        "assigned",
    ]
    assert frame["cluster"].isna().tolist() == [False, True, True, False, False]
    assert frame["persona"].isna().tolist() == [False, True, True, False, False]


@pytest.mark.parametrize("suffix", [".csv", ".parquet"])
def test_assign_file_and_cli(fitted4, sim4, tmp_path, suffix):
    from typer.testing import CliRunner

    from segwork.cli import app

    resp, _, _ = sim4
    model = fitted4.save(tmp_path / "m.skops")
    inp = tmp_path / f"new{suffix}"
    new = resp.head(50)
    new.to_csv(inp, index=False) if suffix == ".csv" else new.to_parquet(inp, index=False)
    out = model_file.assign_file(model, inp, tmp_path / f"out{suffix}")
    got = (
        pd.read_csv(out, dtype={"customer_id": "string"})
        if suffix == ".csv"
        else pd.read_parquet(out)
    )
    assert list(got.columns) == ["customer_id", "cluster", "persona", "status"]
    expected = fitted4.assign(new)
    assert got["cluster"].tolist() == expected.tolist()
    with pytest.raises(ClusteringError, match="unsupported output type"):
        model_file.assign_file(model, inp, tmp_path / "out.xlsx")
    runner = CliRunner()
    res = runner.invoke(
        app,
        [
            "assign",
            "--model",
            str(model),
            "--input",
            str(inp),
            "--output",
            str(tmp_path / "cli.csv"),
        ],
    )
    assert res.exit_code == 0, res.output
    assert pd.read_csv(tmp_path / "cli.csv")["cluster"].tolist() == expected.tolist()
    bad = tmp_path / f"bad{suffix}"
    b = new.drop(columns="q01")
    b.to_csv(bad, index=False) if suffix == ".csv" else b.to_parquet(bad, index=False)
    res = runner.invoke(app, ["assign", "--model", str(model), "--input", str(bad)])
    assert res.exit_code == 2 and "q01" in res.output


# --------------------------------------------------------------------------------------------
# profiles, names, figures, explorer
# --------------------------------------------------------------------------------------------


def test_profiles_are_z_scores_against_all_respondents(fitted4, sim4):
    resp, cat, _ = sim4
    r = fitted4
    s = score_survey(resp, SurveySpec.from_catalogue(cat))
    cons = s.constructs.loc[r.labels.index]
    for c in range(r.k):
        members = cons[r.labels == c]
        z = (members.mean() - cons.mean()) / cons.std(ddof=1)
        np.testing.assert_allclose(
            r.profiles.loc[c, [f"z_{x}" for x in cons.columns]].astype(float), z, atol=1e-12
        )
    assert r.profiles["size"].sum() == r.n_respondents
    assert r.profiles["size"].is_monotonic_decreasing  # clusters numbered by size
    assert r.profiles["share"].sum() == pytest.approx(1)
    # item z-scores are on the answer scale: a reverse-coded item moves against its construct
    c = 0
    top_con = (
        r.profiles.loc[c, [x for x in r.profiles.columns if x.startswith("z_")]]
        .astype(float)
        .idxmax()[2:]
    )
    items = cat.loc[cat["construct"] == top_con]
    fwd, rev = items.loc[~items["reverse_coded"], "item"], items.loc[items["reverse_coded"], "item"]
    assert (r.item_z.loc[c, fwd] > 0.5).all() and (r.item_z.loc[c, rev] < -0.5).all()
    assert r.profiles.loc[c, "top_items"].count("(") == 3
    # each item quoted as worded, its z-score after it; no '.;' where a sentence meets the list
    assert (
        r.profiles.loc[c, "top_items"].count("“") == 3
        and ".;" not in r.profiles.loc[c, "top_items"]
    )


def test_persona_names_from_z_scores_are_unique_and_overridable(sim4):
    z = pd.DataFrame(
        {
            "price_sensitivity": [1.5, 1.2, 0.1, -0.2],
            "brand_loyalty": [-1.0, 0.9, 0.2, 0.0],
            "odd_construct": [0.0, 0.0, 1.1, 0.3],
        }
    )
    names, descs = persona_names(z)
    # names in the catalogue's words: the most distinguishing construct and its direction
    assert names[0] == "High price sensitivity"
    assert names[1] == "High price sensitivity, high brand loyalty"  # taken: the next construct
    assert names[2] == "High odd construct"
    assert names[3] == "Near average on every construct"
    assert descs[0] == (
        "Higher than the average respondent on price sensitivity (+1.5 SD); "
        "lower on brand loyalty (-1.0 SD). Near the average on odd construct."
    )
    assert "price sensitivity (+1.2 SD) and brand loyalty (+0.9 SD)" in descs[1]
    # nothing written for one survey: Big Five constructs get the same treatment
    big5 = pd.DataFrame({"Neuroticism": [1.2, 1.1], "Extraversion": [-0.7, 0.6]})
    assert persona_names(big5)[0] == ["High Neuroticism", "High Neuroticism, high Extraversion"]
    # a group above average on everything says so, not only on its top constructs (bfi's split)
    general = pd.DataFrame(
        {
            "E": [0.62, -0.7],
            "A": [0.51, -0.6],
            "C": [0.42, -0.45],
            "N": [0.36, 0.1],
            "O": [0.3, -0.3],
        }
    )
    d = persona_names(general)[1]
    assert d[0] == (
        "Higher than the average respondent on E (+0.6 SD) and A (+0.5 SD). Also higher on "
        "C (+0.4 SD), N (+0.4 SD) and O (+0.3 SD)."
    )
    assert d[1] == (
        "Lower than the average respondent on E (-0.7 SD) and A (-0.6 SD). Also lower on "
        "C (-0.5 SD) and O (-0.3 SD). Near the average on N."
    )
    resp, cat, _ = sim4
    r = fit_personas(resp, cat, k=4, n_bootstrap=2, names={"1": "Segment B", 3: "Segment D"})
    assert r.profiles.loc[1, "name"] == "Segment B" and r.profiles.loc[3, "name"] == "Segment D"
    assert (r.personas[r.labels == 1] == "Segment B").all()
    with pytest.raises(ClusteringError, match="do not exist"):
        fit_personas(resp, cat, k=4, n_bootstrap=2, names={7: "x"})


def test_behaviour_per_cluster_matches_groupby(fitted4, sim4):
    resp, _, _ = sim4
    rng = np.random.default_rng(5)
    table = pd.DataFrame(
        {
            "customer_id": resp["customer_id"],
            "revenue": rng.gamma(2, 500, len(resp)),
            "channel": rng.choice(["web", "store"], len(resp)),
        }
    )
    out = cluster_behaviour(fitted4.labels, table)
    t = table.set_index("customer_id").loc[fitted4.labels.index]
    expected = t["revenue"].groupby(fitted4.labels.to_numpy()).mean()
    np.testing.assert_allclose(
        out.loc[list(range(fitted4.k)), "revenue (mean)"].astype(float), expected
    )
    assert out.loc["all", "channel: web"] == pytest.approx((t["channel"] == "web").mean())


_SEABORN_SET_BAD = (
    "ignore:The set_bad function:PendingDeprecationWarning"  # seaborn vs matplotlib 3.10
)


@pytest.mark.filterwarnings(_SEABORN_SET_BAD)
def test_figures_return_axes(fitted4):
    ax = plots.k_selection_plot(fitted4.sweep)
    assert len(ax.lines) >= 4 and "number of personas" in ax.get_xlabel()
    # the legend sits beside the plot, so it hides none of the lines
    ax.figure.canvas.draw()
    legend_box = ax.get_legend().get_window_extent()
    assert legend_box.x0 >= ax.get_window_extent().x1
    ax2 = plots.profile_heatmap(fitted4.profiles)
    assert len(ax2.get_yticklabels()) == fitted4.k
    ax3 = plots.projection_plot(fitted4)
    assert len(ax3.texts) == fitted4.k
    plt.close("all")


def test_summary_is_readable(fitted4):
    text = fitted4.summary()
    assert (
        f"k: {fitted4.k}" in text
        and "Why this k" in text
        and "Cronbach" in text
        and "weak if < 0.7" in text
    )
    for name in fitted4.profiles["name"]:
        assert name in text


@pytest.mark.filterwarnings(_SEABORN_SET_BAD)
def test_explorer_is_driven(sim4):
    resp, cat, _ = sim4
    ex = widgets.explorer(resp.head(500), cat, k_range=(2, 5), n_bootstrap=2)
    assert ex.k.value == ex.result.k == 4  # starts at the rule's choice
    first_stab, first_table, first_png = ex.stability.value, ex.personas.value, ex.heatmap.value
    assert first_png[:8] == b"\x89PNG\r\n\x1a\n"
    assert "k=4" in first_stab and "<table" in ex.indices.value
    ex.k.value = 2  # the observer runs update()
    assert ex.result.k == 2 and ex.result.profiles.shape[0] == 2
    assert (
        ex.stability.value != first_stab
        and ex.personas.value != first_table
        and ex.heatmap.value != first_png
    )
    assert "the rule would choose k=4" in ex.stability.value
    ex.algorithm.value = "gmm"  # a new sweep, k back to the rule's choice
    assert ex.result.algorithm == "gmm" and "BIC" in ex.indices.value
    ex.features.value = "items"
    assert ex.result.model.meta["features"] == "items"
    plt.close("all")


def test_headline_names_every_persona_and_the_reason(fitted4):
    text = pages.headline(fitted4)
    assert f"fall into {fitted4.k} personas" in text
    for name in fitted4.profiles["name"]:
        assert name in text
    assert fitted4.k_reason.startswith(f"{fitted4.k} personas: ")
    reason = fitted4.k_reason.removeprefix(f"{fitted4.k} personas: ")
    assert f"Why {fitted4.k}: {reason}" in text  # said once, not "Why 4: 4 personas: ..."
