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
    """The jobs' conda environment: runtime dependencies and the workflow extra, no test tools, no `-e .`."""
    project = tomllib.loads((ROOT / "pyproject.toml").read_text())["project"]
    declared = {_name(r): r.replace(" ", "") for r in project["dependencies"]}
    declared |= {_name(r): r.replace(" ", "") for r in project["optional-dependencies"]["workflow"]}
    env = yaml.safe_load((ROOT / "environment.yml").read_text())
    pip_entries = next(d["pip"] for d in env["dependencies"] if isinstance(d, dict))
    assert not [r for r in pip_entries if r.startswith("-e") or r.startswith(".")]
    conda = {_name(r): r.replace(" ", "") for r in pip_entries}
    assert conda == declared


def test_import_dca_needs_no_workflow_stack(tmp_path: Path) -> None:
    """`import dca` and the torch-side commands load none of snakemake, dvc, dvclive (they are the workflow extra)."""
    import subprocess
    import sys

    code = (
        "import sys, dca, dca.cli, dca.train.loop, dca.evaluate.run, dca.experiments.grid, dca.report.tables\n"
        "bad = sorted(m for m in sys.modules if m.split('.')[0] in ('snakemake', 'dvc', 'dvclive'))\n"
        "assert not bad, bad\n"
    )
    subprocess.run([sys.executable, "-c", code], check=True, cwd=tmp_path, timeout=300)
    project = tomllib.loads((ROOT / "pyproject.toml").read_text())["project"]
    runtime = {_name(r) for r in project["dependencies"]}
    assert not runtime & {"snakemake", "snakemake-executor-plugin-slurm", "dvc", "dvclive"}
    assert "jinja2" in runtime


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


TORCH_STACK = {"torch", "torchvision", "segmentation-models-pytorch", "timm"}


def _rule_envs() -> dict[str, dict[str, str]]:
    """workflow/envs/<name>.yaml -> its pip pins (name -> full requirement)."""
    envs = {}
    for path in sorted((ROOT / "workflow/envs").glob("*.yaml")):
        env = yaml.safe_load(path.read_text(encoding="utf-8"))
        pins = next(d["pip"] for d in env["dependencies"] if isinstance(d, dict))
        envs[path.stem] = {_name(r): r for r in pins}
    return envs


def test_rule_envs_are_pinned_and_the_report_needs_no_torch() -> None:
    """The jobs' conda envs pin every package (`==`) of pyproject's runtime dependencies (pillow, which the
    figures import, too) and hold no dca; torch's env is only for the rules that build models."""
    envs = _rule_envs()
    assert set(envs) == {"base", "torch"}
    project = tomllib.loads((ROOT / "pyproject.toml").read_text())["project"]
    runtime = {_name(r) for r in project["dependencies"]} | {"pillow"}
    assert set(envs["torch"]) == runtime and set(envs["base"]) == runtime - TORCH_STACK
    assert all(re.fullmatch(r"[A-Za-z0-9_.-]+==[0-9][0-9A-Za-z.+-]*", r) for env in envs.values() for r in env.values())
    assert envs["base"].items() <= envs["torch"].items()
    rules = "\n".join(p.read_text(encoding="utf-8") for p in sorted((ROOT / "workflow/rules").glob("*.smk")))
    torch_rules = set(re.findall(r"^rule (\w+):(?:\n(?!rule ).*)*?\n\s+conda:\n\s+ENVS\[\"torch\"\]", rules, re.M))
    assert torch_rules == {"train", "evaluate", "bench_models"}
    assert rules.count("conda:") == len(re.findall(r"conda:\n\s+ENVS\[\"(?:base|torch)\"\]", rules))


def test_jobs_call_python_dash_m_dca() -> None:
    """Every job runs `python -m dca ...` (the workflow's own package on PYTHONPATH), never an installed `dca`."""
    rules = "\n".join(p.read_text(encoding="utf-8") for p in sorted((ROOT / "workflow/rules").glob("*.smk")))
    shells = "\n".join(re.findall(r"^\s+\"(.*)\"$", rules, re.M))
    commands = "(?:data|train|evaluate|enhance|report|bench|experiments) "
    assert len(re.findall(f"python -m dca {commands}", shells)) >= 11
    assert not re.findall(f"(?<![\\w./`-])(?<!-m )dca {commands}", shells)  # `dca x` in docstrings is prose


def test_the_container_definitions_install_the_torch_env() -> None:
    """The Apptainer and Docker images install the pins of workflow/envs/torch.yaml; the workflow names the image."""
    for name in ("dca.def", "Dockerfile"):
        text = (ROOT / "workflow/envs" / name).read_text(encoding="utf-8")
        assert "workflow/envs/torch.yaml" in text and "pip install" in text, name
    snakefile = (ROOT / "workflow/Snakefile").read_text(encoding="utf-8")
    assert 'container: config["container"]' in snakefile
