"""Screenshots of a run's reports for the README, taken in the offline headless Chromium of the tests.

    .venv/bin/python scripts/screenshot_reports.py [reports/latest]

Writes docs/img/report-index.png (the run's index page) and docs/img/report-rfm.png (the top of
the RFM report). Refuses to write when a page had a console error, a failed request or a figure
that did not render, so the README never shows a broken page.
"""

from __future__ import annotations

import sys
from pathlib import Path

ROOT = Path(__file__).resolve().parents[1]
sys.path.insert(0, str(ROOT))

from tests.browser import chromium, load  # noqa: E402


def main(run_dir: Path) -> None:
    run_dir = run_dir.resolve()
    shots = {
        "report-index.png": run_dir / "index.html",
        "report-rfm.png": next(run_dir.glob("02_*.html")),
    }
    out = ROOT / "docs" / "img"
    out.mkdir(parents=True, exist_ok=True)
    with chromium(run_dir.parents[1], width=1200, height=900) as context:
        for name, page_path in shots.items():
            rec, page = load(context, page_path)
            if rec.problems:
                raise SystemExit(f"{page_path}: {rec.problems}")
            page.screenshot(path=str(out / name))
            print(f"{out / name}: {page_path.name}, {len(rec.images)} figures, no problems")
            page.close()


if __name__ == "__main__":
    main(Path(sys.argv[1]) if len(sys.argv) > 1 else ROOT / "reports" / "latest")
