"""segwork.notify and `segwork run`'s notifications: a scheduled run that fails tells someone.

The end-to-end tests run `segwork run` on a tiny project whose one notebook does not apply (it
needs campaign exposures), so no kernel starts: a source that does not validate gives a failed
run, a valid one a succeeded run, in a second or two.
"""

from __future__ import annotations

import json
import os
import signal
import socket
import sys
import threading
from collections.abc import Iterator
from datetime import UTC, datetime
from http.server import BaseHTTPRequestHandler, ThreadingHTTPServer
from pathlib import Path
from typing import Any

import nbformat
import pandas as pd
import pytest
import yaml
from nbformat.v4 import new_code_cell, new_markdown_cell, new_notebook
from typer.testing import CliRunner

from segwork import notify
from segwork.cli import app
from segwork.config import NotifyConfig, parse_config

SECRET = "s3cr3t-T0ken-xyz"

# A notify command: writes the payload it got on stdin and its SEGWORK_* variables to a file.
RECORDER = """\
import json, os, sys
payload = json.load(sys.stdin)
env = {k: v for k, v in os.environ.items() if k.startswith("SEGWORK_")}
with open(sys.argv[1], "a", encoding="utf-8") as f:
    f.write(json.dumps({"payload": payload, "env": env, "argv": sys.argv[2:]}) + "\\n")
"""


def _calls(path: Path) -> list[dict[str, Any]]:
    if not path.exists():
        return []
    return [json.loads(line) for line in path.read_text(encoding="utf-8").splitlines()]


# ---- a local webhook endpoint ------------------------------------------------------------------


class _Hook(BaseHTTPRequestHandler):
    received: list[dict[str, Any]]
    answer: int = 200
    delay: float = 0.0

    def do_POST(self) -> None:  # noqa: N802 - http.server's name
        length = int(self.headers.get("Content-Length", 0))
        body = self.rfile.read(length)
        self.server.received.append(  # type: ignore[attr-defined]
            {"path": self.path, "headers": dict(self.headers), "json": json.loads(body)}
        )
        if self.server.delay:  # type: ignore[attr-defined]
            self.server.release.wait(self.server.delay)  # type: ignore[attr-defined]
        code = self.server.answer  # type: ignore[attr-defined]
        text = f"refused, your header was {self.headers.get('Authorization')}".encode()
        self.send_response(code)
        if 300 <= code < 400:
            self.send_header("Location", "http://127.0.0.1:9/elsewhere")
        self.send_header("Content-Length", str(len(text)))
        self.end_headers()
        self.wfile.write(text)

    def log_message(self, *args: Any) -> None:
        pass


@pytest.fixture
def hook() -> Iterator[ThreadingHTTPServer]:
    server = ThreadingHTTPServer(("127.0.0.1", 0), _Hook)
    server.received, server.answer, server.delay = [], 200, 0.0  # type: ignore[attr-defined]
    server.release = threading.Event()  # type: ignore[attr-defined]
    thread = threading.Thread(target=server.serve_forever, daemon=True)
    thread.start()
    yield server
    server.release.set()  # type: ignore[attr-defined]
    server.shutdown()
    server.server_close()


def _url(server: ThreadingHTTPServer, path: str = "/hook") -> str:
    return f"http://127.0.0.1:{server.server_address[1]}{path}"


def _free_port() -> int:
    with socket.socket() as s:
        s.bind(("127.0.0.1", 0))
        return s.getsockname()[1]


# ---- a tiny project whose run needs no kernel ---------------------------------------------------


