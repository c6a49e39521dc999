"""`atilax ml train-lstm-ae` and `atilax ml list` (issue 22: 1, 6), added to `atilax ml` (:mod:`tb_bridge.cli.ml`).

``atilax ml train-lstm-ae`` trains one well's model from a JSON document (``--input FILE`` or ``-`` for stdin:
``{"well_id", "lift_type", "ts_ms": [...], "values": {key: [...]}, "exclude": [...]}``, 5-minute samples, oldest
first; ``keys`` optional: default the lift type's main keys present in ``values``) or from the synthetic field
(``--synthetic WELL_NAME``: its first ``--days`` days, for trials and the demo), writes the model file under
``ml.model_dir`` and registers it in the history store (``database_url``). A running service trains its wells from
ThingsBoard's history with ``POST /train-lstm-ae``. Needs PyTorch (the ``ml`` extra); without it the command says
so and exits 2. ``atilax ml list`` prints the registry.
"""
from __future__ import annotations

import argparse
import sys
from typing import Any

import numpy as np
from pydantic import BaseModel, ConfigDict, Field, model_validator

from tb_bridge.cli.io import CliInputError, format_table, print_json, read_model
from tb_bridge.config import load_settings

#: Most samples one training document may hold (365 days at 5 minutes).
MAX_SAMPLES = 105_120


class TrainInput(BaseModel):
    """One well's telemetry for `atilax ml train-lstm-ae --input`."""

    model_config = ConfigDict(extra="forbid")

    well_id: str = Field(min_length=1, max_length=128)
    lift_type: str | None = Field(default=None, description="esp | srp | pcp | gas_lift: its main keys are modelled")
    keys: list[str] | None = Field(default=None, max_length=32, description="keys to model (default: the main keys)")
    ts_ms: list[int] = Field(min_length=2, max_length=MAX_SAMPLES, description="sample times, epoch ms, ascending")
    values: dict[str, list[float | None]] = Field(description="key -> values aligned with ts_ms (null: missing)")
    exclude: list[bool] | None = Field(default=None, description="samples to leave out (spans the detector flagged)")

    @model_validator(mode="after")
    def _aligned(self) -> "TrainInput":
        n = len(self.ts_ms)
        for key, v in self.values.items():
            if len(v) != n:
                raise ValueError(f"values[{key!r}] has {len(v)} values for {n} timestamps")
        if self.exclude is not None and len(self.exclude) != n:
            raise ValueError(f"exclude has {len(self.exclude)} flags for {n} timestamps")
        if any(b <= a for a, b in zip(self.ts_ms, self.ts_ms[1:])):
            raise ValueError("ts_ms must be strictly ascending")
        return self


def add_commands(sub: argparse._SubParsersAction) -> None:
    """Add ``train-lstm-ae`` and ``list`` to the ``atilax ml`` sub-commands."""
    train = sub.add_parser("train-lstm-ae", help="train and register one well's LSTM autoencoder")
    source = train.add_mutually_exclusive_group(required=True)
    source.add_argument("--input", metavar="FILE", help="telemetry JSON (see `atilax ml --help`; - for stdin)")
    source.add_argument("--synthetic", metavar="WELL", help="a well of the synthetic field (ESP-01, SRP-02, ...)")
    train.add_argument("--days", type=int, default=30, help="--synthetic: days of telemetry (2 to 365; default 30)")
    train.add_argument("--seed", type=int, default=0, help="--synthetic: the field's seed")
    train.add_argument("--epochs", type=int, default=None, help="training epochs (1 to 500; default ml.lstm_ae_epochs)")
    train.add_argument("--json", action="store_true", help="print the registry record as JSON")
    train.set_defaults(func=_train)
    listing = sub.add_parser("list", help="the model registry: kind, well, version, training window, metrics, hash")
    listing.add_argument("--kind", help="only this kind (lstm_ae, ...)")
    listing.add_argument("--well", action="append", help="only this well id (repeatable)")
    listing.add_argument("--latest", action="store_true", help="only the newest version of each model")
    listing.add_argument("--json", action="store_true")
    listing.set_defaults(func=_list)


def _store(settings):
    from tb_bridge.history.store import HistoryStore
    from tb_bridge.model_store import ModelStore

    history = HistoryStore(settings.database_url)
    history.migrate()
    return ModelStore(settings.ml.model_dir, history, settings.ml)


