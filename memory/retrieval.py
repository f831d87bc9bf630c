"""Retrieving the facts a question needs, and deciding whether the memory is relevant to it at all.

The default (`ChainRetriever` with the evidence gate and beam search):
1. entity linking finds the entities of the memory the question names, by name or alias;
2. a beam search follows active facts from each of them: the relation scorer (question, path so far,
   candidate relation) proposes relations, and whole paths are scored by how their descriptions read
   against the question, first with a placeholder for the start's name, then the best few again with
   the name (`path_start`); with the hop count unknown a path stops where no relation fits, and no
   entity is visited twice;
3. the gate reads that evidence: a path of fitting relations from a named entity makes the memory
   relevant. A question that names nothing of the memory can still be about it (with edits only, the
   edit is often about a later hop, whose subject the question only describes), so dense hits count as
   evidence too, when they are close to the question and their relation fits it;
4. otherwise the question goes to the unedited model.

The paper's std-of-top-5 gate and the old greedy one-relation-at-a-time walk stay as ablations
(`gate="std"`, `walk="greedy"`). Every threshold lives in `RetrievalConfig` (YAML-loadable).
"""

from __future__ import annotations

import functools
import threading
from collections import Counter, OrderedDict
from collections.abc import Callable, Mapping
from dataclasses import dataclass, replace
from pathlib import Path
from typing import Any, ClassVar, Literal, Protocol

import numpy as np

from memory.embedder import embed
from memory.entities import EntityLink
from memory.facts import Fact, Retrieval, ScoredFact
from memory.graph import FactGraph
from memory.lexical import (
    content_terms,
    hop_terms,
    question_terms,
    relation_order,
    relation_word_weights,
    surface_words,
    word_fit,
)
from memory.settings import YamlSettings
from memory.slots import names_other_subject
from memory.store import FactStore

GateName = Literal["evidence", "std", "none"]
WordWeightsName = Literal["relations", "equal"]
WalkName = Literal["beam", "greedy"]
PathStartName = Literal["name", "placeholder", "both"]


