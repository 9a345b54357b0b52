"""Page text of notebook 03 (personas): headline, readable tables, and one call per section."""

from __future__ import annotations

from pathlib import Path
from typing import Any

import numpy as np
import pandas as pd

from segwork import display as show
from segwork.personas.behaviour import _is_money, behaviour_label
from segwork.personas.naming import construct_label
from segwork.personas.result import SWEEP_INDICES, PersonaResult, sweep_columns
from segwork.plots import personas as plots
from segwork.steps.personas import PersonasStep
from segwork.survey import (
    REASON_CONSENT,
    describe_survey,
    reliability_warning,
    unused_columns_note,
)

# Kaufman & Rousseeuw's reading of the average silhouette: below 0.25 no substantial structure
WEAK_SILHOUETTE = 0.25


def readable_reliability(rel: pd.DataFrame) -> pd.DataFrame:
    """:func:`segwork.survey.reliability` for people: constructs as the catalogue names them,
    Cronbach's alpha to two decimals ('cannot be computed' instead of nan), 'yes' where it is
    below the bar, and the items whose reverse coding looks wrong."""
    thr = rel.attrs.get("threshold", 0.7)
    return pd.DataFrame(
        {
            "construct": [construct_label(c) for c in rel.index],
            "items": rel["n_items"].astype(int).to_numpy(),
            "reverse-coded items": rel["reverse_items"].fillna("").astype(str).to_numpy(),
            "respondents who answered all its items": [f"{int(n):,}" for n in rel["n_complete"]],
            "Cronbach's alpha": [
                "cannot be computed" if not np.isfinite(a) else f"{a:.2f}"
                for a in rel["alpha"].astype(float)
            ],
            f"below {thr:g}?": ["yes" if w else "" for w in rel["weak"].astype(bool)],
            "items against the rest (check their coding)": rel["suspect_items"]
            .fillna("")
            .astype(str)
            .to_numpy(),
        }
    )


def readable_behaviour(table: pd.DataFrame, *, currency: str = "") -> pd.DataFrame:
    """:func:`cluster_behaviour`'s table for people: columns in words, amounts with the currency
    (cents when an amount is under 100, else whole units), counts with one decimal, category shares
    in per cent; an empty cell, never 'nan', where a persona has no value."""

    out = pd.DataFrame(index=table.index.astype(str))
    out.index.name = "persona"
    for col in table.columns:
        v = table[col].to_numpy(dtype=float)
        if str(col).endswith(" (mean)"):
            base = str(col)[: -len(" (mean)")]
            money = _is_money(base)
            small = np.nanmin(np.abs(v), initial=np.inf) < 100
            k = (2 if small else 0) if money else 1
            unit = currency if money else ""
            out[f"{behaviour_label(base)} (mean)"] = [show.number(x, k, unit=unit) for x in v]
        else:
            base, _, cat = str(col).partition(": ")
            cat = "not scored or no value" if cat == "missing" else cat
            out[f"{behaviour_label(base)}: {cat}"] = [
                "" if not np.isfinite(x) else f"{x:.0%}" for x in v
            ]
    return out.reset_index()


def readable_behaviour_tests(tests: pd.DataFrame) -> pd.DataFrame:
    """:func:`behaviour_tests` for people: what was compared in words, the test, how many
    respondents had a value, the Holm-adjusted p ('< 0.001', never '6.5e-08'), the effect size
    and whether the personas differ ('yes'/'no'; empty where nothing could be tested)."""

    return pd.DataFrame(
        {
            "compared": [behaviour_label(c) for c in tests["column"]],
            "test": tests["test"].astype(str).to_numpy(),
            "respondents with a value": [f"{int(n):,}" for n in tests["n"]],
            "statistic (df)": [
                ""
                if not np.isfinite(st)
                else f"{'H' if t == 'Kruskal-Wallis' else 'chi-square'} = "
                f"{show.number(st, 1)} ({int(df)})"
                for t, st, df in zip(tests["test"], tests["statistic"], tests["df"], strict=True)
            ],
            "p (Holm-adjusted)": [
                "" if not np.isfinite(p) else ("< 0.001" if p < 0.001 else f"{p:.3f}")
                for p in tests["p_holm"].astype(float)
            ],
            "effect size": [
                "" if not np.isfinite(e) else f"{name} {e:.2f}"
                for name, e in zip(tests["effect_name"], tests["effect"].astype(float), strict=True)
            ],
            "differ?": [
                "" if not np.isfinite(p) else ("yes" if d else "no")
                for p, d in zip(tests["p_holm"].astype(float), tests["differs"], strict=True)
            ],
            "note": tests["note"].fillna("").astype(str).to_numpy(),
        }
    )


