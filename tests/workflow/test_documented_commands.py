"""Every command shown in README.md and config/README.md works as written, so a documented command cannot
break unnoticed: `snakemake` commands as dry runs (-n) in a workspace, `dca` commands through the real
parser (their options and sub-commands exist; running them would download or train), `dvc` commands
against `dvc <command> --help` (the sub-command exists)."""

from __future__ import annotations

import itertools
import re
import shlex
import shutil
import subprocess
from pathlib import Path
from typing import Any

import pytest

from dca.cli import build_parser

REPO = Path(__file__).resolve().parents[2]
DOCS = ("README.md", "config/README.md")


def documented_commands() -> list[tuple[str, str]]:
    """(document, command) for every shell line of the documents' ```bash blocks (continuations joined)."""
    found = []
    for doc in DOCS:
        text = (REPO / doc).read_text(encoding="utf-8")
        for block in re.findall(r"```bash\n(.*?)```", text, re.S):
            for line in block.replace("\\\n", " ").splitlines():
                command = line.split(" #", 1)[0].strip()
                for part in command.split("&&"):
                    part = part.strip()
                    if part.split(" ", 1)[0] in ("snakemake", "dca", "dvc"):
                        found.append((doc, part))
    return found


COMMANDS = documented_commands()


def test_the_documents_show_commands() -> None:
    assert sum(command.startswith("snakemake") for _, command in COMMANDS) >= 8


@pytest.mark.parametrize(("doc", "command"), [c for c in COMMANDS if c[1].startswith("dca ")], ids=str)
def test_dca_command_parses(doc: str, command: str) -> None:
    argv = shlex.split(command)[1:]
    build_parser(argv[0]).parse_args(argv)  # SystemExit(2) on an unknown option or sub-command


@pytest.mark.parametrize(("doc", "command"), [c for c in COMMANDS if c[1].startswith("dvc ")], ids=str)
def test_dvc_command_exists(wf: Any, doc: str, command: str) -> None:
    words = [w for w in shlex.split(command)[1:] if not w.startswith("-")]
    sub = words[:2] if words[:1] in (["exp"], ["remote"], ["metrics"], ["plots"]) else words[:1]
    wf.run([wf.tool("dvc"), *sub, "--help"], wf.repo, timeout=120)


def missing_deployment_tool(argv: list[str]) -> bool:
    """Whether ``argv`` deploys software with a tool this machine lacks (`--sdm conda` or `apptainer`: even a dry
    run calls it); those commands await a machine with the tool (docs/dvc-snakemake.md)."""
    flags = ("--sdm", "--software-deployment-method")
    methods = {value for flag, value in itertools.pairwise(argv) if flag in flags}
    return any(shutil.which(tool) is None for tool in methods & {"conda", "apptainer"})


@pytest.mark.slow
def test_snakemake_commands_dry_run(wf: Any, tmp_path: Path) -> None:
    """Each documented snakemake command, as a dry run in a workspace (a report needs results: skipped); a command
    both documents show runs once."""
    ws = wf.make_workspace(tmp_path / "ws")
    shutil.copytree(wf.repo / ".test", ws / ".test")  # `snakemake --directory .test`
    wf.place_manual_raw(ws)
    first_shown: dict[str, str] = {}  # command -> the first document that shows it
    for doc, command in COMMANDS:
        first_shown.setdefault(command, doc)
    failures = []
    for command, doc in first_shown.items():
        argv = shlex.split(command)
        if argv[0] != "snakemake" or "--report" in argv or missing_deployment_tool(argv):
            continue
        argv = [wf.tool("snakemake"), *argv[1:], *([] if "-n" in argv else ["-n"])]
        result = subprocess.run(argv, cwd=ws, env=wf.env(), capture_output=True, text=True, timeout=300, check=False)
        if result.returncode != 0:
            failures.append(f"{doc}: {command}\n{(result.stdout + result.stderr)[-1500:]}")
    assert not failures, "\n\n".join(failures)
