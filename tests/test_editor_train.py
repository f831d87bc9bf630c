"""Training: the data builder, loss on target tokens, smoke training that lowers the loss, resume."""

from __future__ import annotations

import itertools
import json
import subprocess
from pathlib import Path

import pytest
import torch
from helpers_editor import tiny_llama_dir, tiny_loaded

from editor.instructed import InstructEdConfig, InstructEdEditor, InstructEdModel
from editor.instructed.relevance import entity_gate
from editor.llm import LocalLLM
from editor.train.config import DataMix
from editor.train.data import DataBuilder, TrainExample
from editor.train.trainer import target_loss

FIXTURE_DATA = Path(__file__).parent / "fixtures" / "train_data"
HOPEDIT = Path(__file__).resolve().parents[1] / ".venv" / "bin" / "hopedit"


@pytest.fixture(scope="module")
def tiny_dir(tmp_path_factory):
    return tiny_llama_dir(tmp_path_factory.mktemp("tiny"))


def test_builder_is_seeded_and_covers_every_kind():
    mix = DataMix(mquake_multihop=6, mquake_singlehop=6, pokemqa=6, counterfact=6, zsre=6, locality=4)
    first = DataBuilder(FIXTURE_DATA, mix, seed=3, task_instructions=False, holdout=[]).build()
    second = DataBuilder(FIXTURE_DATA, mix, seed=3, task_instructions=False, holdout=[]).build()
    assert [e.to_dict() for e in first] == [e.to_dict() for e in second]
    kinds = {e.kind for e in first}
    assert {"multihop", "singlehop", "rel", "gen", "por", "locality"} <= kinds
    assert all(e.target is None for e in first if e.kind == "locality")
    # edits carry their entities, and every edit question names one of them (the entity test lets
    # it read its facts); unrelated locality facts come without entities
    edits = [e for e in first if e.kind != "locality"]
    assert all(e.entities and entity_gate(e.question, e.entities) == 1.0 for e in edits)
    assert all(e.entities == [] for e in first if e.kind == "locality")


def test_invented_name_copies_rename_every_chain_entity_consistently():
    mix = DataMix(
        mquake_multihop=0,
        mquake_singlehop=0,
        pokemqa=0,
        counterfact=0,
        zsre=0,
        locality=0,
        invented_multihop=4,
    )
    examples = DataBuilder(FIXTURE_DATA, mix, seed=1, task_instructions=False, holdout=[]).build()
    assert len(examples) == 4
    cases = json.loads((FIXTURE_DATA / "mquake" / "MQuAKE-hard-train.json").read_text())
    real = {name for case in cases for s, _, o in case["orig"]["new_triples_labeled"] for name in (s, o)}
    for example in examples:
        text = " ".join([*example.facts, example.question, example.target])
        assert not any(name in text for name in real)  # no real name survives
        assert example.target in example.entities and example.target in " ".join(example.facts)
        # the question still names the chain's first entity (the entity test lets it read its facts)
        assert entity_gate(example.question, example.entities) == 1.0


def test_holding_out_a_source_and_task_instructions():
    mix = DataMix(mquake_multihop=2, mquake_singlehop=2, pokemqa=2, counterfact=2, zsre=2, locality=2)
    examples = DataBuilder(FIXTURE_DATA, mix, seed=0, task_instructions=True, holdout=["zsre"]).build()
    assert "zsre" not in {e.source for e in examples}
    assert all(e.facts[0].startswith("Task:") for e in examples if e.facts)
    with pytest.raises(ValueError, match="unknown held-out"):
        DataBuilder(FIXTURE_DATA, mix, seed=0, task_instructions=False, holdout=["nope"])


