"""The segment rule language: saved segment definitions as text, parsed (never evaluated as code).

A rule reads like the saved views sales and marketing keep in a CRM::

    region == "Jihomoravský kraj" and revenue_365d > 50000 and not has_service_contract
    last_order_date within 6 months and rfm_segment in ["Champions", "Loyal"]

:func:`parse` turns the text into a :class:`Rule`, an immutable tree of small dataclasses
(``Compare``, ``InList``, ``Between``, ``IsMissing``, ``TextMatch``, ``Within``, ``Not``,
``And``, ``Or``, ``Column``, ``Literal``). The same tree runs on a pandas customer table
(:meth:`Rule.mask`) and compiles to an Ibis expression (:meth:`Rule.to_ibis`), so a rule runs
where the data is. The text goes through a hand-written tokenizer and recursive-descent parser
only: nothing in it is ever passed to ``eval``/``exec``, and the only things a rule can name are
columns of the table it is applied to.

The language
------------
* Comparisons ``== != < <= > >=`` between a column and a literal (the literal may also come
  first: ``50000 < revenue_365d``). Literals: numbers (``50_000``, ``-3``, ``0.75``; no
  exponents), text in double or single quotes (the JSON escapes
  ``\\\\ \\" \\/ \\n \\t \\r \\b \\f \\uXXXX`` and ``\\'``), ``true``/``false``, and dates
  ``date("2025-01-31")``. Text is compared with ``==``/``!=``
  only; ordering (``<`` ...) is for numbers and dates.
* ``and``, ``or``, ``not`` (precedence ``not`` > ``and`` > ``or``) and parentheses.
* ``x in [..]``, ``x not in [..]`` (parentheses work as brackets too), ``x between 1 and 5``
  (inclusive), ``x not between 1 and 5``.
* Missing values: ``x is missing``, ``x is not missing`` (``null`` is accepted for ``missing``).
* Text: ``x contains "abc"``, ``x starts with "ab"``, ``x ends with "z"`` are case-sensitive;
  ``icontains``, ``istarts with``, ``iends with`` ignore case (both sides lower-cased).
* A boolean column on its own is a condition: ``has_service_contract``, ``not email_opt_in``.
* Dates compare as calendar days (time of day is ignored), so ``x == date("2025-06-30")``
  matches any time that day and ``x after date(...)`` means a later day. ``x before d`` is
  ``x < d``; ``x after d`` is ``x > d``.
* Relative dates count back from ``today`` (the analysis date passed to ``mask``/``to_ibis``;
  by default the current date): ``x within N days|weeks|months|years`` (also ``within the last
  6 months``) holds when ``today - N units < day(x) <= today``: the analysis date and the N-1
  days before it, the same window as the customer table's ``orders_<N>d`` columns.
  ``x older than N units`` holds when ``day(x) <= today - N units``; for past dates the two
  are complements. Months and years are calendar months (clipped to the month's end).
* Column names are identifiers (letters, digits, ``_``; case-sensitive) or backquoted:
  ``\\`account manager\\```. Keywords (``and``, ``in``, ``missing``, ...) are case-insensitive;
  a column named like a keyword must be backquoted.

Missing values: three-valued logic, as in SQL
---------------------------------------------
A comparison, ``in``, ``between``, text match, date test or a bare boolean column is *unknown*
(not true, not false) for a customer whose value is missing. ``not`` keeps unknown unknown,
``and``/``or`` follow Kleene logic (``false and unknown`` is false, ``true or unknown`` is true),
and in the final mask unknown counts as "not a member". So ``not (x > 5)`` does *not* select
customers with a missing ``x``, exactly like ``NOT (x > 5)`` in SQL; use ``x is missing`` to
select them. Internally the pandas evaluator uses nullable booleans; the Ibis expression is the
same logic in SQL with a final ``COALESCE(..., FALSE)``. NaN counts as missing.

Rule sets
---------
:func:`load_rules` reads a YAML list of ``{name, description, rule, priority, owner, action}``
(validated with pydantic; all problems of all rules are reported at once) into a
:class:`RuleSet` with :meth:`RuleSet.memberships` and :meth:`RuleSet.exclusive`.

Where each part lives
---------------------
``tree`` (the words of the language, the node dataclasses, canonical text), ``parser``
(tokenizer and recursive-descent parser: text -> :class:`Rule`), ``column_types`` (what a
column holds, for pandas, Ibis or a {column: dtype} mapping), ``rule`` (:class:`Rule`: checks
against a schema, ``mask``/``to_ibis``), ``evaluate_pandas`` and ``evaluate_ibis`` (the two
evaluators), ``ruleset`` (the YAML rules file, :class:`RuleSet`, :func:`load_rules`),
``errors`` (:class:`RuleError` with a caret under the rule text), ``values`` (a rule's values
against the values a customer table holds: :func:`check_values` with did-you-mean suggestions,
:class:`ColumnValues`; and :func:`rule_yaml`, a segment as an item of the rules file) and
``file`` (reading the rules file: the package's only file access).

Which evaluator runs where
--------------------------
A run (``segwork run``, :mod:`segwork.steps.rule_segments`) evaluates every rule in the engine
that holds the data: :meth:`RuleSet.member_ids` compiles the rules with the Ibis evaluator
into one ``UNION ALL`` query over the customer table (a DuckDB memtable of the rule's columns,
or a Spark/PostgreSQL table) and pulls back only (customer_id, segment) pairs. The pandas
evaluator (:meth:`Rule.mask`) stays for tables that are already in memory and typed by pandas
rather than by an engine: the rule builder widget (one evaluation per keystroke, where a round
trip through an engine would add nothing), and hand-built frames with object or categorical
columns (numbers or dates stored as text are converted the pandas way). The two evaluators
give the same members: the tests compare them rule by rule, and on the demo customer table.

Why not SQL (sqlglot)
---------------------
We weighed replacing the hand-written parser with a whitelisted SQL ``WHERE`` dialect parsed
by sqlglot, and kept the parser:

* Security is no better: sqlglot parses all of SQL (subqueries, function calls, casts, ...),
  so its tree would still have to be whitelisted node by node and translated to Ibis, exactly
  what :mod:`.parser` and :mod:`.evaluate_ibis` do now; no rule text ever reaches an engine
  as SQL, and nothing in it is executed.
* Messages would be worse: ours name the rule, the column and the fix with a caret under the
  text (did-you-mean for columns, ``startswith`` -> ``starts with``, "write the value in
  quotes"); sqlglot's errors ("Expecting )") would have to be re-mapped to all of that.
* The language is the one sales and marketing write (``within 6 months``, ``starts with``,
  ``is missing``, ``icontains``); SQL spellings (``INTERVAL``, ``LIKE`` with escapes,
  ``IS NULL``) would make every saved rules file change for no gain in what rules can say.
"""

