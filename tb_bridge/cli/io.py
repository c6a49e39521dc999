"""Input/output helpers shared by every `atilax` subcommand.

Every engine command reads one JSON document (a file path, or ``-`` for stdin), validates it with the
same pydantic model the service uses, and prints either JSON (``--json``) or a readable table.
"""
from __future__ import annotations

import json
import math
import sys
from datetime import date, datetime
from pathlib import Path
from typing import Any, Iterable, Sequence, TypeVar

import numpy as np
from pydantic import BaseModel, ValidationError

ModelT = TypeVar("ModelT", bound=BaseModel)


class CliInputError(Exception):
    """Raised for input the user must fix; printed without a traceback, exit code 2."""


def read_text(source: str) -> str:
    """Read a file path, or standard input when ``source`` is ``-``."""
    if source == "-":
        return sys.stdin.read()
    path = Path(source)
    if not path.is_file():
        raise CliInputError(f"input file not found: {source}")
    return path.read_text(encoding="utf-8")


def read_json(source: str) -> Any:
    """Parse a JSON document from a file path or ``-`` (stdin)."""
    text = read_text(source)
    try:
        return json.loads(text)
    except json.JSONDecodeError as exc:
        raise CliInputError(f"{source}: malformed JSON at line {exc.lineno} column {exc.colno}: {exc.msg}") from exc


def read_model(source: str, model: type[ModelT]) -> ModelT:
    """Read and validate a JSON document against ``model``; errors name the offending fields."""
    data = read_json(source)
    try:
        return model.model_validate(data)
    except ValidationError as exc:
        raise CliInputError(f"{source}: invalid {model.__name__}:\n{format_validation_error(exc)}") from exc


def format_validation_error(exc: ValidationError) -> str:
    """One line per problem: dotted field path and pydantic's message."""
    lines = []
    for err in exc.errors():
        where = ".".join(str(part) for part in err.get("loc", ())) or "(root)"
        lines.append(f"  - {where}: {err.get('msg')}")
    return "\n".join(lines)


def to_jsonable(value: Any) -> Any:
    """Convert NumPy scalars/arrays, dataclasses and pydantic models to plain JSON values.

    Non-finite floats become ``None`` (JSON has no NaN)."""
    import dataclasses

    if isinstance(value, BaseModel):
        return to_jsonable(value.model_dump())
    if dataclasses.is_dataclass(value) and not isinstance(value, type):
        return {f.name: to_jsonable(getattr(value, f.name)) for f in dataclasses.fields(value)}
    if isinstance(value, dict):
        return {str(k): to_jsonable(v) for k, v in value.items()}
    if isinstance(value, (list, tuple)):
        return [to_jsonable(v) for v in value]
    if isinstance(value, np.ndarray):
        return to_jsonable(value.tolist())
    if isinstance(value, np.generic):
        return to_jsonable(value.item())
    if isinstance(value, float):
        return value if math.isfinite(value) else None
    if isinstance(value, (datetime, date)):
        return value.isoformat()
    return value


def print_json(value: Any) -> None:
    """Print ``value`` as indented JSON on stdout."""
    json.dump(to_jsonable(value), sys.stdout, indent=2)
    sys.stdout.write("\n")


def format_table(headers: Sequence[str], rows: Iterable[Sequence[Any]], float_format: str = "{:.4g}") -> str:
    """A plain left-aligned text table (no external dependency)."""
    def cell(v: Any) -> str:
        if isinstance(v, (float, np.floating)):
            return float_format.format(float(v)) if math.isfinite(float(v)) else "-"
        return "-" if v is None else str(v)

    body = [[cell(v) for v in row] for row in rows]
    widths = [len(h) for h in headers]
    for row in body:
        widths = [max(w, len(c)) for w, c in zip(widths, row)]
    line = "  ".join(h.ljust(w) for h, w in zip(headers, widths))
    sep = "  ".join("-" * w for w in widths)
    return "\n".join([line, sep] + ["  ".join(c.ljust(w) for c, w in zip(row, widths)) for row in body])


def print_key_values(pairs: Iterable[tuple[str, Any]], title: str | None = None) -> None:
    """Print a two-column key/value table."""
    if title:
        print(title)
    print(format_table(["quantity", "value"], list(pairs)))


def bounded_int(low: int, high: int):
    """An argparse ``type`` accepting an integer in ``[low, high]`` (a documented bound of a user-set size)."""
    import argparse

    def parse(text: str) -> int:
        try:
            value = int(text)
        except ValueError:
            raise argparse.ArgumentTypeError(f"not an integer: {text!r}") from None
        if not low <= value <= high:
            raise argparse.ArgumentTypeError(f"must be in [{low}, {high}], got {value}")
        return value

    return parse