def _synthetic(name: str, days: int, seed: int) -> TrainInput:
    from engines.fielddata import SyntheticField

    if not 2 <= days <= 365:
        raise CliInputError(f"--days must be in [2, 365], got {days}")
    field = SyntheticField(seed=seed)
    try:
        well = field.well(name)
    except KeyError:
        raise CliInputError(f"no synthetic well {name!r} (ESP-01..03, SRP-01..03, PCP-01..03, GL-01..03)") from None
    n = days * 288
    arrays = field.arrays(well.lift_type, n)
    ts = [field.start_ms + i * field.step_s * 1000 for i in range(n)]
    return TrainInput(well_id=name, lift_type=well.lift_type, ts_ms=ts,
                      values={k: v[well.index].tolist() for k, v in arrays.items()})


def _train(args: argparse.Namespace) -> int:
    from engines.ml.lstm_ae import LstmAeSettings, TorchUnavailableError, train_lstm_ae
    from tb_bridge.handlers.ml_steps import main_keys, on_grid

    settings = load_settings()
    doc = _synthetic(args.synthetic, args.days, args.seed) if args.synthetic else read_model(args.input, TrainInput)
    if args.epochs is not None and not 1 <= args.epochs <= 500:
        raise CliInputError(f"--epochs must be in [1, 500], got {args.epochs}")
    if doc.keys:
        keys = tuple(doc.keys)
    elif doc.lift_type:
        try:
            keys = tuple(k for k in main_keys(doc.lift_type) if k in doc.values)
        except KeyError as exc:
            raise CliInputError(str(exc)) from None
    else:
        keys = tuple(doc.values)
    missing = [k for k in keys if k not in doc.values]
    if missing or not keys:
        raise CliInputError(f"no values for keys {missing or '(none)'}")
    ts = np.asarray(doc.ts_ms, dtype=np.int64)
    arrays = {k: np.asarray([np.nan if v is None else v for v in doc.values[k]], dtype=float) for k in keys}
    grid, series = on_grid(ts, arrays, keys, settings.scheduler.fast_interval_s)
    exclude = None
    if doc.exclude is not None:
        flagged = ts[np.asarray(doc.exclude, bool)]
        exclude = np.isin(grid, flagged)
    window = int(min(2016, round(86_400 / settings.scheduler.fast_interval_s)))
    import zlib

    train_settings = LstmAeSettings(window_steps=window, epochs=args.epochs or settings.ml.lstm_ae_epochs,
                                    seed=zlib.crc32(doc.well_id.encode()))

    def progress(epoch: int, epochs: int, loss: float) -> None:
        print(f"epoch {epoch}/{epochs}: loss {loss:.4f}", file=sys.stderr, flush=True)

    try:
        model, report = train_lstm_ae(series, keys, train_settings, exclude=exclude, progress=progress,
                                      threads=settings.ml.torch_threads)
    except TorchUnavailableError as exc:
        raise CliInputError(str(exc)) from None
    except ValueError as exc:
        raise CliInputError(f"cannot train: {exc}") from None
    from dataclasses import replace

    model = replace(model, metrics=dict(model.metrics, source="cli", keys=list(keys), device=report.device))
    store = _store(settings)
    try:
        record = store.save_lstm_ae(doc.well_id, model, trained_at_ms=int(grid[-1]), window_start_ms=int(grid[0]),
                                    window_end_ms=int(grid[-1]))
    finally:
        store.history.close()
    if args.json:
        print_json(_record_json(record))
    else:
        print(f"{record.well_id}: lstm_ae v{record.version}, {report.windows} windows, {report.epochs_run} epochs, "
              f"threshold {model.threshold:.4g}, {record.path} (sha256 {record.file_hash[:12]})")
    return 0


def _record_json(r: Any) -> dict[str, Any]:
    return {"kind": r.kind, "well_id": r.well_id, "version": r.version, "trained_at": r.trained_at.isoformat(),
            "window_start": r.window_start.isoformat(), "window_end": r.window_end.isoformat(),
            "metrics": dict(r.metrics), "path": r.path, "file_hash": r.file_hash}


def _list(args: argparse.Namespace) -> int:
    settings = load_settings()
    store = _store(settings)
    try:
        records = store.list(args.kind, args.well, latest_only=args.latest)
    finally:
        store.history.close()
    if args.json:
        print_json([_record_json(r) for r in records])
        return 0
    rows = [(r.kind, r.well_id, r.version, r.trained_at.strftime("%Y-%m-%d %H:%M"),
             f"{r.window_start:%Y-%m-%d} .. {r.window_end:%Y-%m-%d}", r.metrics.get("train_windows"),
             r.metrics.get("threshold"), r.file_hash[:12]) for r in records]
    print(format_table(("kind", "well", "version", "trained (UTC)", "training window", "windows", "threshold",
                        "sha256"), rows))
    return 0
