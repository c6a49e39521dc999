"""Conversion of Python/NumPy results to plain JSON values storable in JSON/JSONB columns."""
from __future__ import annotations

import dataclasses
import json
import math
from collections.abc import Mapping
from datetime import date, datetime
from enum import Enum
from typing import Any

import numpy as np


def to_json_value(obj: Any) -> Any:
    """Return ``obj`` as nested dicts/lists/str/int/float/bool/None.

    NumPy scalars and arrays become Python numbers and lists, dataclasses and pydantic models become
    dicts, datetimes ISO 8601 strings, and non-finite floats ``None`` (JSON has no NaN/inf and
    PostgreSQL's JSONB rejects them). Mapping keys must be strings (or are converted with ``str``).
    """
    kind = type(obj)  # the exact built-in types first (the bulk of a tier's results), same outcome as below
    if kind is float:
        return obj if math.isfinite(obj) else None
    if kind is str or kind is int or kind is bool:
        return obj
    if kind is dict:
        return {key if type(key) is str else str(key): to_json_value(value) for key, value in obj.items()}
    if kind is list:
        return [to_json_value(item) for item in obj]
    if obj is None or isinstance(obj, (bool, str, int)) and not isinstance(obj, Enum):
        return obj
    if isinstance(obj, float):
        return obj if math.isfinite(obj) else None
    if isinstance(obj, np.bool_):
        return bool(obj)
    if isinstance(obj, np.integer):
        return int(obj)
    if isinstance(obj, np.floating):
        return to_json_value(float(obj))
    if isinstance(obj, np.ndarray):
        return [to_json_value(item) for item in obj.tolist()]
    if isinstance(obj, Enum):
        return to_json_value(obj.value)
    if isinstance(obj, (datetime, date)):
        return obj.isoformat()
    if isinstance(obj, Mapping):
        return {str(key): to_json_value(value) for key, value in obj.items()}
    if isinstance(obj, (list, tuple, set, frozenset)):
        return [to_json_value(item) for item in obj]
    if dataclasses.is_dataclass(obj) and not isinstance(obj, type):
        return {f.name: to_json_value(getattr(obj, f.name)) for f in dataclasses.fields(obj)}
    model_dump = getattr(obj, "model_dump", None)
    if callable(model_dump):
        return to_json_value(model_dump(mode="json"))
    raise TypeError(f"cannot store a {type(obj).__name__} as JSON")


def json_text(obj: Any) -> str:
    """``obj`` as the JSON text a JSON column stores: ``json.dumps(to_json_value(obj))``, which is what
    SQLAlchemy's JSON type writes (its default serializer) for the same value."""
    return json.dumps(to_json_value(obj))
