"""How the relevance weight treats the training files: `python -m editor.train.relevance_stats --data-dir D`.

The thresholds of `InstructEdConfig.relevance_weight` and the entity test were read off this table
(training files only): per kind of input, the question/instruction cosine percentiles, the share the
ramp alone mutes fully (r = 0) or reads fully (r = 1), and the share of questions that name an entity
of their facts (`editor.instructed.relevance.names_entity`).
"""

from __future__ import annotations

import argparse
import json
from pathlib import Path

import numpy as np
import torch

from editor.instructed import InstructEdConfig
from editor.instructed.relevance import entity_gate
from editor.train.data import TRAIN_FILES
from memory.embedder import embed

Pairs = tuple[list[str], list[str], list[list[str]]]  # questions, instructions, their entities


def _pairs(data_dir: Path, per_file: int) -> dict[str, Pairs]:
    def load(source: str) -> list[dict]:
        return json.loads((data_dir / TRAIN_FILES[source]).read_text())[:per_file]

    def repeat(rows: list, counts: list[int]) -> list:
        return [row for row, n in zip(rows, counts, strict=True) for _ in range(n)]

    pairs: dict[str, Pairs] = {}
    mquake = load("mquake")
    chains = [
        " ".join(f"{h['cloze'].strip()} {h['answer'].strip()}." for h in c["new_single_hops"]) for c in mquake
    ]
    chain_entities = [[n for s, _, o in c["orig"]["new_triples_labeled"] for n in (s, o)] for c in mquake]
    counts = [len(c["questions"]) for c in mquake]
    pairs["MQuAKE-hard multi-hop"] = (
        [q for c in mquake for q in c["questions"]],
        repeat(chains, counts),
        repeat(chain_entities, counts),
    )
    counterfact = load("counterfact")
    rewrite = [c["requested_rewrite"] for c in counterfact]
    ins = [c["ins"] for c in counterfact]
    cf_entities = [[r["subject"], r["target_new"]["str"]] for r in rewrite]
    paraphrases = [len(c["paraphrase_prompts"]) for c in counterfact]
    neighbours = [len(c["neighborhood_prompts"][:5]) for c in counterfact]
    pairs["CounterFact Rel"] = ([r["prompt"].format(r["subject"]) for r in rewrite], ins, cf_entities)
    pairs["CounterFact Gen"] = (
        [p for c in counterfact for p in c["paraphrase_prompts"]],
        repeat(ins, paraphrases),
        repeat(cf_entities, paraphrases),
    )
    pairs["CounterFact Por"] = ([c["portability"]["New Question"] for c in counterfact], ins, cf_entities)
    pairs["CounterFact neighbours"] = (
        [p for c in counterfact for p in c["neighborhood_prompts"][:5]],
        repeat(ins, neighbours),
        repeat(cf_entities, neighbours),
    )
    zsre = load("zsre")
    zsre_ins = [c["ins"] for c in zsre]
    zsre_entities = [[c["subject"], c["alt"]] for c in zsre]
    pairs["ZsRE Rel"] = ([c["src"] for c in zsre], zsre_ins, zsre_entities)
    pairs["ZsRE Gen"] = ([c["rephrase"] for c in zsre], zsre_ins, zsre_entities)
    pairs["ZsRE Por"] = ([c["portability"]["New Question"] for c in zsre], zsre_ins, zsre_entities)
    pairs["ZsRE unrelated (loc)"] = (
        [c["loc"].removeprefix("nq question: ") for c in zsre],
        zsre_ins,
        zsre_entities,
    )
    pokemqa = load("pokemqa")
    # PokeMQA's file gives the edit as a sentence only: no entities, no entity test
    pairs["PokeMQA in-scope"] = (
        [e["questions"][0] for e in pokemqa],
        [e["edit"] for e in pokemqa],
        [[] for _ in pokemqa],
    )
    return pairs


def main() -> None:
    parser = argparse.ArgumentParser(description=__doc__.splitlines()[0])
    parser.add_argument("--data-dir", type=Path, default=Path("../shared/data"))
    parser.add_argument("--per-file", type=int, default=300, help="records read from each training file")
    args = parser.parse_args()
    config = InstructEdConfig()
    print(f"ramp: r = 0 at cos <= {config.relevance_floor}, r = 1 at cos >= {config.relevance_full}")
    print(f"{'input':26s} {'n':>5s}  p5    p50   p95   r=0   r=1   named")
    for name, (questions, instructions, entities) in _pairs(args.data_dir, args.per_file).items():
        sim = (embed(questions) * embed(instructions)).sum(axis=1)
        weight = config.relevance_weight(torch.from_numpy(sim).float()).numpy()
        p5, p50, p95 = np.percentile(sim, [5, 50, 95])
        named = [entity_gate(q, e) for q, e in zip(questions, entities, strict=True) if e]
        named_share = f"{np.mean(named):.3f}" if named else "  -"
        print(
            f"{name:26s} {len(sim):5d}  {p5:.2f}  {p50:.2f}  {p95:.2f}  "
            f"{(weight == 0).mean():.2f}  {(weight == 1).mean():.2f}  {named_share}"
        )


if __name__ == "__main__":
    main()
