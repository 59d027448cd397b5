"""The figures of the documentation, written into docs/assets/:

    python docs/figures/make_figures.py [--data runs/data/quick] [--matrix runs/ci]

- ``lspd.svg`` and ``lmrb.svg``: the LSPD network with its distillation modes, and the LMRB block (drawn here);
- ``samples-quick.jpg``: 16 validation people of the quick synthetic benchmark, drawn by
  ``lspd-bench data show DATA --n 16`` and saved as a JPEG (quality 85) to keep the repository small;
  DATA comes from ``lspd-bench data synth --preset quick --out runs/data/quick`` (``nox -s demo`` makes it);
- ``report-ci-pareto-gmacs.png`` and ``report-ci-axis-stages.png``: two plots of ``lspd-bench report MATRIX``
  on the ci matrix that ``nox -s regress`` leaves in runs/ci;
- ``noise-steps.svg``: a cell's seeds and the two parts of their spread over the length of training, from
  ``benchmarks/results/noise_steps.json`` (``python benchmarks/bench_noise_steps.py`` writes it).

A figure whose input is missing is skipped, saying which command makes the input.
"""

from __future__ import annotations

import argparse
import json
import shutil
import subprocess
import sys
import tempfile
from pathlib import Path

import matplotlib

matplotlib.use("Agg")
import matplotlib.pyplot as plt  # noqa: E402
from matplotlib.patches import Circle, FancyArrowPatch, FancyBboxPatch, Rectangle  # noqa: E402

ASSETS = Path(__file__).resolve().parent.parent / "assets"
RESULTS = Path(__file__).resolve().parents[2] / "benchmarks" / "results"
INK, STAGE, TEACHER, SEQUENCE, GT = "#222222", "#e8eef8", "#d55e00", "#009e73", "#555555"
plt.rcParams.update(
    {"font.family": "DejaVu Sans", "font.size": 10, "svg.fonttype": "path", "svg.hashsalt": "lspd-bench"}
)


def box(ax, x, y, w, h, text, *, face="white", edge=INK, size=10, dashed=False, weight="normal"):
    ax.add_patch(
        FancyBboxPatch(
            (x, y),
            w,
            h,
            boxstyle="round,pad=0.02,rounding_size=0.12",
            facecolor=face,
            edgecolor=edge,
            linewidth=1.2,
            linestyle="--" if dashed else "-",
        )
    )
    ax.text(x + w / 2, y + h / 2, text, ha="center", va="center", fontsize=size, color=INK, weight=weight)


def arrow(ax, start, end, *, color=INK, style="-|>", dashed=False, rad=0.0, width=1.2):
    ax.add_patch(
        FancyArrowPatch(
            start,
            end,
            arrowstyle=style,
            mutation_scale=11,
            color=color,
            linewidth=width,
            linestyle=(0, (4, 3)) if dashed else "-",
            connectionstyle=f"arc3,rad={rad}",
            shrinkA=2,
            shrinkB=2,
        )
    )


def save(fig, name: str) -> Path:
    path = ASSETS / name
    fig.savefig(path, format="svg", bbox_inches="tight", metadata={"Date": None})
    plt.close(fig)
    return path


