"""Benchmarks: model cost (parameters, GFLOPs, CPU time, DCA overhead, peak memory), from config `bench`.

With `bench.models: []` the benchmark is skipped: the default targets leave it out, and the rule (which
DVC's bench_models stage runs) writes empty tables instead of benchmarking (`dca bench models` without
--models would run every model).
"""


rule bench_models:
    output:
        csv=BENCH_FILES[0],
        json=BENCH_FILES[1],
    log:
        "logs/bench/models.log",
    benchmark:
        "logs/benchmarks/bench/models.tsv"
    conda:
        ENVS["torch"]
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
        'if [ -z "{params.models}" ]; then echo "bench.models is []: benchmark skipped" > {log:q}; '
        "for f in {output:q}; do : > $f; done; "
        "else python -m dca bench models --models {params.models} --batch {params.batch} --size {params.size} "
        '--repeats {params.repeats} {params.memory} --threads {threads} --out "$(dirname {output.csv:q})" '
        "> {log:q} 2>&1; fi"
