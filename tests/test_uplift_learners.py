"""Uplift learners and their held-out evaluation on data with a known truth: the effect depends on
one feature (the learners find it; a 'segments that won' policy blind to it does not), and on data
with no effect at all (the interval includes random)."""

from __future__ import annotations

import numpy as np
import pandas as pd
import pytest
from sklearn.linear_model import LinearRegression, LogisticRegression

from segwork.uplift import (
    ClassTransformationUplift,
    TwoModelUplift,
    UpliftError,
    XLearner,
    evaluate,
    feature_spec,
    held_out_split,
    qini_auc_score,
)


def _campaign(n: int, *, effect: float, seed: int, share: float = 0.5) -> pd.DataFrame:
    """Conversion 0.10 at baseline (+0.05 with more history); the campaign adds ``effect`` only
    to customers with recency < 0.3, and takes 0.03 from those with recency > 0.8."""
    rng = np.random.default_rng(seed)
    recency = rng.random(n)
    history = rng.gamma(2.0, 50.0, n)
    region = rng.choice(["north", "south", "east", "west"], n)
    t = (rng.random(n) < share).astype(int)
    true = np.where(recency < 0.3, effect, np.where(recency > 0.8, -0.03 * (effect > 0), 0.0))
    p = 0.10 + 0.05 * (history > 100) + t * true
    y = (rng.random(n) < p).astype(int)
    spend = y * rng.gamma(4.0, 25.0, n) * (1 + 0.5 * t * (recency < 0.3))
    return pd.DataFrame(
        {
            "customer_id": [f"C{i:06d}" for i in range(n)],
            "recency": recency,
            "history": history,
            "region": region,
            "treatment": t,
            "converted": y,
            "revenue": spend,
            "true_uplift": true,
        }
    )


def _X(df: pd.DataFrame) -> pd.DataFrame:
    spec = feature_spec(
        df, outcomes=["converted", "revenue", "treatment", "true_uplift"], exclude=()
    )
    return spec.transform(df)


@pytest.mark.parametrize("Learner", [TwoModelUplift, ClassTransformationUplift, XLearner])
@pytest.mark.parametrize("share", [0.5, 0.8])
def test_learners_recover_who_responds(Learner, share):
    df = _campaign(30_000, effect=0.15, seed=1, share=share)
    X = _X(df)
    held = held_out_split(df["converted"], df["treatment"], test_size=0.3, seed=0)
    model = Learner().fit(X[~held], df["converted"][~held], df["treatment"][~held])
    pred = model.predict(X[held])
    truth = df["true_uplift"][held].to_numpy()
    # the predicted uplift is higher where the true uplift is: mean prediction per true group
    by_truth = pd.Series(pred).groupby(truth).mean()
    assert by_truth.loc[0.15] > by_truth.loc[0.0] + 0.07
    # the Qini coefficient comes close to that of the true uplift (the best any ranking can do
    # in expectation; the 'perfect' curve of the normalisation knows the outcomes, so it is ~0.15)
    yh, th = df["converted"][held], df["treatment"][held]
    oracle = qini_auc_score(yh, truth + 1e-9 * np.arange(len(truth)), th)
    assert qini_auc_score(yh, pred, th) > 0.5 * oracle > 0.05
    assert model.treatment_share_ == pytest.approx(share, abs=0.02)


def test_learners_take_other_sklearn_estimators_and_one_hot_features():
    df = _campaign(20_000, effect=0.15, seed=2)
    spec = feature_spec(
        df, outcomes=["converted", "revenue", "treatment", "true_uplift"], one_hot=True
    )
    X = spec.transform(df)
    assert "region=north" in X.columns and all(d == np.float64 for d in X.dtypes)
    X = X.fillna(0)
    y, t = df["converted"], df["treatment"]
    for model in (
        TwoModelUplift(LogisticRegression(max_iter=500)),
        ClassTransformationUplift(LogisticRegression(max_iter=500)),
        XLearner(LogisticRegression(max_iter=500), effect_estimator=LinearRegression()),
    ):
        pred = model.fit(X, y, t).predict(X)
        # a linear model still orders recent customers (true effect) above the others
        assert np.corrcoef(pred, -df["recency"])[0, 1] > 0.3, type(model).__name__


def test_class_transformation_weighting_removes_treatment_share_bias():
    # no effect anywhere, treatment share 0.8: unweighted 2 P(z=1) - 1 would be biased away from 0
    df = _campaign(40_000, effect=0.0, seed=3, share=0.8)
    X = _X(df)
    model = ClassTransformationUplift().fit(X, df["converted"], df["treatment"])
    assert model.weighted_
    assert abs(model.predict(X).mean()) < 0.01
    # the unweighted transformation on the same data is far off (why the weights are needed)
    z = (df["converted"] == df["treatment"]).mean()
    assert abs(2 * z - 1) > 0.3


def test_x_learner_and_two_model_work_for_revenue():
    df = _campaign(30_000, effect=0.15, seed=4)
    X = _X(df)
    for model in (TwoModelUplift(), XLearner()):
        pred = model.fit(X, df["revenue"], df["treatment"]).predict(X)
        assert not model.binary_outcome_
        recent = df["recency"] < 0.3
        assert pred[recent].mean() > pred[~recent].mean() + 5


