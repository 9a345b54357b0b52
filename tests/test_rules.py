"""The segment rule language: parser, pandas and Ibis evaluation, errors, safety, rule sets.

Expected members are written out by hand from the fixture rows below (TODAY = 2025-06-30), and
random rules are checked against an independent row-by-row oracle in plain Python (Kleene logic
on None), and against the same rule compiled to Ibis and run in DuckDB.
"""

from __future__ import annotations

import builtins
import contextlib
import datetime as dt
import json
import os
import subprocess
from collections.abc import Callable
from dataclasses import FrozenInstanceError
from unittest import mock

import ibis
import numpy as np
import pandas as pd
import pytest
from hypothesis import HealthCheck, given, settings
from hypothesis import strategies as st

from segwork import rules
from segwork.rules import RuleError, RuleSetError, load_rules, parse

TODAY = pd.Timestamp("2025-06-30")

COLUMNS = [
    "customer_id",
    "region",
    "city",
    "revenue_365d",
    "orders_total",
    "has_service_contract",
    "email_opt_in",
    "last_order_date",
    "created_at",
    "rfm_segment",
    "p_alive",
    "cluster",
    "account manager",
]
# fmt: off
JM, PH, ZL, MS = "Jihomoravský kraj", "Hlavní město Praha", "Zlínský kraj", "Moravskoslezský kraj"
ROWS = [
    ("C01", JM, "Brno", 120000.0, 12, False, True, "2025-06-20", "2019-03-01", "Champions", 0.95, 1, "Jana Nováková"),
    ("C02", JM, "Břeclav", 65000.0, 5, True, True, "2025-05-02", "2021-07-15", "Loyal", 0.80, 1, "Jana Nováková"),
    ("C03", JM, "Brno", 30000.0, 3, False, False, "2024-11-30", "2022-01-10", "At risk", 0.40, 2, "Petr Svoboda"),
    ("C04", JM, "Znojmo", 50000.0, 4, False, True, "2025-01-01", "2023-06-30", "Loyal", 0.70, 2, None),
    ("C05", JM, "Brno", None, None, None, False, None, "2024-12-24", None, None, 3, "Petr Svoboda"),
    ("C06", PH, "Praha", 250000.0, 30, True, True, "2025-06-30 10:15", "2018-02-02", "Champions", 0.99, 1, "Eva Dvořák"),
    ("C07", PH, "Praha", 8000.5, 1, False, False, "2023-06-30", "2023-06-01", "Lost", 0.05, 3, "Eva Dvořák"),
    ("C08", PH, "Praha", 51000.0, 6, None, True, "2025-03-15", "2020-10-10", "Loyal", 0.75, 2, None),
    ("C09", ZL, "Zlín", 0.0, 0, False, True, None, "2025-06-01", None, 0.50, 3, "Tomáš Černý"),
    ("C10", ZL, "Uherské Hradiště", 75000.0, 8, False, False, "2024-12-30", "2017-01-01", "At risk", 0.30, 2, "Tomáš Černý"),
    ("C11", MS, "Ostrava", 15000.0, 2, True, True, "2024-06-30", "2022-06-30", "Lost", 0.10, 3, None),
    ("C12", None, None, 99000.0, 9, False, True, "2025-06-01", "2024-01-15", "Loyal", 0.85, 1, "Jana Nováková"),
    ("C13", MS, "Opava", None, 0, False, False, None, "2025-05-20", None, None, 3, None),
    ("C14", JM, "Brno-venkov", 50000.01, 4, None, True, "2025-06-29", "2023-07-01", "Loyal", 0.72, 2, "Petr Svoboda"),
    ("C15", "Středočeský kraj", "Kladno", 42000.0, 4, True, False, "2025-02-14", "2016-05-05", "Loyal", 0.66, 2, "Eva Dvořák"),
    ("C16", PH, "praha", 5000.0, 1, False, True, "2022-01-01", "2021-12-31", "Lost", 0.02, 3, None),
    ("C17", "Jihočeský kraj", "České Budějovice", 300000.0, 40, False, True, "2025-06-15", "2015-09-09", "Champions", 0.97, 1, "Tomáš Černý"),
    ("C18", JM, "Hodonín", 51000.0, 5, False, False, "2025-04-01", "2020-02-29", "Loyal", 0.77, 1, "Jana Nováková"),
    ("C19", ZL, "Kroměříž", -200.0, 0, None, False, "2024-07-01", "2024-07-01", "Lost", 0.20, 3, None),
    ("C20", None, "Brno", 18000.0, 2, False, True, "2025-06-10", "2025-01-10", None, 0.60, 2, "Petr Svoboda"),
]
# fmt: on
ALL = {r[0] for r in ROWS}


def make_customers() -> pd.DataFrame:
    """The fixture as a customer table with the dtypes a real one has (pandas 3)."""
    cols = dict(zip(COLUMNS, zip(*ROWS, strict=True), strict=True))
    df = pd.DataFrame(
        {
            "customer_id": pd.Series(cols["customer_id"], dtype="str"),
            "region": pd.Series(cols["region"], dtype="str"),
            "city": pd.Series(cols["city"], dtype=object),  # object strings, as read by older code
            "revenue_365d": pd.Series(cols["revenue_365d"], dtype="float64"),
            "orders_total": pd.Series(cols["orders_total"], dtype="Int64"),
            "has_service_contract": pd.Series(cols["has_service_contract"], dtype="boolean"),
            "email_opt_in": pd.Series(cols["email_opt_in"], dtype="bool"),
            "last_order_date": pd.to_datetime(pd.Series(cols["last_order_date"]), format="ISO8601"),
            "created_at": pd.to_datetime(pd.Series(cols["created_at"]), format="ISO8601"),
            "rfm_segment": pd.Series(cols["rfm_segment"], dtype="category"),
            "p_alive": pd.Series(cols["p_alive"], dtype="float64"),
            "cluster": pd.Series(cols["cluster"], dtype="int64"),
            "account manager": pd.Series(cols["account manager"], dtype="str"),
        }
    )
    # a non-default index: masks must align to it, not to positions
    df.index = pd.Index(range(500, 500 - 10 * len(df), -10), name="row")
    return df


@pytest.fixture(scope="module")
def customers() -> pd.DataFrame:
    return make_customers()


@pytest.fixture(scope="module")
def customers_table(customers: pd.DataFrame) -> ibis.Table:
    return ibis.memtable(customers.reset_index(drop=True))


def members(rule: rules.Rule, customers: pd.DataFrame, today=TODAY) -> set[str]:
    mask = rule.mask(customers, today=today)
    assert mask.dtype == bool and mask.index.equals(customers.index)
    return set(customers.loc[mask, "customer_id"])


def ibis_members(rule: rules.Rule, table: ibis.Table, today=TODAY) -> set[str]:
    out = table.select("customer_id", m=rule.to_ibis(table, today=today)).to_pandas()
    assert out["m"].notna().all()  # unknown is already False in the expression
    return set(out.loc[out["m"].astype(bool), "customer_id"])


def ids(text: str) -> set[str]:
    return set(text.split())


