"""The actions a rule triggers: their settings checked against the customer table before any
run (:func:`validate_actions`, :func:`action_problems`)."""

from __future__ import annotations

import dataclasses
import difflib
import string
from collections.abc import Iterable, Mapping, Sequence
from dataclasses import dataclass
from typing import Any

import numpy as np

from segwork.actions.checks import (
    ActionError,
)

ACTION_TYPES = ("task", "email", "call")

#: channel -> (consent column, contact column, words for the summary)
CHANNELS: dict[str, tuple[str, str, str]] = {
    "email": ("email_opt_in", "email", "email"),
    "sms": ("sms_opt_in", "phone", "SMS"),
    "phone": ("phone_opt_in", "phone", "phone"),
}
_DEFAULT_CHANNEL = {"task": None, "email": "email", "call": "phone"}
_ALLOWED_CHANNELS = {
    "task": (None, "email", "sms", "phone"),
    "email": (None, "email"),
    "call": (None, "phone"),
}
_ACTION_KEYS = ("type", "template", "due_in_days", "assignee", "channel")
#: fields a template may use besides the customer's columns
_CONTEXT_FIELDS = ("rule", "run_id", "due_date", "assignee")

#: Columns dropped from a pseudonymized export: they identify a person directly.

_LISTS = ("tasks", "emails", "calls")
_LIST_OF_TYPE = {"task": "tasks", "email": "emails", "call": "calls"}
_LIST_HEAD = ["action_id", "run_id", "segment", "customer_id", "name"]
_LIST_TAIL = ["assignee", "assigned_by", "due_date", "text", "entry_date", "action_type", "channel"]
#: columns of each list (fixed, whatever the configuration, so integrations can rely on them)
_LIST_COLUMNS = {
    "tasks": [*_LIST_HEAD, *_LIST_TAIL],
    "emails": [*_LIST_HEAD, "email", *_LIST_TAIL],
    "calls": [*_LIST_HEAD, "phone", *_LIST_TAIL],
}
_EXCLUDED_COLUMNS = ["segment", "action_type", "channel", "reason", "customers"]
_REASON_OPEN = "already actioned in an earlier run"
_REASON_UNKNOWN = "not in the customer table"

# --------------------------------------------------------------------------------- templates


@dataclass(frozen=True)
class ActionConfig:
    """One validated action of one rule."""

    segment: str
    type: str
    template: str
    due_in_days: int
    assignee: str | None = None
    channel: str | None = None
    fields: tuple[str, ...] = ()

    @property
    def effective_channel(self) -> str | None:
        """The contact channel whose consent this action needs (None: no consent check)."""
        return self.channel or _DEFAULT_CHANNEL[self.type]


def _action_dict(action: Any) -> dict[str, Any]:
    if isinstance(action, Mapping):
        return dict(action)
    if hasattr(action, "model_dump"):  # pydantic (segwork.rules.ActionSpec)
        return dict(action.model_dump())
    if dataclasses.is_dataclass(action) and not isinstance(action, type):
        return dataclasses.asdict(action)
    raise ActionError(f"an action must be a mapping, got {type(action).__name__}")


def _suggest(name: str, options: Iterable[str]) -> str:
    close = difflib.get_close_matches(name, list(options), n=3, cutoff=0.6)
    return f" (did you mean {', '.join(repr(c) for c in close)}?)" if close else ""


def _check_template(segment: str, template: Any, columns: Sequence[str]) -> tuple[str, ...]:
    where = f"rule '{segment}': action template"
    if not isinstance(template, str) or not template.strip():
        raise ActionError(f"{where} must be non-empty text, got {template!r}")
    tpl = string.Template(template)
    if not tpl.is_valid():
        m = next(m for m in tpl.pattern.finditer(template) if m.group("invalid") is not None)
        pos = m.start("invalid")
        raise ActionError(
            f"{where} has a '$' that starts no field name at position {pos} "
            f"(...{template[max(0, pos - 10) : pos + 10]!r}...): write $name or ${{name}} for a "
            "customer field and $$ for a literal dollar sign"
        )
    known = set(map(str, columns)) | set(_CONTEXT_FIELDS) | {"customer_id"}
    fields = tuple(dict.fromkeys(tpl.get_identifiers()))
    for f in fields:
        if f not in known:
            raise ActionError(
                f"{where} uses unknown field '{f}'{_suggest(f, known)}; a template can use the "
                f"customer table's columns and {', '.join(_CONTEXT_FIELDS)}"
            )
    return fields


