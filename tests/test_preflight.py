"""segwork.preflight and `segwork validate`: what a run would trip on, found before it runs.

The decisions and parameter checks are pure functions tested on hand-made specs. `segwork
validate` is then run (in-process, through the CLI) on tiny exports against the real notebooks,
one planted problem per test, and must name it in the config's words.
"""

from __future__ import annotations

import re
from pathlib import Path

import pandas as pd
import pytest
import yaml
from typer.testing import CliRunner

from segwork import preflight
from segwork.cli import app
from segwork.config import parse_config
from segwork.preflight import FileParameter, NotebookSpec, Requirements

NOTEBOOKS_DIR = Path(__file__).parents[1] / "notebooks"


def _params(**defaults: str) -> dict:
    """papermill's inspection of a parameters cell: name -> {default (source text), help}."""
    out = {
        "config_path": {"default": '""', "help": ""},
        "run_dir": {"default": '""', "help": ""},
    }
    for name, source in defaults.items():
        default, _, help_text = source.partition("#")
        out[name] = {"default": default.strip(), "help": help_text.strip()}
    return out


def _spec(stem, *, tables=(), artifacts=(), files=(), provides=(), settings=None, **kw):
    return NotebookSpec(
        stem,
        Requirements(tuple(tables), tuple(artifacts), (), tuple(provides)),
        _params(),
        settings or {},
        tuple(files),
        **kw,
    )


def _rules_file(exists: bool, explicit: bool = False) -> FileParameter:
    path = Path("/cfg/segments.yaml")
    return FileParameter("rules_file", "segments.yaml", path, exists, explicit)


def _five(rules_exist: bool = True) -> list[NotebookSpec]:
    """The five notebooks' declared requirements (as in their metadata)."""
    return [
        _spec("01_data_collection", tables=["customers"], provides=["customer360", "validation"]),
        _spec("02_rfm_clv", tables=["orders"], artifacts=["customer360"], provides=["rfm"]),
        _spec(
            "03_personas",
            tables=["survey_responses", "survey_items"],
            artifacts=["customer360"],
            provides=["personas"],
        ),
        _spec("04_campaign_ab", tables=["campaign_exposures"], artifacts=["customer360"]),
        _spec(
            "05_rule_segments",
            artifacts=["customer360"],
            files=[_rules_file(rules_exist)],
            provides=["segment_membership"],
        ),
    ]


def _reasons(decisions) -> dict[str, str | None]:
    return {d.stem: d.reason for d in decisions}


# ---- applicability (pure) ---------------------------------------------------------------------


def test_orders_only_export_skips_survey_campaign_and_rules_with_reasons() -> None:
    decisions = preflight.decide(_five(rules_exist=False), ["orders"])
    assert [d.applicable for d in decisions] == [True, True, False, False, False]
    reasons = _reasons(decisions)
    assert reasons["03_personas"] == (
        "no survey_responses table in the config (sources.survey_responses)"
    )
    assert reasons["04_campaign_ab"] == (
        "no campaign_exposures table in the config (sources.campaign_exposures)"
    )
    assert reasons["05_rule_segments"] == (
        "rules file /cfg/segments.yaml not found (notebooks.05_rule_segments.rules_file)"
    )


def test_customers_are_derived_from_the_ids_of_other_tables() -> None:
    assert preflight.available_tables(["campaign_exposures"]) >= {"customers"}
    assert preflight.available_tables(["survey_responses"]) >= {"customers"}
    assert preflight.available_tables(["interactions"]) >= {"customers"}
    assert "customers" not in preflight.available_tables(["survey_items"])
    campaign_only = preflight.decide(_five(), ["campaign_exposures"])
    assert [d.applicable for d in campaign_only] == [True, False, False, True, True]
    assert _reasons(campaign_only)["02_rfm_clv"] == "no orders table in the config (sources.orders)"


def test_a_missing_artifact_names_the_notebook_that_did_not_write_it_and_why() -> None:
    decisions = preflight.decide(_five(), ["survey_items"])
    assert not any(d.applicable for d in decisions)
    reasons = _reasons(decisions)
    assert reasons["01_data_collection"].startswith("no customers table in the config")
    assert reasons["05_rule_segments"] == (
        "needs customer360, which 01_data_collection did not write because it does not apply: "
        + reasons["01_data_collection"]
    )
    # a selection without the notebook that provides the artifact
    alone = preflight.decide(_five()[4:], ["orders"])
    assert alone[0].reason == (
        "needs customer360, which no earlier notebook of this run writes "
        "(run the notebook that provides it as well)"
    )


