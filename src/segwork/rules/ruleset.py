"""Saved segments: the YAML rules file's schema (pydantic), :class:`RuleSet` and
:func:`load_rules`."""

from __future__ import annotations

from collections.abc import Iterator, Mapping, Sequence
from dataclasses import dataclass
from typing import Any
from typing import Literal as TypingLiteral

import ibis
import ibis.expr.types as ir
import pandas as pd
import yaml
from pydantic import BaseModel, ConfigDict, Field, ValidationError

from segwork.rules.errors import (
    RuleError,
    RuleProblem,
    RuleSetError,
)
from segwork.rules.parser import parse
from segwork.rules.rule import Rule

# ------------------------------------------------------------------------------------ rule sets


class ActionSpec(BaseModel):
    """What happens when a customer enters the segment (carried out by ``segwork.actions``)."""

    model_config = ConfigDict(extra="forbid", frozen=True, strict=True)

    type: TypingLiteral["task", "email", "call"]
    template: str = Field(min_length=1)
    due_in_days: int = Field(ge=0, le=3650)
    assignee: str | None = None
    channel: str | None = None


class RuleSpec(BaseModel):
    """One saved segment as written in YAML (before its rule text is parsed)."""

    model_config = ConfigDict(extra="forbid", frozen=True, strict=True)

    name: str = Field(min_length=1)
    rule: str
    description: str = ""
    priority: int = 100
    owner: str | None = None
    action: ActionSpec | None = None


@dataclass(frozen=True)
class SegmentRule:
    """A saved segment: its parsed rule and what the YAML says about it."""

    name: str
    rule: Rule
    description: str = ""
    priority: int = 100
    owner: str | None = None
    action: ActionSpec | None = None


@dataclass(frozen=True)
class RuleSet:
    """Saved segments in file order. Lower ``priority`` number = higher priority."""

    rules: tuple[SegmentRule, ...]

    def __post_init__(self) -> None:
        names = [r.name for r in self.rules]
        dupes = sorted({n for n in names if names.count(n) > 1})
        if dupes:
            raise RuleSetError([f"rule name '{n}' is used more than once" for n in dupes])

    def __len__(self) -> int:
        return len(self.rules)

    def __iter__(self) -> Iterator[SegmentRule]:
        return iter(self.rules)

    def __getitem__(self, name: str) -> SegmentRule:
        for r in self.rules:
            if r.name == name:
                return r
        raise KeyError(f"no rule named {name!r}; rules: {', '.join(self.names)}")

    @property
    def names(self) -> list[str]:
        return [r.name for r in self.rules]

    @property
    def columns(self) -> list[str]:
        """Columns read by any rule, sorted."""
        return sorted({c for r in self.rules for c in r.rule.columns})

    def validate(self, schema: Any) -> RuleSet:
        """Check every rule against a schema (see :meth:`Rule.validate`); report all problems."""
        details = [
            RuleProblem(f"rule '{r.name}': {e}", r.name, e.column, e.kind)
            for r in self.rules
            for e in r.rule.problems(schema)
        ]
        if details:
            raise RuleSetError([d.message for d in details], details=details)
        return self

    def memberships(self, customers: pd.DataFrame, today: Any = None) -> pd.DataFrame:
        """Boolean DataFrame, one column per rule (file order), aligned to ``customers.index``."""
        self.validate(customers)
        return pd.DataFrame(
            {r.name: r.rule.mask(customers, today=today) for r in self.rules},
            index=customers.index,
            columns=self.names,
        )

    def member_ids(
        self, table: pd.DataFrame | ir.Table, today: Any = None, *, id_column: str = "customer_id"
    ) -> pd.DataFrame:
        """Members of every rule, evaluated by the engine that holds ``table``: one
        ``UNION ALL`` query of the rules compiled with the Ibis evaluator; only the
        (customer_id, segment) pairs come back. A pandas DataFrame (customer_id as index or
        column) is evaluated in DuckDB as a memtable of the columns the rules read.

        Long table, columns customer_id and segment (text), rules in file order; its
        ``attrs["segments"]`` lists every rule, also those without members.
        """
        if isinstance(table, pd.DataFrame):
            frame = table.reset_index() if id_column not in table.columns else table
            if id_column not in frame.columns:
                raise RuleError(f"the customer table has no {id_column!r} column or index")
            needed = [id_column, *(c for c in self.columns if c != id_column)]
            frame = frame[[c for c in needed if c in frame.columns]]
            aware = [
                c
                for c in frame.columns
                if isinstance(frame[c].dtype, pd.DatetimeTZDtype)  # the one rule: UTC, naive
            ]
            if aware:
                frame = frame.assign(
                    **{c: frame[c].dt.tz_convert("UTC").dt.tz_localize(None) for c in aware}
                )
            table = ibis.memtable(frame)
        self.validate(table)
        ids = table[id_column].cast("string").name("customer_id")
        parts = [
            table.filter(r.rule.to_ibis(table, today=today)).select(
                ids, segment=ibis.literal(r.name, "string")
            )
            for r in self.rules
        ]
        if parts:
            got = parts[0].union(*parts[1:], distinct=False).to_pyarrow().to_pandas()
        else:
            got = pd.DataFrame({"customer_id": [], "segment": []})
        order = {name: k for k, name in enumerate(self.names)}
        out = (
            got.astype({"customer_id": "str", "segment": "str"})
            .assign(_k=lambda d: d["segment"].map(order))
            .sort_values(["_k", "customer_id"], kind="stable", ignore_index=True)
            .drop(columns="_k")
        )
        out.attrs["segments"] = self.names
        return out

    def exclusive(self, memberships: pd.DataFrame) -> pd.Series:
        """Each customer's highest-priority segment (lowest priority number; ties go to the rule
        earlier in the file), or <NA> if it meets none. Series named 'segment'."""
        unknown = [c for c in memberships.columns if c not in self.names]
        if unknown:
            raise ValueError(
                f"memberships: columns {unknown} are not rules of this set "
                f"({', '.join(self.names)})"
            )
        order = sorted(range(len(self.rules)), key=lambda k: (self.rules[k].priority, k))
        out = pd.Series(pd.NA, index=memberships.index, dtype="string", name="segment")
        for k in order:
            name = self.rules[k].name
            if name in memberships.columns:
                hit = memberships[name].fillna(False).astype(bool) & out.isna()
                out = out.mask(hit, name)
        return out

    def to_frame(self) -> pd.DataFrame:
        """One row per rule: name, description, canonical rule, priority, owner, action, columns."""
        return pd.DataFrame(
            {
                "name": pd.Series(self.names, dtype="str"),
                "description": [r.description for r in self.rules],
                "rule": [str(r.rule) for r in self.rules],
                "priority": [r.priority for r in self.rules],
                "owner": [r.owner for r in self.rules],
                "action": [r.action.type if r.action else None for r in self.rules],
                "columns": [", ".join(r.rule.columns) for r in self.rules],
            }
        )


