"""Numba's disk cache and the generated kernels live in the user cache directory, never in the source tree;
a user's NUMBA_CACHE_DIR wins. Each case runs in a fresh interpreter (the location is fixed when the kernels are
defined)."""
from __future__ import annotations

import json
import os
import subprocess
import sys
import tomllib
from pathlib import Path

ROOT = Path(__file__).resolve().parents[2]

_PROBE = """
import json, numba
from engines.reservoir import numba_kernel, sparse_lu
from engines.nodal import kernel
print(json.dumps({"cache_dir": numba.config.CACHE_DIR,
                  "index": [str(f._cache._cache_path) for f in (numba_kernel._balance, numba_kernel.simulate_blocks,
                                                               kernel.__dict__[next(n for n, v in vars(kernel).items()
                                                                                    if hasattr(v, "_cache"))])],
                  "kernels": str(sparse_lu.kernel_dir())}))
"""


def _probe(tmp_path: Path, **env: str) -> dict:
    clean = {k: v for k, v in os.environ.items() if k not in ("NUMBA_CACHE_DIR", "ATILAX_KERNEL_DIR", "XDG_CACHE_HOME")}
    out = subprocess.run([sys.executable, "-c", _PROBE], env={**clean, **env}, cwd=tmp_path, capture_output=True,
                         text=True, check=True)
    return json.loads(out.stdout)


def test_numba_cache_and_kernels_go_to_the_user_cache_directory(tmp_path):
    cache_home = tmp_path / "cache"
    found = _probe(tmp_path, XDG_CACHE_HOME=str(cache_home), PYTHONPATH=str(ROOT))
    assert found["cache_dir"] == str(cache_home / "atilax" / "numba")
    for path in found["index"]:
        assert Path(path).is_relative_to(cache_home / "atilax" / "numba"), path
        assert not Path(path).is_relative_to(ROOT), path
    assert found["kernels"] == str(cache_home / "atilax" / "kernels")


def test_a_users_numba_cache_dir_is_kept(tmp_path):
    mine = tmp_path / "mine"
    found = _probe(tmp_path, XDG_CACHE_HOME=str(tmp_path / "cache"), NUMBA_CACHE_DIR=str(mine), PYTHONPATH=str(ROOT))
    assert found["cache_dir"] == str(mine)
    assert all(Path(p).is_relative_to(mine) for p in found["index"])


def test_the_licence_is_an_spdx_expression():
    project = tomllib.loads((ROOT / "pyproject.toml").read_text(encoding="utf-8"))
    assert project["project"]["license"] == "Apache-2.0"
    assert not any(c.startswith("License ::") for c in project["project"].get("classifiers", []))
    requires = project["build-system"]["requires"]
    assert any(r.replace(" ", "").startswith("setuptools>=") and int(r.split(">=")[1].split(".")[0]) >= 77
               for r in requires), requires  # PEP 639 license expressions: setuptools 77
