"""The deployment files (Dockerfile, deploy/compose.yaml, deploy/systemd/) agree with the code and the README.

No image is built or pulled here: every ``atilax`` command they run is parsed by the real CLI parser, every ``dask``
command by Dask's own click commands, every ``ATILAX_*`` variable they set is loaded through :class:`Settings` and
must land on the field it names with the value given, and the image installs the package as the README does.
"""
from __future__ import annotations

import json
import re
import shlex
import shutil
import subprocess
from pathlib import Path
from typing import Any

import pytest
import yaml
from pydantic import BaseModel, SecretStr

from tb_bridge.cli.main import build_parser
from tb_bridge.config import Settings

ROOT = Path(__file__).resolve().parents[2]
DOCKERFILE = ROOT / "Dockerfile"
COMPOSE = ROOT / "deploy" / "compose.yaml"
UNITS = ROOT / "deploy" / "systemd"
#: What compose's ``${VAR...}`` references resolve to in these tests (the operator's shell would supply them).
COMPOSE_ENV = {"ATILAX_TB__URL": "https://tb.example.com", "ATILAX_TB__PASSWORD": "s3cret",
               "ATILAX_KAFKA__STATE_SECRET": "0123456789abcdef0123"}


# --- parsers ------------------------------------------------------------------------------------------
def dockerfile() -> list[tuple[str, str]]:
    """``(INSTRUCTION, arguments)`` in order, continuation lines joined, comments dropped."""
    out, pending = [], ""
    for line in DOCKERFILE.read_text().splitlines():
        if not pending and (not line.strip() or line.lstrip().startswith("#")):
            continue
        if line.rstrip().endswith("\\"):
            pending += line.rstrip()[:-1] + " "
            continue
        text = (pending + line).strip()
        pending = ""
        instruction, _, args = text.partition(" ")
        out.append((instruction.upper(), args.strip()))
    return out


def env_pairs(args: str) -> dict[str, str]:
    """``ENV a=1 b=2`` (the key=value form) as a dict."""
    return dict(item.split("=", 1) for item in shlex.split(args))


def unit(path: Path) -> dict[str, list[tuple[str, str]]]:
    """A systemd unit file: ``{section: [(key, value), ...]}`` (keys may repeat, as Environment= does)."""
    sections: dict[str, list[tuple[str, str]]] = {}
    current = None
    for line in path.read_text().splitlines():
        line = line.strip()
        if not line or line.startswith(("#", ";")):
            continue
        if line.startswith("["):
            current = sections.setdefault(line.strip("[]"), [])
            continue
        key, _, value = line.partition("=")
        assert current is not None, f"{path.name}: {line!r} outside a section"
        current.append((key.strip(), value.strip()))
    return sections


def values(section: list[tuple[str, str]], key: str) -> list[str]:
    return [v for k, v in section if k == key]


def env_file(path: Path) -> dict[str, str]:
    return dict(line.split("=", 1) for line in path.read_text().splitlines() if line.strip() and not line.startswith("#"))


def interpolate(node: Any, env: dict[str, str]) -> Any:
    """Compose's ``${VAR}``, ``${VAR:-default}`` and ``${VAR:?error}`` (the last needs ``VAR`` in ``env``)."""
    if isinstance(node, dict):
        return {k: interpolate(v, env) for k, v in node.items()}
    if isinstance(node, list):
        return [interpolate(v, env) for v in node]
    if not isinstance(node, str):
        return node

    def one(m: re.Match) -> str:
        name, op, arg = m.group(1), m.group(2), m.group(3)
        if op == ":?":
            assert name in env, f"compose requires {name}: {arg}"
        return env.get(name, arg if op == ":-" else "")

    return re.sub(r"\$\{([A-Za-z_][A-Za-z0-9_]*)(?:(:-|:\?)([^}]*))?\}", one, node)


def compose() -> dict[str, Any]:
    return interpolate(yaml.safe_load(COMPOSE.read_text()), COMPOSE_ENV)


