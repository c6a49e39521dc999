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
    assert counts(actions) == {("device_profile", "create"): 5, ("asset_profile", "create"): 1,
                               ("rule_chain", "create"): 2, ("root_rule_chain", "update"): 1,
                               ("dashboard", "create"): len(bundled_dashboards()), ("edge", "create"): 1,
                               ("edge_assignment", "create"): 4, ("service_user", "create"): 1}
    assert not (res.rule_chains or res.dashboards or res.device_profiles or res.asset_profiles or res.edges)
    assert [u.email for u in _tb.auth.users()] == [TENANT_ADMIN_EMAIL]


def test_setup_installs_then_reports_no_change(standin):
    tb, url, res, wells = standin
    with client(url) as c:
        first = run_setup(c, SetupOptions(make_root=True, edge_routing_key="rk-1", edge_secret="s-1"))
        second = run_setup(c, SetupOptions(make_root=True, edge_routing_key="rk-1", edge_secret="s-1"))
    assert all(a.change != "unchanged" for a in first)
    assert {a.change for a in second} == {"unchanged"} and len(second) == len(first) - 4  # assignments are done
    assert sorted(p["name"] for p in res.device_profiles.values()) == ["ESP", "GasLift", "NaturalFlow", "PCP", "SRP"]
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


def test_cli_kafka_transport_takes_brokers_and_topics_from_the_services_settings(standin, monkeypatch, capsys):
    """`atilax tb setup --transport kafka`: the chain publishes where the service reads (its kafka.* settings);
    --kafka-bootstrap overrides the brokers (ThingsBoard may reach them under another name)."""
    from tb_bridge.cli.tb_cmd import register
    import argparse

    _tb, url, res, _ = standin
    monkeypatch.setenv("ATILAX_KAFKA__BOOTSTRAP_SERVERS", "kafka-a:9092,kafka-b:9092")
    monkeypatch.setenv("ATILAX_KAFKA__EVENTS_TOPIC", "north.events")
    monkeypatch.setenv("ATILAX_KAFKA__TELEMETRY_TOPICS", json.dumps(
        {"esp": "north.esp", "srp": "north.srp", "pcp": "north.pcp", "gas_lift": "north.gl", "natural_flow": "north.nf"}))
    parser = argparse.ArgumentParser()
    register(parser.add_subparsers(dest="command"))
    base = ["tb", "setup", "--url", url, "--username", TENANT_ADMIN_EMAIL, "--password", TENANT_ADMIN_PASSWORD,
            "--transport", "kafka", "--no-service-user"]

    def installed():
        with client(url) as c:
            chains = installed_rule_chains(c)
        wo = next(e for e in chains.values() if e["ruleChain"]["name"] == "Atilax Well Optimization")
        return {n["name"]: n["configuration"] for n in wo["metadata"]["nodes"]}

    args = parser.parse_args(base)
    assert args.func(args) == 0
    nodes = installed()
    assert nodes["Select transport"]["tbelScript"] == "return ['Kafka'];" and not res.edges
    assert nodes["Publish to Atilax (Kafka)"]["bootstrapServers"] == "kafka-a:9092,kafka-b:9092"
    assert ("var topics = {'ESP': 'north.esp', 'SRP': 'north.srp', 'PCP': 'north.pcp', 'GasLift': 'north.gl', "
            "'NaturalFlow': 'north.nf'};\nvar topic = 'north.events';") in nodes["Envelope for Kafka"]["tbelScript"]
    args = parser.parse_args([*base, "--kafka-bootstrap", "10.0.0.5:9094"])
    assert args.func(args) == 0
    assert installed()["Publish to Atilax (Kafka)"]["bootstrapServers"] == "10.0.0.5:9094"
    capsys.readouterr()


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


def _snapshot(tb, res):
    """Everything setup can change in the stand-in, for "a re-run changes nothing"."""
    import copy

    return (copy.deepcopy((res.rule_chains, res.rule_chain_metadata, res.dashboards, res.device_profiles,
                           res.asset_profiles, res.edges)),
            {a.id: sorted(a.edge_ids) for a in tb.store.assets()}, {d.id: sorted(d.edge_ids) for d in tb.store.devices()})