def test_class_transformation_refuses_amounts():
    df = _campaign(2_000, effect=0.1, seed=5)
    with pytest.raises(UpliftError, match="0/1 outcome"):
        ClassTransformationUplift().fit(_X(df), df["revenue"], df["treatment"])


def test_unfitted_and_bad_treatment():
    df = _campaign(500, effect=0.1, seed=6)
    with pytest.raises(UpliftError, match="not fitted"):
        TwoModelUplift().predict(_X(df))
    with pytest.raises(UpliftError, match="0 \\(control\\) or 1"):
        TwoModelUplift().fit(_X(df), df["converted"], df["treatment"] * 2)


def test_features_drop_ids_dates_outcomes_and_name_why():
    df = _campaign(1_000, effect=0.1, seed=7).assign(
        assigned_at=pd.Timestamp("2024-01-01"),
        email=[f"a{i}@x.cz" for i in range(1_000)],
        note=[f"free text {i}" for i in range(1_000)],
        constant=1,
        variant="treatment",
    )
    spec = feature_spec(df, outcomes=["converted", "revenue"], exclude=["true_uplift"])
    assert set(spec.columns) == {"recency", "history", "region", "treatment"}
    assert spec.dropped["customer_id"] == "an identifier"
    assert spec.dropped["email"] == "an identifier"
    assert spec.dropped["converted"] == "an outcome"
    assert spec.dropped["variant"] == "the variant"
    assert spec.dropped["note"] == "text nearly unique per customer"
    assert spec.dropped["constant"] == "a single value"
    assert spec.dropped["true_uplift"] == "excluded by the settings"
    assert "region" in spec.describe() and "email (an identifier)" in spec.describe()
    # an unseen category at scoring time is 'other', never an error
    other = df.head(3).assign(region=["north", "mars", None])
    X = spec.transform(other)
    levels = [*spec.categorical["region"], "(other)"]  # X holds each level's position
    assert levels[X["region"].iat[0]] == "north" and levels[X["region"].iat[1]] == "(other)"
    assert pd.isna(X["region"].iat[2])


def test_evaluation_finds_the_effect_and_beats_segments_blind_to_it():
    df = _campaign(40_000, effect=0.15, seed=8)
    X = _X(df.drop(columns="treatment"))
    ev = evaluate(
        X,
        df["converted"],
        df["treatment"],
        segments=df[["region"]],
        outcome="converted",
        n_boot=100,
        n_random=50,
    )
    scores = ev.scores.set_index("ranking")
    assert ev.chosen in {"two_model", "class_transformation", "x_learner"}
    best = scores.loc[ev.chosen]
    held = ev.held_out
    oracle = qini_auc_score(held["y"], df.loc[held.index, "true_uplift"], held["treatment"])
    assert best["beats_random"] and best["score"] > 0.7 * oracle
    seg = scores.loc["segments that won (region)"]
    assert abs(seg["score"]) < 0.25 * oracle  # region says nothing about the effect
    assert best["diff_ci_low"] > 0  # the learner beats that policy with evidence
    assert scores.loc["random targeting", "ci_low"] < 0 < scores.loc["random targeting", "ci_high"]
    # top 20% by the chosen model holds most of the customers with an effect (30% of all)
    assert ev.effect_kept.share > 0.5
    assert "beats" in ev.reason or "is used" in ev.reason
    assert "Held-out score" in str(ev.summary())


def test_evaluation_on_no_effect_says_the_ranking_cannot_be_trusted():
    df = _campaign(20_000, effect=0.0, seed=9)
    X = _X(df.drop(columns="treatment"))
    ev = evaluate(X, df["converted"], df["treatment"], n_boot=100, n_random=50)
    models = ev.scores[ev.scores["kind"] == "model"]
    assert (models["ci_low"] < 0).all()  # every interval includes random (0)
    assert ev.chosen is None and not ev.trusted
    assert "cannot be trusted" in ev.reason


def test_evaluation_subsamples_training_rows_when_asked():
    df = _campaign(10_000, effect=0.15, seed=10)
    X = _X(df.drop(columns="treatment"))
    ev = evaluate(X, df["converted"], df["treatment"], max_train=2_000, n_boot=20, n_random=10)
    assert ev.n_train == 2_000 and ev.settings["subsampled"]
    assert ev.n_held_out == pytest.approx(3_000, abs=5)
    assert not ev.settings["held_out_subsampled"]
    ev = evaluate(X, df["converted"], df["treatment"], max_held_out=1_000, n_boot=20, n_random=10)
    assert ev.n_held_out == len(ev.held_out) == 1_000 and ev.settings["held_out_subsampled"]
    # the score is the normalised Qini coefficient of those held-out rows
    h = ev.held_out
    got = ev.scores.set_index("ranking").loc["two_model", "score"]
    assert got == pytest.approx(qini_auc_score(h["y"], h["two_model"], h["treatment"]), rel=1e-12)


def test_held_out_split_is_stratified_and_seeded():
    df = _campaign(10_000, effect=0.1, seed=11)
    a = held_out_split(df["converted"], df["treatment"], test_size=0.25, seed=3)
    b = held_out_split(df["converted"], df["treatment"], test_size=0.25, seed=3)
    assert (a == b).all()
    for (_, _), g in df.assign(h=a).groupby(["treatment", "converted"]):
        assert g["h"].mean() == pytest.approx(0.25, abs=0.002)
