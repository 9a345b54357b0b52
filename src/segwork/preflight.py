"""What a run would trip on, found before it runs: notebook applicability and config problems.

Each notebook declares what it needs in its notebook-level metadata, under ``segwork``::

    "segwork": {
      "requires": {"tables": ["orders"], "artifacts": ["customer360"], "files": ["rules_file"]},
      "provides": ["rfm", "clv_models"],
      "parameter_types": {"k": ["str", "int"]},
      "parameter_values": {"k": {"choices": ["auto"], "min": 2},
                           "member_formats": {"items": {"choices": ["csv", "parquet", "xlsx"]}}}
    }

- ``tables``: sources that must be configured. ``customers`` counts as available when any table
  with customer ids is configured (``config.ID_TABLES``: customers are then derived from their
  ids, as ``sources.load_tables`` does).
- ``artifacts``: written by an earlier notebook of the same run (one that ``provides`` it), or
  by the run itself before any notebook (``validation`` and the validated tables:
  :data:`segwork.catalog.RUN_DATASETS`).
- ``uses`` (optional): artifacts the notebook reads when they exist (``ctx.customer_table()``
  joins the RFM table and the personas if the run wrote them). Declaring ``uses``, even as an
  empty list, says the notebook reads nothing else at its start: it may then start as soon as
  the earlier notebooks that provide its ``artifacts`` and ``uses`` have finished, beside others
  (:func:`dependencies`); what it reads later it waits for in its kernel
  (``RunContext.wait_for``: notebook 03 fits beside 02, then waits for 02's RFM table). A
  notebook without ``uses`` waits for every earlier notebook.
- ``files``: parameters naming a file relative to the config's folder, which must exist. A file
  the user named in the config (``notebooks.<stem>.<param>``) that is missing is an **error**
  (a typo must not silently skip an analysis); the default of the parameters cell missing means
  the notebook is **not applicable** (a user without saved rules simply has no rule segments);
  so is an empty value, which is how a config switches such a notebook off.
- ``parameter_types`` (optional): the types a parameter accepts when it is more than the type of
  its default (``str``, ``int``, ``float``, ``bool``, ``list``, ``dict``, ``null``). Otherwise a
  value must have the type of the default in the parameters cell (a whole number is accepted
  where the default is a number); ``null`` is accepted where the default is ``None`` or the
  parameter's comment mentions ``None``.
- ``parameter_values`` (optional): the values a parameter accepts, checked by ``validate`` for
  values the config sets (see :data:`VALUE_RULES`): ``choices`` (allowed texts or numbers),
  ``min``/``max`` (inclusive) and ``gt``/``lt`` (exclusive) bounds of a number, ``files``
  (endings of a file name accepted besides the choices), ``multiline`` (true: a text of several
  lines, such as inline YAML, is accepted too), ``items`` (a rule for each item of a
  list) and ``sorted`` (a list in increasing order).

A notebook without ``segwork`` metadata always applies. The functions here are pure (findings and
decisions from specs, tables and config values); reading notebooks, files and data is done at the
edges (:func:`read_specs`, :func:`reports_dir_findings`, :func:`check_data`).
"""

from __future__ import annotations

import ast
import difflib
import json
from collections.abc import Collection, Iterable, Mapping, Sequence
from dataclasses import dataclass, field
from pathlib import Path
from typing import Any

from segwork.catalog import CUSTOMER_TABLE, RUN_DATASETS, Catalog
from segwork.config import ID_TABLES, TABLES, RunConfig

RESERVED_PARAMETERS = ("config_path", "run_dir")
#: Tables whose customer ids make a customers table when none is configured (as sources does).
CUSTOMER_ID_TABLES = tuple(t for t in ID_TABLES if t != "customers")
#: Artifacts that ``RunContext.customer_table`` joins onto the customer 360 (rules read them).
CUSTOMER_TABLE_ARTIFACTS = CUSTOMER_TABLE
_TYPE_WORDS = {
    "bool": "true or false",
    "int": "a whole number",
    "float": "a number",
    "str": "text",
    "list": "a list",
    "dict": "a mapping",
    "null": "null",
    "date": "a date",
}
_MAX_QUOTE = 60
VALUE_RULES = ("choices", "min", "max", "gt", "lt", "files", "multiline", "items", "sorted")
"""The keys of a parameter's entry in ``segwork.parameter_values``."""


@dataclass(frozen=True)
class Finding:
    """One problem, named in the config's words (``key``), with what to do about it."""

    key: str  # e.g. notebooks.04_campaign_ab.control; empty when the message names it itself
    message: str
    level: str = "error"  # "error": the run would fail or refuse; "warning": worth a look

    def __str__(self) -> str:
        return f"{self.key}: {self.message}" if self.key else self.message


