"""Ablation matrices: ``key=spec`` axes and YAML files → a validated list of cells (one run config each).

Specs (docs/protocols.md, "Sweeps"):

- ``key=a..b`` — an **inclusive** integer range: ``stages=1..4`` → 1, 2, 3, 4 (Hydra's ``range(1,5)`` is
  exclusive; ours includes both ends, as a person reads ``1..4``);
- ``key=a,b,c`` — a list (each item typed as YAML types it: ``alpha=0.25,0.5``, ``input_size=[128,128],[256,256]``);
- ``key=v`` — a fixed value; ``key=null`` leaves a model knob at the model's own default.

Several keys make the Cartesian product; ``seed=0..2`` repeats every cell three times. A YAML matrix::

    name: stages                  # default: the file's stem
    description: what the matrix asks
    preset: quick                 # ci | quick | paper (the command's --preset wins)
    config: {epochs: 8}           # fixed keys of every cell
    matrix:                       # one mapping (a product) or a list of mappings (a union of products)
      stages: 1..4
      distill: [none, teacher]
    exclude:                      # a cell matching every key of one rule is left out
      - {stages: 1, distill: sequence}
    claims:                       # what the matrix expects; the report gives each a verdict
      - distill=teacher > distill=none at every stages
    imports: [mypkg.pose]         # plugin modules whose models and blocks the cells use (lspd_bench.plugins)

Baselines go in their own group of a list ``matrix`` (``- {model: [simplebaseline-r18, litehrnet-18]}``):
a model that lacks a knob the matrix sets is a validation error; a knob left at ``null`` is not passed.

Everything here runs without importing torch (``--dry-run`` must answer in well under 2 s): model
names and knobs are checked against a catalogue of the model registry (:func:`model_catalogue`).
"""

from __future__ import annotations

import itertools
import json
import re
from dataclasses import dataclass, field
from pathlib import Path
from typing import Any, Iterable

from lspd_bench import __version__, plugins
from lspd_bench.config import (
    FAMILY_OF,
    FIELD_TYPES,
    NON_IDENTITY_KEYS,
    RunConfig,
    cache_root,
    canonical_json,
    check_key,
    config_hash,
    hashed_keys,
    load_config,
    parse_value,
    read_yaml,
    replace,
)
from lspd_bench.ablate.claims import Claim, parse_claim, parse_claims, validate as validate_claim
from lspd_bench.errors import InputError
from lspd_bench.fileio import write_json
from lspd_bench.train.init import known_by_fingerprint

#: Top-level keys of a YAML matrix file.
MATRIX_FILE_KEYS = ("name", "description", "preset", "config", "matrix", "exclude", "claims", "imports")
#: The preset a matrix uses when neither the command nor the file names one (minutes on 2 CPU cores).
DEFAULT_PRESET = "quick"
#: Config keys that say where or how a run executes: not part of a cell's key (nor of its identity).
#: Keys that say where or how fast a cell runs (the non-identity keys but where its data is): left out of its key.
_LOCATION_KEYS = tuple(k for k in NON_IDENTITY_KEYS if FAMILY_OF[k] != "data")
_RANGE = re.compile(r"^\s*(-?\d+)\s*\.\.\s*(-?\d+)\s*$")
_FLOAT_RANGE = re.compile(r"^\s*-?[\d.]+\s*\.\.\s*-?[\d.]+\s*$")


@dataclass(frozen=True)
class Cell:
    """One variant of a matrix: the keys the matrix set for it, and its full run configuration.

    ``key`` hashes the configuration (without location keys) and the suite version; it needs no torch,
    so ``--dry-run`` can find a cell's folder by it. The cell *id* (the folder name) is the hash of the
    resolved identity (``lspd_bench.train.build.identity``), known once the dataset is.
    """

    axes: dict[str, Any]
    config: RunConfig
    key: str

    def label(self, keys: Iterable[str]) -> str:
        """``stages=2 distill=teacher`` for those of ``keys`` (the ones that vary) that this cell's group sets."""
        return " ".join(f"{k}={_show(self.axes[k])}" for k in keys if k in self.axes)


