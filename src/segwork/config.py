"""The run configuration: a YAML file validated by pydantic before anything runs.

A config says where each table comes from (file or database), how the user's column names map
to the table contracts, the analysis date, and parameters per notebook. Relative paths are
resolved against the folder that holds the config file, so a config can be moved together with
its data. Unknown keys, wrong types and missing files are errors that name the key.
"""

from __future__ import annotations

import calendar
import codecs
import difflib
import os
import re
import urllib.parse
from datetime import date
from pathlib import Path
from typing import Any, Literal

import yaml
from pydantic import BaseModel, ConfigDict, Field, ValidationError, field_validator, model_validator

from segwork.errors import SegworkError

TABLES = (
    "customers",
    "orders",
    "interactions",
    "survey_responses",
    "survey_items",
    "campaign_exposures",
    "contracts",
)
ID_TABLES = (
    "customers",
    "orders",
    "interactions",
    "survey_responses",
    "campaign_exposures",
    "contracts",
)
"""The tables that carry customer ids: any one of them is enough for a run."""
FILE_FORMATS = {
    ".csv": "csv",
    ".txt": "csv",
    ".tsv": "csv",
    ".parquet": "parquet",
    ".pq": "parquet",
    ".xlsx": "excel",
    ".xlsm": "excel",
    ".xls": "excel",
}


class ConfigError(SegworkError, ValueError):
    """A run configuration that cannot be used; the message names the key and the fix."""


class _Strict(BaseModel):
    model_config = ConfigDict(extra="forbid", frozen=True)