def test_field_asset_profile_and_field_assets_on_the_edge(standin):
    tb, url, res, _wells = standin
    with client(url) as c:
        # Fields created before setup: ThingsBoard creates the asset profile "Field" with them (no default chain)
        north = c.post("/api/asset", {"name": "North field", "type": "Field"})["id"]["id"]
        tank = c.post("/api/asset", {"name": "Tank 4", "type": "Tank"})["id"]["id"]
        assert [(p["name"], p["defaultRuleChainId"]) for p in res.asset_profiles.values()] == [("Field", None),
                                                                                              ("Tank", None)]
        plan = run_setup(c, SetupOptions(edge_routing_key="rk-1", edge_secret="s-1"), dry_run=True)
        assert [(a.kind, a.name, a.change) for a in plan if a.kind == "asset_profile"] == [
            ("asset_profile", "Field", "update")]
        assert [a.name for a in plan if a.kind == "edge_assignment"] == ["W-1", "W-2", "R-1", "G-1", "North field"]
        first = run_setup(c, SetupOptions(edge_routing_key="rk-1", edge_secret="s-1"))
        assert [a for a in first if a.kind not in ("rule_chain", "service_user")] == \
            [a for a in plan if a.kind not in ("rule_chain", "service_user")]
        chains = {ch["name"]: cid for cid, ch in res.rule_chains.items()}
        root_chain = chains["Atilax Root Rule Chain"]
        # every profile of ours routes to the bundled root chain (save + optimization chain)
        profiles = {p["name"]: p for p in [*res.device_profiles.values(), *res.asset_profiles.values()]}
        assert {n: (profiles[n].get("defaultRuleChainId") or {}).get("id") for n in profiles} == {
            "ESP": root_chain, "SRP": root_chain, "PCP": root_chain, "GasLift": root_chain, "NaturalFlow": root_chain,
            "Field": root_chain, "Tank": None}
        (edge_id,) = res.edges
        assert tb.store.asset(north).edge_ids == {edge_id} and tb.store.asset(tank).edge_ids == set()
        assert [a["name"] for a in c.pages(f"/api/edge/{edge_id}/assets")] == ["North field"]
        before = _snapshot(tb, res)
        second = run_setup(c, SetupOptions(edge_routing_key="rk-1", edge_secret="s-1"))
        assert {a.change for a in second} == {"unchanged"} and not any(a.kind == "edge_assignment" for a in second)
        assert _snapshot(tb, res) == before  # a re-run changes nothing
        # a field added later is assigned by the next run, and only it
        south = c.post("/api/asset", {"name": "South field", "type": "Field"})["id"]["id"]
        third = run_setup(c, SetupOptions(edge_routing_key="rk-1", edge_secret="s-1"))
        assert [(a.kind, a.name) for a in third if a.change != "unchanged"] == [("edge_assignment", "South field")]
        assert tb.store.asset(south).edge_ids == {edge_id}
        # opting out of the field assignment
        c.post("/api/asset", {"name": "West field", "type": "Field"})
        fourth = run_setup(c, SetupOptions(edge_routing_key="rk-1", edge_secret="s-1", assign_fields=False))
        assert {a.change for a in fourth} == {"unchanged"}


def test_asset_endpoints_refuse_what_thingsboard_refuses(standin):
    from tb_bridge.tbsetup.client import TbApiError

    tb, url, res, wells = standin
    with client(url) as c:
        run_setup(c, SetupOptions(edge_routing_key="rk-1", edge_secret="s-1"))
        (edge_id,) = res.edges
        with pytest.raises(TbApiError) as err:  # a device id is not an asset
            c.post(f"/api/edge/{edge_id}/asset/{wells['W-1']}")
        assert err.value.status == 404
        with pytest.raises(TbApiError) as err:
            c.post("/api/assetProfile", {"name": "Field 2", "defaultRuleChainId": {"entityType": "RULE_CHAIN",
                                                                                   "id": "00000000-0000-0000-0000-000000000000"}})
        assert err.value.status == 400
        with pytest.raises(TbApiError) as err:  # names are unique per tenant
            c.post("/api/assetProfile", {"name": "Field"})
        assert err.value.status == 400