# --- checks shared by the files ------------------------------------------------------------------------
def assert_atilax_command(argv: list[str], where: str) -> None:
    """``argv`` (``atilax ...``) parses with the CLI's own parser to a leaf command."""
    assert Path(argv[0]).name == "atilax", where
    try:
        args = build_parser().parse_args(argv[1:])
    except SystemExit as exc:
        raise AssertionError(f"{where}: `{shlex.join(argv)}` is not a valid atilax command") from exc
    assert callable(getattr(args, "func", None)), f"{where}: `{shlex.join(argv)}` is not a complete command"


def assert_dask_command(argv: list[str], where: str) -> dict[str, Any]:
    """``argv`` (``dask scheduler|worker ...``) uses only options of Dask's click command; returns its parameters."""
    from distributed.cli import dask_scheduler, dask_worker

    assert Path(argv[0]).name == "dask", where
    command = {"scheduler": dask_scheduler.main, "worker": dask_worker.main}[argv[1]]
    known = {opt for p in command.params for opt in (*p.opts, *p.secondary_opts)}
    unknown = [a.split("=")[0] for a in argv[2:] if a.startswith("-") and a.split("=")[0] not in known]
    assert not unknown, f"{where}: dask {argv[1]} has no options {unknown}"
    return command.make_context(f"dask {argv[1]}", list(argv[2:])).params


def field_of(name: str) -> tuple[list[str], Any]:
    """The settings path of ``ATILAX_A__B`` (``["a", "b"]``) and its field; fails for a name that is no setting."""
    assert name.startswith("ATILAX_"), name
    path = name[len("ATILAX_"):].lower().split("__")
    model: Any = Settings
    info = None
    for part in path:
        assert isinstance(model, type) and issubclass(model, BaseModel) and part in model.model_fields, (
            f"{name} is not a setting (no {part!r} in {model})")
        info = model.model_fields[part]
        model = info.annotation
    return path, info


def assert_settings(env: dict[str, str], monkeypatch, where: str) -> Settings:
    """Load :class:`Settings` from exactly ``env``'s ATILAX_* variables; each must land on its field."""
    import os

    for key in list(os.environ):
        if key.startswith("ATILAX_"):
            monkeypatch.delenv(key)
    atilax = {k: str(v) for k, v in env.items() if k.startswith("ATILAX_")}
    for key, value in atilax.items():
        monkeypatch.setenv(key, value)
    settings = Settings()
    for key, raw in atilax.items():
        path, _info = field_of(key)
        value: Any = settings
        for part in path:
            value = getattr(value, part)
        if isinstance(value, SecretStr):
            value = value.get_secret_value()
        if isinstance(value, bool):
            assert value is (raw.lower() in ("1", "true", "yes", "on")), (where, key)
        elif isinstance(value, (int, float)):
            assert value == float(raw), (where, key, value)
        elif isinstance(value, (dict, list)):
            assert value == json.loads(raw), (where, key, value)
        else:
            assert value == raw, (where, key, value)
    return settings


# --- Dockerfile ----------------------------------------------------------------------------------------
def readme_install() -> list[str]:
    """The README's first command, as its ``&&`` steps."""
    block = re.search(r"```bash\n(.*?)\n```", (ROOT / "README.md").read_text(), re.S).group(1)
    return [step.strip() for step in block.strip().split("&&")]


def image() -> dict[str, Any]:
    """What the Dockerfile leaves: base, install directory, entrypoint, command, user, environment."""
    out: dict[str, Any] = {"copied": [], "env": {}, "run": [], "user": "root"}
    workdir = "/"
    for instruction, args in dockerfile():
        if instruction == "FROM":
            out["from"] = args
        elif instruction == "WORKDIR":
            workdir = args
        elif instruction == "COPY":
            out["copied"] += [(src, workdir) for src in shlex.split(args)[:-1]]
        elif instruction == "RUN":
            out["run"].append((args, workdir))
        elif instruction == "ENV":
            out["env"].update(env_pairs(args))
        elif instruction == "USER":
            out["user"] = args
        elif instruction in ("ENTRYPOINT", "CMD"):
            out[instruction.lower()] = json.loads(args)
    out["workdir"] = workdir
    return out


