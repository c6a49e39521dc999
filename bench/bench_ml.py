"""LSTM autoencoder benchmark (issue 22: 1): training and inference times per well on the CPU, and its detection delay
and false alarms on the synthetic field's injected faults beside the statistical layer alone.

Run: python bench/bench_ml.py [--train-days 30] [--epochs 10] [--inference-wells 1024] [--detect-train-days 7]
     [--detect-epochs 3] [--skip-detection] [--threads 1] [--json OUT]

Prints (1) training time of one ESP well's model on ``--train-days`` of 5-minute telemetry (default settings: 24-h
windows every 2 h, 10 epochs), PyTorch on the CPU with ``--threads`` threads; (2) inference: one batched pass over
``--inference-wells`` wells (one weight set per well, 288-step windows of 8 keys) on PyTorch and on NumPy,
extrapolated to 10,000 wells, and per 5-minute tick at the service's default cadence (every well hourly, 1/12 of
them per tick); (3) detection on the synthetic field: one well per injectable fault (24) and one healthy well per
lift type, each with its own model trained on ``--detect-train-days`` days before the fault, streamed through the
service (``Service.run_tier("fast")`` every 5 minutes for ``--hours-before`` (6) before and ``--hours-after`` (12)
after the onset, LSTM-AE scored every tick): the delay from onset to the first detection by the statistical layer (``opt_anomaly_detected``), by the
LSTM-AE (``opt_lstm_ae_anomaly``) and by either, and the false alarms (ticks flagged before the onset, and on the
healthy wells). The machine's load average is printed: on a shared machine the times are upper bounds.
"""
from __future__ import annotations

import argparse
import json
import os
import tempfile
import time

import numpy as np

from engines.fielddata import FAULTS_BY_LIFT_TYPE, LIFT_TYPES, SyntheticField
from engines.ml.lstm_ae import LstmAeSettings, score_wells, train_lstm_ae

STEPS_PER_DAY = 288


def _main_keys(lift_type: str) -> tuple[str, ...]:
    from tb_bridge.handlers.registry import handler_for

    return handler_for(lift_type).main_keys


def training_time(days: int, epochs: int, threads: int) -> dict:
    field = SyntheticField({"esp": 1}, seed=1)
    keys = _main_keys("esp")
    arrays = field.arrays("esp", days * STEPS_PER_DAY)
    series = np.stack([arrays[k][0] for k in keys], axis=1)
    settings = LstmAeSettings(epochs=epochs)
    t0, cpu0 = time.perf_counter(), time.process_time()
    model, report = train_lstm_ae(series, keys, settings, threads=threads)
    wall, cpu = time.perf_counter() - t0, time.process_time() - cpu0
    print(f"(1) training, one ESP well: {days} days, {report.windows} windows of {settings.window_steps} x {len(keys)}, "
          f"{report.epochs_run} epochs, {threads} thread(s): {wall:.1f} s wall, {cpu:.1f} s CPU "
          f"(final loss {report.losses[-1]:.4f}, threshold {model.threshold:.3f})")
    return {"days": days, "windows": report.windows, "epochs": report.epochs_run, "wall_s": wall, "cpu_s": cpu,
            "threads": threads, "model": model}


def inference_time(model, n_wells: int, threads: int) -> dict:
    import torch

    torch.set_num_threads(threads)
    rng = np.random.default_rng(0)
    windows = model.mean + model.scale * rng.standard_normal((n_wells, model.window_steps, len(model.keys)))
    out = {}
    for backend in ("torch", "numpy"):
        t0, cpu0 = time.perf_counter(), time.process_time()
        scores = score_wells([model] * n_wells, windows, backend=backend)
        dt, cpu = time.perf_counter() - t0, time.process_time() - cpu0
        per_10k, cpu_10k = dt * 10_000 / n_wells, cpu * 10_000 / n_wells
        out[backend] = {"wells": n_wells, "wall_s": dt, "cpu_s": cpu, "per_10k_wells_s": per_10k,
                        "per_10k_wells_cpu_s": cpu_10k, "per_tick_hourly_s": per_10k / 12}
        print(f"(2) inference {backend:5s}: {n_wells} wells in {dt:.2f} s wall / {cpu:.2f} s CPU -> per 10,000 wells "
              f"{per_10k:.1f} s wall, {cpu_10k:.1f} s CPU; per 5-minute tick at the hourly cadence (1/12 of them) "
              f"{per_10k / 12:.1f} s wall (median score {np.median(scores):.2f})")
    return out