def lspd_diagram() -> Path:
    """Backbone, K stages with their heads and the re-injection, the losses of each distillation mode, deploy."""
    fig, ax = plt.subplots(figsize=(14.5, 6.4))
    ax.set_xlim(0, 18.7)
    ax.set_ylim(0, 8.2)
    ax.axis("off")
    main_y, h = 5.0, 1.5  # the stage row
    box(ax, 0.1, main_y + 0.3, 1.3, 0.9, "image\nB×3×H×W", size=9)
    box(ax, 1.9, main_y + 0.15, 2.5, 1.2, "backbone\nconv 3×3 /2, twice\n+ n_stem blocks", face="#f4f4f4", size=9)
    arrow(ax, (1.4, main_y + 0.75), (1.9, main_y + 0.75))
    stages = [(5.2, "1"), (9.85, "2"), (15.0, "K")]
    for x, k in stages:
        ax.add_patch(Rectangle((x, main_y - 0.1), 3.45, h + 0.5, facecolor=STAGE, edgecolor="#7f93b8", linewidth=1.0))
        ax.text(x + 0.1, main_y + h + 0.17, f"stage {k}", fontsize=10, weight="bold", va="center", color="#2f4a7a")
        box(
            ax,
            x + 0.15,
            main_y + 0.2,
            2.15,
            1.1,
            f"body$_{k}$: encoder–\ndecoder of depth D,\nbuilt from `block`",
            size=8.5,
        )
        box(ax, x + 2.6, main_y + 0.35, 0.7, 0.8, f"head$_{k}$\n1×1", size=8.5)
        arrow(ax, (x + 2.3, main_y + 0.75), (x + 2.6, main_y + 0.75))
        ax.text(x + 2.45, main_y + 0.95, f"y$_{k}$", fontsize=8.5, ha="center")
        # The stage's heatmaps below it, with the ground-truth loss every stage has.
        hx = x + 2.2
        box(ax, hx, 2.6, 1.5, 0.8, f"h$_{k}$\nJ × H/4 × W/4", size=8.5, face="#fff7e0")
        arrow(ax, (x + 2.95, main_y + 0.35), (x + 2.95, 3.4))
        ax.text(hx - 0.08, 2.72, f"L(h$_{k}$, GT)", fontsize=8.5, color=GT, va="center", ha="right")
    arrow(ax, (4.4, main_y + 0.75), (5.35, main_y + 0.75))
    ax.text(4.87, main_y + 0.95, "x$_1$", fontsize=9, ha="center")
    # Re-injection: x_{k+1} = x_k + 1×1(y_k) + 1×1(h_k), the stacked-hourglass way.
    for (x, _), (x_next, _) in zip(stages[:-1], stages[1:]):
        cx = x + 3.85
        ax.add_patch(Circle((cx, main_y + 0.75), 0.2, facecolor="white", edgecolor=INK, linewidth=1.2))
        ax.text(cx, main_y + 0.75, "+", ha="center", va="center", fontsize=12)
        arrow(ax, (x + 3.3, main_y + 0.75), (cx - 0.2, main_y + 0.75))
        if x_next - cx > 1.0:  # the stages in between
            ax.text((cx + x_next) / 2, main_y + 0.75, "…", ha="center", va="center", fontsize=16)
            arrow(ax, (cx + 0.2, main_y + 0.75), (cx + 0.45, main_y + 0.75))
            arrow(ax, (x_next - 0.3, main_y + 0.75), (x_next + 0.15, main_y + 0.75))
        else:
            arrow(ax, (cx + 0.2, main_y + 0.75), (x_next + 0.15, main_y + 0.75))
    ax.text(10.45, main_y - 0.55, "x$_{k+1}$ = x$_k$ + 1×1(y$_k$) + 1×1(h$_k$)", ha="center", fontsize=9, va="center")
    # Distillation: the sequence (stage k learns from stage k+1's detached heatmaps) and the teacher.
    for (x, _), (x_next, _) in zip(stages[:-1], stages[1:]):
        arrow(ax, (x_next + 2.2, 3.0), (x + 3.7, 3.0), color=SEQUENCE)
    ax.text(11.0, 3.15, "sg(h$_{k+1}$) → h$_k$", color=SEQUENCE, fontsize=9, ha="center", va="bottom")
    box(
        ax,
        14.3,
        0.25,
        4.2,
        1.0,
        "teacher, trained once and frozen\n(stacked hourglass) → heatmaps T",
        face="#fde8dc",
        edge=TEACHER,
        size=9,
    )
    for x, _ in stages:
        arrow(ax, (16.4, 1.25), (x + 2.95, 2.6), color=TEACHER, dashed=True)
    # Deploy: backbone + stage 1.
    ax.add_patch(
        FancyBboxPatch(
            (1.75, main_y - 0.3),
            7.1,
            h + 1.05,
            boxstyle="round,pad=0.02,rounding_size=0.15",
            facecolor="none",
            edgecolor="#0072b2",
            linewidth=1.8,
            linestyle="--",
        )
    )
    deploy = "deploy() = backbone + stages 1 … deploy_stage (default 1), returning that stage's heatmaps only"
    ax.text(1.8, main_y + h + 1.0, deploy, color="#0072b2", fontsize=10, weight="bold", va="center")
    legend = [
        ("——", GT, "none (and every mode): L(h$_k$, GT) at every stage (intermediate supervision)"),
        (
            "- - -",
            TEACHER,
            "teacher: (1−α)·L(h$_k$, GT) + α·L(h$_k$, T) at every stage; teacher+sequence: at stage K only",
        ),
        ("——", SEQUENCE, "sequence, teacher+sequence: stage k < K gets (1−α)·L(h$_k$, GT) + α·L(h$_k$, sg(h$_{k+1}$))"),
    ]
    for i, (mark, color, text) in enumerate(legend):
        ax.text(0.1, 1.55 - 0.5 * i, f"{mark}  {text}", color=color, fontsize=9, va="center")
    ax.text(
        0.1,
        0.05,
        "sg: stop-gradient (the later stage is not pulled towards the earlier one); L: the heatmap loss "
        "with target weights",
        fontsize=8.5,
        color=GT,
    )
    return save(fig, "lspd.svg")


