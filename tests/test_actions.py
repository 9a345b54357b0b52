"""Tests of segwork.actions: entries/exits, run history, action lists, ledger, exports."""

from __future__ import annotations

import datetime
import hashlib
import hmac
import json
import time
from dataclasses import dataclass
from pathlib import Path
from types import SimpleNamespace

import openpyxl
import openpyxl.writer.excel as xlsx_writer
import pandas as pd
import pytest

from segwork import actions as A
from segwork.actions import (
    ActionError,
    ActionLedger,
    build_actions,
    changes,
    export_members,
    membership_long,
    membership_wide,
    neutralise_cell,
    validate_actions,
    write_actions,
)

TODAY = pd.Timestamp("2025-06-30")
SALT = "a-test-salt-of-sufficient-length"


def _wide(members: dict[str, list[str]], ids: list[str]) -> pd.DataFrame:
    """A wide membership table for customers ``ids`` from {segment: member ids}."""
    idx = pd.Index(ids, name="customer_id")
    return pd.DataFrame({s: idx.isin(m) for s, m in members.items()}, index=idx)


def _pairs(df: pd.DataFrame, change: str) -> set[tuple[str, str]]:
    sub = df[df["change"] == change]
    return set(zip(sub["segment"], sub["customer_id"], strict=True))


@pytest.fixture
def customers() -> pd.DataFrame:
    """Eight customers covering every consent/contact case (indexed by customer_id)."""
    return pd.DataFrame(
        {
            "customer_id": ["c1", "c2", "c3", "c4", "c5", "c6", "c7", "c8"],
            "name": [
                "Alena Nová",
                '=HYPERLINK("http://x")',
                "Cyril",
                "Dana",
                "Emil",
                "Filip",
                "Gita",
                "${email}",
            ],
            "email": ["a@x.cz", "b@x.cz", "", None, "e@x.cz", "f@x.cz", "g@x.cz", "h@x.cz"],
            "phone": ["+420 111", None, "333", "444", " ", "666", "777", "888"],
            "owner": ["Eva", None, "Eva", "", "Jan", "Jan", None, "Eva"],
            # consent: True, False, missing; as nullable booleans
            "email_opt_in": pd.array(
                [True, True, True, True, False, None, True, True], dtype="boolean"
            ),
            "phone_opt_in": pd.array(
                [True, False, True, None, True, True, True, True], dtype="boolean"
            ),
            "region": ["Jihomoravský kraj"] * 4 + ["Zlínský kraj"] * 4,
            "revenue_365d": [60000.0, 52000.5, -5.0, 0.0, 100.0, 200.0, 300.0, 400.0],
            "birth_date": pd.to_datetime(
                [
                    "1980-05-01",
                    "1999-12-31",
                    None,
                    "1950-01-01",
                    "1970-07-07",
                    "1960-06-06",
                    "1990-09-09",
                    "2000-02-02",
                ]
            ),
            "postal_code": ["602 00", "11000", None, "76001", "760 05", "60200", "1", "39301"],
        }
    ).set_index("customer_id")


IDS = ["c1", "c2", "c3", "c4", "c5", "c6", "c7", "c8"]


# ----------------------------------------------------------------------------- memberships


def test_membership_long_and_back_keeps_empty_segments() -> None:
    wide = _wide({"vip": ["c1", "c3"], "empty": [], "lapsed": ["c3", "c4"]}, IDS)
    long = membership_long(wide)
    assert set(zip(long["customer_id"], long["segment"], strict=True)) == {
        ("c1", "vip"),
        ("c3", "vip"),
        ("c3", "lapsed"),
        ("c4", "lapsed"),
    }
    back = membership_wide(long, index=IDS)
    assert list(back.columns) == ["vip", "empty", "lapsed"]
    pd.testing.assert_frame_equal(
        back, wide, check_names=False, check_column_type=False, check_index_type=False
    )


def test_membership_needs_customer_ids_not_row_numbers() -> None:
    wide = pd.DataFrame({"vip": [True, False]})  # RangeIndex: row numbers
    with pytest.raises(ActionError, match="customer_ids="):
        membership_long(wide)
    long = membership_long(wide, customer_ids=pd.Series(["x1", "x2"]))
    assert long["customer_id"].tolist() == ["x1"]
    with pytest.raises(ActionError, match="not true/false"):
        membership_long(
            pd.DataFrame({"vip": [1.5, 2.0]}, index=pd.Index(["a", "b"], name="customer_id"))
        )


