"""Report: aggregate test scores (DVC metrics), training curves (DVC plots), tables and figures per group.

All local rules (cheap, read many small files). `dca report` reads <paths.workflow>/config-<hash>.yaml,
the validated config with its defaults cut to the group (Grid.group_config), so that --config overrides reach
the report too and a change to another group re-reports nothing here; each command's
output root is the config's `paths` (file names: dca.layout).
"""

# The per-group files of the aggregate and curves rules, as wildcard patterns (dca.layout)
AGGREGATE = str(aggregate_file(PATHS["aggregates"], "{group}"))
GROUP_CURVES = str(curves_file(PATHS["curves"], "{group}"))


rule effective_config:
    output:
        f"{PATHS['workflow']}/config-{{digest}}.yaml",
    log:
        "logs/report/effective_config_{digest}.log",
    localrule: True
    conda:
        ENVS["base"]
    params:
        text=lambda wildcards: REPORT_TEXTS[wildcards.digest],
        header=lambda wildcards: REPORT_HEADERS[wildcards.digest],
    shell:
        # the older report configs of the same group (first line) are removed, no other group's
        "(find \"$(dirname {output:q})\" -maxdepth 1 -name 'config-*.yaml' ! -path {output:q} | "
        'while IFS= read -r f; do head -n 1 "$f" | grep -qxF {params.header:q} && rm -f "$f" || true; done; '
        "printf '%s' {params.text:q} > {output:q}) 2> {log:q}"


rule aggregate:
    input:
        unpack(lambda wildcards: report_inputs(wildcards.group, [wildcards.group])),
        metrics=lambda wildcards: ancient_all(GRID.evaluations([wildcards.group])),
    output:
        AGGREGATE,
    log:
        "logs/report/aggregate_{group}.log",
    localrule: True
    conda:
        ENVS["base"]
    shell:
        "python -m dca report aggregate --config {input.config:q} --groups {wildcards.group} > {log:q} 2>&1"


rule curves:
    input:
        unpack(lambda wildcards: report_inputs(wildcards.group, [wildcards.group])),
    output:
        GROUP_CURVES,
    log:
        "logs/report/curves_{group}.log",
    localrule: True
    conda:
        ENVS["base"]
    shell:
        "python -m dca report curves --config {input.config:q} --groups {wildcards.group} > {log:q} 2>&1"


TABLE_TEX, TABLE_CSV, TABLE_TESTS = (str(path) for path in table_files(PATHS["tables"], "{group}"))


rule tables:
    input:
        unpack(lambda wildcards: report_inputs(wildcards.group, [wildcards.group])),
        aggregate=ancient(AGGREGATE),
        per_case=lambda wildcards: ancient_all(eval_targets([wildcards.group])),
    output:
        TABLE_TEX,
        report(TABLE_CSV, caption="../report/tables.rst", category="Tables", subcategory="{group}"),
        TABLE_TESTS,
    log:
        "logs/report/tables_{group}.log",
    localrule: True
    conda:
        ENVS["base"]
    shell:
        "python -m dca report tables --config {input.config:q} --groups {wildcards.group} > {log:q} 2>&1"


for _group in config["experiments"]:

    rule:
        name:
            f"figures_{_group}"
        input:
            **report_inputs(_group, [_group]),
            per_case=ancient_all(eval_targets([_group])),
            curves=ancient(str(curves_file(PATHS["curves"], _group))),
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
            ENVS["base"]
        params:
            group=_group,
        shell:
            "python -m dca report figures --config {input.config:q} --groups {params.group} > {log:q} 2>&1"

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
            **report_inputs(f"claims_{_paper}", claims_groups(_paper)),
            per_case=ancient_all(eval_targets(claims_groups(_paper))),
        output:
            [str(path) for path in claims_files(PATHS["tables"], _paper)],
        log:
            f"logs/report/claims_{_paper}.log",
        localrule: True
        conda:
            ENVS["base"]
        params:
            groups=" ".join(claims_groups(_paper)),
        shell:
            "python -m dca report claims --config {input.config:q} --groups {params.groups} > {log:q} 2>&1"


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