def test_a_notebook_without_metadata_always_applies() -> None:
    req, problems = preflight.requirements({"kernelspec": {}}, "notebooks/x.ipynb")
    assert req == Requirements() and problems == []
    assert preflight.decide([NotebookSpec("01_x", req)], []) == [
        preflight.Applicability("01_x", True, None)
    ]


def test_malformed_requirements_are_findings_naming_the_notebook() -> None:
    meta = {"segwork": {"requires": {"tables": ["order"], "files": "rules_file"}}}
    req, problems = preflight.requirements(meta, "notebooks/05.ipynb")
    text = "\n".join(map(str, problems))
    assert (
        "notebooks/05.ipynb: metadata 'segwork.requires.tables' names unknown tables ['order']"
        in text
    )
    assert "'segwork.requires.files' must be a list of names" in text
    assert req.files == ()


def test_missing_artifact_at_run_time() -> None:
    specs = _five()
    assert preflight.missing_artifact_reason(specs[1], {"customer360"}, specs[:1]) is None
    assert (
        preflight.missing_artifact_reason(specs[1], set(), specs[:1])
        == "needs customer360, which 01_data_collection did not write"
    )


# ---- parameters (pure) ------------------------------------------------------------------------


def _param_spec(settings: dict, types: dict | None = None) -> NotebookSpec:
    params = _params(
        bins="5  # score levels",
        alpha="0.05  # significance level",
        control='"control"  # name of the control variant',
        pseudonymize="False  # exports for sharing",
        winsorize="None  # cap revenue; None for off",
        window_days="365  # days of history; None for all history",
        k='"auto"  # number of personas, or "auto"',
        segment_columns='["persona"]  # columns',
        expected_shares="{}  # planned split",
    )
    return NotebookSpec(
        "04_campaign_ab", Requirements(parameter_types=types or {}), params, settings
    )


def _messages(findings) -> list[str]:
    return [str(f) for f in findings]


def test_unknown_parameter_in_config_words_with_did_you_mean() -> None:
    [msg] = _messages(preflight.parameter_findings(_param_spec({"contrl": "A"})))
    assert msg.startswith(
        "notebooks.04_campaign_ab.contrl: notebook 04_campaign_ab has no parameter 'contrl'; did you mean 'control'?"
    )
    assert "its parameters are: bins, alpha, control" in msg
    assert "Pass" not in msg and "=" not in msg
    [reserved] = _messages(preflight.parameter_findings(_param_spec({"run_dir": "/x"})))
    assert (
        reserved
        == "notebooks.04_campaign_ab.run_dir: 'run_dir' is set by segwork run; remove it from the config"
    )


@pytest.mark.parametrize(
    ("settings", "expected"),
    [
        (
            {"bins": "five"},
            'notebooks.04_campaign_ab.bins: expected a whole number (the default is 5), got text "five"',
        ),
        (
            {"bins": 4.5},
            "notebooks.04_campaign_ab.bins: expected a whole number (the default is 5), got a number 4.5",
        ),
        ({"bins": True}, "expected a whole number (the default is 5), got true or false true"),
        ({"alpha": "5%"}, 'expected a number (the default is 0.05), got text "5%"'),
        (
            {"control": 1},
            'notebooks.04_campaign_ab.control: expected text (the default is "control"), got a whole number 1',
        ),
        ({"pseudonymize": "yes"}, 'expected true or false (the default is false), got text "yes"'),
        (
            {"segment_columns": "persona"},
            'expected a list (the default is ["persona"]), got text "persona"',
        ),
        ({"expected_shares": ["a"]}, 'expected a mapping (the default is {}), got a list ["a"]'),
        (
            {"window_days": "all"},
            'expected a whole number or null (the default is 365), got text "all"',
        ),
    ],
)
def test_parameter_of_the_wrong_type_names_the_expected_type(settings, expected) -> None:
    [msg] = _messages(preflight.parameter_findings(_param_spec(settings)))
    assert expected in msg


