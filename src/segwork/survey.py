"""Survey scoring: Likert items described by an item catalogue -> clean construct scores.

The rules, stated once (they are the same when a model is fitted and when new customers are
assigned, see :class:`SurveySpec`):

- **Scale.** Each item's answers are whole numbers on its scale, declared in the item
  catalogue (``survey_items``) by two optional columns, **``scale_min``** and **``scale_max``**
  (whole numbers, per item: 1 and 5, 1 and 6, 1 and 7, 0 and 10, ...). An item whose row leaves
  both empty, or a catalogue without these columns, gets the default scale ``DEFAULT_SCALE``
  (1..5, the most common Likert scale), and error messages say that the default was used. An
  answer off its item's scale (7 on 1..6, 3.5, "agree") is an error naming the table, the item
  column, example rows and the fix: correct the data, or declare the item's scale in the catalogue.
  :func:`scale_problems` lists every such problem without raising (for ``segwork validate``).
- **Missing-answer codes.** Exports that store "no answer" as a number (0 in IPIP-FFM data,
  99, -9) declare it per item in the optional catalogue column **``missing_code``**; such
  answers are read as missing (and imputed like blanks). Undeclared, they are off the scale.
- **Reverse coding.** A reverse-coded item (``reverse_coded`` true; the column must hold
  true/false, yes/no or 1/0, so a -1/1 keying column is refused rather than misread) is flipped
  as ``scale_min + scale_max - x``, so a high score always means "more of the construct".
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
  is flagged weak; a one-item construct has no alpha (NaN). An item that correlates
  negatively with the rest of its construct after reverse coding is listed as suspect: its
  reverse_coded flag is probably wrong (or the export was already reverse-coded).
"""

from __future__ import annotations

import json
from dataclasses import dataclass, field
from typing import Any, Literal

import numpy as np
import pandas as pd

from segwork.errors import SegworkError
from segwork.schema import FALSE_WORDS, TRUE_WORDS

DEFAULT_SCALE = (1, 5)
ALPHA_THRESHOLD = 0.7
_MAX_EXAMPLES = 5
CONSENT_COLUMN = "profiling_consent"
SCALE_COLUMNS = ("scale_min", "scale_max")  # optional item-catalogue columns: each item's scale
MISSING_CODE_COLUMN = "missing_code"  # optional item-catalogue column: the answer meaning "none"
# columns of survey_responses that are not answers (everything else should be a catalogue item)
META_COLUMNS = ("customer_id", "answered_at", CONSENT_COLUMN)
_TRUE = set(TRUE_WORDS)  # the one list of yes/no words (segwork.schema)
_FALSE = set(FALSE_WORDS)


class SurveyError(SegworkError, ValueError):
    """Survey answers or an item catalogue that cannot be used; the message says where and the fix."""


def _as_bool(values: pd.Series) -> pd.Series:
    """Booleans from bool / 0-1 / yes-no text; anything missing or unknown is False."""
    if pd.api.types.is_bool_dtype(values.dtype):
        return values.fillna(False).astype(bool)
    if pd.api.types.is_numeric_dtype(values.dtype):
        return values.fillna(0).astype(float) == 1.0
    return values.astype("string").str.strip().str.lower().isin(_TRUE).fillna(False).astype(bool)


def _item_texts(cat: pd.DataFrame, items: list[str]) -> dict[str, str]:
    """Each item's text from the catalogue (the item's name where the text is missing)."""
    if "text" not in cat.columns:
        return {i: i for i in items}
    return {
        i: (str(t).strip() if pd.notna(t) and str(t).strip() else i)
        for i, t in zip(items, cat["text"], strict=True)
    }


