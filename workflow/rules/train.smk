"""Training: one job per run (dataset x variant x seed), resumable.

run.yaml holds the run's resolved config (the run folder's only config); the local rule that writes it
also touches an empty stamp named by the config's canonical digest (<run>/.config/<digest>), which is
the training job's input: a changed config is a new stamp, so the run is retrained (or refused by
`dca train`, which checks run.yaml against the config kept in last.pt) even without Snakemake's
metadata, e.g. in a fresh clone after `dvc pull`.

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
        run_yaml=lambda wildcards: str(GRID.run_dir(run_of(wildcards)).config),
        stamps=lambda wildcards: str(GRID.run_dir(run_of(wildcards)).stamp_dir),
    shell:
        "(find {params.stamps} -type f ! -name {wildcards.digest} -delete && "
        "printf '%s' {params.text:q} > {params.run_yaml} && touch {output}) 2> {log}"


rule train:
    input:
        unpack(train_inputs),
    output:
        str(RUN.summary),
    log:
        "logs/train/{dataset}/{variant}/seed{seed}.log",
    benchmark:
        "logs/benchmarks/train/{dataset}/{variant}/seed{seed}.tsv"
    conda:
        CONDA_ENV
    threads: rule_threads("train")
    resources:
        **rule_resources("train"),
    params:
        run_yaml=lambda wildcards: str(GRID.run_dir(run_of(wildcards)).config),
    shell:
        '(echo "[workflow] $(date -Is) $(hostname) CUDA_VISIBLE_DEVICES=${{CUDA_VISIBLE_DEVICES:-unset}}"; '
        "dca train {params.run_yaml} --set device.threads={threads}) >> {log} 2>&1"
