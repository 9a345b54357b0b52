"""Telling someone how a run went: the config's ``notify:`` command and webhook.

A scheduled run that fails must not fail in silence. After ``segwork run`` the CLI builds one
payload (status, headline, run id, start and end, the path of the run's summary page) and hands
it to each configured channel: a command (an argv list, never a shell line; the payload as JSON
on stdin and ``SEGWORK_RUN_*`` in its environment) and a webhook (a JSON POST with the
configured headers). Secrets are redacted by value from the payload and from every message, as
everywhere (``segwork.files.redact``, ``RunConfig.secrets()``).

A notification that fails never changes the run: its exit code, its reports and ``latest`` stay
as they are. The failure is returned as a :class:`NotifyResult` (which the CLI prints to stderr)
and recorded with the payload in ``reports/runs/<run-id>/notifications.json``.
"""

from __future__ import annotations

import json
import os
import signal
import subprocess
import time
import urllib.error
import urllib.parse
import urllib.request
from collections.abc import Mapping, Sequence
from dataclasses import asdict, dataclass
from datetime import UTC, datetime
from pathlib import Path
from typing import Any

import segwork
from segwork.config import NotifyConfig, WebhookConfig
from segwork.files import atomic_write_text, redact, redact_tree

NOTIFICATIONS_JSON = "notifications.json"
_TAIL = 500  # characters of a failing command's output or an endpoint's answer kept in a message


@dataclass(frozen=True)
class NotifyResult:
    """How one channel went: ``ok``, and in ``detail`` the exit code, HTTP status or the error."""

    channel: str  # "command" or "webhook"
    target: str  # the program or the address as written (no secret)
    ok: bool
    detail: str
    duration_s: float

    def message(self) -> str:
        """One line for the log: what was notified, and how it went."""
        verb = "sent" if self.ok else "FAILED"
        return f"notification {verb}: {self.channel} {self.target}: {self.detail}"


def event_of(status: str) -> str:
    """The notify event of a run status: "success" for a run that succeeded, else "failure"."""
    return "success" if status == "succeeded" else "failure"


def wants(notify: NotifyConfig | None, status: str) -> bool:
    """Whether ``notify`` asks to be told about a run of this status."""
    return notify is not None and event_of(status) in notify.on


def read_run_record(run_dir: Path, fallback: Mapping[str, Any]) -> dict[str, Any]:
    """The run as published (``run.json``, already redacted), or ``fallback`` when it cannot be read."""
    try:
        return json.loads((Path(run_dir) / "run.json").read_text(encoding="utf-8"))
    except (OSError, ValueError):
        return dict(fallback)


def build_payload(
    record: Mapping[str, Any],
    reports_dir: Path,
    *,
    error: str | None = None,
    secrets: Sequence[str] = (),
) -> dict[str, Any]:
    """The notification of a finished run, from its run.json mapping (``RunRecord.to_dict()``).

    ``summary`` is the run's own page (reports/runs/<id>/index.html); ``latest`` the page the
    ``latest`` link shows, only for a run that succeeded (a failed run leaves it on an older run).
    ``error`` says why a run failed (default: the text of ``pipeline.RunFailed`` for the record).
    """
    status = str(record.get("status") or "failed")
    run_id = str(record["run_id"])
    run_dir = Path(str(record.get("run_dir") or Path(reports_dir) / "runs" / run_id))
    if status != "succeeded" and error is None:
        error = _failure_text(record, run_dir)
    failed = next(
        (nb for nb in record.get("notebooks") or [] if nb.get("status") == "failed"), None
    )
    payload = _payload(
        status=status,
        name=str(record.get("name") or run_id),
        run_id=run_id,
        headline=_headline(record),
        error=error if status != "succeeded" else None,
        started=record.get("started"),
        finished=record.get("finished"),
        reports_dir=Path(reports_dir),
        summary=run_dir / "index.html",
        extra={
            "duration_s": record.get("duration_s"),
            "analysis_date": record.get("analysis_date"),
            "failed_notebook": failed.get("stem") if failed else None,
            "host": record.get("host"),
        },
    )
    return redact_tree(payload, secrets)


def _headline(record: Mapping[str, Any]) -> str:
    """The run's headline as its pages say it; a record the page code cannot read (written by
    another version) still gets its status said, since the notification matters more."""
    from segwork.report import run_headline

    try:
        return run_headline(dict(record))
    except Exception:  # noqa: BLE001 - see the docstring
        return f"The run {record.get('status') or 'ended'}."


def _failure_text(record: Mapping[str, Any], run_dir: Path) -> str:
    """Why the run failed, as ``segwork run`` prints it (``pipeline.RunFailed``)."""
    from segwork.pipeline import RunFailed, RunRecord

    try:
        return str(RunFailed(RunRecord.from_dict(dict(record), run_dir)))
    except Exception:  # noqa: BLE001 - a record of another version: say what is known
        return f"run {record.get('run_id')} failed. See {run_dir / 'index.html'}"


