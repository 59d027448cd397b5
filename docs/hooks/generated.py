"""MkDocs hook: the parts of the pages that are generated from the code at build time, never typed by hand.

A page asks for one with a line of its own, ``<!-- generated: NAME -->``; an unknown NAME stops the build.

- ``config-reference``: every key of ``lspd_bench.config.RunConfig`` by family, from the fields' declarations
  (type, default, ``within``, ``choices``, ``help``, identity, ``applies``), the preset YAML files and the
  results-table roles of
  ``lspd_bench.ablate.schema``.
- ``presets``: the preset files and the keys each sets.
- ``models``: the registered models and their knobs, from the packaged catalogue (no torch import).
- ``synth-presets``: the synthetic benchmark's knobs and each preset's values (``lspd_bench.data.synth``).
- ``conventions-pckh``, ``conventions-cost``: the convention lines that PCKh and cost figures print.

The command-line reference is mkdocs-click's (``::: mkdocs-click`` on its page). Click 8.2 and later mark an
option without a default with a sentinel, which mkdocs-click 0.9 prints as ``Sentinel.UNSET``; those table
cells are left empty here (``on_page_content``).
"""

from __future__ import annotations

import dataclasses
import json
import re
from typing import Any, Callable

from mkdocs.exceptions import PluginError

MARKER = re.compile(r"^<!-- generated: ([a-z-]+) -->$", re.MULTILINE)


def on_page_markdown(markdown: str, page, config, files) -> str:
    def fill(match: re.Match) -> str:
        name = match.group(1)
        if name not in GENERATORS:
            raise PluginError(f"{page.file.src_uri}: unknown generated block {name!r}; known: {', '.join(GENERATORS)}")
        return GENERATORS[name]()

    return MARKER.sub(fill, markdown)


#: A "Default" cell of mkdocs-click's option tables for an option that has no default.
UNSET_CELL = re.compile(r"<td><code>Sentinel\.UNSET</code></td>")


def on_page_content(html: str, page, config, files) -> str:
    return UNSET_CELL.sub("<td></td>", html)


# --- helpers ------------------------------------------------------------------------------------------


def _cell(text: str) -> str:
    """Text safe inside a Markdown table cell."""
    return text.replace("|", "\\|").replace("\n", " ")


def _yaml_value(value: Any) -> str:
    """A value as it is written in a preset or a ``key=value`` override."""
    if value is None:
        return "null"
    if isinstance(value, bool):
        return "true" if value else "false"
    if isinstance(value, (list, tuple)):
        return "[" + ", ".join(_yaml_value(v) for v in value) + "]"
    if isinstance(value, float):
        return format(value, "g")
    return str(value)


def _type_text(annotation: str) -> str:
    """``int | None`` → ``int or null``; ``tuple[int, int]`` → ``[int, int]``; ``tuple[float, ...]`` → list."""
    parts = []
    for part in (p.strip() for p in annotation.split("|")):
        if part == "None":
            parts.append("null")
        elif part.startswith("tuple[") and part.endswith(", ...]"):
            parts.append(f"list of {part[6:-6]}")
        elif part.startswith("tuple["):
            parts.append("[" + part[6:-1] + "]")
        else:
            parts.append(part)
    return " or ".join(parts)


def _catalogue() -> dict[str, Any]:
    """The built-in models' catalogue: the packaged one while it matches the models' code, else built afresh."""
    from lspd_bench.ablate.matrix import PACKAGED_CATALOGUE, _models_source_digest, build_catalogue

    shipped = json.loads(PACKAGED_CATALOGUE.read_text(encoding="utf-8"))
    if shipped.get("source_digest") == _models_source_digest():
        return shipped["catalogue"]
    return build_catalogue(with_plugins=False)


def _applies_text(config, condition: Callable | None) -> str:
    """When a key matters, found by trying its declared condition on every distillation mode."""
    if condition is None:
        return ""
    modes = [m for m in config.Distill if condition(config.RunConfig(distill=m))]
    if len(modes) == len(config.Distill):
        return ""
    listed = ", ".join(f"`{m}`" for m in modes)
    return f"Applies only with `distill` = {listed} (otherwise left out of the run's identity)."


def _matrix_role(schema, key: str, metadata: dict) -> str:
    """Whether a key can be an ablation axis, from the results table's declared roles (the page explains the labels)."""
    if not metadata["identity"]:
        return "no (not part of a run's identity)"
    if key == schema.SEED:
        return "repeats"
    for group, keys in schema.MIX_GROUPS.items():
        if key in keys:
            return f"only with `--allow-mixed` ({group})"
    if key in schema.VARIANT_COLUMNS:
        return "yes"
    return ""