@pytest.mark.parametrize(
    "settings",
    [
        {"bins": 3, "alpha": 0.1, "control": "A", "pseudonymize": True},
        {"alpha": 1},  # a whole number where the default is a number
        {"winsorize": 0.99},  # default None: any type
        {"window_days": None},  # the comment says None is allowed
        {"segment_columns": [], "expected_shares": {"c": {"A": 0.5, "B": 0.5}}},
    ],
)
def test_parameters_of_the_right_type_pass(settings) -> None:
    assert preflight.parameter_findings(_param_spec(settings)) == []


def test_declared_parameter_types_widen_the_default() -> None:
    assert _messages(preflight.parameter_findings(_param_spec({"k": 4}))) == [
        'notebooks.04_campaign_ab.k: expected text (the default is "auto"), got a whole number 4'
    ]
    assert preflight.parameter_findings(_param_spec({"k": 4}, {"k": ("str", "int")})) == []
    [msg] = _messages(preflight.parameter_findings(_param_spec({"k": 4.5}, {"k": ("str", "int")})))
    assert "expected a whole number or text" in msg


def test_long_values_are_cut_in_messages() -> None:
    [msg] = _messages(preflight.parameter_findings(_param_spec({"bins": "x" * 10_000})))
    assert len(msg) < 250 and msg.endswith("…")


def test_defaults_are_read_as_literals_never_run() -> None:
    assert preflight.default_value({"default": "[2, 10]"}) == (True, [2, 10])
    assert preflight.default_value({"default": "__import__('os').getcwd()"}) == (False, None)


def test_explicit_missing_file_is_an_error_default_missing_is_not() -> None:
    explicit = _spec("05_rule_segments", files=[_rules_file(False, explicit=True)])
    [msg] = _messages(preflight.file_findings(explicit))
    assert msg.startswith(
        "notebooks.05_rule_segments.rules_file: rules file not found: /cfg/segments.yaml"
    )
    assert preflight.file_findings(_spec("05_rule_segments", files=[_rules_file(False)])) == []


def test_section_for_a_notebook_that_does_not_exist() -> None:
    [msg] = _messages(
        preflight.notebook_section_findings({"04_campain_ab": {}}, ["04_campaign_ab"])
    )
    assert msg.startswith("notebooks.04_campain_ab: there is no notebook 04_campain_ab.ipynb")
    assert "Did you mean 04_campaign_ab?" in msg


def test_real_notebooks_declare_valid_requirements(tmp_path: Path) -> None:
    cfg = parse_config(
        {
            "analysis_date": "2025-06-30",
            "sources": {"orders": {"path": "orders.csv"}},
            "notebooks_dir": str(NOTEBOOKS_DIR),
        },
        base_dir=tmp_path,
        check_files=False,
    )
    specs, problems = preflight.read_specs(cfg, sorted(NOTEBOOKS_DIR.glob("[0-9][0-9]_*.ipynb")))
    assert [str(p) for p in problems] == []
    by_stem = {s.stem: s for s in specs}
    # every artifact a notebook needs is provided by an earlier one
    for i, spec in enumerate(specs):
        earlier = {a for s in specs[:i] for a in s.requires.provides}
        assert set(spec.requires.artifacts) <= earlier, spec.stem
    assert by_stem["05_rule_segments"].requires.files == ("rules_file",)


# ---- segwork validate (the CLI, on tiny exports, real notebooks) ------------------------------


