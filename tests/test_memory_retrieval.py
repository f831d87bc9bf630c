"""Chain retrieval on small hand-made graphs: beam search, the evidence gate, aliases, and the ablations."""

from __future__ import annotations

from dataclasses import replace
from pathlib import Path

import pytest

from memory import Memory
from memory.facts import Fact
from memory.retrieval import ChainRetriever, RetrievalConfig, std_gate

QUESTION = "What is the capital of the country of citizenship of the author of The Silent Orchard?"
CHAIN = [
    "The author of The Silent Orchard is Tobias Renn.",
    "Tobias Renn is a citizen of Japan.",
    "The capital of Japan is Osaka.",
]


@pytest.fixture(scope="module")
def memory(tmp_path_factory: pytest.TempPathFactory) -> Memory:
    memory = Memory.open(tmp_path_factory.mktemp("retrieval") / "store")
    background = [
        ("The Silent Orchard", "author", "Tobias Renn", "The author of The Silent Orchard is Tobias Renn."),
        ("Tobias Renn", "country of citizenship", "Canada", "Tobias Renn is a citizen of Canada."),
        ("Tobias Renn", "occupation", "novelist", "Tobias Renn works as a novelist."),
        ("Tobias Renn", "place of birth", "Halifax", "Tobias Renn was born in the city of Halifax."),
        ("Canada", "capital", "Ottawa", "The capital of Canada is Ottawa."),
        ("Japan", "official language", "Japanese", "The official language of Japan is Japanese."),
        ("Japan", "capital", "Tokyo", "The capital of Japan is Tokyo."),
        ("Mira Castellane", "sport", "chess", "Mira Castellane is associated with the sport of chess."),
        ("Nordhaven Robotics", "headquarters location", "Lisbon", "Nordhaven Robotics is based in Lisbon."),
    ]
    edits = [
        ("Tobias Renn", "country of citizenship", "Japan", "Tobias Renn is a citizen of Japan."),
        ("Japan", "capital", "Osaka", "The capital of Japan is Osaka."),
    ]
    memory.add([Fact(s, r, o, sentence=text, kind="background") for s, r, o, text in background])
    memory.add([Fact(s, r, o, sentence=text) for s, r, o, text in edits])
    return memory


def test_chain_follows_the_edited_path_in_order(memory: Memory) -> None:
    found = memory.retrieve(QUESTION, n_hops=3)
    assert found.sentences == CHAIN
    assert not found.gated
    assert all(scored.score > 0 for scored in found.facts)


def test_chain_with_unknown_hop_count_stops_at_the_end_of_the_path(memory: Memory) -> None:
    assert memory.retrieve(QUESTION).sentences == CHAIN


def test_chain_returns_at_most_n_facts_and_a_shorter_chain_for_fewer_hops(memory: Memory) -> None:
    found = memory.retrieve(
        "What is the country of citizenship of the author of The Silent Orchard?", n_hops=2
    )
    assert found.sentences == CHAIN[:2]


def test_start_entity_from_dense_hit_when_question_names_no_graph_entity(memory: Memory) -> None:
    found = memory.retrieve("Which country is the novelist Renn a citizen of?", n_hops=1)
    assert found.sentences == ["Tobias Renn is a citizen of Japan."]


def test_dense_returns_n_best_active_facts(memory: Memory) -> None:
    found = memory.retrieve(QUESTION, n_hops=3, strategy="dense")
    assert len(found.facts) == 3
    scores = [scored.score for scored in found.facts]
    assert scores == sorted(scores, reverse=True)
    assert (
        "The capital of Japan is Tokyo."
        not in memory.retrieve("capital of Japan", n_hops=5, strategy="dense").sentences
    )  # superseded facts are never retrieved


def test_gate_closes_for_unrelated_questions(memory: Memory) -> None:
    unrelated = memory.retrieve("How many legs does a spider have?", n_hops=2)
    assert unrelated.gated
    assert unrelated.evidence["decided_by"] == "no entity of the memory named and no close dense hit"
    related = memory.retrieve("Where are the headquarters of Nordhaven Robotics?", n_hops=1)
    assert not related.gated
    assert related.sentences == ["Nordhaven Robotics is based in Lisbon."]
    assert related.evidence["linked"][0]["entity"] == "Nordhaven Robotics"


