"""Expand experiment groups into runs and resolve each run's ``dca train`` config.

A run is (dataset, variant, seed); its folder is ``<paths.runs>/<dataset>/<variant>/seed<k>/``
(docs/experiments.md). Groups that share a run (Table 1's U-Net+DCA is Table 2's CCA-SCA row)
share its folder, so it is trained once; two groups that would train the same run differently
(their papers' settings differ) are a config error.

A run's config is, merged in this order (later wins, nested mappings key by key, None = not set):
the preset named by the merged settings, ``training.<paper>``, its ``protocols.<protocol>``,
``training.<paper>.datasets.<dataset>``, its ``protocols.<protocol>``, ``variants.<variant>.training``,
and what the workflow fixes: ``model`` (name, dca, options), ``data.root`` and ``data.inputs``, ``seed``,
``selection``, ``protocol``, ``device.name`` and ``out``.

Protocols (docs/protocols.md): a group (or a variant, overriding it) runs ``honest`` (the default), ``paper``
or both. A paper run trains on the dataset prepared with the paper's split protocol of the registry
(``<paper>-paper``, the twin of the dataset's honest protocol), a processed dataset of its own with the id
``<dataset>@<protocol name>`` (e.g. ``kvasir@dca-paper``: its own folder, Snakemake target and run folders),
selects on test (or on validation where the paper's code does: the registry protocol's ``selection``), augments as
the paper (without the official mask-flip bug: dca/train/loader.py) and is scored with the paper's metric by
``dca evaluate`` (it reads ``protocol`` from the run config).
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
            if self.synth.get("depth") is not None:  # slices per volume of a 3D kind
                args += ["--depth", str(self.synth["depth"])]
            return f"python -m dca data synth {' '.join(args)} && "
        if self.download:
            return f"python -m dca data download {shlex.quote(self.registry)} --out {raw} && "
        return ""

    def prepare_args(self) -> str:
        """Arguments of ``dca data prepare`` after the command name (the output replaced when it exists)."""
        args = [shlex.quote(self.registry), "--raw", shlex.quote(self.raw), "--out", shlex.quote(self.processed)]
        if self.protocol is not None:
            args += ["--protocol", shlex.quote(self.protocol)]
        return " ".join([*args, "--overwrite"])


PROTOCOLS: tuple[str, ...] = ("honest", "paper")
#: Joins a dataset id and its paper split protocol into the id of the paper-protocol dataset.
PROTOCOL_SEPARATOR = "@"


def as_protocols(value: str | list[str] | None, default: list[str]) -> list[str]:
    """A ``protocol`` config value (a name, a list or None = ``default``) as a list in canonical order."""
    if value is None:
        return list(default)
    names = [value] if isinstance(value, str) else list(value)
    return [p for p in PROTOCOLS if p in names]


def paper_protocol(registry_name: str, honest: str | None, paper: str, where: str) -> str:
    """The registry's split protocol that reruns ``paper``'s split of a dataset prepared with ``honest``.

    The twin of the honest protocol named ``<paper>-paper`` (or its only twin); else a protocol of that name;
    a :class:`ConfigError` naming ``where`` when the dataset has none.
    """
    from dca.data.registry import get_dataset

    spec = get_dataset(registry_name)
    current = spec.protocol(honest)
    twins = list(current.paper)
    wanted = f"{paper}-paper"
    if wanted in twins or wanted in spec.protocols:
        return wanted
    if len(twins) == 1:
        return twins[0]
    raise ConfigError(
        f"{where}: dataset {registry_name!r} has no paper split protocol for paper {paper!r} (no {wanted!r}; "
        f"protocols: {', '.join(spec.protocols)}); run it under protocol honest or add the protocol to the registry"
    )


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
        self.protocols: dict[Run, str] = {}
        #: Paper-protocol dataset id -> (the dataset id it derives from, its registry split protocol).
        self.derived: dict[str, tuple[str, str]] = {}
        #: (group, dataset, protocol) -> the dataset id of its runs.
        self.run_datasets: dict[tuple[str, str, str], str] = {}
        self._resolved: dict[Run, dict[str, Any]] = {}
        self._yaml: dict[Run, str] = {}
        self._digest: dict[Run, str] = {}
        owner: dict[Run, str] = {}
        for group, spec in config["experiments"].items():
            runs = []
            for dataset in spec["datasets"]:
                for variant in spec["variants"]:
                    for protocol in self.run_protocols(group, variant):
                        run_dataset = self._run_dataset(group, dataset, protocol)
                        runs += [(Run(run_dataset, variant, seed), protocol) for seed in config["seeds"]]
            self.groups[group] = [run for run, _ in runs]
            for run, protocol in runs:
                resolved = self._resolve(run, spec["paper"], group, protocol)
                if run in self._resolved and resolved != self._resolved[run]:
                    raise ConfigError(
                        f"experiments.{group}: run {run.folder(self.paths['runs'])} is also in group {owner[run]} "
                        f"(paper {self.papers[run]}) with different training settings; use a separate variant id"
                    )
                self._resolved.setdefault(run, resolved)
                self.papers.setdefault(run, spec["paper"])
                self.protocols.setdefault(run, protocol)
                owner.setdefault(run, group)

    # ------------------------------------------------------------------ protocols

    def run_protocols(self, group: str, variant: str) -> list[str]:
        """The protocols of ``variant``'s runs in ``group``: the variant's ``protocol``, else the group's."""
        spec = self.config["experiments"][group]
        default = as_protocols(spec.get("protocol"), ["honest"])
        return as_protocols(self.config["variants"][variant].get("protocol"), default)

    def _run_dataset(self, group: str, dataset: str, protocol: str) -> str:
        """The dataset id of ``group``'s runs on ``dataset`` under ``protocol`` (a paper id is registered)."""
        if protocol == "honest":
            self.run_datasets[(group, dataset, protocol)] = dataset
            return dataset
        spec = self.config["datasets"][dataset]
        name = paper_protocol(
            spec.get("registry") or dataset,
            spec.get("protocol"),
            self.config["experiments"][group]["paper"],
            f"experiments.{group}.protocol (dataset {dataset})",
        )
        derived = f"{dataset}{PROTOCOL_SEPARATOR}{name}"
        self.derived[derived] = (dataset, name)
        self.run_datasets[(group, dataset, protocol)] = derived
        return derived

    def paper_selection(self, dataset: str) -> str:
        """The split a paper-protocol dataset's runs select on: its registry protocol's ``selection`` (test or val)."""
        from dca.data.registry import get_dataset

        base, name = self.derived[dataset]
        return get_dataset(self.config["datasets"][base].get("registry") or base).protocol(name).selection

    def base_dataset(self, dataset: str) -> str:
        """The configured dataset id a (possibly paper-protocol) dataset id derives from."""
        return self.derived[dataset][0] if dataset in self.derived else dataset

    def dataset_ids(self) -> list[str]:
        """Every dataset id the workflow can prepare: the configured ones, each followed by its paper ids."""
        ids = []
        for dataset in self.config["datasets"]:
            ids += [dataset, *sorted(d for d, (base, _) in self.derived.items() if base == dataset)]
        return ids

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

    def _resolve(self, run: Run, paper: str, group: str, protocol: str) -> dict[str, Any]:
        """Merge the settings of ``run`` (module docstring) and resolve them with :mod:`dca.train.config`."""
        config = self.config
        settings = dict(prune(config["training"][paper]))
        per_dataset = dict((settings.pop("datasets", None) or {}).get(self.base_dataset(run.dataset), {}))
        merged = {}
        for layer in (settings, per_dataset):
            by_protocol = layer.pop("protocols", None) or {}
            merged = deep_merge(deep_merge(merged, layer), by_protocol.get(protocol, {}))
        variant = config["variants"][run.variant]
        merged = deep_merge(merged, prune(variant.get("training") or {}))
        options = deep_merge((merged.get("model") or {}).get("options") or {}, variant.get("options") or {})
        fixed = {
            "model": {"name": variant["model"], "dca": bool(variant.get("dca")), "options": options},
            "data": {
                "root": self.processed_dir(run.dataset),
                "inputs": list(variant.get("inputs") or [IMAGE_INPUT]),
            },
            "seed": run.seed,
            # The paper protocol selects as the paper's code (test, or its registry protocol's ``selection``) and
            # augments as it (docs/protocols.md).
            "selection": self.paper_selection(run.dataset) if protocol == "paper" else config["selection"],
            "protocol": protocol,
            "device": {"name": config["device"]},
            "out": run.folder(self.paths["runs"]),
        }
        if protocol == "paper":
            fixed["data"]["augment"] = True
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
        """How ``dataset`` (a configured or a paper-protocol id) is obtained and prepared.

        A paper-protocol dataset reads the raw data of the dataset it derives from; one that is synthesised or
        downloaded gets a raw folder of its own, so that its job never writes where another job reads.
        """
        base = self.base_dataset(dataset)
        spec = self.config["datasets"][base]
        registry = spec.get("registry") or base
        fetched = spec.get("synth") is not None or bool(spec.get("download"))
        own_raw = dataset if dataset in self.derived and fetched else base
        return DatasetPlan(
            id=dataset,
            registry=registry,
            raw=spec.get("raw") or f"{self.paths['raw']}/{own_raw}",
            processed=self.processed_dir(dataset),
            protocol=self.derived[dataset][1] if dataset in self.derived else spec.get("protocol"),
            synth=_synth_spec(registry, spec.get("synth")),
            download=bool(spec.get("download")),
        )

    def datasets(self, groups: Iterable[str] | None = None) -> list[str]:
        """The dataset ids the runs of ``groups`` (default: all) train on, in config order (paper ids after theirs)."""
        used = {run.dataset for run in self.runs(groups)}
        return [d for d in self.dataset_ids() if d in used]

    def table_protocols(self, group: str) -> dict[str, tuple[str, str]]:
        """The dataset ids of ``group``'s runs -> (configured dataset, protocol), per configured dataset its paper id
        first: the report's table datasets (:func:`dca.report.collect.report_groups`)."""
        return {
            self.run_datasets[key]: (dataset, protocol)
            for dataset in self.config["experiments"][group]["datasets"]
            for protocol in ("paper", "honest")
            if (key := (group, dataset, protocol)) in self.run_datasets
        }

    def table_datasets(self, group: str) -> list[str]:
        """The dataset ids of ``group``'s runs in table order: the names of the report's per-dataset figures."""
        return list(self.table_protocols(group))

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

    def group_config(self, groups: Iterable[str]) -> dict[str, Any]:
        """The effective config cut to ``groups``: their experiments, variants, datasets and papers' training, no
        resources or benchmark. What their report reads, so that a change elsewhere leaves its digest alone."""
        names = list(groups)
        self.runs(names)  # unknown groups are an error
        config = self.effective_config()
        specs = {g: config["experiments"][g] for g in names}
        variants = {v for spec in specs.values() for v in spec["variants"]}
        datasets = {d for spec in specs.values() for d in spec["datasets"]}
        papers = {spec["paper"] for spec in specs.values()}
        cut = {k: v for k, v in config.items() if k not in ("resources", "bench", "container")}
        cut["experiments"] = specs
        cut["variants"] = {k: v for k, v in config["variants"].items() if k in variants}
        cut["datasets"] = {k: v for k, v in config["datasets"].items() if k in datasets}
        cut["training"] = {k: v for k, v in config["training"].items() if k in papers}
        return cut

    def counts(self) -> dict[str, int]:
        """Training runs per group (datasets x variants x seeds), the table cells times the seeds."""
        return {group: len(set(runs)) for group, runs in self.groups.items()}
