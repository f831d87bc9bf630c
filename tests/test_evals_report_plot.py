"""The method-matrix report: heatmap cells from run summaries, one panel per memory setting."""

from __future__ import annotations

from pathlib import Path

import pytest

from evals import report
from evals.report import is_matrix, matrix_cells, write_report


def summary(method: str, memory: str, edits: str, acc: float) -> dict:
    return {
        "benchmark": "mquake",
        "method": method,
        "memory": memory,
        "edits": edits,
        "n_cases": 300,
        "multihop_acc": acc,
        "by_hops": {"2": acc, "3": acc},
        "command": f"hopedit eval mquake --method {method}",
    }


RUNS = [
    summary("mello", "edits", "all", 0.02),
    summary("instructed", "edits+kg", "1", 0.89),
    summary("instructed", "edits", "100", 0.273),
    summary("instructed", "edits", "1", 0.557),
    summary("base", "edits", "all", 0.007),
    summary("instructed", "edits", "all", 0.203),
]


def test_cells_are_ordered_methods_by_edit_batches_per_setting() -> None:
    settings, methods, batches, cells = matrix_cells(RUNS)
    assert settings == ["edits", "edits+kg"]
    assert methods == ["instructed", "mello", "base"]
    assert batches == ["1", "100", "all"]
    assert cells[("edits", "instructed", "100")] == 0.273
    assert cells[("edits+kg", "instructed", "1")] == 0.89
    assert ("edits+kg", "mello", "all") not in cells  # no run: drawn as an empty cell


def test_two_runs_for_one_cell_is_an_error() -> None:
    with pytest.raises(ValueError, match=r"two runs for instructed \(memory edits, edits 1\)"):
        matrix_cells([*RUNS, summary("instructed", "edits", "1", 0.37)])


def test_a_matrix_is_drawn_as_heatmaps_and_one_setting_as_bars(
    tmp_path: Path, monkeypatch: pytest.MonkeyPatch
) -> None:
    import matplotlib.image

    _, png = write_report(RUNS, tmp_path / "matrix")  # really drawn
    height, width, _ = matplotlib.image.imread(png).shape
    assert width > height  # two panels side by side
    assert "| instructed | edits | 100 | 300 | 27.3 |" in (tmp_path / "matrix" / "report.md").read_text()

    drawn: list[str] = []
    monkeypatch.setattr(report, "_plot_matrix", lambda path, runs: drawn.append(f"matrix of {len(runs)}"))
    monkeypatch.setattr(report, "_plot", lambda path, labels, *rest: drawn.append(f"bars of {len(labels)}"))
    one_setting = [summary("ike", "edits", "1", 0.25), summary("instructed", "edits", "1", 0.55)]
    assert is_matrix(RUNS) and not is_matrix(one_setting)
    write_report(RUNS, tmp_path / "again")
    write_report(one_setting, tmp_path / "one-setting")
    assert drawn == ["matrix of 6", "bars of 2"]