# --------------------------------------------------------------------------- entries / exits


RUN1 = {"vip": ["c1", "c2", "c3"], "lapsed": ["c4", "c5"], "old": ["c6"], "empty": []}
# run 2: c1 leaves vip, c7 enters; c4 leaves lapsed; the rule 'old' was deleted; 'new' was added;
# 'empty' existed as an empty segment and gets c8.
RUN2 = {"vip": ["c2", "c3", "c7"], "lapsed": ["c5"], "new": ["c1", "c6"], "empty": ["c8"]}


def test_changes_between_two_runs() -> None:
    moved = changes(_wide(RUN2, IDS), _wide(RUN1, IDS))
    assert _pairs(moved, "entered") == {
        ("vip", "c7"),
        ("new", "c1"),
        ("new", "c6"),
        ("empty", "c8"),
    }
    # the deleted rule 'old' invents no exit for c6
    assert _pairs(moved, "left") == {("vip", "c1"), ("lapsed", "c4")}
    assert set(moved["change"]) == {"entered", "left"}
    assert list(moved.columns) == ["customer_id", "segment", "change"]


def test_changes_long_input_gives_the_same_answer() -> None:
    wide = changes(_wide(RUN2, IDS), _wide(RUN1, IDS))
    long = changes(membership_long(_wide(RUN2, IDS)), membership_long(_wide(RUN1, IDS)))
    pd.testing.assert_frame_equal(wide, long)


def test_changes_first_run_entered_or_baseline() -> None:
    cur = _wide(RUN1, IDS)
    first = changes(cur, None)
    expected = {(s, c) for s, members in RUN1.items() for c in members}
    assert _pairs(first, "entered") == expected and _pairs(first, "left") == set()
    assert changes(cur, None, first_run="baseline").empty
    with pytest.raises(ActionError, match="first_run"):
        changes(cur, None, first_run="all")  # type: ignore[arg-type]


def test_no_change_when_nothing_moved() -> None:
    cur = _wide(RUN1, IDS)
    assert changes(cur, cur.copy()).empty


# ----------------------------------------------------------------------------------- actions

TASK = {
    "type": "task",
    "template": "Call $name about ${region} (revenue $revenue_365d CZK)",
    "due_in_days": 7,
    "assignee": "sales-team",
}
EMAIL = {"type": "email", "template": "Hello $name", "due_in_days": 0}
CALL = {"type": "call", "template": "Offer a contract to $name", "due_in_days": 3}


def _entered(segment: str, ids: list[str]) -> pd.DataFrame:
    return pd.DataFrame({"customer_id": ids, "segment": segment, "change": "entered"})


def test_consent_filtering_exact_excluded_counts(customers: pd.DataFrame) -> None:
    ent = pd.concat(
        [_entered("vip", IDS + ["ghost"]), _entered("lapsed", ["c1", "c2", "c4", "c5"])]
    )
    lists = build_actions(
        ent, customers, {"vip": [TASK, EMAIL, CALL], "lapsed": EMAIL}, run_id="r1", today=TODAY
    )
    # emails need email_opt_in true and a non-empty email:
    # c1 ok, c2 ok, c3 empty email, c4 missing email, c5 opt-in false, c6 opt-in missing,
    # c7 ok, c8 ok
    assert sorted(lists.emails.query("segment == 'vip'")["customer_id"]) == ["c1", "c2", "c7", "c8"]
    # calls need phone_opt_in true and a phone: c2 false, c4 missing consent, c5 blank phone
    assert sorted(lists.calls["customer_id"]) == ["c1", "c3", "c6", "c7", "c8"]
    # tasks are internal: everyone known to the customer table
    assert sorted(lists.tasks["customer_id"]) == IDS
    ex = {(r.segment, r.action_type, r.reason): r.customers for r in lists.excluded.itertuples()}
    assert ex == {
        ("vip", "task", "not in the customer table"): 1,
        ("vip", "email", "not in the customer table"): 1,
        ("vip", "email", "no email consent"): 2,  # c5, c6
        ("vip", "email", "no email address"): 2,  # c3, c4
        ("vip", "call", "not in the customer table"): 1,
        ("vip", "call", "no phone consent"): 2,  # c2, c4
        ("vip", "call", "no phone number"): 1,  # c5
        ("lapsed", "email", "no email consent"): 1,  # c5
        ("lapsed", "email", "no email address"): 1,  # c4
    }
    text = lists.summary()
    assert "9 customers entered 'vip'" in text
    assert "2 of them could not be emailed because they did not give email consent" in text
    assert "1 of them could not be called because there is no phone number on file" in text
    assert "4 customers entered 'lapsed': 2 emails." in text