@dataclass(frozen=True)
class Requirements:
    """What a notebook needs and provides (its ``segwork`` metadata)."""

    tables: tuple[str, ...] = ()
    artifacts: tuple[str, ...] = ()
    files: tuple[str, ...] = ()
    provides: tuple[str, ...] = ()
    uses: tuple[str, ...] | None = None  # None: not declared, the notebook waits for all before it
    parameter_types: Mapping[str, tuple[str, ...]] = field(default_factory=dict)
    parameter_values: Mapping[str, Mapping[str, Any]] = field(default_factory=dict)


@dataclass(frozen=True)
class FileParameter:
    """A notebook parameter that names a file: its value, where it points and whether it exists."""

    parameter: str
    value: Any
    path: Path | None
    exists: bool
    explicit: bool  # set in the config (else the parameters cell's default)


@dataclass(frozen=True)
class NotebookSpec:
    """A notebook as the checks see it: requirements, parameters cell, the config's settings."""

    stem: str
    requires: Requirements = field(default_factory=Requirements)
    parameters: Mapping[str, Mapping[str, Any]] = field(default_factory=dict)  # papermill's
    settings: Mapping[str, Any] = field(default_factory=dict)  # notebooks.<stem> of the config
    files: tuple[FileParameter, ...] = ()

    def value(self, name: str) -> Any:
        """The value the notebook will get: the config's, else the parameters cell's default."""
        if name in self.settings:
            return self.settings[name]
        ok, default = default_value(self.parameters.get(name, {}))
        return default if ok else None


@dataclass(frozen=True)
class Applicability:
    """Whether a notebook applies to this run's data and, if not, why (plain words)."""

    stem: str
    applicable: bool
    reason: str | None = None


# -------------------------------------------------------------------------------- requirements


def requirements(metadata: Mapping[str, Any], where: str) -> tuple[Requirements, list[Finding]]:
    """Read ``metadata["segwork"]``; malformed declarations are findings naming ``where``."""
    seg = metadata.get("segwork")
    if seg is None:
        return Requirements(), []
    problems: list[Finding] = []
    if not isinstance(seg, Mapping):
        return Requirements(), [Finding(where, "metadata 'segwork' must be a mapping")]
    req = seg.get("requires") or {}
    if not isinstance(req, Mapping):
        problems.append(Finding(where, "metadata 'segwork.requires' must be a mapping"))
        req = {}

    def names(value: Any, what: str) -> tuple[str, ...]:
        if value is None:
            return ()
        if isinstance(value, list) and all(isinstance(v, str) for v in value):
            return tuple(value)
        problems.append(Finding(where, f"metadata '{what}' must be a list of names"))
        return ()

    tables = names(req.get("tables"), "segwork.requires.tables")
    unknown = [t for t in tables if t not in TABLES]
    if unknown:
        problems.append(
            Finding(
                where,
                f"metadata 'segwork.requires.tables' names unknown tables {unknown}; "
                f"the tables are: {', '.join(TABLES)}",
            )
        )
    types_raw = seg.get("parameter_types") or {}
    types: dict[str, tuple[str, ...]] = {}
    if isinstance(types_raw, Mapping):
        for name, value in types_raw.items():
            declared = names(value, f"segwork.parameter_types.{name}")
            bad = [t for t in declared if t not in _TYPE_WORDS]
            if bad:
                problems.append(
                    Finding(
                        where, f"metadata 'segwork.parameter_types.{name}': unknown types {bad}"
                    )
                )
            types[str(name)] = declared
    else:
        problems.append(Finding(where, "metadata 'segwork.parameter_types' must be a mapping"))
    values_raw = seg.get("parameter_values") or {}
    values: dict[str, Mapping[str, Any]] = {}
    if isinstance(values_raw, Mapping):
        for name, rule in values_raw.items():
            found = _rule_problems(rule, f"segwork.parameter_values.{name}")
            problems += [Finding(where, p) for p in found]
            if not found:
                values[str(name)] = rule
    else:
        problems.append(Finding(where, "metadata 'segwork.parameter_values' must be a mapping"))
    return (
        Requirements(
            tables=tables,
            artifacts=names(req.get("artifacts"), "segwork.requires.artifacts"),
            files=names(req.get("files"), "segwork.requires.files"),
            provides=names(seg.get("provides"), "segwork.provides"),
            uses=None if req.get("uses") is None else names(req["uses"], "segwork.requires.uses"),
            parameter_types=types,
            parameter_values=values,
        ),
        problems,
    )


def _rule_problems(rule: Any, what: str) -> list[str]:
    """What is wrong with one ``parameter_values`` entry (a notebook author's mistake)."""
    if not isinstance(rule, Mapping):
        return [f"metadata '{what}' must be a mapping"]
    out = []
    unknown = [k for k in rule if k not in VALUE_RULES]
    if unknown:
        out.append(f"metadata '{what}': unknown rules {unknown}; the rules are {list(VALUE_RULES)}")
    for bound in ("min", "max", "gt", "lt"):
        v = rule.get(bound)
        if v is not None and (isinstance(v, bool) or not isinstance(v, int | float)):
            out.append(f"metadata '{what}.{bound}' must be a number")
    for listed in ("choices", "files"):
        if listed in rule and not isinstance(rule[listed], list):
            out.append(f"metadata '{what}.{listed}' must be a list")
    if "items" in rule:
        out += _rule_problems(rule["items"], f"{what}.items")
    return out


