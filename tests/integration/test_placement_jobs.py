"""Field-development planner from ThingsBoard (issue 9 item 7), end to end against the stand-in over REST.

A field asset carries ``placement_case``; setting ``placement_run_requested`` goes stand-in -> in-process
transport -> service router -> asset hook -> PlacementJobs (attributes read back over REST) ->
``run_placement`` -> REST writeback (ASSET entities) -> stand-in. The written NPV, cells, economics and
profile are compared with ``run_placement`` called directly on the same case and seed.
"""
from __future__ import annotations

import json
import time

import httpx
import numpy as np
import pytest

from engines.reservoir.case import CASES_DIR, case_from_dict
from engines.reservoir.planner import run_placement
from tb_bridge.cli.main import main as cli_main
from tb_bridge.config import load_settings
from tb_bridge.placement_jobs import PlacementJobs, RestAttributeReader, case_from_attributes, PlacementInputError
from tb_bridge.service import Service
from tb_bridge.standin import StandIn
from tb_bridge.standin.core import TENANT_ADMIN_EMAIL, TENANT_ADMIN_PASSWORD
from tb_bridge.transport.inprocess import InProcessTransport
from tb_bridge.transport.loop_guard import LoopGuard
from tb_bridge.writeback.keys import OWN_PREFIXES
from tb_bridge.writeback.rest import RestWriteback
from tests.polling import wait_for

SERVICE_EMAIL, SERVICE_PASSWORD = "atilax@svc.local", "svc-secret"
MS_PER_DAY = 86_400_000


def _small_case(pop: int = 12, generations: int = 6) -> dict:
    doc = json.loads((CASES_DIR / "thesis_5x5.json").read_text())
    doc["optimizer"] = {**doc["optimizer"], "pop_size": pop, "n_generations": generations}
    return doc


@pytest.fixture()
def field(tmp_path):
    """Stand-in over HTTP, a service (router with the placement hook) on the in-process transport."""
    tb = StandIn()
    svc_user = tb.create_user(SERVICE_EMAIL, SERVICE_PASSWORD)
    url = tb.start_http()
    writeback = RestWriteback(url, SERVICE_EMAIL, SERVICE_PASSWORD, entity_type="ASSET", concurrency=1)
    device_writeback = RestWriteback(url, SERVICE_EMAIL, SERVICE_PASSWORD, concurrency=1)
    jobs = PlacementJobs(RestAttributeReader(url, SERVICE_EMAIL, SERVICE_PASSWORD), writeback,
                         progress_interval_s=0.0)
    service = Service(load_settings(database_url=f"sqlite:///{tmp_path / 'history.db'}"), device_writeback,
                      own_user_id=svc_user.id)
    service.router.asset_hook = jobs.on_asset_event
    service.attach(InProcessTransport(tb, loop_guard=LoopGuard(own_user_ids={svc_user.id},
                                                               own_key_prefixes=OWN_PREFIXES)))
    admin = httpx.Client(base_url=url, timeout=30)
    token = admin.post("/api/auth/login", json={"username": TENANT_ADMIN_EMAIL, "password": TENANT_ADMIN_PASSWORD}).json()["token"]
    admin.headers["X-Authorization"] = f"Bearer {token}"
    yield tb, jobs, admin, url
    jobs.stop_all()
    admin.close()
    writeback.close()
    device_writeback.close()
    tb.stop()


def _create_field(admin: httpx.Client, name: str, attributes: dict) -> str:
    r = admin.post("/api/asset", json={"name": name, "type": "Field"})
    assert r.status_code == 200, r.text
    asset_id = r.json()["id"]["id"]
    assert r.json()["id"]["entityType"] == "ASSET"
    r = admin.post(f"/api/plugins/telemetry/ASSET/{asset_id}/attributes/SERVER_SCOPE", json=attributes)
    assert r.status_code == 200, r.text
    return asset_id


def _attrs(admin: httpx.Client, asset_id: str) -> dict:
    rows = admin.get(f"/api/plugins/telemetry/ASSET/{asset_id}/values/attributes/SERVER_SCOPE").json()
    return {row["key"]: row["value"] for row in rows}


def _wait_job(jobs: PlacementJobs, asset_id: str, timeout_s: float = 60.0):
    deadline = time.monotonic() + timeout_s
    while jobs.job(asset_id) is None and time.monotonic() < deadline:
        time.sleep(0.01)
    job = jobs.job(asset_id)
    assert job is not None, "the trigger did not start a run"
    assert job.wait(max(0.0, deadline - time.monotonic())), "the run did not end"
    return job


