"""`atilax tb setup` / `export` against the stand-in over real HTTP: idempotent install, dry run, id
remapping, Edge creation and well assignment, and an export that round-trips to the bundle unchanged."""
from __future__ import annotations

import json

import pytest

from tb_bridge.standin.core import TENANT_ADMIN_EMAIL, TENANT_ADMIN_PASSWORD, StandIn
from tb_bridge.standin.http_server import HttpServerThread
from tb_bridge.standin.rest_api import build_app
from tb_bridge.tbsetup.bundle import DASHBOARD_DIR, RULECHAIN_DIR, bundled_dashboards
from tb_bridge.tbsetup.client import TbClient
from tb_bridge.tbsetup.installer import SetupOptions, installed_rule_chains, run_setup, export_installed


@pytest.fixture()
def standin():
    tb = StandIn()
    app = build_app(tb)
    server = HttpServerThread(app)
    server.start()
    wells = {name: tb.create_device(name, profile)[0]
             for name, profile in [("W-1", "ESP"), ("W-2", "ESP"), ("R-1", "SRP"), ("G-1", "GasLift")]}
    try:
        yield tb, server.base_url, app.setup_resources, wells
    finally:
        server.stop()
        tb.stop()


def client(url):
    return TbClient(url, TENANT_ADMIN_EMAIL, TENANT_ADMIN_PASSWORD)


def counts(actions):
    out = {}
    for a in actions:
        out[(a.kind, a.change)] = out.get((a.kind, a.change), 0) + 1
    return out


def test_dry_run_plans_everything_and_changes_nothing(standin):
    _tb, url, res, _ = standin
    with client(url) as c:
        actions = run_setup(c, SetupOptions(make_root=True), dry_run=True)
    assert counts(actions) == {("device_profile", "create"): 4, ("rule_chain", "create"): 2,
                               ("root_rule_chain", "update"): 1, ("dashboard", "create"): len(bundled_dashboards()),
                               ("edge", "create"): 1, ("edge_assignment", "create"): 4}
    assert not (res.rule_chains or res.dashboards or res.device_profiles or res.edges)


def test_setup_installs_then_reports_no_change(standin):
    tb, url, res, wells = standin
    with client(url) as c:
        first = run_setup(c, SetupOptions(make_root=True, edge_routing_key="rk-1", edge_secret="s-1"))
        second = run_setup(c, SetupOptions(make_root=True, edge_routing_key="rk-1", edge_secret="s-1"))
    assert all(a.change != "unchanged" for a in first)
    assert {a.change for a in second} == {"unchanged"} and len(second) == len(first) - 4  # assignments are done
    assert sorted(p["name"] for p in res.device_profiles.values()) == ["ESP", "GasLift", "PCP", "SRP"]
    chains = {c["name"]: cid for cid, c in res.rule_chains.items()}
    assert set(chains) == {"Atilax Well Optimization", "Atilax Root Rule Chain"}
    assert res.rule_chains[chains["Atilax Root Rule Chain"]]["root"] is True
    root_nodes = res.rule_chain_metadata[chains["Atilax Root Rule Chain"]]["nodes"]
    call = next(n for n in root_nodes if n["type"].endswith("TbRuleChainInputNode"))
    assert call["configuration"]["ruleChainId"] == chains["Atilax Well Optimization"]  # remapped id
    (edge_id, edge), = res.edges.items()
    assert (edge["name"], edge["routingKey"], edge["secret"]) == ("Atilax Edge", "rk-1", "s-1")
    assert {name for name, did in wells.items() if edge_id in tb.device(did).edge_ids} == {"W-1", "W-2", "R-1", "G-1"}
    assert {d["title"] for d in res.dashboards.values()} == {d["title"] for d in bundled_dashboards().values()}


def test_a_changed_dashboard_is_updated_back_to_the_bundle(standin):
    _tb, url, res, _ = standin
    with client(url) as c:
        run_setup(c)
        dashboard = next(d for d in res.dashboards.values() if d["title"] == "Atilax Field Overview")
        dashboard["configuration"]["description"] = "edited by hand"
        actions = run_setup(c)
        assert [(a.kind, a.name) for a in actions if a.change == "update"] == [("dashboard", "Atilax Field Overview")]
        assert {a.change for a in run_setup(c)} == {"unchanged"}
    assert next(d for d in res.dashboards.values() if d["title"] == "Atilax Field Overview")["configuration"] == \
        bundled_dashboards()["field_overview"]["configuration"]


def test_export_round_trips_to_the_bundle(standin, tmp_path):
    _tb, url, _res, _ = standin
    with client(url) as c:
        run_setup(c, SetupOptions(make_root=True))
        paths = export_installed(c, tmp_path)
    assert len(paths) == 2 + len(bundled_dashboards())
    for path in paths:
        original = (RULECHAIN_DIR if path.parent.name == "rulechains" else DASHBOARD_DIR) / path.name
        assert json.loads(path.read_text()) == json.loads(original.read_text()), path.name


def test_mqtt_transport_installs_no_edge_and_selects_mqtt(standin):
    _tb, url, res, _ = standin
    with client(url) as c:
        actions = run_setup(c, SetupOptions(transport="mqtt", mqtt_host="broker.local", mqtt_port=1884))
        chains = installed_rule_chains(c)
    assert not any(a.kind.startswith("edge") for a in actions) and not res.edges
    wo = next(e for e in chains.values() if e["ruleChain"]["name"] == "Atilax Well Optimization")
    nodes = {n["name"]: n["configuration"] for n in wo["metadata"]["nodes"]}
    assert nodes["Select transport"]["tbelScript"] == "return ['MQTT'];"
    assert (nodes["Publish to Atilax (MQTT)"]["host"], nodes["Publish to Atilax (MQTT)"]["port"]) == ("broker.local", 1884)


def test_cli_setup_and_export(standin, tmp_path, capsys):
    from tb_bridge.cli.tb_cmd import register
    import argparse

    _tb, url, _res, _ = standin
    parser = argparse.ArgumentParser()
    register(parser.add_subparsers(dest="command"))
    base = ["--url", url, "--username", TENANT_ADMIN_EMAIL, "--password", TENANT_ADMIN_PASSWORD]
    args = parser.parse_args(["tb", "setup", *base, "--dry-run", "--json"])
    assert args.func(args) == 0
    plan = json.loads(capsys.readouterr().out)
    assert plan["dry_run"] is True and {a["change"] for a in plan["actions"]} == {"create"}
    args = parser.parse_args(["tb", "setup", *base])
    assert args.func(args) == 0
    assert "changed" in capsys.readouterr().out
    args = parser.parse_args(["tb", "setup", *base])
    assert args.func(args) == 0
    assert "nothing to change" in capsys.readouterr().out
    args = parser.parse_args(["tb", "export", *base, "--out", str(tmp_path)])
    assert args.func(args) == 0
    assert len(capsys.readouterr().out.split()) == 2 + len(bundled_dashboards())


def test_wrong_password_is_a_user_error(standin):
    from tb_bridge.cli.io import CliInputError
    from tb_bridge.cli.tb_cmd import _client
    import argparse

    _tb, url, _res, _ = standin
    with pytest.raises(CliInputError, match="login failed"):
        _client(argparse.Namespace(url=url, username=TENANT_ADMIN_EMAIL, password="wrong"))
