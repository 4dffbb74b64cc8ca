"""Evaluation: test-split metrics and the predictions kept for the figures, one job per finished run."""


rule evaluate:
    input:
        f"{RUN}/{SUMMARY_FILE}",
    output:
        metrics=f"{RUN}/{EVAL_METRICS}",
        per_case=f"{RUN}/{EVAL_PER_CASE}",
    log:
        "logs/evaluate/{dataset}/{variant}/seed{seed}.log",
    benchmark:
        "logs/benchmarks/evaluate/{dataset}/{variant}/seed{seed}.tsv"
    conda:
        CONDA_ENV
    threads: rule_threads("evaluate")
    resources:
        **rule_resources("evaluate"),
    params:
        run_dir=lambda wildcards: run_of(wildcards).folder(RUNS),
    shell:
        "dca evaluate {params.run_dir} > {log} 2>&1"
