"""The base model's inference precision: chosen at run time, named when wrong, same answers in bf16.

bf16 is what the CPUs here compute fastest where they have AMX; it is offered (HOPEDIT_PRECISION=bf16)
and "auto" picks it only once the accuracy check lets it (`AUTO_ALLOWS_BF16`).
"""

from __future__ import annotations

from pathlib import Path

import pytest

from editor import loading
from editor.loading import inference_precision

DEMO_FACTS = Path(__file__).parents[1] / "memory" / "data" / "demo_facts.jsonl"


def test_precision_is_named_when_unknown(monkeypatch: pytest.MonkeyPatch) -> None:
    with pytest.raises(ValueError, match=r"precision 'fp16': choose one of auto, fp32, bf16"):
        inference_precision("fp16")
    monkeypatch.setenv("HOPEDIT_PRECISION", "int4")
    with pytest.raises(ValueError, match=r"precision 'int4'"):
        inference_precision()


def test_explicit_precision_beats_the_environment(monkeypatch: pytest.MonkeyPatch) -> None:
    monkeypatch.setenv("HOPEDIT_PRECISION", "bf16")
    assert inference_precision() == "bf16"
    assert inference_precision("fp32") == "fp32"


@pytest.mark.parametrize(
    ("allowed", "flags", "faster", "expected"),
    [
        (False, {"amx_bf16"}, True, "fp32"),  # not yet allowed as a default
        (True, {"amx_bf16"}, True, "bf16"),
        (True, {"avx512_bf16"}, True, "bf16"),
        (True, {"avx2"}, True, "fp32"),  # no native bf16: emulated, slower
        (True, {"amx_bf16"}, False, "fp32"),  # native but measured slower
    ],
)
def test_auto_picks_bf16_only_where_native_allowed_and_faster(
    monkeypatch: pytest.MonkeyPatch, allowed: bool, flags: set[str], faster: bool, expected: str
) -> None:
    monkeypatch.delenv("HOPEDIT_PRECISION", raising=False)
    monkeypatch.setattr(loading, "AUTO_ALLOWS_BF16", allowed)
    monkeypatch.setattr(loading, "cpu_features", lambda: frozenset(flags))
    monkeypatch.setattr(loading, "_bf16_measured_faster", lambda: faster)
    assert inference_precision("auto") == expected


@pytest.mark.slow
def test_bf16_pipeline_answers_the_demo_questions(tmp_path: Path) -> None:
    """One bf16 copy of the weights, and the pipeline's answers on the demo edits stay right."""
    import torch

    from agent.commands import DEMO_QUESTIONS
    from agent.engine import Engine
    from editor.llm import LocalLLM
    from memory import Memory

    llm = LocalLLM.load(precision="bf16")
    assert llm.loaded.precision == "bf16"
    assert {p.dtype for p in llm.loaded.model.parameters()} == {torch.bfloat16}
    with Memory.open(tmp_path / "memory") as memory:
        memory.load_file(DEMO_FACTS)
        engine = Engine(memory=memory)
        engine._llm = llm  # the engine's one base model, here the bf16 one
        answers = engine.agent("instructed").answer_batch([question for question, _ in DEMO_QUESTIONS])
    for (question, expected), answer in zip(DEMO_QUESTIONS, answers, strict=True):
        assert expected.casefold() in answer.text.casefold(), (question, answer.text)
