"""Survey scoring: Likert items described by an item catalogue -> clean construct scores.

The rules, stated once (they are the same when a model is fitted and when new customers are
assigned, see :class:`SurveySpec`):

- **Scale.** Answers are integers on ``scale`` (default 1..5). A catalogue may carry
  ``scale_min``/``scale_max`` columns to override the scale per item. Anything else (3.5, 7,
  "agree") is an error naming the item, example rows and the allowed range.
- **Reverse coding.** A reverse-coded item is flipped as ``scale_min + scale_max - x``, so a
  high score always means "more of the construct".
- **Too few answers.** A respondent who answered less than ``min_answered`` (share of the
  catalogue's items, default 0.7) is excluded from clustering and counted.
- **Imputation** (for everyone else). A missing item takes the mean of the respondent's own
  answered items of the same construct (after reverse coding); if they answered none of that
  construct, it takes the item's median over the fitted respondents (after reverse coding).
  Imputed values are not rounded.
- **Construct score.** The mean of the construct's (reverse-coded, imputed) items.
- **Reliability.** Cronbach's alpha per construct on complete cases of that construct's items
  (listwise, before imputation, so imputation cannot inflate it), from the variance formula
  ``alpha = k/(k-1) * (1 - sum(var(item)) / var(sum of items))`` with sample variances
  (ddof=1). A construct with alpha below ``alpha_threshold`` (0.7, Nunnally's usual cut-off)
  is flagged weak; a one-item construct has no alpha (NaN).
"""

from __future__ import annotations

from dataclasses import dataclass, field
from typing import Any

import numpy as np
import pandas as pd

DEFAULT_SCALE = (1, 5)
ALPHA_THRESHOLD = 0.7
_MAX_EXAMPLES = 5
CONSENT_COLUMN = "profiling_consent"
_TRUE = {"true", "t", "yes", "y", "1", "ano"}


class SurveyError(ValueError):
    """Survey answers or an item catalogue that cannot be used; the message says where and the fix."""


def _as_bool(values: pd.Series) -> pd.Series:
    """Booleans from bool / 0-1 / yes-no text; anything missing or unknown is False."""
    if pd.api.types.is_bool_dtype(values.dtype):
        return values.fillna(False).astype(bool)
    if pd.api.types.is_numeric_dtype(values.dtype):
        return values.fillna(0).astype(float) == 1.0
    return values.astype("string").str.strip().str.lower().isin(_TRUE).fillna(False).astype(bool)