def error_payload(
    name: str,
    message: str,
    reports_dir: Path,
    *,
    started: datetime,
    secrets: Sequence[str] = (),
) -> dict[str, Any]:
    """The notification of a run that could not start or stopped with an error before it had a
    record (another run holds the lock, a source file is missing, an unexpected error): status
    "failed", the message as its headline, no run id and no summary page of its own."""
    payload = _payload(
        status="failed",
        name=name,
        run_id=None,
        headline=f"The run could not run: {message}",
        error=message,
        started=started.isoformat(),
        finished=datetime.now(UTC).isoformat(),
        reports_dir=Path(reports_dir),
        summary=None,
        extra={"duration_s": None, "analysis_date": None, "failed_notebook": None, "host": None},
    )
    return redact_tree(payload, secrets)


def _payload(
    *,
    status: str,
    name: str,
    run_id: str | None,
    headline: str,
    error: str | None,
    started: Any,
    finished: Any,
    reports_dir: Path,
    summary: Path | None,
    extra: dict[str, Any],
) -> dict[str, Any]:
    latest = reports_dir / "latest" / "index.html" if status == "succeeded" else None
    page = summary or reports_dir / "index.html"
    # one line for a chat: the headline of a good run; for a failure the error itself (the
    # headline of a failed run speaks of its page's message "below")
    lead = f"run {run_id} failed"
    if error and run_id and error.startswith(lead):  # RunFailed: "run <id> failed in ...: ..."
        text = f"segwork run “{name}” failed{error[len(lead) :]}"
    else:
        text = f"segwork run “{name}” {status}: {error or headline}"
    if str(page) not in text:
        text += f" ({page})"
    return {
        "schema_version": 1,
        "event": event_of(status),
        "status": status,
        "name": name,
        "run_id": run_id,
        "headline": headline,
        "error": error,
        "started": started,
        "finished": finished,
        **extra,
        "summary": str(summary) if summary else None,
        "latest": str(latest) if latest else None,
        "reports_index": str(reports_dir / "index.html"),
        "text": text,  # one line for chat endpoints that show a "text" field (Slack, Mattermost)
        "segwork_version": segwork.__version__,
    }


def command_environment(payload: Mapping[str, Any]) -> dict[str, str]:
    """The ``SEGWORK_RUN_*`` variables a notify command gets (besides the payload on stdin)."""
    keys = {
        "SEGWORK_EVENT": "event",
        "SEGWORK_RUN_STATUS": "status",
        "SEGWORK_RUN_NAME": "name",
        "SEGWORK_RUN_ID": "run_id",
        "SEGWORK_RUN_HEADLINE": "headline",
        "SEGWORK_RUN_ERROR": "error",
        "SEGWORK_RUN_STARTED": "started",
        "SEGWORK_RUN_FINISHED": "finished",
        "SEGWORK_RUN_SUMMARY": "summary",
        "SEGWORK_RUN_LATEST": "latest",
        "SEGWORK_REPORTS_INDEX": "reports_index",
    }
    return {var: "" if payload.get(k) is None else str(payload[k]) for var, k in keys.items()}


def send(
    notify: NotifyConfig,
    payload: Mapping[str, Any],
    *,
    base_dir: Path = Path("."),
    secrets: Sequence[str] = (),
) -> list[NotifyResult]:
    """Send ``payload`` through every channel of ``notify``; never raises for a channel that
    fails (its result says why, redacted). ``base_dir`` (the config's folder) is where the
    command runs and where a relative program path resolves."""
    body = json.dumps(payload, ensure_ascii=False, default=str).encode("utf-8")
    results = []
    if notify.command is not None:
        results.append(
            _guard(
                "command",
                notify.command[0],
                lambda: _run_command(
                    notify.command or [], body, payload, notify.command_timeout_s, base_dir
                ),
                secrets,
            )
        )
    if notify.webhook is not None:
        hook = notify.webhook
        results.append(
            _guard("webhook", hook.describe(), lambda: _post_webhook(hook, body), secrets)
        )
    return results


def _guard(channel: str, target: str, attempt: Any, secrets: Sequence[str]) -> NotifyResult:
    """Run one channel's ``attempt`` (returning (ok, detail)); any error becomes its result."""
    t0 = time.perf_counter()
    try:
        ok, detail = attempt()
    except Exception as exc:  # noqa: BLE001 - a notification never stops the run's own ending
        ok, detail = False, f"{type(exc).__name__}: {exc}"
    return NotifyResult(
        channel=channel,
        target=redact(target, secrets),
        ok=ok,
        detail=redact(detail, secrets),
        duration_s=round(time.perf_counter() - t0, 3),
    )


def _program(argv0: str, base_dir: Path) -> str:
    """A program path as the config means it: relative to the config's folder if it names a
    folder (``scripts/tell``), else looked up on PATH (``tell-team``)."""
    path = Path(argv0)
    if not path.is_absolute() and len(path.parts) > 1:
        return str((base_dir / path).resolve())
    return argv0