def available_tables(configured: Collection[str]) -> frozenset[str]:
    """The configured tables, plus customers when they can be derived from another table's ids."""
    out = set(configured)
    if out & set(CUSTOMER_ID_TABLES):
        out.add("customers")
    return frozenset(out)


def _missing_table_reason(table: str) -> str:
    if table == "customers":
        others = ", ".join(CUSTOMER_ID_TABLES[:-1]) + " or " + CUSTOMER_ID_TABLES[-1]
        return (
            f"no customers table in the config (sources.customers), and no {others} "
            "to take the customers from"
        )
    return f"no {table} table in the config (sources.{table})"


def _label(parameter: str) -> str:
    return parameter.replace("_", " ")


def _shown(path: Path | None) -> str:
    if path is None:
        return "(none)"
    try:
        return str(path.relative_to(Path.cwd()))
    except ValueError:
        return str(path)


def decide(specs: Sequence[NotebookSpec], configured: Collection[str]) -> list[Applicability]:
    """Applicability of each notebook, in run order (pure).

    A notebook applies when its tables are available, its file parameters point at existing
    files and every artifact it needs is provided by an earlier notebook that applies.
    """
    tables = available_tables(configured)
    decisions: list[Applicability] = []
    # artifact -> the earlier notebook that writes it; the run writes its own before any notebook
    providers = {name: Applicability("the run", True, None) for name in RUN_DATASETS}
    for spec in specs:
        reason = None
        for table in spec.requires.tables:
            if table not in tables:
                reason = _missing_table_reason(table)
                break
        if reason is None:
            for f in spec.files:
                key = f"notebooks.{spec.stem}.{f.parameter}"
                if f.path is None:
                    reason = f"no {_label(f.parameter)} set ({key})"
                    break
                if not f.exists:
                    reason = f"{_label(f.parameter)} {_shown(f.path)} not found ({key})"
                    break
        if reason is None:
            for artifact in spec.requires.artifacts:
                provider = providers.get(artifact)
                if provider is None:
                    reason = (
                        f"needs {artifact}, which no earlier notebook of this run writes "
                        "(run the notebook that provides it as well)"
                    )
                    break
                if not provider.applicable:
                    reason = (
                        f"needs {artifact}, which {provider.stem} did not write because it does "
                        f"not apply: {provider.reason}"
                    )
                    break
        decision = Applicability(spec.stem, reason is None, reason)
        decisions.append(decision)
        for artifact in spec.requires.provides:
            if decision.applicable or artifact not in providers:
                providers[artifact] = decision
    return decisions


def dependencies(specs: Sequence[NotebookSpec]) -> dict[str, tuple[str, ...]]:
    """For each notebook (in run order), the earlier notebooks that must finish before it starts.

    A notebook that declares ``uses`` waits for the earlier notebooks that provide one of its
    ``artifacts`` or ``uses``; one that does not waits for every earlier notebook (pure).
    """
    after: dict[str, tuple[str, ...]] = {}
    for i, spec in enumerate(specs):
        earlier = specs[:i]
        if spec.requires.uses is None:
            after[spec.stem] = tuple(s.stem for s in earlier)
            continue
        reads = set(spec.requires.artifacts) | set(spec.requires.uses)
        after[spec.stem] = tuple(s.stem for s in earlier if reads & set(s.requires.provides))
    return after


def missing_artifact_reason(
    spec: NotebookSpec, written: Collection[str], earlier: Sequence[NotebookSpec]
) -> str | None:
    """Why ``spec`` cannot run now: an artifact it needs was not written by the run so far."""
    for artifact in spec.requires.artifacts:
        if artifact in written or artifact in RUN_DATASETS:
            continue
        provider = next((s.stem for s in earlier if artifact in s.requires.provides), None)
        if provider is None:
            return f"needs {artifact}, which no earlier notebook of this run wrote"
        return f"needs {artifact}, which {provider} did not write"
    return None


# -------------------------------------------------------------------------------- parameters


def default_value(info: Mapping[str, Any]) -> tuple[bool, Any]:
    """The default of a parameters-cell line as papermill inspected it (a literal, never run)."""
    text = info.get("default")
    if not isinstance(text, str):
        return False, None
    try:
        return True, ast.literal_eval(text)
    except (ValueError, SyntaxError, TypeError, MemoryError, RecursionError):
        return False, None