def detection(train_days: int, epochs: int, threads: int, hours_before: int = 6, hours_after: int = 12) -> dict:
    from tb_bridge.config import load_settings
    from tb_bridge.events import EventKind, WellEvent
    from tb_bridge.handlers.ml_steps import on_grid
    from tb_bridge.service import Service

    train_steps = train_days * STEPS_PER_DAY
    onset = train_steps + STEPS_PER_DAY + 144  # 1.5 days after the training span: the buffer's day fits the baseline
    counts = {lift: len(FAULTS_BY_LIFT_TYPE[lift]) + 1 for lift in LIFT_TYPES}
    probe = SyntheticField(counts, seed=4)
    faults = {}
    for lift in LIFT_TYPES:
        for i, fault in enumerate(FAULTS_BY_LIFT_TYPE[lift]):
            faults[probe.wells_of(lift)[i].name] = (fault, onset)
    field = SyntheticField(counts, seed=4, faults=faults)
    tmp = tempfile.mkdtemp(prefix="bench_ml_")
    settings = load_settings(database_url=f"sqlite:///{tmp}/h.db", ml={"model_dir": f"{tmp}/models",
                                                                        "lstm_ae_score_every_ticks": 1})

    class Sink:
        def __init__(self):
            self.latest = {}

        def write_attributes(self, entity_id, attributes, scope="SERVER_SCOPE"):
            self.latest.setdefault(entity_id, {}).update(attributes)

        def write_timeseries(self, entity_id, points):
            pass

        def flush(self):
            pass

        def close(self):
            pass

    sink = Sink()
    service = Service(settings, sink)
    t0 = time.perf_counter()
    for lift in LIFT_TYPES:  # one model per well on its first train_days days
        keys = _main_keys(lift)
        arrays = field.arrays(lift, train_steps)
        for w in field.wells_of(lift):
            series = np.stack([arrays[k][w.index] for k in keys], axis=1)
            model, _ = train_lstm_ae(series, keys, LstmAeSettings(epochs=epochs, seed=w.index), threads=threads)
            service.model_store.save_lstm_ae(w.name, model, trained_at_ms=field.start_ms + train_steps * 300_000,
                                             window_start_ms=field.start_ms,
                                             window_end_ms=field.start_ms + (train_steps - 1) * 300_000)
    train_s = time.perf_counter() - t0
    print(f"(3) trained {len(field.wells)} models ({train_days} days, {epochs} epochs) in {train_s:.0f} s")
    for w in field.wells:
        service.handle(WellEvent(EventKind.ATTRIBUTES_SNAPSHOT, w.name, 0, w.attributes, well_name=w.name,
                                 source="bench"))
    start = onset - STEPS_PER_DAY - 12 * hours_before  # one day for the baseline, then hours_before before the onset
    stop = onset + 12 * hours_after
    first = {w.name: {"stat": None, "lstm": None} for w in field.wells}
    before = {w.name: {"stat": 0, "lstm": 0} for w in field.wells}
    ticks = 0
    t0 = time.perf_counter()
    for step0 in range(start, stop, 1):
        for name, ts, values in field.samples(1, step0):
            service.handle(WellEvent(EventKind.TELEMETRY, name, ts, values, source="bench"))
        if step0 < start + STEPS_PER_DAY:
            continue
        now = field.start_ms + step0 * 300_000
        service.run_tier("fast", now)
        ticks += 1
        for w in field.wells:
            got = sink.latest.get(w.name, {})
            flags = {"stat": bool(got.get("opt_anomaly_detected")), "lstm": bool(got.get("opt_lstm_ae_anomaly"))}
            for layer, flagged in flags.items():
                if not flagged:
                    continue
                if w.fault is None or step0 < onset:
                    before[w.name][layer] += 1
                elif first[w.name][layer] is None:
                    first[w.name][layer] = (step0 - onset) * 5
    stream_s = time.perf_counter() - t0
    rows = []
    for w in field.wells:
        f = first[w.name]
        both = [d for d in (f["stat"], f["lstm"]) if d is not None]
        rows.append({"well": w.name, "lift_type": w.lift_type, "fault": w.fault or "(healthy)",
                     "stat_delay_min": f["stat"], "lstm_delay_min": f["lstm"], "either_delay_min": min(both) if both else None,
                     "stat_false_ticks": before[w.name]["stat"], "lstm_false_ticks": before[w.name]["lstm"]})
    print(f"    streamed {ticks} ticks x {len(field.wells)} wells in {stream_s:.0f} s")
    print(f"{'well':8s} {'fault':22s} {'stat min':>9s} {'LSTM min':>9s} {'either':>7s} {'FA stat':>8s} {'FA LSTM':>8s}")
    for r in rows:
        fmt = lambda v: "-" if v is None else f"{v}"  # noqa: E731
        print(f"{r['well']:8s} {r['fault']:22s} {fmt(r['stat_delay_min']):>9s} {fmt(r['lstm_delay_min']):>9s} "
              f"{fmt(r['either_delay_min']):>7s} {r['stat_false_ticks']:>8d} {r['lstm_false_ticks']:>8d}")
    faulty = [r for r in rows if r["fault"] != "(healthy)"]
    summary = {}
    for layer in ("stat", "lstm", "either"):
        delays = [r[f"{layer}_delay_min"] for r in faulty if r[f"{layer}_delay_min"] is not None]
        summary[layer] = {"detected": len(delays), "of": len(faulty),
                          "median_delay_min": float(np.median(delays)) if delays else None}
    for layer in ("stat", "lstm"):
        summary[layer]["false_alarm_ticks"] = sum(r[f"{layer}_false_ticks"] for r in rows)
        summary[layer]["well_ticks_watched"] = sum(
            (12 * hours_before if r["fault"] != "(healthy)" else ticks) for r in rows)
    print("summary:", json.dumps(summary))
    service.close()
    return {"rows": rows, "summary": summary, "train_s": train_s}