def _write_export(folder: Path, *, survey_value: int = 4, variants=("control", "offer")) -> None:
    pd.DataFrame(
        {
            "customer_id": ["c1", "c2", "c3", "c4"],
            "region": ["North", "South", "North", "East"],
            "email": ["a@x.cz", "b@x.cz", None, "d@x.cz"],
        }
    ).to_csv(folder / "customers.csv", index=False)
    pd.DataFrame(
        {
            "order_id": ["o1", "o2", "o3", "o4"],
            "customer_id": ["c1", "c1", "c2", "c3"],
            "order_date": ["2025-01-05", "2025-02-10", "2025-03-01", "2025-04-01"],
            "amount": [10.0, 25.5, 30.0, 12.0],
        }
    ).to_csv(folder / "orders.csv", index=False)
    pd.DataFrame(
        {
            "customer_id": ["c1", "c2", "c3", "c4"],
            "campaign_id": ["spring"] * 4,
            "variant": [variants[0], variants[1], variants[0], variants[1]],
            "assigned_at": ["2025-05-01"] * 4,
            "converted": [0, 1, 0, 1],
            "revenue": [0.0, 20.0, 0.0, 15.0],
        }
    ).to_csv(folder / "exposures.csv", index=False)
    pd.DataFrame(
        {
            "contract_id": ["k1", "k2"],
            "customer_id": ["c1", "c4"],
            "start_date": ["2024-01-15", "2024-06-01"],
            "end_date": ["2024-09-15", None],
        }
    ).to_csv(folder / "contracts.csv", index=False)
    pd.DataFrame(
        {"customer_id": ["c1", "c2", "c3"], "q1": [1, survey_value, 3], "q2": [2, 3, 5]}
    ).to_csv(folder / "survey.csv", index=False)
    pd.DataFrame(
        {
            "item": ["q1", "q2"],
            "construct": ["price", "price"],
            "text": ["I compare prices.", "I look for discounts."],
            "reverse_coded": [False, False],
        }
    ).to_csv(folder / "items.csv", index=False)


ALL_SOURCES = {
    "customers": {"path": "customers.csv"},
    "orders": {"path": "orders.csv"},
    "campaign_exposures": {"path": "exposures.csv"},
    "survey_responses": {"path": "survey.csv"},
    "survey_items": {"path": "items.csv"},
    "contracts": {"path": "contracts.csv"},
}
RULES = [
    {
        "name": "Northerners",
        "rule": 'region == "North"',
        "action": {
            "type": "task",
            "template": "Call $customer_id",
            "due_in_days": 3,
            "assignee": "Sales",
        },
    }
]


def _validate(folder: Path, sources: dict, notebooks: dict | None = None, rules=None):
    if rules is not None:
        (folder / "segments.yaml").write_text(yaml.safe_dump({"rules": rules}), encoding="utf-8")
    cfg = {
        "analysis_date": "2025-06-30",
        "sources": sources,
        "notebooks_dir": str(NOTEBOOKS_DIR),
        "reports_dir": "reports",
        "notebooks": notebooks or {},
    }
    path = folder / "config.yaml"
    path.write_text(yaml.safe_dump(cfg), encoding="utf-8")
    result = CliRunner().invoke(app, ["validate", "--config", str(path)])
    assert "Traceback" not in result.output, result.output
    return result


@pytest.fixture
def export(tmp_path: Path) -> Path:
    _write_export(tmp_path)
    return tmp_path


def test_validate_clean_config_exits_zero_and_says_so(export: Path) -> None:
    result = _validate(
        export,
        {k: v for k, v in ALL_SOURCES.items()},
        {"05_rule_segments": {"rules_file": "segments.yaml"}},
        rules=RULES,
    )
    assert result.exit_code == 0, result.output
    assert "no problems a run would trip on" in result.output
    assert "every notebook applies to this data" in result.output


def test_validate_reports_parameter_typo_and_wrong_type_in_config_words(export: Path) -> None:
    result = _validate(
        export,
        ALL_SOURCES,
        {"04_campaign_ab": {"contrl": "control"}, "02_rfm_clv": {"bins": "five"}},
    )
    assert result.exit_code == 2
    out = result.output
    assert (
        "notebooks.04_campaign_ab.contrl: notebook 04_campaign_ab has no parameter 'contrl'; did you mean 'control'?"
        in out
    )
    assert (
        'notebooks.02_rfm_clv.bins: expected a whole number (the default is 5), got text "five"'
        in out
    )
    assert "Pass " not in out and "control='" not in out


def test_validate_reports_an_explicit_missing_rules_file(export: Path) -> None:
    result = _validate(export, ALL_SOURCES, {"05_rule_segments": {"rules_file": "segmnts.yaml"}})
    assert result.exit_code == 2
    assert "notebooks.05_rule_segments.rules_file: rules file not found:" in result.output
    assert "segmnts.yaml" in result.output


def test_validate_default_rules_file_missing_means_not_applicable(export: Path) -> None:
    result = _validate(export, ALL_SOURCES)
    assert result.exit_code == 0, result.output
    # the parameters cell's default is no rules file: 05 is switched off, not an error
    assert "- 05_rule_segments: no rules file set (notebooks.05_rule_segments.rules_file)" in (
        result.output
    )