@dataclass(frozen=True)
class Matrix:
    """A validated matrix: its name, where it came from, and its cells in order."""

    name: str
    source: str  # the YAML file, or "command line"
    description: str
    preset: str
    cells: tuple[Cell, ...]
    varying: tuple[str, ...]  # keys whose value differs between cells (the table's interesting columns)
    spec: dict[str, Any]  # the canonical specification (hashed into the default folder name)
    warnings: tuple[str, ...] = field(default=())
    claims: tuple[Claim, ...] = field(default=())

    @property
    def spec_hash(self) -> str:
        return config_hash(self.spec, 8)

    def default_out(self) -> Path:
        """``runs/<name>``: a file's name when used as is, else ``<stem>-<spec hash>`` (one folder per matrix)."""
        return Path("runs") / self.name

    def to_dict(self) -> dict[str, Any]:
        return {
            "name": self.name,
            "source": self.source,
            "description": self.description,
            "preset": self.preset,
            "spec": self.spec,
            "spec_hash": self.spec_hash,
            "varying": list(self.varying),
            "warnings": list(self.warnings),
            "claims": [c.to_dict() for c in self.claims],
        }


def _show(value: Any) -> str:
    if isinstance(value, tuple):
        return (
            "x".join(map(str, value))
            if len(value) == 2 and all(isinstance(v, int) for v in value)
            else str(list(value))
        )
    return "null" if value is None else str(value)


def split_top_level(text: str) -> list[str]:
    """Split ``text`` at commas that are not inside brackets: ``[1,2],[3,4]`` → ``["[1,2]", "[3,4]"]``."""
    parts, depth, start = [], 0, 0
    for i, ch in enumerate(text):
        if ch in "[{(":
            depth += 1
        elif ch in "]})":
            depth -= 1
        elif ch == "," and depth == 0:
            parts.append(text[start:i])
            start = i + 1
    parts.append(text[start:])
    return parts


def parse_spec(key: str, text: str) -> tuple[Any, ...]:
    """The values of one axis from its spec text: ``1..4`` (inclusive), ``a,b,c`` or a single value."""
    m = _RANGE.match(text)
    if m:
        lo, hi = int(m.group(1)), int(m.group(2))
        if lo > hi:
            raise InputError(f"{key}={text}: a range a..b needs a <= b (both ends included, 1..4 is 1, 2, 3, 4)")
        return tuple(range(lo, hi + 1))
    if _FLOAT_RANGE.match(text):
        raise InputError(f"{key}={text}: ranges a..b are for integers; list other values, e.g. {key}=0.25,0.5,0.75")
    parts = split_top_level(text)
    if len(parts) > 1 and any(not p.strip() for p in parts):
        raise InputError(f"{key}={text}: an empty item in the list")
    return tuple(parse_value(p.strip()) for p in parts)


def _is_tuple_key(key: str) -> bool:
    return FIELD_TYPES[key].startswith("tuple")


def axis_values(key: str, raw: Any, where: str) -> tuple[Any, ...]:
    """The values of axis ``key`` from a YAML value: a spec string, a list of values, or one value.

    For keys whose value is itself a list (``input_size``, ``milestones``), a list of numbers is one
    value and a list of lists is an axis.
    """
    check_key(key, where)
    if isinstance(raw, str):
        return parse_spec(key, raw)
    if isinstance(raw, list):
        if _is_tuple_key(key) and not all(isinstance(v, (list, tuple)) or v is None for v in raw):
            return (tuple(raw),)
        if not raw:
            raise InputError(f"{where}: {key} has an empty list of values")
        return tuple(tuple(v) if isinstance(v, list) else v for v in raw)
    if isinstance(raw, dict):
        raise InputError(f"{where}: {key} must be a value, a list or a spec like 1..4, not a mapping")
    return (raw,)


# --- the model catalogue (torch-free model checks) --------------------------------------------------


def _models_source_digest() -> str:
    """The built-in models' code (``lspd_bench/models/*.py`` without comments and docstrings) and the suite's
    version: what the packaged catalogue was built from."""
    models = Path(__file__).resolve().parent.parent / "models"
    return config_hash({"code": plugins.code_digest(sorted(models.glob("*.py"))), "suite_version": __version__}, 16)