class SourceConfig(_Strict):
    """Where one table comes from and how its columns are named there."""

    path: Path | None = Field(None, description="A CSV, Parquet or Excel file.")
    uri: str | None = Field(
        None,
        description="engine: pyspark only. A location Spark reads itself (hdfs://..., s3a://..., "
        "or a folder of Parquet parts), for history tables that live next to the cluster.",
    )
    url: str | None = Field(
        None,
        description="A SQL database URL (e.g. sqlite:///crm.db, postgresql://host/db). "
        "Write credentials as ${ENV_VAR}; they are read from the environment and never reported.",
    )
    table: str | None = Field(None, description="The table to read when the source is a database.")
    format: Literal["csv", "parquet", "excel", "sql"] | None = None
    sheet: str | int | None = Field(None, description="Excel sheet name or index (default: first).")
    columns: dict[str, str] = Field(
        default_factory=dict,
        description="Column mapping: contract column name -> the column's name in this source.",
    )
    delimiter: str | None = Field(
        None,
        description="Field separator of a text file: one character (',', ';', '|'), 'tab', or "
        "'whitespace' (runs of spaces/tabs, as in fixed-width-looking .txt exports). "
        "Default: detected.",
    )
    encoding: str = Field(
        "utf-8",
        description="Text encoding of the file: any Python codec (cp1250, windows-1250, latin-2, "
        "utf-16, ...). Files that are not UTF-8 are converted on the way in. A BOM is honoured.",
    )
    decimal: str = Field(".", description="Decimal separator of numbers: '.' or ','.")
    thousands: str | None = Field(
        None,
        description="Thousands separator of numbers ('.', ',', ' ' or \"'\"); spaces and "
        "non-breaking spaces are always ignored inside numbers.",
    )
    missing_values: list[str] = Field(
        default_factory=list,
        description="Texts that mean 'no value' besides an empty cell, e.g. [NA, 'N/A', NULL] "
        "(R and some databases write NA). Default: only empty cells.",
    )
    header: bool = Field(True, description="false: the file has no header row (set column_names).")
    column_names: list[str] | None = Field(
        None, description="The names of the columns, in file order, of a file without a header row."
    )
    skip_rows: int | None = Field(
        None,
        ge=0,
        description="Rows above the header (report titles, export dates). Default: none for text "
        "files; for Excel the header row is found among the first rows.",
    )
    shape: Literal["orders", "lines"] = Field(
        "orders",
        description="orders only. 'lines': one row per order line (the order id repeats); lines are "
        "summed into orders: amount = sum(quantity x unit_price), or the sum of a line 'amount'.",
    )
    cancel_prefix: str | None = Field(
        None,
        description="orders only. Order ids that start with this text are cancellations (e.g. 'C' "
        "in invoice exports: C536379); their amounts count as returns (negative).",
    )
    max_amount: float = Field(
        1e12,
        gt=0,
        description="orders only. Amounts at or above this (in absolute value) are errors: "
        "exports write absurd values for missing ones (9.99e+15, 1e308).",
    )
    campaign: str | None = Field(
        None,
        description="campaign_exposures only, for an export of one campaign without a campaign id "
        "column: the campaign's name (default: the file's name without its ending).",
    )
    date_format: str | None = Field(
        None, description="strftime format of date columns, if not ISO (e.g. '%d.%m.%Y', '%Y%m%d')."
    )
    invalid_rows: Literal["error", "drop"] = Field(
        "error",
        description="What to do with rows that break the contract (unparsable date or amount, duplicate "
        "key, unknown customer): stop with an error naming them, or drop them and count them in the report.",
    )

    @field_validator("path", mode="before")
    @classmethod
    def _path_env(cls, v: Any) -> Any:
        return resolve_env(v) if isinstance(v, str) else v

    @field_validator("uri")
    @classmethod
    def _uri_env_set(cls, v: str | None) -> str | None:
        # Kept as written, like url: resolved (and its password encoded) only when read, so the
        # password stays out of describe() and RunConfig.secrets() can name it.
        if v is not None:
            resolve_env(v, url=True)  # an unset ${VAR} is an error now, not at read time
        return v

    @field_validator("encoding")
    @classmethod
    def _known_encoding(cls, v: str) -> str:
        try:
            codec_name(v)
        except LookupError:
            raise ValueError(
                f"unknown encoding {v!r}; use a Python codec name such as utf-8, cp1250 "
                "(windows-1250), latin-2 (iso8859-2), utf-16"
            ) from None
        return v

    @field_validator("delimiter")
    @classmethod
    def _one_char(cls, v: str | None) -> str | None:
        if v is None:
            return v
        if v.lower() in ("whitespace", "tab", "\t"):
            return {"whitespace": "whitespace"}.get(v.lower(), "\t")
        if len(v) != 1:
            raise ValueError(
                f"a delimiter is one character (',', ';', '|'), 'tab' or 'whitespace'; got {v!r}"
            )
        return v

    @model_validator(mode="after")
    def _one_location(self) -> SourceConfig:
        given = [k for k in ("path", "url", "uri") if getattr(self, k) is not None]
        if len(given) != 1:
            raise ValueError(
                "give exactly one of 'path' (a file), 'url' (a database) or 'uri' (a location "
                f"Spark reads, engine: pyspark only); got {', '.join(given) or 'none'}"
            )
        if self.url is not None and not self.table:
            raise ValueError("a database source needs 'table': the table to read")
        if self.table is not None and not re.fullmatch(r"[A-Za-z_][\w.]*", self.table):
            raise ValueError(
                f"'table' must be a plain table name (letters, digits, _ and .), got {self.table!r}"
            )
        if self.uri is not None:
            local = [
                k
                for k, off in (
                    ("shape", self.shape == "orders"),
                    ("delimiter", self.delimiter != "whitespace"),
                    ("header", self.header),
                    ("skip_rows", self.skip_rows is None),
                    ("thousands", self.thousands is None),
                    ("cancel_prefix", self.cancel_prefix is None),
                    ("campaign", self.campaign is None),
                )
                if not off
            ]
            if local:
                raise ValueError(
                    f"{', '.join(local)} {'is' if len(local) == 1 else 'are'} not available for "
                    "a 'uri' source (Spark reads it as it is); give the file as 'path' instead"
                )
        if self.decimal not in (".", ","):
            raise ValueError(f"'decimal' is '.' or ',', got {self.decimal!r}")
        if self.thousands is not None and self.thousands == self.decimal:
            raise ValueError(
                f"'thousands' and 'decimal' are both {self.decimal!r}; they must differ"
            )
        if not self.header and not self.column_names:
            raise ValueError(
                "a file without a header row (header: false) needs 'column_names': the names of "
                "its columns in file order"
            )
        if self.header and self.column_names:
            raise ValueError(
                "'column_names' is for files without a header row (header: false); to rename the "
                "columns of a file with a header, use 'columns' (contract name: your name)"
            )
        if self.column_names and len(set(self.column_names)) != len(self.column_names):
            dup = sorted({c for c in self.column_names if self.column_names.count(c) > 1})
            raise ValueError(f"'column_names' names {', '.join(map(repr, dup))} more than once")
        return self

    @property
    def kind(self) -> str:
        """The reader to use: csv, parquet, excel or sql."""
        if self.format:
            return self.format
        if self.url is not None:
            return "sql"
        if self.uri is not None:
            return "parquet"
        suffix = self.path.suffix.lower() if self.path else ""
        if suffix not in FILE_FORMATS:
            raise ConfigError(
                f"cannot tell the format of {self.path}: its ending {suffix!r} is not one of "
                f"{sorted(FILE_FORMATS)}. Fix: rename the file or set 'format:' for this source."
            )
        return FILE_FORMATS[suffix]

    def resolved_url(self) -> str:
        """The database URL with ${VAR} replaced from the environment."""
        assert self.url is not None
        return resolve_env(self.url, url=True)

    def resolved_uri(self) -> str:
        """The Spark location with ${VAR} replaced (the user:password part percent-encoded)."""
        assert self.uri is not None
        return resolve_env(self.uri, url=True)

    def describe(self) -> str:
        """A description that is safe to show in a report (no credentials)."""
        if self.path is not None:
            return str(self.path)
        if self.uri is not None:
            return redact_url(self.uri)  # the template: ${VAR}s are never filled in here
        return redact_url(self.url or "") + f" (table {self.table})"


def codec_name(encoding: str) -> str:
    """Python's name of an encoding as people write it (cp1250, windows-1250, latin-2, UTF-16).

    Raises LookupError for an unknown encoding.
    """
    try:
        return codecs.lookup(encoding).name
    except LookupError:
        return codecs.lookup(re.sub(r"[-_ ]", "", encoding)).name  # latin-2 -> latin2


_ENV_VAR = re.compile(r"\$\{(\w+)\}")


