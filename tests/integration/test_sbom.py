""".ci/sbom: a CycloneDX SBOM of this test environment, valid against the CycloneDX 1.6 JSON schema (checked again
here with cyclonedx-python-lib's strict validator), with the project as root component and every direct
dependency of pyproject.toml listed with the version importlib.metadata reports."""
from __future__ import annotations

import json
import os
import subprocess
import sys
import tomllib
from importlib import metadata
from pathlib import Path

import pytest
from packaging.requirements import Requirement
from packaging.utils import canonicalize_name

ROOT = Path(__file__).resolve().parents[2]

pytestmark = pytest.mark.slow


def test_sbom_lists_the_direct_dependencies_with_installed_versions(tmp_path):
    from cyclonedx.schema import SchemaVersion
    from cyclonedx.validation.json import JsonStrictValidator

    out = tmp_path / "sbom.cdx.json"
    result = subprocess.run(["bash", str(ROOT / ".ci" / "sbom"), str(out)], cwd=ROOT, capture_output=True, text=True,
                            env={**os.environ, "PYTHON": sys.executable}, timeout=300)
    assert result.returncode == 0, result.stderr
    text = out.read_text(encoding="utf-8")
    assert JsonStrictValidator(SchemaVersion.V1_6).validate_str(text) is None  # None: no schema error

    bom = json.loads(text)
    assert (bom["bomFormat"], bom["specVersion"]) == ("CycloneDX", "1.6")
    project = tomllib.loads((ROOT / "pyproject.toml").read_text(encoding="utf-8"))["project"]
    root = bom["metadata"]["component"]
    assert (root["name"], root["version"], root["type"]) == (project["name"], project["version"], "application")

    components = {canonicalize_name(c["name"]): c for c in bom["components"]}
    direct = [canonicalize_name(Requirement(spec).name) for spec in project["dependencies"]]
    assert {"paho-mqtt", "grpcio", "fastapi", "uvicorn", "cryptography"} - set(components) == set()
    for name in direct:
        component = components[name]
        assert component["version"] == metadata.version(name), name
        assert component["purl"] == f"pkg:pypi/{name}@{metadata.version(name)}"
    root_deps = next(d["dependsOn"] for d in bom["dependencies"] if d["ref"] == root["bom-ref"])
    assert {components[name]["bom-ref"] for name in direct} <= set(root_deps)