def build_catalogue(*, with_plugins: bool = True) -> dict[str, Any]:
    """Every registered model's family, default input and knobs (with defaults), and the block choices;
    for a plugin's model or block, what the plugin is known by (``plugin``, ``block_plugins``).
    ``with_plugins=False``: the built-in ones only."""
    from lspd_bench.models import list_models
    from lspd_bench.models.lspd import BLOCK_PLUGINS, BLOCKS

    models = {
        e.name: {
            "family": e.family,
            "default_input": list(e.default_input),
            "knobs": json.loads(canonical_json(e.knobs)),
            **({"plugin": e.plugin} if e.plugin else {}),
        }
        for e in list_models(plugins=with_plugins)
    }
    blocks = [b for b in BLOCKS if with_plugins or b not in BLOCK_PLUGINS]
    catalogue: dict[str, Any] = {"models": models, "choices": {"block": blocks}}
    block_plugins = {b: BLOCK_PLUGINS[b] for b in blocks if b in BLOCK_PLUGINS}
    if block_plugins:
        catalogue["block_plugins"] = block_plugins
    return catalogue


#: The catalogue shipped with the package, so that even a first ``--dry-run`` (empty cache) needs no torch.
PACKAGED_CATALOGUE = Path(__file__).resolve().parent.parent / "models" / "catalogue.json"


def packaged_catalogue() -> dict[str, Any]:
    """The built-in catalogue as it is shipped: ``{"source_digest": ..., "catalogue": ...}`` (``python -m
    lspd_bench.ablate.matrix`` writes it). A speed-up only: :func:`model_catalogue` uses it while the models'
    code still matches it, and otherwise builds the catalogue once and caches it."""
    return {"source_digest": _models_source_digest(), "catalogue": build_catalogue(with_plugins=False)}


def model_catalogue(cache: Path) -> dict[str, Any]:
    """The registry's catalogue, built-in models and plugins', with no torch import when it is known.

    - No plugin: the packaged catalogue while its digest matches the built-in models' code. The digest
      leaves comments and docstrings out, so editing those keeps it; a change to the code makes the file
      stale, which costs one build (a torch import, about 2 s) per cache and nothing else.
    - Otherwise the catalogue is built (importing torch and the plugins; a plugin that fails is an
      ``InputError``) and cached under ``cache/catalogue/`` by a digest of the built-in models' code and
      of the plugins: their entry points, distributions and versions, the modules named by ``--import`` or
      ``imports:``, and their code (``lspd_bench.plugins.fingerprint``, which imports nothing).

    Neither path needs a hand-regenerated file: the catalogue follows the code, and runs' identities do not
    depend on it.
    """
    digest = _models_source_digest()
    found = plugins.fingerprint()
    if not found:
        try:
            shipped = json.loads(PACKAGED_CATALOGUE.read_text(encoding="utf-8"))
            if shipped.get("source_digest") == digest:
                return shipped["catalogue"]
        except (OSError, ValueError, AttributeError):
            pass
    key = config_hash({"models": digest, "plugins": found}, 16)
    path = cache / "catalogue" / f"models-{key}.json"
    try:
        return json.loads(path.read_text(encoding="utf-8"))
    except (OSError, ValueError):
        catalogue = build_catalogue()
        write_json(path, catalogue)
        return catalogue


def plugins_used(cfg: RunConfig, catalogue: dict[str, Any]) -> dict[str, Any]:
    """What the plugins a cell uses are known by (its model's, its block's, its teacher's), from the catalogue;
    empty for built-in ones only (their cells' keys are what they always were)."""
    models, used = catalogue["models"], {}
    entry = models.get(cfg.model, {})
    if entry.get("plugin"):
        used["model"] = entry["plugin"]
    block = cfg.block if cfg.block is not None else entry.get("knobs", {}).get("block")
    if isinstance(block, str) and block in catalogue.get("block_plugins", {}):
        used["block"] = catalogue["block_plugins"][block]
    if cfg.distill.uses_teacher and models.get(cfg.teacher, {}).get("plugin"):
        used["teacher"] = models[cfg.teacher]["plugin"]
    return used


def check_model(cfg: RunConfig, catalogue: dict[str, Any], where: str) -> None:
    """``cfg.model`` (and a teacher) must be registered, and every knob the config sets must exist."""
    models = catalogue["models"]
    for role, name in (("model", cfg.model), ("teacher", cfg.teacher)):
        if role == "teacher" and not cfg.distill.uses_teacher:
            continue
        if name not in models:
            raise InputError(
                f"{where}: unknown {role} {name!r}; choose from: {', '.join(sorted(models))} (a "
                "plugin's model? install its package, or name its module with --import or imports:)"
            )
    knobs = models[cfg.model]["knobs"]
    for key, value in cfg.model_knobs().items():
        if key not in knobs:
            raise InputError(
                f"{where}: model {cfg.model!r} has no knob {key!r} (the matrix sets {key}={_show(value)}); its knobs: "
                f"{', '.join(k for k in knobs if k != 'num_joints') or 'none'}. Leave {key} unset (null) for it, e.g. "
                "in a group of its own (see ablations/baselines.yaml)"
            )
    choices = catalogue["choices"]["block"]
    if cfg.block is not None and cfg.block not in choices:
        raise InputError(f"{where}: block={cfg.block!r} is not one of: {', '.join(choices)}")