def test_the_image_installs_the_package_as_the_readme_does_and_runs_atilax_run_as_a_non_root_user():
    steps = readme_install()
    assert steps == ["python3 -m venv .venv", ". .venv/bin/activate", "pip install -e .", "atilax demo"]
    built = image()
    assert built["from"] == "python:3.11-slim"
    (install,) = [(cmd, wd) for cmd, wd in built["run"] if "pip install" in cmd]
    command, install_dir = install
    assert command.startswith(" && ".join(steps[:-1]) + " "), command  # the README's install, verbatim
    # ... in the directory the source was copied to, whose venv is first on PATH (so `atilax` is that install's)
    assert install_dir == "/opt/atilax"
    assert {src for src, wd in built["copied"] if wd == install_dir} == {
        "pyproject.toml", "README.md", "proto", "engines", "tb_bridge", "rulechains", "dashboards", "examples"}
    for src, _wd in built["copied"]:
        assert (ROOT / src).exists(), src
    assert built["env"]["PATH"].split(":")[0] == f"{install_dir}/.venv/bin"
    assert built["entrypoint"] + built["cmd"] == ["atilax", "run"]
    assert_atilax_command(built["entrypoint"] + built["cmd"], "Dockerfile")
    assert built["user"] == "atilax"
    assert any(re.search(r"\buseradd\b.*\batilax$", cmd) for cmd, _wd in built["run"])
    assert built["workdir"] == "/var/lib/atilax"  # the service's writable directory, owned by that user
    assert any(f"chown -R atilax:atilax {built['workdir']}" in cmd for cmd, _wd in built["run"])
    ignored = (ROOT / ".dockerignore").read_text().split()
    assert {".venv", ".git", "tb_bridge/proto_gen"} <= set(ignored)


def test_the_images_atilax_settings_are_real(monkeypatch):
    env = {k: v for k, v in image()["env"].items() if k.startswith("ATILAX_")}
    assert env == {"ATILAX_ML__MODEL_DIR": "/var/lib/atilax/models"}
    assert assert_settings(env, monkeypatch, "Dockerfile").ml.model_dir == "/var/lib/atilax/models"


# --- compose -------------------------------------------------------------------------------------------
def service_argv(service: dict[str, Any], built: dict[str, Any]) -> list[str]:
    """The process a service runs: compose's entrypoint replaces the image's (and its CMD); command replaces CMD."""
    if "entrypoint" in service:
        return list(service["entrypoint"]) + list(service.get("command") or [])
    return built["entrypoint"] + list(service.get("command", built["cmd"]))


def test_compose_runs_real_commands_of_the_one_image():
    spec = compose()
    built = image()
    services = spec["services"]
    ours = {name: s for name, s in services.items() if s.get("image") == "atilax:latest"}
    assert set(ours) == {"atilax-1", "atilax-2", "atilax-3", "migrate", "dask-scheduler", "dask-worker"}
    for name, service in ours.items():
        assert service["build"] == {"context": "..", "dockerfile": "Dockerfile"}, name
        assert (COMPOSE.parent / service["build"]["context"] / service["build"]["dockerfile"]).resolve() == DOCKERFILE
        argv = service_argv(service, built)
        if argv[0] == "atilax":
            assert_atilax_command(argv, f"compose service {name}")
        else:
            assert_dask_command(argv, f"compose service {name}")
        for dependency in service.get("depends_on", {}):
            assert dependency in services, (name, dependency)
    assert {name: service_argv(s, built)[:3] for name, s in ours.items()} == {
        "atilax-1": ["atilax", "run"], "atilax-2": ["atilax", "run"], "atilax-3": ["atilax", "run"],
        "migrate": ["atilax", "db", "migrate"], "dask-scheduler": ["dask", "scheduler", "--port"],
        "dask-worker": ["dask", "worker", "tcp://dask-scheduler:8786"]}
    assert services["dask-worker"]["deploy"]["replicas"] == 2
    assert {services[r]["depends_on"]["migrate"]["condition"] for r in ("atilax-1", "atilax-2", "atilax-3")} == {
        "service_completed_successfully"}
    assert services["kafka"]["image"].startswith("apache/kafka:")
    assert set(spec["volumes"]) == {"kafka-data", "redis-data", "postgres-data", "models"}