def test_assets_in_the_standin_rest_api(field):
    tb, _jobs, admin, _url = field
    asset_id = _create_field(admin, "Field A", {"placement_case": "thesis_5x5"})
    page = admin.get("/api/tenant/assets", params={"pageSize": 10, "page": 0}).json()
    assert [(a["name"], a["type"], a["id"]["id"]) for a in page["data"]] == [("Field A", "Field", asset_id)]
    assert admin.get(f"/api/asset/{asset_id}").json()["name"] == "Field A"
    assert admin.post("/api/asset", json={"name": "Field A"}).status_code == 400
    assert tb.get_attributes(asset_id, "SERVER_SCOPE") == {"placement_case": "thesis_5x5"}
    # an asset id is not a device id, and vice versa
    device_id, _ = tb.create_device("W-1", "ESP")
    assert admin.get(f"/api/plugins/telemetry/ASSET/{device_id}/values/attributes/SERVER_SCOPE").status_code == 404
    assert admin.get(f"/api/plugins/telemetry/DEVICE/{asset_id}/values/attributes/SERVER_SCOPE").status_code == 404


def test_rule_chain_trigger_writes_the_best_plan_and_profile(field):
    tb, jobs, admin, _url = field
    doc = _small_case()
    asset_id = _create_field(admin, "Field 5x5", {"placement_case": json.dumps(doc), "placement_seed": 3})
    assert jobs.job(asset_id) is None  # no trigger yet
    before_ms = int(time.time() * 1000)
    r = admin.post(f"/api/plugins/telemetry/ASSET/{asset_id}/attributes/SERVER_SCOPE",
                   json={"placement_run_requested": True})
    assert r.status_code == 200
    job = _wait_job(jobs, asset_id)
    assert job.status == "done", job.error

    expected = run_placement(case_from_dict(doc), 3)
    attrs = _attrs(admin, asset_id)
    assert attrs["opt_placement_status"] == "done"
    assert attrs["opt_placement_npv_musd"] == pytest.approx(expected.npv_usd / 1e6, rel=1e-12)
    assert attrs["opt_placement_well_count"] == expected.well_count == len(attrs["opt_placement_cells"])
    assert attrs["opt_placement_cells"] == [list(c) for c in expected.well_cells]
    conv = attrs["opt_placement_convergence"]
    assert len(conv) == 6 + 1  # initial population + 6 generations
    np.testing.assert_allclose(conv, np.asarray(expected.history_best_npv_usd) / 1e6, rtol=1e-12)
    assert all(b >= a for a, b in zip(conv, conv[1:]))  # best so far never decreases
    assert conv[-1] == pytest.approx(attrs["opt_placement_npv_musd"], rel=1e-12)
    econ = attrs["opt_placement_economics"]
    e = expected.economics
    # NPV = discounted cash flow - capital (all capital at t = 0), in M$; the breakdown adds up
    assert econ["npv_musd"] == pytest.approx(econ["discounted_cash_flow_musd"] - econ["capital_musd"], rel=1e-9)
    assert econ["capital_musd"] == pytest.approx(e["capital_usd"] / 1e6, rel=1e-12)
    # thesis capital rule: 100 M$ + 10 M$/well + 20 M$ per well beyond 5
    n = expected.well_count
    assert econ["capital_musd"] == pytest.approx(100 + 10 * n + 20 * max(0, n - 5), rel=1e-12)
    assert econ["utility_index"] == pytest.approx(econ["npv_musd"] / econ["capital_musd"], rel=1e-9)
    assert econ["cumulative_oil_stb"] == pytest.approx(e["cumulative_oil_stb"], rel=1e-12)

    # the profile: 24 monthly points stamped from the run start, the best plan's field rate
    series = tb.get_timeseries(asset_id, ["opt_placement_oil_rate_bpd"], 0, 2**62)["opt_placement_oil_rate_bpd"]
    assert len(series) == 24
    start = series[0][0] - 30 * MS_PER_DAY
    assert before_ms <= start <= int(time.time() * 1000)
    assert [ts - start for ts, _ in series] == [30 * MS_PER_DAY * (k + 1) for k in range(24)]
    np.testing.assert_allclose([v for _, v in series], expected.oil_rate_stb_d, rtol=1e-12)
    # cumulative oil = 30 days x the end-of-step rates (the reference interpretation)
    assert 30.0 * sum(v for _, v in series) == pytest.approx(econ["cumulative_oil_stb"], rel=1e-9)

    # our own writes (opt_* only) did not start another run
    tb.wait_idle()
    assert jobs.job(asset_id) is job