def _run_command(
    argv: list[str],
    body: bytes,
    payload: Mapping[str, Any],
    timeout_s: float,
    base_dir: Path,
) -> tuple[bool, str]:
    """Run the command with the payload on stdin; stopped (with what it started) after
    ``timeout_s``. Not a shell: the arguments are passed as they are."""
    env = {**os.environ, **command_environment(payload)}
    try:
        proc = subprocess.Popen(
            [_program(argv[0], base_dir), *argv[1:]],
            stdin=subprocess.PIPE,
            stdout=subprocess.PIPE,
            stderr=subprocess.STDOUT,
            cwd=base_dir,
            env=env,
            start_new_session=True,  # its own process group, so a timeout stops its children too
        )
    except OSError as e:
        return False, f"cannot start {argv[0]}: {e.strerror or e}"
    try:
        out, _ = proc.communicate(body, timeout=timeout_s)
    except subprocess.TimeoutExpired:
        _kill_group(proc)
        return False, f"no end within {timeout_s:g} s (command_timeout_s); it was stopped"
    text = _tail(out.decode("utf-8", "replace"))
    if proc.returncode != 0:
        return False, f"exit code {proc.returncode}" + (f"; its output: {text}" if text else "")
    return True, "exit code 0"


def _kill_group(proc: subprocess.Popen[bytes]) -> None:
    """Stop a command that ran too long, and whatever it started, then reap it."""
    try:
        os.killpg(proc.pid, signal.SIGKILL)
    except OSError:
        proc.kill()
    try:
        proc.communicate(timeout=5)
    except subprocess.TimeoutExpired:  # a grandchild that left its group still holds the pipe
        proc.wait()


class _NoRedirect(urllib.request.HTTPRedirectHandler):
    """Redirects are not followed: the payload and its headers go to the configured address only."""

    def redirect_request(self, *args: Any, **kwargs: Any) -> None:
        return None


def _post_webhook(hook: WebhookConfig, body: bytes) -> tuple[bool, str]:
    """POST the payload as JSON; ok for a 2xx answer."""
    url = hook.resolved_url()
    if urllib.parse.urlsplit(url).scheme.lower() not in ("http", "https"):
        return False, "the address is not http:// or https://"  # the config refuses it already
    request = urllib.request.Request(  # noqa: S310 - http(s) only, checked above
        url,
        data=body,
        method="POST",
        headers={
            "Content-Type": "application/json; charset=utf-8",
            "User-Agent": f"segwork/{segwork.__version__}",
            **hook.resolved_headers(),
        },
    )
    opener = urllib.request.build_opener(_NoRedirect)
    try:
        with opener.open(request, timeout=hook.timeout_s) as answer:
            return True, f"HTTP {answer.status}"
    except urllib.error.HTTPError as e:
        said = _tail(e.read().decode("utf-8", "replace")) if e.fp is not None else ""
        where = e.headers.get("Location") if 300 <= e.code < 400 else None
        detail = f"HTTP {e.code} {e.reason}"
        if where:
            detail += f" (a redirect to {where}; redirects are not followed: set url to it)"
        return False, detail + (f": {said}" if said else "")
    except urllib.error.URLError as e:
        reason = e.reason
        if isinstance(reason, TimeoutError):
            return False, f"no answer within {hook.timeout_s:g} s (timeout_s)"
        return False, f"cannot reach the endpoint: {getattr(reason, 'strerror', None) or reason}"
    except TimeoutError:
        return False, f"no answer within {hook.timeout_s:g} s (timeout_s)"


def _tail(text: str) -> str:
    text = " ".join(text.split())
    return text if len(text) <= _TAIL else "..." + text[-_TAIL:]


def record(
    run_dir: Path | None,
    payload: Mapping[str, Any],
    results: Sequence[NotifyResult],
    secrets: Sequence[str] = (),
) -> Path | None:
    """Add this notification (payload and results) to ``<run_dir>/notifications.json``.

    Without a run folder (the run never started) nothing is written: the CLI's stderr, in the
    scheduler's log, is the record. Returns the file written, or None.
    """
    if run_dir is None or not Path(run_dir).is_dir():
        return None
    path = Path(run_dir) / NOTIFICATIONS_JSON
    try:
        earlier = json.loads(path.read_text(encoding="utf-8"))
    except (OSError, ValueError):
        earlier = []
    entry = {
        "sent_at": datetime.now(UTC).isoformat(timespec="seconds"),
        "payload": dict(payload),
        "results": [asdict(r) for r in results],
    }
    data = redact_tree([*earlier, entry] if isinstance(earlier, list) else [entry], secrets)
    return atomic_write_text(
        path, json.dumps(data, indent=2, ensure_ascii=False, default=str) + "\n"
    )
