"""Claims: what an ablation expects, written as a small comparison between variants of its matrix.

A claim is one line::

    LEFT OP RIGHT [by N | within N] [at fewer|at no more gmacs|params] [at every AXIS[,...]] [where KEY=VALUE[,...]]

- ``LEFT`` and ``RIGHT`` select cells: ``distill=teacher``, ``block=lmrb,stages=2``; or ``stage=K``, the
  K-th stage of the *same* network (``stage=2 > stage=1``: stage 2 of every cell against its stage 1).
- ``>``: LEFT is more accurate than RIGHT (by more than N points with ``by N``; default 0).
  ``>=``: LEFT is at least as accurate as RIGHT, no more than N points worse (``within N``; default 1).
- ``at fewer gmacs`` / ``at fewer params``: and LEFT's deploy model costs less, in every compared context;
  ``at no more gmacs`` / ``params``: no more than RIGHT's (LSPD's "at no deployment cost").
- ``at every AXIS``: one verdict per value of AXIS; the claim holds when it holds at every value.
- ``where``: only the cells with these values take part.

The figure is the headline of the deployed stage (PCKh@0.5 Mean or AP, in points), or the named stage's.
Cells are compared within a *context*: equal values of every other key the matrix varies (a key a cell's
group does not set matches any value, so a baseline model without ``stages`` is compared at each one).
Seeds are the repetitions. How the verdict follows from the interval is in ``lspd_bench.report.claims``.

This module parses and validates (before anything runs); it needs no torch.
"""

from __future__ import annotations

import re
from dataclasses import dataclass, field
from typing import Any, Iterable, Mapping, Sequence

from lspd_bench.ablate import schema
from lspd_bench.config import parse_value
from lspd_bench.errors import InputError

#: The pseudo-key that names a stage of the same network.
STAGE = "stage"
#: Cost figures a claim may condition on (exact counts; latency is too noisy to decide a claim).
COSTS = {k: schema.COST_KINDS[k].column for k in ("gmacs", "params")}
#: Default non-inferiority margin of ``>=`` (points).
DEFAULT_WITHIN = 1.0

_HEAD = re.compile(r"^\s*(?P<left>\S+)\s*(?P<op>>=|>)\s*(?P<right>\S+)(?P<rest>.*)$")
_CLAUSES = (
    ("by", re.compile(r"^by\s+(?P<v>\S+)\s*")),
    ("within", re.compile(r"^within\s+(?P<v>\S+)\s*")),
    ("fewer", re.compile(r"^at\s+fewer\s+(?P<v>\S+)\s*")),
    ("no more", re.compile(r"^at\s+no\s+more\s+(?P<v>\S+)\s*")),
    ("every", re.compile(r"^at\s+every\s+(?P<v>\S+)\s*")),
    ("where", re.compile(r"^where\s+(?P<v>\S+)\s*")),
)


def norm(value: Any) -> Any:
    """A value in one canonical form, so that a claim's ``2`` equals a table's ``2.0`` and ``[64, 64]`` its
    tuple: numbers as int when integral, sequences as tuples, numeric strings as numbers."""
    if isinstance(value, bool) or value is None:
        return value
    if isinstance(value, (list, tuple)):
        return tuple(norm(v) for v in value)
    if isinstance(value, str):
        try:
            value = float(value)
        except ValueError:
            return value
    if isinstance(value, (int, float)):
        return int(value) if float(value).is_integer() else float(value)
    return value


def show(value: Any) -> str:
    return "x".join(map(str, value)) if isinstance(value, tuple) else str(value)


def label_text(values: Mapping[str, Any]) -> str:
    """``stages=2, distill=teacher``."""
    return ", ".join(f"{k}={show(v)}" for k, v in values.items())


@dataclass(frozen=True)
class Claim:
    """A parsed claim. ``left``/``right``/``where`` map keys to normalised values."""

    text: str
    left: dict[str, Any]
    op: str  # ">" or ">="
    right: dict[str, Any]
    threshold: float  # the verdict compares LEFT − RIGHT with this: by N → N, within N → −N
    cost: str | None = None  # gmacs | params: LEFT's deploy model must cost less (or no more, see strict)
    strict: bool = True  # at fewer (True) or at no more (False)
    every: tuple[str, ...] = ()
    where: dict[str, Any] = field(default_factory=dict)
    name: str = ""

    @property
    def stage_claim(self) -> bool:
        return STAGE in self.left

    @property
    def contrast(self) -> tuple[str, ...]:
        """The keys whose values tell LEFT from RIGHT."""
        return tuple(dict.fromkeys([*self.left, *self.right]))

    def to_dict(self) -> dict[str, Any]:
        return {"claim": self.text, "name": self.name}