#: How the k sweep's columns are named on the page, and how each is written.
SWEEP_LABELS = {
    "k": "Personas (k)",
    "silhouette": "Separation (silhouette, higher is better)",
    "calinski_harabasz": "Calinski-Harabasz index (higher is better)",
    "davies_bouldin": "Davies-Bouldin index (lower is better)",
    "bic": "BIC (lower is better)",
    "stability": "Agreement of the repeats (adjusted Rand index)",
    "stability_sd": "Agreement of the repeats, standard deviation",
    "min_cluster_jaccard": "Least reproducible persona (Jaccard overlap)",
    "n_refits": "Repeats (bootstrap refits)",
    "min_share": "Smallest persona (share of respondents)",
}


def sweep_table(sweep: pd.DataFrame) -> show.PageTable:
    """The k sweep for analysts: every index it filled, per number of personas, chosen k marked."""
    cols = sweep_columns(sweep, (*SWEEP_INDICES, "n_refits", "min_share"))
    frame = sweep[cols].reset_index()
    frame = frame.rename(columns={frame.columns[0]: "k"})
    chosen = sweep.attrs.get("chosen_k")
    if chosen is None and "chosen" in sweep:
        hits = sweep.index[sweep["chosen"].astype(bool)]
        chosen = int(hits[0]) if len(hits) else None
    frame.insert(1, "chosen", ["yes" if k == chosen else "" for k in frame["k"]])
    formats = {c: "number" for c in cols}
    formats.update({"k": "count", "n_refits": "count", "min_share": "pct"})
    return show.PageTable(frame, formats=formats, labels={"chosen": "Chosen", **SWEEP_LABELS})


def profile_table(profiles: pd.DataFrame) -> show.PageTable:
    """The numbers of the heatmap: each persona's size and its mean on each construct (z)."""
    zcols = [c for c in profiles.columns if str(c).startswith("z_")]
    frame = profiles[["name", "size", "share", *zcols]]
    labels = {"name": "Persona", "size": "Respondents", "share": "Share of respondents"}
    for c in zcols:
        name = construct_label(c[2:])
        labels[c] = f"{name[:1].upper()}{name[1:]} (z)"
    return show.PageTable(
        frame,
        formats={"size": "count", "share": "pct", **{c: "{:+.2f}" for c in zcols}},
        labels=labels,
    )


def k_choice_alt(sweep: pd.DataFrame, k: int) -> str:
    """The alt text of the k sweep's chart: the range tried, the chosen k and its indices."""
    ks = sweep.index
    row = sweep.loc[k] if k in ks else pd.Series(dtype=float)
    text = (
        f"Line chart of separation (silhouette) and reproducibility for {ks.min()} to {ks.max()} "
        f"personas; {k} is marked as chosen"
    )
    facts = [
        f"{words} {float(row[col]):.2f}"
        for col, words in (
            ("silhouette", "silhouette"),
            ("stability", "agreement of the repeats"),
            ("min_cluster_jaccard", "least reproducible persona"),
        )
        if col in row and np.isfinite(float(row[col]))
    ]
    return text + (f" ({', '.join(facts)})." if facts else ".")


def profiles_alt(profiles: pd.DataFrame) -> str:
    """The alt text of the heatmap: each persona's most distinctive construct and its z-score."""
    zcols = [c for c in profiles.columns if str(c).startswith("z_")]
    parts = []
    for _, row in profiles.iterrows():
        z = row[zcols].astype(float)
        if z.notna().any():
            top = z.abs().idxmax()
            parts.append(f"{row['name']}: {construct_label(top[2:])} {z[top]:+.1f}")
    return (
        f"Heatmap of {len(profiles)} personas by {len(zcols)} constructs (mean z-scores against "
        "all respondents); the most distinctive construct of each: " + "; ".join(parts) + "."
    )


def projection_alt(result: PersonaResult) -> str:
    """The alt text of the map: respondents, the variance each axis explains, the personas."""
    ev = result.projection.attrs.get("explained_variance_ratio", [np.nan, np.nan])
    axes = (
        f" (PC1 {ev[0]:.0%}, PC2 {ev[1]:.0%} of variance)"
        if len(ev) > 1 and np.isfinite(ev[0]) and np.isfinite(ev[1])
        else ""
    )
    return (
        f"Scatter map of {len(result.projection):,} respondents on the first two principal "
        f"components of their answers{axes}, coloured by persona: "
        + ", ".join(str(n) for n in result.profiles["name"])
        + "."
    )


