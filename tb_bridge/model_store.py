"""Learned models on disk and in the registry: the shell's side of ``engines.ml`` (issue 22: 1, 6).

A model file lives at ``<ml.model_dir>/<kind>/<well id>/v<version>.npz`` and is registered in the history store's
``model_registry`` (:mod:`tb_bridge.history.model_registry`) with its training window, metrics and SHA-256. Loading
checks the hash against the registry (a file changed on disk is refused) and keeps the loaded models in memory by
(kind, well): the 5-minute tier reads each model file once per version.
"""
from __future__ import annotations

import logging
import re
import threading
from pathlib import Path
from typing import Any, Iterable

from tb_bridge.history import model_registry
from tb_bridge.history.model_registry import ModelRecord
from tb_bridge.history.store import HistoryStore

log = logging.getLogger(__name__)
LSTM_AE = "lstm_ae"
_UNSAFE = re.compile(r"[^A-Za-z0-9_.-]")


class ModelStore:
    """Model files under ``directory`` and their registry rows in ``history``; ``settings`` the ``ml`` block
    (``tb_bridge.config.MlSettings``: epochs, retraining age and drift, inference backend)."""

    def __init__(self, directory: str | Path, history: HistoryStore, settings: Any = None) -> None:
        from tb_bridge.config import MlSettings

        self.directory = Path(directory)
        self.history = history
        self.settings = settings if settings is not None else MlSettings(model_dir=str(directory))
        self._cache: dict[tuple[str, str], tuple[str, Any]] = {}  # (kind, well) -> (file hash, model)
        self._lock = threading.Lock()

    def path_for(self, kind: str, well_id: str, version: int) -> Path:
        return self.directory / kind / _UNSAFE.sub("_", well_id) / f"v{version}.npz"

    def save_lstm_ae(self, well_id: str, model: Any, *, trained_at_ms: int, window_start_ms: int,
                     window_end_ms: int) -> ModelRecord:
        """Write an ``engines.ml.lstm_ae.LstmAeModel`` as the next version of the well's model and register it."""
        from engines.ml.lstm_ae import save_model

        version = model_registry.next_version(self.history, LSTM_AE, well_id)
        path = self.path_for(LSTM_AE, well_id, version)
        digest = save_model(model, path)
        record = model_registry.register_model(
            self.history, LSTM_AE, well_id, trained_at_ms=trained_at_ms, window_start_ms=window_start_ms,
            window_end_ms=window_end_ms, metrics=dict(model.metrics), path=str(path), file_hash=digest, version=version)
        with self._lock:
            self._cache[(LSTM_AE, well_id)] = (digest, model)
        return record

    def latest(self, kind: str, well_id: str) -> ModelRecord | None:
        return model_registry.latest_model(self.history, kind, well_id)

    def latest_many(self, kind: str, well_ids: Iterable[str]) -> dict[str, ModelRecord]:
        """The newest registered version of ``kind`` of each of ``well_ids`` that has one (one query)."""
        return {r.well_id: r for r in model_registry.models(self.history, kind, list(well_ids), latest_only=True)}

    def list(self, kind: str | None = None, well_ids: Iterable[str] | None = None,
             latest_only: bool = False) -> list[ModelRecord]:
        return model_registry.models(self.history, kind, well_ids, latest_only=latest_only)

    def load(self, record: ModelRecord) -> Any:
        """The model of a registry record (from memory when this version is loaded already); raises ``ValueError``
        when the file's hash differs from the registry's, ``OSError`` when it cannot be read."""
        from engines.ml.lstm_ae import load_model

        key = (record.kind, record.well_id)
        with self._lock:
            cached = self._cache.get(key)
        if cached is not None and cached[0] == record.file_hash:
            return cached[1]
        if record.kind != LSTM_AE:
            raise ValueError(f"no loader for model kind {record.kind!r}")
        model = load_model(record.path, expected_sha256=record.file_hash)
        with self._lock:
            self._cache[key] = (record.file_hash, model)
        return model

    def cached(self, kind: str, well_id: str) -> tuple[str, Any] | None:
        """(file hash, model) in memory for the well, without touching the registry."""
        with self._lock:
            return self._cache.get((kind, well_id))