def _selector(text: str, where: str) -> dict[str, Any]:
    out: dict[str, Any] = {}
    for item in text.split(","):
        key, sep, value = item.partition("=")
        key = key.strip()
        if not sep or not key or not value.strip():
            raise InputError(f"{where}: {item!r} is not of the form key=value")
        if key in out:
            raise InputError(f"{where}: {key!r} is given twice")
        out[key] = norm(parse_value(value.strip()))
    return out


def _number(text: str, word: str, where: str) -> float:
    try:
        value = float(text)
    except ValueError:
        raise InputError(f"{where}: '{word} {text}' needs a number of points") from None
    if not value >= 0 or value == float("inf"):
        raise InputError(f"{where}: '{word} {text}' needs a finite number of points >= 0")
    return value


def parse_claim(text: Any, name: str = "") -> Claim:
    """Parse one claim's text (see the module's docstring); ``InputError`` names what is wrong."""
    if not isinstance(text, str) or not text.strip():
        raise InputError(f"claim {text!r}: a claim is a line like 'distill=teacher > distill=none'")
    text = " ".join(text.split())
    where = f"claim '{text}'"
    m = _HEAD.match(text)
    if not m:
        raise InputError(f"{where}: expected LEFT > RIGHT or LEFT >= RIGHT, e.g. 'distill=teacher > distill=none'")
    left, right = _selector(m["left"], where), _selector(m["right"], where)
    rest, found = m["rest"].strip(), {}
    while rest:
        for word, pattern in _CLAUSES:
            hit = pattern.match(rest)
            if hit:
                if word in found:
                    raise InputError(f"{where}: '{word}' is given twice")
                found[word] = hit["v"]
                rest = rest[hit.end() :].strip()
                break
        else:
            raise InputError(
                f"{where}: cannot read {rest!r}; after the comparison come 'by N', 'within N', "
                "'at fewer|at no more gmacs|params', 'at every AXIS' and 'where KEY=VALUE'"
            )
    op = m["op"]
    if op == ">" and "within" in found:
        raise InputError(f"{where}: 'within N' is the margin of '>=' (at least as accurate); '>' takes 'by N'")
    if op == ">=" and "by" in found:
        raise InputError(f"{where}: 'by N' belongs to '>' (more accurate by N); '>=' takes 'within N'")
    threshold = (
        (_number(found["by"], "by", where) if "by" in found else 0.0)
        if op == ">"
        else -(_number(found["within"], "within", where) if "within" in found else DEFAULT_WITHIN)
    )
    if "fewer" in found and "no more" in found:
        raise InputError(f"{where}: give 'at fewer' or 'at no more', not both")
    word = "fewer" if "fewer" in found else "no more"
    cost = found.get(word)
    if cost is not None and cost not in COSTS:
        raise InputError(f"{where}: 'at {word} {cost}': the cost is one of {', '.join(COSTS)}")
    every = tuple(a.strip() for a in found.get("every", "").split(",") if a.strip())
    claim = Claim(
        text,
        left,
        op,
        right,
        threshold,
        cost,
        word == "fewer",
        every,
        _selector(found["where"], where) if "where" in found else {},
        str(name or ""),
    )
    if (STAGE in left) != (STAGE in right):
        raise InputError(f"{where}: compare a stage with a stage ('stage=2 > stage=1'), or variants with variants")
    if claim.stage_claim and (len(left) > 1 or len(right) > 1):
        raise InputError(f"{where}: a stage comparison names the stage only; choose the cells with 'where'")
    if left == right:
        raise InputError(f"{where}: both sides select the same cells")
    for key in every:
        if key in claim.contrast:
            raise InputError(f"{where}: 'at every {key}': {key} is what the claim compares")
    return claim


def parse_claims(raw: Any, source: str) -> tuple[Claim, ...]:
    """The ``claims:`` of a matrix file: a list of lines, or of ``{claim: LINE, name: TEXT}``."""
    if raw is None:
        return ()
    if not isinstance(raw, list):
        raise InputError(f"matrix file {source}: claims must be a list of lines like 'distill=teacher > distill=none'")
    out = []
    for i, item in enumerate(raw):
        if isinstance(item, dict):
            unknown = sorted(set(item) - {"claim", "name"})
            if unknown or "claim" not in item:
                raise InputError(
                    f"matrix file {source}: claim {i + 1} must be a line, or a mapping with 'claim' "
                    f"(and optionally 'name'){'; unknown: ' + ', '.join(unknown) if unknown else ''}"
                )
            out.append(parse_claim(item["claim"], item.get("name", "")))
        else:
            out.append(parse_claim(item))
    return tuple(out)


