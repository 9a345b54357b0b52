"""PDFs of local HTML pages, printed by headless Chromium (an I/O edge).

The reports and the customer lists are printed as a browser prints them, under the pages' own
print stylesheet (A4, ``@media print``), so the PDF shows what the HTML shows. Chromium is the
one already used by the browser tests (``scripts/system-deps.sh`` installs it); no Python PDF
library is needed.

Printing is offline: Chromium reads one ``file://`` page with a fresh, temporary profile, its
background services off and every host name resolving to nothing, so a page cannot reach the
network while it prints. The PDF is written under a temporary name in the target folder and then
renamed (:func:`segwork.files.atomic_write_bytes`), so a reader never sees half a file.
"""

from __future__ import annotations

import contextlib
import os
import re
import shutil
import signal
import subprocess
import tempfile
from pathlib import Path

from segwork.errors import SegworkError
from segwork.files import atomic_write_bytes

#: Environment variable naming the Chromium (or Chrome) executable to print with.
CHROMIUM_ENV = "SEGWORK_CHROMIUM"
#: Executables looked up on PATH, in order, when the variable is not set.
CHROMIUM_NAMES = ("chromium", "chromium-browser", "google-chrome")
#: Debian's place for it (``scripts/system-deps.sh``), tried last.
CHROMIUM_DEFAULT = "/usr/bin/chromium"
FIX = "install Chromium (make system-deps), or set pdf: false in the config"

_FLAGS = (
    "--headless",
    "--no-sandbox",
    "--disable-gpu",
    "--no-pdf-header-footer",
    "--no-first-run",
    "--no-default-browser-check",
    "--disable-extensions",
    "--disable-sync",
    "--disable-background-networking",
    "--disable-component-update",
    "--disable-default-apps",
    "--disable-quic",
    "--host-resolver-rules=MAP * ~NOTFOUND",  # no host name resolves: nothing leaves the machine
)
# One page object per page: "/Type /Page" not followed by a letter ("/Pages" is the page tree).
_PAGE_OBJECT = re.compile(rb"/Type\s*/Page(?![A-Za-z])")
# Chromium stamps the time of printing; its digits are replaced by a fixed time (the same length:
# the cross-reference table counts bytes) so the same page gives the same PDF.
_PDF_DATE = re.compile(rb"(/(?:CreationDate|ModDate) \(D:)\d{14}")


class PdfError(SegworkError, RuntimeError):
    """A PDF could not be printed: why, and the fix."""


def find_chromium() -> str:
    """The Chromium executable to print with: ``$SEGWORK_CHROMIUM``, else ``chromium``,
    ``chromium-browser`` or ``google-chrome`` on PATH, else ``/usr/bin/chromium``.

    Raises :class:`PdfError` naming the fix when none is there.
    """
    named = os.environ.get(CHROMIUM_ENV, "").strip()
    if named:
        found = shutil.which(named)
        if found is None:
            raise PdfError(
                f"{CHROMIUM_ENV}={named!r} is not an executable file. Fix: point it at "
                f"Chromium or Chrome, unset it, or set pdf: false in the config"
            )
        return found
    for name in CHROMIUM_NAMES:
        found = shutil.which(name)
        if found:
            return found
    if os.access(CHROMIUM_DEFAULT, os.X_OK):
        return CHROMIUM_DEFAULT
    raise PdfError(
        f"Chromium is needed to write PDFs and was not found ({', '.join(CHROMIUM_NAMES)} "
        f"on PATH, {CHROMIUM_DEFAULT}, or ${CHROMIUM_ENV}). Fix: {FIX}"
    )


def page_count(pdf: bytes) -> int:
    """Pages of a PDF as Chromium writes it: its page objects (``/Type /Page``)."""
    return len(_PAGE_OBJECT.findall(pdf))


def _fixed_dates(pdf: bytes) -> bytes:
    return _PDF_DATE.sub(rb"\g<1>20000101000000", pdf)


def _stop(proc: subprocess.Popen[bytes]) -> None:
    """Kill the browser started for one print, with every process of its session."""
    with contextlib.suppress(ProcessLookupError):
        os.killpg(proc.pid, signal.SIGKILL)
    proc.communicate()


def write_pdf(
    html_path: str | os.PathLike[str],
    pdf_path: str | os.PathLike[str],
    *,
    timeout_s: float = 120,
) -> int:
    """Print the local page ``html_path`` to ``pdf_path`` with headless Chromium; its page count.

    The page's print stylesheet decides the paper (segwork's pages ask for A4). Written
    atomically; the same page gives the same bytes (the print time is not recorded). Raises
    :class:`PdfError` when Chromium is missing, fails, takes longer than ``timeout_s`` seconds
    or writes no PDF.
    """
    html_path = Path(html_path).resolve()
    if not html_path.is_file():
        raise PdfError(f"cannot print {html_path}: no such file")
    chromium = find_chromium()
    with tempfile.TemporaryDirectory(prefix="segwork-pdf-") as scratch:
        out = Path(scratch) / "page.pdf"
        cmd = [
            chromium,
            *_FLAGS,
            f"--user-data-dir={Path(scratch) / 'profile'}",
            f"--print-to-pdf={out}",
            html_path.as_uri(),
        ]
        # a session of its own: on a timeout the whole browser (its renderer and helper
        # processes too) is stopped, not only the launcher
        try:
            proc = subprocess.Popen(
                cmd,
                stdin=subprocess.DEVNULL,
                stdout=subprocess.PIPE,
                stderr=subprocess.PIPE,
                start_new_session=True,
            )
        except OSError as exc:
            raise PdfError(f"could not start {chromium}: {exc}. Fix: {FIX}") from exc
        try:
            _, stderr = proc.communicate(timeout=timeout_s)
        except subprocess.TimeoutExpired as exc:
            _stop(proc)
            raise PdfError(
                f"printing {html_path.name} to PDF took longer than {timeout_s:g} s and was "
                "stopped. Fix: raise the timeout, or set pdf: false in the config"
            ) from exc
        data = out.read_bytes() if out.is_file() else b""
    if proc.returncode != 0 or not data.startswith(b"%PDF"):
        tail = stderr.decode("utf-8", "replace").strip().splitlines()[-5:]
        raise PdfError(
            f"Chromium did not print {html_path.name} to PDF (exit code {proc.returncode}): "
            f"{' | '.join(tail) or 'no message'}. Fix: {FIX}"
        )
    atomic_write_bytes(pdf_path, _fixed_dates(data))
    return page_count(data)
