"""Enhancement: cached enhanced copies (fuzzy, HE, CLAHE) of the datasets whose variants read them (DIN)."""


rule enhance:
    input:
        ancient(str(DATA.complete)),
    output:
        str(DATA.enhanced_marker("{method}")),
    log:
        "logs/enhance/{dataset}/{method}.log",
    benchmark:
        "logs/benchmarks/enhance/{dataset}/{method}.tsv"
    conda:
        ENVS["base"]
    threads: rule_threads("enhance")
    resources:
        **rule_resources("enhance"),
    params:
        data=lambda wildcards: GRID.processed_dir(wildcards.dataset),
        record=lambda wildcards: str(
            ProcessedDir(GRID.processed_dir(wildcards.dataset)).enhanced_params(wildcards.method)
        ),
        args=lambda wildcards: GRID.enhance_args(wildcards.method),
    shell:
        "python -m dca enhance {wildcards.method} --data {params.data:q} {params.args} > {log:q} 2>&1 && "
        "cp {params.record:q} {output:q}"
