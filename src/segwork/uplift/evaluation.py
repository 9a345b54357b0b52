"""Held-out evaluation of uplift rankings: each learner against random targeting and against
"target the segments that won".

:func:`evaluate` splits the customers into training and held-out parts (stratified by
treatment x outcome, seeded), fits each learner on the training part and scores the held-out part.
Each ranking is judged on the held-out customers by its Qini curve:

* by the normalised Qini coefficient (:func:`~segwork.uplift.metrics.qini_auc_score`: random
  targeting 0, a perfect ranking of the realised outcomes 1; for amounts the perfect ranking puts
  the treated customers who spent most first and the control customers who spent most last);
* with a Poisson-bootstrap percentile interval over held-out customers (the models held fixed),
  so a ranking *beats random with evidence* when its interval lies above 0, and a paired
  interval of its difference to the segments policy (same bootstrap replicates);
* random targeting gets the band of the same score over ``n_random`` random rankings of the same
  customers (its mean is 0 by construction).

The policy "target the segments that won" scores each held-out customer by the observed uplift of
their segment in the training part (treated minus control mean; segments with fewer than
``min_segment_rows`` in an arm get the overall uplift), one policy per segment column.

The chosen model is the learner with the best held-out score; when no learner's interval lies above
0 the result says so in plain words: the ranking cannot be trusted on this data.
"""

from __future__ import annotations

from collections.abc import Mapping
from dataclasses import dataclass, field
from typing import Any

import numpy as np
import pandas as pd
from sklearn.base import clone

from segwork.summary import Summary
from segwork.uplift import metrics as m
from segwork.uplift.errors import UpliftError
from segwork.uplift.learners import (
    ClassTransformationUplift,
    TwoModelUplift,
    XLearner,
    is_binary,
)

__all__ = [
    "LEARNER_NAMES",
    "RANDOM",
    "UpliftEvaluation",
    "default_learners",
    "evaluate",
    "held_out_split",
    "segment_policy_scores",
]

RANDOM = "random targeting"
LEARNER_NAMES = {
    "two_model": "two-model learner",
    "class_transformation": "class-transformation learner",
    "x_learner": "X-learner",
}


def default_learners(binary: bool, random_state: int = 0) -> dict[str, Any]:
    """The learners compared by default: two-model, class transformation (0/1 only), X-learner."""
    out: dict[str, Any] = {"two_model": TwoModelUplift(random_state=random_state)}
    if binary:
        out["class_transformation"] = ClassTransformationUplift(random_state=random_state)
    out["x_learner"] = XLearner(random_state=random_state)
    return out


def policy_column(ranking: str) -> str:
    """The segment column of a "segments that won" ranking's name."""
    return ranking.removeprefix("segments that won (").removesuffix(")")


def held_out_split(y, treatment, *, test_size: float = 0.3, seed: int = 0) -> np.ndarray:
    """Boolean mask of the held-out rows: ``test_size`` of each treatment x outcome stratum
    (outcome > 0 for amounts), drawn with ``seed``."""
    if not 0 < test_size < 1:
        raise UpliftError(f"test_size must be between 0 and 1, got {test_size}")
    y, t = np.asarray(y, dtype=float), np.asarray(treatment).astype(int)
    stratum = 2 * t + (y > 0)
    rng = np.random.default_rng(seed)
    held = np.zeros(len(y), dtype=bool)
    for s in np.unique(stratum):
        idx = np.flatnonzero(stratum == s)
        take = int(round(len(idx) * test_size))
        held[rng.choice(idx, take, replace=False)] = True
    return held