def reliability_text(rel: pd.DataFrame) -> str:
    """One sentence when every construct reaches the bar ("" otherwise: the warning says it)."""
    alpha = rel["alpha"].astype(float)
    if not len(rel) or rel["weak"].astype(bool).any() or not np.isfinite(alpha).all():
        return ""
    thr = rel.attrs.get("threshold", 0.7)
    return (
        f"All {len(rel)} constructs are measured reliably: Cronbach's alpha from "
        f"{alpha.min():.2f} to {alpha.max():.2f} ({thr:g} or more is the usual bar)."
    )


def grouping_text(result: PersonaResult, model_file: str) -> str:
    """Who was grouped, how many missing answers were filled and how, and where the model is
    (for the page; the command that uses the model is in the README, not here)."""
    return (
        f"{result.n_respondents:,} respondents were grouped; {result.n_imputed:,} missing "
        f"{'answer was' if result.n_imputed == 1 else 'answers were'} filled (from the respondent's own "
        "answers to the same construct, else the item's median). The model is saved as "
        f"{model_file} in the run's artifacts, so new respondents can be placed into the same "
        "personas."
    )


def headline(result: PersonaResult) -> str:
    """The finding notebook 03 leads with: how many personas, their names and sizes, why this k."""
    p = result.profiles.sort_values("size", ascending=False)
    names = "; ".join(f"{r['name']} ({r['share']:.0%})" for _, r in p.iterrows())
    text = (
        f"{result.n_respondents:,} survey respondents fall into {result.k} personas: {names}.\n\n"
        f"Why {result.k}: {result.k_reason.removeprefix(f'{result.k} personas: ')}"
    )
    sil = (
        float(result.sweep.loc[result.k, "silhouette"]) if "silhouette" in result.sweep else np.nan
    )
    if sil < WEAK_SILHOUETTE:
        text += (
            f"\n\nThe groups are weakly separated (silhouette {sil:.2f}; below {WEAK_SILHOUETTE} "
            "is usually read as no substantial cluster structure): respondents vary along a "
            "continuum, and the personas are regions of it rather than distinct types. Many "
            "respondents lie near a boundary."
        )
    return text


# --------------------------------------------------------------------------------------------
# the sections of page 03, one call each (the notebook narrates between them)
# --------------------------------------------------------------------------------------------

LEFT_OUT = "Left out: no personas were formed (see above)."


def _model_file_name() -> str:
    from segwork.catalog import dataset

    return Path(dataset("persona_model").place).name


def _figure(size: tuple[float, float]) -> tuple[Any, Any]:
    import matplotlib.pyplot as plt

    return plt.subplots(figsize=size)


def overview(step: PersonasStep) -> None:
    """What the survey measures, then the headline (or why no personas were formed)."""
    show.explain(describe_survey(step.spec))
    if step.personas is None:
        show.warning(
            "No personas could be formed from this survey: " + str(step.not_fitted),
            title="Not fitted",
        )
    else:
        show.finding(headline(step.personas))


def k_choice(step: PersonasStep) -> None:
    """How many personas, and why: the k sweep's chart."""
    res = step.personas
    if res is None:
        show.explain(LEFT_OUT)
        return
    fig, ax = _figure((11, 4.5))
    plots.k_selection_plot(res.sweep, ax=ax)
    show.figure(fig, alt=k_choice_alt(res.sweep, res.k))
    show.explain(
        "Separation (silhouette) and reproducibility for each number of groups; why this number "
        "was chosen is said in the finding at the top." + early_stop_text(res.sweep)
    )
    show.for_analysts(
        "every number of personas tried",
        show.page_table_html(
            sweep_table(res.sweep), caption="The k sweep", max_rows=len(res.sweep)
        ),
    )


def early_stop_text(sweep: pd.DataFrame) -> str:
    """Say which numbers of groups were judged on fewer bootstrap refits, and why."""
    if "n_refits" not in sweep or sweep["n_refits"].isna().all():
        return ""
    full = int(sweep["n_refits"].max())
    short = sweep.index[sweep["n_refits"] < full]
    if not len(short):
        return ""
    groups = {
        int(n): ", ".join(str(k) for k in short[sweep.loc[short, "n_refits"] == n])
        for n in sorted(set(sweep.loc[short, "n_refits"]))
    }
    parts = [f"{n} refits for {ks} groups" for n, ks in groups.items()]
    return (
        f" The reproducibility shown is the mean of {'; '.join(parts)} (of {full}): after those, "
        "even perfect agreement in the remaining refits could not have reached the bar the "
        "choice requires, "
        "so they were skipped (the choice is the same as with every refit)."
    )