def test_stop_request_ends_the_run_with_status_stopped(field):
    tb, jobs, admin, _url = field
    doc = _small_case(pop=50, generations=5000)  # minutes if not stopped
    asset_id = _create_field(admin, "Field stop", {"placement_case": doc, "placement_seed": 1})
    admin.post(f"/api/plugins/telemetry/ASSET/{asset_id}/attributes/SERVER_SCOPE", json={"placement_run_requested": True})
    deadline = time.monotonic() + 30
    while time.monotonic() < deadline:  # the run reports progress before we stop it
        conv = _attrs(admin, asset_id).get("opt_placement_convergence")
        if conv and len(conv) >= 2:
            break
        time.sleep(0.02)
    assert _attrs(admin, asset_id)["opt_placement_status"] == "running"
    running = jobs.job(asset_id)
    # the request written again while the run works is refused, not queued (issue 17, #11)
    admin.post(f"/api/plugins/telemetry/ASSET/{asset_id}/attributes/SERVER_SCOPE", json={"placement_run_requested": True})
    assert wait_for(lambda: "already running" in _attrs(admin, asset_id).get("opt_placement_refused", ""), 30)
    assert jobs.job(asset_id) is running
    admin.post(f"/api/plugins/telemetry/ASSET/{asset_id}/attributes/SERVER_SCOPE", json={"placement_stop_requested": True})
    job = _wait_job(jobs, asset_id, timeout_s=30)
    assert job is running and job.status == "stopped"
    attrs = _attrs(admin, asset_id)
    assert attrs["opt_placement_status"] == "stopped"
    assert attrs["opt_placement_stop_reason"] == "stop requested (placement_stop_requested)"
    conv = attrs["opt_placement_convergence"]
    assert 2 <= len(conv) < 5001
    # the best plan so far is written, consistent with its own economics
    assert attrs["opt_placement_npv_musd"] == pytest.approx(conv[-1], rel=1e-12)
    assert attrs["opt_placement_npv_musd"] == pytest.approx(job.result.npv_usd / 1e6, rel=1e-12)
    assert attrs["opt_placement_well_count"] == len(attrs["opt_placement_cells"]) >= 1


@pytest.mark.parametrize("case_value, message", [
    ("no_such_case", "unknown case 'no_such_case'"),
    ("{not json", "malformed JSON"),
    ("/etc/passwd", "unknown case"),
])
def test_bad_case_sets_status_error(field, case_value, message):
    tb, jobs, admin, _url = field
    asset_id = _create_field(admin, f"Field bad {case_value}", {"placement_case": case_value})
    admin.post(f"/api/plugins/telemetry/ASSET/{asset_id}/attributes/SERVER_SCOPE", json={"placement_run_requested": True})
    job = _wait_job(jobs, asset_id)
    assert job.status == "error"
    attrs = _attrs(admin, asset_id)
    assert attrs["opt_placement_status"] == "error"
    assert message in attrs["opt_error"]
    assert "opt_placement_npv_musd" not in attrs


def test_case_beyond_a_limit_is_refused_naming_field_value_and_limit(field):
    """The hostile case of issue 17 (#11): 20000 plans x 100000 generations would burn a core for days."""
    tb, jobs, admin, _url = field
    doc = _small_case(pop=20000, generations=100000)
    asset_id = _create_field(admin, "Field huge", {"placement_case": doc})
    admin.post(f"/api/plugins/telemetry/ASSET/{asset_id}/attributes/SERVER_SCOPE", json={"placement_run_requested": True})
    job = _wait_job(jobs, asset_id, timeout_s=30)
    assert job.status == "error" and job.result is None
    attrs = _attrs(admin, asset_id)
    assert attrs["opt_placement_status"] == "error"
    assert "optimizer.pop_size = 20000 exceeds the limit of 1000" in attrs["opt_error"]
    assert "opt_placement_permeability_md" not in attrs and "opt_placement_convergence" not in attrs  # nothing started


def test_invalid_case_document_and_seed_are_refused():
    doc = _small_case()
    doc["grid"] = {**doc["grid"], "nx": -1}
    with pytest.raises(PlacementInputError, match="invalid case"):
        case_from_attributes({"placement_case": doc})
    with pytest.raises(PlacementInputError, match="placement_seed"):
        case_from_attributes({"placement_case": "thesis_5x5", "placement_seed": -2})
    with pytest.raises(PlacementInputError, match="missing"):
        case_from_attributes({})
    case, seed = case_from_attributes({"placement_case": "thesis_5x5", "placement_seed": "7"})
    assert (case.reservoir.nx, case.reservoir.ny, seed) == (5, 5, 7)


def test_cli_tb_run_starts_a_run_manually(field, capsys):
    tb, _jobs, admin, url = field
    doc = _small_case(pop=10, generations=4)
    asset_id = _create_field(admin, "Field CLI", {"placement_case": doc, "placement_seed": 5})
    rc = cli_main(["placement", "tb-run", "--asset", asset_id, "--url", url, "--username", SERVICE_EMAIL,
                   "--password", SERVICE_PASSWORD, "--json"])
    out = json.loads(capsys.readouterr().out)
    assert rc == 0 and out["status"] == "done"
    expected = run_placement(case_from_dict(doc), 5)
    assert out["npv_usd"] == pytest.approx(expected.npv_usd, rel=1e-12)
    attrs = _attrs(admin, asset_id)
    assert attrs["opt_placement_status"] == "done"
    assert attrs["opt_placement_npv_musd"] == pytest.approx(expected.npv_usd / 1e6, rel=1e-12)
