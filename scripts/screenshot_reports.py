"""Screenshots of a run's pages for the README, taken in the offline headless Chromium of the tests.

    .venv/bin/python scripts/screenshot_reports.py [RUN_DIR] [--pdf-report 04] [--out docs/img]

RUN_DIR defaults to reports/latest. Writes into docs/img/ (or --out):

- report-index.png: the top of the run's index page (the run summary);
- report-rfm.png: the top of the RFM report (02);
- report-pdf-page1.png: the first printed A4 page of one report (default 04, the campaign
  report; ``--pdf-report NN`` picks another), as the PDF shows it. Headless Chromium cannot draw a
  PDF, so the page is laid out the way it is printed (print media, the A4 width inside the print
  stylesheet's margins, the same layout Chromium prints to PDF) and the first page's height is
  put on a white A4 sheet with its margins.

Refuses to write when a page had a console error, a failed request or a figure that did not
render, or when something would be cut off in print, so the README never shows a broken page.
"""

from __future__ import annotations

import argparse
import sys
from pathlib import Path

ROOT = Path(__file__).resolve().parents[1]
sys.path.insert(0, str(ROOT))

from tests.browser import (  # noqa: E402
    A4_CONTENT_HEIGHT,
    A4_CONTENT_WIDTH,
    chromium,
    load,
    print_layout,
)

#: A4 at 96 CSS pixels per inch, and the print stylesheet's margins (top, right, bottom, left).
A4_PX = (round(210 / 25.4 * 96), round(297 / 25.4 * 96))
MARGINS_PX = tuple(round(mm / 25.4 * 96) for mm in (12, 11, 14, 11))


def first_print_page(page, png: Path) -> None:
    """The first A4 page of ``page`` as printed, on a white sheet with margins, to ``png``."""
    from PIL import Image, ImageOps

    problems = print_layout(page)  # leaves the width at the printed area's
    if problems:
        raise SystemExit(f"{page.url}: cut off in print: {problems}")
    page.emulate_media(media="print")
    body = png.with_suffix(".body.png")
    page.screenshot(
        path=str(body),
        clip={"x": 0, "y": 0, "width": A4_CONTENT_WIDTH, "height": A4_CONTENT_HEIGHT},
    )
    sheet = Image.new("RGB", A4_PX, "white")
    with Image.open(body) as content:
        sheet.paste(content.convert("RGB"), (MARGINS_PX[3], MARGINS_PX[0]))
    body.unlink()
    ImageOps.expand(sheet, border=1, fill="#b0b7bf").save(png)


def main(run_dir: Path, pdf_report: str = "04", out: Path = ROOT / "docs" / "img") -> None:
    run_dir = run_dir.resolve()
    shots = {
        "report-index.png": run_dir / "index.html",
        "report-rfm.png": next(run_dir.glob("02_*.html")),
    }
    printed = next(run_dir.glob(f"{pdf_report}_*.html"), None)
    if printed is None:
        raise SystemExit(f"{run_dir} has no report {pdf_report}_*.html")
    out.mkdir(parents=True, exist_ok=True)
    with chromium(run_dir.parents[1], width=1200, height=900) as context:
        for name, page_path in shots.items():
            rec, page = load(context, page_path)
            if rec.problems:
                raise SystemExit(f"{page_path}: {rec.problems}")
            page.screenshot(path=str(out / name))
            print(f"{out / name}: {page_path.name}, {len(rec.images)} figures, no problems")
            page.close()
        rec, page = load(context, printed)
        if rec.problems:
            raise SystemExit(f"{printed}: {rec.problems}")
        first_print_page(page, out / "report-pdf-page1.png")
        print(f"{out / 'report-pdf-page1.png'}: first A4 page of {printed.name} as printed")
        page.close()


if __name__ == "__main__":
    parser = argparse.ArgumentParser(description=__doc__.split("\n")[0])
    parser.add_argument("run_dir", nargs="?", type=Path, default=ROOT / "reports" / "latest")
    parser.add_argument("--pdf-report", default="04", help="number of the report to print (NN)")
    parser.add_argument("--out", type=Path, default=ROOT / "docs" / "img", help="folder to write")
    args = parser.parse_args()
    main(args.run_dir, args.pdf_report, args.out)
