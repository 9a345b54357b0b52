"""The run config: unknown keys, wrong types and missing files are errors that name the key."""

from __future__ import annotations

import codecs
import json
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
    # the host is no secret: redacting it would blank every mention of the server
    assert cfg.secrets() == ["p%40ss%3Aw%2Frd%231", "p@ss:w/rd#1"]


def test_only_the_password_and_secret_named_variables_are_secrets(monkeypatch, tiny_crm) -> None:
    """The libpq-style template names five variables; only the password is a secret, so a page
    that says 'localhost' or '5432' keeps those words. A token in a variable named so is one
    wherever it stands."""
    env = {"PGUSER": "crm", "PGPASSWORD": "s3cret-pw", "PGHOST": "localhost", "PGPORT": "5432"}
    env |= {"PGDATABASE": "sales", "U": "reader", "W": "pw@x", "API_TOKEN": "tok-123"}
    for name, value in env.items():
        monkeypatch.setenv(name, value)
    cfg = parse_config(
        {
            "analysis_date": "2025-01-01",
            "sources": {
                "orders": {
                    "url": "postgresql://${PGUSER}:${PGPASSWORD}@${PGHOST}:${PGPORT}/${PGDATABASE}",
                    "table": "orders",
                },
                "customers": {"url": "https://h/api?token=${API_TOKEN}&u=${U}", "table": "c"},
            },
            "outputs": {"memberships": {"url": "postgresql://${U}:${W}@db/x", "table": "m"}},
        },
        base_dir=tiny_crm,
    )
    secrets = cfg.secrets()
    assert set(secrets) == {"s3cret-pw", "pw%40x", "tok-123", "pw@x"}
    assert [len(x) for x in secrets] == sorted(map(len, secrets), reverse=True)
    assert cfg.sources.orders.resolved_url() == "postgresql://crm:s3cret-pw@localhost:5432/sales"


def test_a_secret_in_a_spark_uri_is_encoded_when_read_and_never_described(
    monkeypatch, tiny_crm
) -> None:
    monkeypatch.setenv("S3_SECRET", "Tr0ub@dor#3/x:y")
    monkeypatch.setenv("S3_ID", "AKIA1")
    data = {
        "analysis_date": "2025-01-01",
        "engine": "pyspark",
        "sources": {"orders": {"uri": "s3a://${S3_ID}:${S3_SECRET}@bucket/orders/"}},
    }
    cfg = parse_config(data, base_dir=tiny_crm)
    src = cfg.sources.orders
    assert src.resolved_uri() == "s3a://AKIA1:Tr0ub%40dor%233%2Fx%3Ay@bucket/orders/"
    assert src.describe() == "s3a://${S3_ID}:***@bucket/orders/"
    assert cfg.secrets() == ["Tr0ub%40dor%233%2Fx%3Ay", "Tr0ub@dor#3/x:y"]
    monkeypatch.delenv("S3_SECRET")
    with pytest.raises(
        ConfigError, match=r"sources\.orders\.uri: the config refers to \$\{S3_SECRET\}"
    ):
        parse_config(data, base_dir=tiny_crm)


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


_CONFIG = "name: Prodeje\nanalysis_date: '2025-06-30'\nsources:\n  orders:\n    path: orders.csv\n"