def test_validate_reports_a_control_variant_not_in_the_data(tmp_path: Path) -> None:
    _write_export(tmp_path, variants=("A", "B"))
    result = _validate(tmp_path, ALL_SOURCES)
    assert result.exit_code == 2
    assert (
        "notebooks.04_campaign_ab.control: 'control' is not a variant of campaign 'spring'; "
        "its variants are 'A', 'B'"
    ) in result.output


def test_validate_reports_survey_answers_outside_the_scale(tmp_path: Path) -> None:
    _write_export(tmp_path, survey_value=7)
    result = _validate(tmp_path, ALL_SOURCES)
    assert result.exit_code == 2
    line = next(ln for ln in result.output.splitlines() if "survey_responses" in ln and "q1" in ln)
    assert "7" in line


def test_validate_reports_a_rule_with_an_unknown_column_listing_the_columns(export: Path) -> None:
    # customers only: notebooks 02-04 do not apply, so the customer table is fully known
    rules = [{"name": "Northerners", "rule": 'regoin == "North"'}]
    result = _validate(
        export,
        {"customers": {"path": "customers.csv"}},
        {"05_rule_segments": {"rules_file": "segments.yaml"}},
        rules=rules,
    )
    assert result.exit_code == 2, result.output
    out = result.output
    assert "notebooks.05_rule_segments.rules_file: rule 'Northerners':" in out
    assert "unknown column 'regoin'" in out and "did you mean region" in out
    assert "email" in out  # the columns that exist are listed
    assert "- 02_rfm_clv: no orders table in the config (sources.orders)" in out
    assert "- 03_personas: no survey_responses table in the config" in out
    assert "- 04_campaign_ab: no campaign_exposures table in the config" in out


def test_validate_reports_an_action_whose_column_is_missing(export: Path) -> None:
    rules = [
        {
            "name": "Northerners",
            "rule": 'region == "North"',
            "action": {"type": "call", "template": "Call $customer_id", "due_in_days": 1},
        }
    ]
    result = _validate(
        export,
        {"customers": {"path": "customers.csv"}},
        {"05_rule_segments": {"rules_file": "segments.yaml"}},
        rules=rules,
    )
    assert result.exit_code == 2, result.output
    line = next(ln for ln in result.output.splitlines() if "Northerners" in ln)
    assert "notebooks.05_rule_segments.rules_file" in line and "phone" in result.output


def test_validate_lists_what_a_campaign_only_export_cannot_do(export: Path) -> None:
    result = _validate(export, {"campaign_exposures": {"path": "exposures.csv"}})
    assert result.exit_code == 0, result.output
    assert "- 02_rfm_clv: no orders table in the config (sources.orders)" in result.output
    assert (
        "- 03_personas: no survey_responses table in the config (sources.survey_responses)"
        in result.output
    )
    assert "- 04_campaign_ab" not in result.output


def test_validate_names_config_problems_even_when_a_table_does_not_load(export: Path) -> None:
    (export / "orders.csv").write_text("order_id,customer_id,order_date,amount\no1,c1,nope,x\n")
    result = _validate(export, ALL_SOURCES, {"02_rfm_clv": {"binz": 3}})
    assert result.exit_code == 2
    assert "notebooks.02_rfm_clv.binz" in result.output and "did you mean 'bins'?" in result.output


def _rules_yaml(*rules: dict) -> str:
    return yaml.safe_dump({"rules": list(rules)})


def test_rules_of_later_notebooks_are_left_to_the_run_or_said_to_be_left_out() -> None:
    spec = _spec("05_rule_segments")
    schema = pd.DataFrame({"region": ["North"], "email": ["a@x.cz"]})
    text = _rules_yaml({"name": "At risk", "rule": 'rfm_segment == "At Risk"'})
    findings, notes = preflight.rule_findings(spec, "rules_file", text, schema, ["02_rfm_clv"])
    assert findings == []
    assert notes == [
        "notebooks.05_rule_segments.rules_file: the rules of 'At risk' read columns that a "
        "notebook of this run adds; they are checked when the run gets there (and by segwork "
        "validate after a first run)"
    ]
    # 02 does not apply: the run leaves the segment out, and validate says so (a warning)
    findings, notes = preflight.rule_findings(spec, "rules_file", text, schema, [])
    assert notes == [] and [f.level for f in findings] == ["warning"]
    assert "the segment 'At risk' will be left out of the run: rfm_segment comes from" in str(
        findings[0]
    )
    assert "02_rfm_clv" in str(findings[0])


