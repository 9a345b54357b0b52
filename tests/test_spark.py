"""engine: pyspark computes the same results as DuckDB on the same data.

One local Spark session (2 cores) serves the module. The fixture is a small demo CRM plus
hand-made edge cases (same-day orders, a same-day return, a zero amount, orders after the
analysis date and on its last minute), written as CSV and Parquet files and as a folder of
Parquet parts that only Spark reads (a ``uri`` source). The oracle is the DuckDB engine on the
same files: RFM features, the customer 360 and a rule segment must be equal.
"""

from __future__ import annotations

from pathlib import Path
from typing import Any

import ibis
import pandas as pd
import pyarrow as pa
import pyarrow.parquet as pq
import pytest

from segwork import customers, demo, engines, rfm, rules
from segwork.config import ConfigError, parse_config
from segwork.schema import SchemaError
from segwork.sources import Tables, load_tables

pytestmark = [
    pytest.mark.spark,
    # PySpark 4.0's pandas conversion passes copy=False, which pandas 3 deprecates
    pytest.mark.filterwarnings("ignore:The copy keyword is deprecated"),
]

ANALYSIS_DATE = "2026-09-30"
SPARK = {
    "spark.master": "local[2]",
    "spark.sql.shuffle.partitions": 4,
    "spark.ui.enabled": False,
    "spark.driver.memory": "1g",
}
ROOT = Path(__file__).resolve().parents[1]


@pytest.fixture(scope="module")
def session() -> Any:
    pytest.importorskip("pyspark")
    s = engines.spark_session(SPARK)
    yield s
    s.stop()


def _edge_orders() -> pd.DataFrame:
    """Orders of two hand-made customers that hit the edges of the RFM rules."""
    rows = [
        ("E-1", "EDGE1", "2026-09-01 09:00", 100.0),  # two orders on one day ...
        ("E-2", "EDGE1", "2026-09-01 17:30", 50.0),
        ("E-3", "EDGE1", "2026-09-01 18:00", -30.0),  # ... and a return booked that day
        ("E-4", "EDGE1", "2026-06-15 12:00", 0.0),  # a zero amount
        ("E-5", "EDGE1", "2026-09-30 23:59", 80.0),  # the last minute of the analysis date
        ("E-6", "EDGE1", "2026-10-01 00:00", 999.0),  # after the analysis date: ignored
        ("E-7", "EDGE2", "2025-11-11 10:00", 20.0),
        ("E-8", "EDGE2", "2025-11-11 10:00", -20.0),  # fully returned the same day
        ("E-9", "EDGE2", "2026-03-03 08:00", 45.5),
    ]
    df = pd.DataFrame(rows, columns=["order_id", "customer_id", "order_date", "amount"])
    return df.assign(order_date=pd.to_datetime(df["order_date"]).astype("datetime64[us]"))


