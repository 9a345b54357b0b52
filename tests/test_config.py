"""The run config: unknown keys, wrong types and missing files are errors that name the key."""

from __future__ import annotations

import codecs
import re
import time
from datetime import date
from pathlib import Path

import pytest
import yaml

from segwork.config import ConfigError, load_config, parse_config, redact_url
from tests.conftest import write_config


def test_valid_config_resolves_paths_against_its_folder(tiny_config: Path) -> None:
    cfg = load_config(tiny_config)
    assert cfg.analysis_date == date(2025, 6, 30)
    assert cfg.source_path("orders") == (tiny_config.parent / "orders.csv").resolve()
    assert cfg.sources.orders.kind == "csv"
    assert [t for t, _ in cfg.sources.items()] == ["customers", "orders", "interactions"]


def test_demo_config_is_valid_without_data() -> None:
    cfg = load_config(Path(__file__).parents[1] / "configs" / "demo.yaml", check_files=False)
    assert cfg.notebooks_path.name == "notebooks"
    assert cfg.sources.campaign_exposures is not None


def test_unknown_key_is_named_with_a_suggestion(tiny_crm: Path) -> None:
    path = write_config(
        tiny_crm,
        {"customers": {"path": "customers.csv"}, "orders": {"path": "orders.csv"}},
        analysis_dat="2025-01-01",
    )
    with pytest.raises(
        ConfigError, match=r"analysis_dat: unknown key; did you mean 'analysis_date'"
    ):
        load_config(path)


def test_unknown_nested_key_names_its_path(tiny_crm: Path) -> None:
    path = write_config(
        tiny_crm,
        {"customers": {"path": "customers.csv"}, "orders": {"path": "orders.csv", "colums": {}}},
    )
    with pytest.raises(
        ConfigError, match=r"sources\.orders\.colums: unknown key; did you mean 'columns'"
    ):
        load_config(path)


def test_wrong_type_and_bad_date_name_the_key(tiny_crm: Path) -> None:
    path = write_config(
        tiny_crm, {"customers": {"path": "customers.csv"}, "orders": {"path": "orders.csv"}}
    )
    data = yaml.safe_load(path.read_text())
    data["analysis_date"] = "30.06.2025"
    data["sources"]["orders"]["invalid_rows"] = "ignore"
    with pytest.raises(ConfigError) as err:
        parse_config(data, base_dir=tiny_crm)
    assert "analysis_date: not a date in YYYY-MM-DD form" in str(err.value)
    assert "sources.orders.invalid_rows" in str(err.value)


def test_missing_required_key(tiny_crm: Path) -> None:
    with pytest.raises(ConfigError, match=r"sources: required key is missing"):
        parse_config({"analysis_date": "2025-01-01"}, base_dir=tiny_crm)


def test_any_subset_of_tables_with_customer_ids_is_a_valid_config(tiny_crm: Path) -> None:
    only_customers = {"customers": {"path": "customers.csv"}}
    only_orders = {"orders": {"path": "orders.csv"}}
    for sources in (only_customers, only_orders):
        cfg = parse_config({"analysis_date": "2025-01-01", "sources": sources}, base_dir=tiny_crm)
        assert [t for t, _ in cfg.sources.items()] == list(sources)
    with pytest.raises(ConfigError) as err:
        parse_config(
            {"analysis_date": "2025-01-01", "sources": {"survey_items": {"path": "orders.csv"}}},
            base_dir=tiny_crm,
        )
    assert "sources: no source with customer ids is configured" in str(err.value)
    with pytest.raises(ConfigError, match=r"sources: no source with customer ids"):
        parse_config({"analysis_date": "2025-01-01", "sources": {}}, base_dir=tiny_crm)


def test_order_options_belong_to_orders(tiny_crm: Path) -> None:
    with pytest.raises(ConfigError, match=r"'shape' is an option of sources.orders, not of "):
        parse_config(
            {
                "analysis_date": "2025-01-01",
                "sources": {"interactions": {"path": "interactions.csv", "shape": "lines"}},
            },
            base_dir=tiny_crm,
        )


def test_missing_file_is_named(tiny_crm: Path) -> None:
    path = write_config(
        tiny_crm, {"customers": {"path": "customers.csv"}, "orders": {"path": "nope.csv"}}
    )
    with pytest.raises(ConfigError, match=r"sources\.orders\.path: file not found: .*nope\.csv"):
        load_config(path)


def test_unknown_file_ending(tiny_crm: Path) -> None:
    (tiny_crm / "orders.dat").write_text("x")
    path = write_config(
        tiny_crm, {"customers": {"path": "customers.csv"}, "orders": {"path": "orders.dat"}}
    )
    with pytest.raises(ConfigError, match=r"cannot tell the format .*set 'format:'"):
        load_config(path)


