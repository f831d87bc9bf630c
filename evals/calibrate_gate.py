"""Where the evidence gate's thresholds come from: `python -m evals.calibrate_gate --data-dir ../shared/data`.

Training files only. Relevant questions: MQuAKE-hard-train's multi-hop and single-hop questions, asked
against a memory of its edits and background world. Unrelated prompts: ZsRE train locality questions and
CounterFact train neighbourhood prompts, against the same memory. For each candidate threshold it prints
how many relevant questions keep their evidence and how many unrelated prompts wrongly get some:
- path gain (`min_path_gain`): how much the best path from a named entity brings the text closer to the
  question than the entity's name alone;
- dense closeness (`dense_min_score`): the cosine of a single-hop question with its closest fact;
- the per-hop prior (`hop_prior`) of path search with the hop count unknown: how often the chosen path
  is exactly the question's chain, for one multi-hop and one single-hop question of each training case;
- the same path gain with `path_start: placeholder` (memory/configs/fast_paths.yaml);
- the weight of the word fit (`lexical_weight`) in path search, by the same exact-chain rate (the beam
  is searched again for each weight, since the weight also decides which paths the beam keeps);
- the cosine at which a question word matches a path's nearest word (`near_word_cosine`), by the same
  exact-chain rate, the beam searched again for each;
- the gain a path needs when no question word names its relations (`min_unnamed_path_gain`): how many
  unrelated prompts keep such a path, against the relevant questions that keep theirs. MQuAKE's
  questions nearly always share a word with their relations, so the cost side is also read on the
  ZsRE/CounterFact train prompts and paraphrases (all their edits in one memory) and on a development
  world whose questions paraphrase their relations (`--world`, e.g. `python -m evals.stress_world --seed 1`).
"""

from __future__ import annotations

import argparse
import json
import random
import tempfile
from collections import Counter
from dataclasses import replace
from pathlib import Path

import numpy as np

from memory import Memory
from memory.embedder import embed
from memory.lexical import question_terms
from memory.retrieval import ChainRetriever, RetrievalConfig

HARD_TRAIN = Path("mquake") / "MQuAKE-hard-train.json"


def unrelated_prompts(data_dir: Path) -> list[str]:
    prompts = []
    zsre = json.loads((data_dir / "portability" / "zsre_portability_train.json").read_text(encoding="utf-8"))
    prompts += [record["loc"].removeprefix("nq question:").strip() for record in zsre]
    counterfact = json.loads(
        (data_dir / "portability" / "counterfact_portability_train.json").read_text(encoding="utf-8")
    )
    prompts += [p for record in counterfact for p in record["neighborhood_prompts"][:2]]
    return prompts


def linked(memory: Memory, question: str) -> tuple[list[str], Counter[str], dict[str, str]]:
    """The question's start entities, the content words a path has to account for (the linked names'
    words left out) and the words it names each start by, as retrieval computes them."""
    links = memory.graph.start_links(question)
    starts = [link.entity for link in links]
    named: dict[str, str] = {}
    for link in links:
        named.setdefault(link.entity, link.surface)
    return starts, question_terms(question, [*starts, *(link.surface for link in links)]), named


def path_gains(
    memory: Memory, questions: list[str], config: RetrievalConfig | None = None
) -> tuple[np.ndarray, np.ndarray]:
    """The best path's gain for each question that names an entity with outgoing facts (under `config`,
    default settings otherwise; the thresholds themselves are lifted so every path counts), and whether
    the question's words name its relations (word fit above 0)."""
    config = (config or RetrievalConfig()).with_overrides(min_path_gain=-10.0)
    retriever = ChainRetriever(memory.store, memory.graph, config)
    gains, word_named = [], []
    for question, vector in zip(questions, embed(questions, batch_size=256), strict=True):
        starts, words, named = linked(memory, question)
        if starts:
            nearness = retriever.word_nearness(question)
            order = retriever.mention_order(question, named)
            chosen = retriever.beam_search(vector, starts, None, words, nearness, order)
            if chosen is not None:
                gains.append(chosen.gain)
                word_named.append(chosen.word_fit > 0)
    return np.array(gains), np.array(word_named, dtype=bool)