def resolve_env(text: str, *, url: bool = False) -> str:
    """Replace each ${VAR} in ``text`` from the environment (how credentials get into URLs).

    With ``url=True``, values that stand in the user:password part of a URL are percent-encoded,
    so a password with ``@ # / :`` neither breaks the URL nor escapes its redaction.
    """
    userinfo = _userinfo_span(text) if url else (0, 0)

    def sub(m: re.Match[str]) -> str:
        name = m.group(1)
        if name not in os.environ:
            raise ConfigError(
                f"the config refers to ${{{name}}}, which is not set in the environment"
            )
        value = os.environ[name]
        if userinfo[0] <= m.start() < userinfo[1]:
            return urllib.parse.quote(value, safe="")
        return value

    return _ENV_VAR.sub(sub, text)


def _userinfo_span(template: str) -> tuple[int, int]:
    """Where the user:password part of a URL template lies (empty span if it has none)."""
    start = template.find("://")
    if start < 0:
        return (0, 0)
    start += 3
    slash = template.find("/", start)
    authority = template[start : slash if slash >= 0 else len(template)]
    at = authority.rfind("@")
    return (start, start + at) if at >= 0 else (0, 0)


_SECRET_NAME = re.compile(r"PASS|PWD|SECRET|TOKEN|KEY", re.IGNORECASE)


def _password_span(template: str) -> tuple[int, int]:
    """Where the password of a URL template lies: after the first ':' of its user:password part."""
    start, end = _userinfo_span(template)
    colon = template.find(":", start, end)
    return (colon + 1, end) if start < end and colon >= 0 else (0, 0)


def env_secrets(templates: list[str]) -> list[str]:
    """The values (as given and percent-encoded) of the ${VARS} in ``templates`` that are set and
    secret: those in the password part of a URL, and those whose name says so (PASSWORD, PWD,
    SECRET, TOKEN, KEY). What to redact by value from every message, record and page; a host,
    port or user name is not, or every 'localhost' and '5432' on a page would be blanked."""
    found: set[str] = set()
    for text in templates:
        text = text or ""
        start, end = _password_span(text)
        for m in _ENV_VAR.finditer(text):
            value = os.environ.get(m.group(1))
            if value and (start <= m.start() < end or _SECRET_NAME.search(m.group(1))):
                found |= {value, urllib.parse.quote(value, safe="")}
    return sorted(found, key=len, reverse=True)


def redact_url(url: str) -> str:
    """Hide the password of a database URL: postgresql://user:secret@host -> postgresql://user:***@host."""
    return re.sub(r"(://[^:/@\s]+:)[^/\s]*@", r"\1***@", url)


class TableSink(_Strict):
    """A database table that segwork writes a result to."""

    url: str = Field(
        description="A SQL database URL, e.g. postgresql://${PGUSER}:${PGPASSWORD}@host/db. "
        "Credentials as ${ENV_VAR}; they are read from the environment and never reported."
    )
    table: str = Field(description="The table to write (optionally schema.table).")
    if_exists: Literal["replace", "append"] = Field(
        "replace",
        description="replace: the table holds the newest run only; append: one set of rows per run.",
    )

    @field_validator("table")
    @classmethod
    def _plain_table(cls, v: str) -> str:
        if not re.fullmatch(r"[A-Za-z_]\w*(\.[A-Za-z_]\w*)?", v):
            raise ValueError(
                f"'table' must be a plain table name (schema.table at most), got {v!r}"
            )
        return v

    def resolved_url(self) -> str:
        """The database URL with ${VAR} replaced from the environment."""
        return resolve_env(self.url, url=True)

    def describe(self) -> str:
        return redact_url(self.url) + f" (table {self.table})"


class Outputs(_Strict):
    """Where results go besides the run folder."""

    memberships: TableSink | None = Field(
        None,
        description="Write the rule-segment memberships of each successful run to this table.",
    )


NOTIFY_EVENTS = ("failure", "success")
"""When a notification is sent: a run that did not succeed, a run that did."""