def test_task_fields_assignee_due_date_and_template(customers: pd.DataFrame) -> None:
    lists = build_actions(
        _entered("vip", ["c1", "c2", "c4"]),
        customers,
        {"vip": TASK},
        run_id="r1",
        today="2025-06-30",
        default_assignee="nobody",
    )
    t = lists.tasks.set_index("customer_id")
    # owner first, then the action's assignee (c2 has no owner, c4 a blank one)
    assert t.loc["c1", "assignee"] == "Eva" and t.loc["c1", "assigned_by"] == "owner"
    assert t.loc["c2", "assignee"] == "sales-team" and t.loc["c4", "assigned_by"] == "action"
    assert (t["due_date"] == pd.Timestamp("2025-07-07")).all()
    assert t.loc["c1", "text"] == "Call Alena Nová about Jihomoravský kraj (revenue 60000 CZK)"
    assert t.loc["c2", "text"].endswith("(revenue 52000.50 CZK)")
    no_assignee = {k: v for k, v in TASK.items() if k != "assignee"}
    lists = build_actions(
        _entered("vip", ["c2"]),
        customers,
        {"vip": no_assignee},
        run_id="r1",
        today=TODAY,
        default_assignee="nobody",
    )
    assert lists.tasks["assignee"].tolist() == ["nobody"]
    # the action id is the documented hash of segment, customer, type, channel and entry date
    key = "\x1fc2\x1ftask\x1f\x1f2025-06-30"
    assert (
        lists.tasks["action_id"].iloc[0] == hashlib.sha256(("vip" + key).encode()).hexdigest()[:20]
    )


def test_segments_without_action_are_reported_not_actioned(customers: pd.DataFrame) -> None:
    ent = pd.concat([_entered("vip", ["c1"]), _entered("watch", ["c2", "c3"])])
    lists = build_actions(ent, customers, {"vip": TASK, "quiet": None}, run_id="r1", today=TODAY)
    assert lists.tasks["customer_id"].tolist() == ["c1"]
    text = lists.summary()
    assert "2 customers entered 'watch': no action is configured" in text
    assert "No customers entered 'quiet'" in text


def test_template_unknown_field_names_field_and_rule(customers: pd.DataFrame) -> None:
    bad = {"type": "task", "template": "Call $name about $revenue_356d", "due_in_days": 1}
    with pytest.raises(ActionError) as err:
        validate_actions({"High value": bad}, customers.columns)
    msg = str(err.value)
    assert "revenue_356d" in msg and "High value" in msg and "revenue_365d" in msg  # suggestion
    # checked when configured, even if nobody entered the segment
    with pytest.raises(ActionError, match="revenue_356d"):
        build_actions(_entered("x", []), customers, {"High value": bad}, run_id="r", today=TODAY)


def test_template_attribute_tricks_are_not_evaluated(customers: pd.DataFrame) -> None:
    with pytest.raises(
        ActionError, match="unknown field '__class__'.*rule 'vip'|rule 'vip'.*__class__"
    ):
        validate_actions(
            {"vip": {"type": "task", "template": "${__class__}", "due_in_days": 0}},
            customers.columns,
        )
    with pytest.raises(ActionError, match=r"\$\$"):  # '$5' is no field: explain '$$'
        validate_actions(
            {"vip": {"type": "task", "template": "costs $5", "due_in_days": 0}}, customers.columns
        )
    tpl = {"type": "task", "template": "{0.__class__} {name} $$5 $name", "due_in_days": 0}
    lists = build_actions(
        _entered("vip", ["c1", "c8"]), customers, {"vip": tpl}, run_id="r1", today=TODAY
    )
    texts = dict(zip(lists.tasks["customer_id"], lists.tasks["text"], strict=True))
    assert texts["c1"] == "{0.__class__} {name} $5 Alena Nová"
    # a customer's own data is inserted as text, never substituted again
    assert texts["c8"] == "{0.__class__} {name} $5 ${email}"