# --- building a matrix ------------------------------------------------------------------------------


def cell_key(cfg: RunConfig, catalogue: dict[str, Any] | None = None) -> str:
    """A torch-free hash of a cell's configuration (location keys left out) and the suite version, and of
    the plugins the cell uses (``plugins_used``; none for built-in models and blocks)."""
    data = known_by_fingerprint({k: v for k, v in hashed_keys(cfg).items() if k not in _LOCATION_KEYS})
    used = plugins_used(cfg, catalogue) if catalogue is not None else {}
    return config_hash({"config": data, "suite_version": __version__, **({"plugins": used} if used else {})})


def _validate_value(preset: str, fixed: dict[str, Any], key: str, value: Any, where: str) -> None:
    try:
        load_config(preset, None, {**fixed, key: value})
    except InputError as exc:
        raise InputError(f"{where}: {str(exc).removeprefix('override: ')}") from None


def _coerced(cfg: RunConfig, key: str, value: Any) -> Any:
    return getattr(replace(cfg, **{key: value}), key)


def _matches(cfg: RunConfig, rule: dict[str, tuple[Any, ...]]) -> bool:
    return all(getattr(cfg, k) in {_coerced(cfg, k, v) for v in values} for k, values in rule.items())


def _group_cells(group: dict[str, tuple[Any, ...]]) -> list[dict[str, Any]]:
    keys = list(group)
    return [dict(zip(keys, combo)) for combo in itertools.product(*(group[k] for k in keys))]


