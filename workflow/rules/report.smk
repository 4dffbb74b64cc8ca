"""Report: aggregate test scores (DVC metrics), training curves (DVC plots), tables and figures per group.

All local rules (cheap, read many small files). `dca report` reads <paths.workflow>/config-<hash>.yaml,
the validated config with its defaults, so that --config overrides reach the report too; each command's
output root is the config's `paths` (file names: dca.layout).
"""

# The per-group files of the aggregate and curves rules, as wildcard patterns (dca.layout)
AGGREGATE = str(aggregate_file(PATHS["aggregates"], "{group}"))
GROUP_CURVES = str(curves_file(PATHS["curves"], "{group}"))


rule effective_config:
    output:
        EFFECTIVE_CONFIG,
    log:
        "logs/report/effective_config.log",
    localrule: True
    conda:
        CONDA_ENV
    params:
        text=EFFECTIVE_TEXT,
    shell:
        "(find \"$(dirname {output:q})\" -name 'config-*.yaml' ! -path {output:q} -delete && "
        "printf '%s' {params.text:q} > {output:q}) 2> {log:q}"


rule aggregate:
    input:
        config=EFFECTIVE_CONFIG,
        metrics=lambda wildcards: GRID.evaluations([wildcards.group]),
    output:
        AGGREGATE,
    log:
        "logs/report/aggregate_{group}.log",
    localrule: True
    conda:
        CONDA_ENV
    shell:
        "dca report aggregate --config {input.config:q} --groups {wildcards.group} > {log:q} 2>&1"


rule curves:
    input:
        config=EFFECTIVE_CONFIG,
        summaries=lambda wildcards: GRID.summaries([wildcards.group]),
    output:
        GROUP_CURVES,
    log:
        "logs/report/curves_{group}.log",
    localrule: True
    conda:
        CONDA_ENV
    shell:
        "dca report curves --config {input.config:q} --groups {wildcards.group} > {log:q} 2>&1"


TABLE_TEX, TABLE_CSV, TABLE_TESTS = (str(path) for path in table_files(PATHS["tables"], "{group}"))


rule tables:
    input:
        config=EFFECTIVE_CONFIG,
        aggregate=AGGREGATE,
        per_case=lambda wildcards: eval_targets([wildcards.group]),
    output:
        TABLE_TEX,
        report(TABLE_CSV, caption="../report/tables.rst", category="Tables", subcategory="{group}"),
        TABLE_TESTS,
    log:
        "logs/report/tables_{group}.log",
    localrule: True
    conda:
        CONDA_ENV
    shell:
        "dca report tables --config {input.config:q} --groups {wildcards.group} > {log:q} 2>&1"


for _group in config["experiments"]:

    rule:
        name:
            f"figures_{_group}"
        input:
            config=EFFECTIVE_CONFIG,
            per_case=eval_targets([_group]),
            curves=str(curves_file(PATHS["curves"], _group)),
        output:
            [
                (
                    report(path, caption="../report/figures.rst", category="Figures", subcategory=_group)
                    if path.endswith(".png")
                    else path
                )
                for path in map(str, figure_files(PATHS["figures"], _group, GRID.table_datasets(_group)))
            ],
        log:
            f"logs/report/figures_{_group}.log",
        localrule: True
        conda:
            CONDA_ENV
        params:
            group=_group,
        shell:
            "dca report figures --config {input.config:q} --groups {params.group} > {log:q} 2>&1"

    rule:
        name:
            _group
        input:
            report_targets([_group]),
        localrule: True


for _paper in claims_papers():

    rule:
        name:
            f"claims_{_paper}"
        input:
            config=EFFECTIVE_CONFIG,
            per_case=eval_targets(claims_groups(_paper)),
        output:
            [str(path) for path in claims_files(PATHS["tables"], _paper)],
        log:
            f"logs/report/claims_{_paper}.log",
        localrule: True
        conda:
            CONDA_ENV
        params:
            groups=" ".join(claims_groups(_paper)),
        shell:
            "dca report claims --config {input.config:q} --groups {params.groups} > {log:q} 2>&1"


rule data_all:
    input:
        data_targets(),
    localrule: True


rule train_all:
    input:
        summary_targets(),
    localrule: True


rule evaluate_all:
    input:
        eval_targets() + stamp_targets(),
    localrule: True


rule report_all:
    input:
        report_targets() + claims_targets(),
    localrule: True