def test_action_problems_are_errors_only_where_the_run_would_refuse_the_action() -> None:
    spec = _spec("05_rule_segments")
    schema = pd.DataFrame({"region": ["North"], "email": ["a@x.cz"], "email_opt_in": [True]})
    task = {"type": "task", "template": "Call $customer_id", "due_in_days": 1}
    call = {"type": "call", "template": "Call $customer_id", "due_in_days": 1}
    text = _rules_yaml(
        {"name": "Tasks", "rule": 'region == "North"', "action": task},
        {"name": "Calls", "rule": 'region == "North"', "action": call},
    )
    findings, _ = preflight.rule_findings(spec, "rules_file", text, schema)
    by_rule = {}
    for f in findings:
        by_rule.setdefault(re.search(r"rule '(\w+)'", f.message).group(1), set()).add(f.level)
    assert by_rule == {"Tasks": {"warning"}, "Calls": {"error"}}
    assert any("'phone'" in f.message for f in findings if "Calls" in f.message)


def test_run_context_says_which_tables_the_run_has_without_reading_them(tmp_path: Path) -> None:
    from segwork.context import RunContext

    cfg = parse_config(
        {
            "analysis_date": "2025-06-30",
            "sources": {"campaign_exposures": {"path": "never_read.csv"}},
        },
        base_dir=tmp_path,
        check_files=False,
    )
    ctx = RunContext(config=cfg, artifacts_dir=tmp_path)
    assert ctx.has_table("campaign_exposures") and ctx.has_table("customers")
    assert not ctx.has_table("orders") and not ctx.has_table("survey_responses")
    with pytest.raises(ValueError, match="no table named 'order'; the tables are: customers"):
        ctx.has_table("order")


def test_reports_dir_that_is_a_file_is_named_by_validate_and_refused_by_run(export: Path) -> None:
    from segwork import pipeline

    (export / "reports").write_text("not a folder")
    result = _validate(export, ALL_SOURCES)
    assert result.exit_code == 2
    assert "reports_dir: the reports folder" in result.output and "is a file" in result.output
    with pytest.raises(
        pipeline.PipelineError, match=r"reports_dir: the reports folder .* is a file"
    ):
        pipeline.run(export / "config.yaml", progress=False)
    nested = preflight.reports_dir_findings(export / "reports" / "deeper")
    assert "is inside" in str(nested[0]) and preflight.reports_dir_findings(export / "new") == []


def test_huge_values_and_keys_are_cut_without_being_rendered_whole() -> None:
    import time

    bomb: list = ["lol"] * 10
    for _ in range(8):  # 10**9 leaves when expanded, as a YAML alias bomb would be
        bomb = [bomb] * 10
    start = time.perf_counter()
    [msg] = _messages(preflight.parameter_findings(_param_spec({"bins": bomb})))
    assert time.perf_counter() - start < 1.0
    assert msg.startswith(
        "notebooks.04_campaign_ab.bins: expected a whole number (the default is 5), got a list [[[["
    )
    assert len(msg) < 200 and msg.endswith("…")
    [long_key] = _messages(preflight.parameter_findings(_param_spec({"b" * 5000: 1})))
    assert len(long_key) < 400
    assert preflight.quote({"a": [1, 2.5, None, True, "é"]}) == '{"a": [1, 2.5, null, true, "é"]}'


def test_an_empty_file_parameter_switches_the_notebook_off() -> None:
    off = FileParameter("rules_file", "", None, False, True)
    spec = _spec("05_rule_segments", files=[off])
    assert preflight.file_findings(spec) == []
    [decision] = preflight.decide([spec], ["orders"])
    assert decision.reason == "no rules file set (notebooks.05_rule_segments.rules_file)"


# ---- parameter values (the notebooks' declared choices and ranges) ---------------------------


