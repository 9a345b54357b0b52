"""Persona model files: skops (never pickle) plus a sidecar JSON with the file's sha256 (I/O).

:func:`save` writes a fitted :class:`~segwork.personas.estimator.PersonaModel`; :func:`load`
reads it back, refusing a file that was changed, has no sidecar or holds unexpected types;
:func:`assign_file` places the respondents of a CSV/Parquet file into the saved personas.
"""

from __future__ import annotations

import io
import json
from pathlib import Path

import pandas as pd

from segwork.errors import SegworkError
from segwork.files import atomic_write_bytes, file_sha256
from segwork.personas.clusterer import ClusteringError
from segwork.personas.estimator import MODEL_FORMAT, PersonaModel


class ModelFileError(SegworkError, ValueError):
    """A saved persona model that is missing, tampered with or incompatible with the input."""


def _sidecar(path: Path) -> Path:
    return path.with_name(path.name + ".json")


def save(model: PersonaModel, path: str | Path) -> Path:
    """Write a fitted model with skops (no pickle) and a sidecar ``<path>.json`` with its sha256."""
    import skops.io as sio

    path = Path(path)
    path.parent.mkdir(parents=True, exist_ok=True)
    payload = {
        "format": MODEL_FORMAT,
        "pipeline": model.pipeline,
        "meta": json.dumps(model.meta, sort_keys=True),
    }
    sio.dump(payload, path)
    sidecar = {
        "format": MODEL_FORMAT,
        "model_file": path.name,
        "sha256": file_sha256(path),
        "meta": model.meta,
    }
    text = json.dumps(sidecar, indent=2, sort_keys=True, ensure_ascii=False)
    atomic_write_bytes(_sidecar(path), text.encode("utf-8"))
    return path


# Every type a saved persona model may contain. Anything else in a file is refused: skops then
# never constructs it. (Checked against skops.io.get_untrusted_types of saved models in the tests.)
TRUSTED_TYPES: list[str] = [
    "builtins.dict",
    "builtins.list",
    "builtins.tuple",
    "builtins.str",
    "builtins.slice",
    "numpy.ndarray",
    "numpy.dtype",
    "numpy.float64",
    "numpy.int64",
    "sklearn.pipeline.Pipeline",
    "sklearn.compose._column_transformer.ColumnTransformer",
    "sklearn.preprocessing._data.StandardScaler",
    "sklearn.preprocessing._data.PowerTransformer",
    "sklearn.preprocessing._encoders.OneHotEncoder",
    "sklearn.impute._base.SimpleImputer",
    "sklearn.decomposition._factor_analysis.FactorAnalysis",
    "sklearn.cluster._kmeans.KMeans",
    "sklearn.mixture._gaussian_mixture.GaussianMixture",
    "segwork.personas.clusterer.PersonaClusterer",
    "segwork.clusters.PersonaClusterer",  # model files saved before the personas package
]


def load(path: str | Path) -> PersonaModel:
    """Load a persona model saved by :func:`save`, refusing anything suspicious.

    Refused (:class:`ModelFileError`): no sidecar JSON; a file whose sha256 differs from the one
    recorded when it was saved (changed or corrupted); a file containing types outside
    :data:`TRUSTED_TYPES`; a file whose embedded metadata differs from the sidecar's.
    """
    import skops.io as sio

    path = Path(path)
    if not path.is_file():
        raise FileNotFoundError(f"persona model not found: {path}")
    side = _sidecar(path)
    if not side.is_file():
        raise ModelFileError(
            f"{path}: no sidecar {side.name} with the model's checksum, so it cannot be verified; "
            "refusing to load.\nFix: keep the .json saved next to the model."
        )
    try:
        record = json.loads(side.read_text(encoding="utf-8"))
    except json.JSONDecodeError as e:
        raise ModelFileError(f"{side}: not valid JSON ({e}); refusing to load.") from e
    if record.get("format") != MODEL_FORMAT:
        raise ModelFileError(f"{side}: format {record.get('format')!r}, expected {MODEL_FORMAT!r}.")
    digest = file_sha256(path)
    if digest != record.get("sha256"):
        raise ModelFileError(
            f"{path}: sha256 {digest[:12]}... does not match {str(record.get('sha256'))[:12]}... "
            "recorded when it was saved: the file was changed or corrupted; refusing to load.\n"
            "Fix: re-save the model from the run that fitted it."
        )
    try:
        untrusted = sio.get_untrusted_types(file=path)
    except Exception as e:  # noqa: BLE001 - any parse failure means the file is not a model we wrote
        raise ModelFileError(f"{path}: not a readable skops file ({type(e).__name__}: {e}).") from e
    unknown = sorted(set(untrusted) - set(TRUSTED_TYPES))
    if unknown:
        raise ModelFileError(
            f"{path}: contains types that a persona model never contains: {unknown}; refusing to load."
        )
    payload = sio.load(path, trusted=TRUSTED_TYPES)
    if not isinstance(payload, dict) or payload.get("format") != MODEL_FORMAT:
        raise ModelFileError(f"{path}: not a segwork persona model.")
    meta = json.loads(payload["meta"])
    if meta != record.get("meta"):
        raise ModelFileError(
            f"{path}: the metadata inside the model differs from {side.name}; refusing to load."
        )
    return PersonaModel._from_fitted(payload["pipeline"], meta)


def _read_table(path: Path) -> pd.DataFrame:
    suffix = path.suffix.lower()
    if suffix == ".csv":
        return pd.read_csv(path, dtype={"customer_id": "string"})
    if suffix in (".parquet", ".pq"):
        df = pd.read_parquet(path)
        if "customer_id" in df.columns:
            df["customer_id"] = df["customer_id"].astype("string")
        return df
    raise ClusteringError(f"{path}: unsupported file type {suffix!r}; use .csv or .parquet")


def assign_file(model_path: str | Path, input_path: str | Path, output_path: str | Path) -> Path:
    """Read new survey answers (CSV/Parquet), place them into the model's personas, write the result.

    The output (CSV or Parquet by suffix) has customer_id, cluster, persona, status (``assigned`` or
    why not). The CSV is written by the export writer (:func:`segwork.exports.export_members`):
    a cell a spreadsheet would run as a formula (an id such as ``=HYPERLINK(...)``) is neutralised.
    Errors (missing file, tampered model, missing items, out-of-range answers) are
    ValueError/FileNotFoundError subclasses with a message that names the problem.
    """
    from segwork.exports import export_members

    model_path, input_path, output_path = Path(model_path), Path(input_path), Path(output_path)
    out_suffix = output_path.suffix.lower()
    if out_suffix not in (".csv", ".parquet", ".pq"):
        raise ClusteringError(
            f"{output_path}: unsupported output type {out_suffix!r}; use .csv or .parquet"
        )
    model = load(model_path)
    if not input_path.is_file():
        raise FileNotFoundError(f"input file not found: {input_path}")
    frame = model.assign_frame(_read_table(input_path))
    if out_suffix == ".csv":
        return export_members(frame, output_path)
    buf = io.BytesIO()
    frame.to_parquet(buf, index=False)  # for programs: values as they are
    return atomic_write_bytes(output_path, buf.getvalue())
