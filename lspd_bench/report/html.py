"""``index.html``: one self-contained page (inline CSS, images as base64 data URIs, no script, no
network) with every table, every plot, the environment and the conventions the figures came from."""

from __future__ import annotations

import base64
import html
from dataclasses import dataclass
from typing import Sequence

from lspd_bench import __version__
from lspd_bench.ablate.claims import label_text
from lspd_bench.report.claims import interval_text
from lspd_bench.report.tables import Table, render_html

CSS = """
:root { --ink:#1f2328; --muted:#59636e; --line:#d1d9e0; --soft:#f6f8fa; --accent:#6a3d9a; --warn:#9a6700; }
* { box-sizing: border-box; }
body { margin: 0; font: 14px/1.5 -apple-system, "Segoe UI", "Helvetica Neue", Arial, "DejaVu Sans", sans-serif;
       color: var(--ink); background: #fff; }
main { max-width: 1380px; margin: 0 auto; padding: 28px 24px 64px; }
header h1 { font-size: 24px; margin: 0 0 4px; }
header p { margin: 2px 0; color: var(--muted); }
nav { margin: 16px 0 8px; padding: 8px 0; border-top: 1px solid var(--line); border-bottom: 1px solid var(--line); }
nav a { margin-right: 18px; color: var(--accent); text-decoration: none; font-weight: 600; }
h2 { font-size: 19px; margin: 36px 0 12px; padding-bottom: 4px; border-bottom: 2px solid var(--accent); }
h3 { font-size: 15px; margin: 24px 0 8px; }
.callout { border-left: 4px solid var(--warn); background: #fff8e5; padding: 8px 14px; margin: 12px 0; }
.callout ul { margin: 4px 0; padding-left: 18px; }
figure { margin: 18px 0 26px; }
figure.plot img { display: block; width: 100%; max-width: 940px; height: auto; border: 1px solid var(--line); border-radius: 6px; }
figcaption { font-weight: 600; margin-bottom: 6px; }
figure.plot figcaption { font-weight: normal; color: var(--muted); margin: 6px 0 0; font-size: 13px; }
.files a { color: var(--accent); margin-right: 10px; font-size: 12.5px; }
.scroll { overflow-x: auto; border: 1px solid var(--line); border-radius: 6px; }
table { border-collapse: collapse; width: 100%; font-size: 12.5px; font-variant-numeric: tabular-nums; }
th, td { padding: 5px 7px; border-bottom: 1px solid var(--line); white-space: nowrap; }
th { background: var(--soft); position: sticky; top: 0; font-weight: 600; white-space: normal; min-width: 3.5em;
     vertical-align: bottom; }  /* headers wrap (the Δ header names its interval): the columns fit a 1,400 px window */
td.r, th.r { text-align: right; }
td.l, th.l { text-align: left; }
tbody tr:nth-child(even) { background: #fbfcfd; }
tr.baseline td { background: #efe8f7; }
tr.missing td { color: #8c959f; font-style: italic; }
tr.partial td.l:nth-child(1) { border-left: 3px solid var(--warn); }
tr.ref td { background: #f3f4f6; }
ul.notes { color: var(--muted); font-size: 12.5px; margin: 8px 0 0; padding-left: 18px; }
dl.env { display: grid; grid-template-columns: max-content 1fr; gap: 4px 18px; margin: 0; }
dl.env dt { font-weight: 600; color: var(--muted); }
dl.env dd { margin: 0; font-family: ui-monospace, "DejaVu Sans Mono", monospace; font-size: 12.5px; word-break: break-all; }
ol.conv li { margin-bottom: 4px; }
.front { margin: 4px 0 0; font-size: 13px; }
.verdict { font-weight: 700; padding: 1px 8px; border-radius: 10px; font-size: 12px; }
.verdict.supported { background: #dafbe1; color: #116329; }
.verdict.contradicted { background: #ffebe9; color: #a40e26; }
.verdict.undecided { background: #eaeef2; color: #59636e; }
tr.part td { color: var(--muted); font-size: 12px; }
#claims td.l { white-space: normal; }  /* the claim and its reason wrap; figures stay on one line */
footer { margin-top: 40px; color: var(--muted); font-size: 12px; }
"""


@dataclass(frozen=True)
class PlotEntry:
    """A figure for the page: its anchor, title, caption, PNG bytes and the file names of its formats."""

    anchor: str
    title: str
    caption: str
    png: bytes
    files: dict[str, str]  # format → path relative to the page


def _img(entry: PlotEntry) -> str:
    data = base64.b64encode(entry.png).decode("ascii")
    alt = html.escape(entry.title)
    return f'<img src="data:image/png;base64,{data}" alt="{alt}">'


def _plot(entry: PlotEntry) -> str:
    links = " ".join(f'<a href="{html.escape(p)}">{fmt.upper()}</a>' for fmt, p in entry.files.items())
    return (
        f'<figure class="plot" id="{html.escape(entry.anchor)}">{_img(entry)}'
        f'<figcaption>{html.escape(entry.caption)} <span class="files">{links}</span></figcaption></figure>'
    )