def _real_specs(notebooks: dict) -> tuple[list[NotebookSpec], list[str]]:
    """The real notebooks' specs (metadata, parameters cell) with ``notebooks`` as the config's,
    and everything read_specs finds (what validate prints)."""
    cfg = parse_config(
        {
            "analysis_date": "2025-06-30",
            "sources": {"orders": {"path": "o.csv"}},
            "notebooks_dir": str(NOTEBOOKS_DIR),
            "notebooks": notebooks,
        },
        base_dir=NOTEBOOKS_DIR,
        check_files=False,
    )
    specs, problems = preflight.read_specs(cfg, sorted(NOTEBOOKS_DIR.glob("*.ipynb")))
    return specs, _messages(problems)


@pytest.mark.parametrize(
    ("stem", "settings", "expected"),
    [
        (
            "03_personas",
            {"k": "five"},
            "notebooks.03_personas.k: 'five' is not allowed: give 'auto' or a whole number of "
            'at least 2 (the default is "auto")',
        ),
        ("03_personas", {"k": "5"}, "write the number without quotes: 5"),
        ("03_personas", {"k": 1}, "1 is not allowed: give 'auto' or a whole number of at least 2"),
        (
            "03_personas",
            {"algorithm": "kmean"},
            "notebooks.03_personas.algorithm: 'kmean' is not allowed: give 'kmeans', 'gmm' or "
            "'ward'; did you mean 'kmeans'?",
        ),
        ("03_personas", {"features": "item"}, "did you mean 'items'?"),
        (
            "03_personas",
            {"k_range": [10, 2]},
            "[10, 2] must be in increasing order; did you mean [2, 10]?",
        ),
        (
            "03_personas",
            {"min_answered": 70},
            "70 is not allowed: give a number above 0 and at most 1; did you mean 0.7? (a share, "
            "not a percentage)",
        ),
        (
            "02_rfm_clv",
            {"segment_map": "defualt"},
            "'defualt' is not allowed: give 'default', 'rf_grid' or a file name ending in .yaml "
            "or .yml; did you mean 'default'?",
        ),
        (
            "02_rfm_clv",
            {"bins": 0},
            "notebooks.02_rfm_clv.bins: 0 is not allowed: give a whole number from 2 to 9 "
            "(the default is 5)",
        ),
        (
            "02_rfm_clv",
            {"window_days": -30},
            "-30 is not allowed: give a whole number of at least 1",
        ),
        (
            "04_campaign_ab",
            {"correction": "bonferoni"},
            "notebooks.04_campaign_ab.correction: 'bonferoni' is not allowed: give 'holm', "
            "'fdr_bh' or 'none' (the default is \"holm\")",
        ),
        (
            "04_campaign_ab",
            {"alpha": 5},
            "5 is not allowed: give a number above 0 and below 1; did you mean 0.05?",
        ),
        (
            "05_rule_segments",
            {"member_formats": ["csv", "xls"]},
            'notebooks.05_rule_segments.member_formats: item 2 of ["csv", "xls"]: \'xls\' is '
            "not allowed: give 'csv', 'parquet', 'xlsx' or 'pdf'; did you mean 'xlsx'?",
        ),
        ("05_rule_segments", {"first_run": "Baseline"}, "did you mean 'baseline'?"),
        ("01_data_collection", {"windows_days": [30, 0]}, "item 2 of [30, 0]: 0 is not allowed"),
    ],
)
def test_values_outside_a_notebooks_choices_or_ranges_are_named(stem, settings, expected) -> None:
    specs, problems = _real_specs({stem: settings})
    spec = next(s for s in specs if s.stem == stem)
    assert preflight.parameter_findings(spec) == []  # the type is right: only the value is wrong
    messages = _messages(preflight.value_findings(spec))
    assert len(messages) == 1 and expected in messages[0], messages
    assert problems == messages  # and it is what validate says


@pytest.mark.parametrize(
    ("stem", "settings"),
    [
        ("03_personas", {"k": 4, "algorithm": "ward", "k_range": [2, 6], "min_answered": 1}),
        ("02_rfm_clv", {"segment_map": "maps/my_segments.YAML", "bins": 9, "window_days": None}),
        ("02_rfm_clv", {"segment_map": "Champions:\n  - '555'\n"}),  # inline YAML
        ("04_campaign_ab", {"alpha": 0.1, "winsorize": 0.99, "correction": "none"}),
        ("05_rule_segments", {"member_formats": ["xlsx"], "first_run": "baseline"}),
    ],
)
def test_values_inside_the_declared_choices_and_ranges_pass(stem, settings) -> None:
    specs, problems = _real_specs({stem: settings})
    spec = next(s for s in specs if s.stem == stem)
    assert preflight.value_findings(spec) == [] and problems == []


