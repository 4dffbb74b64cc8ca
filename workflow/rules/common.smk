"""Config validation, wildcard constraints and the input functions shared by every rule.

The logic lives in dca.experiments (testable without Snakemake): Grid expands the experiment groups
into runs (dataset, variant, seed) and resolves each run's `dca train` config; every file name of a
run folder and of the results tree comes from dca.layout, every file name of a processed dataset from
dca.processed.
"""

import os
from pathlib import Path

from snakemake.utils import validate

from dca.enhance import METHODS
from dca.experiments.config import SCHEMA_PATH, check_run_models, one_of_pattern
from dca.experiments.grid import Grid, dump_yaml
from dca.experiments.resources import job_resources
from dca.layout import aggregate_file, claims_files, config_digest, curves_file, figure_files, run_folder, table_files
from dca.processed import ProcessedDir
from dca.train.gpus import JOBS_PER_GPU_ENV

validate(config, str(SCHEMA_PATH))  # the schema shipped in the package (dca/resources)
GRID = Grid(config)  # raises dca.experiments.ConfigError naming the key at fault
if workflow.is_main_process:  # not again in every job: models are built on the meta device (seconds)
    check_run_models({run: GRID.run_config(run) for run in GRID.runs()})

PATHS = config["paths"]
RAW = PATHS["raw"]
PROCESSED = PATHS["processed"]
RUNS = PATHS["runs"]
# The files of a run folder, as wildcard patterns (dca.layout.RunDir)
RUN = run_folder(RUNS, "{dataset}", "{variant}", "{seed}")
# The files of a processed dataset, as wildcard patterns (dca.processed.ProcessedDir)
DATA = ProcessedDir(GRID.processed_dir("{dataset}"))
# The validated config with its defaults, for `dca report`; named by its content hash so that a changed
# config is a new file to make (and the report reruns), also without Snakemake's metadata.
EFFECTIVE_TEXT = dump_yaml(GRID.effective_config())
EFFECTIVE_CONFIG = f"{PATHS['workflow']}/config-{config_digest(GRID.effective_config())}.yaml"
# The software of every rule (documentation, and --software-deployment-method conda); by default
# jobs run in the current environment (the project's .venv), which `make setup` creates.
CONDA_ENV = "../../environment.yml"
# How many jobs may share one GPU of the machine's pool (dca.train.gpus): the jobs inherit the environment.
os.environ[JOBS_PER_GPU_ENV] = str(config["jobs_per_gpu"])


wildcard_constraints:
    dataset=one_of_pattern(GRID.dataset_ids()),
    variant=one_of_pattern(list(config["variants"])),
    seed=r"\d+",
    digest=r"[0-9a-f]{12}",
    method=one_of_pattern(list(METHODS)),
    group=one_of_pattern(list(config["experiments"])),


def ancient_all(paths):
    """`paths` marked ancient: their file times never make the job rerun (a DVC checkout or pull sets new
    times in any order, and Snakemake compares input and output times even without the mtime rerun
    trigger), and neither does a rerun of the job that made them, while they exist. Used for the inputs
    of training that are deterministic to rebuild (processed data, enhanced copies) and for its config
    stamp, whose name changes with the config. Evaluation and report inputs are not ancient: a retrained
    run is re-evaluated."""
    return [ancient(path) for path in paths]


def rule_resources(step):
    """Snakemake resources of the jobs of `step`, from config `resources.<step>`, under the SLURM executor's own
    names (slurm_partition, slurm_account, qos, constraint, gpu/gpu_model or gres, slurm_extra), each only if set."""
    return job_resources(step, config["resources"][step])


def rule_threads(step):
    """Threads of a rule: its cpus_per_task (Snakemake scales it down to --cores)."""
    return config["resources"][step]["cpus_per_task"]


def run_of(wildcards):
    """The dca.experiments Run named by a rule's wildcards."""
    return GRID.run(wildcards.dataset, wildcards.variant, wildcards.seed)


def processed_index(dataset):
    """The file that marks a processed dataset complete (its index, written last)."""
    return str(ProcessedDir(GRID.processed_dir(dataset)).complete)


