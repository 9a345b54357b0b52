"""Member lists safe to share outside the CRM team: keyed pseudonyms, no direct identifiers,
coarsened birth dates and postal codes."""

from __future__ import annotations

import hashlib
import hmac
import os
import re

import pandas as pd

from segwork.actions.checks import (
    ActionError,
    _ids,
    _is_missing,
)

DIRECT_IDENTIFIERS = (
    "customer_id", "name", "first_name", "last_name", "full_name", "company_name",
    "contact_name", "email", "phone", "mobile", "fax", "street", "address", "address_line1",
    "address_line2", "house_number", "birth_number", "national_id", "personal_id", "tax_id",
    "vat_id", "ip_address", "iban", "bank_account", "website",
)  # fmt: skip
#: Columns coarsened in a pseudonymized export: birth_date -> birth_year (the year only),
#: postal_code -> its first 3 characters (spaces removed), e.g. "602 00" -> "602".
COARSENED_IDENTIFIERS = ("birth_date", "postal_code")
#: Environment variable holding the pseudonymization key when the caller passes no ``salt``.
PSEUDONYM_SALT_ENV = "SEGWORK_PSEUDONYM_SALT"


def _salt_bytes(salt: str | bytes | None) -> bytes:
    if salt is None:
        salt = os.environ.get(PSEUDONYM_SALT_ENV)
    if salt is None or len(salt) < 16:
        raise ActionError(
            f"pseudonymize: a secret salt of at least 16 characters is needed (pass salt=... or "
            f"set {PSEUDONYM_SALT_ENV}); keep it secret and the same across runs, e.g. "
            'python -c "import secrets; print(secrets.token_hex(32))"'
        )
    return salt.encode("utf-8") if isinstance(salt, str) else bytes(salt)


def pseudonymize_members(members: pd.DataFrame, *, salt: str | bytes | None = None) -> pd.DataFrame:
    """A member table safe to share outside the CRM team.

    customer_id becomes ``pseudonym_id`` (HMAC-SHA256 of the id keyed with ``salt`` or
    ``$SEGWORK_PSEUDONYM_SALT``, first 16 hex digits: stable across runs with the same salt,
    not reversible without it); :data:`DIRECT_IDENTIFIERS` are dropped; birth_date becomes
    birth_year and postal_code its first 3 characters.
    """
    key = _salt_bytes(salt)
    table = members.reset_index() if members.index.name == "customer_id" else members
    if "customer_id" not in table.columns:
        raise ActionError("pseudonymize: the member table has no customer_id column or index")
    ids = _ids(table["customer_id"], "members")
    pseudo = [hmac.new(key, c.encode("utf-8"), hashlib.sha256).hexdigest()[:16] for c in ids]
    out = table.drop(columns=[c for c in table.columns if str(c) in DIRECT_IDENTIFIERS])
    if "birth_date" in out.columns:
        at = out.columns.get_loc("birth_date")
        years = pd.to_datetime(out["birth_date"], errors="coerce").dt.year.astype("Int64")
        out = out.drop(columns="birth_date")
        out.insert(at, "birth_year", years)
    if "postal_code" in out.columns:
        pc = out["postal_code"].map(
            lambda v: None if _is_missing(v) else re.sub(r"\s+", "", str(v))[:3] or None
        )
        out["postal_code"] = pc.astype("str")
    out.insert(0, "pseudonym_id", pd.Series(pseudo, index=out.index, dtype="str"))
    return out.reset_index(drop=True)