class WebhookConfig(_Strict):
    """An HTTP endpoint that receives the run's notification as a JSON POST."""

    url: str = Field(
        description="http:// or https:// address of a local or company endpoint, e.g. "
        "http://localhost:9000/hook. ${ENV_VAR} is replaced from the environment; a ${VAR} in the "
        "path or query (where webhook tokens live), in the password part or with a secret-sounding "
        "name is never reported. Redirects are not followed."
    )
    headers: dict[str, str] = Field(
        default_factory=dict,
        description="HTTP headers to send, e.g. {Authorization: 'Bearer ${HOOK_TOKEN}'}. "
        "Every ${ENV_VAR} in a header value is a secret: redacted wherever segwork writes or prints.",
    )
    timeout_s: float = Field(
        10, gt=0, le=300, description="Seconds to wait for the endpoint before giving up."
    )

    @field_validator("url")
    @classmethod
    def _http_url(cls, v: str) -> str:
        # an unset ${VAR} is an error now, not at the end of a run
        parts = urllib.parse.urlsplit(resolve_env(v, url=True))
        if parts.scheme.lower() not in ("http", "https") or not parts.hostname:
            raise ValueError(
                "a webhook url is an http:// or https:// address with a host, e.g. "
                "http://localhost:9000/hook"
            )
        return v

    @field_validator("headers")
    @classmethod
    def _header_names(cls, v: dict[str, str]) -> dict[str, str]:
        for name, value in v.items():
            if not re.fullmatch(r"[A-Za-z0-9!#$%&'*+.^_`|~-]+", name):
                raise ValueError(f"{name!r} is not an HTTP header name (letters, digits, '-')")
            if "\n" in value or "\r" in value:
                raise ValueError(f"the value of header {name!r} holds a line break")
            resolve_env(value)
        return v

    def resolved_url(self) -> str:
        """The address with ${VAR} replaced (the user:password part percent-encoded)."""
        return resolve_env(self.url, url=True)

    def resolved_headers(self) -> dict[str, str]:
        """The headers with ${VAR} replaced from the environment."""
        return {name: resolve_env(value) for name, value in self.headers.items()}

    def describe(self) -> str:
        """The address as written (${VARS} not filled in, a literal password hidden)."""
        return redact_url(self.url)

    def secrets(self) -> list[str]:
        """The values of its ${VARS} that are secret: every one in a header value; in the url
        those after the host (path, query), in the password part or with a secret-sounding name
        (a host or port stays readable)."""
        found = set(env_secrets([self.url]))
        parts = urllib.parse.urlsplit(self.url)
        after_host = self.url.find(parts.netloc) + len(parts.netloc) if parts.netloc else 0
        spans = [m for m in _ENV_VAR.finditer(self.url) if m.start() >= after_host]
        spans += [m for value in self.headers.values() for m in _ENV_VAR.finditer(value)]
        for m in spans:
            value = os.environ.get(m.group(1))
            if value:
                found |= {value, urllib.parse.quote(value, safe="")}
        return sorted(found, key=len, reverse=True)


class NotifyConfig(_Strict):
    """Who hears about a run: a command to run and/or a webhook to call, on failure (and success)."""

    on: list[Literal["failure", "success"]] = Field(
        default_factory=lambda: ["failure"],
        description="When to notify: [failure] (a run that did not succeed, or could not start "
        "once the config loaded) or [failure, success].",
    )
    command: list[str] | None = Field(
        None,
        description="A program and its arguments as a list (never a shell line), e.g. "
        "[/usr/local/bin/tell-team, --channel, crm]. It gets the payload as JSON on stdin and "
        "SEGWORK_RUN_STATUS, SEGWORK_RUN_ID, SEGWORK_RUN_HEADLINE, SEGWORK_RUN_SUMMARY, ... in its "
        "environment; it runs in the config's folder (a relative program path resolves there). "
        "Arguments are passed as written: no ${VAR} replacement, so no secret on a command line.",
    )
    command_timeout_s: float = Field(
        60, gt=0, le=3600, description="Seconds the command may take before it is stopped."
    )
    webhook: WebhookConfig | None = Field(
        None, description="An HTTP endpoint that receives the payload as a JSON POST."
    )

    @model_validator(mode="before")
    @classmethod
    def _yaml_on(cls, data: Any) -> Any:
        # YAML 1.1 reads a bare `on:` key as the boolean true; the user meant the word.
        if isinstance(data, dict) and True in data:
            data = {("on" if k is True else k): v for k, v in data.items()}
        if isinstance(data, dict) and isinstance(data.get("on"), str):
            data = {**data, "on": [data["on"]]}  # on: failure
        return data

    @model_validator(mode="after")
    def _something_to_do(self) -> NotifyConfig:
        if self.command is None and self.webhook is None:
            raise ValueError(
                "notify needs a 'command' (a program to run) or a 'webhook' (an http:// address), "
                "or both"
            )
        if self.command is not None and (not self.command or not self.command[0].strip()):
            raise ValueError("'command' is empty; give the program to run and its arguments")
        if not self.on:
            raise ValueError("'on' is empty; give [failure] or [failure, success]")
        if len(set(self.on)) != len(self.on):
            raise ValueError(f"'on' names an event twice: {self.on}")
        return self


class Sources(_Strict):
    """The configured tables. Any subset will do, as long as one of them has customer ids."""

    customers: SourceConfig | None = None
    orders: SourceConfig | None = None
    interactions: SourceConfig | None = None
    survey_responses: SourceConfig | None = None
    survey_items: SourceConfig | None = None
    campaign_exposures: SourceConfig | None = None
    contracts: SourceConfig | None = Field(
        None,
        description="Contracts or subscriptions: contract_id, customer_id and either start_date "
        "(end_date when ended) or tenure_periods with churned; optional plan and period_value.",
    )

    @model_validator(mode="after")
    def _some_customer_ids(self) -> Sources:
        if not any(getattr(self, t) is not None for t in ID_TABLES):
            raise ValueError(
                "no source with customer ids is configured; give at least one of "
                f"{', '.join(ID_TABLES)} (customers are derived from the ids of the others "
                "when there is no customers table)"
            )
        for table in TABLES:
            src = getattr(self, table)
            if src is None or table == "orders":
                continue
            for key in ("shape", "cancel_prefix", "max_amount"):
                if key in src.model_fields_set:
                    raise ValueError(f"'{key}' is an option of sources.orders, not of {table}")
        for table in TABLES:
            src = getattr(self, table)
            if src is not None and table != "campaign_exposures" and src.campaign is not None:
                raise ValueError(
                    f"'campaign' is an option of sources.campaign_exposures, not of {table}"
                )
        exposures = self.campaign_exposures
        if exposures is not None and exposures.campaign is not None:
            if not exposures.campaign.strip():
                raise ValueError(
                    "sources.campaign_exposures.campaign is empty; give the campaign a name"
                )
            if "campaign_id" in exposures.columns:
                raise ValueError(
                    "sources.campaign_exposures sets both 'campaign' (one campaign for the whole "
                    "file) and columns.campaign_id (a column naming each row's campaign); keep one"
                )
        return self

    def items(self) -> list[tuple[str, SourceConfig]]:
        return [(t, getattr(self, t)) for t in TABLES if getattr(self, t) is not None]