def test_loss_falls_when_only_prefixes_are_trained(tiny_dir):
    loaded = tiny_loaded(tiny_dir)
    torch.manual_seed(0)
    model = InstructEdModel(loaded.model, InstructEdConfig(layers=[0, 1, 2, 3]))
    examples = [
        TrainExample(
            ["Zorblat Quinn is a citizen of Vellmoria."],
            "Where is Zorblat Quinn a citizen?",
            "Vellmoria",
            "t",
            "rel",
        ),
        TrainExample(["Zorblat Quinn is a citizen of Vellmoria."], "What is 2+2?", "4", "t", "locality"),
    ]
    frozen = {name: p.clone() for name, p in loaded.model.named_parameters() if "instructed" not in name}
    # a random tiny model sits near ln(vocab); its prefixes can only shave a little off, steadily
    optimizer = torch.optim.AdamW(model.trainable_parameters(), lr=0.3)
    losses = []
    for _ in range(15):
        loss = target_loss(model, loaded.tokenizer, examples, reweight=True)
        optimizer.zero_grad()
        loss.backward()
        optimizer.step()
        losses.append(loss.item())
    assert losses[-1] < losses[0] - 0.15
    assert all(later <= earlier + 1e-3 for earlier, later in itertools.pairwise(losses))
    for name, parameter in loaded.model.named_parameters():
        if name in frozen:
            assert torch.equal(parameter, frozen[name]), name


def test_editor_without_prefixes_matches_the_base_models_greedy_answer(tiny_dir):
    loaded = tiny_loaded(tiny_dir)
    editor = InstructEdEditor(InstructEdModel(loaded.model, InstructEdConfig(layers=[1])), LocalLLM(loaded))
    from editor.prompting import render_prompt

    question = "Who wrote Hamlet?"
    via_editor = editor.answer([question], [[]], use_prefixes=False, max_new_tokens=8)[0].text
    prompt, _ = render_prompt(loaded.tokenizer, [], question)
    via_llm = editor.llm.generate_text([prompt], max_new_tokens=8)[0].text
    assert via_editor == via_llm


def test_smoke_training_run_writes_prefixes_and_resumes(tiny_dir, tmp_path):
    out = tmp_path / "run"
    command = [
        str(HOPEDIT),
        "train",
        "--smoke",
        "--model",
        str(tiny_dir),
        "--data-dir",
        str(FIXTURE_DATA),
        "--out",
        str(out),
    ]
    first = subprocess.run(command, capture_output=True, text=True, timeout=600)
    assert first.returncode == 0, first.stderr
    assert (out / "prefixes" / "prefixes.safetensors").is_file()
    assert (out / "loss.png").stat().st_size > 0
    state = json.loads((out / "checkpoint" / "trainer_state.json").read_text())
    assert state["step"] == 8 and len(state["log"]) == 8
    again = subprocess.run([*command, "--steps", "10"], capture_output=True, text=True, timeout=600)
    assert again.returncode == 0, again.stderr
    state = json.loads((out / "checkpoint" / "trainer_state.json").read_text())
    assert [e["step"] for e in state["log"]] == list(range(1, 11))  # resumed at 8, not restarted
    meta = json.loads((out / "prefixes" / "meta.json").read_text())
    assert set(meta["train_files"]) == {
        "mquake/MQuAKE-hard-train.json",
        "pokemqa/cls-filtered.json",
        "portability/counterfact_portability_train.json",
        "portability/zsre_portability_train.json",
    }


def test_train_rejects_a_missing_data_dir(tmp_path):
    result = subprocess.run(
        [str(HOPEDIT), "train", "--data-dir", str(tmp_path)], capture_output=True, text=True
    )
    assert result.returncode == 2
    assert "lacks training files" in result.stderr


def test_train_rejects_an_unknown_held_out_source():
    result = subprocess.run(
        [str(HOPEDIT), "train", "--data-dir", str(FIXTURE_DATA), "--holdout", "wikidata"],
        capture_output=True,
        text=True,
    )
    assert result.returncode == 2
    assert "unknown held-out sources ['wikidata']" in result.stderr


def test_held_out_training_from_the_command_line(tiny_dir, tmp_path):
    out = tmp_path / "heldout"
    command = [str(HOPEDIT), "train", "--smoke", "--model", str(tiny_dir), "--data-dir", str(FIXTURE_DATA)]
    command += ["--out", str(out), "--holdout", "zsre", "--task-instructions"]
    result = subprocess.run(command, capture_output=True, text=True, timeout=600)
    assert result.returncode == 0, result.stderr
    meta = json.loads((out / "prefixes" / "meta.json").read_text())
    assert "portability/zsre_portability_train.json" not in meta["train_files"]
    examples = [json.loads(line) for line in (out / "train_data.jsonl").read_text().splitlines()]
    assert examples and all(e["source"] != "zsre" for e in examples)
    assert all(e["facts"][0].startswith("Task:") for e in examples if e["facts"])
