"""Config validation and helpers shared by every rule."""

from snakemake.utils import validate


validate(config, "../schemas/config.schema.yaml")