def _project(root: Path, *, valid: bool, notify_cfg: dict[str, Any] | None) -> Path:
    nbdir = root / "notebooks"
    nbdir.mkdir()
    params = new_code_cell('config_path = ""\nrun_dir = ""')
    params.metadata["tags"] = ["parameters"]
    nb = new_notebook(cells=[new_markdown_cell("# Campaigns"), params, new_code_cell("1")])
    nb.metadata["kernelspec"] = {
        "name": "python3",
        "display_name": "Python 3",
        "language": "python",
    }
    nb.metadata["segwork"] = {"requires": {"tables": ["campaign_exposures"]}}
    nbformat.write(nb, nbdir / "01_campaigns.ipynb")
    orders = {
        "order_id": ["o1", "o2"],
        "customer_id": ["c1", "c2"],
        "order_date": ["2025-01-05", "2025-02-10"],
    }
    if valid:
        orders["amount"] = [10.0, 20.0]
    pd.DataFrame(orders).to_csv(root / "orders.csv", index=False)
    (root / "record.py").write_text(RECORDER, encoding="utf-8")
    cfg: dict[str, Any] = {
        "name": "Nightly CRM",
        "analysis_date": "2025-06-30",
        "sources": {"orders": {"path": "orders.csv"}},
    }
    if notify_cfg is not None:
        cfg["notify"] = notify_cfg
    path = root / "config.yaml"
    path.write_text(yaml.safe_dump(cfg), encoding="utf-8")
    return path


def _recorder(root: Path) -> list[str]:
    return [sys.executable, "record.py", str(root / "calls.jsonl"), "--channel", "crm"]


def _run(config: Path) -> Any:
    return CliRunner().invoke(app, ["run", "--config", str(config)])


def _run_dirs(root: Path) -> list[Path]:
    return [p for p in (root / "reports" / "runs").iterdir() if p.is_dir()]


def _notifications(root: Path) -> list[dict[str, Any]]:
    (run_dir,) = _run_dirs(root)
    return json.loads((run_dir / "notifications.json").read_text(encoding="utf-8"))


# ---- end to end: segwork run ---------------------------------------------------------------------


def test_failed_run_runs_the_command_with_the_payload(tmp_path: Path) -> None:
    config = _project(tmp_path, valid=False, notify_cfg={"command": _recorder(tmp_path)})
    result = _run(config)
    assert result.exit_code == 1, result.output
    (call,) = _calls(tmp_path / "calls.jsonl")
    payload, env = call["payload"], call["env"]
    (run_dir,) = _run_dirs(tmp_path)
    assert payload["status"] == "failed" and payload["event"] == "failure"
    assert payload["run_id"] == run_dir.name and payload["name"] == "Nightly CRM"
    assert payload["summary"] == str(run_dir / "index.html")
    assert payload["latest"] is None  # a failed run does not move latest
    assert "amount" in payload["error"] and "validating the sources" in payload["error"]
    assert payload["headline"] and "did not pass validation" in payload["headline"]
    assert payload["text"].startswith("segwork run “Nightly CRM” failed validating the sources")
    assert datetime.fromisoformat(payload["started"]) <= datetime.fromisoformat(payload["finished"])
    assert call["argv"] == ["--channel", "crm"]  # the list is passed as it is
    assert env["SEGWORK_RUN_STATUS"] == "failed" and env["SEGWORK_RUN_ID"] == run_dir.name
    assert env["SEGWORK_RUN_SUMMARY"] == str(run_dir / "index.html")
    assert env["SEGWORK_RUN_HEADLINE"] == payload["headline"]
    (entry,) = _notifications(tmp_path)
    assert entry["payload"] == payload
    assert entry["results"][0]["ok"] is True and entry["results"][0]["channel"] == "command"
    assert "notification sent: command" in result.stderr