@dataclass(frozen=True)
class SurveySpec:
    """Everything needed to score answers the same way at fit and at assignment time.

    Built from the catalogue by :meth:`from_catalogue`; ``item_medians`` (per item, reverse-coded
    scale) are learned from the fitted respondents by :meth:`with_medians`. JSON-able by
    :meth:`to_dict` so a saved model can carry it.
    """

    items: tuple[str, ...]
    constructs: dict[str, tuple[str, ...]]  # construct -> its items, in catalogue order
    reverse: tuple[str, ...]
    scale: dict[str, tuple[int, int]]  # item -> (min, max)
    text: dict[str, str]
    min_answered: float = 0.7
    item_medians: dict[str, float] = field(default_factory=dict)

    @classmethod
    def from_catalogue(
        cls,
        catalogue: pd.DataFrame,
        *,
        scale: tuple[int, int] = DEFAULT_SCALE,
        min_answered: float = 0.7,
    ) -> SurveySpec:
        """Read the item catalogue (item, construct, text, reverse_coded[, scale_min, scale_max])."""
        need = ["item", "construct", "text", "reverse_coded"]
        missing = [c for c in need if c not in catalogue.columns]
        if missing:
            raise SurveyError(
                f"table 'survey_items': missing column(s) {missing}; it has "
                f"{list(catalogue.columns)}.\nFix: the catalogue needs one row per item "
                "with columns item, construct, text, reverse_coded."
            )
        if not 0 < min_answered <= 1:
            raise SurveyError(f"min_answered must be a share in (0, 1], got {min_answered!r}")
        cat = catalogue.reset_index(drop=True)
        items = [str(i) for i in cat["item"]]
        dup = sorted({i for i in items if items.count(i) > 1})
        if dup:
            raise SurveyError(
                f"table 'survey_items', column 'item': duplicated item(s) {dup}.\n"
                "Fix: list every item once."
            )
        if cat["construct"].isna().any():
            bad = [items[i] for i in np.flatnonzero(cat["construct"].isna().to_numpy())]
            raise SurveyError(
                f"table 'survey_items', column 'construct': no construct for item(s) {bad[:_MAX_EXAMPLES]}."
            )
        lo, hi = int(scale[0]), int(scale[1])
        if lo >= hi:
            raise SurveyError(f"scale must be (min, max) with min < max, got {scale!r}")
        item_scale = {}
        for n, item in enumerate(items):
            smin = cat.at[n, "scale_min"] if "scale_min" in cat.columns else None
            smax = cat.at[n, "scale_max"] if "scale_max" in cat.columns else None
            item_scale[item] = (
                int(smin) if pd.notna(smin) else lo,
                int(smax) if pd.notna(smax) else hi,
            )
        constructs: dict[str, list[str]] = {}
        for item, con in zip(items, cat["construct"], strict=True):
            constructs.setdefault(str(con), []).append(item)
        reverse_flags = _as_bool(cat["reverse_coded"])
        return cls(
            items=tuple(items),
            constructs={c: tuple(v) for c, v in constructs.items()},
            reverse=tuple(i for i, r in zip(items, reverse_flags, strict=True) if r),
            scale=item_scale,
            text={i: str(t) for i, t in zip(items, cat["text"], strict=True)},
            min_answered=float(min_answered),
        )

    @property
    def construct_of(self) -> dict[str, str]:
        return {i: c for c, its in self.constructs.items() for i in its}

    def with_medians(self, recoded: pd.DataFrame) -> SurveySpec:
        """The same spec with item medians learned from recoded answers (the imputation fallback)."""
        med = {
            i: float(recoded[i].median())
            if recoded[i].notna().any()
            else float(np.mean(self.scale[i]))
            for i in self.items
        }
        return SurveySpec(
            self.items, self.constructs, self.reverse, self.scale, self.text, self.min_answered, med
        )

    def to_dict(self) -> dict[str, Any]:
        return {
            "items": list(self.items),
            "constructs": {c: list(v) for c, v in self.constructs.items()},
            "reverse": list(self.reverse),
            "scale": {i: list(s) for i, s in self.scale.items()},
            "text": dict(self.text),
            "min_answered": self.min_answered,
            "item_medians": dict(self.item_medians),
        }

    @classmethod
    def from_dict(cls, d: dict[str, Any]) -> SurveySpec:
        return cls(
            items=tuple(d["items"]),
            constructs={c: tuple(v) for c, v in d["constructs"].items()},
            reverse=tuple(d["reverse"]),
            scale={i: (int(s[0]), int(s[1])) for i, s in d["scale"].items()},
            text=dict(d["text"]),
            min_answered=float(d["min_answered"]),
            item_medians={k: float(v) for k, v in d["item_medians"].items()},
        )