def test_field_attribute_updates_reach_the_service_over_grpc_once_setup_assigned_the_field(standin):
    """ThingsBoard pushes to an edge only what is assigned to it: before setup a field's placement request does not
    reach the Edge transport, after setup (REST assignment) it does, marked as an asset event."""
    import time

    from tb_bridge.router import is_asset_event
    from tb_bridge.transport.edge import EdgeTransport

    tb, url, res, _wells = standin
    port = tb.start_edge_server(ack_timeout_s=2.0)
    events = []
    with client(url) as c:
        north = c.post("/api/asset", {"name": "North field", "type": "Field"})["id"]["id"]
        run_setup(c, SetupOptions(edge_routing_key="rk-9", edge_secret="s-9", assign_fields=False))
        transport = EdgeTransport("127.0.0.1", port, "rk-9", "s-9", backoff_initial_s=0.05, seed=3)
        try:
            transport.start(events.append)
            transport.wait_connected(10)
            assert transport.sync_completed.wait(10)
            tb.save_attributes(north, "SERVER_SCOPE", {"placement_run_requested": True})
            assert tb.wait_idle(10)
            assert [e for e in events if e.well_id == north] == []  # not assigned: nothing pushed
            actions = run_setup(c, SetupOptions(edge_routing_key="rk-9", edge_secret="s-9"))
            assert [(a.kind, a.name) for a in actions if a.change != "unchanged"] == [("edge_assignment", "North field")]
            tb.save_attributes(north, "SERVER_SCOPE", {"placement_run_requested": True, "placement_seed": 4})
            assert tb.wait_idle(10)
            deadline = time.monotonic() + 10
            while not [e for e in events if e.well_id == north] and time.monotonic() < deadline:
                time.sleep(0.02)
            (event,) = [e for e in events if e.well_id == north]
            assert is_asset_event(event) and dict(event.values) == {"placement_run_requested": True, "placement_seed": 4}
        finally:
            transport.stop()


# --- the service user (issue 17, defect 15) -------------------------------------------------------------------
SERVICE_EMAIL = "atilax-service@thingsboard.org"  # default: the local part atilax-service at the admin's domain


def test_setup_creates_and_activates_a_marked_service_user_once(standin):
    import httpx

    from tb_bridge.tbsetup.service_user import SERVICE_USER_FLAG

    tb, url, _res, _ = standin
    with client(url) as c:
        first = run_setup(c, SetupOptions(service_user_password="svc-pw-1"))
        assert [(a.kind, a.name, a.change) for a in first if a.kind == "service_user"] == [
            ("service_user", SERVICE_EMAIL, "create")]
        second = run_setup(c, SetupOptions(service_user_password="another"))
        assert [(a.name, a.change) for a in second if a.kind == "service_user"] == [(SERVICE_EMAIL, "unchanged")]
    user = tb.auth.user_by_email(SERVICE_EMAIL)
    assert (user.authority, user.enabled, user.additional_info[SERVICE_USER_FLAG]) == ("TENANT_ADMIN", True, True)
    assert user.id != tb.tenant_admin.id and len(tb.auth.users()) == 2
    with TbClient(url, SERVICE_EMAIL, "svc-pw-1") as service:  # the password set by the first run, unchanged
        me = service.get("/api/auth/user")
    assert me["id"]["id"] == user.id and me["additionalInfo"][SERVICE_USER_FLAG] is True
    assert httpx.post(f"{url}/api/auth/login", json={"username": SERVICE_EMAIL, "password": "another"}).status_code == 401


def test_setup_finishes_an_interrupted_activation_and_never_takes_over_a_persons_account(standin):
    from tb_bridge.tbsetup.service_user import SERVICE_USER_FLAG

    tb, url, _res, _ = standin
    with client(url) as c:  # a run that stopped between POST /api/user and the activation
        c.post("/api/user", {"email": "svc@example.com", "authority": "TENANT_ADMIN",
                             "additionalInfo": {SERVICE_USER_FLAG: True}}, sendActivationMail="false")
        plan = run_setup(c, SetupOptions(service_user_email="svc@example.com"), dry_run=True)
        assert [(a.change, a.detail) for a in plan if a.kind == "service_user"] == [
            ("update", "activate (created but never activated)")]
        assert not tb.auth.user_by_email("svc@example.com").enabled
        actions = run_setup(c, SetupOptions(service_user_email="svc@example.com", service_user_password="pw-2"))
        assert [a.change for a in actions if a.kind == "service_user"] == ["update"]
        assert tb.auth.user_by_email("svc@example.com").enabled
        tb.create_user("jane@example.com", "jane-pw")  # a person, not marked
        with pytest.raises(ValueError, match="'jane@example.com' exists and is not an Atilax service user"):
            run_setup(c, SetupOptions(service_user_email="jane@example.com"))
    assert tb.auth.user_by_email("jane@example.com").password == "jane-pw"


