"""The command line: `segwork demo`, `segwork validate`, `segwork run`, `segwork assign`.

Errors a user can fix (a bad config, a broken table, a run already in progress, a setting that a
run would trip on: every :class:`segwork.errors.SegworkError`) are printed as one clear message
and exit with status 2; a run that failed (a source that does not validate, a notebook that
fails) prints why and exits with status 1. Everything printed is redacted by value with the config's secrets
(``RunConfig.secrets()``, the values of the ``${VARS}`` in its URLs), tracebacks of unexpected
errors included. ``segwork run`` then tells the config's ``notify:`` command and webhook
(:mod:`segwork.notify`); how a notification went is printed to stderr and never changes the
exit status.
"""

from __future__ import annotations

import signal
import sys
import traceback
from collections.abc import Iterator, Sequence
from contextlib import contextmanager, redirect_stderr, redirect_stdout
from datetime import UTC, datetime
from pathlib import Path
from typing import TYPE_CHECKING, Annotated, Any, TextIO

import typer

from segwork.errors import SegworkError
from segwork.files import redact

if TYPE_CHECKING:
    from segwork.config import RunConfig
    from segwork.pipeline import RunRecord

app = typer.Typer(
    help="segwork: customer segmentation workbench.",
    no_args_is_help=True,
    pretty_exceptions_enable=False,
    add_completion=False,
)

DEFAULT_CONFIG = Path("configs/demo.yaml")


def _fail(message: str, code: int = 2, secrets: Sequence[str] = ()) -> None:
    typer.secho(f"error: {redact(message, secrets)}", fg=typer.colors.RED, err=True)
    raise typer.Exit(code)


def _loaded(config: Path) -> RunConfig | None:
    """The config without checking its files, or None when it does not load (its error is
    reported by the command itself)."""
    from segwork.config import load_config

    try:
        return load_config(config, check_files=False)
    except Exception:  # noqa: BLE001 - any config error is reported by the command itself
        return None


def _secrets(config: Path) -> list[str]:
    """The config's secrets, or none when it does not load (its error is reported elsewhere)."""
    cfg = _loaded(config)
    return cfg.secrets() if cfg is not None else []


_EXPECTED: tuple[type[Exception], ...] = (SegworkError,)


class _Redacting:
    """A text stream that writes through to ``stream`` with the secrets replaced by ``***``."""

    def __init__(self, stream: TextIO, secrets: Sequence[str]) -> None:
        self._stream, self._secrets = stream, secrets

    def write(self, text: str) -> int:
        self._stream.write(redact(text, self._secrets))
        return len(text)

    def __getattr__(self, name: str) -> Any:
        return getattr(self._stream, name)


@contextmanager
def _unexpected_errors(
    secrets: Sequence[str], expected: tuple[type[Exception], ...] = _EXPECTED
) -> Iterator[None]:
    """An error segwork did not foresee: its traceback (redacted) and status 1, never a secret.
    Errors of the ``expected`` kinds pass through to the command's own message. Meanwhile
    everything written to stdout and stderr (progress lines of the readers, warnings) is
    redacted too."""
    try:
        with (
            redirect_stdout(_Redacting(sys.stdout, secrets)),
            redirect_stderr(_Redacting(sys.stderr, secrets)),
        ):
            yield
    except (typer.Exit, KeyboardInterrupt, *expected):
        raise
    except Exception:  # noqa: BLE001
        typer.echo(redact(traceback.format_exc(), secrets), err=True)
        _fail("unexpected error (the traceback is above); please report it", 1, secrets)


@app.command()
def demo(
    out: Annotated[Path, typer.Option(help="Folder to write the demo CRM into.")] = Path(
        "data/demo"
    ),
    customers: Annotated[int, typer.Option(help="Number of customers.")] = 20_000,
    years: Annotated[float, typer.Option(help="Years of order history.")] = 2.0,
    seed: Annotated[int, typer.Option(help="Random seed (same seed, same data).")] = 42,
) -> None:
    """Write the synthetic demo CRM (customers, orders, interactions, survey, campaigns, planted truth)."""
    from segwork.demo import write_demo

    path = write_demo(out, n_customers=customers, years=years, seed=seed)
    typer.echo(f"demo data written to {path}")