def test_bad_action_settings_are_clear_errors(customers: pd.DataFrame) -> None:
    cols = customers.columns
    cases = [
        ({"type": "fax", "template": "x", "due_in_days": 1}, "type must be one of"),
        ({"type": "task", "template": "x", "due_in_days": -1}, "due_in_days"),
        ({"type": "task", "template": "x", "due_in_dayz": 1}, "unknown settings"),
        ({"type": "call", "template": "x", "due_in_days": 1, "channel": "email"}, "channel"),
        ({"type": "email", "template": "", "due_in_days": 1}, "non-empty"),
    ]
    for spec, message in cases:
        with pytest.raises(ActionError, match=message):
            validate_actions({"r": spec}, cols)
    with pytest.raises(ActionError, match="'email' column"):
        validate_actions({"r": EMAIL}, [c for c in cols if c != "email"])


def test_actions_given_as_dataclasses(customers: pd.DataFrame) -> None:
    @dataclass(frozen=True)
    class Spec:  # what a rules module might hand over instead of a dict
        type: str
        template: str
        due_in_days: int
        assignee: str | None = None
        channel: str | None = None

    cfg = validate_actions(
        {"vip": Spec("task", "Call $name", 2, channel="phone")}, customers.columns
    )
    assert cfg["vip"][0].effective_channel == "phone"
    lists = build_actions(
        _entered("vip", IDS),
        customers,
        {"vip": Spec("task", "Call $name", 2, channel="phone")},
        run_id="r",
        today=TODAY,
    )
    # a task on the phone channel needs phone consent and a number: same people as the call list
    assert sorted(lists.tasks["customer_id"]) == ["c1", "c3", "c6", "c7", "c8"]


# --------------------------------------------------------------------- idempotence and ledger


ALL_FORMATS = ("csv", "xlsx", "jsonl")


def _files(folder: Path) -> dict[str, bytes]:
    return {p.name: p.read_bytes() for p in sorted(folder.iterdir())}


def test_same_run_twice_gives_identical_files(
    tmp_path: Path, customers: pd.DataFrame, monkeypatch: pytest.MonkeyPatch
) -> None:
    ledger = ActionLedger()
    ent = _entered("vip", IDS)
    acts = {"vip": [TASK, EMAIL, CALL]}
    first = build_actions(ent, customers, acts, run_id="r1", today=TODAY, ledger=ledger)
    write_actions(first, tmp_path / "a", ALL_FORMATS)
    a = _files(tmp_path / "a")
    n_first = ledger.record(first, left=None)
    assert n_first == len(first.tasks) + len(first.emails) + len(first.calls) == 8 + 4 + 5

    # the re-run happens "later": the clocks used by zipfile and openpyxl move on three days
    real_time = time.time
    monkeypatch.setattr(time, "time", lambda: real_time() + 3 * 86400)

    class _Later(datetime.datetime):
        @classmethod
        def now(cls, tz=None):  # type: ignore[override]
            return datetime.datetime(2031, 1, 1, 12, 0, 0, tzinfo=tz)

    monkeypatch.setattr(
        xlsx_writer, "datetime", SimpleNamespace(datetime=_Later, timezone=datetime.timezone)
    )
    again = build_actions(ent, customers, acts, run_id="r1", today=TODAY, ledger=ledger)
    write_actions(again, tmp_path / "a", ALL_FORMATS)
    assert _files(tmp_path / "a") == a
    write_actions(again, tmp_path / "b", ALL_FORMATS)
    assert _files(tmp_path / "b") == a
    assert set(a) == {
        f"{n}.{ext}" for n in ("tasks", "emails", "calls") for ext in ("csv", "xlsx", "jsonl")
    } | {"excluded.csv"}
    pd.testing.assert_frame_equal(again.tasks, first.tasks)
    assert ledger.record(again, left=None) == 0  # nothing new: no duplicate ledger rows
    events = ledger.events()
    assert events["action_id"].dropna().is_unique
    jsonl = [json.loads(line) for line in (tmp_path / "a" / "tasks.jsonl").read_text().splitlines()]
    assert len(jsonl) == 8 and len({r["action_id"] for r in jsonl}) == 8


