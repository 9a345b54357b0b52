"""A report's digest: its headline finding, three or four key numbers, group sizes, decisions.

The digest is what the run's summary page (``reports/runs/<id>/index.html``) shows for each
report and compares with the previous successful run. Each notebook calls :func:`show` on its
step result: the key numbers appear as tiles on the report, and the same display output carries
the digest in its metadata (``segwork_digest``), where :func:`collect` finds it in the executed
notebook, together with the warnings the page showed (the alerts). The pipeline stores it in
``run.json`` (``notebooks[i]["digest"]``); :mod:`segwork.report` renders it.

Headlines are the pages' own (``pages.<report>.headline...``), never reworded here; every
number is computed from the step result.
"""

from __future__ import annotations

import html
import math
import re
from collections.abc import Iterable, Mapping
from dataclasses import asdict, dataclass, field
from typing import Any, Literal

from segwork.numbers import decimals_for, money, number, pct

Kind = Literal["count", "money", "pct", "number"]
METADATA_KEY = "segwork_digest"
#: Keys of the output metadata that :mod:`segwork.display` attaches to a warning box.
WARNING_KEY = "segwork"

#: The RFM segments of customers who bought often or spent much but have not bought for long
#: (page 02's headline names the same two).
AT_RISK = ("At Risk", "Can't Lose Them")


@dataclass(frozen=True)
class KeyNumber:
    """One number a manager reads at a glance: what it counts and how to write it."""

    key: str  # stable across runs: the summary compares numbers with the same key
    label: str
    value: float | None
    kind: Kind = "number"
    unit: str | None = None  # the currency of a money amount

    def text(self) -> str:
        """The value as the pages write it ('–' when missing)."""
        return format_value(self.value, self.kind, self.unit)


@dataclass
class Digest:
    """What the summary page says about one report."""

    headline: str
    numbers: list[KeyNumber] = field(default_factory=list)
    groups: dict[str, dict[str, int]] = field(default_factory=dict)  # kind -> name -> size
    decisions: dict[str, str] = field(default_factory=dict)  # campaign (and segment) -> decision
    alerts: list[str] = field(default_factory=list)

    def to_dict(self) -> dict[str, Any]:
        """The JSON form (plain str, float, int, list and dict; NaN becomes None)."""
        out = asdict(self)
        for n in out["numbers"]:
            n["value"] = _finite(n["value"])
        out["groups"] = {
            str(k): {str(name): int(size) for name, size in g.items()}
            for k, g in self.groups.items()
        }
        out["decisions"] = {str(k): str(v) for k, v in self.decisions.items()}
        out["alerts"] = [str(a) for a in self.alerts]
        return out

    @classmethod
    def from_dict(cls, data: Mapping[str, Any]) -> Digest:
        """Read back :meth:`to_dict` (missing fields are empty)."""
        return cls(
            headline=str(data.get("headline") or ""),
            numbers=[
                KeyNumber(
                    key=str(n["key"]),
                    label=str(n.get("label", n["key"])),
                    value=_finite(n.get("value")),
                    kind=n.get("kind", "number"),
                    unit=n.get("unit"),
                )
                for n in data.get("numbers") or []
            ],
            groups={
                str(k): {str(name): int(size) for name, size in (g or {}).items()}
                for k, g in (data.get("groups") or {}).items()
            },
            decisions={str(k): str(v) for k, v in (data.get("decisions") or {}).items()},
            alerts=[str(a) for a in data.get("alerts") or []],
        )


def _finite(value: Any) -> float | None:
    if value is None:
        return None
    value = float(value)
    return value if math.isfinite(value) else None


# --------------------------------------------------------------------------------------------
# Formatting (segwork.numbers: the one way numbers are written)
# --------------------------------------------------------------------------------------------
def format_value(value: float | None, kind: str, unit: str | None = None) -> str:
    """A key number as text: counts without decimals, money with its currency, shares in %."""
    if value is None or not math.isfinite(value):
        return "–"
    if kind == "count":
        return f"{value:,.0f}"
    if kind == "money":
        return money(value, unit or "").strip()
    if kind == "pct":
        return pct(value)
    return number(value, min(decimals_for([value]), 2)) + (f" {unit}" if unit else "")