def render_index(
    *,
    title: str,
    subtitle: Sequence[str],
    warnings: Sequence[str],
    pareto: Sequence[PlotEntry],
    fronts: Sequence[tuple[str, str]],
    paper: Sequence[Table],
    main: Table,
    axis_plots: Sequence[PlotEntry],
    stages: Table | None = None,
    curves: PlotEntry | None = None,
    environment: Sequence[tuple[str, str]],
    conventions: Sequence[tuple[str, Sequence[str]]],
    claims: Sequence[dict] = (),
    claims_note: str = "",
) -> str:
    """The page as one HTML string; ``fronts`` are ``(cost title, members text)`` lines under the Pareto plots,
    ``curves`` the learning curves shown after the table of every variant."""
    esc = html.escape
    sections = [
        ("claims", "Claims"),
        ("pareto", "Accuracy vs cost"),
        ("paper", "Paper view"),
        ("stages", "Every stage"),
        ("results", "All variants"),
        ("learning", "Learning curves"),
        ("axes", "Plots"),
        ("environment", "Environment"),
        ("conventions", "Conventions"),
    ]
    present = {
        "claims": bool(claims),
        "pareto": bool(pareto),
        "paper": bool(paper),
        "stages": stages is not None,
        "results": True,
        "learning": curves is not None,
        "axes": bool(axis_plots),
        "environment": True,
        "conventions": True,
    }
    out = [
        "<!DOCTYPE html>",
        '<html lang="en">',
        "<head>",
        '<meta charset="utf-8">',
        '<meta name="viewport" content="width=device-width, initial-scale=1">',
        f"<title>{esc(title)}</title>",
        f"<style>{CSS}</style>",
        "</head>",
        "<body>",
        "<main>",
        f"<header><h1>{esc(title)}</h1>" + "".join(f"<p>{esc(s)}</p>" for s in subtitle) + "</header>",
        "<nav>" + "".join(f'<a href="#{k}">{esc(t)}</a>' for k, t in sections if present[k]) + "</nav>",
    ]
    if warnings:
        out.append(
            '<div class="callout"><strong>Read with care</strong><ul>'
            + "".join(f"<li>{esc(w)}</li>" for w in warnings)
            + "</ul></div>"
        )
    if claims:
        out.append(_claims(claims, claims_note))
    if pareto:
        out.append('<section id="pareto"><h2>Accuracy vs cost</h2>')
        out += [_plot(p) for p in pareto]
        if fronts:
            out.append("<h3>Pareto fronts</h3>")
            out += [f'<p class="front"><strong>{esc(k)}:</strong> {esc(v)}</p>' for k, v in fronts]
        out.append("</section>")
    if paper:
        out.append(
            '<section id="paper"><h2>Paper view</h2>'
            "<p>One table per axis; the other axes are held at the baseline row.</p>"
        )
        out += [render_html(t) for t in paper]
        out.append("</section>")
    if stages is not None:
        out.append('<section id="stages"><h2>Every stage</h2>')
        out.append(render_html(stages, anchor="stage-table"))
        out.append("</section>")
    out.append('<section id="results"><h2>All variants</h2>')
    out.append(render_html(main))
    out.append("</section>")
    if curves is not None:
        out.append(f'<section id="learning"><h2>Learning curves</h2>{_plot(curves)}</section>')
    if axis_plots:
        out.append('<section id="axes"><h2>Plots</h2>')
        out += [_plot(p) for p in axis_plots]
        out.append("</section>")
    out.append('<section id="environment"><h2>Environment</h2><dl class="env">')
    out += [f"<dt>{esc(k)}</dt><dd>{esc(v)}</dd>" for k, v in environment]
    out.append("</dl></section>")
    out.append('<section id="conventions"><h2>Conventions</h2>')
    for source, lines in conventions:
        out.append(f'<h3>{esc(source)}</h3><ol class="conv">' + "".join(f"<li>{esc(x)}</li>" for x in lines) + "</ol>")
    out.append("</section>")
    out.append(
        f"<footer>Generated by lspd-bench {esc(__version__)} (<code>lspd-bench report</code>). "
        "Self-contained: no scripts, no network.</footer>"
    )
    out += ["</main>", "</body>", "</html>"]
    return "\n".join(out) + "\n"


def _claims(claims: Sequence[dict], note: str) -> str:
    """The Claims section: each claim, its verdict, Δ with its interval, seeds, the noise covered and why."""
    esc = html.escape

    def row(r: dict, text: str, cls: str = "") -> str:
        return (
            f'<tr class="{cls}"><td class="l">{text}</td><td class="l"><span class="verdict {r["verdict"]}">'
            f'{r["verdict"]}</span></td><td class="r">{esc(interval_text(r))}</td><td class="r">{r["seeds"]}</td>'
            f'<td class="l">{esc(r["covers"])}</td><td class="l">{esc(r["reason"])}</td></tr>'
        )

    rows = []
    for r in claims:
        name = f"<strong>{esc(r['name'])}</strong><br>" if r.get("name") else ""
        rows.append(row(r, f"{name}<code>{esc(r['claim'])}</code>"))
        for p in r.get("parts", []):
            rows.append(row(p, f"&nbsp;&nbsp;at {esc(label_text(p['at']))}", "part"))
    head = "".join(
        f'<th class="{c}">{t}</th>'
        for t, c in (
            ("claim", "l"),
            ("verdict", "l"),
            ("Δ [95 % interval], points", "r"),
            ("seeds", "r"),
            ("interval covers", "l"),
            ("why", "l"),
        )
    )
    return (
        f'<section id="claims"><h2>Claims</h2><div class="scroll"><table><thead><tr>{head}</tr></thead><tbody>'
        + "".join(rows)
        + f'</tbody></table></div><ul class="notes"><li>{esc(note)}</li></ul></section>'
    )
