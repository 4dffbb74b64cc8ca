"""The generated tables compile with a real LaTeX engine (pdflatex + booktabs) and render to an image."""

from __future__ import annotations

import os
import shutil
import subprocess
from pathlib import Path

import pytest

from dca.report.collect import collect_group, config_groups, load_config
from dca.report.tables import write_table

PACKAGES = ["texlive-latex-base", "texlive-latex-recommended"]
DOCUMENT = r"""\documentclass{article}
\usepackage{booktabs}
\usepackage{graphicx}
\begin{document}
\begin{table}[t]
  \centering
  \caption{Fake group.}
  \resizebox{\linewidth}{!}{\input{toy_table.tex}}
\end{table}
\end{document}
"""


def _apt_install() -> subprocess.CompletedProcess[str]:
    """``apt-get install`` the LaTeX packages (after ``apt-get update`` when the first try fails)."""
    command = ["apt-get", "install", "-y", "--no-install-recommends", *PACKAGES]
    env = {**os.environ, "DEBIAN_FRONTEND": "noninteractive"}
    done = subprocess.run(command, capture_output=True, text=True, env=env, check=False)
    if done.returncode != 0:
        subprocess.run(["apt-get", "update"], capture_output=True, text=True, env=env, check=False)
        done = subprocess.run(command, capture_output=True, text=True, env=env, check=False)
    return done


@pytest.fixture(scope="session")
def pdflatex() -> str:
    """pdflatex, installed from Debian's texlive when missing; skipped only where apt-get cannot be used."""
    found = shutil.which("pdflatex")
    if found:
        return found
    if shutil.which("apt-get") is None or os.geteuid() != 0:
        pytest.skip(f"pdflatex is missing and apt-get is unavailable (or not root) to install {' '.join(PACKAGES)}")
    done = _apt_install()
    found = shutil.which("pdflatex")
    if found is None:
        pytest.fail(f"apt-get install {' '.join(PACKAGES)} did not provide pdflatex:\n{done.stderr[-2000:]}")
    return found


def test_table_compiles(workspace: Path, tmp_path: Path, pdflatex: str) -> None:
    """The table inside a minimal document compiles without errors; the PDF renders (pdftoppm) when available."""
    (group,) = config_groups(load_config(workspace / "config.yaml"), ["toy_table"])
    write_table(collect_group(group, workspace / "runs"), tmp_path, lambda message: None)
    (tmp_path / "doc.tex").write_text(DOCUMENT)
    command = [pdflatex, "-interaction=nonstopmode", "-halt-on-error", "doc.tex"]
    done = subprocess.run(command, cwd=tmp_path, capture_output=True, text=True, check=False)
    assert done.returncode == 0, done.stdout[-3000:]
    assert (tmp_path / "doc.pdf").read_bytes().startswith(b"%PDF")
    log = (tmp_path / "doc.log").read_text(errors="replace")
    assert "Undefined control sequence" not in log and "Missing" not in log
    if shutil.which("pdftoppm"):
        subprocess.run(["pdftoppm", "-png", "-r", "50", "doc.pdf", "page"], cwd=tmp_path, check=True)
        assert (tmp_path / "page-1.png").stat().st_size > 1000
