"""An evaluation's handle on the one model engine (`agent.engine.Engine`).

An evaluation builds a fresh agent per edit batch (each batch has its own memory), over models the
engine loads once and only on first use, so a run of the base method never loads the prefixes and
vice versa.
"""

from __future__ import annotations

import json
from collections.abc import Mapping
from pathlib import Path
from typing import Any

from agent.answer_check import AnswerCheckConfig
from agent.base import Agent
from agent.engine import Engine, EngineConfig
from editor.prompt_lookup import PromptLookupConfig

DEFAULT_ANSWER_CHECK = AnswerCheckConfig()  # frozen, so one instance serves as every default


class Resources:
    """The engine plus the options a summary records (model, prefixes, served LLM)."""

    def __init__(
        self,
        model_spec: str | None = None,
        llm_url: str | None = None,
        llm_model: str | None = None,
        kgprompt: Mapping[str, str] | None = None,
        prefixes: Path | None = None,
        answer_check: AnswerCheckConfig | None = DEFAULT_ANSWER_CHECK,
        prompt_lookup: PromptLookupConfig | None = None,
    ) -> None:
        self.engine = Engine(
            EngineConfig(
                model_spec=model_spec,
                prefixes=prefixes,
                llm_url=llm_url,
                llm_model=llm_model,
                kgprompt=kgprompt,
                answer_check=answer_check,
                prompt_lookup=prompt_lookup or PromptLookupConfig(),
            )
        )

    @property
    def model_spec(self) -> str | None:
        return self.engine.config.model_spec

    @property
    def prefixes(self) -> Path | None:
        return self.engine.config.prefixes

    @property
    def answer_check(self) -> AnswerCheckConfig | None:
        """The pipeline's answer check settings; None: no check (the ablation)."""
        return self.engine.config.answer_check

    @property
    def prompt_lookup(self) -> PromptLookupConfig:
        """How many guessed tokens the base model checks per pass for a lone greedy row."""
        return self.engine.config.prompt_lookup

    @property
    def llm_url(self) -> str | None:
        return self.engine.config.llm_url

    def editor(self) -> Any:
        return self.engine.editor()

    def chat_model(self) -> Any:
        return self.engine.chat_model()

    def agent(self, method: str, memory: Any) -> Agent:
        """A new agent over this batch's memory; the InstructEd pipeline uses the editor, every other
        method the chat model."""
        return self.engine.build_agent(method, memory)


def load_kgprompt(path: Path) -> dict[str, str]:
    """PokeMQA's per-case knowledge prompts merged into one question -> description map (questions are
    unique across cases); questions whose entity was not linked (`existing` false) get none."""
    data = json.loads(Path(path).read_text(encoding="utf-8"))
    if not isinstance(data, dict):
        raise ValueError(f"{path}: expected a JSON object keyed by case_id")
    merged: dict[str, str] = {}
    for case in data.values():
        existing = case.get("existing", {})
        merged.update({q: text for q, text in case.get("mapping", {}).items() if existing.get(q, True)})
    return merged