def _catalogue_scales(
    cat: pd.DataFrame, items: list[str], default: tuple[int, int]
) -> tuple[dict[str, tuple[int, int]], tuple[str, ...]]:
    """Each item's (min, max) from the catalogue's scale_min/scale_max, and the items declared.

    Both columns or neither; per item both values or neither (then the default). Values must be
    whole numbers with min < max. Errors name the table, column, items and values.
    """
    present = [c for c in SCALE_COLUMNS if c in cat.columns]
    if not present:
        return {i: default for i in items}, ()
    if len(present) == 1:
        other = next(c for c in SCALE_COLUMNS if c not in present)
        raise SurveyError(
            f"table 'survey_items': column '{present[0]}' without '{other}'.\nFix: declare an "
            "item's scale with both columns, scale_min and scale_max (e.g. 1 and 6)."
        )
    bounds = {}
    for col in SCALE_COLUMNS:
        raw = cat[col]
        num = pd.to_numeric(raw, errors="coerce").astype("float64")
        bad = (raw.notna() & num.isna()) | (num.notna() & (num != np.round(num)))
        if bad.any():
            ex = ", ".join(
                f"item {items[r]}: {_show(raw.iloc[r])}"
                for r in np.flatnonzero(bad)[:_MAX_EXAMPLES]
            )
            raise SurveyError(
                f"table 'survey_items', column '{col}': not a whole number for {ex}.\n"
                "Fix: scale_min and scale_max are the lowest and highest possible answers, "
                "e.g. 1 and 6 (or leave both empty for the default "
                f"{default[0]}..{default[1]})."
            )
        bounds[col] = num
    lo, hi = bounds["scale_min"], bounds["scale_max"]
    half = lo.isna() != hi.isna()
    if half.any():
        ex = [items[r] for r in np.flatnonzero(half)[:_MAX_EXAMPLES]]
        raise SurveyError(
            f"table 'survey_items': item(s) {ex} have only one of scale_min, scale_max.\n"
            "Fix: fill both for an item (e.g. 1 and 7), or leave both empty for the default "
            f"{default[0]}..{default[1]}."
        )
    wrong = lo.notna() & (lo >= hi)
    if wrong.any():
        ex = ", ".join(
            f"item {items[r]}: {lo.iloc[r]:g}..{hi.iloc[r]:g}"
            for r in np.flatnonzero(wrong)[:_MAX_EXAMPLES]
        )
        raise SurveyError(
            f"table 'survey_items', columns 'scale_min', 'scale_max': the minimum is not below "
            f"the maximum for {ex}.\nFix: scale_min is the lowest possible answer, scale_max "
            "the highest."
        )
    scale, declared = {}, []
    for n, item in enumerate(items):
        if pd.notna(lo.iloc[n]):
            scale[item] = (int(lo.iloc[n]), int(hi.iloc[n]))
            declared.append(item)
        else:
            scale[item] = default
    return scale, tuple(declared)


def _reverse_flags(values: pd.Series, items: list[str]) -> pd.Series:
    """The catalogue's reverse_coded column as booleans; anything but true/false is an error.

    Strict on purpose: a keying column of -1/1 (psych's convention, -1 = reverse-keyed) read
    as booleans would flip exactly the wrong items without a trace.
    """
    if pd.api.types.is_bool_dtype(values.dtype) and not values.isna().any():
        return values.astype(bool)
    text = values.astype("string").str.strip().str.lower()
    num = pd.to_numeric(values, errors="coerce")
    text = text.where(
        ~(num.notna() & (num == np.round(num))),
        num.astype("Float64").astype("Int64").astype("string"),
    )
    ok = text.isin(_TRUE | _FALSE).fillna(False).astype(bool)
    if not ok.all():
        bad = np.flatnonzero(~ok.to_numpy())

        def disp(v: Any) -> str:
            return "empty" if pd.isna(v) else _show(v)

        shown = sorted({disp(values.iloc[r]) for r in bad})[:_MAX_EXAMPLES]
        ex = ", ".join(f"item {items[r]}: {disp(values.iloc[r])}" for r in bad[:_MAX_EXAMPLES])
        keying = (
            " A keying column with -1 for reverse-keyed and 1 for forward items must be "
            "mapped: -1 -> true, 1 -> false."
            if set(num.dropna().unique()) <= {-1.0, 1.0} and (num == -1).any()
            else ""
        )
        raise SurveyError(
            f"table 'survey_items', column 'reverse_coded': {len(bad)} value(s) are not "
            f"true/false ({', '.join(shown)}), e.g. {ex}.\nFix: write true for items worded "
            "against their construct (their answers are flipped), false for the others; empty "
            f"is not allowed.{keying}"
        )
    return text.isin(_TRUE).astype(bool)