def test_named_entity_with_no_fitting_relation_goes_to_the_unedited_model(memory: Memory) -> None:
    found = memory.retrieve("How many moons does Nordhaven Robotics own?")
    assert found.gated
    assert found.evidence["decided_by"] == "a named entity, but no relation of it fits the question"


class CountingStore:
    """The memory's real store, counting its vector searches."""

    def __init__(self, store: object) -> None:
        self.store = store
        self.queries = 0

    def query(self, vector: object, k: int) -> object:
        self.queries += 1
        return self.store.query(vector, k)  # type: ignore[attr-defined]


def test_vector_search_runs_only_when_it_can_change_the_outcome(memory: Memory) -> None:
    store = CountingStore(memory.store)
    retriever = ChainRetriever(store, memory.graph, RetrievalConfig())  # type: ignore[arg-type]
    found = retriever.retrieve(QUESTION)
    assert found.sentences == CHAIN
    assert store.queries == 0  # a path from a named entity decided alone
    assert found.evidence["dense_scores"] is None and found.top_scores == []
    unrelated = retriever.retrieve("How many legs does a spider have?")
    assert unrelated.gated and store.queries == 1
    assert len(unrelated.evidence["dense_scores"]) == RetrievalConfig().gate_k
    # The std gate reads the dense scores whatever the path: the search runs.
    std = ChainRetriever(store, memory.graph, RetrievalConfig(gate="std"))  # type: ignore[arg-type]
    std.retrieve(QUESTION)
    assert store.queries == 2


def test_std_gate_rule() -> None:
    config = RetrievalConfig(gate_std=0.1)
    assert std_gate([0.31, 0.30, 0.29, 0.28, 0.27], config)
    assert not std_gate([0.80, 0.30, 0.29, 0.28, 0.27], config)
    assert std_gate([], config)
    assert not std_gate([0.5, 0.1], config)  # fewer facts than the gate looks at: cannot judge, keep them
    assert not std_gate([0.31, 0.30, 0.29, 0.28, 0.27], RetrievalConfig(gate_std=0.001))


def test_unknown_strategy_is_an_error(tmp_path: Path) -> None:
    with pytest.raises(ValueError, match="strategy"):
        Memory.open(tmp_path / "store").retrieve("x", strategy="magic")


def test_bad_retrieval_settings_name_the_problem(tmp_path: Path) -> None:
    with pytest.raises(ValueError, match="gate must be evidence, std or none"):
        RetrievalConfig(gate="sometimes")
    with pytest.raises(ValueError, match="beam_width must be at least 1"):
        RetrievalConfig(beam_width=0)
    settings = tmp_path / "retrieval.yaml"
    settings.write_text("beam_width: 2\nthreshold_of_doom: 3\n")
    with pytest.raises(ValueError, match=r"unknown retrieval setting.*threshold_of_doom"):
        RetrievalConfig.from_yaml(settings)
    with pytest.raises(ValueError, match="min_unnamed_path_gain must be a number"):
        RetrievalConfig(min_unnamed_path_gain="high")  # type: ignore[arg-type]
    settings.write_text("beam_width: 2\ngate: std\n")
    assert RetrievalConfig.from_yaml(settings) == RetrievalConfig(beam_width=2, gate="std")


# An invented world where greedy choice goes wrong: from Velkor Daan, "founded" is the relation closest to
# the question's words taken one at a time, but only the employer branch continues to a head office.
WORLD = [
    ("Velkor Daan", "founded company", "Ostrel Mills", "Velkor Daan founded the company Ostrel Mills."),
    ("Velkor Daan", "employer", "Quennet Works", "Velkor Daan is employed by Quennet Works."),
    ("Quennet Works", "head office city", "Brasmoor", "The head office of Quennet Works is in Brasmoor."),
    ("Brasmoor", "mayor", "Idra Polk", "The mayor of Brasmoor is Idra Polk."),
    ("Ostrel Mills", "product", "woollen cloth", "Ostrel Mills makes woollen cloth."),
]
WORLD_QUESTION = "In which city is the head office of the company that employs Velkor Daan?"