@pytest.mark.parametrize(
    ("edit", "expected"),
    [
        # Notepad++ with "insert tabs": the indentation of one key is a tab
        (
            lambda t: t.replace("  orders:", "\torders:"),
            ["line 4", "Fix: indent with spaces, not tabs"],
        ),
        # a path pasted from Explorer into double quotes: \d is no escape
        (
            lambda t: t.replace("path: orders.csv", 'path: "C:\\data\\orders.csv"'),
            ["line 5", "Fix: inside double quotes a backslash", "'C:\\data\\orders.csv'"],
        ),
        # a title with a colon, unquoted
        (
            lambda t: t.replace("name: Prodeje", "name: Prodeje: Brno 2025"),
            ["line 1", "Fix: a value on line 1 contains ': '", "in quotes"],
        ),
        # no space after the colon
        (
            lambda t: t.replace("analysis_date: ", "analysis_date:"),
            ["Fix: a space is missing after the colon on line 2", "'analysis_date: '2025-06-30''"],
        ),
        # one key indented by one space too many
        (
            lambda t: t + "     table: x\n",
            ["line 6", "Fix: line 6 is indented more than the key above it"],
        ),
        # a quote that is not closed
        (
            lambda t: t.replace("name: Prodeje", "name: 'Prodeje"),
            ["Fix: the quote opened on line 1 is never closed"],
        ),
        # a flow list without its closing bracket
        (
            lambda t: t + "notebooks:\n  02_rfm_clv:\n    bins: [1, 2\n",
            ["Fix: the bracket opened on line 8 is not closed"],
        ),
        (
            lambda t: t.replace("name: Prodeje", "name: @home"),
            ["line 1", "Fix: a plain value cannot start with that character", "in quotes"],
        ),
    ],
)
def test_yaml_syntax_errors_name_the_line_and_a_fix(tiny_crm: Path, edit, expected) -> None:
    (tiny_crm / "c.yaml").write_text(edit(_CONFIG), encoding="utf-8")
    with pytest.raises(ConfigError) as err:
        load_config(tiny_crm / "c.yaml")
    missing = [e for e in expected if e not in str(err.value)]
    assert not missing, str(err.value)


def test_a_missing_space_after_a_colon_inside_a_section_is_named(tiny_crm: Path) -> None:
    (tiny_crm / "c.yaml").write_text(_CONFIG.replace("path: ", "path:"), encoding="utf-8")
    with pytest.raises(
        ConfigError,
        match="sources.orders: .*a space is missing after the colon: write 'path: orders.csv'",
    ):
        load_config(tiny_crm / "c.yaml")


@pytest.mark.parametrize(
    ("text", "message"),
    [
        (
            _CONFIG + "analysis_date: 2025-01-31\n",
            "gives the key analysis_date twice: on line 2 and on line 6",
        ),
        (
            _CONFIG + "  orders:\n    path: other.csv\n",
            "gives the key sources.orders twice: on line 4 and on line 6",
        ),
        (
            _CONFIG.replace("    path: orders.csv", "    path: orders.csv\n    path: o2.csv"),
            "gives the key sources.orders.path twice: on line 5 and on line 6",
        ),
    ],
)
def test_a_key_given_twice_is_refused_with_both_lines(tiny_crm: Path, text, message) -> None:
    (tiny_crm / "c.yaml").write_text(text, encoding="utf-8")
    with pytest.raises(ConfigError, match=re.escape(message) + ".*Fix: keep one"):
        load_config(tiny_crm / "c.yaml")


def test_the_same_anchor_used_twice_is_no_duplicate(tiny_crm: Path) -> None:
    text = _CONFIG + "notebooks:\n  a: &p {bins: 4}\n  b: *p\n"
    (tiny_crm / "c.yaml").write_text(text, encoding="utf-8")
    assert load_config(tiny_crm / "c.yaml").notebooks == {"a": {"bins": 4}, "b": {"bins": 4}}


@pytest.mark.parametrize(
    ("value", "message"),
    [
        (
            "2025-06-31",
            "(June 2025 has 30 days). Fix: write a real day in YYYY-MM-DD form, e.g. "
            "analysis_date: 2025-06-30.",
        ),
        ("2025-02-29", "(February 2025 has 28 days)"),
        ("2025-13-01", "(there is no month 13)"),
    ],
)
def test_an_unquoted_impossible_date_names_the_key_and_the_month(tiny_crm, value, message) -> None:
    text = _CONFIG.replace("'2025-06-30'", value)
    (tiny_crm / "c.yaml").write_text(text, encoding="utf-8")
    with pytest.raises(ConfigError) as err:
        load_config(tiny_crm / "c.yaml")
    assert f"analysis_date (line 2) is {value}, which is no day of the calendar" in str(err.value)
    assert message in str(err.value)