def main() -> None:
    parser = argparse.ArgumentParser(description=__doc__.splitlines()[0])
    parser.add_argument("--train-days", type=int, default=30)
    parser.add_argument("--epochs", type=int, default=10)
    parser.add_argument("--inference-wells", type=int, default=1024)
    parser.add_argument("--detect-train-days", type=int, default=7)
    parser.add_argument("--detect-epochs", type=int, default=3)
    parser.add_argument("--threads", type=int, default=1)
    parser.add_argument("--hours-before", type=int, default=6, help="ticks streamed before the onset (false alarms)")
    parser.add_argument("--hours-after", type=int, default=12, help="ticks streamed after the onset (later: missed)")
    parser.add_argument("--skip-detection", action="store_true")
    parser.add_argument("--skip-training", action="store_true", help="time inference with a 1-epoch, 2-day model")
    parser.add_argument("--json", help="write the figures here")
    args = parser.parse_args()
    print(f"load average {os.getloadavg()[0]:.1f} on {os.cpu_count()} CPUs")
    if args.skip_training:
        trained = training_time(2, 1, args.threads)
    else:
        trained = training_time(args.train_days, args.epochs, args.threads)
    figures = {"training": {k: v for k, v in trained.items() if k != "model"},
               "inference": inference_time(trained["model"], args.inference_wells, args.threads)}
    if not args.skip_detection:
        figures["detection"] = detection(args.detect_train_days, args.detect_epochs, args.threads, args.hours_before,
                                         args.hours_after)
    figures["load_average_end"] = os.getloadavg()[0]
    if args.json:
        with open(args.json, "w") as fh:
            json.dump(figures, fh, indent=1, default=float)


