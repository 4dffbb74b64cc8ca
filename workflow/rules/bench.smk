"""Benchmarks: model cost (parameters, GFLOPs, CPU time, DCA overhead, peak memory)."""


rule bench_models:
    output:
        table="results/bench/models.csv",
        memory="results/bench/models_memory.csv",
    log:
        "logs/bench/models.log",
    params:
        models=" ".join(config["bench"]["models"]),
        batch=config["bench"]["batch"],
        repeats=config["bench"]["repeats"],
    threads: 2
    shell:
        "python -m dca.bench models --models {params.models} --batch {params.batch} "
        "--repeats {params.repeats} --threads {threads} --out results/bench > {log} 2>&1"
