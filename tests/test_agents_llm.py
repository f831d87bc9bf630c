"""HopeditChatModel: the local base model as a LangChain chat model, with dynamic batching."""

from __future__ import annotations

import pytest
from langchain_core.messages import AIMessage, HumanMessage

from agent.langchain_llm import HopeditChatModel
from editor.llm import LocalLLM


@pytest.fixture(scope="module")
def llm() -> LocalLLM:
    return LocalLLM.load()


@pytest.mark.slow
@pytest.mark.ci
def test_invoke_reports_text_usage_and_finish_reason(llm: LocalLLM) -> None:
    model = HopeditChatModel(llm=llm, max_tokens=12)
    reply = model.invoke("Name a colour.")
    assert isinstance(reply, AIMessage) and reply.content
    usage = reply.usage_metadata
    assert usage["input_tokens"] > 5 and 0 < usage["output_tokens"] <= 12
    assert usage["total_tokens"] == usage["input_tokens"] + usage["output_tokens"]
    assert reply.response_metadata["finish_reason"] in ("stop", "length")


@pytest.mark.slow
def test_stop_string_cuts_the_reply_where_it_would_appear(llm: LocalLLM) -> None:
    model = HopeditChatModel(llm=llm, max_tokens=24, dynamic_batching=False)
    prompt = "Write one sentence about the sea."
    full_reply = model.invoke(prompt)
    full = full_reply.content
    words = full.split()
    assert len(words) >= 4
    stop = " " + words[2]
    cut = model.invoke(prompt, stop=[stop])
    assert cut.content == full[: full.index(stop)].strip()
    assert cut.response_metadata["finish_reason"] == "stop"
    # generation itself halted there, not only the returned text
    assert cut.usage_metadata["output_tokens"] < full_reply.usage_metadata["output_tokens"]


@pytest.mark.slow
@pytest.mark.ci
def test_batch_merges_concurrent_calls_into_fewer_model_calls(llm: LocalLLM) -> None:
    model = HopeditChatModel(llm=llm, max_tokens=6, max_wait_s=0.3)
    questions = [f"What is {n} plus {n}?" for n in range(4)]
    before = llm.calls
    replies = model.batch(questions, config={"max_concurrency": 4})
    assert len(replies) == 4 and all(r.content for r in replies)
    assert llm.calls - before < 4
    assert model.batcher_stats().max_batch_size_seen > 1


@pytest.mark.slow
def test_trailing_ai_message_is_continued(llm: LocalLLM) -> None:
    model = HopeditChatModel(llm=llm, max_tokens=8)
    messages = (("user", "Spell the alphabet."), ("assistant", "A, B, C,"))
    assert model.render(messages).endswith("<|im_start|>assistant\nA, B, C,")
    reply = model.invoke([HumanMessage("Spell the alphabet."), AIMessage("A, B, C,")])
    assert "D" in reply.content