@dataclass(frozen=True)
class RetrievalConfig(YamlSettings):
    """Every retrieval and gate threshold in one place; recorded in evaluation summaries."""

    settings_name: ClassVar[str] = "retrieval"

    gate: GateName = "evidence"
    walk: WalkName = "beam"
    beam_width: int = 4
    max_hops: int = 6  # a path never goes further, whatever the question
    # Relations the trained scorer proposes at each path's end; the whole-path similarity then decides.
    propose_k: int = 3
    # A path counts as evidence when its text is closer to the question than the start's name alone by
    # at least this much (summed cosine of the two path readings). Read off the training files: gold
    # paths of MQuAKE-hard-train single- and multi-hop questions against ZsRE/CounterFact train locality
    # prompts that name an entity of that memory.
    min_path_gain: float = 0.05
    # Optionally, a path none of whose relation words the question has (word fit 0, equal or near words:
    # see `lexical_weight`, `near_word_cosine`) is evidence only with at least this gain. Unrelated
    # prompts that get a path mostly rest on sentence similarity alone ("when was the immigration act
    # passed in canada" and Canada's capital), but so do one-hop paraphrases ("died at" for "passed away
    # at"): at 0.2 it gates a third of CounterFact's train paraphrases. So it is off (None: min_path_gain
    # for every path). The table is `python -m evals.calibrate_gate`'s; what it did is in
    # results/README.md ("Paths the question's words do not name").
    min_unnamed_path_gain: float | None = None
    # Dense evidence: a fact found by vector search counts when its sentence is at least this close to the
    # question. Read off the training files: MQuAKE-hard-train single-hop questions against their facts,
    # ZsRE/CounterFact train locality prompts against the same memory.
    dense_min_score: float = 0.6
    # Optionally also require the relation scorer (hop unknown) to accept the hit's relation; off by
    # default, since on the training files it dropped far more relevant hits than unrelated ones.
    dense_relation_threshold: float | None = None
    dense_k: int = 4  # dense hits looked at, and returned when no path is found
    # Drop a dense hit when the question writes another name where the hit's sentence has its subject
    # ("Futabatei Shimei is a citizen of" against "Hitomi Shimatani is a citizen of Japan."; see
    # `memory.slots`). No threshold; what it did on the training files and on dev locality is in
    # results/README.md ("Dense hits about another subject").
    drop_other_subject: bool = True
    # A question that names an entity of the memory is about that entity: when no relation of it fits
    # the question (no path), a dense hit about another entity only shares the question's wording
    # ("Russia belongs to the continent of" against "Moscow is located in the continent of Europe."), so
    # it is not evidence. True: such hits count (the ablation). What each did is in results/README.md
    # ("Dense hits beside a named entity").
    dense_beside_named_entity: bool = False
    # When the question names no entity of the memory and no dense hit is close enough, fall back to the
    # paper's spread rule (gate_std, gate_k) on the dense scores.
    spread_fallback: bool = True
    # An edit beats a background fact of nearly equal relevance among paths of the same length. It is a
    # tie-breaker only, for the newest fact of paths of one length: it never adds up along a path, and
    # never makes a longer path win over a shorter one.
    edit_bonus: float = 0.1
    # With the hop count unknown, paths of every length compete on their similarity plus this much per
    # hop. Read off the training files (`python -m evals.calibrate_gate`): MQuAKE-hard-train single-hop
    # and multi-hop questions, each needing exactly its own chain.
    hop_prior: float = 0.0
    # Paths compete on their similarity plus this much times the F1 of the question's content words
    # against their relations' words, repeats counted (`memory.lexical`): embeddings barely see how many
    # times a question asks for a relation, or a path going on past it. The exact-chain rate on the
    # training files (`python -m evals.calibrate_gate`) is flat from 0.3 to 1; on the development world
    # (`python -m evals.invented_world --seed 11`, not the shipped one) 0.5 took most of the gain.
    lexical_weight: float = 0.5
    # How the word fit weighs a word: "relations" (1/n for a word n relations of the memory use, see
    # `memory.lexical`) or "equal" (the ablation). What each did is in results/README.md ("Words that
    # several relations share").
    word_weights: WordWeightsName = "relations"
    # Questions paraphrase relations ("waterway", "nation", "boss"): a question word that no word of the
    # path equals matches the path word nearest to it when their MiniLM cosine is at least this, worth
    # that cosine (`memory.lexical.word_fit`); None: equal words only (the ablation). What each did is in
    # results/README.md ("Near words in the word fit").
    near_word_cosine: float | None = 0.65
    # Among candidate paths from one start that take the same relations in another order, choose the one
    # whose order the question mentions, read outward from the start's name (`memory.lexical.
    # relation_order`): "the person who founded the company that employs X" is employer, then founder.
    # Whole-path embeddings barely see order, and the word fit not at all. False: the ablation. What each
    # did is in results/README.md ("Relation order").
    relation_order: bool = True
    scorer: str | None = None  # relation scorer folder; None: the shipped one
    # Path descriptions depend only on the start and the relations, so the paraphrases of one question,
    # and questions about the same entities, share them. This many are kept (least recently used dropped
    # first; a few KB each); 0 turns the cache off.
    path_cache_size: int = 20_000
    # How a path's description names its start: "name" (the entity's name), "placeholder"
    # (`path_placeholder` for every start) or "both" (the default). A placeholder makes a description
    # depend on its relations alone, so paths of other starts share its cached embedding; and an
    # unfamiliar name no longer outweighs the relation words in it. "both": the beam searches with the
    # placeholder reading, then the `named_candidates` best candidates are read again with the start's
    # name and choose on the mean of the two readings; the gate reads the named reading's gain, for
    # which `min_path_gain` was set. What each did is in results/README.md ("Paths read with and
    # without the start's name").
    path_start: PathStartName = "both"
    path_placeholder: str = "it"
    named_candidates: int = 8
    # Ablations: the paper's gate (std of the top-k dense scores at or below gate_std: irrelevant) and
    # the greedy walk (cosine of question and relation label at or above min_relevance).
    gate_std: float = 0.1
    gate_k: int = 5
    min_relevance: float = 0.05

    def __post_init__(self) -> None:
        if self.gate not in ("evidence", "std", "none"):
            raise ValueError(f"retrieval gate must be evidence, std or none, got {self.gate!r}")
        if self.walk not in ("beam", "greedy"):
            raise ValueError(f"retrieval walk must be beam or greedy, got {self.walk!r}")
        if self.word_weights not in ("relations", "equal"):
            raise ValueError(f"retrieval word_weights must be relations or equal, got {self.word_weights!r}")
        if self.path_start not in ("name", "placeholder", "both"):
            raise ValueError(
                f"retrieval path_start must be name, placeholder or both, got {self.path_start!r}"
            )
        if not self.path_placeholder.strip():
            raise ValueError("retrieval path_placeholder must not be empty")
        for name in ("beam_width", "max_hops", "dense_k", "gate_k", "propose_k", "named_candidates"):
            if getattr(self, name) < 1:
                raise ValueError(f"retrieval {name} must be at least 1, got {getattr(self, name)}")
        if self.near_word_cosine is not None and not 0 < self.near_word_cosine <= 1:
            raise ValueError(
                f"retrieval near_word_cosine must be in (0, 1] or None, got {self.near_word_cosine}"
            )
        for name in ("min_path_gain", "min_unnamed_path_gain"):
            value = getattr(self, name)
            if value is not None and not isinstance(value, int | float):
                raise ValueError(f"retrieval {name} must be a number, got {value!r}")
        if self.path_cache_size < 0:
            raise ValueError(f"retrieval path_cache_size must be 0 or more, got {self.path_cache_size}")

    def with_overrides(self, **changes: Any) -> RetrievalConfig:
        return replace(self, **{k: v for k, v in changes.items() if v is not None})