def profiles(step: PersonasStep) -> None:
    """What sets each persona apart: the heatmap, then one finding per persona."""
    res = step.personas
    if res is None:
        show.explain(LEFT_OUT)
        return
    fig, ax = _figure((10, 0.6 * res.k + 2.5))
    plots.profile_heatmap(res.profiles, ax=ax)
    show.figure(fig, alt=profiles_alt(res.profiles))
    show.explain(
        "Rows are personas (with their size), columns the constructs of the item catalogue."
    )
    show.for_analysts(
        "the numbers of the chart",
        show.page_table_html(
            profile_table(res.profiles),
            caption="Each persona's mean on each construct, in SD from all respondents (z)",
        ),
    )
    for _cid, row in res.profiles.iterrows():
        show.finding(
            row["description"] + "\n\nItems that set them apart most (as worded; in brackets the "
            "group's mean answer in SD from all respondents'): " + row["top_items"] + ".",
            title=f"{row['name']} ({int(row['size']):,} respondents, {row['share']:.0%})",
        )


def behaviour(step: PersonasStep) -> None:
    """How each persona buys: the behaviour table, the tests and what they show."""
    res, beh = step.personas, step.behaviour
    if res is None:
        show.explain(LEFT_OUT)
        return
    if beh is None or not beh.available:
        show.explain(beh.reason if beh is not None else "No customer data was given.")
        return
    show.show_table(
        readable_behaviour(beh.table, currency=step.currency),
        caption="Behaviour per persona (means, and shares of each category)",
    )
    if beh.text:
        show.finding(beh.text, title="What the tests show")
    show.for_analysts(
        "the tests",
        show.table_html(
            readable_behaviour_tests(beh.tests),
            caption="Do the personas differ? One test per comparison (p-values Holm-adjusted)",
            labels={"p (Holm-adjusted)": "p (Holm-adjusted)"},
        ),
        show.text_html(
            "Numbers: Kruskal-Wallis test of the personas' distributions (epsilon-squared as "
            "effect size); categories and yes/no: chi-square test of independence (Cramér's V). "
            "With many respondents a small difference can be significant: read the effect size "
            "next to the p-value."
        ),
    )


def projection(step: PersonasStep) -> None:
    """A map of respondents in two dimensions, coloured by persona (for orientation)."""
    res = step.personas
    if res is None:
        return
    fig, ax = _figure((8, 6))
    plots.projection_plot(res, ax=ax)
    show.figure(fig, alt=projection_alt(res))
    show.explain(
        "A map of respondents in two dimensions (principal components of their answers), "
        "coloured by persona, for orientation: groups that overlap here can still differ on "
        "constructs the map flattens."
    )


def survey_quality(step: PersonasStep) -> None:
    """Reliability of each construct, who was left out and why, where the model is."""
    res = step.personas
    if res is None:
        show.explain(LEFT_OUT)
        return
    caveat = reliability_warning(res.reliability)
    if caveat:
        show.warning(caveat)
    reliable = reliability_text(res.reliability)
    if reliable:
        show.explain(reliable)
    left_out = res.excluded[res.excluded > 0]
    if len(left_out):
        show.show_table(
            left_out.rename("respondents").reset_index(),
            caption="Respondents left out, and why",
            formats={"respondents": "count"},
        )
    else:
        show.explain(
            "No respondent was left out (consent and the share of answered items were checked)."
        )
    if step.consent_source != "none" and res.excluded.get(REASON_CONSENT, 0):
        show.explain(
            "Respondents without profiling consent on record (including respondents who are not "
            "in the customers table) count as not consenting and are left out."
        )
    parts = [
        show.table_html(
            readable_reliability(res.reliability),
            caption="Reliability of each construct",
            labels={"construct": "Construct"},
        ),
        show.text_html(grouping_text(res, _model_file_name())),
    ]
    if step.consent_source == "none":  # names the column a data owner would add
        parts.append(
            show.text_html(
                "Neither the customers nor the survey table has a profiling_consent column, so "
                "no respondent was left out for consent."
            )
        )
    if res.unused_columns:
        parts.append(show.text_html(unused_columns_note(res.unused_columns)))
    show.for_analysts("reliability, missing answers and the saved model", *parts)