def test_every_notebook_default_passes_its_own_value_rules() -> None:
    """The rules are declared beside the defaults: a default they refuse is a wrong rule."""
    specs, problems = _real_specs({})
    assert problems == []
    declared = 0
    for spec in specs:
        for name in spec.requires.parameter_values:
            assert name in spec.parameters, (spec.stem, name)
            ok, default = preflight.default_value(spec.parameters[name])
            assert ok
            again = NotebookSpec(spec.stem, spec.requires, spec.parameters, {name: default})
            assert preflight.value_findings(again) == [], (spec.stem, name, default)
            declared += 1
    assert declared >= 20


@pytest.mark.parametrize(
    ("values", "expected"),
    [
        ({"k": ["auto"]}, "metadata 'segwork.parameter_values.k' must be a mapping"),
        ({"k": {"choice": ["auto"]}}, "unknown rules ['choice']"),
        ({"bins": {"min": "2"}}, "metadata 'segwork.parameter_values.bins.min' must be a number"),
        (
            {"f": {"items": {"choices": "csv"}}},
            "'segwork.parameter_values.f.items.choices' must be a list",
        ),
    ],
)
def test_malformed_value_rules_are_findings_naming_the_notebook(values, expected) -> None:
    req, problems = preflight.requirements(
        {"segwork": {"parameter_values": values}}, "notebooks/03_personas.ipynb"
    )
    assert req.parameter_values == {}
    [msg] = _messages(problems)
    assert msg.startswith("notebooks/03_personas.ipynb: ") and expected in msg


def test_validate_warns_when_the_analysis_date_is_long_after_the_last_order(
    tmp_path: Path,
) -> None:
    """The export ends 2024-12-31 but analysis_date is 2025-06-30: every customer would look
    lapsed. validate says so with the fix (a warning: the run still starts); 90 days is fine."""
    _write_export(tmp_path)
    orders = pd.read_csv(tmp_path / "orders.csv")
    orders["order_date"] = ["2024-10-01", "2024-11-01", "2024-12-01", "2024-12-31"]
    orders.to_csv(tmp_path / "orders.csv", index=False)
    result = _validate(tmp_path, {"orders": {"path": "orders.csv"}})
    assert result.exit_code == 0, result.output
    days = (pd.Timestamp("2025-06-30") - pd.Timestamp("2024-12-31")).days
    assert f"The last order is on 31 Dec 2024, {days:,} days before the analysis date" in (
        result.output
    )
    assert "set analysis_date to the end of the export (2024-12-31)" in result.output
    assert (
        preflight.analysis_date_findings(
            orders.assign(order_date=pd.to_datetime(orders["order_date"])), "2025-03-31"
        )
        == []
    )  # exactly 90 days


def test_validate_names_a_running_campaign_that_is_not_in_the_exposures() -> None:
    """`segwork validate` checks notebook 04's `running` against the campaigns of the data."""
    exposures = pd.DataFrame(
        {
            "customer_id": ["a", "b", "c", "d"],
            "campaign_id": ["winter_preview"] * 2 + ["autumn_newsletter"] * 2,
            "variant": ["control", "treatment"] * 2,
            "converted": [0, 1, 0, 1],
        }
    )
    spec = preflight.NotebookSpec(
        "04_campaign_ab",
        preflight.Requirements(tables=("campaign_exposures",)),
        parameters={"control": {"default": "'control'"}},
        settings={"running": ["winter_preveiw"]},
    )
    text = "\n".join(f.message for f in preflight.campaign_findings(spec, exposures))
    assert "'winter_preveiw'" in text and "did you mean 'winter_preview'" in text
    ok = preflight.NotebookSpec(
        spec.stem, spec.requires, spec.parameters, settings={"running": ["winter_preview"]}
    )
    assert preflight.campaign_findings(ok, exposures) == []
