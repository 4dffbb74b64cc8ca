"""The packaging metadata: pyproject and environment.yml declare the same dependencies."""

from __future__ import annotations

import re
import tomllib
from pathlib import Path

import yaml

ROOT = Path(__file__).resolve().parents[1]


def _name(requirement: str) -> str:
    return re.split(r"[<>=!~\[ ;]", requirement.strip(), maxsplit=1)[0].lower().replace("_", "-")


def test_environment_yml_matches_pyproject():
    project = tomllib.loads((ROOT / "pyproject.toml").read_text())["project"]
    declared = {_name(r): r.replace(" ", "") for r in project["dependencies"]}
    declared |= {_name(r): r.replace(" ", "") for r in project["optional-dependencies"]["test"]}
    env = yaml.safe_load((ROOT / "environment.yml").read_text())
    pip_entries = next(d["pip"] for d in env["dependencies"] if isinstance(d, dict))
    conda = {_name(r): r.replace(" ", "") for r in pip_entries if not r.startswith("-e")}
    assert conda == declared


def test_console_script_is_declared():
    project = tomllib.loads((ROOT / "pyproject.toml").read_text())["project"]
    assert project["scripts"]["dca"] == "dca.cli:main"
    assert project["requires-python"] == ">=3.11"


def test_a_built_wheel_carries_the_workflow_schema(tmp_path: Path) -> None:
    """A non-editable install finds the config schema through the package (importlib.resources), not the checkout."""
    import shutil
    import subprocess
    import sys
    import zipfile

    source = tmp_path / "src"
    source.mkdir()
    for name in ("pyproject.toml", "README.md"):
        shutil.copy2(ROOT / name, source / name)
    shutil.copytree(ROOT / "dca", source / "dca", ignore=shutil.ignore_patterns("__pycache__"))
    wheels = tmp_path / "wheels"
    subprocess.run(
        [sys.executable, "-m", "pip", "wheel", "-q", "--no-deps", "--no-build-isolation", "-w", wheels, source],
        check=True,
        capture_output=True,
    )
    (wheel,) = wheels.glob("dca-*.whl")
    installed = tmp_path / "site"
    zipfile.ZipFile(wheel).extractall(installed)
    code = (
        "from dca.experiments.config import SCHEMA_PATH, load_schema\n"
        f"assert SCHEMA_PATH.is_relative_to({str(installed)!r}), SCHEMA_PATH\n"
        "assert load_schema()['title']\n"
    )
    env = {"PATH": "", "PYTHONPATH": str(installed), "PYTHONNOUSERSITE": "1"}
    subprocess.run([sys.executable, "-c", code], check=True, cwd=tmp_path, env=env)
