"""Expand experiment groups into runs and resolve each run's ``dca train`` config.

A run is (dataset, variant, seed); its folder is ``<paths.runs>/<dataset>/<variant>/seed<k>/``
(docs/experiments.md). Groups that share a run (Table 1's U-Net+DCA is Table 2's CCA-SCA row)
share its folder, so it is trained once; two groups that would train the same run differently
(their papers' settings differ) are a config error.

A run's config is, merged in this order (later wins, nested mappings key by key, None = not set):
the preset named by the merged settings, ``training.<paper>``, ``training.<paper>.datasets.<dataset>``,
``variants.<variant>.training``, and what the workflow fixes: ``model`` (name, dca, options),
``data.root`` and ``data.inputs``, ``seed``, ``selection``, ``device.name`` and ``out``.
"""

from __future__ import annotations

import json
import shlex
from collections.abc import Iterable
from dataclasses import dataclass
from typing import Any

import yaml

from dca.experiments.config import IMAGE_INPUT, ConfigError, check_config, prune
from dca.layout import Run, RunDir, config_digest
from dca.train.config import deep_merge, resolve_config, to_dict


def dump_yaml(data: Any) -> str:
    """``data`` as block-style YAML in key order (libyaml's emitter when present: 10x faster)."""
    dumper = getattr(yaml, "CSafeDumper", yaml.SafeDumper)
    return yaml.dump(data, Dumper=dumper, sort_keys=False)


@dataclass(frozen=True)
class DatasetPlan:
    """How one dataset id of the config is obtained and prepared."""

    id: str
    registry: str
    raw: str
    processed: str
    protocol: str | None
    synth: dict[str, Any] | None
    download: bool

    def fetch_command(self) -> str:
        """Shell commands (each ending in ``&&``) that write the raw data first: synthesise or download; or ''."""
        raw = shlex.quote(self.raw)
        if self.synth is not None:
            args = [self.synth["kind"], "--out", raw, "--seed", str(self.synth.get("seed", 0))]
            if self.synth.get("n") is not None:
                args += ["--n", str(self.synth["n"])]
            if self.synth.get("size") is not None:
                args += ["--size", "x".join(str(v) for v in self.synth["size"])]
            return f"dca data synth {' '.join(args)} && "
        if self.download:
            return f"dca data download {shlex.quote(self.registry)} --out {raw} && "
        return ""

    def prepare_args(self) -> str:
        """Arguments of ``dca data prepare`` after the command name (the output replaced when it exists)."""
        args = [shlex.quote(self.registry), "--raw", shlex.quote(self.raw), "--out", shlex.quote(self.processed)]
        if self.protocol is not None:
            args += ["--protocol", shlex.quote(self.protocol)]
        return " ".join([*args, "--overwrite"])


def _synth_spec(registry_name: str, synth: dict[str, Any] | None) -> dict[str, Any] | None:
    """The ``synth`` settings with the kind filled in from the registry, or None when not synthetic."""
    if synth is None:
        return None
    from dca.data.registry import get_dataset

    spec = dict(prune(synth))
    spec.setdefault("kind", get_dataset(registry_name).source.synth)
    return spec


