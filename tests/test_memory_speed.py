"""The memory's fast paths give the answers of the slow ones they replaced.

- the embedder runs transformers directly instead of sentence-transformers: same vectors;
- fact search asks the HNSW index without Chroma's `active` filter and drops history itself: same
  nearest active facts as the filtered query, also when history crowds the neighbourhood;
- on a fixed set of questions (the bench's MQuAKE cases, edits and background), search and both
  retrievers return what the code before these changes returned (tests/fixtures/speed, written by it).
"""

from __future__ import annotations

import json
from pathlib import Path
from typing import Any

import numpy as np
import pytest

from memory.cpu import cpu_features
from memory.embedder import BF16_COSINE_TOLERANCE, embed, embedder_path
from memory.facts import Fact
from memory.store import ChromaFactStore

GOLDEN = Path(__file__).parent / "fixtures" / "speed" / "retrieval_golden.json"
BENCH_CASES = Path(__file__).parents[1] / "evals" / "data" / "bench_cases.json"
# Search results whose old scores lie this close may swap places under bf16 (a near tie).
TIE = 5e-3


def test_cpu_features_reads_the_flags_line(tmp_path: Path) -> None:
    info = tmp_path / "cpuinfo"
    info.write_text("processor\t: 0\nmodel name\t: Some CPU\nflags\t\t: fpu avx2 amx_bf16\n\n", "utf-8")
    assert cpu_features(info) == frozenset({"fpu", "avx2", "amx_bf16"})
    assert cpu_features(tmp_path / "missing") == frozenset()


@pytest.mark.slow
@pytest.mark.ci
def test_embedder_gives_sentence_transformers_vectors() -> None:
    from sentence_transformers import SentenceTransformer

    texts = [
        "Ellie Kemper is a citizen of Croatia.",
        "Who is the head of state of the country Ellie Kemper is a citizen of?",
        "x",
        "Ünïcödé façade, naïve café",
        "a long sentence " * 40,
    ]
    reference = SentenceTransformer(str(embedder_path()), device="cpu", local_files_only=True).encode(
        texts, normalize_embeddings=True, convert_to_numpy=True
    )
    fp32 = embed(texts, precision="fp32")
    assert fp32.dtype == np.float32 and fp32.shape == reference.shape
    np.testing.assert_allclose(fp32, reference, atol=1e-5)
    bf16 = embed(texts, precision="bf16")
    assert float((bf16 * reference).sum(axis=1).min()) >= 1 - BF16_COSINE_TOLERANCE
    with pytest.raises(ValueError, match="embedder precision 'fp16'"):
        embed(texts, precision="fp16")


def _unit(rng: np.random.Generator, n: int) -> np.ndarray:
    vectors = rng.standard_normal((n, 16)).astype(np.float32)
    return vectors / np.linalg.norm(vectors, axis=1, keepdims=True)


def _filtered(store: ChromaFactStore, query: np.ndarray, k: int) -> list[str]:
    """The query the store made before: Chroma's own `active` filter."""
    return [fact.id for fact, _ in store._nearest(query[None, :], k, where={"active": True})]


@pytest.mark.parametrize("history_share", [0.0, 0.3, 0.97])
def test_search_skips_history_like_the_filtered_query(tmp_path: Path, history_share: float) -> None:
    rng = np.random.default_rng(0)
    n = 400
    vectors = _unit(rng, n)
    # History sits right next to the query, so an unfiltered top-k would be all history.
    query = vectors[0]
    order = np.argsort(-(vectors @ query))
    inactive = set(order[: int(history_share * n)].tolist())
    facts = [
        Fact(f"Person {i}", "was born in", f"Place {i}", kind="edit", active=i not in inactive)
        for i in range(n)
    ]
    store = ChromaFactStore(store_dir=tmp_path / "store")
    store.add(facts, vectors)
    for k in (1, 5, 12):
        got = store.query(query, k)
        assert all(fact.active for fact, _ in got)
        assert [fact.id for fact, _ in got] == _filtered(store, query, k)
        scores = [score for _, score in got]
        assert scores == sorted(scores, reverse=True)


def test_search_returns_every_active_fact_of_a_small_memory(tmp_path: Path) -> None:
    rng = np.random.default_rng(1)
    facts = [Fact(f"S{i}", "r", f"O{i}", kind="edit", active=i != 1) for i in range(3)]
    store = ChromaFactStore(store_dir=tmp_path / "store")
    store.add(facts, _unit(rng, 3))
    got = store.query(_unit(rng, 1)[0], 10)
    assert sorted(fact.subject for fact, _ in got) == ["S0", "S2"]
    assert store.query(_unit(rng, 1)[0], 0) == []


