"""report.md (tables with the exact commands) and report.png from summary.json files.

One function serves single runs and `hopedit eval report DIR...`, which merges many result folders.
MQuAKE runs that span several edit batches or memory settings are drawn as a heatmap per memory
setting (methods x edit batches, the value in each cell): bars for 25 runs side by side need 25
colours and a legend that covers them. A single run, or runs of one setting, stay grouped bars.
"""

from __future__ import annotations

from collections.abc import Mapping, Sequence
from pathlib import Path
from typing import Any

from evals.metrics import PORTABILITY_METRICS
from evals.results import read_json

# Published MQuAKE-CF-3k multi-hop accuracy (%), from ../shared/data/README.md (LLaMA-2-7B, edits only).
PUBLISHED_MQUAKE = [
    ("MeLLo", "LLaMA-2-7B", 33.57, 20.00, 17.33),
    ("PokeMQA", "LLaMA-2-7B", 44.13, 37.33, 32.83),
    ("KEDKG", "LLaMA-2-7B", 66.80, 58.50, 48.30),
    ("CAPE-KG", "LLaMA-2-7B", 78.03, 78.93, 78.38),
]


def find_summaries(dirs: Sequence[Path]) -> list[tuple[Path, dict]]:
    found = []
    for directory in dirs:
        for path in sorted(Path(directory).rglob("summary.json")):
            found.append((path.parent, read_json(path)))
    return found


def _pct(value: float | None) -> str:
    return "–" if value is None else f"{100 * value:.1f}"


def run_label(summary: Mapping) -> str:
    if summary.get("benchmark") == "portability":
        return f"{summary['method']} {summary['mode']} {summary['data']}"
    return f"{summary['method']} ({summary['memory']}, {summary['edits']})"


def mquake_table(summaries: Sequence[Mapping]) -> str:
    hop_keys = sorted({k for s in summaries for k in s.get("by_hops", {})}, key=int)
    head = [
        "method",
        "memory",
        "edits",
        "cases",
        "multi-hop (all)",
        "consistent cases",
        "multi-hop (consistent)",
    ]
    head += ["contains", "hop-wise"]
    head += [f"{k}-hop" for k in hop_keys]
    head += ["recall (all)", "recall (consistent)", "edited / unedited cases", "calls/q", "q/s"]
    rows = ["| " + " | ".join(head) + " |", "|" + " --- |" * len(head)]
    for s in summaries:
        cells = [s["method"], s["memory"], str(s["edits"]), str(s["n_cases"])]
        consistent = "–" if s.get("n_consistent") is None else str(s["n_consistent"])
        cells += [_pct(s.get("multihop_acc")), consistent, _pct(s.get("multihop_acc_consistent"))]
        cells += [_pct(s.get("multihop_acc_contains")), _pct(s.get("hop_acc"))]
        cells += [_pct(s.get("by_hops", {}).get(k)) for k in hop_keys]
        calls = s.get("model_calls_per_question")
        qps = s.get("questions_per_second")
        split = f"{_pct(s.get('edited_acc'))} / {_pct(s.get('unedited_acc'))}" if "unedited_acc" in s else "–"
        cells += [
            _pct(s.get("retrieval_recall")),
            _pct(s.get("retrieval_recall_consistent")),
            split,
            "–" if calls is None else f"{calls:.1f}",
            "–" if qps is None else f"{qps:.2f}",
        ]
        rows.append("| " + " | ".join(cells) + " |")
    return "\n".join(rows)


def published_table() -> str:
    rows = [
        "| method | model | 1 edit | 100 edits | all 3000 |",
        "| --- | --- | --- | --- | --- |",
    ]
    rows += [f"| {m} | {model} | {a:.2f} | {b:.2f} | {c:.2f} |" for m, model, a, b, c in PUBLISHED_MQUAKE]
    return "\n".join(rows)


def portability_table(summaries: Sequence[Mapping], field: str) -> str:
    names = [n for n in PORTABILITY_METRICS if any(n in s["metrics"].get(field, {}) for s in summaries)]
    head = ["method", "mode", "data", "cases", *names, "Score", "H"]
    rows = ["| " + " | ".join(head) + " |", "|" + " --- |" * len(head)]
    for s in summaries:
        values = s["metrics"].get(field, {})
        cells = [s["method"], s["mode"], s["data"], str(s["n_cases"])]
        cells += [_pct(values.get(n)) for n in [*names, "Score", "H"]]
        rows.append("| " + " | ".join(cells) + " |")
    return "\n".join(rows)


