"""PostgreSQL as a source and as the place segment memberships go, against a real server.

A server is started from the machine's PostgreSQL binaries (tests/pg_server.py) on a local port;
the password exists only in the environment variable the configs name. The demo CRM is loaded
into it, the pipeline runs from it, and the memberships come back as a table.
"""

from __future__ import annotations

import json
import os
from pathlib import Path

import pandas as pd
import pytest
import sqlalchemy as sa
import yaml
from nbformat.v4 import new_code_cell

from segwork import actions, pipeline, sources, warehouse
from segwork.config import TableSink, load_config
from segwork.demo import write_demo
from segwork.schema import SchemaError
from tests import pg_server
from tests.test_pipeline import _notebook, _params_cell

ROOT = Path(__file__).parents[1]
pytestmark = pytest.mark.postgres
DB_TABLES = ("customers", "orders", "interactions")


@pytest.fixture(scope="module")
def pg():
    try:
        server = pg_server.start()
    except FileNotFoundError as e:  # a failure, not a skip: a green run must have run these
        pytest.fail(
            f"{e}. Fix: make system-deps installs PostgreSQL, or leave these tests out with "
            "make test PYTEST_ARGS='-m \"not postgres\"'"
        )
    old = os.environ.get(pg_server.PASSWORD_ENV)
    os.environ[pg_server.PASSWORD_ENV] = server.password
    eng = warehouse.engine(server.resolved_url())
    with eng.connect().execution_options(isolation_level="AUTOCOMMIT") as conn:
        conn.execute(sa.text("CREATE DATABASE crm"))
    eng.dispose()
    yield server
    if old is None:
        os.environ.pop(pg_server.PASSWORD_ENV, None)
    else:
        os.environ[pg_server.PASSWORD_ENV] = old
    server.stop()


@pytest.fixture(scope="module")
def demo_in_pg(pg, tmp_path_factory):
    """The demo CRM (1,500 customers) as files, and customers/orders/interactions in PostgreSQL."""
    base = tmp_path_factory.mktemp("pg")
    data = Path(write_demo(base / "data", n_customers=1500, seed=11))
    eng = warehouse.engine(pg.resolved_url("crm"))
    frames = {
        "customers": pd.read_csv(data / "customers.csv", dtype={"customer_id": str}),
        "orders": pd.read_parquet(data / "orders.parquet"),
        "interactions": pd.read_parquet(data / "interactions.parquet"),
    }
    with eng.begin() as conn:
        for name, frame in frames.items():
            frame.to_sql(name, conn, index=False, chunksize=10_000)
    eng.dispose()
    cfg = yaml.safe_load((ROOT / "configs" / "demo.yaml").read_text(encoding="utf-8"))
    for src in cfg["sources"].values():
        src["path"] = str(data / Path(src["path"]).name)
    cfg["analysis_date"] = json.loads((data / "truth" / "truth.json").read_text())["analysis_date"]
    cfg["notebooks_dir"] = str(ROOT / "notebooks")
    (base / "demo_segments.yaml").write_text(
        (ROOT / "configs" / "demo_segments.yaml").read_text(encoding="utf-8"), encoding="utf-8"
    )
    files_cfg = _write(base / "files.yaml", {**cfg, "reports_dir": str(base / "reports-files")})
    db_sources = {
        **cfg["sources"],
        **{t: {"url": pg.url("crm"), "table": t} for t in DB_TABLES},
    }
    db_cfg = _write(
        base / "db.yaml",
        {
            **cfg,
            "sources": db_sources,
            "reports_dir": str(base / "reports-db"),
            "outputs": {"memberships": {"url": pg.url("crm"), "table": "segment_membership"}},
        },
    )
    return base, files_cfg, db_cfg


def _write(path: Path, cfg: dict) -> Path:
    path.write_text(yaml.safe_dump(cfg, allow_unicode=True), encoding="utf-8")
    return path