VALID = [
    # the issue's example (C14: revenue 50000.01 but contract unknown -> not a member)
    (
        'region == "Jihomoravský kraj" and revenue_365d > 50000 and not has_service_contract',
        ids("C01 C18"),
    ),
    ("revenue_365d >= 50_000", ids("C01 C02 C04 C06 C08 C10 C12 C14 C17 C18")),
    ("50000 < revenue_365d", ids("C01 C02 C06 C08 C10 C12 C14 C17 C18")),
    # three-valued logic: missing revenue (C05, C13) is in neither a condition nor its negation
    ("not revenue_365d >= 50000", ids("C03 C07 C09 C11 C15 C16 C19 C20")),
    ("revenue_365d != 50000", ALL - ids("C04 C05 C13")),
    ("revenue_365d < -100", ids("C19")),
    ("p_alive >= 0.75", ids("C01 C02 C06 C08 C12 C17 C18")),
    ("orders_total <= 3", ids("C03 C07 C09 C11 C13 C16 C19 C20")),
    ("orders_total is missing or orders_total == 0", ids("C05 C09 C13 C19")),
    ("cluster == 2", ids("C03 C04 C08 C10 C14 C15 C20")),
    ("cluster in [1, 3]", ALL - ids("C03 C04 C08 C10 C14 C15 C20")),
    ('region in ["Zlínský kraj", "Hlavní město Praha"]', ids("C06 C07 C08 C09 C10 C16 C19")),
    (
        'region not in ("Jihomoravský kraj", "Hlavní město Praha")',
        ids("C09 C10 C11 C13 C15 C17 C19"),
    ),
    ("revenue_365d between 30000 and 65000", ids("C02 C03 C04 C08 C14 C15 C18")),
    (
        "revenue_365d not between 30_000 and 65_000",
        ids("C01 C06 C07 C09 C10 C11 C12 C16 C17 C19 C20"),
    ),
    ("region is missing", ids("C12 C20")),
    ("region IS NULL", ids("C12 C20")),
    ("revenue_365d is missing", ids("C05 C13")),
    ("last_order_date is not missing", ALL - ids("C05 C09 C13")),
    ("has_service_contract is missing", ids("C05 C08 C14 C19")),
    ('city contains "rn"', ids("C01 C03 C05 C14 C20")),
    ('city contains "Praha"', ids("C06 C07 C08")),
    ('city icontains "PRAHA"', ids("C06 C07 C08 C16")),
    ('city starts with "Brno"', ids("C01 C03 C05 C14 C20")),
    ('city ends with "no"', ids("C01 C03 C05 C15 C20")),
    ('region istarts with "JIHOMORAVSKÝ"', ids("C01 C02 C03 C04 C05 C14 C18")),
    ('region starts with "jihomoravský"', set()),  # case-sensitive by default
    ('city iends with "ÍN"', ids("C09 C18")),
    ('not city contains "Brno"', ids("C02 C04 C06 C07 C08 C09 C10 C11 C13 C15 C16 C17 C18 C19")),
    ("city == 'Brno'", ids("C01 C03 C05 C20")),
    ("has_service_contract", ids("C02 C06 C11 C15")),
    ("not has_service_contract", ids("C01 C03 C04 C07 C09 C10 C12 C13 C16 C17 C18 C20")),
    ("has_service_contract == false", ids("C01 C03 C04 C07 C09 C10 C12 C13 C16 C17 C18 C20")),
    ("email_opt_in", ids("C01 C02 C04 C06 C08 C09 C11 C12 C14 C16 C17 C20")),
    ("not email_opt_in", ids("C03 C05 C07 C10 C13 C15 C18 C19")),
    # Kleene logic: unknown or true = true; unknown and false = false
    (
        "has_service_contract or email_opt_in",
        ids("C01 C02 C04 C06 C08 C09 C11 C12 C14 C15 C16 C17 C20"),
    ),
    ("not (has_service_contract and email_opt_in)", ALL - ids("C02 C06 C11 C08 C14")),
    ("revenue_365d > 100000 or has_service_contract", ids("C01 C02 C06 C11 C15 C17")),
    # relative dates: within N = (today - N, today]; older than N = up to today - N
    ("last_order_date within 180 days", ids("C01 C02 C06 C08 C12 C14 C15 C17 C18 C20")),
    ("last_order_date within 181 days", ids("C01 C02 C04 C06 C08 C12 C14 C15 C17 C18 C20")),
    (
        "last_order_date within the last 6 months",
        ids("C01 C02 C04 C06 C08 C12 C14 C15 C17 C18 C20"),
    ),
    ("last_order_date within 1 year", ALL - ids("C05 C09 C13 C07 C11 C16")),
    ("last_order_date within 2 weeks", ids("C01 C06 C14")),
    ("last_order_date older than 1 year", ids("C07 C11 C16")),
    ("created_at older than 2 years", ids("C01 C02 C03 C04 C06 C07 C08 C10 C11 C15 C16 C17 C18")),
    (
        "created_at older than 18 months",
        ids("C01 C02 C03 C04 C06 C07 C08 C10 C11 C14 C15 C16 C17 C18"),
    ),
    ('last_order_date before date("2025-01-01")', ids("C03 C07 C10 C11 C16 C19")),
    ('last_order_date after date("2025-06-20")', ids("C06 C14")),
    ('last_order_date >= date("2025-06-20")', ids("C01 C06 C14")),
    ('last_order_date == date("2025-06-30")', ids("C06")),  # 10:15 that day: dates are days
    ('last_order_date <= date("2025-06-29")', ALL - ids("C05 C09 C13 C06")),
    ('last_order_date between date("2025-01-01") and date("2025-03-15")', ids("C04 C08 C15")),
    ('rfm_segment == "Champions"', ids("C01 C06 C17")),
    ('rfm_segment in ["Loyal", "At risk"]', ids("C02 C03 C04 C08 C10 C12 C14 C15 C18")),
    ('rfm_segment != "Lost"', ids("C01 C02 C03 C04 C06 C08 C10 C12 C14 C15 C17 C18")),
    ('rfm_segment == "Nonexistent"', set()),
    ('`account manager` == "Jana Nováková"', ids("C01 C02 C12 C18")),
    ("`account manager` is missing", ids("C04 C08 C11 C13 C16 C19")),
    # precedence: and binds tighter than or
    (
        'region == "Zlínský kraj" or revenue_365d > 100000 and email_opt_in',
        ids("C01 C06 C09 C10 C17 C19"),
    ),
    (
        '(region == "Zlínský kraj" or revenue_365d > 100000) and email_opt_in',
        ids("C01 C06 C09 C17"),
    ),
    (
        "not (region is missing or revenue_365d < 10000)",
        ids("C01 C02 C03 C04 C06 C08 C10 C11 C14 C15 C17 C18"),
    ),
    ("revenue_365d > 50000 AND NOT has_service_contract", ids("C01 C10 C12 C17 C18")),
    ("revenue_365d > 1 Or region Is Missing", ALL - ids("C05 C09 C13 C19")),
]


@pytest.mark.parametrize(("text", "expected"), VALID, ids=[v[0] for v in VALID])
def test_valid_rule_members(customers, text, expected):
    assert members(parse(text), customers) == expected


@pytest.mark.parametrize(("text", "expected"), VALID, ids=[v[0] for v in VALID])
def test_ibis_on_duckdb_gives_the_same_members(customers_table, text, expected):
    assert ibis_members(parse(text), customers_table) == expected


@pytest.mark.parametrize("text", [v[0] for v in VALID])
def test_canonical_text_round_trips(text):
    rule = parse(text)
    again = parse(str(rule))
    assert again == rule and hash(again) == hash(rule)
    assert str(again) == str(rule)


def test_issue_example(customers):
    rule = parse(
        'region == "Jihomoravský kraj" and revenue_365d > 50000 and not has_service_contract'
    )
    assert rule.columns == ["has_service_contract", "region", "revenue_365d"]
    mask = rule.mask(customers, today=TODAY)
    assert list(customers.loc[mask, "customer_id"]) == ["C01", "C18"]
    assert isinstance(rule.expr, rules.And) and len(rule.expr.items) == 3
    assert rule.expr.items[2] == rules.Not(rules.Column("has_service_contract"))