def validate_actions(
    actions: Mapping[str, Any], columns: Iterable[str]
) -> dict[str, tuple[ActionConfig, ...]]:
    """Check every rule's action settings against the customer columns, before any run.

    ``actions`` maps a rule name to an action (mapping, pydantic model or dataclass with type,
    template, due_in_days, assignee?, channel?), a list of them, or None (no action). Raises
    :class:`ActionError` naming the rule and the problem (unknown template field, bad type ...).
    """
    columns = [str(c) for c in columns]
    out: dict[str, tuple[ActionConfig, ...]] = {}
    for segment, spec in actions.items():
        segment = str(segment)
        specs = [] if spec is None else list(spec) if isinstance(spec, list | tuple) else [spec]
        configs: list[ActionConfig] = []
        for raw in specs:
            d = {k: v for k, v in _action_dict(raw).items() if v is not None}
            where = f"rule '{segment}': action"
            unknown = sorted(set(d) - set(_ACTION_KEYS))
            if unknown:
                raise ActionError(
                    f"{where} has unknown settings {unknown}{_suggest(unknown[0], _ACTION_KEYS)}; "
                    f"allowed: {', '.join(_ACTION_KEYS)}"
                )
            kind = d.get("type")
            if kind not in ACTION_TYPES:
                raise ActionError(
                    f"{where} type must be one of {', '.join(ACTION_TYPES)}, got {kind!r}"
                )
            days = d.get("due_in_days", 0)
            if isinstance(days, bool) or not isinstance(days, int | np.integer) or days < 0:
                raise ActionError(f"{where} due_in_days must be a whole number >= 0, got {days!r}")
            channel = d.get("channel")
            if channel not in _ALLOWED_CHANNELS[kind]:
                allowed = [c for c in _ALLOWED_CHANNELS[kind] if c]
                raise ActionError(
                    f"{where} of type {kind} cannot use channel {channel!r}; allowed: {allowed}"
                )
            assignee = d.get("assignee")
            if assignee is not None and (not isinstance(assignee, str) or not assignee.strip()):
                raise ActionError(f"{where} assignee must be a name, got {assignee!r}")
            fields = _check_template(segment, d.get("template"), columns)
            cfg = ActionConfig(segment, kind, d["template"], int(days), assignee, channel, fields)
            eff = cfg.effective_channel
            if eff is not None and CHANNELS[eff][1] not in columns:
                raise ActionError(
                    f"{where} {kind} needs a '{CHANNELS[eff][1]}' column in the customer table "
                    "to contact the customer; map one in the config or change the action"
                )
            if any((c.type, c.effective_channel) == (kind, eff) for c in configs):
                raise ActionError(f"{where}: two {kind} actions on channel {eff}; keep one")
            configs.append(cfg)
        out[segment] = tuple(configs)
    return out


def action_problems(
    ruleset: Iterable[Any], columns: Sequence[str], *, source: str | None = None
) -> list[str]:
    """What the actions of a rule set need that the customer table lacks, before any run.

    ``ruleset`` is a :class:`segwork.rules.RuleSet` (or any rules with ``name`` and ``action``),
    ``columns`` the customer table's columns as the run will have them, ``source`` the rules
    file's name for the messages. One line per problem, naming the file, the rule and the
    column: an email action without an ``email`` column (or without ``email_opt_in``: missing
    consent is no consent, so the list would always be empty), a call or SMS without ``phone``
    or its consent column, a template field that is not a column, a task with no assignee and
    no ``owner`` column. Settings that are wrong whatever the data (a call on the email
    channel) are listed too. An empty list means the actions can run on this table.
    """
    from segwork.rules import describe_columns

    columns = [str(c) for c in columns]
    have = set(columns)
    prefix = f"rules file '{source}', " if source else ""
    present = describe_columns(sorted(columns))
    out: list[str] = []
    for rule in ruleset:
        action = getattr(rule, "action", None)
        if action is None:
            continue
        where = f"{prefix}rule '{rule.name}'"
        d = {k: v for k, v in _action_dict(action).items() if v is not None}
        kind = d.get("type")
        fields: tuple[str, ...] = ()
        template = d.get("template")
        if isinstance(template, str) and string.Template(template).is_valid():
            known = have | set(_CONTEXT_FIELDS) | {"customer_id"}
            fields = tuple(dict.fromkeys(string.Template(template).get_identifiers()))
            for f in fields:
                if f not in known:
                    out.append(
                        f"{where}: the {kind} action's template uses ${f}, which is not a column "
                        f"of the customer table{_suggest(f, known)}; a template can use the "
                        f"columns ({present}) and {', '.join(_CONTEXT_FIELDS)}"
                    )
        channel = d.get("channel") or (_DEFAULT_CHANNEL.get(kind) if kind in ACTION_TYPES else None)
        if kind in ACTION_TYPES and channel in CHANNELS:
            consent_col, contact_col, words = CHANNELS[channel]
            if contact_col not in have:
                out.append(
                    f"{where}: the {kind} action needs the column '{contact_col}' (the customer's "
                    f"{_contact_words(channel)}), which the customer table does not have"
                    f"{_suggest(contact_col, columns)}; map one under sources.customers.columns, "
                    f"or change the action (columns: {present})"
                )
            if consent_col not in have:
                out.append(
                    f"{where}: the {kind} action needs the consent column '{consent_col}', which "
                    f"the customer table does not have{_suggest(consent_col, columns)}; missing "
                    f"consent counts as no {words} consent, so nobody would be contacted. Map "
                    "the consent column under sources.customers.columns, or change the action"
                )
        if kind == "task" and not d.get("assignee") and "owner" not in have:
            out.append(
                f"{where}: the task action has no assignee and the customer table has no "
                "'owner' column (account manager), so every task would go to the default "
                "assignee (notebooks.05_rule_segments.default_assignee); set action.assignee "
                "in the rules file or map an owner column under sources.customers.columns"
            )
        try:  # what is wrong whatever the columns are (type, channel, due days ...)
            validate_actions({rule.name: action}, [*columns, *fields, "email", "phone"])
        except ActionError as exc:
            out.append(f"{prefix}{exc}")
    return out


def _contact_words(channel: str) -> str:
    return "email address" if CHANNELS[channel][1] == "email" else "phone number"