# Rows of the method matrix in this order; other methods follow in the order they come.
METHOD_ORDER = ("instructed", "ike", "mello", "pokemqa", "base")


def _edits_key(edits: Any) -> tuple[int, float]:
    """1 < 100 < all: numbers by value, then anything else (\"all\")."""
    text = str(edits)
    return (0, float(text)) if text.isdigit() else (1, 0.0)


def is_matrix(summaries: Sequence[Mapping]) -> bool:
    """More than one (memory, edits) cell: the runs form a method matrix, drawn as heatmaps."""
    return len({(s.get("memory"), str(s.get("edits"))) for s in summaries}) > 1


def matrix_cells(
    summaries: Sequence[Mapping],
) -> tuple[list[str], list[str], list[str], dict[tuple[str, str, str], float | None]]:
    """(memory settings, methods, edit batches, {(setting, method, edits): multi-hop accuracy}).

    Two runs for one cell would hide one of them, so that is an error naming the cell.
    """
    settings = sorted({str(s.get("memory")) for s in summaries})
    seen = list(dict.fromkeys(str(s["method"]) for s in summaries))
    methods = [m for m in METHOD_ORDER if m in seen] + [m for m in seen if m not in METHOD_ORDER]
    batches = sorted({str(s.get("edits")) for s in summaries}, key=_edits_key)
    cells: dict[tuple[str, str, str], float | None] = {}
    for s in summaries:
        key = (str(s.get("memory")), str(s["method"]), str(s.get("edits")))
        if key in cells:
            raise ValueError(
                f"two runs for {key[1]} (memory {key[0]}, edits {key[2]}): give one result folder per cell"
            )
        cells[key] = s.get("multihop_acc")
    return settings, methods, batches, cells


def _plot_matrix(path: Path, summaries: Sequence[Mapping]) -> None:
    """One heatmap per memory setting: methods (rows) x edits in memory (columns), accuracy in each cell."""
    import matplotlib

    matplotlib.use("Agg")
    import matplotlib.pyplot as plt
    import numpy as np

    settings, methods, batches, cells = matrix_cells(summaries)
    cmap = plt.get_cmap("viridis").with_extremes(bad="#e8e8e8")  # grey: a cell with no run
    fig, axes = plt.subplots(
        1,
        len(settings),
        figsize=(1.6 + 1.5 * len(batches) * len(settings), 1.3 + 0.55 * len(methods)),
        squeeze=False,
        sharey=True,
    )
    image = None
    for ax, setting in zip(axes[0], settings, strict=True):
        grid = np.full((len(methods), len(batches)), np.nan)
        for row, method in enumerate(methods):
            for column, edits in enumerate(batches):
                value = cells.get((setting, method, edits))
                if value is not None:
                    grid[row, column] = 100 * value
        image = ax.imshow(np.ma.masked_invalid(grid), cmap=cmap, vmin=0, vmax=100, aspect="auto")
        for row in range(len(methods)):
            for column in range(len(batches)):
                value = grid[row, column]
                text = "–" if np.isnan(value) else f"{value:.1f}"
                colour = "black" if np.isnan(value) or value >= 60 else "white"
                ax.text(column, row, text, ha="center", va="center", color=colour, fontsize=10)
        ax.set_xticks(range(len(batches)), [f"{b} edit{'' if b == '1' else 's'}" for b in batches])
        ax.set_yticks(range(len(methods)), methods)
        ax.set_title(f"memory: {setting}")
        ax.tick_params(length=0)
    fig.suptitle("MQuAKE multi-hop accuracy (%) by method and edits in memory", y=1.04)
    note = "–: no run for this cell"
    if "base" in methods:
        note += " (the unedited model ignores the memory, so one run of it stands for every cell)"
    fig.text(0.5, -0.04, note, ha="center", fontsize=8, color="#555555")
    fig.colorbar(image, ax=axes[0].tolist(), fraction=0.04, pad=0.02, label="multi-hop accuracy (%)")
    fig.savefig(path, dpi=110, bbox_inches="tight")
    plt.close(fig)


