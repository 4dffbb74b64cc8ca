"""dca workflow: dataset -> enhancement -> training -> evaluation -> report.

Rules live in workflow/rules/*.smk; the experiment grid lives in config/config.yaml,
validated against workflow/schemas/config.schema.yaml before any job starts.
"""

from snakemake.utils import min_version

min_version("8.20")


configfile: "config/config.yaml"


include: "workflow/rules/common.smk"
include: "workflow/rules/bench.smk"


rule all:
    default_target: True
    input:
        rules.bench_models.output,