class Retriever(Protocol):
    """Interchangeable retrieval strategies (dense, chain, ...) behind one call."""

    name: str

    def retrieve(self, question: str, n_hops: int | None = None) -> Retrieval: ...

    def retrieve_embedded(
        self, question: str, question_vector: np.ndarray, n_hops: int | None
    ) -> Retrieval: ...

    def to_dict(self) -> dict: ...


def std_gate(scores: list[float], config: RetrievalConfig) -> bool:
    """The paper's rule: True (irrelevant) when nothing stands out among the top dense scores; fewer than
    gate_k facts cannot be judged and count as relevant."""
    top = scores[: config.gate_k]
    if not top:
        return True
    if len(top) < config.gate_k:
        return False
    return float(np.std(top)) <= config.gate_std


@functools.cache
def _shipped_scorer(folder: str | None) -> Any:
    from memory.relations import RelationScorer

    return RelationScorer.load(Path(folder) if folder else None)


class DenseRetriever:
    """Top-N active facts by cosine similarity of sentence embeddings (the InstructEd baseline)."""

    name = "dense"

    def __init__(self, store: FactStore, config: RetrievalConfig) -> None:
        self.store = store
        self.config = config

    def dense(self, question_vector: np.ndarray, k: int) -> list[ScoredFact]:
        return [ScoredFact(fact, score) for fact, score in self.store.query(question_vector, k)]

    def retrieve(self, question: str, n_hops: int | None = None) -> Retrieval:
        return self.retrieve_embedded(question, embed([question])[0], n_hops)

    def retrieve_embedded(self, question: str, question_vector: np.ndarray, n_hops: int | None) -> Retrieval:
        k = n_hops or self.config.dense_k
        hits = self.dense(question_vector, max(k, self.config.gate_k))
        scores = [hit.score for hit in hits]
        gated = std_gate(scores, self.config) if self.config.gate == "std" else not hits
        return Retrieval(
            facts=hits[:k],
            gated=gated,
            top_scores=scores[: self.config.gate_k],
            evidence={"gate": "std" if self.config.gate == "std" else "any", "dense_scores": scores[:k]},
        )

    def to_dict(self) -> dict:
        return {"name": self.name, **self.config.to_dict()}


@dataclass
class _Path:
    start: str  # the entity the path starts from
    end: str  # the entity the path has reached
    facts: list[ScoredFact]
    visited: frozenset[str]
    similarity: float  # the question's summed cosine with the path's two readings
    ends_on_edit: bool  # whether the newest fact is an edit: the tie-breaker among paths of one length
    base: float  # the similarity of the start's name alone
    terms: Counter[str]  # the content words of the path's hops (`memory.lexical`)
    word_fit: float  # F1 of the question's content words against them
    # With `path_start` "both": the gain of the reading with the start's name, which the gate reads
    # (similarity is then the mean of the two readings; base stays the placeholder reading's).
    named_gain: float | None = None

    @property
    def gain(self) -> float:
        """What the gate reads: how much the path brings the text closer to the question than the
        start's name alone."""
        return self.similarity - self.base if self.named_gain is None else self.named_gain

    def is_evidence(self, config: RetrievalConfig) -> bool:
        """Whether the path shows the memory is relevant: its gain clears `min_path_gain`, and
        `min_unnamed_path_gain` (when set) if no question word names its relations."""
        needed = config.min_path_gain
        if self.word_fit == 0 and config.min_unnamed_path_gain is not None:
            needed = max(needed, config.min_unnamed_path_gain)
        return self.gain >= needed

    def fit(self, config: RetrievalConfig) -> float:
        """How well the whole path reads as the question: similarity plus weighted word fit."""
        return self.similarity + config.lexical_weight * self.word_fit

    def rank(self, config: RetrievalConfig) -> float:
        """The fit, with an edit breaking near ties among paths of one length."""
        return self.fit(config) + (config.edit_bonus if self.ends_on_edit else 0.0)