def type_name(value: Any) -> str:
    """``bool``, ``int``, ``float``, ``str``, ``list``, ``dict``, ``null`` (or the Python name)."""
    if value is None:
        return "null"
    for name, kind in (("bool", bool), ("int", int), ("float", float), ("str", str)):
        if isinstance(value, kind):
            return name
    if isinstance(value, list | tuple):
        return "list"
    if isinstance(value, Mapping):
        return "dict"
    if hasattr(value, "isoformat"):
        return "date"
    return type(value).__name__


def quote(value: Any, limit: int = _MAX_QUOTE) -> str:
    """A value as the config would write it (JSON), cut to ``limit`` characters.

    Rendered piece by piece and stopped at the limit, so a huge value (a YAML alias bomb
    expands to billions of items) costs no more than ``limit`` characters of work.
    """
    parts: list[str] = []
    size = 0

    def emit(text: str) -> None:
        nonlocal size
        parts.append(text)
        size += len(text)

    def walk(v: Any) -> None:
        if size > limit:
            return
        if isinstance(v, Mapping):
            emit("{")
            for i, (k, item) in enumerate(v.items()):
                if size > limit:
                    return
                emit(
                    (", " if i else "") + json.dumps(str(k), ensure_ascii=False)[: limit + 2] + ": "
                )
                walk(item)
            emit("}")
        elif isinstance(v, list | tuple):
            emit("[")
            for i, item in enumerate(v):
                if size > limit:
                    return
                if i:
                    emit(", ")
                walk(item)
            emit("]")
        elif isinstance(v, str):
            emit(
                json.dumps(v[: limit + 1], ensure_ascii=False)
                if len(v) <= limit
                else '"' + v[: limit + 1]
            )
        elif v is None or isinstance(v, bool | int | float):
            emit(json.dumps(v))
        else:
            emit(str(v)[: limit + 1])

    walk(value)
    text = "".join(parts)
    return text if len(text) <= limit else text[: limit - 1] + "…"


def _cut(text: str, limit: int = _MAX_QUOTE) -> str:
    return text if len(text) <= limit else text[: limit - 1] + "…"


def accepted_types(
    info: Mapping[str, Any], declared: Sequence[str] | None = None
) -> set[str] | None:
    """The value types a parameter accepts (None: any), from its declaration or its default."""
    if declared:
        return set(declared)
    ok, default = default_value(info)
    if not ok or default is None:
        return None
    kinds = {type_name(default)}
    if "float" in kinds:
        kinds.add("int")
    if "None" in str(info.get("help") or ""):
        kinds.add("null")
    return kinds


def _words(kinds: Iterable[str]) -> str:
    kinds = set(kinds)
    if "float" in kinds:
        kinds.discard("int")  # "a number" includes whole numbers
    listed = [_TYPE_WORDS.get(k, k) for k in sorted(kinds)]
    return listed[0] if len(listed) == 1 else ", ".join(listed[:-1]) + " or " + listed[-1]


def parameter_findings(spec: NotebookSpec) -> list[Finding]:
    """Unknown (with did-you-mean), reserved and wrongly typed ``notebooks.<stem>.*`` settings."""
    own = [p for p in spec.parameters if p not in RESERVED_PARAMETERS]
    out = []
    for key, value in spec.settings.items():
        where = f"notebooks.{spec.stem}.{_cut(str(key))}"
        if key in RESERVED_PARAMETERS:
            out.append(Finding(where, f"'{key}' is set by segwork run; remove it from the config"))
            continue
        if key not in spec.parameters:
            listing = ", ".join(own) if own else "none (it has no parameters of its own)"
            close = difflib.get_close_matches(str(key)[:200], own, n=1)
            hint = f"; did you mean '{close[0]}'?" if close else ""
            out.append(
                Finding(
                    where,
                    f"notebook {spec.stem} has no parameter '{_cut(str(key))}'{hint}; "
                    f"its parameters are: {listing}",
                )
            )
            continue
        info = spec.parameters[key]
        kinds = accepted_types(info, spec.requires.parameter_types.get(key))
        got = type_name(value)
        if kinds is None or got in kinds:
            continue
        _, default = default_value(info)
        out.append(
            Finding(
                where,
                f"expected {_words(kinds)} (the default is {quote(default)}), "
                f"got {_TYPE_WORDS.get(got, got)} {quote(value)}",
            )
        )
    return out


def value_findings(spec: NotebookSpec) -> list[Finding]:
    """Settings of the right type whose value the notebook does not accept (a typo in a choice,
    a number out of range), by the notebook's ``parameter_values``; only values the config
    sets are checked (the parameters cell's defaults are the notebook's own)."""
    out = []
    for key, value in spec.settings.items():
        rule = spec.requires.parameter_values.get(str(key))
        info = spec.parameters.get(key)
        if rule is None or info is None:
            continue
        kinds = accepted_types(info, spec.requires.parameter_types.get(key))
        if kinds is not None and type_name(value) not in kinds:
            continue  # a wrong type is said by parameter_findings
        problem = _value_problem(value, rule, kinds)
        if problem:
            _, default = default_value(info)
            out.append(
                Finding(
                    f"notebooks.{spec.stem}.{_cut(str(key))}",
                    f"{problem} (the default is {quote(default)})",
                )
            )
    return out