def lmrb_diagram() -> Path:
    """The lightweight multiscale residual block with its default knobs (4 groups, 3×3 kernels, dilations 1–4)."""
    fig, ax = plt.subplots(figsize=(12, 4.4))
    ax.set_xlim(0, 17.7)
    ax.set_ylim(0, 6.2)
    ax.axis("off")
    mid = 2.8
    box(ax, 0.1, mid - 0.5, 1.5, 1.0, "x\nC channels", size=9)
    box(ax, 2.0, mid - 0.6, 2.3, 1.2, "1×1 conv C → C/2\nBN, ReLU", size=9)
    arrow(ax, (1.6, mid), (2.0, mid))
    box(ax, 4.7, mid - 0.6, 1.6, 1.2, "split into\nG = 4 groups", size=9)
    arrow(ax, (4.3, mid), (4.7, mid))
    ys = [4.45, 3.3, 2.15, 1.0]
    for i, y in enumerate(ys):
        box(
            ax,
            7.45,
            y - 0.38,
            3.2,
            0.76,
            f"group {i + 1}: depthwise 3×3,\ndilation {i + 1}; BN, ReLU",
            size=8.5,
            face=STAGE,
        )
        if i == 0:
            arrow(ax, (6.3, mid), (7.45, y))
        else:
            ax.add_patch(Circle((7.0, y), 0.15, facecolor="white", edgecolor=INK))
            ax.text(7.0, y, "+", ha="center", va="center", fontsize=9)
            arrow(ax, (6.3, mid), (6.85, y))
            arrow(ax, (7.15, y), (7.45, y))
            arrow(ax, (8.35, ys[i - 1] - 0.38), (7.05, y + 0.15), color=SEQUENCE, rad=0.25)
        arrow(ax, (10.65, y), (11.3, mid))
    box(ax, 11.3, mid - 0.6, 1.7, 1.2, "concatenate\nC/2 channels", size=9)
    box(ax, 13.4, mid - 0.6, 2.3, 1.2, "1×1 conv C/2 → C\nBN", size=9)
    arrow(ax, (13.0, mid), (13.4, mid))
    ax.add_patch(Circle((16.15, mid), 0.22, facecolor="white", edgecolor=INK, linewidth=1.2))
    ax.text(16.15, mid, "+", ha="center", va="center", fontsize=12)
    arrow(ax, (15.7, mid), (15.93, mid))
    box(ax, 16.6, mid - 0.5, 1.0, 1.0, "ReLU\nout", size=9)
    arrow(ax, (16.37, mid), (16.6, mid))
    # The identity path, over the top.
    ax.plot([0.85, 0.85, 16.15], [mid + 0.5, 5.6, 5.6], color=GT, linewidth=1.2)
    arrow(ax, (16.15, 5.6), (16.15, mid + 0.22), color=GT, style="-|>")
    ax.text(8.2, 5.75, "identity", color=GT, fontsize=9, ha="center")
    ax.text(
        0.1,
        0.15,
        "Green: group i's input is its own share of the C/2 channels plus group i−1's output, so the "
        "receptive field grows group by group at depthwise cost (knobs: groups, dilations, kernel_sizes).",
        fontsize=8.5,
        color=SEQUENCE,
    )
    return save(fig, "lmrb.svg")


def samples(data: Path) -> Path | None:
    """The 16-person grid of ``lspd-bench data show``, as a JPEG."""
    from PIL import Image

    if not (data / "meta.json").is_file():
        print(f"skipped samples-quick.jpg: no dataset in {data} (lspd-bench data synth --preset quick --out {data})")
        return None
    with tempfile.TemporaryDirectory() as tmp:
        png = Path(tmp) / "grid.png"
        subprocess.run(
            [sys.executable, "-m", "lspd_bench", "data", "show", str(data), "--n", "16", "--out", str(png)], check=True
        )
        path = ASSETS / "samples-quick.jpg"
        Image.open(png).convert("RGB").save(path, quality=85, optimize=True)
    return path


