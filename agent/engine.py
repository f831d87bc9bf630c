"""The one component that loads models: the base model, the InstructEd prefixes, the agents.

`ask`, `chat`, `demo`, the server and the evaluations all go through an `Engine`, so a process loads
each model at most once, and only when something first needs it (commands that touch only the
memory start instantly; switching methods never reloads weights).

The weight-sharing rule: one `LocalLLM` holds the base weights. The InstructEd editor puts its
prefixes on those same weights (`InstructEdEditor.from_llm`: calls without `use_prefixes` stay the
base model bit for bit), and the local chat model that drives MeLLo, PokeMQA, IKE and the base method
wraps the same `LocalLLM`. Every forward pass takes that LocalLLM's lock, so a server thread running
plain generation and one running the editor never touch the model at once.

The sentence embedder (`memory.embedder`) is a per-process singleton already; the engine warms it
with the memory.
"""

from __future__ import annotations

import threading
import time
from collections.abc import Mapping
from dataclasses import dataclass, field
from pathlib import Path
from typing import TYPE_CHECKING, Any

from agent.answer_check import AnswerCheckConfig
from agent.base import Agent, Answer
from editor.prompt_lookup import PromptLookupConfig

if TYPE_CHECKING:
    from langchain_core.language_models import BaseChatModel

    from editor.instructed import InstructEdEditor
    from editor.llm import LocalLLM

METHODS = ("instructed", "mello", "pokemqa", "ike", "base")


@dataclass(frozen=True)
class EngineConfig:
    """Which models back the methods.

    `llm_url` sends the decomposition agents' model calls to an OpenAI-compatible server (`llm_model`
    names the model there); the InstructEd pipeline always runs in-process, on `model_spec` plus
    `prefixes` (None: the shipped prefixes). `kgprompt` is PokeMQA's question -> entity description
    map. `max_batch_size` and `max_wait_s` configure the local chat model's dynamic batcher.
    `answer_check` has the InstructEd pipeline check its answers against the retrieved chain with these
    settings (`agent.answer_check`); None is the paper's pipeline as it stands (an ablation).
    `prompt_lookup`: how many guessed tokens the base model checks per forward pass when one greedy row
    is decoding (`editor.prompt_lookup`): greedy decoding's own tokens in fewer passes.
    """

    model_spec: str | None = None
    prefixes: Path | None = None
    llm_url: str | None = None
    llm_model: str | None = None
    kgprompt: Mapping[str, str] | None = field(default=None, compare=False, hash=False)
    max_batch_size: int = 16
    max_wait_s: float = 0.005
    answer_check: AnswerCheckConfig | None = field(default_factory=AnswerCheckConfig)
    prompt_lookup: PromptLookupConfig = field(default_factory=PromptLookupConfig)

    def __post_init__(self) -> None:
        if self.llm_model and not self.llm_url:
            raise ValueError("llm_model names a model on a server: give llm_url too")
        if self.max_batch_size < 1 or self.max_wait_s < 0:
            raise ValueError("max_batch_size must be >= 1 and max_wait_s >= 0")


class Engine:
    """Lazily loaded models and agents of one process, safe to use from several threads.

    `memory` is the memory `agent(method)` answers from; `build_agent(method, memory)` builds an agent
    over any other memory (an evaluation builds one per edit batch) on the same models.
    """

    def __init__(self, config: EngineConfig | None = None, memory: Any = None) -> None:
        self.config = config or EngineConfig()
        self.memory = memory
        self._lock = threading.RLock()  # an abandoned (cancelled) chat answer may still be loading
        self._llm: LocalLLM | None = None
        self._editor: InstructEdEditor | None = None
        self._chat_model: BaseChatModel | None = None
        self._agents: dict[str, Agent] = {}

    @property
    def loaded_llm(self) -> LocalLLM | None:
        """The base model if it is loaded already (health checks must not trigger a load)."""
        return self._llm

    @property
    def loaded_chat_model(self) -> BaseChatModel | None:
        return self._chat_model

    def llm(self) -> LocalLLM:
        """The base model: the one copy of the weights every method shares."""
        with self._lock:
            if self._llm is None:
                from editor.llm import LocalLLM

                self._llm = LocalLLM.load(self.config.model_spec, lookup=self.config.prompt_lookup)
            return self._llm

    def editor(self) -> InstructEdEditor:
        """The base model with the InstructEd prefixes; FileNotFoundError when they are missing."""
        with self._lock:
            if self._editor is None:
                from editor.instructed import InstructEdEditor

                self._editor = InstructEdEditor.from_llm(self.llm(), self.config.prefixes)
            return self._editor

    def chat_model(self) -> BaseChatModel:
        """The unedited model behind the LangChain agents: served (`llm_url`) or the shared LocalLLM."""
        with self._lock:
            if self._chat_model is None:
                config = self.config
                if config.llm_url:
                    from agent.factory import build_llm

                    self._chat_model = build_llm(config.llm_url, config.llm_model, config.model_spec)
                else:
                    from agent.langchain_llm import HopeditChatModel

                    self._chat_model = HopeditChatModel(
                        llm=self.llm(), max_batch_size=config.max_batch_size, max_wait_s=config.max_wait_s
                    )
            return self._chat_model

    def build_agent(self, method: str, memory: Any) -> Agent:
        """A new agent for `method` over `memory`, on this engine's models."""
        from agent.factory import build_agent

        _check_method(method)
        if method == "instructed":
            from agent.answer_check import ChainAnswerCheck

            settings = self.config.answer_check
            check = ChainAnswerCheck(settings) if settings is not None else None
            return build_agent(method, memory=memory, editor=self.editor(), answer_check=check)
        options: dict[str, Any] = {}
        if method == "pokemqa" and self.config.kgprompt:
            options["kgprompt"] = dict(self.config.kgprompt)
        return build_agent(method, memory=memory, chat_model=self.chat_model(), **options)

    def agent(self, method: str) -> Agent:
        """The agent for `method` over the engine's memory, built once."""
        _check_method(method)
        if self.memory is None:
            raise ValueError("this engine has no memory: use build_agent(method, memory)")
        with self._lock:
            if method not in self._agents:
                self._agents[method] = self.build_agent(method, self.memory)
            return self._agents[method]

    def answer(self, method: str, question: str) -> Answer:
        """The agent's answer; its timings gain "load" on the turn that built the agent (and models)."""
        first_use = method not in self._agents
        started = time.perf_counter()
        agent = self.agent(method)
        loaded = time.perf_counter()
        answer = agent.answer(question)
        if first_use:
            answer.timings.setdefault("load", loaded - started)
        return answer


def _check_method(method: str) -> None:
    if method not in METHODS:
        raise ValueError(f"unknown method {method!r}; choose one of {', '.join(METHODS)}")