def test_mask_leaves_the_table_alone_and_aligns_to_a_duplicated_index(customers):
    before = customers.copy()
    dup = customers.set_axis(["a"] * len(customers))  # same label everywhere: no positional luck
    mask = parse("revenue_365d > 100000").mask(dup)
    assert list(mask.index) == ["a"] * len(customers)
    assert list(dup.loc[mask.to_numpy(), "customer_id"]) == ["C01", "C06", "C17"]
    pd.testing.assert_frame_equal(customers, before)


@pytest.mark.parametrize(
    ("text", "canonical"),
    [
        ("NOT  x>5 AND y", "not (x > 5) and y"),
        ("50_000 < revenue", "revenue > 50000"),
        ("x IS NULL", "x is missing"),
        ("x is not null", "x is not missing"),
        ("a or (b or c)", "a or b or c"),
        ("(a or b) and c", "(a or b) and c"),
        ("not not a", "not not a"),
        ("not (a and b)", "not (a and b)"),
        ("x in ('a',)", 'x in ["a"]'),
        ("x WITHIN THE LAST 1 months", "x within 1 month"),
        ("x older than 3 year", "x older than 3 years"),
        ("x before date('2025-01-31')", 'x < date("2025-01-31")'),
        ("x Between -1.50 and 2", "x between -1.5 and 2"),
        ("x == 0.000_000_1", "x == 0.0000001"),
        ("x == 10000000000000000.0", "x == 10000000000000000.0"),
        (r"""x == 'it\'s "q"\n'""", 'x == "it\'s \\"q\\"\\n"'),
        (
            "`and` == 1 and `a b` == 2 and `tick``x` == 3",
            "`and` == 1 and `a b` == 2 and `tick``x` == 3",
        ),
        ("date == 1", "date == 1"),  # `date` is a column unless it is followed by '('
        ("x ISTARTS WITH 'Ab'", 'x istarts with "Ab"'),
    ],
)
def test_canonical_form(text, canonical):
    assert str(parse(text)) == canonical
    assert parse(canonical) == parse(text)


def test_literals_and_escapes():
    assert parse(r'x == "a\u00e9\n\t\\\"\/"').expr.value == rules.Literal('aé\n\t\\"/', "string")
    assert parse("x == 1_000.25").expr.value.value == 1000.25
    assert parse("x == -3").expr.value.value == -3
    assert parse('x == date("2024-02-29")').expr.value.value == dt.date(2024, 2, 29)
    # true is not 1 and 1 is not "1": literal kinds are part of equality
    assert parse("x == true") != parse("x == 1")
    assert parse("x == 1") != parse('x == "1"')
    assert parse("x == 1") == parse("x == 1.0")


def test_rule_is_immutable_hashable_and_lists_its_columns():
    rule = parse("b > 1 and `a c` is missing or b < 0 and not flag")
    assert rule.columns == ["a c", "b", "flag"]
    with pytest.raises(FrozenInstanceError):
        rule.expr = None  # type: ignore[misc]
    with pytest.raises(FrozenInstanceError):
        rule.expr.items[0].items[0].op = "=="  # type: ignore[union-attr]
    spellings = {parse("x>1 AND y"), parse("(x > 1) and y"), parse("1 < x and (y)")}
    assert len(spellings) == 1
    assert repr(rule).startswith("Rule(")


# ---------------------------------------------------------------------------------- errors


INVALID = [
    ("", ["empty rule"]),
    ("   \n ", ["empty rule"]),
    ('region == "Brno', ["unterminated string", "character 11"]),
    ("region == 'Brno", ["unterminated string"]),
    ("revenue_365d >", ["expected a value after '>'", "end of the rule"]),
    ("revenue_365d > 5 extra", ["unexpected 'extra'", "expected 'and', 'or'"]),
    ("revenue_365d > 5)", ["unexpected ')'"]),
    ("(revenue_365d > 5", ["'(' is never closed", "character 1"]),
    ("(a or b c)", ["expected a condition after column 'b'"]),
    ('region "abc"', ["expected a condition after column 'region'"]),
    ("x startswith 'a'", ["did you mean 'starts with'"]),
    ("x = 5", ["use '=='"]),
    ("x > 5 && y", ["use 'and'"]),
    ("x > 5 || y", ["use 'or'"]),
    ("x > 1e6", ["malformed number '1e6'", "no exponents"]),
    ("x > 1__000", ["malformed number"]),
    ("x within 5days", ["malformed number '5days'"]),
    ("x > .5", ["leading digit"]),
    ("x > 99999999999999999999999", ["number too large"]),
    ("x + 1 > 2", ["arithmetic"]),
    ("x in []", ["empty list"]),
    ("x in [1, 2", ["never closed"]),
    ("x in 5", ["expected a list after 'in'"]),
    ('x in [1, "a"]', ["mixes number and string"]),
    ("x between 5 and 1", ["greater than the upper bound"]),
    ('x between "a" and "b"', ["two numbers or two dates"]),
    ('x between 1 and date("2025-01-01")', ["both be numbers or both be dates"]),
    ("x between 1 or 5", ["expected 'and'"]),
    ("x within 1.5 days", ["whole number"]),
    ("x within 0 days", ["whole number"]),
    ("x within 3 fortnights", ["expected a unit"]),
    ("x within 300 years", ["at most 200"]),
    ("x older 3 days", ["expected 'than'"]),
    ('x == date("2025-13-01")', ["not a valid date"]),
    ('x == date("31.1.2025")', ["not a valid date", "YYYY-MM-DD"]),
    ("x == date(2025)", ["needs a date in quotes"]),
    ('x == date("1500-01-01")', ["dates must lie between"]),
    ("x before 5", ["'before' needs a date"]),
    (r'x == "a\q"', ["unknown escape"]),
    (r'x == "\ud800"', ["surrogate"]),
    ('x < "b"', ["orders numbers and dates"]),
    ("x >= true", ["orders numbers and dates"]),
    ("x > y", ["comparing two columns is not supported"]),
    ("x is 5", ["expected 'missing' or 'null'"]),
    ("x is true", ["x == true"]),
    ('x starts "a"', ["expected 'with'"]),
    ("x contains 5", ["needs a text in quotes"]),
    ('x not contains "a"', ["'not' can only start 'not in' or 'not between'"]),
    ("and x", ["keyword 'and'"]),
    ("x > 1 and", ["expected a column name", "end of the rule"]),
    ("missing is missing", ["backquotes"]),
    ("5", ["a value on its own is not a condition"]),
    ("`col", ["unterminated column name"]),
    ("`` == 1", ["empty column name"]),
    ("x == [1]", ["x in [1, 2]"]),
    ("x ! y", ["'!' is not an operator"]),
]


@pytest.mark.parametrize(("text", "fragments"), INVALID, ids=[t for t, _ in INVALID])
def test_invalid_rules_are_refused_with_a_message(text, fragments):
    with pytest.raises(RuleError) as info:
        parse(text)
    message = str(info.value)
    for fragment in fragments:
        assert fragment in message
    assert "^" in message  # every syntax error points into the text


def test_error_caret_points_at_the_problem():
    text = "revenue_365d > 5 and region == 'Brno' extra_stuff"
    with pytest.raises(RuleError) as info:
        parse(text)
    err = info.value
    assert err.position == text.index("extra_stuff")
    *_, line, carets = str(err).split("\n")
    assert line.strip() == text
    assert carets.index("^") - line.index(text[0]) == err.position
    assert carets.count("^") == len("extra_stuff")
    assert f"(at character {err.position + 1})" in str(err)


