"""Benchmarks: model cost (parameters, GFLOPs, CPU time, DCA overhead, peak memory), from config `bench`."""


rule bench_models:
    output:
        bench_targets(),
    log:
        "logs/bench/models.log",
    benchmark:
        "logs/benchmarks/bench/models.tsv"
    conda:
        CONDA_ENV
    threads: rule_threads("bench")
    resources:
        **rule_resources("bench"),
    params:
        models=" ".join(config["bench"]["models"]),
        batch=config["bench"]["batch"],
        size=config["bench"]["size"],
        repeats=config["bench"]["repeats"],
        memory="" if config["bench"]["memory"] else "--no-memory",
    shell:
        "dca bench models --models {params.models} --batch {params.batch} --size {params.size} "
        "--repeats {params.repeats} {params.memory} --threads {threads} --out results/bench > {log} 2>&1"
