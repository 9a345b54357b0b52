"""Shared fixtures: a tiny CRM written to files, and a config pointing at it."""

from __future__ import annotations

from pathlib import Path

import pandas as pd
import pytest
import yaml


@pytest.fixture
def tiny_crm(tmp_path: Path) -> Path:
    """A small, valid CRM export in tmp_path: customers.csv, orders.csv, interactions.csv."""
    pd.DataFrame(
        {
            "customer_id": ["001", "002", "003", "004"],
            "region": ["Jihomoravský kraj", "Hlavní město Praha", None, "Zlínský kraj"],
            "birth_date": ["1980-05-01", "1999-12-31", None, "1950-01-01"],
            "employees": [None, None, 30, 400],
            "email_opt_in": ["true", "false", "yes", "1"],
        }
    ).to_csv(tmp_path / "customers.csv", index=False)
    pd.DataFrame(
        {
            "order_id": ["A1", "A2", "A3", "A4", "A5", "A6"],
            "customer_id": ["001", "001", "002", "003", "001", "002"],
            "order_date": [
                "2025-01-10",
                "2025-06-01",
                "2025-06-20",
                "2024-01-01",
                "2025-06-05",
                "2025-07-15",
            ],
            "amount": [100.0, 250.5, 80.0, 1000.0, -50.0, 10.0],
        }
    ).to_csv(tmp_path / "orders.csv", index=False)
    pd.DataFrame(
        {
            "customer_id": ["001", "001", "002", "003"],
            "occurred_at": ["2025-05-01", "2025-06-01", "2025-06-02", "2023-01-01"],
            "kind": ["complaint", "email_open", "service_contract", "email_open"],
        }
    ).to_csv(tmp_path / "interactions.csv", index=False)
    return tmp_path


def write_config(folder: Path, sources: dict, **extra) -> Path:
    """Write a run config for ``sources`` into ``folder``; return its path."""
    cfg = {"analysis_date": "2025-06-30", "sources": sources, **extra}
    path = folder / "config.yaml"
    path.write_text(yaml.safe_dump(cfg, allow_unicode=True), encoding="utf-8")
    return path


@pytest.fixture
def tiny_config(tiny_crm: Path) -> Path:
    return write_config(
        tiny_crm,
        {
            "customers": {"path": "customers.csv"},
            "orders": {"path": "orders.csv"},
            "interactions": {"path": "interactions.csv"},
        },
    )
