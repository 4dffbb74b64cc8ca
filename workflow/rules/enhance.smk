"""Enhancement: cached enhanced copies (fuzzy, HE, CLAHE) of the datasets whose variants read them (DIN)."""


rule enhance:
    input:
        ancient(f"{PROCESSED}/{{dataset}}/index.csv"),
    output:
        f"{PROCESSED}/{{dataset}}/enhanced/{{method}}.json",
    log:
        "logs/enhance/{dataset}/{method}.log",
    benchmark:
        "logs/benchmarks/enhance/{dataset}/{method}.tsv"
    conda:
        CONDA_ENV
    threads: rule_threads("enhance")
    resources:
        **rule_resources("enhance"),
    params:
        data=lambda wildcards: GRID.processed_dir(wildcards.dataset),
        args=lambda wildcards: GRID.enhance_args(wildcards.method),
    shell:
        "dca enhance {wildcards.method} --data {params.data} {params.args} > {log} 2>&1 && "
        "cp {params.data}/enhanced/{wildcards.method}/params.json {output}"