def test_source_needs_exactly_one_location(tiny_crm: Path) -> None:
    with pytest.raises(ConfigError, match="exactly one of 'path'"):
        parse_config(
            {
                "analysis_date": "2025-01-01",
                "sources": {
                    "customers": {"path": "customers.csv", "url": "sqlite:///x.db", "table": "c"},
                    "orders": {"path": "orders.csv"},
                },
            },
            base_dir=tiny_crm,
        )


def test_table_name_cannot_smuggle_sql(tiny_crm: Path) -> None:
    with pytest.raises(ConfigError, match="plain table name"):
        parse_config(
            {
                "analysis_date": "2025-01-01",
                "sources": {
                    "customers": {"url": "sqlite:///x.db", "table": "c; DROP TABLE c"},
                    "orders": {"path": "orders.csv"},
                },
            },
            base_dir=tiny_crm,
        )


def test_not_a_mapping_and_missing_config(tmp_path: Path) -> None:
    (tmp_path / "c.yaml").write_text("- a\n- b\n")
    with pytest.raises(ConfigError, match="must be a YAML mapping"):
        load_config(tmp_path / "c.yaml")
    with pytest.raises(ConfigError, match="run config not found"):
        load_config(tmp_path / "missing.yaml")


def test_credentials_come_from_the_environment_and_are_redacted(
    monkeypatch, tiny_crm: Path
) -> None:
    cfg = parse_config(
        {
            "analysis_date": "2025-01-01",
            "sources": {
                "customers": {"url": "postgresql://crm:${PGPASS}@db/crm", "table": "customers"},
                "orders": {"path": "orders.csv"},
            },
        },
        base_dir=tiny_crm,
    )
    monkeypatch.setenv("PGPASS", "s3cret")
    assert cfg.sources.customers.resolved_url() == "postgresql://crm:s3cret@db/crm"
    assert "s3cret" not in cfg.sources.customers.describe()
    assert redact_url("postgresql://u:pw@h/db") == "postgresql://u:***@h/db"
    monkeypatch.delenv("PGPASS")
    with pytest.raises(ConfigError, match=r"\$\{PGPASS\}"):
        cfg.sources.customers.resolved_url()


def test_config_saved_in_cp1250_is_refused_with_a_message(tiny_crm: Path) -> None:
    text = (
        "name: Prodeje – Brno\nanalysis_date: 2025-06-30\n"
        "sources:\n  customers: {path: customers.csv}\n  orders: {path: orders.csv}\n"
    )
    (tiny_crm / "c.yaml").write_bytes(text.encode("cp1250"))
    with pytest.raises(ConfigError) as err:
        load_config(tiny_crm / "c.yaml")
    assert "is not UTF-8 text: line 1 has the byte 0x96" in str(err.value)
    assert "save the config as UTF-8" in str(err.value)
    # the same text saved as UTF-8 with a BOM, or as UTF-16 (Notepad's "Unicode"), is read
    for data in (codecs.BOM_UTF8 + text.encode("utf-8"), text.encode("utf-16")):
        (tiny_crm / "c.yaml").write_bytes(data)
        assert load_config(tiny_crm / "c.yaml").name == "Prodeje – Brno"


def test_env_vars_in_paths(monkeypatch, tiny_crm: Path) -> None:
    monkeypatch.setenv("CRM_EXPORTS", str(tiny_crm))
    data = {
        "analysis_date": "2025-01-01",
        "sources": {"orders": {"path": "${CRM_EXPORTS}/orders.csv"}},
    }
    cfg = parse_config(data, base_dir=Path("/nonexistent"))
    assert cfg.source_path("orders") == tiny_crm / "orders.csv"
    monkeypatch.delenv("CRM_EXPORTS")
    with pytest.raises(ConfigError) as err:
        parse_config(data, base_dir=tiny_crm)
    assert "sources.orders.path: the config refers to ${CRM_EXPORTS}, which is not set" in str(
        err.value
    )


def test_reading_options_are_checked(tiny_crm: Path) -> None:
    def check(options: dict) -> str:
        with pytest.raises(ConfigError) as err:
            parse_config(
                {
                    "analysis_date": "2025-01-01",
                    "sources": {"orders": {"path": "o.csv", **options}},
                },
                base_dir=tiny_crm,
                check_files=False,
            )
        return str(err.value)

    assert "sources.orders.encoding: unknown encoding 'cp999'" in check({"encoding": "cp999"})
    assert "needs 'column_names'" in check({"header": False})
    assert "'column_names' is for files without a header row" in check({"column_names": ["a"]})
    assert "a delimiter is one character" in check({"delimiter": ";;"})
    assert "must differ" in check({"decimal": ",", "thousands": ","})
    cfg = parse_config(
        {
            "analysis_date": "2025-01-01",
            "sources": {"orders": {"path": "o.csv", "encoding": "latin-2", "delimiter": "tab"}},
        },
        base_dir=tiny_crm,
        check_files=False,
    )
    assert cfg.sources.orders.delimiter == "\t"