def _iso_dates(value: Any) -> Any:
    """``value`` with every date and datetime inside it (dicts, lists) as ISO text."""
    if isinstance(value, date):
        return value.isoformat()
    if isinstance(value, dict):
        return {k: _iso_dates(v) for k, v in value.items()}
    if isinstance(value, list | tuple):
        return [_iso_dates(v) for v in value]
    return value


class RunConfig(_Strict):
    """A validated run configuration (see configs/demo.yaml for a commented example)."""

    name: str = "segwork run"
    analysis_date: date
    currency: str = "CZK"
    engine: Literal["duckdb", "pyspark"] = Field(
        "duckdb",
        description="Where history-sized tables are computed: DuckDB in this process, or Spark.",
    )
    duckdb: dict[str, str | int | float | bool] = Field(
        default_factory=dict,
        description="DuckDB settings (memory_limit, threads, temp_directory, ...) for engine: duckdb.",
    )
    spark: dict[str, str | int | float | bool] = Field(
        default_factory=dict,
        description="Spark settings passed to the SparkSession builder, e.g. spark.master: "
        "spark://host:7077 or yarn, spark.executor.memory: 8g. Default master: local[*].",
    )
    sources: Sources
    outputs: Outputs = Field(default_factory=Outputs)
    notebooks: dict[str, dict[str, Any]] = Field(
        default_factory=dict,
        description="Parameters per notebook, keyed by the notebook's file stem.",
    )
    notebooks_dir: Path = Path("notebooks")
    reports_dir: Path = Path("reports")

    @field_validator("notebooks")
    @classmethod
    def _dates_as_text(cls, value: dict[str, dict[str, Any]]) -> dict[str, dict[str, Any]]:
        """YAML reads an unquoted ``2026-12-31`` as a date; parameters reach the notebook (and
        run.json) as JSON, so dates become their ISO text, as if they had been quoted."""
        return {stem: _iso_dates(settings) for stem, settings in value.items()}

    notify: NotifyConfig | None = Field(
        None,
        description="Tell someone how a run went: a command and/or a webhook, on failure "
        "(and, if wanted, on success). See the README's Scheduling section.",
    )
    pdf: bool = Field(
        False,
        description="Also write a PDF of the run summary and of each report; needs Chromium.",
    )
    base_dir: Path = Field(Path("."), description="Set on load: the folder of the config file.")

    @field_validator("spark")
    @classmethod
    def _spark_keys(cls, v: dict[str, Any]) -> dict[str, Any]:
        bad = [k for k in v if not k.startswith("spark.")]
        if bad:
            raise ValueError(
                f"Spark settings start with 'spark.' (e.g. spark.master, spark.driver.memory); "
                f"got {', '.join(map(repr, bad))}"
            )
        return v

    @model_validator(mode="after")
    def _engine_fits_sources(self) -> RunConfig:
        uris = [t for t, s in self.sources.items() if s.uri is not None]
        if uris and self.engine != "pyspark":
            raise ValueError(
                f"sources {', '.join(uris)} use 'uri', which only Spark reads; "
                "set engine: pyspark or give a 'path' instead"
            )
        if self.spark and self.engine != "pyspark":
            raise ValueError("'spark' settings are given but engine is not pyspark")
        return self

    @field_validator("analysis_date", mode="before")
    @classmethod
    def _date(cls, v: Any) -> Any:
        if isinstance(v, str):
            try:
                return date.fromisoformat(v.strip())
            except ValueError:
                if re.fullmatch(r"\d{4}-\d{2}-\d{2}", v.strip()):
                    raise ValueError(
                        f"{v.strip()!r} is no day of the calendar{_month_days(v.strip())}; "
                        f"write a real day, e.g. {_nearest_day(v.strip())}"
                    ) from None
                raise ValueError(
                    f"not a date in YYYY-MM-DD form: {v!r}; write e.g. 2025-06-30 for 30 June 2025"
                ) from None
        return v

    def secrets(self) -> list[str]:
        """Values of the environment variables the config's URLs name (longest first), to be
        redacted by value wherever text is written."""
        urls = [src.url or src.uri or "" for _, src in self.sources.items()]
        if self.outputs.memberships is not None:
            urls.append(self.outputs.memberships.url)
        if self.notify is None or self.notify.webhook is None:
            return env_secrets(urls)
        found = set(env_secrets(urls)) | set(self.notify.webhook.secrets())
        return sorted(found, key=len, reverse=True)

    def path(self, p: Path) -> Path:
        """Resolve a path from the config against the config file's folder."""
        return p if p.is_absolute() else (self.base_dir / p).resolve()

    def source_path(self, table: str) -> Path | None:
        src = getattr(self.sources, table)
        return None if src is None or src.path is None else self.path(src.path)

    @property
    def notebooks_path(self) -> Path:
        return self.path(self.notebooks_dir)

    @property
    def reports_path(self) -> Path:
        return self.path(self.reports_dir)


