"""The InstructEd attention on a tiny llama: equivalence, gradients, re-weighting, save/load."""

from __future__ import annotations

import pytest
import torch
from helpers_editor import tiny_llama_dir, tiny_loaded

from editor.instructed import InstructEdConfig, InstructEdModel
from editor.instructed.editor import instructed_inputs, token_positions
from editor.prompting import encode

QUESTIONS = ["Who is the head of state of the country Ellie Kemper is a citizen of?", "What is 2+2?"]
FACTS = [["Ellie Kemper is a citizen of Croatia.", "The head of state of Croatia is Zoran Milanovic."], []]


@pytest.fixture(scope="module")
def tiny_dir(tmp_path_factory):
    return tiny_llama_dir(tmp_path_factory.mktemp("tiny"))


@pytest.fixture()
def loaded(tiny_dir):
    return tiny_loaded(tiny_dir)


def _batch(loaded):
    return encode(loaded.tokenizer, QUESTIONS, FACTS)


def _edited_inputs(batch, relevance=None):
    inputs = {
        "input_ids": batch.input_ids,
        "attention_mask": batch.attention_mask,
        "use_prefixes": True,
        "instruction_mask": batch.instruction_mask,
    }
    if relevance is not None:
        inputs["relevance"] = relevance
    return inputs


def test_band_scales_the_papers_layers_to_model_depth():
    assert InstructEdConfig().band(32) == list(range(10, 21))
    assert InstructEdConfig().band(30) == list(range(9, 20))
    assert InstructEdConfig(layers=[1, 2]).band(4) == [1, 2]
    with pytest.raises(ValueError, match="outside"):
        InstructEdConfig(layers=[7]).band(4)


def test_instruction_mask_covers_the_labelled_facts_and_leaves_the_bare_question(loaded):
    batch = _batch(loaded)
    instruction = loaded.tokenizer.decode(batch.input_ids[0][batch.instruction_mask[0]])
    assert instruction == "Instructions: " + " ".join(FACTS[0]) + "\n"
    assert not batch.instruction_mask[1].any()
    # what the question reads when the instruction is muted is the prompt without any instruction
    rest = batch.attention_mask[0].bool() & ~batch.instruction_mask[0]
    bare = encode(loaded.tokenizer, QUESTIONS[:1], [[]])
    assert batch.input_ids[0][rest].tolist() == bare.input_ids[0].tolist()


def test_without_prefixes_the_model_is_bit_for_bit_the_base(loaded):
    batch = _batch(loaded)
    with torch.no_grad():
        reference = loaded.model(input_ids=batch.input_ids, attention_mask=batch.attention_mask).logits
        InstructEdModel(loaded.model, InstructEdConfig(layers=[1, 2]))
        plain = loaded.model(input_ids=batch.input_ids, attention_mask=batch.attention_mask).logits
        edited = loaded.model(**_edited_inputs(batch)).logits
    assert torch.equal(reference, plain)
    assert not torch.allclose(reference, edited)


def test_only_prefix_parameters_receive_gradients(loaded):
    model = InstructEdModel(loaded.model, InstructEdConfig(layers=[1, 2]))
    batch = _batch(loaded)
    model.base(**_edited_inputs(batch, torch.tensor([0.6, 1.0]))).logits.sum().backward()
    trainable = {id(p) for p in model.trainable_parameters()}
    assert len(trainable) == 2  # one prefix in each of the two band layers
    for parameter in model.base.parameters():
        if id(parameter) in trainable:
            assert parameter.grad is not None and parameter.grad.abs().sum() > 0
        else:
            assert parameter.grad is None


def test_prefix_attention_other_than_joint_is_refused():
    with pytest.raises(ValueError, match="only 'joint' prefix attention exists"):
        InstructEdConfig.from_dict({"prefix_attention": "zero_gate"})
    assert InstructEdConfig.from_dict({"prefix_attention": "joint"}) == InstructEdConfig()


def test_relevance_one_changes_nothing_and_low_relevance_mutes_the_instruction(loaded):
    InstructEdModel(loaded.model, InstructEdConfig(layers=[1, 2]))
    batch = _batch(loaded)
    with torch.no_grad():
        plain = loaded.model(**_edited_inputs(batch)).logits
        full = loaded.model(**_edited_inputs(batch, torch.tensor([1.0, 1.0]))).logits
        muted = loaded.model(**_edited_inputs(batch, torch.tensor([0.05, 1.0]))).logits
    real = batch.attention_mask.bool()  # left-padding rows attend to nothing; their values are arbitrary
    torch.testing.assert_close(full[real], plain[real])
    assert not torch.allclose(muted[0], plain[0], atol=1e-4)
    # the second row has no instruction: its relevance has nothing to mute besides the prefix
    # (same r = 1 in both runs), so it is unchanged
    torch.testing.assert_close(muted[1][real[1]], plain[1][real[1]])