def test_a_quoted_impossible_date_names_the_month_too(tiny_crm: Path) -> None:
    text = _CONFIG.replace("'2025-06-30'", "'2025-02-29'")
    (tiny_crm / "c.yaml").write_text(text, encoding="utf-8")
    with pytest.raises(ConfigError) as err:
        load_config(tiny_crm / "c.yaml")
    assert (
        "analysis_date: '2025-02-29' is no day of the calendar (February 2025 has 28 days); "
        "write a real day, e.g. 2025-02-28"
    ) in str(err.value)


def test_a_leap_day_unquoted_is_read(tiny_crm: Path) -> None:
    (tiny_crm / "c.yaml").write_text(_CONFIG.replace("'2025-06-30'", "2024-02-29"))
    assert load_config(tiny_crm / "c.yaml").analysis_date == date(2024, 2, 29)


def test_unquoted_dates_in_notebook_parameters_reach_the_notebook_as_text(tiny_crm: Path) -> None:
    """papermill writes parameters as JSON: an unquoted YAML date there failed the run."""
    text = _CONFIG + (
        "notebooks:\n"
        "  04_campaign_ab:\n"
        "    running: {spring: {started: 2026-03-20, planned_end: 2026-04-30 10:00:00}}\n"
        "    dates: [2026-01-01, x]\n"
    )
    (tiny_crm / "c.yaml").write_text(text)
    params = load_config(tiny_crm / "c.yaml").notebooks["04_campaign_ab"]
    assert params["running"] == {
        "spring": {"started": "2026-03-20", "planned_end": "2026-04-30T10:00:00"}
    }
    assert params["dates"] == ["2026-01-01", "x"]
    json.dumps(params)  # what papermill does


@pytest.mark.parametrize("where", ["end", "middle"])
def test_a_nul_byte_from_a_broken_save_is_a_message(tiny_crm: Path, where: str) -> None:
    data = (
        _CONFIG.encode() + b"\0" * 64
        if where == "end"
        else _CONFIG.encode().replace(b"Prodeje", b"Pro\0deje")
    )
    (tiny_crm / "c.yaml").write_bytes(data)
    line = 6 if where == "end" else 1
    with pytest.raises(ConfigError, match=rf"#x0000 \(a NUL byte\) on line {line},.*Fix: delete"):
        load_config(tiny_crm / "c.yaml")


# ---- notify: and pdf: --------------------------------------------------------------------------


def _with(tiny_crm: Path, **extra) -> dict:
    return {"analysis_date": "2025-01-01", "sources": {"orders": {"path": "orders.csv"}}, **extra}


def test_notify_and_pdf_are_read(tiny_crm: Path) -> None:
    cfg = parse_config(_with(tiny_crm), base_dir=tiny_crm)
    assert cfg.notify is None and cfg.pdf is False
    cfg = parse_config(
        _with(
            tiny_crm,
            pdf=True,
            notify={
                "command": ["/usr/local/bin/tell-team", "--channel", "crm"],
                "webhook": {"url": "http://localhost:9000/hook", "timeout_s": 3},
            },
        ),
        base_dir=tiny_crm,
    )
    assert cfg.pdf is True
    assert cfg.notify.on == ["failure"]  # the default: only a run that did not succeed
    assert cfg.notify.command == ["/usr/local/bin/tell-team", "--channel", "crm"]
    assert cfg.notify.webhook.timeout_s == 3 and cfg.notify.webhook.headers == {}