def _value_problem(value: Any, rule: Mapping[str, Any], kinds: set[str] | None) -> str | None:
    """Why ``value`` breaks ``rule``: the value, what is allowed and a did-you-mean; or None."""
    choices = list(rule.get("choices") or [])
    if value is None or value in choices and not isinstance(value, bool):
        return None
    if isinstance(value, list | tuple):
        whole = all(isinstance(v, int) and not isinstance(v, bool) for v in value)
        for i, item in enumerate(value):
            item_kinds = {"int"} if whole else None
            if "items" in rule and (problem := _value_problem(item, rule["items"], item_kinds)):
                return f"item {i + 1} of {_q(value)}: {problem}"
        ordered = all(isinstance(v, int | float) and not isinstance(v, bool) for v in value)
        if rule.get("sorted") and ordered and list(value) != sorted(value):
            return f"{_q(value)} must be in increasing order; did you mean {_q(sorted(value))}?"
        return None
    allowed = _allowed(rule, kinds)
    if isinstance(value, bool):
        return None
    if isinstance(value, int | float):
        low, high = rule.get("min"), rule.get("max")
        above, below = rule.get("gt"), rule.get("lt")
        inside = (
            (low is None or value >= low)
            and (high is None or value <= high)
            and (above is None or value > above)
            and (below is None or value < below)
        )
        if inside:
            return None
        hint = ""
        top = high if high is not None else below
        if top == 1 and 1 < value <= 100 and (low or above or 0) <= value / 100:
            hint = f"; did you mean {value / 100:g}? (a share, not a percentage)"
        return f"{_q(value)} is not allowed: give {allowed}{hint}"
    if isinstance(value, str):
        files = [str(f).lower() for f in rule.get("files") or []]
        if files and value.strip().lower().endswith(tuple(files)):
            return None
        if rule.get("multiline") and "\n" in value.strip():
            return None
        if not choices and not files and not _numeric(rule):
            return None
        texts = [str(c) for c in choices]
        close = difflib.get_close_matches(value.strip().lower()[:200], texts, n=1, cutoff=0.6)
        hint = f"; did you mean {_q(close[0])}?" if close else ""
        if not close and _numeric(rule) and _is_number(value):
            hint = f"; write the number without quotes: {value.strip()}"
        return f"{_q(value)} is not allowed: give {allowed}{hint}"
    return None


def _q(value: Any) -> str:
    """A value in a value message: text in single quotes (as the config may write it)."""
    return f"'{_cut(value)}'" if isinstance(value, str) else quote(value)


def _numeric(rule: Mapping[str, Any]) -> bool:
    return any(rule.get(b) is not None for b in ("min", "max", "gt", "lt"))


def _is_number(text: str) -> bool:
    try:
        float(text)
    except ValueError:
        return False
    return True


def _allowed(rule: Mapping[str, Any], kinds: set[str] | None) -> str:
    """What a rule allows, in words: 'kmeans', 'gmm' or 'ward'; a whole number of at least 2."""
    parts = [_q(c) for c in rule.get("choices") or []]
    if _numeric(rule):
        number = "a whole number" if kinds is not None and "float" not in kinds else "a number"
        bounds = []
        low, high, above, below = (rule.get(b) for b in ("min", "max", "gt", "lt"))
        if low is not None and high is not None:
            bounds.append(f"from {low:g} to {high:g}")
        else:
            if low is not None:
                bounds.append(f"of at least {low:g}")
            if above is not None:
                bounds.append(f"above {above:g}")
            if high is not None:
                bounds.append(f"at most {high:g}" if bounds else f"of at most {high:g}")
        if below is not None:
            bounds.append(f"below {below:g}")
        parts.append(f"{number} {' and '.join(bounds)}")
    files = rule.get("files") or []
    if files:
        parts.append(f"a file name ending in {' or '.join(files)}")
    if not parts:
        return "another value"
    return parts[0] if len(parts) == 1 else ", ".join(parts[:-1]) + " or " + parts[-1]


def file_findings(spec: NotebookSpec) -> list[Finding]:
    """A file the user named explicitly in the config that does not exist is an error."""
    return [
        Finding(
            f"notebooks.{spec.stem}.{f.parameter}",
            f"{_label(f.parameter)} not found: {f.path} (a relative path is read from the "
            "config file's folder). Fix the path, or remove the setting to run without it.",
        )
        for f in spec.files
        if f.explicit and f.path is not None and not f.exists
    ]