def test_zero_relevance_gives_the_base_models_answer_to_the_bare_question(loaded):
    """r = 0: the question rows read neither the prefixes nor the instruction, in the band or outside
    it, and sit at the positions they have without an instruction: the base model's output."""
    batch = _batch(loaded)
    bare = encode(loaded.tokenizer, QUESTIONS, [[], []])
    with torch.no_grad():
        reference = loaded.model(input_ids=bare.input_ids, attention_mask=bare.attention_mask).logits
        model = InstructEdModel(loaded.model, InstructEdConfig(layers=[1, 2]))
        for state in model.states.values():
            state.prefix.normal_()
        muted = loaded.model(**instructed_inputs(batch, torch.tensor([0.0, 0.0]))).logits
        read = loaded.model(**instructed_inputs(batch, torch.tensor([1.0, 1.0]))).logits
    torch.testing.assert_close(muted[:, -1], reference[:, -1], atol=1e-4, rtol=1e-4)
    assert not torch.allclose(read[0, -1], reference[0, -1], atol=1e-2)


def test_positions_close_the_gap_the_muted_instruction_leaves(loaded):
    batch = _batch(loaded)
    normal = token_positions(batch.attention_mask, batch.instruction_mask, None)
    half = token_positions(batch.attention_mask, batch.instruction_mask, torch.tensor([0.5, 0.5]))
    length = int(batch.instruction_mask[0].sum())
    after = ~batch.instruction_mask[0] & (batch.instruction_mask[0].long().cumsum(-1) > 0)
    torch.testing.assert_close(half[0][after], normal[0][after] - length / 2)
    torch.testing.assert_close(half[0][~after], normal[0][~after].float())
    torch.testing.assert_close(half[1], normal[1].float())  # no instruction, nothing to close


def test_reweighting_acts_outside_the_prefix_band(loaded):
    InstructEdModel(loaded.model, InstructEdConfig(layers=[3]))
    batch = _batch(loaded)
    with torch.no_grad():
        full = loaded.model(**_edited_inputs(batch, torch.tensor([1.0, 1.0])), output_hidden_states=True)
        muted = loaded.model(**_edited_inputs(batch, torch.tensor([0.1, 1.0])), output_hidden_states=True)
    after_layer_0 = 1
    assert not torch.allclose(full.hidden_states[after_layer_0][0], muted.hidden_states[after_layer_0][0])


def test_relevance_weight_is_a_ramp_between_the_configured_scores():
    config = InstructEdConfig(relevance_floor=0.2, relevance_full=0.5)
    weights = config.relevance_weight(torch.tensor([-0.3, 0.2, 0.35, 0.5, 0.9]))
    torch.testing.assert_close(weights, torch.tensor([0.0, 0.0, 0.5, 1.0, 1.0]))


def test_save_and_load_round_trip(loaded, tiny_dir, tmp_path):
    model = InstructEdModel(
        loaded.model, InstructEdConfig(layers=[1, 2], base_weights_hash=loaded.weights_hash)
    )
    with torch.no_grad():
        for state in model.states.values():
            state.prefix.normal_()
    model.save(tmp_path / "prefixes", meta={"note": "test"})
    batch = _batch(loaded)
    with torch.no_grad():
        before = loaded.model(**_edited_inputs(batch)).logits
    fresh = tiny_loaded(tiny_dir)
    restored = InstructEdModel.from_pretrained(fresh.model, tmp_path / "prefixes", fresh.weights_hash)
    assert restored.layer_ids == [1, 2]
    with torch.no_grad():
        after = fresh.model(**_edited_inputs(batch)).logits
    assert torch.equal(before, after)
    assert (tmp_path / "prefixes" / "prefixes.safetensors").stat().st_size < 1_000_000


def test_loading_prefixes_for_other_base_weights_is_refused(loaded, tmp_path):
    model = InstructEdModel(loaded.model, InstructEdConfig(layers=[1], base_weights_hash="someone-else"))
    model.save(tmp_path / "prefixes")
    with pytest.raises(ValueError, match="trained on base weights"):
        InstructEdModel.from_pretrained(loaded.model, tmp_path / "prefixes", loaded.weights_hash)