HOP_PRIORS = (0.0, 0.02, 0.04, 0.06, 0.08, 0.1)
LEXICAL_WEIGHTS = (0.0, 0.1, 0.2, 0.3, 0.5, 1.0)
NEAR_WORD_COSINES = (None, 0.5, 0.55, 0.6, 0.65, 0.7, 0.8)
UNNAMED_PATH_GAINS = (None, 0.1, 0.15, 0.2, 0.25, 0.3, 0.35)


def evidence_share(gains: np.ndarray, named: np.ndarray, total: int, unnamed_gain: float | None) -> float:
    """The share of `total` questions whose path is evidence at the default `min_path_gain` and this
    `min_unnamed_path_gain` (as `_Path.is_evidence` decides)."""
    needed = np.full(len(gains), RetrievalConfig().min_path_gain)
    if unnamed_gain is not None:
        needed[~named] = np.maximum(needed[~named], unnamed_gain)
    return float((gains >= needed).sum()) / total if total else 0.0


def portability_paths(data_dir: Path) -> tuple[np.ndarray, np.ndarray]:
    """`path_gains` of the ZsRE and CounterFact train edit prompts and their paraphrases, each file's
    edits in one memory: one-hop questions that often paraphrase their relation."""
    from evals.portability import edit_fact
    from evals.portability_data import load_edit_cases

    gains, named = [], []
    for name in ("zsre_portability_train.json", "counterfact_portability_train.json"):
        cases = load_edit_cases(data_dir / "portability" / name, 2)
        prompts = [probe.prompt for case in cases for probe in case.probes if probe.metric in ("Rel", "Gen")]
        with tempfile.TemporaryDirectory() as tmp:
            memory = Memory.open(Path(tmp) / "store")
            memory.add([edit_fact(case) for case in cases])
            file_gains, file_named = path_gains(memory, prompts)
            memory.close()
        gains.append(file_gains)
        named.append(file_named)
    return np.concatenate(gains), np.concatenate(named)


def world_questions(path: Path) -> dict[str, list[str]]:
    """A world's multi-hop and single-hop questions (every paraphrase and hop)."""
    records = json.loads(path.read_text(encoding="utf-8"))
    return {
        "multi-hop": [q for record in records for q in record["questions"]],
        "single-hop": [hop["question"] for record in records for hop in record["new_single_hops"]],
    }


Asked = list[tuple[str, str, list[tuple[str, str]]]]


def asked_questions(records: list[dict]) -> Asked:
    """One multi-hop and one single-hop question of each training case, with the chain each needs."""
    chooser = random.Random(0)
    asked: Asked = []
    for record in records:
        chain = [(s, o) for s, _, o in record["orig"]["new_triples_labeled"]]
        asked.append(("multi-hop", chooser.choice(record["questions"]), chain))
        hop = chooser.randrange(len(record["new_single_hops"]))
        asked.append(("single-hop", record["new_single_hops"][hop]["question"], chain[hop : hop + 1]))
    return asked


# (kind, chain, question vector, paths by length, question, the words naming each start)
Beam = tuple[str, list, np.ndarray, dict, str, dict]


def _beams(memory: Memory, asked: Asked, vectors: np.ndarray, config: RetrievalConfig) -> list[Beam]:
    """Each asked question's beam (paths by length) under `config`; `vectors` are the questions'."""
    retriever = ChainRetriever(memory.store, memory.graph, config)
    beams = []
    for (kind, question, chain), vector in zip(asked, vectors, strict=True):
        starts, words, named = linked(memory, question)
        paths = (
            retriever.paths_by_length(
                vector, starts, config.max_hops, words, retriever.word_nearness(question)
            )
            if starts
            else {}
        )
        beams.append((kind, chain, vector, paths, question, named))
    return beams