def load_matrix(
    matrix_file: str | Path | None = None,
    specs: Iterable[str] = (),
    *,
    preset: str | None = None,
    dataset: str | None = None,
    claims: Iterable[str] = (),
) -> Matrix:
    """Parse and validate a matrix from a YAML file and/or ``key=spec`` items.

    Command-line specs replace the file's axis or fixed value of the same key in every group, or add
    an axis. ``preset`` (default: the file's, else ``quick``) and ``dataset`` apply to every cell.
    ``claims`` are added to the file's ``claims:``. Every key, value, model, knob and claim is checked
    before this returns; errors name the key and the valid choices.
    """
    doc: dict[str, Any] = {}
    source = "command line"
    if matrix_file is not None:
        source = str(matrix_file)
        doc = read_yaml(matrix_file, "matrix")
        unknown = sorted(set(doc) - set(MATRIX_FILE_KEYS))
        if unknown:
            raise InputError(
                f"matrix file {source}: unknown key(s) {', '.join(unknown)}; valid keys: {', '.join(MATRIX_FILE_KEYS)}"
            )
        imports = doc.get("imports") or []
        if not isinstance(imports, list):
            raise InputError(f"matrix file {source}: imports must be a list of module names, e.g. [mypkg.pose]")
        plugins.request(imports, f"imports: in {source}")
    parsed_claims = parse_claims(doc.get("claims"), source) + tuple(parse_claim(c) for c in claims)
    preset_name = preset or doc.get("preset") or DEFAULT_PRESET
    load_config(preset_name)  # an unknown preset fails here, listing the presets

    fixed_raw = doc.get("config") or {}
    if not isinstance(fixed_raw, dict):
        raise InputError(f"matrix file {source}: config must be a mapping of key: value")
    fixed: dict[str, Any] = {}
    for key, value in fixed_raw.items():
        check_key(key, f"{source}, config")
        fixed[key] = tuple(value) if isinstance(value, list) else value

    groups_raw = doc.get("matrix", {}) or {}
    if isinstance(groups_raw, dict):
        groups_raw = [groups_raw]
    if not isinstance(groups_raw, list) or not all(isinstance(g, dict) for g in groups_raw):
        raise InputError(f"matrix file {source}: matrix must be a mapping of key: values, or a list of them")
    groups = [{k: axis_values(k, v, f"{source}, matrix") for k, v in g.items()} for g in groups_raw] or [{}]

    cli: dict[str, tuple[Any, ...]] = {}
    for item in specs:
        key, sep, text = item.partition("=")
        key = key.strip()
        if not sep or not key:
            raise InputError(
                f"matrix item {item!r} is not of the form key=spec (e.g. stages=1..4, distill=none,teacher)"
            )
        check_key(key, "command line")
        if key in cli:
            raise InputError(f"command line: key {key!r} is given twice; list its values instead ({key}=a,b)")
        cli[key] = parse_spec(key, text.strip())
    if dataset is not None:
        cli["dataset"] = (dataset,)
    for key in cli:
        fixed.pop(key, None)
    groups = [{**{k: v for k, v in g.items() if k not in cli}, **cli} for g in groups]

    # Each value on its own first, so that an error names the one value at fault.
    for key, value in fixed.items():
        _validate_value(preset_name, {}, key, value, f"{source}, config")
    for group in groups:
        for key, values in group.items():
            where = "command line" if key in cli else f"{source}, matrix"
            for value in values:
                _validate_value(preset_name, fixed, key, value, where)

    rules: list[dict[str, tuple[Any, ...]]] = []
    if not isinstance(doc.get("exclude") or [], list):
        raise InputError(f"matrix file {source}: exclude must be a list of rules like {{stages: 1, distill: sequence}}")
    for i, rule in enumerate(doc.get("exclude") or []):
        if not isinstance(rule, dict) or not rule:
            raise InputError(f"matrix file {source}: exclude rule {i + 1} must be a mapping of key: value(s)")
        parsed = {k: axis_values(k, v, f"{source}, exclude rule {i + 1}") for k, v in rule.items()}
        for key, values in parsed.items():
            for value in values:
                _validate_value(preset_name, fixed, key, value, f"{source}, exclude rule {i + 1}")
        rules.append(parsed)

    base = load_config(preset_name, None, fixed)
    catalogue = model_catalogue(cache_root(base))
    cells: list[Cell] = []
    seen: set[str] = set()
    excluded = [0] * len(rules)
    for group in groups:
        for axes in _group_cells(group):
            cfg = load_config(preset_name, None, {**fixed, **axes})
            hits = [i for i, rule in enumerate(rules) if _matches(cfg, rule)]
            for i in hits:
                excluded[i] += 1
            if hits:
                continue
            label = " ".join(f"{k}={_show(v)}" for k, v in axes.items()) or "the base config"
            check_model(cfg, catalogue, f"{source}, cell {label}")
            key = cell_key(cfg, catalogue)
            if key not in seen:
                seen.add(key)
                cells.append(Cell(axes, cfg, key))
    warnings = tuple(
        f"exclude rule {i + 1} ({rule_text(r)}) matches no cell" for i, r in enumerate(rules) if not excluded[i]
    )
    if not cells:
        raise InputError(f"matrix {source}: every cell is excluded; nothing to run")

    varying = tuple(
        k
        for k in dict.fromkeys(k for c in cells for k in c.axes)
        if len({canonical_json(getattr(c.config, k)) for c in cells}) > 1
    )
    spec = {
        "preset": preset_name,
        "config": fixed,
        "groups": [{k: list(v) for k, v in g.items()} for g in groups],
        "exclude": [{k: list(v) for k, v in r.items()} for r in rules],
    }
    spec = json.loads(canonical_json(spec))
    stem = str(doc.get("name") or (Path(matrix_file).stem if matrix_file is not None else "ablate"))
    changed = matrix_file is None or bool(cli) or (preset is not None and preset != doc.get("preset"))
    name = f"{stem}-{config_hash(spec, 8)}" if changed else stem
    for claim in parsed_claims:
        validate_claim(claim, [c.axes for c in cells], [c.config.stages for c in cells], source)
    return Matrix(
        name,
        source,
        str(doc.get("description") or ""),
        preset_name,
        tuple(cells),
        varying,
        spec,
        warnings,
        parsed_claims,
    )


def rule_text(rule: dict[str, tuple[Any, ...]]) -> str:
    return ", ".join(f"{k}={','.join(_show(v) for v in vs)}" for k, vs in rule.items())


if __name__ == "__main__":  # refresh the packaged catalogue (a speed-up: see model_catalogue)
    write_json(PACKAGED_CATALOGUE, packaged_catalogue())