def _missing_codes(cat: pd.DataFrame, items: list[str]) -> dict[str, float]:
    """Item -> the number that means "no answer", from the optional missing_code column."""
    if MISSING_CODE_COLUMN not in cat.columns:
        return {}
    raw = cat[MISSING_CODE_COLUMN]
    num = pd.to_numeric(raw, errors="coerce")
    bad = raw.notna() & num.isna()
    if bad.any():
        ex = ", ".join(
            f"item {items[r]}: {_show(raw.iloc[r])}" for r in np.flatnonzero(bad)[:_MAX_EXAMPLES]
        )
        raise SurveyError(
            f"table 'survey_items', column '{MISSING_CODE_COLUMN}': not a number for {ex}.\n"
            "Fix: missing_code is the number an export uses for 'no answer' (e.g. 0 or 99); "
            "leave it empty for items without one."
        )
    return {items[r]: float(num.iloc[r]) for r in np.flatnonzero(num.notna().to_numpy())}


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
    declared: tuple[str, ...] = ()  # items whose scale the catalogue declares (others: default)
    missing_codes: dict[str, float] = field(default_factory=dict)  # item -> code meaning "none"

    @classmethod
    def from_catalogue(
        cls,
        catalogue: pd.DataFrame,
        *,
        scale: tuple[int, int] = DEFAULT_SCALE,
        min_answered: float = 0.7,
    ) -> SurveySpec:
        """Read the item catalogue (item, construct, reverse_coded[, text, scale_min, scale_max]).

        ``scale`` is the default for items whose scale the catalogue does not declare. Without a
        ``text`` column an item's text is its name.
        """
        need = ["item", "construct", "reverse_coded"]
        missing = [c for c in need if c not in catalogue.columns]
        if missing:
            raise SurveyError(
                f"table 'survey_items': missing column(s) {missing}; it has "
                f"{list(catalogue.columns)}.\nFix: the catalogue needs one row per item "
                "with columns item, construct, text, reverse_coded (and optionally scale_min, "
                "scale_max: the item's answer scale)."
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
        item_scale, declared = _catalogue_scales(cat, items, (lo, hi))
        constructs: dict[str, list[str]] = {}
        for item, con in zip(items, cat["construct"], strict=True):
            constructs.setdefault(str(con), []).append(item)
        reverse_flags = _reverse_flags(cat["reverse_coded"], items)
        return cls(
            items=tuple(items),
            constructs={c: tuple(v) for c, v in constructs.items()},
            reverse=tuple(i for i, r in zip(items, reverse_flags, strict=True) if r),
            scale=item_scale,
            text=_item_texts(cat, items),
            min_answered=float(min_answered),
            declared=declared,
            missing_codes=_missing_codes(cat, items),
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
            self.items,
            self.constructs,
            self.reverse,
            self.scale,
            self.text,
            self.min_answered,
            med,
            self.declared,
            self.missing_codes,
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
            "declared": list(self.declared),
            "missing_codes": dict(self.missing_codes),
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
            declared=tuple(d.get("declared", ())),
            missing_codes={k: float(v) for k, v in d.get("missing_codes", {}).items()},
        )

    def scale_text(self, item: str) -> str:
        """How an item's scale was set, for messages: '1..6 declared for item A1 in survey_items'."""
        lo, hi = self.scale[item]
        if item in self.declared:
            return f"{lo}..{hi} declared for item {item} in survey_items (scale_min, scale_max)"
        return (
            f"{lo}..{hi}, the default: survey_items declares no scale for item {item} "
            "(columns scale_min, scale_max)"
        )


def item_answers(
    responses: pd.DataFrame,
    spec: SurveySpec,
    *,
    table: str = "survey_responses",
    assigning: bool = False,
) -> pd.DataFrame:
    """The catalogue's item columns as float (NaN = not answered), indexed by customer_id.

    Raises :class:`SurveyError` for a missing customer_id or item column, duplicated customers,
    and answers that are not whole numbers on the item's scale (every such column is named,
    with example rows, the scale and where it came from).
    """
    if "customer_id" not in responses.columns:
        raise SurveyError(
            f"table '{table}': no column 'customer_id'; it has {list(responses.columns)[:12]}.\n"
            "Fix: map the respondent id column to customer_id."
        )
    missing = _missing_items(responses, spec, table)
    if missing:
        raise SurveyError(missing)
    ids = responses["customer_id"].astype("string")
    if ids.isna().any():
        rows = (np.flatnonzero(ids.isna().to_numpy())[:_MAX_EXAMPLES] + 1).tolist()
        raise SurveyError(
            f"table '{table}', column 'customer_id': missing id in data row(s) {rows}.\n"
            "Fix: every response needs the respondent's id."
        )
    dup = ids[ids.duplicated()].unique().tolist()
    if dup:
        raise SurveyError(
            f"table '{table}', column 'customer_id': {len(dup)} customer(s) answered more than "
            f"once, e.g. {dup[:_MAX_EXAMPLES]}.\nFix: keep one response per customer "
            "(e.g. the latest by answered_at)."
        )
    out, problems = _check_all(responses, spec, ids, table, assigning=assigning)
    if problems:
        raise SurveyError(_joined([m for _, m in problems]))
    return pd.DataFrame(
        {i: out[i] for i in spec.items}, index=pd.Index(ids.to_numpy(), name="customer_id")
    )


def _joined(problems: list[str], limit: int = _MAX_EXAMPLES) -> str:
    text = "\n\n".join(problems[:limit])
    if len(problems) > limit:
        text += f"\n\n... and {len(problems) - limit} more column(s) with problems like these."
    return text


def _missing_items(responses: pd.DataFrame, spec: SurveySpec, table: str) -> str | None:
    missing = [i for i in spec.items if i not in responses.columns]
    if not missing:
        return None
    return (
        f"table '{table}': missing item column(s) {missing} required by the item catalogue "
        f"survey_items ({len(spec.items)} items).\nFix: provide every catalogue item as a column "
        "(empty cells are fine), map the columns under sources.survey_responses.columns, or "
        "remove items that were not asked from survey_items."
    )


@dataclass(frozen=True)
class _Offscale:
    """What is wrong with one item column (for the grouped message of undeclared scales)."""

    item: str
    n_bad: int
    example: str  # "data row 22 (customer 61659): 6"
    seen: tuple[float, float] | None  # lowest and highest number in the column
    has_text: bool
    bad_values: tuple[float, ...] = ()  # the distinct numbers off the scale


def _code_hint(bad_values: set[float], lo: int, hi: int, items: str) -> str:
    """A hint that one odd number (0 or -9 below the scale, 99 far above it) may mean 'no answer'."""
    if len(bad_values) != 1:
        return ""
    (v,) = bad_values
    if v < lo or v >= 2 * max(hi, 1) + 1:
        return (
            f" If {v:g} means 'no answer' in this export, declare it instead: survey_items "
            f"column {MISSING_CODE_COLUMN} = {v:g} for {items}."
        )
    return ""


def _marker_hint(text_answers: pd.Series, table: str) -> str:
    """A hint that text such as 'x' or 'NA' may be the export's mark for 'no answer': such marks
    are declared per source in the run config (sources.<table>.missing_values)."""
    marks = list(dict.fromkeys(str(v).strip() for v in text_answers))[:_MAX_EXAMPLES]
    if not marks:
        return ""
    listed = ", ".join(json.dumps(m, ensure_ascii=False) for m in marks)
    return (
        f" If {' or '.join(repr(m) for m in marks)} means 'no answer' in this export, add it to "
        f"the run config's sources.{table}.missing_values instead (a list, e.g. "
        f"missing_values: [{listed}]; keep any marks already listed there)."
    )


def _check_all(
    responses: pd.DataFrame,
    spec: SurveySpec,
    ids: pd.Series | None,
    table: str,
    *,
    assigning: bool = False,
) -> tuple[dict[str, np.ndarray], list[tuple[str, str]]]:
    """Every present item column as floats, and (column, message) for each problem.

    Items on the default scale (none declared) whose answers are off it in the same way are
    reported in one message naming all of them: a survey on 1..6 without declared scales
    is one mistake, not 25.
    """
    values, problems, undeclared = {}, [], []
    for item in spec.items:
        if item not in responses.columns:
            continue
        vals, problem, info = _check_answers(
            responses[item], item, spec, ids, table, assigning=assigning
        )
        values[item] = vals
        if problem is None:
            continue
        if info is not None and item not in spec.declared and not info.has_text and not assigning:
            undeclared.append((info, problem))
        else:
            problems.append((item, problem))
    if len(undeclared) == 1:
        problems.append((undeclared[0][0].item, undeclared[0][1]))
    elif undeclared:
        infos = [i for i, _ in undeclared]
        lo, hi = spec.scale[infos[0].item]
        cols = [i.item for i in infos]
        shown = ", ".join(cols[:12]) + (f" and {len(cols) - 12} more" if len(cols) > 12 else "")
        seen = [i.seen for i in infos if i.seen is not None]
        span = (
            f" The numbers in these columns run from {min(a for a, _ in seen):g} to "
            f"{max(b for _, b in seen):g}."
            if seen
            else ""
        )
        examples = "; ".join(f"{i.item}: {i.example}" for i in infos[:3])
        hint = _code_hint({v for i in infos for v in i.bad_values}, lo, hi, "these items")
        guess = (
            f"scale_min {min(lo, int(min(a for a, _ in seen)))} and scale_max "
            f"{int(max(b for _, b in seen))} on every row, if that is the questionnaire's scale"
            if seen and all(float(a).is_integer() and float(b).is_integer() for a, b in seen)
            else "the lowest and highest possible answer of each item"
        )
        message = (
            f"table '{table}', columns {shown} ({len(cols)} items): "
            f"{sum(i.n_bad for i in infos):,} answers are not whole numbers on the scale "
            f"{lo}..{hi}, the default: survey_items declares no scale for these items "
            f"(columns scale_min, scale_max). E.g. {examples}.{span}\nFix: if these items are "
            "answered on another scale (1..6, 1..7, 0..10, ...), declare it in the item "
            f"catalogue: add columns scale_min and scale_max to survey_items (here: {guess}); "
            "otherwise correct these answers in the data, or leave them empty if they mean "
            "'no answer'." + hint
        )
        problems.insert(0, (cols[0], message))
    return values, problems


def _check_answers(
    raw: pd.Series,
    item: str,
    spec: SurveySpec,
    ids: pd.Series | None,
    table: str,
    *,
    assigning: bool = False,
) -> tuple[np.ndarray, str | None, _Offscale | None]:
    """An item column as floats, and a message if any answer is not a whole number on its scale."""
    num = pd.to_numeric(raw, errors="coerce").astype("float64").to_numpy()
    lo, hi = spec.scale[item]
    not_number = raw.notna().to_numpy() & np.isnan(num)
    if item in spec.missing_codes:
        num = np.where(num == spec.missing_codes[item], np.nan, num)
    with np.errstate(invalid="ignore"):
        off_scale = ~np.isnan(num) & ((num < lo) | (num > hi) | (num != np.round(num)))
    bad = not_number | off_scale
    if not bad.any():
        return num, None, None
    where = np.flatnonzero(bad)

    def who(r: int) -> str:
        return f"data row {r + 1}" + (f" (customer {ids.iloc[r]})" if ids is not None else "")

    examples = ", ".join(f"{who(r)}: {_show(raw.iloc[r])}" for r in where[:_MAX_EXAMPLES])
    known = num[~np.isnan(num)]
    seen = (
        f" The numbers in this column run from {known.min():g} to {known.max():g}."
        if len(known)
        else ""
    )
    if assigning:
        fix = (
            f"the persona model was fitted with item {item} on {lo}..{hi}: correct these "
            "answers, or leave them empty if they mean 'no answer'; answers on another scale "
            "need a model fitted on that scale."
        )
    elif item in spec.declared:
        fix = (
            "correct these answers in the data, or leave them empty if they mean 'no answer' "
            "(or declare the number an export uses for 'no answer', such as 0 or 99, in "
            f"survey_items column {MISSING_CODE_COLUMN}); if the item's scale is wider, correct "
            "its scale_min/scale_max in survey_items."
        )
    else:
        fix = (
            "if this item is answered on another scale (1..6, 1..7, 0..10, ...), declare it in "
            f"the item catalogue: survey_items columns scale_min and scale_max for item {item}; "
            "otherwise correct these answers in the data, or leave them empty if they mean "
            "'no answer'."
        )
    bad_values = tuple(sorted({float(v) for v in num[off_scale]}))[:_MAX_EXAMPLES]
    if not assigning:
        fix += _code_hint(set(bad_values), lo, hi, f"item {item}")
        fix += _marker_hint(raw[not_number], table)
    text_note = (
        " (text is not an answer: map labels such as 'agree' to numbers)"
        if (not_number.any())
        else ""
    )
    scale_phrase = f"{lo}..{hi} of the fitted persona model" if assigning else spec.scale_text(item)
    info = _Offscale(
        item,
        int(bad.sum()),
        f"{who(int(where[0]))}: {_show(raw.iloc[int(where[0])])}",
        (float(known.min()), float(known.max())) if len(known) else None,
        bool(not_number.any()),
        bad_values,
    )
    return (
        num,
        (
            f"table '{table}', column '{item}': {int(bad.sum())} answer(s) are not whole numbers "
            f"on the item's scale {scale_phrase}{text_note}: {examples}.{seen}\n"
            f"Fix: {fix}"
        ),
        info,
    )


def unknown_columns(responses: pd.DataFrame, spec: SurveySpec) -> list[str]:
    """Columns of the responses that are neither catalogue items nor known non-answer columns.

    Known non-answer columns are :data:`META_COLUMNS` (customer_id, answered_at,
    profiling_consent). The others are not scored: the run leaves them out and says so.
    """
    items = set(spec.items)
    return [
        str(c)
        for c in responses.columns
        if str(c) not in items and str(c) not in META_COLUMNS and not str(c).startswith("__")
    ]


@dataclass(frozen=True)
class SurveyProblem:
    """One finding of :func:`survey_checks`: ``error`` stops a run; ``note`` is reported only."""

    severity: Literal["error", "note"]
    column: str | None
    message: str


def survey_checks(
    responses: pd.DataFrame, items: pd.DataFrame, *, table: str = "survey_responses"
) -> list[SurveyProblem]:
    """What :func:`scale_problems` finds, with a severity: ``error`` for what would stop the run
    (catalogue unusable, items missing, answers off the scale), ``note`` for answer columns not
    in the catalogue (the run leaves them out and says so)."""
    try:
        spec = SurveySpec.from_catalogue(items)
    except SurveyError as e:
        return [SurveyProblem("error", None, str(e))]
    out = []
    missing = _missing_items(responses, spec, table)
    if missing:
        out.append(SurveyProblem("error", None, missing))
    ids = responses["customer_id"].astype("string") if "customer_id" in responses else None
    _, problems = _check_all(responses, spec, ids, table)
    out += [SurveyProblem("error", col, message) for col, message in problems]
    extra = unknown_columns(responses, spec)
    if extra:
        out.append(SurveyProblem("note", extra[0], unused_columns_text(extra, table)))
    return out


def unused_columns_text(extra: list[str], table: str = "survey_responses") -> str:
    """The sentence for answer columns that are not in the catalogue (validate and notebook 03)."""
    shown = ", ".join(extra[:12]) + (f" and {len(extra) - 12} more" if len(extra) > 12 else "")
    return (
        f"table '{table}': column(s) {shown} are not items of the catalogue survey_items, so "
        "they are not used for personas.\nFix: if they are answers, add them to survey_items "
        "(item, construct, text, reverse_coded); other columns (e.g. age or gender) can stay, "
        "they are only left out of the persona features."
    )


def unused_columns_note(extra: list[str]) -> str:
    """The page's sentence for survey columns that are not questions of the item catalogue
    (the fix for a wrong catalogue is :func:`unused_columns_text`, shown by ``segwork validate``)."""
    shown = ", ".join(extra[:12]) + (f" and {len(extra) - 12} more" if len(extra) > 12 else "")
    one = len(extra) == 1
    return (
        f"The survey table also has the column{'' if one else 's'} {shown}; "
        f"{'it is' if one else 'they are'} not {'a question' if one else 'questions'} of the "
        "item catalogue, so the personas do not use "
        f"{'it' if one else 'them'}."
    )


def scale_problems(
    responses: pd.DataFrame, items: pd.DataFrame, *, table: str = "survey_responses"
) -> list[str]:
    """Every problem of survey answers against the item catalogue, as plain messages (no raising).

    For ``segwork validate``: an unusable catalogue; catalogue items missing from the responses;
    answers that are not whole numbers on their item's scale (declared by scale_min/scale_max
    in survey_items, else the default 1..5), one message per column with example rows; and
    answer columns that are not in the catalogue (they would be left out of the personas; the
    only kind that does not stop a run, see :func:`survey_checks` for severities). Each message
    names the table, the column, examples and the fix. An empty list means no problem.
    """
    return [p.message for p in survey_checks(responses, items, table=table)]


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


def item_rest_correlations(items: pd.DataFrame) -> pd.Series:
    """Each column's Pearson correlation with the sum of the other columns (complete rows).

    The corrected item-total correlation: after reverse coding every item of a construct should
    correlate positively with the rest. A negative one usually means the item's reverse_coded
    flag is wrong (or the data were already reverse-coded before export). NaN for fewer than
    two items, fewer than three complete rows or a constant column.
    """
    x = items.dropna().to_numpy(dtype=float)
    out = pd.Series(np.nan, index=items.columns, dtype="float64")
    if x.shape[1] < 2 or x.shape[0] < 3:
        return out
    total = x.sum(axis=1)
    for j, col in enumerate(items.columns):
        rest = total - x[:, j]
        if x[:, j].std() == 0 or rest.std() == 0:
            continue
        out[col] = float(np.corrcoef(x[:, j], rest)[0, 1])
    return out


def reliability(
    recoded: pd.DataFrame, spec: SurveySpec, *, threshold: float = ALPHA_THRESHOLD
) -> pd.DataFrame:
    """Cronbach's alpha per construct (complete cases, reverse-coded items), weak if < threshold.

    ``suspect_items``: items whose item-rest correlation (:func:`item_rest_correlations`) is
    negative after reverse coding: check their reverse_coded flag in the catalogue.
    """
    rows = []
    for con, items in spec.constructs.items():
        block = recoded[list(items)]
        alpha = cronbach_alpha(block)
        rest = item_rest_correlations(block)
        rows.append(
            {
                "construct": con,
                "n_items": len(items),
                "reverse_items": ", ".join(i for i in items if i in spec.reverse),
                "n_complete": int(block.notna().all(axis=1).sum()),
                "alpha": alpha,
                "weak": bool(np.isnan(alpha) or alpha < threshold),
                "suspect_items": ", ".join(str(i) for i in rest.index[rest.to_numpy() < 0]),
            }
        )
    out = pd.DataFrame(rows).set_index("construct")
    out.attrs["threshold"] = threshold
    return out


def reliability_warning(rel: pd.DataFrame) -> str | None:
    """A plain warning for weak constructs and suspect reverse coding, or None when all is well."""
    parts = []
    thr = rel.attrs.get("threshold", ALPHA_THRESHOLD)
    weak = rel.index[rel["weak"].to_numpy()]
    if len(weak):
        parts.append(
            f"Cronbach's alpha is below {thr} (or cannot be computed) for: "
            f"{', '.join(map(str, weak))}. Scores of these constructs are noisy, so differences "
            "between personas on them are less trustworthy."
        )
    suspect = rel.loc[rel["suspect_items"].astype(str) != "", "suspect_items"]
    if len(suspect):
        listed = "; ".join(f"{c}: {items}" for c, items in suspect.items())
        parts.append(
            "Some items correlate negatively with the rest of their construct after reverse "
            f"coding ({listed}). Their reverse_coded flag in survey_items is probably wrong, or "
            "the export already reverse-coded them: check the catalogue against the questionnaire."
        )
    return "\n\n".join(parts) or None


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
    unused_columns: list[str] = field(default_factory=list)  # not in the catalogue, not scored


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
    answers = item_answers(responses, spec, table=table, assigning=not learn_medians)
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
        unused_columns=unknown_columns(responses, spec),
    )