def test_compose_replicas_share_the_brokers_stores_and_cluster_with_distinct_instance_names(monkeypatch):
    spec = compose()
    built = image()
    services = spec["services"]
    replicas = {name: s for name, s in services.items()
                if s.get("image") == "atilax:latest" and service_argv(s, built) == ["atilax", "run"]}
    assert len(replicas) == 3
    loaded = {name: assert_settings(s["environment"], monkeypatch, f"compose service {name}")
              for name, s in replicas.items()}
    assert_settings(services["migrate"]["environment"], monkeypatch, "compose service migrate")
    assert sorted(s.kafka.instance_name for s in loaded.values()) == ["replica-1", "replica-2", "replica-3"]
    for name, settings in loaded.items():
        assert settings.transport == "kafka", name
        assert settings.kafka.bootstrap_servers == "kafka:9092"
        assert settings.redis_url == "redis://redis:6379/0"
        assert settings.database_url == "postgresql+psycopg://atilax:atilax@postgres:5432/atilax"
        assert settings.dask.scheduler_address == "tcp://dask-scheduler:8786"
        assert (settings.tb.url, settings.tb.password.get_secret_value()) == ("https://tb.example.com", "s3cret")
        assert settings.kafka.state_secret.get_secret_value() == "0123456789abcdef0123"
        assert settings.kafka.group_id == "atilax"  # one consumer group: the partitions (wells) are split among them
    # the addresses are the compose services' own
    kafka = services["kafka"]["environment"]
    assert "PLAINTEXT://kafka:9092" in kafka["KAFKA_ADVERTISED_LISTENERS"].split(",")
    assert kafka["KAFKA_AUTO_CREATE_TOPICS_ENABLE"] == "false"
    postgres = services["postgres"]["environment"]
    assert (postgres["POSTGRES_USER"], postgres["POSTGRES_PASSWORD"], postgres["POSTGRES_DB"]) == ("atilax", "atilax", "atilax")
    scheduler = assert_dask_command(service_argv(services["dask-scheduler"], built), "dask-scheduler")
    assert scheduler["port"] == "8786"  # dask scheduler --port is a text option
    worker = assert_dask_command(service_argv(services["dask-worker"], built), "dask-worker")
    assert worker["scheduler"] == "tcp://dask-scheduler:8786"


# --- systemd -------------------------------------------------------------------------------------------
def exec_argv(value: str, env: dict[str, str], specifiers: dict[str, str]) -> list[str]:
    for spec, text in specifiers.items():
        value = value.replace(spec, text)
    value = re.sub(r"\$\{([A-Za-z_][A-Za-z0-9_]*)\}", lambda m: env[m.group(1)], value)
    return shlex.split(value)