def format_change(new: float, old: float, kind: str, unit: str | None = None) -> str:
    """The change from ``old`` to ``new``, signed: '+1,234 (+5.0%)', '+1.2 M CZK (+3.1%)',
    '+2.1 pp' for a share (percentage points), 'no change'."""
    diff = new - old
    if kind == "pct":
        points = 100 * diff
        return "no change" if round(points, 1) == 0 else f"{number(points, 1, sign=True)} pp"
    if diff == 0:
        return "no change"
    if kind == "count":
        text = f"{diff:+,.0f}"
    elif kind == "money":
        text = ("+" if diff > 0 else "") + money(diff, unit or "").strip()
    else:
        text = number(diff, min(decimals_for([diff]), 2), sign=True)
    if old:
        text += f" ({number(100 * diff / abs(old), 1, sign=True)}%)"
    return text


# --------------------------------------------------------------------------------------------
# The digest of each step result
# --------------------------------------------------------------------------------------------
def digest(result: Any, *, currency: str | None = None) -> Digest:
    """The digest of a step result of :mod:`segwork.steps` (any of the reports).

    ``currency`` names the currency of money amounts when the result does not carry it (the
    RFM/CLV result); the data collection, personas and campaign results know theirs.
    """
    from segwork.steps.campaign_ab import CampaignAbResult
    from segwork.steps.contracts import ContractsResult
    from segwork.steps.data_collection import DataCollectionResult
    from segwork.steps.personas import PersonasStep
    from segwork.steps.rfm_clv import RfmClvResult
    from segwork.steps.rule_segments import RuleSegmentsResult

    makers = {
        DataCollectionResult: _data_collection,
        RfmClvResult: _rfm_clv,
        PersonasStep: _personas,
        CampaignAbResult: _campaign_ab,
        RuleSegmentsResult: _rule_segments,
        ContractsResult: _contracts,
    }
    for kind, make in makers.items():
        if isinstance(result, kind):
            return make(result, currency)
    raise TypeError(
        f"no digest for a {type(result).__name__}: expected the result of one of segwork.steps' "
        "run functions (data_collection, rfm_clv, personas, campaign_ab, rule_segments, "
        "contracts)"
    )


def _data_collection(result: Any, currency: str | None) -> Digest:
    from segwork.pages.data_collection import headline_text

    c360 = result.customer360
    unit = currency or result.currency
    numbers = [KeyNumber("customers", "Customers", len(c360), "count")]
    stats = result.report.tables.get("orders")
    if result.has_orders:
        if stats is not None:
            orders = stats.table_rows if stats.table_rows is not None else stats.rows_kept
            numbers.append(KeyNumber("orders", "Orders", int(orders), "count"))
        days = result.longest_window
        active = int(c360[f"active_{days}d"].sum())
        numbers += [
            KeyNumber(
                f"active_share_{days}d",
                f"Customers who bought in the last {days:,} days",
                active / len(c360) if len(c360) else None,
                "pct",
            ),
            KeyNumber(
                f"revenue_{days}d",
                f"Net revenue, last {days:,} days",
                float(c360[f"revenue_{days}d"].sum()),
                "money",
                unit,
            ),
        ]
    return Digest(headline=headline_text(result), numbers=numbers)


def _rfm_clv(result: Any, currency: str | None) -> Digest:
    from segwork.pages.rfm_clv import result_headline

    kpis = result.kpis.set_index("segment")
    scored = int(kpis["customers"].sum())
    window = f"last {result.window_days:,} days" if result.window_days else "whole history"
    numbers = [
        KeyNumber("scored_customers", "Customers scored", scored, "count"),
        KeyNumber(
            "revenue", f"Net revenue of scored customers, {window}", float(kpis["revenue"].sum()),
            "money", currency,
        ),
    ]  # fmt: skip
    risk = [s for s in AT_RISK if s in kpis.index]
    if risk:
        at_risk = int(kpis.loc[risk, "customers"].sum())
        numbers.append(
            KeyNumber(
                "at_risk_share",
                "Scored customers at risk (" + " and ".join(risk) + ")",
                at_risk / scored if scored else None,
                "pct",
            )
        )
    clv = f"clv_{result.clv_months}m"
    # the model behind CLV (BG/NBD or the lifetime model chosen on the holdout) is trusted
    untrusted = getattr(result, "lifetime_untrusted", result.bgnbd_untrusted)
    if clv in result.table and not (result.spend_untrusted or untrusted):
        numbers.append(
            KeyNumber(
                clv,
                f"Predicted value of the next {result.clv_months} months",
                float(result.table[clv].sum()),
                "money",
                currency,
            )
        )
    groups = {"RFM segment": {str(s): int(n) for s, n in kpis["customers"].items()}}
    return Digest(headline=result_headline(result), numbers=numbers, groups=groups)