# --- generators ---------------------------------------------------------------------------------------


def config_reference() -> str:
    from lspd_bench import config
    from lspd_bench.ablate import schema

    presets = {name: config.read_yaml(config.PRESET_DIR / f"{name}.yaml", "preset") for name in config.preset_names()}
    catalogue = _catalogue()
    registry_choices = {
        "model": sorted(catalogue["models"]),
        "teacher": sorted(catalogue["models"]),
        "block": list(catalogue["choices"]["block"]),
    }
    fields = dataclasses.fields(config.RunConfig)
    out: list[str] = []
    for family in config.KEY_FAMILIES:
        members = [f for f in fields if f.metadata["family"] == family]
        if not members:
            continue
        out += [
            f"### {family.capitalize()} {{ #family-{family} }}",
            "",
            "| key | type | default | set by presets | ablation axis | notes |",
            "| --- | --- | --- | --- | --- | --- |",
        ]
        for f in members:
            kind = "str" if f.metadata.get("enum") else _type_text(str(f.type))  # a closed choice is written as text
            choices = f.metadata.get("choices") or registry_choices.get(f.name)
            if choices:
                kind += ": " + ", ".join(f"`{c}`" for c in choices)
            if f.metadata.get("within"):
                kind += f", within `{f.metadata['within']}`"
            set_by = (
                "<br>".join(
                    f"{name}: `{_yaml_value(values[f.name])}`" for name, values in presets.items() if f.name in values
                )
                or "—"
            )
            comment = f.metadata["help"]
            if comment and not comment.endswith((".", ")")):
                comment += "."
            notes = " ".join(t for t in (comment, _applies_text(config, f.metadata["applies"])) if t)
            row = (
                f'<a id="{f.name}"></a>`{f.name}`',
                kind,
                f"`{_yaml_value(f.default)}`",
                set_by,
                _matrix_role(schema, f.name, f.metadata),
                notes,
            )
            out.append("| " + " | ".join(_cell(c) for c in row) + " |")
        out.append("")
    return "\n".join(out)


def presets_table() -> str:
    from lspd_bench import config

    rows = ["| preset | keys it sets |", "| --- | --- |"]
    for name in config.preset_names():
        values = config.read_yaml(config.PRESET_DIR / f"{name}.yaml", "preset")
        keys = ", ".join(f"[`{k}`](#{k})" for k in values)
        rows.append(f"| `{name}` | {keys} |")
    return "\n".join(rows) + "\n"


def models_table() -> str:
    catalogue = _catalogue()["models"]
    rows = ["| model | family | customary input (H×W) | knobs and their defaults |", "| --- | --- | --- | --- |"]
    for name, entry in sorted(catalogue.items(), key=lambda kv: (kv[1]["family"], kv[0])):
        knobs = ", ".join(f"`{k}={_yaml_value(v)}`" for k, v in entry["knobs"].items())
        height, width = entry["default_input"]
        rows.append(f"| `{name}` | {entry['family']} | {height}×{width} | {_cell(knobs)} |")
    return "\n".join(rows) + "\n"


def synth_presets() -> str:
    from lspd_bench.data.synth import PRESETS, SynthConfig

    names = list(PRESETS)
    rows = ["| knob | " + " | ".join(f"`{n}`" for n in names) + " |", "| --- |" + " ---: |" * len(names)]
    for f in dataclasses.fields(SynthConfig):
        values = (f"`{_yaml_value(getattr(PRESETS[n], f.name))}`" for n in names)
        rows.append(f"| `{f.name}` | " + " | ".join(values) + " |")
    return "\n".join(rows) + "\n"


def _bullets(lines) -> str:
    return "\n".join(f"- {_cell(line)}" for line in lines) + "\n"


def pckh_conventions() -> str:
    from lspd_bench.evaluation.pckh import PCKH_CONVENTIONS

    return _bullets(PCKH_CONVENTIONS)


def cost_conventions() -> str:
    from lspd_bench.ablate.latency import RATIO_CONVENTION, SHARED_CONVENTION
    from lspd_bench.cost.profile import CONVENTIONS

    return _bullets([*CONVENTIONS, RATIO_CONVENTION, SHARED_CONVENTION])


GENERATORS: dict[str, Callable[[], str]] = {
    "config-reference": config_reference,
    "presets": presets_table,
    "models": models_table,
    "synth-presets": synth_presets,
    "conventions-pckh": pckh_conventions,
    "conventions-cost": cost_conventions,
}