def enhanced_marker(dataset, method):
    """The file that marks an enhanced copy of a dataset complete."""
    return str(ProcessedDir(GRID.processed_dir(dataset)).enhanced_marker(method))


def train_inputs(wildcards):
    """A run's inputs: its config stamp (named by the config's digest), its processed dataset and the
    enhanced copies it reads (all ancient: see `ancient_all`)."""
    run = run_of(wildcards)
    return {
        "config": ancient(GRID.stamp(run)),
        "data": ancient(processed_index(run.dataset)),
        "enhanced": ancient_all(enhanced_marker(run.dataset, m) for m in GRID.enhancements(run)),
    }


def stamp_targets(groups=None):
    """The config stamps of every run of `groups` (default: all). Targets list them so that a changed run
    config is a missing file that Snakemake must make, which reruns the run, also without metadata."""
    return [GRID.stamp(run) for run in GRID.runs(groups)]


def data_targets(groups=None):
    """Every processed dataset and enhanced copy the runs of `groups` (default: all) need."""
    return [processed_index(d) for d in GRID.datasets(groups)] + [
        enhanced_marker(d, m) for d, m in GRID.enhanced_datasets(groups)
    ]


def eval_targets(groups=None):
    """The evaluation outputs of every run of `groups` (default: all)."""
    dirs = [GRID.run_dir(run) for run in GRID.runs(groups)]
    return [str(path) for run_dir in dirs for path in (run_dir.eval_metrics, run_dir.eval_per_case)]


def summary_targets(groups=None):
    """The summary.json (finished training) and config stamp of every run of `groups` (default: all)."""
    return GRID.summaries(groups) + stamp_targets(groups)


def report_targets(groups=None):
    """Tables, figures, aggregate test scores, training curves, summaries and stamps of `groups` (default: all)."""
    names = list(GRID.groups) if groups is None else list(groups)
    out = []
    for group in names:
        datasets = GRID.table_datasets(group)
        out += [str(p) for p in table_files(PATHS["tables"], group) + figure_files(PATHS["figures"], group, datasets)]
        out += [str(aggregate_file(PATHS["aggregates"], group)), str(curves_file(PATHS["curves"], group))]
    # summaries too: a deleted summary.json of a finished run is rebuilt (resumed from last.pt), not ignored
    return out + summary_targets(names)


def claims_groups(paper):
    """The groups of `paper` that compare a variant with a baseline: the claims table's sources."""
    return [g for g, spec in config["experiments"].items() if spec["paper"] == paper and spec.get("baselines")]


def claims_papers():
    """The papers with a claims table (a group with baselines), in config order."""
    return list(dict.fromkeys(spec["paper"] for spec in config["experiments"].values() if spec.get("baselines")))


def claims_targets():
    """The claims tables (`<paper>_claims.tex`/`.csv`) of every paper with comparisons."""
    return [str(path) for paper in claims_papers() for path in claims_files(PATHS["tables"], paper)]


#: The model benchmark's tables (DVC plots the CSV with the bar template).
BENCH_FILES = [f"{PATHS['bench']}/models.csv", f"{PATHS['bench']}/models.json"]


def bench_targets():
    """The model benchmark's tables, or nothing when bench.models is [] (skipped)."""
    return BENCH_FILES if config["bench"]["models"] else []


def all_targets():
    """What `snakemake` builds by default: every group's report and the model benchmark."""
    return report_targets() + claims_targets() + bench_targets()


def failed_marker(wildcards):
    """The file `dca train --failed-marker` leaves when a training fails for a real reason (not a time limit)."""
    return f"logs/train/{wildcards.dataset}/{wildcards.variant}/seed{wildcards.seed}.failed"


def train_resources():
    """Config `resources.train`, except that an attempt after a real failure (its marker left) asks for no GPU
    and one minute: `dca train` refuses it at once, decided here before the job is submitted."""

    def per_attempt(key, value):
        least = {"gpu": 0, "runtime": 1}[key]
        return lambda wildcards, attempt: (least if attempt > 1 and Path(failed_marker(wildcards)).exists() else value)

    own = rule_resources("train")
    return {**own, **{k: per_attempt(k, own[k]) for k in ("gpu", "runtime") if k in own}}