def _personas(result: Any, currency: str | None) -> Digest:
    from segwork.pages.personas import headline

    res = result.personas
    if res is None:  # page 03's own words (pages.personas.overview)
        return Digest(
            headline="No personas could be formed from this survey: " + str(result.not_fitted)
        )
    profiles = res.profiles
    largest = profiles.sort_values("size", ascending=False).iloc[0]
    numbers = [
        KeyNumber("respondents", "Survey respondents grouped", res.n_respondents, "count"),
        KeyNumber("personas", "Personas", res.k, "count"),
        KeyNumber(
            "largest_persona_share",
            f"Largest persona ({largest['name']})",
            float(largest["size"]) / float(profiles["size"].sum()),
            "pct",
        ),
    ]
    groups = {"Persona": {str(r["name"]): int(r["size"]) for _, r in profiles.iterrows()}}
    return Digest(headline=headline(res), numbers=numbers, groups=groups)


def campaign_sizes(result: Any) -> dict[str, int]:
    """Customers in each campaign's test (control and every variant, on the decision metric)."""
    t = result.overall.table
    t = t[t["metric"] == result.decide_metric]
    return {
        str(camp): int(g["n_control"].iloc[0] + g["n_variant"].sum())
        for camp, g in t.groupby("campaign_id", sort=False)
    }


def decision_texts(decisions: Any) -> dict[str, str]:
    """Per campaign (and, when decided per segment, per target) the decision and its variant."""
    out = {}
    for _, r in decisions.iterrows():
        key = str(r["campaign_id"])
        if r["scope"] != "whole campaign":
            key += f" · {r['target']}"
        out[key] = f"{r['decision']} ({r['variant']})"
    return out


def _campaign_ab(result: Any, currency: str | None) -> Digest:
    from segwork.pages.campaign_ab import headline

    d = result.decisions
    by_campaign = d.groupby("campaign_id", sort=False)["decision"]
    numbers = [
        KeyNumber("campaigns", "Campaigns tested", d["campaign_id"].nunique(), "count"),
        KeyNumber(
            "customers_tested", "Customers in the tests", sum(campaign_sizes(result).values()),
            "count",
        ),
        KeyNumber(
            "campaigns_roll_out", "Campaigns with a variant to roll out",
            int(by_campaign.apply(lambda s: (s == "roll out").any()).sum()), "count",
        ),
        KeyNumber(
            "campaigns_keep_testing", "Campaigns to keep testing",
            int(by_campaign.apply(lambda s: (s == "keep testing").any()).sum()), "count",
        ),
    ]  # fmt: skip
    running = result.running_campaigns
    if len(running):
        numbers.append(
            KeyNumber(
                "running_stopped", f"Running campaigns stopped (of {len(running)})",
                int((running["campaign_decision"] != "keep running").sum()), "count",
            )
        )  # fmt: skip
    return Digest(
        headline=headline(result.overall, d), numbers=numbers, decisions=decision_texts(d)
    )


def rule_segments_headline(result: Any) -> str:
    """Page 05's finding of the result (``pages.rule_segments.result_headline``)."""
    from segwork.pages.rule_segments import result_headline

    return result_headline(result)


def _rule_segments(result: Any, currency: str | None) -> Digest:
    kpis, lists = result.kpis, result.lists
    members = result.members.fillna(False).astype(bool)
    numbers = [
        KeyNumber("segments", "Saved segments evaluated", len(kpis), "count"),
        KeyNumber(
            "customers_in_segments",
            "Customers in at least one segment",
            int(members.any(axis=1).sum()),
            "count",
        ),
    ]
    if "entered" in kpis:
        numbers.append(KeyNumber("entries", "Segment entries", int(kpis["entered"].sum()), "count"))
    numbers.append(
        KeyNumber(
            "actions",
            "Actions issued (tasks, emails, calls)",
            len(lists.tasks) + len(lists.emails) + len(lists.calls),
            "count",
        )
    )
    groups = {"Rule segment": {str(r["segment"]): int(r["members"]) for _, r in kpis.iterrows()}}
    return Digest(headline=rule_segments_headline(result), numbers=numbers, groups=groups)


# --------------------------------------------------------------------------------------------
# In the notebook: the tiles, carrying the digest
# --------------------------------------------------------------------------------------------
_TILES = "display:flex;flex-wrap:wrap;gap:10px;margin:10px 0 18px 0"
_TILE = (
    "flex:1 1 170px;max-width:260px;border:1px solid #d0d7de;border-radius:6px;padding:8px 12px;"
    "background:#f6f8fa;break-inside:avoid;page-break-inside:avoid"
)


