"""Side environments for test oracles whose pins clash with the project's venv.

gbstats 0.8.0 (GrowthBook's statistics) pins numpy<2 and pandas<2, so it cannot be installed
next to segwork. ``oracle_python(name)`` builds ``tests/oracles/<name>/requirements.txt`` into
``<repo>/.venv-oracles/<name>-<key>/`` once per machine (``key`` hashes the pins and the Python
that builds it, so a changed pin builds a new environment), under a file lock so that two
pytest-xdist workers never build it at the same time. ``run_oracle(name, payload)`` sends JSON
to ``tests/oracles/<name>/run.py`` in that environment and returns its JSON answer.

A build that fails (no network, a pin without a wheel) or runs past ``BUILD_TIMEOUT_S`` raises
``OracleEnvError`` with the command and the end of its output: tests turn it into a failure,
never a skip, so a green run has compared against the oracle. ``SEGWORK_ORACLE_DIR`` moves the
cache. The cache folder ignores itself in git (a ``.gitignore`` of ``*``, as pytest's cache does).
"""

from __future__ import annotations

import fcntl
import hashlib
import json
import os
import shutil
import signal
import subprocess
import sys
import time
from pathlib import Path
from typing import Any

ROOT = Path(__file__).resolve().parents[1]
ORACLES = Path(__file__).resolve().parent / "oracles"
BUILD_TIMEOUT_S = 900.0
"""Whole build (venv + pip install) limit; a cold gbstats build takes well under a minute."""
RUN_TIMEOUT_S = 300.0


class OracleEnvError(RuntimeError):
    """The oracle's side environment could not be built, or its script failed."""


def cache_dir() -> Path:
    return Path(os.environ.get("SEGWORK_ORACLE_DIR", ROOT / ".venv-oracles"))


def env_key(requirements: Path) -> str:
    """Hash of the pins and of the interpreter that builds the venv (venvs are not portable)."""
    digest = hashlib.sha256(requirements.read_bytes())
    digest.update(f"{sys.version}\0{sys.base_prefix}".encode())
    return digest.hexdigest()[:12]


def _tail(text: str | bytes | None, lines: int = 30) -> str:
    if isinstance(text, bytes):
        text = text.decode(errors="replace")
    return "\n".join((text or "").splitlines()[-lines:])


def _run_step(cmd: list[str], deadline: float, what: str) -> None:
    remaining = deadline - time.monotonic()
    if remaining <= 0:
        raise OracleEnvError(f"{what}: out of time (build limit {BUILD_TIMEOUT_S:.0f} s)")
    # Own process group: on timeout the whole step stops (ensurepip and pip start children).
    proc = subprocess.Popen(
        cmd, stdout=subprocess.PIPE, stderr=subprocess.PIPE, text=True, start_new_session=True
    )
    try:
        out, err = proc.communicate(timeout=remaining)
    except subprocess.TimeoutExpired:
        os.killpg(proc.pid, signal.SIGKILL)
        out, err = proc.communicate()
        raise OracleEnvError(
            f"{what}: timed out (build limit {BUILD_TIMEOUT_S:.0f} s)\n"
            f"  command: {' '.join(cmd)}\n{_tail(out)}\n{_tail(err)}"
        ) from None
    if proc.returncode != 0:
        raise OracleEnvError(
            f"{what}: exit code {proc.returncode}\n  command: {' '.join(cmd)}\n"
            f"{_tail(out)}\n{_tail(err)}"
        )


def _build(target: Path, requirements: Path) -> None:
    deadline = time.monotonic() + BUILD_TIMEOUT_S
    shutil.rmtree(target, ignore_errors=True)  # a half-built env from an interrupted run
    _run_step([sys.executable, "-m", "venv", str(target)], deadline, "creating the venv")
    python = str(target / "bin" / "python")
    pip = [python, "-m", "pip", "--disable-pip-version-check", "--no-input"]
    _run_step(
        [*pip, "install", "--quiet", "--no-deps", "-r", str(requirements)],
        deadline,
        f"pip install -r {requirements.relative_to(ROOT)} (needs network to the package index)",
    )
    _run_step([*pip, "check"], deadline, "pip check of the side environment")


def oracle_python(name: str) -> Path:
    """Python of the oracle ``name``'s side environment, built on first use (see module doc)."""
    requirements = ORACLES / name / "requirements.txt"
    cache = cache_dir()
    cache.mkdir(parents=True, exist_ok=True)
    if not (cache / ".gitignore").exists():
        (cache / ".gitignore").write_text("# created by tests/oracle_env.py\n*\n")
    target = cache / f"{name}-{env_key(requirements)}"
    ready = target / ".ready"
    with open(cache / f"{name}.lock", "w") as lock:
        fcntl.flock(lock, fcntl.LOCK_EX)  # the first worker builds; the others wait, then reuse
        if not ready.exists():
            started = time.monotonic()
            try:
                _build(target, requirements)
            except OracleEnvError as exc:
                raise OracleEnvError(
                    f"could not build the {name!r} oracle environment in {target}: {exc}"
                ) from None
            for stale in cache.glob(f"{name}-*"):
                if stale != target and stale.is_dir():
                    shutil.rmtree(stale, ignore_errors=True)
            ready.write_text(f"built in {time.monotonic() - started:.1f} s\n")
    return target / "bin" / "python"


def run_oracle(name: str, payload: Any) -> Any:
    """Send ``payload`` as JSON to ``tests/oracles/<name>/run.py`` in its side environment."""
    python = oracle_python(name)
    script = ORACLES / name / "run.py"
    # -I: the side venv only, no PYTHONPATH, user site or the project's folders on sys.path.
    cmd = [str(python), "-I", str(script)]
    try:
        proc = subprocess.run(
            cmd, input=json.dumps(payload), capture_output=True, text=True, timeout=RUN_TIMEOUT_S
        )
    except subprocess.TimeoutExpired as exc:
        raise OracleEnvError(f"{script.name} timed out after {RUN_TIMEOUT_S:.0f} s") from exc
    if proc.returncode != 0:
        raise OracleEnvError(
            f"{' '.join(cmd)} exited with {proc.returncode}:\n{_tail(proc.stderr)}"
        )
    return json.loads(proc.stdout)
