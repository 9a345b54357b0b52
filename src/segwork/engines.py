"""Where history-sized tables are computed: DuckDB in this process, or Spark.

The run config chooses with ``engine: duckdb`` (the default) or ``engine: pyspark``;
:func:`connect` returns the Ibis backend for it, and every analysis runs the same Ibis
expressions on either. DuckDB settings come from the config's ``duckdb:`` mapping (``SET`` one
by one), Spark settings from its ``spark:`` mapping (each passed to the SparkSession builder).

Spark's own defaults are changed only where segwork needs it and only when the config does not
set the key: the session time zone is UTC (dates are timezone-naive; Ibis sets UTC too) and
pandas data goes to Spark through Arrow. On a local master the web UI and console progress bars
are off, the driver binds to 127.0.0.1 (a notebook run opens no port outside the machine), and
Python workers run this interpreter (PYSPARK_PYTHON, if not set).
"""

from __future__ import annotations

import difflib
import os
import shutil
import sys
from collections.abc import Mapping
from pathlib import Path
from typing import Any

import ibis

from segwork.config import ConfigError, RunConfig

SPARK_INSTALL = "pip install 'segwork[spark]'"
DEFAULT_MASTER = "local[*]"
SPARK_DEFAULTS: dict[str, str] = {
    "spark.sql.session.timeZone": "UTC",
    # pandas -> Spark through Arrow: without it PySpark 4.0 turns missing pandas 3 strings into
    # the text 'NaN' (so "email is missing" would find nobody in an uploaded customer table)
    "spark.sql.execution.arrow.pyspark.enabled": "true",
}
LOCAL_SPARK_DEFAULTS: dict[str, str] = {
    "spark.ui.enabled": "false",
    "spark.ui.showConsoleProgress": "false",
    "spark.driver.host": "127.0.0.1",
    "spark.driver.bindAddress": "127.0.0.1",
}

Setting = str | int | float | bool


def connect(cfg: RunConfig) -> Any:
    """The Ibis backend the run config's ``engine`` names, with its settings applied."""
    if cfg.engine == "pyspark":
        return ibis.pyspark.connect(spark_session(cfg.spark))
    return duckdb_backend(cfg.duckdb)


def is_spark(con: Any) -> bool:
    """Whether an Ibis backend is the PySpark one."""
    return getattr(con, "name", None) == "pyspark"


# -- DuckDB -------------------------------------------------------------------------------------
def duckdb_backend(settings: Mapping[str, Setting] | None = None) -> Any:
    """An in-process DuckDB backend with each setting applied by ``SET``.

    A setting DuckDB does not know, or a value it rejects, is a :class:`ConfigError` naming the
    key ``duckdb.<key>``. Names are quoted as identifiers and values as literals, so nothing
    from the config is spliced into SQL as code.
    """
    con = ibis.duckdb.connect()
    raw = con.con
    for key, value in (settings or {}).items():
        try:
            raw.execute(f"SET {_sql_ident(key)} = {_sql_value(value)}")
        except Exception as e:  # duckdb.Error subclasses: unknown name, bad value
            known = [r[0] for r in raw.execute("SELECT name FROM duckdb_settings()").fetchall()]
            close = difflib.get_close_matches(key, known, n=1)
            hint = f" (did you mean '{close[0]}'?)" if close and close[0] != key else ""
            raise ConfigError(
                f"duckdb.{key}: DuckDB rejects this setting: {error_line(e)}. Fix: correct or "
                f"remove duckdb.{key} in the run config{hint}; settings: "
                "https://duckdb.org/docs/configuration/overview"
            ) from None
    return con


def _sql_ident(name: str) -> str:
    return '"' + name.replace('"', '""') + '"'


def _sql_value(value: Setting) -> str:
    if isinstance(value, bool):
        return "true" if value else "false"
    if isinstance(value, int | float):
        return repr(value)
    return "'" + str(value).replace("'", "''") + "'"


