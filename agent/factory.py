"""Build the chat model and the agent for a method name; the CLI, chat loop and evaluator share it."""

from __future__ import annotations

from typing import TYPE_CHECKING, Any

from agent.base import Agent
from agent.engine import METHODS

if TYPE_CHECKING:  # LangChain costs a second of import; the InstructEd pipeline never needs it
    from langchain_core.language_models import BaseChatModel

# A served model continues a trailing assistant message only when asked to (vLLM's flags; hopedit's
# server reads the same). The local model always continues it.
CONTINUE_FINAL_MESSAGE = {"extra_body": {"continue_final_message": True, "add_generation_prompt": False}}


def build_llm(llm_url: str | None, llm_model: str | None, model_spec: str | None) -> BaseChatModel:
    """An OpenAI-compatible server when `llm_url` is given, else the local base model in-process."""
    if llm_url:
        from langchain_openai import ChatOpenAI

        from editor.loading import DEFAULT_MODEL

        return ChatOpenAI(
            base_url=llm_url, model=llm_model or DEFAULT_MODEL, api_key="not-needed", temperature=0.0
        )
    from agent.langchain_llm import HopeditChatModel

    return HopeditChatModel.load(model_spec)


def build_agent(
    method: str,
    *,
    memory: Any,
    chat_model: BaseChatModel | None = None,
    editor: Any = None,
    **options: Any,
) -> Agent:
    """`options` go to the method's constructor (kgprompt=, max_steps= for pokemqa; top_n= for ike).

    `model_spec` among the options picks the base model when no chat model or editor is handed in.
    """
    if method not in METHODS:
        raise ValueError(f"unknown method {method!r}; choose one of {', '.join(METHODS)}")
    model_spec = options.pop("model_spec", None)
    if method == "instructed":
        from agent.instructed import InstructedAgent

        if editor is None:
            from editor.instructed import InstructEdEditor

            editor = InstructEdEditor.load(model_spec=model_spec)
        return InstructedAgent(memory, editor, **options)
    if chat_model is None:
        chat_model = build_llm(None, None, model_spec)
    if method == "base":
        from agent.unedited import UneditedAgent

        return UneditedAgent(chat_model, **options)
    if method == "ike":
        from agent.ike import IKEAgent

        return IKEAgent(memory, chat_model, **options)
    from agent.langchain_llm import HopeditChatModel

    if not isinstance(chat_model, HopeditChatModel):
        options.setdefault("model_kwargs", CONTINUE_FINAL_MESSAGE)
    if method == "mello":
        from agent.mello import MelloAgent

        return MelloAgent(memory, chat_model, **options)
    from agent.pokemqa.agent import PokeMQAAgent

    return PokeMQAAgent(memory, chat_model, **options)