def notebook_section_findings(
    cfg_notebooks: Mapping[str, Any], stems: Sequence[str]
) -> list[Finding]:
    """``notebooks.<stem>`` sections for notebooks that do not exist."""
    out = []
    for stem in cfg_notebooks:
        if stem not in stems:
            close = difflib.get_close_matches(str(stem)[:200], list(stems), n=1)
            hint = f" Did you mean {close[0]}?" if close else ""
            out.append(
                Finding(
                    f"notebooks.{_cut(str(stem))}",
                    f"there is no notebook {_cut(str(stem))}.ipynb; the notebooks are: "
                    f"{', '.join(stems)}.{hint}",
                )
            )
    return out


def reports_dir_findings(reports: Path, key: str = "reports_dir") -> list[Finding]:
    """A reports folder that cannot be created or written to: it, or a folder above it, is a file."""
    for p in (reports, *reports.parents):
        if p.exists():
            if not p.is_dir():
                what = "is a file" if p == reports else f"is inside {p}, which is a file"
                return [
                    Finding(
                        key,
                        f"the reports folder {reports} {what}, not a folder. Fix: set {key} "
                        "to a folder (it is created if missing)",
                    )
                ]
            return []
    return []


def config_findings(
    specs: Sequence[NotebookSpec], cfg_notebooks: Mapping[str, Any]
) -> list[Finding]:
    """Every problem of the config against the notebooks (no data needed)."""
    out = notebook_section_findings(cfg_notebooks, [s.stem for s in specs])
    for spec in specs:
        out += parameter_findings(spec)
        out += value_findings(spec)
        out += file_findings(spec)
    return out


# -------------------------------------------------------------------------------- reading (I/O)


def _file_parameters(spec: NotebookSpec, cfg: RunConfig) -> tuple[FileParameter, ...]:
    out = []
    for name in spec.requires.files:
        value = spec.value(name)
        path = cfg.path(Path(value)) if isinstance(value, str) and value.strip() else None
        out.append(
            FileParameter(
                parameter=name,
                value=value,
                path=path,
                exists=path is not None and path.is_file(),
                explicit=name in spec.settings,
            )
        )
    return tuple(out)


def read_spec(path: Path, cfg: RunConfig) -> tuple[NotebookSpec, list[Finding]]:
    """A notebook's spec: its metadata, parameters cell and the config's settings for it."""
    import nbformat
    import papermill

    where = f"{cfg.notebooks_dir.as_posix().rstrip('/')}/{path.name}"
    try:
        nb = nbformat.read(path, as_version=4)
        parameters = papermill.inspect_notebook(path)
    except Exception as e:  # a notebook that is not valid JSON, for example
        return NotebookSpec(path.stem), [
            Finding(where, f"cannot read its parameters cell ({type(e).__name__}: {e})")
        ]
    req, problems = requirements(nb.metadata, where)
    spec = NotebookSpec(
        stem=path.stem,
        requires=req,
        parameters=parameters,
        settings=dict(cfg.notebooks.get(path.stem) or {}),
    )
    spec = NotebookSpec(
        spec.stem, spec.requires, spec.parameters, spec.settings, _file_parameters(spec, cfg)
    )
    return spec, problems


def read_specs(cfg: RunConfig, paths: Sequence[Path]) -> tuple[list[NotebookSpec], list[Finding]]:
    """Specs of the notebooks at ``paths`` and the findings about the config and metadata."""
    specs, problems = [], []
    for p in paths:
        spec, found = read_spec(p, cfg)
        specs.append(spec)
        problems += found
    return specs, problems + config_findings(specs, cfg.notebooks)


def configured_tables(cfg: RunConfig) -> list[str]:
    """The tables the config has a source for."""
    return [t for t, _ in cfg.sources.items()]


# -------------------------------------------------------------------------------- data checks


@dataclass(frozen=True)
class Preflight:
    """Everything ``segwork validate`` says beyond the validation report."""

    findings: list[Finding]
    decisions: list[Applicability]
    notes: list[str] = field(default_factory=list)

    @property
    def errors(self) -> list[Finding]:
        return [f for f in self.findings if f.level == "error"]

    def summary(self) -> str:
        """Plain text: problems a run would trip on, then which notebooks apply."""
        lines = ["Before a run:"]
        errors = self.errors
        warnings = [f for f in self.findings if f.level != "error"]
        if errors:
            lines.append(
                f"  {len(errors)} problem{'s' if len(errors) != 1 else ''} a run would trip on:"
            )
            lines += [f"  - {_indent(str(f))}" for f in errors]
        else:
            lines.append("  no problems a run would trip on")
        if warnings:
            lines.append("  worth a look:")
            lines += [f"  - {_indent(str(f))}" for f in warnings]
        lines += [f"  note: {n}" for n in self.notes]
        skipped = [d for d in self.decisions if not d.applicable]
        if self.decisions and not skipped:
            lines.append("  every notebook applies to this data")
        elif skipped:
            lines.append("  notebooks that will not apply (skipped, the run still succeeds):")
            lines += [f"  - {d.stem}: {d.reason}" for d in skipped]
        return "\n".join(lines)


