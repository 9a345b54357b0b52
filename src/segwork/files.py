"""Writing files so that a reader never sees half of one.

Every file segwork writes (reports, artifacts, action lists, exports) goes through
:func:`atomic_write_bytes`: a temporary file in the same folder, flushed to disk, then
``os.replace``. A crash or a failed run leaves the previous file as it was.

Text that could carry a credential (a run's record, its pages, executed notebooks, messages) is
passed through :func:`redact` / :func:`redact_tree` with the config's secrets
(``RunConfig.secrets()``) before it is written or shown.
"""

from __future__ import annotations

import hashlib
import os
import tempfile
from collections.abc import Mapping, Sequence
from pathlib import Path
from typing import Any


def atomic_write_bytes(path: str | os.PathLike[str], data: bytes) -> Path:
    """Write ``data`` to ``path`` atomically; the file is readable by others (0644)."""
    path = Path(path)
    path.parent.mkdir(parents=True, exist_ok=True)
    fd, tmp = tempfile.mkstemp(dir=path.parent, prefix=f".{path.name}.", suffix=".tmp")
    try:
        with os.fdopen(fd, "wb") as fh:
            fh.write(data)
            fh.flush()
            os.fsync(fh.fileno())
        os.chmod(tmp, 0o644)  # mkstemp makes 0600; reports and exports are meant to be read
        os.replace(tmp, path)
    except BaseException:
        Path(tmp).unlink(missing_ok=True)
        raise
    return path


def atomic_write_text(path: str | os.PathLike[str], text: str) -> Path:
    """Write UTF-8 text atomically (see :func:`atomic_write_bytes`)."""
    return atomic_write_bytes(path, text.encode("utf-8"))


# --------------------------------------------------------------------------------------------
# Redaction by value

REDACTED = "***"


def redact(text: str, secrets: Sequence[str]) -> str:
    """``text`` with every occurrence of each secret replaced by ``***``.

    By value, not by pattern: a password taken from ``${VAR}`` is hidden wherever it appears
    (an error message, a printed URL, a traceback), whatever characters it holds. Longer secrets
    go first, so a secret that contains another is hidden whole.
    """
    for secret in sorted((s for s in secrets if s), key=len, reverse=True):
        text = text.replace(secret, REDACTED)
    return text


def redact_tree(obj: Any, secrets: Sequence[str]) -> Any:
    """A copy of a JSON-like value (dicts, lists, strings; also a notebook node) with every string,
    key included, passed through :func:`redact`. Done before serialising, so a secret is found
    before JSON or HTML escaping could hide its characters."""
    if not secrets:
        return obj
    if isinstance(obj, str):
        return redact(obj, secrets)
    if isinstance(obj, Mapping):
        return type(obj)(
            (redact(k, secrets) if isinstance(k, str) else k, redact_tree(v, secrets))
            for k, v in obj.items()
        )
    if isinstance(obj, list | tuple):
        return type(obj)(redact_tree(v, secrets) for v in obj)
    return obj


def file_sha256(path: Path) -> str:
    """SHA-256 of a file, read in 1 MiB chunks (inputs can be larger than memory)."""
    h = hashlib.sha256()
    with path.open("rb") as f:
        while chunk := f.read(1 << 20):
            h.update(chunk)
    return h.hexdigest()
