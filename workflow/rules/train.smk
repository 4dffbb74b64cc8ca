"""Training: one job per run (dataset x variant x seed), resumable.

run.yaml holds the run's resolved config (the run folder's only config); the local rule that writes it
(`dca experiments stamp`) also writes an empty stamp named by the config's canonical digest
(<run>/.config/<digest>), which is the training job's input: a changed config is a new stamp, so the run
is retrained even without Snakemake's metadata, e.g. in a fresh clone after `dvc pull`. The run of the
old config is moved to <run>/.previous/<old digest>/ first (the newest storage.previous kept), and moved
back when the config returns to it.

The training job's only output is summary.json, which `dca train` writes last: a half-trained run is
never a finished output, and Snakemake, which deletes the outputs of a failed job, never touches
last.pt/best.pt. Rerunning a killed or timed-out job resumes from last.pt.
"""

import shlex
from pathlib import Path


rule run_config:
    output:
        str(RUN.stamp("{digest}")),
    log:
        "logs/run_config/{dataset}/{variant}/seed{seed}/{digest}.log",
    localrule: True
    conda:
        ENVS["base"]
    params:
        text=lambda wildcards: GRID.run_yaml(run_of(wildcards)),
        run_dir=lambda wildcards: run_of(wildcards).folder(RUNS),
    shell:
        "printf '%s' {params.text:q} | python -m dca experiments stamp {params.run_dir:q} --digest {wildcards.digest:q} > {log:q} 2>&1"


rule train:
    input:
        unpack(train_inputs),
    output:
        str(RUN.summary),
    log:
        "logs/train/{dataset}/{variant}/seed{seed}.log",
    benchmark:
        "logs/benchmarks/train/{dataset}/{variant}/seed{seed}.tsv"
    # Snakemake resubmits a failed job (`retries`); the Snakemake that runs it inside a cluster job would apply the
    # rule's retries again, rerunning a stopped training in its dying job: there it gets none.
    retries: 0 if workflow.remote_exec else config["resources"]["train"]["retries"]
    conda:
        ENVS["torch"]
    threads: rule_threads("train")
    resources:
        **train_resources(),
        attempt=lambda wildcards, attempt: attempt,
    params:
        run_yaml=lambda wildcards: str(GRID.run_dir(run_of(wildcards)).config),
        failed=failed_marker,
        workers=lambda wildcards, threads: max(threads - 1, 0),
    shell:
        # exit 75: stopped by SIGTERM (time limit), last.pt saved: Snakemake resubmits (retries) and it resumes.
        # Any other failure leaves {params.failed}: the retries of this invocation refuse at once (`dca train`
        # --attempt/--failed-marker), as small jobs (train_resources). Snakemake empties {log} before each attempt;
        # its console output shows each failed attempt's log.
        "python -m dca train {params.run_yaml:q} --set device.threads={threads} --set data.workers={params.workers} "
        "--attempt {resources.attempt} --failed-marker {params.failed:q} >> {log:q} 2>&1"


onsuccess:
    # What finished run folders keep (config `storage`): last.pt of finished runs and older .previous/ runs go
    # (dca experiments prune; never an unfinished run's last.pt), so DVC caches best.pt + summary per run.
    if not workflow.remote_exec and Path(RUNS).is_dir():
        storage = config["storage"]
        keep = " --keep-last" if storage["keep_last"] else ""
        shell(f"python -m dca experiments prune {shlex.quote(RUNS)} --previous {storage['previous']}{keep}")