class ChainRetriever:
    """Paths through the fact graph from the entities a question names (see the module docstring)."""

    name = "chain"

    def __init__(self, store: FactStore, graph: FactGraph, config: RetrievalConfig) -> None:
        self.graph = graph
        self.config = config
        self._dense = DenseRetriever(store, config)
        self._phrases: dict[str, str] = {}
        self._hop_terms: dict[str, frozenset[str]] = {}
        # (graph revision, word fit weights, stem -> a word standing for it): see `_relation_words`.
        self._relation_vocabulary: tuple[int, dict[str, float], dict[str, str]] = (-1, {}, {})
        self._fact_surfaces: dict[str, str] = {}  # stems of facts phrased unlike their relation's examples
        self._path_vectors: OrderedDict[str, np.ndarray] = OrderedDict()
        # A server retrieves for several questions at once on worker threads; the cache is shared.
        self._path_vectors_lock = threading.Lock()

    # ------------------------------------------------------------ scoring

    @property
    def scorer(self) -> Any:
        return _shipped_scorer(self.config.scorer)

    def _phrase(self, fact: Fact) -> str:
        phrase = self._phrases.get(fact.id)
        if phrase is None:
            from memory.relations import relation_phrase

            phrase = relation_phrase(fact.sentence, fact.subject, fact.object, fact.relation)
            self._phrases[fact.id] = phrase
        return phrase

    def _terms(self, fact: Fact) -> frozenset[str]:
        terms = self._hop_terms.get(fact.id)
        if terms is None:
            terms = hop_terms(fact.relation, self._phrase(fact))
            self._hop_terms[fact.id] = terms
            if self.config.near_word_cosine is not None:
                for term, word in surface_words([fact.relation, self._phrase(fact)]).items():
                    self._fact_surfaces.setdefault(term, word)
        return terms

    def _relation_words(self) -> tuple[dict[str, float], dict[str, str]]:
        """The memory's relation words, each relation's from its label and its example facts' phrasings:
        the word fit's weights (1/n for a word n relations use) and a word standing for each stem (for
        the near-word match). Recomputed only when the graph's relations change, so the same memory gives
        the same words whatever was asked before."""
        revision, weights, surfaces = self._relation_vocabulary
        if revision != self.graph.relations_revision:
            revision, examples = self.graph.relation_examples()
            texts = [
                [relation, *(self._phrase(fact) for fact in facts)] for relation, facts in examples.items()
            ]
            weights = relation_word_weights(
                frozenset(term for text in relation_texts for term in content_terms(text))
                for relation_texts in texts
            )
            surfaces = surface_words(text for relation_texts in texts for text in relation_texts)
            self._relation_vocabulary = (revision, weights, surfaces)
        return weights, surfaces

    def word_nearness(self, question: str) -> Callable[[str, str], float] | None:
        """How near a question word is to a path word (`RetrievalConfig.near_word_cosine`): the cosine
        of their MiniLM embeddings when at least the threshold, else 0; None when the setting is off.
        The question's words and the relations' words are embedded in one call (cached)."""
        threshold = self.config.near_word_cosine
        if threshold is None:
            return None
        asked = surface_words([question])
        relations = self._relation_words()[1]
        texts = list(dict.fromkeys([*asked.values(), *relations.values()]))
        vectors = dict(zip(texts, self._text_vectors(texts), strict=True)) if texts else {}
        near: dict[tuple[str, str], float] = {}

        def vector(word: str) -> np.ndarray:
            if word not in vectors:
                vectors[word] = self._text_vectors([word])[0]
            return vectors[word]

        def nearness(term: str, word: str) -> float:
            key = (term, word)
            if key not in near:
                surface = relations.get(word) or self._fact_surfaces.get(word, word)
                cosine = float(vector(asked.get(term, term)) @ vector(surface))
                near[key] = cosine if cosine >= threshold else 0.0
            return near[key]

        return nearness

    def mention_order(self, question: str, named: Mapping[str, str]) -> Callable[[_Path], int] | None:
        """How far a path's relation order agrees with the question's (`RetrievalConfig.relation_order`,
        `memory.lexical.relation_order`), read from where the question names the path's start (`named`:
        entity -> the words the question names it by); 0 for a start the question does not name. None
        when the setting is off."""
        if not self.config.relation_order:
            return None

        def order(path: _Path) -> int:
            name = named.get(path.start)
            if not name:
                return 0
            return relation_order(question, name, [self._terms(scored.fact) for scored in path.facts])

        return order

    def word_weights(self) -> dict[str, float]:
        """The word fit's weights (`RetrievalConfig.word_weights`; see `_relation_words`)."""
        return {} if self.config.word_weights == "equal" else self._relation_words()[0]

    def relation_scores(
        self, question_vector: np.ndarray, facts: list[Fact], path: list[str], hop: int
    ) -> np.ndarray:
        """Scorer logits (plus the edit bonus) of each fact's relation after the path's relations.
        Facts sharing a relation and phrase are scored once."""
        pairs = [(fact.relation, self._phrase(fact)) for fact in facts]
        unique = list(dict.fromkeys(pairs))
        logits = dict(zip(unique, self.scorer.score(question_vector, unique, path, hop), strict=True))
        bonus = [self.config.edit_bonus if fact.kind == "edit" else 0.0 for fact in facts]
        return np.array([logits[pair] for pair in pairs]) + np.array(bonus)

    # ------------------------------------------------------------ search

    def _descriptions(self, start: str, path: list[Fact], by_name: bool) -> tuple[str, str]:
        """The path read as text twice: nested relation labels ("the ruler of country of X") and the
        sources' own phrasings in order ("X lies in the country of The ruler of is"); X is the start's
        name (`by_name`), or the placeholder."""
        named = start if by_name else self.config.path_placeholder
        by_label = named
        by_phrase = named
        for fact in path:
            by_label = f"{fact.relation} of {by_label}"
            by_phrase = f"{by_phrase} {self._phrase(fact)}"
        return f"the {by_label}", by_phrase

    def _text_vectors(self, texts: list[str]) -> np.ndarray:
        """Embeddings of path descriptions through the bounded LRU cache (`path_cache_size`)."""
        cache, size = self._path_vectors, self.config.path_cache_size
        with self._path_vectors_lock:
            known = {text: cache[text] for text in texts if text in cache}
        missing = [text for text in dict.fromkeys(texts) if text not in known]
        if missing:
            known.update(zip(missing, self.scorer.vectors(missing, cache=False), strict=True))
        if size:
            with self._path_vectors_lock:
                for text in dict.fromkeys(texts):
                    cache[text] = known[text]
                    cache.move_to_end(text)
                while len(cache) > size:
                    cache.popitem(last=False)
        return np.stack([known[text] for text in texts])

    def path_similarity(
        self, question_vector: np.ndarray, starts: list[str], paths: list[list[Fact]], by_name: bool
    ) -> np.ndarray:
        """Whole-path scores: the question's cosine with both readings of each path (from the start of
        the same index), summed. A relation the question asks about brings the text closer to it; one
        it does not ask about moves it away."""
        texts = [
            text
            for start, path in zip(starts, paths, strict=True)
            for text in self._descriptions(start, path, by_name)
        ]
        cosines = self._text_vectors(texts) @ question_vector
        return cosines[0::2] + cosines[1::2]

    def paths_by_length(
        self,
        question_vector: np.ndarray,
        starts: list[str],
        limit: int,
        words: Counter[str],
        nearness: Callable[[str, str], float] | None,
    ) -> dict[int, list[_Path]]:
        """Every start's beam at each path length (0: the start's name alone, for a start with facts).

        Each hop, the relation scorer proposes the `propose_k` best relations at each path's end; the
        extended paths are scored whole (similarity plus the word fit with `words`, the question's
        content words) and the best `beam_width` kept (an edit breaks near ties). No entity is visited
        twice. `nearness` matches words that are not equal: `word_nearness(question)`, None when the
        setting is off. It has no default, so no caller scores words differently from retrieval."""
        config = self.config
        weights = self.word_weights()
        by_length: dict[int, list[_Path]] = {}
        for start in dict.fromkeys(starts):
            # The start's name alone is scored in the same embedding batch as the first hop's paths
            # (one encoder call fewer per start); a start with nowhere to go is not scored at all.
            beam = [_Path(start, start, [], frozenset([start]), 0.0, False, 0.0, Counter(), 0.0)]
            for depth in range(limit):
                extensions: list[tuple[_Path, Fact]] = []
                for path in beam:
                    candidates = [f for f in self.graph.outgoing(path.end) if f.object not in path.visited]
                    if not candidates:
                        continue
                    relations = [scored.fact.relation for scored in path.facts]
                    logits = self.relation_scores(question_vector, candidates, relations, depth)
                    pairs = [(f.relation, self._phrase(f)) for f in candidates]
                    best_logit: dict[tuple[str, str], float] = {}
                    for pair, logit in zip(pairs, logits, strict=True):
                        best_logit[pair] = max(best_logit.get(pair, -np.inf), float(logit))
                    ranked = sorted(best_logit, key=lambda pair: -best_logit[pair])
                    proposed = set(ranked[: config.propose_k])
                    extensions.extend(
                        (path, f) for f, pair in zip(candidates, pairs, strict=True) if pair in proposed
                    )
                if not extensions:
                    break
                paths = [[*(x.fact for x in p.facts), f] for p, f in extensions]
                read = [[], *paths] if depth == 0 else paths
                similarities = self.path_similarity(
                    question_vector, [start] * len(read), read, by_name=config.path_start == "name"
                )
                if depth == 0:
                    beam[0].similarity = beam[0].base = float(similarities[0])
                    similarities = similarities[1:]
                    by_length.setdefault(0, []).extend(beam)
                grown = []
                for (path, fact), similarity in zip(extensions, similarities, strict=True):
                    terms = path.terms + Counter(self._terms(fact))
                    grown.append(
                        _Path(
                            start,
                            fact.object,
                            [*path.facts, ScoredFact(fact, float(similarity) - path.similarity)],
                            path.visited | {fact.object},
                            float(similarity),
                            fact.kind == "edit",
                            path.base,
                            terms,
                            word_fit(words, terms, weights, nearness),
                        )
                    )
                grown.sort(key=lambda p: p.rank(config), reverse=True)
                beam = grown[: config.beam_width]
                by_length.setdefault(depth + 1, []).extend(beam)
        return by_length

    def candidates(
        self, question_vector: np.ndarray, by_length: dict[int, list[_Path]], n_hops: int | None
    ) -> list[_Path]:
        """The paths the choice is made among: with the hop count known, those of that length (or of the
        longest reached), else those of every length; with `path_start` "both", the best
        `named_candidates` of them, read again with their start's name."""
        lengths = [length for length, paths in by_length.items() if length > 0 and paths]
        if not lengths:
            return []
        if n_hops is not None:
            pool = list(by_length[min(n_hops, max(lengths))])
        else:
            pool = [path for length in lengths for path in by_length[length]]
        if self.config.path_start != "both":
            return pool
        return self.read_with_names(question_vector, pool, n_hops)

    def read_with_names(
        self, question_vector: np.ndarray, pool: list[_Path], n_hops: int | None
    ) -> list[_Path]:
        """The best `named_candidates` paths of the pool (by the choice's own key, on the placeholder
        reading), each now scored on the mean of its placeholder reading and its reading with the start's
        name; the gate gets the named reading's gain. New paths: the beam's own are left as they were."""
        config = self.config
        best = sorted(pool, key=self._choice_key(n_hops), reverse=True)[: config.named_candidates]
        starts = list(dict.fromkeys(path.start for path in best))
        read = self.path_similarity(
            question_vector,
            [*starts, *(path.start for path in best)],
            [*([] for _ in starts), *([scored.fact for scored in path.facts] for path in best)],
            by_name=True,
        )
        named_base = dict(zip(starts, read[: len(starts)].tolist(), strict=True))
        return [
            replace(
                path,
                similarity=(path.similarity + named) / 2,
                named_gain=named - named_base[path.start],
            )
            for path, named in zip(best, read[len(starts) :].tolist(), strict=True)
        ]

    def _choice_key(self, n_hops: int | None) -> Callable[[_Path], float]:
        config = self.config
        if n_hops is not None:
            return lambda path: path.rank(config)
        return lambda path: path.fit(config) + config.hop_prior * len(path.facts)

    def choose(
        self, candidates: list[_Path], n_hops: int | None, order: Callable[[_Path], int] | None
    ) -> _Path | None:
        """With the hop count known, the best of the candidates (all of that length), an edit breaking
        near ties; unknown, the best-fitting path, plus `hop_prior` per hop, over every length: a path
        stops where no relation brings it closer to the question. Then, with an `order`
        (`mention_order`), the candidates from the same start with the same relations in another order
        compete on it first, and on the same key when it ties. `order` has no default, so no caller
        chooses differently from retrieval."""
        if not candidates:
            return None
        key = self._choice_key(n_hops)
        best = max(candidates, key=key)
        if order is None:
            return best
        relations = Counter(scored.fact.relation for scored in best.facts)
        same = [
            path
            for path in candidates
            if path.start == best.start
            and len(path.facts) == len(best.facts)
            and Counter(scored.fact.relation for scored in path.facts) == relations
        ]
        return max(same, key=lambda path: (order(path), key(path))) if len(same) > 1 else best

    def beam_search(
        self,
        question_vector: np.ndarray,
        starts: list[str],
        n_hops: int | None,
        words: Counter[str],
        nearness: Callable[[str, str], float] | None,
        order: Callable[[_Path], int] | None,
    ) -> _Path | None:
        """The best whole path from any start (None: no start has facts). Whether it is evidence is
        `_Path.is_evidence`: the gate reads the similarity gain, and the word fit only as whether the
        question names the path's relations at all."""
        limit = min(n_hops or self.config.max_hops, self.config.max_hops)
        by_length = self.paths_by_length(question_vector, starts, limit, words, nearness)
        return self.choose(self.candidates(question_vector, by_length, n_hops), n_hops, order)

    def greedy_walk(self, question_vector: np.ndarray, starts: list[str], limit: int) -> list[ScoredFact]:
        """The ablation: from the first start with a fitting fact, the best relation by cosine per hop."""
        for start in starts:
            chain: list[ScoredFact] = []
            used: set[str] = set()
            entity = start
            while len(chain) < limit:
                candidates = [f for f in self.graph.outgoing(entity) if f.id not in used]
                if not candidates:
                    break
                vectors = self.scorer.vectors([f.relation for f in candidates])
                bonus = np.array([self.config.edit_bonus if f.kind == "edit" else 0.0 for f in candidates])
                scores = vectors @ question_vector + bonus
                best = int(np.argmax(scores))
                if scores[best] < self.config.min_relevance:
                    break
                chain.append(ScoredFact(candidates[best], float(scores[best])))
                used.add(candidates[best].id)
                entity = candidates[best].object
            if chain:
                return chain
        return []

    def _path(
        self,
        question: str,
        question_vector: np.ndarray,
        starts: list[str],
        n_hops: int | None,
        links: list[EntityLink],
    ) -> list[ScoredFact]:
        """The chosen path; with the beam, only if it brings the text closer to the question than the
        start's name alone by at least min_path_gain (more, with `min_unnamed_path_gain` set, when no
        question word names its relations: `_Path.is_evidence`; a named entity with no fitting relation
        gives none).
        `links`: the entities the question names and the words it names them by, which no relation has to
        account for and from which the relations' order is read."""
        if self.config.walk == "greedy":
            return self.greedy_walk(question_vector, starts, n_hops or self.config.max_hops)
        words = question_terms(question, [*starts, *(link.surface for link in links)])
        named: dict[str, str] = {}
        for link in links:
            named.setdefault(link.entity, link.surface)
        order = self.mention_order(question, named)
        chosen = self.beam_search(question_vector, starts, n_hops, words, self.word_nearness(question), order)
        return chosen.facts if chosen is not None and chosen.is_evidence(self.config) else []

    # ------------------------------------------------------------ retrieval

    def dense_evidence(self, question_vector: np.ndarray, hits: list[ScoredFact]) -> list[ScoredFact]:
        """Dense hits close to the question (and, if configured, whose relation fits it, hop unknown)."""
        from memory.relations.model import UNKNOWN_HOP

        close = [hit for hit in hits if hit.score >= self.config.dense_min_score]
        if not close or self.config.dense_relation_threshold is None:
            return close
        fits = self.relation_scores(question_vector, [hit.fact for hit in close], [], UNKNOWN_HOP)
        return [
            hit for hit, fit in zip(close, fits, strict=True) if fit >= self.config.dense_relation_threshold
        ]

    def retrieve(self, question: str, n_hops: int | None = None) -> Retrieval:
        return self.retrieve_embedded(question, embed([question])[0], n_hops)

    def retrieve_embedded(self, question: str, question_vector: np.ndarray, n_hops: int | None) -> Retrieval:
        """As retrieve, for callers that embed many questions in one batch (benchmarks, agents)."""
        config = self.config
        links = self.graph.start_links(question)
        starts = [link.entity for link in links]
        path = self._path(question, question_vector, starts, n_hops, links) if starts else []
        # With the evidence gate, a path from a named entity decides alone and brings its own facts, so
        # the vector search over the whole memory runs only when it can change the outcome: no such
        # path, another gate (the std gate reads the dense scores) or the greedy ablation (whose
        # fallback start is the top hit).
        searched = not path or config.gate != "evidence" or config.walk != "beam"
        k = max(config.gate_k, config.dense_k, (n_hops or 0) * 2)
        hits = self._dense.dense(question_vector, k) if searched else []
        scores = [hit.score for hit in hits]
        evidence: dict[str, Any] = {
            "gate": config.gate,
            "linked": [link.to_dict() for link in links],
            "path_scores": [round(step.score, 3) for step in path],
        }
        dense_found: list[ScoredFact] = []
        other_subject: list[ScoredFact] = []
        if not path and config.walk == "beam":
            candidates = hits[: config.dense_k]
            if config.drop_other_subject:
                about_other = [names_other_subject(question, hit.fact) for hit in candidates]
                other_subject = [hit for hit, other in zip(candidates, about_other, strict=True) if other]
                candidates = [hit for hit, other in zip(candidates, about_other, strict=True) if not other]
                if other_subject:
                    evidence["other_subject"] = [hit.fact.sentence for hit in other_subject]
            # A named entity whose relations all failed the path test is not rescued by a dense hit: not
            # by one about that same entity (the question asks something of it the memory does not hold),
            # nor, unless `dense_beside_named_entity`, by one about another entity.
            if starts and not config.dense_beside_named_entity:
                dense_found = []
            else:
                dense_found = [
                    hit
                    for hit in self.dense_evidence(question_vector, candidates)
                    if hit.fact.subject not in starts
                ]
            if (
                not dense_found
                and not starts
                and not other_subject
                and config.spread_fallback
                and not std_gate(scores, config)
            ):
                # The question names nothing of the memory and no hit is close: with edits only, a
                # multi-hop question often describes the edited entity without naming it, and is far from
                # the edit's sentence. Then the spread of the dense scores (the paper's rule) decides. Not
                # when a hit showed the question naming another subject: then it is about that one.
                dense_found = candidates
                evidence["spread"] = True
            if dense_found:
                # A described entity: follow the graph from the best dense hit's subject.
                path = self._path(question, question_vector, [dense_found[0].fact.subject], n_hops, links)
        elif not path and hits:
            # Greedy ablation: the old fallback start, the top dense hit's subject.
            path = self._path(question, question_vector, [hits[0].fact.subject], n_hops, links)
        facts = list(path)
        if not facts:
            facts = dense_found or (hits[: config.dense_k] if config.gate != "evidence" else [])
        if n_hops is not None:
            chosen = {scored.fact.id for scored in facts}
            pool = dense_found if config.gate == "evidence" else hits
            for hit in pool:
                if len(facts) >= n_hops:
                    break
                if hit.fact.id not in chosen:
                    facts.append(hit)
                    chosen.add(hit.fact.id)
        if config.gate == "std":
            gated = std_gate(scores, config)
            evidence["decided_by"] = "std of the top dense scores"
        elif config.gate == "none":
            gated = not facts
            evidence["decided_by"] = "no gate"
        else:
            gated = not facts
            if path and starts and path[0].fact.subject in starts:
                evidence["decided_by"] = "a path of fitting relations from a named entity"
            elif facts and evidence.get("spread"):
                evidence["decided_by"] = "no entity named; the dense scores' spread (the paper's rule)"
            elif facts:
                evidence["decided_by"] = "dense hits close to the question"
            elif starts:
                evidence["decided_by"] = "a named entity, but no relation of it fits the question"
            elif other_subject:
                evidence["decided_by"] = "dense hits about another subject than the one the question names"
            else:
                evidence["decided_by"] = "no entity of the memory named and no close dense hit"
        # None: the vector search did not run (a path decided); [] would mean it found nothing.
        evidence["dense_scores"] = [round(s, 3) for s in scores[: config.gate_k]] if searched else None
        return Retrieval(facts=facts, gated=gated, top_scores=scores[: config.gate_k], evidence=evidence)

    def to_dict(self) -> dict:
        return {"name": self.name, **self.config.to_dict()}