def _contracts(result: Any, currency: str | None) -> Digest:
    from segwork.pages.contracts import headline_text
    from segwork.steps.contracts import ALL

    n = len(result.durations)
    churned = int(result.durations["churned"].sum())
    numbers = [
        KeyNumber("contracts", "Contracts", n, "count"),
        KeyNumber("churned_share", "Ended", churned / n if n else None, "pct"),
    ]
    overall = result.fits[ALL]
    if overall.model is not None and math.isfinite(overall.value_per_active):
        numbers.append(
            KeyNumber(
                "value_per_active",
                "Value of an active contract",
                overall.value_per_active,
                "money",
                currency,
            )
        )
    groups = {"Plan": {f.group: f.contracts for f in result.plan_fits}} if result.plan_fits else {}
    return Digest(
        headline=headline_text(result, currency=currency or ""), numbers=numbers, groups=groups
    )


def tiles_html(d: Digest) -> str:
    """The key numbers as tiles: value large, label under it (escaped; no script needed)."""
    tiles = "".join(
        f"<div class='segwork-tile' style='{_TILE}'>"
        f"<div style='font-size:1.5em;font-weight:600;color:#1f2328'>{html.escape(n.text())}</div>"
        f"<div style='color:#57606a;font-size:0.9em'>{html.escape(n.label)}</div></div>"
        for n in d.numbers
    )
    return (
        f"<div class='segwork-tiles' role='group' aria-label='Key numbers' style='{_TILES}'>"
        f"{tiles}</div>"
    )


def show(result: Any, *, currency: str | None = None) -> None:
    """Show the result's key numbers as tiles; the output's metadata carries the digest.

    Returns nothing, so the last line of a notebook cell adds no second output.
    """
    from IPython.display import HTML, display

    d = digest(result, currency=currency)
    display(HTML(tiles_html(d)), metadata={METADATA_KEY: d.to_dict()})


# --------------------------------------------------------------------------------------------
# From the executed notebook
# --------------------------------------------------------------------------------------------
def _warning_style() -> str:
    from segwork.display import _STYLE

    return _STYLE["warning"]


def _alerts_from_html(markup: str) -> list[str]:
    """Warning boxes of :func:`segwork.display.warning` found in an HTML output (for notebooks
    executed before warnings carried their metadata)."""
    style = re.escape(_warning_style())
    out = []
    for m in re.finditer(rf"<div style='{style}'><strong>(.*?)</strong>(.*?)</div>", markup, re.S):
        paragraphs = re.findall(r"<p[^>]*>(.*?)</p>", m.group(2), re.S)
        text = " ".join(html.unescape(p).strip() for p in paragraphs)
        out.append(_alert(html.unescape(m.group(1)), text))
    return out


def _alert(title: str, text: str) -> str:
    title, text = " ".join(str(title).split()), " ".join(str(text).split())
    return f"{title}: {text}" if title and text else title or text


def _outputs(nb: Any) -> Iterable[Mapping[str, Any]]:
    for cell in nb.get("cells", []):
        if cell.get("cell_type") == "code":
            yield from cell.get("outputs", [])


def collect(nb: Any) -> dict[str, Any] | None:
    """The digest of an executed notebook (``to_dict`` form), with ``alerts`` completed by the
    warnings the page showed; None when the notebook showed no digest and no warning.

    Warnings are read from their output metadata (``{"segwork": {"kind": "warning", "title",
    "text"}}``) or, without it, from the warning box's HTML. Alerts are listed once each, in
    the order the page shows them (the digest's own first).
    """
    found: dict[str, Any] | None = None
    alerts: list[str] = []
    for out in _outputs(nb):
        meta = out.get("metadata") or {}
        if METADATA_KEY in meta and found is None:
            found = Digest.from_dict(meta[METADATA_KEY]).to_dict()
        seen = meta.get(WARNING_KEY)
        if isinstance(seen, Mapping) and seen.get("kind") == "warning":
            alerts.append(_alert(seen.get("title", ""), seen.get("text", "")))
            continue
        markup = (out.get("data") or {}).get("text/html")
        if markup:
            alerts += _alerts_from_html("".join(markup) if isinstance(markup, list) else markup)
    if found is None and not alerts:
        return None
    found = found if found is not None else Digest(headline="").to_dict()
    found["alerts"] = list(dict.fromkeys(a for a in found["alerts"] + alerts if a))
    return found