def _frame(table) -> pd.DataFrame:
    df = table if isinstance(table, pd.DataFrame) else table.execute()
    return df.sort_values(list(df.columns[:2])).reset_index(drop=True)


def test_tables_read_from_postgres_equal_the_files(demo_in_pg) -> None:
    _, files_cfg, db_cfg = demo_in_pg
    from_files = sources.load_tables(load_config(files_cfg))
    from_db = sources.load_tables(load_config(db_cfg))
    for name in DB_TABLES:
        a, b = _frame(getattr(from_files, name)), _frame(getattr(from_db, name))
        assert len(a) > 100, name
        pd.testing.assert_frame_equal(a, b, check_dtype=False, obj=name)


def test_wrong_password_names_the_table_and_hides_the_password(demo_in_pg, monkeypatch) -> None:
    _, _, db_cfg = demo_in_pg
    monkeypatch.setenv(pg_server.PASSWORD_ENV, "not-the-password-4711")
    with pytest.raises(SchemaError) as err:
        sources.load_tables(load_config(db_cfg))
    message = str(err.value)
    assert "customers" in message and "password authentication failed" in message
    assert "not-the-password-4711" not in message


def test_pipeline_runs_from_postgres_and_writes_memberships_back(pg, demo_in_pg) -> None:
    base, _, db_cfg = demo_in_pg
    record = pipeline.run(db_cfg, progress=False)
    assert record.status == "succeeded", [n.error for n in record.notebooks if n.error]
    assert all(i["note"] == "database table (not hashed)" for i in record.inputs[:3])

    wide = pd.read_parquet(record.run_dir / "artifacts" / "segment_membership.parquet")
    expected = actions.membership_long(wide.set_index("customer_id"))
    assert len(expected) > 50
    eng = warehouse.engine(pg.resolved_url("crm"))
    got = pd.read_sql_table("segment_membership", eng)
    eng.dispose()
    assert set(got["run_id"]) == {record.run_id}
    assert (pd.to_datetime(got["analysis_date"]) == pd.Timestamp(record.analysis_date)).all()
    key = ["customer_id", "segment"]
    pd.testing.assert_frame_equal(
        got[key].sort_values(key).reset_index(drop=True),
        expected[key].astype(object).sort_values(key).reset_index(drop=True),
        check_dtype=False,
    )
    run = json.loads((record.run_dir / "run.json").read_text(encoding="utf-8"))
    assert run["outputs"][0]["status"] == "written"
    assert run["outputs"][0]["rows"] == len(expected)
    _assert_password_in_no_file(base / "reports-db", pg.password)


def _assert_password_in_no_file(folder: Path, password: str) -> None:
    files = [p for p in folder.rglob("*") if p.is_file()]
    assert files
    for path in files:
        assert password.encode() not in path.read_bytes(), path


def _members_project(root: Path, url: str, if_exists: str = "replace") -> Path:
    """A one-notebook project whose notebook writes a segment_membership artifact."""
    nbdir = root / "notebooks"
    nbdir.mkdir(parents=True, exist_ok=True)
    nb = _notebook(
        [
            _params_cell('config_path = "../config.yaml"\nrun_dir = ""'),
            new_code_cell(
                "import pandas as pd\n"
                "from segwork.context import RunContext\n"
                "ctx = RunContext.open(config_path, run_dir)\n"
                "ctx.save({'segment_membership': pd.DataFrame({'customer_id': ['1', '2', '3'],"
                " 'vip': [True, False, True], 'lapsed': [False, True, True]})})"
            ),
        ]
    )
    (nbdir / "05_members.ipynb").write_text(json.dumps(nb), encoding="utf-8")
    (root / "customers.csv").write_text("customer_id\n1\n2\n3\n", encoding="utf-8")
    (root / "orders.csv").write_text(
        "order_id,customer_id,order_date,amount\nA,1,2026-01-02,10\n", encoding="utf-8"
    )
    return _write(
        root / "config.yaml",
        {
            "analysis_date": "2026-01-31",
            "sources": {
                "customers": {"path": "customers.csv"},
                "orders": {"path": "orders.csv"},
            },
            "notebooks_dir": "notebooks",
            "reports_dir": "reports",
            "outputs": {"memberships": {"url": url, "table": "m", "if_exists": if_exists}},
        },
    )


