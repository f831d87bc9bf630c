"""Entity linking: names and aliases, folded case/accents/punctuation, longest match, ambiguity."""

from __future__ import annotations

from memory.entities import EntityIndex, name_tokens
from memory.facts import Fact
from memory.graph import FactGraph


def test_folding_ignores_case_accents_and_punctuation():
    assert name_tokens("Kolinda Grabar-Kitarović") == name_tokens("kolinda grabar kitarovic")
    assert name_tokens("St. Moritz!") == ("st", "moritz")


def test_alias_only_mention_links_to_the_entity():
    index = EntityIndex()
    index.add("Kolinda Grabar-Kitarović", ["Grabar-Kitarović"])
    [link] = index.link("Where was GRABAR KITAROVIC born?")
    assert link.entity == "Kolinda Grabar-Kitarović"
    assert link.by_alias and link.surface == "Grabar-Kitarović"


def test_longest_match_wins_and_contained_names_are_dropped():
    index = EntityIndex()
    for name in ("Paris", "Paris Saint-Germain", "Saint"):
        index.add(name)
    links = index.link("Who coaches Paris Saint-Germain?")
    assert [link.entity for link in links] == ["Paris Saint-Germain"]


def test_a_name_inside_a_longer_capitalised_name_does_not_link():
    index = EntityIndex()
    for name in ("Paul", "Jerusalem"):
        index.add(name)
    assert index.link("Paul Jank died at") == []
    assert index.link("The capital of Jerusalem District is") == []
    assert index.link("Who governs East Jerusalem?") == []
    # The question's first word is capitalised anyway; lowercase neighbours leave the name linked.
    assert [link.entity for link in index.link("Paul died in which city?")] == ["Paul"]
    assert [link.entity for link in index.link("Which country is Jerusalem in?")] == ["Jerusalem"]


def test_a_name_joined_to_another_by_a_particle_does_not_link():
    """ "von", "de", "van" ... join the parts of one name: "Paul" in "Paul von Jank" is not Paul."""
    index = EntityIndex()
    for name in ("Paul", "Beethoven", "Charles de Gaulle"):
        index.add(name)
    assert index.link("Paul von Jank died at") == []
    assert index.link("Where was Ludwig van Beethoven born?") == []
    # The whole name with its particle is one mention; a lowercase word after the particle ends nothing.
    assert [link.entity for link in index.link("Where did Charles de Gaulle die?")] == ["Charles de Gaulle"]
    assert [link.entity for link in index.link("Did Paul de facto rule?")] == ["Paul"]
    assert [link.entity for link in index.link("Who did Beethoven teach?")] == ["Beethoven"]


def test_ascii_and_unicode_names_fold_alike():
    # ASCII names take a shorter path through the folding; it must agree with the full one.
    assert name_tokens("Sao Paulo (SP)") == name_tokens("São Paulo (SP)") == ("sao", "paulo", "sp")
    assert name_tokens("“Grabar–Kitarović”") == name_tokens('"Grabar-Kitarovic"') == ("grabar", "kitarovic")
    assert name_tokens("ﬁsh") == name_tokens("fish")


def test_ambiguous_name_returns_every_candidate():
    index = EntityIndex()
    index.add("Springfield (Illinois)", ["Springfield"])
    index.add("Springfield (Missouri)", ["Springfield"])
    links = index.link("Who is the mayor of Springfield?")
    assert {link.entity for link in links} == {"Springfield (Illinois)", "Springfield (Missouri)"}
    assert all(link.ambiguous for link in links)


def test_words_inside_other_words_do_not_link():
    index = EntityIndex()
    index.add("Ann")
    assert index.link("Who founded Annapolis?") == []


def test_graph_index_follows_supersession_and_removal():
    graph = FactGraph()
    old = Fact("Peltam Looms", "founded by", "Drelven Limaror", object_aliases=("D. Limaror",), added_at=1.0)
    graph.put(old)
    assert graph.entities.lookup("d limaror") == ["Drelven Limaror"]
    # A newer version supersedes it: the old object (and its alias) is no longer linked.
    graph.put(Fact("Peltam Looms", "founded by", "Ossa Vire", added_at=2.0))
    assert graph.entities.lookup("D. Limaror") == []
    assert [link.entity for link in graph.link("Who founded Peltam Looms?")] == ["Peltam Looms"]
    assert graph.start_links("Is Ossa Vire a founder?") == []  # an object only: no chain starts there
    for fact_id in list(graph.facts):
        graph.drop(fact_id)
    assert graph.link("Who founded Peltam Looms?") == []


