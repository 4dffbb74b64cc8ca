"""The experiment grid behind the Snakemake workflow and DVC, testable without Snakemake (``dca experiments``).

:mod:`dca.experiments.config` validates a workflow config (JSON schema with defaults, then the checks a
schema cannot express); :mod:`dca.experiments.grid` expands the experiment groups into runs and resolves
each run's ``dca train`` config from (paper settings, dataset, variant, seed). Nothing here imports
torch, so the Snakefile parses the full matrix of both papers in about a second.
"""

from dca.experiments.config import ConfigError, check_config, load_config, validate_config
from dca.experiments.grid import Grid, Run

__all__ = ["ConfigError", "Grid", "Run", "check_config", "load_config", "validate_config"]