def item_answers(
    responses: pd.DataFrame, spec: SurveySpec, *, table: str = "survey_responses"
) -> pd.DataFrame:
    """The catalogue's item columns as float (NaN = not answered), indexed by customer_id.

    Raises :class:`SurveyError` for a missing customer_id or item column, duplicated customers,
    and answers that are not integers on the item's scale (naming item, rows and allowed range).
    """
    if "customer_id" not in responses.columns:
        raise SurveyError(
            f"table '{table}': no column 'customer_id'; it has {list(responses.columns)[:12]}.\n"
            "Fix: map the respondent id column to customer_id."
        )
    missing = [i for i in spec.items if i not in responses.columns]
    if missing:
        raise SurveyError(
            f"table '{table}': missing item column(s) {missing} required by the item catalogue "
            f"({len(spec.items)} items).\nFix: provide every catalogue item as a column (empty "
            "cells are fine) or use the catalogue the model was fitted with."
        )
    ids = responses["customer_id"].astype("string")
    if ids.isna().any():
        rows = np.flatnonzero(ids.isna().to_numpy())[:_MAX_EXAMPLES].tolist()
        raise SurveyError(
            f"table '{table}', column 'customer_id': missing id in row(s) {rows} (0-based)."
        )
    dup = ids[ids.duplicated()].unique().tolist()
    if dup:
        raise SurveyError(
            f"table '{table}', column 'customer_id': {len(dup)} customer(s) answered more than "
            f"once, e.g. {dup[:_MAX_EXAMPLES]}.\nFix: keep one response per customer "
            "(e.g. the latest by answered_at)."
        )
    out = {}
    for item in spec.items:
        raw = responses[item]
        num = pd.to_numeric(raw, errors="coerce").astype("float64")
        lo, hi = spec.scale[item]
        not_number = raw.notna().to_numpy() & np.isnan(num.to_numpy())
        vals = num.to_numpy()
        with np.errstate(invalid="ignore"):
            off_scale = ~np.isnan(vals) & ((vals < lo) | (vals > hi) | (vals != np.round(vals)))
        bad = not_number | off_scale
        if bad.any():
            where = np.flatnonzero(bad)
            examples = ", ".join(
                f"row {r} (customer {ids.iloc[r]}): {_show(raw.iloc[r])}"
                for r in where[:_MAX_EXAMPLES]
            )
            raise SurveyError(
                f"table '{table}', column '{item}': {bad.sum()} answer(s) outside the allowed "
                f"integers {lo}..{hi}: {examples}.\nFix: recode these answers to {lo}..{hi} or "
                "leave them empty (missing)."
            )
        out[item] = vals
    return pd.DataFrame(out, index=pd.Index(ids.to_numpy(), name="customer_id"))


def _show(value: Any) -> str:
    """An offending answer as the user typed it: 7, 2.5 or 'agree'."""
    if isinstance(value, str):
        return repr(value)
    try:
        return f"{float(value):g}"
    except (TypeError, ValueError):
        return repr(value)


def reverse_code(answers: pd.DataFrame, spec: SurveySpec) -> pd.DataFrame:
    """Flip reverse-coded items: ``scale_min + scale_max - x`` (missing stays missing)."""
    out = answers.copy()
    for item in spec.reverse:
        lo, hi = spec.scale[item]
        out[item] = lo + hi - answers[item]
    return out


def answered_share(answers: pd.DataFrame, spec: SurveySpec) -> pd.Series:
    """Share of the catalogue's items each respondent answered."""
    return answers[list(spec.items)].notna().mean(axis=1).rename("answered_share")


def impute(recoded: pd.DataFrame, spec: SurveySpec) -> pd.DataFrame:
    """Fill missing recoded answers: own mean of the construct's answered items, else item median."""
    if not spec.item_medians:
        raise SurveyError(
            "the survey spec has no item medians yet; call spec.with_medians(recoded) first"
        )
    out = recoded.copy()
    for items in spec.constructs.values():
        block = recoded[list(items)]
        own_mean = block.mean(axis=1, skipna=True)  # NaN when the whole construct is missing
        for item in items:
            fill = own_mean.fillna(spec.item_medians[item])
            out[item] = block[item].fillna(fill)
    return out


def construct_scores(recoded: pd.DataFrame, spec: SurveySpec) -> pd.DataFrame:
    """Mean of each construct's items (pass reverse-coded, imputed answers)."""
    return pd.DataFrame(
        {c: recoded[list(items)].mean(axis=1) for c, items in spec.constructs.items()},
        index=recoded.index,
    )


def cronbach_alpha(items: pd.DataFrame) -> float:
    """Cronbach's alpha of the columns of ``items`` on complete rows (listwise deletion).

    ``alpha = k/(k-1) * (1 - sum_i var(x_i) / var(sum_i x_i))``, sample variances (ddof=1).
    NaN for fewer than two items or fewer than two complete rows, or a constant total.
    """
    x = items.dropna().to_numpy(dtype=float)
    k = x.shape[1]
    if k < 2 or x.shape[0] < 2:
        return float("nan")
    total_var = x.sum(axis=1).var(ddof=1)
    if total_var == 0:
        return float("nan")
    return float(k / (k - 1) * (1 - x.var(axis=0, ddof=1).sum() / total_var))