def _loc(loc: tuple[Any, ...]) -> str:
    return ".".join(str(p) for p in loc) or "(top level)"


def _format_errors(err: ValidationError, path: Path) -> str:
    lines = [f"the run config {path} is not valid:"]
    for e in err.errors():
        key = _loc(e["loc"])
        if e["type"] == "extra_forbidden":
            parent = e["loc"][:-1]
            allowed = _allowed_keys(parent)
            hint = difflib.get_close_matches(str(e["loc"][-1]), allowed, n=1)
            fix = (
                f"did you mean '{hint[0]}'?" if hint else f"allowed keys here: {', '.join(allowed)}"
            )
            lines.append(f"  - {key}: unknown key; {fix}")
        elif e["type"] == "missing":
            lines.append(f"  - {key}: required key is missing")
        else:
            msg = e["msg"].removeprefix("Value error, ")
            got = e.get("input")
            if isinstance(got, str) and (m := _NO_SPACE.match(got)) and "dict" in msg:
                msg += (
                    f"; a space is missing after the colon: write '{m.group(1)}: "
                    f"{_cut(m.group(2), 60)}' on its own line"
                )
            lines.append(
                f"  - {key}: {_cut(msg)} (got {_cut(repr(e.get('input')))})"
                if "input" in e and not isinstance(e.get("input"), dict)
                else f"  - {key}: {_cut(msg)}"
            )
    return "\n".join(lines)


def _allowed_keys(parent: tuple[Any, ...]) -> list[str]:
    model: type[BaseModel] = RunConfig
    for part in parent:
        field = model.model_fields.get(str(part))
        if field is None:
            break
        ann = field.annotation
        nested = [
            a
            for a in getattr(ann, "__args__", (ann,))
            if isinstance(a, type) and issubclass(a, BaseModel)
        ]
        if not nested:
            break
        model = nested[0]
    return [k for k in model.model_fields if k != "base_dir"]


def parse_config(
    data: dict[str, Any], *, base_dir: Path, origin: Path | None = None, check_files: bool = True
) -> RunConfig:
    """Validate a config mapping; relative paths resolve against ``base_dir``."""
    origin = origin or base_dir / "<config>"
    if not isinstance(data, dict):
        hint = ""
        if isinstance(data, str) and (m := _NO_SPACE.match(data)):
            hint = (
                f". Fix: a space is missing after the colon: write '{m.group(1)}: "
                f"{_cut(m.group(2).split()[0], 60)}' (a key is followed by a colon and a space)"
            )
        raise ConfigError(
            f"the run config {origin} must be a YAML mapping (key: value), "
            f"got {type(data).__name__}{hint}"
        )
    if "base_dir" in data:
        raise ConfigError(f"the run config {origin}: 'base_dir' is set by segwork, remove it")
    try:
        cfg = RunConfig.model_validate({**data, "base_dir": base_dir.resolve()})
    except ValidationError as err:
        raise ConfigError(_format_errors(err, origin)) from None
    if check_files:
        missing = []
        for table, src in cfg.sources.items():
            if src.path is not None and not cfg.path(src.path).is_file():
                missing.append(f"  - sources.{table}.path: file not found: {cfg.path(src.path)}")
            else:
                try:
                    src.kind  # noqa: B018  (raises ConfigError on an unknown ending)
                except ConfigError as e:
                    missing.append(f"  - sources.{table}.path: {e}")
        if missing:
            hint = ""
            if any("data/demo" in m for m in missing):
                hint = "\nFix: generate the demo data first with `segwork demo` (or `make report`)."
            raise ConfigError(
                f"the run config {origin} names files that cannot be read:\n"
                + "\n".join(missing)
                + hint
            )
    return cfg


def _config_text(path: Path) -> str:
    """The text of a config file: UTF-8 (with or without a BOM) or UTF-16 with a BOM.

    Anything else (a config saved as cp1250 by a Windows editor) is refused with the line and the
    byte, because guessing a legacy encoding could silently change a path or a column name.
    """
    raw = path.read_bytes()
    if raw.startswith((codecs.BOM_UTF16_LE, codecs.BOM_UTF16_BE)):
        return raw.decode("utf-16")
    try:
        return raw.decode("utf-8-sig")
    except UnicodeDecodeError as e:
        line = raw[: e.start].count(b"\n") + 1
        raise ConfigError(
            f"the run config {path} is not UTF-8 text: line {line} has the byte "
            f"0x{raw[e.start]:02x}, which UTF-8 does not allow (the file was probably saved as "
            "cp1250/windows-1250 or latin-2). Fix: save the config as UTF-8 (in Notepad: Save as, "
            "Encoding: UTF-8)."
        ) from None


_MAX_CONFIG_VALUES = 100_000  # a real config has hundreds; aliases could expand to billions