@app.command()
def validate(
    config: Annotated[Path, typer.Option(help="Run config (YAML).")] = DEFAULT_CONFIG,
) -> None:
    """Read and validate every source of a config; say what a run would trip on and what applies.

    Exits with status 2 when a run would fail or refuse (a table that does not validate, a
    notebook setting that does not fit, a control variant not in the data, ...).
    """
    secrets = _secrets(config)
    with _unexpected_errors(secrets):
        _validate(config, secrets)


def _validate(config: Path, secrets: Sequence[str]) -> None:
    from segwork import pipeline, preflight
    from segwork.config import load_config
    from segwork.sources import load_tables

    def say(text: str) -> None:
        typer.echo(redact(text, secrets))

    try:
        cfg = load_config(config)
        specs, findings = preflight.read_specs(cfg, pipeline.find_notebooks(cfg.notebooks_path))
    except SegworkError as e:
        _fail(str(e), secrets=secrets)
    findings += preflight.reports_dir_findings(cfg.reports_path)
    decisions = preflight.decide(specs, preflight.configured_tables(cfg))
    try:
        tables = load_tables(cfg)
    except SegworkError as e:
        say(preflight.Preflight(findings, decisions).summary())
        _fail(str(e), secrets=secrets)
    say(tables.report.summary())
    found, notes = preflight.check_data(cfg, specs, decisions, tables)
    result = preflight.Preflight(findings + found, decisions, notes)
    say("")
    say(result.summary())
    if result.errors:
        raise typer.Exit(2)


@app.command()
def run(
    config: Annotated[Path, typer.Option(help="Run config (YAML).")] = DEFAULT_CONFIG,
    notebook: Annotated[
        list[str] | None, typer.Option(help="Run only these notebooks (file stems).")
    ] = None,
) -> None:
    """Run every notebook with papermill into reports/runs/<run-id>/ and publish the HTML reports.

    Exit status: 0 the run succeeded; 1 it failed (a source that does not validate, a notebook
    that fails, a write-back that fails) or stopped on an unexpected error; 2 it could not start
    (a bad config, a missing file, another run holding the lock); 130 Ctrl-C; 143 SIGTERM (the run
    is recorded as failed and its lock released). With ``notify:`` in the config,
    a run that did not succeed (and, if asked, one that did) is notified once the config has
    loaded; a notification that fails is printed and recorded, and never changes the status.
    """
    from segwork import pipeline

    cfg = _loaded(config)
    secrets = cfg.secrets() if cfg is not None else []
    started = datetime.now(UTC)
    terminated: list[int] = []
    try:
        with _unexpected_errors(secrets), _sigterm_as_interrupt(terminated):
            record = pipeline.run(config, notebooks=notebook or None)
    except KeyboardInterrupt:
        if not terminated:  # Ctrl-C: the person who pressed it knows
            raise
        message = (
            "the run was stopped by SIGTERM (systemd stopping the service, a time limit, a "
            "shutdown); it is recorded as failed and the reports published as latest are unchanged"
        )
        typer.secho(f"error: {message}", fg=typer.colors.RED, err=True)
        _notify_error(cfg, message, started, secrets)
        raise typer.Exit(128 + signal.SIGTERM) from None
    except SegworkError as e:
        typer.secho(f"error: {redact(str(e), secrets)}", fg=typer.colors.RED, err=True)
        _notify_error(cfg, str(e), started, secrets)
        raise typer.Exit(2) from None
    except typer.Exit as e:  # an unexpected error: its traceback is printed already
        if e.exit_code:
            cause = e.__context__
            what = f"{type(cause).__name__}: {cause}" if cause is not None else "see the log"
            _notify_error(
                cfg,
                f"unexpected error ({what}); the traceback is in the run's log",
                started,
                secrets,
            )
        raise
    if record.status != "succeeded":
        typer.secho(redact(str(pipeline.RunFailed(record)), secrets), fg=typer.colors.RED, err=True)
        _notify_run(cfg, record, secrets)
        raise typer.Exit(1)
    typer.secho(
        f"run {record.run_id} succeeded in {record.duration_s:.1f} s: {record.run_dir / 'index.html'}",
        fg=typer.colors.GREEN,
    )
    for nb in record.notebooks:
        if nb.status == "not applicable":
            typer.echo(redact(f"  {nb.stem} did not apply: {nb.reason}", secrets))
    _notify_run(cfg, record, secrets)