def test_error_in_a_multi_line_rule_names_the_line():
    text = 'region == "Brno"\n  and revenue_365d >> 5'
    with pytest.raises(RuleError) as info:
        parse(text)
    message = str(info.value)
    assert "line 2, character 21" in message
    assert message.endswith("      and revenue_365d >> 5\n" + " " * 24 + "^")


@pytest.mark.parametrize(
    "attempt",
    [
        "__import__('os')",
        "eval('1')",
        "open('/etc/passwd')",
        "getattr(x, 'y')",
        "f(x)",
        "x == f(1)",
        "region == str(1)",
    ],
)
def test_function_calls_are_refused(attempt):
    with pytest.raises(RuleError, match="function calls are not part of the rule language"):
        parse(attempt)


@pytest.mark.parametrize(
    ("attempt", "fragment"),
    [
        ("x.__class__", "attribute access"),
        ("os.system('ls')", "attribute access"),
        ("().__class__.__bases__", "attribute access"),
        ("x[0] == 1", "subscripts"),
        ("[c for c in x]", "a list can only follow 'in'"),
        ("region in [c for c in cities]", "comprehensions"),
        ("__import__('os').system('echo hacked')", "attribute access"),
        ("lambda x", "lambda is not part of the rule language"),
        ("lambda: 1", "lambdas"),
        ("(lambda x: x)(1)", "lambdas"),
        ("{1: 2}", "dictionaries"),
        ("x if y else z", "expected a condition after column 'x'"),
        ("x == 1; import os", "a single condition"),
        ("x == 1 # comment", "comments"),
        ("`x`.y", "attribute access"),
    ],
)
def test_python_constructs_are_refused(attempt, fragment):
    with pytest.raises(RuleError, match=fragment):
        parse(attempt)


def test_limits_raise_rule_error_not_recursion_error(customers, customers_table):
    with pytest.raises(RuleError, match="too long"):
        parse("x > 1 or " * 2000 + "x > 1")
    with pytest.raises(RuleError, match="nests deeper than 100"):
        parse("(" * 101 + "x" + ")" * 101)
    with pytest.raises(RuleError, match="nests deeper than 100"):
        parse("not " * 2000 + "x")
    with pytest.raises(RuleError, match="nests deeper than 100"):
        parse("(" * 5000)
    # the deepest allowed rule runs in pandas and in DuckDB
    deep = "email_opt_in"
    for k in range(99):
        deep = f"(revenue_365d > {k} {'or' if k % 2 else 'and'} {deep})"
    rule = parse(deep)
    assert members(rule, customers) == ibis_members(rule, customers_table)
    assert parse(str(rule)) == rule
    chain = parse("not " * 100 + "email_opt_in")  # an even number of nots
    assert members(chain, customers) == members(parse("email_opt_in"), customers)


def test_non_text_is_a_rule_error():
    with pytest.raises(RuleError, match="a rule is text"):
        parse(42)  # type: ignore[arg-type]
    rule = parse("x > 1")
    assert parse(rule) is rule


# ------------------------------------------------------------------------ schema checks


SCHEMA_ERRORS = [
    ("revnue_365d > 5", ["unknown column 'revnue_365d'", "did you mean revenue_365d"]),
    ("Region == 'Brno'", ["unknown column 'Region'", "did you mean region"]),
    ("`account manger` is missing", ["did you mean `account manager`"]),
    ("zzz_qqq > 1", ["unknown column 'zzz_qqq'", "none is close"]),
    ("region > 5", ["column 'region' is a text column (dtype str)", '("5")']),
    ("revenue_365d contains '5'", ["'contains' needs a text column", "'revenue_365d'", "float64"]),
    (
        "orders_total == '5'",
        ["column 'orders_total' is a number column (dtype Int64)", "remove the quotes"],
    ),
    ("region within 10 days", ["'within' needs a date column", "'region'"]),
    ("revenue_365d older than 1 year", ["'older than' needs a date column"]),
    ("region", ["on its own", "boolean", 'region == "..."']),
    ("revenue_365d and email_opt_in", ["on its own", "revenue_365d > 0"]),
    ("has_service_contract == 1", ["boolean (true/false) column", "write true or false"]),
    ("last_order_date > 5", ["needs a number column", "'last_order_date' is a date column"]),
    ("last_order_date == '2025-01-01'", ['date("2025-01-01")']),
    ("rfm_segment == 3", ["'rfm_segment' is a text column (dtype category"]),
    ("city in [1, 2]", ["'in' with a list of number values", "'city'"]),
    ("cluster between date('2025-01-01') and date('2025-02-01')", ["'between' with date bounds"]),
]


@pytest.mark.parametrize(("text", "fragments"), SCHEMA_ERRORS, ids=[t for t, _ in SCHEMA_ERRORS])
def test_unknown_columns_and_type_mismatches(customers, customers_table, text, fragments):
    rule = parse(text)
    for run in (
        lambda: rule.mask(customers, today=TODAY),
        lambda: rule.to_ibis(customers_table),
        lambda: rule.validate(customers),
    ):
        with pytest.raises(RuleError) as info:
            run()
        assert "^" in str(info.value)
    message = str(info.value)
    for fragment in fragments:
        assert fragment in message, message


def test_all_problems_of_a_rule_are_reported(customers):
    with pytest.raises(RuleError) as info:
        parse("revnue > 5 and region > 5 and revnue < 9 and city within 3 days").validate(customers)
    err = info.value
    assert str(err).startswith("3 problems in the rule")
    assert [p.column for p in err.problems] == ["revnue", "region", "city"]
    assert err.column == "revnue" and err.position == 0


def test_validate_accepts_mappings_and_ibis_schemas():
    rule = parse('revenue > 5 and region == "x" and seen within 3 days and flag')
    schema = {"revenue": "float64", "region": "string", "seen": "datetime64[ns]", "flag": "boolean"}
    assert rule.validate(schema) is rule
    assert (
        rule.validate({"revenue": "number", "region": "text", "seen": "date", "flag": "bool"})
        is rule
    )
    assert rule.validate(ibis.schema(schema | {"seen": "timestamp", "region": "string"})) is rule
    with pytest.raises(RuleError, match="'revenue' is a text column"):
        rule.validate(schema | {"revenue": "str"})
    with pytest.raises(ValueError, match="unrecognised dtype"):
        rule.validate(schema | {"revenue": "no-such-dtype"})
    with pytest.raises(TypeError):
        rule.validate(["revenue"])


def test_duplicate_and_all_missing_columns():
    df = pd.DataFrame([[1, 2, None]], columns=["x", "x", "empty"])
    df["empty"] = df["empty"].astype(object)
    with pytest.raises(RuleError, match="more than once"):
        parse("x > 1").mask(df)
    # a column with no values at all fits any condition: unknown everywhere, missing everywhere
    assert not parse("empty > 1").mask(df).any()
    assert not parse("not empty contains 'a'").mask(df).any()
    assert parse("empty is missing").mask(df).all()


# ---------------------------------------------------------------- missing values, today, NaN


def test_not_of_a_missing_value_is_still_false():
    df = pd.DataFrame({"x": [1.0, None, 9.0], "n": pd.array([1, None, 9], dtype="Int64")})
    for col in ("x", "n"):
        assert parse(f"{col} > 5").mask(df).tolist() == [False, False, True]
        assert parse(f"not ({col} > 5)").mask(df).tolist() == [True, False, False]
        assert parse(f"{col} not in [1]").mask(df).tolist() == [False, False, True]
        assert parse(f"not {col} not in [1]").mask(df).tolist() == [True, False, False]
        assert parse(f"{col} is missing or not {col} > 5").mask(df).tolist() == [True, True, False]