def report_plots(matrix: Path) -> list[Path]:
    """Two plots of the matrix's report: accuracy against GMACs (Pareto) and against the stages axis."""
    if not (matrix / "results.csv").is_file():
        print(f"skipped the report plots: no finished matrix in {matrix} (nox -s regress writes runs/ci)")
        return []
    out = []
    with tempfile.TemporaryDirectory() as tmp:
        subprocess.run(
            [sys.executable, "-m", "lspd_bench", "report", str(matrix), "--out", tmp, "--formats", "png"], check=True
        )
        for plot in ("pareto_gmacs", "axis_stages"):
            name = f"report-ci-{plot.replace('_', '-')}.png"
            out.append(Path(shutil.copyfile(Path(tmp) / "plots" / f"{plot}.png", ASSETS / name)))
    return out


def reference_curves(report: Path) -> Path | None:
    """The learning curves of the reference's committed report (``nox -s reference``)."""
    png = report / "plots" / "curves.png"
    if not png.is_file():
        print(f"skipped the reference's curves: no {png} (nox -s reference writes it)")
        return None
    return Path(shutil.copyfile(png, ASSETS / "reference-curves.png"))


def noise_steps(results: Path) -> Path | None:
    """Per preset: each seed's PCKh@0.5 against the epochs, and the seeds' SD split into its training and
    validation-people parts, against the 1-point target."""
    if not results.is_file():
        print(f"skipped the noise plot: no {results} (python benchmarks/bench_noise_steps.py writes it)")
        return None
    presets = json.loads(results.read_text())["presets"]
    fig, axes = plt.subplots(2, len(presets), figsize=(4.6 * len(presets), 6.4), squeeze=False)
    for col, p in enumerate(presets):
        lengths = p["lengths"]
        epochs = [x["epochs"] for x in lengths]
        top, bottom = axes[0][col], axes[1][col]
        for seed in range(p["seeds"]):
            top.plot(
                epochs,
                [x["headlines"][seed] for x in lengths],
                "o-",
                color=GT,
                alpha=0.5,
                lw=1,
                ms=4,
                label="each seed (1 thread)" if seed == 0 else None,
            )
        top.plot(epochs, [x["seed_mean"] for x in lengths], "s-", color=INK, lw=2, label="mean of the seeds")
        top.plot(
            epochs,
            [x["two_threads_headline"] for x in lengths],
            "x",
            color=TEACHER,
            ms=8,
            mew=2,
            label="seed 0 on 2 threads",
        )
        top.set_title(f"{p['preset']} preset: {' '.join(p['cell'])}, {p['seeds']} seeds", fontsize=10)
        top.set_ylabel("PCKh@0.5 (deployed stage)")
        top.legend(fontsize=8, loc="lower right")
        bottom.plot(epochs, [x["seed_sd"] for x in lengths], "s-", color=INK, lw=2, label="seed SD")
        bottom.plot(epochs, [x["training_sd"] for x in lengths], "o--", color=SEQUENCE, label="its training part")
        bottom.plot(epochs, [x["people_sd"] for x in lengths], "o:", color=TEACHER, label="its validation-people part")
        bottom.axhline(1.0, color=GT, lw=1, ls="-.")
        bottom.annotate("target 1.0", (epochs[0], 1.0), textcoords="offset points", xytext=(2, 3), fontsize=8)
        bottom.set_ylim(0, max(x["seed_sd"] for x in lengths) * 1.6)  # room for the legend above the curves
        bottom.set_ylabel("SD over seeds (points)")
        bottom.set_xlabel(f"epochs (the preset trains {p['base_epochs']})")
        bottom.legend(fontsize=8, loc="upper right")
        for ax in (top, bottom):
            ax.set_xscale("log", base=2)
            ax.set_xticks(epochs, [str(e) for e in epochs])
            ax.grid(alpha=0.3)
    fig.tight_layout()
    return save(fig, "noise-steps.svg")


def main(argv: list[str] | None = None) -> int:
    parser = argparse.ArgumentParser(description=__doc__.split("\n\n")[0])
    parser.add_argument("--data", type=Path, default=Path("runs/data/quick"), help="the quick synthetic dataset")
    parser.add_argument("--matrix", type=Path, default=Path("runs/ci"), help="a finished ablation matrix")
    parser.add_argument(
        "--noise", type=Path, default=RESULTS / "noise_steps.json", help="bench_noise_steps.py's results"
    )
    args = parser.parse_args(argv)
    ASSETS.mkdir(parents=True, exist_ok=True)
    written = [
        lspd_diagram(),
        lmrb_diagram(),
        samples(args.data),
        *report_plots(args.matrix),
        noise_steps(args.noise),
        reference_curves(RESULTS / "reference"),
    ]
    for path in filter(None, written):
        print(f"wrote {path} ({path.stat().st_size / 1024:.0f} KB)")
    return 0


if __name__ == "__main__":
    sys.exit(main())