def background_memory(folder: Path, rows: list[tuple[str, str, str, str]]) -> Memory:
    """A memory holding (subject, relation, object, sentence) rows as background facts."""
    memory = Memory.open(folder / "store")
    memory.add([Fact(s, r, o, sentence=t, kind="background") for s, r, o, t in rows])
    return memory


@pytest.fixture(scope="module")
def world(tmp_path_factory: pytest.TempPathFactory) -> Memory:
    memory = background_memory(tmp_path_factory.mktemp("world"), WORLD)
    memory.add([Fact("Idra Polk", "spouse", "Fenn Arbet", sentence="Idra Polk is married to Fenn Arbet.",
                     subject_aliases=("Mayor Polk",))])  # fmt: skip
    return memory


def test_beam_search_finds_the_branch_greedy_choice_misses(world: Memory) -> None:
    beam = world.retrieve(WORLD_QUESTION)
    assert beam.sentences == [
        "Velkor Daan is employed by Quennet Works.",
        "The head office of Quennet Works is in Brasmoor.",
    ]
    greedy = ChainRetriever(world.store, world.graph, RetrievalConfig(walk="greedy")).retrieve(
        WORLD_QUESTION, 2
    )
    assert greedy.sentences[0] == "Velkor Daan founded the company Ostrel Mills."


def test_three_hop_chain_over_invented_names_with_unknown_length(world: Memory) -> None:
    found = world.retrieve(
        "Who is the mayor of the city that hosts the head office of Velkor Daan's employer?"
    )
    assert [f.fact.object for f in found.facts] == ["Quennet Works", "Brasmoor", "Idra Polk"]


def test_alias_only_question_links_to_the_entity(world: Memory) -> None:
    found = world.retrieve("Who is MAYOR POLK married to?")
    assert not found.gated
    assert found.sentences == ["Idra Polk is married to Fenn Arbet."]
    assert found.evidence["linked"] == [
        {"entity": "Idra Polk", "surface": "Mayor Polk", "by_alias": True, "ambiguous": False}
    ]


def test_edits_further_along_do_not_make_a_longer_path_win(tmp_path: Path) -> None:
    """The edit bonus breaks ties among paths of one length; it never weighs paths of different lengths,
    so an edit on the hop after the answer does not pull the path past it (hop count unknown)."""
    memory = Memory.open(tmp_path / "store")
    chain = [
        ("Velkor Daan", "employer", "Quennet Works", "Velkor Daan is employed by Quennet Works."),
        ("Quennet Works", "founded by", "Idra Polk", "Quennet Works was founded by Idra Polk."),
        ("Idra Polk", "spouse", "Fenn Arbet", "Idra Polk is married to Fenn Arbet."),
        ("Fenn Arbet", "employer", "Ostrel Mills", "Fenn Arbet is employed by Ostrel Mills."),
        ("Ostrel Mills", "head office city", "Brasmoor", "The head office of Ostrel Mills is in Brasmoor."),
    ]
    memory.add([Fact(s, r, o, sentence=t, kind="background") for s, r, o, t in chain[:3]])
    memory.add([Fact(s, r, o, sentence=t) for s, r, o, t in chain[3:]])
    found = memory.retrieve("Who is the person who founded the company that employs Velkor Daan married to?")
    assert found.sentences == [fact[3] for fact in chain[:3]]
    memory.close()


def test_path_cache_is_bounded_and_changes_no_result(world: Memory) -> None:
    question = "Who is the mayor of the city that hosts the head office of Velkor Daan's employer?"
    uncached = ChainRetriever(world.store, world.graph, RetrievalConfig(path_cache_size=0))
    small = ChainRetriever(world.store, world.graph, RetrievalConfig(path_cache_size=3))
    expected = uncached.retrieve(question).sentences
    assert small.retrieve(question).sentences == expected
    assert small.retrieve(question).sentences == expected  # answered from the cache this time
    assert len(small._path_vectors) == 3
    assert len(uncached._path_vectors) == 0