@pytest.fixture(scope="module")
def crm(tmp_path_factory: pytest.TempPathFactory) -> Path:
    """The fixture CRM as files: CSV, Parquet and a folder of Parquet parts."""
    folder = tmp_path_factory.mktemp("crm")
    data = demo.generate(250, seed=7, analysis_date=ANALYSIS_DATE)
    edge_customers = data.customers.iloc[:2].assign(customer_id=["EDGE1", "EDGE2"])
    cust = pd.concat([data.customers, edge_customers], ignore_index=True)
    cust.to_csv(folder / "customers.csv", index=False)
    cust.to_parquet(folder / "customers.parquet", index=False)
    orders = pd.concat(
        [data.orders[["order_id", "customer_id", "order_date", "amount"]], _edge_orders()],
        ignore_index=True,
    )
    orders.to_parquet(folder / "orders.parquet", index=False)
    orders.to_csv(folder / "orders.csv", index=False)
    parts = folder / "orders_parts"  # what a cluster job leaves behind: several part files
    parts.mkdir()
    for i, chunk in enumerate(range(0, len(orders), len(orders) // 3 + 1)):
        pq.write_table(
            pa.Table.from_pandas(orders.iloc[chunk : chunk + len(orders) // 3 + 1]),
            parts / f"part-{i:05d}.parquet",
        )
    data.interactions.to_parquet(folder / "interactions.parquet", index=False)
    data.interactions.to_csv(folder / "interactions.csv", index=False)
    return folder


def _config(folder: Path, engine: str, sources: dict[str, Any], **extra: Any) -> Any:
    data: dict[str, Any] = {"analysis_date": ANALYSIS_DATE, "engine": engine, "sources": sources}
    if engine == "pyspark":
        data["spark"] = SPARK
    return parse_config({**data, **extra}, base_dir=folder)


def _path_sources() -> dict[str, Any]:
    return {
        "customers": {"path": "customers.parquet"},
        "orders": {"path": "orders.parquet"},
        "interactions": {"path": "interactions.parquet"},
    }


@pytest.fixture(scope="module")
def duck(crm: Path) -> Tables:
    return load_tables(_config(crm, "duckdb", _path_sources()))


@pytest.fixture(scope="module")
def spark_path(crm: Path, session: Any) -> Tables:
    """engine: pyspark with path sources (validated by DuckDB, staged for Spark)."""
    return load_tables(_config(crm, "pyspark", _path_sources()))


@pytest.fixture(scope="module")
def spark_uri(crm: Path, session: Any) -> Tables:
    """engine: pyspark with uri sources that Spark reads and validates itself."""
    sources = {
        "customers": {"uri": (crm / "customers.parquet").as_uri()},
        "orders": {"uri": "orders_parts"},  # relative: resolved against the config folder
        "interactions": {"uri": (crm / "interactions.csv").as_uri(), "format": "csv"},
    }
    return load_tables(_config(crm, "pyspark", sources))


def _same(left: pd.DataFrame, right: pd.DataFrame) -> None:
    """Equal frames up to row order and the time unit of datetimes (Spark: ns, DuckDB: us)."""

    def norm(df: pd.DataFrame) -> pd.DataFrame:
        df = df.sort_index()
        for c in df.columns:
            if pd.api.types.is_datetime64_any_dtype(df[c]):
                df[c] = df[c].astype("datetime64[us]")
        return df

    pd.testing.assert_frame_equal(norm(left), norm(right), check_exact=False, rtol=1e-12)


def test_history_tables_live_on_spark(duck: Tables, spark_path: Tables, spark_uri: Tables) -> None:
    assert duck.con.name == "duckdb"
    for tables in (spark_path, spark_uri):
        assert tables.con.name == "pyspark"
        assert tables.orders.get_backend().name == "pyspark"
        assert tables.interactions.get_backend().name == "pyspark"
        assert isinstance(tables.customers, pd.DataFrame)
    pd.testing.assert_frame_equal(  # per-customer tables: the same pandas frame from either reader
        spark_uri.customers.sort_values("customer_id", ignore_index=True),
        duck.customers.sort_values("customer_id", ignore_index=True),
    )
    # the uri reader validated and counted like the DuckDB one
    assert spark_uri.report.tables["orders"].rows_kept == duck.report.tables["orders"].rows_kept
    issues = ["table", "column", "problem", "count", "action"]
    pd.testing.assert_frame_equal(
        spark_uri.report.issues_frame()[issues], duck.report.issues_frame()[issues]
    )
    assert (duck.report.issues_frame()["problem"].str.startswith("returns")).any()


@pytest.mark.parametrize("convention", ["classic", "clv"])
def test_rfm_features_equal(
    duck: Tables, spark_uri: Tables, spark_path: Tables, convention: str
) -> None:
    expected = rfm.features(duck.orders, analysis_date=ANALYSIS_DATE, convention=convention)
    got = rfm.features(spark_uri.orders, analysis_date=ANALYSIS_DATE, convention=convention)
    _same(got, expected)
    assert got.attrs == expected.attrs
    assert got.attrs["orders_after_analysis_date"] >= 1  # the edge order E-6 was seen and left out
    if convention == "classic":
        # the edge customer: 4 purchase orders in the window (E-1, E-2, E-5 and the free E-4), net 200
        assert got.loc["EDGE1", "frequency"] == 4
        assert got.loc["EDGE1", "monetary"] == pytest.approx(200.0)
        assert got.loc["EDGE1", "recency"] == 0
        weekly = rfm.features(
            spark_path.orders, analysis_date=ANALYSIS_DATE, time_unit="W", window_days=365
        )
        _same(
            weekly,
            rfm.features(duck.orders, analysis_date=ANALYSIS_DATE, time_unit="W", window_days=365),
        )


def test_customer360_equal(duck: Tables, spark_path: Tables, spark_uri: Tables) -> None:
    expected = customers.build_customer360(
        duck.customers, duck.orders, analysis_date=ANALYSIS_DATE, interactions=duck.interactions
    )
    for tables in (spark_path, spark_uri):
        got = customers.build_customer360(
            tables.customers,
            tables.orders,
            analysis_date=ANALYSIS_DATE,
            interactions=tables.interactions,
        )
        _same(got, expected)
    assert expected["orders_total"].sum() > 500  # the fixture has real history in it
    assert expected.loc["EDGE1", "orders_total"] == 4  # the free order (E-4) is a purchase too


MIXED_RULE = (  # one of each kind of condition, with missing values (aov is NaN without orders)
    '(city icontains "br" or aov between 100 and 2000.5) and not email_opt_in '
    'or birth_date after date("1980-01-01") and customer_type in ["B2B"] '
    "or last_order_date older than 1 year or email is missing"
)


def test_rule_segments_equal(duck: Tables, spark_uri: Tables) -> None:
    """Rule segments on the Spark-built customer table, compiled to Spark SQL, equal pandas'."""
    saved = rules.load_rules((ROOT / "configs" / "demo_segments.yaml").read_text("utf-8"))
    loyal = saved["Loyal buyers"].rule  # last_order_date within 6 months and orders_365d >= 3
    mixed = rules.parse(MIXED_RULE)
    c360_duck = customers.build_customer360(
        duck.customers, duck.orders, analysis_date=ANALYSIS_DATE
    )
    c360_spark = customers.build_customer360(
        spark_uri.customers, spark_uri.orders, analysis_date=ANALYSIS_DATE
    ).reset_index()
    used = sorted({*loyal.columns, *mixed.columns})
    table = ibis.memtable(c360_spark[["customer_id", *used]])
    flags = spark_uri.con.to_pandas(
        table.select(
            "customer_id",
            loyal=loyal.to_ibis(table, today=ANALYSIS_DATE),
            mixed=mixed.to_ibis(table, today=ANALYSIS_DATE),
        )
    ).set_index("customer_id")
    for name, rule in (("loyal", loyal), ("mixed", mixed)):
        expected = set(c360_duck.index[rule.mask(c360_duck, today=ANALYSIS_DATE)])
        assert 10 < len(expected) < len(c360_duck)  # a real segment: neither empty nor everyone
        assert set(flags.index[flags[name]]) == expected, name


def test_uri_validation_matches_duckdb(crm: Path, session: Any, tmp_path: Path) -> None:
    """Bad rows in a uri source are found, named and dropped as DuckDB does for the same file."""
    orders = pd.read_csv(crm / "orders.csv", dtype=str).head(200)
    bad = pd.DataFrame(
        {
            "order_id": ["X1", "X2", orders["order_id"].iloc[0], "X4"],
            "customer_id": ["NOBODY", orders["customer_id"].iloc[0], "EDGE1", "EDGE1"],
            "order_date": ["2026-01-01", "2026-01-02", "2026-01-03", "someday"],
            "amount": ["10", "12,50 CZK", "5", "7"],
        }
    )
    pd.concat([orders, bad]).to_csv(tmp_path / "orders.csv", index=False)
    (tmp_path / "customers.csv").write_bytes((crm / "customers.csv").read_bytes())
    uri = {"uri": (tmp_path / "orders.csv").as_uri(), "format": "csv"}

    with pytest.raises(SchemaError) as err:
        load_tables(
            _config(tmp_path, "pyspark", {"customers": {"path": "customers.csv"}, "orders": uri})
        )
    text = str(err.value)
    assert "table 'orders'" in text
    assert "'12,50 CZK'" in text and "'someday'" in text  # examples of unreadable values
    assert "'NOBODY'" in text and "key order_id is not unique" in text
    assert "invalid_rows: drop" in text  # the fix

    def loaded(engine: str, orders_src: dict[str, Any]) -> Tables:
        src = {
            "customers": {"path": "customers.csv"},
            "orders": {**orders_src, "invalid_rows": "drop"},
        }
        return load_tables(_config(tmp_path, engine, src))

    on_spark = loaded("pyspark", uri)
    on_duck = loaded("duckdb", {"path": "orders.csv"})
    cols = ["table", "column", "problem", "count", "action"]
    pd.testing.assert_frame_equal(
        on_spark.report.issues_frame()[cols], on_duck.report.issues_frame()[cols]
    )
    assert on_spark.report.tables["orders"].rows_kept == len(orders)  # the 4 bad rows dropped
    assert on_duck.report.tables["orders"].rows_kept == len(orders)
    ids = set(on_spark.orders.select("order_id").to_pandas()["order_id"])
    assert not ids & {"X1", "X2", "X4"}


def test_spark_settings_are_passed_through(crm: Path, session: Any) -> None:
    cfg = _config(crm, "pyspark", _path_sources())
    cfg = cfg.model_copy(update={"spark": {**SPARK, "spark.sql.shuffle.partitions": 3}})
    con = engines.connect(cfg)
    assert con._session.conf.get("spark.sql.shuffle.partitions") == "3"
    assert con._session.conf.get("spark.sql.session.timeZone") == "UTC"
    assert con._session.conf.get("spark.sql.execution.arrow.pyspark.enabled") == "true"
    assert con._session.sparkContext.master == "local[2]"
    session.conf.set("spark.sql.shuffle.partitions", "4")


def test_spark_defaults_only_where_unset() -> None:
    local = engines.spark_settings({"spark.ui.enabled": True})
    assert local["spark.master"] == "local[*]"
    assert local["spark.ui.enabled"] == "true"  # the user's value wins
    assert local["spark.driver.bindAddress"] == "127.0.0.1"
    cluster = engines.spark_settings({"spark.master": "yarn", "spark.executor.memory": "8g"})
    assert cluster["spark.executor.memory"] == "8g"
    assert "spark.ui.enabled" not in cluster and "spark.driver.host" not in cluster
    assert cluster["spark.sql.session.timeZone"] == "UTC"


def test_bad_spark_settings_are_config_errors(crm: Path, session: Any) -> None:
    with pytest.raises(ConfigError, match=r"spark\..*'executor.memory'"):
        _config(crm, "duckdb", _path_sources(), spark={"executor.memory": "1g"})
    with pytest.raises(ConfigError, match="executor.memory"):
        engines.spark_settings({"executor.memory": "1g"})
    cfg = _config(crm, "pyspark", _path_sources())
    cfg = cfg.model_copy(update={"spark": {**SPARK, "spark.sql.shuffle.partitions": "many"}})
    with pytest.raises(ConfigError, match=r"spark\.sql\.shuffle\.partitions.*'many'"):
        engines.connect(cfg)
    assert session.conf.get("spark.sql.shuffle.partitions") == "4"


def test_uri_needs_engine_pyspark(crm: Path) -> None:
    with pytest.raises(ConfigError, match="engine: pyspark"):
        _config(crm, "duckdb", {**_path_sources(), "orders": {"uri": "orders_parts"}})


def test_duckdb_settings_applied_and_checked() -> None:
    con = engines.duckdb_backend(
        {"threads": 1, "memory_limit": "500MB", "preserve_insertion_order": False}
    )
    raw = con.con
    assert raw.execute("SELECT current_setting('threads')").fetchone()[0] == 1
    assert raw.execute("SELECT current_setting('preserve_insertion_order')").fetchone()[0] is False
    with pytest.raises(ConfigError, match=r"duckdb\.memory_limt.*memory_limit"):
        engines.duckdb_backend({"memory_limt": "1GB"})
    with pytest.raises(ConfigError, match=r"duckdb\.memory_limit"):
        engines.duckdb_backend({"memory_limit": "lots'; DROP TABLE x; --"})


def test_validated_tables_go_through_the_run_catalog_on_spark(
    crm: Path, session: Any, duck: Tables, tmp_path: Path
) -> None:
    """The run writes Spark's validated tables once (Spark writes them) and every notebook reads
    them back on Spark: the same rows as DuckDB's, the same report."""
    from segwork.catalog import Catalog

    uri_sources = {
        "customers": {"uri": (crm / "customers.parquet").as_uri()},
        "orders": {"uri": "orders_parts"},
        "interactions": {"uri": (crm / "interactions.csv").as_uri(), "format": "csv"},
    }
    fresh = [  # loaded here: Spark's lazy tables of the module fixtures see later tests' views
        load_tables(_config(crm, "pyspark", _path_sources())),
        load_tables(_config(crm, "pyspark", uri_sources)),
    ]
    for i, tables in enumerate(fresh):
        cat = Catalog(tmp_path / f"run{i}")
        cat.save_tables(tables)
        back = cat.load_tables(tables.con)
        assert back.report == tables.report
        assert back.orders.get_backend().name == "pyspark"
        pd.testing.assert_frame_equal(back.customers, tables.customers)
        for name in ("orders", "interactions"):
            key = "order_id" if name == "orders" else ["customer_id", "occurred_at", "kind"]
            _same(
                getattr(back, name).to_pandas().sort_values(key).reset_index(drop=True),
                getattr(duck, name).to_pandas().sort_values(key).reset_index(drop=True),
            )