def reliability(
    recoded: pd.DataFrame, spec: SurveySpec, *, threshold: float = ALPHA_THRESHOLD
) -> pd.DataFrame:
    """Cronbach's alpha per construct (complete cases, reverse-coded items), weak if < threshold."""
    rows = []
    for con, items in spec.constructs.items():
        block = recoded[list(items)]
        alpha = cronbach_alpha(block)
        rows.append(
            {
                "construct": con,
                "n_items": len(items),
                "reverse_items": ", ".join(i for i in items if i in spec.reverse),
                "n_complete": int(block.notna().all(axis=1).sum()),
                "alpha": alpha,
                "weak": bool(np.isnan(alpha) or alpha < threshold),
            }
        )
    out = pd.DataFrame(rows).set_index("construct")
    out.attrs["threshold"] = threshold
    return out


@dataclass
class ScoredSurvey:
    """Respondents kept for clustering and what happened to the others."""

    answers: pd.DataFrame  # recoded + imputed item answers of kept respondents (customer_id index)
    raw: (
        pd.DataFrame
    )  # recoded answers before imputation, kept respondents (for alpha, item z-scores)
    constructs: pd.DataFrame  # construct scores of kept respondents
    exclusions: pd.DataFrame  # customer_id, reason for every respondent left out
    spec: SurveySpec
    n_imputed: int = 0


REASON_CONSENT = "no profiling consent"


def reason_too_few(spec: SurveySpec) -> str:
    return f"too few answers (< {spec.min_answered:.0%} of items)"


def consent_flags(
    ids: pd.Index, consent: pd.Series | pd.DataFrame | None, responses: pd.DataFrame
) -> pd.Series | None:
    """Profiling consent per customer id (True/False), or None when no consent information exists.

    ``consent`` is a Series indexed by customer_id or a table with customer_id and profiling_consent;
    if None, a ``profiling_consent`` column of ``responses`` is used. A customer absent from the
    consent data, or with missing consent, counts as not consenting (profiling needs a yes).
    """
    if consent is None:
        if CONSENT_COLUMN not in responses.columns:
            return None
        flags = pd.Series(
            _as_bool(responses[CONSENT_COLUMN]).to_numpy(),
            index=responses["customer_id"].astype("string").to_numpy(),
        )
    elif isinstance(consent, pd.DataFrame):
        for col in ("customer_id", CONSENT_COLUMN):
            if col not in consent.columns:
                raise SurveyError(
                    f"consent table: no column '{col}'; it has {list(consent.columns)[:12]}.\n"
                    "Fix: pass a table with customer_id and profiling_consent, or a Series."
                )
        flags = pd.Series(
            _as_bool(consent[CONSENT_COLUMN]).to_numpy(),
            index=consent["customer_id"].astype("string").to_numpy(),
        )
    else:
        flags = pd.Series(_as_bool(consent).to_numpy(), index=consent.index.astype("string"))
    flags = flags[~flags.index.duplicated(keep="last")]
    return flags.reindex(ids).fillna(False).astype(bool)


def score_survey(
    responses: pd.DataFrame,
    spec: SurveySpec,
    *,
    consent: pd.Series | pd.DataFrame | None = None,
    learn_medians: bool = True,
    table: str = "survey_responses",
) -> ScoredSurvey:
    """Validate, exclude (consent, too few answers), reverse-code, impute and score the answers.

    With ``learn_medians`` the fallback item medians are learned from the kept respondents (fit
    time); otherwise ``spec.item_medians`` (from the fitted model) are used (assignment time).
    """
    answers = item_answers(responses, spec, table=table)
    reasons = pd.Series(pd.NA, index=answers.index, dtype="string")
    flags = consent_flags(answers.index, consent, responses)
    if flags is not None:
        reasons[~flags.to_numpy()] = REASON_CONSENT
    too_few = (answered_share(answers, spec) < spec.min_answered - 1e-12).to_numpy()
    reasons[too_few & reasons.isna().to_numpy()] = reason_too_few(spec)
    keep = reasons.isna().to_numpy()
    recoded = reverse_code(answers.loc[keep], spec)
    if learn_medians:
        spec = spec.with_medians(recoded)
    filled = impute(recoded, spec)
    exclusions = pd.DataFrame(
        {"customer_id": answers.index[~keep], "reason": reasons[~keep].to_numpy()}
    )
    return ScoredSurvey(
        answers=filled,
        raw=recoded,
        constructs=construct_scores(filled, spec),
        exclusions=exclusions.reset_index(drop=True),
        spec=spec,
        n_imputed=int(recoded.isna().to_numpy().sum()),
    )