@contextmanager
def _sigterm_as_interrupt(terminated: list[int]) -> Iterator[None]:
    """While the run goes, SIGTERM ends it as Ctrl-C does (the run is recorded as failed, its
    kernels are stopped, the lock is released) instead of killing the process on the spot, which
    would leave the run "running" and its lock behind; ``terminated`` notes that it came. A
    second SIGTERM kills at once. Outside the main thread (no signals there) nothing changes."""

    def stop(signum: int, frame: Any) -> None:
        terminated.append(signum)
        signal.signal(signal.SIGTERM, signal.SIG_DFL)
        raise KeyboardInterrupt

    try:
        previous = signal.signal(signal.SIGTERM, stop)
    except ValueError:  # not the main thread
        yield
        return
    try:
        yield
    finally:
        signal.signal(signal.SIGTERM, previous)


def _notify_run(cfg: RunConfig | None, record: RunRecord, secrets: Sequence[str]) -> None:
    """Tell the config's ``notify:`` how the run went, if it asks to hear about this outcome."""
    from segwork import notify, pipeline

    if cfg is None or not notify.wants(cfg.notify, record.status):
        return
    data = notify.read_run_record(record.run_dir, record.to_dict())
    error = None if record.succeeded else str(pipeline.RunFailed(record))
    reports_dir = record.run_dir.parent.parent  # runs/<run-id> in it
    payload = notify.build_payload(data, reports_dir, error=error, secrets=secrets)
    _deliver(cfg, payload, record.run_dir, secrets)


def _notify_error(
    cfg: RunConfig | None, message: str, started: datetime, secrets: Sequence[str]
) -> None:
    """Tell ``notify:`` about a run that stopped before it had a record (the lock was held, a
    source file is missing, an unexpected error). Nobody can be told when the config itself does
    not load: the scheduler's log holds the error."""
    from segwork import notify

    if cfg is None or not notify.wants(cfg.notify, "failed"):
        return
    payload = notify.error_payload(
        cfg.name, message, cfg.reports_path, started=started, secrets=secrets
    )
    _deliver(cfg, payload, None, secrets)


def _deliver(
    cfg: RunConfig, payload: dict[str, Any], run_dir: Path | None, secrets: Sequence[str]
) -> None:
    """Send, print one line per channel to stderr, record in the run folder; never raises."""
    from segwork import notify

    assert cfg.notify is not None
    try:
        results = notify.send(cfg.notify, payload, base_dir=cfg.base_dir, secrets=secrets)
    except Exception as e:  # noqa: BLE001 - a notification never changes how the run ended
        typer.secho(
            redact(f"notification FAILED: {type(e).__name__}: {e}", secrets),
            fg=typer.colors.RED,
            err=True,
        )
        return
    for r in results:
        typer.secho(redact(r.message(), secrets), fg=None if r.ok else typer.colors.RED, err=True)
    try:
        notify.record(run_dir, payload, results, secrets)
    except OSError as e:
        typer.secho(
            redact(f"notification record not written: {e}", secrets),
            fg=typer.colors.RED,
            err=True,
        )


@app.command()
def assign(
    model: Annotated[Path, typer.Option(help="A persona model saved by notebook 03 (.skops).")],
    input: Annotated[Path, typer.Option(help="Survey answers of new customers (CSV or Parquet).")],  # noqa: A002
    output: Annotated[
        Path, typer.Option(help="Where to write customer_id, cluster, persona (CSV/Parquet).")
    ] = Path("assignments.csv"),
) -> None:
    """Place new customers into the existing persona clusters."""
    from segwork.personas import model_file

    try:
        path = model_file.assign_file(model, input, output)
    except (SegworkError, ValueError, FileNotFoundError) as e:
        _fail(str(e))
    typer.echo(f"assignments written to {path}")


def main() -> None:  # pragma: no cover - console entry point
    sys.exit(app())


if __name__ == "__main__":  # pragma: no cover
    main()