def _indent(text: str) -> str:
    return text.replace("\n", "\n    ")


def campaign_findings(
    spec: NotebookSpec, exposures: Any, customer_columns: Sequence[str] | None = None
) -> list[Finding]:
    """The campaign notebook's settings against the exposures (control variant, metrics, ...).

    ``customer_columns``: the columns the customer table will have, or None when they cannot be
    known before the run (then segment columns are not checked). Segment columns are checked
    only when the config sets them: the notebook leaves out default ones the data does not have.
    """
    from segwork import abtest

    kwargs: dict[str, Any] = {"control": spec.value("control")}
    for name in ("metrics", "pre_metric", "decide_on"):
        if name in spec.parameters:
            kwargs[name] = spec.value(name)
    if "segment_columns" in spec.settings and customer_columns is not None:
        kwargs["segment_columns"] = spec.settings["segment_columns"]
        kwargs["customer_columns"] = list(customer_columns)
    findings = [Finding("", text) for text in abtest.setup_problems(exposures, **kwargs)]
    running = spec.settings.get("running")
    if running is not None:
        try:
            abtest.running_plans(running, abtest.monitoring.campaign_ids(exposures))
        except abtest.ABTestError as err:
            findings += [Finding("", line) for line in str(err).splitlines() if line.strip()]
    return findings


def survey_findings(responses: Any, items: Any) -> list[Finding]:
    """Answers outside the scale the item catalogue declares, items missing, unused columns."""
    from segwork import survey

    return [
        Finding("", p.message, "error" if p.severity == "error" else "warning")
        for p in survey.survey_checks(responses, items)
    ]


def customer_schema(c360: Any, later: Mapping[str, Any | None]) -> Any:
    """The customer table a rules notebook will see, as far as it can be known before the run.

    ``c360`` is the customer 360 (a DataFrame indexed by customer_id); ``later`` maps each
    earlier notebook that adds customer columns (RFM, personas) to a frame with those columns
    (from an earlier run of this reports folder) or None when they are not known yet.
    """
    base = c360
    for frame in later.values():
        if frame is None:
            continue
        extra = frame.set_index("customer_id") if "customer_id" in frame.columns else frame
        new = [c for c in extra.columns if c not in base.columns]
        base = base.join(extra[new], how="left")
    return base


def rule_findings(
    spec: NotebookSpec,
    parameter: str,
    text: str,
    schema: Any,
    applying: Collection[str] = (),
) -> tuple[list[Finding], list[str]]:
    """Rules and actions of a rules file against the customer table the run will have.

    The run's own checks decide: ``segments.check_rules`` (a typo or a type mismatch stops the
    run and is an error listing the columns that exist; a rule reading columns of a source the
    run lacks is left out, said as a warning) and ``actions.validate_actions`` (an action the run
    would refuse makes that rule's ``actions.action_problems`` errors, else they are warnings).
    ``schema`` is the customer table as far as it is known (:func:`customer_schema`);
    ``applying`` names the notebooks that apply to this run: a rule left out only because its
    columns come from one of them (not known before its first run) is checked by the run.
    """
    from segwork import actions, rules, segments

    key = f"notebooks.{spec.stem}.{parameter}"
    try:
        ruleset = rules.load_rules(text)
        check = segments.check_rules(ruleset, schema)
    except rules.RuleSetError as e:
        return [Finding(key, p) for p in e.errors], []
    findings: list[Finding] = []
    notes: list[str] = []
    later: list[str] = []
    for row in check.left_out.itertuples():
        origins = [segments.column_origin(c.strip()) for c in str(row.columns).split(",")]
        if all(o is not None and any(stem in o[0] for stem in applying) for o in origins):
            later.append(str(row.segment))
        else:
            findings.append(
                Finding(
                    key,
                    f"the segment '{row.segment}' will be left out of the run: {row.reason}",
                    "warning",
                )
            )
    if later:
        notes.append(
            f"{key}: the rules of {', '.join(repr(s) for s in later)} read columns that a "
            "notebook of this run adds; they are checked when the run gets there (and by "
            "segwork validate after a first run)"
        )
    columns = [str(c) for c in schema.columns]
    for rule in ruleset:
        if rule.name in later or rule.name not in check.runnable.names or rule.action is None:
            continue
        try:
            actions.validate_actions({rule.name: rule.action}, columns)
            level = "warning"
        except actions.ActionError:
            level = "error"
        found = actions.action_problems([rule], columns)
        if level == "error" and not found:  # the run's own words, when the listing has none
            try:
                actions.validate_actions({rule.name: rule.action}, columns)
            except actions.ActionError as e:
                found = [str(e)]
        findings += [Finding(key, p, level) for p in found]
    return findings, notes