def segment_policy_scores(
    segments_train: pd.Series,
    y_train,
    t_train,
    segments_score: pd.Series,
    *,
    min_segment_rows: int = 30,
) -> tuple[np.ndarray, pd.DataFrame]:
    """ "Target the segments that won": each row scored by its segment's observed uplift in the
    training rows. Returns the scores and the per-segment table (segment, uplift, n_t, n_c)."""
    y, t = np.asarray(y_train, dtype=float), np.asarray(t_train).astype(int)
    seg = segments_train.astype("string").fillna("(unknown)").to_numpy(dtype=object)
    df = pd.DataFrame({"segment": seg, "y": y, "t": t})
    g = df.groupby(["segment", "t"])["y"].agg(["mean", "size"]).unstack("t")
    overall = y[t == 1].mean() - y[t == 0].mean()
    table = pd.DataFrame(
        {
            "n_treated": g[("size", 1)].fillna(0).astype(int),
            "n_control": g[("size", 0)].fillna(0).astype(int),
            "uplift": g[("mean", 1)] - g[("mean", 0)],
        }
    )
    small = (table["n_treated"] < min_segment_rows) | (table["n_control"] < min_segment_rows)
    table["uplift_used"] = table["uplift"].where(~small, overall)
    lookup = table["uplift_used"].to_dict()
    keys = segments_score.astype("string").fillna("(unknown)").to_numpy(dtype=object)
    scores = np.array([lookup.get(k, overall) for k in keys], dtype=float)
    return scores, table.rename_axis("segment").reset_index()


@dataclass
class UpliftEvaluation:
    """Held-out comparison of the rankings of one outcome (see the module docstring)."""

    outcome: str
    binary: bool
    scores: pd.DataFrame  # ranking -> held-out score, interval, difference to the segments policy
    curves: dict[str, tuple[np.ndarray, np.ndarray]]  # held-out Qini curves
    random_band: tuple[float, float]
    chosen: str | None  # the learner chosen (None: none beats random)
    reason: str
    effect_kept: m.EffectKept | None  # of the chosen (or best) learner, on held-out customers
    held_out: pd.DataFrame  # y, treatment and every ranking's score of the held-out rows
    n_train: int
    n_held_out: int
    settings: dict[str, Any] = field(default_factory=dict)

    @property
    def best(self) -> str:
        """The learner with the best held-out score, whether or not it beats random."""
        learners = self.scores[self.scores["kind"] == "model"]
        return str(learners.sort_values("score", ascending=False)["ranking"].iat[0])

    @property
    def trusted(self) -> bool:
        return self.chosen is not None

    def summary(self) -> Summary:
        """The comparison as text (``str``) and HTML, statsmodels' way."""
        tab = self.scores[["label", "score", "ci_low", "ci_high", "beats_random"]].copy()
        tab["beats_random"] = np.where(
            self.scores["kind"] == "random", "", tab["beats_random"].map({True: "yes", False: "no"})
        )
        s = Summary(
            f"Uplift evaluation: {self.outcome}",
            facts={
                "trained on": f"{self.n_train:,}",
                "held out": f"{self.n_held_out:,}",
                "score": self.settings["score_name"],
                "intervals": f"{self.settings['level']:.0%}, {self.settings['n_boot']} Poisson-bootstrap replicates",
            },
        )
        s.add_table("Held-out score of each ranking", tab.round(4).set_index("label"))
        s.notes.append(self.reason)
        if self.effect_kept is not None:
            e = self.effect_kept
            s.notes.append(
                f"The top {e.k:.0%} of the {self.best_name()} ranking keeps {e.share:.1%} "
                f"[{e.ci_low:.1%}, {e.ci_high:.1%}] of the effect of treating everyone."
            )
        return s

    def best_name(self) -> str:
        name = self.chosen or self.best
        return LEARNER_NAMES.get(name, name)