def test_nan_in_a_database_table_counts_as_missing():
    con = ibis.duckdb.connect()
    con.raw_sql(
        "CREATE TABLE t AS SELECT * FROM (VALUES (1, 1.0::DOUBLE), (2, 'NaN'::DOUBLE), "
        "(3, NULL::DOUBLE)) v(i, x)"
    )
    t = con.table("t")
    raw = con.execute(t.order_by("i").select(nan=t.x.isnan(), gt=t.x > 0))
    assert raw["nan"].tolist()[1] and raw["gt"].tolist()[1]  # in SQL, NaN > 0 is true

    def run(text):
        return t.select("i", m=parse(text).to_ibis(t)).order_by("i").to_pandas()["m"].tolist()

    df = pd.DataFrame({"x": [1.0, float("nan"), None]})
    for text, expected in [
        ("x is missing", [False, True, True]),
        ("x > 0", [True, False, False]),
        ("not x > 0", [False, False, False]),
        ("x <= 1", [True, False, False]),
    ]:
        assert run(text) == expected
        assert parse(text).mask(df).tolist() == expected


def test_today_defaults_to_the_current_date_and_accepts_dates():
    now = pd.Timestamp.today().normalize()
    df = pd.DataFrame(
        {
            "d": [
                now + pd.Timedelta(hours=23),
                now - pd.Timedelta(days=1),
                now + pd.Timedelta(days=1),
            ]
        }
    )
    rule = parse("d within 1 day")
    assert rule.mask(df).tolist() == [True, False, False]  # today only, not tomorrow
    assert rule.mask(df, today=(now - pd.Timedelta(days=1)).date()).tolist() == [False, True, False]
    assert rule.mask(df, today=str((now + pd.Timedelta(days=1)).date())).tolist() == [
        False,
        False,
        True,
    ]
    with pytest.raises(ValueError, match="today"):
        rule.mask(df, today="not a date")


def test_within_and_older_than_are_complements_for_past_dates(customers):
    for n, unit in [(1, "day"), (30, "days"), (7, "weeks"), (5, "months"), (2, "years")]:
        within = parse(f"last_order_date within {n} {unit}").mask(customers, today=TODAY)
        older = parse(f"last_order_date older than {n} {unit}").mask(customers, today=TODAY)
        known = customers["last_order_date"].notna()
        assert not (within & older).any()
        assert (within | older).equals(known)


def test_object_columns_are_read_by_their_values():
    df = pd.DataFrame(
        {
            "i": [0, 1, 2],
            "d": pd.Series([dt.date(2025, 6, 30), None, dt.date(2024, 1, 1)], dtype=object),
            "n": pd.Series([1, None, 7.5], dtype=object),
            "b": pd.Series([True, None, False], dtype=object),
            "k": pd.Categorical([3, 1, None]),
        }
    )
    t = ibis.memtable(df)
    cases = {
        "d within 1 year": [True, False, False],
        'd == date("2024-01-01")': [False, False, True],
        "n > 2": [False, False, True],
        "b": [True, False, False],
        "not b": [False, False, True],
        "k in [1, 2]": [False, True, False],
    }
    for text, expected in cases.items():
        rule = parse(text)
        assert rule.mask(df, today="2025-06-30").tolist() == expected, text
        got = t.select("i", m=rule.to_ibis(t, today="2025-06-30")).order_by("i").to_pandas()
        assert got["m"].tolist() == expected, text
    with pytest.raises(RuleError, match="dtype object"):
        parse("b > 1").mask(df)


def test_timezone_aware_dates_compare_by_local_day():
    df = pd.DataFrame(
        {"d": pd.to_datetime(["2025-06-30 23:30", "2025-06-29 08:00"]).tz_localize("Europe/Prague")}
    )
    assert parse('d == date("2025-06-30")').mask(df).tolist() == [True, False]
    assert parse("d within 1 day").mask(df, today="2025-06-30").tolist() == [True, False]


# ------------------------------------------------------------------------ property tests


def _forbidden(*_args, **_kwargs):
    raise AssertionError("the rule language tried to run code")


@given(st.text(max_size=200))
@settings(max_examples=300, deadline=None)
def test_random_text_raises_only_rule_error(text):
    customers = CUSTOMERS
    with (
        mock.patch.object(builtins, "eval", _forbidden),
        mock.patch.object(builtins, "exec", _forbidden),
        mock.patch.object(builtins, "compile", _forbidden),
        mock.patch.object(builtins, "__import__", _forbidden),
    ):
        try:
            rule = parse(text)
        except RuleError:
            return
    assert parse(str(rule)) == rule
    with contextlib.suppress(RuleError):
        rule.mask(customers, today=TODAY)


VOCAB = [
    "revenue_365d",
    "region",
    "city",
    "has_service_contract",
    "email_opt_in",
    "last_order_date",
    "rfm_segment",
    "orders_total",
    "`account manager`",
    "nope",
    "x",
    "__import__",
    "os",
    "system",
    "and",
    "OR",
    "not",
    "Not",
    "in",
    "between",
    "is",
    "missing",
    "null",
    "contains",
    "icontains",
    "starts",
    "ends",
    "with",
    "within",
    "older",
    "than",
    "before",
    "after",
    "days",
    "months",
    "true",
    "false",
    "lambda",
    "for",
    "if",
    "==",
    "!=",
    "<",
    "<=",
    ">",
    ">=",
    "(",
    ")",
    "[",
    "]",
    ",",
    "-",
    "5",
    "50_000",
    "0.5",
    "'Brno'",
    '"Jihomoravský kraj"',
    '"x',
    'date("2025-01-01")',
    "date(",
    ".",
    "=",
    ":",
    "__class__",
    "'os'",
    "`",
    "*",
]


@given(st.lists(st.sampled_from(VOCAB), max_size=30).map(" ".join))
@settings(max_examples=400, deadline=None)
def test_token_soup_raises_only_rule_error_and_never_runs_code(text):
    calls: list[str] = []

    def record(name):
        def fail(*_args, **_kwargs):
            calls.append(name)
            raise AssertionError(f"{name} called")

        return fail

    with (
        mock.patch.object(os, "system", record("os.system")),
        mock.patch.object(subprocess, "Popen", record("Popen")),
        mock.patch.object(builtins, "eval", record("eval")),
        mock.patch.object(builtins, "exec", record("exec")),
    ):
        try:
            rule = parse(text)
            rule.mask(CUSTOMERS, today=TODAY)
        except RuleError:
            pass
        else:
            assert parse(str(rule)) == rule
    assert calls == []


# A grammar of valid rules for the fixture, each with an independent oracle: a plain Python
# function of one row that returns True, False or None (unknown), combined with Kleene logic.
ROW_DICTS = [dict(zip(COLUMNS, row, strict=True)) for row in ROWS]
for _row in ROW_DICTS:
    for _c in ("last_order_date", "created_at"):
        _row[_c] = None if _row[_c] is None else dt.datetime.fromisoformat(_row[_c])