def test_ledger_prevents_a_second_action_and_allows_reentry(
    tmp_path: Path, customers: pd.DataFrame
) -> None:
    ledger = ActionLedger()
    acts = {"vip": TASK}
    # run 1: c1 and c2 enter
    r1 = build_actions(
        _entered("vip", ["c1", "c2"]),
        customers,
        acts,
        run_id="r1",
        today="2025-06-01",
        ledger=ledger,
    )
    ledger.record(r1, left=None)
    # run 2 compares with a stale snapshot: c1 (still a member) appears to enter again, c3 is new
    r2 = build_actions(
        _entered("vip", ["c1", "c3"]),
        customers,
        acts,
        run_id="r2",
        today="2025-06-02",
        ledger=ledger,
    )
    assert r2.tasks["customer_id"].tolist() == ["c3"]
    assert r2.excluded.query("reason == 'already actioned in an earlier run'")[
        "customers"
    ].tolist() == [1]
    assert "did not get another task" in r2.summary()
    ledger.record(r2, left=None)
    # run 3: c1 leaves the segment
    r3 = build_actions(
        _entered("vip", []), customers, acts, run_id="r3", today="2025-06-03", ledger=ledger
    )
    ledger.record(
        r3, left=pd.DataFrame({"customer_id": ["c1"], "segment": ["vip"], "change": ["left"]})
    )
    # run 4: c1 re-enters -> a new action with a new id (new entry date)
    r4 = build_actions(
        _entered("vip", ["c1"]), customers, acts, run_id="r4", today="2025-06-04", ledger=ledger
    )
    assert r4.tasks["customer_id"].tolist() == ["c1"]
    assert r4.tasks["action_id"].iloc[0] != r1.tasks.set_index("customer_id").loc["c1", "action_id"]
    ledger.record(r4, left=None)
    # later still: c1 leaves again (r5) and re-enters (r6)
    exit_c1 = pd.DataFrame({"customer_id": ["c1"], "segment": ["vip"]})
    r5 = build_actions(_entered("vip", []), customers, acts, run_id="r5", today="2025-06-05")
    ledger.record(r5, left=exit_c1)
    r6 = build_actions(
        _entered("vip", ["c1"]), customers, acts, run_id="r6", today="2025-06-06", ledger=ledger
    )
    assert r6.tasks["customer_id"].tolist() == ["c1"]
    ledger.record(r6, left=None)
    # re-running an old run rebuilds exactly what it produced: its own events and everything
    # recorded after it are ignored (r6's open task for c1 does not block the re-run of r4)
    for old, ids, day in [(r2, ["c1", "c3"], "2025-06-02"), (r4, ["c1"], "2025-06-04")]:
        again = build_actions(
            _entered("vip", ids), customers, acts, run_id=old.run_id, today=day, ledger=ledger
        )
        pd.testing.assert_frame_equal(again.tasks, old.tasks)
        pd.testing.assert_frame_equal(again.excluded, old.excluded)


def test_same_day_second_run_does_not_duplicate(tmp_path: Path, customers: pd.DataFrame) -> None:
    ledger = ActionLedger()
    morning = build_actions(
        _entered("vip", ["c1"]), customers, {"vip": TASK}, run_id="am", today=TODAY, ledger=ledger
    )
    ledger.record(morning, left=None)
    afternoon = build_actions(
        _entered("vip", ["c1"]), customers, {"vip": TASK}, run_id="pm", today=TODAY, ledger=ledger
    )
    assert afternoon.tasks.empty and morning.tasks["customer_id"].tolist() == ["c1"]
    # c1 leaves at noon and is back in the evening: the same day gives the same action id,
    # and an id already issued is not issued again
    noon = build_actions(_entered("vip", []), customers, {"vip": TASK}, run_id="noon", today=TODAY)
    ledger.record(noon, left=pd.DataFrame({"customer_id": ["c1"], "segment": ["vip"]}))
    evening = build_actions(
        _entered("vip", ["c1"]), customers, {"vip": TASK}, run_id="eve", today=TODAY, ledger=ledger
    )
    assert evening.tasks.empty
    assert evening.excluded["reason"].tolist() == ["already actioned in an earlier run"]


# ------------------------------------------------------------------------------ neutralising