class Grid:
    """The runs of a validated workflow config, each with its resolved ``dca train`` config."""

    def __init__(self, config: dict[str, Any], check: bool = True) -> None:
        """Expand and resolve every group of ``config`` (validated, defaults filled); ``check`` runs
        :func:`~dca.experiments.config.check_config` first. Raises :class:`ConfigError`."""
        if check:
            check_config(config)
        self.config = config
        self.paths: dict[str, str] = dict(config["paths"])
        self.groups: dict[str, list[Run]] = {}
        self.papers: dict[Run, str] = {}
        self._resolved: dict[Run, dict[str, Any]] = {}
        self._yaml: dict[Run, str] = {}
        self._digest: dict[Run, str] = {}
        owner: dict[Run, str] = {}
        for group, spec in config["experiments"].items():
            runs = [
                Run(dataset, variant, seed)
                for dataset in spec["datasets"]
                for variant in spec["variants"]
                for seed in config["seeds"]
            ]
            self.groups[group] = runs
            for run in runs:
                resolved = self._resolve(run, spec["paper"], group)
                if run in self._resolved and resolved != self._resolved[run]:
                    raise ConfigError(
                        f"experiments.{group}: run {run.folder(self.paths['runs'])} is also in group {owner[run]} "
                        f"(paper {self.papers[run]}) with different training settings; use a separate variant id"
                    )
                self._resolved.setdefault(run, resolved)
                self.papers.setdefault(run, spec["paper"])
                owner.setdefault(run, group)

    # ------------------------------------------------------------------ runs

    def runs(self, groups: Iterable[str] | None = None) -> list[Run]:
        """The distinct runs of ``groups`` (default: all), sorted."""
        names = list(self.groups) if groups is None else list(groups)
        unknown = [g for g in names if g not in self.groups]
        if unknown:
            raise ConfigError(f"unknown group(s) {', '.join(unknown)}; groups: {', '.join(self.groups)}")
        return sorted({run for g in names for run in self.groups[g]})

    def run(self, dataset: str, variant: str, seed: int | str) -> Run:
        """The run of these wildcards; a KeyError naming it when no group has it."""
        run = Run(dataset, variant, int(seed))
        if run not in self._resolved:
            raise KeyError(f"{run.folder(self.paths['runs'])} is not a run of any experiment group")
        return run

    def run_config(self, run: Run) -> dict[str, Any]:
        """The resolved ``dca train`` config of ``run`` (plain data, as written to ``run.yaml``)."""
        return json.loads(json.dumps(self._resolved[run]))

    def run_yaml(self, run: Run) -> str:
        """The ``run.yaml`` text of ``run`` (cached: Snakemake asks for a job's params several times)."""
        text = self._yaml.get(run)
        if text is None:
            text = self._yaml[run] = dump_yaml(self._resolved[run])
        return text

    def digest(self, run: Run) -> str:
        """The canonical hash of ``run``'s resolved config (:func:`~dca.layout.config_digest`): the name of the
        stamp that makes a changed config rerun the run even where Snakemake has no metadata."""
        digest = self._digest.get(run)
        if digest is None:
            digest = self._digest[run] = config_digest(self._resolved[run])
        return digest

    def _resolve(self, run: Run, paper: str, group: str) -> dict[str, Any]:
        """Merge the settings of ``run`` (module docstring) and resolve them with :mod:`dca.train.config`."""
        config = self.config
        settings = dict(prune(config["training"][paper]))
        per_dataset = settings.pop("datasets", {}) or {}
        variant = config["variants"][run.variant]
        merged = deep_merge(settings, per_dataset.get(run.dataset, {}))
        merged = deep_merge(merged, prune(variant.get("training") or {}))
        options = deep_merge((merged.get("model") or {}).get("options") or {}, variant.get("options") or {})
        fixed = {
            "model": {"name": variant["model"], "dca": bool(variant.get("dca")), "options": options},
            "data": {
                "root": self.processed_dir(run.dataset),
                "inputs": list(variant.get("inputs") or [IMAGE_INPUT]),
            },
            "seed": run.seed,
            "selection": config["selection"],
            "device": {"name": config["device"]},
            "out": run.folder(self.paths["runs"]),
        }
        merged = deep_merge(merged, fixed)
        try:
            return to_dict(resolve_config(merged))
        except (KeyError, TypeError, ValueError) as err:
            message = err.args[0] if err.args else str(err)
            raise ConfigError(
                f"experiments.{group}: run ({run.dataset}, {run.variant}, seed {run.seed}) with training.{paper}: "
                f"{message}"
            ) from None

    # ------------------------------------------------------------------ datasets

    def processed_dir(self, dataset: str) -> str:
        """The processed folder of ``dataset``."""
        return f"{self.paths['processed']}/{dataset}"

    def dataset(self, dataset: str) -> DatasetPlan:
        """How ``dataset`` is obtained and prepared."""
        spec = self.config["datasets"][dataset]
        registry = spec.get("registry") or dataset
        return DatasetPlan(
            id=dataset,
            registry=registry,
            raw=spec.get("raw") or f"{self.paths['raw']}/{dataset}",
            processed=self.processed_dir(dataset),
            protocol=spec.get("protocol"),
            synth=_synth_spec(registry, spec.get("synth")),
            download=bool(spec.get("download")),
        )

    def datasets(self, groups: Iterable[str] | None = None) -> list[str]:
        """The dataset ids the runs of ``groups`` (default: all) train on, in config order."""
        used = {run.dataset for run in self.runs(groups)}
        return [d for d in self.config["datasets"] if d in used]

    def enhancements(self, run: Run) -> list[str]:
        """The enhancement methods ``run`` reads (its non-image inputs), in input order."""
        inputs = self.config["variants"][run.variant].get("inputs") or [IMAGE_INPUT]
        return list(dict.fromkeys(i for i in inputs if i != IMAGE_INPUT))

    def enhanced_datasets(self, groups: Iterable[str] | None = None) -> list[tuple[str, str]]:
        """The (dataset, method) pairs the runs of ``groups`` (default: all) need, sorted."""
        return sorted({(run.dataset, m) for run in self.runs(groups) for m in self.enhancements(run)})

    def enhance_args(self, method: str) -> str:
        """``--param key=value`` arguments of ``dca enhance METHOD`` from ``enhancement.<method>``."""
        params = self.config["enhancement"].get(method) or {}
        return " ".join(
            f"--param {shlex.quote(f'{k}={json.dumps(v) if not isinstance(v, str) else v}')}"
            for k, v in sorted(params.items())
        )

    # ------------------------------------------------------------------ files

    def run_dir(self, run: Run) -> RunDir:
        """The folder of ``run`` under ``paths.runs`` and its files (:class:`~dca.layout.RunDir`)."""
        return run.dir(self.paths["runs"])

    def stamp(self, run: Run) -> str:
        """The config stamp of ``run``: an empty file named by its config digest."""
        return str(self.run_dir(run).stamp(self.digest(run)))

    def summaries(self, groups: Iterable[str] | None = None) -> list[str]:
        """The ``summary.json`` of every run of ``groups`` (default: all)."""
        return [str(self.run_dir(run).summary) for run in self.runs(groups)]

    def evaluations(self, groups: Iterable[str] | None = None) -> list[str]:
        """The ``eval/metrics.json`` of every run of ``groups`` (default: all)."""
        return [str(self.run_dir(run).eval_metrics) for run in self.runs(groups)]

    def effective_config(self) -> dict[str, Any]:
        """The validated config with defaults, without unset (None) keys, as plain data (what the report reads)."""
        return json.loads(json.dumps(prune(self.config)))

    def counts(self) -> dict[str, int]:
        """Training runs per group (datasets x variants x seeds), the table cells times the seeds."""
        return {group: len(set(runs)) for group, runs in self.groups.items()}
