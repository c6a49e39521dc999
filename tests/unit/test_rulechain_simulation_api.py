"""The rule chain's alternative simulation branch: with ``var api = true`` a slider write (an attribute update of
``sim_param_*`` keys only) goes through ThingsBoard's REST API call node to the HTTP API's
``POST /simulation/reactive``, run here by the rule-chain runner against the real API over an in-process service."""
from __future__ import annotations

import json

import pytest
from fastapi.testclient import TestClient

from engines.fielddata import SyntheticField
from tb_bridge.api import create_app
from tb_bridge.config import load_settings
from tb_bridge.events import EventKind, WellEvent
from tb_bridge.rulechain_runner import RecordingOutputs, RuleEngine, load_rule_chain
from tb_bridge.service import Service
from tb_bridge.standin.messages import TbMsg
from tb_bridge.tbsetup.bundle import (bundled_rule_chains, configure_endpoints, select_simulation_path,
                                      select_transport, without_secrets)
from tests.doubles import RecordingWriteback

WELL = {"id": "dev-1", "name": "W-1", "type": "ESP"}
KEY = "chain-key"


def _msg(msg_type, data):
    return TbMsg(msg_type, "dev-1", {"deviceName": "W-1", "deviceType": "ESP", "ts": "1700000000000",
                                     "scope": "SERVER_SCOPE", "userId": "u-1"}, json.dumps(data))


@pytest.fixture
def rig(tmp_path):
    settings = load_settings(database_url=f"sqlite:///{tmp_path / 'h.db'}", api={"keys": [KEY]})
    service = Service(settings, RecordingWriteback())
    esp = SyntheticField({"esp": 1}, seed=4).wells[0]
    service.handle(WellEvent(EventKind.ATTRIBUTES_SNAPSHOT, "dev-1", 0, esp.attributes, well_name="W-1", source="test"))
    client = TestClient(create_app(service, settings))

    def http(method, url, headers, body, timeout):
        answer = client.request(method, url.replace("http://atilax:8000", ""), content=body, headers=headers)
        return answer.status_code, answer.text

    wo = next(c for c in bundled_rule_chains() if any(n["name"] == "Simulation path" for n in c["metadata"]["nodes"]))
    wo = configure_endpoints(select_simulation_path(select_transport(wo, "mqtt"), True),
                             api_url="http://atilax:8000", api_key=KEY)
    out = RecordingOutputs(fields={"dev-1": WELL}, http=http)
    yield service, RuleEngine({"wo": load_rule_chain(wo)}, out), out, wo
    service.close()


def test_a_slider_write_goes_to_post_simulation_reactive(rig):
    service, engine, out, _ = rig
    engine.process(_msg("ATTRIBUTES_UPDATED", {"sim_param_water_cut_pct": 45.0}), "wo")
    (method, url, headers, body), = out.rest
    assert (method, url, headers["X-API-Key"]) == ("POST", "http://atilax:8000/simulation/reactive", KEY)
    assert json.loads(body) == {"well_id": "dev-1", "params": {"sim_param_water_cut_pct": 45.0}}
    assert out.mqtt == [] and out.logs == []  # answered 2xx: nothing on the failure log
    session = service.sessions.by_well("dev-1")
    assert session["modified"] == {"water_cut_pct": 45.0}
    assert service.writeback.latest["dev-1"]["sim_param_water_cut_pct"] == 45.0


def test_everything_else_stays_on_the_transport(rig):
    service, engine, out, _ = rig
    engine.process(_msg("ATTRIBUTES_UPDATED", {"sim_param_water_cut_pct": 45.0, "reservoir_pressure_psi": 2400}), "wo")
    engine.process(_msg("POST_TELEMETRY_REQUEST", {"flow_rate_bpd": 500.0}), "wo")
    engine.process(_msg("ATTRIBUTES_UPDATED", {"reservoir_pressure_psi": 2400}), "wo")
    assert out.rest == [] and len(out.mqtt) == 3


def test_a_refused_request_is_logged_and_the_default_is_the_transport(rig):
    service, engine, out, wo = rig
    engine.process(_msg("ATTRIBUTES_UPDATED", {"sim_param_no_such_parameter": 1.0}), "wo")
    assert len(out.rest) == 1 and len(out.logs) == 1  # 422 -> Failure -> Log failure
    default = load_rule_chain(select_simulation_path(wo, False))
    plain = RecordingOutputs(fields={"dev-1": WELL})
    RuleEngine({"wo": default}, plain).process(_msg("ATTRIBUTES_UPDATED", {"sim_param_water_cut_pct": 45.0}), "wo")
    assert plain.rest == [] and len(plain.mqtt) == 1
    exported = without_secrets(wo)["metadata"]["nodes"]
    api_node = next(n for n in exported if n["name"] == "POST to Atilax API (simulation)")
    assert "X-API-Key" not in api_node["configuration"]["headers"]


def test_tb_setup_installs_the_branch_when_asked():
    from tb_bridge.tbsetup.installer import SetupOptions, desired_rule_chains

    def node(options, name):
        chains = desired_rule_chains(options)
        return next(n for c in chains for n in c["metadata"]["nodes"] if n["name"] == name)

    default = SetupOptions(transport="mqtt")
    assert "var api = false;" in node(default, "Simulation path")["configuration"]["tbelScript"]
    asked = SetupOptions(transport="mqtt", simulation_api_url="https://atilax.example:8443", api_key="k1")
    assert "var api = true;" in node(asked, "Simulation path")["configuration"]["tbelScript"]
    api = node(asked, "POST to Atilax API (simulation)")["configuration"]
    assert api["restEndpointUrlPattern"] == "https://atilax.example:8443/simulation/reactive"
    assert api["headers"]["X-API-Key"] == "k1"
    rest = node(asked, "POST to Atilax (REST)")["configuration"]
    assert rest["restEndpointUrlPattern"] == "http://localhost:8090/api/v1/events"
    assert "X-API-Key" not in rest["headers"]
