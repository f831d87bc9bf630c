"""Instruction-editing training data, built only from the training files of the shared data.

Each example is (facts, their entities, question, target). Targets are short answers; locality
examples (unrelated facts given as plain sentences, entities unknown) target what the unedited model
says, filled in by generation, so the cosine ramp learns to leave unrelated questions alone. Questions
that name none of the instruction's entities, and questions with no instruction, need no examples:
there the editor is the base model by construction.
MQuAKE-CF-3k is never read here.
"""

from __future__ import annotations

import hashlib
import json
import random
import re
from collections.abc import Callable, Sequence
from dataclasses import asdict, dataclass, field
from pathlib import Path

from editor.train.config import DataMix
from memory.loaders import mquake_chain_entities
from memory.relations.train import invented_name

TRAIN_FILES = {
    "mquake": "mquake/MQuAKE-hard-train.json",
    "pokemqa": "pokemqa/cls-filtered.json",
    "counterfact": "portability/counterfact_portability_train.json",
    "zsre": "portability/zsre_portability_train.json",
}

# InstructEdit-style task lines, one per kind of edit data.
TASK_INSTRUCTIONS = {
    "mquake": "Task: answer the multi-hop question by chaining the facts.",
    "pokemqa": "Task: answer the question from the updated fact.",
    "counterfact": "Task: complete the sentence using the updated fact.",
    "zsre": "Task: answer the question using the updated fact.",
}


def with_task_line(task_line: str | None, facts: list[str]) -> list[str]:
    """InstructEdit: the task line goes before the facts; no facts, no instruction, no task line."""
    return [task_line, *facts] if task_line and facts else facts


@dataclass
class TrainExample:
    facts: list[str]
    question: str
    target: str | None  # None: the unedited model's own answer, filled in before training
    source: str
    kind: str  # multihop, singlehop, rel, gen, por, locality
    entities: list[str] = field(default_factory=list)  # subjects/objects of the edits; [] = unknown

    def to_dict(self) -> dict:
        return asdict(self)


def file_hashes(data_dir: Path, sources: Sequence[str]) -> dict[str, str]:
    return {
        TRAIN_FILES[s]: hashlib.sha256((data_dir / TRAIN_FILES[s]).read_bytes()).hexdigest()[:16]
        for s in sources
    }


def _sentence(cloze: str, answer: str) -> str:
    return f"{cloze.strip()} {answer.strip()}."


def _relation_patterns(mquake_cases: list[dict], counterfact: list[dict]) -> list[re.Pattern]:
    """Regexes "^(subject) <relation words> (object)$" from the cloze templates of the training data."""
    templates = {rw["prompt"] for case in mquake_cases for rw in case["requested_rewrite"]}
    templates |= {case["requested_rewrite"]["prompt"] for case in counterfact}
    patterns = []
    for template in sorted(templates, key=len, reverse=True):
        head, _, tail = template.partition("{}")
        patterns.append(re.compile(rf"^{re.escape(head)}(?P<subject>.+?){re.escape(tail)} (?P<object>.+)$"))
    return patterns


def _split_edit(edit: str, patterns: list[re.Pattern]) -> tuple[str, str] | None:
    """(subject, object) of an edit sentence, when one of the cloze templates fits it."""
    for pattern in patterns:
        match = pattern.match(edit.strip().rstrip("."))
        if match:
            return match["subject"], match["object"]
    return None