RULES_PARAMETER = "rules_file"


def _provider(specs: Sequence[NotebookSpec], artifact: str) -> NotebookSpec | None:
    return next((s for s in specs if artifact in s.requires.provides), None)


def _last_artifact(cfg: RunConfig, name: str) -> Any | None:
    """The artifact as the newest run in the reports folder wrote it, or None.

    Any run counts, also one that failed later: artifacts are written whole (atomically), and
    a run that failed in the rules notebook is the one whose columns the user needs checked.
    """
    from segwork.pipeline import load_run_records

    runs = load_run_records(cfg.reports_path)
    for run in sorted(runs, key=lambda r: str(r.get("started", "")), reverse=True):
        catalog = Catalog(cfg.reports_path / "runs" / run["run_id"], cfg.reports_path)
        if catalog.path(name).is_file():
            return catalog.load(name)
    return None


def _customer360(cfg: RunConfig, specs: Sequence[NotebookSpec], tables: Any) -> Any:
    """The customer 360 as the notebook that provides it will build it (same windows)."""
    from segwork import customers

    provider = _provider(specs, "customer360")
    kwargs = {}
    if provider is not None and isinstance(provider.value("windows_days"), list):
        kwargs["windows"] = provider.value("windows_days")
    return customers.build_customer360(
        tables.customers,
        tables.orders,
        analysis_date=cfg.analysis_date,
        interactions=tables.interactions,
        survey_responses=tables.survey_responses,
        **kwargs,
    )


def analysis_date_findings(orders: Any, analysis_date: Any) -> list[Finding]:
    """A warning when the analysis date lies long after the last order (page 01 says the same):
    every customer would then look lapsed."""
    from segwork import quality

    last = quality.last_order_date(orders, analysis_date=analysis_date)
    text = quality.stale_analysis_date_text(last, analysis_date=analysis_date)
    return [Finding("analysis_date", text, level="warning")] if text else []


def check_data(
    cfg: RunConfig,
    specs: Sequence[NotebookSpec],
    decisions: Sequence[Applicability],
    tables: Any,
) -> tuple[list[Finding], list[str]]:
    """The notebooks' settings against the validated tables: what the run would trip on.

    Survey answers against the item catalogue's scale, campaign settings (control variant,
    metrics, segment columns) against the exposures, and the rules file (rules and actions)
    against the customer table the run will have. Only notebooks that apply are checked.
    """
    applies = {d.stem: d.applicable for d in decisions}
    findings: list[Finding] = []
    notes: list[str] = []
    c360_cache: list[Any] = []

    def customer_table(before: int) -> tuple[Any, bool]:
        """The customer table at notebook ``before``; whether all its columns are known."""
        if not c360_cache:
            try:
                c360_cache.append(_customer360(cfg, specs, tables))
            except Exception as e:  # validate reports what it cannot do, it does not crash
                c360_cache.append(tables.customers.set_index("customer_id"))
                notes.append(
                    f"the customer 360 could not be built for the checks of the customer table "
                    f"({type(e).__name__}: {quote(str(e), 200)}); they use the customers "
                    "table's columns only"
                )
        later: dict[str, Any | None] = {}
        for artifact in CUSTOMER_TABLE_ARTIFACTS[1:]:
            provider = _provider(specs[:before], artifact)
            if provider is not None and applies.get(provider.stem, True):
                later[provider.stem] = _last_artifact(cfg, artifact)
        return customer_schema(c360_cache[0], later), all(v is not None for v in later.values())

    if tables.survey_responses is not None and tables.survey_items is not None:
        findings += survey_findings(tables.survey_responses, tables.survey_items)
    if tables.orders is not None:
        findings += analysis_date_findings(tables.orders, cfg.analysis_date)
    for i, spec in enumerate(specs):
        if not applies.get(spec.stem, True):
            continue
        if (
            "campaign_exposures" in spec.requires.tables
            and "control" in spec.parameters
            and tables.campaign_exposures is not None
        ):
            columns = None
            if "segment_columns" in spec.settings:
                schema, complete = customer_table(i)
                columns = [str(c) for c in schema.columns] if complete else None
            findings += campaign_findings(spec, tables.campaign_exposures, columns)
        for f in spec.files:
            if f.parameter != RULES_PARAMETER or not f.exists or f.path is None:
                continue
            try:
                text = f.path.read_text(encoding="utf-8")
            except (OSError, UnicodeDecodeError) as e:
                findings.append(
                    Finding(f"notebooks.{spec.stem}.{f.parameter}", f"cannot read {f.path}: {e}")
                )
                continue
            schema, _ = customer_table(i)
            applying = [s.stem for s in specs[:i] if applies.get(s.stem, True)]
            found, said = rule_findings(spec, f.parameter, text, schema, applying)
            findings += found
            notes += said
    return findings, notes