def test_success_is_notified_only_when_asked(tmp_path: Path) -> None:
    quiet = tmp_path / "quiet"
    quiet.mkdir()
    config = _project(quiet, valid=True, notify_cfg={"command": _recorder(quiet)})
    result = _run(config)
    assert result.exit_code == 0, result.output
    assert _calls(quiet / "calls.jsonl") == []  # on: [failure] (the default) is not told
    (run_dir,) = _run_dirs(quiet)
    assert not (run_dir / "notifications.json").exists()

    loud = tmp_path / "loud"
    loud.mkdir()
    notify_cfg = {"on": ["failure", "success"], "command": _recorder(loud)}
    result = _run(_project(loud, valid=True, notify_cfg=notify_cfg))
    assert result.exit_code == 0, result.output
    (call,) = _calls(loud / "calls.jsonl")
    assert call["payload"]["status"] == "succeeded" and call["payload"]["error"] is None
    assert call["payload"]["latest"] == str(loud / "reports" / "latest" / "index.html")
    assert Path(call["payload"]["latest"]).is_file()


def test_yaml_on_key_written_bare_is_understood(tmp_path: Path) -> None:
    # `on:` unquoted is the boolean true in YAML 1.1; the config must still mean the word
    config = _project(tmp_path, valid=True, notify_cfg=None)
    text = config.read_text(encoding="utf-8") + (
        "notify:\n  on: [failure, success]\n"
        f"  command: [{sys.executable}, record.py, {tmp_path / 'calls.jsonl'}]\n"
    )
    config.write_text(text, encoding="utf-8")
    result = _run(config)
    assert result.exit_code == 0, result.output
    assert [c["payload"]["status"] for c in _calls(tmp_path / "calls.jsonl")] == ["succeeded"]


@pytest.mark.parametrize("failure", ["exit 1", "connection refused", "timeout"])
def test_a_failing_notification_is_recorded_and_does_not_change_the_exit_code(
    tmp_path: Path, failure: str, hook: ThreadingHTTPServer
) -> None:
    if failure == "exit 1":
        cfg = {
            "command": [sys.executable, "-c", "import sys; print('no channel crm'); sys.exit(1)"]
        }
        expected = "exit code 1; its output: no channel crm"
    elif failure == "connection refused":
        cfg = {"webhook": {"url": f"http://127.0.0.1:{_free_port()}/hook"}}
        expected = "cannot reach the endpoint"
    else:
        hook.delay = 30  # type: ignore[attr-defined]  (released when the test ends)
        cfg = {"webhook": {"url": _url(hook), "timeout_s": 0.5}}
        expected = "no answer within 0.5 s"
    result = _run(_project(tmp_path, valid=False, notify_cfg=cfg))
    assert result.exit_code == 1  # the run's own status: failed, as without notify
    assert f"notification FAILED: {next(iter(cfg))}" in result.stderr
    assert expected in result.stderr
    (entry,) = _notifications(tmp_path)
    (res,) = entry["results"]
    assert res["ok"] is False and expected in res["detail"]
    assert (tmp_path / "reports" / "runs").is_dir() and not (
        tmp_path / "reports" / "latest"
    ).exists()


def test_webhook_gets_the_json_and_the_headers_and_secrets_stay_out(
    tmp_path: Path, hook: ThreadingHTTPServer, monkeypatch: pytest.MonkeyPatch
) -> None:
    monkeypatch.setenv("HOOK_TOKEN", SECRET)
    monkeypatch.setenv("HOOK_PATH_KEY", "pathpart-9f8e7d")
    hook.answer = 500  # type: ignore[attr-defined]  (and the answer repeats the header)
    cfg = {
        "webhook": {
            "url": _url(hook, "/hook/${HOOK_PATH_KEY}"),
            "headers": {"Authorization": "Bearer ${HOOK_TOKEN}", "X-Team": "crm"},
        },
        "command": _recorder(tmp_path),
    }
    result = _run(_project(tmp_path, valid=False, notify_cfg=cfg))
    assert result.exit_code == 1
    (got,) = hook.received  # type: ignore[attr-defined]
    assert got["path"] == "/hook/pathpart-9f8e7d"
    assert got["headers"]["Authorization"] == f"Bearer {SECRET}"
    assert got["headers"]["X-Team"] == "crm"
    assert got["headers"]["Content-Type"].startswith("application/json")
    assert got["json"]["status"] == "failed" and got["json"]["run_id"]
    (call,) = _calls(tmp_path / "calls.jsonl")
    assert got["json"] == call["payload"]  # one payload for every channel
    # the endpoint's answer repeated the token: the message says the status, never the token
    assert "notification FAILED: webhook" in result.stderr and "HTTP 500" in result.stderr
    assert "refused, your header was Bearer ***" in result.stderr
    (run_dir,) = _run_dirs(tmp_path)
    written = (run_dir / "notifications.json").read_text(encoding="utf-8")
    for text in (written, result.output, result.stderr, json.dumps(got["json"])):
        assert SECRET not in text and "pathpart-9f8e7d" not in text
    assert "/hook/${HOOK_PATH_KEY}" in written  # the address as written


