"""The demo: a small synthetic field through the real service path, on embedded defaults.

synthetic wells -> ThingsBoard stand-in (device telemetry API) -> transport -> router -> buffer ->
scheduled tiers (simulated clock) -> handlers/engines -> writeback (REST, tb-rest-client) -> stand-in
store; then the attributes are read back from the stand-in and printed per well. A field asset runs the
field-development planner (``placement_run_requested`` on the shipped ``thesis_5x5`` case), and a dashboard slider
move (``sim_param_water_cut_pct`` on the first ESP well) shows the what-if simulation's answer, after a simulation
session on the first well of each lift type (setpoint move, water-cut move, reset, close: nothing ``sim_*`` is left).
Besides the artificially lifted wells, one naturally flowing well with a permanent downhole gauge
(``engines.fielddata.downhole``) carries an injected event. Once the warm-up day is in ThingsBoard, each valid well's
LSTM autoencoder is trained from it the way ``POST /train-lstm-ae`` trains
(:class:`tb_bridge.ml_training.LstmAeTraining`) when PyTorch is installed, and the 5-minute tier scores it.
Last, every bundled dashboard is rendered from the stand-in's data at the demo's end (the preview renderer): the data
points of each widget, and optionally the HTML page. No ThingsBoard, Redis or PostgreSQL is needed.
"""
from __future__ import annotations

import json
import logging
import sys
import tempfile
from dataclasses import dataclass, field
from datetime import datetime, timedelta, timezone
from pathlib import Path
from typing import Any, Callable, TextIO

from tb_bridge.config import Settings, load_settings
from tb_bridge.wells.model import DEVICE_PROFILE_BY_LIFT_TYPE

log = logging.getLogger(__name__)

#: Simulated end: noon UTC on Monday 1 June 2026, on the 5-minute grid; the demo starts ``hours`` before. A demo of
#: 6 h or more runs every tier once or more (daily at 06:00, weekly on Mondays at 06:30, monthly on the 1st at
#: 06:45), and the dashboards' current-day windows hold the morning's history and the afternoon's projections.
DEMO_END = datetime(2026, 6, 1, 12, tzinfo=timezone.utc)

#: Days of daily production history each demo well has in ThingsBoard before the demo starts.
HISTORY_DAYS = 180
DAY_MS = 86_400_000
#: Telemetry streamed before the scheduled period (one buffer window), so the baselines are ready.
WARMUP_S = 86_400
#: Injected faults begin this long before the end of the demo.
FAULT_LEAD_S = 10 * 3600

#: The slider move of the demo's what-if: the first ESP well's water cut, this many percentage points higher.
WHAT_IF_WATER_CUT_STEP_PCT = 20.0
WHAT_IF_KEYS: tuple[str, ...] = ("sim_status", "sim_basis", "sim_original_freq_hz", "sim_original_water_cut_pct",
                                 "sim_param_water_cut_pct",
                                 "sim_opt_production_bpd", "sim_compare_production_delta_bpd",
                                 "sim_compare_production_delta_pct", "sim_compare_efficiency_delta_pct",
                                 "sim_opt_recommended_action", "sim_error")

#: The demo's simulation session on the first well of each lift type: the setpoint parameter, its move, and the
#: well-configuration fields of its range (the move is clipped to it, or made downwards at the top of the range).
SIM_SETPOINT_MOVES: dict[str, tuple[str, float, str, str]] = {
    "esp": ("freq_hz", 2.0, "frequency_min_hz", "frequency_max_hz"),
    "srp": ("spm", 1.0, "spm_min", "spm_max"),
    "pcp": ("rpm", 25.0, "rpm_min", "rpm_max"),
    "gas_lift": ("gas_injection_rate", 100.0, "injection_min_mscfd", "injection_max_mscfd"),
}
#: The well-parameter move of each session (then reset): the water cut, this many percentage points higher.
SIM_WATER_CUT_STEP_PCT = 20.0
#: The end of the time range read back for projection points (year 2100: every future point included).
_FAR_FUTURE_MS = 4_102_444_800_000

#: The demo's field asset (profile ``Field``) and the shipped reservoir case its planner run optimizes.
DEMO_FIELD = {"name": "Field A", "profile": "Field", "attributes": {"placement_case": "thesis_5x5", "placement_seed": 0}}
#: Longest wait for the field's planner run (seconds; the first run in a fresh cache compiles its kernels).
PLACEMENT_TIMEOUT_S = 600.0