class DataBuilder:
    """Draws the training mix; seeded, so the same config always yields the same examples."""

    def __init__(
        self, data_dir: Path, mix: DataMix, seed: int, task_instructions: bool, holdout: Sequence[str]
    ):
        self.rng = random.Random(seed)
        self.mix = mix
        self.task_instructions = task_instructions
        self.sources = self.sources_for(holdout)
        self.data = {s: json.loads((data_dir / TRAIN_FILES[s]).read_text()) for s in TRAIN_FILES}
        self.fact_pool = self._fact_pool()
        self.locality_questions = self._locality_questions()

    @staticmethod
    def sources_for(holdout: Sequence[str]) -> list[str]:
        unknown = set(holdout) - set(TRAIN_FILES)
        if unknown:
            raise ValueError(f"unknown held-out sources {sorted(unknown)}; known: {sorted(TRAIN_FILES)}")
        return [s for s in TRAIN_FILES if s not in holdout]

    def _fact_pool(self) -> list[str]:
        """Distractor facts, from the training sources only (a held-out source must not leak in)."""
        facts = {
            "mquake": lambda: [
                _sentence(h["cloze"], h["answer"]) for c in self.data["mquake"] for h in c["new_single_hops"]
            ],
            "counterfact": lambda: [c["ins"] for c in self.data["counterfact"]],
            "zsre": lambda: [c["ins"] for c in self.data["zsre"]],
            "pokemqa": lambda: [e["edit"].rstrip(".") + "." for e in self.data["pokemqa"]],
        }
        return [fact for source, make in facts.items() if source in self.sources for fact in make()]

    def _locality_questions(self) -> list[str]:
        questions = {
            "counterfact": lambda: [
                p for c in self.data["counterfact"] for p in c["neighborhood_prompts"][:2]
            ],
            "zsre": lambda: [c["loc"].removeprefix("nq question: ").strip() + "?" for c in self.data["zsre"]],
            "pokemqa": lambda: [q for e in self.data["pokemqa"][:2000] for q in e["questions"][:1]],
        }
        return [q for source, make in questions.items() if source in self.sources for q in make()]

    def _with_distractors(self, facts: list[str], keep_order: bool) -> list[str]:
        distractors = self.rng.sample(self.fact_pool, self.rng.randint(0, self.mix.max_distractors))
        facts = facts + [d for d in distractors if d not in facts]
        if not keep_order or self.rng.random() < self.mix.shuffle_fact_order:
            self.rng.shuffle(facts)
        return facts

    def _draw(self, candidates: list[TrainExample], n: int) -> list[TrainExample]:
        if not candidates:
            return []
        picked = [candidates[i % len(candidates)] for i in range(n)]
        self.rng.shuffle(picked)
        return picked

    def mquake(self) -> list[TrainExample]:
        multihop, singlehop = [], []
        for case in self.data["mquake"]:
            chain = [_sentence(h["cloze"], h["answer"]) for h in case["new_single_hops"]]
            entities = mquake_chain_entities(case)
            multihop += self._multihop(chain, case["questions"], case["new_answer"], entities)
            for hop in case["new_single_hops"]:
                facts = self._with_distractors(list(chain), keep_order=False)
                singlehop.append(
                    TrainExample(facts, hop["question"], hop["answer"], "mquake", "singlehop", entities)
                )
        return (
            self._draw(multihop, self.mix.mquake_multihop)
            + self._draw(singlehop, self.mix.mquake_singlehop)
            + self._draw(self.invented_multihop(), self.mix.invented_multihop)
        )

    def invented_multihop(self) -> list[TrainExample]:
        """Multi-hop examples with every entity of the chain renamed, consistently, to an invented name."""
        if not self.mix.invented_multihop:
            return []
        examples = []
        for case in self.data["mquake"]:
            entities = mquake_chain_entities(case)
            names = {entity: invented_name(self.rng) for entity in entities}
            # Longest first, so a name inside another ("Paris" in "Paris Saint-Germain") is not split.
            pattern = re.compile("|".join(re.escape(e) for e in sorted(names, key=len, reverse=True)))

            def rename(text: str, names: dict[str, str] = names, pattern: re.Pattern = pattern) -> str:
                return pattern.sub(lambda match: names[match.group(0)], text)

            chain = [rename(_sentence(h["cloze"], h["answer"])) for h in case["new_single_hops"]]
            questions = [rename(question) for question in case["questions"]]
            examples += self._multihop(
                chain, questions, rename(case["new_answer"]), [names[e] for e in entities]
            )
        return examples

    def _multihop(
        self, chain: list[str], questions: list[str], answer: str, entities: list[str]
    ) -> list[TrainExample]:
        """One example per question, the whole chain as facts (in a shuffled order for some)."""
        examples = []
        for question in questions:
            facts = list(chain)
            if self.rng.random() < self.mix.shuffle_fact_order:
                self.rng.shuffle(facts)
            examples.append(TrainExample(facts, question, answer, "mquake", "multihop", entities))
        return examples

    def pokemqa(self) -> list[TrainExample]:
        patterns = _relation_patterns(self.data["mquake"], self.data["counterfact"])
        examples = []
        for entry in self.data["pokemqa"]:
            split = _split_edit(entry["edit"], patterns)
            if split is None:
                continue
            subject, answer = split
            fact = entry["edit"].rstrip(".") + "."
            question = self.rng.choice(entry["questions"])
            facts = self._with_distractors([fact], True)
            examples.append(TrainExample(facts, question, answer, "pokemqa", "singlehop", [subject, answer]))
        return self._draw(examples, self.mix.pokemqa)

    def counterfact(self) -> list[TrainExample]:
        examples = []
        for case in self.data["counterfact"]:
            rewrite = case["requested_rewrite"]
            new = rewrite["target_new"]["str"]
            facts = [case["ins"]]
            entities = [rewrite["subject"], new]
            prompt = rewrite["prompt"].format(rewrite["subject"])
            examples.append(TrainExample(facts, prompt, new, "counterfact", "rel", entities))
            for paraphrase in case["paraphrase_prompts"][:1]:
                examples.append(TrainExample(facts, paraphrase, new, "counterfact", "gen", entities))
            portability = case["portability"]
            question, answer = portability["New Question"], portability["New Answer"]
            examples.append(TrainExample(facts, question, answer, "counterfact", "por", entities))
        return self._draw(examples, self.mix.counterfact)

    def zsre(self) -> list[TrainExample]:
        examples = []
        for case in self.data["zsre"]:
            facts = [case["ins"]]
            entities = [case["subject"], case["alt"]]
            examples.append(TrainExample(facts, case["src"], case["alt"], "zsre", "rel", entities))
            examples.append(TrainExample(facts, case["rephrase"], case["alt"], "zsre", "gen", entities))
            portability = case["portability"]
            question, answer = portability["New Question"], portability["New Answer"]
            examples.append(TrainExample(facts, question, answer, "zsre", "por", entities))
        return self._draw(examples, self.mix.zsre)

    def locality(self) -> list[TrainExample]:
        examples = []
        for _ in range(self.mix.locality):
            question = self.rng.choice(self.locality_questions)
            facts = self.rng.sample(self.fact_pool, self.rng.randint(1, 3))
            examples.append(TrainExample(facts, question, None, self.rng.choice(self.sources), "locality"))
        return examples

    def build(self) -> list[TrainExample]:
        makers: dict[str, Callable[[], list[TrainExample]]] = {
            "mquake": self.mquake,
            "pokemqa": self.pokemqa,
            "counterfact": self.counterfact,
            "zsre": self.zsre,
        }
        examples = [e for source in self.sources for e in makers[source]()]
        examples += self.locality()
        for example in examples:
            task_line = TASK_INSTRUCTIONS[example.source] if self.task_instructions else None
            example.facts = with_task_line(task_line, example.facts)
        self.rng.shuffle(examples)
        return examples


def fill_base_targets(
    examples: list[TrainExample],
    base_answer: Callable[[list[str]], list[str]],
    cache_file: Path | None = None,
) -> None:
    """Give locality examples the unedited model's answer to the bare question."""
    cache: dict[str, str] = json.loads(cache_file.read_text()) if cache_file and cache_file.is_file() else {}
    missing = sorted({e.question for e in examples if e.target is None and e.question not in cache})
    if missing:
        cache.update(zip(missing, base_answer(missing), strict=True))
        if cache_file:
            cache_file.parent.mkdir(parents=True, exist_ok=True)
            cache_file.write_text(json.dumps(cache, indent=0, sort_keys=True))
    for example in examples:
        if example.target is None:
            example.target = cache[example.question]