# Repeated relations: a sentence embedding barely sees how many times "married to" is asked for; the word
# fit (counted content words of question and path) does.
MARRIAGES = [
    ("Orla Venn", "spouse", "Tamsin Krol", "Orla Venn is married to Tamsin Krol."),
    ("Tamsin Krol", "spouse", "Bede Harrow", "Tamsin Krol is married to Bede Harrow."),
    ("Tamsin Krol", "employer", "Quennet Works", "Tamsin Krol is employed by Quennet Works."),
    ("Bede Harrow", "employer", "Ostrel Mills", "Bede Harrow is employed by Ostrel Mills."),
    ("Orla Venn", "employer", "Brasmoor Labs", "Orla Venn is employed by Brasmoor Labs."),
]
MARRIAGE_QUESTION = "Which company employs the person married to the person married to Orla Venn?"


@pytest.fixture(scope="module")
def marriages(tmp_path_factory: pytest.TempPathFactory) -> Memory:
    return background_memory(tmp_path_factory.mktemp("marriages"), MARRIAGES)


def test_a_relation_asked_for_twice_is_followed_twice(marriages: Memory) -> None:
    found = marriages.retrieve(MARRIAGE_QUESTION)
    assert [f.fact.object for f in found.facts] == ["Tamsin Krol", "Bede Harrow", "Ostrel Mills"]
    once = marriages.retrieve("Which company employs the person married to Orla Venn?")
    assert [f.fact.object for f in once.facts] == ["Tamsin Krol", "Quennet Works"]


def test_without_the_word_fit_the_repeated_relation_is_missed(marriages: Memory) -> None:
    """The ablation the default is measured against: whole-path similarity alone stops one spouse short."""
    blind = ChainRetriever(marriages.store, marriages.graph, RetrievalConfig(lexical_weight=0.0))
    assert [f.fact.object for f in blind.retrieve(MARRIAGE_QUESTION).facts] != [
        "Tamsin Krol",
        "Bede Harrow",
        "Ostrel Mills",
    ]


def test_placeholder_paths_read_alike_for_every_start_and_still_find_the_chain(world: Memory) -> None:
    config = RetrievalConfig.from_yaml(Path(__file__).parents[1] / "memory" / "configs" / "fast_paths.yaml")
    assert config.path_start == "placeholder"
    retriever = ChainRetriever(world.store, world.graph, config)
    found = retriever.retrieve(WORLD_QUESTION)
    assert found.sentences == [
        "Velkor Daan is employed by Quennet Works.",
        "The head office of Quennet Works is in Brasmoor.",
    ]
    # Every description this retrieval embedded names its start by the placeholder, none by its name.
    described = list(retriever._path_vectors)
    assert "the employer of it" in described
    assert not [text for text in described if "Velkor" in text]
    unrelated = retriever.retrieve("How many legs does a spider have?")
    assert unrelated.gated
    with pytest.raises(ValueError, match="path_start must be name, placeholder or both"):
        RetrievalConfig(path_start="nickname")  # type: ignore[arg-type]
    with pytest.raises(ValueError, match="path_placeholder must not be empty"):
        RetrievalConfig(path_start="placeholder", path_placeholder=" ")


def test_a_dense_hit_about_another_named_subject_is_not_evidence(memory: Memory) -> None:
    question = "Lior Castellano is associated with the sport of"
    found = memory.retrieve(question)
    assert found.gated
    assert found.evidence["decided_by"] == "dense hits about another subject than the one the question names"
    assert found.evidence["other_subject"] == ["Mira Castellane is associated with the sport of chess."]
    # The ablation: the same close hit decides without the slot test.
    ablation = ChainRetriever(memory.store, memory.graph, RetrievalConfig(drop_other_subject=False))
    kept = ablation.retrieve(question)
    assert not kept.gated
    assert kept.sentences[0] == "Mira Castellane is associated with the sport of chess."
    assert kept.evidence["decided_by"] == "dense hits close to the question"