Oracle = Callable[[dict], bool | None]
NUMBER_COLUMNS = ["revenue_365d", "orders_total", "p_alive", "cluster"]
TEXT_COLUMNS = ["region", "city", "rfm_segment", "account manager"]
DATE_COLUMNS = ["last_order_date", "created_at"]
BOOL_COLUMNS = ["has_service_contract", "email_opt_in"]
TEXT_VALUES = sorted({r[c] for r in ROW_DICTS for c in TEXT_COLUMNS if r[c] is not None})
ALPHABET = sorted(set("".join(TEXT_VALUES)) | set("ÝŘxq"))
PY_OPS = {
    "==": lambda a, b: a == b,
    "!=": lambda a, b: a != b,
    "<": lambda a, b: a < b,
    "<=": lambda a, b: a <= b,
    ">": lambda a, b: a > b,
    ">=": lambda a, b: a >= b,
}


def col(name: str) -> str:
    return f"`{name}`" if " " in name else name


def known(name: str, fn: Callable[[object], bool]) -> Oracle:
    return lambda row: None if row[name] is None else fn(row[name])


def minus(day: dt.date, n: int, unit: str) -> dt.date:
    """Calendar subtraction, written independently of pandas' DateOffset."""
    if unit == "days":
        return day - dt.timedelta(days=n)
    if unit == "weeks":
        return day - dt.timedelta(weeks=n)
    months = n if unit == "months" else 12 * n
    y, m = divmod(day.year * 12 + day.month - 1 - months, 12)
    m += 1
    last = (dt.date(y + m // 12, m % 12 + 1, 1) - dt.timedelta(days=1)).day
    return dt.date(y, m, min(day.day, last))


@st.composite
def number_atom(draw):
    name = draw(st.sampled_from(NUMBER_COLUMNS))
    value = draw(
        st.one_of(st.integers(-1000, 300_000), st.sampled_from([0, 1, 0.75, 50000.01, 8000.5]))
    )
    kind = draw(st.sampled_from(["cmp", "between", "in"]))
    if kind == "cmp":
        op = draw(st.sampled_from(list(PY_OPS)))
        return f"{col(name)} {op} {value}", known(name, lambda v: PY_OPS[op](v, value))
    if kind == "between":
        other = draw(st.integers(-1000, 300_000))
        lo, hi = sorted([value, other])
        neg = draw(st.booleans())
        return (
            f"{col(name)} {'not ' if neg else ''}between {lo} and {hi}",
            known(name, lambda v: (lo <= v <= hi) != neg),
        )
    values = draw(st.lists(st.sampled_from([0, 1, 2, 3, 4, 5, 12, 0.75]), min_size=1, max_size=4))
    neg = draw(st.booleans())
    return (
        f"{col(name)} {'not in' if neg else 'in'} {values}",
        known(name, lambda v: (v in values) != neg),
    )


@st.composite
def text_atom(draw):
    name = draw(st.sampled_from(TEXT_COLUMNS))
    value = draw(st.one_of(st.sampled_from(TEXT_VALUES), st.text(ALPHABET, max_size=4)))
    quoted = json.dumps(value, ensure_ascii=draw(st.booleans()))
    kind = draw(st.sampled_from(["==", "!=", "in", "contains", "starts", "ends"]))
    ic = draw(st.booleans())
    if kind in ("==", "!="):
        return f"{col(name)} {kind} {quoted}", known(name, lambda v: (v == value) == (kind == "=="))
    if kind == "in":
        return f'{col(name)} in [{quoted}, "Loyal"]', known(name, lambda v: v in (value, "Loyal"))
    word = {"contains": "contains", "starts": "starts with", "ends": "ends with"}[kind]
    test = {"contains": lambda v, s: s in v, "starts": str.startswith, "ends": str.endswith}[kind]
    if ic:
        return (
            f"{col(name)} i{word} {quoted}",
            known(name, lambda v: test(v.lower(), value.lower())),
        )
    return f"{col(name)} {word} {quoted}", known(name, lambda v: test(v, value))


@st.composite
def date_atom(draw):
    name = draw(st.sampled_from(DATE_COLUMNS))
    today = TODAY.date()
    kind = draw(st.sampled_from(["within", "older", "cmp", "before"]))
    if kind in ("within", "older"):
        n = draw(st.integers(1, 40))
        unit = draw(st.sampled_from(["days", "weeks", "months", "years"]))
        start = minus(today, n, unit)
        if kind == "within":
            return f"{name} within {n} {unit}", known(name, lambda v: start < v.date() <= today)
        return f"{name} older than {n} {unit}", known(name, lambda v: v.date() <= start)
    day = draw(st.dates(dt.date(2015, 1, 1), dt.date(2025, 12, 31)))
    if kind == "before":
        return f'{name} before date("{day}")', known(name, lambda v: v.date() < day)
    op = draw(st.sampled_from(list(PY_OPS)))
    return f'{name} {op} date("{day}")', known(name, lambda v: PY_OPS[op](v.date(), day))


@st.composite
def other_atom(draw):
    name = draw(st.sampled_from(COLUMNS[1:]))
    if draw(st.booleans()):
        neg = draw(st.booleans())
        return (
            f"{col(name)} is {'not ' if neg else ''}missing",
            lambda row: (row[name] is None) != neg,
        )
    flag = draw(st.sampled_from(BOOL_COLUMNS))
    if draw(st.booleans()):
        return flag, lambda row: row[flag]
    value = draw(st.booleans())
    return f"{flag} == {str(value).lower()}", known(flag, lambda v: v == value)


def k_not(a):
    return None if a is None else not a


def k_and(a, b):
    return False if a is False or b is False else None if a is None or b is None else True


def k_or(a, b):
    return True if a is True or b is True else None if a is None or b is None else False


def combine(children):
    return st.one_of(
        children.map(lambda c: (f"not ({c[0]})", lambda row, f=c[1]: k_not(f(row)))),
        st.tuples(children, children).map(
            lambda p: (
                f"({p[0][0]}) and ({p[1][0]})",
                lambda row, f=p[0][1], g=p[1][1]: k_and(f(row), g(row)),
            )
        ),
        st.tuples(children, children).map(
            lambda p: (
                f"({p[0][0]}) or ({p[1][0]})",
                lambda row, f=p[0][1], g=p[1][1]: k_or(f(row), g(row)),
            )
        ),
    )


VALID_RULES = st.recursive(
    st.one_of(number_atom(), text_atom(), date_atom(), other_atom()), combine, max_leaves=8
)


def oracle_members(fn: Oracle) -> set[str]:
    return {row["customer_id"] for row in ROW_DICTS if fn(row) is True}


@given(VALID_RULES)
@settings(max_examples=300, deadline=None, suppress_health_check=[HealthCheck.too_slow])
def test_random_valid_rules_match_an_independent_oracle(case):
    text, fn = case
    rule = parse(text)
    assert members(rule, CUSTOMERS) == oracle_members(fn), text
    assert parse(str(rule)) == rule
    assert str(parse(str(rule))) == str(rule)


@given(VALID_RULES)
@settings(max_examples=30, deadline=None, suppress_health_check=[HealthCheck.too_slow])
def test_random_valid_rules_run_the_same_in_duckdb(case):
    text, _ = case
    rule = parse(text)
    assert ibis_members(rule, CUSTOMERS_TABLE) == members(rule, CUSTOMERS), text


CUSTOMERS = make_customers()
CUSTOMERS_TABLE = ibis.memtable(CUSTOMERS.reset_index(drop=True))


# ----------------------------------------------------------------------------- rule sets


RULES_YAML = """
rules:
  - name: south_moravia_big
    description: South Moravian customers with over 50,000 CZK and no service contract
    rule: region == "Jihomoravský kraj" and revenue_365d > 50000 and not has_service_contract
    priority: 1
    owner: Jana Nováková
    action: {type: task, template: "Offer {name} a service contract", due_in_days: 7, assignee: owner}
  - name: loyal
    rule: last_order_date within 6 months and orders_total >= 5
    priority: 2
    action: {type: email, template: loyal_thanks, due_in_days: 0, channel: email}
  - name: champions
    rule: rfm_segment == "Champions"
    priority: 2
  - name: lapsed
    rule: last_order_date older than 1 year
    priority: 3
    action: {type: call, template: winback, due_in_days: 14}
"""


def test_load_rules_and_memberships(customers):
    rs = load_rules(RULES_YAML, schema=customers)
    assert rs.names == ["south_moravia_big", "loyal", "champions", "lapsed"]
    assert rs["loyal"].action == rules.ActionSpec(
        type="email", template="loyal_thanks", due_in_days=0, channel="email"
    )
    assert rs["champions"].action is None and rs["south_moravia_big"].owner == "Jana Nováková"
    m = rs.memberships(customers, today=TODAY)
    assert list(m.columns) == rs.names and m.index.equals(customers.index)
    assert all(pd.api.types.is_bool_dtype(t) for t in m.dtypes)
    got = {name: set(customers.loc[m[name], "customer_id"]) for name in m.columns}
    assert got == {
        "south_moravia_big": ids("C01 C18"),
        "loyal": ids("C01 C02 C06 C08 C12 C17 C18"),
        "champions": ids("C01 C06 C17"),
        "lapsed": ids("C07 C11 C16"),
    }
    seg = rs.exclusive(m)
    by_id = dict(zip(customers["customer_id"], seg, strict=True))
    # C01 meets three rules: priority 1 wins; C06 and C17 tie at 2: 'loyal' comes first in the file
    assert {k: v for k, v in by_id.items() if not pd.isna(v)} == {
        "C01": "south_moravia_big",
        "C18": "south_moravia_big",
        "C02": "loyal",
        "C06": "loyal",
        "C08": "loyal",
        "C12": "loyal",
        "C17": "loyal",
        "C07": "lapsed",
        "C11": "lapsed",
        "C16": "lapsed",
    }
    assert seg.isna().sum() == 10 and seg.name == "segment"
    assert rs.to_frame()["rule"].iloc[1] == "last_order_date within 6 months and orders_total >= 5"


def test_exclusive_follows_priority_not_file_order(customers):
    import yaml

    data = yaml.safe_load(RULES_YAML)
    data["rules"][2]["priority"] = 0  # champions now beats everything
    rs = load_rules(data["rules"])
    seg = rs.exclusive(rs.memberships(customers, today=TODAY))
    by_id = dict(zip(customers["customer_id"], seg, strict=True))
    assert by_id["C01"] == by_id["C06"] == by_id["C17"] == "champions"
    assert by_id["C18"] == "south_moravia_big"
    with pytest.raises(ValueError, match="not rules of this set"):
        rs.exclusive(pd.DataFrame({"other": [True]}))


def test_rule_set_reports_every_problem_with_rule_names(customers):
    text = """
- name: a
  rule: revenue_365d > 5
  actoin: {type: task}
- name: b
  rule: region == "x"
  action: {type: task, template: t, due_in_days: 3, asignee: me}
- name: c
  rule: revenue_365d > > 5
- name: a
  rule: email_opt_in
- name: d
  priority: 1
- name: e
  rule: revnue_365d > 5
  action: {type: sms, template: t, due_in_days: 1}
- just a string
"""
    with pytest.raises(RuleSetError) as info:
        load_rules(text, schema=customers)
    err = info.value
    message = str(err)
    assert isinstance(err, RuleError) and isinstance(err, ValueError)
    for fragment in [
        "rule 'a' (#1): unknown key 'actoin'",
        "rule 'b' (#2): unknown key 'action.asignee'",
        "rule 'c' (#3): expected a value after '>'",
        "rule 'a' (#4): the name 'a' is already used by rule #1",
        "rule 'd' (#5): missing key 'rule'",
        "rule 'e' (#6): 'action.type'",
        "rule 'e' (#6): unknown column 'revnue_365d'; did you mean revenue_365d?",
        "rule #7: expected a mapping",
    ]:
        assert fragment in message, message
    assert len(err.errors) == 8


def test_rule_set_input_shapes():
    with pytest.raises(RuleSetError, match="not valid YAML"):
        load_rules("rules: [")
    with pytest.raises(RuleSetError, match="expected a list of rules"):
        load_rules("just text")
    with pytest.raises(RuleSetError, match="found keys"):
        load_rules({"rulez": []})
    assert len(load_rules("")) == 0
    assert load_rules([{"name": "x", "rule": "a > 1"}])["x"].priority == 100


def test_rule_set_yaml_cannot_construct_python_objects():
    with (
        mock.patch.object(os, "system", _forbidden),
        pytest.raises(RuleSetError, match="not valid YAML"),
    ):
        load_rules('- !!python/object/apply:os.system ["echo hacked"]')


def test_unknown_column_lists_the_columns_and_names_file_rule_and_column():
    schema = {"customer_id": "string", "revenue_365d": "float64", "region": "string"}
    text = """
rules:
  - name: Big spenders
    rule: revnue_365d > 100
  - name: Nowhere
    rule: zzz == 'a' and region == 'x'
  - name: Typed
    rule: region > 5
"""
    with pytest.raises(RuleSetError) as info:
        load_rules(text, schema=schema, name="segments.yaml")
    err = info.value
    assert err.source == "segments.yaml"
    assert str(err).startswith("3 problems in the rules file 'segments.yaml'")
    big = next(e for e in err.errors if "Big spenders" in e)
    assert big.startswith("rules file 'segments.yaml', rule 'Big spenders' (#1): ")
    assert "did you mean revenue_365d?" in big
    assert "(the table's columns: customer_id, region, revenue_365d)" in big
    nowhere = next(e for e in err.errors if "Nowhere" in e)
    assert "the table has 3 columns and none is close: customer_id, region, revenue_365d" in nowhere
    kinds = {(d.rule, d.column, d.kind) for d in err.details}
    assert kinds == {
        ("Big spenders", "revnue_365d", "unknown_column"),
        ("Nowhere", "zzz", "unknown_column"),
        ("Typed", "region", "type"),
    }
    assert err.unknown_columns == ["revnue_365d", "zzz"]
    assert all(d.message in err.errors for d in err.details)
    # without a file name the messages are as before
    with pytest.raises(RuleSetError) as plain:
        load_rules(text, schema=schema)
    assert plain.value.errors[0].startswith("rule 'Big spenders' (#1): unknown column")


def test_describe_columns_shortens_long_tables():
    from segwork.rules import describe_columns

    cols = [f"c{i:02d}" for i in range(50)]
    text = describe_columns(cols, limit=5)
    assert text == "c00, c01, c02, c03, c04 and 45 more"
    assert describe_columns(["account manager", "x"]) == "`account manager`, x"
    assert describe_columns([]) == "(none)"


# ------------------------------------------- the run's evaluator (DuckDB) agrees with pandas


def test_member_ids_in_duckdb_match_the_pandas_evaluator() -> None:
    """RuleSet.member_ids (one Ibis query in DuckDB, ids back) and RuleSet.memberships (pandas)
    select exactly the same customers, on the column kinds a customer table has."""
    n = 400
    rng = np.random.default_rng(7)
    days = pd.to_datetime("2025-06-30") - pd.to_timedelta(rng.integers(0, 900, n), unit="D")
    table = pd.DataFrame(
        {
            "region": pd.Series(rng.choice(["A", "B", "Jihomoravský kraj", None], n), dtype="str"),
            "segment": pd.Categorical(rng.choice(["Champions", "At Risk", "Lost"], n)),
            "revenue": np.where(rng.random(n) < 0.1, np.nan, rng.normal(1000, 800, n)),
            "orders": pd.array(rng.integers(0, 9, n), dtype="Int64"),
            "opt_in": pd.array(rng.choice([True, False, None], n), dtype="boolean"),
            "last_order": days.where(rng.random(n) > 0.1),
            "seen_at": (days + pd.Timedelta(minutes=30)).tz_localize("Europe/Prague"),
            "email": pd.Series(
                [f"c{i}@Firma.cz" if i % 3 else None for i in range(n)], dtype="str"
            ),
        },
        index=pd.Index([f"c{i:04d}" for i in range(n)], name="customer_id", dtype="str"),
    )
    # 00:30 in Prague is the evening before in UTC: segwork's one time-zone rule says 29 June
    table.loc["c0000", "seen_at"] = pd.Timestamp("2025-06-30 00:30", tz="Europe/Prague")
    ruleset = load_rules(
        [
            {"name": "text", "rule": 'region == "Jihomoravský kraj" or region in ["A"]'},
            {"name": "not text", "rule": 'not (region == "A")'},
            {"name": "category", "rule": 'segment in ["At Risk", "Lost"] and revenue > 500'},
            {"name": "numbers", "rule": "revenue between 0 and 1200 and orders >= 3"},
            {"name": "bool", "rule": "opt_in and not (orders == 0)"},
            {"name": "missing", "rule": "last_order is missing or email is not missing"},
            {"name": "within", "rule": "last_order within 6 months"},
            {"name": "older", "rule": "last_order older than 1 year"},
            {"name": "dates", "rule": 'last_order >= date("2024-12-31")'},
            {"name": "aware", "rule": 'seen_at after date("2025-01-01")'},
            {"name": "aware day", "rule": 'seen_at == date("2025-06-29")'},
            {"name": "ci text", "rule": 'email iends with "@firma.cz" and email contains "1"'},
        ]
    )
    pandas_members = ruleset.memberships(table, today="2025-06-30")
    long = ruleset.member_ids(table, today="2025-06-30")
    for name in ruleset.names:
        expected = set(pandas_members.index[pandas_members[name]])
        got = set(long.loc[long["segment"] == name, "customer_id"])
        assert got == expected, name
    assert "c0000" in set(long.loc[long["segment"] == "aware day", "customer_id"])


# ----------------------------------------------------------------------- values and YAML


def _regions() -> pd.DataFrame:
    return pd.DataFrame(
        {
            "region": pd.Series(
                ["Hlavní město Praha"] * 3
                + ["Jihomoravský kraj"] * 2
                + ["Zlínský kraj", "Středočeský kraj", None],
                dtype="string",
            ),
            "city": ["Praha", "Praha", "Praha", "Brno", "Brno", "Zlín", "Kladno", "Brno"],
            "revenue_365d": [100.0, 2_000.0, 50_000.0, 0.0, 10.0, 75_000.0, None, 500.0],
        }
    )


@pytest.mark.parametrize(
    ("rule", "suggested"),
    [
        ('region == "Praha"', ["Hlavní město Praha"]),  # a word of the value
        ('region == "hlavni mesto praha"', ["Hlavní město Praha"]),  # case and diacritics
        ('region in ["Jihomoravsky kraj"]', ["Jihomoravský kraj"]),
        ('city == "Brnoo"', ["Brno"]),  # a typo: difflib
        ('region == "Zlinsky"', ["Zlínský kraj"]),
    ],
)
def test_value_check_suggests_the_close_value(rule: str, suggested: list[str]) -> None:
    report = rules.check_values(parse(rule), _regions())
    assert len(report.errors) == 1 and report.warnings == []
    err = report.errors[0]
    assert err.kind == "unknown_value" and err.column in ("region", "city")
    assert err.suggestions == suggested
    assert f'did you mean "{suggested[0]}"?' in str(err)
    assert str(err).startswith(f"no such value in {err.column}; did you mean")
    assert "^" in str(err)  # the caret under the value


def test_value_check_passes_valid_values_and_names_the_values_when_nothing_is_close() -> None:
    ok = 'region == "Hlavní město Praha" or city in ["Brno", "Zlín"] and revenue_365d > 50'
    assert not rules.check_values(parse(ok), _regions())
    err = rules.check_values(parse('city == "Ostrava"'), _regions()).errors[0]
    assert err.suggestions == []
    assert 'no customer has "Ostrava" (its most frequent values: "Praha", "Brno"' in str(err)
    # != and not in with a value nobody has: valid, but they exclude nobody -> a warning
    report = rules.check_values(parse('city != "Prag"'), _regions())
    assert report.errors == [] and "excludes nobody" in str(report.warnings[0])


def test_number_outside_the_observed_range_is_a_warning_not_an_error() -> None:
    df = _regions()
    report = rules.check_values(parse("revenue_365d > 80000"), df)
    assert report.errors == [] and len(report.warnings) == 1
    warning = report.warnings[0]
    assert warning.kind == "out_of_range"
    assert "outside the values revenue_365d holds (0 to 75,000)" in str(warning)
    assert not rules.check_values(parse("revenue_365d between 0 and 75000"), df)
    assert len(rules.check_values(parse("revenue_365d between -5 and 90000"), df).warnings) == 2


@pytest.mark.parametrize(
    ("name", "rule", "description"),
    [
        ("Praha key accounts", 'region == "Hlavní město Praha" and revenue_365d > 50_000', ""),
        (
            'Quotes "and" #hash: colon',
            "city in ['Brno', \"Zlín\"] and not (revenue_365d <= 10)",
            "yes: no # not a comment",
        ),
        ("- dash", "revenue_365d between 1 and 2\n  or city is missing", "multi\nline"),
        ("true", 'city == "null"', "123"),
    ],
)
def test_rule_yaml_round_trips_through_the_rules_file_reader(
    tmp_path, name: str, rule: str, description: str
) -> None:
    item = rules.rule_yaml(name, rule, description=description)
    assert item.startswith("  - name: ")  # an item to paste under rules:, as the demo file has
    path = tmp_path / "segments.yaml"
    path.write_text("# my segments\nrules:\n" + item, encoding="utf-8")
    (saved,) = rules.read_rules(path)
    assert saved.name == name and saved.description == description
    assert saved.rule == parse(rule)
    assert saved.rule.text == rule.strip()
    # pasted under the demo file's rules, it reads as one more rule
    demo = (
        __import__("pathlib").Path(__file__).parents[1] / "configs" / "demo_segments.yaml"
    ).read_text(encoding="utf-8")
    both = load_rules(demo.rstrip("\n") + "\n\n" + item)
    assert both.names[-1] == name and both[name].rule == parse(rule)


def test_rule_yaml_refuses_what_the_file_would_refuse() -> None:
    with pytest.raises(RuleError, match="expected"):
        rules.rule_yaml("x", "region ==")
    with pytest.raises(RuleSetError, match="cannot be saved"):
        rules.rule_yaml("", 'region == "a"')


def test_fold_of_many_values_equals_fold_of_each() -> None:
    from segwork.rules.values import _fold_all, fold

    texts = ["Hlavní  město Praha", "ŽLUŤOUČKÝ kůň", "Straße\tX", " a\xa0 b ", "x\u2003y", "ÉCOLE"]
    assert _fold_all(pd.Series(texts)).tolist() == [fold(t) for t in texts]
    assert fold("Hlavní  Město ") == "hlavni mesto" and fold("ŽLUŤOUČKÝ kůň") == "zlutoucky kun"