def test_systemd_units_run_real_commands_from_the_images_install_layout(monkeypatch):
    install_bin = image()["env"]["PATH"].split(":")[0]  # /opt/atilax/.venv/bin: the same layout on a host
    names = sorted(p.name for p in UNITS.glob("*.service"))
    assert names == ["atilax-migrate.service", "atilax@.service", "dask-scheduler.service", "dask-worker@.service"]
    specifiers = {"%i": "1", "%H": "host-a"}
    commands = {}
    for name in names:
        sections = unit(UNITS / name)
        service = sections["Service"]
        env = dict(v.split("=", 1) for v in values(service, "Environment"))
        (start,) = values(service, "ExecStart")
        argv = exec_argv(start, env, specifiers)
        assert Path(argv[0]).parent == Path(install_bin), name
        commands[name] = argv
        if Path(argv[0]).name == "atilax":
            assert_atilax_command(argv, name)
        else:
            assert_dask_command(argv, name)
        assert values(service, "User") == ["atilax"], name
        assert values(service, "WorkingDirectory") == ["/var/lib/atilax"], name
        if name != "atilax-migrate.service":
            assert values(sections["Install"], "WantedBy") == ["multi-user.target"], name
    assert [Path(a).name if i == 0 else a for i, a in enumerate(commands["atilax@.service"])] == ["atilax", "run"]
    assert commands["atilax-migrate.service"][1:] == ["db", "migrate"]
    scheduler = assert_dask_command(commands["dask-scheduler.service"], "dask-scheduler.service")
    worker = assert_dask_command(commands["dask-worker@.service"], "dask-worker@.service")
    assert worker["scheduler"] == f"tcp://127.0.0.1:{scheduler['port']}" and worker["name"] == "host-a-1"
    replica = unit(UNITS / "atilax@.service")
    assert "atilax-migrate.service" in values(replica["Unit"], "Requires")
    assert "atilax-migrate.service" in values(replica["Unit"], "After")[0].split()
    assert values(unit(UNITS / "atilax-migrate.service")["Service"], "Type") == ["oneshot"]


def test_systemd_replicas_settings_are_real_and_named_by_their_instance(monkeypatch):
    sections = unit(UNITS / "atilax@.service")["Service"]
    assert values(sections, "EnvironmentFile") == ["/etc/atilax/atilax.env"]
    shared = env_file(UNITS / "atilax.env.example")
    # systemd: variables of EnvironmentFile= override Environment=, so the file must leave these to the unit
    assert not {"ATILAX_TRANSPORT", "ATILAX_KAFKA__INSTANCE_NAME"} & set(shared)
    own = dict(v.split("=", 1) for v in values(sections, "Environment"))
    assert (own["ATILAX_TRANSPORT"], own["ATILAX_KAFKA__INSTANCE_NAME"]) == ("kafka", "%i")
    names = set()
    for instance in ("1", "h2-1", "field.north-3"):
        env = {**{k: v.replace("%i", instance) for k, v in own.items()}, **shared}
        settings = assert_settings(env, monkeypatch, f"atilax@{instance}.service")
        assert settings.transport == "kafka" and settings.dask.scheduler_address == "tcp://127.0.0.1:8786"
        names.add(settings.kafka.instance_name)
    assert names == {"1", "h2-1", "field.north-3"}
    migrate = unit(UNITS / "atilax-migrate.service")["Service"]
    assert values(migrate, "EnvironmentFile") == ["/etc/atilax/atilax.env"]


def test_systemd_analyze_accepts_the_units(tmp_path):
    """`systemd-analyze verify`: every directive known, every section valid (the executables are not installed
    here, so only that complaint is expected)."""
    if shutil.which("systemd-analyze") is None:
        pytest.skip("systemd-analyze is not installed")
    files = []
    for path in UNITS.glob("*.service"):
        target = tmp_path / path.name.replace("@.", "@1.")
        target.write_text(path.read_text())
        files.append(str(target))
    result = subprocess.run(["systemd-analyze", "verify", "--man=no", *files], capture_output=True, text=True,
                            timeout=60)
    problems = [line for line in (result.stdout + result.stderr).splitlines()
                if line.strip() and "is not executable: No such file or directory" not in line]
    assert problems == []


# --- README --------------------------------------------------------------------------------------------
def test_the_readme_points_to_the_deployment_guide_which_names_the_files():
    readme = (ROOT / "README.md").read_text()
    assert "[docs/deployment.md](docs/deployment.md)" in readme
    guide = (ROOT / "docs" / "deployment.md").read_text()
    for path in ("Dockerfile", "deploy/compose.yaml", "deploy/systemd/atilax@.service",
                 "deploy/systemd/dask-scheduler.service", "deploy/systemd/dask-worker@.service",
                 "deploy/systemd/atilax-migrate.service", "deploy/systemd/atilax.env.example"):
        assert f"`{path}`" in guide, path
        assert (ROOT / path).exists(), path