def describe_survey(spec: SurveySpec) -> str:
    """What the survey measures, in the catalogue's words: constructs, item counts and scales."""
    parts = []
    for con, items in spec.constructs.items():
        rev = sum(i in spec.reverse for i in items)
        extra = f", {rev} reverse-coded" if rev else ""
        parts.append(
            f"{str(con).replace('_', ' ')} ({len(items)} item{'s' * (len(items) > 1)}{extra})"
        )
    scales: dict[tuple[int, int], list[str]] = {}
    for item in spec.items:
        scales.setdefault(spec.scale[item], []).append(item)
    declared = len(spec.declared) == len(spec.items)
    how = (
        "as declared in the item catalogue"
        if declared
        else "the default scale: the item catalogue declares no scale (scale_min, scale_max)"
        if not spec.declared
        else "declared in the item catalogue where given, else the default"
    )
    if len(scales) == 1:
        ((lo, hi),) = scales
        scale_text = f"Answers are on a {lo}..{hi} scale ({how})."
    else:
        scale_text = (
            "Answers are on "
            + ", ".join(f"{lo}..{hi} ({len(v)} items)" for (lo, hi), v in scales.items())
            + f" ({how})."
        )
    return (
        f"The survey has {len(spec.items)} items measuring {len(spec.constructs)} "
        f"construct{'s' * (len(spec.constructs) > 1)}: {'; '.join(parts)}. {scale_text} "
        "Reverse-coded items are flipped (lowest + highest answer - answer) before scoring, so a "
        "high score always means more of the construct."
    )
