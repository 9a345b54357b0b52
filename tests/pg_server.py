"""A throwaway PostgreSQL server for tests, started from the machine's own binaries.

``initdb`` a cluster in a temporary folder, start it on a free port of 127.0.0.1 with its socket
in that folder, password authentication (SCRAM) only. PostgreSQL refuses to run as root, so as
root the server runs as the ``postgres`` user (created by the Debian package) through ``runuser``.
``scripts/system-deps.sh`` installs the binaries; without them the tests fail (a green run must
have run them) with the command that leaves them out.
"""

from __future__ import annotations

import glob
import os
import pwd
import secrets
import shutil
import socket
import subprocess
import tempfile
from dataclasses import dataclass
from pathlib import Path

USER = "segwork"
PASSWORD_ENV = "SEGWORK_TEST_PGPASSWORD"


def bin_dir() -> Path | None:
    """The folder with initdb and pg_ctl: the newest /usr/lib/postgresql/*/bin, else PATH."""
    found = sorted(
        glob.glob("/usr/lib/postgresql/*/bin/initdb"), key=lambda p: int(Path(p).parts[-3])
    )
    if found:
        return Path(found[-1]).parent
    initdb = shutil.which("initdb")
    return Path(initdb).parent if initdb else None


def _free_port() -> int:
    with socket.socket() as s:
        s.bind(("127.0.0.1", 0))
        return s.getsockname()[1]


@dataclass
class PgServer:
    """A running server; ``url(db)`` has the password as ``${SEGWORK_TEST_PGPASSWORD}``."""

    folder: Path
    port: int
    password: str
    bin: Path
    run_as: str | None

    def url(self, database: str = "postgres") -> str:
        return f"postgresql://{USER}:${{{PASSWORD_ENV}}}@127.0.0.1:{self.port}/{database}"

    def resolved_url(self, database: str = "postgres") -> str:
        return self.url(database).replace("${" + PASSWORD_ENV + "}", self.password)

    def stop(self) -> None:
        _run(self, "pg_ctl", "stop", "-D", str(self.folder / "data"), "-m", "immediate")
        shutil.rmtree(self.folder, ignore_errors=True)


def _run(server: PgServer | None, tool: str, *args: str, bin: Path | None = None, run_as=None):
    cmd = [str((bin or server.bin) / tool), *args]
    user = run_as if server is None else server.run_as
    if user:
        cmd = ["runuser", "-u", user, "--", *cmd]
    done = subprocess.run(cmd, capture_output=True, text=True, timeout=120)
    if done.returncode != 0:
        raise RuntimeError(f"{' '.join(cmd)} failed:\n{done.stdout}\n{done.stderr}")
    return done


def start() -> PgServer:
    """initdb + pg_ctl start; raises FileNotFoundError when PostgreSQL is not installed."""
    bin = bin_dir()
    if bin is None:
        raise FileNotFoundError("PostgreSQL server binaries (initdb, pg_ctl) not found")
    run_as = "postgres" if os.geteuid() == 0 else None
    folder = Path(tempfile.mkdtemp(prefix="segwork-pg-"))
    password = secrets.token_urlsafe(18)
    (folder / "pw").write_text(password, encoding="utf-8")
    if run_as:
        info = pwd.getpwnam(run_as)
        for p in (folder, folder / "pw"):
            os.chown(p, info.pw_uid, info.pw_gid)
    data = folder / "data"
    _run(
        None,
        "initdb",
        "-D",
        str(data),
        "-U",
        USER,
        f"--pwfile={folder / 'pw'}",
        "--auth=scram-sha-256",
        "--encoding=UTF8",
        "--locale=C",
        bin=bin,
        run_as=run_as,
    )
    (folder / "pw").unlink()
    port = _free_port()
    server = PgServer(folder=folder, port=port, password=password, bin=bin, run_as=run_as)
    opts = f"-p {port} -k {folder} -c listen_addresses=127.0.0.1 -c fsync=off"
    _run(server, "pg_ctl", "start", "-D", str(data), "-w", "-l", str(folder / "log"), "-o", opts)
    return server
