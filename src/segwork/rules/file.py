"""Reading a rules file: the rules package's only file access (a notebook never reads it).

The run's configuration names the file (``notebooks.05_rule_segments.rules_file``, relative to
the config file's folder); :func:`read_rules` reads it as UTF-8 and parses it with
:func:`segwork.rules.load_rules`, naming the file in every message.
"""

from __future__ import annotations

import os
from pathlib import Path
from typing import Any

from segwork.rules.errors import RuleSetError
from segwork.rules.ruleset import RuleSet, load_rules


def read_rules(
    path: str | os.PathLike[str], *, name: str | None = None, schema: Any = None
) -> RuleSet:
    """The rule set saved in ``path`` (YAML); ``name`` is how messages call the file."""
    path = Path(path)
    label = name or path.name
    try:
        text = path.read_text(encoding="utf-8")
    except FileNotFoundError:
        raise RuleSetError(
            [f"the rules file {path} does not exist; check rules_file in the config"],
            source=label,
        ) from None
    except UnicodeDecodeError as exc:
        raise RuleSetError(
            [f"the rules file {path} is not UTF-8 text ({exc}); save it as UTF-8"], source=label
        ) from None
    return load_rules(text, name=label, schema=schema)