NASTY = ["=SUM(A1)", "+1", "-cmd", "@x", "\t=1", "\r=1", "safe", "'=already"]


def test_neutralise_cell_only_touches_strings() -> None:
    assert [neutralise_cell(v) for v in NASTY] == [
        "'=SUM(A1)",
        "'+1",
        "'-cmd",
        "'@x",
        "'\t=1",
        "'\r=1",
        "safe",
        "'=already",
    ]
    for value in (-5, -5.5, 0, None, TODAY, True):
        assert neutralise_cell(value) is value


def _nasty_frame() -> pd.DataFrame:
    return pd.DataFrame(
        {
            "customer_id": [f"c{i}" for i in range(len(NASTY))],
            "note": NASTY,
            "=formula header": ["x"] * len(NASTY),
            "amount": [-5, -1, 0, 1, 2, 3, 4, 5],
            "balance": [-2.5, 0.0, 1.5, 2.0, 3.0, 4.0, 5.0, 6.0],
        }
    )


def test_csv_export_is_neutralised_and_numbers_stay_numbers(tmp_path: Path) -> None:
    path = export_members(_nasty_frame(), tmp_path / "m.csv")
    back = pd.read_csv(path)
    assert back["note"].tolist()[:6] == ["'=SUM(A1)", "'+1", "'-cmd", "'@x", "'\t=1", "'\r=1"]
    assert back["note"].tolist()[6:] == ["safe", "'=already"]
    assert "'=formula header" in back.columns
    assert pd.api.types.is_integer_dtype(back["amount"]) and back["amount"].iloc[0] == -5
    assert back["balance"].iloc[0] == -2.5
    raw = path.read_text(encoding="utf-8-sig")
    assert "\n-5," in raw.replace("\r", "") or ",-5," in raw  # written as a plain number


def test_xlsx_export_is_neutralised_and_has_no_formulas(tmp_path: Path) -> None:
    path = export_members(_nasty_frame(), tmp_path / "m.xlsx")
    ws = openpyxl.load_workbook(path).active
    cells = [c for row in ws.iter_rows() for c in row]
    assert not [c.coordinate for c in cells if c.data_type == "f"]
    header = [c.value for c in next(ws.iter_rows(max_row=1))]
    assert "'=formula header" in header
    note = [ws.cell(row=r, column=header.index("note") + 1).value for r in range(2, 2 + len(NASTY))]
    # XML parsers turn a bare carriage return into a line feed (XML line-end normalisation)
    note[5] = note[5].replace("\n", "\r")
    assert note == ["'=SUM(A1)", "'+1", "'-cmd", "'@x", "'\t=1", "'\r=1", "safe", "'=already"]
    amount = ws.cell(row=2, column=header.index("amount") + 1)
    assert amount.value == -5 and amount.data_type == "n"
    back = pd.read_excel(path)
    assert back["balance"].iloc[0] == -2.5 and back["note"].iloc[0] == "'=SUM(A1)"


def test_action_lists_are_neutralised_in_csv_and_xlsx_not_in_jsonl(
    tmp_path: Path, customers: pd.DataFrame
) -> None:
    tpl = {"type": "task", "template": "$name", "due_in_days": 0}
    lists = build_actions(
        _entered("vip", ["c2"]), customers, {"vip": tpl}, run_id="r1", today=TODAY
    )
    write_actions(lists, tmp_path, ("csv", "xlsx", "jsonl"))
    raw_name = customers.loc["c2", "name"]
    assert pd.read_csv(tmp_path / "tasks.csv")["name"].iloc[0] == "'" + raw_name
    assert pd.read_csv(tmp_path / "tasks.csv")["text"].iloc[0] == "'" + raw_name
    assert pd.read_excel(tmp_path / "tasks.xlsx")["name"].iloc[0] == "'" + raw_name
    row = json.loads((tmp_path / "tasks.jsonl").read_text(encoding="utf-8"))
    assert row["name"] == raw_name and row["due_date"] == "2025-06-30"


# ------------------------------------------------------------------------------ pseudonyms


def _oracle(salt: str, cid: str) -> str:
    return hmac.new(salt.encode(), cid.encode(), hashlib.sha256).hexdigest()[:16]