def _load_yaml(text: str, path: Path) -> Any:
    """Parse YAML safely: no Python objects, and no aliases (&a / *a) that expand without end.

    An alias repeats a value without copying it, so ten lines can stand for billions of values;
    anything that walks the expanded value (validation, an error message) would never finish.
    The expanded size is counted on the node graph before anything is built. A key given twice
    (YAML keeps the last quietly) and a date that is no day of the calendar are refused by line.
    """
    loader = None
    try:
        loader = yaml.SafeLoader(text)  # reads the first characters: a NUL byte raises here
        node = loader.get_single_node()
        if node is None:
            return None
        size = _expanded_size(node, {})
        if size > _MAX_CONFIG_VALUES:
            raise ConfigError(
                f"the run config {path} expands to {size:,} values through YAML aliases "
                f"(&name / *name); at most {_MAX_CONFIG_VALUES:,} are allowed. Fix: write "
                "the values out instead of repeating aliases."
            )
        _check_nodes(node, (), loader, path, set())
        return loader.construct_document(node)
    except ConfigError:
        raise
    except yaml.reader.ReaderError as e:
        line = text[: max(e.position, 0)].count("\n") + 1
        raise ConfigError(
            f"the run config {path} has the control character #x{e.character:04x} "
            f"{'(a NUL byte) ' if e.character == 0 else ''}on line {line}, which a text file "
            "does not contain: the file was damaged (a broken save or copy) or is not a text "
            "file. Fix: delete the character (an editor such as Notepad++ or VS Code shows it), "
            "or restore the config from a copy, and save it as UTF-8 text."
        ) from None
    except yaml.YAMLError as e:
        raise ConfigError(
            f"the run config {path} is not valid YAML: {_cut(str(e), 500)}\n"
            f"Fix: {_yaml_fix(e, text)}"
        ) from None
    except RecursionError:
        raise ConfigError(f"the run config {path} is nested too deeply to be a config") from None
    except ValueError as e:  # a constructor the node checks do not foresee
        raise ConfigError(
            f"the run config {path} has a value YAML cannot read: {_cut(str(e))}. Fix: put the "
            "value in quotes ('...') if it is meant as text."
        ) from None
    finally:
        if loader is not None:
            loader.dispose()


_TIMESTAMP_TAG = "tag:yaml.org,2002:timestamp"


def _check_nodes(
    node: yaml.Node, keys: tuple[str, ...], loader: yaml.SafeLoader, path: Path, seen: set[int]
) -> None:
    """Refuse a key given twice in one mapping and an unquoted date that is no calendar day,
    naming the key and its line(s); each node is visited once, however often aliases repeat it."""
    if id(node) in seen:
        return
    seen.add(id(node))
    where = ".".join(keys) or "(top level)"
    if isinstance(node, yaml.MappingNode):
        first: dict[str, yaml.Node] = {}
        for key, value in node.value:
            name = str(key.value) if isinstance(key, yaml.ScalarNode) else None
            if name is not None and key.tag != "tag:yaml.org,2002:merge":
                if name in first:
                    full = ".".join((*keys, name))
                    raise ConfigError(
                        f"the run config {path} gives the key {full} twice: on line "
                        f"{first[name].start_mark.line + 1} and on line {key.start_mark.line + 1}; "
                        "YAML would keep the second one without a word. Fix: keep one of the two "
                        "(delete or merge the other)."
                    )
                first[name] = key
            _check_nodes(value, (*keys, name or "?"), loader, path, seen)
    elif isinstance(node, yaml.SequenceNode):
        for i, item in enumerate(node.value):
            _check_nodes(item, (*keys, str(i)), loader, path, seen)
    elif node.tag == _TIMESTAMP_TAG:
        try:
            loader.construct_yaml_timestamp(node)
        except ValueError:
            raise ConfigError(
                f"the run config {path}: {where} (line {node.start_mark.line + 1}) is "
                f"{_cut(str(node.value))}, which is no day of the calendar{_month_days(node.value)}."
                f" Fix: write a real day in YYYY-MM-DD form, e.g. {keys[-1] if keys else where}: "
                f"{_nearest_day(node.value)}."
            ) from None


def _month_days(value: str) -> str:
    m = re.match(r"(\d{4})-(\d{1,2})-(\d{1,2})", value)
    if not m:
        return ""
    year, month = int(m.group(1)), int(m.group(2))
    if not 1 <= month <= 12:
        return f" (there is no month {month})"
    days = calendar.monthrange(year, month)[1]
    return f" ({calendar.month_name[month]} {year} has {days} days)"


def _nearest_day(value: str) -> str:
    m = re.match(r"(\d{4})-(\d{1,2})-(\d{1,2})", value)
    if not m or not 1 <= int(m.group(2)) <= 12:
        return "2025-06-30"
    year, month = int(m.group(1)), int(m.group(2))
    day = min(max(int(m.group(3)), 1), calendar.monthrange(year, month)[1])
    return f"{year:04d}-{month:02d}-{day:02d}"


_QUOTE_OPENED = re.compile(r"""^\s*(?:- )?(?:[\w.-]+:\s+)?(['"])(.*)$""")
"""A value that opens a quote; it is closed on its line when the rest has an odd count of it."""
_NO_SPACE = re.compile(r"^\s*(?:- )?([A-Za-z_][\w.-]*):(?![\s/\\])(\S.*)$")