def evaluate(
    X: pd.DataFrame,
    y,
    treatment,
    *,
    learners: Mapping[str, Any] | None = None,
    segments: pd.DataFrame | None = None,
    outcome: str = "outcome",
    held_out: np.ndarray | None = None,
    test_size: float = 0.3,
    seed: int = 0,
    n_boot: int = 200,
    n_random: int = 100,
    level: float = 0.95,
    top_share: float = 0.2,
    min_segment_rows: int = 30,
    max_train: int | None = None,
    max_held_out: int | None = None,
) -> UpliftEvaluation:
    """Fit each learner on the training rows and compare the rankings on the held-out rows.

    ``segments``: columns of the same rows to build "segments that won" policies from;
    ``held_out``: a mask of held-out rows (default :func:`held_out_split`); ``max_train``: fit on a
    random subsample of at most that many training rows, ``max_held_out``: judge the rankings on a
    random subsample of at most that many held-out rows (both said in ``settings``)."""
    y = np.asarray(y, dtype=float)
    t = np.asarray(treatment).astype(int)
    binary = is_binary(y)
    if held_out is None:
        held_out = held_out_split(y, t, test_size=test_size, seed=seed)
    train = np.flatnonzero(~held_out)
    subsampled = max_train is not None and len(train) > max_train
    if subsampled:
        train = np.sort(np.random.default_rng(seed + 1).choice(train, max_train, replace=False))
    test = np.flatnonzero(held_out)
    held_subsampled = max_held_out is not None and len(test) > max_held_out
    if held_subsampled:
        test = np.sort(np.random.default_rng(seed + 4).choice(test, max_held_out, replace=False))
    yt, tt = y[test], t[test]
    for arm, name in ((1, "treated"), (0, "control")):
        if (tt == arm).sum() < 2 or (t[train] == arm).sum() < 2:
            raise UpliftError(f"too few {name} customers to train and evaluate uplift models")
    if learners is None:
        learners = default_learners(binary, seed)
    rankings: dict[str, np.ndarray] = {}
    kinds: dict[str, str] = {}
    for name, learner in learners.items():
        model = clone(learner).fit(X.iloc[train], y[train], t[train])
        rankings[name] = model.predict(X.iloc[test])
        kinds[name] = "model"
    policy_tables = {}
    for col in [] if segments is None else list(segments.columns):
        key = f"segments that won ({col})"
        rankings[key], policy_tables[col] = segment_policy_scores(
            segments[col].iloc[train],
            y[train],
            t[train],
            segments[col].iloc[test],
            min_segment_rows=min_segment_rows,
        )
        kinds[key] = "segments"

    q = [(1 - level) / 2, (1 + level) / 2]
    best_area = m.perfect_qini_area(yt, tt)  # the normaliser: the same for every ranking
    point = {k: float(m.qini_area(yt, s, tt) / best_area) for k, s in rankings.items()}
    boot: dict[str, list[np.ndarray]] = {k: [] for k in rankings}
    rng = np.random.default_rng(seed + 2)
    chunk = max(1, min(50, int(2e7 // max(len(test), 1))))
    for start in range(0, n_boot, chunk):
        w = rng.poisson(1.0, size=(min(chunk, n_boot - start), len(test))).astype(float)
        best_w = m.perfect_qini_area(yt, tt, weights=w)
        for k, s in rankings.items():
            boot[k].append(np.atleast_1d(m.qini_area(yt, s, tt, weights=w) / best_w))
    boots = {k: np.concatenate(v) if v else np.array([np.nan]) for k, v in boot.items()}
    rng_r = np.random.default_rng(seed + 3)
    random_scores = np.array(
        [m.qini_area(yt, rng_r.random(len(test)), tt) / best_area for _ in range(n_random)]
    )
    band = tuple(np.quantile(random_scores, q)) if n_random else (np.nan, np.nan)

    seg_keys = [k for k in rankings if kinds[k] == "segments"]
    best_seg = max(seg_keys, key=lambda k: point[k]) if seg_keys else None
    rows = [
        dict(
            ranking=RANDOM,
            kind="random",
            score=float(np.mean(random_scores)) if n_random else 0.0,
            ci_low=float(band[0]),
            ci_high=float(band[1]),
            beats_random=False,
            diff_vs_segments=np.nan,
            diff_ci_low=np.nan,
            diff_ci_high=np.nan,
            uplift_at_k=np.nan,
        )
    ]
    for k in rankings:
        lo, hi = np.quantile(boots[k], q)
        d = d_lo = d_hi = np.nan
        if best_seg is not None and k != best_seg:
            diff = boots[k] - boots[best_seg]
            d = point[k] - point[best_seg]
            d_lo, d_hi = np.quantile(diff, q)
        try:
            at_k = m.uplift_at_k(yt, rankings[k], tt, top_share)
        except m.UpliftError:
            at_k = np.nan
        rows.append(
            dict(
                ranking=k,
                kind=kinds[k],
                score=point[k],
                ci_low=float(lo),
                ci_high=float(hi),
                beats_random=bool(lo > 0),
                diff_vs_segments=float(d),
                diff_ci_low=float(d_lo),
                diff_ci_high=float(d_hi),
                uplift_at_k=float(at_k),
            )
        )
    table = pd.DataFrame(rows)
    table["label"] = [LEARNER_NAMES.get(k, k) for k in table["ranking"]]
    models = table[table["kind"] == "model"].sort_values("score", ascending=False)
    best = str(models["ranking"].iat[0])
    chosen = best if bool(models["beats_random"].iat[0]) else None
    reason = _reason(table, best, chosen, best_seg, level)
    curves = {k: m.qini_curve(yt, s, tt) for k, s in rankings.items()}
    kept = None
    if len(test) >= 10:
        kept = m.effect_kept(
            yt, rankings[best], tt, top_share, level=level, n_boot=n_boot, seed=seed
        )
    kept_segments = None
    if best_seg is not None and len(test) >= 10:
        kept_segments = m.effect_kept(
            yt, rankings[best_seg], tt, top_share, level=level, n_boot=n_boot, seed=seed
        )
    frame = pd.DataFrame({"y": yt, "treatment": tt, **rankings}, index=X.index[test])
    return UpliftEvaluation(
        outcome=outcome,
        binary=binary,
        scores=table,
        curves=curves,
        random_band=(float(band[0]), float(band[1])),
        chosen=chosen,
        reason=reason,
        effect_kept=kept,
        held_out=frame,
        n_train=len(train),
        n_held_out=len(test),
        settings=dict(
            level=level,
            n_boot=n_boot,
            n_random=n_random,
            test_size=test_size,
            seed=seed,
            top_share=top_share,
            subsampled=subsampled,
            held_out_subsampled=held_subsampled,
            max_train=max_train,
            policy_tables=policy_tables,
            best_segments=best_seg,
            best_segments_column=policy_column(best_seg) if best_seg else None,
            effect_kept_segments=kept_segments,
            score_name="Qini coefficient (0 = random targeting, 1 = a perfect ranking)",
        ),
    )


def _reason(table: pd.DataFrame, best: str, chosen: str | None, best_seg, level: float) -> str:
    """Why the chosen learner is used, or why none is, in plain words."""
    row = table.set_index("ranking").loc[best]
    name = LEARNER_NAMES.get(best, best)
    if chosen is None:
        return (
            f"No model ranks customers better than random targeting with evidence: the best, the "
            f"{name}, scores {row['score']:+.3f} on held-out customers, but its {level:.0%} interval "
            f"[{row['ci_low']:+.3f}, {row['ci_high']:+.3f}] includes 0 (random). The ranking "
            "cannot be trusted on this data."
        )
    text = (
        f"The {name} is used: it has the best held-out score, {row['score']:+.3f} "
        f"[{row['ci_low']:+.3f}, {row['ci_high']:+.3f}], and its interval lies above 0 (random)."
    )
    if best_seg is not None:
        seg = table.set_index("ranking").loc[best_seg]
        if row["diff_ci_low"] > 0:
            text += (
                f" It also beats targeting the segments that won ({policy_column(best_seg)}: "
                f"{seg['score']:+.3f}) with evidence."
            )
        else:
            text += (
                f" It does not beat targeting the segments that won "
                f"({policy_column(best_seg)}: {seg['score']:+.3f}) with evidence (the "
                "difference's interval includes 0)."
            )
    return text