def test_failed_write_fails_the_run_and_keeps_latest(pg, tmp_path, monkeypatch) -> None:
    config = _members_project(tmp_path, pg.url())
    good = pipeline.run(config, progress=False)
    assert good.status == "succeeded"
    assert json.loads((good.run_dir / "run.json").read_text())["outputs"][0]["rows"] == 4
    latest = (tmp_path / "reports" / "latest").resolve()

    monkeypatch.setenv(pg_server.PASSWORD_ENV, "wrong-secret-0815")
    bad = pipeline.run(config, progress=False)
    assert bad.status == "failed"
    out = json.loads((bad.run_dir / "run.json").read_text())["outputs"][0]
    assert out["status"] == "failed" and "password authentication failed" in out["error"]
    assert (tmp_path / "reports" / "latest").resolve() == latest
    page = (bad.run_dir / "index.html").read_text(encoding="utf-8")
    assert "writing the segment memberships to postgresql://segwork:***@" in page
    assert "password authentication failed" in str(pipeline.RunFailed(bad))
    _assert_password_in_no_file(tmp_path / "reports", "wrong-secret-0815")
    _assert_password_in_no_file(tmp_path / "reports", pg.password)
    eng = warehouse.engine(pg.resolved_url())
    assert set(pd.read_sql_table("m", eng)["run_id"]) == {good.run_id}  # the old rows stay
    eng.dispose()


@pytest.mark.parametrize("if_exists", ["replace", "append"])
def test_replace_keeps_the_newest_run_append_keeps_each_run_once(pg, if_exists) -> None:
    sink = TableSink(url=pg.url("crm"), table=f"public.members_{if_exists}", if_exists=if_exists)
    long = pd.DataFrame({"customer_id": ["1", "2", "2"], "segment": ["a", "a", "b"]})
    day = pd.Timestamp("2026-01-31").date()
    for run_id in ("run-1", "run-2", "run-2"):  # run-2 written twice: a retry
        rows = warehouse.membership_rows(long, run_id=run_id, analysis_date=day)
        assert warehouse.write_memberships(sink, rows) == 3
    eng = warehouse.engine(pg.resolved_url("crm"))
    got = pd.read_sql_table(f"members_{if_exists}", eng, schema="public")
    eng.dispose()
    expected_runs = {"replace": ["run-2"] * 3, "append": ["run-1"] * 3 + ["run-2"] * 3}
    assert sorted(got["run_id"]) == expected_runs[if_exists]
    assert not got.duplicated(["run_id", "customer_id", "segment"]).any()


def test_existing_table_without_the_columns_is_refused_untouched(pg) -> None:
    eng = warehouse.engine(pg.resolved_url("crm"))
    with eng.begin() as conn:
        conn.execute(sa.text("CREATE TABLE theirs (customer_id text, note text)"))
        conn.execute(sa.text("INSERT INTO theirs VALUES ('1', 'keep me')"))
    sink = TableSink(url=pg.url("crm"), table="theirs")
    rows = warehouse.membership_rows(
        pd.DataFrame({"customer_id": ["9"], "segment": ["a"]}),
        run_id="r",
        analysis_date=pd.Timestamp("2026-01-31").date(),
    )
    with pytest.raises(warehouse.WarehouseError, match="has no column run_id"):
        warehouse.write_memberships(sink, rows)
    assert pd.read_sql_table("theirs", eng)["note"].tolist() == ["keep me"]
    eng.dispose()