CITIES = [
    ("Thurndra Sapis", "birthplace", "Moldrin", "Thurndra Sapis was born in Moldrin."),
    ("Moldrin", "country", "Kefania", "Moldrin is a city in Kefania."),
    ("Moldrin", "mayor", "Tessa Quill", "The mayor of Moldrin is Tessa Quill."),
    ("Kefania", "head of state", "Hivrynd Namvyrn", "The head of state of Kefania is Hivrynd Namvyrn."),
    ("Velra University", "campus city", "Moldrin", "Velra University is located in Moldrin."),
    ("Tessa Quill", "alma mater", "Velra University", "Tessa Quill studied at Velra University."),
    ("Hivrynd Namvyrn", "birthplace", "Thanra", "Hivrynd Namvyrn was born in Thanra."),
]


def test_a_word_two_relations_share_does_not_pick_the_relation(tmp_path: Path) -> None:
    """ "City" is in the country relation's phrasing ("is a city in") and in another relation's label
    ("campus city"), so it is weak evidence for either; "city leader" is the mayor."""
    cities = background_memory(tmp_path, CITIES)
    question = "Who is Thurndra Sapis' birthplace's city leader?"
    found = cities.retrieve(question)
    assert [f.fact.object for f in found.facts] == ["Moldrin", "Tessa Quill"]
    # Read with the start's name only (where the weights were measured), equal weights go to the country.
    named = RetrievalConfig(path_start="name")
    weighted = ChainRetriever(cities.store, cities.graph, named)
    assert [f.fact.object for f in weighted.retrieve(question).facts] == ["Moldrin", "Tessa Quill"]
    equal = ChainRetriever(cities.store, cities.graph, named.with_overrides(word_weights="equal"))
    assert [f.fact.object for f in equal.retrieve(question).facts] == ["Moldrin", "Kefania"]
    # The weights follow the memory: a third relation using "city" lowers its weight again.
    retriever = ChainRetriever(cities.store, cities.graph, RetrievalConfig())
    assert retriever.word_weights()["city"] == pytest.approx(1 / 2)
    cities.add(
        [
            Fact(
                "Moldrin",
                "city council",
                "Moldrin Assembly",
                sentence="The council of Moldrin is Moldrin Assembly.",
            )
        ]
    )
    assert retriever.word_weights()["city"] == pytest.approx(1 / 3)
    with pytest.raises(ValueError, match="word_weights must be relations or equal"):
        RetrievalConfig(word_weights="idf")  # type: ignore[arg-type]


def test_both_readings_choose_among_the_best_candidates_read_with_the_name(world: Memory) -> None:
    """`path_start` "both": the beam's best `named_candidates` paths are read again with the start's name,
    choose on the mean of the two readings, and the gate gets the named reading's gain."""
    from memory.embedder import embed
    from memory.lexical import question_terms

    config = RetrievalConfig(named_candidates=2)
    assert RetrievalConfig().path_start == "both"
    retriever = ChainRetriever(world.store, world.graph, config)
    vector = embed([WORLD_QUESTION])[0]
    links = world.graph.start_links(WORLD_QUESTION)
    starts = [link.entity for link in links]
    words = question_terms(WORLD_QUESTION, [*starts, *(link.surface for link in links)])
    nearness = retriever.word_nearness(WORLD_QUESTION)
    by_length = retriever.paths_by_length(vector, starts, config.max_hops, words, nearness)
    searched = [path for length, paths in by_length.items() if length > 0 for path in paths]
    assert len(searched) > 2
    chosen_among = retriever.candidates(vector, by_length, None)
    assert len(chosen_among) == 2
    best_searched = sorted(searched, key=lambda p: p.fit(config), reverse=True)[:2]
    for read, searched_path in zip(chosen_among, best_searched, strict=True):
        facts = [scored.fact for scored in read.facts]
        assert facts == [scored.fact for scored in searched_path.facts]
        named, named_base = retriever.path_similarity(vector, [read.start] * 2, [facts, []], by_name=True)
        assert read.named_gain == pytest.approx(named - named_base, abs=1e-5)
        assert read.gain == read.named_gain
        assert read.similarity == pytest.approx((searched_path.similarity + named) / 2, abs=1e-5)
        assert searched_path.named_gain is None  # the beam's own paths are left as they were
    found = retriever.retrieve(WORLD_QUESTION)
    assert [f.fact.object for f in found.facts] == ["Quennet Works", "Brasmoor"]
    with pytest.raises(ValueError, match="named_candidates must be at least 1"):
        RetrievalConfig(named_candidates=0)


