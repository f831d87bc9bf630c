"""The heavy objects an evaluation shares across methods (editor, chat model), loaded on first use so
a run of the base method never loads the editor's prefixes and vice versa."""

from __future__ import annotations

import json
from dataclasses import dataclass, field
from pathlib import Path
from typing import Any


@dataclass
class Resources:
    model_spec: str | None = None
    llm_url: str | None = None
    llm_model: str | None = None
    kgprompt: dict[str, str] | None = None  # PokeMQA knowledge prompts, question text -> entity description
    prefixes: Path | None = None  # trained prefixes; None: the shipped ones
    _editor: Any = field(default=None, repr=False)
    _chat_model: Any = field(default=None, repr=False)

    def editor(self) -> Any:
        if self._editor is None:
            from editor.instructed import InstructEdEditor

            self._editor = InstructEdEditor.load(model_spec=self.model_spec, prefixes=self.prefixes)
        return self._editor

    def chat_model(self) -> Any:
        if self._chat_model is None:
            from agent.factory import build_llm

            self._chat_model = build_llm(self.llm_url, self.llm_model, self.model_spec)
        return self._chat_model

    def agent(self, method: str, memory: Any) -> Any:
        """The InstructEd pipeline needs the editor; every other method talks to the chat model."""
        from agent.factory import build_agent

        if method == "instructed":
            return build_agent(method, memory=memory, chat_model=None, editor=self.editor())
        options = {"kgprompt": self.kgprompt} if method == "pokemqa" and self.kgprompt else {}
        return build_agent(method, memory=memory, chat_model=self.chat_model(), editor=None, **options)


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