def test_a_run_that_cannot_start_is_notified_with_its_message(tmp_path: Path) -> None:
    config = _project(tmp_path, valid=True, notify_cfg={"command": _recorder(tmp_path)})
    reports = tmp_path / "reports"
    reports.mkdir()
    holder = {"pid": 1, "host": "elsewhere", "started": "2026-11-30T02:00:00+00:00", "run_id": "r0"}
    (reports / ".lock").write_text(json.dumps(holder), encoding="utf-8")
    result = _run(config)
    assert result.exit_code == 2
    assert "another segwork run is using the reports folder" in result.stderr
    (call,) = _calls(tmp_path / "calls.jsonl")
    payload = call["payload"]
    assert payload["status"] == "failed" and payload["run_id"] is None
    assert "another segwork run" in payload["error"] and "host elsewhere" in payload["headline"]
    assert payload["summary"] is None and payload["reports_index"] == str(reports / "index.html")
    assert call["env"]["SEGWORK_RUN_ID"] == ""
    # a missing source file (the nightly export did not arrive) is told too
    (tmp_path / "orders.csv").unlink()
    (reports / ".lock").unlink()
    result = _run(config)
    assert result.exit_code == 2
    assert "file not found" in _calls(tmp_path / "calls.jsonl")[-1]["payload"]["error"]


def test_a_config_that_does_not_load_notifies_nobody(tmp_path: Path) -> None:
    config = _project(tmp_path, valid=False, notify_cfg={"command": _recorder(tmp_path)})
    config.write_text(config.read_text(encoding="utf-8") + "colour: red\n", encoding="utf-8")
    result = _run(config)
    assert result.exit_code == 2 and "colour: unknown key" in result.stderr
    assert _calls(tmp_path / "calls.jsonl") == []


# ---- the module's parts ---------------------------------------------------------------------------


def _notify(data: dict[str, Any]) -> NotifyConfig:
    cfg = parse_config(
        {"analysis_date": "2025-06-30", "sources": {"orders": {"path": "x.csv"}}, "notify": data},
        base_dir=Path("."),
        check_files=False,
    )
    assert cfg.notify is not None
    return cfg.notify


def test_wants_follows_on() -> None:
    only_failure = _notify({"command": ["true"]})
    assert notify.wants(only_failure, "failed") and not notify.wants(only_failure, "succeeded")
    both = _notify({"command": ["true"], "on": ["failure", "success"]})
    assert notify.wants(both, "succeeded") and notify.wants(both, "failed")
    assert not notify.wants(None, "failed")


def test_payload_is_redacted_by_value(tmp_path: Path) -> None:
    record = {
        "run_id": "r1",
        "name": f"run with {SECRET}",
        "status": "failed",
        "started": "2026-11-30T02:00:00+00:00",
        "finished": "2026-11-30T02:01:00+00:00",
        "run_dir": str(tmp_path / "runs" / "r1"),
        "notebooks": [
            {
                "stem": "01_x",
                "title": "X",
                "status": "failed",
                "error": {"ename": "ValueError", "evalue": f"password {SECRET} refused"},
            }
        ],
    }
    payload = notify.build_payload(record, tmp_path, secrets=[SECRET])
    assert SECRET not in json.dumps(payload)
    assert "password *** refused" in payload["error"] and payload["failed_notebook"] == "01_x"


