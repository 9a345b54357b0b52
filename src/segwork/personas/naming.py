"""Persona names and descriptions in the item catalogue's own words."""

from __future__ import annotations

import pandas as pd


def construct_label(construct: str) -> str:
    """A construct's name as the catalogue gives it, for text: 'price_sensitivity' -> 'price sensitivity'."""
    return str(construct).replace("_", " ").strip()


def persona_names(construct_z: pd.DataFrame, *, min_z: float = 0.5) -> tuple[list[str], list[str]]:
    """A unique name and a description per cluster, in the catalogue's words, from construct z-scores.

    A construct sets a cluster apart when ``|z| >= min_z`` (standard deviations from all
    respondents). The name says which construct does so most and in which direction ("High
    Neuroticism", "Low price sensitivity"); when another cluster already has that name the next
    distinguishing constructs are added ("High Neuroticism, low Extraversion"), then a number.
    A cluster with no such construct is "Near average on every construct". The description
    states the z-scores of up to three distinguishing constructs and which constructs are near
    the average (``|z| < 0.25``). Nothing is said that the data do not show: the words are the
    construct names of the item catalogue, the numbers are the cluster's.
    """
    names, descs, used = [], [], set()
    for _, row in construct_z.iterrows():
        order = row.abs().sort_values(ascending=False, kind="stable")
        top = [c for c in order.index if abs(row[c]) >= min_z][:3]
        parts = [f"{'high' if row[c] > 0 else 'low'} {construct_label(c)}" for c in top]
        if not parts:
            candidates = ["Near average on every construct"]
        else:
            candidates = [", ".join(parts[: i + 1]) for i in range(len(parts))]
            candidates = [c[0].upper() + c[1:] for c in candidates]
        name = next((c for c in candidates if c not in used), None)
        n = 2
        while name is None or name in used:
            name = f"{candidates[0]} ({n})"
            n += 1
        used.add(name)
        names.append(name)
        if not top:
            descs.append(
                f"No construct sets this group apart: on every construct its mean is within "
                f"{min_z:g} standard deviations of all respondents' mean."
            )
            continue
        above = [f"{construct_label(c)} ({row[c]:+.1f} SD)" for c in top if row[c] > 0]
        below = [f"{construct_label(c)} ({row[c]:+.1f} SD)" for c in top if row[c] < 0]
        bits = []
        if above:
            bits.append("higher than the average respondent on " + " and ".join(above))
        if below:
            bits.append(
                "lower on " + " and ".join(below)
                if above
                else "lower than the average respondent on " + " and ".join(below)
            )
        text = "; ".join(bits)
        text = text[0].upper() + text[1:]
        # the other constructs on which the group is not average either: without them a group
        # above average on everything would read as above average on its top constructs only
        rest = [c for c in order.index if c not in top and abs(row[c]) >= 0.25]
        also = []
        for sign, word in ((1, "higher"), (-1, "lower")):
            cs = [f"{construct_label(c)} ({row[c]:+.1f} SD)" for c in rest if sign * row[c] > 0]
            if cs:
                also.append(
                    f"{word} on " + (", ".join(cs[:-1]) + " and " if len(cs) > 1 else "") + cs[-1]
                )
        if also:
            text += ". Also " + "; also ".join(also)
        flat = [c for c in order.index if abs(row[c]) < 0.25]
        if flat:
            text += ". Near the average on " + ", ".join(construct_label(c) for c in flat[:3])
        descs.append(text + ".")
    return names, descs