#: The naturally flowing well (device profile ``NaturalFlow``): permanent downhole gauge, tree and choke pressures, no
#: flow meter (``engines.fielddata.downhole``, the 3W instrumentation). Its event (when the demo injects faults)
#: starts with the lifted wells' faults; its attributes are the recording's well (``downhole.WellParams``).
NATURAL_FLOW_WELL = "NF-01"
NATURAL_FLOW_EVENT = "productivity_loss"
NATURAL_FLOW_ATTRIBUTES = {"bubble_point_psi": 2000.0, "perforation_depth_ft": 12000.0}

#: LSTM-AE training epochs per well in the demo (one 24-hour window each: the warm-up day).
LSTM_AE_EPOCHS = 10
LSTM_AE_NO_TORCH = ("PyTorch is not installed: the demo trains no LSTM autoencoder, so the well-detail dashboards' "
                    "'LSTM autoencoder anomaly score' widgets stay empty (pip install 'atilax[ml]')")

#: A deliberately misconfigured well (unknown lift type) shows that bad input is isolated.
MISCONFIGURED_WELL = {"name": "JP-01 (misconfigured)", "profile": "ESP", "attributes": {"lift_type": "jet_pump"}}

SUMMARY_KEYS: tuple[str, ...] = (
    "opt_status", "opt_monitor_completeness_pct", "opt_nodal_q_bpd", "opt_nodal_pwf_psi",
    "opt_esp_freq_recommended_hz", "opt_srp_spm_recommended", "opt_pcp_rpm_recommended",
    "opt_gl_injection_recommended_mscfd", "opt_lift_expected_q_bpd", "opt_dca_model", "opt_dca_eur_p50",
    "opt_well_health_score", "opt_anomaly_type", "opt_error",
)


@dataclass
class DemoResult:
    """What the demo provisioned and what came back from ThingsBoard (the stand-in)."""

    wells: dict[str, str] = field(default_factory=dict)  # name -> device id
    attributes: dict[str, dict[str, Any]] = field(default_factory=dict)  # name -> server attributes
    telemetry_events: int = 0
    tier_runs: dict[str, int] = field(default_factory=dict)
    dead_letters: int = 0
    simulated_hours: float = 0.0
    #: the what-if of the slider move: well name, parameters, the ``sim_*`` attributes read back
    what_if: dict[str, Any] = field(default_factory=dict)
    #: the simulation session on the first well of each lift type, by well name (see :func:`_simulation_session`)
    simulation: dict[str, dict[str, Any]] = field(default_factory=dict)
    #: the field asset's name and its planner run's status (``done``, ``stopped``, ``error``, or ``none``)
    placement: dict[str, Any] = field(default_factory=dict)
    #: every bundled dashboard at the demo's end: ``{dashboard stem: {widget title: data points drawn}}``
    dashboards: dict[str, dict[str, int]] = field(default_factory=dict)
    #: the LSTM-AE training after the warm-up day: ``{"status": "done" | "torch_missing", "epochs", "versions":
    #: {well name: registry version}, "failed": {well name: reason}, "seconds"}``
    lstm_ae: dict[str, Any] = field(default_factory=dict)


