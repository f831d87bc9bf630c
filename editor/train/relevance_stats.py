"""How the relevance ramp treats the training files: `python -m editor.train.relevance_stats --data-dir D`.

The thresholds of `InstructEdConfig.relevance_weight` were read off this table (training files only):
per kind of input, the question/instruction cosine percentiles and the share the ramp mutes fully
(r = 0) or reads fully (r = 1).
"""

from __future__ import annotations

import argparse
import json
from pathlib import Path

import numpy as np
import torch

from editor.instructed import InstructEdConfig
from editor.train.data import TRAIN_FILES
from memory.embedder import embed


def _pairs(data_dir: Path, per_file: int) -> dict[str, tuple[list[str], list[str]]]:
    def load(source: str) -> list[dict]:
        return json.loads((data_dir / TRAIN_FILES[source]).read_text())[:per_file]

    pairs: dict[str, tuple[list[str], list[str]]] = {}
    chains = [
        (c, " ".join(f"{h['cloze'].strip()} {h['answer'].strip()}." for h in c["new_single_hops"]))
        for c in load("mquake")
    ]
    pairs["MQuAKE-hard multi-hop"] = (
        [q for c, _ in chains for q in c["questions"]],
        [i for c, i in chains for _ in c["questions"]],
    )
    counterfact = load("counterfact")
    rewrite = [c["requested_rewrite"] for c in counterfact]
    ins = [c["ins"] for c in counterfact]
    pairs["CounterFact Rel"] = ([r["prompt"].format(r["subject"]) for r in rewrite], ins)
    pairs["CounterFact Gen"] = (
        [p for c in counterfact for p in c["paraphrase_prompts"]],
        [c["ins"] for c in counterfact for _ in c["paraphrase_prompts"]],
    )
    pairs["CounterFact Por"] = ([c["portability"]["New Question"] for c in counterfact], ins)
    pairs["CounterFact neighbours"] = (
        [p for c in counterfact for p in c["neighborhood_prompts"][:5]],
        [c["ins"] for c in counterfact for _ in c["neighborhood_prompts"][:5]],
    )
    zsre = load("zsre")
    pairs["ZsRE Rel"] = ([c["src"] for c in zsre], [c["ins"] for c in zsre])
    pairs["ZsRE Gen"] = ([c["rephrase"] for c in zsre], [c["ins"] for c in zsre])
    pairs["ZsRE Por"] = ([c["portability"]["New Question"] for c in zsre], [c["ins"] for c in zsre])
    pairs["ZsRE unrelated (loc)"] = (
        [c["loc"].removeprefix("nq question: ") for c in zsre],
        [c["ins"] for c in zsre],
    )
    pokemqa = load("pokemqa")
    pairs["PokeMQA in-scope"] = ([e["questions"][0] for e in pokemqa], [e["edit"] for e in pokemqa])
    return pairs


def main() -> None:
    parser = argparse.ArgumentParser(description=__doc__.splitlines()[0])
    parser.add_argument("--data-dir", type=Path, default=Path("../shared/data"))
    parser.add_argument("--per-file", type=int, default=300, help="records read from each training file")
    args = parser.parse_args()
    config = InstructEdConfig()
    print(f"ramp: r = 0 at cos <= {config.relevance_floor}, r = 1 at cos >= {config.relevance_full}")
    print(f"{'input':26s} {'n':>5s}  p5    p50   p95   r=0   r=1")
    for name, (questions, instructions) in _pairs(args.data_dir, args.per_file).items():
        sim = (embed(questions) * embed(instructions)).sum(axis=1)
        weight = config.relevance_weight(torch.from_numpy(sim).float()).numpy()
        p5, p50, p95 = np.percentile(sim, [5, 50, 95])
        print(
            f"{name:26s} {len(sim):5d}  {p5:.2f}  {p50:.2f}  {p95:.2f}  "
            f"{(weight == 0).mean():.2f}  {(weight == 1).mean():.2f}"
        )


if __name__ == "__main__":
    main()
