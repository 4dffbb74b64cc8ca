"""Datasets: obtain the raw data (synthesise, download or use a local copy), convert and split it.

One job per dataset id. Raw data is written inside the same job (not a separate output), so a DVC
checkout of results/data without data/raw never makes Snakemake rebuild the datasets.
"""


rule prepare:
    output:
        index=str(DATA.index),
        info=str(DATA.info),
    log:
        "logs/data/{dataset}.log",
    benchmark:
        "logs/benchmarks/data/{dataset}.tsv"
    conda:
        CONDA_ENV
    threads: rule_threads("data")
    resources:
        **rule_resources("data"),
    params:
        fetch=lambda wildcards: GRID.dataset(wildcards.dataset).fetch_command(),
        args=lambda wildcards: GRID.dataset(wildcards.dataset).prepare_args(),
    shell:
        "({params.fetch}dca data prepare {params.args}) > {log:q} 2>&1"
