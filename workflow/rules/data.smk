"""Datasets: obtain the raw data (synthesise, download or use a local copy), convert and split it.

One job per dataset id. Raw data that is synthesised or downloaded is written inside the same job (not a
separate output), so a DVC checkout of results/data without data/raw never makes Snakemake rebuild the
datasets. A raw folder read as it is (a manual download, `dvc add`/`dvc import-url`) is the job's input (a
missing one fails `snakemake -n` naming the dataset) and its fingerprint a param (changed raw data is prepared
again; the runs on it are not retrained: delete them, or their stamps, to retrain).
"""


rule prepare:
    input:
        raw_input,
    output:
        index=str(DATA.index),
        info=str(DATA.info),
    log:
        "logs/data/{dataset}.log",
    benchmark:
        "logs/benchmarks/data/{dataset}.tsv"
    conda:
        ENVS["base"]
    threads: rule_threads("data")
    resources:
        **rule_resources("data"),
    params:
        fetch=lambda wildcards: GRID.dataset(wildcards.dataset).fetch_command(),
        args=lambda wildcards: GRID.dataset(wildcards.dataset).prepare_args(),
        raw=raw_state,
    shell:
        "({params.fetch}python -m dca data prepare {params.args}) > {log:q} 2>&1"