@pytest.fixture(scope="module")
def stress_world(tmp_path_factory: pytest.TempPathFactory) -> Memory:
    """The development stress world: seed 1 of `evals.stress_world` (the shipped seed 2 is held out)."""
    from evals.stress_world import StressWorld, cases_json

    folder = tmp_path_factory.mktemp("stress")
    data = folder / "stress_world_seed1.json"
    data.write_text(cases_json(StressWorld(1).make_cases()), encoding="utf-8")
    memory = Memory.open(folder / "store")
    memory.load_file(data, format="mquake", with_kg=True)
    return memory


@pytest.mark.parametrize(
    ("question", "relations"),
    [
        ("What is Kaèvith's city leader's mother tongue?", ["mayor", "native language"]),
        ("What is the river fed by the river that Boktrethni lies on?", ["river", "flows into"]),
    ],
)
def test_the_placeholder_reading_finds_relations_an_unfamiliar_name_drowns(
    stress_world: Memory, question: str, relations: list[str]
) -> None:
    """Read with the start's name alone, these paraphrased questions take another path: the name's
    tokens weigh as much in the description's embedding as the relations do."""
    assert [f.fact.relation for f in stress_world.retrieve(question).facts] == relations
    named = ChainRetriever(stress_world.store, stress_world.graph, RetrievalConfig(path_start="name"))
    assert [f.fact.relation for f in named.retrieve(question).facts] != relations


@pytest.mark.parametrize(
    ("question", "relations"),
    [
        ("Tell me the hometown of the chief executive of Nalo Holdings.", ["chief executive", "birthplace"]),
        ("What is Holra's nation's capital's waterway?", ["country", "capital", "river"]),
        ("Where did the mayor of Vustompan study?", ["mayor", "alma mater"]),
    ],
)
def test_a_paraphrased_relation_word_matches_its_nearest_path_word(
    stress_world: Memory, question: str, relations: list[str]
) -> None:
    """ "Hometown", "waterway" and "study" share no stem with a relation's words in this world; their nearest
    path words carry the word fit to the last hop. With equal words only (the
    ablation), the path stops a hop short."""
    assert [f.fact.relation for f in stress_world.retrieve(question).facts] == relations
    equal_words = replace(RetrievalConfig(), near_word_cosine=None)
    exact = ChainRetriever(stress_world.store, stress_world.graph, equal_words)
    assert [f.fact.relation for f in exact.retrieve(question).facts] == relations[:-1]


def test_near_word_cosine_is_checked() -> None:
    with pytest.raises(ValueError, match="near_word_cosine must be in"):
        RetrievalConfig(near_word_cosine=1.5)
    with pytest.raises(ValueError, match="near_word_cosine must be in"):
        RetrievalConfig(near_word_cosine=0.0)


COUNTRY_FACTS = [
    ("Norvania", "capital", "Kelbrin", "The capital of Norvania is Kelbrin."),
    ("Norvania", "official language", "Drusk", "The official language of Norvania is Drusk."),
    ("Norvania", "continent", "Europe", "Norvania is located in the continent of Europe."),
    ("Kelbrin", "mayor", "Osa Veld", "The mayor of Kelbrin is Osa Veld."),
]