def test_command_that_does_not_exist_or_hangs_is_a_result_not_an_error(tmp_path: Path) -> None:
    payload = notify.error_payload("n", "m", tmp_path, started=datetime.now(UTC))
    (missing,) = notify.send(_notify({"command": ["/no/such/tell-team"]}), payload)
    assert not missing.ok and "cannot start /no/such/tell-team" in missing.detail
    hang = _notify({"command": ["sleep", "30"], "command_timeout_s": 0.3})
    (slow,) = notify.send(hang, payload)
    assert not slow.ok and "no end within 0.3 s" in slow.detail


def test_redirects_are_not_followed(tmp_path: Path, hook: ThreadingHTTPServer) -> None:
    hook.answer = 302  # type: ignore[attr-defined]
    payload = notify.error_payload("n", "m", tmp_path, started=datetime.now(UTC))
    (res,) = notify.send(_notify({"webhook": {"url": _url(hook)}}), payload)
    assert not res.ok and "HTTP 302" in res.detail and "redirects are not followed" in res.detail
    assert len(hook.received) == 1  # type: ignore[attr-defined]


def test_sigterm_ends_the_run_as_failed_and_is_notified(
    tmp_path: Path, monkeypatch: pytest.MonkeyPatch
) -> None:
    """systemd stops a service with SIGTERM: the run ends as Ctrl-C ends it (recorded as failed,
    lock released: the pipeline's own handlers), exits 143 and tells notify:."""
    from segwork import pipeline

    def terminated_run(*args: Any, **kwargs: Any) -> None:
        os.kill(os.getpid(), signal.SIGTERM)
        raise AssertionError("SIGTERM did not stop the run")

    monkeypatch.setattr(pipeline, "run", terminated_run)
    before = signal.getsignal(signal.SIGTERM)
    config = _project(tmp_path, valid=True, notify_cfg={"command": _recorder(tmp_path)})
    result = _run(config)
    assert result.exit_code == 143
    assert "stopped by SIGTERM" in result.stderr
    (call,) = _calls(tmp_path / "calls.jsonl")
    assert call["payload"]["status"] == "failed" and "SIGTERM" in call["payload"]["error"]
    assert signal.getsignal(signal.SIGTERM) == before  # the handler is the run's only


def test_a_record_of_another_version_still_gives_a_payload(tmp_path: Path) -> None:
    record = {
        "run_id": "r2",
        "status": "failed",
        "run_dir": str(tmp_path / "runs" / "r2"),
        "notebooks": [{"stem": "01_x", "status": "failed", "from_the_future": 1}],
    }
    payload = notify.build_payload(record, tmp_path)
    assert payload["status"] == "failed" and payload["failed_notebook"] == "01_x"
    assert payload["error"] == f"run r2 failed. See {tmp_path / 'runs' / 'r2' / 'index.html'}"
    assert payload["headline"]


def test_an_unexpected_error_is_notified_and_keeps_status_1(
    tmp_path: Path, monkeypatch: pytest.MonkeyPatch
) -> None:
    from segwork import pipeline

    def broken_run(*args: Any, **kwargs: Any) -> None:
        raise RuntimeError("disk on fire")

    monkeypatch.setattr(pipeline, "run", broken_run)
    config = _project(tmp_path, valid=True, notify_cfg={"command": _recorder(tmp_path)})
    result = _run(config)
    assert result.exit_code == 1 and "unexpected error" in result.stderr
    (call,) = _calls(tmp_path / "calls.jsonl")
    assert "RuntimeError: disk on fire" in call["payload"]["error"]