@pytest.mark.parametrize(
    ("notify", "message"),
    [
        ({"comand": ["x"]}, r"notify\.comand: unknown key; did you mean 'command'"),
        (
            {"webhook": {"url": "http://h/x", "header": {}}},
            r"notify\.webhook\.header: unknown key; did you mean 'headers'",
        ),
        ({"on": ["failure"]}, r"notify: notify needs a 'command' .* or a 'webhook'"),
        ({"command": "tell-team --channel crm"}, r"notify\.command: Input should be a valid list"),
        ({"command": []}, r"notify: 'command' is empty"),
        (
            {"command": ["x"], "on": ["fail"]},
            r"notify\.on\.0: Input should be 'failure' or 'success'",
        ),
        (
            {"webhook": {"url": "file:///etc/passwd"}},
            r"notify\.webhook\.url: a webhook url is an http",
        ),
        (
            {"webhook": {"url": "localhost:9000/hook"}},
            r"notify\.webhook\.url: a webhook url is an http",
        ),
        (
            {"webhook": {"url": "http://h/x", "headers": {"Bad Name": "v"}}},
            r"notify\.webhook\.headers: 'Bad Name' is not an HTTP header name",
        ),
        (
            {
                "webhook": {
                    "url": "http://h/x",
                    "headers": {"Authorization": "Bearer ${NO_SUCH_VAR_H4}"},
                }
            },
            r"notify\.webhook\.headers: the config refers to \$\{NO_SUCH_VAR_H4\}",
        ),
    ],
)
def test_bad_notify_settings_name_the_key(tiny_crm: Path, notify: dict, message: str) -> None:
    with pytest.raises(ConfigError, match=message):
        parse_config(_with(tiny_crm, notify=notify), base_dir=tiny_crm)


def test_bare_yaml_on_key_and_a_single_event(tiny_crm: Path) -> None:
    text = (
        "analysis_date: 2025-01-01\nsources: {orders: {path: orders.csv}}\n"
        "notify:\n  on: success\n  command: [tell-team]\n"
    )
    (tiny_crm / "n.yaml").write_text(text, encoding="utf-8")
    assert load_config(tiny_crm / "n.yaml").notify.on == ["success"]


def test_webhook_secrets(monkeypatch, tiny_crm: Path) -> None:
    """Every ${VAR} of a header is a secret, and one in the url's path or query; the host is not."""
    env = {"HOOK_HOST": "hooks.example.com", "HOOK_AUTH": "Zm9vOmJhcg", "HOOK_PATH": "T0/B1/xyz"}
    for name, value in env.items():
        monkeypatch.setenv(name, value)
    cfg = parse_config(
        _with(
            tiny_crm,
            notify={
                "webhook": {
                    "url": "https://${HOOK_HOST}/services/${HOOK_PATH}",
                    "headers": {"Authorization": "Basic ${HOOK_AUTH}"},
                }
            },
        ),
        base_dir=tiny_crm,
    )
    assert set(cfg.secrets()) == {"Zm9vOmJhcg", "T0/B1/xyz", "T0%2FB1%2Fxyz"}
    hook = cfg.notify.webhook
    assert hook.resolved_url() == "https://hooks.example.com/services/T0/B1/xyz"
    assert hook.resolved_headers() == {"Authorization": "Basic Zm9vOmJhcg"}
    assert hook.describe() == "https://${HOOK_HOST}/services/${HOOK_PATH}"


def test_a_webhook_url_given_whole_by_a_variable_is_a_secret(monkeypatch, tiny_crm: Path) -> None:
    monkeypatch.setenv("CHAT_HOOK", "https://chat.example.com/hooks/abc123")
    cfg = parse_config(
        _with(tiny_crm, notify={"webhook": {"url": "${CHAT_HOOK}"}}), base_dir=tiny_crm
    )
    assert "https://chat.example.com/hooks/abc123" in cfg.secrets()
    monkeypatch.setenv("CHAT_HOOK", "ftp://chat.example.com/x")
    with pytest.raises(ConfigError, match=r"notify\.webhook\.url: a webhook url is an http"):
        parse_config(
            _with(tiny_crm, notify={"webhook": {"url": "${CHAT_HOOK}"}}), base_dir=tiny_crm
        )


def test_the_tables_with_customer_ids_are_the_contracts_with_a_customer_id() -> None:
    """config (I/O, kept free of the table helpers) lists them by hand; a new table contract with
    a customer id must be added there too, or a config with only that table is refused."""
    from segwork import quality
    from segwork.config import ID_TABLES, TABLES
    from segwork.schema import CONTRACTS

    assert ID_TABLES == quality.TABLE_ORDER
    assert tuple(t for t, c in CONTRACTS.items() if "customer_id" in c.required) == ID_TABLES
    assert tuple(CONTRACTS) == TABLES