def _plot(
    path: Path,
    labels: Sequence[str],
    groups: Sequence[str],
    values: Sequence[Sequence[float | None]],
    title: str,
):
    """Grouped bars: one group per x label (hop count / metric), one bar per run."""
    import matplotlib

    matplotlib.use("Agg")
    import matplotlib.pyplot as plt

    fig, ax = plt.subplots(figsize=(max(6, 1.3 * len(groups) + 0.6 * len(labels)), 4.2))
    width = 0.8 / max(1, len(labels))
    # The default cycle repeats after 10 colours; a merged method matrix has about 20 runs.
    palette = plt.get_cmap("tab20" if len(labels) > 10 else "tab10")
    for i, (label, row) in enumerate(zip(labels, values, strict=True)):
        xs = [g + (i - (len(labels) - 1) / 2) * width for g in range(len(groups))]
        heights = [0.0 if v is None else 100 * v for v in row]
        bars = ax.bar(xs, heights, width, label=label, color=palette(i % palette.N))
        ax.bar_label(bars, labels=["–" if v is None else f"{100 * v:.0f}" for v in row], fontsize=7)
    ax.set_xticks(range(len(groups)), groups)
    ax.set_ylabel("accuracy (%)")
    ax.set_ylim(0, 105)
    ax.set_title(title)
    # Below the axes, so that it never covers a bar.
    ax.legend(fontsize=7, loc="upper center", bbox_to_anchor=(0.5, -0.08), ncol=min(3, len(labels)))
    fig.tight_layout()
    fig.savefig(path, dpi=110, bbox_inches="tight")
    plt.close(fig)


def write_report(summaries: Sequence[Mapping], out: Path) -> tuple[Path, Path]:
    """Write out/report.md and out/report.png for MQuAKE and/or portability summaries."""
    out.mkdir(parents=True, exist_ok=True)
    mq = [s for s in summaries if s.get("benchmark") == "mquake"]
    po = [s for s in summaries if s.get("benchmark") == "portability"]
    lines = ["# hopedit evaluation report", ""]
    if mq:
        lines += [
            "## MQuAKE (multi-hop accuracy, %)",
            "",
            "`multi-hop`: a case is right when any of its 3 questions is answered with the new answer or",
            "an alias (normalised exact match of the extracted answer). `contains`: lenient, the gold",
            "answer occurs in the raw output. `hop-wise`: PokeMQA definition. `recall`: share of needed",
            "facts retrieved. `unedited`: the old answer came back. Memory `edits` = edits only;",
            "`edits+kg` = with a background KG of true facts.",
            "",
            mquake_table(mq),
            "",
            "Published reference (MQuAKE-CF-3k, all 3000 cases, edits only, other models):",
            "",
            published_table(),
            "",
        ]
    if po:
        lines += [
            "## Portability (%)",
            "",
            "Generation-based: normalised exact match of the extracted answer (Loc: same answer as the",
            "unedited model).",
            "",
            portability_table(po, "exact"),
            "",
            "Teacher-forced token accuracy (EasyEdit style, comparable with the InstructEd paper's tables;",
            "Loc: agreement with the unedited model's answer tokens):",
            "",
            portability_table(po, "token_acc"),
            "",
        ]
    lines += ["## Commands", ""]
    lines += [f"- {run_label(s)}: `{s.get('command') or 'n/a'}`" for s in summaries]
    md = out / "report.md"
    md.write_text("\n".join(lines) + "\n", encoding="utf-8")
    png = out / "report.png"
    if mq and is_matrix(mq):
        _plot_matrix(png, mq)
    elif mq:
        hop_keys = sorted({k for s in mq for k in s.get("by_hops", {})}, key=int)
        values = [[s.get("by_hops", {}).get(k) for k in hop_keys] + [s.get("multihop_acc")] for s in mq]
        groups = [f"{k}-hop" for k in hop_keys] + ["all"]
        _plot(png, [run_label(s) for s in mq], groups, values, "MQuAKE multi-hop accuracy by hop count")
    if po:
        names = [*PORTABILITY_METRICS, "Score", "H"]
        values = [[s["metrics"].get("exact", {}).get(n) for n in names] for s in po]
        title = "Portability (generation exact match)"
        _plot(
            png if not mq else out / "report_portability.png",
            [run_label(s) for s in po],
            names,
            values,
            title,
        )
    return md, png
