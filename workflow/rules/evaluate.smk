"""Evaluation: test-split metrics and the predictions kept for the figures, one job per finished run."""


rule evaluate:
    input:
        unpack(evaluate_inputs),
    output:
        metrics=str(RUN.eval_metrics),
        per_case=str(RUN.eval_per_case),
    log:
        "logs/evaluate/{dataset}/{variant}/seed{seed}.log",
    benchmark:
        "logs/benchmarks/evaluate/{dataset}/{variant}/seed{seed}.tsv"
    conda:
        ENVS["torch"]
    threads: rule_threads("evaluate")
    resources:
        **rule_resources("evaluate"),
    params:
        run_dir=lambda wildcards: run_of(wildcards).folder(RUNS),
    shell:
        "python -m dca evaluate {params.run_dir:q} > {log:q} 2>&1"
