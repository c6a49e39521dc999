"""Generated protobuf/gRPC code for ``proto/edge.proto`` and ``proto/queue.proto``.

The code is generated with grpcio-tools into ``tb_bridge/proto_gen/`` (git-ignored) the first time it is
imported, and again whenever the ``.proto`` sources or the grpcio-tools version change (a stamp file
records their SHA-256). ``protoc`` writes ``import queue_pb2`` for ``import "queue.proto"``; the build
step rewrites that one line into a package-relative import so the generated modules live inside
``tb_bridge.proto_gen``. Nothing generated is edited by hand.

Run ``python -m tb_bridge.transport.edge_proto`` at install/image-build time to generate ahead of use
(then grpcio-tools is not needed at run time). ``ATILAX_PROTO_DIR`` overrides where the sources are found.
"""
from __future__ import annotations

import fcntl
import hashlib
import importlib
import os
import re
import shutil
import sys
import tempfile
import threading
from dataclasses import dataclass
from pathlib import Path
from types import ModuleType

PROTO_FILES = ("queue.proto", "edge.proto")
_PACKAGE_DIR = Path(__file__).resolve().parent.parent  # tb_bridge/
GEN_DIR = _PACKAGE_DIR / "proto_gen"
_lock = threading.Lock()


@dataclass(frozen=True)
class EdgeProtos:
    """The generated modules."""

    edge_pb2: ModuleType
    edge_pb2_grpc: ModuleType
    queue_pb2: ModuleType


def proto_dir() -> Path:
    """Where the ``.proto`` sources are (``$ATILAX_PROTO_DIR`` or the repository's ``proto/``)."""
    env = os.environ.get("ATILAX_PROTO_DIR")
    candidates = [Path(env)] if env else []
    candidates += [_PACKAGE_DIR.parent / "proto", _PACKAGE_DIR / "proto"]
    for path in candidates:
        if all((path / name).is_file() for name in PROTO_FILES):
            return path
    raise FileNotFoundError(f"edge.proto/queue.proto not found in {', '.join(map(str, candidates))}")


def _stamp(src: Path) -> str:
    digest = hashlib.sha256()
    for name in PROTO_FILES:
        digest.update(name.encode() + b"\0" + (src / name).read_bytes())
    try:
        from importlib.metadata import version

        digest.update(version("grpcio-tools").encode())
    except Exception:  # grpcio-tools absent: the sources alone decide
        pass
    return digest.hexdigest()


def _is_fresh(src: Path | None) -> bool:
    stamp = GEN_DIR / "STAMP"
    needed = ["__init__.py", "queue_pb2.py", "edge_pb2.py", "edge_pb2_grpc.py"]
    if not stamp.is_file() or not all((GEN_DIR / n).is_file() for n in needed):
        return False
    if src is None:  # sources not shipped: trust what was generated at install time
        return True
    return stamp.read_text().strip() == _stamp(src)


def generate(src: Path | None = None) -> Path:
    """Run grpc_tools.protoc into ``tb_bridge/proto_gen`` (atomically); returns the directory."""
    from grpc_tools import protoc

    src = src or proto_dir()
    include = Path(importlib.import_module("grpc_tools").__file__).parent / "_proto"
    with tempfile.TemporaryDirectory(prefix="atilax-protogen-", dir=_PACKAGE_DIR) as tmp:
        args = ["grpc_tools.protoc", f"-I{src}", f"-I{include}", f"--python_out={tmp}", f"--grpc_python_out={tmp}",
                *[str(src / name) for name in PROTO_FILES]]
        if protoc.main(args) != 0:
            raise RuntimeError(f"protoc failed on {src}")
        for path in Path(tmp).glob("*_pb2*.py"):
            text = path.read_text()
            text = re.sub(r"^import (\w+_pb2) as (\w+)$", r"from . import \1 as \2", text, flags=re.M)
            path.write_text(text)
        (Path(tmp) / "__init__.py").write_text('"""Generated from proto/*.proto by tb_bridge.transport.edge_proto; do not edit."""\n')
        (Path(tmp) / "STAMP").write_text(_stamp(src) + "\n")
        staging = Path(tempfile.mkdtemp(prefix="proto_gen.old-", dir=_PACKAGE_DIR))
        shutil.rmtree(staging)
        if GEN_DIR.exists():
            os.replace(GEN_DIR, staging)
        os.replace(tmp, GEN_DIR)
        os.makedirs(tmp, exist_ok=True)  # let TemporaryDirectory clean up
        shutil.rmtree(staging, ignore_errors=True)
    for name in [m for m in sys.modules if m.startswith("tb_bridge.proto_gen")]:
        del sys.modules[name]
    return GEN_DIR


def load() -> EdgeProtos:
    """Import the generated modules, generating them first when missing or stale (under a file lock, so
    concurrent processes generate once)."""
    with _lock:
        try:
            src: Path | None = proto_dir()
        except FileNotFoundError:
            src = None
        if not _is_fresh(src):
            lock_path = Path(tempfile.gettempdir()) / f"atilax-proto-gen-{hashlib.sha1(str(GEN_DIR).encode()).hexdigest()[:12]}.lock"
            with open(lock_path, "a+") as lock_file:
                fcntl.flock(lock_file, fcntl.LOCK_EX)
                try:
                    if not _is_fresh(src):
                        generate(src)
                finally:
                    fcntl.flock(lock_file, fcntl.LOCK_UN)
        return EdgeProtos(importlib.import_module("tb_bridge.proto_gen.edge_pb2"),
                          importlib.import_module("tb_bridge.proto_gen.edge_pb2_grpc"),
                          importlib.import_module("tb_bridge.proto_gen.queue_pb2"))


if __name__ == "__main__":  # pragma: no cover - install-time build step
    print(generate())