# -- learned production forecast and ESP failure prediction (issue 22: 2, 3) -------------------------------------
# Run: python bench/bench_ml.py forecast-failure [--wells 30] [--days 1460] [--failure-wells 100]
#      [--failure-days 2190] [--trees 300] [--seed 0] [--json OUT]
def forecast_figures(wells: int = 30, days: int = 1460, folds: int = 3, trees: int = 300, seed: int = 0) -> dict:
    """Time-series CV of the XGBoost 30-day forecast on the run-to-failure field (``engines.fielddata.degradation``)
    against the decline forecast and persistence: MAE, MAPE and the P10/P90 band's coverage."""
    from engines.fielddata.degradation import run_to_failure
    from engines.ml.forecasting import WellSeries, evaluate_forecast

    h = run_to_failure(wells, days, seed=seed)
    v = h.values
    series = [WellSeries(v["flow_rate_bpd"][w], v["intake_pressure_psi"][w], v["frequency_hz"][w],
                         v["anomaly_score"][w]) for w in range(wells)]
    t0, c0 = time.perf_counter(), time.process_time()
    out = evaluate_forecast(series, folds=folds, trees=trees, seed=seed, origin_step=2, test_origin_step=5)
    out["wall_s"], out["cpu_s"] = time.perf_counter() - t0, time.process_time() - c0
    return out


def failure_figures(wells: int = 100, days: int = 2190, trees: int = 300, seed: int = 0) -> dict:
    """ESP failure within 30 days on the run-to-failure field, time-based split: ROC-AUC, PR-AUC, Brier
    (calibrated, uncalibrated), recall at 1 false alarm per well-year."""
    from engines.fielddata.degradation import run_to_failure
    from engines.ml.esp_failure import evaluate_failure_model, labelled_days

    h = run_to_failure(wells, days, seed=seed)
    t0, c0 = time.perf_counter(), time.process_time()
    out = evaluate_failure_model(labelled_days(h), trees=trees, seed=seed)
    out.pop("model")
    out["failures"], out["well_years"] = len(h.failures), wells * days / 365.0
    out["wall_s"], out["cpu_s"] = time.perf_counter() - t0, time.process_time() - c0
    return out


def main_forecast_failure(argv) -> None:
    parser = argparse.ArgumentParser(description="learned forecast and ESP failure figures (issue 22: 2, 3)")
    parser.add_argument("--wells", type=int, default=30)
    parser.add_argument("--days", type=int, default=1460)
    parser.add_argument("--failure-wells", type=int, default=100)
    parser.add_argument("--failure-days", type=int, default=2190)
    parser.add_argument("--trees", type=int, default=300)
    parser.add_argument("--seed", type=int, default=0)
    parser.add_argument("--json", help="write the figures here")
    args = parser.parse_args(argv)
    print(f"load average {os.getloadavg()[0]:.1f} on {os.cpu_count()} CPUs")
    f = forecast_figures(args.wells, args.days, trees=args.trees, seed=args.seed)
    print(f"forecast ({args.wells} wells x {args.days} d, 30-day horizon, {len(f['folds'])}-fold time-series CV, "
          f"{f['ml']['n']} (origin, day) pairs):")
    for name in ("ml", "decline", "persistence"):
        print(f"  {name:12s} MAE {f[name]['mae_bpd']:7.1f} bbl/d   MAPE {f[name]['mape_pct']:5.2f} %")
    print(f"  P10/P90 band coverage {100 * f['band']['coverage']:.1f} % (nominal 80 %)")
    r = failure_figures(args.failure_wells, args.failure_days, trees=args.trees, seed=args.seed)
    print(f"ESP failure within 30 d ({args.failure_wells} wells x {args.failure_days} d, {r['failures']} failures; "
          f"test days {r['split_days']['test']}):")
    print(f"  ROC-AUC {r['roc_auc']:.3f}  PR-AUC {r['pr_auc']:.3f} (prevalence {r['prevalence']:.3f})  Brier "
          f"{r['brier']:.4f} (uncalibrated {r['brier_uncalibrated']:.4f})  recall at 1 false alarm per well-year "
          f"{100 * r['recall_at_1_false_alarm_per_well_year']:.0f} % of {r['alarm']['failures']}")
    if args.json:
        with open(args.json, "w") as fh:
            json.dump({"forecast": f, "esp_failure": r}, fh, indent=1, default=float)


if __name__ == "__main__":
    import sys

    if sys.argv[1:2] == ["forecast-failure"]:
        main_forecast_failure(sys.argv[2:])
    else:
        main()