# -- Spark --------------------------------------------------------------------------------------
def spark_settings(settings: Mapping[str, Setting] | None = None) -> dict[str, str]:
    """The settings a session is built with: the config's, plus segwork's defaults where unset.

    Values become Spark's strings (booleans as ``true``/``false``). Keys must start with
    ``spark.``; the master defaults to ``local[*]`` (all cores of this machine).
    """
    given = {k: _spark_value(v) for k, v in (settings or {}).items()}
    bad = [k for k in given if not k.startswith("spark.")]
    if bad:
        raise ConfigError(
            f"spark: Spark settings start with 'spark.' (e.g. spark.master, "
            f"spark.executor.memory); got {', '.join(map(repr, bad))}. Fix: rename the key in the "
            "run config's spark: mapping."
        )
    out = {"spark.master": DEFAULT_MASTER, **SPARK_DEFAULTS}
    if given.get("spark.master", DEFAULT_MASTER).startswith("local"):
        out.update(LOCAL_SPARK_DEFAULTS)
    out.update(given)
    return out


def _spark_value(value: Setting) -> str:
    if isinstance(value, bool):
        return "true" if value else "false"
    return str(value)


def spark_session(settings: Mapping[str, Setting] | None = None) -> Any:
    """A SparkSession named "segwork" built with :func:`spark_settings`.

    If a session is already running in this process (a notebook that made one), Spark reuses
    it: settings that can change at run time (``spark.sql.*``) are applied to it, the others
    (master, memory) keep the values it was started with.
    """
    conf = spark_settings(settings)
    try:
        from pyspark.sql import SparkSession
    except ImportError:
        raise ConfigError(
            "engine: pyspark needs PySpark, which is not installed. Fix: "
            f"{SPARK_INSTALL} (and Java 17 or newer), or set engine: duckdb."
        ) from None
    _check_java()
    if conf["spark.master"].startswith("local"):  # Python workers: this interpreter, not python3
        os.environ.setdefault("PYSPARK_PYTHON", sys.executable)
    builder = SparkSession.builder.appName("segwork")
    for key, value in conf.items():
        builder = builder.config(key, value)
    try:
        session = builder.getOrCreate()
    except Exception as e:  # py4j / PySpark errors: gateway did not start, bad master URL ...
        named = [k for k in conf if k in str(e)]
        if named:  # a value Spark checks when it applies the setting
            raise _rejected(named[0], conf[named[0]], e) from None
        raise ConfigError(
            f"could not start Spark (spark.master: {conf['spark.master']}): {error_line(e)}. "
            "Fix: check the spark: settings of the run config (master URL, memory sizes) and "
            "that Java 17 or newer is installed."
        ) from None
    _check_applied(session, conf)
    return session


def _check_java() -> None:
    """Spark runs on the JVM: find Java (JAVA_HOME, else java on PATH) or say how to get it."""
    home = os.environ.get("JAVA_HOME")
    if home and (Path(home) / "bin" / "java").exists():
        return
    if shutil.which("java"):
        return
    raise ConfigError(
        "engine: pyspark needs Java 17 or newer, and no Java was found (JAVA_HOME is "
        f"{'set to ' + home + ', which has no bin/java' if home else 'not set'} and 'java' is "
        "not on PATH). Fix: install a JDK 17 (e.g. apt-get install openjdk-17-jre-headless) "
        "or set JAVA_HOME, or use engine: duckdb."
    )


def _check_applied(session: Any, conf: Mapping[str, str]) -> None:
    """Raise if a run-time (spark.sql.*) setting was rejected, naming the key."""
    for key, value in conf.items():
        if not key.startswith("spark.sql."):
            continue
        try:
            session.conf.set(key, value)
        except Exception as e:
            raise _rejected(key, value, e) from None


def _rejected(key: str, value: str, e: BaseException) -> ConfigError:
    return ConfigError(
        f"{key}: Spark rejects the value {value!r}: {error_line(e)}. "
        "Fix: correct it in the run config's spark: mapping."
    )


def error_line(e: BaseException) -> str:
    """The first line of an exception's message (Spark and py4j add pages of JVM trace)."""
    text = str(e).strip()
    return text.splitlines()[0] if text else type(e).__name__