def test_user_endpoints_answer_as_thingsboard(standin):
    """POST /api/user, GET /api/user/{id}/activationLink, POST /api/noauth/activate and the login of a user not yet
    activated, with ThingsBoard's statuses and messages."""
    import httpx

    from tb_bridge.tbsetup.client import TbApiError

    tb, url, _res, _ = standin
    with client(url) as c:
        user = c.post("/api/user", {"email": "new@example.com", "authority": "TENANT_ADMIN", "firstName": "N"},
                      sendActivationMail="false")
        assert (user["email"], user["authority"], user["tenantId"]["id"]) == ("new@example.com", "TENANT_ADMIN",
                                                                            tb.tenant_id)
        login = httpx.post(f"{url}/api/auth/login", json={"username": "new@example.com", "password": "x"})
        assert (login.status_code, login.json()["message"]) == (401, "User is not active")
        with pytest.raises(TbApiError) as err:
            c.post("/api/user", {"email": "new@example.com", "authority": "TENANT_ADMIN"})
        assert (err.value.status, str(err.value).endswith("User with email 'new@example.com' already present in "
                                                          "database!")) == (400, True)
        link = c.get_text(f"/api/user/{user['id']['id']}/activationLink")
        assert link.startswith(f"{url}/api/noauth/activate?activateToken=")
        bad = httpx.post(f"{url}/api/noauth/activate", json={"activateToken": "nope", "password": "pw-3"})
        assert bad.status_code == 400
        pair = httpx.post(f"{url}/api/noauth/activate",
                          json={"activateToken": link.split("activateToken=")[1], "password": "pw-3"}).json()
        assert set(pair) == {"token", "refreshToken"}
        with pytest.raises(TbApiError) as err:
            c.get_text(f"/api/user/{user['id']['id']}/activationLink")
        assert err.value.status == 400 and "User is already activated!" in str(err.value)
        assert [u["email"] for u in c.pages("/api/users", textSearch="new@")] == ["new@example.com"]
    with TbClient(url, "new@example.com", "pw-3") as new:
        assert new.get("/api/auth/user")["firstName"] == "N"


def test_cli_setup_prints_the_service_users_credentials(standin, capsys):
    import argparse
    import shlex

    from tb_bridge.cli.tb_cmd import register

    _tb, url, _res, _ = standin
    parser = argparse.ArgumentParser()
    register(parser.add_subparsers(dest="command"))
    base = ["--url", url, "--username", TENANT_ADMIN_EMAIL, "--password", TENANT_ADMIN_PASSWORD]
    args = parser.parse_args(["tb", "setup", *base])
    assert args.func(args) == 0
    out = capsys.readouterr().out
    (line,) = [x for x in out.splitlines() if "ATILAX_TB__USERNAME" in x]
    env = dict(part.split("=", 1) for part in shlex.split(line)[1:])
    assert env["ATILAX_TB__USERNAME"] == SERVICE_EMAIL
    with TbClient(url, SERVICE_EMAIL, env["ATILAX_TB__PASSWORD"]) as service:  # the printed credentials work
        assert service.get("/api/auth/user")["email"] == SERVICE_EMAIL
    args = parser.parse_args(["tb", "setup", *base, "--json", "--service-user-email", "svc2@example.com"])
    assert args.func(args) == 0
    result = json.loads(capsys.readouterr().out)
    with TbClient(url, result["service_user"]["username"], result["service_user"]["password"]):
        pass
    args = parser.parse_args(["tb", "setup", *base])  # nothing new: no credentials printed
    assert args.func(args) == 0
    assert "ATILAX_TB__PASSWORD" not in capsys.readouterr().out