# --- selecting and pairing cells (shared by validation here and evaluation in the report) -----------


def _matches(values: Mapping[str, Any], selector: Mapping[str, Any]) -> bool:
    return all(k in values and norm(values[k]) == v for k, v in selector.items())


def _compatible(a: Mapping[str, Any], b: Mapping[str, Any], keys: Iterable[str]) -> bool:
    """Equal on ``keys`` wherever both cells set the key (a key a cell does not set matches anything)."""
    return all(norm(a[k]) == norm(b[k]) for k in keys if a.get(k) is not None and b.get(k) is not None)


def _label(cell: Mapping[str, Any], keys: Sequence[str]) -> dict[str, Any]:
    """The cell's normalised values of ``keys``, in the order of ``keys`` (so its repr identifies a context)."""
    return {k: norm(cell.get(k)) for k in keys}


@dataclass
class Context:
    """One comparison of a claim: the LEFT and RIGHT cells (indices) at one combination of the other keys."""

    label: dict[str, Any]  # the context's values (the LEFT cells' values of the context keys)
    left: list[int]
    right: list[int]


def varying_keys(cells: Sequence[Mapping[str, Any]], ignore: Iterable[str] = ("seed",)) -> list[str]:
    keys = list(dict.fromkeys(k for c in cells for k in c))
    skip = set(ignore)
    return [k for k in keys if k not in skip and len({repr(norm(c[k])) for c in cells if c.get(k) is not None}) > 1]


def contexts(claim: Claim, cells: Sequence[Mapping[str, Any]], stages: Sequence[int] | None = None) -> list[Context]:
    """The claim's comparisons over ``cells`` (each a mapping of key → value; ``seed`` marks repetitions).

    ``stages`` gives each cell's number of stages (stage claims keep the cells that have both stages).
    """
    pool = [i for i, c in enumerate(cells) if _matches(c, claim.where)]
    if claim.stage_claim:
        need = max(claim.left[STAGE], claim.right[STAGE])
        pool = [i for i in pool if stages is None or stages[i] is None or stages[i] >= need]
        keys = varying_keys([cells[i] for i in pool])
        groups: dict[str, Context] = {}
        for i in pool:
            label = _label(cells[i], keys)
            groups.setdefault(repr(label), Context(label, [], [])).left.append(i)
        for ctx in groups.values():
            ctx.right = list(ctx.left)
        return list(groups.values())
    lefts = [i for i in pool if _matches(cells[i], claim.left)]
    rights = [i for i in pool if _matches(cells[i], claim.right)]
    keys = [k for k in varying_keys([cells[i] for i in pool]) if k not in claim.contrast]
    out: dict[str, Context] = {}
    for i in lefts:
        label = _label(cells[i], keys)
        ctx_key = repr(label)
        if ctx_key not in out:
            match = [j for j in rights if _compatible(cells[i], cells[j], keys)]
            out[ctx_key] = Context(label, [], match)
        out[ctx_key].left.append(i)
    return [c for c in out.values() if c.right]


def validate(claim: Claim, cells: Sequence[Mapping[str, Any]], stages: Sequence[int] | None, where: str) -> None:
    """Every key the claim names must vary in the matrix, every value occur, and both sides meet."""
    prefix = f"{where}: claim '{claim.text}'"
    keys = varying_keys(cells)
    values: dict[str, list[Any]] = {}
    for c in cells:
        for k, v in c.items():
            if v is not None and norm(v) not in values.setdefault(k, []):
                values[k].append(norm(v))
    named = [*claim.contrast, *claim.every, *claim.where]
    for key in dict.fromkeys(named):
        if key == STAGE:
            continue
        if key not in keys:
            held = f" (it is {show(values[key][0])} in every cell)" if values.get(key) else ""
            raise InputError(f"{prefix}: unknown axis {key!r}{held}; the matrix varies: {', '.join(keys) or 'nothing'}")
    for selector in (claim.left, claim.right, claim.where):
        for key, value in selector.items():
            if key == STAGE:
                known = [s for s in stages or () if s is not None]
                top = max(known) if known else None
                if not isinstance(value, int) or value < 1 or (top is not None and value > top):
                    raise InputError(
                        f"{prefix}: stage={show(value)}: the matrix's networks have stages 1..{top or 'K'}"
                    )
            elif value not in values[key]:
                raise InputError(
                    f"{prefix}: {key}={show(value)} is not a value of {key} in the matrix (its values: "
                    f"{', '.join(show(v) for v in values[key])})"
                )
    found = contexts(claim, cells, stages)
    if not found:
        raise InputError(f"{prefix}: no cell of LEFT has a cell of RIGHT to compare with (equal in every other axis)")
