"""Open report pages in the distribution's headless Chromium, offline, and record what went wrong.

Playwright drives ``/usr/bin/chromium`` (Debian's package; ``scripts/system-deps.sh`` installs
it) with a fresh profile and networking off: the context is offline and every request except
``file://`` inside the reports folder (and ``data:``) is aborted and recorded as a failure, so
a report that needs a CDN or another folder fails its test. Used by tests/test_end_to_end.py and
scripts/screenshot_reports.py.

:func:`print_layout` lays a loaded page out as it is printed (print media, the width of an A4
portrait page inside the margins of the print stylesheet) and lists what would be cut off.
"""

from __future__ import annotations

import contextlib
import tempfile
from collections.abc import Iterator
from dataclasses import dataclass, field
from pathlib import Path
from urllib.parse import unquote, urlparse

CHROMIUM = "/usr/bin/chromium"
FLAGS = [
    "--headless",
    "--no-sandbox",
    "--disable-gpu",
    "--disable-quic",
    "--no-first-run",
    "--disable-background-networking",
    "--disable-component-update",
    "--disable-sync",
]


#: Width of the printed area of an A4 portrait page in CSS pixels (96 per inch): 210 mm less the
#: 11 mm side margins of the print stylesheet (templates/segwork_report/_print.html.j2).
A4_CONTENT_WIDTH = int((210 - 2 * 11) / 25.4 * 96)  # 710
#: Height of the same area (297 mm less 12 mm top and 14 mm bottom margins).
A4_CONTENT_HEIGHT = int((297 - 12 - 14) / 25.4 * 96)  # 1024


@dataclass
class PageLoad:
    """What happened while one page loaded."""

    url: str
    console_errors: list[str] = field(default_factory=list)
    page_errors: list[str] = field(default_factory=list)
    failed_requests: list[str] = field(default_factory=list)
    blocked_requests: list[str] = field(default_factory=list)
    images: list[dict] = field(default_factory=list)  # src (shortened), complete, naturalWidth
    links: list[str] = field(default_factory=list)

    @property
    def problems(self) -> list[str]:
        return [
            *(f"console error: {m}" for m in self.console_errors),
            *(f"page error: {m}" for m in self.page_errors),
            *(f"request failed: {u}" for u in self.failed_requests),
            *(f"request blocked: {u}" for u in self.blocked_requests),
            *(
                f"image not rendered: {i['src']}"
                for i in self.images
                if not (i["complete"] and i["naturalWidth"] > 0)
            ),
        ]


def _inside(url: str, root: Path) -> bool:
    parsed = urlparse(url)
    if parsed.scheme == "data":
        return True
    if parsed.scheme != "file":
        return False
    path = Path(unquote(parsed.path)).resolve()
    return path == root or root in path.parents


@contextlib.contextmanager
def chromium(root: Path, *, width: int = 1280, height: int = 900) -> Iterator:
    """A browser context allowed to read files under ``root`` only, with a fresh profile."""
    from playwright.sync_api import sync_playwright

    root = Path(root).resolve()
    with (
        tempfile.TemporaryDirectory(prefix="segwork-chromium-") as profile,
        sync_playwright() as p,
    ):
        context = p.chromium.launch_persistent_context(
            profile,
            executable_path=CHROMIUM,
            headless=True,
            args=FLAGS,
            offline=True,
            viewport={"width": width, "height": height},
        )
        context.blocked = []  # type: ignore[attr-defined]

        def route(r) -> None:
            if _inside(r.request.url, root):
                r.continue_()
            else:
                context.blocked.append(r.request.url)  # type: ignore[attr-defined]
                r.abort()

        context.route("**/*", route)
        try:
            yield context
        finally:
            context.close()


def load(context, path: Path) -> tuple[PageLoad, object]:
    """Open ``path`` in a new page, wait for it to settle; the record and the page."""
    page = context.new_page()
    url = Path(path).resolve().as_uri()
    rec = PageLoad(url=url)
    page.on("console", lambda m: rec.console_errors.append(m.text) if m.type == "error" else None)
    page.on("pageerror", lambda e: rec.page_errors.append(str(e)))
    page.on("requestfailed", lambda r: rec.failed_requests.append(r.url[:120]))
    before = len(context.blocked)
    page.goto(url, wait_until="load")
    page.wait_for_load_state("networkidle")
    rec.blocked_requests = context.blocked[before:]
    rec.images = page.eval_on_selector_all(
        "img",
        "els => els.map(e => ({src: e.src.slice(0, 80), complete: e.complete,"
        " naturalWidth: e.naturalWidth}))",
    )
    rec.links = page.eval_on_selector_all("a[href]", "els => els.map(e => e.href)")
    return rec, page


_OVERFLOW_JS = """(width) => {
  const out = [];
  const doc = document.documentElement;
  if (doc.scrollWidth > width + 1) out.push(`the page is ${doc.scrollWidth}px wide`);
  const name = (el) => {
    const cap = el.tagName === 'TABLE' && el.tHead ? el.tHead.innerText : el.innerText || el.alt || '';
    return cap.replace(/\\s+/g, ' ').trim().slice(0, 60);
  };
  document.querySelectorAll('table, img').forEach((el) => {
    const box = el.getBoundingClientRect();
    if (box.width === 0 && box.height === 0) return;  // not shown (a collapsed section)
    const wide = Math.max(el.scrollWidth || 0, Math.ceil(box.right));
    if (wide > width + 1) out.push(`${el.tagName.toLowerCase()} '${name(el)}' is ${wide}px wide`);
  });
  return out;
}"""


def print_layout(page, width: int = A4_CONTENT_WIDTH) -> list[str]:
    """What would be cut off when ``page`` is printed on A4 portrait: the page itself, a table or
    a figure wider than the printed area (print media emulated at that width). Empty: nothing."""
    page.emulate_media(media="print")
    page.set_viewport_size({"width": width, "height": A4_CONTENT_HEIGHT})
    try:
        return page.evaluate(_OVERFLOW_JS, width)
    finally:
        page.emulate_media(media="screen")
