"""The generated tables compile with a real LaTeX engine (pdflatex + booktabs) and render to an image."""

from __future__ import annotations

import os
import shutil
import subprocess
from pathlib import Path

import pytest

from dca.experiments.grid import Grid
from dca.report.collect import collect_group, report_groups
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


@pytest.fixture(scope="session")
def pdflatex() -> str:
    """pdflatex from the system (``.ci/run`` installs Debian's texlive); required in CI, skipped elsewhere."""
    found = shutil.which("pdflatex")
    if found:
        return found
    message = f"pdflatex is missing: install {' '.join(PACKAGES)} (Debian) or any TeX Live with booktabs"
    if os.environ.get("CI", "").lower() in ("1", "true"):
        pytest.fail(f"{message}; .ci/run installs them before the tests")
    pytest.skip(message)


def test_table_compiles(workspace: Path, grid: Grid, tmp_path: Path, pdflatex: str) -> None:
    """The table inside a minimal document compiles without errors; the PDF renders (pdftoppm) when available."""
    (group,) = report_groups(grid, ["toy_table"])
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