def _vectors(asked: Asked) -> np.ndarray:
    return embed([question for _, question, _ in asked], batch_size=256)


def _exact_rates(memory: Memory, beams: list[Beam], config: RetrievalConfig) -> dict:
    """The choice under `config` among each beam's candidates (with `path_start` both, the ones `config`
    picks to read again with the start's name), as retrieval makes it."""
    chooser = ChainRetriever(memory.store, memory.graph, config)
    exact: dict[str, list[bool]] = {"multi-hop": [], "single-hop": []}
    for kind, chain, vector, by_length, question, named in beams:
        order = chooser.mention_order(question, named)
        chosen = chooser.choose(chooser.candidates(vector, by_length, None), None, order)
        got = [(f.fact.subject, f.fact.object) for f in chosen.facts] if chosen else []
        exact[kind].append(got == chain)
    return {kind: float(np.mean(flags)) for kind, flags in exact.items()}


def hop_prior_table(
    memory: Memory, records: list[dict], priors: tuple[float, ...] = HOP_PRIORS
) -> list[dict]:
    """Exact-chain rate of multi-hop and single-hop questions for each candidate hop prior. The beam is
    run once per question; only the choice among its path lengths depends on the prior."""
    asked = asked_questions(records)
    beams = _beams(memory, asked, _vectors(asked), RetrievalConfig())
    return [
        {"hop_prior": prior, **_exact_rates(memory, beams, RetrievalConfig(hop_prior=prior))}
        for prior in priors
    ]


def search_setting_table(memory: Memory, records: list[dict], setting: str, values: tuple) -> list[dict]:
    """Exact-chain rate of multi-hop and single-hop questions for each value of a setting that decides
    which paths the beam keeps, so the beam is searched again for each."""
    asked = asked_questions(records)
    vectors = _vectors(asked)
    rows = []
    for value in values:
        config = replace(RetrievalConfig(), **{setting: value})
        beams = _beams(memory, asked, vectors, config)
        rows.append({setting: value, **_exact_rates(memory, beams, config)})
    return rows


def lexical_weight_table(
    memory: Memory, records: list[dict], weights: tuple[float, ...] = LEXICAL_WEIGHTS
) -> list[dict]:
    """Exact-chain rate for each weight of the word fit."""
    return search_setting_table(memory, records, "lexical_weight", weights)


def near_word_table(
    memory: Memory, records: list[dict], cosines: tuple[float | None, ...] = NEAR_WORD_COSINES
) -> list[dict]:
    """Exact-chain rate for each near-word cosine (None: equal words only)."""
    return search_setting_table(memory, records, "near_word_cosine", cosines)


def top_dense(memory: Memory, questions: list[str]) -> np.ndarray:
    dense = memory.retriever("dense")
    return np.array([dense.dense(v, 1)[0].score for v in embed(questions, batch_size=256)])