def test_counted_bulk_build_indexes_and_links_as_one_by_one_adds():
    named = [
        ("Kolinda Grabar-Kitarović", ["Grabar-Kitarović"]),
        ("Croatia", []),
        ("Kolinda Grabar-Kitarović", ["Grabar-Kitarović"]),  # a second fact naming her
        ("São Paulo", ["Sao Paulo", "SP"]),  # "SP": too short an alias to link
        ("Paris", []),
        ("Paris Saint-Germain", ["PSG"]),
    ]
    one_by_one, bulk = EntityIndex(), EntityIndex()
    for entity, aliases in named:
        one_by_one.add(entity, aliases)
    bulk.add_many(named)
    assert bulk._keys == one_by_one._keys and bulk._longest == one_by_one._longest
    for question in (
        "Who leads the country of GRABAR KITAROVIC?",
        "Where is sao paulo?",
        "Who coaches Paris Saint-Germain, also PSG?",
        "What is the capital of Croatia?",
    ):
        assert bulk.link(question) == one_by_one.link(question)
    # Both references to her are counted: removing one fact's names keeps her linked, the second does not.
    bulk.remove("Kolinda Grabar-Kitarović", ["Grabar-Kitarović"])
    assert [link.entity for link in bulk.link("Who is Grabar-Kitarović?")] == ["Kolinda Grabar-Kitarović"]
    bulk.remove("Kolinda Grabar-Kitarović", ["Grabar-Kitarović"])
    assert bulk.link("Who is Grabar-Kitarović?") == []


def test_relation_examples_follow_the_active_facts() -> None:
    """A few active facts per relation, so a relation's phrasing is read without a scan; the revision
    says when they changed."""
    graph = FactGraph()
    limit = FactGraph.RELATION_EXAMPLES
    facts = [
        Fact(f"City {i}", "country", "Kefania", sentence=f"City {i} is a city in Kefania.") for i in range(5)
    ]
    graph.put_many((fact, None) for fact in facts)
    revision, examples = graph.relation_examples()
    assert [f.id for f in examples["country"]] == [f.id for f in facts[:limit]]
    graph.drop(facts[0].id)
    later, examples = graph.relation_examples()
    assert later != revision
    assert facts[0].id not in {f.id for f in examples["country"]}
    # Superseded facts are not examples: only the active version of (subject, relation) counts.
    moved = Fact(
        "City 1", "country", "Ostria", sentence="City 1 is a city in Ostria.", added_at=facts[1].added_at + 1
    )
    graph.put(moved)
    assert facts[1].id not in {f.id for f in graph.relation_examples()[1]["country"]}
    graph.drop(moved.id)  # the earlier version is active again, and an example again
    assert facts[1].id in {f.id for f in graph.relation_examples()[1]["country"]}
    for fact in facts[1:]:
        graph.drop(fact.id)
    assert "country" not in graph.relation_examples()[1]
    # A bulk-built graph has the same examples as one built fact by fact.
    bulk = FactGraph.from_records((fact, None) for fact in facts)
    assert [f.id for f in bulk.relation_examples()[1]["country"]] == [f.id for f in facts[:limit]]


def test_a_name_does_not_go_on_across_the_end_of_a_sentence():
    index = EntityIndex()
    for name in ("Moscow", "Louis"):
        index.add(name)
    # "It" opens the next sentence: Moscow is still the name the question ends on.
    assert [link.entity for link in index.link("What is the twin city of Moscow? It is")] == ["Moscow"]
    # An abbreviation's full stop ends no sentence: "St. Louis" is still a longer name.
    assert index.link("Where is St. Louis? It is") == []
    assert index.link("Moscow Tower is") == []


def test_an_alias_that_reads_as_a_relation_word_does_not_link(tmp_path):
    """MQuAKE gives country music the alias "country"; in "Nayak was created in the country of", that
    word asks for a country, it does not name the genre. The name still links, and so does an alias
    that is not a relation word."""
    from memory import Memory
    from memory.facts import Fact

    memory = Memory.open(tmp_path / "store")
    memory.add(
        [
            Fact("country music", "country of origin", "United Kingdom", kind="background",
                 sentence="country music was created in the country of United Kingdom.",
                 subject_aliases=("country", "country and western")),
            Fact("Ellie Kemper", "country of citizenship", "Croatia", kind="background",
                 sentence="Ellie Kemper is a citizen of Croatia.", subject_aliases=("Elizabeth Kemper",)),
        ]
    )  # fmt: skip
    assert memory.graph.link("Nayak was created in the country of") == []
    linked = memory.graph.link("Where was country music created?")
    assert [(link.entity, link.by_alias) for link in linked] == [("country music", False)]
    linked = memory.graph.link("Where was country and western created?")
    assert [(link.entity, link.by_alias) for link in linked] == [("country music", True)]
    linked = memory.graph.link("Which country is Elizabeth Kemper a citizen of?")
    assert [(link.entity, link.by_alias) for link in linked] == [("Ellie Kemper", True)]
    memory.close()