def _same_search(old: list[list], new: list, question: str) -> None:
    """New top-5 equals the old one, up to swaps among facts whose old scores were a near tie."""
    old_scores = {tuple(row[:3]): row[3] for row in old}
    cut = old[4][3]
    new_top = [(s.fact.subject, s.fact.relation, s.fact.object) for s in new[:5]]
    for triple in new_top:
        assert triple in old_scores and old_scores[triple] >= cut - TIE, (question, triple)
    for row in old[:5]:
        if row[3] > old[5][3] + TIE:
            assert tuple(row[:3]) in new_top, (question, row)


def _answers(tmp_path: Path, name: str) -> tuple[Any, list[dict]]:
    """Search and retrievals for every golden question, over a fresh memory of the bench cases."""
    from memory.core import Memory

    golden = json.loads(GOLDEN.read_text(encoding="utf-8"))
    rows = []
    with Memory.open(tmp_path / name) as memory:
        memory.load_file(BENCH_CASES, format="mquake", with_kg=True)
        stats = memory.stats()
        assert {key: stats[key] for key in golden["memory"]} == golden["memory"]
        for row in golden["questions"]:
            question, hops = row["question"], row["hops"]
            rows.append(
                {
                    "search": memory.search(question, 8),
                    "chain": _triples(memory.retrieve(question)),
                    "chain_hops": _triples(memory.retrieve(question, hops)),
                    "dense_hops": _triples(memory.retrieve(question, hops, strategy="dense")),
                    "gated": memory.retrieve(question).gated,
                }
            )
    return golden, rows


def _triples(retrieval: Any) -> list[list[str]]:
    return [[s.fact.subject, s.fact.relation, s.fact.object] for s in retrieval.facts]


@pytest.mark.slow
def test_search_and_retrieval_match_the_code_before(tmp_path: Path, monkeypatch: pytest.MonkeyPatch) -> None:
    """fp32: the search of the code before the fast paths (fixture), exactly. The default precision (bf16
    where native): the same search up to near ties, and the same retrievals as fp32."""
    from memory import embedder

    monkeypatch.setenv("HOPEDIT_EMBED_PRECISION", "fp32")
    embedder.get_embedder.cache_clear()
    try:
        golden, fp32 = _answers(tmp_path, "fp32")
        monkeypatch.delenv("HOPEDIT_EMBED_PRECISION")
        embedder.get_embedder.cache_clear()
        _, default = _answers(tmp_path, "default")
    finally:
        embedder.get_embedder.cache_clear()
    for row, exact, fast in zip(golden["questions"], fp32, default, strict=True):
        question = row["question"]
        assert [[s.fact.subject, s.fact.relation, s.fact.object] for s in exact["search"]] == [
            r[:3] for r in row["search"]
        ], question
        np.testing.assert_allclose(
            [s.score for s in exact["search"]], [r[3] for r in row["search"]], atol=1e-4
        )
        _same_search(row["search"], fast["search"], question)
        for key in ("chain", "chain_hops", "dense_hops", "gated"):
            assert fast[key] == exact[key], (question, key)


PATHS_GOLDEN = Path(__file__).parent / "fixtures" / "speed" / "paths_golden.json"
WORLD = Path(__file__).parents[1] / "evals" / "data" / "invented_world.json"


def test_path_retrieval_matches_the_code_before_the_speed_changes(tmp_path: Path) -> None:
    """Chain retrieval over the shipped invented world (all edits and background facts) returns, for 20
    fixed questions, the paths, gates and deciding evidence of the code before the latest speed changes
    (lazy vector search, batched first hop, bulk entity index): `paths_golden.json`, written by
    `write_paths_golden.py` at the commit it names."""
    from memory.core import Memory

    golden = json.loads(PATHS_GOLDEN.read_text(encoding="utf-8"))
    with Memory.open(tmp_path / "store") as memory:
        memory.load_file(WORLD, format="mquake", with_kg=True)
        stats = memory.stats()
        assert {key: stats[key] for key in golden["memory"]} == golden["memory"]
        for row in golden["questions"]:
            unknown = memory.retrieve(row["question"])
            assert _triples(unknown) == row["chain"], row["question"]
            assert unknown.gated == row["gated"]
            assert unknown.evidence["decided_by"] == row["decided_by"]
            assert _triples(memory.retrieve(row["question"], row["hops"])) == row["chain_hops"], row[
                "question"
            ]