def main() -> None:
    parser = argparse.ArgumentParser(description=__doc__.splitlines()[0])
    parser.add_argument("--data-dir", type=Path, default=Path("../shared/data"))
    parser.add_argument(
        "--world",
        type=Path,
        help="a development world in MQuAKE's format (not the shipped one): the cost side of "
        "min_unnamed_path_gain",
    )
    args = parser.parse_args()
    records = json.loads((args.data_dir / HARD_TRAIN).read_text(encoding="utf-8"))
    multi = [q for record in records for q in record["questions"]]
    single = [hop["question"] for record in records for hop in record["new_single_hops"]]
    unrelated = unrelated_prompts(args.data_dir)
    with tempfile.TemporaryDirectory() as tmp:
        memory = Memory.open(Path(tmp) / "store")
        memory.load_file(args.data_dir / HARD_TRAIN, format="mquake", with_kg=True)
        evidence = {"multi-hop": path_gains(memory, multi), "single-hop": path_gains(memory, single)}
        gains = {kind: kind_gains for kind, (kind_gains, _) in evidence.items()}
        unrelated_gains, unrelated_named = path_gains(memory, unrelated)
        placeholder = RetrievalConfig(path_start="placeholder")
        placeholder_gains = {
            "multi-hop": path_gains(memory, multi, placeholder)[0],
            "single-hop": path_gains(memory, single, placeholder)[0],
        }
        placeholder_unrelated = path_gains(memory, unrelated, placeholder)[0]
        single_dense, unrelated_dense = top_dense(memory, single), top_dense(memory, unrelated)
        priors = hop_prior_table(memory, records)
        lexical = lexical_weight_table(memory, records)
        near = near_word_table(memory, records)
        memory.close()
    portability = portability_paths(args.data_dir)
    world: dict[str, tuple[np.ndarray, np.ndarray]] = {}
    if args.world is not None:
        with tempfile.TemporaryDirectory() as tmp:
            memory = Memory.open(Path(tmp) / "store")
            memory.load_file(args.world, format="mquake", with_kg=True)
            for kind, questions in world_questions(args.world).items():
                world[kind] = path_gains(memory, questions)
            memory.close()
    print("min_path_gain | multi-hop kept | single-hop kept | unrelated prompts with a path")
    for threshold in (0.0, 0.025, 0.05, 0.1, 0.15, 0.2, 0.25):
        kept = [float((g >= threshold).mean()) for g in gains.values()]
        wrong = float((unrelated_gains >= threshold).sum()) / len(unrelated)
        print(f"{threshold:.2f} | {kept[0]:.3f} | {kept[1]:.3f} | {wrong:.4f}")
    print("min_path_gain (placeholder) | multi-hop kept | single-hop kept | unrelated prompts with a path")
    for threshold in (0.2, 0.25, 0.3, 0.35, 0.4):
        kept = [float((g >= threshold).mean()) for g in placeholder_gains.values()]
        wrong = float((placeholder_unrelated >= threshold).sum()) / len(unrelated)
        print(f"{threshold:.2f} | {kept[0]:.3f} | {kept[1]:.3f} | {wrong:.4f}")
    print("dense_min_score | single-hop kept | unrelated prompts with a close hit")
    for threshold in (0.5, 0.55, 0.6, 0.65):
        kept_dense = float((single_dense >= threshold).mean())
        print(f"{threshold:.2f} | {kept_dense:.3f} | {float((unrelated_dense >= threshold).mean()):.4f}")
    print("hop_prior | multi-hop exact chain | single-hop exact chain")
    for row in priors:
        print(f"{row['hop_prior']:.2f} | {row['multi-hop']:.3f} | {row['single-hop']:.3f}")
    print("lexical_weight | multi-hop exact chain | single-hop exact chain")
    for row in lexical:
        print(f"{row['lexical_weight']:.2f} | {row['multi-hop']:.3f} | {row['single-hop']:.3f}")
    print("near_word_cosine | multi-hop exact chain | single-hop exact chain")
    for row in near:
        cosine = "equal words" if row["near_word_cosine"] is None else f"{row['near_word_cosine']:.2f}"
        print(f"{cosine} | {row['multi-hop']:.3f} | {row['single-hop']:.3f}")
    print(
        "min_unnamed_path_gain | multi-hop kept | single-hop kept | unrelated prompts with a path"
        + " | ZsRE/CounterFact train prompts and paraphrases kept"
        + (" | world multi-hop kept | world single-hop kept" if world else "")
    )
    for unnamed_gain in UNNAMED_PATH_GAINS:
        row = [evidence_share(*evidence[kind], len(gains[kind]), unnamed_gain) for kind in evidence]
        row.append(evidence_share(unrelated_gains, unrelated_named, len(unrelated), unnamed_gain))
        row.append(evidence_share(*portability, len(portability[0]), unnamed_gain))
        row += [evidence_share(*world[kind], len(world[kind][0]), unnamed_gain) for kind in world]
        label = "none" if unnamed_gain is None else f"{unnamed_gain:.2f}"
        print(" | ".join([label, *(f"{value:.4f}" for value in row)]))


if __name__ == "__main__":
    main()