def _yaml_fix(err: yaml.YAMLError, text: str) -> str:
    """A plain fix for a YAML syntax error, from what PyYAML says and the text it points at."""
    problem = str(getattr(err, "problem", "") or "")
    context = str(getattr(err, "context", "") or "")
    mark = getattr(err, "problem_mark", None)
    line = mark.line + 1 if mark is not None else None
    context_mark = getattr(err, "context_mark", None)
    opened = context_mark.line + 1 if context_mark is not None else line
    lines = text.splitlines()
    no_space = [
        (i + 1, m.group(1), m.group(2))
        for i, raw in enumerate(lines)
        if (m := _NO_SPACE.match(raw)) and not raw.lstrip().startswith("#")
    ]
    if "'\\t'" in problem:
        return (
            f"indent with spaces, not tabs: YAML does not allow a tab in indentation (line {line}). "
            "Replace the tab with spaces, aligned with the other keys at the same level."
        )
    if "unknown escape character" in problem and "double-quoted" in context:
        return (
            "inside double quotes a backslash starts an escape (\\n, \\t), so a Windows path "
            "breaks there: write the path in single quotes ('C:\\data\\orders.csv') or with "
            "forward slashes (C:/data/orders.csv)."
        )
    unclosed = [
        i + 1
        for i, raw in enumerate(lines[: line or len(lines)])
        if (m := _QUOTE_OPENED.search(raw)) and m.group(2).count(m.group(1)) % 2 == 0
    ]
    if unclosed and ("quoted scalar" in context or "but found '<scalar>'" in problem):
        return f"the quote opened on line {unclosed[-1]} is never closed: close it on that line."
    if "end of stream" in problem and "quoted scalar" in context:
        return f"the quote opened on line {opened} is never closed: close it on the same line."
    if no_space and ("mapping values" in problem or "could not find expected ':'" in problem):
        n, key, value = no_space[0]
        return (
            f"a space is missing after the colon on line {n}: write '{key}: {_cut(value, 60)}' "
            "(a key is followed by a colon and a space)."
        )
    here = lines[mark.line] if mark is not None and mark.line < len(lines) else ""
    if "mapping values are not allowed" in problem and re.fullmatch(
        r"\s*(?:- )?[\w.-]+", here[: mark.column] if mark is not None else ""
    ):
        return (
            f"line {line} is indented more than the key above it, so YAML reads it as part of "
            "that key's value: indent it like the keys beside it (spaces only)."
        )
    if "mapping values are not allowed" in problem:
        return (
            f"a value on line {line} contains ': ' (a colon and a space), which YAML reads as a "
            "new key: put the whole value in quotes, e.g. name: 'Sales: Brno'. If the line is a "
            "key, indent it like the keys beside it."
        )
    if "could not find expected ':'" in problem:
        return (
            f"line {line} (or the one before it) is not 'key: value': each key is followed by a "
            "colon and a space, and a value that runs over several lines needs quotes."
        )
    if "expected <block end>" in problem:
        return (
            f"line {line} is indented differently from the lines above it at the same level: "
            "align it with them (spaces only, the same number at each level)."
        )
    if "cannot start any token" in problem or "undefined alias" in problem:
        return (
            f"a plain value cannot start with that character in YAML (line {line}): put the "
            "value in quotes, e.g. name: '@home'."
        )
    if "flow sequence" in context or "flow mapping" in context:
        return (
            f"the bracket opened on line {opened} is not closed: close it with ']' or '}}' "
            "(items separated by commas), or write the list as lines starting with '- '."
        )
    if "constructor" in problem:
        return "remove the tag (!!...): a config holds plain values only; segwork runs no code."
    return (
        f"check line {line} and the one before it: each entry is 'key: value' with a space after "
        "the colon, indented with spaces; quote values that contain ': ' or ' #' or start with "
        "one of @ ` % * & ! | > { [."
        if line
        else "check the config's syntax: 'key: value' lines, indented with spaces."
    )


def _expanded_size(node: yaml.Node, memo: dict[int, int]) -> int:
    """How many values ``node`` stands for once every alias is expanded (shared nodes counted
    each time they are used, computed once each)."""
    key = id(node)
    if key in memo:
        return memo[key]
    memo[key] = 1  # a recursive alias counts once; pydantic refuses the cycle later
    if isinstance(node, yaml.SequenceNode):
        size = 1 + sum(_expanded_size(n, memo) for n in node.value)
    elif isinstance(node, yaml.MappingNode):
        size = 1 + sum(_expanded_size(k, memo) + _expanded_size(v, memo) for k, v in node.value)
    else:
        size = 1
    memo[key] = size
    return size


def _cut(text: str, limit: int = 200) -> str:
    """A value quoted in a message, cut to ``limit`` characters."""
    return text if len(text) <= limit else text[:limit] + f"... ({len(text):,} characters)"


def load_config(path: str | os.PathLike[str], *, check_files: bool = True) -> RunConfig:
    """Read and validate a YAML run config."""
    path = Path(path)
    if not path.is_file():
        raise ConfigError(
            f"run config not found: {path}. Fix: pass --config with the path of a YAML file "
            "(configs/demo.yaml is an example)."
        )
    data = _load_yaml(_config_text(path), path)
    return parse_config(
        data or {}, base_dir=path.resolve().parent, origin=path, check_files=check_files
    )