def test_min_unnamed_path_gain_gates_paths_no_question_word_names(tmp_path: Path) -> None:
    """A question about something the memory does not hold ("economic growth") still brings the text a
    little closer to the country's capital than the country's name alone. With `min_unnamed_path_gain`
    set, that small gain is not evidence when no word of the question names the relation; a question that
    names a relation, or paraphrases it with a near word, still gets its fact. The option is off by
    default because a one-hop paraphrase with no shared word ("launched" for "inception") then loses its
    edit the same way."""
    facts = [Fact(s, r, o, sentence=text, kind="background") for s, r, o, text in COUNTRY_FACTS]
    edit = Fact("IAAF Combined Events Challenge", "When was the inception of", "2006",
                sentence="When was the inception of IAAF Combined Events Challenge? 2006.")  # fmt: skip
    unrelated = "What are the main sources of economic growth in Norvania?"
    paraphrase = "When was the IAAF Combined Events Challenge launched?"
    strict = Memory.open(tmp_path / "strict", config=RetrievalConfig(min_unnamed_path_gain=0.2))
    strict.add([*facts, edit])
    found = strict.retrieve(unrelated)
    assert found.gated and found.facts == []
    assert found.evidence["decided_by"] == "a named entity, but no relation of it fits the question"
    assert strict.retrieve("What is the capital of Norvania?").sentences == [COUNTRY_FACTS[0][3]]
    assert strict.retrieve("Which language do people speak in Norvania?").sentences == [COUNTRY_FACTS[1][3]]
    assert strict.retrieve(paraphrase).gated
    strict.close()
    default = Memory.open(tmp_path / "default")
    default.add([*facts, edit])
    assert default.retrieve(unrelated).sentences == [COUNTRY_FACTS[0][3]]
    assert default.retrieve(paraphrase).sentences == [edit.sentence]
    default.close()


def test_a_dense_hit_about_another_entity_is_not_evidence_beside_a_named_one(tmp_path: Path) -> None:
    """The question names Russia, which the memory holds, and none of Russia's relations fits it; the
    sentence about Moscow's continent is close to the question's wording, but the question is not about
    Moscow. A question naming nothing of the memory still gets such a hit."""
    rows = [
        ("Russia", "official language", "Russian", "The official language of Russia is Russian."),
        ("Moscow", "continent", "Europe", "Moscow is located in the continent of Europe."),
    ]
    facts = [Fact(s, r, o, sentence=text, kind="background") for s, r, o, text in rows]
    question = "Russia belongs to the continent of"
    default = Memory.open(tmp_path / "default")
    default.add(facts)
    found = default.retrieve(question)
    assert found.gated and found.facts == []
    assert found.evidence["decided_by"] == "a named entity, but no relation of it fits the question"
    described = default.retrieve("The largest Russian city is located in the continent of")
    assert described.sentences == [rows[1][3]]
    assert described.evidence["decided_by"] == "dense hits close to the question"
    default.close()
    ablation = Memory.open(tmp_path / "ablation", config=RetrievalConfig(dense_beside_named_entity=True))
    ablation.add(facts)
    assert ablation.retrieve(question).sentences == [rows[1][3]]
    ablation.close()


@pytest.fixture(scope="module")
def invented_world(tmp_path_factory: pytest.TempPathFactory) -> Memory:
    """The shipped invented world (`evals/data/invented_world.json`), all its edits and its graph."""
    memory = Memory.open(tmp_path_factory.mktemp("invented") / "store")
    world = Path(__file__).parents[1] / "evals" / "data" / "invented_world.json"
    memory.load_file(world, format="mquake", with_kg=True)
    return memory


@pytest.mark.parametrize(
    ("question", "relations"),
    [
        (
            "Who is the person who founded the company that employs Shaendnios Maexli married to?",
            ["employer", "founder", "spouse"],
        ),
        (
            "In which city was the mayor of the city that hosts the head office of the company that employs "
            "Zoxgiox Shulnaelkioth born?",
            ["employer", "headquarters city", "mayor", "birthplace"],
        ),
    ],
)
def test_the_question_order_picks_between_paths_with_the_same_relations(
    invented_world: Memory, question: str, relations: list[str]
) -> None:
    """Both questions read as well along their relations in another order (the spouse first, or the
    birthplace first): the words are the same and the whole-path embedding barely sees order. The order
    in which the question mentions them, read outward from the name, decides."""
    assert [f.fact.relation for f in invented_world.retrieve(question).facts] == relations
    unordered = ChainRetriever(
        invented_world.store, invented_world.graph, RetrievalConfig(relation_order=False)
    )
    found = [f.fact.relation for f in unordered.retrieve(question).facts]
    assert found != relations and sorted(found) == sorted(relations)
