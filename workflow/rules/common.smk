"""Config validation, wildcard constraints and the input functions shared by every rule.

The logic lives in dca.experiments (testable without Snakemake): Grid expands the experiment groups
into runs (dataset, variant, seed) and resolves each run's `dca train` config; every file name of a
run folder and of the results tree comes from dca.layout, every file name of a processed dataset from
dca.processed.
"""

import os
from pathlib import Path

from snakemake.exceptions import WorkflowError
from snakemake.utils import validate

from dca.data.rawstate import raw_fingerprint
from dca.enhance import METHODS
from dca.experiments.config import check_run_models, one_of_pattern
from dca.experiments.grid import Grid, dump_yaml
from dca.experiments.resources import job_resources
from dca.layout import aggregate_file, claims_files, config_digest, curves_file, figure_files, run_folder, table_files
from dca.processed import ProcessedDir
from dca.train.gpus import JOBS_PER_GPU_ENV

validate(config, "../schemas/config.schema.yaml")  # the package reads the same file (dca/resources links to it)
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
# The software of the rules under --sdm conda (pinned; the jobs import dca from the workflow's folder, see the
# Snakefile): torch for train, evaluate and the benchmark, the rest without it. By default jobs run in the
# current environment (the project's .venv, which `make setup` creates).
ENVS = {"base": "../envs/base.yaml", "torch": "../envs/torch.yaml"}
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
    trigger), and neither does a rerun of the job that made them, while they exist. Every input of every rule
    is ancient: what must be redone is always a missing file (a config stamp or report config named by its
    content, a deleted output), so that a checked-out or pulled state is up to date whatever Snakemake's
    metadata (`.snakemake/`) recorded, and the profiles leave out the `input` rerun trigger."""
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


def read_as_is(dataset):
    """The plan of `dataset` when its raw folder is read as it is (neither synthesised nor downloaded), else None."""
    plan = GRID.dataset(dataset)
    return plan if plan.synth is None and not plan.download else None


def raw_input(wildcards):
    """The raw folder of a dataset read as it is (ancient: its content is the `raw` param), so that a missing one
    fails `snakemake -n` naming the dataset; nothing for data the job writes itself, or for a processed dataset
    already there without its raw folder (a clone with the processed data pulled)."""
    plan = read_as_is(wildcards.dataset)
    if plan is None or (not Path(plan.raw).is_dir() and Path(processed_index(wildcards.dataset)).is_file()):
        return []
    if not Path(plan.raw).is_dir():
        base = GRID.base_dataset(wildcards.dataset)
        raise WorkflowError(
            f"dataset {wildcards.dataset}: raw folder {plan.raw} not found. Obtain {plan.registry} as "
            f"config/datasets.yaml ({plan.registry}: source) says and put it there, set datasets.{base}.raw to "
            "where it is, or `dvc pull` it where it is tracked (docs/dvc-snakemake.md, Raw data)"
        )
    return [ancient(plan.raw)]


def raw_state(wildcards):
    """The fingerprint of a dataset's raw folder read as it is (dca.data.rawstate): changed raw data is prepared
    again; '' for data the job writes itself or a raw folder not here."""
    plan = read_as_is(wildcards.dataset)
    return raw_fingerprint(plan.raw) if plan is not None and Path(plan.raw).is_dir() else ""


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


def evaluate_inputs(wildcards):
    """A run's finished training and its config stamp: a changed config (a missing stamp) re-evaluates the run."""
    run = run_of(wildcards)
    return {"summary": ancient(str(GRID.run_dir(run).summary)), "config": ancient(GRID.stamp(run))}


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
        out.append(REPORT_FILES[group])  # a missing (changed) report config is made, and the group re-reported
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
    tables = [str(path) for paper in claims_papers() for path in claims_files(PATHS["tables"], paper)]
    return tables + [REPORT_FILES[f"claims_{paper}"] for paper in claims_papers()]


# The validated config with its defaults that `dca report` reads, one per group (and per paper's claims) cut to
# what its report reads (Grid.group_config) and named by its content hash: a changed group is a new file to make
# (its report reruns, and no other group's), also without Snakemake's metadata.
REPORT_CONFIGS = {
    scope: GRID.group_config(groups)
    for scope, groups in [(g, [g]) for g in config["experiments"]]
    + [(f"claims_{p}", claims_groups(p)) for p in claims_papers()]
}
REPORT_FILES = {scope: f"{PATHS['workflow']}/config-{config_digest(cut)}.yaml" for scope, cut in REPORT_CONFIGS.items()}
# Each file's first line names its scope, so that a scope's job replaces its own older file and no other one.
REPORT_HEADERS = {config_digest(cut): f"# report config of {scope}" for scope, cut in REPORT_CONFIGS.items()}
REPORT_TEXTS = {
    config_digest(cut): f"{REPORT_HEADERS[config_digest(cut)]}\n{dump_yaml(cut)}" for cut in REPORT_CONFIGS.values()
}


def report_inputs(scope, groups):
    """The inputs every report job of `groups` shares (ancient: see `ancient_all`): its report config, and the
    config stamps and summaries of their runs, so that a changed or retrained run re-reports its groups only."""
    return {
        "config": ancient(REPORT_FILES[scope]),
        "stamps": ancient_all(stamp_targets(groups)),
        "summaries": ancient_all(GRID.summaries(groups)),
    }


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
