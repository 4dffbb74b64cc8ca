"""Training: one job per run (dataset x variant x seed), resumable.

run.yaml holds the run's resolved config (the run folder's only config); the local rule that writes it
(`dca experiments stamp`) also writes an empty stamp named by the config's canonical digest
(<run>/.config/<digest>), which is the training job's input: a changed config is a new stamp, so the run
is retrained even without Snakemake's metadata, e.g. in a fresh clone after `dvc pull`. The run of the
old config is moved to <run>/.previous/<old digest>/ first (never deleted), and moved back when the
config returns to it.

The training job's only output is summary.json, which `dca train` writes last: a half-trained run is
never a finished output, and Snakemake, which deletes the outputs of a failed job, never touches
last.pt/best.pt. Rerunning a killed or timed-out job resumes from last.pt.
"""


rule run_config:
    output:
        str(RUN.stamp("{digest}")),
    log:
        "logs/run_config/{dataset}/{variant}/seed{seed}/{digest}.log",
    localrule: True
    conda:
        CONDA_ENV
    params:
        text=lambda wildcards: GRID.run_yaml(run_of(wildcards)),
        run_dir=lambda wildcards: run_of(wildcards).folder(RUNS),
    shell:
        "printf '%s' {params.text:q} | dca experiments stamp {params.run_dir} --digest {wildcards.digest} > {log} 2>&1"


rule train:
    input:
        unpack(train_inputs),
    output:
        str(RUN.summary),
    log:
        "logs/train/{dataset}/{variant}/seed{seed}.log",
    benchmark:
        "logs/benchmarks/train/{dataset}/{variant}/seed{seed}.tsv"
    retries: config["resources"]["train"]["retries"]
    conda:
        CONDA_ENV
    threads: rule_threads("train")
    resources:
        **rule_resources("train"),
        attempt=lambda wildcards, attempt: attempt,
    params:
        run_yaml=lambda wildcards: str(GRID.run_dir(run_of(wildcards)).config),
        failed="logs/train/{dataset}/{variant}/seed{seed}.failed",
        workers=lambda wildcards, threads: max(threads - 1, 0),
    shell:
        # exit 75: stopped by SIGTERM (time limit), last.pt saved: Snakemake resubmits (retries) and it resumes.
        # Any other failure leaves {params.failed}, so that the retries of this invocation fail at once.
        # `|| rc=$?`: Snakemake runs this under `set -e`, which would end the subshell at the failing command.
        # Snakemake empties {log} before each attempt; its console output shows each failed attempt's log.
        '(echo "[workflow] $(date -Is) $(hostname) attempt {resources.attempt} '
        'CUDA_VISIBLE_DEVICES=${{CUDA_VISIBLE_DEVICES:-unset}}"; '
        "if [ {resources.attempt} -gt 1 ] && [ -e {params.failed} ]; then "
        'echo "[workflow] not retried: the previous attempt failed (not a time limit)"; exit 1; fi; '
        "rm -f {params.failed}; "
        "rc=0; dca train {params.run_yaml} --set device.threads={threads} --set data.workers={params.workers} "
        "|| rc=$?; "
        'if [ $rc -eq 75 ]; then echo "[workflow] stopped and saved (exit 75): resubmitted to resume"; '
        "elif [ $rc -ne 0 ]; then touch {params.failed}; fi; exit $rc) >> {log} 2>&1"
