"""`hopedit bench` writes every figure issue 16 tracks, and refuses what it cannot run."""

from __future__ import annotations

import json
from pathlib import Path

import pytest

from evals.bench import FIGURE_KEYS, RESULT_KEYS, BenchConfig, _limits, percentile, run_bench
from evals.synthetic import synthetic_facts

ROW_KEYS = {
    "mode",
    "facts",
    "ingest_seconds",
    "ingest_facts_per_second",
    "search_p50_ms",
    "search_p95_ms",
    "retrieve_p50_ms",
    "retrieve_p95_ms",
    "open_seconds",
    "close_seconds",
    "opened_from",
    "first_retrieve_seconds",
    "rss_mib",
    "active",
    "history",
}


def test_synthetic_facts_are_deterministic_and_carry_history() -> None:
    first = synthetic_facts(0, 200, seed=3)
    assert [f.id for f in first] == [f.id for f in synthetic_facts(0, 200, seed=3)]
    assert [f.id for f in first[100:]] == [f.id for f in synthetic_facts(100, 100, seed=3)]
    keys = [(f.subject, f.relation) for f in first]
    assert len(set(keys)) < len(keys)  # some facts are new versions of earlier ones
    assert {f.kind for f in first} == {"edit", "background"}
    with pytest.raises(ValueError, match="start >= 0 and count >= 0"):
        synthetic_facts(-1, 5)


def test_bench_config_names_a_bad_mode_or_size(tmp_path: Path) -> None:
    with pytest.raises(ValueError, match=r"unknown memory mode\(s\) cloud"):
        BenchConfig(methods=[], out=tmp_path, modes=["embedded", "cloud"])
    with pytest.raises(ValueError, match="memory sizes must be positive"):
        BenchConfig(methods=[], out=tmp_path, scales=[100, 0])


def test_percentile_is_an_observed_value() -> None:
    assert percentile([5.0, 1.0, 3.0], 50) == 3.0
    assert percentile([1.0, 2.0, 3.0, 4.0], 95) == 4.0


def test_limit_states_the_missing_million_from_the_measured_rate() -> None:
    rows = [{"mode": "embedded", "ingest_facts_per_second": 1000.0}]
    assert _limits([1000, 10000], rows) == (
        "1M facts not run (largest: 10000); about 17 min of ingest at this run's slowest rate"
    )
    assert _limits([1_000_000], rows) == ""
    grown = [
        {"mode": "embedded", "facts": 1000, "ingest_facts_per_second": 1000.0, "rss_mib": 1000.0},
        {"mode": "embedded", "facts": 11000, "ingest_facts_per_second": 1000.0, "rss_mib": 2024.0},
    ]
    assert _limits([1000, 11000], grown).endswith(
        "about 17 min of ingest at this run's slowest rate; "
        "about 100.9 GiB resident at 1M facts (104.9 KiB per fact)"
    )


@pytest.mark.slow
def test_bench_json_has_every_field(tmp_path: Path) -> None:
    out = tmp_path / "bench"
    result = run_bench(
        BenchConfig(methods=[], out=out, scales=[40, 120], modes=["embedded"], cold_start=False)
    )
    written = json.loads((out / "bench.json").read_text(encoding="utf-8"))
    assert set(RESULT_KEYS) <= set(written)
    assert set(written["figures"]) == set(FIGURE_KEYS)
    assert [row["facts"] for row in written["memory_scaling"]] == [40, 120]
    for row in written["memory_scaling"]:
        assert set(row) >= ROW_KEYS
        assert row["active"] + row["history"] == row["facts"]
        assert row["stats_command"]["returncode"] == 0
        assert row["opened_from"] == "snapshot"  # the bench closed the memory it filled
    assert written["figures"]["max_facts"] == 120
    fingerprint = written["fingerprint"]
    assert fingerprint["git_commit"] and fingerprint["data_sha256"] and fingerprint["prefixes_sha256"]
    assert fingerprint["retrieval_config"]["gate"] == "evidence"
    assert fingerprint["options"]["scales"] == [40, 120]
    assert {row["precision"] for row in written["matmul"]} == {"fp32", "bf16", "int8"}
    assert written["machine"]["cpus"] >= 1 and "load_average_end" in written["machine"]
    assert "1M facts not run (largest: 120)" in written["limits"]
    markdown = (out / "bench.md").read_text(encoding="utf-8")
    assert "| embedded | 120 |" in markdown and "matmul precision" in markdown
    assert (out / "bench.png").stat().st_size > 10_000
    assert result["figures"] == written["figures"]