from segwork.rules.errors import RuleError, RuleProblem, RuleSetError
from segwork.rules.file import read_rules
from segwork.rules.parser import parse
from segwork.rules.rule import Rule, describe_columns
from segwork.rules.ruleset import ActionSpec, RuleSet, RuleSpec, SegmentRule, load_rules
from segwork.rules.tree import (
    MAX_DEPTH,
    MAX_RULE_LENGTH,
    And,
    Between,
    Column,
    Compare,
    InList,
    IsMissing,
    Literal,
    Node,
    Not,
    Or,
    TextMatch,
    Within,
)
from segwork.rules.values import (
    ColumnValues,
    ValueReport,
    check_values,
    literal_text,
    rule_yaml,
)

__all__ = [
    "MAX_DEPTH",
    "MAX_RULE_LENGTH",
    "ActionSpec",
    "And",
    "Between",
    "Column",
    "ColumnValues",
    "Compare",
    "InList",
    "IsMissing",
    "Literal",
    "Node",
    "Not",
    "Or",
    "Rule",
    "RuleError",
    "RuleProblem",
    "RuleSet",
    "RuleSetError",
    "RuleSpec",
    "SegmentRule",
    "TextMatch",
    "ValueReport",
    "Within",
    "check_values",
    "describe_columns",
    "literal_text",
    "load_rules",
    "parse",
    "read_rules",
    "rule_yaml",
]