def test_yaml_alias_bomb_is_refused_quickly(tiny_crm: Path) -> None:
    levels = ["a0: &a0 [x, x, x, x, x, x, x, x, x, x]"]
    levels += [f"a{i}: &a{i} [{', '.join([f'*a{i - 1}'] * 10)}]" for i in range(1, 9)]
    text = "\n".join(levels) + "\nanalysis_date: 2025-01-01\nsources: {orders: {path: o.csv}}\n"
    (tiny_crm / "bomb.yaml").write_text(text, encoding="utf-8")
    started = time.perf_counter()
    with pytest.raises(ConfigError) as err:
        load_config(tiny_crm / "bomb.yaml")
    assert time.perf_counter() - started < 5
    sizes = [11]  # a0: the list and its 10 items; each level: a list of 10 of the one below
    for _ in range(8):
        sizes.append(1 + 10 * sizes[-1])
    # the top mapping, 9 anchors' keys, analysis_date (key, value), sources (6 nodes)
    expected = 1 + sum(sizes) + 9 + 2 + 6
    assert f"expands to {expected:,} values through YAML aliases" in str(err.value)


def test_values_quoted_in_messages_are_cut(tiny_crm: Path) -> None:
    with pytest.raises(ConfigError) as err:
        parse_config(
            {"analysis_date": "x" * 100_000, "sources": {"orders": {"path": "o.csv"}}},
            base_dir=tiny_crm,
            check_files=False,
        )
    assert len(str(err.value)) < 1000 and "(100,002 characters)" in str(err.value)


def test_passwords_from_the_environment_are_encoded_into_urls(monkeypatch, tiny_crm: Path) -> None:
    monkeypatch.setenv("PGPASS", "p@ss:w/rd#1")
    monkeypatch.setenv("PGHOST", "db.example.com")
    cfg = parse_config(
        {
            "analysis_date": "2025-01-01",
            "sources": {
                "customers": {
                    "url": "postgresql://crm:${PGPASS}@${PGHOST}:5432/crm",
                    "table": "customers",
                },
            },
        },
        base_dir=tiny_crm,
    )
    url = cfg.sources.customers.resolved_url()
    assert url == "postgresql://crm:p%40ss%3Aw%2Frd%231@db.example.com:5432/crm"
    assert "p@ss" not in redact_url(url) and "p%40ss" not in redact_url(url)
    assert redact_url("postgresql://u:p@ss@h/db failed") == "postgresql://u:***@h/db failed"
    assert cfg.secrets() == ["p%40ss%3Aw%2Frd%231", "db.example.com", "p@ss:w/rd#1"]


@pytest.mark.parametrize(
    ("source", "table", "message"),
    [
        (
            {"path": "orders.csv", "campaign": "x"},
            "orders",
            "'campaign' is an option of sources.campaign_exposures, not of orders",
        ),
        (
            {"path": "e.csv", "campaign": "x", "columns": {"campaign_id": "Kampan"}},
            "campaign_exposures",
            "sets both 'campaign' (one campaign for the whole file) and columns.campaign_id",
        ),
        ({"path": "e.csv", "campaign": "  "}, "campaign_exposures", "campaign is empty"),
    ],
)
def test_the_campaign_name_option_is_checked(
    tiny_crm: Path, source: dict, table: str, message: str
) -> None:
    (tiny_crm / "e.csv").write_text("segment,visit\nA,1\n", encoding="utf-8")
    with pytest.raises(ConfigError, match=re.escape(message)):
        parse_config({"analysis_date": "2025-01-01", "sources": {table: source}}, base_dir=tiny_crm)
    with pytest.raises(ConfigError, match="campaign is not available for a 'uri' source"):
        parse_config(
            {
                "analysis_date": "2025-01-01",
                "engine": "pyspark",
                "sources": {"campaign_exposures": {"uri": "hdfs://x/e", "campaign": "x"}},
            },
            base_dir=tiny_crm,
        )
    ok = {"path": "e.csv", "campaign": "email_2008"}
    cfg = parse_config(
        {"analysis_date": "2025-01-01", "sources": {"campaign_exposures": ok}}, base_dir=tiny_crm
    )
    assert cfg.sources.campaign_exposures.campaign == "email_2008"