def test_pseudonymized_export(tmp_path: Path, customers: pd.DataFrame) -> None:
    path = export_members(customers, tmp_path / "p.csv", pseudonymize=True, salt=SALT)
    raw = path.read_text(encoding="utf-8-sig")
    for value in [*customers["email"].dropna(), *customers["name"], *customers["phone"].dropna()]:
        if value.strip():
            assert value not in raw
    back = pd.read_csv(path, dtype={"postal_code": "str"})
    assert not set(back.columns) & {"customer_id", "name", "email", "phone", "birth_date"}
    assert back["pseudonym_id"].tolist() == [_oracle(SALT, c) for c in customers.index]
    assert back["birth_year"].tolist()[:2] == [1980, 1999] and pd.isna(back["birth_year"].iloc[2])
    assert back["postal_code"].tolist()[:2] == ["602", "110"]
    # the same salt gives the same ids in another format and run; another salt different ones
    again = pd.read_parquet(
        export_members(customers, tmp_path / "p.parquet", pseudonymize=True, salt=SALT)
    )
    assert again["pseudonym_id"].tolist() == back["pseudonym_id"].tolist()
    other = pd.read_parquet(
        export_members(customers, tmp_path / "q.parquet", pseudonymize=True, salt=SALT + "-other")
    )
    assert not set(other["pseudonym_id"]) & set(back["pseudonym_id"])


def test_pseudonym_salt_from_environment_or_error(
    tmp_path: Path, customers: pd.DataFrame, monkeypatch: pytest.MonkeyPatch
) -> None:
    monkeypatch.delenv(A.PSEUDONYM_SALT_ENV, raising=False)
    with pytest.raises(ActionError, match=A.PSEUDONYM_SALT_ENV):
        export_members(customers, tmp_path / "p.csv", pseudonymize=True)
    monkeypatch.setenv(A.PSEUDONYM_SALT_ENV, SALT)
    out = pd.read_parquet(export_members(customers, tmp_path / "p.parquet", pseudonymize=True))
    assert out["pseudonym_id"].iloc[0] == _oracle(SALT, "c1")
    with pytest.raises(ActionError, match="identify people"):
        export_members(customers, tmp_path / "p.csv", pseudonymize=True, columns=["email"])


def test_export_columns_and_formats(tmp_path: Path, customers: pd.DataFrame) -> None:
    out = pd.read_parquet(
        export_members(customers, tmp_path / "m.parquet", columns=["name", "revenue_365d"])
    )
    assert list(out.columns) == ["customer_id", "name", "revenue_365d"]
    assert out["name"].iloc[1] == customers["name"].iloc[1]  # Parquet is for programs: unchanged
    with pytest.raises(ActionError, match="revenue_365d"):
        export_members(customers, tmp_path / "m.csv", columns=["revenue_356d"])
    with pytest.raises(ActionError, match=".csv, .xlsx or .parquet"):
        export_members(customers, tmp_path / "m.txt")
    assert sorted(p.name for p in tmp_path.iterdir()) == ["m.parquet"]  # no temp files left


def test_template_context_fields(customers: pd.DataFrame) -> None:
    tpl = {
        "type": "task",
        "template": "[$rule/$run_id] $customer_id by $due_date for $assignee",
        "due_in_days": 2,
    }
    validate_actions({"vip": tpl}, customers.columns)  # customer_id is the index: still allowed
    lists = build_actions(
        _entered("vip", ["c1"]), customers, {"vip": tpl}, run_id="r9", today=TODAY
    )
    assert lists.tasks["text"].tolist() == ["[vip/r9] c1 by 2025-07-02 for Eva"]


