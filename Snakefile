"""dca workflow: dataset -> enhancement -> training -> evaluation -> report.

Rules live in workflow/rules/*.smk; the experiment grid lives in the config, validated against
dca/resources/config.schema.yaml before any job starts. Without --configfile the workspace config
params.yaml runs (DVC's params file too; committed as a copy of config/demo.yaml: synthetic data, CPU,
minutes); both papers' full matrix is `snakemake dca_table2 --configfile=config/config.yaml`. Targets: all (default), one per experiment group
(e.g. dca_table2), the steps data_all, train_all, evaluate_all, report_all, bench_models, or any
file of a run (results/runs/<dataset>/<variant>/seed<k>/summary.json).
"""

from snakemake.utils import min_version

min_version("9.0")


if not workflow.overwrite_configfiles:

    configfile: "params.yaml"


report: "workflow/report/workflow.rst"


include: "workflow/rules/common.smk"
include: "workflow/rules/data.smk"
include: "workflow/rules/enhance.smk"
include: "workflow/rules/train.smk"
include: "workflow/rules/evaluate.smk"
include: "workflow/rules/report.smk"
include: "workflow/rules/bench.smk"


rule all:
    default_target: True
    input:
        all_targets(),