def run_demo(
    hours: float = 24.0,
    wells_per_lift_type: int = 3,
    seed: int = 7,
    transport: str = "grpc",
    settings: Settings | None = None,
    progress: bool = True,
    workdir: Path | None = None,
    preview: Path | None = None,
) -> DemoResult:
    """Run the demo for ``hours`` of simulated time and return what was written back; ``preview``: also write
    the bundled dashboards, drawn from the stand-in's data at the demo's end, to this HTML file."""
    from engines.fielddata import SyntheticField
    from tb_bridge.service import Service
    from tb_bridge.standin import StandIn
    from tb_bridge.tb_history import ThingsBoardHistory
    from tb_bridge.writeback.rest import RestWriteback

    if hours <= 0:
        raise ValueError("hours must be positive")
    tmp = tempfile.TemporaryDirectory(prefix="atilax-demo-") if workdir is None else None
    workdir = Path(tmp.name) if tmp else workdir
    settings = settings or load_settings(redis_url=None, database_url=f"sqlite:///{workdir / 'history.db'}",
                                         transport=transport, ml={"model_dir": str(workdir / "models")})
    result = DemoResult(simulated_hours=hours)
    tb = StandIn()
    base_url = tb.start_http()
    field_id = tb.create_asset(DEMO_FIELD["name"], DEMO_FIELD["profile"])  # the field of the field-level dashboards
    if settings.field_asset_id is None:  # the weekly field summary and the monthly model audit go to it
        settings = settings.model_copy(update={"field_asset_id": field_id})
    password = settings.tb.password.get_secret_value()
    writeback = RestWriteback(base_url, settings.tb.username, password)
    asset_writeback = RestWriteback(base_url, settings.tb.username, password, entity_type="ASSET")
    service = Service(settings, writeback, history_reader=ThingsBoardHistory(base_url, settings.tb.username, password),
                      asset_writeback=asset_writeback)
    step_s = settings.scheduler.fast_interval_s
    n_steps = int(round(hours * 3600 / step_s))
    start = DEMO_END - timedelta(seconds=n_steps * step_s)
    end_ms = int(DEMO_END.timestamp() * 1000)
    clock = {"now_ms": int(start.timestamp() * 1000)}  # the simulated clock
    service.sessions.clock_ms = lambda: clock["now_ms"]  # what-if projections continue the simulated history
    placement = _placement_jobs(base_url, settings, lambda: clock["now_ms"])
    service.router.asset_hook = placement.on_asset_event
    try:
        service.attach(_make_transport(transport, tb, settings))
        warmup_steps = WARMUP_S // step_s
        # Faults start FAULT_LEAD_S before the end (never inside the warm-up day the baselines learn),
        # so they are fully developed across the detector's 6-hour window when the demo ends.
        onset = warmup_steps + max(0, n_steps - FAULT_LEAD_S // step_s)
        synthetic = SyntheticField(wells_per_lift_type=wells_per_lift_type, seed=seed,
                                   faults=_demo_faults(wells_per_lift_type), fault_onset_step=onset,
                                   start_ms=int(start.timestamp() * 1000) - WARMUP_S * 1000, step_s=step_s)
        natural_attributes, natural_samples = _natural_flow_well(
            synthetic.start_ms, step_s, warmup_steps + n_steps, onset,
            NATURAL_FLOW_EVENT if _demo_faults(wells_per_lift_type) else None, seed)
        tokens: dict[str, str] = {}
        for well in synthetic.wells:
            device_id, token = tb.create_device(well.name, DEVICE_PROFILE_BY_LIFT_TYPE[well.lift_type])
            result.wells[well.name] = device_id
            tokens[well.name] = token
            tb.save_attributes(device_id, "SERVER_SCOPE", well.attributes)
        device_id, tokens[NATURAL_FLOW_WELL] = tb.create_device(NATURAL_FLOW_WELL,
                                                                DEVICE_PROFILE_BY_LIFT_TYPE["natural_flow"])
        result.wells[NATURAL_FLOW_WELL] = device_id
        tb.save_attributes(device_id, "SERVER_SCOPE", natural_attributes)
        bad_id, _ = tb.create_device(MISCONFIGURED_WELL["name"], MISCONFIGURED_WELL["profile"])
        result.wells[MISCONFIGURED_WELL["name"]] = bad_id
        tb.save_attributes(bad_id, "SERVER_SCOPE", MISCONFIGURED_WELL["attributes"])
        if tb.edges.auto_assign_edge_id is not None:  # gRPC Edge transport: the edge gets the field's updates
            tb.assign_asset_to_edge(field_id, tb.edges.auto_assign_edge_id)
        tb.save_attributes(field_id, "SERVER_SCOPE", DEMO_FIELD["attributes"])
        tb.wait_idle()

        by_ts = _group_samples(synthetic.samples(warmup_steps + n_steps))
        for ts_ms, values in natural_samples:
            by_ts.setdefault(ts_ms, []).append((NATURAL_FLOW_WELL, values))
        bar = _progress_bar(warmup_steps + n_steps, enabled=progress)

        def stream_ts(ts_ms: int) -> None:
            batch = by_ts.pop(ts_ms, None)
            if batch is None:
                return
            for name, values in batch:
                tb.post_device_telemetry(tokens[name], {"ts": ts_ms, "values": values})
                result.telemetry_events += 1
            tb.wait_idle()
            bar(1)

        # Warm-up: the day before the demo arrives through the same path (no tiers run), as if the
        # service had been running; the baselines of the anomaly detector are learned from it.
        for ts_ms in sorted(ts for ts in by_ts if ts < int(start.timestamp() * 1000)):
            stream_ts(ts_ms)
        for well in synthetic.wells:
            _backfill_production_history(tb, result.wells[well.name], synthetic, well, start)
        tb.wait_idle()
        # Each valid well's LSTM autoencoder, trained from its ThingsBoard history as POST /train-lstm-ae trains: the
        # warm-up day (the sparse daily production points before it are left out of training).
        result.lstm_ae = _train_lstm_ae(service, result.wells, int(start.timestamp() * 1000))

        def stream(now: datetime) -> None:
            clock["now_ms"] = int(now.timestamp() * 1000)
            stream_ts(clock["now_ms"])

        ran = service.scheduler.simulate(start, start + timedelta(seconds=n_steps * step_s), before_tick=stream)
        for _, tier in ran:
            result.tier_runs[tier] = result.tier_runs.get(tier, 0) + 1
        bar(0, close=True)
        clock["now_ms"] = end_ms
        # A field engineer asks for a planner run on the field (the dashboard's button writes this attribute).
        tb.save_attributes(field_id, "SERVER_SCOPE", {"placement_run_requested": True})
        tb.wait_idle()
        result.placement = {"field": DEMO_FIELD["name"], "status": _wait_placement(placement, field_id)}
        # An operator's simulation session on one well of each lift type: setpoint move, water-cut move, reset, close
        # (before the slider move below, whose session stays open for the simulation dashboard).
        for lift_type in SIM_SETPOINT_MOVES:
            well = next((w for w in synthetic.wells if w.lift_type == lift_type), None)
            if well is not None:
                result.simulation[well.name] = _simulation_session(tb, service, writeback, result.wells[well.name])
        esp = next((w for w in synthetic.wells if w.lift_type == "esp"), None)
        if esp is not None:  # a dashboard slider's write; the stand-in delivers sim_param_* to the service
            parameters = {"water_cut_pct": round(min(99.0, 100.0 * esp.attributes.get("water_cut_frac", 0.3)
                                                      + WHAT_IF_WATER_CUT_STEP_PCT), 4)}
            tb.save_attributes(result.wells[esp.name], "SERVER_SCOPE",
                               {f"sim_param_{k}": v for k, v in parameters.items()})
            tb.wait_idle()
            service.sessions.wait_idle(60.0)
            result.what_if = {"well": esp.name, "parameters": parameters}
        writeback.flush()
        asset_writeback.flush()
        for name, device_id in result.wells.items():
            result.attributes[name] = tb.get_attributes(device_id, "SERVER_SCOPE")
        if result.what_if:
            attributes = result.attributes[result.what_if["well"]]
            result.what_if["attributes"] = {k: attributes[k] for k in WHAT_IF_KEYS if k in attributes}
        result.dead_letters = len(service.history.dead_letters(limit=10_000))
        result.dashboards = _render_dashboards(base_url, end_ms, preview)
    finally:
        placement.close()
        service.close()
        tb.stop()
        if tmp:
            tmp.cleanup()
    return result


def _simulation_session(tb: Any, service: Any, writeback: Any, device_id: str) -> dict[str, Any]:
    """One operator's what-if session on a well: open it (``sessions.create``, what ``POST /simulation/create``
    calls), a setpoint move and a water-cut move (``sim_param_<p>`` slider writes through the stand-in, which the service
    receives as ATTRIBUTES_UPDATED and simulates), a reset of the water cut (``sessions.reset_params``, what
    ``PATCH /simulation/{id}/reset-params`` calls), then ``sessions.close``; what the stand-in holds at each step:
    ``{"lift_type", "session_id", "written": [{attribute: value}, ...], "moves": [...], "projection_points",
    "reset", "closed", "remaining_after_close": {"attributes", "projection_points", "session_open"}}``."""
    from tb_bridge.adapters.whatif import SIM_PARAMETERS
    from tb_bridge.writeback.keys import ALL_SIM_PROJECTION_KEYS, SIM_PROJECTION_KEYS

    sessions = service.sessions
    config = service.registry.config(device_id)
    lift_type = config.lift_type
    setpoint, step, low_field, high_field = SIM_SETPOINT_MOVES[lift_type]

    def settle() -> None:  # the slider events, the service's writes and their echoes, all done
        for _ in range(2):
            tb.wait_idle()
            sessions.wait_idle(60.0)
            writeback.flush()
            tb.wait_idle()
            sessions.wait_idle(60.0)

    def attributes() -> dict[str, Any]:
        return {k: v for k, v in tb.get_attributes(device_id, "SERVER_SCOPE").items() if k.startswith("sim_")}

    def projection() -> dict[str, int]:
        series = tb.get_timeseries(device_id, ALL_SIM_PROJECTION_KEYS, 0, _FAR_FUTURE_MS)
        return {k: len(v) for k, v in series.items() if v}

    out: dict[str, Any] = {"lift_type": lift_type, "written": [], "moves": []}
    session = sessions.create(device_id)
    settle()
    out["session_id"] = session["session_id"]
    original = session["original"]
    low, high = float(getattr(config, low_field)), float(getattr(config, high_field))
    spec = SIM_PARAMETERS[setpoint]
    low, high = max(low, spec.low), min(high, spec.high)
    now = float(original[setpoint])
    target = now + step if now + step <= high else now - step
    target = round(min(high, max(low, target)), 4)
    water_cut = round(min(SIM_PARAMETERS["water_cut_pct"].high,
                          float(original["water_cut_pct"]) + SIM_WATER_CUT_STEP_PCT), 4)
    for name, value in ((setpoint, target), ("water_cut_pct", water_cut)):
        key = f"sim_param_{name}"
        tb.save_attributes(device_id, "SERVER_SCOPE", {key: value})  # the dashboard slider's write
        settle()
        after = attributes()
        liquid = next((r for r in after.get("sim_compare_data") or [] if r.get("quantity") == "liquid rate"), {})
        out["written"].append({key: value})
        out["moves"].append({"parameter": name, "unit": SIM_PARAMETERS[name].unit, "from": original[name], "to": value,
                             "status": after.get("sim_status"), "error": after.get("sim_error", ""),
                             "original_production_bpd": liquid.get("original"),
                             "production_bpd": after.get("sim_opt_production_bpd"),
                             "production_delta_bpd": after.get("sim_compare_production_delta_bpd")})
    out["reset"] = sessions.reset_params(session["session_id"], ["water_cut_pct"])
    settle()
    out["production_after_reset_bpd"] = attributes().get("sim_opt_production_bpd")
    out["projection_points"] = {k: n for k, n in projection().items() if k in SIM_PROJECTION_KEYS[lift_type]}
    out["closed"] = sessions.close(session["session_id"])
    settle()
    out["remaining_after_close"] = {"attributes": sorted(attributes()), "projection_points": projection(),
                                    "session_open": sessions.by_well(device_id) is not None}
    return out


def _backfill_production_history(tb: Any, device_id: str, synthetic: Any, well: Any, demo_start: datetime,
                                 days: int = HISTORY_DAYS) -> None:
    """Daily liquid rates for the ``days`` before the demo (Arps decline + noise), as a real well's
    ThingsBoard history would hold them; the daily tier's decline analysis reads them back over REST."""
    t_days, oil_bpd = synthetic.production_history(well.name, days)
    liquid_bpd = oil_bpd / max(1e-6, 1.0 - float(well.attributes.get("water_cut_frac", 0.0)))
    start_ms = int(demo_start.timestamp() * 1000) - WARMUP_S * 1000 - days * DAY_MS
    tb.save_timeseries(device_id, [(start_ms + int(t) * DAY_MS, {"flow_rate_bpd": float(q)})
                                   for t, q in zip(t_days, liquid_bpd)])


def _natural_flow_well(start_ms: int, step_s: int, n_steps: int, onset_step: int, event: str | None, seed: int
                       ) -> tuple[dict[str, Any], list[tuple[int, dict[str, float]]]]:
    """The naturally flowing well's attributes and its ``n_steps`` samples ``(ts_ms, values)`` from ``start_ms``
    (the lifted wells' grid): a downhole-gauge recording (``engines.fielddata.downhole.make_recording``, sensor
    noise, no gaps or frozen values) with ``event`` from ``onset_step``."""
    from engines.fielddata.downhole import WellParams, make_recording

    params = WellParams()
    recording = make_recording(event, days=n_steps * step_s / 86_400, step_s=step_s,
                               onset_day=onset_step * step_s / 86_400, seed=seed, params=params, artifacts=False)
    attributes = {"lift_type": "natural_flow", "reservoir_pressure_psi": params.reservoir_pressure_psi,
                  "productivity_index_bpd_psi": params.productivity_index_bpd_psi,
                  "reservoir_temperature_f": params.reservoir_temperature_f, "water_cut_frac": params.water_cut_frac,
                  **NATURAL_FLOW_ATTRIBUTES}
    keys = list(recording.values)
    block = [recording.values[k] for k in keys]
    samples = [(start_ms + t * step_s * 1000, {k: round(float(col[t]), 4) for k, col in zip(keys, block)})
               for t in range(n_steps)]
    return attributes, samples


def _train_lstm_ae(service: Any, wells: dict[str, str], now_ms: int) -> dict[str, Any]:
    """Train every valid well's LSTM autoencoder from its ThingsBoard history at ``now_ms`` (the warm-up day) with
    :class:`tb_bridge.ml_training.LstmAeTraining`, the run ``POST /train-lstm-ae`` starts, ``LSTM_AE_EPOCHS``
    epochs each; without PyTorch one log line says the LSTM-AE widgets stay empty. The training's per-epoch log
    is kept out of the demo's output."""
    import time

    from engines.ml.lstm_ae import TorchUnavailableError
    from tb_bridge.ml_training import LstmAeTraining

    ids = [c.entity_id for c in service.registry.valid_wells()]
    name_of = {device_id: name for name, device_id in wells.items()}
    training = LstmAeTraining(service, clock_ms=lambda: now_ms)
    training_log = logging.getLogger("tb_bridge.ml_training")
    level = training_log.level
    started = time.perf_counter()
    training_log.setLevel(logging.WARNING)
    try:
        training.start(ids, LSTM_AE_EPOCHS)
        training.join()
    except TorchUnavailableError:
        log.warning(LSTM_AE_NO_TORCH)
        return {"status": "torch_missing", "detail": LSTM_AE_NO_TORCH}
    finally:
        training_log.setLevel(level)
    records = service.model_store.latest_many("lstm_ae", ids)
    out = {"status": training.state["status"], "epochs": LSTM_AE_EPOCHS,
           "versions": {name_of.get(i, i): records[i].version for i in ids if i in records},
           "failed": {name_of.get(i, i): reason for i, reason in training.state["failed"].items()},
           "seconds": round(time.perf_counter() - started, 1)}
    log.info("LSTM autoencoders trained on the warm-up day for %d of %d wells (%d epochs, %.1f s)%s",
             len(out["versions"]), len(ids), LSTM_AE_EPOCHS, out["seconds"],
             "; failed: " + "; ".join(f"{k}: {v}" for k, v in out["failed"].items()) if out["failed"] else "")
    return out


def _demo_faults(wells_per_lift_type: int) -> dict[str, str]:
    """One injected fault per lift type on the first well of each type, the one a well-detail dashboard opens
    on (the others stay healthy)."""
    if wells_per_lift_type < 2:
        return {}
    return {"ESP-01": "pump_wear", "SRP-01": "fluid_pound", "PCP-01": "sand_up", "GL-01": "casing_heading"}


def _placement_jobs(base_url: str, settings: Settings, clock_ms: Callable[[], int]) -> Any:
    """Planner runs for the demo's field asset, read and written over the stand-in's REST API."""
    from tb_bridge.placement_jobs import PlacementJobs, RestAttributeReader
    from tb_bridge.writeback.rest import RestWriteback

    user, password = settings.tb.username, settings.tb.password.get_secret_value()
    return PlacementJobs(RestAttributeReader(base_url, user, password),
                         RestWriteback(base_url, user, password, entity_type="ASSET"), clock_ms=clock_ms,
                         max_run_s=PLACEMENT_TIMEOUT_S)


def _wait_placement(placement: Any, field_id: str) -> str:
    """The status of the field's planner run once it ended (``none`` when no run started)."""
    job = placement.job(field_id)
    if job is None:
        log.warning("the demo's field %s (id %s) started no planner run", DEMO_FIELD["name"], field_id)
        return "none"
    job.wait(PLACEMENT_TIMEOUT_S + 60.0)
    placement.writeback.flush()
    return job.status


def _render_dashboards(base_url: str, now_ms: int, preview: Path | None) -> dict[str, dict[str, int]]:
    """Every bundled dashboard drawn from the stand-in at ``now_ms``: the data points of each widget; the HTML
    page goes to ``preview`` when given."""
    from tb_bridge.preview.data import RestData
    from tb_bridge.preview.render import render_dashboards, render_page, widget_points
    from tb_bridge.standin.core import TENANT_ADMIN_EMAIL, TENANT_ADMIN_PASSWORD
    from tb_bridge.tbsetup.bundle import bundled_dashboards
    from tb_bridge.tbsetup.client import TbClient

    dashboards = bundled_dashboards()
    with TbClient(base_url, TENANT_ADMIN_EMAIL, TENANT_ADMIN_PASSWORD) as client:
        views = render_dashboards(dashboards, RestData(client), now_ms)
    if preview is not None:
        page = render_page(dashboards, None, now_ms, title="Atilax demo: dashboards at the end of the demo",
                           views=views)
        Path(preview).write_text(page, encoding="utf-8")
    return widget_points(views)


def _make_transport(name: str, tb: Any, settings: Settings) -> Any:
    if name == "inprocess":
        from tb_bridge.transport.inprocess import InProcessTransport

        return InProcessTransport(tb)
    if name == "grpc":
        from tb_bridge.transport.demo_edge import edge_transport_for_standin

        return edge_transport_for_standin(tb)
    raise ValueError(f"the demo supports the transports 'grpc' and 'inprocess', not {name!r}")


def _group_samples(samples: Any) -> dict[int, list[tuple[str, dict[str, Any]]]]:
    grouped: dict[int, list[tuple[str, dict[str, Any]]]] = {}
    for name, ts_ms, values in samples:
        grouped.setdefault(int(ts_ms), []).append((name, values))
    return grouped


def _progress_bar(total: int, enabled: bool) -> Callable[..., None]:
    """A tqdm bar on stderr; off unless ``enabled`` and stderr is a terminal (a log file gets no bar)."""
    if not enabled or not sys.stderr.isatty():
        return lambda n, close=False: None
    from tqdm import tqdm

    bar = tqdm(total=total, unit="step", desc="simulated 5-min steps", file=sys.stderr, leave=True)

    def update(n: int, close: bool = False) -> None:
        if n:
            bar.update(n)
        if close:
            bar.close()

    return update


def format_result(result: DemoResult, out: TextIO = sys.stdout) -> None:
    """A readable table per well of what the service wrote back."""
    from tb_bridge.cli.io import format_table

    out.write(f"\nSimulated {result.simulated_hours:g} h: {result.telemetry_events:,} telemetry events, "
              f"tier runs {json.dumps(result.tier_runs)}, dead-lettered events {result.dead_letters:,}\n")
    for name in result.wells:
        attributes = result.attributes.get(name, {})
        rows = [(key, _display(key, attributes[key])) for key in SUMMARY_KEYS
                if key in attributes and attributes[key] not in ("", None)]
        opt_count = sum(1 for key in attributes if key.startswith("opt_"))
        out.write(f"\n{name}  ({opt_count} opt_* attributes written)\n")
        out.write(format_table(["attribute", "value"], rows) + "\n")
    if result.what_if:
        w = result.what_if
        changes = ", ".join(f"{k} = {v}" for k, v in w["parameters"].items())
        out.write(f"\nWhat-if on {w['well']} (a simulation-dashboard slider: {changes})\n")
        rows = [(k, _display(k, v)) for k, v in w.get("attributes", {}).items() if v not in ("", None)]
        out.write(format_table(["attribute", "value"], rows) + "\n")
    for name, sim in result.simulation.items():
        _format_simulation(name, sim, out)
    if result.placement:
        out.write(f"\nField-development planner on {result.placement['field']}: {result.placement['status']}\n")
    if result.lstm_ae:
        lstm = result.lstm_ae
        if lstm["status"] == "torch_missing":
            out.write(f"\nLSTM autoencoders: none ({lstm['detail']})\n")
        else:
            failed = "; ".join(f"{k}: {v}" for k, v in lstm["failed"].items())
            out.write(f"\nLSTM autoencoders trained on the warm-up day: {len(lstm['versions'])} wells, {lstm['epochs']} "
                      f"epochs each, {lstm['seconds']:g} s" + (f"; failed: {failed}" if failed else "") + "\n")
    if result.dashboards:
        rows = [(stem, f"{sum(1 for n in widgets.values() if n)} of {len(widgets)}",
                 ", ".join(t for t, n in widgets.items() if not n) or "-")
                for stem, widgets in result.dashboards.items()]
        out.write("\nDashboards at the end of the demo\n"
                  + format_table(["dashboard", "widgets with data", "empty widgets"], rows) + "\n")


def _format_simulation(name: str, sim: dict[str, Any], out: TextIO) -> None:
    """A few lines per simulation session: each move's production answer, the reset, the projection, the close."""
    def bpd(value: Any) -> str:
        return "-" if value is None else f"{_number(float(value))} bbl/d"

    out.write(f"\nSimulation session on {name} ({sim.get('lift_type')})\n")
    for i, m in enumerate(sim.get("moves", [])):
        unit = m.get("unit", "")
        delta = m.get("production_delta_bpd")
        out.write(f"  {'then ' if i else ''}{m['parameter']} {_number(float(m['from']))} -> {_number(float(m['to']))} {unit}: production "
                  f"{bpd(m.get('original_production_bpd'))} -> {bpd(m.get('production_bpd'))}"
                  + (f" ({float(delta):+,.1f} bbl/d vs the original)" if delta is not None else "")
                  + (f"  error: {m['error']}" if m.get("error") else "") + "\n")
    reset = sim.get("reset") or {}
    if reset:
        modified = ", ".join(f"{k} = {_number(float(v))}" for k, v in reset.get("remaining_modified", {}).items())
        out.write(f"  reset {', '.join(reset.get('restored', [])) or '(nothing)'}: production "
                  f"{bpd(sim.get('production_after_reset_bpd'))}; still modified: {modified or '-'}\n")
    points = ", ".join(f"{k} {n}" for k, n in sim.get("projection_points", {}).items())
    out.write(f"  projection points per key: {points or 'none'}\n")
    left = sim.get("remaining_after_close", {})
    out.write(f"  closed: {len(left.get('attributes', []))} sim_* attributes and "
              f"{sum(left.get('projection_points', {}).values())} projection points remain\n")


#: Units of printed values by key-name suffix, for keys the writeback table gives none (e.g. ``sim_param_*``).
_SUFFIX_UNITS = (("_bpd", "bbl/d"), ("_psi", "psi"), ("_hz", "Hz"), ("_pct", "%"), ("_mscfd", "Mscf/d"), ("_spm", "spm"),
                 ("_rpm", "rpm"), ("_kw", "kW"), ("_ft", "ft"), ("_scf_stb", "scf/STB"), ("_bpd_psi", "bbl/d/psi"))


def _unit(key: str) -> str:
    from tb_bridge.writeback.keys import spec_for

    spec = spec_for(key)
    if spec is not None and spec.unit and spec.value_type == "number":
        return spec.unit
    return next((unit for suffix, unit in sorted(_SUFFIX_UNITS, key=lambda p: -len(p[0])) if key.endswith(suffix)), "")


def _number(value: float) -> str:
    """Grouped digits: whole numbers from 1,000 up, else at most 3 decimals."""
    if abs(value) >= 1000:
        return f"{value:,.0f}"
    return f"{value:,.3f}".rstrip("0").rstrip(".") if value != int(value) else f"{int(value):,}"


def _display(key: str, value: Any) -> str:
    """A printed value: numbers with grouped digits and the key's unit; text in full (errors and warnings are
    never cut); JSON values (curves, tables) summarized."""
    if isinstance(value, bool):
        return str(value).lower()
    if isinstance(value, (int, float)):
        unit = _unit(key)
        if unit[:1].isdigit():  # a scale (e.g. a 0-100 score), not a unit
            return f"{_number(float(value))} (scale {unit})"
        return f"{_number(float(value))} {unit}".rstrip()
    if isinstance(value, str):
        return value
    text = json.dumps(value)
    return text if len(text) <= 90 else text[:87] + "..."