def _pydantic_problem(err: Mapping[str, Any]) -> str:
    loc = ".".join(str(p) for p in err["loc"])
    if err["type"] == "extra_forbidden":
        model = ActionSpec if err["loc"][:1] == ("action",) else RuleSpec
        return f"unknown key '{loc}' (allowed: {', '.join(model.model_fields)})"
    if err["type"] == "missing":
        return f"missing key '{loc}'"
    return f"'{loc}': {err['msg']}"


def load_rules(
    source: str | Mapping[str, Any] | Sequence[Any] | RuleSet,
    *,
    schema: Any = None,
    name: str | None = None,
) -> RuleSet:
    """Read saved segments from YAML text (or the already-loaded list/mapping) into a RuleSet.

    The YAML is a list of rules, or a mapping with a ``rules:`` list. Every rule is validated
    (unknown keys are errors) and parsed up front, and with ``schema`` (a DataFrame, Ibis table
    or {column: dtype}) also checked against the columns; all problems of all rules are reported
    together in one :class:`RuleSetError`, each naming its rule (and, with ``name``, the rules
    file, e.g. ``name="segments.yaml"``). The error's ``details`` say which rule and column each
    problem is about, for callers such as ``segwork validate``.
    """
    try:
        return _load_rules(source, schema)
    except RuleSetError as exc:
        if name is None:
            raise
        raise RuleSetError(
            [d.message for d in exc.details], details=exc.details, source=name
        ) from None


def _load_rules(source: Any, schema: Any) -> RuleSet:
    if isinstance(source, RuleSet):
        return source.validate(schema) if schema is not None else source
    data: Any = source
    if isinstance(source, str):
        try:
            data = yaml.safe_load(source)
        except yaml.YAMLError as exc:
            raise RuleSetError([f"the rules are not valid YAML: {exc}"]) from exc
    if isinstance(data, Mapping):
        extra = [k for k in data if k != "rules"]
        if extra or "rules" not in data:
            raise RuleSetError(
                [
                    f"expected a list of rules or a mapping with the key 'rules'; found "
                    f"keys {list(data)}"
                ]
            )
        data = data["rules"]
    if data is None:
        data = []
    if isinstance(data, str | bytes) or not isinstance(data, Sequence):
        raise RuleSetError([f"expected a list of rules, got {type(data).__name__}"])

    problems: list[RuleProblem] = []
    rules: list[SegmentRule] = []
    seen: dict[str, int] = {}
    for k, item in enumerate(data, start=1):
        label = f"rule #{k}"
        name = item.get("name") if isinstance(item, Mapping) else None
        rule_name = name if isinstance(name, str) else None
        if rule_name is not None:
            label = f"rule '{rule_name}' (#{k})"
        if not isinstance(item, Mapping):
            problems.append(
                RuleProblem(
                    f"{label}: expected a mapping with name, rule, ...; got {type(item).__name__}"
                )
            )
            continue
        try:
            spec = RuleSpec.model_validate(dict(item))
        except ValidationError as exc:
            problems.extend(
                RuleProblem(f"{label}: {_pydantic_problem(e)}", rule_name) for e in exc.errors()
            )
            spec = None
        if rule_name is not None and rule_name in seen:
            problems.append(
                RuleProblem(
                    f"{label}: the name '{rule_name}' is already used by rule #{seen[rule_name]}",
                    rule_name,
                )
            )
        elif rule_name is not None:
            seen[rule_name] = k
        text = item.get("rule")
        if not isinstance(text, str):
            continue  # already reported by pydantic
        try:
            rule = parse(text)
        except RuleError as exc:
            problems.append(RuleProblem(f"{label}: {exc}", rule_name, exc.column, "syntax"))
            continue
        if schema is not None:
            problems.extend(
                RuleProblem(f"{label}: {e}", rule_name, e.column, e.kind)
                for e in rule.problems(schema)
            )
        if spec is not None:
            rules.append(
                SegmentRule(
                    spec.name, rule, spec.description, spec.priority, spec.owner, spec.action
                )
            )
    if problems:
        raise RuleSetError([p.message for p in problems], details=problems)
    return RuleSet(tuple(rules))
