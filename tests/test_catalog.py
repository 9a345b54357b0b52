"""The catalog: every dataset declared once, read and written only through it."""

from __future__ import annotations

import json
from pathlib import Path

import pandas as pd
import pytest

from segwork.catalog import DATASETS, Catalog, CatalogError, dataset


def test_every_dataset_has_a_unique_place_and_a_known_format() -> None:
    places = [(d.scope, d.place) for d in DATASETS.values()]
    assert len(places) == len(set(places))
    assert {d.format for d in DATASETS.values()} <= {"parquet", "json", "csv", "model", "folder"}
    for d in DATASETS.values():
        assert not Path(d.place).is_absolute() and ".." not in Path(d.place).parts
        if d.format == "model":
            assert ":" in d.loader


def test_parquet_and_json_round_trip_in_their_declared_places(tmp_path: Path) -> None:
    cat = Catalog(tmp_path / "runs" / "r1", tmp_path)
    frame = pd.DataFrame({"customer_id": ["007", "8"], "value": [1.5, None]})
    cat.save("rfm", frame)
    cat.save("clv_models", {"r": 0.24, "when": pd.Timestamp("2025-06-30")})
    assert cat.path("rfm") == tmp_path / "runs" / "r1" / "artifacts" / "rfm.parquet"
    pd.testing.assert_frame_equal(cat.load("rfm"), frame)
    assert cat.load("clv_models") == {"r": 0.24, "when": "2025-06-30T00:00:00"}
    # state kept across runs lives beside the runs, not in one run's folder
    assert cat.path("action_ledger").is_relative_to(tmp_path / "state")


def test_csv_for_people_is_neutralised(tmp_path: Path) -> None:
    cat = Catalog(tmp_path / "r")
    cat.save("ab_decisions_csv", pd.DataFrame({"note": ["=HYPERLINK(1)", "ok"], "n": [-1, 2]}))
    raw = cat.path("ab_decisions_csv").read_bytes()
    assert raw.startswith(b"\xef\xbb\xbf")  # BOM: Excel reads UTF-8
    back = cat.load("ab_decisions_csv")
    assert back["note"].tolist() == ["'=HYPERLINK(1)", "ok"]
    assert back["n"].tolist() == [-1, 2]  # a negative number is a number, not a formula


def test_unknown_names_and_wrong_types_are_refused_before_anything_is_written(
    tmp_path: Path,
) -> None:
    cat = Catalog(tmp_path / "r")
    with pytest.raises(CatalogError, match="Did you mean 'customer360'"):
        dataset("customer_360")
    with pytest.raises(CatalogError, match="takes a DataFrame, got dict"):
        cat.save("rfm", {"a": 1})
    with pytest.raises(CatalogError, match="no dataset named 'rfm_table'"):
        cat.save_all({"rfm": pd.DataFrame({"a": [1]}), "rfm_table": pd.DataFrame()})
    assert not cat.exists("rfm")  # the valid one was not written either


def test_missing_dataset_names_its_producer(tmp_path: Path) -> None:
    cat = Catalog(tmp_path / "r")
    with pytest.raises(CatalogError, match="written by notebook 02_rfm_clv"):
        cat.load("rfm")


def test_save_replaces_atomically_and_keeps_the_old_file_on_failure(tmp_path: Path) -> None:
    cat = Catalog(tmp_path / "r")
    cat.save("clv_models", {"v": 1})
    with pytest.raises(ValueError):
        cat.save("clv_models", {"v": float("nan")})  # not valid JSON: nothing replaced
    assert json.loads(cat.path("clv_models").read_text()) == {"v": 1}
    assert [p.name for p in cat.path("clv_models").parent.iterdir()] == ["clv_models.json"]