def test_three_runs_through_changes_and_ledger(tmp_path: Path, customers: pd.DataFrame) -> None:
    """The run's loop: compare with the previous published run, act, record."""
    ledger = ActionLedger()
    acts = {"vip": TASK, "lapsed": CALL}
    runs = [("r1", "2025-06-01", RUN1), ("r2", "2025-06-02", RUN2), ("r3", "2025-06-03", RUN1)]
    issued: dict[str, set[tuple[str, str]]] = {}
    previous = None
    for run_id, day, members in runs:
        current = _wide({s: m for s, m in members.items() if s in ("vip", "lapsed")}, IDS)
        moved = changes(current, previous)
        lists = build_actions(moved, customers, acts, run_id=run_id, today=day, ledger=ledger)
        write_actions(lists, tmp_path / run_id)
        ledger.record(lists, left=moved)
        previous = current
        issued[run_id] = set(zip(lists.tasks["segment"], lists.tasks["customer_id"], strict=True))
        issued[run_id] |= set(zip(lists.calls["segment"], lists.calls["customer_id"], strict=True))
    # r1: every member entered (first run); calls only with phone consent and a number
    # (lapsed: c4 has no phone consent recorded, c5 a blank phone: no calls)
    assert issued["r1"] == {("vip", "c1"), ("vip", "c2"), ("vip", "c3")}
    # r2: c7 entered vip (c1 left vip, c4 left lapsed)
    assert issued["r2"] == {("vip", "c7")}
    # r3: c1 re-entered vip after leaving -> a new task; c4 re-entered lapsed but cannot be called
    assert issued["r3"] == {("vip", "c1")}
    assert sorted(p.name for p in (tmp_path / "r1").iterdir()) == [
        "calls.csv", "emails.csv", "excluded.csv", "tasks.csv"
    ]  # fmt: skip


# ------------------------------------------------------------- validation hook (segwork validate)

_RULES_WITH_ACTIONS = """
rules:
  - name: Lapsed
    rule: customer_id is not missing
    action: {type: email, template: "Hello $name", due_in_days: 3}
  - name: Call them
    rule: customer_id is not missing
    action: {type: call, template: "Call $customer_id", due_in_days: 1}
  - name: Follow up
    rule: customer_id is not missing
    action: {type: task, template: "Follow up $customer_id", due_in_days: 2}
  - name: Assigned
    rule: customer_id is not missing
    action: {type: task, template: "Check $revenu", due_in_days: 2, assignee: Jana}
  - name: No action
    rule: customer_id is not missing
"""


def test_action_problems_name_the_file_rule_and_missing_column() -> None:
    from segwork.rules import load_rules

    ruleset = load_rules(_RULES_WITH_ACTIONS)
    problems = A.action_problems(ruleset, ["customer_id", "revenue"], source="segments.yaml")
    by_rule: dict[str, list[str]] = {}
    for p in problems:
        assert p.startswith("rules file 'segments.yaml', rule '"), p
        by_rule.setdefault(p.split("rule '")[1].split("'")[0], []).append(p)
    assert set(by_rule) == {"Lapsed", "Call them", "Follow up", "Assigned"}
    lapsed = " ".join(by_rule["Lapsed"])
    assert "needs the column 'email'" in lapsed and "'email_opt_in'" in lapsed
    assert "$name" in lapsed  # the template field is not a column either
    assert "needs the column 'phone'" in " ".join(by_rule["Call them"])
    assert "'phone_opt_in'" in " ".join(by_rule["Call them"])
    assert "no assignee" in by_rule["Follow up"][0] and "'owner'" in by_rule["Follow up"][0]
    assert len(by_rule["Assigned"]) == 1 and "$revenu" in by_rule["Assigned"][0]
    assert "did you mean 'revenue'" in by_rule["Assigned"][0]

    # with the columns the actions need, nothing is left to report, and build_actions agrees
    full = ["customer_id", "revenue", "revenu", "name", "email", "email_opt_in", "phone"]
    full += ["phone_opt_in", "owner"]
    assert A.action_problems(ruleset, full) == []
    customers = pd.DataFrame({c: ["x"] for c in full}).assign(customer_id="c1")
    validate_actions({r.name: r.action for r in ruleset}, customers.columns)


def test_action_problems_agree_with_build_actions_on_missing_contact_column() -> None:
    """What the hook reports is what build_actions would stop on."""
    from segwork.rules import load_rules

    ruleset = load_rules(_RULES_WITH_ACTIONS)
    columns = ["customer_id", "name", "revenu", "email", "email_opt_in", "owner", "phone_opt_in"]
    problems = A.action_problems(ruleset, columns)
    assert len(problems) == 1 and "rule 'Call them'" in problems[0] and "'phone'" in problems[0]
    customers = pd.DataFrame({c: ["v"] for c in columns}).assign(customer_id="c1")
    with pytest.raises(ActionError, match="Call them.*'phone' column"):
        build_actions(
            pd.DataFrame({"customer_id": ["c1"], "segment": ["Call them"]}),
            customers,
            {r.name: r.action for r in ruleset},
            run_id="r1",
            today=TODAY,
        )
